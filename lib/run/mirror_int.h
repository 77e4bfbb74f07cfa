#ifndef SDIFF_MIRROR_INT_H
#define SDIFF_MIRROR_INT_H
/* Shared between mirror_run.c and mirror_metrics.c. */
#include <pthread.h>

#include "shadowdiff/run.h"

#define NBUCKETS 13
#define MAX_ROUTES 200
#define DECAY_EVERY (4 * MAX_ROUTES)

struct hist {
    uint64_t bucket[NBUCKETS];
    uint64_t count;
    double sum;
};

struct route_hist {
    char route[256];
    uint64_t cls[SDIFF_CLASS__COUNT];
    struct hist primary, candidate;
    double score; /* observations, halved every DECAY_EVERY: what keeps the slot */
};

struct mirror_metrics {
    pthread_mutex_t mu;
    struct sdiff_capture_run_stats capture; /* latest from the capture thread */
    struct route_hist routes[MAX_ROUTES];
    size_t nroutes;
    struct route_hist other;
    uint64_t observed;
};

void sdiff__mirror_metrics_observe(struct mirror_metrics *mm, const char *route,
                                   enum sdiff_class cls, double primary_ms, double candidate_ms);
void sdiff__mirror_metrics_capture(struct mirror_metrics *mm,
                                   const struct sdiff_capture_run_stats *st);
void sdiff__mirror_metrics_render(struct mirror_metrics *mm, const struct sdiff_mirror_stats *st,
                                  size_t inflight, struct sdiff_buf *b);

#endif
