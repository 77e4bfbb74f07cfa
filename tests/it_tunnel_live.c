/*
 * it_tunnel_live.c - live capture of mirrored traffic: a veth pair inside a network
 * namespace of our own, the generator's tunnel pcaps (VXLAN, Geneve, GRE, ERSPAN, two
 * sources with the same inner addresses) sent out of one end with AF_PACKET, and
 * `shadowdiff capture --interface` on the other end must find every exchange of the expected
 * lists the generator wrote. The namespace is deleted even when a test fails.
 */
#include "sdiff_test.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char ns[32], veth_a[16], veth_b[16], tools[4096];

static const char *const CASES[] = {"tunnel_vxlan", "tunnel_geneve", "tunnel_gre",
                                    "tunnel_erspan", "tunnel_vlan_outer", "tunnel_two_sources"};
#define NCASES (sizeof CASES / sizeof CASES[0])

static const char *const FIELDS[] = {
    "conn", "seq", "method", "target", "status", "state",
    "req_body_len", "resp_body_len", "req_body_crc32", "resp_body_crc32",
};

static int ns_setup(void **state)
{
    (void)state;
    if (geteuid() != 0 || sdiff_test_sh("command -v ip >/dev/null", 10) != 0)
        return 0;
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "ip netns add %s && ip netns exec %s ip link add %s mtu 9000 type veth peer name %s "
             "mtu 9000 && "
             "ip netns exec %s ip link set %s up && ip netns exec %s ip link set %s up",
             ns, ns, veth_a, veth_b, ns, veth_a, ns, veth_b);
    if (sdiff_test_sh(cmd, 20) != 0)
        ns[0] = '\0'; /* no namespaces here: the tests skip */
    return 0;
}

static int ns_teardown(void **state)
{
    (void)state;
    sdiff_test_kill_all();
    if (ns[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "ip netns del %s 2>/dev/null", ns);
        sdiff_test_sh(cmd, 20);
    }
    return 0;
}

/* The expected rows of every case, with connection numbers following on from case to case. */
static json_t *expected_rows(size_t *nconn_out)
{
    json_t *all = json_array();
    json_int_t base = 0;
    for (size_t i = 0; i < NCASES; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "pcap/%s.expected.jsonl", CASES[i]);
        size_t len;
        char *text = (char *)sdiff_test_read_file(sdiff_test_fixture_path(rel), &len);
        json_int_t most = 0;
        char *save = NULL;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            json_t *o = json_loads(l, 0, NULL);
            assert_non_null(o);
            json_int_t c = json_integer_value(json_object_get(o, "conn"));
            most = c > most ? c : most;
            json_object_set_new(o, "conn", json_integer(base + c));
            json_array_append_new(all, o);
        }
        free(text);
        /* the connections of a case are numbered 1..n and every one has a row, except
         * tunnel_nested's too-deep one (not among these cases) */
        base += most;
    }
    *nconn_out = (size_t)base;
    return all;
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

/* Capture on veth_b while every case's frames go out of veth_a; compare exchange by exchange. */
static void test_tunnel_live__mirrored_frames_give_every_exchange(void **state)
{
    (void)state;
    if (ns[0] == '\0')
        skip();
    char *dir = sdiff_test_tmpdir();
    char outf[4200], errf[4200];
    snprintf(outf, sizeof outf, "%s/out.jsonl", dir);
    snprintf(errf, sizeof errf, "%s/capture.err", dir);
    char *cap_argv[] = {"ip", "netns", "exec", ns, (char *)sdiff_test_bin(), "capture",
                        "--interface", veth_b, "--port", "8000", "--out", "-", "--checksums",
                        NULL};
    int cap = sdiff_test_spawn(cap_argv, outf, errf);
    char listening[64];
    snprintf(listening, sizeof listening, "listening on %s", veth_b);
    assert_int_equal(sdiff_test_wait_file_contains(errf, listening, 10), 0);

    char paths[NCASES][4200];
    size_t k = 0;
    char inject_py[4200];
    snprintf(inject_py, sizeof inject_py, "%s/inject_frames.py", tools);
    char *pre[] = {"netns", "exec", ns, "/usr/bin/python3", inject_py, veth_a};
    char *argv[1 + 6 + NCASES + 1];
    k = 0;
    argv[k++] = "ip";
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++)
        argv[k++] = pre[i];
    for (size_t i = 0; i < NCASES; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "pcap/%s.pcap", CASES[i]);
        snprintf(paths[i], sizeof paths[i], "%s", sdiff_test_fixture_path(rel));
        argv[k++] = paths[i];
    }
    argv[k] = NULL;
    int st = sdiff_test_wait(sdiff_test_spawn(argv, NULL, NULL), 60);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    usleep(500000); /* let the last block of the ring reach the capture */
    st = sdiff_test_stop(cap, SIGINT, 30);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    size_t nconn;
    json_t *exp = expected_rows(&nconn);
    json_t *got = json_array();
    size_t len;
    char *text = (char *)sdiff_test_read_file(outf, &len);
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_t *full = json_loads(l, 0, NULL);
        assert_non_null(full);
        json_t *o = json_object();
        for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++)
            json_object_set(o, FIELDS[i], json_object_get(full, FIELDS[i]));
        json_decref(full);
        json_array_append_new(got, o);
    }
    free(text);
    size_t n = json_array_size(got), m = json_array_size(exp);
    json_t **items = calloc(n + 1, sizeof *items);
    for (size_t i = 0; i < n; i++)
        items[i] = json_array_get(got, i);
    qsort(items, n, sizeof *items, by_conn_seq);
    int bad = 0;
    for (size_t i = 0; i < (n > m ? n : m); i++) {
        json_t *w = i < m ? json_array_get(exp, i) : NULL, *g = i < n ? items[i] : NULL;
        if (w && g && json_equal(w, g))
            continue;
        char *ws = w ? json_dumps(w, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
        char *gs = g ? json_dumps(g, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
        fprintf(stderr, "exchange %zu\n  expected %s\n  got      %s\n", i, ws ? ws : "(none)",
                gs ? gs : "(none)");
        free(ws);
        free(gs);
        bad++;
    }
    char *etext = (char *)sdiff_test_read_file(errf, &len);
    if (bad || strstr(etext, "kernel drops 0;") == NULL || strstr(etext, "decapsulated:") == NULL)
        fail_msg("%d exchanges differ; capture said: %s", bad, etext);
    free(etext);
    free(items);
    json_decref(exp);
    json_decref(got);
    sdiff_test_rmdir(dir);
    free(dir);
}

/* --filter is about the inner packet: outer tunnel packets pass the kernel filter. */
static void test_tunnel_live__filter_applies_to_the_inner_packet(void **state)
{
    (void)state;
    if (ns[0] == '\0')
        skip();
    char *dir = sdiff_test_tmpdir();
    char outf[4200], errf[4200], pcap[4200], inject_py[4200];
    snprintf(outf, sizeof outf, "%s/out.jsonl", dir);
    snprintf(errf, sizeof errf, "%s/capture.err", dir);
    snprintf(pcap, sizeof pcap, "%s", sdiff_test_fixture_path("pcap/tunnel_gre.pcap"));
    snprintf(inject_py, sizeof inject_py, "%s/inject_frames.py", tools);
    char *cap_argv[] = {"ip", "netns", "exec", ns, (char *)sdiff_test_bin(), "capture",
                        "--interface", veth_b, "--port", "8000", "--filter", "port 55201",
                        "--out", "-", NULL};
    int cap = sdiff_test_spawn(cap_argv, outf, errf);
    char listening[64];
    snprintf(listening, sizeof listening, "listening on %s", veth_b);
    assert_int_equal(sdiff_test_wait_file_contains(errf, listening, 10), 0);
    char *argv[] = {"ip", "netns", "exec", ns, "/usr/bin/python3", inject_py, veth_a, pcap, NULL};
    int st = sdiff_test_wait(sdiff_test_spawn(argv, NULL, NULL), 60);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    usleep(500000);
    st = sdiff_test_stop(cap, SIGINT, 30);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    size_t len;
    char *text = (char *)sdiff_test_read_file(outf, &len);
    /* the connection from port 55201 (GRE key 77): its two exchanges and nothing else */
    assert_int_equal(sdiff_test_count_lines(text, len), 2);
    assert_non_null(strstr(text, "\"/api/items/1/0\""));
    assert_non_null(strstr(text, "\"/api/items/1/1\""));
    free(text);
    sdiff_test_rmdir(dir);
    free(dir);
}

int main(int argc, char **argv)
{
    const char *fx = getenv("SDIFF_FIXTURES");
    snprintf(tools, sizeof tools, "%s/../tests/tools", fx ? fx : "fixtures");
    unsigned id = (unsigned)getpid() % 100000u;
    snprintf(ns, sizeof ns, "sdiff-tun-%u", id);
    snprintf(veth_a, sizeof veth_a, "sdta%u", id);
    snprintf(veth_b, sizeof veth_b, "sdtb%u", id);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tunnel_live__mirrored_frames_give_every_exchange),
        cmocka_unit_test(test_tunnel_live__filter_applies_to_the_inner_packet),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    int rc = cmocka_run_group_tests(tests, ns_setup, ns_teardown);
    ns_teardown(NULL);
    return rc;
}
