/*
 * it_deploy.c - what deploy/ ships works with this binary: the YAML passes yamllint, the
 * systemd unit passes systemd-analyze, every shadowdiff invocation in the examples passes the
 * binary's own option parser, and the image built by deploy/image.sh runs: exported from
 * podman, chrooted as the image's user in a network namespace of its own, it captures on lo
 * through its file capability.
 */
#include "sdiff_test.h"

#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

static char top[4096], tmp[4096];

static int setup(void **state)
{
    (void)state;
    /* fixtures/ sits at the top of the source tree */
    snprintf(top, sizeof top, "%s", sdiff_test_fixture_path(""));
    size_t n = strlen(top);
    while (n > 0 && top[n - 1] == '/')
        top[--n] = '\0';
    char *d = dirname(top);
    memmove(top, d, strlen(d) + 1);
    char *t = sdiff_test_tmpdir();
    snprintf(tmp, sizeof tmp, "%s", t);
    free(t);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sdiff_test_rmdir(tmp);
    return 0;
}

/* Run a shell line, its output kept in tmp/out.txt; the exit status. */
static int sh(const char *cmd, double timeout_s)
{
    char full[16384];
    snprintf(full, sizeof full, "(%s) >'%s/out.txt' 2>&1", cmd, tmp);
    int rc = sdiff_test_sh(full, timeout_s);
    if (rc != 0) {
        snprintf(full, sizeof full, "cat '%s/out.txt' >&2", tmp);
        if (system(full) != 0)
            fprintf(stderr, "(no output)\n");
    }
    return rc;
}

static void test_deploy__yaml_passes_yamllint(void **state)
{
    (void)state;
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cd '%s/deploy' && find . -name '*.yaml' | xargs yamllint -s -c .yamllint",
             top);
    assert_int_equal(sh(cmd, 60), 0);
}

static void test_deploy__systemd_unit_verifies(void **state)
{
    (void)state;
    char cmd[16000];
    /* the unit names the installed path; verify a copy that runs this build's binary */
    snprintf(cmd, sizeof cmd,
             "sed 's#/usr/local/bin/shadowdiff#%s#' '%s/deploy/systemd/shadowdiff-mirror.service' "
             ">'%s/shadowdiff-mirror.service' && "
             "SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no '%s/shadowdiff-mirror.service'",
             sdiff_test_bin(), top, tmp, tmp);
    assert_int_equal(sh(cmd, 60), 0);
}

/* Each invocation, followed by --help, must get through the parser: an unknown flag or a
 * bad value exits 2 before --help is reached. */
static void test_deploy__example_flags_pass_the_parser(void **state)
{
    (void)state;
    char cmd[9000], path[4200];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/tools/deploy_invocations.py' '%s/deploy'",
             top, top);
    assert_int_equal(sh(cmd, 60), 0);
    snprintf(path, sizeof path, "%s/out.txt", tmp);
    size_t len;
    char *lines = (char *)sdiff_test_read_file(path, &len);
    int checked = 0;
    for (char *line = strtok(lines, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        assert_non_null(o);
        json_t *args = json_object_get(o, "args");
        size_t n = json_array_size(args);
        char **argv = calloc(n + 3, sizeof *argv);
        argv[0] = (char *)sdiff_test_bin();
        for (size_t i = 0; i < n; i++)
            argv[i + 1] = (char *)json_string_value(json_array_get(args, i));
        argv[n + 1] = "--help";
        struct sdiff_test_run r = sdiff_test_run(argv, tmp, 30);
        if (sdiff_test_exit_code(&r) != 0)
            fail_msg("%s: its shadowdiff flags do not parse: %s",
                     json_string_value(json_object_get(o, "file")), r.err);
        sdiff_test_run_dispose(&r);
        free(argv);
        json_decref(o);
        checked++;
    }
    free(lines);
    assert_true(checked >= 3); /* Kubernetes, Cloud Run, systemd */
}

static void test_deploy__image_captures_as_its_user(void **state)
{
    (void)state;
    char cmd[16000], bin[4096], tag[128], root[4200], ns[64];
    snprintf(bin, sizeof bin, "%s", sdiff_test_bin());
    snprintf(cmd, sizeof cmd, "ldd '%s' | grep -q libasan", bin);
    if (sdiff_test_sh(cmd, 30) == 0) {
        /* a sanitizer build needs /proc and its runtime: the image is for release builds */
        skip();
    }
    snprintf(tag, sizeof tag, "localhost/shadowdiff-test:%d", (int)getpid());
    snprintf(root, sizeof root, "%s/rootfs", tmp);
    snprintf(ns, sizeof ns, "sdiffimg%d", (int)getpid());
    char *bdir = dirname(bin);
    snprintf(cmd, sizeof cmd,
             "BUILD='%s' '%s/deploy/image.sh' '%s' && mkdir '%s' && "
             "cid=$(podman create '%s') && podman export \"$cid\" | "
             "tar --xattrs --xattrs-include=security.capability -C '%s' -xf - ; "
             "podman rm \"$cid\" >/dev/null; podman rmi '%s' >/dev/null",
             bdir, top, tag, root, tag, root, tag);
    assert_int_equal(sh(cmd, 300), 0);

    /* the uncompressed image stays under 30 MB (the Go images it sits beside are about 30) */
    snprintf(cmd, sizeof cmd, "test $(du -sb '%s' | cut -f1) -lt 30000000", root);
    assert_int_equal(sh(cmd, 30), 0);
    snprintf(cmd, sizeof cmd, "getcap '%s/usr/bin/shadowdiff' | grep -q 'cap_net_raw=ep'", root);
    assert_int_equal(sh(cmd, 30), 0);
    snprintf(cmd, sizeof cmd, "chroot --userspec=65532:65532 '%s' /usr/bin/shadowdiff --version",
             root);
    assert_int_equal(sh(cmd, 30), 0);

    /* capture on the loopback of a namespace of our own, as uid 65532 with only the file
     * capability: no ambient capability is set by anyone */
    snprintf(cmd, sizeof cmd, "ip netns add %s && ip netns exec %s ip link set lo up", ns, ns);
    assert_int_equal(sh(cmd, 30), 0);
    char *srv[] = {"/usr/sbin/ip", "netns", "exec", ns, "/usr/bin/python3", "-m", "http.server",
                   "18080", "--bind", "127.0.0.1", NULL};
    int spid = sdiff_test_spawn(srv, NULL, NULL);
    char out[4300], err[4300];
    snprintf(out, sizeof out, "%s/capture.jsonl", tmp);
    snprintf(err, sizeof err, "%s/capture.err", tmp);
    char *cap[] = {"/usr/sbin/ip", "netns", "exec", ns, "/usr/sbin/chroot",
                   "--userspec=65532:65532", root, "/usr/bin/shadowdiff", "capture", "-i", "lo",
                   "--port", "18080", "--out", "-", "--duration", "6", NULL};
    snprintf(cmd, sizeof cmd,
             "for i in $(seq 50); do ip netns exec %s curl -s -o /dev/null "
             "http://127.0.0.1:18080/ && exit 0; sleep 0.1; done; exit 1", ns);
    int ok = sh(cmd, 30) == 0;
    int cpid = ok ? sdiff_test_spawn(cap, out, err) : -1;
    if (ok)
        ok = sdiff_test_wait_file_contains(err, "listening on lo", 10) == 0;
    snprintf(cmd, sizeof cmd,
             "for i in 1 2 3; do ip netns exec %s curl -s -o /dev/null "
             "http://127.0.0.1:18080/img$i || exit 1; done", ns);
    if (ok)
        ok = sh(cmd, 30) == 0;
    int st = cpid > 0 ? sdiff_test_wait(cpid, 20) : -1;
    sdiff_test_stop(spid, SIGTERM, 5);
    snprintf(cmd, sizeof cmd, "ip netns del %s", ns);
    sh(cmd, 30);
    assert_true(ok);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    snprintf(cmd, sizeof cmd, "test $(grep -c '\"target\":\"/img' '%s') -eq 3", out);
    assert_int_equal(sh(cmd, 30), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_deploy__yaml_passes_yamllint),
    cmocka_unit_test(test_deploy__systemd_unit_verifies),
    cmocka_unit_test(test_deploy__example_flags_pass_the_parser),
    cmocka_unit_test(test_deploy__image_captures_as_its_user),
};

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
