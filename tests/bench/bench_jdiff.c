/*
 * bench_jdiff.c - throughput of parse-both-and-compare on one pair of body files.
 *
 *   bench_jdiff primary.json candidate.json [seconds]
 *
 * Prints one line: "<best MB/s> <median MB/s> <best MB/s one-shot> <equal> <deltas found>",
 * where MB/s counts the bytes of both bodies per comparison, from timing single comparisons
 * (reusing a handle, then sdiff_jdiff_compare creating one each time; half the given seconds
 * each). Built by tests/bench/bench_jdiff.sh.
 */
#include "shadowdiff/jdiff.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL ||
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "bench_jdiff: cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void fail(int rc, const struct sdiff_err *err)
{
    fprintf(stderr, "bench_jdiff: %s: %s (offset %lu)\n", sdiff_status_str(rc), err->msg,
            (unsigned long)err->offset);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_jdiff primary.json candidate.json [seconds]\n");
        return 2;
    }
    double secs = argc > 3 ? atof(argv[3]) : 2.0;
    size_t la, lb;
    uint8_t *a = slurp(argv[1], &la), *b = slurp(argv[2], &lb);
    struct sdiff_slice sa = {a, la}, sb = {b, lb};
    struct sdiff_err err = {0};
    struct sdiff_jdiff *jd = NULL;
    struct sdiff_jdiff_result res;
    int rc = sdiff_jdiff_new(&jd, NULL, &err);
    if (rc < 0)
        fail(rc, &err);

    /* warm up, and keep the verdict to print */
    rc = sdiff_jdiff_run(jd, sa, sb, &res, &err);
    if (rc < 0)
        fail(rc, &err);
    int equal = res.equal;
    size_t found = res.ndeltas + res.nomitted;
    sdiff_jdiff_result_dispose(&res);

    /* Time single comparisons: other processes on a shared machine only ever slow a call
       down, so the best call shows the code's own speed and the median the typical one. */
    enum { MAX_SAMPLES = 1 << 20 };
    double *t = malloc(MAX_SAMPLES * sizeof *t);
    double best[2], median[2];
    if (t == NULL)
        return 2;
    for (int mode = 0; mode < 2; mode++) {
        size_t n = 0;
        double start = now();
        do {
            double t0 = now();
            rc = mode == 0 ? sdiff_jdiff_run(jd, sa, sb, &res, &err)
                           : sdiff_jdiff_compare(NULL, sa, sb, &res, &err);
            t[n++] = now() - t0;
            if (rc < 0)
                fail(rc, &err);
            sdiff_jdiff_result_dispose(&res);
        } while (n < MAX_SAMPLES && now() - start < secs / 2);
        qsort(t, n, sizeof *t, cmp_double);
        best[mode] = (double)(la + lb) / t[0] / 1e6;
        median[mode] = (double)(la + lb) / t[n / 2] / 1e6;
    }
    free(t);
    printf("%.1f %.1f %.1f %d %zu\n", best[0], median[0], best[1], equal, found);
    sdiff_jdiff_free(jd);
    free(a);
    free(b);
    return 0;
}
