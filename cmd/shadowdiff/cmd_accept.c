/*
 * cmd_accept.c - `shadowdiff accept`: record an accepted difference (a waiver of one
 * discrepancy cluster of the latest run) in the results database.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "shadowdiff/report.h"

static const char USAGE[] =
    "usage: shadowdiff accept --db FILE CLUSTER --reason TEXT [--expires YYYY-MM-DD]\n"
    "       shadowdiff accept --db FILE --list [--format text|json]\n"
    "       shadowdiff accept --db FILE --revoke ID\n"
    "\n"
    "  shadowdiff accept -d results.db 3f9a0c1d2e4b --reason 'Go sorts tags' --expires 2027-03-31\n"
    "  shadowdiff accept -d results.db --list\n"
    "\n"
    "Accepts the differences of one discrepancy cluster (its id as shown by 'shadowdiff\n"
    "report'): later reports count its results as accepted, list it with the reason, and do\n"
    "not fail on it. From the day after --expires (UTC) the waiver no longer applies; a date\n"
    "already past is an error. Accepting a cluster again updates its waiver (reason, expiry)\n"
    "and keeps its id.\n"
    "\n"
    "  -d, --db FILE|URL           results database; CLUSTER must be in its latest run\n"
    "      --run ID|NAME           the run CLUSTER is in, by id or name (default: the latest)\n"
    "      --reason TEXT           why this difference is fine (required)\n"
    "      --expires YYYY-MM-DD    last day the waiver applies (default: never expires)\n"
    "      --list                  list the waivers in force (id, cluster, route, expiry, reason)\n"
    "  -f, --format text|json      the format of --list (default text)\n"
    "      --revoke ID             revoke waiver ID (from --list): reports stop applying it\n"
    "  -h, --help                  this text\n"
    "  -V, --version               the version\n"
    "\n"
    "Waivers can also be listed in the config file (\"waivers\", see 'report --config').\n"
    "-m and -e still mean --reason and --expires for this release and say so.\n"
    "Exit: 0 recorded, listed or revoked; 2 error.\n";

int cmd_accept(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"reason", required_argument, NULL, 'm'},
        {"expires", required_argument, NULL, 'e'},
        {"run", required_argument, NULL, 300},
        {"list", no_argument, NULL, 301},
        {"revoke", required_argument, NULL, 302},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *reason = NULL, *expires = NULL, *cluster = NULL;
    const char *run_sel = NULL; /* --run: an id or a name */
    const char *format = NULL, *revoke = NULL;
    int list = 0;
    int64_t run = 0;
    struct sdiff_report_waiver w;
    struct sdiff_err err = {0};
    int c;

    optind = 1;
    while ((c = cli_getopt("accept", argc, argv, "d:m:e:f:h", longopts,
                           "m=--reason,e=--expires")) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'm': reason = optarg; break;
        case 'e': expires = optarg; break;
        case 300: run_sel = optarg; break;
        case 301: list = 1; break;
        case 302: revoke = optarg; break;
        case 'f': format = optarg; break;
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
    if ((list || revoke) && db == NULL) {
        cli_error("accept", "--db FILE is required");
        return SDIFF_EXIT_ERROR;
    }
    if (list && revoke) {
        cli_error("accept", "--list and --revoke: choose one");
        return SDIFF_EXIT_ERROR;
    }
    if ((list || revoke) && (cluster || reason || expires)) {
        cli_error("accept", "--%s takes no CLUSTER, --reason or --expires", list ? "list" : "revoke");
        return SDIFF_EXIT_ERROR;
    }
    if (format && !list) {
        cli_error("accept", "--format goes with --list");
        return SDIFF_EXIT_ERROR;
    }
    if (list) {
        if (format && strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
            cli_error("accept", "--format: '%s' is not text or json", format);
            return SDIFF_EXIT_ERROR;
        }
        if (sdiff_report_waivers_list(db, format && strcmp(format, "json") == 0, stdout,
                                      &err) < 0)
            return cli_fail("accept", &err);
        return SDIFF_EXIT_OK;
    }
    if (revoke) {
        uint64_t id;
        if (cli_parse_u64(revoke, &id) < 0 || id == 0 || id > INT64_MAX) {
            cli_error("accept", "--revoke: '%s' is not a waiver id (see --list)", revoke);
            return SDIFF_EXIT_ERROR;
        }
        if (sdiff_report_revoke(db, (int64_t)id, &err) < 0)
            return cli_fail("accept", &err);
        printf("revoked waiver %llu\n", (unsigned long long)id);
        return SDIFF_EXIT_OK;
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
