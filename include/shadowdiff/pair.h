#ifndef SDIFF_PAIR_H
#define SDIFF_PAIR_H

#include "shadowdiff/core.h"
#include "shadowdiff/exchange.h"
#include "shadowdiff/reasm.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/pair.h - turns reassembled TCP streams into HTTP exchanges.
 *
 * Sits behind sdiff_reasm: pass sdiff_pair_reasm_cb() and the pairer as the reassembler's
 * callbacks. Each connection gets a request parser and a response parser; responses pair
 * with requests in order (pipelining), 1xx interim responses are skipped, a response with no
 * request waiting is an orphan (counted). Lost bytes mark the exchanges they hit; when
 * framing is lost, the requests that could have been answered inside the loss are closed as
 * gaps rather than risk pairing a response with the wrong request. TLS and HTTP/2
 * connections are recognised by their first bytes, counted and skipped.
 *
 * Exchanges are emitted per connection in request order, when their response completes or
 * the connection ends; the callback takes ownership. Not thread-safe.
 */

typedef void (*sdiff_exchange_fn)(struct sdiff_exchange *ex, void *ud);

struct sdiff_pair_stats {
    uint64_t connections;
    uint64_t conn_tls;           /* skipped: TLS */
    uint64_t conn_h2;            /* skipped: HTTP/2 prior knowledge or h2c upgrade */
    uint64_t conn_upgraded;      /* switched protocols (WebSocket, ...) after a 101 */
    uint64_t conn_not_http;      /* skipped: the first bytes were not HTTP/1.x */
    uint64_t exchanges[SDIFF_EX__COUNT];
    uint64_t orphan_responses;   /* responses with no request waiting (e.g. mid-stream) */
    uint64_t req_parse_errors;
    uint64_t resp_parse_errors;
    uint64_t pipeline_limit_hits;/* more requests waiting than limits.max_pipeline */
    uint64_t body_limit_hits;    /* bodies cut at limits.max_body */
    uint64_t resync_bytes;       /* bytes skipped while looking for a message start */
    uint64_t conn_roles_swapped; /* midstream: the port guess had client and server reversed */
    uint64_t gaps;               /* gaps that hit an HTTP stream */
    uint64_t out_of_memory;      /* connections or messages given up because memory ran out */
};

struct sdiff_pair;

/**
 * @param limits  copied; header, body and pipeline limits are used
 * @param fn      receives each exchange and must free it with sdiff_exchange_free
 */
SDIFF_API int sdiff_pair_new(struct sdiff_pair **out, const struct sdiff_limits *limits,
                             sdiff_exchange_fn fn, void *ud, struct sdiff_err *err);
/**
 * Charge what the pairer keeps per connection (parser state, waiting requests, heads and
 * bodies) to budget, usually sdiff_reasm_budget() of the reassembler that drives it, so one
 * budget covers everything capture holds. A head or body that does not fit is not kept and
 * its exchange is SDIFF_EX_SHED; a flow the reassembler sheds has every waiting exchange shed
 * (see lib/pair/README.md). Call before the first flow opens; budget is borrowed and must
 * outlive the pairer's flows. NULL: no budget (the default).
 */
SDIFF_API void sdiff_pair_use_budget(struct sdiff_pair *p, struct sdiff_mem_budget *budget);

/** Frees; flows still open should have been closed by sdiff_reasm_flush first. NULL-safe. */
SDIFF_API void sdiff_pair_free(struct sdiff_pair *p);

/** Reassembler callbacks that drive this pairer; pass the pairer as their ud. */
SDIFF_API const struct sdiff_reasm_cb *sdiff_pair_reasm_cb(void);

SDIFF_API const struct sdiff_pair_stats *sdiff_pair_stats(const struct sdiff_pair *p);

#ifdef __cplusplus
}
#endif
#endif
