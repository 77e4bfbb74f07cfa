/*
 * fuzz_packets.c - libFuzzer target for the capture path after libpcap: raw frames through
 * the decoder (lib/decode), the reassembler (lib/reasm) and the pairer (lib/pair), as
 * sdiff_run_capture wires them.
 *
 * Input (tests/fuzz/seeds.sh turns the fixture pcaps into it):
 *
 *   cfg(1) oom(1) { caplen(2, big-endian) tstep(1) cut(1) frame(caplen) }...
 *
 *   cfg bits 0-2  link type: 1 Ethernet, 113 Linux cooked, 276 cooked v2, 0 BSD loopback,
 *                 101 raw IP, 108 OpenBSD loopback, 228 raw IPv4, 229 raw IPv6
 *         bit 3   tight limits (few flows, small buffers, bodies and pipeline, 1 s idle, a
 *                 32 KiB memory budget, so flows are shed); else the defaults, but for
 *                 256 flows
 *         bit 4   discard bodies (lengths only)
 *         bit 5   port 80 is a server port
 *         bit 6   end with sdiff_reasm_flush (else sdiff_reasm_free closes the flows)
 *         bit 7   allocation number `oom` and every later one fail
 *   tstep         time since the previous frame: < 128 in 100 us steps, else (tstep - 128) in
 *                 100 ms steps
 *   cut           bytes the snap length cut (wire length - caplen)
 *
 * Frames are decapsulated as the pipeline does by default (VXLAN on 4789 and 8472, Geneve on
 * 6081, GRE and ERSPAN; the tunnel_* fixtures seed it). A last frame longer than what is
 * left is cut to it. Checked: decoded payload views stay in
 * the frame; every exchange is well formed (NUL-terminated strings of the stated lengths,
 * kept bodies within the limit and what was seen, a complete exchange has both messages
 * whole); exchanges of a connection come out in request order; the pairer's counters match
 * what it handed out; the memory budget's count never passes it after a segment and is back
 * to the flow table alone once the flows are closed; nothing stays tracked or buffered.
 *
 * Built by CMake with -DSDIFF_FUZZ=ON (tests/fuzz/README.md), run as
 *   build-fuzz/tests/fuzz/fuzz_packets -max_len=8192 corpus/ seeds/packets/
 */
#include "sdiff_fuzz.h"

#include <string.h>

#include "shadowdiff/decode.h"
#include "shadowdiff/pair.h"
#include "shadowdiff/reasm.h"

#define CHECK(x) SDIFF_FUZZ_CHECK(x)

#define MAX_CONNS 4096

struct run {
    struct sdiff_limits lim;
    int oom;
    uint64_t emitted;
    uint64_t last_seq[MAX_CONNS]; /* per connection id: 1 + seq of the last exchange */
};

static struct run run;

static const int linktypes[8] = {1, 113, 276, 0, 101, 108, 228, 229};

/* A string of the message's header block: NUL-terminated where its length says. */
static void check_str(const char *s, size_t len)
{
    CHECK(s != NULL && s[len] == '\0');
}

static void check_msg(const struct sdiff_msg *m, int is_req)
{
    if (m->present) {
        /* the start-line strings: strlen walks them, so ASan sees where they end */
        check_str(m->method, strlen(m->method));
        check_str(m->target, strlen(m->target));
        check_str(m->reason, strlen(m->reason));
        if (is_req) {
            CHECK(m->method[0] != '\0' && m->target[0] != '\0');
        } else {
            /* any three digits (RFC 9112 4), but interim responses are skipped */
            CHECK(m->status >= 0 && m->status <= 999);
            CHECK(m->status < 100 || m->status >= 200 || m->status == 101);
        }
        CHECK(m->version_minor >= 0 && m->version_minor <= 9);
    }
    CHECK(m->nheaders == 0 || m->headers != NULL);
    for (size_t i = 0; i < m->nheaders; i++) {
        CHECK(m->headers[i].name_len > 0);
        check_str(m->headers[i].name, m->headers[i].name_len);
        check_str(m->headers[i].value, m->headers[i].value_len);
    }
    CHECK(m->body_len <= run.lim.max_body);
    CHECK(m->body_len <= m->body_seen);
    if (run.lim.discard_bodies)
        CHECK(m->body == NULL);
    else
        CHECK(m->body_len == 0 || m->body != NULL);
}

static void on_exchange(struct sdiff_exchange *ex, void *ud)
{
    (void)ud;
    run.emitted++;
    CHECK((unsigned)ex->state < SDIFF_EX__COUNT);
    CHECK(ex->conn_id > 0);
    CHECK(memchr(ex->client, 0, sizeof ex->client) && memchr(ex->server, 0, sizeof ex->server));
    CHECK(memchr(ex->note, 0, sizeof ex->note) != NULL);
    check_msg(&ex->req, 1);
    check_msg(&ex->resp, 0);
    if (ex->state == SDIFF_EX_COMPLETE) {
        CHECK(ex->req.present && ex->req.complete && ex->resp.present && ex->resp.complete);
        CHECK(ex->req.body_seen == ex->req.body_len && ex->resp.body_seen == ex->resp.body_len);
        CHECK(ex->t_req_start <= ex->t_req_end && ex->t_req_start <= ex->t_resp_start &&
              ex->t_resp_start <= ex->t_resp_end);
    } else {
        CHECK(ex->note[0] != '\0' || ex->state == SDIFF_EX_NO_RESPONSE);
    }
    if (ex->conn_id < MAX_CONNS) {
        CHECK(ex->seq + 1u > run.last_seq[ex->conn_id]); /* request order */
        run.last_seq[ex->conn_id] = ex->seq + 1u;
    }
    sdiff_exchange_free(ex);
}

/* The decoder must never point outside the frame or claim more than was on the wire. */
static void check_segment(const struct sdiff_segment *s, const uint8_t *frame, size_t caplen,
                          size_t wirelen)
{
    CHECK(s->family == 4 || s->family == 6);
    CHECK(s->len == 0 || (s->payload >= frame && s->payload + s->len <= frame + caplen));
    CHECK(s->len <= caplen && s->missing <= wirelen - s->len);
    CHECK(s->tun.depth <= SDIFF_TUNNEL_MAX_DEPTH);
    CHECK(s->tun.depth == 0 || (s->tun.frame_off < caplen &&
                                (s->tun.frame_linktype == 1 || s->tun.frame_linktype == 101)));
}

int sdiff_fuzz_packets(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t cfg = data[0], oom = data[1];
    data += 2;
    size -= 2;
    memset(&run, 0, sizeof run);
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    lim.max_flows = 256; /* the flow table is sized by it: 65536 costs more than the run */
    if (cfg & 0x08) {
        lim.max_flows = 4;
        lim.max_ooo_bytes = 3000;
        lim.max_ooo_segments = 4;
        lim.max_total_ooo = 5000;
        lim.max_header_bytes = 300;
        lim.max_header_count = 6;
        lim.max_body = 40;
        lim.max_pipeline = 2;
        lim.idle_timeout_us = 1000000;
        lim.max_memory = 32u << 10;
    }
    lim.discard_bodies = (cfg & 0x10) != 0;
    run.lim = lim;
    run.oom = (cfg & 0x80) != 0;
    const uint16_t ports[] = {80};
    const struct sdiff_decap decap = SDIFF_DECAP_INIT;
    int linktype = linktypes[cfg & 7];

    struct sdiff_pair *pair = NULL;
    struct sdiff_reasm *reasm = NULL;
    if (run.oom)
        sdiff_alloc_fail_after(oom);
    if (sdiff_pair_new(&pair, &lim, on_exchange, NULL, NULL) < 0 ||
        sdiff_reasm_new(&reasm, &lim, ports, (cfg & 0x20) ? 1 : 0, sdiff_pair_reasm_cb(), pair,
                        NULL) < 0) {
        CHECK(run.oom);
        goto out;
    }
    struct sdiff_mem_budget *budget = sdiff_reasm_budget(reasm);
    sdiff_pair_use_budget(pair, budget);
    size_t fixed = budget->used;

    uint64_t ts = 1700000000000000ull;
    size_t off = 0;
    while (size - off >= 4) {
        size_t caplen = (size_t)data[off] << 8 | data[off + 1];
        uint8_t tstep = data[off + 2], cut = data[off + 3];
        off += 4;
        if (caplen > size - off)
            caplen = size - off;
        const uint8_t *frame = data + off;
        off += caplen;
        ts += tstep < 128 ? tstep * 100ull : (tstep - 128u) * 100000ull;
        struct sdiff_segment seg;
        enum sdiff_decode_kind k =
            sdiff_decode_frame_decap(&decap, linktype, frame, caplen, caplen + cut, ts, &seg);
        CHECK((unsigned)k < SDIFF_DECODE__COUNT);
        if (k != SDIFF_DECODE_TCP)
            continue;
        check_segment(&seg, frame, caplen, caplen + cut);
        int rc = sdiff_reasm_feed(reasm, &seg);
        CHECK(rc == SDIFF_OK || (rc == SDIFF_ENOMEM && run.oom));
        CHECK(sdiff_reasm_flow_count(reasm) <= lim.max_flows);
        CHECK(sdiff_reasm_buffered(reasm) <= lim.max_total_ooo);
        CHECK(budget->used <= lim.max_memory);
    }
    if (cfg & 0x40) {
        sdiff_reasm_flush(reasm, ts);
        CHECK(sdiff_reasm_flow_count(reasm) == 0 && sdiff_reasm_buffered(reasm) == 0);
        CHECK(budget->used == fixed);
    }
    sdiff_reasm_free(reasm); /* closes what is still open: every exchange comes out */
    reasm = NULL;
    const struct sdiff_pair_stats *st = sdiff_pair_stats(pair);
    uint64_t counted = 0;
    for (int i = 0; i < SDIFF_EX__COUNT; i++)
        counted += st->exchanges[i];
    CHECK(counted == run.emitted);
out:
    sdiff_reasm_free(reasm);
    sdiff_pair_free(pair);
    sdiff_alloc_fail_after(-1);
    return 0;
}
