/*
 * cmd_accept.c - `shadowdiff accept`: record an accepted difference (a waiver of one
 * discrepancy cluster of the latest run) in the results database.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "shadowdiff/report.h"

static const char USAGE[] =
    "usage: shadowdiff accept --db FILE CLUSTER --reason TEXT [--expires YYYY-MM-DD]\n"
    "\n"
    "Accepts the differences of one discrepancy cluster (its id as shown by 'shadowdiff\n"
    "report'): later reports count its results as accepted, list it with the reason, and do\n"
    "not fail on it. From the day after --expires (UTC) the waiver no longer applies.\n"
    "\n"
    "  -d, --db FILE|URL           results database; CLUSTER must be in its latest run\n"
    "      --run ID|NAME           the run CLUSTER is in, by id or name (default: the latest)\n"
    "      --reason TEXT           why this difference is fine (required)\n"
    "      --expires YYYY-MM-DD    last day the waiver applies (default: never expires)\n"
    "  -h, --help                  this text\n"
    "  -V, --version               the version\n"
    "\n"
    "Waivers can also be listed in the config file (\"waivers\", see 'report --config').\n"
    "-m and -e still mean --reason and --expires for this release and say so.\n"
    "Exit: 0 recorded; 2 error.\n";

int cmd_accept(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"reason", required_argument, NULL, 'm'},
        {"expires", required_argument, NULL, 'e'},
        {"run", required_argument, NULL, 300},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *reason = NULL, *expires = NULL, *cluster = NULL;
    const char *run_sel = NULL; /* --run: an id or a name */
    int64_t run = 0;
    struct sdiff_report_waiver w;
    struct sdiff_err err = {0};
    int c;

    optind = 1;
    while ((c = cli_getopt("accept", argc, argv, "d:m:e:h", longopts,
                           "m=--reason,e=--expires")) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'm': reason = optarg; break;
        case 'e': expires = optarg; break;
        case 300: run_sel = optarg; break;
        case 'h': fputs(USAGE, stdout); return SDIFF_EXIT_OK;
        case 'V': return cli_version();
        default: return SDIFF_EXIT_ERROR;
        }
    }
    if (optind < argc)
        cluster = argv[optind++];
    if (optind < argc) {
        cli_error("accept", "unexpected argument '%s'", argv[optind]);
        return SDIFF_EXIT_ERROR;
    }
    if (db == NULL || cluster == NULL) {
        cli_error("accept", db ? "a CLUSTER id is required" : "--db FILE is required");
        return SDIFF_EXIT_ERROR;
    }
    if (reason == NULL || reason[0] == 0) {
        cli_error("accept", "--reason TEXT is required");
        return SDIFF_EXIT_ERROR;
    }
    if (cli_find_run("accept", db, run_sel, &run) < 0)
        return SDIFF_EXIT_ERROR;
    if (sdiff_report_accept_run(db, run, cluster, reason, expires, &w, &err) < 0)
        return cli_fail("accept", &err);
    if (w.expired)
        fprintf(stderr, "shadowdiff: accept: warning: %s is in the past: the waiver is recorded"
                        " but does not apply\n", w.expires);
    struct sdiff_text_ring t;
    sdiff_text_ring_init(&t);
    printf("accepted cluster %s (%s: %s)%s%s: %s\n", sdiff_text(&t, w.cluster),
           w.route ? sdiff_text(&t, w.route) : "(no route)", w.signature ? sdiff_text(&t, w.signature) : "",
           w.expires ? " until " : "", w.expires ? sdiff_text(&t, w.expires) : "",
           sdiff_text(&t, w.reason));
    sdiff_text_ring_dispose(&t);
    sdiff_report_waiver_dispose(&w);
    return SDIFF_EXIT_OK;
}
