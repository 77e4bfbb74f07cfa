#include "sdiff_test.h"

#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>

const char *sdiff_test_fixture_path(const char *rel)
{
    static char path[4096];
    const char *base = getenv("SDIFF_FIXTURES");
    snprintf(path, sizeof path, "%s/%s", base ? base : "fixtures", rel);
    return path;
}

const char *sdiff_test_bin(void)
{
    const char *b = getenv("SDIFF_BIN");
    return b ? b : "shadowdiff";
}

uint8_t *sdiff_test_read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
        fail_msg("short read on %s", path);
    fclose(f);
    buf[n] = 0;
    *len_out = (size_t)n;
    return buf;
}

void sdiff_test_feed_split(const uint8_t *in, size_t len, sdiff_test_reset_fn reset,
                           sdiff_test_feed_fn feed, sdiff_test_check_fn check, void *ud)
{
    reset(ud);
    feed(ud, in, len);
    check(ud);
    for (size_t cut = 0; cut <= len; cut++) {
        reset(ud);
        feed(ud, in, cut);
        feed(ud, in + cut, len - cut);
        check(ud);
    }
    reset(ud);
    for (size_t i = 0; i < len; i++)
        feed(ud, in + i, 1);
    check(ud);
}

long sdiff_test_oom_sweep(sdiff_test_oom_fn scenario, void *ud, long max_runs)
{
    for (long n = 0; n < max_runs; n++) {
        sdiff_alloc_fail_after(n);
        int rc = scenario(ud);
        long made = sdiff_alloc_fail_after(-1);
        if (made <= n) {
            /* nothing failed in this run: it must have finished */
            if (rc != SDIFF_OK)
                fail_msg("oom sweep: run %ld failed no allocation but returned %d", n, rc);
            if (n == 0)
                fail_msg("oom sweep: the scenario allocates nothing, so it sweeps nothing");
            return n;
        }
        if (rc != SDIFF_ENOMEM)
            fail_msg("oom sweep: allocation %ld failed but the scenario returned %d", n, rc);
    }
    fail_msg("oom sweep: no run succeeded within %ld failure points", max_runs);
    return -1;
}

/* ---- processes ----------------------------------------------------------------------- */

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int children[64];
static int nchildren;
static int atexit_set;

double sdiff_test_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void forget(int pid)
{
    for (int i = 0; i < nchildren; i++)
        if (children[i] == pid)
            children[i] = children[--nchildren];
}

void sdiff_test_kill_all(void)
{
    for (int i = 0; i < nchildren; i++) {
        kill(children[i], SIGKILL);
        waitpid(children[i], NULL, 0);
    }
    nchildren = 0;
}

size_t sdiff_test_forged_frame(uint8_t *f, int flow, uint32_t seq, const uint8_t *p, size_t n)
{
    size_t tot = 40 + n;
    memset(f, 0, 40);
    f[0] = 0x45;
    f[2] = (uint8_t)(tot >> 8), f[3] = (uint8_t)tot;
    f[6] = 0x40, f[8] = 64, f[9] = 6;
    f[12] = 10, f[13] = 9, f[14] = (uint8_t)(flow >> 8), f[15] = (uint8_t)flow; /* client */
    f[16] = 10, f[17] = 0, f[18] = 0, f[19] = 1;                              /* server */
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2)
        sum += (uint32_t)(f[i] << 8 | f[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    f[10] = (uint8_t)(~sum >> 8), f[11] = (uint8_t)~sum;
    uint8_t *t = f + 20;
    uint16_t sport = (uint16_t)(40000 + flow);
    t[0] = (uint8_t)(sport >> 8), t[1] = (uint8_t)sport, t[2] = 0x1f, t[3] = 0x90; /* 8080 */
    t[4] = (uint8_t)(seq >> 24), t[5] = (uint8_t)(seq >> 16), t[6] = (uint8_t)(seq >> 8);
    t[7] = (uint8_t)seq;
    t[12] = 5 << 4, t[13] = 0x18; /* PSH ACK */
    t[14] = 0xff, t[15] = 0xff;
    t[16] = 0xde, t[17] = 0xad; /* not the checksum of this segment */
    memcpy(f + 40, p, n);
    return tot;
}

int sdiff_test_spawn(char *const argv[], const char *out_path, const char *err_path)
{
    if (!atexit_set) {
        atexit(sdiff_test_kill_all);
        atexit_set = 1;
    }
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        int in = open("/dev/null", O_RDONLY);
        int out = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int er = open(err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(in, 0);
        dup2(out, 1);
        dup2(er, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    if (nchildren < 64)
        children[nchildren++] = pid;
    return pid;
}

int sdiff_test_wait(int pid, double timeout_s)
{
    double end = sdiff_test_now() + timeout_s;
    int status;
    while (sdiff_test_now() < end) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            forget(pid);
            return status;
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    forget(pid);
    return -1;
}

int sdiff_test_stop(int pid, int sig, double timeout_s)
{
    kill(pid, sig);
    return sdiff_test_wait(pid, timeout_s);
}

int sdiff_test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

int sdiff_test_wait_port(int port, double timeout_s)
{
    double end = sdiff_test_now() + timeout_s;
    while (sdiff_test_now() < end) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return 0;
        usleep(50000);
    }
    return -1;
}

int sdiff_test_wait_file_contains(const char *path, const char *needle, double timeout_s)
{
    double end = sdiff_test_now() + timeout_s;
    while (sdiff_test_now() < end) {
        FILE *f = fopen(path, "rb");
        if (f) {
            char buf[65536];
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = 0;
            if (strstr(buf, needle))
                return 0;
        }
        usleep(50000);
    }
    return -1;
}

char *sdiff_test_tmpdir(void)
{
    char tmpl[] = "/tmp/sdiff-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

void sdiff_test_rmdir(const char *dir)
{
    char cmd[4200];
    if (dir == NULL || strncmp(dir, "/tmp/sdiff-test-", 16) != 0)
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int sdiff_test_sh(const char *cmd, double timeout_s)
{
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    int st = sdiff_test_wait(sdiff_test_spawn(argv, NULL, NULL), timeout_s);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int sdiff_test_services_start(struct sdiff_test_services *s)
{
    char cmd[9000];
    const char *fx = getenv("SDIFF_FIXTURES");
    memset(s, 0, sizeof *s);
    snprintf(s->fixtures, sizeof s->fixtures, "%s", fx ? fx : "fixtures");
    char *d = sdiff_test_tmpdir();
    snprintf(s->dir, sizeof s->dir, "%s", d);
    free(d);
    snprintf(cmd, sizeof cmd, "'%s/services/start.sh' '%s' >'%s/start.log' 2>&1", s->fixtures,
             s->dir, s->dir);
    if (sdiff_test_sh(cmd, 240) != 0) {
        snprintf(cmd, sizeof cmd, "cat '%s/start.log' >&2", s->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "services did not start\n");
        return -1;
    }
    snprintf(cmd, sizeof cmd, "%s/ports.env", s->dir);
    FILE *f = fopen(cmd, "r");
    if (f == NULL)
        return -1;
    char line[128];
    while (fgets(line, sizeof line, f)) {
        sscanf(line, "LEGACY_PORT=%d", &s->legacy);
        sscanf(line, "SECONDARY_PORT=%d", &s->secondary);
        sscanf(line, "CANDIDATE_PORT=%d", &s->candidate);
    }
    fclose(f);
    return s->legacy && s->secondary && s->candidate ? 0 : -1;
}

void sdiff_test_services_stop(struct sdiff_test_services *s)
{
    char cmd[9000];
    if (s->dir[0] == '\0')
        return;
    snprintf(cmd, sizeof cmd, "'%s/services/stop.sh' '%s' >/dev/null 2>&1", s->fixtures, s->dir);
    sdiff_test_sh(cmd, 30);
    sdiff_test_rmdir(s->dir);
    s->dir[0] = '\0';
}

long long sdiff_test_db_int(const char *db, const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *q;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        fail_msg("cannot open %s", db);
    if (sqlite3_prepare_v2(h, sql, -1, &q, NULL) != SQLITE_OK)
        fail_msg("bad query %s: %s", sql, sqlite3_errmsg(h));
    long long n = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_finalize(q);
    sqlite3_close(h);
    return n;
}

/* ---- commands whose output a test reads -------------------------------------------------- */

double sdiff_test_children_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct sdiff_test_run sdiff_test_run(char *const argv[], const char *dir, double timeout_s)
{
    struct sdiff_test_run r = {0};
    char out[4200], err[4200];
    snprintf(out, sizeof out, "%s/stdout", dir);
    snprintf(err, sizeof err, "%s/stderr", dir);
    double t0 = sdiff_test_now(), c0 = sdiff_test_children_cpu();
    r.status = sdiff_test_wait(sdiff_test_spawn(argv, out, err), timeout_s);
    r.secs = sdiff_test_now() - t0;
    r.cpu = sdiff_test_children_cpu() - c0;
    if (r.status == -1)
        fail_msg("%s %s did not finish within %.0f s", argv[0], argv[1], timeout_s);
    if (WIFSIGNALED(r.status))
        fail_msg("%s %s was killed by signal %d", argv[0], argv[1], WTERMSIG(r.status));
    r.out = (char *)sdiff_test_read_file(out, &r.out_len);
    r.err = (char *)sdiff_test_read_file(err, &r.err_len);
    return r;
}

void sdiff_test_run_dispose(struct sdiff_test_run *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

int sdiff_test_exit_code(const struct sdiff_test_run *r)
{
    return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

size_t sdiff_test_count_lines(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == '\n';
    if (len > 0 && s[len - 1] != '\n')
        fail_msg("output does not end with a newline: %s", s);
    return n;
}

void sdiff_test_expect_stderr_lines(const struct sdiff_test_run *r, const char *cmd, size_t max)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "shadowdiff: %s: ", cmd);
    size_t n = sdiff_test_count_lines(r->err, r->err_len);
    if (n == 0 || n > max)
        fail_msg("expected 1 to %zu lines on stderr, got %zu: %s", max, n, r->err);
    for (const char *l = r->err; *l; l = strchr(l, '\n') + 1)
        if (strncmp(l, prefix, strlen(prefix)) != 0)
            fail_msg("stderr line does not start with '%s': %s", prefix, l);
}

void sdiff_test_expect_one_error(const struct sdiff_test_run *r, const char *cmd,
                                 const char *needle)
{
    if (sdiff_test_exit_code(r) != 2)
        fail_msg("%s: expected exit 2, got %d; stderr: %s", cmd, sdiff_test_exit_code(r),
                 r->err);
    sdiff_test_expect_stderr_lines(r, cmd, 1);
    if (strstr(r->err, needle) == NULL)
        fail_msg("%s: expected '%s' in: %s", cmd, needle, r->err);
}

int sdiff_test_nobody_can_run(void)
{
    if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0)
        return 0;
    char *probe[] = {SDIFF_TEST_AS_NOBODY, (char *)sdiff_test_bin(), "--version", NULL};
    int st = sdiff_test_wait(sdiff_test_spawn(probe, NULL, NULL), 10);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* ---- PostgreSQL ---------------------------------------------------------------------------- */

static int pg_spawn(struct sdiff_test_pg *pg)
{
    char exe[1200], data[4200], port[16], log[4200];
    snprintf(exe, sizeof exe, "%s/postgres", pg->bindir);
    snprintf(data, sizeof data, "%s/data", pg->dir);
    snprintf(port, sizeof port, "%d", pg->port);
    snprintf(log, sizeof log, "%s/postgres.log", pg->dir);
    char *argv[] = {"/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups",
                    exe, "-D", data, "-p", port, "-k", pg->dir, "-c", "listen_addresses=127.0.0.1",
                    "-c", "fsync=off", "-c", "full_page_writes=off", NULL};
    pg->pid = sdiff_test_spawn(argv, log, log);
    char cmd[9000];
    /* ready when pg_isready says so: the socket file alone comes before recovery ends */
    snprintf(cmd, sizeof cmd,
             "for i in $(seq 300); do '%s/pg_isready' -q -h '%s' -p %d && exit 0; sleep 0.1; "
             "done; exit 1",
             pg->bindir, pg->dir, pg->port);
    return sdiff_test_sh(cmd, 60) == 0 ? 0 : -1;
}

int sdiff_test_pg_start(struct sdiff_test_pg *pg)
{
    memset(pg, 0, sizeof *pg);
    FILE *p = popen("pg_config --bindir", "r");
    if (p == NULL)
        return -1;
    if (fgets(pg->bindir, sizeof pg->bindir, p) == NULL)
        pg->bindir[0] = '\0';
    pclose(p);
    pg->bindir[strcspn(pg->bindir, "\n")] = '\0';
    if (pg->bindir[0] == '\0')
        return -1;
    char *d = sdiff_test_tmpdir();
    snprintf(pg->dir, sizeof pg->dir, "%s", d);
    free(d);
    char cmd[9000];
    /* the postgres user must be able to enter the directory (tmpdirs are 0700 root) */
    snprintf(cmd, sizeof cmd,
             "chown postgres:postgres '%s' && chmod 0700 '%s' && "
             "setpriv --reuid=postgres --regid=postgres --clear-groups '%s/initdb' -D '%s/data' "
             "-A trust -U postgres --no-sync -E UTF8 --locale=C >'%s/initdb.log' 2>&1",
             pg->dir, pg->dir, pg->bindir, pg->dir, pg->dir);
    if (sdiff_test_sh(cmd, 120) != 0)
        return -1;
    pg->port = sdiff_test_free_port();
    if (pg_spawn(pg) != 0)
        return -1;
    snprintf(pg->url, sizeof pg->url, "postgresql://postgres@127.0.0.1:%d/shadowdiff", pg->port);
    snprintf(pg->sock_url, sizeof pg->sock_url,
             "postgresql:///shadowdiff?host=%s&port=%d&user=postgres", pg->dir, pg->port);
    char *out = sdiff_test_pg_sql(pg, "CREATE DATABASE shadowdiff");
    free(out);
    return out ? 0 : -1;
}

int sdiff_test_pg_restart(struct sdiff_test_pg *pg)
{
    return pg_spawn(pg);
}

void sdiff_test_pg_crash(struct sdiff_test_pg *pg)
{
    if (pg->pid > 0)
        sdiff_test_stop(pg->pid, SIGQUIT, 30);
    pg->pid = 0;
}

void sdiff_test_pg_stop(struct sdiff_test_pg *pg)
{
    if (pg == NULL)
        return;
    if (pg->pid > 0)
        sdiff_test_stop(pg->pid, SIGINT, 30);
    pg->pid = 0;
    if (pg->dir[0])
        sdiff_test_rmdir(pg->dir);
    pg->dir[0] = '\0';
}

char *sdiff_test_pg_sql(const struct sdiff_test_pg *pg, const char *sql)
{
    char path[4200], cmd[16384];
    snprintf(path, sizeof path, "%s/psql.out", pg->dir);
    /* the first connection goes to the maintenance database, the rest to shadowdiff */
    snprintf(cmd, sizeof cmd,
             "'%s/psql' -X -q -A -t -v ON_ERROR_STOP=1 -h '%s' -p %d -U postgres -d %s "
             "-c \"$SDIFF_TEST_SQL\" >'%s' 2>&1",
             pg->bindir, pg->dir, pg->port,
             strncmp(sql, "CREATE DATABASE", 15) == 0 ? "postgres" : "shadowdiff", path);
    setenv("SDIFF_TEST_SQL", sql, 1);
    int rc = sdiff_test_sh(cmd, 60);
    unsetenv("SDIFF_TEST_SQL");
    if (rc != 0)
        return NULL;
    size_t len;
    return (char *)sdiff_test_read_file(path, &len);
}
