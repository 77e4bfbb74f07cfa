/*
 * replay_run.c - `shadowdiff replay`: a corpus through a judge, on three threads.
 *
 * A reader thread decodes the corpus into a bounded queue, the main thread keeps the
 * replays going, and the judge's worker compares and stores the results: the replays never
 * wait on SQLite or on a diff. At most twice the concurrency is in flight and the queues are
 * bounded, so memory stays bounded whatever the corpus size; after a stop, what is in flight
 * gets a drain deadline.
 */
#include "shadowdiff/run.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "run/cost_int.h"
#include "run/queue_int.h"
#include "run/run_int.h"

struct reader {
    struct sdiff_store *corpus;
    struct sdiff_queue q;
    struct sdiff_judge *judge;
    int rc;
    int gone;              /* the main thread stopped taking exchanges */
    struct sdiff_err err;
    pthread_t thread;
};

static int reader_push(struct sdiff_exchange *ex, void *ud, struct sdiff_err *err)
{
    struct reader *r = ud;
    (void)err;
    int was_empty = sdiff_queue_push(&r->q, ex);
    if (was_empty < 0) {
        sdiff_exchange_free(ex);
        r->gone = 1;
        return SDIFF_ERR;
    }
    if (was_empty)
        sdiff_judge_wakeup(r->judge); /* the main thread may be waiting in a poll */
    return SDIFF_OK;
}

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    r->rc = sdiff_store_each_exchange(r->corpus, reader_push, r, &r->err);
    if (r->gone)
        r->rc = SDIFF_OK;
    sdiff_queue_close(&r->q);
    sdiff_judge_wakeup(r->judge);
    return NULL;
}

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Main thread: keep up to cap exchanges in flight while the reader has more. */
static int pump(struct sdiff_judge *judge, struct reader *rd, size_t cap,
                volatile sig_atomic_t *stop, struct sdiff__ticker *tk, struct sdiff_err *err)
{
    int rc = SDIFF_OK;
    for (;;) {
        struct sdiff_exchange *ex;
        while (rc >= 0 && sdiff_judge_inflight(judge) < cap &&
               (ex = sdiff_queue_pop(&rd->q, 0)) != NULL) {
            rc = sdiff_judge_submit(judge, ex, stop && *stop, ex->t_req_start, err);
            tk->submitted++;
        }
        sdiff__ticker_tick(tk, sdiff_judge_inflight(judge), 0);
        if (rc < 0 || sdiff_queue_done(&rd->q))
            return rc;
        if (sdiff_judge_inflight(judge) == 0) {
            /* nothing in flight: wait for the reader itself */
            ex = sdiff_queue_pop(&rd->q, 1);
            if (ex != NULL) {
                rc = sdiff_judge_submit(judge, ex, stop && *stop, ex->t_req_start, err);
                tk->submitted++;
            }
            continue;
        }
        rc = sdiff_judge_poll(judge, 100, err);
    }
}

int sdiff_run_replay(const struct sdiff_replay_run_opts *o, volatile sig_atomic_t *stop,
                     struct sdiff_replay_run_stats *st, struct sdiff_err *err)
{
    struct sdiff_store *corpus = NULL, *db = NULL;
    struct sdiff_rules *own_rules = NULL;
    struct sdiff_judge *judge = NULL;
    struct sdiff__cost *cost = NULL;
    struct sdiff_judge_opts jo = o->judge;
    struct reader rd = {0};
    struct sdiff__ticker tk = {0};
    int reading = 0, rc;

    memset(st, 0, sizeof *st);
    struct sdiff_store_opts copts = o->store;
    copts.must_exist = 1;
    rc = sdiff_store_open(&corpus, o->corpus, &copts, err);
    if (rc < 0)
        goto out;
    /* A handle of its own for the worker even when the corpus is the results database: the
     * reader thread reads the corpus while the worker writes. */
    jo.copy_exchanges = strcmp(o->corpus, o->db) != 0;
    /* the noise capture learned, kept in the corpus (the results database's own is loaded
     * by the judge) */
    if (jo.copy_exchanges)
        jo.noise_from = corpus;
    rc = sdiff_store_open(&db, o->db, &o->store, err);
    if (rc < 0)
        goto out;
    jo.db = db;
    if (jo.rules == NULL) {
        rc = sdiff_rules_load(&own_rules, NULL, err);
        if (rc < 0)
            goto out;
        jo.rules = own_rules;
    }
    jo.threaded = 1;
    char marker_line[SDIFF_REPLAY_MARKER_MAX];
    const char *marker_token = NULL;
    rc = sdiff__run_marker(&jo, marker_line, &marker_token, err);
    if (rc < 0)
        goto out;
    struct sdiff_run_info info = {.kind = "replay", .corpus = o->corpus,
                                  .candidate = jo.candidate, .secondary = jo.secondary,
                                  .primary = jo.primary, .config = o->config_path,
                                  .marker = marker_token, .name = o->run_name,
                                  .labels_json = o->labels_json};
    rc = sdiff_store_begin_run(jo.db, &info, &st->run_id, err);
    if (rc >= 0 && jo.copy_exchanges)
        rc = sdiff_store_begin_capture(jo.db, o->corpus, "replay (copied corpus)", NULL, err);
    if (rc >= 0)
        rc = sdiff_store_commit(jo.db, err);
    /* before the judge is made: the sampler counts the answers through jo's on_result */
    if (rc >= 0)
        rc = sdiff__cost_start(&cost, &o->cost, o->db, &o->store, st->run_id,
                               sdiff_store_instance_id(jo.db), jo.primary != NULL, &jo, err);
    int64_t total = 0;
    if (rc >= 0 && o->progress)
        rc = sdiff_store_count_exchanges(corpus, 0, &total, err);
    if (rc >= 0) {
        sdiff__ticker_start(&tk, o->progress, o->progress_ud, o->progress_s,
                            total > 0 ? (uint64_t)total : 0, &jo);
        rc = sdiff_judge_new(&judge, &jo, st, err);
    }
    if (rc < 0)
        goto out;
    size_t cap = (jo.replay.concurrency ? jo.replay.concurrency : 16) * 2;
    rd.corpus = corpus;
    rd.judge = judge;
    rc = sdiff_queue_init(&rd.q, cap * 4, 1);
    if (rc >= 0 && pthread_create(&rd.thread, NULL, reader_main, &rd) != 0)
        rc = SDIFF_ENOMEM;
    if (rc < 0) {
        rc = sdiff_err_set(err, rc, "replay", "cannot start the corpus reader");
        goto out;
    }
    reading = 1;
    rc = pump(judge, &rd, cap, stop, &tk, err);

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double drain = o->drain_s > 0 ? o->drain_s : 10;
    while (rc >= 0 && sdiff_judge_inflight(judge) > 0) {
        if (stop && *stop && since(&t0) > drain) {
            rc = sdiff_judge_abandon(judge, "no answer before the drain deadline", err);
            break;
        }
        rc = sdiff_judge_poll(judge, 100, err);
        sdiff__ticker_tick(&tk, sdiff_judge_inflight(judge), 0);
    }
    /* stop the reader (if we stopped early) before anything else touches the corpus */
    sdiff_queue_close(&rd.q);
    pthread_join(rd.thread, NULL);
    reading = 0;
    for (struct sdiff_exchange *ex; (ex = sdiff_queue_pop(&rd.q, 0)) != NULL;)
        sdiff_exchange_free(ex);
    if (rc >= 0 && rd.rc < 0)
        rc = sdiff_err_set(err, rd.rc, rd.err.where, "%s", rd.err.msg);
    int frc = sdiff_judge_finish(judge, rc >= 0 ? err : &(struct sdiff_err){0});
    if (rc >= 0)
        rc = frc;
    sdiff__ticker_tick(&tk, 0, 1);
    /* the writer's last batch may still be open: the end's sample must not wait on it
     * (a failure here is the run's end's to report) */
    if (cost && jo.db)
        sdiff_store_commit(jo.db, &(struct sdiff_err){0});
    st->cost_samples = sdiff__cost_stop(cost); /* the end's sample, every answer counted */
    cost = NULL;

    struct sdiff_buf unused;
    sdiff_buf_init(&unused, 1u << 16);
    st->unused_rules = sdiff_rules_unused(jo.rules, &unused);
    sdiff_buf_dispose(&unused);

out:
    if (reading) {
        sdiff_queue_close(&rd.q);
        pthread_join(rd.thread, NULL);
    }
    if (rd.q.ring) {
        for (struct sdiff_exchange *ex; (ex = sdiff_queue_pop(&rd.q, 0)) != NULL;)
            sdiff_exchange_free(ex);
        sdiff_queue_dispose(&rd.q);
    }
    sdiff_judge_free(judge);
    sdiff__cost_stop(cost);
    if (o->cost.price_model)
        snprintf(st->price_model, sizeof st->price_model, "%s", o->cost.price_model);
    /* every begun run ends, failed ones too: a run left running would stay the default */
    if (db && st->run_id > 0) {
        struct sdiff_err serr = {0};
        int erc = sdiff__run_finish(db, rc, stop && *stop, 0, st, &serr);
        if (rc >= 0 && erc < 0)
            rc = sdiff_err_set(err, erc, serr.where, "%s", serr.msg);
    }
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
        {"unsafe method", st->skip_unsafe},     {"method override", st->skip_override},
        {"incomplete capture", st->skip_incomplete},
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
    if (rc >= 0 && st->forged_marker)
        rc = sdiff_buf_printf(b, "; %" PRIu64 " with a forged marker", st->forged_marker);
    if (rc >= 0)
        rc = sdiff_buf_printf(b, "; marker %s", st->marker[0] ? st->marker : "none");
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
                              ",\"method_override\":%" PRIu64
                              ",\"incomplete_capture\":%" PRIu64 ",\"sampled_out\":%" PRIu64
                              ",\"route_cap\":%" PRIu64 ",\"queue_full\":%" PRIu64
                              ",\"stopped\":%" PRIu64 "}",
                              st->skip_unsafe, st->skip_override, st->skip_incomplete,
                              st->skip_sampled,
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
        rc = sdiff_buf_printf(b,
                              "},\"noise_learned\":%" PRIu64 ",\"unused_rules\":%zu"
                              ",\"forged_marker\":%" PRIu64,
                              st->noise_learned, st->unused_rules, st->forged_marker);
    /* the price model the run was given, for its report (cost.h) */
    if (rc >= 0 && st->price_model[0])
        rc = sdiff_buf_printf(b, ",\"price_model\":\"%s\",\"cost_samples\":%" PRIu64,
                              st->price_model, st->cost_samples);
    if (rc >= 0)
        rc = sdiff_buf_puts(b, "}");
    return rc;
}
