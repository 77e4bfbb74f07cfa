/*
 * codec.c - gzip and deflate decoding with zlib, brotli with libbrotlidec, bounded output.
 *
 * Each decoder is fed the whole input and drained into a capped sdiff_buf in steps, so memory
 * grows only as far as the output really goes and stops at max_out.
 */
#include "shadowdiff/codec.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <brotli/decode.h>
#include <zlib.h>

enum coding { COD_IDENTITY, COD_GZIP, COD_DEFLATE, COD_BR, COD_OTHER };

static enum coding coding_of(const char *tok, size_t n)
{
    if ((n == 4 && strncasecmp(tok, "gzip", 4) == 0) || (n == 6 && strncasecmp(tok, "x-gzip", 6) == 0))
        return COD_GZIP;
    if (n == 7 && strncasecmp(tok, "deflate", 7) == 0)
        return COD_DEFLATE;
    if (n == 2 && strncasecmp(tok, "br", 2) == 0)
        return COD_BR;
    if (n == 8 && strncasecmp(tok, "identity", 8) == 0)
        return COD_IDENTITY;
    return COD_OTHER;
}

/* zlib allocates through the project's hooks, so out-of-memory sweeps reach its state too. */
static voidpf zlib_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return sdiff_calloc(items, size);
}

static void zlib_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    sdiff_free(p);
}

/* windowBits: 16+15 gzip, 15 zlib, -15 raw deflate. */
static int inflate_into(struct sdiff_slice in, int window_bits, size_t max_out,
                        struct sdiff_buf *out, const char *name, struct sdiff_err *err)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = zlib_alloc;
    zs.zfree = zlib_free;
    if (inflateInit2(&zs, window_bits) != Z_OK)
        return sdiff_err_set(err, SDIFF_ENOMEM, "codec", "out of memory starting %s", name);
    zs.next_in = (Bytef *)(uintptr_t)in.p;
    int rc = SDIFF_OK;
    size_t left = in.len;
    out->max = max_out;
    for (;;) {
        if (zs.avail_in == 0 && left > 0) {
            zs.avail_in = left > (1u << 30) ? (1u << 30) : (uInt)left;
            left -= zs.avail_in;
        }
        size_t room = max_out - out->len;
        if (room == 0) {
            /* Full: one more byte of output means the body is over the limit. */
            uint8_t probe;
            zs.next_out = &probe;
            zs.avail_out = 1;
            int z = inflate(&zs, Z_NO_FLUSH);
            if (z == Z_MEM_ERROR) {
                rc = sdiff_err_set(err, SDIFF_ENOMEM, "codec", "out of memory inflating %s", name);
                break;
            }
            if (zs.avail_out == 0) {
                rc = sdiff_err_set(err, SDIFF_ELIMIT, "codec",
                                   "%s body inflates past %zu bytes (decompression bomb?)",
                                   name, max_out);
                break;
            }
            if (z == Z_STREAM_END)
                break;
            if ((z == Z_BUF_ERROR && zs.avail_in == 0 && left == 0) ||
                (z != Z_OK && z != Z_BUF_ERROR)) {
                rc = sdiff_err_set(err, SDIFF_EPARSE, "codec", "%s data is corrupt or cut short",
                                   name);
                break;
            }
            continue;
        }
        size_t step = room < (256u << 10) ? room : (256u << 10);
        if ((rc = sdiff_buf_reserve(out, step)) < 0) {
            rc = sdiff_err_set(err, rc, "codec", "out of memory inflating %s", name);
            break;
        }
        zs.next_out = out->data + out->len;
        zs.avail_out = (uInt)step;
        int z = inflate(&zs, Z_NO_FLUSH);
        out->len += step - zs.avail_out;
        out->data[out->len] = '\0';
        if (z == Z_MEM_ERROR) {
            /* the window is allocated on the first call, not by inflateInit2 */
            rc = sdiff_err_set(err, SDIFF_ENOMEM, "codec", "out of memory inflating %s", name);
            break;
        }
        if (z == Z_STREAM_END)
            break;
        if (z == Z_BUF_ERROR && zs.avail_in == 0 && left == 0) {
            rc = sdiff_err_set(err, SDIFF_EPARSE, "codec", "%s data is cut short", name);
            break;
        }
        if (z != Z_OK && z != Z_BUF_ERROR) {
            rc = sdiff_err_set(err, SDIFF_EPARSE, "codec", "%s data is corrupt: %s", name,
                               zs.msg ? zs.msg : "bad data");
            break;
        }
    }
    inflateEnd(&zs);
    return rc;
}

/* brotli's state goes through our allocator, so out-of-memory sweeps reach it too. */
static void *br_alloc(void *opaque, size_t n)
{
    (void)opaque;
    return sdiff_malloc(n);
}

static void br_free(void *opaque, void *p)
{
    (void)opaque;
    sdiff_free(p);
}

static int br_failed(BrotliDecoderState *st, struct sdiff_err *err)
{
    BrotliDecoderErrorCode code = BrotliDecoderGetErrorCode(st);
    /* The _ERROR_ALLOC_ codes are -21 .. -30 (brotli/decode.h). */
    if (code <= -21 && code >= -30)
        return sdiff_err_set(err, SDIFF_ENOMEM, "codec", "out of memory decoding br");
    /* "_ERROR_FORMAT_PADDING_1" becomes "format padding 1", in the style of our messages. */
    const char *name = BrotliDecoderErrorString(code);
    char why[48] = "bad data";
    if (name != NULL && strncmp(name, "_ERROR_", 7) == 0) {
        size_t i = 0;
        for (name += 7; *name && i + 1 < sizeof why; name++, i++)
            why[i] = *name == '_' ? ' ' : (char)tolower((unsigned char)*name);
        why[i] = '\0';
    }
    return sdiff_err_set(err, SDIFF_EPARSE, "codec", "br data is corrupt: %s", why);
}

/*
 * Brotli (RFC 7932) into out, at most max_out bytes: the same stepping as inflate_into, and
 * the same one-byte probe once the buffer is full, so a body exactly at the limit passes and
 * one byte more is a bomb. A stream must end where the body does: bytes after its last
 * meta-block are corruption, not a second member (brotli has none).
 */
static int brotli_into(struct sdiff_slice in, size_t max_out, struct sdiff_buf *out,
                       struct sdiff_err *err)
{
    BrotliDecoderState *st = BrotliDecoderCreateInstance(br_alloc, br_free, NULL);
    if (st == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "codec", "out of memory starting br");
    const uint8_t *next_in = in.p;
    size_t avail_in = in.len;
    int rc = SDIFF_OK;
    BrotliDecoderResult r;
    out->max = max_out;
    for (;;) {
        size_t room = max_out - out->len;
        if (room == 0) {
            uint8_t probe, *next_out = &probe;
            size_t avail_out = 1;
            r = BrotliDecoderDecompressStream(st, &avail_in, &next_in, &avail_out, &next_out,
                                              NULL);
            if (avail_out == 0) {
                rc = sdiff_err_set(err, SDIFF_ELIMIT, "codec",
                                   "br body decodes past %zu bytes (decompression bomb?)",
                                   max_out);
                break;
            }
        } else {
            size_t step = room < (256u << 10) ? room : (256u << 10);
            if ((rc = sdiff_buf_reserve(out, step)) < 0) {
                rc = sdiff_err_set(err, rc, "codec", "out of memory decoding br");
                break;
            }
            uint8_t *next_out = out->data + out->len;
            size_t avail_out = step;
            r = BrotliDecoderDecompressStream(st, &avail_in, &next_in, &avail_out, &next_out,
                                              NULL);
            out->len += step - avail_out;
            out->data[out->len] = '\0';
        }
        if (r == BROTLI_DECODER_RESULT_SUCCESS) {
            if (avail_in > 0)
                rc = sdiff_err_set(err, SDIFF_EPARSE, "codec",
                                   "br data is corrupt: %zu bytes after the end of the stream",
                                   avail_in);
            break;
        }
        if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) {
            rc = sdiff_err_set(err, SDIFF_EPARSE, "codec", "br data is cut short");
            break;
        }
        if (r == BROTLI_DECODER_RESULT_ERROR) {
            rc = br_failed(st, err);
            break;
        }
        /* NEEDS_MORE_OUTPUT: the next round gives it room, or probes past the limit. */
    }
    BrotliDecoderDestroyInstance(st);
    return rc;
}

static int decode_one(enum coding c, struct sdiff_slice in, size_t max_out,
                      struct sdiff_buf *out, struct sdiff_err *err)
{
    if (c == COD_GZIP)
        return inflate_into(in, 16 + 15, max_out, out, "gzip", err);
    if (c == COD_BR)
        return brotli_into(in, max_out, out, err);
    /* "deflate" means zlib-wrapped data (RFC 9110), but servers have long sent raw deflate. */
    if (in.len >= 2 && (in.p[0] & 0x0f) == 8 && ((in.p[0] << 8) | in.p[1]) % 31 == 0)
        return inflate_into(in, 15, max_out, out, "deflate", err);
    return inflate_into(in, -15, max_out, out, "deflate", err);
}

int sdiff_codec_decode(const char *encoding, struct sdiff_slice body, size_t max_out,
                       struct sdiff_buf *out, enum sdiff_codec_result *result,
                       struct sdiff_err *err)
{
    enum coding chain[8];
    size_t n = 0;
    *result = SDIFF_CODEC_IDENTITY;
    for (const char *p = encoding ? encoding : ""; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        if (p == s)
            continue;
        enum coding c = coding_of(s, (size_t)(p - s));
        if (c == COD_OTHER) {
            *result = SDIFF_CODEC_UNSUPPORTED;
            return SDIFF_OK;
        }
        if (c == COD_IDENTITY)
            continue;
        if (n == sizeof chain / sizeof chain[0])
            return sdiff_err_set(err, SDIFF_EPARSE, "codec", "more than 8 content codings");
        chain[n++] = c;
    }
    if (n == 0)
        return SDIFF_OK;
    /* Codings were applied left to right: undo them right to left, the last into out. */
    struct sdiff_buf bufs[2];
    sdiff_buf_init(&bufs[0], max_out);
    sdiff_buf_init(&bufs[1], max_out);
    struct sdiff_slice cur = body;
    int rc = SDIFF_OK;
    for (size_t i = n; i-- > 0 && rc >= 0;) {
        struct sdiff_buf *dst = i == 0 ? out : &bufs[i & 1];
        if (dst != out)
            sdiff_buf_reset(dst);
        rc = decode_one(chain[i], cur, max_out, dst, err);
        cur = (struct sdiff_slice){dst->data, dst->len};
    }
    sdiff_buf_dispose(&bufs[0]);
    sdiff_buf_dispose(&bufs[1]);
    if (rc < 0)
        return rc;
    *result = SDIFF_CODEC_DECODED;
    return SDIFF_OK;
}
