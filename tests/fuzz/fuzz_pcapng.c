/*
 * fuzz_pcapng.c - libFuzzer target for the pcapng reader (lib/capture/pcapng.c), which reads
 * files libpcap refuses (interfaces of different link types) and so parses untrusted input
 * on its own.
 *
 * Input: a pcapng file, as is (tests/fuzz/seeds.sh writes the fixture pcaps as pcapng in
 * both byte orders, with several interfaces, timestamp resolutions and block kinds).
 *
 * Checked: a file the reader refuses, or a block it stops at, comes with a message; every
 * packet it returns lies inside the input's bytes as the reader buffered them (all of them
 * are read, so ASan sees any overread), has at most its wire length captured and a link
 * type that some interface block gave; the reader ends, in at most one packet per 16 bytes
 * of input.
 *
 * Built by CMake with -DSDIFF_FUZZ=ON (tests/fuzz/README.md), run as
 *   build-fuzz/tests/fuzz/fuzz_pcapng -max_len=8192 corpus/ seeds/pcapng/
 */
#include "sdiff_fuzz.h"

#include <string.h>

#include "capture/capture_int.h"

#define CHECK(x) SDIFF_FUZZ_CHECK(x)

static volatile uint32_t sink; /* keeps the reads of every packet byte */

int sdiff_fuzz_pcapng(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0; /* fmemopen wants a buffer; an empty file is a bad-input test of its own */
    FILE *f = fmemopen((void *)(uintptr_t)data, size, "rb");
    CHECK(f != NULL);
    struct sdiff__pcapng *r = NULL;
    struct sdiff_err err = {0};
    if (sdiff__pcapng_open(&r, f, "input", &err) < 0) { /* f is closed */
        CHECK(r == NULL && err.msg[0] != '\0');
        return 0;
    }
    size_t packets = 0;
    uint32_t sum = 0;
    for (;;) {
        struct sdiff_packet pkt;
        memset(&err, 0, sizeof err);
        int rc = sdiff__pcapng_next(r, &pkt, &err);
        if (rc == SDIFF_END)
            break;
        if (rc < 0) {
            CHECK(err.msg[0] != '\0');
            break;
        }
        packets++;
        CHECK(packets <= size / 16);
        CHECK(pkt.caplen <= pkt.wirelen);
        CHECK(pkt.caplen <= size);
        CHECK(pkt.caplen == 0 || pkt.data != NULL);
        CHECK(pkt.linktype >= 0 && pkt.linktype <= 0xffff);
        for (size_t i = 0; i < pkt.caplen; i++)
            sum += pkt.data[i];
    }
    sdiff__pcapng_close(r);
    sink = sum;
    return 0;
}
