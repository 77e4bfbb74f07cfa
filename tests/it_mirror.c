/*
 * it_mirror.c - the sidecar end to end on loopback: the legacy Flask service (primary and
 * secondary) and its Go port, a real keep-alive driver, `shadowdiff mirror --interface lo`
 * stopped with SIGINT, and the same offline through --pcap. Then the faults: a candidate that
 * is down, hangs past the timeout, or resets; SIGKILL in the middle of a run; a burst into a
 * tiny queue.
 */
#include "sdiff_test.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char fixtures[4096], tools[4096], dir[4096];
static int legacy, secondary, candidate;
static char legacy_s[16], cand_url[64], sec_url[64];

static struct sdiff_test_services svc;

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0)
        return 0;
    if (sdiff_test_services_start(&svc) != 0)
        return -1;
    snprintf(fixtures, sizeof fixtures, "%s", svc.fixtures);
    snprintf(tools, sizeof tools, "%s/../tests/tools", fixtures);
    snprintf(dir, sizeof dir, "%s", svc.dir);
    legacy = svc.legacy;
    secondary = svc.secondary;
    candidate = svc.candidate;
    snprintf(legacy_s, sizeof legacy_s, "%d", legacy);
    snprintf(cand_url, sizeof cand_url, "http://127.0.0.1:%d", candidate);
    snprintf(sec_url, sizeof sec_url, "http://127.0.0.1:%d", secondary);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sdiff_test_kill_all();
    sdiff_test_services_stop(&svc);
    return 0;
}

static void drive(int requests, int seed)
{
    char cmd[20000];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 '%s/services/drive.py' --port %d --requests %d --seed %d --seconds 2 "
             ">>'%s/drive.log' 2>&1",
             fixtures, legacy, requests, seed, dir);
    assert_int_equal(sdiff_test_sh(cmd, 180), 0);
}

/* Start mirror live on lo; returns its pid once it listens. */
static int start_mirror(const char *db, const char *cand, const char *const *extra, int nextra)
{
    char errf[4200];
    snprintf(errf, sizeof errf, "%s.err", db);
    char *argv[32] = {(char *)sdiff_test_bin(), "mirror", "--interface", "lo", "--port",
                      legacy_s, "--candidate", (char *)cand, "--db", (char *)db};
    int n = 10;
    for (int i = 0; i < nextra; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    int pid = sdiff_test_spawn(argv, NULL, errf);
    assert_int_equal(sdiff_test_wait_file_contains(errf, "listening", 10), 0);
    return pid;
}

static void expect_planted(const char *db)
{
    static const char *const bugs[] = {"GET /api/users/{id}", "GET /api/products/{id}/price",
                                       "GET /api/search", "GET /api/leaderboard",
                                       "GET /api/ledger/{id}"};
    static const char *const harmless[] = {"GET /api/products/{id}", "GET /api/report",
                                           "GET /api/products/{id}/reviews", "GET /api/products",
                                           "GET /api/health", "GET /api/users"};
    char sql[512];
    for (size_t i = 0; i < sizeof bugs / sizeof bugs[0]; i++) {
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM results WHERE route = '%s' AND class = 'different'", bugs[i]);
        if (sdiff_test_db_int(db, sql) <= 0)
            fail_msg("planted bug on %s not found", bugs[i]);
    }
    for (size_t i = 0; i < sizeof harmless / sizeof harmless[0]; i++) {
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM results WHERE route = '%s' AND class NOT IN"
                 " ('identical', 'equivalent')", harmless[i]);
        if (sdiff_test_db_int(db, sql) != 0)
            fail_msg("harmless difference on %s judged different or error", harmless[i]);
    }
}

static void candidate_saw_no_post(void)
{
    char cmd[2000];
    snprintf(cmd, sizeof cmd,
             "curl -s http://127.0.0.1:%d/__stats | /usr/bin/python3 -c 'import json,sys; "
             "m=json.load(sys.stdin)[\"by_method\"]; sys.exit(1 if m.get(\"POST\", 0) or "
             "not m.get(\"GET\", 0) else 0)'",
             candidate);
    assert_int_equal(sdiff_test_sh(cmd, 10), 0);
}

static void reset_candidate_stats(void)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "curl -s -X POST http://127.0.0.1:%d/__stats/reset >/dev/null",
             candidate);
    assert_int_equal(sdiff_test_sh(cmd, 10), 0);
}

static void test_mirror__live_run_finds_every_planted_bug(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char db[4200];
    snprintf(db, sizeof db, "%s/live.db", dir);
    reset_candidate_stats();
    char metrics[64], cmd[20000];
    int mport = sdiff_test_free_port();
    snprintf(metrics, sizeof metrics, "127.0.0.1:%d", mport);
    /* no --secondary: the old service's own repeated answers teach the noise (timestamps,
     * trace ids), and still every planted bug is found and no harmless route differs */
    const char *extra[] = {"--metrics", metrics, "--buffer-size", "256M"};
    int pid = start_mirror(db, cand_url, extra, 4);
    drive(2000, 1);
    usleep(2500000); /* replays finish and the metrics text is refreshed each second */
    snprintf(cmd, sizeof cmd,
             "curl -sf http://%s/healthz | grep -qx ok && curl -sf http://%s/metrics > '%s/metrics.txt'",
             metrics, metrics, dir);
    assert_int_equal(sdiff_test_sh(cmd, 10), 0);
    char mpath[4200];
    snprintf(mpath, sizeof mpath, "%s/metrics.txt", dir);
    size_t mlen;
    char *mtext = (char *)sdiff_test_read_file(mpath, &mlen);
    assert_non_null(strstr(mtext, "shadowdiff_replays_total{class=\"different\",route=\"GET /api/search\"}"));
    assert_non_null(strstr(mtext, "shadowdiff_latency_seconds_bucket{side=\"candidate\",route=\"GET /api/health\",le=\"+Inf\"}"));
    assert_non_null(strstr(mtext, "shadowdiff_exchanges_total{state=\"complete\"}"));
    assert_non_null(strstr(mtext, "shadowdiff_drops_total{reason=\"queue_full\"} 0"));
    free(mtext);
    int st = sdiff_test_stop(pid, SIGINT, 30);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    struct stat sb;
    assert_int_equal(stat(db, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* every request is accounted for: an exchange and a result each, unless the kernel
     * dropped packets (a slow sanitizer build on a loaded machine), and then the loss shows */
    char errf[4200];
    snprintf(errf, sizeof errf, "%s.err", db);
    size_t elen;
    char *etext = (char *)sdiff_test_read_file(errf, &elen);
    char *kd = strstr(etext, "kernel drops ");
    assert_non_null(kd);
    long kernel_drops = atol(kd + strlen("kernel drops "));
    sqlite3_int64 ex = sdiff_test_db_int(db, "SELECT count(*) FROM exchanges");
    if (kernel_drops == 0) {
        assert_int_equal(ex, 2000);
    } else {
        fprintf(stderr, "note: %ld kernel drops; %lld exchanges\n", kernel_drops, (long long)ex);
        assert_true(ex <= 2000 && ex > 1000);
        assert_null(strstr(etext, " 0 gaps (")); /* the loss is reported, never silent */
    }
    free(etext);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results"), ex);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results WHERE class = 'error'"), 0);
    expect_planted(db);
    /* the report on this real run: it fails, and its largest clusters are the planted bugs */
    char rep[4200], repcmd[20000];
    snprintf(rep, sizeof rep, "%s/report.json", dir);
    snprintf(repcmd, sizeof repcmd,
             "'%s' report --db '%s' --format json > '%s'; test $? -eq 1 && /usr/bin/python3 -c "
             "'import json,sys; r=json.load(open(sys.argv[1])); "
             "routes={c[\"method\"]+\" \"+c[\"route\"] for c in r[\"clusters\"]}; "
             "want={\"GET /api/users/{id}\", \"GET /api/products/{id}/price\", "
             "\"GET /api/search\", \"GET /api/leaderboard\", \"GET /api/ledger/{id}\"}; "
             "sys.exit(0 if r[\"verdict\"] == \"fail\" and routes == want else 1)' '%s'",
             sdiff_test_bin(), db, rep, rep);
    assert_int_equal(sdiff_test_sh(repcmd, 30), 0);
    assert_true(sdiff_test_db_int(db, "SELECT count(*) FROM results WHERE method = 'POST'") > 0);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results WHERE method = 'POST' AND"
                            " class <> 'skipped'"),
                     0);
    candidate_saw_no_post();
}

static void test_mirror__pcap_run_judges_the_recording(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char pcap[4200], db[4200];
    snprintf(pcap, sizeof pcap, "%s/rec.pcap", dir);
    snprintf(db, sizeof db, "%s/offline.db", dir);
    /* tcpdump itself is the child, so it is stopped by its own PID: a pattern kill could
     * stop another run's recorder */
    char filter[64], tdlog[4200];
    snprintf(filter, sizeof filter, "tcp port %d", legacy);
    snprintf(tdlog, sizeof tdlog, "%s/tcpdump.log", dir);
    /* a 64 MiB ring: on a loaded machine tcpdump's default 2 MiB one drops packets */
    char *argv[] = {"/usr/bin/tcpdump", "-i", "lo", "-s", "0", "-B", "65536", "-U", "-w", pcap,
                    filter, NULL};
    int td = sdiff_test_spawn(argv, NULL, tdlog);
    assert_int_equal(sdiff_test_wait_file_contains(tdlog, "listening on", 20), 0);
    drive(2000, 1);
    /* tcpdump reads its ring in blocks that it hands over when full or after its 1 s timeout,
     * and a block still open when it is stopped is lost without being counted as a drop:
     * wait past the timeout so the last exchanges are written */
    usleep(2000000);
    sdiff_test_stop(td, SIGINT, 10);
    /* a recording that lost packets cannot hold 2000 whole exchanges: say so plainly */
    assert_int_equal(sdiff_test_wait_file_contains(tdlog, "\n0 packets dropped by kernel", 5), 0);
    char *m[] = {(char *)sdiff_test_bin(), "mirror", "--pcap", pcap, "--port", legacy_s,
                 "--candidate", cand_url, "--secondary", sec_url, "--db", db, NULL};
    int st = sdiff_test_wait(sdiff_test_spawn(m, NULL, NULL), 120);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM exchanges"), 2000);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results"), 2000);
    expect_planted(db);
}

/*
 * The replay guard live: a request that claims to be a replay (X-Shadowdiff: 1) is judged,
 * counted as forged, and reaches the candidate with only this run's marker (its token, also
 * in the run's record); a GET that overrides its method to DELETE is skipped.
 */
static void test_mirror__forged_marker_judged_and_method_override_skipped(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char db[4200], port_s[16], echo_url[64], cmd[20000], path[4200];
    snprintf(db, sizeof db, "%s/guard.db", dir);
    int port = sdiff_test_free_port();
    snprintf(port_s, sizeof port_s, "%d", port);
    snprintf(echo_url, sizeof echo_url, "http://127.0.0.1:%d", port);
    snprintf(path, sizeof path, "%s/fault_server.py", tools);
    char *srv[] = {"/usr/bin/python3", path, port_s, NULL};
    int echo = sdiff_test_spawn(srv, NULL, NULL);
    assert_int_equal(sdiff_test_wait_port(port, 10), 0);
    int pid = start_mirror(db, echo_url, NULL, 0);
    snprintf(cmd, sizeof cmd,
             "curl -s -o /dev/null -H 'X-Shadowdiff: 1' -H 'x-shadowdiff: 0' "
             "http://127.0.0.1:%d/echo?forged=1 && "
             "curl -s -o /dev/null -H 'X-HTTP-Method-Override: DELETE' "
             "http://127.0.0.1:%d/echo?override=1 && "
             "curl -s -o /dev/null 'http://127.0.0.1:%d/echo?override=2&_method=DELETE'",
             legacy, legacy, legacy);
    assert_int_equal(sdiff_test_sh(cmd, 20), 0);
    usleep(1500000);
    int st = sdiff_test_stop(pid, SIGINT, 30);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    sdiff_test_stop(echo, SIGTERM, 5);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results WHERE target = "
                                           "'/echo?forged=1' AND class <> 'skipped'"),
                     1);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results WHERE skip_reason "
                                           "LIKE 'method override: %DELETE%'"),
                     2);
    /* what the candidate received (its echo, kept as the answer differs from the primary's):
     * one marker header, whose value is the token the run recorded */
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import json,sqlite3,sys\n"
             "db=sqlite3.connect(sys.argv[1])\n"
             "s=json.loads(db.execute(\"SELECT summary FROM runs\").fetchone()[0])\n"
             "b=db.execute(\"SELECT body FROM responses r JOIN results x ON x.id=r.result_id"
             " WHERE x.target=? AND r.target=?\", (\"/echo?forged=1\", \"candidate\"))"
             ".fetchone()[0]\n"
             "got=[v for n,v in json.loads(b)[\"headers\"] if n.lower()==\"x-shadowdiff\"]\n"
             "t=db.execute(\"SELECT marker_token FROM runs\").fetchone()[0]\n"
             "ok=s[\"forged_marker\"]==1 and len(got)==1 and len(got[0])==32 and got[0]==t\n"
             "print(s, got, t)\n"
             "sys.exit(0 if ok else 1)' '%s' >'%s/guard.check' 2>&1",
             db, dir);
    if (sdiff_test_sh(cmd, 20) != 0) {
        char cf[4200];
        snprintf(cf, sizeof cf, "%s/guard.check", dir);
        size_t n;
        char *t = (char *)sdiff_test_read_file(cf, &n);
        fail_msg("marker check failed: %s", t);
    }
}

static void run_fault(const char *name, const char *cand, const char *timeout, const char *want)
{
    char db[4200];
    snprintf(db, sizeof db, "%s/%s.db", dir, name);
    const char *extra[] = {"--timeout", timeout, "--connect-timeout", "1", "--drain", "5"};
    int pid = start_mirror(db, cand, extra, 6);
    drive(60, 3);
    usleep(500000);
    int st = sdiff_test_stop(pid, SIGINT, 30);
    assert_true(WIFEXITED(st));
    /* every replay failed: nothing judged, exit 3 */
    assert_int_equal(WEXITSTATUS(st), 3);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results"), 60);
    sqlite3_int64 judged = sdiff_test_db_int(db, "SELECT count(*) FROM results WHERE class <> 'skipped'");
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM results WHERE class = 'error' AND candidate_error LIKE '%s%%'",
             want);
    sqlite3_int64 errors = sdiff_test_db_int(db, sql);
    if (judged == 0 || errors != judged)
        fail_msg("%s: %lld judged, %lld errors mentioning '%s'", name, (long long)judged,
                 (long long)errors, want);
}

static void test_mirror__faulty_candidates_become_errors(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char url[64], port_s[16], script[4200];
    int port = sdiff_test_free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    run_fault("down", url, "5", "refused:");

    snprintf(port_s, sizeof port_s, "%d", port);
    snprintf(script, sizeof script, "%s/bad_candidate.py", tools);
    /* a reset must not be mistaken for a timeout on a loaded machine: give it time */
    const char *modes[][3] = {{"hang", "timeout:", "0.3"}, {"reset", "reset:", "10"}};
    for (int i = 0; i < 2; i++) {
        char *argv[] = {"/usr/bin/python3", script, (char *)modes[i][0], port_s, NULL};
        int bad = sdiff_test_spawn(argv, NULL, NULL);
        assert_int_equal(sdiff_test_wait_port(port, 10), 0);
        run_fault(modes[i][0], url, modes[i][2], modes[i][1]);
        sdiff_test_stop(bad, SIGKILL, 5);
    }
}

static void test_mirror__sigkill_leaves_a_readable_database(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char db[4200], cmd[20000];
    snprintf(db, sizeof db, "%s/killed.db", dir);
    int pid = start_mirror(db, cand_url, NULL, 0);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 '%s/services/drive.py' --port %d --requests 3000 --seed 4 --seconds 2 "
             ">/dev/null 2>&1",
             fixtures, legacy);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    int drv = sdiff_test_spawn(argv, NULL, NULL);
    usleep(2500000); /* mid-run: the driver is still sending */
    sdiff_test_stop(pid, SIGKILL, 5);
    sdiff_test_wait(drv, 120);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check"
                            " <> 'ok'"),
                     0);
    /* at most the last second's batch is missing; what was committed is consistent */
    assert_true(sdiff_test_db_int(db, "SELECT count(*) FROM results") > 0);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results r LEFT JOIN exchanges e"
                            " ON e.id = r.exchange_id WHERE e.id IS NULL"),
                     0);
}

static void test_mirror__burst_into_a_tiny_queue_counts_drops(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char db[4200], errf[4200];
    snprintf(db, sizeof db, "%s/burst.db", dir);
    snprintf(errf, sizeof errf, "%s.err", db);
    const char *extra[] = {"--queue", "2", "--concurrency", "1", "--rate", "20"};
    int pid = start_mirror(db, cand_url, extra, 6);
    drive(600, 5);
    usleep(300000);
    int st = sdiff_test_stop(pid, SIGINT, 60);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    size_t len;
    char *err = (char *)sdiff_test_read_file(errf, &len);
    char *p = strstr(err, " dropped (queue full");
    assert_non_null(p);
    while (p > err && p[-1] >= '0' && p[-1] <= '9')
        p--;
    long drops = atol(p);
    assert_true(drops > 0);
    /* everything captured is either dropped (counted) or has a result */
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results") + drops, 600);
    free(err);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mirror__live_run_finds_every_planted_bug),
        cmocka_unit_test(test_mirror__pcap_run_judges_the_recording),
        cmocka_unit_test(test_mirror__forged_marker_judged_and_method_override_skipped),
        cmocka_unit_test(test_mirror__faulty_candidates_become_errors),
        cmocka_unit_test(test_mirror__sigkill_leaves_a_readable_database),
        cmocka_unit_test(test_mirror__burst_into_a_tiny_queue_counts_drops),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
