/*
 * it_replay_services.c - the migration end to end: the legacy Flask service (primary and
 * secondary) and its Go port from fixtures/services, real keep-alive traffic captured on lo,
 * then `shadowdiff replay`. Every planted bug must be `different` on its route, every
 * harmless difference `identical` or `equivalent`, every request accounted for, and the
 * candidate must receive no POST.
 */
#include "sdiff_test.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char fixtures[4096], dir[4096];
static int legacy, secondary, candidate;

static struct sdiff_test_services svc;

static int setup(void **state)
{
    (void)state;
    if (sdiff_test_services_start(&svc) != 0)
        return -1;
    snprintf(fixtures, sizeof fixtures, "%s", svc.fixtures);
    snprintf(dir, sizeof dir, "%s", svc.dir);
    legacy = svc.legacy;
    secondary = svc.secondary;
    candidate = svc.candidate;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sdiff_test_kill_all();
    sdiff_test_services_stop(&svc);
    return 0;
}

static sqlite3_int64 count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        fail_msg("bad query %s: %s", sql, sqlite3_errmsg(db));
    sqlite3_int64 n = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_finalize(q);
    return n;
}

static void expect_route(sqlite3 *db, const char *route, const char *cls, int want_some)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM results WHERE route = '%s' AND class = '%s'",
             route, cls);
    sqlite3_int64 n = count(db, sql);
    if (want_some ? n == 0 : n != 0)
        fail_msg("route %s: %lld exchanges %s, expected %s", route, (long long)n, cls,
                 want_some ? "some" : "none");
}

static void test_replay_services__planted_bugs_are_found_and_noise_is_not(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char db[4200], results[4200], errf[4200], port[16], cmd[20000];
    snprintf(db, sizeof db, "%s/corpus.db", dir);
    snprintf(results, sizeof results, "%s/results.db", dir);
    snprintf(errf, sizeof errf, "%s/capture.err", dir);
    snprintf(port, sizeof port, "%d", legacy);

    char *cap_argv[] = {(char *)sdiff_test_bin(), "capture", "--interface", "lo", "--port", port,
                        "--buffer-size", "256M", "--out", db, NULL};
    int cap = sdiff_test_spawn(cap_argv, NULL, errf);
    assert_int_equal(sdiff_test_wait_file_contains(errf, "listening on lo", 10), 0);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 '%s/services/drive.py' --port %d --requests 1500 --seed 7 --seconds 2 "
             "--out '%s/drive.jsonl' >'%s/drive.log' 2>&1",
             fixtures, legacy, dir, dir);
    assert_int_equal(sdiff_test_sh(cmd, 120), 0);
    usleep(500000);
    int st = sdiff_test_stop(cap, SIGINT, 10);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    snprintf(cmd, sizeof cmd, "curl -s -X POST http://127.0.0.1:%d/__stats/reset >/dev/null",
             candidate);
    assert_int_equal(sdiff_test_sh(cmd, 10), 0);
    char cand[64], sec[64];
    snprintf(cand, sizeof cand, "http://127.0.0.1:%d", candidate);
    snprintf(sec, sizeof sec, "http://127.0.0.1:%d", secondary);
    char *rep_argv[] = {(char *)sdiff_test_bin(), "replay", "--corpus", db, "--candidate", cand,
                        "--secondary", sec, "--db", results, "--concurrency", "8", NULL};
    st = sdiff_test_wait(sdiff_test_spawn(rep_argv, NULL, NULL), 120);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1); /* there are planted bugs */

    sqlite3 *h;
    assert_int_equal(sqlite3_open(results, &h), SQLITE_OK);
    /* every request driven is an exchange, and every exchange has a result; when the kernel
     * dropped packets (a loaded machine), the loss must be reported, never silent */
    size_t elen;
    char *etext = (char *)sdiff_test_read_file(errf, &elen);
    char *kd = strstr(etext, "kernel drops ");
    assert_non_null(kd);
    long kernel_drops = atol(kd + strlen("kernel drops "));
    sqlite3_int64 ex = count(h, "SELECT count(*) FROM exchanges");
    if (kernel_drops == 0) {
        assert_int_equal(ex, 1500);
        assert_int_equal(count(h, "SELECT count(*) FROM exchanges WHERE state <> 'complete'"), 0);
    } else {
        fprintf(stderr, "note: %ld kernel drops, %lld exchanges\n", kernel_drops, (long long)ex);
        assert_true(ex > 1000 && ex <= 1500);
        assert_null(strstr(etext, " 0 gaps ("));
    }
    free(etext);
    assert_int_equal(count(h, "SELECT count(*) FROM results"), ex);
    /* planted bugs */
    expect_route(h, "GET /api/users/{id}", "different", 1);
    expect_route(h, "GET /api/products/{id}/price", "different", 1);
    expect_route(h, "GET /api/search", "different", 1);
    expect_route(h, "GET /api/leaderboard", "different", 1);
    expect_route(h, "GET /api/ledger/{id}", "different", 1);
    assert_true(count(h, "SELECT count(*) FROM differences d JOIN results r ON r.id = d.result_id"
                         " WHERE r.route = 'GET /api/users/{id}' AND d.path = '$.middle_name'"
                         " AND d.kind = 'missing'") > 0);
    assert_true(count(h, "SELECT count(*) FROM differences d JOIN results r ON r.id = d.result_id"
                         " WHERE r.route = 'GET /api/search' AND d.path = 'status'") > 0);
    /* harmless differences */
    const char *harmless[] = {"GET /api/products/{id}", "GET /api/products/{id}/reviews",
                              "GET /api/report", "GET /api/products", "GET /api/health",
                              "GET /api/users"};
    for (size_t i = 0; i < sizeof harmless / sizeof harmless[0]; i++) {
        expect_route(h, harmless[i], "different", 0);
        expect_route(h, harmless[i], "error", 0);
    }
    assert_true(count(h, "SELECT count(*) FROM noise WHERE route = 'GET /api/report'") >= 2);
    /* unsafe methods were skipped with a reason, and the candidate saw none */
    assert_true(count(h, "SELECT count(*) FROM results WHERE method = 'POST'") > 0);
    assert_int_equal(count(h, "SELECT count(*) FROM results WHERE method = 'POST' AND"
                              " (class <> 'skipped' OR skip_reason NOT LIKE 'unsafe method%')"),
                     0);
    sqlite3_close(h);
    snprintf(cmd, sizeof cmd,
             "curl -s http://127.0.0.1:%d/__stats | /usr/bin/python3 -c 'import json,sys; "
             "s=json.load(sys.stdin); m=s.get(\"methods\", s.get(\"by_method\", {})); "
             "sys.exit(1 if m.get(\"POST\", 0) or not m.get(\"GET\", 0) else 0)'",
             candidate);
    assert_int_equal(sdiff_test_sh(cmd, 10), 0);
}

/*
 * Results do not depend on how many threads judge: the corpus of the first test replayed with
 * --judges 1 and with --judges 4 (noise learned from the secondary in both) gives the same
 * report, once what differs between any two runs is left out: run ids and times, latencies,
 * and which exchanges serve as a cluster's examples (stored order follows the answers).
 */
static int replay_with_judges(const char *judges, const char *results, const char *report)
{
    char corpus[4200], cand[64], sec[64];
    snprintf(corpus, sizeof corpus, "%s/corpus.db", dir);
    snprintf(cand, sizeof cand, "http://127.0.0.1:%d", candidate);
    snprintf(sec, sizeof sec, "http://127.0.0.1:%d", secondary);
    char *rep_argv[] = {(char *)sdiff_test_bin(), "replay", "--corpus", corpus, "--candidate", cand,
                        "--secondary", sec, "--db", (char *)results, "--concurrency", "8",
                        "--judges", (char *)judges, NULL};
    int st = sdiff_test_wait(sdiff_test_spawn(rep_argv, NULL, NULL), 120);
    if (!WIFEXITED(st))
        return -1;
    char *rpt_argv[] = {(char *)sdiff_test_bin(), "report", "--db", (char *)results, "--format",
                        "json", NULL};
    int rst = sdiff_test_wait(sdiff_test_spawn(rpt_argv, report, NULL), 60);
    return WIFEXITED(rst) ? WEXITSTATUS(st) : -1;
}

static void test_replay_services__one_judge_or_four_give_one_report(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char r1[4200], r4[4200], j1[4200], j4[4200], cmd[20000];
    snprintf(r1, sizeof r1, "%s/judges1.db", dir);
    snprintf(r4, sizeof r4, "%s/judges4.db", dir);
    snprintf(j1, sizeof j1, "%s/judges1.json", dir);
    snprintf(j4, sizeof j4, "%s/judges4.json", dir);
    int e1 = replay_with_judges("1", r1, j1), e4 = replay_with_judges("4", r4, j4);
    assert_int_equal(e1, 1); /* planted bugs */
    assert_int_equal(e4, 1);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c '\n"
             "import json, sys\n"
             "DROP = {\"id\", \"started_at\", \"finished_at\", \"latency\", \"examples\", \"sample\"}\n"
             "def norm(x):\n"
             "    if isinstance(x, dict):\n"
             "        return {k: norm(v) for k, v in x.items() if k not in DROP}\n"
             "    if isinstance(x, list):\n"
             "        return [norm(v) for v in x if not (isinstance(v, str) and \"p99\" in v)]\n"
             "    return x\n"
             "a, b = (norm(json.load(open(f))) for f in sys.argv[1:3])\n"
             "assert a[\"totals\"][\"judged\"] > 1000, a[\"totals\"]\n"
             "if a != b:\n"
             "    for k in a:\n"
             "        if a[k] != b.get(k): print(k, json.dumps(a[k])[:2000], json.dumps(b.get(k))[:2000], file=sys.stderr)\n"
             "    sys.exit(1)\n"
             "' '%s' '%s'",
             j1, j4);
    assert_int_equal(sdiff_test_sh(cmd, 30), 0);
}

/*
 * Without a second instance the old service's own repeated answers teach the noise: the
 * planted bugs are found all the same and no harmless route is different, its first
 * answers (judged before the evidence was in) included.
 */
static void test_replay_services__noise_learned_without_a_secondary(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char db[4200], results[4200], cand[64];
    snprintf(db, sizeof db, "%s/corpus.db", dir);
    snprintf(results, sizeof results, "%s/results-nosec.db", dir);
    snprintf(cand, sizeof cand, "http://127.0.0.1:%d", candidate);
    char *rep_argv[] = {(char *)sdiff_test_bin(), "replay", "--corpus", db, "--candidate", cand,
                        "--db", results, "--concurrency", "8", NULL};
    int st = sdiff_test_wait(sdiff_test_spawn(rep_argv, NULL, NULL), 120);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    sqlite3 *h;
    /* capture learned it first, from the same repeated answers, into the corpus */
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_true(count(h, "SELECT count(*) FROM noise WHERE route = 'GET /api/report' AND"
                         " source = 'repeat' AND run_id IS NULL") >= 2);
    sqlite3_close(h);
    assert_int_equal(sqlite3_open(results, &h), SQLITE_OK);
    expect_route(h, "GET /api/users/{id}", "different", 1);
    expect_route(h, "GET /api/products/{id}/price", "different", 1);
    expect_route(h, "GET /api/search", "different", 1);
    expect_route(h, "GET /api/leaderboard", "different", 1);
    expect_route(h, "GET /api/ledger/{id}", "different", 1);
    const char *harmless[] = {"GET /api/products/{id}", "GET /api/products/{id}/reviews",
                              "GET /api/report", "GET /api/products", "GET /api/health",
                              "GET /api/users"};
    for (size_t i = 0; i < sizeof harmless / sizeof harmless[0]; i++)
        expect_route(h, harmless[i], "different", 0);
    /* learned from repeats, with its evidence */
    assert_true(count(h, "SELECT count(*) FROM noise WHERE route = 'GET /api/report' AND"
                         " source = 'repeat' AND pairs >= 3 AND clients >= 3 AND"
                         " confidence > 0") >= 2);
    /* the middle_name bug is a field the old service never varies on: still different */
    assert_int_equal(count(h, "SELECT count(*) FROM noise WHERE key = '$.middle_name'"), 0);
    long long report_id = count(h, "SELECT min(id) FROM results WHERE route = 'GET /api/report'");
    sqlite3_close(h);
    /* report and inspect say what was learned, from what */
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "'%s' report --db '%s' --format json | /usr/bin/python3 -c 'import json,sys; "
             "n=json.load(sys.stdin)[\"noise\"]; sys.exit(0 if any(x[\"route\"]==\"GET /api/report\""
             " and x[\"source\"]==\"repeat\" and x[\"pairs\"]>=3 and x[\"clients\"]>=3 and "
             "len(x[\"examples\"])>0 for x in n) else 1)'",
             sdiff_test_bin(), results);
    assert_int_equal(sdiff_test_sh(cmd, 60), 0);
    char id[32];
    snprintf(id, sizeof id, "%lld", report_id);
    char *ins[] = {(char *)sdiff_test_bin(), "inspect", "--db", results, id, NULL};
    struct sdiff_test_run r = sdiff_test_run(ins, dir, 60);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    assert_non_null(strstr(r.out, "== learned noise of this route (ignored) ==\n"));
    assert_non_null(strstr(r.out, "repeat: "));
    sdiff_test_run_dispose(&r);
}

/* Runs `shadowdiff gate` on the corpus of the first test; returns its exit code. */
static int gate(const char *candidate_url, const char *db, const char *seed)
{
    char corpus[4200], prim[64], sec[64];
    snprintf(corpus, sizeof corpus, "%s/corpus.db", dir);
    snprintf(prim, sizeof prim, "http://127.0.0.1:%d", legacy);
    snprintf(sec, sizeof sec, "http://127.0.0.1:%d", secondary);
    char *argv[] = {(char *)sdiff_test_bin(), "gate", "--corpus", corpus, "--primary", prim,
                    "--candidate", (char *)candidate_url, "--secondary", sec, "--sample", "400",
                    "--seed", (char *)seed, "--db", (char *)db, NULL};
    int st = sdiff_test_wait(sdiff_test_spawn(argv, NULL, NULL), 120);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_replay_services__gate_passes_self_parity_and_fails_planted_bugs(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char self_url[64], cand_url[64], a[4200], b[4200], c[4200];
    snprintf(self_url, sizeof self_url, "http://127.0.0.1:%d", legacy);
    snprintf(cand_url, sizeof cand_url, "http://127.0.0.1:%d", candidate);
    snprintf(a, sizeof a, "%s/gate-self.db", dir);
    snprintf(b, sizeof b, "%s/gate-cand.db", dir);
    snprintf(c, sizeof c, "%s/gate-cand2.db", dir);
    /* the old service against itself (noise learned from the secondary) passes */
    assert_int_equal(gate(self_url, a, "7"), 0);
    /* the Go port fails on its planted bugs */
    assert_int_equal(gate(cand_url, b, "7"), 1);
    /* the same seed samples the same exchanges; every sampled route has samples */
    assert_int_equal(gate(cand_url, c, "7"), 1);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(b, &h), SQLITE_OK);
    char sql[9000];
    snprintf(sql, sizeof sql, "ATTACH '%s' AS other", c);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(count(h, "SELECT count(*) FROM results"), 400);
    assert_int_equal(count(h, "SELECT count(*) FROM (SELECT method, target, t_req_start FROM"
                              " results EXCEPT SELECT method, target, t_req_start FROM"
                              " other.results)"),
                     0);
    sqlite3_close(h);
    assert_int_equal(sqlite3_open(a, &h), SQLITE_OK);
    snprintf(sql, sizeof sql, "ATTACH '%s/results.db' AS full", dir);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    /* stratified: every route with a replayable exchange in the corpus (as the full replay of
     * the first test saw them) got samples */
    assert_true(count(h, "SELECT count(DISTINCT route) FROM results") > 5);
    assert_int_equal(count(h, "SELECT count(*) FROM (SELECT DISTINCT route FROM full.results"
                              " WHERE method IN ('GET', 'HEAD', 'OPTIONS') EXCEPT"
                              " SELECT DISTINCT route FROM results)"),
                     0);
    assert_int_equal(count(h, "SELECT count(*) FROM results WHERE method NOT IN"
                              " ('GET', 'HEAD', 'OPTIONS')"),
                     0);
    sqlite3_close(h);
}

/* Saves one raw answer (status line, headers, body as framed) of a fixture service. */
static void fetch_raw(int port, const char *target, const char *accept, const char *file)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "curl -s --raw -i -H 'X-Shadowdiff: 1' -H 'Accept-Encoding: %s'"
             " 'http://127.0.0.1:%d%s' >'%s/%s'",
             accept, port, target, dir, file);
    assert_int_equal(sdiff_test_sh(cmd, 10), 0);
}

static void test_replay_services__br_from_flask_equals_gzip_or_identity_from_go(void **state)
{
    (void)state;
    /* Flask answers br (python3-brotli); Go's standard library has no br encoder, so the port
     * answers gzip or identity: the same JSON, only its content coding differs */
    const char *cases[][2] = {{"/api/products?limit=1000", "br"},
                              {"/api/products?limit=5", "gzip, deflate, br"},
                              {"/api/products?limit=3", "br;q=1.0, gzip;q=0.5"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fetch_raw(legacy, cases[i][0], cases[i][1], "br-p.http");
        fetch_raw(candidate, cases[i][0], cases[i][1], "br-c.http");
        char p[4200], c[4200];
        snprintf(p, sizeof p, "%s/br-p.http", dir);
        snprintf(c, sizeof c, "%s/br-c.http", dir);
        size_t n;
        char *raw = (char *)sdiff_test_read_file(p, &n);
        assert_non_null(strstr(raw, "Content-Encoding: br\r\n"));
        free(raw);
        char *argv[] = {(char *)sdiff_test_bin(), "diff", p, c, "--format", "json", NULL};
        struct sdiff_test_run r = sdiff_test_run(argv, dir, 30);
        if (sdiff_test_exit_code(&r) != 0 || strstr(r.out, "\"class\": \"equivalent\"") == NULL ||
            strstr(r.out, "\"content_encoding\"") == NULL)
            fail_msg("%s (%s): %s%s", cases[i][0], cases[i][1], r.out, r.err);
        sdiff_test_run_dispose(&r);
    }
}

/* Each row of --preset python-go has a route in both services (fixtures/services/README.md):
 * with the preset the time row is equivalent and every other row different with its hint;
 * without it every row is different and hintless. */
static void test_replay_services__python_go_preset_row_by_row(void **state)
{
    (void)state;
    static const char *const rows[][3] = {
        {"/api/port/time", "equivalent", "time_spelling"},
        {"/api/port/tags", "different", "a nil slice"},
        {"/api/port/nickname", "different", "omitempty"},
        {"/api/port/slash", "different", "trailing-slash redirect"},
        {"/api/port/plain", "different", "default Content-Type"},
        {"/api/port/validate", "different", "validation error status"},
        {"/api/port/bigint", "different", "above 2^53"},
        {"/api/port/decimal", "different", "a Decimal"},
        {"/api/port/naive", "different", "a naive local time"},
        {"/api/port/truncated", "different", "fractional seconds truncated"},
    };
    char p[4200], c[4200], want[128];
    snprintf(p, sizeof p, "%s/port-p.http", dir);
    snprintf(c, sizeof c, "%s/port-c.http", dir);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fetch_raw(legacy, rows[i][0], "identity", "port-p.http");
        fetch_raw(candidate, rows[i][0], "identity", "port-c.http");
        char *with[] = {(char *)sdiff_test_bin(), "diff", p, c, "--preset", "python-go",
                        "--format", "json", NULL};
        struct sdiff_test_run r = sdiff_test_run(with, dir, 30);
        snprintf(want, sizeof want, "\"class\": \"%s\"", rows[i][1]);
        if (strstr(r.out, want) == NULL || strstr(r.out, rows[i][2]) == NULL ||
            sdiff_test_exit_code(&r) != (strcmp(rows[i][1], "different") == 0))
            fail_msg("%s with the preset: %s%s", rows[i][0], r.out, r.err);
        sdiff_test_run_dispose(&r);
        char *without[] = {(char *)sdiff_test_bin(), "diff", p, c, "--format", "json", NULL};
        r = sdiff_test_run(without, dir, 30);
        if (strstr(r.out, "\"class\": \"different\"") == NULL || strstr(r.out, "\"hint\"") ||
            sdiff_test_exit_code(&r) != 1)
            fail_msg("%s without the preset: %s%s", rows[i][0], r.out, r.err);
        sdiff_test_run_dispose(&r);
    }
}

/* A replay with --preset python-go records its preset with the run: report's clusters and
 * inspect's differences name the same hints as the comparison did. */
static void test_replay_services__preset_hints_reach_report_and_inspect(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    static const char *const rows[] = {"time", "tags", "nickname", "slash", "plain",
                                       "validate", "bigint", "decimal", "naive", "truncated"};
    char db[4200], results[4200], errf[4200], port[16], cmd[9000], cand[64], id[32];
    snprintf(db, sizeof db, "%s/port-corpus.db", dir);
    snprintf(results, sizeof results, "%s/port-results.db", dir);
    snprintf(errf, sizeof errf, "%s/port-capture.err", dir);
    snprintf(port, sizeof port, "%d", legacy);
    snprintf(cand, sizeof cand, "http://127.0.0.1:%d", candidate);
    char *cap_argv[] = {(char *)sdiff_test_bin(), "capture", "--interface", "lo", "--port", port,
                        "--out", db, NULL};
    int cap = sdiff_test_spawn(cap_argv, NULL, errf);
    assert_int_equal(sdiff_test_wait_file_contains(errf, "listening on lo", 10), 0);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        snprintf(cmd, sizeof cmd, "curl -s -o /dev/null http://127.0.0.1:%d/api/port/%s", legacy,
                 rows[i]);
        assert_int_equal(sdiff_test_sh(cmd, 10), 0);
    }
    usleep(500000);
    int st = sdiff_test_stop(cap, SIGINT, 10);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char *rep_argv[] = {(char *)sdiff_test_bin(), "replay", "--corpus", db, "--candidate", cand,
                        "--db", results, "--preset", "python-go", NULL};
    st = sdiff_test_wait(sdiff_test_spawn(rep_argv, NULL, NULL), 120);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    assert_int_equal(sdiff_test_db_int(results, "SELECT count(*) FROM results WHERE class ="
                                                " 'equivalent' AND target = '/api/port/time'"),
                     1);
    assert_int_equal(sdiff_test_db_int(results, "SELECT count(*) FROM results WHERE class ="
                                                " 'different' AND target LIKE '/api/port/%'"),
                     9);
    char *report_argv[] = {(char *)sdiff_test_bin(), "report", "--db", results, "--format",
                           "json", NULL};
    struct sdiff_test_run r = sdiff_test_run(report_argv, dir, 60);
    /* one hint per cluster: naive and truncated share "$.at changed" (the report merges the
     * ten /api/port/ siblings into one endpoint), and its sample is whichever was stored
     * first; inspect below shows each */
    static const char *const hints[] = {"a nil slice", "omitempty", "trailing-slash redirect",
                                        "default Content-Type", "validation error status",
                                        "above 2^53", "a Decimal"};
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
        if (strstr(r.out, hints[i]) == NULL)
            fail_msg("report has no hint \"%s\": %s", hints[i], r.out);
    if (strstr(r.out, "a naive local time") == NULL &&
        strstr(r.out, "fractional seconds truncated") == NULL)
        fail_msg("report has no hint for \"$.at changed\": %s", r.out);
    sdiff_test_run_dispose(&r);
    static const char *const inspected[][2] = {{"tags", "hint: a nil slice"},
                                               {"naive", "hint: a naive local time"},
                                               {"truncated", "hint: fractional seconds"}};
    for (size_t i = 0; i < 3; i++) {
        char sql[200];
        snprintf(sql, sizeof sql, "SELECT id FROM results WHERE target = '/api/port/%s'",
                 inspected[i][0]);
        snprintf(id, sizeof id, "%lld", sdiff_test_db_int(results, sql));
        char *inspect_argv[] = {(char *)sdiff_test_bin(), "inspect", "--db", results, id, NULL};
        r = sdiff_test_run(inspect_argv, dir, 30);
        if (sdiff_test_exit_code(&r) != 0 || strstr(r.out, inspected[i][1]) == NULL)
            fail_msg("inspect %s: %s%s", id, r.out, r.err);
        sdiff_test_run_dispose(&r);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_services__planted_bugs_are_found_and_noise_is_not),
        cmocka_unit_test(test_replay_services__one_judge_or_four_give_one_report),
        cmocka_unit_test(test_replay_services__noise_learned_without_a_secondary),
        cmocka_unit_test(test_replay_services__gate_passes_self_parity_and_fails_planted_bugs),
        cmocka_unit_test(test_replay_services__br_from_flask_equals_gzip_or_identity_from_go),
        cmocka_unit_test(test_replay_services__python_go_preset_row_by_row),
        cmocka_unit_test(test_replay_services__preset_hints_reach_report_and_inspect),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
