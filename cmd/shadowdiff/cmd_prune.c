/*
 * cmd_prune.c - `shadowdiff prune`: remove old runs from a results database, never one
 * still running, then compact the file.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "shadowdiff/store.h"

static const char USAGE[] =
    "usage: shadowdiff prune --db FILE|URL (--keep N | --older-than AGE) [--dry-run]\n"
    "\n"
    "  shadowdiff prune --db results.db --keep 20\n"
    "  shadowdiff prune --db results.db --older-than 30d --dry-run\n"
    "\n"
    "Removes old runs with everything they wrote (results, answers, differences, instances),\n"
    "each run whole or not at all, and then compacts a SQLite file. A run still running is\n"
    "never removed. Captured exchanges, learned noise and waivers stay.\n"
    "\n"
    "  -d, --db FILE|URL           results database\n"
    "      --keep N                keep the N newest runs (running ones are kept besides)\n"
    "      --older-than AGE        remove runs last active more than AGE ago (90m, 12h, 30d)\n"
    "      --dry-run               say what would go, remove nothing\n"
    "  -h, --help                  this text\n"
    "  -V, --version               the version\n"
    "\n"
    "Exit: 0 pruned (also when nothing was old enough); 2 error.\n";

int cmd_prune(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"keep", required_argument, NULL, 300},
        {"older-than", required_argument, NULL, 301},
        {"dry-run", no_argument, NULL, 302},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sdiff_store_prune_opts o = {0};
    const char *db = NULL;
    char cutoff[32];
    double age = -1;
    int c;
    optind = 1;
    while ((c = cli_getopt("prune", argc, argv, "d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 300:
            if (cli_parse_u64(optarg, &o.keep) < 0 || o.keep == 0) {
                cli_error("prune", "--keep: '%s' is not a positive number", optarg);
                return SDIFF_EXIT_ERROR;
            }
            break;
        case 301:
            if (cli_parse_seconds(optarg, &age) < 0 || age <= 0) {
                cli_error("prune", "--older-than: '%s' is not an age (90m, 12h, 30d)", optarg);
                return SDIFF_EXIT_ERROR;
            }
            break;
        case 302: o.dry_run = 1; break;
        case 'h': fputs(USAGE, stdout); return SDIFF_EXIT_OK;
        case 'V': return cli_version();
        default: return SDIFF_EXIT_ERROR;
        }
    }
    if (optind < argc) {
        cli_error("prune", "unexpected argument '%s'", argv[optind]);
        return SDIFF_EXIT_ERROR;
    }
    if (db == NULL) {
        cli_error("prune", "--db FILE is required");
        return SDIFF_EXIT_ERROR;
    }
    if ((o.keep == 0) == (age < 0)) {
        cli_error("prune", "give one of --keep N or --older-than AGE");
        return SDIFF_EXIT_ERROR;
    }
    if (age > 0) {
        time_t t = time(NULL) - (time_t)age;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(cutoff, sizeof cutoff, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
        o.older_than = cutoff;
    }
    struct sdiff_store *st = NULL;
    struct sdiff_store_opts so = {.must_exist = 1};
    struct sdiff_store_prune_stats ps;
    struct sdiff_err err = {0};
    int rc = sdiff_store_open(&st, db, &so, &err);
    rc = rc < 0 ? rc : sdiff_store_prune(st, &o, &ps, &err);
    sdiff_store_close(st);
    if (rc < 0)
        return cli_fail("prune", &err);
    printf("%s %llu run%s (%llu results)%s", o.dry_run ? "would remove" : "removed",
           (unsigned long long)ps.runs, ps.runs == 1 ? "" : "s", (unsigned long long)ps.results,
           ps.running_kept ? "; " : "\n");
    if (ps.running_kept)
        printf("%llu still running, kept\n", (unsigned long long)ps.running_kept);
    return SDIFF_EXIT_OK;
}
