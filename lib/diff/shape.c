/*
 * shape.c - the shape of an answer: what a route's sibling merge compares (lib/report).
 *
 * /api/users/alice and /api/users/bob are one endpoint with a parameter; /api/orders and
 * /api/users are two collections under one prefix. Counting siblings cannot tell them apart,
 * their answers can: a parameter's values are answered alike (the same status class, the
 * same top-level JSON keys), collections are not. The shape is a short hash of exactly
 * that, so two answers have the same shape when they have the same kind, whatever values
 * they carry.
 */
#include "shadowdiff/diff.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shadowdiff/codec.h"

#define SHAPE_BODY_MAX (1u << 20) /* decoded bytes looked at; a larger body is "large" */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static int by_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Fold a JSON value's kind, and an object's sorted keys, into h. */
static uint64_t fold_json(uint64_t h, json_t *v)
{
    static const char *const kinds[] = {"object", "array", "string", "integer",
                                        "real",   "true",  "false",  "null"};
    int t = json_typeof(v);
    const char *kind = t >= 0 && t < 8 ? kinds[t] : "?";
    h = fnv(h, kind, strlen(kind) + 1);
    if (json_is_array(v) && json_array_size(v) > 0)
        return fold_json(h, json_array_get(v, 0)); /* a list of what */
    if (!json_is_object(v))
        return h;
    size_t n = json_object_size(v), k = 0;
    const char **keys = n ? sdiff_calloc(n, sizeof *keys) : NULL;
    if (n && keys == NULL)
        return fnv(h, "?", 1);
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) keys[k++] = key;
    qsort(keys, k, sizeof *keys, by_str);
    for (size_t i = 0; i < k; i++)
        h = fnv(h, keys[i], strlen(keys[i]) + 1);
    sdiff_free(keys);
    return h;
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
    uint64_t h = fnv(14695981039346656037ull, &cls, 1);
    const struct sdiff_hfield *ct = sdiff_msg_header(m, "content-type");
    const struct sdiff_hfield *ce = sdiff_msg_header(m, "content-encoding");
    size_t ctlen = ct ? strcspn(ct->value, ";") : 0;
    h = fnv(h, ct ? ct->value : "", ctlen);
    h = fnv(h, "\n", 1);
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
        json_t *v = rc >= 0 && n <= SHAPE_BODY_MAX
                        ? json_loadb((const char *)p, n, JSON_DECODE_ANY, NULL)
                        : NULL;
        h = v ? fold_json(h, v) : fnv(h, "opaque", 6);
        json_decref(v);
        sdiff_buf_dispose(&dec);
    }
    snprintf(out, SDIFF_SHAPE_LEN, "%016llx", (unsigned long long)h);
    return SDIFF_OK;
}
