/*
 * cli.c - helpers shared by the subcommands.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int cli_log_json;

int cli_parse_log_format(const char *cmd, const char *arg)
{
    if (strcmp(arg, "text") == 0 || strcmp(arg, "json") == 0) {
        cli_log_json = arg[0] == 'j';
        return 0;
    }
    cli_error(cmd, "--log-format: '%s' is not text or json", arg);
    return -1;
}

static void log_line(const char *cmd, const char *level, const char *fields, const char *fmt,
                     va_list ap)
{
    struct sdiff_buf raw, msg, out;
    sdiff_buf_init(&raw, 1u << 20);
    sdiff_buf_init(&msg, 1u << 22);
    sdiff_buf_init(&out, 1u << 23);
    char small[2048];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= (int)sizeof small && sdiff_buf_reserve(&raw, (size_t)n + 1) >= 0) {
        vsnprintf((char *)raw.data, (size_t)n + 1, fmt, ap2);
        raw.len = (size_t)n;
    } else if (n >= 0) {
        sdiff_buf_append(&raw, small, (size_t)n < sizeof small ? (size_t)n : sizeof small - 1);
    }
    va_end(ap2);
    /* messages quote traffic (a target, a header) and file names: one line, escaped */
    if (raw.len && sdiff_buf_text(&msg, raw.data, raw.len, 0) < 0)
        sdiff_buf_reset(&msg);
    if (!cli_log_json) {
        sdiff_buf_printf(&out, "shadowdiff: %s: %s", cmd,
                         strcmp(level, "warning") == 0 ? "warning: " : "");
        sdiff_buf_append(&out, msg.data ? msg.data : (const uint8_t *)"", msg.len);
    } else {
        struct timespec ts;
        struct tm tm;
        char when[40];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        sdiff_buf_printf(&out, "{\"ts\":\"%s.%03ldZ\",\"level\":", when, ts.tv_nsec / 1000000);
        sdiff_buf_json_str(&out, level, strlen(level));
        /* Cloud Logging and GKE read the level from "severity" (INFO, WARNING, ERROR) */
        const char *sev = strcmp(level, "warning") == 0 ? "WARNING"
                          : strcmp(level, "error") == 0 ? "ERROR"
                                                        : "INFO";
        sdiff_buf_printf(&out, ",\"severity\":\"%s\"", sev);
        sdiff_buf_puts(&out, ",\"cmd\":");
        sdiff_buf_json_str(&out, cmd, strlen(cmd));
        sdiff_buf_puts(&out, ",\"msg\":");
        sdiff_buf_json_str(&out, msg.data ? msg.data : (const uint8_t *)"", msg.len);
        if (fields && fields[0]) {
            sdiff_buf_puts(&out, ",");
            sdiff_buf_puts(&out, fields);
        }
        sdiff_buf_puts(&out, "}");
        sdiff_buf_json_c1(&out, 0);
    }
    sdiff_buf_puts(&out, "\n");
    if (out.data)
        fwrite(out.data, 1, out.len, stderr);
    fflush(stderr);
    sdiff_buf_dispose(&out);
    sdiff_buf_dispose(&msg);
    sdiff_buf_dispose(&raw);
}

void cli_log(const char *cmd, const char *level, const char *fields, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line(cmd, level, fields, fmt, ap);
    va_end(ap);
}

void cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line(cmd, "error", NULL, fmt, ap);
    va_end(ap);
}

int cli_fail(const char *cmd, const struct sdiff_err *err)
{
    cli_error(cmd, "%s", err->msg[0] ? err->msg : sdiff_status_str(err->code));
    return SDIFF_EXIT_ERROR;
}

volatile sig_atomic_t cli_stop_flag;

static void on_stop_signal(int sig)
{
    cli_stop_flag = sig; /* which one, for the last line; never 0 */
}

int cli_parse_color(const char *cmd, const char *arg, int *mode)
{
    if (strcmp(arg, "auto") == 0)
        *mode = CLI_COLOR_AUTO;
    else if (strcmp(arg, "always") == 0)
        *mode = CLI_COLOR_ALWAYS;
    else if (strcmp(arg, "never") == 0)
        *mode = CLI_COLOR_NEVER;
    else {
        struct sdiff_text_ring t;
        sdiff_text_ring_init(&t);
        cli_error(cmd, "--color: '%s' is not auto, always or never", sdiff_text(&t, arg));
        sdiff_text_ring_dispose(&t);
        return -1;
    }
    return 0;
}

int cli_tty(int fd)
{
    const char *term = getenv("TERM");
    return isatty(fd) && !(term && strcmp(term, "dumb") == 0);
}

int cli_use_color(int mode, int fd)
{
    if (mode != CLI_COLOR_AUTO)
        return mode == CLI_COLOR_ALWAYS;
    const char *no = getenv("NO_COLOR");
    return cli_tty(fd) && !(no && no[0]);
}

void cli_progress_init(struct cli_progress *p, const char *cmd, double *every_s)
{
    p->cmd = cmd;
    p->tty = cli_tty(2);
    p->open = 0;
    *every_s = p->tty ? 1 : 10;
}

static void fmt_eta(double s, char *out, size_t cap)
{
    if (s < 120)
        snprintf(out, cap, "%.0fs", s);
    else if (s < 7200)
        snprintf(out, cap, "%.0fm", s / 60);
    else
        snprintf(out, cap, "%.1fh", s / 3600);
}

void cli_progress(const struct sdiff_run_progress *p, void *ud)
{
    struct cli_progress *c = ud;
    if (!c->tty && p->final)
        return; /* the summary line follows */
    double rate = p->elapsed_s > 0 ? (double)p->done / p->elapsed_s : 0;
    char of[64] = "", eta[32] = "";
    if (p->total) {
        snprintf(of, sizeof of, "/%llu (%.0f%%)", (unsigned long long)p->total,
                 100.0 * (double)p->done / (double)p->total);
        if (!p->final && rate > 0 && p->done < p->total) {
            char t[24];
            fmt_eta((double)(p->total - p->done) / rate, t, sizeof t);
            snprintf(eta, sizeof eta, ", ETA %s", t);
        }
    }
    /* on a TTY: back to the line's start, and erase what a longer line left behind */
    fprintf(stderr, "%sshadowdiff: %s: %llu%s done, %.0f/s, %llu different, %llu errors%s%s%s",
            c->tty ? "\r" : "", c->cmd, (unsigned long long)p->done, of, rate,
            (unsigned long long)p->different, (unsigned long long)p->errors, eta,
            c->tty ? "\033[K" : "", !c->tty || p->final ? "\n" : "");
    c->open = c->tty && !p->final;
    fflush(stderr);
}

void cli_progress_end(struct cli_progress *p)
{
    if (p->open)
        fputc('\n', stderr);
    p->open = 0;
}

int cli_check_corpus(const char *cmd, const char *path)
{
    static const char magic[16] = "SQLite format 3";
    char head[16] = {0};
    if (strncmp(path, "postgres://", 11) == 0 || strncmp(path, "postgresql://", 13) == 0)
        return 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    if (n == sizeof head && memcmp(head, magic, sizeof magic) == 0)
        return 0;
    size_t i = 0;
    while (i < n && (head[i] == ' ' || head[i] == '\n' || head[i] == '\r' || head[i] == '\t'))
        i++;
    struct sdiff_text_ring t;
    sdiff_text_ring_init(&t);
    cli_error(cmd, "--corpus %s: %s; --corpus takes a SQLite corpus (shadowdiff capture --out "
                   "FILE.db)",
              sdiff_text(&t, path),
              n == 0 ? "is empty" : i < n && head[i] == '{' ? "is JSON Lines" : "is not SQLite");
    sdiff_text_ring_dispose(&t);
    return -1;
}

void cli_warn_db(const char *cmd, const char *path)
{
    char warn[400];
    if (path && strcmp(path, "-") != 0 && sdiff_file_db_check(path, 0, warn, sizeof warn, NULL) >= 0 &&
        warn[0])
        cli_error(cmd, "warning: %s", warn);
}

void cli_catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (s[0] == '-' || s[0] == '\0')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_port(const char *s, uint16_t *out)
{
    uint64_t v;
    if (cli_parse_u64(s, &v) < 0 || v == 0 || v > 65535)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

int cli_parse_csum_mode(const char *s, enum sdiff_csum_mode *out)
{
    if (strcmp(s, "auto") == 0)
        *out = SDIFF_CSUM_AUTO;
    else if (strcmp(s, "on") == 0)
        *out = SDIFF_CSUM_ON;
    else if (strcmp(s, "off") == 0)
        *out = SDIFF_CSUM_OFF;
    else
        return -1;
    return 0;
}

int cli_parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    if (s[0] == '-' || s[0] == '\0')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    unsigned long long mul = 1;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': mul = 1ull << 10; end++; break;
    case 'm': case 'M': mul = 1ull << 20; end++; break;
    case 'g': case 'G': mul = 1ull << 30; end++; break;
    default: return -1;
    }
    if (*end == 'i' || *end == 'B')
        end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end || v > SIZE_MAX / mul)
        return -1;
    *out = (size_t)(v * mul);
    return 0;
}

int cli_parse_memory(const char *cmd, const char *s, size_t *out)
{
    size_t z;
    /* Below a few MiB the flow table and one connection's parser state alone would fill it. */
    if (cli_parse_size(s, &z) < 0 || z < CLI_MEMORY_MIN) {
        cli_error(cmd, "--memory: '%s' is not a size of at least 8M (256M, 2G)", s);
        return -1;
    }
    *out = z;
    return 0;
}

int cli_parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    double mul = 1;
    if (*end == 's')
        end++;
    else if (*end == 'm')
        mul = 60, end++;
    else if (*end == 'h')
        mul = 3600, end++;
    else if (*end == 'd')
        mul = 86400, end++;
    if (*end)
        return -1;
    *out = v * mul;
    return 0;
}

/* ---- options shared by replay, mirror and gate ----------------------------------------- */

#include <string.h>

const char CLI_JUDGE_USAGE[] =
    "      --candidate URL        the new service, e.g. http://127.0.0.1:8081\n"
    "      --secondary URL        a second instance of the old service (learns noise)\n"
    "      --config FILE          comparison rules (JSON; see README)\n"
    "      --allow-method M       also replay method M (repeatable); default GET HEAD OPTIONS\n"
    "      --concurrency N        requests in flight (default 16)\n"
    "      --judges N             threads that redact and compare answers (default: the CPUs\n"
    "                             online less one, 1 to 8); with more than one, another stores the\n"
    "                             results. The results are the same for any N\n"
    "      --rate RPS             requests started per second (default: no cap)\n"
    "      --timeout S            whole-request timeout (default 10)\n"
    "      --connect-timeout S    connect timeout (default 2)\n"
    "      --set-header 'N: v'    set a header on every request (repeatable)\n"
    "      --drop-header N        do not send header N (repeatable)\n"
    "      --preserve-host        send the captured Host header\n"
    "      --marker 'N: v'        marker header on every replay (default 'X-Shadowdiff:\n"
    "                             <run token>', a new random token each run)\n"
    "      --no-marker            send no marker header (captured ones are still removed)\n"
    "      --insecure             do not verify TLS certificates (warns)\n"
    "      --transport T          for http:// targets: native (default) or curl; https://\n"
    "                             always goes through libcurl\n"
    "      --keep-secrets         store and print credentials as they are (default: keyed\n"
    "                             hashes of Authorization, Cookie, token=..., redact_paths)\n"
    "      --redact-key FILE      hash credentials with this key (default: the corpus's or\n"
    "                             the database's own key)\n"
    "      --openapi FILE|URL     route templates from an OpenAPI 3 document (JSON), a file or\n"
    "                             a URL (FastAPI's /openapi.json); routes\n"
    "                             named in the config are templates too\n"
    "      --preset python-go     judgements between a Python service and its Go port:\n"
    "                             equal instants, porting hints (see README)\n"
    "      --run NAME             join (or start) the named run: every process naming it adds\n"
    "                             to one run (1-64 of A-Z a-z 0-9 . _ -, not only digits)\n"
    "      --label K=V            a label of the run, e.g. version=1.4.2 (repeatable)\n"
    "      --primary-pid PID, --candidate-pid PID\n"
    "                             sample the CPU time and memory of this process and its\n"
    "                             descendants (found again every second) for the report's\n"
    "                             cost per request\n"
    "      --primary-cgroup PATH, --candidate-cgroup PATH\n"
    "                             sample a cgroup instead (v1 or v2; PATH below\n"
    "                             /sys/fs/cgroup, e.g. /system.slice/app.service)\n"
    "      --primary-metrics URL, --candidate-metrics URL\n"
    "                             or a Prometheus page with process_cpu_seconds_total and\n"
    "                             process_resident_memory_bytes (GET, 1 s, 4 MiB at most)\n"
    "      --price-model M        cloud-run (default: an estimate from Cloud Run's list\n"
    "                             prices, see README) or none (no cost in USD)\n";

static void cost_warn(const char *msg, void *ud)
{
    cli_error(ud ? (const char *)ud : "run", "warning: %s", msg);
}

/* The cost options: one source per side, each checked here so a typo is a usage error. */
static int cli_cost_opt(struct cli_judge *j, const char *cmd, int code, const char *arg)
{
    int primary = code == CLI_O_PRIM_PID || code == CLI_O_PRIM_CGROUP ||
                  code == CLI_O_PRIM_METRICS;
    struct sdiff_cost_source *src = primary ? &j->cost.primary : &j->cost.candidate;
    const char *side = primary ? "primary" : "candidate";
    uint64_t u;
    if (code == CLI_O_PRICE_MODEL) {
        if (strcmp(arg, "cloud-run") != 0 && strcmp(arg, "none") != 0) {
            cli_error(cmd, "--price-model: '%s' is not cloud-run or none", arg);
            return -1;
        }
        j->cost.price_model = arg;
        return 1;
    }
    if (src->pid > 0 || src->cgroup || src->metrics_url) {
        cli_error(cmd, "--%s-pid, --%s-cgroup, --%s-metrics: give one source for the %s", side,
                  side, side, side);
        return -1;
    }
    if (code == CLI_O_PRIM_PID || code == CLI_O_CAND_PID) {
        /* Linux pids stop at 2^22 (pid_max) */
        if (cli_parse_u64(arg, &u) < 0 || u < 1 || u > 4194304) {
            cli_error(cmd, "--%s-pid: '%s' is not a process id", side, arg);
            return -1;
        }
        src->pid = (int)u;
    } else if (code == CLI_O_PRIM_CGROUP || code == CLI_O_CAND_CGROUP) {
        if (arg[0] != '/' || strstr(arg, "/..") != NULL || strlen(arg) > 1024) {
            cli_error(cmd, "--%s-cgroup: '%s' is not a cgroup path (absolute, below "
                           "/sys/fs/cgroup, e.g. /system.slice/app.service)",
                      side, arg);
            return -1;
        }
        src->cgroup = arg;
    } else {
        if ((strncmp(arg, "http://", 7) != 0 && strncmp(arg, "https://", 8) != 0) ||
            strlen(arg) > 2048 || strpbrk(arg, " \t\r\n") != NULL) {
            cli_error(cmd, "--%s-metrics: '%s' is not an http:// or https:// URL", side, arg);
            return -1;
        }
        src->metrics_url = arg;
    }
    j->cmd = cmd;
    j->cost.warn = cost_warn;
    j->cost.warn_ud = (void *)cmd;
    return 1;
}

/*
 * --openapi FILE, or a URL (FastAPI serves /openapi.json): fetched with the library's bounded
 * client, at most 8 MiB within 5 seconds, no redirects.
 */
static int cli_load_openapi(struct sdiff_routes *routes, const char *src, struct sdiff_err *err)
{
    if (strncmp(src, "http://", 7) != 0 && strncmp(src, "https://", 8) != 0)
        return sdiff_routes_load_openapi(routes, src, err);
    struct sdiff_buf b;
    sdiff_buf_init(&b, 8u << 20);
    int rc = sdiff_replay_fetch(src, 5000, &b, err);
    if (rc == SDIFF_ELIMIT)
        rc = sdiff_err_set(err, rc, "route", "--openapi %.150s: larger than 8 MiB", src);
    if (rc >= 0)
        rc = sdiff_routes_load_openapi_text(routes, b.data ? (const char *)b.data : "", b.len,
                                            src, err);
    sdiff_buf_dispose(&b);
    return rc;
}

int cli_judge_opt(struct cli_judge *j, const char *cmd, int code, const char *arg)
{
    struct sdiff_replay_opts *r = &j->judge.replay;
    uint64_t u;
    double s;
    switch (code) {
    case CLI_O_CAND: j->judge.candidate = arg; return 1;
    case CLI_O_SEC: j->judge.secondary = arg; return 1;
    case CLI_O_PRIM: j->judge.primary = arg; return 1;
    case CLI_O_CONFIG: j->config = arg; return 1;
    case CLI_O_RUN:
        if (cli_run_name(cmd, arg) < 0)
            return -1;
        j->run_name = arg;
        return 1;
    case CLI_O_LABEL: return cli_label_add(cmd, arg, &j->labels) < 0 ? -1 : 1;
    case CLI_O_PRIM_PID:
    case CLI_O_CAND_PID:
    case CLI_O_PRIM_CGROUP:
    case CLI_O_CAND_CGROUP:
    case CLI_O_PRIM_METRICS:
    case CLI_O_CAND_METRICS:
    case CLI_O_PRICE_MODEL: return cli_cost_opt(j, cmd, code, arg);
    case CLI_O_PRESERVE: r->preserve_host = 1; return 1;
    case CLI_O_MARKER:
        if (strchr(arg, ':') == NULL) {
            cli_error(cmd, "--marker: '%s' is not 'Name: value'", arg);
            return -1;
        }
        r->marker = arg;
        return 1;
    case CLI_O_NOMARKER: r->marker = ""; return 1;
    case CLI_O_INSECURE: r->insecure = 1; return 1;
    case CLI_O_TRANSPORT:
        if (strcmp(arg, "native") == 0) {
            r->transport = SDIFF_REPLAY_TRANSPORT_NATIVE;
        } else if (strcmp(arg, "curl") == 0) {
            r->transport = SDIFF_REPLAY_TRANSPORT_CURL;
        } else {
            cli_error(cmd, "--transport: '%s' is not native or curl", arg);
            return -1;
        }
        return 1;
    case CLI_O_KEEP_SECRETS: j->keep_secrets = 1; return 1;
    case CLI_O_REDACT_KEY: j->redact_key = arg; return 1;
    case CLI_O_OPENAPI: j->openapi = arg; return 1;
    case CLI_O_PRESET: {
        enum sdiff_preset p;
        if (sdiff_preset_parse(arg, &p) < 0) {
            cli_error(cmd, "--preset %s: unknown preset (there is python-go)", arg);
            return -1;
        }
        j->preset = arg;
        return 1;
    }
    case CLI_O_ALLOW:
    case CLI_O_SET:
    case CLI_O_DROP: {
        const char **v = code == CLI_O_ALLOW ? j->allow : code == CLI_O_SET ? j->set : j->drop;
        size_t *n = code == CLI_O_ALLOW ? &j->nallow : code == CLI_O_SET ? &j->nset : &j->ndrop;
        if (*n == 32) {
            cli_error(cmd, "at most 32 of each repeatable option");
            return -1;
        }
        if (code == CLI_O_SET && strchr(arg, ':') == NULL) {
            cli_error(cmd, "--set-header: '%s' is not 'Name: value'", arg);
            return -1;
        }
        v[(*n)++] = arg;
        return 1;
    }
    case CLI_O_CONC:
        if (cli_parse_u64(arg, &u) < 0 || u == 0 || u > 10000) {
            cli_error(cmd, "--concurrency: '%s' must be between 1 and 10000", arg);
            return -1;
        }
        r->concurrency = (size_t)u;
        return 1;
    case CLI_O_JUDGES:
        if (cli_parse_u64(arg, &u) < 0 || u == 0 || u > SDIFF_JUDGES_MAX) {
            cli_error(cmd, "--judges: '%s' must be between 1 and %d", arg, SDIFF_JUDGES_MAX);
            return -1;
        }
        j->judge.judges = (unsigned)u;
        return 1;
    case CLI_O_RATE:
        if (cli_parse_seconds(arg, &s) < 0 || s <= 0) {
            cli_error(cmd, "--rate: '%s' is not a positive number", arg);
            return -1;
        }
        r->rate = s;
        return 1;
    case CLI_O_TIMEOUT:
    case CLI_O_CTIMEOUT:
        if (cli_parse_seconds(arg, &s) < 0 || s <= 0) {
            cli_error(cmd, "%s: '%s' is not a duration",
                      code == CLI_O_TIMEOUT ? "--timeout" : "--connect-timeout", arg);
            return -1;
        }
        if (code == CLI_O_TIMEOUT)
            r->timeout_ms = (long)(s * 1000);
        else
            r->connect_timeout_ms = (long)(s * 1000);
        return 1;
    default:
        return 0;
    }
}

int cli_judge_finish(struct cli_judge *j, const char *cmd, struct sdiff_store_opts *store)
{
    struct sdiff_err err = {0};
    if (j->judge.candidate == NULL) {
        cli_error(cmd, "--candidate URL is required");
        return -1;
    }
    if (j->judge.replay.insecure)
        cli_error(cmd, "warning: --insecure: TLS certificates are not verified");
    if (sdiff_rules_load(&j->rules, j->config, &err) < 0) {
        cli_fail(cmd, &err);
        return -1;
    }
    enum sdiff_preset preset;
    if (j->preset && (sdiff_preset_parse(j->preset, &preset) < 0 ||
                      sdiff_rules_set_preset(j->rules, preset, &err) < 0)) {
        cli_fail(cmd, &err);
        return -1;
    }
    j->judge.rules = j->rules;
    /* explicit templates: the config's route names, then the OpenAPI document's */
    if (sdiff_routes_new(&j->routes) < 0) {
        cli_error(cmd, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < sdiff_rules_route_count(j->rules); i++)
        if (sdiff_routes_add(j->routes, sdiff_rules_route_name(j->rules, i), &err) < 0) {
            cli_fail(cmd, &err);
            return -1;
        }
    if (j->openapi && cli_load_openapi(j->routes, j->openapi, &err) < 0) {
        cli_fail(cmd, &err);
        return -1;
    }
    j->judge.routes = j->routes;
    j->judge.allow_methods = j->allow;
    j->judge.nallow = j->nallow;
    j->judge.replay.set_headers = j->set;
    j->judge.replay.nset = j->nset;
    j->judge.replay.drop_headers = j->drop;
    j->judge.replay.ndrop = j->ndrop;
    store->keep_secrets = j->keep_secrets;
    store->secret_headers = sdiff_rules_secret_headers(j->rules, &store->nsecret);
    if (j->keep_secrets && j->redact_key) {
        cli_error(cmd, "--keep-secrets and --redact-key: choose one");
        return -1;
    }
    return 0;
}

int cli_redact_new(const char *cmd, const struct sdiff_rules *rules,
                   const struct sdiff_redact_key *key, const char *const *headers,
                   size_t nheaders, const char *const *query, size_t nquery,
                   const char *const *paths, size_t npaths, struct sdiff_redact **out)
{
    const char *h[128], *q[128], *p[64];
    size_t nh = 0, nq = 0, np = 0, n;
    const char *const *v;
    struct sdiff_err err = {0};
    v = rules ? sdiff_rules_secret_headers(rules, &n) : NULL;
    for (size_t i = 0; v && i < n && nh < 128; i++)
        h[nh++] = v[i];
    for (size_t i = 0; i < nheaders && nh < 128; i++)
        h[nh++] = headers[i];
    v = rules ? sdiff_rules_redact_query(rules, &n) : NULL;
    for (size_t i = 0; v && i < n && nq < 128; i++)
        q[nq++] = v[i];
    for (size_t i = 0; i < nquery && nq < 128; i++)
        q[nq++] = query[i];
    v = rules ? sdiff_rules_redact_paths(rules, &n) : NULL;
    for (size_t i = 0; v && i < n && np < 64; i++)
        p[np++] = v[i];
    for (size_t i = 0; i < npaths && np < 64; i++)
        p[np++] = paths[i];
    struct sdiff_redact_opts o = {.key = key, .headers = h, .nheaders = nh, .query = q,
                                  .nquery = nq, .paths = p, .npaths = np};
    if (sdiff_redact_new(out, &o, &err) < 0) {
        cli_fail(cmd, &err);
        return -1;
    }
    return 0;
}

/* Tie the key to one database (created when missing unless it must exist). */
static int bind_db(const char *cmd, struct sdiff_redact_key *k, const char *path, int must_exist)
{
    struct sdiff_store *st = NULL;
    struct sdiff_store_opts so = {.must_exist = must_exist};
    struct sdiff_err err = {0};
    int rc = sdiff_store_open(&st, path, &so, &err);
    rc = rc < 0 ? rc : sdiff_redact_key_bind(k, st, &err);
    sdiff_store_close(st);
    if (rc < 0)
        cli_fail(cmd, &err);
    return rc;
}

int cli_judge_redact(struct cli_judge *j, const char *cmd, const char *corpus)
{
    struct sdiff_redact_key key;
    struct sdiff_err err = {0};
    int rc = 0;
    memset(&key, 0, sizeof key);
    if (j->keep_secrets)
        return 0;
    if (j->redact_key && sdiff_redact_key_load(&key, j->redact_key, &err) < 0) {
        cli_fail(cmd, &err);
        return -1;
    }
    /* the corpus's hashes decide: the answers must be hashed as its recordings were. The
     * results database is bound by the judge, once the run has opened it */
    if (corpus)
        rc = bind_db(cmd, &key, corpus, 1);
    if (rc >= 0)
        rc = cli_redact_new(cmd, j->rules, key.len ? &key : NULL, NULL, 0, NULL, 0, NULL, 0,
                            &j->redact);
    memset(&key, 0, sizeof key);
    if (rc < 0)
        return -1;
    j->judge.redact = j->redact;
    return 0;
}

int cli_user_lookup(const char *cmd, const char *name, struct cli_user *u)
{
    errno = 0;
    struct passwd *pw = getpwnam(name);
    if (pw == NULL) {
        if (errno)
            cli_error(cmd, "--user: cannot look up user '%s': %s", name, strerror(errno));
        else
            cli_error(cmd, "--user: no such user '%s'", name);
        return -1;
    }
    u->name = name;
    u->uid = pw->pw_uid;
    u->gid = pw->pw_gid;
    return 0;
}

int cli_user_drop(void *ud, struct sdiff_err *err)
{
    const struct cli_user *u = ud;
    int rc;
    /* the bounding set first: emptying it needs CAP_SETPCAP, which the switch takes away */
    if (geteuid() == 0 && (rc = sdiff_capture_drop_privileges(SDIFF_PRIV_BOUNDING, err)) < 0)
        return rc;
    int same = u == NULL || (getuid() == u->uid && geteuid() == u->uid && getgid() == u->gid &&
                             getegid() == u->gid);
    /* groups first, while we may still change them; then the gid, and the uid last */
    if (!same &&
        (initgroups(u->name, u->gid) != 0 || setgid(u->gid) != 0 || setuid(u->uid) != 0))
        return sdiff_err_set(err, SDIFF_EPERM, "user",
                             "--user %s: cannot switch to that user: %s (only root can; or run "
                             "as that user with CAP_NET_RAW, see README)",
                             u->name, strerror(errno));
    if (!same &&
        (getuid() != u->uid || geteuid() != u->uid || getgid() != u->gid || getegid() != u->gid))
        return sdiff_err_set(err, SDIFF_EPERM, "user", "--user %s: the switch did not take",
                             u->name);
    if (!same && u->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
        return sdiff_err_set(err, SDIFF_EPERM, "user",
                             "--user %s: root could be regained after the switch", u->name);
    /* always, even as the same user: a setcap'd binary still holds CAP_NET_RAW here */
    return sdiff_capture_drop_privileges(SDIFF_PRIV_SETS, err);
}

void cli_judge_dispose(struct cli_judge *j)
{
    sdiff_redact_free(j->redact);
    j->redact = NULL;
    j->judge.redact = NULL;
    sdiff_rules_free(j->rules);
    j->rules = NULL;
    sdiff_routes_free(j->routes);
    j->routes = NULL;
    sdiff_free(j->labels);
    j->labels = NULL;
}

void cli_print_judged(const char *cmd, const struct sdiff_replay_run_stats *st,
                      const struct cli_judge *j)
{
    struct sdiff_buf line;
    sdiff_buf_init(&line, 1u << 16);
    sdiff_replay_run_summary(st, &line);
    cli_log(cmd, "info", NULL, "run %lld: %s", (long long)st->run_id,
            line.data ? (const char *)line.data : "");
    sdiff_buf_reset(&line);
    if (j->rules && sdiff_rules_unused(j->rules, &line) > 0) {
        for (char *p = (char *)line.data, *nl; p && *p; p = nl + 1) {
            nl = strchr(p, '\n');
            if (nl == NULL)
                break;
            *nl = '\0';
            cli_log(cmd, "warning", NULL, "%s", p);
        }
    }
    sdiff_buf_dispose(&line);
}

/* ---- manners: options, help, version, outputs ------------------------------------------ */

int cli_version(void)
{
    printf("shadowdiff %s\n", SDIFF_VERSION);
    return SDIFF_EXIT_OK;
}

const char *cli_exit_help(const char *cmd)
{
    static const struct {
        const char *cmd, *text;
    } rows[] = {
        {"capture", "Exit: 0 ended (end of file, --duration, --count, SIGINT/SIGTERM) with at least\n"
                    "one exchange; 2 error; 3 ended with no exchange (the warning says what was\n"
                    "seen).\n"},
        {"mirror", "Exit: 0 ended (file done or a signal) with at least one judged; 2 error; 3\n"
                   "ended with nothing judged.\n"},
        {"replay", "Exit: 0 nothing different and no candidate error; 1 something different, or a\n"
                   "candidate error; 2 error (arguments, corpus, store); 3 nothing replayable or\n"
                   "nothing replayed; 130 interrupted (results committed).\n"},
        {"gate", "Exit: 0 pass; 1 fail; 2 error (an unreachable primary too); 3 inconclusive\n"
                 "(0 with --allow-inconclusive, the verdict still says inconclusive); 130\n"
                 "interrupted.\n"},
        {"report", "Exit: 0 pass; 1 fail; 2 error; 3 inconclusive (0 with --allow-inconclusive,\n"
                   "the verdict still says inconclusive).\n"},
        {"diff", "Exit: 0 identical or equivalent; 1 different; 2 error, including class error\n"
                 "(its reason on stderr).\n"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (strcmp(rows[i].cmd, cmd) == 0)
            return rows[i].text;
    return "Exit: 0 ok; 2 error.\n";
}

/* Levenshtein distance of two short strings (capped at 64 characters each). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[65];
    if (la > 64 || lb > 64)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *cli_did_you_mean(const char *word, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t bestd = 99, len = strlen(word);
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, names[i]);
        /* a prefix of a longer option ("--max-mis") is close too */
        if (len >= 3 && strncmp(names[i], word, len) == 0)
            d = 1;
        if (d < bestd) {
            bestd = d;
            best = names[i];
        }
    }
    /* close: at most 2 edits, and at most a third of the word (dashes not counted) */
    size_t core = len - strspn(word, "-");
    return best && bestd <= 2 && bestd * 3 <= core ? best : NULL;
}

int cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
               const struct option *longopts, const char *deprecated)
{
    static struct option merged[160];
    static char shorts[128];
    static unsigned warned[256 / 32];
    size_t n = 0;
    while (longopts[n].name && n < 158) {
        merged[n] = longopts[n];
        n++;
    }
    merged[n++] = (struct option){"version", no_argument, NULL, 'V'};
    merged[n] = (struct option){NULL, 0, NULL, 0};
    /* ':' first: a missing value comes back as ':' and we say it ourselves */
    snprintf(shorts, sizeof shorts, ":%sV", shortopts);
    opterr = 0;
    int prev = optind;
    int c = getopt_long(argc, argv, shorts, merged, NULL);
    if (c == '?' || c == ':') {
        const char *arg = prev < argc ? argv[prev] : "";
        if (optind > prev && optind - 1 < argc)
            arg = argv[optind - 1];
        char name[80];
        if (optopt && !(arg[0] == '-' && arg[1] == '-'))
            snprintf(name, sizeof name, "-%c", optopt);
        else
            snprintf(name, sizeof name, "%.*s", (int)strcspn(arg, "="), arg);
        if (c == ':') {
            cli_error(cmd, "option %s needs a value (see 'shadowdiff %s --help')", name, cmd);
            return '?';
        }
        const char *names[160];
        char buf[160][72];
        size_t nn = 0;
        for (size_t i = 0; i < n && nn < 160; i++) {
            snprintf(buf[nn], sizeof buf[nn], "--%s", merged[i].name);
            names[nn] = buf[nn];
            nn++;
        }
        const char *close = name[1] == '-' ? cli_did_you_mean(name, names, nn) : NULL;
        if (close)
            cli_error(cmd, "unknown option %s (did you mean %s? see 'shadowdiff %s --help')",
                      name, close, cmd);
        else
            cli_error(cmd, "unknown option %s (see 'shadowdiff %s --help')", name, cmd);
        return '?';
    }
    if (c > 0 && c < 128 && deprecated) {
        /* "p=--port,d=--duration" */
        for (const char *p = deprecated; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] != 0)) {
            if (p[0] != c || p[1] != '=')
                continue;
            /* only the short spelling is deprecated: the long one returns the same code */
            int used = 0;
            for (int i = 1; i < argc && !used; i++)
                used = argv[i][0] == '-' && argv[i][1] == c;
            if (used && !(warned[c / 32] & (1u << (c % 32)))) {
                warned[c / 32] |= 1u << (c % 32);
                fprintf(stderr,
                        "shadowdiff: %s: warning: -%c is deprecated and will be removed in the "
                        "next release; use %.*s\n",
                        cmd, c, (int)strcspn(p + 2, ","), p + 2);
            }
            break;
        }
    }
    return c;
}

void cli_nothing_matched(const char *cmd, const char *what, int live, const char *filter,
                         double seconds, uint64_t packets, const char *pcap_file)
{
    if (live && packets == 0) {
        cli_error(cmd, "0 packets matched `%s` in %.0f seconds (the kernel filter hides other "
                       "ports: check --port)",
                  filter && filter[0] ? filter : "tcp", seconds);
        return;
    }
    if (live) {
        cli_error(cmd, "%llu packets matched `%s` in %.0f seconds, but %s",
                  (unsigned long long)packets, filter && filter[0] ? filter : "tcp", seconds,
                  what);
        return;
    }
    uint16_t ports[3];
    uint64_t counts[3];
    size_t n = 3;
    struct sdiff_err err = {0};
    char list[128] = "";
    if (pcap_file && strcmp(pcap_file, "-") != 0 &&
        sdiff_run_busiest_ports(pcap_file, ports, counts, &n, &err) >= 0 && n > 0) {
        size_t used = 0;
        for (size_t i = 0; i < n && used < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%u (%llu packets)",
                                     i ? ", " : "", ports[i], (unsigned long long)counts[i]);
        cli_error(cmd, "%s matched `%s` in %s; the busiest TCP ports in the file are %s",
                  what, filter && filter[0] ? filter : "tcp", pcap_file, list);
    } else {
        cli_error(cmd, "%s in %s (no TCP packets in the file)", what,
                  pcap_file ? pcap_file : "the input");
    }
}
