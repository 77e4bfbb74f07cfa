/*
 * it_drain.c - how the sidecar ends and says it is ready, as Cloud Run and Kubernetes drive
 * it: SIGTERM with a candidate too slow to answer everything, exited within --drain with
 * every captured exchange accounted for.
 */
#include "sdiff_test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[4096], tools[4096];

static int setup(void **state)
{
    (void)state;
    char *d = sdiff_test_tmpdir();
    snprintf(dir, sizeof dir, "%s", d);
    free(d);
    snprintf(tools, sizeof tools, "%s/../tests/tools", sdiff_test_fixture_path(""));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sdiff_test_kill_all();
    sdiff_test_rmdir(dir);
    return 0;
}

/* A candidate that writes its answer a byte every ms milliseconds; its pid. */
static int slow_candidate(int port, const char *ms)
{
    char script[4200], port_s[16];
    snprintf(script, sizeof script, "%s/bad_candidate.py", tools);
    snprintf(port_s, sizeof port_s, "%d", port);
    char *argv[] = {"/usr/bin/python3", script, "slow", port_s, (char *)ms, NULL};
    int pid = sdiff_test_spawn(argv, NULL, NULL);
    assert_int_equal(sdiff_test_wait_port(port, 10), 0);
    return pid;
}

/* The number before `word` in the last line of text; -1 without it. */
static long long count_before(const char *line, const char *word)
{
    const char *p = strstr(line, word);
    if (p == NULL)
        return -1;
    while (p > line && p[-1] == ' ')
        p--;
    while (p > line && p[-1] >= '0' && p[-1] <= '9')
        p--;
    return atoll(p);
}

static const char *last_line(char *text)
{
    size_t n = strlen(text);
    while (n > 0 && text[n - 1] == '\n')
        text[--n] = '\0';
    char *nl = strrchr(text, '\n');
    return nl ? nl + 1 : text;
}

/*
 * SIGTERM one second into a run whose candidate answers in about 0.7 s: the first answers
 * arrive within the budget and are judged, the rest are stored as skipped (stopped), and the
 * process is gone within --drain (3 s) plus a little for the process to start and end.
 */
static void test_drain__sigterm_exits_within_the_budget_with_everything_counted(void **state)
{
    (void)state;
    int port = sdiff_test_free_port();
    int cand = slow_candidate(port, "5");
    char url[64], db[4200], errf[4200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    snprintf(db, sizeof db, "%s/drain.db", dir);
    snprintf(errf, sizeof errf, "%s/drain.err", dir);
    char *argv[] = {(char *)sdiff_test_bin(), "mirror", "--pcap",
                    (char *)sdiff_test_fixture_path("pcap/interleaved_many.pcap"), "--port",
                    "8080", "--candidate", url, "--db", db, "--timeout", "30",
                    "--concurrency", "4", "--drain", "3", NULL};
    int pid = sdiff_test_spawn(argv, NULL, errf);
    usleep(1000000);
    double t = sdiff_test_now();
    int st = sdiff_test_stop(pid, SIGTERM, 20);
    double took = sdiff_test_now() - t;
    sdiff_test_stop(cand, SIGKILL, 5);
    size_t len;
    char *err = (char *)sdiff_test_read_file(errf, &len);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("status %d: %s", st, err);
    /* the last line counts everything: captured = judged + error + skipped + dropped + own */
    const char *line = last_line(err);
    fprintf(stderr, "note: exited %.2fs after SIGTERM (--drain 3): %s\n", took, line);
    assert_true(took <= 3.0 + 1.0);
    if (strstr(line, "stopped by SIGTERM, drained in ") == NULL || strstr(line, "not stored"))
        fail_msg("last line: %s", line);
    long long captured = count_before(line, " captured"), judged = count_before(line, " judged"),
              errors = count_before(line, " error"), skipped = count_before(line, " skipped"),
              stopped = count_before(line, " stopped before"),
              dropped = count_before(line, " dropped"), own = count_before(line, " own");
    assert_true(captured > 0 && judged > 0 && stopped > 0);
    assert_int_equal(captured, judged + errors + skipped + dropped + own);
    /* and the database holds the same: one result per exchange judged or skipped */
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results"),
                     judged + errors + skipped);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results WHERE class IN"
                                           " ('identical', 'equivalent', 'different')"),
                     judged);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results WHERE class = 'skipped'"
                                           " AND (skip_reason LIKE '%drain deadline%' OR"
                                           " skip_reason LIKE 'run stopped%')"),
                     stopped);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM runs WHERE state = 'finished'"),
                     1);
    free(err);
}

/* Poll /readyz until it answers code with a body containing needle; 0 when it did. */
static int wait_readyz(const char *metrics, int code, const char *needle, double timeout_s)
{
    char cmd[2000];
    snprintf(cmd, sizeof cmd,
             "end=$(($(date +%%s) + %d)); while [ $(date +%%s) -le $end ]; do "
             "c=$(curl -s -o '%s/readyz.txt' -w '%%{http_code}' http://%s/readyz); "
             "[ \"$c\" = %d ] && grep -q '%s' '%s/readyz.txt' && exit 0; sleep 0.1; done; "
             "exit 1",
             (int)timeout_s, dir, metrics, code, needle, dir);
    return sdiff_test_sh(cmd, timeout_s + 5);
}

/*
 * /readyz beside /healthz: 200 while the capture is open and PostgreSQL answers, 503 with
 * why as soon as the server is gone (an immediate stop, as a crash), 200 again once it is
 * back; /healthz stays 200 throughout (the process is alive).
 */
static void test_drain__readyz_follows_the_capture_and_the_store(void **state)
{
    (void)state;
    struct sdiff_test_pg pg;
    assert_int_equal(sdiff_test_pg_start(&pg), 0);
    char metrics[64], port_s[16], errf[4200], cmd[2000];
    snprintf(metrics, sizeof metrics, "127.0.0.1:%d", sdiff_test_free_port());
    snprintf(port_s, sizeof port_s, "%d", sdiff_test_free_port());
    snprintf(errf, sizeof errf, "%s/readyz.err", dir);
    char *argv[] = {(char *)sdiff_test_bin(), "mirror", "--interface", "lo", "--port", port_s,
                    "--candidate", "http://127.0.0.1:9", "--db", pg.url, "--metrics", metrics,
                    "--drain", "2", NULL};
    int pid = sdiff_test_spawn(argv, NULL, errf);
    assert_int_equal(sdiff_test_wait_file_contains(errf, "listening", 20), 0);
    assert_int_equal(wait_readyz(metrics, 200, "^ready: capture open, store reachable$", 10), 0);

    sdiff_test_pg_crash(&pg);
    assert_int_equal(wait_readyz(metrics, 503, "^not ready: store unreachable: ", 10), 0);
    snprintf(cmd, sizeof cmd, "curl -sf http://%s/healthz | grep -qx ok", metrics);
    assert_int_equal(sdiff_test_sh(cmd, 10), 0);

    assert_int_equal(sdiff_test_pg_restart(&pg), 0);
    assert_int_equal(wait_readyz(metrics, 200, "^ready: ", 10), 0);

    int st = sdiff_test_stop(pid, SIGTERM, 20);
    assert_true(WIFEXITED(st));
    /* nothing was captured, so nothing judged: 3 */
    if (WEXITSTATUS(st) != 3) {
        size_t n;
        char *text = (char *)sdiff_test_read_file(errf, &n);
        fprintf(stderr, "%s\n", text);
        fail_msg("exit %d", WEXITSTATUS(st));
    }
    char *state_s = sdiff_test_pg_sql(&pg, "SELECT state FROM runs");
    assert_non_null(state_s);
    assert_string_equal(state_s, "finished\n");
    free(state_s);
    sdiff_test_pg_stop(&pg);
}

/*
 * Every stderr line of errf is one JSON object with ts, level, cmd and msg, and no byte of
 * the hostile input (ESC, BEL, 0xff, U+202E) reached the file raw. With counts, the last
 * line's fields add up: captured = judged + error + skipped + dropped + own_replays.
 */
static void expect_json_lines(const char *errf, int counts)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import json,sys\n"
             "raw=open(sys.argv[1],\"rb\").read()\n"
             "assert raw.endswith(b\"\\n\"), raw\n"
             "for bad in (b\"\\x1b\", b\"\\x07\", b\"\\xff\", \"\\u202e\".encode()):\n"
             "    assert bad not in raw, (bad, raw)\n"
             "lines=raw.decode(\"utf-8\").splitlines()\n"
             "assert lines\n"
             "for l in lines:\n"
             "    o=json.loads(l)\n"
             "    assert isinstance(o, dict) and o[\"cmd\"]==\"mirror\", l\n"
             "    assert o[\"level\"] in (\"info\", \"warning\", \"error\"), l\n"
             "    assert o[\"severity\"] == {\"info\": \"INFO\", \"warning\": \"WARNING\","
             " \"error\": \"ERROR\"}[o[\"level\"]], l\n"
             "    assert o[\"ts\"].endswith(\"Z\") and isinstance(o[\"msg\"], str), l\n"
             "if int(sys.argv[2]):\n"
             "    o=json.loads(lines[-1])\n"
             "    assert o[\"signal\"]==\"SIGTERM\" and o[\"drained_s\"] <= o[\"drain_s\"], o\n"
             "    assert o[\"captured\"]==o[\"judged\"]+o[\"error\"]+o[\"skipped\"]+o[\"dropped\"]"
             "+o[\"own_replays\"] and o[\"not_stored\"]==0 and o[\"captured\"] > 0, o\n"
             "' '%s' %d >'%s.check' 2>&1",
             errf, counts, errf);
    if (sdiff_test_sh(cmd, 30) != 0) {
        char cf[4300];
        snprintf(cf, sizeof cf, "%s.check", errf);
        size_t n;
        fail_msg("%s", (char *)sdiff_test_read_file(cf, &n));
    }
}

/*
 * --log-format json: one object per line, for a log pipeline. Hostile bytes in what the
 * lines quote (a database path, a capture filter: argv, like the traffic a route comes
 * from) stay escaped, and a run stopped by SIGTERM ends with its counters as fields.
 */
static void test_drain__json_log_lines_parse_and_keep_hostile_bytes_escaped(void **state)
{
    (void)state;
    char errf[4200], db[4200], bad_db[4200];
    const char *pcap = sdiff_test_fixture_path("pcap/interleaved_many.pcap");
    char pcap_s[4200];
    snprintf(pcap_s, sizeof pcap_s, "%s", pcap);
    snprintf(errf, sizeof errf, "%s/json.err", dir);
    snprintf(db, sizeof db, "%s/json.db", dir);
    snprintf(bad_db, sizeof bad_db, "%s/missing/a\x1b[2J\xff\"\n\xe2\x80\xae.db", dir);

    char *a1[] = {(char *)sdiff_test_bin(), "mirror", "--log-format", "json", "--pcap", pcap_s,
                  "--port", "8080", "--candidate", "http://127.0.0.1:9", "--db", bad_db, NULL};
    int st = sdiff_test_wait(sdiff_test_spawn(a1, NULL, errf), 30);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    expect_json_lines(errf, 0);
    assert_int_equal(sdiff_test_wait_file_contains(errf, "\\\\x1b[2J\\\\xff\\\"\\\\n", 1), 0);

    char *a2[] = {(char *)sdiff_test_bin(), "mirror", "--log-format", "json", "--pcap", pcap_s,
                  "--port", "8080", "--candidate", "http://127.0.0.1:9", "--db", db, "--filter",
                  "tcp and \x1b]0;pwn\x07\xc3(", NULL};
    st = sdiff_test_wait(sdiff_test_spawn(a2, NULL, errf), 30);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    expect_json_lines(errf, 0);

    /* a whole run, stopped by SIGTERM while a slow candidate still owes answers */
    int port = sdiff_test_free_port();
    int cand = slow_candidate(port, "5");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    char *a3[] = {(char *)sdiff_test_bin(), "mirror", "--log-format", "json", "--pcap", pcap_s,
                  "--port", "8080", "--candidate", url, "--db", db, "--timeout", "30",
                  "--concurrency", "4", "--drain", "3", "--run", "json-run", NULL};
    int pid = sdiff_test_spawn(a3, NULL, errf);
    usleep(1000000);
    st = sdiff_test_stop(pid, SIGTERM, 20);
    sdiff_test_stop(cand, SIGKILL, 5);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    expect_json_lines(errf, 1);
}

/* Send sig to the postmaster and to each of its children (its backends), by PID. */
static void signal_cluster(int postmaster, int sig)
{
    DIR *d = opendir("/proc");
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char path[300], buf[512];
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *close_paren = strrchr(buf, ')');
        int ppid = 0;
        if (close_paren && sscanf(close_paren + 1, " %*c %d", &ppid) == 1 && ppid == postmaster)
            kill(atoi(e->d_name), sig);
    }
    closedir(d);
    kill(postmaster, sig);
}

/*
 * The budget holds when the database stops answering (every PostgreSQL process stopped
 * with SIGSTOP: a commit then waits forever, as behind a black-holed network): SIGTERM, and
 * the process is gone within --drain, exit 2, its last line saying why.
 */
static void test_drain__budget_holds_when_the_database_hangs(void **state)
{
    (void)state;
    struct sdiff_test_pg pg;
    assert_int_equal(sdiff_test_pg_start(&pg), 0);
    int port = sdiff_test_free_port();
    int cand = slow_candidate(port, "1");
    char url[64], errf[4200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    snprintf(errf, sizeof errf, "%s/hang.err", dir);
    char *argv[] = {(char *)sdiff_test_bin(), "mirror", "--pcap",
                    (char *)sdiff_test_fixture_path("pcap/interleaved_many.pcap"), "--port",
                    "8080", "--candidate", url, "--db", pg.url, "--timeout", "30",
                    "--concurrency", "4", "--drain", "2", NULL};
    int pid = sdiff_test_spawn(argv, NULL, errf);
    usleep(1500000); /* judging, and a batch or two committed */
    signal_cluster(pg.pid, SIGSTOP);
    usleep(1200000); /* the writer's next commit is now waiting on the server */
    double t = sdiff_test_now();
    int st = sdiff_test_stop(pid, SIGTERM, 20);
    double took = sdiff_test_now() - t;
    signal_cluster(pg.pid, SIGCONT);
    sdiff_test_stop(cand, SIGKILL, 5);
    size_t len;
    char *err = (char *)sdiff_test_read_file(errf, &len);
    const char *line = last_line(err);
    fprintf(stderr, "note: exited %.2fs after SIGTERM (--drain 2): %s\n", took, line);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    assert_true(took <= 2.0 + 1.0);
    assert_non_null(strstr(line, "the drain budget of 2s ran out"));
    free(err);
    sdiff_test_pg_stop(&pg);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drain__sigterm_exits_within_the_budget_with_everything_counted),
        cmocka_unit_test(test_drain__readyz_follows_the_capture_and_the_store),
        cmocka_unit_test(test_drain__json_log_lines_parse_and_keep_hostile_bytes_escaped),
        cmocka_unit_test(test_drain__budget_holds_when_the_database_hangs),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
