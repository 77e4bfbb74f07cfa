/*
 * jread.c - RFC 8259 JSON reader producing a tape (see jdiff_int.h), plus the validator and
 * the pretty-printer built on it.
 *
 * The parser is one loop over the bytes with an explicit state (value, key, after a value);
 * open containers are chained through their node's size field until they close, so nesting
 * costs no C stack and depth is just a counter checked against the limit. String content is
 * scanned 16 bytes at a time for the bytes that need attention ('"', '\\', controls, non-ASCII).
 */
#include "shadowdiff/jdiff.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "jdiff_int.h"

#define NONE UINT32_MAX

/* ---- errors --------------------------------------------------------------------------- */

static int jfail(struct sdiff_err *err, int code, size_t off, const char *label, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));

static int jfail(struct sdiff_err *err, int code, size_t off, const char *label, const char *fmt,
                 ...)
{
    if (err == NULL || err->code != 0)
        return code;
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err->offset = off;
    if (label != NULL)
        return sdiff_err_set(err, code, "jdiff", "%s: %s", label, msg);
    return sdiff_err_set(err, code, "jdiff", "%s", msg);
}

/* ---- scanning helpers ----------------------------------------------------------------- */

static inline int is_ws(uint8_t c)
{
    /* ' ', '\t', '\n', '\r' */
    return c <= ' ' && ((0x100002600ull >> c) & 1);
}

static inline int is_digit(uint8_t c)
{
    return (unsigned)(c - '0') < 10;
}

/* Next byte in [p, end) that is '"', '\\', below 0x20 or above 0x7f; end when none. */
static inline const uint8_t *find_special(const uint8_t *p, const uint8_t *end)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(' ');
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* signed compare: bytes >= 0x80 are negative, so below ' ' as well */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                                 _mm_cmplt_epi8(x, space));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask != 0)
            return p + __builtin_ctz(mask);
        p += 16;
    }
#else
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
        uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
        uint64_t t = ((q - ones) & ~q) | ((b - ones) & ~b) | (w - ones * 0x20) | w;
        if (t & high)
            break;
        p += 8;
    }
#endif
    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20 && *p < 0x80)
        p++;
    return p;
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates), or 0. */
static size_t utf8_seq(const uint8_t *p, const uint8_t *end)
{
    size_t left = (size_t)(end - p);
    uint8_t c = p[0], lo = 0x80, hi = 0xbf;
    if (c < 0xc2)
        return 0;
    if (c < 0xe0)
        return left >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c < 0xf0) {
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
        return left >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c < 0xf5) {
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
        return left >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 &&
                       (p[3] & 0xc0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

/*
 * Scan string content from p (just after the opening quote). Returns the closing quote, or
 * NULL with *bad at the offending byte and *why saying what is wrong with it.
 */
static const uint8_t *scan_string(const uint8_t *p, const uint8_t *end, uint32_t *flags,
                                  const uint8_t **bad, const char **why)
{
    for (;;) {
        p = find_special(p, end);
        if (p == end) {
            *why = "unterminated string";
            break;
        }
        uint8_t c = *p;
        if (c == '"')
            return p;
        if (c == '\\') {
            *flags |= SDIFF__JF_ESC;
            if (end - p < 2) {
                *why = "unterminated string";
                break;
            }
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't': p += 2; continue;
            case 'u':
                if (end - p < 6 || (sdiff__jhex(p[2]) | sdiff__jhex(p[3]) | sdiff__jhex(p[4]) |
                                    sdiff__jhex(p[5])) < 0) {
                    *why = "invalid \\u escape in string";
                    break;
                }
                p += 6;
                continue;
            default: *why = "invalid escape in string"; break;
            }
            break;
        }
        if (c < 0x20) {
            *why = "control character in string";
            break;
        }
        size_t n = utf8_seq(p, end);
        if (n == 0) {
            *why = "invalid utf-8 in string";
            break;
        }
        p += n;
    }
    *bad = p;
    return NULL;
}

/* End of the run of ASCII digits starting at p (which may be empty). */
static inline const uint8_t *skip_digits(const uint8_t *p, const uint8_t *end)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - p >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        /* per byte: nonzero unless 0x30..0x39. A carry out of a byte >= 0xfa only reaches
           bytes after that non-digit, and only the first non-digit matters. */
        const uint64_t hi = 0xf0f0f0f0f0f0f0f0ull, z = 0x3030303030303030ull;
        uint64_t nd = ((x & hi) ^ z) | (((x + 0x0606060606060606ull) & hi) ^ z);
        if (nd != 0)
            return p + __builtin_ctzll(nd) / 8;
        p += 8;
    }
#endif
    while (p < end && is_digit(*p))
        p++;
    return p;
}

/* Scan a number lexeme (RFC 8259 section 6) starting at p; NULL with *bad on a bad byte. */
static const uint8_t *scan_number(const uint8_t *p, const uint8_t *end, const uint8_t **bad)
{
    if (*p == '-')
        p++;
    if (p < end && *p == '0') {
        p++;
    } else if (p < end && *p >= '1' && *p <= '9') {
        p = skip_digits(p + 1, end);
    } else {
        goto bad;
    }
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p))
            goto bad;
        p = skip_digits(p + 1, end);
    }
    if (p < end && (*p | 0x20) == 'e') {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            goto bad;
        p = skip_digits(p + 1, end);
    }
    return p;
bad:
    *bad = p;
    return NULL;
}

/* ---- tape ----------------------------------------------------------------------------- */

void sdiff__jtape_init(struct sdiff__jtape *t)
{
    memset(t, 0, sizeof *t);
}

void sdiff__jtape_dispose(struct sdiff__jtape *t)
{
    if (t == NULL)
        return;
    sdiff_free(t->n);
    memset(t, 0, sizeof *t);
}

static int tape_reserve(struct sdiff__jtape *t, size_t want)
{
    if (want <= t->cap)
        return SDIFF_OK;
    if (want > SIZE_MAX / sizeof *t->n)
        return SDIFF_ENOMEM;
    struct sdiff__jnode *n = sdiff_realloc(t->n, want * sizeof *t->n);
    if (n == NULL)
        return SDIFF_ENOMEM;
    t->n = n;
    t->cap = want;
    return SDIFF_OK;
}

/*
 * Next free node. The parser keeps the node array, count and capacity in locals (registers)
 * and comes here through pointers that inlining turns back into those locals.
 */
static inline __attribute__((always_inline)) struct sdiff__jnode *
push(struct sdiff__jtape *t, struct sdiff__jnode **nd, size_t *nn, size_t *cap)
{
    if (*nn == *cap) {
        if (tape_reserve(t, *cap + *cap / 2 + 64) < 0)
            return NULL;
        *nd = t->n;
        *cap = t->cap;
    }
    return &(*nd)[(*nn)++];
}

/* Where a literal (true, false, null) stops matching, for the error message. */
static const uint8_t *literal_mismatch(const uint8_t *p, const uint8_t *end, const char *lit)
{
    size_t i = 1;
    while (lit[i] != '\0' && p + i < end && p[i] == (uint8_t)lit[i])
        i++;
    return p + i;
}

int sdiff__jtape_parse(struct sdiff__jtape *t, struct sdiff_slice s, size_t max_bytes,
                       unsigned max_depth, const char *label, struct sdiff_err *err)
{
    const uint8_t *const base = s.p;
    /* an empty slice may have a NULL pointer, and NULL + 0 is undefined in C */
    const uint8_t *p = s.p, *const end = s.len > 0 ? s.p + s.len : s.p;
    const uint8_t *bad = NULL, *q;
    const char *why = NULL;
    struct sdiff__jnode *nd, *n;
    size_t nn = 0, cap;
    uint32_t cur = NONE; /* innermost open container; its size links to the enclosing one */
    int in_obj = 0;      /* cur is an object */
    unsigned depth = 0;
    size_t ws = 0;
    int rc = SDIFF_OK;

    t->len = 0;
    t->src = s.p;
    t->src_len = s.len;
    t->ws = 0;
    if (s.len > max_bytes || s.len >= UINT32_MAX)
        return jfail(err, SDIFF_ELIMIT, 0, label, "json larger than %zu bytes", max_bytes);
    if (s.len > 0 && s.p == NULL)
        return jfail(err, SDIFF_EINVAL, 0, label, "null input pointer");
    /* Typical API JSON holds a node per 6-12 bytes; reserving a guess saves regrowth. */
    if (tape_reserve(t, s.len / 8 + 16) < 0)
        goto nomem;
    nd = t->n;
    cap = t->cap;

value:
    for (q = p; p < end && is_ws(*p); p++)
        ;
    ws += (size_t)(p - q);
    if (p == end) {
        bad = p;
        why = nn == 0 ? "empty document" : "unexpected end of json";
        goto parse_error;
    }
    switch (*p) {
    case '"': {
        uint32_t info = SDIFF__J_STRING;
        q = find_special(p + 1, end);
        if (q == end || *q != '"') {
            q = scan_string(q, end, &info, &bad, &why);
            if (q == NULL)
                goto parse_error;
        }
        if ((n = push(t, &nd, &nn, &cap)) == NULL)
            goto nomem;
        n->off = (uint32_t)(p + 1 - base);
        n->len = (uint32_t)(q - p - 1);
        n->size = 1;
        n->info = info;
        p = q + 1;
        goto after;
    }
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        q = scan_number(p, end, &bad);
        if (q == NULL) {
            why = bad == end ? "unexpected end of json" : "invalid number";
            goto parse_error;
        }
        if ((n = push(t, &nd, &nn, &cap)) == NULL)
            goto nomem;
        n->off = (uint32_t)(p - base);
        n->len = (uint32_t)(q - p);
        n->size = 1;
        n->info = SDIFF__J_NUMBER;
        p = q;
        goto after;
    case '{':
    case '[':
        if (depth >= max_depth) {
            rc = jfail(err, SDIFF_ELIMIT, (size_t)(p - base), label,
                       "json nested deeper than %u levels", max_depth);
            goto out;
        }
        if ((n = push(t, &nd, &nn, &cap)) == NULL)
            goto nomem;
        n->off = (uint32_t)(p - base);
        n->len = 0;
        n->size = cur;
        cur = (uint32_t)(nn - 1);
        depth++;
        in_obj = *p++ == '{';
        n->info = in_obj ? SDIFF__J_OBJECT : SDIFF__J_ARRAY;
        for (q = p; p < end && is_ws(*p); p++)
            ;
        ws += (size_t)(p - q);
        if (p < end && *p == (in_obj ? '}' : ']'))
            goto close;
        if (in_obj)
            goto key;
        goto value;
    case 't':
    case 'f':
    case 'n': {
        const char *lit = *p == 't' ? "true" : *p == 'f' ? "false" : "null";
        uint32_t kind = *p == 't' ? SDIFF__J_TRUE : *p == 'f' ? SDIFF__J_FALSE : SDIFF__J_NULL;
        size_t ll = *p == 'f' ? 5 : 4;
        if ((size_t)(end - p) < ll || memcmp(p, lit, ll) != 0) {
            bad = literal_mismatch(p, end, lit);
            why = bad == end ? "unexpected end of json" : "invalid literal";
            goto parse_error;
        }
        if ((n = push(t, &nd, &nn, &cap)) == NULL)
            goto nomem;
        n->off = (uint32_t)(p - base);
        n->len = (uint32_t)ll;
        n->size = 1;
        n->info = kind;
        p += ll;
        goto after;
    }
    default:
        bad = p;
        why = "unexpected byte";
        goto parse_error;
    }

key:
    /* p is past the whitespace where a member must start */
    if (p == end || *p != '"') {
        bad = p;
        why = p == end ? "unexpected end of json" : "expected string key";
        goto parse_error;
    }
    {
        uint32_t info = SDIFF__J_KEY;
        q = find_special(p + 1, end);
        if (q == end || *q != '"') {
            q = scan_string(q, end, &info, &bad, &why);
            if (q == NULL)
                goto parse_error;
        }
        if ((n = push(t, &nd, &nn, &cap)) == NULL)
            goto nomem;
        n->off = (uint32_t)(p + 1 - base);
        n->len = (uint32_t)(q - p - 1);
        n->size = 1;
        n->info = info;
        p = q + 1;
    }
    if (p < end && *p == ':') {
        p++;
        goto value;
    }
    for (q = p; p < end && is_ws(*p); p++)
        ;
    ws += (size_t)(p - q);
    if (p == end || *p != ':') {
        bad = p;
        why = p == end ? "unexpected end of json" : "expected ':' after object key";
        goto parse_error;
    }
    p++;
    goto value;

after:
    if (cur == NONE)
        goto done;
    for (q = p; p < end && is_ws(*p); p++)
        ;
    ws += (size_t)(p - q);
    if (p == end) {
        bad = p;
        why = "unexpected end of json";
        goto parse_error;
    }
    if (*p == ',') {
        p++;
        nd[cur].len++; /* counts commas until the container closes */
        if (!in_obj)
            goto value;
        for (q = p; p < end && is_ws(*p); p++)
            ;
        ws += (size_t)(p - q);
        goto key;
    }
    if (*p == (in_obj ? '}' : ']'))
        goto close;
    bad = p;
    why = in_obj ? "expected ',' or '}'" : "expected ',' or ']'";
    goto parse_error;

close:
    /* p is at the closing bracket of container cur */
    {
        n = &nd[cur];
        uint32_t parent = n->size;
        uint32_t count = nn - cur > 1 ? n->len + 1 : 0;
        n->size = (uint32_t)(nn - cur);
        n->len = (uint32_t)(p + 1 - base) - n->off;
        n->info |= (count < SDIFF__J_COUNT_MAX ? count : SDIFF__J_COUNT_MAX)
                   << SDIFF__J_COUNT_SHIFT;
        cur = parent;
        depth--;
        p++;
        in_obj = cur != NONE && sdiff__jkind(&nd[cur]) == SDIFF__J_OBJECT;
    }
    goto after;

done:
    for (q = p; p < end && is_ws(*p); p++)
        ;
    ws += (size_t)(p - q);
    if (p != end) {
        bad = p;
        why = "trailing bytes after json value";
        goto parse_error;
    }
    t->len = nn;
    t->ws = ws;
    rc = SDIFF_OK;
    goto out;

parse_error:
    if (bad < end && (*bad < 0x20 || *bad >= 0x7f))
        rc = jfail(err, SDIFF_EPARSE, (size_t)(bad - base), label, "%s (byte 0x%02x)", why, *bad);
    else if (bad < end)
        rc = jfail(err, SDIFF_EPARSE, (size_t)(bad - base), label, "%s ('%c')", why, *bad);
    else
        rc = jfail(err, SDIFF_EPARSE, (size_t)(bad - base), label, "%s", why);
    goto out;
nomem:
    rc = sdiff_err_set(err, SDIFF_ENOMEM, "jdiff", "out of memory reading json");
out:
    if (rc < 0)
        t->len = 0;
    return rc;
}

/* ---- strings -------------------------------------------------------------------------- */

size_t sdiff__jstr_check(const uint8_t *p, size_t len, int *esc)
{
    if (len == 0) { /* p may be NULL: "['']" in a path is an empty key */
        *esc = 0;
        return (size_t)-1;
    }
    uint32_t flags = 0;
    const uint8_t *end = p + len, *bad = NULL;
    const char *why = NULL;
    for (;;) {
        const uint8_t *q = scan_string(p, end, &flags, &bad, &why);
        *esc = (flags & SDIFF__JF_ESC) != 0;
        /* the content has no quotes around it: its end shows up as "unterminated" */
        if (q == NULL && bad == end)
            return (size_t)-1;
        if (q != NULL)
            return (size_t)(q - (end - len)); /* a bare '"' inside the content */
        return (size_t)(bad - (end - len));
    }
}

size_t sdiff__utf8_put(uint8_t out[4], uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xc0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xe0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* ---- API: validation and pretty-printing ---------------------------------------------- */

int sdiff_jdiff_validate(struct sdiff_slice s, const struct sdiff_jdiff_opts *opts,
                         struct sdiff_err *err)
{
    static const struct sdiff_jdiff_opts defaults = SDIFF_JDIFF_OPTS_INIT;
    struct sdiff__jtape t;
    if (opts == NULL)
        opts = &defaults;
    if (SDIFF_NEVER(opts->max_depth > SDIFF_JDIFF_DEPTH_MAX))
        return SDIFF_EINVAL;
    sdiff__jtape_init(&t);
    int rc = sdiff__jtape_parse(&t, s, opts->max_bytes, opts->max_depth, NULL, err);
    sdiff__jtape_dispose(&t);
    return rc;
}

int sdiff_jdiff_valid(struct sdiff_slice s)
{
    return sdiff_jdiff_validate(s, NULL, NULL) == SDIFF_OK;
}

static int put_indent(struct sdiff_buf *out, unsigned level)
{
    static const char spaces[] = "                                ";
    int rc = sdiff_buf_append(out, "\n", 1);
    size_t n = (size_t)level * 2;
    while (rc >= 0 && n > 0) {
        size_t k = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
        rc = sdiff_buf_append(out, spaces, k);
        n -= k;
    }
    return rc;
}

/* Print node i; recursion is bounded by the parse depth limit. */
static int pretty_node(const struct sdiff__jtape *t, uint32_t i, unsigned level,
                       struct sdiff_buf *out)
{
    const struct sdiff__jnode *n = &t->n[i];
    unsigned kind = sdiff__jkind(n);
    int rc;
    if (kind == SDIFF__J_STRING) {
        rc = sdiff_buf_append(out, "\"", 1);
        if (rc >= 0)
            rc = sdiff_buf_append(out, t->src + n->off, n->len);
        return rc < 0 ? rc : sdiff_buf_append(out, "\"", 1);
    }
    if (kind != SDIFF__J_ARRAY && kind != SDIFF__J_OBJECT)
        return sdiff_buf_append(out, t->src + n->off, n->len);
    int obj = kind == SDIFF__J_OBJECT;
    rc = sdiff_buf_append(out, obj ? "{" : "[", 1);
    uint32_t end = i + n->size;
    for (uint32_t c = i + 1; rc >= 0 && c < end;) {
        if (c != i + 1)
            rc = sdiff_buf_append(out, ",", 1);
        if (rc >= 0)
            rc = put_indent(out, level + 1);
        if (rc >= 0 && obj) {
            const struct sdiff__jnode *k = &t->n[c];
            rc = sdiff_buf_append(out, "\"", 1);
            if (rc >= 0)
                rc = sdiff_buf_append(out, t->src + k->off, k->len);
            if (rc >= 0)
                rc = sdiff_buf_append(out, "\": ", 3);
            c++;
        }
        if (rc >= 0)
            rc = pretty_node(t, c, level + 1, out);
        c += t->n[c].size;
    }
    if (rc >= 0 && n->size > 1)
        rc = put_indent(out, level);
    if (rc >= 0)
        rc = sdiff_buf_append(out, obj ? "}" : "]", 1);
    return rc;
}

int sdiff_jdiff_pretty(struct sdiff_slice s, struct sdiff_buf *out, struct sdiff_err *err)
{
    static const struct sdiff_jdiff_opts defaults = SDIFF_JDIFF_OPTS_INIT;
    struct sdiff__jtape t;
    int rc;
    if (SDIFF_NEVER(out == NULL))
        return SDIFF_EINVAL;
    sdiff__jtape_init(&t);
    rc = sdiff__jtape_parse(&t, s, defaults.max_bytes, defaults.max_depth, NULL, err);
    if (rc < 0)
        goto out;
    rc = pretty_node(&t, 0, 0, out);
    if (rc == SDIFF_ELIMIT)
        sdiff_err_set(err, rc, "jdiff", "pretty json longer than %zu bytes", out->max);
    else if (rc == SDIFF_ENOMEM)
        sdiff_err_set(err, rc, "jdiff", "out of memory printing json");
out:
    sdiff__jtape_dispose(&t);
    return rc;
}
