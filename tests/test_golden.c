/*
 * test_golden.c - runs the capture pipeline on every case of fixtures/golden.list and
 * compares its exchanges, field by field, with the expected list made by the generator or
 * recorded from the client's side (never from this tool's output).
 *
 * A case line: name input.pcap expected.jsonl [--port N]... [--max-body SIZE]
 *             [--verify-tcp-checksums on]
 * A "note" in an expected row is compared too (why an exchange is not complete).
 */
#include "sdiff_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shadowdiff/run.h"
#include "shadowdiff/store.h"

static const char *const FIELDS[] = {
    "conn", "seq", "method", "target", "status", "state",
    "req_body_len", "resp_body_len", "req_body_crc32", "resp_body_crc32",
};

struct collect {
    json_t *list;
    struct sdiff_buf line;
};

static int collect_sink(struct sdiff_exchange *ex, void *ud, struct sdiff_err *err)
{
    struct collect *c = ud;
    (void)err;
    sdiff_buf_reset(&c->line);
    struct sdiff_store_opts opts = {.checksums = 1};
    assert_int_equal(sdiff_exchange_to_json(ex, &opts, &c->line), SDIFF_OK);
    json_error_t jerr;
    json_t *full = json_loadb((const char *)c->line.data, c->line.len, 0, &jerr);
    if (full == NULL)
        fail_msg("exchange JSON does not parse: %s: %s", jerr.text, c->line.data);
    json_t *o = json_object();
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++)
        json_object_set(o, FIELDS[i], json_object_get(full, FIELDS[i]));
    /* compared only where the expected row says why (an unparsable exchange) */
    json_object_set(o, "note", json_object_get(full, "note"));
    json_decref(full);
    json_array_append_new(c->list, o);
    sdiff_exchange_free(ex);
    return 0;
}

static int by_conn_seq(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t cx = json_integer_value(json_object_get(x, "conn"));
    json_int_t cy = json_integer_value(json_object_get(y, "conn"));
    if (cx != cy)
        return cx < cy ? -1 : 1;
    json_int_t sx = json_integer_value(json_object_get(x, "seq"));
    json_int_t sy = json_integer_value(json_object_get(y, "seq"));
    return sx < sy ? -1 : sx > sy;
}

static json_t *load_expected(const char *path)
{
    size_t len;
    char *text = (char *)sdiff_test_read_file(path, &len);
    json_t *list = json_array();
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        if (o == NULL)
            fail_msg("%s: bad line: %s", path, jerr.text);
        json_array_append_new(list, o);
    }
    free(text);
    return list;
}

/*
 * How many request lines the capture of a case shows, counted by the generator from what it
 * put on the wire (fixtures/pcap/request_lines.txt); -1 when the case is not listed (the
 * real recordings).
 */
static long request_lines(const char *name)
{
    size_t len;
    char *text = (char *)sdiff_test_read_file(sdiff_test_fixture_path("pcap/request_lines.txt"),
                                              &len);
    long n = -1;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && n < 0;
         line = strtok_r(NULL, "\n", &save)) {
        char key[128];
        long v;
        if (line[0] != '#' && sscanf(line, "%127s %ld", key, &v) == 2 && strcmp(key, name) == 0)
            n = v;
    }
    free(text);
    return n;
}

/* Run one case; return the number of mismatches (printed). */
static int run_case(char *spec)
{
    char *save = NULL;
    const char *name = strtok_r(spec, " \t", &save);
    const char *pcap = strtok_r(NULL, " \t", &save);
    const char *expected = strtok_r(NULL, " \t", &save);
    struct sdiff_capture_run_opts o = {.limits = SDIFF_LIMITS_INIT};
    uint16_t ports[16];
    size_t nports = 0;
    char pcap_path[4096], exp_path[4096];
    for (char *opt; (opt = strtok_r(NULL, " \t", &save)) != NULL;) {
        char *val = strtok_r(NULL, " \t", &save);
        assert_non_null(val);
        if (strcmp(opt, "--port") == 0 && nports < 16)
            ports[nports++] = (uint16_t)atoi(val);
        else if (strcmp(opt, "--max-body") == 0)
            o.limits.max_body = (size_t)atol(val);
        else if (strcmp(opt, "--verify-tcp-checksums") == 0 && strcmp(val, "on") == 0)
            o.verify_tcp_checksums = SDIFF_CSUM_ON;
        else
            fail_msg("%s: unknown option %s", name, opt);
    }
    snprintf(pcap_path, sizeof pcap_path, "%s", sdiff_test_fixture_path(pcap));
    snprintf(exp_path, sizeof exp_path, "%s", sdiff_test_fixture_path(expected));
    o.source.pcap_file = pcap_path;
    o.ports = ports;
    o.nports = nports;

    struct collect c = {.list = json_array()};
    sdiff_buf_init(&c.line, 64u << 20);
    struct sdiff_capture_run_stats st;
    struct sdiff_err err = {0};
    int rc = sdiff_run_capture(&o, collect_sink, &c, NULL, &st, &err);
    if (rc < 0)
        fail_msg("%s: capture failed: %s", name, err.msg);

    size_t n = json_array_size(c.list);
    json_t **items = calloc(n + 1, sizeof *items);
    for (size_t i = 0; i < n; i++)
        items[i] = json_array_get(c.list, i);
    qsort(items, n, sizeof *items, by_conn_seq);

    json_t *exp = load_expected(exp_path);
    int bad = 0;
    size_t m = json_array_size(exp);
    for (size_t i = 0; i < (n > m ? n : m); i++) {
        json_t *want = i < m ? json_array_get(exp, i) : NULL;
        json_t *got = i < n ? items[i] : NULL;
        if (want && got && json_object_get(want, "note") == NULL)
            json_object_del(got, "note");
        if (want && got && json_equal(want, got))
            continue;
        char *ws = want ? json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
        char *gs = got ? json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
        fprintf(stderr, "golden %s: exchange %zu\n  expected %s\n  got      %s\n", name, i,
                ws ? ws : "(none)", gs ? gs : "(none)");
        free(ws);
        free(gs);
        bad++;
    }
    /* No request vanishes: every request line seen is an exchange in some state. */
    long want_lines = request_lines(name);
    uint64_t counted = 0;
    for (int i = 0; i < SDIFF_EX__COUNT; i++)
        counted += st.pair.exchanges[i];
    if (want_lines >= 0 && counted != (uint64_t)want_lines) {
        fprintf(stderr, "golden %s: %ld request lines on the wire, the summary counts %llu\n",
                name, want_lines, (unsigned long long)counted);
        bad++;
    }
    if (bad) {
        struct sdiff_buf s;
        sdiff_buf_init(&s, 1u << 16);
        sdiff_capture_run_summary(&st, &s);
        fprintf(stderr, "golden %s: summary: %s\n", name, (const char *)s.data);
        sdiff_buf_dispose(&s);
    }
    free(items);
    json_decref(exp);
    json_decref(c.list);
    sdiff_buf_dispose(&c.line);
    return bad;
}

static void test_golden__every_case_matches_expected_exchanges(void **state)
{
    (void)state;
    size_t len;
    char *list = (char *)sdiff_test_read_file(sdiff_test_fixture_path("golden.list"), &len);
    const char *only = getenv("SDIFF_GOLDEN_CASE");
    int cases = 0, failed = 0;
    char *save = NULL;
    for (char *line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ')
            line++;
        if (*line == '#' || *line == '\0')
            continue;
        if (only && strncmp(line, only, strlen(only)) != 0)
            continue;
        cases++;
        if (run_case(line) > 0)
            failed++;
    }
    free(list);
    fprintf(stderr, "golden: %d cases, %d failed\n", cases, failed);
    assert_true(cases > 0);
    assert_int_equal(failed, 0);
}

/* Each exchange names the mirrored source it came through: tunnel kinds, endpoints, id. */
static int tunnel_sink(struct sdiff_exchange *ex, void *ud, struct sdiff_err *err)
{
    struct sdiff_buf *seen = ud;
    (void)err;
    struct sdiff_buf one;
    sdiff_buf_init(&one, 4096);
    assert_int_equal(sdiff_buf_puts(&one, "{}"), SDIFF_OK);
    assert_int_equal(sdiff_exchange_json_add_tunnel(ex, &one), SDIFF_OK);
    assert_int_equal(sdiff_buf_printf(seen, "%llu/%u %s\n", (unsigned long long)ex->conn_id,
                                      ex->seq, (const char *)one.data),
                     SDIFF_OK);
    sdiff_buf_dispose(&one);
    sdiff_exchange_free(ex);
    return 0;
}

static void tunnel_sources(const char *pcap, uint16_t port, const char *want)
{
    struct sdiff_capture_run_opts o = {.limits = SDIFF_LIMITS_INIT};
    char path[4096];
    snprintf(path, sizeof path, "%s", sdiff_test_fixture_path(pcap));
    o.source.pcap_file = path;
    o.ports = &port;
    o.nports = 1;
    struct sdiff_buf seen;
    sdiff_buf_init(&seen, 1u << 16);
    struct sdiff_capture_run_stats st;
    assert_int_equal(sdiff_run_capture(&o, tunnel_sink, &seen, NULL, &st, NULL), SDIFF_OK);
    assert_string_equal(seen.data ? (const char *)seen.data : "", want);
    sdiff_buf_dispose(&seen);
}

static void test_golden__each_exchange_names_its_tunnel_source(void **state)
{
    (void)state;
    /* two instances with the same inner addresses, and the first again under another VNI */
#define VX(src, vni)                                                                           \
    "{\"tunnel\":{\"kinds\":[\"vxlan\"],\"endpoints\":[\"" src "\",\"10.99.0.1\"],"         \
    "\"id\":" vni "}}\n"
    tunnel_sources("pcap/tunnel_two_sources.pcap", 8000,
                   "1/0 " VX("10.9.1.1", "100") "2/0 " VX("10.9.1.2", "200")
                   "3/0 " VX("10.9.1.1", "300") "1/1 " VX("10.9.1.1", "100")
                   "2/1 " VX("10.9.1.2", "200") "3/1 " VX("10.9.1.1", "300"));
#undef VX
    tunnel_sources("pcap/basic_keepalive.pcap", 8080, "1/0 {}\n1/1 {}\n1/2 {}\n");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_golden__each_exchange_names_its_tunnel_source),
    cmocka_unit_test(test_golden__every_case_matches_expected_exchanges),
};
SDIFF_TEST_MAIN(tests)
