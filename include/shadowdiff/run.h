#ifndef SDIFF_RUN_H
#define SDIFF_RUN_H

#include <signal.h>

#include "shadowdiff/capture.h"
#include "shadowdiff/decode.h"
#include "shadowdiff/pair.h"
#include "shadowdiff/reasm.h"
#include "shadowdiff/redact.h"
#include "shadowdiff/replay.h"
#include "shadowdiff/report.h"
#include "shadowdiff/route.h"
#include "shadowdiff/rules.h"
#include "shadowdiff/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/run.h - the capture pipeline: source -> decode -> reassembly -> pairing, with
 * each exchange handed to a sink. The entry point `shadowdiff capture` (and later `mirror`)
 * calls. Stops at the end of a file, after a duration or a count, or when *stop is set
 * (from a signal handler).
 */

struct sdiff_capture_run_stats;

/*
 * Which TCP checksums to verify; a segment that fails is dropped and counted, as the
 * receiving kernel drops it. AUTO verifies nothing in files (recorded on a host whose
 * kernel left its own checksums to the NIC, they would all look bad) and, until a capture
 * backend reads the kernel's per-packet checksum status, nothing live either. Checksums of
 * packets cut by the snap length cannot be verified and are accepted.
 */
enum sdiff_csum_mode { SDIFF_CSUM_AUTO = 0, SDIFF_CSUM_ON, SDIFF_CSUM_OFF };

struct sdiff_capture_run_opts {
    struct sdiff_capture_opts source;
    enum sdiff_csum_mode verify_tcp_checksums;
    const uint16_t *ports;     /* server ports; also build the BPF filter */
    size_t nports;
    const char *extra_filter;  /* added to the port filter with "and" */
    /* tunnels to remove; NULL: SDIFF_DECAP_INIT. The ports and extra_filter then apply to
     * the inner packet, and the kernel filter also lets the outer tunnel packets through */
    const struct sdiff_decap *decap;
    struct sdiff_limits limits;
    double duration_s;         /* 0: no limit */
    uint64_t max_exchanges;    /* 0: no limit */
    /* called once the source is open, before on_started and the first read: a negative return
     * (with err set) ends the run with that status. For dropping privileges (--user). Runs on
     * the capture's thread; may be NULL */
    int (*on_open)(void *open_ud, struct sdiff_err *err);
    void *open_ud;
    /* called once the source is open and filtered (e.g. to say "listening"); may be NULL */
    void (*on_started)(int live, const char *filter, void *ud);
    /* called about once a second with the counters so far (for metrics); may be NULL */
    void (*on_stats)(const struct sdiff_capture_run_stats *st, void *ud);
};

struct sdiff_capture_run_stats {
    struct sdiff_capture_stats source;
    uint64_t decode[SDIFF_DECODE__COUNT];
    struct sdiff_reasm_stats reasm;
    struct sdiff_pair_stats pair;
    uint64_t exchanges;        /* handed to the sink */
    uint64_t other_ports;      /* TCP segments of other ports (file sources) */
    uint64_t tunnels[SDIFF_TUN__COUNT]; /* packets decapsulated, by kind (per nesting level) */
    uint64_t tunnel_filtered;  /* inner segments the extra filter left out */
    uint64_t bad_checksums;    /* TCP segments dropped for a bad checksum */
    struct sdiff_mem_budget memory; /* capture's memory budget: limit, used, peak, refusals */
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

/**
 * The busiest TCP ports of a capture file, by packets to or from them (at most *n; *n is
 * set to how many were found), busiest first: what a capture that matched nothing names.
 * @return SDIFF_OK, or the file's error
 */
SDIFF_API int sdiff_run_busiest_ports(const char *pcap_file, uint16_t *ports, uint64_t *packets,
                                      size_t *n, struct sdiff_err *err);

/** One summary line (no newline) for people: packets, connections, exchanges by state, ... */
SDIFF_API int sdiff_capture_run_summary(const struct sdiff_capture_run_stats *st,
                                        struct sdiff_buf *out);
/** For a terminal: exchanges, packets and connections, then only the counters that are not
 * zero ("1500 exchanges from 6140 packets on 4 connections: 3 truncated"). */
SDIFF_API int sdiff_capture_run_summary_short(const struct sdiff_capture_run_stats *st,
                                              struct sdiff_buf *out);
/** The same counters as a JSON object, for the database. */
SDIFF_API int sdiff_capture_run_summary_json(const struct sdiff_capture_run_stats *st,
                                             struct sdiff_buf *out);

/* ---- cost: what each side's processes use while a run goes ------------------------------ */

/* Where one side's CPU time and memory are read: at most one of the three. */
struct sdiff_cost_source {
    int pid;                       /* > 0: this process and its descendants, found again at
                                      every sample (workers a master restarts are counted) */
    const char *cgroup;            /* a cgroup (v1 or v2) path below the cgroup root */
    const char *metrics_url;       /* a Prometheus page with process_cpu_seconds_total and
                                      process_resident_memory_bytes (sdiff_replay_fetch) */
};

/*
 * Cost sampling of replay, mirror and gate (shadowdiff/cost.h reads the sources): a thread of
 * its own samples each side given once at the start, every every_s and once at the end, and
 * stores the samples in the run's cost_samples through a store handle of its own. requests
 * per sample are what the side answered meanwhile: the candidate the replays it answered, the
 * primary the replays a live --primary answered (replay, gate) or the captured requests
 * (mirror). A source that cannot be read (a process gone, a page that stops answering) is
 * reported once through warn and that side's sampling stops; it never fails the run.
 */
struct sdiff_cost_opts {
    struct sdiff_cost_source primary, candidate; /* both empty: no sampling, no thread */
    const char *price_model;       /* recorded with the run for its report: "cloud-run"
                                      or "none"; NULL: not recorded (the report's default) */
    double every_s;                /* 0: 1 */
    const char *proc_root;         /* NULL: "/proc" */
    const char *cgroup_root;       /* NULL: "/sys/fs/cgroup" */
    long fetch_timeout_ms;         /* a metrics page's time limit; 0: 1000 */
    /* a one-line warning, called on the sampler's thread; may be NULL */
    void (*warn)(const char *msg, void *ud);
    void *warn_ud;
};

/* ---- judging: replay -> diff -> store ------------------------------------------------- */

/* Counters of a replay or mirror run. */
struct sdiff_replay_run_stats {
    int64_t run_id;
    uint64_t exchanges;            /* handed to the judge */
    uint64_t cls[SDIFF_CLASS__COUNT];
    uint64_t skip_unsafe;          /* method not allowed */
    uint64_t skip_override;        /* a method override (X-HTTP-Method-Override, _method=)
                                      naming a method not allowed */
    uint64_t skip_incomplete;      /* capture state not complete */
    uint64_t skip_sampled;         /* sampled out (--sample) */
    uint64_t skip_route_cap;       /* over the per-route rate cap */
    uint64_t skip_stopped;         /* not sent because the run was stopped */
    uint64_t skip_busy;            /* the replay queue was full */
    uint64_t errors[SDIFF_REPLAY__COUNT]; /* candidate failures by kind */
    uint64_t noise_learned;
    size_t unused_rules;
    uint64_t forged_marker;        /* requests that came with a marker header not ours
                                      (judged all the same; the copy is never forwarded) */
    char marker[SDIFF_REPLAY_MARKER_MAX]; /* the marker line of this run's replays
                                      ("X-Shadowdiff: <run token>"); "" with none */
    uint64_t primary_errors;       /* a live primary did not answer (stored as class error) */
    char primary_error[160];       /* the first such failure: "refused: ..." */
    char price_model[16];          /* sdiff_cost_opts.price_model, recorded in the run's
                                      summary; "" when none was given */
    uint64_t cost_samples;         /* cost samples stored */
};

/*
 * The judge takes exchanges one at a time and, for each: decides whether to replay it
 * (complete capture, safe or allowed method, sampled in, under the route cap), sends it to
 * the candidate (and the secondary and a live primary when given), learns noise from the
 * secondary, classifies the candidate's answer and stores the result. Skipped exchanges are
 * stored with their reason. Never blocks: the caller drives it with sdiff_judge_poll.
 */
struct sdiff_judge_opts {
    const char *candidate;         /* base URLs */
    const char *secondary;         /* NULL: none */
    const char *primary;           /* NULL: the recorded response is the primary's */
    struct sdiff_rules *rules;     /* borrowed */
    /* borrowed; credentials of every exchange, recorded response and answer are replaced by
     * keyed hashes before they are compared or stored (what is sent is not changed). Used
     * where results are stored (the worker thread when threaded). NULL: kept as they are
     * (--keep-secrets) */
    struct sdiff_redact *redact;
    const struct sdiff_routes *routes; /* explicit route templates; NULL: inferred only */
    struct sdiff_replay_opts replay;
    const char *const *allow_methods;
    size_t nallow;
    struct sdiff_store *db;        /* borrowed: results, noise (and exchanges when copied) */
    int copy_exchanges;            /* store each exchange in db before its result */
    double sample;                 /* fraction replayed, by a keyed hash of the request (the
                                      redactor's key, else the database's); 0 or 1: all */
    double route_rate;             /* replays per second per route; 0: no cap */
    size_t identical_body_every;   /* keep the candidate body of 1 identical in N; 0: never */
    /* called for each judged exchange (latencies < 0 when unknown); may be NULL */
    void (*on_result)(const char *route, enum sdiff_class cls, double primary_ms,
                      double candidate_ms, void *ud);
    void *on_result_ud;
    /* Judge and store on threads of their own, beside the replays: `judges` threads redact
     * and compare (each with its own redactor and differs), one stores (the only judge when
     * judges is 1). Then db, the rules' differs, redact and on_result belong to those threads
     * until sdiff_judge_finish, and on_result is called on the storing thread. Otherwise
     * everything runs inside sdiff_judge_submit, _poll and _abandon. */
    int threaded;
    unsigned judges;               /* threaded: 0: sdiff_judge_default_judges() */
    /* borrowed; its learned noise applies too (gate: the corpus). NULL: none */
    struct sdiff_store *noise_from;
    int no_learned_noise;          /* no learned noise: none stored, none learned now */
};

struct sdiff_judge;

/* The most judging threads a judge starts. */
#define SDIFF_JUDGES_MAX 64

/** The default number of judging threads: the CPUs online less one, at least 1, at most 8. */
SDIFF_API unsigned sdiff_judge_default_judges(void);

SDIFF_API int sdiff_judge_new(struct sdiff_judge **out, const struct sdiff_judge_opts *o,
                              struct sdiff_replay_run_stats *st, struct sdiff_err *err);
/** Abandon what is in flight and free. NULL-safe. */
SDIFF_API void sdiff_judge_free(struct sdiff_judge *j);
/**
 * Judge one exchange (ownership taken). With stopped set it is only stored as skipped.
 * now_us is the clock for the route cap (capture time or wall time).
 * @return SDIFF_OK, or a fatal error (database, out of memory)
 */
SDIFF_API int sdiff_judge_submit(struct sdiff_judge *j, struct sdiff_exchange *ex, int stopped,
                                 uint64_t now_us, struct sdiff_err *err);
/**
 * Give up on everything in flight (a drain deadline passed): each exchange is stored as
 * skipped with why, so nothing leaves the run unaccounted. The judge sends nothing after.
 */
SDIFF_API int sdiff_judge_abandon(struct sdiff_judge *j, const char *why, struct sdiff_err *err);
/** Drive the replays for up to timeout_ms; results are stored from here. */
SDIFF_API int sdiff_judge_poll(struct sdiff_judge *j, int timeout_ms, struct sdiff_err *err);
/**
 * Wait until every finished or skipped exchange is stored (threaded: stops the worker).
 * Call before using db again. @return the first storing error, or SDIFF_OK
 */
SDIFF_API int sdiff_judge_finish(struct sdiff_judge *j, struct sdiff_err *err);
/** Make a sdiff_judge_poll waiting in another thread return early. Thread-safe. */
SDIFF_API void sdiff_judge_wakeup(struct sdiff_judge *j);
/** Exchanges sent and not yet finished. */
SDIFF_API size_t sdiff_judge_inflight(const struct sdiff_judge *j);
/**
 * Whether a request is sampled in at rate: a keyed hash (sdiff_redact_key_hash64) of method,
 * target and body, so the same request under the same key gets the same answer and a request
 * cannot be crafted to be always in or always out. The judge keys it with its database's (or
 * --redact-key's) key.
 */
SDIFF_API int sdiff_judge_sampled(const struct sdiff_redact_key *key,
                                  const struct sdiff_exchange *ex, double rate);

/* ---- noise learned at capture ----------------------------------------------------------- */

/*
 * Capture sees the old service answer identical safe requests again and again: the
 * evidence of the noise rule (shadowdiff/diff.h). Fed every captured exchange (redacted),
 * the learner stores each field that becomes noise in the corpus with its evidence
 * (`repeat`), so replay, mirror and gate of the corpus know it from their first answer.
 * Routes are the inferred templates, as the judge names them without explicit routes.
 */
struct sdiff_capture_learner;
/** corpus is borrowed (a SQLite or PostgreSQL store); rules may be NULL (the defaults). */
SDIFF_API int sdiff_capture_learner_new(struct sdiff_capture_learner **out,
                                        struct sdiff_store *corpus, struct sdiff_rules *rules,
                                        struct sdiff_err *err);
/** @return fields learned now (>= 0), or SDIFF_ENOMEM / SDIFF_EDB */
SDIFF_API int sdiff_capture_learner_feed(struct sdiff_capture_learner *c,
                                         const struct sdiff_exchange *ex,
                                         struct sdiff_err *err);
/** Fields learned and stored so far. */
SDIFF_API uint64_t sdiff_capture_learner_learned(const struct sdiff_capture_learner *c);
SDIFF_API void sdiff_capture_learner_free(struct sdiff_capture_learner *c);

/* ---- progress of a replay or a gate --------------------------------------------------- */

/* Where a replay or gate stands, for a status line. */
struct sdiff_run_progress {
    uint64_t done;                 /* exchanges finished: judged, failed or skipped */
    uint64_t total;                /* exchanges the run will take; 0: not known */
    uint64_t different;            /* judged different so far */
    uint64_t errors;               /* the candidate failed so far */
    double elapsed_s;
    int final;                     /* the last call: the run has ended */
};

/* Called from the run's own thread every progress_s seconds and once at the end. */
typedef void (*sdiff_run_progress_fn)(const struct sdiff_run_progress *p, void *ud);

/* ---- replay of a corpus ---------------------------------------------------------------- */

/*
 * Replays a corpus (from capture) through a judge into a results database, which may be the
 * corpus itself.
 */
struct sdiff_replay_run_opts {
    const char *corpus;
    const char *db;
    const char *config_path;       /* for the record */
    const char *run_name;          /* join or start this named run; NULL: a new unnamed run */
    const char *labels_json;       /* the run's labels (a JSON object text), or NULL */
    struct sdiff_judge_opts judge; /* db and copy_exchanges are set by the run */
    struct sdiff_store_opts store;
    double drain_s;                /* after a stop, wait this long for answers; 0: 10 */
    sdiff_run_progress_fn progress; /* NULL: none */
    void *progress_ud;
    double progress_s;             /* 0: every second */
    struct sdiff_cost_opts cost;   /* CPU and memory of each side; empty: none */
};

/* ---- mirror: the sidecar ---------------------------------------------------------------- */

/*
 * Capture runs on its own thread and hands exchanges over a bounded queue, so the packet
 * path never waits on replay, diff or SQLite. Live, a full queue drops the exchange (counted);
 * from a file, capture waits instead (an offline shadow run loses nothing). Requests that
 * carry this run's marker (its run token) are our own replays and are never judged; a marker
 * header with another value is forged: counted (judge.forged_marker) and judged.
 */
struct sdiff_mirror_stats {
    struct sdiff_capture_run_stats capture; /* final values once the capture thread ended */
    struct sdiff_replay_run_stats judge;
    uint64_t queue_drops;          /* exchanges dropped because the queue was full */
    uint64_t own_replays;          /* captured requests carrying our marker (run token) */
    size_t queue_depth;            /* now */
    size_t queue_peak;
    double elapsed_s;
    double drained_s;              /* from noticing the stop to the end, store closed; 0:
                                      the run was not stopped */
};

struct sdiff_mirror_opts {
    struct sdiff_capture_run_opts capture;
    struct sdiff_judge_opts judge; /* db and copy_exchanges are set by the run */
    const char *db;
    const char *config_path;
    const char *run_name;          /* as in sdiff_replay_run_opts */
    const char *labels_json;
    struct sdiff_store_opts store;
    size_t queue_cap;              /* 0: 4096 */
    size_t max_inflight;           /* 0: twice the replay concurrency */
    /* after a stop, everything is over within this: answers are waited for until its last
     * quarter (at most 2 s before the end), then what is still queued or in flight is
     * stored as skipped (stopped) and the results flushed; 0: 10 */
    double drain_s;
    double progress_s;             /* call progress this often; 0: 5 */
    void (*progress)(const struct sdiff_mirror_stats *st, void *ud);
    void *progress_ud;
    const char *metrics_addr;      /* serve /metrics and /healthz here; NULL: off */
    struct sdiff_cost_opts cost;   /* CPU and memory of each side; empty: none */
};

SDIFF_API int sdiff_run_mirror(const struct sdiff_mirror_opts *o, volatile sig_atomic_t *stop,
                               struct sdiff_mirror_stats *st, struct sdiff_err *err);

/* ---- gate: a sampled replay for CI --------------------------------------------------- */

/*
 * Samples n exchanges from a corpus, stratified by route: every route with a replayable
 * exchange gets at least one, the rest go to routes in proportion to their traffic, and the
 * choice inside a route follows a hash of (seed, exchange), so the same seed picks the same
 * exchanges. Each sample is sent to the live primary and the candidate (and the secondary),
 * judged and stored in db; unsampled exchanges are not stored.
 */
struct sdiff_gate_opts {
    const char *corpus;
    const char *db;
    const char *config_path;
    const char *run_name;          /* as in sdiff_replay_run_opts */
    const char *labels_json;
    struct sdiff_judge_opts judge; /* primary must be set */
    struct sdiff_store_opts store;
    size_t sample;                 /* the most exchanges replayed; 0: 1000 */
    uint64_t seed;
    uint64_t min_samples;          /* the plan raises each route to this first; 0: 30 */
    int no_learned_noise;          /* no learned noise: none stored, none learned now */
    sdiff_run_progress_fn progress; /* NULL: none */
    void *progress_ud;
    double progress_s;             /* 0: every second */
    struct sdiff_cost_opts cost;   /* CPU and memory of each side; empty: none */
};

struct sdiff_gate_stats {
    struct sdiff_replay_run_stats judge;
    uint64_t corpus;               /* exchanges in the corpus */
    uint64_t eligible;             /* complete, with an allowed method */
    size_t routes;                 /* routes among the eligible */
    size_t sampled;
    /* the plan: every route with a replayable exchange, busiest first (ties by name); routes
     * planned 0 were not sampled (more routes than --sample). Freed by
     * sdiff_gate_stats_dispose */
    struct sdiff_report_plan *plan;
    size_t nplan;
};

/** Free what a gate run left in st (its plan). NULL-safe. */
SDIFF_API void sdiff_gate_stats_dispose(struct sdiff_gate_stats *st);

SDIFF_API int sdiff_run_gate(const struct sdiff_gate_opts *o, volatile sig_atomic_t *stop,
                             struct sdiff_gate_stats *st, struct sdiff_err *err);

SDIFF_API int sdiff_run_replay(const struct sdiff_replay_run_opts *o, volatile sig_atomic_t *stop,
                               struct sdiff_replay_run_stats *st, struct sdiff_err *err);

/** "N exchanges: N identical, N equivalent, N different, N error, N skipped (...)" */
SDIFF_API int sdiff_replay_run_summary(const struct sdiff_replay_run_stats *st,
                                       struct sdiff_buf *out);
SDIFF_API int sdiff_replay_run_summary_json(const struct sdiff_replay_run_stats *st,
                                            struct sdiff_buf *out);

#ifdef __cplusplus
}
#endif
#endif
