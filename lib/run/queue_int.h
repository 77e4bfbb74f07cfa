#ifndef SDIFF_QUEUE_INT_H
#define SDIFF_QUEUE_INT_H
/*
 * queue_int.h - a bounded queue of pointers between threads: producers wait while it is
 * full, consumers while it is empty. Closing it wakes all: the next push fails, consumers
 * get what is left, then NULL. A waiting consumer is woken once `batch` items are there, or
 * finds a smaller batch within 2 ms; one that leaves items behind wakes another.
 */
#include <pthread.h>
#include <stddef.h>

struct sdiff_queue {
    pthread_mutex_t mu;
    pthread_cond_t not_full, not_empty;
    void **ring;
    size_t cap, head, len, batch;
    int closed;
    int cwait, pwait; /* consumers asleep, producers asleep */
    unsigned long kicks; /* a consumer woke another */
};

int sdiff_queue_init(struct sdiff_queue *q, size_t cap, size_t batch);
void sdiff_queue_dispose(struct sdiff_queue *q);
/* Waits for room. Returns 1 when the queue was empty before, 0 otherwise, SDIFF_ERR when
 * closed (the item is not taken). */
int sdiff_queue_push(struct sdiff_queue *q, void *item);
/* The oldest item; with wait, waits while the queue is empty and open. NULL: none. */
void *sdiff_queue_pop(struct sdiff_queue *q, int wait);
/* As sdiff_queue_pop, waiting at most timeout_ms (< 0: no limit, 0: not at all). */
void *sdiff_queue_pop_for(struct sdiff_queue *q, long timeout_ms);
void sdiff_queue_close(struct sdiff_queue *q);
/* Closed and empty: nothing will ever come. */
int sdiff_queue_done(struct sdiff_queue *q);

#endif
