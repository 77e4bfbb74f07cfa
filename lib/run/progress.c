/*
 * progress.c - the ticker behind replay's and gate's status line.
 *
 * The run's own thread knows what it handed to the judge and what is still in flight, so
 * done = submitted - in flight needs no lock. Only the classes come from the judging side,
 * which may be another thread (replay judges on a worker): those two counters are atomic.
 */
#include <stdatomic.h>
#include <time.h>

#include "run/run_int.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void on_result(const char *route, enum sdiff_class cls, double primary_ms,
                      double candidate_ms, void *ud)
{
    struct sdiff__ticker *t = ud;
    if (cls == SDIFF_CLASS_DIFFERENT)
        atomic_fetch_add_explicit(&t->different, 1, memory_order_relaxed);
    else if (cls == SDIFF_CLASS_ERROR)
        atomic_fetch_add_explicit(&t->errors, 1, memory_order_relaxed);
    if (t->chained)
        t->chained(route, cls, primary_ms, candidate_ms, t->chained_ud);
}

void sdiff__ticker_start(struct sdiff__ticker *t, sdiff_run_progress_fn fn, void *ud,
                         double every_s, uint64_t total, struct sdiff_judge_opts *jo)
{
    *t = (struct sdiff__ticker){.fn = fn, .ud = ud, .every = every_s > 0 ? every_s : 1,
                                .total = total};
    atomic_init(&t->different, 0);
    atomic_init(&t->errors, 0);
    t->t0 = t->last = now_s();
    if (fn == NULL)
        return;
    t->chained = jo->on_result;
    t->chained_ud = jo->on_result_ud;
    jo->on_result = on_result;
    jo->on_result_ud = t;
}

void sdiff__ticker_tick(struct sdiff__ticker *t, size_t inflight, int final)
{
    if (t->fn == NULL)
        return;
    double now = now_s();
    if (!final && now - t->last < t->every)
        return;
    t->last = now;
    struct sdiff_run_progress p = {
        .done = t->submitted > inflight ? t->submitted - inflight : 0,
        .total = t->total,
        .different = atomic_load_explicit(&t->different, memory_order_relaxed),
        .errors = atomic_load_explicit(&t->errors, memory_order_relaxed),
        .elapsed_s = now - t->t0,
        .final = final,
    };
    if (p.total && p.done > p.total)
        p.total = p.done;
    t->fn(&p, t->ud);
}
