/*
 * it_files.c - the files shadowdiff writes and the databases it opens, when someone else
 * prepared the path: a symlink to a file of the operator's, a dangling symlink, a database
 * others may write or that belongs to another user, one whose schema runs code. Reports are
 * replaced by rename (0666 & ~umask), never followed or chmod'ed; databases are created 0600,
 * refused when unsafe to write, read with a warning when others can read them.
 */
#include "sdiff_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir;
static char db[4200], log_path[4200], url[64];

static const char *tmp(const char *name)
{
    static char path[4][4400];
    static unsigned k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

static struct sdiff_test_run run(char *const argv[])
{
    return sdiff_test_run(argv, dir, 60);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static mode_t mode_of(const char *path)
{
    struct stat sb;
    assert_int_equal(lstat(path, &sb), 0);
    return sb.st_mode;
}

/* A results database: the hostile capture replayed against the hostile server. */
static int setup(void **state)
{
    (void)state;
    umask(022);
    dir = sdiff_test_tmpdir();
    snprintf(db, sizeof db, "%s/results.db", dir);
    snprintf(log_path, sizeof log_path, "%s/requests.log", dir);
    int port = sdiff_test_free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    char script[4400], port_s[16];
    snprintf(script, sizeof script, "%s/../tests/tools/hostile_server.py",
             sdiff_test_fixture_path(""));
    snprintf(port_s, sizeof port_s, "%d", port);
    char *srv[] = {"/usr/bin/python3", script, port_s, log_path, "--seconds", "240", NULL};
    sdiff_test_spawn(srv, NULL, NULL);
    if (sdiff_test_wait_port(port, 10) != 0)
        return -1;
    char *cap[] = {(char *)sdiff_test_bin(), "capture", "--pcap",
                   (char *)sdiff_test_fixture_path("bad/hostile.pcap"), "--out", db, NULL};
    struct sdiff_test_run r = sdiff_test_run(cap, dir, 30);
    int ok = sdiff_test_exit_code(&r) == 0;
    sdiff_test_run_dispose(&r);
    char *rep[] = {(char *)sdiff_test_bin(), "replay", "--corpus", db, "--candidate", url,
                   "--db", db, "--allow-method", "POST", NULL};
    r = sdiff_test_run(rep, dir, 60);
    ok = ok && sdiff_test_exit_code(&r) == 1;
    sdiff_test_run_dispose(&r);
    return ok ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    sdiff_test_kill_all();
    sdiff_test_rmdir(dir);
    free(dir);
    return 0;
}

/* ---- reports ------------------------------------------------------------------------------ */

/* A report or gate that rendered: pass 0, fail 1 or inconclusive 3, never an error. */
static int verdict_exit(const struct sdiff_test_run *r)
{
    int c = sdiff_test_exit_code(r);
    return c == 0 || c == 1 || c == 3;
}

static void test_files__report_out_replaces_a_symlink_and_never_touches_its_target(void **state)
{
    (void)state;
    write_text(tmp("victim.txt"), "KEEP\n", 0640);
    assert_int_equal(symlink(tmp("victim.txt"), tmp("report.txt")), 0);
    char *argv[] = {(char *)sdiff_test_bin(), "report", "--db", db, "--out",
                    (char *)tmp("report.txt"), NULL};
    struct sdiff_test_run r = run(argv);
    assert_true(verdict_exit(&r));
    sdiff_test_run_dispose(&r);
    size_t n;
    char *victim = (char *)sdiff_test_read_file(tmp("victim.txt"), &n);
    assert_string_equal(victim, "KEEP\n");
    free(victim);
    assert_int_equal(mode_of(tmp("victim.txt")) & 07777, 0640);
    mode_t m = mode_of(tmp("report.txt"));
    assert_true(S_ISREG(m));
    assert_int_equal(m & 07777, 0644); /* 0666 & ~umask: made to be shared */
    char *text = (char *)sdiff_test_read_file(tmp("report.txt"), &n);
    assert_non_null(strstr(text, "shadowdiff report: run 1"));
    free(text);
}

static void test_files__report_out_replaces_a_file_without_chmod_and_dash_is_stdout(void **state)
{
    (void)state;
    write_text(tmp("shared.md"), "old\n", 0664);
    char *argv[] = {(char *)sdiff_test_bin(), "report", "--db", db, "--format", "markdown",
                    "--out", (char *)tmp("shared.md"), NULL};
    struct sdiff_test_run r = run(argv);
    assert_true(verdict_exit(&r));
    sdiff_test_run_dispose(&r);
    /* a new file: 0666 & ~umask, not the old one truncated and made 0600 */
    assert_int_equal(mode_of(tmp("shared.md")) & 07777, 0644);
    char *dash[] = {(char *)sdiff_test_bin(), "report", "--db", db, "--out", "-", NULL};
    r = run(dash);
    assert_true(verdict_exit(&r));
    assert_non_null(strstr(r.out, "shadowdiff report: run 1"));
    assert_int_equal(access(tmp("-"), F_OK), -1);
    sdiff_test_run_dispose(&r);
}

static void test_files__gate_junit_replaces_a_symlink(void **state)
{
    (void)state;
    write_text(tmp("ci-secret"), "TOKEN\n", 0600);
    assert_int_equal(symlink(tmp("ci-secret"), tmp("junit.xml")), 0);
    char *argv[] = {(char *)sdiff_test_bin(), "gate", "--corpus", db, "--primary", url,
                    "--candidate", url, "--allow-method", "POST", "--junit",
                    (char *)tmp("junit.xml"), NULL};
    struct sdiff_test_run r = run(argv);
    assert_true(verdict_exit(&r));
    sdiff_test_run_dispose(&r);
    size_t n;
    char *secret = (char *)sdiff_test_read_file(tmp("ci-secret"), &n);
    assert_string_equal(secret, "TOKEN\n");
    free(secret);
    assert_true(S_ISREG(mode_of(tmp("junit.xml"))));
    assert_int_equal(mode_of(tmp("junit.xml")) & 07777, 0644);
    char *xml = (char *)sdiff_test_read_file(tmp("junit.xml"), &n);
    assert_non_null(strstr(xml, "<testsuites"));
    free(xml);
}

/* ---- databases ---------------------------------------------------------------------------- */

static void test_files__capture_out_never_follows_a_dangling_symlink(void **state)
{
    (void)state;
    assert_int_equal(symlink(tmp("planted.db"), tmp("corpus.db")), 0);
    char *argv[] = {(char *)sdiff_test_bin(), "capture", "--pcap",
                    (char *)sdiff_test_fixture_path("bad/hostile.pcap"), "--out",
                    (char *)tmp("corpus.db"), NULL};
    struct sdiff_test_run r = run(argv);
    sdiff_test_expect_one_error(&r, "capture", "is a symbolic link");
    sdiff_test_run_dispose(&r);
    assert_int_equal(access(tmp("planted.db"), F_OK), -1);
}

static void test_files__new_database_is_0600_and_a_shared_one_is_refused(void **state)
{
    (void)state;
    char *argv[] = {(char *)sdiff_test_bin(), "capture", "--pcap",
                    (char *)sdiff_test_fixture_path("bad/hostile.pcap"), "--out",
                    (char *)tmp("new.db"), NULL};
    struct sdiff_test_run r = run(argv);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    sdiff_test_run_dispose(&r);
    assert_int_equal(mode_of(tmp("new.db")) & 07777, 0600);
    /* writable by others: its results could be changed and its key read */
    assert_int_equal(chmod(tmp("new.db"), 0666), 0);
    r = run(argv);
    sdiff_test_expect_one_error(&r, "capture", "is writable by other users (mode 0666)");
    assert_non_null(strstr(r.err, "chmod 600"));
    sdiff_test_run_dispose(&r);
    /* as a replay's results database too */
    char *rep[] = {(char *)sdiff_test_bin(), "replay", "--corpus", db, "--candidate", url,
                   "--db", (char *)tmp("new.db"), NULL};
    r = run(rep);
    sdiff_test_expect_one_error(&r, "replay", "is writable by other users");
    sdiff_test_run_dispose(&r);
}

static void test_files__database_of_another_user_is_refused_for_writing(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char *argv[] = {(char *)sdiff_test_bin(), "capture", "--pcap",
                    (char *)sdiff_test_fixture_path("bad/hostile.pcap"), "--out",
                    (char *)tmp("theirs.db"), NULL};
    struct sdiff_test_run r = run(argv);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    sdiff_test_run_dispose(&r);
    assert_int_equal(chown(tmp("theirs.db"), 65534, 65534), 0);
    r = run(argv);
    sdiff_test_expect_one_error(&r, "capture", "belongs to another user (uid 65534)");
    sdiff_test_run_dispose(&r);
}

static void test_files__database_others_can_read_is_read_with_a_warning(void **state)
{
    (void)state;
    assert_int_equal(chmod(db, 0644), 0);
    char *argv[] = {(char *)sdiff_test_bin(), "report", "--db", db, NULL};
    struct sdiff_test_run r = run(argv);
    assert_int_equal(chmod(db, 0600), 0);
    assert_true(verdict_exit(&r));
    sdiff_test_expect_stderr_lines(&r, "report", 1);
    assert_non_null(strstr(r.err, "warning:"));
    assert_non_null(strstr(r.err, "is readable by other users (mode 0644)"));
    sdiff_test_run_dispose(&r);
}

static void test_files__a_schema_from_elsewhere_is_not_trusted(void **state)
{
    (void)state;
    /* results becomes a view that reads a virtual table: code the database's author chose,
     * run by whoever reports on it, unless the schema is untrusted */
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && /usr/bin/python3 -c '\n"
             "import sqlite3, sys\n"
             "c = sqlite3.connect(sys.argv[1])\n"
             "cols = [r[1] for r in c.execute(\"PRAGMA table_info(results)\")]\n"
             "c.execute(\"ALTER TABLE results RENAME TO results_real\")\n"
             "c.execute(\"CREATE VIRTUAL TABLE planted USING fts4(route)\")\n"
             "c.execute(\"INSERT INTO planted VALUES (\\x27GET /planted\\x27)\")\n"
             "sel = \", \".join(\"(SELECT route FROM planted) AS route\" if x == \"route\" "
             "else x for x in cols)\n"
             "c.execute(\"CREATE VIEW results AS SELECT \" + sel + \" FROM results_real\")\n"
             "c.commit()\n' '%s'",
             db, tmp("view.db"), tmp("view.db"));
    assert_int_equal(sdiff_test_sh(cmd, 30), 0);
    assert_int_equal(chmod(tmp("view.db"), 0600), 0);
    char *argv[] = {(char *)sdiff_test_bin(), "report", "--db", (char *)tmp("view.db"), NULL};
    struct sdiff_test_run r = run(argv);
    assert_null(strstr(r.out, "/planted"));
    sdiff_test_expect_one_error(&r, "report", "unsafe use of virtual table");
    sdiff_test_run_dispose(&r);
}

/*
 * The corpus format follows --format, else --out's name: FILE.jsonl is JSON Lines (a private
 * file, nothing on stdout), FILE.db SQLite (a second capture appends and says so), anything
 * else is a one-line error; a JSON Lines file given to replay says what --corpus takes.
 */
static void test_files__capture_format_follows_the_name_or_format(void **state)
{
    (void)state;
    char *pcap = (char *)sdiff_test_fixture_path("pcap/basic_keepalive.pcap");
    const char *txt = tmp("corpus.txt");
    char *bad[] = {(char *)sdiff_test_bin(), "capture", "--pcap", pcap, "--out", (char *)txt,
                   NULL};
    struct sdiff_test_run r = run(bad);
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    assert_int_equal(sdiff_test_count_lines(r.err, r.err_len), 1);
    assert_non_null(strstr(r.err, "cannot tell the format"));
    assert_int_not_equal(access(txt, F_OK), 0);
    sdiff_test_run_dispose(&r);

    char jsonl[4400];
    snprintf(jsonl, sizeof jsonl, "%s", tmp("corpus.jsonl"));
    char *js[] = {(char *)sdiff_test_bin(), "capture", "--pcap", pcap, "--out", jsonl, NULL};
    r = run(js);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    assert_int_equal(r.out_len, 0);
    sdiff_test_run_dispose(&r);
    assert_int_equal(mode_of(jsonl) & 0777, 0600);
    size_t n = 0;
    char *text = (char *)sdiff_test_read_file(jsonl, &n);
    assert_non_null(text);
    assert_int_equal(sdiff_test_count_lines(text, n), 3);
    assert_int_equal(text[0], '{');
    free(text);

    /* --format wins over the name; SQLite cannot go to stdout */
    char odd[4400];
    snprintf(odd, sizeof odd, "%s", tmp("corpus.out"));
    char *fmt[] = {(char *)sdiff_test_bin(), "capture", "--pcap", pcap, "--out", odd,
                   "--format", "sqlite", NULL};
    r = run(fmt);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    sdiff_test_run_dispose(&r);
    assert_int_equal(sdiff_test_db_int(odd, "SELECT count(*) FROM exchanges"), 3);
    char *dash[] = {(char *)sdiff_test_bin(), "capture", "--pcap", pcap, "--out", "-",
                    "--format", "sqlite", NULL};
    r = run(dash);
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    assert_int_equal(sdiff_test_count_lines(r.err, r.err_len), 1);
    sdiff_test_run_dispose(&r);

    /* a second capture into a corpus appends, and says so */
    char corpus[4400];
    snprintf(corpus, sizeof corpus, "%s", tmp("twice.db"));
    char *cap[] = {(char *)sdiff_test_bin(), "capture", "--pcap", pcap, "--out", corpus, NULL};
    r = run(cap);
    assert_null(strstr(r.err, "appending"));
    sdiff_test_run_dispose(&r);
    r = run(cap);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    char say[4500];
    snprintf(say, sizeof say, "appending capture 2 to %s\n", corpus);
    assert_non_null(strstr(r.err, say));
    sdiff_test_run_dispose(&r);
    assert_int_equal(sdiff_test_db_int(corpus, "SELECT count(*) FROM exchanges"), 6);

    /* replay names what --corpus must be */
    char never[4400];
    snprintf(never, sizeof never, "%s", tmp("never.db"));
    char *rep[] = {(char *)sdiff_test_bin(), "replay", "--corpus", jsonl, "--candidate", url,
                   "--db", never, NULL};
    r = run(rep);
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    assert_int_equal(sdiff_test_count_lines(r.err, r.err_len), 1);
    assert_non_null(strstr(r.err, "is JSON Lines; --corpus takes a SQLite corpus"));
    sdiff_test_run_dispose(&r);
    assert_int_not_equal(access(never, F_OK), 0);
}

/*
 * Colour: --color always or never decides; auto colours a terminal only, not with TERM=dumb
 * or a non-empty NO_COLOR (an empty one does not count); a bad value is one line, exit 2.
 */
static int tty_has_escape(const char *env, const char *args)
{
    char cmd[9000], out[4400];
    snprintf(out, sizeof out, "%s", tmp("tty.out"));
    snprintf(cmd, sizeof cmd, "env %s script -qec \"'%s' report --db '%s' %s\" /dev/null > '%s' 2>&1",
             env, sdiff_test_bin(), db, args, out);
    sdiff_test_sh(cmd, 60);
    size_t n = 0;
    char *text = (char *)sdiff_test_read_file(out, &n);
    assert_non_null(text);
    assert_non_null(strstr(text, "ENDPOINT")); /* the report ran */
    int esc = strstr(text, "\033[") != NULL;
    free(text);
    return esc;
}

static void test_files__colour_follows_the_flag_the_terminal_and_the_environment(void **state)
{
    (void)state;
    assert_true(tty_has_escape("-u NO_COLOR TERM=xterm", ""));
    assert_false(tty_has_escape("-u NO_COLOR TERM=dumb", ""));
    assert_false(tty_has_escape("TERM=xterm NO_COLOR=1", ""));
    assert_true(tty_has_escape("TERM=xterm NO_COLOR=", ""));
    assert_false(tty_has_escape("-u NO_COLOR TERM=xterm", "--color never"));
    assert_true(tty_has_escape("TERM=dumb NO_COLOR=1", "--color always"));

    /* piped: none unless asked */
    char *piped[] = {(char *)sdiff_test_bin(), "report", "--db", db, NULL};
    struct sdiff_test_run r = run(piped);
    assert_null(strstr(r.out, "\033["));
    sdiff_test_run_dispose(&r);
    char *always[] = {(char *)sdiff_test_bin(), "report", "--db", db, "--color", "always", NULL};
    r = run(always);
    assert_non_null(strstr(r.out, "\033["));
    sdiff_test_run_dispose(&r);

    /* inspect colours the two sides of each difference */
    long long id = sdiff_test_db_int(db, "SELECT min(result_id) FROM differences");
    assert_true(id > 0);
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", id);
    char *ins[] = {(char *)sdiff_test_bin(), "inspect", "--db", db, ids, "--color", "always",
                   NULL};
    r = run(ins);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    assert_non_null(strstr(r.out, "\033[31m"));
    assert_non_null(strstr(r.out, "\033[32m"));
    sdiff_test_run_dispose(&r);
    char *ins_never[] = {(char *)sdiff_test_bin(), "inspect", "--db", db, ids, "--color",
                         "never", NULL};
    r = run(ins_never);
    assert_null(strstr(r.out, "\033["));
    sdiff_test_run_dispose(&r);

    char *bad[] = {(char *)sdiff_test_bin(), "report", "--db", db, "--color", "sometimes", NULL};
    r = run(bad);
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    assert_int_equal(sdiff_test_count_lines(r.err, r.err_len), 1);
    assert_non_null(strstr(r.err, "--color: 'sometimes' is not auto, always or never"));
    sdiff_test_run_dispose(&r);
}

/*
 * --openapi takes a URL too (FastAPI serves /openapi.json): its paths become the routes; a
 * URL that does not answer 2xx with JSON is one line, exit 2.
 */
static void test_files__openapi_from_a_url_gives_the_routes(void **state)
{
    (void)state;
    char www[4400], doc[4500], corpus[4400], res[4400], oa_url[128], bad[128], port_s[16];
    snprintf(www, sizeof www, "%s", tmp("www"));
    snprintf(doc, sizeof doc, "%s/openapi.json", www);
    assert_int_equal(mkdir(www, 0755), 0);
    write_text(doc, "{\"openapi\": \"3.0.0\", \"paths\": {\"/api/users/{userId}\": {\"get\": {}}}}",
               0644);
    int port = sdiff_test_free_port();
    snprintf(port_s, sizeof port_s, "%d", port);
    char *srv[] = {"/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1",
                   "--directory", www, port_s, NULL};
    sdiff_test_spawn(srv, NULL, NULL);
    assert_int_equal(sdiff_test_wait_port(port, 10), 0);
    snprintf(oa_url, sizeof oa_url, "http://127.0.0.1:%d/openapi.json", port);
    snprintf(bad, sizeof bad, "http://127.0.0.1:%d/missing.json", port);
    snprintf(corpus, sizeof corpus, "%s", tmp("oa-corpus.db"));
    snprintf(res, sizeof res, "%s", tmp("oa-results.db"));
    char *pcap = (char *)sdiff_test_fixture_path("pcap/basic_keepalive.pcap");
    char *cap[] = {(char *)sdiff_test_bin(), "capture", "--pcap", pcap, "--out", corpus, NULL};
    struct sdiff_test_run r = run(cap);
    assert_int_equal(sdiff_test_exit_code(&r), 0);
    sdiff_test_run_dispose(&r);
    char cand[64];
    snprintf(cand, sizeof cand, "http://127.0.0.1:%d", port);
    char *rep[] = {(char *)sdiff_test_bin(), "replay", "--corpus", corpus, "--candidate", cand,
                   "--openapi", oa_url, "--db", res, NULL};
    r = run(rep);
    assert_int_not_equal(sdiff_test_exit_code(&r), 2);
    sdiff_test_run_dispose(&r);
    assert_int_equal(sdiff_test_db_int(res, "SELECT count(*) FROM results WHERE"
                                            " route = 'GET /api/users/{userId}'"),
                     1);
    char *rep_bad[] = {(char *)sdiff_test_bin(), "replay", "--corpus", corpus, "--candidate",
                       cand, "--openapi", bad, "--db", (char *)tmp("oa-bad.db"), NULL};
    r = run(rep_bad);
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    assert_int_equal(sdiff_test_count_lines(r.err, r.err_len), 1);
    sdiff_test_run_dispose(&r);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files__report_out_replaces_a_symlink_and_never_touches_its_target),
        cmocka_unit_test(test_files__report_out_replaces_a_file_without_chmod_and_dash_is_stdout),
        cmocka_unit_test(test_files__gate_junit_replaces_a_symlink),
        cmocka_unit_test(test_files__capture_out_never_follows_a_dangling_symlink),
        cmocka_unit_test(test_files__new_database_is_0600_and_a_shared_one_is_refused),
        cmocka_unit_test(test_files__database_of_another_user_is_refused_for_writing),
        cmocka_unit_test(test_files__database_others_can_read_is_read_with_a_warning),
        cmocka_unit_test(test_files__a_schema_from_elsewhere_is_not_trusted),
        cmocka_unit_test(test_files__capture_format_follows_the_name_or_format),
        cmocka_unit_test(test_files__colour_follows_the_flag_the_terminal_and_the_environment),
        cmocka_unit_test(test_files__openapi_from_a_url_gives_the_routes),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
