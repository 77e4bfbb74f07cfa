/*
 * test_store.c - the corpus round trip: an exchange stored and read back is the same, byte
 * for byte, in its headers (bytes that are not UTF-8, escapes, many fields) and bodies; a
 * damaged header column is a clear error, never a crash.
 */
#include "sdiff_test.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shadowdiff/exchange.h"
#include "shadowdiff/store.h"

#define NFIELDS 100

static char names[NFIELDS][32], values[NFIELDS][64];

static struct sdiff_exchange *tricky_exchange(void)
{
    static const char *const special[][2] = {
        {"X-Latin1", "caf\xe9 cr\xe8me"},          /* raw bytes that are not UTF-8 */
        {"X-Utf8", "caf\xc3\xa9 \xe2\x82\xac"},     /* valid UTF-8 stays as it is */
        {"X-Escapes", "a\"b\\c\td/e\x01\x1f"},
        {"X-Empty", ""},
    };
    struct sdiff_hfield h[NFIELDS];
    size_t n = 0;
    for (; n < sizeof special / sizeof special[0]; n++)
        h[n] = (struct sdiff_hfield){special[n][0], special[n][1], strlen(special[n][0]),
                                     strlen(special[n][1])};
    for (; n < NFIELDS; n++) {
        snprintf(names[n], sizeof names[n], "X-Field-%zu", n);
        snprintf(values[n], sizeof values[n], "value %zu \xff\xfe", n);
        h[n] = (struct sdiff_hfield){names[n], values[n], strlen(names[n]), strlen(values[n])};
    }
    struct sdiff_exchange *ex = sdiff_exchange_new();
    assert_non_null(ex);
    ex->req.method = (char *)"GET";
    ex->req.target = (char *)"/a?b=c";
    assert_int_equal(sdiff_msg_set_headers(&ex->req, h, n), SDIFF_OK);
    ex->req.present = ex->req.complete = 1;
    ex->resp.reason = (char *)"OK";
    assert_int_equal(sdiff_msg_set_headers(&ex->resp, h, 3), SDIFF_OK);
    ex->resp.present = ex->resp.complete = 1;
    ex->resp.status = 200;
    static const uint8_t body[] = {'{', 0, 0xff, '}'};
    ex->resp.body = sdiff_malloc(sizeof body);
    memcpy(ex->resp.body, body, sizeof body);
    ex->resp.body_len = ex->resp.body_seen = sizeof body;
    return ex;
}

static void same_headers(const struct sdiff_msg *a, const struct sdiff_msg *b)
{
    assert_int_equal(a->nheaders, b->nheaders);
    for (size_t i = 0; i < a->nheaders; i++) {
        assert_int_equal(a->headers[i].name_len, b->headers[i].name_len);
        assert_memory_equal(a->headers[i].name, b->headers[i].name, a->headers[i].name_len);
        assert_int_equal(a->headers[i].value_len, b->headers[i].value_len);
        assert_memory_equal(a->headers[i].value, b->headers[i].value, a->headers[i].value_len);
    }
}

struct got {
    struct sdiff_exchange *ex;
    int n;
};

static int keep(struct sdiff_exchange *ex, void *ud, struct sdiff_err *err)
{
    struct got *g = ud;
    (void)err;
    g->n++;
    sdiff_exchange_free(g->ex);
    g->ex = ex;
    return SDIFF_OK;
}

static void test_store__exchange_round_trip_is_exact(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/corpus.db", dir);
    struct sdiff_store_opts opts = {.keep_secrets = 1};
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    int64_t cap;
    assert_int_equal(sdiff_store_open(&st, path, &opts, &err), SDIFF_OK);
    assert_int_equal(sdiff_store_begin_capture(st, "test", "test", &cap, &err), SDIFF_OK);
    struct sdiff_exchange *ex = tricky_exchange();
    assert_int_equal(sdiff_store_put_exchange(st, ex, &err), SDIFF_OK);
    assert_int_equal(sdiff_store_commit(st, &err), SDIFF_OK);

    struct got g = {0};
    assert_int_equal(sdiff_store_each_exchange(st, keep, &g, &err), SDIFF_OK);
    assert_int_equal(g.n, 1);
    same_headers(&ex->req, &g.ex->req);
    same_headers(&ex->resp, &g.ex->resp);
    assert_string_equal(g.ex->req.method, "GET");
    assert_string_equal(g.ex->req.target, "/a?b=c");
    assert_int_equal(g.ex->resp.body_len, ex->resp.body_len);
    assert_memory_equal(g.ex->resp.body, ex->resp.body, ex->resp.body_len);
    sdiff_exchange_free(g.ex);
    sdiff_exchange_free(ex);
    sdiff_store_close(st);
    sdiff_test_rmdir(dir);
    free(dir);
}

static void test_store__damaged_headers_are_an_error(void **state)
{
    (void)state;
    static const char *const bad[] = {"[[\"a\"", "[[\"a\",\"b\"]", "{}", "[[\"a\",\"\\u12\"]]",
                                      "[[\"a\",\"b\"]] x", "[[1,2]]", "[[\"a\",\"b\\q\"]]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *dir = sdiff_test_tmpdir(), path[4200];
        snprintf(path, sizeof path, "%s/corpus.db", dir);
        struct sdiff_store_opts opts = {0};
        struct sdiff_store *st = NULL;
        struct sdiff_err err = {0};
        int64_t cap;
        assert_int_equal(sdiff_store_open(&st, path, &opts, &err), SDIFF_OK);
        assert_int_equal(sdiff_store_begin_capture(st, "test", "test", &cap, &err), SDIFF_OK);
        struct sdiff_exchange *ex = tricky_exchange();
        assert_int_equal(sdiff_store_put_exchange(st, ex, &err), SDIFF_OK);
        sdiff_exchange_free(ex);
        assert_int_equal(sdiff_store_commit(st, &err), SDIFF_OK);
        sdiff_store_close(st);

        sqlite3 *h;
        assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
        sqlite3_stmt *q;
        assert_int_equal(sqlite3_prepare_v2(h, "UPDATE exchanges SET resp_headers = ?", -1, &q,
                                            NULL),
                         SQLITE_OK);
        sqlite3_bind_text(q, 1, bad[i], -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(q), SQLITE_DONE);
        sqlite3_finalize(q);
        sqlite3_close(h);

        assert_int_equal(sdiff_store_open(&st, path, &opts, &err), SDIFF_OK);
        struct got g = {0};
        assert_true(sdiff_store_each_exchange(st, keep, &g, &err) < 0);
        assert_non_null(strstr(err.msg, "unreadable headers"));
        assert_int_equal(g.n, 0);
        sdiff_store_close(st);
        sdiff_test_rmdir(dir);
        free(dir);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store__exchange_round_trip_is_exact),
        cmocka_unit_test(test_store__damaged_headers_are_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
