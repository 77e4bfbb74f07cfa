/*
 * cmd_gate.c - `shadowdiff gate`: the CI gate. A stratified sample of a corpus replayed to
 * the live primary and the candidate, judged, reported, and an exit code for the pipeline.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "shadowdiff/report.h"

static const char USAGE[] =
    "usage: shadowdiff gate --corpus FILE --primary URL --candidate URL [--secondary URL]\n"
    "                       [--sample N] [--seed S] [--db FILE] [--format F] [--junit FILE]\n"
    "                       [thresholds] [options]\n"
    "\n"
    "Samples N exchanges from a corpus, stratified by route (every route gets samples, the\n"
    "rest in proportion to traffic; the same seed picks the same exchanges), replays each to\n"
    "the live primary and the candidate (and the secondary, for noise), compares, prints the\n"
    "report and exits 0 when the verdict passes, 1 when it fails, 2 on error.\n"
    "\n"
    "      --corpus FILE          corpus database written by capture\n"
    "      --primary URL          the old service, live\n"
    "      --sample N             exchanges to replay (default 1000)\n"
    "      --seed S               sampling seed (default 0)\n"
    "      --db FILE              keep the results here (default: a temporary file)\n"
    "      --format F             report format: text, markdown, json, html (default text)\n"
    "      --junit FILE           also write the JUnit XML report to FILE\n"
    "      --min-samples N        judged results an endpoint needs for a verdict (30)\n"
    "      --max-mismatch RATE    largest mismatch upper bound that is ready (0.01)\n"
    "      --max-p99-ratio R      largest candidate/primary p99 latency ratio (1.5)\n"
    "      --max-error-increase RATE  largest increase of the error rate (0.01)\n"
    "%s"
    "  -h, --help                 this text\n";

static int write_junit(const struct sdiff_report *rep, const char *path, struct sdiff_err *err)
{
    struct sdiff_outfile of;
    int rc = sdiff_outfile_open(&of, path, err);
    rc = rc < 0 ? rc : sdiff_report_render(rep, SDIFF_REPORT_JUNIT, 0, of.f, err);
    rc = rc < 0 ? rc : sdiff_outfile_commit(&of, err);
    sdiff_outfile_abort(&of);
    return rc;
}

int cmd_gate(int argc, char **argv)
{
    enum { O_CORPUS = 256, O_SAMPLE, O_SEED, O_DB, O_FORMAT, O_JUNIT, O_MIN, O_MISMATCH, O_P99,
           O_ERRINC };
    static const struct option longopts[] = {
        {"corpus", required_argument, NULL, O_CORPUS},
        {"primary", required_argument, NULL, CLI_O_PRIM},
        {"sample", required_argument, NULL, O_SAMPLE},
        {"seed", required_argument, NULL, O_SEED},
        {"db", required_argument, NULL, O_DB},
        {"format", required_argument, NULL, O_FORMAT},
        {"junit", required_argument, NULL, O_JUNIT},
        {"min-samples", required_argument, NULL, O_MIN},
        {"max-mismatch", required_argument, NULL, O_MISMATCH},
        {"max-p99-ratio", required_argument, NULL, O_P99},
        {"max-error-increase", required_argument, NULL, O_ERRINC},
        CLI_JUDGE_LONGOPTS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sdiff_gate_opts o;
    struct sdiff_gate_stats st;
    struct sdiff_report_thresholds th = SDIFF_REPORT_THRESHOLDS_INIT;
    struct cli_judge j;
    struct sdiff_report *rep = NULL;
    struct sdiff_err err = {0};
    const char *format = "text", *junit = NULL;
    char tmpdb[64] = "";
    int c, ret = SDIFF_EXIT_ERROR;

    memset(&o, 0, sizeof o);
    memset(&j, 0, sizeof j);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        uint64_t u;
        double d;
        switch (c) {
        case O_CORPUS: o.corpus = optarg; continue;
        case O_DB: o.db = optarg; continue;
        case O_FORMAT: format = optarg; continue;
        case O_JUNIT: junit = optarg; continue;
        case O_SAMPLE:
            if (cli_parse_u64(optarg, &u) < 0 || u == 0 || u > 10000000) {
                cli_error("gate", "--sample: '%s' must be between 1 and 10000000", optarg);
                return SDIFF_EXIT_ERROR;
            }
            o.sample = (size_t)u;
            continue;
        case O_SEED:
            if (cli_parse_u64(optarg, &o.seed) < 0) {
                cli_error("gate", "--seed: '%s' is not a number", optarg);
                return SDIFF_EXIT_ERROR;
            }
            continue;
        case O_MIN:
            if (cli_parse_u64(optarg, &th.min_samples) < 0) {
                cli_error("gate", "--min-samples: '%s' is not a count", optarg);
                return SDIFF_EXIT_ERROR;
            }
            continue;
        case O_MISMATCH:
        case O_P99:
        case O_ERRINC:
            if (cli_parse_seconds(optarg, &d) < 0) {
                cli_error("gate", "'%s' is not a non-negative number", optarg);
                return SDIFF_EXIT_ERROR;
            }
            if (c == O_MISMATCH)
                th.max_mismatch = d;
            else if (c == O_P99)
                th.max_p99_ratio = d;
            else
                th.max_error_increase = d;
            continue;
        case 'h':
            printf(USAGE, CLI_JUDGE_USAGE);
            return SDIFF_EXIT_OK;
        default: {
            int h = cli_judge_opt(&j, "gate", c, optarg); /* 0: not a shared option */
            if (h <= 0) {
                if (h == 0)
                    fprintf(stderr, USAGE, CLI_JUDGE_USAGE);
                return SDIFF_EXIT_ERROR;
            }
        }
        }
    }
    if (optind < argc) {
        cli_error("gate", "unexpected argument '%s'", argv[optind]);
        return SDIFF_EXIT_ERROR;
    }
    int fmt = sdiff_report_format_parse(format);
    if (fmt < 0 || fmt == SDIFF_REPORT_JUNIT) {
        cli_error("gate", "--format: '%s' is not text, markdown, json or html (or --junit FILE)",
                  format);
        return SDIFF_EXIT_ERROR;
    }
    if (o.corpus == NULL || j.judge.primary == NULL) {
        cli_error("gate", "--corpus and --primary are required");
        return SDIFF_EXIT_ERROR;
    }
    cli_warn_db("gate", o.corpus);
    if (cli_judge_finish(&j, "gate", &o.store) < 0)
        return SDIFF_EXIT_ERROR;
    if (o.db == NULL) {
        snprintf(tmpdb, sizeof tmpdb, "/tmp/shadowdiff-gate-XXXXXX");
        int fd = mkstemp(tmpdb);
        if (fd < 0) {
            cli_error("gate", "cannot create a temporary results database");
            goto done;
        }
        close(fd);
        o.db = tmpdb;
    }
    if (cli_judge_redact(&j, "gate", o.corpus) < 0)
        goto done;
    o.judge = j.judge;
    o.config_path = j.config;
    cli_catch_stop_signals();

    if (sdiff_run_gate(&o, &cli_stop_flag, &st, &err) < 0) {
        ret = cli_fail("gate", &err);
        goto done;
    }
    fprintf(stderr, "shadowdiff: gate: sampled %zu of %llu replayable exchanges over %zu routes "
                    "(corpus %llu, seed %llu)\n",
            st.sampled, (unsigned long long)st.eligible, st.routes,
            (unsigned long long)st.corpus, (unsigned long long)o.seed);
    cli_print_judged("gate", &st.judge, &j);
    if (sdiff_report_build(&rep, o.db, st.judge.run_id, &th, &err) < 0 ||
        sdiff_report_render(rep, (enum sdiff_report_format)fmt,
                            isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL, stdout,
                            &err) < 0 ||
        (junit && write_junit(rep, junit, &err) < 0)) {
        ret = cli_fail("gate", &err);
        goto done;
    }
    ret = rep->pass ? SDIFF_EXIT_OK : SDIFF_EXIT_DIFF;
done:
    sdiff_report_free(rep);
    cli_judge_dispose(&j);
    if (tmpdb[0]) {
        char side[96];
        unlink(tmpdb);
        snprintf(side, sizeof side, "%s-wal", tmpdb);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", tmpdb);
        unlink(side);
    }
    return ret;
}
