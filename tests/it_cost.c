/*
 * it_cost.c - cost per request end to end: a loopback HTTP server (python3 http.server under
 * timeout, so the process given is a parent and the work is done by its child) replayed to
 * by the CLI with --candidate-pid, and the report's CPU per request checked against the
 * kernel's own accounting of those processes in /proc; a source that is gone at the start
 * or goes away during the run; a Prometheus page; the host's real cgroup v1 tree; a gate
 * with both sides; and the one-line errors of bad values.
 */
#include "sdiff_test.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shadowdiff/store.h"

#define T0 1700000000000000ull

static char dir[4096], corpus[4200], www[4200], url[64];
static int server_pid, port;

/* A corpus of n GETs of target, each answered "x" (the listing differs: judged different). */
static void make_corpus(const char *path, int n, const char *target)
{
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    struct sdiff_store_opts o = {0};
    int64_t cap;
    if (sdiff_store_open(&st, path, &o, &err) < 0)
        fail_msg("open: %s", err.msg);
    assert_int_equal(sdiff_store_begin_capture(st, "test", "test", &cap, &err), SDIFF_OK);
    for (int i = 0; i < n; i++) {
        struct sdiff_exchange *ex = sdiff_exchange_new();
        assert_non_null(ex);
        struct sdiff_hfield h = {"Host", "svc", 4, 3};
        ex->req.method = (char *)"GET"; /* not owned: the exchange frees bodies only */
        ex->req.target = (char *)target;
        assert_int_equal(sdiff_msg_set_headers(&ex->req, &h, 1), SDIFF_OK);
        ex->req.present = ex->req.complete = 1;
        ex->req.version_minor = 1;
        ex->resp.present = ex->resp.complete = 1;
        ex->resp.status = 200;
        ex->resp.version_minor = 1;
        ex->resp.reason = (char *)"OK";
        ex->resp.body = (uint8_t *)sdiff_strdup("x");
        ex->resp.body_len = ex->resp.body_seen = 1;
        ex->conn_id = (uint64_t)i;
        ex->t_req_start = T0 + (uint64_t)i * 1000;
        ex->t_resp_end = ex->t_req_start + 500;
        ex->state = SDIFF_EX_COMPLETE;
        assert_int_equal(sdiff_store_put_exchange(st, ex, &err), SDIFF_OK);
        sdiff_exchange_free(ex);
    }
    assert_int_equal(sdiff_store_commit(st, &err), SDIFF_OK);
    sdiff_store_close(st);
}

/* utime + stime + cutime + cstime of one process, in clock ticks (proc(5)). */
static long long proc_ticks(int pid)
{
    char path[64], text[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *p = strrchr(text, ')');
    assert_non_null(p);
    long long v[15] = {0};
    /* after ") ": state, then fields 4.. ; utime..cstime are fields 14..17 */
    int got = sscanf(p + 2, "%*c %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld",
                     &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10],
                     &v[11], &v[12], &v[13]);
    assert_int_equal(got, 14);
    return v[10] + v[11] + v[12] + v[13];
}

/* The server's tree: timeout (server_pid) and its one child, python. */
static long long tree_ticks(void)
{
    char path[96], text[256] = "";
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", server_pid, server_pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    long long t = proc_ticks(server_pid);
    for (char *p = text, *end; *p; p = end) {
        long c = strtol(p, &end, 10);
        if (end == p)
            break;
        t += proc_ticks((int)c);
    }
    return t;
}

static int setup(void **state)
{
    (void)state;
    char *d = sdiff_test_tmpdir();
    snprintf(dir, sizeof dir, "%s", d);
    free(d);
    snprintf(www, sizeof www, "%s/www", dir);
    assert_int_equal(mkdir(www, 0700), 0);
    /* a directory listing of 300 names: about a millisecond of Python per request */
    for (int i = 0; i < 300; i++) {
        char p[4300];
        snprintf(p, sizeof p, "%s/file-with-a-longish-name-%03d.txt", www, i);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fclose(f);
    }
    char p[4300];
    snprintf(p, sizeof p, "%s/metrics", www);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 3.5\n"
          "process_resident_memory_bytes 104857600\n",
          f);
    fclose(f);
    snprintf(corpus, sizeof corpus, "%s/corpus.db", dir);
    make_corpus(corpus, 1000, "/www/");
    port = sdiff_test_free_port();
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    char *argv[] = {"timeout", "120", "python3", "-m", "http.server", portstr, "--bind",
                    "127.0.0.1", "--directory", dir, NULL};
    server_pid = sdiff_test_spawn(argv, NULL, NULL);
    assert_int_equal(sdiff_test_wait_port(port, 20), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (server_pid > 0)
        sdiff_test_stop(server_pid, SIGTERM, 5);
    sdiff_test_rmdir(dir);
    return 0;
}

/* The report of db as JSON; caller decrefs. */
static json_t *report_json(const char *db)
{
    char *argv[] = {(char *)sdiff_test_bin(), "report", "--db", (char *)db, "--format", "json",
                    NULL};
    struct sdiff_test_run r = sdiff_test_run(argv, dir, 60);
    assert_true(sdiff_test_exit_code(&r) >= 0 && sdiff_test_exit_code(&r) != 2);
    json_error_t je;
    json_t *j = json_loadb(r.out, r.out_len, 0, &je);
    if (j == NULL)
        fail_msg("report json: %s", je.text);
    sdiff_test_run_dispose(&r);
    return j;
}

static double jnum(json_t *o, const char *side, const char *key)
{
    json_t *v = json_object_get(json_object_get(json_object_get(o, "cost"), side), key);
    if (!json_is_number(v))
        fail_msg("cost.%s.%s is not a number", side, key);
    return json_number_value(v);
}

/* Lines of stderr containing needle. */
static int err_lines_with(const struct sdiff_test_run *r, const char *needle)
{
    int n = 0;
    for (const char *p = r->err; p && p < r->err + r->err_len;) {
        const char *nl = memchr(p, '\n', (size_t)(r->err + r->err_len - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(r->err + r->err_len - p);
        char line[2048];
        snprintf(line, sizeof line, "%.*s", (int)(len < 2000 ? len : 2000), p);
        if (strstr(line, needle))
            n++;
        p += len + 1;
    }
    return n;
}

static void test_cost__replay_cpu_per_request_matches_proc(void **state)
{
    (void)state;
    char db[4200], pid[16];
    snprintf(db, sizeof db, "%s/pid.db", dir);
    snprintf(pid, sizeof pid, "%d", server_pid);
    long long before = tree_ticks();
    char *argv[] = {(char *)sdiff_test_bin(), "replay", "--corpus", corpus, "--db", db,
                    "--candidate", url, "--candidate-pid", pid, "--concurrency", "4", NULL};
    struct sdiff_test_run r = sdiff_test_run(argv, dir, 120);
    long long after = tree_ticks();
    assert_int_equal(sdiff_test_exit_code(&r), 1); /* the listing is not "x" */
    assert_int_equal(err_lines_with(&r, "warning"), 0);
    sdiff_test_run_dispose(&r);

    json_t *j = report_json(db);
    json_t *cost = json_object_get(j, "cost");
    assert_true(json_is_object(cost));
    assert_true(json_is_null(json_object_get(cost, "primary"))); /* no live --primary */
    double requests = jnum(j, "candidate", "requests");
    double cpu_ms = jnum(j, "candidate", "cpu_ms_per_request");
    double hz = (double)sysconf(_SC_CLK_TCK);
    double proc_ms = (double)(after - before) * 1000 / hz / 1000;
    print_message("cpu per request: report %.4f ms, /proc %.4f ms (%lld ticks, %.0f requests)\n",
                  cpu_ms, proc_ms, after - before, requests);
    assert_true(requests == 1000);
    /* enough ticks that one tick either side is well inside the tolerance */
    assert_true(after - before >= 40);
    assert_true(fabs(cpu_ms - proc_ms) <= 0.10 * proc_ms);
    assert_true(jnum(j, "candidate", "rss_mib_peak") >= jnum(j, "candidate", "rss_mib_mean"));
    assert_true(jnum(j, "candidate", "rss_mib_mean") > 1);
    assert_true(jnum(j, "candidate", "cost_per_million") > 0.40); /* the per-request fee */
    json_t *model = json_object_get(cost, "model");
    assert_string_equal(json_string_value(json_object_get(model, "read_on")), "2026-12-07");
    json_decref(j);
}

static void test_cost__dead_pid_is_one_warning(void **state)
{
    (void)state;
    char *t[] = {"true", NULL};
    int gone = sdiff_test_spawn(t, NULL, NULL);
    sdiff_test_wait(gone, 10);
    char db[4200], pid[16];
    snprintf(db, sizeof db, "%s/dead.db", dir);
    snprintf(pid, sizeof pid, "%d", gone);
    char *argv[] = {(char *)sdiff_test_bin(), "replay", "--corpus", corpus, "--db", db,
                    "--candidate", url, "--candidate-pid", pid, "--price-model", "none", NULL};
    struct sdiff_test_run r = sdiff_test_run(argv, dir, 120);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    assert_int_equal(err_lines_with(&r, "warning"), 1);
    assert_int_equal(err_lines_with(&r, "--candidate-pid"), 1);
    /* the warning and the summary; a slow machine may add a progress line every 10 s */
    sdiff_test_expect_stderr_lines(&r, "replay", 6);
    sdiff_test_run_dispose(&r);
    json_t *j = report_json(db);
    assert_true(json_is_null(json_object_get(j, "cost")));
    json_decref(j);
}

/* A process that exits while the run goes: one warning, the run finishes, what was sampled
 * before stays. */
static void test_cost__pid_gone_mid_run_stops_that_side(void **state)
{
    (void)state;
    char *s[] = {"sleep", "1.5", NULL};
    int brief = sdiff_test_spawn(s, NULL, NULL);
    char db[4200], pid[16];
    snprintf(db, sizeof db, "%s/gone.db", dir);
    snprintf(pid, sizeof pid, "%d", brief);
    char *argv[] = {(char *)sdiff_test_bin(), "replay", "--corpus", corpus, "--db", db,
                    "--candidate", url, "--candidate-pid", pid, "--rate", "300", NULL};
    struct sdiff_test_run r = sdiff_test_run(argv, dir, 120);
    sdiff_test_wait(brief, 10);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    assert_int_equal(err_lines_with(&r, "warning"), 1);
    assert_int_equal(err_lines_with(&r, "cost sampling of this side stops"), 1);
    sdiff_test_run_dispose(&r);
    char q[200];
    snprintf(q, sizeof q, "SELECT count(*) FROM cost_samples WHERE target = 'candidate'");
    assert_true(sdiff_test_db_int(db, q) >= 2);
}

static void test_cost__metrics_page_is_read(void **state)
{
    (void)state;
    char db[4200], murl[128];
    snprintf(db, sizeof db, "%s/metrics.db", dir);
    snprintf(murl, sizeof murl, "%s/www/metrics", url);
    char *argv[] = {(char *)sdiff_test_bin(), "replay", "--corpus", corpus, "--db", db,
                    "--candidate", url, "--candidate-metrics", murl, NULL};
    struct sdiff_test_run r = sdiff_test_run(argv, dir, 120);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    assert_int_equal(err_lines_with(&r, "warning"), 0);
    sdiff_test_run_dispose(&r);
    json_t *j = report_json(db);
    assert_true(fabs(jnum(j, "candidate", "rss_mib_mean") - 100) < 1e-9);
    assert_true(jnum(j, "candidate", "cpu_ms_per_request") == 0); /* the page never moves */
    json_decref(j);
    /* a page that is not there: one warning */
    snprintf(db, sizeof db, "%s/metrics404.db", dir);
    snprintf(murl, sizeof murl, "%s/www/no-such-page", url);
    struct sdiff_test_run r2 = sdiff_test_run(argv, dir, 120);
    assert_int_equal(sdiff_test_exit_code(&r2), 1);
    assert_int_equal(err_lines_with(&r2, "warning"), 1);
    assert_int_equal(err_lines_with(&r2, "status 404"), 1);
    sdiff_test_run_dispose(&r2);
}

/* The host's own cgroup tree (v1 controllers here): the root cgroup always exists. */
static void test_cost__real_cgroup_root_is_sampled(void **state)
{
    (void)state;
    if (access("/sys/fs/cgroup/cpuacct/cpuacct.usage", R_OK) != 0 &&
        access("/sys/fs/cgroup/cpu.stat", R_OK) != 0)
        skip();
    char db[4200];
    snprintf(db, sizeof db, "%s/cgroup.db", dir);
    char *argv[] = {(char *)sdiff_test_bin(), "replay", "--corpus", corpus, "--db", db,
                    "--candidate", url, "--candidate-cgroup", "/", NULL};
    struct sdiff_test_run r = sdiff_test_run(argv, dir, 120);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    assert_int_equal(err_lines_with(&r, "warning"), 0);
    sdiff_test_run_dispose(&r);
    json_t *j = report_json(db);
    /* the whole host did at least this server's work */
    assert_true(jnum(j, "candidate", "cpu_ms_per_request") > 0);
    json_decref(j);
    snprintf(db, sizeof db, "%s/cgroup-missing.db", dir);
    argv[9] = "/no-such-cgroup-here";
    struct sdiff_test_run r2 = sdiff_test_run(argv, dir, 120);
    assert_int_equal(sdiff_test_exit_code(&r2), 1);
    assert_int_equal(err_lines_with(&r2, "warning"), 1);
    sdiff_test_run_dispose(&r2);
}

/* gate sends each sample to both: the same server on both sides costs the same, and the two
 * route mixes are one, so the ratio is 1 and comparable. */
static void test_cost__gate_both_sides_comparable(void **state)
{
    (void)state;
    char db[4200], pid[16];
    snprintf(db, sizeof db, "%s/gate.db", dir);
    snprintf(pid, sizeof pid, "%d", server_pid);
    char *argv[] = {(char *)sdiff_test_bin(), "gate", "--corpus", corpus, "--db", db,
                    "--primary", url, "--candidate", url, "--primary-pid", pid,
                    "--candidate-pid", pid, "--sample", "300", "--format", "json", NULL};
    struct sdiff_test_run r = sdiff_test_run(argv, dir, 120);
    assert_true(sdiff_test_exit_code(&r) != 2);
    json_error_t je;
    json_t *j = json_loadb(r.out, r.out_len, 0, &je);
    assert_non_null(j);
    sdiff_test_run_dispose(&r);
    json_t *cost = json_object_get(j, "cost");
    assert_true(json_is_true(json_object_get(cost, "comparable")));
    assert_true(jnum(j, "primary", "requests") == 300);
    assert_true(jnum(j, "candidate", "requests") == 300);
    double ratio = json_number_value(
        json_object_get(json_object_get(cost, "ratio"), "cpu_ms_per_request"));
    assert_true(fabs(ratio - 1) < 0.05);
    json_decref(j);
}

/* mirror: the primary served everything captured, writes too; the candidate only the safe
 * replays. The same process on both sides, so the CPU ratio is the ratio of requests, and
 * the route mixes differ by far more than 10%: not comparable. */
static void test_cost__mirror_counts_captured_and_marks_mix(void **state)
{
    (void)state;
    char db[4200], pid[16];
    snprintf(db, sizeof db, "%s/mirror.db", dir);
    snprintf(pid, sizeof pid, "%d", server_pid);
    char *argv[] = {(char *)sdiff_test_bin(), "mirror", "--pcap",
                    (char *)sdiff_test_fixture_path("pcap/interleaved_many.pcap"), "--port",
                    "8080", "--db", db, "--candidate", url, "--primary-pid", pid,
                    "--candidate-pid", pid, NULL};
    struct sdiff_test_run r = sdiff_test_run(argv, dir, 120);
    assert_int_not_equal(sdiff_test_exit_code(&r), 2);
    assert_int_equal(err_lines_with(&r, "warning"), 0);
    sdiff_test_run_dispose(&r);
    json_t *j = report_json(db);
    json_t *cost = json_object_get(j, "cost");
    assert_true(jnum(j, "primary", "requests") == 611);   /* captured */
    assert_true(jnum(j, "candidate", "requests") == 372); /* replayed (239 unsafe skipped) */
    assert_true(json_is_false(json_object_get(cost, "comparable")));
    assert_true(json_number_value(json_object_get(cost, "route_mix_distance")) > 0.10);
    double ratio = json_number_value(
        json_object_get(json_object_get(cost, "ratio"), "cpu_ms_per_request"));
    assert_true(fabs(ratio - 611.0 / 372.0) < 0.01);
    json_decref(j);
}

static void test_cost__bad_values_are_one_line(void **state)
{
    (void)state;
    char db[4200];
    snprintf(db, sizeof db, "%s/bad.db", dir);
    static const struct {
        const char *flag, *value, *needle;
    } cases[] = {
        {"--candidate-pid", "abc", "not a process id"},
        {"--primary-pid", "0", "not a process id"},
        {"--candidate-cgroup", "relative/path", "not a cgroup path"},
        {"--primary-cgroup", "/a/../b", "not a cgroup path"},
        {"--candidate-metrics", "ftp://127.0.0.1/metrics", "not an http"},
        {"--price-model", "aws", "not cloud-run or none"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[] = {(char *)sdiff_test_bin(), "replay", "--corpus", corpus, "--db", db,
                        "--candidate", url, (char *)cases[i].flag, (char *)cases[i].value, NULL};
        struct sdiff_test_run r = sdiff_test_run(argv, dir, 30);
        sdiff_test_expect_one_error(&r, "replay", cases[i].needle);
        sdiff_test_run_dispose(&r);
    }
    char *two[] = {(char *)sdiff_test_bin(), "mirror", "--pcap", corpus, "--db", db,
                   "--candidate", url, "--candidate-pid", "1", "--candidate-cgroup", "/",
                   NULL};
    struct sdiff_test_run r = sdiff_test_run(two, dir, 30);
    sdiff_test_expect_one_error(&r, "mirror", "one source for the candidate");
    sdiff_test_run_dispose(&r);
}

/* ---- the fixture services: Flask under gunicorn (master and workers) and its Go port ---- */

static struct sdiff_test_services svc;

/* CPU ticks of pid and every descendant, through /proc/PID/task/TID/children (another
 * route to the tree than the sampler's parent-pid scan). */
static long long desc_ticks(int pid, int depth)
{
    long long t = proc_ticks(pid);
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (d == NULL || depth > 8) {
        if (d)
            closedir(d);
        return t;
    }
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (de->d_name[0] == '.')
            continue;
        char cp[128], text[1024] = "";
        snprintf(cp, sizeof cp, "/proc/%d/task/%.16s/children", pid, de->d_name);
        FILE *f = fopen(cp, "r");
        if (f == NULL)
            continue;
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = '\0';
        for (char *p = text, *end; *p; p = end) {
            long c = strtol(p, &end, 10);
            if (end == p)
                break;
            t += desc_ticks((int)c, depth + 1);
        }
    }
    closedir(d);
    return t;
}

/* The pid of service name ("legacy-primary", "candidate") from the services' pids file. */
static int service_pid(const char *name)
{
    char path[4200], n[32];
    int pid = 0;
    snprintf(path, sizeof path, "%s/pids", svc.dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int p;
    while (fscanf(f, "%31s %d %*s %*s", n, &p) == 2)
        if (strcmp(n, name) == 0)
            pid = p;
    fclose(f);
    assert_true(pid > 0);
    return pid;
}

static int services_setup(void **state)
{
    (void)state;
    return sdiff_test_services_start(&svc) == 0 ? 0 : -1;
}

static int services_teardown(void **state)
{
    (void)state;
    sdiff_test_kill_all();
    sdiff_test_services_stop(&svc);
    return 0;
}

/* A gate between the two, each side's CPU per request against its tree's own accounting. */
static void test_cost__services_gate_matches_proc_on_both_sides(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* the corpus is captured on lo */
    char db[4200], results[4200], errf[4200], lport[16], cmd[12000];
    snprintf(db, sizeof db, "%s/corpus.db", svc.dir);
    snprintf(results, sizeof results, "%s/cost.db", svc.dir);
    snprintf(errf, sizeof errf, "%s/capture.err", svc.dir);
    snprintf(lport, sizeof lport, "%d", svc.legacy);
    char *cap_argv[] = {(char *)sdiff_test_bin(), "capture", "--interface", "lo", "--port", lport,
                        "--buffer-size", "256M", "--out", db, NULL};
    int cap = sdiff_test_spawn(cap_argv, NULL, errf);
    assert_int_equal(sdiff_test_wait_file_contains(errf, "listening on lo", 10), 0);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 '%s/services/drive.py' --port %d --requests 1500 --seed 7 "
             "--seconds 2 --out '%s/drive.jsonl' >'%s/drive.log' 2>&1",
             svc.fixtures, svc.legacy, svc.dir, svc.dir);
    assert_int_equal(sdiff_test_sh(cmd, 120), 0);
    usleep(500000);
    sdiff_test_stop(cap, SIGINT, 10);

    int lp = service_pid("legacy-primary"), cp = service_pid("candidate");
    char lps[16], cps[16], prim[64], cand[64];
    snprintf(lps, sizeof lps, "%d", lp);
    snprintf(cps, sizeof cps, "%d", cp);
    snprintf(prim, sizeof prim, "http://127.0.0.1:%d", svc.legacy);
    snprintf(cand, sizeof cand, "http://127.0.0.1:%d", svc.candidate);
    long long lb = desc_ticks(lp, 0), cb = desc_ticks(cp, 0);
    char *argv[] = {(char *)sdiff_test_bin(), "gate", "--corpus", db, "--db", results,
                    "--primary", prim, "--candidate", cand, "--primary-pid", lps,
                    "--candidate-pid", cps, "--sample", "1000", "--concurrency", "8",
                    "--format", "json", NULL};
    struct sdiff_test_run r = sdiff_test_run(argv, svc.dir, 180);
    long long la = desc_ticks(lp, 0), ca = desc_ticks(cp, 0);
    assert_true(sdiff_test_exit_code(&r) != 2);
    json_error_t je;
    json_t *j = json_loadb(r.out, r.out_len, 0, &je);
    assert_non_null(j);
    sdiff_test_run_dispose(&r);
    double hz = (double)sysconf(_SC_CLK_TCK);
    static const char *const sides[2] = {"primary", "candidate"};
    long long ticks[2] = {la - lb, ca - cb};
    for (int i = 0; i < 2; i++) {
        double req = jnum(j, sides[i], "requests");
        double rep = jnum(j, sides[i], "cpu_ms_per_request");
        double proc = (double)ticks[i] * 1000 / hz / req;
        print_message("%s: report %.4f ms/request, /proc %.4f (%lld ticks, %.0f requests)\n",
                      sides[i], rep, proc, ticks[i], req);
        assert_true(req > 0);
        /* a side that used too few ticks to measure to 10% is only checked to two ticks */
        if (ticks[i] >= 40)
            assert_true(fabs(rep - proc) <= 0.10 * proc);
        else
            assert_true(fabs(rep * req / 1000 * hz - (double)ticks[i]) <= 2);
    }
    json_decref(j);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost__replay_cpu_per_request_matches_proc),
        cmocka_unit_test(test_cost__dead_pid_is_one_warning),
        cmocka_unit_test(test_cost__pid_gone_mid_run_stops_that_side),
        cmocka_unit_test(test_cost__metrics_page_is_read),
        cmocka_unit_test(test_cost__real_cgroup_root_is_sampled),
        cmocka_unit_test(test_cost__gate_both_sides_comparable),
        cmocka_unit_test(test_cost__mirror_counts_captured_and_marks_mix),
        cmocka_unit_test(test_cost__bad_values_are_one_line),
    };
    const struct CMUnitTest services[] = {
        cmocka_unit_test(test_cost__services_gate_matches_proc_on_both_sides),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    return failed + cmocka_run_group_tests(services, services_setup, services_teardown);
}
