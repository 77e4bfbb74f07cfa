/*
 * test_verdict.c - the evidence rules on numbers: Wilson and Newcombe intervals against
 * published values, order-statistic ranks against the exact binomial, endpoint and run
 * verdicts for the cases the rules name, and the threshold parsers.
 */
#include "shadowdiff/verdict.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sdiff_test.h"
#include "shadowdiff/rules.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-4)

static void test_verdict__wilson_known_values(void **state)
{
    (void)state;
    NEAR(sdiff_report_wilson_lower(0, 10, 1.96), 0);
    NEAR(sdiff_report_wilson_upper(0, 10, 1.96), 0.27754);
    NEAR(sdiff_report_wilson_lower(10, 10, 1.96), 0.72246);
    NEAR(sdiff_report_wilson_lower(5, 100, 1.96), 0.021543);
    NEAR(sdiff_report_wilson_upper(5, 100, 1.96), 0.111752);
    assert_true(sdiff_report_wilson_lower(0, 0, 1.96) == 0);
}

/* Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80, method 10. */
static void test_verdict__newcombe_published_example(void **state)
{
    (void)state;
    double lo, hi;
    sdiff_report_newcombe(56, 70, 48, 80, 1.96, &lo, &hi);
    NEAR(lo, 0.0524);
    NEAR(hi, 0.3339);
    sdiff_report_newcombe(9, 10, 3, 10, 1.96, &lo, &hi);
    NEAR(lo, 0.170515);
    NEAR(hi, 0.809020);
    /* a dead candidate: 1000 of 1000 failed against none */
    sdiff_report_newcombe(1000, 1000, 0, 1000, 1.96, &lo, &hi);
    assert_true(lo > 0.99 && hi == 1.0);
}

/* Ranks checked against the exact binomial sums (computed independently). */
static void test_verdict__quantile_ranks_exact(void **state)
{
    (void)state;
    uint64_t lo, hi;
    sdiff_report_quantile_ranks(367, 0.99, 0.025, &lo, &hi);
    assert_int_equal(lo, 359);
    assert_int_equal(hi, 0); /* 0.99^367 > 0.025: no upper bound yet */
    sdiff_report_quantile_ranks(368, 0.99, 0.025, &lo, &hi);
    assert_int_equal(lo, 360);
    assert_int_equal(hi, 368);
    sdiff_report_quantile_ranks(1000, 0.99, 0.025, &lo, &hi);
    assert_int_equal(lo, 983);
    assert_int_equal(hi, 997);
    sdiff_report_quantile_ranks(100, 0.5, 0.025, &lo, &hi); /* the textbook median: 40, 61 */
    assert_int_equal(lo, 40);
    assert_int_equal(hi, 61);
    sdiff_report_quantile_ranks(0, 0.99, 0.025, &lo, &hi);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 0);
    assert_int_equal(sdiff_report_quantile_upper_min_n(0.99, 0.025), 368);
    /* a million samples stay cheap and inside the range */
    sdiff_report_quantile_ranks(1000000, 0.99, 0.025, &lo, &hi);
    assert_true(lo > 989000 && lo < 990000 && hi > 990000 && hi < 991000);
}

static void test_verdict__samples_needed(void **state)
{
    (void)state;
    assert_int_equal(sdiff_report_samples_needed(0, 3, 0.01), 381);
    assert_int_equal(sdiff_report_samples_needed(0, 0, 0.01), 381);
    /* 2% observed against 1%: settles (lower bound over 1%) further on, checked directly */
    uint64_t n = sdiff_report_samples_needed(2, 100, 0.01);
    assert_true(n > 100 && n < 2000);
    uint64_t k = (uint64_t)llround(0.02 * (double)n);
    assert_true(sdiff_report_wilson_lower(k, n, 1.96) > 0.01);
    assert_false(sdiff_report_wilson_lower(2 * n / 200, n / 2, 1.96) > 0.01);
    assert_int_equal(sdiff_report_samples_needed(1, 100, 0.01), 0); /* exactly at the line */
}

static struct sdiff_report_endpoint ep(uint64_t judged, uint64_t different, uint64_t errors,
                                       uint64_t cand_5xx, uint64_t prim_5xx)
{
    struct sdiff_report_endpoint e;
    memset(&e, 0, sizeof e);
    e.method = "GET";
    e.route = "/x";
    e.identical = judged - different;
    e.different = different;
    e.errors = errors;
    e.judged = judged;
    e.replayed = judged + errors;
    e.samples = e.replayed;
    e.candidate_failed = errors + cand_5xx;
    e.primary_5xx = prim_5xx;
    e.primary.p99 = e.candidate.p99 = -1;
    e.primary.p99_lower = e.primary.p99_upper = -1;
    e.candidate.p99_lower = e.candidate.p99_upper = -1;
    return e;
}

static const struct sdiff_report_thresholds TH = SDIFF_REPORT_THRESHOLDS_INIT;

static void test_verdict__endpoint_rules(void **state)
{
    (void)state;
    /* a dead candidate: nothing judged, 1000 refused: blocked by the error rule */
    struct sdiff_report_endpoint e = ep(0, 0, 1000, 0, 0);
    sdiff_report_decide_endpoint(&e, &TH);
    assert_int_equal(e.verdict, SDIFF_REPORT_BLOCKED);
    assert_non_null(strstr(e.reasons[0], "error increase lower bound"));
    /* the small-sample disaster: 20 of 21 different, below min_samples: still blocked */
    e = ep(21, 20, 0, 0, 0);
    sdiff_report_decide_endpoint(&e, &TH);
    assert_int_equal(e.verdict, SDIFF_REPORT_BLOCKED);
    assert_non_null(strstr(e.reasons[0], "mismatch lower bound"));
    /* 5 of 100: bound 2.2%..11%: blocked at 1% */
    e = ep(100, 5, 0, 0, 0);
    sdiff_report_decide_endpoint(&e, &TH);
    assert_int_equal(e.verdict, SDIFF_REPORT_BLOCKED);
    /* 1 in 100 straddles 1%: insufficient, with the count that would settle it */
    e = ep(200, 1, 0, 0, 0);
    sdiff_report_decide_endpoint(&e, &TH);
    assert_int_equal(e.verdict, SDIFF_REPORT_INSUFFICIENT);
    assert_true(e.needed > 200);
    /* clean and plenty: ready */
    e = ep(1000, 0, 0, 0, 0);
    sdiff_report_decide_endpoint(&e, &TH);
    assert_int_equal(e.verdict, SDIFF_REPORT_READY);
    assert_int_equal(e.nreasons, 0);
    /* clean but under min_samples even with a loose bound: never ready */
    struct sdiff_report_thresholds loose = TH;
    loose.max_mismatch = loose.max_error_increase = 0.9;
    e = ep(10, 0, 0, 0, 0);
    sdiff_report_decide_endpoint(&e, &loose);
    assert_int_equal(e.verdict, SDIFF_REPORT_INSUFFICIENT);
    assert_non_null(strstr(e.reasons[0], "below min_samples 30"));
    /* the primary failing as often as the candidate is no increase */
    e = ep(1000, 0, 0, 100, 100);
    sdiff_report_decide_endpoint(&e, &loose);
    assert_int_equal(e.verdict, SDIFF_REPORT_READY);
}

static void test_verdict__latency_only_judged_with_bounds(void **state)
{
    (void)state;
    struct sdiff_report_endpoint e = ep(1000, 0, 0, 0, 0);
    /* a wild p99 ratio without the primary's upper bound changes nothing */
    e.primary.p99 = 10;
    e.candidate.p99 = 50;
    e.candidate.p99_lower = 45;
    sdiff_report_decide_endpoint(&e, &TH);
    assert_int_equal(e.verdict, SDIFF_REPORT_READY);
    assert_false(e.latency_judged);
    assert_int_equal(e.latency_needed, 368);
    /* with both bounds: 45 > 1.5 x 20 blocks, 45 <= 1.5 x 30 does not */
    e.primary.p99_upper = 20;
    sdiff_report_decide_endpoint(&e, &TH);
    assert_int_equal(e.verdict, SDIFF_REPORT_BLOCKED);
    assert_non_null(strstr(e.reasons[0], "p99 latency"));
    e.primary.p99_upper = 30;
    sdiff_report_decide_endpoint(&e, &TH);
    assert_int_equal(e.verdict, SDIFF_REPORT_READY);
    assert_true(e.latency_judged);
}

/* A report of hand-made endpoints, decided; caller frees r->endpoints. */
static void decide(struct sdiff_report *r, struct sdiff_report_endpoint *eps, size_t n)
{
    memset(r, 0, sizeof *r);
    r->thresholds = TH;
    r->endpoints = eps;
    r->nendpoints = n;
    for (size_t i = 0; i < n; i++) {
        sdiff_report_decide_endpoint(&eps[i], &r->thresholds);
        r->totals.judged += eps[i].judged;
        r->totals.different += eps[i].different;
        r->totals.replayed += eps[i].replayed;
        r->totals.samples += eps[i].samples;
        r->totals.candidate_failed += eps[i].candidate_failed;
        r->totals.primary_5xx += eps[i].primary_5xx;
    }
    sdiff_report_decide_run(r);
}

static void test_verdict__run_rules(void **state)
{
    (void)state;
    struct sdiff_report r;
    /* nothing at all: inconclusive */
    decide(&r, NULL, 0);
    assert_int_equal(r.verdict, SDIFF_REPORT_INCONCLUSIVE);
    assert_non_null(strstr(r.run_reasons[0], "nothing judged"));
    assert_string_equal(sdiff_report_run_verdict_str(r.verdict), "inconclusive");

    /* 16 routes, 1000 clean samples: none ready, all covered, the run passes */
    struct sdiff_report_endpoint eps[16];
    for (int i = 0; i < 16; i++)
        eps[i] = ep(i < 8 ? 62 : 63, 0, 0, 0, 0);
    decide(&r, eps, 16);
    assert_int_equal(r.totals.judged, 1000);
    assert_int_equal(r.verdict, SDIFF_REPORT_PASS);
    assert_true(r.pass);
    assert_int_equal(r.nready, 0);
    for (int i = 0; i < 16; i++)
        assert_true(eps[i].covered);
    assert_non_null(strstr(r.run_reasons[0], "unweighted over the sample"));

    /* one route with a difference it cannot settle: inconclusive, and the reason names it */
    eps[3] = ep(62, 1, 0, 0, 0);
    decide(&r, eps, 16);
    assert_int_equal(r.verdict, SDIFF_REPORT_INCONCLUSIVE);
    int named = 0;
    for (size_t i = 0; i < r.nrun_reasons; i++)
        named |= strstr(r.run_reasons[i], "GET /x: insufficient data") != NULL;
    assert_true(named);

    /* a dead candidate on one route fails the run */
    eps[3] = ep(0, 0, 62, 0, 0);
    decide(&r, eps, 16);
    assert_int_equal(r.verdict, SDIFF_REPORT_FAIL);
    assert_non_null(strstr(r.run_reasons[0], "GET /x blocked: error increase lower bound"));

    /* the same counts decide the same way every time */
    for (int k = 0; k < 10; k++) {
        decide(&r, eps, 16);
        assert_int_equal(r.verdict, SDIFF_REPORT_FAIL);
    }
}

static void test_verdict__threshold_parsers(void **state)
{
    (void)state;
    struct sdiff_err err = {0};
    double v;
    assert_int_equal(sdiff_report_parse_rate("0.05", "--max-mismatch", &v, "report", &err), 0);
    assert_true(v == 0.05);
    assert_int_equal(sdiff_report_parse_rate("5%", "--max-mismatch", &v, "report", &err), 0);
    assert_true(v == 0.05);
    assert_int_equal(sdiff_report_parse_rate("0", "--max-mismatch", &v, "report", &err), 0);
    assert_int_equal(sdiff_report_parse_rate("100%", "--max-mismatch", &v, "report", &err), 0);
    assert_true(v == 1);
    const char *bad[] = {"5", "-0.1", "101%", "5 %", "x", "", "0.05x", "nan", "inf", "1e400"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(sdiff_report_parse_rate(bad[i], "--max-mismatch", &v, "report", &err),
                         SDIFF_EINVAL);
    }
    memset(&err, 0, sizeof err);
    sdiff_report_parse_rate("5", "--max-mismatch", &v, "report", &err);
    assert_string_equal(err.msg, "--max-mismatch: '5' is not a rate (use 0.05 or 5%)");
    assert_string_equal(err.where, "report");

    assert_int_equal(sdiff_report_parse_ratio("1.5", "--max-p99-ratio", &v, "gate", &err), 0);
    assert_true(v == 1.5);
    assert_int_equal(sdiff_report_parse_ratio("+50%", "--max-p99-ratio", &v, "gate", &err), 0);
    assert_true(v == 1.5);
    assert_int_equal(sdiff_report_parse_ratio("1", "--max-p99-ratio", &v, "gate", &err), 0);
    const char *badr[] = {"0.5", "50%", "+-5%", "+5", "-1", "", "+%"};
    for (size_t i = 0; i < sizeof badr / sizeof *badr; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(sdiff_report_parse_ratio(badr[i], "--max-p99-ratio", &v, "gate", &err),
                         SDIFF_EINVAL);
    }
    memset(&err, 0, sizeof err);
    sdiff_report_parse_ratio("0.5", "--max-p99-ratio", &v, "gate", &err);
    assert_string_equal(err.msg, "--max-p99-ratio: '0.5' is not a ratio (use 1.5 or +50%)");
}

static void write_config(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_verdict__policy_flags_over_config(void **state)
{
    (void)state;
    char *dir = sdiff_test_tmpdir(), path[600];
    struct sdiff_rules *rules = NULL;
    struct sdiff_err err = {0};
    struct sdiff_report_policy p;
    memset(&p, 0, sizeof p);
    snprintf(path, sizeof path, "%s/c.json", dir);
    write_config(path, "{\"thresholds\": {\"max_mismatch\": \"2%\", \"min_samples\": 50,"
                       " \"max_p99_ratio\": \"+20%\", \"max_error_increase\": 0.03}}");
    assert_int_equal(sdiff_rules_load(&rules, path, &err), SDIFF_OK);
    assert_int_equal(sdiff_report_policy_resolve(&p, rules, NULL, "gate", &err), SDIFF_OK);
    assert_true(p.thresholds.max_mismatch == 0.02 && p.thresholds.min_samples == 50);
    assert_true(fabs(p.thresholds.max_p99_ratio - 1.2) < 1e-12);
    assert_true(p.thresholds.max_error_increase == 0.03);
    assert_true(p.config == rules);
    struct sdiff_report_threshold_flags fl = {.max_mismatch = "0.5%"};
    assert_int_equal(sdiff_report_policy_resolve(&p, rules, &fl, "gate", &err), SDIFF_OK);
    assert_true(p.thresholds.max_mismatch == 0.005 && p.thresholds.min_samples == 50);
    sdiff_rules_free(rules);
    rules = NULL;

    /* a config value means the same as a flag: 5 is not a rate there either */
    write_config(path, "{\"thresholds\": {\"max_mismatch\": 5}}");
    assert_int_equal(sdiff_rules_load(&rules, path, &err), SDIFF_OK);
    memset(&err, 0, sizeof err);
    assert_int_equal(sdiff_report_policy_resolve(&p, rules, NULL, "report", &err), SDIFF_EINVAL);
    assert_string_equal(err.msg, "thresholds.max_mismatch: '5' is not a rate (use 0.05 or 5%)");
    sdiff_rules_free(rules);
    sdiff_test_rmdir(dir);
    free(dir);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdict__wilson_known_values),
        cmocka_unit_test(test_verdict__newcombe_published_example),
        cmocka_unit_test(test_verdict__quantile_ranks_exact),
        cmocka_unit_test(test_verdict__samples_needed),
        cmocka_unit_test(test_verdict__endpoint_rules),
        cmocka_unit_test(test_verdict__latency_only_judged_with_bounds),
        cmocka_unit_test(test_verdict__run_rules),
        cmocka_unit_test(test_verdict__threshold_parsers),
        cmocka_unit_test(test_verdict__policy_flags_over_config),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
