/*
 * capture_run.c - drives source -> decode -> reasm -> pair and hands exchanges to a sink.
 *
 * The loop owns the clock: packet timestamps drive idle expiry for files; a live source is
 * polled with a short timeout so signals, --duration and idle expiry are served even when
 * no packet arrives.
 */
#include "shadowdiff/run.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct run_ctx {
    sdiff_run_sink_fn sink;
    void *ud;
    struct sdiff_capture_run_stats *st;
    int sink_rc;
    struct sdiff_err sink_err;
    uint64_t max;
};

static void on_exchange(struct sdiff_exchange *ex, void *ud)
{
    struct run_ctx *r = ud;
    if (r->sink_rc < 0) {
        sdiff_exchange_free(ex);
        return;
    }
    r->st->exchanges++;
    int rc = r->sink ? r->sink(ex, r->ud, &r->sink_err) : (sdiff_exchange_free(ex), 0);
    if (rc < 0)
        r->sink_rc = rc;
}

static int port_match(const struct sdiff_capture_run_opts *o, uint16_t port)
{
    for (size_t i = 0; i < o->nports; i++)
        if (o->ports[i] == port)
            return 1;
    return 0;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int sdiff_run_capture(const struct sdiff_capture_run_opts *o, sdiff_run_sink_fn sink, void *ud,
                      volatile sig_atomic_t *stop, struct sdiff_capture_run_stats *st,
                      struct sdiff_err *err)
{
    struct sdiff_capture *cap = NULL;
    struct sdiff_reasm *reasm = NULL;
    struct sdiff_pair *pair = NULL;
    struct sdiff_capture_filter *inner_filter = NULL;
    char *filter = NULL;
    struct run_ctx ctx = {.sink = sink, .ud = ud, .st = st, .max = o->max_exchanges};
    int rc;

    memset(st, 0, sizeof *st);
    struct sdiff_capture_opts src = o->source;
    const struct sdiff_decap decap_init = SDIFF_DECAP_INIT;
    const struct sdiff_decap *decap = o->decap ? o->decap : &decap_init;
    int decap_on = decap->nvxlan + decap->ngeneve > 0 || decap->gre;
    int have_extra = o->extra_filter && *o->extra_filter;
    /* Live: let the kernel drop what is not ours. Files: decode everything and filter ports
     * in software, which also sees through VLAN tags and IPv6 extension headers. With
     * tunnels, the extra filter is about the inner packet: the kernel lets every tunnel
     * packet through and it is applied here to the inner frame (for files, to every frame). */
    if (src.interface) {
        uint16_t udp[2 * SDIFF_DECAP_MAX_PORTS];
        memcpy(udp, decap->vxlan_ports, decap->nvxlan * sizeof *udp);
        memcpy(udp + decap->nvxlan, decap->geneve_ports, decap->ngeneve * sizeof *udp);
        filter = sdiff_capture_build_filter_tunnels(o->ports, o->nports, o->extra_filter, udp,
                                                    decap->nvxlan + decap->ngeneve, decap->gre);
    } else {
        filter = sdiff_strdup(o->extra_filter && !decap_on ? o->extra_filter : "");
    }
    if (filter == NULL) {
        rc = sdiff_err_set(err, SDIFF_ENOMEM, "run", "out of memory");
        goto out;
    }
    if (decap_on && have_extra) {
        rc = sdiff_capture_filter_new(&inner_filter, o->extra_filter, err);
        if (rc < 0)
            goto out;
    }
    src.filter = filter;
    rc = sdiff_capture_open(&cap, &src, err);
    if (rc < 0)
        goto out;
    rc = sdiff_pair_new(&pair, &o->limits, on_exchange, &ctx, err);
    if (rc < 0)
        goto out;
    rc = sdiff_reasm_new(&reasm, &o->limits, o->ports, o->nports, sdiff_pair_reasm_cb(), pair,
                         err);
    if (rc < 0)
        goto out;
    sdiff_pair_use_budget(pair, sdiff_reasm_budget(reasm));

    if (o->on_open) {
        rc = o->on_open(o->open_ud, err);
        if (rc < 0)
            goto out;
    }
    int live = sdiff_capture_is_live(cap);
    if (o->on_started)
        o->on_started(live, filter, ud);
    uint64_t started = now_us(), last_ts = 0, last_expire = started, last_stats = started;
    uint64_t deadline = o->duration_s > 0 ? started + (uint64_t)(o->duration_s * 1e6) : 0;
    snprintf(st->stop_reason, sizeof st->stop_reason, "end of file");
    for (;;) {
        if (stop && *stop) {
            snprintf(st->stop_reason, sizeof st->stop_reason, "signal");
            break;
        }
        if (ctx.max && st->exchanges >= ctx.max) {
            snprintf(st->stop_reason, sizeof st->stop_reason, "count");
            break;
        }
        if (ctx.sink_rc < 0)
            break;
        struct sdiff_packet pkt;
        struct sdiff_err rerr = {0};
        int nrc = sdiff_capture_next(cap, &pkt, &rerr);
        if (live) {
            uint64_t now = now_us();
            if (deadline && now >= deadline) {
                snprintf(st->stop_reason, sizeof st->stop_reason, "duration");
                break;
            }
            if (now - last_expire >= 1000000u) {
                sdiff_reasm_expire(reasm, now);
                last_expire = now;
            }
        }
        if (o->on_stats) {
            uint64_t now = now_us();
            if (now - last_stats >= 1000000u) {
                sdiff_capture_stats(cap, &st->source);
                st->reasm = *sdiff_reasm_stats(reasm);
                st->pair = *sdiff_pair_stats(pair);
                st->memory = *sdiff_reasm_budget(reasm);
                o->on_stats(st, ud);
                last_stats = now;
            }
        }
        if (nrc == SDIFF_MORE)
            continue;
        if (nrc == SDIFF_END) {
            if (stop && *stop)
                snprintf(st->stop_reason, sizeof st->stop_reason, "signal");
            break;
        }
        if (nrc < 0) {
            if (strstr(rerr.msg, "truncated dump file")) {
                /* A capture cut inside its last record (tcpdump killed): keep what we have. */
                st->file_truncated = 1;
                break;
            }
            rc = sdiff_err_set(err, nrc, rerr.where, "%s", rerr.msg);
            break;
        }
        struct sdiff_segment seg;
        enum sdiff_decode_kind k = sdiff_decode_frame_decap(
            decap, pkt.linktype, pkt.data, pkt.caplen, pkt.wirelen, pkt.ts_us, &seg);
        st->decode[k]++;
        for (unsigned t = 0; t < seg.tun.depth; t++)
            st->tunnels[seg.tun.kind[t]]++;
        if (k != SDIFF_DECODE_TCP)
            continue;
        if (inner_filter && (seg.tun.depth || !live) &&
            !sdiff_capture_filter_match(inner_filter, seg.tun.frame_linktype,
                                        pkt.data + seg.tun.frame_off,
                                        pkt.caplen - seg.tun.frame_off,
                                        pkt.wirelen - seg.tun.frame_off)) {
            st->tunnel_filtered += seg.tun.depth > 0;
            continue;
        }
        if (o->nports && !port_match(o, seg.sport) && !port_match(o, seg.dport)) {
            st->other_ports++;
            continue;
        }
        if (!live && o->duration_s > 0) {
            if (last_ts == 0)
                deadline = pkt.ts_us + (uint64_t)(o->duration_s * 1e6);
            else if (pkt.ts_us >= deadline) {
                snprintf(st->stop_reason, sizeof st->stop_reason, "duration");
                break;
            }
        }
        /* The service's kernel drops a segment with a bad checksum; so do we, or a corrupt
         * or forged copy could stand in for the bytes the service actually took. */
        if (o->verify_tcp_checksums == SDIFF_CSUM_ON && sdiff_decode_tcp_checksum(&seg) == 0) {
            st->bad_checksums++;
            continue;
        }
        last_ts = pkt.ts_us;
        sdiff_reasm_feed(reasm, &seg);
    }
    /* Close every flow so that pending requests come out as exchanges (no_response, gap). */
    if (reasm && ctx.sink_rc >= 0)
        sdiff_reasm_flush(reasm, live ? now_us() : last_ts);
    if (rc >= 0 && ctx.sink_rc < 0) {
        sdiff_err_set(err, ctx.sink_rc, ctx.sink_err.where, "%s", ctx.sink_err.msg);
        rc = ctx.sink_rc;
    }
out:
    if (cap)
        sdiff_capture_stats(cap, &st->source);
    if (reasm) {
        st->reasm = *sdiff_reasm_stats(reasm);
        st->memory = *sdiff_reasm_budget(reasm);
    }
    if (pair)
        st->pair = *sdiff_pair_stats(pair);
    sdiff_reasm_free(reasm);
    sdiff_pair_free(pair);
    sdiff_capture_close(cap);
    sdiff_capture_filter_free(inner_filter);
    sdiff_free(filter);
    return rc;
}

int sdiff_capture_run_summary(const struct sdiff_capture_run_stats *st, struct sdiff_buf *b)
{
    const struct sdiff_pair_stats *p = &st->pair;
    const struct sdiff_reasm_stats *r = &st->reasm;
    int rc = sdiff_buf_printf(
        b,
        "%" PRIu64 " packets, %" PRIu64 " connections, %" PRIu64 " exchanges (%" PRIu64
        " complete, %" PRIu64 " truncated, %" PRIu64 " gap, %" PRIu64 " no_response, %" PRIu64
        " unparsable, %" PRIu64 " unacknowledged, %" PRIu64 " shed); skipped: %" PRIu64 " tls, %" PRIu64 " http2, %" PRIu64 " not-http, %" PRIu64
        " upgraded connections, %" PRIu64 " orphan responses, %" PRIu64 " ip fragments, %" PRIu64
        " non-tcp; %" PRIu64 " gaps (%" PRIu64 " bytes lost); kernel drops %" PRIu64
        "; limit hits: %" PRIu64 " flows evicted, %" PRIu64 " out-of-order, %" PRIu64
        " body, %" PRIu64 " pipeline",
        st->source.packets, p->connections, st->exchanges, p->exchanges[SDIFF_EX_COMPLETE],
        p->exchanges[SDIFF_EX_TRUNCATED], p->exchanges[SDIFF_EX_GAP],
        p->exchanges[SDIFF_EX_NO_RESPONSE], p->exchanges[SDIFF_EX_UNPARSABLE],
        p->exchanges[SDIFF_EX_UNACKNOWLEDGED], p->exchanges[SDIFF_EX_SHED], p->conn_tls,
        p->conn_h2, p->conn_not_http, p->conn_upgraded, p->orphan_responses,
        st->decode[SDIFF_DECODE_FRAGMENT],
        st->decode[SDIFF_DECODE_NOT_TCP] + st->decode[SDIFF_DECODE_NOT_IP], r->gaps,
        r->gap_bytes, st->source.kernel_drops, r->flows_evicted, r->ooo_limit_hits,
        p->body_limit_hits, p->pipeline_limit_hits);
    if (rc >= 0 && st->decode[SDIFF_DECODE_MALFORMED] + st->decode[SDIFF_DECODE_TRUNCATED])
        rc = sdiff_buf_printf(b, "; %" PRIu64 " malformed packets",
                              st->decode[SDIFF_DECODE_MALFORMED] +
                                  st->decode[SDIFF_DECODE_TRUNCATED]);
    if (rc >= 0 && st->bad_checksums)
        rc = sdiff_buf_printf(b, "; %" PRIu64 " bad tcp checksums dropped", st->bad_checksums);
    if (rc >= 0 && (r->flows_shed || st->memory.refused))
        rc = sdiff_buf_printf(b,
                              "; memory budget %zu MiB reached: %" PRIu64 " requests shed, %" PRIu64
                              " connections shed",
                              st->memory.limit >> 20, p->exchanges[SDIFF_EX_SHED], r->flows_shed);
    if (rc >= 0 && st->decode[SDIFF_DECODE_LINKTYPE])
        rc = sdiff_buf_printf(b, "; %" PRIu64 " packets of an unsupported link type",
                              st->decode[SDIFF_DECODE_LINKTYPE]);
    uint64_t ntun = 0;
    for (int i = 0; i < SDIFF_TUN__COUNT; i++)
        ntun += st->tunnels[i];
    if (rc >= 0 && ntun)
        rc = sdiff_buf_printf(b,
                              "; decapsulated: %" PRIu64 " vxlan, %" PRIu64 " geneve, %" PRIu64
                              " gre, %" PRIu64 " erspan",
                              st->tunnels[SDIFF_TUN_VXLAN], st->tunnels[SDIFF_TUN_GENEVE],
                              st->tunnels[SDIFF_TUN_GRE], st->tunnels[SDIFF_TUN_ERSPAN]);
    if (rc >= 0 && st->decode[SDIFF_DECODE_TOO_DEEP])
        rc = sdiff_buf_printf(b, "; %" PRIu64 " packets in tunnels nested over %d deep",
                              st->decode[SDIFF_DECODE_TOO_DEEP], SDIFF_TUNNEL_MAX_DEPTH);
    if (rc >= 0 && st->file_truncated)
        rc = sdiff_buf_puts(b, "; file truncated inside its last packet");
    return rc;
}

/* ", N label" when n is not zero; *first starts the list without the comma. */
static int nonzero(struct sdiff_buf *b, uint64_t n, const char *label, int *first)
{
    if (n == 0)
        return SDIFF_OK;
    int rc = sdiff_buf_printf(b, "%s%" PRIu64 " %s", *first ? "" : ", ", n, label);
    *first = 0;
    return rc;
}

int sdiff_capture_run_summary_short(const struct sdiff_capture_run_stats *st,
                                    struct sdiff_buf *b)
{
    const struct sdiff_pair_stats *p = &st->pair;
    const struct sdiff_reasm_stats *r = &st->reasm;
    int rc = sdiff_buf_printf(b, "%" PRIu64 " exchanges from %" PRIu64 " packets on %" PRIu64
                                 " connections",
                              st->exchanges, st->source.packets, p->connections);
    /* what is not a complete exchange, then what was lost or skipped: only what happened */
    struct {
        uint64_t n;
        const char *label;
    } items[] = {
        {p->exchanges[SDIFF_EX_TRUNCATED], "truncated"},
        {p->exchanges[SDIFF_EX_GAP], "with a gap"},
        {p->exchanges[SDIFF_EX_NO_RESPONSE], "without response"},
        {p->exchanges[SDIFF_EX_UNPARSABLE], "unparsable"},
        {p->exchanges[SDIFF_EX_UNACKNOWLEDGED], "unacknowledged"},
        {p->exchanges[SDIFF_EX_SHED], "shed (memory budget)"},
        {st->source.kernel_drops, "packets dropped by the kernel"},
        {r->gaps, "capture gaps"},
        {p->conn_tls, "tls connections"},
        {p->conn_h2, "http2 connections"},
        {p->conn_not_http, "connections not http"},
        {p->conn_upgraded, "upgraded connections"},
        {p->orphan_responses, "orphan responses"},
        {st->decode[SDIFF_DECODE_FRAGMENT], "ip fragments"},
        {r->flows_evicted, "flows evicted"},
        {r->ooo_limit_hits, "out-of-order limit hits"},
        {p->body_limit_hits, "body limit hits"},
        {p->pipeline_limit_hits, "pipeline limit hits"},
        {st->bad_checksums, "bad tcp checksums dropped"},
        {st->decode[SDIFF_DECODE_MALFORMED] + st->decode[SDIFF_DECODE_TRUNCATED],
         "malformed packets"},
    };
    int first = 1;
    for (size_t i = 0; rc >= 0 && i < sizeof items / sizeof items[0]; i++) {
        if (items[i].n && first)
            rc = sdiff_buf_puts(b, ": ");
        if (rc >= 0)
            rc = nonzero(b, items[i].n, items[i].label, &first);
    }
    if (rc >= 0 && st->file_truncated)
        rc = sdiff_buf_puts(b, "; file truncated inside its last packet");
    return rc;
}

int sdiff_capture_run_summary_json(const struct sdiff_capture_run_stats *st,
                                   struct sdiff_buf *b)
{
    const struct sdiff_pair_stats *p = &st->pair;
    const struct sdiff_reasm_stats *r = &st->reasm;
    int rc = sdiff_buf_printf(b, "{\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64
                                 ",\"connections\":%" PRIu64 ",\"exchanges\":{",
                              st->source.packets, st->source.bytes, p->connections);
    for (int i = 0; i < SDIFF_EX__COUNT && rc >= 0; i++)
        rc = sdiff_buf_printf(b, "%s\"%s\":%" PRIu64, i ? "," : "",
                              sdiff_exchange_state_str((enum sdiff_exchange_state)i),
                              p->exchanges[i]);
    if (rc >= 0)
        rc = sdiff_buf_printf(
            b,
            "},\"skipped\":{\"tls\":%" PRIu64 ",\"http2\":%" PRIu64 ",\"not_http\":%" PRIu64
            ",\"upgraded\":%" PRIu64 ",\"orphan_responses\":%" PRIu64 ",\"ip_fragments\":%" PRIu64
            ",\"malformed_packets\":%" PRIu64 "},\"gaps\":%" PRIu64 ",\"gap_bytes\":%" PRIu64
            ",\"kernel_drops\":%" PRIu64 ",\"limits\":{\"flows_evicted\":%" PRIu64
            ",\"out_of_order\":%" PRIu64 ",\"body\":%" PRIu64 ",\"pipeline\":%" PRIu64
            "},\"tunnels\":{\"vxlan\":%" PRIu64 ",\"geneve\":%" PRIu64 ",\"gre\":%" PRIu64
            ",\"erspan\":%" PRIu64 ",\"too_deep\":%" PRIu64 ",\"filtered\":%" PRIu64
            "},\"bad_checksums\":%" PRIu64 ",\"memory\":{\"limit\":%zu,\"peak\":%zu"
            ",\"flows_shed\":%" PRIu64 ",\"refused\":%" PRIu64
            "},\"stop\":\"%s\",\"file_truncated\":%s}",
            p->conn_tls, p->conn_h2, p->conn_not_http, p->conn_upgraded, p->orphan_responses,
            st->decode[SDIFF_DECODE_FRAGMENT],
            st->decode[SDIFF_DECODE_MALFORMED] + st->decode[SDIFF_DECODE_TRUNCATED], r->gaps,
            r->gap_bytes, st->source.kernel_drops, r->flows_evicted, r->ooo_limit_hits,
            p->body_limit_hits, p->pipeline_limit_hits, st->tunnels[SDIFF_TUN_VXLAN],
            st->tunnels[SDIFF_TUN_GENEVE], st->tunnels[SDIFF_TUN_GRE],
            st->tunnels[SDIFF_TUN_ERSPAN], st->decode[SDIFF_DECODE_TOO_DEEP], st->tunnel_filtered,
            st->bad_checksums, st->memory.limit, st->memory.peak, r->flows_shed,
            st->memory.refused, st->stop_reason, st->file_truncated ? "true" : "false");
    return rc;
}
