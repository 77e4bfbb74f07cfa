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
 *
 * Tunnels (sdiff_decode_frame_decap): VXLAN (RFC 7348) and Geneve (RFC 8926) on configured
 * UDP ports, GRE (RFC 2784, RFC 2890 key and sequence number) by IP protocol 47, and ERSPAN
 * type I/II/III inside GRE (draft-foschiano-erspan-03), nested up to SDIFF_TUNNEL_MAX_DEPTH
 * deep. The segment is the innermost TCP one; seg->tun says what was removed and carries
 * the identity of the tunnel (endpoints and VNI/key), so flows from different mirrored
 * sources with the same inner addresses stay apart.
 */

enum sdiff_decode_kind {
    SDIFF_DECODE_TCP = 0,     /* seg is filled */
    SDIFF_DECODE_NOT_IP,      /* ARP, LLDP, ... */
    SDIFF_DECODE_NOT_TCP,     /* UDP, ICMP, ... */
    SDIFF_DECODE_FRAGMENT,    /* an IP fragment: counted, not reassembled */
    SDIFF_DECODE_TRUNCATED,   /* headers cut by the snap length */
    SDIFF_DECODE_MALFORMED,   /* inconsistent lengths, bad version, bad header length */
    SDIFF_DECODE_LINKTYPE,    /* a link type we do not decode */
    SDIFF_DECODE_TOO_DEEP,    /* tunnels nested deeper than SDIFF_TUNNEL_MAX_DEPTH */
    SDIFF_DECODE__COUNT
};

#define SDIFF_TCP_FIN 0x01
#define SDIFF_TCP_SYN 0x02
#define SDIFF_TCP_RST 0x04
#define SDIFF_TCP_PSH 0x08
#define SDIFF_TCP_ACK 0x10

enum sdiff_tunnel_kind {
    SDIFF_TUN_VXLAN = 0,
    SDIFF_TUN_GENEVE,
    SDIFF_TUN_GRE,            /* GRE carrying IP or Ethernet */
    SDIFF_TUN_ERSPAN,         /* GRE carrying ERSPAN type I, II or III */
    SDIFF_TUN__COUNT
};

#define SDIFF_TUNNEL_MAX_DEPTH 4
#define SDIFF_DECAP_MAX_PORTS 8

/* What to decapsulate. All zero: nothing (sdiff_decode_frame). */
struct sdiff_decap {
    uint16_t vxlan_ports[SDIFF_DECAP_MAX_PORTS]; /* UDP destination ports */
    size_t nvxlan;
    uint16_t geneve_ports[SDIFF_DECAP_MAX_PORTS];
    size_t ngeneve;
    int gre;                  /* GRE and ERSPAN (IP protocol 47) */
};

/* VXLAN on the IANA port and Linux's default, Geneve on its IANA port, GRE and ERSPAN. */
#define SDIFF_DECAP_INIT {{4789, 8472}, 2, {6081}, 1, 1}

/*
 * The tunnels a segment came through. The identity (family, addr, id, outer) is that of the
 * innermost tunnel: its outer IP endpoints (lower address first, so both directions of a
 * connection agree), its VNI / GRE key / ERSPAN session, and a digest of any tunnels around
 * it. Compare with sdiff_tunnel_equal.
 */
struct sdiff_tunnel {
    uint8_t depth;                        /* tunnels removed; 0: none (the rest is unset) */
    uint8_t kind[SDIFF_TUNNEL_MAX_DEPTH]; /* enum sdiff_tunnel_kind, outermost first */
    uint8_t family;                       /* 4 or 6 */
    uint8_t addr[2][16];
    uint32_t id;                          /* VNI, GRE key or ERSPAN session; 0 when none */
    uint64_t outer;                       /* digest of the enclosing tunnels; 0 at depth 1 */
    int frame_linktype;                   /* innermost frame: 1 (Ethernet) or 101 (raw IP) */
    size_t frame_off;                     /* and where it starts in the captured frame */
};

struct sdiff_segment {
    uint64_t ts_us;           /* capture timestamp, microseconds since the epoch */
    uint8_t family;           /* 4 or 6 */
    uint8_t src[16], dst[16]; /* IPv4 addresses use the first 4 bytes, rest zero */
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;            /* SDIFF_TCP_* */
    uint16_t window;          /* advertised receive window, unscaled */
    uint8_t has_wscale;       /* SYN only: a window scale option was present */
    uint8_t wscale;           /* its shift count (at most 14) */
    const uint8_t *payload;   /* borrowed from the frame */
    size_t len;               /* payload bytes captured */
    size_t missing;           /* payload bytes on the wire but cut by the snap length */
    struct sdiff_tunnel tun;  /* tun.depth is 0 unless decapsulated */
    const uint8_t *tcp;       /* the TCP header, borrowed; NULL when it cannot be checked */
    uint64_t tcp_len;         /* TCP header and payload length on the wire */
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

/**
 * Decode one frame, removing the tunnels d enables (NULL: none). Also sets seg->tun.depth
 * and seg->tun.kind when the result is not SDIFF_DECODE_TCP, so callers can count what was
 * decapsulated.
 */
SDIFF_API enum sdiff_decode_kind sdiff_decode_frame_decap(const struct sdiff_decap *d,
                                                          int linktype, const uint8_t *data,
                                                          size_t caplen, size_t wirelen,
                                                          uint64_t ts_us,
                                                          struct sdiff_segment *seg);

/** Whether two segments came through the same tunnel (or both through none). */
SDIFF_API int sdiff_tunnel_equal(const struct sdiff_tunnel *a, const struct sdiff_tunnel *b);
/** A hash of the tunnel identity (0 for none), for flow tables. */
SDIFF_API uint64_t sdiff_tunnel_hash(const struct sdiff_tunnel *t);

/**
 * Apply one --decap option: "none" (nothing), "vxlan:PORT[,PORT...]",
 * "geneve:PORT[,PORT...]" (replace that kind's ports), "vxlan:off", "geneve:off", "gre",
 * "gre:off" (GRE covers ERSPAN).
 * @return SDIFF_OK or SDIFF_EINVAL (err says what was wrong)
 */
SDIFF_API int sdiff_decap_parse(struct sdiff_decap *d, const char *spec, struct sdiff_err *err);

/** Short name of a tunnel kind ("vxlan"). */
SDIFF_API const char *sdiff_tunnel_kind_str(enum sdiff_tunnel_kind k);

/**
 * Verify the TCP checksum of a decoded segment (the frame must still be valid).
 * @return 1 intact, 0 bad, -1 cannot tell (payload cut by the snap length, an IPv6 routing
 *         header, or a segment not made by sdiff_decode_frame)
 */
SDIFF_API int sdiff_decode_tcp_checksum(const struct sdiff_segment *seg);

/** Whether the decoder knows this link type. */
SDIFF_API int sdiff_decode_linktype_supported(int linktype);

/** Short name of a result ("fragment"), for summaries. */
SDIFF_API const char *sdiff_decode_kind_str(enum sdiff_decode_kind k);

#ifdef __cplusplus
}
#endif
#endif
