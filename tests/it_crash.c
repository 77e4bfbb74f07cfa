/*
 * it_crash.c - SIGKILL at random moments during `capture`, `mirror` and `replay`, 20 times
 * each, under live keep-alive traffic on lo: the database always opens, passes PRAGMA
 * integrity_check, every stored result has its exchange, and `report` runs on it.
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

#define KILLS 20

static char tools[4096], dir[4096];
static int server, candidate, client;
static char server_s[16], cand_url[64];

static const char *tool(const char *name)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", tools, name);
    return path;
}

static int start_server(void)
{
    int port = sdiff_test_free_port();
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    char *argv[] = {"/usr/bin/python3", (char *)tool("live_server.py"), port_s, NULL};
    sdiff_test_spawn(argv, NULL, NULL);
    assert_int_equal(sdiff_test_wait_port(port, 10), 0);
    return port;
}

/* The server under watch, a candidate, and a client that keeps both busy for the test. */
static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0)
        return 0;
    snprintf(tools, sizeof tools, "%s/../tests/tools", getenv("SDIFF_FIXTURES"));
    char *d = sdiff_test_tmpdir();
    snprintf(dir, sizeof dir, "%s", d);
    free(d);
    server = start_server();
    candidate = start_server();
    snprintf(server_s, sizeof server_s, "%d", server);
    snprintf(cand_url, sizeof cand_url, "http://127.0.0.1:%d", candidate);
    char out[4200];
    snprintf(out, sizeof out, "%s/client.jsonl", dir);
    char *argv[] = {"/usr/bin/python3", (char *)tool("live_client.py"), server_s, out, "100000",
                    NULL};
    client = sdiff_test_spawn(argv, NULL, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sdiff_test_kill_all();
    if (dir[0])
        sdiff_test_rmdir(dir);
    return 0;
}

static long long q1(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(h, sql, -1, &q, NULL) != SQLITE_OK)
        fail_msg("bad query %s: %s", sql, sqlite3_errmsg(h));
    long long n = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_finalize(q);
    return n;
}

/* After a kill: the database opens (recovering its WAL), is intact and consistent.
 * Returns the rows it holds (results, or exchanges for a corpus). */
static long long check_db(const char *db, int results)
{
    sqlite3 *h;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        fail_msg("%s does not open: %s", db, sqlite3_errmsg(h));
    sqlite3_busy_timeout(h, 5000);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    if (strcmp((const char *)sqlite3_column_text(q, 0), "ok") != 0)
        fail_msg("%s: integrity_check: %s", db, sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    if (q1(h, "SELECT count(*) FROM sqlite_master WHERE name = 'exchanges'") == 0) {
        /* killed between creating the file and its schema: an empty database, nothing lost */
        assert_int_equal(q1(h, "SELECT count(*) FROM sqlite_master"), 0);
        sqlite3_close(h);
        return 0;
    }
    long long rows = q1(h, "SELECT count(*) FROM exchanges");
    assert_true(rows >= 0);
    if (results) {
        assert_int_equal(q1(h, "SELECT count(*) FROM results r LEFT JOIN exchanges e"
                               " ON e.id = r.exchange_id WHERE e.id IS NULL"),
                         0);
        rows = q1(h, "SELECT count(*) FROM results");
    }
    sqlite3_close(h);
    return rows;
}

/* `report` on the killed run: a verdict (0 or 1); without a run (a corpus, or a database
 * killed before its run began), exit 2 and one line saying so. */
static void check_report(const char *db)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    int has_runs = q1(h, "SELECT count(*) FROM sqlite_master WHERE name = 'runs'") > 0 &&
                   q1(h, "SELECT count(*) FROM runs") > 0;
    sqlite3_close(h);
    char cmd[12000], out[4200];
    snprintf(out, sizeof out, "%s.report", db);
    snprintf(cmd, sizeof cmd, "'%s' report --db '%s' --format json >'%s' 2>'%s.err'",
             sdiff_test_bin(), db, out, out);
    int st = sdiff_test_sh(cmd, 60);
    if (has_runs && st != 0 && st != 1 && st != 3)
        fail_msg("report on %s exited %d", db, st);
    if (!has_runs && st != 2)
        fail_msg("report on %s without a run exited %d", db, st);
    char errf[4300];
    snprintf(errf, sizeof errf, "%s.err", out);
    size_t len;
    char *e = (char *)sdiff_test_read_file(errf, &len);
    char *nl = strchr(e, '\n');
    assert_true(len == 0 || (nl != NULL && nl[1] == '\0')); /* at most one line */
    free(e);
}

/*
 * Kill argv at random moments KILLS times. Most kills must land after the database exists,
 * and many while it is being filled, or the test proves nothing.
 */
static void kill_repeatedly(const char *name, char **argv, int db_arg, int results,
                            unsigned seed, unsigned max_ms)
{
    int dbs = 0, filled = 0;
    srand(seed);
    for (int i = 0; i < KILLS; i++) {
        char db[4200], errf[4300];
        snprintf(db, sizeof db, "%s/%s-%d.db", dir, name, i);
        snprintf(errf, sizeof errf, "%s.err", db);
        argv[db_arg] = db;
        int pid = sdiff_test_spawn(argv, NULL, errf);
        unsigned ms = 30 + (unsigned)rand() % max_ms;
        usleep(ms * 1000);
        int st = sdiff_test_stop(pid, SIGKILL, 5);
        assert_true(WIFSIGNALED(st) || WIFEXITED(st));
        struct stat sb;
        if (stat(db, &sb) != 0)
            continue; /* killed before it created the database */
        dbs++;
        filled += check_db(db, results) > 0;
        check_report(db);
    }
    fprintf(stderr, "note: %s killed %d times: %d databases checked, %d with rows (seed %u)\n",
            name, KILLS, dbs, filled, seed);
    assert_true(dbs >= KILLS / 2);
    assert_true(filled >= KILLS / 4);
}

static void test_crash__capture_killed_anywhere(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char *argv[] = {(char *)sdiff_test_bin(), "capture", "--interface", "lo", "--port", server_s,
                    "--out", NULL, NULL};
    kill_repeatedly("capture", argv, 7, 0, 11, 2500);
}

static void test_crash__mirror_killed_anywhere(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char *argv[] = {(char *)sdiff_test_bin(), "mirror", "--interface", "lo", "--port", server_s,
                    "--candidate", cand_url, "--db", NULL, NULL};
    kill_repeatedly("mirror", argv, 9, 1, 12, 2000);
}

static void test_crash__replay_killed_anywhere(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    /* a corpus of live traffic first */
    char corpus[4200], cmd[12000];
    snprintf(corpus, sizeof corpus, "%s/corpus.db", dir);
    snprintf(cmd, sizeof cmd,
             "'%s' capture --interface lo --port %s --out '%s' --count 3000 2>/dev/null",
             sdiff_test_bin(), server_s, corpus);
    assert_int_equal(sdiff_test_sh(cmd, 120), 0);
    char *argv[] = {(char *)sdiff_test_bin(), "replay", "--corpus", corpus, "--candidate",
                    cand_url, "--db", NULL, "--concurrency", "4", NULL};
    kill_repeatedly("replay", argv, 7, 1, 13, 2500);
    check_db(corpus, 0); /* the corpus is only read */
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash__capture_killed_anywhere),
        cmocka_unit_test(test_crash__mirror_killed_anywhere),
        cmocka_unit_test(test_crash__replay_killed_anywhere),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
