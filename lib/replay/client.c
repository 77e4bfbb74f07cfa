/*
 * client.c - the native HTTP/1.1 client for http:// replay targets.
 *
 * Non-blocking sockets on one edge-triggered epoll loop, one request at a time per
 * connection (no pipelining), idle connections kept per target and reused, at most
 * `concurrency` connections open in all. Requests arrive serialisable (the rewrite layer has
 * run); answers are framed by lib/http1, the parser that frames captured responses, so both
 * sides of a comparison go through one parser. Failures are classified with the same kinds
 * and messages as the libcurl transport (lib/replay/README.md, "Errors").
 */
#include "replay_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "shadowdiff/http1.h"
#include "pair/pair_int.h"

/* ---- types ----------------------------------------------------------------------------- */

#define CLIENT_MAX_HEAD (256u << 10) /* one response head, as the libcurl transport */
#define CLIENT_READ_CHUNK (64u << 10)
#define CLIENT_MAX_REQUEST (1u << 30) /* request line, fields and body */

struct ntarget {
    char *host;      /* without brackets */
    char *port;
    char *authority; /* "host[:port]" as written: the Host we send and name in errors */
    struct addrinfo *ai;
    struct nconn *idle; /* LIFO: the most recently used connection is the warmest */
};

enum conn_state { C_CONNECTING, C_SENDING, C_RECEIVING, C_IDLE };

struct nreq;

struct nconn {
    struct client *c;
    struct ntarget *t;
    uint64_t id; /* epoll's key: an event of a closed connection finds nothing */
    int fd;
    enum conn_state state;
    unsigned served;      /* responses completed on it: a reused connection may retry */
    struct sdiff_http1 *parser;
    struct nreq *req;     /* in flight; NULL when idle */
    struct nconn *next;   /* idle list of its target */
    struct nconn *prev;
    const struct addrinfo *addr; /* being connected to */
    int stray;            /* bytes came that belong to no request: never reuse */
};

/* One request in flight; as many as the concurrency, reused. */
struct nreq {
    struct nreq *next_free;
    struct nreq *next_done;
    struct sdiff_replay_result *res;
    void *ctx;
    size_t target;
    int is_head;
    struct nconn *conn;
    struct sdiff_buf out; /* the serialised request */
    size_t sent;
    double t_begin;       /* send was called: timeouts count from here */
    double t_write;       /* first request byte written */
    double t_end;         /* last response byte read */
    int retried;
    int got_bytes;        /* some response bytes came */
    int interim;          /* the head being read is 1xx: forget it */
    int final_head;       /* the final head arrived (res->resp is filled) */
    int keep_alive;
    int complete;
    int too_large, head_over, nomem;
    struct sdiff_buf body;
    uint64_t body_seen;
};

struct client {
    int ep;
    int evfd;
    struct ntarget *targets;
    size_t ntargets;
    size_t concurrency;
    long connect_timeout_ms;
    long timeout_ms;
    size_t max_body;
    struct nreq *reqs;
    struct nreq *free_reqs;
    struct nreq *done_head, *done_tail;
    size_t inflight;
    int in_poll;
    uint64_t next_id;
    size_t nconns;
    struct nconn **conns; /* every open connection, so close and timeouts can find them */
    struct sdiff_limits limits;
    uint8_t *rbuf;
    void (*done)(void *ctx, void *ud);
    void *ud;
};

/* ---- helpers --------------------------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int ieq(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && strncasecmp(a, b, alen) == 0;
}

static void req_err(struct nreq *q, enum sdiff_replay_error code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void req_err(struct nreq *q, enum sdiff_replay_error code, const char *fmt, ...)
{
    if (q->res->error != SDIFF_REPLAY_OK)
        return; /* the first cause wins */
    q->res->error = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->res->errmsg, sizeof q->res->errmsg, fmt, ap);
    va_end(ap);
}

/* ---- serialising ----------------------------------------------------------------------- */

static int has_field(const struct sdiff__wire_req *req, const char *name, size_t len)
{
    for (size_t i = 0; i < req->nfields; i++)
        if (ieq(req->fields[i].name, req->fields[i].name_len, name, len))
            return 1;
    return 0;
}

int sdiff__replay_serialize(struct sdiff_buf *out, const struct sdiff__wire_req *req,
                            const char *host_default)
{
    size_t mlen = strlen(req->method), tlen = strlen(req->rtarget);
    int add_host = host_default != NULL && !has_field(req, "Host", 4);
    int add_clen = req->has_body && !has_field(req, "Content-Length", 14);
    /* measured first, so the request is one reservation */
    size_t need = mlen + 1 + tlen + 11 + 2 + 24 + 18;
    if (add_host)
        need += 8 + strlen(host_default);
    for (size_t i = 0; i < req->nfields; i++)
        need += req->fields[i].name_len + req->fields[i].value_len + 4;
    size_t blen = req->has_body ? req->body_len : 0;
    if (blen > SIZE_MAX - need)
        return SDIFF_ELIMIT;
    int rc = sdiff_buf_reserve(out, need + blen);
    if (rc < 0)
        return rc;
    /* the reservation holds everything below, so no append can fail */
    (void)sdiff_buf_append(out, req->method, mlen);
    (void)sdiff_buf_append(out, " ", 1);
    (void)sdiff_buf_append(out, req->rtarget, tlen);
    (void)sdiff_buf_append(out, " HTTP/1.1\r\n", 11);
    if (add_host) {
        (void)sdiff_buf_append(out, "Host: ", 6);
        (void)sdiff_buf_puts(out, host_default);
        (void)sdiff_buf_append(out, "\r\n", 2);
    }
    for (size_t i = 0; i < req->nfields; i++) {
        const struct sdiff_hfield *f = &req->fields[i];
        (void)sdiff_buf_append(out, f->name, f->name_len);
        if (f->value_len > 0) {
            (void)sdiff_buf_append(out, ": ", 2);
            (void)sdiff_buf_append(out, f->value, f->value_len);
        } else {
            (void)sdiff_buf_append(out, ":", 1);
        }
        (void)sdiff_buf_append(out, "\r\n", 2);
    }
    if (add_clen) {
        (void)sdiff_buf_append(out, "Content-Length: ", 16);
        (void)sdiff_buf_put_u64(out, (uint64_t)blen);
        (void)sdiff_buf_append(out, "\r\n", 2);
    }
    (void)sdiff_buf_append(out, "\r\n", 2);
    if (blen > 0)
        (void)sdiff_buf_append(out, req->body, blen);
    return SDIFF_OK;
}

/* ---- targets --------------------------------------------------------------------------- */

static int parse_target(struct ntarget *t, const char *url, struct sdiff_err *err)
{
    if (strncasecmp(url, "http://", 7) != 0)
        return sdiff_err_set(err, SDIFF_EINVAL, "replay",
                             "target \"%.100s\" is not an http:// URL", url);
    const char *auth = url + 7;
    size_t alen = strcspn(auth, "/?#");
    const char *host = auth, *port = NULL;
    size_t hlen = alen, plen = 0;
    if (alen > 0 && auth[0] == '[') {
        const char *rb = memchr(auth, ']', alen);
        if (rb == NULL)
            return sdiff_err_set(err, SDIFF_EINVAL, "replay", "target \"%.100s\" has no host",
                                 url);
        host = auth + 1;
        hlen = (size_t)(rb - host);
        if (rb + 1 < auth + alen && rb[1] == ':') {
            port = rb + 2;
            plen = (size_t)(auth + alen - port);
        }
    } else {
        const char *colon = memchr(auth, ':', alen);
        if (colon != NULL) {
            hlen = (size_t)(colon - auth);
            port = colon + 1;
            plen = (size_t)(auth + alen - port);
        }
    }
    if (hlen == 0)
        return sdiff_err_set(err, SDIFF_EINVAL, "replay", "target \"%.100s\" has no host", url);
    t->host = sdiff_strndup(host, hlen);
    t->port = plen ? sdiff_strndup(port, plen) : sdiff_strdup("80");
    t->authority = sdiff_strndup(auth, alen);
    if (t->host == NULL || t->port == NULL || t->authority == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "replay", "out of memory");
    return SDIFF_OK;
}

/*
 * Addresses are looked up once per target, at its first connection, and kept; a failed
 * lookup is tried again by the next request. The lookup blocks the loop (getaddrinfo), which
 * is why it is cached: a literal address costs nothing.
 */
static int resolve(struct ntarget *t)
{
    if (t->ai != NULL)
        return 0;
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    return getaddrinfo(t->host, t->port, &hints, &t->ai) == 0 ? 0 : -1;
}

/* ---- connections ----------------------------------------------------------------------- */

static int on_head(const struct sdiff_http1_head *h, void *ud);
static int on_body(const uint8_t *p, size_t len, void *ud);
static int on_complete(void *ud);
static int on_begin(void *ud);

static void idle_remove(struct nconn *k)
{
    if (k->prev)
        k->prev->next = k->next;
    else
        k->t->idle = k->next;
    if (k->next)
        k->next->prev = k->prev;
    k->next = k->prev = NULL;
}

static void conn_close(struct nconn *k)
{
    struct client *c = k->c;
    if (k->state == C_IDLE)
        idle_remove(k);
    if (k->fd >= 0)
        close(k->fd); /* also leaves the epoll set */
    sdiff_http1_free(k->parser);
    for (size_t i = 0; i < c->nconns; i++) {
        if (c->conns[i] == k) {
            c->conns[i] = c->conns[--c->nconns];
            break;
        }
    }
    sdiff_free(k);
}

/* Start a non-blocking connect to k->addr; 0, or an errno. */
static int conn_connect(struct nconn *k)
{
    const struct addrinfo *a = k->addr;
    if (k->fd >= 0) {
        close(k->fd);
        k->fd = -1;
    }
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0)
        return errno;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = k->id};
    if (epoll_ctl(k->c->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int e = errno;
        close(fd);
        return e;
    }
    k->fd = fd;
    k->state = C_CONNECTING;
    if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS)
        return errno;
    return 0;
}

/* A new connection to t, counted in the cap (an idle one of any target is closed for it). */
static struct nconn *conn_new(struct client *c, struct ntarget *t)
{
    if (c->nconns >= c->concurrency) {
        for (size_t i = 0; i < c->ntargets; i++) {
            if (c->targets[i].idle != NULL) {
                conn_close(c->targets[i].idle);
                break;
            }
        }
    }
    if (c->nconns >= c->concurrency)
        return NULL; /* cannot happen while in-flight <= concurrency */
    struct nconn *k = sdiff_calloc(1, sizeof *k);
    if (k == NULL)
        return NULL;
    k->c = c;
    k->t = t;
    k->id = ++c->next_id;
    k->fd = -1;
    static const struct sdiff_http1_cb cb = {
        .on_begin = on_begin, .on_head = on_head, .on_body = on_body, .on_complete = on_complete};
    if (sdiff_http1_new(&k->parser, SDIFF_HTTP1_RESPONSE, &c->limits, &cb, k, NULL) < 0) {
        sdiff_free(k);
        return NULL;
    }
    c->conns[c->nconns++] = k;
    return k;
}

/* ---- finishing a request --------------------------------------------------------------- */

static void req_reset(struct nreq *q)
{
    sdiff_buf_reset(&q->out);
    sdiff_buf_reset(&q->body);
    q->sent = 0;
    q->t_write = q->t_end = 0;
    q->retried = q->got_bytes = q->interim = q->final_head = 0;
    q->keep_alive = q->complete = 0;
    q->too_large = q->head_over = q->nomem = 0;
    q->body_seen = 0;
    q->conn = NULL;
}

/*
 * The request is over (answered or failed). Its connection goes back to the pool only when
 * it is at a message boundary and the server keeps it open; the done callback runs later,
 * from poll, after every connection is in a consistent state.
 */
static void req_finish(struct nreq *q)
{
    struct nconn *k = q->conn;
    struct sdiff_replay_result *res = q->res;
    if (k != NULL) {
        k->req = NULL;
        if (res->error == SDIFF_REPLAY_OK && q->keep_alive && !k->stray) {
            k->served++;
            k->state = C_IDLE;
            k->next = k->t->idle;
            k->prev = NULL;
            if (k->t->idle)
                k->t->idle->prev = k;
            k->t->idle = k;
        } else {
            conn_close(k);
        }
        q->conn = NULL;
    }
    struct sdiff_msg *m = &res->resp;
    if (res->error == SDIFF_REPLAY_OK && q->complete) {
        m->complete = 1;
    }
    if (m->present) {
        m->body_seen = q->body_seen;
        if (q->body.len > 0)
            m->body = sdiff_buf_steal(&q->body, &m->body_len);
    }
    if (q->t_write > 0)
        res->latency_ms = (q->t_end > q->t_write ? q->t_end : now_ms()) - q->t_write;
}

static void client_wakeup(void *tp);

static void req_done(struct client *c, struct nreq *q)
{
    req_finish(q);
    if (!c->in_poll && c->done_head == NULL)
        client_wakeup(c); /* failed inside send: make the loop's descriptor readable */
    q->next_done = NULL;
    if (c->done_tail)
        c->done_tail->next_done = q;
    else
        c->done_head = q;
    c->done_tail = q;
}

static void deliver(struct client *c)
{
    while (c->done_head != NULL) {
        struct nreq *q = c->done_head;
        c->done_head = q->next_done;
        if (c->done_head == NULL)
            c->done_tail = NULL;
        void *ctx = q->ctx;
        q->res = NULL;
        q->ctx = NULL;
        q->next_free = c->free_reqs;
        c->free_reqs = q;
        c->inflight--;
        c->done(ctx, c->ud); /* may send: the request slot is already free */
    }
}

/* ---- the response (lib/http1 callbacks) ------------------------------------------------ */

static int on_begin(void *ud)
{
    struct nconn *k = ud;
    if (k->req == NULL || k->req->complete)
        k->stray = 1; /* an answer nobody asked for: the connection is out of step */
    return SDIFF_OK;
}

static int on_head(const struct sdiff_http1_head *h, void *ud)
{
    struct nconn *k = ud;
    struct nreq *q = k->req;
    if (q == NULL)
        return SDIFF_EPARSE;
    if (q->complete)
        return SDIFF_HTTP1_SKIP_BODY; /* a stray answer after ours: not recorded */
    /* 1xx (but 101) is interim: another head follows, and this one is forgotten */
    q->interim = h->status >= 100 && h->status < 200 && h->status != 101;
    if (q->interim)
        return SDIFF_OK;
    struct sdiff_hfield stack[64];
    struct sdiff_hfield *f = stack;
    if (h->nheaders > 64) {
        f = sdiff_malloc(h->nheaders * sizeof *f);
        if (f == NULL) {
            q->nomem = 1;
            return SDIFF_ENOMEM;
        }
    }
    for (size_t i = 0; i < h->nheaders; i++) {
        f[i].name = (const char *)h->headers[i].name.p;
        f[i].name_len = h->headers[i].name.len;
        f[i].value = (const char *)h->headers[i].value.p;
        f[i].value_len = h->headers[i].value.len;
    }
    struct sdiff_msg *m = &q->res->resp;
    int rc = sdiff__msg_build(m, "", 0, "", 0, (const char *)h->reason.p, h->reason.len, f,
                              h->nheaders);
    if (f != stack)
        sdiff_free(f);
    if (rc < 0) {
        q->nomem = 1;
        return rc;
    }
    m->method = NULL;
    m->target = NULL;
    m->present = 1;
    m->status = h->status;
    m->version_minor = h->version_minor;
    m->chunked = h->framing == SDIFF_HTTP1_CHUNKED;
    q->final_head = 1;
    q->keep_alive = h->keep_alive && !h->upgrade;
    if (h->framing == SDIFF_HTTP1_LENGTH && h->content_length <= q->body.max && !q->is_head)
        (void)sdiff_buf_reserve(&q->body, (size_t)h->content_length);
    return q->is_head ? SDIFF_HTTP1_SKIP_BODY : SDIFF_OK;
}

static int on_body(const uint8_t *p, size_t len, void *ud)
{
    struct nconn *k = ud;
    struct nreq *q = k->req;
    if (q == NULL)
        return SDIFF_EPARSE;
    if (q->complete)
        return SDIFF_OK;
    q->body_seen += len;
    size_t room = q->body.max - q->body.len;
    size_t take = len < room ? len : room;
    if (take > 0 && sdiff_buf_append(&q->body, p, take) < 0) {
        q->nomem = 1;
        return SDIFF_ENOMEM;
    }
    if (take < len) {
        q->too_large = 1;
        return SDIFF_ELIMIT;
    }
    return SDIFF_OK;
}

static int on_complete(void *ud)
{
    struct nconn *k = ud;
    struct nreq *q = k->req;
    if (q == NULL)
        return SDIFF_EPARSE;
    if (q->complete)
        return SDIFF_OK;
    if (q->interim) {
        q->interim = 0;
        return SDIFF_OK;
    }
    q->complete = 1;
    return SDIFF_OK;
}

/* ---- I/O ------------------------------------------------------------------------------- */

static void fail_reset(struct nconn *k, int e);
static void start_on(struct client *c, struct nreq *q);

/*
 * A connection that carried answers before may have been closed by the server while it sat
 * idle (keep-alive timeout): nothing of ours was answered, so the request is sent once more
 * on a new connection, as curl does.
 */
static int retry_fresh(struct nconn *k)
{
    struct nreq *q = k->req;
    if (q == NULL || k->served == 0 || q->got_bytes || q->retried)
        return 0;
    struct client *c = k->c;
    k->req = NULL;
    conn_close(k);
    q->conn = NULL;
    q->retried = 1;
    q->sent = 0;
    q->t_write = 0;
    start_on(c, q);
    return 1;
}

static void conn_write(struct nconn *k)
{
    struct nreq *q = k->req;
    while (q != NULL && q->sent < q->out.len) {
        ssize_t n = send(k->fd, q->out.data + q->sent, q->out.len - q->sent, MSG_NOSIGNAL);
        if (n > 0) {
            if (q->t_write == 0)
                q->t_write = now_ms();
            q->sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return; /* EPOLLOUT (edge-triggered) says when to go on */
        fail_reset(k, n < 0 ? errno : EPIPE);
        return;
    }
    if (q != NULL)
        k->state = C_RECEIVING;
}

/* The stream of k ended (read returned 0). */
static void conn_eof(struct nconn *k)
{
    struct client *c = k->c;
    struct nreq *q = k->req;
    if (q == NULL) {
        conn_close(k); /* an idle connection the server closed */
        return;
    }
    if (retry_fresh(k))
        return;
    const char *who = k->t->authority;
    struct sdiff_err e = {0};
    int rc = sdiff_http1_eof(k->parser, &e); /* completes a close-delimited body */
    if (q->complete) {
        q->keep_alive = 0;
        q->t_end = now_ms();
    } else if (!q->got_bytes) {
        req_err(q, SDIFF_REPLAY_RESET, "%s closed the connection without answering", who);
    } else {
        req_err(q, SDIFF_REPLAY_RESET, "%s closed the connection before the response ended: %s",
                who, rc < 0 && e.msg[0] ? e.msg : "transfer closed early");
    }
    req_done(c, q);
}

/* The connection failed with errno e while a request was on it. */
static void fail_reset(struct nconn *k, int e)
{
    struct nreq *q = k->req;
    if (q == NULL) {
        conn_close(k);
        return;
    }
    if ((e == ECONNRESET || e == EPIPE) && retry_fresh(k))
        return;
    const char *who = k->t->authority;
    if (e == ECONNRESET)
        req_err(q, SDIFF_REPLAY_RESET, "connection reset by %s %s", who,
                q->final_head ? "during the response" : "before the response");
    else
        req_err(q, SDIFF_REPLAY_RESET, "connection to %s failed: %s", who, strerror(e));
    req_done(k->c, q);
}

/* What the parser said, once a feed returned rc < 0. */
static void fail_parse(struct nconn *k, int rc, const struct sdiff_err *e)
{
    struct nreq *q = k->req;
    const char *who = k->t->authority;
    if (q->too_large)
        req_err(q, SDIFF_REPLAY_TOO_LARGE,
                "response body from %s over %zu bytes (kept up to the limit)", who,
                k->c->max_body);
    else if (q->nomem || rc == SDIFF_ENOMEM)
        req_err(q, SDIFF_REPLAY_OTHER, "out of memory storing the response from %s", who);
    else if (rc == SDIFF_ELIMIT && strstr(e->msg, "fields") == NULL)
        req_err(q, SDIFF_REPLAY_PROTOCOL, "response head from %s over %u bytes", who,
                CLIENT_MAX_HEAD);
    else
        req_err(q, SDIFF_REPLAY_PROTOCOL, "%s did not answer in HTTP/1.x: %s", who,
                e->msg[0] ? e->msg : "malformed response");
    req_done(k->c, q);
}

/* Whether the peer closed or sent bytes that wait unread on fd (nothing is consumed). */
static int peer_sent_more(int fd)
{
    uint8_t b;
    ssize_t n;
    do {
        n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

static void conn_read(struct nconn *k)
{
    struct client *c = k->c;
    for (;;) {
        ssize_t n = recv(k->fd, c->rbuf, CLIENT_READ_CHUNK, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            fail_reset(k, errno);
            return;
        }
        if (n == 0) {
            conn_eof(k);
            return;
        }
        struct nreq *q = k->req;
        if (q == NULL || q->complete) {
            conn_close(k); /* bytes nobody asked for */
            return;
        }
        q->got_bytes = 1;
        struct sdiff_err e = {0};
        int rc = sdiff_http1_feed(k->parser, c->rbuf, (size_t)n, &e);
        if (rc < 0 && q->complete) {
            k->stray = 1; /* our answer is whole; what follows it is not HTTP */
        } else if (rc < 0) {
            fail_parse(k, rc, &e);
            return;
        }
        if (q->complete) {
            q->t_end = now_ms();
            if (k->stray)
                q->keep_alive = 0;
            if (sdiff_http1_upgraded(k->parser))
                q->keep_alive = 0;
            /* The socket is edge-triggered and we stop reading at the end of the answer: a
             * FIN or bytes that already arrived behind it raise no new event, so a request
             * put on this connection later would wait for an answer that never comes. A
             * connection with anything pending behind its answer is not kept. */
            if (q->keep_alive && peer_sent_more(k->fd))
                q->keep_alive = 0;
            req_done(c, q);
            return;
        }
    }
}

static void connect_failed(struct nconn *k, int e)
{
    struct nreq *q = k->req;
    /* another address of the name may listen ("localhost" is ::1 and 127.0.0.1) */
    if (k->addr != NULL && k->addr->ai_next != NULL) {
        k->addr = k->addr->ai_next;
        int e2 = conn_connect(k);
        if (e2 == 0)
            return;
        connect_failed(k, e2);
        return;
    }
    const char *who = k->t->authority;
    if (e == ECONNREFUSED)
        req_err(q, SDIFF_REPLAY_REFUSED, "connection refused by %s", who);
    else
        req_err(q, SDIFF_REPLAY_REFUSED, "could not connect to %s: %s", who, strerror(e));
    req_done(k->c, q);
}

static void conn_event(struct nconn *k, uint32_t ev)
{
    if (k->state == C_CONNECTING) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        int e = 0;
        socklen_t elen = sizeof e;
        if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
            e = errno;
        if (e != 0) {
            connect_failed(k, e);
            return;
        }
        k->state = C_SENDING;
    }
    struct nreq *q = k->req;
    if (k->state == C_SENDING && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        conn_write(k);
        if (k->req != q)
            return; /* it failed and was retried or finished */
    }
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        conn_read(k);
}

/* Put q on an idle connection of its target, or a new one. */
static void start_on(struct client *c, struct nreq *q)
{
    struct ntarget *t = &c->targets[q->target];
    struct nconn *k = t->idle;
    if (k != NULL) {
        idle_remove(k);
        k->req = q;
        q->conn = k;
        k->state = C_SENDING;
        conn_write(k); /* no wait for the loop: the socket is writable */
        return;
    }
    if (resolve(t) < 0) {
        req_err(q, SDIFF_REPLAY_RESOLVE, "could not resolve the host of %s", t->authority);
        req_done(c, q);
        return;
    }
    k = conn_new(c, t);
    if (k == NULL) {
        req_err(q, SDIFF_REPLAY_OTHER, "out of memory opening a connection to %s",
                t->authority);
        req_done(c, q);
        return;
    }
    k->req = q;
    q->conn = k;
    k->addr = t->ai;
    int e = conn_connect(k);
    if (e != 0)
        connect_failed(k, e);
    /* else EPOLLOUT says when it is connected */
}

/* ---- timeouts -------------------------------------------------------------------------- */

/* Fail the requests past their deadline; the time to the next deadline, or -1. */
static double expire(struct client *c, double now)
{
    double next = -1;
    for (size_t i = 0; i < c->nconns;) {
        struct nconn *k = c->conns[i];
        struct nreq *q = k->req;
        if (q == NULL) {
            i++;
            continue;
        }
        double total = q->t_begin + (double)c->timeout_ms;
        double dl = total;
        int connecting = k->state == C_CONNECTING;
        if (connecting && q->t_begin + (double)c->connect_timeout_ms < dl)
            dl = q->t_begin + (double)c->connect_timeout_ms;
        if (now < dl) {
            if (next < 0 || dl - now < next)
                next = dl - now;
            i++;
            continue;
        }
        const char *who = k->t->authority;
        if (connecting)
            req_err(q, SDIFF_REPLAY_TIMEOUT,
                    "could not connect to %s in time: connection timed out after %.0f ms", who,
                    now - q->t_begin);
        else
            req_err(q, SDIFF_REPLAY_TIMEOUT, "no complete response from %s within %ld ms", who,
                    c->timeout_ms);
        req_done(c, q); /* closes k: conns[i] is now another connection */
    }
    return next;
}

/* ---- ops ------------------------------------------------------------------------------- */

static void client_close(void *tp)
{
    struct client *c = tp;
    if (c == NULL)
        return;
    while (c->nconns > 0) {
        struct nconn *k = c->conns[c->nconns - 1];
        k->req = NULL;
        if (k->state != C_IDLE)
            k->state = C_RECEIVING;
        conn_close(k);
    }
    if (c->reqs != NULL) {
        for (size_t i = 0; i < c->concurrency; i++) {
            sdiff_buf_dispose(&c->reqs[i].out);
            sdiff_buf_dispose(&c->reqs[i].body);
        }
    }
    for (size_t i = 0; i < c->ntargets; i++) {
        struct ntarget *t = &c->targets[i];
        sdiff_free(t->host);
        sdiff_free(t->port);
        sdiff_free(t->authority);
        if (t->ai)
            freeaddrinfo(t->ai);
    }
    if (c->ep >= 0)
        close(c->ep);
    if (c->evfd >= 0)
        close(c->evfd);
    sdiff_free(c->targets);
    sdiff_free(c->reqs);
    sdiff_free(c->conns);
    sdiff_free(c->rbuf);
    sdiff_free(c);
}

static int client_open(void **out, const struct sdiff__transport_cfg *cfg, struct sdiff_err *err)
{
    *out = NULL;
    int rc = SDIFF_ENOMEM;
    struct client *c = sdiff_calloc(1, sizeof *c);
    if (c == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "replay", "out of memory");
    c->ep = -1;
    c->evfd = -1;
    c->concurrency = cfg->concurrency ? cfg->concurrency : 16;
    c->connect_timeout_ms = cfg->connect_timeout_ms;
    c->timeout_ms = cfg->timeout_ms;
    c->max_body = cfg->max_body;
    c->done = cfg->done;
    c->ud = cfg->ud;
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    lim.max_header_bytes = CLIENT_MAX_HEAD;
    lim.max_header_count = CLIENT_MAX_HEAD / 4;
    c->limits = lim;
    c->targets = sdiff_calloc(cfg->ntargets, sizeof *c->targets);
    c->reqs = sdiff_calloc(c->concurrency, sizeof *c->reqs);
    c->conns = sdiff_calloc(c->concurrency, sizeof *c->conns);
    c->rbuf = sdiff_malloc(CLIENT_READ_CHUNK);
    if (c->targets == NULL || c->reqs == NULL || c->conns == NULL || c->rbuf == NULL)
        goto nomem;
    c->ntargets = cfg->ntargets;
    for (size_t i = 0; i < cfg->ntargets; i++)
        if ((rc = parse_target(&c->targets[i], cfg->targets[i], err)) < 0)
            goto fail;
    for (size_t i = c->concurrency; i-- > 0;) {
        struct nreq *q = &c->reqs[i];
        sdiff_buf_init(&q->out, CLIENT_MAX_REQUEST);
        sdiff_buf_init(&q->body, c->max_body);
        q->next_free = c->free_reqs;
        c->free_reqs = q;
    }
    c->ep = epoll_create1(EPOLL_CLOEXEC);
    c->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->ep < 0 || c->evfd < 0) {
        rc = sdiff_err_set(err, SDIFF_ERR, "replay", "event loop: %s", strerror(errno));
        goto fail;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
    if (epoll_ctl(c->ep, EPOLL_CTL_ADD, c->evfd, &ev) < 0) {
        rc = sdiff_err_set(err, SDIFF_ERR, "replay", "event loop: %s", strerror(errno));
        goto fail;
    }
    *out = c;
    return SDIFF_OK;
nomem:
    rc = sdiff_err_set(err, SDIFF_ENOMEM, "replay", "out of memory");
fail:
    client_close(c);
    return rc;
}

static int client_send(void *tp, const struct sdiff__wire_req *req, struct sdiff_err *err)
{
    struct client *c = tp;
    if (SDIFF_NEVER(req->target >= c->ntargets || req->res == NULL))
        return SDIFF_EINVAL;
    struct nreq *q = c->free_reqs;
    if (q == NULL)
        return sdiff_err_set(err, SDIFF_ELIMIT, "replay", "more than %zu requests in flight",
                             c->concurrency);
    req_reset(q);
    int rc = sdiff__replay_serialize(&q->out, req, c->targets[req->target].authority);
    if (rc < 0)
        return sdiff_err_set(err, rc, "replay", "%s",
                             rc == SDIFF_ENOMEM ? "out of memory" : "request too large");
    c->free_reqs = q->next_free;
    c->inflight++;
    q->res = req->res;
    q->ctx = req->ctx;
    q->target = req->target;
    q->is_head = req->is_head;
    q->t_begin = now_ms();
    start_on(c, q);
    return SDIFF_OK;
}

static int client_poll(void *tp, int timeout_ms, struct sdiff_err *err)
{
    struct client *c = tp;
    c->in_poll = 1;
    deliver(c); /* what finished inside send (refused at once, no address) */
    double now = now_ms();
    double next = expire(c, now);
    deliver(c);
    int wait = timeout_ms < 0 ? 0 : timeout_ms;
    if (c->done_head != NULL)
        wait = 0;
    if (next >= 0 && next < wait)
        wait = (int)next + 1;
    struct epoll_event evs[64];
    int n = epoll_wait(c->ep, evs, 64, wait);
    if (n < 0 && errno != EINTR) {
        c->in_poll = 0;
        return sdiff_err_set(err, SDIFF_ERR, "replay", "epoll_wait: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == 0) {
            uint64_t v;
            (void)!read(c->evfd, &v, sizeof v);
            continue;
        }
        /* a connection closed by an earlier event of this batch is not in conns any more */
        struct nconn *k = NULL;
        for (size_t j = 0; j < c->nconns && k == NULL; j++)
            if (c->conns[j]->id == evs[i].data.u64)
                k = c->conns[j];
        if (k != NULL)
            conn_event(k, evs[i].events);
    }
    if (n > 0)
        (void)expire(c, now_ms());
    deliver(c);
    c->in_poll = 0;
    return SDIFF_OK;
}

static int client_fd(void *tp)
{
    struct client *c = tp;
    return c->ep;
}

static void client_wakeup(void *tp)
{
    struct client *c = tp;
    uint64_t one = 1;
    (void)!write(c->evfd, &one, sizeof one);
}

const struct sdiff_transport_ops sdiff__replay_native_ops = {
    .name = "native",
    .open = client_open,
    .close = client_close,
    .send = client_send,
    .poll = client_poll,
    .fd = client_fd,
    .wakeup = client_wakeup,
};
