/*
 * test_judge.c - the judge's own decisions before any replay: deterministic sampling and the
 * per-route rate cap, both stored as skipped with their reason; and a judged run through the
 * scripted transport (helpers/fake_transport.h), without sockets.
 */
#include "sdiff_test.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_transport.h"
#include "run/queue_int.h"
#include "shadowdiff/run.h"

static struct sdiff_exchange *request(const char *method, const char *target)
{
    struct sdiff_exchange *ex = sdiff_exchange_new();
    assert_non_null(ex);
    ex->req.method = (char *)method;
    ex->req.target = (char *)target;
    ex->req.reason = (char *)"";
    assert_int_equal(sdiff_msg_set_headers(&ex->req, NULL, 0), SDIFF_OK);
    ex->req.present = 1;
    ex->resp.method = ex->resp.target = (char *)"";
    ex->resp.reason = (char *)"OK";
    assert_int_equal(sdiff_msg_set_headers(&ex->resp, NULL, 0), SDIFF_OK);
    ex->resp.present = 1;
    ex->resp.status = 200;
    ex->state = SDIFF_EX_COMPLETE;
    return ex;
}

static struct sdiff_redact_key fixed_key(uint8_t fill)
{
    struct sdiff_redact_key k;
    memset(&k, 0, sizeof k);
    memset(k.bytes, fill, 32);
    k.len = 32;
    return k;
}

static void test_judge__sampling_is_deterministic_and_near_the_rate(void **state)
{
    (void)state;
    struct sdiff_redact_key k1 = fixed_key(1), k2 = fixed_key(2);
    char target[64];
    size_t in = 0, same = 0;
    for (int i = 0; i < 20000; i++) {
        snprintf(target, sizeof target, "/api/items/%d?page=%d", i, i % 7);
        struct sdiff_exchange *ex = request("GET", target);
        int a = sdiff_judge_sampled(&k1, ex, 0.1);
        assert_int_equal(sdiff_judge_sampled(&k1, ex, 0.1), a); /* same request, same answer */
        in += (size_t)a;
        same += (size_t)(a == sdiff_judge_sampled(&k2, ex, 0.1));
        assert_true(sdiff_judge_sampled(&k1, ex, 1.0));
        sdiff_exchange_free(ex);
    }
    /* 10% of 20000 is 2000; a fair hash stays well within 10% of that */
    assert_true(in > 1800 && in < 2200);
    /* another key, another sample: independent choices agree on 0.9^2 + 0.1^2 = 82% */
    assert_true(same > 15800 && same < 17000);
}

/* The unkeyed sampling hash shadowdiff used before: anyone could compute it offline. */
static int unkeyed_sampled(const char *m, const char *t, double rate)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = m; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    h = (h ^ ' ') * 1099511628211ull;
    for (const char *p = t; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (double)(h >> 11) / 9007199254740992.0 < rate;
}

/* Submit 40 requests crafted against the unkeyed hash (all in, or all out, at rate); the
 * number the judge sampled out. */
static uint64_t crafted_sampled_out(double rate, int want_in)
{
    char *dir = sdiff_test_tmpdir();
    char db[4200], target[64];
    snprintf(db, sizeof db, "%s/s.db", dir);
    struct sdiff_store *st = NULL;
    struct sdiff_rules *rules = NULL;
    struct sdiff_judge *j = NULL;
    struct sdiff_replay_run_stats stats;
    struct sdiff_err err = {0};
    memset(&stats, 0, sizeof stats);
    assert_int_equal(sdiff_store_open(&st, db, NULL, &err), SDIFF_OK);
    assert_int_equal(sdiff_rules_load(&rules, NULL, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "replay"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &stats.run_id, &err), SDIFF_OK);
    struct sdiff_judge_opts o = {.candidate = "http://127.0.0.1:9", .rules = rules, .db = st,
                                 .copy_exchanges = 1, .sample = rate};
    assert_int_equal(sdiff_judge_new(&j, &o, &stats, &err), SDIFF_OK);
    int found = 0;
    for (int i = 0; found < 40 && i < 1000000; i++) {
        snprintf(target, sizeof target, "/api/pay?n=%d", i);
        if (unkeyed_sampled("GET", target, rate) != want_in)
            continue;
        found++;
        assert_int_equal(sdiff_judge_submit(j, request("GET", target), 0, 0, &err), SDIFF_OK);
    }
    assert_int_equal(found, 40);
    assert_int_equal(sdiff_judge_abandon(j, "test over", &err), SDIFF_OK);
    assert_int_equal(sdiff_judge_finish(j, &err), SDIFF_OK);
    sdiff_judge_free(j);
    sdiff_rules_free(rules);
    sdiff_store_close(st);
    sdiff_test_rmdir(dir);
    free(dir);
    return stats.skip_sampled;
}

/* Requests crafted to be always in (or always out of) the sample are sampled like any other:
 * the hash is keyed with the database's key, which traffic does not know. */
static void test_judge__crafted_requests_cannot_steer_the_sample(void **state)
{
    (void)state;
    /* at 5%, about 38 of the 40 "always in" requests are sampled out (>= 30: p < 1e-20) */
    assert_true(crafted_sampled_out(0.05, 1) >= 30);
    /* at 95%, about 2 of the 40 "always out" are (<= 10: p < 1e-7) */
    assert_true(crafted_sampled_out(0.95, 0) <= 10);
}

/* A request with one header and an optional body. */
static struct sdiff_exchange *request_with(const char *method, const char *target,
                                           const char *name, const char *value,
                                           const char *body)
{
    struct sdiff_exchange *ex = request(method, target);
    struct sdiff_hfield f = {.name = name, .name_len = strlen(name), .value = value,
                             .value_len = strlen(value)};
    assert_int_equal(sdiff_msg_set_headers(&ex->req, &f, 1), SDIFF_OK);
    if (body != NULL) {
        ex->req.body_len = strlen(body);
        ex->req.body = sdiff_malloc(ex->req.body_len);
        memcpy(ex->req.body, body, ex->req.body_len);
        ex->req.body_seen = ex->req.body_len;
    }
    return ex;
}

/*
 * GET with X-HTTP-Method-Override: DELETE (or _method=DELETE in the query or a form body) is
 * a DELETE to most frameworks: skipped with "method override" unless DELETE is allowed. A
 * request with a marker we did not send is counted as forged and still judged.
 */
static void test_judge__method_overrides_skipped_forged_markers_counted(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir();
    char db[4200];
    snprintf(db, sizeof db, "%s/o.db", dir);
    struct sdiff_store *st = NULL;
    struct sdiff_rules *rules = NULL;
    struct sdiff_judge *j = NULL;
    struct sdiff_replay_run_stats stats;
    struct sdiff_err err = {0};
    memset(&stats, 0, sizeof stats);
    assert_int_equal(sdiff_store_open(&st, db, NULL, &err), SDIFF_OK);
    assert_int_equal(sdiff_rules_load(&rules, NULL, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "replay"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &stats.run_id, &err), SDIFF_OK);
    const char *const allow[] = {"PUT"};
    struct sdiff_judge_opts o = {.candidate = "http://127.0.0.1:9", .rules = rules, .db = st,
                                 .copy_exchanges = 1, .allow_methods = allow, .nallow = 1};
    assert_int_equal(sdiff_judge_new(&j, &o, &stats, &err), SDIFF_OK);
    const char *form = "application/x-www-form-urlencoded";
    struct sdiff_exchange *skip[] = {
        request_with("GET", "/a", "X-HTTP-Method-Override", "DELETE", NULL),
        request_with("GET", "/b", "x-method-override", "delete", NULL),
        request_with("HEAD", "/c?_method=DELETE", "Accept", "*/*", NULL),
        request_with("GET", "/d", "Content-Type", form, "x=1&_method=POST"),
    };
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(sdiff_judge_submit(j, skip[i], 0, 0, &err), SDIFF_OK);
    assert_int_equal(stats.skip_override, 4);
    assert_int_equal(sdiff_judge_inflight(j), 0);
    /* an allowed overriding method, and a plain request with a forged marker: replayed */
    assert_int_equal(sdiff_judge_submit(j, request_with("GET", "/e", "X-HTTP-Method", "PUT", NULL),
                                        0, 0, &err),
                     SDIFF_OK);
    assert_int_equal(sdiff_judge_submit(j, request_with("GET", "/f", "X-Shadowdiff", "1", NULL), 0,
                                        0, &err),
                     SDIFF_OK);
    assert_int_equal(stats.skip_override, 4);
    assert_int_equal(stats.forged_marker, 1);
    assert_int_equal(sdiff_judge_inflight(j), 2);
    assert_int_equal(strncmp(stats.marker, "X-Shadowdiff: ", 14), 0);
    assert_int_equal(sdiff_judge_abandon(j, "test over", &err), SDIFF_OK);
    assert_int_equal(sdiff_judge_finish(j, &err), SDIFF_OK);
    sdiff_judge_free(j);
    sdiff_store_close(st);
    sdiff_rules_free(rules);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results WHERE skip_reason LIKE "
                                           "'method override: X-HTTP-Method-Override says DELETE%'"),
                     1);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results WHERE skip_reason LIKE "
                                           "'method override: _method in the%'"),
                     2);
    sdiff_test_rmdir(dir);
    free(dir);
}

static void test_judge__route_cap_skips_the_excess_with_a_reason(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir();
    char db[4200];
    snprintf(db, sizeof db, "%s/j.db", dir);
    struct sdiff_store *st = NULL;
    struct sdiff_rules *rules = NULL;
    struct sdiff_judge *j = NULL;
    struct sdiff_replay_run_stats stats;
    struct sdiff_err err = {0};
    memset(&stats, 0, sizeof stats);
    assert_int_equal(sdiff_store_open(&st, db, NULL, &err), SDIFF_OK);
    assert_int_equal(sdiff_rules_load(&rules, NULL, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "replay"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &stats.run_id, &err), SDIFF_OK);
    /* nothing listens on port 9: nothing is answered, which this test does not need */
    struct sdiff_judge_opts o = {.candidate = "http://127.0.0.1:9", .rules = rules, .db = st,
                                 .copy_exchanges = 1, .route_rate = 5};
    assert_int_equal(sdiff_judge_new(&j, &o, &stats, &err), SDIFF_OK);
    uint64_t t = 1700000000000000ull;
    for (int i = 0; i < 20; i++) /* 20 requests to one route within the same instant */
        assert_int_equal(sdiff_judge_submit(j, request("GET", "/api/hot/1"), 0, t, &err),
                         SDIFF_OK);
    assert_int_equal(sdiff_judge_submit(j, request("GET", "/api/cold"), 0, t, &err), SDIFF_OK);
    /* one second later the bucket holds 5 tokens again */
    assert_int_equal(sdiff_judge_submit(j, request("GET", "/api/hot/2"), 0, t + 1000000, &err),
                     SDIFF_OK);
    assert_int_equal(stats.skip_route_cap, 15);
    assert_int_equal(sdiff_judge_inflight(j), 7);
    assert_int_equal(sdiff_judge_abandon(j, "test over", &err), SDIFF_OK);
    assert_int_equal(stats.exchanges, 22);
    assert_int_equal(stats.cls[SDIFF_CLASS_SKIPPED], 22); /* 15 capped + 7 abandoned */
    sdiff_judge_free(j);
    assert_int_equal(sdiff_store_commit(st, &err), SDIFF_OK);
    sdiff_store_close(st);
    /* the reason is stored with each capped result, and only with those */
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results WHERE skip_reason = "
                                           "'over the per-route rate cap'"),
                     15);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results WHERE skip_reason = "
                                           "'over the per-route rate cap' AND route <> "
                                           "'GET /api/hot/{id}'"),
                     0);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results WHERE skip_reason = "
                                           "'test over'"),
                     7);
    sdiff_rules_free(rules);
    sdiff_test_rmdir(dir);
    free(dir);
}

/* The candidate answers /same as recorded (200, no fields, no body) and /changed with 500. */
static void answer_same_or_500(const char *wire, size_t len, struct sdiff_replay_result *res,
                               void *ud)
{
    (void)len;
    (void)ud;
    sdiff_fake_respond(res, strncmp(wire, "GET /same ", 10) == 0 ? 200 : 500, "");
}

static void test_judge__scripted_transport_is_judged_and_stored(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir();
    char db[4200];
    snprintf(db, sizeof db, "%s/j.db", dir);
    struct sdiff_store *st = NULL;
    struct sdiff_rules *rules = NULL;
    struct sdiff_judge *j = NULL;
    struct sdiff_replay_run_stats stats;
    struct sdiff_err err = {0};
    memset(&stats, 0, sizeof stats);
    sdiff_fake_reset();
    sdiff_fake.answer = answer_same_or_500;
    assert_int_equal(sdiff_store_open(&st, db, NULL, &err), SDIFF_OK);
    assert_int_equal(sdiff_rules_load(&rules, NULL, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "replay"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &stats.run_id, &err), SDIFF_OK);
    struct sdiff_judge_opts o = {.candidate = "http://cand.invalid", .rules = rules, .db = st,
                                 .copy_exchanges = 1};
    o.replay.transport_ops = &sdiff_fake_transport;
    assert_int_equal(sdiff_judge_new(&j, &o, &stats, &err), SDIFF_OK);
    assert_int_equal(sdiff_judge_submit(j, request("GET", "/same"), 0, 0, &err), SDIFF_OK);
    assert_int_equal(sdiff_judge_submit(j, request("GET", "/changed"), 0, 0, &err), SDIFF_OK);
    for (int i = 0; i < 100 && sdiff_judge_inflight(j) > 0; i++)
        assert_true(sdiff_judge_poll(j, 10, &err) >= 0);
    assert_int_equal(sdiff_judge_inflight(j), 0);
    assert_int_equal(sdiff_judge_finish(j, &err), SDIFF_OK);
    assert_int_equal(sdiff_fake.sent, 2);
    assert_int_equal(stats.cls[SDIFF_CLASS_IDENTICAL], 1);
    assert_int_equal(stats.cls[SDIFF_CLASS_DIFFERENT], 1);
    sdiff_judge_free(j);
    assert_int_equal(sdiff_store_commit(st, &err), SDIFF_OK);
    sdiff_store_close(st);
    sdiff_rules_free(rules);
    sdiff_fake_reset();
    sdiff_test_rmdir(dir);
    free(dir);
}

/*
 * 1100 made-up routes fill the 1024 route-cap slots. On a first-come table the routes after
 * them, a hot one included, found no slot and were not capped at all; now the slots of
 * routes that spent tokens within the last second are busy, the rest share one overflow
 * bucket at the same rate, and once the junk has gone quiet a new route gets its own slot.
 */
static void test_judge__route_cap_holds_when_junk_routes_fill_the_table(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir();
    char db[4200];
    snprintf(db, sizeof db, "%s/j.db", dir);
    struct sdiff_store *st = NULL;
    struct sdiff_rules *rules = NULL;
    struct sdiff_judge *j = NULL;
    struct sdiff_replay_run_stats stats;
    struct sdiff_err err = {0};
    memset(&stats, 0, sizeof stats);
    assert_int_equal(sdiff_store_open(&st, db, NULL, &err), SDIFF_OK);
    assert_int_equal(sdiff_rules_load(&rules, NULL, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "replay"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &stats.run_id, &err), SDIFF_OK);
    struct sdiff_judge_opts o = {.candidate = "http://127.0.0.1:9", .rules = rules, .db = st,
                                 .copy_exchanges = 1, .route_rate = 5};
    assert_int_equal(sdiff_judge_new(&j, &o, &stats, &err), SDIFF_OK);
    uint64_t t = 1700000000000000ull;
    char target[64];
    for (int i = 0; i < 1100; i++) {
        snprintf(target, sizeof target, "/zz%d", i); /* "zz7": a word, its own route */
        assert_int_equal(sdiff_judge_submit(j, request("GET", target), 0, t, &err), SDIFF_OK);
    }
    /* 1024 junk routes hold a slot each; 76 share the overflow bucket: 5 pass */
    assert_int_equal(stats.skip_route_cap, 71);
    for (int i = 0; i < 20; i++)
        assert_int_equal(sdiff_judge_submit(j, request("GET", "/api/orders"), 0, t, &err),
                         SDIFF_OK);
    assert_int_equal(stats.skip_route_cap, 91); /* capped, not passed */
    /* two seconds later every junk bucket is full again: a new route takes a slot */
    for (int i = 0; i < 20; i++)
        assert_int_equal(sdiff_judge_submit(j, request("GET", "/api/users"), 0, t + 2000000,
                                            &err),
                         SDIFF_OK);
    assert_int_equal(stats.skip_route_cap, 106);
    assert_int_equal(sdiff_judge_abandon(j, "test over", &err), SDIFF_OK);
    sdiff_judge_free(j);
    assert_int_equal(sdiff_store_commit(st, &err), SDIFF_OK);
    sdiff_store_close(st);
    sdiff_rules_free(rules);
    sdiff_test_rmdir(dir);
    free(dir);
}

/*
 * Parallel judging gives the results of one judge. /a answers as recorded (identical), /b
 * with a 500 (different), /c and /d carry a timestamp the secondary disagrees on (learned
 * as noise once the evidence is in, and /c's early results made equivalent then): /c is
 * equivalent, /d also changes a value (different at $.v); POSTs are skipped. Redacted with
 * one key (the judges past the first use clones). Stored order may differ, so the rows are
 * compared grouped and sorted. What is left out: a result that stays different keeps the
 * differences on keys it was judged on before they became noise, and how many were judged
 * that early depends on the order answers are judged in, with one judge too (the reason
 * "noise" goes with it); those differences are checked to be few.
 */
static void answer_by_route(const char *wire, size_t len, struct sdiff_replay_result *res,
                            void *ud)
{
    (void)len;
    (void)ud;
    int sec = res->target == 1; /* the candidate is target 0, the secondary 1 */
    if (strncmp(wire, "GET /a/", 7) == 0)
        sdiff_fake_respond(res, 200, "{\"v\":1,\"ts\":1}");
    else if (strncmp(wire, "GET /b/", 7) == 0)
        sdiff_fake_respond(res, sec ? 200 : 500, "{\"v\":1,\"ts\":1}");
    else if (strncmp(wire, "GET /c/", 7) == 0)
        sdiff_fake_respond(res, 200, sec ? "{\"v\":1,\"ts\":2}" : "{\"v\":1,\"ts\":3}");
    else
        sdiff_fake_respond(res, 200, sec ? "{\"v\":1,\"ts\":2}" : "{\"v\":2,\"ts\":3}");
}

/* recorded traffic: five clients, one request every 10 ms (the noise rule wants several
 * clients over more than a second) */
static unsigned recorded_n;

static struct sdiff_exchange *recorded(const char *method, const char *target)
{
    struct sdiff_exchange *ex = request(method, target);
    unsigned n = recorded_n++;
    snprintf(ex->client, sizeof ex->client, "127.0.0.1:%u", 40000 + n % 5);
    ex->t_req_start = 1800000000000000ull + (uint64_t)n * 10000;
    struct sdiff_hfield ah = {"Authorization", "Bearer CANARY-TOKEN", 13, 19};
    assert_int_equal(sdiff_msg_set_headers(&ex->req, &ah, 1), SDIFF_OK);
    struct sdiff_hfield h = {"Content-Type", "application/json", 12, 16};
    assert_int_equal(sdiff_msg_set_headers(&ex->resp, &h, 1), SDIFF_OK);
    const char *body = "{\"v\":1,\"ts\":1}";
    ex->resp.body_len = ex->resp.body_seen = strlen(body);
    ex->resp.body = sdiff_malloc(ex->resp.body_len);
    memcpy(ex->resp.body, body, ex->resp.body_len);
    return ex;
}

static int append_row(void *ud, int n, char **v, char **names)
{
    (void)names;
    struct sdiff_buf *b = ud;
    for (int i = 0; i < n; i++)
        sdiff_buf_printf(b, "%s%s", i ? "|" : "", v[i] ? v[i] : "NULL");
    sdiff_buf_puts(b, "\n");
    return 0;
}

/* Judge 800 exchanges with n judges (stopping after `stop_after` submitted, 0: never) and
 * return the stored results, grouped; the stats in *stats. */
static char *judge_corpus(const char *dir, unsigned n, size_t stop_after,
                          struct sdiff_replay_run_stats *stats)
{
    char db[4200], target[64];
    snprintf(db, sizeof db, "%s/j%u-%zu.db", dir, n, stop_after);
    struct sdiff_store *st = NULL;
    struct sdiff_rules *rules = NULL;
    struct sdiff_redact *red = NULL;
    struct sdiff_judge *j = NULL;
    struct sdiff_err err = {0};
    struct sdiff_redact_key key = fixed_key(9);
    struct sdiff_redact_opts ro = {.key = &key};
    memset(stats, 0, sizeof *stats);
    recorded_n = 0;
    sdiff_fake_reset();
    sdiff_fake.answer = answer_by_route;
    assert_int_equal(sdiff_store_open(&st, db, NULL, &err), SDIFF_OK);
    assert_int_equal(sdiff_rules_load(&rules, NULL, &err), SDIFF_OK);
    assert_int_equal(sdiff_redact_new(&red, &ro, &err), SDIFF_OK);
    struct sdiff_run_info info = {.kind = "replay"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &stats->run_id, &err), SDIFF_OK);
    assert_int_equal(sdiff_store_commit(st, &err), SDIFF_OK);
    struct sdiff_judge_opts o = {.candidate = "http://cand.invalid",
                                 .secondary = "http://sec.invalid", .rules = rules, .db = st,
                                 .copy_exchanges = 1, .redact = red, .threaded = 1,
                                 .judges = n, .identical_body_every = 10};
    o.replay.transport_ops = &sdiff_fake_transport;
    assert_int_equal(sdiff_judge_new(&j, &o, stats, &err), SDIFF_OK);
    static const char *const routes[] = {"a", "b", "c", "d"};
    size_t i;
    for (i = 0; i < 800 && (stop_after == 0 || i < stop_after); i++) {
        snprintf(target, sizeof target, "/%s/%zu", routes[i % 4], i);
        assert_int_equal(sdiff_judge_submit(j, recorded(i % 10 == 9 ? "POST" : "GET", target),
                                            0, 0, &err),
                         SDIFF_OK);
        while (sdiff_judge_inflight(j) >= 32)
            assert_true(sdiff_judge_poll(j, 10, &err) >= 0);
    }
    if (stop_after) {
        /* the rest of the corpus after a stop: stored as skipped, as a run does */
        for (; i < 800; i++) {
            snprintf(target, sizeof target, "/%s/%zu", routes[i % 4], i);
            assert_int_equal(sdiff_judge_submit(j, recorded("GET", target), 1, 0, &err),
                             SDIFF_OK);
        }
        assert_int_equal(sdiff_judge_abandon(j, "no answer before the drain deadline", &err),
                         SDIFF_OK);
    }
    for (int k = 0; k < 1000 && sdiff_judge_inflight(j) > 0; k++)
        assert_true(sdiff_judge_poll(j, 10, &err) >= 0);
    assert_int_equal(sdiff_judge_inflight(j), 0);
    assert_int_equal(sdiff_judge_finish(j, &err), SDIFF_OK);
    sdiff_judge_free(j);
    assert_int_equal(sdiff_store_commit(st, &err), SDIFF_OK);
    sdiff_store_close(st);
    sdiff_redact_free(red);
    sdiff_rules_free(rules);
    sdiff_fake_reset();

    sqlite3 *h;
    struct sdiff_buf b;
    sdiff_buf_init(&b, 1u << 20);
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    const char *sql =
        "SELECT 'results', route, class, coalesce(skip_reason, ''),"
        " count(*), count(DISTINCT exchange_id) FROM results GROUP BY 2, 3, 4 ORDER BY 2, 3, 4;"
        "SELECT 'diffs', r.route, d.path, d.kind, d.primary_value, d.candidate_value, count(*)"
        " FROM differences d JOIN results r ON r.id = d.result_id WHERE NOT EXISTS (SELECT 1"
        " FROM noise n WHERE n.route = r.route AND n.key = d.path) GROUP BY 2, 3, 4, 5, 6"
        " ORDER BY 2, 3, 4, 5, 6;"
        "SELECT 'noise', route, key FROM noise ORDER BY 2, 3;"
        "SELECT 'canary', count(*) FROM exchanges WHERE instr(req_headers, 'CANARY') > 0;"
        "SELECT 'exchanges', count(*), count(DISTINCT id) FROM exchanges;";
    char *msg = NULL;
    if (sqlite3_exec(h, sql, append_row, &b, &msg) != SQLITE_OK)
        fail_msg("%s", msg);
    sqlite3_close(h);
    return (char *)sdiff_buf_steal(&b, NULL);
}

static void test_judge__four_judges_store_what_one_does(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir();
    struct sdiff_replay_run_stats s1, s4;
    char *one = judge_corpus(dir, 1, 0, &s1), *four = judge_corpus(dir, 4, 0, &s4);
    assert_string_equal(one, four);
    assert_non_null(strstr(one, "results|GET /c/{id}|equivalent||200|200\n"));
    assert_non_null(strstr(one, "results|GET /d/{id}|different||160|160\n"));
    assert_non_null(strstr(one, "diffs|GET /d/{id}|$.v|changed|1|2|160\n"));
    assert_non_null(strstr(one, "canary|0\n"));
    assert_int_equal(s1.cls[SDIFF_CLASS_IDENTICAL], 200);
    assert_int_equal(s1.cls[SDIFF_CLASS_SKIPPED], 80);
    assert_memory_equal(s1.cls, s4.cls, sizeof s1.cls);
    assert_int_equal(s1.noise_learned, s4.noise_learned);
    for (unsigned n = 1; n <= 4; n += 3) {
        char db[4200];
        snprintf(db, sizeof db, "%s/j%u-0.db", dir, n);
        long long early = sdiff_test_db_int(
            db, "SELECT count(*) FROM differences d JOIN results r ON r.id = d.result_id WHERE"
                " EXISTS (SELECT 1 FROM noise n WHERE n.route = r.route AND n.key = d.path)");
        assert_true(early >= 0 && early < 80); /* of 360 judged on /c and /d */
    }
    free(one);
    free(four);
    sdiff_test_rmdir(dir);
    free(dir);
}

/*
 * A stop with records in every stage (in flight, waiting for a judge, judged, being
 * stored): every exchange has exactly one result, and the counts add up.
 */
static void test_judge__stop_with_four_judges_loses_and_doubles_nothing(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir();
    struct sdiff_replay_run_stats s;
    char *rows = judge_corpus(dir, 4, 300, &s);
    assert_non_null(strstr(rows, "exchanges|800|800\n"));
    uint64_t sum = 0;
    for (int c = 0; c < SDIFF_CLASS__COUNT; c++)
        sum += s.cls[c];
    assert_int_equal(sum, 800);
    assert_int_equal(s.exchanges, 800);
    assert_true(s.skip_stopped >= 500);
    long long results = 0, distinct = 0;
    for (const char *p = rows; (p = strstr(p, "results|")) != NULL; p++) {
        const char *bar = p;
        for (int k = 0; k < 4; k++) /* results|route|class|skip reason|count|distinct */
            bar = strchr(bar, '|') + 1;
        results += atoll(bar);
        distinct += atoll(strchr(bar, '|') + 1);
    }
    assert_int_equal(results, 800);
    assert_int_equal(distinct, 800);
    free(rows);
    sdiff_test_rmdir(dir);
    free(dir);
}

/*
 * The queue between the replays, the judges and the writer: with several producers and
 * several consumers on a tiny queue, every item reaches exactly one consumer, and closing
 * it lets everyone go.
 */
enum { QP = 3, QC = 4, QN = 20000 };

struct qside {
    struct sdiff_queue *q;
    size_t base;
    unsigned char *seen; /* per item, how many consumers got it (each consumer its own) */
};

static void *q_producer(void *arg)
{
    struct qside *s = arg;
    for (size_t i = 0; i < QN; i++)
        if (sdiff_queue_push(s->q, (void *)(uintptr_t)(s->base + i + 1)) < 0)
            break;
    return NULL;
}

static void *q_consumer(void *arg)
{
    struct qside *s = arg;
    void *it;
    while ((it = sdiff_queue_pop(s->q, 1)) != NULL)
        s->seen[(uintptr_t)it - 1]++;
    return NULL;
}

static void test_judge__queue_hands_each_item_to_one_consumer(void **state)
{
    (void)state;
    struct sdiff_queue q;
    assert_int_equal(sdiff_queue_init(&q, 8, 4), SDIFF_OK);
    assert_null(sdiff_queue_pop_for(&q, 20)); /* empty and open: gives up at the deadline */
    pthread_t pt[QP], ct[QC];
    struct qside ps[QP], cs[QC];
    for (int i = 0; i < QC; i++) {
        cs[i] = (struct qside){.q = &q, .seen = calloc(QP * QN, 1)};
        assert_non_null(cs[i].seen);
        assert_int_equal(pthread_create(&ct[i], NULL, q_consumer, &cs[i]), 0);
    }
    for (int i = 0; i < QP; i++) {
        ps[i] = (struct qside){.q = &q, .base = (size_t)i * QN};
        assert_int_equal(pthread_create(&pt[i], NULL, q_producer, &ps[i]), 0);
    }
    for (int i = 0; i < QP; i++)
        pthread_join(pt[i], NULL);
    sdiff_queue_close(&q);
    for (int i = 0; i < QC; i++)
        pthread_join(ct[i], NULL);
    assert_true(sdiff_queue_done(&q));
    assert_int_equal(sdiff_queue_push(&q, (void *)1), SDIFF_ERR);
    for (size_t k = 0; k < (size_t)QP * QN; k++) {
        int got = 0;
        for (int i = 0; i < QC; i++)
            got += cs[i].seen[k];
        assert_int_equal(got, 1);
    }
    for (int i = 0; i < QC; i++)
        free(cs[i].seen);
    sdiff_queue_dispose(&q);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_judge__sampling_is_deterministic_and_near_the_rate),
    cmocka_unit_test(test_judge__crafted_requests_cannot_steer_the_sample),
    cmocka_unit_test(test_judge__method_overrides_skipped_forged_markers_counted),
    cmocka_unit_test(test_judge__route_cap_skips_the_excess_with_a_reason),
    cmocka_unit_test(test_judge__route_cap_holds_when_junk_routes_fill_the_table),
    cmocka_unit_test(test_judge__scripted_transport_is_judged_and_stored),
    cmocka_unit_test(test_judge__four_judges_store_what_one_does),
    cmocka_unit_test(test_judge__stop_with_four_judges_loses_and_doubles_nothing),
    cmocka_unit_test(test_judge__queue_hands_each_item_to_one_consumer),
};
SDIFF_TEST_MAIN(tests)
