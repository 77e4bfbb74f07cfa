#ifndef SDIFF_REPORT_HTML_H
#define SDIFF_REPORT_HTML_H
/*
 * report_html.h - the HTML format of sdiff_report_render (render_html.c), shared with
 * render.c only.
 */
#include <stdio.h>

#include "shadowdiff/report.h"

/*
 * Write r to f as one self-contained HTML page (inline CSS and SVG, no script, no external
 * asset). Cannot fail by itself: the caller checks ferror(f).
 */
void sdiff__report_render_html(const struct sdiff_report *r, FILE *f);

#endif
