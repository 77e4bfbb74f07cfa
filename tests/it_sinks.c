/*
 * it_sinks.c - traffic built to mislead what prints it never drives a terminal, a shell, a
 * parser or a scraper. fixtures/bad/hostile.pcap carries C1 controls (as UTF-8 and as raw
 * bytes), Latin-1, U+FFFE, pipes and curl globs in targets and headers, and a body that
 * starts with '@' and holds CR and escape sequences; tests/tools/hostile_server.py answers
 * with more of the same. Every output is checked byte by byte, the JUnit file with a real XML
 * parser, the curl line by running it with a real curl, /metrics with promtool.
 */
#include "sdiff_test.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir;
static char tools[4200], db[4200], log_path[4200], cand_url[64];
static int server_port, server_pid;

/* ---- helpers --------------------------------------------------------------------------- */

static const char *tmp(const char *name)
{
    static char path[4][4400];
    static unsigned k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

static struct sdiff_test_run run(char *const argv[])
{
    return sdiff_test_run(argv, dir, 60);
}

/*
 * Nothing a terminal acts on: no C0 control but line feed, no DEL, valid UTF-8 without C1
 * controls (U+0080..U+009F) or U+FFFE/U+FFFF.
 */
static void expect_safe(const char *what, const char *s, size_t n, int json)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = (uint8_t)s[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\n') || c == 0x7f)
                fail_msg("%s: control byte 0x%02x at %zu: %.*s", what, c, i,
                         (int)(n - i < 80 ? n - i : 80), s + i);
            i++;
            continue;
        }
        size_t len = sdiff_utf8_len(s + i, n - i);
        if (len == 0)
            fail_msg("%s: byte 0x%02x at %zu is not UTF-8", what, c, i);
        if (len == 2 && c == 0xc2 && (uint8_t)s[i + 1] <= 0x9f)
            fail_msg("%s: C1 control U+00%02X at %zu", what, (uint8_t)s[i + 1], i);
        if (!json && len == 3 && memcmp(s + i, "\xef\xbf\xbe", 3) == 0)
            fail_msg("%s: U+FFFE at %zu", what, i);
        i += len;
    }
}

static void expect_terminal_safe(const char *what, const char *s, size_t n)
{
    expect_safe(what, s, n, 0);
}

/* JSON may hold U+FFFE as it is: no reader or terminal acts on it. */
static void expect_json_safe(const char *what, const char *s, size_t n)
{
    expect_safe(what, s, n, 1);
}

static void expect_contains(const char *what, const char *s, const char *needle)
{
    if (strstr(s, needle) == NULL)
        fail_msg("%s lacks \"%s\":\n%s", what, needle, s);
}

static int count_lines_of(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, c;
    if (f == NULL)
        return 0;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static int setup(void **state)
{
    (void)state;
    dir = sdiff_test_tmpdir();
    snprintf(tools, sizeof tools, "%s/../tests/tools", sdiff_test_fixture_path(""));
    snprintf(db, sizeof db, "%s/hostile.db", dir);
    snprintf(log_path, sizeof log_path, "%s/requests.log", dir);
    server_port = sdiff_test_free_port();
    snprintf(cand_url, sizeof cand_url, "http://127.0.0.1:%d", server_port);
    char script[4400], port_s[16];
    snprintf(script, sizeof script, "%s/hostile_server.py", tools);
    snprintf(port_s, sizeof port_s, "%d", server_port);
    char *srv[] = {"/usr/bin/python3", script, port_s, log_path, "--seconds", "240", NULL};
    server_pid = sdiff_test_spawn(srv, NULL, NULL);
    if (sdiff_test_wait_port(server_port, 10) != 0)
        return -1;
    /* the corpus, then a replay of it against the hostile server: real results */
    char *cap[] = {(char *)sdiff_test_bin(), "capture", "--pcap",
                   (char *)sdiff_test_fixture_path("bad/hostile.pcap"), "--out", db, NULL};
    struct sdiff_test_run r = sdiff_test_run(cap, dir, 30);
    int ok = sdiff_test_exit_code(&r) == 0;
    sdiff_test_run_dispose(&r);
    char *rep[] = {(char *)sdiff_test_bin(), "replay", "--corpus", db, "--candidate", cand_url,
                   "--db", db, "--allow-method", "POST", NULL};
    r = sdiff_test_run(rep, dir, 60);
    ok = ok && sdiff_test_exit_code(&r) == 1;
    sdiff_test_run_dispose(&r);
    return ok ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    sdiff_test_kill_all();
    sdiff_test_rmdir(dir);
    free(dir);
    return 0;
}

/* The report rendered: whatever its verdict (pass 0, fail 1, inconclusive 3), not an error. */
static void expect_verdict_exit(const struct sdiff_test_run *r)
{
    int code = sdiff_test_exit_code(r);
    if (code != 0 && code != 1 && code != 3)
        fail_msg("report exited %d: %s", code, r->err);
}

/* ---- text formats ---------------------------------------------------------------------- */

static void test_sinks__text_report_escapes_every_control(void **state)
{
    (void)state;
    char *argv[] = {(char *)sdiff_test_bin(), "report", "--db", db, NULL};
    struct sdiff_test_run r = run(argv);
    expect_verdict_exit(&r);
    expect_terminal_safe("report", r.out, r.out_len);
    /* the exact bytes: C1 as \uXXXX, bytes that are not UTF-8 as \xHH */
    expect_contains("report", r.out,
                    "1x GET /api/\\u009b2J/t\\xe9t\\xe9/\\x9b31m/a|b\\|c/\\ufffe: ");
    expect_contains("report", r.out, "e.g. header:x-evil: (absent) -> \\u009d0;title\\u009c\\xe9\n");
    sdiff_test_run_dispose(&r);
}

static void test_sinks__markdown_pipes_never_split_a_cell(void **state)
{
    (void)state;
    char *argv[] = {(char *)sdiff_test_bin(), "report", "--db", db, "--format", "markdown", NULL};
    struct sdiff_test_run r = run(argv);
    expect_verdict_exit(&r);
    expect_terminal_safe("markdown", r.out, r.out_len);
    expect_contains("markdown", r.out, "a&#124;b\\&#124;c");
    /* every table row has the header's ten cell borders */
    for (char *save = NULL, *l = strtok_r(r.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (l[0] != '|')
            continue;
        int bars = 0;
        for (char *p = l; *p; p++)
            bars += *p == '|';
        if (bars != 10)
            fail_msg("table row with %d cell borders: %s", bars, l);
    }
    sdiff_test_run_dispose(&r);
}

static void test_sinks__json_report_keeps_every_key_and_whole_characters(void **state)
{
    (void)state;
    char *argv[] = {(char *)sdiff_test_bin(), "report", "--db", db, "--format", "json", NULL};
    struct sdiff_test_run r = run(argv);
    expect_verdict_exit(&r);
    expect_json_safe("json report", r.out, r.out_len);
    json_error_t je;
    json_t *root = json_loads(r.out, 0, &je);
    if (root == NULL)
        fail_msg("not JSON (%s): %s", je.text, r.out);
    size_t i;
    json_t *e;
    int found = 0;
    json_array_foreach(json_object_get(root, "endpoints"), i, e) {
        const char *route = json_string_value(json_object_get(e, "route"));
        if (route == NULL)
            fail_msg("endpoint %zu has no route", i);
        found += strcmp(route, "/api/\xc2\x9b" "2J/t\\xe9t\\xe9/\\x9b31m/a|b\\|c/\xef\xbf\xbe") == 0;
    }
    assert_int_equal(found, 1);
    int text = 0;
    json_array_foreach(json_object_get(root, "clusters"), i, e) {
        assert_non_null(json_string_value(json_object_get(e, "route")));
        if (strcmp(json_string_value(json_object_get(e, "route")), "/text") != 0)
            continue;
        /* 40 bytes before the difference fall inside a 3-byte character: the sample starts
         * at the character, so both values are whole UTF-8 text */
        json_t *s = json_object_get(e, "sample");
        const char *p = json_string_value(json_object_get(s, "primary"));
        const char *c = json_string_value(json_object_get(s, "candidate"));
        if (p == NULL || c == NULL)
            fail_msg("sample values lost: %s", r.out);
        assert_non_null(strstr(p, "\xe2\x82\xac" "X"));
        assert_non_null(strstr(c, "\xe2\x82\xac" "Y"));
        assert_null(strstr(p, "\\x"));
        assert_null(strstr(c, "\\x"));
        text = 1;
    }
    assert_true(text);
    json_decref(root);
    sdiff_test_run_dispose(&r);
}

static void test_sinks__junit_is_well_formed_xml(void **state)
{
    (void)state;
    const char *xml = tmp("junit.xml");
    char *argv[] = {(char *)sdiff_test_bin(), "report", "--db", db, "--format", "junit",
                    "--out", (char *)xml, NULL};
    struct sdiff_test_run r = run(argv);
    expect_verdict_exit(&r);
    sdiff_test_run_dispose(&r);
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import sys, xml.etree.ElementTree as E; "
             "t = E.parse(sys.argv[1]); sys.exit(0 if len(t.findall(\".//testcase\")) == 4 + 1 else 1)' "
             "'%s'",
             xml);
    assert_int_equal(sdiff_test_sh(cmd, 30), 0);
    size_t n;
    char *text = (char *)sdiff_test_read_file(xml, &n);
    expect_terminal_safe("junit", text, n);
    expect_contains("junit", text, "name=\"GET /api/\\u009b2J/t\\xe9t\\xe9/\\x9b31m/a|b\\|c/\\ufffe\"");
    free(text);
}

/* ---- inspect and its curl line --------------------------------------------------------- */

/*
 * Inspect the result whose target is like `like`, run its curl line with bash from this
 * test's directory (which holds secret.txt), and check that the server got exactly one
 * request: method, target and body as captured. Returns inspect's output (caller frees).
 */
static char *inspect_and_reproduce(const char *like, const char *target_hex, const char *body)
{
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT id FROM results WHERE target LIKE '%s'", like);
    long long id = sdiff_test_db_int(db, sql);
    assert_true(id > 0);
    char id_s[32];
    snprintf(id_s, sizeof id_s, "%lld", id);
    char *argv[] = {(char *)sdiff_test_bin(), "inspect", "--db", db, id_s, NULL};
    struct sdiff_test_run r = run(argv);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    const char *curl = strstr(r.out, "\n  curl ");
    assert_non_null(curl);

    FILE *f = fopen(tmp("secret.txt"), "w");
    assert_non_null(f);
    fputs("TOPSECRET\n", f);
    fclose(f);
    f = fopen(tmp("repro.sh"), "w");
    assert_non_null(f);
    fwrite(curl + 3, 1, strlen(curl + 3), f);
    fclose(f);
    int before = count_lines_of(log_path);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cd '%s' && /bin/bash repro.sh > curl.out 2>&1", dir);
    assert_int_equal(sdiff_test_sh(cmd, 30), 0);
    assert_int_equal(count_lines_of(log_path), before + 1); /* one request: no glob */
    size_t n;
    char *log = (char *)sdiff_test_read_file(log_path, &n);
    char *last = log + n - 1;
    while (last > log && last[-1] != '\n')
        last--;
    json_t *req = json_loads(last, 0, NULL);
    assert_non_null(req);
    char hex[400] = "";
    for (size_t i = 0; body[i] && i < 190; i++)
        snprintf(hex + 2 * i, 3, "%02x", (uint8_t)body[i]);
    /* the body as captured, not the contents of a file it names */
    assert_string_equal(json_string_value(json_object_get(req, "body_hex")), hex);
    assert_string_equal(json_string_value(json_object_get(req, "target_hex")), target_hex);
    assert_string_equal(json_string_value(json_object_get(req, "method")), "POST");
    json_decref(req);
    free(log);
    expect_terminal_safe("inspect", r.out, r.out_len);
    char *out = r.out;
    r.out = NULL;
    sdiff_test_run_dispose(&r);
    return out;
}

static void test_sinks__curl_line_neither_reads_a_file_nor_globs(void **state)
{
    (void)state;
    /* "/api/upload/[1-3]/{a,b}" */
    char *out = inspect_and_reproduce("%[1-3]%", "2f6170692f75706c6f61642f5b312d335d2f7b612c627d",
                                      "@secret.txt");
    expect_contains("curl line", out, " --data-raw '@secret.txt' ");
    expect_contains("curl line", out, " --globoff ");
    free(out);
}

static void test_sinks__inspect_escapes_and_its_curl_line_sends_the_exact_bytes(void **state)
{
    (void)state;
    char *out = inspect_and_reproduce("/api/notes", "2f6170692f6e6f746573",
                                      "@secret.txt\r\x1b[2K\xc2\x9b" "31mhidden\n\x7f");
    expect_contains("inspect", out, "  HTTP/1.1 200 O\\u009bK\n");
    expect_contains("inspect", out, "  X-Evil: \\u009d0;title\\u009c");
    expect_contains("curl line", out,
                    " --data-raw $'@secret.txt\\x0d\\x1b[2K\\xc2\\x9b31mhidden\\x0a\\x7f' ");
    free(out);
}

/* ---- diff, capture, errors ------------------------------------------------------------- */

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void test_sinks__diff_text_and_json_escape_controls(void **state)
{
    (void)state;
    static const char *const bodies[2] = {
        "{\"k\":\"plain\"}", "{\"k\":\"\xc2\x9b" "2J\\u001b\x7f\xc2\x9d" "0;x\"}"};
    for (int i = 0; i < 2; i++) {
        char msg[400];
        int n = snprintf(msg, sizeof msg,
                         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\n\r\n%s",
                         strlen(bodies[i]), bodies[i]);
        write_file(tmp(i ? "b.http" : "a.http"), msg, (size_t)n);
    }
    char *argv[] = {(char *)sdiff_test_bin(), "diff", (char *)tmp("a.http"),
                    (char *)tmp("b.http"), NULL};
    struct sdiff_test_run r = run(argv);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    expect_terminal_safe("diff", r.out, r.out_len);
    expect_contains("diff", r.out, "\"plain\" -> \"\\u009b2J\\u001b\\x7f\\u009d0;x\"");
    sdiff_test_run_dispose(&r);
    char *argj[] = {(char *)sdiff_test_bin(), "diff", (char *)tmp("a.http"),
                    (char *)tmp("b.http"), "--format", "json", NULL};
    r = run(argj);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    expect_json_safe("diff json", r.out, r.out_len);
    json_t *o = json_loads(r.out, 0, NULL);
    assert_non_null(o);
    json_decref(o);
    sdiff_test_run_dispose(&r);
}

static void test_sinks__capture_json_lines_escape_c1_controls(void **state)
{
    (void)state;
    char *argv[] = {(char *)sdiff_test_bin(), "capture", "--pcap",
                    (char *)sdiff_test_fixture_path("bad/hostile.pcap"), "--out", "-", NULL};
    struct sdiff_test_run r = run(argv);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    expect_json_safe("json lines", r.out, r.out_len);
    expect_contains("json lines", r.out,
                    "\"target\":\"/api/\\u009b2J/t\\u00e9t\\u00e9/\\u009b31m/a|b\\\\|c/\xef\xbf\xbe?x=1\"");
    expect_contains("json lines", r.out, "[\"X-Note\",\"\\u009d52;c;Y3VybCB4IHwgc2g=\\u009c ");
    for (char *save = NULL, *l = strtok_r(r.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(l, 0, NULL);
        if (o == NULL)
            fail_msg("not a JSON line: %s", l);
        json_decref(o);
    }
    sdiff_test_run_dispose(&r);
}

static void test_sinks__error_lines_escape_what_they_quote(void **state)
{
    (void)state;
    char *argv[] = {(char *)sdiff_test_bin(), "inspect", "--db",
                    "/nonexistent/\x1b]0;pwned\x07\xc2\x9b" "2J\r.db", "1", NULL};
    struct sdiff_test_run r = run(argv);
    sdiff_test_expect_one_error(&r, "inspect", "\\x1b]0;pwned\\x07\\u009b2J\\r.db");
    expect_terminal_safe("stderr", r.err, r.err_len);
    sdiff_test_run_dispose(&r);
}

/* ---- /metrics ---------------------------------------------------------------------------- */

static void test_sinks__metrics_stay_valid_after_hostile_paths(void **state)
{
    (void)state;
    if (geteuid() != 0 || access("/usr/bin/promtool", X_OK) != 0)
        skip();
    /* the primary (watched on lo) and the candidate: two hostile servers */
    int primary = sdiff_test_free_port(), mport = sdiff_test_free_port();
    char script[4400], port_s[16], plog[4400], metrics[64], mdb[4400], errf[4400];
    snprintf(script, sizeof script, "%s/hostile_server.py", tools);
    snprintf(port_s, sizeof port_s, "%d", primary);
    snprintf(plog, sizeof plog, "%s/primary.log", dir);
    char *srv[] = {"/usr/bin/python3", script, port_s, plog, "--seconds", "60", NULL};
    sdiff_test_spawn(srv, NULL, NULL);
    assert_int_equal(sdiff_test_wait_port(primary, 10), 0);
    snprintf(metrics, sizeof metrics, "127.0.0.1:%d", mport);
    snprintf(mdb, sizeof mdb, "%s/mirror.db", dir);
    snprintf(errf, sizeof errf, "%s/mirror.err", dir);
    char *argv[] = {(char *)sdiff_test_bin(), "mirror", "--interface", "lo", "--port", port_s,
                    "--candidate", cand_url, "--db", mdb, "--metrics", metrics, NULL};
    int pid = sdiff_test_spawn(argv, NULL, errf);
    assert_int_equal(sdiff_test_wait_file_contains(errf, "listening", 10), 0);
    /* Latin-1 bytes, quotes, backslashes, braces, C1 controls in paths */
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import socket\n"
             "paths = [b\"/caf\\xe9/menu\", b\"/a\\\"b\\\\\\\\c/{x}=1,y\", b\"/\\xc2\\x9b2J/\\x9b\","
             " b\"/\\xef\\xbf\\xbe/\\xff\\xfe\", b\"/ok\"]\n"
             "for p in paths:\n"
             "    s = socket.create_connection((\"127.0.0.1\", %d))\n"
             "    s.sendall(b\"GET \" + p + b\" HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n\")\n"
             "    s.shutdown(socket.SHUT_WR)\n"
             "    while s.recv(65536): pass\n"
             "    s.close()\n'",
             primary);
    assert_int_equal(sdiff_test_sh(cmd, 30), 0);
    usleep(2500000); /* replays finish; the metrics text is refreshed each second */
    snprintf(cmd, sizeof cmd, "curl -sf http://%s/metrics > '%s/metrics.txt'", metrics, dir);
    assert_int_equal(sdiff_test_sh(cmd, 10), 0);
    int st = sdiff_test_stop(pid, SIGINT, 20);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    size_t n;
    snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < '%s/metrics.txt' > '%s/promtool.out' 2>&1",
             dir, dir);
    if (sdiff_test_sh(cmd, 30) != 0) {
        char *why = (char *)sdiff_test_read_file(tmp("promtool.out"), &n);
        fail_msg("promtool check metrics: %s", why);
    }
    char *text = (char *)sdiff_test_read_file(tmp("metrics.txt"), &n);
    expect_contains("metrics", text, "route=\"GET /caf\\\\xe9/menu\"");
    free(text);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sinks__text_report_escapes_every_control),
        cmocka_unit_test(test_sinks__markdown_pipes_never_split_a_cell),
        cmocka_unit_test(test_sinks__json_report_keeps_every_key_and_whole_characters),
        cmocka_unit_test(test_sinks__junit_is_well_formed_xml),
        cmocka_unit_test(test_sinks__curl_line_neither_reads_a_file_nor_globs),
        cmocka_unit_test(test_sinks__inspect_escapes_and_its_curl_line_sends_the_exact_bytes),
        cmocka_unit_test(test_sinks__diff_text_and_json_escape_controls),
        cmocka_unit_test(test_sinks__capture_json_lines_escape_c1_controls),
        cmocka_unit_test(test_sinks__error_lines_escape_what_they_quote),
        cmocka_unit_test(test_sinks__metrics_stay_valid_after_hostile_paths),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
