/*
 * cmd_inspect.c - `shadowdiff inspect --db FILE ID`: one stored result in detail, with a
 * curl command that reproduces the request against the candidate.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "shadowdiff/report.h"

static const char USAGE[] =
    "usage: shadowdiff inspect --db FILE ID [--color auto|always|never]\n"
    "\n"
    "  shadowdiff inspect --db results.db 1234\n"
    "\n"
    "Prints result ID of a results database: the request, the primary's and the candidate's\n"
    "responses (decoded, JSON pretty-printed), class, reasons, note, every difference, and a\n"
    "curl command line that sends the request to the run's candidate.\n"
    "\n"
    "  -d, --db FILE|URL  results database (read-only): a SQLite file or a postgres:// URL\n"
    "      --color WHEN   colour the differences: auto (default: on a terminal, unless\n"
    "                     TERM=dumb or NO_COLOR is set), always or never\n"
    "  -h, --help         this text\n"
    "  -V, --version      the version\n"
    "\n"
    "Exit: 0 shown; 2 error (unknown id, unreadable database).\n";

int cmd_inspect(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"color", required_argument, NULL, 300},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    uint64_t id = 0;
    struct sdiff_err err = {0};
    int c, color = CLI_COLOR_AUTO;

    optind = 1;
    while ((c = cli_getopt("inspect", argc, argv, "d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 300:
            if (cli_parse_color("inspect", optarg, &color) < 0)
                return SDIFF_EXIT_ERROR;
            break;
        case 'h': fputs(USAGE, stdout); return SDIFF_EXIT_OK;
        case 'V': return cli_version();
        default: return SDIFF_EXIT_ERROR;
        }
    }
    if (db == NULL) {
        cli_error("inspect", "--db FILE is required");
        return SDIFF_EXIT_ERROR;
    }
    if (argc - optind != 1) {
        cli_error("inspect", "give one result id");
        return SDIFF_EXIT_ERROR;
    }
    if (cli_parse_u64(argv[optind], &id) < 0 || id == 0 || id > INT64_MAX) {
        cli_error("inspect", "'%s' is not a result id", argv[optind]);
        return SDIFF_EXIT_ERROR;
    }
    cli_warn_db("inspect", db);
    if (sdiff_report_inspect(db, (int64_t)id, cli_use_color(color, 1), stdout, &err) < 0)
        return cli_fail("inspect", &err);
    return SDIFF_EXIT_OK;
}
