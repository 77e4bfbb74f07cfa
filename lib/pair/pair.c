/*
 * pair.c - from reassembled byte streams to paired HTTP exchanges.
 *
 * Per connection: a request parser, a response parser, and a FIFO of exchanges in request
 * order. A response pairs with the oldest request that has no response yet. The invariant
 * that keeps pairing honest: a response is never paired across lost framing. When either
 * stream loses its message boundaries, the requests that could have been answered inside
 * the loss are closed as gaps, and responses are dropped (counted as orphans) until the
 * client starts a new request. See lib/pair/README.md.
 */
#include "shadowdiff/pair.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "shadowdiff/http1.h"
#include "pair/pair_int.h"

enum conn_mode { MODE_UNDECIDED = 0, MODE_HTTP, MODE_SKIP };

struct qent {
    struct sdiff_exchange *ex;
    size_t mem;         /* charged for ex: the struct, its heads and bodies */
    size_t body_mem;    /* of which its bodies */
    uint8_t req_done;   /* request complete, or failed */
    uint8_t resp_begun;
    uint8_t resp_done;  /* final response complete, or failed */
};

struct conn {
    struct sdiff_pair *pair;
    struct sdiff_flow_info info;
    struct sdiff_http1 *reqp;
    struct sdiff_http1 *respp;
    enum conn_mode mode;
    uint8_t prefix[16];
    size_t prefix_len;
    struct qent *q;          /* ring of qcap entries, grown up to qmax (limits.max_pipeline) */
    size_t qhead, qlen, qcap, qmax;
    struct qent *cur_req;    /* request being parsed (always the newest entry) */
    struct qent *cur_resp;   /* exchange receiving the response; NULL: orphan or interim */
    int resp_interim;        /* the response being parsed is a 1xx */
    int resp_barrier;        /* drop responses until the next request begins */
    int resp_hunting;        /* the response parser is looking for a status line */
    int resp_unsynced;       /* midstream: the server's first bytes are not yet explained */
    int skip_responses;      /* responses owed to requests closed by the pipeline limit */
    int req_fin, resp_fin;
    int unacked[2];          /* the bytes being fed in that direction were never acked */
    int roles_open;          /* midstream, client guessed by port: wait for a start line */
    int swapped;             /* the reassembler's client is the server */
    uint8_t carry[2][16];    /* each direction's last bytes, for a start line cut in two */
    size_t carry_len[2];
    uint64_t unsettled[2];   /* bytes skipped per direction while the roles were open */
    int upgrade_h2c;
    char client[64], server[64]; /* formatted once per connection */
    uint32_t next_seq;
    uint64_t ts;
    struct sdiff_buf req_body, resp_body;
    int req_body_cut, resp_body_cut; /* BODY_CUT_LIMIT or BODY_CUT_BUDGET */
    /* Memory charged to the budget for this connection, all of it (c->mem) and the parts
     * that change hands: the parsers' buffers and the bodies being filled. */
    size_t mem, parsers_mem, req_body_mem, resp_body_mem;
    int shed;                /* the reassembler is shedding the flow: keep nothing more */
    /* Midstream pickup (see pickup_first_request): client bytes skipped before the first
     * request, and when; the response owed to the request they ended, and from when. */
    uint64_t skip_ts[2];     /* by the reassembler's direction, while the roles were open */
    uint64_t carried[2];     /* of unsettled[], the start line's first bytes fed after all */
    uint64_t req_skip_ts;    /* the request parser skipped bytes in a piece of this time */
    uint64_t req_skip0;      /* the request parser's skipped count when this piece began */
    uint64_t orphan_ts;      /* latest response begun before any request was seen */
    uint64_t owed_from;      /* a response begun at or after this time is the one owed */
    int owed;                /* one response is owed to the request seen only in part */
};

enum { BODY_CUT_LIMIT = 1, BODY_CUT_BUDGET = 2 };

struct sdiff_pair {
    struct sdiff_limits limits;
    struct sdiff_mem_budget *budget; /* shared with the reassembler; NULL: none */
    sdiff_exchange_fn fn;
    void *ud;
    struct sdiff_pair_stats st;
};

/* ---- helpers --------------------------------------------------------------------------- */

static const int state_rank[SDIFF_EX__COUNT] = {
    [SDIFF_EX_COMPLETE] = 0, [SDIFF_EX_TRUNCATED] = 1, [SDIFF_EX_NO_RESPONSE] = 2,
    [SDIFF_EX_GAP] = 3,      [SDIFF_EX_UNPARSABLE] = 4, [SDIFF_EX_UNACKNOWLEDGED] = 5,
    [SDIFF_EX_SHED] = 6,
};

static const char UNACKED_REQ[] = "request bytes never acknowledged by the server";
static const char UNACKED_RESP[] = "response bytes never acknowledged by the client";
static const char SHED_FLOW[] =
    "shed: capture memory budget full, connection counted only (no bodies, no pairing)";
static const char SHED_BODY[] = "shed: capture memory budget full, body not kept";
static const char SHED_HEAD[] = "shed: capture memory budget full, head not kept";

/* Raise an exchange's state; the more serious state wins, the first note of a rank stays. */
static void mark(struct sdiff_exchange *ex, enum sdiff_exchange_state st, const char *note)
{
    if (state_rank[st] < state_rank[ex->state])
        return;
    if (state_rank[st] > state_rank[ex->state] || ex->note[0] == '\0')
        snprintf(ex->note, sizeof ex->note, "%s", note);
    ex->state = st;
}

static void fmt_endpoint(char *out, size_t n, uint8_t family, const uint8_t *a, uint16_t port)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    inet_ntop(family == 6 ? AF_INET6 : AF_INET, a, ip, sizeof ip);
    if (family == 6)
        snprintf(out, n, "[%s]:%u", ip, (unsigned)port);
    else
        snprintf(out, n, "%s:%u", ip, (unsigned)port);
}

static struct qent *q_at(struct conn *c, size_t i)
{
    return &c->q[(c->qhead + i) % c->qcap];
}

/*
 * Memory. Everything kept for a connection is charged to the capture's budget and added up
 * in c->mem, which the reassembler reads (flow_mem) to choose what to shed. Small state that
 * must exist is charged whatever the budget says; what grows with the traffic (heads, bodies)
 * is charged only if it fits, and what does not fit is not kept: its exchange is shed.
 */
static void conn_charge(struct conn *c, size_t n)
{
    c->mem += n;
    sdiff_mem_charge(c->pair->budget, n);
}

static int conn_try(struct conn *c, size_t n)
{
    if (!sdiff_mem_try(c->pair->budget, n))
        return 0;
    c->mem += n;
    return 1;
}

static void conn_release(struct conn *c, size_t n)
{
    c->mem -= n;
    sdiff_mem_release(c->pair->budget, n);
}

/* The parsers' buffers grow and shrink inside sdiff_http1_feed: charge the difference. */
static void parsers_sync(struct conn *c)
{
    size_t now = sdiff_http1_mem(c->reqp) + sdiff_http1_mem(c->respp);
    if (now > c->parsers_mem)
        conn_charge(c, now - c->parsers_mem);
    else
        conn_release(c, c->parsers_mem - now);
    c->parsers_mem = now;
}

static void body_buf_drop(struct conn *c, struct sdiff_buf *b, size_t *bmem)
{
    size_t max = b->max;
    sdiff_buf_dispose(b);
    sdiff_buf_init(b, max);
    conn_release(c, *bmem);
    *bmem = 0;
}

/* Free an exchange's bodies (bytes seen stay counted) and what they cost. */
static void strip_bodies(struct conn *c, struct qent *e)
{
    sdiff_free(e->ex->req.body);
    sdiff_free(e->ex->resp.body);
    e->ex->req.body = e->ex->resp.body = NULL;
    e->ex->req.body_len = e->ex->resp.body_len = 0;
    conn_release(c, e->body_mem);
    e->mem -= e->body_mem;
    e->body_mem = 0;
}

static void emit(struct conn *c, struct sdiff_exchange *ex)
{
    struct sdiff_pair *p = c->pair;
    if (ex->state == SDIFF_EX_COMPLETE && !ex->resp.present)
        ex->state = SDIFF_EX_NO_RESPONSE;
    p->st.exchanges[ex->state]++;
    if (p->fn)
        p->fn(ex, p->ud);
    else
        sdiff_exchange_free(ex);
}

/* Hand out finished exchanges from the head of the queue, in request order. */
static void drain(struct conn *c, int all)
{
    while (c->qlen > 0) {
        struct qent *e = q_at(c, 0);
        if (!all && !(e->req_done && e->resp_done))
            break;
        if (!e->req_done)
            mark(e->ex, SDIFF_EX_GAP, "request cut short by the end of the connection");
        if (e->resp_begun && !e->resp_done)
            mark(e->ex, SDIFF_EX_GAP, "response cut short by the end of the connection");
        if (c->cur_req == e)
            c->cur_req = NULL;
        if (c->cur_resp == e)
            c->cur_resp = NULL;
        struct sdiff_exchange *ex = e->ex;
        e->ex = NULL;
        conn_release(c, e->mem); /* the sink owns it now */
        e->mem = e->body_mem = 0;
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
        emit(c, ex);
    }
}

/*
 * Framing was lost on one side. Every request still waiting for a response that could have
 * been answered inside the loss is closed as a gap, and responses are ignored until the
 * client starts or finishes a request, so no response pairs with the wrong request.
 */
static void desync(struct conn *c, const char *why)
{
    for (size_t i = 0; i < c->qlen; i++) {
        struct qent *e = q_at(c, i);
        if (e->resp_begun || (e == c->cur_req && !e->req_done))
            continue; /* answered, being answered, or not yet fully sent */
        mark(e->ex, SDIFF_EX_GAP, why);
        e->req_done = 1;
        e->resp_begun = 1;
        e->resp_done = 1;
    }
    c->resp_barrier = 1;
    drain(c, 0);
}

/*
 * A connection picked up midstream: server bytes skipped before the first status line are
 * the end of a response whose start the capture missed, maybe the answer to a request in the
 * queue. Nothing waiting may take a later response as its own.
 */
static void check_unsynced(struct conn *c)
{
    if (!c->resp_unsynced || sdiff_http1_skipped_bytes(c->respp) == 0)
        return;
    c->resp_unsynced = 0;
    desync(c, "response start lost before the capture began");
}

static int body_append(struct conn *c, struct qent *e, struct sdiff_buf *b, size_t *bmem,
                       int *cut, uint64_t *seen, const uint8_t *p, size_t len)
{
    *seen += len;
    if (*cut || c->shed)
        return 0;
    if (c->pair->limits.discard_bodies) {
        /* lengths only: b->len counts what would be kept, no byte is copied */
        size_t room = b->max - b->len;
        b->len += len > room ? room : len;
        *cut = len > room;
        return 0;
    }
    int rc = sdiff_buf_append(b, p, len);
    if (rc == SDIFF_ELIMIT) {
        size_t room = b->max - b->len;
        rc = sdiff_buf_append(b, p, room);
        *cut = BODY_CUT_LIMIT;
    }
    size_t now = b->cap ? sdiff_mem_cost(b->cap) : 0;
    if (now > *bmem) {
        if (!conn_try(c, now - *bmem)) {
            /* No room in the budget: the body is not kept and its exchange is shed. */
            body_buf_drop(c, b, bmem);
            *cut = BODY_CUT_BUDGET;
            if (e != NULL)
                mark(e->ex, SDIFF_EX_SHED, SHED_BODY);
            return 0;
        }
        *bmem = now;
    }
    return rc == SDIFF_ENOMEM ? rc : 0;
}

/* The body being filled becomes the message's (its cost moves to the exchange). */
static void body_take(struct qent *e, struct sdiff_msg *m, struct sdiff_buf *b, size_t *bmem)
{
    if (b->data == NULL) { /* discarded body, or none */
        m->body_len = b->len;
        b->len = 0;
        return;
    }
    sdiff_free(m->body);
    m->body = sdiff_buf_steal(b, &m->body_len);
    e->mem += *bmem;
    e->body_mem += *bmem;
    *bmem = 0;
}

/* Bytes of the block a built message holds (as head_size counted them). */
static size_t msg_block_size(const struct sdiff_msg *m)
{
    size_t size = m->nheaders * sizeof(struct sdiff_hfield) + strlen(m->method) +
                  strlen(m->target) + strlen(m->reason) + 3;
    for (size_t i = 0; i < m->nheaders; i++)
        size += m->headers[i].name_len + m->headers[i].value_len + 2;
    return size;
}

/* Bytes sdiff__msg_build allocates for h (its one block). */
static size_t head_size(const struct sdiff_http1_head *h)
{
    size_t size = h->nheaders * sizeof(struct sdiff_hfield) + h->method.len + h->target.len +
                  h->reason.len + 3;
    for (size_t i = 0; i < h->nheaders; i++)
        size += h->headers[i].name.len + h->headers[i].value.len + 2;
    return size;
}

static int copy_head(struct conn *c, struct qent *e, struct sdiff_msg *m,
                     const struct sdiff_http1_head *h)
{
    size_t cost = sdiff_mem_cost(head_size(h));
    if (!conn_try(c, cost)) {
        mark(e->ex, SDIFF_EX_SHED, SHED_HEAD);
        return 0;
    }
    e->mem += cost;
    struct sdiff_hfield stackf[32] = {{0}};
    struct sdiff_hfield *f = stackf;
    if (h->nheaders > 32) {
        f = sdiff_malloc(h->nheaders * sizeof *f);
        if (f == NULL)
            return SDIFF_ENOMEM;
    }
    for (size_t i = 0; i < h->nheaders; i++) {
        f[i].name = (const char *)h->headers[i].name.p;
        f[i].name_len = h->headers[i].name.len;
        f[i].value = (const char *)h->headers[i].value.p;
        f[i].value_len = h->headers[i].value.len;
    }
    if (m->headers != NULL) { /* replaced: give back what the old block cost */
        size_t old = sdiff_mem_cost(msg_block_size(m));
        conn_release(c, old);
        e->mem -= old;
    }
    int rc = sdiff__msg_build(m, (const char *)h->method.p, h->method.len,
                              (const char *)h->target.p, h->target.len,
                              (const char *)h->reason.p, h->reason.len, f, h->nheaders);
    if (f != stackf)
        sdiff_free(f);
    if (rc < 0) {
        conn_release(c, cost);
        e->mem -= cost;
        return rc;
    }
    m->present = 1;
    m->status = h->status;
    m->version_minor = h->version_minor;
    m->chunked = h->framing == SDIFF_HTTP1_CHUNKED;
    return SDIFF_OK;
}

/* ---- request side ---------------------------------------------------------------------- */

/*
 * The first request on a connection picked up midstream. When client bytes were skipped
 * before it, they were the end of a request whose start the capture missed (request A),
 * and A's response is owed before this one's: A's end came after the capture began, and a
 * server answers a request after it ends, so A's response begins after that end, in full,
 * in the capture. Responses that begin earlier answer requests before A. So the first
 * response to begin at or after A's end (its last skipped byte) is A's and pairs with
 * nothing; the next pairs with this request. The server's bytes skipped before its first
 * status line are then the end of an earlier response, not A's, and need not close the
 * waiting requests as gaps. Assumed: no request sent whole before the capture still waits
 * for a response that begins after A's end (pipelined two deep across the capture start).
 */
static void pickup_first_request(struct conn *c)
{
    int cli = c->swapped ? SDIFF_DIR_S2C : SDIFF_DIR_C2S;
    uint64_t now = sdiff_http1_skipped_bytes(c->reqp);
    /* hunting is done: later resyncs (after a gap) look at line starts, as elsewhere */
    sdiff_http1_hunt_anywhere(c->reqp, 0);
    uint64_t unsettled = c->unsettled[cli] - c->carried[cli];
    if (now == 0 && unsettled == 0)
        return;
    uint64_t end = now > c->req_skip0 ? c->ts : c->req_skip_ts;
    if (unsettled > 0 && c->skip_ts[cli] > end)
        end = c->skip_ts[cli];
    c->resp_unsynced = 0;
    if (c->orphan_ts >= end && c->orphan_ts != 0)
        return; /* A's response already began, before this request: it was an orphan */
    c->owed = 1;
    c->owed_from = end;
}

/*
 * Most connections have one request waiting at a time, so the ring starts small and doubles
 * up to the pipeline limit: 64 entries for each of 65,536 connections would be 128 MiB of
 * the memory budget. The ring is laid out again from its head; cur_req and cur_resp follow.
 */
static int q_grow(struct conn *c)
{
    size_t ncap = c->qcap * 2 < c->qmax ? c->qcap * 2 : c->qmax;
    struct qent *nq = sdiff_calloc(ncap, sizeof *nq);
    if (nq == NULL)
        return SDIFF_ENOMEM;
    struct qent *req = c->cur_req, *resp = c->cur_resp;
    for (size_t i = 0; i < c->qlen; i++) {
        struct qent *e = q_at(c, i);
        nq[i] = *e;
        if (e == req)
            c->cur_req = &nq[i];
        if (e == resp)
            c->cur_resp = &nq[i];
    }
    conn_release(c, sdiff_mem_cost(c->qcap * sizeof *c->q));
    conn_charge(c, sdiff_mem_cost(ncap * sizeof *nq));
    sdiff_free(c->q);
    c->q = nq;
    c->qhead = 0;
    c->qcap = ncap;
    return SDIFF_OK;
}

static int req_begin(void *ud)
{
    struct conn *c = ud;
    struct sdiff_pair *p = c->pair;
    if (c->info.midstream && c->next_seq == 0)
        pickup_first_request(c);
    if (c->qlen == c->qcap && c->qcap < c->qmax && q_grow(c) < 0)
        p->st.out_of_memory++; /* then the oldest waiting request makes room, as at the limit */
    if (c->qlen == c->qcap) {
        /* Too many requests waiting: give up on the oldest and ignore its response. */
        p->st.pipeline_limit_hits++;
        struct qent *e = q_at(c, 0);
        mark(e->ex, SDIFF_EX_NO_RESPONSE, "more pipelined requests than the limit");
        e->req_done = 1;
        if (!e->resp_begun)
            c->skip_responses++;
        e->resp_begun = 1;
        e->resp_done = 1;
        drain(c, 0);
        if (c->qlen == c->qcap)
            drain(c, 1);
    }
    struct sdiff_exchange *ex = sdiff_exchange_new();
    if (ex == NULL)
        return SDIFF_ENOMEM;
    ex->conn_id = c->info.id;
    ex->seq = c->next_seq++;
    memcpy(ex->client, c->client, sizeof ex->client);
    memcpy(ex->server, c->server, sizeof ex->server);
    ex->tunnel = c->info.tun;
    ex->tunnel.frame_linktype = 0;
    ex->tunnel.frame_off = 0;
    ex->t_req_start = c->ts;
    if (c->unacked[SDIFF_DIR_C2S])
        mark(ex, SDIFF_EX_UNACKNOWLEDGED, UNACKED_REQ);
    struct qent *e = q_at(c, c->qlen);
    memset(e, 0, sizeof *e);
    e->ex = ex;
    e->mem = sdiff_mem_cost(sizeof *ex);
    conn_charge(c, e->mem);
    if (c->shed) {
        mark(ex, SDIFF_EX_SHED, SHED_FLOW);
        e->resp_begun = e->resp_done = 1; /* reported as soon as it is sent */
    }
    c->qlen++;
    c->cur_req = e;
    c->resp_barrier = 0;
    /* A response to this request can only start after it: let the server's next byte count
     * as a line start, so a status line glued to the end of an unframed body is found. */
    if (c->resp_hunting)
        sdiff_http1_resync(c->respp);
    sdiff_buf_reset(&c->req_body);
    c->req_body_cut = 0;
    return 0;
}

static int req_head(const struct sdiff_http1_head *h, void *ud)
{
    struct conn *c = ud;
    if (c->cur_req == NULL)
        return 0;
    for (size_t i = 0; i < h->nheaders; i++)
        if (sdiff_slice_ieq(h->headers[i].name, "upgrade") &&
            h->headers[i].value.len >= 3 && memcmp(h->headers[i].value.p, "h2c", 3) == 0)
            c->upgrade_h2c = 1;
    /* Framed, but a front end could read it otherwise: keep it, never replay it. */
    if (h->framing_problem) {
        char note[160];
        snprintf(note, sizeof note, "request: %.140s", h->framing_problem);
        mark(c->cur_req->ex, SDIFF_EX_UNPARSABLE, note);
    }
    return copy_head(c, c->cur_req, &c->cur_req->ex->req, h);
}

static int req_body(const uint8_t *d, size_t len, void *ud)
{
    struct conn *c = ud;
    if (c->cur_req == NULL)
        return 0;
    return body_append(c, c->cur_req, &c->req_body, &c->req_body_mem, &c->req_body_cut,
                       &c->cur_req->ex->req.body_seen, d, len);
}

static int req_complete(void *ud)
{
    struct conn *c = ud;
    struct qent *e = c->cur_req;
    if (e == NULL)
        return 0;
    body_take(e, &e->ex->req, &c->req_body, &c->req_body_mem);
    e->ex->req.complete = 1;
    e->ex->t_req_end = c->ts;
    if (c->req_body_cut == BODY_CUT_LIMIT) {
        mark(e->ex, SDIFF_EX_TRUNCATED, "request body over the body limit");
        c->pair->st.body_limit_hits++;
    }
    e->req_done = 1;
    c->cur_req = NULL;
    c->resp_barrier = 0;
    drain(c, 0);
    return 0;
}

/* ---- response side --------------------------------------------------------------------- */

static int resp_begin(void *ud)
{
    struct conn *c = ud;
    check_unsynced(c);
    c->resp_unsynced = 0;
    c->resp_hunting = 0;
    c->resp_interim = 0;
    c->cur_resp = NULL;
    sdiff_buf_reset(&c->resp_body);
    c->resp_body_cut = 0;
    struct qent *e = NULL;
    for (size_t i = 0; i < c->qlen && e == NULL; i++)
        if (!q_at(c, i)->resp_begun)
            e = q_at(c, i);
    /* A shed connection pairs nothing (its requests were reported as they were sent). */
    if (c->info.midstream && c->next_seq == 0 && c->ts > c->orphan_ts)
        c->orphan_ts = c->ts;
    sdiff_http1_hunt_anywhere(c->respp, 0);
    if (c->owed && e != NULL && !c->resp_barrier) {
        /* see pickup_first_request: the answer to the request seen only in part, or earlier */
        if (c->ts >= c->owed_from)
            c->owed = 0;
        c->pair->st.orphan_responses++;
        return 0;
    }
    if (c->resp_barrier || e == NULL || c->skip_responses > 0) {
        if (c->skip_responses > 0 && !c->resp_barrier && e != NULL)
            c->skip_responses--;
        c->pair->st.orphan_responses++;
        return 0;
    }
    c->cur_resp = e;
    e->resp_begun = 1;
    e->ex->t_resp_start = c->ts;
    if (c->unacked[SDIFF_DIR_S2C])
        mark(e->ex, SDIFF_EX_UNACKNOWLEDGED, UNACKED_RESP);
    return 0;
}

static int resp_head(const struct sdiff_http1_head *h, void *ud)
{
    struct conn *c = ud;
    if (h->status >= 100 && h->status < 200 && h->status != 101) {
        /* Interim (100 Continue, 103 Early Hints): the final response is still owed. */
        c->resp_interim = 1;
        if (c->cur_resp)
            c->cur_resp->resp_begun = 0;
        c->cur_resp = NULL;
        return 0;
    }
    if (h->status == 101) {
        if (c->upgrade_h2c)
            c->pair->st.conn_h2++;
        else
            c->pair->st.conn_upgraded++;
    }
    struct qent *e = c->cur_resp;
    if (e == NULL)
        return 0;
    int rc = copy_head(c, e, &e->ex->resp, h);
    if (rc < 0)
        return rc;
    const char *m = e->ex->req.method;
    if (m && (strcmp(m, "HEAD") == 0 || (strcmp(m, "CONNECT") == 0 && h->status / 100 == 2)))
        return SDIFF_HTTP1_SKIP_BODY;
    return 0;
}

static int resp_body(const uint8_t *d, size_t len, void *ud)
{
    struct conn *c = ud;
    if (c->cur_resp == NULL || c->resp_interim)
        return 0;
    return body_append(c, c->cur_resp, &c->resp_body, &c->resp_body_mem, &c->resp_body_cut,
                       &c->cur_resp->ex->resp.body_seen, d, len);
}

static int resp_complete(void *ud)
{
    struct conn *c = ud;
    struct qent *e = c->cur_resp;
    if (sdiff_http1_upgraded(c->respp) && c->reqp)
        sdiff_http1_set_upgraded(c->reqp);
    if (c->resp_interim) {
        c->resp_interim = 0;
        return 0;
    }
    if (e == NULL)
        return 0;
    body_take(e, &e->ex->resp, &c->resp_body, &c->resp_body_mem);
    e->ex->resp.complete = 1;
    e->ex->t_resp_end = c->ts;
    if (c->resp_body_cut == BODY_CUT_LIMIT) {
        mark(e->ex, SDIFF_EX_TRUNCATED, "response body over the body limit");
        c->pair->st.body_limit_hits++;
    }
    e->resp_done = 1;
    c->cur_resp = NULL;
    drain(c, 0);
    return 0;
}

static const struct sdiff_http1_cb req_cb = {
    .on_begin = req_begin, .on_head = req_head, .on_body = req_body,
    .on_complete = req_complete,
};
static const struct sdiff_http1_cb resp_cb = {
    .on_begin = resp_begin, .on_head = resp_head, .on_body = resp_body,
    .on_complete = resp_complete,
};

/* ---- parse errors and gaps ------------------------------------------------------------- */

static void req_failed(struct conn *c, const struct sdiff_err *err)
{
    struct sdiff_pair *p = c->pair;
    struct qent *e = c->cur_req;
    if (e && !e->ex->req.present && e->ex->seq == 0 && c->next_seq == 1 &&
        !c->info.midstream && !sdiff_http1_start_line_ok(c->reqp)) {
        /* The very first bytes of the connection are not HTTP: skip the connection. (A
         * request line followed by bad or too many fields is HTTP: that one is unparsable.) */
        c->mode = MODE_SKIP;
        p->st.conn_not_http++;
        sdiff_exchange_free(e->ex);
        e->ex = NULL;
        conn_release(c, e->mem);
        e->mem = e->body_mem = 0;
        c->qlen--;
        c->cur_req = NULL;
        return;
    }
    p->st.req_parse_errors++;
    if (e) {
        char note[160];
        snprintf(note, sizeof note, "request: %.140s", err->msg);
        mark(e->ex, SDIFF_EX_UNPARSABLE, note);
        e->req_done = 1;
        c->cur_req = NULL;
    }
    sdiff_http1_resync(c->reqp);
    drain(c, 0);
}

static void resp_failed(struct conn *c, const struct sdiff_err *err)
{
    struct qent *e = c->cur_resp;
    c->pair->st.resp_parse_errors++;
    if (e) {
        char note[160];
        snprintf(note, sizeof note, "response: %.140s", err->msg);
        mark(e->ex, SDIFF_EX_UNPARSABLE, note);
        sdiff_buf_reset(&c->resp_body);
        e->resp_done = 1;
        c->cur_resp = NULL;
    }
    sdiff_http1_resync(c->respp);
    c->resp_hunting = 1;
    c->resp_unsynced = 0;
    /* Where the failed response ends is unknown: later responses cannot be trusted. */
    desync(c, "response framing lost after a malformed response");
}

static void feed(struct conn *c, enum sdiff_dir dir, const uint8_t *d, size_t len)
{
    struct sdiff_err err = {0};
    int rc;
    if (dir == SDIFF_DIR_C2S) {
        c->req_skip0 = sdiff_http1_skipped_bytes(c->reqp);
        /* After a refused request, hunt for the next one in the rest of these bytes too, so
         * what follows does not depend on where TCP cut the stream. */
        while ((rc = sdiff_http1_feed(c->reqp, d, len, &err)) < 0 && c->mode == MODE_HTTP) {
            size_t used = sdiff_http1_consumed(c->reqp);
            req_failed(c, &err);
            if (rc != SDIFF_EPARSE || c->mode != MODE_HTTP || used == 0 || used >= len)
                break;
            d += used;
            len -= used;
            memset(&err, 0, sizeof err);
        }
    } else {
        if ((rc = sdiff_http1_feed(c->respp, d, len, &err)) < 0 && c->mode == MODE_HTTP)
            resp_failed(c, &err);
        check_unsynced(c);
    }
    if (dir == SDIFF_DIR_C2S && sdiff_http1_skipped_bytes(c->reqp) > c->req_skip0)
        c->req_skip_ts = c->ts;
    /* The callbacks return nothing, so a message lost to memory is at least counted. */
    if (rc == SDIFF_ENOMEM || err.code == SDIFF_ENOMEM)
        c->pair->st.out_of_memory++;
    parsers_sync(c);
}

/* TLS record or HTTP/2 preface at the start of the client's bytes? */
static enum conn_mode classify(struct conn *c)
{
    static const char h2[] = "PRI * HTTP/2.0\r\n";
    const uint8_t *b = c->prefix;
    size_t n = c->prefix_len;
    if (n >= 1 && b[0] >= 0x14 && b[0] <= 0x17) {
        if (n < 2)
            return MODE_UNDECIDED;
        if (b[1] == 0x03) {
            c->pair->st.conn_tls++;
            return MODE_SKIP;
        }
    }
    size_t m = n < sizeof h2 - 1 ? n : sizeof h2 - 1;
    if (memcmp(b, h2, m) == 0) {
        if (n < sizeof h2 - 1)
            return MODE_UNDECIDED;
        c->pair->st.conn_h2++;
        return MODE_SKIP;
    }
    return MODE_HTTP;
}

/* ---- reassembler callbacks ------------------------------------------------------------- */

static void conn_free(struct conn *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->qlen; i++)
        sdiff_exchange_free(q_at(c, i)->ex);
    sdiff_http1_free(c->reqp);
    sdiff_http1_free(c->respp);
    sdiff_buf_dispose(&c->req_body);
    sdiff_buf_dispose(&c->resp_body);
    sdiff_free(c->q);
    sdiff_mem_release(c->pair->budget, c->mem);
    sdiff_free(c);
}

static void on_open(const struct sdiff_flow_info *f, void **flow_ud, void *ud)
{
    struct sdiff_pair *p = ud;
    struct conn *c = sdiff_calloc(1, sizeof *c);
    *flow_ud = NULL;
    p->st.connections++;
    if (c == NULL) {
        p->st.out_of_memory++;
        return;
    }
    c->pair = p;
    c->info = *f;
    fmt_endpoint(c->client, sizeof c->client, f->family, f->client, f->cport);
    fmt_endpoint(c->server, sizeof c->server, f->family, f->server, f->sport);
    c->qmax = p->limits.max_pipeline ? p->limits.max_pipeline : 1;
    c->qcap = c->qmax < 4 ? c->qmax : 4;
    c->q = sdiff_calloc(c->qcap, sizeof *c->q);
    sdiff_buf_init(&c->req_body, p->limits.max_body);
    sdiff_buf_init(&c->resp_body, p->limits.max_body);
    if (c->q == NULL ||
        sdiff_http1_new(&c->reqp, SDIFF_HTTP1_REQUEST, &p->limits, &req_cb, c, NULL) < 0 ||
        sdiff_http1_new(&c->respp, SDIFF_HTTP1_RESPONSE, &p->limits, &resp_cb, c, NULL) < 0) {
        p->st.out_of_memory++;
        conn_free(c);
        return;
    }
    /* Needed to follow the connection at all: charged whatever the budget says. */
    conn_charge(c, sdiff_mem_cost(sizeof *c) + sdiff_mem_cost(c->qcap * sizeof *c->q));
    parsers_sync(c);
    c->roles_open = f->dir_guessed;
    if (f->midstream) {
        sdiff_http1_resync(c->reqp);
        sdiff_http1_resync(c->respp);
        /* the first bytes end messages whose framing was never seen; the next one may be
         * glued to them (pipelined, or a body with no line end) */
        sdiff_http1_hunt_anywhere(c->reqp, 1);
        sdiff_http1_hunt_anywhere(c->respp, 1);
        c->resp_hunting = 1;
        c->resp_unsynced = 1;
    }
    *flow_ud = c;
}

/*
 * What a line starting at p looks like: 1 a request line ("METHOD /", "METHOD http", "METHOD
 * *", an upper-case token of 3 to 10 letters), 2 a status line ("HTTP/1.x NNN"), 0 neither,
 * -1 too few bytes to tell.
 */
static int start_line_kind(const uint8_t *p, size_t n)
{
    static const char http[] = "HTTP/1.";
    size_t m = n < 7 ? n : 7;
    if (memcmp(p, http, m) == 0) {
        if (n < 13)
            return -1;
        if ((p[7] == '0' || p[7] == '1') && p[8] == ' ' && p[9] >= '1' && p[9] <= '5' &&
            p[10] >= '0' && p[10] <= '9' && p[11] >= '0' && p[11] <= '9' && p[12] == ' ')
            return 2;
        return 0;
    }
    size_t i = 0;
    while (i < n && i < 11 && p[i] >= 'A' && p[i] <= 'Z')
        i++;
    if (i == n)
        return n <= 10 ? -1 : 0;
    if (i < 3 || i > 10 || p[i] != ' ')
        return 0;
    if (i + 1 == n)
        return -1;
    return p[i + 1] == '/' || p[i + 1] == 'h' || p[i + 1] == '*' ? 1 : 0;
}

/*
 * A connection picked up midstream whose client was only guessed from the ports (no SYN, no
 * configured port) may have the roles the wrong way round; then neither parser ever finds
 * its start line and every request on it vanishes. The first start line seen settles it: a
 * request line is sent by the client, a status line by the server. Candidates are line
 * starts and the starts of delivered pieces (a segment start; see the midstream cases), and
 * a line cut between two pieces is joined through a short carry. Bytes are acknowledged by
 * the time they get here, so the line is one the receiver took. Returns which side sent dir:
 * 1 client, 2 server, 0 not known yet.
 */
static int sniff_role(struct conn *c, enum sdiff_dir dir, const uint8_t *d, size_t len)
{
    if (c->carry_len[dir] > 0) {
        uint8_t buf[32];
        size_t have = c->carry_len[dir];
        size_t take = len < sizeof buf - have ? len : sizeof buf - have;
        memcpy(buf, c->carry[dir], have);
        memcpy(buf + have, d, take);
        int k = start_line_kind(buf, have + take);
        if (k > 0)
            return k; /* the carry is kept: the line starts in it */
        c->carry_len[dir] = 0;
    }
    size_t at = 0; /* the piece's start, then every line start */
    for (;;) {
        int k = start_line_kind(d + at, len - at);
        if (k > 0)
            return k;
        if (k < 0 && len - at < sizeof c->carry[dir]) {
            memcpy(c->carry[dir], d + at, len - at);
            c->carry_len[dir] = len - at;
            return 0;
        }
        const uint8_t *nl = memchr(d + at, '\n', len - at);
        if (nl == NULL)
            return 0;
        at = (size_t)(nl - d) + 1;
    }
}

static void swap_roles(struct conn *c)
{
    char tmp[64];
    memcpy(tmp, c->client, sizeof tmp);
    memcpy(c->client, c->server, sizeof tmp);
    memcpy(c->server, tmp, sizeof tmp);
    uint8_t a[16];
    memcpy(a, c->info.client, sizeof a);
    memcpy(c->info.client, c->info.server, sizeof a);
    memcpy(c->info.server, a, sizeof a);
    uint16_t p = c->info.cport;
    c->info.cport = c->info.sport;
    c->info.sport = p;
    c->swapped = 1;
    c->pair->st.conn_roles_swapped++;
}

static void data_in(struct conn *c, enum sdiff_dir dir, const uint8_t *d, size_t len,
                    uint64_t ts);

/* Settle the roles if still open; returns 0 when the bytes are to be skipped. */
static int settle_roles(struct conn *c, enum sdiff_dir *dir, const uint8_t *d, size_t len,
                        uint64_t ts)
{
    if (c->roles_open) {
        int role = sniff_role(c, *dir, d, len);
        if (role == 0) {
            c->pair->st.resync_bytes += len;
            c->unsettled[*dir] += len;
            if (c->carry_len[*dir] < len) /* not only the first bytes of a start line */
                c->skip_ts[*dir] = ts;
            return 0;
        }
        c->roles_open = 0;
        if ((role == 1) != (*dir == SDIFF_DIR_C2S))
            swap_roles(c);
        /* Server bytes skipped before any request was seen end a response that began before
         * the capture; what the parser skips next is the rest of it, no request's answer. */
        int srv = c->swapped ? SDIFF_DIR_C2S : SDIFF_DIR_S2C;
        if (c->unsettled[srv] > 0)
            c->resp_unsynced = 0;
        /* A start line that began in the previous piece: feed its first bytes first. */
        uint8_t head[sizeof c->carry[0]];
        size_t nhead = c->carry_len[*dir];
        c->carried[*dir] = nhead;
        memcpy(head, c->carry[*dir], nhead);
        c->carry_len[0] = c->carry_len[1] = 0;
        if (c->swapped)
            *dir = *dir == SDIFF_DIR_C2S ? SDIFF_DIR_S2C : SDIFF_DIR_C2S;
        if (nhead > 0)
            data_in(c, *dir, head, nhead, ts);
        return 1;
    }
    if (c->swapped)
        *dir = *dir == SDIFF_DIR_C2S ? SDIFF_DIR_S2C : SDIFF_DIR_C2S;
    return 1;
}

/* Bytes of one direction, roles settled. */
static void data_in(struct conn *c, enum sdiff_dir dir, const uint8_t *d, size_t len,
                    uint64_t ts)
{
    c->ts = ts;
    if (c->mode == MODE_UNDECIDED) {
        if (dir == SDIFF_DIR_S2C && c->prefix_len == 0) {
            c->mode = MODE_HTTP;
        } else if (dir == SDIFF_DIR_C2S) {
            /* Collect just enough of the client's first bytes to recognise TLS or h2. */
            size_t take = sizeof c->prefix - c->prefix_len;
            if (take > len)
                take = len;
            memcpy(c->prefix + c->prefix_len, d, take);
            c->prefix_len += take;
            c->mode = classify(c);
            if (c->mode == MODE_SKIP)
                return;
            if (c->mode == MODE_UNDECIDED)
                return;
            /* Decided: replay the prefix bytes collected before this call, then the rest. */
            size_t before = c->prefix_len - take;
            if (before > 0)
                feed(c, SDIFF_DIR_C2S, c->prefix, before);
            if (c->mode == MODE_SKIP)
                return;
        } else {
            return;
        }
    }
    feed(c, dir, d, len);
}

static void on_data(void *flow_ud, enum sdiff_dir dir, const uint8_t *d, size_t len,
                    uint64_t ts, void *ud)
{
    struct conn *c = flow_ud;
    (void)ud;
    if (c == NULL || c->mode == MODE_SKIP || !settle_roles(c, &dir, d, len, ts))
        return;
    data_in(c, dir, d, len, ts);
}

/*
 * Bytes the peer never acknowledged (the flow ended first, or too much waited): parsed like
 * any others so nothing vanishes, but every exchange they touch is unacknowledged and is
 * never replayed. The service may never have taken them: a one-direction mirror, a capture
 * that stopped first, or a made-up connection.
 */
static void on_data_unacked(void *flow_ud, enum sdiff_dir dir, const uint8_t *d, size_t len,
                            uint64_t ts, void *ud)
{
    struct conn *c = flow_ud;
    (void)ud;
    if (c == NULL || c->mode == MODE_SKIP || !settle_roles(c, &dir, d, len, ts))
        return;
    if (dir == SDIFF_DIR_C2S && c->cur_req != NULL)
        mark(c->cur_req->ex, SDIFF_EX_UNACKNOWLEDGED, UNACKED_REQ);
    if (dir == SDIFF_DIR_S2C && c->cur_resp != NULL)
        mark(c->cur_resp->ex, SDIFF_EX_UNACKNOWLEDGED, UNACKED_RESP);
    c->unacked[dir] = 1;
    data_in(c, dir, d, len, ts);
    c->unacked[dir] = 0;
}

static void on_gap(void *flow_ud, enum sdiff_dir dir, uint64_t len, uint64_t ts, void *ud)
{
    struct conn *c = flow_ud;
    (void)ud;
    if (c == NULL || c->mode == MODE_SKIP || c->roles_open)
        return;
    if (c->swapped)
        dir = dir == SDIFF_DIR_C2S ? SDIFF_DIR_S2C : SDIFF_DIR_C2S;
    c->ts = ts;
    if (c->mode == MODE_UNDECIDED)
        c->mode = MODE_HTTP;
    c->pair->st.gaps++;
    if (dir == SDIFF_DIR_C2S) {
        /* Mark first: a gap that ends exactly where the body ends completes the message,
         * and the exchange leaves the queue inside sdiff_http1_gap. */
        if (c->cur_req)
            mark(c->cur_req->ex, SDIFF_EX_GAP, "request bytes lost by the capture");
        if (sdiff_http1_gap(c->reqp, len) == SDIFF_OK)
            return;
        struct qent *e = c->cur_req;
        if (e) {
            e->req_done = 1;
            c->cur_req = NULL;
        }
        /* Whole requests may have been lost: their responses must not pair with others. */
        desync(c, "request stream lost framing in a capture gap");
    } else {
        if (c->cur_resp)
            mark(c->cur_resp->ex, SDIFF_EX_GAP, "response bytes lost by the capture");
        if (sdiff_http1_gap(c->respp, len) == SDIFF_OK)
            return;
        c->resp_hunting = 1;
        c->resp_unsynced = 0; /* the desync below covers what the parser will skip */
        struct qent *e = c->cur_resp;
        if (e) {
            sdiff_buf_reset(&c->resp_body);
            e->resp_done = 1;
            c->cur_resp = NULL;
        }
        desync(c, "response lost in a capture gap");
    }
}

static void fin_dir(struct conn *c, enum sdiff_dir dir)
{
    struct sdiff_err err = {0};
    if (dir == SDIFF_DIR_C2S) {
        if (c->req_fin)
            return;
        c->req_fin = 1;
        if (c->mode == MODE_UNDECIDED && c->prefix_len > 0) {
            c->mode = MODE_HTTP;
            feed(c, SDIFF_DIR_C2S, c->prefix, c->prefix_len);
        }
        if (c->mode != MODE_HTTP)
            return;
        if (sdiff_http1_eof(c->reqp, &err) == SDIFF_ETRUNC && c->cur_req) {
            mark(c->cur_req->ex, SDIFF_EX_GAP, "request cut short by the end of the stream");
            c->cur_req->req_done = 1;
            c->cur_req = NULL;
        }
    } else {
        if (c->resp_fin)
            return;
        c->resp_fin = 1;
        if (c->mode != MODE_HTTP)
            return;
        if (sdiff_http1_eof(c->respp, &err) == SDIFF_ETRUNC && c->cur_resp) {
            mark(c->cur_resp->ex, SDIFF_EX_GAP, "response cut short by the end of the stream");
            c->cur_resp->resp_done = 1;
            c->cur_resp = NULL;
        }
    }
    drain(c, 0);
}

static void on_fin(void *flow_ud, enum sdiff_dir dir, uint64_t ts, void *ud)
{
    struct conn *c = flow_ud;
    (void)ud;
    if (c == NULL)
        return;
    if (c->swapped)
        dir = dir == SDIFF_DIR_C2S ? SDIFF_DIR_S2C : SDIFF_DIR_C2S;
    c->ts = ts;
    fin_dir(c, dir);
}

/*
 * The capture's memory budget is full and the reassembler sheds this connection: every
 * exchange still waiting is shed and loses its bodies now, and what the reassembler hands
 * out before on_close (bytes it held) is parsed for its requests, which are counted as shed
 * with their heads, without bodies.
 */
static void on_shed(void *flow_ud, void *ud)
{
    struct conn *c = flow_ud;
    (void)ud;
    if (c == NULL)
        return;
    c->shed = 1;
    /* Nothing waits for its response any more: out they go, the one being sent when done. */
    for (size_t i = 0; i < c->qlen; i++) {
        struct qent *e = q_at(c, i);
        mark(e->ex, SDIFF_EX_SHED, SHED_FLOW);
        strip_bodies(c, e);
        if (e != c->cur_req)
            e->req_done = 1;
        e->resp_begun = e->resp_done = 1;
    }
    c->cur_resp = NULL;
    body_buf_drop(c, &c->req_body, &c->req_body_mem);
    body_buf_drop(c, &c->resp_body, &c->resp_body_mem);
    drain(c, 0);
}

static size_t flow_mem(void *flow_ud, void *ud)
{
    const struct conn *c = flow_ud;
    (void)ud;
    return c != NULL ? c->mem : 0;
}

static void on_close(void *flow_ud, enum sdiff_close_reason why, uint64_t ts, void *ud)
{
    struct conn *c = flow_ud;
    (void)ud;
    (void)why;
    if (c == NULL)
        return;
    c->ts = ts;
    fin_dir(c, SDIFF_DIR_C2S);
    fin_dir(c, SDIFF_DIR_S2C);
    drain(c, 1);
    conn_free(c);
}

static const struct sdiff_reasm_cb reasm_cb = {
    .on_open = on_open, .on_data = on_data, .on_gap = on_gap, .on_fin = on_fin,
    .on_close = on_close, .on_data_unacked = on_data_unacked, .on_shed = on_shed,
    .flow_mem = flow_mem,
};

/* ---- API ------------------------------------------------------------------------------- */

int sdiff_pair_new(struct sdiff_pair **out, const struct sdiff_limits *limits,
                   sdiff_exchange_fn fn, void *ud, struct sdiff_err *err)
{
    struct sdiff_pair *p = sdiff_calloc(1, sizeof *p);
    *out = NULL;
    if (p == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "pair", "out of memory");
    p->limits = *limits;
    p->fn = fn;
    p->ud = ud;
    *out = p;
    return SDIFF_OK;
}

void sdiff_pair_use_budget(struct sdiff_pair *p, struct sdiff_mem_budget *budget)
{
    if (SDIFF_NEVER(p == NULL))
        return;
    p->budget = budget;
}

void sdiff_pair_free(struct sdiff_pair *p)
{
    sdiff_free(p);
}

const struct sdiff_reasm_cb *sdiff_pair_reasm_cb(void)
{
    return &reasm_cb;
}

const struct sdiff_pair_stats *sdiff_pair_stats(const struct sdiff_pair *p)
{
    return &p->st;
}
