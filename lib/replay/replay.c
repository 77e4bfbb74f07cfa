/*
 * replay.c - replays captured requests to live targets: the engine (queue, slots, rate,
 * request preparation, callbacks) and its libcurl transport. Targets that another transport
 * carries (the native client for http://, client.c) get their requests through
 * struct sdiff_transport_ops (replay_int.h) from start_ops.
 *
 * One multi handle drives every curl transfer. A fixed pool of slots, one per unit of concurrency,
 * each keeps a reusable easy handle and reusable response buffers; requests beyond the pool
 * wait in a FIFO. A request is prepared once, at submit, into one allocation (struct job):
 * request-target, method, the header list as curl_slist nodes, and a copy of the body, so a
 * started transfer costs no allocation of ours but the result. See README.md for the wire
 * rules (which headers are sent, how curl's own additions are suppressed).
 */
#include "shadowdiff/replay.h"
#include "replay_int.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdatomic.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "replay/rewrite.h"

/* ---- types ----------------------------------------------------------------------------- */

#define REPLAY_MAX_HEAD (256u << 10) /* one response head: status line and fields */
#define REPLAY_NO_LENGTH UINT64_MAX

struct target {
    char *url;       /* "scheme://authority/": where curl connects */
    CURLU *cu;       /* url parsed once, so that no transfer parses it again */
    char *authority; /* "host[:port]" as written: the Host header we send */
    char *prefix;    /* path prefix without a trailing '/', "" when none */
    size_t prefix_len;
    int ops;         /* carried by r->ops (the native client), not by curl */
};

/* One prepared request; everything it points to lives in the same allocation, after it. */
struct job {
    struct job *next;
    void *tag;
    size_t target;
    struct sdiff_replay_result *res; /* allocated at submit, so a request can always be reported */
    const char *method;              /* NULL: HEAD, sent with CURLOPT_NOBODY */
    const char *rtarget;             /* request-target as sent */
    struct curl_slist *headers;      /* nodes in this allocation; curl only reads them */
    const uint8_t *body;
    size_t body_len;
    int has_body; /* send a body (possibly empty) with a Content-Length */
};

/* One unit of concurrency: an easy handle reused from request to request. */
struct slot {
    struct sdiff_replay *r;
    CURL *easy;
    struct job *job; /* NULL when idle */
    struct slot *next_free;
    size_t url_target;       /* 1 + the target whose URL the handle has, 0 when none */
    struct sdiff_buf head;   /* reason phrase NUL, then the raw lines of the newest head */
    struct sdiff_buf fields; /* struct sdiff_hfield[] pointing into head, built at the end */
    struct sdiff_buf body;
    int status;
    int version_minor;
    int head_done; /* the final (non-1xx) head has ended: later lines are trailers */
    int too_large; /* body over max_body */
    int head_over; /* head over REPLAY_MAX_HEAD */
    int nomem;     /* a response buffer could not grow */
    uint64_t body_seen;
    uint64_t content_length; /* of the final head, or REPLAY_NO_LENGTH */
    char errbuf[CURL_ERROR_SIZE];
    struct sdiff_buf wfields; /* struct sdiff_hfield[] of the job, for r->ops */
};

struct sdiff_replay {
    CURLM *multi;
    const struct sdiff_transport_ops *ops; /* the transport of targets with ops set */
    void *tp;
    size_t active_ops; /* of active, those on ops */
    size_t concurrency;
    double rate;
    long connect_timeout_ms;
    long timeout_ms;
    int insecure;
    size_t max_body;
    size_t max_queue;
    struct sdiff__rewrite rw; /* what a captured request becomes on the wire */
    struct target *targets;
    size_t ntargets;
    struct slot *slots;
    struct slot *free_slots;
    size_t active;
    struct job *qhead, *qtail; /* waiting for a slot or a token */
    size_t nqueued;
    struct job *fhead, *ftail; /* could not be started; reported by the next run */
    size_t nfailed;
    double tokens; /* rate limit: token bucket refilled at rate per second */
    double burst;
    double refill_at;
    int in_run;
    size_t delivered; /* callbacks made, to return from run once some were */
    atomic_int woken; /* sdiff_replay_wakeup was called: return from run */
    sdiff_replay_done_fn fn;
    void *ud;
};

/* ---- helpers --------------------------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#define ieq sdiff__replay_ieq
#define is_ows sdiff__replay_is_ows
#define is_token sdiff__replay_is_token
#define list_has sdiff__replay_list_has

/* curl's error text as one lowercase line, without a trailing newline or period. */
static void curl_detail(char *out, size_t outsz, const struct slot *s, CURLcode cc)
{
    const char *src = s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc);
    snprintf(out, outsz, "%s", src);
    size_t n = strlen(out);
    for (size_t i = 0; i < n; i++)
        if (out[i] == '\r' || out[i] == '\n')
            out[i] = ' ';
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '.'))
        out[--n] = '\0';
    /* "Recv failure" reads as "recv failure"; "OpenSSL/3.0" keeps its case */
    size_t w = 1;
    while (out[0] != '\0' && out[w] >= 'a' && out[w] <= 'z')
        w++;
    if (out[0] >= 'A' && out[0] <= 'Z' && (out[w] == ' ' || out[w] == '\0'))
        out[0] = (char)(out[0] + 32);
}

/* A one-line error message; long curl details are cut to fit errmsg. */
static void result_err(struct sdiff_replay_result *res, enum sdiff_replay_error code,
                       const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void result_err(struct sdiff_replay_result *res, enum sdiff_replay_error code,
                       const char *fmt, ...)
{
    res->error = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->errmsg, sizeof res->errmsg, fmt, ap);
    va_end(ap);
}

/* ---- options --------------------------------------------------------------------------- */

/*
 * Split a base URL into where to connect, the Host value and the path prefix. Query,
 * fragment and credentials are refused: none of them has a meaning for a replay target.
 */
static int parse_target(struct target *t, const char *url, struct sdiff_err *err)
{
    size_t skip;
    const char *scheme;
    if (strncasecmp(url, "http://", 7) == 0) {
        skip = 7;
        scheme = "http://";
    } else if (strncasecmp(url, "https://", 8) == 0) {
        skip = 8;
        scheme = "https://";
    } else {
        return sdiff_err_set(err, SDIFF_EINVAL, "replay",
                             "target \"%.100s\" is not an http:// or https:// URL", url);
    }
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return sdiff_err_set(err, SDIFF_EINVAL, "replay",
                                 "target \"%.100s\" has a space or control character", url);
    const char *auth = url + skip;
    size_t alen = strcspn(auth, "/?#");
    const char *rest = auth + alen;
    if (alen == 0)
        return sdiff_err_set(err, SDIFF_EINVAL, "replay", "target \"%.100s\" has no host", url);
    if (memchr(auth, '@', alen) != NULL)
        return sdiff_err_set(err, SDIFF_EINVAL, "replay",
                             "target \"%.100s\" has credentials, which are not supported", url);
    if (strpbrk(rest, "?#") != NULL)
        return sdiff_err_set(err, SDIFF_EINVAL, "replay",
                             "target \"%.100s\" has a query or fragment", url);
    size_t plen = strlen(rest);
    while (plen > 0 && rest[plen - 1] == '/')
        plen--;
    size_t slen = strlen(scheme);
    t->url = sdiff_malloc(slen + alen + 2);
    t->authority = sdiff_strndup(auth, alen);
    t->prefix = sdiff_strndup(rest, plen);
    if (t->url == NULL || t->authority == NULL || t->prefix == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "replay", "out of memory");
    memcpy(t->url, scheme, slen);
    memcpy(t->url + slen, auth, alen);
    memcpy(t->url + slen + alen, "/", 2);
    t->prefix_len = plen;
    t->cu = curl_url();
    if (t->cu == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "replay", "out of memory");
    CURLUcode uc = curl_url_set(t->cu, CURLUPART_URL, t->url, 0);
    if (uc != CURLUE_OK)
        return sdiff_err_set(err, SDIFF_EINVAL, "replay", "target \"%.100s\": %s", url,
                             uc == CURLUE_OUT_OF_MEMORY ? "out of memory" : "not a valid URL");
    return SDIFF_OK;
}

/* ---- preparing a request --------------------------------------------------------------- */

/*
 * The header list is built in two passes over the same code: the first (nodes == NULL)
 * measures, the second writes into the job's allocation.
 */
struct plan {
    struct curl_slist *nodes;
    char *p;
    size_t n;
    size_t bytes;
    int seen_host, seen_accept, seen_expect, seen_ctype;
};

enum line_kind { LINE_SEND, LINE_SUPPRESS };

/*
 * One CURLOPT_HTTPHEADER entry. curl's syntax: "Name: value" sends the field, "Name;"
 * sends it with an empty value, "Name:" removes a field curl would add by itself.
 */
static void plan_line(struct plan *pl, const char *name, size_t nlen, const char *val, size_t vlen,
                      enum line_kind kind)
{
    size_t len = nlen + (kind == LINE_SUPPRESS || vlen == 0 ? 1 : 2 + vlen) + 1;
    if (pl->nodes != NULL) {
        char *d = pl->p;
        memcpy(d, name, nlen);
        if (kind == LINE_SUPPRESS) {
            d[nlen] = ':';
        } else if (vlen == 0) {
            d[nlen] = ';';
        } else {
            d[nlen] = ':';
            d[nlen + 1] = ' ';
            memcpy(d + nlen + 2, val, vlen);
        }
        d[len - 1] = '\0';
        pl->nodes[pl->n].data = d;
        pl->nodes[pl->n].next = NULL;
        if (pl->n > 0)
            pl->nodes[pl->n - 1].next = &pl->nodes[pl->n];
        pl->p += len;
    }
    pl->n++;
    pl->bytes += len;
    if (kind == LINE_SEND) {
        pl->seen_host |= ieq(name, nlen, "Host", 4);
        pl->seen_accept |= ieq(name, nlen, "Accept", 6);
        pl->seen_expect |= ieq(name, nlen, "Expect", 6);
        pl->seen_ctype |= ieq(name, nlen, "Content-Type", 12);
    }
}

static void plan_field(void *ud, const char *name, size_t nlen, const char *value, size_t vlen)
{
    plan_line(ud, name, nlen, value, vlen, LINE_SEND);
}

/*
 * The fields to send (the rewrite layer decides which), then what curl must not add. host_first
 * puts "Host:" first: curl then adds no Host of its own and passes ours through where it
 * stands, in its case (a custom "Host: x" would otherwise be moved to the top and respelled
 * "Host").
 */
static void plan_headers(const struct sdiff_replay *r, const struct sdiff_msg *req,
                         const struct target *t, const char *clen, int host_first, struct plan *pl)
{
    if (host_first)
        plan_line(pl, "Host", 4, NULL, 0, LINE_SUPPRESS);
    sdiff__rewrite_fields(&r->rw, req, t->authority, clen, plan_field, pl);
    /* what curl would add by itself and the client did not send */
    if (!pl->seen_accept)
        plan_line(pl, "Accept", 6, NULL, 0, LINE_SUPPRESS);
    if (!pl->seen_expect)
        plan_line(pl, "Expect", 6, NULL, 0, LINE_SUPPRESS);
    if (clen != NULL && !pl->seen_ctype)
        plan_line(pl, "Content-Type", 12, NULL, 0, LINE_SUPPRESS);
}

/* A job that only carries its result: bad traffic is reported through the callback. */
static int failed_job(size_t target, void *tag, const char *why, struct job **out,
                      struct sdiff_err *err)
{
    struct job *job = sdiff_calloc(1, sizeof *job);
    struct sdiff_replay_result *res = sdiff_calloc(1, sizeof *res);
    if (job == NULL || res == NULL) {
        sdiff_free(job);
        sdiff_free(res);
        return sdiff_err_set(err, SDIFF_ENOMEM, "replay", "out of memory");
    }
    res->target = target;
    result_err(res, SDIFF_REPLAY_OTHER, "%s", why);
    job->res = res;
    job->tag = tag;
    job->target = target;
    *out = job;
    return SDIFF_OK;
}

static int build_job(const struct sdiff_replay *r, const struct sdiff_exchange *ex, size_t target,
                     void *tag, struct job **out, struct sdiff_err *err)
{
    const struct sdiff_msg *req = &ex->req;
    const struct target *t = &r->targets[target];
    char why[160];
    if (sdiff__rewrite_unsendable(req, why, sizeof why))
        return failed_job(target, tag, why, out, err);
    const char *path = NULL;
    size_t path_len = 0, mlen = strlen(req->method);
    int prefixed = 0, slash = 0;
    (void)sdiff__rewrite_target(req->target, &path, &path_len, &prefixed, &slash);
    int is_head = strcmp(req->method, "HEAD") == 0;
    /* a request that framed a body (even an empty one) gets one, whatever its method */
    int has_body = sdiff__rewrite_has_body(req);
    char clen[24]; /* the body length in decimal, without snprintf's cost per request */
    char *d = clen + sizeof clen - 1;
    *d = '\0';
    size_t v = req->body_len;
    do {
        *--d = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    const char *clen_p = has_body ? d : NULL;

    struct plan pl = {0};
    plan_headers(r, req, t, clen_p, 0, &pl);
    int host_first = pl.seen_host;
    size_t nlines = pl.n + (host_first ? 1 : 0);
    size_t line_bytes = pl.bytes + (host_first ? 6 : 0);
    size_t pre = prefixed ? t->prefix_len : 0;
    size_t fixed = sizeof(struct job) + nlines * sizeof(struct curl_slist) + line_bytes + pre +
                   (size_t)slash + path_len + 1 + mlen + 1;
    size_t blen = has_body ? req->body_len : 0;
    if (blen > SIZE_MAX - fixed)
        return sdiff_err_set(err, SDIFF_ELIMIT, "replay", "request body too large");
    struct job *job = sdiff_malloc(fixed + blen);
    struct sdiff_replay_result *res = sdiff_calloc(1, sizeof *res);
    if (job == NULL || res == NULL) {
        sdiff_free(job);
        sdiff_free(res);
        return sdiff_err_set(err, SDIFF_ENOMEM, "replay", "out of memory");
    }
    memset(job, 0, sizeof *job);
    res->target = target;
    job->res = res;
    job->tag = tag;
    job->target = target;
    job->has_body = has_body;

    struct plan wr = {0};
    wr.nodes = (struct curl_slist *)(job + 1);
    wr.p = (char *)(wr.nodes + nlines);
    plan_headers(r, req, t, clen_p, host_first, &wr);
    assert(wr.n == nlines && wr.bytes == line_bytes);
    job->headers = nlines ? wr.nodes : NULL;

    char *s = wr.p;
    job->rtarget = s;
    if (pre)
        memcpy(s, t->prefix, pre);
    s += pre;
    if (slash)
        *s++ = '/';
    memcpy(s, path, path_len);
    s[path_len] = '\0';
    s += path_len + 1;
    memcpy(s, req->method, mlen + 1);
    job->method = is_head ? NULL : s;
    s += mlen + 1;
    if (blen) {
        memcpy(s, req->body, blen);
        job->body = (const uint8_t *)s;
    }
    job->body_len = blen;
    *out = job;
    return SDIFF_OK;
}

static void job_free(struct job *job)
{
    if (job == NULL)
        return;
    sdiff_replay_result_free(job->res);
    sdiff_free(job);
}

/* ---- the response ---------------------------------------------------------------------- */

/* "HTTP/1.1 200 OK": starts a new head (after a 1xx, the previous one is forgotten). */
static int begin_head(struct slot *s, const char *p, size_t len)
{
    s->status = 0;
    s->version_minor = 1;
    s->head_done = 0;
    s->content_length = REPLAY_NO_LENGTH;
    sdiff_buf_reset(&s->head);
    while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
        len--;
    size_t i = 5;
    if (i + 2 < len && p[i] >= '0' && p[i] <= '9' && p[i + 1] == '.' && p[i + 2] >= '0' &&
        p[i + 2] <= '9')
        s->version_minor = p[i + 2] - '0';
    while (i < len && p[i] != ' ')
        i++;
    while (i < len && p[i] == ' ')
        i++;
    int status = 0;
    size_t digits = 0;
    while (i < len && p[i] >= '0' && p[i] <= '9' && digits < 3) {
        status = status * 10 + (p[i++] - '0');
        digits++;
    }
    s->status = status;
    if (i < len && p[i] == ' ')
        i++;
    int rc = sdiff_buf_append(&s->head, p + i, len - i);
    if (rc >= 0)
        rc = sdiff_buf_append(&s->head, "", 1);
    return rc;
}

/* Each line of each head (and the trailers), one call per line, CRLF included. */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct slot *s = ud;
    size_t len = size * n;
    int rc = SDIFF_OK;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        rc = begin_head(s, p, len);
    } else if (s->head_done || s->status == 0) {
        return len; /* trailers: not part of the head */
    } else if (len <= 2 && (p[0] == '\n' || p[0] == '\r')) {
        s->head_done = s->status >= 200; /* after a 1xx another head follows */
    } else if (is_ows(p[0])) {
        /* obs-fold (RFC 9112 5.2): joins the previous field's value with one space */
        struct sdiff_buf *h = &s->head;
        while (h->len > 0 && (h->data[h->len - 1] == '\n' || h->data[h->len - 1] == '\r'))
            h->len--;
        size_t i = 0;
        while (i < len && is_ows(p[i]))
            i++;
        rc = sdiff_buf_append(h, " ", 1);
        if (rc >= 0)
            rc = sdiff_buf_append(h, p + i, len - i);
    } else {
        rc = sdiff_buf_append(&s->head, p, len);
        if (len > 15 && (p[0] | 0x20) == 'c' && strncasecmp(p, "Content-Length:", 15) == 0) {
            uint64_t v = 0;
            size_t i = 15, d = 0;
            while (i < len && is_ows(p[i]))
                i++;
            while (i < len && p[i] >= '0' && p[i] <= '9' && d < 19) {
                v = v * 10 + (uint64_t)(p[i++] - '0');
                d++;
            }
            if (d > 0)
                s->content_length = v;
        }
    }
    if (rc == SDIFF_ELIMIT) {
        s->head_over = 1;
        return 0;
    }
    if (rc < 0) {
        s->nomem = 1;
        return 0;
    }
    return len;
}

/* Body bytes after transfer decoding. Past max_body: keep what fits and stop the transfer. */
static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct slot *s = ud;
    size_t len = size * n;
    s->body_seen += len;
    if (s->body.data == NULL && s->content_length != REPLAY_NO_LENGTH &&
        s->content_length <= s->body.max)
        (void)sdiff_buf_reserve(&s->body, (size_t)s->content_length);
    size_t room = s->body.max - s->body.len;
    size_t take = len < room ? len : room;
    if (take > 0 && sdiff_buf_append(&s->body, p, take) < 0) {
        s->nomem = 1;
        return 0;
    }
    if (take < len) {
        s->too_large = 1;
        return 0;
    }
    return len;
}

/* The final head's fields, in wire order; they point into s->head (split in place). */
static int head_fields(struct slot *s, size_t *n_out)
{
    sdiff_buf_reset(&s->fields);
    *n_out = 0;
    if (s->head.len == 0)
        return SDIFF_OK;
    char *base = (char *)s->head.data;
    size_t pos = strlen(base) + 1; /* the reason phrase */
    while (pos < s->head.len) {
        char *line = base + pos;
        char *nl = memchr(line, '\n', s->head.len - pos);
        char *end = nl ? nl : base + s->head.len;
        pos = (size_t)(end - base) + 1;
        if (end > line && end[-1] == '\r')
            end--;
        *end = '\0';
        char *colon = memchr(line, ':', (size_t)(end - line));
        if (colon == NULL)
            continue;
        *colon = '\0';
        char *v = colon + 1;
        while (is_ows(*v))
            v++;
        char *ve = end;
        while (ve > v && is_ows(ve[-1]))
            *--ve = '\0';
        struct sdiff_hfield f = {line, v, (size_t)(colon - line), (size_t)(ve - v)};
        int rc = sdiff_buf_append(&s->fields, &f, sizeof f);
        if (rc < 0)
            return rc;
        (*n_out)++;
    }
    return SDIFF_OK;
}

/* Copy what was received into res->resp; SDIFF_ENOMEM leaves a response without headers. */
static int fill_response(struct slot *s, struct sdiff_replay_result *res)
{
    struct sdiff_msg *m = &res->resp;
    if (s->status == 0)
        return SDIFF_OK;
    m->present = 1;
    m->status = s->status;
    m->version_minor = s->version_minor;
    m->body_seen = s->body_seen;
    m->complete = res->error == SDIFF_REPLAY_OK;
    size_t n;
    int rc = head_fields(s, &n);
    if (rc >= 0) {
        const struct sdiff_hfield *f = (const struct sdiff_hfield *)s->fields.data;
        for (size_t i = 0; i < n; i++)
            if (ieq(f[i].name, f[i].name_len, "Transfer-Encoding", 17) &&
                list_has(f[i].value, f[i].value_len, "chunked", 7))
                m->chunked = 1;
        m->reason = (char *)s->head.data;
        rc = sdiff_msg_set_headers(m, f, n);
    }
    if (rc < 0) {
        m->reason = NULL; /* it pointed into the slot */
        return SDIFF_ENOMEM;
    }
    m->method = NULL;
    m->target = NULL;
    if (s->body.len > 0)
        m->body = sdiff_buf_steal(&s->body, &m->body_len);
    return SDIFF_OK;
}

static void classify(const struct sdiff_replay *r, const struct slot *s, CURLcode cc,
                     struct sdiff_replay_result *res)
{
    if (cc == CURLE_OK && !s->too_large && !s->head_over && !s->nomem) {
        res->error = SDIFF_REPLAY_OK;
        return;
    }
    const char *who = r->targets[res->target].authority;
    char detail[CURL_ERROR_SIZE];
    curl_detail(detail, sizeof detail, s, cc);
    long oserr = 0;
    curl_off_t connect_us = 0;
    curl_easy_getinfo(s->easy, CURLINFO_OS_ERRNO, &oserr);
    curl_easy_getinfo(s->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
    if (s->too_large) {
        result_err(res, SDIFF_REPLAY_TOO_LARGE,
                   "response body from %s over %zu bytes (kept up to the limit)", who,
                   r->max_body);
        return;
    }
    if (s->head_over) {
        result_err(res, SDIFF_REPLAY_PROTOCOL, "response head from %s over %u bytes", who,
                   REPLAY_MAX_HEAD);
        return;
    }
    if (s->nomem) {
        result_err(res, SDIFF_REPLAY_OTHER, "out of memory storing the response from %s", who);
        return;
    }
    switch (cc) {
    case CURLE_OK: res->error = SDIFF_REPLAY_OK; break;
    case CURLE_COULDNT_CONNECT:
        if (oserr == ECONNREFUSED)
            result_err(res, SDIFF_REPLAY_REFUSED, "connection refused by %s", who);
        else
            result_err(res, SDIFF_REPLAY_REFUSED, "could not connect to %s: %s", who, detail);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        if (connect_us == 0)
            result_err(res, SDIFF_REPLAY_TIMEOUT, "could not connect to %s in time: %s", who,
                       detail);
        else
            result_err(res, SDIFF_REPLAY_TIMEOUT, "no complete response from %s within %ld ms", who,
                       r->timeout_ms);
        break;
    case CURLE_GOT_NOTHING:
        result_err(res, SDIFF_REPLAY_RESET, "%s closed the connection without answering", who);
        break;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        if (oserr == ECONNRESET)
            result_err(res, SDIFF_REPLAY_RESET, "connection reset by %s %s", who,
                       s->status ? "during the response" : "before the response");
        else
            result_err(res, SDIFF_REPLAY_RESET, "connection to %s failed: %s", who, detail);
        break;
    case CURLE_PARTIAL_FILE:
        result_err(res, SDIFF_REPLAY_RESET,
                   "%s closed the connection before the response ended: %s", who, detail);
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        result_err(res, SDIFF_REPLAY_RESOLVE, "could not resolve the host of %s", who);
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
        result_err(res, SDIFF_REPLAY_TLS, "tls with %s failed: %s", who, detail);
        break;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
        result_err(res, SDIFF_REPLAY_PROTOCOL, "%s did not answer in HTTP/1.x: %s", who, detail);
        break;
    default: result_err(res, SDIFF_REPLAY_OTHER, "replay to %s failed: %s", who, detail); break;
    }
}

/* ---- transfers ------------------------------------------------------------------------- */

static void slot_reset(struct slot *s)
{
    sdiff_buf_reset(&s->head);
    sdiff_buf_reset(&s->body);
    s->status = 0;
    s->version_minor = 1;
    s->head_done = 0;
    s->too_large = 0;
    s->head_over = 0;
    s->nomem = 0;
    s->body_seen = 0;
    s->content_length = REPLAY_NO_LENGTH;
    s->errbuf[0] = '\0';
}

static void push_failed(struct sdiff_replay *r, struct job *job)
{
    job->next = NULL;
    if (r->ftail)
        r->ftail->next = job;
    else
        r->fhead = job;
    r->ftail = job;
    r->nfailed++;
}

/* Options that hold for every request a handle carries, set once when it is created. */
static int configure_handle(struct sdiff_replay *r, struct slot *s)
{
    CURL *e = s->easy;
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)s) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) != CURLE_OK;
    /* never a proxy from the environment (and no getenv per transfer to find out) */
    bad |= curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOPROXY, "*") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->timeout_ms) != CURLE_OK;
    if (r->insecure) {
        bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK;
    }
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)s) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)s) != CURLE_OK;
    return bad ? SDIFF_ENOMEM : SDIFF_OK;
}

/*
 * Options that vary with the request. Each is set for every request, the method ones in an
 * order that clears what the previous request set (HTTPGET resets the method, NOBODY and
 * the upload flag), so the handle needs no curl_easy_reset: that would free and rebuild
 * its whole option set each time, about a fifth of curl's CPU per request on loopback.
 */
static int configure_request(struct sdiff_replay *r, struct slot *s, const struct job *job)
{
    CURL *e = s->easy;
    int bad = 0;
    if (s->url_target != job->target + 1) {
        bad |= curl_easy_setopt(e, CURLOPT_CURLU, r->targets[job->target].cu) != CURLE_OK;
        s->url_target = bad ? 0 : job->target + 1;
    }
    bad |= curl_easy_setopt(e, CURLOPT_REQUEST_TARGET, job->rtarget) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, job->headers) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK;
    const char *custom = NULL;
    if (job->method != NULL && (job->has_body || strcmp(job->method, "GET") != 0))
        custom = job->method;
    bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, custom) != CURLE_OK;
    if (job->method == NULL)
        bad |= curl_easy_setopt(e, CURLOPT_NOBODY, 1L) != CURLE_OK;
    if (job->has_body) {
        bad |=
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)job->body_len) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, job->body ? (const char *)job->body : "") !=
               CURLE_OK;
    }
    return bad ? SDIFF_ENOMEM : SDIFF_OK;
}

/*
 * The job's header list as fields for a transport other than curl. The list is curl's
 * (CURLOPT_HTTPHEADER syntax): "Name: value" is sent, "Name;" is sent empty, "Name:" only
 * stops curl from adding a field of its own and is not a field. The fields point into the
 * job, so they live as long as it.
 */
static int job_fields(const struct job *job, struct sdiff_buf *out, size_t *n_out)
{
    sdiff_buf_reset(out);
    *n_out = 0;
    for (const struct curl_slist *l = job->headers; l != NULL; l = l->next) {
        const char *line = l->data;
        size_t nlen = strcspn(line, ":;");
        struct sdiff_hfield f = {line, "", nlen, 0};
        if (line[nlen] == ':') {
            if (line[nlen + 1] == '\0')
                continue;
            f.value = line + nlen + 2;
            f.value_len = strlen(f.value);
        }
        int rc = sdiff_buf_append(out, &f, sizeof f);
        if (rc < 0)
            return rc;
        (*n_out)++;
    }
    return SDIFF_OK;
}

static void ops_done(void *ctx, void *ud);

/* Hand the job to r->ops; on failure it is reported by the next run, as a curl one. */
static void start_ops(struct sdiff_replay *r, struct slot *s, struct job *job)
{
    struct sdiff_err err = {0};
    size_t n = 0;
    int rc = job_fields(job, &s->wfields, &n);
    if (rc >= 0) {
        struct sdiff__wire_req w = {
            .target = job->target,
            .method = job->method ? job->method : "HEAD",
            .rtarget = job->rtarget,
            .fields = (const struct sdiff_hfield *)s->wfields.data,
            .nfields = n,
            .body = job->body,
            .body_len = job->body_len,
            .has_body = job->has_body,
            .is_head = job->method == NULL,
            .res = job->res,
            .ctx = s,
        };
        s->job = job; /* done may come from inside send */
        r->active++;
        r->active_ops++;
        rc = r->ops->send(r->tp, &w, &err);
        if (rc >= 0)
            return;
        s->job = NULL;
        r->active--;
        r->active_ops--;
    }
    s->next_free = r->free_slots;
    r->free_slots = s;
    result_err(job->res, SDIFF_REPLAY_OTHER, "could not start the request: %s",
               err.msg[0] ? err.msg : "out of memory");
    push_failed(r, job);
}

static void start(struct sdiff_replay *r, struct slot *s, struct job *job)
{
    const char *why = NULL;
    if (r->targets[job->target].ops) {
        start_ops(r, s, job);
        return;
    }
    slot_reset(s);
    if (s->easy == NULL) {
        s->easy = curl_easy_init();
        s->url_target = 0;
        if (s->easy != NULL && configure_handle(r, s) < 0) {
            curl_easy_cleanup(s->easy);
            s->easy = NULL;
        }
    }
    if (s->easy == NULL)
        why = "could not create a curl handle (out of memory)";
    else if (configure_request(r, s, job) < 0)
        why = "could not set up the transfer (out of memory)";
    else if (curl_multi_add_handle(r->multi, s->easy) != CURLM_OK)
        why = "could not add the transfer to the event loop";
    if (why != NULL) {
        s->next_free = r->free_slots;
        r->free_slots = s;
        result_err(job->res, SDIFF_REPLAY_OTHER, "%s", why);
        push_failed(r, job);
        return;
    }
    s->job = job;
    r->active++;
}

/* Take one token if the rate allows a start now. */
static int take_token(struct sdiff_replay *r, double now)
{
    if (r->rate <= 0)
        return 1;
    r->tokens += (now - r->refill_at) * r->rate / 1000.0;
    r->refill_at = now;
    if (r->tokens > r->burst)
        r->tokens = r->burst;
    if (r->tokens < 1.0)
        return 0;
    r->tokens -= 1.0;
    return 1;
}

/* Start queued requests while there are free slots and tokens. */
static void pump(struct sdiff_replay *r)
{
    if (r->qhead == NULL || r->free_slots == NULL)
        return;
    double now = r->rate > 0 ? now_ms() : 0;
    while (r->qhead != NULL && r->free_slots != NULL && take_token(r, now)) {
        struct job *job = r->qhead;
        r->qhead = job->next;
        if (r->qhead == NULL)
            r->qtail = NULL;
        r->nqueued--;
        job->next = NULL;
        struct slot *s = r->free_slots;
        r->free_slots = s->next_free;
        start(r, s, job);
    }
}

static void release_and_deliver(struct sdiff_replay *r, struct slot *s);

static void finish(struct sdiff_replay *r, struct slot *s, CURLcode cc)
{
    struct sdiff_replay_result *res = s->job->res;
    /* from the first request byte to the last response byte, as the native client: the
       time before the transfer (connecting) is not the target's answer time */
    curl_off_t total_us = 0, pre_us = 0;
    curl_easy_getinfo(s->easy, CURLINFO_TOTAL_TIME_T, &total_us);
    curl_easy_getinfo(s->easy, CURLINFO_PRETRANSFER_TIME_T, &pre_us);
    res->latency_ms = (double)(total_us > pre_us ? total_us - pre_us : 0) / 1000.0;
    classify(r, s, cc, res);
    if (fill_response(s, res) < 0 && res->error == SDIFF_REPLAY_OK) {
        res->error = SDIFF_REPLAY_OTHER;
        snprintf(res->errmsg, sizeof res->errmsg, "out of memory storing the response");
    }
    curl_multi_remove_handle(r->multi, s->easy);
    release_and_deliver(r, s);
}

/* A request r->ops carried is over: its result is filled. */
static void ops_done(void *ctx, void *ud)
{
    struct sdiff_replay *r = ud;
    r->active_ops--;
    release_and_deliver(r, ctx);
}

/* The slot is free before the callback, which may submit more. */
static void release_and_deliver(struct sdiff_replay *r, struct slot *s)
{
    struct job *job = s->job;
    struct sdiff_replay_result *res = job->res;
    void *tag = job->tag;
    s->job = NULL;
    s->next_free = r->free_slots;
    r->free_slots = s;
    r->active--;
    job->res = NULL;
    job_free(job);
    r->delivered++;
    r->fn(tag, res, r->ud);
}

static void deliver_failed(struct sdiff_replay *r)
{
    while (r->fhead != NULL) {
        struct job *job = r->fhead;
        r->fhead = job->next;
        if (r->fhead == NULL)
            r->ftail = NULL;
        r->nfailed--;
        struct sdiff_replay_result *res = job->res;
        void *tag = job->tag;
        job->res = NULL;
        job_free(job);
        r->delivered++;
        r->fn(tag, res, r->ud);
    }
}

static void drain(struct sdiff_replay *r)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(r->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURLcode cc = m->data.result;
        char *priv = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        finish(r, (struct slot *)(void *)priv, cc); /* m is invalid from here */
    }
}

/* ---- API ------------------------------------------------------------------------------- */

/*
 * The transport for the targets curl does not carry: a scripted one when the options give
 * it (every target), else the native client for the http:// targets unless curl is asked
 * for. The transport sees every target's URL at its index; NULL for those it does not carry.
 */
static int open_ops(struct sdiff_replay *r, const struct sdiff_replay_opts *o,
                    const char *const *targets, struct sdiff_err *err)
{
    const struct sdiff_transport_ops *ops = o->transport_ops;
    if (ops == NULL && o->transport != SDIFF_REPLAY_TRANSPORT_CURL)
        ops = &sdiff__replay_native_ops;
    if (ops == NULL)
        return SDIFF_OK;
    const char **urls = sdiff_calloc(r->ntargets, sizeof *urls);
    if (urls == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "replay", "out of memory");
    size_t carried = 0;
    for (size_t i = 0; i < r->ntargets; i++) {
        int http = strncasecmp(targets[i], "http://", 7) == 0;
        r->targets[i].ops = o->transport_ops != NULL || http;
        if (r->targets[i].ops) {
            urls[i] = targets[i];
            carried++;
        }
    }
    int rc = SDIFF_OK;
    if (carried > 0) {
        struct sdiff__transport_cfg cfg = {
            .targets = urls,
            .ntargets = r->ntargets,
            .concurrency = r->concurrency,
            .connect_timeout_ms = r->connect_timeout_ms,
            .timeout_ms = r->timeout_ms,
            .max_body = r->max_body,
            .done = ops_done,
            .ud = r,
        };
        rc = ops->open(&r->tp, &cfg, err);
        if (rc >= 0)
            r->ops = ops;
    }
    sdiff_free((void *)urls);
    return rc;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int sdiff_replay_new(struct sdiff_replay **out, const struct sdiff_replay_opts *o,
                     const char *const *targets, size_t ntargets, sdiff_replay_done_fn fn, void *ud,
                     struct sdiff_err *err)
{
    if (SDIFF_NEVER(out == NULL || fn == NULL || (targets == NULL && ntargets > 0)))
        return SDIFF_EINVAL;
    *out = NULL;
    static const struct sdiff_replay_opts defaults = {0};
    if (o == NULL)
        o = &defaults;
    if (SDIFF_NEVER((o->nset > 0 && o->set_headers == NULL) ||
                    (o->ndrop > 0 && o->drop_headers == NULL)))
        return SDIFF_EINVAL;
    if (ntargets == 0)
        return sdiff_err_set(err, SDIFF_EINVAL, "replay", "no replay target");
    if (o->rate < 0 || o->connect_timeout_ms < 0 || o->timeout_ms < 0)
        return sdiff_err_set(err, SDIFF_EINVAL, "replay", "negative rate or timeout");
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return sdiff_err_set(err, SDIFF_ERR, "replay", "curl_global_init: %s",
                             curl_easy_strerror(curl_init_rc));

    int rc = SDIFF_ENOMEM;
    struct sdiff_replay *r = sdiff_calloc(1, sizeof *r);
    if (r == NULL)
        goto nomem;
    r->fn = fn;
    r->ud = ud;
    r->concurrency = o->concurrency ? o->concurrency : 16;
    r->rate = o->rate;
    r->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 2000;
    r->timeout_ms = o->timeout_ms ? o->timeout_ms : 10000;
    r->insecure = o->insecure;
    r->max_body = o->max_body ? o->max_body : 8u << 20;
    r->max_queue = o->max_queue ? o->max_queue : 4096;
    r->burst = r->rate / 100.0 < 1.0 ? 1.0 : r->rate / 100.0; /* 10 ms worth */
    r->tokens = r->burst;
    r->refill_at = now_ms();

    r->targets = sdiff_calloc(ntargets, sizeof *r->targets);
    if (r->targets == NULL)
        goto nomem;
    r->ntargets = ntargets;
    for (size_t i = 0; i < ntargets; i++) {
        if (SDIFF_NEVER(targets[i] == NULL)) {
            rc = SDIFF_EINVAL;
            goto fail;
        }
        if ((rc = parse_target(&r->targets[i], targets[i], err)) < 0)
            goto fail;
    }
    if ((rc = sdiff__rewrite_init(&r->rw, o, err)) < 0)
        goto fail;

    r->slots = sdiff_calloc(r->concurrency, sizeof *r->slots);
    if (r->slots == NULL)
        goto nomem;
    for (size_t i = r->concurrency; i-- > 0;) {
        struct slot *s = &r->slots[i];
        s->r = r;
        sdiff_buf_init(&s->head, REPLAY_MAX_HEAD);
        sdiff_buf_init(&s->fields, (REPLAY_MAX_HEAD / 2 + 1) * sizeof(struct sdiff_hfield));
        sdiff_buf_init(&s->body, r->max_body);
        sdiff_buf_init(&s->wfields, (REPLAY_MAX_HEAD / 2 + 1) * sizeof(struct sdiff_hfield));
        s->next_free = r->free_slots;
        r->free_slots = s;
    }
    r->multi = curl_multi_init();
    if (r->multi == NULL)
        goto nomem;
    long conc = r->concurrency > LONG_MAX ? LONG_MAX : (long)r->concurrency;
    curl_multi_setopt(r->multi, CURLMOPT_MAX_HOST_CONNECTIONS, conc);
    curl_multi_setopt(r->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conc);
    curl_multi_setopt(r->multi, CURLMOPT_MAXCONNECTS, conc);
    curl_multi_setopt(r->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
    if ((rc = open_ops(r, o, targets, err)) < 0)
        goto fail;
    *out = r;
    return SDIFF_OK;
nomem:
    rc = sdiff_err_set(err, SDIFF_ENOMEM, "replay", "out of memory");
fail:
    sdiff_replay_free(r);
    return rc;
}

void sdiff_replay_free(struct sdiff_replay *r)
{
    if (r == NULL)
        return;
    if (r->ops != NULL)
        r->ops->close(r->tp); /* no done callbacks: the jobs are freed with their slots */
    if (r->slots != NULL) {
        for (size_t i = 0; i < r->concurrency; i++) {
            struct slot *s = &r->slots[i];
            if (s->job != NULL) {
                if (!r->targets[s->job->target].ops)
                    curl_multi_remove_handle(r->multi, s->easy);
                job_free(s->job);
            }
            if (s->easy != NULL)
                curl_easy_cleanup(s->easy);
            sdiff_buf_dispose(&s->head);
            sdiff_buf_dispose(&s->fields);
            sdiff_buf_dispose(&s->body);
            sdiff_buf_dispose(&s->wfields);
        }
    }
    for (struct job *j = r->qhead, *next; j != NULL; j = next) {
        next = j->next;
        job_free(j);
    }
    for (struct job *j = r->fhead, *next; j != NULL; j = next) {
        next = j->next;
        job_free(j);
    }
    if (r->multi != NULL)
        curl_multi_cleanup(r->multi); /* closes the cached connections */
    sdiff_free(r->slots);
    for (size_t i = 0; i < r->ntargets; i++) {
        sdiff_free(r->targets[i].url);
        curl_url_cleanup(r->targets[i].cu);
        sdiff_free(r->targets[i].authority);
        sdiff_free(r->targets[i].prefix);
    }
    sdiff_free(r->targets);
    sdiff__rewrite_dispose(&r->rw);
    sdiff_free(r);
}

int sdiff_replay_submit(struct sdiff_replay *r, const struct sdiff_exchange *ex, size_t target,
                        void *tag, struct sdiff_err *err)
{
    if (SDIFF_NEVER(r == NULL || ex == NULL))
        return SDIFF_EINVAL;
    if (target >= r->ntargets)
        return sdiff_err_set(err, SDIFF_EINVAL, "replay", "target %zu out of range (%zu targets)",
                             target, r->ntargets);
    pump(r); /* a slot or a token may have come free since the last call */
    if (r->nqueued >= r->max_queue)
        return sdiff_err_set(err, SDIFF_ELIMIT, "replay",
                             "replay queue full (%zu requests waiting)", r->nqueued);
    if (SDIFF_NEVER(ex->req.method == NULL || ex->req.target == NULL))
        return SDIFF_EINVAL;
    struct job *job = NULL;
    int rc = build_job(r, ex, target, tag, &job, err);
    if (rc < 0)
        return rc;
    if (job->res->error != SDIFF_REPLAY_OK) {
        push_failed(r, job); /* reported by the next sdiff_replay_run */
        return SDIFF_OK;
    }
    if (r->qtail)
        r->qtail->next = job;
    else
        r->qhead = job;
    r->qtail = job;
    r->nqueued++;
    pump(r);
    return SDIFF_OK;
}

int sdiff_replay_run(struct sdiff_replay *r, int timeout_ms, struct sdiff_err *err)
{
    if (SDIFF_NEVER(r == NULL))
        return SDIFF_EINVAL;
    if (r->in_run)
        return sdiff_err_set(err, SDIFF_EINVAL, "replay",
                             "sdiff_replay_run called from a done callback");
    r->in_run = 1;
    int rc = SDIFF_OK;
    double deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    size_t delivered = r->delivered;
    for (;;) {
        pump(r);
        deliver_failed(r);
        int running;
        CURLMcode mc = CURLM_OK;
        if (r->active > r->active_ops) /* else curl has nothing to do */
            mc = curl_multi_perform(r->multi, &running);
        if (mc != CURLM_OK) {
            rc = sdiff_err_set(err, SDIFF_ERR, "replay", "curl multi: %s", curl_multi_strerror(mc));
            break;
        }
        drain(r);
        if (r->ops != NULL && (rc = r->ops->poll(r->tp, 0, err)) < 0)
            break;
        pump(r);
        deliver_failed(r);
        /* back to the caller once something finished, so it can submit more */
        if (sdiff_replay_pending(r) == 0 || r->delivered != delivered)
            break;
        double left = deadline - now_ms();
        if (left <= 0)
            break;
        /* wake for the next token when only the rate holds requests back */
        double w = left;
        if (r->rate > 0 && r->qhead != NULL && r->free_slots != NULL) {
            double next = (1.0 - r->tokens) * 1000.0 / r->rate;
            if (next < w)
                w = next;
        }
        int wait = w >= INT_MAX ? INT_MAX : w < 1 ? 1 : (int)w;
        if (r->ops != NULL && r->active == r->active_ops) {
            /* nothing on curl: wait in the transport's own loop */
            if ((rc = r->ops->poll(r->tp, wait, err)) < 0)
                break;
            if (atomic_exchange(&r->woken, 0))
                break;
            if (r->delivered != delivered) {
                /* answers came: refill the freed slots and return, without another poll */
                pump(r);
                deliver_failed(r);
                break;
            }
            continue;
        }
        struct curl_waitfd extra = {.fd = r->ops ? r->ops->fd(r->tp) : -1,
                                    .events = CURL_WAIT_POLLIN};
        mc = curl_multi_poll(r->multi, &extra, extra.fd >= 0 ? 1 : 0, wait, NULL);
        if (mc != CURLM_OK) {
            rc = sdiff_err_set(err, SDIFF_ERR, "replay", "curl multi: %s", curl_multi_strerror(mc));
            break;
        }
        if (atomic_exchange(&r->woken, 0))
            break;
    }
    r->in_run = 0;
    if (rc < 0)
        return rc;
    size_t pending = sdiff_replay_pending(r);
    return pending > INT_MAX ? INT_MAX : (int)pending;
}

void sdiff_replay_wakeup(struct sdiff_replay *r)
{
    if (r == NULL)
        return;
    atomic_store(&r->woken, 1);
    curl_multi_wakeup(r->multi);
    if (r->ops != NULL)
        r->ops->wakeup(r->tp);
}

size_t sdiff_replay_pending(const struct sdiff_replay *r)
{
    if (SDIFF_NEVER(r == NULL))
        return 0;
    return r->active + r->nqueued + r->nfailed;
}

void sdiff_replay_result_free(struct sdiff_replay_result *res)
{
    if (res == NULL)
        return;
    sdiff_free(res->resp.headers);
    sdiff_free(res->resp.body);
    sdiff_free(res);
}

const char *sdiff_replay_error_str(enum sdiff_replay_error e)
{
    static const char *const names[SDIFF_REPLAY__COUNT] = {
        "ok", "refused", "reset", "timeout", "tls", "resolve", "too_large", "protocol", "other",
    };
    return (unsigned)e < SDIFF_REPLAY__COUNT ? names[e] : "unknown";
}

const char *sdiff_replay_marker(const struct sdiff_replay *r)
{
    return r->rw.marker_line;
}
