/*
 * test_reasm.c - TCP reassembly: ordering, overlaps, wraparound, direction, lifecycle, gaps,
 * limits, many flows and an out-of-memory sweep. Every callback is recorded into a transcript
 * per flow and direction ("data<gap 3>more<fin>") and compared exactly.
 */
#include "shadowdiff/reasm.h"

#include "sdiff_test.h"

#include "shadowdiff/pair.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- recorder -------------------------------------------------------------------------- */

struct str {
    char *p;
    size_t n, cap;
};

static void str_add(struct str *s, const void *p, size_t n)
{
    if (s->n + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap < s->n + n + 1)
            cap *= 2;
        s->p = realloc(s->p, cap);
        assert_non_null(s->p);
        s->cap = cap;
    }
    memcpy(s->p + s->n, p, n);
    s->n += n;
    s->p[s->n] = '\0';
}

static void str_printf(struct str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void str_printf(struct str *s, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof tmp);
    str_add(s, tmp, (size_t)n);
}

static const char *str_get(const struct str *s)
{
    return s->p != NULL ? s->p : "";
}

#define MAX_TFLOWS 1100

struct tflow {
    struct sdiff_flow_info info;
    struct str dir[2];
    int closed;
    enum sdiff_close_reason why;
};

struct rec {
    struct tflow flows[MAX_TFLOWS];
    size_t nflows;
    struct str events; /* open/close order over all flows */
};

static const char *REASON[] = {"fin", "rst", "idle", "reuse", "evict", "end"};

static void on_open(const struct sdiff_flow_info *f, void **flow_ud, void *ud)
{
    struct rec *rc = ud;
    assert_true(rc->nflows < MAX_TFLOWS);
    struct tflow *t = &rc->flows[rc->nflows++];
    assert_int_equal(f->id, rc->nflows); /* ids 1, 2, 3 ... */
    t->info = *f;
    *flow_ud = t;
    str_printf(&rc->events, "open%llu ", (unsigned long long)f->id);
}

static struct tflow *live(void *flow_ud)
{
    struct tflow *t = flow_ud;
    assert_non_null(t);
    assert_false(t->closed);
    return t;
}

static void on_data(void *flow_ud, enum sdiff_dir dir, const uint8_t *p, size_t len, uint64_t ts,
                    void *ud)
{
    (void)ts;
    (void)ud;
    assert_true(len > 0);
    str_add(&live(flow_ud)->dir[dir], p, len);
}

static void on_gap(void *flow_ud, enum sdiff_dir dir, uint64_t len, uint64_t ts, void *ud)
{
    (void)ts;
    (void)ud;
    assert_true(len > 0);
    str_printf(&live(flow_ud)->dir[dir], "<gap %llu>", (unsigned long long)len);
}

static void on_fin(void *flow_ud, enum sdiff_dir dir, uint64_t ts, void *ud)
{
    (void)ts;
    (void)ud;
    str_add(&live(flow_ud)->dir[dir], "<fin>", 5);
}

static void on_close(void *flow_ud, enum sdiff_close_reason why, uint64_t ts, void *ud)
{
    (void)ts;
    struct rec *rc = ud;
    struct tflow *t = live(flow_ud);
    t->closed = 1;
    t->why = why;
    str_printf(&rc->events, "close%llu=%s ", (unsigned long long)t->info.id, REASON[why]);
}

static const struct sdiff_reasm_cb CB = {on_open, on_data, on_gap, on_fin,
                                         on_close, NULL,    NULL,   NULL};

/*
 * The recorder for acknowledgement tests: the same transcripts, plus one line over both
 * directions ("c:GET s<gap 4>") that shows the order of callbacks across them, and bytes
 * never acknowledged written as "[u:bytes]".
 */
static void on_data_x(void *flow_ud, enum sdiff_dir dir, const uint8_t *p, size_t len, uint64_t ts,
                      void *ud)
{
    struct rec *rc = ud;
    on_data(flow_ud, dir, p, len, ts, ud);
    str_printf(&rc->events, "%c:%.*s ", dir == SDIFF_DIR_C2S ? 'c' : 's', (int)len,
               (const char *)p);
}

static void on_unacked_x(void *flow_ud, enum sdiff_dir dir, const uint8_t *p, size_t len,
                         uint64_t ts, void *ud)
{
    struct rec *rc = ud;
    (void)ts;
    assert_true(len > 0);
    str_printf(&live(flow_ud)->dir[dir], "[u:%.*s]", (int)len, (const char *)p);
    str_printf(&rc->events, "%c[u:%.*s] ", dir == SDIFF_DIR_C2S ? 'c' : 's', (int)len,
               (const char *)p);
}

static void on_gap_x(void *flow_ud, enum sdiff_dir dir, uint64_t len, uint64_t ts, void *ud)
{
    struct rec *rc = ud;
    on_gap(flow_ud, dir, len, ts, ud);
    str_printf(&rc->events, "%c<gap %llu> ", dir == SDIFF_DIR_C2S ? 'c' : 's',
               (unsigned long long)len);
}

static const struct sdiff_reasm_cb CBX = {on_open, on_data_x, on_gap_x, on_fin, on_close,
                                          on_unacked_x, NULL, NULL};

static void rec_free(struct rec *rc)
{
    for (size_t i = 0; i < rc->nflows; i++) {
        free(rc->flows[i].dir[0].p);
        free(rc->flows[i].dir[1].p);
    }
    free(rc->events.p);
    free(rc);
}

/* ---- harness --------------------------------------------------------------------------- */

struct t {
    struct sdiff_reasm *r;
    struct rec *rc;
    uint64_t ts;
    uint8_t family;
};

#define C 0 /* sent by the client (10.0.0.1:cport) */
#define S 1 /* sent by the server (10.0.0.2:sport) */

static struct t *t_new_cb(const struct sdiff_limits *lim, const uint16_t *ports, size_t nports,
                          const struct sdiff_reasm_cb *cb)
{
    struct t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->rc = calloc(1, sizeof *t->rc);
    assert_non_null(t->rc);
    t->family = 4;
    t->ts = 1000000;
    assert_int_equal(sdiff_reasm_new(&t->r, lim, ports, nports, cb, t->rc, NULL), SDIFF_OK);
    return t;
}

/*
 * Most cases here are about ordering, not acknowledgement, and send no ACKs for the data:
 * they take the bytes as they arrive. The acknowledgement cases use t_new_acked.
 */
static struct t *t_new_with(const struct sdiff_limits *lim, const uint16_t *ports, size_t nports)
{
    struct sdiff_limits l = *lim;
    l.deliver_unacked = 1;
    return t_new_cb(&l, ports, nports, &CB);
}

static struct t *t_new_acked(const struct sdiff_limits *lim)
{
    const uint16_t ports[] = {80};
    struct sdiff_limits def = SDIFF_LIMITS_INIT;
    return t_new_cb(lim != NULL ? lim : &def, ports, 1, &CBX);
}

static struct t *t_new(void)
{
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    const uint16_t ports[] = {80};
    return t_new_with(&lim, ports, 1);
}

static void t_free(struct t *t)
{
    sdiff_reasm_free(t->r);
    rec_free(t->rc);
    free(t);
}

static struct sdiff_segment mkseg(uint8_t family, int from, uint16_t cport, uint16_t sport,
                                  uint8_t flags, uint32_t seq, uint32_t ack, const char *data)
{
    struct sdiff_segment s;
    memset(&s, 0, sizeof s);
    s.family = family;
    uint8_t ca[16] = {10, 0, 0, 1}, sa[16] = {10, 0, 0, 2};
    if (family == 6) {
        const uint8_t c6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
        const uint8_t s6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
        memcpy(ca, c6, 16);
        memcpy(sa, s6, 16);
    }
    memcpy(from == C ? s.src : s.dst, ca, 16);
    memcpy(from == C ? s.dst : s.src, sa, 16);
    s.sport = from == C ? cport : sport;
    s.dport = from == C ? sport : cport;
    s.flags = flags;
    s.seq = seq;
    s.ack = ack;
    s.payload = (const uint8_t *)data;
    s.len = data != NULL ? strlen(data) : 0;
    return s;
}

/* Feed on flow (cport 40000, sport 80); ts advances by 1 us per segment. */
static int feedp(struct t *t, uint16_t cport, int from, uint8_t flags, uint32_t seq, uint32_t ack,
                 const char *data)
{
    struct sdiff_segment s = mkseg(t->family, from, cport, 80, flags, seq, ack, data);
    s.ts_us = t->ts++;
    return sdiff_reasm_feed(t->r, &s);
}

static void feed(struct t *t, int from, uint8_t flags, uint32_t seq, uint32_t ack, const char *data)
{
    assert_int_equal(feedp(t, 40000, from, flags, seq, ack, data), SDIFF_OK);
}

#define SYN SDIFF_TCP_SYN
#define ACK SDIFF_TCP_ACK
#define FIN SDIFF_TCP_FIN
#define RST SDIFF_TCP_RST
#define PSH SDIFF_TCP_PSH

/* Client ISN 100, server ISN 5000: client data starts at 101, server data at 5001. */
static void handshake(struct t *t)
{
    feed(t, C, SYN, 100, 0, NULL);
    feed(t, S, SYN | ACK, 5000, 101, NULL);
    feed(t, C, ACK, 101, 5001, NULL);
}

static struct tflow *flow(struct t *t, size_t id)
{
    assert_true(id >= 1 && id <= t->rc->nflows);
    return &t->rc->flows[id - 1];
}

static const char *c2s(struct t *t, size_t id)
{
    return str_get(&flow(t, id)->dir[SDIFF_DIR_C2S]);
}

static const char *s2c(struct t *t, size_t id)
{
    return str_get(&flow(t, id)->dir[SDIFF_DIR_S2C]);
}

static const struct sdiff_reasm_stats *stats(struct t *t)
{
    return sdiff_reasm_stats(t->r);
}

/* ---- ordering -------------------------------------------------------------------------- */

static void test_reasm__in_order_exchange_delivers_both_directions(void **state)
{
    (void)state;
    struct t *t = t_new();
    handshake(t);
    feed(t, C, ACK | PSH, 101, 5001, "GET / ");
    feed(t, C, ACK | PSH, 107, 5001, "HTTP/1.1\r\n\r\n");
    feed(t, S, ACK | PSH, 5001, 119, "HTTP/1.1 200 OK\r\n\r\n");
    feed(t, C, ACK | FIN, 119, 5020, NULL);
    feed(t, S, ACK | FIN, 5020, 120, NULL);
    feed(t, C, ACK, 120, 5021, NULL);
    assert_string_equal(c2s(t, 1), "GET / HTTP/1.1\r\n\r\n<fin>");
    assert_string_equal(s2c(t, 1), "HTTP/1.1 200 OK\r\n\r\n<fin>");
    assert_string_equal(str_get(&t->rc->events), "open1 close1=fin ");
    struct tflow *f = flow(t, 1);
    assert_int_equal(f->info.cport, 40000);
    assert_int_equal(f->info.sport, 80);
    assert_int_equal(f->info.midstream, 0);
    assert_int_equal(f->info.family, 4);
    assert_int_equal(f->info.client[0], 10);
    assert_int_equal(f->info.client[3], 1);
    assert_int_equal(f->info.server[3], 2);
    assert_int_equal(sdiff_reasm_flow_count(t->r), 0);
    assert_int_equal(stats(t)->flows, 1);
    assert_int_equal(stats(t)->gaps, 0);
    assert_int_equal(stats(t)->segments, 9);
    assert_int_equal(stats(t)->ignored_segments, 1); /* the last ACK: flow already closed */
    t_free(t);
}

static void test_reasm__every_permutation_of_four_segments_delivers_same_bytes(void **state)
{
    (void)state;
    const char *parts[4] = {"aaaa", "bbbbb", "cc", "ddddddd"};
    uint32_t seqs[4] = {101, 105, 110, 112};
    int perm[4] = {0, 1, 2, 3};
    int count = 0;
    for (;;) {
        struct t *t = t_new();
        handshake(t);
        for (int i = 0; i < 4; i++)
            feed(t, C, ACK | PSH, seqs[perm[i]], 5001, parts[perm[i]]);
        /* delivered already, before any flush */
        assert_string_equal(c2s(t, 1), "aaaabbbbbccddddddd");
        assert_int_equal(sdiff_reasm_buffered(t->r), 0);
        assert_int_equal(stats(t)->gaps, 0);
        t_free(t);
        count++;
        /* next permutation (lexicographic) */
        int i = 2;
        while (i >= 0 && perm[i] > perm[i + 1])
            i--;
        if (i < 0)
            break;
        int j = 3;
        while (perm[j] < perm[i])
            j--;
        int tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
        for (int a = i + 1, b = 3; a < b; a++, b--) {
            tmp = perm[a];
            perm[a] = perm[b];
            perm[b] = tmp;
        }
    }
    assert_int_equal(count, 24);
}

static void test_reasm__retransmission_counted_and_dropped(void **state)
{
    (void)state;
    struct t *t = t_new();
    handshake(t);
    feed(t, C, ACK, 101, 5001, "abcd");
    feed(t, C, ACK, 101, 5001, "abcd");
    feed(t, C, ACK, 105, 5001, "efgh");
    feed(t, C, ACK, 103, 5001, "cd");
    feed(t, C, SYN, 100, 0, NULL); /* a late SYN retransmit is harmless */
    assert_string_equal(c2s(t, 1), "abcdefgh");
    assert_int_equal(stats(t)->retrans_segments, 3);
    assert_int_equal(stats(t)->overlap_bytes, 6);
    assert_int_equal(stats(t)->flows, 1);
    t_free(t);
}

static void test_reasm__overlapping_retransmit_keeps_first_copy(void **state)
{
    (void)state;
    struct t *t = t_new();
    handshake(t);
    /* in order, then a longer copy overlapping its tail */
    feed(t, C, ACK, 101, 5001, "abcdef");
    feed(t, C, ACK, 103, 5001, "XXXXghij");
    assert_string_equal(c2s(t, 1), "abcdefghij");
    /* buffered ahead of a hole, then a segment that fills the hole and overlaps it */
    feed(t, C, ACK, 113, 5001, "mn");         /* 113..114 */
    feed(t, C, ACK, 117, 5001, "qr");         /* 117..118 */
    feed(t, C, ACK, 111, 5001, "KLMNOPQRST"); /* 111..120 */
    assert_string_equal(c2s(t, 1), "abcdefghijKLmnOPqrST");
    /* overlaps among buffered segments */
    feed(t, C, ACK, 125, 5001, "wxyz");    /* 125..128 */
    feed(t, C, ACK, 123, 5001, "WWWW");    /* 123..126: keeps wx */
    feed(t, C, ACK, 124, 5001, "!!!!!!!"); /* 124..130: only 129..130 new */
    feed(t, C, ACK, 121, 5001, "uv");
    assert_string_equal(c2s(t, 1), "abcdefghijKLmnOPqrSTuvWWwxyz!!");
    assert_int_equal(sdiff_reasm_buffered(t->r), 0);
    assert_int_equal(stats(t)->overlap_bytes, 4 + 4 + 2 + 5);
    t_free(t);
}

static void test_reasm__sequence_wraparound_delivers_in_order(void **state)
{
    (void)state;
    struct t *t = t_new();
    feed(t, C, SYN, 0xfffffff8u, 0, NULL);
    feed(t, S, SYN | ACK, 0xfffffffeu, 0xfffffff9u, NULL);
    feed(t, C, ACK, 0xfffffff9u, 0xffffffffu, NULL);
    feed(t, C, ACK, 0x00000000u, 0xffffffffu, "789"); /* after the wrap, ahead of a hole */
    feed(t, C, ACK, 0xfffffff9u, 0xffffffffu, "0123456");
    assert_string_equal(c2s(t, 1), "0123456789");
    feed(t, S, ACK, 0xffffffffu, 0x3, "wrap!");
    feed(t, S, ACK, 0x3, 0x3, "!x"); /* overlaps the '!' at 3 */
    assert_string_equal(s2c(t, 1), "wrap!x");
    assert_int_equal(stats(t)->gaps, 0);
    t_free(t);
}

/* ---- direction ------------------------------------------------------------------------- */

static void test_reasm__midstream_start_takes_direction_from_server_port(void **state)
{
    (void)state;
    struct t *t = t_new();
    /* the first packet comes from the server (port 80) */
    feed(t, S, ACK | PSH, 7000, 300, "response");
    feed(t, C, ACK | PSH, 300, 7008, "request");
    struct tflow *f = flow(t, 1);
    assert_int_equal(f->info.midstream, 1);
    assert_int_equal(f->info.cport, 40000);
    assert_int_equal(f->info.sport, 80);
    assert_string_equal(c2s(t, 1), "request");
    assert_string_equal(s2c(t, 1), "response");
    assert_int_equal(stats(t)->flows_midstream, 1);
    t_free(t);
}

static void test_reasm__without_server_port_higher_port_is_client(void **state)
{
    (void)state;
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    struct t *t = t_new_with(&lim, NULL, 0);
    /* port 80 is not configured here; 40000 > 80, so 40000 is the client either way */
    feed(t, S, ACK | PSH, 7000, 300, "from80");
    struct tflow *f = flow(t, 1);
    assert_int_equal(f->info.cport, 40000);
    assert_int_equal(f->info.sport, 80);
    assert_string_equal(s2c(t, 1), "from80");
    /* another flow, first packet from the high port */
    struct sdiff_segment s = mkseg(4, C, 50000, 9000, ACK, 1, 1, "hi");
    assert_int_equal(sdiff_reasm_feed(t->r, &s), SDIFF_OK);
    assert_int_equal(flow(t, 2)->info.cport, 50000);
    assert_string_equal(c2s(t, 2), "hi");
    t_free(t);
}

static void test_reasm__syn_sender_is_client_and_syn_ack_sender_is_server(void **state)
{
    (void)state;
    struct t *t = t_new();
    /* SYN from port 80 to port 40000: the SYN decides, not the ports */
    struct sdiff_segment s = mkseg(4, S, 40000, 80, SYN, 1, 0, NULL);
    assert_int_equal(sdiff_reasm_feed(t->r, &s), SDIFF_OK);
    assert_int_equal(flow(t, 1)->info.cport, 80);
    assert_int_equal(flow(t, 1)->info.midstream, 0);
    /* a flow first seen at its SYN+ACK (SYN lost): the sender is the server */
    s = mkseg(4, C, 41000, 80, SYN | ACK, 900, 51, NULL);
    assert_int_equal(sdiff_reasm_feed(t->r, &s), SDIFF_OK);
    assert_int_equal(flow(t, 2)->info.sport, 41000);
    assert_int_equal(flow(t, 2)->info.cport, 80);
    /* and the SYN+ACK told us where the client's data starts: a lost first segment shows */
    s = mkseg(4, S, 41000, 80, ACK, 55, 901, "late");
    assert_int_equal(sdiff_reasm_feed(t->r, &s), SDIFF_OK);
    sdiff_reasm_flush(t->r, t->ts);
    assert_string_equal(c2s(t, 2), "<gap 4>late");
    t_free(t);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static void test_reasm__fin_from_both_sides_closes_after_delivery(void **state)
{
    (void)state;
    struct t *t = t_new();
    handshake(t);
    feed(t, C, ACK | FIN, 105, 5001, "efg"); /* FIN ahead of a hole */
    assert_string_equal(c2s(t, 1), "");
    feed(t, S, ACK | FIN, 5001, 101, "bye");
    assert_string_equal(s2c(t, 1), "bye<fin>");
    assert_int_equal(sdiff_reasm_flow_count(t->r), 1);
    feed(t, C, ACK, 101, 5005, "abcd"); /* fills the hole: FIN delivered, flow closes */
    assert_string_equal(c2s(t, 1), "abcdefg<fin>");
    assert_string_equal(str_get(&t->rc->events), "open1 close1=fin ");
    assert_int_equal(sdiff_reasm_flow_count(t->r), 0);
    /* retransmitted FIN and ACK after the close create nothing */
    feed(t, S, ACK | FIN, 5004, 109, NULL);
    assert_int_equal(sdiff_reasm_flow_count(t->r), 0);
    assert_int_equal(stats(t)->flows, 1);
    t_free(t);
}

static void test_reasm__rst_delivers_buffered_data_then_closes(void **state)
{
    (void)state;
    struct t *t = t_new();
    handshake(t);
    feed(t, C, ACK, 101, 5001, "ab");
    feed(t, C, ACK, 106, 5001, "fg");
    feed(t, S, RST, 5001, 0, NULL);
    assert_string_equal(c2s(t, 1), "ab<gap 3>fg");
    assert_string_equal(str_get(&t->rc->events), "open1 close1=rst ");
    assert_int_equal(sdiff_reasm_flow_count(t->r), 0);
    assert_int_equal(sdiff_reasm_buffered(t->r), 0);
    /* a RST for an unknown flow is ignored */
    uint64_t ign = stats(t)->ignored_segments;
    feed(t, S, RST | ACK, 5001, 101, NULL);
    assert_int_equal(stats(t)->ignored_segments, ign + 1);
    assert_int_equal(stats(t)->flows, 1);
    t_free(t);
}

/* Feed with an advertised window (the helpers above send window 0). */
static void feedw(struct t *t, int from, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win,
                  const char *data)
{
    struct sdiff_segment s = mkseg(t->family, from, 40000, 80, flags, seq, ack, data);
    s.window = win;
    s.ts_us = t->ts++;
    assert_int_equal(sdiff_reasm_feed(t->r, &s), SDIFF_OK);
}

static void test_reasm__rst_outside_receive_window_ignored(void **state)
{
    (void)state;
    struct t *t = t_new();
    feedw(t, C, SYN, 100, 0, 1000, NULL);
    feedw(t, S, SYN | ACK, 5000, 101, 2000, NULL);
    feedw(t, C, ACK, 101, 5001, 1000, NULL);
    feedw(t, C, ACK | PSH, 101, 5001, 1000, "GET / HTTP/1.1\r\n\r\n");
    feedw(t, S, ACK, 5001, 119, 2000, NULL);
    /* blind resets: past the client's window of 1000, and just behind what it received */
    feedw(t, S, RST, 5001 + 1000, 0, 0, NULL);
    feedw(t, S, RST | ACK, 5000, 119, 0, NULL);
    /* and one from the client side, past the server's window of 2000 */
    feedw(t, C, RST, 119 + 2000, 0, 0, NULL);
    assert_int_equal(stats(t)->rst_out_of_window, 3);
    assert_int_equal(sdiff_reasm_flow_count(t->r), 1);
    feedw(t, S, ACK | PSH, 5001, 119, 2000, "HTTP/1.1 200 OK\r\n\r\n");
    /* inside the window, not at its left edge: accepted */
    feedw(t, C, RST, 119 + 1999, 0, 0, NULL);
    assert_string_equal(c2s(t, 1), "GET / HTTP/1.1\r\n\r\n");
    assert_string_equal(s2c(t, 1), "HTTP/1.1 200 OK\r\n\r\n");
    assert_string_equal(str_get(&t->rc->events), "open1 close1=rst ");
    t_free(t);
}

static void test_reasm__rst_window_uses_scale_only_when_both_syns_offer_it(void **state)
{
    (void)state;
    for (int both = 0; both < 2; both++) {
        struct t *t = t_new();
        struct sdiff_segment s = mkseg(4, C, 40000, 80, SYN, 100, 0, NULL);
        s.window = 100;
        s.has_wscale = 1;
        s.wscale = 4; /* the client's window counts in 16-byte units */
        s.ts_us = t->ts++;
        assert_int_equal(sdiff_reasm_feed(t->r, &s), SDIFF_OK);
        s = mkseg(4, S, 40000, 80, SYN | ACK, 5000, 101, NULL);
        s.window = 100;
        s.has_wscale = (uint8_t)both;
        s.wscale = 2;
        s.ts_us = t->ts++;
        assert_int_equal(sdiff_reasm_feed(t->r, &s), SDIFF_OK);
        feedw(t, C, ACK, 101, 5001, 100, NULL);
        /* 500 bytes ahead: inside 100 << 4 = 1600, outside an unscaled 100 */
        feedw(t, S, RST, 5001 + 500, 0, 0, NULL);
        assert_int_equal(sdiff_reasm_flow_count(t->r), both ? 0 : 1);
        assert_int_equal(stats(t)->rst_out_of_window, both ? 0 : 1);
        t_free(t);
    }
}

/* ---- acknowledgement ------------------------------------------------------------------- */

static void test_reasm__bytes_wait_for_the_peers_ack(void **state)
{
    (void)state;
    struct t *t = t_new_acked(NULL);
    handshake(t);
    feed(t, C, ACK | PSH, 101, 5001, "GET /");
    assert_string_equal(c2s(t, 1), "");
    feed(t, S, ACK, 5001, 104, NULL); /* acknowledges 3 of the 5 bytes */
    assert_string_equal(c2s(t, 1), "GET");
    feed(t, S, ACK | PSH, 5001, 106, "HTTP/1.1"); /* the rest, then the server's bytes */
    assert_string_equal(c2s(t, 1), "GET /");
    assert_string_equal(s2c(t, 1), "");
    feed(t, C, ACK | FIN, 106, 5009, NULL);
    feed(t, S, ACK | FIN, 5009, 107, NULL);
    assert_string_equal(s2c(t, 1), "HTTP/1.1<fin>");
    assert_string_equal(c2s(t, 1), "GET /<fin>");
    assert_string_equal(str_get(&t->rc->events), "open1 c:GET c: / s:HTTP/1.1 close1=fin ");
    assert_int_equal(stats(t)->unacked_bytes, 0);
    t_free(t);
}

static void test_reasm__never_acked_bytes_come_out_marked_at_the_end(void **state)
{
    (void)state;
    struct t *t = t_new_acked(NULL);
    /* no handshake, no packet from the server: a made-up connection or a one-way mirror */
    feed(t, C, ACK | PSH, 9000, 77, "POST /admin ");
    feed(t, C, ACK | PSH, 9012, 77, "HTTP/1.1");
    assert_string_equal(c2s(t, 1), "");
    sdiff_reasm_flush(t->r, t->ts);
    assert_string_equal(c2s(t, 1), "[u:POST /admin ][u:HTTP/1.1]");
    assert_int_equal(stats(t)->unacked_bytes, 20);
    /* and a reset, too, hands out what its flow never had acknowledged */
    handshake(t);
    feed(t, C, ACK | PSH, 101, 5001, "GET /a");
    feed(t, S, ACK, 5001, 105, NULL);
    feed(t, S, RST, 5001, 0, NULL);
    assert_string_equal(c2s(t, 2), "GET [u:/a]");
    t_free(t);
}

static void test_reasm__waiting_bytes_keep_their_order_across_directions(void **state)
{
    (void)state;
    struct t *t = t_new_acked(NULL);
    handshake(t);
    feed(t, C, ACK | PSH, 101, 5001, "req1");
    feed(t, S, ACK | PSH, 5001, 105, "resp1");
    feed(t, C, ACK | PSH, 105, 5006, "req2");
    /* the client acknowledges server bytes the capture never saw: a gap behind req2 */
    feed(t, C, ACK, 109, 5020, NULL);
    assert_string_equal(str_get(&t->rc->events), "open1 c:req1 s:resp1 ");
    feed(t, S, ACK | PSH, 5020, 109, "resp3");
    assert_string_equal(str_get(&t->rc->events), "open1 c:req1 s:resp1 c:req2 s<gap 14> ");
    feed(t, C, ACK, 109, 5025, NULL);
    assert_string_equal(str_get(&t->rc->events),
                        "open1 c:req1 s:resp1 c:req2 s<gap 14> s:resp3 ");
    t_free(t);
}

static void test_reasm__too_much_waiting_is_handed_out_unacknowledged(void **state)
{
    (void)state;
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    lim.max_ooo_bytes = 8;
    struct t *t = t_new_acked(&lim);
    /* midstream, no window known: the out-of-order cap bounds what waits */
    feed(t, C, ACK | PSH, 9000, 77, "abcdef");
    feed(t, C, ACK | PSH, 9006, 77, "ghij");
    assert_string_equal(c2s(t, 1), "[u:abcdef]");
    assert_int_equal(stats(t)->unacked_bytes, 6);
    feed(t, S, ACK, 77, 9010, NULL);
    assert_string_equal(c2s(t, 1), "[u:abcdef]ghij");
    t_free(t);
}

static void test_reasm__any_split_and_ack_points_give_the_same_bytes(void **state)
{
    (void)state;
    const char *msg = "GET /x HTTP/1.1\r\n\r\n";
    uint32_t n = (uint32_t)strlen(msg);
    for (uint32_t cut = 1; cut < n; cut++) {
        for (uint32_t ackp = 0; ackp <= n; ackp++) {
            struct t *t = t_new_acked(NULL);
            handshake(t);
            char a[64], b[64];
            snprintf(a, sizeof a, "%.*s", (int)cut, msg);
            snprintf(b, sizeof b, "%s", msg + cut);
            feed(t, C, ACK, 101, 5001, a);
            feed(t, S, ACK, 5001, 101 + (ackp < cut ? ackp : cut), NULL);
            feed(t, C, ACK, 101 + cut, 5001, b);
            feed(t, S, ACK, 5001, 101 + ackp, NULL);
            feed(t, S, ACK, 5001, 101 + n, NULL);
            assert_string_equal(c2s(t, 1), msg);
            assert_int_equal(stats(t)->unacked_bytes, 0);
            t_free(t);
        }
    }
}

static void test_reasm__handshake_follows_the_syn_the_server_answered(void **state)
{
    (void)state;
    struct t *t = t_new();
    /* a storm of SYNs with new ISNs, then the one the server answers (twice, new ISN) */
    for (uint32_t i = 0; i < 10; i++)
        feed(t, C, SYN, 1000u + i * 7919u, 0, NULL);
    feed(t, C, SYN, 900000, 0, NULL);
    feed(t, S, SYN | ACK, 4000, 900001, NULL);
    feed(t, S, SYN | ACK, 5000, 900001, NULL);
    feed(t, C, ACK, 900001, 5001, NULL);
    feed(t, C, ACK | PSH, 900001, 5001, "POST /pay");
    feed(t, S, ACK | PSH, 5001, 900010, "HTTP/1.1");
    assert_string_equal(c2s(t, 1), "POST /pay");
    assert_string_equal(s2c(t, 1), "HTTP/1.1");
    assert_int_equal(stats(t)->flows, 1);
    assert_int_equal(stats(t)->gaps, 0);
    /* once the client has sent bytes, a SYN+ACK no longer moves anything */
    feed(t, S, SYN | ACK, 7000, 123, NULL);
    feed(t, C, ACK | PSH, 900010, 5009, " HTTP/1.1");
    assert_string_equal(c2s(t, 1), "POST /pay HTTP/1.1");
    t_free(t);
}

static void test_reasm__idle_flow_expires(void **state)
{
    (void)state;
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    lim.idle_timeout_us = 1000;
    const uint16_t ports[] = {80};
    struct t *t = t_new_with(&lim, ports, 1);
    handshake(t);
    feed(t, C, ACK, 101, 5001, "abc");
    feed(t, C, ACK, 106, 5001, "f"); /* buffered behind a hole */
    /* another flow 999 us later keeps the first one */
    t->ts += 990;
    assert_int_equal(feedp(t, 40001, C, ACK, 1, 1, "x"), SDIFF_OK);
    assert_int_equal(sdiff_reasm_flow_count(t->r), 2);
    t->ts += 20;
    assert_int_equal(feedp(t, 40001, C, ACK, 2, 1, "y"), SDIFF_OK);
    assert_string_equal(str_get(&t->rc->events), "open1 open2 close1=idle ");
    assert_string_equal(c2s(t, 1), "abc<gap 2>f");
    assert_int_equal(stats(t)->flows_expired, 1);
    /* explicit expiry; a half-closed flow that goes idle closes as FIN */
    assert_int_equal(feedp(t, 40001, C, ACK | FIN, 3, 1, NULL), SDIFF_OK);
    sdiff_reasm_expire(t->r, t->ts + 500);
    assert_int_equal(sdiff_reasm_flow_count(t->r), 1);
    sdiff_reasm_expire(t->r, t->ts + 1001);
    assert_int_equal(sdiff_reasm_flow_count(t->r), 0);
    assert_string_equal(str_get(&t->rc->events), "open1 open2 close1=idle close2=fin ");
    assert_string_equal(c2s(t, 2), "xy<fin>");
    assert_int_equal(stats(t)->flows_expired, 2);
    t_free(t);
}

static void test_reasm__new_syn_on_closing_tuple_reuses_it(void **state)
{
    (void)state;
    struct t *t = t_new();
    handshake(t);
    feed(t, C, ACK, 101, 5001, "one");
    feed(t, C, ACK | FIN, 104, 5001, NULL);
    /* server never FINs; the client port comes back with a new ISN */
    feed(t, C, SYN, 90000, 0, NULL);
    feed(t, S, SYN | ACK, 777, 90001, NULL);
    feed(t, C, ACK, 90001, 778, "two");
    assert_string_equal(str_get(&t->rc->events), "open1 close1=reuse open2 ");
    assert_string_equal(c2s(t, 1), "one<fin>");
    assert_string_equal(c2s(t, 2), "two");
    assert_int_equal(flow(t, 2)->info.midstream, 0);
    /* a SYN with another ISN on a live connection is not a new connection */
    feed(t, C, SYN, 123456, 0, NULL);
    assert_int_equal(sdiff_reasm_flow_count(t->r), 1);
    feed(t, C, ACK, 90004, 778, "!");
    assert_string_equal(c2s(t, 2), "two!");
    /* after a full close the tuple opens as a plain new flow */
    feed(t, C, ACK | FIN, 90005, 778, NULL);
    feed(t, S, ACK | FIN, 778, 90006, NULL);
    feed(t, C, SYN, 5, 0, NULL);
    assert_string_equal(str_get(&t->rc->events), "open1 close1=reuse open2 close2=fin open3 ");
    t_free(t);
}

static void test_reasm__data_after_close_opens_midstream_flow_bare_ack_does_not(void **state)
{
    (void)state;
    struct t *t = t_new();
    handshake(t);
    feed(t, S, RST, 5001, 0, NULL);
    feed(t, C, ACK, 101, 5001, NULL);
    feed(t, C, ACK | FIN, 101, 5001, NULL);
    assert_int_equal(sdiff_reasm_flow_count(t->r), 0);
    feed(t, C, ACK, 101, 5001, "late");
    assert_int_equal(sdiff_reasm_flow_count(t->r), 1);
    assert_int_equal(flow(t, 2)->info.midstream, 1);
    assert_string_equal(c2s(t, 2), "late");
    assert_int_equal(stats(t)->ignored_segments, 2);
    t_free(t);
}

/* ---- gaps and limits ------------------------------------------------------------------- */

static void test_reasm__ooo_segment_limit_reports_gap_then_continues(void **state)
{
    (void)state;
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    lim.max_ooo_segments = 2;
    const uint16_t ports[] = {80};
    struct t *t = t_new_with(&lim, ports, 1);
    handshake(t);
    feed(t, C, ACK, 101, 5001, "ab");
    /* 103..104 lost */
    feed(t, C, ACK, 105, 5001, "ef");
    feed(t, C, ACK, 109, 5001, "ij"); /* 107..108 lost too */
    assert_int_equal(sdiff_reasm_buffered(t->r), 4);
    feed(t, C, ACK, 111, 5001, "kl"); /* third: over the limit */
    assert_string_equal(c2s(t, 1), "ab<gap 2>ef");
    assert_int_equal(sdiff_reasm_buffered(t->r), 4);
    feed(t, C, ACK, 113, 5001, "mn"); /* over again: skip 107..108, then mn is in order */
    assert_string_equal(c2s(t, 1), "ab<gap 2>ef<gap 2>ijklmn");
    assert_int_equal(sdiff_reasm_buffered(t->r), 0);
    feed(t, C, ACK, 107, 5001, "gh"); /* too late now */
    feed(t, C, ACK, 115, 5001, "op");
    assert_string_equal(c2s(t, 1), "ab<gap 2>ef<gap 2>ijklmnop");
    assert_int_equal(stats(t)->ooo_limit_hits, 2);
    assert_int_equal(stats(t)->gaps, 2);
    assert_int_equal(stats(t)->gap_bytes, 4);
    assert_int_equal(stats(t)->retrans_segments, 1);
    t_free(t);
}

static void test_reasm__ooo_byte_limits_report_gap(void **state)
{
    (void)state;
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    lim.max_ooo_bytes = 5;
    const uint16_t ports[] = {80};
    struct t *t = t_new_with(&lim, ports, 1);
    handshake(t);
    feed(t, C, ACK, 103, 5001, "cdef"); /* 4 bytes buffered */
    feed(t, C, ACK, 107, 5001, "ghij"); /* would be 8 */
    assert_string_equal(c2s(t, 1), "<gap 2>cdefghij");
    feed(t, C, ACK, 120, 5001, "0123456789"); /* alone bigger than the limit */
    assert_string_equal(c2s(t, 1), "<gap 2>cdefghij<gap 9>0123456789");
    t_free(t);

    /* total over all flows */
    lim = (struct sdiff_limits)SDIFF_LIMITS_INIT;
    lim.max_total_ooo = 6;
    t = t_new_with(&lim, ports, 1);
    assert_int_equal(feedp(t, 1111, C, ACK, 1, 1, "a"), SDIFF_OK);
    assert_int_equal(feedp(t, 2222, C, ACK, 1, 1, "a"), SDIFF_OK);
    assert_int_equal(feedp(t, 1111, C, ACK, 3, 1, "cdef"), SDIFF_OK);
    assert_int_equal(sdiff_reasm_buffered(t->r), 4);
    assert_int_equal(feedp(t, 2222, C, ACK, 3, 1, "cdef"), SDIFF_OK);
    assert_int_equal(sdiff_reasm_buffered(t->r), 4);
    assert_string_equal(c2s(t, 2), "a<gap 1>cdef");
    assert_string_equal(c2s(t, 1), "a");
    assert_int_equal(stats(t)->ooo_limit_hits, 1);
    t_free(t);
}

static void test_reasm__ack_beyond_next_seq_reports_gap_at_once(void **state)
{
    (void)state;
    struct t *t = t_new();
    handshake(t);
    feed(t, C, ACK, 101, 5001, "abcd");
    /* 105..108 lost by the capture; the server acknowledges them */
    feed(t, S, ACK, 5001, 109, NULL);
    assert_string_equal(c2s(t, 1), "abcd<gap 4>");
    feed(t, C, ACK, 109, 5001, "ijkl");
    assert_string_equal(c2s(t, 1), "abcd<gap 4>ijkl");
    /* with data buffered behind the hole: gap, then the buffered bytes */
    feed(t, C, ACK, 117, 5001, "qrst"); /* 113..116 lost */
    assert_string_equal(c2s(t, 1), "abcd<gap 4>ijkl");
    feed(t, S, ACK | PSH, 5001, 121, "ok");
    assert_string_equal(c2s(t, 1), "abcd<gap 4>ijkl<gap 4>qrst");
    assert_string_equal(s2c(t, 1), "ok");
    /* an ack within what we have is no evidence */
    feed(t, S, ACK, 5003, 110, NULL);
    /* two holes, acked past both */
    feed(t, C, ACK, 123, 5003, "w");  /* 121, 122 lost */
    feed(t, C, ACK, 126, 5003, "zz"); /* 124, 125 lost */
    feed(t, S, ACK, 5003, 130, NULL); /* and 128, 129 */
    assert_string_equal(c2s(t, 1), "abcd<gap 4>ijkl<gap 4>qrst<gap 2>w<gap 2>zz<gap 2>");
    assert_int_equal(stats(t)->gaps, 5);
    /* the FIN is not a byte of data */
    feed(t, C, ACK | FIN, 132, 5003, NULL); /* 130, 131 lost */
    feed(t, S, ACK, 5003, 133, NULL);
    assert_string_equal(c2s(t, 1),
                        "abcd<gap 4>ijkl<gap 4>qrst<gap 2>w<gap 2>zz<gap 2><gap 2><fin>");
    t_free(t);
}

static void test_reasm__snaplen_missing_bytes_reported_in_order(void **state)
{
    (void)state;
    struct t *t = t_new();
    handshake(t);
    struct sdiff_segment s = mkseg(4, C, 40000, 80, ACK, 101, 5001, "abcd");
    s.missing = 6;
    assert_int_equal(sdiff_reasm_feed(t->r, &s), SDIFF_OK);
    assert_string_equal(c2s(t, 1), "abcd<gap 6>");
    /* ahead of a hole: kept in order behind it */
    s = mkseg(4, C, 40000, 80, ACK, 115, 5001, "op");
    s.missing = 3;
    assert_int_equal(sdiff_reasm_feed(t->r, &s), SDIFF_OK);
    feed(t, C, ACK, 120, 5001, "tu");
    feed(t, C, ACK, 111, 5001, "klmn");
    assert_string_equal(c2s(t, 1), "abcd<gap 6>klmnop<gap 3>tu");
    /* only missing bytes */
    s = mkseg(4, C, 40000, 80, ACK, 122, 5001, NULL);
    s.missing = 5;
    assert_int_equal(sdiff_reasm_feed(t->r, &s), SDIFF_OK);
    feed(t, C, ACK, 127, 5001, "!");
    assert_string_equal(c2s(t, 1), "abcd<gap 6>klmnop<gap 3>tu<gap 5>!");
    t_free(t);
}

static void test_reasm__full_flow_table_evicts_least_recently_active(void **state)
{
    (void)state;
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    lim.max_flows = 2;
    const uint16_t ports[] = {80};
    struct t *t = t_new_with(&lim, ports, 1);
    assert_int_equal(feedp(t, 1001, C, ACK, 1, 1, "a"), SDIFF_OK);
    assert_int_equal(feedp(t, 1002, C, ACK, 1, 1, "b"), SDIFF_OK);
    assert_int_equal(feedp(t, 1001, C, ACK, 2, 1, "a"), SDIFF_OK); /* 1002 is now the oldest */
    assert_int_equal(feedp(t, 1003, C, ACK, 1, 1, "c"), SDIFF_OK);
    assert_string_equal(str_get(&t->rc->events), "open1 open2 close2=evict open3 ");
    assert_int_equal(sdiff_reasm_flow_count(t->r), 2);
    assert_int_equal(stats(t)->flows_evicted, 1);
    assert_int_equal(feedp(t, 1001, C, ACK, 3, 1, "a"), SDIFF_OK);
    assert_string_equal(c2s(t, 1), "aaa");
    t_free(t);
}

static void test_reasm__flush_delivers_buffered_data_with_gaps(void **state)
{
    (void)state;
    struct t *t = t_new();
    handshake(t);
    feed(t, C, ACK, 103, 5001, "cd");
    feed(t, C, ACK, 107, 5001, "gh");
    feed(t, S, ACK | FIN, 5003, 101, "zz"); /* FIN behind a 2-byte hole */
    assert_int_equal(sdiff_reasm_buffered(t->r), 6);
    sdiff_reasm_flush(t->r, t->ts);
    assert_string_equal(c2s(t, 1), "<gap 2>cd<gap 2>gh");
    assert_string_equal(s2c(t, 1), "<gap 2>zz<fin>");
    assert_string_equal(str_get(&t->rc->events), "open1 close1=end ");
    assert_int_equal(sdiff_reasm_buffered(t->r), 0);
    assert_int_equal(sdiff_reasm_flow_count(t->r), 0);
    t_free(t);
}

static void test_reasm__free_closes_open_flows_with_end(void **state)
{
    (void)state;
    struct t *t = t_new();
    handshake(t);
    feed(t, C, ACK, 102, 5001, "b");
    struct rec *rc = t->rc;
    sdiff_reasm_free(t->r);
    assert_string_equal(str_get(&rc->events), "open1 close1=end ");
    assert_string_equal(str_get(&rc->flows[0].dir[0]), "<gap 1>b");
    rec_free(rc);
    free(t);
}

static void test_reasm__segments_and_fins_outside_the_window_ignored(void **state)
{
    (void)state;
    struct t *t = t_new();
    handshake(t);
    feed(t, C, ACK, 101, 5001, "abcd");
    feed(t, C, ACK, 101 + 0x50000000u, 5001, "far"); /* beyond any TCP window */
    feed(t, C, ACK | FIN, 90, 5001, NULL);           /* a FIN behind delivered data */
    feed(t, S, ACK, 5001, 101 + 0x60000000u, NULL);  /* an ack beyond any window */
    assert_int_equal(sdiff_reasm_buffered(t->r), 0);
    feed(t, C, ACK, 105, 5001, "efgh");
    assert_string_equal(c2s(t, 1), "abcdefgh");
    assert_int_equal(stats(t)->gaps, 0);
    assert_int_equal(stats(t)->ignored_segments, 1);
    sdiff_reasm_flush(t->r, t->ts);
    assert_string_equal(c2s(t, 1), "abcdefgh");
    t_free(t);
}

/* ---- flows ----------------------------------------------------------------------------- */

static void test_reasm__ipv6_flow_reassembles(void **state)
{
    (void)state;
    struct t *t = t_new();
    t->family = 6;
    handshake(t);
    feed(t, C, ACK, 105, 5001, "efgh");
    feed(t, C, ACK, 101, 5001, "abcd");
    feed(t, S, ACK, 5001, 109, "ok");
    /* the same ports over IPv4 are another flow */
    t->family = 4;
    feed(t, C, ACK, 101, 5001, "v4");
    assert_string_equal(c2s(t, 1), "abcdefgh");
    assert_string_equal(s2c(t, 1), "ok");
    assert_int_equal(flow(t, 1)->info.family, 6);
    assert_int_equal(flow(t, 1)->info.client[0], 0x20);
    assert_int_equal(flow(t, 1)->info.client[15], 1);
    assert_string_equal(c2s(t, 2), "v4");
    t_free(t);
}

static void test_reasm__many_interleaved_flows_each_get_their_bytes(void **state)
{
    (void)state;
    enum { NF = 500, ROUNDS = 6 };
    struct t *t = t_new();
    for (int i = 0; i < NF; i++) {
        struct sdiff_segment s =
            mkseg(4, C, (uint16_t)(10000 + i), 80, SYN, (uint32_t)i * 7919u, 0, NULL);
        s.ts_us = t->ts++;
        assert_int_equal(sdiff_reasm_feed(t->r, &s), SDIFF_OK);
    }
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < NF; i++) {
            /* odd flows send their rounds pairwise swapped: out of order */
            int rr = (i & 1) ? (round ^ 1) : round;
            char data[16];
            snprintf(data, sizeof data, "%03d-%d;", i, rr);
            struct sdiff_segment s = mkseg(4, C, (uint16_t)(10000 + i), 80, ACK,
                                           (uint32_t)i * 7919u + 1 + (uint32_t)rr * 6, 1, data);
            s.ts_us = t->ts++;
            assert_int_equal(sdiff_reasm_feed(t->r, &s), SDIFF_OK);
        }
    }
    assert_int_equal(sdiff_reasm_flow_count(t->r), NF);
    assert_int_equal(sdiff_reasm_buffered(t->r), 0);
    for (int i = 0; i < NF; i++) {
        char want[64] = "";
        for (int round = 0; round < ROUNDS; round++) {
            char part[16];
            snprintf(part, sizeof part, "%03d-%d;", i, round);
            strcat(want, part);
        }
        assert_string_equal(c2s(t, (size_t)i + 1), want);
        assert_int_equal(flow(t, (size_t)i + 1)->info.cport, 10000 + i);
    }
    t_free(t);
}

static void test_reasm__null_callbacks_and_unknown_bare_segments_are_fine(void **state)
{
    (void)state;
    struct sdiff_reasm *r = NULL;
    assert_int_equal(sdiff_reasm_new(&r, NULL, NULL, 0, NULL, NULL, NULL), SDIFF_OK);
    struct sdiff_segment s = mkseg(4, C, 40000, 80, ACK, 1, 1, NULL);
    assert_int_equal(sdiff_reasm_feed(r, &s), SDIFF_OK); /* bare ACK: no flow */
    s.flags = ACK | FIN;
    assert_int_equal(sdiff_reasm_feed(r, &s), SDIFF_OK);
    assert_int_equal(sdiff_reasm_flow_count(r), 0);
    assert_int_equal(sdiff_reasm_stats(r)->ignored_segments, 2);
    s = mkseg(4, C, 40000, 80, ACK, 1, 1, "data");
    assert_int_equal(sdiff_reasm_feed(r, &s), SDIFF_OK);
    s = mkseg(4, C, 40000, 80, ACK, 9, 1, "more");
    assert_int_equal(sdiff_reasm_feed(r, &s), SDIFF_OK);
    s = mkseg(4, S, 40000, 80, ACK, 1, 7, NULL);
    assert_int_equal(sdiff_reasm_feed(r, &s), SDIFF_OK);
    assert_int_equal(sdiff_reasm_flow_count(r), 1);
    assert_int_equal(sdiff_reasm_stats(r)->gap_bytes, 2);
    sdiff_reasm_free(r);
    sdiff_reasm_free(NULL);
}

/* ---- out of memory --------------------------------------------------------------------- */

/* A scenario touching every allocation site; returns 1 when some call reported ENOMEM. */
static int oom_scenario(struct rec *rc)
{
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    lim.max_flows = 3;
    const uint16_t ports[] = {80};
    struct sdiff_reasm *r = NULL;
    if (sdiff_reasm_new(&r, &lim, ports, 1, &CB, rc, NULL) == SDIFF_ENOMEM)
        return 1;
    int failed = 0;
    for (int f = 0; f < 5; f++) {
        uint16_t cport = (uint16_t)(3000 + f);
        struct sdiff_segment segs[] = {
            mkseg(4, C, cport, 80, SYN, 10, 0, NULL),
            mkseg(4, S, cport, 80, SYN | ACK, 70, 11, NULL),
            mkseg(4, C, cport, 80, ACK, 15, 71, "fghi"),
            mkseg(4, C, cport, 80, ACK, 21, 71, "lm"),
            mkseg(4, C, cport, 80, ACK, 11, 71, "bcde"),
            mkseg(4, S, cport, 80, ACK | PSH, 71, 23, "reply"),
            mkseg(4, C, cport, 80, ACK | FIN, 23, 76, NULL),
        };
        for (size_t i = 0; i < sizeof segs / sizeof segs[0]; i++) {
            segs[i].ts_us = (uint64_t)f * 100 + i;
            int rc2 = sdiff_reasm_feed(r, &segs[i]);
            assert_true(rc2 == SDIFF_OK || rc2 == SDIFF_ENOMEM);
            failed |= rc2 == SDIFF_ENOMEM;
        }
    }
    sdiff_reasm_free(r);
    return failed;
}

/* One run of the sweep: SDIFF_ENOMEM when a call reported it, SDIFF_OK when the run gave
 * exactly the reference's bytes and events. */
static int oom_run(void *ud)
{
    const struct rec *ref = ud;
    struct rec *rc = calloc(1, sizeof *rc);
    assert_non_null(rc);
    int failed = oom_scenario(rc);
    /* every flow that opened was closed exactly once, failure or not */
    for (size_t i = 0; i < rc->nflows; i++)
        assert_true(rc->flows[i].closed);
    int ret = SDIFF_ENOMEM;
    if (!failed) {
        ret = SDIFF_OK;
        if (strcmp(str_get(&rc->events), str_get(&ref->events)) != 0)
            ret = SDIFF_ERR;
        for (size_t i = 0; i < ref->nflows && ret == SDIFF_OK; i++)
            if (strcmp(str_get(&rc->flows[i].dir[0]), str_get(&ref->flows[i].dir[0])) != 0 ||
                strcmp(str_get(&rc->flows[i].dir[1]), str_get(&ref->flows[i].dir[1])) != 0)
                ret = SDIFF_ERR;
    }
    rec_free(rc);
    return ret;
}

static void test_reasm__out_of_memory_sweep_fails_cleanly(void **state)
{
    (void)state;
    struct rec *ref = calloc(1, sizeof *ref);
    assert_non_null(ref);
    assert_int_equal(oom_scenario(ref), 0);
    assert_true(sdiff_test_oom_sweep(oom_run, ref, 10000) > 3);
    assert_string_equal(str_get(&ref->flows[4].dir[0]), "bcdefghi<gap 2>lm<fin>");
    rec_free(ref);
}

/* ---- memory budget --------------------------------------------------------------------- */

/*
 * Forged traffic from the security review: flows with no handshake, every segment with a bad
 * TCP checksum (the service's kernel would drop each one), pipelined POSTs with large bodies
 * that nobody acknowledges. Raw IPv4 frames go through the decoder, then the reassembler and
 * the pairer share one budget, as in a capture.
 */
#define FORGED_FLOWS 16
#define FORGED_REQS 24
#define FORGED_BODY (256u << 10)
#define FORGED_SEG (16u << 10)

struct forged {
    uint64_t by_state[SDIFF_EX__COUNT];
    uint64_t exchanges;
    struct sdiff_mem_budget *budget;
    size_t worst;
};

static void forged_collect(struct sdiff_exchange *ex, void *ud)
{
    struct forged *fg = ud;
    fg->by_state[ex->state]++;
    fg->exchanges++;
    if (ex->state == SDIFF_EX_SHED)
        assert_true(strncmp(ex->note, "shed: ", 6) == 0);
    sdiff_exchange_free(ex);
}

/* Feed the forged load round-robin over the flows; fg->worst is the budget's peak. */
static void forged_run(size_t memory, struct forged *fg, uint64_t *flows_shed)
{
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    lim.max_memory = memory;
    lim.max_body = FORGED_BODY;
    struct sdiff_pair *pair = NULL;
    struct sdiff_reasm *r = NULL;
    static const uint16_t port = 8080;
    memset(fg, 0, sizeof *fg);
    assert_int_equal(sdiff_pair_new(&pair, &lim, forged_collect, fg, NULL), SDIFF_OK);
    assert_int_equal(sdiff_reasm_new(&r, &lim, &port, 1, sdiff_pair_reasm_cb(), pair, NULL),
                     SDIFF_OK);
    fg->budget = sdiff_reasm_budget(r);
    sdiff_pair_use_budget(pair, fg->budget);
    size_t fixed = fg->budget->used;

    /* one flow's stream: FORGED_REQS pipelined POSTs */
    char head[128];
    int hl = snprintf(head, sizeof head,
                      "POST /upload HTTP/1.1\r\nHost: svc\r\nContent-Length: %u\r\n\r\n",
                      FORGED_BODY);
    size_t one = (size_t)hl + FORGED_BODY, len = one * FORGED_REQS;
    uint8_t *stream = malloc(len), *frame = malloc(40 + FORGED_SEG);
    assert_non_null(stream);
    assert_non_null(frame);
    for (size_t i = 0; i < FORGED_REQS; i++) {
        memcpy(stream + i * one, head, (size_t)hl);
        memset(stream + i * one + hl, 'x' + (int)(i % 3), FORGED_BODY);
    }
    uint64_t ts = 1700000000000000ull;
    for (size_t off = 0; off < len; off += FORGED_SEG) {
        size_t n = len - off < FORGED_SEG ? len - off : FORGED_SEG;
        for (int fl = 0; fl < FORGED_FLOWS; fl++) {
            size_t flen =
                sdiff_test_forged_frame(frame, fl, 1000u + (uint32_t)off, stream + off, n);
            struct sdiff_segment seg;
            assert_int_equal(sdiff_decode_frame(101, frame, flen, flen, ts += 10, &seg),
                             SDIFF_DECODE_TCP);
            assert_int_equal(sdiff_decode_tcp_checksum(&seg), 0);
            sdiff_reasm_feed(r, &seg);
            if (memory > 0)
                assert_true(fg->budget->used <= memory);
        }
    }
    sdiff_reasm_flush(r, ts);
    /* everything given back: only the flow table is left */
    assert_int_equal(fg->budget->used, fixed);
    fg->worst = fg->budget->peak;
    *flows_shed = sdiff_reasm_stats(r)->flows_shed;
    sdiff_reasm_free(r);
    sdiff_pair_free(pair);
    free(stream);
    free(frame);
}

static void test_reasm__memory_budget_bounds_forged_flows_and_counts_shed_requests(void **state)
{
    (void)state;
    const size_t budget = 16u << 20;
    struct forged *fg = calloc(1, sizeof *fg);
    uint64_t shed_flows = 0;
    assert_non_null(fg);

    /* Without a budget this load holds far more than the budget (the test can fail). */
    forged_run(0, fg, &shed_flows);
    size_t unbounded = fg->worst;
    assert_true(unbounded > 4 * budget);
    assert_int_equal(shed_flows, 0);
    assert_int_equal(fg->exchanges, FORGED_FLOWS * FORGED_REQS);

    forged_run(budget, fg, &shed_flows);
    assert_true(fg->worst <= budget);
    assert_true(shed_flows > 0);
    /* Every request line is an exchange, the shed ones counted as such; none replayable. */
    assert_int_equal(fg->exchanges, FORGED_FLOWS * FORGED_REQS);
    assert_true(fg->by_state[SDIFF_EX_SHED] > 0);
    assert_int_equal(fg->by_state[SDIFF_EX_COMPLETE], 0);
    assert_int_equal(fg->by_state[SDIFF_EX_SHED] + fg->by_state[SDIFF_EX_UNACKNOWLEDGED],
                     FORGED_FLOWS * FORGED_REQS);
    print_message("forged load: peak %zu bytes unbounded, %zu of a %zu budget; %llu flows and "
                  "%llu requests shed\n",
                  unbounded, fg->worst, budget, (unsigned long long)shed_flows,
                  (unsigned long long)fg->by_state[SDIFF_EX_SHED]);
    free(fg);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_reasm__in_order_exchange_delivers_both_directions),
    cmocka_unit_test(test_reasm__every_permutation_of_four_segments_delivers_same_bytes),
    cmocka_unit_test(test_reasm__retransmission_counted_and_dropped),
    cmocka_unit_test(test_reasm__overlapping_retransmit_keeps_first_copy),
    cmocka_unit_test(test_reasm__sequence_wraparound_delivers_in_order),
    cmocka_unit_test(test_reasm__midstream_start_takes_direction_from_server_port),
    cmocka_unit_test(test_reasm__without_server_port_higher_port_is_client),
    cmocka_unit_test(test_reasm__syn_sender_is_client_and_syn_ack_sender_is_server),
    cmocka_unit_test(test_reasm__fin_from_both_sides_closes_after_delivery),
    cmocka_unit_test(test_reasm__rst_delivers_buffered_data_then_closes),
    cmocka_unit_test(test_reasm__rst_outside_receive_window_ignored),
    cmocka_unit_test(test_reasm__rst_window_uses_scale_only_when_both_syns_offer_it),
    cmocka_unit_test(test_reasm__bytes_wait_for_the_peers_ack),
    cmocka_unit_test(test_reasm__never_acked_bytes_come_out_marked_at_the_end),
    cmocka_unit_test(test_reasm__waiting_bytes_keep_their_order_across_directions),
    cmocka_unit_test(test_reasm__too_much_waiting_is_handed_out_unacknowledged),
    cmocka_unit_test(test_reasm__any_split_and_ack_points_give_the_same_bytes),
    cmocka_unit_test(test_reasm__handshake_follows_the_syn_the_server_answered),
    cmocka_unit_test(test_reasm__idle_flow_expires),
    cmocka_unit_test(test_reasm__new_syn_on_closing_tuple_reuses_it),
    cmocka_unit_test(test_reasm__data_after_close_opens_midstream_flow_bare_ack_does_not),
    cmocka_unit_test(test_reasm__ooo_segment_limit_reports_gap_then_continues),
    cmocka_unit_test(test_reasm__ooo_byte_limits_report_gap),
    cmocka_unit_test(test_reasm__ack_beyond_next_seq_reports_gap_at_once),
    cmocka_unit_test(test_reasm__snaplen_missing_bytes_reported_in_order),
    cmocka_unit_test(test_reasm__full_flow_table_evicts_least_recently_active),
    cmocka_unit_test(test_reasm__flush_delivers_buffered_data_with_gaps),
    cmocka_unit_test(test_reasm__free_closes_open_flows_with_end),
    cmocka_unit_test(test_reasm__segments_and_fins_outside_the_window_ignored),
    cmocka_unit_test(test_reasm__ipv6_flow_reassembles),
    cmocka_unit_test(test_reasm__many_interleaved_flows_each_get_their_bytes),
    cmocka_unit_test(test_reasm__null_callbacks_and_unknown_bare_segments_are_fine),
    cmocka_unit_test(test_reasm__out_of_memory_sweep_fails_cleanly),
    cmocka_unit_test(test_reasm__memory_budget_bounds_forged_flows_and_counts_shed_requests),
};
SDIFF_TEST_MAIN(tests)
