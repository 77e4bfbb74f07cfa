/*
 * test_redact.c - credentials become keyed hashes wherever they sit in a message (secret
 * headers, query parameters, JSON paths, form bodies, gzip bodies, echoes), equal secrets give
 * equal hashes, redacting twice changes nothing, and keys stay tied to their database.
 */
#include "sdiff_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <brotli/encode.h>
#include <zlib.h>

#include "shadowdiff/diff.h"
#include "shadowdiff/redact.h"
#include "shadowdiff/store.h"

static struct sdiff_redact_key fixed_key(uint8_t fill)
{
    struct sdiff_redact_key k;
    memset(&k, 0, sizeof k);
    memset(k.bytes, fill, 32);
    k.len = 32;
    k.from_file = 1;
    return k;
}

static struct sdiff_redact *redactor(const char *const *paths, size_t npaths)
{
    static const char *const headers[] = {"X-Internal-Token"};
    static const char *const query[] = {"session_key"};
    struct sdiff_redact_key k = fixed_key(7);
    struct sdiff_redact_opts o = {.key = &k, .headers = headers, .nheaders = 1,
                                  .query = query, .nquery = 1, .paths = paths,
                                  .npaths = npaths};
    struct sdiff_redact *r = NULL;
    struct sdiff_err err = {0};
    if (sdiff_redact_new(&r, &o, &err) < 0)
        fail_msg("sdiff_redact_new: %s", err.msg);
    return r;
}

static const char *hash_of(struct sdiff_redact *r, const char *s)
{
    static char h[SDIFF_REDACT_HASH_SIZE];
    sdiff_redact_hash(r, s, strlen(s), h);
    return h;
}

/* A request: "Name: value" header lines, then an optional body. */
static void make_request(struct sdiff_msg *m, const char *method, const char *target,
                         const char *const *lines, size_t n, const char *body)
{
    struct sdiff_hfield f[16];
    memset(m, 0, sizeof *m);
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        const char *colon = strchr(lines[i], ':');
        f[i].name = lines[i];
        f[i].name_len = (size_t)(colon - lines[i]);
        f[i].value = colon + 2;
        f[i].value_len = strlen(colon + 2);
    }
    m->method = (char *)method;
    m->target = (char *)target;
    m->reason = (char *)"";
    assert_int_equal(sdiff_msg_set_headers(m, f, n), SDIFF_OK);
    m->present = 1;
    m->version_minor = 1;
    if (body) {
        m->body_len = strlen(body);
        m->body = sdiff_malloc(m->body_len + 1);
        memcpy(m->body, body, m->body_len + 1);
        m->body_seen = m->body_len;
    }
}

static void dispose(struct sdiff_msg *m)
{
    sdiff_msg_dispose(m);
}

static struct sdiff_msg response(const char *text, size_t len)
{
    struct sdiff_msg m;
    struct sdiff_err err = {0};
    if (sdiff_msg_read_response((const uint8_t *)text, len, 1 << 20, &m, &err) < 0)
        fail_msg("cannot read test response: %s", err.msg);
    return m;
}

static const char *hdr(const struct sdiff_msg *m, const char *name)
{
    const struct sdiff_hfield *h = sdiff_msg_header(m, name);
    return h ? h->value : NULL;
}

static void redact_one(struct sdiff_redact *r, struct sdiff_msg *m)
{
    struct sdiff_err err = {0};
    sdiff_redact_reset(r);
    assert_int_equal(sdiff_redact_collect(r, m), SDIFF_OK);
    if (sdiff_redact_msg(r, m, &err) < 0)
        fail_msg("sdiff_redact_msg: %s", err.msg);
}

static void expect_absent(const void *p, size_t n, const char *canary)
{
    size_t cl = strlen(canary);
    for (size_t i = 0; i + cl <= n; i++)
        if (memcmp((const char *)p + i, canary, cl) == 0)
            fail_msg("%s is still there", canary);
}

/* ---- the hash ---------------------------------------------------------------------------- */

static void test_redact__hash_is_keyed_short_and_stable(void **state)
{
    (void)state;
    struct sdiff_redact *r = redactor(NULL, 0);
    char a[SDIFF_REDACT_HASH_SIZE], b[SDIFF_REDACT_HASH_SIZE];
    sdiff_redact_hash(r, "hunter2", 7, a);
    sdiff_redact_hash(r, "hunter2", 7, b);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 21);
    assert_memory_equal(a, "hmac:", 5);
    assert_true(sdiff_value_is_redacted(a, strlen(a)));
    sdiff_redact_hash(r, "hunter3", 7, b);
    assert_string_not_equal(a, b);
    /* another key, another hash */
    struct sdiff_redact_key k2 = fixed_key(8);
    struct sdiff_redact_opts o = {.key = &k2};
    struct sdiff_redact *r2 = NULL;
    assert_int_equal(sdiff_redact_new(&r2, &o, NULL), SDIFF_OK);
    sdiff_redact_hash(r2, "hunter2", 7, b);
    assert_string_not_equal(a, b);
    /* HMAC-SHA256 with a key of 32 bytes 0x07 (checked with Python's hmac module) */
    sdiff_redact_hash(r, "secret", 6, a);
    assert_string_equal(a, "hmac:e8f9acc76498c028");
    sdiff_redact_free(r2);
    sdiff_redact_free(r);
}

/* ---- headers and URLs ------------------------------------------------------------------- */

static void test_redact__secret_headers_keep_their_shape(void **state)
{
    (void)state;
    struct sdiff_redact *r = redactor(NULL, 0);
    const char *lines[] = {
        "Host: api.test",
        "Authorization: Bearer CANARYBEARER1",
        "Cookie: session=CANARYCOOKIE1; theme=dark",
        "X-Api-Key: CANARYAPIKEY1",
        "X-Internal-Token: CANARYINTERNAL1",
        "Proxy-Authorization: Basic Q0FOQVJZ",
        "Referer: https://app.test/login?next=%2Fhome&token=CANARYREFERER1",
        "Accept: */*",
    };
    struct sdiff_msg m;
    make_request(&m, "GET", "/api/me?page=2&token=CANARYQUERY1&Api_Key=abc%2Bdef"
                             "&session_key=CANARYSESSION1#access_token=CANARYFRAG1",
                 lines, 8, NULL);
    redact_one(r, &m);
    char want[512];
    snprintf(want, sizeof want, "Bearer %s", hash_of(r, "CANARYBEARER1"));
    assert_string_equal(hdr(&m, "Authorization"), want);
    char h1[32];
    snprintf(h1, sizeof h1, "%s", hash_of(r, "CANARYCOOKIE1"));
    snprintf(want, sizeof want, "session=%s; theme=%s", h1, hash_of(r, "dark"));
    assert_string_equal(hdr(&m, "Cookie"), want);
    assert_string_equal(hdr(&m, "X-Api-Key"), hash_of(r, "CANARYAPIKEY1"));
    assert_string_equal(hdr(&m, "X-Internal-Token"), hash_of(r, "CANARYINTERNAL1"));
    snprintf(want, sizeof want, "Basic %s", hash_of(r, "Q0FOQVJZ"));
    assert_string_equal(hdr(&m, "Proxy-Authorization"), want);
    snprintf(want, sizeof want, "https://app.test/login?next=%%2Fhome&token=%s",
             hash_of(r, "CANARYREFERER1"));
    assert_string_equal(hdr(&m, "Referer"), want);
    assert_string_equal(hdr(&m, "Host"), "api.test");
    assert_string_equal(hdr(&m, "Accept"), "*/*");
    /* names compare case-insensitively; the hash is of the percent-decoded value */
    char t1[32], t2[32], t3[32];
    snprintf(t1, sizeof t1, "%s", hash_of(r, "CANARYQUERY1"));
    snprintf(t2, sizeof t2, "%s", hash_of(r, "abc+def"));
    snprintf(t3, sizeof t3, "%s", hash_of(r, "CANARYSESSION1"));
    snprintf(want, sizeof want, "/api/me?page=2&token=%s&Api_Key=%s&session_key=%s"
                                "#access_token=%s",
             t1, t2, t3, hash_of(r, "CANARYFRAG1"));
    assert_string_equal(m.target, want);
    assert_string_equal(m.method, "GET");
    dispose(&m);

    /* Set-Cookie: the value goes, the name and attributes stay; userinfo in a URL goes */
    static const char resp[] = "HTTP/1.1 302 Found\r\n"
                               "Set-Cookie: sid=CANARYSETCOOKIE1; Path=/; HttpOnly\r\n"
                               "Location: https://user:CANARYPASS1@app.test/cb?code=1\r\n"
                               "Content-Length: 0\r\n\r\n";
    struct sdiff_msg rs = response(resp, sizeof resp - 1);
    redact_one(r, &rs);
    snprintf(want, sizeof want, "sid=%s; Path=/; HttpOnly", hash_of(r, "CANARYSETCOOKIE1"));
    assert_string_equal(hdr(&rs, "Set-Cookie"), want);
    snprintf(want, sizeof want, "https://%s@app.test/cb?code=1", hash_of(r, "user:CANARYPASS1"));
    assert_string_equal(hdr(&rs, "Location"), want);
    assert_int_equal(rs.status, 302);
    dispose(&rs);
    sdiff_redact_free(r);
}

/* ---- bodies ----------------------------------------------------------------------------- */

/* A clone (another thread's redactor) hashes headers, query and body paths as its origin. */
static void test_redact__clone_redacts_as_the_original(void **state)
{
    (void)state;
    static const char *const paths[] = {"$.password", "$..secret"};
    struct sdiff_redact *r = redactor(paths, 2), *c = NULL;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_redact_clone(&c, r, &err), SDIFF_OK);
    const char *body = "{\"password\": \"CANARYPW\", \"a\": [{\"secret\": \"CANARYS\"}]}";
    const char *lines[] = {"X-Internal-Token: CANARYTOK", "Authorization: Bearer CANARYAUTH",
                           "Content-Length: 99"};
    struct sdiff_msg m1, m2;
    make_request(&m1, "POST", "/x?session_key=CANARYQ&token=CANARYT&keep=1", lines, 3, body);
    make_request(&m2, "POST", "/x?session_key=CANARYQ&token=CANARYT&keep=1", lines, 3, body);
    redact_one(r, &m1);
    redact_one(c, &m2);
    expect_absent(m2.body, m2.body_len, "CANARY");
    expect_absent(m2.target, strlen(m2.target), "CANARY");
    assert_string_equal(m1.target, m2.target);
    assert_int_equal(m1.body_len, m2.body_len);
    assert_memory_equal(m1.body, m2.body, m1.body_len);
    assert_string_equal(hdr(&m1, "X-Internal-Token"), hdr(&m2, "X-Internal-Token"));
    assert_string_equal(hdr(&m1, "Authorization"), hdr(&m2, "Authorization"));
    assert_null(strstr(hdr(&m2, "X-Internal-Token"), "CANARY"));
    dispose(&m1);
    dispose(&m2);
    sdiff_redact_free(c);
    sdiff_redact_free(r);
}

static void test_redact__json_paths_in_bodies(void **state)
{
    (void)state;
    static const char *const paths[] = {"$.password", "$.items[*].token", "$..secret",
                                        "$.list[1]", "$[\"odd key\"]", "$.pin"};
    struct sdiff_redact *r = redactor(paths, 6);
    const char *body = "{\"user\": \"ada\", \"password\": \"CANARYPW1\\u0021\","
                       " \"items\": [{\"token\": \"CANARYITEM1\", \"n\": 1},"
                       " {\"token\": \"CANARYITEM2\"}],"
                       " \"deep\": {\"a\": [{\"secret\": \"CANARYDEEP1\"}]},"
                       " \"list\": [\"keep\", \"CANARYLIST1\"], \"odd key\": \"CANARYODD1\","
                       " \"pin\": 123456, \"tokenless\": \"keep me\"}";
    const char *lines[] = {"Content-Type: application/json", "Content-Length: 999"};
    struct sdiff_msg m;
    make_request(&m, "POST", "/login", lines, 2, body);
    redact_one(r, &m);
    const char *out = (const char *)m.body;
    expect_absent(m.body, m.body_len, "CANARY");
    char want[64];
    /* a string hashes its decoded text: \u0021 is "!" */
    snprintf(want, sizeof want, "\"password\": \"%s\"", hash_of(r, "CANARYPW1!"));
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof want, "{\"token\": \"%s\"}", hash_of(r, "CANARYITEM2"));
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "\"user\": \"ada\""));
    assert_non_null(strstr(out, "\"list\": [\"keep\", \"hmac:"));
    assert_non_null(strstr(out, "\"pin\": \"hmac:")); /* a number becomes a hash string */
    assert_non_null(strstr(out, "\"tokenless\": \"keep me\""));
    assert_true(sdiff_jdiff_valid((struct sdiff_slice){m.body, m.body_len}));
    /* the framing follows the body */
    char clen[32];
    snprintf(clen, sizeof clen, "%zu", m.body_len);
    assert_string_equal(hdr(&m, "Content-Length"), clen);
    assert_int_equal(m.body_seen, m.body_len);

    /* twice changes nothing */
    char *once = malloc(m.body_len + 1);
    memcpy(once, m.body, m.body_len + 1);
    size_t once_len = m.body_len;
    redact_one(r, &m);
    assert_int_equal(m.body_len, once_len);
    assert_memory_equal(m.body, once, once_len);
    free(once);
    dispose(&m);

    /* a body cut at the limit does not parse: members named like a path's end still go */
    const char *cut =
        "{\"user\":\"ada\",\"items\":[{\"token\":\"CANARYCUT1\"}],\"password\":\"CANARYCU";
    make_request(&m, "POST", "/login", lines, 1, cut);
    m.body_seen = m.body_len + 100;
    redact_one(r, &m);
    expect_absent(m.body, m.body_len, "CANARYCU");
    assert_true(m.body_seen > m.body_len);
    dispose(&m);

    /* a form body */
    const char *flines[] = {"Content-Type: application/x-www-form-urlencoded"};
    make_request(&m, "POST", "/login", flines, 1, "user=ada&password=CANARYFORM1&keep=1");
    redact_one(r, &m);
    char fwant[128];
    snprintf(fwant, sizeof fwant, "user=ada&password=%s&keep=1", hash_of(r, "CANARYFORM1"));
    assert_int_equal(m.body_len, strlen(fwant));
    assert_memory_equal(m.body, fwant, m.body_len);
    dispose(&m);
    sdiff_redact_free(r);
}

/* token[]= (array syntax) is the parameter token, wherever parameters are read. */
static void test_redact__array_syntax_names_are_secret_everywhere(void **state)
{
    (void)state;
    struct sdiff_redact *r = redactor(NULL, 0);
    const char *lines[] = {
        "Referer: https://app.test/p?access_token%5B%5D=CANARYARRREF1&x[]=1",
        "Content-Type: application/x-www-form-urlencoded",
    };
    struct sdiff_msg m;
    make_request(&m, "POST", "/api?token[]=CANARYARRQ1&token[]=CANARYARRQ2&api_key[0]=CANARYARRQ3"
                             "&tokens[]=keep&token[x]=keep2",
                 lines, 2, "user=ada&password[]=CANARYARRFORM1");
    redact_one(r, &m);
    expect_absent(m.target, strlen(m.target), "CANARYARR");
    assert_non_null(strstr(m.target, "token[]=hmac:"));
    assert_non_null(strstr(m.target, "api_key[0]=hmac:"));
    assert_non_null(strstr(m.target, "tokens[]=keep")); /* another name */
    assert_non_null(strstr(m.target, "token[x]=keep2")); /* a map, not an array */
    const char *ref = hdr(&m, "Referer");
    expect_absent(ref, strlen(ref), "CANARYARR");
    assert_non_null(strstr(ref, "x[]=1"));
    expect_absent(m.body, m.body_len, "CANARYARR");
    dispose(&m);
    /* free text (notes, error messages) */
    char note[200] = "GET /x?token[]=CANARYARRNOTE1&sig%5B%5D=CANARYARRNOTE2 timed out";
    sdiff_redact_reset(r);
    sdiff_redact_text(r, note, sizeof note);
    expect_absent(note, strlen(note), "CANARYARR");
    assert_non_null(strstr(note, "timed out"));
    sdiff_redact_free(r);
}

static size_t gzip(const char *s, uint8_t *out, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = (Bytef *)(uintptr_t)s;
    zs.avail_in = (uInt)strlen(s);
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t n = zs.total_out;
    deflateEnd(&zs);
    return n;
}

static void test_redact__gzip_body_is_searched_and_kept_decoded(void **state)
{
    (void)state;
    static const char *const paths[] = {"$.token"};
    struct sdiff_redact *r = redactor(paths, 1);
    uint8_t z[512];
    size_t zn = gzip("{\"token\":\"CANARYGZIP1\",\"ttl\":60}", z, sizeof z);
    char text[1024];
    int hl = snprintf(text, sizeof text,
                      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      "Content-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n",
                      zn);
    memcpy(text + hl, z, zn);
    struct sdiff_msg m = response(text, (size_t)hl + zn);
    redact_one(r, &m);
    assert_null(hdr(&m, "Content-Encoding"));
    char want[128];
    snprintf(want, sizeof want, "{\"token\":\"%s\",\"ttl\":60}", hash_of(r, "CANARYGZIP1"));
    assert_int_equal(m.body_len, strlen(want));
    assert_memory_equal(m.body, want, m.body_len);
    snprintf(want, sizeof want, "%zu", m.body_len);
    assert_string_equal(hdr(&m, "Content-Length"), want);
    dispose(&m);

    /* nothing to redact inside: the compressed bytes stay as they were */
    zn = gzip("{\"ttl\":60}", z, sizeof z);
    hl = snprintf(text, sizeof text,
                  "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", zn);
    memcpy(text + hl, z, zn);
    m = response(text, (size_t)hl + zn);
    redact_one(r, &m);
    assert_string_equal(hdr(&m, "Content-Encoding"), "gzip");
    assert_int_equal(m.body_len, zn);
    assert_memory_equal(m.body, z, zn);
    dispose(&m);
    sdiff_redact_free(r);
}

/* A br body (a Flask service with flask-compress, say) is searched like a gzip one: before
 * brotli was decoded, a secret inside one was stored as it was. */
static void test_redact__br_body_is_searched_and_kept_decoded(void **state)
{
    (void)state;
    static const char *const paths[] = {"$.token"};
    struct sdiff_redact *r = redactor(paths, 1);
    static const char body[] = "{\"token\":\"CANARYBR1\",\"ttl\":60}";
    uint8_t z[512];
    size_t zn = sizeof z;
    assert_true(BrotliEncoderCompress(11, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT,
                                      strlen(body), (const uint8_t *)body, &zn, z));
    char text[1024];
    int hl = snprintf(text, sizeof text,
                      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      "Content-Encoding: br\r\nContent-Length: %zu\r\n\r\n",
                      zn);
    memcpy(text + hl, z, zn);
    struct sdiff_msg m = response(text, (size_t)hl + zn);
    redact_one(r, &m);
    assert_null(hdr(&m, "Content-Encoding"));
    char want[128];
    snprintf(want, sizeof want, "{\"token\":\"%s\",\"ttl\":60}", hash_of(r, "CANARYBR1"));
    assert_int_equal(m.body_len, strlen(want));
    assert_memory_equal(m.body, want, m.body_len);
    dispose(&m);
    sdiff_redact_free(r);
}

/* A service echoing the request's credentials: the echo is hashed like the header. */
static void test_redact__echoes_of_collected_secrets_are_hashed(void **state)
{
    (void)state;
    struct sdiff_redact *r = redactor(NULL, 0);
    struct sdiff_exchange *ex = sdiff_exchange_new();
    const char *lines[] = {"Authorization: Bearer CANARYECHO123", "Cookie: sid=CANARYECHOSID"};
    make_request(&ex->req, "GET", "/whoami?token=CANARYECHOQ", lines, 2, NULL);
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "X-Seen: CANARYECHOSID\r\nContent-Length: 78\r\n\r\n"
                               "{\"auth\":\"Bearer CANARYECHO123\","
                               "\"cookie\":\"sid=CANARYECHOSID\","
                               "\"q\":\"CANARYECHOQ\"}";
    ex->resp = response(resp, sizeof resp - 1);
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_redact_exchange(r, ex, &err), SDIFF_OK);
    expect_absent(ex->resp.body, ex->resp.body_len, "CANARY");
    char want[160];
    snprintf(want, sizeof want, "\"auth\":\"Bearer %s\"", hash_of(r, "CANARYECHO123"));
    assert_non_null(strstr((const char *)ex->resp.body, want));
    assert_string_equal(hdr(&ex->resp, "X-Seen"), hash_of(r, "CANARYECHOSID"));
    /* the response body was not JSON-redacted, yet stays valid JSON */
    assert_true(sdiff_jdiff_valid((struct sdiff_slice){ex->resp.body, ex->resp.body_len}));
    /* notes and error messages */
    char note[200] = "candidate timeout: GET /whoami?token=CANARYNOTE&x=1 and CANARYECHO123";
    sdiff_redact_text(r, note, sizeof note);
    assert_null(strstr(note, "CANARY"));
    assert_non_null(strstr(note, "x=1"));
    sdiff_exchange_free(ex);
    sdiff_redact_free(r);
}

/* Both sides redacted with one key: equal secrets compare equal, different ones show hashes. */
static void test_redact__differ_compares_secrets_by_their_hash(void **state)
{
    (void)state;
    static const char *const paths[] = {"$.token"};
    struct sdiff_redact *r = redactor(paths, 1);
    struct sdiff_differ *d = NULL;
    assert_int_equal(sdiff_differ_new(&d, NULL, NULL), SDIFF_OK);
#define FMT                                                                                     \
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"                                      \
    "Set-Cookie: sid=%s; Path=/; Expires=%s\r\nContent-Length: %zu\r\n\r\n%s"
    struct {
        const char *sid_p, *sid_c, *tok_p, *tok_c, *cls, *paths;
    } cases[] = {
        /* equal secrets; only Expires moved (header spelling, not a difference) */
        {"CANARYSAME1", "CANARYSAME1", "CANARYTOK1", "CANARYTOK1", "equivalent", ""},
        {"CANARYSIDP", "CANARYSIDC", "CANARYTOK1", "CANARYTOK2", "different",
         "header:set-cookie|$.token"},
    };
    for (size_t i = 0; i < 2; i++) {
        char bp[128], bc[128], tp[512], tc[512];
        snprintf(bp, sizeof bp, "{\"token\":\"%s\"}", cases[i].tok_p);
        snprintf(bc, sizeof bc, "{\"token\":\"%s\"}", cases[i].tok_c);
        snprintf(tp, sizeof tp, FMT, cases[i].sid_p, "Wed, 21 Oct 2026 07:28:00 GMT", strlen(bp),
                 bp);
        snprintf(tc, sizeof tc, FMT, cases[i].sid_c, "Thu, 22 Oct 2026 09:00:00 GMT", strlen(bc),
                 bc);
        struct sdiff_msg p = response(tp, strlen(tp)), c = response(tc, strlen(tc));
        struct sdiff_err err = {0};
        sdiff_redact_reset(r);
        assert_int_equal(sdiff_redact_collect(r, &p), SDIFF_OK);
        assert_int_equal(sdiff_redact_collect(r, &c), SDIFF_OK);
        assert_int_equal(sdiff_redact_msg(r, &p, &err), SDIFF_OK);
        assert_int_equal(sdiff_redact_msg(r, &c, &err), SDIFF_OK);
        struct sdiff_diff_result res;
        assert_int_equal(sdiff_differ_compare(d, &p, &c, "GET /x", NULL, &res, NULL), SDIFF_OK);
        char got[256] = "";
        size_t o = 0;
        for (size_t k = 0; k < res.nitems; k++) {
            o += (size_t)snprintf(got + o, sizeof got - o, "%s%s", k ? "|" : "", res.items[k].path);
            /* the values shown are the two hashes, never the secrets */
            assert_non_null(res.items[k].primary);
            assert_non_null(res.items[k].candidate);
            assert_null(strstr(res.items[k].primary, "CANARY"));
            assert_null(strstr(res.items[k].candidate, "CANARY"));
            assert_non_null(strstr(res.items[k].primary, "hmac:"));
            assert_string_not_equal(res.items[k].primary, res.items[k].candidate);
        }
        if (strcmp(sdiff_class_str(res.cls), cases[i].cls) != 0 || strcmp(got, cases[i].paths) != 0)
            fail_msg("case %zu: %s [%s]", i, sdiff_class_str(res.cls), got);
        sdiff_diff_result_dispose(&res);
        dispose(&p);
        dispose(&c);
    }
#undef FMT
    sdiff_differ_free(d);
    sdiff_redact_free(r);
}

/* The store's last line of defence: a secret header that escaped the redactor. */
static void test_redact__store_writes_unredacted_secret_headers_as_redacted(void **state)
{
    (void)state;
    struct sdiff_exchange *ex = sdiff_exchange_new();
    const char *lines[] = {"Authorization: Bearer CANARYRAW1", "Cookie: a=hmac:0123456789abcdef"};
    make_request(&ex->req, "GET", "/", lines, 2, NULL);
    struct sdiff_buf b;
    sdiff_buf_init(&b, 1 << 20);
    assert_int_equal(sdiff_exchange_to_json(ex, NULL, &b), SDIFF_OK);
    assert_null(strstr((const char *)b.data, "CANARYRAW1"));
    assert_non_null(strstr((const char *)b.data, "[\"Authorization\",\"[redacted]\"]"));
    assert_non_null(strstr((const char *)b.data, "a=hmac:0123456789abcdef"));
    sdiff_buf_dispose(&b);
    sdiff_exchange_free(ex);
}

static void test_redact__bad_patterns_are_named(void **state)
{
    (void)state;
    const char *bad[] = {"password", "$", "$.a[x]", "$..", "$[\"open"};
    struct sdiff_redact_key k = fixed_key(1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *paths[] = {"$.ok", bad[i]};
        struct sdiff_redact_opts o = {.key = &k, .paths = paths, .npaths = 2};
        struct sdiff_redact *r = NULL;
        struct sdiff_err err = {0};
        assert_true(sdiff_redact_new(&r, &o, &err) < 0);
        assert_null(r);
        if (strstr(err.msg, "redact_paths[1]") == NULL)
            fail_msg("expected redact_paths[1] in: %s", err.msg);
    }
}

/* Every allocation failing in turn: ENOMEM and a usable message, or success; never a leak. */
static void test_redact__out_of_memory_anywhere_is_clean(void **state)
{
    (void)state;
    static const char *const paths[] = {"$.password", "$..token"};
    const char *lines[] = {"Authorization: Bearer CANARYOOM12345", "Cookie: a=CANARYOOMCOOKIE",
                           "Content-Type: application/json", "Content-Length: 60"};
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "Set-Cookie: sid=CANARYOOMSID; Path=/\r\nContent-Length: 45\r\n\r\n"
                               "{\"token\":\"CANARYOOMTOK\",\"e\":\"CANARYOOM12345\"}";
    int done = 0;
    for (long n = 0; n < 2000 && !done; n++) {
        struct sdiff_redact *r = redactor(paths, 2);
        struct sdiff_exchange *ex = sdiff_exchange_new();
        make_request(&ex->req, "POST", "/login?token=CANARYOOMQUERY", lines, 4,
                     "{\"user\":\"ada\",\"password\":\"CANARYOOMPASS\"}");
        ex->resp = response(resp, sizeof resp - 1);
        struct sdiff_err err = {0};
        sdiff_alloc_fail_after(n);
        int rc = sdiff_redact_exchange(r, ex, &err);
        sdiff_alloc_fail_after(-1);
        if (rc == SDIFF_OK) {
            expect_absent(ex->req.body, ex->req.body_len, "CANARY");
            expect_absent(ex->resp.body, ex->resp.body_len, "CANARY");
            expect_absent(ex->req.target, strlen(ex->req.target), "CANARY");
            done = 1;
        } else {
            assert_int_equal(rc, SDIFF_ENOMEM);
            assert_int_equal(err.code, SDIFF_ENOMEM);
        }
        sdiff_exchange_free(ex);
        sdiff_redact_free(r);
    }
    assert_true(done);
}

/* `shadowdiff diff` prints hashes: equal secrets equal, different ones as two hashes. */
static void test_redact__diff_command_prints_hashes(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir();
    char a[4200], b[4200], out[4200], cfg[4200];
    snprintf(a, sizeof a, "%s/a.http", dir);
    snprintf(b, sizeof b, "%s/b.http", dir);
    snprintf(out, sizeof out, "%s/out.json", dir);
    snprintf(cfg, sizeof cfg, "%s/cfg.json", dir);
    const char *files[][2] = {
        {a, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            "Set-Cookie: sid=CANARYDIFFA; Path=/\r\nContent-Length: 27\r\n\r\n"
            "{\"token\":\"CANARYDIFFTOKEN\"}"},
        {b, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            "Set-Cookie: sid=CANARYDIFFB; Path=/\r\nContent-Length: 27\r\n\r\n"
            "{\"token\":\"CANARYDIFFTOKEN\"}"},
        {cfg, "{\"redact_paths\": [\"$.token\"]}"},
    };
    for (size_t i = 0; i < 3; i++) {
        FILE *f = fopen(files[i][0], "w");
        fputs(files[i][1], f);
        fclose(f);
    }
    char *argv[] = {(char *)sdiff_test_bin(), "diff", a, b, "--config", cfg, "--format", "json",
                    NULL};
    int st = sdiff_test_wait(sdiff_test_spawn(argv, out, NULL), 30);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    size_t len;
    char *text = (char *)sdiff_test_read_file(out, &len);
    expect_absent(text, len, "CANARY");
    assert_non_null(strstr(text, "\"path\": \"header:set-cookie\""));
    assert_non_null(strstr(text, "\"primary\": \"sid=hmac:"));
    assert_null(strstr(text, "$.token")); /* the same token on both sides */
    free(text);
    sdiff_test_rmdir(dir);
    free(dir);
}

/* ---- keys ------------------------------------------------------------------------------- */

static struct sdiff_store *open_db(const char *path)
{
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    if (sdiff_store_open(&st, path, NULL, &err) < 0)
        fail_msg("open %s: %s", path, err.msg);
    return st;
}

static void test_redact__keys_stay_with_their_database(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir();
    char db1[4200], db2[4200], keyf[4200], shortf[4200];
    snprintf(db1, sizeof db1, "%s/a.db", dir);
    snprintf(db2, sizeof db2, "%s/b.db", dir);
    snprintf(keyf, sizeof keyf, "%s/key", dir);
    snprintf(shortf, sizeof shortf, "%s/short", dir);
    struct sdiff_err err = {0};

    /* a database makes its own key once and gives it back after */
    struct sdiff_redact_key k1, k2, kf;
    memset(&k1, 0, sizeof k1);
    memset(&k2, 0, sizeof k2);
    struct sdiff_store *st = open_db(db1);
    assert_int_equal(sdiff_redact_key_bind(&k1, st, &err), SDIFF_OK);
    assert_int_equal(k1.len, 32);
    assert_false(k1.from_file);
    sdiff_store_close(st);
    st = open_db(db1);
    assert_int_equal(sdiff_redact_key_bind(&k2, st, &err), SDIFF_OK);
    assert_int_equal(k2.len, 32);
    assert_memory_equal(k1.bytes, k2.bytes, 32);
    assert_string_equal(k1.id, k2.id);

    /* a key file that is not the database's key is refused */
    FILE *f = fopen(keyf, "w");
    fputs("0123456789abcdef0123456789abcdef\n", f);
    fclose(f);
    assert_int_equal(sdiff_redact_key_load(&kf, keyf, &err), SDIFF_OK);
    assert_int_equal(kf.len, 32); /* the newline is not part of it */
    assert_true(sdiff_redact_key_bind(&kf, st, &err) < 0);
    assert_non_null(strstr(err.msg, "another key"));
    sdiff_store_close(st);

    /* another database takes the first one's key (a replay's results beside its corpus) */
    st = open_db(db2);
    memset(&err, 0, sizeof err);
    assert_int_equal(sdiff_redact_key_bind(&k1, st, &err), SDIFF_OK);
    sdiff_store_close(st);
    st = open_db(db2);
    memset(&k2, 0, sizeof k2);
    assert_int_equal(sdiff_redact_key_bind(&k2, st, &err), SDIFF_OK);
    assert_memory_equal(k1.bytes, k2.bytes, 32);
    sdiff_store_close(st);

    /* a database made with a key file keeps only the key's id and wants the file back */
    unlink(db2);
    st = open_db(db2);
    assert_int_equal(sdiff_redact_key_bind(&kf, st, &err), SDIFF_OK);
    uint8_t v[64];
    size_t n = 0;
    assert_int_equal(sdiff_store_meta_get(st, "redact_key", v, sizeof v, &n, &err), 0);
    memset(&k2, 0, sizeof k2);
    assert_true(sdiff_redact_key_bind(&k2, st, &err) < 0);
    assert_non_null(strstr(err.msg, "--redact-key"));
    assert_int_equal(sdiff_redact_key_bind(&kf, st, &err), SDIFF_OK);
    sdiff_store_close(st);

    f = fopen(shortf, "w");
    fputs("too short\n", f);
    fclose(f);
    memset(&err, 0, sizeof err);
    assert_true(sdiff_redact_key_load(&kf, shortf, &err) < 0);
    assert_non_null(strstr(err.msg, "16 to 256 bytes"));

    struct stat sb;
    assert_int_equal(stat(db1, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    sdiff_test_rmdir(dir);
    free(dir);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact__hash_is_keyed_short_and_stable),
        cmocka_unit_test(test_redact__secret_headers_keep_their_shape),
        cmocka_unit_test(test_redact__json_paths_in_bodies),
        cmocka_unit_test(test_redact__clone_redacts_as_the_original),
        cmocka_unit_test(test_redact__array_syntax_names_are_secret_everywhere),
        cmocka_unit_test(test_redact__gzip_body_is_searched_and_kept_decoded),
        cmocka_unit_test(test_redact__br_body_is_searched_and_kept_decoded),
        cmocka_unit_test(test_redact__echoes_of_collected_secrets_are_hashed),
        cmocka_unit_test(test_redact__differ_compares_secrets_by_their_hash),
        cmocka_unit_test(test_redact__store_writes_unredacted_secret_headers_as_redacted),
        cmocka_unit_test(test_redact__bad_patterns_are_named),
        cmocka_unit_test(test_redact__diff_command_prints_hashes),
        cmocka_unit_test(test_redact__out_of_memory_anywhere_is_clean),
        cmocka_unit_test(test_redact__keys_stay_with_their_database),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
