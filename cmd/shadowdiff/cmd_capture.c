/*
 * cmd_capture.c - `shadowdiff capture`: record HTTP/1.1 exchanges from an interface or a
 * pcap file into a SQLite corpus or as JSON Lines on stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "shadowdiff/redact.h"
#include "shadowdiff/rules.h"
#include "shadowdiff/run.h"
#include "shadowdiff/store.h"

static const char USAGE[] =
    "usage: shadowdiff capture (--interface IF | --pcap FILE) [--port N]... [--filter BPF]\n"
    "                          --out (FILE.db | FILE.jsonl | -) [--format sqlite|jsonl]\n"
    "                          [--duration S] [--count N] [options]\n"
    "\n"
    "  shadowdiff capture --interface lo --port 8000 --out corpus.db --duration 10m\n"
    "  shadowdiff capture --pcap traffic.pcap --port 8000 --out -\n"
    "\n"
    "Reads live traffic or a pcap/pcapng file, reassembles TCP, parses HTTP/1.1 and pairs\n"
    "each request with its response. Prints one summary line on stderr at the end.\n"
    "\n"
    "  -i, --interface IF     capture live on IF (needs root or CAP_NET_RAW)\n"
    "  -r, --pcap FILE        read a pcap or pcapng file ('-' for stdin)\n"
    "      --port N           a server port of the service (repeatable); builds the filter\n"
    "                         and tells client from server on connections already open\n"
    "      --filter BPF       extra BPF expression, and-ed with the port filter\n"
    "      --decap SPEC       tunnels to remove (repeatable): vxlan:PORT,... (default\n"
    "                         4789,8472), geneve:PORT,... (default 6081), gre (default on;\n"
    "                         also ERSPAN), KIND:off, or none; --port and --filter then\n"
    "                         apply to the packet inside the tunnel\n"
    "  -o, --out FILE|-       the corpus: FILE.db or FILE.sqlite (SQLite, created 0600; a\n"
    "                         second capture appends to it and says so), FILE.jsonl or -\n"
    "                         (JSON Lines; - is stdout)\n"
    "      --format F         sqlite or jsonl, whatever --out's extension (default: by it)\n"
    "      --db FILE|URL      also write each exchange's route, status and latency to this\n"
    "                         results store: a side's live cohort (--out is then optional)\n"
    "      --run NAME         join or start this named run in --db\n"
    "      --side old|new     which service this capture sits beside (default old; new: the\n"
    "                         new service's live users during a traffic step)\n"
    "      --duration S       stop after S seconds (30, 5m, 2h); for files, capture time\n"
    "      --count N          stop after N exchanges\n"
    "      --max-body SIZE    keep at most SIZE bytes of each body (default 1M)\n"
    "      --snaplen N        live snap length (default 262144: whole packets)\n"
    "      --buffer-size SIZE live kernel buffer (default 32M)\n"
    "      --max-flows N      connections tracked at once (default 65536)\n"
    "      --memory SIZE      memory for everything capture holds: reassembly, bytes not\n"
    "                         yet acknowledged, waiting requests and their bodies (default\n"
    "                         256M); when full, the largest connections are shed and\n"
    "                         their requests counted as shed\n"
    "      --verify-tcp-checksums auto|on|off\n"
    "                         drop segments with a bad TCP checksum: on (files recorded\n"
    "                         off-host), off, or auto (default; verifies none yet)\n"
    "      --checksums        with --out -: add the CRC-32 of each body (keeps the bodies)\n"
    "      --keep-secrets     store credentials as they are (default: keyed hashes)\n"
    "      --redact-header H  also redact header H (repeatable)\n"
    "      --redact-query P   also redact query parameter P (repeatable)\n"
    "      --redact-path J    also redact the JSON values at path J, e.g. '$.password'\n"
    "      --config FILE      take secret_headers, redact_query, redact_paths from FILE\n"
    "      --redact-key FILE  hash with this key (default: the database's own; with --out -,\n"
    "                         a new random key each run)\n"
    "      --user NAME        run as NAME once the capture and the output are open\n"
    "  -h, --help             this text\n"
    "\n"
    "  -V, --version          the version\n"
    "\n"
    "-p, -f, -d and -c still mean --port, --filter, --duration and --count for this release\n"
    "and say so; use the long names.\n";


struct sink_ctx {
    struct sdiff_store *results;   /* --db: a results store taking the live cohort, or NULL */
    struct sdiff_store *store;
    struct sdiff_capture_learner *learn; /* noise from repeated answers, into the corpus */
    struct sdiff_redact *redact;   /* NULL with --keep-secrets */
    struct sdiff_store_opts sopts;
    struct sdiff_buf line;
    FILE *out;
    const char *source;
    char filter[512];              /* the BPF filter in use, for the nothing-matched warning */
    int commit_rc;                 /* a failed periodic commit, reported by the next sink */
    int live;                      /* capturing an interface: show progress */
    int tty;                       /* stderr is a person's terminal */
    double started, last_line;     /* monotonic seconds */
    int line_open;                 /* a status line is drawn and not ended */
    struct sdiff_err commit_err;
};

/* About once a second: commit, so a crash loses at most a second of traffic, however slow. */
static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* About once a second: commit, so a crash loses at most a second of traffic, however slow;
 * and, live, say where the capture stands (a line redrawn on a terminal, a log line every
 * 10 s otherwise), since a capture runs until it is stopped. */
static void on_stats(const struct sdiff_capture_run_stats *st, void *ud)
{
    struct sink_ctx *s = ud;
    if (s->store && s->commit_rc >= 0)
        s->commit_rc = sdiff_store_commit(s->store, &s->commit_err);
    if (s->results && s->commit_rc >= 0)
        s->commit_rc = sdiff_store_commit(s->results, &s->commit_err);
    if (!s->live)
        return;
    double now = mono_s();
    if (!s->tty && now - s->last_line < 10)
        return;
    s->last_line = now;
    double el = now - s->started;
    fprintf(stderr, "%sshadowdiff: capture: %.0fs %llu exchanges (%.1f/s), %llu packets (%llu "
                    "dropped by the kernel)%s%s",
            s->tty ? "\r" : "", el, (unsigned long long)st->exchanges,
            el > 0 ? (double)st->exchanges / el : 0, (unsigned long long)st->source.packets,
            (unsigned long long)st->source.kernel_drops, s->tty ? "\033[K" : "",
            s->tty ? "" : "\n");
    s->line_open = s->tty;
}

static void on_started(int live, const char *filter, void *ud)
{
    struct sink_ctx *s = ud;
    snprintf(s->filter, sizeof s->filter, "%s", filter ? filter : "");
    if (live) {
        struct sdiff_text_ring t;
        sdiff_text_ring_init(&t);
        fprintf(stderr, "shadowdiff: capture: listening on %s (filter: %s)\n",
                sdiff_text(&t, s->source), sdiff_text(&t, filter));
        sdiff_text_ring_dispose(&t);
    }
}

/* One live exchange into the results store: what the live cohort of its side was served. */
static int put_live(struct sink_ctx *s, const struct sdiff_exchange *ex, struct sdiff_err *err)
{
    char route[256], raw[256];
    struct sdiff_buf rb;
    sdiff_buf_init(&rb, sizeof route - 1);
    const char *method = ex->req.present ? ex->req.method : "?";
    sdiff_routes_route(NULL, method, ex->req.target, &rb);
    snprintf(route, sizeof route, "%s", rb.data ? (const char *)rb.data : "?");
    sdiff_buf_dispose(&rb);
    const char *target = ex->req.target ? ex->req.target : "";
    snprintf(raw, sizeof raw, "%.*s", (int)strcspn(target, "?#"), target);
    const struct sdiff_hfield *mark = ex->req.present ? sdiff_msg_header(&ex->req, "x-shadowdiff")
                                                      : NULL;
    struct sdiff_store_live l = {
        .method = method, .route = route, .raw_path = raw,
        .status = ex->resp.present ? ex->resp.status : 0,
        .latency_ms = sdiff_exchange_primary_ms(ex),
        .error = ex->state == SDIFF_EX_COMPLETE ? NULL : sdiff_exchange_state_str(ex->state),
        .marker = mark ? mark->value : NULL, .t_req_start = ex->t_req_start,
    };
    return sdiff_store_put_live(s->results, &l, err);
}

static int sink(struct sdiff_exchange *ex, void *ud, struct sdiff_err *err)
{
    struct sink_ctx *s = ud;
    int rc = SDIFF_OK;
    if (s->commit_rc < 0) {
        sdiff_exchange_free(ex);
        return sdiff_err_set(err, s->commit_rc, s->commit_err.where, "%s", s->commit_err.msg);
    }
    if (s->redact)
        rc = sdiff_redact_exchange(s->redact, ex, err);
    if (rc >= 0 && s->results)
        rc = put_live(s, ex, err);
    if (rc < 0) {
        /* nothing is written unredacted */
    } else if (s->out == NULL && s->store == NULL) {
        /* --db only: no corpus */
    } else if (s->store) {
        rc = s->learn ? sdiff_capture_learner_feed(s->learn, ex, err) : SDIFF_OK;
        if (rc >= 0)
            rc = sdiff_store_put_exchange(s->store, ex, err);
    } else {
        sdiff_buf_reset(&s->line);
        rc = sdiff_exchange_to_json(ex, &s->sopts, &s->line);
        if (rc >= 0)
            rc = sdiff_exchange_json_add_tunnel(ex, &s->line);
        if (rc >= 0) {
            sdiff_buf_append(&s->line, "\n", 1);
            if (fwrite(s->line.data, 1, s->line.len, s->out) != s->line.len)
                rc = sdiff_err_set(err, SDIFF_EIO, "capture", "cannot write to stdout");
        } else {
            rc = sdiff_err_set(err, rc, "capture", "cannot encode exchange: %s",
                               sdiff_status_str(rc));
        }
    }
    sdiff_exchange_free(ex);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

/*
 * The corpus format: --format, else by --out's extension (.db/.sqlite/.sqlite3: SQLite;
 * .jsonl or -: JSON Lines). 1 JSON Lines, 0 SQLite, -1 (said) when neither says.
 */
static int out_is_jsonl(const char *out, const char *format)
{
    int dash = strcmp(out, "-") == 0;
    if (format) {
        if (dash && strcmp(format, "sqlite") == 0) {
            cli_error("capture", "--format sqlite: a SQLite corpus cannot go to stdout (--out -)");
            return -1;
        }
        return strcmp(format, "jsonl") == 0;
    }
    if (dash || ends_with(out, ".jsonl"))
        return 1;
    if (ends_with(out, ".db") || ends_with(out, ".sqlite") || ends_with(out, ".sqlite3"))
        return 0;
    struct sdiff_text_ring t;
    sdiff_text_ring_init(&t);
    cli_error("capture",
              "--out %s: cannot tell the format from its name: use FILE.db (SQLite) or "
              "FILE.jsonl (JSON Lines), or give --format sqlite|jsonl",
              sdiff_text(&t, out));
    sdiff_text_ring_dispose(&t);
    return -1;
}

int cmd_capture(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"interface", required_argument, NULL, 'i'},
        {"pcap", required_argument, NULL, 'r'},
        {"port", required_argument, NULL, 'p'},
        {"filter", required_argument, NULL, 'f'},
        {"decap", required_argument, NULL, 300},
        {"out", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 301},
        {"db", required_argument, NULL, 302},
        {"run", required_argument, NULL, 303},
        {"side", required_argument, NULL, 304},
        {"duration", required_argument, NULL, 'd'},
        {"count", required_argument, NULL, 'c'},
        {"max-body", required_argument, NULL, 'B'},
        {"snaplen", required_argument, NULL, 'S'},
        {"buffer-size", required_argument, NULL, 'K'},
        {"max-flows", required_argument, NULL, 'F'},
        {"verify-tcp-checksums", required_argument, NULL, 1000},
        {"memory", required_argument, NULL, 1001},
        {"keep-secrets", no_argument, NULL, 'k'},
        {"checksums", no_argument, NULL, 'C'},
        {"redact-header", required_argument, NULL, 'R'},
        {"redact-query", required_argument, NULL, 'Q'},
        {"redact-path", required_argument, NULL, 'J'},
        {"redact-key", required_argument, NULL, 'E'},
        {"config", required_argument, NULL, 'G'},
        {"user", required_argument, NULL, 'U'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sdiff_capture_run_opts o = {.limits = SDIFF_LIMITS_INIT};
    struct sdiff_capture_run_stats st;
    struct sink_ctx s = {0};
    uint16_t ports[64];
    const char *redact[64], *rquery[64], *rpath[64];
    size_t nports = 0, nredact = 0, nrquery = 0, nrpath = 0;
    const char *out = NULL, *config = NULL, *key_file = NULL, *user = NULL, *format = NULL;
    const char *db = NULL, *run_name = NULL, *side = NULL;
    int64_t run_id = 0;
    struct sdiff_outfile of = {0};
    struct sdiff_rules *rules = NULL;
    struct sdiff_redact_key key;
    struct cli_user cu;
    struct sdiff_err err = {0};
    struct sdiff_decap decap = SDIFF_DECAP_INIT;
    struct sdiff_buf summary;
    int64_t capture_id = 0;
    int rc, ret = SDIFF_EXIT_OK, c;

    memset(&key, 0, sizeof key);
    sdiff_buf_init(&summary, 1u << 16);
    sdiff_buf_init(&s.line, 256u << 20);
    optind = 1;
    while ((c = cli_getopt("capture", argc, argv, "i:r:p:f:o:d:c:h", longopts,
                           "p=--port,f=--filter,d=--duration,c=--count")) != -1) {
        uint64_t u;
        size_t z;
        switch (c) {
        case 'i': o.source.interface = optarg; break;
        case 'r': o.source.pcap_file = optarg; break;
        case 'f': o.extra_filter = optarg; break;
        case 300:
            if (sdiff_decap_parse(&decap, optarg, &err) < 0) {
                cli_error("capture", "--decap: %s", err.msg);
                return SDIFF_EXIT_ERROR;
            }
            break;
        case 'o': out = optarg; break;
        case 301:
            if (strcmp(optarg, "sqlite") != 0 && strcmp(optarg, "jsonl") != 0) {
                cli_error("capture", "--format: '%s' is not sqlite or jsonl", optarg);
                return SDIFF_EXIT_ERROR;
            }
            format = optarg;
            break;
        case 302: db = optarg; break;
        case 303:
            if (cli_run_name("capture", optarg) < 0)
                return SDIFF_EXIT_ERROR;
            run_name = optarg;
            break;
        case 304:
            if (strcmp(optarg, "old") != 0 && strcmp(optarg, "new") != 0) {
                cli_error("capture", "--side: '%s' is not old or new", optarg);
                return SDIFF_EXIT_ERROR;
            }
            side = optarg;
            break;
        case 'k': s.sopts.keep_secrets = 1; break;
        case 'C': s.sopts.checksums = 1; break;
        case 'p':
            if (nports == 64 || cli_parse_port(optarg, &ports[nports]) < 0) {
                cli_error("capture", "--port: '%s' is not a port number (1-65535)", optarg);
                return SDIFF_EXIT_ERROR;
            }
            nports++;
            break;
        case 'R':
        case 'Q':
        case 'J': {
            const char **v = c == 'R' ? redact : c == 'Q' ? rquery : rpath;
            size_t *n = c == 'R' ? &nredact : c == 'Q' ? &nrquery : &nrpath;
            if (*n == 64) {
                cli_error("capture", "at most 64 of each --redact- option");
                return SDIFF_EXIT_ERROR;
            }
            v[(*n)++] = optarg;
            break;
        }
        case 'E': key_file = optarg; break;
        case 'G': config = optarg; break;
        case 'U': user = optarg; break;
        case 'd':
            if (cli_parse_seconds(optarg, &o.duration_s) < 0) {
                cli_error("capture", "--duration: '%s' is not a duration (30, 5m, 2h)", optarg);
                return SDIFF_EXIT_ERROR;
            }
            break;
        case 'c':
            if (cli_parse_u64(optarg, &o.max_exchanges) < 0 || o.max_exchanges == 0) {
                cli_error("capture", "--count: '%s' is not a positive number", optarg);
                return SDIFF_EXIT_ERROR;
            }
            break;
        case 'B':
            if (cli_parse_size(optarg, &z) < 0 || z == 0) {
                cli_error("capture", "--max-body: '%s' is not a size (1048576, 512K, 1M)",
                          optarg);
                return SDIFF_EXIT_ERROR;
            }
            o.limits.max_body = z;
            break;
        case 'S':
            if (cli_parse_u64(optarg, &u) < 0 || u < 96 || u > 262144) {
                cli_error("capture", "--snaplen: '%s' must be between 96 and 262144", optarg);
                return SDIFF_EXIT_ERROR;
            }
            o.source.snaplen = (int)u;
            break;
        case 'K':
            if (cli_parse_size(optarg, &z) < 0 || z > (1u << 30)) {
                cli_error("capture", "--buffer-size: '%s' is not a size up to 1G", optarg);
                return SDIFF_EXIT_ERROR;
            }
            o.source.buffer_bytes = (int)z;
            break;
        case 'F':
            if (cli_parse_u64(optarg, &u) < 0 || u == 0 || u > 10000000) {
                cli_error("capture", "--max-flows: '%s' must be between 1 and 10000000", optarg);
                return SDIFF_EXIT_ERROR;
            }
            o.limits.max_flows = (size_t)u;
            break;
        case 1001:
            if (cli_parse_memory("capture", optarg, &o.limits.max_memory) < 0)
                return SDIFF_EXIT_ERROR;
            break;
        case 1000:
            if (cli_parse_csum_mode(optarg, &o.verify_tcp_checksums) < 0) {
                cli_error("capture", "--verify-tcp-checksums: '%s' is not auto, on or off",
                          optarg);
                return SDIFF_EXIT_ERROR;
            }
            break;
        case 'h':
            fputs(USAGE, stdout);
            fputs(cli_exit_help("capture"), stdout);
            return SDIFF_EXIT_OK;
        case 'V': return cli_version();
        default: return SDIFF_EXIT_ERROR;
        }
    }
    if (optind < argc) {
        cli_error("capture", "unexpected argument '%s'", argv[optind]);
        return SDIFF_EXIT_ERROR;
    }
    if ((o.source.interface == NULL) == (o.source.pcap_file == NULL)) {
        cli_error("capture", "give exactly one of --interface IF or --pcap FILE");
        return SDIFF_EXIT_ERROR;
    }
    if (out == NULL && db == NULL) {
        cli_error("capture", "--out is required: a database file, or - for JSON Lines (or --db"
                             " for a live cohort)");
        return SDIFF_EXIT_ERROR;
    }
    if ((side || run_name) && db == NULL) {
        cli_error("capture", "--%s needs --db (the results store the live cohort goes to)",
                  side ? "side" : "run");
        return SDIFF_EXIT_ERROR;
    }
    int jsonl = out ? out_is_jsonl(out, format) : 0;
    if (jsonl < 0)
        return SDIFF_EXIT_ERROR;
    if (s.sopts.keep_secrets && key_file) {
        cli_error("capture", "--keep-secrets and --redact-key: choose one");
        return SDIFF_EXIT_ERROR;
    }
    if (user && cli_user_lookup("capture", user, &cu) < 0)
        return SDIFF_EXIT_ERROR;
    if (config && sdiff_rules_load(&rules, config, &err) < 0)
        return cli_fail("capture", &err);
    if (key_file && sdiff_redact_key_load(&key, key_file, &err) < 0) {
        ret = cli_fail("capture", &err);
        goto done;
    }
    /* the source, stdout or the database are open by then: switch user (--user) and give up
     * every capability */
    o.on_open = cli_user_drop;
    o.open_ud = user ? &cu : NULL;
    o.ports = ports;
    o.decap = &decap;
    o.nports = nports;
    o.on_started = on_started;
    o.on_stats = on_stats;
    s.live = o.source.interface != NULL;
    s.tty = cli_tty(2);
    s.started = s.last_line = mono_s();
    s.source = o.source.interface ? o.source.interface : o.source.pcap_file;
    /* the store's last line of defence knows the same secret headers as the redactor */
    const char *secret_headers[128];
    size_t nsecret = 0, ncfg = 0;
    const char *const *cfg = rules ? sdiff_rules_secret_headers(rules, &ncfg) : NULL;
    for (size_t i = 0; i < ncfg && nsecret < 64; i++)
        secret_headers[nsecret++] = cfg[i];
    for (size_t i = 0; i < nredact; i++)
        secret_headers[nsecret++] = redact[i];
    s.sopts.secret_headers = secret_headers;
    s.sopts.nsecret = nsecret;
    s.out = out ? stdout : NULL;

    if (db) {
        /* the live cohort of this side, into a results store (a run of its own or a named
         * one that mirror and the other side join) */
        struct sdiff_store_opts ropts = s.sopts;
        ropts.checksums = 0;
        rc = sdiff_store_open(&s.results, db, &ropts, &err);
        cli_say_join("capture", db, run_name);
        struct sdiff_run_info info = {.kind = "capture", .corpus = out, .name = run_name,
                                      .side = side ? side : "old"};
        if (rc >= 0)
            rc = sdiff_store_begin_run(s.results, &info, &run_id, &err);
        /* without a corpus, hashes use the results store's key, as mirror's do */
        if (rc >= 0 && out == NULL && !s.sopts.keep_secrets)
            rc = sdiff_redact_key_bind(&key, s.results, &err);
        if (rc < 0) {
            ret = cli_fail("capture", &err);
            goto done;
        }
    }
    if (out == NULL) {
        /* --db only: no corpus */
    } else if (!jsonl) {
        rc = sdiff_store_open(&s.store, out, &s.sopts, &err);
        if (rc < 0) {
            ret = cli_fail("capture", &err);
            goto done;
        }
        const char *source = o.source.interface ? o.source.interface : o.source.pcap_file;
        rc = sdiff_store_begin_capture(s.store, source, "capture", &capture_id, &err);
        if (rc >= 0 && !s.sopts.keep_secrets)
            rc = sdiff_redact_key_bind(&key, s.store, &err);
        if (rc >= 0)
            rc = sdiff_capture_learner_new(&s.learn, s.store, rules, &err);
        if (rc < 0) {
            ret = cli_fail("capture", &err);
            goto done;
        }
        if (capture_id > 1) {
            struct sdiff_text_ring t;
            sdiff_text_ring_init(&t);
            fprintf(stderr, "shadowdiff: capture: appending capture %lld to %s\n",
                    (long long)capture_id, sdiff_text(&t, out));
            sdiff_text_ring_dispose(&t);
        }
    } else {
        if (strcmp(out, "-") != 0) {
            /* a file of JSON Lines: written beside it and renamed into place at the end */
            if (sdiff_outfile_open(&of, out, &err) < 0) {
                ret = cli_fail("capture", &err);
                goto done;
            }
            s.out = of.f;
            /* a corpus holds traffic: private like the database, not shared like a report */
            if (fchmod(fileno(of.f), 0600) != 0) {
                cli_error("capture", "--out: cannot make the file private: %s", strerror(errno));
                ret = SDIFF_EXIT_ERROR;
                goto done;
            }
        }
        /* no database to keep a key in: hashes compare within this output only */
        if (!s.sopts.keep_secrets && key.len == 0 && sdiff_redact_key_random(&key, &err) < 0) {
            ret = cli_fail("capture", &err);
            goto done;
        }
        /* JSON Lines carries lengths, not bodies: count them without copying, unless asked
         * for their checksums */
        o.limits.discard_bodies = !s.sopts.checksums;
        static char obuf[1 << 16];
        setvbuf(s.out, obuf, _IOFBF, sizeof obuf);
    }

    if (!s.sopts.keep_secrets &&
        cli_redact_new("capture", rules, &key, redact, nredact, rquery, nrquery, rpath, nrpath,
                       &s.redact) < 0) {
        ret = SDIFF_EXIT_ERROR;
        goto done;
    }
    memset(&key, 0, sizeof key);

    cli_catch_stop_signals();

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = sdiff_run_capture(&o, sink, &s, &cli_stop_flag, &st, &err);
    if (s.line_open)
        fputc('\n', stderr);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc >= 0 && s.commit_rc < 0) {
        err = s.commit_err;
        rc = s.commit_rc;
    }

    if (rc < 0 && st.source.packets == 0 && err.code != SDIFF_EDB) {
        /* Nothing was read: the source itself is the problem (missing file, interface...). */
        ret = cli_fail("capture", &err);
        goto done;
    }

    if (s.store) {
        struct sdiff_err serr = {0};
        sdiff_capture_run_summary_json(&st, &summary);
        if (sdiff_store_end_capture(s.store, capture_id, (const char *)summary.data, &serr) < 0 &&
            rc >= 0) {
            err = serr;
            rc = serr.code;
        }
        sdiff_buf_reset(&summary);
    }
    if (s.results && run_id > 0) {
        /* a capture ends by a signal or a limit: the run is finished, or failed with rc */
        struct sdiff_err serr = {0};
        sdiff_capture_run_summary_json(&st, &summary);
        if (sdiff_store_finish_run(s.results, run_id,
                                   rc >= 0 ? SDIFF_RUN_FINISHED : SDIFF_RUN_INTERRUPTED,
                                   (const char *)summary.data, &serr) < 0 &&
            rc >= 0) {
            err = serr;
            rc = serr.code;
        }
        sdiff_buf_reset(&summary);
    }
    fflush(stdout);
    if (of.f && rc >= 0) {
        struct sdiff_err oerr = {0};
        if (sdiff_outfile_commit(&of, &oerr) < 0) {
            err = oerr;
            rc = oerr.code;
        }
    }
    /* a person reads only what happened; a log keeps every counter, zeros included */
    if (cli_tty(2))
        sdiff_capture_run_summary_short(&st, &summary);
    else
        sdiff_capture_run_summary(&st, &summary);
    int64_t kept;
    if (rc < 0 && s.store &&
        sdiff_store_count_exchanges(s.store, capture_id, &kept, &(struct sdiff_err){0}) >= 0)
        /* what was read but not committed is gone: say what the database holds */
        sdiff_buf_printf(&summary, "; %lld exchanges stored before the error", (long long)kept);
    fprintf(stderr, "shadowdiff: capture: %s\n", (const char *)summary.data);
    if (sdiff_capture_learner_learned(s.learn) > 0)
        fprintf(stderr,
                "shadowdiff: capture: %llu fields learned as noise from the service's repeated "
                "answers (stored in the corpus; 'shadowdiff report' lists them after a replay)\n",
                (unsigned long long)sdiff_capture_learner_learned(s.learn));
    if (rc < 0) {
        ret = cli_fail("capture", &err);
    } else if (st.exchanges == 0) {
        /* files are filtered by port after decoding: name the filter the ports mean */
        char *f = s.filter[0] ? NULL : sdiff_capture_build_filter(ports, nports, o.extra_filter);
        if (f)
            snprintf(s.filter, sizeof s.filter, "%s", f);
        sdiff_free(f);
        cli_nothing_matched("capture", "no HTTP/1.1 exchange", o.source.interface != NULL,
                            s.filter,
                            (double)(t1.tv_sec - t0.tv_sec) +
                                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
                            st.source.packets, o.source.pcap_file);
        ret = SDIFF_EXIT_NOTHING;
    }
done:
    sdiff_capture_learner_free(s.learn);
    sdiff_outfile_abort(&of);
    memset(&key, 0, sizeof key);
    sdiff_redact_free(s.redact);
    sdiff_rules_free(rules);
    sdiff_store_close(s.store);
    sdiff_store_close(s.results);
    sdiff_buf_dispose(&s.line);
    sdiff_buf_dispose(&summary);
    return ret;
}
