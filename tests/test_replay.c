/*
 * test_replay.c - the replay engine without sockets: what the rewrite layer hands a
 * transport and how it is serialised, the concurrency cap and the done callbacks, through
 * the scripted transport of helpers/fake_transport.h. The wire itself is it_replay's.
 */
#include "sdiff_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_transport.h"
#include "shadowdiff/exchange.h"
#include "shadowdiff/replay.h"

/* A captured request; hdrs is name, value, ..., NULL. */
static struct sdiff_exchange *captured(const char *method, const char *target,
                                       const char *const *hdrs, const char *body)
{
    struct sdiff_exchange *ex = sdiff_exchange_new();
    assert_non_null(ex);
    struct sdiff_hfield h[32];
    size_t n = 0;
    for (; hdrs != NULL && hdrs[2 * n] != NULL; n++) {
        h[n] = (struct sdiff_hfield){hdrs[2 * n], hdrs[2 * n + 1], strlen(hdrs[2 * n]),
                                     strlen(hdrs[2 * n + 1])};
    }
    ex->req.method = (char *)method;
    ex->req.target = (char *)target;
    assert_int_equal(sdiff_msg_set_headers(&ex->req, h, n), SDIFF_OK);
    ex->req.present = 1;
    ex->req.complete = 1;
    ex->req.version_minor = 1;
    if (body != NULL && body[0] != '\0') {
        ex->req.body_len = ex->req.body_seen = strlen(body);
        ex->req.body = sdiff_malloc(ex->req.body_len);
        assert_non_null(ex->req.body);
        memcpy(ex->req.body, body, ex->req.body_len);
    }
    return ex;
}

struct seen {
    size_t n;
    uintptr_t tags[256];
    int status[256];
};

static void on_done(void *tag, struct sdiff_replay_result *res, void *ud)
{
    struct seen *s = ud;
    if (s->n < 256) {
        s->tags[s->n] = (uintptr_t)tag;
        s->status[s->n] = res->error == SDIFF_REPLAY_OK ? res->resp.status : -1;
    }
    s->n++;
    sdiff_replay_result_free(res);
}

static void drive(struct sdiff_replay *r)
{
    int left;
    for (int i = 0; i < 1000 && (left = sdiff_replay_run(r, 10, NULL)) > 0; i++)
        ;
    assert_int_equal(sdiff_replay_pending(r), 0);
}

static void test_replay__serialize_sends_fields_as_given_and_frames_the_body(void **state)
{
    (void)state;
    const struct sdiff_hfield f[] = {
        {"x-Trace", "a b", 7, 3},
        {"X-Empty", "", 7, 0},
    };
    struct sdiff__wire_req req = {.method = "PUT", .rtarget = "/p?q=1", .fields = f,
                                  .nfields = 2, .body = (const uint8_t *)"abc", .body_len = 3,
                                  .has_body = 1};
    struct sdiff_buf b;
    sdiff_buf_init(&b, 4096);
    assert_int_equal(sdiff__replay_serialize(&b, &req, "h:1"), SDIFF_OK);
    /* no Host among the fields: one first; no Content-Length: one last */
    assert_string_equal((const char *)b.data, "PUT /p?q=1 HTTP/1.1\r\nHost: h:1\r\n"
                                              "x-Trace: a b\r\nX-Empty:\r\n"
                                              "Content-Length: 3\r\n\r\nabc");
    /* the fields' own Host and Content-Length are kept where they are, nothing added */
    const struct sdiff_hfield g[] = {
        {"content-length", "0", 14, 1},
        {"hOST", "x", 4, 1},
    };
    struct sdiff__wire_req get = {.method = "POST", .rtarget = "*", .fields = g, .nfields = 2,
                                  .has_body = 1};
    sdiff_buf_reset(&b);
    assert_int_equal(sdiff__replay_serialize(&b, &get, "h:1"), SDIFF_OK);
    assert_string_equal((const char *)b.data,
                        "POST * HTTP/1.1\r\ncontent-length: 0\r\nhOST: x\r\n\r\n");
    /* over the buffer's cap: refused, not cut */
    struct sdiff_buf small;
    sdiff_buf_init(&small, 16);
    assert_int_equal(sdiff__replay_serialize(&small, &req, "h:1"), SDIFF_ELIMIT);
    sdiff_buf_dispose(&small);
    sdiff_buf_dispose(&b);
}

static void test_replay__transport_gets_the_rewritten_request(void **state)
{
    (void)state;
    sdiff_fake_reset();
    const char *url = "http://cand.invalid:8080/prefix";
    const char *const set[] = {"X-Env: shadow"};
    const char *const drop[] = {"Cookie"};
    struct sdiff_replay_opts o = {.transport_ops = &sdiff_fake_transport, .set_headers = set,
                                  .nset = 1, .drop_headers = drop, .ndrop = 1,
                                  .marker = "X-Shadowdiff: 1"};
    struct seen seen = {0};
    struct sdiff_replay *r = NULL;
    assert_int_equal(sdiff_replay_new(&r, &o, &url, 1, on_done, &seen, NULL), SDIFF_OK);
    const char *const hdrs[] = {"host", "shop.example", "Connection", "keep-alive, X-Hop",
                                "X-Hop", "1", "Transfer-Encoding", "chunked", "Cookie", "s=1",
                                "Content-Type", "application/json", "X-Empty", "",
                                "X-Env", "prod", NULL};
    struct sdiff_exchange *ex = captured("POST", "/api/items?x=1", hdrs, "{\"a\":1}");
    assert_int_equal(sdiff_replay_submit(r, ex, 0, (void *)1, NULL), SDIFF_OK);
    sdiff_exchange_free(ex);
    drive(r);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.status[0], 200);
    /* Host rewritten in place and case; hop-by-hop, what Connection names and dropped
       headers gone; the set header replaced in place; the marker; the chunked body framed
       by a Content-Length last */
    assert_string_equal(sdiff_fake.last, "POST /prefix/api/items?x=1 HTTP/1.1\r\n"
                                         "host: cand.invalid:8080\r\n"
                                         "Content-Type: application/json\r\n"
                                         "X-Empty:\r\n"
                                         "X-Env: shadow\r\n"
                                         "X-Shadowdiff: 1\r\n"
                                         "Content-Length: 7\r\n"
                                         "\r\n"
                                         "{\"a\":1}");
    /* HEAD and a GET without a body: nothing added but the Host a request must have */
    ex = captured("GET", "/x", NULL, NULL);
    assert_int_equal(sdiff_replay_submit(r, ex, 0, (void *)2, NULL), SDIFF_OK);
    sdiff_exchange_free(ex);
    drive(r);
    assert_string_equal(sdiff_fake.last, "GET /prefix/x HTTP/1.1\r\nHost: fake.invalid\r\n"
                                         "X-Env: shadow\r\nX-Shadowdiff: 1\r\n\r\n");
    sdiff_replay_free(r);
    sdiff_fake_reset();
}

static void answer_by_path(const char *wire, size_t len, struct sdiff_replay_result *res,
                           void *ud)
{
    (void)len;
    (void)ud;
    int n = atoi(wire + strlen("GET /"));
    sdiff_fake_respond(res, 200 + n % 100, "{}");
}

static void test_replay__concurrency_caps_what_the_transport_carries(void **state)
{
    (void)state;
    sdiff_fake_reset();
    sdiff_fake.answer = answer_by_path;
    const char *url = "http://cand.invalid";
    struct sdiff_replay_opts o = {.transport_ops = &sdiff_fake_transport, .concurrency = 4};
    struct seen seen = {0};
    struct sdiff_replay *r = NULL;
    assert_int_equal(sdiff_replay_new(&r, &o, &url, 1, on_done, &seen, NULL), SDIFF_OK);
    for (uintptr_t i = 0; i < 50; i++) {
        char target[32];
        snprintf(target, sizeof target, "/%u", (unsigned)i);
        struct sdiff_exchange *ex = captured("GET", target, NULL, NULL);
        assert_int_equal(sdiff_replay_submit(r, ex, 0, (void *)(i + 1), NULL), SDIFF_OK);
        sdiff_exchange_free(ex);
    }
    drive(r);
    assert_int_equal(sdiff_fake.concurrency, 4);
    assert_int_equal(sdiff_fake.sent, 50);
    assert_true(sdiff_fake.max_inflight <= 4);
    assert_int_equal(seen.n, 50);
    for (size_t i = 0; i < 50; i++) { /* one callback each, in order, with its own answer */
        assert_int_equal(seen.tags[i], i + 1);
        assert_int_equal(seen.status[i], 200 + (int)i);
    }
    sdiff_replay_free(r);
    sdiff_fake_reset();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_replay__serialize_sends_fields_as_given_and_frames_the_body),
    cmocka_unit_test(test_replay__transport_gets_the_rewritten_request),
    cmocka_unit_test(test_replay__concurrency_caps_what_the_transport_carries),
};
SDIFF_TEST_MAIN(tests)
