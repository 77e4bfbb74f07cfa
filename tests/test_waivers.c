/*
 * test_waivers.c - accepted differences: cluster ids, `shadowdiff accept`, waivers from the
 * database and from the config file, expiry, and how reports show them. Each test builds
 * its own results database with the store API: one route that fails only because of one
 * cluster of differences.
 */
#include "sdiff_test.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "shadowdiff/report.h"
#include "shadowdiff/rules.h"
#include "shadowdiff/store.h"

#define T0 1714564800000000ull /* 2024-05-01T12:00:00Z in microseconds */
#define SIG "$.items[*].price changed"

static char *tmpdir;

static int setup(void **state)
{
    (void)state;
    tmpdir = sdiff_test_tmpdir();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (getenv("SDIFF_KEEP_TMP"))
        fprintf(stderr, "kept %s\n", tmpdir);
    else
        sdiff_test_rmdir(tmpdir);
    free(tmpdir);
    return 0;
}

static void put(struct sdiff_store *st, int64_t run, const char *cls, uint64_t t)
{
    static const char *paths[] = {"$.items[0].price", "$.items[3].price"};
    static const char *kinds[] = {"changed", "changed"};
    static const char *pv[] = {"1.5", "2"};
    static const char *cv[] = {"\"1.50\"", "\"2.00\""};
    static struct sdiff_msg ok = {.present = 1, .status = 200};
    struct sdiff_result_rec r;
    struct sdiff_err err = {0};
    memset(&r, 0, sizeof r);
    r.run_id = run;
    r.method = "POST";
    r.route = "POST /orders";
    r.target = "/orders";
    r.cls = cls;
    r.bytes_equal = -1;
    r.primary_status = 200;
    r.primary_ms = 10;
    r.t_req_start = t;
    r.candidate.msg = &ok;
    r.candidate.latency_ms = 10;
    r.candidate.skip_row = 1;
    if (strcmp(cls, "different") == 0) {
        r.bytes_equal = 0;
        r.candidate.skip_row = 0;
        r.paths = paths;
        r.kinds = kinds;
        r.primary_values = pv;
        r.candidate_values = cv;
        r.ndiffs = 2;
    }
    if (sdiff_store_put_result(st, &r, NULL, &err) < 0)
        fail_msg("put_result: %s", err.msg);
}

/* 500 identical and 15 different results of POST /orders: blocked by the mismatch bound
 * (Wilson lower bound of 15/515 > 1%), ready without the 15 (upper bound of 0/515 < 1%). */
static const char *make_db(const char *name)
{
    static char path[600];
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    struct sdiff_store_opts opts = {0};
    int64_t run;
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    if (sdiff_store_open(&st, path, &opts, &err) < 0)
        fail_msg("open: %s", err.msg);
    struct sdiff_run_info info = {.kind = "replay", .corpus = "corpus.db",
                                  .candidate = "http://cand.example:8080"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &run, &err), SDIFF_OK);
    for (int i = 0; i < 500; i++)
        put(st, run, "identical", T0 + (uint64_t)i);
    for (int i = 0; i < 15; i++)
        put(st, run, "different", T0 + 1000000u * (uint64_t)(i + 1));
    assert_int_equal(sdiff_store_end_run(st, run, "{}", &err), SDIFF_OK);
    sdiff_store_close(st);
    return path;
}

static struct sdiff_report *build(const char *db, const struct sdiff_rules *config)
{
    struct sdiff_report *r = NULL;
    struct sdiff_err err = {0};
    if (sdiff_report_build_config(&r, db, 0, NULL, config, &err) < 0)
        fail_msg("build: %s", err.msg);
    assert_int_equal(r->nendpoints, 1);
    assert_int_equal(r->nclusters, 1);
    return r;
}

static char *render(const struct sdiff_report *r, enum sdiff_report_format fmt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct sdiff_err err = {0};
    assert_non_null(f);
    assert_int_equal(sdiff_report_render(r, fmt, 0, f, &err), SDIFF_OK);
    fclose(f);
    return buf;
}

static int run_bin(char *const argv[], const char *out, const char *errp)
{
    int pid = sdiff_test_spawn(argv, out, errp);
    int status = sdiff_test_wait(pid, 60);
    assert_true(status != -1 && WIFEXITED(status));
    return WEXITSTATUS(status);
}

static char *slurp(const char *path)
{
    size_t n;
    return (char *)sdiff_test_read_file(path, &n);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_waivers__cluster_id_and_failing_without_waiver(void **state)
{
    (void)state;
    char id[13];
    sdiff_report_cluster_id("POST /orders", SIG, id);
    assert_int_equal(strlen(id), 12);
    assert_int_equal(strspn(id, "0123456789abcdef"), 12);
    char again[13];
    sdiff_report_cluster_id("POST /orders", SIG, again);
    assert_string_equal(id, again);
    sdiff_report_cluster_id("GET /orders", SIG, again);
    assert_string_not_equal(id, again);

    struct sdiff_report *r = build(make_db("plain.db"), NULL);
    assert_int_equal(r->pass, 0);
    assert_int_equal(r->endpoints[0].verdict, SDIFF_REPORT_BLOCKED);
    assert_int_equal(r->endpoints[0].accepted, 0);
    assert_string_equal(r->clusters[0].signature, SIG);
    assert_string_equal(r->clusters[0].id, id);
    assert_int_equal(r->clusters[0].waived, 0);
    assert_int_equal(r->nwaivers, 0);
    for (int fmt = SDIFF_REPORT_TEXT; fmt <= SDIFF_REPORT_JUNIT; fmt++) {
        char *s = render(r, (enum sdiff_report_format)fmt);
        if (fmt != SDIFF_REPORT_JUNIT) /* junit has no clusters */
            assert_non_null(strstr(s, id));
        free(s);
    }
    sdiff_report_free(r);
}

static void test_waivers__accept_makes_it_pass(void **state)
{
    (void)state;
    char out[600], errp[600], id[13];
    const char *db = make_db("accept.db");
    snprintf(out, sizeof out, "%s/out.txt", tmpdir);
    snprintf(errp, sizeof errp, "%s/err.txt", tmpdir);
    sdiff_report_cluster_id("POST /orders", SIG, id);
    char *bin = (char *)sdiff_test_bin();

    char *report[] = {bin, "report", "--db", (char *)db, NULL};
    assert_int_equal(run_bin(report, out, errp), 1);

    char *accept[] = {bin, "accept", "--db", (char *)db, id, "--reason",
                      "prices are strings in v2", "--expires", "2999-12-31", NULL};
    assert_int_equal(run_bin(accept, out, errp), 0);
    char *s = slurp(out);
    assert_non_null(strstr(s, "accepted cluster "));
    assert_non_null(strstr(s, id));
    assert_int_equal(strchr(s, '\n') - s + 1, (long)strlen(s)); /* one line */
    free(s);

    struct sdiff_report *r = build(db, NULL);
    assert_int_equal(r->pass, 1);
    const struct sdiff_report_endpoint *e = &r->endpoints[0];
    assert_int_equal(e->verdict, SDIFF_REPORT_READY);
    assert_int_equal(e->different, 15);
    assert_int_equal(e->accepted, 15);
    assert_int_equal(r->totals.accepted, 15);
    assert_true(e->mismatch_upper < 0.01);
    assert_int_equal(r->clusters[0].waived, 1);
    assert_int_equal(r->clusters[0].expired, 0);
    assert_string_equal(r->clusters[0].waiver_reason, "prices are strings in v2");
    assert_string_equal(r->clusters[0].waiver_expires, "2999-12-31");
    assert_int_equal(r->nwaivers, 1);
    assert_string_equal(r->waivers[0].cluster, id);
    assert_string_equal(r->waivers[0].route, "POST /orders");
    assert_string_equal(r->waivers[0].signature, SIG);

    s = render(r, SDIFF_REPORT_TEXT);
    assert_non_null(strstr(s, "accepted: prices are strings in v2 (until 2999-12-31)"));
    assert_non_null(strstr(s, "15 accepted"));
    assert_non_null(strstr(s, "verdict: PASS"));
    free(s);
    s = render(r, SDIFF_REPORT_MARKDOWN);
    assert_non_null(strstr(s, ":white_check_mark: `accepted: prices are strings in v2"));
    free(s);
    s = render(r, SDIFF_REPORT_JUNIT);
    assert_non_null(strstr(s, "<system-out>cluster "));
    free(s);

    s = render(r, SDIFF_REPORT_JSON);
    json_t *j = json_loads(s, 0, NULL);
    free(s);
    assert_non_null(j);
    json_t *ep = json_array_get(json_object_get(j, "endpoints"), 0);
    assert_int_equal(json_integer_value(json_object_get(ep, "accepted")), 15);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "totals"), "accepted")),
                     15);
    json_t *cl = json_array_get(json_object_get(j, "clusters"), 0);
    assert_string_equal(json_string_value(json_object_get(cl, "id")), id);
    assert_true(json_is_true(json_object_get(cl, "accepted")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(cl, "waiver"), "reason")),
        "prices are strings in v2");
    assert_int_equal(json_array_size(json_object_get(j, "waivers")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "verdict")), "pass");
    json_decref(j);
    sdiff_report_free(r);

    assert_int_equal(run_bin(report, out, errp), 0);
}

static void test_waivers__expired_waiver_fails_again(void **state)
{
    (void)state;
    char id[13], out[600], errp[600];
    struct sdiff_report_waiver w;
    struct sdiff_err err = {0};
    const char *db = make_db("expired.db");
    snprintf(out, sizeof out, "%s/out.txt", tmpdir);
    snprintf(errp, sizeof errp, "%s/err.txt", tmpdir);
    sdiff_report_cluster_id("POST /orders", SIG, id);
    /* accepting with a date already past is an error: such a waiver would never apply */
    assert_int_equal(sdiff_report_accept(db, id, "temporary", "2000-01-01", &w, &err),
                     SDIFF_EINVAL);
    assert_non_null(strstr(err.msg, "in the past"));
    /* a waiver accepted back then, and expired since */
    struct sdiff_store *st = NULL;
    struct sdiff_store_opts so = {.must_exist = 1};
    assert_int_equal(sdiff_store_open(&st, db, &so, &err), SDIFF_OK);
    struct sdiff_store_waiver sw = {.cluster = id, .route = "POST /orders", .signature = SIG,
                                    .reason = "temporary", .expires = "2000-01-01"};
    assert_int_equal(sdiff_store_put_waiver(st, &sw, NULL, &err), SDIFF_OK);
    sdiff_store_close(st);

    struct sdiff_report *r = build(db, NULL);
    assert_int_equal(r->pass, 0);
    assert_int_equal(r->endpoints[0].accepted, 0);
    assert_int_equal(r->clusters[0].waived, 0);
    assert_int_equal(r->clusters[0].expired, 1);
    assert_int_equal(r->nwaivers, 1);
    assert_int_equal(r->waivers[0].expired, 1);
    char *s = render(r, SDIFF_REPORT_TEXT);
    assert_non_null(strstr(s, "waiver expired on 2000-01-01"));
    free(s);
    s = render(r, SDIFF_REPORT_JSON);
    assert_non_null(strstr(s, "\"expired\": true"));
    free(s);
    sdiff_report_free(r);

    /* the binary refuses a past date in one line, exit 2 */
    char *bin = (char *)sdiff_test_bin();
    char *accept[] = {bin, "accept", "--db", (char *)db, id, "--reason", "again", "--expires",
                      "2000-01-01", NULL};
    assert_int_equal(run_bin(accept, out, errp), 2);
    s = slurp(errp);
    assert_non_null(strstr(s, "is in the past"));
    assert_int_equal(sdiff_test_count_lines(s, strlen(s)), 1);
    free(s);
    /* a later, unexpired waiver wins over the expired ones */
    assert_int_equal(sdiff_report_accept(db, id, "for good", NULL, &w, &err), SDIFF_OK);
    assert_int_equal(w.expired, 0);
    sdiff_report_waiver_dispose(&w);
    r = build(db, NULL);
    assert_int_equal(r->pass, 1);
    assert_string_equal(r->clusters[0].waiver_reason, "for good");
    sdiff_report_free(r);
}

/*
 * accept --list shows the waivers in force, escaped; accepting again updates the waiver and
 * keeps its id; --revoke ends it (reports fail again) and revoking it twice is an error.
 */
static void test_waivers__list_update_and_revoke(void **state)
{
    (void)state;
    char id[13], out[600], errp[600];
    struct sdiff_report_waiver w;
    struct sdiff_err err = {0};
    const char *db = make_db("revoke.db");
    snprintf(out, sizeof out, "%s/out.txt", tmpdir);
    snprintf(errp, sizeof errp, "%s/err.txt", tmpdir);
    sdiff_report_cluster_id("POST /orders", SIG, id);
    assert_int_equal(sdiff_report_accept(db, id, "first \x1b[31mreason", NULL, &w, &err),
                     SDIFF_OK);
    sdiff_report_waiver_dispose(&w);
    assert_int_equal(sdiff_report_accept(db, id, "second reason", "2999-12-31", &w, &err),
                     SDIFF_OK);
    sdiff_report_waiver_dispose(&w);

    char *bin = (char *)sdiff_test_bin();
    char *list_json[] = {bin, "accept", "--db", (char *)db, "--list", "--format", "json", NULL};
    assert_int_equal(run_bin(list_json, out, errp), 0);
    char *s = slurp(out);
    json_t *j = json_loads(s, 0, NULL);
    free(s);
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 1); /* updated, not a second row */
    json_t *w0 = json_array_get(j, 0);
    long long wid = json_integer_value(json_object_get(w0, "id"));
    assert_true(wid > 0);
    assert_string_equal(json_string_value(json_object_get(w0, "reason")), "second reason");
    assert_string_equal(json_string_value(json_object_get(w0, "expires")), "2999-12-31");
    assert_string_equal(json_string_value(json_object_get(w0, "cluster")), id);
    json_decref(j);

    /* the text list never carries a control byte from a reason */
    assert_int_equal(sdiff_report_accept(db, id, "third \x1b]0;pwned\x07", NULL, &w, &err),
                     SDIFF_OK);
    sdiff_report_waiver_dispose(&w);
    char *list[] = {bin, "accept", "--db", (char *)db, "--list", NULL};
    assert_int_equal(run_bin(list, out, errp), 0);
    s = slurp(out);
    assert_null(strchr(s, '\x1b'));
    assert_null(strchr(s, '\x07'));
    assert_non_null(strstr(s, "POST /orders"));
    free(s);

    struct sdiff_report *r = build(db, NULL);
    assert_int_equal(r->pass, 1);
    sdiff_report_free(r);
    char wids[32];
    snprintf(wids, sizeof wids, "%lld", wid);
    char *revoke[] = {bin, "accept", "--db", (char *)db, "--revoke", wids, NULL};
    assert_int_equal(run_bin(revoke, out, errp), 0);
    r = build(db, NULL);
    assert_int_equal(r->pass, 0); /* the cluster counts again */
    assert_int_equal(r->nwaivers, 0);
    sdiff_report_free(r);
    assert_int_equal(run_bin(list, out, errp), 0);
    s = slurp(out);
    assert_non_null(strstr(s, "(no waivers)"));
    free(s);
    assert_int_equal(run_bin(revoke, out, errp), 2);
    s = slurp(errp);
    assert_non_null(strstr(s, "no waiver"));
    assert_int_equal(sdiff_test_count_lines(s, strlen(s)), 1);
    free(s);
}

static void test_waivers__config_file(void **state)
{
    (void)state;
    char cfg[600], cfg2[600], id[13], text[400], out[600], errp[600];
    struct sdiff_rules *rules = NULL;
    struct sdiff_err err = {0};
    const char *db = make_db("config.db");
    snprintf(cfg, sizeof cfg, "%s/waive.json", tmpdir);
    snprintf(cfg2, sizeof cfg2, "%s/waive-expired.json", tmpdir);
    snprintf(out, sizeof out, "%s/out.txt", tmpdir);
    snprintf(errp, sizeof errp, "%s/err.txt", tmpdir);
    sdiff_report_cluster_id("POST /orders", SIG, id);
    write_file(cfg, "{\"ignore_headers\": [\"X-A\"], \"waivers\": [{\"cluster\": {\"route\":"
                    " \"POST /orders\", \"signature\": \"" SIG "\"}, \"reason\": \"by config\"}]}");
    for (char *p = id; *p; p++) /* ids are case-insensitive */
        *p = (char)(*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
    snprintf(text, sizeof text,
             "{\"waivers\": [{\"cluster\": \"%s\", \"reason\": \"old\", \"expires\":"
             " \"2000-01-01\"}]}",
             id);
    write_file(cfg2, text);

    assert_int_equal(sdiff_rules_load(&rules, cfg, &err), SDIFF_OK);
    size_t n;
    const struct sdiff_rules_waiver *rw = sdiff_rules_waivers(rules, &n);
    assert_int_equal(n, 1);
    assert_string_equal(rw[0].route, "POST /orders");
    assert_null(rw[0].expires);
    struct sdiff_report *r = build(db, rules);
    assert_int_equal(r->pass, 1);
    assert_int_equal(r->endpoints[0].accepted, 15);
    assert_string_equal(r->waivers[0].source, "config");
    sdiff_report_free(r);
    sdiff_rules_free(rules);

    assert_int_equal(sdiff_rules_load(&rules, cfg2, &err), SDIFF_OK);
    r = build(db, rules);
    assert_int_equal(r->pass, 0);
    assert_int_equal(r->clusters[0].expired, 1);
    sdiff_report_free(r);
    sdiff_rules_free(rules);

    char *bin = (char *)sdiff_test_bin();
    char *report[] = {bin, "report", "--db", (char *)db, "--config", cfg, NULL};
    assert_int_equal(run_bin(report, out, errp), 0);
    char *s = slurp(out);
    assert_non_null(strstr(s, "accepted: by config"));
    free(s);
    char *report2[] = {bin, "report", "--db", (char *)db, "-c", cfg2, NULL};
    assert_int_equal(run_bin(report2, out, errp), 1);
    s = slurp(out);
    assert_non_null(strstr(s, "waiver expired on 2000-01-01"));
    free(s);

    static const char *const bad[] = {
        "{\"waivers\": {}}",
        "{\"waivers\": [{\"cluster\": \"0123456789ab\"}]}",
        "{\"waivers\": [{\"cluster\": \"0123456789ab\", \"reason\": \"\"}]}",
        "{\"waivers\": [{\"cluster\": \"xyz\", \"reason\": \"r\"}]}",
        "{\"waivers\": [{\"cluster\": \"0123456789ab\", \"reason\": \"r\", \"expires\": \"2024-02-30\"}]}",
        "{\"waivers\": [{\"cluster\": {\"route\": \"GET /\"}, \"reason\": \"r\"}]}",
        "{\"waivers\": [{\"cluster\": \"0123456789ab\", \"reason\": \"r\", \"extra\": 1}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rules = NULL;
        assert_true(sdiff_rules_parse(&rules, bad[i], strlen(bad[i]), "t.json", &err) < 0);
        assert_null(rules);
        assert_non_null(strstr(err.msg, "waivers"));
    }
}

static void test_waivers__accept_errors(void **state)
{
    (void)state;
    char out[600], errp[600], id[13];
    const char *db = make_db("errors.db");
    snprintf(out, sizeof out, "%s/out.txt", tmpdir);
    snprintf(errp, sizeof errp, "%s/err.txt", tmpdir);
    sdiff_report_cluster_id("POST /orders", SIG, id);
    char *bin = (char *)sdiff_test_bin();

    char *unknown[] = {bin, "accept", "--db", (char *)db, "000000000000", "--reason", "x", NULL};
    assert_int_equal(run_bin(unknown, out, errp), 2);
    char *s = slurp(errp);
    char want[700];
    snprintf(want, sizeof want, "no cluster 000000000000 in the latest run of %s", db);
    assert_non_null(strstr(s, want));
    free(s);
    char *noreason[] = {bin, "accept", "--db", (char *)db, id, NULL};
    assert_int_equal(run_bin(noreason, out, errp), 2);
    s = slurp(errp);
    assert_non_null(strstr(s, "--reason"));
    free(s);
    char *baddate[] = {bin, "accept", "--db", (char *)db, id, "--reason", "x", "--expires",
                       "31/12/2030", NULL};
    assert_int_equal(run_bin(baddate, out, errp), 2);
    char *noid[] = {bin, "accept", "--db", (char *)db, "--reason", "x", NULL};
    assert_int_equal(run_bin(noid, out, errp), 2);
    /* nothing was recorded */
    struct sdiff_report *r = build(db, NULL);
    assert_int_equal(r->nwaivers, 0);
    assert_int_equal(r->pass, 0);
    sdiff_report_free(r);
}

/* A database without a waivers table (version 2 from before it existed): reports still
 * work, with no waivers. (Migrating such a file is test_store's.) */
static void test_waivers__missing_table_reads_as_none(void **state)
{
    (void)state;
    sqlite3 *db = NULL;
    const char *path = make_db("old.db");
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE waivers", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct sdiff_report *r = build(path, NULL);
    assert_int_equal(r->pass, 0);
    assert_int_equal(r->nwaivers, 0);
    sdiff_report_free(r);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waivers__cluster_id_and_failing_without_waiver),
        cmocka_unit_test(test_waivers__accept_makes_it_pass),
        cmocka_unit_test(test_waivers__expired_waiver_fails_again),
        cmocka_unit_test(test_waivers__list_update_and_revoke),
        cmocka_unit_test(test_waivers__config_file),
        cmocka_unit_test(test_waivers__accept_errors),
        cmocka_unit_test(test_waivers__missing_table_reads_as_none),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
