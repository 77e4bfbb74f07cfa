/*
 * rewrite.c - the request-rewrite layer (rewrite.h): from a captured request to the fields,
 * request-target and body a transport sends, plus the replay guard (marker headers, method
 * overrides). Transport-independent: nothing here knows libcurl or sockets.
 */
#include "replay/rewrite.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- helpers --------------------------------------------------------------------------- */

int sdiff__replay_ieq(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && strncasecmp(a, b, alen) == 0;
}

int sdiff__replay_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 9110 5.6.2 token characters: ALPHA, DIGIT and !#$%&'*+-.^_`|~ */
static int is_tchar(unsigned char c)
{
    static const uint32_t tchar[8] = {0, 0x03ff6cfa, 0xc7fffffe, 0x57ffffff};
    return (tchar[c >> 5] >> (c & 31)) & 1;
}

int sdiff__replay_is_token(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

int sdiff__replay_list_has(const char *v, size_t vlen, const char *tok, size_t toklen)
{
    size_t i = 0;
    while (i < vlen) {
        while (i < vlen && (sdiff__replay_is_ows(v[i]) || v[i] == ','))
            i++;
        size_t start = i;
        while (i < vlen && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && sdiff__replay_is_ows(v[end - 1]))
            end--;
        if (sdiff__replay_ieq(v + start, end - start, tok, toklen))
            return 1;
    }
    return 0;
}

#define ieq sdiff__replay_ieq
#define is_ows sdiff__replay_is_ows
#define is_token sdiff__replay_is_token

static const char MARKER_NAME[] = SDIFF_REPLAY_MARKER_NAME;

/* ---- options --------------------------------------------------------------------------- */

/* Split "Name: value" (a copy of s, owned by o) into o; SDIFF_EINVAL when it is not one. */
static int parse_hdr_opt(struct sdiff__hdr_opt *o, const char *what, const char *s,
                         struct sdiff_err *err)
{
    const char *colon = strchr(s, ':');
    size_t nlen = colon ? (size_t)(colon - s) : 0;
    if (colon == NULL || !is_token(s, nlen) || strpbrk(s, "\r\n") != NULL)
        return sdiff_err_set(err, SDIFF_EINVAL, "replay", "%s \"%.60s\" is not \"Name: value\"",
                             what, s);
    o->name = sdiff_strdup(s);
    if (o->name == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "replay", "out of memory");
    o->name[nlen] = '\0';
    const char *v = o->name + nlen + 1;
    while (is_ows(*v))
        v++;
    size_t vlen = strlen(v);
    while (vlen > 0 && is_ows(v[vlen - 1]))
        vlen--;
    o->nlen = nlen;
    o->value = v;
    o->vlen = vlen;
    return SDIFF_OK;
}

/* Whether a header is a marker header: X-Shadowdiff always, and our marker's own name. */
static int is_marker_name(const struct sdiff__hdr_opt *marker, const char *name, size_t nlen)
{
    return ieq(name, nlen, MARKER_NAME, sizeof MARKER_NAME - 1) ||
           (marker->name != NULL && ieq(name, nlen, marker->name, marker->nlen));
}

int sdiff_replay_token(char out[SDIFF_REPLAY_TOKEN_LEN + 1], struct sdiff_err *err)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[SDIFF_REPLAY_TOKEN_LEN / 2];
    int rc = sdiff_random_bytes(b, sizeof b, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < sizeof b; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[SDIFF_REPLAY_TOKEN_LEN] = '\0';
    return SDIFF_OK;
}

int sdiff__rewrite_init(struct sdiff__rewrite *rw, const struct sdiff_replay_opts *o,
                        struct sdiff_err *err)
{
    int rc;
    memset(rw, 0, sizeof *rw);
    rw->preserve_host = o->preserve_host;
    if (o->marker == NULL) {
        char tok[SDIFF_REPLAY_TOKEN_LEN + 1];
        if ((rc = sdiff_replay_token(tok, err)) < 0)
            return rc;
        snprintf(rw->marker_line, sizeof rw->marker_line, "%s: %s", MARKER_NAME, tok);
    } else if (strlen(o->marker) >= sizeof rw->marker_line) {
        return sdiff_err_set(err, SDIFF_EINVAL, "replay", "marker \"%.60s...\" is over %d bytes",
                             o->marker, SDIFF_REPLAY_MARKER_MAX - 1);
    } else {
        snprintf(rw->marker_line, sizeof rw->marker_line, "%s", o->marker);
    }
    if (rw->marker_line[0] != '\0' &&
        (rc = parse_hdr_opt(&rw->marker, "marker", rw->marker_line, err)) < 0)
        return rc;
    if (o->nset > 0) {
        rw->set = sdiff_calloc(o->nset, sizeof *rw->set);
        if (rw->set == NULL)
            return sdiff_err_set(err, SDIFF_ENOMEM, "replay", "out of memory");
        rw->nset = o->nset;
        for (size_t i = 0; i < o->nset; i++) {
            struct sdiff__hdr_opt *h = &rw->set[i];
            if ((rc = parse_hdr_opt(h, "set header", o->set_headers[i], err)) < 0)
                return rc;
            /* a second marker would undo "exactly one": the marker has its own option */
            if (is_marker_name(&rw->marker, h->name, h->nlen))
                return sdiff_err_set(err, SDIFF_EINVAL, "replay",
                                     "set header \"%.60s\" names the marker header: use "
                                     "--marker instead",
                                     h->name);
        }
    }
    if (o->ndrop > 0) {
        rw->drop = sdiff_calloc(o->ndrop, sizeof *rw->drop);
        if (rw->drop == NULL)
            return sdiff_err_set(err, SDIFF_ENOMEM, "replay", "out of memory");
        rw->ndrop = o->ndrop;
        for (size_t i = 0; i < o->ndrop; i++)
            if ((rw->drop[i] = sdiff_strdup(o->drop_headers[i])) == NULL)
                return sdiff_err_set(err, SDIFF_ENOMEM, "replay", "out of memory");
    }
    return SDIFF_OK;
}

void sdiff__rewrite_dispose(struct sdiff__rewrite *rw)
{
    for (size_t i = 0; rw->set && i < rw->nset; i++)
        sdiff_free(rw->set[i].name);
    sdiff_free(rw->set);
    for (size_t i = 0; rw->drop && i < rw->ndrop; i++)
        sdiff_free(rw->drop[i]);
    sdiff_free(rw->drop);
    sdiff_free(rw->marker.name);
    memset(rw, 0, sizeof *rw);
}

/* ---- the request line and body --------------------------------------------------------- */

int sdiff__rewrite_target(const char *cap, const char **path, size_t *path_len, int *prefixed,
                          int *slash)
{
    *prefixed = 1;
    *slash = 0;
    if (cap[0] == '/') {
        *path = cap;
        *path_len = strlen(cap);
        return SDIFF_OK;
    }
    if (strcmp(cap, "*") == 0) {
        *prefixed = 0;
        *path = cap;
        *path_len = 1;
        return SDIFF_OK;
    }
    const char *sep = strstr(cap, "://");
    if (sep != NULL && is_token(cap, (size_t)(sep - cap))) {
        const char *p = sep + 3 + strcspn(sep + 3, "/?#");
        *path = p;
        *path_len = strcspn(p, "#");
        *slash = p[0] != '/';
        return SDIFF_OK;
    }
    return SDIFF_EINVAL;
}

int sdiff__rewrite_unsendable(const struct sdiff_msg *req, char *why, size_t whysz)
{
    const char *path;
    size_t path_len;
    int prefixed, slash;
    if (!is_token(req->method, strlen(req->method))) {
        snprintf(why, whysz, "not replayed: method \"%.40s\" is not a token", req->method);
        return 1;
    }
    for (const char *p = req->target; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
            snprintf(why, whysz, "not replayed: request-target has a space or control character");
            return 1;
        }
    }
    if (sdiff__rewrite_target(req->target, &path, &path_len, &prefixed, &slash) < 0) {
        snprintf(why, whysz,
                 "not replayed: request-target \"%.60s\" is not in origin or absolute form",
                 req->target);
        return 1;
    }
    if (req->body_seen > req->body_len) {
        snprintf(why, whysz, "not replayed: captured request body was cut at %zu of %llu bytes",
                 req->body_len, (unsigned long long)req->body_seen);
        return 1;
    }
    return 0;
}

int sdiff__rewrite_has_body(const struct sdiff_msg *req)
{
    return strcmp(req->method, "HEAD") != 0 &&
           (req->body_len > 0 || sdiff_msg_header(req, "Content-Length") ||
            sdiff_msg_header(req, "Transfer-Encoding"));
}

/* ---- header fields --------------------------------------------------------------------- */

/* A value a transport would cut at a NUL, or one that could split the request, is not sent. */
static int is_sendable_value(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == '\0' || v[i] == '\r' || v[i] == '\n')
            return 0;
    return 1;
}

static int named_by_connection(const struct sdiff_msg *req, const char *name, size_t nlen)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct sdiff_hfield *h = &req->headers[i];
        if (ieq(h->name, h->name_len, "Connection", 10) &&
            sdiff__replay_list_has(h->value, h->value_len, name, nlen))
            return 1;
    }
    return 0;
}

/* Whether a header of this name comes before index i in the captured request. */
static int seen_before(const struct sdiff_msg *req, size_t i, const char *name, size_t nlen)
{
    for (size_t j = 0; j < i; j++)
        if (ieq(req->headers[j].name, req->headers[j].name_len, name, nlen))
            return 1;
    return 0;
}

static const struct sdiff__hdr_opt *find_set(const struct sdiff__rewrite *rw, const char *name,
                                             size_t nlen)
{
    for (size_t k = 0; k < rw->nset; k++)
        if (ieq(rw->set[k].name, rw->set[k].nlen, name, nlen))
            return &rw->set[k];
    return NULL;
}

static int is_dropped(const struct sdiff__rewrite *rw, const char *name, size_t nlen)
{
    for (size_t k = 0; k < rw->ndrop; k++)
        if (ieq(rw->drop[k], strlen(rw->drop[k]), name, nlen))
            return 1;
    return 0;
}

void sdiff__rewrite_fields(const struct sdiff__rewrite *rw, const struct sdiff_msg *req,
                           const char *authority, const char *clen, sdiff__field_fn fn,
                           void *ud)
{
    int has_conn = sdiff_msg_header(req, "Connection") != NULL;
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct sdiff_hfield *h = &req->headers[i];
        const char *name = h->name;
        size_t nlen = h->name_len;
        /* first: a captured marker (X-Shadowdiff: 0, any case, any copy) never reaches the
         * candidate, which could take the first copy for the replay's and act for real */
        if (is_marker_name(&rw->marker, name, nlen))
            continue;
        const struct sdiff__hdr_opt *set = find_set(rw, name, nlen);
        if (set != NULL) {
            if (!seen_before(req, i, name, nlen))
                fn(ud, set->name, set->nlen, set->value, set->vlen);
        } else if (!is_token(name, nlen) || !is_sendable_value(h->value, h->value_len)) {
            continue;
        } else if (sdiff_replay_is_hop_by_hop(name, nlen) || is_dropped(rw, name, nlen) ||
                   (has_conn && named_by_connection(req, name, nlen))) {
            continue;
        } else if (ieq(name, nlen, "Content-Length", 14)) {
            /* recomputed from the body, sent where the client put it */
            if (clen != NULL && !seen_before(req, i, name, nlen))
                fn(ud, name, nlen, clen, strlen(clen));
        } else if (ieq(name, nlen, "Host", 4) && !rw->preserve_host) {
            fn(ud, name, nlen, authority, strlen(authority));
        } else {
            fn(ud, name, nlen, h->value, h->value_len);
        }
    }
    for (size_t k = 0; k < rw->nset; k++)
        if (sdiff_msg_header(req, rw->set[k].name) == NULL)
            fn(ud, rw->set[k].name, rw->set[k].nlen, rw->set[k].value, rw->set[k].vlen);
    if (rw->marker.name != NULL)
        fn(ud, rw->marker.name, rw->marker.nlen, rw->marker.value, rw->marker.vlen);
}

int sdiff_replay_is_hop_by_hop(const char *name, size_t len)
{
    switch (len) {
    case 2: return ieq(name, len, "te", 2);
    case 7: return ieq(name, len, "trailer", 7) || ieq(name, len, "upgrade", 7);
    case 10: return ieq(name, len, "connection", 10) || ieq(name, len, "keep-alive", 10);
    case 16: return ieq(name, len, "proxy-connection", 16);
    case 17: return ieq(name, len, "transfer-encoding", 17);
    default: return 0;
    }
}

/* ---- the guard ------------------------------------------------------------------------- */

enum sdiff_replay_mark sdiff_replay_marker_check(const struct sdiff_msg *req, const char *marker)
{
    struct sdiff__hdr_opt m = {0};
    const char *colon = marker ? strchr(marker, ':') : NULL;
    if (colon != NULL) {
        m.name = (char *)marker; /* compared with its length only, never written */
        m.nlen = (size_t)(colon - marker);
        m.value = colon + 1;
        while (is_ows(*m.value))
            m.value++;
        m.vlen = strlen(m.value);
        while (m.vlen > 0 && is_ows(m.value[m.vlen - 1]))
            m.vlen--;
    }
    enum sdiff_replay_mark mark = SDIFF_REPLAY_MARK_NONE;
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct sdiff_hfield *h = &req->headers[i];
        if (!is_marker_name(&m, h->name, h->name_len))
            continue;
        const char *v = h->value;
        size_t vlen = h->value_len;
        while (vlen > 0 && is_ows(*v))
            v++, vlen--;
        while (vlen > 0 && is_ows(v[vlen - 1]))
            vlen--;
        if (m.name != NULL && ieq(h->name, h->name_len, m.name, m.nlen) && vlen == m.vlen &&
            memcmp(v, m.value, vlen) == 0)
            return SDIFF_REPLAY_MARK_OURS;
        mark = SDIFF_REPLAY_MARK_FORGED;
    }
    return mark;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Form decoding (percent escapes, '+' as space) of s[0, n) into out, cut to fit. */
static size_t form_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return o;
}

struct overrides {
    struct sdiff_replay_override *out;
    size_t max, n;
};

static void add_override(struct overrides *ov, const char *where, const char *v, size_t vlen,
                         int decode)
{
    if (ov->n < ov->max) {
        struct sdiff_replay_override *o = &ov->out[ov->n];
        o->where = where;
        while (vlen > 0 && is_ows(*v))
            v++, vlen--;
        while (vlen > 0 && is_ows(v[vlen - 1]))
            vlen--;
        if (decode) {
            form_decode(v, vlen, o->method, sizeof o->method);
        } else {
            size_t n = vlen < sizeof o->method - 1 ? vlen : sizeof o->method - 1;
            memcpy(o->method, v, n);
            o->method[n] = '\0';
        }
    }
    ov->n++;
}

/* The _method parameters of "a=1&_method=DELETE" (s[0, n)). */
static void params_overrides(struct overrides *ov, const char *where, const char *s, size_t n)
{
    size_t p = 0;
    while (p < n) {
        size_t e = p;
        while (e < n && s[e] != '&' && s[e] != ';')
            e++;
        const char *eq = memchr(s + p, '=', e - p);
        size_t nend = eq ? (size_t)(eq - s) : e;
        char name[16];
        /* names are decoded too: %5Fmethod is _method to the framework */
        if (nend - p < 3 * sizeof name) {
            form_decode(s + p, nend - p, name, sizeof name);
            if (strcasecmp(name, "_method") == 0)
                add_override(ov, where, eq ? eq + 1 : s + e, eq ? e - nend - 1 : 0, 1);
        }
        p = e + 1;
    }
}

static const char *find_ci(const char *hay, size_t hn, const char *needle)
{
    size_t nn = strlen(needle);
    for (size_t i = 0; i + nn <= hn; i++)
        if (strncasecmp(hay + i, needle, nn) == 0)
            return hay + i;
    return NULL;
}

/* The _method fields of a multipart/form-data body: a part named "_method", its value. */
static void multipart_overrides(struct overrides *ov, const char *s, size_t n)
{
    const char *p = s, *end = s + n;
    for (const char *f; (f = find_ci(p, (size_t)(end - p), "name=\"_method\"")) != NULL;) {
        const char *v = find_ci(f, (size_t)(end - f), "\r\n\r\n");
        const char *ve = v ? find_ci(v + 4, (size_t)(end - v - 4), "\r\n") : NULL;
        if (v == NULL) {
            add_override(ov, "_method in the form body", "", 0, 0);
            return;
        }
        v += 4;
        add_override(ov, "_method in the form body", v, (size_t)((ve ? ve : end) - v), 0);
        p = ve ? ve : end;
    }
}

static int media_is(const char *ct, size_t n, const char *type)
{
    size_t tl = strlen(type);
    while (n > 0 && is_ows(*ct))
        ct++, n--;
    return n >= tl && strncasecmp(ct, type, tl) == 0 &&
           (n == tl || ct[tl] == ';' || is_ows(ct[tl]));
}

size_t sdiff_replay_overrides(const struct sdiff_msg *req, struct sdiff_replay_override *out,
                              size_t max)
{
    static const char *const names[] = {"X-HTTP-Method-Override", "X-HTTP-Method",
                                        "X-Method-Override"};
    struct overrides ov = {out, out ? max : 0, 0};
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct sdiff_hfield *h = &req->headers[i];
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            if (ieq(h->name, h->name_len, names[k], strlen(names[k])))
                add_override(&ov, names[k], h->value, h->value_len, 0);
    }
    const char *q = req->target ? strchr(req->target, '?') : NULL;
    if (q != NULL)
        params_overrides(&ov, "_method in the query", q + 1, strcspn(q + 1, "#"));
    const struct sdiff_hfield *ct = sdiff_msg_header(req, "Content-Type");
    if (ct != NULL && req->body != NULL && req->body_len > 0) {
        const char *b = (const char *)req->body;
        if (media_is(ct->value, ct->value_len, "application/x-www-form-urlencoded"))
            params_overrides(&ov, "_method in the form body", b, req->body_len);
        else if (media_is(ct->value, ct->value_len, "multipart/form-data"))
            multipart_overrides(&ov, b, req->body_len);
    }
    return ov.n;
}
