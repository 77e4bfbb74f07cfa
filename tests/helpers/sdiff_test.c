#include "sdiff_test.h"

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
