#ifndef SDIFF_REASM_H
#define SDIFF_REASM_H

#include "shadowdiff/core.h"
#include "shadowdiff/decode.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/reasm.h - TCP stream reassembly.
 *
 * Segments go in in capture order; each direction's bytes come out exactly once, in
 * sequence order, through callbacks. Out-of-order segments are buffered up to the limits;
 * retransmissions and overlaps deliver the first copy seen; sequence numbers wrap. Bytes that
 * will never arrive (lost by the capture) are reported as gaps, so the consumer can mark
 * what they hit and resynchronise. Flows are keyed by the 4-tuple and the tunnel the segments
 * came through (seg->tun: outer endpoints, VNI or key), so mirrored sources never mix; the
 * client is the side that sent the SYN, or else the side whose peer port is a configured
 * server port, or else the side with the higher port. Everything held counts against one
 * memory budget (limits.max_memory), enforced by shedding whole flows, largest first.
 * Not thread-safe; one object per capture.
 */

enum sdiff_dir { SDIFF_DIR_C2S = 0, SDIFF_DIR_S2C = 1 };

enum sdiff_close_reason {
    SDIFF_CLOSE_FIN = 0,  /* both sides sent FIN (or one did and the flow then went idle) */
    SDIFF_CLOSE_RST,      /* reset by either side */
    SDIFF_CLOSE_IDLE,     /* no packet for limits.idle_timeout_us */
    SDIFF_CLOSE_REUSE,    /* a new SYN reused the 4-tuple */
    SDIFF_CLOSE_EVICT,    /* the flow table was full; the oldest idle flow made room */
    SDIFF_CLOSE_END,      /* end of capture (sdiff_reasm_flush) */
    SDIFF_CLOSE_SHED,     /* shed once (on_shed) and closed when the memory budget was still
                             full (limits.max_memory) */
};

struct sdiff_flow_info {
    uint64_t id;          /* 1, 2, 3 ... in order of first packet */
    uint8_t family;       /* 4 or 6 */
    uint8_t client[16], server[16];
    uint16_t cport, sport;
    int midstream;        /* no SYN seen: the flow was already open when capture began */
    int dir_guessed;      /* midstream and no configured server port: client is a guess */
    struct sdiff_tunnel tun; /* the tunnels its segments came through (depth 0: none) */
    uint64_t first_ts_us;
};

/*
 * Callbacks. flow_ud is the per-flow slot that on_open may set; it is passed back to every
 * later callback for that flow. on_close is the last call for a flow. Byte pointers are
 * borrowed for the duration of the call.
 */
struct sdiff_reasm_cb {
    void (*on_open)(const struct sdiff_flow_info *f, void **flow_ud, void *ud);
    void (*on_data)(void *flow_ud, enum sdiff_dir dir, const uint8_t *p, size_t len,
                    uint64_t ts_us, void *ud);
    /* len bytes of this direction are lost for good; the next on_data follows them */
    void (*on_gap)(void *flow_ud, enum sdiff_dir dir, uint64_t len, uint64_t ts_us, void *ud);
    /* a FIN was delivered in order for this direction (no more data will follow) */
    void (*on_fin)(void *flow_ud, enum sdiff_dir dir, uint64_t ts_us, void *ud);
    void (*on_close)(void *flow_ud, enum sdiff_close_reason why, uint64_t ts_us, void *ud);
    /*
     * Bytes the peer never acknowledged, handed out in order when the flow ends or when too
     * much waits for an ACK (see lib/reasm/README.md). NULL: they go to on_data.
     */
    void (*on_data_unacked)(void *flow_ud, enum sdiff_dir dir, const uint8_t *p, size_t len,
                            uint64_t ts_us, void *ud);
    /*
     * The memory budget is full and this flow is shed: from now on the reassembler holds
     * nothing for it (holes become gaps, bytes waiting for an ACK and later bytes are handed
     * out at once, unacknowledged ones through on_data_unacked), and the consumer should keep
     * counts, not bytes. Shed again, it is closed (SDIFF_CLOSE_SHED). NULL: nothing is said.
     */
    void (*on_shed)(void *flow_ud, void *ud);
    /*
     * Bytes the consumer holds for this flow and has charged to sdiff_reasm_budget: with the
     * reassembler's own, what shedding the flow would free (the victim is the largest).
     * NULL: the consumer holds nothing.
     */
    size_t (*flow_mem)(void *flow_ud, void *ud);
};

struct sdiff_reasm_stats {
    uint64_t segments;            /* TCP segments fed */
    uint64_t flows;               /* flows opened */
    uint64_t flows_midstream;     /* of which already open at capture start */
    uint64_t flows_expired;       /* closed by idle timeout */
    uint64_t flows_evicted;       /* closed because the flow table was full (limit hit) */
    uint64_t retrans_segments;    /* segments entirely already seen */
    uint64_t overlap_bytes;       /* bytes received twice (retransmits and overlaps) */
    uint64_t ooo_segments;        /* segments that arrived ahead of a hole */
    uint64_t ooo_limit_hits;      /* out-of-order buffer full: the hole became a gap */
    uint64_t gaps;                /* gaps reported */
    uint64_t gap_bytes;           /* bytes in those gaps */
    uint64_t ignored_segments;    /* data after a close, or for no flow (e.g. bare ACKs) */
    uint64_t rst_out_of_window;   /* resets outside the receive window, ignored */
    uint64_t unacked_bytes;       /* bytes handed out never acknowledged by the peer */
    uint64_t flows_shed;          /* closed to keep capture within limits.max_memory */
};

struct sdiff_reasm;

/**
 * Create a reassembler.
 *
 * @param limits        copied; max_flows, max_ooo_* and idle_timeout_us are used
 * @param server_ports  nports ports that identify the server side; copied; may be NULL
 * @param cb            copied; every callback may be NULL
 * @return SDIFF_OK, SDIFF_ENOMEM, or SDIFF_EINVAL when limits->max_memory is under twice
 *         what the flow table costs; caller frees *out with sdiff_reasm_free
 */
SDIFF_API int sdiff_reasm_new(struct sdiff_reasm **out, const struct sdiff_limits *limits,
                              const uint16_t *server_ports, size_t nports,
                              const struct sdiff_reasm_cb *cb, void *ud, struct sdiff_err *err);

/** Close every open flow (callbacks run) and free. NULL-safe. */
SDIFF_API void sdiff_reasm_free(struct sdiff_reasm *r);

/**
 * Feed one segment. Also expires idle flows, using the segment's timestamp as the clock.
 * Bad or unexpected segments are counted, never an error.
 * @return SDIFF_OK, or SDIFF_ENOMEM (the segment was dropped and counted, or its bytes could
 *         not wait for their ACK and were handed out unacknowledged at once)
 */
SDIFF_API int sdiff_reasm_feed(struct sdiff_reasm *r, const struct sdiff_segment *seg);

/** Expire flows idle since before now_us - idle_timeout (live capture calls this on a timer). */
SDIFF_API void sdiff_reasm_expire(struct sdiff_reasm *r, uint64_t now_us);

/**
 * End of capture: for every open flow, deliver what is buffered (holes become gaps) and
 * close it with SDIFF_CLOSE_END.
 */
SDIFF_API void sdiff_reasm_flush(struct sdiff_reasm *r, uint64_t now_us);

SDIFF_API const struct sdiff_reasm_stats *sdiff_reasm_stats(const struct sdiff_reasm *r);
/** Number of flows currently tracked. */
SDIFF_API size_t sdiff_reasm_flow_count(const struct sdiff_reasm *r);
/** Bytes currently held in out-of-order buffers over all flows. */
SDIFF_API size_t sdiff_reasm_buffered(const struct sdiff_reasm *r);

/**
 * The memory budget of this capture (limit: limits.max_memory). The reassembler charges its
 * flow table, flows, out-of-order ranges and bytes waiting for their ACK; a consumer charges
 * what it keeps per flow to the same budget (sdiff_pair_use_budget) and reports it through
 * the flow_mem callback. Before and after each segment, past seven eighths of the limit, the
 * largest flows are shed until three quarters remain (lib/reasm/README.md, "Memory budget").
 * Owned by the reassembler, valid until sdiff_reasm_free.
 */
SDIFF_API struct sdiff_mem_budget *sdiff_reasm_budget(struct sdiff_reasm *r);

#ifdef __cplusplus
}
#endif
#endif
