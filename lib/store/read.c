/*
 * read.c - the read side of the results schema: runs, per-route aggregates, latencies, the
 * differences of different results, one result in full, and waivers. Reports are built
 * from these rows; nothing outside store/ sees SQL.
 *
 * Every visitor prepares its own statement, so a callback may read through the same store.
 * The run's rows are scanned NOT INDEXED: the (run_id, route, class) index would fetch each
 * row at random, which on a million rows costs several times a straight scan.
 */
#include "shadowdiff/store.h"

#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

static const char *col_str(sqlite3_stmt *q, int i)
{
    return (const char *)sqlite3_column_text(q, i);
}

static int col_dup(sqlite3_stmt *q, int i, char **dst)
{
    const char *s = col_str(q, i);
    *dst = s ? sdiff_strdup(s) : NULL;
    return s == NULL || *dst != NULL;
}

static double col_ms(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? -1 : sqlite3_column_double(q, i);
}

static int col_int(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? 0 : sqlite3_column_int(q, i);
}

static int read_err(struct sdiff_store *st, int rc, struct sdiff_err *err)
{
    return sdiff__store_db_err(st, rc, "cannot read", err);
}

static int oom(struct sdiff_err *err)
{
    return sdiff_err_set(err, SDIFF_ENOMEM, "store", "out of memory");
}

/* Prepare sql and bind (run_id, since_us) as ?1, ?2. */
static int prepare_run_scan(struct sdiff_store *st, const char *sql, int64_t run_id,
                            uint64_t since_us, sqlite3_stmt **q, struct sdiff_err *err)
{
    int rc = sqlite3_prepare_v2(st->db, sql, -1, q, NULL);
    if (rc != SQLITE_OK)
        return read_err(st, rc, err);
    sqlite3_bind_int64(*q, 1, run_id);
    sqlite3_bind_int64(*q, 2, (sqlite3_int64)since_us);
    return SDIFF_OK;
}

/* The end of a visit: fn's stop, fn's failure, or the last step's status. */
static int visit_end(struct sdiff_store *st, int step_rc, int fn_rc, struct sdiff_err *err)
{
    if (fn_rc < 0)
        return fn_rc;
    if (fn_rc == SDIFF_END)
        return SDIFF_OK;
    return step_rc == SQLITE_DONE ? SDIFF_OK : read_err(st, step_rc, err);
}

/* ---- runs -------------------------------------------------------------------------------- */

void sdiff_store_run_dispose(struct sdiff_store_run *run)
{
    if (run == NULL)
        return;
    sdiff_free(run->kind);
    sdiff_free(run->corpus);
    sdiff_free(run->candidate);
    sdiff_free(run->secondary);
    sdiff_free(run->primary);
    sdiff_free(run->config);
    sdiff_free(run->started_at);
    sdiff_free(run->finished_at);
    sdiff_free(run->summary);
    sdiff_free(run->name);
    sdiff_free(run->state);
    sdiff_free(run->labels_json);
    sdiff_free(run->marker);
    sdiff_free(run->last_activity);
    memset(run, 0, sizeof *run);
}

/*
 * The runs as version 3 has them, from either version: a version-2 file's state and last
 * activity are derived as the migration would set them.
 */
#define RUNS_V3                                                                                \
    "SELECT id, kind, corpus, candidate, secondary, primary_url, config, started_at,"         \
    " finished_at, summary, name, state, labels, marker_token, last_activity FROM runs"
#define RUNS_V2                                                                                \
    "SELECT id, kind, corpus, candidate, secondary, primary_url, config, started_at,"         \
    " finished_at, summary, NULL AS name, " SDIFF__RUN_STATE_V2 " AS state, NULL AS labels,"  \
    " NULL AS marker_token, coalesce(finished_at, started_at) AS last_activity FROM runs"

int sdiff_store_get_run(struct sdiff_store *st, int64_t run_id, struct sdiff_store_run *out,
                        struct sdiff_err *err)
{
#define BY_ID " WHERE id = ?"
#define DEFAULT_RUN " WHERE state IS NOT 'failed' ORDER BY last_activity DESC, id DESC LIMIT 1"
    static const char *const sql[2][2] = {
        {"SELECT * FROM (" RUNS_V2 ")" DEFAULT_RUN, "SELECT * FROM (" RUNS_V2 ")" BY_ID},
        {RUNS_V3 DEFAULT_RUN, RUNS_V3 BY_ID},
    };
    sqlite3_stmt *q = NULL;
    if (SDIFF_NEVER(st == NULL || out == NULL))
        return SDIFF_EINVAL;
    memset(out, 0, sizeof *out);
    int rc = sqlite3_prepare_v2(st->db, sql[st->version >= 3][run_id > 0], -1, &q, NULL);
    if (rc != SQLITE_OK)
        return read_err(st, rc, err);
    if (run_id > 0)
        sqlite3_bind_int64(q, 1, run_id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(q, 0);
        int ok = col_dup(q, 1, &out->kind) & col_dup(q, 2, &out->corpus) &
                 col_dup(q, 3, &out->candidate) & col_dup(q, 4, &out->secondary) &
                 col_dup(q, 5, &out->primary) & col_dup(q, 6, &out->config) &
                 col_dup(q, 7, &out->started_at) & col_dup(q, 8, &out->finished_at) &
                 col_dup(q, 9, &out->summary) & col_dup(q, 10, &out->name) &
                 col_dup(q, 11, &out->state) & col_dup(q, 12, &out->labels_json) &
                 col_dup(q, 13, &out->marker) & col_dup(q, 14, &out->last_activity);
        rc = ok ? SDIFF_OK : oom(err);
    } else if (rc == SQLITE_DONE) {
        rc = run_id > 0 ? sdiff_err_set(err, SDIFF_EINVAL, "store", "no run %lld in %.150s",
                                        (long long)run_id, st->path)
                        : sdiff_err_set(err, SDIFF_EINVAL, "store", "no run in %.150s",
                                        st->path);
    } else {
        rc = read_err(st, rc, err);
    }
    sqlite3_finalize(q);
    if (rc < 0)
        sdiff_store_run_dispose(out);
    return rc;
#undef BY_ID
#undef DEFAULT_RUN
}

int sdiff_store_find_run(struct sdiff_store *st, const char *sel, int64_t *id,
                         struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    if (SDIFF_NEVER(st == NULL || sel == NULL || id == NULL))
        return SDIFF_EINVAL;
    *id = 0;
    size_t n = strlen(sel);
    int digits = n > 0 && n <= 18 && strspn(sel, "0123456789") == n;
    int rc = sqlite3_prepare_v2(st->db,
                                digits ? "SELECT id FROM runs WHERE id = ?"
                                : st->version >= 3 ? "SELECT id FROM runs WHERE name = ?"
                                                   : "SELECT id FROM runs WHERE 0 AND ?",
                                -1, &q, NULL);
    if (rc != SQLITE_OK)
        return read_err(st, rc, err);
    if (digits)
        sqlite3_bind_int64(q, 1, strtoll(sel, NULL, 10));
    else
        sqlite3_bind_text(q, 1, sel, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(q, 0);
        rc = SDIFF_OK;
    } else if (rc == SQLITE_DONE) {
        rc = sdiff_err_set(err, SDIFF_EINVAL, "store", "no run %.64s in %.150s", sel, st->path);
    } else {
        rc = read_err(st, rc, err);
    }
    sqlite3_finalize(q);
    return rc;
}

int sdiff_store_each_run(struct sdiff_store *st,
                         int (*fn)(const struct sdiff_store_run *run,
                                   const struct sdiff_store_run_counts *c, void *ud,
                                   struct sdiff_err *err),
                         void *ud, struct sdiff_err *err)
{
    /* one pass over the results for every run's counts, joined to the runs */
#define COUNTS                                                                                 \
    " LEFT JOIN (SELECT run_id, count(*) AS n,"                                                \
    " sum(class IN ('identical','equivalent','different')) AS judged,"                         \
    " sum(class = 'different') AS different, sum(class = 'error') AS errors,"                  \
    " sum(class = 'skipped') AS skipped FROM results GROUP BY run_id) c ON c.run_id = r.id"
    static const char *const sql[2] = {
        "SELECT r.*, 0, c.n, c.judged, c.different, c.errors, c.skipped FROM (" RUNS_V2
        ") r" COUNTS " ORDER BY r.id",
        "SELECT r.*, (SELECT count(*) FROM instances i WHERE i.run_id = r.id), c.n, c.judged,"
        " c.different, c.errors, c.skipped FROM (" RUNS_V3 ") r" COUNTS " ORDER BY r.id",
    };
#undef COUNTS
    sqlite3_stmt *q = NULL;
    if (SDIFF_NEVER(st == NULL || fn == NULL))
        return SDIFF_EINVAL;
    int rc = sqlite3_prepare_v2(st->db, sql[st->version >= 3], -1, &q, NULL);
    if (rc != SQLITE_OK)
        return read_err(st, rc, err);
    int out = SDIFF_OK;
    while (out == SDIFF_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct sdiff_store_run run = {
            .id = sqlite3_column_int64(q, 0),
            .kind = (char *)col_str(q, 1),
            .corpus = (char *)col_str(q, 2),
            .candidate = (char *)col_str(q, 3),
            .secondary = (char *)col_str(q, 4),
            .primary = (char *)col_str(q, 5),
            .config = (char *)col_str(q, 6),
            .started_at = (char *)col_str(q, 7),
            .finished_at = (char *)col_str(q, 8),
            .summary = (char *)col_str(q, 9),
            .name = (char *)col_str(q, 10),
            .state = (char *)col_str(q, 11),
            .labels_json = (char *)col_str(q, 12),
            .marker = (char *)col_str(q, 13),
            .last_activity = (char *)col_str(q, 14),
        };
        struct sdiff_store_run_counts c = {
            .instances = (uint64_t)sqlite3_column_int64(q, 15),
            .samples = (uint64_t)sqlite3_column_int64(q, 16),
            .judged = (uint64_t)sqlite3_column_int64(q, 17),
            .different = (uint64_t)sqlite3_column_int64(q, 18),
            .errors = (uint64_t)sqlite3_column_int64(q, 19),
            .skipped = (uint64_t)sqlite3_column_int64(q, 20),
        };
        out = fn(&run, &c, ud, err);
    }
    rc = visit_end(st, rc, out, err);
    sqlite3_finalize(q);
    return rc;
}

int sdiff_store_each_instance(struct sdiff_store *st, int64_t run_id, uint64_t since_us,
                              int (*fn)(const struct sdiff_store_instance *in, void *ud,
                                        struct sdiff_err *err),
                              void *ud, struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    if (SDIFF_NEVER(st == NULL || fn == NULL))
        return SDIFF_EINVAL;
    if (st->version < 3)
        return SDIFF_OK; /* version 2 recorded no instances */
    int rc = prepare_run_scan(
        st,
        "SELECT i.id, i.host, i.k_service, i.k_revision, i.version, i.side, i.pid,"
        " i.started_at, i.stopped_at, i.last_activity, count(r.id),"
        " sum(r.class = 'identical'), sum(r.class = 'equivalent'), sum(r.class = 'different'),"
        " sum(r.class = 'error'), sum(r.class = 'skipped')"
        " FROM instances i LEFT JOIN results r ON r.instance_id = i.id AND r.run_id = i.run_id"
        " AND (?2 = 0 OR r.t_req_start >= ?2)"
        " WHERE i.run_id = ?1 GROUP BY i.id ORDER BY i.started_at, i.rowid",
        run_id, since_us, &q, err);
    if (rc < 0)
        return rc;
    int out = SDIFF_OK;
    while (out == SDIFF_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct sdiff_store_instance in = {
            .id = col_str(q, 0),
            .host = col_str(q, 1),
            .k_service = col_str(q, 2),
            .k_revision = col_str(q, 3),
            .version = col_str(q, 4),
            .side = col_str(q, 5),
            .pid = sqlite3_column_int64(q, 6),
            .started_at = col_str(q, 7),
            .stopped_at = col_str(q, 8),
            .last_activity = col_str(q, 9),
            .samples = (uint64_t)sqlite3_column_int64(q, 10),
            .identical = (uint64_t)sqlite3_column_int64(q, 11),
            .equivalent = (uint64_t)sqlite3_column_int64(q, 12),
            .different = (uint64_t)sqlite3_column_int64(q, 13),
            .errors = (uint64_t)sqlite3_column_int64(q, 14),
            .skipped = (uint64_t)sqlite3_column_int64(q, 15),
        };
        out = fn(&in, ud, err);
    }
    rc = visit_end(st, rc, out, err);
    sqlite3_finalize(q);
    return rc;
}

/* ---- aggregates and scans of a run --------------------------------------------------------- */

int sdiff_store_each_route_stats(struct sdiff_store *st, int64_t run_id, uint64_t since_us,
                                 int (*fn)(const struct sdiff_store_route_stats *s, void *ud,
                                           struct sdiff_err *err),
                                 void *ud, struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    int rc = prepare_run_scan(
        st,
        "SELECT route, count(*), sum(class = 'identical'), sum(class = 'equivalent'),"
        " sum(class = 'different'), sum(class = 'error'), sum(class = 'skipped'),"
        " sum(class IN ('identical','equivalent','different','error') AND primary_status >= 500),"
        " sum(class IN ('identical','equivalent','different','error') AND candidate_status >= 500),"
        " sum(class = 'error' OR (class IN ('identical','equivalent','different')"
        "     AND candidate_status >= 500))"
        " FROM results NOT INDEXED WHERE run_id = ?1 AND (?2 = 0 OR t_req_start >= ?2)"
        " GROUP BY route ORDER BY route",
        run_id, since_us, &q, err);
    if (rc < 0)
        return rc;
    int out = SDIFF_OK;
    while (out == SDIFF_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct sdiff_store_route_stats s = {
            .route = col_str(q, 0),
            .samples = (uint64_t)sqlite3_column_int64(q, 1),
            .identical = (uint64_t)sqlite3_column_int64(q, 2),
            .equivalent = (uint64_t)sqlite3_column_int64(q, 3),
            .different = (uint64_t)sqlite3_column_int64(q, 4),
            .errors = (uint64_t)sqlite3_column_int64(q, 5),
            .skipped = (uint64_t)sqlite3_column_int64(q, 6),
            .primary_5xx = (uint64_t)sqlite3_column_int64(q, 7),
            .candidate_5xx = (uint64_t)sqlite3_column_int64(q, 8),
            .candidate_failed = (uint64_t)sqlite3_column_int64(q, 9),
        };
        out = fn(&s, ud, err);
    }
    rc = visit_end(st, rc, out, err);
    sqlite3_finalize(q);
    return rc;
}

int sdiff_store_each_latency(struct sdiff_store *st, int64_t run_id, uint64_t since_us,
                             int (*fn)(const struct sdiff_store_latency *l, void *ud,
                                       struct sdiff_err *err),
                             void *ud, struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    int rc = prepare_run_scan(st,
                              "SELECT route, primary_ms, candidate_ms FROM results NOT INDEXED"
                              " WHERE run_id = ?1 AND (?2 = 0 OR t_req_start >= ?2)",
                              run_id, since_us, &q, err);
    if (rc < 0)
        return rc;
    int out = SDIFF_OK;
    while (out == SDIFF_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct sdiff_store_latency l = {col_str(q, 0), col_ms(q, 1), col_ms(q, 2)};
        out = fn(&l, ud, err);
    }
    rc = visit_end(st, rc, out, err);
    sqlite3_finalize(q);
    return rc;
}

static void difference_row(sqlite3_stmt *q, int first, struct sdiff_store_difference *d)
{
    d->path = col_str(q, first);
    d->kind = col_str(q, first + 1);
    d->primary_value = col_str(q, first + 2);
    d->candidate_value = col_str(q, first + 3);
    d->hint = col_str(q, first + 4);
}

int sdiff_store_each_different(struct sdiff_store *st, int64_t run_id, uint64_t since_us,
                               int (*fn)(const struct sdiff_store_difference *d, void *ud,
                                         struct sdiff_err *err),
                               void *ud, struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
#define DIFFERENT(hint)                                                                        \
    "SELECT r.id, r.route, r.t_req_start, d.path, d.kind, d.primary_value, d.candidate_value,"  \
    " " hint " FROM results r LEFT JOIN differences d ON d.result_id = r.id"                    \
    " WHERE r.run_id = ?1 AND r.class = 'different' AND (?2 = 0 OR r.t_req_start >= ?2)"      \
    " ORDER BY r.id, d.idx"
    int rc = prepare_run_scan(st, st->version >= 3 ? DIFFERENT("d.hint") : DIFFERENT("NULL"),
                              run_id, since_us, &q, err);
#undef DIFFERENT
    if (rc < 0)
        return rc;
    int out = SDIFF_OK;
    while (out == SDIFF_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct sdiff_store_difference d = {
            .result_id = sqlite3_column_int64(q, 0),
            .route = col_str(q, 1),
            .t_req_start = (uint64_t)sqlite3_column_int64(q, 2),
        };
        difference_row(q, 3, &d);
        out = fn(&d, ud, err);
    }
    rc = visit_end(st, rc, out, err);
    sqlite3_finalize(q);
    return rc;
}

int sdiff_store_each_difference(struct sdiff_store *st, int64_t result_id,
                                int (*fn)(const struct sdiff_store_difference *d, void *ud,
                                          struct sdiff_err *err),
                                void *ud, struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(st->db,
                                st->version >= 3
                                    ? "SELECT path, kind, primary_value, candidate_value, hint"
                                      " FROM differences WHERE result_id = ? ORDER BY idx"
                                    : "SELECT path, kind, primary_value, candidate_value, NULL"
                                      " FROM differences WHERE result_id = ? ORDER BY idx",
                                -1, &q, NULL);
    if (rc != SQLITE_OK)
        return read_err(st, rc, err);
    sqlite3_bind_int64(q, 1, result_id);
    int out = SDIFF_OK;
    while (out == SDIFF_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct sdiff_store_difference d = {.result_id = result_id};
        difference_row(q, 0, &d);
        out = fn(&d, ud, err);
    }
    rc = visit_end(st, rc, out, err);
    sqlite3_finalize(q);
    return rc;
}

/* ---- one result in full -------------------------------------------------------------------- */

static void answer_dispose(struct sdiff_store_answer *a)
{
    sdiff_free(a->reason);
    sdiff_free(a->headers_json);
    sdiff_free(a->body);
    sdiff_free(a->error);
    memset(a, 0, sizeof *a);
}

void sdiff_store_result_dispose(struct sdiff_store_result *r)
{
    if (r == NULL)
        return;
    char **s[] = {&r->method, &r->route, &r->target, &r->cls, &r->reasons, &r->skip_reason,
                  &r->note, &r->candidate_error, &r->run_candidate, &r->req_method,
                  &r->req_target, &r->req_headers_json};
    for (size_t i = 0; i < sizeof s / sizeof *s; i++)
        sdiff_free(*s[i]);
    sdiff_free(r->req_body);
    answer_dispose(&r->primary);
    answer_dispose(&r->candidate);
    memset(r, 0, sizeof *r);
}

static int col_blob(sqlite3_stmt *q, int i, uint8_t **p, size_t *len)
{
    int n = sqlite3_column_bytes(q, i);
    const void *src = sqlite3_column_blob(q, i);
    *p = NULL;
    *len = 0;
    if (n <= 0 || src == NULL)
        return 1;
    *p = sdiff_malloc((size_t)n);
    if (*p == NULL)
        return 0;
    memcpy(*p, src, (size_t)n);
    *len = (size_t)n;
    return 1;
}

enum {
    C_ID, C_RUN, C_METHOD, C_ROUTE, C_TARGET, C_CLASS, C_REASONS, C_SKIP, C_NOTE, C_PSTATUS,
    C_CSTATUS, C_PMS, C_CMS, C_CERR, C_RUN_CAND, C_EX_ID, C_EX_METHOD, C_EX_TARGET, C_REQ_H,
    C_REQ_BODY, C_STATUS, C_REASON, C_RESP_H, C_RESP_BODY,
};

static int read_candidate(struct sdiff_store *st, int64_t id, struct sdiff_store_answer *a,
                          struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(st->db,
                                "SELECT status, reason, headers, body, body_len, body_stored,"
                                " latency_ms, error FROM responses"
                                " WHERE result_id = ? AND target = 'candidate'",
                                -1, &q, NULL);
    if (rc != SQLITE_OK)
        return read_err(st, rc, err);
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        a->present = 1;
        a->status = col_int(q, 0);
        a->body_stored = col_int(q, 5);
        a->body_size = sqlite3_column_type(q, 4) == SQLITE_NULL ? -1 : sqlite3_column_int64(q, 4);
        a->latency_ms = col_ms(q, 6);
        int ok = col_dup(q, 1, &a->reason) & col_dup(q, 2, &a->headers_json) &
                 col_dup(q, 7, &a->error) &
                 (a->body_stored ? col_blob(q, 3, &a->body, &a->body_len) : 1);
        rc = ok ? SDIFF_OK : oom(err);
    } else {
        a->latency_ms = -1;
        a->body_size = -1;
        rc = rc == SQLITE_DONE ? SDIFF_OK : read_err(st, rc, err);
    }
    sqlite3_finalize(q);
    return rc;
}

int sdiff_store_get_result(struct sdiff_store *st, int64_t result_id,
                           struct sdiff_store_result *out, struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    if (SDIFF_NEVER(st == NULL || out == NULL))
        return SDIFF_EINVAL;
    memset(out, 0, sizeof *out);
    int rc = sqlite3_prepare_v2(
        st->db,
        "SELECT r.id, r.run_id, r.method, r.route, r.target, r.class, r.reasons, r.skip_reason,"
        " r.note, r.primary_status, r.candidate_status, r.primary_ms, r.candidate_ms,"
        " r.candidate_error, ru.candidate, e.id, e.method, e.target, e.req_headers, e.req_body,"
        " e.status, e.reason, e.resp_headers, e.resp_body"
        " FROM results r LEFT JOIN runs ru ON ru.id = r.run_id"
        " LEFT JOIN exchanges e ON e.id = r.exchange_id WHERE r.id = ?",
        -1, &q, NULL);
    if (rc != SQLITE_OK)
        return read_err(st, rc, err);
    sqlite3_bind_int64(q, 1, result_id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        rc = sdiff_err_set(err, SDIFF_EINVAL, "store", "no result %lld in %.150s",
                           (long long)result_id, st->path);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        rc = read_err(st, rc, err);
        goto out;
    }
    out->id = sqlite3_column_int64(q, C_ID);
    out->run_id = sqlite3_column_int64(q, C_RUN);
    out->primary_status = col_int(q, C_PSTATUS);
    out->candidate_status = col_int(q, C_CSTATUS);
    out->primary_ms = col_ms(q, C_PMS);
    out->candidate_ms = col_ms(q, C_CMS);
    out->has_exchange = sqlite3_column_type(q, C_EX_ID) != SQLITE_NULL;
    int ok = col_dup(q, C_METHOD, &out->method) & col_dup(q, C_ROUTE, &out->route) &
             col_dup(q, C_TARGET, &out->target) & col_dup(q, C_CLASS, &out->cls) &
             col_dup(q, C_REASONS, &out->reasons) & col_dup(q, C_SKIP, &out->skip_reason) &
             col_dup(q, C_NOTE, &out->note) & col_dup(q, C_CERR, &out->candidate_error) &
             col_dup(q, C_RUN_CAND, &out->run_candidate);
    struct sdiff_store_answer *p = &out->primary;
    p->latency_ms = -1;
    p->body_size = -1;
    if (out->has_exchange) {
        ok &= col_dup(q, C_EX_METHOD, &out->req_method) &
              col_dup(q, C_EX_TARGET, &out->req_target) &
              col_dup(q, C_REQ_H, &out->req_headers_json) &
              col_blob(q, C_REQ_BODY, &out->req_body, &out->req_body_len);
        p->present = sqlite3_column_type(q, C_STATUS) != SQLITE_NULL;
    }
    if (p->present) {
        p->status = col_int(q, C_STATUS);
        p->body_stored = 1;
        ok &= col_dup(q, C_REASON, &p->reason) & col_dup(q, C_RESP_H, &p->headers_json) &
              col_blob(q, C_RESP_BODY, &p->body, &p->body_len);
        p->body_size = (int64_t)p->body_len;
    }
    rc = ok ? read_candidate(st, result_id, &out->candidate, err) : oom(err);
out:
    sqlite3_finalize(q);
    if (rc < 0)
        sdiff_store_result_dispose(out);
    return rc;
}

/* ---- waivers ------------------------------------------------------------------------------- */

int sdiff_store_each_waiver(struct sdiff_store *st,
                            int (*fn)(const struct sdiff_store_waiver *w, void *ud,
                                      struct sdiff_err *err),
                            void *ud, struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    /* a version-2 file made before waivers existed has no table: no waivers */
    int rc = sqlite3_prepare_v2(st->db,
                                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                " AND name = 'waivers'",
                                -1, &q, NULL);
    int have = rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    q = NULL;
    if (!have)
        return SDIFF_OK;
    /* newest first: the newest acceptance of a cluster is its waiver (one row per cluster
     * from version 3 on; a version-2 file may hold several) */
    rc = sqlite3_prepare_v2(st->db,
                            st->version >= 3
                                ? "SELECT id, cluster, route, signature, reason, expires, run_id,"
                                  " coalesce(updated_at, created_at) FROM waivers"
                                  " WHERE superseded_by IS NULL AND revoked_at IS NULL"
                                  " ORDER BY id DESC"
                                : "SELECT id, cluster, route, signature, reason, expires, run_id,"
                                  " created_at FROM waivers ORDER BY id DESC",
                            -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sdiff__store_db_err(st, rc, "cannot read the waivers", err);
    int out = SDIFF_OK;
    while (out == SDIFF_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct sdiff_store_waiver w = {
            .id = sqlite3_column_int64(q, 0),
            .cluster = col_str(q, 1),
            .route = col_str(q, 2),
            .signature = col_str(q, 3),
            .reason = col_str(q, 4),
            .expires = col_str(q, 5),
            .run_id = sqlite3_column_int64(q, 6),
            .created_at = col_str(q, 7),
        };
        if (w.cluster == NULL) /* NOT NULL in the schema; never matches a cluster anyway */
            continue;
        out = fn(&w, ud, err);
    }
    rc = visit_end(st, rc, out, err);
    sqlite3_finalize(q);
    return rc;
}

int sdiff_store_put_waiver(struct sdiff_store *st, const struct sdiff_store_waiver *w,
                           int64_t *id, struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    int64_t have = 0;
    if (SDIFF_NEVER(st == NULL || w == NULL || w->cluster == NULL || w->reason == NULL))
        return SDIFF_EINVAL;
    int rc = sdiff_store_commit(st, err);
    rc = rc < 0 ? rc : sdiff__store_exec(st, "BEGIN IMMEDIATE", err);
    if (rc < 0)
        return rc;
    /* the cluster's waiver, if it has one: accepting again updates it, keeping its id */
    rc = sqlite3_prepare_v2(st->db,
                            "SELECT id FROM waivers WHERE cluster = ? AND superseded_by IS NULL"
                            " AND revoked_at IS NULL",
                            -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, w->cluster, -1, SQLITE_STATIC);
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            have = sqlite3_column_int64(q, 0);
            rc = SQLITE_DONE;
        }
    }
    sqlite3_finalize(q);
    q = NULL;
    if (rc == SQLITE_DONE)
        rc = sqlite3_prepare_v2(
            st->db,
            have ? "UPDATE waivers SET route = ?2, signature = ?3, reason = ?4, expires = ?5,"
                   " run_id = ?6, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now')"
                   " WHERE id = ?7"
                 : "INSERT INTO waivers(cluster, route, signature, reason, expires, run_id)"
                   " VALUES(?1,?2,?3,?4,?5,?6)",
            -1, &q, NULL);
    if (rc == SQLITE_OK) {
        if (!have)
            sqlite3_bind_text(q, 1, w->cluster, -1, SQLITE_STATIC);
        if (w->route)
            sqlite3_bind_text(q, 2, w->route, -1, SQLITE_STATIC);
        if (w->signature)
            sqlite3_bind_text(q, 3, w->signature, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, w->reason, -1, SQLITE_STATIC);
        if (w->expires)
            sqlite3_bind_text(q, 5, w->expires, -1, SQLITE_STATIC);
        if (w->run_id > 0)
            sqlite3_bind_int64(q, 6, w->run_id);
        if (have)
            sqlite3_bind_int64(q, 7, have);
        rc = sqlite3_step(q);
    }
    sqlite3_finalize(q);
    if (rc == SQLITE_DONE && !have)
        have = sqlite3_last_insert_rowid(st->db);
    if (rc == SQLITE_DONE)
        rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? SQLITE_DONE
                                                                          : SQLITE_ERROR;
    if (rc != SQLITE_DONE) {
        rc = sdiff__store_db_err(st, rc, "cannot record the waiver", err);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    if (id)
        *id = have;
    return SDIFF_OK;
}
