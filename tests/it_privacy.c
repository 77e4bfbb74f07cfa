/*
 * it_privacy.c - no credential reaches anything shadowdiff writes. Real traffic on loopback
 * carries canary secrets (bearer token, cookie, API key, ?token=, a Referer's access_token,
 * a JSON password; and answers with session cookies and JSON tokens, one echoing the bearer
 * token). It goes through `capture` (database and JSON Lines, the database one running as
 * nobody), `replay`, `mirror` (as nobody, with metrics), every report format and `inspect`;
 * then every byte of every file written, databases with their -wal and -shm included, and
 * every stderr, is searched for the canary. Equal secrets must still compare equal and
 * different ones be reported as a difference between two hashes.
 */
#include "sdiff_test.h"

#include <dirent.h>
#include <pwd.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shadowdiff/redact.h"
#include "shadowdiff/store.h"

static char tools[4096], dir[4096], canary[64];
static int prim_port, cand_port;
static char prim_s[16], cand_url[64];

static const char *tool(const char *name)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", tools, name);
    return path;
}

static const char *in_dir(const char *name)
{
    static char paths[8][4200];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 4200, "%s/%s", dir, name);
    return p;
}

static int setup(void **state)
{
    (void)state;
    const char *fx = getenv("SDIFF_FIXTURES");
    snprintf(tools, sizeof tools, "%s/../tests/tools", fx ? fx : "fixtures");
    if (geteuid() != 0)
        return 0;
    char *d = sdiff_test_tmpdir();
    snprintf(dir, sizeof dir, "%s", d);
    free(d);
    /* unique per run, so nothing left over from another run can be mistaken for a leak */
    snprintf(canary, sizeof canary, "CNRY%x%lx", (unsigned)getpid(), (unsigned long)time(NULL));
    prim_port = sdiff_test_free_port();
    cand_port = sdiff_test_free_port();
    snprintf(prim_s, sizeof prim_s, "%d", prim_port);
    snprintf(cand_url, sizeof cand_url, "http://127.0.0.1:%d", cand_port);
    char cand_s[16];
    snprintf(cand_s, sizeof cand_s, "%d", cand_port);
    char *p_argv[] = {"/usr/bin/python3", (char *)tool("secret_server.py"), prim_s, "primary",
                      canary, NULL};
    sdiff_test_spawn(p_argv, NULL, NULL);
    char *c_argv[] = {"/usr/bin/python3", (char *)tool("secret_server.py"), cand_s, "candidate",
                      canary, NULL};
    sdiff_test_spawn(c_argv, NULL, NULL);
    if (sdiff_test_wait_port(prim_port, 10) != 0 || sdiff_test_wait_port(cand_port, 10) != 0)
        return -1;
    FILE *f = fopen(in_dir("cfg.json"), "w");
    if (f == NULL)
        return -1;
    fputs("{\"redact_paths\": [\"$.password\", \"$.api_token\", \"$.token\"],\n"
          " \"allow_methods\": [\"POST\"]}\n",
          f);
    fclose(f);
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

static void drive(void)
{
    char *argv[] = {"/usr/bin/python3", (char *)tool("secret_client.py"), prim_s, canary, NULL};
    int st = sdiff_test_wait(sdiff_test_spawn(argv, NULL, NULL), 60);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int run(char *const argv[], const char *out, const char *err, double timeout_s)
{
    int st = sdiff_test_wait(sdiff_test_spawn(argv, out, err), timeout_s);
    if (!WIFEXITED(st))
        fail_msg("%s %s did not exit", argv[0], argv[1]);
    return WEXITSTATUS(st);
}

/* A /proc file (its size reads as 0, so read until the end). */
static char *read_proc(const char *path)
{
    static char buf[65536];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The process runs as nobody, with no capability left. */
static void expect_nobody(int pid)
{
    struct passwd *pw = getpwnam("nobody");
    assert_non_null(pw);
    char path[64], want_uid[128], want_gid[128];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    snprintf(want_uid, sizeof want_uid, "Uid:\t%u\t%u\t%u\t%u\n", (unsigned)pw->pw_uid,
             (unsigned)pw->pw_uid, (unsigned)pw->pw_uid, (unsigned)pw->pw_uid);
    snprintf(want_gid, sizeof want_gid, "Gid:\t%u\t%u\t%u\t%u\n", (unsigned)pw->pw_gid,
             (unsigned)pw->pw_gid, (unsigned)pw->pw_gid, (unsigned)pw->pw_gid);
    const char *status = read_proc(path);
    if (strstr(status, want_uid) == NULL || strstr(status, want_gid) == NULL ||
        strstr(status, "CapEff:\t0000000000000000") == NULL)
        fail_msg("pid %d is not nobody without capabilities:\n%s", pid, status);
}

/* Every byte of every file in the test directory: the canary must not be there. */
static size_t scan_dir_for_canary(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t files = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        uint8_t *p = sdiff_test_read_file(path, &len);
        size_t cl = strlen(canary);
        for (size_t i = 0; i + cl <= len; i++)
            if (memcmp(p + i, canary, cl) == 0)
                fail_msg("the canary %s is in %s at byte %zu", canary, e->d_name, i);
        free(p);
        files++;
    }
    closedir(d);
    return files;
}

/* The classes judged for each route, e.g. "GET /api/echo=identical;..." in route order. */
static void expect_classes(const char *db)
{
    const char *want[][2] = {
        {"GET /api/me", "identical"},
        {"GET /api/rotate", "different"},
        {"GET /api/echo", "identical"},
        {"POST /api/login", "identical"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM results WHERE route = '%s' AND class = '%s'", want[i][0],
                 want[i][1]);
        if (sdiff_test_db_int(db, sql) != 1)
            fail_msg("%s: expected %s %s once", db, want[i][0], want[i][1]);
    }
    /* the different secrets are shown as two different hashes, never the values */
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM differences"), 2);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM differences WHERE"
                            " path IN ('header:set-cookie', '$.api_token')"
                            " AND kind = 'changed' AND primary_value LIKE '%hmac:%'"
                            " AND candidate_value LIKE '%hmac:%'"
                            " AND primary_value <> candidate_value"),
                     2);
}

/* The stored bearer token is the hash of the canary's under the database's key. */
static void expect_hashed_with_db_key(const char *db)
{
    struct sdiff_store *st = NULL;
    struct sdiff_store_opts so = {.must_exist = 1};
    struct sdiff_redact_key key;
    struct sdiff_redact *r = NULL;
    memset(&key, 0, sizeof key);
    assert_int_equal(sdiff_store_open(&st, db, &so, NULL), SDIFF_OK);
    assert_int_equal(sdiff_redact_key_bind(&key, st, NULL), SDIFF_OK);
    sdiff_store_close(st);
    struct sdiff_redact_opts o = {.key = &key};
    assert_int_equal(sdiff_redact_new(&r, &o, NULL), SDIFF_OK);
    char cred[128], h[SDIFF_REDACT_HASH_SIZE], sql[512];
    snprintf(cred, sizeof cred, "%s-bearer", canary);
    sdiff_redact_hash(r, cred, strlen(cred), h);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM exchanges WHERE req_headers LIKE"
             " '%%[\"Authorization\",\"Bearer %s\"]%%'",
             h);
    assert_int_equal(sdiff_test_db_int(db, sql), 4);
    sdiff_redact_free(r);
}

static void report_all(const char *db, const char *tag)
{
    static const char *const formats[] = {"text", "markdown", "json", "html", "junit"};
    for (size_t i = 0; i < 5; i++) {
        char out[64], err[64];
        snprintf(out, sizeof out, "report-%s.%s", tag, formats[i]);
        snprintf(err, sizeof err, "report-%s-%s.err", tag, formats[i]);
        char *argv[] = {(char *)sdiff_test_bin(), "report", "--db", (char *)db, "--format",
                        (char *)formats[i], "--out", (char *)in_dir(out), NULL};
        int rc = run(argv, NULL, in_dir(err), 60);
        assert_true(rc == 0 || rc == 1);
        /* reports hold hashes, not secrets, and are made to be shared: 0666 & ~umask */
        mode_t um = umask(0);
        umask(um);
        struct stat sb;
        assert_int_equal(stat(in_dir(out), &sb), 0);
        assert_true(sb.st_size > 0);
        assert_int_equal(sb.st_mode & 0777, 0666 & ~um);
    }
    sqlite3_int64 n = sdiff_test_db_int(db, "SELECT max(id) FROM results");
    assert_true(n >= 4);
    for (sqlite3_int64 id = 1; id <= n; id++) {
        char id_s[32], out[64], err[64];
        snprintf(id_s, sizeof id_s, "%lld", (long long)id);
        snprintf(out, sizeof out, "inspect-%s-%lld.txt", tag, (long long)id);
        snprintf(err, sizeof err, "inspect-%s-%lld.err", tag, (long long)id);
        char *argv[] = {(char *)sdiff_test_bin(), "inspect", "--db", (char *)db, id_s, NULL};
        assert_int_equal(run(argv, in_dir(out), in_dir(err), 30), 0);
        size_t len;
        char *text = (char *)sdiff_test_read_file(in_dir(out), &len);
        /* the curl line carries the hash, which is what a replay sends */
        assert_non_null(strstr(text, "curl "));
        assert_non_null(strstr(text, "Authorization: Bearer hmac:"));
        free(text);
    }
}

/* A listening socket on 127.0.0.1:port in /proc/net/tcp (and none on another address). */
static void expect_loopback_listener(int port)
{
    const char *tcp = read_proc("/proc/net/tcp");
    char lo[64], any[64];
    snprintf(lo, sizeof lo, "0100007F:%04X 00000000:0000 0A", port);
    snprintf(any, sizeof any, "00000000:%04X 00000000:0000 0A", port);
    assert_non_null(strstr(tcp, lo));
    assert_null(strstr(tcp, any));
}

static void test_privacy__no_canary_reaches_anything_written(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    const char *corpus = in_dir("corpus.db");
    char cfg[4200], corpus_s[4200];
    snprintf(cfg, sizeof cfg, "%s", in_dir("cfg.json"));
    snprintf(corpus_s, sizeof corpus_s, "%s", corpus);

    /* capture twice at once: into a database as nobody, and as JSON Lines */
    char *cap_argv[] = {(char *)sdiff_test_bin(), "capture", "--interface", "lo", "--port",
                        prim_s, "--out", corpus_s, "--config", cfg, "--user", "nobody", NULL};
    int cap = sdiff_test_spawn(cap_argv, NULL, in_dir("capture.err"));
    char *jl_argv[] = {(char *)sdiff_test_bin(), "capture", "--interface", "lo", "--port",
                       prim_s, "--out", "-", "--config", cfg, NULL};
    int jl = sdiff_test_spawn(jl_argv, in_dir("capture.jsonl"), in_dir("capture-jsonl.err"));
    assert_int_equal(sdiff_test_wait_file_contains(in_dir("capture.err"), "listening on lo", 10),
                     0);
    assert_int_equal(
        sdiff_test_wait_file_contains(in_dir("capture-jsonl.err"), "listening on lo", 10), 0);
    expect_nobody(cap);
    drive();
    usleep(500000);
    int st = sdiff_test_stop(cap, SIGINT, 30);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st = sdiff_test_stop(jl, SIGINT, 30);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(sdiff_test_db_int(corpus, "SELECT count(*) FROM exchanges WHERE state = 'complete'"), 4);
    assert_int_equal(sdiff_test_db_int(corpus, "SELECT count(*) FROM captures WHERE finished_at IS NOT NULL"),
                     1);
    expect_hashed_with_db_key(corpus);
    size_t len;
    char *jsonl = (char *)sdiff_test_read_file(in_dir("capture.jsonl"), &len);
    assert_non_null(strstr(jsonl, "?token=hmac:"));
    assert_non_null(strstr(jsonl, "[\"Authorization\",\"Bearer hmac:"));
    free(jsonl);

    /* replay the corpus: what is stored is sent, hashes and all */
    char results[4200];
    snprintf(results, sizeof results, "%s", in_dir("results.db"));
    char *rep_argv[] = {(char *)sdiff_test_bin(), "replay", "--corpus", corpus_s, "--candidate",
                        cand_url, "--db", results, "--config", cfg, NULL};
    assert_int_equal(run(rep_argv, NULL, in_dir("replay.err"), 60), 1);
    expect_classes(results);

    /* mirror as nobody, with metrics on loopback */
    char mirror_db[4200], metrics_addr[32], metrics_cmd[4400];
    snprintf(mirror_db, sizeof mirror_db, "%s", in_dir("mirror.db"));
    int mport = sdiff_test_free_port();
    snprintf(metrics_addr, sizeof metrics_addr, ":%d", mport);
    char *mir_argv[] = {(char *)sdiff_test_bin(), "mirror", "--interface", "lo", "--port",
                        prim_s, "--candidate", cand_url, "--db", mirror_db, "--config", cfg,
                        "--metrics", metrics_addr, "--user", "nobody", NULL};
    int mir = sdiff_test_spawn(mir_argv, NULL, in_dir("mirror.err"));
    assert_int_equal(sdiff_test_wait_file_contains(in_dir("mirror.err"), "listening", 10), 0);
    expect_nobody(mir);
    expect_loopback_listener(mport);
    drive();
    for (int i = 0; i < 200 && sdiff_test_db_int(mirror_db, "SELECT count(*) FROM results") < 4; i++)
        usleep(100000);
    assert_int_equal(sdiff_test_db_int(mirror_db, "SELECT count(*) FROM results"), 4);
    sleep(2); /* metrics are published every second */
    snprintf(metrics_cmd, sizeof metrics_cmd,
             "curl -sf http://127.0.0.1:%d/metrics > '%s'", mport, in_dir("metrics.txt"));
    assert_int_equal(sdiff_test_sh(metrics_cmd, 20), 0);
    char *metrics = (char *)sdiff_test_read_file(in_dir("metrics.txt"), &len);
    assert_non_null(strstr(metrics, "route=\"GET /api/rotate\""));
    free(metrics);
    scan_dir_for_canary(); /* while mirror runs: its -wal and -shm are there */
    st = sdiff_test_stop(mir, SIGINT, 30);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    expect_classes(mirror_db);

    report_all(results, "replay");
    report_all(mirror_db, "mirror");

    /* databases stay 0600, whoever wrote them */
    struct stat sb;
    assert_int_equal(stat(corpus, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(stat(mirror_db, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    size_t files = scan_dir_for_canary();
    assert_true(files >= 30);
}

static void test_privacy__unknown_user_exits_2_with_one_line(void **state)
{
    (void)state;
    char *tdir = sdiff_test_tmpdir();
    char errf[4200];
    snprintf(errf, sizeof errf, "%s/err", tdir);
    char *argv[] = {(char *)sdiff_test_bin(), "capture", "--interface", "lo", "--out", "-",
                    "--user", "no-such-user-sdiff", NULL};
    assert_int_equal(run(argv, NULL, errf, 10), 2);
    size_t len;
    char *msg = (char *)sdiff_test_read_file(errf, &len);
    assert_non_null(strstr(msg, "shadowdiff: capture: --user: no such user 'no-such-user-sdiff'"));
    assert_ptr_equal(strchr(msg, '\n'), msg + len - 1);
    free(msg);
    char dbf[4200];
    snprintf(dbf, sizeof dbf, "%s/never.db", tdir);
    char *margv[] = {(char *)sdiff_test_bin(), "mirror", "--interface", "lo", "--port", "1",
                     "--candidate", "http://127.0.0.1:1", "--db", dbf, "--user",
                     "no-such-user-sdiff", NULL};
    assert_int_equal(run(margv, NULL, errf, 10), 2);
    msg = (char *)sdiff_test_read_file(errf, &len);
    assert_non_null(strstr(msg, "no such user"));
    assert_ptr_equal(strchr(msg, '\n'), msg + len - 1);
    free(msg);
    assert_int_not_equal(access(dbf, F_OK), 0); /* nothing was created */
    sdiff_test_rmdir(tdir);
    free(tdir);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_privacy__no_canary_reaches_anything_written),
        cmocka_unit_test(test_privacy__unknown_user_exits_2_with_one_line),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    sdiff_test_kill_all();
    return rc;
}
