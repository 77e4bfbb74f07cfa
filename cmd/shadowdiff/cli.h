#ifndef SDIFF_CLI_H
#define SDIFF_CLI_H
/*
 * cli.h - what the subcommands share: exit codes, one-line errors, option value parsing.
 */
#include <stddef.h>
#include <stdint.h>

#include "shadowdiff/core.h"

/* Exit codes: the table in README.md; each command's --help ends with its row. */
enum {
    SDIFF_EXIT_OK = 0,      /* success; for diff/gate: parity */
    SDIFF_EXIT_DIFF = 1,    /* differences found / verdict failed */
    SDIFF_EXIT_ERROR = 2,   /* bad arguments, bad input, runtime error */
    SDIFF_EXIT_NOTHING = 3, /* nothing to judge / inconclusive */
    SDIFF_EXIT_INTERRUPTED = 130, /* replay, gate: stopped by a signal, results committed */
};

/* The exit codes of cmd ("report", ...) as the last lines of its --help. */
const char *cli_exit_help(const char *cmd);
/* Print "shadowdiff VERSION" on stdout; returns SDIFF_EXIT_OK. */
int cli_version(void);

/*
 * getopt_long with the tool's manners: -V/--version are added to every table (returned as
 * 'V'); an unknown option or a missing value is one line on stderr naming the option, with
 * a "did you mean" when a long option is close, and returns '?'. A short flag listed in
 * deprecated ("p=--port,d=--duration") still works and prints a deprecation line once.
 * Call with optind = 1 before the first call.
 */
#include <getopt.h>
int cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
               const struct option *longopts, const char *deprecated);
/*
 * The warning of a capture or mirror that ended with nothing: live, "0 packets matched
 * `FILTER` in S seconds"; from a file, what (e.g. "no HTTP/1.1 exchange") and the file's
 * busiest TCP ports.
 */
void cli_nothing_matched(const char *cmd, const char *what, int live, const char *filter,
                         double seconds, uint64_t packets, const char *pcap_file);
/* The closest of names to word, or NULL when none is close. */
const char *cli_did_you_mean(const char *word, const char *const *names, size_t n);

/* Print "shadowdiff: <cmd>: <message>" on stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * One log line on stderr. Text: "shadowdiff: CMD: MSG" ("warning: " before MSG at level
 * warning). With cli_log_json (--log-format json): one JSON object, {"ts", "level", "cmd",
 * "msg"} and then fields, when not NULL: more members as JSON text ("\"n\":1,\"k\":\"v\"",
 * the caller escapes their strings with sdiff_buf_json_str). MSG is escaped for a terminal
 * (sdiff_buf_text) in both forms, so traffic in it is never acted on.
 */
void cli_log(const char *cmd, const char *level, const char *fields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* --log-format: 0 text (the default), 1 JSON lines */
extern int cli_log_json;
/* Parse --log-format's value into cli_log_json; < 0 (said) when it is not text or json. */
int cli_parse_log_format(const char *cmd, const char *arg);
/* Print the error object as one line and return SDIFF_EXIT_ERROR. */
int cli_fail(const char *cmd, const struct sdiff_err *err);
/* Warn on stderr when a database that is only read (a corpus, a results file) can be read by
 * other users; errors are left to the open that follows. */
void cli_warn_db(const char *cmd, const char *path);

/*
 * The status line of a long command (replay, gate): on a TTY one line redrawn every second
 * ("1200/20000 (6%), 512/s, 3 different, 0 errors, ETA 37s"), ended when the run ends;
 * piped, the same as a log line every 10 seconds. cli_progress_init sets the run's
 * progress interval; pass cli_progress and the state as the run's progress function.
 */
struct cli_progress {
    const char *cmd;
    int tty;
    int open;                      /* a TTY line is drawn and not ended */
};
#include "shadowdiff/run.h"
void cli_progress_init(struct cli_progress *p, const char *cmd, double *every_s);
void cli_progress(const struct sdiff_run_progress *p, void *ud);
/* End a TTY line left open (the run failed before its last call). */
void cli_progress_end(struct cli_progress *p);

/*
 * A --corpus must be a SQLite corpus (capture --out FILE.db): say so, naming what the file is
 * instead (JSON Lines, something else), before anything opens it. A missing file is left to
 * the open. 0, or -1 (message printed).
 */
int cli_check_corpus(const char *cmd, const char *path);

/*
 * Colour (clig.dev, no-color.org): --color always or never decides; auto (the default)
 * colours only a terminal, and not when TERM is "dumb" or NO_COLOR is set to something
 * non-empty.
 */
enum { CLI_COLOR_AUTO = 0, CLI_COLOR_ALWAYS, CLI_COLOR_NEVER };
/* Parse --color's value; -1 (said) when it is not auto, always or never. */
int cli_parse_color(const char *cmd, const char *arg, int *mode);
/* Whether fd is a person's terminal: a TTY, and TERM is not "dumb". */
int cli_tty(int fd);
/* Whether to colour what goes to fd under mode. */
int cli_use_color(int mode, int fd);

/* Set by SIGINT and SIGTERM once cli_catch_stop_signals has run: commands stop cleanly. */
#include <signal.h>
extern volatile sig_atomic_t cli_stop_flag;
void cli_catch_stop_signals(void);

int cli_parse_port(const char *s, uint16_t *out);
/* "1048576", "512K", "1M", "2G" */
int cli_parse_size(const char *s, size_t *out);
/* --memory SIZE of capture and mirror: at least CLI_MEMORY_MIN; a one-line error and -1 if not */
#define CLI_MEMORY_MIN ((size_t)8 << 20)
int cli_parse_memory(const char *cmd, const char *s, size_t *out);
/* "30", "1.5", "30s", "5m", "2h" */
int cli_parse_seconds(const char *s, double *out);
int cli_parse_u64(const char *s, uint64_t *out);

/*
 * Options shared by replay, mirror and gate: targets, replay behaviour, safety. Each command
 * lists CLI_JUDGE_LONGOPTS in its option table and passes unknown codes to cli_judge_opt.
 */
#include <getopt.h>

#include "shadowdiff/run.h"

/* --verify-tcp-checksums: "auto", "on" or "off" */
int cli_parse_csum_mode(const char *s, enum sdiff_csum_mode *out);

enum {
    CLI_O_CAND = 1000, CLI_O_SEC, CLI_O_PRIM, CLI_O_CONFIG, CLI_O_ALLOW, CLI_O_CONC, CLI_O_RATE,
    CLI_O_TIMEOUT, CLI_O_CTIMEOUT, CLI_O_SET, CLI_O_DROP, CLI_O_PRESERVE, CLI_O_MARKER,
    CLI_O_NOMARKER, CLI_O_INSECURE, CLI_O_KEEP_SECRETS, CLI_O_OPENAPI, CLI_O_REDACT_KEY,
    CLI_O_TRANSPORT, CLI_O_PRESET, CLI_O_RUN, CLI_O_LABEL, CLI_O_JUDGES,
    CLI_O_PRIM_PID, CLI_O_CAND_PID, CLI_O_PRIM_CGROUP, CLI_O_CAND_CGROUP, CLI_O_PRIM_METRICS,
    CLI_O_CAND_METRICS, CLI_O_PRICE_MODEL,
};

#define CLI_JUDGE_LONGOPTS                                                                     \
    {"candidate", required_argument, NULL, CLI_O_CAND},                                        \
        {"secondary", required_argument, NULL, CLI_O_SEC},                                     \
        {"config", required_argument, NULL, CLI_O_CONFIG},                                     \
        {"allow-method", required_argument, NULL, CLI_O_ALLOW},                                \
        {"concurrency", required_argument, NULL, CLI_O_CONC},                                  \
        {"rate", required_argument, NULL, CLI_O_RATE},                                         \
        {"timeout", required_argument, NULL, CLI_O_TIMEOUT},                                   \
        {"connect-timeout", required_argument, NULL, CLI_O_CTIMEOUT},                          \
        {"set-header", required_argument, NULL, CLI_O_SET},                                    \
        {"drop-header", required_argument, NULL, CLI_O_DROP},                                  \
        {"preserve-host", no_argument, NULL, CLI_O_PRESERVE},                                  \
        {"marker", required_argument, NULL, CLI_O_MARKER},                                     \
        {"no-marker", no_argument, NULL, CLI_O_NOMARKER},                                      \
        {"insecure", no_argument, NULL, CLI_O_INSECURE},                                       \
        {"keep-secrets", no_argument, NULL, CLI_O_KEEP_SECRETS},                               \
        {"redact-key", required_argument, NULL, CLI_O_REDACT_KEY},                             \
        {"openapi", required_argument, NULL, CLI_O_OPENAPI},                                   \
        {"transport", required_argument, NULL, CLI_O_TRANSPORT},                               \
        {"preset", required_argument, NULL, CLI_O_PRESET},                                     \
        {"run", required_argument, NULL, CLI_O_RUN},                                           \
        {"label", required_argument, NULL, CLI_O_LABEL},                                       \
        {"judges", required_argument, NULL, CLI_O_JUDGES},                                     \
        {"primary-pid", required_argument, NULL, CLI_O_PRIM_PID},                              \
        {"candidate-pid", required_argument, NULL, CLI_O_CAND_PID},                            \
        {"primary-cgroup", required_argument, NULL, CLI_O_PRIM_CGROUP},                        \
        {"candidate-cgroup", required_argument, NULL, CLI_O_CAND_CGROUP},                      \
        {"primary-metrics", required_argument, NULL, CLI_O_PRIM_METRICS},                      \
        {"candidate-metrics", required_argument, NULL, CLI_O_CAND_METRICS},                    \
        {"price-model", required_argument, NULL, CLI_O_PRICE_MODEL}

/* Help text for the shared options. */
extern const char CLI_JUDGE_USAGE[];

struct cli_judge {
    struct sdiff_judge_opts judge;
    const char *config;
    const char *openapi;
    const char *preset;            /* --preset NAME, wins over the config's "preset" */
    struct sdiff_routes *routes;
    int keep_secrets;
    const char *redact_key;        /* --redact-key FILE */
    const char *allow[32], *set[32], *drop[32];
    size_t nallow, nset, ndrop;
    struct sdiff_rules *rules;
    struct sdiff_redact *redact;
    const char *run_name;          /* --run NAME, or NULL */
    char *labels;                  /* --label k=v ...: a JSON object text, or NULL */
    struct sdiff_cost_opts cost;   /* --primary-pid ... --price-model; the run's cost */
    const char *cmd;               /* for the cost sampler's warnings */
};

/* Handle one shared option: 1 handled, 0 not ours, -1 bad value (message printed). */
int cli_judge_opt(struct cli_judge *j, const char *cmd, int code, const char *arg);
/* Check required options, load the config; fills j->judge. 0, or -1 (message printed). */
int cli_judge_finish(struct cli_judge *j, const char *cmd, struct sdiff_store_opts *store);
/*
 * Unless --keep-secrets: a redactor for j->judge.redact whose key is --redact-key's, else the
 * corpus's own (bound to it here); without either (mirror), the judge takes the results
 * database's. corpus may be NULL. 0, or -1 (message printed).
 */
int cli_judge_redact(struct cli_judge *j, const char *cmd, const char *corpus);
void cli_judge_dispose(struct cli_judge *j);

/*
 * A redactor with the config's secret_headers, redact_query and redact_paths plus the given
 * extra lists (NULL, 0 for none). 0, or -1 (message printed).
 */
int cli_redact_new(const char *cmd, const struct sdiff_rules *rules,
                   const struct sdiff_redact_key *key, const char *const *headers,
                   size_t nheaders, const char *const *query, size_t nquery,
                   const char *const *paths, size_t npaths, struct sdiff_redact **out);

/* --user NAME: looked up when the options are read, switched to once capture is open. */
#include <sys/types.h>
struct cli_user {
    const char *name;
    uid_t uid;
    gid_t gid;
};
/* 0, or -1 with "no such user" printed. */
int cli_user_lookup(const char *cmd, const char *name, struct cli_user *u);
/*
 * Give up privileges once the capture is open (sdiff_capture_run_opts.on_open): as root, the
 * bounding set; then, with a cli_user as ud, switch to the user for good (its groups, gid,
 * then uid, checked that root cannot be regained); then, always (ud NULL: no switch), clear
 * every capability set and set no_new_privs, in every thread.
 */
int cli_user_drop(void *ud, struct sdiff_err *err);
/* Print a run's summary and its unused-rule warnings on stderr. */
void cli_print_judged(const char *cmd, const struct sdiff_replay_run_stats *st,
                      const struct cli_judge *j);

/*
 * Runs by name (cli_runs.c). --run NAME of a writer: 1 to 64 of [A-Za-z0-9._-], not only
 * digits; 0, or -1 (message printed).
 */
int cli_run_name(const char *cmd, const char *name);
/* --label k=v: add it to the JSON object text *labels (NULL at first; caller frees with
 * sdiff_free). 0, or -1 (message printed). */
int cli_label_add(const char *cmd, const char *arg, char **labels);
/* The id of the run sel selects in db: all digits is an id, anything else a name; sel NULL
 * sets 0 (the default run). 0, or -1 (message printed). */
int cli_find_run(const char *cmd, const char *db, const char *sel, int64_t *id);
/* Before a writer joins the named run: "appending to run NAME, last active DATE" on stderr
 * when db holds it already; nothing otherwise. */
void cli_say_join(const char *cmd, const char *db, const char *name);

int cmd_capture(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_mirror(int argc, char **argv);
int cmd_gate(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_accept(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_prune(int argc, char **argv);

#endif
