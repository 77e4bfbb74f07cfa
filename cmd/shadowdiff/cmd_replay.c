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
    "Replays each complete exchange of a corpus (from capture) whose method is safe to the\n"
    "candidate, compares the answer with the recorded one (or a live --primary's) and stores\n"
    "the classification and every difference in the results database (may be the corpus).\n"
    "With --secondary (a second instance of the old service) the fields where the two old\n"
    "answers disagree are learned as noise for their route and kept for later runs.\n"
    "\n"
    "      --corpus FILE          corpus database written by capture\n"
    "      --db FILE              results database (created 0600)\n"
    "      --primary URL          a live old service to compare with instead of the recording\n"
    "%s"
    "  -h, --help                 this text\n"
    "\n"
    "Requests go out as stored: a credential redacted at capture is sent as its hash\n"
    "(\"Authorization: Bearer hmac:...\"); give a test one with --set-header.\n"
    "\n"
    "Exit: 0 nothing different; 1 some exchange is different; 2 error (bad arguments, a\n"
    "corpus or database that cannot be used, or candidate failures and nothing different).\n";


int cmd_replay(int argc, char **argv)
{
    enum { O_CORPUS = 256, O_DB };
    static const struct option longopts[] = {
        {"corpus", required_argument, NULL, O_CORPUS},
        {"db", required_argument, NULL, O_DB},
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
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == O_CORPUS) {
            o.corpus = optarg;
        } else if (c == O_DB) {
            o.db = optarg;
        } else if (c == 'h') {
            printf(USAGE, CLI_JUDGE_USAGE);
            return SDIFF_EXIT_OK;
        } else {
            int h = cli_judge_opt(&j, "replay", c, optarg); /* 0: not a shared option */
            if (h <= 0) {
                if (h == 0)
                    fprintf(stderr, USAGE, CLI_JUDGE_USAGE);
                return SDIFF_EXIT_ERROR;
            }
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
    if (strcmp(o.corpus, o.db) != 0)
        cli_warn_db("replay", o.corpus);
    if (cli_judge_finish(&j, "replay", &o.store) < 0 ||
        cli_judge_redact(&j, "replay", o.corpus) < 0) {
        cli_judge_dispose(&j);
        return SDIFF_EXIT_ERROR;
    }
    o.judge = j.judge;
    o.config_path = j.config;

    cli_catch_stop_signals();

    int rc = sdiff_run_replay(&o, &cli_stop_flag, &st, &err);
    if (st.run_id)
        cli_print_judged("replay", &st, &j);
    cli_judge_dispose(&j);
    if (rc < 0)
        return cli_fail("replay", &err);
    if (st.cls[SDIFF_CLASS_DIFFERENT] > 0)
        return SDIFF_EXIT_DIFF;
    return st.cls[SDIFF_CLASS_ERROR] > 0 ? SDIFF_EXIT_ERROR : SDIFF_EXIT_OK;
}
