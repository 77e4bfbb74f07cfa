#ifndef SDIFF_FUZZ_H
#define SDIFF_FUZZ_H
/*
 * sdiff_fuzz.h - the entry points of the libFuzzer targets in tests/fuzz/.
 *
 * Each tests/fuzz/fuzz_<name>.c defines sdiff_fuzz_<name>(), which runs one input and
 * returns 0. Built with SDIFF_FUZZ_MAIN (the fuzz build, see CMakeLists.txt here) a file
 * also defines LLVMFuzzerTestOneInput, which calls it; without it, the same code links into
 * tests/test_fuzz_regress.c, which replays fixtures/fuzz/<name>/ in every build. A broken
 * invariant aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int sdiff_fuzz_packets(const uint8_t *data, size_t size);
int sdiff_fuzz_reasm(const uint8_t *data, size_t size);
int sdiff_fuzz_http1(const uint8_t *data, size_t size);
int sdiff_fuzz_codec(const uint8_t *data, size_t size);
int sdiff_fuzz_jdiff(const uint8_t *data, size_t size);
int sdiff_fuzz_rules(const uint8_t *data, size_t size);
int sdiff_fuzz_msg_read(const uint8_t *data, size_t size);
int sdiff_fuzz_pcapng(const uint8_t *data, size_t size);

/* An invariant of the code under test: say which one broke, then abort (a libFuzzer crash). */
#define SDIFF_FUZZ_CHECK(x)                                                                    \
    do {                                                                                       \
        if (!(x)) {                                                                            \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);              \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

#endif
