#ifndef SDIFF_CODEC_H
#define SDIFF_CODEC_H

#include "shadowdiff/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/codec.h - content decoding of HTTP bodies (RFC 9110 section 8.4): gzip,
 * x-gzip, deflate (zlib-wrapped, and the raw deflate some servers send), br (RFC 7932),
 * identity, and chains of them ("deflate, gzip" is undone right to left).
 *
 * Output is bounded: a body that inflates past max_out is an error for that body (a
 * decompression bomb), never an allocation of what it claims. Not thread-safe per call
 * site; no state is kept between calls.
 */

enum sdiff_codec_result {
    SDIFF_CODEC_DECODED = 0,  /* out holds the decoded body */
    SDIFF_CODEC_IDENTITY,     /* no content coding: nothing to do, out untouched */
    SDIFF_CODEC_UNSUPPORTED,  /* a coding we do not decode (zstd, compress): out untouched */
};

/**
 * Decode body according to a Content-Encoding field value.
 *
 * @param encoding  the field value (may be NULL or empty: identity)
 * @param out       receives the decoded bytes (appended); its max is raised to max_out
 * @param[out] result  what was done
 * @return SDIFF_OK, SDIFF_EPARSE (corrupt compressed data), SDIFF_ELIMIT (decoded size over
 *         max_out), SDIFF_ENOMEM; err says which coding failed and why
 */
SDIFF_API int sdiff_codec_decode(const char *encoding, struct sdiff_slice body, size_t max_out,
                                 struct sdiff_buf *out, enum sdiff_codec_result *result,
                                 struct sdiff_err *err);

#ifdef __cplusplus
}
#endif
#endif
