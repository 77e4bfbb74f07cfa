/*
 * it_verdict.c - the step decision on the fixture services: a corpus captured on lo from the
 * legacy Flask service (with a key of our own, as the README's CI example does), then gate,
 * replay, report and capture judged end to end for every case the evidence rules name: a
 * dead candidate, a dead primary, an empty corpus, a wrong port, the small-sample disaster,
 * a perfect candidate, waivers, thresholds, JUnit reasons, learned noise, the plan, SIGINT,
 * and the same traffic judged ten times.
 */
#include "sdiff_test.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sdiff_test_services svc;
static char corpus[4200], keyfile[4200], prim[64], sec[64], cand[64], self[64], dead[64];

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0)
        return 0; /* the tests skip: live capture needs root */
    if (sdiff_test_services_start(&svc) != 0)
        return -1;
    snprintf(prim, sizeof prim, "http://127.0.0.1:%d", svc.legacy);
    snprintf(self, sizeof self, "http://127.0.0.1:%d", svc.legacy);
    snprintf(sec, sizeof sec, "http://127.0.0.1:%d", svc.secondary);
    snprintf(cand, sizeof cand, "http://127.0.0.1:%d", svc.candidate);
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d", sdiff_test_free_port());
    snprintf(corpus, sizeof corpus, "%s/corpus.db", svc.dir);
    snprintf(keyfile, sizeof keyfile, "%s/ci.key", svc.dir);
    char cmd[9000], errf[4200], port[16];
    snprintf(cmd, sizeof cmd, "head -c 32 /dev/urandom > '%s' && chmod 600 '%s'", keyfile,
             keyfile);
    if (sdiff_test_sh(cmd, 10) != 0)
        return -1;
    snprintf(errf, sizeof errf, "%s/capture.err", svc.dir);
    snprintf(port, sizeof port, "%d", svc.legacy);
    char *cap_argv[] = {(char *)sdiff_test_bin(), "capture", "--interface", "lo", "--port", port,
                        "--buffer-size", "256M", "--redact-key", keyfile, "--out", corpus,
                        NULL};
    int cap = sdiff_test_spawn(cap_argv, NULL, errf);
    if (sdiff_test_wait_file_contains(errf, "listening on lo", 10) != 0)
        return -1;
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 '%s/services/drive.py' --port %d --requests 2500 --seed 11 --seconds 2 "
             "--out '%s/drive.jsonl' >'%s/drive.log' 2>&1",
             svc.fixtures, svc.legacy, svc.dir, svc.dir);
    if (sdiff_test_sh(cmd, 180) != 0)
        return -1;
    usleep(500000);
    int st = sdiff_test_stop(cap, SIGINT, 10);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    sdiff_test_kill_all();
    sdiff_test_services_stop(&svc);
    return 0;
}

#define NEED_ROOT()                                                                            \
    do {                                                                                       \
        if (geteuid() != 0)                                                                    \
            skip();                                                                            \
    } while (0)

/* gate on the shared corpus with the CI key; extra arguments appended (NULL-terminated). */
static struct sdiff_test_run gate(const char *candidate, const char *primary, const char *db,
                                  ...)
{
    char *argv[64];
    size_t n = 0;
    argv[n++] = (char *)sdiff_test_bin();
    argv[n++] = "gate";
    argv[n++] = "--corpus";
    argv[n++] = corpus;
    argv[n++] = "--primary";
    argv[n++] = (char *)primary;
    argv[n++] = "--candidate";
    argv[n++] = (char *)candidate;
    argv[n++] = "--redact-key";
    argv[n++] = keyfile;
    argv[n++] = "--db";
    argv[n++] = (char *)db;
    va_list ap;
    va_start(ap, db);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 63)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    return sdiff_test_run(argv, svc.dir, 180);
}

static const char *path_in(const char *name)
{
    static char p[8][4300];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", svc.dir, name);
    unlink(p[k]);
    return p[k];
}

static json_t *parse(const struct sdiff_test_run *r)
{
    json_error_t je;
    json_t *j = json_loadb(r->out, r->out_len, 0, &je);
    if (j == NULL)
        fail_msg("not JSON (%s): %.300s", je.text, r->out);
    return j;
}

static const char *verdict(json_t *j)
{
    return json_string_value(json_object_get(j, "verdict"));
}

static int has_reason(json_t *j, const char *needle)
{
    json_t *rs = json_object_get(j, "reasons"), *v;
    size_t i;
    json_array_foreach(rs, i, v) if (strstr(json_string_value(v), needle)) return 1;
    return 0;
}

static void test_verdict__dead_candidate_fails(void **state)
{
    (void)state;
    NEED_ROOT();
    struct sdiff_test_run r =
        gate(dead, prim, path_in("dead-cand.db"), "--sample", "200", "--format", "json", NULL);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    json_t *j = parse(&r);
    assert_string_equal(verdict(j), "fail");
    assert_true(has_reason(j, "blocked: error increase lower bound"));
    assert_int_equal(json_integer_value(json_object_get(j, "schema_version")), 2);
    json_decref(j);
    sdiff_test_run_dispose(&r);
}

static void test_verdict__dead_primary_is_an_error_naming_it(void **state)
{
    (void)state;
    NEED_ROOT();
    struct sdiff_test_run r = gate(cand, dead, path_in("dead-prim.db"), "--sample", "50", NULL);
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    assert_non_null(strstr(r.err, "the primary "));
    assert_non_null(strstr(r.err, dead));
    assert_non_null(strstr(r.err, "did not answer"));
    sdiff_test_run_dispose(&r);
    /* both down: still our error, not a verdict */
    r = gate(dead, dead, path_in("dead-both.db"), "--sample", "50", NULL);
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    sdiff_test_run_dispose(&r);
}

static void test_verdict__empty_corpus_is_inconclusive(void **state)
{
    (void)state;
    NEED_ROOT();
    const char *empty = path_in("empty.db");
    /* a corpus with no exchange: a recording of another port */
    char *cap[] = {(char *)sdiff_test_bin(), "capture", "--pcap",
                   (char *)sdiff_test_fixture_path("pcap/real_flask_lo.pcap"), "--port", "9999",
                   "--out", (char *)empty, NULL};
    struct sdiff_test_run r = sdiff_test_run(cap, svc.dir, 30);
    assert_int_equal(sdiff_test_exit_code(&r), 3);
    assert_non_null(strstr(r.err, "no HTTP/1.1 exchange"));
    sdiff_test_run_dispose(&r);
    char *g[] = {(char *)sdiff_test_bin(), "gate", "--corpus", (char *)empty, "--primary", prim,
                 "--candidate", cand, "--format", "json", NULL};
    r = sdiff_test_run(g, svc.dir, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 3);
    json_t *j = parse(&r);
    assert_string_equal(verdict(j), "inconclusive");
    assert_true(has_reason(j, "nothing judged"));
    json_decref(j);
    sdiff_test_run_dispose(&r);
    /* --allow-inconclusive: exit 0, and the verdict still says so */
    char *g2[] = {(char *)sdiff_test_bin(), "gate", "--corpus", (char *)empty, "--primary", prim,
                  "--candidate", cand, "--allow-inconclusive", NULL};
    r = sdiff_test_run(g2, svc.dir, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    assert_non_null(strstr(r.out, "verdict: INCONCLUSIVE"));
    sdiff_test_run_dispose(&r);
    /* replay of nothing: exit 3 */
    char *rp[] = {(char *)sdiff_test_bin(), "replay", "--corpus", (char *)empty, "--candidate",
                  cand, "--db", (char *)path_in("empty-results.db"), NULL};
    r = sdiff_test_run(rp, svc.dir, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 3);
    assert_non_null(strstr(r.err, "nothing replayed"));
    sdiff_test_run_dispose(&r);
}

static void test_verdict__wrong_port_says_what_it_saw(void **state)
{
    (void)state;
    NEED_ROOT();
    char port[16];
    snprintf(port, sizeof port, "%d", sdiff_test_free_port());
    char *live[] = {(char *)sdiff_test_bin(), "capture", "--interface", "lo", "--port", port,
                    "--duration", "2", "--out", (char *)path_in("wrong.db"), NULL};
    struct sdiff_test_run r = sdiff_test_run(live, svc.dir, 30);
    assert_int_equal(sdiff_test_exit_code(&r), 3);
    char want[200];
    snprintf(want, sizeof want, "0 packets matched `");
    assert_non_null(strstr(r.err, want));
    snprintf(want, sizeof want, "port %s", port);
    assert_non_null(strstr(r.err, want));
    /* the seconds are the capture's own count: on a loaded machine --duration 2 may end
     * at 2.6 s and say 3 */
    const char *in = strstr(r.err, "` in ");
    assert_non_null(in);
    char *end;
    long secs = strtol(in + 5, &end, 10);
    assert_true(secs >= 2 && secs <= 10 && strncmp(end, " seconds", 8) == 0);
    sdiff_test_run_dispose(&r);

    char *file[] = {(char *)sdiff_test_bin(), "capture", "--pcap",
                    (char *)sdiff_test_fixture_path("pcap/real_flask_lo.pcap"), "--port", "9999",
                    "--out", "-", NULL};
    r = sdiff_test_run(file, svc.dir, 30);
    assert_int_equal(sdiff_test_exit_code(&r), 3);
    assert_non_null(strstr(r.err, "the busiest TCP ports in the file are 60471"));
    sdiff_test_run_dispose(&r);

    /* mirror from the same file on the wrong port: nothing judged, exit 3, the same words */
    char *mir[] = {(char *)sdiff_test_bin(), "mirror", "--pcap",
                   (char *)sdiff_test_fixture_path("pcap/real_flask_lo.pcap"), "--port", "9999",
                   "--candidate", cand, "--db", (char *)path_in("wrong-mirror.db"), NULL};
    r = sdiff_test_run(mir, svc.dir, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 3);
    assert_non_null(strstr(r.err, "the busiest TCP ports in the file are 60471"));
    sdiff_test_run_dispose(&r);
}

static void test_verdict__small_sample_disaster_fails(void **state)
{
    (void)state;
    NEED_ROOT();
    const char *c = path_in("flask.db"), *res = path_in("flask-results.db");
    char *cap[] = {(char *)sdiff_test_bin(), "capture", "--pcap",
                   (char *)sdiff_test_fixture_path("pcap/real_flask_lo.pcap"), "--out", (char *)c,
                   NULL};
    struct sdiff_test_run r = sdiff_test_run(cap, svc.dir, 30);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    sdiff_test_run_dispose(&r);
    char *rp[] = {(char *)sdiff_test_bin(), "replay", "--corpus", (char *)c, "--candidate", cand,
                  "--db", (char *)res, NULL};
    r = sdiff_test_run(rp, svc.dir, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    sdiff_test_run_dispose(&r);
    char *rep[] = {(char *)sdiff_test_bin(), "report", "--db", (char *)res, "--format", "json",
                   NULL};
    r = sdiff_test_run(rep, svc.dir, 30);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    json_t *j = parse(&r);
    assert_string_equal(verdict(j), "fail");
    /* every endpoint is under min_samples, yet the evidence blocks some */
    json_t *eps = json_object_get(j, "endpoints"), *e;
    size_t i, blocked = 0;
    json_array_foreach(eps, i, e)
    {
        assert_true(json_integer_value(json_object_get(e, "judged")) < 30);
        blocked += strcmp(json_string_value(json_object_get(e, "verdict")), "blocked") == 0;
    }
    assert_true(blocked > 0);
    json_decref(j);
    sdiff_test_run_dispose(&r);
}

static void test_verdict__perfect_candidate_passes_with_1000(void **state)
{
    (void)state;
    NEED_ROOT();
    /* the README's CI example as written: the legacy service against itself, a secondary,
     * the key from a secret file */
    const char *md = path_in("ci.md"), *junit = path_in("ci-junit.xml");
    char sh[12000];
    snprintf(sh, sizeof sh,
             "cd '%s' && export KEYFILE='%s' CI_PIPELINE_ID=42 && '%s' gate --corpus '%s' --primary %s \\\n"
             "  --secondary %s --candidate %s \\\n"
             "  --redact-key \"$KEYFILE\" --sample 1000 --seed \"$CI_PIPELINE_ID\" \\\n"
             "  --format markdown --junit '%s' > '%s' 2>'%s/ci.err'",
             svc.dir, keyfile, sdiff_test_bin(), corpus, prim, sec, self, junit, md, svc.dir);
    int st = sdiff_test_sh(sh, 180);
    if (st != 0) {
        snprintf(sh, sizeof sh, "cat '%s' '%s/ci.err' >&2", md, svc.dir);
        (void)!system(sh);
    }
    assert_int_equal(st, 0);
    size_t n;
    char *text = (char *)sdiff_test_read_file(md, &n);
    assert_non_null(strstr(text, "**PASS: "));
    free(text);
    text = (char *)sdiff_test_read_file(junit, &n);
    assert_non_null(strstr(text, "<property name=\"verdict\" value=\"pass\"/>"));
    free(text);

    /* and as JSON: 1000 judged, the plan in it, pass */
    struct sdiff_test_run r = gate(self, prim, path_in("self.db"), "--secondary", sec,
                                   "--sample", "1000", "--seed", "42", "--format", "json", NULL);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    json_t *j = parse(&r);
    assert_string_equal(verdict(j), "pass");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "totals"), "judged")),
                     1000);
    json_t *plan = json_object_get(j, "plan"), *p;
    size_t i;
    long long planned = 0;
    assert_true(json_array_size(plan) > 5);
    json_array_foreach(plan, i, p)
    {
        long long a = json_integer_value(json_object_get(p, "available"));
        long long w = json_integer_value(json_object_get(p, "planned"));
        assert_true(w >= 1 && w <= a);
        /* every route reaches the floor when it can */
        assert_true(w >= (a < 30 ? a : 30));
        planned += w;
    }
    assert_int_equal(planned, 1000);
    assert_non_null(strstr(r.err, "shadowdiff: gate: plan: "));
    json_decref(j);
    sdiff_test_run_dispose(&r);
}

static void test_verdict__plan_is_a_hard_cap_and_repeats(void **state)
{
    (void)state;
    NEED_ROOT();
    struct sdiff_test_run a = gate(self, prim, path_in("plan-a.db"), "--sample", "5", "--seed",
                                   "3", "--format", "json", "--allow-inconclusive", NULL);
    struct sdiff_test_run b = gate(self, prim, path_in("plan-b.db"), "--sample", "5", "--seed",
                                   "3", "--format", "json", "--allow-inconclusive", NULL);
    assert_int_equal(sdiff_test_exit_code(&a), 0);
    json_t *ja = parse(&a), *jb = parse(&b);
    json_t *pa = json_object_get(ja, "plan");
    assert_true(json_equal(pa, json_object_get(jb, "plan")));
    /* more routes than 5: the 5 busiest get one, the rest are listed as not sampled */
    size_t i, zero = 0;
    json_t *p;
    long long planned = 0;
    json_array_foreach(pa, i, p)
    {
        planned += json_integer_value(json_object_get(p, "planned"));
        zero += json_integer_value(json_object_get(p, "planned")) == 0;
    }
    assert_int_equal(planned, 5);
    assert_true(zero > 0);
    assert_non_null(strstr(a.err, "not sampled"));
    json_decref(ja);
    json_decref(jb);
    sdiff_test_run_dispose(&a);
    sdiff_test_run_dispose(&b);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_verdict__gate_honours_config_waivers_and_thresholds(void **state)
{
    (void)state;
    NEED_ROOT();
    const char *db = path_in("waive.db");
    struct sdiff_test_run r = gate(cand, prim, db, "--secondary", sec, "--sample", "400",
                                   "--seed", "5", "--format", "json", NULL);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    json_t *j = parse(&r);
    /* waive every cluster in a config file */
    json_t *cfg = json_object(), *wv = json_array(), *cl;
    size_t i;
    json_array_foreach(json_object_get(j, "clusters"), i, cl)
    {
        json_t *w = json_object();
        json_object_set(w, "cluster", json_object_get(cl, "id"));
        json_object_set_new(w, "reason", json_string("known in this test"));
        json_array_append_new(wv, w);
    }
    assert_true(json_array_size(wv) > 0);
    json_object_set_new(cfg, "waivers", wv);
    const char *cfgpath = path_in("waive.json");
    assert_int_equal(json_dump_file(cfg, cfgpath, 0), 0);
    json_decref(cfg);
    json_decref(j);
    sdiff_test_run_dispose(&r);

    r = gate(cand, prim, path_in("waive2.db"), "--secondary", sec, "--sample", "400", "--seed",
             "5", "--format", "json", "--config", cfgpath, NULL);
    j = parse(&r);
    assert_string_not_equal(verdict(j), "fail");
    assert_int_not_equal(sdiff_test_exit_code(&r), 1);
    json_array_foreach(json_object_get(j, "clusters"), i, cl)
        assert_true(json_is_true(json_object_get(cl, "accepted")));
    json_decref(j);
    sdiff_test_run_dispose(&r);

    /* the config's thresholds apply in gate; a bad one is the same error as the flag's */
    const char *bad = path_in("bad.json");
    write_file(bad, "{\"thresholds\": {\"max_mismatch\": 5}}");
    r = gate(cand, prim, path_in("bad.db"), "--config", bad, NULL);
    sdiff_test_expect_one_error(&r, "gate",
                                "thresholds.max_mismatch: '5' is not a rate (use 0.05 or 5%)");
    sdiff_test_run_dispose(&r);
    r = gate(cand, prim, path_in("bad2.db"), "--max-mismatch", "5", NULL);
    sdiff_test_expect_one_error(&r, "gate", "--max-mismatch: '5' is not a rate (use 0.05 or 5%)");
    sdiff_test_run_dispose(&r);
    r = gate(cand, prim, path_in("bad3.db"), "--max-p99-ratio", "0.5", NULL);
    sdiff_test_expect_one_error(&r, "gate", "--max-p99-ratio: '0.5' is not a ratio");
    sdiff_test_run_dispose(&r);
    char *rep[] = {(char *)sdiff_test_bin(), "report", "--db", (char *)db, "--max-mismatch", "5",
                   NULL};
    r = sdiff_test_run(rep, svc.dir, 30);
    sdiff_test_expect_one_error(&r, "report",
                                "--max-mismatch: '5' is not a rate (use 0.05 or 5%)");
    sdiff_test_run_dispose(&r);
    /* 100%: everything is within a threshold that loose; "5%" is a rate */
    char *rep2[] = {(char *)sdiff_test_bin(), "report", "--db", (char *)db, "--max-mismatch",
                    "5%", "--out", "-", "--format", "json", NULL};
    r = sdiff_test_run(rep2, svc.dir, 30);
    j = parse(&r);
    assert_true(json_real_value(json_object_get(json_object_get(j, "thresholds"),
                                                "max_mismatch")) == 0.05);
    json_decref(j);
    sdiff_test_run_dispose(&r);
}

/* s as XML text (static buffer). */
static const char *xml_escaped(const char *s)
{
    static char out[2048];
    size_t o = 0;
    for (; *s && o + 7 < sizeof out; s++) {
        const char *e = *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '&' ? "&amp;"
                        : *s == '"' ? "&quot;" : *s == '\'' ? "&apos;" : NULL;
        if (e) {
            memcpy(out + o, e, strlen(e));
            o += strlen(e);
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
    return out;
}

static void test_verdict__junit_gives_the_real_reasons(void **state)
{
    (void)state;
    NEED_ROOT();
    const char *db = path_in("junit.db");
    struct sdiff_test_run r = gate(cand, prim, db, "--secondary", sec, "--sample", "100",
                                   "--seed", "9", "--junit", "-", "--format", "json", NULL);
    /* JSON and JUnit both on stdout: the JSON first, then the XML */
    char *xml = strstr(r.out, "<?xml");
    assert_non_null(xml);
    json_error_t je;
    json_t *j = json_loadb(r.out, (size_t)(xml - r.out), 0, &je);
    assert_non_null(j);
    json_t *e;
    size_t i, checked = 0;
    json_array_foreach(json_object_get(j, "endpoints"), i, e)
    {
        const char *first = json_string_value(json_array_get(json_object_get(e, "reasons"), 0));
        if (first == NULL)
            continue;
        assert_non_null(strstr(xml, xml_escaped(first)));
        checked++;
    }
    assert_true(checked > 0);
    assert_null(strstr(xml, "30 needed\""));
    json_t *why;
    json_array_foreach(json_object_get(j, "reasons"), i, why)
        assert_non_null(strstr(xml, xml_escaped(json_string_value(why))));
    json_decref(j);
    sdiff_test_run_dispose(&r);
}

static void test_verdict__learned_noise_reaches_the_gate(void **state)
{
    (void)state;
    NEED_ROOT();
    const char *db = path_in("noise.db");
    /* learn: the service against itself with a secondary */
    struct sdiff_test_run r = gate(self, prim, db, "--secondary", sec, "--sample", "600",
                                   "--seed", "1", NULL);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    sdiff_test_run_dispose(&r);
    assert_true(sdiff_test_db_int(db, "SELECT count(*) FROM noise") > 0);
    /* again without a secondary: the noise in --db still applies */
    r = gate(self, prim, db, "--sample", "600", "--seed", "1", "--format", "json", NULL);
    json_t *j = parse(&r);
    long long with = json_integer_value(json_object_get(json_object_get(j, "totals"),
                                                        "different"));
    json_decref(j);
    sdiff_test_run_dispose(&r);
    /* ... and --no-learned-noise turns it off: the volatile fields differ again */
    r = gate(self, prim, db, "--sample", "600", "--seed", "1", "--format", "json",
             "--no-learned-noise", NULL);
    j = parse(&r);
    long long without = json_integer_value(json_object_get(json_object_get(j, "totals"),
                                                           "different"));
    json_decref(j);
    sdiff_test_run_dispose(&r);
    assert_int_equal(with, 0);
    assert_true(without > 0);
}

static void test_verdict__same_traffic_same_verdict_ten_times(void **state)
{
    (void)state;
    NEED_ROOT();
    char *first = NULL;
    for (int k = 0; k < 10; k++) {
        char name[32];
        snprintf(name, sizeof name, "ten-%d.db", k);
        struct sdiff_test_run r = gate(cand, prim, path_in(name), "--secondary", sec, "--sample",
                                       "300", "--seed", "77", "--format", "json", NULL);
        assert_int_equal(sdiff_test_exit_code(&r), 1);
        json_t *j = parse(&r);
        assert_string_equal(verdict(j), "fail");
        /* the endpoints' verdicts, in order, are the same every time */
        char line[8192] = "";
        json_t *e;
        size_t i;
        json_array_foreach(json_object_get(j, "endpoints"), i, e)
        {
            strncat(line, json_string_value(json_object_get(e, "route")),
                    sizeof line - strlen(line) - 1);
            strncat(line, "=", sizeof line - strlen(line) - 1);
            strncat(line, json_string_value(json_object_get(e, "verdict")),
                    sizeof line - strlen(line) - 1);
            strncat(line, ";", sizeof line - strlen(line) - 1);
        }
        if (first == NULL)
            first = strdup(line);
        else
            assert_string_equal(line, first);
        json_decref(j);
        sdiff_test_run_dispose(&r);
    }
    free(first);
}

static void test_verdict__sigint_interrupts_gate_with_130(void **state)
{
    (void)state;
    NEED_ROOT();
    char *argv[] = {(char *)sdiff_test_bin(), "gate", "--corpus", corpus, "--primary", prim,
                    "--candidate", cand, "--redact-key", keyfile, "--sample", "1000", "--rate",
                    "20", "--db", (char *)path_in("int.db"), NULL};
    int pid = sdiff_test_spawn(argv, NULL, NULL);
    usleep(1500000);
    int st = sdiff_test_stop(pid, SIGINT, 30);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 130);
    /* the run says so */
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE state = 'interrupted'");
    assert_int_equal(sdiff_test_db_int(argv[15], sql), 1);
}

/*
 * SIGINT in a replay with four judges: what was answered is judged and stored, the rest of
 * the corpus is stored as skipped, and no exchange is lost or stored twice.
 */
static void test_verdict__sigint_in_replay_with_four_judges_loses_and_doubles_nothing(void **state)
{
    (void)state;
    NEED_ROOT();
    const char *res = path_in("int4.db");
    char *argv[] = {(char *)sdiff_test_bin(), "replay", "--corpus", corpus, "--candidate", cand,
                    "--redact-key", keyfile, "--rate", "200", "--judges", "4", "--db",
                    (char *)res, NULL};
    int pid = sdiff_test_spawn(argv, NULL, NULL);
    usleep(1500000);
    int st = sdiff_test_stop(pid, SIGINT, 30);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 130);
    long long n = sdiff_test_db_int(corpus, "SELECT count(*) FROM exchanges");
    assert_true(n > 300);
    assert_int_equal(sdiff_test_db_int(res, "SELECT count(*) FROM results"), n);
    assert_int_equal(sdiff_test_db_int(res, "SELECT count(DISTINCT exchange_id) FROM results"), n);
    assert_int_equal(sdiff_test_db_int(res, "SELECT count(*) FROM exchanges"), n);
    /* some were judged before the stop, the rest stopped */
    assert_true(sdiff_test_db_int(res, "SELECT count(*) FROM results WHERE class <> 'skipped'") >
                0);
    assert_true(sdiff_test_db_int(res, "SELECT count(*) FROM results WHERE skip_reason LIKE "
                                       "'run stopped%'") > 0);
    assert_int_equal(sdiff_test_db_int(res, "SELECT count(*) FROM runs WHERE state = "
                                            "'interrupted'"),
                     1);
}

/*
 * A long replay is not silent: on a TTY (script(1) gives it one) a status line is redrawn in
 * place with done/total, rate, differences and an ETA, and ends on the final count.
 */
static void test_verdict__replay_shows_progress_on_a_tty(void **state)
{
    (void)state;
    NEED_ROOT();
    const char *res = path_in("progress.db"), *log = path_in("progress.tty");
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "TERM=xterm script -qec \"'%s' replay --corpus '%s' --candidate '%s' --redact-key "
             "'%s' --rate 1000 --db '%s'\" /dev/null > '%s' 2>&1",
             sdiff_test_bin(), corpus, cand, keyfile, res, log);
    sdiff_test_sh(cmd, 120); /* exit 1: the planted bugs */
    size_t n = 0;
    char *out = (char *)sdiff_test_read_file(log, &n);
    assert_non_null(out);
    /* redrawn in place at least once before the end, with an ETA */
    const char *first = strstr(out, "\rshadowdiff: replay: ");
    assert_non_null(first);
    assert_non_null(strstr(out, ", ETA "));
    /* the last state: everything done, no ETA, then a newline */
    char last[64];
    int64_t total = sdiff_test_db_int(corpus, "SELECT count(*) FROM exchanges");
    snprintf(last, sizeof last, "%lld/%lld (100%%) done", (long long)total, (long long)total);
    assert_non_null(strstr(out, last));
    free(out);
}

/* gate without --db keeps nothing: it says so instead of leaving ids that lead nowhere. */
static void test_verdict__gate_without_db_says_results_were_not_kept(void **state)
{
    (void)state;
    NEED_ROOT();
    char *argv[] = {(char *)sdiff_test_bin(), "gate", "--corpus", corpus, "--primary", prim,
                    "--candidate", cand, "--redact-key", keyfile, "--sample", "200", NULL};
    struct sdiff_test_run r = sdiff_test_run(argv, svc.dir, 180);
    assert_int_equal(sdiff_test_exit_code(&r), 1); /* the planted bugs */
    assert_non_null(strstr(r.err, "shadowdiff: gate: results were not kept: use --db FILE to "
                                  "inspect or accept these clusters\n"));
    sdiff_test_run_dispose(&r);
}

/* A replay refused at its redaction-key check never hides the previous run's verdict. */
static void test_verdict__a_failed_run_is_never_the_default(void **state)
{
    (void)state;
    NEED_ROOT();
    const char *res = path_in("failed-default.db"), *other = path_in("other.key");
    char *rp[] = {(char *)sdiff_test_bin(), "replay", "--corpus", corpus, "--candidate", cand,
                  "--redact-key", keyfile, "--db", (char *)res, NULL};
    struct sdiff_test_run r = sdiff_test_run(rp, svc.dir, 120);
    assert_int_equal(sdiff_test_exit_code(&r), 1); /* the planted bugs */
    sdiff_test_run_dispose(&r);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "head -c 32 /dev/urandom > '%s' && chmod 600 '%s'", other, other);
    assert_int_equal(sdiff_test_sh(cmd, 10), 0);
    char *bad[] = {(char *)sdiff_test_bin(), "replay", "--corpus", corpus, "--candidate", cand,
                   "--redact-key", (char *)other, "--db", (char *)res, NULL};
    r = sdiff_test_run(bad, svc.dir, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    sdiff_test_run_dispose(&r);
    char *rep[] = {(char *)sdiff_test_bin(), "report", "--db", (char *)res, "--format", "json",
                   NULL};
    r = sdiff_test_run(rep, svc.dir, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    json_t *j = parse(&r);
    assert_string_equal(verdict(j), "fail");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "run"), "id")), 1);
    json_decref(j);
    sdiff_test_run_dispose(&r);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdict__dead_candidate_fails),
        cmocka_unit_test(test_verdict__dead_primary_is_an_error_naming_it),
        cmocka_unit_test(test_verdict__empty_corpus_is_inconclusive),
        cmocka_unit_test(test_verdict__wrong_port_says_what_it_saw),
        cmocka_unit_test(test_verdict__small_sample_disaster_fails),
        cmocka_unit_test(test_verdict__perfect_candidate_passes_with_1000),
        cmocka_unit_test(test_verdict__plan_is_a_hard_cap_and_repeats),
        cmocka_unit_test(test_verdict__gate_honours_config_waivers_and_thresholds),
        cmocka_unit_test(test_verdict__junit_gives_the_real_reasons),
        cmocka_unit_test(test_verdict__learned_noise_reaches_the_gate),
        cmocka_unit_test(test_verdict__same_traffic_same_verdict_ten_times),
        cmocka_unit_test(test_verdict__sigint_interrupts_gate_with_130),
        cmocka_unit_test(test_verdict__sigint_in_replay_with_four_judges_loses_and_doubles_nothing),
        cmocka_unit_test(test_verdict__a_failed_run_is_never_the_default),
        cmocka_unit_test(test_verdict__replay_shows_progress_on_a_tty),
        cmocka_unit_test(test_verdict__gate_without_db_says_results_were_not_kept),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
