#ifndef SDIFF_STORE_INT_H
#define SDIFF_STORE_INT_H

#include "shadowdiff/store.h"
#include "store/db.h"

struct sdiff_store {
    struct sdiff_db *db;
    int pg;                    /* PostgreSQL (else SQLite) */
    struct sdiff_dbq *ins;
    struct sdiff_dbq *ins_result, *ins_response, *ins_diff;
    struct sdiff_store_opts opts;
    char path[512];            /* as shown: a URL's password is "***" */
    int in_tx;
    size_t pending;
    int64_t capture_id;
    struct sdiff_buf scratch_req, scratch_resp;
    int version;               /* schema version of the file as opened (2 or 3) */
    /* the run this process writes (0: none), its instance, and the batch being written:
     * every result carries (instance, batch_seq, batch_idx), and each committed batch a row
     * in `batches`, so a batch drained twice is refused instead of stored twice */
    int64_t run_id;
    char instance_id[33];
    char side[4];              /* "old" or "new" */
    int64_t batch_seq;
    int64_t batch_idx;
    double tx_started;         /* monotonic seconds when the open transaction began */
    /* PostgreSQL: ids taken from the sequences in blocks, so inserts need no answer */
    struct sdiff__id_block { int64_t v[256]; int n, i; } ids_exchange, ids_result;
};

/* A version-2 run's state, derived as the migration to version 3 sets it (SQL, on `runs`). */
#define SDIFF__RUN_STATE_V2                                                                    \
    "(CASE WHEN finished_at IS NOT NULL THEN 'finished'"                                      \
    " WHEN EXISTS (SELECT 1 FROM results r WHERE r.run_id = runs.id) THEN 'interrupted'"      \
    " ELSE 'failed' END)"

/* Driver failure rc -> SDIFF_EDB with "<path>: <what>: <cause>". */
int sdiff__store_db_err(struct sdiff_store *st, int src, const char *what, struct sdiff_err *err);
int sdiff__store_exec(struct sdiff_store *st, const char *sql, struct sdiff_err *err);
/* Open a transaction unless one is open. */
int sdiff__store_tx(struct sdiff_store *st, struct sdiff_err *err);
/* Version 3: the store's own uint32 CRC of a body (zlib's CRC-32), as in JSON Lines. */
uint32_t sdiff__store_crc32(const uint8_t *p, size_t len);

/* The next id of table ("exchanges", "results") on PostgreSQL, from a block of its
 * sequence; 0 on SQLite (the row's RETURNING id gives it). */
int sdiff__store_next_id(struct sdiff_store *st, const char *table, int64_t *id,
                         struct sdiff_err *err);
/* SQL of either backend: the first on SQLite, the second on PostgreSQL. */
#define SDIFF__SQL(st, lite, pgsql) ((st)->pg ? (pgsql) : (lite))

/* Count one write; commit when the batch is full or a second old. */
int sdiff__store_batched(struct sdiff_store *st, struct sdiff_err *err);

/* Append a message's headers as a JSON array of [name, value], secrets redacted per opts. */
int sdiff__store_headers_json(const struct sdiff_msg *m, const struct sdiff_store_opts *opts,
                              struct sdiff_buf *b);

#endif
