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

/* SipHash-2-4 as published, over the length-prefixed parts; keyed; parts keep their edges. */
static void test_core__siphash_is_keyed_and_separates_parts(void **state)
{
    (void)state;
    uint8_t key[16], other[16];
    for (int i = 0; i < 16; i++) {
        key[i] = (uint8_t)i;
        other[i] = (uint8_t)(i + 1);
    }
    /* one part of 7 bytes is the 15-byte message "07 00 00 00 00 00 00 00 08 .. 0e"; its
     * SipHash-2-4 under key 00..0f, from the paper's reference code (which gives the paper's
     * vectors a129ca6149be45e5 for 00..0e and 726fdb47dd0e0e31 for the empty message) */
    static const uint8_t seven[7] = {8, 9, 10, 11, 12, 13, 14};
    struct sdiff_slice one = {seven, 7};
    assert_true(sdiff_siphash(key, &one, 1) == 0x5ef910eb7ad2736full);
    struct sdiff_slice ab_c[2] = {SDIFF_SLICE_LIT("ab"), SDIFF_SLICE_LIT("c")};
    struct sdiff_slice a_bc[2] = {SDIFF_SLICE_LIT("a"), SDIFF_SLICE_LIT("bc")};
    assert_true(sdiff_siphash(key, ab_c, 2) != sdiff_siphash(key, a_bc, 2));
    assert_true(sdiff_siphash(key, ab_c, 2) == sdiff_siphash(key, ab_c, 2));
    assert_true(sdiff_siphash(key, ab_c, 2) != sdiff_siphash(other, ab_c, 2));
    struct sdiff_slice empty = {NULL, 0};
    assert_true(sdiff_siphash(key, &empty, 1) != sdiff_siphash(key, NULL, 0));
}

static void test_core__slice_ieq_ignores_case(void **state)
{
    (void)state;
    assert_true(sdiff_slice_ieq(SDIFF_SLICE_LIT("Content-Length"), "content-length"));
    assert_false(sdiff_slice_ieq(SDIFF_SLICE_LIT("Content-Lengt"), "content-length"));
}

static void expect_text(const char *in, size_t n, unsigned flags, const char *want)
{
    struct sdiff_buf b;
    sdiff_buf_init(&b, 4096);
    assert_int_equal(sdiff_buf_text(&b, in, n, flags), SDIFF_OK);
    assert_string_equal(b.data ? (const char *)b.data : "", want);
    sdiff_buf_dispose(&b);
}

static void test_core__text_escapes_every_terminal_control(void **state)
{
    (void)state;
    /* C0, DEL, CR; C1 as UTF-8 (CSI, OSC, ST) and as raw bytes; Latin-1; a cut sequence */
    static const char in[] = "a\x1b[2J\x07\r\n\t\x7f|\xc2\x9b" "31m\xc2\x9d" "0;t\xc2\x9c"
                             "\x9b\xe9t\xc3\xa9\xe2\x80\xae\xef\xbf\xbe\xe2\x82";
    expect_text(in, sizeof in - 1, 0,
                "a\\x1b[2J\\x07\\r\\n\\t\\x7f|\\u009b31m\\u009d0;t\\u009c\\x9b\\xe9t\xc3\xa9"
                "\\u202e\\ufffe\\xe2\\x82");
    expect_text("l1\r\nl2\tx", 8, SDIFF_TEXT_NL | SDIFF_TEXT_TAB, "l1\\r\nl2\tx");
    expect_text("a\\b\xe9\x1b\xc2\x9b", 7, SDIFF_TEXT_UTF8_ONLY, "a\\b\\xe9\x1b\xc2\x9b");
    expect_text("a\\x", 3, SDIFF_TEXT_BACKSLASH, "a\\\\x");
    assert_int_equal(sdiff_text_span("ok \xc3\xa9\xc2\x9b", 7, 0), 5);
}

static void test_core__json_c1_escapes_only_inside_the_given_range(void **state)
{
    (void)state;
    struct sdiff_buf b;
    sdiff_buf_init(&b, 4096);
    assert_int_equal(sdiff_buf_puts(&b, "\x7f|[\"\xc2\x9b\x7f\xc3\xa9\xc2\xa0\xc2\x85\"]"), SDIFF_OK);
    assert_int_equal(sdiff_buf_json_c1(&b, 2), SDIFF_OK);
    assert_string_equal((char *)b.data, "\x7f|[\"\\u009b\\u007f\xc3\xa9\xc2\xa0\\u0085\"]");
    sdiff_buf_dispose(&b);
}

static void test_core__time_parse_rfc3339_and_naive(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int ok, has_offset;
        long long secs;
        const char *frac;
    } rows[] = {
        {"1970-01-01T00:00:00Z", 1, 1, 0, ""},
        {"2026-12-07T10:00:00Z", 1, 1, 1796637600, ""},
        {"2026-12-07T10:00:00+00:00", 1, 1, 1796637600, ""},
        {"2026-12-07T12:00:00+02:00", 1, 1, 1796637600, ""},
        {"2026-12-07t08:30:00-01:30z", 0, 0, 0, ""},
        {"2026-12-07t08:30:00-01:30", 1, 1, 1796637600, ""},
        {"2026-12-07 10:00:00.120000z", 1, 1, 1796637600, "12"},
        {"2026-12-07T10:00:00.123456789Z", 1, 1, 1796637600, "123456789"},
        {"2026-12-07T10:00:00.000", 1, 0, 1796637600, ""},
        {"2024-02-29T00:00:00Z", 1, 1, 1709164800, ""},
        {"2023-02-29T00:00:00Z", 0, 0, 0, ""},
        {"2026-13-07T10:00:00Z", 0, 0, 0, ""},
        {"2026-12-07T24:00:00Z", 0, 0, 0, ""},
        {"2026-12-07T10:00:00.Z", 0, 0, 0, ""},
        {"2026-12-07T10:00:00+0200", 0, 0, 0, ""},
        {"2026-12-07", 0, 0, 0, ""},
        {"2026-12-07T10:00", 0, 0, 0, ""},
        {"2026-12-07T10:00:00.1234567890123456789Z", 0, 0, 0, ""},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct sdiff_time t;
        int ok = sdiff_time_parse(rows[i].s, strlen(rows[i].s), &t);
        if (ok != rows[i].ok)
            fail_msg("%s: parsed %d, expected %d", rows[i].s, ok, rows[i].ok);
        if (!ok)
            continue;
        if (t.has_offset != rows[i].has_offset || t.secs != rows[i].secs ||
            strcmp(t.frac, rows[i].frac) != 0)
            fail_msg("%s: offset %d secs %lld frac %s", rows[i].s, t.has_offset,
                     (long long)t.secs, t.frac);
    }
}

/* FNV-1a 64 as published (the reference vectors), and continuing from a state. */
static void test_core__fnv1a_matches_the_reference_vectors(void **state)
{
    (void)state;
    assert_true(sdiff_fnv1a(SDIFF_FNV_INIT, "", 0) == 0xcbf29ce484222325ull);
    assert_true(sdiff_fnv1a(SDIFF_FNV_INIT, "a", 1) == 0xaf63dc4c8601ec8cull);
    assert_true(sdiff_fnv1a(SDIFF_FNV_INIT, "foobar", 6) == 0x85944171f73967e8ull);
    assert_true(sdiff_fnv1a(sdiff_fnv1a(SDIFF_FNV_INIT, "foo", 3), "bar", 3) ==
                0x85944171f73967e8ull);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_core__buf_append_stops_at_max),
    cmocka_unit_test(test_core__buf_printf_formats),
    cmocka_unit_test(test_core__first_error_wins),
    cmocka_unit_test(test_core__reader_reports_truncation),
    cmocka_unit_test(test_core__alloc_failure_injection),
    cmocka_unit_test(test_core__slice_ieq_ignores_case),
    cmocka_unit_test(test_core__text_escapes_every_terminal_control),
    cmocka_unit_test(test_core__json_c1_escapes_only_inside_the_given_range),
    cmocka_unit_test(test_core__siphash_is_keyed_and_separates_parts),
    cmocka_unit_test(test_core__time_parse_rfc3339_and_naive),
    cmocka_unit_test(test_core__fnv1a_matches_the_reference_vectors),
};
SDIFF_TEST_MAIN(tests)
