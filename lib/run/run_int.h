#ifndef SDIFF_RUN_INT_H
#define SDIFF_RUN_INT_H
/*
 * run_int.h - internal to run/: what the pipelines share besides the judge.
 */
#include "shadowdiff/run.h"

/*
 * The state a run ends in: failed when it failed (rc < 0) before judging anything (no
 * result but skipped ones), so that it never hides the previous run; interrupted when a
 * signal stopped it and a signal is not the normal end (stop_is_normal: mirror), or when it
 * failed after judging something; finished otherwise.
 */
enum sdiff_run_state sdiff__run_end_state(int rc, int stopped, int stop_is_normal,
                                          const struct sdiff_replay_run_stats *st);

/* End run st->run_id of db in the state above, with the run's summary as JSON. */
int sdiff__run_finish(struct sdiff_store *db, int rc, int stopped, int stop_is_normal,
                      const struct sdiff_replay_run_stats *st, struct sdiff_err *err);

/*
 * The run's marker, fixed before its record is made: jo->replay.marker as given, or, when
 * NULL, "X-Shadowdiff: <new run token>" written into line (jo->replay.marker then points to
 * it). *token: the marker's value for the run record (runs.marker_token), NULL when none.
 */
int sdiff__run_marker(struct sdiff_judge_opts *jo, char line[SDIFF_REPLAY_MARKER_MAX],
                      const char **token, struct sdiff_err *err);

#endif
