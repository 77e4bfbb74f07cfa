#include "sdiff_test.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shadowdiff/route.h"

static void expect(const char *m, const char *t, const char *want)
{
    struct sdiff_buf b;
    sdiff_buf_init(&b, 4096);
    assert_int_equal(sdiff_route_template(m, t, &b), SDIFF_OK);
    assert_string_equal((char *)b.data, want);
    sdiff_buf_dispose(&b);
}

static void test_route__ids_become_parameters(void **state)
{
    (void)state;
    expect("GET", "/api/users/42", "GET /api/users/{id}");
    expect("GET", "/api/users/42/orders/7?x=1", "GET /api/users/{id}/orders/{id}");
    expect("DELETE", "/o/123e4567-e89b-12d3-a456-426614174000", "DELETE /o/{id}");
    expect("GET", "/blob/deadbeefdeadbeef00", "GET /blob/{id}");
    expect("GET", "/t/AbCdEfGhIjKlMnOpQrStUv12", "GET /t/{id}");
}

static void test_route__words_and_query_stay_out(void **state)
{
    (void)state;
    expect("GET", "/api/products?limit=1000", "GET /api/products");
    expect("GET", "/", "GET /");
    expect("GET", "?q=1", "GET /");
    expect("GET", "/api/v2/health", "GET /api/v2/health");
    expect("GET", "/files/report-final", "GET /files/report-final");
    expect("GET", "http://example.test/api/users/9", "GET /api/users/{id}");
}

/* The rule of README "Routes", one row per clause and its edges. */
static const struct {
    const char *seg;
    int id;
} SEGMENTS[] = {
    /* all digits */
    {"42", 1}, {"0", 1}, {"000123", 1}, {"12345678901234567890123", 1},
    /* UUIDs, either case */
    {"123e4567-e89b-12d3-a456-426614174000", 1}, {"123E4567-E89B-12D3-A456-426614174000", 1},
    {"123e4567-e89b-12d3-a456-42661417400", 1}, /* 35: a hex slug with digit and hyphen */
    {"123e4567e89b12d3a456426614174000", 1},     /* no hyphens: 32 hex digits */
    /* 8+ hex characters with a digit */
    {"3fa4b2c1", 1}, {"DEADBEEF0", 1}, {"deadbeef00", 1}, {"3fa4b2c", 0}, /* 7 */
    {"deadbeef", 0}, {"facade", 0}, {"decade", 0}, {"cafebabecafebabe", 0}, /* no digit */
    /* 16+ base64url characters with a digit and a letter */
    {"Xk3_pQ9vLm2-aB7z", 1}, {"AbCdEfGhIjKlMnOpQrStUv12", 1}, {"Xk3_pQ9vLm2-aB7", 0}, /* 15 */
    {"notification-settings", 0}, {"NotificationSettings", 0}, {"reset_password_form", 0},
    {"1234567890123456_", 0}, /* digits and an underscore: no letter, not a slug */
    {"dGhpcyBpcyBhIHRva2Vu=", 0}, /* '=' is not base64url */
    /* ISO dates, with a time or not */
    {"2026-12-07", 1}, {"2026-12-07T10:00:00Z", 1}, {"2026-12-07T10:00:00.123+02:00", 1},
    {"2026-13-07", 1}, /* not a date, but a slug with digits and hyphens */
    {"2026-12-07Tnoon", 0}, {"2026-12-07T25:00", 0},
    /* slugs [a-z0-9-] of 6+ with a digit and a hyphen */
    {"hello-world-2", 1}, {"order-9", 1}, {"s3-eu-1", 1}, {"a-1234", 1},
    {"a-123", 0},                                                   /* 5 */
    {"v2", 0}, {"oauth2", 0}, {"s3", 0}, {"ipv6only", 0}, {"http2", 0}, /* no hyphen */
    {"report-final", 0}, {"well-known", 0}, {"sign-in", 0},            /* no digit */
    {"Hello-World-2", 0}, /* capitals: not a slug, and too short for a token */
    /* words, and what is not an identifier at all */
    {"users", 0}, {"api", 0}, {"v1", 0}, {"me", 0}, {"alice", 0}, {"x.json", 0},
    {"alice%40example.test", 0}, {"{id}", 0}, {"", 0},
};

static void test_route__segments_follow_the_one_rule(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof SEGMENTS / sizeof SEGMENTS[0]; i++) {
        int got = sdiff_route_segment_is_id(SEGMENTS[i].seg, strlen(SEGMENTS[i].seg));
        if (got != SEGMENTS[i].id)
            fail_msg("segment \"%s\": %s, expected %s", SEGMENTS[i].seg, got ? "{id}" : "literal",
                     SEGMENTS[i].id ? "{id}" : "literal");
    }
}

static void test_route__templates_of_whole_paths(void **state)
{
    (void)state;
    static const char *const rows[][3] = {
        {"GET", "/api/v2/users/42", "GET /api/v2/users/{id}"},
        {"GET", "/oauth2/authorize", "GET /oauth2/authorize"},
        {"GET", "/buckets/s3/objects/3fa4b2c1d0", "GET /buckets/s3/objects/{id}"},
        {"GET", "/reports/2026-12-07/summary", "GET /reports/{id}/summary"},
        {"GET", "/posts/hello-world-2?ref=x", "GET /posts/{id}"},
        {"GET", "/share/Xk3_pQ9vLm2-aB7zQ1", "GET /share/{id}"},
        {"GET", "/settings/notification-settings", "GET /settings/notification-settings"},
        {"PUT", "/api/amount/7", "PUT /api/amount/{id}"},
        {"GET", "/api/users/alice", "GET /api/users/alice"},
        {"GET", "/api//users/", "GET /api//users/"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        expect(rows[i][0], rows[i][1], rows[i][2]);
}

static void expect_routed(const struct sdiff_routes *r, const char *m, const char *t,
                          const char *want)
{
    struct sdiff_buf b;
    sdiff_buf_init(&b, 4096);
    assert_int_equal(sdiff_routes_route(r, m, t, &b), SDIFF_OK);
    assert_string_equal((char *)b.data, want);
    sdiff_buf_dispose(&b);
}

static void test_route__explicit_templates_win_most_literal_first(void **state)
{
    (void)state;
    struct sdiff_routes *r;
    assert_int_equal(sdiff_routes_new(&r), SDIFF_OK);
    assert_int_equal(sdiff_routes_add(r, "GET /api/users/{name}", NULL), SDIFF_OK);
    assert_int_equal(sdiff_routes_add(r, "GET /api/users/me", NULL), SDIFF_OK);
    assert_int_equal(sdiff_routes_add(r, "* /files/{path}/raw", NULL), SDIFF_OK);
    /* a word that inference would keep literal becomes the parameter */
    expect_routed(r, "GET", "/api/users/alice?x=1", "GET /api/users/{name}");
    expect_routed(r, "GET", "/api/users/me", "GET /api/users/me");
    expect_routed(r, "DELETE", "/files/report/raw", "DELETE /files/{path}/raw");
    /* other methods and shapes fall back to inference */
    expect_routed(r, "POST", "/api/users/alice", "POST /api/users/alice");
    expect_routed(r, "GET", "/api/users/42/orders", "GET /api/users/{id}/orders");
    expect_routed(r, "GET", "/api/users/", "GET /api/users/");
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_routes_add(r, "/no-method", &err), SDIFF_EINVAL);
    sdiff_routes_free(r);
}

static void test_route__openapi_paths_and_server_prefix(void **state)
{
    (void)state;
    char path[] = "/tmp/sdiff-openapi-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char doc[] =
        "{\"openapi\": \"3.0.3\", \"servers\": [{\"url\": \"https://api.example.test/v2/\"}],"
        " \"paths\": {\"/shops/{shopId}/items/{sku}\": {\"get\": {}, \"put\": {}},"
        " \"/health\": {\"get\": {}}}}";
    assert_int_equal(write(fd, doc, sizeof doc - 1), (ssize_t)(sizeof doc - 1));
    close(fd);
    struct sdiff_routes *r;
    assert_int_equal(sdiff_routes_new(&r), SDIFF_OK);
    assert_int_equal(sdiff_routes_load_openapi(r, path, NULL), SDIFF_OK);
    assert_int_equal(sdiff_routes_count(r), 3);
    expect_routed(r, "GET", "/v2/shops/north/items/blue-mug", "GET /v2/shops/{shopId}/items/{sku}");
    expect_routed(r, "PUT", "/v2/shops/north/items/blue-mug", "PUT /v2/shops/{shopId}/items/{sku}");
    expect_routed(r, "GET", "/v2/health", "GET /v2/health");
    unlink(path);
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_routes_load_openapi(r, "/nonexistent.json", &err), SDIFF_EPARSE);
    sdiff_routes_free(r);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_route__explicit_templates_win_most_literal_first),
    cmocka_unit_test(test_route__openapi_paths_and_server_prefix),
    cmocka_unit_test(test_route__ids_become_parameters),
    cmocka_unit_test(test_route__words_and_query_stay_out),
    cmocka_unit_test(test_route__segments_follow_the_one_rule),
    cmocka_unit_test(test_route__templates_of_whole_paths),
};
SDIFF_TEST_MAIN(tests)
