/*
 * shape.c - the shape of an answer: what a route's sibling merge compares (lib/report).
 *
 * /api/users/alice and /api/users/bob are one endpoint with a parameter; /api/orders and
 * /api/users are two collections under one prefix. Counting siblings cannot tell them apart,
 * their answers can: a parameter's values are answered alike (the same status class, the
 * same top-level JSON keys), collections are not. The shape is a short hash of exactly
 * that, so two answers have the same shape when they have the same kind, whatever values
 * they carry.
 *
 * Every judged answer gets one, so it is computed on the project's JSON tape (no tree, no
 * allocation per value); the few documents where jansson, which defined the hash first,
 * would decide differently (escaped keys, \u0000 or surrogate escapes, integers past 64
 * bits, exponents that may overflow, anything the tape refuses) are read by jansson, so a
 * shape never depends on which reader computed it.
 */
#include "shadowdiff/diff.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shadowdiff/codec.h"
#include "jdiff/jdiff_int.h"

#define SHAPE_BODY_MAX (1u << 20) /* decoded bytes looked at; a larger body is "large" */


static int by_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *const kinds[] = {"object", "array", "string", "integer",
                                    "real",   "true",  "false",  "null"};

/* Fold a JSON value's kind, and an object's sorted keys, into h. */
static uint64_t fold_json(uint64_t h, json_t *v)
{
    int t = json_typeof(v);
    const char *kind = t >= 0 && t < 8 ? kinds[t] : "?";
    h = sdiff_fnv1a(h, kind, strlen(kind) + 1);
    if (json_is_array(v) && json_array_size(v) > 0)
        return fold_json(h, json_array_get(v, 0)); /* a list of what */
    if (!json_is_object(v))
        return h;
    size_t n = json_object_size(v), k = 0;
    const char **keys = n ? sdiff_calloc(n, sizeof *keys) : NULL;
    if (n && keys == NULL)
        return sdiff_fnv1a(h, "?", 1);
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) keys[k++] = key;
    qsort(keys, k, sizeof *keys, by_str);
    for (size_t i = 0; i < k; i++)
        h = sdiff_fnv1a(h, keys[i], strlen(keys[i]) + 1);
    sdiff_free(keys);
    return h;
}

static int is_real(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == '.' || p[i] == 'e' || p[i] == 'E')
            return 1;
    return 0;
}

/* A \u escape jansson refuses in a string: \u0000 (without JSON_ALLOW_NUL) or a surrogate
 * (a paired one is fine there; any is rare enough to leave to jansson). */
static int has_refused_escape(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] != '\\')
            continue;
        if (p[i + 1] == 'u' && i + 5 < n) { /* checked input: four hex digits follow */
            unsigned v = 0;
            for (size_t k = i + 2; k < i + 6; k++)
                v = v << 4 | (unsigned)(sdiff__jhex(p[k]) & 0xf);
            if (v == 0 || (v >= 0xd800 && v <= 0xdfff))
                return 1;
        }
        i++; /* the escaped character */
    }
    return 0;
}

/* Whether jansson could judge this tape's document otherwise than the tape did. */
static int tape_is_plain(const struct sdiff__jtape *t)
{
    for (size_t i = 0; i < t->len; i++) {
        const struct sdiff__jnode *nd = &t->n[i];
        const uint8_t *p = t->src + nd->off;
        switch (sdiff__jkind(nd)) {
        case SDIFF__J_KEY:
            if (nd->info & SDIFF__JF_ESC)
                return 0;
            break;
        case SDIFF__J_STRING:
            if ((nd->info & SDIFF__JF_ESC) && has_refused_escape(p, nd->len))
                return 0;
            break;
        case SDIFF__J_NUMBER: {
            size_t digits = nd->len - (p[0] == '-');
            if (is_real(p, nd->len) ? nd->len > 300 || memchr(p, 'e', nd->len) ||
                                          memchr(p, 'E', nd->len)
                                    : digits >= 19)
                return 0;
            break;
        }
        default:
            break;
        }
    }
    return 1;
}

struct raw_key {
    const uint8_t *p;
    size_t n;
};

/* strcmp's order on keys without NUL bytes */
static int by_raw_key(const void *a, const void *b)
{
    const struct raw_key *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* fold_json on the tape's node i. -1 when out of memory. */
static int fold_tape(uint64_t *h, const struct sdiff__jtape *t, uint32_t i)
{
    const struct sdiff__jnode *n = t->n;
    for (;;) {
        unsigned k = sdiff__jkind(&n[i]);
        const char *kind = k == SDIFF__J_OBJECT ? kinds[0] : k == SDIFF__J_ARRAY ? kinds[1]
                         : k == SDIFF__J_STRING ? kinds[2]
                         : k == SDIFF__J_NUMBER ? kinds[is_real(t->src + n[i].off, n[i].len) ? 4 : 3]
                         : k == SDIFF__J_TRUE ? kinds[5] : k == SDIFF__J_FALSE ? kinds[6]
                                                                                : kinds[7];
        *h = sdiff_fnv1a(*h, kind, strlen(kind) + 1);
        if (k == SDIFF__J_ARRAY && n[i].size > 1) {
            i++; /* a list of what: its first element */
            continue;
        }
        if (k != SDIFF__J_OBJECT)
            return 0;
        uint32_t count = sdiff__jcount(n, i), end = i + n[i].size, m = 0;
        struct raw_key *keys = count ? sdiff_calloc(count, sizeof *keys) : NULL;
        if (count && keys == NULL)
            return -1;
        for (uint32_t c = i + 1; c < end && m < count; c += 1 + n[c + 1].size)
            keys[m++] = (struct raw_key){t->src + n[c].off, n[c].len};
        if (m > 1)
            qsort(keys, m, sizeof *keys, by_raw_key);
        for (uint32_t q = 0; q < m; q++) {
            if (q > 0 && by_raw_key(&keys[q - 1], &keys[q]) == 0)
                continue; /* a repeated key: jansson keeps one */
            *h = sdiff_fnv1a(*h, keys[q].p, keys[q].n);
            *h = sdiff_fnv1a(*h, "", 1);
        }
        sdiff_free(keys);
        return 0;
    }
}

/* "json" in the media type, any case: application/json, application/problem+json, ... */
static int is_json_type(const char *v, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if (strncasecmp(v + i, "json", 4) == 0)
            return 1;
    return 0;
}

int sdiff_answer_shape(const struct sdiff_msg *m, char out[SDIFF_SHAPE_LEN])
{
    out[0] = '\0';
    if (m == NULL || !m->present)
        return SDIFF_OK;
    char cls = (char)('0' + (m->status / 100) % 10);
    uint64_t h = sdiff_fnv1a(SDIFF_FNV_INIT, &cls, 1);
    const struct sdiff_hfield *ct = sdiff_msg_header(m, "content-type");
    const struct sdiff_hfield *ce = sdiff_msg_header(m, "content-encoding");
    size_t ctlen = ct ? strcspn(ct->value, ";") : 0;
    h = sdiff_fnv1a(h, ct ? ct->value : "", ctlen);
    h = sdiff_fnv1a(h, "\n", 1);
    if (m->body_len > 0 && ct && is_json_type(ct->value, ctlen)) {
        struct sdiff_buf dec;
        sdiff_buf_init(&dec, SHAPE_BODY_MAX);
        struct sdiff_err err = {0};
        enum sdiff_codec_result res = SDIFF_CODEC_IDENTITY;
        struct sdiff_slice body = {m->body, m->body_len};
        int rc = sdiff_codec_decode(ce ? ce->value : NULL, body, SHAPE_BODY_MAX, &dec, &res,
                                    &err);
        if (rc == SDIFF_ENOMEM) {
            sdiff_buf_dispose(&dec);
            return rc;
        }
        const uint8_t *p = res == SDIFF_CODEC_DECODED ? dec.data : m->body;
        size_t n = res == SDIFF_CODEC_DECODED ? dec.len : m->body_len;
        struct sdiff__jtape t;
        sdiff__jtape_init(&t);
        int done = 0;
        if (rc >= 0 && n <= SHAPE_BODY_MAX &&
            sdiff__jtape_parse(&t, (struct sdiff_slice){p, n}, SHAPE_BODY_MAX, 512, NULL,
                               NULL) >= 0 &&
            tape_is_plain(&t)) {
            uint64_t th = h;
            if (fold_tape(&th, &t, 0) < 0) {
                sdiff__jtape_dispose(&t);
                sdiff_buf_dispose(&dec);
                return SDIFF_ENOMEM;
            }
            h = th;
            done = 1;
        }
        sdiff__jtape_dispose(&t);
        if (!done) {
            json_t *v = rc >= 0 && n <= SHAPE_BODY_MAX
                            ? json_loadb((const char *)p, n, JSON_DECODE_ANY, NULL)
                            : NULL;
            h = v ? fold_json(h, v) : sdiff_fnv1a(h, "opaque", 6);
            json_decref(v);
        }
        sdiff_buf_dispose(&dec);
    }
    snprintf(out, SDIFF_SHAPE_LEN, "%016llx", (unsigned long long)h);
    return SDIFF_OK;
}
