/*
 * it_doctor.c - `shadowdiff doctor` on loopback: every check passes with a live service,
 * traffic and a writable store; a dead candidate, a capture without privilege, a database
 * others can write and a short key each fail with their own line and exit 2.
 */
#include "sdiff_test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[4096];
static int port, srv, traffic;

static int setup(void **state)
{
    (void)state;
    char *d = sdiff_test_tmpdir();
    snprintf(dir, sizeof dir, "%s", d);
    free(d);
    port = sdiff_test_free_port();
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    char *srv_argv[] = {"/usr/bin/python3", "-m", "http.server", ps, "--bind", "127.0.0.1",
                        "--directory", dir, NULL};
    srv = sdiff_test_spawn(srv_argv, NULL, NULL);
    if (sdiff_test_wait_port(port, 20) != 0)
        return -1;
    /* steady traffic for the traffic check, bounded in count and time */
    char loop[512];
    snprintf(loop, sizeof loop,
             "for i in $(seq 600); do curl -s -o /dev/null http://127.0.0.1:%d/; sleep 0.05; done",
             port);
    char *tr_argv[] = {"/bin/sh", "-c", loop, NULL};
    traffic = sdiff_test_spawn(tr_argv, NULL, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sdiff_test_stop(traffic, SIGKILL, 5);
    sdiff_test_stop(srv, SIGTERM, 5);
    sdiff_test_rmdir(dir);
    return 0;
}

static void test_doctor__everything_ready_passes(void **state)
{
    (void)state;
    char ps[16], url[64], db[4200], key[4200];
    snprintf(ps, sizeof ps, "%d", port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    snprintf(db, sizeof db, "%s/results.db", dir);
    snprintf(key, sizeof key, "%s/key", dir);
    FILE *f = fopen(key, "w");
    fputs("0123456789abcdef0123456789abcdef", f);
    fclose(f);
    chmod(key, 0600);
    char *argv[] = {(char *)sdiff_test_bin(), "doctor", "-i", "lo", "--port", ps, "--wait", "10",
                    "--candidate", url, "-d", db, "--redact-key", key, NULL};
    struct sdiff_test_run r = sdiff_test_run(argv, dir, 60);
    if (sdiff_test_exit_code(&r) != 0)
        fail_msg("doctor: %s%s", r.out, r.err);
    assert_non_null(strstr(r.out, "ok    capture"));
    assert_non_null(strstr(r.out, "ok    traffic"));
    assert_non_null(strstr(r.out, "ok    candidate"));
    assert_non_null(strstr(r.out, "ok    store"));
    assert_non_null(strstr(r.out, "ok    redact-key"));
    assert_int_not_equal(access(db, F_OK), 0); /* the doctor creates nothing */
    sdiff_test_run_dispose(&r);
}

static void test_doctor__each_problem_has_its_line(void **state)
{
    (void)state;
    char dead[64], db[4200], key[4200];
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d", sdiff_test_free_port());
    snprintf(db, sizeof db, "%s/shared.db", dir);
    snprintf(key, sizeof key, "%s/short.key", dir);
    FILE *f = fopen(db, "w");
    fclose(f);
    chmod(db, 0666);
    f = fopen(key, "w");
    fputs("short", f);
    fclose(f);
    char *argv[] = {(char *)sdiff_test_bin(), "doctor", "--candidate", dead, "-d", db,
                    "--redact-key", key, NULL};
    struct sdiff_test_run r = sdiff_test_run(argv, dir, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    assert_non_null(strstr(r.out, "FAIL  candidate"));
    assert_non_null(strstr(r.out, "Connection refused"));
    assert_non_null(strstr(r.out, "FAIL  store"));
    assert_non_null(strstr(r.out, "writable by group or others"));
    assert_non_null(strstr(r.out, "FAIL  redact-key"));
    sdiff_test_expect_stderr_lines(&r, "doctor", 1);
    assert_non_null(strstr(r.err, "3 checks failed"));
    sdiff_test_run_dispose(&r);
}

static void test_doctor__capture_without_privilege_says_what_to_do(void **state)
{
    (void)state;
    if (!sdiff_test_nobody_can_run())
        skip();
    char *argv[] = {SDIFF_TEST_AS_NOBODY, (char *)sdiff_test_bin(), "doctor", "-i", "lo", NULL};
    struct sdiff_test_run r = sdiff_test_run(argv, dir, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    assert_non_null(strstr(r.out, "FAIL  capture"));
    assert_non_null(strstr(r.out, "CAP_NET_RAW"));
    sdiff_test_run_dispose(&r);
}

static void test_doctor__bad_arguments_are_one_line(void **state)
{
    (void)state;
    char *a1[] = {(char *)sdiff_test_bin(), "doctor", "--bogus", NULL};
    struct sdiff_test_run r = sdiff_test_run(a1, dir, 30);
    sdiff_test_expect_one_error(&r, "doctor", "unknown option --bogus");
    sdiff_test_run_dispose(&r);
    char *a2[] = {(char *)sdiff_test_bin(), "doctor", NULL};
    r = sdiff_test_run(a2, dir, 30);
    sdiff_test_expect_one_error(&r, "doctor", "nothing to check");
    sdiff_test_run_dispose(&r);
    char *a3[] = {(char *)sdiff_test_bin(), "doctor", "--port", "80", NULL};
    r = sdiff_test_run(a3, dir, 30);
    sdiff_test_expect_one_error(&r, "doctor", "--port needs --interface");
    sdiff_test_run_dispose(&r);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_doctor__everything_ready_passes),
    cmocka_unit_test(test_doctor__each_problem_has_its_line),
    cmocka_unit_test(test_doctor__capture_without_privilege_says_what_to_do),
    cmocka_unit_test(test_doctor__bad_arguments_are_one_line),
};

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
