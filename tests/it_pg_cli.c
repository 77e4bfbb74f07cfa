/*
 * it_pg_cli.c - `--db postgres://...` through the command line: replay a fixture corpus into
 * PostgreSQL and into a SQLite file, and `report` on both says the same (ids, times and
 * latencies aside); inspect, runs and accept read and write the PostgreSQL run; a bare
 * postgresql:// takes its connection from PG* variables, which never turn a path into
 * PostgreSQL; the password never shows in stderr or JSON; a stopped server is one line,
 * "connection refused", exit 2. mirror (two instances of one run) and gate write it too.
 * `merge` exports the PostgreSQL run into a file whose report
 * is the same byte for byte, gathers per-instance files of one named run into one run, adds
 * nothing twice, and refuses a store hashed with another redaction key.
 */
#include "sdiff_test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct sdiff_test_pg pg;
static char dir[4096], tools[4096], corpus[4200], cand[64], url[4400];
static int server_pid;

static struct sdiff_test_run run_cmd(char *const argv[])
{
    return sdiff_test_run(argv, dir, 120);
}

/* The report's JSON without what two replays of one corpus may not share: times, latencies,
 * the result ids of examples (answers come back in any order), the marker, and reasons
 * about latency (a loaded machine may slow one replay down). */
static int same_report(const char *a, const char *b)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 - '%s' '%s' 2>'%s/report.diff' <<'EOF'\n"
             "import json, re, sys\n"
             "DROP = re.compile(r'^(started_at|finished_at|last_activity|latency|examples|"
             ".*_ms|p\\d+.*|marker.*)$')\n"
             "def n(v):\n"
             "    if isinstance(v, dict):\n"
             "        return {k: n(x) for k, x in v.items() if not DROP.match(k)}\n"
             "    if isinstance(v, list):\n"
             "        return [n(x) for x in v if not (isinstance(x, str) and 'latency' in x)]\n"
             "    return v\n"
             "a = n(json.load(open(sys.argv[1])))\n"
             "b = n(json.load(open(sys.argv[2])))\n"
             "if a != b:\n"
             "    import difflib\n"
             "    d = difflib.unified_diff(json.dumps(a, indent=1, sort_keys=True).split('\\n'),\n"
             "                             json.dumps(b, indent=1, sort_keys=True).split('\\n'))\n"
             "    sys.stderr.write('\\n'.join(list(d)[:40]) + '\\n')\n"
             "sys.exit(0 if a == b else 1)\n"
             "EOF\n",
             a, b, dir);
    if (sdiff_test_sh(cmd, 60) == 0)
        return 1;
    char path[4200];
    size_t n;
    snprintf(path, sizeof path, "%s/report.diff", dir);
    char *diff = (char *)sdiff_test_read_file(path, &n);
    fprintf(stderr, "%s", diff);
    free(diff);
    return 0;
}

static void write_file(const char *path, const char *s, size_t n)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(s, 1, n, f), n);
    fclose(f);
}

static void test_pg_cli__replay_and_report_on_postgres_equal_sqlite(void **state)
{
    (void)state;
    char *bin = (char *)sdiff_test_bin();
    char lite[4200], a[4200], b[4200];
    snprintf(lite, sizeof lite, "%s/lite.db", dir);
    char *rl[] = {bin, "replay", "--corpus", corpus, "--candidate", cand, "--db", lite,
                  "--run", "pg-run", NULL};
    char *rp[] = {bin, "replay", "--corpus", corpus, "--candidate", cand, "--db", url,
                  "--run", "pg-run", NULL};
    struct sdiff_test_run r = run_cmd(rl);
    assert_int_equal(sdiff_test_exit_code(&r), 1); /* the candidate answers 404 */
    sdiff_test_run_dispose(&r);
    r = run_cmd(rp);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    assert_null(strstr(r.err, "s3cret"));
    sdiff_test_run_dispose(&r);

    char *jl[] = {bin, "report", "--db", lite, "--format", "json", NULL};
    char *jp[] = {bin, "report", "--db", url, "--run", "pg-run", "--format", "json", NULL};
    r = run_cmd(jl);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    snprintf(a, sizeof a, "%s/lite.json", dir);
    write_file(a, r.out, r.out_len);
    sdiff_test_run_dispose(&r);
    r = run_cmd(jp);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    assert_null(strstr(r.out, "s3cret"));
    assert_null(strstr(r.err, "s3cret"));
    assert_non_null(strstr(r.out, "\"different\": 375"));
    snprintf(b, sizeof b, "%s/pg.json", dir);
    write_file(b, r.out, r.out_len);
    sdiff_test_run_dispose(&r);
    assert_true(same_report(a, b));

    /* text report, inspect and runs read the same run */
    char *tp[] = {bin, "report", "--db", url, NULL};
    r = run_cmd(tp);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    assert_non_null(strstr(r.out, "GET /api/health"));
    sdiff_test_run_dispose(&r);
    char *ip[] = {bin, "inspect", "--db", url, "2", NULL};
    r = run_cmd(ip);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    assert_non_null(strstr(r.out, "result 2 (run 1)"));
    sdiff_test_run_dispose(&r);
    char *lp[] = {bin, "runs", "--db", url, "--format", "json", NULL};
    r = run_cmd(lp);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    assert_non_null(strstr(r.out, "\"name\": \"pg-run\""));
    assert_non_null(strstr(r.out, ":***@127.0.0.1"));
    assert_null(strstr(r.out, "s3cret"));
    sdiff_test_run_dispose(&r);

    /* accept a cluster of the PostgreSQL run: the next report counts it accepted */
    size_t n;
    char *pgjson = (char *)sdiff_test_read_file(b, &n);
    char *cid = strstr(pgjson, "\"clusters\"");
    assert_non_null(cid);
    cid = strstr(cid, "\"id\": \"");
    assert_non_null(cid);
    char cluster[13];
    memcpy(cluster, cid + 7, 12);
    cluster[12] = '\0';
    free(pgjson);
    char *ap[] = {bin, "accept", "--db", url, cluster, "--reason", "known 404", NULL};
    r = run_cmd(ap);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    sdiff_test_run_dispose(&r);
    r = run_cmd(jp);
    assert_non_null(strstr(r.out, "\"accepted\": true"));
    sdiff_test_run_dispose(&r);
}

/* mirror (two instances of one named run) and gate write PostgreSQL like a file */
static void test_pg_cli__mirror_and_gate_write_postgres(void **state)
{
    (void)state;
    char *bin = (char *)sdiff_test_bin();
    char *pcap = (char *)sdiff_test_fixture_path("pcap/interleaved_many.pcap");
    char *mi[] = {bin, "mirror", "--pcap", pcap, "--port", "8080", "--candidate", cand,
                  "--db", url, "--run", "mirrored", NULL};
    for (int i = 0; i < 2; i++) {
        struct sdiff_test_run r = run_cmd(mi);
        assert_int_equal(sdiff_test_exit_code(&r), 0);
        assert_null(strstr(r.err, "s3cret"));
        if (i == 1)
            assert_non_null(strstr(r.err, "appending to run mirrored"));
        sdiff_test_run_dispose(&r);
    }
    char *rep[] = {bin, "report", "--db", url, "--run", "mirrored", "--format", "json", NULL};
    struct sdiff_test_run r = run_cmd(rep);
    /* pass or fail: the cluster accepted earlier in this database may be this one's */
    assert_true(sdiff_test_exit_code(&r) == 0 || sdiff_test_exit_code(&r) == 1);
    assert_non_null(strstr(r.out, "\"samples\": 1222")); /* 611 exchanges, twice */
    sdiff_test_run_dispose(&r);

    /* gate: the candidate is also the primary, so every answer is identical */
    char *ga[] = {bin, "gate", "--corpus", corpus, "--primary", cand, "--candidate", cand,
                  "--db", url, "--run", "gated", "--format", "json", NULL};
    r = run_cmd(ga);
    int code = sdiff_test_exit_code(&r);
    assert_true(code == 0 || code == 3);
    assert_non_null(strstr(r.out, "\"identical\": 375"));
    assert_null(strstr(r.err, "s3cret"));
    sdiff_test_run_dispose(&r);
    char *runs[] = {bin, "runs", "--db", url, NULL};
    r = run_cmd(runs);
    assert_non_null(strstr(r.out, "gated"));
    assert_non_null(strstr(r.out, "mirrored"));
    sdiff_test_run_dispose(&r);
}

static void test_pg_cli__bare_scheme_takes_pg_variables_and_they_never_select_it(void **state)
{
    (void)state;
    char *bin = (char *)sdiff_test_bin();
    char port[16], lite[4200];
    snprintf(port, sizeof port, "%d", pg.port);
    snprintf(lite, sizeof lite, "%s/env.db", dir);
    setenv("PGHOST", pg.dir, 1);
    setenv("PGPORT", port, 1);
    setenv("PGUSER", "postgres", 1);
    setenv("PGDATABASE", "shadowdiff", 1);
    char *rp[] = {bin, "report", "--db", "postgresql://", "--run", "pg-run", "--format", "json",
                  NULL};
    struct sdiff_test_run r = run_cmd(rp);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    assert_non_null(strstr(r.out, "\"name\": \"pg-run\""));
    sdiff_test_run_dispose(&r);
    /* a value without a scheme is a SQLite path, whatever PG* says */
    char *rl[] = {bin, "replay", "--corpus", corpus, "--candidate", cand, "--db", lite, NULL};
    r = run_cmd(rl);
    assert_int_equal(sdiff_test_exit_code(&r), 1);
    sdiff_test_run_dispose(&r);
    assert_int_equal(sdiff_test_db_int(lite, "SELECT count(*) FROM results"), 614);
    unsetenv("PGHOST");
    unsetenv("PGPORT");
    unsetenv("PGUSER");
    unsetenv("PGDATABASE");
}

static void test_pg_cli__a_stopped_server_is_one_line_and_exit_2(void **state)
{
    (void)state;
    char *bin = (char *)sdiff_test_bin();
    /* doctor checks the store as its first writer will: it answers, with its schema */
    char *doc[] = {bin, "doctor", "--db", url, NULL};
    struct sdiff_test_run d = run_cmd(doc);
    assert_int_equal(sdiff_test_exit_code(&d), 0);
    assert_non_null(strstr(d.out, "answers and holds schema 3"));
    assert_null(strstr(d.out, "s3cret"));
    sdiff_test_run_dispose(&d);
    sdiff_test_pg_crash(&pg);
    d = run_cmd(doc);
    assert_int_not_equal(sdiff_test_exit_code(&d), 0);
    assert_non_null(strstr(d.out, "connection refused"));
    assert_null(strstr(d.out, "s3cret"));
    assert_null(strstr(d.err, "s3cret"));
    sdiff_test_run_dispose(&d);
    char *rp[] = {bin, "report", "--db", url, NULL};
    struct sdiff_test_run r = run_cmd(rp);
    sdiff_test_expect_one_error(&r, "report", "connection refused");
    assert_null(strstr(r.err, "s3cret"));
    assert_non_null(strstr(r.err, "postgres:***@"));
    sdiff_test_run_dispose(&r);
    char *wp[] = {bin, "replay", "--corpus", corpus, "--candidate", cand, "--db", url, NULL};
    r = run_cmd(wp);
    sdiff_test_expect_one_error(&r, "replay", "connection refused");
    assert_null(strstr(r.err, "s3cret"));
    sdiff_test_run_dispose(&r);
    assert_int_equal(sdiff_test_pg_restart(&pg), 0);
    /* and the committed run is still there */
    char *again[] = {bin, "runs", "--db", url, NULL};
    r = run_cmd(again);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    assert_non_null(strstr(r.out, "pg-run"));
    sdiff_test_run_dispose(&r);
}

static void test_pg_cli__merge_exports_the_postgres_run_exactly(void **state)
{
    (void)state;
    char *bin = (char *)sdiff_test_bin();
    char merged[4200];
    snprintf(merged, sizeof merged, "%s/merged.db", dir);
    char *mp[] = {bin, "merge", "--into", merged, url, "--run", "pg-run", NULL};
    struct sdiff_test_run r = run_cmd(mp);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    assert_non_null(strstr(r.err, "614 results"));
    assert_null(strstr(r.err, "s3cret"));
    sdiff_test_run_dispose(&r);
    /* the same report, byte for byte, in every format */
    const char *formats[] = {"json", "text", "markdown"};
    for (int i = 0; i < 3; i++) {
        char *jp[] = {bin, "report", "--db", url, "--run", "pg-run", "--format",
                      (char *)formats[i], NULL};
        char *jm[] = {bin, "report", "--db", merged, "--run", "pg-run", "--format",
                      (char *)formats[i], NULL};
        struct sdiff_test_run a = run_cmd(jp), b = run_cmd(jm);
        assert_int_equal(sdiff_test_exit_code(&a), sdiff_test_exit_code(&b));
        assert_int_equal(a.out_len, b.out_len);
        assert_memory_equal(a.out, b.out, a.out_len);
        sdiff_test_run_dispose(&a);
        sdiff_test_run_dispose(&b);
    }
    /* merged again: nothing added twice */
    r = run_cmd(mp);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    assert_non_null(strstr(r.err, ": 0 results into run 1"));
    sdiff_test_run_dispose(&r);
    assert_int_equal(sdiff_test_db_int(merged, "SELECT count(*) FROM results"), 614);
    assert_int_equal(sdiff_test_db_int(merged, "SELECT count(*) FROM runs"), 1);
}

static void test_pg_cli__merge_gathers_instance_files_and_refuses_another_key(void **state)
{
    (void)state;
    char *bin = (char *)sdiff_test_bin();
    char a[4200], b[4200], c[4200], other[4200], all[4200];
    snprintf(a, sizeof a, "%s/pod-a.db", dir);
    snprintf(b, sizeof b, "%s/pod-b.db", dir);
    snprintf(c, sizeof c, "%s/pod-c.db", dir);
    snprintf(other, sizeof other, "%s/other-corpus.db", dir);
    snprintf(all, sizeof all, "%s/all.db", dir);
    char *ra[] = {bin, "replay", "--corpus", corpus, "--candidate", cand, "--db", a, "--run",
                  "fleet", NULL};
    char *rb[] = {bin, "replay", "--corpus", corpus, "--candidate", cand, "--db", b, "--run",
                  "fleet", NULL};
    struct sdiff_test_run r = run_cmd(ra);
    sdiff_test_run_dispose(&r);
    r = run_cmd(rb);
    sdiff_test_run_dispose(&r);
    char *m[] = {bin, "merge", "--into", all, a, b, NULL};
    r = run_cmd(m);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    sdiff_test_run_dispose(&r);
    assert_int_equal(sdiff_test_db_int(all, "SELECT count(*) FROM runs WHERE name = 'fleet'"), 1);
    assert_int_equal(sdiff_test_db_int(all, "SELECT count(*) FROM instances"), 2);
    assert_int_equal(sdiff_test_db_int(all, "SELECT count(*) FROM results"), 2 * 614);
    char *rep[] = {bin, "report", "--db", all, "--run", "fleet", "--format", "json", NULL};
    r = run_cmd(rep);
    assert_non_null(strstr(r.out, "\"samples\": 1228"));
    sdiff_test_run_dispose(&r);

    /* a store hashed with another key: refused, nothing merged */
    char *cap[] = {bin, "capture", "--pcap",
                   (char *)sdiff_test_fixture_path("pcap/basic_keepalive.pcap"), "--out", other,
                   NULL};
    r = run_cmd(cap);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    sdiff_test_run_dispose(&r);
    char *rc[] = {bin, "replay", "--corpus", other, "--candidate", cand, "--db", c, NULL};
    r = run_cmd(rc);
    sdiff_test_run_dispose(&r);
    char *m2[] = {bin, "merge", "--into", all, c, NULL};
    r = run_cmd(m2);
    sdiff_test_expect_one_error(&r, "merge", "another redaction key");
    sdiff_test_run_dispose(&r);
    assert_int_equal(sdiff_test_db_int(all, "SELECT count(*) FROM results"), 2 * 614);
    /* into a URL: merge writes files only */
    char *m3[] = {bin, "merge", "--into", url, a, NULL};
    r = run_cmd(m3);
    sdiff_test_expect_one_error(&r, "merge", "SQLite file");
    sdiff_test_run_dispose(&r);
}

static int setup(void **state)
{
    (void)state;
    const char *fx = getenv("SDIFF_FIXTURES");
    snprintf(tools, sizeof tools, "%s/../tests/tools", fx ? fx : "fixtures");
    char *d = sdiff_test_tmpdir();
    snprintf(dir, sizeof dir, "%s", d);
    free(d);
    if (sdiff_test_pg_start(&pg) != 0)
        return -1;
    /* trust authentication ignores the password: it is here to be hidden */
    snprintf(url, sizeof url, "postgresql://postgres:s3cret@127.0.0.1:%d/shadowdiff", pg.port);
    int port = sdiff_test_free_port();
    char port_s[16], path[4200];
    snprintf(port_s, sizeof port_s, "%d", port);
    snprintf(path, sizeof path, "%s/fault_server.py", tools);
    snprintf(cand, sizeof cand, "http://127.0.0.1:%d", port);
    char *argv[] = {"/usr/bin/python3", path, port_s, NULL};
    server_pid = sdiff_test_spawn(argv, NULL, NULL);
    if (sdiff_test_wait_port(port, 10) != 0)
        return -1;
    snprintf(corpus, sizeof corpus, "%s/corpus.db", dir);
    const char *pcaps[] = {"pcap/basic_keepalive.pcap", "pcap/interleaved_many.pcap"};
    for (int i = 0; i < 2; i++) {
        char *cap[] = {(char *)sdiff_test_bin(), "capture", "--pcap",
                       (char *)sdiff_test_fixture_path(pcaps[i]), "--out", corpus, NULL};
        struct sdiff_test_run r = sdiff_test_run(cap, dir, 60);
        int code = sdiff_test_exit_code(&r);
        sdiff_test_run_dispose(&r);
        if (code != 0)
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sdiff_test_stop(server_pid, SIGTERM, 5);
    sdiff_test_pg_stop(&pg);
    sdiff_test_rmdir(dir);
    return 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_cli__replay_and_report_on_postgres_equal_sqlite),
        cmocka_unit_test(test_pg_cli__merge_exports_the_postgres_run_exactly),
        cmocka_unit_test(test_pg_cli__merge_gathers_instance_files_and_refuses_another_key),
        cmocka_unit_test(test_pg_cli__mirror_and_gate_write_postgres),
        cmocka_unit_test(test_pg_cli__bare_scheme_takes_pg_variables_and_they_never_select_it),
        cmocka_unit_test(test_pg_cli__a_stopped_server_is_one_line_and_exit_2),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
