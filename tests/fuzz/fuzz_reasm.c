/*
 * fuzz_reasm.c - libFuzzer target for the reassembler (and, on the raw input, the decoder).
 *
 * The input is a sequence of 6-byte operations, each a synthetic segment on one of four
 * 4-tuples (flags, sequence offset, payload length, missing bytes, time step, ack offset).
 * Payload byte at sequence q is (q + salt) mod 256, so every delivered byte must follow the
 * previous one (plus any gap) exactly. Checked: bytes delivered never exceed bytes fed, no
 * callback after on_close, no data after on_fin, buffered() and the flow count within limits.
 *
 * Built by CMake with -DSDIFF_FUZZ=ON (tests/fuzz/README.md), run as
 *   build-fuzz/tests/fuzz/fuzz_reasm -max_len=4096 corpus/ seeds/reasm/
 */
#include "sdiff_fuzz.h"

#include <stdint.h>
#include <string.h>

#include "shadowdiff/decode.h"
#include "shadowdiff/reasm.h"

#define NTUPLES 4
#define MAX_RECS 4096

#define CHECK(x) SDIFF_FUZZ_CHECK(x)

struct rec_dir {
    int have_last;
    uint8_t expect; /* value of the next byte (after gaps) */
    int fin;
};

struct rec {
    int tuple;
    int client_side; /* which side (0: "a", 1: "b") of the tuple is the client */
    int closed;
    struct rec_dir dir[2];
};

struct state {
    struct rec recs[MAX_RECS];
    size_t nrecs;
    uint64_t fed[NTUPLES][2];       /* payload bytes fed per tuple side */
    uint64_t delivered[NTUPLES][2]; /* bytes delivered per tuple side */
};

static struct state st;

static const uint16_t PORT_A[NTUPLES] = {40000, 40001, 80, 5555};
static const uint16_t PORT_B[NTUPLES] = {80, 80, 40002, 5555};

static uint8_t salt(int tuple, int side)
{
    return (uint8_t)(tuple * 37 + side * 101);
}

static void on_open(const struct sdiff_flow_info *f, void **flow_ud, void *ud)
{
    (void)ud;
    CHECK(st.nrecs < MAX_RECS);
    struct rec *r = &st.recs[st.nrecs++];
    memset(r, 0, sizeof *r);
    r->tuple = -1;
    for (int t = 0; t < NTUPLES; t++) {
        int fam = t == 3 ? 6 : 4;
        if (f->family != fam)
            continue;
        if (f->cport == PORT_A[t] && f->sport == PORT_B[t] && f->client[fam == 4 ? 3 : 15] == 1)
            r->tuple = t, r->client_side = 0;
        else if (f->cport == PORT_B[t] && f->sport == PORT_A[t] &&
                 f->client[fam == 4 ? 3 : 15] == 2)
            r->tuple = t, r->client_side = 1;
    }
    CHECK(r->tuple >= 0);
    *flow_ud = r;
}

static struct rec *live(void *flow_ud)
{
    struct rec *r = flow_ud;
    CHECK(r != NULL && !r->closed);
    return r;
}

/* dir (C2S/S2C) of the flow -> side of the tuple */
static int side_of(const struct rec *r, enum sdiff_dir dir)
{
    return dir == SDIFF_DIR_C2S ? r->client_side : !r->client_side;
}

static void on_data(void *flow_ud, enum sdiff_dir dir, const uint8_t *p, size_t len, uint64_t ts,
                    void *ud)
{
    (void)ts;
    (void)ud;
    struct rec *r = live(flow_ud);
    struct rec_dir *d = &r->dir[dir];
    CHECK(len > 0 && !d->fin);
    int side = side_of(r, dir);
    for (size_t i = 0; i < len; i++) {
        if (d->have_last)
            CHECK(p[i] == d->expect);
        d->have_last = 1;
        d->expect = (uint8_t)(p[i] + 1);
    }
    st.delivered[r->tuple][side] += len;
    CHECK(st.delivered[r->tuple][side] <= st.fed[r->tuple][side]);
}

static void on_gap(void *flow_ud, enum sdiff_dir dir, uint64_t len, uint64_t ts, void *ud)
{
    (void)ts;
    (void)ud;
    struct rec *r = live(flow_ud);
    struct rec_dir *d = &r->dir[dir];
    CHECK(len > 0 && !d->fin);
    d->expect = (uint8_t)(d->expect + len);
}

static void on_fin(void *flow_ud, enum sdiff_dir dir, uint64_t ts, void *ud)
{
    (void)ts;
    (void)ud;
    struct rec *r = live(flow_ud);
    CHECK(!r->dir[dir].fin);
    r->dir[dir].fin = 1;
}

static void on_close(void *flow_ud, enum sdiff_close_reason why, uint64_t ts, void *ud)
{
    (void)ts;
    (void)ud;
    CHECK(why <= SDIFF_CLOSE_END);
    live(flow_ud)->closed = 1;
}

/* The decoder must never read outside the frame, whatever the link type. */
static void fuzz_decode(const uint8_t *data, size_t size)
{
    static const int lts[] = {0, 1, 101, 108, 113, 229, 276};
    for (size_t i = 0; i < sizeof lts / sizeof lts[0]; i++) {
        struct sdiff_segment seg;
        size_t wire = size + (size > 0 ? data[0] : 0);
        if (sdiff_decode_frame(lts[i], data, size, wire, 0, &seg) == SDIFF_DECODE_TCP) {
            CHECK(seg.payload >= data && seg.payload + seg.len <= data + size);
            CHECK(seg.family == 4 || seg.family == 6);
        }
    }
}

int sdiff_fuzz_reasm(const uint8_t *data, size_t size)
{
    fuzz_decode(data, size);
    if (size < 1)
        return 0;
    memset(&st, 0, sizeof st);

    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    lim.max_flows = 3;
    lim.max_ooo_bytes = 48;
    lim.max_ooo_segments = 4;
    lim.max_total_ooo = 80;
    lim.idle_timeout_us = 20000;
    const uint16_t ports[] = {80};
    const struct sdiff_reasm_cb cb = {on_open, on_data, on_gap,  on_fin,
                                      on_close, on_data, NULL, NULL};
    uint8_t cfg = data[0];
    data++;
    size--;
    if (cfg & 0x80) /* fail allocations from some point on */
        sdiff_alloc_fail_after(cfg & 0x3f);
    struct sdiff_reasm *r = NULL;
    if (sdiff_reasm_new(&r, &lim, ports, (cfg & 0x40) ? 1 : 0, &cb, NULL, NULL) < 0) {
        sdiff_alloc_fail_after(-1);
        return 0;
    }

    uint32_t base[NTUPLES][2] = {
        {1000, 2000}, {0xffffff80u, 0x7fffffc0u}, {5, 0xfffffff0u}, {123456, 654321}};
    uint64_t ts = 1000;
    uint8_t payload[64 + 1];
    for (size_t off = 0; off + 6 <= size; off += 6) {
        const uint8_t *op = data + off;
        int tuple = op[0] & 3;
        int side = (op[0] >> 2) & 1;
        if ((op[0] & 0xe0) == 0xe0) { /* an explicit expiry now and then */
            sdiff_reasm_expire(r, ts + (uint64_t)op[1] * 200);
            continue;
        }
        uint8_t flags = op[1] & (SDIFF_TCP_FIN | SDIFF_TCP_SYN | SDIFF_TCP_ACK | SDIFF_TCP_PSH);
        if ((op[1] & 0x24) == 0x24)
            flags |= SDIFF_TCP_RST;
        if ((op[1] & 0xc0) == 0xc0) /* a new incarnation of this side */
            base[tuple][side] += 0x10000;
        uint32_t seq = base[tuple][side] + op[2] - ((flags & SDIFF_TCP_SYN) ? 1u : 0u);
        size_t len = op[3] & 0x3f;
        size_t missing = (op[3] >> 6) * 3u;
        ts += (uint64_t)op[4] * 100;
        uint32_t start = seq + ((flags & SDIFF_TCP_SYN) ? 1u : 0u);
        for (size_t i = 0; i < len; i++)
            payload[i] = (uint8_t)(start + i + salt(tuple, side));

        struct sdiff_segment s;
        memset(&s, 0, sizeof s);
        s.ts_us = ts;
        s.family = tuple == 3 ? 6 : 4;
        uint8_t *me = side == 0 ? s.src : s.dst, *peer = side == 0 ? s.dst : s.src;
        me[0] = peer[0] = 10;
        me[s.family == 4 ? 3 : 15] = 1;
        peer[s.family == 4 ? 3 : 15] = 2;
        s.sport = side == 0 ? PORT_A[tuple] : PORT_B[tuple];
        s.dport = side == 0 ? PORT_B[tuple] : PORT_A[tuple];
        s.seq = seq;
        s.ack = base[tuple][!side] + op[5];
        s.flags = flags;
        s.payload = len > 0 ? payload : NULL;
        s.len = len;
        s.missing = missing;
        st.fed[tuple][side] += len;
        int rc = sdiff_reasm_feed(r, &s);
        CHECK(rc == SDIFF_OK || rc == SDIFF_ENOMEM);
        CHECK(sdiff_reasm_buffered(r) <= lim.max_total_ooo);
        CHECK(sdiff_reasm_flow_count(r) <= lim.max_flows);
        if (st.nrecs + 8 > MAX_RECS)
            break;
    }
    if (cfg & 0x20)
        sdiff_reasm_flush(r, ts);
    sdiff_reasm_free(r);
    sdiff_alloc_fail_after(-1);
    for (size_t i = 0; i < st.nrecs; i++)
        CHECK(st.recs[i].closed);
    return 0;
}
