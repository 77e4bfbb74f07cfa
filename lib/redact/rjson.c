/*
 * rjson.c - the JSON values named by redact_paths: patterns compiled into steps, a walk over
 * the jdiff tape that records a span per value, and a lenient scan for bodies that do not
 * parse (cut at the body limit).
 *
 * The walk carries a set of live steps (a 256-bit set over every pattern's steps): a child
 * matching step s moves s to s + 1; a step preceded by ".." also stays live below. A child
 * whose match completes a pattern is redacted whole and not entered.
 */
#include "shadowdiff/redact.h"

#include <string.h>

#include "redact/redact_int.h"

#define WORDS (SDIFF__REDACT_MAX_SEGS / 64)

/* ---- compiling -------------------------------------------------------------------------- */

static int fail(struct sdiff_err *err, size_t idx, const char *pattern, const char *why)
{
    return sdiff_err_set(err, SDIFF_EINVAL, "redact", "redact_paths[%zu] (\"%.60s\"): %s", idx,
                         pattern, why);
}

static int add_seg(struct sdiff_redact *r, uint8_t kind, int desc, const char *name,
                   size_t len, uint32_t index)
{
    if (r->nsegs == SDIFF__REDACT_MAX_SEGS)
        return SDIFF_ELIMIT;
    struct sdiff__rseg s = {(uint32_t)r->names.len, (uint32_t)len, index, 0, kind,
                            (uint8_t)desc};
    if (len && sdiff_buf_append(&r->names, name, len) < 0)
        return SDIFF_ENOMEM;
    if (sdiff_buf_append(&r->segs, &s, sizeof s) < 0)
        return SDIFF_ENOMEM;
    r->nsegs++;
    return SDIFF_OK;
}

static int compile_one(struct sdiff_redact *r, const char *s, size_t idx, struct sdiff_err *err)
{
    char name[512];
    size_t i = 1, first = r->nsegs;
    int rc = SDIFF_OK;
    if (s[0] != '$')
        return fail(err, idx, s, "a path starts with '$'");
    while (s[i] != '\0' && rc >= 0) {
        int desc = 0;
        if (s[i] == '.' && s[i + 1] == '.') {
            desc = 1;
            i += 2;
            if (s[i] == '.' || s[i] == '\0')
                return fail(err, idx, s, "'..' must be followed by a name, '*' or '['");
        } else if (s[i] == '.') {
            i++;
        } else if (s[i] != '[') {
            return fail(err, idx, s, "expected '.name', '..name', '.*', '[*]', '[N]' or "
                                     "'[\"name\"]'");
        }
        if (s[i] == '*') {
            rc = add_seg(r, SDIFF__SEG_ANY, desc, NULL, 0, 0);
            i++;
        } else if (s[i] == '[' && s[i + 1] == '*' && s[i + 2] == ']') {
            rc = add_seg(r, SDIFF__SEG_ANY, desc, NULL, 0, 0);
            i += 3;
        } else if (s[i] == '[' && s[i + 1] >= '0' && s[i + 1] <= '9') {
            uint64_t v = 0;
            size_t j = i + 1;
            while (s[j] >= '0' && s[j] <= '9' && v < UINT32_MAX)
                v = v * 10 + (uint64_t)(s[j++] - '0');
            if (s[j] != ']' || v >= UINT32_MAX)
                return fail(err, idx, s, "bad array index");
            rc = add_seg(r, SDIFF__SEG_INDEX, desc, NULL, 0, (uint32_t)v);
            i = j + 1;
        } else if (s[i] == '[' && (s[i + 1] == '"' || s[i + 1] == '\'')) {
            char q = s[i + 1];
            size_t j = i + 2, n = 0;
            while (s[j] != '\0' && s[j] != q && n < sizeof name) {
                if (s[j] == '\\' && s[j + 1] != '\0')
                    j++;
                name[n++] = s[j++];
            }
            if (s[j] != q || s[j + 1] != ']')
                return fail(err, idx, s, "unterminated quoted name");
            rc = add_seg(r, SDIFF__SEG_NAME, desc, name, n, 0);
            i = j + 2;
        } else if (s[i] == '[') {
            return fail(err, idx, s, "expected '[*]', '[N]' or '[\"name\"]'");
        } else {
            size_t j = i;
            while (s[j] != '\0' && s[j] != '.' && s[j] != '[')
                j++;
            if (j == i)
                return fail(err, idx, s, "empty name");
            if (j - i > sizeof name)
                return fail(err, idx, s, "name too long");
            rc = add_seg(r, SDIFF__SEG_NAME, desc, s + i, j - i, 0);
            i = j;
        }
    }
    if (rc == SDIFF_ELIMIT)
        return fail(err, idx, s, "more than 256 steps over all paths");
    if (rc < 0)
        return sdiff_err_set(err, SDIFF_ENOMEM, "redact", "out of memory");
    if (r->nsegs == first)
        return fail(err, idx, s, "a path names something below '$'");
    struct sdiff__rseg *segs = (struct sdiff__rseg *)(void *)r->segs.data;
    for (size_t k = first; k < r->nsegs; k++)
        segs[k].end = (uint32_t)r->nsegs;
    r->start[first / 64] |= 1ull << (first % 64);
    return SDIFF_OK;
}

int sdiff__redact_compile(struct sdiff_redact *r, const char *const *paths, size_t n,
                          struct sdiff_err *err)
{
    if (n > 64)
        return sdiff_err_set(err, SDIFF_EINVAL, "redact", "more than 64 redact_paths");
    for (size_t i = 0; i < n; i++) {
        if (paths[i] == NULL)
            return sdiff_err_set(err, SDIFF_EINVAL, "redact", "redact_paths[%zu] is NULL", i);
        int rc = compile_one(r, paths[i], i, err);
        if (rc < 0)
            return rc;
    }
    r->npaths = n;
    return SDIFF_OK;
}

/* ---- the walk --------------------------------------------------------------------------- */

struct walk {
    struct sdiff_redact *r;
    const struct sdiff__jtape *t;
    const struct sdiff__rseg *segs;
    int rc;
};

/* Whether a raw key (escapes unresolved) spells name. */
static int key_is(const struct sdiff__jtape *t, const struct sdiff__jnode *k, const uint8_t *name,
                  size_t len)
{
    const uint8_t *p = t->src + k->off;
    if (!(k->info & SDIFF__JF_ESC))
        return k->len == len && memcmp(p, name, len) == 0;
    struct sdiff__jdec d = {p, p + k->len};
    size_t o = 0;
    while (d.p < d.end) {
        uint8_t u[4];
        size_t n = sdiff__utf8_put(u, sdiff__jdec_next(&d));
        if (o + n > len || memcmp(name + o, u, n) != 0)
            return 0;
        o += n;
    }
    return o == len;
}

/* Compact JSON of a value: whitespace outside strings dropped. */
static int compact(struct sdiff_buf *b, const uint8_t *p, size_t n)
{
    int in_str = 0, rc = SDIFF_OK;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        uint8_t c = p[i];
        if (in_str) {
            if (c == '\\' && i + 1 < n) {
                rc = sdiff_buf_append(b, p + i, 2);
                i++;
                continue;
            }
            in_str = c != '"';
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            continue;
        } else {
            in_str = c == '"';
        }
        rc = sdiff_buf_append(b, &c, 1);
    }
    return rc;
}

/* What the value at node v hashes: a string's decoded text, else "\0json:" + compact JSON. */
static int value_span(struct walk *w, uint32_t v)
{
    struct sdiff_redact *r = w->r;
    const struct sdiff__jnode *n = &w->t->n[v];
    const uint8_t *p = w->t->src + n->off;
    size_t in_off = r->hin.len;
    int rc = SDIFF_OK;
    if (sdiff__jkind(n) == SDIFF__J_STRING) {
        struct sdiff__jdec d = {p, p + n->len};
        while (d.p < d.end && rc >= 0) {
            uint8_t u[4];
            size_t k = sdiff__utf8_put(u, sdiff__jdec_next(&d));
            rc = sdiff_buf_append(&r->hin, u, k);
        }
        if (rc < 0)
            return rc;
        /* the span takes the quotes too; the raw spelling is what lies between them */
        return sdiff__redact_span(r, n->off - 1, (size_t)n->len + 2, in_off,
                                  r->hin.len - in_off, n->off, n->len, 1, 1);
    }
    static const char tag[] = "\0json:";
    rc = sdiff_buf_append(&r->hin, tag, sizeof tag - 1);
    rc = rc < 0 ? rc : compact(&r->hin, p, n->len);
    if (rc < 0)
        return rc;
    return sdiff__redact_span(r, n->off, n->len, in_off, r->hin.len - in_off, n->off, n->len, 1,
                              0);
}

static void walk(struct walk *w, uint32_t i, const uint64_t st[WORDS])
{
    const struct sdiff__jnode *n = w->t->n;
    uint32_t end = i + n[i].size;
    int obj = sdiff__jkind(&n[i]) == SDIFF__J_OBJECT;
    uint32_t idx = 0;
    for (uint32_t c = i + 1; c < end && w->rc >= 0; idx++) {
        uint32_t key = c, v = obj ? c + 1 : c;
        uint64_t ns[WORDS] = {0};
        int hit = 0, live = 0;
        for (size_t wd = 0; wd < WORDS; wd++) {
            for (uint64_t m = st[wd]; m; m &= m - 1) {
                size_t s = wd * 64 + (size_t)__builtin_ctzll(m);
                const struct sdiff__rseg *g = &w->segs[s];
                if (g->desc)
                    ns[wd] |= 1ull << (s % 64);
                int match = g->kind == SDIFF__SEG_ANY ||
                            (g->kind == SDIFF__SEG_INDEX && !obj && g->index == idx) ||
                            (g->kind == SDIFF__SEG_NAME && obj &&
                             key_is(w->t, &n[key], w->r->names.data + g->name_off, g->name_len));
                if (!match)
                    continue;
                if (s + 1 == g->end)
                    hit = 1;
                else
                    ns[(s + 1) / 64] |= 1ull << ((s + 1) % 64);
            }
        }
        for (size_t wd = 0; wd < WORDS; wd++)
            live |= ns[wd] != 0;
        unsigned kind = sdiff__jkind(&n[v]);
        if (hit)
            w->rc = value_span(w, v);
        else if (live && (kind == SDIFF__J_OBJECT || kind == SDIFF__J_ARRAY))
            walk(w, v, ns);
        c = v + n[v].size;
    }
}

/* ---- lenient scan ----------------------------------------------------------------------- */

/* End of a string whose content starts at p (the closing quote), or end. */
static size_t str_end(const uint8_t *s, size_t p, size_t end)
{
    while (p < end && s[p] != '"')
        p += s[p] == '\\' ? 2 : 1;
    return p < end ? p : end;
}

static size_t skip_ws(const uint8_t *s, size_t p, size_t end)
{
    while (p < end && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r'))
        p++;
    return p;
}

/* A member name that ends some pattern. */
static int last_name(const struct sdiff_redact *r, const uint8_t *k, size_t len)
{
    const struct sdiff__rseg *segs = (const struct sdiff__rseg *)(const void *)r->segs.data;
    for (size_t s = 0; s < r->nsegs; s++)
        if (s + 1 == segs[s].end && segs[s].kind == SDIFF__SEG_NAME && segs[s].name_len == len &&
            memcmp(r->names.data + segs[s].name_off, k, len) == 0)
            return 1;
    return 0;
}

/* Members named like the last step of a pattern, wherever they are: their values go. */
static int lenient(struct sdiff_redact *r, const uint8_t *s, size_t n)
{
    size_t p = 0;
    while (p < n) {
        if (s[p] != '"') {
            p++;
            continue;
        }
        size_t k0 = p + 1, k1 = str_end(s, k0, n);
        if (k1 == n)
            break;
        size_t q = skip_ws(s, k1 + 1, n);
        p = k1 + 1;
        if (q == n || s[q] != ':' || !last_name(r, s + k0, k1 - k0))
            continue;
        size_t v = skip_ws(s, q + 1, n), e;
        int rc;
        if (v == n)
            break;
        if (s[v] == '"') {
            e = str_end(s, v + 1, n);
            rc = sdiff__redact_span_bytes(r, v, (e < n ? e + 1 : n) - v, s + v + 1, e - v - 1,
                                          v + 1, e - v - 1, 1, 1);
            p = e < n ? e + 1 : n;
        } else {
            /* a number, literal or container: up to where the member ends */
            int depth = 0;
            for (e = v; e < n; e++) {
                if (s[e] == '"') {
                    e = str_end(s, e + 1, n);
                    continue;
                }
                if (s[e] == '{' || s[e] == '[')
                    depth++;
                else if (s[e] == '}' || s[e] == ']') {
                    if (depth == 0)
                        break;
                    if (--depth == 0) {
                        e++;
                        break;
                    }
                } else if (depth == 0 && (s[e] == ',' || s[e] == ' ' || s[e] == '\n' ||
                                          s[e] == '\r' || s[e] == '\t'))
                    break;
            }
            if (e > n)
                e = n;
            size_t in_off = r->hin.len;
            static const char tag[] = "\0json:";
            rc = sdiff_buf_append(&r->hin, tag, sizeof tag - 1);
            rc = rc < 0 ? rc : sdiff_buf_append(&r->hin, s + v, e - v);
            if (rc >= 0)
                rc = sdiff__redact_span(r, v, e - v, in_off, r->hin.len - in_off, v, e - v, 1, 0);
            p = e;
        }
        if (rc < 0)
            return rc;
    }
    return SDIFF_OK;
}

int sdiff__redact_json_spans(struct sdiff_redact *r, const uint8_t *p, size_t len)
{
    if (r->npaths == 0)
        return SDIFF_OK;
    size_t i = skip_ws(p, 0, len);
    if (i == len || (p[i] != '{' && p[i] != '['))
        return SDIFF_OK;
    size_t mark = r->spans.len;
    int rc = sdiff__jtape_parse(&r->tape, (struct sdiff_slice){p, len}, r->max_decoded, 512, NULL,
                                NULL);
    if (rc == SDIFF_ENOMEM)
        return rc;
    if (rc < 0) {
        r->spans.len = mark;
        return lenient(r, p, len);
    }
    struct walk w = {r, &r->tape, (const struct sdiff__rseg *)(const void *)r->segs.data,
                     SDIFF_OK};
    unsigned root = sdiff__jkind(&r->tape.n[0]);
    if (root == SDIFF__J_OBJECT || root == SDIFF__J_ARRAY)
        walk(&w, 0, r->start);
    return w.rc;
}
