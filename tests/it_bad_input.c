/*
 * it_bad_input.c - the bad-input matrix for files and the wire: damaged captures, bit-flipped
 * copies of every golden pcap, HTTP that RFC 9112 rejects or that goes over a limit, and
 * bodies that `shadowdiff diff` must classify (a decompression bomb, invalid UTF-8, JSON
 * nested 100,000 deep). Each case ends in one clear line and the documented exit code, or in
 * exchanges that are counted and classified, never in a crash, a hang or a silent loss.
 *
 * Inputs come from fixtures/bad/ (made by tests/tools/gen_bad.py, which also writes the
 * expected exchange lists from what it put on the wire); the large ones are made at run time
 * into a temporary directory. The empty, plain-text and corrupt-record files are covered by
 * it_capture_live.c.
 */
#include "sdiff_test.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tools[4096];
static char *dir; /* this test's temporary directory */

/* ---- helpers --------------------------------------------------------------------------- */

static const char *bad(const char *name)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s", sdiff_test_fixture_path("bad"));
    size_t n = strlen(path);
    snprintf(path + n, sizeof path - n, "/%s", name);
    return path;
}

/* A path in this test's directory; eight calls may be in use at once. */
static const char *tmp(const char *name)
{
    static char path[8][4200];
    static unsigned k;
    k = (k + 1) % 8;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

/* A command run with its output kept in this test's directory. */
static struct sdiff_test_run run(char *const argv[], double timeout_s)
{
    return sdiff_test_run(argv, dir, timeout_s);
}

static struct sdiff_test_run capture(const char *pcap, const char *extra)
{
    char *argv[16] = {(char *)sdiff_test_bin(), "capture", "--pcap", (char *)pcap, "--out", "-",
                      "--checksums"};
    int n = 7;
    char buf[256] = "";
    if (extra) {
        snprintf(buf, sizeof buf, "%s", extra);
        for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && n < 15;
             t = strtok_r(NULL, " ", &save))
            argv[n++] = t;
    }
    argv[n] = NULL;
    return run(argv, 30);
}

static const char *const FIELDS[] = {
    "conn", "seq", "method", "target", "status", "state",
    "req_body_len", "resp_body_len", "req_body_crc32", "resp_body_crc32",
};

static int by_conn_seq(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t d = json_integer_value(json_object_get(x, "conn")) -
                   json_integer_value(json_object_get(y, "conn"));
    if (d == 0)
        d = json_integer_value(json_object_get(x, "seq")) -
            json_integer_value(json_object_get(y, "seq"));
    return d < 0 ? -1 : d > 0;
}

/* JSON Lines as an array of objects with FIELDS only, sorted by (conn, seq). */
static json_t *exchange_list(char *text)
{
    json_t *list = json_array();
    json_t *items[8192];
    size_t n = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_error_t je;
        json_t *full = json_loads(l, 0, &je);
        if (full == NULL)
            fail_msg("not a JSON line (%s): %.200s", je.text, l);
        json_t *o = json_object();
        for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++)
            json_object_set(o, FIELDS[i], json_object_get(full, FIELDS[i]));
        json_decref(full);
        assert_true(n < sizeof items / sizeof items[0]);
        items[n++] = o;
    }
    qsort(items, n, sizeof items[0], by_conn_seq);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, items[i]);
    return list;
}

/* The exchanges capture wrote equal the generator's expected list, field by field. */
static void expect_exchanges(const struct sdiff_test_run *r, const char *expected_path)
{
    size_t len;
    char *exp_text = (char *)sdiff_test_read_file(expected_path, &len);
    char *got_text = strdup(r->out);
    json_t *exp = exchange_list(exp_text), *got = exchange_list(got_text);
    if (!json_equal(exp, got)) {
        char *a = json_dumps(exp, JSON_COMPACT), *b = json_dumps(got, JSON_COMPACT);
        fail_msg("exchanges differ from %s\nexpected: %s\n     got: %s", expected_path, a, b);
    }
    json_decref(exp);
    json_decref(got);
    free(exp_text);
    free(got_text);
}

/* Capture a fixtures/bad case: exit 0, one summary line, the expected exchanges. */
static struct sdiff_test_run capture_case(const char *name)
{
    char pcap[4200], exp[4200];
    snprintf(pcap, sizeof pcap, "%s.pcap", bad(name));
    snprintf(exp, sizeof exp, "%s.expected.jsonl", bad(name));
    struct sdiff_test_run r = capture(pcap, NULL);
    if (sdiff_test_exit_code(&r) != 0)
        fail_msg("%s: exit %d: %s", name, sdiff_test_exit_code(&r), r.err);
    sdiff_test_expect_stderr_lines(&r, "capture", 1);
    expect_exchanges(&r, exp);
    return r;
}

static void expect_summary(const struct sdiff_test_run *r, const char *part)
{
    if (strstr(r->err, part) == NULL)
        fail_msg("expected '%s' in the summary: %s", part, r->err);
}

/* Make a large input with gen_bad.py --large into this test's directory. */
static const char *make_large(const char *name)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/gen_bad.py' --large '%s' %s >/dev/null",
             tools, dir, name);
    assert_int_equal(sdiff_test_sh(cmd, 60), 0);
    return tmp(name);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    (void)state;
    dir = sdiff_test_tmpdir();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sdiff_test_kill_all();
    sdiff_test_rmdir(dir);
    free(dir);
    dir = NULL;
    return 0;
}

/* ---- files ----------------------------------------------------------------------------- */

static void test_bad__pcap_with_wrong_magic_exits_2_with_one_line(void **state)
{
    (void)state;
    struct sdiff_test_run r = capture(bad("wrong_magic.pcap"), NULL);
    sdiff_test_expect_one_error(&r, "capture", "wrong_magic.pcap is not a pcap or pcapng file");
    assert_int_equal(r.out_len, 0);
    sdiff_test_run_dispose(&r);
}

static void test_bad__pcap_with_truncated_global_header_exits_2_with_one_line(void **state)
{
    (void)state;
    struct sdiff_test_run r = capture(bad("short_header.pcap"), NULL);
    sdiff_test_expect_one_error(&r, "capture", "short_header.pcap: truncated file header");
    sdiff_test_run_dispose(&r);
    /* the same from stdin */
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "'%s' capture --pcap - --out - < '%s' 2>'%s' >/dev/null; test $? -eq 2",
             sdiff_test_bin(), bad("short_header.pcap"), tmp("err"));
    assert_int_equal(sdiff_test_sh(cmd, 10), 0);
    assert_int_equal(sdiff_test_wait_file_contains(tmp("err"), "truncated file header", 1), 0);
}

static void test_bad__random_bytes_exit_2_with_one_line(void **state)
{
    (void)state;
    struct sdiff_test_run r = capture(bad("random.bin"), NULL);
    sdiff_test_expect_one_error(&r, "capture", "random.bin is not a pcap or pcapng file");
    sdiff_test_run_dispose(&r);
}

static void test_bad__pcap_cut_inside_its_last_packet_keeps_what_came_before(void **state)
{
    (void)state;
    char pcap[4200];
    snprintf(pcap, sizeof pcap, "%s", bad("cut_last_packet.pcap"));
    struct sdiff_test_run r = capture(pcap, NULL);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    sdiff_test_expect_stderr_lines(&r, "capture", 1);
    expect_exchanges(&r, bad("cut_last_packet.expected.jsonl"));
    expect_summary(&r, "2 exchanges (2 complete");
    expect_summary(&r, "; file truncated inside its last packet\n");
    sdiff_test_run_dispose(&r);
    /* a pcapng cut inside a block says the same */
    size_t len;
    uint8_t *ng = sdiff_test_read_file(bad("multi_if.pcapng"), &len);
    write_file(tmp("cut.pcapng"), ng, len - 100);
    free(ng);
    r = capture(tmp("cut.pcapng"), NULL);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    sdiff_test_expect_stderr_lines(&r, "capture", 1);
    expect_summary(&r, "; file truncated inside its last packet\n");
    sdiff_test_run_dispose(&r);
}

static void test_bad__snaplen_cut_packets_are_gaps_never_misparsed(void **state)
{
    (void)state;
    /* 3 segments of 1448, 1448 and 1237 bytes kept 246 bytes each: 3395 bytes missing */
    struct sdiff_test_run r = capture_case("snaplen");
    expect_summary(&r, "2 exchanges (1 complete, 0 truncated, 1 gap,");
    expect_summary(&r, "; 3 gaps (3395 bytes lost);");
    sdiff_test_run_dispose(&r);
}

static void test_bad__pcapng_with_interfaces_of_different_link_types_reads_all(void **state)
{
    (void)state;
    /* Ethernet, Linux cooked v2 (nanosecond timestamps) and raw IPv6, the last described
     * after packets of the others; libpcap alone refuses such a file */
    char pcap[4200];
    snprintf(pcap, sizeof pcap, "%s", bad("multi_if.pcapng"));
    struct sdiff_test_run r = capture(pcap, NULL);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    sdiff_test_expect_stderr_lines(&r, "capture", 1);
    expect_exchanges(&r, bad("multi_if.expected.jsonl"));
    expect_summary(&r, "3 connections, 6 exchanges (6 complete,");
    sdiff_test_run_dispose(&r);
    /* the timestamps of every interface are read in their own units: latencies are small */
    char *argv[] = {(char *)sdiff_test_bin(), "capture", "--pcap", pcap, "--out", "-", NULL};
    r = run(argv, 30);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    char *save = NULL;
    int n = 0;
    for (char *l = strtok_r(r.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save), n++) {
        json_t *o = json_loads(l, 0, NULL);
        assert_non_null(o);
        double ms = json_number_value(json_object_get(o, "primary_ms"));
        json_int_t t = json_integer_value(json_object_get(o, "t_req_start"));
        if (ms <= 0 || ms > 100 || t < 1700000000000000LL || t > 1700000001000000LL)
            fail_msg("wrong time on %s: primary_ms %f, t_req_start %lld",
                     json_string_value(json_object_get(o, "target")), ms, (long long)t);
        json_decref(o);
    }
    assert_int_equal(n, 6);
    sdiff_test_run_dispose(&r);
    /* a filter is compiled for each link type */
    char *fargv[] = {(char *)sdiff_test_bin(), "capture", "--pcap", pcap, "--out", "-",
                     "--filter", "ip6", NULL};
    r = run(fargv, 30);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    expect_summary(&r, "1 connections, 2 exchanges (2 complete,");
    sdiff_test_run_dispose(&r);
}

/* xorshift64*: deterministic flips, the same on every run */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

#define FLIP_COPIES 20
#define FLIP_PAR 4 /* copies run at once */

/* Check one flipped copy's run: exit 0 or 2 with its lines. */
static void flip_check(const char *name, int k, int status, int j)
{
    char out[64], err[64];
    snprintf(out, sizeof out, "out%d", j);
    snprintf(err, sizeof err, "err%d", j);
    struct sdiff_test_run r = {.status = status};
    if (status == -1)
        fail_msg("%s copy %d did not finish within 20 s", name, k);
    if (WIFSIGNALED(status))
        fail_msg("%s copy %d was killed by signal %d", name, k, WTERMSIG(status));
    r.out = (char *)sdiff_test_read_file(tmp(out), &r.out_len);
    r.err = (char *)sdiff_test_read_file(tmp(err), &r.err_len);
    int code = sdiff_test_exit_code(&r);
    if (code != 0 && code != 2 && code != 3)
        fail_msg("%s copy %d: exit %d: %s", name, k, code, r.err);
    /* exit 0: the summary; exit 3: the summary and what was seen; exit 2: the error, after
     * the summary when packets were read */
    sdiff_test_expect_stderr_lines(&r, "capture", code == 0 ? 1 : 2);
    if (code == 2 && sdiff_test_count_lines(r.err, r.err_len) == 2 && strstr(r.err, " packets, ") == NULL)
        fail_msg("%s copy %d: two lines but no summary: %s", name, k, r.err);
    sdiff_test_run_dispose(&r);
}

/* Flipped copies of one capture: every run exits 0 or 2 with its lines, in a few seconds. */
static void flip_run(const char *name, const char *path, const char *opts, uint64_t *seed,
                     double *worst)
{
    size_t len;
    uint8_t *orig = sdiff_test_read_file(path, &len);
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    for (int k0 = 0; k0 < FLIP_COPIES; k0 += FLIP_PAR) {
        int pids[FLIP_PAR];
        double c0 = sdiff_test_children_cpu();
        for (int j = 0; j < FLIP_PAR; j++) {
            memcpy(copy, orig, len);
            int flips = 1 + (int)(rnd(seed) % 8);
            for (int i = 0; i < flips; i++) {
                uint64_t bit = rnd(seed) % (len * 8);
                copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            }
            char file[64], out[64], err[64];
            snprintf(file, sizeof file, "flipped%d", j);
            snprintf(out, sizeof out, "out%d", j);
            snprintf(err, sizeof err, "err%d", j);
            write_file(tmp(file), copy, len);
            char *argv[16] = {(char *)sdiff_test_bin(), "capture", "--pcap", (char *)tmp(file),
                              "--out", "-"};
            int n = 6;
            char buf[256];
            snprintf(buf, sizeof buf, "%s", opts);
            for (char *save = NULL, *t = strtok_r(buf, " \t", &save); t && n < 15;
                 t = strtok_r(NULL, " \t", &save))
                argv[n++] = t;
            argv[n] = NULL;
            pids[j] = sdiff_test_spawn(argv, tmp(out), tmp(err));
        }
        for (int j = 0; j < FLIP_PAR; j++)
            flip_check(name, k0 + j, sdiff_test_wait(pids[j], 20), j);
        /* CPU time, so that a loaded machine does not make a fast run look slow; the batch's
         * total bounds each run's */
        double cpu = sdiff_test_children_cpu() - c0;
        if (cpu > 5)
            fail_msg("%s copies %d-%d took %.1f s of CPU", name, k0, k0 + FLIP_PAR - 1, cpu);
        if (cpu > *worst)
            *worst = cpu;
    }
    free(copy);
    free(orig);
}

static void test_bad__bit_flipped_golden_pcaps_exit_0_or_2_and_never_crash(void **state)
{
    (void)state;
    size_t len;
    char *list = (char *)sdiff_test_read_file(sdiff_test_fixture_path("golden.list"), &len);
    uint64_t seed = 0x5eed0fb17f11b5ULL;
    double worst = 0, t0 = sdiff_test_now();
    int cases = 0;
    char *save = NULL;
    for (char *l = strtok_r(list, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (l[0] == '#' || l[0] == '\0')
            continue;
        char name[128], pcap[256], expected[256];
        int used = 0;
        if (sscanf(l, "%127s %255s %255s %n", name, pcap, expected, &used) < 3)
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%s", sdiff_test_fixture_path(pcap));
        flip_run(name, path, l + used, &seed, &worst);
        cases++;
    }
    free(list);
    flip_run("multi_if", bad("multi_if.pcapng"), "", &seed, &worst);
    printf("# %d captures x %d flipped copies: %.1f s, slowest %d runs %.2f s of CPU\n",
           cases + 1, FLIP_COPIES, sdiff_test_now() - t0, FLIP_PAR, worst);
    assert_true(cases >= 20);
}

/* ---- the wire -------------------------------------------------------------------------- */

static void test_bad__garbage_instead_of_http_is_counted_as_not_http(void **state)
{
    (void)state;
    struct sdiff_test_run r = capture_case("garbage");
    expect_summary(&r, "2 connections, 1 exchanges (1 complete,");
    expect_summary(&r, " 1 not-http,");
    sdiff_test_run_dispose(&r);
}

static void test_bad__header_block_over_the_limit_is_unparsable(void **state)
{
    (void)state;
    /* a request and a response with a 70,000-byte header block; the limit is 64 KiB */
    struct sdiff_test_run r = capture_case("header_over_limit");
    expect_summary(&r, "3 exchanges (1 complete, 0 truncated, 0 gap, 0 no_response, 2 unparsable, 0 unacknowledged, 0 shed)");
    expect_summary(&r, " 0 not-http,");
    assert_non_null(strstr(r.out, "\"note\":\"request: header block larger than 65536 bytes\""));
    assert_non_null(strstr(r.out, "\"note\":\"response: header block larger than 65536 bytes\""));
    sdiff_test_run_dispose(&r);
}

static void test_bad__a_million_headers_stop_at_the_field_limit(void **state)
{
    (void)state;
    char pcap[4200], exp[4200];
    snprintf(pcap, sizeof pcap, "%s.pcap", make_large("million_headers"));
    snprintf(exp, sizeof exp, "%s.expected.jsonl", tmp("million_headers"));
    struct sdiff_test_run r = capture(pcap, NULL);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    assert_true(r.cpu < 10);
    sdiff_test_expect_stderr_lines(&r, "capture", 1);
    expect_exchanges(&r, exp);
    assert_non_null(strstr(r.out, "\"note\":\"request: more than 256 header fields\""));
    expect_summary(&r, "(1 complete, 0 truncated, 0 gap, 0 no_response, 1 unparsable, 0 unacknowledged, 0 shed)");
    sdiff_test_run_dispose(&r);
}

static void test_bad__chunk_size_over_64_bits_is_unparsable(void **state)
{
    (void)state;
    struct sdiff_test_run r = capture_case("chunk_size_huge");
    assert_non_null(strstr(r.out, "\"note\":\"response: chunk size has more than 16 hex digits\""));
    expect_summary(&r, "(1 complete, 0 truncated, 0 gap, 0 no_response, 1 unparsable, 0 unacknowledged, 0 shed)");
    sdiff_test_run_dispose(&r);
}

static void test_bad__negative_content_length_is_unparsable(void **state)
{
    (void)state;
    struct sdiff_test_run r = capture_case("negative_length");
    assert_non_null(strstr(r.out, "\"note\":\"response: invalid content-length value\""));
    assert_non_null(strstr(r.out, "\"note\":\"request: invalid content-length value\""));
    expect_summary(&r, "(1 complete, 0 truncated, 0 gap, 0 no_response, 2 unparsable, 0 unacknowledged, 0 shed)");
    sdiff_test_run_dispose(&r);
}

static void test_bad__conflicting_content_lengths_are_unparsable(void **state)
{
    (void)state;
    struct sdiff_test_run r = capture_case("conflicting_length");
    assert_non_null(strstr(r.out, "\"note\":\"response: conflicting content-length values\""));
    /* equal duplicates are one length (RFC 9110 8.6) */
    expect_summary(&r, "(2 complete, 0 truncated, 0 gap, 0 no_response, 1 unparsable, 0 unacknowledged, 0 shed)");
    sdiff_test_run_dispose(&r);
}

static void test_bad__body_over_max_body_is_truncated_and_counted(void **state)
{
    (void)state;
    char pcap[4200], exp[4200];
    snprintf(pcap, sizeof pcap, "%s.pcap", make_large("big_body"));
    snprintf(exp, sizeof exp, "%s.expected.jsonl", tmp("big_body"));
    struct sdiff_test_run r = capture(pcap, NULL);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    sdiff_test_expect_stderr_lines(&r, "capture", 1);
    expect_exchanges(&r, exp);
    assert_non_null(strstr(r.out, "\"note\":\"response body over the body limit\""));
    expect_summary(&r, "(1 complete, 1 truncated,");
    expect_summary(&r, "limit hits: 0 flows evicted, 0 out-of-order, 1 body,");
    sdiff_test_run_dispose(&r);
}

static void test_bad__response_without_request_is_counted_as_orphan(void **state)
{
    (void)state;
    struct sdiff_test_run r = capture_case("orphan_response");
    expect_summary(&r, " 1 orphan responses,");
    sdiff_test_run_dispose(&r);
}

/* Valid HTTP built to mislead what prints it (it_sinks.c checks every output): captured as
 * it is, and written as JSON Lines with no raw control a terminal would act on. */
static void test_bad__terminal_controls_in_traffic_are_kept_and_escaped(void **state)
{
    (void)state;
    struct sdiff_test_run r = capture(bad("hostile.pcap"), NULL);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    expect_summary(&r, "1 connections, 4 exchanges (4 complete,");
    for (size_t i = 0; i < r.out_len; i++) {
        uint8_t c = (uint8_t)r.out[i];
        if ((c < 0x20 && c != '\n') || c == 0x7f ||
            (c == 0xc2 && i + 1 < r.out_len && (uint8_t)r.out[i + 1] >= 0x80 &&
             (uint8_t)r.out[i + 1] <= 0x9f))
            fail_msg("raw control at byte %zu of the JSON Lines", i);
    }
    assert_int_equal(sdiff_test_count_lines(r.out, r.out_len), 4);
    sdiff_test_run_dispose(&r);
}

static void test_bad__connection_of_only_retransmissions_gives_one_exchange(void **state)
{
    (void)state;
    /* conn 1: each segment 25 times; conn 2: one server segment 25 times, nothing else */
    struct sdiff_test_run r = capture_case("retransmissions_only");
    expect_summary(&r, "2 connections, 1 exchanges (1 complete,");
    sdiff_test_run_dispose(&r);
}

/* ---- diff -------------------------------------------------------------------------------- */

/* `shadowdiff diff` on two files, through /usr/bin/time for the peak memory (KiB, or 0). */
static struct sdiff_test_run diff(const char *a, const char *b, const char *format, long *max_kib)
{
    char *argv[] = {"/usr/bin/time", "-f", "maxrss %M", "-o", (char *)tmp("time"),
                    (char *)sdiff_test_bin(), "diff", (char *)a, (char *)b, "--format",
                    (char *)format, NULL};
    int timed = access("/usr/bin/time", X_OK) == 0;
    struct sdiff_test_run r = run(timed ? argv : argv + 5, 60);
    *max_kib = 0;
    if (timed) {
        size_t len;
        char *t = (char *)sdiff_test_read_file(tmp("time"), &len);
        char *m = strstr(t, "maxrss ");
        *max_kib = m ? atol(m + 7) : 0;
        free(t);
    }
    return r;
}

static void test_bad__diff_of_a_decompression_bomb_is_an_error_not_out_of_memory(void **state)
{
    (void)state;
    /* 1 GiB of zeros behind two gzip layers, 1.9 KB on the wire */
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: 7\r\n\r\n{\"a\":1}";
    write_file(tmp("ok.http"), ok, sizeof ok - 1);
    long kib;
    struct sdiff_test_run r = diff(tmp("ok.http"), bad("bomb.http"), "json", &kib);
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    assert_int_equal(r.err_len, 0);
    json_t *o = json_loads(r.out, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "class")), "error");
    const char *note = json_string_value(json_object_get(o, "note"));
    if (note == NULL || strstr(note, "decompression bomb") == NULL ||
        strstr(note, "candidate body") == NULL)
        fail_msg("note does not name the bomb: %s", r.out);
    json_decref(o);
    printf("# bomb: %.2f s, peak %ld KiB\n", r.secs, kib);
    assert_true(kib < 512 * 1024); /* bounded by the 64 MiB decode cap, never 1 GiB */
    sdiff_test_run_dispose(&r);
}

static void test_bad__diff_of_invalid_utf8_json_bodies_is_classified(void **state)
{
    (void)state;
    static const char good[] = "{\"name\":\"caf\xc3\xa9\",\"n\":1}";
    static const char latin1[] = "{\"name\":\"caf\xe9\",\"n\":1}";
    static const char broken[] = "{\"name\":\"\xff\xfe\",\"x\":\"\xc0\xaf\xed\xa0\x80\"}";
    write_file(tmp("good.json"), good, sizeof good - 1);
    write_file(tmp("latin1.json"), latin1, sizeof latin1 - 1);
    write_file(tmp("broken.json"), broken, sizeof broken - 1);
    long kib;
    struct sdiff_test_run r = diff(tmp("good.json"), tmp("latin1.json"), "json", &kib);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    json_t *o = json_loads(r.out, 0, NULL);
    if (o == NULL)
        fail_msg("diff --format json is not JSON: %s", r.out);
    assert_string_equal(json_string_value(json_object_get(o, "class")), "different");
    /* both values are shown; a byte that is not UTF-8 as \xHH, never dropped */
    json_t *d = json_array_get(json_object_get(o, "differences"), 0);
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "primary")), good);
    assert_string_equal(json_string_value(json_object_get(d, "candidate")),
                        "{\"name\":\"caf\\xe9\",\"n\":1}");
    json_decref(o);
    sdiff_test_run_dispose(&r);
    r = diff(tmp("broken.json"), tmp("broken.json"), "text", &kib);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    assert_non_null(strstr(r.out, "identical"));
    sdiff_test_run_dispose(&r);
    r = diff(tmp("latin1.json"), tmp("broken.json"), "json", &kib);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    o = json_loads(r.out, 0, NULL);
    assert_non_null(o);
    d = json_array_get(json_object_get(o, "differences"), 0);
    assert_string_equal(json_string_value(json_object_get(d, "candidate")),
                        "{\"name\":\"\\xff\\xfe\",\"x\":\"\\xc0\\xaf\\xed\\xa0\\x80\"}");
    json_decref(o);
    sdiff_test_run_dispose(&r);
}

/* "[[[...]]]" or {"a":{"a":...1...}} nested depth deep; caller frees. */
static char *nested(size_t depth, int objects, size_t *len)
{
    size_t open = objects ? 5 : 1;
    char *s = malloc(depth * (open + 1) + 2);
    assert_non_null(s);
    size_t n = 0;
    for (size_t i = 0; i < depth; i++) {
        memcpy(s + n, objects ? "{\"a\":" : "[", open);
        n += open;
    }
    if (objects)
        s[n++] = '1';
    memset(s + n, objects ? '}' : ']', depth);
    n += depth;
    s[n] = '\0';
    *len = n;
    return s;
}

static void test_bad__diff_of_json_nested_100000_deep_is_classified(void **state)
{
    (void)state;
    size_t la, lo;
    char *arrays = nested(100000, 0, &la), *objects = nested(100000, 1, &lo);
    write_file(tmp("arrays.json"), arrays, la);
    write_file(tmp("objects.json"), objects, lo);
    write_file(tmp("flat.json"), "{\"a\":1}", 7);
    free(arrays);
    free(objects);
    static const struct {
        const char *a, *b;
        int code;
        const char *cls;
    } cases[] = {
        {"flat.json", "arrays.json", 1, "different"},
        {"objects.json", "flat.json", 1, "different"},
        {"arrays.json", "objects.json", 1, "different"},
        {"arrays.json", "arrays.json", 0, "identical"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long kib;
        char a[4200];
        snprintf(a, sizeof a, "%s", tmp(cases[i].a));
        struct sdiff_test_run r = diff(a, tmp(cases[i].b), "json", &kib);
        if (sdiff_test_exit_code(&r) != cases[i].code)
            fail_msg("%s vs %s: exit %d: %s%s", cases[i].a, cases[i].b, sdiff_test_exit_code(&r), r.out,
                     r.err);
        json_t *o = json_loads(r.out, 0, NULL);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "class")), cases[i].cls);
        json_decref(o);
        assert_true(r.cpu < 10);
        sdiff_test_run_dispose(&r);
    }
}

/*
 * Requests built to mislead a replay (guard_requests.pcap): captured like any other, then an
 * offline mirror run judges the forged marker (counted) and the plain request, skips the five
 * method overrides, and the candidate receives only the two it should.
 */
static void test_bad__forged_markers_and_method_overrides_never_steer_a_replay(void **state)
{
    (void)state;
    struct sdiff_test_run r = capture_case("guard_requests");
    expect_summary(&r, "7 exchanges (7 complete,");
    sdiff_test_run_dispose(&r);

    int port = sdiff_test_free_port();
    char port_s[16], cand[64], path[4200], pcap[4200];
    snprintf(port_s, sizeof port_s, "%d", port);
    snprintf(cand, sizeof cand, "http://127.0.0.1:%d", port);
    snprintf(path, sizeof path, "%s/fault_server.py", tools);
    snprintf(pcap, sizeof pcap, "%s", bad("guard_requests.pcap"));
    char *srv[] = {"/usr/bin/python3", path, port_s, NULL};
    int pid = sdiff_test_spawn(srv, NULL, NULL);
    assert_int_equal(sdiff_test_wait_port(port, 10), 0);
    const char *db = tmp("guard.db");
    char *argv[] = {(char *)sdiff_test_bin(), "mirror", "--pcap", pcap, "--port", "8080",
                    "--candidate", cand, "--db", (char *)db, "--allow-method", "POST", NULL};
    r = run(argv, 60);
    if (sdiff_test_exit_code(&r) != 0)
        fail_msg("mirror: exit %d: %s", sdiff_test_exit_code(&r), r.err);
    assert_non_null(strstr(r.err, "1 with a forged marker; marker X-Shadowdiff: "));
    sdiff_test_run_dispose(&r);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results"), 7);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results WHERE skip_reason LIKE "
                                           "'method override: %'"),
                     5);
    assert_int_equal(sdiff_test_db_int(db, "SELECT count(*) FROM results WHERE class <> "
                                           "'skipped' AND target IN ('/api/forged', "
                                           "'/api/plain')"),
                     2);
    assert_int_equal(sdiff_test_db_int(db, "SELECT json_extract(summary, '$.forged_marker') "
                                           "FROM runs"),
                     1);
    /* the run's token, as the candidate would see it, is in the run's record */
    assert_int_equal(sdiff_test_db_int(db, "SELECT length(marker_token) FROM runs WHERE "
                                           "marker_token NOT GLOB '*[^0-9a-f]*'"),
                     32);
    /* the candidate's own count of what reached it: the two, and nothing else */
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "curl -s -X POST '%s/__stats' | /usr/bin/python3 -c 'import json,sys; "
             "p=json.load(sys.stdin)[\"paths\"]; sys.exit(0 if sorted(p) == "
             "[\"/api/forged\", \"/api/plain\"] else 1)'",
             cand);
    assert_int_equal(sdiff_test_sh(cmd, 10), 0);
    sdiff_test_stop(pid, SIGTERM, 5);
}

int main(int argc, char **argv)
{
    const char *fx = getenv("SDIFF_FIXTURES");
    snprintf(tools, sizeof tools, "%s/../tests/tools", fx ? fx : "fixtures");
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_bad__pcap_with_wrong_magic_exits_2_with_one_line),
        T(test_bad__pcap_with_truncated_global_header_exits_2_with_one_line),
        T(test_bad__random_bytes_exit_2_with_one_line),
        T(test_bad__pcap_cut_inside_its_last_packet_keeps_what_came_before),
        T(test_bad__snaplen_cut_packets_are_gaps_never_misparsed),
        T(test_bad__pcapng_with_interfaces_of_different_link_types_reads_all),
        T(test_bad__bit_flipped_golden_pcaps_exit_0_or_2_and_never_crash),
        T(test_bad__garbage_instead_of_http_is_counted_as_not_http),
        T(test_bad__header_block_over_the_limit_is_unparsable),
        T(test_bad__a_million_headers_stop_at_the_field_limit),
        T(test_bad__chunk_size_over_64_bits_is_unparsable),
        T(test_bad__negative_content_length_is_unparsable),
        T(test_bad__conflicting_content_lengths_are_unparsable),
        T(test_bad__body_over_max_body_is_truncated_and_counted),
        T(test_bad__response_without_request_is_counted_as_orphan),
        T(test_bad__connection_of_only_retransmissions_gives_one_exchange),
        T(test_bad__terminal_controls_in_traffic_are_kept_and_escaped),
        T(test_bad__forged_markers_and_method_overrides_never_steer_a_replay),
        T(test_bad__diff_of_a_decompression_bomb_is_an_error_not_out_of_memory),
        T(test_bad__diff_of_invalid_utf8_json_bodies_is_classified),
        T(test_bad__diff_of_json_nested_100000_deep_is_classified),
    };
#undef T
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sdiff_test_kill_all();
    return rc;
}
