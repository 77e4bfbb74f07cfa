/*
 * cmd_replay.c - `shadowdiff replay`: send a captured corpus to the candidate (and a
 * secondary), compare each answer with the primary's, store everything.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char USAGE[] =
    "usage: shadowdiff replay --corpus FILE --candidate URL [--secondary URL] [--primary URL]\n"
    "                         --db FILE [--config FILE] [options]\n"
    "\n"
    "  shadowdiff replay --corpus corpus.db --candidate http://127.0.0.1:8081 --db results.db\n"
    "  shadowdiff replay --corpus corpus.db --candidate http://127.0.0.1:8081 \\\n"
    "                    --secondary http://127.0.0.1:8002 --db results.db --run pr-1234\n"
    "\n"
    "Replays each complete exchange of a corpus (from capture) whose method is safe to the\n"
    "candidate, compares the answer with the recorded one (or a live --primary's) and stores\n"
    "the classification and every difference in the results database (may be the corpus).\n"
    "Fields the old service itself varies on (its repeated answers, and a --secondary's,\n"
    "a second instance of it) are learned as noise for their route on evidence (README:\n"
    "Learned noise) and kept for later runs.\n"
    "\n"
    "      --corpus FILE          corpus database written by capture\n"
    "  -d, --db FILE|URL          results database (created 0600)\n"
    "      --primary URL          a live old service to compare with instead of the recording\n"
    "%s"
    "  -c, --config FILE          the same as --config\n"
    "  -h, --help                 this text\n"
    "  -V, --version              the version\n"
    "\n"
    "Requests go out as stored: a credential redacted at capture is sent as its hash\n"
    "(\"Authorization: Bearer hmac:...\"); give a test one with --set-header.\n"
    "\n";


int cmd_replay(int argc, char **argv)
{
    enum { O_CORPUS = 256 };
    static const struct option longopts[] = {
        {"corpus", required_argument, NULL, O_CORPUS},
        {"db", required_argument, NULL, 'd'},
        {"primary", required_argument, NULL, CLI_O_PRIM},
        CLI_JUDGE_LONGOPTS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sdiff_replay_run_opts o;
    struct sdiff_replay_run_stats st;
    struct cli_judge j;
    struct sdiff_err err = {0};
    int c;

    memset(&o, 0, sizeof o);
    memset(&j, 0, sizeof j);
    optind = 1;
    while ((c = cli_getopt("replay", argc, argv, "d:c:h", longopts, NULL)) != -1) {
        if (c == O_CORPUS) {
            o.corpus = optarg;
        } else if (c == 'd') {
            o.db = optarg;
        } else if (c == 'c') {
            j.config = optarg;
        } else if (c == 'V') {
            return cli_version();
        } else if (c == 'h') {
            printf(USAGE, CLI_JUDGE_USAGE);
            fputs(cli_exit_help("replay"), stdout);
            return SDIFF_EXIT_OK;
        } else {
            int h = cli_judge_opt(&j, "replay", c, optarg); /* 0: not ours ('?': said) */
            if (h <= 0)
                return SDIFF_EXIT_ERROR;
        }
    }
    if (optind < argc) {
        cli_error("replay", "unexpected argument '%s'", argv[optind]);
        return SDIFF_EXIT_ERROR;
    }
    if (o.corpus == NULL || o.db == NULL) {
        cli_error("replay", "--corpus and --db are required");
        return SDIFF_EXIT_ERROR;
    }
    if (cli_check_corpus("replay", o.corpus) < 0)
        return SDIFF_EXIT_ERROR;
    if (j.judge.primary == NULL && (j.cost.primary.pid > 0 || j.cost.primary.cgroup ||
                                    j.cost.primary.metrics_url))
        cli_error("replay", "warning: --primary-pid, --primary-cgroup and --primary-metrics "
                            "sample a live --primary; without one the report's primary cost "
                            "is null");
    if (strcmp(o.corpus, o.db) != 0)
        cli_warn_db("replay", o.corpus);
    if (cli_judge_finish(&j, "replay", &o.store) < 0 ||
        cli_judge_redact(&j, "replay", o.corpus) < 0) {
        cli_judge_dispose(&j);
        return SDIFF_EXIT_ERROR;
    }
    o.judge = j.judge;
    o.config_path = j.config;
    o.run_name = j.run_name;
    o.labels_json = j.labels;
    o.cost = j.cost;
    cli_say_join("replay", o.db, j.run_name);

    cli_catch_stop_signals();

    struct cli_progress prog;
    cli_progress_init(&prog, "replay", &o.progress_s);
    o.progress = cli_progress;
    o.progress_ud = &prog;
    int rc = sdiff_run_replay(&o, &cli_stop_flag, &st, &err);
    cli_progress_end(&prog);
    if (st.run_id)
        cli_print_judged("replay", &st, &j);
    cli_judge_dispose(&j);
    if (rc < 0)
        return cli_fail("replay", &err);
    if (cli_stop_flag)
        return SDIFF_EXIT_INTERRUPTED;
    uint64_t judged = st.cls[SDIFF_CLASS_IDENTICAL] + st.cls[SDIFF_CLASS_EQUIVALENT] +
                      st.cls[SDIFF_CLASS_DIFFERENT];
    /* errors of a live primary are not the candidate's */
    uint64_t cand_errors = st.cls[SDIFF_CLASS_ERROR] > st.primary_errors
                               ? st.cls[SDIFF_CLASS_ERROR] - st.primary_errors
                               : 0;
    if (judged == 0 && cand_errors == 0) {
        cli_error("replay", "nothing replayed: %llu exchanges in the corpus, none judged (see the "
                            "skip reasons above)",
                  (unsigned long long)st.exchanges);
        return SDIFF_EXIT_NOTHING;
    }
    return st.cls[SDIFF_CLASS_DIFFERENT] > 0 || cand_errors > 0 ? SDIFF_EXIT_DIFF : SDIFF_EXIT_OK;
}
