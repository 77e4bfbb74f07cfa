/*
 * test_mirror_metrics.c - the per-route slots of the sidecar's /metrics: a bounded number of
 * route labels that junk paths cannot squat, with counts that never go missing.
 */
#include "sdiff_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/mirror_int.h"

static struct mirror_metrics *metrics_new(void)
{
    struct mirror_metrics *mm = calloc(1, sizeof *mm);
    assert_non_null(mm);
    assert_int_equal(pthread_mutex_init(&mm->mu, NULL), 0);
    return mm;
}

static void metrics_free(struct mirror_metrics *mm)
{
    pthread_mutex_destroy(&mm->mu);
    free(mm);
}

static char *render(struct mirror_metrics *mm)
{
    struct sdiff_mirror_stats st;
    memset(&st, 0, sizeof st);
    struct sdiff_buf b;
    sdiff_buf_init(&b, 64u << 20);
    sdiff__mirror_metrics_render(mm, &st, 0, &b);
    assert_non_null(b.data);
    return (char *)b.data; /* freed with sdiff_free */
}

/* The value of the replays_total series of one route and class, or -1 when absent. */
static long long replays(const char *text, const char *cls, const char *route)
{
    char key[512];
    snprintf(key, sizeof key, "shadowdiff_replays_total{class=\"%s\",route=\"%s\"} ", cls, route);
    const char *p = strstr(text, key);
    return p ? atoll(p + strlen(key)) : -1;
}

/* Sum of every shadowdiff_replays_total series, and how many route labels there are. */
static long long replays_sum(const char *text, size_t *labels)
{
    long long sum = 0;
    *labels = 0;
    for (const char *p = text; (p = strstr(p, "shadowdiff_replays_total{")) != NULL; p++) {
        const char *v = strstr(p, "} ");
        sum += atoll(v + 2);
        ++*labels;
    }
    return sum;
}

/* What the --memory budget cost is on /metrics: shed requests, shed connections, bytes held. */
static void test_mirror_metrics__memory_budget_and_shed_requests_are_shown(void **state)
{
    (void)state;
    struct mirror_metrics *mm = metrics_new();
    struct sdiff_capture_run_stats cs;
    memset(&cs, 0, sizeof cs);
    cs.pair.exchanges[SDIFF_EX_SHED] = 416;
    cs.reasm.flows_shed = 14;
    cs.memory.used = 25u << 20;
    cs.memory.limit = 32u << 20;
    sdiff__mirror_metrics_capture(mm, &cs);
    char *text = render(mm);
    assert_non_null(strstr(text, "shadowdiff_exchanges_total{state=\"shed\"} 416\n"));
    assert_non_null(strstr(text, "shadowdiff_connections_shed_total 14\n"));
    assert_non_null(strstr(text, "shadowdiff_capture_memory_bytes 26214400\n"));
    assert_non_null(strstr(text, "shadowdiff_capture_memory_limit_bytes 33554432\n"));
    sdiff_free(text);
    metrics_free(mm);
}

/* 200 made-up paths, seen once at start, held every slot for the life of the process: the
 * routes that came after them were only ever "other". */
static void test_mirror_metrics__junk_paths_do_not_keep_the_slots(void **state)
{
    (void)state;
    struct mirror_metrics *mm = metrics_new();
    char route[64];
    for (int i = 0; i < 200; i++) {
        snprintf(route, sizeof route, "GET /zz%d", i);
        sdiff__mirror_metrics_observe(mm, route, SDIFF_CLASS_IDENTICAL, 1, 1);
    }
    for (int i = 0; i < 10; i++)
        sdiff__mirror_metrics_observe(mm, "GET /api/orders", SDIFF_CLASS_DIFFERENT, 1, 1);
    char *text = render(mm);
    assert_int_equal(replays(text, "different", "GET /api/orders"), 10);
    /* the junk route that made room is counted under "other", not lost */
    size_t labels;
    assert_int_equal(replays_sum(text, &labels), 210);
    assert_int_equal(replays(text, "identical", "other"), 1);
    sdiff_free(text);
    metrics_free(mm);
}

/* A flood of new paths evicts its own kind: live routes keep their labels and counts, the
 * number of labels stays capped, and the total is every observation. */
static void test_mirror_metrics__live_routes_survive_a_flood_of_new_paths(void **state)
{
    (void)state;
    struct mirror_metrics *mm = metrics_new();
    char route[64];
    long long total = 0;
    for (int round = 0; round < 50; round++) {
        for (int k = 0; k < 5; k++, total++) {
            snprintf(route, sizeof route, "GET /api/live%d", k);
            sdiff__mirror_metrics_observe(mm, route, SDIFF_CLASS_IDENTICAL, 1, 1);
        }
        for (int i = 0; i < 100; i++, total++) {
            snprintf(route, sizeof route, "GET /zz%d", round * 100 + i);
            sdiff__mirror_metrics_observe(mm, route, SDIFF_CLASS_EQUIVALENT, 1, 1);
        }
    }
    char *text = render(mm);
    for (int k = 0; k < 5; k++) {
        snprintf(route, sizeof route, "GET /api/live%d", k);
        assert_int_equal(replays(text, "identical", route), 50);
    }
    size_t labels;
    assert_int_equal(replays_sum(text, &labels), total);
    assert_true(labels <= MAX_ROUTES + 1);
    assert_true(replays(text, "equivalent", "other") > 0);
    sdiff_free(text);
    metrics_free(mm);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mirror_metrics__junk_paths_do_not_keep_the_slots),
    cmocka_unit_test(test_mirror_metrics__memory_budget_and_shed_requests_are_shown),
    cmocka_unit_test(test_mirror_metrics__live_routes_survive_a_flood_of_new_paths),
};
SDIFF_TEST_MAIN(tests)
