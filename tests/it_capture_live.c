/*
 * it_capture_live.c - live capture on the loopback interface: a real server, a real
 * keep-alive client, `shadowdiff capture --interface lo`, and every request the client made
 * must be in the database with the response the client received.
 */
#include "sdiff_test.h"

#include <jansson.h>
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

static void test_capture_live__lo_records_every_client_exchange(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip();
    }
    char *dir = sdiff_test_tmpdir();
    char db[4200], errf[4200], expf[4200], port_s[16];
    snprintf(db, sizeof db, "%s/live.db", dir);
    snprintf(errf, sizeof errf, "%s/capture.err", dir);
    snprintf(expf, sizeof expf, "%s/client.jsonl", dir);
    int port = sdiff_test_free_port();
    snprintf(port_s, sizeof port_s, "%d", port);

    char *srv_argv[] = {"/usr/bin/python3", (char *)tool("live_server.py"), port_s, NULL};
    int srv = sdiff_test_spawn(srv_argv, NULL, NULL);
    assert_int_equal(sdiff_test_wait_port(port, 10), 0);

    char *cap_argv[] = {(char *)sdiff_test_bin(), "capture", "--interface", "lo", "--port",
                        port_s, "--out", db, NULL};
    int cap = sdiff_test_spawn(cap_argv, NULL, errf);
    assert_int_equal(sdiff_test_wait_file_contains(errf, "listening on lo", 10), 0);

    char *cli_argv[] = {"/usr/bin/python3", (char *)tool("live_client.py"), port_s, expf, NULL};
    int cli = sdiff_test_spawn(cli_argv, NULL, NULL);
    int cst = sdiff_test_wait(cli, 30);
    assert_true(WIFEXITED(cst) && WEXITSTATUS(cst) == 0);
    usleep(500000); /* let the last packets reach the capture */

    int st = sdiff_test_stop(cap, SIGINT, 10);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    sdiff_test_stop(srv, SIGTERM, 5);

    struct stat sb;
    assert_int_equal(stat(db, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    /* Every client exchange, in order per connection, with the same response. */
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
    for (char *line = strtok(exp, "\n"); line; line = strtok(NULL, "\n"), n++) {
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
    assert_int_equal(n, 10);
    assert_int_equal(sqlite3_step(q), SQLITE_DONE); /* nothing extra */
    sqlite3_finalize(q);
    sqlite3_close(h);
    free(exp);
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

int main(int argc, char **argv)
{
    const char *fx = getenv("SDIFF_FIXTURES");
    snprintf(tools, sizeof tools, "%s/../tests/tools", fx ? fx : "fixtures");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capture_live__lo_records_every_client_exchange),
        cmocka_unit_test(test_capture_live__missing_interface_exits_2_with_one_line),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sdiff_test_kill_all();
    return rc;
}
