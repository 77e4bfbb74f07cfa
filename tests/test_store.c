/*
 * test_store.c - the corpus round trip: an exchange stored and read back is the same, byte
 * for byte, in its headers (bytes that are not UTF-8, escapes, many fields) and bodies; a
 * damaged header column is a clear error, never a crash. The read interface reports are
 * built from (runs, per-route aggregates, latencies, differences, one result in full,
 * waivers) on a real SQLite file, and a read-only open that never changes the file.
 */
#include "sdiff_test.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- the read interface ------------------------------------------------------------------- */

struct rows {
    struct sdiff_store *st;     /* the store, for a callback that reads through it */
    int n, stop_after, fail_at;
    uint64_t sum;
    char seen[16][64];
};

static int on_stats(const struct sdiff_store_route_stats *s, void *ud, struct sdiff_err *err)
{
    struct rows *r = ud;
    (void)err;
    snprintf(r->seen[r->n++ & 15], 64, "%s %llu/%llu/%llu/%llu/%llu/%llu %llu %llu %llu",
             s->route ? s->route : "(null)", (unsigned long long)s->samples,
             (unsigned long long)s->identical, (unsigned long long)s->equivalent,
             (unsigned long long)s->different, (unsigned long long)s->errors,
             (unsigned long long)s->skipped, (unsigned long long)s->primary_5xx,
             (unsigned long long)s->candidate_5xx, (unsigned long long)s->candidate_failed);
    return SDIFF_OK;
}

static int on_latency(const struct sdiff_store_latency *l, void *ud, struct sdiff_err *err)
{
    struct rows *r = ud;
    r->n++;
    if (r->fail_at && r->n == r->fail_at)
        return sdiff_err_set(err, SDIFF_ENOMEM, "test", "stop here");
    if (l->candidate_ms >= 0)
        r->sum += (uint64_t)l->candidate_ms;
    return r->stop_after && r->n == r->stop_after ? SDIFF_END : SDIFF_OK;
}

static int on_diff(const struct sdiff_store_difference *d, void *ud, struct sdiff_err *err)
{
    struct rows *r = ud;
    (void)err;
    snprintf(r->seen[r->n++ & 15], 64, "%lld %s %s %s %s %s", (long long)d->result_id,
             d->route ? d->route : "-", d->path ? d->path : "-", d->kind ? d->kind : "-",
             d->primary_value ? d->primary_value : "-",
             d->candidate_value ? d->candidate_value : "-");
    return SDIFF_OK;
}

static int on_waiver(const struct sdiff_store_waiver *w, void *ud, struct sdiff_err *err)
{
    struct rows *r = ud;
    (void)err;
    snprintf(r->seen[r->n++ & 15], 64, "%s %s %s %lld", w->cluster, w->reason,
             w->expires ? w->expires : "never", (long long)w->run_id);
    assert_non_null(w->created_at);
    return SDIFF_OK;
}

/* A results database: one exchange, run 1 with five results on two routes, run 2 empty. */
static void build_results(const char *path, int64_t *diff_id)
{
    struct sdiff_store_opts opts = {.keep_secrets = 1};
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    int64_t cap, run;
    assert_int_equal(sdiff_store_open(&st, path, &opts, &err), SDIFF_OK);
    assert_int_equal(sdiff_store_begin_capture(st, "test", "test", &cap, &err), SDIFF_OK);
    struct sdiff_exchange *ex = tricky_exchange();
    assert_int_equal(sdiff_store_put_exchange(st, ex, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "replay", .corpus = "c.db", .candidate = "http://c:1"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &run, &err), SDIFF_OK);
    static struct sdiff_msg ok = {.present = 1, .status = 200, .reason = (char *)"OK"};
    static struct sdiff_msg bad = {.present = 1, .status = 503, .reason = (char *)"Busy"};
    static const char *paths[] = {"status", "$.a"}, *kinds[] = {"changed", "missing"};
    static const char *pv[] = {"200", "1"}, *cv[] = {"503", NULL};
    for (int i = 0; i < 5; i++) {
        struct sdiff_result_rec r = {.run_id = run, .exchange_id = ex->id, .method = "GET",
                                     .route = i < 3 ? "GET /a" : "GET /b", .target = "/a?b=c",
                                     .cls = i == 4 ? "different" : i == 3 ? "error" : "identical",
                                     .primary_status = 200, .primary_ms = 10 + i,
                                     .bytes_equal = -1, .t_req_start = 1000 + (uint64_t)i};
        r.candidate.msg = i == 3 ? NULL : i == 4 ? &bad : &ok;
        r.candidate.error = i == 3 ? "timeout: 5s" : NULL;
        r.candidate.latency_ms = 20 + i;
        r.candidate.keep_body = i == 4;
        r.candidate.skip_row = i < 3;
        if (i == 4) {
            r.note = "busy";
            r.paths = paths, r.kinds = kinds, r.primary_values = pv, r.candidate_values = cv;
            r.ndiffs = 2;
        }
        assert_int_equal(sdiff_store_put_result(st, &r, i == 4 ? diff_id : NULL, &err), SDIFF_OK);
    }
    assert_int_equal(sdiff_store_end_run(st, run, "{\"n\":5}", &err), SDIFF_OK);
    info.kind = "gate";
    assert_int_equal(sdiff_store_begin_run(st, &info, &run, &err), SDIFF_OK);
    sdiff_exchange_free(ex);
    sdiff_store_close(st);
}

static void test_store__read_interface_hands_out_rows(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/results.db", dir);
    int64_t diff_id = 0;
    build_results(path, &diff_id);
    struct sdiff_store_opts ro = {.read_only = 1};
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_store_open(&st, path, &ro, &err), SDIFF_OK);

    struct sdiff_store_run run;
    assert_int_equal(sdiff_store_get_run(st, 0, &run, &err), SDIFF_OK);
    assert_int_equal(run.id, 2); /* the latest */
    assert_string_equal(run.kind, "gate");
    assert_null(run.finished_at);
    sdiff_store_run_dispose(&run);
    assert_int_equal(sdiff_store_get_run(st, 1, &run, &err), SDIFF_OK);
    assert_string_equal(run.kind, "replay");
    assert_string_equal(run.candidate, "http://c:1");
    assert_string_equal(run.summary, "{\"n\":5}");
    assert_non_null(run.started_at);
    assert_non_null(run.finished_at);
    sdiff_store_run_dispose(&run);
    assert_int_equal(sdiff_store_get_run(st, 9, &run, &err), SDIFF_EINVAL);
    assert_non_null(strstr(err.msg, "no run 9 in "));
    sdiff_store_run_dispose(&run);
    sdiff_err_clear(&err);

    struct rows r = {0};
    assert_int_equal(sdiff_store_each_route_stats(st, 1, 0, on_stats, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.seen[0], "GET /a 3/3/0/0/0/0 0 0 0");
    assert_string_equal(r.seen[1], "GET /b 2/0/0/1/1/0 0 1 2");
    memset(&r, 0, sizeof r);
    assert_int_equal(sdiff_store_each_route_stats(st, 1, 1003, on_stats, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 1); /* since: only the two later results */
    assert_string_equal(r.seen[0], "GET /b 2/0/0/1/1/0 0 1 2");

    memset(&r, 0, sizeof r);
    assert_int_equal(sdiff_store_each_latency(st, 1, 0, on_latency, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 5);
    assert_int_equal(r.sum, 20 + 21 + 22 + 23 + 24);
    memset(&r, 0, sizeof r);
    r.stop_after = 2; /* SDIFF_END stops early, and is a success */
    assert_int_equal(sdiff_store_each_latency(st, 1, 0, on_latency, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 2);
    memset(&r, 0, sizeof r);
    r.fail_at = 3; /* a failing callback's status and message come back as they are */
    assert_int_equal(sdiff_store_each_latency(st, 1, 0, on_latency, &r, &err), SDIFF_ENOMEM);
    assert_string_equal(err.msg, "stop here");
    sdiff_err_clear(&err);

    memset(&r, 0, sizeof r);
    assert_int_equal(sdiff_store_each_different(st, 1, 0, on_diff, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 2);
    char want[64];
    snprintf(want, sizeof want, "%lld GET /b status changed 200 503", (long long)diff_id);
    assert_string_equal(r.seen[0], want);
    snprintf(want, sizeof want, "%lld GET /b $.a missing 1 -", (long long)diff_id);
    assert_string_equal(r.seen[1], want);
    memset(&r, 0, sizeof r);
    assert_int_equal(sdiff_store_each_difference(st, diff_id, on_diff, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 2);
    snprintf(want, sizeof want, "%lld - $.a missing 1 -", (long long)diff_id);
    assert_string_equal(r.seen[1], want);

    struct sdiff_store_result res;
    assert_int_equal(sdiff_store_get_result(st, diff_id, &res, &err), SDIFF_OK);
    assert_int_equal(res.run_id, 1);
    assert_string_equal(res.cls, "different");
    assert_string_equal(res.note, "busy");
    assert_string_equal(res.run_candidate, "http://c:1");
    assert_int_equal(res.primary_status, 200);
    assert_int_equal(res.candidate_status, 503);
    assert_true(res.primary_ms == 14 && res.candidate_ms == 24);
    assert_true(res.has_exchange);
    assert_string_equal(res.req_method, "GET");
    assert_string_equal(res.req_target, "/a?b=c");
    assert_non_null(strstr(res.req_headers_json, "X-Latin1"));
    assert_true(res.primary.present);
    assert_int_equal(res.primary.status, 200);
    assert_int_equal(res.primary.body_len, 4);
    assert_memory_equal(res.primary.body, "{\0\xff}", 4);
    assert_true(res.candidate.present);
    assert_int_equal(res.candidate.status, 503);
    assert_string_equal(res.candidate.reason, "Busy");
    assert_true(res.candidate.body_stored);
    assert_true(res.candidate.latency_ms == 24);
    sdiff_store_result_dispose(&res);
    assert_int_equal(sdiff_store_get_result(st, diff_id - 1, &res, &err), SDIFF_OK);
    assert_string_equal(res.candidate_error, "timeout: 5s");
    assert_true(res.candidate.present);
    assert_string_equal(res.candidate.error, "timeout: 5s");
    assert_int_equal(res.candidate.status, 0);
    sdiff_store_result_dispose(&res);
    assert_int_equal(sdiff_store_get_result(st, 1, &res, &err), SDIFF_OK);
    assert_false(res.candidate.present); /* identical: no answer row */
    sdiff_store_result_dispose(&res);
    assert_int_equal(sdiff_store_get_result(st, 4242, &res, &err), SDIFF_EINVAL);
    assert_non_null(strstr(err.msg, "no result 4242 in "));
    sdiff_store_result_dispose(&res);
    sdiff_store_close(st);
    sdiff_test_rmdir(dir);
    free(dir);
}

static void test_store__one_waiver_per_cluster_with_a_stable_id(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/results.db", dir);
    int64_t diff_id, id1, id2, id3;
    build_results(path, &diff_id);
    struct sdiff_store_opts opts = {.must_exist = 1};
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_store_open(&st, path, &opts, &err), SDIFF_OK);
    struct sdiff_store_waiver w = {.cluster = "0123456789ab", .route = "GET /b",
                                   .signature = "status changed 200->503", .reason = "known",
                                   .run_id = 1};
    assert_int_equal(sdiff_store_put_waiver(st, &w, &id1, &err), SDIFF_OK);
    w.cluster = "ba9876543210";
    assert_int_equal(sdiff_store_put_waiver(st, &w, &id2, &err), SDIFF_OK);
    /* accepting the first cluster again updates its waiver, under the same id */
    w.cluster = "0123456789ab";
    w.expires = "2030-01-31";
    w.reason = "later";
    assert_int_equal(sdiff_store_put_waiver(st, &w, &id3, &err), SDIFF_OK);
    assert_int_equal(id3, id1);
    assert_true(id2 != id1);
    sdiff_store_close(st);
    assert_int_equal(sdiff_test_db_int(path, "SELECT count(*) FROM waivers"), 2);
    struct sdiff_store_opts ro = {.read_only = 1};
    assert_int_equal(sdiff_store_open(&st, path, &ro, &err), SDIFF_OK);
    struct rows r = {0};
    assert_int_equal(sdiff_store_each_waiver(st, on_waiver, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.seen[0], "ba9876543210 known never 1"); /* newest id first */
    assert_string_equal(r.seen[1], "0123456789ab later 2030-01-31 1");
    sdiff_store_close(st);
    sdiff_test_rmdir(dir);
    free(dir);
}

static uint8_t *file_bytes(const char *path, size_t *n, struct stat *sb)
{
    assert_int_equal(stat(path, sb), 0);
    return sdiff_test_read_file(path, n);
}

static void test_store__read_only_open_never_changes_the_file(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir(), path[4200], other[4200];
    snprintf(path, sizeof path, "%s/results.db", dir);
    int64_t diff_id;
    build_results(path, &diff_id);
    struct stat before, after;
    size_t n1, n2;
    /* an old mtime, so that any write would show in it */
    struct timespec old[2] = {{946684800, 0}, {946684800, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
    uint8_t *b1 = file_bytes(path, &n1, &before);
    struct sdiff_store_opts ro = {.read_only = 1};
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_store_open(&st, path, &ro, &err), SDIFF_OK);
    struct rows r = {0};
    assert_int_equal(sdiff_store_each_route_stats(st, 1, 0, on_stats, &r, &err), SDIFF_OK);
    int64_t cap;
    assert_true(sdiff_store_begin_capture(st, "x", "x", &cap, &err) < 0); /* no writes */
    sdiff_err_clear(&err);
    sdiff_store_close(st);
    uint8_t *b2 = file_bytes(path, &n2, &after);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
    assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
    free(b1);
    free(b2);

    snprintf(other, sizeof other, "%s/missing.db", dir);
    assert_int_equal(sdiff_store_open(&st, other, &ro, &err), SDIFF_EIO);
    assert_null(st);
    assert_non_null(strstr(err.msg, "no such file"));
    assert_int_equal(access(other, F_OK), -1); /* not created */
    sdiff_err_clear(&err);
    assert_int_equal(sdiff_store_open(&st, dir, &ro, &err), SDIFF_EIO);
    assert_non_null(strstr(err.msg, "not a regular file"));
    sdiff_err_clear(&err);
    snprintf(other, sizeof other, "%s/corpus-only.db", dir); /* a database without results */
    sqlite3 *h;
    assert_int_equal(sqlite3_open(other, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    assert_int_equal(sdiff_store_open(&st, other, &ro, &err), SDIFF_EDB);
    assert_non_null(strstr(err.msg, "not a readable shadowdiff database"));
    sdiff_err_clear(&err);

    /* a newer schema is refused, naming both versions, by readers and writers alike */
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    char want[64];
    snprintf(want, sizeof want, "schema version 99 is newer than this shadowdiff supports (%d)",
             SDIFF_STORE_SCHEMA_VERSION);
    assert_int_equal(sdiff_store_open(&st, path, &ro, &err), SDIFF_EDB);
    assert_non_null(strstr(err.msg, want));
    sdiff_err_clear(&err);
    struct sdiff_store_opts rw = {0};
    assert_int_equal(sdiff_store_open(&st, path, &rw, &err), SDIFF_EDB);
    assert_non_null(strstr(err.msg, want));
    sdiff_test_rmdir(dir);
    free(dir);
}

/* ---- schema version 3: migration of a version-2 file, and the run lifecycle --------------- */

static const char *const v2_tables[] = {"captures", "exchanges", "runs",  "results", "responses",
                                        "differences", "noise", "waivers", "meta"};

/* A copy of the version-2 fixture in dir (never the fixture itself). */
static void copy_v2(const char *dir, char *path, size_t cap)
{
    size_t n;
    uint8_t *b = sdiff_test_read_file(sdiff_test_fixture_path("db/results_v2.db"), &n);
    assert_non_null(b);
    snprintf(path, cap, "%s/v2.db", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
    free(b);
}

static long long count_rows(const char *path, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return sdiff_test_db_int(path, sql);
}

static void test_store__v2_file_is_migrated_by_a_writer_keeping_every_row(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir(), path[4200];
    copy_v2(dir, path, sizeof path);
    long long before[9];
    for (size_t i = 0; i < 9; i++) {
        before[i] = count_rows(path, v2_tables[i]);
        assert_true(before[i] > 0); /* the fixture has rows in every table */
    }
    assert_int_equal(sdiff_test_db_int(path, "PRAGMA user_version"), 2);
    struct sdiff_store_opts opts = {.must_exist = 1};
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    if (sdiff_store_open(&st, path, &opts, &err) < 0)
        fail_msg("open: %s", err.msg);
    assert_int_equal(sdiff_store_schema_version(st), 3);
    sdiff_store_close(st);
    assert_int_equal(sdiff_test_db_int(path, "PRAGMA user_version"), 3);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(count_rows(path, v2_tables[i]), before[i]);
    assert_int_equal(count_rows(path, "meta"), before[8] + 1); /* + the corpus id */
    /* what v3 derives for v2 rows */
    assert_int_equal(sdiff_test_db_int(path, "SELECT count(*) FROM runs WHERE state = 'finished'"
                                             " AND last_activity = finished_at"),
                     before[2]);
    assert_int_equal(sdiff_test_db_int(path, "SELECT count(*) FROM results WHERE raw_path IS NULL"
                                             " OR instr(raw_path, '?') > 0 OR side != 'old'"),
                     0);
    assert_int_equal(sdiff_test_db_int(path, "SELECT count(*) FROM noise WHERE source = "
                                             "'secondary'"),
                     before[6]);
    assert_int_equal(sdiff_test_db_int(path, "SELECT count(*) FROM waivers"
                                             " WHERE superseded_by IS NULL"),
                     before[7]);
    assert_int_equal(sdiff_test_db_int(path, "SELECT length(value) FROM meta"
                                             " WHERE name = 'corpus_id'"),
                     32);
    for (const char *t = "instances\0batches\0cost_samples\0live_samples\0"; *t; t += strlen(t) + 1)
        assert_int_equal(count_rows(path, t), 0);
    /* a second writer finds version 3 and changes nothing */
    assert_int_equal(sdiff_store_open(&st, path, &opts, &err), SDIFF_OK);
    sdiff_store_close(st);
    assert_int_equal(count_rows(path, "results"), before[3]);

    /* a version-2 file from before the waivers table gains it */
    char older[4300];
    snprintf(older, sizeof older, "%s/older", dir);
    assert_int_equal(mkdir(older, 0700), 0);
    copy_v2(older, older, sizeof older);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(older, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "DROP TABLE waivers", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    assert_int_equal(sdiff_store_open(&st, older, &opts, &err), SDIFF_OK);
    sdiff_store_close(st);
    assert_int_equal(count_rows(older, "waivers"), 0);
    sdiff_test_rmdir(dir);
    free(dir);
}

static void test_store__v2_file_is_read_and_reported_as_it_is(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir(), path[4200];
    copy_v2(dir, path, sizeof path);
    struct timespec old[2] = {{946684800, 0}, {946684800, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
    struct stat before, after;
    size_t n1, n2;
    uint8_t *b1 = file_bytes(path, &n1, &before);

    struct sdiff_store_opts ro = {.read_only = 1};
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_store_open(&st, path, &ro, &err), SDIFF_OK);
    assert_int_equal(sdiff_store_schema_version(st), 2);
    struct sdiff_store_run run;
    assert_int_equal(sdiff_store_get_run(st, 0, &run, &err), SDIFF_OK);
    assert_int_equal(run.id, 2);
    assert_string_equal(run.state, "finished");
    assert_string_equal(run.last_activity, run.finished_at);
    assert_null(run.name);
    sdiff_store_run_dispose(&run);
    struct rows r = {0};
    assert_int_equal(sdiff_store_each_waiver(st, on_waiver, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 2);
    memset(&r, 0, sizeof r);
    assert_int_equal(sdiff_store_each_different(st, 1, 0, on_diff, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 5);
    int64_t id;
    assert_int_equal(sdiff_store_find_run(st, "1", &id, &err), SDIFF_OK);
    assert_int_equal(id, 1);
    assert_int_equal(sdiff_store_find_run(st, "canary", &id, &err), SDIFF_EINVAL);
    sdiff_err_clear(&err);
    sdiff_store_close(st);

    /* the commands that only read: report (every format) and inspect */
    static const char *const fmts[] = {"text", "json", "markdown", "junit", "html"};
    for (size_t i = 0; i < 5; i++) {
        char *argv[] = {(char *)sdiff_test_bin(), "report", "--db", path, "--run", "1",
                        "--format", (char *)fmts[i], NULL};
        struct sdiff_test_run res = sdiff_test_run(argv, dir, 60);
        /* run 1 fails: 1 of 1 different on a route is already evidence (Wilson) */
        assert_int_equal(sdiff_test_exit_code(&res), 1);
        assert_true(res.out_len > 0);
        sdiff_test_run_dispose(&res);
    }
    char *rep[] = {(char *)sdiff_test_bin(), "report", "--db", path, "--format", "json", NULL};
    struct sdiff_test_run res = sdiff_test_run(rep, dir, 60);
    int code = sdiff_test_exit_code(&res); /* run 2: the candidate refused every request */
    assert_true(code == 0 || code == 1);
    assert_non_null(strstr(res.out, "\"id\": 2,"));
    assert_non_null(strstr(res.out, "\"state\": \"finished\""));
    sdiff_test_run_dispose(&res);
    char *insp[] = {(char *)sdiff_test_bin(), "inspect", "--db", path, "3", NULL};
    res = sdiff_test_run(insp, dir, 60);
    assert_int_equal(sdiff_test_exit_code(&res), 0);
    assert_non_null(strstr(res.out, "== reproduce against the candidate =="));
    sdiff_test_run_dispose(&res);

    uint8_t *b2 = file_bytes(path, &n2, &after);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
    assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
    free(b1);
    free(b2);
    sdiff_test_rmdir(dir);
    free(dir);
}

static char *run_text(const char *path, int64_t id, const char *col)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT %s FROM runs WHERE id = %lld", col, (long long)id);
    sqlite3 *h;
    sqlite3_stmt *q;
    char *out = NULL;
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
        out = strdup((const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(h);
    return out;
}

static void put_one(struct sdiff_store *st, int64_t run)
{
    static struct sdiff_msg ok = {.present = 1, .status = 200};
    struct sdiff_result_rec r = {.run_id = run, .route = "GET /a", .target = "/a/1?x=2",
                                 .cls = "identical", .bytes_equal = 1, .primary_ms = 1};
    struct sdiff_err err = {0};
    r.candidate.msg = &ok;
    r.candidate.latency_ms = 1;
    r.candidate.skip_row = 1;
    assert_int_equal(sdiff_store_put_result(st, &r, NULL, &err), SDIFF_OK);
}

static void test_store__runs_live_running_finished_interrupted_failed(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/runs.db", dir);
    struct sdiff_store_opts opts = {.batch = 2};
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    int64_t a, b, c, d, again;
    assert_int_equal(sdiff_store_open(&st, path, &opts, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "replay", .labels_json = "{\"version\":\"2.1\"}",
                                  .host = "pod-a"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &a, &err), SDIFF_OK);
    assert_int_equal(strlen(sdiff_store_instance_id(st)), 32);
    char *state_s = run_text(path, a, "state");
    assert_string_equal(state_s, "running");
    free(state_s);
    char *act0 = run_text(path, a, "last_activity");
    assert_non_null(act0);
    struct timespec ms = {0, 5000000};
    nanosleep(&ms, NULL); /* the clock of last_activity has milliseconds */
    for (int i = 0; i < 5; i++)
        put_one(st, a); /* batches of 2: two commits */
    char *act1 = run_text(path, a, "last_activity");
    assert_true(strcmp(act1, act0) > 0);
    free(act0);
    free(act1);
    assert_int_equal(sdiff_test_db_int(path, "SELECT count(*) FROM batches"), 2);
    assert_int_equal(sdiff_store_finish_run(st, a, SDIFF_RUN_INTERRUPTED, "{}", &err), SDIFF_OK);
    assert_int_equal(sdiff_test_db_int(path, "SELECT count(*) FROM batches"), 3);
    assert_int_equal(sdiff_test_db_int(path, "SELECT sum(results) FROM batches"), 5);
    assert_int_equal(sdiff_test_db_int(path, "SELECT count(DISTINCT batch_seq) FROM results"), 3);
    assert_int_equal(sdiff_test_db_int(path, "SELECT count(*) FROM results"
                                             " WHERE raw_path = '/a/1'"),
                     5);
    assert_int_equal(sdiff_test_db_int(path, "SELECT count(*) FROM instances WHERE host = 'pod-a'"
                                             " AND stopped_at IS NOT NULL AND pid > 0"),
                     1);
    state_s = run_text(path, a, "state");
    assert_string_equal(state_s, "interrupted");
    free(state_s);

    /* a batch drained twice is refused by its key, not stored twice */
    sqlite3 *h;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "INSERT INTO results(run_id, class, instance_id, batch_seq,"
                                  " batch_idx) SELECT run_id, class, instance_id, batch_seq,"
                                  " batch_idx FROM results LIMIT 1",
                                  NULL, NULL, NULL),
                     SQLITE_CONSTRAINT);
    assert_int_equal(sqlite3_exec(h,
                                  "INSERT INTO batches(instance_id, batch_seq, results)"
                                  " SELECT instance_id, batch_seq, 1 FROM batches LIMIT 1",
                                  NULL, NULL, NULL),
                     SQLITE_CONSTRAINT);
    sqlite3_close(h);

    /* a failed run is never the default one; a running one is, and says so */
    info.labels_json = NULL;
    assert_int_equal(sdiff_store_begin_run(st, &info, &b, &err), SDIFF_OK);
    assert_int_equal(sdiff_store_finish_run(st, b, SDIFF_RUN_FAILED, "{}", &err), SDIFF_OK);
    struct sdiff_store_run run;
    assert_int_equal(sdiff_store_get_run(st, 0, &run, &err), SDIFF_OK);
    assert_int_equal(run.id, a);
    assert_string_equal(run.state, "interrupted");
    assert_string_equal(run.labels_json, "{\"version\":\"2.1\"}");
    sdiff_store_run_dispose(&run);
    assert_int_equal(sdiff_store_get_run(st, b, &run, &err), SDIFF_OK); /* by id: still there */
    assert_string_equal(run.state, "failed");
    sdiff_store_run_dispose(&run);
    assert_int_equal(sdiff_store_begin_run(st, &info, &c, &err), SDIFF_OK);
    assert_int_equal(sdiff_store_get_run(st, 0, &run, &err), SDIFF_OK);
    assert_int_equal(run.id, c);
    assert_string_equal(run.state, "running");
    assert_null(run.finished_at);
    sdiff_store_run_dispose(&run);
    assert_int_equal(sdiff_store_end_run(st, c, "{}", &err), SDIFF_OK);

    /* a named run is joined, not created twice, by every instance that names it */
    info.name = "canary-5pct";
    assert_int_equal(sdiff_store_begin_run(st, &info, &d, &err), SDIFF_OK);
    char first[33];
    snprintf(first, sizeof first, "%s", sdiff_store_instance_id(st));
    put_one(st, d);
    assert_int_equal(sdiff_store_end_run(st, d, "{}", &err), SDIFF_OK);
    assert_int_equal(sdiff_store_begin_run(st, &info, &again, &err), SDIFF_OK);
    assert_int_equal(again, d);
    assert_string_not_equal(sdiff_store_instance_id(st), first);
    state_s = run_text(path, d, "state");
    assert_string_equal(state_s, "running");
    free(state_s);
    put_one(st, d);
    assert_int_equal(sdiff_store_end_run(st, d, "{}", &err), SDIFF_OK);
    assert_int_equal(sdiff_test_db_int(path, "SELECT count(*) FROM instances WHERE run_id ="
                                             " (SELECT id FROM runs WHERE name = 'canary-5pct')"),
                     2);
    assert_int_equal(sdiff_test_db_int(path, "SELECT count(*) FROM runs"), 4);
    int64_t found;
    assert_int_equal(sdiff_store_find_run(st, "canary-5pct", &found, &err), SDIFF_OK);
    assert_int_equal(found, d);
    char idtext[24];
    snprintf(idtext, sizeof idtext, "%lld", (long long)b);
    assert_int_equal(sdiff_store_find_run(st, idtext, &found, &err), SDIFF_OK);
    assert_int_equal(found, b);
    sdiff_store_close(st);
    sdiff_test_rmdir(dir);
    free(dir);
}

/* A replay refused at the redaction-key check ends its run `failed`; it never becomes the
 * run `report` shows by default, which stays the last one that judged something. */
static void test_store__replay_refused_before_judging_is_failed_and_not_the_default(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir(), a[4200], b[4200];
    snprintf(a, sizeof a, "%s/a.db", dir);
    snprintf(b, sizeof b, "%s/b.db", dir);
    char *bin = (char *)sdiff_test_bin();
    char *pcap = (char *)sdiff_test_fixture_path("pcap/basic_keepalive.pcap");
    char *cap_b[] = {bin, "capture", "--pcap", pcap, "--out", b, NULL};
    char *cap_a[] = {bin, "capture", "--pcap", pcap, "--out", a, NULL};
    char *ok[] = {bin, "replay", "--corpus", b, "--db", b, "--candidate", "http://127.0.0.1:9",
                  NULL};
    char *refused[] = {bin, "replay", "--corpus", a, "--db", b, "--candidate",
                       "http://127.0.0.1:9", NULL};
    char *rep[] = {bin, "report", "--db", b, "--format", "json", NULL};
    struct sdiff_test_run r = sdiff_test_run(cap_b, dir, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    sdiff_test_run_dispose(&r);
    r = sdiff_test_run(cap_a, dir, 60); /* a corpus of its own, with another key */
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    sdiff_test_run_dispose(&r);
    r = sdiff_test_run(ok, dir, 60); /* run 1: judged (the candidate refused every request) */
    sdiff_test_run_dispose(&r);
    r = sdiff_test_run(refused, dir, 60); /* run 2: refused before judging anything */
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    assert_non_null(strstr(r.err, "hashed with another key"));
    sdiff_test_run_dispose(&r);
    assert_int_equal(sdiff_test_db_int(b, "SELECT count(*) FROM runs WHERE id = 1"
                                          " AND state = 'finished'"),
                     1);
    assert_int_equal(sdiff_test_db_int(b, "SELECT count(*) FROM runs WHERE id = 2"
                                          " AND state = 'failed' AND finished_at IS NOT NULL"),
                     1);
    r = sdiff_test_run(rep, dir, 60);
    assert_non_null(strstr(r.out, "\"id\": 1,"));
    sdiff_test_run_dispose(&r);
    sdiff_test_rmdir(dir);
    free(dir);
}

/* What selects PostgreSQL, and how a URL is shown: its password as ***, nothing else. */
static void test_store__urls_are_shown_without_password(void **state)
{
    (void)state;
    static const char *const shown[][2] = {
        {"postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"},
        {"postgres://u:p%40ss@h/db?sslmode=require", "postgres://u:***@h/db?sslmode=require"},
        {"postgresql://u@h/db?password=x&sslmode=require",
         "postgresql://u@h/db?password=***&sslmode=require"},
        {"postgresql://u:a:b@c@h/db", "postgresql://u:***@h/db"},
        {"postgresql://h/db", "postgresql://h/db"},
        {"postgresql://", "postgresql://"},
        {"results.db", "results.db"},
        {"postgres:results.db", "postgres:results.db"},
    };
    char out[128];
    for (size_t i = 0; i < sizeof shown / sizeof *shown; i++) {
        sdiff_store_shown(shown[i][0], out, sizeof out);
        assert_string_equal(out, shown[i][1]);
    }
    assert_true(sdiff_store_is_url("postgresql://"));
    assert_true(sdiff_store_is_url("postgres://h/db"));
    assert_false(sdiff_store_is_url("postgresql:/h/db"));
    assert_false(sdiff_store_is_url("./postgresql://x"));
    assert_false(sdiff_store_is_url("results.db"));
    sdiff_store_shown("postgresql://u:pw@h/db", out, 12); /* truncated, never past cap */
    assert_int_equal(strlen(out), 11);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store__exchange_round_trip_is_exact),
        cmocka_unit_test(test_store__damaged_headers_are_an_error),
        cmocka_unit_test(test_store__read_interface_hands_out_rows),
        cmocka_unit_test(test_store__one_waiver_per_cluster_with_a_stable_id),
        cmocka_unit_test(test_store__read_only_open_never_changes_the_file),
        cmocka_unit_test(test_store__v2_file_is_migrated_by_a_writer_keeping_every_row),
        cmocka_unit_test(test_store__v2_file_is_read_and_reported_as_it_is),
        cmocka_unit_test(test_store__runs_live_running_finished_interrupted_failed),
        cmocka_unit_test(test_store__replay_refused_before_judging_is_failed_and_not_the_default),
        cmocka_unit_test(test_store__urls_are_shown_without_password),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
