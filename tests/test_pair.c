/*
 * test_pair.c - pairing requests with responses on one connection, driven through the
 * reassembler callbacks exactly as sdiff_reasm would call them.
 */
#include "sdiff_test.h"

#include <stdio.h>
#include <string.h>

#include "shadowdiff/pair.h"

struct fx {
    struct sdiff_pair *pair;
    const struct sdiff_reasm_cb *cb;
    void *flow;
    char log[8192];
    char notes[2048];
    uint64_t ts;
};

static void collect(struct sdiff_exchange *ex, void *ud)
{
    struct fx *f = ud;
    size_t n = strlen(f->log);
    snprintf(f->log + n, sizeof f->log - n, "%u %s %s %d %s %zu|", ex->seq,
             ex->req.present ? ex->req.method : "-", ex->req.present ? ex->req.target : "-",
             ex->resp.present ? ex->resp.status : 0, sdiff_exchange_state_str(ex->state),
             ex->resp.body_len);
    n = strlen(f->notes);
    snprintf(f->notes + n, sizeof f->notes - n, "%s|", ex->note);
    sdiff_exchange_free(ex);
}

static void fx_open(struct fx *f, const struct sdiff_limits *lim, int midstream)
{
    struct sdiff_limits def = SDIFF_LIMITS_INIT;
    memset(f, 0, sizeof *f);
    assert_int_equal(sdiff_pair_new(&f->pair, lim ? lim : &def, collect, f, NULL), SDIFF_OK);
    f->cb = sdiff_pair_reasm_cb();
    struct sdiff_flow_info info = {.id = 1, .family = 4, .cport = 40000, .sport = 8080,
                                   .midstream = midstream};
    info.client[0] = 127, info.client[3] = 1, info.server[0] = 127, info.server[3] = 1;
    f->cb->on_open(&info, &f->flow, f->pair);
}

static void fx_send(struct fx *f, enum sdiff_dir d, const char *s)
{
    f->cb->on_data(f->flow, d, (const uint8_t *)s, strlen(s), ++f->ts, f->pair);
}

static void fx_close(struct fx *f)
{
    f->cb->on_close(f->flow, SDIFF_CLOSE_FIN, ++f->ts, f->pair);
}

static void fx_free(struct fx *f)
{
    sdiff_pair_free(f->pair);
}

#define C2S SDIFF_DIR_C2S
#define S2C SDIFF_DIR_S2C

static const char OK5[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

static void fx_send_unacked(struct fx *f, enum sdiff_dir d, const char *s)
{
    f->cb->on_data_unacked(f->flow, d, (const uint8_t *)s, strlen(s), ++f->ts, f->pair);
}

static void test_pair__unacknowledged_bytes_mark_every_exchange_they_touch(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, 0);
    /* acked: a whole exchange, then the head of a request whose end was never acked */
    fx_send(&f, C2S, "GET /a HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, OK5);
    fx_send(&f, C2S, "POST /b HTTP/1.1\r\nContent-Length: 4\r\n\r\nab");
    fx_send_unacked(&f, C2S, "cdGET /c HTTP/1.1\r\n\r\n");
    fx_send(&f, C2S, "GET /d HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, OK5);
    fx_send(&f, S2C, OK5);
    /* a response the client never acknowledged */
    fx_send_unacked(&f, S2C, OK5);
    fx_close(&f);
    assert_string_equal(f.log, "0 GET /a 200 complete 5|1 POST /b 200 unacknowledged 5|"
                               "2 GET /c 200 unacknowledged 5|3 GET /d 200 unacknowledged 5|");
    assert_int_equal(sdiff_pair_stats(f.pair)->exchanges[SDIFF_EX_UNACKNOWLEDGED], 3);
    fx_free(&f);
}

/* A midstream connection whose client was guessed the wrong way round. */
static void fx_open_guessed(struct fx *f)
{
    struct sdiff_limits def = SDIFF_LIMITS_INIT;
    memset(f, 0, sizeof *f);
    assert_int_equal(sdiff_pair_new(&f->pair, &def, collect, f, NULL), SDIFF_OK);
    f->cb = sdiff_pair_reasm_cb();
    struct sdiff_flow_info info = {.id = 1, .family = 4, .cport = 50999, .sport = 40123,
                                   .midstream = 1, .dir_guessed = 1};
    f->cb->on_open(&info, &f->flow, f->pair);
}

static void test_pair__guessed_roles_are_swapped_at_the_first_start_line(void **state)
{
    (void)state;
    /* What the reassembler calls C2S is the server: the tail of a response begun before the
     * capture, then (after the request) the answers; S2C carries the requests. The answer
     * is cut at every offset, and so is the request line that settles the roles. */
    static const char tail[] = "ody tail}\n";
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    static const char cli[] = "GET /a HTTP/1.1\r\n\r\n";
    for (size_t cut = 1; cut < sizeof resp - 1; cut++) {
        struct fx f;
        fx_open_guessed(&f);
        fx_send(&f, C2S, tail);
        char a[64];
        size_t ccut = cut % (sizeof cli - 1);
        snprintf(a, sizeof a, "%.*s", (int)ccut, cli);
        if (ccut > 0)
            fx_send(&f, S2C, a);
        fx_send(&f, S2C, cli + ccut);
        snprintf(a, sizeof a, "%.*s", (int)cut, resp);
        fx_send(&f, C2S, a);
        fx_send(&f, C2S, resp + cut);
        fx_send(&f, S2C, "POST /b HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        fx_send(&f, C2S, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
        if (strcmp(f.log, "0 GET /a 200 complete 2|1 POST /b 201 complete 0|") != 0)
            fail_msg("cut %zu: %s", cut, f.log);
        assert_int_equal(sdiff_pair_stats(f.pair)->conn_roles_swapped, 1);
        fx_close(&f);
        fx_free(&f);
    }
}

static void test_pair__pipelined_requests_pair_in_order(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, 0);
    fx_send(&f, C2S, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
                     "POST /c HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    fx_send(&f, S2C, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"
                     "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nBB\r\n0\r\n\r\n"
                     "HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nCCC");
    assert_string_equal(f.log, "0 GET /a 200 complete 1|1 GET /b 404 complete 2|"
                               "2 POST /c 201 complete 3|");
    fx_close(&f);
    fx_free(&f);
}

static void test_pair__continue_and_head_responses_skip_correctly(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, 0);
    fx_send(&f, C2S, "POST /up HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    fx_send(&f, S2C, "HTTP/1.1 100 Continue\r\n\r\n");
    fx_send(&f, C2S, "data");
    fx_send(&f, S2C, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
    fx_send(&f, C2S, "HEAD /h HTTP/1.1\r\n\r\nGET /g HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, "HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n");
    fx_send(&f, S2C, OK5);
    assert_string_equal(f.log, "0 POST /up 201 complete 2|1 HEAD /h 200 complete 0|"
                               "2 GET /g 200 complete 5|");
    fx_close(&f);
    fx_free(&f);
}

static void test_pair__response_without_request_is_orphan(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, 1);
    fx_send(&f, S2C, "ly the end of an old body\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    fx_send(&f, C2S, "GET /next HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, OK5);
    assert_string_equal(f.log, "0 GET /next 200 complete 5|");
    assert_int_equal(sdiff_pair_stats(f.pair)->orphan_responses, 1);
    fx_close(&f);
    fx_free(&f);
}

static void test_pair__gap_in_body_marks_only_that_exchange(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, 0);
    fx_send(&f, C2S, "GET /a HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12");
    f.cb->on_gap(f.flow, S2C, 4, ++f.ts, f.pair);
    fx_send(&f, S2C, "7890");
    fx_send(&f, C2S, "GET /b HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, OK5);
    assert_string_equal(f.log, "0 GET /a 200 gap 6|1 GET /b 200 complete 5|");
    fx_close(&f);
    fx_free(&f);
}

static void test_pair__gap_across_headers_never_mispairs(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, 0);
    fx_send(&f, C2S, "GET /a HTTP/1.1\r\n\r\n");
    /* the whole response to /a is lost: /a must not take /b's response */
    f.cb->on_gap(f.flow, S2C, 40, ++f.ts, f.pair);
    fx_send(&f, C2S, "GET /b HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, OK5);
    assert_string_equal(f.log, "0 GET /a 0 gap 0|1 GET /b 200 complete 5|");
    fx_close(&f);
    fx_free(&f);
}

static void test_pair__lost_request_response_is_dropped(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, 0);
    fx_send(&f, C2S, "GET /a HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, OK5);
    f.cb->on_gap(f.flow, C2S, 30, ++f.ts, f.pair); /* request /lost vanished */
    fx_send(&f, S2C, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    fx_send(&f, C2S, "GET /c HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, OK5);
    assert_string_equal(f.log, "0 GET /a 200 complete 5|1 GET /c 200 complete 5|");
    assert_int_equal(sdiff_pair_stats(f.pair)->orphan_responses, 1);
    fx_close(&f);
    fx_free(&f);
}

static void test_pair__gap_ending_with_the_body_marks_it(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, 0);
    fx_send(&f, C2S, "GET /a HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n123456");
    /* the last 4 bytes lost: the gap itself completes the response */
    f.cb->on_gap(f.flow, S2C, 4, ++f.ts, f.pair);
    fx_send(&f, C2S, "POST /b HTTP/1.1\r\nContent-Length: 6\r\n\r\nab");
    f.cb->on_gap(f.flow, C2S, 4, ++f.ts, f.pair);
    fx_send(&f, S2C, OK5);
    assert_string_equal(f.log, "0 GET /a 200 gap 6|1 POST /b 200 gap 5|");
    fx_close(&f);
    fx_free(&f);
}

static void test_pair__midstream_lost_status_line_never_mispairs(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, 1);
    fx_send(&f, C2S, "GET /users/508 HTTP/1.1\r\n\r\n");
    /* its status line and headers were lost; the body shows, then the next exchange */
    fx_send(&f, S2C, "{\"error\":\"user not found\"}\n");
    fx_send(&f, C2S, "GET /search HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, "HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\nnoq!!");
    assert_string_equal(f.log, "0 GET /users/508 0 gap 0|1 GET /search 400 complete 5|");
    fx_close(&f);
    fx_free(&f);
}

/*
 * Picked up inside a request's body (A) with requests pipelined behind it, glued to the end
 * of each body: A's answer is owed first and pairs with nothing; the others pair in order.
 */
static void test_pair__midstream_pipelined_pickup_pairs_after_the_partial_request(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, 1);
    fx_send(&f, C2S, "xyz\"}POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nbbb"
                     "POST /c HTTP/1.1\r\nContent-Length: 3\r\n\r\nccc");
    /* the server's first bytes end an earlier answer; then A's, B's and C's */
    fx_send(&f, S2C, "lo\"}HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\naa"
                     "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"
                     "HTTP/1.1 202 Accepted\r\nContent-Length: 1\r\n\r\nc");
    assert_string_equal(f.log, "0 POST /b 200 complete 1|1 POST /c 202 complete 1|");
    assert_int_equal(sdiff_pair_stats(f.pair)->orphan_responses, 1);
    fx_close(&f);
    fx_free(&f);
}

/* An answer that begins before the partial request ended answers an earlier request. */
static void test_pair__midstream_answer_before_the_partial_request_ended_is_not_its(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, 1);
    fx_send(&f, C2S, "first part of A's body, ");
    fx_send(&f, S2C, "HTTP/1.1 204 No Content\r\n\r\n");
    fx_send(&f, C2S, "its end\"}GET /b HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb");
    assert_string_equal(f.log, "0 GET /b 200 complete 1|");
    assert_int_equal(sdiff_pair_stats(f.pair)->orphan_responses, 2);
    fx_close(&f);
    fx_free(&f);

    /* A's answer already came, before the next request line: nothing more is owed */
    fx_open(&f, NULL, 1);
    fx_send(&f, C2S, "end of A\"}");
    fx_send(&f, S2C, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    fx_send(&f, C2S, "GET /b HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb");
    assert_string_equal(f.log, "0 GET /b 200 complete 1|");
    assert_int_equal(sdiff_pair_stats(f.pair)->orphan_responses, 1);
    fx_close(&f);
    fx_free(&f);
}

/* The waiting-request ring grows while a response is half read; the pairing follows it. */
static void test_pair__ring_grows_under_a_response_in_progress(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, 0);
    fx_send(&f, C2S, "GET /0 HTTP/1.1\r\n\r\nGET /1 HTTP/1.1\r\n\r\n"
                     "GET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\na");
    fx_send(&f, C2S, "GET /4 HTTP/1.1\r\n\r\nGET /5 HTTP/1.1\r\n\r\n"
                     "GET /6 HTTP/1.1\r\n\r\nGET /7 HTTP/1.1\r\n\r\nGET /8 HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, "a");
    for (int i = 1; i <= 8; i++) {
        char r[64];
        int st = 200 + i + (i >= 4 ? 2 : 0); /* 204 and 205 have no body */
        snprintf(r, sizeof r, "HTTP/1.1 %d OK\r\nContent-Length: 1\r\n\r\n%d", st, i);
        fx_send(&f, S2C, r);
    }
    assert_string_equal(f.log, "0 GET /0 200 complete 2|1 GET /1 201 complete 1|"
                               "2 GET /2 202 complete 1|3 GET /3 203 complete 1|"
                               "4 GET /4 206 complete 1|5 GET /5 207 complete 1|"
                               "6 GET /6 208 complete 1|7 GET /7 209 complete 1|"
                               "8 GET /8 210 complete 1|");
    fx_close(&f);
    fx_free(&f);
}

static void test_pair__close_leaves_no_response(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, 0);
    fx_send(&f, C2S, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, OK5);
    fx_close(&f);
    assert_string_equal(f.log, "0 GET /a 200 complete 5|1 GET /b 0 no_response 0|");
    fx_free(&f);
}

static void test_pair__close_delimited_response_completes_at_fin(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, 0);
    fx_send(&f, C2S, "GET /old HTTP/1.0\r\n\r\n");
    fx_send(&f, S2C, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
    f.cb->on_fin(f.flow, S2C, ++f.ts, f.pair);
    assert_string_equal(f.log, "0 GET /old 200 complete 13|");
    fx_close(&f);
    fx_free(&f);
}

static void test_pair__tls_and_h2_connections_are_skipped(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, 0);
    const uint8_t hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
    f.cb->on_data(f.flow, C2S, hello, sizeof hello, 1, f.pair);
    fx_close(&f);
    assert_int_equal(sdiff_pair_stats(f.pair)->conn_tls, 1);
    fx_free(&f);

    fx_open(&f, NULL, 0);
    fx_send(&f, C2S, "PRI * HTT"); /* decided only once enough bytes are in */
    fx_send(&f, C2S, "P/2.0\r\n\r\nSM\r\n\r\n");
    fx_close(&f);
    assert_int_equal(sdiff_pair_stats(f.pair)->conn_h2, 1);
    assert_string_equal(f.log, "");
    fx_free(&f);
}

static void test_pair__garbage_connection_counts_not_http(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, 0);
    fx_send(&f, C2S, "\x01\x02 this is no http\r\n\r\n");
    fx_close(&f);
    assert_int_equal(sdiff_pair_stats(f.pair)->conn_not_http, 1);
    assert_string_equal(f.log, "");
    fx_free(&f);
}

static void test_pair__bad_request_framing_pairs_with_its_400(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, 0);
    fx_send(&f, C2S, "GET /ok HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, OK5);
    fx_send(&f, C2S, "POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
    fx_send(&f, S2C, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    fx_close(&f);
    assert_string_equal(f.log, "0 GET /ok 200 complete 5|1 POST /x 400 unparsable 0|");
    assert_non_null(strstr(f.notes, "smuggling risk"));
    fx_free(&f);
}

/* Feed req and resp split at every offset; every split gives want, and notes contain note. */
static void split_check(const char *req, const char *resp, const char *want, const char *note)
{
    size_t rl = strlen(req), sl = strlen(resp);
    for (size_t cut = 0; cut <= (rl > sl ? rl : sl); cut++) {
        struct fx f;
        fx_open(&f, NULL, 0);
        size_t a = cut < rl ? cut : rl, b = cut < sl ? cut : sl;
        f.cb->on_data(f.flow, C2S, (const uint8_t *)req, a, 1, f.pair);
        f.cb->on_data(f.flow, C2S, (const uint8_t *)req + a, rl - a, 2, f.pair);
        f.cb->on_data(f.flow, S2C, (const uint8_t *)resp, b, 3, f.pair);
        f.cb->on_data(f.flow, S2C, (const uint8_t *)resp + b, sl - b, 4, f.pair);
        fx_close(&f);
        if (strcmp(f.log, want) != 0)
            fail_msg("cut %zu: got %s", cut, f.log);
        if (strstr(f.notes, note) == NULL)
            fail_msg("cut %zu: notes %s", cut, f.notes);
        assert_int_equal(sdiff_pair_stats(f.pair)->conn_not_http, 0);
        fx_free(&f);
    }
}

/* Content-Length beside chunked: kept with its line and answer, framed by Transfer-Encoding
 * (RFC 9112 6.3), so the next request still pairs; never complete, so never replayed. */
static void test_pair__smuggling_request_kept_and_later_requests_pair(void **state)
{
    (void)state;
    split_check("POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                "3\r\nabc\r\n0\r\n\r\nGET /after HTTP/1.1\r\n\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                "0 POST /x 200 unparsable 5|1 GET /after 200 complete 5|",
                "request: content-length and transfer-encoding both present (a smuggling "
                "risk): framed by transfer-encoding|");
}

/* Conflicting lengths on the first request: its line, fields and the 400 are kept. */
static void test_pair__conflicting_lengths_keep_line_and_answer(void **state)
{
    (void)state;
    split_check("POST /y HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
                "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                "0 POST /y 400 unparsable 0|", "request: conflicting content-length values");
    struct fx f;
    fx_open(&f, NULL, 0);
    fx_send(&f, C2S, "POST /y HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n");
    fx_close(&f);
    assert_string_equal(f.log, "0 POST /y 0 unparsable 0|");
    fx_free(&f);
}

/* A refused request line on a connection that carries HTTP: unparsable, as seen, with the
 * server's status; the connection goes on. Never a not-http connection. */
static void test_pair__refused_request_line_is_an_unparsable_exchange(void **state)
{
    (void)state;
    const char *bad400 = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    char resp[256];
    snprintf(resp, sizeof resp, "%s%s", bad400, OK5);
    split_check("GET /a b HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\n\r\n", resp,
                "0 GET /a b 400 unparsable 0|1 GET /ok 200 complete 5|",
                "request: space inside the request target|");
    snprintf(resp, sizeof resp, "%s%s", OK5, "HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n");
    split_check("GET /ok HTTP/1.1\r\n\r\nG(T /x HTTP/1.1\r\n\r\n", resp,
                "0 GET /ok 200 complete 5|1 G(T /x 400 unparsable 0|",
                "request: invalid method in request line|");
}

static void test_pair__malformed_response_is_unparsable(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, NULL, 0);
    fx_send(&f, C2S, "GET /a HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd");
    fx_close(&f);
    assert_string_equal(f.log, "0 GET /a 0 unparsable 0|");
    fx_free(&f);
}

static void test_pair__body_limit_truncates(void **state)
{
    (void)state;
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    lim.max_body = 3;
    struct fx f;
    fx_open(&f, &lim, 0);
    fx_send(&f, C2S, "GET /a HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, OK5);
    assert_string_equal(f.log, "0 GET /a 200 truncated 3|");
    fx_close(&f);
    fx_free(&f);
}

static void test_pair__discarded_bodies_keep_their_lengths(void **state)
{
    (void)state;
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    lim.discard_bodies = 1;
    lim.max_body = 3;
    struct fx f;
    fx_open(&f, &lim, 0);
    fx_send(&f, C2S, "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nab");
    fx_send(&f, S2C, OK5);
    fx_send(&f, C2S, "GET /b HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    /* same lengths and states as when kept: 5 bytes cut at 3, then 2 */
    assert_string_equal(f.log, "0 POST /a 200 truncated 3|1 GET /b 200 complete 2|");
    fx_close(&f);
    fx_free(&f);
}

static void test_pair__pipeline_limit_is_counted_and_never_mispairs(void **state)
{
    (void)state;
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    lim.max_pipeline = 2;
    struct fx f;
    fx_open(&f, &lim, 0);
    fx_send(&f, C2S, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"
                     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n22"
                     "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n333");
    fx_close(&f);
    assert_string_equal(f.log, "0 GET /1 0 no_response 0|1 GET /2 200 complete 2|"
                               "2 GET /3 200 complete 3|");
    assert_int_equal(sdiff_pair_stats(f.pair)->pipeline_limit_hits, 1);
    fx_free(&f);
}

/* The same conversation split at every byte of each direction gives the same exchanges. */
struct split {
    const char *req, *resp;
    char expect[1024];
    size_t cut;
};

static void test_pair__split_anywhere_same_exchanges(void **state)
{
    (void)state;
    const char *req = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n";
    const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
                       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\n";
    const char *want = "0 GET /a 200 complete 5|1 POST /b 201 complete 4|";
    size_t rl = strlen(req), sl = strlen(resp);
    for (size_t cut = 0; cut <= (rl > sl ? rl : sl); cut++) {
        struct fx f;
        fx_open(&f, NULL, 0);
        size_t a = cut < rl ? cut : rl, b = cut < sl ? cut : sl;
        f.cb->on_data(f.flow, C2S, (const uint8_t *)req, a, 1, f.pair);
        f.cb->on_data(f.flow, C2S, (const uint8_t *)req + a, rl - a, 2, f.pair);
        f.cb->on_data(f.flow, S2C, (const uint8_t *)resp, b, 3, f.pair);
        f.cb->on_data(f.flow, S2C, (const uint8_t *)resp + b, sl - b, 4, f.pair);
        fx_close(&f);
        if (strcmp(f.log, want) != 0)
            fail_msg("cut %zu: got %s", cut, f.log);
        fx_free(&f);
    }
}

/* Two pipelined exchanges; SDIFF_OK when they come out as without failures. */
static int oom_pipeline(void *ud)
{
    const char *want = ud;
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    struct fx f;
    memset(&f, 0, sizeof f);
    if (sdiff_pair_new(&f.pair, &lim, collect, &f, NULL) < 0)
        return SDIFF_ENOMEM;
    f.cb = sdiff_pair_reasm_cb();
    struct sdiff_flow_info info = {.id = 1, .family = 4};
    f.cb->on_open(&info, &f.flow, f.pair);
    fx_send(&f, C2S, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
    fx_send(&f, S2C, OK5);
    fx_send(&f, S2C, OK5);
    fx_close(&f);
    int rc = SDIFF_OK;
    if (sdiff_pair_stats(f.pair)->out_of_memory > 0)
        rc = SDIFF_ENOMEM;
    else if (want != NULL && strcmp(f.log, want) != 0)
        rc = SDIFF_ERR; /* something went missing and nothing said so */
    fx_free(&f);
    return rc;
}

static void test_pair__oom_sweep_never_crashes(void **state)
{
    (void)state;
    assert_true(sdiff_test_oom_sweep(oom_pipeline, "0 GET /a 200 complete 5|1 GET /b 200 complete 5|",
                                     1000) > 3);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_pair__pipelined_requests_pair_in_order),
    cmocka_unit_test(test_pair__continue_and_head_responses_skip_correctly),
    cmocka_unit_test(test_pair__response_without_request_is_orphan),
    cmocka_unit_test(test_pair__gap_in_body_marks_only_that_exchange),
    cmocka_unit_test(test_pair__gap_across_headers_never_mispairs),
    cmocka_unit_test(test_pair__lost_request_response_is_dropped),
    cmocka_unit_test(test_pair__gap_ending_with_the_body_marks_it),
    cmocka_unit_test(test_pair__midstream_lost_status_line_never_mispairs),
    cmocka_unit_test(test_pair__ring_grows_under_a_response_in_progress),
    cmocka_unit_test(test_pair__midstream_pipelined_pickup_pairs_after_the_partial_request),
    cmocka_unit_test(test_pair__midstream_answer_before_the_partial_request_ended_is_not_its),
    cmocka_unit_test(test_pair__close_leaves_no_response),
    cmocka_unit_test(test_pair__guessed_roles_are_swapped_at_the_first_start_line),
    cmocka_unit_test(test_pair__unacknowledged_bytes_mark_every_exchange_they_touch),
    cmocka_unit_test(test_pair__close_delimited_response_completes_at_fin),
    cmocka_unit_test(test_pair__tls_and_h2_connections_are_skipped),
    cmocka_unit_test(test_pair__garbage_connection_counts_not_http),
    cmocka_unit_test(test_pair__bad_request_framing_pairs_with_its_400),
    cmocka_unit_test(test_pair__smuggling_request_kept_and_later_requests_pair),
    cmocka_unit_test(test_pair__conflicting_lengths_keep_line_and_answer),
    cmocka_unit_test(test_pair__refused_request_line_is_an_unparsable_exchange),
    cmocka_unit_test(test_pair__malformed_response_is_unparsable),
    cmocka_unit_test(test_pair__body_limit_truncates),
    cmocka_unit_test(test_pair__discarded_bodies_keep_their_lengths),
    cmocka_unit_test(test_pair__pipeline_limit_is_counted_and_never_mispairs),
    cmocka_unit_test(test_pair__split_anywhere_same_exchanges),
    cmocka_unit_test(test_pair__oom_sweep_never_crashes),
};
SDIFF_TEST_MAIN(tests)
