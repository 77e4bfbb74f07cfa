#include "sdiff_test.h"

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

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_route__ids_become_parameters),
    cmocka_unit_test(test_route__words_and_query_stay_out),
};
SDIFF_TEST_MAIN(tests)
