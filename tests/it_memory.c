/*
 * it_memory.c - the --memory budget holds for a real process. A capture reads forged traffic
 * from its standard input (flows with no handshake, bad TCP checksums, pipelined POSTs with
 * large bodies that nobody acknowledges, interleaved so every flow grows at once) and its
 * peak resident size, VmHWM in /proc/PID/status and the kernel's ru_maxrss at exit, must stay
 * under the budget plus what the same command needs for a handful of packets. The same
 * traffic with a budget of 1G shows the load would pass that bound, so the test can fail.
 * --checksums makes capture keep the bodies, as mirror does.
 */
#include "sdiff_test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define FLOWS 16
#define REQS 32
#define BODY (256u << 10)
#define SEG (16u << 10)
#define BUDGET_MIB 32
/* Allowed above budget + baseline: malloc's free lists and arenas, and the stdio buffers
 * of the output. Far below what the unbounded run holds. */
#define SLACK_MIB 16

static char *dir;
static pid_t child = -1;

struct peak {
    long hwm_kib;      /* largest VmHWM read while it ran */
    long maxrss_kib;   /* ru_maxrss at exit */
    long exchanges;    /* JSON lines written */
    long shed;         /* of which "state":"shed" */
    char summary[2048];
};

static long vm_hwm_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            v = strtol(line + 6, NULL, 10);
    fclose(f);
    return v;
}

static void put_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        assert_true(w > 0);
        b += w;
        n -= (size_t)w;
    }
}

static void put_record(int fd, uint64_t ts, const uint8_t *frame, size_t len)
{
    uint32_t h[4] = {(uint32_t)(ts / 1000000), (uint32_t)(ts % 1000000), (uint32_t)len,
                     (uint32_t)len};
    put_all(fd, h, sizeof h);
    put_all(fd, frame, len);
}

/* Run capture with --memory mem on flows x reqs forged requests streamed into its stdin. */
static void run_capture(const char *mem, int flows, int reqs, struct peak *pk)
{
    char out_path[4200], err_path[4200];
    snprintf(out_path, sizeof out_path, "%s/out.jsonl", dir);
    snprintf(err_path, sizeof err_path, "%s/err.txt", dir);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    fflush(NULL);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        setpgid(0, 0);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int er = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(pfd[0], 0);
        dup2(out, 1);
        dup2(er, 2);
        close(pfd[1]);
        char *argv[] = {(char *)sdiff_test_bin(), "capture", "--pcap", "-", "--port", "8080",
                        "--memory", (char *)mem, "--max-body", "256K", "--out", "-",
                        "--checksums", NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[0]);
    memset(pk, 0, sizeof *pk);

    /* pcap global header: microseconds, snap length 262144, link type 101 (raw IP) */
    uint32_t gh[6] = {0xa1b2c3d4u, 2u | (4u << 16), 0, 0, 262144, 101};
    put_all(pfd[1], gh, sizeof gh);
    char head[128];
    int hl = snprintf(head, sizeof head,
                      "POST /upload HTTP/1.1\r\nHost: svc\r\nContent-Length: %u\r\n\r\n", BODY);
    size_t one = (size_t)hl + BODY, len = one * (size_t)reqs;
    uint8_t *stream = malloc(len), *frame = malloc(40 + SEG);
    assert_non_null(stream);
    assert_non_null(frame);
    for (int i = 0; i < reqs; i++) {
        memcpy(stream + (size_t)i * one, head, (size_t)hl);
        memset(stream + (size_t)i * one + hl, 'a' + i % 26, BODY);
    }
    uint64_t ts = 1700000000000000ull;
    unsigned k = 0;
    for (size_t off = 0; off < len; off += SEG) {
        size_t n = len - off < SEG ? len - off : SEG;
        for (int fl = 0; fl < flows; fl++) {
            size_t flen =
                sdiff_test_forged_frame(frame, fl, 1000u + (uint32_t)off, stream + off, n);
            put_record(pfd[1], ts += 100, frame, flen);
        }
        if (++k % 16 == 0) {
            long h = vm_hwm_kib(child);
            if (h > pk->hwm_kib)
                pk->hwm_kib = h;
        }
    }
    long h = vm_hwm_kib(child);
    if (h > pk->hwm_kib)
        pk->hwm_kib = h;
    free(stream);
    free(frame);
    close(pfd[1]);

    /* wait at most 60 s, then kill it by its PID */
    struct rusage ru;
    int status = 0;
    double end = sdiff_test_now() + 60;
    pid_t r = 0;
    while ((r = wait4(child, &status, WNOHANG, &ru)) == 0 && sdiff_test_now() < end)
        usleep(10000);
    if (r != child) {
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
        child = -1;
        fail_msg("capture did not finish within 60 s");
    }
    child = -1;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    pk->maxrss_kib = ru.ru_maxrss;

    size_t olen = 0, elen = 0;
    char *out = (char *)sdiff_test_read_file(out_path, &olen);
    char *err = (char *)sdiff_test_read_file(err_path, &elen);
    pk->exchanges = (long)sdiff_test_count_lines(out, olen);
    for (const char *p = out; (p = strstr(p, "\"state\":\"shed\"")) != NULL; p++)
        pk->shed++;
    snprintf(pk->summary, sizeof pk->summary, "%s", err);
    free(out);
    free(err);
}

static long peak_kib(const struct peak *pk)
{
    return pk->hwm_kib > pk->maxrss_kib ? pk->hwm_kib : pk->maxrss_kib;
}

static void test_memory__forged_flows_stay_under_the_budget(void **state)
{
    (void)state;
    struct peak base, forged, unbounded;
    char budget[16];
    snprintf(budget, sizeof budget, "%dM", BUDGET_MIB);

    run_capture(budget, 1, 1, &base);
    assert_int_equal(base.exchanges, 1);

    run_capture(budget, FLOWS, REQS, &forged);
    long bound = (BUDGET_MIB + SLACK_MIB) * 1024L + peak_kib(&base);
    print_message("baseline %ld KiB; forged load with --memory %s: VmHWM %ld KiB, ru_maxrss "
                  "%ld KiB (bound %ld KiB); %ld exchanges, %ld shed\n",
                  peak_kib(&base), budget, forged.hwm_kib, forged.maxrss_kib, bound,
                  forged.exchanges, forged.shed);
    /* no request vanished: every request line is an exchange, the shed ones counted */
    assert_int_equal(forged.exchanges, FLOWS * REQS);
    assert_true(forged.shed > 0);
    assert_non_null(strstr(forged.summary, "requests shed"));

    char cmd[4200];
    snprintf(cmd, sizeof cmd, "ldd '%s' | grep -q libasan", sdiff_test_bin());
    if (sdiff_test_sh(cmd, 30) == 0) {
        /* AddressSanitizer's shadow memory and quarantine are not the program's: the
         * resident size says nothing there (the count is checked by test_reasm) */
        print_message("sanitizer build: resident size not compared\n");
        return;
    }
    assert_true(peak_kib(&forged) <= bound);

    run_capture("1G", FLOWS, REQS, &unbounded);
    print_message("same load with --memory 1G: VmHWM %ld KiB, ru_maxrss %ld KiB; %ld shed\n",
                  unbounded.hwm_kib, unbounded.maxrss_kib, unbounded.shed);
    assert_true(peak_kib(&unbounded) > bound);
    assert_int_equal(unbounded.exchanges, FLOWS * REQS);
    assert_int_equal(unbounded.shed, 0);
}

static void test_memory__a_budget_too_small_is_a_usage_error(void **state)
{
    (void)state;
    char *cap[] = {(char *)sdiff_test_bin(), "capture", "--pcap",
                   (char *)sdiff_test_fixture_path("pcap/basic_keepalive.pcap"), "--out", "-",
                   "--memory", "1M", NULL};
    struct sdiff_test_run r = sdiff_test_run(cap, dir, 30);
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    sdiff_test_expect_one_error(&r, "capture", "--memory: '1M' is not a size of at least 8M");
    sdiff_test_run_dispose(&r);
    char *mir[] = {(char *)sdiff_test_bin(), "mirror", "--pcap",
                   (char *)sdiff_test_fixture_path("pcap/basic_keepalive.pcap"), "--port", "8080",
                   "--candidate", "http://127.0.0.1:9", "--db", "x.db", "--memory", "lots", NULL};
    r = sdiff_test_run(mir, dir, 30);
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    sdiff_test_expect_one_error(&r, "mirror", "--memory: 'lots' is not a size of at least 8M");
    sdiff_test_run_dispose(&r);
    /* a flow table for ten million flows takes 8 MiB: every flow would be shed at once */
    char *big[] = {(char *)sdiff_test_bin(), "capture", "--pcap",
                   (char *)sdiff_test_fixture_path("pcap/basic_keepalive.pcap"), "--out", "-",
                   "--memory", "8M", "--max-flows", "10000000", NULL};
    r = sdiff_test_run(big, dir, 30);
    assert_int_equal(sdiff_test_exit_code(&r), 2);
    sdiff_test_expect_one_error(&r, "capture", "leaves no room beside the table of 10000000 flows");
    sdiff_test_run_dispose(&r);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    dir = sdiff_test_tmpdir();
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (child > 0) { /* a failed assertion left it running */
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        child = -1;
    }
    sdiff_test_rmdir(dir);
    free(dir);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory__forged_flows_stay_under_the_budget),
        cmocka_unit_test(test_memory__a_budget_too_small_is_a_usage_error),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
