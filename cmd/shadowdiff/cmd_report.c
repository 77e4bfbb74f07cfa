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

static const char USAGE[] =
    "usage: shadowdiff report --db FILE [--run ID] [--format text|markdown|json|junit|html]\n"
    "                         [--out FILE] [--min-samples N] [--max-mismatch RATE]\n"
    "                         [--max-p99-ratio R] [--max-error-increase RATE]\n"
    "                         [--config FILE] [--since TIME]\n"
    "\n"
    "Summarises a run per endpoint (method and route): samples, parity, the 95% Wilson upper\n"
    "bound of the mismatch rate, latency percentiles, error rates, unjudged results; groups\n"
    "the different results into clusters; and gives a verdict per endpoint and overall.\n"
    "\n"
    "  -d, --db FILE               results database (read-only)\n"
    "  -r, --run ID                run to report (default: the latest)\n"
    "  -f, --format F              text (default), markdown, json, junit or html (one\n"
    "                              self-contained page with charts)\n"
    "  -o, --out FILE              write there (replaced whole, mode 0666 & ~umask), - stdout\n"
    "      --min-samples N         judged results an endpoint needs for a verdict (30)\n"
    "      --max-mismatch RATE     largest mismatch upper bound that is ready (0.01)\n"
    "      --max-p99-ratio R       largest candidate/primary p99 latency ratio (1.5)\n"
    "      --max-error-increase RATE  largest error rate increase (0.01)\n"
    "  -c, --config FILE           config file: its \"waivers\" apply besides the database's,\n"
    "                              its \"thresholds\" unless a flag sets them\n"
    "      --since TIME            only exchanges captured since TIME: a date (2026-11-26,\n"
    "                              2026-11-26T18:00:00Z, UTC) or an age (90m, 6h, 7d)\n"
    "  -h, --help                  this text\n"
    "\n"
    "Endpoints with fewer judged results than --min-samples are listed as 'insufficient data'\n"
    "and do not fail the run. Clusters accepted with 'shadowdiff accept' (or the config's\n"
    "\"waivers\") count as accepted, not against the mismatch bound, unless expired.\n"
    "Exit: 0 pass, 1 fail (an endpoint is blocked), 2 error.\n";

enum { O_MIN = 2000, O_MISMATCH, O_P99, O_ERRINC, O_SINCE };

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

static int parse_rate(const char *name, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0)) {
        cli_error("report", "--%s: '%s' is not a non-negative number", name, s);
        return -1;
    }
    *out = v;
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
        {"max-mismatch", required_argument, NULL, O_MISMATCH},
        {"max-p99-ratio", required_argument, NULL, O_P99},
        {"max-error-increase", required_argument, NULL, O_ERRINC},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sdiff_report_thresholds th = SDIFF_REPORT_THRESHOLDS_INIT;
    const char *db = NULL, *format = "text", *out_path = NULL, *config = NULL;
    unsigned flagged = 0;
    struct sdiff_rules *rules = NULL;
    uint64_t run = 0;
    struct sdiff_report *rep = NULL;
    struct sdiff_err err = {0};
    struct sdiff_outfile of = {0};
    FILE *out = NULL;
    int c, fmt, ret = SDIFF_EXIT_ERROR;

    optind = 1;
    while ((c = getopt_long(argc, argv, "d:r:f:o:c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'r':
            if (cli_parse_u64(optarg, &run) < 0 || run == 0 || run > INT64_MAX) {
                cli_error("report", "--run: '%s' is not a run id", optarg);
                return SDIFF_EXIT_ERROR;
            }
            break;
        case 'f': format = optarg; break;
        case 'o': out_path = optarg; break;
        case 'c': config = optarg; break;
        case O_SINCE:
            if (parse_since(optarg, &th.since_us) < 0) {
                cli_error("report", "--since: '%s' is not a date (2026-11-26, "
                                    "2026-11-26T18:00:00Z) or an age (90m, 6h, 7d)", optarg);
                return SDIFF_EXIT_ERROR;
            }
            break;
        case O_MIN:
            flagged |= 1;
            if (cli_parse_u64(optarg, &th.min_samples) < 0) {
                cli_error("report", "--min-samples: '%s' is not a count", optarg);
                return SDIFF_EXIT_ERROR;
            }
            break;
        case O_MISMATCH:
            flagged |= 2;
            if (parse_rate("max-mismatch", optarg, &th.max_mismatch) < 0)
                return SDIFF_EXIT_ERROR;
            break;
        case O_P99:
            flagged |= 4;
            if (parse_rate("max-p99-ratio", optarg, &th.max_p99_ratio) < 0)
                return SDIFF_EXIT_ERROR;
            break;
        case O_ERRINC:
            flagged |= 8;
            if (parse_rate("max-error-increase", optarg, &th.max_error_increase) < 0)
                return SDIFF_EXIT_ERROR;
            break;
        case 'h': fputs(USAGE, stdout); return SDIFF_EXIT_OK;
        default: fputs(USAGE, stderr); return SDIFF_EXIT_ERROR;
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
    if (config && sdiff_rules_load(&rules, config, &err) < 0)
        return cli_fail("report", &err);
    /* thresholds: flags, else the config's "thresholds", else the defaults */
    double v;
    if (!(flagged & 1) && sdiff_rules_threshold(rules, "min_samples", &v))
        th.min_samples = (uint64_t)v;
    if (!(flagged & 2) && sdiff_rules_threshold(rules, "max_mismatch", &v))
        th.max_mismatch = v;
    if (!(flagged & 4) && sdiff_rules_threshold(rules, "max_p99_ratio", &v))
        th.max_p99_ratio = v;
    if (!(flagged & 8) && sdiff_rules_threshold(rules, "max_error_increase", &v))
        th.max_error_increase = v;
    int brc = sdiff_report_build_config(&rep, db, (int64_t)run, &th, rules, &err);
    sdiff_rules_free(rules);
    if (brc < 0)
        return cli_fail("report", &err);
    if (out_path) {
        if (sdiff_outfile_open(&of, out_path, &err) < 0) {
            ret = cli_fail("report", &err);
            goto done;
        }
        out = of.is_stdout ? NULL : of.f;
    }
    int color = out == NULL && isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
    if (sdiff_report_render(rep, (enum sdiff_report_format)fmt, color, out ? out : stdout,
                            &err) < 0) {
        ret = cli_fail("report", &err);
        goto done;
    }
    ret = rep->pass ? SDIFF_EXIT_OK : SDIFF_EXIT_DIFF;
done:
    if (of.f && ret != SDIFF_EXIT_ERROR && sdiff_outfile_commit(&of, &err) < 0)
        ret = cli_fail("report", &err);
    sdiff_outfile_abort(&of);
    sdiff_report_free(rep);
    return ret;
}
