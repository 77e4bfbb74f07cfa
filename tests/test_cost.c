/*
 * test_cost.c - CPU and memory of a side: a real process tree whose workers exit and are
 * waited for, fixture /proc and cgroup trees (v1, v2, v2 without a memory controller), the
 * Prometheus text reader, and the cost arithmetic on known numbers.
 */
#include "shadowdiff/cost.h"

#include "sdiff_test.h"
#include "shadowdiff/report.h"
#include "shadowdiff/store.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void put(const char *dir, const char *rel, const char *text)
{
    char path[4200], cmd[9000];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* stat line with the given ppid, utime/stime/cutime/cstime and rss (pages) */
static void put_stat(const char *dir, int pid, const char *comm, int ppid, int ut, int st, int cut,
                     int cst, int rss)
{
    char rel[64], text[512];
    snprintf(rel, sizeof rel, "%d/stat", pid);
    snprintf(text, sizeof text,
             "%d (%s) S %d %d %d 0 -1 4194560 100 0 0 0 %d %d %d %d 20 0 1 0 100 1000000 %d "
             "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
             pid, comm, ppid, pid, pid, ut, st, cut, cst, rss);
    put(dir, rel, text);
}

static void test_cost__fixture_proc_tree_sums_the_descendants_only(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir();
    put_stat(dir, 100, "gunicorn: master", 1, 10, 5, 100, 20, 1000);
    put_stat(dir, 101, "gunicorn: worker) (x", 100, 30, 10, 0, 0, 2000); /* ')' in comm */
    put_stat(dir, 102, "python3", 101, 1, 1, 0, 0, 10);
    put_stat(dir, 99, "child of 102, listed first", 102, 2, 0, 0, 0, 5);
    put_stat(dir, 200, "unrelated", 1, 500, 500, 0, 0, 9999);
    put_stat(dir, 201, "orphan", 4242, 7, 7, 0, 0, 7); /* parent gone */
    put(dir, "self", "not a pid\n");
    struct sdiff_cost_sample s;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_cost_sample_pid(dir, 100, &s, &err), SDIFF_OK);
    assert_int_equal(s.processes, 4);
    double hz = (double)sysconf(_SC_CLK_TCK);
    assert_true(fabs(s.cpu_s - (135 + 40 + 2 + 2) / hz) < 1e-9);
    assert_int_equal(s.mem_bytes, (uint64_t)(1000 + 2000 + 10 + 5) * (uint64_t)sysconf(_SC_PAGESIZE));
    assert_int_equal(sdiff_cost_sample_pid(dir, 4242, &s, &err), SDIFF_EINVAL);
    put(dir, "300/stat", "300 (cut short) S 1 2\n");
    assert_int_equal(sdiff_cost_sample_pid(dir, 300, &s, &err), SDIFF_EINVAL);
    sdiff_test_rmdir(dir);
    free(dir);
}

static double children_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* A master that starts two workers burning CPU, waits for them, then idles: the workers'
 * CPU must still count after they are gone, and agree with the kernel's own accounting. */
static void test_cost__real_tree_keeps_exited_workers(void **state)
{
    (void)state;
    double before = children_cpu();
    char *argv[] = {"/bin/sh", "-c",
                    "burn() { i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done; }; "
                    "burn & burn & sleep 0.3; touch \"$0\"; wait; touch \"$0.done\"; sleep 30",
                    NULL, NULL};
    char *dir = sdiff_test_tmpdir();
    char flag[4200], done[4300];
    snprintf(flag, sizeof flag, "%s/started", dir);
    snprintf(done, sizeof done, "%s.done", flag);
    argv[3] = flag;
    int pid = sdiff_test_spawn(argv, NULL, NULL);
    struct sdiff_cost_sample s0, mid, s1;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_cost_sample_pid("/proc", pid, &s0, &err), SDIFF_OK);
    double t0 = sdiff_test_now();
    while (access(flag, F_OK) != 0 && sdiff_test_now() - t0 < 30)
        usleep(10000);
    assert_int_equal(sdiff_cost_sample_pid("/proc", pid, &mid, &err), SDIFF_OK);
    assert_true(mid.processes >= 3); /* the master and both workers, alive */
    while (access(done, F_OK) != 0 && sdiff_test_now() - t0 < 60)
        usleep(10000);
    assert_int_equal(sdiff_cost_sample_pid("/proc", pid, &s1, &err), SDIFF_OK);
    assert_true(s1.processes <= 2); /* the workers are gone (sleep may be running) */
    sdiff_test_stop(pid, SIGKILL, 10);
    double kernel = children_cpu() - before;
    double ours = s1.cpu_s - s0.cpu_s;
    /* clock ticks are 10 ms: within 10% or two ticks */
    if (fabs(ours - kernel) > fmax(0.1 * kernel, 0.02))
        fail_msg("tree CPU %.3f s, kernel's accounting %.3f s", ours, kernel);
    assert_true(kernel > 0.1);
    sdiff_test_rmdir(dir);
    free(dir);
}

static void test_cost__cgroup_v2_v1_and_v2_without_memory(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir();
    struct sdiff_cost_sample s;
    struct sdiff_err err = {0};
    int mem;
    /* v2 only */
    put(dir, "v2/app.slice/web.service/cpu.stat", "usage_usec 2500000\nuser_usec 2000000\n");
    put(dir, "v2/app.slice/web.service/memory.current", "104857600\n");
    char root[4200];
    snprintf(root, sizeof root, "%s/v2", dir);
    assert_int_equal(sdiff_cost_sample_cgroup(root, "/app.slice/web.service", &s, &mem, &err),
                     SDIFF_OK);
    assert_true(fabs(s.cpu_s - 2.5) < 1e-9);
    assert_int_equal(mem, 1);
    assert_int_equal(s.mem_bytes, 104857600);
    /* hybrid: v2 under unified/ without a memory controller, v1 memory beside it */
    put(dir, "hy/unified/web/cpu.stat", "user_usec 1\nusage_usec 7000000\n");
    snprintf(root, sizeof root, "%s/hy", dir);
    assert_int_equal(sdiff_cost_sample_cgroup(root, "/web", &s, &mem, &err), SDIFF_OK);
    assert_true(fabs(s.cpu_s - 7.0) < 1e-9);
    assert_int_equal(mem, 0);
    put(dir, "hy/memory/web/memory.usage_in_bytes", "4096\n");
    assert_int_equal(sdiff_cost_sample_cgroup(root, "/web", &s, &mem, &err), SDIFF_OK);
    assert_int_equal(mem, 1);
    assert_int_equal(s.mem_bytes, 4096);
    /* v1 only, cpu and cpuacct co-mounted */
    put(dir, "v1/cpu,cpuacct/db/cpuacct.usage", "1500000000\n");
    put(dir, "v1/memory/db/memory.usage_in_bytes", "8192\n");
    snprintf(root, sizeof root, "%s/v1", dir);
    assert_int_equal(sdiff_cost_sample_cgroup(root, "/db", &s, &mem, &err), SDIFF_OK);
    assert_true(fabs(s.cpu_s - 1.5) < 1e-9);
    assert_int_equal(s.mem_bytes, 8192);
    assert_int_equal(sdiff_cost_sample_cgroup(root, "/nope", &s, &mem, &err), SDIFF_EINVAL);
    assert_int_equal(sdiff_cost_sample_cgroup(root, "/db/../../etc", &s, &mem, &err),
                     SDIFF_EINVAL);
    assert_int_equal(sdiff_cost_sample_cgroup(root, "db", &s, &mem, &err), SDIFF_EINVAL);
    sdiff_test_rmdir(dir);
    free(dir);
}

static void test_cost__this_hosts_root_cgroup_counts_cpu(void **state)
{
    (void)state;
    struct sdiff_cost_sample a, b;
    struct sdiff_err err = {0};
    int mem;
    assert_int_equal(sdiff_cost_sample_cgroup("/sys/fs/cgroup", "/", &a, &mem, &err), SDIFF_OK);
    volatile double x = 0;
    for (int i = 0; i < 20000000; i++)
        x += i * 0.5;
    assert_int_equal(sdiff_cost_sample_cgroup("/sys/fs/cgroup", "/", &b, &mem, &err), SDIFF_OK);
    assert_true(b.cpu_s > a.cpu_s);
}

static void test_cost__prometheus_text_is_read_strictly(void **state)
{
    (void)state;
    static const char text[] =
        "# HELP process_cpu_seconds_total Total user and system CPU time.\n"
        "# TYPE process_cpu_seconds_total counter\n"
        "process_cpu_seconds_total 12.5\n"
        "process_cpu_seconds_total_other 99\n"
        "process_resident_memory_bytes{worker=\"a}b\",x=\"\\\"\"} 1048576 1700000000000\n"
        "process_resident_memory_bytes{worker=\"2\"} 1048576\n"
        "process_virtual_memory_bytes 1e12\n";
    struct sdiff_cost_sample s;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_cost_parse_metrics(text, strlen(text), &s, &err), SDIFF_OK);
    assert_true(fabs(s.cpu_s - 12.5) < 1e-9);
    assert_int_equal(s.mem_bytes, 2097152);
    static const char none[] = "process_resident_memory_bytes 5\nprocess_cpu_seconds_total NaN\n";
    assert_int_equal(sdiff_cost_parse_metrics(none, strlen(none), &s, &err), SDIFF_EPARSE);
    assert_int_equal(sdiff_cost_parse_metrics(text, 20, &s, &err), SDIFF_EPARSE); /* cut */
}

static void test_cost__summary_on_known_numbers(void **state)
{
    (void)state;
    const uint64_t gib = 1024ull * 1024 * 1024;
    struct sdiff_cost_sample s[] = {
        {.t_us = 0, .cpu_s = 10.0, .mem_bytes = gib},
        {.t_us = 1000000, .cpu_s = 10.5, .mem_bytes = gib},
        {.t_us = 2000000, .cpu_s = 11.0, .mem_bytes = gib},
    };
    struct sdiff_cost_model m = SDIFF_COST_MODEL_CLOUD_RUN;
    struct sdiff_cost_side c;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_cost_summarise(s, 3, 1000, &m, &c, &err), SDIFF_OK);
    assert_true(fabs(c.cpu_ms_per_request - 1.0) < 1e-9);
    assert_true(fabs(c.window_s - 2.0) < 1e-9);
    assert_true(fabs(c.mem_mib_mean - 1024) < 1e-9);
    /* 1 vCPU-s * 0.000024 + 2 GiB-s * 0.0000025 over 1000 requests, per million, + 0.40 */
    assert_true(fabs(c.cost_per_million - (0.000029 / 1000 * 1e6 + 0.40)) < 1e-9);
    /* a counter that restarts (the process was replaced) adds nothing for that interval */
    s[1].cpu_s = 0.2;
    assert_int_equal(sdiff_cost_summarise(s, 3, 1000, NULL, &c, &err), SDIFF_OK);
    assert_true(fabs(c.cpu_ms_per_request - 10.8) < 1e-9);
    assert_true(c.cost_per_million < 0);
    assert_int_equal(sdiff_cost_summarise(s, 3, 0, &m, &c, &err), SDIFF_OK);
    assert_true(c.cpu_ms_per_request < 0 && c.cost_per_million < 0);
    assert_int_equal(sdiff_cost_summarise(s, 1, 10, &m, &c, &err), SDIFF_EINVAL);
    s[2].t_us = 5;
    assert_int_equal(sdiff_cost_summarise(s, 3, 10, &m, &c, &err), SDIFF_EINVAL);
}

#define MIB_B (1024ull * 1024)

/* Samples stored as the sampler stores them (differences), read back by a report built from
 * a real SQLite file: the arithmetic of lib/report/README.md "Cost" on known numbers. */
static void test_cost__report_from_stored_samples(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir(), db[4200];
    snprintf(db, sizeof db, "%s/r.db", dir);
    struct sdiff_store *st = NULL;
    struct sdiff_store_opts so = {0};
    struct sdiff_err err = {0};
    int64_t run = 0, run_none = 0;
    assert_int_equal(sdiff_store_open(&st, db, &so, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "gate", .candidate = "http://c", .primary = "http://p"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &run, &err), SDIFF_OK);
    uint64_t t0 = 1700000000000000ull;
    const struct sdiff_store_cost_sample rows[] = {
        {"candidate", t0, 0, 0, 100 * MIB_B, NULL},
        {"candidate", t0 + 1000000, 100, 500, 200 * MIB_B, NULL},
        {"candidate", t0 + 2000000, 100, 500, 300 * MIB_B, NULL},
        {"primary", t0, 0, 0, 100 * MIB_B, NULL},
        {"primary", t0 + 2000000, 400, 1000, 100 * MIB_B, NULL},
    };
    assert_int_equal(sdiff_store_put_cost_samples(st, run, NULL, rows, 5, &err), SDIFF_OK);
    assert_int_equal(sdiff_store_end_run(st, run, "{\"price_model\":\"cloud-run\"}", &err),
                     SDIFF_OK);
    assert_int_equal(sdiff_store_begin_run(st, &info, &run_none, &err), SDIFF_OK);
    assert_int_equal(sdiff_store_put_cost_samples(st, run_none, NULL, rows, 3, &err), SDIFF_OK);
    assert_int_equal(sdiff_store_end_run(st, run_none, "{\"price_model\":\"none\"}", &err),
                     SDIFF_OK);
    sdiff_store_close(st);

    struct sdiff_report *r = NULL;
    assert_int_equal(sdiff_report_build(&r, db, run, NULL, &err), SDIFF_OK);
    const struct sdiff_report_cost *k = &r->cost;
    assert_true(k->present && k->primary.present && k->candidate.present && k->priced);
    assert_int_equal(k->candidate.requests, 200);
    assert_true(fabs(k->candidate.cpu_ms_per_request - 5.0) < 1e-9);
    assert_true(fabs(k->candidate.rss_mib_mean - 200) < 1e-9);
    assert_true(fabs(k->candidate.rss_mib_peak - 300) < 1e-9);
    /* (1 CPU-s x 0.000024 + (150 + 250) / 1024 GiB-s x 0.0000025) / 200 x 1e6 + 0.40 */
    double want = (1.0 * 0.000024 + 400.0 / 1024 * 0.0000025) / 200 * 1e6 + 0.40;
    assert_true(fabs(k->candidate.cost_per_million - want) < 1e-9);
    assert_int_equal(k->primary.requests, 400);
    assert_true(fabs(k->primary.cpu_ms_per_request - 2.5) < 1e-9);
    assert_true(fabs(k->ratio_cpu_ms_per_request - 2.0) < 1e-9);
    assert_true(fabs(k->ratio_rss_mib_mean - 2.0) < 1e-9);
    /* no results: no route mix to compare, so not comparable */
    assert_true(k->mix_distance < 0 && !k->comparable);
    sdiff_report_free(r);

    assert_int_equal(sdiff_report_build(&r, db, run_none, NULL, &err), SDIFF_OK);
    assert_true(r->cost.candidate.present && !r->cost.primary.present && !r->cost.priced);
    assert_true(r->cost.candidate.cost_per_million < 0);
    assert_true(r->cost.candidate.cpu_ms_per_request > 0);
    /* report --price-model: the same samples priced after the fact */
    static const struct sdiff_cost_model cr = SDIFF_COST_MODEL_CLOUD_RUN;
    sdiff_report_set_price_model(r, &cr);
    assert_true(r->cost.priced && fabs(r->cost.candidate.cost_per_million - want) < 1e-9);
    sdiff_report_set_price_model(r, NULL);
    assert_true(!r->cost.priced && r->cost.candidate.cost_per_million < 0);
    sdiff_report_free(r);
    sdiff_test_rmdir(dir);
    free(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_cost__fixture_proc_tree_sums_the_descendants_only),
    cmocka_unit_test(test_cost__real_tree_keeps_exited_workers),
    cmocka_unit_test(test_cost__cgroup_v2_v1_and_v2_without_memory),
    cmocka_unit_test(test_cost__this_hosts_root_cgroup_counts_cpu),
    cmocka_unit_test(test_cost__prometheus_text_is_read_strictly),
    cmocka_unit_test(test_cost__summary_on_known_numbers),
    cmocka_unit_test(test_cost__report_from_stored_samples),
};
SDIFF_TEST_MAIN(tests)
