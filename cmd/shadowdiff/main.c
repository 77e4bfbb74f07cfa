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
    "  doctor    check capture permission, traffic, targets, store and key before a run\n"
    "\n"
    "Run 'shadowdiff <command> --help' for a command's options.\n"
    "Exit codes: 0 success, 1 differences found, 2 error.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(USAGE, stderr);
        return SDIFF_EXIT_ERROR;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("shadowdiff %s\n", SDIFF_VERSION);
        return SDIFF_EXIT_OK;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(USAGE, stdout);
        return SDIFF_EXIT_OK;
    }
    if (strcmp(cmd, "capture") == 0)
        return cmd_capture(argc - 1, argv + 1);
    if (strcmp(cmd, "diff") == 0)
        return cmd_diff(argc - 1, argv + 1);
    if (strcmp(cmd, "report") == 0)
        return cmd_report(argc - 1, argv + 1);
    if (strcmp(cmd, "inspect") == 0)
        return cmd_inspect(argc - 1, argv + 1);
    if (strcmp(cmd, "accept") == 0)
        return cmd_accept(argc - 1, argv + 1);
    if (strcmp(cmd, "replay") == 0)
        return cmd_replay(argc - 1, argv + 1);
    if (strcmp(cmd, "mirror") == 0)
        return cmd_mirror(argc - 1, argv + 1);
    if (strcmp(cmd, "gate") == 0)
        return cmd_gate(argc - 1, argv + 1);
    if (strcmp(cmd, "doctor") == 0)
        return cmd_doctor(argc - 1, argv + 1);
    fprintf(stderr, "shadowdiff: unknown command '%s'\n\n%s", cmd, USAGE);
    return SDIFF_EXIT_ERROR;
}
