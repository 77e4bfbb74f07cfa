/*
 * test_codec.c - content decoding: gzip, deflate (wrapped and raw), br, chains, corrupt and
 * cut-short data, and decompression bombs stopped at the limit.
 */
#include "sdiff_test.h"

#include <stdlib.h>
#include <string.h>
#include <brotli/encode.h>
#include <zlib.h>

#include "shadowdiff/codec.h"

/* Compress with windowBits wb (31 gzip, 15 zlib, -15 raw); caller frees. */
static uint8_t *squeeze(const void *in, size_t n, int wb, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, wb, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&zs, (uLong)n) + 64;
    uint8_t *out = malloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

/* Compress with brotli at quality q (the real encoder Python's brotli module wraps). */
static uint8_t *brotli_squeeze(const void *in, size_t n, int q, size_t *out_len)
{
    size_t cap = BrotliEncoderMaxCompressedSize(n);
    uint8_t *out = malloc(cap);
    *out_len = cap;
    assert_true(BrotliEncoderCompress(q, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, n, in,
                                      out_len, out));
    return out;
}

static void expect_decoded(const char *enc, const uint8_t *z, size_t zn, const char *want)
{
    struct sdiff_buf out;
    sdiff_buf_init(&out, 0);
    enum sdiff_codec_result res;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_codec_decode(enc, (struct sdiff_slice){z, zn}, 1 << 20, &out, &res,
                                        &err),
                     SDIFF_OK);
    assert_int_equal(res, SDIFF_CODEC_DECODED);
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    sdiff_buf_dispose(&out);
}

static const char BODY[] = "{\"items\":[{\"id\":1,\"name\":\"caf\xc3\xa9\"},{\"id\":2}]}";

static void test_codec__gzip_and_both_deflates_decode(void **state)
{
    (void)state;
    size_t n;
    uint8_t *z = squeeze(BODY, strlen(BODY), 31, &n);
    expect_decoded("gzip", z, n, BODY);
    expect_decoded("x-gzip", z, n, BODY);
    expect_decoded("GZIP", z, n, BODY);
    free(z);
    z = squeeze(BODY, strlen(BODY), 15, &n);
    expect_decoded("deflate", z, n, BODY);
    free(z);
    z = squeeze(BODY, strlen(BODY), -15, &n);
    expect_decoded("deflate", z, n, BODY);
    free(z);
}

static void test_codec__chain_is_undone_right_to_left(void **state)
{
    (void)state;
    size_t n1, n2;
    uint8_t *d = squeeze(BODY, strlen(BODY), 15, &n1);
    uint8_t *g = squeeze(d, n1, 31, &n2);
    expect_decoded("deflate, gzip", g, n2, BODY);
    expect_decoded("identity, deflate, gzip", g, n2, BODY);
    free(d);
    free(g);
}

static void test_codec__identity_and_unknown_leave_body_alone(void **state)
{
    (void)state;
    struct sdiff_buf out;
    sdiff_buf_init(&out, 0);
    enum sdiff_codec_result res;
    struct sdiff_slice b = {(const uint8_t *)"abc", 3};
    assert_int_equal(sdiff_codec_decode(NULL, b, 100, &out, &res, NULL), SDIFF_OK);
    assert_int_equal(res, SDIFF_CODEC_IDENTITY);
    assert_int_equal(sdiff_codec_decode("identity", b, 100, &out, &res, NULL), SDIFF_OK);
    assert_int_equal(res, SDIFF_CODEC_IDENTITY);
    assert_int_equal(sdiff_codec_decode("zstd", b, 100, &out, &res, NULL), SDIFF_OK);
    assert_int_equal(res, SDIFF_CODEC_UNSUPPORTED);
    assert_int_equal(out.len, 0);
    sdiff_buf_dispose(&out);
}

static void test_codec__corrupt_and_cut_short_are_parse_errors(void **state)
{
    (void)state;
    size_t n;
    uint8_t *z = squeeze(BODY, strlen(BODY), 31, &n);
    struct sdiff_buf out;
    enum sdiff_codec_result res;
    for (size_t cut = 0; cut < n; cut++) {
        struct sdiff_err err = {0};
        sdiff_buf_init(&out, 0);
        int rc = sdiff_codec_decode("gzip", (struct sdiff_slice){z, cut}, 1 << 20, &out, &res,
                                    &err);
        assert_int_equal(rc, SDIFF_EPARSE);
        assert_non_null(strstr(err.msg, "gzip"));
        sdiff_buf_dispose(&out);
    }
    z[n / 2] ^= 0x55;
    sdiff_buf_init(&out, 0);
    assert_true(sdiff_codec_decode("gzip", (struct sdiff_slice){z, n}, 1 << 20, &out, &res,
                                   NULL) < 0);
    sdiff_buf_dispose(&out);
    free(z);
}

static void test_codec__bomb_stops_at_the_limit(void **state)
{
    (void)state;
    /* 64 MiB of zeros squeeze to about 64 KiB; the limit is 1 MiB. */
    size_t big = 64u << 20, n;
    uint8_t *zeros = calloc(1, big);
    uint8_t *z = squeeze(zeros, big, 31, &n);
    free(zeros);
    assert_true(n < big / 100);
    struct sdiff_buf out;
    sdiff_buf_init(&out, 0);
    enum sdiff_codec_result res;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_codec_decode("gzip", (struct sdiff_slice){z, n}, 1 << 20, &out, &res,
                                        &err),
                     SDIFF_ELIMIT);
    assert_true(out.cap <= (1u << 20) + 1);
    assert_non_null(strstr(err.msg, "bomb"));
    sdiff_buf_dispose(&out);
    /* Exactly at the limit is fine. */
    size_t exact = 1u << 20;
    zeros = calloc(1, exact);
    free(z);
    z = squeeze(zeros, exact, 31, &n);
    free(zeros);
    sdiff_buf_init(&out, 0);
    assert_int_equal(sdiff_codec_decode("gzip", (struct sdiff_slice){z, n}, exact, &out, &res,
                                        NULL),
                     SDIFF_OK);
    assert_int_equal(out.len, exact);
    sdiff_buf_dispose(&out);
    free(z);
}

static void test_codec__br_decodes_alone_and_in_chains(void **state)
{
    (void)state;
    size_t n, g;
    uint8_t *b = brotli_squeeze(BODY, strlen(BODY), 11, &n);
    expect_decoded("br", b, n, BODY);
    expect_decoded("BR", b, n, BODY);
    expect_decoded("identity, br", b, n, BODY);
    /* br applied after gzip: undone first */
    uint8_t *z = squeeze(BODY, strlen(BODY), 31, &g);
    free(b);
    b = brotli_squeeze(z, g, 5, &n);
    expect_decoded("gzip, br", b, n, BODY);
    free(b);
    free(z);
    /* an empty body is a one-byte stream */
    b = brotli_squeeze("", 0, 11, &n);
    struct sdiff_buf out;
    sdiff_buf_init(&out, 0);
    enum sdiff_codec_result res;
    assert_int_equal(sdiff_codec_decode("br", (struct sdiff_slice){b, n}, 100, &out, &res, NULL),
                     SDIFF_OK);
    assert_int_equal(res, SDIFF_CODEC_DECODED);
    assert_int_equal(out.len, 0);
    sdiff_buf_dispose(&out);
    free(b);
}

static void test_codec__br_corrupt_cut_short_or_trailing_is_parse_error(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = brotli_squeeze(BODY, strlen(BODY), 11, &n);
    struct sdiff_buf out;
    enum sdiff_codec_result res;
    for (size_t cut = 0; cut < n; cut++) {
        struct sdiff_err err = {0};
        sdiff_buf_init(&out, 0);
        int rc = sdiff_codec_decode("br", (struct sdiff_slice){b, cut}, 1 << 20, &out, &res,
                                    &err);
        assert_int_equal(rc, SDIFF_EPARSE);
        assert_non_null(strstr(err.msg, "br data"));
        sdiff_buf_dispose(&out);
    }
    /* a byte after the end of the stream */
    uint8_t *longer = malloc(n + 1);
    memcpy(longer, b, n);
    longer[n] = 'x';
    struct sdiff_err err = {0};
    sdiff_buf_init(&out, 0);
    assert_int_equal(sdiff_codec_decode("br", (struct sdiff_slice){longer, n + 1}, 1 << 20, &out,
                                        &res, &err),
                     SDIFF_EPARSE);
    assert_non_null(strstr(err.msg, "after the end"));
    sdiff_buf_dispose(&out);
    free(longer);
    /* garbage: a one-line lowercase reason */
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    sdiff_err_clear(&err);
    sdiff_buf_init(&out, 0);
    assert_int_equal(sdiff_codec_decode("br", (struct sdiff_slice){junk, sizeof junk}, 1 << 20,
                                        &out, &res, &err),
                     SDIFF_EPARSE);
    assert_non_null(strstr(err.msg, "br data is corrupt: "));
    assert_null(strchr(err.msg, '_'));
    sdiff_buf_dispose(&out);
    free(b);
}

static void test_codec__br_bomb_stops_at_the_limit(void **state)
{
    (void)state;
    /* 64 MiB of zeros are a few dozen bytes of brotli; the limit is 1 MiB. */
    size_t big = 64u << 20, n;
    uint8_t *zeros = calloc(1, big);
    uint8_t *b = brotli_squeeze(zeros, big, 5, &n);
    assert_true(n < 4096);
    struct sdiff_buf out;
    sdiff_buf_init(&out, 0);
    enum sdiff_codec_result res;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_codec_decode("br", (struct sdiff_slice){b, n}, 1 << 20, &out, &res,
                                        &err),
                     SDIFF_ELIMIT);
    assert_true(out.cap <= (1u << 20) + 1);
    assert_non_null(strstr(err.msg, "bomb"));
    sdiff_buf_dispose(&out);
    /* the same bomb inside a chain stops at the inner layer */
    sdiff_err_clear(&err);
    sdiff_buf_init(&out, 0);
    assert_int_equal(sdiff_codec_decode("br, identity", (struct sdiff_slice){b, n}, 1 << 20,
                                        &out, &res, &err),
                     SDIFF_ELIMIT);
    sdiff_buf_dispose(&out);
    free(b);
    /* exactly at the limit is fine, one byte below is over */
    size_t exact = 1u << 20;
    b = brotli_squeeze(zeros, exact, 5, &n);
    free(zeros);
    sdiff_buf_init(&out, 0);
    assert_int_equal(sdiff_codec_decode("br", (struct sdiff_slice){b, n}, exact, &out, &res,
                                        NULL),
                     SDIFF_OK);
    assert_int_equal(out.len, exact);
    sdiff_buf_dispose(&out);
    sdiff_buf_init(&out, 0);
    assert_int_equal(sdiff_codec_decode("br", (struct sdiff_slice){b, n}, exact - 1, &out, &res,
                                        NULL),
                     SDIFF_ELIMIT);
    sdiff_buf_dispose(&out);
    free(b);
}

struct oom_case {
    const char *enc;
    const uint8_t *z;
    size_t n;
};

static int oom_decode(void *ud)
{
    const struct oom_case *c = ud;
    struct sdiff_buf out;
    sdiff_buf_init(&out, 0);
    enum sdiff_codec_result res;
    int rc = sdiff_codec_decode(c->enc, (struct sdiff_slice){c->z, c->n}, 1 << 20, &out, &res,
                                NULL);
    if (rc == SDIFF_OK && (out.len != strlen(BODY) || memcmp(out.data, BODY, out.len) != 0))
        rc = SDIFF_ERR;
    sdiff_buf_dispose(&out);
    return rc;
}

static void test_codec__br_oom_is_reported_cleanly(void **state)
{
    (void)state;
    struct oom_case c = {.enc = "br"};
    uint8_t *b = brotli_squeeze(BODY, strlen(BODY), 11, &c.n);
    c.z = b;
    /* brotli's state is allocated through our hooks, so it is swept as well */
    assert_true(sdiff_test_oom_sweep(oom_decode, &c, 1000) >= 2);
    free(b);
}

static void test_codec__oom_is_reported_cleanly(void **state)
{
    (void)state;
    struct oom_case c = {.enc = "gzip"};
    uint8_t *z = squeeze(BODY, strlen(BODY), 31, &c.n);
    c.z = z;
    /* zlib's own state is allocated through our hooks too, so it is swept as well */
    assert_true(sdiff_test_oom_sweep(oom_decode, &c, 1000) >= 2);
    free(z);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_codec__gzip_and_both_deflates_decode),
    cmocka_unit_test(test_codec__chain_is_undone_right_to_left),
    cmocka_unit_test(test_codec__identity_and_unknown_leave_body_alone),
    cmocka_unit_test(test_codec__corrupt_and_cut_short_are_parse_errors),
    cmocka_unit_test(test_codec__bomb_stops_at_the_limit),
    cmocka_unit_test(test_codec__oom_is_reported_cleanly),
    cmocka_unit_test(test_codec__br_decodes_alone_and_in_chains),
    cmocka_unit_test(test_codec__br_corrupt_cut_short_or_trailing_is_parse_error),
    cmocka_unit_test(test_codec__br_bomb_stops_at_the_limit),
    cmocka_unit_test(test_codec__br_oom_is_reported_cleanly),
};
SDIFF_TEST_MAIN(tests)
