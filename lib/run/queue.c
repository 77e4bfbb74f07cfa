/*
 * queue.c - bounded pointer queue between two threads (see queue_int.h).
 *
 * Wakeups cost more than the work handed over, so both sides wake the other in batches: a
 * consumer that found the queue empty sleeps until `batch` items wait (or for at most 2 ms
 * once any is there), and a producer that found the queue full sleeps until it is half
 * empty. With several consumers, one that wakes to more than it takes wakes another, so the
 * producer pays for one wakeup per batch however many consumers sleep.
 */
#include "run/queue_int.h"

#include <errno.h>
#include <time.h>

#include "shadowdiff/core.h"

#define LINGER_NS 2000000L /* the longest an item waits for its batch */

int sdiff_queue_init(struct sdiff_queue *q, size_t cap, size_t batch)
{
    q->ring = sdiff_calloc(cap ? cap : 1, sizeof *q->ring);
    if (q->ring == NULL)
        return SDIFF_ENOMEM;
    q->cap = cap ? cap : 1;
    q->batch = batch == 0 ? 1 : batch > q->cap ? q->cap : batch;
    q->head = q->len = 0;
    q->closed = q->cwait = q->pwait = 0;
    q->kicks = 0;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_full, NULL);
    pthread_cond_init(&q->not_empty, &ca);
    pthread_condattr_destroy(&ca);
    return SDIFF_OK;
}

void sdiff_queue_dispose(struct sdiff_queue *q)
{
    if (q->ring == NULL)
        return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    sdiff_free(q->ring);
    q->ring = NULL;
}

int sdiff_queue_push(struct sdiff_queue *q, void *item)
{
    pthread_mutex_lock(&q->mu);
    while (q->len == q->cap && !q->closed) {
        q->pwait++;
        pthread_cond_wait(&q->not_full, &q->mu);
        q->pwait--;
    }
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        return SDIFF_ERR;
    }
    int was_empty = q->len == 0;
    q->ring[(q->head + q->len) % q->cap] = item;
    q->len++;
    if (q->cwait && q->len >= q->batch)
        pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    return was_empty;
}

static void deadline_in(struct timespec *t, long ns)
{
    clock_gettime(CLOCK_MONOTONIC, t);
    t->tv_nsec += ns;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

void *sdiff_queue_pop_for(struct sdiff_queue *q, long timeout_ms)
{
    void *item = NULL;
    pthread_mutex_lock(&q->mu);
    if (timeout_ms != 0 && q->len == 0 && !q->closed) {
        struct timespec t, end;
        deadline_in(&t, LINGER_NS);
        if (timeout_ms > 0)
            deadline_in(&end, timeout_ms * 1000000L);
        unsigned long kicks = q->kicks;
        q->cwait++;
        while (q->len < q->batch && !q->closed && q->kicks == kicks) {
            int timed_out = 0;
            if (timeout_ms > 0 && (end.tv_sec < t.tv_sec ||
                                   (end.tv_sec == t.tv_sec && end.tv_nsec < t.tv_nsec)))
                timed_out = pthread_cond_timedwait(&q->not_empty, &q->mu, &end) == ETIMEDOUT;
            else if (pthread_cond_timedwait(&q->not_empty, &q->mu, &t) == ETIMEDOUT) {
                if (q->len > 0)
                    break;
                deadline_in(&t, LINGER_NS);
            }
            if (timed_out)
                break;
        }
        q->cwait--;
    }
    if (q->len > 0) {
        item = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        if (q->pwait && q->len <= q->cap / 2)
            pthread_cond_broadcast(&q->not_full);
        if (q->cwait > 0 && q->len > 0) { /* more than this consumer takes: wake another */
            q->kicks++;
            pthread_cond_signal(&q->not_empty);
        }
    }
    pthread_mutex_unlock(&q->mu);
    return item;
}

void *sdiff_queue_pop(struct sdiff_queue *q, int wait)
{
    return sdiff_queue_pop_for(q, wait ? -1 : 0);
}

void sdiff_queue_close(struct sdiff_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_full);
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

int sdiff_queue_done(struct sdiff_queue *q)
{
    pthread_mutex_lock(&q->mu);
    int done = q->closed && q->len == 0;
    pthread_mutex_unlock(&q->mu);
    return done;
}
