/*
 * it_postgres.c - the throwaway PostgreSQL cluster the store's PostgreSQL tests run on: it
 * starts as the postgres user in a temporary directory, answers on its socket and on its
 * 127.0.0.1 port, keeps committed rows across an immediate shutdown and a restart, and is
 * gone (process and directory) after _stop.
 */
#include "sdiff_test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_postgres__cluster_survives_an_immediate_stop(void **state)
{
    (void)state;
    struct sdiff_test_pg pg;
    assert_int_equal(sdiff_test_pg_start(&pg), 0);
    char *out = sdiff_test_pg_sql(&pg, "CREATE TABLE t (v int); INSERT INTO t VALUES (42)");
    assert_non_null(out);
    free(out);

    /* the URL form a user passes to --db reaches the same cluster over TCP */
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "'%s/psql' -X -A -t '%s' -c 'SELECT v FROM t' | grep -qx 42",
             pg.bindir, pg.url);
    assert_int_equal(sdiff_test_sh(cmd, 30), 0);

    int pid = pg.pid;
    sdiff_test_pg_crash(&pg);
    assert_int_not_equal(kill(pid, 0), 0);
    assert_int_equal(sdiff_test_pg_restart(&pg), 0);
    out = sdiff_test_pg_sql(&pg, "SELECT v FROM t");
    assert_non_null(out);
    assert_string_equal(out, "42\n");
    free(out);

    char dir[4096];
    snprintf(dir, sizeof dir, "%s", pg.dir);
    pid = pg.pid;
    sdiff_test_pg_stop(&pg);
    assert_int_not_equal(kill(pid, 0), 0);
    assert_int_not_equal(access(dir, F_OK), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_postgres__cluster_survives_an_immediate_stop),
};
SDIFF_TEST_MAIN(tests)
