#ifndef SDIFF_RUN_JUDGE_INT_H
#define SDIFF_RUN_JUDGE_INT_H
/*
 * judge_int.h - the judge's replay decisions that other runs share (gate's eligibility).
 */
#include "shadowdiff/run.h"

/*
 * Whether a request may not be replayed because a method override it carries
 * (sdiff_replay_overrides) names a method that is not allowed (the same rules as its own
 * method: GET, HEAD, OPTIONS, extra, the config and the route). why gets the skip reason,
 * starting "method override".
 */
int sdiff__judge_override_blocked(const struct sdiff_rules *rules, const char *route,
                                  const struct sdiff_msg *req, const char *const *extra,
                                  size_t nextra, char *why, size_t whysz);

#endif
