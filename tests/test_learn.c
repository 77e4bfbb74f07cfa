/*
 * test_learn.c - learned noise needs evidence: K disagreeing answer pairs of the old service,
 * from enough clients, over more than a second. One disagreement (the poisoning case: a user
 * edits their own record between two answers), one busy client, or a burst never make a
 * field noise; a field that varies for everyone does, from a second instance or from the
 * primary's own repeated answers, and its evidence is kept.
 */
#include "sdiff_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shadowdiff/diff.h"

#define T0 1800000000000000ull /* capture time, microseconds */

struct fx {
    struct sdiff_differ *d;
    struct sdiff_noise *noise;
    struct sdiff_learner *l;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (f == NULL || sdiff_differ_new(&f->d, NULL, NULL) < 0 || sdiff_noise_new(&f->noise) < 0 ||
        sdiff_learner_new(&f->l, f->noise, NULL) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    sdiff_learner_free(f->l);
    sdiff_noise_free(f->noise);
    sdiff_differ_free(f->d);
    free(f);
    return 0;
}

/* A JSON answer with these fields (status 200 unless status is given). */
static struct sdiff_msg answer(int status, const char *json)
{
    char text[2048];
    snprintf(text, sizeof text,
             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             status, strlen(json), json);
    struct sdiff_msg m;
    struct sdiff_err err = {0};
    if (sdiff_msg_read_response((const uint8_t *)text, strlen(text), 1 << 20, &m, &err) < 0)
        fail_msg("cannot read test response: %s", err.msg);
    return m;
}

/* GET target, with an Authorization header when auth is not NULL. */
static struct sdiff_msg request(const char *target, const char *auth)
{
    struct sdiff_msg m = {0};
    struct sdiff_hfield h[2] = {{"Host", "svc", 4, 3}, {"Authorization", auth, 13, 0}};
    m.present = 1;
    m.method = "GET";
    m.target = (char *)target;
    if (auth)
        h[1].value_len = strlen(auth);
    assert_int_equal(sdiff_msg_set_headers(&m, h, auth ? 2 : 1), SDIFF_OK);
    return m;
}

/* One primary-vs-secondary pair; returns the keys learned. */
static int secondary(struct fx *f, const char *route, const char *p, const char *s,
                     const char *client, uint64_t t)
{
    struct sdiff_msg a = answer(200, p), b = answer(200, s);
    struct sdiff_err err = {0};
    int n = sdiff_learner_secondary(f->l, f->d, &a, &b, route, client, t, &err);
    sdiff_msg_dispose(&a);
    sdiff_msg_dispose(&b);
    assert_true(n >= 0);
    return n;
}

/* The primary answers target (for auth) with json; returns the keys learned. */
static int repeat(struct fx *f, const char *target, const char *auth, const char *json,
                  const char *client, uint64_t t)
{
    struct sdiff_msg q = request(target, auth), a = answer(200, json);
    struct sdiff_err err = {0};
    int n = sdiff_learner_answer(f->l, f->d, &q, &a, "GET /api/me", client, t, &err);
    sdiff_msg_dispose(&q);
    sdiff_msg_dispose(&a);
    assert_true(n >= 0);
    return n;
}

static void test_learn__one_disagreement_is_never_noise(void **state)
{
    struct fx *f = *state;
    /* the user edited their record between the two answers */
    assert_int_equal(secondary(f, "GET /api/me", "{\"email\":\"a@x\",\"name\":\"A\"}",
                               "{\"email\":\"b@x\",\"name\":\"B\"}", "10.0.0.1:5000", T0),
                     0);
    assert_false(sdiff_noise_has(f->noise, "GET /api/me", "$.email"));
    struct sdiff_noise_evidence ev;
    assert_int_equal(sdiff_learner_evidence(f->l, "GET /api/me", "$.email", &ev), 1);
    assert_int_equal(ev.pairs, 1);
    assert_false(ev.learned);
}

static void test_learn__many_pairs_from_one_connection_are_not_enough(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 50; i++) {
        char p[64], s[64];
        snprintf(p, sizeof p, "{\"email\":\"a%d@x\"}", i);
        snprintf(s, sizeof s, "{\"email\":\"b%d@x\"}", i);
        secondary(f, "GET /api/me", p, s, "10.0.0.1:5000", T0 + (uint64_t)i * 500000);
    }
    assert_false(sdiff_noise_has(f->noise, "GET /api/me", "$.email"));
}

static void test_learn__a_burst_under_a_second_is_not_enough(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 10; i++) {
        char client[32];
        snprintf(client, sizeof client, "10.0.0.1:%d", 5000 + i);
        secondary(f, "GET /r", "{\"n\":1}", "{\"n\":2}", client, T0 + (uint64_t)i * 50000);
    }
    assert_false(sdiff_noise_has(f->noise, "GET /r", "$.n"));
}

static void test_learn__k_pairs_from_three_clients_over_a_second_make_noise(void **state)
{
    struct fx *f = *state;
    int learned = 0;
    for (int i = 0; i < 5; i++) {
        char client[32];
        snprintf(client, sizeof client, "127.0.0.1:%d", 40000 + i % 3);
        learned += secondary(f, "GET /api/report", "{\"items\":[{\"n\":1,\"k\":\"a\"}]}",
                             "{\"items\":[{\"n\":2,\"k\":\"a\"}]}", client,
                             T0 + (uint64_t)i * 400000);
        /* not before the fifth pair */
        assert_int_equal(sdiff_noise_has(f->noise, "GET /api/report", "$.items[*].n"), i == 4);
    }
    assert_int_equal(learned, 1);
    assert_false(sdiff_noise_has(f->noise, "GET /api/report", "$.items[*].k"));
    struct sdiff_noise_evidence ev;
    assert_int_equal(sdiff_learner_evidence(f->l, "GET /api/report", "$.items[*].n", &ev), 1);
    assert_string_equal(ev.source, "secondary");
    assert_int_equal(ev.pairs, 5);
    assert_int_equal(ev.clients, 3);
    assert_true(ev.learned);
    assert_true(ev.confidence >= 0.49 && ev.confidence <= 0.51);
    assert_true(ev.nexamples >= 2);
    assert_string_equal(ev.examples[0], "1");
    assert_int_equal(sdiff_learner_stats(f->l)->learned, 1);
}

static void test_learn__repeated_answers_teach_without_a_second_instance(void **state)
{
    struct fx *f = *state;
    int learned = 0;
    /* the same request, answered with a new generated_at each time: one clock field */
    for (int i = 0; i < 7; i++) {
        char json[128], client[32];
        snprintf(json, sizeof json, "{\"total\":42,\"generated_at\":\"run-%d\"}", i);
        snprintf(client, sizeof client, "127.0.0.1:%d", 41000 + i);
        learned += repeat(f, "/api/report?day=1", NULL, json, client, T0 + (uint64_t)i * 300000);
    }
    assert_int_equal(learned, 1);
    assert_true(sdiff_noise_has(f->noise, "GET /api/me", "$.generated_at"));
    assert_false(sdiff_noise_has(f->noise, "GET /api/me", "$.total"));
    struct sdiff_noise_evidence ev;
    assert_int_equal(sdiff_learner_evidence(f->l, "GET /api/me", "$.generated_at", &ev), 1);
    assert_string_equal(ev.source, "repeat");
    assert_int_equal(ev.pairs, 6); /* seven answers, six pairs */
}

static void test_learn__different_requests_are_never_paired(void **state)
{
    struct fx *f = *state;
    /* /api/me for ten users: ten different answers, but ten different requests */
    for (int i = 0; i < 10; i++) {
        char json[64], auth[64], client[32];
        snprintf(json, sizeof json, "{\"email\":\"user%d@x\"}", i);
        snprintf(auth, sizeof auth, "Bearer hmac:%016d", i);
        snprintf(client, sizeof client, "127.0.0.1:%d", 42000 + i);
        repeat(f, "/api/me", auth, json, client, T0 + (uint64_t)i * 500000);
        repeat(f, "/api/me?x", auth, json, client, T0 + (uint64_t)i * 500000 + 1);
    }
    assert_int_equal(sdiff_learner_stats(f->l)->pairs, 0);
    assert_false(sdiff_noise_has(f->noise, "GET /api/me", "$.email"));
}

/*
 * Once traffic comes from several addresses, one address is one client however many
 * connections it opens: an attacker on one address editing their own record cannot teach.
 */
static void test_learn__one_address_is_one_client_among_many(void **state)
{
    struct fx *f = *state;
    repeat(f, "/api/health", NULL, "{\"ok\":true}", "127.0.0.2:30000", T0);
    repeat(f, "/api/health", NULL, "{\"ok\":true}", "127.0.0.3:30000", T0 + 1);
    for (int i = 0; i < 40; i++) {
        char json[64], client[32];
        snprintf(json, sizeof json, "{\"email\":\"evil%d@x\"}", i);
        snprintf(client, sizeof client, "127.0.0.9:%d", 50000 + i);
        repeat(f, "/api/me", "Bearer hmac:00000000000000aa", json, client,
               T0 + (uint64_t)i * 200000);
    }
    assert_false(sdiff_noise_has(f->noise, "GET /api/me", "$.email"));
    struct sdiff_noise_evidence ev;
    assert_int_equal(sdiff_learner_evidence(f->l, "GET /api/me", "$.email", &ev), 1);
    assert_int_equal(ev.pairs, 39);
    assert_int_equal(ev.clients, 1);
}

static void test_learn__volatile_shapes_lower_k_but_need_evidence(void **state)
{
    struct fx *f = *state;
    static const char *ids[] = {"6f1c2a9e-8d3b-4c1e-9f2a-1b2c3d4e5f60",
                                "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                                "deadbeef-0000-4000-8000-000000000001",
                                "11111111-2222-4333-8444-555555555555"};
    for (int i = 0; i < 3; i++) {
        char p[96], s[96], client[32];
        snprintf(p, sizeof p, "{\"request_id\":\"%s\"}", ids[i]);
        snprintf(s, sizeof s, "{\"request_id\":\"%s\"}", ids[i + 1]);
        snprintf(client, sizeof client, "127.0.0.1:%d", 43000 + i);
        secondary(f, "GET /u", p, s, client, T0 + (uint64_t)i * 600000);
    }
    /* three pairs are enough for ids, not for a plain field */
    assert_true(sdiff_noise_has(f->noise, "GET /u", "$.request_id"));
    struct sdiff_noise_evidence ev;
    assert_int_equal(sdiff_learner_evidence(f->l, "GET /u", "$.request_id", &ev), 1);
    assert_true(ev.shaped);
    /* a time near the capture time is volatile; one far from it is data */
    for (int i = 0; i < 3; i++) {
        char client[32];
        snprintf(client, sizeof client, "127.0.0.1:%d", 44000 + i);
        secondary(f, "GET /t", "{\"at\":\"2027-01-15T08:00:00Z\",\"born\":\"1990-01-01T00:00:00Z\"}",
                  "{\"at\":\"2027-01-15T08:00:01Z\",\"born\":\"1991-01-01T00:00:00Z\"}", client,
                  1800000000000000ull + (uint64_t)i * 600000);
    }
    assert_true(sdiff_noise_has(f->noise, "GET /t", "$.at"));
    assert_false(sdiff_noise_has(f->noise, "GET /t", "$.born"));
    /* even ids need more than one client */
    for (int i = 0; i < 6; i++)
        secondary(f, "GET /v", "{\"id\":\"6f1c2a9e-8d3b-4c1e-9f2a-1b2c3d4e5f60\"}",
                  "{\"id\":\"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\"}", "127.0.0.1:1",
                  T0 + (uint64_t)i * 600000);
    assert_false(sdiff_noise_has(f->noise, "GET /v", "$.id"));
}

static void test_learn__other_statuses_do_not_count(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 8; i++) {
        struct sdiff_msg a = answer(200, "{\"n\":1}"), b = answer(503, "{\"n\":2}");
        char client[32];
        snprintf(client, sizeof client, "127.0.0.1:%d", 45000 + i);
        struct sdiff_err err = {0};
        assert_int_equal(sdiff_learner_secondary(f->l, f->d, &a, &b, "GET /s", client,
                                                 T0 + (uint64_t)i * 500000, &err),
                         0);
        sdiff_msg_dispose(&a);
        sdiff_msg_dispose(&b);
    }
    assert_false(sdiff_noise_has(f->noise, "GET /s", "$.n"));
}

/* A flood of made-up keys stops tracking at the bound: nothing learned, counted. */
static void test_learn__candidates_are_bounded(void **state)
{
    (void)state;
    struct sdiff_differ *d;
    struct sdiff_noise *noise;
    struct sdiff_learner *l;
    struct sdiff_noise_rule rule = {.max_candidates = 10};
    assert_int_equal(sdiff_differ_new(&d, NULL, NULL), SDIFF_OK);
    assert_int_equal(sdiff_noise_new(&noise), SDIFF_OK);
    assert_int_equal(sdiff_learner_new(&l, noise, &rule), SDIFF_OK);
    for (int i = 0; i < 30; i++) {
        char route[32];
        snprintf(route, sizeof route, "GET /zz%d", i);
        struct sdiff_msg a = answer(200, "{\"n\":1}"), b = answer(200, "{\"n\":2}");
        struct sdiff_err err = {0};
        assert_int_equal(sdiff_learner_secondary(l, d, &a, &b, route, "127.0.0.1:1", T0, &err), 0);
        sdiff_msg_dispose(&a);
        sdiff_msg_dispose(&b);
    }
    assert_int_equal(sdiff_learner_stats(l)->untracked, 20);
    sdiff_learner_free(l);
    sdiff_noise_free(noise);
    sdiff_differ_free(d);
}

static int settled_ids[16], nsettled;

static int on_settled(int64_t id, void *ud)
{
    (void)ud;
    settled_ids[nsettled++] = (int)id;
    return 0;
}

/*
 * A result judged before the evidence was in is held; once its keys are noise it is handed
 * back to be made equivalent. A difference on a key the old service never varies on, a
 * status or a whole body stays different.
 */
static void test_learn__held_results_settle_when_their_keys_become_noise(void **state)
{
    struct fx *f = *state;
    nsettled = 0;
    struct sdiff_msg p = answer(200, "{\"at\":\"x1\",\"n\":1}");
    struct sdiff_msg c1 = answer(200, "{\"at\":\"y\",\"n\":1}");  /* differs on $.at */
    struct sdiff_msg c2 = answer(200, "{\"at\":\"y\",\"n\":2}");  /* and on $.n: a bug */
    struct sdiff_msg c3 = answer(500, "{\"at\":\"y\",\"n\":1}");  /* a status */
    struct sdiff_diff_result r1, r2, r3;
    assert_int_equal(sdiff_differ_compare(f->d, &p, &c1, "GET /a", f->noise, &r1, NULL), 0);
    assert_int_equal(sdiff_differ_compare(f->d, &p, &c2, "GET /a", f->noise, &r2, NULL), 0);
    assert_int_equal(sdiff_differ_compare(f->d, &p, &c3, "GET /a", f->noise, &r3, NULL), 0);
    assert_int_equal(sdiff_learner_hold(f->l, "GET /a", &r1, 11), 1);
    assert_int_equal(sdiff_learner_hold(f->l, "GET /a", &r2, 12), 1);
    assert_int_equal(sdiff_learner_hold(f->l, "GET /a", &r3, 13), 0);
    sdiff_diff_result_dispose(&r1);
    sdiff_diff_result_dispose(&r2);
    sdiff_diff_result_dispose(&r3);
    assert_int_equal(sdiff_learner_settle(f->l, on_settled, NULL), 0);
    assert_int_equal(nsettled, 0); /* nothing learned yet */
    /* the old service varies on $.at for everyone */
    for (int i = 0; i < 5; i++) {
        char a[64], b[64], client[32];
        snprintf(a, sizeof a, "{\"at\":\"p%d\",\"n\":1}", i);
        snprintf(b, sizeof b, "{\"at\":\"s%d\",\"n\":1}", i);
        snprintf(client, sizeof client, "127.0.0.1:%d", 47000 + i);
        secondary(f, "GET /a", a, b, client, T0 + (uint64_t)i * 500000);
    }
    assert_true(sdiff_noise_has(f->noise, "GET /a", "$.at"));
    assert_int_equal(sdiff_learner_settle(f->l, on_settled, NULL), 0);
    assert_int_equal(nsettled, 1);
    assert_int_equal(settled_ids[0], 11);
    /* settled once; the bug stays held and different */
    assert_int_equal(sdiff_learner_settle(f->l, on_settled, NULL), 0);
    assert_int_equal(nsettled, 1);
    assert_int_equal(sdiff_learner_stats(f->l)->held, 2);
    assert_int_equal(sdiff_learner_stats(f->l)->settled, 1);
    sdiff_msg_dispose(&p);
    sdiff_msg_dispose(&c1);
    sdiff_msg_dispose(&c2);
    sdiff_msg_dispose(&c3);
}

/*
 * Examples are data from the wire: a header value with bytes that are not UTF-8, or a value
 * cut inside a UTF-8 sequence, is kept (as \u00XX) in valid JSON, never dropped.
 */
static void test_learn__examples_keep_any_bytes_as_json(void **state)
{
    (void)state;
    struct sdiff_noise_evidence ev = {.nexamples = 3,
                                      .examples = {"plain", "caf\xc3", "\"q\"\x1b[31m\xff"}};
    struct sdiff_buf b;
    sdiff_buf_init(&b, 4096);
    assert_int_equal(sdiff_noise_examples_json(&ev, &b), SDIFF_OK);
    assert_int_equal(sdiff_buf_append(&b, "", 1), SDIFF_OK);
    const char *j = (const char *)b.data;
    assert_string_equal(j, "[\"plain\",\"caf\\u00c3\",\"\\\"q\\\"\\u001b[31m\\u00ff\"]");
    sdiff_buf_dispose(&b);
}

/* Every allocation of learning may fail: an error, never a crash or a leak. */
static int oom_run(void *ud)
{
    (void)ud;
    struct sdiff_differ *d = NULL;
    struct sdiff_noise *noise = NULL;
    struct sdiff_learner *l = NULL;
    int rc = sdiff_differ_new(&d, NULL, NULL);
    if (rc >= 0)
        rc = sdiff_noise_new(&noise);
    if (rc >= 0)
        rc = sdiff_learner_new(&l, noise, NULL);
    for (int i = 0; rc >= 0 && i < 6; i++) {
        char json[64], client[32];
        snprintf(json, sizeof json, "{\"n\":%d,\"items\":[1,%d]}", i, i);
        snprintf(client, sizeof client, "127.0.0.1:%d", 46000 + i);
        /* built here, not by the helpers: their allocations fail too */
        char text[256];
        snprintf(text, sizeof text, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
                 strlen(json), json);
        struct sdiff_msg q = {.present = 1, .method = "GET", .target = "/x"}, a;
        struct sdiff_hfield host = {"Host", "svc", 4, 3};
        struct sdiff_err err = {0};
        rc = sdiff_msg_set_headers(&q, &host, 1);
        if (rc < 0)
            break;
        rc = sdiff_msg_read_response((const uint8_t *)text, strlen(text), 1 << 20, &a, &err);
        if (rc >= 0) {
            rc = sdiff_learner_answer(l, d, &q, &a, "GET /x", client, T0 + (uint64_t)i * 500000,
                                      &err);
            sdiff_msg_dispose(&a);
        }
        sdiff_msg_dispose(&q);
    }
    sdiff_learner_free(l);
    sdiff_noise_free(noise);
    sdiff_differ_free(d);
    return rc < 0 ? rc : 0;
}

static void test_learn__out_of_memory_anywhere_is_an_error(void **state)
{
    (void)state;
    assert_true(sdiff_test_oom_sweep(oom_run, NULL, 20000) > 10);
}

static const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_learn__one_disagreement_is_never_noise, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_learn__many_pairs_from_one_connection_are_not_enough,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_learn__a_burst_under_a_second_is_not_enough, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_learn__k_pairs_from_three_clients_over_a_second_make_noise, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_learn__repeated_answers_teach_without_a_second_instance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_learn__different_requests_are_never_paired, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_learn__one_address_is_one_client_among_many, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_learn__volatile_shapes_lower_k_but_need_evidence,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_learn__other_statuses_do_not_count, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_learn__held_results_settle_when_their_keys_become_noise, setup, teardown),
        cmocka_unit_test(test_learn__candidates_are_bounded),
        cmocka_unit_test(test_learn__examples_keep_any_bytes_as_json),
        cmocka_unit_test(test_learn__out_of_memory_anywhere_is_an_error),
};

SDIFF_TEST_MAIN(tests)
