#ifndef SDIFF_FUZZ_H
#define SDIFF_FUZZ_H
/*
 * sdiff_fuzz.h - the entry points of the libFuzzer targets in tests/fuzz/.
 *
 * Each tests/fuzz/fuzz_<name>.c defines sdiff_fuzz_<name>(), which runs one input and
 * returns 0. In the fuzz build (CMakeLists.txt here) fuzz_main.c is the libFuzzer entry
 * point that calls it; in every build the same code links into tests/test_fuzz_regress.c,
 * which replays fixtures/fuzz/<name>/. A broken invariant aborts.
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
int sdiff_fuzz_text(const uint8_t *data, size_t size);

/* An invariant of the code under test: say which one broke, then abort (a libFuzzer crash). */
#define SDIFF_FUZZ_CHECK(x)                                                                    \
    do {                                                                                       \
        if (!(x)) {                                                                            \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);              \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

#endif
