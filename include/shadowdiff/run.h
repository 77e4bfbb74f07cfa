#ifndef SDIFF_RUN_H
#define SDIFF_RUN_H

#include <signal.h>

#include "shadowdiff/capture.h"
#include "shadowdiff/decode.h"
#include "shadowdiff/pair.h"
#include "shadowdiff/reasm.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/run.h - the capture pipeline: source -> decode -> reassembly -> pairing, with
 * each exchange handed to a sink. The entry point `shadowdiff capture` (and later `mirror`)
 * calls. Stops at the end of a file, after a duration or a count, or when *stop is set
 * (from a signal handler).
 */

struct sdiff_capture_run_opts {
    struct sdiff_capture_opts source;
    const uint16_t *ports;     /* server ports; also build the BPF filter */
    size_t nports;
    const char *extra_filter;  /* added to the port filter with "and" */
    struct sdiff_limits limits;
    double duration_s;         /* 0: no limit */
    uint64_t max_exchanges;    /* 0: no limit */
    /* called once the source is open and filtered (e.g. to say "listening"); may be NULL */
    void (*on_started)(int live, const char *filter, void *ud);
};

struct sdiff_capture_run_stats {
    struct sdiff_capture_stats source;
    uint64_t decode[SDIFF_DECODE__COUNT];
    struct sdiff_reasm_stats reasm;
    struct sdiff_pair_stats pair;
    uint64_t exchanges;        /* handed to the sink */
    uint64_t other_ports;      /* TCP segments of other ports (file sources) */
    int file_truncated;        /* the file ended inside a packet record */
    char stop_reason[32];      /* "end of file", "duration", "count", "signal" */
};

/*
 * The sink takes ownership of ex. Returning a negative status stops the run with that
 * status (e.g. the database is full).
 */
typedef int (*sdiff_run_sink_fn)(struct sdiff_exchange *ex, void *ud, struct sdiff_err *err);

/**
 * Run a capture to its end. Statistics are filled even when it fails.
 * @return SDIFF_OK, or the first error: opening the source (EINVAL/EIO/EPERM), a corrupt
 *         file (EIO, after everything before the corruption went to the sink), a sink error
 */
SDIFF_API int sdiff_run_capture(const struct sdiff_capture_run_opts *o, sdiff_run_sink_fn sink,
                                void *ud, volatile sig_atomic_t *stop,
                                struct sdiff_capture_run_stats *st, struct sdiff_err *err);

/** One summary line (no newline) for people: packets, connections, exchanges by state, ... */
SDIFF_API int sdiff_capture_run_summary(const struct sdiff_capture_run_stats *st,
                                        struct sdiff_buf *out);
/** The same counters as a JSON object, for the database. */
SDIFF_API int sdiff_capture_run_summary_json(const struct sdiff_capture_run_stats *st,
                                             struct sdiff_buf *out);

#ifdef __cplusplus
}
#endif
#endif
