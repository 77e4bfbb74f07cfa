#ifndef SDIFF_REPORT_WAIVERS_H
#define SDIFF_REPORT_WAIVERS_H
/*
 * waivers.h - internal to report/: matching the waivers of the database and of the config
 * file against a report's clusters (waivers.c).
 */
#include "shadowdiff/report.h"

struct sdiff__report_source; /* report/report_int.h */

/*
 * Match the waivers of src (the database's, when it has any) and of config (may be NULL)
 * against r's clusters (ids already set): marks clusters waived or expired, adds the
 * waived counts to their endpoints' `accepted` and recomputes their mismatch bound, and
 * lists the matching waivers in r->waivers. Call before judging.
 * @return SDIFF_OK, SDIFF_EDB, SDIFF_ENOMEM
 */
int sdiff__report_apply_waivers(const struct sdiff__report_source *src, struct sdiff_report *r,
                                const struct sdiff_rules *config, struct sdiff_err *err);

/* Today's date in UTC, "YYYY-MM-DD". */
void sdiff__report_today(char out[11]);
/* 1 when s is "YYYY-MM-DD" and a real calendar day. */
int sdiff__report_valid_date(const char *s);

#endif
