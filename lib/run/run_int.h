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

/*
 * A run's progress: counts what the judge finishes (through its on_result, which the ticker
 * wraps and still calls, from whichever thread judges) and calls the run's progress function
 * from the run's own thread, at most every `every` seconds and once with final set.
 */
struct sdiff__ticker {
    sdiff_run_progress_fn fn;      /* NULL: the ticker does nothing */
    void *ud;
    double every, t0, last;
    uint64_t total, submitted;     /* the run's own thread only */
    _Atomic uint64_t different, errors;
    void (*chained)(const char *route, enum sdiff_class cls, double primary_ms,
                    double candidate_ms, void *ud);
    void *chained_ud;
};

/* Start ticking; hooks jo's on_result (jo must outlive the judge built from it). */
void sdiff__ticker_start(struct sdiff__ticker *t, sdiff_run_progress_fn fn, void *ud,
                         double every_s, uint64_t total, struct sdiff_judge_opts *jo);
/* Call fn when it is time (final: now, whatever the time), with inflight still out. */
void sdiff__ticker_tick(struct sdiff__ticker *t, size_t inflight, int final);

#endif
