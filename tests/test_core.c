#include "sdiff_test.h"

#include <string.h>

static void test_core__buf_append_stops_at_max(void **state)
{
    (void)state;
    struct sdiff_buf b;
    sdiff_buf_init(&b, 8);
    assert_int_equal(sdiff_buf_append(&b, "abcde", 5), SDIFF_OK);
    assert_int_equal(sdiff_buf_append(&b, "fghi", 4), SDIFF_ELIMIT);
    assert_int_equal(b.len, 5);
    assert_int_equal(sdiff_buf_append(&b, "fgh", 3), SDIFF_OK);
    assert_string_equal((char *)b.data, "abcdefgh");
    sdiff_buf_consume(&b, 3);
    assert_string_equal((char *)b.data, "defgh");
    sdiff_buf_dispose(&b);
}

static void test_core__buf_printf_formats(void **state)
{
    (void)state;
    struct sdiff_buf b;
    sdiff_buf_init(&b, 1024);
    assert_int_equal(sdiff_buf_printf(&b, "%s=%d", "n", 42), SDIFF_OK);
    assert_string_equal((char *)b.data, "n=42");
    sdiff_buf_dispose(&b);
}

static void test_core__first_error_wins(void **state)
{
    (void)state;
    struct sdiff_err err = {0};
    sdiff_err_set(&err, SDIFF_EPARSE, "http1", "bad %s", "line");
    sdiff_err_set(&err, SDIFF_EIO, "store", "later");
    assert_int_equal(err.code, SDIFF_EPARSE);
    assert_string_equal(err.msg, "bad line");
}

static void test_core__reader_reports_truncation(void **state)
{
    (void)state;
    const uint8_t b[3] = {0x12, 0x34, 0x56};
    struct sdiff_rd r;
    sdiff_rd_init(&r, b, sizeof b);
    assert_int_equal(sdiff_rd_u16be(&r), 0x1234);
    assert_false(r.bad);
    assert_int_equal(sdiff_rd_u16be(&r), 0);
    assert_true(r.bad);
    assert_int_equal(sdiff_rd_left(&r), 0);
}

static void test_core__alloc_failure_injection(void **state)
{
    (void)state;
    sdiff_alloc_fail_after(1);
    void *a = sdiff_malloc(8);
    void *b = sdiff_malloc(8);
    assert_non_null(a);
    assert_null(b);
    assert_int_equal(sdiff_alloc_fail_after(-1), 2);
    sdiff_free(a);
}

static void test_core__slice_ieq_ignores_case(void **state)
{
    (void)state;
    assert_true(sdiff_slice_ieq(SDIFF_SLICE_LIT("Content-Length"), "content-length"));
    assert_false(sdiff_slice_ieq(SDIFF_SLICE_LIT("Content-Lengt"), "content-length"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_core__buf_append_stops_at_max),
    cmocka_unit_test(test_core__buf_printf_formats),
    cmocka_unit_test(test_core__first_error_wins),
    cmocka_unit_test(test_core__reader_reports_truncation),
    cmocka_unit_test(test_core__alloc_failure_injection),
    cmocka_unit_test(test_core__slice_ieq_ignores_case),
};
SDIFF_TEST_MAIN(tests)
