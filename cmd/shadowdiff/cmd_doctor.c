/*
 * cmd_doctor.c - `shadowdiff doctor`: the preflight before mirror or gate, one line per check
 * with what to do (lib/run/doctor.c does the checks).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "shadowdiff/doctor.h"

static const char USAGE[] =
    "usage: shadowdiff doctor [-i IF --port N...] [--candidate URL] [--primary URL]\n"
    "                         [--secondary URL] [-d FILE] [--redact-key FILE] [--wait S]\n"
    "\n"
    "  shadowdiff doctor -i lo --port 8000 --candidate http://127.0.0.1:8081 -d results.db\n"
    "  shadowdiff doctor --candidate http://new:8081 --primary http://old:8080\n"
    "\n"
    "Checks what mirror and gate need, one line each with what to do: capture permission on\n"
    "the interface, traffic on the service's ports within --wait seconds, the candidate,\n"
    "primary and secondary accepting connections, the results database writable (and not by\n"
    "others), and the redaction key usable. Creates no file.\n"
    "\n"
    "  -i, --interface IF     try a live capture on IF (needs root or CAP_NET_RAW)\n"
    "      --port N           the service's port (repeatable): wait for a packet on it\n"
    "      --wait S           how long to wait for that packet (default 5)\n"
    "      --candidate URL    the new service\n"
    "      --primary URL      the old service (gate)\n"
    "      --secondary URL    a second instance of the old service\n"
    "  -d, --db FILE          the results database mirror, replay or gate will write\n"
    "      --redact-key FILE  the redaction key file\n"
    "  -h, --help             this text\n"
    "  -V, --version          the version\n"
    "\n"
    "Exit: 0 every check passed (warnings allowed), 2 a check failed or a bad argument.\n";

enum { O_PORT = 1, O_WAIT, O_CAND, O_PRIM, O_SEC, O_KEY };

static void print_line(enum sdiff_doctor_status st, const char *check, const char *what,
                       const char *fix, void *ud)
{
    (void)ud;
    static const char *const tag[] = {"ok  ", "warn", "FAIL"};
    printf("%s  %-10s %s%s%s\n", tag[st], check, what, fix ? " -- " : "", fix ? fix : "");
}

int cmd_doctor(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"interface", required_argument, NULL, 'i'},
        {"port", required_argument, NULL, O_PORT},
        {"wait", required_argument, NULL, O_WAIT},
        {"candidate", required_argument, NULL, O_CAND},
        {"primary", required_argument, NULL, O_PRIM},
        {"secondary", required_argument, NULL, O_SEC},
        {"db", required_argument, NULL, 'd'},
        {"redact-key", required_argument, NULL, O_KEY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sdiff_doctor_opts o = {0};
    uint16_t ports[16];
    struct sdiff_err err = {0};
    int c;

    optind = 1;
    while ((c = cli_getopt("doctor", argc, argv, "i:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'i': o.interface = optarg; break;
        case 'd': o.db = optarg; break;
        case O_CAND: o.candidate = optarg; break;
        case O_PRIM: o.primary = optarg; break;
        case O_SEC: o.secondary = optarg; break;
        case O_KEY: o.redact_key = optarg; break;
        case O_PORT:
            if (o.nports == sizeof ports / sizeof ports[0] ||
                cli_parse_port(optarg, &ports[o.nports]) < 0) {
                cli_error("doctor", "--port: '%s' is not a port (1-65535; at most 16)", optarg);
                return SDIFF_EXIT_ERROR;
            }
            o.nports++;
            break;
        case O_WAIT:
            if (cli_parse_seconds(optarg, &o.wait_s) < 0 || o.wait_s <= 0) {
                cli_error("doctor", "--wait: '%s' is not a duration", optarg);
                return SDIFF_EXIT_ERROR;
            }
            break;
        case 'h': fputs(USAGE, stdout); return SDIFF_EXIT_OK;
        case 'V': return cli_version();
        default: /* cli_getopt said what was wrong */
            return SDIFF_EXIT_ERROR;
        }
    }
    if (optind < argc) {
        cli_error("doctor", "unexpected argument '%s' (see 'shadowdiff doctor --help')",
                  argv[optind]);
        return SDIFF_EXIT_ERROR;
    }
    if (o.nports && o.interface == NULL) {
        cli_error("doctor", "--port needs --interface: the traffic check captures");
        return SDIFF_EXIT_ERROR;
    }
    o.ports = ports;
    int failed = sdiff_doctor_run(&o, print_line, NULL, &err);
    if (failed < 0)
        return cli_fail("doctor", &err);
    fflush(stdout);
    if (failed > 0) {
        cli_error("doctor", "%d check%s failed", failed, failed == 1 ? "" : "s");
        return SDIFF_EXIT_ERROR;
    }
    return SDIFF_EXIT_OK;
}
