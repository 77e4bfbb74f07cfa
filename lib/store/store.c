/*
 * store.c - the SQLite corpus: schema, batched inserts, redaction of secrets.
 *
 * The only file with <sqlite3.h>. Every SQLite failure becomes SDIFF_EDB with a message that
 * names the file and the cause ("disk full", "database is locked"), so the CLI can print one
 * line and keep what was committed.
 */
#include "shadowdiff/store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
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
    "INSERT OR IGNORE INTO meta(name, value) VALUES('corpus_id', lower(hex(randomblob(16))));"
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

static const char INSERT[] =
    "INSERT INTO exchanges(capture_id, conn_id, seq, client, server, method, target,"
    " req_version, req_headers, req_body, req_body_len, req_body_seen, req_chunked, status,"
    " reason, resp_version, resp_headers, resp_body, resp_body_len, resp_body_seen,"
    " resp_chunked, t_req_start, t_req_end, t_resp_start, t_resp_end, state, note,"
    " req_body_crc, resp_body_crc)"
    " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

int sdiff__store_db_err(struct sdiff_store *st, int src, const char *what, struct sdiff_err *err)
{
    const char *why = st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(src);
    switch (src & 0xff) {
    case SQLITE_FULL:
        why = "disk full";
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        why = "database is locked by another process";
        break;
    case SQLITE_READONLY:
        why = "database is read-only";
        break;
    case SQLITE_NOTADB:
        why = "not a shadowdiff database (not SQLite)";
        break;
    case SQLITE_CORRUPT:
        why = "database file is corrupt";
        break;
    default:
        break;
    }
    return sdiff_err_set(err, SDIFF_EDB, "store", "%s: %s: %s", st->path, what, why);
}

int sdiff__store_exec(struct sdiff_store *st, const char *sql, struct sdiff_err *err)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot write", err);
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
static int schema_version(struct sdiff_store *st)
{
    sqlite3_stmt *q = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return version;
}

/*
 * Read-only open for report and inspect: the file must exist and hold runs and results of a
 * schema this version reads. Nothing is created, migrated or indexed, so reading a file
 * never changes it (a results database may be another version's, or another user's).
 */
static int open_read_only(struct sdiff_store *st, struct sdiff_err *err)
{
    struct stat sb;
    if (stat(st->path, &sb) != 0)
        return sdiff_err_set(err, SDIFF_EIO, "store", "%.150s: no such file", st->path);
    int rc = sdiff_file_db_check(st->path, 0, NULL, 0, err);
    if (rc < 0)
        return rc;
    rc = sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL);
    if (rc == SQLITE_OK)
        harden(st->db);
    int version = rc == SQLITE_OK ? schema_version(st) : 0;
    st->version = version;
    if (version > SDIFF_STORE_SCHEMA_VERSION)
        return sdiff_err_set(err, SDIFF_EDB, "store",
                             "%.150s: schema version %d is newer than this shadowdiff supports"
                             " (%d)",
                             st->path, version, SDIFF_STORE_SCHEMA_VERSION);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(st->db, "SELECT id FROM runs LIMIT 0; SELECT id FROM results LIMIT 0",
                          NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sdiff_err_set(err, SDIFF_EDB, "store",
                             "%.150s: not a readable shadowdiff database (%.30s)", st->path,
                             st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
    sqlite3_busy_timeout(st->db, 5000);
    /* Reports read the same pages in several passes: map the file and keep a large page
     * cache rather than copying every page in with read() on each pass. */
    sqlite3_exec(st->db, "PRAGMA mmap_size=4294967296; PRAGMA cache_size=-262144", NULL, NULL,
                 NULL);
    return SDIFF_OK;
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
    snprintf(st->path, sizeof st->path, "%s", path);
    if (opts)
        st->opts = *opts;
    if (st->opts.batch == 0)
        st->opts.batch = 1000;
    sdiff_buf_init(&st->scratch_req, 64u << 20);
    sdiff_buf_init(&st->scratch_resp, 64u << 20);
    if (st->opts.read_only) {
        rc = open_read_only(st, err);
        if (rc < 0)
            goto fail;
        *out = st;
        return SDIFF_OK;
    }
    /* Create the file ourselves so it is 0600 from the first byte (SQLite gives the -wal
     * and -shm files the same mode); refuse one that others could have prepared. */
    rc = sdiff_file_db_check(path, st->opts.must_exist ? 0 : SDIFF_DB_WRITE | SDIFF_DB_CREATE,
                             NULL, 0, err);
    if (rc < 0)
        goto fail;
    rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
    if (rc == SQLITE_OK)
        harden(st->db);
    if (rc != SQLITE_OK) {
        rc = sdiff__store_db_err(st, rc, "cannot open", err);
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 2000);
    sqlite3_stmt *q = NULL;
    rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL);
    if (rc != SQLITE_OK) {
        rc = sdiff__store_db_err(st, rc, "cannot read", err);
        goto fail;
    }
    int version = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : 0;
    sqlite3_finalize(q);
    q = NULL;
    if (version > SDIFF_STORE_SCHEMA_VERSION) {
        rc = sdiff_err_set(err, SDIFF_EDB, "store",
                           "%s: schema version %d is newer than this shadowdiff supports (%d)",
                           path, version, SDIFF_STORE_SCHEMA_VERSION);
        goto fail;
    }
    /* Bodies make rows large: bigger pages keep them in fewer overflow pages, and a larger
     * checkpoint interval turns many small fsyncs into a few. A crash still loses at most
     * the transactions not yet committed to the WAL. */
    if (version == 0)
        sqlite3_exec(st->db, "PRAGMA page_size=16384", NULL, NULL, NULL);
    rc = sdiff__store_exec(st,
              "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
              " PRAGMA wal_autocheckpoint=4096; PRAGMA cache_size=-16384;",
              err);
    if (rc < 0)
        goto fail;
    if (version < SDIFF_STORE_SCHEMA_VERSION) {
        /* IMMEDIATE: two writers opening one v2 file at once migrate it once; the second
         * waits for the lock, then finds version 3 and does nothing */
        rc = sdiff__store_exec(st, "BEGIN IMMEDIATE", err);
        int now = rc < 0 ? version : schema_version(st);
        rc = rc < 0 || now >= 1 ? rc : sdiff__store_exec(st, SCHEMA, err);
        rc = rc < 0 || now >= 2 ? rc : sdiff__store_exec(st, SCHEMA_V2, err);
        rc = rc < 0 || now >= 3 ? rc : sdiff__store_exec(st, SCHEMA_V3, err);
        rc = rc < 0 ? rc : sdiff__store_exec(st, "PRAGMA user_version=3; COMMIT", err);
        if (rc < 0) {
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            goto fail;
        }
    }
    st->version = SDIFF_STORE_SCHEMA_VERSION;
    rc = sqlite3_prepare_v2(st->db, INSERT, -1, &st->ins, NULL);
    if (rc != SQLITE_OK) {
        rc = sdiff__store_db_err(st, rc, "cannot prepare", err);
        goto fail;
    }
    *out = st;
    return SDIFF_OK;
fail:
    sdiff_store_close(st);
    return rc;
}

int sdiff__store_tx(struct sdiff_store *st, struct sdiff_err *err)
{
    if (st->in_tx)
        return SDIFF_OK;
    int rc = sdiff__store_exec(st, "BEGIN", err);
    if (rc >= 0)
        st->in_tx = 1;
    return rc;
}

int sdiff__store_batched(struct sdiff_store *st, struct sdiff_err *err)
{
    if (++st->pending >= st->opts.batch)
        return sdiff_store_commit(st, err);
    return SDIFF_OK;
}

/*
 * What a commit inside a run records besides its rows: the run's and the instance's last
 * activity, and the batch itself (its primary key refuses a batch committed twice).
 */
static int record_batch(struct sdiff_store *st, struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    int rc = SQLITE_DONE;
    if (st->batch_idx > 0) {
        rc = sqlite3_prepare_v2(st->db,
                                "INSERT INTO batches(instance_id, batch_seq, run_id, results)"
                                " VALUES(?,?,?,?)",
                                -1, &q, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(q, 1, st->instance_id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 2, st->batch_seq);
            sqlite3_bind_int64(q, 3, st->run_id);
            sqlite3_bind_int64(q, 4, st->batch_idx);
            rc = sqlite3_step(q);
        }
        sqlite3_finalize(q);
        q = NULL;
    }
    if (rc == SQLITE_DONE) {
        rc = sqlite3_prepare_v2(st->db, "UPDATE runs SET last_activity = " NOW " WHERE id = ?",
                                -1, &q, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(q, 1, st->run_id);
            rc = sqlite3_step(q);
        }
        sqlite3_finalize(q);
        q = NULL;
    }
    if (rc == SQLITE_DONE) {
        rc = sqlite3_prepare_v2(st->db,
                                "UPDATE instances SET last_activity = " NOW " WHERE id = ?", -1,
                                &q, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(q, 1, st->instance_id, -1, SQLITE_STATIC);
            rc = sqlite3_step(q);
        }
        sqlite3_finalize(q);
    }
    return rc == SQLITE_DONE ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot write", err);
}

int sdiff_store_commit(struct sdiff_store *st, struct sdiff_err *err)
{
    if (!st->in_tx)
        return SDIFF_OK;
    int rc = st->run_id > 0 && st->instance_id[0] ? record_batch(st, err) : SDIFF_OK;
    rc = rc < 0 ? rc : sdiff__store_exec(st, "COMMIT", err);
    if (rc < 0) {
        /* the batch was never visible: its results are lost (and counted by the caller), its
         * sequence number is used again */
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        st->in_tx = 0;
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
        sqlite3_finalize(st->ins);
        sqlite3_finalize(st->ins_result);
        sqlite3_finalize(st->ins_response);
        sqlite3_finalize(st->ins_diff);
        sqlite3_close_v2(st->db);
    }
    sdiff_buf_dispose(&st->scratch_req);
    sdiff_buf_dispose(&st->scratch_resp);
    sdiff_free(st);
}

int sdiff_store_begin_capture(struct sdiff_store *st, const char *source, const char *command,
                              int64_t *id, struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(st->db, "INSERT INTO captures(source, command) VALUES(?,?)", -1,
                                &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, source, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, command, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(q);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return sdiff__store_db_err(st, rc, "cannot write", err);
    st->capture_id = sqlite3_last_insert_rowid(st->db);
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
    sqlite3_stmt *q = NULL;
    rc = sqlite3_prepare_v2(st->db,
                            "UPDATE captures SET summary = ?, finished_at ="
                            " strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?",
                            -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, summary, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 2, id);
        rc = sqlite3_step(q);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot write", err);
}

static void bind_text_or_null(sqlite3_stmt *q, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, i);
}

static void bind_ts(sqlite3_stmt *q, int i, uint64_t ts)
{
    if (ts)
        sqlite3_bind_int64(q, i, (sqlite3_int64)ts);
    else
        sqlite3_bind_null(q, i);
}

int sdiff_store_put_exchange(struct sdiff_store *st, struct sdiff_exchange *ex,
                             struct sdiff_err *err)
{
    sqlite3_stmt *q = st->ins;
    int rc;
    sdiff_buf_reset(&st->scratch_req);
    sdiff_buf_reset(&st->scratch_resp);
    if (sdiff__store_headers_json(&ex->req, &st->opts, &st->scratch_req) < 0 ||
        sdiff__store_headers_json(&ex->resp, &st->opts, &st->scratch_resp) < 0)
        return sdiff_err_set(err, SDIFF_ENOMEM, "store", "out of memory encoding headers");
    rc = sdiff__store_tx(st, err);
    if (rc < 0)
        return rc;
    const struct sdiff_msg *rq = &ex->req, *rs = &ex->resp;
    sqlite3_bind_int64(q, 1, st->capture_id);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)ex->conn_id);
    sqlite3_bind_int64(q, 3, ex->seq);
    sqlite3_bind_text(q, 4, ex->client, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, ex->server, -1, SQLITE_STATIC);
    bind_text_or_null(q, 6, rq->present ? rq->method : NULL);
    bind_text_or_null(q, 7, rq->present ? rq->target : NULL);
    sqlite3_bind_int(q, 8, rq->version_minor);
    sqlite3_bind_text(q, 9, (const char *)st->scratch_req.data, (int)st->scratch_req.len,
                      SQLITE_STATIC);
    sqlite3_bind_blob(q, 10, rq->body ? (const void *)rq->body : "", (int)rq->body_len,
                      SQLITE_STATIC);
    sqlite3_bind_int64(q, 11, (sqlite3_int64)rq->body_len);
    sqlite3_bind_int64(q, 12, (sqlite3_int64)rq->body_seen);
    sqlite3_bind_int(q, 13, rq->chunked);
    if (rs->present)
        sqlite3_bind_int(q, 14, rs->status);
    else
        sqlite3_bind_null(q, 14);
    bind_text_or_null(q, 15, rs->present ? rs->reason : NULL);
    sqlite3_bind_int(q, 16, rs->version_minor);
    sqlite3_bind_text(q, 17, (const char *)st->scratch_resp.data, (int)st->scratch_resp.len,
                      SQLITE_STATIC);
    sqlite3_bind_blob(q, 18, rs->body ? (const void *)rs->body : "", (int)rs->body_len,
                      SQLITE_STATIC);
    sqlite3_bind_int64(q, 19, (sqlite3_int64)rs->body_len);
    sqlite3_bind_int64(q, 20, (sqlite3_int64)rs->body_seen);
    sqlite3_bind_int(q, 21, rs->chunked);
    bind_ts(q, 22, ex->t_req_start);
    bind_ts(q, 23, ex->t_req_end);
    bind_ts(q, 24, ex->t_resp_start);
    bind_ts(q, 25, ex->t_resp_end);
    sqlite3_bind_text(q, 26, sdiff_exchange_state_str(ex->state), -1, SQLITE_STATIC);
    bind_text_or_null(q, 27, ex->note[0] ? ex->note : NULL);
    sqlite3_bind_int64(q, 28, sdiff__store_crc32(rq->body, rq->body_len));
    sqlite3_bind_int64(q, 29, sdiff__store_crc32(rs->body, rs->body_len));
    rc = sqlite3_step(q);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (rc != SQLITE_DONE)
        return sdiff__store_db_err(st, rc, "cannot write", err);
    ex->id = (uint64_t)sqlite3_last_insert_rowid(st->db);
    return sdiff__store_batched(st, err);
}

int sdiff_store_count_exchanges(struct sdiff_store *st, int64_t capture_id, int64_t *n,
                                struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(st->db,
                                "SELECT count(*) FROM exchanges WHERE ?1 = 0 OR capture_id = ?1",
                                -1, &q, NULL);
    if (rc == SQLITE_OK)
        sqlite3_bind_int64(q, 1, capture_id);
    if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW)
        *n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot read", err);
}

/* ---- meta ------------------------------------------------------------------------------ */

/* Created when first written, so databases of earlier versions gain it without a migration. */
#define META_TABLE                                                                             \
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID"

int sdiff_store_meta_get(struct sdiff_store *st, const char *name, void *out, size_t cap,
                         size_t *len, struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE name = ?", -1, &q, NULL);
    if (rc != SQLITE_OK) {
        /* no meta table yet: nothing stored */
        sqlite3_finalize(q);
        if (strstr(sqlite3_errmsg(st->db), "no such table"))
            return 0;
        return sdiff__store_db_err(st, rc, "cannot read", err);
    }
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    int found = rc == SQLITE_ROW;
    if (found) {
        size_t n = (size_t)sqlite3_column_bytes(q, 0);
        const void *p = sqlite3_column_blob(q, 0);
        if (n && p)
            memcpy(out, p, n < cap ? n : cap);
        *len = n;
    }
    sqlite3_finalize(q);
    if (!found && rc != SQLITE_DONE)
        return sdiff__store_db_err(st, rc, "cannot read", err);
    return found;
}

int sdiff_store_meta_add(struct sdiff_store *st, const char *name, const void *v, size_t len,
                         struct sdiff_err *err)
{
    int rc = sdiff_store_commit(st, err);
    if (rc < 0)
        return rc;
    rc = sdiff__store_exec(st, META_TABLE, err);
    if (rc < 0)
        return rc;
    sqlite3_stmt *q = NULL;
    rc = sqlite3_prepare_v2(st->db, "INSERT OR IGNORE INTO meta(name, value) VALUES(?,?)", -1, &q,
                            NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_blob(q, 2, len ? v : "", (int)len, SQLITE_STATIC);
        rc = sqlite3_step(q);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot write", err);
}
