#ifndef SDIFF_CLI_H
#define SDIFF_CLI_H
/*
 * cli.h - what the subcommands share: exit codes, one-line errors, option value parsing.
 */
#include <stddef.h>
#include <stdint.h>

#include "shadowdiff/core.h"

/* Exit codes: documented in README.md. */
enum {
    SDIFF_EXIT_OK = 0,      /* success; for diff/gate: parity */
    SDIFF_EXIT_DIFF = 1,    /* differences found / verdict failed */
    SDIFF_EXIT_ERROR = 2,   /* bad arguments, bad input, runtime error */
};

/* Print "shadowdiff: <cmd>: <message>" on stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the error object as one line and return SDIFF_EXIT_ERROR. */
int cli_fail(const char *cmd, const struct sdiff_err *err);

int cli_parse_port(const char *s, uint16_t *out);
/* "1048576", "512K", "1M", "2G" */
int cli_parse_size(const char *s, size_t *out);
/* "30", "1.5", "30s", "5m", "2h" */
int cli_parse_seconds(const char *s, double *out);
int cli_parse_u64(const char *s, uint64_t *out);

int cmd_capture(int argc, char **argv);

#endif
