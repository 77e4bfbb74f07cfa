/*
 * fuzz_codec.c - libFuzzer target for the content decoders (lib/codec): gzip, deflate (zlib
 * and raw), chains of codings, and the output bound that stops decompression bombs.
 *
 * Input: one option byte, then the body.
 *
 *   bit 7 clear: the body is decoded as it is, with one of 16 Content-Encoding values (bits
 *     0-3) and one of 8 output bounds (bits 4-6). Checked: the status is one the API names,
 *     err says which one; identity and unsupported codings leave the output untouched; a
 *     decoded body fits the bound and is NUL-terminated. For a single coding, the bound is
 *     exact: the same body decodes to the same bytes with the bound at its length and is over
 *     the limit one byte below; a body over the limit decodes to more bytes, if at all,
 *     with a larger bound.
 *   bit 7 set: the body is compressed first, with one or two codings (bits 0-1 and 2-3:
 *     gzip, zlib-wrapped deflate, raw deflate, none) at one of four levels (bits 4-5), and
 *     must decode back to itself, with the bound exactly at the longest layer (bit 6; a
 *     single coding is then over the limit one byte below) or a little above.
 *
 * Built by CMake with -DSDIFF_FUZZ=ON (tests/fuzz/README.md), run as
 *   build-fuzz/tests/fuzz/fuzz_codec -max_len=4096 corpus/ seeds/codec/
 */
#include "sdiff_fuzz.h"

#include <string.h>
#include <zlib.h>

#include "shadowdiff/codec.h"

#define CHECK(x) SDIFF_FUZZ_CHECK(x)

static const char *const encodings[16] = {
    "gzip",
    "deflate",
    "x-gzip",
    "identity",
    "gzip, gzip",
    "deflate, gzip",
    "gzip,deflate",
    "br",
    "GZIP",
    " gzip ,identity",
    "",
    "Deflate",
    "identity,deflate",
    "gzip, br",
    "gzip,gzip,gzip,gzip,gzip,gzip,gzip,gzip,gzip", /* one coding too many */
    "x-gzip\t",
};

static const size_t bounds[8] = {0, 1, 7, 64, 1000, 4096, 65536, 1u << 20};

/* Decode into a fresh buffer and check what every call must satisfy. */
static int decode(const char *enc, const uint8_t *p, size_t n, size_t max_out,
                  struct sdiff_buf *out, enum sdiff_codec_result *res)
{
    struct sdiff_err err = {0};
    sdiff_buf_init(out, 0);
    *res = (enum sdiff_codec_result)-1;
    int rc = sdiff_codec_decode(enc, (struct sdiff_slice){p, n}, max_out, out, res, &err);
    CHECK(rc == SDIFF_OK || rc == SDIFF_EPARSE || rc == SDIFF_ELIMIT);
    if (rc < 0) {
        CHECK(err.code == rc && strcmp(err.where, "codec") == 0 && err.msg[0] != '\0');
        return rc;
    }
    CHECK(err.code == 0);
    CHECK(*res == SDIFF_CODEC_DECODED || *res == SDIFF_CODEC_IDENTITY ||
          *res == SDIFF_CODEC_UNSUPPORTED);
    if (*res != SDIFF_CODEC_DECODED) {
        CHECK(out->len == 0 && out->data == NULL);
        return rc;
    }
    CHECK(out->len <= max_out);
    CHECK(out->data == NULL ? out->len == 0 : out->data[out->len] == '\0');
    return rc;
}

/* Whether enc names exactly one coding that is decoded (so one output bound applies). */
static int single_coding(const char *enc)
{
    int n = 0;
    for (const char *p = enc; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        if (p > s && !((size_t)(p - s) == 8 && strncmp(s, "identity", 8) == 0))
            n++;
    }
    return n == 1;
}

static void fuzz_decode(uint8_t cfg, const uint8_t *p, size_t n)
{
    const char *enc = encodings[cfg & 15];
    size_t max_out = bounds[(cfg >> 4) & 7];
    struct sdiff_buf out, again;
    enum sdiff_codec_result res, res2;
    int rc = decode(enc, p, n, max_out, &out, &res);
    if (single_coding(enc)) {
        if (rc == SDIFF_OK && res == SDIFF_CODEC_DECODED) {
            CHECK(decode(enc, p, n, out.len, &again, &res2) == SDIFF_OK);
            CHECK(res2 == SDIFF_CODEC_DECODED && again.len == out.len);
            CHECK(out.len == 0 || memcmp(again.data, out.data, out.len) == 0);
            sdiff_buf_dispose(&again);
            if (out.len > 0) {
                CHECK(decode(enc, p, n, out.len - 1, &again, &res2) == SDIFF_ELIMIT);
                sdiff_buf_dispose(&again);
            }
        } else if (rc == SDIFF_ELIMIT && max_out < bounds[7]) {
            if (decode(enc, p, n, bounds[7], &again, &res2) == SDIFF_OK)
                CHECK(again.len > max_out);
            sdiff_buf_dispose(&again);
        }
    }
    sdiff_buf_dispose(&out);
}

/* ---- round trip ------------------------------------------------------------------------ */

enum coding { C_GZIP, C_ZLIB, C_RAW, C_NONE };

/* Compress in[0..n) with zlib into a new buffer (caller frees); NULL when zlib fails. */
static uint8_t *compress_one(enum coding c, int level, const uint8_t *in, size_t n,
                             size_t *out_len)
{
    /* small windows and memLevel 1 keep each call cheap; any window decodes with 15 */
    static const int wbits[] = {16 + 9, 9, -9};
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, level, Z_DEFLATED, wbits[c], 1, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&zs, (uLong)n) + 32;
    uint8_t *out = malloc(cap);
    if (out != NULL) {
        zs.next_in = (Bytef *)(uintptr_t)in;
        zs.avail_in = (uInt)n;
        zs.next_out = out;
        zs.avail_out = (uInt)cap;
        CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END);
        *out_len = cap - zs.avail_out;
    }
    deflateEnd(&zs);
    return out;
}

static void fuzz_round_trip(uint8_t cfg, const uint8_t *p, size_t n)
{
    static const char *const names[] = {"gzip", "deflate", "deflate", "identity"};
    static const int levels[] = {0, 1, 6, 9};
    enum coding c1 = (enum coding)(cfg & 3), c2 = (enum coding)((cfg >> 2) & 3);
    int level = levels[(cfg >> 4) & 3], tight = (cfg & 0x40) != 0;
    uint8_t *z1 = NULL, *z2 = NULL;
    size_t n1 = n, n2 = 0;
    const uint8_t *z = p;
    size_t zn = n;
    if (c1 != C_NONE) {
        z1 = compress_one(c1, level, p, n, &n1);
        CHECK(z1 != NULL);
        z = z1;
        zn = n1;
    }
    if (c2 != C_NONE) {
        z2 = compress_one(c2, level, z, zn, &n2);
        CHECK(z2 != NULL);
        z = z2;
        zn = n2;
    }
    char enc[32];
    snprintf(enc, sizeof enc, "%s, %s", names[c1], names[c2]);
    int codings = (c1 != C_NONE) + (c2 != C_NONE);
    /* every layer of a chain must fit the bound, and the inner one can be the longer */
    size_t max_out = codings == 2 && n1 > n ? n1 : n;
    if (!tight)
        max_out += 64;

    struct sdiff_buf out;
    enum sdiff_codec_result res;
    CHECK(decode(enc, z, zn, max_out, &out, &res) == SDIFF_OK);
    if (codings == 0) {
        CHECK(res == SDIFF_CODEC_IDENTITY);
    } else {
        CHECK(res == SDIFF_CODEC_DECODED && out.len == n);
        CHECK(n == 0 || memcmp(out.data, p, n) == 0);
    }
    sdiff_buf_dispose(&out);
    if (codings == 1 && tight && n > 0) {
        CHECK(decode(enc, z, zn, n - 1, &out, &res) == SDIFF_ELIMIT);
        sdiff_buf_dispose(&out);
    }
    free(z1);
    free(z2);
}

int sdiff_fuzz_codec(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    if (data[0] & 0x80)
        fuzz_round_trip(data[0], data + 1, size - 1);
    else
        fuzz_decode(data[0], data + 1, size - 1);
    return 0;
}
