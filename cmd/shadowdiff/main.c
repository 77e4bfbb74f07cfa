/*
 * main.c - the shadowdiff command line: dispatches to one cmd_<verb>.c per subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char USAGE[] =
    "usage: shadowdiff <command> [options]\n"
    "\n"
    "commands:\n"
    "  capture   read live traffic or a pcap file and record its HTTP/1.1 exchanges\n"
    "  replay    send a captured corpus to the candidate, compare, store the results\n"
    "  mirror    the sidecar: capture, replay to the candidate, compare, store, continuously\n"
    "  gate      CI gate: replay a sample of a corpus to primary and candidate, exit on verdict\n"
    "  diff      compare two saved responses (or bodies) and explain the verdict\n"
    "  report    per-endpoint parity, discrepancy clusters and the verdict of a stored run\n"
    "  inspect   show one stored result in detail, with a curl command to reproduce it\n"
    "  accept    accept a discrepancy cluster (a waiver with a reason and an expiry date)\n"
    "  runs      list the runs of a results database: name, labels, instances, state, counts\n"
    "  merge     gather one run from several stores (files, PostgreSQL) into one SQLite file\n"
    "  prune     remove old runs (--keep N or --older-than 30d), never one still running\n"
    "  doctor    check capture permission, traffic, targets, store and key before a run\n"
    "\n"
    "Run 'shadowdiff help <command>' (or 'shadowdiff <command> --help') for its options.\n"
    "  -V, --version  print the version\n"
    "\n"
    "Exit codes: 0 success or pass, 1 differences found or fail, 2 error, 3 nothing to judge\n"
    "or inconclusive, 130 interrupted (replay, gate); each command's help gives its own.\n";

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
} COMMANDS[] = {
    {"capture", cmd_capture}, {"replay", cmd_replay}, {"mirror", cmd_mirror},
    {"gate", cmd_gate},       {"diff", cmd_diff},     {"report", cmd_report},
    {"inspect", cmd_inspect}, {"accept", cmd_accept}, {"doctor", cmd_doctor},
    {"runs", cmd_runs},       {"merge", cmd_merge},     {"prune", cmd_prune},
};
#define NCOMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static int unknown(const char *where, const char *name)
{
    const char *names[NCOMMANDS];
    for (size_t i = 0; i < NCOMMANDS; i++)
        names[i] = COMMANDS[i].name;
    const char *close = cli_did_you_mean(name, names, NCOMMANDS);
    if (close)
        fprintf(stderr, "shadowdiff: %sunknown command '%s' (did you mean '%s'? see 'shadowdiff "
                        "--help')\n", where, name, close);
    else
        fprintf(stderr, "shadowdiff: %sunknown command '%s' (see 'shadowdiff --help')\n", where,
                name);
    return SDIFF_EXIT_ERROR;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(USAGE, stderr);
        return SDIFF_EXIT_ERROR;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 ||
        strcmp(cmd, "version") == 0)
        return cli_version();
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        (strcmp(cmd, "help") == 0 && argc == 2)) {
        fputs(USAGE, stdout);
        return SDIFF_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0) {
        /* "shadowdiff help report" is "shadowdiff report --help" */
        for (size_t i = 0; i < NCOMMANDS; i++)
            if (strcmp(argv[2], COMMANDS[i].name) == 0) {
                static char help_flag[] = "--help";
                char *args[] = {argv[2], help_flag, NULL};
                return COMMANDS[i].fn(2, args);
            }
        return unknown("help: ", argv[2]);
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(cmd, COMMANDS[i].name) == 0)
            return COMMANDS[i].fn(argc - 1, argv + 1);
    return unknown("", cmd);
}
