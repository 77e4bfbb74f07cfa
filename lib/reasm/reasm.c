/*
 * reasm.c - TCP stream reassembly: flow table, per-direction ordering, gaps, lifecycle.
 *
 * Invariants: every flow is in the hash table and in the LRU list (most recent first); the
 * out-of-order nodes of a direction are sorted, non-overlapping and strictly ahead of that
 * direction's next expected sequence number; on_close is the last callback for a flow, after
 * which the flow is unlinked and freed. See lib/reasm/README.md for the rules.
 */
#include "shadowdiff/reasm.h"

#include <string.h>

/* ---- types ----------------------------------------------------------------------------- */

/*
 * Largest distance ahead of the expected sequence number that we still believe (the largest
 * TCP window, 2^30 with window scaling). Keeping every comparison within it keeps the
 * wraparound-aware ordering consistent.
 */
#define SEQ_WINDOW (1u << 30)

/* A buffered range: captured bytes, or (is_gap) bytes known to be cut by the snap length. */
struct ooo {
    struct ooo *next;
    uint32_t seq;
    uint32_t len;
    int is_gap;
    uint8_t data[];
};

/*
 * Something delivered in order but not yet handed out: bytes waiting for the peer's ACK, or a
 * gap or FIN queued behind such bytes. One queue per flow holds both directions in the order
 * the reassembler produced them, so holding bytes delays callbacks but never reorders them.
 */
enum held_kind { HELD_DATA = 0, HELD_GAP, HELD_FIN };

struct held {
    struct held *next;
    uint64_t ts;
    uint32_t seq; /* HELD_DATA: sequence number of data[0] */
    uint32_t len; /* HELD_DATA: bytes in data; HELD_GAP: bytes lost */
    uint32_t cost; /* charged to the budget (data shrinks from the front, the block does not) */
    uint8_t dir;
    uint8_t kind;
    uint8_t data[];
};

/* One direction of a flow (bytes sent by one side). */
struct half {
    uint32_t next;    /* next expected sequence number, valid when have_seq */
    uint32_t isn;     /* valid when syn_seen */
    uint32_t fin_seq; /* valid when fin_seen */
    uint8_t have_seq;
    uint8_t syn_seen;
    uint8_t fin_seen; /* a FIN arrived (maybe ahead of a hole) */
    uint8_t fin_done; /* on_fin was called */
    uint8_t win_seen; /* win holds this side's last advertised window */
    uint8_t wscale;   /* window scale shift from this side's SYN, valid when has_wscale */
    uint8_t has_wscale;
    uint8_t acked_seen; /* the peer has acknowledged something of this direction */
    uint16_t win;     /* unscaled */
    uint32_t acked;   /* highest ack from the peer, valid when acked_seen */
    size_t held_bytes; /* bytes of this direction in the flow's held queue */
    struct ooo *head, *tail;
    size_t ooo_bytes; /* captured bytes in the list (gap nodes hold none) */
    size_t ooo_count; /* nodes in the list */
    size_t ooo_mem;   /* what the list's nodes cost the budget */
};

struct flow {
    struct flow *hnext;         /* hash chain */
    struct flow *newer, *older; /* LRU list */
    uint32_t hash;
    uint8_t family;
    uint8_t midstream;
    uint8_t dir_guessed; /* midstream, and neither port a server port: by the port rule */
    uint8_t shed;        /* shed by the memory budget: holds nothing, bytes go out at once */
    uint16_t port[2];    /* [0] client, [1] server */
    uint8_t addr[2][16]; /* [0] client, [1] server */
    struct sdiff_tunnel tun; /* part of the key: mirrored sources never share a flow */
    struct half half[2]; /* indexed by enum sdiff_dir */
    struct held *held_head, *held_tail;
    size_t mem; /* charged to the budget for this flow: itself, out-of-order and held entries */
    uint64_t id;
    uint64_t first_ts, last_ts;
    void *ud;
};

struct sdiff_reasm {
    struct sdiff_limits lim;
    struct sdiff_reasm_cb cb;
    void *ud;
    struct flow **buckets;
    size_t bucket_mask;
    struct flow *lru_newest, *lru_oldest;
    struct flow *cache; /* last flow looked up */
    size_t nflows;
    size_t ooo_total;
    size_t held_total; /* bytes waiting for an ACK over all flows */
    int held_oom;      /* this feed could not queue something: it went out at once */
    struct sdiff_mem_budget budget; /* everything capture holds (see sdiff_reasm_budget) */
    uint64_t next_id;
    uint64_t clock;  /* timestamp handed to callbacks */
    uint64_t latest; /* largest timestamp seen */
    struct sdiff_reasm_stats st;
    uint8_t server_port[65536 / 8];
};

/* ---- helpers --------------------------------------------------------------------------- */

static inline int seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

static inline int seq_le(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) <= 0;
}

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static inline uint64_t endpoint_hash(uint8_t family, const uint8_t *addr, uint16_t port)
{
    uint64_t x;
    if (family == 4) {
        uint32_t a;
        memcpy(&a, addr, 4);
        x = ((uint64_t)a << 16) ^ port;
    } else {
        uint64_t a, b;
        memcpy(&a, addr, 8);
        memcpy(&b, addr + 8, 8);
        x = (a * 0x9e3779b97f4a7c15ull) ^ b ^ ((uint64_t)port << 48);
    }
    return mix64(x);
}

/* Symmetric in the two endpoints, so both directions of a connection land in one bucket. */
static uint32_t seg_hash(const struct sdiff_segment *s)
{
    uint64_t h =
        endpoint_hash(s->family, s->src, s->sport) + endpoint_hash(s->family, s->dst, s->dport);
    if (s->tun.depth)
        h ^= sdiff_tunnel_hash(&s->tun);
    return (uint32_t)(h ^ (h >> 32));
}

static inline int flow_match(const struct flow *f, const struct sdiff_segment *s,
                             enum sdiff_dir *dir)
{
    if (f->family != s->family || f->tun.depth != s->tun.depth)
        return 0;
    if (s->tun.depth && !sdiff_tunnel_equal(&f->tun, &s->tun))
        return 0;
    size_t alen = s->family == 4 ? 4 : 16;
    if (s->sport == f->port[0] && s->dport == f->port[1] && memcmp(s->src, f->addr[0], alen) == 0 &&
        memcmp(s->dst, f->addr[1], alen) == 0) {
        *dir = SDIFF_DIR_C2S;
        return 1;
    }
    if (s->sport == f->port[1] && s->dport == f->port[0] && memcmp(s->src, f->addr[1], alen) == 0 &&
        memcmp(s->dst, f->addr[0], alen) == 0) {
        *dir = SDIFF_DIR_S2C;
        return 1;
    }
    return 0;
}

static int is_server_port(const struct sdiff_reasm *r, uint16_t port)
{
    return (r->server_port[port >> 3] >> (port & 7)) & 1;
}

static void flow_uncharge(struct sdiff_reasm *r, struct flow *f, size_t n)
{
    f->mem -= n;
    sdiff_mem_release(&r->budget, n);
}

/* What shedding f frees: the reassembler's part and what the consumer keeps for it. */
static size_t flow_cost(const struct sdiff_reasm *r, const struct flow *f)
{
    size_t n = f->mem + f->half[0].ooo_mem + f->half[1].ooo_mem;
    return n + (r->cb.flow_mem != NULL ? r->cb.flow_mem(f->ud, r->ud) : 0);
}

/* ---- acknowledgement: bytes wait for the peer's ACK ------------------------------------ */

/*
 * Why wait: a segment the service's kernel rejected (bad checksum, outside the window, no
 * such connection) still shows up on the wire, and anyone who can put packets there can make
 * up whole connections. The peer's ACK is the one thing the capture shows that says the
 * service took the bytes as part of its stream, so the parser gets them only once acked.
 * What is never acked is still handed out, marked (on_data_unacked), when the flow ends or
 * when too much waits: a one-direction mirror or a capture that stops early must not lose
 * requests silently, and the consumer decides what unacknowledged bytes are worth.
 */

static void hand_data(struct sdiff_reasm *r, struct flow *f, int dir, const uint8_t *p, size_t len,
                      uint64_t ts, int acked)
{
    if (len == 0)
        return;
    if (!acked) {
        r->st.unacked_bytes += len;
        if (r->cb.on_data_unacked != NULL) {
            r->cb.on_data_unacked(f->ud, (enum sdiff_dir)dir, p, len, ts, r->ud);
            return;
        }
    }
    if (r->cb.on_data != NULL)
        r->cb.on_data(f->ud, (enum sdiff_dir)dir, p, len, ts, r->ud);
}

static void hand_gap(struct sdiff_reasm *r, struct flow *f, int dir, uint64_t len, uint64_t ts)
{
    if (r->cb.on_gap != NULL)
        r->cb.on_gap(f->ud, (enum sdiff_dir)dir, len, ts, r->ud);
}

static void hand_fin(struct sdiff_reasm *r, struct flow *f, int dir, uint64_t ts)
{
    if (r->cb.on_fin != NULL)
        r->cb.on_fin(f->ud, (enum sdiff_dir)dir, ts, r->ud);
}

/* Bytes of dir from seq on that the peer has acknowledged (0 when none). */
static uint32_t acked_from(const struct half *h, uint32_t seq, uint32_t len)
{
    if (!h->acked_seen || seq_le(h->acked, seq))
        return 0;
    uint32_t n = h->acked - seq;
    return n < len ? n : len;
}

static void held_pop(struct sdiff_reasm *r, struct flow *f)
{
    struct held *e = f->held_head;
    f->held_head = e->next;
    if (f->held_head == NULL)
        f->held_tail = NULL;
    if (e->kind == HELD_DATA) {
        f->half[e->dir].held_bytes -= e->len;
        r->held_total -= e->len;
    }
    flow_uncharge(r, f, e->cost);
    sdiff_free(e);
}

/*
 * Hand out the head of the queue while it may go: acknowledged bytes (a partly acknowledged
 * entry gives its acknowledged prefix), and the gaps and FINs they were holding back. With
 * force, everything goes, bytes not acknowledged marked as such.
 */
static void held_pump(struct sdiff_reasm *r, struct flow *f, int force)
{
    struct held *e;
    while ((e = f->held_head) != NULL) {
        struct half *h = &f->half[e->dir];
        if (e->kind == HELD_GAP) {
            hand_gap(r, f, e->dir, e->len, e->ts);
        } else if (e->kind == HELD_FIN) {
            hand_fin(r, f, e->dir, e->ts);
        } else {
            uint32_t n = acked_from(h, e->seq, e->len);
            if (n < e->len && !force) {
                if (n == 0)
                    return;
                /* The ACK fell inside this entry: hand out its acknowledged part only. */
                hand_data(r, f, e->dir, e->data, n, e->ts, 1);
                memmove(e->data, e->data + n, e->len - n);
                e->seq += n;
                e->len -= n;
                h->held_bytes -= n;
                r->held_total -= n;
                return;
            }
            hand_data(r, f, e->dir, e->data, n, e->ts, 1);
            hand_data(r, f, e->dir, e->data + n, e->len - n, e->ts, 0);
        }
        held_pop(r, f);
    }
}

/* Whether anything (acked or not) still waits in the flow's queue. */
static int held_any(const struct flow *f)
{
    return f->held_head != NULL;
}

static struct held *held_push(struct sdiff_reasm *r, struct flow *f, int dir, int kind,
                              uint32_t seq, const uint8_t *p, uint32_t len)
{
    size_t size = sizeof(struct held) + (kind == HELD_DATA ? len : 0);
    /* Over the budget, bytes cannot wait: they go out at once, unacknowledged, as if the
     * window were full (the caller's fallback), and the flows that hold most are shed next. */
    if (!sdiff_mem_try(&r->budget, sdiff_mem_cost(size)))
        return NULL;
    struct held *e = sdiff_malloc(size);
    if (e == NULL) {
        sdiff_mem_release(&r->budget, sdiff_mem_cost(size));
        r->held_oom = 1;
        return NULL;
    }
    f->mem += sdiff_mem_cost(size);
    e->cost = (uint32_t)sdiff_mem_cost(size);
    e->next = NULL;
    e->ts = r->clock;
    e->seq = seq;
    e->len = len;
    e->dir = (uint8_t)dir;
    e->kind = (uint8_t)kind;
    if (kind == HELD_DATA) {
        memcpy(e->data, p, len);
        f->half[dir].held_bytes += len;
        r->held_total += len;
    }
    if (f->held_tail != NULL)
        f->held_tail->next = e;
    else
        f->held_head = e;
    f->held_tail = e;
    return e;
}

/*
 * How much of dir may wait for an ACK. A real sender has at most the receiver's window in
 * flight, so a window's worth always fits; past that (or past the out-of-order limits when
 * the window is unknown) bytes are not going to be acknowledged in time, and the oldest are
 * handed out unacknowledged.
 */
static int held_over(const struct sdiff_reasm *r, const struct flow *f, int dir)
{
    const struct half *h = &f->half[dir], *rcv = &f->half[!dir];
    size_t cap = r->lim.max_ooo_bytes;
    if (rcv->win_seen) {
        unsigned shift = h->syn_seen && rcv->syn_seen ? (rcv->has_wscale ? rcv->wscale : 0) : 14;
        size_t wnd = (size_t)rcv->win << shift;
        if (wnd > cap)
            cap = wnd;
    }
    return h->held_bytes > cap || r->ooo_total + r->held_total > r->lim.max_total_ooo;
}

/* Hand out the oldest waiting entries, unacknowledged, until dir is back under its cap. */
static void held_shed(struct sdiff_reasm *r, struct flow *f, int dir)
{
    while (f->held_head != NULL && held_over(r, f, dir)) {
        struct held *e = f->held_head;
        struct half *h = &f->half[e->dir];
        if (e->kind == HELD_GAP)
            hand_gap(r, f, e->dir, e->len, e->ts);
        else if (e->kind == HELD_FIN)
            hand_fin(r, f, e->dir, e->ts);
        else {
            uint32_t n = acked_from(h, e->seq, e->len);
            hand_data(r, f, e->dir, e->data, n, e->ts, 1);
            hand_data(r, f, e->dir, e->data + n, e->len - n, e->ts, 0);
        }
        held_pop(r, f);
    }
}

static void emit_data(struct sdiff_reasm *r, struct flow *f, int dir, const uint8_t *p, size_t len)
{
    if (len == 0)
        return;
    struct half *h = &f->half[dir];
    /* The usual case on a capture: not yet acked, so copied; zero-copy only when acked. */
    if (r->lim.deliver_unacked || (!held_any(f) && acked_from(h, h->next, (uint32_t)len) == len)) {
        hand_data(r, f, dir, p, len, r->clock, 1);
        return;
    }
    if (f->shed) { /* waits for nothing: out now, marked for what it is */
        hand_data(r, f, dir, p, len, r->clock, 0);
        return;
    }
    if (held_push(r, f, dir, HELD_DATA, h->next, p, (uint32_t)len) == NULL) {
        /* No memory to wait: hand out what waits and these bytes now, unacknowledged. */
        held_pump(r, f, 1);
        hand_data(r, f, dir, p, len, r->clock, acked_from(h, h->next, (uint32_t)len) == len);
        return;
    }
    held_shed(r, f, dir);
}

static void emit_gap(struct sdiff_reasm *r, struct flow *f, int dir, uint64_t len)
{
    if (len == 0)
        return;
    r->st.gaps++;
    r->st.gap_bytes += len;
    /* A gap is no claim about bytes, nothing to acknowledge; it only keeps its place. */
    if (!held_any(f) || len > UINT32_MAX) {
        held_pump(r, f, held_any(f));
        hand_gap(r, f, dir, len, r->clock);
    } else if (held_push(r, f, dir, HELD_GAP, 0, NULL, (uint32_t)len) == NULL) {
        held_pump(r, f, 1);
        hand_gap(r, f, dir, len, r->clock);
    }
}

static void emit_fin(struct sdiff_reasm *r, struct flow *f, int dir)
{
    if (held_any(f) && held_push(r, f, dir, HELD_FIN, 0, NULL, 0) != NULL)
        return;
    held_pump(r, f, 1);
    hand_fin(r, f, dir, r->clock);
}

/* The peer acknowledged dir up to ack: hand out what that releases. */
static void note_ack(struct sdiff_reasm *r, struct flow *f, int dir, uint32_t ack)
{
    struct half *h = &f->half[dir];
    if (h->acked_seen && !seq_lt(h->acked, ack))
        return;
    /* An ack beyond any window of what this side sent says nothing about its bytes. */
    if (h->have_seq && ack - h->next > SEQ_WINDOW && h->next - ack > SEQ_WINDOW)
        return;
    h->acked = ack;
    h->acked_seen = 1;
    held_pump(r, f, 0);
}

/* ---- out-of-order list ----------------------------------------------------------------- */

static void ooo_pop(struct sdiff_reasm *r, struct half *h)
{
    struct ooo *n = h->head;
    h->head = n->next;
    if (h->head == NULL)
        h->tail = NULL;
    h->ooo_count--;
    if (!n->is_gap) {
        h->ooo_bytes -= n->len;
        r->ooo_total -= n->len;
    }
    size_t cost = sdiff_mem_cost(sizeof *n + (n->is_gap ? 0 : n->len));
    h->ooo_mem -= cost;
    sdiff_mem_release(&r->budget, cost);
    sdiff_free(n);
}

static void ooo_clear(struct sdiff_reasm *r, struct half *h)
{
    while (h->head != NULL)
        ooo_pop(r, h);
}

/* Link a new node for [seq, seq + len) after prev (NULL: at the head). */
static int ooo_link(struct sdiff_reasm *r, struct half *h, struct ooo *prev, uint32_t seq,
                    const uint8_t *p, uint32_t len, struct ooo **out)
{
    size_t size = sizeof(struct ooo) + (p != NULL ? len : 0);
    struct ooo *n = sdiff_malloc(size);
    if (n == NULL)
        return SDIFF_ENOMEM;
    /* ooo_fits checked the budget for the whole segment */
    h->ooo_mem += sdiff_mem_cost(size);
    sdiff_mem_charge(&r->budget, sdiff_mem_cost(size));
    n->seq = seq;
    n->len = len;
    n->is_gap = p == NULL;
    if (p != NULL) {
        memcpy(n->data, p, len);
        h->ooo_bytes += len;
        r->ooo_total += len;
    }
    h->ooo_count++;
    n->next = prev != NULL ? prev->next : h->head;
    if (prev != NULL)
        prev->next = n;
    else
        h->head = n;
    if (n->next == NULL)
        h->tail = n;
    *out = n;
    return SDIFF_OK;
}

/*
 * Insert the parts of [a, a + len) that no node covers yet (the first copy wins), or with
 * dry set only count them: *bytes new bytes in *nodes new nodes. p NULL makes gap nodes.
 */
static int ooo_insert(struct sdiff_reasm *r, struct half *h, uint32_t a, const uint8_t *p,
                      uint32_t len, int dry, size_t *bytes, size_t *nodes)
{
    uint32_t b = a + len;
    struct ooo *prev = NULL, *n = h->head, *made;
    int rc = SDIFF_OK;
    /* Segments after a hole usually arrive in order: append without a walk. */
    if (h->tail != NULL && seq_le(h->tail->seq + h->tail->len, a)) {
        prev = h->tail;
        n = NULL;
    }
    uint32_t cur = a;
    while (seq_lt(cur, b)) {
        while (n != NULL && seq_le(n->seq + n->len, cur)) {
            prev = n;
            n = n->next;
        }
        uint32_t lim = (n == NULL || seq_le(b, n->seq)) ? b : n->seq;
        if (seq_lt(cur, lim)) {
            if (!dry) {
                rc = ooo_link(r, h, prev, cur, p != NULL ? p + (cur - a) : NULL, lim - cur, &made);
                if (rc < 0)
                    return rc;
                prev = made;
            }
            *bytes += lim - cur;
            *nodes += 1;
        }
        if (n == NULL || seq_le(b, n->seq))
            break;
        cur = n->seq + n->len;
        prev = n;
        n = n->next;
    }
    return rc;
}

/* ---- delivery -------------------------------------------------------------------------- */

/* Deliver node n, which covers h->next, from h->next on. */
static void deliver_node(struct sdiff_reasm *r, struct flow *f, int dir, const struct ooo *n)
{
    struct half *h = &f->half[dir];
    uint32_t skip = h->next - n->seq;
    uint32_t left = n->len - skip;
    if (n->is_gap)
        emit_gap(r, f, dir, left);
    else
        emit_data(r, f, dir, n->data + skip, left);
    h->next += left;
}

/* Deliver buffered nodes that the expected sequence number has reached. */
static void drain(struct sdiff_reasm *r, struct flow *f, int dir)
{
    struct half *h = &f->half[dir];
    while (h->head != NULL && seq_le(h->head->seq, h->next)) {
        if (seq_lt(h->next, h->head->seq + h->head->len))
            deliver_node(r, f, dir, h->head);
        ooo_pop(r, h);
    }
}

/*
 * Deliver [seq, seq + len) of the current segment (p, or a gap when p is NULL); seq is at or
 * before next. Buffered nodes inside the range were seen first and are delivered instead of
 * the segment's copy. Returns the bytes taken from the segment.
 */
static uint32_t deliver_piece(struct sdiff_reasm *r, struct flow *f, int dir, uint32_t seq,
                              const uint8_t *p, uint32_t len)
{
    struct half *h = &f->half[dir];
    uint32_t end = seq + len, used = 0;
    while (seq_lt(h->next, end)) {
        struct ooo *n = h->head;
        if (n != NULL && seq_le(n->seq, h->next)) {
            deliver_node(r, f, dir, n);
            ooo_pop(r, h);
            continue;
        }
        uint32_t lim = (n != NULL && seq_lt(n->seq, end)) ? n->seq : end;
        uint32_t cnt = lim - h->next;
        if (p != NULL)
            emit_data(r, f, dir, p + (h->next - seq), cnt);
        else
            emit_gap(r, f, dir, cnt);
        h->next = lim;
        used += cnt;
    }
    return used;
}

/* Give up on the bytes before target: report them as a gap and deliver what follows. */
static void skip_to(struct sdiff_reasm *r, struct flow *f, int dir, uint32_t target)
{
    struct half *h = &f->half[dir];
    if (seq_lt(h->next, target)) {
        emit_gap(r, f, dir, target - h->next);
        h->next = target;
    }
    drain(r, f, dir);
}

/* Only a SYN of this direction seen: no byte, gap or FIN delivered, buffered or announced. */
static int untouched(const struct half *h)
{
    return h->syn_seen && h->next == h->isn + 1 && h->head == NULL && !h->fin_seen &&
           h->held_bytes == 0;
}

/* Deliver the FIN once every byte before it is delivered; later buffered bytes are void. */
static void try_fin(struct sdiff_reasm *r, struct flow *f, int dir)
{
    struct half *h = &f->half[dir];
    if (!h->fin_seen || h->fin_done || seq_lt(h->next, h->fin_seq))
        return;
    h->fin_done = 1;
    if (seq_lt(h->next, h->fin_seq + 1))
        h->next = h->fin_seq + 1;
    ooo_clear(r, h);
    emit_fin(r, f, dir);
}

/* Closing time: every hole before buffered data or before the FIN becomes a gap. */
static void flush_half(struct sdiff_reasm *r, struct flow *f, int dir)
{
    struct half *h = &f->half[dir];
    while (h->head != NULL)
        skip_to(r, f, dir, h->head->seq);
    if (h->fin_seen && !h->fin_done) {
        skip_to(r, f, dir, h->fin_seq);
        try_fin(r, f, dir);
    }
}

/*
 * The peer acknowledged up to ack: it received every byte before ack, so bytes of this
 * direction before ack that we have not seen passed the capture point unrecorded. On a
 * capture the ACK travels after the data it acknowledges, so they will not come later.
 */
static void ack_evidence(struct sdiff_reasm *r, struct flow *f, int dir, uint32_t ack)
{
    struct half *h = &f->half[dir];
    if (!h->have_seq || h->fin_done)
        return;
    uint32_t ahead = ack - h->next;
    if (ahead == 0 || ahead > SEQ_WINDOW)
        return;
    while (!h->fin_done && seq_lt(h->next, ack)) {
        uint32_t before = h->next;
        uint32_t lim = ack;
        if (h->head != NULL && seq_lt(h->head->seq, lim))
            lim = h->head->seq;
        if (h->fin_seen && seq_lt(h->fin_seq, lim))
            lim = h->fin_seq;
        skip_to(r, f, dir, lim);
        try_fin(r, f, dir);
        if (h->next == before && !h->fin_done)
            break;
    }
}

/* The ack is ahead of what the capture has of that direction. */
static int acks_unseen(const struct half *h, uint32_t ack)
{
    uint32_t ahead = ack - h->next;
    return h->have_seq && !h->fin_done && ahead != 0 && ahead <= SEQ_WINDOW;
}

/*
 * Whether an RST sent in direction dir would be accepted by its receiver: RFC 9293 section
 * 3.10.7.4 (and RFC 5961 section 3) accept a reset only when its sequence number falls inside
 * the receive window; anything else is a blind guess the real stack drops. The window is the
 * receiver's last advertisement, scaled as its SYN said when both SYNs were seen (RFC 7323
 * section 2.2: scaling is on only if both sides offered it). Without both SYNs the scale is
 * unknown and the largest (14) is assumed, so a real reset is never ignored for lack of
 * knowledge. Nothing known about the sender's stream or the receiver's window: nothing to
 * check against, accepted.
 */
static int rst_in_window(const struct flow *f, int dir, uint32_t seq)
{
    const struct half *h = &f->half[dir], *rcv = &f->half[!dir];
    if (!h->have_seq || !rcv->win_seen)
        return 1;
    unsigned shift = 14;
    if (h->syn_seen && rcv->syn_seen)
        shift = h->has_wscale && rcv->has_wscale ? rcv->wscale : 0;
    uint32_t wnd = (uint32_t)rcv->win << shift;
    if (wnd == 0) /* a closed window still takes the segment at exactly RCV.NXT */
        wnd = 1;
    return seq - h->next < wnd;
}

static int ooo_fits(const struct sdiff_reasm *r, const struct half *h, size_t bytes, size_t nodes)
{
    /* a node costs at most its header and bytes plus malloc's rounding (< 32) */
    size_t cost = bytes + nodes * (sizeof(struct ooo) + 32);
    return h->ooo_count + nodes <= r->lim.max_ooo_segments &&
           h->ooo_bytes + bytes <= r->lim.max_ooo_bytes &&
           r->ooo_total + bytes <= r->lim.max_total_ooo && sdiff_mem_fits(&r->budget, cost);
}

/*
 * Payload of one segment: len captured bytes at seq s, followed by missing bytes cut by the
 * snap length. In order: delivered straight from the packet. Ahead of a hole: copied into the
 * out-of-order list, giving up on holes (as gaps) while that list is over a limit.
 */
static int handle_data(struct sdiff_reasm *r, struct flow *f, int dir, uint32_t s, const uint8_t *p,
                       uint32_t len, uint32_t missing)
{
    struct half *h = &f->half[dir];
    uint32_t e = s + len + missing;
    int counted = 0;
    for (;;) {
        if (seq_le(e, h->next)) {
            r->st.retrans_segments++;
            r->st.overlap_bytes += len;
            return SDIFF_OK;
        }
        uint32_t ahead = s - h->next;
        if (ahead == 0 || ahead > UINT32_MAX / 2) {
            uint32_t used = len > 0 ? deliver_piece(r, f, dir, s, p, len) : 0;
            if (missing > 0)
                deliver_piece(r, f, dir, s + len, NULL, missing);
            drain(r, f, dir);
            r->st.overlap_bytes += len - used;
            return SDIFF_OK;
        }
        if (ahead > SEQ_WINDOW) {
            r->st.ignored_segments++;
            return SDIFF_OK;
        }
        if (!counted) {
            r->st.ooo_segments++;
            counted = 1;
        }
        size_t bytes = 0, nodes = 0, gbytes = 0;
        if (len > 0)
            ooo_insert(r, h, s, p, len, 1, &bytes, &nodes);
        if (missing > 0)
            ooo_insert(r, h, s + len, NULL, missing, 1, &gbytes, &nodes);
        if (nodes == 0) { /* every byte is buffered already */
            r->st.retrans_segments++;
            r->st.overlap_bytes += len;
            return SDIFF_OK;
        }
        if (!f->shed && ooo_fits(r, h, bytes, nodes)) {
            int rc = SDIFF_OK;
            size_t got = 0, ignored = 0;
            if (len > 0)
                rc = ooo_insert(r, h, s, p, len, 0, &got, &ignored);
            if (rc >= 0 && missing > 0)
                rc = ooo_insert(r, h, s + len, NULL, missing, 0, &gbytes, &ignored);
            if (rc < 0) /* the rest of the segment is dropped: a gap later */
                r->st.ignored_segments++;
            else
                r->st.overlap_bytes += len - got;
            return rc;
        }
        /* Over a limit: the first hole will not be filled in time; move past it. */
        r->st.ooo_limit_hits++;
        skip_to(r, f, dir, h->head != NULL ? h->head->seq : s);
    }
}

/* ---- flow table ------------------------------------------------------------------------ */

static void lru_unlink(struct sdiff_reasm *r, struct flow *f)
{
    if (f->newer != NULL)
        f->newer->older = f->older;
    else
        r->lru_newest = f->older;
    if (f->older != NULL)
        f->older->newer = f->newer;
    else
        r->lru_oldest = f->newer;
    f->newer = f->older = NULL;
}

static void lru_push(struct sdiff_reasm *r, struct flow *f)
{
    f->newer = NULL;
    f->older = r->lru_newest;
    if (r->lru_newest != NULL)
        r->lru_newest->newer = f;
    else
        r->lru_oldest = f;
    r->lru_newest = f;
}

static void flow_remove(struct sdiff_reasm *r, struct flow *f)
{
    struct flow **pp = &r->buckets[f->hash & r->bucket_mask];
    while (*pp != f)
        pp = &(*pp)->hnext;
    *pp = f->hnext;
    lru_unlink(r, f);
    if (r->cache == f)
        r->cache = NULL;
    ooo_clear(r, &f->half[0]);
    ooo_clear(r, &f->half[1]);
    while (f->held_head != NULL)
        held_pop(r, f);
    r->nflows--;
    sdiff_mem_release(&r->budget, f->mem);
    sdiff_free(f);
}

/* Deliver what can be delivered, report the close (the flow's last callback), free it. */
static void flow_close(struct sdiff_reasm *r, struct flow *f, enum sdiff_close_reason why)
{
    flush_half(r, f, SDIFF_DIR_C2S);
    flush_half(r, f, SDIFF_DIR_S2C);
    /* The flow is over: what was never acknowledged goes out now, marked. */
    held_pump(r, f, 1);
    if (r->cb.on_close != NULL)
        r->cb.on_close(f->ud, why, r->clock, r->ud);
    flow_remove(r, f);
}

/*
 * The memory budget. Past seven eighths of it (checked before and after each segment, never
 * inside a callback), flows are shed, largest first, until three quarters remain: the margin
 * leaves one segment room to be processed, and shedding in batches keeps the scans rare. The
 * largest flow is what a forged or hostile flow becomes (bytes nobody acknowledges, pipelined
 * requests with large bodies), and shedding it frees the most while losing the fewest
 * connections; among equals the least recently active goes first. Shedding is a close: what
 * the flow holds is handed out (the consumer was told by on_shed to keep nothing of it), so
 * every request in it is still seen and counted, not silently dropped.
 */
#define SHED_BATCH 32

static void shed_flow(struct sdiff_reasm *r, struct flow *f)
{
    if (f->shed) { /* shed before and still the largest: nothing left but to close it */
        flow_close(r, f, SDIFF_CLOSE_SHED);
        return;
    }
    /*
     * A shed flow is not closed: the next segment would open it again midstream, and the
     * requests in it would be lost to the resynchronisation. It holds nothing from now on:
     * holes become gaps, waiting bytes go out unacknowledged, later bytes go out as they come,
     * and the consumer keeps counts, not bytes.
     */
    r->st.flows_shed++;
    f->shed = 1;
    if (r->cb.on_shed != NULL)
        r->cb.on_shed(f->ud, r->ud);
    flush_half(r, f, SDIFF_DIR_C2S);
    flush_half(r, f, SDIFF_DIR_S2C);
    held_pump(r, f, 1);
    if (f->half[0].fin_done && f->half[1].fin_done)
        flow_close(r, f, SDIFF_CLOSE_FIN);
}

static void shed(struct sdiff_reasm *r)
{
    struct sdiff_mem_budget *b = &r->budget;
    if (b->limit == 0 || b->used <= b->limit - b->limit / 8)
        return;
    size_t target = b->limit - b->limit / 4;
    while (b->used > target && r->lru_oldest != NULL) {
        struct flow *top[SHED_BATCH];
        size_t cost[SHED_BATCH], n = 0;
        /* One scan keeps the largest SHED_BATCH, oldest first among equals. */
        for (struct flow *f = r->lru_oldest; f != NULL; f = f->newer) {
            size_t c = flow_cost(r, f);
            if (n == SHED_BATCH && c <= cost[n - 1])
                continue;
            size_t i = n < SHED_BATCH ? n++ : n - 1;
            while (i > 0 && cost[i - 1] < c) {
                top[i] = top[i - 1];
                cost[i] = cost[i - 1];
                i--;
            }
            top[i] = f;
            cost[i] = c;
        }
        for (size_t i = 0; i < n && b->used > target; i++)
            shed_flow(r, top[i]);
    }
}

/* Close flows from the idle end of the LRU list; O(1) when nothing is due. */
static void expire_idle(struct sdiff_reasm *r, uint64_t now)
{
    uint64_t idle = r->lim.idle_timeout_us;
    if (idle == 0)
        return;
    struct flow *f;
    while ((f = r->lru_oldest) != NULL && now > f->last_ts && now - f->last_ts > idle) {
        r->st.flows_expired++;
        int fin = f->half[0].fin_seen || f->half[1].fin_seen;
        flow_close(r, f, fin ? SDIFF_CLOSE_FIN : SDIFF_CLOSE_IDLE);
    }
}

static struct flow *flow_lookup(struct sdiff_reasm *r, const struct sdiff_segment *s,
                                enum sdiff_dir *dir)
{
    struct flow *f = r->cache;
    if (f != NULL && flow_match(f, s, dir))
        return f;
    uint32_t h = seg_hash(s);
    for (f = r->buckets[h & r->bucket_mask]; f != NULL; f = f->hnext) {
        if (f->hash == h && flow_match(f, s, dir)) {
            r->cache = f;
            return f;
        }
    }
    return NULL;
}

/*
 * Which side is the client: the sender of a bare SYN; not the sender of a SYN+ACK; else the
 * side talking to a server port; else the side with the higher port.
 */
static int sender_is_client(const struct sdiff_reasm *r, const struct sdiff_segment *s)
{
    if (s->flags & SDIFF_TCP_SYN)
        return !(s->flags & SDIFF_TCP_ACK);
    if (is_server_port(r, s->dport))
        return 1;
    if (is_server_port(r, s->sport))
        return 0;
    return s->sport >= s->dport;
}

static int flow_create(struct sdiff_reasm *r, const struct sdiff_segment *s, struct flow **out,
                       enum sdiff_dir *dir)
{
    struct flow *f = sdiff_calloc(1, sizeof *f);
    if (f == NULL) {
        r->st.ignored_segments++;
        return SDIFF_ENOMEM;
    }
    /* Small and needed: charged whatever the budget says (shed() ran before this segment). */
    f->mem = sdiff_mem_cost(sizeof *f);
    sdiff_mem_charge(&r->budget, f->mem);
    if (r->nflows >= r->lim.max_flows && r->lru_oldest != NULL) {
        r->st.flows_evicted++;
        flow_close(r, r->lru_oldest, SDIFF_CLOSE_EVICT);
    }
    int client = sender_is_client(r, s);
    size_t alen = s->family == 4 ? 4 : 16;
    f->family = s->family;
    f->tun = s->tun;
    memcpy(f->addr[client ? 0 : 1], s->src, alen);
    memcpy(f->addr[client ? 1 : 0], s->dst, alen);
    f->port[client ? 0 : 1] = s->sport;
    f->port[client ? 1 : 0] = s->dport;
    f->midstream = !(s->flags & SDIFF_TCP_SYN);
    f->dir_guessed = f->midstream && !is_server_port(r, s->sport) && !is_server_port(r, s->dport);
    f->id = ++r->next_id;
    f->first_ts = f->last_ts = s->ts_us;
    f->hash = seg_hash(s);
    struct flow **bucket = &r->buckets[f->hash & r->bucket_mask];
    f->hnext = *bucket;
    *bucket = f;
    lru_push(r, f);
    r->nflows++;
    r->cache = f;
    r->st.flows++;
    if (f->midstream)
        r->st.flows_midstream++;

    if (r->cb.on_open != NULL) {
        struct sdiff_flow_info info;
        memset(&info, 0, sizeof info);
        info.id = f->id;
        info.family = f->family;
        memcpy(info.client, f->addr[0], sizeof info.client);
        memcpy(info.server, f->addr[1], sizeof info.server);
        info.cport = f->port[0];
        info.sport = f->port[1];
        info.midstream = f->midstream;
        info.dir_guessed = f->dir_guessed;
        info.first_ts_us = f->first_ts;
        info.tun = f->tun;
        r->cb.on_open(&info, &f->ud, r->ud);
    }
    *out = f;
    *dir = client ? SDIFF_DIR_C2S : SDIFF_DIR_S2C;
    return SDIFF_OK;
}

/*
 * A bare SYN on a known 4-tuple with a new ISN. Returns 1 when it starts a new connection
 * (the old flow is closing, or was never seen opening), 0 when the sender is simply not
 * known yet, -1 when it should be ignored (a live connection does not restart).
 */
static int syn_starts_new_flow(const struct flow *f, enum sdiff_dir dir, uint32_t seq)
{
    const struct half *h = &f->half[dir];
    if (h->syn_seen && h->isn == seq)
        return 0; /* a retransmitted SYN */
    if (f->half[0].fin_seen || f->half[1].fin_seen || f->midstream)
        return 1;
    return h->have_seq ? -1 : 0;
}

/* One segment of a known flow, sent in direction dir. */
static int flow_segment(struct sdiff_reasm *r, struct flow *f, enum sdiff_dir dir,
                        const struct sdiff_segment *s)
{
    struct half *h = &f->half[dir];
    struct half *peer = &f->half[!dir];
    uint8_t fl = s->flags;
    int rc = SDIFF_OK;

    if (fl & SDIFF_TCP_RST) {
        if (!rst_in_window(f, dir, s->seq)) {
            r->st.rst_out_of_window++;
            return SDIFF_OK;
        }
        flow_close(r, f, SDIFF_CLOSE_RST);
        return SDIFF_OK;
    }
    if (fl & (SDIFF_TCP_ACK | SDIFF_TCP_SYN)) {
        /* The window field means something only on segments that carry an ACK or a SYN. */
        h->win = s->window;
        h->win_seen = 1;
    }
    /*
     * A side that has not sent anything yet on a flow we saw opening may be a late segment
     * of the previous connection on this 4-tuple; its ack means nothing here.
     */
    if ((fl & SDIFF_TCP_ACK) && (h->have_seq || f->midstream) && !peer->have_seq &&
        !(fl & SDIFF_TCP_SYN)) {
        /* Nothing of the peer seen yet (its SYN+ACK lost, or a midstream start): its stream
         * goes on from what this side acknowledges, so a later lost segment shows as a gap. */
        peer->next = s->ack;
        peer->have_seq = 1;
        note_ack(r, f, !dir, s->ack);
    } else if ((fl & SDIFF_TCP_ACK) && (h->have_seq || f->midstream)) {
        /* Hand out what this ack releases before any gap it shows, which follows it. */
        if (!(fl & SDIFF_TCP_SYN))
            note_ack(r, f, !dir, s->ack);
        /*
         * A client's ack shows server bytes the capture lost. Before reporting them, report
         * the client's holes before its own seq: it sent those bytes before this packet, maybe
         * before the lost server bytes (a request, then its lost response). Ordered the other
         * way, a request held behind a hole would reach the pairing after the lost response
         * and take the next response as its own. Client bytes first is the safe order either
         * way: a lost response can then only cost a request its pairing, never mispair it.
         */
        if (dir == SDIFF_DIR_C2S && !(fl & SDIFF_TCP_SYN) && h->have_seq &&
            acks_unseen(peer, s->ack))
            ack_evidence(r, f, dir, s->seq);
        ack_evidence(r, f, !dir, s->ack);
    }

    uint32_t start = s->seq;
    if (fl & SDIFF_TCP_SYN) {
        if (!h->syn_seen && !h->have_seq) {
            h->syn_seen = 1;
            h->isn = s->seq;
            h->has_wscale = s->has_wscale;
            h->wscale = s->wscale;
            h->next = s->seq + 1;
            h->have_seq = 1;
        } else if ((fl & SDIFF_TCP_ACK) && s->seq != h->isn && untouched(h)) {
            /* The server answers again with a new ISN before sending anything: the
             * handshake restarted (see below); the latest answer is the one in use. */
            h->isn = s->seq;
            h->next = s->seq + 1;
        } else if (s->len + s->missing == 0) {
            r->st.retrans_segments++;
        }
        /* The SYN+ACK names the peer's ISN + 1 even when its SYN went unseen. */
        if ((fl & SDIFF_TCP_ACK) && !peer->have_seq) {
            peer->next = s->ack;
            peer->have_seq = 1;
        } else if ((fl & SDIFF_TCP_ACK) && peer->syn_seen && s->ack != peer->next &&
                   untouched(peer)) {
            /*
             * The SYN+ACK answers a SYN other than the first one seen. Later bare SYNs with
             * new ISNs on a flow that has not started are ignored (a storm of them, or a
             * client retrying with new ISNs), so the server's ack is what says which one
             * became the connection; without following it, the client's data would sit
             * outside the window and its requests would vanish.
             */
            peer->isn = s->ack - 1;
            peer->next = s->ack;
        }
        start++;
    }

    if (s->len > SEQ_WINDOW || s->missing > SEQ_WINDOW - s->len) {
        r->st.ignored_segments++;
        goto done;
    }
    uint32_t len = (uint32_t)s->len, missing = (uint32_t)s->missing;
    int fin = (fl & SDIFF_TCP_FIN) != 0;
    if ((len + missing > 0 || fin) && !h->have_seq) {
        h->next = start;
        h->have_seq = 1;
    }
    if (h->fin_done) {
        if (len + missing > 0) {
            if (seq_le(start + len + missing, h->next)) {
                r->st.retrans_segments++;
                r->st.overlap_bytes += len;
            } else {
                r->st.ignored_segments++;
            }
        }
        goto done;
    }
    /* A FIN behind delivered data or beyond any window belongs to no stream we follow. */
    if (fin && !h->fin_seen && start + len + missing - h->next <= SEQ_WINDOW) {
        h->fin_seen = 1;
        h->fin_seq = start + len + missing;
    }
    if (h->fin_seen && seq_lt(h->fin_seq, start + len + missing)) {
        /* Nothing follows a FIN: drop what claims to. */
        if (seq_le(h->fin_seq, start)) {
            len = missing = 0;
            r->st.ignored_segments++;
        } else if (h->fin_seq - start <= len) {
            len = h->fin_seq - start;
            missing = 0;
        } else {
            missing = h->fin_seq - start - len;
        }
    }
    if (len + missing > 0)
        rc = handle_data(r, f, dir, start, s->payload, len, missing);
    try_fin(r, f, dir);

done:
    if (f->half[0].fin_done && f->half[1].fin_done)
        flow_close(r, f, SDIFF_CLOSE_FIN);
    return rc;
}

/* ---- API ------------------------------------------------------------------------------- */

int sdiff_reasm_new(struct sdiff_reasm **out, const struct sdiff_limits *limits,
                    const uint16_t *server_ports, size_t nports, const struct sdiff_reasm_cb *cb,
                    void *ud, struct sdiff_err *err)
{
    if (SDIFF_NEVER(out == NULL))
        return SDIFF_EINVAL;
    *out = NULL;
    if (SDIFF_NEVER(server_ports == NULL && nports > 0))
        return SDIFF_EINVAL;
    struct sdiff_reasm *r = sdiff_calloc(1, sizeof *r);
    if (r == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "reasm", "out of memory for the reassembler");
    if (limits != NULL) {
        r->lim = *limits;
    } else {
        struct sdiff_limits def = SDIFF_LIMITS_INIT;
        r->lim = def;
    }
    if (r->lim.max_flows == 0)
        r->lim.max_flows = 1;
    if (cb != NULL)
        r->cb = *cb;
    r->ud = ud;
    for (size_t i = 0; i < nports; i++)
        r->server_port[server_ports[i] >> 3] |= (uint8_t)(1u << (server_ports[i] & 7));

    /* About one bucket per flow, within reason; chains absorb the rest. */
    size_t nb = 16;
    while (nb < r->lim.max_flows && nb < ((size_t)1 << 20))
        nb <<= 1;
    r->buckets = sdiff_calloc(nb, sizeof *r->buckets);
    if (r->buckets == NULL) {
        sdiff_free(r);
        return sdiff_err_set(err, SDIFF_ENOMEM, "reasm", "out of memory for the flow table");
    }
    r->bucket_mask = nb - 1;
    size_t fixed = sdiff_mem_cost(sizeof *r) + sdiff_mem_cost(nb * sizeof *r->buckets);
    if (r->lim.max_memory > 0 && fixed > r->lim.max_memory / 2) {
        /* Every flow would be shed as soon as it opened: say so instead. */
        size_t mib = ((fixed * 2) >> 20) + 1, flows = r->lim.max_flows;
        sdiff_free(r->buckets);
        sdiff_free(r);
        return sdiff_err_set(err, SDIFF_EINVAL, "reasm",
                             "a memory budget under %zu MiB leaves no room beside the table "
                             "of %zu flows: give more memory or track fewer flows",
                             mib, flows);
    }
    r->budget.limit = r->lim.max_memory;
    sdiff_mem_charge(&r->budget, fixed);
    *out = r;
    return SDIFF_OK;
}

void sdiff_reasm_free(struct sdiff_reasm *r)
{
    if (r == NULL)
        return;
    sdiff_reasm_flush(r, r->latest);
    sdiff_free(r->buckets);
    sdiff_free(r);
}

int sdiff_reasm_feed(struct sdiff_reasm *r, const struct sdiff_segment *seg)
{
    if (SDIFF_NEVER(r == NULL || seg == NULL))
        return SDIFF_EINVAL;
    r->st.segments++;
    r->clock = seg->ts_us;
    if (seg->ts_us > r->latest)
        r->latest = seg->ts_us;
    expire_idle(r, seg->ts_us);
    shed(r);
    if (seg->len > 0 && seg->payload == NULL) {
        r->st.ignored_segments++;
        return SDIFF_OK;
    }

    enum sdiff_dir dir = SDIFF_DIR_C2S;
    struct flow *f = flow_lookup(r, seg, &dir);
    int syn = (seg->flags & SDIFF_TCP_SYN) != 0;
    if (f != NULL && syn && !(seg->flags & SDIFF_TCP_ACK)) {
        int fresh = syn_starts_new_flow(f, dir, seg->seq);
        if (fresh < 0) {
            r->st.ignored_segments++;
            return SDIFF_OK;
        }
        if (fresh > 0) {
            flow_close(r, f, SDIFF_CLOSE_REUSE);
            f = NULL;
        }
    }
    if (f == NULL) {
        /* Bare ACKs, FINs and RSTs of connections we do not know say nothing useful. */
        if ((seg->flags & SDIFF_TCP_RST) || (!syn && seg->len == 0 && seg->missing == 0)) {
            r->st.ignored_segments++;
            return SDIFF_OK;
        }
        int rc = flow_create(r, seg, &f, &dir);
        if (rc < 0)
            return rc;
    }
    if (r->lru_newest != f) {
        lru_unlink(r, f);
        lru_push(r, f);
    }
    if (seg->ts_us > f->last_ts)
        f->last_ts = seg->ts_us;
    r->held_oom = 0;
    int rc = flow_segment(r, f, dir, seg);
    shed(r);
    return rc < 0 ? rc : r->held_oom ? SDIFF_ENOMEM : rc;
}

void sdiff_reasm_expire(struct sdiff_reasm *r, uint64_t now_us)
{
    if (SDIFF_NEVER(r == NULL))
        return;
    r->clock = now_us;
    expire_idle(r, now_us);
}

void sdiff_reasm_flush(struct sdiff_reasm *r, uint64_t now_us)
{
    if (SDIFF_NEVER(r == NULL))
        return;
    r->clock = now_us;
    while (r->lru_oldest != NULL)
        flow_close(r, r->lru_oldest, SDIFF_CLOSE_END);
}

const struct sdiff_reasm_stats *sdiff_reasm_stats(const struct sdiff_reasm *r)
{
    return &r->st;
}

size_t sdiff_reasm_flow_count(const struct sdiff_reasm *r)
{
    return r->nflows;
}

size_t sdiff_reasm_buffered(const struct sdiff_reasm *r)
{
    return r->ooo_total;
}

struct sdiff_mem_budget *sdiff_reasm_budget(struct sdiff_reasm *r)
{
    return &r->budget;
}
