/*
 * decode.c - one captured frame to one TCP segment: link header, IPv4/IPv6, TCP.
 *
 * Every field is read through sdiff_rd; nothing is cast to a header struct and nothing is
 * allocated. Lengths are carried as uint64_t so that a jumbogram length or a wire length near
 * SIZE_MAX cannot wrap. The payload view borrows the caller's frame bytes. Tunnels are
 * removed in a loop (IP -> UDP/GRE -> tunnel header -> inner link -> IP ...), never by
 * recursion, and at most SDIFF_TUNNEL_MAX_DEPTH times.
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
#define IPPROTO_UDP_ 17
#define IPPROTO_GRE_ 47

/* GRE protocol types (IANA "ETHER TYPES"). */
#define ETHERTYPE_TEB 0x6558     /* transparent Ethernet bridging: an Ethernet frame follows */
#define ETHERTYPE_ERSPAN2 0x88be /* ERSPAN type I (no sequence number) and II */
#define ETHERTYPE_ERSPAN3 0x22eb

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
 * Window scale option of a SYN (RFC 7323 section 2.2: kind 3, length 3, shift count; a shift
 * above 14 is used as 14). Options are kind(1) [len(1) data]; EOL (0) ends the list, NOP (1)
 * has no length. A malformed list just leaves the option absent: the segment is still good.
 */
static void tcp_wscale(const uint8_t *p, size_t n, struct sdiff_segment *seg)
{
    struct sdiff_rd r;
    sdiff_rd_init(&r, p, n);
    while (sdiff_rd_left(&r) > 0) {
        uint8_t kind = sdiff_rd_u8(&r);
        if (kind == 0)
            return;
        if (kind == 1)
            continue;
        uint8_t len = sdiff_rd_u8(&r);
        if (r.bad || len < 2 || !sdiff_rd_has(&r, len - 2u))
            return;
        if (kind == 3 && len == 3) {
            uint8_t shift = sdiff_rd_u8(&r);
            seg->has_wscale = 1;
            seg->wscale = shift > 14 ? 14 : shift;
            return;
        }
        sdiff_rd_skip(&r, len - 2u);
    }
}

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
    seg->window = sdiff_rd_u16be(&r);
    sdiff_rd_skip(&r, 4); /* checksum, urgent pointer */
    if (doff < 20 || doff > v->ip_left)
        return SDIFF_DECODE_MALFORMED;
    if (doff > v->cap)
        return SDIFF_DECODE_TRUNCATED;
    seg->has_wscale = 0;
    seg->wscale = 0;
    if (seg->flags & SDIFF_TCP_SYN)
        tcp_wscale(data + v->off + 20, doff - 20u, seg);
    seg->tcp = data + v->off;
    seg->tcp_len = v->ip_left;
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

/* An IP header's result: its payload view, protocol and addresses (borrowed). */
struct l3 {
    uint8_t family;
    uint8_t proto;
    uint8_t routed; /* an IPv6 routing header: the final destination is not in the packet */
    const uint8_t *src, *dst;
    struct ip_view v;
};

/* Whether the decoder goes on into an IP payload of this protocol. */
static int proto_wanted(const struct sdiff_decap *d, uint8_t proto)
{
    if (proto == IPPROTO_TCP_)
        return 1;
    if (d == NULL)
        return 0;
    if (proto == IPPROTO_UDP_)
        return d->nvxlan + d->ngeneve > 0;
    return proto == IPPROTO_GRE_ && d->gre;
}

/*
 * IPv4 header (RFC 791):
 *  ver/ihl(1) tos(1) total_len(2) id(2) flags/frag_off(2) ttl(1) proto(1) csum(2) src(4) dst(4)
 */
static enum sdiff_decode_kind decode_ipv4(const struct sdiff_decap *d, const uint8_t *data,
                                          size_t net_off, uint64_t net_cap, uint64_t net_wire,
                                          struct l3 *out)
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

    enum sdiff_decode_kind k = ip_payload(net_off, net_cap, net_wire, ihl, total, &out->v);
    if (k != SDIFF_DECODE_TCP)
        return k;
    if ((frag & 0x3fff) != 0) /* MF or a fragment offset */
        return SDIFF_DECODE_FRAGMENT;
    if (!proto_wanted(d, proto))
        return SDIFF_DECODE_NOT_TCP;
    out->family = 4;
    out->routed = 0;
    out->proto = proto;
    out->src = src;
    out->dst = dst;
    return SDIFF_DECODE_TCP;
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
static enum sdiff_decode_kind decode_ipv6(const struct sdiff_decap *d, const uint8_t *data,
                                          size_t net_off, uint64_t net_cap, uint64_t net_wire,
                                          struct l3 *out)
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
    out->routed = 0;
    for (;;) {
        if (proto_wanted(d, nh))
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
            out->routed |= nh == IPPROTO_ROUTING_;
            if (hdr + hlen > total)
                return SDIFF_DECODE_MALFORMED;
            sdiff_rd_skip(&r, (size_t)hlen - 2);
            if (r.bad)
                return SDIFF_DECODE_TRUNCATED;
            hdr += hlen;
        }
        nh = next;
    }

    enum sdiff_decode_kind k = ip_payload(net_off, net_cap, net_wire, hdr, total, &out->v);
    if (k != SDIFF_DECODE_TCP)
        return k;
    out->family = 6;
    out->proto = nh;
    out->src = src;
    out->dst = dst;
    return SDIFF_DECODE_TCP;
}
/* ---- tunnels --------------------------------------------------------------------------- */

/* What follows a tunnel header. */
enum inner_link { INNER_NONE = 0, INNER_ETH, INNER_IP, INNER_IPV4, INNER_IPV6 };

/* A removed tunnel header: what it was, its identity and where the inner frame lies. */
struct inner {
    enum sdiff_tunnel_kind kind;
    uint32_t id;
    enum inner_link link;
    size_t off;    /* inner frame start in the captured frame */
    uint64_t cap;  /* inner bytes captured */
    uint64_t wire; /* inner bytes on the wire */
};

static int port_in(const uint16_t *ports, size_t n, uint16_t port)
{
    for (size_t i = 0; i < n; i++)
        if (ports[i] == port)
            return 1;
    return 0;
}

/* Step over a header of n bytes at the start of in: it must fit on the wire and be captured. */
static enum sdiff_decode_kind inner_skip(struct inner *in, uint64_t n)
{
    if (n > in->wire)
        return SDIFF_DECODE_MALFORMED;
    if (n > in->cap)
        return SDIFF_DECODE_TRUNCATED;
    in->off += (size_t)n;
    in->cap -= n;
    in->wire -= n;
    return SDIFF_DECODE_TCP;
}

static enum inner_link ethertype_link(uint16_t proto)
{
    switch (proto) {
    case ETHERTYPE_TEB: return INNER_ETH;
    case ETHERTYPE_IPV4: return INNER_IPV4;
    case ETHERTYPE_IPV6: return INNER_IPV6;
    default: return INNER_NONE;
    }
}

/*
 * VXLAN header (RFC 7348 section 5), then an Ethernet frame:
 *  flags(1, I = 0x08) reserved(3) VNI(3) reserved(1)
 */
static enum sdiff_decode_kind decap_vxlan(const uint8_t *data, struct inner *in)
{
    struct sdiff_rd r;
    sdiff_rd_init(&r, data + in->off, (size_t)in->cap);
    uint8_t flags = sdiff_rd_u8(&r);
    sdiff_rd_skip(&r, 3);
    uint32_t vni = sdiff_rd_u32be(&r) >> 8;
    enum sdiff_decode_kind k = inner_skip(in, 8);
    if (k != SDIFF_DECODE_TCP)
        return k;
    /* Without the I flag the VNI is not valid (RFC 7348): not VXLAN as we know it. */
    if (!(flags & 0x08))
        return SDIFF_DECODE_NOT_TCP;
    in->kind = SDIFF_TUN_VXLAN;
    in->id = vni;
    in->link = INNER_ETH;
    return SDIFF_DECODE_TCP;
}

/*
 * Geneve header (RFC 8926 section 3.4), then a frame of the protocol type (0x6558 Ethernet,
 * 0x0800 IPv4, 0x86dd IPv6):
 *  ver(2 bits) opt_len(6 bits, in 4-byte words) O(1 bit) C(1 bit) rsvd(6 bits) protocol(2)
 *  VNI(3) reserved(1) options(opt_len * 4)
 */
static enum sdiff_decode_kind decap_geneve(const uint8_t *data, struct inner *in)
{
    struct sdiff_rd r;
    sdiff_rd_init(&r, data + in->off, (size_t)in->cap);
    uint8_t vlen = sdiff_rd_u8(&r);
    sdiff_rd_skip(&r, 1);
    uint16_t proto = sdiff_rd_u16be(&r);
    uint32_t vni = sdiff_rd_u32be(&r) >> 8;
    enum sdiff_decode_kind k = inner_skip(in, 8);
    if (k != SDIFF_DECODE_TCP)
        return k;
    if ((vlen >> 6) != 0) /* a version we do not know the header of */
        return SDIFF_DECODE_NOT_TCP;
    k = inner_skip(in, (uint64_t)(vlen & 0x3f) * 4);
    if (k != SDIFF_DECODE_TCP)
        return k;
    in->kind = SDIFF_TUN_GENEVE;
    in->id = vni;
    in->link = ethertype_link(proto);
    return in->link == INNER_NONE ? SDIFF_DECODE_NOT_IP : SDIFF_DECODE_TCP;
}

/*
 * UDP header (RFC 768): sport(2) dport(2) length(2) checksum(2); the destination port
 * says whether VXLAN or Geneve follows. The UDP length bounds the tunnel payload.
 */
static enum sdiff_decode_kind decap_udp(const struct sdiff_decap *d, const uint8_t *data,
                                        const struct ip_view *v, struct inner *in)
{
    if (v->ip_left < 8)
        return SDIFF_DECODE_MALFORMED;
    if (v->cap < 8)
        return SDIFF_DECODE_TRUNCATED;
    struct sdiff_rd r;
    sdiff_rd_init(&r, data + v->off, 8);
    sdiff_rd_skip(&r, 2);
    uint16_t dport = sdiff_rd_u16be(&r);
    uint64_t ulen = sdiff_rd_u16be(&r);
    if (ulen < 8 || ulen > v->ip_left)
        return SDIFF_DECODE_MALFORMED;
    in->off = v->off + 8;
    in->cap = (ulen < v->cap ? ulen : v->cap) - 8;
    in->wire = ulen - 8;
    if (port_in(d->vxlan_ports, d->nvxlan, dport))
        return decap_vxlan(data, in);
    if (port_in(d->geneve_ports, d->ngeneve, dport))
        return decap_geneve(data, in);
    return SDIFF_DECODE_NOT_TCP;
}

/*
 * ERSPAN headers (draft-foschiano-erspan-03, sections 4.1 and 4.2), after GRE, then an
 * Ethernet frame (type III may also carry an IP packet, frame type 2):
 *  type II:  ver(4 bits, 1) vlan(12 bits) cos(3) en(2) t(1) session(10 bits)
 *            reserved(12 bits) index(20 bits)
 *  type III: ver(4 bits, 2) vlan(12 bits) cos(3) bso(2) t(1) session(10 bits) timestamp(4)
 *            sgt(2) p(1 bit) ft(5) hw_id(6) d(1) gra(2) o(1), then 8 bytes of platform
 *            specific subheader when o is set
 */
static enum sdiff_decode_kind decap_erspan(const uint8_t *data, int type3, struct inner *in)
{
    struct sdiff_rd r;
    sdiff_rd_init(&r, data + in->off, (size_t)in->cap);
    uint16_t ver = (uint16_t)(sdiff_rd_u16be(&r) >> 12);
    uint16_t session = sdiff_rd_u16be(&r) & 0x3ff;
    sdiff_rd_skip(&r, 6); /* type III: timestamp and sgt */
    uint16_t last = sdiff_rd_u16be(&r);
    enum sdiff_decode_kind k = inner_skip(in, type3 ? 12 : 8);
    if (k != SDIFF_DECODE_TCP)
        return k;
    if (ver != (type3 ? 2 : 1))
        return SDIFF_DECODE_NOT_TCP;
    in->kind = SDIFF_TUN_ERSPAN;
    in->id = session;
    in->link = INNER_ETH;
    if (type3) {
        unsigned ft = (last >> 10) & 0x1f;
        if (last & 1) {
            k = inner_skip(in, 8);
            if (k != SDIFF_DECODE_TCP)
                return k;
        }
        if (ft == 2)
            in->link = INNER_IP;
        else if (ft != 0)
            return SDIFF_DECODE_NOT_IP;
    }
    return SDIFF_DECODE_TCP;
}

/*
 * GRE header (RFC 2784 section 2.1 with the key and sequence number of RFC 2890 section 2):
 *  C(1 bit) R(1) K(1) S(1) reserved0(9 bits) ver(3 bits) protocol(2)
 *  [checksum(2) reserved1(2)] if C, [key(4)] if K, [sequence(4)] if S
 * R and reserved0 bits 4-5 belong to RFC 1701's source routing: such packets are discarded
 * (RFC 2784 section 2.3), as is version 1 (PPTP's enhanced GRE). ERSPAN rides on GRE with
 * protocol 0x88be (type II, or type I when there is no sequence number) or 0x22eb (type III).
 */
static enum sdiff_decode_kind decap_gre(const uint8_t *data, const struct ip_view *v,
                                        struct inner *in)
{
    in->off = v->off;
    in->cap = v->cap;
    in->wire = v->ip_left;
    struct sdiff_rd r;
    sdiff_rd_init(&r, data + v->off, (size_t)v->cap);
    uint16_t fl = sdiff_rd_u16be(&r);
    uint16_t proto = sdiff_rd_u16be(&r);
    if (fl & 0x8000)
        sdiff_rd_skip(&r, 4);
    uint32_t key = (fl & 0x2000) ? sdiff_rd_u32be(&r) : 0;
    uint64_t hlen = 4 + ((fl & 0x8000) ? 4 : 0) + ((fl & 0x2000) ? 4 : 0) + ((fl & 0x1000) ? 4 : 0);
    enum sdiff_decode_kind k = inner_skip(in, hlen);
    if (k != SDIFF_DECODE_TCP)
        return k;
    if ((fl & 0x4c00) != 0 || (fl & 0x0007) != 0)
        return SDIFF_DECODE_NOT_TCP;
    in->kind = SDIFF_TUN_GRE;
    in->id = key;
    if (proto == ETHERTYPE_ERSPAN3)
        return decap_erspan(data, 1, in);
    if (proto == ETHERTYPE_ERSPAN2) {
        if (fl & 0x1000)
            return decap_erspan(data, 0, in);
        in->kind = SDIFF_TUN_ERSPAN; /* type I: the mirrored frame follows GRE directly */
        in->link = INNER_ETH;
        return SDIFF_DECODE_TCP;
    }
    in->link = ethertype_link(proto);
    return in->link == INNER_NONE ? SDIFF_DECODE_NOT_IP : SDIFF_DECODE_TCP;
}

/* FNV-1a over a tunnel level's identity; never 0, so a digest says "there was a level". */
static uint64_t tunnel_digest(const struct sdiff_tunnel *t)
{
    uint8_t key[8 + 1 + 1 + 4 + 32];
    memcpy(key, &t->outer, 8);
    key[8] = t->family;
    key[9] = t->kind[t->depth - 1];
    memcpy(key + 10, &t->id, 4);
    memcpy(key + 14, t->addr, 32);
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < sizeof key; i++)
        h = (h ^ key[i]) * 0x100000001b3ull;
    return h | 1;
}

static void tunnel_push(struct sdiff_tunnel *t, const struct l3 *ip, const struct inner *in)
{
    t->outer = t->depth > 0 ? tunnel_digest(t) : 0;
    size_t alen = ip->family == 4 ? 4 : 16;
    uint8_t a[16] = {0}, b[16] = {0};
    memcpy(a, ip->src, alen);
    memcpy(b, ip->dst, alen);
    int swap = memcmp(a, b, 16) > 0;
    memcpy(t->addr[0], swap ? b : a, 16);
    memcpy(t->addr[1], swap ? a : b, 16);
    t->family = ip->family;
    t->id = in->id;
    t->kind[t->depth++] = (uint8_t)in->kind;
}

/* From the network header at net_off to the TCP segment, through any tunnels. */
static enum sdiff_decode_kind decode_net(const struct sdiff_decap *d, enum net_proto np,
                                         const uint8_t *data, size_t net_off, uint64_t net_cap,
                                         uint64_t net_wire, struct sdiff_segment *seg)
{
    for (;;) {
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
        struct l3 ip;
        enum sdiff_decode_kind k =
            np == NET_IPV4 ? decode_ipv4(d, data, net_off, net_cap, net_wire, &ip)
                           : decode_ipv6(d, data, net_off, net_cap, net_wire, &ip);
        if (k != SDIFF_DECODE_TCP)
            return k;
        if (ip.proto == IPPROTO_TCP_) {
            size_t alen = ip.family == 4 ? 4 : 16;
            seg->family = ip.family;
            memset(seg->src, 0, sizeof seg->src);
            memset(seg->dst, 0, sizeof seg->dst);
            memcpy(seg->src, ip.src, alen);
            memcpy(seg->dst, ip.dst, alen);
            k = decode_tcp(data, &ip.v, seg);
            /* The checksum covers the final destination, which a routing header hides (RFC
             * 8200 section 8.1): such a segment cannot be checked. */
            if (ip.routed)
                seg->tcp = NULL;
            return k;
        }
        struct inner in = {0};
        k = ip.proto == IPPROTO_UDP_ ? decap_udp(d, data, &ip.v, &in) : decap_gre(data, &ip.v, &in);
        if (k != SDIFF_DECODE_TCP)
            return k;
        if (seg->tun.depth == SDIFF_TUNNEL_MAX_DEPTH)
            return SDIFF_DECODE_TOO_DEEP;
        tunnel_push(&seg->tun, &ip, &in);
        seg->tun.frame_off = in.off;
        seg->tun.frame_linktype = in.link == INNER_ETH ? 1 : 101;
        net_off = in.off;
        net_cap = in.cap;
        net_wire = in.wire;
        if (in.link == INNER_ETH) {
            struct sdiff_rd r;
            sdiff_rd_init(&r, data + in.off, (size_t)in.cap);
            sdiff_rd_skip(&r, 12);
            uint16_t et = read_ethertype(&r);
            if (r.bad) /* cut by the capture, or by the tunnel's own length */
                return in.cap < in.wire ? SDIFF_DECODE_TRUNCATED : SDIFF_DECODE_MALFORMED;
            np = ethertype_proto(et);
            if (np == NET_NONE)
                return SDIFF_DECODE_NOT_IP;
            net_off += r.off;
            net_cap -= r.off;
            net_wire -= r.off;
        } else {
            np = in.link == INNER_IPV4 ? NET_IPV4 : in.link == INNER_IPV6 ? NET_IPV6 : NET_BY_VERSION;
        }
    }
}

/* ---- API ------------------------------------------------------------------------------- */

/* Ones' complement sum of n bytes as big-endian 16-bit words (RFC 1071), folded later. */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 1 < n; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (i < n)
        sum += (uint32_t)p[i] << 8;
    return sum;
}

/*
 * TCP checksum (RFC 9293 section 3.1): the ones' complement sum over a pseudo-header (source
 * and destination address, protocol 6, TCP length; RFC 8200 section 8.1 for IPv6) and the
 * whole segment, checksum field included, is 0xffff when the segment is intact.
 */
int sdiff_decode_tcp_checksum(const struct sdiff_segment *seg)
{
    if (SDIFF_NEVER(seg == NULL))
        return -1;
    if (seg->tcp == NULL || seg->missing > 0 || seg->tcp_len > UINT32_MAX)
        return -1;
    size_t alen = seg->family == 6 ? 16 : 4;
    uint64_t sum = csum_add(0, seg->src, alen);
    sum = csum_add(sum, seg->dst, alen);
    sum += 6u + (seg->tcp_len & 0xffff) + (seg->tcp_len >> 16);
    sum = csum_add(sum, seg->tcp, (size_t)seg->tcp_len);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
}

enum sdiff_decode_kind sdiff_decode_frame_decap(const struct sdiff_decap *d, int linktype,
                                                const uint8_t *data, size_t caplen,
                                                size_t wirelen, uint64_t ts_us,
                                                struct sdiff_segment *seg)
{
    if (SDIFF_NEVER(seg == NULL))
        return SDIFF_DECODE_MALFORMED;
    if (data == NULL)
        caplen = 0;
    if (wirelen < caplen)
        wirelen = caplen;
    seg->ts_us = ts_us;
    seg->tun.depth = 0;
    seg->tun.frame_linktype = linktype;
    seg->tun.frame_off = 0;
    if (d != NULL && d->nvxlan + d->ngeneve == 0 && !d->gre)
        d = NULL;

    struct sdiff_rd r;
    sdiff_rd_init(&r, data, caplen);
    enum net_proto np = decode_link(linktype, &r);
    if (r.bad)
        return SDIFF_DECODE_TRUNCATED;
    if (np == NET_NONE)
        return sdiff_decode_linktype_supported(linktype) ? SDIFF_DECODE_NOT_IP
                                                         : SDIFF_DECODE_LINKTYPE;
    size_t net_off = r.off;
    return decode_net(d, np, data, net_off, caplen - net_off, wirelen - net_off, seg);
}

enum sdiff_decode_kind sdiff_decode_frame(int linktype, const uint8_t *data, size_t caplen,
                                          size_t wirelen, uint64_t ts_us, struct sdiff_segment *seg)
{
    return sdiff_decode_frame_decap(NULL, linktype, data, caplen, wirelen, ts_us, seg);
}

int sdiff_tunnel_equal(const struct sdiff_tunnel *a, const struct sdiff_tunnel *b)
{
    if (a->depth != b->depth)
        return 0;
    if (a->depth == 0)
        return 1;
    return memcmp(a->kind, b->kind, a->depth) == 0 && a->family == b->family &&
           a->id == b->id && a->outer == b->outer && memcmp(a->addr, b->addr, 32) == 0;
}

uint64_t sdiff_tunnel_hash(const struct sdiff_tunnel *t)
{
    if (t->depth == 0)
        return 0;
    return tunnel_digest(t) ^ t->depth;
}

const char *sdiff_tunnel_kind_str(enum sdiff_tunnel_kind k)
{
    switch (k) {
    case SDIFF_TUN_VXLAN: return "vxlan";
    case SDIFF_TUN_GENEVE: return "geneve";
    case SDIFF_TUN_GRE: return "gre";
    case SDIFF_TUN_ERSPAN: return "erspan";
    case SDIFF_TUN__COUNT: break;
    }
    return "unknown";
}

/* "4789,8472" into ports; at most SDIFF_DECAP_MAX_PORTS of them, each 1-65535. */
static int parse_ports(const char *s, uint16_t *ports, size_t *n)
{
    size_t k = 0;
    while (*s) {
        if (k == SDIFF_DECAP_MAX_PORTS || *s < '0' || *s > '9')
            return -1;
        unsigned long v = 0;
        while (*s >= '0' && *s <= '9' && v <= 65535)
            v = v * 10 + (unsigned long)(*s++ - '0');
        if (v == 0 || v > 65535 || (*s != ',' && *s != '\0'))
            return -1;
        ports[k++] = (uint16_t)v;
        if (*s == ',' && *++s == '\0')
            return -1;
    }
    if (k == 0)
        return -1;
    *n = k;
    return 0;
}

int sdiff_decap_parse(struct sdiff_decap *d, const char *spec, struct sdiff_err *err)
{
    if (SDIFF_NEVER(d == NULL || spec == NULL))
        return SDIFF_EINVAL;
    if (strcmp(spec, "none") == 0) {
        memset(d, 0, sizeof *d);
        return SDIFF_OK;
    }
    const char *colon = strchr(spec, ':');
    size_t klen = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *arg = colon ? colon + 1 : NULL;
    if (klen == 3 && strncmp(spec, "gre", 3) == 0) {
        if (arg == NULL || strcmp(arg, "on") == 0)
            d->gre = 1;
        else if (strcmp(arg, "off") == 0)
            d->gre = 0;
        else
            return sdiff_err_set(err, SDIFF_EINVAL, "decap",
                                 "gre takes no ports (it is IP protocol 47): gre or gre:off");
        return SDIFF_OK;
    }
    uint16_t *ports;
    size_t *n;
    if (klen == 5 && strncmp(spec, "vxlan", 5) == 0) {
        ports = d->vxlan_ports;
        n = &d->nvxlan;
    } else if (klen == 6 && strncmp(spec, "geneve", 6) == 0) {
        ports = d->geneve_ports;
        n = &d->ngeneve;
    } else {
        return sdiff_err_set(err, SDIFF_EINVAL, "decap",
                             "'%.40s' is not vxlan:PORTS, geneve:PORTS, gre or none", spec);
    }
    if (arg != NULL && strcmp(arg, "off") == 0) {
        *n = 0;
        return SDIFF_OK;
    }
    uint16_t tmp[SDIFF_DECAP_MAX_PORTS];
    size_t k = 0;
    if (arg == NULL || parse_ports(arg, tmp, &k) < 0)
        return sdiff_err_set(err, SDIFF_EINVAL, "decap",
                             "'%.40s': give up to %d UDP ports (1-65535) after the colon, "
                             "e.g. vxlan:4789,8472, or vxlan:off",
                             spec, SDIFF_DECAP_MAX_PORTS);
    memcpy(ports, tmp, k * sizeof *tmp);
    *n = k;
    return SDIFF_OK;
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
    case SDIFF_DECODE_TOO_DEEP: return "tunnels nested too deep";
    case SDIFF_DECODE__COUNT: break;
    }
    return "unknown";
}
