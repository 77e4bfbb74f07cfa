#ifndef SDIFF_TEST_H
#define SDIFF_TEST_H
/*
 * Helpers shared by the cmocka tests: fixture paths, whole-file reads, and feeding an input
 * split at every byte offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "shadowdiff/core.h"

/** Path of a file under fixtures/ (SDIFF_FIXTURES); static buffer, valid until next call. */
const char *sdiff_test_fixture_path(const char *rel);
/** Whole file, NUL-terminated; caller frees with free(). Fails the test when unreadable. */
uint8_t *sdiff_test_read_file(const char *path, size_t *len_out);
/** Path of the shadowdiff binary under test (SDIFF_BIN). */
const char *sdiff_test_bin(void);

/*
 * Call feed(ud, ...) with the input in two pieces split at every offset 0..len (and once
 * whole, and once byte by byte): reset(ud) runs before each pass and check(ud) after it.
 */
typedef void (*sdiff_test_reset_fn)(void *ud);
typedef void (*sdiff_test_feed_fn)(void *ud, const uint8_t *p, size_t len);
typedef void (*sdiff_test_check_fn)(void *ud);
void sdiff_test_feed_split(const uint8_t *in, size_t len, sdiff_test_reset_fn reset,
                           sdiff_test_feed_fn feed, sdiff_test_check_fn check, void *ud);

/** Run cmocka tests, honouring an optional filter pattern in argv[1]. */
#define SDIFF_TEST_MAIN(tests)                                                                 \
    int main(int argc, char **argv)                                                            \
    {                                                                                          \
        if (argc > 1)                                                                          \
            cmocka_set_test_filter(argv[1]);                                                   \
        return cmocka_run_group_tests(tests, NULL, NULL);                                      \
    }

/*
 * Out-of-memory sweep: run scenario(ud) with allocation n failing (n = 0, 1, 2, ...) until a
 * run makes fewer allocations than the failure point, that is, until it runs to the end with
 * nothing failed. scenario returns SDIFF_OK when it finished and SDIFF_ENOMEM when a failed
 * allocation stopped it cleanly; anything else fails the test, and so does a run that
 * reports SDIFF_OK although an allocation failed (a lost error) or a sweep that never ends
 * in success within max_runs. Returns the number of failing runs swept.
 */
typedef int (*sdiff_test_oom_fn)(void *ud);
long sdiff_test_oom_sweep(sdiff_test_oom_fn scenario, void *ud, long max_runs);

/* ---- processes (integration tests) ------------------------------------------------------ */

/*
 * Start argv[0] with its output sent to files (NULL: /dev/null). The child is registered and
 * killed (SIGKILL) by sdiff_test_kill_all, which also runs at exit, so a failing test never
 * leaves a process behind. Returns the pid.
 */
int sdiff_test_spawn(char *const argv[], const char *out_path, const char *err_path);
/* Send sig, then wait up to timeout_s; SIGKILL after that. Returns the wait status. */
int sdiff_test_stop(int pid, int sig, double timeout_s);
/* Wait up to timeout_s for the child to exit by itself; -1 (and SIGKILL) on timeout. */
int sdiff_test_wait(int pid, double timeout_s);
void sdiff_test_kill_all(void);
/* A TCP port on 127.0.0.1 that was free a moment ago. */
int sdiff_test_free_port(void);
/* Wait until something accepts TCP connections on 127.0.0.1:port; 0 on success. */
int sdiff_test_wait_port(int port, double timeout_s);
/* Wait until the file contains needle; 0 on success. */
int sdiff_test_wait_file_contains(const char *path, const char *needle, double timeout_s);
/* A fresh temporary directory (removed by the caller with sdiff_test_rmdir). */
char *sdiff_test_tmpdir(void);
void sdiff_test_rmdir(const char *dir);

/* One integer from a query on a database file opened read-only (-1 without a row); fails
 * the test when the file does not open or the query is bad. */
long long sdiff_test_db_int(const char *db, const char *sql);

/*
 * A forged TCP segment as a raw IPv4 frame (pcap link type 101): client 10.9.F.F port
 * 40000 + flow to 10.0.0.1:8080, PSH|ACK, the given sequence number, no handshake before it,
 * and a TCP checksum that is wrong (the service's kernel would drop it). out has room for
 * 40 + n bytes; returns the frame's length.
 */
size_t sdiff_test_forged_frame(uint8_t *out, int flow, uint32_t seq, const uint8_t *p, size_t n);

/* Run a shell command with a timeout (killed after it); its exit status, or -1. */
int sdiff_test_sh(const char *cmd, double timeout_s);

/* Seconds on the monotonic clock. */
double sdiff_test_now(void);
/* CPU seconds (user and system) of the children waited for so far. */
double sdiff_test_children_cpu(void);

/* What a finished command left: wait status, stdout and stderr, wall and CPU seconds. */
struct sdiff_test_run {
    int status;
    char *out, *err;
    size_t out_len, err_len;
    double secs, cpu;
};

/* Run argv (NULL-terminated) with stdout and stderr to files in dir; fails the test when it
 * does not finish within timeout_s (it is killed) or dies of a signal. */
struct sdiff_test_run sdiff_test_run(char *const argv[], const char *dir, double timeout_s);
void sdiff_test_run_dispose(struct sdiff_test_run *r);
/* The exit code, or -1 when the command did not exit. */
int sdiff_test_exit_code(const struct sdiff_test_run *r);
/* Lines of text (each ending in '\n'); fails the test on a last line without one. */
size_t sdiff_test_count_lines(const char *s, size_t len);
/* Every stderr line starts with "shadowdiff: <cmd>: "; there are 1 to max of them. */
void sdiff_test_expect_stderr_lines(const struct sdiff_test_run *r, const char *cmd, size_t max);
/* Exit 2 and exactly one stderr line, "shadowdiff: <cmd>: ..." containing needle. */
void sdiff_test_expect_one_error(const struct sdiff_test_run *r, const char *cmd,
                                 const char *needle);

/* The start of an argv that runs the rest as nobody (setpriv). */
#define SDIFF_TEST_AS_NOBODY "/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"
/* Whether this test can run the binary as nobody: root, setpriv present, and nobody allowed
 * to run it (not so for a build tree under a private directory). Tests skip otherwise. */
int sdiff_test_nobody_can_run(void);

/* The fixture services (fixtures/services): legacy primary, secondary, Go candidate. */
struct sdiff_test_services {
    char fixtures[4096];
    char dir[4096];   /* their temporary directory, removed by _stop */
    int legacy, secondary, candidate;
};
/* Build and start them on free loopback ports; 0 on success (then call _stop). */
int sdiff_test_services_start(struct sdiff_test_services *s);
void sdiff_test_services_stop(struct sdiff_test_services *s);

/*
 * A throwaway PostgreSQL cluster (Debian's postgresql, binaries from `pg_config --bindir`):
 * initdb as the postgres user into a temporary directory, the postmaster started directly
 * (so it is stopped by its PID, even when a test fails: it is registered like every child),
 * listening on a unix socket in that directory and on a free 127.0.0.1 port, with a database
 * named "shadowdiff". Trust authentication: the cluster lives only as long as the test.
 */
struct sdiff_test_pg {
    char dir[4096];     /* data in dir/data, the socket in dir */
    char bindir[1024];
    int port;
    int pid;            /* the postmaster; 0 when stopped */
    char url[4300];     /* postgresql://postgres@127.0.0.1:PORT/shadowdiff */
    char sock_url[8600];/* postgresql:///shadowdiff?host=DIR&port=PORT&user=postgres */
};
/* initdb and start; 0 on success (then call _stop, which also removes the directory). */
int sdiff_test_pg_start(struct sdiff_test_pg *pg);
/* Start the postmaster again on the same data and port after _crash; 0 on success. */
int sdiff_test_pg_restart(struct sdiff_test_pg *pg);
/* `pg_ctl stop -m immediate` by signal: SIGQUIT to the postmaster, waited for. */
void sdiff_test_pg_crash(struct sdiff_test_pg *pg);
/* Fast shutdown (SIGINT), then remove the directory. NULL-safe, idempotent. */
void sdiff_test_pg_stop(struct sdiff_test_pg *pg);
/* Run SQL with psql on the cluster's socket; its output (caller frees), NULL on failure. */
char *sdiff_test_pg_sql(const struct sdiff_test_pg *pg, const char *sql);

#endif
