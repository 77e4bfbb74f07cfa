/*
 * redact.c - replaces credentials in messages by keyed hashes (see shadowdiff/redact.h).
 *
 * Every kind of place (a secret header's value, the parameters of a URL or a form body, the
 * JSON values of a pattern, "name=value" in free text) is first turned into a list of spans,
 * each with the bytes it hashes; the same list serves to collect the secrets of an exchange
 * and to write the redacted text. Secrets collected from every message of an exchange are
 * then searched for, longest first, everywhere else (echoes).
 */
#include "shadowdiff/redact.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "redact/redact_int.h"
#include "shadowdiff/codec.h"

struct secret {
    size_t off, len;
};

static const char *const DEFAULT_QUERY[] = {
    "token", "access_token", "refresh_token", "id_token", "auth", "api_key", "apikey", "key",
    "password", "passwd", "secret", "client_secret", "signature", "sig", "x-amz-signature",
    "x-amz-credential", "x-amz-security-token", "x-goog-signature", "x-goog-credential",
};

/* ---- helpers --------------------------------------------------------------------------- */

int sdiff__redact_is_hash(const void *v, size_t len)
{
    const size_t plen = sizeof SDIFF_REDACTED_PREFIX - 1;
    const char *s = v;
    if (len != plen + SDIFF_REDACTED_HEX || memcmp(s, SDIFF_REDACTED_PREFIX, plen) != 0)
        return 0;
    for (size_t i = plen; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

void sdiff_redact_hash(const struct sdiff_redact *r, const void *v, size_t len,
                       char out[SDIFF_REDACT_HASH_SIZE])
{
    sdiff__redact_hmac(&r->key, v, len, out);
}

static char **copy_lower(const char *const *a, size_t n, const char *const *b, size_t nb)
{
    char **v = sdiff_calloc(n + nb + 1, sizeof *v);
    for (size_t i = 0; v && i < n + nb; i++) {
        v[i] = sdiff_strdup(i < n ? a[i] : b[i - n]);
        if (v[i] == NULL)
            return v; /* freed by the caller through the count it was given */
        for (char *c = v[i]; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
    }
    return v;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        sdiff_free(v[i]);
    sdiff_free(v);
}

static int in_list(char *const *v, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(v[i]) == len && strncasecmp(v[i], s, len) == 0)
            return 1;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode s into b (invalid escapes are kept as they are). */
static int pct_decode(struct sdiff_buf *b, const char *s, size_t n)
{
    int rc = SDIFF_OK;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            uint8_t c = (uint8_t)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            rc = sdiff_buf_append(b, &c, 1);
            i += 2;
        } else {
            rc = sdiff_buf_append(b, s + i, 1);
        }
    }
    return rc;
}

static const char *header_value(const struct sdiff_msg *m, const char *name)
{
    const struct sdiff_hfield *h = sdiff_msg_header(m, name);
    return h ? h->value : NULL;
}

static int media_is(const char *ct, const char *type)
{
    size_t n = strlen(type);
    return ct && strncasecmp(ct, type, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* ---- spans ----------------------------------------------------------------------------- */

int sdiff__redact_span(struct sdiff_redact *r, size_t off, size_t len, size_t in_off,
                       size_t in_len, size_t raw_off, size_t raw_len, int quote, int collect)
{
    struct sdiff__span s = {off, len, in_off, in_len, raw_off, raw_len, quote, collect};
    return sdiff_buf_append(&r->spans, &s, sizeof s) < 0 ? SDIFF_ENOMEM : SDIFF_OK;
}

int sdiff__redact_span_bytes(struct sdiff_redact *r, size_t off, size_t len, const void *in,
                             size_t in_len, size_t raw_off, size_t raw_len, int quote,
                             int collect)
{
    size_t in_off = r->hin.len;
    if (in_len && sdiff_buf_append(&r->hin, in, in_len) < 0)
        return SDIFF_ENOMEM;
    return sdiff__redact_span(r, off, len, in_off, in_len, raw_off, raw_len, quote, collect);
}

static void spans_reset(struct sdiff_redact *r)
{
    sdiff_buf_reset(&r->spans);
    sdiff_buf_reset(&r->hin);
}

/* The bytes a span hashes (never a null pointer, even for an empty value). */
static const uint8_t *span_in(const struct sdiff_redact *r, const struct sdiff__span *sp)
{
    return sp->in_len ? r->hin.data + sp->in_off : (const uint8_t *)"";
}

static size_t nspans(const struct sdiff_redact *r)
{
    return r->spans.len / sizeof(struct sdiff__span);
}

static const struct sdiff__span *span_at(const struct sdiff_redact *r, size_t i)
{
    return (const struct sdiff__span *)(const void *)r->spans.data + i;
}

/* A span over s[off, +len) that hashes the same bytes. */
static int span_plain(struct sdiff_redact *r, const char *s, size_t off, size_t len)
{
    return sdiff__redact_span_bytes(r, off, len, s + off, len, off, len, 0, 1);
}

/* "name=value&..." from s[from, to): the values of secret names, percent-decoded. */
static int spans_params(struct sdiff_redact *r, const char *s, size_t from, size_t to)
{
    size_t p = from;
    while (p < to) {
        size_t e = p;
        while (e < to && s[e] != '&')
            e++;
        const char *eq = memchr(s + p, '=', e - p);
        if (eq != NULL && (size_t)(eq - s) + 1 < e) {
            size_t nlen = (size_t)(eq - s) - p;
            char name[64];
            struct sdiff_buf nb;
            sdiff_buf_init(&nb, sizeof name - 1);
            int known = 0;
            if (pct_decode(&nb, s + p, nlen) >= 0 && nb.data)
                known = sdiff_redact_query_name(r, (const char *)nb.data, nb.len);
            sdiff_buf_dispose(&nb);
            if (known) {
                size_t v = (size_t)(eq - s) + 1, in_off = r->hin.len;
                int rc = pct_decode(&r->hin, s + v, e - v);
                rc = rc < 0 ? rc
                            : sdiff__redact_span(r, v, e - v, in_off, r->hin.len - in_off, v,
                                                 e - v, 0, 1);
                if (rc < 0)
                    return rc;
            }
        }
        p = e + 1;
    }
    return SDIFF_OK;
}

/* A URL or request-target: user:password@, and the secret parameters of query and fragment. */
static int spans_url(struct sdiff_redact *r, const char *s, size_t n)
{
    size_t i = 0;
    const char *sep = n >= 3 ? strstr(s, "://") : NULL;
    if (sep != NULL && (size_t)(sep - s) < n && (size_t)(sep - s) <= 32) {
        size_t a = (size_t)(sep - s) + 3, e = a;
        while (e < n && s[e] != '/' && s[e] != '?' && s[e] != '#')
            e++;
        const char *at = NULL;
        for (size_t k = a; k < e; k++)
            if (s[k] == '@')
                at = s + k;
        if (at != NULL && (size_t)(at - s) > a && span_plain(r, s, a, (size_t)(at - s) - a) < 0)
            return SDIFF_ENOMEM;
        i = e;
    }
    while (i < n && s[i] != '?' && s[i] != '#')
        i++;
    if (i < n && s[i] == '?') {
        size_t e = i + 1;
        while (e < n && s[e] != '#')
            e++;
        if (spans_params(r, s, i + 1, e) < 0)
            return SDIFF_ENOMEM;
        i = e;
    }
    if (i < n && s[i] == '#' && spans_params(r, s, i + 1, n) < 0)
        return SDIFF_ENOMEM;
    return SDIFF_OK;
}

static int is_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static size_t trim_left(const char *s, size_t p, size_t e)
{
    while (p < e && (s[p] == ' ' || s[p] == '\t'))
        p++;
    return p;
}

static size_t trim_right(const char *s, size_t p, size_t e)
{
    while (e > p && (s[e - 1] == ' ' || s[e - 1] == '\t'))
        e--;
    return e;
}

/* The parts of a secret header's value that are hashed (see redact.h). */
static int spans_secret_header(struct sdiff_redact *r, const char *name, size_t nlen,
                               const char *v, size_t n)
{
    size_t b = trim_left(v, 0, n), e = trim_right(v, b, n);
    if (b == e)
        return SDIFF_OK;
    if ((nlen == 13 && strncasecmp(name, "authorization", 13) == 0) ||
        (nlen == 19 && strncasecmp(name, "proxy-authorization", 19) == 0)) {
        size_t s = b;
        while (s < e && is_token_char(v[s]))
            s++;
        size_t c = trim_left(v, s, e);
        if (s > b && s < e && v[s] == ' ' && c < e)
            return span_plain(r, v, c, e - c);
        return span_plain(r, v, b, e - b);
    }
    int cookie = nlen == 6 && strncasecmp(name, "cookie", 6) == 0;
    int set_cookie = nlen == 10 && strncasecmp(name, "set-cookie", 10) == 0;
    if (!cookie && !set_cookie)
        return span_plain(r, v, b, e - b);
    for (size_t p = b; p < e;) {
        size_t q = p;
        while (q < e && v[q] != ';')
            q++;
        size_t ib = trim_left(v, p, q), ie = trim_right(v, ib, q);
        const char *eq = memchr(v + ib, '=', ie - ib);
        size_t vb = eq ? trim_left(v, (size_t)(eq - v) + 1, ie) : ib;
        if (vb < ie && span_plain(r, v, vb, ie - vb) < 0)
            return SDIFF_ENOMEM;
        if (set_cookie)
            break; /* attributes (Path, Expires, HttpOnly, ...) are not secret */
        p = q + 1;
    }
    return SDIFF_OK;
}

/* "name=value" of a secret parameter name anywhere in free text. */
static int spans_text(struct sdiff_redact *r, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && (is_token_char(s[i - 1]) && s[i - 1] != '&' && s[i - 1] != '%'))
            continue;
        for (size_t q = 0; q < r->nquery; q++) {
            size_t ql = strlen(r->query[q]);
            if (i + ql + 1 >= n || strncasecmp(s + i, r->query[q], ql) != 0)
                continue;
            size_t v = i + ql; /* "=", or "[]=" / "%5B%5D=" (array syntax) */
            if (v + 3 < n && memcmp(s + v, "[]=", 3) == 0)
                v += 2;
            else if (v + 7 < n && strncasecmp(s + v, "%5B%5D=", 7) == 0)
                v += 6;
            if (s[v] != '=')
                continue;
            v++;
            size_t e = v;
            while (e < n && strchr("&#;, \t\r\n\"'<>)", s[e]) == NULL)
                e++;
            if (e > v && span_plain(r, s, v, e - v) < 0)
                return SDIFF_ENOMEM;
            i = e;
            break;
        }
    }
    return SDIFF_OK;
}

/* Write s with its spans replaced into out; 1 when something was replaced. */
static int apply_spans(struct sdiff_redact *r, const uint8_t *s, size_t n, struct sdiff_buf *out,
                       int *rc_out)
{
    size_t pos = 0;
    int changed = 0, rc = SDIFF_OK;
    sdiff_buf_reset(out);
    for (size_t i = 0; i < nspans(r) && rc >= 0; i++) {
        const struct sdiff__span *sp = span_at(r, i);
        const uint8_t *in = span_in(r, sp);
        if (sp->off < pos || sp->off + sp->len > n)
            continue; /* overlapping or out of range: never for spans made here */
        if (sdiff__redact_is_hash(in, sp->in_len))
            continue;
        char h[SDIFF_REDACT_HASH_SIZE];
        sdiff__redact_hmac(&r->key, in, sp->in_len, h);
        rc = sdiff_buf_append(out, s + pos, sp->off - pos);
        rc = rc < 0 || !sp->quote ? rc : sdiff_buf_append(out, "\"", 1);
        rc = rc < 0 ? rc : sdiff_buf_puts(out, h);
        rc = rc < 0 || !sp->quote ? rc : sdiff_buf_append(out, "\"", 1);
        pos = sp->off + sp->len;
        changed = 1;
    }
    if (rc >= 0 && changed)
        rc = sdiff_buf_append(out, s + pos, n - pos);
    *rc_out = rc;
    return rc >= 0 && changed;
}

/* ---- secrets of the exchange ------------------------------------------------------------ */

static int add_secret(struct sdiff_redact *r, const void *v, size_t len)
{
    if (len < SDIFF__REDACT_MIN_ECHO || sdiff__redact_is_hash(v, len) ||
        sdiff_value_is_redacted(v, len))
        return SDIFF_OK;
    const struct secret *sv = (const struct secret *)(const void *)r->secret_ix.data;
    size_t ns = r->secret_ix.len / sizeof *sv;
    for (size_t i = 0; i < ns; i++)
        if (sv[i].len == len && memcmp(r->secrets.data + sv[i].off, v, len) == 0)
            return SDIFF_OK;
    struct secret s = {r->secrets.len, len};
    if (sdiff_buf_append(&r->secrets, v, len) < 0 ||
        sdiff_buf_append(&r->secret_ix, &s, sizeof s) < 0)
        return SDIFF_ENOMEM;
    r->sorted = 0;
    return SDIFF_OK;
}

/* Collect the secrets of the current span list (s: the text they are spans of). */
static int collect_spans(struct sdiff_redact *r, const uint8_t *s)
{
    int rc = SDIFF_OK;
    for (size_t i = 0; i < nspans(r) && rc >= 0; i++) {
        const struct sdiff__span *sp = span_at(r, i);
        if (!sp->collect)
            continue;
        const uint8_t *in = span_in(r, sp);
        rc = add_secret(r, in, sp->in_len);
        if (rc >= 0 && sp->raw_len > 0 &&
            (sp->raw_len != sp->in_len || memcmp(s + sp->raw_off, in, sp->raw_len) != 0))
            rc = add_secret(r, s + sp->raw_off, sp->raw_len);
    }
    return rc;
}

/* Scratch grown by one large body is given back rather than kept for the whole run. */
static void trim(struct sdiff_buf *b)
{
    if (b->cap > (4u << 20)) {
        sdiff_buf_dispose(b);
        sdiff_buf_init(b, SIZE_MAX / 4);
    }
    sdiff_buf_reset(b);
}

void sdiff_redact_reset(struct sdiff_redact *r)
{
    trim(&r->secrets);
    trim(&r->secret_ix);
    trim(&r->spans);
    trim(&r->hin);
    trim(&r->dec);
    trim(&r->a);
    trim(&r->b);
    trim(&r->c);
    trim(&r->hv);
    if (r->tape.cap > (1u << 18)) {
        sdiff__jtape_dispose(&r->tape);
        sdiff__jtape_init(&r->tape);
    }
    r->sorted = 1;
}

int sdiff_redact_collect_value(struct sdiff_redact *r, const void *v, size_t len)
{
    return add_secret(r, v, len);
}

static int url_header(const char *name, size_t len)
{
    return (len == 7 && strncasecmp(name, "referer", 7) == 0) ||
           (len == 8 && strncasecmp(name, "location", 8) == 0) ||
           (len == 16 && strncasecmp(name, "content-location", 16) == 0);
}

static int is_secret_header(const struct sdiff_redact *r, const char *name, size_t len)
{
    return sdiff_header_is_secret(name, len) || in_list(r->headers, r->nheaders, name, len);
}

/* Spans of a body as it is (JSON values, form parameters). */
static int body_spans(struct sdiff_redact *r, const struct sdiff_msg *m, const uint8_t *p,
                      size_t n)
{
    int rc = sdiff__redact_json_spans(r, p, n);
    if (rc >= 0 && nspans(r) == 0 &&
        media_is(header_value(m, "Content-Type"), "application/x-www-form-urlencoded"))
        rc = spans_params(r, (const char *)p, 0, n);
    return rc;
}

int sdiff_redact_collect(struct sdiff_redact *r, const struct sdiff_msg *m)
{
    int rc = SDIFF_OK;
    if (m->present && m->target && *m->target) {
        spans_reset(r);
        rc = spans_url(r, m->target, strlen(m->target));
        rc = rc < 0 ? rc : collect_spans(r, (const uint8_t *)m->target);
    }
    for (size_t i = 0; m->present && i < m->nheaders && rc >= 0; i++) {
        const struct sdiff_hfield *h = &m->headers[i];
        spans_reset(r);
        if (is_secret_header(r, h->name, h->name_len))
            rc = spans_secret_header(r, h->name, h->name_len, h->value, h->value_len);
        else if (url_header(h->name, h->name_len))
            rc = spans_url(r, h->value, h->value_len);
        rc = rc < 0 ? rc : collect_spans(r, (const uint8_t *)h->value);
    }
    const char *enc = m->present ? header_value(m, "Content-Encoding") : NULL;
    int identity = enc == NULL || *enc == '\0' || strcasecmp(enc, "identity") == 0;
    if (rc >= 0 && m->body_len && m->body && identity) {
        spans_reset(r);
        rc = body_spans(r, m, m->body, m->body_len);
        rc = rc < 0 ? rc : collect_spans(r, m->body);
    }
    spans_reset(r);
    return rc;
}

/* ---- scrubbing echoes ------------------------------------------------------------------- */

/* First occurrence of needle (nn > 0 bytes) in hay, or NULL (memmem is not in POSIX). */
static const uint8_t *find_bytes(const uint8_t *hay, size_t hn, const uint8_t *needle, size_t nn)
{
    const uint8_t *p = hay, *end = hay + hn;
    while (nn <= (size_t)(end - p) && (p = memchr(p, needle[0], (size_t)(end - p) - nn + 1))) {
        if (memcmp(p, needle, nn) == 0)
            return p;
        p++;
    }
    return NULL;
}

static void sort_secrets(struct sdiff_redact *r)
{
    struct secret *sv = (struct secret *)(void *)r->secret_ix.data;
    size_t n = r->secret_ix.len / sizeof *sv;
    /* longest first, so a secret that contains another is replaced whole */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && sv[j - 1].len < sv[j].len; j--) {
            struct secret t = sv[j];
            sv[j] = sv[j - 1];
            sv[j - 1] = t;
        }
    r->sorted = 1;
}

/*
 * Replace every collected secret in s (n bytes) by its hash. Returns 1 and the result in one
 * of r->a / r->b (*out) when something changed.
 */
static int scrub(struct sdiff_redact *r, const uint8_t *s, size_t n, struct sdiff_buf **out,
                 int *rc_out)
{
    const struct secret *sv = (const struct secret *)(const void *)r->secret_ix.data;
    size_t ns = r->secret_ix.len / sizeof *sv;
    struct sdiff_buf *bufs[2] = {&r->a, &r->b};
    int which = 0, changed = 0, rc = SDIFF_OK;
    if (!r->sorted)
        sort_secrets(r);
    const uint8_t *cur = s;
    size_t cur_len = n;
    for (size_t i = 0; i < ns && rc >= 0; i++) {
        const uint8_t *sec = r->secrets.data + sv[i].off;
        size_t slen = sv[i].len;
        if (slen > cur_len || find_bytes(cur, cur_len, sec, slen) == NULL)
            continue;
        char h[SDIFF_REDACT_HASH_SIZE];
        sdiff__redact_hmac(&r->key, sec, slen, h);
        struct sdiff_buf *dst = bufs[which];
        sdiff_buf_reset(dst);
        size_t pos = 0;
        const uint8_t *hit;
        while (rc >= 0 && (hit = find_bytes(cur + pos, cur_len - pos, sec, slen)) != NULL) {
            size_t at = (size_t)(hit - cur);
            rc = sdiff_buf_append(dst, cur + pos, at - pos);
            rc = rc < 0 ? rc : sdiff_buf_puts(dst, h);
            pos = at + slen;
        }
        rc = rc < 0 ? rc : sdiff_buf_append(dst, cur + pos, cur_len - pos);
        cur = dst->data;
        cur_len = dst->len;
        *out = dst;
        which ^= 1;
        changed = 1;
    }
    *rc_out = rc;
    return rc >= 0 && changed;
}

static int has_secrets(const struct sdiff_redact *r)
{
    return r->secret_ix.len > 0;
}

/* ---- messages --------------------------------------------------------------------------- */

/*
 * Redact s (n bytes) into r->c; 1 when it changed. what: 0 a URL, 1 a secret header's value,
 * 2 free text, 3 anything else (only echoes).
 */
static int redact_string(struct sdiff_redact *r, const char *name, size_t nlen, const char *s,
                         size_t n, int what, int *rc)
{
    spans_reset(r);
    *rc = what == 0   ? spans_url(r, s, n)
          : what == 1 ? spans_secret_header(r, name, nlen, s, n)
          : what == 2 ? spans_text(r, s, n)
                      : SDIFF_OK;
    if (*rc < 0)
        return 0;
    struct sdiff_buf *cur = NULL;
    int changed = apply_spans(r, (const uint8_t *)s, n, &r->dec, rc);
    if (*rc < 0)
        return 0;
    const uint8_t *p = changed ? r->dec.data : (const uint8_t *)s;
    size_t len = changed ? r->dec.len : n;
    if (has_secrets(r) && scrub(r, p, len, &cur, rc)) {
        p = cur->data;
        len = cur->len;
        changed = 1;
    }
    if (*rc < 0 || !changed)
        return 0;
    sdiff_buf_reset(&r->c);
    *rc = sdiff_buf_append(&r->c, p, len);
    return *rc >= 0;
}

/*
 * The body: decoded when content-coded and something might be inside; JSON values and form
 * parameters; then echoes. Sets *new_body (owned) when it changed, *dropped_coding when the
 * new body is the decoded one.
 */
static int redact_body(struct sdiff_redact *r, const struct sdiff_msg *m, uint8_t **new_body,
                       size_t *new_len, int *dropped_coding, struct sdiff_err *err)
{
    const uint8_t *p = m->body;
    size_t n = m->body_len;
    int decoded = 0, changed = 0, rc = SDIFF_OK;
    *new_body = NULL;
    *dropped_coding = 0;
    if (n == 0 || p == NULL)
        return SDIFF_OK; /* empty, or only counted (limits.discard_bodies) */
    const char *enc = m->present ? header_value(m, "Content-Encoding") : NULL;
    const char *ct = m->present ? header_value(m, "Content-Type") : NULL;
    int form = media_is(ct, "application/x-www-form-urlencoded");
    if (enc && *enc && strcasecmp(enc, "identity") != 0) {
        if (r->npaths == 0 && !form && !has_secrets(r))
            return SDIFF_OK;
        enum sdiff_codec_result res = SDIFF_CODEC_IDENTITY;
        struct sdiff_buf *dec = &r->hv; /* free until the headers are rebuilt */
        sdiff_buf_reset(dec);
        if (sdiff_codec_decode(enc, (struct sdiff_slice){p, n}, r->max_decoded, dec, &res,
                               NULL) < 0 ||
            res != SDIFF_CODEC_DECODED)
            return SDIFF_OK; /* nothing we can read inside: kept as it is */
        p = dec->data ? dec->data : (const uint8_t *)"";
        n = dec->len;
        decoded = 1;
    }
    spans_reset(r);
    rc = body_spans(r, m, p, n);
    if (rc >= 0 && apply_spans(r, p, n, &r->dec, &rc)) {
        p = r->dec.data;
        n = r->dec.len;
        changed = 1;
    }
    struct sdiff_buf *cur = NULL;
    if (rc >= 0 && has_secrets(r) && scrub(r, p, n, &cur, &rc)) {
        p = cur->data;
        n = cur->len;
        changed = 1;
    }
    if (rc < 0)
        return sdiff_err_set(err, SDIFF_ENOMEM, "redact", "out of memory redacting a body");
    if (!changed)
        return SDIFF_OK;
    *new_body = sdiff_malloc(n + 1);
    if (*new_body == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "redact", "out of memory redacting a body");
    memcpy(*new_body, p, n);
    (*new_body)[n] = 0;
    *new_len = n;
    *dropped_coding = decoded;
    return SDIFF_OK;
}

struct hnew {
    size_t off; /* value in r->hv, or SIZE_MAX: unchanged */
    size_t len;
    int drop;
};

int sdiff_redact_msg(struct sdiff_redact *r, struct sdiff_msg *m, struct sdiff_err *err)
{
    struct hnew *hn = NULL;
    struct sdiff_hfield *f = NULL;
    uint8_t *body = NULL;
    size_t body_len = 0;
    int dropped_coding = 0, rc;

    if (r->key.len == 0)
        return sdiff_err_set(err, SDIFF_EINVAL, "redact", "no redaction key");
    rc = redact_body(r, m, &body, &body_len, &dropped_coding, err);
    if (rc < 0 || !m->present)
        goto out;
    /* the header values are built in r->hv from here on (redact_body may have used it) */
    sdiff_buf_reset(&r->hv);
    size_t target_off = SIZE_MAX;
    if (m->target && *m->target) {
        if (redact_string(r, NULL, 0, m->target, strlen(m->target), 0, &rc)) {
            target_off = r->hv.len;
            rc = sdiff_buf_append(&r->hv, r->c.data, r->c.len);
            rc = rc < 0 ? rc : sdiff_buf_append(&r->hv, "", 1);
        }
        if (rc < 0)
            goto nomem;
    }
    hn = sdiff_calloc(m->nheaders + 1, sizeof *hn);
    if (hn == NULL)
        goto nomem;
    int changed_headers = 0;
    for (size_t i = 0; i < m->nheaders; i++) {
        const struct sdiff_hfield *h = &m->headers[i];
        int what = is_secret_header(r, h->name, h->name_len) ? 1
                   : url_header(h->name, h->name_len)       ? 0
                                                            : 3;
        hn[i].off = SIZE_MAX;
        char clen[24];
        if (body && dropped_coding && h->name_len == 16 &&
            strncasecmp(h->name, "content-encoding", 16) == 0) {
            hn[i].drop = 1;
            changed_headers = 1;
            continue;
        }
        if (body && h->name_len == 14 && strncasecmp(h->name, "content-length", 14) == 0 &&
            m->body_seen == m->body_len) {
            snprintf(clen, sizeof clen, "%zu", body_len);
            hn[i].off = r->hv.len;
            hn[i].len = strlen(clen);
            rc = sdiff_buf_append(&r->hv, clen, hn[i].len + 1);
            changed_headers = 1;
        } else if (redact_string(r, h->name, h->name_len, h->value, h->value_len, what, &rc)) {
            hn[i].off = r->hv.len;
            hn[i].len = r->c.len;
            rc = sdiff_buf_append(&r->hv, r->c.data, r->c.len);
            rc = rc < 0 ? rc : sdiff_buf_append(&r->hv, "", 1);
            changed_headers = 1;
        }
        if (rc < 0)
            goto nomem;
    }
    if (changed_headers || target_off != SIZE_MAX) {
        f = sdiff_calloc(m->nheaders + 1, sizeof *f);
        if (f == NULL)
            goto nomem;
        size_t n = 0;
        for (size_t i = 0; i < m->nheaders; i++) {
            if (hn[i].drop)
                continue;
            f[n] = m->headers[i];
            if (hn[i].off != SIZE_MAX) {
                f[n].value = (const char *)r->hv.data + hn[i].off;
                f[n].value_len = hn[i].len;
            }
            n++;
        }
        char *old_target = m->target;
        if (target_off != SIZE_MAX)
            m->target = (char *)r->hv.data + target_off;
        rc = sdiff_msg_set_headers(m, f, n);
        if (rc < 0) {
            m->target = old_target;
            goto nomem;
        }
    }
out:
    if (rc >= 0 && body) {
        size_t old = m->body_len;
        /* keep how much was cut: body_seen stays past body_len when the body was cut */
        if (m->body_seen <= old)
            m->body_seen = body_len;
        else
            m->body_seen = m->body_seen - old + body_len;
        sdiff_free(m->body);
        m->body = body;
        m->body_len = body_len;
        body = NULL;
    }
    sdiff_free(body);
    sdiff_free(hn);
    sdiff_free(f);
    return rc;
nomem:
    rc = sdiff_err_set(err, SDIFF_ENOMEM, "redact", "out of memory");
    goto out;
}

void sdiff_redact_text(struct sdiff_redact *r, char *s, size_t cap)
{
    int rc;
    if (s == NULL || cap == 0 || *s == '\0' || r->key.len == 0)
        return;
    if (!redact_string(r, NULL, 0, s, strlen(s), 2, &rc)) {
        if (rc < 0) /* out of memory: better no text than a secret */
            snprintf(s, cap, "%s", "[text withheld: out of memory while redacting]");
        return;
    }
    size_t n = r->c.len < cap - 1 ? r->c.len : cap - 1;
    memcpy(s, r->c.data, n);
    s[n] = '\0';
}

int sdiff_redact_exchange(struct sdiff_redact *r, struct sdiff_exchange *ex,
                          struct sdiff_err *err)
{
    sdiff_redact_reset(r);
    int rc = sdiff_redact_collect(r, &ex->req);
    rc = rc < 0 ? rc : sdiff_redact_collect(r, &ex->resp);
    if (rc < 0)
        return sdiff_err_set(err, rc, "redact", "out of memory");
    rc = sdiff_redact_msg(r, &ex->req, err);
    rc = rc < 0 ? rc : sdiff_redact_msg(r, &ex->resp, err);
    if (rc >= 0)
        sdiff_redact_text(r, ex->note, sizeof ex->note);
    return rc;
}

const struct sdiff_redact_key *sdiff_redact_key_of(const struct sdiff_redact *r)
{
    return &r->key;
}

int sdiff_redact_bind(struct sdiff_redact *r, struct sdiff_store *st, struct sdiff_err *err)
{
    return sdiff_redact_key_bind(&r->key, st, err);
}

/* "name[]" and "name[N]" (array syntax, as PHP, Rails and qs parse it): the length of name. */
static size_t array_base(const char *name, size_t len)
{
    if (len < 3 || name[len - 1] != ']')
        return len;
    size_t i = len - 1;
    while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9')
        i--;
    return i > 1 && name[i - 1] == '[' ? i - 1 : len;
}

int sdiff_redact_query_name(const struct sdiff_redact *r, const char *name, size_t len)
{
    return in_list(r->query, r->nquery, name, len) ||
           in_list(r->query, r->nquery, name, array_base(name, len));
}

/* ---- lifecycle -------------------------------------------------------------------------- */

int sdiff_redact_new(struct sdiff_redact **out, const struct sdiff_redact_opts *o,
                     struct sdiff_err *err)
{
    struct sdiff_redact *r = NULL;
    int rc;
    *out = NULL;
    if (SDIFF_NEVER(o == NULL))
        return SDIFF_EINVAL;
    if (o->key && o->key->len > SDIFF_REDACT_KEY_MAX)
        return sdiff_err_set(err, SDIFF_EINVAL, "redact", "redaction key too long");
    r = sdiff_calloc(1, sizeof *r);
    if (r == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "redact", "out of memory");
    if (o->key)
        r->key = *o->key;
    r->max_decoded = o->max_decoded ? o->max_decoded : 64u << 20;
    sdiff_buf_init(&r->segs, SIZE_MAX / 4);
    sdiff_buf_init(&r->names, SIZE_MAX / 4);
    sdiff_buf_init(&r->secrets, SIZE_MAX / 4);
    sdiff_buf_init(&r->secret_ix, SIZE_MAX / 4);
    sdiff_buf_init(&r->spans, SIZE_MAX / 4);
    sdiff_buf_init(&r->hin, SIZE_MAX / 4);
    sdiff_buf_init(&r->dec, SIZE_MAX / 4);
    sdiff_buf_init(&r->a, SIZE_MAX / 4);
    sdiff_buf_init(&r->b, SIZE_MAX / 4);
    sdiff_buf_init(&r->c, SIZE_MAX / 4);
    sdiff_buf_init(&r->hv, SIZE_MAX / 4);
    sdiff__jtape_init(&r->tape);
    r->sorted = 1;
    size_t nd = sizeof DEFAULT_QUERY / sizeof DEFAULT_QUERY[0];
    r->headers = copy_lower(o->headers, o->nheaders, NULL, 0);
    r->nheaders = o->nheaders;
    r->query = copy_lower(DEFAULT_QUERY, nd, o->query, o->nquery);
    r->nquery = nd + o->nquery;
    int bad_alloc = r->headers == NULL || r->query == NULL;
    for (size_t i = 0; !bad_alloc && i < r->nheaders; i++)
        bad_alloc = r->headers[i] == NULL;
    for (size_t i = 0; !bad_alloc && i < r->nquery; i++)
        bad_alloc = r->query[i] == NULL;
    if (bad_alloc) {
        rc = sdiff_err_set(err, SDIFF_ENOMEM, "redact", "out of memory");
        goto fail;
    }
    rc = sdiff__redact_compile(r, o->paths, o->npaths, err);
    if (rc < 0)
        goto fail;
    *out = r;
    return SDIFF_OK;
fail:
    sdiff_redact_free(r);
    return rc;
}

int sdiff_redact_clone(struct sdiff_redact **out, const struct sdiff_redact *r,
                       struct sdiff_err *err)
{
    *out = NULL;
    if (SDIFF_NEVER(r == NULL))
        return SDIFF_EINVAL;
    /* the names as given (r->query starts with the defaults, which new adds again), then
     * the compiled patterns as they are: they hold offsets, never pointers */
    size_t nd = sizeof DEFAULT_QUERY / sizeof DEFAULT_QUERY[0];
    struct sdiff_redact_opts o = {
        .key = &r->key, .headers = (const char *const *)r->headers, .nheaders = r->nheaders,
        .query = (const char *const *)r->query + nd, .nquery = r->nquery - nd,
        .max_decoded = r->max_decoded,
    };
    struct sdiff_redact *c = NULL;
    int rc = sdiff_redact_new(&c, &o, err);
    if (rc < 0)
        return rc;
    rc = sdiff_buf_append(&c->segs, r->segs.data, r->segs.len);
    rc = rc < 0 ? rc : sdiff_buf_append(&c->names, r->names.data, r->names.len);
    if (rc < 0) {
        sdiff_redact_free(c);
        return sdiff_err_set(err, SDIFF_ENOMEM, "redact", "out of memory");
    }
    c->nsegs = r->nsegs;
    c->npaths = r->npaths;
    memcpy(c->start, r->start, sizeof c->start);
    *out = c;
    return SDIFF_OK;
}

void sdiff_redact_free(struct sdiff_redact *r)
{
    if (r == NULL)
        return;
    free_strs(r->headers, r->nheaders);
    free_strs(r->query, r->nquery);
    sdiff_buf_dispose(&r->segs);
    sdiff_buf_dispose(&r->names);
    sdiff_buf_dispose(&r->secrets);
    sdiff_buf_dispose(&r->secret_ix);
    sdiff_buf_dispose(&r->spans);
    sdiff_buf_dispose(&r->hin);
    sdiff_buf_dispose(&r->dec);
    sdiff_buf_dispose(&r->a);
    sdiff_buf_dispose(&r->b);
    sdiff_buf_dispose(&r->c);
    sdiff_buf_dispose(&r->hv);
    sdiff__jtape_dispose(&r->tape);
    memset(&r->key, 0, sizeof r->key);
    sdiff_free(r);
}
