/*
 * store.c - opening a store (a SQLite file, or PostgreSQL for a postgres:// URL), its schema
 * and migrations, batched transactions, the corpus's exchanges, meta values.
 *
 * Every failure becomes SDIFF_EDB with a message that names the file or the URL (its
 * password as "***") and the cause ("disk full", "database is locked", "connection
 * refused"), so the CLI can print one line and keep what was committed.
 */
#include "shadowdiff/store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS captures("
    " id INTEGER PRIMARY KEY, source TEXT NOT NULL, command TEXT,"
    " started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),"
    " finished_at TEXT, summary TEXT);"
    "CREATE TABLE IF NOT EXISTS exchanges("
    " id INTEGER PRIMARY KEY, capture_id INTEGER NOT NULL REFERENCES captures(id),"
    " conn_id INTEGER NOT NULL, seq INTEGER NOT NULL, client TEXT, server TEXT,"
    " method TEXT, target TEXT, req_version INTEGER, req_headers TEXT NOT NULL,"
    " req_body BLOB, req_body_len INTEGER NOT NULL, req_body_seen INTEGER NOT NULL,"
    " req_chunked INTEGER NOT NULL,"
    " status INTEGER, reason TEXT, resp_version INTEGER, resp_headers TEXT NOT NULL,"
    " resp_body BLOB, resp_body_len INTEGER NOT NULL, resp_body_seen INTEGER NOT NULL,"
    " resp_chunked INTEGER NOT NULL,"
    " t_req_start INTEGER, t_req_end INTEGER, t_resp_start INTEGER, t_resp_end INTEGER,"
    " state TEXT NOT NULL, note TEXT);"
    "CREATE INDEX IF NOT EXISTS exchanges_capture ON exchanges(capture_id, id);";

#define NOW "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

/* Accepted differences (`shadowdiff accept`): one row per waiver of a discrepancy cluster.
 * Part of version 2; created on open for version-2 databases made before it existed. */
#define WAIVERS_TABLE                                                                          \
    "CREATE TABLE IF NOT EXISTS waivers("                                                      \
    " id INTEGER PRIMARY KEY, cluster TEXT NOT NULL, route TEXT, signature TEXT,"              \
    " reason TEXT NOT NULL, expires TEXT, run_id INTEGER,"                                     \
    " created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')));"

/* Version 2: replay runs and their results. Applied on top of version 1. */
static const char SCHEMA_V2[] =
    "CREATE TABLE IF NOT EXISTS runs("
    " id INTEGER PRIMARY KEY, kind TEXT NOT NULL, corpus TEXT, candidate TEXT,"
    " secondary TEXT, primary_url TEXT, config TEXT,"
    " started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),"
    " finished_at TEXT, summary TEXT);"
    "CREATE TABLE IF NOT EXISTS results("
    " id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),"
    " exchange_id INTEGER REFERENCES exchanges(id), method TEXT, route TEXT, target TEXT,"
    " class TEXT NOT NULL, reasons TEXT, skip_reason TEXT, note TEXT,"
    " primary_status INTEGER, candidate_status INTEGER, secondary_status INTEGER,"
    " primary_ms REAL, candidate_ms REAL, secondary_ms REAL,"
    " bytes_equal INTEGER, candidate_error TEXT, ndiffs INTEGER NOT NULL DEFAULT 0,"
    " t_req_start INTEGER);"
    "CREATE INDEX IF NOT EXISTS results_run ON results(run_id, route, class);"
    "CREATE TABLE IF NOT EXISTS responses("
    " result_id INTEGER NOT NULL REFERENCES results(id), target TEXT NOT NULL,"
    " status INTEGER, reason TEXT, headers TEXT, body BLOB, body_len INTEGER,"
    " body_stored INTEGER NOT NULL, latency_ms REAL, error TEXT,"
    " PRIMARY KEY(result_id, target)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS differences("
    " result_id INTEGER NOT NULL REFERENCES results(id), idx INTEGER NOT NULL,"
    " path TEXT NOT NULL, kind TEXT NOT NULL, primary_value TEXT, candidate_value TEXT,"
    " PRIMARY KEY(result_id, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS noise("
    " route TEXT NOT NULL, key TEXT NOT NULL, run_id INTEGER,"
    " learned_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),"
    " PRIMARY KEY(route, key)) WITHOUT ROWID;"
    WAIVERS_TABLE;

/*
 * Version 3: the fleet's schema (lib/store/README.md documents every column). Applied on top
 * of version 2 in one transaction by writers only; additive, so no v2 column changes meaning.
 * v2 rows gain what can be derived: a run's state and last activity, a result's raw path,
 * noise learned from a secondary; older duplicate waivers of a cluster are marked superseded
 * by the newest (kept, not deleted).
 */
static const char SCHEMA_V3[] =
    WAIVERS_TABLE
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID;"
    "INSERT INTO meta(name, value) VALUES('corpus_id', lower(hex(randomblob(16))))"
    " ON CONFLICT DO NOTHING;"
    "ALTER TABLE runs ADD COLUMN name TEXT;"
    "ALTER TABLE runs ADD COLUMN state TEXT;"
    "ALTER TABLE runs ADD COLUMN labels TEXT;"
    "ALTER TABLE runs ADD COLUMN marker_token TEXT;"
    "ALTER TABLE runs ADD COLUMN last_activity TEXT;"
    "ALTER TABLE runs ADD COLUMN corpus_id TEXT;"
    "UPDATE runs SET state = " SDIFF__RUN_STATE_V2 ","
    " last_activity = coalesce(finished_at, started_at);"
    "CREATE UNIQUE INDEX runs_name ON runs(name) WHERE name IS NOT NULL;"
    "CREATE INDEX runs_activity ON runs(last_activity);"
    "CREATE TABLE instances("
    " id TEXT PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), host TEXT,"
    " k_service TEXT, k_revision TEXT, pid INTEGER, version TEXT,"
    " side TEXT NOT NULL DEFAULT 'old' CHECK(side IN ('old','new')),"
    " started_at TEXT NOT NULL DEFAULT (" NOW "), stopped_at TEXT, last_activity TEXT,"
    " counters TEXT);"
    "CREATE INDEX instances_run ON instances(run_id);"
    "CREATE TABLE batches("
    " instance_id TEXT NOT NULL, batch_seq INTEGER NOT NULL, run_id INTEGER,"
    " results INTEGER NOT NULL, committed_at TEXT NOT NULL DEFAULT (" NOW "),"
    " PRIMARY KEY(instance_id, batch_seq));"
    "ALTER TABLE results ADD COLUMN instance_id TEXT;"
    "ALTER TABLE results ADD COLUMN side TEXT NOT NULL DEFAULT 'old';"
    "ALTER TABLE results ADD COLUMN batch_seq INTEGER;"
    "ALTER TABLE results ADD COLUMN batch_idx INTEGER;"
    "ALTER TABLE results ADD COLUMN raw_path TEXT;"
    "ALTER TABLE results ADD COLUMN shape TEXT;"
    "ALTER TABLE results ADD COLUMN corpus_exchange_id INTEGER;"
    "ALTER TABLE results ADD COLUMN primary_body_crc INTEGER;"
    "UPDATE results SET raw_path = CASE WHEN instr(target, '?') > 0"
    " THEN substr(target, 1, instr(target, '?') - 1) ELSE target END;"
    "CREATE UNIQUE INDEX results_batch ON results(instance_id, batch_seq, batch_idx)"
    " WHERE instance_id IS NOT NULL;"
    "ALTER TABLE differences ADD COLUMN hint TEXT;"
    "ALTER TABLE exchanges ADD COLUMN req_body_crc INTEGER;"
    "ALTER TABLE exchanges ADD COLUMN resp_body_crc INTEGER;"
    "ALTER TABLE noise ADD COLUMN instance_id TEXT;"
    "ALTER TABLE noise ADD COLUMN source TEXT;"
    "ALTER TABLE noise ADD COLUMN pairs INTEGER;"
    "ALTER TABLE noise ADD COLUMN clients INTEGER;"
    "ALTER TABLE noise ADD COLUMN examples TEXT;"
    "ALTER TABLE noise ADD COLUMN confidence REAL;"
    "UPDATE noise SET source = 'secondary';"
    "ALTER TABLE waivers ADD COLUMN updated_at TEXT;"
    "ALTER TABLE waivers ADD COLUMN superseded_by INTEGER;"
    "ALTER TABLE waivers ADD COLUMN revoked_at TEXT;"
    "UPDATE waivers SET superseded_by = (SELECT max(w.id) FROM waivers w"
    " WHERE w.cluster = waivers.cluster) WHERE id < (SELECT max(w.id) FROM waivers w"
    " WHERE w.cluster = waivers.cluster);"
    "CREATE UNIQUE INDEX waivers_cluster ON waivers(cluster)"
    " WHERE superseded_by IS NULL AND revoked_at IS NULL;"
    "CREATE TABLE cost_samples("
    " id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), instance_id TEXT,"
    " t_us INTEGER NOT NULL, target TEXT NOT NULL, requests INTEGER, cpu_ms REAL,"
    " rss_bytes INTEGER);"
    "CREATE TABLE live_samples("
    " id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), instance_id TEXT,"
    " side TEXT NOT NULL DEFAULT 'new' CHECK(side IN ('old','new')), method TEXT, route TEXT,"
    " raw_path TEXT, status INTEGER, latency_ms REAL, error TEXT, marker TEXT,"
    " t_req_start INTEGER);"
    "CREATE INDEX live_samples_run ON live_samples(run_id, route);";

/*
 * PostgreSQL: version 3 created at once, with PostgreSQL's types (the columns are those of
 * the SQLite schema above; lib/store/README.md). Readers name every column they read, so a
 * later version may add columns and tables: `schema_version.compatible` is the oldest
 * version that still reads and writes the database correctly (a rolling upgrade).
 */
#define PG_NOW_DEFAULT                                                                         \
    "DEFAULT (to_char(clock_timestamp() AT TIME ZONE 'UTC',"                                   \
    " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"
static const char *const PG_SCHEMA_V3[] = {
    "CREATE TABLE schema_version(version INTEGER NOT NULL, compatible INTEGER NOT NULL)",
    "CREATE TABLE captures(id BIGSERIAL PRIMARY KEY, source TEXT NOT NULL, command TEXT,"
    " started_at TEXT NOT NULL " PG_NOW_DEFAULT ", finished_at TEXT, summary TEXT)",
    "CREATE TABLE exchanges(id BIGSERIAL PRIMARY KEY, capture_id BIGINT NOT NULL,"
    " conn_id BIGINT NOT NULL, seq BIGINT NOT NULL, client TEXT, server TEXT, method TEXT,"
    " target TEXT, req_version BIGINT, req_headers TEXT NOT NULL, req_body BYTEA,"
    " req_body_len BIGINT NOT NULL, req_body_seen BIGINT NOT NULL, req_chunked BIGINT NOT NULL,"
    " status BIGINT, reason TEXT, resp_version BIGINT, resp_headers TEXT NOT NULL,"
    " resp_body BYTEA, resp_body_len BIGINT NOT NULL, resp_body_seen BIGINT NOT NULL,"
    " resp_chunked BIGINT NOT NULL, t_req_start BIGINT, t_req_end BIGINT, t_resp_start BIGINT,"
    " t_resp_end BIGINT, state TEXT NOT NULL, note TEXT, req_body_crc BIGINT,"
    " resp_body_crc BIGINT)",
    "CREATE INDEX exchanges_capture ON exchanges(capture_id, id)",
    "CREATE TABLE runs(id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, corpus TEXT,"
    " candidate TEXT, secondary TEXT, primary_url TEXT, config TEXT,"
    " started_at TEXT NOT NULL " PG_NOW_DEFAULT ", finished_at TEXT, summary TEXT, name TEXT,"
    " state TEXT, labels TEXT, marker_token TEXT, last_activity TEXT, corpus_id TEXT)",
    "CREATE UNIQUE INDEX runs_name ON runs(name) WHERE name IS NOT NULL",
    "CREATE INDEX runs_activity ON runs(last_activity)",
    "CREATE TABLE instances(id TEXT PRIMARY KEY, run_id BIGINT NOT NULL, host TEXT,"
    " k_service TEXT, k_revision TEXT, pid BIGINT, version TEXT,"
    " side TEXT NOT NULL DEFAULT 'old' CHECK(side IN ('old','new')),"
    " started_at TEXT NOT NULL " PG_NOW_DEFAULT ", stopped_at TEXT, last_activity TEXT,"
    " counters TEXT)",
    "CREATE INDEX instances_run ON instances(run_id)",
    "CREATE TABLE batches(instance_id TEXT NOT NULL, batch_seq BIGINT NOT NULL, run_id BIGINT,"
    " results BIGINT NOT NULL, committed_at TEXT NOT NULL " PG_NOW_DEFAULT ","
    " PRIMARY KEY(instance_id, batch_seq))",
    "CREATE TABLE results(id BIGSERIAL PRIMARY KEY, run_id BIGINT NOT NULL,"
    " exchange_id BIGINT, method TEXT, route TEXT, target TEXT, class TEXT NOT NULL,"
    " reasons TEXT, skip_reason TEXT, note TEXT, primary_status BIGINT,"
    " candidate_status BIGINT, secondary_status BIGINT, primary_ms DOUBLE PRECISION,"
    " candidate_ms DOUBLE PRECISION, secondary_ms DOUBLE PRECISION, bytes_equal BIGINT,"
    " candidate_error TEXT, ndiffs BIGINT NOT NULL DEFAULT 0, t_req_start BIGINT,"
    " instance_id TEXT, side TEXT NOT NULL DEFAULT 'old', batch_seq BIGINT, batch_idx BIGINT,"
    " raw_path TEXT, shape TEXT, corpus_exchange_id BIGINT, primary_body_crc BIGINT)",
    "CREATE INDEX results_run ON results(run_id, route, class)",
    "CREATE UNIQUE INDEX results_batch ON results(instance_id, batch_seq, batch_idx)"
    " WHERE instance_id IS NOT NULL",
    "CREATE TABLE responses(result_id BIGINT NOT NULL, target TEXT NOT NULL, status BIGINT,"
    " reason TEXT, headers TEXT, body BYTEA, body_len BIGINT, body_stored BIGINT NOT NULL,"
    " latency_ms DOUBLE PRECISION, error TEXT, PRIMARY KEY(result_id, target))",
    "CREATE TABLE differences(result_id BIGINT NOT NULL, idx BIGINT NOT NULL,"
    " path TEXT NOT NULL, kind TEXT NOT NULL, primary_value TEXT, candidate_value TEXT,"
    " hint TEXT, PRIMARY KEY(result_id, idx))",
    "CREATE TABLE noise(route TEXT NOT NULL, key TEXT NOT NULL, run_id BIGINT,"
    " learned_at TEXT NOT NULL " PG_NOW_DEFAULT ", instance_id TEXT, source TEXT,"
    " pairs BIGINT, clients BIGINT, examples TEXT, confidence DOUBLE PRECISION,"
    " PRIMARY KEY(route, key))",
    "CREATE TABLE waivers(id BIGSERIAL PRIMARY KEY, cluster TEXT NOT NULL, route TEXT,"
    " signature TEXT, reason TEXT NOT NULL, expires TEXT, run_id BIGINT,"
    " created_at TEXT NOT NULL " PG_NOW_DEFAULT ", updated_at TEXT, superseded_by BIGINT,"
    " revoked_at TEXT)",
    "CREATE UNIQUE INDEX waivers_cluster ON waivers(cluster)"
    " WHERE superseded_by IS NULL AND revoked_at IS NULL",
    "CREATE TABLE meta(name TEXT PRIMARY KEY, value BYTEA)",
    "INSERT INTO meta(name, value) VALUES('corpus_id',"
    " convert_to(replace(gen_random_uuid()::text, '-', ''), 'UTF8'))",
    "CREATE TABLE cost_samples(id BIGSERIAL PRIMARY KEY, run_id BIGINT NOT NULL,"
    " instance_id TEXT, t_us BIGINT NOT NULL, target TEXT NOT NULL, requests BIGINT,"
    " cpu_ms DOUBLE PRECISION, rss_bytes BIGINT)",
    "CREATE TABLE live_samples(id BIGSERIAL PRIMARY KEY, run_id BIGINT NOT NULL,"
    " instance_id TEXT, side TEXT NOT NULL DEFAULT 'new' CHECK(side IN ('old','new')),"
    " method TEXT, route TEXT, raw_path TEXT, status BIGINT, latency_ms DOUBLE PRECISION,"
    " error TEXT, marker TEXT, t_req_start BIGINT)",
    "CREATE INDEX live_samples_run ON live_samples(run_id, route)",
    "INSERT INTO schema_version(version, compatible) VALUES(3, 3)",
};

/* On SQLite the id is the row's rowid; on PostgreSQL it was taken before, so the insert
 * needs no answer (it joins the batch's pipeline). */
#define INSERT_EXCHANGE_COLS                                                                   \
    "INSERT INTO exchanges(id, capture_id, conn_id, seq, client, server, method, target,"      \
    " req_version, req_headers, req_body, req_body_len, req_body_seen, req_chunked, status,"  \
    " reason, resp_version, resp_headers, resp_body, resp_body_len, resp_body_seen,"          \
    " resp_chunked, t_req_start, t_req_end, t_resp_start, t_resp_end, state, note,"           \
    " req_body_crc, resp_body_crc)"                                                            \
    " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
static const char INSERT[] = INSERT_EXCHANGE_COLS;


int sdiff__store_db_err(struct sdiff_store *st, int src, const char *what, struct sdiff_err *err)
{
    return sdiff_err_set(err, SDIFF_EDB, "store", "%s: %s: %s", st->path, what,
                         sdiff__db_cause(st->db, src));
}

int sdiff__store_exec(struct sdiff_store *st, const char *sql, struct sdiff_err *err)
{
    int rc = sdiff__db_exec(st->db, sql);
    return rc == SDIFF__DB_OK ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot write", err);
}

/* A database may come from elsewhere (a corpus someone committed): its schema may hold
 * triggers or views meant to run here. Defensive mode and an untrusted schema stop that. */
static void harden(sqlite3 *db)
{
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    sqlite3_exec(db, "PRAGMA trusted_schema=OFF", NULL, NULL, NULL);
}

/* Version of an open database (PRAGMA user_version); 0 when it cannot be read. */
static int schema_version(sqlite3 *h)
{
    sqlite3_stmt *q = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return version;
}

/* Wrap the SQLite handle h into st (closing it when that fails). */
static int wrap(struct sdiff_store *st, sqlite3 *h, struct sdiff_err *err)
{
    st->db = sdiff__db_wrap_sqlite(h);
    if (st->db == NULL) {
        sqlite3_close_v2(h);
        return sdiff_err_set(err, SDIFF_ENOMEM, "store", "out of memory");
    }
    return SDIFF_OK;
}

/*
 * Read-only open for report and inspect: the file must exist and hold runs and results of a
 * schema this version reads. Nothing is created, migrated or indexed, so reading a file
 * never changes it (a results database may be another version's, or another user's).
 */
static int open_read_only(struct sdiff_store *st, struct sdiff_err *err)
{
    struct stat sb;
    sqlite3 *h = NULL;
    if (stat(st->path, &sb) != 0)
        return sdiff_err_set(err, SDIFF_EIO, "store", "%.150s: no such file", st->path);
    int rc = sdiff_file_db_check(st->path, 0, NULL, 0, err);
    if (rc < 0)
        return rc;
    rc = sqlite3_open_v2(st->path, &h, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL);
    int wrc = wrap(st, h, err);
    if (wrc < 0)
        return wrc;
    if (rc == SQLITE_OK)
        harden(h);
    int version = rc == SQLITE_OK ? schema_version(h) : 0;
    st->version = version;
    if (version > SDIFF_STORE_SCHEMA_VERSION)
        return sdiff_err_set(err, SDIFF_EDB, "store",
                             "%.150s: schema version %d is newer than this shadowdiff supports"
                             " (%d)",
                             st->path, version, SDIFF_STORE_SCHEMA_VERSION);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(h, "SELECT id FROM runs LIMIT 0; SELECT id FROM results LIMIT 0",
                          NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sdiff_err_set(err, SDIFF_EDB, "store",
                             "%.150s: not a readable shadowdiff database (%.30s)", st->path,
                             h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
    sqlite3_busy_timeout(h, 5000);
    /* Reports read the same pages in several passes: map the file and keep a large page
     * cache rather than copying every page in with read() on each pass. */
    sqlite3_exec(h, "PRAGMA mmap_size=4294967296; PRAGMA cache_size=-262144", NULL, NULL, NULL);
    return SDIFF_OK;
}

static int open_sqlite(struct sdiff_store *st, const char *path, struct sdiff_err *err)
{
    sqlite3 *h = NULL;
    /* Create the file ourselves so it is 0600 from the first byte (SQLite gives the -wal
     * and -shm files the same mode); refuse one that others could have prepared. */
    int rc = sdiff_file_db_check(path, st->opts.must_exist ? 0 : SDIFF_DB_WRITE | SDIFF_DB_CREATE,
                                 NULL, 0, err);
    if (rc < 0)
        return rc;
    rc = sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
    int wrc = wrap(st, h, err);
    if (wrc < 0)
        return wrc;
    if (rc != SQLITE_OK)
        return sdiff__store_db_err(st, rc, "cannot open", err);
    harden(h);
    sqlite3_busy_timeout(h, 2000);
    sqlite3_stmt *q = NULL;
    rc = sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sdiff__store_db_err(st, rc, "cannot read", err);
    int version = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : 0;
    sqlite3_finalize(q);
    if (version > SDIFF_STORE_SCHEMA_VERSION)
        return sdiff_err_set(err, SDIFF_EDB, "store",
                             "%s: schema version %d is newer than this shadowdiff supports (%d)",
                             path, version, SDIFF_STORE_SCHEMA_VERSION);
    /* Bodies make rows large: bigger pages keep them in fewer overflow pages, and a larger
     * checkpoint interval turns many small fsyncs into a few. A crash still loses at most
     * the transactions not yet committed to the WAL. */
    if (version == 0)
        sqlite3_exec(h, "PRAGMA page_size=16384", NULL, NULL, NULL);
    rc = sdiff__store_exec(st,
                           "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                           " PRAGMA wal_autocheckpoint=4096; PRAGMA cache_size=-16384;"
                           /* RETURNING keeps its rows in a temporary table: in memory, not
                            * a file written for every insert */
                           " PRAGMA temp_store=MEMORY;",
                           err);
    if (rc < 0)
        return rc;
    if (version < SDIFF_STORE_SCHEMA_VERSION) {
        /* IMMEDIATE: two writers opening one v2 file at once migrate it once; the second
         * waits for the lock, then finds version 3 and does nothing */
        rc = sdiff__db_begin(st->db, 1);
        rc = rc == SDIFF__DB_OK ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot write", err);
        int now = rc < 0 ? version : schema_version(h);
        rc = rc < 0 || now >= 1 ? rc : sdiff__store_exec(st, SCHEMA, err);
        rc = rc < 0 || now >= 2 ? rc : sdiff__store_exec(st, SCHEMA_V2, err);
        rc = rc < 0 || now >= 3 ? rc : sdiff__store_exec(st, SCHEMA_V3, err);
        rc = rc < 0 ? rc : sdiff__store_exec(st, "PRAGMA user_version=3", err);
        if (rc >= 0) {
            int c = sdiff__db_commit(st->db);
            rc = c == SDIFF__DB_OK ? SDIFF_OK : sdiff__store_db_err(st, c, "cannot write", err);
        }
        if (rc < 0) {
            sdiff__db_rollback(st->db);
            return rc;
        }
    }
    st->version = SDIFF_STORE_SCHEMA_VERSION;
    return SDIFF_OK;
}

/* The version and the oldest compatible version of a PostgreSQL database; 0 and 0 when it
 * has no schema yet. */
static int pg_version(struct sdiff_store *st, int *version, int *compatible,
                      struct sdiff_err *err)
{
    struct sdiff_dbq *q = NULL;
    *version = *compatible = 0;
    /* PostgreSQL resolves a table when it plans: ask whether it exists first */
    int rc = sdiff__db_prepare(st->db,
                               "SELECT CASE WHEN to_regclass('schema_version') IS NULL THEN 0"
                               " ELSE 1 END",
                               0, &q);
    rc = rc == SDIFF__DB_OK ? sdiff__db_step(q) : rc;
    int have = rc == SDIFF__DB_ROW && sdiff__db_int64(q, 0) == 1;
    sdiff__db_finalize(q);
    q = NULL;
    if (rc != SDIFF__DB_ROW)
        return sdiff__store_db_err(st, rc, "cannot read", err);
    if (!have)
        return SDIFF_OK;
    rc = sdiff__db_prepare(st->db, "SELECT max(version), max(compatible) FROM schema_version",
                           0, &q);
    rc = rc == SDIFF__DB_OK ? sdiff__db_step(q) : rc;
    if (rc == SDIFF__DB_ROW) {
        *version = (int)sdiff__db_int64(q, 0);
        *compatible = (int)sdiff__db_int64(q, 1);
    }
    sdiff__db_finalize(q);
    return rc == SDIFF__DB_ROW ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot read", err);
}

/*
 * PostgreSQL: writers create the schema (or migrate it) under a session advisory lock, so
 * instances starting at once create it once; readers never do. A database made by a later
 * version is used as long as this version is at least its `compatible` one (migrations are
 * additive: a later version's extra columns are ignored here).
 */
static int open_pg(struct sdiff_store *st, const char *url, struct sdiff_err *err)
{
    int version = 0, compatible = 0, locked = 0;
    int rc = sdiff__db_open_pg(&st->db, url, st->opts.read_only);
    if (st->db == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "store", "out of memory");
    if (rc != SDIFF__DB_OK)
        return sdiff__store_db_err(st, rc, "cannot connect", err);
    if (!st->opts.read_only) {
        rc = sdiff__db_lock_schema(st->db, 1);
        if (rc != SDIFF__DB_OK)
            return sdiff__store_db_err(st, rc, "cannot lock the schema", err);
        locked = 1;
    }
    rc = pg_version(st, &version, &compatible, err);
    if (rc >= 0 && compatible > SDIFF_STORE_SCHEMA_VERSION)
        rc = sdiff_err_set(err, SDIFF_EDB, "store",
                           "%s: schema version %d needs shadowdiff of schema %d or later (this"
                           " one: %d)",
                           st->path, version, compatible, SDIFF_STORE_SCHEMA_VERSION);
    if (rc >= 0 && version == 0 && st->opts.read_only)
        rc = sdiff_err_set(err, SDIFF_EDB, "store", "%s: no shadowdiff results in this database",
                           st->path);
    if (rc >= 0 && version == 0 && st->opts.must_exist)
        rc = sdiff_err_set(err, SDIFF_EDB, "store", "%s: no shadowdiff corpus in this database",
                           st->path);
    if (rc >= 0 && version == 0) {
        int b = sdiff__db_begin(st->db, 0);
        rc = b == SDIFF__DB_OK ? SDIFF_OK : sdiff__store_db_err(st, b, "cannot write", err);
        for (size_t i = 0; rc >= 0 && i < sizeof PG_SCHEMA_V3 / sizeof *PG_SCHEMA_V3; i++)
            rc = sdiff__store_exec(st, PG_SCHEMA_V3[i], err);
        if (rc >= 0) {
            int c = sdiff__db_commit(st->db);
            rc = c == SDIFF__DB_OK ? SDIFF_OK : sdiff__store_db_err(st, c, "cannot write", err);
        }
        if (rc < 0)
            sdiff__db_rollback(st->db);
        version = SDIFF_STORE_SCHEMA_VERSION;
    }
    if (locked) {
        int u = sdiff__db_lock_schema(st->db, 0);
        if (rc >= 0 && u != SDIFF__DB_OK)
            rc = sdiff__store_db_err(st, u, "cannot unlock the schema", err);
    }
    st->version = version < SDIFF_STORE_SCHEMA_VERSION ? version : SDIFF_STORE_SCHEMA_VERSION;
    return rc;
}

int sdiff_store_open(struct sdiff_store **out, const char *path,
                     const struct sdiff_store_opts *opts, struct sdiff_err *err)
{
    struct sdiff_store *st = NULL;
    int rc;
    *out = NULL;
    st = sdiff_calloc(1, sizeof *st);
    if (st == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "store", "out of memory");
    st->pg = sdiff__db_is_pg_url(path);
    sdiff__db_mask_url(path, st->path, sizeof st->path);
    if (opts)
        st->opts = *opts;
    if (st->opts.batch == 0)
        st->opts.batch = 1000;
    sdiff_buf_init(&st->scratch_req, 64u << 20);
    sdiff_buf_init(&st->scratch_resp, 64u << 20);
    if (st->pg)
        rc = open_pg(st, path, err);
    else if (st->opts.read_only)
        rc = open_read_only(st, err);
    else
        rc = open_sqlite(st, path, err);
    if (rc < 0)
        goto fail;
    if (!st->opts.read_only) {
        rc = sdiff__db_prepare(st->db, INSERT, SDIFF__DB_ROWS, &st->ins);
        if (rc != SDIFF__DB_OK) {
            rc = sdiff__store_db_err(st, rc, "cannot prepare", err);
            goto fail;
        }
    }
    *out = st;
    return SDIFF_OK;
fail:
    sdiff_store_close(st);
    return rc;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int sdiff__store_tx(struct sdiff_store *st, struct sdiff_err *err)
{
    if (st->in_tx)
        return SDIFF_OK;
    int rc = sdiff__db_begin(st->db, 0);
    if (rc != SDIFF__DB_OK)
        return sdiff__store_db_err(st, rc, "cannot write", err);
    st->in_tx = 1;
    st->tx_started = mono_s();
    return SDIFF_OK;
}

int sdiff__store_batched(struct sdiff_store *st, struct sdiff_err *err)
{
    /* a batch is full at opts.batch rows, or when it has been open for a second: a crash or
     * an outage never loses more than that */
    if (++st->pending >= st->opts.batch || mono_s() - st->tx_started >= 1.0)
        return sdiff_store_commit(st, err);
    return SDIFF_OK;
}

int sdiff__store_next_id(struct sdiff_store *st, const char *table, int64_t *id,
                         struct sdiff_err *err)
{
    struct sdiff__id_block *b = strcmp(table, "results") == 0 ? &st->ids_result
                                                               : &st->ids_exchange;
    *id = 0;
    if (!st->pg)
        return SDIFF_OK;
    if (b->i >= b->n) {
        /* one round trip for 256 ids; they are increasing, and unique across writers */
        struct sdiff_dbq *q = NULL;
        int rc = sdiff__db_prepare(st->db,
                                   b == &st->ids_result
                                       ? "SELECT nextval('results_id_seq')"
                                         " FROM generate_series(1, 256)"
                                       : "SELECT nextval('exchanges_id_seq')"
                                         " FROM generate_series(1, 256)",
                                   0, &q);
        b->n = b->i = 0;
        while (rc == SDIFF__DB_OK || rc == SDIFF__DB_ROW) {
            rc = sdiff__db_step(q);
            if (rc == SDIFF__DB_ROW && b->n < 256)
                b->v[b->n++] = sdiff__db_int64(q, 0);
        }
        sdiff__db_finalize(q);
        if (rc != SDIFF__DB_DONE || b->n == 0) {
            b->n = 0;
            return sdiff__store_db_err(st, rc, "cannot write", err);
        }
    }
    *id = b->v[b->i++];
    return SDIFF_OK;
}

/* Run q (bound), expecting no row. */
static int step_write(struct sdiff_store *st, struct sdiff_dbq *q, struct sdiff_err *err)
{
    int rc = sdiff__db_step(q);
    return rc == SDIFF__DB_DONE ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot write", err);
}

/*
 * What a commit inside a run records besides its rows: the run's and the instance's last
 * activity, and the batch itself (its primary key refuses a batch committed twice).
 */
static int record_batch(struct sdiff_store *st, struct sdiff_err *err)
{
    struct sdiff_dbq *q = NULL;
    int rc = SDIFF_OK;
    if (st->batch_idx > 0) {
        int p = sdiff__db_prepare(st->db,
                                  "INSERT INTO batches(instance_id, batch_seq, run_id, results)"
                                  " VALUES(?,?,?,?)",
                                  0, &q);
        if (p != SDIFF__DB_OK)
            return sdiff__store_db_err(st, p, "cannot write", err);
        sdiff__db_bind_text(q, 1, st->instance_id, -1);
        sdiff__db_bind_int64(q, 2, st->batch_seq);
        sdiff__db_bind_int64(q, 3, st->run_id);
        sdiff__db_bind_int64(q, 4, st->batch_idx);
        rc = step_write(st, q, err);
        sdiff__db_finalize(q);
        q = NULL;
    }
    if (rc >= 0) {
        int p = sdiff__db_prepare(st->db, "UPDATE runs SET last_activity = " NOW " WHERE id = ?",
                                  0, &q);
        if (p != SDIFF__DB_OK)
            return sdiff__store_db_err(st, p, "cannot write", err);
        sdiff__db_bind_int64(q, 1, st->run_id);
        rc = step_write(st, q, err);
        sdiff__db_finalize(q);
        q = NULL;
    }
    if (rc >= 0) {
        int p = sdiff__db_prepare(st->db,
                                  "UPDATE instances SET last_activity = " NOW " WHERE id = ?", 0,
                                  &q);
        if (p != SDIFF__DB_OK)
            return sdiff__store_db_err(st, p, "cannot write", err);
        sdiff__db_bind_text(q, 1, st->instance_id, -1);
        rc = step_write(st, q, err);
        sdiff__db_finalize(q);
    }
    return rc;
}

int sdiff_store_commit(struct sdiff_store *st, struct sdiff_err *err)
{
    if (!st->in_tx)
        return SDIFF_OK;
    int rc = st->run_id > 0 && st->instance_id[0] ? record_batch(st, err) : SDIFF_OK;
    if (rc >= 0) {
        int c = sdiff__db_commit(st->db);
        if (c != SDIFF__DB_OK)
            rc = sdiff__store_db_err(st, c, "cannot write", err);
    }
    if (rc < 0) {
        /* the batch was never visible: its results are lost (and counted by the caller), its
         * sequence number is used again */
        sdiff__db_rollback(st->db);
        st->in_tx = 0;
        st->pending = 0;
        st->batch_idx = 0;
        return rc;
    }
    st->in_tx = 0;
    st->pending = 0;
    if (st->batch_idx > 0)
        st->batch_seq++;
    st->batch_idx = 0;
    return SDIFF_OK;
}

void sdiff_store_close(struct sdiff_store *st)
{
    if (st == NULL)
        return;
    if (st->db) {
        sdiff_store_commit(st, NULL);
        sdiff__db_finalize(st->ins);
        sdiff__db_finalize(st->ins_result);
        sdiff__db_finalize(st->ins_response);
        sdiff__db_finalize(st->ins_diff);
        sdiff__db_close(st->db);
    }
    sdiff_buf_dispose(&st->scratch_req);
    sdiff_buf_dispose(&st->scratch_resp);
    sdiff_free(st);
}

/* Run an insert that ends in RETURNING id (a row of its own, not a hot path). */
static int step_insert(struct sdiff_store *st, struct sdiff_dbq *q, int64_t *id,
                       struct sdiff_err *err)
{
    int rc = sdiff__db_step(q);
    if (rc == SDIFF__DB_ROW) {
        *id = sdiff__db_int64(q, 0);
        rc = sdiff__db_step(q);
    }
    return rc == SDIFF__DB_DONE ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot write", err);
}

int sdiff_store_begin_capture(struct sdiff_store *st, const char *source, const char *command,
                              int64_t *id, struct sdiff_err *err)
{
    struct sdiff_dbq *q = NULL;
    int rc = sdiff__db_prepare(st->db,
                               "INSERT INTO captures(source, command) VALUES(?,?) RETURNING id",
                               0, &q);
    if (rc != SDIFF__DB_OK)
        return sdiff__store_db_err(st, rc, "cannot write", err);
    sdiff__db_bind_text(q, 1, source, -1);
    if (command)
        sdiff__db_bind_text(q, 2, command, -1);
    rc = step_insert(st, q, &st->capture_id, err);
    sdiff__db_finalize(q);
    if (rc < 0)
        return rc;
    if (id)
        *id = st->capture_id;
    return SDIFF_OK;
}

int sdiff_store_end_capture(struct sdiff_store *st, int64_t id, const char *summary,
                            struct sdiff_err *err)
{
    int rc = sdiff_store_commit(st, err);
    if (rc < 0)
        return rc;
    struct sdiff_dbq *q = NULL;
    rc = sdiff__db_prepare(st->db,
                           "UPDATE captures SET summary = ?, finished_at = " NOW " WHERE id = ?",
                           0, &q);
    if (rc != SDIFF__DB_OK)
        return sdiff__store_db_err(st, rc, "cannot write", err);
    if (summary)
        sdiff__db_bind_text(q, 1, summary, -1);
    sdiff__db_bind_int64(q, 2, id);
    rc = step_write(st, q, err);
    sdiff__db_finalize(q);
    return rc;
}

static void bind_text_or_null(struct sdiff_dbq *q, int i, const char *s)
{
    if (s)
        sdiff__db_bind_text(q, i, s, -1);
    else
        sdiff__db_bind_null(q, i);
}

static void bind_ts(struct sdiff_dbq *q, int i, uint64_t ts)
{
    if (ts)
        sdiff__db_bind_int64(q, i, (int64_t)ts);
    else
        sdiff__db_bind_null(q, i);
}

int sdiff_store_put_exchange(struct sdiff_store *st, struct sdiff_exchange *ex,
                             struct sdiff_err *err)
{
    struct sdiff_dbq *q = st->ins;
    int64_t id = 0;
    int rc;
    if (q == NULL)
        return sdiff_err_set(err, SDIFF_EDB, "store", "%s: cannot write: opened read-only",
                             st->path);
    sdiff_buf_reset(&st->scratch_req);
    sdiff_buf_reset(&st->scratch_resp);
    if (sdiff__store_headers_json(&ex->req, &st->opts, &st->scratch_req) < 0 ||
        sdiff__store_headers_json(&ex->resp, &st->opts, &st->scratch_resp) < 0)
        return sdiff_err_set(err, SDIFF_ENOMEM, "store", "out of memory encoding headers");
    rc = sdiff__store_tx(st, err);
    rc = rc < 0 ? rc : sdiff__store_next_id(st, "exchanges", &id, err);
    if (rc < 0)
        return rc;
    const struct sdiff_msg *rq = &ex->req, *rs = &ex->resp;
    if (id)
        sdiff__db_bind_int64(q, 1, id);
    sdiff__db_bind_int64(q, 2, st->capture_id);
    sdiff__db_bind_int64(q, 3, (int64_t)ex->conn_id);
    sdiff__db_bind_int64(q, 4, ex->seq);
    sdiff__db_bind_text(q, 5, ex->client, -1);
    sdiff__db_bind_text(q, 6, ex->server, -1);
    bind_text_or_null(q, 7, rq->present ? rq->method : NULL);
    bind_text_or_null(q, 8, rq->present ? rq->target : NULL);
    sdiff__db_bind_int64(q, 9, rq->version_minor);
    sdiff__db_bind_text(q, 10, (const char *)st->scratch_req.data, (int)st->scratch_req.len);
    sdiff__db_bind_blob(q, 11, rq->body, rq->body_len);
    sdiff__db_bind_int64(q, 12, (int64_t)rq->body_len);
    sdiff__db_bind_int64(q, 13, (int64_t)rq->body_seen);
    sdiff__db_bind_int64(q, 14, rq->chunked);
    if (rs->present)
        sdiff__db_bind_int64(q, 15, rs->status);
    else
        sdiff__db_bind_null(q, 15);
    bind_text_or_null(q, 16, rs->present ? rs->reason : NULL);
    sdiff__db_bind_int64(q, 17, rs->version_minor);
    sdiff__db_bind_text(q, 18, (const char *)st->scratch_resp.data, (int)st->scratch_resp.len);
    sdiff__db_bind_blob(q, 19, rs->body, rs->body_len);
    sdiff__db_bind_int64(q, 20, (int64_t)rs->body_len);
    sdiff__db_bind_int64(q, 21, (int64_t)rs->body_seen);
    sdiff__db_bind_int64(q, 22, rs->chunked);
    bind_ts(q, 23, ex->t_req_start);
    bind_ts(q, 24, ex->t_req_end);
    bind_ts(q, 25, ex->t_resp_start);
    bind_ts(q, 26, ex->t_resp_end);
    sdiff__db_bind_text(q, 27, sdiff_exchange_state_str(ex->state), -1);
    bind_text_or_null(q, 28, ex->note[0] ? ex->note : NULL);
    sdiff__db_bind_int64(q, 29, sdiff__store_crc32(rq->body, rq->body_len));
    sdiff__db_bind_int64(q, 30, sdiff__store_crc32(rs->body, rs->body_len));
    rc = step_write(st, q, err);
    sdiff__db_reset(q);
    if (rc < 0)
        return rc;
    ex->id = (uint64_t)(id ? id : sdiff__db_last_rowid(st->db));
    return sdiff__store_batched(st, err);
}

int sdiff_store_count_exchanges(struct sdiff_store *st, int64_t capture_id, int64_t *n,
                                struct sdiff_err *err)
{
    struct sdiff_dbq *q = NULL;
    int rc = sdiff__db_prepare(st->db,
                               "SELECT count(*) FROM exchanges WHERE ?1 = 0 OR capture_id = ?1",
                               0, &q);
    if (rc == SDIFF__DB_OK) {
        sdiff__db_bind_int64(q, 1, capture_id);
        rc = sdiff__db_step(q);
    }
    if (rc == SDIFF__DB_ROW)
        *n = sdiff__db_int64(q, 0);
    sdiff__db_finalize(q);
    return rc == SDIFF__DB_ROW ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot read", err);
}

/* ---- meta ------------------------------------------------------------------------------ */

/* Created when first written, so databases of earlier versions gain it without a migration. */
#define META_TABLE                                                                             \
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID"

int sdiff_store_meta_get(struct sdiff_store *st, const char *name, void *out, size_t cap,
                         size_t *len, struct sdiff_err *err)
{
    struct sdiff_dbq *q = NULL;
    int rc = sdiff__db_prepare(st->db, "SELECT value FROM meta WHERE name = ?", 0, &q);
    if (rc != SDIFF__DB_OK) {
        /* no meta table yet (SQLite: an older file): nothing stored */
        sqlite3 *h = sdiff__db_sqlite(st->db);
        if (h && strstr(sqlite3_errmsg(h), "no such table"))
            return 0;
        return sdiff__store_db_err(st, rc, "cannot read", err);
    }
    sdiff__db_bind_text(q, 1, name, -1);
    rc = sdiff__db_step(q);
    int found = rc == SDIFF__DB_ROW;
    if (found) {
        size_t n = 0;
        const void *p = sdiff__db_blob(q, 0, &n);
        if (n && p)
            memcpy(out, p, n < cap ? n : cap);
        *len = n;
    }
    sdiff__db_finalize(q);
    if (!found && rc != SDIFF__DB_DONE)
        return sdiff__store_db_err(st, rc, "cannot read", err);
    return found;
}

int sdiff_store_meta_add(struct sdiff_store *st, const char *name, const void *v, size_t len,
                         struct sdiff_err *err)
{
    int rc = sdiff_store_commit(st, err);
    if (rc < 0)
        return rc;
    if (!st->pg) {
        rc = sdiff__store_exec(st, META_TABLE, err);
        if (rc < 0)
            return rc;
    }
    struct sdiff_dbq *q = NULL;
    rc = sdiff__db_prepare(st->db,
                           "INSERT INTO meta(name, value) VALUES(?,?) ON CONFLICT DO NOTHING", 0,
                           &q);
    if (rc != SDIFF__DB_OK)
        return sdiff__store_db_err(st, rc, "cannot write", err);
    sdiff__db_bind_text(q, 1, name, -1);
    sdiff__db_bind_blob(q, 2, v, len);
    rc = step_write(st, q, err);
    sdiff__db_finalize(q);
    return rc;
}

int sdiff_store_ping(const char *location, struct sdiff_err *err)
{
    char shown[512];
    sdiff__db_mask_url(location, shown, sizeof shown);
    if (sdiff__db_is_pg_url(location)) {
        const char *why = sdiff__db_ping_pg(location);
        return why ? sdiff_err_set(err, SDIFF_EDB, "store", "%s: %s", shown, why) : SDIFF_OK;
    }
    if (access(location, W_OK) != 0)
        return sdiff_err_set(err, SDIFF_EDB, "store", "%s: %s", shown, strerror(errno));
    return SDIFF_OK;
}
