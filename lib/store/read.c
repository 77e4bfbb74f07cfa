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

static const char *col_str(struct sdiff_dbq *q, int i)
{
    return sdiff__db_text(q, i);
}

static int col_dup(struct sdiff_dbq *q, int i, char **dst)
{
    const char *s = col_str(q, i);
    *dst = s ? sdiff_strdup(s) : NULL;
    return s == NULL || *dst != NULL;
}

static double col_ms(struct sdiff_dbq *q, int i)
{
    return sdiff__db_null(q, i) ? -1 : sdiff__db_double(q, i);
}

static int col_int(struct sdiff_dbq *q, int i)
{
    return sdiff__db_null(q, i) ? 0 : (int)sdiff__db_int64(q, i);
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
                            uint64_t since_us, unsigned flags, struct sdiff_dbq **q,
                            struct sdiff_err *err)
{
    int rc = sdiff__db_prepare(st->db, sql, flags, q);
    if (rc != SDIFF__DB_OK)
        return read_err(st, rc, err);
    sdiff__db_bind_int64(*q, 1, run_id);
    sdiff__db_bind_int64(*q, 2, (int64_t)since_us);
    return SDIFF_OK;
}

/* The end of a visit: fn's stop, fn's failure, or the last step's status. */
static int visit_end(struct sdiff_store *st, int step_rc, int fn_rc, struct sdiff_err *err)
{
    if (fn_rc < 0)
        return fn_rc;
    if (fn_rc == SDIFF_END)
        return SDIFF_OK;
    return step_rc == SDIFF__DB_DONE ? SDIFF_OK : read_err(st, step_rc, err);
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
#define DEFAULT_RUN " WHERE state IS DISTINCT FROM 'failed' ORDER BY last_activity DESC, id DESC LIMIT 1"
    static const char *const sql[2][2] = {
        {"SELECT * FROM (" RUNS_V2 ")" DEFAULT_RUN, "SELECT * FROM (" RUNS_V2 ")" BY_ID},
        {RUNS_V3 DEFAULT_RUN, RUNS_V3 BY_ID},
    };
    struct sdiff_dbq *q = NULL;
    if (SDIFF_NEVER(st == NULL || out == NULL))
        return SDIFF_EINVAL;
    memset(out, 0, sizeof *out);
    int rc = sdiff__db_prepare(st->db, sql[st->version >= 3][run_id > 0], 0, &q);
    if (rc != SDIFF__DB_OK)
        return read_err(st, rc, err);
    if (run_id > 0)
        sdiff__db_bind_int64(q, 1, run_id);
    rc = sdiff__db_step(q);
    if (rc == SDIFF__DB_ROW) {
        out->id = sdiff__db_int64(q, 0);
        int ok = col_dup(q, 1, &out->kind) & col_dup(q, 2, &out->corpus) &
                 col_dup(q, 3, &out->candidate) & col_dup(q, 4, &out->secondary) &
                 col_dup(q, 5, &out->primary) & col_dup(q, 6, &out->config) &
                 col_dup(q, 7, &out->started_at) & col_dup(q, 8, &out->finished_at) &
                 col_dup(q, 9, &out->summary) & col_dup(q, 10, &out->name) &
                 col_dup(q, 11, &out->state) & col_dup(q, 12, &out->labels_json) &
                 col_dup(q, 13, &out->marker) & col_dup(q, 14, &out->last_activity);
        rc = ok ? SDIFF_OK : oom(err);
    } else if (rc == SDIFF__DB_DONE) {
        rc = run_id > 0 ? sdiff_err_set(err, SDIFF_EINVAL, "store", "no run %lld in %.150s",
                                        (long long)run_id, st->path)
                        : sdiff_err_set(err, SDIFF_EINVAL, "store", "no run in %.150s",
                                        st->path);
    } else {
        rc = read_err(st, rc, err);
    }
    sdiff__db_finalize(q);
    if (rc < 0)
        sdiff_store_run_dispose(out);
    return rc;
#undef BY_ID
#undef DEFAULT_RUN
}

int sdiff_store_find_run(struct sdiff_store *st, const char *sel, int64_t *id,
                         struct sdiff_err *err)
{
    struct sdiff_dbq *q = NULL;
    if (SDIFF_NEVER(st == NULL || sel == NULL || id == NULL))
        return SDIFF_EINVAL;
    *id = 0;
    size_t n = strlen(sel);
    int digits = n > 0 && n <= 18 && strspn(sel, "0123456789") == n;
    int rc = sdiff__db_prepare(st->db,
                                digits ? "SELECT id FROM runs WHERE id = ?"
                                : st->version >= 3 ? "SELECT id FROM runs WHERE name = ?"
                                                   : "SELECT id FROM runs WHERE 0 AND ?", 0, &q);
    if (rc != SDIFF__DB_OK)
        return read_err(st, rc, err);
    if (digits)
        sdiff__db_bind_int64(q, 1, strtoll(sel, NULL, 10));
    else
        sdiff__db_bind_text(q, 1, sel, -1);
    rc = sdiff__db_step(q);
    if (rc == SDIFF__DB_ROW) {
        *id = sdiff__db_int64(q, 0);
        rc = SDIFF_OK;
    } else if (rc == SDIFF__DB_DONE) {
        rc = sdiff_err_set(err, SDIFF_EINVAL, "store", "no run %.64s in %.150s", sel, st->path);
    } else {
        rc = read_err(st, rc, err);
    }
    sdiff__db_finalize(q);
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
    " count(*) FILTER (WHERE class IN ('identical','equivalent','different')) AS judged,"      \
    " count(*) FILTER (WHERE class = 'different') AS different,"                              \
    " count(*) FILTER (WHERE class = 'error') AS errors,"                                     \
    " count(*) FILTER (WHERE class = 'skipped') AS skipped"                                   \
    " FROM results GROUP BY run_id) c ON c.run_id = r.id"
    static const char *const sql[2] = {
        "SELECT r.*, 0, c.n, c.judged, c.different, c.errors, c.skipped FROM (" RUNS_V2
        ") r" COUNTS " ORDER BY r.id",
        "SELECT r.*, (SELECT count(*) FROM instances i WHERE i.run_id = r.id), c.n, c.judged,"
        " c.different, c.errors, c.skipped FROM (" RUNS_V3 ") r" COUNTS " ORDER BY r.id",
    };
#undef COUNTS
    struct sdiff_dbq *q = NULL;
    if (SDIFF_NEVER(st == NULL || fn == NULL))
        return SDIFF_EINVAL;
    int rc = sdiff__db_prepare(st->db, sql[st->version >= 3], 0, &q);
    if (rc != SDIFF__DB_OK)
        return read_err(st, rc, err);
    int out = SDIFF_OK;
    while (out == SDIFF_OK && (rc = sdiff__db_step(q)) == SDIFF__DB_ROW) {
        struct sdiff_store_run run = {
            .id = sdiff__db_int64(q, 0),
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
            .instances = (uint64_t)sdiff__db_int64(q, 15),
            .samples = (uint64_t)sdiff__db_int64(q, 16),
            .judged = (uint64_t)sdiff__db_int64(q, 17),
            .different = (uint64_t)sdiff__db_int64(q, 18),
            .errors = (uint64_t)sdiff__db_int64(q, 19),
            .skipped = (uint64_t)sdiff__db_int64(q, 20),
        };
        out = fn(&run, &c, ud, err);
    }
    rc = visit_end(st, rc, out, err);
    sdiff__db_finalize(q);
    return rc;
}

int sdiff_store_each_instance(struct sdiff_store *st, int64_t run_id, uint64_t since_us,
                              int (*fn)(const struct sdiff_store_instance *in, void *ud,
                                        struct sdiff_err *err),
                              void *ud, struct sdiff_err *err)
{
    struct sdiff_dbq *q = NULL;
    if (SDIFF_NEVER(st == NULL || fn == NULL))
        return SDIFF_EINVAL;
    if (st->version < 3)
        return SDIFF_OK; /* version 2 recorded no instances */
#define INSTANCES(order)                                                                       \
    "SELECT i.id, i.host, i.k_service, i.k_revision, i.version, i.side, i.pid,"               \
    " i.started_at, i.stopped_at, i.last_activity, count(r.id),"                              \
    " count(r.id) FILTER (WHERE r.class = 'identical'),"                                      \
    " count(r.id) FILTER (WHERE r.class = 'equivalent'),"                                     \
    " count(r.id) FILTER (WHERE r.class = 'different'),"                                      \
    " count(r.id) FILTER (WHERE r.class = 'error'),"                                          \
    " count(r.id) FILTER (WHERE r.class = 'skipped')"                                         \
    " FROM instances i LEFT JOIN results r ON r.instance_id = i.id AND r.run_id = i.run_id"   \
    " AND (?2 = 0 OR r.t_req_start >= ?2)"                                                    \
    " WHERE i.run_id = ?1 GROUP BY i.id ORDER BY " order
    int rc = prepare_run_scan(st,
                              SDIFF__SQL(st, INSTANCES("i.started_at, i.rowid"),
                                         INSTANCES("i.started_at, i.id")),
                              run_id, since_us, 0, &q, err);
#undef INSTANCES
    if (rc < 0)
        return rc;
    int out = SDIFF_OK;
    while (out == SDIFF_OK && (rc = sdiff__db_step(q)) == SDIFF__DB_ROW) {
        struct sdiff_store_instance in = {
            .id = col_str(q, 0),
            .host = col_str(q, 1),
            .k_service = col_str(q, 2),
            .k_revision = col_str(q, 3),
            .version = col_str(q, 4),
            .side = col_str(q, 5),
            .pid = sdiff__db_int64(q, 6),
            .started_at = col_str(q, 7),
            .stopped_at = col_str(q, 8),
            .last_activity = col_str(q, 9),
            .samples = (uint64_t)sdiff__db_int64(q, 10),
            .identical = (uint64_t)sdiff__db_int64(q, 11),
            .equivalent = (uint64_t)sdiff__db_int64(q, 12),
            .different = (uint64_t)sdiff__db_int64(q, 13),
            .errors = (uint64_t)sdiff__db_int64(q, 14),
            .skipped = (uint64_t)sdiff__db_int64(q, 15),
        };
        out = fn(&in, ud, err);
    }
    rc = visit_end(st, rc, out, err);
    sdiff__db_finalize(q);
    return rc;
}

/* ---- aggregates and scans of a run --------------------------------------------------------- */

int sdiff_store_each_route_stats(struct sdiff_store *st, int64_t run_id, uint64_t since_us,
                                 int (*fn)(const struct sdiff_store_route_stats *s, void *ud,
                                           struct sdiff_err *err),
                                 void *ud, struct sdiff_err *err)
{
    struct sdiff_dbq *q = NULL;
    /* bytewise route order on both (PostgreSQL sorts text by the database's collation) */
#define ROUTE_STATS(order, shapes)                                                             \
    "SELECT route, count(*), count(*) FILTER (WHERE class = 'identical'),"                    \
    " count(*) FILTER (WHERE class = 'equivalent'),"                                          \
    " count(*) FILTER (WHERE class = 'different'),"                                           \
    " count(*) FILTER (WHERE class = 'error'), count(*) FILTER (WHERE class = 'skipped'),"    \
    " count(*) FILTER (WHERE class IN ('identical','equivalent','different','error')"         \
    "     AND primary_status >= 500),"                                                        \
    " count(*) FILTER (WHERE class IN ('identical','equivalent','different','error')"         \
    "     AND candidate_status >= 500),"                                                      \
    " count(*) FILTER (WHERE class = 'error' OR (class IN ('identical','equivalent',"         \
    "     'different') AND candidate_status >= 500)),"                                        \
    " count(*) FILTER (WHERE primary_status IN (404, 405)), " shapes ","                       \
    " count(*) FILTER (WHERE class IN ('identical','equivalent','different')"                 \
    "     AND primary_status BETWEEN 400 AND 499 AND candidate_status BETWEEN 400 AND 499),"   \
    " count(*) FILTER (WHERE class = 'different'"                                             \
    "     AND primary_status BETWEEN 400 AND 499 AND candidate_status BETWEEN 400 AND 499)"    \
    " FROM results NOT INDEXED WHERE run_id = ?1 AND (?2 = 0 OR t_req_start >= ?2)"           \
    " GROUP BY route ORDER BY " order
    /* the shapes of the primary's successful answers (version 3; none before) */
#define SHAPES_V3                                                                              \
    "min(shape) FILTER (WHERE primary_status BETWEEN 200 AND 299),"                          \
    " max(shape) FILTER (WHERE primary_status BETWEEN 200 AND 299)"
#define SHAPES_V2 "NULL, NULL"
    int rc = prepare_run_scan(
        st,
        st->version >= 3
            ? SDIFF__SQL(st, ROUTE_STATS("route", SHAPES_V3),
                         ROUTE_STATS("route COLLATE \"C\" NULLS FIRST", SHAPES_V3))
            : SDIFF__SQL(st, ROUTE_STATS("route", SHAPES_V2),
                         ROUTE_STATS("route COLLATE \"C\" NULLS FIRST", SHAPES_V2)),
        run_id, since_us, 0, &q, err);
#undef ROUTE_STATS
#undef SHAPES_V3
#undef SHAPES_V2
    if (rc < 0)
        return rc;
    int out = SDIFF_OK;
    while (out == SDIFF_OK && (rc = sdiff__db_step(q)) == SDIFF__DB_ROW) {
        struct sdiff_store_route_stats s = {
            .route = col_str(q, 0),
            .samples = (uint64_t)sdiff__db_int64(q, 1),
            .identical = (uint64_t)sdiff__db_int64(q, 2),
            .equivalent = (uint64_t)sdiff__db_int64(q, 3),
            .different = (uint64_t)sdiff__db_int64(q, 4),
            .errors = (uint64_t)sdiff__db_int64(q, 5),
            .skipped = (uint64_t)sdiff__db_int64(q, 6),
            .primary_5xx = (uint64_t)sdiff__db_int64(q, 7),
            .candidate_5xx = (uint64_t)sdiff__db_int64(q, 8),
            .candidate_failed = (uint64_t)sdiff__db_int64(q, 9),
            .not_found = (uint64_t)sdiff__db_int64(q, 10),
            .shape_min = col_str(q, 11),
            .shape_max = col_str(q, 12),
            .both_4xx = (uint64_t)sdiff__db_int64(q, 13),
            .both_4xx_different = (uint64_t)sdiff__db_int64(q, 14),
        };
        out = fn(&s, ud, err);
    }
    rc = visit_end(st, rc, out, err);
    sdiff__db_finalize(q);
    return rc;
}

int sdiff_store_each_latency(struct sdiff_store *st, int64_t run_id, uint64_t since_us,
                             int (*fn)(const struct sdiff_store_latency *l, void *ud,
                                       struct sdiff_err *err),
                             void *ud, struct sdiff_err *err)
{
    struct sdiff_dbq *q = NULL;
    int rc = prepare_run_scan(st,
                              "SELECT route, primary_ms, candidate_ms FROM results NOT INDEXED"
                              " WHERE run_id = ?1 AND (?2 = 0 OR t_req_start >= ?2)",
                              run_id, since_us, SDIFF__DB_SCAN, &q, err);
    if (rc < 0)
        return rc;
    int out = SDIFF_OK;
    while (out == SDIFF_OK && (rc = sdiff__db_step(q)) == SDIFF__DB_ROW) {
        struct sdiff_store_latency l = {col_str(q, 0), col_ms(q, 1), col_ms(q, 2)};
        out = fn(&l, ud, err);
    }
    rc = visit_end(st, rc, out, err);
    sdiff__db_finalize(q);
    return rc;
}

static void difference_row(struct sdiff_dbq *q, int first, struct sdiff_store_difference *d)
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
    struct sdiff_dbq *q = NULL;
#define DIFFERENT(hint)                                                                        \
    "SELECT r.id, r.route, r.t_req_start, d.path, d.kind, d.primary_value, d.candidate_value,"  \
    " " hint " FROM results r LEFT JOIN differences d ON d.result_id = r.id"                    \
    " WHERE r.run_id = ?1 AND r.class = 'different' AND (?2 = 0 OR r.t_req_start >= ?2)"      \
    " ORDER BY r.id, d.idx"
    int rc = prepare_run_scan(st, st->version >= 3 ? DIFFERENT("d.hint") : DIFFERENT("NULL"),
                              run_id, since_us, SDIFF__DB_SCAN, &q, err);
#undef DIFFERENT
    if (rc < 0)
        return rc;
    int out = SDIFF_OK;
    while (out == SDIFF_OK && (rc = sdiff__db_step(q)) == SDIFF__DB_ROW) {
        struct sdiff_store_difference d = {
            .result_id = sdiff__db_int64(q, 0),
            .route = col_str(q, 1),
            .t_req_start = (uint64_t)sdiff__db_int64(q, 2),
        };
        difference_row(q, 3, &d);
        out = fn(&d, ud, err);
    }
    rc = visit_end(st, rc, out, err);
    sdiff__db_finalize(q);
    return rc;
}

int sdiff_store_each_difference(struct sdiff_store *st, int64_t result_id,
                                int (*fn)(const struct sdiff_store_difference *d, void *ud,
                                          struct sdiff_err *err),
                                void *ud, struct sdiff_err *err)
{
    struct sdiff_dbq *q = NULL;
    int rc = sdiff__db_prepare(st->db,
                                st->version >= 3
                                    ? "SELECT path, kind, primary_value, candidate_value, hint"
                                      " FROM differences WHERE result_id = ? ORDER BY idx"
                                    : "SELECT path, kind, primary_value, candidate_value, NULL"
                                      " FROM differences WHERE result_id = ? ORDER BY idx", 0, &q);
    if (rc != SDIFF__DB_OK)
        return read_err(st, rc, err);
    sdiff__db_bind_int64(q, 1, result_id);
    int out = SDIFF_OK;
    while (out == SDIFF_OK && (rc = sdiff__db_step(q)) == SDIFF__DB_ROW) {
        struct sdiff_store_difference d = {.result_id = result_id};
        difference_row(q, 0, &d);
        out = fn(&d, ud, err);
    }
    rc = visit_end(st, rc, out, err);
    sdiff__db_finalize(q);
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

static int col_blob(struct sdiff_dbq *q, int i, uint8_t **p, size_t *len)
{
    size_t n = 0;
    const void *src = sdiff__db_blob(q, i, &n);
    *p = NULL;
    *len = 0;
    if (n == 0 || src == NULL)
        return 1;
    *p = sdiff_malloc(n);
    if (*p == NULL)
        return 0;
    memcpy(*p, src, n);
    *len = n;
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
    struct sdiff_dbq *q = NULL;
    int rc = sdiff__db_prepare(st->db,
                                "SELECT status, reason, headers, body, body_len, body_stored,"
                                " latency_ms, error FROM responses"
                                " WHERE result_id = ? AND target = 'candidate'", 0, &q);
    if (rc != SDIFF__DB_OK)
        return read_err(st, rc, err);
    sdiff__db_bind_int64(q, 1, id);
    rc = sdiff__db_step(q);
    if (rc == SDIFF__DB_ROW) {
        a->present = 1;
        a->status = col_int(q, 0);
        a->body_stored = col_int(q, 5);
        a->body_size = sdiff__db_null(q, 4) ? -1 : sdiff__db_int64(q, 4);
        a->latency_ms = col_ms(q, 6);
        int ok = col_dup(q, 1, &a->reason) & col_dup(q, 2, &a->headers_json) &
                 col_dup(q, 7, &a->error) &
                 (a->body_stored ? col_blob(q, 3, &a->body, &a->body_len) : 1);
        rc = ok ? SDIFF_OK : oom(err);
    } else {
        a->latency_ms = -1;
        a->body_size = -1;
        rc = rc == SDIFF__DB_DONE ? SDIFF_OK : read_err(st, rc, err);
    }
    sdiff__db_finalize(q);
    return rc;
}

int sdiff_store_get_result(struct sdiff_store *st, int64_t result_id,
                           struct sdiff_store_result *out, struct sdiff_err *err)
{
    struct sdiff_dbq *q = NULL;
    if (SDIFF_NEVER(st == NULL || out == NULL))
        return SDIFF_EINVAL;
    memset(out, 0, sizeof *out);
    int rc = sdiff__db_prepare(st->db,
        "SELECT r.id, r.run_id, r.method, r.route, r.target, r.class, r.reasons, r.skip_reason,"
        " r.note, r.primary_status, r.candidate_status, r.primary_ms, r.candidate_ms,"
        " r.candidate_error, ru.candidate, e.id, e.method, e.target, e.req_headers, e.req_body,"
        " e.status, e.reason, e.resp_headers, e.resp_body"
        " FROM results r LEFT JOIN runs ru ON ru.id = r.run_id"
        " LEFT JOIN exchanges e ON e.id = r.exchange_id WHERE r.id = ?", 0, &q);
    if (rc != SDIFF__DB_OK)
        return read_err(st, rc, err);
    sdiff__db_bind_int64(q, 1, result_id);
    rc = sdiff__db_step(q);
    if (rc == SDIFF__DB_DONE) {
        rc = sdiff_err_set(err, SDIFF_EINVAL, "store", "no result %lld in %.150s",
                           (long long)result_id, st->path);
        goto out;
    }
    if (rc != SDIFF__DB_ROW) {
        rc = read_err(st, rc, err);
        goto out;
    }
    out->id = sdiff__db_int64(q, C_ID);
    out->run_id = sdiff__db_int64(q, C_RUN);
    out->primary_status = col_int(q, C_PSTATUS);
    out->candidate_status = col_int(q, C_CSTATUS);
    out->primary_ms = col_ms(q, C_PMS);
    out->candidate_ms = col_ms(q, C_CMS);
    out->has_exchange = !sdiff__db_null(q, C_EX_ID);
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
        p->present = !sdiff__db_null(q, C_STATUS);
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
    sdiff__db_finalize(q);
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
    struct sdiff_dbq *q = NULL;
    /* a version-2 file made before waivers existed has no table: no waivers */
    int rc;
    if (!st->pg) {
        rc = sdiff__db_prepare(st->db,
                               "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                               " AND name = 'waivers'",
                               0, &q);
        int have = rc == SDIFF__DB_OK && sdiff__db_step(q) == SDIFF__DB_ROW &&
                   sdiff__db_int64(q, 0) > 0;
        sdiff__db_finalize(q);
        q = NULL;
        if (!have)
            return SDIFF_OK;
    }
    /* newest first: the newest acceptance of a cluster is its waiver (one row per cluster
     * from version 3 on; a version-2 file may hold several) */
    rc = sdiff__db_prepare(st->db,
                            st->version >= 3
                                ? "SELECT id, cluster, route, signature, reason, expires, run_id,"
                                  " coalesce(updated_at, created_at) FROM waivers"
                                  " WHERE superseded_by IS NULL AND revoked_at IS NULL"
                                  " ORDER BY id DESC"
                                : "SELECT id, cluster, route, signature, reason, expires, run_id,"
                                  " created_at FROM waivers ORDER BY id DESC", 0, &q);
    if (rc != SDIFF__DB_OK)
        return sdiff__store_db_err(st, rc, "cannot read the waivers", err);
    int out = SDIFF_OK;
    while (out == SDIFF_OK && (rc = sdiff__db_step(q)) == SDIFF__DB_ROW) {
        struct sdiff_store_waiver w = {
            .id = sdiff__db_int64(q, 0),
            .cluster = col_str(q, 1),
            .route = col_str(q, 2),
            .signature = col_str(q, 3),
            .reason = col_str(q, 4),
            .expires = col_str(q, 5),
            .run_id = sdiff__db_int64(q, 6),
            .created_at = col_str(q, 7),
        };
        if (w.cluster == NULL) /* NOT NULL in the schema; never matches a cluster anyway */
            continue;
        out = fn(&w, ud, err);
    }
    rc = visit_end(st, rc, out, err);
    sdiff__db_finalize(q);
    return rc;
}

int sdiff_store_put_waiver(struct sdiff_store *st, const struct sdiff_store_waiver *w,
                           int64_t *id, struct sdiff_err *err)
{
    struct sdiff_dbq *q = NULL;
    int64_t have = 0;
    if (SDIFF_NEVER(st == NULL || w == NULL || w->cluster == NULL || w->reason == NULL))
        return SDIFF_EINVAL;
    int rc = sdiff_store_commit(st, err);
    if (rc < 0)
        return rc;
    rc = sdiff__db_begin(st->db, 1);
    if (rc != SDIFF__DB_OK)
        return sdiff__store_db_err(st, rc, "cannot record the waiver", err);
    /* the cluster's waiver, if it has one: accepting again updates it, keeping its id */
    rc = sdiff__db_prepare(st->db,
                            "SELECT id FROM waivers WHERE cluster = ? AND superseded_by IS NULL"
                            " AND revoked_at IS NULL", 0, &q);
    if (rc == SDIFF__DB_OK) {
        sdiff__db_bind_text(q, 1, w->cluster, -1);
        rc = sdiff__db_step(q);
        if (rc == SDIFF__DB_ROW) {
            have = sdiff__db_int64(q, 0);
            rc = SDIFF__DB_DONE;
        }
    }
    sdiff__db_finalize(q);
    q = NULL;
    if (rc == SDIFF__DB_DONE)
        rc = sdiff__db_prepare(st->db,
            have ? "UPDATE waivers SET route = ?2, signature = ?3, reason = ?4, expires = ?5,"
                   " run_id = ?6, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now')"
                   " WHERE id = ?7"
                 : "INSERT INTO waivers(cluster, route, signature, reason, expires, run_id)"
                   " VALUES(?1,?2,?3,?4,?5,?6) RETURNING id", 0, &q);
    if (rc == SDIFF__DB_OK) {
        if (!have)
            sdiff__db_bind_text(q, 1, w->cluster, -1);
        if (w->route)
            sdiff__db_bind_text(q, 2, w->route, -1);
        if (w->signature)
            sdiff__db_bind_text(q, 3, w->signature, -1);
        sdiff__db_bind_text(q, 4, w->reason, -1);
        if (w->expires)
            sdiff__db_bind_text(q, 5, w->expires, -1);
        if (w->run_id > 0)
            sdiff__db_bind_int64(q, 6, w->run_id);
        if (have)
            sdiff__db_bind_int64(q, 7, have);
        rc = sdiff__db_step(q);
        if (rc == SDIFF__DB_ROW && !have) {
            have = sdiff__db_int64(q, 0);
            rc = sdiff__db_step(q);
        }
    }
    sdiff__db_finalize(q);
    if (rc == SDIFF__DB_DONE) {
        rc = sdiff__db_commit(st->db);
        rc = rc == SDIFF__DB_OK ? SDIFF__DB_DONE : rc;
    }
    if (rc != SDIFF__DB_DONE) {
        rc = sdiff__store_db_err(st, rc, "cannot record the waiver", err);
        sdiff__db_rollback(st->db);
        return rc;
    }
    if (id)
        *id = have;
    return SDIFF_OK;
}

int sdiff_store_revoke_waiver(struct sdiff_store *st, int64_t id, struct sdiff_err *err)
{
    struct sdiff_dbq *q = NULL;
    if (st->version < 3)
        return sdiff_err_set(err, SDIFF_EINVAL, "store",
                             "%s: waivers of a version-2 file cannot be revoked (open it for"
                             " writing once to migrate it)", st->path);
    int rc = sdiff_store_commit(st, err);
    if (rc < 0)
        return rc;
    rc = sdiff__db_begin(st->db, 1);
    if (rc != SDIFF__DB_OK)
        return sdiff__store_db_err(st, rc, "cannot revoke the waiver", err);
    int64_t found = 0;
    rc = sdiff__db_prepare(st->db,
                           "SELECT id FROM waivers WHERE id = ? AND superseded_by IS NULL"
                           " AND revoked_at IS NULL",
                           0, &q);
    if (rc == SDIFF__DB_OK) {
        sdiff__db_bind_int64(q, 1, id);
        rc = sdiff__db_step(q);
        if (rc == SDIFF__DB_ROW) {
            found = sdiff__db_int64(q, 0);
            rc = SDIFF__DB_DONE;
        }
    }
    sdiff__db_finalize(q);
    q = NULL;
    if (rc == SDIFF__DB_DONE && found) {
        rc = sdiff__db_prepare(st->db,
                               "UPDATE waivers SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ',"
                               "'now') WHERE id = ?",
                               0, &q);
        if (rc == SDIFF__DB_OK) {
            sdiff__db_bind_int64(q, 1, id);
            rc = sdiff__db_step(q);
        }
        sdiff__db_finalize(q);
    }
    if (rc == SDIFF__DB_DONE) {
        rc = sdiff__db_commit(st->db);
        rc = rc == SDIFF__DB_OK ? SDIFF__DB_DONE : rc;
    }
    if (rc != SDIFF__DB_DONE) {
        rc = sdiff__store_db_err(st, rc, "cannot revoke the waiver", err);
        sdiff__db_rollback(st->db);
        return rc;
    }
    if (!found)
        return sdiff_err_set(err, SDIFF_EINVAL, "store", "no waiver %lld in %s (see accept --list)",
                             (long long)id, st->path);
    return SDIFF_OK;
}

int sdiff_store_each_noise(struct sdiff_store *st,
                           int (*fn)(const struct sdiff_store_noise *n, void *ud,
                                     struct sdiff_err *err),
                           void *ud, struct sdiff_err *err)
{
    struct sdiff_dbq *q = NULL;
#define NOISE_ROWS(cols, order) "SELECT route, key, run_id, learned_at, " cols " FROM noise ORDER BY " order
#define NOISE_V3 "instance_id, source, pairs, clients, examples, confidence"
#define NOISE_V2 "NULL, NULL, NULL, NULL, NULL, NULL"
    int rc = sdiff__db_prepare(
        st->db,
        st->version >= 3
            ? SDIFF__SQL(st, NOISE_ROWS(NOISE_V3, "route, key"),
                         NOISE_ROWS(NOISE_V3, "route COLLATE \"C\", key COLLATE \"C\""))
            : NOISE_ROWS(NOISE_V2, "route, key"),
        0, &q);
#undef NOISE_ROWS
#undef NOISE_V3
#undef NOISE_V2
    if (rc != SDIFF__DB_OK)
        return sdiff__store_db_err(st, rc, "cannot read the learned noise", err);
    int out = SDIFF_OK;
    while (out == SDIFF_OK && (rc = sdiff__db_step(q)) == SDIFF__DB_ROW) {
        struct sdiff_store_noise n = {
            .route = col_str(q, 0),
            .key = col_str(q, 1),
            .run_id = sdiff__db_null(q, 2) ? 0 : sdiff__db_int64(q, 2),
            .learned_at = col_str(q, 3),
            .instance_id = col_str(q, 4),
            .source = col_str(q, 5),
            .pairs = sdiff__db_null(q, 6) ? 0 : (uint64_t)sdiff__db_int64(q, 6),
            .clients = sdiff__db_null(q, 7) ? 0 : (uint64_t)sdiff__db_int64(q, 7),
            .examples_json = col_str(q, 8),
            .confidence = col_ms(q, 9),
        };
        out = fn(&n, ud, err);
    }
    rc = visit_end(st, rc, out, err);
    sdiff__db_finalize(q);
    return rc;
}
