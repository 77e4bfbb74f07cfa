/*
 * test_diff.c - classification of primary/candidate response pairs, table-driven, with the
 * serialisation differences a Python-to-Go migration really produces.
 */
#include "sdiff_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "shadowdiff/diff.h"

struct row {
    const char *name;
    const char *primary;   /* full response text, or a bare body */
    const char *candidate;
    const char *cls;
    const char *expect;    /* "reason,reason" for equivalent, or "path kind|path kind" */
};

#define OK_JSON "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"

static const struct row rows[] = {
    {"noise headers only", OK_JSON "Date: Mon\r\nServer: gunicorn\r\nX-Request-Id: a1\r\n"
                           "Content-Length: 7\r\n\r\n{\"a\":1}",
     OK_JSON "Date: Tue\r\nServer: go\r\nX-Request-Id: b2\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
     "identical", ""},
    {"chunked vs length framing", OK_JSON "Content-Length: 7\r\n\r\n{\"a\":1}",
     OK_JSON "Transfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n", "identical",
     ""},
    {"flask sorts keys, go keeps struct order", "{\"id\":1,\"name\":\"x\",\"zip\":\"9\"}",
     "{\"zip\":\"9\",\"id\":1,\"name\":\"x\"}", "equivalent", "key_order"},
    {"python 1.0 vs go 1", "{\"price\":10.0,\"tiny\":1e-05,\"big\":1e+21}",
     "{\"price\":10,\"tiny\":1e-05,\"big\":1e+21}", "equivalent", "number_spelling"},
    {"go escapes <>&", "{\"html\":\"<b>&</b>\"}", "{\"html\":\"\\u003cb\\u003e\\u0026\\u003c/b\\u003e\"}",
     "equivalent", "string_escapes"},
    {"python escapes non-ascii", "{\"city\":\"Orl\\u00e9ans\"}", "{\"city\":\"Orl\xc3\xa9" "ans\"}",
     "equivalent", "string_escapes"},
    {"go encoder trailing newline", "{\"a\":[1,2]}", "{\"a\":[1,2]}\n", "equivalent",
     "whitespace"},
    {"go omitempty drops null", "{\"id\":7,\"middle_name\":null,\"name\":\"Ada\"}",
     "{\"id\":7,\"name\":\"Ada\"}", "different", "$.middle_name missing"},
    {"big id through float64", "{\"id\":9007199254740993}", "{\"id\":9007199254740992}",
     "different", "$.id changed"},
    {"id beyond 2^63", "{\"id\":123456789012345678901234567890}",
     "{\"id\":123456789012345678901234567891}", "different", "$.id changed"},
    {"rounding in the last digit", "{\"items\":[{\"price\":2.67},{\"price\":2.68}]}",
     "{\"items\":[{\"price\":2.67},{\"price\":2.67}]}", "different", "$.items[1].price changed"},
    {"status for bad input", "HTTP/1.1 400 BAD REQUEST\r\nContent-Type: application/json\r\n"
                             "Content-Length: 2\r\n\r\n{}",
     "HTTP/1.1 422 Unprocessable Entity\r\nContent-Type: application/json\r\n"
     "Content-Length: 2\r\n\r\n{}",
     "different", "status changed"},
    {"content-type spelling", "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
                              "Content-Length: 2\r\n\r\n{}",
     "HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: 2\r\n\r\n{}",
     "equivalent", "header_spelling"},
    {"content-type changed", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: 2\r\n\r\n{}",
     "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\n{}",
     "different", "header:content-type changed"},
    {"extra and missing headers", OK_JSON "Cache-Control: no-store\r\nContent-Length: 2\r\n\r\n{}",
     OK_JSON "X-Frame-Options: DENY\r\nContent-Length: 2\r\n\r\n{}", "different",
     "header:cache-control missing|header:x-frame-options extra"},
    {"null vs missing vs empty", "{\"a\":null,\"b\":[],\"c\":{}}", "{\"b\":null,\"c\":[]}",
     "different", "$.a missing|$.b type_changed|$.c type_changed"},
    {"tie-break order", "{\"top\":[{\"n\":\"ann\",\"s\":5},{\"n\":\"bob\",\"s\":5}]}",
     "{\"top\":[{\"n\":\"bob\",\"s\":5},{\"n\":\"ann\",\"s\":5}]}", "different", "$.top order"},
    {"array length", "[1,2,3]", "[1,2]", "different", "$ length|$[2] missing"},
    {"text body", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nline1\nline2\n",
     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nline1\nlineX\n",
     "different", "body:line 2 changed"},
    {"binary body", "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 4\r\n\r\n\x89PN\x01",
     "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 4\r\n\r\n\x89PN\x02",
     "different", "body:byte 3 changed"},
    {"legacy redacted secret headers by presence",
     OK_JSON "Set-Cookie: [redacted]\r\nContent-Length: 2\r\n\r\n{}",
     OK_JSON "Set-Cookie: sid=abc\r\nContent-Length: 2\r\n\r\n{}", "identical", ""},
    {"the same hashed secret", OK_JSON "Set-Cookie: sid=hmac:0123456789abcdef; Path=/\r\n"
                               "Content-Length: 2\r\n\r\n{}",
     OK_JSON "Set-Cookie: sid=hmac:0123456789abcdef; Path=/\r\nContent-Length: 2\r\n\r\n{}",
     "identical", ""},
    {"another hashed secret", OK_JSON "Set-Cookie: sid=hmac:0123456789abcdef; Path=/\r\n"
                              "Content-Length: 2\r\n\r\n{}",
     OK_JSON "Set-Cookie: sid=hmac:fedcba9876543210; Path=/\r\nContent-Length: 2\r\n\r\n{}",
     "different", "header:set-cookie changed"},
};

static struct sdiff_msg read_msg(const char *text)
{
    struct sdiff_msg m;
    struct sdiff_err err = {0};
    if (sdiff_msg_read_response((const uint8_t *)text, strlen(text), 1 << 20, &m, &err) < 0)
        fail_msg("cannot read test response: %s", err.msg);
    return m;
}

/* "path kind|path kind" or "reason,reason" for the result. */
static void describe(const struct sdiff_diff_result *r, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    if (r->cls == SDIFF_CLASS_EQUIVALENT) {
        for (unsigned bit = 1; bit <= SDIFF_REASON__LAST; bit <<= 1)
            if (r->reasons & bit)
                o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "," : "", sdiff_reason_str(bit));
        return;
    }
    for (size_t i = 0; i < r->nitems; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s %s", i ? "|" : "", r->items[i].path,
                              r->items[i].kind);
}

static void test_diff__table(void **state)
{
    (void)state;
    struct sdiff_differ *d = NULL;
    assert_int_equal(sdiff_differ_new(&d, NULL, NULL), SDIFF_OK);
    int bad = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct sdiff_msg p = read_msg(rows[i].primary), c = read_msg(rows[i].candidate);
        struct sdiff_diff_result r;
        assert_int_equal(sdiff_differ_compare(d, &p, &c, "GET /x", NULL, &r, NULL), SDIFF_OK);
        char got[1024];
        describe(&r, got, sizeof got);
        if (strcmp(sdiff_class_str(r.cls), rows[i].cls) != 0 || strcmp(got, rows[i].expect) != 0) {
            fprintf(stderr, "%s: expected %s [%s], got %s [%s]\n", rows[i].name, rows[i].cls,
                    rows[i].expect, sdiff_class_str(r.cls), got);
            bad++;
        }
        sdiff_diff_result_dispose(&r);
        sdiff_msg_dispose(&p);
        sdiff_msg_dispose(&c);
    }
    sdiff_differ_free(d);
    assert_int_equal(bad, 0);
}

static char *gzip_text(const char *s, size_t *n)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&zs, (uLong)strlen(s)) + 32;
    char *out = malloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)s;
    zs.avail_in = (uInt)strlen(s);
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    *n = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

static struct sdiff_msg msg_with(int status, const char *enc, const void *body, size_t n)
{
    struct sdiff_msg m;
    memset(&m, 0, sizeof m);
    struct sdiff_hfield h[2] = {{"Content-Type", "application/json", 12, 16},
                                {"Content-Encoding", enc ? enc : "", 16, enc ? strlen(enc) : 0}};
    assert_int_equal(sdiff_msg_set_headers(&m, h, enc ? 2 : 1), SDIFF_OK);
    m.present = 1;
    m.status = status;
    m.body = malloc(n + 1);
    memcpy(m.body, body, n);
    m.body_len = n;
    return m;
}

static void test_diff__gzip_vs_plain_is_equivalent(void **state)
{
    (void)state;
    const char *json = "{\"items\":[1,2,3],\"name\":\"x\"}";
    size_t zn;
    char *z = gzip_text(json, &zn);
    struct sdiff_msg p = msg_with(200, NULL, json, strlen(json));
    struct sdiff_msg c = msg_with(200, "gzip", z, zn);
    struct sdiff_differ *d;
    assert_int_equal(sdiff_differ_new(&d, NULL, NULL), SDIFF_OK);
    struct sdiff_diff_result r;
    assert_int_equal(sdiff_differ_compare(d, &p, &c, NULL, NULL, &r, NULL), SDIFF_OK);
    assert_int_equal(r.cls, SDIFF_CLASS_EQUIVALENT);
    assert_true(r.reasons & SDIFF_REASON_CONTENT_ENCODING);
    sdiff_diff_result_dispose(&r);
    sdiff_differ_free(d);
    sdiff_msg_dispose(&p);
    sdiff_msg_dispose(&c);
    free(z);
}

/* A response with the given Content-Encoding (NULL: none) and Vary (NULL: none) headers. */
static struct sdiff_msg vary_msg(const char *coding, const char *vary)
{
    const char *json = "{\"items\":[1,2,3],\"name\":\"x\"}";
    size_t zn = strlen(json);
    char *z = coding ? gzip_text(json, &zn) : NULL;
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%s%s%s%s%s%s"
                      "Content-Length: %zu\r\n\r\n",
                      coding ? "Content-Encoding: " : "", coding ? coding : "",
                      coding ? "\r\n" : "", vary ? "Vary: " : "", vary ? vary : "",
                      vary ? "\r\n" : "", zn);
    size_t n = (size_t)hn + zn;
    uint8_t *raw = malloc(n);
    memcpy(raw, head, (size_t)hn);
    memcpy(raw + hn, z ? z : json, zn);
    struct sdiff_msg m;
    struct sdiff_err err = {0};
    if (sdiff_msg_read_response(raw, n, 1 << 20, &m, &err) < 0)
        fail_msg("cannot read test response: %s", err.msg);
    free(raw);
    free(z);
    return m;
}

/* "class" or "class: path kind|..." for a primary and candidate pair. */
static void vary_case(const char *pc, const char *pv, const char *cc, const char *cv,
                      const char *want)
{
    struct sdiff_msg p = vary_msg(pc, pv), c = vary_msg(cc, cv);
    struct sdiff_differ *d;
    struct sdiff_diff_result r;
    char got[512], items[400];
    assert_int_equal(sdiff_differ_new(&d, NULL, NULL), SDIFF_OK);
    assert_int_equal(sdiff_differ_compare(d, &p, &c, NULL, NULL, &r, NULL), SDIFF_OK);
    describe(&r, items, sizeof items);
    snprintf(got, sizeof got, "%s%s%s", sdiff_class_str(r.cls),
             r.cls == SDIFF_CLASS_DIFFERENT ? ": " : "",
             r.cls == SDIFF_CLASS_DIFFERENT ? items : "");
    if (strcmp(got, want) != 0)
        fail_msg("Vary %s/%s vs %s/%s: got '%s', want '%s'", pc ? pc : "identity",
                 pv ? pv : "-", cc ? cc : "identity", cv ? cv : "-", got, want);
    if (r.cls == SDIFF_CLASS_EQUIVALENT)
        assert_true(r.reasons & SDIFF_REASON_CONTENT_ENCODING);
    sdiff_diff_result_dispose(&r);
    sdiff_differ_free(d);
    sdiff_msg_dispose(&p);
    sdiff_msg_dispose(&c);
}

/* Vary: Accept-Encoding follows from compressing; an identity-coded answer needs none. */
static void test_diff__vary_accept_encoding_follows_the_encoding(void **state)
{
    (void)state;
    vary_case("gzip", "Accept-Encoding", NULL, NULL, "equivalent");
    vary_case("gzip", "Accept-Encoding, Origin", NULL, "Origin", "equivalent");
    vary_case("gzip", "origin,accept-encoding", NULL, "Origin", "equivalent");
    /* the rest of the list still counts */
    vary_case("gzip", "Accept-Encoding, Origin", NULL, NULL, "different: header:vary missing");
    vary_case("gzip", "Accept-Encoding, Origin", NULL, "Cookie",
              "different: header:vary changed");
    /* a compressed candidate answer without Vary stays different (caches) */
    vary_case("gzip", "Accept-Encoding", "gzip", NULL, "different: header:vary missing");
    /* the header classes are data: framing, hop-by-hop, volatile, semantic */
    assert_int_equal(sdiff_diff_header_class("Content-Length", 14), SDIFF_HEADER_FRAMING);
    assert_int_equal(sdiff_diff_header_class("keep-alive", 10), SDIFF_HEADER_HOP_BY_HOP);
    assert_int_equal(sdiff_diff_header_class("Date", 4), SDIFF_HEADER_VOLATILE);
    assert_int_equal(sdiff_diff_header_class("X-B3-TraceId", 12), SDIFF_HEADER_VOLATILE);
    assert_int_equal(sdiff_diff_header_class("Vary", 4), SDIFF_HEADER_SEMANTIC);
    assert_string_equal(sdiff_diff_header_class_str(SDIFF_HEADER_HOP_BY_HOP), "hop-by-hop");
}

static void test_diff__candidate_bomb_is_an_error(void **state)
{
    (void)state;
    size_t big = 8u << 20, zn;
    char *zeros = calloc(1, big + 1);
    memset(zeros, ' ', big);
    char *z = gzip_text(zeros, &zn);
    free(zeros);
    struct sdiff_diff_opts o = {.max_decoded = 1 << 20};
    struct sdiff_differ *d;
    assert_int_equal(sdiff_differ_new(&d, &o, NULL), SDIFF_OK);
    struct sdiff_msg p = msg_with(200, NULL, "{}", 2);
    struct sdiff_msg c = msg_with(200, "gzip", z, zn);
    struct sdiff_diff_result r;
    assert_int_equal(sdiff_differ_compare(d, &p, &c, NULL, NULL, &r, NULL), SDIFF_OK);
    assert_int_equal(r.cls, SDIFF_CLASS_ERROR);
    assert_non_null(strstr(r.note, "bomb"));
    sdiff_diff_result_dispose(&r);
    sdiff_differ_free(d);
    sdiff_msg_dispose(&p);
    sdiff_msg_dispose(&c);
    free(z);
}

/* A JSON-typed body the JSON reader refuses (nested past its depth, or not JSON at all)
 * is compared as text, and the note says so: a text diff of a JSON body is explained. */
static void test_diff__json_compared_as_text_says_why(void **state)
{
    (void)state;
    size_t deep = 100000;
    char *a = malloc(2 * deep + 1), *b = malloc(2 * deep + 1);
    memset(a, '[', deep);
    memset(a + deep, ']', deep);
    memcpy(b, a, 2 * deep);
    b[deep - 1] = '{'; /* the innermost pair differs */
    b[deep] = '}';
    struct sdiff_differ *d;
    assert_int_equal(sdiff_differ_new(&d, NULL, NULL), SDIFF_OK);
    struct sdiff_msg p = msg_with(200, NULL, a, 2 * deep);
    struct sdiff_msg c = msg_with(200, NULL, b, 2 * deep);
    struct sdiff_diff_result r;
    assert_int_equal(sdiff_differ_compare(d, &p, &c, NULL, NULL, &r, NULL), SDIFF_OK);
    print_message("%s: %s\n", sdiff_class_str(r.cls), r.note);
    assert_int_equal(r.cls, SDIFF_CLASS_DIFFERENT);
    assert_non_null(strstr(r.note, "compared as text, not as JSON"));
    assert_non_null(strstr(r.note, "deep"));
    sdiff_diff_result_dispose(&r);
    sdiff_msg_dispose(&p);
    sdiff_msg_dispose(&c);

    p = msg_with(200, NULL, "{\"a\":1", 6); /* cut short */
    c = msg_with(200, NULL, "{\"a\":2", 6);
    assert_int_equal(sdiff_differ_compare(d, &p, &c, NULL, NULL, &r, NULL), SDIFF_OK);
    print_message("%s: %s\n", sdiff_class_str(r.cls), r.note);
    assert_int_equal(r.cls, SDIFF_CLASS_DIFFERENT);
    assert_non_null(strstr(r.note, "compared as text, not as JSON: primary"));
    sdiff_diff_result_dispose(&r);
    sdiff_differ_free(d);
    sdiff_msg_dispose(&p);
    sdiff_msg_dispose(&c);
    free(a);
    free(b);
}

static void test_diff__secondary_noise_is_learned_per_route(void **state)
{
    (void)state;
    struct sdiff_differ *d;
    struct sdiff_noise *noise;
    assert_int_equal(sdiff_differ_new(&d, NULL, NULL), SDIFF_OK);
    assert_int_equal(sdiff_noise_new(&noise), SDIFF_OK);
    struct sdiff_msg p = read_msg(OK_JSON "X-Trace: 1\r\n\r\n{\"items\":[{\"id\":1,\"ts\":\"10:00\"},"
                                          "{\"id\":2,\"ts\":\"10:00\"}],\"generated_at\":1}");
    struct sdiff_msg s = read_msg(OK_JSON "X-Trace: 2\r\n\r\n{\"items\":[{\"id\":1,\"ts\":\"10:01\"},"
                                          "{\"id\":2,\"ts\":\"10:01\"}],\"generated_at\":2}");
    /* the evidence rule (test_learn.c): five pairs from three clients over two seconds */
    struct sdiff_learner *l;
    assert_int_equal(sdiff_learner_new(&l, noise, NULL), SDIFF_OK);
    int added = 0;
    for (int i = 0; i < 5; i++) {
        char client[32];
        snprintf(client, sizeof client, "127.0.0.1:%d", 5000 + i % 3);
        added += sdiff_learner_secondary(l, d, &p, &s, "GET /r", client,
                                         1800000000000000ull + (uint64_t)i * 500000, NULL);
    }
    sdiff_learner_free(l);
    assert_int_equal(added, 3); /* header:x-trace, $.items[*].ts, $.generated_at */
    assert_true(sdiff_noise_has(noise, "GET /r", "$.items[*].ts"));
    assert_true(sdiff_noise_has(noise, "GET /r", "header:x-trace"));

    struct sdiff_msg c = read_msg(OK_JSON "X-Trace: 3\r\n\r\n{\"items\":[{\"id\":1,\"ts\":\"11:00\"},"
                                          "{\"id\":2,\"ts\":\"11:00\"},{\"id\":3,\"ts\":\"x\"}],"
                                          "\"generated_at\":3}");
    struct sdiff_diff_result r;
    assert_int_equal(sdiff_differ_compare(d, &p, &c, "GET /r", noise, &r, NULL), SDIFF_OK);
    /* ts and generated_at and the header are noise; the third item is not */
    assert_int_equal(r.cls, SDIFF_CLASS_DIFFERENT);
    char got[512];
    describe(&r, got, sizeof got);
    assert_string_equal(got, "$.items length|$.items[2] extra");
    sdiff_diff_result_dispose(&r);

    /* the same noise on another route is not noise */
    assert_int_equal(sdiff_differ_compare(d, &p, &s, "GET /other", noise, &r, NULL), SDIFF_OK);
    assert_int_equal(r.cls, SDIFF_CLASS_DIFFERENT);
    sdiff_diff_result_dispose(&r);

    /* only noise: equivalent, reason noise */
    assert_int_equal(sdiff_differ_compare(d, &p, &s, "GET /r", noise, &r, NULL), SDIFF_OK);
    assert_int_equal(r.cls, SDIFF_CLASS_EQUIVALENT);
    assert_true(r.reasons & SDIFF_REASON_NOISE);
    sdiff_diff_result_dispose(&r);
    sdiff_msg_dispose(&p);
    sdiff_msg_dispose(&s);
    sdiff_msg_dispose(&c);
    sdiff_noise_free(noise);
    sdiff_differ_free(d);
}

static void test_diff__masks_and_ignored_paths(void **state)
{
    (void)state;
    struct sdiff_text_mask mask = {"[0-9]{2}:[0-9]{2}:[0-9]{2}", "<time>"};
    const char *ignore[] = {"$.meta.*"};
    const char *unordered[] = {"$.tags"};
    struct sdiff_jdiff_opts jo = SDIFF_JDIFF_OPTS_INIT;
    jo.ignore = ignore;
    jo.nignore = 1;
    jo.unordered = unordered;
    jo.nunordered = 1;
    struct sdiff_diff_opts o = {.masks = &mask, .nmasks = 1, .json = &jo};
    struct sdiff_differ *d;
    assert_int_equal(sdiff_differ_new(&d, &o, NULL), SDIFF_OK);
    struct sdiff_msg p = read_msg("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbuilt at 10:00:01\n");
    struct sdiff_msg c = read_msg("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbuilt at 11:22:33\n");
    struct sdiff_diff_result r;
    assert_int_equal(sdiff_differ_compare(d, &p, &c, NULL, NULL, &r, NULL), SDIFF_OK);
    assert_int_equal(r.cls, SDIFF_CLASS_EQUIVALENT);
    assert_true(r.reasons & SDIFF_REASON_TEXT_MASK);
    sdiff_diff_result_dispose(&r);
    sdiff_msg_dispose(&p);
    sdiff_msg_dispose(&c);

    p = read_msg("{\"tags\":[\"a\",\"b\"],\"meta\":{\"host\":\"x1\"}}");
    c = read_msg("{\"tags\":[\"b\",\"a\"],\"meta\":{\"host\":\"y2\"}}");
    assert_int_equal(sdiff_differ_compare(d, &p, &c, NULL, NULL, &r, NULL), SDIFF_OK);
    assert_int_equal(r.cls, SDIFF_CLASS_EQUIVALENT);
    assert_true(r.reasons & SDIFF_REASON_ARRAY_ORDER);
    assert_true(r.reasons & SDIFF_REASON_IGNORED);
    sdiff_diff_result_dispose(&r);
    sdiff_msg_dispose(&p);
    sdiff_msg_dispose(&c);
    sdiff_differ_free(d);

    struct sdiff_text_mask bad = {"([a-z", ""};
    struct sdiff_diff_opts ob = {.masks = &bad, .nmasks = 1};
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_differ_new(&d, &ob, &err), SDIFF_EINVAL);
    assert_non_null(strstr(err.msg, "([a-z"));
}

/* One row per judgement of the python-go preset (README "--preset python-go"): the classes
 * and hints with the preset, and what the same pair is without it. */
#define J "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
static const struct {
    const char *name, *primary, *candidate;
    const char *cls, *with;    /* with the preset: class and "reason" or "path kind: hint" */
    const char *cls_without;
} PRESET_ROWS[] = {
    {"utc +00:00 vs Z", J "\r\n{\"t\":\"2026-12-07T10:00:00.120000+00:00\"}",
     J "\r\n{\"t\":\"2026-12-07T10:00:00.12Z\"}", "equivalent", "time_spelling", "different"},
    {"micro vs nano, equal", J "\r\n{\"t\":\"2026-12-07T10:00:00.123456+00:00\"}",
     J "\r\n{\"t\":\"2026-12-07T10:00:00.123456000Z\"}", "equivalent", "time_spelling",
     "different"},
    {"one instant, two offsets", J "\r\n{\"t\":\"2026-12-07T12:00:00+02:00\"}",
     J "\r\n{\"t\":\"2026-12-07T10:00:00Z\"}", "equivalent", "time_spelling", "different"},
    {"nil slice", J "\r\n{\"tags\":[]}", J "\r\n{\"tags\":null}", "different",
     "$.tags type_changed: a nil slice", "different"},
    {"omitempty", J "\r\n{\"a\":1,\"m\":null}", J "\r\n{\"a\":1}", "different",
     "$.m missing: omitempty", "different"},
    {"trailing-slash redirect", J "\r\n{}",
     "HTTP/1.1 301 Moved Permanently\r\nLocation: /x/\r\nContent-Type: application/json\r\n"
     "\r\n{}",
     "different", "status changed: trailing-slash redirect", "different"},
    {"text/plain default", "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n{}",
     "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}",
     "different", "header:content-type changed: Go's default Content-Type", "different"},
    {"422 vs 400", "HTTP/1.1 422 Unprocessable Entity\r\nContent-Type: application/json\r\n\r\n{}",
     "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{}", "different",
     "status changed: validation error status", "different"},
    {"int above 2^53", J "\r\n{\"n\":9007199254740993}", J "\r\n{\"n\":9007199254740992}",
     "different", "$.n changed: an integer above 2^53", "different"},
    {"decimal as string", J "\r\n{\"p\":\"1.10\"}", J "\r\n{\"p\":1.1}", "different",
     "$.p type_changed: a Decimal", "different"},
    {"naive vs utc", J "\r\n{\"t\":\"2026-12-07T10:00:00\"}", J "\r\n{\"t\":\"2026-12-07T10:00:00Z\"}",
     "different", "$.t changed: a naive local time", "different"},
    {"fraction truncated", J "\r\n{\"t\":\"2026-12-07T10:00:00.123456Z\"}",
     J "\r\n{\"t\":\"2026-12-07T10:00:00.123Z\"}", "different",
     "$.t changed: fractional seconds truncated", "different"},
    /* no hint where none fits */
    {"other status", J "\r\n{}", "HTTP/1.1 500 Oops\r\nContent-Type: application/json\r\n\r\n{}",
     "different", "status changed", "different"},
    {"other instant", J "\r\n{\"t\":\"2026-12-07T10:00:00Z\"}", J "\r\n{\"t\":\"2026-12-07T10:00:01Z\"}",
     "different", "$.t changed", "different"},
    {"int above 2^53, really different", J "\r\n{\"n\":9007199254740993}",
     J "\r\n{\"n\":9007199254740999}", "different", "$.n changed", "different"},
};
#undef J

static void test_diff__python_go_preset_rows(void **state)
{
    (void)state;
    struct sdiff_differ *with = NULL, *without = NULL;
    struct sdiff_diff_opts o = {.preset = SDIFF_PRESET_PYTHON_GO};
    assert_int_equal(sdiff_differ_new(&with, &o, NULL), SDIFF_OK);
    assert_int_equal(sdiff_differ_new(&without, NULL, NULL), SDIFF_OK);
    int bad = 0;
    for (size_t i = 0; i < sizeof PRESET_ROWS / sizeof PRESET_ROWS[0]; i++) {
        struct sdiff_msg p = read_msg(PRESET_ROWS[i].primary);
        struct sdiff_msg c = read_msg(PRESET_ROWS[i].candidate);
        struct sdiff_diff_result r;
        assert_int_equal(sdiff_differ_compare(with, &p, &c, "GET /x", NULL, &r, NULL), SDIFF_OK);
        char got[1024] = "";
        if (r.cls == SDIFF_CLASS_EQUIVALENT) {
            describe(&r, got, sizeof got);
        } else {
            /* every difference but header:content-length style noise: the first one */
            assert_true(r.nitems > 0);
            snprintf(got, sizeof got, "%s %s%s%s", r.items[0].path, r.items[0].kind,
                     r.items[0].hint ? ": " : "", r.items[0].hint ? r.items[0].hint : "");
        }
        const char *want = PRESET_ROWS[i].with;
        int ok = strcmp(sdiff_class_str(r.cls), PRESET_ROWS[i].cls) == 0 &&
                 strncmp(got, want, strlen(want)) == 0 &&
                 (strchr(want, ':') != NULL || strchr(got, ':') == NULL);
        if (!ok) {
            fprintf(stderr, "%s: expected %s [%s], got %s [%s]\n", PRESET_ROWS[i].name,
                    PRESET_ROWS[i].cls, want, sdiff_class_str(r.cls), got);
            bad++;
        }
        sdiff_diff_result_dispose(&r);
        /* without the preset: no equivalence, and never a hint */
        assert_int_equal(sdiff_differ_compare(without, &p, &c, "GET /x", NULL, &r, NULL),
                         SDIFF_OK);
        if (strcmp(sdiff_class_str(r.cls), PRESET_ROWS[i].cls_without) != 0) {
            fprintf(stderr, "%s without the preset: got %s\n", PRESET_ROWS[i].name,
                    sdiff_class_str(r.cls));
            bad++;
        }
        for (size_t k = 0; k < r.nitems; k++)
            assert_null(r.items[k].hint);
        sdiff_diff_result_dispose(&r);
        sdiff_msg_dispose(&p);
        sdiff_msg_dispose(&c);
    }
    sdiff_differ_free(with);
    sdiff_differ_free(without);
    assert_int_equal(bad, 0);
    /* the hint is a function of what is stored, so a report names the same one */
    assert_non_null(sdiff_diff_hint(SDIFF_PRESET_PYTHON_GO, "$.tags", "type_changed", "[]",
                                    "null"));
    assert_null(sdiff_diff_hint(SDIFF_PRESET_NONE, "$.tags", "type_changed", "[]", "null"));
    assert_null(sdiff_diff_hint(SDIFF_PRESET_PYTHON_GO, "$.tags", "type_changed", "{}", "null"));
    enum sdiff_preset pr;
    assert_int_equal(sdiff_preset_parse("python-go", &pr), SDIFF_OK);
    assert_int_equal(pr, SDIFF_PRESET_PYTHON_GO);
    assert_int_equal(sdiff_preset_parse("python-rust", &pr), SDIFF_EINVAL);
    assert_string_equal(sdiff_preset_str(SDIFF_PRESET_PYTHON_GO), "python-go");
}

/*
 * The shape of an answer is read from the JSON tape, or by jansson where the two could
 * disagree: either way, the same hashes jansson alone gave (these were computed by it),
 * valid and invalid bodies, escapes, repeated keys and numbers at jansson's limits included.
 */
static void test_diff__answer_shape_is_the_same_whichever_reader(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "{\"b\":1,\"a\":[1,2],\"c\":{\"x\":null}}",
        "  {\"a\":1}  \n",
        "[{\"id\":1,\"name\":\"x\"},{\"id\":2}]",
        "[[{\"k\":true}]]",
        "[]", "{}", "\"str\"", "12", "-3", "1.5", "1e3", "true", "false", "null",
        "{\"a\":1,\"a\":2,\"b\":3}",
        "{\"k\\u0065y\":1}",
        "{\"k\\ney\":1}",
        "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\ud83d\\ude00\"}",
        "{\"a\":\"caf\\u00e9\"}",
        "{\"a\":\"\\\\u0000\"}",
        "{\"a\":123456789012345678901234567890}",
        "{\"a\":9223372036854775807}",
        "{\"a\":9223372036854775808}",
        "{\"a\":-9223372036854775808}",
        "{\"a\":1e400}",
        "{\"a\":1e-400}",
        "{\"a\":1,}",
        "{\"a\":1} x",
        "{\"a\":",
        "[1,2",
        "{\"\xc3\xa9\":1,\"z\":2,\"Z\":3}",
        "{\"items\": [{\"id\": 0, \"name\": \"item-0\", \"price\": 0.0}]}",
        "\xef\xbb\xbf{\"a\":1}",
        "{\"a\":\"\x01\"}",
        "",
        " ",
    };
    static const char *const want[] = {
        "f4ebbfee475ed4b7",
        "695d98738912e23e",
        "cbbeee7f15d67a4e",
        "5e128df12e5e2f38",
        "40f7b27d4a72fd0d",
        "a452989dd14b866f",
        "07db8f826b403e05",
        "d8937c2e10ee4620",
        "d8937c2e10ee4620",
        "a6521b75753aaf22",
        "a6521b75753aaf22",
        "3ca01395d9e1835e",
        "94ca5daef64b5a47",
        "cd69f28f6bd45d25",
        "3c5797327775d4bc",
        "cd7fa3de6dbea222",
        "a90245e3c22fbc4c",
        "b175f4f98428c995",
        "b175f4f98428c995",
        "695d98738912e23e",
        "695d98738912e23e",
        "695d98738912e23e",
        "b175f4f98428c995",
        "695d98738912e23e",
        "b175f4f98428c995",
        "695d98738912e23e",
        "b175f4f98428c995",
        "695d98738912e23e",
        "b175f4f98428c995",
        "b175f4f98428c995",
        "b175f4f98428c995",
        "b175f4f98428c995",
        "7aadaa683e131105",
        "c874feb9c712ec53",
        "b175f4f98428c995",
        "b175f4f98428c995",
        "87b3bb4fe190c2f6",
        "b175f4f98428c995",
    };
    assert_int_equal(sizeof bodies / sizeof bodies[0], sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct sdiff_msg m;
        memset(&m, 0, sizeof m);
        struct sdiff_hfield h = {"Content-Type", "application/json; charset=utf-8", 12, 31};
        m.reason = (char *)"OK";
        assert_int_equal(sdiff_msg_set_headers(&m, &h, 1), SDIFF_OK);
        m.present = 1;
        m.status = 200;
        m.body = (uint8_t *)bodies[i];
        m.body_len = m.body_seen = strlen(bodies[i]);
        char out[SDIFF_SHAPE_LEN];
        assert_int_equal(sdiff_answer_shape(&m, out), SDIFF_OK);
        if (strcmp(out, want[i]) != 0)
            fail_msg("body %zu (%s): shape %s, want %s", i, bodies[i], out, want[i]);
        m.body = NULL;
        sdiff_msg_dispose(&m);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_diff__python_go_preset_rows),
    cmocka_unit_test(test_diff__table),
    cmocka_unit_test(test_diff__gzip_vs_plain_is_equivalent),
    cmocka_unit_test(test_diff__candidate_bomb_is_an_error),
    cmocka_unit_test(test_diff__json_compared_as_text_says_why),
    cmocka_unit_test(test_diff__secondary_noise_is_learned_per_route),
    cmocka_unit_test(test_diff__masks_and_ignored_paths),
    cmocka_unit_test(test_diff__vary_accept_encoding_follows_the_encoding),
    cmocka_unit_test(test_diff__answer_shape_is_the_same_whichever_reader),
};
SDIFF_TEST_MAIN(tests)
