/*
 * verdict.c - the evidence rules: Wilson and Newcombe intervals, order-statistic bounds of
 * the p99, the endpoint verdict (ready / blocked / insufficient data) and the run verdict
 * (pass / fail / inconclusive) with its reasons; and the threshold parsers and policy that
 * every command shares. Pure and deterministic: counts in, decision out (lib/report/README.md
 * states the rules).
 */
#include "shadowdiff/verdict.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shadowdiff/rules.h"

#define Z SDIFF_REPORT_Z95
#define TAIL 0.025 /* each side of a two-sided 95% interval */
#define NEEDED_CAP 1000000000ull

/* ---- intervals --------------------------------------------------------------------------- */

double sdiff_report_wilson_lower(uint64_t k, uint64_t n, double z)
{
    if (n == 0)
        return 0.0;
    double nn = (double)n, p = (double)k / nn, z2 = z * z;
    double center = p + z2 / (2 * nn);
    double margin = z * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    double l = (center - margin) / (1 + z2 / nn);
    /* k == 0 gives exactly 0 in exact arithmetic; keep rounding from making it -1e-17 */
    return l < 0 || k == 0 ? 0 : l;
}

void sdiff_report_newcombe(uint64_t k1, uint64_t n1, uint64_t k2, uint64_t n2, double z,
                           double *lo, double *hi)
{
    double p1 = n1 ? (double)k1 / (double)n1 : 0, p2 = n2 ? (double)k2 / (double)n2 : 0;
    double l1 = sdiff_report_wilson_lower(k1, n1, z), u1 = sdiff_report_wilson_upper(k1, n1, z);
    double l2 = sdiff_report_wilson_lower(k2, n2, z), u2 = sdiff_report_wilson_upper(k2, n2, z);
    double d = p1 - p2;
    *lo = d - sqrt((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2));
    *hi = d + sqrt((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2));
}

/* log P(B = k) for B ~ Binomial(n, q), 0 < q < 1 */
static double log_pmf(uint64_t n, uint64_t k, double q)
{
    double nn = (double)n, kk = (double)k;
    return lgamma(nn + 1) - lgamma(kk + 1) - lgamma(nn - kk + 1) + kk * log(q) +
           (nn - kk) * log1p(-q);
}

/*
 * B counts the samples below the true quantile: B ~ Binomial(n, q). X(l) exceeds the
 * quantile only when B < l, and X(u) falls short only when B >= u. The walks start where
 * the skipped mass is below 1e-40 (twelve standard deviations from the mean), so a million
 * samples cost tens of thousands of terms, not a million.
 */
void sdiff_report_quantile_ranks(uint64_t n, double q, double tail, uint64_t *lo, uint64_t *hi)
{
    *lo = *hi = 0;
    if (n == 0 || !(q > 0 && q < 1))
        return;
    double mean = (double)n * q, sd = sqrt((double)n * q * (1 - q));
    double from = floor(mean - 12 * sd - 1);
    uint64_t k0 = from > 0 ? (uint64_t)from : 0;
    double cum = 0;
    for (uint64_t k = k0; k <= n; k++) {
        cum += exp(log_pmf(n, k, q));
        if (cum > tail)
            break;
        *lo = k + 1; /* P(B <= k) <= tail: rank k + 1 */
    }
    double to = ceil(mean + 12 * sd + 1);
    uint64_t k1 = to < (double)n ? (uint64_t)to : n;
    cum = 0;
    for (uint64_t k = k1;; k--) {
        cum += exp(log_pmf(n, k, q));
        if (cum > tail)
            break;
        *hi = k; /* P(B >= k) <= tail: rank k */
        if (k == 0)
            break;
    }
    if (*hi == 0 || *hi > n)
        *hi = 0;
}

uint64_t sdiff_report_quantile_upper_min_n(double q, double tail)
{
    /* the upper rank first exists when P(B = n) = q^n <= tail */
    if (!(q > 0 && q < 1) || !(tail > 0 && tail < 1))
        return 0;
    uint64_t n = (uint64_t)ceil(log(tail) / log(q));
    while (n > 1 && pow(q, (double)(n - 1)) <= tail)
        n--;
    while (pow(q, (double)n) > tail)
        n++;
    return n;
}

/* Whether the Wilson interval of round(p * m) in m lies wholly on one side of t. */
static int settled_at(double p, uint64_t m, double t)
{
    uint64_t k = (uint64_t)llround(p * (double)m);
    return sdiff_report_wilson_upper(k, m, Z) <= t || sdiff_report_wilson_lower(k, m, Z) > t;
}

uint64_t sdiff_report_samples_needed(uint64_t k, uint64_t n, double t)
{
    double p = n ? (double)k / (double)n : 0;
    if (n && p == t)
        return 0;
    if (p == 0 && t > 0) {
        /* Wilson upper bound of 0/m is z^2 / (m + z^2) */
        double m = ceil(Z * Z * (1 - t) / t);
        return m > (double)NEEDED_CAP ? 0 : (uint64_t)m;
    }
    uint64_t hi = n ? n : 1;
    while (!settled_at(p, hi, t)) {
        if (hi >= NEEDED_CAP)
            return 0;
        hi *= 2;
    }
    uint64_t lo = hi / 2; /* not settled at lo (or lo == 0) */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (settled_at(p, mid, t))
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

/* Whether Newcombe's interval of p1 - p2 over m each lies wholly on one side of t. */
static int err_settled_at(double p1, double p2, uint64_t m, double t)
{
    double lo, hi;
    sdiff_report_newcombe((uint64_t)llround(p1 * (double)m), m, (uint64_t)llround(p2 * (double)m),
                          m, Z, &lo, &hi);
    return hi <= t || lo > t;
}

/* Replayed results the error rule needs, projected with the observed rates; 0: unknown. */
static uint64_t errors_needed(uint64_t failed, uint64_t p5xx, uint64_t rr, double t)
{
    double p1 = (double)failed / (double)rr, p2 = (double)p5xx / (double)rr;
    uint64_t hi = rr;
    while (!err_settled_at(p1, p2, hi, t)) {
        if (hi >= NEEDED_CAP)
            return 0;
        hi *= 2;
    }
    uint64_t lo = hi / 2;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (err_settled_at(p1, p2, mid, t))
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

/* ---- decisions --------------------------------------------------------------------------- */

static void ep_reason(struct sdiff_report_endpoint *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void ep_reason(struct sdiff_report_endpoint *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (e->nreasons < SDIFF_REPORT_MAX_REASONS)
        vsnprintf(e->reasons[e->nreasons++], sizeof e->reasons[0], fmt, ap);
    va_end(ap);
}

static void run_reason(struct sdiff_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void run_reason(struct sdiff_report *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (r->nrun_reasons < SDIFF_REPORT_MAX_RUN_REASONS)
        vsnprintf(r->run_reasons[r->nrun_reasons++], sizeof r->run_reasons[0], fmt, ap);
    va_end(ap);
}

static double pct(double v)
{
    return 100 * v;
}

static uint64_t unwaived(const struct sdiff_report_endpoint *e)
{
    return e->different > e->accepted ? e->different - e->accepted : 0;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

void sdiff_report_decide_endpoint(struct sdiff_report_endpoint *e,
                                  const struct sdiff_report_thresholds *th)
{
    uint64_t d = unwaived(e), n = e->judged, rr = e->replayed;
    /*
     * Two strata when both sides answered 4xx to some requests and not to others: the 4xx
     * ones are judged apart, so that thousands of identical 404s cannot pull the mismatch
     * bound of the rest under the threshold. The rest decides the endpoint (its bounds are
     * the endpoint's); the 4xx stratum can only block it. Accepted differences are taken
     * from the 4xx stratum first, which can only make the rest look worse, never better.
     */
    uint64_t n4 = 0, d4 = 0;
    if (e->both_4xx && e->both_4xx < n && e->both_4xx_different <= e->different) {
        uint64_t acc4 = e->accepted < e->both_4xx_different ? e->accepted
                                                            : e->both_4xx_different;
        uint64_t rest_diff = e->different - e->both_4xx_different, rest_acc = e->accepted - acc4;
        n4 = e->both_4xx;
        d4 = e->both_4xx_different - acc4;
        n -= n4;
        d = rest_diff > rest_acc ? rest_diff - rest_acc : 0;
    }
    e->nreasons = 0;
    e->covered = 0;
    e->needed = 0;
    e->mismatch_upper = n ? sdiff_report_wilson_upper(d, n, Z) : -1;
    e->mismatch_lower = n ? sdiff_report_wilson_lower(d, n, Z) : -1;
    e->error_increase_lower = e->error_increase_upper = 0;
    if (rr)
        sdiff_report_newcombe(e->candidate_failed, rr, e->primary_5xx, rr, Z,
                              &e->error_increase_lower, &e->error_increase_upper);
    e->p99_ratio = e->primary.p99 > 0 && e->candidate.p99 >= 0
                       ? e->candidate.p99 / e->primary.p99
                       : -1;

    /* blocked: the evidence says the candidate is worse, whatever min_samples says */
    if (n && e->mismatch_lower > th->max_mismatch)
        ep_reason(e, "mismatch lower bound %.2f%% > %.2f%% (%llu of %llu judged different%s)",
                  pct(e->mismatch_lower), pct(th->max_mismatch), (unsigned long long)d,
                  (unsigned long long)n, n4 ? ", apart from those both sides answered 4xx" : "");
    if (n4 && sdiff_report_wilson_lower(d4, n4, Z) > th->max_mismatch)
        ep_reason(e,
                  "both sides answered 4xx: mismatch lower bound %.2f%% > %.2f%% (%llu of %llu"
                  " judged different)",
                  pct(sdiff_report_wilson_lower(d4, n4, Z)), pct(th->max_mismatch),
                  (unsigned long long)d4, (unsigned long long)n4);
    if (rr && e->error_increase_lower > th->max_error_increase)
        ep_reason(e,
                  "error increase lower bound %.2f%% > %.2f%% (candidate failed %llu of %llu"
                  " replayed, primary 5xx %llu)",
                  pct(e->error_increase_lower), pct(th->max_error_increase),
                  (unsigned long long)e->candidate_failed, (unsigned long long)rr,
                  (unsigned long long)e->primary_5xx);
    /* latency: judged only when both bounds exist; otherwise it never decides anything */
    uint64_t need_n = sdiff_report_quantile_upper_min_n(0.99, TAIL);
    e->latency_judged = e->candidate.p99_lower >= 0 && e->primary.p99_upper >= 0;
    e->latency_needed = 0;
    if (e->latency_judged) {
        if (e->candidate.p99_lower > th->max_p99_ratio * e->primary.p99_upper)
            ep_reason(e,
                      "p99 latency: candidate's lower bound %.1f ms > %.2f x primary's upper"
                      " bound %.1f ms",
                      e->candidate.p99_lower, th->max_p99_ratio, e->primary.p99_upper);
    } else {
        e->latency_needed = need_n;
    }
    if (e->nreasons) {
        e->verdict = SDIFF_REPORT_BLOCKED;
        return;
    }
    /* a 4xx stratum with differences it cannot yet bound keeps the endpoint from ready:
     * judging it apart must never turn differences into a pass */
    int mismatch_ok = n && e->mismatch_upper <= th->max_mismatch &&
                      (d4 == 0 || sdiff_report_wilson_upper(d4, n4, Z) <= th->max_mismatch);
    int errors_ok = rr && e->error_increase_upper <= th->max_error_increase;
    if (n >= th->min_samples && mismatch_ok && errors_ok) {
        e->verdict = SDIFF_REPORT_READY;
        return;
    }
    e->verdict = SDIFF_REPORT_INSUFFICIENT;
    uint64_t need = th->min_samples;
    if (!mismatch_ok) {
        uint64_t m = sdiff_report_samples_needed(d, n, th->max_mismatch);
        need = m ? max_u64(need, m) : 0;
    }
    if (need && !errors_ok && rr) {
        uint64_t m = errors_needed(e->candidate_failed, e->primary_5xx, rr,
                                   th->max_error_increase);
        need = m ? max_u64(need, m) : 0;
    }
    e->needed = need;
    if (n == 0 && rr == 0)
        ep_reason(e, "nothing judged");
    else if (d == 0 && !mismatch_ok && e->accepted)
        ep_reason(e,
                  "no unwaived difference in %llu judged (%llu accepted); about %llu needed to"
                  " bound it under %.2f%%",
                  (unsigned long long)n, (unsigned long long)e->accepted,
                  (unsigned long long)e->needed, pct(th->max_mismatch));
    else if (d == 0 && !mismatch_ok)
        ep_reason(e, "no difference in %llu judged; about %llu needed to bound it under %.2f%%",
                  (unsigned long long)n, (unsigned long long)e->needed, pct(th->max_mismatch));
    else if (!mismatch_ok)
        ep_reason(e,
                  "%llu of %llu judged different: mismatch bound %.2f%%-%.2f%% around %.2f%%;"
                  " about %llu judged needed",
                  (unsigned long long)d, (unsigned long long)n, pct(e->mismatch_lower),
                  pct(e->mismatch_upper), pct(th->max_mismatch), (unsigned long long)e->needed);
    else if (!errors_ok)
        ep_reason(e, "error increase bound %.2f%%-%.2f%% around %.2f%%; about %llu needed",
                  pct(e->error_increase_lower), pct(e->error_increase_upper),
                  pct(th->max_error_increase), (unsigned long long)e->needed);
    else
        ep_reason(e, "%llu judged, below min_samples %llu", (unsigned long long)n,
                  (unsigned long long)th->min_samples);
}

const char *sdiff_report_run_verdict_str(enum sdiff_report_run_verdict v)
{
    switch (v) {
    case SDIFF_REPORT_PASS: return "pass";
    case SDIFF_REPORT_FAIL: return "fail";
    case SDIFF_REPORT_INCONCLUSIVE: return "inconclusive";
    }
    return "inconclusive";
}

static const char *ep_name(const struct sdiff_report_endpoint *e, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s%.120s", e->method, e->method[0] ? " " : "", e->route);
    return buf;
}

void sdiff_report_decide_run(struct sdiff_report *r)
{
    const struct sdiff_report_thresholds *th = &r->thresholds;
    const struct sdiff_report_endpoint *t = &r->totals;
    uint64_t d = unwaived(t), n = t->judged, rr = t->replayed;
    char name[140];
    r->nrun_reasons = 0;
    r->nready = r->nblocked = r->ninsufficient = 0;
    r->mismatch_upper = n ? sdiff_report_wilson_upper(d, n, Z) : -1;
    r->mismatch_lower = n ? sdiff_report_wilson_lower(d, n, Z) : -1;
    r->error_increase_lower = r->error_increase_upper = 0;
    if (rr)
        sdiff_report_newcombe(t->candidate_failed, rr, t->primary_5xx, rr, Z,
                              &r->error_increase_lower, &r->error_increase_upper);
    int overall_mismatch_ok = n && r->mismatch_upper <= th->max_mismatch;
    int overall_errors_ok = rr && r->error_increase_upper <= th->max_error_increase;
    int overall_fail_mismatch = n && r->mismatch_lower > th->max_mismatch;
    int overall_fail_errors = rr && r->error_increase_lower > th->max_error_increase;

    size_t unready_diff = 0;
    for (size_t i = 0; i < r->nendpoints; i++) {
        struct sdiff_report_endpoint *e = &r->endpoints[i];
        if (e->verdict == SDIFF_REPORT_BLOCKED)
            r->nblocked++;
        else if (e->verdict == SDIFF_REPORT_READY)
            r->nready++;
        else
            r->ninsufficient++;
        e->covered = e->verdict == SDIFF_REPORT_INSUFFICIENT && unwaived(e) == 0 &&
                     overall_mismatch_ok && overall_errors_ok;
        if (e->verdict != SDIFF_REPORT_READY && e->verdict != SDIFF_REPORT_BLOCKED &&
            unwaived(e) > 0)
            unready_diff++;
    }

    if (r->nblocked || overall_fail_mismatch || overall_fail_errors) {
        r->verdict = SDIFF_REPORT_FAIL;
        size_t shown = 0;
        for (size_t i = 0; i < r->nendpoints; i++) {
            const struct sdiff_report_endpoint *e = &r->endpoints[i];
            if (e->verdict != SDIFF_REPORT_BLOCKED)
                continue;
            if (shown + 1 == SDIFF_REPORT_MAX_RUN_REASONS - 2 && r->nblocked > shown + 1) {
                run_reason(r, "and %zu more blocked endpoints", r->nblocked - shown);
                break;
            }
            run_reason(r, "%s blocked: %s", ep_name(e, name, sizeof name), e->reasons[0]);
            shown++;
        }
        if (overall_fail_mismatch)
            run_reason(r,
                       "overall mismatch lower bound %.2f%% > %.2f%% (%llu of %llu judged"
                       " different, unweighted over the sample)",
                       pct(r->mismatch_lower), pct(th->max_mismatch), (unsigned long long)d,
                       (unsigned long long)n);
        if (overall_fail_errors)
            run_reason(r,
                       "overall error increase lower bound %.2f%% > %.2f%% (candidate failed"
                       " %llu of %llu replayed, primary 5xx %llu)",
                       pct(r->error_increase_lower), pct(th->max_error_increase),
                       (unsigned long long)t->candidate_failed, (unsigned long long)rr,
                       (unsigned long long)t->primary_5xx);
    } else if (unready_diff == 0 && overall_mismatch_ok && overall_errors_ok) {
        r->verdict = SDIFF_REPORT_PASS;
        run_reason(r,
                   "no endpoint blocked; overall mismatch upper bound %.2f%% <= %.2f%% over"
                   " %llu judged (unweighted over the sample)",
                   pct(r->mismatch_upper), pct(th->max_mismatch), (unsigned long long)n);
        run_reason(r, "overall error increase upper bound %.2f%% <= %.2f%% over %llu replayed",
                   pct(r->error_increase_upper), pct(th->max_error_increase),
                   (unsigned long long)rr);
    } else {
        r->verdict = SDIFF_REPORT_INCONCLUSIVE;
        if (n == 0 && rr == 0)
            run_reason(r, "nothing judged: %llu results, none replayed",
                       (unsigned long long)t->samples);
        if (n && !overall_mismatch_ok)
            run_reason(r,
                       "overall mismatch bound %.2f%%-%.2f%% around %.2f%% over %llu judged;"
                       " about %llu judged needed",
                       pct(r->mismatch_lower), pct(r->mismatch_upper), pct(th->max_mismatch),
                       (unsigned long long)n,
                       (unsigned long long)sdiff_report_samples_needed(d, n, th->max_mismatch));
        if (rr && !overall_errors_ok)
            run_reason(r, "overall error increase bound %.2f%%-%.2f%% around %.2f%% over %llu"
                          " replayed",
                       pct(r->error_increase_lower), pct(r->error_increase_upper),
                       pct(th->max_error_increase), (unsigned long long)rr);
        for (size_t i = 0; i < r->nendpoints; i++) {
            const struct sdiff_report_endpoint *e = &r->endpoints[i];
            if (e->verdict != SDIFF_REPORT_INSUFFICIENT || unwaived(e) == 0)
                continue;
            if (r->nrun_reasons == SDIFF_REPORT_MAX_RUN_REASONS - 1) {
                run_reason(r, "and more endpoints with differences but insufficient data");
                break;
            }
            run_reason(r, "%s: insufficient data: %s", ep_name(e, name, sizeof name),
                       e->reasons[0]);
        }
    }
    r->pass = r->verdict == SDIFF_REPORT_PASS;
}

/* ---- thresholds and policy --------------------------------------------------------------- */

static int parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    if (s == NULL || *s == '\0' || *s == ' ')
        return -1;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v))
        return -1;
    *out = v;
    return (int)(end - s);
}

int sdiff_report_parse_rate(const char *s, const char *name, double *out, const char *where,
                            struct sdiff_err *err)
{
    double v;
    int used = parse_number(s, &v);
    if (used > 0 && s[used] == '%' && s[used + 1] == '\0' && v >= 0 && v <= 100) {
        *out = v / 100;
        return SDIFF_OK;
    }
    if (used > 0 && s[used] == '\0' && v >= 0 && v <= 1) {
        *out = v;
        return SDIFF_OK;
    }
    return sdiff_err_set(err, SDIFF_EINVAL, where, "%s: '%.40s' is not a rate (use 0.05 or 5%%)",
                         name, s ? s : "");
}

int sdiff_report_parse_ratio(const char *s, const char *name, double *out, const char *where,
                             struct sdiff_err *err)
{
    double v;
    if (s && s[0] == '+') {
        int used = parse_number(s + 1, &v);
        if (used > 0 && s[1] != '-' && s[1] != '+' && s[1 + used] == '%' &&
            s[2 + used] == '\0' && v >= 0) {
            *out = 1 + v / 100;
            return SDIFF_OK;
        }
    } else {
        int used = parse_number(s, &v);
        if (used > 0 && s[used] == '\0' && v >= 1) {
            *out = v;
            return SDIFF_OK;
        }
    }
    return sdiff_err_set(err, SDIFF_EINVAL, where,
                         "%s: '%.40s' is not a ratio (use 1.5 or +50%%)", name, s ? s : "");
}

static int parse_count(const char *s, const char *name, uint64_t *out, const char *where,
                       struct sdiff_err *err)
{
    char *end;
    errno = 0;
    /* the config gives numbers as "%.17g": 30 is "30" */
    if (s && s[0] >= '0' && s[0] <= '9') {
        unsigned long long v = strtoull(s, &end, 10);
        if (errno == 0 && *end == '\0') {
            *out = v;
            return SDIFF_OK;
        }
    }
    return sdiff_err_set(err, SDIFF_EINVAL, where, "%s: '%.40s' is not a count", name,
                         s ? s : "");
}

int sdiff_report_policy_resolve(struct sdiff_report_policy *p, const struct sdiff_rules *config,
                                const struct sdiff_report_threshold_flags *flags,
                                const char *where, struct sdiff_err *err)
{
    static const struct sdiff_report_thresholds defaults = SDIFF_REPORT_THRESHOLDS_INIT;
    static const struct sdiff_report_threshold_flags none = {0};
    if (SDIFF_NEVER(p == NULL))
        return SDIFF_EINVAL;
    if (flags == NULL)
        flags = &none;
    uint64_t since = p->thresholds.since_us;
    p->thresholds = defaults;
    p->thresholds.since_us = since;
    p->config = config;
    struct sdiff_report_thresholds *th = &p->thresholds;
    const char *v;
    int rc = SDIFF_OK;
    /* a flag wins over the config's key; both go through the same parser */
    if ((v = flags->min_samples) != NULL)
        rc = parse_count(v, "--min-samples", &th->min_samples, where, err);
    else if ((v = sdiff_rules_threshold_text(config, "min_samples")) != NULL)
        rc = parse_count(v, "thresholds.min_samples", &th->min_samples, where, err);
    if (rc < 0)
        return rc;
    if ((v = flags->max_mismatch) != NULL)
        rc = sdiff_report_parse_rate(v, "--max-mismatch", &th->max_mismatch, where, err);
    else if ((v = sdiff_rules_threshold_text(config, "max_mismatch")) != NULL)
        rc = sdiff_report_parse_rate(v, "thresholds.max_mismatch", &th->max_mismatch, where,
                                     err);
    if (rc < 0)
        return rc;
    if ((v = flags->max_error_increase) != NULL)
        rc = sdiff_report_parse_rate(v, "--max-error-increase", &th->max_error_increase, where,
                                     err);
    else if ((v = sdiff_rules_threshold_text(config, "max_error_increase")) != NULL)
        rc = sdiff_report_parse_rate(v, "thresholds.max_error_increase",
                                     &th->max_error_increase, where, err);
    if (rc < 0)
        return rc;
    if ((v = flags->max_p99_ratio) != NULL)
        rc = sdiff_report_parse_ratio(v, "--max-p99-ratio", &th->max_p99_ratio, where, err);
    else if ((v = sdiff_rules_threshold_text(config, "max_p99_ratio")) != NULL)
        rc = sdiff_report_parse_ratio(v, "thresholds.max_p99_ratio", &th->max_p99_ratio, where,
                                      err);
    return rc;
}
