/*
 * cost_run.c - the cost sampler of a run: one thread that reads each side's CPU time and
 * memory (shadowdiff/cost.h) at the start, every second and at the end, and stores the
 * differences in cost_samples.
 *
 * The store is one thread's, and the run's own handle belongs to the judge's writer while
 * the run goes, so the sampler opens a handle of its own on the same database: its one short
 * transaction a second waits its turn behind the writer's batches (SQLite's busy timeout;
 * PostgreSQL serves a second connection beside the first), and touches nothing of the judge.
 * Handing samples to the writer instead would tie sampling to judging, which may be stalled
 * by the very service being measured. The requests each side answered are counted from the
 * judge's results (and mirror's capture) through atomics, read at each sample.
 */
#include "run/cost_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "shadowdiff/cost.h"
#include "shadowdiff/replay.h"

/* a metrics page that fails this many rounds in a row (time limit, refused) is gone */
#define COST_PAGE_TRIES 3

/* samples kept while the database is busy: 20 minutes of two sides at one a second */
#define COST_PENDING_MAX 2400

struct side {
    const char *name;              /* "primary", "candidate" */
    const char *flag;              /* "--primary-pid 42", for warnings */
    struct sdiff_cost_source src;
    int active;
    int have_prev;
    struct sdiff_cost_sample prev;
    _Atomic uint64_t served;
    uint64_t served_prev;
    int failures;                  /* metrics pages: rounds failed in a row */
};

struct sdiff__cost {
    struct sdiff_cost_opts o;
    struct sdiff_store *db;
    int64_t run_id;
    char instance[33];
    struct side side[2];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping, started;
    int db_warned;
    uint64_t stored;
    /* samples not stored yet: the run's writer may hold the database a while (SQLite), and
     * a sample lost would lose its CPU difference, so they wait for the next round */
    struct sdiff_store_cost_sample pending[COST_PENDING_MAX];
    size_t npending;
    uint64_t wall0_us, mono0_us;   /* wall time = wall0 + (monotonic - mono0) */
    int primary_live;              /* replays go to a live primary (replay, gate) */
    void (*chained)(const char *route, enum sdiff_class cls, double primary_ms,
                    double candidate_ms, void *ud);
    void *chained_ud;
    char flags[2][200];
    char last_err[200];
    int stopping_round;            /* the end's round: a failure there is final */
};

static uint64_t clock_us(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

static int source_given(const struct sdiff_cost_source *s)
{
    return s->pid > 0 || (s->cgroup && s->cgroup[0]) || (s->metrics_url && s->metrics_url[0]);
}

/* "<what>: <why><tail>" through the caller's warning function */
static void warn(struct sdiff__cost *c, const char *what, const char *why, const char *tail)
{
    if (c->o.warn == NULL)
        return;
    char msg[512];
    snprintf(msg, sizeof msg, "%s: %s%s", what, why, tail);
    c->o.warn(msg, c->o.warn_ud);
}

static int read_side(struct sdiff__cost *c, struct side *s, struct sdiff_cost_sample *out,
                     struct sdiff_err *err)
{
    if (s->src.pid > 0)
        return sdiff_cost_sample_pid(c->o.proc_root ? c->o.proc_root : "/proc", s->src.pid, out,
                                     err);
    if (s->src.cgroup) {
        int mem_known;
        return sdiff_cost_sample_cgroup(c->o.cgroup_root ? c->o.cgroup_root : "/sys/fs/cgroup",
                                        s->src.cgroup, out, &mem_known, err);
    }
    struct sdiff_buf page;
    /* a process_* page is a few KiB; a whole application's metrics rarely pass a MiB */
    sdiff_buf_init(&page, 4u << 20);
    int rc = sdiff_replay_fetch(s->src.metrics_url,
                                c->o.fetch_timeout_ms > 0 ? c->o.fetch_timeout_ms : 1000, &page,
                                err);
    if (rc >= 0)
        rc = sdiff_cost_parse_metrics(page.data ? (const char *)page.data : "", page.len, out,
                                      err);
    sdiff_buf_dispose(&page);
    return rc;
}

/* Sample every active side once and store what changed since each one's previous sample. */
static void sample_round(struct sdiff__cost *c)
{
    struct sdiff_store_cost_sample *rows = c->pending + c->npending;
    size_t n = 0;
    if (c->npending + 2 > COST_PENDING_MAX) {
        if (!c->db_warned)
            warn(c, "cost samples not stored", "the database stayed busy", "; sampling stops");
        c->db_warned = 1;
        return;
    }
    for (int i = 0; i < 2; i++) {
        struct side *s = &c->side[i];
        if (!s->active)
            continue;
        struct sdiff_cost_sample now;
        struct sdiff_err err = {0};
        int rc = read_side(c, s, &now, &err);
        /* a metrics page that is slow or refused once is a busy service, not a gone one:
         * that round is skipped (the next sample's differences cover it), up to a limit */
        if (rc < 0 && s->src.metrics_url && !c->stopping_round &&
            (rc == SDIFF_ETIMEOUT || rc == SDIFF_ENET) && ++s->failures < COST_PAGE_TRIES)
            continue;
        if (rc < 0) {
            /* once: the side's sampling stops, the run goes on */
            s->active = 0;
            warn(c, c->flags[i], err.msg, "; cost sampling of this side stops");
            continue;
        }
        s->failures = 0;
        uint64_t served = atomic_load_explicit(&s->served, memory_order_relaxed);
        struct sdiff_store_cost_sample *r = &rows[n++];
        r->target = s->name;
        r->t_us = c->wall0_us + (now.t_us > c->mono0_us ? now.t_us - c->mono0_us : 0);
        r->requests = s->have_prev ? served - s->served_prev : 0;
        /* a counter that went back (the process was restarted) adds nothing, not less */
        r->cpu_ms = s->have_prev && now.cpu_s > s->prev.cpu_s ? (now.cpu_s - s->prev.cpu_s) * 1000
                                                               : 0;
        r->rss_bytes = now.mem_bytes;
        r->instance_id = NULL;
        s->prev = now;
        s->have_prev = 1;
        s->served_prev = served;
    }
    c->npending += n;
    if (c->npending == 0 || c->db == NULL)
        return;
    struct sdiff_err err = {0};
    if (sdiff_store_put_cost_samples(c->db, c->run_id, c->instance[0] ? c->instance : NULL,
                                     c->pending, c->npending, &err) < 0) {
        /* kept for the next round; said once the run is over if they never go in */
        snprintf(c->last_err, sizeof c->last_err, "%s", err.msg);
        return;
    }
    c->stored += c->npending;
    c->npending = 0;
}

static void *sampler_main(void *arg)
{
    struct sdiff__cost *c = arg;
    double every = c->o.every_s > 0 ? c->o.every_s : 1;
    pthread_mutex_lock(&c->mu);
    /* the end's sample is taken however the stop arrives: while waiting or while a round
     * was still storing (it may wait behind the run's writer) */
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + (uint64_t)(every * 1e9);
        until.tv_sec += (time_t)(ns / 1000000000u);
        until.tv_nsec = (long)(ns % 1000000000u);
        while (!c->stopping && pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
            ;
        int last = c->stopping;
        c->stopping_round = last;
        pthread_mutex_unlock(&c->mu);
        sample_round(c); /* the last one (stopping) is the run's end */
        pthread_mutex_lock(&c->mu);
        if (last)
            break;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static void on_result(const char *route, enum sdiff_class cls, double primary_ms,
                      double candidate_ms, void *ud)
{
    struct sdiff__cost *c = ud;
    if (cls != SDIFF_CLASS_SKIPPED) {
        atomic_fetch_add_explicit(&c->side[SDIFF__COST_CANDIDATE].served, 1,
                                  memory_order_relaxed);
        if (c->primary_live && primary_ms >= 0)
            atomic_fetch_add_explicit(&c->side[SDIFF__COST_PRIMARY].served, 1,
                                      memory_order_relaxed);
    }
    if (c->chained)
        c->chained(route, cls, primary_ms, candidate_ms, c->chained_ud);
}

static void describe(char *out, size_t cap, const char *side, const struct sdiff_cost_source *s)
{
    if (s->pid > 0)
        snprintf(out, cap, "--%s-pid %d", side, s->pid);
    else if (s->cgroup)
        snprintf(out, cap, "--%s-cgroup %.150s", side, s->cgroup);
    else
        snprintf(out, cap, "--%s-metrics %.150s", side, s->metrics_url ? s->metrics_url : "");
}

int sdiff__cost_start(struct sdiff__cost **out, const struct sdiff_cost_opts *o,
                      const char *db_path, const struct sdiff_store_opts *so, int64_t run_id,
                      const char *instance_id, int primary_live, struct sdiff_judge_opts *jo,
                      struct sdiff_err *err)
{
    *out = NULL;
    if (!source_given(&o->primary) && !source_given(&o->candidate))
        return SDIFF_OK;
    struct sdiff__cost *c = sdiff_calloc(1, sizeof *c);
    if (c == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "cost", "out of memory");
    c->o = *o;
    c->run_id = run_id;
    c->primary_live = primary_live;
    if (instance_id)
        snprintf(c->instance, sizeof c->instance, "%s", instance_id);
    c->side[SDIFF__COST_PRIMARY] = (struct side){.name = "primary", .src = o->primary};
    c->side[SDIFF__COST_CANDIDATE] = (struct side){.name = "candidate", .src = o->candidate};
    for (int i = 0; i < 2; i++) {
        atomic_init(&c->side[i].served, 0);
        c->side[i].active = source_given(&c->side[i].src);
        if (c->side[i].active)
            describe(c->flags[i], sizeof c->flags[i], c->side[i].name, &c->side[i].src);
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    struct sdiff_store_opts dbo = so ? *so : (struct sdiff_store_opts){0};
    dbo.must_exist = 1;
    dbo.read_only = 0;
    struct sdiff_err serr = {0};
    if (sdiff_store_open(&c->db, db_path, &dbo, &serr) < 0) {
        /* no place for the samples: say so once, and the run goes on without them */
        warn(c, "cost samples not stored", serr.msg, "");
        for (int i = 0; i < 2; i++)
            c->side[i].active = 0;
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        sdiff_free(c);
        return SDIFF_OK;
    }
    c->wall0_us = clock_us(CLOCK_REALTIME);
    c->mono0_us = clock_us(CLOCK_MONOTONIC);
    sample_round(c); /* the start: each side's baseline */
    if (pthread_create(&c->thread, NULL, sampler_main, c) != 0) {
        sdiff_store_close(c->db);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        sdiff_free(c);
        return sdiff_err_set(err, SDIFF_ERR, "cost", "cannot start the cost sampler");
    }
    c->started = 1;
    if (jo) {
        c->chained = jo->on_result;
        c->chained_ud = jo->on_result_ud;
        jo->on_result = on_result;
        jo->on_result_ud = c;
    }
    *out = c;
    return SDIFF_OK;
}

void sdiff__cost_served(struct sdiff__cost *c, int side, uint64_t n)
{
    if (c == NULL)
        return;
    atomic_fetch_add_explicit(&c->side[side].served, n, memory_order_relaxed);
}

uint64_t sdiff__cost_stop(struct sdiff__cost *c)
{
    if (c == NULL)
        return 0;
    if (c->started) {
        pthread_mutex_lock(&c->mu);
        c->stopping = 1;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
    }
    if (c->npending > 0 && !c->db_warned)
        warn(c, "cost samples not stored", c->last_err, "");
    uint64_t stored = c->stored;
    sdiff_store_close(c->db);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    sdiff_free(c);
    return stored;
}
