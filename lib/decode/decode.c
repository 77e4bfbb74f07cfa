/*
 * decode.c - one captured frame to one TCP segment: link header, IPv4/IPv6, TCP.
 *
 * Every field is read through sdiff_rd; nothing is cast to a header struct and nothing is
 * allocated. Lengths are carried as uint64_t so that a jumbogram length or a wire length near
 * SIZE_MAX cannot wrap. The payload view borrows the caller's frame bytes.
 */
#include "shadowdiff/decode.h"

#include <string.h>

/* Network protocol selected by the link layer. */
enum net_proto { NET_NONE = 0, NET_IPV4, NET_IPV6, NET_BY_VERSION };

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8
#define ETHERTYPE_QINQ_OLD 0x9100

#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_TCP_ 6
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_NONE_ 59
#define IPPROTO_DSTOPTS_ 60

/* ---- link layer ------------------------------------------------------------------------ */

/*
 * BSD loopback address family. DLT_NULL stores it in the capturing host's byte order, so a
 * value with the high 16 bits set was written by a host of the other endianness.
 * AF_INET6 differs per OS: 10 Linux, 24 NetBSD/OpenBSD, 28 FreeBSD, 30 Darwin.
 */
static enum net_proto loop_family(uint32_t fam)
{
    if ((fam & 0xffff0000u) != 0)
        fam = ((fam & 0xffu) << 24) | ((fam & 0xff00u) << 8) | ((fam >> 8) & 0xff00u) | (fam >> 24);
    switch (fam) {
    case 2: return NET_IPV4;
    case 10:
    case 24:
    case 28:
    case 30: return NET_IPV6;
    default: return NET_NONE;
    }
}

static enum net_proto ethertype_proto(uint16_t et)
{
    if (et == ETHERTYPE_IPV4)
        return NET_IPV4;
    if (et == ETHERTYPE_IPV6)
        return NET_IPV6;
    return NET_NONE;
}

/*
 * Read an ethertype and skip any 802.1Q / 802.1ad tags after it (each tag is TCI(2) followed
 * by the next ethertype(2)). The cursor ends at the network header.
 */
static uint16_t read_ethertype(struct sdiff_rd *r)
{
    uint16_t et = sdiff_rd_u16be(r);
    while (!r->bad && (et == ETHERTYPE_VLAN || et == ETHERTYPE_QINQ || et == ETHERTYPE_QINQ_OLD)) {
        sdiff_rd_skip(r, 2);
        et = sdiff_rd_u16be(r);
    }
    return et;
}

/* Position r at the network header; NET_NONE with r->bad set means the header was cut. */
static enum net_proto decode_link(int linktype, struct sdiff_rd *r)
{
    switch (linktype) {
    case 0: /* DLT_NULL: host byte order of the capturing machine */
        return loop_family(sdiff_rd_u32le(r));
    case 108: /* DLT_LOOP: network byte order */
        return loop_family(sdiff_rd_u32be(r));
    case 1: /* Ethernet: dst(6) src(6) ethertype(2) */
        sdiff_rd_skip(r, 12);
        return ethertype_proto(read_ethertype(r));
    case 113: /* Linux cooked v1: type(2) arphrd(2) alen(2) addr(8) protocol(2) */
        sdiff_rd_skip(r, 14);
        return ethertype_proto(read_ethertype(r));
    case 276: {
        /* Linux cooked v2: protocol(2) mbz(2) ifindex(4) arphrd(2) type(1) alen(1) addr(8) */
        uint16_t proto = sdiff_rd_u16be(r);
        sdiff_rd_skip(r, 18);
        if (!r->bad &&
            (proto == ETHERTYPE_VLAN || proto == ETHERTYPE_QINQ || proto == ETHERTYPE_QINQ_OLD)) {
            sdiff_rd_skip(r, 2);
            proto = read_ethertype(r);
        }
        return ethertype_proto(proto);
    }
    case 12:
    case 14:
    case 101: return NET_BY_VERSION;
    case 228: return NET_IPV4;
    case 229: return NET_IPV6;
    default: return NET_NONE;
    }
}

/* ---- network and transport ------------------------------------------------------------- */

/*
 * Where the IP payload sits in the frame: [off, off + cap) is captured; ip_left is the payload
 * length on the wire according to the IP length fields (so ip_left - cap bytes were cut).
 */
struct ip_view {
    size_t off;
    uint64_t cap;
    uint64_t ip_left;
};

/*
 * TCP header and payload (RFC 9293 section 3.1):
 *  sport(2) dport(2) seq(4) ack(4) doff(4 bits) rsvd(4 bits) flags(8) window(2) csum(2) urg(2)
 */
static enum sdiff_decode_kind decode_tcp(const uint8_t *data, const struct ip_view *v,
                                         struct sdiff_segment *seg)
{
    if (v->ip_left < 20)
        return SDIFF_DECODE_MALFORMED;
    if (v->cap < 20)
        return SDIFF_DECODE_TRUNCATED;
    struct sdiff_rd r;
    sdiff_rd_init(&r, data + v->off, (size_t)v->cap);
    seg->sport = sdiff_rd_u16be(&r);
    seg->dport = sdiff_rd_u16be(&r);
    seg->seq = sdiff_rd_u32be(&r);
    seg->ack = sdiff_rd_u32be(&r);
    unsigned doff = (unsigned)(sdiff_rd_u8(&r) >> 4) * 4u;
    seg->flags = sdiff_rd_u8(&r);
    if (doff < 20 || doff > v->ip_left)
        return SDIFF_DECODE_MALFORMED;
    if (doff > v->cap)
        return SDIFF_DECODE_TRUNCATED;
    seg->payload = data + v->off + doff;
    seg->len = (size_t)(v->cap - doff);
    seg->missing = (size_t)(v->ip_left - v->cap);
    return SDIFF_DECODE_TCP;
}

/*
 * Settle the IP payload view once the header length (hdr) and the total IP length on the wire
 * are known: trim link padding after the IP packet and compute what the snap length cut.
 */
static enum sdiff_decode_kind ip_payload(size_t net_off, uint64_t net_cap, uint64_t net_wire,
                                         uint64_t hdr, uint64_t total, struct ip_view *v)
{
    if (total < hdr)
        return SDIFF_DECODE_MALFORMED;
    /* The IP length claims more bytes than the frame had on the wire. */
    if (total > net_wire)
        return SDIFF_DECODE_MALFORMED;
    if (hdr > net_cap)
        return SDIFF_DECODE_TRUNCATED;
    v->off = net_off + (size_t)hdr;
    v->cap = (total < net_cap ? total : net_cap) - hdr;
    v->ip_left = total - hdr;
    return SDIFF_DECODE_TCP;
}

/*
 * IPv4 header (RFC 791):
 *  ver/ihl(1) tos(1) total_len(2) id(2) flags/frag_off(2) ttl(1) proto(1) csum(2) src(4) dst(4)
 */
static enum sdiff_decode_kind decode_ipv4(const uint8_t *data, size_t net_off, uint64_t net_cap,
                                          uint64_t net_wire, struct sdiff_segment *seg)
{
    struct sdiff_rd r;
    sdiff_rd_init(&r, data + net_off, (size_t)net_cap);
    uint8_t vihl = sdiff_rd_u8(&r);
    if (r.bad)
        return SDIFF_DECODE_TRUNCATED;
    if ((vihl >> 4) != 4)
        return SDIFF_DECODE_MALFORMED;
    uint64_t ihl = (uint64_t)(vihl & 0x0f) * 4;
    if (ihl < 20)
        return SDIFF_DECODE_MALFORMED;
    sdiff_rd_skip(&r, 1);
    uint64_t total = sdiff_rd_u16be(&r);
    sdiff_rd_skip(&r, 2);
    uint16_t frag = sdiff_rd_u16be(&r);
    sdiff_rd_skip(&r, 1);
    uint8_t proto = sdiff_rd_u8(&r);
    sdiff_rd_skip(&r, 2);
    const uint8_t *src = sdiff_rd_bytes(&r, 4);
    const uint8_t *dst = sdiff_rd_bytes(&r, 4);
    if (r.bad)
        return SDIFF_DECODE_TRUNCATED;
    /*
     * A zero total length is what TCP segmentation offload leaves in packets captured on the
     * sending host (as tcpdump does, take the packet to run to the end of the frame).
     */
    if (total == 0)
        total = net_wire;

    struct ip_view v;
    enum sdiff_decode_kind k = ip_payload(net_off, net_cap, net_wire, ihl, total, &v);
    if (k != SDIFF_DECODE_TCP)
        return k;
    if ((frag & 0x3fff) != 0) /* MF or a fragment offset */
        return SDIFF_DECODE_FRAGMENT;
    if (proto != IPPROTO_TCP_)
        return SDIFF_DECODE_NOT_TCP;
    seg->family = 4;
    memcpy(seg->src, src, 4);
    memset(seg->src + 4, 0, 12);
    memcpy(seg->dst, dst, 4);
    memset(seg->dst + 4, 0, 12);
    return decode_tcp(data, &v, seg);
}

/*
 * Jumbo Payload option (RFC 2675) in the hop-by-hop header at r's position, read on a copy of
 * the cursor; 0 when absent or cut (the extension-header walk reports the truncation).
 */
static uint64_t ipv6_jumbo_len(struct sdiff_rd r)
{
    sdiff_rd_skip(&r, 1);
    size_t hlen = ((size_t)sdiff_rd_u8(&r) + 1) * 8;
    const uint8_t *opts = sdiff_rd_bytes(&r, hlen - 2);
    if (opts == NULL)
        return 0;
    sdiff_rd_init(&r, opts, hlen - 2);
    while (sdiff_rd_left(&r) > 0) {
        uint8_t type = sdiff_rd_u8(&r);
        if (type == 0) /* Pad1 */
            continue;
        uint8_t olen = sdiff_rd_u8(&r);
        if (type == 0xc2 && olen == 4)
            return sdiff_rd_u32be(&r);
        sdiff_rd_skip(&r, olen);
    }
    return 0;
}

/*
 * IPv6 header (RFC 8200): ver/tc/flow(4) payload_len(2) next(1) hops(1) src(16) dst(16),
 * then a chain of extension headers, each starting with next(1) and, except for the fixed
 * 8-byte fragment header, len(1) in 8-octet units not counting the first 8.
 */
static enum sdiff_decode_kind decode_ipv6(const uint8_t *data, size_t net_off, uint64_t net_cap,
                                          uint64_t net_wire, struct sdiff_segment *seg)
{
    struct sdiff_rd r;
    sdiff_rd_init(&r, data + net_off, (size_t)net_cap);
    uint8_t ver = sdiff_rd_u8(&r);
    if (r.bad)
        return SDIFF_DECODE_TRUNCATED;
    if ((ver >> 4) != 6)
        return SDIFF_DECODE_MALFORMED;
    sdiff_rd_skip(&r, 3);
    uint64_t plen = sdiff_rd_u16be(&r);
    uint8_t nh = sdiff_rd_u8(&r);
    sdiff_rd_skip(&r, 1);
    const uint8_t *src = sdiff_rd_bytes(&r, 16);
    const uint8_t *dst = sdiff_rd_bytes(&r, 16);
    if (r.bad)
        return SDIFF_DECODE_TRUNCATED;

    uint64_t total;
    if (plen != 0) {
        total = 40 + plen;
    } else {
        /* A jumbogram, or (without the option) a TSO packet captured on the sender. */
        total = net_wire;
        if (nh == IPPROTO_HOPOPTS_) {
            uint64_t jumbo = ipv6_jumbo_len(r);
            if (jumbo != 0)
                total = 40 + jumbo;
        }
    }
    if (total > net_wire)
        return SDIFF_DECODE_MALFORMED;

    uint64_t hdr = 40;
    for (;;) {
        if (nh == IPPROTO_TCP_)
            break;
        if (nh != IPPROTO_HOPOPTS_ && nh != IPPROTO_ROUTING_ && nh != IPPROTO_DSTOPTS_ &&
            nh != IPPROTO_FRAGMENT_)
            return SDIFF_DECODE_NOT_TCP; /* ESP, AH, UDP, ICMPv6, no next header (59) ... */
        if (hdr + 8 > total)
            return SDIFF_DECODE_MALFORMED;
        uint8_t next = sdiff_rd_u8(&r);
        uint8_t elen = sdiff_rd_u8(&r);
        if (nh == IPPROTO_FRAGMENT_) {
            uint16_t offm = sdiff_rd_u16be(&r);
            sdiff_rd_skip(&r, 4);
            if (r.bad)
                return SDIFF_DECODE_TRUNCATED;
            /* An atomic fragment (offset 0, M clear, RFC 6946) is a whole packet. */
            if ((offm & 0xfff9) != 0)
                return SDIFF_DECODE_FRAGMENT;
            hdr += 8;
        } else {
            uint64_t hlen = ((uint64_t)elen + 1) * 8;
            if (hdr + hlen > total)
                return SDIFF_DECODE_MALFORMED;
            sdiff_rd_skip(&r, (size_t)hlen - 2);
            if (r.bad)
                return SDIFF_DECODE_TRUNCATED;
            hdr += hlen;
        }
        nh = next;
    }

    struct ip_view v;
    enum sdiff_decode_kind k = ip_payload(net_off, net_cap, net_wire, hdr, total, &v);
    if (k != SDIFF_DECODE_TCP)
        return k;
    seg->family = 6;
    memcpy(seg->src, src, 16);
    memcpy(seg->dst, dst, 16);
    return decode_tcp(data, &v, seg);
}

/* ---- API ------------------------------------------------------------------------------- */

enum sdiff_decode_kind sdiff_decode_frame(int linktype, const uint8_t *data, size_t caplen,
                                          size_t wirelen, uint64_t ts_us, struct sdiff_segment *seg)
{
    if (SDIFF_NEVER(seg == NULL))
        return SDIFF_DECODE_MALFORMED;
    if (data == NULL)
        caplen = 0;
    if (wirelen < caplen)
        wirelen = caplen;

    struct sdiff_rd r;
    sdiff_rd_init(&r, data, caplen);
    enum net_proto np = decode_link(linktype, &r);
    if (r.bad)
        return SDIFF_DECODE_TRUNCATED;
    if (np == NET_NONE)
        return sdiff_decode_linktype_supported(linktype) ? SDIFF_DECODE_NOT_IP
                                                         : SDIFF_DECODE_LINKTYPE;
    size_t net_off = r.off;
    uint64_t net_cap = caplen - net_off;
    uint64_t net_wire = wirelen - net_off;
    if (np == NET_BY_VERSION) {
        if (net_cap == 0)
            return SDIFF_DECODE_TRUNCATED;
        unsigned ver = data[net_off] >> 4;
        if (ver == 4)
            np = NET_IPV4;
        else if (ver == 6)
            np = NET_IPV6;
        else
            return SDIFF_DECODE_MALFORMED;
    }

    seg->ts_us = ts_us;
    if (np == NET_IPV4)
        return decode_ipv4(data, net_off, net_cap, net_wire, seg);
    return decode_ipv6(data, net_off, net_cap, net_wire, seg);
}

int sdiff_decode_linktype_supported(int linktype)
{
    switch (linktype) {
    case 0:
    case 1:
    case 12:
    case 14:
    case 101:
    case 108:
    case 113:
    case 228:
    case 229:
    case 276: return 1;
    default: return 0;
    }
}

const char *sdiff_decode_kind_str(enum sdiff_decode_kind k)
{
    switch (k) {
    case SDIFF_DECODE_TCP: return "tcp";
    case SDIFF_DECODE_NOT_IP: return "not ip";
    case SDIFF_DECODE_NOT_TCP: return "not tcp";
    case SDIFF_DECODE_FRAGMENT: return "fragment";
    case SDIFF_DECODE_TRUNCATED: return "truncated";
    case SDIFF_DECODE_MALFORMED: return "malformed";
    case SDIFF_DECODE_LINKTYPE: return "unsupported link type";
    case SDIFF_DECODE__COUNT: break;
    }
    return "unknown";
}
