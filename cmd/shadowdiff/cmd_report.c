/*
 * cmd_report.c - `shadowdiff report`: per-endpoint parity of a stored run, discrepancy
 * clusters and the release verdict, as text, Markdown, JSON or JUnit XML.
 */
#define _XOPEN_SOURCE 700 /* strptime */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "shadowdiff/report.h"
#include "shadowdiff/rules.h"
#include "shadowdiff/verdict.h"

static const char USAGE[] =
    "usage: shadowdiff report --db FILE [--run ID] [--format text|markdown|json|junit|html]\n"
    "                         [--out FILE|-] [--min-samples N] [--max-mismatch RATE]\n"
    "                         [--max-p99-ratio R] [--max-error-increase RATE]\n"
    "                         [--config FILE] [--since TIME] [--allow-inconclusive]\n"
    "\n"
    "  shadowdiff report --db results.db\n"
    "  shadowdiff report --db results.db --format html --out report.html\n"
    "\n"
    "Summarises a run per endpoint (method and route): samples, parity, the 95% bounds of\n"
    "the mismatch and error-increase rates, latency percentiles, unjudged results; groups the\n"
    "different results into clusters; and decides each endpoint (ready, blocked, insufficient\n"
    "data) and the run (pass, fail, inconclusive), with the reasons.\n"
    "\n"
    "  -d, --db FILE|URL           results database (read-only)\n"
    "      --run ID|NAME           run to report, by id or name (default: the latest)\n"
    "  -f, --format F              text (default), markdown, json, junit or html (one\n"
    "                              self-contained page with charts)\n"
    "  -o, --out FILE              write there (replaced whole, mode 0666 & ~umask), - stdout\n"
    "      --min-samples N         judged results an endpoint needs to be ready (30)\n"
    "      --max-mismatch RATE     largest mismatch rate: 0.01 or 1% (default 1%)\n"
    "      --max-p99-ratio R       largest candidate/primary p99 ratio: 1.5 or +50% (1.5)\n"
    "      --max-error-increase RATE  largest error rate increase: 0.01 or 1% (1%)\n"
    "  -c, --config FILE           config file: its \"waivers\" apply besides the database's,\n"
    "                              its \"thresholds\" unless a flag sets them\n"
    "      --since TIME            only exchanges captured since TIME: a date (2026-11-26,\n"
    "                              2026-11-26T18:00:00Z, UTC) or an age (90m, 6h, 7d)\n"
    "      --allow-inconclusive    exit 0 when the verdict is inconclusive\n"
    "      --color WHEN            text on stdout: auto (default: a terminal, unless TERM=dumb\n"
    "                              or NO_COLOR is set), always or never\n"
    "      --by instance           add one row per instance (process) of the run: host, pid,\n"
    "                              counts, parity\n"
    "      --price-model M         price the cost section under cloud-run or none instead\n"
    "                              of the model the run recorded (see README, Cost)\n"
    "  -h, --help                  this text\n"
    "  -V, --version               the version\n"
    "\n"
    "Clusters accepted with 'shadowdiff accept' (or the config's \"waivers\") count as\n"
    "accepted, not against the mismatch bound, unless expired.\n";

enum { O_MIN = 2000, O_MISMATCH, O_P99, O_ERRINC, O_SINCE, O_ALLOW_INC };
enum { O_BY = 2100, O_COLOR, O_PRICE };

/* "2026-11-26", "2026-11-26T18:00:00Z" (UTC), or an age: "90m", "6h", "7d". */
static int parse_since(const char *s, uint64_t *us)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL) {
        memset(&tm, 0, sizeof tm);
        end = strptime(s, "%Y-%m-%dT%H:%M", &tm);
    }
    if (end == NULL) {
        memset(&tm, 0, sizeof tm);
        end = strptime(s, "%Y-%m-%d", &tm);
    }
    if (end != NULL && (*end == '\0' || (end[0] == 'Z' && end[1] == '\0'))) {
        time_t t = timegm(&tm);
        if (t < 0)
            return -1;
        *us = (uint64_t)t * 1000000u;
        return 0;
    }
    char *e;
    double v = strtod(s, &e);
    double mul = *e == 's' ? 1 : *e == 'm' ? 60 : *e == 'h' ? 3600 : *e == 'd' ? 86400 : 0;
    if (e == s || v < 0 || mul == 0 || e[1] != '\0')
        return -1;
    time_t now = time(NULL);
    double ago = (double)now - v * mul;
    *us = ago > 0 ? (uint64_t)(ago * 1e6) : 1;
    return 0;
}

int cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"run", required_argument, NULL, 'r'},
        {"format", required_argument, NULL, 'f'},
        {"out", required_argument, NULL, 'o'},
        {"min-samples", required_argument, NULL, O_MIN},
        {"since", required_argument, NULL, O_SINCE},
        {"by", required_argument, NULL, O_BY},
        {"max-mismatch", required_argument, NULL, O_MISMATCH},
        {"max-p99-ratio", required_argument, NULL, O_P99},
        {"max-error-increase", required_argument, NULL, O_ERRINC},
        {"config", required_argument, NULL, 'c'},
        {"allow-inconclusive", no_argument, NULL, O_ALLOW_INC},
        {"color", required_argument, NULL, O_COLOR},
        {"price-model", required_argument, NULL, O_PRICE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sdiff_report_policy policy;
    struct sdiff_report_threshold_flags flags = {0};
    const char *db = NULL, *format = "text", *out_path = NULL, *config = NULL;
    const char *price_model = NULL; /* --price-model: NULL keeps the run's */
    int allow_inconclusive = 0, color_mode = CLI_COLOR_AUTO;
    struct sdiff_rules *rules = NULL;
    int64_t run = 0;
    const char *run_sel = NULL;     /* an id or a name */
    int by_instance = 0;
    struct sdiff_report *rep = NULL;
    struct sdiff_err err = {0};
    struct sdiff_outfile of = {0};
    FILE *out = NULL;
    int c, fmt, ret = SDIFF_EXIT_ERROR;

    memset(&policy, 0, sizeof policy);
    optind = 1;
    while ((c = cli_getopt("report", argc, argv, "d:r:f:o:c:h", longopts, "r=--run")) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'r': run_sel = optarg; break;
        case O_BY:
            if (strcmp(optarg, "instance") != 0) {
                cli_error("report", "--by: the only breakdown is 'instance'");
                return SDIFF_EXIT_ERROR;
            }
            by_instance = 1;
            break;
        case 'f': format = optarg; break;
        case 'o': out_path = optarg; break;
        case 'c': config = optarg; break;
        case O_SINCE:
            if (parse_since(optarg, &policy.thresholds.since_us) < 0) {
                cli_error("report", "--since: '%s' is not a date (2026-11-26, "
                                    "2026-11-26T18:00:00Z) or an age (90m, 6h, 7d)", optarg);
                return SDIFF_EXIT_ERROR;
            }
            break;
        case O_MIN: flags.min_samples = optarg; break;
        case O_MISMATCH: flags.max_mismatch = optarg; break;
        case O_P99: flags.max_p99_ratio = optarg; break;
        case O_ERRINC: flags.max_error_increase = optarg; break;
        case O_ALLOW_INC: allow_inconclusive = 1; break;
        case O_COLOR:
            if (cli_parse_color("report", optarg, &color_mode) < 0)
                return SDIFF_EXIT_ERROR;
            break;
        case O_PRICE:
            if (strcmp(optarg, "cloud-run") != 0 && strcmp(optarg, "none") != 0) {
                cli_error("report", "--price-model: '%s' is not cloud-run or none", optarg);
                return SDIFF_EXIT_ERROR;
            }
            price_model = optarg;
            break;
        case 'V': return cli_version();
        case 'h':
            fputs(USAGE, stdout);
            fputs(cli_exit_help("report"), stdout);
            return SDIFF_EXIT_OK;
        default: return SDIFF_EXIT_ERROR;
        }
    }
    if (optind < argc) {
        cli_error("report", "unexpected argument '%s'", argv[optind]);
        return SDIFF_EXIT_ERROR;
    }
    if (db == NULL) {
        cli_error("report", "--db FILE is required");
        return SDIFF_EXIT_ERROR;
    }
    cli_warn_db("report", db);
    fmt = sdiff_report_format_parse(format);
    if (fmt < 0) {
        cli_error("report", "--format: '%s' is not text, markdown, json, junit or html",
                  format);
        return SDIFF_EXIT_ERROR;
    }
    if (cli_find_run("report", db, run_sel, &run) < 0)
        return SDIFF_EXIT_ERROR;
    if (config && sdiff_rules_load(&rules, config, &err) < 0)
        return cli_fail("report", &err);
    /* thresholds: flags, else the config's "thresholds", else the defaults; waivers */
    if (sdiff_report_policy_resolve(&policy, rules, &flags, "report", &err) < 0) {
        sdiff_rules_free(rules);
        return cli_fail("report", &err);
    }
    int brc = sdiff_report_build_config(&rep, db, (int64_t)run, &policy.thresholds, rules, &err);
    sdiff_rules_free(rules);
    if (brc < 0)
        return cli_fail("report", &err);
    if (price_model) {
        static const struct sdiff_cost_model cloud_run = SDIFF_COST_MODEL_CLOUD_RUN;
        sdiff_report_set_price_model(rep, strcmp(price_model, "none") == 0 ? NULL : &cloud_run);
    }
    if (by_instance && sdiff_report_add_instances(rep, db, &err) < 0) {
        ret = cli_fail("report", &err);
        goto done;
    }
    if (out_path) {
        if (sdiff_outfile_open(&of, out_path, &err) < 0) {
            ret = cli_fail("report", &err);
            goto done;
        }
        out = of.is_stdout ? NULL : of.f;
    }
    /* colour only what goes to stdout (a file written with --out never gets escapes) */
    int color = out == NULL && cli_use_color(color_mode, STDOUT_FILENO);
    if (sdiff_report_render(rep, (enum sdiff_report_format)fmt, color, out ? out : stdout,
                            &err) < 0) {
        ret = cli_fail("report", &err);
        goto done;
    }
    ret = rep->verdict == SDIFF_REPORT_PASS   ? SDIFF_EXIT_OK
          : rep->verdict == SDIFF_REPORT_FAIL ? SDIFF_EXIT_DIFF
          : allow_inconclusive                ? SDIFF_EXIT_OK
                                              : SDIFF_EXIT_NOTHING;
done:
    if (of.f && ret != SDIFF_EXIT_ERROR && sdiff_outfile_commit(&of, &err) < 0)
        ret = cli_fail("report", &err);
    sdiff_outfile_abort(&of);
    sdiff_report_free(rep);
    return ret;
}
