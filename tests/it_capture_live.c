/*
 * it_capture_live.c - live capture on the loopback interface: a real server, a real
 * keep-alive client, `shadowdiff capture --interface lo`, and every request the client made
 * must be in the database with the response the client received.
 */
#include "sdiff_test.h"

#include <dirent.h>
#include <jansson.h>
#include <pwd.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

static char tools[4096];

static const char *tool(const char *name)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", tools, name);
    return path;
}

/* Every client exchange, in order, with the response the client received. */
static void expect_client_exchanges(const char *db, const char *expf, int want)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT method, target, status, resp_body, state "
                                        "FROM exchanges ORDER BY t_req_start, id",
                                        -1, &q, NULL),
                     SQLITE_OK);
    size_t len;
    char *exp = (char *)sdiff_test_read_file(expf, &len);
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(exp, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
        json_t *e = json_loads(line, 0, NULL);
        assert_non_null(e);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        assert_string_equal(sqlite3_column_text(q, 0), json_string_value(json_object_get(e, "method")));
        assert_string_equal(sqlite3_column_text(q, 1), json_string_value(json_object_get(e, "target")));
        assert_int_equal(sqlite3_column_int(q, 2), json_integer_value(json_object_get(e, "status")));
        const void *body = sqlite3_column_blob(q, 3);
        int blen = sqlite3_column_bytes(q, 3);
        assert_int_equal(blen, json_integer_value(json_object_get(e, "resp_body_len")));
        char crc[16];
        snprintf(crc, sizeof crc, "%08lx",
                 blen ? crc32(0, body, (uInt)blen) & 0xffffffffUL : 0UL);
        assert_string_equal(crc, json_string_value(json_object_get(e, "resp_body_crc32")));
        assert_string_equal(sqlite3_column_text(q, 4), "complete");
        json_decref(e);
    }
    assert_int_equal(n, want);
    assert_int_equal(sqlite3_step(q), SQLITE_DONE); /* nothing extra */
    sqlite3_finalize(q);
    sqlite3_close(h);
    free(exp);
}

/*
 * The client runs ROUNDS times the plan of live_client.py while capture runs; with stall,
 * capture is stopped (SIGSTOP) for the whole run, so only the kernel ring holds the traffic.
 */
static void capture_client_run(int rounds, int stall)
{
    char *dir = sdiff_test_tmpdir();
    char db[4200], errf[4200], expf[4200], port_s[16], rounds_s[16];
    snprintf(db, sizeof db, "%s/live.db", dir);
    snprintf(errf, sizeof errf, "%s/capture.err", dir);
    snprintf(expf, sizeof expf, "%s/client.jsonl", dir);
    snprintf(rounds_s, sizeof rounds_s, "%d", rounds);
    int port = sdiff_test_free_port();
    snprintf(port_s, sizeof port_s, "%d", port);

    char *srv_argv[] = {"/usr/bin/python3", (char *)tool("live_server.py"), port_s, NULL};
    int srv = sdiff_test_spawn(srv_argv, NULL, NULL);
    assert_int_equal(sdiff_test_wait_port(port, 10), 0);

    char *cap_argv[] = {(char *)sdiff_test_bin(), "capture", "--interface", "lo", "--port",
                        port_s, "--out", db, NULL};
    int cap = sdiff_test_spawn(cap_argv, NULL, errf);
    assert_int_equal(sdiff_test_wait_file_contains(errf, "listening on lo", 10), 0);
    if (stall)
        assert_int_equal(kill(cap, SIGSTOP), 0);

    char *cli_argv[] = {"/usr/bin/python3", (char *)tool("live_client.py"), port_s, expf,
                        rounds_s, NULL};
    int cli = sdiff_test_spawn(cli_argv, NULL, NULL);
    int cst = sdiff_test_wait(cli, 120);
    assert_true(WIFEXITED(cst) && WEXITSTATUS(cst) == 0);
    if (stall)
        assert_int_equal(kill(cap, SIGCONT), 0);
    usleep(500000); /* let the last packets reach the capture */

    int st = sdiff_test_stop(cap, SIGINT, 30);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    sdiff_test_stop(srv, SIGTERM, 5);

    struct stat sb;
    assert_int_equal(stat(db, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    size_t elen;
    char *etext = (char *)sdiff_test_read_file(errf, &elen);
    if (strstr(etext, "kernel drops 0;") == NULL)
        fail_msg("the kernel dropped packets: %s", etext);
    free(etext);
    expect_client_exchanges(db, expf, 10 * rounds);
    sdiff_test_rmdir(dir);
    free(dir);
}

static void test_capture_live__lo_records_every_client_exchange(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip();
    }
    capture_client_run(1, 0);
}

/* 500 exchanges (about 8 MB) while capture cannot read: the default ring holds them all. */
static void test_capture_live__a_stalled_capture_loses_nothing(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip();
    }
    capture_client_run(50, 1);
}

/* A live capture is not silent: on a terminal a status line is redrawn each second. */
static void test_capture_live__live_capture_shows_progress_on_a_tty(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char *dir = sdiff_test_tmpdir();
    char cmd[9000], out[4200];
    snprintf(out, sizeof out, "%s/tty.out", dir);
    snprintf(cmd, sizeof cmd,
             "TERM=xterm script -qec \"'%s' capture --interface lo --port %d --out '%s/p.db' "
             "--duration 2.5\" /dev/null > '%s' 2>&1",
             sdiff_test_bin(), sdiff_test_free_port(), dir, out);
    sdiff_test_sh(cmd, 30); /* exit 3: nothing matched */
    size_t n = 0;
    char *text = (char *)sdiff_test_read_file(out, &n);
    assert_non_null(text);
    assert_non_null(strstr(text, "\rshadowdiff: capture: 1s 0 exchanges (0.0/s), "));
    assert_non_null(strstr(text, "dropped by the kernel)"));
    free(text);
    sdiff_test_rmdir(dir);
    free(dir);
}

static void test_capture_live__missing_interface_exits_2_with_one_line(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir();
    char errf[4200];
    snprintf(errf, sizeof errf, "%s/err", dir);
    char *argv[] = {(char *)sdiff_test_bin(), "capture", "--interface", "nosuchif0", "--out",
                    "-", NULL};
    int st = sdiff_test_wait(sdiff_test_spawn(argv, NULL, errf), 10);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    size_t len;
    char *msg = (char *)sdiff_test_read_file(errf, &len);
    assert_non_null(strstr(msg, "nosuchif0"));
    assert_non_null(strchr(msg, '\n'));
    assert_null(strchr(msg, '\n') + 1 < msg + len ? strchr(strchr(msg, '\n') + 1, '\n') : NULL);
    free(msg);
    sdiff_test_rmdir(dir);
    free(dir);
}

/* Run the binary with argv; expect exit 2 and exactly one line on stderr containing needle. */
static void expect_one_line_error(char *const argv[], const char *needle)
{
    char *dir = sdiff_test_tmpdir();
    char errf[4200];
    snprintf(errf, sizeof errf, "%s/err", dir);
    int st = sdiff_test_wait(sdiff_test_spawn(argv, NULL, errf), 20);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    size_t len;
    char *msg = (char *)sdiff_test_read_file(errf, &len);
    if (strstr(msg, needle) == NULL)
        fail_msg("expected '%s' in: %s", needle, msg);
    /* the summary line may precede the error for a file that broke part way */
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += msg[i] == '\n';
    assert_true(lines >= 1 && lines <= 2);
    for (const char *l = msg; l < msg + len; l = strchr(l, '\n') + 1)
        if (strncmp(l, "shadowdiff: capture: ", 21) != 0)
            fail_msg("stderr line without the 'shadowdiff: capture: ' prefix: %s", l);
    /* with nothing read, the error is the only line */
    if (strstr(msg, "corrupt capture after") == NULL)
        assert_int_equal(lines, 1);
    free(msg);
    sdiff_test_rmdir(dir);
    free(dir);
}

static void test_capture_live__bad_files_exit_2_with_a_clear_line(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"pcap/empty.pcap", "is empty, not a pcap file"},
        {"pcap/notapcap.pcap", "is not a pcap or pcapng file"},
        {"pcap/corrupt.pcap", "corrupt capture after 1 packets"},
        {"pcap/does-not-exist.pcap", "No such file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s", sdiff_test_fixture_path(cases[i][0]));
        char *argv[] = {(char *)sdiff_test_bin(), "capture", "--pcap", path, "--out", "-", NULL};
        expect_one_line_error(argv, cases[i][1]);
    }
    char *bad_port[] = {(char *)sdiff_test_bin(), "capture", "--pcap", "x", "--port", "70000",
                        "--out", "-", NULL};
    expect_one_line_error(bad_port, "--port");
}

static void test_capture_live__without_cap_net_raw_says_which_capability(void **state)
{
    (void)state;
    /* an unprivileged user, no capabilities */
    if (!sdiff_test_nobody_can_run())
        skip();
    char *argv[] = {SDIFF_TEST_AS_NOBODY, "--inh-caps=-all", (char *)sdiff_test_bin(), "capture",
                    "--interface", "lo", "--out", "-", NULL};
    expect_one_line_error(argv, "CAP_NET_RAW");
}

/*
 * Every thread of pid holds no capability (permitted, effective, inheritable, ambient), has
 * no_new_privs set and, when bounding, an empty bounding set; and runs as uid.
 */
static void expect_no_privileges(int pid, int bounding, unsigned uid)
{
    char path[128], want_uid[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    snprintf(want_uid, sizeof want_uid, "Uid:\t%u\t%u\t%u\t%u\n", uid, uid, uid, uid);
    DIR *d = opendir(path);
    assert_non_null(d);
    int threads = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char sp[300];
        snprintf(sp, sizeof sp, "%s/%s/status", path, e->d_name);
        FILE *f = fopen(sp, "r");
        if (f == NULL)
            continue; /* the thread just ended */
        static char st[16384];
        size_t n = fread(st, 1, sizeof st - 1, f);
        fclose(f);
        st[n] = '\0';
        static const char *const want[] = {
            "CapInh:\t0000000000000000\n", "CapPrm:\t0000000000000000\n",
            "CapEff:\t0000000000000000\n", "CapAmb:\t0000000000000000\n", "NoNewPrivs:\t1\n"};
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
            if (strstr(st, want[i]) == NULL)
                fail_msg("thread %s of %d lacks '%.*s':\n%s", e->d_name, pid,
                         (int)strlen(want[i]) - 1, want[i], st);
        if (bounding && strstr(st, "CapBnd:\t0000000000000000\n") == NULL)
            fail_msg("thread %s of %d has a bounding set:\n%s", e->d_name, pid, st);
        if (strstr(st, want_uid) == NULL)
            fail_msg("thread %s of %d is not uid %u:\n%s", e->d_name, pid, uid, st);
        threads++;
    }
    closedir(d);
    assert_true(threads >= 1);
}

static unsigned nobody_uid(void)
{
    struct passwd *pw = getpwnam("nobody");
    assert_non_null(pw);
    return (unsigned)pw->pw_uid;
}

/* Run argv (a capture or mirror on lo) until it listens, check its privileges, stop it. */
static void run_and_check_privileges(char *const argv[], int bounding, const char *errf)
{
    int pid = sdiff_test_spawn(argv, NULL, errf);
    if (sdiff_test_wait_file_contains(errf, "listening", 20) != 0) {
        size_t n;
        char *t = (char *)sdiff_test_read_file(errf, &n);
        fail_msg("did not start listening: %s", t);
    }
    expect_no_privileges(pid, bounding, nobody_uid());
    int st = sdiff_test_stop(pid, SIGINT, 30);
    assert_true(WIFEXITED(st));
    /* stopped before any traffic: exit 3 says nothing was captured */
    assert_true(WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 3);
}

/* Started as root with --user nobody: nothing is left, in any thread, bounding set included. */
static void test_capture_live__root_with_user_keeps_no_privilege(void **state)
{
    (void)state;
    if (!sdiff_test_nobody_can_run())
        skip();
    char *dir = sdiff_test_tmpdir();
    char errf[4200], db[4200], port_s[16], metrics[64], cand[64];
    snprintf(errf, sizeof errf, "%s/capture.err", dir);
    snprintf(port_s, sizeof port_s, "%d", sdiff_test_free_port());
    char *cap[] = {(char *)sdiff_test_bin(), "capture", "--interface", "lo", "--port", port_s,
                   "--out", "-", "--user", "nobody", NULL};
    run_and_check_privileges(cap, 1, errf);
    /* mirror has threads of its own (metrics server, capture): every one must have dropped */
    snprintf(errf, sizeof errf, "%s/mirror.err", dir);
    snprintf(db, sizeof db, "%s/m.db", dir);
    snprintf(metrics, sizeof metrics, "127.0.0.1:%d", sdiff_test_free_port());
    snprintf(cand, sizeof cand, "http://127.0.0.1:%d", sdiff_test_free_port());
    char *mir[] = {(char *)sdiff_test_bin(), "mirror", "--interface", "lo", "--port", port_s,
                   "--candidate", cand, "--db", db, "--metrics", metrics, "--user", "nobody",
                   NULL};
    run_and_check_privileges(mir, 1, errf);
    sdiff_test_rmdir(dir);
    free(dir);
}

/*
 * The README's install: a copy of the binary with `setcap cap_net_raw+ep`, run as the service
 * user with --user naming that same user. CAP_NET_RAW must not outlive the open capture.
 */
static void test_capture_live__setcap_binary_as_its_user_keeps_no_privilege(void **state)
{
    (void)state;
    if (!sdiff_test_nobody_can_run() || access("/usr/sbin/setcap", X_OK) != 0)
        skip();
    char bindir[] = "/tmp/sdiff-setcap-XXXXXX";
    assert_non_null(mkdtemp(bindir));
    assert_int_equal(chmod(bindir, 0755), 0);
    char bin[200], cmd[9000];
    snprintf(bin, sizeof bin, "%s/shadowdiff", bindir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && chmod 0755 '%s' && /usr/sbin/setcap "
                              "cap_net_raw+ep '%s'",
             sdiff_test_bin(), bin, bin, bin);
    int ok = sdiff_test_sh(cmd, 30) == 0;
    char *dir = sdiff_test_tmpdir();
    char errf[4200], port_s[16];
    snprintf(errf, sizeof errf, "%s/capture.err", dir);
    snprintf(port_s, sizeof port_s, "%d", sdiff_test_free_port());
    if (ok) {
        char *argv[] = {SDIFF_TEST_AS_NOBODY, bin, "capture", "--interface", "lo", "--port",
                        port_s, "--out", "-", "--user", "nobody", NULL};
        run_and_check_privileges(argv, 0, errf);
    }
    unlink(bin);
    rmdir(bindir);
    sdiff_test_rmdir(dir);
    free(dir);
    if (!ok)
        skip(); /* no file capabilities on this file system */
}

int main(int argc, char **argv)
{
    const char *fx = getenv("SDIFF_FIXTURES");
    snprintf(tools, sizeof tools, "%s/../tests/tools", fx ? fx : "fixtures");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capture_live__lo_records_every_client_exchange),
        cmocka_unit_test(test_capture_live__a_stalled_capture_loses_nothing),
        cmocka_unit_test(test_capture_live__live_capture_shows_progress_on_a_tty),
        cmocka_unit_test(test_capture_live__missing_interface_exits_2_with_one_line),
        cmocka_unit_test(test_capture_live__bad_files_exit_2_with_a_clear_line),
        cmocka_unit_test(test_capture_live__without_cap_net_raw_says_which_capability),
        cmocka_unit_test(test_capture_live__root_with_user_keeps_no_privilege),
        cmocka_unit_test(test_capture_live__setcap_binary_as_its_user_keeps_no_privilege),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sdiff_test_kill_all();
    return rc;
}
