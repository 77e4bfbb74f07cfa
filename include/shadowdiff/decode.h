#ifndef SDIFF_DECODE_H
#define SDIFF_DECODE_H

#include "shadowdiff/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/decode.h - link, network and TCP header decoding: one captured frame in, one
 * TCP segment (4-tuple, sequence numbers, flags, payload view) out.
 *
 * Link types (pcap DLT/LINKTYPE numbers): NULL/LOOP (BSD loopback, either byte order),
 * Ethernet with any number of 802.1Q/802.1ad tags, Linux cooked v1 (113) and v2 (276), raw
 * IP (12, 14, 101, 228, 229). IPv4 with options; IPv4 fragments are not reassembled, they are
 * reported as SDIFF_DECODE_FRAGMENT. IPv6 with hop-by-hop, routing, destination-options and
 * fragment extension headers. No allocation; the payload view borrows the frame bytes.
 */

enum sdiff_decode_kind {
    SDIFF_DECODE_TCP = 0,     /* seg is filled */
    SDIFF_DECODE_NOT_IP,      /* ARP, LLDP, ... */
    SDIFF_DECODE_NOT_TCP,     /* UDP, ICMP, ... */
    SDIFF_DECODE_FRAGMENT,    /* an IP fragment: counted, not reassembled */
    SDIFF_DECODE_TRUNCATED,   /* headers cut by the snap length */
    SDIFF_DECODE_MALFORMED,   /* inconsistent lengths, bad version, bad header length */
    SDIFF_DECODE_LINKTYPE,    /* a link type we do not decode */
    SDIFF_DECODE__COUNT
};

#define SDIFF_TCP_FIN 0x01
#define SDIFF_TCP_SYN 0x02
#define SDIFF_TCP_RST 0x04
#define SDIFF_TCP_PSH 0x08
#define SDIFF_TCP_ACK 0x10

struct sdiff_segment {
    uint64_t ts_us;           /* capture timestamp, microseconds since the epoch */
    uint8_t family;           /* 4 or 6 */
    uint8_t src[16], dst[16]; /* IPv4 addresses use the first 4 bytes, rest zero */
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;            /* SDIFF_TCP_* */
    const uint8_t *payload;   /* borrowed from the frame */
    size_t len;               /* payload bytes captured */
    size_t missing;           /* payload bytes on the wire but cut by the snap length */
};

/**
 * Decode one frame.
 *
 * @param linktype  pcap data link type of the frame
 * @param data      caplen captured bytes; borrowed, seg->payload points into them
 * @param wirelen   the frame's length on the wire (>= caplen)
 * @param[out] seg  filled when the result is SDIFF_DECODE_TCP
 * @return an enum sdiff_decode_kind; never fails otherwise
 */
SDIFF_API enum sdiff_decode_kind sdiff_decode_frame(int linktype, const uint8_t *data,
                                                    size_t caplen, size_t wirelen,
                                                    uint64_t ts_us, struct sdiff_segment *seg);

/** Whether the decoder knows this link type. */
SDIFF_API int sdiff_decode_linktype_supported(int linktype);

/** Short name of a result ("fragment"), for summaries. */
SDIFF_API const char *sdiff_decode_kind_str(enum sdiff_decode_kind k);

#ifdef __cplusplus
}
#endif
#endif
