#ifndef SDIFF_DOCTOR_H
#define SDIFF_DOCTOR_H

#include <stddef.h>
#include <stdint.h>

#include "shadowdiff/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/doctor.h - a preflight before mirror or gate: can this process capture, is
 * traffic on the service's port, are the candidate and the primary reachable, can the store
 * be written, is the redaction key usable. Each check reports one line with what to do.
 * Opens nothing it keeps; creates no file. Not thread-safe (it opens a capture).
 */

enum sdiff_doctor_status { SDIFF_DOCTOR_OK = 0, SDIFF_DOCTOR_WARN, SDIFF_DOCTOR_FAIL };

struct sdiff_doctor_opts {
    const char *interface;      /* live capture to try, or NULL: no capture checks */
    const uint16_t *ports;      /* the service's ports (the capture filter) */
    size_t nports;
    double wait_s;              /* how long to wait for a packet on those ports (0: 5) */
    const char *candidate, *primary, *secondary; /* URLs to reach, or NULL */
    const char *db;             /* results database to write, or NULL */
    const char *redact_key;     /* key file, or NULL */
    double connect_timeout_s;   /* 0: 2 */
};

/* One check's outcome: check is a short name ("capture"), what says what was found, fix what
 * to do (NULL when there is nothing to do). Strings are valid during the call only. */
typedef void (*sdiff_doctor_fn)(enum sdiff_doctor_status st, const char *check, const char *what,
                                const char *fix, void *ud);

/**
 * Run every check that o asks for, in order: capture, traffic, candidate, primary, secondary,
 * store, redaction key.
 * @return the number of checks that failed (>= 0), or SDIFF_EINVAL for options that name
 *         nothing to check
 */
SDIFF_API int sdiff_doctor_run(const struct sdiff_doctor_opts *o, sdiff_doctor_fn fn, void *ud,
                               struct sdiff_err *err);

#ifdef __cplusplus
}
#endif
#endif
