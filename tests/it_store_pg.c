/*
 * it_store_pg.c - the store's interface on both backends: every scenario runs once on a
 * SQLite file and once on a throwaway PostgreSQL cluster (one per test binary), through the
 * public calls only. Runs, results, differences, the answers' bodies byte for byte, waivers,
 * meta values, the visitors (a long one streamed in chunks, with other reads between its
 * rows), runs found by name, a batch refused when it is written twice, two stores writing one
 * named run at once, a schema created once by writers that start together, and the
 * PostgreSQL errors people act on (a stopped server, a database that is not there), with the
 * password never shown.
 */
#include "sdiff_test.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shadowdiff/exchange.h"
#include "shadowdiff/store.h"

static struct sdiff_test_pg pg;
static char lite_dir[4096];
static int seq;

enum backend { LITE, PG };

/* A fresh store location on backend b: a new SQLite file, or a new PostgreSQL database. */
static void fresh(enum backend b, char *out, size_t cap)
{
    seq++;
    if (b == LITE) {
        snprintf(out, cap, "%s/s%d.db", lite_dir, seq);
        return;
    }
    char sql[64];
    snprintf(sql, sizeof sql, "CREATE DATABASE t%d", seq);
    /* sdiff_test_pg_sql sends CREATE DATABASE to the maintenance database */
    char *o = sdiff_test_pg_sql(&pg, sql);
    assert_non_null(o);
    free(o);
    snprintf(out, cap, "postgresql://postgres@127.0.0.1:%d/t%d", pg.port, seq);
}

/* One integer from SQL on the store at loc; -1 without a row, -2 when the SQL failed. */
static long long q_int(const char *loc, const char *sql)
{
    if (strncmp(loc, "postgresql://", 13) != 0) {
        sqlite3 *h = NULL;
        sqlite3_stmt *q = NULL;
        long long v = -2;
        assert_int_equal(sqlite3_open_v2(loc, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        sqlite3_busy_timeout(h, 5000);
        if (sqlite3_prepare_v2(h, sql, -1, &q, NULL) == SQLITE_OK) {
            int rc = sqlite3_step(q);
            v = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : rc == SQLITE_DONE ? -1 : -2;
        }
        sqlite3_finalize(q);
        sqlite3_close(h);
        return v;
    }
    char cmd[9000], path[4200];
    snprintf(path, sizeof path, "%s/q.out", pg.dir);
    snprintf(cmd, sizeof cmd,
             "'%s/psql' -X -q -A -t -v ON_ERROR_STOP=1 '%s' -c \"$SDIFF_TEST_SQL\" >'%s' 2>&1",
             pg.bindir, loc, path);
    setenv("SDIFF_TEST_SQL", sql, 1);
    int rc = sdiff_test_sh(cmd, 60);
    unsetenv("SDIFF_TEST_SQL");
    if (rc != 0)
        return -2;
    size_t n;
    char *out = (char *)sdiff_test_read_file(path, &n);
    long long v = n ? strtoll(out, NULL, 10) : -1;
    free(out);
    return v;
}

static struct sdiff_store *open_at(const char *loc, int read_only)
{
    struct sdiff_store_opts o = {.keep_secrets = 1, .read_only = read_only};
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    int rc = sdiff_store_open(&st, loc, &o, &err);
    if (rc != SDIFF_OK)
        fail_msg("open %s: %s", loc, err.msg);
    return st;
}

static struct sdiff_exchange *tricky_exchange(void)
{
    static const struct sdiff_hfield h[] = {
        {"X-Latin1", "caf\xe9", 8, 4},
        {"X-Utf8", "caf\xc3\xa9 \xe2\x82\xac", 6, 9},
        {"X-Escapes", "a\"b\\c\td", 9, 8},
    };
    struct sdiff_exchange *ex = sdiff_exchange_new();
    assert_non_null(ex);
    ex->req.method = (char *)"GET";
    ex->req.target = (char *)"/a?b=c";
    assert_int_equal(sdiff_msg_set_headers(&ex->req, h, 3), SDIFF_OK);
    ex->req.present = ex->req.complete = 1;
    ex->resp.reason = (char *)"OK";
    assert_int_equal(sdiff_msg_set_headers(&ex->resp, h, 2), SDIFF_OK);
    ex->resp.present = ex->resp.complete = 1;
    ex->resp.status = 200;
    static const uint8_t body[] = {'{', 0, 0xff, '}'};
    ex->resp.body = sdiff_malloc(sizeof body);
    memcpy(ex->resp.body, body, sizeof body);
    ex->resp.body_len = ex->resp.body_seen = sizeof body;
    ex->t_req_start = 1700000000123456ull; /* larger than 32 bits */
    return ex;
}

struct rows {
    struct sdiff_store *st;
    int n, stop_after, fail_at, nested;
    uint64_t sum;
    char seen[16][96];
};

static int on_stats(const struct sdiff_store_route_stats *s, void *ud, struct sdiff_err *err)
{
    struct rows *r = ud;
    (void)err;
    snprintf(r->seen[r->n++ & 15], 96, "%s %llu/%llu/%llu/%llu/%llu/%llu %llu %llu %llu",
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
    if (r->nested && r->n % 997 == 0) {
        /* another statement between the rows of a streamed one */
        struct sdiff_store_run run;
        assert_int_equal(sdiff_store_get_run(r->st, 0, &run, err), SDIFF_OK);
        sdiff_store_run_dispose(&run);
    }
    return r->stop_after && r->n == r->stop_after ? SDIFF_END : SDIFF_OK;
}

static int on_diff(const struct sdiff_store_difference *d, void *ud, struct sdiff_err *err)
{
    struct rows *r = ud;
    (void)err;
    snprintf(r->seen[r->n++ & 15], 96, "%s %s %s %s %s", d->route ? d->route : "-",
             d->path ? d->path : "-", d->kind ? d->kind : "-",
             d->primary_value ? d->primary_value : "-",
             d->candidate_value ? d->candidate_value : "-");
    return SDIFF_OK;
}

static int on_run(const struct sdiff_store_run *run, const struct sdiff_store_run_counts *c,
                  void *ud, struct sdiff_err *err)
{
    struct rows *r = ud;
    (void)err;
    snprintf(r->seen[r->n++ & 15], 96, "%s %s %s %llu %llu/%llu/%llu/%llu/%llu", run->kind,
             run->state, run->name ? run->name : "-", (unsigned long long)c->instances,
             (unsigned long long)c->samples, (unsigned long long)c->judged,
             (unsigned long long)c->different, (unsigned long long)c->errors,
             (unsigned long long)c->skipped);
    return SDIFF_OK;
}

static int on_instance(const struct sdiff_store_instance *in, void *ud, struct sdiff_err *err)
{
    struct rows *r = ud;
    (void)err;
    assert_int_equal(strlen(in->id), 32);
    snprintf(r->seen[r->n++ & 15], 96, "%s %s %llu/%llu/%llu", in->host ? in->host : "-",
             in->side, (unsigned long long)in->samples, (unsigned long long)in->identical,
             (unsigned long long)in->different);
    return SDIFF_OK;
}

/* One exchange; run 1 ("first") with five results on two routes; run 2 empty. */
static void build_results(const char *loc, int64_t *diff_id)
{
    struct sdiff_store *st = open_at(loc, 0);
    struct sdiff_err err = {0};
    int64_t cap, run;
    assert_int_equal(sdiff_store_begin_capture(st, "test", "test", &cap, &err), SDIFF_OK);
    struct sdiff_exchange *ex = tricky_exchange();
    assert_int_equal(sdiff_store_put_exchange(st, ex, &err), SDIFF_OK);
    assert_true(ex->id > 0);
    struct sdiff_run_info info = {.kind = "replay", .corpus = "c.db", .candidate = "http://c:1",
                                  .name = "first", .labels_json = "{\"version\":\"2.1\"}",
                                  .host = "pod-a"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &run, &err), SDIFF_OK);
    static struct sdiff_msg ok = {.present = 1, .status = 200, .reason = (char *)"OK"};
    static struct sdiff_msg bad = {.present = 1, .status = 503, .reason = (char *)"Busy",
                                   .body = (uint8_t *)"x\0\xfe", .body_len = 3};
    static const char *paths[] = {"status", "$.a"}, *kinds[] = {"changed", "missing"};
    static const char *pv[] = {"200", "caf\xe9"}, *cv[] = {"503", NULL};
    for (int i = 0; i < 5; i++) {
        struct sdiff_result_rec r = {.run_id = run, .exchange_id = ex->id, .method = "GET",
                                     .route = i < 3 ? "GET /b" : "GET /a", .target = "/a?b=c",
                                     .cls = i == 4 ? "different" : i == 3 ? "error" : "identical",
                                     .primary_status = 200, .primary_ms = 10 + i + 0.25,
                                     .bytes_equal = -1,
                                     .t_req_start = 1700000000000000ull + (uint64_t)i};
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
        assert_int_equal(sdiff_store_put_result(st, &r, i == 4 ? diff_id : NULL, &err),
                         SDIFF_OK);
    }
    assert_int_equal(sdiff_store_end_run(st, run, "{\"n\":5}", &err), SDIFF_OK);
    info.kind = "gate";
    info.name = NULL;
    assert_int_equal(sdiff_store_begin_run(st, &info, &run, &err), SDIFF_OK);
    sdiff_exchange_free(ex);
    sdiff_store_close(st);
}

static int keep_ex(struct sdiff_exchange *ex, void *ud, struct sdiff_err *err)
{
    struct sdiff_exchange **out = ud;
    (void)err;
    sdiff_exchange_free(*out);
    *out = ex;
    return SDIFF_OK;
}

static void read_interface(enum backend b)
{
    char loc[4200];
    fresh(b, loc, sizeof loc);
    int64_t diff_id = 0;
    build_results(loc, &diff_id);
    struct sdiff_store *st = open_at(loc, 1);
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_store_schema_version(st), 3);

    struct sdiff_store_run run;
    assert_int_equal(sdiff_store_get_run(st, 0, &run, &err), SDIFF_OK);
    assert_string_equal(run.kind, "gate"); /* the latest */
    assert_string_equal(run.state, "running");
    assert_null(run.finished_at);
    int64_t gate_id = run.id;
    sdiff_store_run_dispose(&run);
    int64_t first;
    assert_int_equal(sdiff_store_find_run(st, "first", &first, &err), SDIFF_OK);
    assert_true(first != gate_id);
    assert_int_equal(sdiff_store_get_run(st, first, &run, &err), SDIFF_OK);
    assert_string_equal(run.kind, "replay");
    assert_string_equal(run.name, "first");
    assert_string_equal(run.state, "finished");
    assert_string_equal(run.labels_json, "{\"version\":\"2.1\"}");
    assert_string_equal(run.summary, "{\"n\":5}");
    assert_int_equal(strlen(run.started_at), 24); /* YYYY-MM-DDTHH:MM:SS.sssZ */
    assert_int_equal(run.started_at[23], 'Z');
    assert_non_null(run.finished_at);
    sdiff_store_run_dispose(&run);
    assert_int_equal(sdiff_store_get_run(st, 999, &run, &err), SDIFF_EINVAL);
    assert_non_null(strstr(err.msg, "no run 999 in "));
    sdiff_store_run_dispose(&run);
    assert_int_equal(sdiff_store_find_run(st, "nope", &first, &err), SDIFF_EINVAL);
    sdiff_err_clear(&err);
    assert_int_equal(sdiff_store_find_run(st, "first", &first, &err), SDIFF_OK);

    struct rows r = {.st = st};
    assert_int_equal(sdiff_store_each_route_stats(st, first, 0, on_stats, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.seen[0], "GET /a 2/0/0/1/1/0 0 1 2");
    assert_string_equal(r.seen[1], "GET /b 3/3/0/0/0/0 0 0 0");
    memset(&r, 0, sizeof r);
    assert_int_equal(sdiff_store_each_route_stats(st, first, 1700000000000003ull, on_stats, &r,
                                                  &err),
                     SDIFF_OK);
    assert_int_equal(r.n, 1);

    memset(&r, 0, sizeof r);
    assert_int_equal(sdiff_store_each_latency(st, first, 0, on_latency, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 5);
    assert_int_equal(r.sum, 20 + 21 + 22 + 23 + 24);
    memset(&r, 0, sizeof r);
    r.stop_after = 2;
    assert_int_equal(sdiff_store_each_latency(st, first, 0, on_latency, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 2);
    memset(&r, 0, sizeof r);
    r.fail_at = 3;
    assert_int_equal(sdiff_store_each_latency(st, first, 0, on_latency, &r, &err), SDIFF_ENOMEM);
    assert_string_equal(err.msg, "stop here");
    sdiff_err_clear(&err);

    memset(&r, 0, sizeof r);
    assert_int_equal(sdiff_store_each_different(st, first, 0, on_diff, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.seen[0], "GET /a status changed 200 503");
    /* text that is not UTF-8: exact on SQLite, U+FFFD for the bad byte on PostgreSQL */
    assert_string_equal(r.seen[1], b == LITE ? "GET /a $.a missing caf\xe9 -"
                                             : "GET /a $.a missing caf\xef\xbf\xbd -");
    memset(&r, 0, sizeof r);
    assert_int_equal(sdiff_store_each_difference(st, diff_id, on_diff, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 2);

    struct sdiff_store_result res;
    assert_int_equal(sdiff_store_get_result(st, diff_id, &res, &err), SDIFF_OK);
    assert_int_equal(res.run_id, first);
    assert_string_equal(res.cls, "different");
    assert_string_equal(res.note, "busy");
    assert_string_equal(res.run_candidate, "http://c:1");
    assert_int_equal(res.candidate_status, 503);
    assert_true(res.primary_ms == 14.25 && res.candidate_ms == 24);
    assert_true(res.has_exchange);
    assert_string_equal(res.req_target, "/a?b=c");
    assert_non_null(strstr(res.req_headers_json, "X-Latin1"));
    assert_int_equal(res.primary.body_len, 4);
    assert_memory_equal(res.primary.body, "{\0\xff}", 4);
    assert_true(res.candidate.body_stored);
    assert_int_equal(res.candidate.body_len, 3);
    assert_memory_equal(res.candidate.body, "x\0\xfe", 3);
    assert_string_equal(res.candidate.reason, "Busy");
    sdiff_store_result_dispose(&res);
    assert_int_equal(sdiff_store_get_result(st, 424242, &res, &err), SDIFF_EINVAL);
    sdiff_store_result_dispose(&res);
    sdiff_err_clear(&err);

    memset(&r, 0, sizeof r);
    assert_int_equal(sdiff_store_each_run(st, on_run, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.seen[0], "replay finished first 1 5/4/1/1/0");
    assert_string_equal(r.seen[1], "gate running - 1 0/0/0/0/0");
    memset(&r, 0, sizeof r);
    assert_int_equal(sdiff_store_each_instance(st, first, 0, on_instance, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.seen[0], "pod-a old 5/3/1");

    /* the corpus comes back exactly, bodies byte for byte */
    struct sdiff_exchange *got = NULL;
    assert_int_equal(sdiff_store_each_exchange(st, keep_ex, &got, &err), SDIFF_OK);
    assert_non_null(got);
    assert_int_equal(got->req.nheaders, 3);
    assert_int_equal(got->req.headers[0].value_len, 4);
    assert_memory_equal(got->req.headers[0].value, "caf\xe9", 4);
    assert_int_equal(got->resp.body_len, 4);
    assert_memory_equal(got->resp.body, "{\0\xff}", 4);
    assert_true(got->t_req_start == 1700000000123456ull);
    sdiff_exchange_free(got);

    /* read-only: writing fails, it never changes the store */
    assert_true(sdiff_store_meta_add(st, "x", "y", 1, &err) < 0);
    sdiff_store_close(st);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM meta WHERE name = 'x'"), 0);
}

static void test_store_pg__read_interface_sqlite(void **state)
{
    (void)state;
    read_interface(LITE);
}

static void test_store_pg__read_interface_postgres(void **state)
{
    (void)state;
    read_interface(PG);
}

static int on_waiver(const struct sdiff_store_waiver *w, void *ud, struct sdiff_err *err)
{
    struct rows *r = ud;
    (void)err;
    snprintf(r->seen[r->n++ & 15], 96, "%s %s %s", w->cluster, w->reason,
             w->expires ? w->expires : "never");
    return SDIFF_OK;
}

static void waivers_and_meta(enum backend b)
{
    char loc[4200];
    fresh(b, loc, sizeof loc);
    int64_t diff_id, id1, id2, id3;
    build_results(loc, &diff_id);
    struct sdiff_store *st = open_at(loc, 0);
    struct sdiff_err err = {0};
    struct sdiff_store_waiver w = {.cluster = "0123456789ab", .route = "GET /b",
                                   .reason = "known", .run_id = 1};
    assert_int_equal(sdiff_store_put_waiver(st, &w, &id1, &err), SDIFF_OK);
    w.cluster = "ba9876543210";
    w.signature = "sig";
    assert_int_equal(sdiff_store_put_waiver(st, &w, &id2, &err), SDIFF_OK);
    w.cluster = "0123456789ab";
    w.expires = "2030-01-31";
    w.reason = "later";
    assert_int_equal(sdiff_store_put_waiver(st, &w, &id3, &err), SDIFF_OK);
    assert_int_equal(id3, id1);
    assert_true(id2 != id1);
    struct rows r = {0};
    assert_int_equal(sdiff_store_each_waiver(st, on_waiver, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.seen[0], "ba9876543210 known never");
    assert_string_equal(r.seen[1], "0123456789ab later 2030-01-31");

    /* meta: the first writer wins; values are bytes */
    char buf[64];
    size_t n = 0;
    assert_int_equal(sdiff_store_meta_get(st, "redact_key", buf, sizeof buf, &n, &err), 0);
    assert_int_equal(sdiff_store_meta_add(st, "redact_key", "k\0\xff" "1", 4, &err), SDIFF_OK);
    assert_int_equal(sdiff_store_meta_add(st, "redact_key", "other", 5, &err), SDIFF_OK);
    assert_int_equal(sdiff_store_meta_get(st, "redact_key", buf, sizeof buf, &n, &err), 1);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "k\0\xff" "1", 4);
    assert_int_equal(sdiff_store_meta_get(st, "corpus_id", buf, sizeof buf, &n, &err), 1);
    assert_int_equal(n, 32);
    sdiff_store_close(st);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM waivers"), 2);
}

static void test_store_pg__waivers_and_meta_sqlite(void **state)
{
    (void)state;
    waivers_and_meta(LITE);
}

static void test_store_pg__waivers_and_meta_postgres(void **state)
{
    (void)state;
    waivers_and_meta(PG);
}

static void put_one(struct sdiff_store *st, int64_t run, uint64_t t)
{
    static struct sdiff_msg ok = {.present = 1, .status = 200};
    struct sdiff_result_rec r = {.run_id = run, .route = "GET /a", .target = "/a/1?x=2",
                                 .cls = "identical", .bytes_equal = 1, .primary_ms = 1,
                                 .t_req_start = t};
    struct sdiff_err err = {0};
    r.candidate.msg = &ok;
    r.candidate.latency_ms = 1;
    r.candidate.skip_row = 1;
    if (sdiff_store_put_result(st, &r, NULL, &err) != SDIFF_OK)
        fail_msg("put_result: %s", err.msg);
}

/* Batches of 100: the batch key refuses a batch written again; a long read streams. */
static void batches(enum backend b)
{
    char loc[4200];
    fresh(b, loc, sizeof loc);
    struct sdiff_store_opts o = {.batch = 100};
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    int64_t run;
    assert_int_equal(sdiff_store_open(&st, loc, &o, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "mirror", .name = "batches"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &run, &err), SDIFF_OK);
    for (int i = 0; i < 5050; i++)
        put_one(st, run, 1700000000000000ull + (uint64_t)i);
    assert_int_equal(sdiff_store_finish_run(st, run, SDIFF_RUN_FINISHED, "{}", &err), SDIFF_OK);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM batches"), 51);
    assert_int_equal(q_int(loc, "SELECT sum(results) FROM batches"), 5050);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM results WHERE raw_path = '/a/1'"), 5050);
    assert_int_equal(q_int(loc, "SELECT count(DISTINCT batch_seq) FROM results"), 51);
    /* a batch drained again is refused by its keys, never stored twice */
    assert_true(q_int(loc, "INSERT INTO batches(instance_id, batch_seq, results)"
                           " SELECT instance_id, batch_seq, 1 FROM batches LIMIT 1") < -1);
    assert_true(q_int(loc, "INSERT INTO results(run_id, class, instance_id, batch_seq,"
                           " batch_idx) SELECT run_id, class, instance_id, batch_seq,"
                           " batch_idx FROM results LIMIT 1") < -1);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM results"), 5050);
    sdiff_store_close(st);

    /* more rows than one chunk of the stream, with other reads between them */
    st = open_at(loc, 1);
    struct rows r = {.st = st, .nested = 1};
    assert_int_equal(sdiff_store_each_latency(st, run, 0, on_latency, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 5050);
    assert_int_equal(r.sum, 5050);
    sdiff_store_close(st);
}

static void test_store_pg__batches_sqlite(void **state)
{
    (void)state;
    batches(LITE);
}

static void test_store_pg__batches_postgres(void **state)
{
    (void)state;
    batches(PG);
}

/* A batch that is not full is committed once it is a second old, and a run's corpus given
 * as a URL is stored without its password. */
static void commits_within_a_second(enum backend b)
{
    char loc[4200];
    fresh(b, loc, sizeof loc);
    struct sdiff_store_opts o = {.batch = 1000};
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    int64_t run;
    assert_int_equal(sdiff_store_open(&st, loc, &o, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "replay",
                                  .corpus = "postgresql://u:s3cret@db.internal/corpus"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &run, &err), SDIFF_OK);
    put_one(st, run, 1);
    put_one(st, run, 2);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM results"), 0); /* not committed yet */
    struct timespec ts = {1, 100000000};
    nanosleep(&ts, NULL);
    put_one(st, run, 3); /* the batch is more than a second old: this one commits it */
    assert_int_equal(q_int(loc, "SELECT count(*) FROM results"), 3);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM batches"), 1);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM runs WHERE corpus ="
                                " 'postgresql://u:***@db.internal/corpus'"),
                     1);
    sdiff_store_close(st);
}

static void test_store_pg__commits_within_a_second_sqlite(void **state)
{
    (void)state;
    commits_within_a_second(LITE);
}

static void test_store_pg__commits_within_a_second_postgres(void **state)
{
    (void)state;
    commits_within_a_second(PG);
}

/* A writer killed mid-batch (SIGKILL): every batch is there whole or not at all. */
static void killed_writer(enum backend b)
{
    char loc[4200];
    fresh(b, loc, sizeof loc);
    sdiff_store_close(open_at(loc, 0)); /* the schema, before the writer starts */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sdiff_store_opts o = {.batch = 100};
        struct sdiff_store *st = NULL;
        int64_t run;
        struct sdiff_run_info info = {.kind = "mirror", .name = "killed"};
        if (sdiff_store_open(&st, loc, &o, NULL) < 0 ||
            sdiff_store_begin_run(st, &info, &run, NULL) < 0)
            _exit(1);
        for (uint64_t i = 0;; i++) /* until killed */
            put_one(st, run, 1 + i);
    }
    for (int i = 0; i < 300 && q_int(loc, "SELECT count(*) FROM batches") < 5; i++) {
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    int st = sdiff_test_stop(pid, SIGKILL, 10);
    assert_true(WIFSIGNALED(st));
    long long results = q_int(loc, "SELECT count(*) FROM results");
    long long in_batches = q_int(loc, "SELECT sum(results) FROM batches");
    assert_true(results >= 500);
    assert_int_equal(results, in_batches);
    assert_int_equal(results % 100, 0);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM results r WHERE NOT EXISTS (SELECT 1"
                                " FROM batches b WHERE b.instance_id = r.instance_id"
                                " AND b.batch_seq = r.batch_seq)"),
                     0);
}

static void test_store_pg__killed_writer_leaves_whole_batches_sqlite(void **state)
{
    (void)state;
    killed_writer(LITE);
}

static void test_store_pg__killed_writer_leaves_whole_batches_postgres(void **state)
{
    (void)state;
    killed_writer(PG);
}

/* Two processes' worth of stores writing one named run at once. */
struct writer {
    const char *loc;
    int n;
    int rc;
    char msg[200];
};

static void *write_run(void *arg)
{
    struct writer *w = arg;
    struct sdiff_store_opts o = {.batch = 50};
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    int64_t run = 0;
    static struct sdiff_msg ok = {.present = 1, .status = 200};
    w->rc = sdiff_store_open(&st, w->loc, &o, &err);
    struct sdiff_run_info info = {.kind = "mirror", .name = "shared",
                                  .labels_json = "{\"v\":\"1\"}"};
    if (w->rc >= 0)
        w->rc = sdiff_store_begin_run(st, &info, &run, &err);
    for (int i = 0; w->rc >= 0 && i < w->n; i++) {
        struct sdiff_result_rec r = {.run_id = run, .route = "GET /x", .target = "/x",
                                     .cls = i % 7 ? "identical" : "different",
                                     .bytes_equal = 1, .primary_ms = 1};
        r.candidate.msg = &ok;
        r.candidate.latency_ms = 2;
        w->rc = sdiff_store_put_result(st, &r, NULL, &err);
    }
    if (w->rc >= 0)
        w->rc = sdiff_store_end_run(st, run, "{}", &err);
    snprintf(w->msg, sizeof w->msg, "%s", err.msg);
    sdiff_store_close(st);
    return NULL;
}

static void two_writers(enum backend b)
{
    char loc[4200];
    fresh(b, loc, sizeof loc);
    /* SQLite: the file exists first (two creators of one file race on its header) */
    if (b == LITE)
        sdiff_store_close(open_at(loc, 0));
    struct writer w[3] = {{loc, 700, 0, ""}, {loc, 500, 0, ""}, {loc, 300, 0, ""}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, write_run, &w[i]), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++)
        if (w[i].rc < 0)
            fail_msg("writer %d: %s", i, w[i].msg);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM runs"), 1);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM instances"), 3);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM results"), 1500);
    assert_int_equal(q_int(loc, "SELECT count(DISTINCT id) FROM results"), 1500);
    assert_int_equal(q_int(loc, "SELECT sum(results) FROM batches"), 1500);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM responses"), 1500);
    struct sdiff_store *st = open_at(loc, 1);
    struct rows r = {0};
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_store_each_run(st, on_run, &r, &err), SDIFF_OK);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.seen[0], "mirror finished shared 3 1500/1500/215/0/0");
    sdiff_store_close(st);
}

static void test_store_pg__two_writers_one_named_run_sqlite(void **state)
{
    (void)state;
    two_writers(LITE);
}

static void test_store_pg__two_writers_one_named_run_postgres(void **state)
{
    (void)state;
    two_writers(PG);
}

/* Writers that start at once create the schema once (the advisory lock). */
static void *just_open(void *arg)
{
    struct writer *w = arg;
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    w->rc = sdiff_store_open(&st, w->loc, NULL, &err);
    snprintf(w->msg, sizeof w->msg, "%s", err.msg);
    sdiff_store_close(st);
    return NULL;
}

static void test_store_pg__schema_created_once_by_writers_starting_together(void **state)
{
    (void)state;
    char loc[4200];
    fresh(PG, loc, sizeof loc);
    struct writer w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct writer){loc, 0, 0, ""};
        assert_int_equal(pthread_create(&t[i], NULL, just_open, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++)
        if (w[i].rc < 0)
            fail_msg("writer %d: %s", i, w[i].msg);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM schema_version"), 1);
    assert_int_equal(q_int(loc, "SELECT version FROM schema_version"), 3);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM meta WHERE name = 'corpus_id'"), 1);

    /* a later, additive version (a column this one does not know) is still read and
     * written; one that says it needs a newer reader is refused with a clear reason */
    assert_true(q_int(loc, "ALTER TABLE results ADD COLUMN v4_extra TEXT;"
                           " UPDATE schema_version SET version = 4") > -2);
    int64_t diff_id;
    build_results(loc, &diff_id);
    struct sdiff_store *st = open_at(loc, 1);
    struct sdiff_store_run run;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_store_get_run(st, 0, &run, &err), SDIFF_OK);
    sdiff_store_run_dispose(&run);
    sdiff_store_close(st);
    assert_true(q_int(loc, "UPDATE schema_version SET compatible = 4") > -2);
    struct sdiff_store_opts ro = {.read_only = 1};
    assert_true(sdiff_store_open(&st, loc, &ro, &err) < 0);
    assert_non_null(strstr(err.msg, "needs shadowdiff of schema 4"));
}

/* Errors people act on, one line, the password shown as ***. */
static void test_store_pg__errors_name_the_cause_and_hide_the_password(void **state)
{
    (void)state;
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    char url[4300];
    int port = sdiff_test_free_port(); /* nothing listens there */
    snprintf(url, sizeof url, "postgresql://postgres:s3cret@127.0.0.1:%d/shadowdiff", port);
    assert_int_equal(sdiff_store_open(&st, url, NULL, &err), SDIFF_EDB);
    assert_null(st);
    assert_null(strstr(err.msg, "s3cret"));
    assert_non_null(strstr(err.msg, "postgres:***@127.0.0.1"));
    assert_non_null(strstr(err.msg, "connection refused"));
    assert_null(strchr(err.msg, '\n'));

    snprintf(url, sizeof url, "postgres://postgres@127.0.0.1:%d/nosuchdb?password=s3cret",
             pg.port);
    sdiff_err_clear(&err);
    assert_int_equal(sdiff_store_open(&st, url, NULL, &err), SDIFF_EDB);
    assert_null(strstr(err.msg, "s3cret"));
    assert_non_null(strstr(err.msg, "password=***"));
    assert_non_null(strstr(err.msg, "database does not exist"));

    /* libpq quotes what it cannot parse: neither the URL's password nor the URL shows */
    static const char *const bad[] = {
        "postgresql://u:p%zzs3cret@127.0.0.1:1/db",
        "postgresql://u:s3cret@[::1/db",
        "postgresql://u@127.0.0.1:1/db?password=s3%zzcret",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sdiff_err_clear(&err);
        assert_int_equal(sdiff_store_open(&st, bad[i], NULL, &err), SDIFF_EDB);
        assert_null(strstr(err.msg, "s3cret"));
        assert_null(strstr(err.msg, "s3%zzcret"));
        assert_non_null(strstr(err.msg, "***"));
    }

    /* a read-only open of an empty database: nothing to read, nothing created */
    char loc[4200];
    fresh(PG, loc, sizeof loc);
    struct sdiff_store_opts ro = {.read_only = 1};
    sdiff_err_clear(&err);
    assert_int_equal(sdiff_store_open(&st, loc, &ro, &err), SDIFF_EDB);
    assert_non_null(strstr(err.msg, "no shadowdiff results"));
    assert_int_equal(q_int(loc, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
                     0);

    /* the path a store shows is the masked URL */
    snprintf(url, sizeof url, "postgresql://postgres:s3cret@127.0.0.1:%d/t%d", pg.port, seq);
    st = open_at(url, 0);
    assert_null(strstr(sdiff_store_path(st), "s3cret"));
    assert_non_null(strstr(sdiff_store_path(st), ":***@"));
    sdiff_store_close(st);
}

/* A write that fails inside a batch fails its commit: none of the batch is visible, and the
 * next batch is stored as usual. */
static void test_store_pg__a_failed_batch_is_never_half_visible(void **state)
{
    (void)state;
    char loc[4200];
    fresh(PG, loc, sizeof loc);
    struct sdiff_store_opts o = {.batch = 1000};
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    int64_t run;
    assert_int_equal(sdiff_store_open(&st, loc, &o, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "mirror"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &run, &err), SDIFF_OK);
    put_one(st, run, 1);
    assert_int_equal(sdiff_store_commit(st, &err), SDIFF_OK);
    /* the database now refuses one kind of row, as a full disk or a constraint would */
    assert_true(q_int(loc, "ALTER TABLE results ADD CONSTRAINT no_route_b"
                           " CHECK (route IS DISTINCT FROM 'GET /b')") > -2);
    for (int i = 0; i < 300; i++)
        put_one(st, run, 2); /* more than one pipeline's worth before the bad row */
    static struct sdiff_msg ok = {.present = 1, .status = 200};
    struct sdiff_result_rec r = {.run_id = run, .route = "GET /b", .target = "/b",
                                 .cls = "identical", .bytes_equal = 1, .primary_ms = 1};
    r.candidate.msg = &ok;
    r.candidate.latency_ms = 1;
    int rc = sdiff_store_put_result(st, &r, NULL, &err);
    for (int i = 0; rc >= 0 && i < 10; i++)
        rc = sdiff_store_put_result(st, &r, NULL, &err);
    if (rc >= 0)
        rc = sdiff_store_commit(st, &err);
    assert_int_equal(rc, SDIFF_EDB);
    assert_non_null(strstr(err.msg, "no_route_b"));
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(q_int(loc, "SELECT count(*) FROM results"), 1);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM batches"), 1);
    /* the next batch goes in, under the sequence number the lost one had */
    sdiff_err_clear(&err);
    put_one(st, run, 3);
    assert_int_equal(sdiff_store_finish_run(st, run, SDIFF_RUN_FINISHED, "{}", &err), SDIFF_OK);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM results"), 2);
    assert_int_equal(q_int(loc, "SELECT max(batch_seq) FROM batches"), 1);
    sdiff_store_close(st);
}

/* A role that may not create tables: the first writer says "permission denied". */
static void test_store_pg__permission_denied_is_named(void **state)
{
    (void)state;
    char loc[4200], url[4300];
    fresh(PG, loc, sizeof loc);
    assert_true(q_int(loc, "CREATE ROLE shadow_ro LOGIN") > -2);
    snprintf(url, sizeof url, "postgresql://shadow_ro@127.0.0.1:%d/t%d", pg.port, seq);
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_store_open(&st, url, NULL, &err), SDIFF_EDB);
    assert_non_null(strstr(err.msg, "permission denied"));
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(q_int(loc, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
                     0);
}

/* The server restarts under a writer: the batch in flight fails (and says why), the next
 * one goes into a new connection. Last: it stops the shared cluster for a while. */
static void test_store_pg__a_writer_reconnects_after_the_server_restarts(void **state)
{
    (void)state;
    char loc[4200];
    fresh(PG, loc, sizeof loc);
    struct sdiff_store_opts o = {.batch = 1000};
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    int64_t run;
    assert_int_equal(sdiff_store_open(&st, loc, &o, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "mirror", .name = "restarted"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &run, &err), SDIFF_OK);
    for (int i = 0; i < 10; i++)
        put_one(st, run, 1);
    assert_int_equal(sdiff_store_commit(st, &err), SDIFF_OK);

    sdiff_test_pg_crash(&pg);
    static struct sdiff_msg ok = {.present = 1, .status = 200};
    struct sdiff_result_rec r = {.run_id = run, .route = "GET /a", .target = "/a",
                                 .cls = "identical", .bytes_equal = 1, .primary_ms = 1};
    r.candidate.msg = &ok;
    r.candidate.latency_ms = 1;
    int rc = SDIFF_OK;
    for (int i = 0; rc >= 0 && i < 10; i++)
        rc = sdiff_store_put_result(st, &r, NULL, &err);
    if (rc >= 0)
        rc = sdiff_store_commit(st, &err);
    assert_int_equal(rc, SDIFF_EDB);
    assert_null(strchr(err.msg, '\n'));
    /* still down: the next batch cannot connect, and says so */
    sdiff_err_clear(&err);
    rc = sdiff_store_put_result(st, &r, NULL, &err);
    assert_int_equal(rc, SDIFF_EDB);
    assert_non_null(strstr(err.msg, "connection refused"));

    assert_int_equal(sdiff_test_pg_restart(&pg), 0);
    sdiff_err_clear(&err);
    for (int i = 0; i < 10; i++)
        put_one(st, run, 2);
    assert_int_equal(sdiff_store_finish_run(st, run, SDIFF_RUN_FINISHED, "{}", &err), SDIFF_OK);
    sdiff_store_close(st);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM results"), 20);
    assert_int_equal(q_int(loc, "SELECT sum(results) FROM batches"), 20);
    assert_int_equal(q_int(loc, "SELECT count(*) FROM runs WHERE state = 'finished'"), 1);
}

static int setup(void **state)
{
    (void)state;
    if (sdiff_test_pg_start(&pg) != 0)
        return -1;
    char *d = sdiff_test_tmpdir();
    snprintf(lite_dir, sizeof lite_dir, "%s", d);
    free(d);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sdiff_test_pg_stop(&pg);
    sdiff_test_rmdir(lite_dir);
    return 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_pg__read_interface_sqlite),
        cmocka_unit_test(test_store_pg__read_interface_postgres),
        cmocka_unit_test(test_store_pg__waivers_and_meta_sqlite),
        cmocka_unit_test(test_store_pg__waivers_and_meta_postgres),
        cmocka_unit_test(test_store_pg__batches_sqlite),
        cmocka_unit_test(test_store_pg__batches_postgres),
        cmocka_unit_test(test_store_pg__commits_within_a_second_sqlite),
        cmocka_unit_test(test_store_pg__commits_within_a_second_postgres),
        cmocka_unit_test(test_store_pg__killed_writer_leaves_whole_batches_sqlite),
        cmocka_unit_test(test_store_pg__killed_writer_leaves_whole_batches_postgres),
        cmocka_unit_test(test_store_pg__two_writers_one_named_run_sqlite),
        cmocka_unit_test(test_store_pg__two_writers_one_named_run_postgres),
        cmocka_unit_test(test_store_pg__schema_created_once_by_writers_starting_together),
        cmocka_unit_test(test_store_pg__errors_name_the_cause_and_hide_the_password),
        cmocka_unit_test(test_store_pg__a_failed_batch_is_never_half_visible),
        cmocka_unit_test(test_store_pg__permission_denied_is_named),
        cmocka_unit_test(test_store_pg__a_writer_reconnects_after_the_server_restarts),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
