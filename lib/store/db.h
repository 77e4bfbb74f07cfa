#ifndef SDIFF_STORE_DB_H
#define SDIFF_STORE_DB_H
/*
 * db.h - the store's driver seam: one small statement interface with a SQLite and a
 * PostgreSQL (libpq) implementation, so store.c, results.c and read.c hold the only copy of
 * the SQL. Internal to lib/store.
 *
 * SQL is written once with `?` / `?N` placeholders; the PostgreSQL driver translates them to
 * `$n` when it prepares a statement, and also the few SQLite spellings the store uses
 * (strftime('%Y-%m-%dT%H:%M:%fZ','now'), NOT INDEXED). Statements are prepared on the server
 * once per connection and cached by their text.
 *
 * PostgreSQL runs in pipeline mode: inside a transaction, a write that returns no rows is
 * sent without waiting for its answer (one prepared with SDIFF__DB_ROWS is held and sent 64
 * rows to a statement, before anything else goes out); the next statement that needs an
 * answer (a read, the COMMIT) collects them, and the first failure among them is its failure. So a batch costs
 * one round trip, and it is either committed whole or not at all. A statement prepared with
 * SDIFF__DB_SCAN streams its rows through a cursor in chunks, never holding the whole result
 * in memory, and other statements may run on the same connection between its rows.
 *
 * Bound strings and blobs are borrowed until the next step or reset of the statement.
 * Return codes: SDIFF__DB_OK, SDIFF__DB_ROW and SDIFF__DB_DONE as SQLite's; anything else is
 * a failure whose cause sdiff__db_cause names ("disk full", "connection refused", ...).
 */
#include <stddef.h>
#include <stdint.h>

#define SDIFF__DB_OK 0
#define SDIFF__DB_ROW 100
#define SDIFF__DB_DONE 101

enum sdiff__db_kind { SDIFF__DB_SQLITE, SDIFF__DB_PG };

/* flags of sdiff__db_prepare */
#define SDIFF__DB_SCAN 1u /* a long read: stream its rows in chunks (PostgreSQL cursor) */
/* an INSERT ... VALUES(?, ...) of one row, each ? once and in order, run many times in a
 * transaction: PostgreSQL sends its rows 64 to a statement (one multi-row INSERT) */
#define SDIFF__DB_ROWS 2u

struct sdiff_db;
struct sdiff_dbq;
struct sqlite3;

/* Wrap an open SQLite handle (the db takes it over and closes it). NULL on out of memory. */
struct sdiff_db *sdiff__db_wrap_sqlite(struct sqlite3 *h);
/* The SQLite handle of db, or NULL for another backend. */
struct sqlite3 *sdiff__db_sqlite(struct sdiff_db *db);
/*
 * Connect to PostgreSQL: conninfo is a postgres:// or postgresql:// URL (a bare scheme takes
 * everything from the PG* variables). On failure *out holds the db (for its cause) when it
 * could be allocated. read_only: every transaction is read-only.
 */
int sdiff__db_open_pg(struct sdiff_db **out, const char *conninfo, int read_only);
void sdiff__db_close(struct sdiff_db *db);
enum sdiff__db_kind sdiff__db_kind(const struct sdiff_db *db);

int sdiff__db_prepare(struct sdiff_db *db, const char *sql, unsigned flags,
                      struct sdiff_dbq **out);
void sdiff__db_bind_int64(struct sdiff_dbq *q, int i, int64_t v);
void sdiff__db_bind_double(struct sdiff_dbq *q, int i, double v);
/* len < 0: up to the NUL */
void sdiff__db_bind_text(struct sdiff_dbq *q, int i, const char *s, int len);
void sdiff__db_bind_blob(struct sdiff_dbq *q, int i, const void *p, size_t len);
void sdiff__db_bind_null(struct sdiff_dbq *q, int i);
int sdiff__db_step(struct sdiff_dbq *q);
/* Ready to run again; forgets the bindings. */
void sdiff__db_reset(struct sdiff_dbq *q);
void sdiff__db_finalize(struct sdiff_dbq *q);

int sdiff__db_null(struct sdiff_dbq *q, int col);
int64_t sdiff__db_int64(struct sdiff_dbq *q, int col);
double sdiff__db_double(struct sdiff_dbq *q, int col);
/* NULL for SQL NULL; valid until the next step */
const char *sdiff__db_text(struct sdiff_dbq *q, int col);
/* valid until the next step; NULL and *len 0 for NULL or empty */
const void *sdiff__db_blob(struct sdiff_dbq *q, int col, size_t *len);

/* The type of a column's value in the current row. */
enum sdiff__db_type { SDIFF__DB_NULL, SDIFF__DB_INT, SDIFF__DB_REAL, SDIFF__DB_TEXT,
                      SDIFF__DB_BLOB };
enum sdiff__db_type sdiff__db_type(struct sdiff_dbq *q, int col);
/* Bind column col of src's current row, as its type, to parameter i of dst (the value is
 * borrowed: step dst before stepping src). */
void sdiff__db_bind_column(struct sdiff_dbq *dst, int i, struct sdiff_dbq *src, int col);

/* SQLite: the rowid of the last row inserted and whether the last statement changed rows
 * (a RETURNING clause costs SQLite a temporary table per insert: the hot paths use these);
 * 0 on other backends. */
int64_t sdiff__db_last_rowid(struct sdiff_db *db);
int sdiff__db_changes(struct sdiff_db *db);

/* Run SQL that returns no rows (SQLite: several statements; PostgreSQL: one). */
int sdiff__db_exec(struct sdiff_db *db, const char *sql);
/* Transactions. immediate: serialise with the other writers that begin immediate (SQLite's
 * BEGIN IMMEDIATE; on PostgreSQL a transaction-scoped advisory lock). */
int sdiff__db_begin(struct sdiff_db *db, int immediate);
int sdiff__db_commit(struct sdiff_db *db);
void sdiff__db_rollback(struct sdiff_db *db);
/* Session-level advisory lock around schema creation and migration (PostgreSQL; SQLite
 * migrates inside BEGIN IMMEDIATE instead). */
int sdiff__db_lock_schema(struct sdiff_db *db, int lock);

/* What went wrong with the failure rc, in a few words people act on. */
const char *sdiff__db_cause(struct sdiff_db *db, int rc);

/*
 * Copy a --db value to out with a password shown as "***" (postgres URLs: the userinfo's
 * password and a password= parameter). Other values are copied as they are (truncated).
 */
void sdiff__db_mask_url(const char *in, char *out, size_t cap);
/* Whether s selects PostgreSQL: it starts with postgres:// or postgresql://. */
int sdiff__db_is_pg_url(const char *s);
/* PQping with the open's defaults (connect_timeout 2 unless PGCONNECT_TIMEOUT): NULL when
 * the server accepts connections, else why not. */
const char *sdiff__db_ping_pg(const char *conninfo);

#endif
