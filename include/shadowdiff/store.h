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
 * refused rather than misread. Sensitive header values (Authorization, Cookie, Set-Cookie,
 * Proxy-Authorization, X-Api-Key, ... plus a configurable list) are replaced by
 * "[redacted]" unless keep_secrets is set. Not thread-safe: one store per thread.
 */

#define SDIFF_STORE_SCHEMA_VERSION 1

struct sdiff_store_opts {
    int keep_secrets;              /* store sensitive header values as they are */
    const char *const *secret_headers; /* extra header names to redact */
    size_t nsecret;
    size_t batch;                  /* exchanges per transaction; 0: 1000 */
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

/** Number of exchanges stored (all captures). */
SDIFF_API int sdiff_store_count_exchanges(struct sdiff_store *st, int64_t *n,
                                          struct sdiff_err *err);

/* ---- JSON Lines -------------------------------------------------------------------------- */

/**
 * Append one exchange as a JSON object (no newline) to out: conn, seq, client, server,
 * method, target, version, status (null without a response), reason, state, note,
 * req_body_len, resp_body_len (after de-chunking), req_body_crc32, resp_body_crc32,
 * primary_ms (null when unknown), t_req_start (microseconds), req_headers and resp_headers
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
