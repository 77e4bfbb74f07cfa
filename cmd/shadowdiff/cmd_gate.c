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
#include "shadowdiff/verdict.h"

static const char USAGE[] =
    "usage: shadowdiff gate --corpus FILE --primary URL --candidate URL [--secondary URL]\n"
    "                       [--sample N] [--seed S] [--db FILE] [--format F] [--junit FILE|-]\n"
    "                       [--allow-inconclusive] [--no-learned-noise] [thresholds] [options]\n"
    "\n"
    "  shadowdiff gate --corpus corpus.db --primary http://127.0.0.1:8080 \\\n"
    "      --candidate http://127.0.0.1:8081 --sample 1000 --junit junit.xml\n"
    "\n"
    "Samples at most N exchanges from a corpus by a plan (one per route first, then each\n"
    "route up to --min-samples by traffic, the rest by traffic; the same seed picks the same\n"
    "exchanges; the plan is printed on stderr), replays each to the live primary and the\n"
    "candidate (and the secondary, for noise), compares, prints the report and exits on the\n"
    "verdict.\n"
    "\n"
    "      --corpus FILE          corpus database written by capture\n"
    "      --primary URL          the old service, live\n"
    "      --sample N             most exchanges to replay (default 1000)\n"
    "      --seed S               sampling seed (default 0)\n"
    "  -d, --db FILE|URL          keep the results here (default: a temporary file)\n"
    "  -f, --format F             report format: text, markdown, json, html (default text)\n"
    "      --junit FILE|-         also write the JUnit XML report to FILE\n"
    "      --allow-inconclusive   exit 0 when the verdict is inconclusive\n"
    "      --color WHEN           text on stdout: auto (default: a terminal, unless TERM=dumb\n"
    "                             or NO_COLOR is set), always or never\n"
    "      --no-learned-noise     judge without learned noise: none from the corpus or\n"
    "                             --db, and none learned during this run\n"
    "      --min-samples N        judged results an endpoint needs to be ready (30)\n"
    "      --max-mismatch RATE    largest mismatch rate: 0.01 or 1%% (default 1%%)\n"
    "      --max-p99-ratio R      largest candidate/primary p99 ratio: 1.5 or +50%% (1.5)\n"
    "      --max-error-increase RATE  largest increase of the error rate (1%%)\n"
    "%s"
    "  -c, --config FILE          the same as --config: its thresholds and waivers apply\n"
    "  -h, --help                 this text\n"
    "  -V, --version              the version\n";

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
    enum { O_CORPUS = 256, O_SAMPLE, O_SEED, O_JUNIT, O_MIN, O_MISMATCH, O_P99, O_ERRINC,
           O_ALLOW_INC, O_NO_NOISE, O_COLOR };
    static const struct option longopts[] = {
        {"corpus", required_argument, NULL, O_CORPUS},
        {"primary", required_argument, NULL, CLI_O_PRIM},
        {"sample", required_argument, NULL, O_SAMPLE},
        {"seed", required_argument, NULL, O_SEED},
        {"db", required_argument, NULL, 'd'},
        {"format", required_argument, NULL, 'f'},
        {"allow-inconclusive", no_argument, NULL, O_ALLOW_INC},
        {"no-learned-noise", no_argument, NULL, O_NO_NOISE},
        {"color", required_argument, NULL, O_COLOR},
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
    struct sdiff_gate_stats st = {0};
    struct sdiff_report_policy policy;
    struct sdiff_report_threshold_flags flags = {0};
    int allow_inconclusive = 0, color_mode = CLI_COLOR_AUTO;
    struct cli_judge j;
    struct sdiff_report *rep = NULL;
    struct sdiff_err err = {0};
    const char *format = "text", *junit = NULL;
    char tmpdb[64] = "";
    int c, ret = SDIFF_EXIT_ERROR;

    memset(&o, 0, sizeof o);
    memset(&j, 0, sizeof j);
    memset(&policy, 0, sizeof policy);
    optind = 1;
    while ((c = cli_getopt("gate", argc, argv, "d:f:c:h", longopts, NULL)) != -1) {
        uint64_t u;
        switch (c) {
        case O_CORPUS: o.corpus = optarg; continue;
        case 'd': o.db = optarg; continue;
        case 'f': format = optarg; continue;
        case 'c': j.config = optarg; continue;
        case O_ALLOW_INC: allow_inconclusive = 1; continue;
        case O_NO_NOISE: o.no_learned_noise = 1; continue;
        case O_COLOR:
            if (cli_parse_color("gate", optarg, &color_mode) < 0)
                return SDIFF_EXIT_ERROR;
            continue;
        case 'V': return cli_version();
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
        case O_MIN: flags.min_samples = optarg; continue;
        case O_MISMATCH: flags.max_mismatch = optarg; continue;
        case O_P99: flags.max_p99_ratio = optarg; continue;
        case O_ERRINC: flags.max_error_increase = optarg; continue;
        case 'h':
            printf(USAGE, CLI_JUDGE_USAGE);
            fputs(cli_exit_help("gate"), stdout);
            return SDIFF_EXIT_OK;
        default: {
            int h = cli_judge_opt(&j, "gate", c, optarg); /* 0: not ours ('?': said) */
            if (h <= 0)
                return SDIFF_EXIT_ERROR;
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
    if (cli_check_corpus("gate", o.corpus) < 0)
        return SDIFF_EXIT_ERROR;
    cli_warn_db("gate", o.corpus);
    if (cli_judge_finish(&j, "gate", &o.store) < 0)
        goto done;
    /* one policy: the flags over the config's thresholds, and the config's waivers */
    if (sdiff_report_policy_resolve(&policy, j.rules, &flags, "gate", &err) < 0) {
        ret = cli_fail("gate", &err);
        goto done;
    }
    o.min_samples = policy.thresholds.min_samples;
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
    o.run_name = j.run_name;
    o.labels_json = j.labels;
    o.cost = j.cost;
    cli_say_join("gate", o.db, j.run_name);
    cli_catch_stop_signals();

    struct cli_progress prog;
    cli_progress_init(&prog, "gate", &o.progress_s);
    o.progress = cli_progress;
    o.progress_ud = &prog;
    int grc = sdiff_run_gate(&o, &cli_stop_flag, &st, &err);
    cli_progress_end(&prog);
    if (grc < 0) {
        ret = cli_fail("gate", &err);
        goto done;
    }
    fprintf(stderr, "shadowdiff: gate: sampled %zu of %llu replayable exchanges over %zu routes "
                    "(corpus %llu, seed %llu)\n",
            st.sampled, (unsigned long long)st.eligible, st.routes,
            (unsigned long long)st.corpus, (unsigned long long)o.seed);
    /* route names come from the traffic: escaped for the terminal */
    struct sdiff_text_ring t;
    sdiff_text_ring_init(&t);
    for (size_t i = 0; i < st.nplan; i++)
        fprintf(stderr, "shadowdiff: gate: plan: %s: %llu of %llu%s\n",
                sdiff_text(&t, st.plan[i].route), (unsigned long long)st.plan[i].planned,
                (unsigned long long)st.plan[i].available,
                st.plan[i].planned == 0 ? " (not sampled: more routes than --sample)" : "");
    sdiff_text_ring_dispose(&t);
    cli_print_judged("gate", &st.judge, &j);
    if (st.judge.primary_errors > 0 &&
        st.judge.primary_errors >= st.judge.cls[SDIFF_CLASS_ERROR] &&
        st.judge.cls[SDIFF_CLASS_IDENTICAL] + st.judge.cls[SDIFF_CLASS_EQUIVALENT] +
                st.judge.cls[SDIFF_CLASS_DIFFERENT] == 0) {
        /* nothing to compare with: our error, not the candidate's */
        sdiff_text_ring_init(&t);
        cli_error("gate", "the primary %s did not answer (%llu of %llu requests): %s",
                  sdiff_text(&t, j.judge.primary), (unsigned long long)st.judge.primary_errors,
                  (unsigned long long)st.sampled, sdiff_text(&t, st.judge.primary_error));
        sdiff_text_ring_dispose(&t);
        ret = SDIFF_EXIT_ERROR;
        goto done;
    }
    int brc = sdiff_report_build_config(&rep, o.db, st.judge.run_id, &policy.thresholds, j.rules,
                                        &err);
    if (brc >= 0) {
        rep->plan = st.plan;
        rep->nplan = st.nplan;
    }
    if (brc < 0 ||
        sdiff_report_render(rep, (enum sdiff_report_format)fmt,
                            cli_use_color(color_mode, STDOUT_FILENO), stdout,
                            &err) < 0 ||
        (junit && write_junit(rep, junit, &err) < 0)) {
        ret = cli_fail("gate", &err);
        goto done;
    }
    if (tmpdb[0] && st.judge.cls[SDIFF_CLASS_DIFFERENT] + st.judge.cls[SDIFF_CLASS_ERROR] > 0)
        /* the ids above name rows of a database deleted on exit */
        fputs("shadowdiff: gate: results were not kept: use --db FILE to inspect or accept "
              "these clusters\n",
              stderr);
    if (cli_stop_flag)
        ret = SDIFF_EXIT_INTERRUPTED;
    else
        ret = rep->verdict == SDIFF_REPORT_PASS   ? SDIFF_EXIT_OK
              : rep->verdict == SDIFF_REPORT_FAIL ? SDIFF_EXIT_DIFF
              : allow_inconclusive                ? SDIFF_EXIT_OK
                                                  : SDIFF_EXIT_NOTHING;
done:
    sdiff_report_free(rep);
    sdiff_gate_stats_dispose(&st);
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
