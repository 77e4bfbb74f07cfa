/*
 * cmd_mirror.c - `shadowdiff mirror`: the sidecar. Watches the old service's live traffic
 * (or a pcap file), replays each safe request to the candidate, records parity continuously.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char USAGE[] =
    "usage: shadowdiff mirror (--interface IF | --pcap FILE) --port N --candidate URL\n"
    "                         [--secondary URL] --db FILE [--config FILE] [--sample RATE]\n"
    "                         [--rate RPS] [--concurrency N] [--allow-method M]... [options]\n"
    "\n"
    "  shadowdiff mirror --interface lo --port 8000 --candidate http://127.0.0.1:8081 \\\n"
    "                  --db results.db --run canary-1.4\n"
    "  shadowdiff mirror --pcap traffic.pcap --port 8000 --candidate http://127.0.0.1:8081 \\\n"
    "                  --db results.db\n"
    "\n"
    "Runs beside the old service: captures its traffic, replays each safe request to the\n"
    "candidate at 0%% user traffic, compares and stores the results as it goes. Never sends\n"
    "anything to the old service. With --pcap it exits when the file is done and every\n"
    "replay answered; live, it runs until SIGINT or SIGTERM, then drains and exits.\n"
    "\n"
    "  -i, --interface IF         capture live on IF (needs root or CAP_NET_RAW)\n"
    "  -r, --pcap FILE            read a pcap or pcapng file instead (offline shadow run)\n"
    "      --port N               the old service's port (repeatable; -p still works for\n"
    "                             this release and says it is deprecated)\n"
    "      --filter BPF           extra capture filter\n"
    "      --decap SPEC           tunnels to remove (repeatable): vxlan:PORT,... (default\n"
    "                             4789,8472), geneve:PORT,... (default 6081), gre (default\n"
    "                             on; also ERSPAN), KIND:off, or none; --port and --filter\n"
    "                             then apply to the packet inside the tunnel\n"
    "  -d, --db FILE|URL          results database (created 0600)\n"
    "      --sample RATE          replay this fraction (0..1), chosen by a hash of the request\n"
    "      --route-rate RPS       replay at most RPS requests per second per route\n"
    "      --queue N              exchanges waiting for replay before drops (default 4096)\n"
    "      --drain S              after SIGTERM or SIGINT, exit within S seconds (default\n"
    "                             10): answers are awaited until its last quarter, then\n"
    "                             the rest is stored as skipped and the results flushed\n"
    "                             (exit 2 if the database does not answer in time)\n"
    "      --duration S           stop after S seconds\n"
    "      --max-body SIZE        body bytes kept per message (default 1M)\n"
    "      --buffer-size SIZE     kernel capture buffer (default 32M)\n"
    "      --memory SIZE          memory for everything capture holds per connection\n"
    "                             (default 256M); when full, the largest connections are\n"
    "                             shed and their requests counted as shed\n"
    "      --verify-tcp-checksums auto|on|off\n"
    "                             drop segments with a bad TCP checksum (default auto:\n"
    "                             verifies none yet; on: every one)\n"
    "      --keep-identical N     keep the bodies of 1 in N identical answers (default 100)\n"
    "      --metrics ADDR:PORT    serve Prometheus /metrics, /healthz and /readyz (503 while\n"
    "                             the capture is not open or the store does not answer);\n"
    "                             off by default; ':9464' listens on 127.0.0.1\n"
    "      --log-format text|json log lines as text (default) or one JSON object each:\n"
    "                             ts, level, cmd, msg (escaped as in text) and counters\n"
    "      --user NAME            run as NAME once the capture, the database and the\n"
    "                             metrics socket are open (start as root)\n"
    "%s"
    "  -c, --config FILE          the same as --config\n"
    "  -h, --help                 this text\n"
    "  -V, --version              the version\n"
    "\n"
    "The parity is read with 'shadowdiff report'.\n";


static void progress(const struct sdiff_mirror_stats *st, void *ud)
{
    int tty = *(int *)ud;
    const struct sdiff_replay_run_stats *j = &st->judge;
    uint64_t judged = j->cls[SDIFF_CLASS_IDENTICAL] + j->cls[SDIFF_CLASS_EQUIVALENT] +
                      j->cls[SDIFF_CLASS_DIFFERENT];
    double parity = judged ? 100.0 * (double)(j->cls[SDIFF_CLASS_IDENTICAL] +
                                              j->cls[SDIFF_CLASS_EQUIVALENT]) / (double)judged
                           : 100.0;
    double rate = st->elapsed_s > 0 ? (double)j->exchanges / st->elapsed_s : 0;
    if (cli_log_json) {
        char f[512];
        snprintf(f, sizeof f,
                 "\"elapsed_s\":%.0f,\"exchanges\":%llu,\"parity_pct\":%.2f,"
                 "\"different\":%llu,\"error\":%llu,\"skipped\":%llu,\"dropped\":%llu,"
                 "\"queue\":%zu",
                 st->elapsed_s, (unsigned long long)j->exchanges, parity,
                 (unsigned long long)j->cls[SDIFF_CLASS_DIFFERENT],
                 (unsigned long long)j->cls[SDIFF_CLASS_ERROR],
                 (unsigned long long)j->cls[SDIFF_CLASS_SKIPPED],
                 (unsigned long long)st->queue_drops, st->queue_depth);
        cli_log("mirror", "info", f,
                "%.0fs %llu exchanges (%.1f/s), parity %.2f%%, %llu different, %llu error, "
                "%llu skipped, %llu dropped, queue %zu",
                st->elapsed_s, (unsigned long long)j->exchanges, rate, parity,
                (unsigned long long)j->cls[SDIFF_CLASS_DIFFERENT],
                (unsigned long long)j->cls[SDIFF_CLASS_ERROR],
                (unsigned long long)j->cls[SDIFF_CLASS_SKIPPED],
                (unsigned long long)st->queue_drops, st->queue_depth);
        return;
    }
    fprintf(stderr,
            "%sshadowdiff: mirror: %.0fs %llu exchanges (%.1f/s), parity %.2f%%, %llu different,"
            " %llu error, %llu skipped, %llu dropped, queue %zu%s",
            tty ? "\r" : "", st->elapsed_s, (unsigned long long)j->exchanges, rate, parity,
            (unsigned long long)j->cls[SDIFF_CLASS_DIFFERENT],
            (unsigned long long)j->cls[SDIFF_CLASS_ERROR],
            (unsigned long long)j->cls[SDIFF_CLASS_SKIPPED],
            (unsigned long long)st->queue_drops, st->queue_depth, tty ? "   " : "\n");
}

/*
 * The last line after a signal: how long the drain took against its budget, and where every
 * captured exchange went, so what was not judged in time is counted (stored as skipped,
 * "stopped") and anything not stored at all shows as lost.
 */
static void say_drained(const struct sdiff_mirror_stats *st, double budget, int sig)
{
    const struct sdiff_replay_run_stats *j = &st->judge;
    uint64_t judged = j->cls[SDIFF_CLASS_IDENTICAL] + j->cls[SDIFF_CLASS_EQUIVALENT] +
                      j->cls[SDIFF_CLASS_DIFFERENT];
    uint64_t errors = j->cls[SDIFF_CLASS_ERROR], skipped = j->cls[SDIFF_CLASS_SKIPPED];
    uint64_t counted = judged + errors + skipped + st->queue_drops + st->own_replays;
    uint64_t captured = st->capture.exchanges;
    uint64_t lost = captured > counted ? captured - counted : 0;
    const char *signame = sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "a signal";
    char f[512], tail[64] = "";
    snprintf(f, sizeof f,
             "\"signal\":\"%s\",\"drained_s\":%.3f,\"drain_s\":%g,\"captured\":%llu,"
             "\"judged\":%llu,\"error\":%llu,\"skipped\":%llu,\"stopped\":%llu,"
             "\"dropped\":%llu,\"own_replays\":%llu,\"not_stored\":%llu",
             signame, st->drained_s, budget, (unsigned long long)captured,
             (unsigned long long)judged, (unsigned long long)errors,
             (unsigned long long)skipped, (unsigned long long)j->skip_stopped,
             (unsigned long long)st->queue_drops, (unsigned long long)st->own_replays,
             (unsigned long long)lost);
    if (lost)
        snprintf(tail, sizeof tail, "; %llu not stored", (unsigned long long)lost);
    cli_log("mirror", "info", f,
            "stopped by %s, drained in %.2fs of %gs: %llu captured = %llu judged + %llu error + "
            "%llu skipped (%llu stopped before an answer) + %llu dropped + %llu own replays%s",
            signame, st->drained_s, budget, (unsigned long long)captured,
            (unsigned long long)judged, (unsigned long long)errors,
            (unsigned long long)skipped, (unsigned long long)j->skip_stopped,
            (unsigned long long)st->queue_drops, (unsigned long long)st->own_replays, tail);
}

/*
 * The drain budget holds even when storing the last results hangs (a database server that
 * stopped answering, a black-holed network: libpq cannot be interrupted): once a signal
 * came, the process exits 2 when the budget is spent, saying so, rather than being killed
 * without a word by the orchestrator's SIGKILL.
 */
struct watchdog {
    double budget;
    atomic_int done;       /* sdiff_run_mirror returned */
    pthread_t thread;
};

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *watchdog_main(void *arg)
{
    struct watchdog *w = arg;
    struct timespec tick = {0, 20 * 1000 * 1000};
    while (!cli_stop_flag && !atomic_load(&w->done))
        nanosleep(&tick, NULL);
    /* a quarter of a second is left for the exit itself (a loaded machine) */
    double deadline = mono_s() + (w->budget > 1 ? w->budget - 0.25 : w->budget * 0.75);
    while (!atomic_load(&w->done) && mono_s() < deadline)
        nanosleep(&tick, NULL);
    if (atomic_load(&w->done))
        return NULL;
    char f[128];
    snprintf(f, sizeof f, "\"drain_s\":%g,\"not_stored\":\"unknown\"", w->budget);
    cli_log("mirror", "error", f,
            "the drain budget of %gs ran out while storing the last results (the database "
            "does not answer): exiting; results not committed yet are lost",
            w->budget);
    _exit(SDIFF_EXIT_ERROR);
}

static void on_started(int live, const char *filter, void *ud)
{
    (void)ud;
    if (live) {
        struct sdiff_buf f;
        sdiff_buf_init(&f, 1u << 16);
        sdiff_buf_puts(&f, "\"filter\":");
        sdiff_buf_json_str(&f, filter, strlen(filter));
        cli_log("mirror", "info", f.data ? (const char *)f.data : NULL, "listening (filter: %s)",
                filter);
        sdiff_buf_dispose(&f);
    }
}

int cmd_mirror(int argc, char **argv)
{
    enum { O_DB = 256, O_SAMPLE, O_ROUTE_RATE, O_QUEUE, O_DRAIN, O_DURATION, O_MAXBODY,
           O_KEEP_IDENT, O_FILTER, O_METRICS, O_BUFSIZE, O_USER, O_DECAP, O_CSUM, O_MEMORY,
           O_LOG_FORMAT };
    static const struct option longopts[] = {
        {"interface", required_argument, NULL, 'i'},
        {"pcap", required_argument, NULL, 'r'},
        {"port", required_argument, NULL, 'p'},
        {"filter", required_argument, NULL, O_FILTER},
        {"decap", required_argument, NULL, O_DECAP},
        {"db", required_argument, NULL, O_DB},
        {"sample", required_argument, NULL, O_SAMPLE},
        {"route-rate", required_argument, NULL, O_ROUTE_RATE},
        {"queue", required_argument, NULL, O_QUEUE},
        {"drain", required_argument, NULL, O_DRAIN},
        {"duration", required_argument, NULL, O_DURATION},
        {"max-body", required_argument, NULL, O_MAXBODY},
        {"keep-identical", required_argument, NULL, O_KEEP_IDENT},
        {"metrics", required_argument, NULL, O_METRICS},
        {"buffer-size", required_argument, NULL, O_BUFSIZE},
        {"user", required_argument, NULL, O_USER},
        {"verify-tcp-checksums", required_argument, NULL, O_CSUM},
        {"memory", required_argument, NULL, O_MEMORY},
        {"log-format", required_argument, NULL, O_LOG_FORMAT},
        CLI_JUDGE_LONGOPTS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sdiff_mirror_opts o;
    struct sdiff_mirror_stats st;
    struct cli_judge j;
    struct sdiff_err err = {0};
    uint16_t ports[64];
    size_t nports = 0;
    int c, tty = cli_tty(2);
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    const char *user = NULL;
    struct cli_user cu;
    struct sdiff_decap decap = SDIFF_DECAP_INIT;

    memset(&o, 0, sizeof o);
    memset(&j, 0, sizeof j);
    o.capture.limits = lim;
    j.judge.identical_body_every = 100;
    optind = 1;
    while ((c = cli_getopt("mirror", argc, argv, "i:r:p:d:c:h", longopts, "p=--port")) != -1) {
        uint64_t u;
        size_t z;
        double s;
        switch (c) {
        case 'i': o.capture.source.interface = optarg; continue;
        case 'r': o.capture.source.pcap_file = optarg; continue;
        case O_FILTER: o.capture.extra_filter = optarg; continue;
        case O_DECAP:
            if (sdiff_decap_parse(&decap, optarg, &err) < 0) {
                cli_error("mirror", "--decap: %s", err.msg);
                return SDIFF_EXIT_ERROR;
            }
            continue;
        case O_CSUM:
            if (cli_parse_csum_mode(optarg, &o.capture.verify_tcp_checksums) < 0) {
                cli_error("mirror", "--verify-tcp-checksums: '%s' is not auto, on or off",
                          optarg);
                return SDIFF_EXIT_ERROR;
            }
            continue;
        case O_DB:
        case 'd': o.db = optarg; continue;
        case 'c': j.config = optarg; continue;
        case 'V': return cli_version();
        case O_METRICS: o.metrics_addr = optarg; continue;
        case O_USER: user = optarg; continue;
        case O_LOG_FORMAT:
            if (cli_parse_log_format("mirror", optarg) < 0)
                return SDIFF_EXIT_ERROR;
            if (cli_log_json)
                tty = 0; /* one object per line: no status line redrawn in place */
            continue;
        case 'p':
            if (nports == 64 || cli_parse_port(optarg, &ports[nports]) < 0) {
                cli_error("mirror", "--port: '%s' is not a port number (1-65535)", optarg);
                return SDIFF_EXIT_ERROR;
            }
            nports++;
            continue;
        case O_SAMPLE:
            if (cli_parse_seconds(optarg, &s) < 0 || s <= 0 || s > 1) {
                cli_error("mirror", "--sample: '%s' is not a fraction in (0, 1]", optarg);
                return SDIFF_EXIT_ERROR;
            }
            j.judge.sample = s;
            continue;
        case O_ROUTE_RATE:
            if (cli_parse_seconds(optarg, &s) < 0 || s <= 0) {
                cli_error("mirror", "--route-rate: '%s' is not a positive number", optarg);
                return SDIFF_EXIT_ERROR;
            }
            j.judge.route_rate = s;
            continue;
        case O_QUEUE:
            if (cli_parse_u64(optarg, &u) < 0 || u == 0 || u > 1000000) {
                cli_error("mirror", "--queue: '%s' must be between 1 and 1000000", optarg);
                return SDIFF_EXIT_ERROR;
            }
            o.queue_cap = (size_t)u;
            continue;
        case O_KEEP_IDENT:
            if (cli_parse_u64(optarg, &u) < 0) {
                cli_error("mirror", "--keep-identical: '%s' is not a number", optarg);
                return SDIFF_EXIT_ERROR;
            }
            j.judge.identical_body_every = (size_t)u;
            continue;
        case O_DRAIN:
        case O_DURATION:
            if (cli_parse_seconds(optarg, &s) < 0) {
                cli_error("mirror", "'%s' is not a duration (30, 5m, 2h)", optarg);
                return SDIFF_EXIT_ERROR;
            }
            if (c == O_DRAIN)
                o.drain_s = s;
            else
                o.capture.duration_s = s;
            continue;
        case O_BUFSIZE:
            if (cli_parse_size(optarg, &z) < 0 || z > (1u << 30)) {
                cli_error("mirror", "--buffer-size: '%s' is not a size up to 1G", optarg);
                return SDIFF_EXIT_ERROR;
            }
            o.capture.source.buffer_bytes = (int)z;
            continue;
        case O_MEMORY:
            if (cli_parse_memory("mirror", optarg, &o.capture.limits.max_memory) < 0)
                return SDIFF_EXIT_ERROR;
            continue;
        case O_MAXBODY:
            if (cli_parse_size(optarg, &z) < 0 || z == 0) {
                cli_error("mirror", "--max-body: '%s' is not a size (1M, 512K)", optarg);
                return SDIFF_EXIT_ERROR;
            }
            o.capture.limits.max_body = z;
            continue;
        case 'h':
            printf(USAGE, CLI_JUDGE_USAGE);
            fputs(cli_exit_help("mirror"), stdout);
            return SDIFF_EXIT_OK;
        default: {
            int h = cli_judge_opt(&j, "mirror", c, optarg); /* 0: not ours ('?': said) */
            if (h <= 0)
                return SDIFF_EXIT_ERROR;
        }
        }
    }
    if (optind < argc) {
        cli_error("mirror", "unexpected argument '%s'", argv[optind]);
        return SDIFF_EXIT_ERROR;
    }
    if ((o.capture.source.interface == NULL) == (o.capture.source.pcap_file == NULL)) {
        cli_error("mirror", "give exactly one of --interface IF or --pcap FILE");
        return SDIFF_EXIT_ERROR;
    }
    if (nports == 0 || o.db == NULL) {
        cli_error("mirror", "--port and --db are required");
        return SDIFF_EXIT_ERROR;
    }
    if (user && cli_user_lookup("mirror", user, &cu) < 0)
        return SDIFF_EXIT_ERROR;
    if (cli_judge_finish(&j, "mirror", &o.store) < 0 ||
        cli_judge_redact(&j, "mirror", NULL) < 0) {
        cli_judge_dispose(&j);
        return SDIFF_EXIT_ERROR;
    }
    /* the database, the metrics socket and the capture are open by then: switch user
     * (--user) and give up every capability */
    o.capture.on_open = cli_user_drop;
    o.capture.open_ud = user ? &cu : NULL;
    o.capture.ports = ports;
    o.capture.decap = &decap;
    o.capture.nports = nports;
    char filter[512] = "";
    o.capture.on_started = on_started;
    o.judge = j.judge;
    o.config_path = j.config;
    o.run_name = j.run_name;
    o.labels_json = j.labels;
    o.cost = j.cost;
    cli_say_join("mirror", o.db, j.run_name);
    o.progress = progress;
    o.progress_ud = &tty;

    cli_catch_stop_signals();

    struct watchdog wd = {.budget = o.drain_s > 0 ? o.drain_s : 10};
    int watching = pthread_create(&wd.thread, NULL, watchdog_main, &wd) == 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = sdiff_run_mirror(&o, &cli_stop_flag, &st, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    atomic_store(&wd.done, 1);
    if (watching)
        pthread_join(wd.thread, NULL);
    if (tty)
        fputc('\n', stderr);
    if (st.judge.run_id) {
        struct sdiff_buf line;
        sdiff_buf_init(&line, 1u << 16);
        if (tty)
            sdiff_capture_run_summary_short(&st.capture, &line);
        else
            sdiff_capture_run_summary(&st.capture, &line);
        struct sdiff_buf f;
        sdiff_buf_init(&f, 1u << 16);
        sdiff_buf_puts(&f, "\"capture\":");
        if (sdiff_capture_run_summary_json(&st.capture, &f) < 0)
            sdiff_buf_reset(&f);
        cli_log("mirror", "info", f.data ? (const char *)f.data : NULL,
                "capture: %s; %llu dropped (queue full, peak %zu), %llu own replays ignored",
                line.data ? (const char *)line.data : "", (unsigned long long)st.queue_drops,
                st.queue_peak, (unsigned long long)st.own_replays);
        sdiff_buf_dispose(&f);
        sdiff_buf_dispose(&line);
        cli_print_judged("mirror", &st.judge, &j);
    }
    cli_judge_dispose(&j);
    int code = SDIFF_EXIT_OK;
    uint64_t judged = st.judge.cls[SDIFF_CLASS_IDENTICAL] + st.judge.cls[SDIFF_CLASS_EQUIVALENT] +
                      st.judge.cls[SDIFF_CLASS_DIFFERENT];
    if (rc < 0) {
        code = cli_fail("mirror", &err);
    } else if (judged == 0 && st.capture.exchanges > 0) {
        cli_error("mirror", "%llu exchanges captured, none judged (see the skips and candidate "
                            "errors above)",
                  (unsigned long long)st.capture.exchanges);
        code = SDIFF_EXIT_NOTHING;
    } else if (judged == 0) {
        {
            /* the filter the run built from the same ports */
            char *f = sdiff_capture_build_filter(ports, nports, o.capture.extra_filter);
            snprintf(filter, sizeof filter, "%s", f ? f : "tcp");
            sdiff_free(f);
        }
        cli_nothing_matched("mirror",
                            "no HTTP/1.1 exchange",
                            o.capture.source.interface != NULL, filter,
                            (double)(t1.tv_sec - t0.tv_sec) +
                                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
                            st.capture.source.packets, o.capture.source.pcap_file);
        code = SDIFF_EXIT_NOTHING;
    }
    if (cli_stop_flag && st.judge.run_id)
        say_drained(&st, o.drain_s > 0 ? o.drain_s : 10, (int)cli_stop_flag);
    return code;
}
