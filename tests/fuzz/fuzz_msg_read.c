/*
 * fuzz_msg_read.c - libFuzzer target for what `shadowdiff diff A B` does with its two files:
 * sdiff_msg_read_response (lib/pair/msg_read.c) reads each as an HTTP/1.x response or a bare
 * body, and the default differ (no --config) compares them.
 *
 * Input: cfg(1) alen(2, big-endian) A(alen, or what is left) B(the rest).
 *   cfg bits 0-1  body limit: 1 MiB, 0, 1, 16 bytes
 *       bit 2     compare under the route "GET /api/x" (else no route)
 *
 * Checked: a read fails only with a parse, truncation or limit status, err set and the
 * message left zeroed; a bare body is kept byte for byte; a response that reads is a final
 * one with well-formed strings, its body within the limit and NUL-terminated, and a lower
 * limit keeps a prefix of the same body; each message compares identical to itself; two
 * messages of the same kind compare without error, with status and byte equality agreeing
 * both ways round.
 *
 * Built by CMake with -DSDIFF_FUZZ=ON (tests/fuzz/README.md), run as
 *   build-fuzz/tests/fuzz/fuzz_msg_read -max_len=8192 corpus/ seeds/msg_read/
 */
#include "sdiff_fuzz.h"

#include <string.h>

#include "shadowdiff/diff.h"
#include "shadowdiff/exchange.h"
#include "shadowdiff/rules.h"

#define CHECK(x) SDIFF_FUZZ_CHECK(x)

static const size_t limits[4] = {1u << 20, 0, 1, 16};

static void check_str(const char *s, size_t len)
{
    CHECK(s != NULL && s[len] == '\0');
}

static int is_zero(const struct sdiff_msg *m)
{
    static const struct sdiff_msg zero;
    return memcmp(m, &zero, sizeof zero) == 0;
}

static int read_one(const uint8_t *p, size_t n, size_t max_body, struct sdiff_msg *m)
{
    struct sdiff_err err = {0};
    int rc = sdiff_msg_read_response(p, n, max_body, m, &err);
    CHECK(rc == SDIFF_OK || rc == SDIFF_EPARSE || rc == SDIFF_ETRUNC || rc == SDIFF_ELIMIT);
    if (rc < 0) {
        CHECK(err.code == rc && err.msg[0] != '\0');
        CHECK(is_zero(m));
        return rc;
    }
    CHECK(err.code == 0 && m->complete);
    CHECK(m->body == NULL ? m->body_len == 0 : m->body[m->body_len] == '\0');
    if (!m->present) {
        /* a bare body: everything, whatever the limit (the caller bounds the file) */
        CHECK(n < 7 || memcmp(p, "HTTP/1.", 7) != 0);
        CHECK(m->body_len == n && m->body_seen == n);
        CHECK(n == 0 || memcmp(m->body, p, n) == 0);
        CHECK(m->nheaders == 0 && m->status == 0);
        return rc;
    }
    /* any three digits (RFC 9112 4), but never an interim response */
    CHECK(m->status >= 0 && m->status <= 999);
    CHECK(m->status < 100 || m->status >= 200 || m->status == 101);
    check_str(m->reason, strlen(m->reason));
    for (size_t i = 0; i < m->nheaders; i++) {
        CHECK(m->headers[i].name_len > 0);
        check_str(m->headers[i].name, m->headers[i].name_len);
        check_str(m->headers[i].value, m->headers[i].value_len);
    }
    CHECK(m->body_len <= max_body && m->body_len <= m->body_seen);
    return rc;
}

static void check_result(const struct sdiff_diff_result *r)
{
    CHECK((unsigned)r->cls < SDIFF_CLASS__COUNT && r->cls != SDIFF_CLASS_SKIPPED);
    CHECK(r->nitems <= 50);
    for (size_t i = 0; i < r->nitems; i++)
        CHECK(r->items[i].path != NULL && r->items[i].kind != NULL);
    CHECK(memchr(r->note, 0, sizeof r->note) != NULL);
    if (r->cls == SDIFF_CLASS_IDENTICAL)
        CHECK(r->nitems == 0 && r->nomitted == 0 && r->reasons == 0 && r->bytes_equal);
}

int sdiff_fuzz_msg_read(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    uint8_t cfg = data[0];
    size_t alen = (size_t)data[1] << 8 | data[2];
    data += 3;
    size -= 3;
    if (alen > size)
        alen = size;
    size_t max_body = limits[cfg & 3];
    const char *route = (cfg & 4) ? "GET /api/x" : NULL;

    struct sdiff_rules *rules = NULL;
    struct sdiff_differ *d = NULL;
    struct sdiff_msg m[2];
    struct sdiff_diff_result res;
    int rc[2];
    memset(m, 0, sizeof m);
    CHECK(sdiff_rules_load(&rules, NULL, NULL) == SDIFF_OK);
    CHECK(sdiff_rules_differ(rules, route, &d, NULL) == SDIFF_OK);
    rc[0] = read_one(data, alen, max_body, &m[0]);
    rc[1] = read_one(data + alen, size - alen, max_body, &m[1]);

    for (int i = 0; i < 2; i++) {
        if (rc[i] < 0)
            continue;
        CHECK(sdiff_differ_compare(d, &m[i], &m[i], route, NULL, &res, NULL) == SDIFF_OK);
        check_result(&res);
        CHECK(res.cls == SDIFF_CLASS_IDENTICAL);
        sdiff_diff_result_dispose(&res);
    }
    if (rc[0] == SDIFF_OK && m[0].present && m[0].body_len > 1 && max_body == limits[0]) {
        /* a lower limit cuts the same body */
        struct sdiff_msg cut;
        size_t half = m[0].body_len / 2;
        CHECK(read_one(data, alen, half, &cut) == SDIFF_OK);
        CHECK(cut.status == m[0].status && cut.nheaders == m[0].nheaders);
        CHECK(cut.body_len == half && cut.body_seen == m[0].body_seen);
        CHECK(memcmp(cut.body, m[0].body, half) == 0);
        sdiff_msg_dispose(&cut);
    }
    if (rc[0] == SDIFF_OK && rc[1] == SDIFF_OK && m[0].present == m[1].present) {
        struct sdiff_diff_result back;
        CHECK(sdiff_differ_compare(d, &m[0], &m[1], route, NULL, &res, NULL) == SDIFF_OK);
        CHECK(sdiff_differ_compare(d, &m[1], &m[0], route, NULL, &back, NULL) == SDIFF_OK);
        check_result(&res);
        check_result(&back);
        CHECK(res.status_equal == back.status_equal && res.bytes_equal == back.bytes_equal);
        sdiff_diff_result_dispose(&res);
        sdiff_diff_result_dispose(&back);
    }
    sdiff_msg_dispose(&m[0]);
    sdiff_msg_dispose(&m[1]);
    sdiff_rules_free(rules);
    return 0;
}
