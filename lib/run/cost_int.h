#ifndef SDIFF_COST_INT_H
#define SDIFF_COST_INT_H
/*
 * cost_int.h - internal to run/: the cost sampler replay, mirror and gate start beside their
 * judge (cost_run.c).
 */
#include "shadowdiff/run.h"

enum { SDIFF__COST_PRIMARY = 0, SDIFF__COST_CANDIDATE = 1 };

struct sdiff__cost;

/*
 * Start sampling for run run_id of db_path (a handle of the sampler's own, opened with so) as
 * instance instance_id: *out stays NULL when o names no source. Takes the first sample now.
 * With jo, hooks its on_result (before the judge is made from it) to count the candidate's
 * answers, and the live primary's when primary_live. A database that cannot be opened is a
 * warning, not a failure. @return SDIFF_OK, SDIFF_ENOMEM, SDIFF_ERR (no thread)
 */
int sdiff__cost_start(struct sdiff__cost **out, const struct sdiff_cost_opts *o,
                      const char *db_path, const struct sdiff_store_opts *so, int64_t run_id,
                      const char *instance_id, int primary_live, struct sdiff_judge_opts *jo,
                      struct sdiff_err *err);
/* n more requests served by side (SDIFF__COST_PRIMARY: mirror's captured requests). Any
 * thread; NULL-safe. */
void sdiff__cost_served(struct sdiff__cost *c, int side, uint64_t n);
/* Take the last sample, stop the thread, free. Returns the samples stored. NULL-safe. */
uint64_t sdiff__cost_stop(struct sdiff__cost *c);

#endif
