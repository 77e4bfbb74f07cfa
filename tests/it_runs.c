/*
 * it_runs.c - named runs across processes: `replay --run NAME` and `mirror --pcap --run NAME`
 * from separate processes into one SQLite file join one run, each as an instance; labels are
 * merged and shown (escaped) by every report format; `report --run NAME` aggregates every
 * instance exactly (counts are sums, percentiles are over the union of latencies, checked
 * here against the database's own rows); a bad name or label is one line and exit 2.
 */
#include "sdiff_test.h"

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tools[4096];
static char *dir;

static const char *tmp(const char *name)
{
    static char path[8][4200];
    static unsigned k;
    k = (k + 1) % 8;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

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

static void make_corpus(const char *pcap_rel, const char *db)
{
    char path[4200];
    snprintf(path, sizeof path, "%s", sdiff_test_fixture_path(pcap_rel));
    char *argv[] = {(char *)sdiff_test_bin(), "capture", "--pcap", path, "--out", (char *)db,
                    NULL};
    struct sdiff_test_run r = run(argv, 60);
    if (sdiff_test_exit_code(&r) != 0)
        fail_msg("capture %s: %s", pcap_rel, r.err);
    sdiff_test_run_dispose(&r);
}

/* A candidate answering 200 JSON to every request, a byte every ms_per_byte ms. */
static int start_candidate(const char *ms_per_byte, char *url, size_t n)
{
    int port = sdiff_test_free_port();
    snprintf(url, n, "http://127.0.0.1:%d", port);
    char port_s[16], script[4200];
    snprintf(port_s, sizeof port_s, "%d", port);
    snprintf(script, sizeof script, "%s/bad_candidate.py", tools);
    char *argv[] = {"/usr/bin/python3", script, "slow", port_s, (char *)ms_per_byte, NULL};
    int pid = sdiff_test_spawn(argv, NULL, NULL);
    assert_int_equal(sdiff_test_wait_port(port, 10), 0);
    return pid;
}

static int setup(void **state)
{
    (void)state;
    dir = sdiff_test_tmpdir();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sdiff_test_kill_all();
    sdiff_test_rmdir(dir);
    free(dir);
    dir = NULL;
    return 0;
}

/* ---- helpers on the database's own rows ------------------------------------------------ */

/* Nearest rank, as the report defines its percentiles, over the candidate latencies of
 * route in run: computed here from the rows, independently of the report. -1: none. */
static double rows_p(const char *db, long long run_id, const char *route, double p)
{
    sqlite3 *h;
    sqlite3_stmt *q;
    double *v = NULL;
    size_t n = 0, cap = 0;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT candidate_ms FROM results WHERE run_id = ?1 AND"
                                        " route = ?2 AND candidate_ms IS NOT NULL AND"
                                        " candidate_ms >= 0 ORDER BY candidate_ms",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(q, 1, run_id);
    sqlite3_bind_text(q, 2, route, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            v = realloc(v, cap * sizeof *v);
            assert_non_null(v);
        }
        v[n++] = sqlite3_column_double(q, 0);
    }
    sqlite3_finalize(q);
    sqlite3_close(h);
    double out = -1;
    if (n) {
        double rank = ceil(p / 100.0 * (double)n);
        size_t i = rank < 1 ? 0 : (size_t)rank - 1;
        out = v[i < n ? i : n - 1];
    }
    free(v);
    return out;
}

static long long route_count(const char *db, long long run_id, const char *route,
                             const char *instance)
{
    char q[1024];
    char *r = sqlite3_mprintf("%Q", route), *i = sqlite3_mprintf("%Q", instance ? instance : "");
    snprintf(q, sizeof q,
             "SELECT count(*) FROM results WHERE run_id = %lld AND route = %s AND (%s = '' OR"
             " instance_id = %s)",
             run_id, r, i, i);
    sqlite3_free(r);
    sqlite3_free(i);
    return sdiff_test_db_int(db, q);
}

/* The instance ids of run_id, in order of start. */
static size_t instances(const char *db, long long run_id, char ids[][33], size_t max)
{
    sqlite3 *h;
    sqlite3_stmt *q;
    size_t n = 0;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT id FROM instances WHERE run_id = ? ORDER BY"
                                        " started_at, rowid",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(q, 1, run_id);
    while (n < max && sqlite3_step(q) == SQLITE_ROW)
        snprintf(ids[n++], 33, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(h);
    return n;
}

/* ---- tests ------------------------------------------------------------------------------ */

/* Two replays and a mirror --pcap, three processes, one --run name: one run, three instances;
 * the report of the name counts the sum and takes percentiles over the union. */
static void test_runs__processes_naming_one_run_join_it_and_report_aggregates_exactly(
    void **state)
{
    (void)state;
    char url[64], pcap[4200];
    make_corpus("pcap/real_flask_lo.pcap", tmp("flask.db"));
    int cand = start_candidate("1", url, sizeof url);
    const char *db = tmp("results.db");

    char *r1[] = {(char *)sdiff_test_bin(), "replay", "--corpus", (char *)tmp("flask.db"),
                  "--candidate", url, "--db", (char *)db, "--run", "canary-1.4",
                  "--label", "version=1.4.2", "--label", "team=web", NULL};
    struct sdiff_test_run r = run(r1, 120);
    if (sdiff_test_exit_code(&r) == 2)
        fail_msg("replay 1: %s", r.err);
    assert_null(strstr(r.err, "appending to run"));
    sdiff_test_run_dispose(&r);

    /* the second process joins the finished run and says so */
    char *r2[] = {(char *)sdiff_test_bin(), "replay", "--corpus", (char *)tmp("flask.db"),
                  "--candidate", url, "--db", (char *)db, "--run", "canary-1.4",
                  "--label", "commit=abc123", NULL};
    r = run(r2, 120);
    if (sdiff_test_exit_code(&r) == 2)
        fail_msg("replay 2: %s", r.err);
    if (strstr(r.err, "shadowdiff: replay: appending to run canary-1.4, last active 20") == NULL)
        fail_msg("replay 2 did not say it appends: %s", r.err);
    sdiff_test_run_dispose(&r);

    snprintf(pcap, sizeof pcap, "%s", sdiff_test_fixture_path("pcap/basic_keepalive.pcap"));
    char *m[] = {(char *)sdiff_test_bin(), "mirror", "--pcap", pcap, "--port", "8080",
                 "--candidate", url, "--db", (char *)db, "--run", "canary-1.4", NULL};
    r = run(m, 120);
    if (sdiff_test_exit_code(&r) != 0)
        fail_msg("mirror: exit %d: %s", sdiff_test_exit_code(&r), r.err);
    assert_non_null(strstr(r.err, "shadowdiff: mirror: appending to run canary-1.4"));
    sdiff_test_run_dispose(&r);

    /* one run, three instances, the labels of all of them */
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM runs"), 1);
    long long id = sdiff_test_db_int(db, "SELECT id FROM runs WHERE name = 'canary-1.4'");
    assert_true(id > 0);
    char ids[4][33];
    assert_int_equal(instances(db, id, ids, 4), 3);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM runs WHERE"
                                           " labels ->> 'commit' = 'abc123' AND"
                                           " labels ->> 'team' = 'web' AND"
                                           " labels ->> 'version' = '1.4.2'"),
                     1);
    long long total = sdiff_test_db_int(db, "SELECT count(*) FROM results");
    assert_int_equal(total, 24 + 24 + 3);

    /* by name and by id: the same report */
    char *rep[] = {(char *)sdiff_test_bin(), "report", "--db", (char *)db, "--run", "canary-1.4",
                   "--format", "json", NULL};
    r = run(rep, 60);
    if (sdiff_test_exit_code(&r) == 2)
        fail_msg("report: %s", r.err);
    char id_s[32];
    snprintf(id_s, sizeof id_s, "%lld", id);
    char *rep_id[] = {(char *)sdiff_test_bin(), "report", "--db", (char *)db, "--run", id_s,
                      "--format", "json", NULL};
    struct sdiff_test_run r_id = run(rep_id, 60);
    assert_int_equal(sdiff_test_exit_code(&r_id), sdiff_test_exit_code(&r));
    assert_string_equal(r_id.out, r.out);
    sdiff_test_run_dispose(&r_id);

    json_error_t je;
    json_t *doc = json_loads(r.out, 0, &je);
    if (doc == NULL)
        fail_msg("report JSON: %s", je.text);
    json_t *jrun = json_object_get(doc, "run");
    assert_string_equal(json_string_value(json_object_get(jrun, "name")), "canary-1.4");
    json_t *labels = json_object_get(jrun, "labels");
    assert_string_equal(json_string_value(json_object_get(labels, "version")), "1.4.2");
    assert_string_equal(json_string_value(json_object_get(labels, "commit")), "abc123");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "totals"),
                                                        "samples")),
                     total);

    size_t i, checked = 0, with_p99 = 0;
    json_t *ep;
    json_array_foreach(json_object_get(doc, "endpoints"), i, ep) {
        char key[512];
        snprintf(key, sizeof key, "%s %s", json_string_value(json_object_get(ep, "method")),
                 json_string_value(json_object_get(ep, "route")));
        long long all = route_count(db, id, key, NULL);
        if (all == 0)
            continue; /* a merged endpoint: several stored routes */
        long long sum = 0;
        for (size_t k = 0; k < 3; k++)
            sum += route_count(db, id, key, ids[k]);
        assert_int_equal(sum, all);
        assert_int_equal(json_integer_value(json_object_get(ep, "samples")), sum);
        json_t *cl = json_object_get(json_object_get(ep, "latency"), "candidate");
        double want = rows_p(db, id, key, 99);
        json_t *p99 = json_object_get(cl, "p99");
        if (want < 0) {
            assert_true(json_is_null(p99) || json_number_value(p99) < 0);
        } else {
            /* the JSON carries milliseconds rounded to a microsecond */
            if (fabs(json_number_value(p99) - want) > 1e-3)
                fail_msg("%s: report p99 %.6f, rows p99 %.6f", key, json_number_value(p99),
                         want);
            with_p99++;
        }
        checked++;
    }
    printf("# %zu endpoints checked against the rows, %zu with a candidate p99\n", checked,
           with_p99);
    assert_true(checked >= 5);
    assert_true(with_p99 >= 3);
    json_decref(doc);
    sdiff_test_run_dispose(&r);

    /* --by instance: one row per process, each with its own counts from the rows */
    char *by[] = {(char *)sdiff_test_bin(), "report", "--db", (char *)db, "--run", "canary-1.4",
                  "--by", "instance", "--format", "json", NULL};
    r = run(by, 60);
    doc = json_loads(r.out, 0, &je);
    if (doc == NULL)
        fail_msg("report --by instance: %s %s", je.text, r.err);
    json_t *ins = json_object_get(doc, "instances");
    assert_int_equal(json_array_size(ins), 3);
    long long sum = 0;
    for (size_t k = 0; k < 3; k++) {
        json_t *o = json_array_get(ins, k);
        assert_string_equal(json_string_value(json_object_get(o, "id")), ids[k]);
        char q[256];
        snprintf(q, sizeof q, "SELECT count(*) FROM results WHERE instance_id = '%s'", ids[k]);
        long long n = sdiff_test_db_int(db, q);
        assert_int_equal(json_integer_value(json_object_get(o, "samples")), n);
        snprintf(q, sizeof q, "SELECT pid FROM instances WHERE id = '%s'", ids[k]);
        assert_int_equal(json_integer_value(json_object_get(o, "pid")), sdiff_test_db_int(db, q));
        sum += n;
    }
    assert_int_equal(sum, total);
    json_decref(doc);
    sdiff_test_run_dispose(&r);
    char *by_text[] = {(char *)sdiff_test_bin(), "report", "--db", (char *)db, "--run",
                       "canary-1.4", "--by", "instance", NULL};
    r = run(by_text, 60);
    assert_non_null(strstr(r.out, "instances (3)"));
    char short_id[9];
    snprintf(short_id, sizeof short_id, "%.8s", ids[2]);
    assert_non_null(strstr(r.out, short_id));
    sdiff_test_run_dispose(&r);

    /* runs: the one run, its instances and counts, as text and as JSON */
    char *runs_json[] = {(char *)sdiff_test_bin(), "runs", "-d", (char *)db, "-f", "json", NULL};
    r = run(runs_json, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    doc = json_loads(r.out, 0, &je);
    if (doc == NULL)
        fail_msg("runs --format json: %s", je.text);
    assert_int_equal(json_integer_value(json_object_get(doc, "schema_version")), 1);
    json_t *runs = json_object_get(doc, "runs");
    assert_int_equal(json_array_size(runs), 1);
    json_t *one = json_array_get(runs, 0);
    assert_int_equal(json_integer_value(json_object_get(one, "id")), id);
    assert_string_equal(json_string_value(json_object_get(one, "name")), "canary-1.4");
    assert_string_equal(json_string_value(json_object_get(one, "state")), "finished");
    assert_int_equal(json_integer_value(json_object_get(one, "instances")), 3);
    assert_string_equal(json_string_value(json_object_get(json_object_get(one, "labels"),
                                                          "team")),
                        "web");
    json_t *cnt = json_object_get(one, "counts");
    assert_int_equal(json_integer_value(json_object_get(cnt, "judged")),
                     sdiff_test_db_int(db, "SELECT count(*) FROM results WHERE class IN"
                                           " ('identical','equivalent','different')"));
    assert_int_equal(json_integer_value(json_object_get(cnt, "errors")),
                     sdiff_test_db_int(db, "SELECT count(*) FROM results WHERE class = 'error'"));
    assert_int_equal(json_integer_value(json_object_get(cnt, "skipped")),
                     sdiff_test_db_int(db, "SELECT count(*) FROM results WHERE class = 'skipped'"));
    json_decref(doc);
    sdiff_test_run_dispose(&r);
    char *runs_text[] = {(char *)sdiff_test_bin(), "runs", "--db", (char *)db, NULL};
    r = run(runs_text, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    assert_int_equal(sdiff_test_count_lines(r.out, r.out_len), 2);
    assert_non_null(strstr(r.out, "canary-1.4"));
    assert_non_null(strstr(r.out, "commit=abc123, team=web, version=1.4.2"));
    sdiff_test_run_dispose(&r);
    sdiff_test_stop(cand, SIGKILL, 5);
}

/* runs reads a version-2 file as it is (no instances, derived states) and changes nothing;
 * bad arguments are one line and exit 2. */
static void test_runs__runs_lists_a_version_2_file_and_refuses_bad_arguments(void **state)
{
    (void)state;
    char v2[4200];
    snprintf(v2, sizeof v2, "%s", sdiff_test_fixture_path("db/results_v2.db"));
    const char *db = tmp("v2.db");
    size_t len;
    uint8_t *bytes = sdiff_test_read_file(v2, &len);
    FILE *f = fopen(db, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    char *argv[] = {(char *)sdiff_test_bin(), "runs", "--db", (char *)db, "--format", "json",
                    "--out", "-", NULL};
    struct sdiff_test_run r = run(argv, 60);
    if (sdiff_test_exit_code(&r) != 0)
        fail_msg("runs on a v2 file: %s", r.err);
    json_t *doc = json_loads(r.out, 0, NULL);
    assert_non_null(doc);
    json_t *runs = json_object_get(doc, "runs");
    assert_int_equal(json_array_size(runs), 2);
    json_t *r1 = json_array_get(runs, 0), *r2 = json_array_get(runs, 1);
    assert_int_equal(json_integer_value(json_object_get(r1, "instances")), 0);
    assert_true(json_is_null(json_object_get(r1, "name")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r1, "counts"), "judged")),
                     20);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r1, "counts"),
                                                        "different")),
                     5);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r2, "counts"), "errors")),
                     20);
    json_decref(doc);
    sdiff_test_run_dispose(&r);
    /* read-only: still version 2, byte for byte */
    size_t len2;
    uint8_t *after = sdiff_test_read_file(db, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(after, bytes, len);
    free(after);
    free(bytes);

    char *bad_fmt[] = {(char *)sdiff_test_bin(), "runs", "--db", (char *)db, "-f", "xml", NULL};
    r = run(bad_fmt, 30);
    sdiff_test_expect_one_error(&r, "runs", "--format");
    sdiff_test_run_dispose(&r);
    char *missing[] = {(char *)sdiff_test_bin(), "runs", "--db", (char *)tmp("nope.db"), NULL};
    r = run(missing, 30);
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    assert_int_equal(sdiff_test_count_lines(r.err, r.err_len), 1);
    sdiff_test_run_dispose(&r);
    assert_int_equal(access(tmp("nope.db"), F_OK), -1);
    char *no_db[] = {(char *)sdiff_test_bin(), "runs", NULL};
    r = run(no_db, 30);
    sdiff_test_expect_one_error(&r, "runs", "--db FILE is required");
    sdiff_test_run_dispose(&r);
}

/* Labels from the database reach no terminal, page or JSON reader unescaped. */
static void test_runs__name_and_labels_are_shown_escaped_in_every_format(void **state)
{
    (void)state;
    char url[64];
    make_corpus("pcap/basic_keepalive.pcap", tmp("corpus.db"));
    int cand = start_candidate("0", url, sizeof url);
    const char *db = tmp("results.db");
    char *r1[] = {(char *)sdiff_test_bin(), "replay", "--corpus", (char *)tmp("corpus.db"),
                  "--candidate", url, "--db", (char *)db, "--run", "nightly",
                  "--label", "ver=<b>1</b>", NULL};
    struct sdiff_test_run r = run(r1, 60);
    assert_int_not_equal(sdiff_test_exit_code(&r), 2);
    sdiff_test_run_dispose(&r);
    /* a hostile value written straight into the file: ESC, a C1 control, a newline */
    sql(db, "UPDATE runs SET labels = json_set(labels, '$.evil', char(27) || '[31mred' ||"
            " char(10) || char(155) || 'x')");

    char *text[] = {(char *)sdiff_test_bin(), "report", "--db", (char *)db, "--run", "nightly",
                    NULL};
    r = run(text, 60);
    assert_non_null(strstr(r.out, "name nightly"));
    assert_non_null(strstr(r.out, "labels evil=\\x1b[31mred\\n\\u009bx, ver=<b>1</b>"));
    assert_null(strchr(r.out, 27));
    sdiff_test_run_dispose(&r);

    char *md[] = {(char *)sdiff_test_bin(), "report", "--db", (char *)db, "--run", "nightly",
                  "--format", "markdown", NULL};
    r = run(md, 60);
    assert_non_null(strstr(r.out, ", name `nightly`, labels `evil=\\x1b[31mred"));
    assert_null(strchr(r.out, 27));
    sdiff_test_run_dispose(&r);

    char *html[] = {(char *)sdiff_test_bin(), "report", "--db", (char *)db, "--run", "nightly",
                    "--format", "html", NULL};
    r = run(html, 60);
    assert_non_null(strstr(r.out, "<span>name <b>nightly</b></span>"));
    assert_non_null(strstr(r.out, "ver=&lt;b&gt;1&lt;/b&gt;"));
    assert_null(strstr(r.out, "ver=<b>"));
    assert_null(strchr(r.out, 27));
    sdiff_test_run_dispose(&r);

    char *js[] = {(char *)sdiff_test_bin(), "report", "--db", (char *)db, "--run", "nightly",
                  "--format", "json", NULL};
    r = run(js, 60);
    assert_null(strchr(r.out, 27));
    json_t *doc = json_loads(r.out, 0, NULL);
    assert_non_null(doc);
    json_t *labels = json_object_get(json_object_get(doc, "run"), "labels");
    assert_string_equal(json_string_value(json_object_get(labels, "evil")),
                        "\x1b[31mred\n\xc2\x9bx");
    assert_string_equal(json_string_value(json_object_get(labels, "ver")), "<b>1</b>");
    char cluster[16];
    snprintf(cluster, sizeof cluster, "%s",
             json_string_value(json_object_get(
                 json_array_get(json_object_get(doc, "clusters"), 0), "id")));
    json_decref(doc);
    sdiff_test_run_dispose(&r);

    char *runs_text[] = {(char *)sdiff_test_bin(), "runs", "--db", (char *)db, NULL};
    r = run(runs_text, 60);
    assert_non_null(strstr(r.out, "evil=\\x1b[31mred\\n\\u009bx, ver=<b>1</b>"));
    assert_null(strchr(r.out, 27));
    sdiff_test_run_dispose(&r);
    char *runs_json[] = {(char *)sdiff_test_bin(), "runs", "--db", (char *)db, "-f", "json", NULL};
    r = run(runs_json, 60);
    assert_null(strchr(r.out, 27));
    assert_null(strstr(r.out, "\xc2\x9b"));
    sdiff_test_run_dispose(&r);

    /* accept selects the run the same way */
    char *acc[] = {(char *)sdiff_test_bin(), "accept", "--db", (char *)db, "--run", "nightly",
                   cluster, "--reason", "known", NULL};
    r = run(acc, 60);
    if (sdiff_test_exit_code(&r) != 0)
        fail_msg("accept --run nightly %s: %s", cluster, r.err);
    sdiff_test_run_dispose(&r);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM waivers WHERE run_id ="
                                           " (SELECT id FROM runs WHERE name = 'nightly')"),
                     1);
    char *acc2[] = {(char *)sdiff_test_bin(), "accept", "--db", (char *)db, "--run", "other",
                    cluster, "--reason", "known", NULL};
    r = run(acc2, 60);
    sdiff_test_expect_one_error(&r, "accept", "no run other in");
    sdiff_test_run_dispose(&r);
    sdiff_test_stop(cand, SIGKILL, 5);
}

/* One line and exit 2 for a bad name, label or selector; nothing is written. */
static void test_runs__bad_names_labels_and_selectors_are_one_line_exit_2(void **state)
{
    (void)state;
    make_corpus("pcap/basic_keepalive.pcap", tmp("corpus.db"));
    static const char *bad_names[] = {"x y", "12345", "", "a/b",
                                      "a1234567890123456789012345678901234567890123456789012345678901234"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        char *argv[] = {(char *)sdiff_test_bin(), "replay", "--corpus", (char *)tmp("corpus.db"),
                        "--candidate", "http://127.0.0.1:9", "--db", (char *)tmp("r.db"),
                        "--run", (char *)bad_names[i], NULL};
        struct sdiff_test_run r = run(argv, 30);
        sdiff_test_expect_one_error(&r, "replay", "is not a run name");
        sdiff_test_run_dispose(&r);
    }
    char *gate[] = {(char *)sdiff_test_bin(), "gate", "--corpus", (char *)tmp("corpus.db"),
                    "--candidate", "http://127.0.0.1:9", "--primary", "http://127.0.0.1:9",
                    "--run", "a b", NULL};
    struct sdiff_test_run r = run(gate, 30);
    sdiff_test_expect_one_error(&r, "gate", "--run: 'a b' is not a run name");
    sdiff_test_run_dispose(&r);

    static const char *bad_labels[] = {"novalue", "=v", "k y=v", "k=a\tb"};
    for (size_t i = 0; i < sizeof bad_labels / sizeof bad_labels[0]; i++) {
        char *argv[] = {(char *)sdiff_test_bin(), "mirror", "--pcap", "x.pcap", "--port", "80",
                        "--candidate", "http://127.0.0.1:9", "--db", (char *)tmp("r.db"),
                        "--label", (char *)bad_labels[i], NULL};
        r = run(argv, 30);
        sdiff_test_expect_one_error(&r, "mirror", "--label");
        sdiff_test_run_dispose(&r);
    }
    assert_int_equal(access(tmp("r.db"), F_OK), -1);

    /* selectors: a name that is not there, one that cannot be a name */
    char *rep[] = {(char *)sdiff_test_bin(), "report", "--db", (char *)tmp("corpus.db"), "--run",
                   "nosuch", NULL};
    r = run(rep, 30);
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    assert_int_equal(sdiff_test_count_lines(r.err, r.err_len), 1);
    sdiff_test_run_dispose(&r);
    char *rep2[] = {(char *)sdiff_test_bin(), "report", "--db", (char *)tmp("corpus.db"), "--run",
                    "x y\x1b", NULL};
    r = run(rep2, 30);
    sdiff_test_expect_one_error(&r, "report", "--run: 'x y\\x1b' is not a run id or name");
    sdiff_test_run_dispose(&r);
}

static long long db_count(const char *db, const char *q)
{
    return sdiff_test_db_int(db, q);
}

/*
 * prune keeps the newest runs and every running one, removes the rest whole (results,
 * answers, differences, instances), says what it did, and --dry-run removes nothing.
 */
static void test_runs__prune_removes_old_runs_whole_and_never_a_running_one(void **state)
{
    (void)state;
    char url[64];
    make_corpus("pcap/basic_keepalive.pcap", tmp("corpus.db"));
    start_candidate("0", url, sizeof url);
    const char *db = tmp("prune.db");
    for (int i = 0; i < 4; i++) {
        char *rp[] = {(char *)sdiff_test_bin(), "replay", "--corpus", (char *)tmp("corpus.db"),
                      "--candidate", url, "--db", (char *)db, NULL};
        struct sdiff_test_run r = run(rp, 60);
        assert_int_not_equal(sdiff_test_exit_code(&r), 2);
        sdiff_test_run_dispose(&r);
    }
    long long per_run = db_count(db, "SELECT count(*) FROM results WHERE run_id = 2");
    assert_true(per_run > 0);
    /* run 1 is still being written by some instance */
    sql(db, "UPDATE runs SET state = 'running', last_activity = '2000-01-01T00:00:00.000Z'"
            " WHERE id = 1");

    char *dry[] = {(char *)sdiff_test_bin(), "prune", "--db", (char *)db, "--keep", "1",
                   "--dry-run", NULL};
    struct sdiff_test_run r = run(dry, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    char want[200];
    snprintf(want, sizeof want, "would remove 2 runs (%lld results); 1 still running, kept\n",
             2 * per_run);
    assert_string_equal(r.out, want);
    sdiff_test_run_dispose(&r);
    assert_int_equal(db_count(db, "SELECT count(*) FROM runs"), 4);

    char *keep[] = {(char *)sdiff_test_bin(), "prune", "--db", (char *)db, "--keep", "1", NULL};
    r = run(keep, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    assert_non_null(strstr(r.out, "removed 2 runs"));
    sdiff_test_run_dispose(&r);
    assert_int_equal(db_count(db, "SELECT count(*) FROM runs WHERE id IN (1, 4)"), 2);
    assert_int_equal(db_count(db, "SELECT count(*) FROM results WHERE run_id IN (2, 3)"), 0);
    assert_int_equal(db_count(db, "SELECT count(*) FROM instances WHERE run_id IN (2, 3)"), 0);
    assert_int_equal(db_count(db, "SELECT count(*) FROM responses WHERE result_id NOT IN"
                                  " (SELECT id FROM results)"),
                     0);
    assert_int_equal(db_count(db, "SELECT count(*) FROM results WHERE run_id = 4"), per_run);
    /* the corpus copied into it stays */
    assert_true(db_count(db, "SELECT count(*) FROM exchanges") > 0);

    /* by age: run 4 last active long ago goes; the running one stays whatever its age */
    sql(db, "UPDATE runs SET last_activity = '2001-01-01T00:00:00.000Z' WHERE id = 4");
    char *old[] = {(char *)sdiff_test_bin(), "prune", "--db", (char *)db, "--older-than", "30d",
                   NULL};
    r = run(old, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    assert_non_null(strstr(r.out, "removed 1 run "));
    sdiff_test_run_dispose(&r);
    assert_int_equal(db_count(db, "SELECT count(*) FROM runs"), 1);
    assert_int_equal(db_count(db, "SELECT id FROM runs"), 1);

    /* arguments: one of the two limits, a real age */
    char *none[] = {(char *)sdiff_test_bin(), "prune", "--db", (char *)db, NULL};
    char *both[] = {(char *)sdiff_test_bin(), "prune", "--db", (char *)db, "--keep", "2",
                    "--older-than", "1d", NULL};
    char *bad[] = {(char *)sdiff_test_bin(), "prune", "--db", (char *)db, "--older-than",
                   "soon", NULL};
    char *const *cases[] = {none, both, bad};
    for (size_t i = 0; i < 3; i++) {
        r = run(cases[i], 60);
        assert_int_equal(sdiff_test_exit_code(&r), 2);
        assert_int_equal(sdiff_test_count_lines(r.err, r.err_len), 1);
        sdiff_test_run_dispose(&r);
    }
}

/*
 * capture --db --run --side writes a side's live cohort into a results store: one row per
 * exchange with route, raw path, status and latency, the side, the marker of a request that
 * carried one (shadow traffic, not a live user); a second capture joins the named run; --side
 * without --db is a usage error.
 */
static void test_runs__capture_writes_a_live_cohort_into_a_named_run(void **state)
{
    (void)state;
    const char *db = tmp("live.db");
    char pcap[4200], guard[4200];
    snprintf(pcap, sizeof pcap, "%s", sdiff_test_fixture_path("pcap/basic_keepalive.pcap"));
    snprintf(guard, sizeof guard, "%s", sdiff_test_fixture_path("bad/guard_requests.pcap"));
    char *c1[] = {(char *)sdiff_test_bin(), "capture", "--pcap", pcap, "--db", (char *)db,
                  "--run", "step-5", "--side", "new", NULL};
    struct sdiff_test_run r = run(c1, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    sdiff_test_run_dispose(&r);
    assert_int_equal(db_count(db, "SELECT count(*) FROM live_samples WHERE side = 'new' AND"
                                  " route = 'GET /api/users/{id}' AND raw_path = '/api/users/4242'"
                                  " AND status = 200 AND latency_ms >= 0"),
                     1);
    assert_int_equal(db_count(db, "SELECT count(*) FROM live_samples"), 3);
    char *c2[] = {(char *)sdiff_test_bin(), "capture", "--pcap", guard, "--db", (char *)db,
                  "--run", "step-5", "--side", "new", NULL};
    r = run(c2, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    assert_non_null(strstr(r.err, "appending to run step-5"));
    sdiff_test_run_dispose(&r);
    assert_int_equal(db_count(db, "SELECT count(*) FROM runs"), 1);
    assert_int_equal(db_count(db, "SELECT count(*) FROM instances WHERE side = 'new'"), 2);
    assert_int_equal(db_count(db, "SELECT count(*) FROM live_samples WHERE marker IS NOT NULL"
                                  " AND route = 'GET /api/forged'"),
                     1);
    /* merge carries the live cohort, once however often it runs */
    long long live = db_count(db, "SELECT count(*) FROM live_samples");
    const char *all = tmp("all.db");
    char *mg[] = {(char *)sdiff_test_bin(), "merge", "--into", (char *)all, "--run", "step-5",
                  (char *)db, NULL};
    for (int i = 0; i < 2; i++) {
        r = run(mg, 60);
        assert_int_equal(sdiff_test_exit_code(&r), 0);
        sdiff_test_run_dispose(&r);
    }
    assert_int_equal(db_count(all, "SELECT count(*) FROM live_samples"), live);
    char *bad[] = {(char *)sdiff_test_bin(), "capture", "--pcap", pcap, "--out",
                   (char *)tmp("c.db"), "--side", "new", NULL};
    r = run(bad, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    assert_int_equal(sdiff_test_count_lines(r.err, r.err_len), 1);
    assert_non_null(strstr(r.err, "--side needs --db"));
    sdiff_test_run_dispose(&r);
}

int main(int argc, char **argv)
{
    const char *fx = getenv("SDIFF_FIXTURES");
    snprintf(tools, sizeof tools, "%s/../tests/tools", fx ? fx : "fixtures");
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_runs__processes_naming_one_run_join_it_and_report_aggregates_exactly),
        T(test_runs__name_and_labels_are_shown_escaped_in_every_format),
        T(test_runs__bad_names_labels_and_selectors_are_one_line_exit_2),
        T(test_runs__runs_lists_a_version_2_file_and_refuses_bad_arguments),
        T(test_runs__prune_removes_old_runs_whole_and_never_a_running_one),
        T(test_runs__capture_writes_a_live_cohort_into_a_named_run),
    };
#undef T
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sdiff_test_kill_all();
    return rc;
}
