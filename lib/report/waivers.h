#ifndef SDIFF_REPORT_WAIVERS_H
#define SDIFF_REPORT_WAIVERS_H
/*
 * waivers.h - internal to report/: matching the waivers of the database and of the config
 * file against a report's clusters (waivers.c), and opening a results database to read.
 */
#include <sqlite3.h>

#include "shadowdiff/report.h"

/*
 * Open a results database read-only for report or inspect: a regular file, a schema this
 * version understands, and probe (SQL) must run. Errors name where and the path, one line.
 */
int sdiff__report_open_db(const char *path, const char *where, const char *probe, sqlite3 **db,
                          struct sdiff_err *err);

/*
 * Match the waivers of db (table `waivers`, when it exists) and of config (may be NULL)
 * against r's clusters (ids already set): marks clusters waived or expired, adds the
 * waived counts to their endpoints' `accepted` and recomputes their mismatch bound, and
 * lists the matching waivers in r->waivers. Call before judging.
 * @return SDIFF_OK, SDIFF_EDB, SDIFF_ENOMEM
 */
int sdiff__report_apply_waivers(sqlite3 *db, struct sdiff_report *r,
                                const struct sdiff_rules *config, struct sdiff_err *err);

/* Today's date in UTC, "YYYY-MM-DD". */
void sdiff__report_today(char out[11]);
/* 1 when s is "YYYY-MM-DD" and a real calendar day. */
int sdiff__report_valid_date(const char *s);

#endif
