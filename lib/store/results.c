/*
 * results.c - replay runs, their results, the answers of each target, the differences,
 * learned noise; and reading the corpus back as exchanges.
 */
#include "shadowdiff/store.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "store/store_int.h"

#define NOW "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

#ifndef SDIFF_VERSION
#define SDIFF_VERSION NULL
#endif

const char *sdiff_store_path(const struct sdiff_store *st)
{
    return st->path;
}

int sdiff_store_is_url(const char *location)
{
    return sdiff__db_is_pg_url(location);
}

void sdiff_store_shown(const char *location, char *out, size_t cap)
{
    sdiff__db_mask_url(location, out, cap);
}

static void text_or_null(struct sdiff_dbq *q, int i, const char *s)
{
    if (s)
        sdiff__db_bind_text(q, i, s, -1);
    else
        sdiff__db_bind_null(q, i);
}

static void real_or_null(struct sdiff_dbq *q, int i, double v)
{
    if (v >= 0)
        sdiff__db_bind_double(q, i, v);
    else
        sdiff__db_bind_null(q, i);
}

static void int_or_null(struct sdiff_dbq *q, int i, int v)
{
    if (v > 0)
        sdiff__db_bind_int64(q, i, v);
    else
        sdiff__db_bind_null(q, i);
}

static int step_done(struct sdiff_store *st, struct sdiff_dbq *q, struct sdiff_err *err)
{
    int rc = sdiff__db_step(q);
    sdiff__db_reset(q);
    return rc == SDIFF__DB_DONE ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot write", err);
}

static int prepare(struct sdiff_store *st, struct sdiff_dbq **q, const char *sql,
                   struct sdiff_err *err)
{
    if (*q)
        return SDIFF_OK;
    /* results, answers, differences: inserted by the thousand, sent many rows at a time */
    int rc = sdiff__db_prepare(st->db, sql, SDIFF__DB_ROWS, q);
    return rc == SDIFF__DB_OK ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot prepare", err);
}

const char *sdiff_run_state_str(enum sdiff_run_state st)
{
    switch (st) {
    case SDIFF_RUN_RUNNING: return "running";
    case SDIFF_RUN_FINISHED: return "finished";
    case SDIFF_RUN_INTERRUPTED: return "interrupted";
    case SDIFF_RUN_FAILED: return "failed";
    }
    return "failed";
}

const char *sdiff_store_instance_id(const struct sdiff_store *st)
{
    return st->instance_id;
}

int sdiff_store_schema_version(const struct sdiff_store *st)
{
    return st->version;
}

static const char *env_or(const char *v, const char *name)
{
    if (v)
        return v;
    const char *e = getenv(name);
    return e && *e ? e : NULL;
}

/* A new random instance id: 128 bits as 32 hex digits. */
static int new_instance_id(struct sdiff_store *st, struct sdiff_err *err)
{
    uint8_t r[16];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n <= 0)
            return sdiff_err_set(err, SDIFF_EIO, "store", "no random bytes for an instance id");
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(st->instance_id + 2 * i, 3, "%02x", r[i]);
    return SDIFF_OK;
}

/* The id of the run called name, or 0. */
static int run_by_name(struct sdiff_store *st, const char *name, int64_t *id,
                       struct sdiff_err *err)
{
    struct sdiff_dbq *q = NULL;
    *id = 0;
    int rc = sdiff__db_prepare(st->db, "SELECT id FROM runs WHERE name = ?", 0, &q);
    if (rc == SDIFF__DB_OK) {
        sdiff__db_bind_text(q, 1, name, -1);
        rc = sdiff__db_step(q);
        if (rc == SDIFF__DB_ROW)
            *id = sdiff__db_int64(q, 0);
    }
    sdiff__db_finalize(q);
    if (rc == SDIFF__DB_ROW || rc == SDIFF__DB_DONE)
        return SDIFF_OK;
    return sdiff__store_db_err(st, rc, "cannot read", err);
}

int sdiff_store_begin_run(struct sdiff_store *st, const struct sdiff_run_info *info, int64_t *id,
                          struct sdiff_err *err)
{
    struct sdiff_dbq *q = NULL;
    int64_t run = 0;
    int rc = sdiff_store_commit(st, err);
    rc = rc < 0 ? rc : new_instance_id(st, err);
    /* IMMEDIATE: two instances joining one named run at once find or create it in turn */
    if (rc < 0)
        return rc;
    rc = sdiff__db_begin(st->db, 1);
    if (rc != SDIFF__DB_OK)
        return sdiff__store_db_err(st, rc, "cannot write", err);
    st->in_tx = 1;
    st->tx_started = 0;
    if (info->name)
        rc = run_by_name(st, info->name, &run, err);
    if (rc >= 0 && run > 0) {
        /* a joining instance's labels are merged in (its value wins for a key both give) */
        rc = sdiff__db_prepare(
            st->db,
            SDIFF__SQL(st,
                       "UPDATE runs SET state = 'running', last_activity = " NOW
                       ", labels = CASE WHEN ?2 IS NULL THEN labels ELSE json_patch("
                       "CASE WHEN json_valid(labels) THEN labels ELSE '{}' END, ?2)"
                       " END WHERE id = ?1",
                       "UPDATE runs SET state = 'running', last_activity = " NOW
                       ", labels = CASE WHEN ?2::text IS NULL THEN labels"
                       " WHEN labels IS NULL THEN ?2::text"
                       " ELSE (labels::jsonb || ?2::jsonb)::text END WHERE id = ?1"),
            0, &q);
        if (rc == SDIFF__DB_OK) {
            sdiff__db_bind_int64(q, 1, run);
            text_or_null(q, 2, info->labels_json);
            rc = sdiff__db_step(q);
        }
        sdiff__db_finalize(q);
        q = NULL;
        rc = rc == SDIFF__DB_DONE ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot write", err);
    } else if (rc >= 0) {
        rc = sdiff__db_prepare(st->db,
                                "INSERT INTO runs(kind, corpus, candidate, secondary, primary_url,"
                                " config, name, labels, marker_token, state, last_activity)"
                                " VALUES(?,?,?,?,?,?,?,?,?,'running'," NOW ") RETURNING id", 0, &q);
        if (rc == SDIFF__DB_OK) {
            text_or_null(q, 1, info->kind);
            /* a corpus given as a URL is stored as it may be shown: no password */
            char corpus[600];
            if (info->corpus)
                sdiff__db_mask_url(info->corpus, corpus, sizeof corpus);
            text_or_null(q, 2, info->corpus ? corpus : NULL);
            text_or_null(q, 3, info->candidate);
            text_or_null(q, 4, info->secondary);
            text_or_null(q, 5, info->primary);
            text_or_null(q, 6, info->config);
            text_or_null(q, 7, info->name);
            text_or_null(q, 8, info->labels_json);
            text_or_null(q, 9, info->marker);
            rc = sdiff__db_step(q);
            if (rc == SDIFF__DB_ROW) {
                run = sdiff__db_int64(q, 0);
                rc = sdiff__db_step(q);
            }
        }
        sdiff__db_finalize(q);
        q = NULL;
        rc = rc == SDIFF__DB_DONE && run > 0 ? SDIFF_OK
                                             : sdiff__store_db_err(st, rc, "cannot write", err);
    }
    if (rc >= 0) {
        rc = sdiff__db_prepare(st->db,
                                "INSERT INTO instances(id, run_id, host, k_service, k_revision,"
                                " pid, version, side, last_activity)"
                                " VALUES(?,?,?,?,?,?,?,?," NOW ")", 0, &q);
        if (rc == SDIFF__DB_OK) {
            sdiff__db_bind_text(q, 1, st->instance_id, -1);
            sdiff__db_bind_int64(q, 2, run);
            text_or_null(q, 3, env_or(info->host, "HOSTNAME"));
            text_or_null(q, 4, env_or(info->k_service, "K_SERVICE"));
            text_or_null(q, 5, env_or(info->k_revision, "K_REVISION"));
            sdiff__db_bind_int64(q, 6, (int64_t)getpid());
            text_or_null(q, 7, SDIFF_VERSION);
            sdiff__db_bind_text(q, 8, info->side ? info->side : "old", -1);
            rc = sdiff__db_step(q);
        }
        sdiff__db_finalize(q);
        rc = rc == SDIFF__DB_DONE ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot write", err);
    }
    if (rc >= 0) {
        st->run_id = run;
        st->batch_seq = 0;
        st->batch_idx = 0;
        snprintf(st->side, sizeof st->side, "%s", info->side ? info->side : "old");
        rc = sdiff_store_commit(st, err);
    } else {
        sdiff__db_rollback(st->db);
        st->in_tx = 0;
    }
    if (rc < 0) {
        st->run_id = 0;
        st->instance_id[0] = 0;
        return rc;
    }
    *id = run;
    return SDIFF_OK;
}

int sdiff_store_end_run(struct sdiff_store *st, int64_t id, const char *summary,
                        struct sdiff_err *err)
{
    return sdiff_store_finish_run(st, id, SDIFF_RUN_FINISHED, summary, err);
}

int sdiff_store_finish_run(struct sdiff_store *st, int64_t id, enum sdiff_run_state state,
                           const char *summary, struct sdiff_err *err)
{
    int rc = sdiff_store_commit(st, err);
    if (rc < 0)
        return rc;
    rc = sdiff__store_tx(st, err);
    if (rc < 0)
        return rc;
    struct sdiff_dbq *q = NULL;
    rc = sdiff__db_prepare(st->db,
                            "UPDATE runs SET summary = ?, finished_at = " NOW ", state = ?,"
                            " last_activity = " NOW " WHERE id = ?", 0, &q);
    if (rc == SDIFF__DB_OK) {
        text_or_null(q, 1, summary);
        sdiff__db_bind_text(q, 2, sdiff_run_state_str(state), -1);
        sdiff__db_bind_int64(q, 3, id);
        rc = sdiff__db_step(q);
    }
    sdiff__db_finalize(q);
    q = NULL;
    if (rc == SDIFF__DB_DONE && st->instance_id[0]) {
        rc = sdiff__db_prepare(st->db,
                                "UPDATE instances SET stopped_at = " NOW
                                ", last_activity = " NOW ", counters = ? WHERE id = ?", 0, &q);
        if (rc == SDIFF__DB_OK) {
            text_or_null(q, 1, summary);
            sdiff__db_bind_text(q, 2, st->instance_id, -1);
            rc = sdiff__db_step(q);
        }
        sdiff__db_finalize(q);
    }
    if (rc != SDIFF__DB_DONE) {
        rc = sdiff__store_db_err(st, rc, "cannot write", err);
        sdiff__db_rollback(st->db);
        st->in_tx = 0;
        return rc;
    }
    if (st->run_id == id)
        st->run_id = 0;
    return sdiff_store_commit(st, err);
}

static int put_response(struct sdiff_store *st, int64_t result_id, const char *target,
                        const struct sdiff_stored_resp *r, struct sdiff_err *err)
{
    int rc = prepare(st, &st->ins_response,
                     "INSERT INTO responses(result_id, target, status, reason, headers, body,"
                     " body_len, body_stored, latency_ms, error) VALUES(?,?,?,?,?,?,?,?,?,?)",
                     err);
    if (rc < 0)
        return rc;
    struct sdiff_dbq *q = st->ins_response;
    sdiff__db_bind_int64(q, 1, result_id);
    sdiff__db_bind_text(q, 2, target, -1);
    if (r->msg && r->msg->present) {
        sdiff_buf_reset(&st->scratch_resp);
        if (sdiff__store_headers_json(r->msg, &st->opts, &st->scratch_resp) < 0)
            return sdiff_err_set(err, SDIFF_ENOMEM, "store", "out of memory encoding headers");
        sdiff__db_bind_int64(q, 3, r->msg->status);
        text_or_null(q, 4, r->msg->reason);
        sdiff__db_bind_text(q, 5, (const char *)st->scratch_resp.data, (int)st->scratch_resp.len);
    }
    if (r->msg) {
        if (r->keep_body)
            sdiff__db_bind_blob(q, 6, r->msg->body, r->msg->body_len);
        sdiff__db_bind_int64(q, 7, (int64_t)r->msg->body_len);
    }
    sdiff__db_bind_int64(q, 8, r->msg && r->keep_body);
    real_or_null(q, 9, r->latency_ms);
    text_or_null(q, 10, r->error);
    return step_done(st, q, err);
}

int sdiff_store_put_result(struct sdiff_store *st, const struct sdiff_result_rec *r, int64_t *id,
                           struct sdiff_err *err)
{
#define INSERT_RESULT                                                                          \
    "INSERT INTO results(run_id, exchange_id, method, route, target, class,"                  \
    " reasons, skip_reason, note, primary_status, candidate_status,"                          \
    " secondary_status, primary_ms, candidate_ms, secondary_ms,"                              \
    " bytes_equal, candidate_error, ndiffs, t_req_start, instance_id,"                        \
    " side, batch_seq, batch_idx, raw_path, shape, id)"                                       \
    " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    /* SQLite's id is the rowid; PostgreSQL's was taken from a block, so the insert joins
     * the batch's pipeline without waiting for an answer */
    int64_t rid = 0;
    int rc = sdiff__store_tx(st, err);
    rc = rc < 0 ? rc : prepare(st, &st->ins_result, INSERT_RESULT, err);
    rc = rc < 0 ? rc : sdiff__store_next_id(st, "results", &rid, err);
    if (rc < 0)
        return rc;
#undef INSERT_RESULT
    struct sdiff_dbq *q = st->ins_result;
    if (rid)
        sdiff__db_bind_int64(q, 26, rid);
    sdiff__db_bind_int64(q, 1, r->run_id);
    if (r->exchange_id)
        sdiff__db_bind_int64(q, 2, (int64_t)r->exchange_id);
    text_or_null(q, 3, r->method);
    text_or_null(q, 4, r->route);
    text_or_null(q, 5, r->target);
    text_or_null(q, 6, r->cls);
    text_or_null(q, 7, r->reasons && *r->reasons ? r->reasons : NULL);
    text_or_null(q, 8, r->skip_reason);
    text_or_null(q, 9, r->note && *r->note ? r->note : NULL);
    int_or_null(q, 10, r->primary_status);
    int_or_null(q, 11, r->candidate.msg && r->candidate.msg->present ? r->candidate.msg->status : 0);
    int_or_null(q, 12, r->secondary.msg && r->secondary.msg->present ? r->secondary.msg->status : 0);
    real_or_null(q, 13, r->primary_ms);
    real_or_null(q, 14, r->candidate.msg || r->candidate.error ? r->candidate.latency_ms : -1);
    real_or_null(q, 15, r->secondary.msg || r->secondary.error ? r->secondary.latency_ms : -1);
    if (r->bytes_equal >= 0)
        sdiff__db_bind_int64(q, 16, r->bytes_equal);
    text_or_null(q, 17, r->candidate.error);
    sdiff__db_bind_int64(q, 18, (int64_t)r->ndiffs);
    if (r->t_req_start)
        sdiff__db_bind_int64(q, 19, (int64_t)r->t_req_start);
    if (st->run_id == r->run_id && st->instance_id[0]) {
        /* (instance, batch_seq, batch_idx) is unique: a batch is stored once */
        sdiff__db_bind_text(q, 20, st->instance_id, -1);
        sdiff__db_bind_text(q, 21, st->side, -1);
        sdiff__db_bind_int64(q, 22, st->batch_seq);
        sdiff__db_bind_int64(q, 23, st->batch_idx);
    } else {
        sdiff__db_bind_text(q, 21, "old", -1);
    }
    if (r->raw_path)
        sdiff__db_bind_text(q, 24, r->raw_path, -1);
    else if (r->target)
        sdiff__db_bind_text(q, 24, r->target, (int)strcspn(r->target, "?"));
    text_or_null(q, 25, r->shape);
    rc = sdiff__db_step(q);
    sdiff__db_reset(q);
    if (rc != SDIFF__DB_DONE)
        return sdiff__store_db_err(st, rc, "cannot write", err);
    if (rid == 0)
        rid = sdiff__db_last_rowid(st->db);
    if (st->run_id == r->run_id && st->instance_id[0])
        st->batch_idx++;
    if (id)
        *id = rid;
    if ((r->candidate.msg || r->candidate.error) && !r->candidate.skip_row)
        rc = put_response(st, rid, "candidate", &r->candidate, err);
    if (rc >= 0 && (r->secondary.msg || r->secondary.error) && !r->secondary.skip_row)
        rc = put_response(st, rid, "secondary", &r->secondary, err);
    if (rc >= 0 && r->ndiffs > 0)
        rc = prepare(st, &st->ins_diff,
                     "INSERT INTO differences(result_id, idx, path, kind, primary_value,"
                     " candidate_value, hint) VALUES(?,?,?,?,?,?,?)",
                     err);
    for (size_t i = 0; rc >= 0 && i < r->ndiffs; i++) {
        struct sdiff_dbq *d = st->ins_diff;
        sdiff__db_bind_int64(d, 1, rid);
        sdiff__db_bind_int64(d, 2, (int64_t)i);
        sdiff__db_bind_text(d, 3, r->paths[i], -1);
        sdiff__db_bind_text(d, 4, r->kinds[i], -1);
        text_or_null(d, 5, r->primary_values[i]);
        text_or_null(d, 6, r->candidate_values[i]);
        text_or_null(d, 7, r->hints ? r->hints[i] : NULL);
        rc = step_done(st, d, err);
    }
    return rc < 0 ? rc : sdiff__store_batched(st, err);
}

int sdiff_store_load_noise(struct sdiff_store *st,
                           int (*fn)(const char *route, const char *key, void *ud), void *ud,
                           struct sdiff_err *err)
{
    struct sdiff_dbq *q = NULL;
    int rc = sdiff__db_prepare(st->db, "SELECT route, key FROM noise", 0, &q);
    if (rc != SDIFF__DB_OK)
        return sdiff__store_db_err(st, rc, "cannot read", err);
    int out = SDIFF_OK;
    while ((rc = sdiff__db_step(q)) == SDIFF__DB_ROW) {
        out = fn(sdiff__db_text(q, 0), sdiff__db_text(q, 1),
                 ud);
        if (out < 0)
            break;
    }
    sdiff__db_finalize(q);
    if (out < 0)
        return sdiff_err_set(err, out, "store", "out of memory loading noise");
    return rc == SDIFF__DB_DONE ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot read", err);
}

int sdiff_store_save_noise(struct sdiff_store *st, const struct sdiff_store_noise *n,
                           struct sdiff_err *err)
{
    int rc = sdiff__store_tx(st, err);
    if (rc < 0)
        return rc;
    struct sdiff_dbq *q = NULL;
    if (st->version < 3)
        rc = sdiff__db_prepare(st->db,
                               "INSERT INTO noise(route, key, run_id) VALUES(?,?,?)"
                               " ON CONFLICT DO NOTHING",
                               0, &q);
    else
        rc = sdiff__db_prepare(st->db,
                               "INSERT INTO noise(route, key, run_id, instance_id, source, pairs,"
                               " clients, examples, confidence) VALUES(?,?,?,?,?,?,?,?,?)"
                               " ON CONFLICT DO NOTHING",
                               0, &q);
    if (rc == SDIFF__DB_OK) {
        sdiff__db_bind_text(q, 1, n->route, -1);
        sdiff__db_bind_text(q, 2, n->key, -1);
        if (n->run_id > 0)
            sdiff__db_bind_int64(q, 3, n->run_id);
        else
            sdiff__db_bind_null(q, 3); /* learned at capture: no run */
        if (st->version >= 3) {
            text_or_null(q, 4, st->instance_id[0] ? st->instance_id : NULL);
            text_or_null(q, 5, n->source);
            if (n->pairs)
                sdiff__db_bind_int64(q, 6, (int64_t)n->pairs);
            else
                sdiff__db_bind_null(q, 6);
            if (n->clients)
                sdiff__db_bind_int64(q, 7, (int64_t)n->clients);
            else
                sdiff__db_bind_null(q, 7);
            text_or_null(q, 8, n->examples_json);
            if (n->confidence >= 0)
                sdiff__db_bind_double(q, 9, n->confidence);
            else
                sdiff__db_bind_null(q, 9);
        }
        rc = sdiff__db_step(q);
    }
    sdiff__db_finalize(q);
    return rc == SDIFF__DB_DONE ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot write", err);
}

int sdiff_store_put_live(struct sdiff_store *st, const struct sdiff_store_live *l,
                         struct sdiff_err *err)
{
    if (st->run_id <= 0)
        return sdiff_err_set(err, SDIFF_EINVAL, "store", "live samples need a run");
    if (st->version < 3)
        return sdiff_err_set(err, SDIFF_EINVAL, "store", "%s: live samples need schema 3",
                             st->path);
    int rc = sdiff__store_tx(st, err);
    if (rc < 0)
        return rc;
    struct sdiff_dbq *q = NULL;
    rc = sdiff__db_prepare(st->db,
                           "INSERT INTO live_samples(run_id, instance_id, side, method, route,"
                           " raw_path, status, latency_ms, error, marker, t_req_start)"
                           " VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                           0, &q);
    if (rc == SDIFF__DB_OK) {
        sdiff__db_bind_int64(q, 1, st->run_id);
        text_or_null(q, 2, st->instance_id[0] ? st->instance_id : NULL);
        sdiff__db_bind_text(q, 3, st->side[0] ? st->side : "old", -1);
        text_or_null(q, 4, l->method);
        text_or_null(q, 5, l->route);
        text_or_null(q, 6, l->raw_path);
        if (l->status > 0)
            sdiff__db_bind_int64(q, 7, l->status);
        else
            sdiff__db_bind_null(q, 7);
        if (l->latency_ms >= 0)
            sdiff__db_bind_double(q, 8, l->latency_ms);
        else
            sdiff__db_bind_null(q, 8);
        text_or_null(q, 9, l->error);
        text_or_null(q, 10, l->marker);
        sdiff__db_bind_int64(q, 11, (int64_t)l->t_req_start);
        rc = sdiff__db_step(q);
    }
    sdiff__db_finalize(q);
    return rc == SDIFF__DB_DONE ? sdiff__store_batched(st, err)
                                : sdiff__store_db_err(st, rc, "cannot write", err);
}

int sdiff_store_mark_noise(struct sdiff_store *st, int64_t result_id, struct sdiff_err *err)
{
    int rc = sdiff__store_tx(st, err);
    if (rc < 0)
        return rc;
    struct sdiff_dbq *q = NULL;
    rc = sdiff__db_prepare(st->db,
                           "UPDATE results SET class = 'equivalent', reasons = CASE WHEN"
                           " reasons IS NULL OR reasons = '' THEN 'noise' ELSE reasons ||"
                           " ',noise' END WHERE id = ? AND class = 'different'",
                           0, &q);
    if (rc == SDIFF__DB_OK) {
        sdiff__db_bind_int64(q, 1, result_id);
        rc = sdiff__db_step(q);
    }
    sdiff__db_finalize(q);
    if (rc == SDIFF__DB_DONE) {
        q = NULL;
        rc = sdiff__db_prepare(st->db, "DELETE FROM differences WHERE result_id = ?", 0, &q);
        if (rc == SDIFF__DB_OK) {
            sdiff__db_bind_int64(q, 1, result_id);
            rc = sdiff__db_step(q);
        }
        sdiff__db_finalize(q);
    }
    return rc == SDIFF__DB_DONE ? sdiff__store_batched(st, err)
                                : sdiff__store_db_err(st, rc, "cannot write", err);
}

/* ---- reading the corpus ---------------------------------------------------------------- */

/*
 * Decode one JSON string of our own header encoding (sdiff_buf_json_str) at *pp, just after
 * its opening quote, appending the bytes to out. \u00XX is the byte XX: that is how the
 * writer keeps bytes that are not UTF-8, so they come back exactly as they were captured.
 */
static int json_str_decode(const char **pp, const char *end, struct sdiff_buf *out)
{
    const char *p = *pp;
    while (p < end && *p != '"') {
        const char *run = p;
        while (p < end && *p != '"' && *p != '\\')
            p++;
        if (p > run && sdiff_buf_append(out, run, (size_t)(p - run)) < 0)
            return SDIFF_ENOMEM;
        if (p >= end || *p == '"')
            break;
        if (++p >= end)
            return SDIFF_EPARSE;
        char c = *p++, one;
        switch (c) {
        case '"': case '\\': case '/': one = c; break;
        case 'b': one = '\b'; break;
        case 'f': one = '\f'; break;
        case 'n': one = '\n'; break;
        case 'r': one = '\r'; break;
        case 't': one = '\t'; break;
        case 'u': {
            unsigned cp = 0;
            for (int i = 0; i < 4; i++, p++) {
                if (p >= end)
                    return SDIFF_EPARSE;
                char h = *p;
                unsigned d = h >= '0' && h <= '9' ? (unsigned)(h - '0')
                             : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
                             : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10) : 16u;
                if (d > 15)
                    return SDIFF_EPARSE;
                cp = cp << 4 | d;
            }
            uint8_t u[4];
            size_t n = 0;
            if (cp < 0x100) {
                u[n++] = (uint8_t)cp;
            } else if (cp < 0x800) {
                u[n++] = (uint8_t)(0xC0 | cp >> 6);
                u[n++] = (uint8_t)(0x80 | (cp & 0x3F));
            } else {
                /* never written by us; a lone surrogate is kept as its 3-byte form */
                u[n++] = (uint8_t)(0xE0 | cp >> 12);
                u[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
                u[n++] = (uint8_t)(0x80 | (cp & 0x3F));
            }
            if (sdiff_buf_append(out, u, n) < 0)
                return SDIFF_ENOMEM;
            continue;
        }
        default:
            return SDIFF_EPARSE;
        }
        if (sdiff_buf_append(out, &one, 1) < 0)
            return SDIFF_ENOMEM;
    }
    if (p >= end)
        return SDIFF_EPARSE;
    *pp = p + 1;
    return SDIFF_OK;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static int expect(const char **pp, const char *end, char c)
{
    const char *p = skip_ws(*pp, end);
    if (p >= end || *p != c)
        return SDIFF_EPARSE;
    *pp = p + 1;
    return SDIFF_OK;
}

/*
 * Headers stored as [["Name","value"],...]. Read without a general JSON parser: this runs
 * once per exchange of every corpus read, and jansson's tree cost more than the rest of it.
 */
static int headers_from_json(struct sdiff_msg *m, const char *text, struct sdiff_buf *scratch)
{
    enum { NSTACK = 64 };
    struct sdiff_hfield stackf[NSTACK], *f = stackf;
    size_t n = 0, cap = NSTACK, offs_cap = 0;
    size_t *offs = NULL; /* name, name end, value, value end offsets into scratch */
    size_t stack_offs[NSTACK * 4];
    const char *p = text ? text : "[]", *end = p + strlen(p);
    int rc;
    sdiff_buf_reset(scratch);
    offs = stack_offs;
    offs_cap = NSTACK;
    if ((rc = expect(&p, end, '[')) < 0)
        return rc;
    p = skip_ws(p, end);
    if (p < end && *p == ']') {
        p++;
    } else {
        for (;;) {
            if (n == offs_cap) {
                size_t ncap = offs_cap * 2;
                size_t *no = sdiff_malloc(ncap * 4 * sizeof *no);
                if (no == NULL) {
                    rc = SDIFF_ENOMEM;
                    goto out;
                }
                memcpy(no, offs, n * 4 * sizeof *no);
                if (offs != stack_offs)
                    sdiff_free(offs);
                offs = no;
                offs_cap = ncap;
            }
            size_t *o = offs + n * 4;
            if ((rc = expect(&p, end, '[')) < 0 || (rc = expect(&p, end, '"')) < 0)
                goto out;
            o[0] = scratch->len;
            if ((rc = json_str_decode(&p, end, scratch)) < 0)
                goto out;
            o[1] = scratch->len;
            if ((rc = sdiff_buf_append(scratch, "", 1)) < 0 || (rc = expect(&p, end, ',')) < 0 ||
                (rc = expect(&p, end, '"')) < 0)
                goto out;
            o[2] = scratch->len;
            if ((rc = json_str_decode(&p, end, scratch)) < 0)
                goto out;
            o[3] = scratch->len;
            if ((rc = sdiff_buf_append(scratch, "", 1)) < 0 || (rc = expect(&p, end, ']')) < 0)
                goto out;
            n++;
            p = skip_ws(p, end);
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if ((rc = expect(&p, end, ']')) < 0)
                goto out;
            break;
        }
    }
    if (skip_ws(p, end) != end) {
        rc = SDIFF_EPARSE;
        goto out;
    }
    if (n > cap) {
        f = sdiff_calloc(n, sizeof *f);
        if (f == NULL) {
            rc = SDIFF_ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const size_t *o = offs + i * 4;
        f[i].name = (const char *)scratch->data + o[0];
        f[i].name_len = o[1] - o[0];
        f[i].value = (const char *)scratch->data + o[2];
        f[i].value_len = o[3] - o[2];
    }
    rc = sdiff_msg_set_headers(m, f, n);
out:
    if (f != stackf)
        sdiff_free(f);
    if (offs != stack_offs)
        sdiff_free(offs);
    return rc;
}

static int copy_blob(struct sdiff_dbq *q, int col, struct sdiff_msg *m)
{
    size_t n = 0;
    const void *p = sdiff__db_blob(q, col, &n);
    m->body_len = n;
    if (n == 0)
        return SDIFF_OK;
    m->body = sdiff_malloc(n + 1);
    if (m->body == NULL)
        return SDIFF_ENOMEM;
    memcpy(m->body, p, n);
    m->body[n] = 0;
    return SDIFF_OK;
}

static const char *col_text(struct sdiff_dbq *q, int i)
{
    const char *t = sdiff__db_text(q, i);
    return t ? t : "";
}

int sdiff_store_each_exchange(struct sdiff_store *st,
                              int (*fn)(struct sdiff_exchange *ex, void *ud, struct sdiff_err *err),
                              void *ud, struct sdiff_err *err)
{
    struct sdiff_dbq *q = NULL;
    int rc = sdiff__db_prepare(st->db,
        "SELECT id, conn_id, seq, client, server, method, target, req_version, req_headers,"
        " req_body, req_body_seen, req_chunked, status, reason, resp_version, resp_headers,"
        " resp_body, resp_body_seen, resp_chunked, t_req_start, t_req_end, t_resp_start,"
        " t_resp_end, state, note FROM exchanges ORDER BY id", SDIFF__DB_SCAN, &q);
    if (rc != SDIFF__DB_OK)
        return sdiff__store_db_err(st, rc, "cannot read the corpus", err);
    int out = SDIFF_OK;
    struct sdiff_buf scratch;
    sdiff_buf_init(&scratch, 1u << 26); /* header blocks are far smaller */
    while (out >= 0 && (rc = sdiff__db_step(q)) == SDIFF__DB_ROW) {
        struct sdiff_exchange *ex = sdiff_exchange_new();
        if (ex == NULL) {
            out = sdiff_err_set(err, SDIFF_ENOMEM, "store", "out of memory");
            break;
        }
        ex->id = (uint64_t)sdiff__db_int64(q, 0);
        ex->conn_id = (uint64_t)sdiff__db_int64(q, 1);
        ex->seq = (uint32_t)sdiff__db_int64(q, 2);
        snprintf(ex->client, sizeof ex->client, "%s", col_text(q, 3));
        snprintf(ex->server, sizeof ex->server, "%s", col_text(q, 4));
        struct sdiff_msg *rq = &ex->req, *rs = &ex->resp;
        /* start-line strings first: set_headers copies them into the header block */
        rq->method = (char *)col_text(q, 5);
        rq->target = (char *)col_text(q, 6);
        rq->reason = (char *)"";
        int r1 = headers_from_json(rq, sdiff__db_text(q, 8), &scratch);
        rq->present = !sdiff__db_null(q, 5);
        rq->version_minor = (int)sdiff__db_int64(q, 7);
        int r2 = copy_blob(q, 9, rq);
        rq->body_seen = (uint64_t)sdiff__db_int64(q, 10);
        rq->chunked = (int)sdiff__db_int64(q, 11);
        rq->complete = 1;
        rs->method = (char *)"";
        rs->target = (char *)"";
        rs->reason = (char *)col_text(q, 13);
        int r3 = headers_from_json(rs, sdiff__db_text(q, 15), &scratch);
        rs->present = !sdiff__db_null(q, 12);
        rs->status = (int)sdiff__db_int64(q, 12);
        rs->version_minor = (int)sdiff__db_int64(q, 14);
        int r4 = copy_blob(q, 16, rs);
        rs->body_seen = (uint64_t)sdiff__db_int64(q, 17);
        rs->chunked = (int)sdiff__db_int64(q, 18);
        rs->complete = rs->present;
        ex->t_req_start = (uint64_t)sdiff__db_int64(q, 19);
        ex->t_req_end = (uint64_t)sdiff__db_int64(q, 20);
        ex->t_resp_start = (uint64_t)sdiff__db_int64(q, 21);
        ex->t_resp_end = (uint64_t)sdiff__db_int64(q, 22);
        int state = sdiff_exchange_state_parse(col_text(q, 23));
        ex->state = state < 0 ? SDIFF_EX_UNPARSABLE : (enum sdiff_exchange_state)state;
        snprintf(ex->note, sizeof ex->note, "%s", col_text(q, 24));
        if (r1 < 0 || r2 < 0 || r3 < 0 || r4 < 0) {
            sdiff_exchange_free(ex);
            out = sdiff_err_set(err, r1 == SDIFF_EPARSE || r3 == SDIFF_EPARSE ? SDIFF_EDB
                                                                               : SDIFF_ENOMEM,
                                "store", "%s: exchange %lld: unreadable headers", st->path,
                                (long long)sdiff__db_int64(q, 0));
            break;
        }
        out = fn(ex, ud, err);
    }
    sdiff_buf_dispose(&scratch);
    sdiff__db_finalize(q);
    if (out < 0)
        return out;
    return rc == SDIFF__DB_DONE ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot read", err);
}
