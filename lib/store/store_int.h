#ifndef SDIFF_STORE_INT_H
#define SDIFF_STORE_INT_H

#include <sqlite3.h>

#include "shadowdiff/store.h"

struct sdiff_store {
    sqlite3 *db;
    sqlite3_stmt *ins;
    sqlite3_stmt *ins_result, *ins_response, *ins_diff;
    struct sdiff_store_opts opts;
    char path[512];
    int in_tx;
    size_t pending;
    int64_t capture_id;
    struct sdiff_buf scratch_req, scratch_resp;
};

/* SQLite failure -> SDIFF_EDB with "<path>: <what>: <cause>". */
int sdiff__store_db_err(struct sdiff_store *st, int src, const char *what, struct sdiff_err *err);
int sdiff__store_exec(struct sdiff_store *st, const char *sql, struct sdiff_err *err);
/* Open a transaction unless one is open. */
int sdiff__store_tx(struct sdiff_store *st, struct sdiff_err *err);
/* Count one write; commit when the batch is full. */
int sdiff__store_batched(struct sdiff_store *st, struct sdiff_err *err);

/* Append a message's headers as a JSON array of [name, value], secrets redacted per opts. */
int sdiff__store_headers_json(const struct sdiff_msg *m, const struct sdiff_store_opts *opts,
                              struct sdiff_buf *b);

#endif
