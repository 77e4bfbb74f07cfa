/*
 * prune.c - removing old runs: everything a run wrote (results, answers, differences,
 * batches, instances, cost and live samples, its preset) goes with it in one transaction,
 * so a pruned database never holds half a run. A run still running is never removed as a
 * whole: its instances may be writing. What is not a run's stays: captured exchanges (the
 * corpus), learned noise and waivers. SQLite files are then compacted (VACUUM).
 */
#include "shadowdiff/store.h"

#include <stdio.h>
#include <string.h>

#include "shadowdiff/diff.h"
#include "store/db.h"
#include "store/store_int.h"

/* The statements that remove one run, children first. */
static const char *const DELETE_RUN[] = {
    "DELETE FROM differences WHERE result_id IN (SELECT id FROM results WHERE run_id = ?1)",
    "DELETE FROM responses WHERE result_id IN (SELECT id FROM results WHERE run_id = ?1)",
    "DELETE FROM results WHERE run_id = ?1",
    "DELETE FROM batches WHERE run_id = ?1",
    "DELETE FROM instances WHERE run_id = ?1",
    "DELETE FROM cost_samples WHERE run_id = ?1",
    "DELETE FROM live_samples WHERE run_id = ?1",
    "DELETE FROM meta WHERE name = ?1", /* the run's preset: bound as its name */
    "DELETE FROM runs WHERE id = ?1",
};

/* The runs to remove, oldest first, into ids (at most cap); *n their number. */
static int victims(struct sdiff_store *st, const struct sdiff_store_prune_opts *o, int64_t *ids,
                   size_t cap, size_t *n, uint64_t *running)
{
    struct sdiff_dbq *q = NULL;
    /* newest first: the first `keep` of them stay */
    int rc = sdiff__db_prepare(st->db,
                               "SELECT id, coalesce(state, 'finished'), coalesce(last_activity,"
                               " finished_at, started_at, '') FROM runs ORDER BY id DESC",
                               0, &q);
    *n = 0;
    *running = 0;
    uint64_t seen = 0;
    while (rc == SDIFF__DB_OK && (rc = sdiff__db_step(q)) == SDIFF__DB_ROW) {
        rc = SDIFF__DB_OK;
        int64_t id = sdiff__db_int64(q, 0);
        const char *state = sdiff__db_text(q, 1), *last = sdiff__db_text(q, 2);
        if (state && strcmp(state, "running") == 0)
            (*running)++;
        else if ((o->keep == 0 || ++seen > o->keep) &&
                 (o->older_than == NULL || (last && strcmp(last, o->older_than) < 0)) &&
                 *n < cap)
            ids[(*n)++] = id;
    }
    sdiff__db_finalize(q);
    return rc == SDIFF__DB_DONE ? SDIFF__DB_OK : rc;
}

int sdiff_store_prune(struct sdiff_store *st, const struct sdiff_store_prune_opts *o,
                      struct sdiff_store_prune_stats *out, struct sdiff_err *err)
{
    memset(out, 0, sizeof *out);
    if (SDIFF_NEVER(st == NULL || o == NULL) || (o->keep == 0 && o->older_than == NULL))
        return sdiff_err_set(err, SDIFF_EINVAL, "store", "prune needs --keep or --older-than");
    int rc = sdiff_store_commit(st, err);
    if (rc < 0)
        return rc;
    rc = sdiff__db_begin(st->db, 1);
    if (rc != SDIFF__DB_OK)
        return sdiff__store_db_err(st, rc, "cannot prune", err);
    size_t cap = 1u << 16, n = 0;
    int64_t *ids = sdiff_calloc(cap, sizeof *ids);
    if (ids == NULL) {
        sdiff__db_rollback(st->db);
        return sdiff_err_set(err, SDIFF_ENOMEM, "store", "out of memory");
    }
    rc = victims(st, o, ids, cap, &n, &out->running_kept);
    /* the results first, counted, then everything else of each run */
    struct sdiff_dbq *count = NULL;
    if (rc == SDIFF__DB_OK)
        rc = sdiff__db_prepare(st->db, "SELECT count(*) FROM results WHERE run_id = ?", 0,
                               &count);
    for (size_t i = 0; rc == SDIFF__DB_OK && i < n; i++) {
        sdiff__db_bind_int64(count, 1, ids[i]);
        rc = sdiff__db_step(count);
        if (rc == SDIFF__DB_ROW) {
            out->results += (uint64_t)sdiff__db_int64(count, 0);
            rc = SDIFF__DB_OK;
        }
        sdiff__db_reset(count);
        for (size_t k = 0; !o->dry_run && rc == SDIFF__DB_OK &&
                           k < sizeof DELETE_RUN / sizeof DELETE_RUN[0];
             k++) {
            struct sdiff_dbq *d = NULL;
            rc = sdiff__db_prepare(st->db, DELETE_RUN[k], 0, &d);
            if (rc == SDIFF__DB_OK && strstr(DELETE_RUN[k], "meta")) {
                char name[64];
                snprintf(name, sizeof name, SDIFF_PRESET_META_FMT, (long long)ids[i]);
                sdiff__db_bind_text(d, 1, name, -1);
                rc = sdiff__db_step(d);
                rc = rc == SDIFF__DB_DONE ? SDIFF__DB_OK : rc;
            } else if (rc == SDIFF__DB_OK) {
                sdiff__db_bind_int64(d, 1, ids[i]);
                rc = sdiff__db_step(d);
                rc = rc == SDIFF__DB_DONE ? SDIFF__DB_OK : rc;
            }
            sdiff__db_finalize(d);
        }
        out->runs += rc == SDIFF__DB_OK;
    }
    sdiff__db_finalize(count);
    sdiff_free(ids);
    if (rc == SDIFF__DB_OK && !o->dry_run)
        rc = sdiff__db_commit(st->db);
    else if (rc == SDIFF__DB_OK)
        sdiff__db_rollback(st->db);
    if (rc != SDIFF__DB_OK) {
        rc = sdiff__store_db_err(st, rc, "cannot prune", err);
        sdiff__db_rollback(st->db);
        memset(out, 0, sizeof *out);
        return rc;
    }
    /* give the space back to the file system (SQLite; PostgreSQL's autovacuum does it) */
    if (!o->dry_run && out->runs && !st->pg) {
        rc = sdiff__db_exec(st->db, "VACUUM");
        if (rc != SDIFF__DB_OK)
            return sdiff__store_db_err(st, rc, "pruned, but cannot compact", err);
    }
    return SDIFF_OK;
}
