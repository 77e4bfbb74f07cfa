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

#endif
