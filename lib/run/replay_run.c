/*
 * replay_run.c - `shadowdiff replay`: a corpus read one exchange at a time through a judge.
 *
 * At most twice the concurrency is in flight, so memory stays bounded whatever the corpus
 * size; after a stop, what is in flight gets a drain deadline.
 */
#include "shadowdiff/run.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct driver {
    struct sdiff_judge *judge;
    volatile sig_atomic_t *stop;
    size_t cap;
};

static int feed(struct sdiff_exchange *ex, void *ud, struct sdiff_err *err)
{
    struct driver *d = ud;
    int stopped = d->stop && *d->stop;
    int rc = sdiff_judge_submit(d->judge, ex, stopped, ex->t_req_start, err);
    while (rc >= 0 && sdiff_judge_inflight(d->judge) >= d->cap)
        rc = sdiff_judge_poll(d->judge, 100, err);
    return rc;
}

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

int sdiff_run_replay(const struct sdiff_replay_run_opts *o, volatile sig_atomic_t *stop,
                     struct sdiff_replay_run_stats *st, struct sdiff_err *err)
{
    struct sdiff_store *corpus = NULL, *db = NULL;
    struct sdiff_rules *own_rules = NULL;
    struct driver d = {.stop = stop};
    struct sdiff_judge_opts jo = o->judge;
    int rc;

    memset(st, 0, sizeof *st);
    struct sdiff_store_opts copts = o->store;
    copts.must_exist = 1;
    rc = sdiff_store_open(&corpus, o->corpus, &copts, err);
    if (rc < 0)
        goto out;
    jo.copy_exchanges = strcmp(o->corpus, o->db) != 0;
    if (jo.copy_exchanges) {
        rc = sdiff_store_open(&db, o->db, &o->store, err);
        if (rc < 0)
            goto out;
    }
    jo.db = jo.copy_exchanges ? db : corpus;
    if (jo.rules == NULL) {
        rc = sdiff_rules_load(&own_rules, NULL, err);
        if (rc < 0)
            goto out;
        jo.rules = own_rules;
    }
    struct sdiff_run_info info = {.kind = "replay", .corpus = o->corpus,
                                  .candidate = jo.candidate, .secondary = jo.secondary,
                                  .primary = jo.primary, .config = o->config_path};
    rc = sdiff_store_begin_run(jo.db, &info, &st->run_id, err);
    if (rc >= 0 && jo.copy_exchanges)
        rc = sdiff_store_begin_capture(jo.db, o->corpus, "replay (copied corpus)", NULL, err);
    if (rc >= 0)
        rc = sdiff_judge_new(&d.judge, &jo, st, err);
    if (rc < 0)
        goto out;
    d.cap = (jo.replay.concurrency ? jo.replay.concurrency : 16) * 2;
    rc = sdiff_store_each_exchange(corpus, feed, &d, err);

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double drain = o->drain_s > 0 ? o->drain_s : 10;
    while (rc >= 0 && sdiff_judge_inflight(d.judge) > 0) {
        if (stop && *stop && since(&t0) > drain) {
            rc = sdiff_judge_abandon(d.judge, "no answer before the drain deadline", err);
            break;
        }
        rc = sdiff_judge_poll(d.judge, 100, err);
    }
    struct sdiff_buf unused;
    sdiff_buf_init(&unused, 1u << 16);
    st->unused_rules = sdiff_rules_unused(jo.rules, &unused);
    sdiff_buf_dispose(&unused);

    struct sdiff_buf sum;
    struct sdiff_err serr = {0};
    sdiff_buf_init(&sum, 1u << 16);
    sdiff_replay_run_summary_json(st, &sum);
    int erc = sdiff_store_end_run(jo.db, st->run_id, (const char *)sum.data, &serr);
    sdiff_buf_dispose(&sum);
    if (rc >= 0 && erc < 0) {
        rc = erc;
        sdiff_err_set(err, erc, serr.where, "%s", serr.msg);
    }
out:
    sdiff_judge_free(d.judge);
    sdiff_rules_free(own_rules);
    sdiff_store_close(db);
    sdiff_store_close(corpus);
    return rc;
}

int sdiff_replay_run_summary(const struct sdiff_replay_run_stats *st, struct sdiff_buf *b)
{
    int rc = sdiff_buf_printf(
        b,
        "%" PRIu64 " exchanges: %" PRIu64 " identical, %" PRIu64 " equivalent, %" PRIu64
        " different, %" PRIu64 " error, %" PRIu64 " skipped",
        st->exchanges, st->cls[SDIFF_CLASS_IDENTICAL], st->cls[SDIFF_CLASS_EQUIVALENT],
        st->cls[SDIFF_CLASS_DIFFERENT], st->cls[SDIFF_CLASS_ERROR],
        st->cls[SDIFF_CLASS_SKIPPED]);
    const struct {
        const char *name;
        uint64_t n;
    } skips[] = {
        {"unsafe method", st->skip_unsafe}, {"incomplete capture", st->skip_incomplete},
        {"sampled out", st->skip_sampled},  {"route cap", st->skip_route_cap},
        {"queue full", st->skip_busy},      {"stopped", st->skip_stopped},
    };
    int first = 1;
    for (size_t i = 0; rc >= 0 && i < sizeof skips / sizeof skips[0]; i++) {
        if (!skips[i].n)
            continue;
        rc = sdiff_buf_printf(b, "%s%" PRIu64 " %s", first ? " (" : ", ", skips[i].n,
                              skips[i].name);
        first = 0;
    }
    if (rc >= 0 && !first)
        rc = sdiff_buf_puts(b, ")");
    for (int i = 1; rc >= 0 && i < SDIFF_REPLAY__COUNT; i++)
        if (st->errors[i])
            rc = sdiff_buf_printf(b, "; %" PRIu64 " candidate %s", st->errors[i],
                                  sdiff_replay_error_str((enum sdiff_replay_error)i));
    if (rc >= 0 && st->noise_learned)
        rc = sdiff_buf_printf(b, "; %" PRIu64 " noise fields learned", st->noise_learned);
    return rc;
}

int sdiff_replay_run_summary_json(const struct sdiff_replay_run_stats *st, struct sdiff_buf *b)
{
    int rc = sdiff_buf_printf(b, "{\"exchanges\":%" PRIu64, st->exchanges);
    for (int i = 0; rc >= 0 && i < SDIFF_CLASS__COUNT; i++)
        rc = sdiff_buf_printf(b, ",\"%s\":%" PRIu64, sdiff_class_str((enum sdiff_class)i),
                              st->cls[i]);
    if (rc >= 0)
        rc = sdiff_buf_printf(b,
                              ",\"skipped_by_reason\":{\"unsafe_method\":%" PRIu64
                              ",\"incomplete_capture\":%" PRIu64 ",\"sampled_out\":%" PRIu64
                              ",\"route_cap\":%" PRIu64 ",\"queue_full\":%" PRIu64
                              ",\"stopped\":%" PRIu64 "}",
                              st->skip_unsafe, st->skip_incomplete, st->skip_sampled,
                              st->skip_route_cap, st->skip_busy, st->skip_stopped);
    rc = rc < 0 ? rc : sdiff_buf_puts(b, ",\"candidate_errors\":{");
    for (int i = 1, first = 1; rc >= 0 && i < SDIFF_REPLAY__COUNT; i++) {
        if (!st->errors[i])
            continue;
        rc = sdiff_buf_printf(b, "%s\"%s\":%" PRIu64, first ? "" : ",",
                              sdiff_replay_error_str((enum sdiff_replay_error)i), st->errors[i]);
        first = 0;
    }
    if (rc >= 0)
        rc = sdiff_buf_printf(b, "},\"noise_learned\":%" PRIu64 ",\"unused_rules\":%zu}",
                              st->noise_learned, st->unused_rules);
    return rc;
}
