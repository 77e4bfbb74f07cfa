/*
 * bench_store.c - one results writer for bench_store.sh: N results (a candidate answer row
 * for every tenth, two differences for every hundredth) into one named run of a store given
 * as a SQLite path or a postgres:// URL, in the store's batches. Prints "results/s seconds".
 *
 *   bench_store DB N NAME
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "shadowdiff/store.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_store DB N NAME\n");
        return 2;
    }
    long n = atol(argv[2]);
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    struct sdiff_store_opts o = {.keep_secrets = 1};
    int64_t run;
    double t0 = now();
    if (sdiff_store_open(&st, argv[1], &o, &err) < 0)
        goto fail;
    struct sdiff_run_info info = {.kind = "mirror", .name = argv[3]};
    if (sdiff_store_begin_run(st, &info, &run, &err) < 0)
        goto fail;
    static struct sdiff_msg ok = {.present = 1, .status = 200, .reason = (char *)"OK",
                                  .body = (uint8_t *)"{\"id\":42,\"name\":\"x\"}",
                                  .body_len = 20};
    static const char *paths[] = {"status", "$.items[3].price"}, *kinds[] = {"changed", "changed"};
    static const char *pv[] = {"200", "1.5"}, *cv[] = {"500", "1.50001"};
    char target[64];
    for (long i = 0; i < n; i++) {
        snprintf(target, sizeof target, "/api/r%ld/%ld?page=2", i % 40, i);
        char route[32];
        snprintf(route, sizeof route, "GET /api/r%ld/{id}", i % 40);
        int diff = i % 100 == 0;
        struct sdiff_result_rec r = {.run_id = run, .method = "GET", .route = route,
                                     .target = target,
                                     .cls = diff ? "different" : "identical",
                                     .primary_status = 200, .primary_ms = 5 + (double)(i % 97),
                                     .bytes_equal = !diff,
                                     .t_req_start = 1700000000000000ull + (uint64_t)i * 1000};
        r.candidate.msg = &ok;
        r.candidate.latency_ms = 6 + (double)(i % 89);
        r.candidate.keep_body = diff;
        r.candidate.skip_row = i % 10 != 0;
        if (diff) {
            r.paths = paths, r.kinds = kinds, r.primary_values = pv, r.candidate_values = cv;
            r.ndiffs = 2;
        }
        if (sdiff_store_put_result(st, &r, NULL, &err) < 0)
            goto fail;
    }
    if (sdiff_store_end_run(st, run, "{}", &err) < 0)
        goto fail;
    sdiff_store_close(st);
    double secs = now() - t0;
    printf("%.0f %.3f\n", (double)n / secs, secs);
    return 0;
fail:
    fprintf(stderr, "bench_store: %s\n", err.msg);
    sdiff_store_close(st);
    return 1;
}
