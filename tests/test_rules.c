/*
 * test_rules.c - the config file: every mistake is one clear message, rules reach the
 * differ, route rules add to global ones, unused route rules are reported.
 */
#include "sdiff_test.h"

#include <string.h>

#include "shadowdiff/rules.h"

static void expect_error(const char *text, const char *needle)
{
    struct sdiff_rules *r = NULL;
    struct sdiff_err err = {0};
    int rc = sdiff_rules_parse(&r, text, strlen(text), "cfg.json", &err);
    assert_true(rc < 0);
    assert_null(r);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("expected '%s' in: %s", needle, err.msg);
    assert_null(strchr(err.msg, '\n'));
}

static void test_rules__mistakes_are_named(void **state)
{
    (void)state;
    expect_error("{\n  \"ignore_paths\": [\"$.a\",]\n}", "cfg.json:2:");
    expect_error("[]", "must be a JSON object");
    expect_error("{\"ignore_path\": []}", "ignore_path: unknown key");
    expect_error("{\"ignore_paths\": \"$.a\"}", "ignore_paths: must be an array");
    expect_error("{\"ignore_paths\": [\"$.a[\"]}", "cfg.json");
    expect_error("{\"text_masks\": [{\"pattern\": \"(\"}]}", "cfg.json");
    expect_error("{\"float_tolerance\": {\"absolut\": 1}}", "float_tolerance");
    expect_error("{\"routes\": {\"/api\": {}}}", "METHOD /route");
    expect_error("{\"routes\": {\"GET /a\": {\"allow\": 1}}}", "allow: must be true or false");
    expect_error("{\"routes\": {\"GET /a\": {\"ignore_paths\": [\"$.x\"], \"bogus\": 1}}}",
                 "routes[\"GET /a\"].bogus: unknown key");
    expect_error("{\"a\": 1, \"a\": 2}", "duplicate");
    expect_error("{\"redact_paths\": [\"password\"]}", "redact_paths: each path starts with '$'");
    expect_error("{\"redact_query\": [1]}", "redact_query: must be an array of non-empty strings");
    expect_error("{\"routes\": {\"GET /a\": {\"redact_paths\": [\"$.x\"]}}}",
                 "redact_paths: unknown key");
    expect_error("{\"preset\": \"python-rust\"}", "preset: must be \"python-go\"");
    expect_error("{\"preset\": 1}", "preset: must be \"python-go\"");
}

static void test_rules__privacy_keys_are_read(void **state)
{
    (void)state;
    const char *text = "{\"secret_headers\": [\"X-Internal-Token\"],"
                       " \"redact_paths\": [\"$.password\", \"$..secret\"],"
                       " \"redact_query\": [\"session_key\"]}";
    struct sdiff_rules *r = NULL;
    assert_int_equal(sdiff_rules_parse(&r, text, strlen(text), "cfg.json", NULL), SDIFF_OK);
    size_t n;
    const char *const *v = sdiff_rules_redact_paths(r, &n);
    assert_int_equal(n, 2);
    assert_string_equal(v[1], "$..secret");
    v = sdiff_rules_redact_query(r, &n);
    assert_int_equal(n, 1);
    assert_string_equal(v[0], "session_key");
    v = sdiff_rules_secret_headers(r, &n);
    assert_int_equal(n, 1);
    sdiff_rules_free(r);
}

static struct sdiff_msg body(const char *s)
{
    struct sdiff_msg m;
    assert_int_equal(sdiff_msg_read_response((const uint8_t *)s, strlen(s), 1 << 20, &m, NULL),
                     SDIFF_OK);
    return m;
}

static enum sdiff_class classify(struct sdiff_rules *r, const char *route, const char *a,
                                 const char *b)
{
    struct sdiff_differ *d;
    assert_int_equal(sdiff_rules_differ(r, route, &d, NULL), SDIFF_OK);
    struct sdiff_msg p = body(a), c = body(b);
    struct sdiff_diff_result res;
    assert_int_equal(sdiff_differ_compare(d, &p, &c, route, NULL, &res, NULL), SDIFF_OK);
    enum sdiff_class cls = res.cls;
    sdiff_diff_result_dispose(&res);
    sdiff_msg_dispose(&p);
    sdiff_msg_dispose(&c);
    return cls;
}

static void test_rules__global_and_route_rules_apply(void **state)
{
    (void)state;
    const char *cfg = "{\"ignore_paths\": [\"$.trace_id\"],"
                      " \"float_tolerance\": {\"absolute\": 0.01},"
                      " \"allow_methods\": [\"PUT\"],"
                      " \"routes\": {\"GET /api/report\": {\"ignore_paths\": [\"$.generated_at\"]},"
                      "              \"POST /api/orders\": {\"allow\": true},"
                      "              \"GET /never\": {}}}";
    struct sdiff_rules *r;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_rules_parse(&r, cfg, strlen(cfg), "cfg", &err), SDIFF_OK);
    assert_int_equal(classify(r, "GET /x", "{\"trace_id\":1,\"v\":1.000}", "{\"trace_id\":2,\"v\":1.004}"),
                     SDIFF_CLASS_EQUIVALENT);
    assert_int_equal(classify(r, "GET /x", "{\"generated_at\":1}", "{\"generated_at\":2}"),
                     SDIFF_CLASS_DIFFERENT);
    assert_int_equal(classify(r, "GET /api/report", "{\"generated_at\":1}",
                              "{\"generated_at\":2}"),
                     SDIFF_CLASS_EQUIVALENT);
    assert_true(sdiff_rules_method_allowed(r, "GET /x", "GET", NULL, 0));
    assert_true(sdiff_rules_method_allowed(r, "PUT /x", "PUT", NULL, 0));
    assert_false(sdiff_rules_method_allowed(r, "POST /x", "POST", NULL, 0));
    assert_true(sdiff_rules_method_allowed(r, "POST /api/orders", "POST", NULL, 0));
    const char *extra[] = {"delete"};
    assert_true(sdiff_rules_method_allowed(r, "DELETE /x", "DELETE", extra, 1));

    sdiff_rules_saw_route(r, "GET /api/report");
    sdiff_rules_saw_route(r, "POST /api/orders");
    struct sdiff_buf b;
    sdiff_buf_init(&b, 4096);
    assert_int_equal(sdiff_rules_unused(r, &b), 1);
    assert_non_null(strstr((char *)b.data, "GET /never"));
    sdiff_buf_dispose(&b);
    sdiff_rules_free(r);
}

/* Another thread's differs judge every route as the rules' own. */
static void test_rules__differs_of_another_thread_judge_alike(void **state)
{
    (void)state;
    const char *cfg = "{\"ignore_paths\": [\"$.trace_id\"],"
                      " \"routes\": {\"GET /api/report\": {\"ignore_paths\": [\"$.at\"]}}}";
    struct sdiff_rules *r;
    struct sdiff_rules_differs *ds = NULL;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_rules_parse(&r, cfg, strlen(cfg), "cfg", &err), SDIFF_OK);
    assert_int_equal(sdiff_rules_differs_new(&ds, r, &err), SDIFF_OK);
    struct sdiff_differ *own;
    assert_int_equal(sdiff_rules_differ(r, "GET /api/report", &own, NULL), SDIFF_OK);
    assert_ptr_not_equal(sdiff_rules_differs_get(ds, "GET /api/report"), own);
    const char *routes[] = {"GET /api/report", "GET /x"};
    for (int i = 0; i < 2; i++) {
        struct sdiff_msg p = body("{\"trace_id\":1,\"at\":1,\"v\":1}"),
                         c = body("{\"trace_id\":2,\"at\":2,\"v\":1}");
        struct sdiff_diff_result res;
        assert_int_equal(sdiff_differ_compare(sdiff_rules_differs_get(ds, routes[i]), &p, &c,
                                              routes[i], NULL, &res, NULL),
                         SDIFF_OK);
        assert_int_equal(res.cls, classify(r, routes[i], "{\"trace_id\":1,\"at\":1,\"v\":1}",
                                           "{\"trace_id\":2,\"at\":2,\"v\":1}"));
        assert_int_equal(res.cls, i == 0 ? SDIFF_CLASS_EQUIVALENT : SDIFF_CLASS_DIFFERENT);
        sdiff_diff_result_dispose(&res);
        sdiff_msg_dispose(&p);
        sdiff_msg_dispose(&c);
    }
    sdiff_rules_differs_free(ds);
    sdiff_rules_free(r);
}

static void test_rules__thresholds_are_read_and_checked(void **state)
{
    (void)state;
    const char *cfg = "{\"thresholds\": {\"max_mismatch\": 0.05, \"min_samples\": 100}}";
    struct sdiff_rules *r;
    double v = 0;
    assert_int_equal(sdiff_rules_parse(&r, cfg, strlen(cfg), "cfg", NULL), SDIFF_OK);
    assert_true(sdiff_rules_threshold(r, "max_mismatch", &v));
    assert_true(v == 0.05);
    assert_true(sdiff_rules_threshold(r, "min_samples", &v));
    assert_true(v == 100);
    assert_false(sdiff_rules_threshold(r, "max_p99_ratio", &v));
    sdiff_rules_free(r);
    expect_error("{\"thresholds\": {\"max_mismatch\": -1}}", "thresholds.max_mismatch");
    expect_error("{\"thresholds\": {\"p99\": 2}}", "thresholds.p99: unknown key");
}

/* The learned-noise rule's defaults can be changed in the config, and only sensibly. */
static void test_rules__learned_noise_rule_is_read_and_checked(void **state)
{
    (void)state;
    const char *cfg = "{\"learned_noise\": {\"pairs\": 8, \"pairs_volatile\": 4,"
                      " \"clients\": 5, \"span_s\": 2.5}}";
    struct sdiff_rules *r;
    assert_int_equal(sdiff_rules_parse(&r, cfg, strlen(cfg), "cfg", NULL), SDIFF_OK);
    const struct sdiff_noise_rule *n = sdiff_rules_noise_rule(r);
    assert_int_equal(n->pairs, 8);
    assert_int_equal(n->pairs_shaped, 4);
    assert_int_equal(n->clients, 5);
    assert_true(n->span_s == 2.5);
    sdiff_rules_free(r);
    /* without the key: all 0, the learner's defaults */
    assert_int_equal(sdiff_rules_parse(&r, "{}", 2, "cfg", NULL), SDIFF_OK);
    assert_int_equal(sdiff_rules_noise_rule(r)->pairs, 0);
    sdiff_rules_free(r);
    expect_error("{\"learned_noise\": {\"pairs\": 0}}", "learned_noise.pairs");
    expect_error("{\"learned_noise\": {\"clients\": 1.5}}", "learned_noise.clients");
    expect_error("{\"learned_noise\": {\"span_s\": 0}}", "learned_noise.span_s");
    expect_error("{\"learned_noise\": {\"k\": 3}}", "learned_noise.k: unknown key");
    expect_error("{\"learned_noise\": 5}", "learned_noise");
}

static void test_rules__missing_file_is_reported(void **state)
{
    (void)state;
    struct sdiff_rules *r;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_rules_load(&r, "/nonexistent/cfg.json", &err), SDIFF_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/cfg.json"));
    assert_int_equal(sdiff_rules_load(&r, NULL, NULL), SDIFF_OK);
    sdiff_rules_free(r);
}

/* "preset" in the config, or set afterwards (--preset), reaches every differ. */
static void test_rules__preset_reaches_every_differ(void **state)
{
    (void)state;
    const char *cfg = "{\"preset\": \"python-go\", \"routes\": {\"GET /a\": {}}}";
    const char *t1 = "{\"t\":\"2026-12-07T10:00:00+00:00\"}", *t2 = "{\"t\":\"2026-12-07T10:00:00Z\"}";
    struct sdiff_rules *r;
    assert_int_equal(sdiff_rules_parse(&r, cfg, strlen(cfg), "cfg", NULL), SDIFF_OK);
    assert_int_equal(sdiff_rules_preset(r), SDIFF_PRESET_PYTHON_GO);
    assert_int_equal(classify(r, "GET /x", t1, t2), SDIFF_CLASS_EQUIVALENT);
    assert_int_equal(classify(r, "GET /a", t1, t2), SDIFF_CLASS_EQUIVALENT);
    assert_int_equal(sdiff_rules_set_preset(r, SDIFF_PRESET_NONE, NULL), SDIFF_OK);
    assert_int_equal(classify(r, "GET /a", t1, t2), SDIFF_CLASS_DIFFERENT);
    sdiff_rules_free(r);
    assert_int_equal(sdiff_rules_parse(&r, "{}", 2, "cfg", NULL), SDIFF_OK);
    assert_int_equal(classify(r, "GET /x", t1, t2), SDIFF_CLASS_DIFFERENT);
    assert_int_equal(sdiff_rules_set_preset(r, SDIFF_PRESET_PYTHON_GO, NULL), SDIFF_OK);
    assert_int_equal(classify(r, "GET /x", t1, t2), SDIFF_CLASS_EQUIVALENT);
    sdiff_rules_free(r);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rules__preset_reaches_every_differ),
    cmocka_unit_test(test_rules__mistakes_are_named),
    cmocka_unit_test(test_rules__privacy_keys_are_read),
    cmocka_unit_test(test_rules__global_and_route_rules_apply),
    cmocka_unit_test(test_rules__differs_of_another_thread_judge_alike),
    cmocka_unit_test(test_rules__thresholds_are_read_and_checked),
    cmocka_unit_test(test_rules__missing_file_is_reported),
    cmocka_unit_test(test_rules__learned_noise_rule_is_read_and_checked),
};
SDIFF_TEST_MAIN(tests)
