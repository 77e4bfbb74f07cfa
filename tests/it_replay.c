/*
 * it_replay.c - the replay module against a real loopback server (tests/tools/fault_server.py):
 * what goes on the wire (method, target, headers in order and case, body), what is recorded
 * from the answer, and how each kind of failure is reported. The server echoes what it
 * received, so every assertion on a request is made on the bytes the candidate would see.
 *
 * SDIFF_REPLAY_BENCH_URL=http://127.0.0.1:PORT/file (with optional SDIFF_REPLAY_BENCH_N and
 * SDIFF_REPLAY_BENCH_CONC) turns on a throughput run against any server, e.g. nginx, to put
 * beside wrk's figure.
 */
#include "sdiff_test.h"

#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "shadowdiff/exchange.h"
#include "shadowdiff/replay.h"

static char tools[4096];
static int server_pid;
static int server_port;
static char base[64]; /* "http://127.0.0.1:PORT" */
static char host[32]; /* "127.0.0.1:PORT" */

/* ---- helpers --------------------------------------------------------------------------- */

/*
 * Every test runs once per transport of http:// targets: libcurl, then the native client.
 * https:// targets go to libcurl in both runs.
 */
static enum sdiff_replay_transport transport;

/* sdiff_replay_new with the transport of this run. */
static int replay_new(struct sdiff_replay **out, const struct sdiff_replay_opts *o,
                      const char *const *targets, size_t n, sdiff_replay_done_fn fn, void *ud,
                      struct sdiff_err *err)
{
    struct sdiff_replay_opts t = {0};
    if (o != NULL)
        t = *o;
    t.transport = transport;
    return sdiff_replay_new(out, &t, targets, n, fn, ud, err);
}

/* A captured request; hdrs is name, value, name, value, ..., NULL. */
static struct sdiff_exchange *make_req(const char *method, const char *target,
                                       const char *const *hdrs, const void *body,
                                       size_t body_len)
{
    struct sdiff_exchange *ex = sdiff_exchange_new();
    assert_non_null(ex);
    struct sdiff_hfield h[64];
    size_t n = 0;
    for (; hdrs != NULL && hdrs[2 * n] != NULL; n++) {
        assert_true(n < 64);
        h[n].name = hdrs[2 * n];
        h[n].value = hdrs[2 * n + 1];
        h[n].name_len = strlen(h[n].name);
        h[n].value_len = strlen(h[n].value);
    }
    ex->req.method = (char *)method;
    ex->req.target = (char *)target;
    assert_int_equal(sdiff_msg_set_headers(&ex->req, h, n), SDIFF_OK);
    ex->req.present = 1;
    ex->req.complete = 1;
    ex->req.version_minor = 1;
    if (body_len > 0) {
        ex->req.body = sdiff_malloc(body_len);
        assert_non_null(ex->req.body);
        memcpy(ex->req.body, body, body_len);
        ex->req.body_len = body_len;
        ex->req.body_seen = body_len;
    }
    return ex;
}

#define MAX_KEPT 256

/* Results kept by the done callback, in completion order. */
struct collect {
    size_t n;
    struct sdiff_replay_result *res[MAX_KEPT];
    void *tags[MAX_KEPT];
    size_t n_ok;
};

static void collect_cb(void *tag, struct sdiff_replay_result *res, void *ud)
{
    struct collect *c = ud;
    if (res->error == SDIFF_REPLAY_OK)
        c->n_ok++;
    if (c->n < MAX_KEPT) {
        c->res[c->n] = res;
        c->tags[c->n] = tag;
    } else {
        sdiff_replay_result_free(res);
    }
    c->n++;
}

static void collect_dispose(struct collect *c)
{
    for (size_t i = 0; i < c->n && i < MAX_KEPT; i++)
        sdiff_replay_result_free(c->res[i]);
    c->n = 0;
}

/* Run until nothing is pending; fails the test after max_s seconds. */
static void drive(struct sdiff_replay *r, double max_s)
{
    double end = sdiff_test_now() + max_s;
    int left;
    struct sdiff_err err = {0};
    while ((left = sdiff_replay_run(r, 200, &err)) > 0 && sdiff_test_now() < end)
        ;
    if (left < 0)
        fail_msg("sdiff_replay_run: %s", err.msg);
    assert_int_equal(left, 0);
}

/* Options without a marker get a fixed one ("X-Shadowdiff: 1"), so that expected header lists
 * can be written out; the run token of the default is tested on its own. */
static struct sdiff_replay *new_replay(const struct sdiff_replay_opts *o, const char *url,
                                       struct collect *c)
{
    struct sdiff_replay *r = NULL;
    struct sdiff_err err = {0};
    struct sdiff_replay_opts fixed = {0};
    if (o != NULL)
        fixed = *o;
    if (fixed.marker == NULL)
        fixed.marker = "X-Shadowdiff: 1";
    int rc = replay_new(&r, &fixed, &url, 1, collect_cb, c, &err);
    if (rc < 0)
        fail_msg("sdiff_replay_new: %s", err.msg);
    return r;
}

/* Replay one request (consumed) to url; caller frees the result. */
static struct sdiff_replay_result *replay_one_to(const struct sdiff_replay_opts *o,
                                                 const char *url, struct sdiff_exchange *ex)
{
    struct collect c = {0};
    struct sdiff_replay *r = new_replay(o, url, &c);
    struct sdiff_err err = {0};
    int rc = sdiff_replay_submit(r, ex, 0, ex, &err);
    if (rc < 0)
        fail_msg("sdiff_replay_submit: %s", err.msg);
    drive(r, 30);
    sdiff_replay_free(r);
    assert_int_equal(c.n, 1);
    assert_ptr_equal(c.tags[0], ex);
    sdiff_exchange_free(ex);
    return c.res[0];
}

static struct sdiff_replay_result *replay_one(const struct sdiff_replay_opts *o,
                                              struct sdiff_exchange *ex)
{
    return replay_one_to(o, base, ex);
}

static struct sdiff_replay_result *get(const char *target)
{
    return replay_one(NULL, make_req("GET", target, NULL, NULL, 0));
}

static void assert_ok(const struct sdiff_replay_result *res)
{
    if (res->error != SDIFF_REPLAY_OK)
        fail_msg("replay failed: %s: %s", sdiff_replay_error_str(res->error), res->errmsg);
}

/* The /echo document of a successful result. */
static json_t *echo_doc(const struct sdiff_replay_result *res)
{
    assert_ok(res);
    assert_int_equal(res->resp.status, 200);
    json_error_t je;
    json_t *doc = json_loadb((const char *)res->resp.body, res->resp.body_len, 0, &je);
    if (doc == NULL)
        fail_msg("echo body is not JSON: %s", je.text);
    return doc;
}

/* The headers the server received, as "name: value\n" lines. */
static char *received_headers(json_t *doc)
{
    static char out[8192];
    out[0] = '\0';
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(doc, "headers"), i, h)
    {
        size_t len = strlen(out);
        snprintf(out + len, sizeof out - len, "%s: %s\n", json_string_value(json_array_get(h, 0)),
                 json_string_value(json_array_get(h, 1)));
    }
    return out;
}

/* Whether the server received a header of this name (any case). */
static int received_has(json_t *doc, const char *name)
{
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(doc, "headers"), i, h)
    {
        if (strcasecmp(json_string_value(json_array_get(h, 0)), name) == 0)
            return 1;
    }
    return 0;
}

static const char *resp_header(const struct sdiff_replay_result *res, const char *name)
{
    const struct sdiff_hfield *f = sdiff_msg_header(&res->resp, name);
    return f ? f->value : NULL;
}

/* POST /__stats?reset=1: the server's counters since the last reset; caller decrefs. */
static json_t *stats_take(void)
{
    struct sdiff_replay_result *res =
        replay_one(NULL, make_req("POST", "/__stats?reset=1", NULL, NULL, 0));
    assert_ok(res);
    json_t *doc = json_loadb((const char *)res->resp.body, res->resp.body_len, 0, NULL);
    assert_non_null(doc);
    sdiff_replay_result_free(res);
    return doc;
}

static long stats_path(json_t *st, const char *path)
{
    return (long)json_integer_value(json_object_get(json_object_get(st, "paths"), path));
}

/* ---- requests as sent ------------------------------------------------------------------ */

static void test_replay__headers_keep_wire_order_and_case(void **state)
{
    (void)state;
    const char *const hdrs[] = {"Host", "legacy.example:8080", "X-First", "1", "accept",
                                "text/plain", "X-MiXeD-CaSe", "v", "Accept-Encoding", "gzip",
                                "X-Empty", "", "X-Dup", "a", "X-Dup", "b", "X-Last", "z", NULL};
    struct sdiff_replay_result *res = replay_one(NULL, make_req("GET", "/echo?b=2&a=1", hdrs,
                                                                NULL, 0));
    json_t *doc = echo_doc(res);
    assert_string_equal(json_string_value(json_object_get(doc, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(doc, "target")), "/echo?b=2&a=1");
    assert_string_equal(json_string_value(json_object_get(doc, "version")), "HTTP/1.1");
    char want[1024];
    snprintf(want, sizeof want,
             "Host: %s\nX-First: 1\naccept: text/plain\nX-MiXeD-CaSe: v\n"
             "Accept-Encoding: gzip\nX-Empty: \nX-Dup: a\nX-Dup: b\nX-Last: z\n"
             "X-Shadowdiff: 1\n",
             host);
    assert_string_equal(received_headers(doc), want);
    assert_int_equal(json_integer_value(json_object_get(doc, "body_len")), 0);
    json_decref(doc);

    /* the response as recorded */
    const struct sdiff_msg *m = &res->resp;
    assert_true(m->present);
    assert_true(m->complete);
    assert_int_equal(m->version_minor, 1);
    assert_string_equal(m->reason, "OK");
    assert_null(m->method);
    assert_null(m->target);
    assert_false(m->chunked);
    assert_int_equal(m->nheaders, 2);
    assert_string_equal(m->headers[0].name, "Content-Type");
    assert_string_equal(m->headers[0].value, "application/json");
    assert_string_equal(m->headers[1].name, "Content-Length");
    assert_int_equal(strtoul(m->headers[1].value, NULL, 10), m->body_len);
    assert_int_equal(m->body_seen, m->body_len);
    assert_true(res->latency_ms > 0 && res->latency_ms < 5000);
    assert_int_equal(res->target, 0);
    sdiff_replay_result_free(res);
}

static void test_replay__lowercase_host_keeps_its_place_and_case(void **state)
{
    (void)state;
    const char *const hdrs[] = {"user-agent", "ua/1", "host", "legacy", "accept", "*/*", NULL};
    struct sdiff_replay_result *res = replay_one(NULL, make_req("GET", "/echo", hdrs, NULL, 0));
    json_t *doc = echo_doc(res);
    char want[256];
    snprintf(want, sizeof want, "user-agent: ua/1\nhost: %s\naccept: */*\nX-Shadowdiff: 1\n",
             host);
    assert_string_equal(received_headers(doc), want);
    json_decref(doc);
    sdiff_replay_result_free(res);
}

static void test_replay__hop_by_hop_headers_not_forwarded(void **state)
{
    (void)state;
    const char *const hdrs[] = {"Host", "legacy", "Connection", "keep-alive, X-Hop , x-other",
                                "Keep-Alive", "timeout=5", "X-Hop", "secret", "X-Other", "o",
                                "Proxy-Connection", "keep-alive", "TE", "trailers", "Trailer",
                                "X-T", "Upgrade", "h2c", "X-Kept", "yes", NULL};
    struct sdiff_replay_result *res = replay_one(NULL, make_req("GET", "/echo", hdrs, NULL, 0));
    json_t *doc = echo_doc(res);
    char want[256];
    snprintf(want, sizeof want, "Host: %s\nX-Kept: yes\nX-Shadowdiff: 1\n", host);
    assert_string_equal(received_headers(doc), want);
    json_decref(doc);
    sdiff_replay_result_free(res);

    assert_true(sdiff_replay_is_hop_by_hop("transfer-ENCODING", 17));
    assert_true(sdiff_replay_is_hop_by_hop("TE", 2));
    assert_false(sdiff_replay_is_hop_by_hop("Content-Length", 14));
    assert_false(sdiff_replay_is_hop_by_hop("Tex", 3));
}

static void test_replay__host_rewritten_unless_preserved(void **state)
{
    (void)state;
    const char *const hdrs[] = {"Host", "legacy.example", "X-A", "1", NULL};
    struct sdiff_replay_opts o = {.preserve_host = 1};
    struct sdiff_replay_result *res = replay_one(&o, make_req("GET", "/echo", hdrs, NULL, 0));
    json_t *doc = echo_doc(res);
    assert_string_equal(received_headers(doc), "Host: legacy.example\nX-A: 1\nX-Shadowdiff: 1\n");
    json_decref(doc);
    sdiff_replay_result_free(res);

    /* without a captured Host (HTTP/1.0 client), the target's is sent */
    const char *const none[] = {"X-A", "1", NULL};
    res = replay_one(NULL, make_req("GET", "/echo", none, NULL, 0));
    doc = echo_doc(res);
    char want[256];
    snprintf(want, sizeof want, "Host: %s\nX-A: 1\nX-Shadowdiff: 1\n", host);
    assert_string_equal(received_headers(doc), want);
    json_decref(doc);
    sdiff_replay_result_free(res);
}

static void test_replay__set_and_drop_headers(void **state)
{
    (void)state;
    const char *const set[] = {"X-Env: shadow", "X-New:  added ", "x-blank:"};
    const char *const drop[] = {"cookie", "AUTHORIZATION"};
    struct sdiff_replay_opts o = {.set_headers = set, .nset = 3, .drop_headers = drop,
                                  .ndrop = 2};
    const char *const hdrs[] = {"Host", "h", "Cookie", "s=1", "X-Env", "prod", "Authorization",
                                "Bearer x", "X-Env", "prod2", "X-Keep", "k", NULL};
    struct sdiff_replay_result *res = replay_one(&o, make_req("GET", "/echo", hdrs, NULL, 0));
    json_t *doc = echo_doc(res);
    char want[256];
    snprintf(want, sizeof want,
             "Host: %s\nX-Env: shadow\nX-Keep: k\nX-New: added\nx-blank: \nX-Shadowdiff: 1\n",
             host);
    assert_string_equal(received_headers(doc), want);
    json_decref(doc);
    sdiff_replay_result_free(res);
}

static void test_replay__marker_custom_and_disabled(void **state)
{
    (void)state;
    const char *const hdrs[] = {"Host", "h", NULL};
    struct sdiff_replay_opts o = {.marker = ""};
    struct sdiff_replay_result *res = replay_one(&o, make_req("GET", "/echo", hdrs, NULL, 0));
    json_t *doc = echo_doc(res);
    char want[256];
    snprintf(want, sizeof want, "Host: %s\n", host);
    assert_string_equal(received_headers(doc), want);
    json_decref(doc);
    sdiff_replay_result_free(res);

    o.marker = "X-Replayed-By: shadowdiff";
    res = replay_one(&o, make_req("GET", "/echo", hdrs, NULL, 0));
    doc = echo_doc(res);
    snprintf(want, sizeof want, "Host: %s\nX-Replayed-By: shadowdiff\n", host);
    assert_string_equal(received_headers(doc), want);
    json_decref(doc);
    sdiff_replay_result_free(res);
}

/* The received values of one header name (any case), in order, '|'-joined. */
static const char *received_values(json_t *doc, const char *name)
{
    static char out[1024];
    out[0] = '\0';
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(doc, "headers"), i, h)
    {
        if (strcasecmp(json_string_value(json_array_get(h, 0)), name) != 0)
            continue;
        size_t len = strlen(out);
        snprintf(out + len, sizeof out - len, "%s%s", len ? "|" : "",
                 json_string_value(json_array_get(h, 1)));
    }
    return out;
}

/*
 * A captured request that already carries a marker (X-Shadowdiff: 0, in any case, several
 * times) reaches the candidate with ours only: exactly one marker header, the run token by
 * default, a fixed value with --marker, none with --no-marker.
 */
static void test_replay__captured_markers_never_reach_the_candidate(void **state)
{
    (void)state;
    const char *const hdrs[] = {"Host", "h", "X-Shadowdiff", "0", "x-shadowdiff", "1",
                                "X-A", "a", "X-SHADOWDIFF", "", "X-Replayed-By", "forged", NULL};
    /* the default: X-Shadowdiff with a run token of 128 random bits, new for each engine */
    struct collect c = {0};
    const char *url = base;
    struct sdiff_replay *r = NULL, *r2 = NULL;
    struct sdiff_err err = {0};
    assert_int_equal(replay_new(&r, NULL, &url, 1, collect_cb, &c, &err), SDIFF_OK);
    assert_int_equal(replay_new(&r2, NULL, &url, 1, collect_cb, &c, &err), SDIFF_OK);
    const char *marker = sdiff_replay_marker(r);
    assert_int_equal(strlen(marker), strlen("X-Shadowdiff: ") + SDIFF_REPLAY_TOKEN_LEN);
    assert_memory_equal(marker, "X-Shadowdiff: ", 14);
    assert_int_equal(strspn(marker + 14, "0123456789abcdef"), SDIFF_REPLAY_TOKEN_LEN);
    assert_string_not_equal(marker, sdiff_replay_marker(r2));
    struct sdiff_exchange *ex = make_req("GET", "/echo", hdrs, NULL, 0);
    assert_int_equal(sdiff_replay_submit(r, ex, 0, ex, &err), SDIFF_OK);
    drive(r, 30);
    sdiff_exchange_free(ex);
    assert_int_equal(c.n, 1);
    json_t *doc = echo_doc(c.res[0]);
    assert_string_equal(received_values(doc, "X-Shadowdiff"), marker + 14);
    char want[256];
    snprintf(want, sizeof want, "Host: %s\nX-A: a\nX-Replayed-By: forged\n%s\n", host, marker);
    assert_string_equal(received_headers(doc), want);
    json_decref(doc);
    collect_dispose(&c);
    sdiff_replay_free(r);
    sdiff_replay_free(r2);

    /* --no-marker: the captured copies still go, and nothing takes their place */
    struct sdiff_replay_opts o = {.marker = ""};
    struct sdiff_replay_result *res = replay_one(&o, make_req("GET", "/echo", hdrs, NULL, 0));
    doc = echo_doc(res);
    assert_false(received_has(doc, "X-Shadowdiff"));
    json_decref(doc);
    sdiff_replay_result_free(res);

    /* --marker 'X-Replayed-By: shadowdiff': both names are marker headers, one is sent */
    o.marker = "X-Replayed-By: shadowdiff";
    res = replay_one(&o, make_req("GET", "/echo", hdrs, NULL, 0));
    doc = echo_doc(res);
    assert_false(received_has(doc, "X-Shadowdiff"));
    assert_string_equal(received_values(doc, "X-Replayed-By"), "shadowdiff");
    json_decref(doc);
    sdiff_replay_result_free(res);

    /* a --set-header naming a marker header would make two: refused */
    const char *const set[] = {"x-shadowdiff: 2"};
    struct sdiff_replay_opts bad = {.set_headers = set, .nset = 1};
    assert_int_equal(replay_new(&r, &bad, &url, 1, collect_cb, &c, &err), SDIFF_EINVAL);
    assert_non_null(strstr(err.msg, "marker"));
}

/* Whose marker a captured request carries: ours (the exact token), forged, or none. */
static void test_replay__marker_check_tells_ours_from_forged(void **state)
{
    (void)state;
    const char *ours = "X-Shadowdiff: 0123456789abcdef0123456789abcdef";
    const char *const own[] = {"x-shadowdiff", " 0123456789abcdef0123456789abcdef", NULL};
    const char *const forged[] = {"X-Shadowdiff", "1", NULL};
    const char *const other[] = {"X-Other", "1", NULL};
    const char *const custom[] = {"X-Replayed-By", "me", NULL};
    struct sdiff_exchange *a = make_req("GET", "/", own, NULL, 0);
    struct sdiff_exchange *b = make_req("GET", "/", forged, NULL, 0);
    struct sdiff_exchange *c = make_req("GET", "/", other, NULL, 0);
    struct sdiff_exchange *d = make_req("GET", "/", custom, NULL, 0);
    assert_int_equal(sdiff_replay_marker_check(&a->req, ours), SDIFF_REPLAY_MARK_OURS);
    assert_int_equal(sdiff_replay_marker_check(&b->req, ours), SDIFF_REPLAY_MARK_FORGED);
    assert_int_equal(sdiff_replay_marker_check(&c->req, ours), SDIFF_REPLAY_MARK_NONE);
    assert_int_equal(sdiff_replay_marker_check(&a->req, ""), SDIFF_REPLAY_MARK_FORGED);
    assert_int_equal(sdiff_replay_marker_check(&d->req, "X-Replayed-By: me"),
                     SDIFF_REPLAY_MARK_OURS);
    assert_int_equal(sdiff_replay_marker_check(&a->req, "X-Replayed-By: me"),
                     SDIFF_REPLAY_MARK_FORGED);
    sdiff_exchange_free(a);
    sdiff_exchange_free(b);
    sdiff_exchange_free(c);
    sdiff_exchange_free(d);
}

/* Every way a request can ask a framework to treat it as another method. */
static void test_replay__method_overrides_found_in_headers_query_and_forms(void **state)
{
    (void)state;
    struct sdiff_replay_override ov[8];
    const char *const h[] = {"x-http-method-override", " DELETE ", "X-HTTP-Method", "PUT",
                             "X-Method-Override", "PATCH", NULL};
    struct sdiff_exchange *ex = make_req("GET", "/a?x=1&%5Fmethod=del%45te#_method=no", h,
                                         NULL, 0);
    assert_int_equal(sdiff_replay_overrides(&ex->req, ov, 8), 4);
    assert_string_equal(ov[0].where, "X-HTTP-Method-Override");
    assert_string_equal(ov[0].method, "DELETE");
    assert_string_equal(ov[1].method, "PUT");
    assert_string_equal(ov[2].method, "PATCH");
    assert_string_equal(ov[3].where, "_method in the query");
    assert_string_equal(ov[3].method, "delEte");
    assert_int_equal(sdiff_replay_overrides(&ex->req, ov, 2), 4); /* counts past max */
    sdiff_exchange_free(ex);
    const char *const form[] = {"Content-Type", "Application/X-WWW-Form-Urlencoded; charset=utf-8",
                                NULL};
    const char fbody[] = "a=1&_method=DELETE";
    ex = make_req("POST", "/a", form, fbody, sizeof fbody - 1);
    assert_int_equal(sdiff_replay_overrides(&ex->req, ov, 8), 1);
    assert_string_equal(ov[0].where, "_method in the form body");
    assert_string_equal(ov[0].method, "DELETE");
    sdiff_exchange_free(ex);
    const char *const mp[] = {"Content-Type", "multipart/form-data; boundary=XX", NULL};
    const char mbody[] = "--XX\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\n"
                         "PUT\r\n--XX--\r\n";
    ex = make_req("POST", "/a", mp, mbody, sizeof mbody - 1);
    assert_int_equal(sdiff_replay_overrides(&ex->req, ov, 8), 1);
    assert_string_equal(ov[0].method, "PUT");
    sdiff_exchange_free(ex);
    /* a plain body, a parameter that only ends in _method: none */
    const char *const plain[] = {"Content-Type", "text/plain", NULL};
    ex = make_req("POST", "/a?x_method=DELETE", plain, fbody, sizeof fbody - 1);
    assert_int_equal(sdiff_replay_overrides(&ex->req, ov, 8), 0);
    sdiff_exchange_free(ex);
}

static void test_replay__post_body_forwarded_with_its_length(void **state)
{
    (void)state;
    char body[3000];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (char)('a' + i % 26);
    const char *const hdrs[] = {"Host", "h", "content-length", "3000", "Content-Type",
                                "application/json", "X-After", "1", NULL};
    struct sdiff_replay_result *res =
        replay_one(NULL, make_req("POST", "/echo", hdrs, body, sizeof body));
    json_t *doc = echo_doc(res);
    assert_string_equal(json_string_value(json_object_get(doc, "method")), "POST");
    assert_int_equal(json_integer_value(json_object_get(doc, "body_len")), 3000);
    assert_memory_equal(json_string_value(json_object_get(doc, "body")), body, sizeof body);
    /* no Expect, no form Content-Type of curl's; the length where the client had it */
    char want[256];
    snprintf(want, sizeof want,
             "Host: %s\ncontent-length: 3000\nContent-Type: application/json\nX-After: 1\n"
             "X-Shadowdiff: 1\n",
             host);
    assert_string_equal(received_headers(doc), want);
    json_decref(doc);
    sdiff_replay_result_free(res);

    /* a wrong captured Content-Length is recomputed */
    const char *const wrong[] = {"Host", "h", "Content-Length", "99", NULL};
    res = replay_one(NULL, make_req("PUT", "/echo", wrong, "12345", 5));
    doc = echo_doc(res);
    assert_string_equal(json_string_value(json_object_get(doc, "method")), "PUT");
    assert_string_equal(json_string_value(json_object_get(doc, "body")), "12345");
    snprintf(want, sizeof want, "Host: %s\nContent-Length: 5\nX-Shadowdiff: 1\n", host);
    assert_string_equal(received_headers(doc), want);
    json_decref(doc);
    sdiff_replay_result_free(res);
}

static void test_replay__chunked_request_body_sent_with_a_length(void **state)
{
    (void)state;
    const char *const hdrs[] = {"Host", "h", "Transfer-Encoding", "chunked", "X-A", "1", NULL};
    struct sdiff_replay_result *res =
        replay_one(NULL, make_req("POST", "/echo", hdrs, "de-chunked", 10));
    json_t *doc = echo_doc(res);
    assert_string_equal(json_string_value(json_object_get(doc, "body")), "de-chunked");
    char want[256];
    snprintf(want, sizeof want, "Host: %s\nX-A: 1\nX-Shadowdiff: 1\nContent-Length: 10\n", host);
    assert_string_equal(received_headers(doc), want);
    json_decref(doc);
    sdiff_replay_result_free(res);
}

static void test_replay__every_method_sent_as_captured(void **state)
{
    (void)state;
    const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PURGE"};
    const char *const hdrs[] = {"Host", "h", NULL};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        struct sdiff_replay_result *res =
            replay_one(NULL, make_req(methods[i], "/echo", hdrs, NULL, 0));
        json_t *doc = echo_doc(res);
        assert_string_equal(json_string_value(json_object_get(doc, "method")), methods[i]);
        /* no body framed, none sent */
        assert_false(received_has(doc, "Content-Length"));
        assert_false(received_has(doc, "Content-Type"));
        json_decref(doc);
        sdiff_replay_result_free(res);
    }
    /* an empty body that was framed stays framed; a GET body is sent */
    const char *const zero[] = {"Host", "h", "Content-Length", "0", NULL};
    struct sdiff_replay_result *res = replay_one(NULL, make_req("POST", "/echo", zero, NULL, 0));
    json_t *doc = echo_doc(res);
    char want[256];
    snprintf(want, sizeof want, "Host: %s\nContent-Length: 0\nX-Shadowdiff: 1\n", host);
    assert_string_equal(received_headers(doc), want);
    json_decref(doc);
    sdiff_replay_result_free(res);

    const char *const getb[] = {"Host", "h", "Content-Length", "4", NULL};
    res = replay_one(NULL, make_req("GET", "/echo", getb, "body", 4));
    doc = echo_doc(res);
    assert_string_equal(json_string_value(json_object_get(doc, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(doc, "body")), "body");
    json_decref(doc);
    sdiff_replay_result_free(res);
}

/*
 * A listener that keeps the raw bytes of each request (head, then a Content-Length body) and
 * answers 200 with no body, one connection at a time.
 */
struct raw_server {
    int lfd;
    int close_each;     /* close the connection after each answer, without saying so */
    size_t want;        /* requests to take before the thread ends */
    struct sdiff_buf got; /* every request's bytes, in order */
};

static char *find_blank_line(char *p, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if (memcmp(p + i, "\r\n\r\n", 4) == 0)
            return p + i;
    return NULL;
}

static void *raw_serve(void *ud)
{
    struct raw_server *rs = ud;
    size_t done = 0;
    while (done < rs->want) {
        int fd = accept(rs->lfd, NULL, NULL);
        if (fd < 0)
            break;
        char buf[8192];
        size_t have = 0;
        for (;;) { /* requests on this connection */
            char *end = NULL;
            while ((end = find_blank_line(buf, have)) == NULL) {
                ssize_t n = read(fd, buf + have, sizeof buf - have);
                if (n <= 0)
                    goto next_conn;
                have += (size_t)n;
            }
            size_t head = (size_t)(end + 4 - buf), body = 0;
            for (char *p = buf; p < end; p++)
                if (strncasecmp(p, "\r\ncontent-length:", 17) == 0)
                    body = strtoul(p + 17, NULL, 10);
            while (have < head + body) {
                ssize_t n = read(fd, buf + have, sizeof buf - have);
                if (n <= 0)
                    goto next_conn;
                have += (size_t)n;
            }
            assert_int_equal(sdiff_buf_append(&rs->got, buf, head + body), SDIFF_OK);
            memmove(buf, buf + head + body, have - head - body);
            have -= head + body;
            static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
            if (write(fd, ok, sizeof ok - 1) < 0)
                goto next_conn;
            if (++done == rs->want || rs->close_each)
                break;
        }
    next_conn:
        close(fd);
    }
    return NULL;
}

/* The bytes one transport puts on the wire for reqs, sent one after the other to lfd. */
static char *wire_bytes(int lfd, enum sdiff_replay_transport tr, struct sdiff_exchange **reqs,
                        size_t n, int close_each)
{
    struct raw_server rs = {.lfd = lfd, .want = n, .close_each = close_each};
    sdiff_buf_init(&rs.got, 1u << 20);
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/pre", ntohs(a.sin_port));
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, raw_serve, &rs), 0);
    /* one marker for both runs, whatever the default marker of an engine is */
    struct sdiff_replay_opts o = {.transport = tr, .concurrency = 1, .timeout_ms = 5000,
                                  .marker = "X-Shadowdiff: 1"};
    struct collect c = {0};
    const char *u = url;
    struct sdiff_replay *r = NULL;
    assert_int_equal(sdiff_replay_new(&r, &o, &u, 1, collect_cb, &c, NULL), SDIFF_OK);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(sdiff_replay_submit(r, reqs[i], 0, NULL, NULL), SDIFF_OK);
        drive(r, 10); /* one at a time, so the order on the wire is the order given */
    }
    sdiff_replay_free(r);
    assert_int_equal(c.n_ok, n);
    collect_dispose(&c);
    pthread_join(th, NULL);
    char *out = strdup(rs.got.data ? (const char *)rs.got.data : "");
    sdiff_buf_dispose(&rs.got);
    return out;
}

static void test_replay__both_transports_send_the_same_bytes(void **state)
{
    (void)state;
    const char *const post[] = {"host", "shop", "Connection", "keep-alive, X-Hop", "X-Hop", "1",
                                "Transfer-Encoding", "chunked", "X-Empty", "", "accept", "*/*",
                                "Content-Type", "text/plain", NULL};
    const char *const head[] = {"User-Agent", "ua/1", "HOST", "h", NULL};
    const char *const put[] = {"Content-Length", "3", "Expect", "100-continue", "Host", "h",
                               NULL};
    const char *const del[] = {"Content-Length", "0", "Host", "h", NULL};
    struct sdiff_exchange *reqs[] = {
        make_req("POST", "/a?b=1&c", post, "chunked body", 12),
        make_req("HEAD", "/h", head, NULL, 0),
        make_req("GET", "http://other/abs?q", NULL, NULL, 0), /* no Host: one is added */
        make_req("PUT", "/p", put, "xyz", 3),
        make_req("DELETE", "/d", del, NULL, 0),
        make_req("OPTIONS", "/o", NULL, NULL, 0),
    };
    size_t n = sizeof reqs / sizeof reqs[0];
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 8), 0);
    char *curl = wire_bytes(lfd, SDIFF_REPLAY_TRANSPORT_CURL, reqs, n, 0);
    char *native = wire_bytes(lfd, SDIFF_REPLAY_TRANSPORT_NATIVE, reqs, n, 0);
    /* a server that closes kept connections after each answer: each request still gets its
       answer, on a new connection when the kept one turns out closed */
    char *closing = wire_bytes(lfd, transport, reqs, n, 1);
    assert_string_equal(closing, curl);
    free(closing);
    close(lfd);
    assert_string_equal(native, curl);
    assert_non_null(strstr(native, "POST /pre/a?b=1&c HTTP/1.1\r\nhost: 127.0.0.1:"));
    free(curl);
    free(native);
    for (size_t i = 0; i < n; i++)
        sdiff_exchange_free(reqs[i]);
}

static void test_replay__head_does_not_wait_for_a_body(void **state)
{
    (void)state;
    const char *const hdrs[] = {"Host", "h", NULL};
    struct sdiff_replay_opts o = {.timeout_ms = 3000};
    double t0 = sdiff_test_now();
    struct sdiff_replay_result *res = replay_one(&o, make_req("HEAD", "/echo", hdrs, NULL, 0));
    assert_ok(res);
    assert_true(sdiff_test_now() - t0 < 2.0);
    assert_int_equal(res->resp.status, 200);
    assert_int_equal(res->resp.body_len, 0);
    assert_null(res->resp.body);
    assert_true(strtoul(resp_header(res, "Content-Length"), NULL, 10) > 0);
    sdiff_replay_result_free(res);
}

static void test_replay__target_forms_and_path_prefix(void **state)
{
    (void)state;
    const char *const hdrs[] = {"Host", "h", NULL};
    /* absolute-form: only path and query are sent */
    struct sdiff_replay_result *res =
        replay_one(NULL, make_req("GET", "http://legacy.example/echo?a=%20b", hdrs, NULL, 0));
    json_t *doc = echo_doc(res);
    assert_string_equal(json_string_value(json_object_get(doc, "target")), "/echo?a=%20b");
    json_decref(doc);
    sdiff_replay_result_free(res);

    /* two targets, the second with a path prefix; the dot segments are sent as captured */
    char prefixed[128];
    snprintf(prefixed, sizeof prefixed, "%s/api/v2/", base);
    const char *urls[] = {base, prefixed};
    struct collect c = {0};
    struct sdiff_replay *r = NULL;
    assert_int_equal(replay_new(&r, NULL, urls, 2, collect_cb, &c, NULL), SDIFF_OK);
    struct sdiff_exchange *ex = make_req("GET", "/x/../echo?q=1", hdrs, NULL, 0);
    assert_int_equal(sdiff_replay_submit(r, ex, 1, (void *)"second", NULL), SDIFF_OK);
    assert_int_equal(sdiff_replay_submit(r, ex, 0, (void *)"first", NULL), SDIFF_OK);
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_replay_submit(r, ex, 2, NULL, &err), SDIFF_EINVAL);
    sdiff_exchange_free(ex);
    drive(r, 10);
    sdiff_replay_free(r);
    assert_int_equal(c.n, 2);
    for (size_t i = 0; i < 2; i++) {
        int second = strcmp(c.tags[i], "second") == 0;
        assert_int_equal(c.res[i]->target, second ? 1 : 0);
        doc = echo_doc(c.res[i]);
        assert_string_equal(json_string_value(json_object_get(doc, "target")),
                            second ? "/api/v2/x/../echo?q=1" : "/x/../echo?q=1");
        json_decref(doc);
    }
    collect_dispose(&c);

    /* OPTIONS * keeps its asterisk-form (the server answers 404 to it) */
    res = replay_one(NULL, make_req("OPTIONS", "*", hdrs, NULL, 0));
    assert_ok(res);
    assert_int_equal(res->resp.status, 404);
    sdiff_replay_result_free(res);
    json_t *st = stats_take();
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "paths"), "*")), 1);
    json_decref(st);
}

static void test_replay__reused_handle_carries_nothing_over(void **state)
{
    (void)state;
    /* one slot, so every request runs on the same easy handle, after different methods */
    struct collect c = {0};
    struct sdiff_replay_opts o = {.concurrency = 1, .timeout_ms = 1000, .max_body = 8192};
    struct sdiff_replay *r = new_replay(&o, base, &c);
    const char *const clen[] = {"Host", "h", "Content-Length", "4", NULL};
    const char *const plain[] = {"Host", "h", NULL};
    struct sdiff_exchange *seq[] = {
        make_req("POST", "/echo", clen, "abcd", 4), make_req("GET", "/echo", plain, NULL, 0),
        make_req("HEAD", "/echo", plain, NULL, 0),  make_req("GET", "/echo", plain, NULL, 0),
        make_req("DELETE", "/echo", clen, "wxyz", 4), make_req("GET", "/endless", plain, NULL, 0),
        make_req("GET", "/hang", plain, NULL, 0),   make_req("PUT", "/echo", plain, NULL, 0),
        make_req("GET", "/echo", plain, NULL, 0),
    };
    const size_t n = sizeof seq / sizeof seq[0];
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(sdiff_replay_submit(r, seq[i], 0, (void *)(i + 1), NULL), SDIFF_OK);
        sdiff_exchange_free(seq[i]);
    }
    drive(r, 20);
    sdiff_replay_free(r);
    assert_int_equal(c.n, n);
    static const char *const method[] = {"POST", "GET", "HEAD", "GET", "DELETE", NULL, NULL,
                                         "PUT", "GET"};
    static const char *const body[] = {"abcd", "", "", "", "wxyz", NULL, NULL, "", ""};
    for (size_t i = 0; i < n; i++) {
        assert_ptr_equal(c.tags[i], (void *)(i + 1)); /* one slot: in order */
        if (i == 5) {
            assert_int_equal(c.res[i]->error, SDIFF_REPLAY_TOO_LARGE);
        } else if (i == 6) {
            assert_int_equal(c.res[i]->error, SDIFF_REPLAY_TIMEOUT);
        } else if (i == 2) {
            assert_ok(c.res[i]);
            assert_int_equal(c.res[i]->resp.body_len, 0);
        } else {
            json_t *doc = echo_doc(c.res[i]);
            assert_string_equal(json_string_value(json_object_get(doc, "method")), method[i]);
            assert_string_equal(json_string_value(json_object_get(doc, "body")), body[i]);
            assert_int_equal(received_has(doc, "Content-Length"), body[i][0] != '\0');
            json_decref(doc);
        }
    }
    collect_dispose(&c);
}

/* ---- responses as recorded ------------------------------------------------------------- */

static void test_replay__redirect_recorded_not_followed(void **state)
{
    (void)state;
    json_decref(stats_take());
    struct sdiff_replay_result *res = get("/redirect");
    assert_ok(res);
    assert_int_equal(res->resp.status, 302);
    assert_string_equal(res->resp.reason, "Found");
    assert_string_equal(resp_header(res, "Location"), "/echo");
    assert_int_equal(res->resp.body_len, 5);
    sdiff_replay_result_free(res);
    json_t *st = stats_take();
    assert_int_equal(stats_path(st, "/redirect"), 1);
    assert_int_equal(stats_path(st, "/echo"), 0);
    json_decref(st);
}

static void test_replay__gzip_body_kept_raw(void **state)
{
    (void)state;
    const char *const hdrs[] = {"Host", "h", "Accept-Encoding", "gzip, deflate", NULL};
    struct sdiff_replay_result *res = replay_one(NULL, make_req("GET", "/gzip", hdrs, NULL, 0));
    assert_ok(res);
    assert_string_equal(resp_header(res, "Content-Encoding"), "gzip");
    assert_int_equal(strtoul(resp_header(res, "Content-Length"), NULL, 10), res->resp.body_len);
    assert_true(res->resp.body_len > 2 && res->resp.body[0] == 0x1f && res->resp.body[1] == 0x8b);
    unsigned long plain_len = strtoul(resp_header(res, "X-Plain-Length"), NULL, 10);
    /* the raw bytes inflate to what the server compressed */
    unsigned char plain[4096];
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
    z.next_in = res->resp.body;
    z.avail_in = (uInt)res->resp.body_len;
    z.next_out = plain;
    z.avail_out = sizeof plain;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(z.total_out, plain_len);
    inflateEnd(&z);
    assert_memory_equal(plain, "{\"message\": \"compressed on purpose\"", 34);
    sdiff_replay_result_free(res);
}

static void test_replay__chunked_body_dechunked_and_flagged(void **state)
{
    (void)state;
    struct sdiff_replay_result *res = get("/chunked");
    assert_ok(res);
    assert_true(res->resp.chunked);
    assert_int_equal(res->resp.body_len, 20);
    assert_memory_equal(res->resp.body, "hello, chunked world", 20);
    assert_int_equal(res->resp.body_seen, 20);
    assert_string_equal(resp_header(res, "Transfer-Encoding"), "chunked");
    assert_null(resp_header(res, "X-Trailer")); /* trailers are not head fields */
    assert_int_equal(res->resp.nheaders, 2);
    sdiff_replay_result_free(res);
}

static void test_replay__interim_1xx_head_discarded(void **state)
{
    (void)state;
    struct sdiff_replay_result *res = get("/continue");
    assert_ok(res);
    assert_int_equal(res->resp.status, 200);
    assert_null(resp_header(res, "X-Interim"));
    assert_int_equal(res->resp.nheaders, 2);
    assert_int_equal(res->resp.body_len, 4);
    assert_memory_equal(res->resp.body, "done", 4);
    sdiff_replay_result_free(res);
}

static void test_replay__dribbled_response_assembled(void **state)
{
    (void)state;
    struct sdiff_replay_result *res = get("/dribble?ms=1");
    assert_ok(res);
    assert_int_equal(res->resp.status, 200);
    assert_int_equal(res->resp.body_len, 16);
    assert_memory_equal(res->resp.body, "dribbled slowly\n", 16);
    sdiff_replay_result_free(res);
}

/* ---- failures -------------------------------------------------------------------------- */

static void test_replay__refused_port_reports_refused(void **state)
{
    (void)state;
    int port = sdiff_test_free_port();
    char url[64], who[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    snprintf(who, sizeof who, "127.0.0.1:%d", port);
    struct sdiff_replay_result *res =
        replay_one_to(NULL, url, make_req("GET", "/echo", NULL, NULL, 0));
    assert_int_equal(res->error, SDIFF_REPLAY_REFUSED);
    assert_non_null(strstr(res->errmsg, "refused"));
    assert_non_null(strstr(res->errmsg, who));
    assert_null(strchr(res->errmsg, '\n'));
    assert_false(res->resp.present);
    assert_string_equal(sdiff_replay_error_str(res->error), "refused");
    sdiff_replay_result_free(res);
}

static void test_replay__hang_times_out(void **state)
{
    (void)state;
    struct sdiff_replay_opts o = {.timeout_ms = 300};
    double t0 = sdiff_test_now();
    struct sdiff_replay_result *res = replay_one(&o, make_req("GET", "/hang", NULL, NULL, 0));
    double took = sdiff_test_now() - t0;
    assert_int_equal(res->error, SDIFF_REPLAY_TIMEOUT);
    assert_true(took >= 0.25 && took < 3.0);
    assert_non_null(strstr(res->errmsg, "300 ms"));
    sdiff_replay_result_free(res);
}

static void test_replay__reset_mid_body_reports_reset(void **state)
{
    (void)state;
    struct sdiff_replay_result *res = get("/reset");
    assert_int_equal(res->error, SDIFF_REPLAY_RESET);
    assert_true(res->errmsg[0] != '\0');
    /* what came before the reset is kept */
    assert_true(res->resp.present);
    assert_false(res->resp.complete);
    assert_int_equal(res->resp.status, 200);
    assert_int_equal(res->resp.body_len, 100);
    sdiff_replay_result_free(res);
}

static void test_replay__endless_body_stops_at_max_body(void **state)
{
    (void)state;
    struct sdiff_replay_opts o = {.max_body = 64u << 10};
    double t0 = sdiff_test_now();
    struct sdiff_replay_result *res = replay_one(&o, make_req("GET", "/endless", NULL, NULL, 0));
    assert_true(sdiff_test_now() - t0 < 5.0);
    assert_int_equal(res->error, SDIFF_REPLAY_TOO_LARGE);
    assert_true(res->resp.present);
    assert_false(res->resp.complete);
    assert_true(res->resp.chunked);
    assert_int_equal(res->resp.body_len, 64u << 10);
    assert_true(res->resp.body_seen > res->resp.body_len);
    assert_memory_equal(res->resp.body, "eeee", 4);
    sdiff_replay_result_free(res);
}

static void test_replay__garbage_reports_protocol(void **state)
{
    (void)state;
    struct sdiff_replay_result *res = get("/garbage");
    assert_int_equal(res->error, SDIFF_REPLAY_PROTOCOL);
    assert_true(res->errmsg[0] != '\0');
    sdiff_replay_result_free(res);
}

static void test_replay__tls_handshake_with_plain_http_reports_tls(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", server_port);
    struct sdiff_replay_opts o = {.insecure = 1, .timeout_ms = 3000};
    struct sdiff_replay_result *res =
        replay_one_to(&o, url, make_req("GET", "/echo", NULL, NULL, 0));
    assert_int_equal(res->error, SDIFF_REPLAY_TLS);
    assert_non_null(strstr(res->errmsg, host));
    sdiff_replay_result_free(res);
}

static void test_replay__unknown_host_reports_resolve(void **state)
{
    (void)state;
    struct sdiff_replay_opts o = {.connect_timeout_ms = 5000};
    struct sdiff_replay_result *res = replay_one_to(&o, "http://no-such-host.invalid:8081",
                                                    make_req("GET", "/echo", NULL, NULL, 0));
    enum sdiff_replay_error e = res->error;
    char msg[sizeof res->errmsg];
    snprintf(msg, sizeof msg, "%s", res->errmsg);
    sdiff_replay_result_free(res);
    if (e == SDIFF_REPLAY_TIMEOUT) {
        skip(); /* no resolver answered in time: nothing to judge */
    }
    assert_int_equal(e, SDIFF_REPLAY_RESOLVE);
    assert_non_null(strstr(msg, "no-such-host.invalid"));
}

static void test_replay__bad_arguments_einval_bad_requests_reported(void **state)
{
    (void)state;
    struct collect c = {0};
    struct sdiff_replay *r = NULL;
    struct sdiff_err err = {0};
    const char *ftp = "ftp://127.0.0.1/";
    assert_int_equal(replay_new(&r, NULL, &ftp, 1, collect_cb, &c, &err), SDIFF_EINVAL);
    assert_null(r);
    assert_non_null(strstr(err.msg, "ftp://"));
    const char *query = "http://127.0.0.1:1/a?b";
    sdiff_err_clear(&err);
    assert_int_equal(replay_new(&r, NULL, &query, 1, collect_cb, &c, &err), SDIFF_EINVAL);
    const char *const set[] = {"NoColon"};
    struct sdiff_replay_opts o = {.set_headers = set, .nset = 1};
    sdiff_err_clear(&err);
    const char *url = base;
    assert_int_equal(replay_new(&r, &o, &url, 1, collect_cb, &c, &err), SDIFF_EINVAL);
    assert_non_null(strstr(err.msg, "NoColon"));

    /* requests that cannot be replayed faithfully are reported, not refused */
    r = new_replay(NULL, base, &c);
    struct sdiff_exchange *bad[3] = {
        make_req("GET", "/a b", NULL, NULL, 0),
        make_req("CONNECT", "legacy:443", NULL, NULL, 0),
        make_req("POST", "/echo", NULL, "abc", 3),
    };
    bad[2]->req.body_seen = 10; /* the capture kept 3 of 10 bytes */
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(sdiff_replay_submit(r, bad[i], 0, bad[i], NULL), SDIFF_OK);
        sdiff_exchange_free(bad[i]);
    }
    assert_int_equal(sdiff_replay_pending(r), 3);
    assert_int_equal(sdiff_replay_run(r, 0, NULL), 0);
    sdiff_replay_free(r);
    assert_int_equal(c.n, 3);
    static const char *const why[] = {"control character", "\"legacy:443\"", "3 of 10"};
    for (size_t i = 0; i < 3; i++) {
        assert_ptr_equal(c.tags[i], bad[i]);
        assert_int_equal(c.res[i]->error, SDIFF_REPLAY_OTHER);
        assert_false(c.res[i]->resp.present);
        assert_non_null(strstr(c.res[i]->errmsg, "not replayed"));
        assert_non_null(strstr(c.res[i]->errmsg, why[i]));
    }
    collect_dispose(&c);
}

static void test_replay__out_of_memory_fails_cleanly(void **state)
{
    (void)state;
    const char *const hdrs[] = {"Host", "h", "Content-Length", "3", "X-A", "1", NULL};
    struct sdiff_exchange *ex = make_req("POST", "/echo", hdrs, "abc", 3);
    const char *url = base;
    const char *const set[] = {"X-Set: 1"};
    struct sdiff_replay_opts o = {.set_headers = set, .nset = 1};
    /* fail allocation n, n+1, ... until the whole replay succeeds */
    for (long n = 0;; n++) {
        struct collect c = {0};
        struct sdiff_replay *r = NULL;
        struct sdiff_err err = {0};
        sdiff_alloc_fail_after(n);
        int rc = replay_new(&r, &o, &url, 1, collect_cb, &c, &err);
        if (rc == SDIFF_OK)
            rc = sdiff_replay_submit(r, ex, 0, NULL, &err);
        if (rc == SDIFF_OK) {
            while ((rc = sdiff_replay_run(r, 200, &err)) > 0)
                ;
        }
        sdiff_alloc_fail_after(-1);
        sdiff_replay_free(r);
        if (rc < 0) {
            assert_int_equal(rc, SDIFF_ENOMEM);
            assert_int_equal(err.code, SDIFF_ENOMEM);
            assert_int_equal(c.n, 0);
            continue;
        }
        /* a submitted request is always reported, if only as an error */
        assert_int_equal(c.n, 1);
        int ok = c.res[0]->error == SDIFF_REPLAY_OK;
        if (!ok)
            assert_non_null(strstr(c.res[0]->errmsg, "out of memory"));
        collect_dispose(&c);
        if (ok)
            break;
        assert_true(n < 1000);
    }
    sdiff_exchange_free(ex);
}

/* ---- scheduling ------------------------------------------------------------------------ */

static void test_replay__concurrency_runs_in_parallel_on_kept_connections(void **state)
{
    (void)state;
    json_decref(stats_take());
    struct collect c = {0};
    struct sdiff_replay_opts o = {.concurrency = 20};
    struct sdiff_replay *r = new_replay(&o, base, &c);
    struct sdiff_exchange *ex = make_req("GET", "/slow?ms=50", NULL, NULL, 0);
    double t0 = sdiff_test_now();
    for (size_t i = 0; i < 200; i++)
        assert_int_equal(sdiff_replay_submit(r, ex, 0, (void *)(i + 1), NULL), SDIFF_OK);
    sdiff_exchange_free(ex);
    assert_int_equal(sdiff_replay_pending(r), 200);
    drive(r, 30);
    double took = sdiff_test_now() - t0;
    sdiff_replay_free(r);
    printf("# 200 requests of 50 ms at concurrency 20: %.2f s\n", took);
    assert_int_equal(c.n, 200);
    assert_int_equal(c.n_ok, 200);
    assert_true(took < 2.0); /* 10 s if sequential, 0.5 s ideal */
    int seen[201] = {0};
    for (size_t i = 0; i < c.n; i++)
        seen[(size_t)c.tags[i]]++;
    for (size_t i = 1; i <= 200; i++)
        assert_int_equal(seen[i], 1);
    collect_dispose(&c);
    json_t *st = stats_take();
    assert_int_equal(stats_path(st, "/slow"), 200);
    /* persistent connections: at most one per slot (+1 for the stats request itself) */
    long conns = (long)json_integer_value(json_object_get(st, "connections"));
    printf("# connections opened: %ld\n", conns);
    assert_true(conns >= 2 && conns <= 21);
    json_decref(st);
}

static void test_replay__queue_limit_returns_elimit(void **state)
{
    (void)state;
    struct collect c = {0};
    struct sdiff_replay_opts o = {.concurrency = 2, .max_queue = 3};
    struct sdiff_replay *r = new_replay(&o, base, &c);
    struct sdiff_exchange *ex = make_req("GET", "/slow?ms=100", NULL, NULL, 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(sdiff_replay_submit(r, ex, 0, NULL, NULL), SDIFF_OK);
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_replay_submit(r, ex, 0, NULL, &err), SDIFF_ELIMIT);
    assert_int_equal(err.code, SDIFF_ELIMIT);
    assert_non_null(strstr(err.msg, "queue"));
    assert_int_equal(sdiff_replay_pending(r), 5);
    drive(r, 10);
    /* once drained, the queue takes requests again */
    assert_int_equal(sdiff_replay_submit(r, ex, 0, NULL, NULL), SDIFF_OK);
    drive(r, 10);
    sdiff_exchange_free(ex);
    sdiff_replay_free(r);
    assert_int_equal(c.n, 6);
    assert_int_equal(c.n_ok, 6);
    collect_dispose(&c);
}

static void test_replay__free_in_flight_aborts_without_callback(void **state)
{
    (void)state;
    struct collect c = {0};
    struct sdiff_replay_opts o = {.concurrency = 4};
    struct sdiff_replay *r = new_replay(&o, base, &c);
    const char *const hdrs[] = {"Host", "h", "Content-Length", "5", NULL};
    struct sdiff_exchange *ex = make_req("POST", "/hang", hdrs, "hello", 5);
    for (int i = 0; i < 10; i++)
        assert_int_equal(sdiff_replay_submit(r, ex, 0, NULL, NULL), SDIFF_OK);
    sdiff_exchange_free(ex);
    assert_int_equal(sdiff_replay_run(r, 200, NULL), 10);
    sdiff_replay_free(r); /* 4 in flight, 6 queued */
    assert_int_equal(c.n, 0);
}

struct chain {
    struct sdiff_replay *r;
    struct sdiff_exchange *ex;
    int done;
    int ok;
};

static void chain_cb(void *tag, struct sdiff_replay_result *res, void *ud)
{
    struct chain *ch = ud;
    ch->done++;
    ch->ok += res->error == SDIFF_REPLAY_OK && res->resp.status == 200;
    sdiff_replay_result_free(res);
    /* each answer sends the next request; run may not be re-entered */
    if ((size_t)tag < 10)
        assert_int_equal(sdiff_replay_submit(ch->r, ch->ex, 0, (void *)((size_t)tag + 1), NULL),
                         SDIFF_OK);
    assert_int_equal(sdiff_replay_run(ch->r, 0, NULL), SDIFF_EINVAL);
}

static void test_replay__callback_may_submit(void **state)
{
    (void)state;
    struct chain ch = {0};
    const char *url = base;
    assert_int_equal(replay_new(&ch.r, NULL, &url, 1, chain_cb, &ch, NULL), SDIFF_OK);
    ch.ex = make_req("GET", "/echo", NULL, NULL, 0);
    assert_int_equal(sdiff_replay_submit(ch.r, ch.ex, 0, (void *)1, NULL), SDIFF_OK);
    drive(ch.r, 10);
    sdiff_replay_free(ch.r);
    sdiff_exchange_free(ch.ex);
    assert_int_equal(ch.done, 10);
    assert_int_equal(ch.ok, 10);
}

static void test_replay__rate_caps_request_starts(void **state)
{
    (void)state;
    struct collect c = {0};
    struct sdiff_replay_opts o = {.rate = 50, .concurrency = 8};
    struct sdiff_replay *r = new_replay(&o, base, &c);
    struct sdiff_exchange *ex = make_req("GET", "/echo", NULL, NULL, 0);
    double t0 = sdiff_test_now();
    for (int i = 0; i < 25; i++)
        assert_int_equal(sdiff_replay_submit(r, ex, 0, NULL, NULL), SDIFF_OK);
    sdiff_exchange_free(ex);
    drive(r, 10);
    double took = sdiff_test_now() - t0;
    sdiff_replay_free(r);
    printf("# 25 requests at 50/s: %.2f s\n", took);
    assert_int_equal(c.n_ok, 25);
    assert_true(took >= 0.4 && took < 3.0);
    collect_dispose(&c);
}

/* ---- throughput (printed, not asserted) ------------------------------------------------ */

struct counter {
    size_t done;
    size_t ok;
};

static void count_cb(void *tag, struct sdiff_replay_result *res, void *ud)
{
    (void)tag;
    struct counter *k = ud;
    k->done++;
    k->ok += res->error == SDIFF_REPLAY_OK;
    sdiff_replay_result_free(res);
}

/* Keep the queue topped up, as a caller streaming a corpus would. */
static double throughput(const char *url, const char *target, size_t n, size_t conc,
                         struct counter *k)
{
    struct sdiff_replay *r = NULL;
    struct sdiff_replay_opts o = {.concurrency = conc, .max_queue = 4 * conc};
    assert_int_equal(replay_new(&r, &o, &url, 1, count_cb, k, NULL), SDIFF_OK);
    const char *const hdrs[] = {"Host", "legacy", "User-Agent", "bench", "Accept", "*/*", NULL};
    struct sdiff_exchange *ex = make_req("GET", target, hdrs, NULL, 0);
    size_t sent = 0;
    double t0 = sdiff_test_now();
    while (k->done < n) {
        while (sent < n && sdiff_replay_pending(r) < 4 * conc) {
            assert_int_equal(sdiff_replay_submit(r, ex, 0, NULL, NULL), SDIFF_OK);
            sent++;
        }
        assert_true(sdiff_replay_run(r, 100, NULL) >= 0);
    }
    double took = sdiff_test_now() - t0;
    sdiff_exchange_free(ex);
    sdiff_replay_free(r);
    return (double)n / took;
}

static void test_replay__perf_echo_requests_per_second(void **state)
{
    (void)state;
    struct counter k = {0};
    double rps = throughput(base, "/echo", 5000, 16, &k);
    printf("# replay to fault_server /echo: 5000 requests, concurrency 16: %.0f requests/s\n",
           rps);
    assert_int_equal(k.ok, 5000);
}

static void test_replay__perf_bench_url(void **state)
{
    (void)state;
    const char *url = getenv("SDIFF_REPLAY_BENCH_URL");
    if (url == NULL || url[0] == '\0') {
        skip();
    }
    const char *ns = getenv("SDIFF_REPLAY_BENCH_N");
    const char *cs = getenv("SDIFF_REPLAY_BENCH_CONC");
    size_t n = ns ? strtoul(ns, NULL, 10) : 200000;
    size_t conc = cs ? strtoul(cs, NULL, 10) : 16;
    /* split "http://host:port/path" into the target and the request path */
    const char *path = strchr(url + strlen("http://") + 1, '/');
    char root[256];
    snprintf(root, sizeof root, "%.*s", (int)(path ? path - url : (long)strlen(url)), url);
    struct counter k = {0};
    double rps = throughput(root, path ? path : "/", n, conc, &k);
    printf("# replay to %s: %zu requests, concurrency %zu: %.0f requests/s (%zu ok)\n", url, n,
           conc, rps, k.ok);
    assert_int_equal(k.ok, n);
}

/* ---- main ------------------------------------------------------------------------------ */

static int start_server(void **state)
{
    (void)state;
    server_port = sdiff_test_free_port();
    char port_s[16], path[4200];
    snprintf(port_s, sizeof port_s, "%d", server_port);
    snprintf(path, sizeof path, "%s/fault_server.py", tools);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", server_port);
    snprintf(host, sizeof host, "127.0.0.1:%d", server_port);
    char *argv[] = {"/usr/bin/python3", path, port_s, NULL};
    server_pid = sdiff_test_spawn(argv, NULL, NULL);
    return sdiff_test_wait_port(server_port, 10) == 0 ? 0 : -1;
}

static int stop_server(void **state)
{
    (void)state;
    sdiff_test_stop(server_pid, SIGTERM, 5);
    return 0;
}

int main(int argc, char **argv)
{
    const char *fx = getenv("SDIFF_FIXTURES");
    snprintf(tools, sizeof tools, "%s/../tests/tools", fx ? fx : "fixtures");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay__headers_keep_wire_order_and_case),
        cmocka_unit_test(test_replay__lowercase_host_keeps_its_place_and_case),
        cmocka_unit_test(test_replay__hop_by_hop_headers_not_forwarded),
        cmocka_unit_test(test_replay__host_rewritten_unless_preserved),
        cmocka_unit_test(test_replay__set_and_drop_headers),
        cmocka_unit_test(test_replay__marker_custom_and_disabled),
        cmocka_unit_test(test_replay__captured_markers_never_reach_the_candidate),
        cmocka_unit_test(test_replay__marker_check_tells_ours_from_forged),
        cmocka_unit_test(test_replay__method_overrides_found_in_headers_query_and_forms),
        cmocka_unit_test(test_replay__post_body_forwarded_with_its_length),
        cmocka_unit_test(test_replay__chunked_request_body_sent_with_a_length),
        cmocka_unit_test(test_replay__every_method_sent_as_captured),
        cmocka_unit_test(test_replay__both_transports_send_the_same_bytes),
        cmocka_unit_test(test_replay__head_does_not_wait_for_a_body),
        cmocka_unit_test(test_replay__target_forms_and_path_prefix),
        cmocka_unit_test(test_replay__reused_handle_carries_nothing_over),
        cmocka_unit_test(test_replay__redirect_recorded_not_followed),
        cmocka_unit_test(test_replay__gzip_body_kept_raw),
        cmocka_unit_test(test_replay__chunked_body_dechunked_and_flagged),
        cmocka_unit_test(test_replay__interim_1xx_head_discarded),
        cmocka_unit_test(test_replay__dribbled_response_assembled),
        cmocka_unit_test(test_replay__refused_port_reports_refused),
        cmocka_unit_test(test_replay__hang_times_out),
        cmocka_unit_test(test_replay__reset_mid_body_reports_reset),
        cmocka_unit_test(test_replay__endless_body_stops_at_max_body),
        cmocka_unit_test(test_replay__garbage_reports_protocol),
        cmocka_unit_test(test_replay__tls_handshake_with_plain_http_reports_tls),
        cmocka_unit_test(test_replay__unknown_host_reports_resolve),
        cmocka_unit_test(test_replay__bad_arguments_einval_bad_requests_reported),
        cmocka_unit_test(test_replay__out_of_memory_fails_cleanly),
        cmocka_unit_test(test_replay__concurrency_runs_in_parallel_on_kept_connections),
        cmocka_unit_test(test_replay__queue_limit_returns_elimit),
        cmocka_unit_test(test_replay__free_in_flight_aborts_without_callback),
        cmocka_unit_test(test_replay__callback_may_submit),
        cmocka_unit_test(test_replay__rate_caps_request_starts),
        cmocka_unit_test(test_replay__perf_echo_requests_per_second),
        cmocka_unit_test(test_replay__perf_bench_url),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    transport = SDIFF_REPLAY_TRANSPORT_CURL;
    int rc = cmocka_run_group_tests_name("it_replay, libcurl", tests, start_server, stop_server);
    transport = SDIFF_REPLAY_TRANSPORT_NATIVE;
    rc |= cmocka_run_group_tests_name("it_replay, native client", tests, start_server,
                                      stop_server);
    sdiff_test_kill_all();
    return rc;
}
