#ifndef SDIFF_VERDICT_H
#define SDIFF_VERDICT_H

#include <stddef.h>
#include <stdint.h>

#include "shadowdiff/core.h"
#include "shadowdiff/report.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/verdict.h - the evidence rules of a step decision, and the policy (thresholds
 * and waivers) that report, gate and mirror share.
 *
 * Pure functions over counts and sorted latency samples: no database, no clock, no
 * randomness, so the same numbers always give the same verdict. Intervals are two-sided 95%
 * (z = 1.96): Wilson score intervals for a proportion, Newcombe's hybrid score interval for a
 * difference of two proportions, distribution-free order-statistic bounds for a quantile.
 * The rules themselves are written out in lib/report/README.md. Thread-safe (no state).
 */

#define SDIFF_REPORT_Z95 1.96

/** Lower bound of the Wilson score interval of k in n at z; 0 when n == 0. */
SDIFF_API double sdiff_report_wilson_lower(uint64_t k, uint64_t n, double z);

/**
 * Newcombe's interval (method 10, from two Wilson intervals) of k1/n1 - k2/n2 at z.
 * n1 or n2 == 0: that proportion's interval is [0, 1].
 */
SDIFF_API void sdiff_report_newcombe(uint64_t k1, uint64_t n1, uint64_t k2, uint64_t n2,
                                     double z, double *lo, double *hi);

/**
 * 1-based ranks of the order statistics that bound the q-quantile of n samples, each side
 * missing the true quantile with probability at most tail (0.025 for a two-sided 95%
 * interval): P(X(lo) > quantile) <= tail and P(X(hi) < quantile) <= tail, exactly, from the
 * binomial distribution. A side with no such rank is 0.
 */
SDIFF_API void sdiff_report_quantile_ranks(uint64_t n, double q, double tail, uint64_t *lo,
                                           uint64_t *hi);

/** The fewest samples for which the upper rank of the q-quantile exists (368 for p99). */
SDIFF_API uint64_t sdiff_report_quantile_upper_min_n(double q, double tail);

/**
 * Judged results needed for the Wilson interval of a rate like k/n to fall wholly on one side
 * of t (assuming the observed rate holds); 0 when the rate equals t or more than 10^9
 * would be needed.
 */
SDIFF_API uint64_t sdiff_report_samples_needed(uint64_t k, uint64_t n, double t);

/**
 * Decide one endpoint from its counts and latency bounds under th: fills verdict, reasons,
 * mismatch_lower, error_increase_*, needed, latency_judged, latency_needed and p99_ratio.
 * Does not set covered (that needs the run: sdiff_report_decide_run).
 */
SDIFF_API void sdiff_report_decide_endpoint(struct sdiff_report_endpoint *e,
                                            const struct sdiff_report_thresholds *th);

/**
 * Decide the run from its decided endpoints and r->totals (counts summed): the overall
 * bounds, covered endpoints, nready/nblocked/ninsufficient, verdict, pass and run_reasons.
 */
SDIFF_API void sdiff_report_decide_run(struct sdiff_report *r);

/** "pass", "fail", "inconclusive". */
SDIFF_API const char *sdiff_report_run_verdict_str(enum sdiff_report_run_verdict v);

/* ---- thresholds and policy ----------------------------------------------------------- */

/**
 * A rate: a fraction in [0, 1] ("0.05") or a percentage "N%" with 0 <= N <= 100. name is the
 * flag or key named in the error ("--max-mismatch"); where is err's where (the command).
 * @return SDIFF_OK, or SDIFF_EINVAL "NAME: 'S' is not a rate (use 0.05 or 5%)"
 */
SDIFF_API int sdiff_report_parse_rate(const char *s, const char *name, double *out,
                                      const char *where, struct sdiff_err *err);
/**
 * A latency ratio: R >= 1 ("1.5") or "+N%" (N >= 0: "+50%" is 1.5).
 * @return SDIFF_OK, or SDIFF_EINVAL "NAME: 'S' is not a ratio (use 1.5 or +50%)"
 */
SDIFF_API int sdiff_report_parse_ratio(const char *s, const char *name, double *out,
                                       const char *where, struct sdiff_err *err);

/* Threshold flags as given on a command line; NULL when not given. */
struct sdiff_report_threshold_flags {
    const char *min_samples, *max_mismatch, *max_p99_ratio, *max_error_increase;
};

struct sdiff_rules;

/*
 * One policy for every command that decides: thresholds from the flags, else the config's
 * "thresholds", else the defaults; the config's waivers (and the database's, when a report
 * is built). config is borrowed and must outlive the policy's use.
 */
struct sdiff_report_policy {
    struct sdiff_report_thresholds thresholds;
    const struct sdiff_rules *config; /* NULL: no config file */
};

/**
 * Resolve the policy from config (may be NULL) and flags (may be NULL), checking every value
 * with the parsers above (config keys are named "thresholds.max_mismatch").
 * @return SDIFF_OK or SDIFF_EINVAL (one line naming the flag or key)
 */
SDIFF_API int sdiff_report_policy_resolve(struct sdiff_report_policy *p,
                                          const struct sdiff_rules *config,
                                          const struct sdiff_report_threshold_flags *flags,
                                          const char *where, struct sdiff_err *err);

#ifdef __cplusplus
}
#endif
#endif
