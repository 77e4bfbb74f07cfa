/*
 * mirror_metrics.c - Prometheus exposition for the sidecar: counters from capture and
 * judging, queue depth, and latency histograms of the primary and the candidate per route.
 *
 * Routes are labels, so their number is capped (MAX_ROUTES); a route that finds no slot
 * counts as "other", and a quiet route gives its slot up to a new one (route_slot).
 */
#include "run/mirror_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const double BOUNDS[NBUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10};

static void hist_add(struct hist *to, const struct hist *h)
{
    for (int i = 0; i < NBUCKETS; i++)
        to->bucket[i] += h->bucket[i];
    to->count += h->count;
    to->sum += h->sum;
}

/*
 * A route keeps its slot by being observed: scores halve every DECAY_EVERY observations, and
 * once the table is full a new route takes the slot of the quietest route when that one
 * scores 1 or less (seen about once lately). So junk paths seen once cannot hold the table
 * against live routes; the evicted counts move to "other", so every sum stays monotonic.
 */
static struct route_hist *route_slot(struct mirror_metrics *mm, const char *route)
{
    if (++mm->observed % DECAY_EVERY == 0)
        for (size_t i = 0; i < mm->nroutes; i++)
            mm->routes[i].score /= 2;
    struct route_hist *low = NULL;
    for (size_t i = 0; i < mm->nroutes; i++) {
        struct route_hist *h = &mm->routes[i];
        if (strcmp(h->route, route) == 0) {
            h->score += 1;
            return h;
        }
        if (low == NULL || h->score < low->score)
            low = h;
    }
    struct route_hist *h = NULL;
    if (mm->nroutes < MAX_ROUTES) {
        h = &mm->routes[mm->nroutes++];
    } else if (low != NULL && low->score <= 1) {
        h = low;
        for (int k = 0; k < SDIFF_CLASS__COUNT; k++)
            mm->other.cls[k] += h->cls[k];
        hist_add(&mm->other.primary, &h->primary);
        hist_add(&mm->other.candidate, &h->candidate);
    } else {
        return &mm->other;
    }
    memset(h, 0, sizeof *h);
    snprintf(h->route, sizeof h->route, "%s", route);
    h->score = 1;
    return h;
}

static void observe(struct hist *h, double ms)
{
    if (ms < 0)
        return;
    double s = ms / 1000.0;
    for (int i = 0; i < NBUCKETS; i++)
        if (s <= BOUNDS[i])
            h->bucket[i]++;
    h->count++;
    h->sum += s;
}

void sdiff__mirror_metrics_observe(struct mirror_metrics *mm, const char *route,
                                   enum sdiff_class cls, double primary_ms, double candidate_ms)
{
    pthread_mutex_lock(&mm->mu);
    struct route_hist *h = route_slot(mm, route);
    h->cls[cls]++;
    observe(&h->primary, primary_ms);
    observe(&h->candidate, candidate_ms);
    pthread_mutex_unlock(&mm->mu);
}

void sdiff__mirror_metrics_capture(struct mirror_metrics *mm,
                                   const struct sdiff_capture_run_stats *st)
{
    pthread_mutex_lock(&mm->mu);
    mm->capture = *st;
    pthread_mutex_unlock(&mm->mu);
}

/*
 * Label values: valid UTF-8 without controls (sdiff_buf_text: one byte that is not UTF-8
 * would make every later scrape fail to parse; backslashes doubled there, so two routes never
 * share a label), then the exposition format's escapes of backslash, quote and newline.
 */
static void label(struct sdiff_buf *b, const char *raw)
{
    struct sdiff_buf t;
    sdiff_buf_init(&t, 1u << 16);
    if (sdiff_buf_text(&t, raw, strlen(raw), SDIFF_TEXT_BACKSLASH) < 0)
        sdiff_buf_reset(&t);
    for (const char *p = t.data ? (const char *)t.data : "?"; *p; p++) {
        if (*p == '\\' || *p == '"')
            sdiff_buf_append(b, "\\", 1);
        if (*p == '\n')
            sdiff_buf_puts(b, "\\n");
        else
            sdiff_buf_append(b, p, 1);
    }
    sdiff_buf_dispose(&t);
}

static void hist_text(struct sdiff_buf *b, const char *side, const char *route,
                      const struct hist *h)
{
    for (int i = 0; i < NBUCKETS; i++) {
        sdiff_buf_printf(b, "shadowdiff_latency_seconds_bucket{side=\"%s\",route=\"", side);
        label(b, route);
        sdiff_buf_printf(b, "\",le=\"%g\"} %" PRIu64 "\n", BOUNDS[i], h->bucket[i]);
    }
    sdiff_buf_printf(b, "shadowdiff_latency_seconds_bucket{side=\"%s\",route=\"", side);
    label(b, route);
    sdiff_buf_printf(b, "\",le=\"+Inf\"} %" PRIu64 "\n", h->count);
    sdiff_buf_printf(b, "shadowdiff_latency_seconds_sum{side=\"%s\",route=\"", side);
    label(b, route);
    sdiff_buf_printf(b, "\"} %.6f\n", h->sum);
    sdiff_buf_printf(b, "shadowdiff_latency_seconds_count{side=\"%s\",route=\"", side);
    label(b, route);
    sdiff_buf_printf(b, "\"} %" PRIu64 "\n", h->count);
}

void sdiff__mirror_metrics_render(struct mirror_metrics *mm, const struct sdiff_mirror_stats *st,
                                  size_t inflight, struct sdiff_buf *b)
{
    pthread_mutex_lock(&mm->mu);
    const struct sdiff_capture_run_stats *c = &mm->capture;
    const struct sdiff_replay_run_stats *j = &st->judge;
    sdiff_buf_printf(b,
                     "# HELP shadowdiff_packets_total Packets read from the capture source.\n"
                     "# TYPE shadowdiff_packets_total counter\n"
                     "shadowdiff_packets_total %" PRIu64 "\n"
                     "# HELP shadowdiff_kernel_drops_total Packets the kernel dropped.\n"
                     "# TYPE shadowdiff_kernel_drops_total counter\n"
                     "shadowdiff_kernel_drops_total %" PRIu64 "\n"
                     "# HELP shadowdiff_connections_total TCP connections seen.\n"
                     "# TYPE shadowdiff_connections_total counter\n"
                     "shadowdiff_connections_total %" PRIu64 "\n"
                     "# HELP shadowdiff_gaps_total Capture gaps (bytes lost) in TCP streams.\n"
                     "# TYPE shadowdiff_gaps_total counter\n"
                     "shadowdiff_gaps_total %" PRIu64 "\n"
                     "# HELP shadowdiff_exchanges_total Captured exchanges by state.\n"
                     "# TYPE shadowdiff_exchanges_total counter\n",
                     c->source.packets, c->source.kernel_drops, c->pair.connections,
                     c->reasm.gaps);
    for (int i = 0; i < SDIFF_EX__COUNT; i++)
        sdiff_buf_printf(b, "shadowdiff_exchanges_total{state=\"%s\"} %" PRIu64 "\n",
                         sdiff_exchange_state_str((enum sdiff_exchange_state)i),
                         c->pair.exchanges[i]);
    sdiff_buf_printf(b,
                     "# HELP shadowdiff_capture_memory_bytes Memory capture holds for "
                     "connections (of --memory).\n"
                     "# TYPE shadowdiff_capture_memory_bytes gauge\n"
                     "shadowdiff_capture_memory_bytes %zu\n"
                     "# HELP shadowdiff_capture_memory_limit_bytes The --memory budget.\n"
                     "# TYPE shadowdiff_capture_memory_limit_bytes gauge\n"
                     "shadowdiff_capture_memory_limit_bytes %zu\n"
                     "# HELP shadowdiff_connections_shed_total Connections shed because the "
                     "--memory budget was full (their requests: exchanges state=\"shed\").\n"
                     "# TYPE shadowdiff_connections_shed_total counter\n"
                     "shadowdiff_connections_shed_total %" PRIu64 "\n",
                     c->memory.used, c->memory.limit, c->reasm.flows_shed);
    sdiff_buf_puts(b, "# HELP shadowdiff_replays_total Judged exchanges by class and route.\n"
                      "# TYPE shadowdiff_replays_total counter\n");
    for (size_t r = 0; r <= mm->nroutes; r++) {
        const struct route_hist *h = r < mm->nroutes ? &mm->routes[r] : &mm->other;
        const char *name = r < mm->nroutes ? h->route : "other";
        for (int k = 0; k < SDIFF_CLASS__COUNT; k++) {
            if (h->cls[k] == 0)
                continue;
            sdiff_buf_printf(b, "shadowdiff_replays_total{class=\"%s\",route=\"",
                             sdiff_class_str((enum sdiff_class)k));
            label(b, name);
            sdiff_buf_printf(b, "\"} %" PRIu64 "\n", h->cls[k]);
        }
    }
    sdiff_buf_printf(b,
                     "# HELP shadowdiff_skipped_total Exchanges not replayed, by reason.\n"
                     "# TYPE shadowdiff_skipped_total counter\n"
                     "shadowdiff_skipped_total{reason=\"unsafe_method\"} %" PRIu64 "\n"
                     "shadowdiff_skipped_total{reason=\"method_override\"} %" PRIu64 "\n"
                     "shadowdiff_skipped_total{reason=\"incomplete_capture\"} %" PRIu64 "\n"
                     "shadowdiff_skipped_total{reason=\"sampled_out\"} %" PRIu64 "\n"
                     "shadowdiff_skipped_total{reason=\"route_cap\"} %" PRIu64 "\n"
                     "shadowdiff_skipped_total{reason=\"stopped\"} %" PRIu64 "\n"
                     "# HELP shadowdiff_drops_total Exchanges dropped, by reason.\n"
                     "# TYPE shadowdiff_drops_total counter\n"
                     "shadowdiff_drops_total{reason=\"queue_full\"} %" PRIu64 "\n"
                     "shadowdiff_drops_total{reason=\"replay_queue_full\"} %" PRIu64 "\n"
                     "# HELP shadowdiff_own_replays_total Captured requests with our marker.\n"
                     "# TYPE shadowdiff_own_replays_total counter\n"
                     "shadowdiff_own_replays_total %" PRIu64 "\n"
                     "# HELP shadowdiff_forged_marker_total Requests with a marker header not "
                     "ours (judged).\n"
                     "# TYPE shadowdiff_forged_marker_total counter\n"
                     "shadowdiff_forged_marker_total %" PRIu64 "\n"
                     "# HELP shadowdiff_candidate_errors_total Candidate failures by kind.\n"
                     "# TYPE shadowdiff_candidate_errors_total counter\n",
                     j->skip_unsafe, j->skip_override, j->skip_incomplete, j->skip_sampled,
                     j->skip_route_cap, j->skip_stopped, st->queue_drops, j->skip_busy,
                     st->own_replays, j->forged_marker);
    for (int i = 1; i < SDIFF_REPLAY__COUNT; i++)
        sdiff_buf_printf(b, "shadowdiff_candidate_errors_total{kind=\"%s\"} %" PRIu64 "\n",
                         sdiff_replay_error_str((enum sdiff_replay_error)i), j->errors[i]);
    sdiff_buf_printf(b,
                     "# HELP shadowdiff_queue_depth Exchanges waiting for replay.\n"
                     "# TYPE shadowdiff_queue_depth gauge\n"
                     "shadowdiff_queue_depth %zu\n"
                     "# HELP shadowdiff_inflight Exchanges being replayed.\n"
                     "# TYPE shadowdiff_inflight gauge\n"
                     "shadowdiff_inflight %zu\n"
                     "# HELP shadowdiff_latency_seconds Response latency of each side.\n"
                     "# TYPE shadowdiff_latency_seconds histogram\n",
                     st->queue_depth, inflight);
    for (size_t r = 0; r <= mm->nroutes; r++) {
        const struct route_hist *h = r < mm->nroutes ? &mm->routes[r] : &mm->other;
        const char *name = r < mm->nroutes ? h->route : "other";
        if (h->primary.count == 0 && h->candidate.count == 0)
            continue;
        hist_text(b, "primary", name, &h->primary);
        hist_text(b, "candidate", name, &h->candidate);
    }
    pthread_mutex_unlock(&mm->mu);
}
