#ifndef SDIFF_REPLAY_INT_H
#define SDIFF_REPLAY_INT_H

/*
 * replay_int.h - the transport seam of lib/replay, shared with the tests.
 *
 * The replay engine (replay.c) owns the queue, the concurrency slots, the rate limit, the
 * request rewrite and the done callbacks. A transport only carries requests that are ready
 * for the wire and reports what came back: libcurl (in replay.c, for https:// and when
 * asked for), the native HTTP/1.1 client (client.c, for http://), or a scripted fake in a
 * unit test (struct sdiff_replay_opts.transport_ops). Not thread-safe, like the engine.
 */

#include "shadowdiff/replay.h"

/*
 * One request as it goes on the wire, after the rewrite layer: every field is sent as
 * given, in this order and case. The transport adds only what framing needs: a
 * Content-Length at the end when has_body and none is among the fields (a captured chunked
 * body), and a Host first when none is among them (HTTP/1.1 requires one).
 * Everything is borrowed until the transport's done callback for it has run.
 */
struct sdiff__wire_req {
    size_t target;                     /* index into the transport's targets */
    const char *method;                /* NUL-terminated token */
    const char *rtarget;               /* request-target, NUL-terminated */
    const struct sdiff_hfield *fields; /* after the rewrite layer */
    size_t nfields;
    const uint8_t *body;
    size_t body_len;
    int has_body;                      /* frame a body (possibly empty) */
    int is_head;                       /* the answer has no body whatever it says */
    struct sdiff_replay_result *res;   /* filled by the transport: error, errmsg, resp,
                                          latency_ms (first request byte written to last
                                          response byte read) */
    void *ctx;                         /* handed back to done */
};

/* What a transport is opened with; strings and arrays are copied. */
struct sdiff__transport_cfg {
    const char *const *targets;        /* base URLs */
    size_t ntargets;
    size_t concurrency;                /* requests in flight at most; connections kept */
    long connect_timeout_ms;
    long timeout_ms;
    size_t max_body;
    void (*done)(void *ctx, void *ud); /* req->res is filled; called from poll only */
    void *ud;
};

struct sdiff_transport_ops {
    const char *name;
    /** @return SDIFF_OK, SDIFF_EINVAL (a target it cannot carry), SDIFF_ENOMEM */
    int (*open)(void **out, const struct sdiff__transport_cfg *cfg, struct sdiff_err *err);
    /** Abort what is in flight, without done callbacks, and free. NULL-safe. */
    void (*close)(void *t);
    /**
     * Start one request; copies what it needs of req except res and ctx. On a negative
     * return nothing was started and no done callback will come.
     */
    int (*send)(void *t, const struct sdiff__wire_req *req, struct sdiff_err *err);
    /** Do what is ready, waiting up to timeout_ms for something to be; done runs from here. */
    int (*poll)(void *t, int timeout_ms, struct sdiff_err *err);
    /** A descriptor that is readable when poll has work, or -1. */
    int (*fd)(void *t);
    /** Make a poll waiting in another thread return. Thread-safe. */
    void (*wakeup)(void *t);
};

/* The native HTTP/1.1 client for http:// targets (client.c). */
extern const struct sdiff_transport_ops sdiff__replay_native_ops;

/**
 * Serialise req into out: request line (always HTTP/1.1), a Host of host_default first when
 * the fields have none, the fields, a Content-Length last when has_body and the fields have
 * none, the empty line, the body. out is appended to.
 * @return SDIFF_OK, SDIFF_ELIMIT (over out's max), SDIFF_ENOMEM
 */
int sdiff__replay_serialize(struct sdiff_buf *out, const struct sdiff__wire_req *req,
                            const char *host_default);

#endif
