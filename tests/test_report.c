/*
 * test_report.c - the report module on a real results database built with the store API:
 * counts, Wilson bounds, percentiles, verdicts, clusters, every output format; the same
 * report built from rows handed over without a database; and the `report` and `inspect`
 * commands of the built binary.
 */
#include "sdiff_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "report/report_int.h"
#include "shadowdiff/exchange.h"
#include "shadowdiff/report.h"
#include "shadowdiff/store.h"

#define T0 1714564800000000ull /* 2024-05-01T12:00:00Z in microseconds */

static char *tmpdir;
static char dbpath[512];
static int64_t run_mixed, run_pass;
static int64_t first_price_id; /* a result of the "$.items[*].price changed" cluster */

/* ---- building the database ----------------------------------------------------------------- */

static struct sdiff_exchange *make_exchange(void)
{
    static const char *const hdrs[] = {
        "Host", "api.example.com", "Connection", "keep-alive", "Content-Type",
        "application/json", "X-Note", "it's here", "Content-Length", "24", NULL,
    };
    struct sdiff_exchange *ex = sdiff_exchange_new();
    struct sdiff_hfield h[8];
    size_t n = 0;
    assert_non_null(ex);
    for (; hdrs[2 * n]; n++) {
        h[n] = (struct sdiff_hfield){hdrs[2 * n], hdrs[2 * n + 1], strlen(hdrs[2 * n]),
                                     strlen(hdrs[2 * n + 1])};
    }
    ex->req.method = (char *)"POST";
    ex->req.target = (char *)"/orders?x=1";
    assert_int_equal(sdiff_msg_set_headers(&ex->req, h, n), SDIFF_OK);
    ex->req.present = ex->req.complete = 1;
    ex->req.version_minor = 1;
    const char *body = "{\"sku\":\"a'b\",\"qty\":2}";
    ex->req.body = (uint8_t *)sdiff_strdup(body);
    ex->req.body_len = ex->req.body_seen = strlen(body);

    struct sdiff_hfield rh = {"Content-Type", "application/json", 12, 16};
    ex->resp.reason = (char *)"OK";
    assert_int_equal(sdiff_msg_set_headers(&ex->resp, &rh, 1), SDIFF_OK);
    ex->resp.present = ex->resp.complete = 1;
    ex->resp.status = 200;
    ex->resp.version_minor = 1;
    const char *rb = "{\"items\":[{\"price\":1.5},{\"price\":2}]}";
    ex->resp.body = (uint8_t *)sdiff_strdup(rb);
    ex->resp.body_len = ex->resp.body_seen = strlen(rb);
    ex->t_req_start = T0;
    ex->t_resp_end = T0 + 12000;
    ex->state = SDIFF_EX_COMPLETE;
    return ex;
}

static void put(struct sdiff_store *st, struct sdiff_result_rec *r, int64_t *id)
{
    struct sdiff_err err = {0};
    int rc = sdiff_store_put_result(st, r, id, &err);
    if (rc < 0)
        fail_msg("put_result: %s", err.msg);
}

/* n results of one class on a route, with fixed or cycling latencies. */
/* the primary's status and answer shape of what put_many stores next */
static int put_status = 200;
static const char *put_shape;

static void put_many(struct sdiff_store *st, int64_t run, const char *route, const char *cls,
                     int n, double pms, double cms, int cycle)
{
    struct sdiff_result_rec r;
    for (int i = 0; i < n; i++) {
        memset(&r, 0, sizeof r);
        r.run_id = run;
        r.route = route;
        r.target = "/x";
        r.cls = cls;
        r.bytes_equal = -1;
        r.primary_status = put_status;
        r.shape = put_shape;
        r.primary_ms = cycle ? (double)(i % 100 + 1) : pms;
        r.t_req_start = T0 + (uint64_t)i;
        r.candidate.latency_ms = cycle ? (double)(i % 100 + 1) : cms;
        r.candidate.skip_row = 1;
        if (strcmp(cls, "error") == 0) {
            r.candidate.error = "timeout after 5s";
            r.candidate.skip_row = 0;
        } else if (strcmp(cls, "skipped") == 0) {
            r.skip_reason = "method not allowed";
            r.candidate.latency_ms = -1;
            r.primary_ms = -1;
        } else {
            static struct sdiff_msg ok = {.present = 1};
            ok.status = put_status;
            r.candidate.msg = &ok;
        }
        put(st, &r, NULL);
    }
}

static void put_different(struct sdiff_store *st, int64_t run, uint64_t ex_id, int sig,
                          uint64_t t, int64_t *id)
{
    static const char *paths_a[] = {"$.items[0].price", "$.items[12].price"};
    static const char *kinds_a[] = {"changed", "changed"};
    static const char *pv_a[] = {"1.5", "2"};
    static const char *cv_a[] = {"\"1.50\"", "\"2.00\""};
    static const char *paths_b[] = {"status", "$.error"};
    static const char *kinds_b[] = {"changed", "missing"};
    static const char *pv_b[] = {"400", "\"bad sku\""};
    static const char *cv_b[] = {"422", NULL};
    static struct sdiff_msg cand = {.present = 1, .status = 200};
    static struct sdiff_msg cand_b = {.present = 1, .status = 422};
    struct sdiff_result_rec r;
    memset(&r, 0, sizeof r);
    r.run_id = run;
    r.exchange_id = ex_id;
    r.method = "POST";
    r.route = "POST /orders";
    r.target = "/orders?x=1";
    r.cls = "different";
    r.reasons = "body";
    r.note = "prices became strings";
    r.bytes_equal = 0;
    r.primary_status = sig ? 400 : 200;
    r.primary_ms = 12;
    r.t_req_start = t;
    r.candidate.msg = sig ? &cand_b : &cand;
    r.candidate.latency_ms = 13;
    r.candidate.keep_body = 1;
    r.paths = sig ? paths_b : paths_a;
    r.kinds = sig ? kinds_b : kinds_a;
    r.primary_values = sig ? pv_b : pv_a;
    r.candidate_values = sig ? cv_b : cv_a;
    r.ndiffs = 2;
    put(st, &r, id);
}

static int build_db(void **state)
{
    (void)state;
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    struct sdiff_store_opts opts = {0};
    int64_t cap;
    tmpdir = sdiff_test_tmpdir();
    snprintf(dbpath, sizeof dbpath, "%s/results.db", tmpdir);
    if (sdiff_store_open(&st, dbpath, &opts, &err) < 0)
        fail_msg("open: %s", err.msg);
    assert_int_equal(sdiff_store_begin_capture(st, "test", "test", &cap, &err), SDIFF_OK);
    struct sdiff_exchange *ex = make_exchange();
    assert_int_equal(sdiff_store_put_exchange(st, ex, &err), SDIFF_OK);
    uint64_t ex_id = ex->id;
    sdiff_exchange_free(ex);

    struct sdiff_run_info info = {.kind = "replay", .corpus = "corpus.db",
                                  .candidate = "http://cand.example:8080/"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &run_mixed, &err), SDIFF_OK);
    put_many(st, run_mixed, "GET /tiny", "identical", 3, 10, 11, 0);
    put_many(st, run_mixed, "GET /ok", "identical", 3000, 0, 0, 1);
    put_many(st, run_mixed, "POST /orders", "identical", 95, 12, 13, 0);
    /* 3 of signature A (ids in order), 2 of signature B, interleaved in time */
    put_different(st, run_mixed, ex_id, 0, T0 + 5000000, &first_price_id);
    put_different(st, run_mixed, ex_id, 1, T0 + 1000000, NULL);
    put_different(st, run_mixed, ex_id, 0, T0 + 2000000, NULL);
    put_different(st, run_mixed, ex_id, 1, T0 + 9000000, NULL);
    put_different(st, run_mixed, ex_id, 0, T0 + 7000000, NULL);
    put_many(st, run_mixed, "GET /slow", "identical", 500, 10, 30, 0);
    put_many(st, run_mixed, "GET /flaky", "identical", 400, 5, 5, 0);
    put_many(st, run_mixed, "GET /flaky", "error", 20, 5, 5000, 0);
    put_many(st, run_mixed, "GET /flaky", "skipped", 5, 0, 0, 0);
    assert_int_equal(sdiff_store_end_run(st, run_mixed, "{}", &err), SDIFF_OK);

    info.candidate = "http://cand.example:8080";
    assert_int_equal(sdiff_store_begin_run(st, &info, &run_pass, &err), SDIFF_OK);
    put_many(st, run_pass, "GET /tiny", "identical", 3, 10, 11, 0);
    put_many(st, run_pass, "GET /ok", "identical", 3000, 0, 0, 1);
    assert_int_equal(sdiff_store_end_run(st, run_pass, "{}", &err), SDIFF_OK);
    sdiff_store_close(st);
    return 0;
}

static int remove_db(void **state)
{
    (void)state;
    if (getenv("SDIFF_KEEP_TMP")) /* for looking at the database by hand */
        fprintf(stderr, "kept %s\n", dbpath);
    else
        sdiff_test_rmdir(tmpdir);
    free(tmpdir);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static struct sdiff_report *build(int64_t run)
{
    struct sdiff_report *r = NULL;
    struct sdiff_err err = {0};
    if (sdiff_report_build(&r, dbpath, run, NULL, &err) < 0)
        fail_msg("build: %s", err.msg);
    return r;
}

static const struct sdiff_report_endpoint *endpoint(const struct sdiff_report *r,
                                                    const char *method, const char *route)
{
    for (size_t i = 0; i < r->nendpoints; i++)
        if (strcmp(r->endpoints[i].method, method) == 0 &&
            strcmp(r->endpoints[i].route, route) == 0)
            return &r->endpoints[i];
    fail_msg("no endpoint %s %s", method, route);
    return NULL;
}

/* Render into a NUL-terminated string (caller frees). */
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

static size_t count_substr(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Run the binary; returns the exit code, output in the given files. */
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

/* ---- tests -------------------------------------------------------------------------------- */

static void test_report__wilson_bounds(void **state)
{
    (void)state;
    assert_true(sdiff_report_wilson_upper(0, 3000, 1.96) < 0.01);
    assert_true(sdiff_report_wilson_upper(0, 3000, 1.96) > 0.001);
    assert_true(sdiff_report_wilson_upper(0, 3, 1.96) > 0.01);
    double u = sdiff_report_wilson_upper(5, 100, 1.96);
    assert_true(u > 0.1115 && u < 0.1120);
    assert_true(sdiff_report_wilson_upper(0, 0, 1.96) == 1.0);
    assert_true(sdiff_report_wilson_upper(10, 10, 1.96) <= 1.0);
}

static void test_report__counts_and_verdicts(void **state)
{
    (void)state;
    struct sdiff_report *r = build(run_mixed);
    assert_int_equal(r->run_id, run_mixed);
    assert_string_equal(r->run_kind, "replay");
    assert_int_equal(r->nendpoints, 5);
    /* ordered by the stored route */
    assert_string_equal(r->endpoints[0].route, "/flaky");
    assert_string_equal(r->endpoints[4].method, "POST");

    const struct sdiff_report_endpoint *tiny = endpoint(r, "GET", "/tiny");
    assert_int_equal(tiny->samples, 3);
    assert_int_equal(tiny->judged, 3);
    assert_true(tiny->parity == 1.0);
    assert_true(tiny->mismatch_upper > 0.01);
    assert_int_equal(tiny->verdict, SDIFF_REPORT_INSUFFICIENT);

    const struct sdiff_report_endpoint *ok = endpoint(r, "GET", "/ok");
    assert_int_equal(ok->samples, 3000);
    assert_int_equal(ok->identical, 3000);
    assert_true(ok->mismatch_upper < 0.01);
    assert_int_equal(ok->verdict, SDIFF_REPORT_READY);
    assert_int_equal(ok->nreasons, 0);
    /* 1..100, 30 of each: nearest rank */
    assert_int_equal(ok->primary.n, 3000);
    assert_true(ok->primary.p50 == 50 && ok->primary.p95 == 95 && ok->primary.p99 == 99);
    assert_true(ok->candidate.p99 == 99 && ok->p99_ratio == 1.0);

    const struct sdiff_report_endpoint *orders = endpoint(r, "POST", "/orders");
    assert_int_equal(orders->samples, 100);
    assert_int_equal(orders->judged, 100);
    assert_int_equal(orders->different, 5);
    assert_true(orders->parity == 0.95 && orders->byte_parity == 0.95);
    /* the 2 answered 400 by the primary and 422 by the candidate are judged apart (both
     * sides 4xx): the bounds are those of the other 3 of 98, and the 2 of 2 block too */
    assert_int_equal(orders->both_4xx, 2);
    assert_int_equal(orders->both_4xx_different, 2);
    double up = sdiff_report_wilson_upper(3, 98, 1.96);
    assert_true(orders->mismatch_upper > up - 1e-9 && orders->mismatch_upper < up + 1e-9);
    assert_int_equal(orders->verdict, SDIFF_REPORT_BLOCKED);
    assert_int_equal(orders->nreasons, 2);
    assert_non_null(strstr(orders->reasons[0], "mismatch lower bound 1.05% > 1.00% (3 of 98"));
    assert_non_null(strstr(orders->reasons[1], "both sides answered 4xx: mismatch lower bound"));
    /* 2 of the differents had primary 400: no 5xx */
    assert_true(orders->primary_5xx_rate == 0);

    const struct sdiff_report_endpoint *slow = endpoint(r, "GET", "/slow");
    assert_int_equal(slow->verdict, SDIFF_REPORT_BLOCKED);
    assert_true(slow->p99_ratio == 3.0);
    assert_int_equal(slow->nreasons, 1);
    assert_non_null(strstr(slow->reasons[0], "p99 latency: candidate's lower bound 30.0 ms > 1.50 x primary's upper bound 10.0 ms"));

    const struct sdiff_report_endpoint *flaky = endpoint(r, "GET", "/flaky");
    assert_int_equal(flaky->samples, 425);
    assert_int_equal(flaky->errors, 20);
    assert_int_equal(flaky->skipped, 5);
    assert_int_equal(flaky->judged, 400);
    assert_int_equal(flaky->unjudged, 25);
    assert_int_equal(flaky->replayed, 420);
    assert_true(flaky->transport_error_rate == 20.0 / 420);
    assert_true(flaky->candidate_error_rate == 20.0 / 420);
    assert_int_equal(flaky->verdict, SDIFF_REPORT_BLOCKED);
    /* latency counts every result with a candidate_ms, errors too (their 5000 ms timeouts) */
    assert_int_equal(flaky->candidate.n, 420);
    assert_true(flaky->candidate.p99 == 5000);
    assert_int_equal(flaky->nreasons, 2);
    assert_non_null(strstr(flaky->reasons[0], "error increase lower bound 2."));
    assert_non_null(strstr(flaky->reasons[1], "p99 latency: candidate's lower bound 5000.0 ms"));

    assert_int_equal(r->nready, 1);
    assert_int_equal(r->nblocked, 3);
    assert_int_equal(r->ninsufficient, 1);
    assert_false(r->pass);
    assert_int_equal(r->verdict, SDIFF_REPORT_FAIL);
    assert_int_equal(r->totals.samples, 3 + 3000 + 100 + 500 + 425);
    sdiff_report_free(r);
}

static void test_report__latest_run_passes_with_insufficient_data(void **state)
{
    (void)state;
    struct sdiff_report *r = build(0);
    assert_int_equal(r->run_id, run_pass);
    assert_int_equal(r->nendpoints, 2);
    assert_int_equal(r->ninsufficient, 1);
    assert_true(r->pass);
    assert_int_equal(r->verdict, SDIFF_REPORT_PASS);
    /* 0 differences in 3: not ready, but the run's bound over 3003 covers it */
    assert_true(endpoint(r, "GET", "/tiny")->covered);
    sdiff_report_free(r);

    /* thresholds: --min-samples 2 makes /tiny count, but 0 differences in 3 only means too
     * few samples to bound the rate under 1%: insufficient data, not blocked; a loose bound
     * (--max-mismatch 0.6, and the same for the error increase) makes it ready */
    struct sdiff_report_thresholds th = SDIFF_REPORT_THRESHOLDS_INIT;
    struct sdiff_err err = {0};
    th.min_samples = 2;
    assert_int_equal(sdiff_report_build(&r, dbpath, 0, &th, &err), SDIFF_OK);
    assert_true(r->pass);
    const struct sdiff_report_endpoint *tiny = endpoint(r, "GET", "/tiny");
    assert_int_equal(tiny->verdict, SDIFF_REPORT_INSUFFICIENT);
    assert_non_null(strstr(tiny->reasons[0], "about 381 needed"));
    sdiff_report_free(r);
    th.max_mismatch = 0.6;
    th.max_error_increase = 0.6;
    assert_int_equal(sdiff_report_build(&r, dbpath, 0, &th, &err), SDIFF_OK);
    assert_int_equal(endpoint(r, "GET", "/tiny")->verdict, SDIFF_REPORT_READY);
    sdiff_report_free(r);
}

static void test_report__clusters_ranked_by_count(void **state)
{
    (void)state;
    struct sdiff_report *r = build(run_mixed);
    assert_int_equal(r->nclusters, 2);
    const struct sdiff_report_cluster *a = &r->clusters[0], *b = &r->clusters[1];
    assert_string_equal(a->method, "POST");
    assert_string_equal(a->route, "/orders");
    assert_string_equal(a->signature, "$.items[*].price changed");
    assert_int_equal(a->count, 3);
    assert_int_equal(a->nexamples, 3);
    assert_int_equal(a->examples[0], first_price_id);
    assert_int_equal(a->examples[1], first_price_id + 2);
    assert_int_equal(a->examples[2], first_price_id + 4);
    assert_int_equal(a->first_us, T0 + 2000000);
    assert_int_equal(a->last_us, T0 + 7000000);
    assert_string_equal(a->sample_path, "$.items[0].price");
    assert_string_equal(a->sample_primary, "1.5");
    assert_string_equal(a->sample_candidate, "\"1.50\"");
    assert_string_equal(b->signature, "$.error missing; status changed 400->422");
    assert_int_equal(b->count, 2);
    assert_int_equal(b->first_us, T0 + 1000000);
    sdiff_report_free(r);
}

static void test_report__json_schema(void **state)
{
    (void)state;
    struct sdiff_report *r = build(run_mixed);
    char *s = render(r, SDIFF_REPORT_JSON);
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    if (j == NULL)
        fail_msg("json: %s", je.text);
    static const char *const top[] = {"run", "totals", "endpoints", "clusters", "verdict",
                                      "thresholds"};
    for (size_t i = 0; i < sizeof top / sizeof *top; i++)
        assert_non_null(json_object_get(j, top[i]));
    assert_string_equal(json_string_value(json_object_get(j, "verdict")), "fail");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "run"), "id")),
                     run_mixed);
    json_t *eps = json_object_get(j, "endpoints");
    assert_int_equal(json_array_size(eps), 5);
    static const char *const keys[] = {"method", "route", "samples", "identical", "equivalent",
                                       "different", "errors", "skipped", "parity",
                                       "byte_parity", "mismatch_upper", "latency",
                                       "error_rates", "verdict", "reasons"};
    size_t i;
    json_t *e;
    json_array_foreach(eps, i, e) {
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
            if (json_object_get(e, keys[k]) == NULL)
                fail_msg("endpoint %zu has no %s", i, keys[k]);
        json_t *lat = json_object_get(e, "latency");
        assert_non_null(json_object_get(json_object_get(lat, "primary"), "p99"));
        assert_non_null(json_object_get(json_object_get(lat, "candidate"), "p50"));
        assert_non_null(json_object_get(lat, "p99_ratio"));
    }
    json_t *slow = json_array_get(eps, 2);
    assert_string_equal(json_string_value(json_object_get(slow, "route")), "/slow");
    assert_string_equal(json_string_value(json_object_get(slow, "verdict")), "blocked");
    assert_true(json_real_value(json_object_get(json_object_get(slow, "latency"), "p99_ratio")) ==
                3.0);
    json_t *cl = json_array_get(json_object_get(j, "clusters"), 0);
    assert_string_equal(json_string_value(json_object_get(cl, "first_seen")),
                        "2024-05-01T12:00:02.000Z");
    assert_int_equal(json_integer_value(json_object_get(cl, "count")), 3);
    assert_true(json_is_object(json_object_get(cl, "sample")));
    assert_true(json_real_value(json_object_get(json_object_get(j, "thresholds"), "max_mismatch")) ==
                0.01);
    json_decref(j);
    free(s);
    sdiff_report_free(r);
}

static void test_report__junit_text_markdown(void **state)
{
    (void)state;
    struct sdiff_report *r = build(run_mixed);
    char *x = render(r, SDIFF_REPORT_JUNIT);
    /* five endpoints and the run's own case, which fails with the run */
    assert_int_equal(count_substr(x, "<testcase "), 5 + 1);
    assert_int_equal(count_substr(x, "<failure "), 3 + 1);
    assert_int_equal(count_substr(x, "<skipped "), 1);
    assert_non_null(strstr(x, "name=\"run verdict\">\n      <failure message=\"fail: "));
    assert_non_null(strstr(x, "tests=\"6\" failures=\"4\""));
    assert_non_null(strstr(x, "name=\"POST /orders\""));
    free(x);

    char *t = render(r, SDIFF_REPORT_TEXT);
    assert_non_null(strstr(t, "insufficient data"));
    assert_non_null(strstr(t, "$.items[*].price changed"));
    assert_non_null(strstr(t, "verdict: FAIL"));
    assert_null(strstr(t, "\033["));
    free(t);

    char *m = render(r, SDIFF_REPORT_MARKDOWN);
    assert_non_null(strstr(m, "| Endpoint |"));
    assert_non_null(strstr(m, "| `GET /ok` | 3000 | 100.00% |"));
    assert_non_null(strstr(m, "1. **3×** `POST /orders`"));
    free(m);
    sdiff_report_free(r);
}

static void test_report__errors(void **state)
{
    (void)state;
    struct sdiff_report *r = NULL;
    struct sdiff_err err = {0};
    char path[600];
    snprintf(path, sizeof path, "%s/missing.db", tmpdir);
    assert_int_equal(sdiff_report_build(&r, path, 0, NULL, &err), SDIFF_EIO);
    assert_null(r);
    sdiff_err_clear(&err);
    assert_int_equal(sdiff_report_build(&r, dbpath, 999, NULL, &err), SDIFF_EINVAL);
    assert_non_null(strstr(err.msg, "no run 999"));
    sdiff_err_clear(&err);
    snprintf(path, sizeof path, "%s/not.db", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("this is not sqlite, not at all, no sir, not a database file", f);
    fclose(f);
    assert_int_equal(sdiff_report_build(&r, path, 0, NULL, &err), SDIFF_EDB);
    assert_null(r);
}

static void test_report__many_varied_segments_merge_into_one_endpoint(void **state)
{
    (void)state;
    static const char *names[] = {"alice", "bob", "carol", "dave", "erin", "frank",
                                  "grace", "heidi", "ivan", "judy"};
    char path[600], route[64];
    snprintf(path, sizeof path, "%s/merge.db", tmpdir);
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    struct sdiff_store_opts opts = {0};
    int64_t run;
    assert_int_equal(sdiff_store_open(&st, path, &opts, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "replay", .candidate = "http://c"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &run, &err), SDIFF_OK);
    for (size_t i = 0; i < 10; i++) {
        snprintf(route, sizeof route, "GET /api/users/%s", names[i]);
        put_shape = "00000000000000a1"; /* every user answered alike */
        put_many(st, run, route, "identical", 5, 10, 11, 0);
        snprintf(route, sizeof route, "GET /api/users/%s/posts", names[i]);
        put_shape = "00000000000000b2";
        put_many(st, run, route, "identical", 4, 10, 11, 0);
    }
    put_many(st, run, "GET /static/app.css", "identical", 7, 1, 1, 0);
    put_many(st, run, "GET /static/app.js", "identical", 7, 1, 1, 0);
    put_shape = NULL;
    assert_int_equal(sdiff_store_end_run(st, run, "{}", &err), SDIFF_OK);
    sdiff_store_close(st);

    struct sdiff_report *r = NULL;
    assert_int_equal(sdiff_report_build(&r, path, run, NULL, &err), SDIFF_OK);
    const struct sdiff_report_endpoint *u = endpoint(r, "GET", "/api/users/{param}");
    const struct sdiff_report_endpoint *p = endpoint(r, "GET", "/api/users/{param}/posts");
    assert_non_null(u);
    assert_non_null(p);
    assert_int_equal(u->samples, 50);
    assert_int_equal(p->samples, 40);
    assert_int_equal(u->primary.n, 50); /* latencies follow the merged endpoint */
    /* two distinct values are not "many": those stay apart */
    assert_non_null(endpoint(r, "GET", "/static/app.css"));
    assert_non_null(endpoint(r, "GET", "/static/app.js"));
    assert_int_equal(r->nendpoints, 4);
    sdiff_report_free(r);
}

/*
 * Siblings are merged for answering alike, never for how many there are: eight collections
 * under one prefix (each its own shape) stay eight endpoints, and twelve made-up paths the
 * primary answers 404 neither merge nor swallow a broken endpoint beside them.
 */
static void test_report__siblings_merge_only_when_answered_alike(void **state)
{
    (void)state;
    char path[600], route[64], shape[17];
    snprintf(path, sizeof path, "%s/siblings.db", tmpdir);
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    struct sdiff_store_opts opts = {0};
    int64_t run;
    assert_int_equal(sdiff_store_open(&st, path, &opts, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "replay", .candidate = "http://c"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &run, &err), SDIFF_OK);
    static const char *colls[] = {"amount", "big", "events", "fees", "gifts", "hooks", "items",
                                  "jobs"};
    for (size_t i = 0; i < 8; i++) {
        snprintf(route, sizeof route, "GET /api/%s/{id}", colls[i]);
        snprintf(shape, sizeof shape, "%016zx", i + 1);
        put_shape = shape;
        put_many(st, run, route, "identical", 40, 10, 11, 0);
    }
    /* a broken endpoint, and a flood of made-up siblings the primary does not know */
    put_shape = "00000000000000c3";
    put_many(st, run, "GET /api/orders", "different", 60, 10, 11, 0);
    put_status = 404;
    put_shape = "0000000000000404";
    for (int i = 0; i < 12; i++) {
        snprintf(route, sizeof route, "GET /api/zz%d", i);
        put_many(st, run, route, "identical", 1000, 1, 1, 0);
    }
    put_status = 200;
    put_shape = NULL;
    assert_int_equal(sdiff_store_end_run(st, run, "{}", &err), SDIFF_OK);
    sdiff_store_close(st);

    struct sdiff_report *r = NULL;
    assert_int_equal(sdiff_report_build(&r, path, run, NULL, &err), SDIFF_OK);
    for (size_t i = 0; i < 8; i++) {
        snprintf(route, sizeof route, "/api/%s/{id}", colls[i]);
        assert_int_equal(endpoint(r, "GET", route)->samples, 40);
    }
    const struct sdiff_report_endpoint *orders = endpoint(r, "GET", "/api/orders");
    assert_int_equal(orders->samples, 60);
    assert_int_equal(orders->verdict, SDIFF_REPORT_BLOCKED);
    assert_int_equal(r->nendpoints, 8 + 1 + 12);
    assert_int_equal(r->verdict, SDIFF_REPORT_FAIL);
    sdiff_report_free(r);
}

/*
 * Dilution inside one route: 5000 requests both sides answer 404 alike cannot pull the
 * mismatch bound of the route's 200 answers (20 of 100 different) under the threshold.
 */
static void test_report__identical_4xx_answers_do_not_dilute_a_route(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/dilute.db", tmpdir);
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    struct sdiff_store_opts opts = {0};
    int64_t run;
    assert_int_equal(sdiff_store_open(&st, path, &opts, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "replay", .candidate = "http://c"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &run, &err), SDIFF_OK);
    put_many(st, run, "GET /api/orders/{id}", "identical", 80, 10, 11, 0);
    put_many(st, run, "GET /api/orders/{id}", "different", 20, 10, 11, 0);
    put_status = 404;
    put_many(st, run, "GET /api/orders/{id}", "identical", 5000, 1, 1, 0);
    put_status = 200;
    assert_int_equal(sdiff_store_end_run(st, run, "{}", &err), SDIFF_OK);
    sdiff_store_close(st);

    struct sdiff_report *r = NULL;
    assert_int_equal(sdiff_report_build(&r, path, run, NULL, &err), SDIFF_OK);
    const struct sdiff_report_endpoint *e = endpoint(r, "GET", "/api/orders/{id}");
    assert_int_equal(e->judged, 5100);
    assert_int_equal(e->both_4xx, 5000);
    /* 20 of 5100 would be a 0.39% rate, under a 1% bound; 20 of 100 is not */
    assert_int_equal(e->verdict, SDIFF_REPORT_BLOCKED);
    assert_true(e->mismatch_lower > 0.1);
    assert_non_null(strstr(e->reasons[0], "apart from those both sides answered 4xx"));
    assert_int_equal(r->verdict, SDIFF_REPORT_FAIL);
    char *json = render(r, SDIFF_REPORT_JSON);
    assert_non_null(strstr(json, "\"both_4xx\": {"));
    free(json);
    char *text = render(r, SDIFF_REPORT_TEXT);
    assert_non_null(strstr(text, "both sides answered 4xx to 5000 (0 different): judged apart"));
    free(text);
    sdiff_report_free(r);
}

/*
 * A result judged before one of its fields became noise keeps that field's difference row;
 * the clusters leave it out, so the same answers cluster alike whatever the judging order.
 */
static void test_report__clusters_leave_out_fields_learned_as_noise(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/late-noise.db", tmpdir);
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    struct sdiff_store_opts opts = {0};
    int64_t run;
    assert_int_equal(sdiff_store_open(&st, path, &opts, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "replay", .candidate = "http://c"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &run, &err), SDIFF_OK);
    static const char *early_paths[] = {"$.items[2].ts", "$.v"}, *late_paths[] = {"$.v"};
    static const char *kinds[] = {"changed", "changed"}, *pv[] = {"1", "1"}, *cv[] = {"2", "2"};
    static struct sdiff_msg ok = {.present = 1, .status = 200};
    for (int i = 0; i < 2; i++) {
        struct sdiff_result_rec r = {.run_id = run, .method = "GET", .route = "GET /n",
                                     .target = "/n", .cls = "different", .bytes_equal = 0,
                                     .primary_status = 200, .primary_ms = 1, .t_req_start = T0,
                                     .candidate = {.msg = &ok, .latency_ms = 1},
                                     .paths = i ? late_paths : early_paths, .kinds = kinds,
                                     .primary_values = pv, .candidate_values = cv,
                                     .ndiffs = i ? 1 : 2};
        put(st, &r, NULL);
    }
    struct sdiff_store_noise n = {.route = "GET /n", .key = "$.items[*].ts", .run_id = run,
                                  .source = "repeat", .pairs = 5, .clients = 3,
                                  .confidence = 0.5};
    assert_int_equal(sdiff_store_save_noise(st, &n, &err), SDIFF_OK);
    assert_int_equal(sdiff_store_end_run(st, run, "{}", &err), SDIFF_OK);
    sdiff_store_close(st);

    struct sdiff_report *r = NULL;
    assert_int_equal(sdiff_report_build(&r, path, run, NULL, &err), SDIFF_OK);
    assert_int_equal(r->nclusters, 1);
    assert_int_equal(r->clusters[0].count, 2);
    assert_null(strstr(r->clusters[0].signature, "ts"));
    assert_int_equal(r->nnoise, 1);
    sdiff_report_free(r);
}

/* A broken route merged into {param} with healthy siblings blocks the merged endpoint. */
static void test_report__a_blocked_member_blocks_its_merged_endpoint(void **state)
{
    (void)state;
    char path[600], route[64];
    snprintf(path, sizeof path, "%s/members.db", tmpdir);
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    struct sdiff_store_opts opts = {0};
    int64_t run;
    assert_int_equal(sdiff_store_open(&st, path, &opts, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "replay", .candidate = "http://c"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &run, &err), SDIFF_OK);
    put_shape = "00000000000000d4";
    for (int i = 0; i < 12; i++) {
        snprintf(route, sizeof route, "GET /api/users/user%c", 'a' + i);
        put_many(st, run, route, "identical", 300, 10, 11, 0);
    }
    put_many(st, run, "GET /api/users/mallory", "identical", 18, 10, 11, 0);
    put_many(st, run, "GET /api/users/mallory", "different", 12, 10, 11, 0);
    put_shape = NULL;
    assert_int_equal(sdiff_store_end_run(st, run, "{}", &err), SDIFF_OK);
    sdiff_store_close(st);

    struct sdiff_report *r = NULL;
    assert_int_equal(sdiff_report_build(&r, path, run, NULL, &err), SDIFF_OK);
    const struct sdiff_report_endpoint *u = endpoint(r, "GET", "/api/users/{param}");
    assert_int_equal(u->samples, 3630);
    assert_int_equal(u->nmembers, 13);
    /* 12 of 3630 alone would be under the bound; mallory's 12 of 30 is not */
    assert_true(u->mismatch_upper < 0.01);
    assert_int_equal(u->verdict, SDIFF_REPORT_BLOCKED);
    int named = 0;
    for (size_t k = 0; k < u->nreasons; k++)
        named |= strstr(u->reasons[k], "merged route GET /api/users/mallory: mismatch") != NULL;
    assert_true(named);
    assert_int_equal(r->verdict, SDIFF_REPORT_FAIL);
    sdiff_report_free(r);
}

/* The 4xx stratum judged apart can block, and with differences it cannot bound yet it
 * keeps the endpoint from ready: 1 of 30 both-4xx results different (too few to block)
 * beside 500 identical answers is insufficient data, not ready. */
static void test_report__an_unsettled_4xx_stratum_is_never_ready(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/stratum.db", tmpdir);
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    struct sdiff_store_opts opts = {0};
    int64_t run;
    assert_int_equal(sdiff_store_open(&st, path, &opts, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "replay", .candidate = "http://c"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &run, &err), SDIFF_OK);
    put_many(st, run, "GET /api/items/{id}", "identical", 500, 10, 11, 0);
    put_status = 404;
    put_many(st, run, "GET /api/items/{id}", "identical", 29, 1, 1, 0);
    put_many(st, run, "GET /api/items/{id}", "different", 1, 1, 1, 0);
    put_status = 200;
    assert_int_equal(sdiff_store_end_run(st, run, "{}", &err), SDIFF_OK);
    sdiff_store_close(st);
    struct sdiff_report *r = NULL;
    assert_int_equal(sdiff_report_build(&r, path, run, NULL, &err), SDIFF_OK);
    const struct sdiff_report_endpoint *e = endpoint(r, "GET", "/api/items/{id}");
    assert_int_equal(e->both_4xx, 30);
    assert_int_equal(e->both_4xx_different, 1);
    assert_int_equal(e->verdict, SDIFF_REPORT_INSUFFICIENT);
    assert_int_not_equal(r->verdict, SDIFF_REPORT_PASS);
    sdiff_report_free(r);
}

static void test_report__since_keeps_only_later_exchanges(void **state)
{
    (void)state;
    struct sdiff_report_thresholds th = SDIFF_REPORT_THRESHOLDS_INIT;
    struct sdiff_report *r = NULL;
    struct sdiff_err err = {0};
    th.since_us = T0 + 1500000; /* the differences were at +1, +2, +5, +7 and +9 s */
    assert_int_equal(sdiff_report_build(&r, dbpath, run_mixed, &th, &err), SDIFF_OK);
    const struct sdiff_report_endpoint *orders = endpoint(r, "POST", "/orders");
    assert_non_null(orders);
    assert_int_equal(orders->different, 4);
    assert_int_equal(orders->identical, 0); /* captured at T0 + i microseconds */
    size_t in_clusters = 0;
    for (size_t i = 0; i < r->nclusters; i++)
        in_clusters += r->clusters[i].count;
    assert_int_equal(in_clusters, 4);
    sdiff_report_free(r);
}

/* ---- a report built from rows, without a database ---------------------------------------- */

/* Rows of one run: two routes, a cluster of two different results, one waiver. */
static const struct sdiff_store_route_stats fake_stats[] = {
    {.route = "GET /a", .samples = 40, .identical = 38, .different = 2},
    {.route = "GET /b", .samples = 50, .identical = 45, .errors = 5, .candidate_failed = 5},
};
static const struct sdiff_store_difference fake_diffs[] = {
    {.result_id = 7, .route = "GET /a", .t_req_start = T0 + 2, .path = "$.n", .kind = "changed",
     .primary_value = "1", .candidate_value = "2"},
    {.result_id = 9, .route = "GET /a", .t_req_start = T0 + 1, .path = "$.n", .kind = "changed",
     .primary_value = "3", .candidate_value = "4"},
};

static int fake_get_run(void *src, int64_t run_id, struct sdiff_store_run *out,
                        struct sdiff_err *err)
{
    (void)src;
    memset(out, 0, sizeof *out);
    if (run_id != 0 && run_id != 5)
        return sdiff_err_set(err, SDIFF_EINVAL, "test", "no run %lld", (long long)run_id);
    out->id = 5;
    out->kind = sdiff_strdup("replay");
    out->candidate = sdiff_strdup("http://cand");
    return SDIFF_OK;
}

static int fake_each_route_stats(void *src, int64_t run_id, uint64_t since_us,
                                 int (*fn)(const struct sdiff_store_route_stats *s, void *ud,
                                           struct sdiff_err *err),
                                 void *ud, struct sdiff_err *err)
{
    (void)src, (void)since_us;
    assert_int_equal(run_id, 5);
    for (size_t i = 0; i < 2; i++) {
        int rc = fn(&fake_stats[i], ud, err);
        if (rc != SDIFF_OK)
            return rc < 0 ? rc : SDIFF_OK;
    }
    return SDIFF_OK;
}

static int fake_each_latency(void *src, int64_t run_id, uint64_t since_us,
                             int (*fn)(const struct sdiff_store_latency *l, void *ud,
                                       struct sdiff_err *err),
                             void *ud, struct sdiff_err *err)
{
    (void)src, (void)run_id, (void)since_us;
    /* GET /a: 1..40 ms on the primary, twice that on the candidate; GET /b: none */
    for (int i = 40; i >= 1; i--) {
        struct sdiff_store_latency l = {"GET /a", i, 2.0 * i};
        int rc = fn(&l, ud, err);
        if (rc < 0)
            return rc;
    }
    struct sdiff_store_latency none = {"GET /b", -1, -1};
    return fn(&none, ud, err) < 0 ? SDIFF_ERR : SDIFF_OK;
}

static int fake_each_different(void *src, int64_t run_id, uint64_t since_us,
                               int (*fn)(const struct sdiff_store_difference *d, void *ud,
                                         struct sdiff_err *err),
                               void *ud, struct sdiff_err *err)
{
    (void)src, (void)run_id, (void)since_us;
    for (size_t i = 0; i < 2; i++) {
        int rc = fn(&fake_diffs[i], ud, err);
        if (rc < 0)
            return rc;
    }
    return SDIFF_OK;
}

static int fake_each_difference(void *src, int64_t result_id,
                                int (*fn)(const struct sdiff_store_difference *d, void *ud,
                                          struct sdiff_err *err),
                                void *ud, struct sdiff_err *err)
{
    (void)src;
    for (size_t i = 0; i < 2; i++)
        if (fake_diffs[i].result_id == result_id) {
            int rc = fn(&fake_diffs[i], ud, err);
            return rc < 0 ? rc : SDIFF_OK;
        }
    return SDIFF_OK;
}

static int fake_each_waiver(void *src,
                            int (*fn)(const struct sdiff_store_waiver *w, void *ud,
                                      struct sdiff_err *err),
                            void *ud, struct sdiff_err *err)
{
    char id[13];
    (void)src;
    sdiff_report_cluster_id("GET /a", "$.n changed", id);
    struct sdiff_store_waiver w = {.cluster = id, .route = "GET /a", .signature = "$.n changed",
                                   .reason = "counter moved on"};
    int rc = fn(&w, ud, err);
    return rc < 0 ? rc : SDIFF_OK;
}

static const struct sdiff__report_source fake_source = {
    .get_run = fake_get_run,
    .each_route_stats = fake_each_route_stats,
    .each_latency = fake_each_latency,
    .each_different = fake_each_different,
    .each_difference = fake_each_difference,
    .each_waiver = fake_each_waiver,
};

static void test_report__built_from_rows_without_a_database(void **state)
{
    (void)state;
    struct sdiff_report *r = NULL;
    struct sdiff_err err = {0};
    struct sdiff_report_thresholds th = SDIFF_REPORT_THRESHOLDS_INIT;
    th.min_samples = 10;
    th.max_mismatch = 0.2;
    if (sdiff__report_build_from(&r, &fake_source, 0, &th, NULL, &err) < 0)
        fail_msg("build_from: %s", err.msg);
    assert_int_equal(r->run_id, 5);
    assert_string_equal(r->run_candidate, "http://cand");
    assert_int_equal(r->nendpoints, 2);
    const struct sdiff_report_endpoint *a = endpoint(r, "GET", "/a");
    assert_int_equal(a->judged, 40);
    assert_int_equal(a->different, 2);
    assert_int_equal(a->accepted, 2); /* the waiver covers the cluster */
    assert_int_equal(a->primary.n, 40);
    assert_true(a->primary.p50 == 20 && a->candidate.p50 == 40);
    assert_true(a->primary.p99 == 40 && a->candidate.p99 == 80);
    const struct sdiff_report_endpoint *b = endpoint(r, "GET", "/b");
    assert_int_equal(b->replayed, 50);
    assert_int_equal(b->candidate.n, 0);
    /* 5 candidate errors in 50: the error increase is 0.9%..19%, around the 1% threshold */
    assert_int_equal(b->verdict, SDIFF_REPORT_INSUFFICIENT);
    assert_int_equal(r->nclusters, 1);
    const struct sdiff_report_cluster *c = &r->clusters[0];
    assert_int_equal(c->count, 2);
    assert_int_equal(c->examples[0], 7);
    assert_int_equal(c->first_us, T0 + 1);
    assert_int_equal(c->last_us, T0 + 2);
    assert_string_equal(c->sample_path, "$.n");
    assert_string_equal(c->sample_primary, "1");
    assert_true(c->waived);
    assert_int_equal(r->nwaivers, 1);
    sdiff_report_free(r);

    assert_int_equal(sdiff__report_build_from(&r, &fake_source, 8, &th, NULL, &err),
                     SDIFF_EINVAL);
    assert_null(r);
}

static void test_report__running_run_is_in_progress(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/running.db", tmpdir);
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    struct sdiff_store_opts opts = {0};
    int64_t done, live;
    assert_int_equal(sdiff_store_open(&st, path, &opts, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "mirror", .candidate = "http://cand"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &done, &err), SDIFF_OK);
    put_many(st, done, "GET /ok", "identical", 40, 1, 1, 0);
    assert_int_equal(sdiff_store_end_run(st, done, "{}", &err), SDIFF_OK);
    assert_int_equal(sdiff_store_begin_run(st, &info, &live, &err), SDIFF_OK);
    put_many(st, live, "GET /ok", "identical", 40, 1, 1, 0);
    assert_int_equal(sdiff_store_commit(st, &err), SDIFF_OK); /* still running */
    struct sdiff_report *r = NULL;
    assert_int_equal(sdiff_report_build(&r, path, 0, NULL, &err), SDIFF_OK);
    assert_int_equal(r->run_id, live);
    assert_string_equal(r->run_state, "running");
    char *text = render(r, SDIFF_REPORT_TEXT), *json = render(r, SDIFF_REPORT_JSON);
    assert_non_null(strstr(text, ", in progress"));
    assert_non_null(strstr(json, "\"state\": \"running\""));
    free(text);
    free(json);
    sdiff_report_free(r);
    assert_int_equal(sdiff_report_build(&r, path, done, NULL, &err), SDIFF_OK);
    assert_string_equal(r->run_state, "finished");
    text = render(r, SDIFF_REPORT_TEXT);
    assert_null(strstr(text, "in progress"));
    free(text);
    sdiff_report_free(r);
    sdiff_store_close(st);
}

static void test_report__shell_quote(void **state)
{
    (void)state;
    struct sdiff_buf b;
    sdiff_buf_init(&b, 1024);
    assert_int_equal(sdiff_report_shell_quote(&b, "it's", 4), SDIFF_OK);
    assert_string_equal((char *)b.data, "'it'\\''s'");
    /* a terminal control: ANSI-C quoting, the same bytes for the shell, escapes on screen */
    sdiff_buf_reset(&b);
    assert_int_equal(sdiff_report_shell_quote(&b, "a'\\\x1b]0;t\x07\xc2\x9b\xe9\r", 13), SDIFF_OK);
    assert_string_equal((char *)b.data, "$'a\\'\\\\\\x1b]0;t\\x07\\xc2\\x9b\\xe9\\x0d'");
    sdiff_buf_dispose(&b);
}

static void test_report__cli_exit_codes(void **state)
{
    (void)state;
    char out[600], errp[600], missing[600], run_s[32], jpath[600];
    snprintf(out, sizeof out, "%s/out.txt", tmpdir);
    snprintf(errp, sizeof errp, "%s/err.txt", tmpdir);
    snprintf(missing, sizeof missing, "%s/nope.db", tmpdir);
    snprintf(jpath, sizeof jpath, "%s/report.json", tmpdir);
    snprintf(run_s, sizeof run_s, "%lld", (long long)run_mixed);
    char *bin = (char *)sdiff_test_bin();

    char *pass[] = {bin, "report", "--db", dbpath, NULL};
    assert_int_equal(run_bin(pass, out, errp), 0);
    char *s = slurp(out);
    assert_non_null(strstr(s, "verdict: PASS"));
    free(s);

    char *fail[] = {bin, "report", "--db", dbpath, "--run", run_s, "--format", "json",
                    "--out", jpath, NULL};
    assert_int_equal(run_bin(fail, out, errp), 1);
    /* reports are made to be shared: 0666 & ~umask, like any file a tool writes */
    mode_t um = umask(0);
    umask(um);
    struct stat sb;
    assert_int_equal(stat(jpath, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0666 & ~um);
    json_t *j = json_load_file(jpath, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "verdict")), "fail");
    json_decref(j);
    /* an existing file is replaced by a new one, never chmod'ed */
    assert_int_equal(chmod(jpath, 0600), 0);
    assert_int_equal(run_bin(fail, out, errp), 1);
    assert_int_equal(stat(jpath, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0666 & ~um);

    char *junit[] = {bin, "report", "--db", dbpath, "--run", run_s, "-f", "junit", NULL};
    assert_int_equal(run_bin(junit, out, errp), 1);
    s = slurp(out);
    assert_int_equal(count_substr(s, "<testcase "), 5 + 1); /* and the run verdict */
    free(s);

    char *nodb[] = {bin, "report", "--db", missing, NULL};
    assert_int_equal(run_bin(nodb, out, errp), 2);
    s = slurp(errp);
    assert_non_null(strstr(s, "shadowdiff: report: "));
    assert_int_equal(count_substr(s, "\n"), 1);
    free(s);

    char *badfmt[] = {bin, "report", "--db", dbpath, "--format", "yaml", NULL};
    assert_int_equal(run_bin(badfmt, out, errp), 2);
    char *badrate[] = {bin, "report", "--db", dbpath, "--max-mismatch", "x", NULL};
    assert_int_equal(run_bin(badrate, out, errp), 2);
}

static void test_report__cli_inspect(void **state)
{
    (void)state;
    char out[600], errp[600], id_s[32];
    snprintf(out, sizeof out, "%s/out.txt", tmpdir);
    snprintf(errp, sizeof errp, "%s/err.txt", tmpdir);
    snprintf(id_s, sizeof id_s, "%lld", (long long)first_price_id);
    char *bin = (char *)sdiff_test_bin();

    char *ok[] = {bin, "inspect", "--db", dbpath, id_s, NULL};
    assert_int_equal(run_bin(ok, out, errp), 0);
    char *s = slurp(out);
    assert_non_null(strstr(s, "curl "));
    assert_non_null(strstr(s, "$.items[0].price"));
    assert_non_null(strstr(s, "POST /orders?x=1"));
    assert_non_null(strstr(s, "note: prices became strings"));
    assert_non_null(strstr(s, "\"price\": 1.5")); /* primary body pretty-printed */
    assert_non_null(strstr(s, "-H 'X-Note: it'\\''s here'"));
    assert_non_null(strstr(s, "'http://cand.example:8080/orders?x=1'"));
    assert_non_null(strstr(s, "--data-raw '{\"sku\":\"a'\\''b\",\"qty\":2}'"));
    assert_null(strstr(s, "-H 'Host:"));
    assert_null(strstr(s, "-H 'Connection:"));
    free(s);

    char *missing[] = {bin, "inspect", "--db", dbpath, "987654", NULL};
    assert_int_equal(run_bin(missing, out, errp), 2);
    s = slurp(errp);
    char want[700];
    snprintf(want, sizeof want, "shadowdiff: inspect: no result 987654 in %s\n", dbpath);
    assert_string_equal(s, want);
    free(s);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report__wilson_bounds),
        cmocka_unit_test(test_report__counts_and_verdicts),
        cmocka_unit_test(test_report__latest_run_passes_with_insufficient_data),
        cmocka_unit_test(test_report__clusters_ranked_by_count),
        cmocka_unit_test(test_report__json_schema),
        cmocka_unit_test(test_report__junit_text_markdown),
        cmocka_unit_test(test_report__errors),
        cmocka_unit_test(test_report__many_varied_segments_merge_into_one_endpoint),
        cmocka_unit_test(test_report__siblings_merge_only_when_answered_alike),
        cmocka_unit_test(test_report__identical_4xx_answers_do_not_dilute_a_route),
        cmocka_unit_test(test_report__clusters_leave_out_fields_learned_as_noise),
        cmocka_unit_test(test_report__a_blocked_member_blocks_its_merged_endpoint),
        cmocka_unit_test(test_report__an_unsettled_4xx_stratum_is_never_ready),
        cmocka_unit_test(test_report__since_keeps_only_later_exchanges),
        cmocka_unit_test(test_report__built_from_rows_without_a_database),
        cmocka_unit_test(test_report__running_run_is_in_progress),
        cmocka_unit_test(test_report__shell_quote),
        cmocka_unit_test(test_report__cli_exit_codes),
        cmocka_unit_test(test_report__cli_inspect),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, build_db, remove_db);
}
