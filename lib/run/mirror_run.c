/*
 * mirror_run.c - the sidecar: a capture thread feeding a bounded queue, the main thread
 * replaying what comes out of it, and the judge's threads comparing and storing the answers
 * (its writer commits at least every second).
 *
 * Memory bound: queue_cap exchanges queued + max_inflight in flight + the judge's queues
 * (8 x --concurrency records, see judge.c), each at most two bodies of limits.max_body plus
 * what the replay keeps (replay.max_body per target), plus the reassembler's own caps
 * (max_total_ooo) - see README "Memory".
 */
#include "shadowdiff/run.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "shadowdiff/metrics.h"
#include "run/cost_int.h"
#include "run/mirror_int.h"
#include "run/run_int.h"

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t not_full;
    struct sdiff_exchange **ring;
    size_t cap, head, len, peak;
    uint64_t drops, own;
    int blocking;          /* file source: wait for room instead of dropping */
    int closed;            /* the consumer is gone: the producer must not wait */
    int done;              /* the capture thread has finished */
    const char *marker;    /* the marker line our replays carry; "" when none */
    struct sdiff__cost *cost; /* counts the captured requests: what the primary served */
};

struct cap_thread {
    struct sdiff_capture_run_opts capture; /* the caller's, plus our stats hook */
    void (*user_started)(int live, const char *filter, void *ud); /* the caller's */
    atomic_int open;       /* the source is open and filtered */
    struct mirror_metrics *mm;
    struct queue *q;
    volatile sig_atomic_t *stop;
    struct sdiff_capture_run_stats st;
    struct sdiff_err err;
    int rc;
};

/*
 * Readiness (/readyz) needs to know whether the store answers now, not at the next commit:
 * it is pinged every second on a thread of its own, so a server that does not answer never
 * holds up the replays.
 */
struct prober {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    const char *db;
    int quit;
    int ok;                /* the last ping answered (the open just did, before the first) */
    char why[200];
};

static void *probe_main(void *arg)
{
    struct prober *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->quit) {
        pthread_mutex_unlock(&p->mu);
        struct sdiff_err e = {0};
        int rc = sdiff_store_ping(p->db, &e);
        pthread_mutex_lock(&p->mu);
        p->ok = rc >= 0;
        snprintf(p->why, sizeof p->why, "%s", rc >= 0 ? "" : e.msg);
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += 1;
        if (!p->quit)
            pthread_cond_timedwait(&p->wake, &p->mu, &t);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t wall_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

/* Only this run's token marks our own replays: a marker anyone can send is judged. */
static int is_own_replay(const struct queue *q, const struct sdiff_exchange *ex)
{
    return ex->req.present &&
           sdiff_replay_marker_check(&ex->req, q->marker) == SDIFF_REPLAY_MARK_OURS;
}

/* Capture-thread side: never blocks on a live source. */
static int push(struct sdiff_exchange *ex, void *ud, struct sdiff_err *err)
{
    struct cap_thread *t = ud;
    struct queue *q = t->q;
    (void)err;
    pthread_mutex_lock(&q->mu);
    if (is_own_replay(q, ex)) {
        q->own++;
        pthread_mutex_unlock(&q->mu);
        sdiff_exchange_free(ex);
        return SDIFF_OK;
    }
    /* the primary served it, whether it is judged, skipped or dropped here */
    sdiff__cost_served(q->cost, SDIFF__COST_PRIMARY, 1);
    while (q->blocking && q->len == q->cap && !q->closed && !(t->stop && *t->stop))
        pthread_cond_wait(&q->not_full, &q->mu);
    if (q->len == q->cap || q->closed) {
        q->drops++;
        pthread_mutex_unlock(&q->mu);
        sdiff_exchange_free(ex);
        return SDIFF_OK;
    }
    q->ring[(q->head + q->len) % q->cap] = ex;
    q->len++;
    if (q->len > q->peak)
        q->peak = q->len;
    pthread_mutex_unlock(&q->mu);
    return SDIFF_OK;
}

static struct sdiff_exchange *pop(struct queue *q)
{
    struct sdiff_exchange *ex = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->len > 0) {
        ex = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->mu);
    return ex;
}

static void *capture_main(void *arg)
{
    struct cap_thread *t = arg;
    t->rc = sdiff_run_capture(&t->capture, push, t, t->stop, &t->st, &t->err);
    pthread_mutex_lock(&t->q->mu);
    t->q->done = 1;
    pthread_mutex_unlock(&t->q->mu);
    return NULL;
}

static void on_capture_started(int live, const char *filter, void *ud)
{
    struct cap_thread *t = ud;
    atomic_store(&t->open, 1);
    if (t->user_started)
        t->user_started(live, filter, NULL);
}

/* Ready: capturing, not stopping, and the store answers. */
static void say_ready(struct sdiff_metrics *server, struct cap_thread *ct, struct queue *q,
                      struct prober *p, int stopping)
{
    pthread_mutex_lock(&q->mu);
    int done = q->done;
    pthread_mutex_unlock(&q->mu);
    char why[300];
    int ready = 0;
    pthread_mutex_lock(&p->mu);
    if (stopping)
        snprintf(why, sizeof why, "stopping (draining)");
    else if (!atomic_load(&ct->open))
        snprintf(why, sizeof why, "capture not open yet");
    else if (done)
        snprintf(why, sizeof why, "capture ended");
    else if (!p->ok)
        snprintf(why, sizeof why, "store unreachable: %s", p->why);
    else {
        snprintf(why, sizeof why, "capture open, store reachable");
        ready = 1;
    }
    pthread_mutex_unlock(&p->mu);
    sdiff_metrics_set_ready(server, ready, why);
}

static void on_capture_stats(const struct sdiff_capture_run_stats *st, void *ud)
{
    struct cap_thread *t = ud;
    sdiff__mirror_metrics_capture(t->mm, st);
}

static void on_result(const char *route, enum sdiff_class cls, double primary_ms,
                      double candidate_ms, void *ud)
{
    sdiff__mirror_metrics_observe(ud, route, cls, primary_ms, candidate_ms);
}

static void snapshot(struct queue *q, struct sdiff_mirror_stats *st)
{
    pthread_mutex_lock(&q->mu);
    st->queue_drops = q->drops;
    st->own_replays = q->own;
    st->queue_depth = q->len;
    st->queue_peak = q->peak;
    pthread_mutex_unlock(&q->mu);
}

int sdiff_run_mirror(const struct sdiff_mirror_opts *o, volatile sig_atomic_t *stop,
                     struct sdiff_mirror_stats *st, struct sdiff_err *err)
{
    struct sdiff_store *db = NULL;
    struct sdiff_rules *own_rules = NULL;
    struct sdiff_judge *judge = NULL;
    struct sdiff_judge_opts jo = o->judge;
    struct queue q;
    volatile sig_atomic_t cap_stop = 0; /* the capture thread's own flag */
    struct cap_thread ct = {.capture = o->capture, .q = &q, .stop = &cap_stop};
    struct mirror_metrics *mm = NULL;
    struct sdiff_metrics *server = NULL;
    struct sdiff_buf text;
    pthread_t thread, probe_thread;
    struct prober probe = {.db = o->db, .ok = 1};
    double stopped_at = 0; /* when the stop was noticed */
    int started = 0, probing = 0, rc;

    memset(st, 0, sizeof *st);
    memset(&q, 0, sizeof q);
    sdiff_buf_init(&text, 64u << 20);
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.not_full, NULL);
    pthread_mutex_init(&probe.mu, NULL);
    pthread_cond_init(&probe.wake, NULL);
    q.cap = o->queue_cap ? o->queue_cap : 4096;
    q.blocking = o->capture.source.pcap_file != NULL;
    q.marker = st->judge.marker; /* set by sdiff_judge_new, before the capture starts */
    q.ring = sdiff_calloc(q.cap, sizeof *q.ring);
    mm = sdiff_calloc(1, sizeof *mm);
    if (mm)
        pthread_mutex_init(&mm->mu, NULL);
    if (q.ring == NULL || mm == NULL) {
        rc = sdiff_err_set(err, SDIFF_ENOMEM, "mirror", "out of memory");
        goto out;
    }
    ct.mm = mm;
    ct.capture.on_stats = on_capture_stats;
    ct.user_started = o->capture.on_started;
    ct.capture.on_started = on_capture_started;
    jo.on_result = on_result;
    jo.on_result_ud = mm;
    if (o->metrics_addr) {
        rc = sdiff_metrics_start(&server, o->metrics_addr, err);
        if (rc < 0)
            goto out;
    }
    rc = sdiff_store_open(&db, o->db, &o->store, err);
    if (rc < 0)
        goto out;
    if (server && pthread_create(&probe_thread, NULL, probe_main, &probe) == 0)
        probing = 1;
    jo.db = db;
    jo.copy_exchanges = 1;
    jo.threaded = 1; /* db belongs to the judge's writer until sdiff_judge_finish */
    if (jo.rules == NULL) {
        rc = sdiff_rules_load(&own_rules, NULL, err);
        if (rc < 0)
            goto out;
        jo.rules = own_rules;
    }
    const char *source = o->capture.source.interface ? o->capture.source.interface
                                                     : o->capture.source.pcap_file;
    char marker_line[SDIFF_REPLAY_MARKER_MAX];
    const char *marker_token = NULL;
    rc = sdiff__run_marker(&jo, marker_line, &marker_token, err);
    if (rc < 0)
        goto out;
    struct sdiff_run_info info = {.kind = "mirror", .corpus = source,
                                  .candidate = jo.candidate, .secondary = jo.secondary,
                                  .config = o->config_path,
                                  .marker = marker_token, .name = o->run_name,
                                  .labels_json = o->labels_json};
    rc = sdiff_store_begin_run(db, &info, &st->judge.run_id, err);
    if (rc >= 0)
        rc = sdiff_store_begin_capture(db, source, "mirror", NULL, err);
    if (rc >= 0)
        rc = sdiff_store_commit(db, err);
    /* before the judge is made (it counts the candidate's answers through jo's on_result)
     * and before the capture starts (which counts the primary's) */
    if (rc >= 0)
        rc = sdiff__cost_start(&q.cost, &o->cost, o->db, &o->store, st->judge.run_id,
                               sdiff_store_instance_id(db), 0, &jo, err);
    if (rc >= 0)
        rc = sdiff_judge_new(&judge, &jo, &st->judge, err);
    if (rc < 0)
        goto out;
    if (pthread_create(&thread, NULL, capture_main, &ct) != 0) {
        rc = sdiff_err_set(err, SDIFF_ERR, "mirror", "cannot start the capture thread");
        goto out;
    }
    started = 1;

    size_t max_inflight = o->max_inflight ? o->max_inflight
                                          : (jo.replay.concurrency ? jo.replay.concurrency : 16) * 2;
    double t0 = now_s(), last_publish = t0, last_progress = t0, last_ready = 0;
    /* --drain is the whole budget from the stop to the return: answers are waited for
     * until its last quarter (at most 2 s), which is left for storing what is judged or
     * skipped and closing the run */
    double budget = o->drain_s > 0 ? o->drain_s : 10;
    double reserve = budget / 4 < 2 ? budget / 4 : 2;
    double drain = budget - reserve;
    double every = o->progress_s > 0 ? o->progress_s : 5;
    for (;;) {
        int stopping = stop && *stop;
        if (stopping && stopped_at == 0) {
            stopped_at = now_s();
            cap_stop = 1;
        }
        /* take what the judge has room for; the rest waits in the queue (or is dropped
         * there by the capture thread when full) */
        while (sdiff_judge_inflight(judge) < max_inflight) {
            struct sdiff_exchange *ex = pop(&q);
            if (ex == NULL)
                break;
            int late = stopped_at > 0 && now_s() - stopped_at > drain;
            rc = sdiff_judge_submit(judge, ex, late, wall_us(), err);
            if (rc < 0)
                goto stop_capture;
        }
        rc = sdiff_judge_poll(judge, 20, err);
        if (rc < 0)
            goto stop_capture;
        double now = now_s();
        if (server && now - last_ready >= 0.2) {
            last_ready = now;
            say_ready(server, &ct, &q, &probe, stopped_at > 0);
        }
        if (now - last_publish >= 1.0) {
            last_publish = now;
            if (server) {
                snapshot(&q, st);
                sdiff_buf_reset(&text);
                sdiff__mirror_metrics_render(mm, st, sdiff_judge_inflight(judge), &text);
                sdiff_metrics_publish(server, text.data ? (const char *)text.data : "",
                                      text.len);
            }
        }
        if (o->progress && now - last_progress >= every) {
            snapshot(&q, st);
            st->elapsed_s = now - t0;
            o->progress(st, o->progress_ud);
            last_progress = now;
        }
        pthread_mutex_lock(&q.mu);
        int finished = q.done && q.len == 0;
        pthread_mutex_unlock(&q.mu);
        if (finished && sdiff_judge_inflight(judge) == 0)
            break;
        if (stopped_at > 0 && now - stopped_at > drain && q.done) {
            /* drain deadline: what is queued or in flight is stored as skipped */
            struct sdiff_exchange *ex;
            while (rc >= 0 && (ex = pop(&q)) != NULL)
                rc = sdiff_judge_submit(judge, ex, 1, wall_us(), err);
            if (rc >= 0)
                rc = sdiff_judge_abandon(judge, "no answer before the drain deadline", err);
            break;
        }
    }
stop_capture:
out:
    if (started) {
        /* stop the capture thread (it polls its flag) and let a waiting push go */
        cap_stop = 1;
        pthread_mutex_lock(&q.mu);
        q.closed = 1;
        pthread_cond_broadcast(&q.not_full);
        pthread_mutex_unlock(&q.mu);
        pthread_join(thread, NULL);
        st->capture = ct.st;
        if (rc >= 0 && ct.rc < 0) {
            rc = ct.rc;
            sdiff_err_set(err, ct.rc, ct.err.where, "%s", ct.err.msg);
        }
    }
    if (server)
        sdiff_metrics_set_ready(server, 0, "stopping (storing the last results)");
    if (probing) {
        pthread_mutex_lock(&probe.mu);
        probe.quit = 1;
        pthread_cond_signal(&probe.wake);
        pthread_mutex_unlock(&probe.mu);
        pthread_join(probe_thread, NULL);
    }
    pthread_mutex_destroy(&probe.mu);
    pthread_cond_destroy(&probe.wake);
    snapshot(&q, st);
    st->elapsed_s = 0;
    if (judge) { /* every judged exchange stored, and the database ours again */
        int frc = sdiff_judge_finish(judge, rc >= 0 ? err : &(struct sdiff_err){0});
        if (rc >= 0)
            rc = frc;
    }
    /* the writer's last batch may still be open: the end's sample must not wait on it
     * (a failure here is the run's end's to report) */
    if (q.cost && db)
        sdiff_store_commit(db, &(struct sdiff_err){0});
    st->judge.cost_samples = sdiff__cost_stop(q.cost); /* the end's sample */
    q.cost = NULL;
    if (o->cost.price_model)
        snprintf(st->judge.price_model, sizeof st->judge.price_model, "%s", o->cost.price_model);
    if (db && st->judge.run_id) {
        /* a signal is how a sidecar stops: finished, unless it failed */
        struct sdiff_err serr = {0};
        int erc = sdiff__run_finish(db, rc, stop && *stop, 1, &st->judge, &serr);
        /* a server that restarted while this connection was idle fails its first statement
         * ("connection lost"); the next transaction connects again: once more */
        if (erc < 0 && sdiff_store_is_url(o->db))
            erc = sdiff__run_finish(db, rc, stop && *stop, 1, &st->judge, &serr);
        if (rc >= 0 && erc < 0)
            rc = sdiff_err_set(err, erc, serr.where, "%s", serr.msg);
    }
    sdiff_metrics_stop(server);
    sdiff_buf_dispose(&text);
    if (mm)
        pthread_mutex_destroy(&mm->mu);
    sdiff_free(mm);
    sdiff_judge_free(judge);
    for (struct sdiff_exchange *ex; q.ring && (ex = pop(&q)) != NULL;)
        sdiff_exchange_free(ex);
    sdiff_free(q.ring);
    pthread_mutex_destroy(&q.mu);
    pthread_cond_destroy(&q.not_full);
    sdiff_rules_free(own_rules);
    sdiff_store_close(db);
    if (stopped_at > 0)
        st->drained_s = now_s() - stopped_at;
    return rc;
}
