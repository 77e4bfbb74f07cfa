#ifndef SDIFF_REPORT_HTML_H
#define SDIFF_REPORT_HTML_H
/*
 * report_html.h - the HTML format of sdiff_report_render (render_html.c), and the value
 * formatting every format shares (render.c). Internal to lib/report.
 */
#include <stdio.h>

#include "shadowdiff/report.h"

/*
 * Write r to f as one self-contained HTML page (inline CSS and SVG, no script, no external
 * asset). Cannot fail by itself: the caller checks ferror(f).
 */
void sdiff__report_render_html(const struct sdiff_report *r, FILE *f);
/* The cost section's table (cost.c); nothing when no side was sampled. */
void sdiff__report_cost_html(const struct sdiff_report *r, FILE *f);

/* Microseconds since the epoch -> "2024-05-01T12:00:00.123Z"; "-" when unknown. */
const char *sdiff__report_iso_time(uint64_t us, char *buf, size_t cap);
/* A fraction as "12.34%"; "-" when negative (unknown). */
const char *sdiff__report_pct(double v, char *buf, size_t cap);
/* Milliseconds as "12.3"; "-" when negative (unknown). */
const char *sdiff__report_ms(double v, char *buf, size_t cap);
/*
 * The run's labels (a JSON object text, may be NULL or invalid) as "k=v, k=v" in key order,
 * into out (reset first), unescaped: each format escapes it by its own rules. NULL when the
 * run has none.
 */
const char *sdiff__report_labels(const char *labels_json, struct sdiff_buf *out);

#endif
