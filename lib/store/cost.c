/*
 * cost.c - the cost_samples table: what each side's processes used, sample by sample, as a
 * run's cost sampler writes it (its own store handle, one short transaction per round) and
 * as reports read it back. Rows hold differences from the side's previous sample, so the
 * rows of any window add up without knowing where a counter started.
 */
#include "store/store_int.h"

#include <string.h>

int sdiff_store_put_cost_samples(struct sdiff_store *st, int64_t run_id, const char *instance_id,
                                 const struct sdiff_store_cost_sample *s, size_t n,
                                 struct sdiff_err *err)
{
    if (SDIFF_NEVER(st == NULL || (s == NULL && n > 0)))
        return SDIFF_EINVAL;
    if (st->version < 3)
        return sdiff_err_set(err, SDIFF_EDB, "store", "%s: schema version %d has no cost samples",
                             st->path, st->version);
    int rc = sdiff_store_commit(st, err);
    if (rc < 0 || n == 0)
        return rc;
    rc = sdiff__store_tx(st, err);
    if (rc < 0)
        return rc;
    struct sdiff_dbq *q = NULL;
    int drc = sdiff__db_prepare(st->db,
                                "INSERT INTO cost_samples(run_id, instance_id, t_us, target,"
                                " requests, cpu_ms, rss_bytes) VALUES(?,?,?,?,?,?,?)",
                                0, &q);
    const char *inst = instance_id && instance_id[0] ? instance_id
                       : st->instance_id[0]          ? st->instance_id
                                                     : NULL;
    for (size_t i = 0; drc == SDIFF__DB_OK && i < n; i++) {
        if (i > 0)
            sdiff__db_reset(q);
        sdiff__db_bind_int64(q, 1, run_id);
        if (inst)
            sdiff__db_bind_text(q, 2, inst, -1);
        else
            sdiff__db_bind_null(q, 2);
        sdiff__db_bind_int64(q, 3, (int64_t)s[i].t_us);
        sdiff__db_bind_text(q, 4, s[i].target, -1);
        sdiff__db_bind_int64(q, 5, (int64_t)s[i].requests);
        sdiff__db_bind_double(q, 6, s[i].cpu_ms);
        sdiff__db_bind_int64(q, 7, (int64_t)s[i].rss_bytes);
        drc = sdiff__db_step(q);
        drc = drc == SDIFF__DB_DONE ? SDIFF__DB_OK : drc;
    }
    sdiff__db_finalize(q);
    if (drc != SDIFF__DB_OK) {
        rc = sdiff__store_db_err(st, drc, "cannot write", err);
        sdiff__db_rollback(st->db);
        st->in_tx = 0;
        return rc;
    }
    return sdiff_store_commit(st, err);
}

int sdiff_store_each_cost_sample(struct sdiff_store *st, int64_t run_id, uint64_t since_us,
                                 int (*fn)(const struct sdiff_store_cost_sample *s, void *ud,
                                           struct sdiff_err *err),
                                 void *ud, struct sdiff_err *err)
{
    if (SDIFF_NEVER(st == NULL || fn == NULL))
        return SDIFF_EINVAL;
    if (st->version < 3)
        return SDIFF_OK; /* no table: never sampled */
    struct sdiff_dbq *q = NULL;
    int rc = sdiff__db_prepare(st->db,
                               "SELECT target, t_us, requests, cpu_ms, rss_bytes, instance_id"
                               " FROM cost_samples WHERE run_id = ?1 AND (?2 = 0 OR t_us >= ?2)"
                               " ORDER BY target, instance_id, t_us, id",
                               0, &q);
    if (rc != SDIFF__DB_OK) {
        sdiff__db_finalize(q);
        return sdiff__store_db_err(st, rc, "cannot read", err);
    }
    sdiff__db_bind_int64(q, 1, run_id);
    sdiff__db_bind_int64(q, 2, (int64_t)since_us);
    int out = SDIFF_OK;
    while (out == SDIFF_OK && (rc = sdiff__db_step(q)) == SDIFF__DB_ROW) {
        const char *target = sdiff__db_text(q, 0);
        int64_t t = sdiff__db_int64(q, 1), req = sdiff__db_int64(q, 2);
        int64_t rss = sdiff__db_int64(q, 4);
        struct sdiff_store_cost_sample s = {
            .target = target ? target : "",
            .t_us = t > 0 ? (uint64_t)t : 0,
            .requests = req > 0 ? (uint64_t)req : 0,
            .cpu_ms = sdiff__db_null(q, 3) ? 0 : sdiff__db_double(q, 3),
            .rss_bytes = rss > 0 ? (uint64_t)rss : 0,
            .instance_id = sdiff__db_text(q, 5),
        };
        out = fn(&s, ud, err);
    }
    sdiff__db_finalize(q);
    if (out < 0)
        return out;
    if (out == SDIFF_END)
        return SDIFF_OK;
    return rc == SDIFF__DB_DONE ? SDIFF_OK : sdiff__store_db_err(st, rc, "cannot read", err);
}
