#ifndef SDIFF_FAKE_TRANSPORT_H
#define SDIFF_FAKE_TRANSPORT_H
/*
 * A scripted transport for unit tests of the replay engine and the judge: no sockets. Pass
 * &sdiff_fake_transport as sdiff_replay_opts.transport_ops. Each request is serialised as
 * the native client would put it on the wire and kept; answer() (set by the test) fills
 * its result, which is delivered by the next poll.
 */
#include <stddef.h>

#include "replay/replay_int.h"

struct sdiff_fake {
    /* fills res from the request bytes; NULL: 200 with an empty body */
    void (*answer)(const char *wire, size_t len, struct sdiff_replay_result *res, void *ud);
    void *ud;
    char *last;          /* the last request's bytes, NUL-terminated */
    size_t sent;         /* requests sent */
    size_t inflight;     /* sent and not yet delivered */
    size_t max_inflight; /* the most in flight at once */
    size_t concurrency;  /* as the engine opened the transport */
};

/* The script and counters of every fake transport opened from now on (one at a time). */
extern struct sdiff_fake sdiff_fake;
extern const struct sdiff_transport_ops sdiff_fake_transport;

/* Reset sdiff_fake, freeing its last request. */
void sdiff_fake_reset(void);
/* A complete answer: status, and "Content-Type: application/json" with a body not "". */
void sdiff_fake_respond(struct sdiff_replay_result *res, int status, const char *body);

#endif
