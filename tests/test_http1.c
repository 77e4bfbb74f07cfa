/*
 * test_http1.c - the HTTP/1.1 parser. Every scenario records its callbacks into a one-line
 * transcript ("begin|head GET /x 1.1 h=2 none ka=1|complete") and is fed split at every byte
 * offset, so split-invariance is checked by string equality with the expected transcript.
 */
#include "sdiff_test.h"

#include "shadowdiff/http1.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- recorder -------------------------------------------------------------------------- */

struct rec {
    enum sdiff_http1_kind kind;
    struct sdiff_limits limits;
    unsigned skip_mask;  /* on_head returns SKIP_BODY for response number i when bit i is set */
    int show_headers;    /* put the fields into the head entry */
    int resync_first;    /* mid-stream capture: resync before the first byte */
    int anywhere;        /* with resync_first: hunt anywhere (sdiff_http1_hunt_anywhere) */
    int resync_on_error; /* resync and go on after an error (not split-invariant in general) */
    int eof;             /* call sdiff_http1_eof at the end and record its status */
    int body_fails;      /* on_body returns this when non-zero */
    int upgrade_on_head; /* on_head calls sdiff_http1_set_upgraded */
    int resync_on_head;  /* on_head calls sdiff_http1_resync for the first head */
    const char *expect;  /* expected transcript, or NULL to only check invariance */

    struct sdiff_http1 *p;
    struct sdiff_buf t;
    struct sdiff_buf body;
    struct sdiff_err err;
    int errored;
    unsigned nheads;
    char *first; /* transcript of the first pass */
};

static void put(struct rec *r, const char *s)
{
    if (r->t.len > 0)
        assert_int_equal(sdiff_buf_append(&r->t, "|", 1), SDIFF_OK);
    assert_int_equal(sdiff_buf_puts(&r->t, s), SDIFF_OK);
}

static void put_slice(struct sdiff_buf *b, struct sdiff_slice s)
{
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            assert_int_equal(sdiff_buf_append(b, &c, 1), SDIFF_OK);
        else
            assert_int_equal(sdiff_buf_printf(b, "\\x%02x", c), SDIFF_OK);
    }
}

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Body pieces are merged: their sizes depend on the split, their concatenation does not. */
static void flush_body(struct rec *r)
{
    if (r->body.len == 0)
        return;
    struct sdiff_buf e;
    sdiff_buf_init(&e, 1 << 20);
    if (r->body.len <= 64) {
        assert_int_equal(sdiff_buf_printf(&e, "body %zu '", r->body.len), SDIFF_OK);
        put_slice(&e, (struct sdiff_slice){r->body.data, r->body.len});
        assert_int_equal(sdiff_buf_puts(&e, "'"), SDIFF_OK);
    } else {
        assert_int_equal(sdiff_buf_printf(&e, "body %zu fnv=%08x", r->body.len,
                                          (unsigned)fnv1a(r->body.data, r->body.len)),
                         SDIFF_OK);
    }
    put(r, (const char *)e.data);
    sdiff_buf_dispose(&e);
    sdiff_buf_reset(&r->body);
}

static void put_fields(struct sdiff_buf *e, const struct sdiff_http1_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(sdiff_buf_puts(e, " ["), SDIFF_OK);
        put_slice(e, h[i].name);
        assert_int_equal(sdiff_buf_puts(e, ": "), SDIFF_OK);
        put_slice(e, h[i].value);
        assert_int_equal(sdiff_buf_puts(e, "]"), SDIFF_OK);
    }
}

static int on_begin(void *ud)
{
    struct rec *r = ud;
    flush_body(r);
    put(r, "begin");
    return 0;
}

static int on_head(const struct sdiff_http1_head *h, void *ud)
{
    static const char *const framing[] = {"none", "len", "chunked", "close"};
    struct rec *r = ud;
    flush_body(r);
    struct sdiff_buf e;
    sdiff_buf_init(&e, 1 << 20);
    assert_int_equal(sdiff_buf_puts(&e, "head "), SDIFF_OK);
    if (h->kind == SDIFF_HTTP1_REQUEST) {
        put_slice(&e, h->method);
        assert_int_equal(sdiff_buf_puts(&e, " "), SDIFF_OK);
        put_slice(&e, h->target);
    } else {
        assert_int_equal(sdiff_buf_printf(&e, "%d '", h->status), SDIFF_OK);
        put_slice(&e, h->reason);
        assert_int_equal(sdiff_buf_puts(&e, "'"), SDIFF_OK);
    }
    assert_int_equal(
        sdiff_buf_printf(&e, " 1.%d h=%zu %s", h->version_minor, h->nheaders, framing[h->framing]),
        SDIFF_OK);
    if (h->framing == SDIFF_HTTP1_LENGTH)
        assert_int_equal(sdiff_buf_printf(&e, "=%llu", (unsigned long long)h->content_length),
                         SDIFF_OK);
    assert_int_equal(sdiff_buf_printf(&e, " ka=%d", h->keep_alive), SDIFF_OK);
    if (h->expect_continue)
        assert_int_equal(sdiff_buf_puts(&e, " expect"), SDIFF_OK);
    if (h->framing_problem)
        assert_int_equal(sdiff_buf_printf(&e, " problem='%s'", h->framing_problem), SDIFF_OK);
    if (h->refused)
        assert_int_equal(sdiff_buf_puts(&e, " refused"), SDIFF_OK);
    if (h->upgrade)
        assert_int_equal(sdiff_buf_puts(&e, " upgrade"), SDIFF_OK);
    if (r->show_headers)
        put_fields(&e, h->headers, h->nheaders);
    put(r, (const char *)e.data);
    sdiff_buf_dispose(&e);
    unsigned i = r->nheads++;
    if (r->upgrade_on_head)
        sdiff_http1_set_upgraded(r->p);
    if (r->resync_on_head && i == 0)
        sdiff_http1_resync(r->p);
    return i < 32 && (r->skip_mask >> i) & 1 ? SDIFF_HTTP1_SKIP_BODY : 0;
}

static int on_body(const uint8_t *p, size_t len, void *ud)
{
    struct rec *r = ud;
    assert_true(len > 0);
    assert_int_equal(sdiff_buf_append(&r->body, p, len), SDIFF_OK);
    return r->body_fails;
}

static int on_trailers(const struct sdiff_http1_header *h, size_t n, void *ud)
{
    struct rec *r = ud;
    flush_body(r);
    struct sdiff_buf e;
    sdiff_buf_init(&e, 1 << 20);
    assert_int_equal(sdiff_buf_puts(&e, "trailers"), SDIFF_OK);
    put_fields(&e, h, n);
    put(r, (const char *)e.data);
    sdiff_buf_dispose(&e);
    return 0;
}

static int on_complete(void *ud)
{
    struct rec *r = ud;
    flush_body(r);
    put(r, "complete");
    return 0;
}

static const struct sdiff_http1_cb rec_cb = {on_begin, on_head, on_body, on_trailers, on_complete};

static void put_error(struct rec *r, const struct sdiff_err *err)
{
    char line[300];
    snprintf(line, sizeof line, "error %s @%llu %s", sdiff_status_str(err->code),
             (unsigned long long)err->offset, err->msg);
    put(r, line);
}

static void rec_reset(void *ud)
{
    struct rec *r = ud;
    sdiff_http1_free(r->p);
    r->p = NULL;
    sdiff_buf_dispose(&r->t);
    sdiff_buf_dispose(&r->body);
    sdiff_buf_init(&r->t, 1 << 20);
    sdiff_buf_init(&r->body, 1 << 20);
    sdiff_err_clear(&r->err);
    r->errored = 0;
    r->nheads = 0;
    assert_int_equal(sdiff_http1_new(&r->p, r->kind, &r->limits, &rec_cb, r, NULL), SDIFF_OK);
    if (r->resync_first)
        sdiff_http1_resync(r->p);
    if (r->anywhere)
        sdiff_http1_hunt_anywhere(r->p, 1);
}

static void rec_feed(void *ud, const uint8_t *p, size_t len)
{
    struct rec *r = ud;
    int rc = sdiff_http1_feed(r->p, p, len, &r->err);
    if (rc >= 0) {
        assert_int_equal(rc, SDIFF_OK);
        return;
    }
    if (!r->errored) {
        assert_int_equal(rc, r->err.code);
        flush_body(r);
        put_error(r, &r->err);
        r->errored = 1;
    }
    if (r->resync_on_error) {
        sdiff_http1_resync(r->p);
        sdiff_err_clear(&r->err);
        r->errored = 0;
    }
}

static void rec_finish(struct rec *r)
{
    flush_body(r);
    if (r->eof) {
        struct sdiff_err err = {0};
        int rc = sdiff_http1_eof(r->p, &err);
        flush_body(r);
        char line[300];
        if (rc < 0)
            snprintf(line, sizeof line, "eof %s: %s", sdiff_status_str(rc), err.msg);
        else
            snprintf(line, sizeof line, "eof %s", sdiff_status_str(rc));
        put(r, line);
    }
    uint64_t skipped = sdiff_http1_skipped_bytes(r->p);
    if (skipped > 0) {
        char line[64];
        snprintf(line, sizeof line, "skipped=%llu", (unsigned long long)skipped);
        put(r, line);
    }
}

static void rec_check(void *ud)
{
    struct rec *r = ud;
    rec_finish(r);
    const char *got = r->t.data ? (const char *)r->t.data : "";
    if (r->first == NULL) {
        r->first = strdup(got);
        assert_non_null(r->first);
    }
    if (r->expect != NULL)
        assert_string_equal(got, r->expect);
    assert_string_equal(got, r->first);
}

static void rec_init(struct rec *r, enum sdiff_http1_kind kind)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->limits = (struct sdiff_limits)SDIFF_LIMITS_INIT;
}

static void rec_dispose(struct rec *r)
{
    sdiff_http1_free(r->p);
    r->p = NULL;
    sdiff_buf_dispose(&r->t);
    sdiff_buf_dispose(&r->body);
    free(r->first);
    r->first = NULL;
}

/* Feed in at every split (and byte by byte); every pass must give `expect`. */
static void run_split(struct rec *r, const void *in, size_t len, const char *expect)
{
    r->expect = expect;
    sdiff_test_feed_split(in, len, rec_reset, rec_feed, rec_check, r);
    rec_dispose(r);
}

static void req_split(const char *in, const char *expect)
{
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    run_split(&r, in, strlen(in), expect);
}

static void resp_split(const char *in, const char *expect)
{
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_RESPONSE);
    run_split(&r, in, strlen(in), expect);
}

/* ---- requests -------------------------------------------------------------------------- */

static void test_http1__simple_get_gives_head_and_complete(void **state)
{
    (void)state;
    req_split("GET /x HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
              "begin|head GET /x 1.1 h=2 none ka=1|complete");
}

static void test_http1__post_with_content_length_delivers_body(void **state)
{
    (void)state;
    req_split("POST /api HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world",
              "begin|head POST /api 1.1 h=2 len=11 ka=1|body 11 'hello world'|complete");
}

static void test_http1__content_length_zero_completes_at_head(void **state)
{
    (void)state;
    req_split("PUT /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
              "begin|head PUT /a 1.1 h=1 len=0 ka=1|complete");
}

static void test_http1__chunked_with_extensions_and_trailers_decodes_body(void **state)
{
    (void)state;
    req_split("POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
              "5;name=value\r\nhello\r\n"
              "6 ; q=\"a;b\\\"c\" ;x\r\n world\r\n"
              "A\r\n0123456789\r\n"
              "0;last\r\nX-Sum: 42 \r\nX-Other:\t7\r\n\r\n",
              "begin|head POST /up 1.1 h=2 chunked ka=1|body 21 'hello world0123456789'"
              "|trailers [X-Sum: 42] [X-Other: 7]|complete");
}

static void test_http1__chunked_without_trailers_skips_on_trailers(void **state)
{
    (void)state;
    req_split("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
              "begin|head POST / 1.1 h=1 chunked ka=1|body 3 'abc'|complete");
}

static void test_http1__three_pipelined_requests_all_complete(void **state)
{
    (void)state;
    req_split("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
              "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
              "GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
              "begin|head GET /1 1.1 h=1 none ka=1|complete"
              "|begin|head POST /2 1.1 h=2 len=3 ka=1|body 3 'abc'|complete"
              "|begin|head GET /3 1.1 h=2 none ka=0|complete");
}

static void test_http1__leading_empty_lines_skipped_without_begin(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    r.eof = 1;
    const char *in = "\r\n\nGET / HTTP/1.1\r\n\r\n\r\n";
    run_split(&r, in, strlen(in), "begin|head GET / 1.1 h=0 none ka=1|complete|eof ok");
}

static void test_http1__bare_lf_lines_accepted(void **state)
{
    (void)state;
    req_split("POST /lf HTTP/1.1\nHost: a\nContent-Length: 2\n\nok"
              "POST /c HTTP/1.1\nTransfer-Encoding: chunked\n\n2\nhi\n0\nT: 1\n\n",
              "begin|head POST /lf 1.1 h=2 len=2 ka=1|body 2 'ok'|complete"
              "|begin|head POST /c 1.1 h=1 chunked ka=1|body 2 'hi'|trailers [T: 1]|complete");
}

static void test_http1__field_values_trimmed_names_keep_case(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    r.show_headers = 1;
    const char *in = "GET /q?a=b HTTP/1.1\r\nHoST: \t example.com \t\r\nX-Empty:\r\n"
                     "X-Utf8: caf\xc3\xa9\r\n\r\n";
    run_split(&r, in, strlen(in),
              "begin|head GET /q?a=b 1.1 h=3 none ka=1 [HoST: example.com] [X-Empty: ]"
              " [X-Utf8: caf\\xc3\\xa9]|complete");
}

static void test_http1__http10_keep_alive_rules(void **state)
{
    (void)state;
    req_split("GET /a HTTP/1.0\r\n\r\n"
              "GET /b HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
              "GET /c HTTP/1.1\r\n\r\n"
              "GET /d HTTP/1.1\r\nConnection: upgrade, CLOSE\r\n\r\n"
              "GET /e HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
              "begin|head GET /a 1.0 h=0 none ka=0|complete"
              "|begin|head GET /b 1.0 h=1 none ka=1|complete"
              "|begin|head GET /c 1.1 h=0 none ka=1|complete"
              "|begin|head GET /d 1.1 h=1 none ka=0|complete"
              "|begin|head GET /e 1.0 h=2 none ka=0|complete");
}

static void test_http1__expect_100_continue_sets_flag(void **state)
{
    (void)state;
    req_split("PUT /big HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx",
              "begin|head PUT /big 1.1 h=2 len=1 ka=1 expect|body 1 'x'|complete");
}

static void test_http1__identical_content_length_list_accepted(void **state)
{
    (void)state;
    req_split("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\nabcde",
              "begin|head POST / 1.1 h=2 len=5 ka=1|body 5 'abcde'|complete");
}

/* ---- responses ------------------------------------------------------------------------- */

static void test_http1__response_to_head_skips_body(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_RESPONSE);
    r.skip_mask = 1; /* the first request was HEAD */
    const char *in = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n";
    run_split(&r, in, strlen(in),
              "begin|head 200 'OK' 1.1 h=1 len=1000 ka=1|complete"
              "|begin|head 200 'OK' 1.1 h=1 chunked ka=1|body 1 'z'|complete");
}

static void test_http1__status_204_and_304_with_content_length_have_no_body(void **state)
{
    (void)state;
    resp_split("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
               "HTTP/1.1 304 Not Modified\r\nContent-Length: 7450\r\nETag: \"x\"\r\n\r\n"
               "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
               "begin|head 204 'No Content' 1.1 h=1 none ka=1|complete"
               "|begin|head 304 'Not Modified' 1.1 h=2 none ka=1|complete"
               "|begin|head 200 'OK' 1.1 h=1 len=2 ka=1|body 2 'hi'|complete");
}

static void test_http1__100_continue_then_200_gives_two_messages(void **state)
{
    (void)state;
    resp_split("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
               "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone",
               "begin|head 100 'Continue' 1.1 h=0 none ka=1|complete"
               "|begin|head 103 'Early Hints' 1.1 h=1 none ka=1|complete"
               "|begin|head 200 'OK' 1.1 h=1 len=4 ka=1|body 4 'done'|complete");
}

static void test_http1__101_upgrade_ignores_following_bytes(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_RESPONSE);
    r.eof = 1;
    const char *in = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\n\r\n\x81\x05hello\x00\xffHTTP/1.1 200 OK\r\n\r\n";
    run_split(&r, in, strlen(in) + 0,
              "begin|head 101 'Switching Protocols' 1.1 h=2 none ka=1 upgrade|complete|eof ok");
    /* and the parser says so */
    struct sdiff_http1 *p = NULL;
    assert_int_equal(sdiff_http1_new(&p, SDIFF_HTTP1_RESPONSE, &r.limits, NULL, NULL, NULL),
                     SDIFF_OK);
    assert_int_equal(sdiff_http1_feed(p, (const uint8_t *)in, strlen(in), NULL), SDIFF_OK);
    assert_true(sdiff_http1_upgraded(p));
    assert_false(sdiff_http1_in_message(p));
    assert_int_equal(sdiff_http1_gap(p, 100), SDIFF_OK);
    sdiff_http1_free(p);
}

static void test_http1__set_upgraded_ignores_following_bytes(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    r.upgrade_on_head = 1; /* e.g. the response side saw a 101, or a 2xx to CONNECT */
    const char *in = "GET /chat HTTP/1.1\r\nUpgrade: websocket\r\nContent-Length: 3\r\n\r\n"
                     "abc\x81\x82junk\r\n\r\n";
    run_split(&r, in, strlen(in), "begin|head GET /chat 1.1 h=2 len=3 ka=1|complete");

    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    struct sdiff_http1 *p = NULL;
    assert_int_equal(sdiff_http1_new(&p, SDIFF_HTTP1_REQUEST, &lim, NULL, NULL, NULL), SDIFF_OK);
    assert_int_equal(sdiff_http1_feed(p, (const uint8_t *)"GET / HTTP/1.1\r\n", 16, NULL),
                     SDIFF_OK);
    assert_true(sdiff_http1_in_message(p));
    sdiff_http1_set_upgraded(p);
    assert_true(sdiff_http1_upgraded(p));
    assert_false(sdiff_http1_in_message(p));
    assert_int_equal(sdiff_http1_feed(p, (const uint8_t *)"\x01\x02\x03", 3, NULL), SDIFF_OK);
    assert_int_equal(sdiff_http1_eof(p, NULL), SDIFF_OK);
    sdiff_http1_free(p);
}

static void test_http1__close_delimited_response_completes_at_eof(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_RESPONSE);
    r.eof = 1;
    const char *in =
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this\r\n\r\nis body";
    run_split(&r, in, strlen(in),
              "begin|head 200 'OK' 1.0 h=1 close ka=0|body 22 'all of this\\x0d\\x0a"
              "\\x0d\\x0ais body'|complete|eof ok");
}

static void test_http1__response_te_not_chunked_is_close_delimited(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_RESPONSE);
    r.eof = 1;
    const char *in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nabc";
    run_split(&r, in, strlen(in),
              "begin|head 200 'OK' 1.1 h=1 close ka=0|body 6 '5\\x0d\\x0aabc'|complete|eof ok");
}

static void test_http1__status_line_without_reason_accepted(void **state)
{
    (void)state;
    resp_split(
        "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\nHTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n",
        "begin|head 200 '' 1.1 h=1 len=0 ka=1|complete"
        "|begin|head 404 '' 1.1 h=1 len=0 ka=1|complete");
}

/* ---- end of stream --------------------------------------------------------------------- */

static void test_http1__eof_mid_body_returns_etrunc(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_RESPONSE);
    r.eof = 1;
    const char *in = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345";
    run_split(&r, in, strlen(in),
              "begin|head 200 'OK' 1.1 h=1 len=10 ka=1|body 5 '12345'"
              "|eof truncated: stream ended with 5 body bytes missing");

    rec_init(&r, SDIFF_HTTP1_RESPONSE);
    r.eof = 1;
    in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab";
    run_split(&r, in, strlen(in),
              "begin|head 200 'OK' 1.1 h=1 chunked ka=1|body 2 'ab'"
              "|eof truncated: stream ended inside a chunked body");

    rec_init(&r, SDIFF_HTTP1_REQUEST);
    r.eof = 1;
    in = "GET / HTTP/1.1\r\nHost: a\r\n";
    run_split(&r, in, strlen(in), "begin|eof truncated: stream ended inside a header block");
}

static void test_http1__eof_between_messages_returns_ok(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    r.eof = 1;
    const char *in = "GET / HTTP/1.1\r\n\r\n";
    run_split(&r, in, strlen(in), "begin|head GET / 1.1 h=0 none ka=1|complete|eof ok");
}

/* ---- rejections ------------------------------------------------------------------------ */

/*
 * Requests whose framing is a smuggling risk keep what was seen (issue: exchanges that lose
 * their request line): Transfer-Encoding overrides Content-Length (RFC 9112 6.3 item 3), so
 * the next request on the connection still parses; a length that cannot be determined (6.3
 * items 4 and 5) delivers the head, then fails. Responses fail as before.
 */
#define SMUGGLE "problem='content-length and transfer-encoding both present (a smuggling risk):" \
                " framed by transfer-encoding'"

static void test_http1__te_with_content_length_framed_by_te(void **state)
{
    (void)state;
    req_split("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
              "3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\n\r\n",
              "begin|head POST / 1.1 h=2 chunked ka=1 " SMUGGLE "|body 3 'abc'|complete"
              "|begin|head GET /next 1.1 h=0 none ka=1|complete");
    /* a bad Content-Length beside chunked: still framed by Transfer-Encoding */
    req_split("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: x\r\n\r\n"
              "0\r\n\r\n",
              "begin|head POST / 1.1 h=2 chunked ka=1 " SMUGGLE "|complete");
    req_split("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: gzip\r\n\r\n",
              "begin|head POST / 1.1 h=2 none ka=0 refused|error parse error @36 content-length"
              " and transfer-encoding both present, and transfer-encoding does not end in chunked");
    resp_split("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
               "begin|error parse error @45 content-length and transfer-encoding both present");
}

static void test_http1__differing_content_lengths_keep_the_head(void **state)
{
    (void)state;
    req_split("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef",
              "begin|head POST / 1.1 h=2 none ka=0 refused"
              "|error parse error @36 conflicting content-length values");
    req_split("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nabcdef",
              "begin|head POST / 1.1 h=1 none ka=0 refused"
              "|error parse error @17 conflicting content-length values");
    resp_split("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
               "begin|error parse error @36 conflicting content-length values");
}

static void test_http1__invalid_content_lengths_keep_the_head(void **state)
{
    (void)state;
    const char *bad[] = {"-1", "+5", "5 5", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char in[128];
        snprintf(in, sizeof in, "POST / HTTP/1.1\r\nContent-Length:%s%s\r\n\r\n",
                 *bad[i] ? " " : "", bad[i]);
        req_split(in, "begin|head POST / 1.1 h=1 none ka=0 refused"
                      "|error parse error @17 invalid content-length value");
    }
    req_split("POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n",
              "begin|head POST / 1.1 h=1 none ka=0 refused"
              "|error parse error @17 content-length value too large");
    resp_split("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
               "begin|error parse error @17 invalid content-length value");
}

static void test_http1__request_te_not_ending_in_chunked_keeps_the_head(void **state)
{
    (void)state;
    req_split("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
              "begin|head POST / 1.1 h=1 none ka=0 refused"
              "|error parse error @17 request transfer-encoding does not end in chunked");
}

static void test_http1__huge_chunk_size_rejected(void **state)
{
    (void)state;
    req_split("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n",
              "begin|head POST / 1.1 h=1 chunked ka=1"
              "|error parse error @63 chunk size has more than 16 hex digits");
}

static void test_http1__invalid_chunk_lines_rejected(void **state)
{
    (void)state;
    const char *head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"; /* 47 bytes */
    /* chunk bytes, body delivered before the error, error */
    const char *bad[][3] = {
        {"\r\n", "", "@47 invalid chunk size"},
        {"zz\r\n", "", "@47 invalid chunk size"},
        {"5 x\r\n", "", "@49 invalid character after chunk size"},
        {"5;\r\n", "", "@49 invalid chunk extension"},
        {"5;a=\"open\r\n", "", "@56 unterminated quoted string in chunk extension"},
        {"3\r\nabcX", "|body 3 'abc'", "@53 missing line break after chunk data"},
        {"3\r\nabc\r\r\n", "|body 3 'abc'", "@54 missing line break after chunk data"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char in[256], expect[256];
        snprintf(in, sizeof in, "%s%s", head, bad[i][0]);
        snprintf(expect, sizeof expect,
                 "begin|head 200 'OK' 1.1 h=1 chunked ka=1%s|error parse error %s", bad[i][1],
                 bad[i][2]);
        resp_split(in, expect);
    }
}

/* A chunk line "1;x=aaa...", pad bytes of 'a' after "1;x=", then a one-byte chunk. */
static size_t long_chunk_line(char *in, size_t cap, size_t pad)
{
    const char *head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;x="; /* 51 */
    size_t n = strlen(head);
    assert_true(n + pad + 16 < cap);
    memcpy(in, head, n);
    memset(in + n, 'a', pad);
    n += pad;
    memcpy(in + n, "\r\nZ\r\n0\r\n\r\n", 10);
    return n + 10;
}

static void test_http1__chunk_size_line_over_4096_bytes_rejected(void **state)
{
    (void)state;
    static char in[8192];
    struct rec r;
    /* 4096 bytes before the CRLF: accepted, also when a piece ends right after the CR */
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    r.limits.max_header_bytes = 128; /* the chunk line bound does not depend on it */
    size_t n = long_chunk_line(in, sizeof in, 4092);
    run_split(&r, in, n, "begin|head POST / 1.1 h=1 chunked ka=1|body 1 'Z'|complete");
    /* one byte more */
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    n = long_chunk_line(in, sizeof in, 4093);
    run_split(&r, in, n,
              "begin|head POST / 1.1 h=1 chunked ka=1"
              "|error parse error @4143 chunk size line longer than 4096 bytes");
}

static void test_http1__space_before_colon_rejected(void **state)
{
    (void)state;
    req_split("GET / HTTP/1.1\r\nHost : a\r\n\r\n",
              "begin|error parse error @20 whitespace between field name and colon");
    resp_split("HTTP/1.1 200 OK\r\nContent-Length\t: 0\r\n\r\n",
               "begin|error parse error @31 whitespace between field name and colon");
}

static void test_http1__obs_fold_rejected(void **state)
{
    (void)state;
    req_split("GET / HTTP/1.1\r\nX-Long: a\r\n b\r\n\r\n",
              "begin|error parse error @27 obsolete line folding in header block");
    req_split("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\r\n\t2\r\n\r\n",
              "begin|head POST / 1.1 h=1 chunked ka=1"
              "|error parse error @56 obsolete line folding in trailer section");
}

static void test_http1__malformed_lines_rejected(void **state)
{
    (void)state;
    /* refused lines that still read "METHOD target HTTP/1.x" come as seen, then fail */
    req_split("GET  / HTTP/1.1\r\n\r\n",
              "begin|head GET  / 1.1 h=0 none ka=0 refused"
              "|error parse error @4 space inside the request target");
    req_split("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
              "begin|head GET /a b 1.1 h=0 none ka=0 refused"
              "|error parse error @7 space inside the request target");
    req_split("G(T /x HTTP/1.0\r\n\r\n",
              "begin|head G(T /x 1.0 h=0 none ka=0 refused"
              "|error parse error @1 invalid method in request line");
    /* control bytes, or no version at the end: not shown */
    req_split("G\x1bT /x HTTP/1.1\r\n\r\n",
              "begin|error parse error @1 invalid method in request line");
    req_split("GET / HTTP/2.0\r\n\r\n",
              "begin|error parse error @6 invalid http version in request line");
    req_split("GET /\r\n\r\n", "begin|error parse error @5 missing http version in request line");
    req_split("G@T / HTTP/1.1\r\n\r\n",
              "begin|head G@T / 1.1 h=0 none ka=0 refused"
              "|error parse error @1 invalid method in request line");
    req_split("GET / HTTP/1.1\r\nNo-Colon\r\n\r\n",
              "begin|error parse error @16 field line without a colon");
    req_split("GET / HTTP/1.1\r\n: empty\r\n\r\n", "begin|error parse error @16 empty field name");
    req_split("GET / HTTP/1.1\r\nA\x01: b\r\n\r\n",
              "begin|error parse error @17 invalid character in field name");
    req_split("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",
              "begin|error parse error @20 invalid character in field value");
    resp_split("HTTP/1.1 2000 OK\r\n\r\n", "begin|error parse error @9 invalid status code");
    resp_split("HTTP/2 200 OK\r\n\r\n",
               "begin|error parse error @0 invalid http version in status line");
    resp_split("HTTP/1.1 200 O\x7fK\r\n\r\n",
               "begin|error parse error @14 invalid character in reason phrase");
}

static void test_http1__header_block_over_limit_returns_elimit(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    r.limits.max_header_bytes = 40;
    const char *ok = "GET / HTTP/1.1\r\nX-Aaaaaaaaaaaaaaa: 1\r\n\r\n"; /* exactly 40 */
    run_split(&r, ok, strlen(ok), "begin|head GET / 1.1 h=1 none ka=1|complete");
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    r.limits.max_header_bytes = 40;
    const char *big = "GET / HTTP/1.1\r\nX-Aaaaaaaaaaaaaaaa: 1\r\n\r\n";
    run_split(&r, big, strlen(big),
              "begin|error limit reached @40 header block larger than 40 bytes");
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    r.limits.max_header_bytes = 40;
    const char *nolf = "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    run_split(&r, nolf, strlen(nolf),
              "begin|error limit reached @40 header block larger than 40 bytes");
}

static void test_http1__too_many_headers_returns_elimit(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    r.limits.max_header_count = 2;
    const char *in = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n"
                     "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    run_split(&r, in, strlen(in),
              "begin|head GET / 1.1 h=2 none ka=1|complete"
              "|begin|error limit reached @58 more than 2 header fields");
}

static void test_http1__failed_parser_stays_failed_until_resync(void **state)
{
    (void)state;
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    struct sdiff_http1 *p = NULL;
    assert_int_equal(sdiff_http1_new(&p, SDIFF_HTTP1_REQUEST, &lim, &rec_cb, &r, NULL), SDIFF_OK);
    r.p = p;
    sdiff_buf_init(&r.t, 1 << 20);
    sdiff_buf_init(&r.body, 1 << 20);
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_http1_feed(p, (const uint8_t *)"BAD\r\n", 5, &err), SDIFF_EPARSE);
    assert_string_equal(err.where, "http1");
    assert_int_equal(err.offset, 3);
    sdiff_err_clear(&err);
    const char *ok = "GET / HTTP/1.1\r\n\r\n";
    assert_int_equal(sdiff_http1_feed(p, (const uint8_t *)ok, strlen(ok), &err), SDIFF_EPARSE);
    assert_int_equal(err.offset, 5);
    assert_int_equal(sdiff_http1_eof(p, NULL), SDIFF_EPARSE);
    assert_string_equal((char *)r.t.data, "begin");
    sdiff_http1_resync(p);
    assert_int_equal(sdiff_http1_feed(p, (const uint8_t *)ok, strlen(ok), NULL), SDIFF_OK);
    assert_string_equal((char *)r.t.data, "begin|begin|head GET / 1.1 h=0 none ka=1|complete");
    assert_int_equal(sdiff_http1_skipped_bytes(p), 0);
    r.p = NULL;
    sdiff_http1_free(p);
    rec_dispose(&r);
}

static int fail_head(const struct sdiff_http1_head *h, void *ud)
{
    (void)h;
    (void)ud;
    return -42;
}

static void test_http1__callback_error_stops_parser(void **state)
{
    (void)state;
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    struct sdiff_http1_cb cb = {.on_head = fail_head};
    struct sdiff_http1 *p = NULL;
    assert_int_equal(sdiff_http1_new(&p, SDIFF_HTTP1_REQUEST, &lim, &cb, NULL, NULL), SDIFF_OK);
    struct sdiff_err err = {0};
    const char *in = "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    assert_int_equal(sdiff_http1_feed(p, (const uint8_t *)in, strlen(in), &err), -42);
    assert_int_equal(err.code, -42);
    assert_int_equal(sdiff_http1_feed(p, (const uint8_t *)in, strlen(in), NULL), SDIFF_EPARSE);
    sdiff_http1_free(p);

    struct rec r;
    rec_init(&r, SDIFF_HTTP1_RESPONSE);
    r.body_fails = -100;
    const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\n\r\n";
    r.expect = NULL;
    rec_reset(&r);
    rec_feed(&r, (const uint8_t *)resp, strlen(resp));
    rec_finish(&r);
    assert_string_equal((char *)r.t.data, "begin|head 200 'OK' 1.1 h=1 len=3 ka=1|body 3 'abc'"
                                          "|error unknown status @38 a callback stopped the "
                                          "parser (status -100)");
    rec_dispose(&r);
}

/* ---- resync and gaps ------------------------------------------------------------------- */

static void test_http1__resync_after_garbage_finds_next_request(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    const char *rest = "rbage continues\r\nGET is not a request line\r\n"
                       "GET /x HTTP/1.1 trailing\r\n\r\n"
                       "POST /next HTTP/1.1\r\nContent-Length: 2\r\n\r\nok";
    r.expect = "begin|error parse error @2 invalid method in request line"
               "|begin|head POST /next 1.1 h=1 len=2 ka=1|body 2 'ok'|complete|skipped=72";
    /* the garbage fails the parser; the caller resyncs, then the rest comes split anywhere */
    for (size_t cut = 0; cut <= strlen(rest); cut++) {
        rec_reset(&r);
        rec_feed(&r, (const uint8_t *)"GA\x01 junk\n", 9);
        sdiff_http1_resync(r.p);
        rec_feed(&r, (const uint8_t *)rest, cut);
        rec_feed(&r, (const uint8_t *)rest + cut, strlen(rest) - cut);
        rec_check(&r);
    }
    rec_dispose(&r);
}

static void test_http1__resync_at_stream_start_treats_first_byte_as_line_start(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    r.resync_first = 1;
    const char *in = "GET /mid HTTP/1.1\r\nHost: a\r\n\r\n";
    run_split(&r, in, strlen(in), "begin|head GET /mid 1.1 h=1 none ka=1|complete");

    rec_init(&r, SDIFF_HTTP1_REQUEST);
    r.resync_first = 1;
    in = "/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\n\r\n";
    run_split(&r, in, strlen(in), "begin|head GET /next 1.1 h=0 none ka=1|complete|skipped=17");
}

/* Pipelined behind a body of unknown framing, with no line end between them. */
static void test_http1__hunt_anywhere_finds_a_request_glued_to_a_body(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    r.resync_first = 1;
    r.anywhere = 1;
    /* a line start glued to body bytes ("bbbPOST") starts at the method, not the line; a
     * HEADER or a GET without a target is no candidate; a bad line is skipped whole */
    const char *in = "HEADERS and a GET\r\nxGET /no version here\r\n\"}bbbPOST /b HTTP/1.1\r\n"
                     "Content-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\n\r\n";
    run_split(&r, in, strlen(in),
              "begin|head POST /b 1.1 h=1 len=3 ka=1|body 3 'abc'|complete"
              "|begin|head GET /c 1.1 h=0 none ka=1|complete|skipped=47");

    rec_init(&r, SDIFF_HTTP1_RESPONSE);
    r.resync_first = 1;
    r.anywhere = 1;
    in = "aa\"}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 204 No Content\r\n\r\n";
    run_split(&r, in, strlen(in),
              "begin|head 200 'OK' 1.1 h=1 len=2 ka=1|body 2 'hi'|complete"
              "|begin|head 204 'No Content' 1.1 h=0 none ka=1|complete|skipped=4");

    /* a candidate that fails inside the bytes of another: "CO" is not CONNECT, "OPTIONS" is */
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    r.resync_first = 1;
    r.anywhere = 1;
    in = "TRACOPTIONS * HTTP/1.1\r\n\r\n";
    run_split(&r, in, strlen(in), "begin|head OPTIONS * 1.1 h=0 none ka=1|complete|skipped=4");
}

static void test_http1__resync_mid_body_finds_next_response(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_RESPONSE);
    r.resync_first = 1;
    r.eof = 1;
    /* capture began inside a chunked JSON body; a text line even says HTTP/1.1 mid-line */
    const char *in = "tems\":[1,2,3]}\r\n0\r\n\r\n"
                     "xx HTTP/1.1 200 OK\r\n"
                     "HTTP/1.1 2OO OK\r\n"
                     "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope"
                     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    run_split(&r, in, strlen(in),
              "begin|head 404 'Not Found' 1.1 h=1 len=4 ka=1|body 4 'nope'|complete"
              "|begin|head 200 'OK' 1.1 h=1 len=2 ka=1|body 2 'ok'|complete|eof ok|skipped=58");
}

static void test_http1__hunting_candidate_over_limit_skipped(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    r.resync_first = 1;
    r.limits.max_header_bytes = 32;
    const char *in = "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nGET /b HTTP/1.1\r\n\r\n";
    run_split(&r, in, strlen(in), "begin|head GET /b 1.1 h=0 none ka=1|complete|skipped=43");
}

static void test_http1__resync_from_on_head_hunts_in_the_body(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    r.resync_on_head = 1;
    const char *in =
        "POST /a HTTP/1.1\r\nContent-Length: 7\r\n\r\nabcde\r\nGET /b HTTP/1.1\r\n\r\n";
    run_split(&r, in, strlen(in),
              "begin|head POST /a 1.1 h=1 len=7 ka=1|begin|head GET /b 1.1 h=0 none ka=1"
              "|complete|skipped=7");
}

static void test_http1__gap_inside_content_length_body_continues(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_RESPONSE);
    rec_reset(&r);
    const char *a = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab";
    rec_feed(&r, (const uint8_t *)a, strlen(a));
    assert_int_equal(sdiff_http1_gap(r.p, 5), SDIFF_OK);
    assert_true(sdiff_http1_in_message(r.p));
    rec_feed(&r, (const uint8_t *)"xyzHTTP/1.1 204 No\r\n\r\n", 22);
    rec_finish(&r);
    assert_string_equal((char *)r.t.data,
                        "begin|head 200 'OK' 1.1 h=1 len=10 ka=1|body 5 'abxyz'|complete"
                        "|begin|head 204 'No' 1.1 h=0 none ka=1|complete");

    /* a gap that ends the body exactly completes the message */
    rec_reset(&r);
    rec_feed(&r, (const uint8_t *)a, strlen(a));
    assert_int_equal(sdiff_http1_gap(r.p, 8), SDIFF_OK);
    assert_false(sdiff_http1_in_message(r.p));
    rec_finish(&r);
    assert_string_equal((char *)r.t.data,
                        "begin|head 200 'OK' 1.1 h=1 len=10 ka=1|body 2 'ab'|complete");

    /* longer than the rest of the body: framing lost */
    rec_reset(&r);
    rec_feed(&r, (const uint8_t *)a, strlen(a));
    assert_int_equal(sdiff_http1_gap(r.p, 9), SDIFF_EPARSE);
    rec_feed(&r, (const uint8_t *)"z\r\nHTTP/1.1 200 OK\r\n\r\n", 22);
    rec_finish(&r);
    assert_string_equal((char *)r.t.data, "begin|head 200 'OK' 1.1 h=1 len=10 ka=1|body 2 'ab'"
                                          "|begin|head 200 'OK' 1.1 h=0 close ka=0|skipped=3");
    rec_dispose(&r);
}

static void test_http1__gap_inside_chunk_data_continues(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    rec_reset(&r);
    const char *a = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nab";
    rec_feed(&r, (const uint8_t *)a, strlen(a));
    assert_int_equal(sdiff_http1_gap(r.p, 4), SDIFF_OK);
    rec_feed(&r, (const uint8_t *)"\r\n1\r\nc\r\n0\r\n\r\n", 13);
    rec_finish(&r);
    assert_string_equal((char *)r.t.data,
                        "begin|head POST / 1.1 h=1 chunked ka=1|body 3 'abc'|complete");

    /* a gap over a chunk boundary loses the framing */
    rec_reset(&r);
    rec_feed(&r, (const uint8_t *)a, strlen(a));
    assert_int_equal(sdiff_http1_gap(r.p, 5), SDIFF_EPARSE);
    assert_false(sdiff_http1_in_message(r.p));
    rec_dispose(&r);
}

static void test_http1__gap_in_close_delimited_body_is_ok(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_RESPONSE);
    rec_reset(&r);
    const char *a = "HTTP/1.1 200 OK\r\n\r\nfirst ";
    rec_feed(&r, (const uint8_t *)a, strlen(a));
    assert_int_equal(sdiff_http1_gap(r.p, 1000), SDIFF_OK);
    rec_feed(&r, (const uint8_t *)"last", 4);
    assert_int_equal(sdiff_http1_eof(r.p, NULL), SDIFF_OK);
    rec_finish(&r);
    assert_string_equal((char *)r.t.data,
                        "begin|head 200 'OK' 1.1 h=0 close ka=0|body 10 'first last'|complete");
    rec_dispose(&r);
}

static void test_http1__gap_between_messages_resyncs(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_REQUEST);
    const char *a = "GET /1 HTTP/1.1\r\n\r\n";
    const char *rest = "/lost HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\n\r\n";
    r.expect = "begin|head GET /1 1.1 h=0 none ka=1|complete"
               "|begin|head GET /3 1.1 h=0 none ka=1|complete|skipped=27";
    for (size_t cut = 0; cut <= strlen(rest); cut++) {
        rec_reset(&r);
        rec_feed(&r, (const uint8_t *)a, strlen(a));
        assert_int_equal(sdiff_http1_gap(r.p, 4), SDIFF_EPARSE); /* "GET " lost */
        rec_feed(&r, (const uint8_t *)rest, cut);
        rec_feed(&r, (const uint8_t *)rest + cut, strlen(rest) - cut);
        rec_check(&r);
    }
    rec_dispose(&r);

    /* a gap inside a header block also loses the message; offsets count the lost bytes */
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    struct sdiff_http1 *p = NULL;
    assert_int_equal(sdiff_http1_new(&p, SDIFF_HTTP1_REQUEST, &lim, NULL, NULL, NULL), SDIFF_OK);
    assert_int_equal(sdiff_http1_feed(p, (const uint8_t *)"GET / HT", 8, NULL), SDIFF_OK);
    assert_int_equal(sdiff_http1_gap(p, 3), SDIFF_EPARSE);
    assert_int_equal(sdiff_http1_feed(p, (const uint8_t *)"\x01\x02\n", 3, NULL), SDIFF_OK);
    assert_int_equal(sdiff_http1_skipped_bytes(p), 3);
    sdiff_http1_resync(p);
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_http1_feed(p, (const uint8_t *)"GET / HTTP/1.1\r\nA b\r\n", 21, &err),
                     SDIFF_EPARSE);
    assert_int_equal(err.offset, 31);
    assert_string_equal(err.msg, "invalid character in field name");
    sdiff_http1_free(p);
}

/* ---- fixtures, allocation failures ----------------------------------------------------- */

static size_t count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *q = strstr(s, needle); q != NULL; q = strstr(q + 1, needle))
        n++;
    return n;
}

static void test_http1__fixtures_parse_identically_at_every_split(void **state)
{
    (void)state;
    static const struct {
        const char *dir;
        size_t requests, responses;
    } cases[] = {
        {"flask-json", 1, 1},
        {"go-chunked", 1, 1},
        {"pipelined", 3, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int k = 0; k < 2; k++) {
            char rel[256];
            snprintf(rel, sizeof rel, "http/%s/%s", cases[i].dir,
                     k == 0 ? "request.http" : "response.http");
            size_t len = 0;
            uint8_t *in = sdiff_test_read_file(sdiff_test_fixture_path(rel), &len);
            struct rec r;
            rec_init(&r, k == 0 ? SDIFF_HTTP1_REQUEST : SDIFF_HTTP1_RESPONSE);
            r.eof = 1;
            r.show_headers = 1;
            r.expect = NULL;
            sdiff_test_feed_split(in, len, rec_reset, rec_feed, rec_check, &r);
            size_t want = k == 0 ? cases[i].requests : cases[i].responses;
            if (count(r.first, "|complete") != want || strstr(r.first, "error") != NULL ||
                strstr(r.first, "eof ok") == NULL)
                fail_msg("%s: %s", rel, r.first);
            rec_dispose(&r);
            free(in);
        }
    }
}

static void test_http1__go_chunked_fixture_decodes_trailer(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *in =
        sdiff_test_read_file(sdiff_test_fixture_path("http/go-chunked/response.http"), &len);
    struct rec r;
    rec_init(&r, SDIFF_HTTP1_RESPONSE);
    rec_reset(&r);
    rec_feed(&r, in, len);
    rec_finish(&r);
    assert_non_null(strstr((char *)r.t.data, "|body 199 fnv="));
    assert_non_null(strstr((char *)r.t.data,
                           "|trailers [X-Items-Checksum: sha256=9c1185a5c5e9fc54612808977ee8f548"
                           "b2258d31]|complete"));
    rec_dispose(&r);
    free(in);
}

/* Fail every allocation in turn: each run must end in ENOMEM cleanly or in the full result. */
static void test_http1__allocation_failures_reported_cleanly(void **state)
{
    (void)state;
    const char *in = "POST /a HTTP/1.1\r\nA: 1\r\nB: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n";
    size_t len = strlen(in), cut = 20;
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    for (long n = 0;; n++) {
        struct sdiff_http1 *p = NULL;
        struct sdiff_err err = {0};
        sdiff_alloc_fail_after(n);
        int rc = sdiff_http1_new(&p, SDIFF_HTTP1_REQUEST, &lim, NULL, NULL, &err);
        if (rc == SDIFF_OK) {
            /* split inside the header block and inside the trailers: both are buffered */
            rc = sdiff_http1_feed(p, (const uint8_t *)in, cut, &err);
            if (rc == SDIFF_OK)
                rc = sdiff_http1_feed(p, (const uint8_t *)in + cut, len - cut - 3, &err);
            if (rc == SDIFF_OK)
                rc = sdiff_http1_feed(p, (const uint8_t *)in + len - 3, 3, &err);
        }
        long made = sdiff_alloc_fail_after(-1);
        if (rc == SDIFF_OK) {
            assert_false(sdiff_http1_in_message(p));
            sdiff_http1_free(p);
            assert_true(made <= n);
            break;
        }
        assert_int_equal(rc, SDIFF_ENOMEM);
        assert_int_equal(err.code, SDIFF_ENOMEM);
        sdiff_http1_free(p);
        assert_true(n < 100);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_http1__simple_get_gives_head_and_complete),
    cmocka_unit_test(test_http1__post_with_content_length_delivers_body),
    cmocka_unit_test(test_http1__content_length_zero_completes_at_head),
    cmocka_unit_test(test_http1__chunked_with_extensions_and_trailers_decodes_body),
    cmocka_unit_test(test_http1__chunked_without_trailers_skips_on_trailers),
    cmocka_unit_test(test_http1__three_pipelined_requests_all_complete),
    cmocka_unit_test(test_http1__leading_empty_lines_skipped_without_begin),
    cmocka_unit_test(test_http1__bare_lf_lines_accepted),
    cmocka_unit_test(test_http1__field_values_trimmed_names_keep_case),
    cmocka_unit_test(test_http1__http10_keep_alive_rules),
    cmocka_unit_test(test_http1__expect_100_continue_sets_flag),
    cmocka_unit_test(test_http1__identical_content_length_list_accepted),
    cmocka_unit_test(test_http1__response_to_head_skips_body),
    cmocka_unit_test(test_http1__status_204_and_304_with_content_length_have_no_body),
    cmocka_unit_test(test_http1__100_continue_then_200_gives_two_messages),
    cmocka_unit_test(test_http1__101_upgrade_ignores_following_bytes),
    cmocka_unit_test(test_http1__set_upgraded_ignores_following_bytes),
    cmocka_unit_test(test_http1__close_delimited_response_completes_at_eof),
    cmocka_unit_test(test_http1__response_te_not_chunked_is_close_delimited),
    cmocka_unit_test(test_http1__status_line_without_reason_accepted),
    cmocka_unit_test(test_http1__eof_mid_body_returns_etrunc),
    cmocka_unit_test(test_http1__eof_between_messages_returns_ok),
    cmocka_unit_test(test_http1__te_with_content_length_framed_by_te),
    cmocka_unit_test(test_http1__differing_content_lengths_keep_the_head),
    cmocka_unit_test(test_http1__invalid_content_lengths_keep_the_head),
    cmocka_unit_test(test_http1__request_te_not_ending_in_chunked_keeps_the_head),
    cmocka_unit_test(test_http1__huge_chunk_size_rejected),
    cmocka_unit_test(test_http1__invalid_chunk_lines_rejected),
    cmocka_unit_test(test_http1__chunk_size_line_over_4096_bytes_rejected),
    cmocka_unit_test(test_http1__space_before_colon_rejected),
    cmocka_unit_test(test_http1__obs_fold_rejected),
    cmocka_unit_test(test_http1__malformed_lines_rejected),
    cmocka_unit_test(test_http1__header_block_over_limit_returns_elimit),
    cmocka_unit_test(test_http1__too_many_headers_returns_elimit),
    cmocka_unit_test(test_http1__failed_parser_stays_failed_until_resync),
    cmocka_unit_test(test_http1__callback_error_stops_parser),
    cmocka_unit_test(test_http1__resync_after_garbage_finds_next_request),
    cmocka_unit_test(test_http1__resync_at_stream_start_treats_first_byte_as_line_start),
    cmocka_unit_test(test_http1__resync_mid_body_finds_next_response),
    cmocka_unit_test(test_http1__hunt_anywhere_finds_a_request_glued_to_a_body),
    cmocka_unit_test(test_http1__hunting_candidate_over_limit_skipped),
    cmocka_unit_test(test_http1__resync_from_on_head_hunts_in_the_body),
    cmocka_unit_test(test_http1__gap_inside_content_length_body_continues),
    cmocka_unit_test(test_http1__gap_inside_chunk_data_continues),
    cmocka_unit_test(test_http1__gap_in_close_delimited_body_is_ok),
    cmocka_unit_test(test_http1__gap_between_messages_resyncs),
    cmocka_unit_test(test_http1__fixtures_parse_identically_at_every_split),
    cmocka_unit_test(test_http1__go_chunked_fixture_decodes_trailer),
    cmocka_unit_test(test_http1__allocation_failures_reported_cleanly),
};
SDIFF_TEST_MAIN(tests)
