/*
 * fuzz_http1.c - libFuzzer target for lib/http1: the input is one stream direction, parsed
 * as requests and as responses, from its start or hunting from its first byte (at line
 * starts, or anywhere: sdiff_http1_hunt_anywhere). Oracle: the
 * callback transcript (hashed, body pieces merged) is the same whole and split into pieces
 * of one size (1, 2, 3, 7 or 13 bytes, or a half or a third of the input: the middle byte
 * picks, with the limits); then a pass in uneven pieces with gaps and a resync after every
 * error must stay memory-safe.
 *
 * Built by CMake with -DSDIFF_FUZZ=ON (tests/fuzz/README.md), run as
 *   build-fuzz/tests/fuzz/fuzz_http1 -max_len=2048 corpus/ seeds/http1/
 */
#include "sdiff_fuzz.h"

#include <stdint.h>
#include <string.h>

#include "shadowdiff/http1.h"

#define CHECK(x) SDIFF_FUZZ_CHECK(x)

struct run {
    struct sdiff_http1 *p;
    uint64_t h; /* FNV-1a over the events */
    int in_body;
    unsigned heads;
    int skip_odd_heads;
    struct sdiff_err err;
    int err_seen;
};

static void mix(struct run *r, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        r->h = (r->h ^ b[i]) * 1099511628211ull;
}

static void mix_u64(struct run *r, uint64_t v)
{
    mix(r, &v, sizeof v);
}

static void mix_tag(struct run *r, char tag)
{
    r->in_body = 0;
    mix(r, &tag, 1);
}

static void mix_slice(struct run *r, struct sdiff_slice s)
{
    mix_u64(r, s.len);
    if (s.len > 0)
        mix(r, s.p, s.len);
}

static void check_fields(struct run *r, const struct sdiff_http1_header *h, size_t n)
{
    mix_u64(r, n);
    for (size_t i = 0; i < n; i++) {
        CHECK(h[i].name.len > 0);
        for (size_t k = 0; k < h[i].value.len; k++)
            CHECK(h[i].value.p[k] != '\r' && h[i].value.p[k] != '\n');
        if (h[i].value.len > 0) {
            CHECK(h[i].value.p[0] != ' ' && h[i].value.p[0] != '\t');
            CHECK(h[i].value.p[h[i].value.len - 1] != ' ');
        }
        mix_slice(r, h[i].name);
        mix_slice(r, h[i].value);
    }
}

static int on_begin(void *ud)
{
    struct run *r = ud;
    CHECK(!r->err_seen);
    mix_tag(r, 'b');
    return 0;
}

static int on_head(const struct sdiff_http1_head *h, void *ud)
{
    struct run *r = ud;
    mix_tag(r, 'h');
    mix_u64(r, (uint64_t)h->kind);
    mix_slice(r, h->method);
    mix_slice(r, h->target);
    mix_slice(r, h->reason);
    mix_u64(r, (uint64_t)h->status);
    mix_u64(r, (uint64_t)h->version_minor);
    mix_u64(r, (uint64_t)h->framing);
    mix_u64(r, h->content_length);
    mix_u64(r, (uint64_t)(h->keep_alive | h->expect_continue << 1 | h->upgrade << 2));
    check_fields(r, h->headers, h->nheaders);
    CHECK(sdiff_http1_in_message(r->p));
    unsigned i = r->heads++;
    return r->skip_odd_heads && (i & 1) ? SDIFF_HTTP1_SKIP_BODY : 0;
}

static int on_body(const uint8_t *p, size_t len, void *ud)
{
    struct run *r = ud;
    CHECK(len > 0);
    if (!r->in_body) {
        mix_tag(r, 'B');
        r->in_body = 1;
    }
    mix(r, p, len);
    return 0;
}

static int on_trailers(const struct sdiff_http1_header *h, size_t n, void *ud)
{
    struct run *r = ud;
    CHECK(n > 0);
    mix_tag(r, 't');
    check_fields(r, h, n);
    return 0;
}

static int on_complete(void *ud)
{
    struct run *r = ud;
    mix_tag(r, 'c');
    return 0;
}

static const struct sdiff_http1_cb cb = {on_begin, on_head, on_body, on_trailers, on_complete};

static void feed(struct run *r, const uint8_t *p, size_t n)
{
    int rc = sdiff_http1_feed(r->p, p, n, &r->err);
    CHECK(rc == SDIFF_OK || rc == SDIFF_EPARSE || rc == SDIFF_ELIMIT);
    if (rc < 0 && !r->err_seen) {
        CHECK(rc == r->err.code && strcmp(r->err.where, "http1") == 0);
        mix_tag(r, 'e');
        mix_u64(r, (uint64_t)rc);
        mix_u64(r, r->err.offset);
        mix(r, r->err.msg, strlen(r->err.msg));
        r->err_seen = 1;
    }
}

/*
 * Parse data fed in pieces of `step` bytes (0: whole), hunting from the first byte when
 * hunt is set (a capture that began mid-stream; 2: anywhere); returns the transcript hash.
 */
static uint64_t transcript(enum sdiff_http1_kind kind, const struct sdiff_limits *lim, int skip_odd,
                           int hunt, const uint8_t *data, size_t size, size_t step)
{
    struct run r;
    memset(&r, 0, sizeof r);
    r.h = 14695981039346656037ull;
    r.skip_odd_heads = skip_odd;
    CHECK(sdiff_http1_new(&r.p, kind, lim, &cb, &r, NULL) == SDIFF_OK);
    if (hunt)
        sdiff_http1_resync(r.p);
    if (hunt == 2)
        sdiff_http1_hunt_anywhere(r.p, 1);
    if (step == 0 || step >= size) {
        feed(&r, data, size);
    } else {
        for (size_t off = 0; off < size; off += step)
            feed(&r, data + off, size - off < step ? size - off : step);
    }
    struct sdiff_err err = {0};
    int rc = sdiff_http1_eof(r.p, &err);
    mix_tag(&r, 'z');
    mix_u64(&r, (uint64_t)rc);
    uint64_t skipped = sdiff_http1_skipped_bytes(r.p);
    CHECK(hunt || skipped == 0);
    CHECK(skipped <= size);
    mix_u64(&r, skipped);
    sdiff_http1_free(r.p);
    return r.h;
}

/* Uneven pieces, a gap now and then, resync after every error: must just not crash. */
static void robustness(enum sdiff_http1_kind kind, const struct sdiff_limits *lim,
                       const uint8_t *data, size_t size)
{
    struct run r;
    memset(&r, 0, sizeof r);
    CHECK(sdiff_http1_new(&r.p, kind, lim, &cb, &r, NULL) == SDIFF_OK);
    if (size > 0 && (data[size - 1] & 1))
        sdiff_http1_resync(r.p); /* as for a connection already open at capture start */
    size_t off = 0, i = 0;
    while (off < size) {
        size_t n = 1 + (size_t)(data[i++ % size] % 97);
        if (n > size - off)
            n = size - off;
        sdiff_err_clear(&r.err);
        r.err_seen = 0;
        int rc = sdiff_http1_feed(r.p, data + off, n, &r.err);
        if (rc < 0)
            sdiff_http1_resync(r.p);
        off += n;
        if (data[i % size] == 0x7f)
            (void)sdiff_http1_gap(r.p, data[(i + 1) % size] % 16);
    }
    CHECK(sdiff_http1_skipped_bytes(r.p) <= size);
    (void)sdiff_http1_eof(r.p, NULL);
    sdiff_http1_free(r.p);
}

int sdiff_fuzz_http1(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    uint8_t cfg = size > 0 ? data[size / 2] : 0;
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    if (cfg & 1)
        lim.max_header_bytes = 96;
    if (cfg & 2)
        lim.max_header_count = 3;
    /* one split per input keeps runs fast; the fuzzer tries them all */
    const size_t steps[8] = {1, 1, 2, 3, 7, 13, size / 2 + 1, size / 3 + 1};
    size_t step = steps[(cfg >> 4) & 7];
    for (int k = 0; k < 2; k++) {
        enum sdiff_http1_kind kind = k == 0 ? SDIFF_HTTP1_REQUEST : SDIFF_HTTP1_RESPONSE;
        int skip = (cfg & 4) != 0, hunt = (cfg & 8) != 0 ? 1 + ((cfg & 0x80) != 0) : 0;
        uint64_t whole = transcript(kind, &lim, skip, hunt, data, size, 0);
        CHECK(transcript(kind, &lim, skip, hunt, data, size, step) == whole);
        robustness(kind, &lim, data, size);
    }
    return 0;
}
