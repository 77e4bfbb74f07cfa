#include "sdiff_test.h"

#include <stdlib.h>
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
};
SDIFF_TEST_MAIN(tests)
