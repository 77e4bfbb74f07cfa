#ifndef SDIFF_METRICS_H
#define SDIFF_METRICS_H

#include "shadowdiff/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/metrics.h - a small HTTP endpoint (libmicrohttpd, its own thread) serving
 * Prometheus text at /metrics, liveness at /healthz and readiness at /readyz. The owner
 * renders the text and sets the readiness; the server only copies the latest out, so
 * scraping never touches the pipeline's state. Thread-safe: publish from any one thread.
 */

struct sdiff_metrics;

/**
 * Listen on "ADDR:PORT" ("127.0.0.1:9464", "[::1]:9464", or ":9464" for loopback).
 * @return SDIFF_OK, SDIFF_EINVAL (bad address), SDIFF_ENET (cannot listen); free with _stop
 */
SDIFF_API int sdiff_metrics_start(struct sdiff_metrics **out, const char *addr,
                                  struct sdiff_err *err);
SDIFF_API void sdiff_metrics_stop(struct sdiff_metrics *m);
/** Replace the text served at /metrics (copied). */
SDIFF_API int sdiff_metrics_publish(struct sdiff_metrics *m, const char *text, size_t len);
/**
 * What /readyz answers: 200 "ready: WHY" or 503 "not ready: WHY" (one line; why is copied,
 * cut at 200 bytes, and made printable). Until the first call: 503 "not ready: starting".
 */
SDIFF_API void sdiff_metrics_set_ready(struct sdiff_metrics *m, int ready, const char *why);

#ifdef __cplusplus
}
#endif
#endif
