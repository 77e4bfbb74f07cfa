/*
 * it_bad_run.c - the bad-input matrix for runs: candidates that refuse, hang, dribble, reset,
 * never stop or answer with something that is not HTTP (replay and mirror --pcap, each
 * started here on loopback by tests/tools/bad_candidate.py), and the storage and config
 * failures: a database path that cannot be written, a database locked by another process,
 * one from a newer shadowdiff, a full disk, a config with a syntax error or a rule that
 * cannot match. Each candidate failure becomes an `error` result with its reason while the
 * run goes on to the next exchange; each storage or config failure is one line and exit 2.
 *
 * it_mirror.c covers the live mirror against a candidate that is down, hangs or resets;
 * it_replay.c the replay module's own report of each failure.
 */
#include "sdiff_test.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shadowdiff/store.h"

static char tools[4096];
static char *dir;     /* this test's temporary directory */
static char mnt[4200]; /* a tmpfs mounted by the test, unmounted by its teardown */

/* ---- helpers --------------------------------------------------------------------------- */

/* A path in this test's directory; eight calls may be in use at once. */
static const char *tmp(const char *name)
{
    static char path[8][4200];
    static unsigned k;
    k = (k + 1) % 8;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

/* A command run with its output kept in this test's directory. */
static struct sdiff_test_run run(char *const argv[], double timeout_s)
{
    return sdiff_test_run(argv, dir, timeout_s);
}

static void sql(const char *db, const char *stmt)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(h, stmt, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", stmt, msg);
    sqlite3_close(h);
}

static const char *pcap(const char *name)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s", sdiff_test_fixture_path(name));
    return path;
}

/* capture PCAP --out DB: exit 0 */
static void make_corpus(const char *pcap_path, const char *db)
{
    char *argv[] = {(char *)sdiff_test_bin(), "capture", "--pcap", (char *)pcap_path, "--out",
                    (char *)db, NULL};
    struct sdiff_test_run r = run(argv, 60);
    if (sdiff_test_exit_code(&r) != 0)
        fail_msg("capture %s: %s", pcap_path, r.err);
    sdiff_test_run_dispose(&r);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    (void)state;
    dir = sdiff_test_tmpdir();
    mnt[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sdiff_test_kill_all();
    if (mnt[0] && umount(mnt) != 0)
        fprintf(stderr, "could not unmount %s\n", mnt);
    mnt[0] = '\0';
    sdiff_test_rmdir(dir);
    free(dir);
    dir = NULL;
    return 0;
}

/* ---- candidates ------------------------------------------------------------------------ */

/*
 * The corpus: fixtures/pcap/basic_keepalive.pcap, three GETs. A bad candidate in `mode` (NULL:
 * nothing listens) gets each of them from replay or mirror --pcap.
 */
struct fault {
    const char *mode, *arg;   /* bad_candidate.py MODE [ARG]; mode NULL: refused */
    const char *timeout;      /* --timeout */
    const char *want;         /* every result: class error, candidate_error LIKE want || '%' */
    const char *want_note;    /* or, when want is NULL: note LIKE '%' || want_note || '%' */
    double max_s;             /* the whole run takes at most this long */
};

static int start_candidate(const struct fault *f, char *url, size_t n)
{
    int port = sdiff_test_free_port();
    snprintf(url, n, "http://127.0.0.1:%d", port);
    if (f->mode == NULL)
        return 0;
    char port_s[16], script[4200];
    snprintf(port_s, sizeof port_s, "%d", port);
    snprintf(script, sizeof script, "%s/bad_candidate.py", tools);
    char *argv[] = {"/usr/bin/python3", script, (char *)f->mode, port_s, (char *)f->arg, NULL};
    int pid = sdiff_test_spawn(argv, NULL, NULL);
    assert_int_equal(sdiff_test_wait_port(port, 10), 0);
    return pid;
}

/* Every exchange of the run is an error with the fault's reason: the run went on. */
static void expect_fault_results(const char *db, const struct fault *f)
{
    char q[512];
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results"), 3);
    if (f->want)
        snprintf(q, sizeof q,
                 "SELECT count(*) FROM results WHERE class = 'error' AND candidate_error LIKE"
                 " '%s%%' AND note LIKE '%%%s%%'",
                 f->want, f->want);
    else
        snprintf(q, sizeof q,
                 "SELECT count(*) FROM results WHERE class = 'error' AND note LIKE '%%%s%%'",
                 f->want_note);
    if (sdiff_test_db_int(db, q) != 3)
        fail_msg("not every result is an error with '%s'", f->want ? f->want : f->want_note);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM runs WHERE finished_at IS NOT NULL"), 1);
}

static void replay_fault(const struct fault *f)
{
    char url[64];
    make_corpus(pcap("pcap/basic_keepalive.pcap"), tmp("corpus.db"));
    int pid = start_candidate(f, url, sizeof url);
    char *argv[] = {(char *)sdiff_test_bin(), "replay", "--corpus", (char *)tmp("corpus.db"),
                    "--candidate", url, "--db", (char *)tmp("results.db"), "--timeout",
                    (char *)f->timeout, "--connect-timeout", "1", NULL};
    struct sdiff_test_run r = run(argv, 60);
    printf("# replay, candidate %s: %.2f s\n", f->mode ? f->mode : "refusing", r.secs);
    /* exit 1: candidate failures count against the candidate */
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    sdiff_test_expect_stderr_lines(&r, "replay", 1);
    assert_non_null(strstr(r.err, "3 exchanges: 0 identical, 0 equivalent, 0 different, 3 error"));
    if (f->want) {
        char counted[64];
        snprintf(counted, sizeof counted, "; 3 candidate %.*s", (int)strlen(f->want) - 1,
                 f->want);
        assert_non_null(strstr(r.err, counted));
    }
    assert_true(r.secs < f->max_s);
    expect_fault_results(tmp("results.db"), f);
    sdiff_test_run_dispose(&r);
    if (pid)
        sdiff_test_stop(pid, SIGKILL, 5);
}

static void mirror_fault(const struct fault *f)
{
    char url[64];
    int pid = start_candidate(f, url, sizeof url);
    char *argv[] = {(char *)sdiff_test_bin(), "mirror", "--pcap",
                    (char *)pcap("pcap/basic_keepalive.pcap"), "--port", "8080", "--candidate",
                    url, "--db", (char *)tmp("mirror.db"), "--timeout", (char *)f->timeout,
                    "--connect-timeout", "1", NULL};
    struct sdiff_test_run r = run(argv, 60);
    printf("# mirror --pcap, candidate %s: %.2f s\n", f->mode ? f->mode : "refusing", r.secs);
    /* exit 3: nothing judged (every replay failed); the parity is read with report */
    if (sdiff_test_exit_code(&r) != 3)
        fail_msg("mirror: exit %d: %s", sdiff_test_exit_code(&r), r.err);
    /* the capture's summary, the run's, and why nothing was judged */
    sdiff_test_expect_stderr_lines(&r, "mirror", 3);
    assert_non_null(strstr(r.err, "3 exchanges captured, none judged"));
    assert_non_null(strstr(r.err, "3 exchanges: 0 identical, 0 equivalent, 0 different, 3 error"));
    assert_true(r.secs < f->max_s);
    expect_fault_results(tmp("mirror.db"), f);
    sdiff_test_run_dispose(&r);
    if (pid)
        sdiff_test_stop(pid, SIGKILL, 5);
}

static const struct fault REFUSED = {NULL, NULL, "5", "refused:", NULL, 10};
static const struct fault HANGS = {"hang", NULL, "0.5", "timeout:", NULL, 10};
/* 114 bytes, 50 ms apart: 5.7 s against a 0.5 s timeout */
static const struct fault TOO_SLOW = {"slow", "50", "0.5", "timeout:", NULL, 10};
static const struct fault RESETS = {"reset_body", NULL, "5", "reset:", NULL, 10};
static const struct fault ENDLESS = {"endless", NULL, "20", "too_large:", NULL, 20};
static const struct fault NOT_HTTP = {"garbage", NULL, "5", "protocol:", NULL, 10};

static void test_bad__replay_candidate_refusing_connections_errors_each_exchange(void **state)
{
    (void)state;
    replay_fault(&REFUSED);
}

static void test_bad__replay_candidate_never_answering_times_out_each_exchange(void **state)
{
    (void)state;
    replay_fault(&HANGS);
}

static void test_bad__replay_candidate_slower_than_the_timeout_times_out(void **state)
{
    (void)state;
    replay_fault(&TOO_SLOW);
}

static void test_bad__replay_candidate_reset_mid_body_errors_each_exchange(void **state)
{
    (void)state;
    replay_fault(&RESETS);
}

static void test_bad__replay_candidate_endless_body_is_cut_at_the_body_limit(void **state)
{
    (void)state;
    replay_fault(&ENDLESS);
    /* what was kept stops at the replay's body limit (8 MiB), never more */
    assert_int_equal(sdiff_test_db_int(tmp("results.db"), "SELECT count(*) FROM responses WHERE target ="
                                           " 'candidate' AND body_len > 8388608"),
                     0);
}

static void test_bad__replay_candidate_answering_not_http_errors_each_exchange(void **state)
{
    (void)state;
    replay_fault(&NOT_HTTP);
}

static void test_bad__replay_candidate_slow_within_the_timeout_is_judged(void **state)
{
    (void)state;
    /* 114 bytes 2 ms apart, well within 10 s: judged like any answer (it differs) */
    struct fault slow = {"slow", "2", "10", NULL, NULL, 20};
    char url[64];
    make_corpus(pcap("pcap/basic_keepalive.pcap"), tmp("corpus.db"));
    int pid = start_candidate(&slow, url, sizeof url);
    char *argv[] = {(char *)sdiff_test_bin(), "replay", "--corpus", (char *)tmp("corpus.db"),
                    "--candidate", url, "--db", (char *)tmp("results.db"), "--timeout", "10",
                    NULL};
    struct sdiff_test_run r = run(argv, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    sdiff_test_expect_stderr_lines(&r, "replay", 1);
    assert_non_null(strstr(r.err, "3 exchanges: 0 identical, 0 equivalent, 3 different, 0 error"));
    assert_int_equal(sdiff_test_db_int(tmp("results.db"), "SELECT count(*) FROM results WHERE class ="
                                           " 'different' AND candidate_status = 200"),
                     3);
    sdiff_test_run_dispose(&r);
    sdiff_test_stop(pid, SIGKILL, 5);
}

/* A candidate answering every request with the bytes of a file. */
static void replay_file_answer(const char *answer, int want_exit, const char *want_class,
                               const char *want_note)
{
    char url[64];
    make_corpus(pcap("pcap/basic_keepalive.pcap"), tmp("corpus.db"));
    struct fault f = {"file", answer, "10", NULL, NULL, 30};
    int pid = start_candidate(&f, url, sizeof url);
    char *argv[] = {"/usr/bin/time", "-f", "maxrss %M", "-o", (char *)tmp("time"),
                    (char *)sdiff_test_bin(), "replay", "--corpus", (char *)tmp("corpus.db"),
                    "--candidate", url, "--db", (char *)tmp("results.db"), NULL};
    int timed = access("/usr/bin/time", X_OK) == 0;
    struct sdiff_test_run r = run(timed ? argv : argv + 5, 60);
    if (sdiff_test_exit_code(&r) != want_exit)
        fail_msg("replay: exit %d: %s", sdiff_test_exit_code(&r), r.err);
    sdiff_test_expect_stderr_lines(&r, "replay", 1);
    char q[512];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM results WHERE class = '%s' AND coalesce(note, '') LIKE"
             " '%%%s%%'",
             want_class, want_note);
    if (sdiff_test_db_int(tmp("results.db"), q) != 3)
        fail_msg("expected 3 results of class %s with '%s'", want_class, want_note);
    if (timed) {
        size_t len;
        char *t = (char *)sdiff_test_read_file(tmp("time"), &len);
        long kib = strstr(t, "maxrss ") ? atol(strstr(t, "maxrss ") + 7) : 0;
        printf("# replay, candidate answering %s: %.2f s, peak %ld KiB\n", answer, r.secs, kib);
        assert_true(kib < 512 * 1024);
        free(t);
    }
    sdiff_test_run_dispose(&r);
    sdiff_test_stop(pid, SIGKILL, 5);
}

static void test_bad__replay_candidate_decompression_bomb_is_an_error(void **state)
{
    (void)state;
    char bomb[4200];
    snprintf(bomb, sizeof bomb, "%s", sdiff_test_fixture_path("bad/bomb.http"));
    replay_file_answer(bomb, 1, "error", "decompression bomb"); /* the candidate's error */
}

static void test_bad__replay_candidate_json_nested_100000_deep_is_judged(void **state)
{
    (void)state;
    size_t depth = 100000, n = 0;
    char *doc = malloc(2 * depth + 256);
    assert_non_null(doc);
    n = (size_t)sprintf(doc, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\n\r\n",
                        2 * depth);
    memset(doc + n, '[', depth);
    memset(doc + n + depth, ']', depth);
    write_file(tmp("deep.http"), doc, n + 2 * depth);
    free(doc);
    char answer[4200];
    snprintf(answer, sizeof answer, "%s", tmp("deep.http"));
    replay_file_answer(answer, 1, "different", "");
}

static void test_bad__mirror_pcap_candidate_refusing_connections_errors(void **state)
{
    (void)state;
    mirror_fault(&REFUSED);
}

static void test_bad__mirror_pcap_candidate_never_answering_times_out(void **state)
{
    (void)state;
    mirror_fault(&HANGS);
}

static void test_bad__mirror_pcap_candidate_slower_than_the_timeout_times_out(void **state)
{
    (void)state;
    mirror_fault(&TOO_SLOW);
}

static void test_bad__mirror_pcap_candidate_reset_mid_body_errors(void **state)
{
    (void)state;
    mirror_fault(&RESETS);
}

static void test_bad__mirror_pcap_candidate_endless_body_is_cut_at_the_body_limit(void **state)
{
    (void)state;
    mirror_fault(&ENDLESS);
}

static void test_bad__mirror_pcap_candidate_answering_not_http_errors(void **state)
{
    (void)state;
    mirror_fault(&NOT_HTTP);
}

/* ---- storage --------------------------------------------------------------------------- */

static void test_bad__db_path_under_a_regular_file_exits_2_with_one_line(void **state)
{
    (void)state;
    write_file(tmp("plain"), "x", 1);
    char *cap[] = {(char *)sdiff_test_bin(), "capture", "--pcap",
                   (char *)pcap("pcap/basic_keepalive.pcap"), "--out",
                   (char *)tmp("plain/corpus.db"), NULL};
    struct sdiff_test_run r = run(cap, 20);
    sdiff_test_expect_one_error(&r, "capture", "plain/corpus.db: Not a directory");
    sdiff_test_run_dispose(&r);
    make_corpus(pcap("pcap/basic_keepalive.pcap"), tmp("corpus.db"));
    char *rep[] = {(char *)sdiff_test_bin(), "replay", "--corpus", (char *)tmp("corpus.db"),
                   "--candidate", "http://127.0.0.1:9", "--db", (char *)tmp("plain/results.db"),
                   NULL};
    r = run(rep, 20);
    sdiff_test_expect_one_error(&r, "replay", "plain/results.db: Not a directory");
    sdiff_test_run_dispose(&r);
}

static void test_bad__db_path_with_a_missing_parent_exits_2_with_one_line(void **state)
{
    (void)state;
    char *cap[] = {(char *)sdiff_test_bin(), "capture", "--pcap",
                   (char *)pcap("pcap/basic_keepalive.pcap"), "--out",
                   (char *)tmp("no/such/dir/corpus.db"), NULL};
    struct sdiff_test_run r = run(cap, 20);
    sdiff_test_expect_one_error(&r, "capture", "no/such/dir/corpus.db: No such file or directory");
    sdiff_test_run_dispose(&r);
    char *mir[] = {(char *)sdiff_test_bin(), "mirror", "--pcap",
                   (char *)pcap("pcap/basic_keepalive.pcap"), "--port", "8080", "--candidate",
                   "http://127.0.0.1:9", "--db", (char *)tmp("no/such/dir/results.db"), NULL};
    r = run(mir, 20);
    sdiff_test_expect_one_error(&r, "mirror", "no/such/dir/results.db: No such file or directory");
    sdiff_test_run_dispose(&r);
}

static void test_bad__db_in_a_directory_the_user_cannot_write_exits_2(void **state)
{
    (void)state;
    /* as nobody, whom the temporary directory (0700, root's) does not let in */
    if (!sdiff_test_nobody_can_run())
        skip();
    char *argv[] = {SDIFF_TEST_AS_NOBODY, (char *)sdiff_test_bin(), "capture", "--pcap",
                    (char *)pcap("pcap/basic_keepalive.pcap"), "--out", (char *)tmp("c.db"),
                    NULL};
    struct sdiff_test_run r = run(argv, 20);
    sdiff_test_expect_one_error(&r, "capture", "c.db: Permission denied");
    sdiff_test_run_dispose(&r);
}

/* A Python process holding db in BEGIN EXCLUSIVE until killed; its pid. */
static int lock_db(const char *db)
{
    char script[9000];
    snprintf(script, sizeof script,
             "import sqlite3, sys, time\n"
             "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
             "c.execute('BEGIN EXCLUSIVE')\n"
             "print('locked', flush=True)\n"
             "time.sleep(60)\n");
    /* a file of its own: an earlier locker's "locked" must not be read as this one's */
    static int nlockers;
    char out[64];
    snprintf(out, sizeof out, "locker%d.out", ++nlockers);
    char *argv[] = {"/usr/bin/python3", "-c", script, (char *)db, NULL};
    int pid = sdiff_test_spawn(argv, tmp(out), NULL);
    assert_int_equal(sdiff_test_wait_file_contains(tmp(out), "locked", 10), 0);
    return pid;
}

static void test_bad__db_locked_by_another_process_fails_after_a_bounded_wait(void **state)
{
    (void)state;
    char corpus[4200], results[4200];
    snprintf(corpus, sizeof corpus, "%s", tmp("corpus.db"));
    snprintf(results, sizeof results, "%s", tmp("results.db"));
    make_corpus(pcap("pcap/basic_keepalive.pcap"), corpus);
    /* a results database of the same corpus, then held by another writer */
    char *rep[] = {(char *)sdiff_test_bin(), "replay", "--corpus", corpus, "--candidate",
                   "http://127.0.0.1:9", "--connect-timeout", "1", "--db", results, NULL};
    struct sdiff_test_run r = run(rep, 30);
    assert_int_equal(sdiff_test_exit_code(&r), 1); /* the candidate is down */
    sdiff_test_run_dispose(&r);
    int locker = lock_db(results);
    r = run(rep, 30);
    sdiff_test_expect_one_error(&r, "replay",
                     "results.db: cannot write: database is locked by another process");
    printf("# replay gave up on the lock after %.2f s\n", r.secs);
    assert_true(r.secs >= 1.0 && r.secs < 10);
    sdiff_test_run_dispose(&r);
    sdiff_test_stop(locker, SIGKILL, 5);
    locker = lock_db(corpus);
    char *cap[] = {(char *)sdiff_test_bin(), "capture", "--pcap",
                   (char *)pcap("pcap/basic_keepalive.pcap"), "--out", corpus, NULL};
    r = run(cap, 30);
    sdiff_test_expect_one_error(&r, "capture",
                     "corpus.db: cannot write: database is locked by another process");
    assert_true(r.secs >= 1.0 && r.secs < 10);
    sdiff_test_run_dispose(&r);
    /* readers are not blocked by the writer (WAL): the corpus still replays */
    r = run(rep, 30);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    assert_non_null(strstr(r.err, "3 candidate refused"));
    sdiff_test_run_dispose(&r);
    sdiff_test_stop(locker, SIGKILL, 5);
}

static void test_bad__db_from_a_newer_schema_is_refused_naming_both_versions(void **state)
{
    (void)state;
    char corpus[4200], results[4200];
    snprintf(corpus, sizeof corpus, "%s", tmp("corpus.db"));
    snprintf(results, sizeof results, "%s", tmp("results.db"));
    make_corpus(pcap("pcap/basic_keepalive.pcap"), corpus);
    char *rep[] = {(char *)sdiff_test_bin(), "replay", "--corpus", corpus, "--candidate",
                   "http://127.0.0.1:9", "--connect-timeout", "1", "--db", results, NULL};
    struct sdiff_test_run r = run(rep, 30);
    assert_int_equal(sdiff_test_exit_code(&r), 1); /* the candidate is down */
    sdiff_test_run_dispose(&r);
    sql(corpus, "PRAGMA user_version = 99");
    sql(results, "PRAGMA user_version = 99");
    char want[80];
    snprintf(want, sizeof want, "schema version 99 is newer than this shadowdiff supports (%d)",
             SDIFF_STORE_SCHEMA_VERSION);
    char *cap[] = {(char *)sdiff_test_bin(), "capture", "--pcap",
                   (char *)pcap("pcap/basic_keepalive.pcap"), "--out", corpus, NULL};
    char *mir[] = {(char *)sdiff_test_bin(), "mirror", "--pcap",
                   (char *)pcap("pcap/basic_keepalive.pcap"), "--port", "8080", "--candidate",
                   "http://127.0.0.1:9", "--db", results, NULL};
    char *report[] = {(char *)sdiff_test_bin(), "report", "--db", results, NULL};
    char *inspect[] = {(char *)sdiff_test_bin(), "inspect", "--db", results, "1", NULL};
    char *accept[] = {(char *)sdiff_test_bin(), "accept", "--db", results, "c0ffee",
                      "--reason", "x", NULL};
    char *gate[] = {(char *)sdiff_test_bin(), "gate", "--corpus", corpus, "--primary",
                    "http://127.0.0.1:9", "--candidate", "http://127.0.0.1:9", NULL};
    struct {
        char **argv;
        const char *cmd;
    } cmds[] = {{cap, "capture"}, {rep, "replay"},  {mir, "mirror"}, {report, "report"},
                {inspect, "inspect"}, {accept, "accept"}, {gate, "gate"}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        r = run(cmds[i].argv, 30);
        sdiff_test_expect_one_error(&r, cmds[i].cmd, want);
        sdiff_test_run_dispose(&r);
    }
    /* nothing was written to either file */
    assert_int_equal(sdiff_test_db_int(results, "SELECT count(*) FROM runs"), 1);
    assert_int_equal(sdiff_test_db_int(corpus, "SELECT count(*) FROM captures"), 1);
}

static void test_bad__disk_full_fails_with_one_line_and_keeps_committed_rows(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/gen_bad.py' --large '%s' many_exchanges"
                              " >/dev/null",
             tools, dir);
    assert_int_equal(sdiff_test_sh(cmd, 60), 0);
    snprintf(mnt, sizeof mnt, "%s/mnt", dir);
    snprintf(cmd, sizeof cmd, "mkdir '%s' && mount -t tmpfs -o size=2m,mode=0700 tmpfs '%s'",
             mnt, mnt);
    if (sdiff_test_sh(cmd, 10) != 0) {
        mnt[0] = '\0';
        skip(); /* no permission to mount here (a container without CAP_SYS_ADMIN) */
    }
    /* 2500 exchanges of 1000-byte bodies, committed 1000 at a time: the second batch does
     * not fit in 2 MiB */
    char db[4200], pcap_path[4200];
    snprintf(db, sizeof db, "%s/corpus.db", mnt);
    snprintf(pcap_path, sizeof pcap_path, "%s", tmp("many_exchanges.pcap"));
    char *argv[] = {(char *)sdiff_test_bin(), "capture", "--pcap", pcap_path, "--out", db, NULL};
    struct sdiff_test_run r = run(argv, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    /* the summary of what was read, then the error */
    sdiff_test_expect_stderr_lines(&r, "capture", 2);
    const char *last = strrchr(r.err, '\n');
    while (last > r.err && last[-1] != '\n')
        last--;
    if (strstr(last, "corpus.db: cannot write: disk full\n") == NULL)
        fail_msg("the last line is not the error: %s", r.err);
    sqlite3_int64 kept = sdiff_test_db_int(db, "SELECT count(*) FROM exchanges");
    printf("# disk full: %lld of 2500 exchanges committed before it\n", (long long)kept);
    assert_true(kept > 0 && kept < 2500);
    /* the summary counts what was read, and says how much of it the database kept */
    char said[100];
    snprintf(said, sizeof said, "; %lld exchanges stored before the error\n", (long long)kept);
    if (strstr(r.err, said) == NULL)
        fail_msg("the summary does not say \"%s\": %s", said, r.err);
    sdiff_test_run_dispose(&r);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check"
                            " <> 'ok'"),
                     0);
    /* what was committed is whole: every kept exchange has its 1000-byte body */
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM exchanges WHERE state <> 'complete' OR"
                            " length(resp_body) <> 1000"),
                     0);
}

/* ---- config ---------------------------------------------------------------------------- */

static void test_bad__config_with_a_json_syntax_error_names_line_and_column(void **state)
{
    (void)state;
    static const char cfg[] = "{\n  \"ignore_headers\": [\"X-A\",\n  \"ignore_paths\": ]\n}\n";
    write_file(tmp("bad.json"), cfg, sizeof cfg - 1);
    make_corpus(pcap("pcap/basic_keepalive.pcap"), tmp("corpus.db"));
    char *rep[] = {(char *)sdiff_test_bin(), "replay", "--corpus", (char *)tmp("corpus.db"),
                   "--candidate", "http://127.0.0.1:9", "--db", (char *)tmp("results.db"),
                   "--config", (char *)tmp("bad.json"), NULL};
    struct sdiff_test_run r = run(rep, 20);
    sdiff_test_expect_one_error(&r, "replay", "bad.json:3:17: ");
    sdiff_test_run_dispose(&r);
    write_file(tmp("a.json"), "{}", 2);
    char *dif[] = {(char *)sdiff_test_bin(), "diff", (char *)tmp("a.json"), (char *)tmp("a.json"),
                   "--config", (char *)tmp("bad.json"), NULL};
    r = run(dif, 20);
    sdiff_test_expect_one_error(&r, "diff", "bad.json:3:17: ");
    sdiff_test_run_dispose(&r);
    /* nothing was run */
    assert_int_equal(access(tmp("results.db"), F_OK), -1);
}

static void test_bad__config_path_that_cannot_match_is_refused_at_load(void **state)
{
    (void)state;
    static const struct {
        const char *path, *why;
    } cases[] = {
        {"$..price", "recursive descent '..' is not supported"},
        {"$.items[3].price", "array indexes are not supported in patterns; use [*]"},
        {"items.price", "a path starts with '$'"},
        {"$.items[", "expected '.name', '.*', '[*]' or '[\"name\"]'"},
    };
    make_corpus(pcap("pcap/basic_keepalive.pcap"), tmp("corpus.db"));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cfg[512], want[512];
        int n = snprintf(cfg, sizeof cfg, "{\"routes\": {\"GET /api/users\": {\"ignore_paths\":"
                                          " [\"$.a\", \"%s\"]}}}",
                         cases[i].path);
        write_file(tmp("paths.json"), cfg, (size_t)n);
        snprintf(want, sizeof want, "ignore pattern 1 (\"%s\"): %s", cases[i].path,
                 cases[i].why);
        char *rep[] = {(char *)sdiff_test_bin(), "replay", "--corpus", (char *)tmp("corpus.db"),
                       "--candidate", "http://127.0.0.1:9", "--db", (char *)tmp("results.db"),
                       "--config", (char *)tmp("paths.json"), NULL};
        struct sdiff_test_run r = run(rep, 20);
        sdiff_test_expect_one_error(&r, "replay", want);
        sdiff_test_run_dispose(&r);
    }
}

static void test_bad__config_route_that_cannot_match_is_refused_or_reported(void **state)
{
    (void)state;
    make_corpus(pcap("pcap/basic_keepalive.pcap"), tmp("corpus.db"));
    char *rep[] = {(char *)sdiff_test_bin(), "replay", "--corpus", (char *)tmp("corpus.db"),
                   "--candidate", "http://127.0.0.1:9", "--connect-timeout", "1", "--db",
                   (char *)tmp("results.db"), "--config", (char *)tmp("routes.json"), NULL};
    /* a route without its leading slash can match no request: refused at load */
    static const char slashless[] = "{\"routes\": {\"GET api/users\": {\"ignore_paths\":"
                                    " [\"$.a\"]}}}";
    write_file(tmp("routes.json"), slashless, sizeof slashless - 1);
    struct sdiff_test_run r = run(rep, 30);
    sdiff_test_expect_one_error(&r, "replay", "route template \"GET api/users\" must be METHOD /path");
    sdiff_test_run_dispose(&r);
    assert_int_equal(access(tmp("results.db"), F_OK), -1);
    /* a well-formed route that no exchange has: the run says so when it ends */
    static const char absent[] = "{\"routes\": {\"GET /api/absent\": {\"ignore_paths\": [\"$.a\"]},"
                                 " \"GET /api/health\": {\"ignore_paths\": [\"$.uptime_s\"]}}}";
    write_file(tmp("routes.json"), absent, sizeof absent - 1);
    r = run(rep, 30);
    assert_int_equal(sdiff_test_exit_code(&r), 1); /* the candidate is down */
    sdiff_test_expect_stderr_lines(&r, "replay", 2);
    assert_non_null(strstr(r.err, "shadowdiff: replay: warning: config rule for route"
                                  " \"GET /api/absent\" matched no exchange\n"));
    assert_null(strstr(r.err, "GET /api/health"));
    assert_int_equal(sdiff_test_db_int(tmp("results.db"), "SELECT count(*) FROM results"), 3);
    sdiff_test_run_dispose(&r);
}

int main(int argc, char **argv)
{
    const char *fx = getenv("SDIFF_FIXTURES");
    snprintf(tools, sizeof tools, "%s/../tests/tools", fx ? fx : "fixtures");
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_bad__replay_candidate_refusing_connections_errors_each_exchange),
        T(test_bad__replay_candidate_never_answering_times_out_each_exchange),
        T(test_bad__replay_candidate_slower_than_the_timeout_times_out),
        T(test_bad__replay_candidate_slow_within_the_timeout_is_judged),
        T(test_bad__replay_candidate_reset_mid_body_errors_each_exchange),
        T(test_bad__replay_candidate_endless_body_is_cut_at_the_body_limit),
        T(test_bad__replay_candidate_answering_not_http_errors_each_exchange),
        T(test_bad__replay_candidate_decompression_bomb_is_an_error),
        T(test_bad__replay_candidate_json_nested_100000_deep_is_judged),
        T(test_bad__mirror_pcap_candidate_refusing_connections_errors),
        T(test_bad__mirror_pcap_candidate_never_answering_times_out),
        T(test_bad__mirror_pcap_candidate_slower_than_the_timeout_times_out),
        T(test_bad__mirror_pcap_candidate_reset_mid_body_errors),
        T(test_bad__mirror_pcap_candidate_endless_body_is_cut_at_the_body_limit),
        T(test_bad__mirror_pcap_candidate_answering_not_http_errors),
        T(test_bad__db_path_under_a_regular_file_exits_2_with_one_line),
        T(test_bad__db_path_with_a_missing_parent_exits_2_with_one_line),
        T(test_bad__db_in_a_directory_the_user_cannot_write_exits_2),
        T(test_bad__db_locked_by_another_process_fails_after_a_bounded_wait),
        T(test_bad__db_from_a_newer_schema_is_refused_naming_both_versions),
        T(test_bad__disk_full_fails_with_one_line_and_keeps_committed_rows),
        T(test_bad__config_with_a_json_syntax_error_names_line_and_column),
        T(test_bad__config_path_that_cannot_match_is_refused_at_load),
        T(test_bad__config_route_that_cannot_match_is_refused_or_reported),
    };
#undef T
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sdiff_test_kill_all();
    return rc;
}
