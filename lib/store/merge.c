/*
 * merge.c - copy one run from a store (a SQLite file or PostgreSQL) into a SQLite file:
 * the run, its instances and batches, its results with their answers and differences, the
 * exchanges they refer to, and the database's waivers and learned noise. What `shadowdiff
 * merge` does to gather per-instance files, or to export a PostgreSQL run.
 *
 * Ids are kept where they are free in the target (so merging a run into a new file gives a
 * file whose report is the source's, ids included) and new otherwise. A named run joins the
 * target's run of that name. A result whose (instance, batch_seq, batch_idx) the target has
 * already is skipped with its answers and differences, so merging a source twice adds
 * nothing twice. The whole merge is one transaction in the target.
 */
#include "shadowdiff/store.h"

#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

/* id kept when free: SQLite gives a row with a NULL INTEGER PRIMARY KEY a new id */
#define KEEP_ID(table) "(CASE WHEN EXISTS (SELECT 1 FROM " table " WHERE id = ?1) THEN NULL ELSE ?1 END)"

#define RUN_COLS                                                                               \
    "kind, corpus, candidate, secondary, primary_url, config, started_at, finished_at,"       \
    " summary, name, state, labels, marker_token, last_activity, corpus_id"
#define RUN_NCOLS 15
#define INSTANCE_COLS                                                                          \
    "id, host, k_service, k_revision, pid, version, side, started_at, stopped_at,"            \
    " last_activity, counters"
#define INSTANCE_NCOLS 11
#define BATCH_COLS "instance_id, batch_seq, results, committed_at"
#define BATCH_NCOLS 4
#define RESULT_COLS                                                                            \
    "method, route, target, class, reasons, skip_reason, note, primary_status,"               \
    " candidate_status, secondary_status, primary_ms, candidate_ms, secondary_ms,"            \
    " bytes_equal, candidate_error, ndiffs, t_req_start, instance_id, side, batch_seq,"       \
    " batch_idx, raw_path, shape, corpus_exchange_id, primary_body_crc"
#define RESULT_NCOLS 25
#define RESPONSE_COLS                                                                          \
    "target, status, reason, headers, body, body_len, body_stored, latency_ms, error"
#define RESPONSE_NCOLS 9
#define RESPONSE_COLS_A                                                                        \
    "a.target, a.status, a.reason, a.headers, a.body, a.body_len, a.body_stored,"             \
    " a.latency_ms, a.error"
#define DIFF_COLS "idx, path, kind, primary_value, candidate_value, hint"
#define DIFF_NCOLS 6
#define DIFF_COLS_D "d.idx, d.path, d.kind, d.primary_value, d.candidate_value, d.hint"
#define EXCHANGE_COLS                                                                          \
    "conn_id, seq, client, server, method, target, req_version, req_headers, req_body,"       \
    " req_body_len, req_body_seen, req_chunked, status, reason, resp_version, resp_headers,"  \
    " resp_body, resp_body_len, resp_body_seen, resp_chunked, t_req_start, t_req_end,"        \
    " t_resp_start, t_resp_end, state, note, req_body_crc, resp_body_crc"
#define EXCHANGE_NCOLS 28
#define WAIVER_COLS "cluster, route, signature, reason, expires, created_at, updated_at"
#define WAIVER_NCOLS 7
#define NOISE_COLS                                                                             \
    "route, key, learned_at, instance_id, source, pairs, clients, examples, confidence"
#define NOISE_NCOLS 9

#define P5 "?,?,?,?,?"
#define P25 P5 "," P5 "," P5 "," P5 "," P5

/* src exchange id -> target id, for the ids that could not be kept (sorted: src ids come in
 * order) */
struct idmap {
    int64_t *from, *to;
    size_t n, cap;
};

static int idmap_add(struct idmap *m, int64_t from, int64_t to)
{
    if (from == to)
        return SDIFF_OK;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        int64_t *f = sdiff_realloc(m->from, cap * sizeof *f);
        if (f == NULL)
            return SDIFF_ENOMEM;
        m->from = f;
        int64_t *t = sdiff_realloc(m->to, cap * sizeof *t);
        if (t == NULL)
            return SDIFF_ENOMEM;
        m->to = t;
        m->cap = cap;
    }
    m->from[m->n] = from;
    m->to[m->n++] = to;
    return SDIFF_OK;
}

static int64_t idmap_get(const struct idmap *m, int64_t from)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->from[mid] < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->n && m->from[lo] == from ? m->to[lo] : from;
}

struct merge {
    struct sdiff_store *dst, *src;
    struct sdiff_err *err;
    int64_t src_run, dst_run, capture;
    struct idmap ex;
    uint64_t copied;
};

static int rerr(struct merge *m, int rc)
{
    return sdiff__store_db_err(m->src, rc, "cannot read", m->err);
}

static int werr(struct merge *m, int rc)
{
    return sdiff__store_db_err(m->dst, rc, "cannot write", m->err);
}

/* Bind n columns of s (from col first) to q's parameters from param on. */
static void bind_cols(struct sdiff_dbq *q, int param, struct sdiff_dbq *s, int first, int n)
{
    for (int i = 0; i < n; i++)
        sdiff__db_bind_column(q, param + i, s, first + i);
}

/* Step the insert q; the new row's id into *id (0: the row was skipped). */
static int step_id(struct merge *m, struct sdiff_dbq *q, int64_t *id)
{
    *id = 0;
    int rc = sdiff__db_step(q);
    sdiff__db_reset(q);
    if (rc != SDIFF__DB_DONE)
        return werr(m, rc);
    if (sdiff__db_changes(m->dst->db) > 0)
        *id = sdiff__db_last_rowid(m->dst->db);
    return SDIFF_OK;
}

/* The run row: joined by name, or copied under its id when that is free. */
static int merge_run(struct merge *m)
{
    struct sdiff_dbq *s = NULL, *q = NULL;
    int rc = sdiff__db_prepare(m->src->db, "SELECT " RUN_COLS " FROM runs WHERE id = ?", 0, &s);
    if (rc != SDIFF__DB_OK)
        return rerr(m, rc);
    sdiff__db_bind_int64(s, 1, m->src_run);
    rc = sdiff__db_step(s);
    if (rc != SDIFF__DB_ROW) {
        rc = rc == SDIFF__DB_DONE ? sdiff_err_set(m->err, SDIFF_EINVAL, "store",
                                                  "no run %lld in %.150s",
                                                  (long long)m->src_run, m->src->path)
                                  : rerr(m, rc);
        goto out;
    }
    int64_t joined = 0;
    const char *name = sdiff__db_text(s, 9);
    if (name) {
        rc = sdiff__db_prepare(m->dst->db, "SELECT id FROM runs WHERE name = ?", 0, &q);
        if (rc != SDIFF__DB_OK) {
            rc = werr(m, rc);
            goto out;
        }
        sdiff__db_bind_text(q, 1, name, -1);
        rc = sdiff__db_step(q);
        if (rc == SDIFF__DB_ROW)
            joined = sdiff__db_int64(q, 0);
        sdiff__db_finalize(q);
        q = NULL;
        if (rc != SDIFF__DB_ROW && rc != SDIFF__DB_DONE) {
            rc = werr(m, rc);
            goto out;
        }
    }
    if (!joined) {
        /* an unnamed run merged before: the target knows one of its instances */
        struct sdiff_dbq *i = NULL;
        rc = sdiff__db_prepare(m->src->db, "SELECT id FROM instances WHERE run_id = ?", 0, &i);
        if (rc != SDIFF__DB_OK) {
            rc = rerr(m, rc);
            goto out;
        }
        rc = sdiff__db_prepare(m->dst->db, "SELECT run_id FROM instances WHERE id = ?", 0, &q);
        if (rc != SDIFF__DB_OK) {
            sdiff__db_finalize(i);
            rc = werr(m, rc);
            goto out;
        }
        sdiff__db_bind_int64(i, 1, m->src_run);
        while (joined == 0 && (rc = sdiff__db_step(i)) == SDIFF__DB_ROW) {
            sdiff__db_bind_text(q, 1, sdiff__db_text(i, 0), -1);
            int r = sdiff__db_step(q);
            if (r == SDIFF__DB_ROW)
                joined = sdiff__db_int64(q, 0);
            sdiff__db_reset(q);
        }
        sdiff__db_finalize(i);
        sdiff__db_finalize(q);
        q = NULL;
        if (rc != SDIFF__DB_ROW && rc != SDIFF__DB_DONE) {
            rc = rerr(m, rc);
            goto out;
        }
    }
    if (joined) {
        /* the union of both lives: earliest start, latest end and activity, the state and
         * summary of the later one, labels merged */
        rc = sdiff__db_prepare(
            m->dst->db,
            "UPDATE runs SET started_at = min(started_at, ?2),"
            " finished_at = CASE WHEN finished_at IS NULL OR ?3 IS NULL THEN"
            " coalesce(finished_at, ?3) ELSE max(finished_at, ?3) END,"
            " state = CASE WHEN ?5 > coalesce(last_activity, '') THEN ?4 ELSE state END,"
            " summary = CASE WHEN ?5 > coalesce(last_activity, '') THEN ?6 ELSE summary END,"
            " last_activity = max(coalesce(last_activity, ''), coalesce(?5, '')),"
            " labels = CASE WHEN ?7 IS NULL THEN labels WHEN labels IS NULL THEN ?7"
            " ELSE json_patch(labels, ?7) END WHERE id = ?1",
            0, &q);
        if (rc == SDIFF__DB_OK) {
            sdiff__db_bind_int64(q, 1, joined);
            sdiff__db_bind_column(q, 2, s, 6);
            sdiff__db_bind_column(q, 3, s, 7);
            sdiff__db_bind_column(q, 4, s, 10);
            sdiff__db_bind_column(q, 5, s, 13);
            sdiff__db_bind_column(q, 6, s, 8);
            sdiff__db_bind_column(q, 7, s, 11);
            rc = sdiff__db_step(q);
        }
        rc = rc == SDIFF__DB_DONE ? SDIFF_OK : werr(m, rc);
        m->dst_run = joined;
        goto out;
    }
    rc = sdiff__db_prepare(m->dst->db,
                           "INSERT INTO runs(id, " RUN_COLS ") VALUES(" KEEP_ID("runs") ","
                           P5 "," P5 "," P5 ")",
                           0, &q);
    if (rc != SDIFF__DB_OK) {
        rc = werr(m, rc);
        goto out;
    }
    sdiff__db_bind_int64(q, 1, m->src_run);
    bind_cols(q, 2, s, 0, RUN_NCOLS);
    rc = step_id(m, q, &m->dst_run);
out:
    sdiff__db_finalize(q);
    sdiff__db_finalize(s);
    return rc;
}

/* Copy rows of a query on the source into an insert on the target, column for column after
 * the leading parameters the caller binds (lead; the run's new id as ?1 when lead is 1). */
static int copy_rows(struct merge *m, const char *select, const char *insert, int ncols,
                     int bind_run)
{
    struct sdiff_dbq *s = NULL, *q = NULL;
    int rc = sdiff__db_prepare(m->src->db, select, SDIFF__DB_SCAN, &s);
    if (rc != SDIFF__DB_OK)
        return rerr(m, rc);
    rc = sdiff__db_prepare(m->dst->db, insert, 0, &q);
    if (rc != SDIFF__DB_OK) {
        sdiff__db_finalize(s);
        return werr(m, rc);
    }
    if (bind_run)
        sdiff__db_bind_int64(s, 1, m->src_run);
    int out = SDIFF_OK;
    while (out >= 0 && (rc = sdiff__db_step(s)) == SDIFF__DB_ROW) {
        if (bind_run)
            sdiff__db_bind_int64(q, 1, m->dst_run);
        bind_cols(q, bind_run ? 2 : 1, s, 0, ncols);
        int w = sdiff__db_step(q);
        sdiff__db_reset(q);
        if (w != SDIFF__DB_DONE)
            out = werr(m, w);
    }
    if (out >= 0 && rc != SDIFF__DB_DONE)
        out = rerr(m, rc);
    sdiff__db_finalize(q);
    sdiff__db_finalize(s);
    return out;
}

/* The exchanges the run's results refer to, under one capture of the target. */
static int merge_exchanges(struct merge *m)
{
    struct sdiff_dbq *s = NULL, *q = NULL;
    int rc = sdiff__db_prepare(m->dst->db,
                               "INSERT INTO captures(source, command) VALUES('merge',"
                               " 'shadowdiff merge')",
                               0, &q);
    if (rc != SDIFF__DB_OK)
        return werr(m, rc);
    rc = step_id(m, q, &m->capture);
    sdiff__db_finalize(q);
    q = NULL;
    if (rc < 0)
        return rc;
    rc = sdiff__db_prepare(m->src->db,
                           "SELECT id, " EXCHANGE_COLS " FROM exchanges WHERE id IN"
                           " (SELECT exchange_id FROM results WHERE run_id = ?) ORDER BY id",
                           SDIFF__DB_SCAN, &s);
    if (rc != SDIFF__DB_OK)
        return rerr(m, rc);
    rc = sdiff__db_prepare(m->dst->db,
                           "INSERT INTO exchanges(id, capture_id, " EXCHANGE_COLS ")"
                           " VALUES(" KEEP_ID("exchanges") ", ?2," P25 ",?,?,?)",
                           0, &q);
    if (rc != SDIFF__DB_OK) {
        sdiff__db_finalize(s);
        return werr(m, rc);
    }
    sdiff__db_bind_int64(s, 1, m->src_run);
    int out = SDIFF_OK;
    while (out >= 0 && (rc = sdiff__db_step(s)) == SDIFF__DB_ROW) {
        int64_t from = sdiff__db_int64(s, 0), to = 0;
        sdiff__db_bind_int64(q, 1, from);
        sdiff__db_bind_int64(q, 2, m->capture);
        bind_cols(q, 3, s, 1, EXCHANGE_NCOLS);
        out = step_id(m, q, &to);
        if (out >= 0 && idmap_add(&m->ex, from, to) < 0)
            out = sdiff_err_set(m->err, SDIFF_ENOMEM, "store", "out of memory");
    }
    if (out >= 0 && rc != SDIFF__DB_DONE)
        out = rerr(m, rc);
    sdiff__db_finalize(q);
    sdiff__db_finalize(s);
    return out;
}

/*
 * The results, walked beside their answers and differences (three streams in result order):
 * each child row goes to its result's new id, or nowhere when the result was already there.
 */
static int merge_results(struct merge *m)
{
    struct sdiff_dbq *rs = NULL, *as = NULL, *ds = NULL, *ri = NULL, *ai = NULL, *di = NULL;
    int rc = sdiff__db_prepare(m->src->db,
                               "SELECT id, exchange_id, " RESULT_COLS " FROM results"
                               " WHERE run_id = ? ORDER BY id",
                               SDIFF__DB_SCAN, &rs);
    int rc2 = rc == SDIFF__DB_OK
                  ? sdiff__db_prepare(m->src->db,
                                      "SELECT a.result_id, " RESPONSE_COLS_A " FROM responses a"
                                      " JOIN results r ON r.id = a.result_id"
                                      " WHERE r.run_id = ? ORDER BY a.result_id, a.target",
                                      SDIFF__DB_SCAN, &as)
                  : rc;
    int rc3 = rc2 == SDIFF__DB_OK
                  ? sdiff__db_prepare(m->src->db,
                                      "SELECT d.result_id, " DIFF_COLS_D " FROM differences d"
                                      " JOIN results r ON r.id = d.result_id"
                                      " WHERE r.run_id = ? ORDER BY d.result_id, d.idx",
                                      SDIFF__DB_SCAN, &ds)
                  : rc2;
    int out = SDIFF_OK;
    if (rc3 != SDIFF__DB_OK) {
        out = rerr(m, rc3);
        goto done;
    }
    if (sdiff__db_prepare(m->dst->db,
                          "INSERT INTO results(id, run_id, exchange_id, " RESULT_COLS ")"
                          " VALUES(" KEEP_ID("results") ",?2,?3," P25 ")"
                          " ON CONFLICT DO NOTHING",
                          0, &ri) != SDIFF__DB_OK ||
        sdiff__db_prepare(m->dst->db,
                          "INSERT INTO responses(result_id, " RESPONSE_COLS ")"
                          " VALUES(?," P5 ",?,?,?,?)",
                          0, &ai) != SDIFF__DB_OK ||
        sdiff__db_prepare(m->dst->db,
                          "INSERT INTO differences(result_id, " DIFF_COLS ") VALUES(?," P5 ",?)",
                          0, &di) != SDIFF__DB_OK) {
        out = werr(m, 1);
        goto done;
    }
    sdiff__db_bind_int64(rs, 1, m->src_run);
    sdiff__db_bind_int64(as, 1, m->src_run);
    sdiff__db_bind_int64(ds, 1, m->src_run);
    int arc = sdiff__db_step(as), drc = sdiff__db_step(ds);
    while (out >= 0 && (rc = sdiff__db_step(rs)) == SDIFF__DB_ROW) {
        int64_t from = sdiff__db_int64(rs, 0), to = 0;
        sdiff__db_bind_int64(ri, 1, from);
        sdiff__db_bind_int64(ri, 2, m->dst_run);
        if (sdiff__db_null(rs, 1))
            sdiff__db_bind_null(ri, 3);
        else
            sdiff__db_bind_int64(ri, 3, idmap_get(&m->ex, sdiff__db_int64(rs, 1)));
        bind_cols(ri, 4, rs, 2, RESULT_NCOLS);
        out = step_id(m, ri, &to);
        if (to)
            m->copied++;
        for (; out >= 0 && arc == SDIFF__DB_ROW && sdiff__db_int64(as, 0) <= from;
             arc = sdiff__db_step(as)) {
            if (to == 0 || sdiff__db_int64(as, 0) != from)
                continue;
            sdiff__db_bind_int64(ai, 1, to);
            bind_cols(ai, 2, as, 1, RESPONSE_NCOLS);
            int w = sdiff__db_step(ai);
            sdiff__db_reset(ai);
            out = w == SDIFF__DB_DONE ? SDIFF_OK : werr(m, w);
        }
        for (; out >= 0 && drc == SDIFF__DB_ROW && sdiff__db_int64(ds, 0) <= from;
             drc = sdiff__db_step(ds)) {
            if (to == 0 || sdiff__db_int64(ds, 0) != from)
                continue;
            sdiff__db_bind_int64(di, 1, to);
            bind_cols(di, 2, ds, 1, DIFF_NCOLS);
            int w = sdiff__db_step(di);
            sdiff__db_reset(di);
            out = w == SDIFF__DB_DONE ? SDIFF_OK : werr(m, w);
        }
    }
    if (out >= 0 && rc != SDIFF__DB_DONE)
        out = rerr(m, rc);
    if (out >= 0 && arc != SDIFF__DB_DONE && arc != SDIFF__DB_ROW)
        out = rerr(m, arc);
    if (out >= 0 && drc != SDIFF__DB_DONE && drc != SDIFF__DB_ROW)
        out = rerr(m, drc);
done:
    sdiff__db_finalize(di);
    sdiff__db_finalize(ai);
    sdiff__db_finalize(ri);
    sdiff__db_finalize(ds);
    sdiff__db_finalize(as);
    sdiff__db_finalize(rs);
    return out;
}

int sdiff_store_merge_run(struct sdiff_store *dst, struct sdiff_store *src, int64_t src_run,
                          int64_t *dst_run, uint64_t *copied, struct sdiff_err *err)
{
    if (SDIFF_NEVER(dst == NULL || src == NULL || src_run <= 0))
        return SDIFF_EINVAL;
    if (dst->pg || dst->opts.read_only)
        return sdiff_err_set(err, SDIFF_EINVAL, "store",
                             "%.150s: merge writes into a SQLite file opened for writing",
                             dst->path);
    if (src->version < 3)
        return sdiff_err_set(err, SDIFF_EDB, "store",
                             "%.150s: schema version %d: open it once with this shadowdiff's"
                             " replay or accept to migrate it first",
                             src->path, src->version);
    struct merge m = {.dst = dst, .src = src, .err = err, .src_run = src_run};
    int rc = sdiff_store_commit(dst, err);
    if (rc < 0)
        return rc;
    int b = sdiff__db_begin(dst->db, 1);
    if (b != SDIFF__DB_OK)
        return werr(&m, b);
    dst->in_tx = 1;
    rc = merge_run(&m);
    rc = rc < 0 ? rc
                : copy_rows(&m,
                            "SELECT " INSTANCE_COLS " FROM instances WHERE run_id = ?",
                            "INSERT INTO instances(run_id, " INSTANCE_COLS ") VALUES(?," P5 ","
                            P5 ",?) ON CONFLICT DO NOTHING",
                            INSTANCE_NCOLS, 1);
    rc = rc < 0 ? rc
                : copy_rows(&m, "SELECT " BATCH_COLS " FROM batches WHERE run_id = ?",
                            "INSERT INTO batches(run_id, " BATCH_COLS ") VALUES(?,?,?,?,?)"
                            " ON CONFLICT DO NOTHING",
                            BATCH_NCOLS, 1);
    rc = rc < 0 ? rc : merge_exchanges(&m);
    rc = rc < 0 ? rc : merge_results(&m);
    /* the run's live cohort and cost samples; a row the target has already (the same
     * instance, time and path) is not added twice, so merging again adds nothing */
    rc = rc < 0 ? rc
                : copy_rows(&m,
                            "SELECT instance_id, side, method, route, raw_path, status, latency_ms,"
                            " error, marker, t_req_start FROM live_samples WHERE run_id = ?",
                            "INSERT INTO live_samples(run_id, instance_id, side, method, route,"
                            " raw_path, status, latency_ms, error, marker, t_req_start)"
                            " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 WHERE NOT EXISTS"
                            " (SELECT 1 FROM live_samples WHERE run_id = ?1 AND"
                            " coalesce(instance_id, '') = coalesce(?2, '') AND t_req_start = ?11"
                            " AND coalesce(raw_path, '') = coalesce(?6, ''))",
                            10, 1);
    rc = rc < 0 ? rc
                : copy_rows(&m,
                            "SELECT instance_id, t_us, target, requests, cpu_ms, rss_bytes"
                            " FROM cost_samples WHERE run_id = ?",
                            "INSERT INTO cost_samples(run_id, instance_id, t_us, target, requests,"
                            " cpu_ms, rss_bytes) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE NOT EXISTS"
                            " (SELECT 1 FROM cost_samples WHERE run_id = ?1 AND"
                            " coalesce(instance_id, '') = coalesce(?2, '') AND t_us = ?3 AND"
                            " target = ?4)",
                            6, 1);
    /* the database's waivers and learned noise: a cluster waived in either is waived in the
     * merge (the target's own waiver wins), noise learned in either is kept */
    rc = rc < 0 ? rc
                : copy_rows(&m,
                            "SELECT id, " WAIVER_COLS " FROM waivers WHERE superseded_by IS NULL"
                            " AND revoked_at IS NULL ORDER BY id",
                            "INSERT INTO waivers(id, " WAIVER_COLS ") VALUES(" KEEP_ID("waivers")
                            ",?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                            WAIVER_NCOLS + 1, 0);
    /* the redaction key the hashes were made with, when the target has none (the caller
     * refuses sources hashed with different keys) */
    rc = rc < 0 ? rc
                : copy_rows(&m,
                            "SELECT name, value FROM meta WHERE name IN ('redact_key',"
                            " 'redact_key_id')",
                            "INSERT INTO meta(name, value) VALUES(?,?) ON CONFLICT DO NOTHING", 2,
                            0);
    rc = rc < 0 ? rc
                : copy_rows(&m, "SELECT " NOISE_COLS " FROM noise",
                            "INSERT INTO noise(" NOISE_COLS ") VALUES(?,?,?,?,?,?,?,?,?)"
                            " ON CONFLICT DO NOTHING",
                            NOISE_NCOLS, 0);
    if (rc >= 0) {
        int c = sdiff__db_commit(dst->db);
        if (c != SDIFF__DB_OK)
            rc = werr(&m, c);
    }
    if (rc < 0)
        sdiff__db_rollback(dst->db);
    dst->in_tx = 0;
    sdiff_free(m.ex.from);
    sdiff_free(m.ex.to);
    if (rc < 0)
        return rc;
    if (dst_run)
        *dst_run = m.dst_run;
    if (copied)
        *copied = m.copied;
    return SDIFF_OK;
}
