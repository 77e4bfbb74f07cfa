#ifndef SDIFF_STORE_H
#define SDIFF_STORE_H

#include <stdio.h>

#include "shadowdiff/core.h"
#include "shadowdiff/exchange.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/store.h - the results schema's only owner: captured exchanges (a SQLite corpus,
 * or JSON Lines), runs, results, differences, learned noise and waivers, written and read
 * back through the calls below. No SQL and no backend type leaves lib/store: reports are
 * built from the rows and aggregates its readers hand out.
 *
 * A store is a SQLite file, or a PostgreSQL database when its location is a postgres:// or
 * postgresql:// URL (libpq; the same calls, schema and guarantees; lib/store/README.md says
 * what differs). What follows about files is about SQLite.
 *
 * The SQLite file is created mode 0600, runs in WAL mode and writes in batched
 * transactions, so a crash loses at most the last uncommitted batch and never corrupts what
 * was committed. The schema version is PRAGMA user_version; a file from a newer version is
 * refused rather than misread. Opening for writing migrates a version-2 file to version 3
 * (additive, every row kept); a read_only open reads both and never migrates. The schema is
 * documented table by table in lib/store/README.md. Credentials are redacted before they
 * reach the store (shadowdiff/redact.h); as a last line of defence, a sensitive header value
 * (Authorization, Cookie, Set-Cookie, Proxy-Authorization, X-Api-Key, ... plus a configurable
 * list) that does not hold a redactor's hash is written as "[redacted]" unless keep_secrets is
 * set. Not thread-safe: one store per thread.
 */

#define SDIFF_STORE_SCHEMA_VERSION 3

struct sdiff_store_opts {
    int keep_secrets;              /* store sensitive header values as they are */
    const char *const *secret_headers; /* extra header names to redact */
    size_t nsecret;
    size_t batch;                  /* exchanges per transaction; 0: 1000 */
    int must_exist;                /* open an existing database only (a corpus to read) */
    int checksums;                 /* JSON Lines: add req_body_crc32 and resp_body_crc32 */
    int read_only;                 /* read an existing results database: never creates,
                                      migrates or writes it (report, inspect) */
};

struct sdiff_store;

/**
 * Open or create a corpus database: path is a SQLite file, or a postgres:// or
 * postgresql:// URL (an existing PostgreSQL database; a writer creates the schema in it).
 * Fails with a one-line reason when the path is not writable, is not a SQLite database, or
 * holds a newer schema, or when PostgreSQL cannot be reached or refuses (the URL shown with
 * its password as "***"). With opts->read_only the
 * file must exist, be a regular file and hold runs and results of a schema this version
 * reads; it is opened read-only and never changed (the write calls then fail with SDIFF_EDB).
 * @return SDIFF_OK, SDIFF_EDB, SDIFF_EIO; caller closes with sdiff_store_close
 */
SDIFF_API int sdiff_store_open(struct sdiff_store **out, const char *path,
                               const struct sdiff_store_opts *opts, struct sdiff_err *err);
/** Commit what is pending and close. NULL-safe. */
SDIFF_API void sdiff_store_close(struct sdiff_store *st);

/** Record the start of a capture from source; sets *id. */
SDIFF_API int sdiff_store_begin_capture(struct sdiff_store *st, const char *source,
                                        const char *command, int64_t *id,
                                        struct sdiff_err *err);
/** Record the end of a capture and its summary (a JSON object as text). Commits. */
SDIFF_API int sdiff_store_end_capture(struct sdiff_store *st, int64_t id, const char *summary,
                                      struct sdiff_err *err);

/** Append an exchange to the current capture; sets ex->id. Commits every batch. */
SDIFF_API int sdiff_store_put_exchange(struct sdiff_store *st, struct sdiff_exchange *ex,
                                       struct sdiff_err *err);
/** Commit the open transaction, if any. */
SDIFF_API int sdiff_store_commit(struct sdiff_store *st, struct sdiff_err *err);

/** Number of exchanges stored by capture capture_id, or by all captures when it is 0. */
SDIFF_API int sdiff_store_count_exchanges(struct sdiff_store *st, int64_t capture_id, int64_t *n,
                                          struct sdiff_err *err);

/* ---- runs and results ------------------------------------------------------------------ */

/*
 * A run's life: begin_run makes it `running`; every commit moves its last activity; it ends
 * `finished`, `interrupted` (stopped by a signal, or by an error after judging something) or
 * `failed` (it failed before judging anything: such a run is never the default one).
 */
enum sdiff_run_state {
    SDIFF_RUN_RUNNING = 0,
    SDIFF_RUN_FINISHED,
    SDIFF_RUN_INTERRUPTED,
    SDIFF_RUN_FAILED,
};

/** "running", "finished", "interrupted", "failed". */
SDIFF_API const char *sdiff_run_state_str(enum sdiff_run_state s);

struct sdiff_run_info {
    const char *kind;          /* "replay", "mirror", "gate" */
    const char *corpus;
    const char *candidate;
    const char *secondary;
    const char *primary;
    const char *config;
    const char *name;          /* NULL: an unnamed run. A named run that exists already is
                                  joined (appended to): begin_run returns its id */
    const char *labels_json;   /* a JSON object of string labels, or NULL; joining a named run
                                  merges them into its labels */
    const char *marker;        /* the run's marker token, or NULL */
    const char *side;          /* this instance's side: "old" (NULL) or "new" */
    /* this instance; NULL: from the environment (HOSTNAME, K_SERVICE, K_REVISION) */
    const char *host, *k_service, *k_revision;
};

/* One replayed answer, as stored. */
struct sdiff_stored_resp {
    const struct sdiff_msg *msg; /* NULL when the request failed */
    double latency_ms;           /* < 0: unknown */
    const char *error;           /* NULL when answered */
    int keep_body;               /* store the body (differences always keep theirs) */
    int skip_row;                /* store only status and latency in the result, no answer row
                                    (identical answers: their headers and body add nothing) */
};

struct sdiff_result_rec {
    int64_t run_id;
    uint64_t exchange_id;        /* the exchange in this database */
    const char *method, *route, *target;
    const char *cls;             /* "identical", ... */
    const char *reasons;         /* comma list, or NULL */
    const char *skip_reason;     /* for skipped */
    const char *note;
    int primary_status;          /* 0: none */
    double primary_ms;           /* < 0: unknown */
    int bytes_equal;             /* -1: not compared */
    uint64_t t_req_start;
    struct sdiff_stored_resp candidate, secondary;
    const char *const *paths;    /* differences: path, kind, primary and candidate values */
    const char *const *kinds;
    const char *const *primary_values;
    const char *const *candidate_values;
    const char *const *hints;    /* per difference, the probable cause or NULL; may be NULL */
    size_t ndiffs;
    const char *raw_path;        /* the request's path; NULL: target up to its '?' */
    const char *shape;           /* short hash of the primary's answer shape, or NULL */
};

/**
 * Begin (or, for a name that exists, join) a run: its state becomes running and its last
 * activity now, and this process is recorded as one of its instances (a random 128-bit id,
 * host, K_SERVICE, K_REVISION, pid, version, side). Results put after it belong to this
 * instance. Commits.
 * @return SDIFF_OK, SDIFF_EDB
 */
SDIFF_API int sdiff_store_begin_run(struct sdiff_store *st, const struct sdiff_run_info *info,
                                    int64_t *id, struct sdiff_err *err);
/** sdiff_store_finish_run(st, id, SDIFF_RUN_FINISHED, summary, err). */
SDIFF_API int sdiff_store_end_run(struct sdiff_store *st, int64_t id, const char *summary,
                                  struct sdiff_err *err);
/**
 * Commit, then end run id in state (not SDIFF_RUN_RUNNING) with its summary (JSON text, also
 * the counters of this instance, which stops now). A run joined by other instances is left
 * in the state the last one to end gives it.
 * @return SDIFF_OK, SDIFF_EDB
 */
SDIFF_API int sdiff_store_finish_run(struct sdiff_store *st, int64_t id,
                                     enum sdiff_run_state state, const char *summary,
                                     struct sdiff_err *err);
/** This process's instance id (32 hex digits) after begin_run; "" before. */
SDIFF_API const char *sdiff_store_instance_id(const struct sdiff_store *st);
/** Schema version of the open file (a read-only store may hold an older one). */
SDIFF_API int sdiff_store_schema_version(const struct sdiff_store *st);
SDIFF_API int sdiff_store_put_result(struct sdiff_store *st, const struct sdiff_result_rec *r,
                                     int64_t *id, struct sdiff_err *err);

/* One exchange of a side's live traffic (capture --db --side): the live cohort. */
struct sdiff_store_live {
    const char *method, *route, *raw_path;
    int status;                    /* 0: no answer */
    double latency_ms;             /* < 0: unknown */
    const char *error;             /* why there is no complete answer, or NULL */
    const char *marker;            /* the value of a replay marker header it carried: our own
                                      shadow traffic, not live users; NULL when none */
    uint64_t t_req_start;
};
/** Store one live exchange of the run begun on st (its instance and side). Batched. */
SDIFF_API int sdiff_store_put_live(struct sdiff_store *st, const struct sdiff_store_live *l,
                                   struct sdiff_err *err);

/**
 * Learned noise, per route: fn is called for each stored (route, key); save writes keys
 * that are not stored yet.
 */
SDIFF_API int sdiff_store_load_noise(struct sdiff_store *st,
                                     int (*fn)(const char *route, const char *key, void *ud),
                                     void *ud, struct sdiff_err *err);
/* Where a learned key came from and what was counted (the noise rule of shadowdiff/diff.h). */
struct sdiff_store_noise {
    const char *route, *key;
    int64_t run_id;
    const char *source;            /* "secondary", "repeat"; NULL: unknown */
    uint64_t pairs, clients;       /* 0: unknown */
    const char *examples_json;     /* a JSON array of example values, or NULL */
    double confidence;             /* < 0: unknown */
    const char *instance_id;       /* read back only (saving takes this process's) */
    const char *learned_at;        /* read back only: "YYYY-MM-DDTHH:MM:SS.sssZ" */
};
/** Store n (this process's instance id with it) unless its (route, key) is stored already. */
SDIFF_API int sdiff_store_save_noise(struct sdiff_store *st, const struct sdiff_store_noise *n,
                                     struct sdiff_err *err);

/**
 * Result result_id, stored `different` while the keys it differs on were still collecting
 * evidence, turned out to differ only on learned noise: it becomes `equivalent` with reason
 * `noise`, and its differences go. A result of another class is left as it is.
 * @return SDIFF_OK, SDIFF_EDB
 */
SDIFF_API int sdiff_store_mark_noise(struct sdiff_store *st, int64_t result_id,
                                     struct sdiff_err *err);

/**
 * Visit the learned noise in (route, key) order (bytewise), with its provenance (NULL or 0
 * where unknown: always in a version-2 file). Rows are borrowed for the call.
 * @return SDIFF_OK, SDIFF_EDB, or fn's status
 */
SDIFF_API int sdiff_store_each_noise(struct sdiff_store *st,
                                     int (*fn)(const struct sdiff_store_noise *n, void *ud,
                                               struct sdiff_err *err),
                                     void *ud, struct sdiff_err *err);

/**
 * Visit every stored exchange in id order, rebuilt as owned exchanges (fn takes ownership).
 * fn returns < 0 to stop with that status. Reads with its own statement, so fn may write
 * through the same store.
 */
SDIFF_API int sdiff_store_each_exchange(struct sdiff_store *st,
                                        int (*fn)(struct sdiff_exchange *ex, void *ud,
                                                  struct sdiff_err *err),
                                        void *ud, struct sdiff_err *err);

/* ---- reading results: the rows and aggregates reports are built from -------------------- */

/*
 * Every reader below works on a store opened with or without read_only. Visitors call fn
 * once per row; a row and every string it points to are borrowed for that call only. fn
 * returns SDIFF_OK to go on, SDIFF_END to stop early (the visitor then returns SDIFF_OK), or
 * a negative status to stop with it (fn sets err; the visitor returns that status as it is).
 * "since_us" keeps the results whose request started at or after it (microseconds since the
 * epoch); 0 keeps all.
 */

/* A run as recorded by sdiff_store_begin_run and sdiff_store_end_run. Owns its strings. */
struct sdiff_store_run {
    int64_t id;
    char *kind, *corpus, *candidate, *secondary, *primary, *config;
    char *started_at, *finished_at; /* "YYYY-MM-DDTHH:MM:SS.sssZ"; NULL when unknown */
    char *summary;                  /* JSON text of sdiff_store_end_run; NULL when none */
    char *name;                     /* NULL: unnamed (always, in a version-2 file) */
    char *state;                    /* "running", "finished", "interrupted", "failed" (derived
                                       in a version-2 file: finished when it has an end,
                                       interrupted when it has results, else failed) */
    char *labels_json, *marker;     /* NULL when none */
    char *last_activity;            /* as started_at */
};

/**
 * Read run run_id, or the default run when run_id is 0: the latest by last activity that
 * did not fail. Into *out (caller disposes with
 * sdiff_store_run_dispose; on failure *out is empty and disposable).
 * @return SDIFF_OK; SDIFF_EINVAL "no run N in FILE" / "no run in FILE"; SDIFF_EDB; SDIFF_ENOMEM
 */
SDIFF_API int sdiff_store_get_run(struct sdiff_store *st, int64_t run_id,
                                  struct sdiff_store_run *out, struct sdiff_err *err);
/** Free the strings of run and zero it. NULL-safe. */
SDIFF_API void sdiff_store_run_dispose(struct sdiff_store_run *run);
/**
 * The id of the run that sel selects: all digits is an id, anything else a run name.
 * @return SDIFF_OK; SDIFF_EINVAL "no run SEL in FILE"; SDIFF_EDB
 */
SDIFF_API int sdiff_store_find_run(struct sdiff_store *st, const char *sel, int64_t *id,
                                   struct sdiff_err *err);

/* The counts of a run's results, and how many instances wrote them. */
struct sdiff_store_run_counts {
    uint64_t instances;           /* processes recorded for it; 0 in a version-2 file */
    uint64_t samples;             /* every result */
    uint64_t judged;              /* identical + equivalent + different */
    uint64_t different, errors, skipped;
};

/**
 * Visit every run in id order with its counts (one aggregate over the results). run and
 * every string it points to are borrowed for the call only (do not dispose it).
 * @return SDIFF_OK, SDIFF_EDB, or fn's status
 */
SDIFF_API int sdiff_store_each_run(struct sdiff_store *st,
                                   int (*fn)(const struct sdiff_store_run *run,
                                             const struct sdiff_store_run_counts *c, void *ud,
                                             struct sdiff_err *err),
                                   void *ud, struct sdiff_err *err);

/* One instance (process) of a run, with the counts of the results it wrote. */
struct sdiff_store_instance {
    const char *id;               /* 32 hex digits */
    const char *host, *k_service, *k_revision, *version, *side; /* NULL when unknown */
    int64_t pid;                  /* 0: unknown */
    const char *started_at, *stopped_at, *last_activity; /* NULL when unknown (or running) */
    uint64_t samples, identical, equivalent, different, errors, skipped;
};

/**
 * Visit the instances of run_id in the order they started (none in a version-2 file), with
 * the counts of their results ("since_us" as for the other visitors).
 * @return SDIFF_OK, SDIFF_EDB, or fn's status
 */
SDIFF_API int sdiff_store_each_instance(struct sdiff_store *st, int64_t run_id,
                                        uint64_t since_us,
                                        int (*fn)(const struct sdiff_store_instance *in,
                                                  void *ud, struct sdiff_err *err),
                                        void *ud, struct sdiff_err *err);

/* Counts of one stored route of a run (an aggregate over its results). */
struct sdiff_store_route_stats {
    const char *route;            /* results.route ("GET /users/{id}"); NULL: results without */
    uint64_t samples;             /* every result */
    uint64_t identical, equivalent, different, errors, skipped; /* by class */
    uint64_t primary_5xx;         /* replayed (judged or error) with primary status >= 500 */
    uint64_t candidate_5xx;       /* replayed with candidate status >= 500 */
    uint64_t candidate_failed;    /* class error, or judged with candidate status >= 500 */
    uint64_t not_found;           /* the primary answered 404 or 405 */
    /* the least and greatest shape (sdiff_answer_shape) of the primary's 2xx answers: equal
     * when they all have one shape; NULL when unknown (none, or a version-2 file) */
    const char *shape_min, *shape_max;
    /* judged results where both sides answered 4xx, and those of them different */
    uint64_t both_4xx, both_4xx_different;
};

/**
 * Visit the per-route counts of run_id, in route order (bytewise; the results without a
 * route first).
 * @return SDIFF_OK, SDIFF_EDB, or fn's status
 */
SDIFF_API int sdiff_store_each_route_stats(struct sdiff_store *st, int64_t run_id,
                                           uint64_t since_us,
                                           int (*fn)(const struct sdiff_store_route_stats *s,
                                                     void *ud, struct sdiff_err *err),
                                           void *ud, struct sdiff_err *err);

/* The latencies of one result. */
struct sdiff_store_latency {
    const char *route;            /* as in sdiff_store_route_stats */
    double primary_ms;            /* < 0: unknown */
    double candidate_ms;          /* < 0: unknown */
};

/**
 * Visit the latencies of every result of run_id, in storage order (unsorted: the caller
 * buckets and sorts; one sequential pass is far cheaper than a sorted one on large runs).
 * @return SDIFF_OK, SDIFF_EDB, or fn's status
 */
SDIFF_API int sdiff_store_each_latency(struct sdiff_store *st, int64_t run_id, uint64_t since_us,
                                       int (*fn)(const struct sdiff_store_latency *l, void *ud,
                                                 struct sdiff_err *err),
                                       void *ud, struct sdiff_err *err);

/* One stored difference of a result. */
struct sdiff_store_difference {
    int64_t result_id;
    const char *route;            /* the result's route; NULL when it has none */
    uint64_t t_req_start;         /* the result's request start (microseconds); 0: unknown */
    const char *path;             /* "$.items[3].price", "status", ...; NULL: the result has
                                     no stored difference (one row stands for it) */
    const char *kind;             /* "changed", "missing", ... */
    const char *primary_value, *candidate_value; /* NULL when absent on that side */
    const char *hint;             /* probable cause, or NULL (always in a version-2 file) */
};

/**
 * Visit the results of class "different" of run_id with their differences: one row per
 * difference (path NULL for a result without any), ordered by result id, then by the
 * difference's position.
 * @return SDIFF_OK, SDIFF_EDB, or fn's status
 */
SDIFF_API int sdiff_store_each_different(struct sdiff_store *st, int64_t run_id,
                                         uint64_t since_us,
                                         int (*fn)(const struct sdiff_store_difference *d,
                                                   void *ud, struct sdiff_err *err),
                                         void *ud, struct sdiff_err *err);

/**
 * Visit the stored differences of one result in their order (none: fn is never called).
 * route and t_req_start are not filled (NULL, 0).
 * @return SDIFF_OK, SDIFF_EDB, or fn's status
 */
SDIFF_API int sdiff_store_each_difference(struct sdiff_store *st, int64_t result_id,
                                          int (*fn)(const struct sdiff_store_difference *d,
                                                    void *ud, struct sdiff_err *err),
                                          void *ud, struct sdiff_err *err);

/* One answer of a stored result (the primary's, from the exchange; or the candidate's). */
struct sdiff_store_answer {
    int present;                  /* a row was stored for it */
    int status;                   /* 0: no status (no response, or a failed request) */
    char *reason;                 /* NULL when none */
    char *headers_json;           /* [["Name","value"],...] as stored; NULL when none */
    uint8_t *body;                /* body_len stored bytes (NULL when empty or not stored) */
    size_t body_len;
    int body_stored;              /* the body was kept */
    int64_t body_size;            /* length of the answer's body; -1: unknown */
    double latency_ms;            /* < 0: unknown */
    char *error;                  /* the request failed: why; NULL when answered */
};

/* A result in full, for `inspect`. Owns everything it points to. */
struct sdiff_store_result {
    int64_t id, run_id;
    char *method, *route, *target, *cls, *reasons, *skip_reason, *note;
    int primary_status, candidate_status; /* 0: none */
    double primary_ms, candidate_ms;      /* < 0: unknown */
    char *candidate_error;
    char *run_candidate;          /* the run's candidate URL; NULL when unknown */
    int has_exchange;             /* the request and the primary's answer are stored */
    char *req_method, *req_target, *req_headers_json;
    uint8_t *req_body;
    size_t req_body_len;
    struct sdiff_store_answer primary;   /* present when the exchange has a response */
    struct sdiff_store_answer candidate; /* present when the candidate's answer was stored */
};

/**
 * Read result result_id in full into *out (caller disposes with sdiff_store_result_dispose;
 * on failure *out is empty and disposable).
 * @return SDIFF_OK; SDIFF_EINVAL "no result N in FILE"; SDIFF_EDB; SDIFF_ENOMEM
 */
SDIFF_API int sdiff_store_get_result(struct sdiff_store *st, int64_t result_id,
                                     struct sdiff_store_result *out, struct sdiff_err *err);
/** Free what result owns and zero it. NULL-safe. */
SDIFF_API void sdiff_store_result_dispose(struct sdiff_store_result *result);

/* ---- waivers: accepted discrepancy clusters (`shadowdiff accept`) ----------------------- */

/*
 * One waiver per cluster: accepting a cluster again updates its waiver (reason, expiry, run,
 * route, signature) and keeps its id. In a version-2 file every row is a waiver.
 */
struct sdiff_store_waiver {
    int64_t id;                   /* set by the store; stable */
    const char *cluster;          /* cluster id, 12 hex digits */
    const char *route, *signature;/* NULL when unknown */
    const char *reason;
    const char *expires;          /* "YYYY-MM-DD" (last day it applies); NULL: never */
    int64_t run_id;               /* the run it was accepted on; 0: unknown */
    const char *created_at;       /* set by the store */
};

/**
 * Visit the stored waivers, newest first (none in a database without a waivers table).
 * @return SDIFF_OK, SDIFF_EDB, or fn's status
 */
SDIFF_API int sdiff_store_each_waiver(struct sdiff_store *st,
                                      int (*fn)(const struct sdiff_store_waiver *w, void *ud,
                                                struct sdiff_err *err),
                                      void *ud, struct sdiff_err *err);
/**
 * Record a waiver, or update the cluster's waiver (w->id and w->created_at are ignored);
 * sets *id (the waiver's stable id) when not NULL. Commits.
 * @return SDIFF_OK, SDIFF_EDB
 */
SDIFF_API int sdiff_store_put_waiver(struct sdiff_store *st, const struct sdiff_store_waiver *w,
                                     int64_t *id, struct sdiff_err *err);

/* ---- pruning old runs ------------------------------------------------------------------- */

struct sdiff_store_prune_opts {
    uint64_t keep;                 /* keep the newest N runs; 0: no such limit */
    const char *older_than;        /* remove runs last active before this time
                                      ("YYYY-MM-DDTHH:MM:SS.sssZ"); NULL: no such limit */
    int dry_run;                   /* count what would go, remove nothing */
};

struct sdiff_store_prune_stats {
    uint64_t runs, results;        /* removed (or, dry, that would be) */
    uint64_t running_kept;         /* runs still running, never removed */
};

/**
 * Remove the runs that fall outside keep / older_than (both when both are set), except
 * runs still running, with everything they wrote, in one transaction; then compact a SQLite
 * file. Captured exchanges, learned noise and waivers stay. A writer: opens migrate.
 * @return SDIFF_OK; SDIFF_EINVAL (neither limit); SDIFF_EDB; SDIFF_ENOMEM
 */
SDIFF_API int sdiff_store_prune(struct sdiff_store *st, const struct sdiff_store_prune_opts *o,
                                struct sdiff_store_prune_stats *out, struct sdiff_err *err);

/**
 * Revoke waiver id (it stays as a row, with revoked_at, and no longer applies).
 * @return SDIFF_OK; SDIFF_EINVAL "no waiver ID in FILE" (also one already revoked); SDIFF_EDB
 */
SDIFF_API int sdiff_store_revoke_waiver(struct sdiff_store *st, int64_t id,
                                        struct sdiff_err *err);

/** Path of the database file, or its PostgreSQL URL with the password shown as "***". */
SDIFF_API const char *sdiff_store_path(const struct sdiff_store *st);

/**
 * Whether a --db value selects PostgreSQL: it starts with postgres:// or postgresql:// (a
 * bare scheme takes everything from the PG* environment variables). Anything else is a
 * SQLite path; PG* variables alone never select PostgreSQL.
 */
SDIFF_API int sdiff_store_is_url(const char *location);
/**
 * Whether the store at location can be written now, without opening it (for a readiness
 * check; any thread): PostgreSQL is pinged (no login, at most 2 s), a SQLite file must be
 * there and writable.
 * @return SDIFF_OK, or SDIFF_EDB with why in err ("no response from the server", ...)
 */
SDIFF_API int sdiff_store_ping(const char *location, struct sdiff_err *err);
/** A --db value as it may be printed, logged or stored: a URL's password (in its user info
 * or a password= parameter) becomes "***"; a path is copied as it is. Truncates to cap. */
SDIFF_API void sdiff_store_shown(const char *location, char *out, size_t cap);

/**
 * Copy run src_run of src (a SQLite file or PostgreSQL, read-only is enough) into dst, a
 * SQLite file opened for writing: the run (joining dst's run of the same name, if any), its
 * instances and batches, its results with their answers and differences, the exchanges they
 * refer to, the waivers and learned noise of src, and its redaction key when dst has none.
 * Ids are kept where dst has them free. A result dst holds already (same instance, batch and
 * place in it) is skipped, so merging a source twice adds nothing twice. One transaction:
 * all or nothing. The caller checks that both hash with the same redaction key. Sets
 * *dst_run and *copied (results added) when not NULL.
 * @return SDIFF_OK, SDIFF_EINVAL (dst is not a writable SQLite file; no such run), SDIFF_EDB
 */
SDIFF_API int sdiff_store_merge_run(struct sdiff_store *dst, struct sdiff_store *src,
                                    int64_t src_run, int64_t *dst_run, uint64_t *copied,
                                    struct sdiff_err *err);

/* ---- meta: small named values of the database (the redaction key, ...) ------------------ */

/**
 * Read the meta value called name into out (at most cap bytes; *len is its full length).
 * @return 1 found, 0 not there (also for databases without a meta table), or SDIFF_EDB
 */
SDIFF_API int sdiff_store_meta_get(struct sdiff_store *st, const char *name, void *out,
                                   size_t cap, size_t *len, struct sdiff_err *err);
/**
 * Store a meta value unless one with that name exists already (the first writer wins when
 * two processes race; read it back with sdiff_store_meta_get). Commits what was pending.
 * @return SDIFF_OK, SDIFF_EDB
 */
SDIFF_API int sdiff_store_meta_add(struct sdiff_store *st, const char *name, const void *v,
                                   size_t len, struct sdiff_err *err);

/* ---- JSON Lines -------------------------------------------------------------------------- */

/**
 * Append one exchange as a JSON object (no newline) to out: conn, seq, client, server,
 * method, target, version, status (null without a response), reason, state, note,
 * req_body_len, resp_body_len (after de-chunking), req_body_crc32 and resp_body_crc32 (with
 * opts->checksums), primary_ms (null when unknown), t_req_start (microseconds), req_headers and resp_headers
 * (arrays of [name, value], redacted unless keep_secrets).
 */
SDIFF_API int sdiff_exchange_to_json(const struct sdiff_exchange *ex,
                                     const struct sdiff_store_opts *opts, struct sdiff_buf *out);

/** Whether a header is redacted under opts (the defaults plus opts' own list). */
SDIFF_API int sdiff_store_is_secret(const struct sdiff_store_opts *opts, const char *name,
                                    size_t len);

/* ---- cost samples: what each side's processes used ---------------------------------------- */

/*
 * One sample of a side (table cost_samples): the CPU its processes used and the requests it
 * answered since that side's previous sample (0 for the first), and its resident memory now.
 */
struct sdiff_store_cost_sample {
    const char *target;            /* "primary" or "candidate" */
    uint64_t t_us;                 /* wall clock, microseconds since the epoch */
    uint64_t requests;             /* answered since the previous sample */
    double cpu_ms;                 /* CPU time since the previous sample, workers included */
    uint64_t rss_bytes;            /* resident memory at t_us */
    const char *instance_id;       /* read back: the instance that sampled (NULL: unknown);
                                      ignored by put */
};

/**
 * Store n samples of run run_id in one transaction, committed before returning (whatever was
 * pending on st is committed first). instance_id: the sampling instance (32 hex digits), or
 * NULL for st's own. Meant for a handle of the sampler's own (a store is one thread's): on
 * SQLite it waits its turn behind the run's writer.
 * @return SDIFF_OK; SDIFF_EDB (also for a version-2 file, which has no such table)
 */
SDIFF_API int sdiff_store_put_cost_samples(struct sdiff_store *st, int64_t run_id,
                                           const char *instance_id,
                                           const struct sdiff_store_cost_sample *s, size_t n,
                                           struct sdiff_err *err);
/**
 * Visit the cost samples of run_id taken at or after since_us (0: all), by target, instance
 * and time. None in a version-2 file.
 * @return SDIFF_OK, SDIFF_EDB, or fn's status
 */
SDIFF_API int sdiff_store_each_cost_sample(struct sdiff_store *st, int64_t run_id,
                                           uint64_t since_us,
                                           int (*fn)(const struct sdiff_store_cost_sample *s,
                                                     void *ud, struct sdiff_err *err),
                                           void *ud, struct sdiff_err *err);

#ifdef __cplusplus
}
#endif
#endif
