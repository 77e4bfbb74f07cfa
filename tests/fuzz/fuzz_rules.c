/*
 * fuzz_rules.c - libFuzzer target for the config loader (lib/rules): the input is the text
 * of a --config file, parsed as sdiff_rules_load parses a file's bytes.
 *
 * Checked: a failure is a syntax error (EPARSE) or a bad value (EINVAL) with a message and
 * no rules object; a config that loads answers every accessor consistently (route names look
 * like "METHOD /path" and each has its own differ, waivers are well formed, thresholds are
 * not negative, every route rule is unused until its route is seen), and each differ it
 * built, with whatever masks, ignored and unordered paths the config gave, compares two
 * fixed responses without error and finds each of them identical to itself.
 *
 * Built by CMake with -DSDIFF_FUZZ=ON (tests/fuzz/README.md), run as
 *   build-fuzz/tests/fuzz/fuzz_rules -max_len=4096 corpus/ seeds/rules/
 */
#include "sdiff_fuzz.h"

#include <string.h>

#include "shadowdiff/diff.h"
#include "shadowdiff/exchange.h"
#include "shadowdiff/rules.h"

#define CHECK(x) SDIFF_FUZZ_CHECK(x)

/* Two pairs of answers (close-delimited) that differ in headers, JSON fields, array order
 * and text. */
static const char resp_a[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "X-Served-By: a1\r\nDate: Mon, 01 Jan 2024 10:00:00 GMT\r\n"
                             "\r\n"
                             "{\"id\":1,\"tags\":[\"x\",\"y\"],\"meta\":{\"at\":\"10:00:00\"},"
                             "\"items\":[{\"p\":1.0}]}";
static const char resp_b[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "X-Served-By: b2\r\nDate: Mon, 01 Jan 2024 10:00:01 GMT\r\n"
                             "\r\n"
                             "{\"id\":1,\"tags\":[\"y\",\"x\"],\"meta\":{\"at\":\"10:00:01\"},"
                             "\"items\":[{\"p\":1.0001}]}";
static const char text_a[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                             "rendered at 10:00:00 by a1";
static const char text_b[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                             "rendered at 10:00:07 by b2";

static void check_result(const struct sdiff_diff_result *r)
{
    CHECK((unsigned)r->cls < SDIFF_CLASS__COUNT && r->cls != SDIFF_CLASS_SKIPPED);
    for (size_t i = 0; i < r->nitems; i++)
        CHECK(r->items[i].path != NULL && r->items[i].kind != NULL);
    CHECK(memchr(r->note, 0, sizeof r->note) != NULL);
}

static void use_differ(struct sdiff_differ *d, const char *route, const struct sdiff_msg *m)
{
    for (int pair = 0; pair < 2; pair++) {
        const struct sdiff_msg *a = &m[2 * pair], *b = &m[2 * pair + 1];
        struct sdiff_diff_result res;
        struct sdiff_err err = {0};
        CHECK(sdiff_differ_compare(d, a, b, route, NULL, &res, &err) == SDIFF_OK);
        check_result(&res);
        sdiff_diff_result_dispose(&res);
        CHECK(sdiff_differ_compare(d, a, a, route, NULL, &res, &err) == SDIFF_OK);
        CHECK(res.cls == SDIFF_CLASS_IDENTICAL && res.nitems == 0 && res.nomitted == 0);
        sdiff_diff_result_dispose(&res);
    }
}

static int is_date(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    return strspn(s, "0123456789-") == 10;
}

static void check_rules(struct sdiff_rules *r, const struct sdiff_msg *m)
{
    struct sdiff_differ *d = NULL, *dflt = NULL;
    CHECK(sdiff_rules_differ(r, NULL, &dflt, NULL) == SDIFF_OK && dflt != NULL);
    CHECK(sdiff_rules_differ(r, "GET /no/such/route/rule", &d, NULL) == SDIFF_OK && d == dflt);
    use_differ(dflt, NULL, m);

    size_t nroutes = sdiff_rules_route_count(r);
    for (size_t i = 0; i < nroutes; i++) {
        const char *name = sdiff_rules_route_name(r, i);
        CHECK(name != NULL && strchr(name, ' ') != NULL && strchr(name, '/') != NULL);
        CHECK(sdiff_rules_differ(r, name, &d, NULL) == SDIFF_OK && d != NULL);
        if (i < 4)
            use_differ(d, name, m);
        CHECK(sdiff_rules_method_allowed(r, name, "GET", NULL, 0));
        (void)sdiff_rules_method_allowed(r, name, "DELETE", NULL, 0);
    }
    CHECK(sdiff_rules_route_name(r, nroutes) == NULL);
    const char *extra[] = {"PATCH"};
    CHECK(sdiff_rules_method_allowed(r, "PATCH /x", "PATCH", extra, 1));
    CHECK(sdiff_rules_method_allowed(r, NULL, "HEAD", NULL, 0));

    size_t nsecret = 0;
    const char *const *secret = sdiff_rules_secret_headers(r, &nsecret);
    for (size_t i = 0; i < nsecret; i++)
        CHECK(secret[i] != NULL && secret[i][0] != '\0');

    static const char *const tnames[] = {"min_samples", "max_mismatch", "max_p99_ratio",
                                         "max_error_increase", "no_such_threshold"};
    for (size_t i = 0; i < 5; i++) {
        double v = -1;
        /* a number is never negative; a string ("5%") reads as -1 and has its text */
        if (sdiff_rules_threshold(r, tnames[i], &v))
            CHECK(i < 4 && (v >= 0 || (v == -1 && sdiff_rules_threshold_text(r, tnames[i]))));
    }

    size_t nw = 0;
    const struct sdiff_rules_waiver *w = sdiff_rules_waivers(r, &nw);
    for (size_t i = 0; i < nw; i++) {
        if (w[i].cluster) {
            CHECK(strlen(w[i].cluster) == 12 && strspn(w[i].cluster, "0123456789abcdef") == 12);
            CHECK(w[i].route == NULL && w[i].signature == NULL);
        } else {
            CHECK(w[i].route != NULL && w[i].signature != NULL);
        }
        CHECK(w[i].reason != NULL && w[i].reason[0] != '\0');
        CHECK(w[i].expires == NULL || is_date(w[i].expires));
    }

    struct sdiff_buf lines;
    sdiff_buf_init(&lines, 1u << 20);
    CHECK(sdiff_rules_unused(r, &lines) == nroutes);
    for (size_t i = 0; i < nroutes; i++)
        sdiff_rules_saw_route(r, sdiff_rules_route_name(r, i));
    sdiff_buf_reset(&lines);
    CHECK(sdiff_rules_unused(r, &lines) == 0 && lines.len == 0);
    sdiff_buf_dispose(&lines);
}

int sdiff_fuzz_rules(const uint8_t *data, size_t size)
{
    static const char *const raw[4] = {resp_a, resp_b, text_a, text_b};
    struct sdiff_msg m[4];
    memset(m, 0, sizeof m);
    for (int i = 0; i < 4; i++) {
        int rc = sdiff_msg_read_response((const uint8_t *)raw[i], strlen(raw[i]), 1u << 20,
                                         &m[i], NULL);
        CHECK(rc == SDIFF_OK && m[i].present);
    }

    struct sdiff_rules *r = NULL;
    struct sdiff_err err = {0};
    int rc = sdiff_rules_parse(&r, (const char *)data, size, "fuzz.json", &err);
    CHECK(rc == SDIFF_OK || rc == SDIFF_EPARSE || rc == SDIFF_EINVAL);
    if (rc < 0) {
        CHECK(r == NULL && err.code == rc && err.msg[0] != '\0');
    } else {
        CHECK(r != NULL && err.code == 0);
        check_rules(r, m);
    }
    sdiff_rules_free(r);
    for (int i = 0; i < 4; i++)
        sdiff_msg_dispose(&m[i]);
    return 0;
}
