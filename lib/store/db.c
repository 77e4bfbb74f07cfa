/*
 * db.c - the store's two drivers behind db.h: SQLite (a thin layer over sqlite3_stmt) and
 * PostgreSQL (libpq in pipeline mode, statements prepared once per connection, cursors for
 * long reads). The only files with <sqlite3.h> are this one and store.c (opening a file);
 * <libpq-fe.h> is only here.
 */
#include "store/db.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shadowdiff/core.h"

#define PG_NOW "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define SQLITE_NOW "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
#define SCAN_CHUNK 2000
/* answers read at the latest after this many writes: the server's answers must never fill
 * the socket while this side is still sending (both would wait for the other) */
#define MAX_PENDING 256
#define MAX_PARAMS 40
#define MULTI_ROWS 64 /* rows of one multi-row INSERT (SDIFF__DB_ROWS) */
#define MAX_COLS 48
/* the advisory locks of the store: schema creation and migration, and BEGIN IMMEDIATE */
#define LOCK_SCHEMA "7362646966660301"
#define LOCK_WRITERS "7362646966660302"

/* A statement prepared on the server, by its SQL text. */
struct pg_prepared {
    char *sql;                 /* as the store wrote it */
    char *pg_sql;              /* translated */
    char name[16];             /* "" until prepared on the server */
    int nparams;
    uint64_t refs;             /* bit k-1: $k appears in the SQL */
    int returns_rows;          /* SELECT, or a write with RETURNING */
    char multi_name[16];       /* the MULTI_ROWS-row form, "" until prepared */
    int multi;                 /* 1: it has one (the VALUES list is $1..$n), -1: it has not */
};

struct sdiff_db {
    enum sdiff__db_kind kind;
    sqlite3 *h;
    PGconn *c;
    int read_only;
    int in_tx;
    int tx_failed;             /* a statement of the open transaction failed */
    int pending;               /* commands sent whose results were not read yet */
    char cause[200];
    char sqlstate[6];
    struct pg_prepared *stmts;
    size_t nstmts, capstmts;
    unsigned cursor_seq;
    int scan_tx;               /* cursors open in a transaction of their own */
    int broken;                /* the session ended without libpq noticing: reset it */
    struct sdiff_dbq *deferred[16]; /* statements holding rows not sent yet */
    int ndeferred;
};

struct pg_param {
    int set, is_null, binary;
    Oid type;
    const char *val;
    int len;
    char *own;                 /* a copy when the value had to be made NUL-terminated */
    char num[32];
};

struct sdiff_dbq {
    struct sdiff_db *db;
    sqlite3_stmt *s;
    /* PostgreSQL */
    struct pg_prepared *p;
    unsigned flags;
    struct pg_param params[MAX_PARAMS];
    PGresult *res;
    int row, nrows;
    int state;                 /* 0: not run, 1: rows in res, 2: done */
    char cursor[24];
    int cursor_open, own_tx, more;
    unsigned char *blobs[MAX_COLS]; /* the row's unescaped bytea values, by column */
    size_t bloblen[MAX_COLS];
    struct pg_param *rows;     /* SDIFF__DB_ROWS: rows stepped, not sent yet (owned copies) */
    int nrows_held;
};

/* ---- URLs ------------------------------------------------------------------------------ */

int sdiff__db_is_pg_url(const char *s)
{
    return s && (strncmp(s, "postgres://", 11) == 0 || strncmp(s, "postgresql://", 13) == 0);
}

void sdiff__db_mask_url(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
#define PUT(ch)                                                                                \
    do {                                                                                       \
        if (o + 1 < cap)                                                                       \
            out[o++] = (ch);                                                                   \
    } while (0)
#define PUTS(s)                                                                                \
    do {                                                                                       \
        for (const char *p_ = (s); *p_; p_++)                                                  \
            PUT(*p_);                                                                          \
    } while (0)
    if (!sdiff__db_is_pg_url(in)) {
        snprintf(out, cap, "%s", in ? in : "");
        return;
    }
    const char *auth = strstr(in, "://") + 3;
    const char *q = strchr(auth, '?');
    const char *end = q ? q : auth + strlen(auth);
    const char *at = NULL;
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    const char *colon = NULL;
    for (const char *p = auth; at && p < at; p++)
        if (*p == ':') {
            colon = p;
            break;
        }
    for (const char *p = in; p < end; p++) {
        if (colon && p == colon + 1) {
            PUTS("***");
            p = at - 1;
            continue;
        }
        PUT(*p);
    }
    /* parameters: password=... becomes password=*** */
    const char *p = end;
    while (*p) {
        PUT(*p); /* '?' or '&' */
        p++;
        const char *amp = strchr(p, '&');
        const char *pe = amp ? amp : p + strlen(p);
        if ((size_t)(pe - p) >= 9 && strncasecmp(p, "password=", 9) == 0) {
            PUTS("password=***");
        } else {
            for (const char *s = p; s < pe; s++)
                PUT(*s);
        }
        p = pe;
    }
    out[o] = '\0';
#undef PUT
#undef PUTS
}

/* ---- causes ------------------------------------------------------------------------------ */

static void set_cause(struct sdiff_db *db, const char *state, const char *msg)
{
    snprintf(db->sqlstate, sizeof db->sqlstate, "%s", state ? state : "");
    const char *why = NULL;
    static const struct {
        const char *state;
        const char *why;
    } map[] = {
        {"53100", "disk full"},
        {"53200", "server out of memory"},
        {"53300", "too many connections"},
        {"53400", "configuration limit exceeded"},
        {"42501", "permission denied"},
        {"28000", "authentication failed"},
        {"28P01", "authentication failed"},
        {"3D000", "database does not exist"},
        {"25006", "database is read-only"},
        {"23505", "already stored (a duplicate key)"},
        {"40001", "conflict with another writer"},
        {"40P01", "deadlock with another writer"},
        {"57P01", "server shut down"},
        {"57P02", "server crashed"},
        {"57P03", "server is starting or stopping"},
        {"57014", "statement timed out or was cancelled"},
        {"42P01", "not a shadowdiff database (a table is missing)"},
        {"42703", "not a shadowdiff database (a column is missing)"},
        {"22021", "text is not valid in the database's encoding"},
        {"55P03", "lock not available"},
    };
    for (size_t i = 0; state && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(state, map[i].state) == 0)
            why = map[i].why;
    if (why == NULL && state && strncmp(state, "08", 2) == 0)
        why = "connection lost";
    if (why == NULL && msg) {
        static const struct {
            const char *needle;
            const char *why;
        } text[] = {
            {"Connection refused", "connection refused"},
            {"No such file or directory", "connection refused (no server on that socket)"},
            {"password authentication failed", "authentication failed"},
            {"no password supplied", "authentication failed (no password: set PGPASSFILE or"
                                     " PGPASSWORD)"},
            {"authentication failed", "authentication failed"},
            {"does not exist", NULL},
            {"could not translate host name", "unknown host"},
            {"timeout expired", "connection timed out"},
            {"server closed the connection", "connection lost"},
            {"no connection to the server", "connection lost"},
            {"too many clients", "too many connections"},
            {"the database system is starting up", "server is starting up"},
            {"the database system is shutting down", "server is shutting down"},
            {"permission denied", "permission denied"},
        };
        for (size_t i = 0; why == NULL && i < sizeof text / sizeof text[0]; i++)
            if (strstr(msg, text[i].needle)) {
                why = text[i].why;
                if (why == NULL) /* database "x" or role "x" does not exist */
                    why = strstr(msg, "role ") ? "role does not exist"
                                               : "database does not exist";
            }
    }
    if (why) {
        snprintf(db->cause, sizeof db->cause, "%s", why);
        return;
    }
    /* the server's own words: its first line, prefixes dropped */
    const char *m = msg ? msg : "unknown error";
    if (strncmp(m, "ERROR:  ", 8) == 0)
        m += 8;
    if (strncmp(m, "FATAL:  ", 8) == 0)
        m += 8;
    if (strncmp(m, "connection to server ", 21) == 0 && strstr(m, " failed: "))
        m = strstr(m, " failed: ") + 9;
    snprintf(db->cause, sizeof db->cause, "%s", m);
    db->cause[strcspn(db->cause, "\r\n")] = '\0';
    size_t n = strlen(db->cause);
    if (state && state[0] && n + 9 < sizeof db->cause)
        snprintf(db->cause + n, sizeof db->cause - n, " (%s)", state);
}

static void result_cause(struct sdiff_db *db, const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (msg == NULL)
        msg = PQerrorMessage(db->c);
    if (state == NULL && PQstatus(db->c) == CONNECTION_BAD) {
        state = "08006";
    }
    set_cause(db, state, msg);
}

const char *sdiff__db_cause(struct sdiff_db *db, int rc)
{
    if (db == NULL)
        return sqlite3_errstr(rc);
    if (db->kind == SDIFF__DB_PG)
        return db->cause[0] ? db->cause : "unknown error";
    switch (rc & 0xff) {
    case SQLITE_FULL: return "disk full";
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return "database is locked by another process";
    case SQLITE_READONLY: return "database is read-only";
    case SQLITE_NOTADB: return "not a shadowdiff database (not SQLite)";
    case SQLITE_CORRUPT: return "database file is corrupt";
    default: return db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc);
    }
}

/* ---- SQLite ------------------------------------------------------------------------------ */

struct sdiff_db *sdiff__db_wrap_sqlite(struct sqlite3 *h)
{
    struct sdiff_db *db = sdiff_calloc(1, sizeof *db);
    if (db == NULL)
        return NULL;
    db->kind = SDIFF__DB_SQLITE;
    db->h = h;
    return db;
}

struct sqlite3 *sdiff__db_sqlite(struct sdiff_db *db)
{
    return db && db->kind == SDIFF__DB_SQLITE ? db->h : NULL;
}

int64_t sdiff__db_last_rowid(struct sdiff_db *db)
{
    return db->kind == SDIFF__DB_SQLITE ? sqlite3_last_insert_rowid(db->h) : 0;
}

int sdiff__db_changes(struct sdiff_db *db)
{
    return db->kind == SDIFF__DB_SQLITE ? sqlite3_changes(db->h) : 0;
}

enum sdiff__db_kind sdiff__db_kind(const struct sdiff_db *db)
{
    return db->kind;
}

/* ---- PostgreSQL: the pipeline ------------------------------------------------------------ */

static void notice_ignore(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static int pg_flush_all(struct sdiff_db *db);

/*
 * Send a Sync and read every result up to it: those of the commands sent before (the first
 * failure among them is kept), then, when want is set, the result of the last command sent
 * (returned; the caller clears it). SDIFF__DB_OK, or 1 on failure (the cause is set).
 */
static int pg_sync(struct sdiff_db *db, int want, PGresult **got)
{
    PGresult *keep = NULL;
    if (got)
        *got = NULL;
    if (want && db->ndeferred) {
        /* rows held back would go after the command whose answer is wanted: never so, as
         * everything that sends a command sends the held rows first */
        set_cause(db, NULL, "rows held back behind a query");
        return 1;
    }
    int frc = pg_flush_all(db);
    int ncmd = db->pending + (want ? 1 : 0), cmd = 0, rc = frc;
    if (PQpipelineSync(db->c) != 1) {
        db->pending = 0;
        result_cause(db, NULL);
        return 1;
    }
    int nulls = 0;
    for (;;) {
        PGresult *r = PQgetResult(db->c);
        if (r == NULL) {
            /* a NULL ends one command's results; two in a row: nothing more will come (the
             * server ended the session, and libpq has not marked the connection bad yet) */
            if (PQstatus(db->c) == CONNECTION_BAD || ++nulls > 1) {
                if (rc == SDIFF__DB_OK) {
                    result_cause(db, NULL);
                    if (PQstatus(db->c) != CONNECTION_BAD)
                        set_cause(db, "08006", "connection lost");
                }
                db->broken = 1;
                rc = 1;
                break;
            }
            cmd++;
            continue;
        }
        nulls = 0;
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        if (s == PGRES_FATAL_ERROR || s == PGRES_NONFATAL_ERROR || s == PGRES_BAD_RESPONSE) {
            /* "transaction is aborted" only echoes the failure before it: keep that one */
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            if (rc == SDIFF__DB_OK && !(state && strcmp(state, "25P02") == 0 && db->cause[0]))
                result_cause(db, r);
            rc = 1;
        } else if (s == PGRES_PIPELINE_ABORTED) {
            rc = 1;
        } else if (want && cmd == ncmd - 1 && keep == NULL) {
            keep = r;
            continue;
        }
        PQclear(r);
    }
    db->pending = 0;
    if (rc != SDIFF__DB_OK && db->in_tx)
        db->tx_failed = 1;
    if (rc != SDIFF__DB_OK || got == NULL)
        PQclear(keep);
    else
        *got = keep;
    if (rc == SDIFF__DB_OK && want && got && *got == NULL) {
        set_cause(db, NULL, "no result");
        rc = 1;
    }
    return rc;
}

/* Send one command with parameters (unnamed statement, or a prepared one by name). */
static int pg_send(struct sdiff_db *db, const char *name, const char *sql, int n,
                   const struct pg_param *pp)
{
    const char *vals[MAX_PARAMS];
    int lens[MAX_PARAMS], fmts[MAX_PARAMS];
    Oid types[MAX_PARAMS];
    for (int i = 0; i < n; i++) {
        vals[i] = pp && pp[i].set && !pp[i].is_null ? pp[i].val : NULL;
        lens[i] = pp ? pp[i].len : 0;
        fmts[i] = pp ? pp[i].binary : 0;
        types[i] = pp && pp[i].set && !pp[i].is_null ? pp[i].type : 0;
    }
    int ok = name ? PQsendQueryPrepared(db->c, name, n, vals, lens, fmts, 0)
                  : PQsendQueryParams(db->c, sql, n, n ? types : NULL, vals, lens, fmts, 0);
    if (!ok) {
        result_cause(db, NULL);
        return 1;
    }
    return SDIFF__DB_OK;
}

/* Run one command and wait for its result. */
static int pg_run(struct sdiff_db *db, const char *sql, PGresult **got)
{
    int rc = pg_flush_all(db);
    if (rc != SDIFF__DB_OK)
        return rc;
    rc = pg_send(db, NULL, sql, 0, NULL);
    if (rc != SDIFF__DB_OK) {
        db->pending = 0;
        return rc;
    }
    PGresult *r = NULL;
    rc = pg_sync(db, 1, &r);
    if (got)
        *got = r;
    else
        PQclear(r);
    return rc;
}

/* Queue one command whose result is read by the next sync. */
static int pg_queue(struct sdiff_db *db, const char *sql)
{
    int rc = pg_flush_all(db);
    if (rc != SDIFF__DB_OK)
        return rc;
    rc = pg_send(db, NULL, sql, 0, NULL);
    if (rc == SDIFF__DB_OK)
        db->pending++;
    return rc;
}

/* Replace every needle (nlen bytes, not terminated) in buf, a string of capacity cap. */
static void replace_all(char *buf, size_t cap, const char *needle, size_t nlen, const char *with)
{
    size_t wlen = strlen(with);
    char *p = buf, n[256];
    if (nlen == 0 || nlen >= sizeof n)
        return;
    memcpy(n, needle, nlen);
    n[nlen] = '\0';
    while ((p = strstr(p, n)) != NULL) {
        size_t tail = strlen(p + nlen);
        if ((size_t)(p - buf) + wlen + tail + 1 > cap)
            break;
        memmove(p + wlen, p + nlen, tail + 1);
        memcpy(p, with, wlen);
        p += wlen;
    }
}

/*
 * libpq quotes what it could not parse, and that may be the URL or its password: the cause
 * of a failed connection names neither (the URL as shown instead, the password as ***).
 */
static void scrub_cause(struct sdiff_db *db, const char *url)
{
    char shown[sizeof db->cause];
    sdiff__db_mask_url(url, shown, sizeof shown);
    if (strlen(url) < 256)
        replace_all(db->cause, sizeof db->cause, url, strlen(url), shown);
    if (!sdiff__db_is_pg_url(url))
        return;
    const char *auth = strstr(url, "://") + 3;
    const char *end = auth + strcspn(auth, "?");
    const char *at = NULL;
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon && at > colon + 1)
        replace_all(db->cause, sizeof db->cause, colon + 1, (size_t)(at - colon - 1), "***");
    for (const char *p = end; *p; p++) {
        if ((p[0] == '?' || p[0] == '&') && strncasecmp(p + 1, "password=", 9) == 0) {
            const char *v = p + 10;
            replace_all(db->cause, sizeof db->cause, v, strcspn(v, "&"), "***");
        }
    }
}

static int pg_session(struct sdiff_db *db);

int sdiff__db_open_pg(struct sdiff_db **out, const char *conninfo, int read_only)
{
    struct sdiff_db *db = sdiff_calloc(1, sizeof *db);
    *out = db;
    if (db == NULL)
        return SQLITE_NOMEM;
    db->kind = SDIFF__DB_PG;
    /* a URL's own parameters win over these defaults (expand_dbname expands it in place) */
    const char *keys[4], *vals[4];
    int n = 0;
    if (getenv("PGCONNECT_TIMEOUT") == NULL) {
        keys[n] = "connect_timeout";
        vals[n++] = "10";
    }
    keys[n] = "fallback_application_name";
    vals[n++] = "shadowdiff";
    keys[n] = "dbname";
    vals[n++] = conninfo;
    keys[n] = NULL;
    vals[n] = NULL;
    db->c = PQconnectdbParams(keys, vals, 1);
    if (db->c == NULL) {
        set_cause(db, NULL, "out of memory");
        return 1;
    }
    PQsetNoticeProcessor(db->c, notice_ignore, NULL);
    if (PQstatus(db->c) != CONNECTION_OK) {
        set_cause(db, NULL, PQerrorMessage(db->c));
        scrub_cause(db, conninfo);
        return 1;
    }
    db->read_only = read_only;
    return pg_session(db);
}

/* What every session starts with: pipeline mode, UTF-8, read-only for readers. */
static int pg_session(struct sdiff_db *db)
{
    if (PQenterPipelineMode(db->c) != 1) {
        result_cause(db, NULL);
        return 1;
    }
    int rc = pg_queue(db, "SET client_encoding = 'UTF8'");
    if (rc == SDIFF__DB_OK && db->read_only)
        rc = pg_queue(db, "SET default_transaction_read_only = on");
    return rc == SDIFF__DB_OK ? pg_sync(db, 0, NULL) : rc;
}

/*
 * A lost connection (a restarted or failed-over server) is made again when the next
 * transaction begins: what was not committed is gone, its failure was reported, and the
 * writer goes on. Statements are prepared again in the new session.
 */
static int pg_reconnect(struct sdiff_db *db)
{
    if ((PQstatus(db->c) == CONNECTION_OK && !db->broken) || db->in_tx || db->scan_tx)
        return SDIFF__DB_OK;
    db->broken = 0;
    if (PQpipelineStatus(db->c) != PQ_PIPELINE_OFF)
        PQexitPipelineMode(db->c);
    PQreset(db->c);
    db->pending = 0;
    if (PQstatus(db->c) != CONNECTION_OK) {
        set_cause(db, NULL, PQerrorMessage(db->c));
        return 1;
    }
    for (size_t i = 0; i < db->nstmts; i++) {
        db->stmts[i].name[0] = '\0';
        db->stmts[i].multi_name[0] = '\0';
        db->stmts[i].multi = 0;
    }
    return pg_session(db);
}

void sdiff__db_close(struct sdiff_db *db)
{
    if (db == NULL)
        return;
    if (db->h)
        sqlite3_close_v2(db->h);
    if (db->c)
        PQfinish(db->c);
    for (size_t i = 0; i < db->nstmts; i++) {
        sdiff_free(db->stmts[i].sql);
        sdiff_free(db->stmts[i].pg_sql);
    }
    sdiff_free(db->stmts);
    sdiff_free(db);
}

/* The store's SQL in PostgreSQL's spelling: $n placeholders, clock_timestamp for now. */
static char *pg_translate(const char *sql, int *nparams, uint64_t *refs)
{
    /* the output grows only where "?" becomes "$N" (4 bytes at most for 1 below 1000)
     * and where SQLite's now becomes PostgreSQL's */
    size_t nnow = 0, len = strlen(sql);
    for (const char *p = strstr(sql, SQLITE_NOW); p; p = strstr(p + 1, SQLITE_NOW))
        nnow++;
    size_t cap = len * 4 + nnow * sizeof PG_NOW + 1, o = 0;
    char *out = sdiff_malloc(cap);
    int seq = 0, max = 0;
    if (out == NULL)
        return NULL;
    for (const char *p = sql; *p;) {
        if (strncmp(p, SQLITE_NOW, sizeof SQLITE_NOW - 1) == 0) {
            memcpy(out + o, PG_NOW, sizeof PG_NOW - 1);
            o += sizeof PG_NOW - 1;
            p += sizeof SQLITE_NOW - 1;
        } else if (strncmp(p, " NOT INDEXED", 12) == 0) {
            p += 12;
        } else if (*p == '\'' || *p == '"') {
            /* a literal or a quoted name, copied as it is ('' and "" stay inside it) */
            char qc = *p;
            out[o++] = *p++;
            while (*p && !(*p == qc && p[1] != qc)) {
                if (*p == qc)
                    out[o++] = *p++;
                out[o++] = *p++;
            }
            if (*p)
                out[o++] = *p++;
        } else if (*p == '?') {
            p++;
            int k = 0;
            if (isdigit((unsigned char)*p)) {
                while (isdigit((unsigned char)*p) && k < 100)
                    k = k * 10 + (*p++ - '0');
            } else {
                k = ++seq;
            }
            if (k > max)
                max = k;
            if (refs && k >= 1 && k <= 64)
                *refs |= 1ull << (k - 1);
            o += (size_t)snprintf(out + o, cap - o, "$%d", k);
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    *nparams = max;
    return out;
}

static int starts_with_word(const char *s, const char *w)
{
    while (isspace((unsigned char)*s))
        s++;
    return strncasecmp(s, w, strlen(w)) == 0;
}

static struct pg_prepared *pg_lookup(struct sdiff_db *db, const char *sql)
{
    for (size_t i = 0; i < db->nstmts; i++)
        if (strcmp(db->stmts[i].sql, sql) == 0)
            return &db->stmts[i];
    if (db->nstmts == db->capstmts) {
        size_t ncap = db->capstmts ? db->capstmts * 2 : 32;
        struct pg_prepared *n = sdiff_realloc(db->stmts, ncap * sizeof *n);
        if (n == NULL)
            return NULL;
        db->stmts = n;
        db->capstmts = ncap;
    }
    struct pg_prepared *p = &db->stmts[db->nstmts];
    memset(p, 0, sizeof *p);
    p->sql = sdiff_strdup(sql);
    p->pg_sql = pg_translate(sql, &p->nparams, &p->refs);
    if (p->sql == NULL || p->pg_sql == NULL || p->nparams > MAX_PARAMS) {
        sdiff_free(p->sql);
        sdiff_free(p->pg_sql);
        return NULL;
    }
    p->returns_rows = !(starts_with_word(sql, "INSERT") || starts_with_word(sql, "UPDATE") ||
                        starts_with_word(sql, "DELETE")) ||
                      strstr(sql, "RETURNING") != NULL;
    db->nstmts++;
    return p;
}

/* ---- statements ------------------------------------------------------------------------ */

int sdiff__db_prepare(struct sdiff_db *db, const char *sql, unsigned flags,
                      struct sdiff_dbq **out)
{
    *out = NULL;
    struct sdiff_dbq *q = sdiff_calloc(1, sizeof *q);
    if (q == NULL) {
        if (db->kind == SDIFF__DB_PG)
            set_cause(db, NULL, "out of memory");
        return SQLITE_NOMEM;
    }
    q->db = db;
    q->flags = flags;
    if (db->kind == SDIFF__DB_SQLITE) {
        int rc = sqlite3_prepare_v2(db->h, sql, -1, &q->s, NULL);
        if (rc != SQLITE_OK) {
            sqlite3_finalize(q->s);
            sdiff_free(q);
            return rc;
        }
        *out = q;
        return SDIFF__DB_OK;
    }
    q->p = pg_lookup(db, sql);
    if (q->p == NULL) {
        sdiff_free(q);
        set_cause(db, NULL, "out of memory preparing a statement");
        return SQLITE_NOMEM;
    }
    *out = q;
    return SDIFF__DB_OK;
}

static struct pg_param *param(struct sdiff_dbq *q, int i)
{
    if (i < 1 || i > MAX_PARAMS)
        return NULL;
    struct pg_param *p = &q->params[i - 1];
    sdiff_free(p->own);
    memset(p, 0, sizeof *p);
    p->set = 1;
    return p;
}

void sdiff__db_bind_int64(struct sdiff_dbq *q, int i, int64_t v)
{
    if (q->s) {
        sqlite3_bind_int64(q->s, i, v);
        return;
    }
    struct pg_param *p = param(q, i);
    if (p == NULL)
        return;
    snprintf(p->num, sizeof p->num, "%lld", (long long)v);
    p->val = p->num;
    p->type = 20; /* int8 */
}

void sdiff__db_bind_double(struct sdiff_dbq *q, int i, double v)
{
    if (q->s) {
        sqlite3_bind_double(q->s, i, v);
        return;
    }
    struct pg_param *p = param(q, i);
    if (p == NULL)
        return;
    snprintf(p->num, sizeof p->num, "%.17g", v);
    p->val = p->num;
    p->type = 701; /* float8 */
}

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    unsigned c = s[0];
    size_t n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (n == 0 || n > left)
        return 0;
    for (size_t k = 1; k < n; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    if (n == 3 && ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F)))
        return 0;
    if (n == 4 && ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F)))
        return 0;
    return n;
}

void sdiff__db_bind_text(struct sdiff_dbq *q, int i, const char *s, int len)
{
    if (q->s) {
        sqlite3_bind_text(q->s, i, s, len, SQLITE_STATIC);
        return;
    }
    struct pg_param *p = param(q, i);
    if (p == NULL)
        return;
    size_t n = len < 0 ? strlen(s) : (size_t)len;
    p->type = 25; /* text */
    /* PostgreSQL text holds neither NUL nor bytes that are not UTF-8: those become U+FFFD
     * (bodies are bytea and stay exact) */
    int clean = len < 0 || memchr(s, 0, n) == NULL;
    for (size_t k = 0; clean && k < n;) {
        size_t l = utf8_len((const unsigned char *)s + k, n - k);
        if (l == 0)
            clean = 0;
        k += l ? l : 1;
    }
    if (clean && len < 0) {
        p->val = s;
        return;
    }
    p->own = sdiff_malloc(n * 3 + 1);
    if (p->own == NULL) {
        p->is_null = 1;
        return;
    }
    size_t o = 0;
    for (size_t k = 0; k < n;) {
        size_t l = s[k] ? utf8_len((const unsigned char *)s + k, n - k) : 0;
        if (l) {
            memcpy(p->own + o, s + k, l);
            o += l;
            k += l;
        } else {
            memcpy(p->own + o, "\xef\xbf\xbd", 3);
            o += 3;
            k++;
        }
    }
    p->own[o] = '\0';
    p->val = p->own;
}

void sdiff__db_bind_blob(struct sdiff_dbq *q, int i, const void *v, size_t len)
{
    if (q->s) {
        sqlite3_bind_blob(q->s, i, len ? v : "", (int)len, SQLITE_STATIC);
        return;
    }
    struct pg_param *p = param(q, i);
    if (p == NULL)
        return;
    p->val = len ? v : "";
    p->len = (int)len;
    p->binary = 1;
    p->type = 17; /* bytea */
}

void sdiff__db_bind_null(struct sdiff_dbq *q, int i)
{
    if (q->s) {
        sqlite3_bind_null(q->s, i);
        return;
    }
    struct pg_param *p = param(q, i);
    if (p)
        p->is_null = 1;
}

static void clear_params(struct sdiff_dbq *q)
{
    for (int i = 0; i < MAX_PARAMS; i++) {
        sdiff_free(q->params[i].own);
        memset(&q->params[i], 0, sizeof q->params[i]);
    }
}

static void clear_blobs(struct sdiff_dbq *q)
{
    for (int i = 0; i < MAX_COLS; i++) {
        if (q->blobs[i])
            PQfreemem(q->blobs[i]);
        q->blobs[i] = NULL;
    }
}

static void clear_rows(struct sdiff_dbq *q)
{
    PQclear(q->res);
    q->res = NULL;
    q->row = q->nrows = 0;
    clear_blobs(q);
}

/* Prepare q's statement on the server (queued: its answer comes with the next sync). */
static int pg_ensure_prepared(struct sdiff_dbq *q)
{
    struct sdiff_db *db = q->db;
    struct pg_prepared *p = q->p;
    if (p->name[0])
        return SDIFF__DB_OK;
    Oid types[MAX_PARAMS];
    for (int i = 0; i < p->nparams; i++)
        types[i] = q->params[i].set && !q->params[i].is_null ? q->params[i].type
                   : p->refs & (1ull << i)                   ? 0
                                                             : 25; /* unused: any type */
    char name[16];
    snprintf(name, sizeof name, "s%zu", (size_t)(p - db->stmts));
    if (!PQsendPrepare(db->c, name, p->pg_sql, p->nparams, types)) {
        result_cause(db, NULL);
        return 1;
    }
    db->pending++;
    memcpy(p->name, name, sizeof name);
    return SDIFF__DB_OK;
}

/* The MULTI_ROWS-row form of a one-row INSERT ... VALUES($1, ..., $n), or NULL when the
 * statement is not of that shape. */
static char *multi_sql(const struct pg_prepared *p)
{
    char one[MAX_PARAMS * 4 + 16];
    size_t o = 0;
    o += (size_t)snprintf(one + o, sizeof one - o, "VALUES(");
    for (int i = 1; i <= p->nparams; i++)
        o += (size_t)snprintf(one + o, sizeof one - o, i > 1 ? ",$%d" : "$%d", i);
    snprintf(one + o, sizeof one - o, ")");
    size_t len = strlen(p->pg_sql), olen = strlen(one);
    if (p->nparams == 0 || len < olen || strcmp(p->pg_sql + len - olen, one) != 0)
        return NULL;
    size_t cap = len + (size_t)MULTI_ROWS * ((size_t)p->nparams * 6 + 4) + 1;
    char *sql = sdiff_malloc(cap);
    if (sql == NULL)
        return NULL;
    o = len - olen;
    memcpy(sql, p->pg_sql, o);
    o += (size_t)snprintf(sql + o, cap - o, "VALUES");
    for (int r = 0; r < MULTI_ROWS; r++) {
        sql[o++] = r ? ',' : ' ';
        sql[o++] = '(';
        for (int i = 1; i <= p->nparams; i++)
            o += (size_t)snprintf(sql + o, cap - o, i > 1 ? ",$%d" : "$%d",
                                  r * p->nparams + i);
        sql[o++] = ')';
    }
    sql[o] = '\0';
    return sql;
}

static void drop_rows(struct sdiff_dbq *q)
{
    int n = q->p ? q->p->nparams : 0;
    for (int i = 0; i < q->nrows_held * n; i++)
        sdiff_free(q->rows[i].own);
    q->nrows_held = 0;
}

/* Send the rows q holds: MULTI_ROWS to a statement, the rest one by one (queued). */
static int pg_flush(struct sdiff_dbq *q)
{
    struct sdiff_db *db = q->db;
    struct pg_prepared *p = q->p;
    int n = p->nparams, rc = SDIFF__DB_OK, done = 0;
    if (p->multi == 0) {
        char *sql = multi_sql(p);
        p->multi = -1;
        if (sql) {
            Oid types[MAX_PARAMS * MULTI_ROWS];
            for (int r = 0; r < MULTI_ROWS; r++)
                for (int i = 0; i < n; i++)
                    types[r * n + i] = q->rows[i].set && !q->rows[i].is_null ? q->rows[i].type
                                                                            : 0;
            snprintf(p->multi_name, sizeof p->multi_name, "m%zu", (size_t)(p - db->stmts));
            if (PQsendPrepare(db->c, p->multi_name, sql, n * MULTI_ROWS, types)) {
                db->pending++;
                p->multi = 1;
            }
            sdiff_free(sql);
        }
    }
    if (p->multi == 1 && q->nrows_held == MULTI_ROWS) {
        const char *vals[MAX_PARAMS * MULTI_ROWS];
        int lens[MAX_PARAMS * MULTI_ROWS], fmts[MAX_PARAMS * MULTI_ROWS];
        for (int i = 0; i < n * MULTI_ROWS; i++) {
            vals[i] = q->rows[i].set && !q->rows[i].is_null ? q->rows[i].val : NULL;
            lens[i] = q->rows[i].len;
            fmts[i] = q->rows[i].binary;
        }
        if (PQsendQueryPrepared(db->c, p->multi_name, n * MULTI_ROWS, vals, lens, fmts, 0)) {
            db->pending++;
            done = MULTI_ROWS;
        } else {
            result_cause(db, NULL);
            rc = 1;
        }
    }
    if (rc == SDIFF__DB_OK && done < q->nrows_held)
        rc = pg_ensure_prepared(q);
    for (int r = done; rc == SDIFF__DB_OK && r < q->nrows_held; r++) {
        rc = pg_send(db, p->name, NULL, n, q->rows + (size_t)r * n);
        if (rc == SDIFF__DB_OK)
            db->pending++;
    }
    drop_rows(q);
    return rc;
}

static int pg_flush_all(struct sdiff_db *db)
{
    int rc = SDIFF__DB_OK;
    while (db->ndeferred > 0) {
        struct sdiff_dbq *q = db->deferred[--db->ndeferred];
        int r = pg_flush(q);
        if (rc == SDIFF__DB_OK)
            rc = r;
    }
    return rc;
}

/* Hold the bound row of q (copied) to send it with others. */
static int pg_hold_row(struct sdiff_dbq *q)
{
    struct sdiff_db *db = q->db;
    int n = q->p->nparams;
    if (q->rows == NULL) {
        q->rows = sdiff_calloc((size_t)MULTI_ROWS * (size_t)n, sizeof *q->rows);
        if (q->rows == NULL) {
            set_cause(db, NULL, "out of memory");
            return SQLITE_NOMEM;
        }
    }
    if (q->nrows_held == 0) {
        if (db->ndeferred == (int)(sizeof db->deferred / sizeof *db->deferred)) {
            int rc = pg_flush_all(db);
            if (rc != SDIFF__DB_OK)
                return rc;
        }
        db->deferred[db->ndeferred++] = q;
    }
    struct pg_param *row = q->rows + (size_t)q->nrows_held * n;
    for (int i = 0; i < n; i++) {
        const struct pg_param *b = &q->params[i];
        row[i] = *b;
        row[i].own = NULL;
        if (b->set && !b->is_null && b->val) {
            size_t len = b->binary ? (size_t)b->len : strlen(b->val);
            row[i].own = sdiff_malloc(len + 1);
            if (row[i].own == NULL) {
                for (int k = 0; k < i; k++)
                    sdiff_free(row[k].own);
                set_cause(db, NULL, "out of memory");
                return SQLITE_NOMEM;
            }
            memcpy(row[i].own, b->val, len);
            row[i].own[len] = '\0';
            row[i].val = row[i].own;
        }
    }
    q->nrows_held++;
    if (q->nrows_held == MULTI_ROWS) {
        /* send it now: take it off the list first */
        for (int i = 0; i < db->ndeferred; i++)
            if (db->deferred[i] == q) {
                db->deferred[i] = db->deferred[--db->ndeferred];
                break;
            }
        return pg_flush(q);
    }
    return SDIFF__DB_OK;
}

static int pg_fetch(struct sdiff_dbq *q)
{
    char sql[64];
    clear_rows(q);
    snprintf(sql, sizeof sql, "FETCH FORWARD %d FROM %s", SCAN_CHUNK, q->cursor);
    int rc = pg_run(q->db, sql, &q->res);
    if (rc != SDIFF__DB_OK)
        return rc;
    q->nrows = PQntuples(q->res);
    q->row = -1;
    q->more = q->nrows == SCAN_CHUNK;
    return SDIFF__DB_OK;
}

static int pg_step(struct sdiff_dbq *q)
{
    struct sdiff_db *db = q->db;
    struct pg_prepared *p = q->p;
    int rc;
    if (q->state == 2)
        return SDIFF__DB_DONE;
    if (q->state == 1) {
        clear_blobs(q);
        if (++q->row < q->nrows)
            return SDIFF__DB_ROW;
        if (q->cursor_open && q->more) {
            rc = pg_fetch(q);
            if (rc != SDIFF__DB_OK)
                return rc;
            if (++q->row < q->nrows)
                return SDIFF__DB_ROW;
        }
        q->state = 2;
        return SDIFF__DB_DONE;
    }
    if ((q->flags & SDIFF__DB_ROWS) && !p->returns_rows && db->in_tx) {
        rc = pg_hold_row(q);
        if (rc != SDIFF__DB_OK)
            return rc;
        q->state = 2;
        if (db->pending >= MAX_PENDING && (rc = pg_sync(db, 0, NULL)) != SDIFF__DB_OK)
            return rc;
        return SDIFF__DB_DONE;
    }
    rc = pg_flush_all(db);
    if (rc != SDIFF__DB_OK)
        return rc;
    if (q->flags & SDIFF__DB_SCAN) {
        /* a cursor lives in a transaction: the store's, or one of its own */
        if (!db->in_tx) {
            if (db->scan_tx == 0) {
                rc = pg_queue(db, "BEGIN");
                if (rc != SDIFF__DB_OK)
                    return rc;
            }
            db->scan_tx++;
            q->own_tx = 1;
        }
        snprintf(q->cursor, sizeof q->cursor, "sdiff_c%u", ++db->cursor_seq);
        size_t n = strlen(p->pg_sql) + 64;
        char *decl = sdiff_malloc(n);
        if (decl == NULL) {
            set_cause(db, NULL, "out of memory");
            return SQLITE_NOMEM;
        }
        snprintf(decl, n, "DECLARE %s NO SCROLL CURSOR FOR %s", q->cursor, p->pg_sql);
        rc = pg_send(db, NULL, decl, p->nparams, q->params);
        sdiff_free(decl);
        if (rc == SDIFF__DB_OK) {
            db->pending++;
            rc = pg_sync(db, 0, NULL);
        }
        if (rc != SDIFF__DB_OK)
            return rc;
        q->cursor_open = 1;
        q->state = 1;
        rc = pg_fetch(q);
        if (rc != SDIFF__DB_OK)
            return rc;
        return pg_step(q);
    }
    rc = pg_ensure_prepared(q);
    if (rc == SDIFF__DB_OK)
        rc = pg_send(db, p->name, NULL, p->nparams, q->params);
    if (rc != SDIFF__DB_OK)
        return rc;
    if (!p->returns_rows && db->in_tx) {
        /* a write inside a transaction: its answer comes with the next sync */
        db->pending++;
        q->state = 2;
        if (db->pending >= MAX_PENDING) {
            /* a Sync inside BEGIN ... COMMIT does not end the transaction */
            rc = pg_sync(db, 0, NULL);
            if (rc != SDIFF__DB_OK)
                return rc;
        }
        return SDIFF__DB_DONE;
    }
    rc = pg_sync(db, 1, &q->res);
    if (rc != SDIFF__DB_OK)
        return rc;
    q->nrows = PQresultStatus(q->res) == PGRES_TUPLES_OK ? PQntuples(q->res) : 0;
    q->row = -1;
    q->state = 1;
    return pg_step(q);
}

int sdiff__db_step(struct sdiff_dbq *q)
{
    if (q->s)
        return sqlite3_step(q->s);
    return pg_step(q);
}

static void pg_close_cursor(struct sdiff_dbq *q)
{
    if (!q->cursor_open)
        return;
    char sql[64];
    snprintf(sql, sizeof sql, "CLOSE %s", q->cursor);
    if (q->own_tx)
        q->db->scan_tx--;
    if (PQstatus(q->db->c) == CONNECTION_OK) {
        /* the cursors' own transaction ends with the last of them */
        if (pg_queue(q->db, sql) == SDIFF__DB_OK && q->own_tx && q->db->scan_tx == 0)
            pg_queue(q->db, "COMMIT");
        pg_sync(q->db, 0, NULL);
    }
    q->cursor_open = 0;
    q->own_tx = 0;
}

void sdiff__db_reset(struct sdiff_dbq *q)
{
    if (q->s) {
        sqlite3_reset(q->s);
        sqlite3_clear_bindings(q->s);
        return;
    }
    pg_close_cursor(q);
    clear_rows(q);
    clear_params(q);
    q->state = 0;
}

void sdiff__db_finalize(struct sdiff_dbq *q)
{
    if (q == NULL)
        return;
    if (q->s) {
        sqlite3_finalize(q->s);
    } else {
        if (q->nrows_held) {
            for (int i = 0; i < q->db->ndeferred; i++)
                if (q->db->deferred[i] == q) {
                    q->db->deferred[i] = q->db->deferred[--q->db->ndeferred];
                    break;
                }
            pg_flush(q);
        }
        pg_close_cursor(q);
        clear_rows(q);
        clear_params(q);
        sdiff_free(q->rows);
    }
    sdiff_free(q);
}

/* ---- columns ------------------------------------------------------------------------- */

static int pg_has(struct sdiff_dbq *q, int col)
{
    return q->res && q->row >= 0 && q->row < q->nrows && col >= 0 && col < PQnfields(q->res);
}

int sdiff__db_null(struct sdiff_dbq *q, int col)
{
    if (q->s)
        return sqlite3_column_type(q->s, col) == SQLITE_NULL;
    return !pg_has(q, col) || PQgetisnull(q->res, q->row, col);
}

int64_t sdiff__db_int64(struct sdiff_dbq *q, int col)
{
    if (q->s)
        return sqlite3_column_int64(q->s, col);
    if (sdiff__db_null(q, col))
        return 0;
    const char *v = PQgetvalue(q->res, q->row, col);
    if (strchr(v, '.') || strchr(v, 'e'))
        return (int64_t)strtod(v, NULL);
    return strtoll(v, NULL, 10);
}

double sdiff__db_double(struct sdiff_dbq *q, int col)
{
    if (q->s)
        return sqlite3_column_double(q->s, col);
    return sdiff__db_null(q, col) ? 0 : strtod(PQgetvalue(q->res, q->row, col), NULL);
}

const char *sdiff__db_text(struct sdiff_dbq *q, int col)
{
    if (q->s)
        return (const char *)sqlite3_column_text(q->s, col);
    return sdiff__db_null(q, col) ? NULL : PQgetvalue(q->res, q->row, col);
}

const void *sdiff__db_blob(struct sdiff_dbq *q, int col, size_t *len)
{
    *len = 0;
    if (q->s) {
        const void *p = sqlite3_column_blob(q->s, col);
        int n = sqlite3_column_bytes(q->s, col);
        *len = p && n > 0 ? (size_t)n : 0;
        return *len ? p : NULL;
    }
    if (sdiff__db_null(q, col))
        return NULL;
    if (PQftype(q->res, col) != 17) { /* not bytea: the text as bytes */
        *len = (size_t)PQgetlength(q->res, q->row, col);
        return *len ? PQgetvalue(q->res, q->row, col) : NULL;
    }
    if (col >= MAX_COLS)
        return NULL;
    if (q->blobs[col] == NULL)
        q->blobs[col] = PQunescapeBytea((const unsigned char *)PQgetvalue(q->res, q->row, col),
                                        &q->bloblen[col]);
    *len = q->blobs[col] ? q->bloblen[col] : 0;
    return *len ? q->blobs[col] : NULL;
}

enum sdiff__db_type sdiff__db_type(struct sdiff_dbq *q, int col)
{
    if (q->s) {
        switch (sqlite3_column_type(q->s, col)) {
        case SQLITE_INTEGER: return SDIFF__DB_INT;
        case SQLITE_FLOAT: return SDIFF__DB_REAL;
        case SQLITE_BLOB: return SDIFF__DB_BLOB;
        case SQLITE_NULL: return SDIFF__DB_NULL;
        default: return SDIFF__DB_TEXT;
        }
    }
    if (sdiff__db_null(q, col))
        return SDIFF__DB_NULL;
    switch (PQftype(q->res, col)) {
    case 20: case 21: case 23: return SDIFF__DB_INT;        /* int8, int2, int4 */
    case 700: case 701: case 1700: return SDIFF__DB_REAL;   /* float4, float8, numeric */
    case 17: return SDIFF__DB_BLOB;                         /* bytea */
    default: return SDIFF__DB_TEXT;
    }
}

void sdiff__db_bind_column(struct sdiff_dbq *dst, int i, struct sdiff_dbq *src, int col)
{
    size_t n = 0;
    const void *p;
    switch (sdiff__db_type(src, col)) {
    case SDIFF__DB_INT: sdiff__db_bind_int64(dst, i, sdiff__db_int64(src, col)); break;
    case SDIFF__DB_REAL: sdiff__db_bind_double(dst, i, sdiff__db_double(src, col)); break;
    case SDIFF__DB_NULL: sdiff__db_bind_null(dst, i); break;
    case SDIFF__DB_BLOB:
        p = sdiff__db_blob(src, col, &n);
        sdiff__db_bind_blob(dst, i, p, n);
        break;
    case SDIFF__DB_TEXT: sdiff__db_bind_text(dst, i, sdiff__db_text(src, col), -1); break;
    }
}

/* ---- whole statements and transactions ---------------------------------------------------- */

int sdiff__db_exec(struct sdiff_db *db, const char *sql)
{
    if (db->kind == SDIFF__DB_SQLITE)
        return sqlite3_exec(db->h, sql, NULL, NULL, NULL);
    int n = 0;
    char *t = pg_translate(sql, &n, NULL);
    if (t == NULL) {
        set_cause(db, NULL, "out of memory");
        return SQLITE_NOMEM;
    }
    int rc = pg_run(db, t, NULL);
    sdiff_free(t);
    return rc;
}

int sdiff__db_begin(struct sdiff_db *db, int immediate)
{
    int rc;
    if (db->kind == SDIFF__DB_SQLITE) {
        rc = sqlite3_exec(db->h, immediate ? "BEGIN IMMEDIATE" : "BEGIN", NULL, NULL, NULL);
    } else {
        rc = pg_reconnect(db);
        if (rc == SDIFF__DB_OK)
            rc = pg_queue(db, "BEGIN");
        if (rc == SDIFF__DB_OK && immediate)
            rc = pg_queue(db, "SELECT pg_advisory_xact_lock(" LOCK_WRITERS ")");
        /* the BEGIN's answer comes with the first statement that waits for one */
        if (rc == SDIFF__DB_OK && immediate)
            rc = pg_sync(db, 0, NULL);
    }
    if (rc == SDIFF__DB_OK) {
        db->in_tx = 1;
        db->tx_failed = 0;
    }
    return rc;
}

int sdiff__db_commit(struct sdiff_db *db)
{
    int rc;
    if (db->kind == SDIFF__DB_SQLITE) {
        rc = sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL);
    } else if (db->tx_failed) {
        /* PostgreSQL answers COMMIT of a failed transaction with ROLLBACK, not an error */
        return 1;
    } else {
        rc = pg_queue(db, "COMMIT");
        rc = rc == SDIFF__DB_OK ? pg_sync(db, 0, NULL) : rc;
    }
    if (rc == SDIFF__DB_OK)
        db->in_tx = 0;
    return rc;
}

void sdiff__db_rollback(struct sdiff_db *db)
{
    if (db->kind == SDIFF__DB_SQLITE) {
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    } else {
        /* rows held back were never sent: they go with the transaction */
        while (db->ndeferred > 0)
            drop_rows(db->deferred[--db->ndeferred]);
    }
    if (db->kind == SDIFF__DB_PG && PQstatus(db->c) == CONNECTION_OK) {
        /* keep the cause of the failure that led here */
        char cause[sizeof db->cause];
        memcpy(cause, db->cause, sizeof cause);
        db->in_tx = 0;
        pg_run(db, "ROLLBACK", NULL);
        memcpy(db->cause, cause, sizeof cause);
    }
    db->in_tx = 0;
    db->tx_failed = 0;
}

int sdiff__db_lock_schema(struct sdiff_db *db, int lock)
{
    if (db->kind != SDIFF__DB_PG)
        return SDIFF__DB_OK;
    return pg_run(db,
                  lock ? "SELECT pg_advisory_lock(" LOCK_SCHEMA ")"
                       : "SELECT pg_advisory_unlock(" LOCK_SCHEMA ")",
                  NULL);
}

const char *sdiff__db_ping_pg(const char *conninfo)
{
    const char *keys[4], *vals[4];
    int n = 0;
    if (getenv("PGCONNECT_TIMEOUT") == NULL) {
        keys[n] = "connect_timeout";
        vals[n++] = "2";
    }
    keys[n] = "fallback_application_name";
    vals[n++] = "shadowdiff";
    keys[n] = "dbname";
    vals[n++] = conninfo;
    keys[n] = NULL;
    vals[n] = NULL;
    switch (PQpingParams(keys, vals, 1)) {
    case PQPING_OK: return NULL;
    case PQPING_REJECT: return "the server is rejecting connections (starting or stopping)";
    case PQPING_NO_RESPONSE: return "no response from the server";
    default: return "the connection parameters are not usable";
    }
}
