/*
 * it_readme.c - the README's quick start ("Use it on your own service") run as written on
 * the fixture services by tests/tools/readme_walkthrough.sh: capture, replay, report,
 * inspect and accept each exit as documented, the report fails on the planted bugs, inspect
 * gives a curl line and the accepted cluster is listed.
 */
#include "sdiff_test.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_readme__quick_start_runs_as_written(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* the capture of step 1 needs root */
    char bin[4096], cmd[9000], log[4300];
    snprintf(bin, sizeof bin, "%s", sdiff_test_bin());
    char *dir = sdiff_test_tmpdir();
    snprintf(log, sizeof log, "%s/walkthrough.log", dir);
    snprintf(cmd, sizeof cmd, "'%s/../tests/tools/readme_walkthrough.sh' '%s' > '%s' 2>&1",
             sdiff_test_fixture_path(""), dirname(bin), log);
    int rc = sdiff_test_sh(cmd, 240);
    size_t n = 0;
    char *out = (char *)sdiff_test_read_file(log, &n);
    if (rc != 0 || out == NULL || strstr(out, "walkthrough: ok") == NULL)
        fail_msg("the quick start failed:\n%s", out ? out : "(no output)");
    free(out);
    sdiff_test_rmdir(dir);
    free(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_readme__quick_start_runs_as_written),
};
SDIFF_TEST_MAIN(tests)
