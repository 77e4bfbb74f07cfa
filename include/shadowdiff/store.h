#ifndef SDIFF_STORE_H
#define SDIFF_STORE_H

#include <stdio.h>

#include "shadowdiff/core.h"
#include "shadowdiff/exchange.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/store.h - persistence of captured exchanges: a SQLite corpus, or JSON Lines.
 *
 * The SQLite file is created mode 0600, runs in WAL mode and writes in batched
 * transactions, so a crash loses at most the last uncommitted batch and never corrupts what
 * was committed. The schema version is PRAGMA user_version; a file from a newer version is
 * refused rather than misread. Credentials are redacted before they reach the store
 * (shadowdiff/redact.h); as a last line of defence, a sensitive header value (Authorization,
 * Cookie, Set-Cookie, Proxy-Authorization, X-Api-Key, ... plus a configurable list) that does
 * not hold a redactor's hash is written as "[redacted]" unless keep_secrets is set. Not
 * thread-safe: one store per thread.
 */

#define SDIFF_STORE_SCHEMA_VERSION 2

struct sdiff_store_opts {
    int keep_secrets;              /* store sensitive header values as they are */
    const char *const *secret_headers; /* extra header names to redact */
    size_t nsecret;
    size_t batch;                  /* exchanges per transaction; 0: 1000 */
    int must_exist;                /* open an existing database only (a corpus to read) */
    int checksums;                 /* JSON Lines: add req_body_crc32 and resp_body_crc32 */
};

struct sdiff_store;

/**
 * Open or create a corpus database. Fails with a one-line reason when the path is not
 * writable, is not a SQLite database, or holds a newer schema.
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

struct sdiff_run_info {
    const char *kind;          /* "replay", "mirror", "gate" */
    const char *corpus;
    const char *candidate;
    const char *secondary;
    const char *primary;
    const char *config;
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
    size_t ndiffs;
};

SDIFF_API int sdiff_store_begin_run(struct sdiff_store *st, const struct sdiff_run_info *info,
                                    int64_t *id, struct sdiff_err *err);
/** Commit and record the run's summary (JSON text). */
SDIFF_API int sdiff_store_end_run(struct sdiff_store *st, int64_t id, const char *summary,
                                  struct sdiff_err *err);
SDIFF_API int sdiff_store_put_result(struct sdiff_store *st, const struct sdiff_result_rec *r,
                                     int64_t *id, struct sdiff_err *err);

/**
 * Learned noise, per route: fn is called for each stored (route, key); save writes keys
 * that are not stored yet.
 */
SDIFF_API int sdiff_store_load_noise(struct sdiff_store *st,
                                     int (*fn)(const char *route, const char *key, void *ud),
                                     void *ud, struct sdiff_err *err);
SDIFF_API int sdiff_store_save_noise(struct sdiff_store *st, const char *route, const char *key,
                                     int64_t run_id, struct sdiff_err *err);

/**
 * Visit every stored exchange in id order, rebuilt as owned exchanges (fn takes ownership).
 * fn returns < 0 to stop with that status. Reads with its own statement, so fn may write
 * through the same store.
 */
SDIFF_API int sdiff_store_each_exchange(struct sdiff_store *st,
                                        int (*fn)(struct sdiff_exchange *ex, void *ud,
                                                  struct sdiff_err *err),
                                        void *ud, struct sdiff_err *err);

/** Path of the database file. */
SDIFF_API const char *sdiff_store_path(const struct sdiff_store *st);

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

#ifdef __cplusplus
}
#endif
#endif
