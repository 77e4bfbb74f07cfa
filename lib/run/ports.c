/*
 * ports.c - the busiest TCP ports of a capture file: what a capture that matched nothing
 * names, so a wrong --port is visible at once. One pass, a counter per port.
 */
#include "shadowdiff/run.h"

#include <string.h>

int sdiff_run_busiest_ports(const char *pcap_file, uint16_t *ports, uint64_t *packets,
                            size_t *n, struct sdiff_err *err)
{
    struct sdiff_capture *cap = NULL;
    struct sdiff_capture_opts co;
    struct sdiff_packet pkt;
    struct sdiff_segment seg;
    uint64_t *count = NULL;
    size_t want = *n;
    int rc;
    *n = 0;
    memset(&co, 0, sizeof co);
    co.pcap_file = pcap_file;
    count = sdiff_calloc(65536, sizeof *count);
    if (count == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "capture", "out of memory");
    rc = sdiff_capture_open(&cap, &co, err);
    while (rc >= 0 && (rc = sdiff_capture_next(cap, &pkt, err)) == SDIFF_OK) {
        if (sdiff_decode_frame(pkt.linktype, pkt.data, pkt.caplen, pkt.wirelen, pkt.ts_us,
                               &seg) != SDIFF_DECODE_TCP)
            continue;
        /* both ends: the service's port is in every packet of every connection, a client's
         * ephemeral port only in its own */
        count[seg.sport]++;
        count[seg.dport]++;
    }
    if (rc == SDIFF_END || rc == SDIFF_MORE)
        rc = SDIFF_OK;
    for (size_t k = 0; rc >= 0 && k < want; k++) {
        size_t best = 0;
        for (size_t p = 1; p < 65536; p++)
            if (count[p] > count[best])
                best = p;
        if (count[best] == 0)
            break;
        ports[k] = (uint16_t)best;
        packets[k] = count[best];
        count[best] = 0;
        (*n)++;
    }
    sdiff_capture_close(cap);
    sdiff_free(count);
    return rc;
}
