/*
 * it_install.c - `cmake --install` of this build into a temporary prefix: the command runs,
 * its man page renders with a section for every command, the bash completion completes
 * commands and flags from the installed binary, and no headers are installed.
 */
#include "sdiff_test.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char prefix[4096];

static int setup(void **state)
{
    (void)state;
    char bin[4096], cmd[9000];
    snprintf(bin, sizeof bin, "%s", sdiff_test_bin());
    char *d = sdiff_test_tmpdir();
    snprintf(prefix, sizeof prefix, "%s", d);
    free(d);
    /* the binary sits at the top of the build tree */
    snprintf(cmd, sizeof cmd, "cmake --install '%s' --prefix '%s' >'%s/install.log' 2>&1",
             dirname(bin), prefix, prefix);
    return sdiff_test_sh(cmd, 120) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    sdiff_test_rmdir(prefix);
    return 0;
}

/* stdout of a shell command, as one string the caller frees */
static char *sh_out(const char *cmd)
{
    char path[4200], full[12000];
    snprintf(path, sizeof path, "%s/out.txt", prefix);
    snprintf(full, sizeof full, "(%s) >'%s' 2>&1", cmd, path);
    assert_int_equal(sdiff_test_sh(full, 60), 0);
    size_t len;
    return (char *)sdiff_test_read_file(path, &len);
}

static void test_install__binary_runs_from_the_prefix(void **state)
{
    (void)state;
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "'%s/bin/shadowdiff' --version", prefix);
    char *out = sh_out(cmd);
    assert_non_null(strstr(out, "shadowdiff "));
    free(out);
}

static void test_install__man_page_has_every_command(void **state)
{
    (void)state;
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "MANWIDTH=100 man -l '%s/share/man/man1/shadowdiff.1'", prefix);
    char *out = sh_out(cmd);
    const char *commands[] = {"capture", "replay", "mirror", "gate", "diff", "report",
                              "inspect", "accept"};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "shadowdiff %s", commands[i]);
        if (strstr(out, want) == NULL)
            fail_msg("man page has no section '%s'", want);
    }
    assert_non_null(strstr(out, "--corpus")); /* the commands' own options are there */
    free(out);
}

static void test_install__completion_reads_the_binary(void **state)
{
    (void)state;
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "bash -c '. \"%s/share/bash-completion/completions/shadowdiff\"; "
             "COMP_WORDS=(\"%s/bin/shadowdiff\" re); COMP_CWORD=1; _shadowdiff; "
             "echo \"${COMPREPLY[*]}\"; "
             "COMP_WORDS=(\"%s/bin/shadowdiff\" replay --cor); COMP_CWORD=2; _shadowdiff; "
             "echo \"${COMPREPLY[*]}\"'",
             prefix, prefix, prefix);
    char *out = sh_out(cmd);
    assert_non_null(strstr(out, "replay"));
    assert_non_null(strstr(out, "report"));
    assert_null(strstr(out, "capture"));
    assert_non_null(strstr(out, "--corpus"));
    free(out);
}

static void test_install__no_headers_without_a_library(void **state)
{
    (void)state;
    char path[4200];
    snprintf(path, sizeof path, "%s/include", prefix);
    assert_int_not_equal(access(path, F_OK), 0);
}

/*
 * The README's demo run by a user who cannot capture says what it needs, in two lines, and
 * starts nothing (it used to end in "kill: No such process").
 */
static void test_install__demo_without_capture_permission_says_what_it_needs(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* needs to become another user */
    char cmd[12000];
    /* a copy of the script and of the binary (no file capability) that user 65534 can read */
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/demo/tests/tools' '%s/demo/build' && cp '%s/../tests/tools/demo.sh' "
             "'%s/demo/tests/tools/' && cp '%s/bin/shadowdiff' '%s/demo/build/' && "
             "chmod -R a+rX '%s' && cd '%s/demo' && "
             "setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "
             "bash tests/tools/demo.sh build /tmp/never.db; echo \"exit $?\"",
             prefix, prefix, sdiff_test_fixture_path(""), prefix, prefix, prefix, prefix,
             prefix);
    char *out = sh_out(cmd);
    if (strstr(out, "demo: the demo captures on lo, which needs root or CAP_NET_RAW") == NULL)
        fail_msg("demo said: %.600s", out);
    assert_non_null(strstr(out, "setcap cap_net_raw+ep build/shadowdiff"));
    assert_non_null(strstr(out, "exit 2"));
    assert_null(strstr(out, "No such process"));
    assert_null(strstr(out, "starting the legacy service"));
    free(out);
}

/*
 * The README's Flask one-liner, as written there, on the fixture Flask service: a config
 * whose routes are the app's URL rules as templates, which shadowdiff loads.
 */
static void test_install__readme_flask_routes_one_liner_gives_a_config(void **state)
{
    (void)state;
    char cmd[12000];
    /* the lines from "# Flask:" to the first "> routes.json", from the README itself */
    snprintf(cmd, sizeof cmd,
             "cd '%s/services/legacy' && sed -n '/^# Flask:/,/> routes.json$/p' '%s/../README.md' "
             "| sed '1d; s|^python3 |/usr/bin/python3 |; s|> routes.json$|> \\x27%s/routes.json\\x27|' "
             "> '%s/flask.sh' && sh '%s/flask.sh' && "
             "'%s/bin/shadowdiff' diff --config '%s/routes.json' --help >/dev/null && "
             "cat '%s/routes.json'",
             sdiff_test_fixture_path(""), sdiff_test_fixture_path(""), prefix, prefix, prefix,
             prefix, prefix, prefix);
    char *out = sh_out(cmd);
    if (strstr(out, "\"GET /api/users/{uid}\": {}") == NULL)
        fail_msg("the one-liner gave: %.600s", out);
    assert_non_null(strstr(out, "\"POST /api/orders\": {}"));
    free(out);
}

/* Every command's help opens with an example (within its first lines) and ends with its
 * exit codes: what clig.dev asks of a command line, checked on every command the tool
 * lists. */
static void test_install__every_help_has_examples_and_exit_codes(void **state)
{
    (void)state;
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "b='%s/bin/shadowdiff'; for c in $(\"$b\" --help | sed -n 's/^  \\([a-z][a-z]*\\)  .*/\\1/p');"
             " do h=$(\"$b\" $c --help) || { echo \"$c: exit $?\"; continue; };"
             " echo \"$h\" | head -12 | grep -q '^  shadowdiff '\"$c\"' ' || echo \"$c: no example\";"
             " echo \"$h\" | tail -4 | grep -q 'Exit' || echo \"$c: no exit codes\"; done; echo done",
             prefix);
    char *out = sh_out(cmd);
    if (strcmp(out, "done\n") != 0)
        fail_msg("%s", out);
    free(out);
}

/* The README's config example, as written there, is a config shadowdiff loads. */
static void test_install__readme_config_example_loads(void **state)
{
    (void)state;
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && sed -n '/^### The config file/,/^```$/p' '%s/../README.md' | "
             "sed -n '/^```json$/,/^```$/p' | sed '1d;$d' > cfg.json && "
             "printf '{\"a\": 1}' > a.json && printf '{\"a\": 1}' > b.json && "
             "'%s/bin/shadowdiff' diff --config cfg.json a.json b.json && grep -c . cfg.json",
             prefix, sdiff_test_fixture_path(""), prefix);
    char *out = sh_out(cmd);
    assert_non_null(strstr(out, "identical"));
    /* the last line is the example's line count: the whole block was taken */
    const char *last = out + strlen(out);
    while (last > out && (last[-1] == '\n'))
        last--;
    while (last > out && last[-1] != '\n')
        last--;
    assert_true(atoi(last) >= 20);
    free(out);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_install__binary_runs_from_the_prefix),
    cmocka_unit_test(test_install__man_page_has_every_command),
    cmocka_unit_test(test_install__completion_reads_the_binary),
    cmocka_unit_test(test_install__no_headers_without_a_library),
    cmocka_unit_test(test_install__demo_without_capture_permission_says_what_it_needs),
    cmocka_unit_test(test_install__readme_flask_routes_one_liner_gives_a_config),
    cmocka_unit_test(test_install__every_help_has_examples_and_exit_codes),
    cmocka_unit_test(test_install__readme_config_example_loads),
};

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
