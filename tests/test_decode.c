/*
 * test_decode.c - frames built byte by byte for every link type, tags, IP options and
 * extension headers, fragments, padding, and every truncation of a valid frame.
 */
#include "shadowdiff/decode.h"

#include "shadowdiff/capture.h"

#include "sdiff_test.h"

#include <stdlib.h>
#include <string.h>

/* ---- frame builder --------------------------------------------------------------------- */

struct fb {
    uint8_t b[4096];
    size_t n;
};

static void put8(struct fb *f, unsigned v)
{
    assert_true(f->n < sizeof f->b);
    f->b[f->n++] = (uint8_t)v;
}

static void put16(struct fb *f, unsigned v)
{
    put8(f, v >> 8);
    put8(f, v & 0xff);
}

static void put32(struct fb *f, uint32_t v)
{
    put16(f, v >> 16);
    put16(f, v & 0xffff);
}

static void put32le(struct fb *f, uint32_t v)
{
    put8(f, v & 0xff);
    put8(f, (v >> 8) & 0xff);
    put8(f, (v >> 16) & 0xff);
    put8(f, v >> 24);
}

static void putn(struct fb *f, const void *p, size_t n)
{
    assert_true(f->n + n <= sizeof f->b);
    memcpy(f->b + f->n, p, n);
    f->n += n;
}

static void putz(struct fb *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put8(f, 0);
}

static const uint8_t V4_SRC[4] = {192, 168, 1, 10};
static const uint8_t V4_DST[4] = {10, 0, 0, 80};
static const uint8_t V6_SRC[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t V6_DST[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

/* IPv4 header: ihl in 32-bit words, opts filled with NOPs (1). */
static void ipv4(struct fb *f, unsigned ihl, unsigned total, unsigned frag, unsigned proto)
{
    put8(f, 0x40 | ihl);
    put8(f, 0);
    put16(f, total);
    put16(f, 0x1234);
    put16(f, frag);
    put8(f, 64);
    put8(f, proto);
    put16(f, 0);
    putn(f, V4_SRC, 4);
    putn(f, V4_DST, 4);
    for (unsigned i = 5; i < ihl; i++)
        put32(f, 0x01010101);
}

static void ipv6(struct fb *f, unsigned plen, unsigned nh)
{
    put32(f, 0x60000000);
    put16(f, plen);
    put8(f, nh);
    put8(f, 64);
    putn(f, V6_SRC, 16);
    putn(f, V6_DST, 16);
}

/* TCP header of doff words (options are NOPs) */
static void tcp(struct fb *f, unsigned doff, unsigned flags)
{
    put16(f, 40000);
    put16(f, 80);
    put32(f, 0x11223344);
    put32(f, 0xaabbccdd);
    put8(f, doff << 4);
    put8(f, flags);
    put16(f, 65535);
    put16(f, 0);
    put16(f, 0);
    for (unsigned i = 5; i < doff; i++)
        put32(f, 0x01010101);
}

static const char PAYLOAD[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
#define PLEN (sizeof PAYLOAD - 1)

/* Link header for linktype carrying family (4 or 6). */
static void link_hdr(struct fb *f, int linktype, int family)
{
    unsigned et = family == 4 ? 0x0800 : 0x86dd;
    switch (linktype) {
    case 0: put32le(f, family == 4 ? 2 : 30); break;
    case 108: put32(f, family == 4 ? 2 : 24); break;
    case 1:
        putn(f, "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb", 12);
        put16(f, et);
        break;
    case 113:
        put16(f, 0);
        put16(f, 1);
        put16(f, 6);
        putn(f, "\x00\x11\x22\x33\x44\x55\x00\x00", 8);
        put16(f, et);
        break;
    case 276:
        put16(f, et);
        put16(f, 0);
        put32(f, 3);
        put16(f, 1);
        put8(f, 0);
        put8(f, 6);
        putn(f, "\x00\x11\x22\x33\x44\x55\x00\x00", 8);
        break;
    default: /* raw IP */ break;
    }
}

/* A whole TCP frame with PAYLOAD; *hdr_out = offset of the payload. */
static void std_frame(struct fb *f, int linktype, int family, size_t *hdr_out)
{
    f->n = 0;
    link_hdr(f, linktype, family);
    if (family == 4)
        ipv4(f, 5, (unsigned)(20 + 20 + PLEN), 0x4000, 6);
    else
        ipv6(f, (unsigned)(20 + PLEN), 6);
    tcp(f, 5, SDIFF_TCP_PSH | SDIFF_TCP_ACK);
    *hdr_out = f->n;
    putn(f, PAYLOAD, PLEN);
}

/* Decode from an exact-size heap copy so that any over-read trips ASan. */
static enum sdiff_decode_kind decode(int linktype, const uint8_t *p, size_t caplen, size_t wirelen,
                                     struct sdiff_segment *seg, uint8_t **copy_out)
{
    uint8_t *copy = malloc(caplen ? caplen : 1);
    assert_non_null(copy);
    if (caplen)
        memcpy(copy, p, caplen);
    memset(seg, 0xa5, sizeof *seg);
    enum sdiff_decode_kind k = sdiff_decode_frame(linktype, copy, caplen, wirelen, 77, seg);
    if (copy_out != NULL)
        *copy_out = copy;
    else
        free(copy);
    return k;
}

static void assert_std_segment(const struct sdiff_segment *s, int family)
{
    assert_int_equal(s->family, family);
    if (family == 4) {
        assert_memory_equal(s->src, V4_SRC, 4);
        assert_memory_equal(s->dst, V4_DST, 4);
        for (int i = 4; i < 16; i++)
            assert_int_equal(s->src[i] | s->dst[i], 0);
    } else {
        assert_memory_equal(s->src, V6_SRC, 16);
        assert_memory_equal(s->dst, V6_DST, 16);
    }
    assert_int_equal(s->sport, 40000);
    assert_int_equal(s->dport, 80);
    assert_int_equal(s->seq, 0x11223344);
    assert_int_equal(s->ack, 0xaabbccdd);
    assert_int_equal(s->flags, SDIFF_TCP_PSH | SDIFF_TCP_ACK);
    assert_int_equal(s->ts_us, 77);
}

static const int LINKTYPES[] = {0, 108, 1, 113, 276, 12, 14, 101, 228, 229};

/* ---- tests ----------------------------------------------------------------------------- */

static void test_decode__every_linktype_decodes_tcp(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof LINKTYPES / sizeof LINKTYPES[0]; i++) {
        for (int family = 4; family <= 6; family += 2) {
            int lt = LINKTYPES[i];
            if ((lt == 228 && family == 6) || (lt == 229 && family == 4))
                continue;
            struct fb f;
            size_t hdr;
            std_frame(&f, lt, family, &hdr);
            struct sdiff_segment s;
            uint8_t *copy;
            assert_int_equal(decode(lt, f.b, f.n, f.n, &s, &copy), SDIFF_DECODE_TCP);
            assert_std_segment(&s, family);
            assert_ptr_equal(s.payload, copy + hdr);
            assert_int_equal(s.len, PLEN);
            assert_int_equal(s.missing, 0);
            assert_memory_equal(s.payload, PAYLOAD, PLEN);
            free(copy);
            assert_true(sdiff_decode_linktype_supported(lt));
        }
    }
}

static void test_decode__null_link_accepts_both_byte_orders_and_inet6_values(void **state)
{
    (void)state;
    const uint32_t v6[] = {10, 24, 28, 30};
    for (int be = 0; be <= 1; be++) {
        for (size_t i = 0; i < 5; i++) {
            uint32_t fam = i < 4 ? v6[i] : 2;
            struct fb f = {.n = 0};
            if (be)
                put32(&f, fam);
            else
                put32le(&f, fam);
            if (fam == 2)
                ipv4(&f, 5, 40, 0, 6);
            else
                ipv6(&f, 20, 6);
            tcp(&f, 5, SDIFF_TCP_PSH | SDIFF_TCP_ACK);
            struct sdiff_segment s;
            assert_int_equal(decode(0, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_TCP);
            assert_int_equal(s.family, fam == 2 ? 4 : 6);
            assert_int_equal(s.len, 0);
            /* DLT_LOOP is network order, but a swapped value is recognised too */
            enum sdiff_decode_kind k = decode(108, f.b, f.n, f.n, &s, NULL);
            assert_int_equal(k, SDIFF_DECODE_TCP);
        }
    }
    struct fb f = {.n = 0};
    put32le(&f, 7); /* some other family */
    putz(&f, 40);
    struct sdiff_segment s;
    assert_int_equal(decode(0, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_NOT_IP);
}

static void test_decode__vlan_and_qinq_tags_skipped(void **state)
{
    (void)state;
    const unsigned stacks[][3] = {{0x8100, 0, 0}, {0x88a8, 0x8100, 0}, {0x9100, 0x9100, 0x8100}};
    for (size_t i = 0; i < 3; i++) {
        struct fb f = {.n = 0};
        putn(&f, "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb", 12);
        for (size_t j = 0; j < 3 && stacks[i][j] != 0; j++) {
            put16(&f, stacks[i][j]);
            put16(&f, 0x0064); /* TCI: VLAN 100 */
        }
        put16(&f, 0x0800);
        ipv4(&f, 5, (unsigned)(40 + PLEN), 0, 6);
        tcp(&f, 5, SDIFF_TCP_PSH | SDIFF_TCP_ACK);
        putn(&f, PAYLOAD, PLEN);
        struct sdiff_segment s;
        assert_int_equal(decode(1, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_TCP);
        assert_std_segment(&s, 4);
        assert_int_equal(s.len, PLEN);
        assert_memory_equal(s.payload, PAYLOAD, PLEN);
    }
}

static void test_decode__vlan_in_linux_cooked_skipped(void **state)
{
    (void)state;
    struct fb f = {.n = 0};
    put16(&f, 0);
    put16(&f, 1);
    put16(&f, 6);
    putz(&f, 8);
    put16(&f, 0x8100);
    put16(&f, 7);
    put16(&f, 0x86dd);
    ipv6(&f, 20, 6);
    tcp(&f, 5, SDIFF_TCP_PSH | SDIFF_TCP_ACK);
    struct sdiff_segment s;
    assert_int_equal(decode(113, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_TCP);
    assert_std_segment(&s, 6);
}

static void test_decode__ethernet_padding_trimmed(void **state)
{
    (void)state;
    struct fb f = {.n = 0};
    link_hdr(&f, 1, 4);
    ipv4(&f, 5, 40 + 2, 0, 6);
    tcp(&f, 5, SDIFF_TCP_PSH | SDIFF_TCP_ACK);
    putn(&f, "hi", 2);
    putz(&f, 4); /* pad to the 60-byte minimum */
    assert_int_equal(f.n, 60);
    struct sdiff_segment s;
    assert_int_equal(decode(1, f.b, f.n, f.n + 4 /* FCS */, &s, NULL), SDIFF_DECODE_TCP);
    assert_int_equal(s.len, 2);
    assert_int_equal(s.missing, 0);
    assert_memory_equal(s.payload, "hi", 2);

    /* IPv6 too: the payload length bounds the packet */
    f.n = 0;
    link_hdr(&f, 1, 6);
    ipv6(&f, 20 + 1, 6);
    tcp(&f, 5, SDIFF_TCP_PSH | SDIFF_TCP_ACK);
    put8(&f, 'x');
    putz(&f, 9);
    assert_int_equal(decode(1, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_TCP);
    assert_int_equal(s.len, 1);
}

static void test_decode__ipv4_options_and_tcp_options_skipped(void **state)
{
    (void)state;
    struct fb f = {.n = 0};
    ipv4(&f, 15, (unsigned)(60 + 40 + PLEN), 0, 6);
    tcp(&f, 10, SDIFF_TCP_PSH | SDIFF_TCP_ACK);
    putn(&f, PAYLOAD, PLEN);
    struct sdiff_segment s;
    assert_int_equal(decode(228, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_TCP);
    assert_std_segment(&s, 4);
    assert_int_equal(s.len, PLEN);
    assert_memory_equal(s.payload, PAYLOAD, PLEN);
}

static void test_decode__ipv4_bad_lengths_malformed(void **state)
{
    (void)state;
    struct sdiff_segment s;
    struct fb f = {.n = 0};
    ipv4(&f, 4, 40, 0, 6); /* IHL < 5 */
    putz(&f, 24);
    assert_int_equal(decode(101, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_MALFORMED);

    f.n = 0;
    ipv4(&f, 6, 22, 0, 6); /* total length < IHL * 4 */
    putz(&f, 20);
    assert_int_equal(decode(101, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_MALFORMED);

    f.n = 0;
    ipv4(&f, 5, 500, 0, 6); /* longer than the frame on the wire */
    tcp(&f, 5, 0);
    assert_int_equal(decode(101, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_MALFORMED);

    f.n = 0;
    ipv4(&f, 5, 30, 0, 6); /* room for only 10 bytes of TCP header */
    tcp(&f, 5, 0);
    assert_int_equal(decode(101, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_MALFORMED);

    f.n = 0;
    ipv4(&f, 5, 40, 0, 6);
    tcp(&f, 4, 0); /* data offset < 5 */
    assert_int_equal(decode(101, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_MALFORMED);

    f.n = 0;
    ipv4(&f, 5, 44, 0, 6);
    tcp(&f, 5, 0);
    f.b[20 + 12] = 0xf0; /* data offset 60 > 24 bytes of TCP */
    putz(&f, 4);
    assert_int_equal(decode(101, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_MALFORMED);

    f.n = 0;
    put8(&f, 0x55); /* version 5 on raw IP */
    putz(&f, 39);
    assert_int_equal(decode(101, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_MALFORMED);
    assert_int_equal(decode(228, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_MALFORMED);
    f.b[0] = 0x45;
    assert_int_equal(decode(229, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_MALFORMED);
}

static void test_decode__ipv4_zero_total_length_runs_to_frame_end(void **state)
{
    (void)state;
    struct fb f = {.n = 0};
    ipv4(&f, 5, 0, 0, 6); /* TSO on the capturing host */
    tcp(&f, 5, SDIFF_TCP_ACK);
    putn(&f, PAYLOAD, PLEN);
    struct sdiff_segment s;
    assert_int_equal(decode(101, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_TCP);
    assert_int_equal(s.len, PLEN);
    assert_int_equal(s.missing, 0);
    assert_int_equal(decode(101, f.b, f.n, f.n + 1000, &s, NULL), SDIFF_DECODE_TCP);
    assert_int_equal(s.len, PLEN);
    assert_int_equal(s.missing, 1000);
}

static void test_decode__ipv4_fragments_reported(void **state)
{
    (void)state;
    const unsigned frags[] = {0x2000 /* MF */, 0x0010 /* offset */, 0x2010, 0x6000};
    for (size_t i = 0; i < 4; i++) {
        struct fb f = {.n = 0};
        ipv4(&f, 5, 40, frags[i], 6);
        tcp(&f, 5, 0);
        struct sdiff_segment s;
        assert_int_equal(decode(228, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_FRAGMENT);
    }
    struct fb f = {.n = 0};
    ipv4(&f, 5, 40, 0x4000 /* DF only */, 6);
    tcp(&f, 5, 0);
    struct sdiff_segment s;
    assert_int_equal(decode(228, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_TCP);
}

static void test_decode__non_tcp_and_non_ip_classified(void **state)
{
    (void)state;
    struct sdiff_segment s;
    struct fb f = {.n = 0};
    ipv4(&f, 5, 28, 0, 17); /* UDP */
    putz(&f, 8);
    assert_int_equal(decode(228, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_NOT_TCP);

    f.n = 0;
    putz(&f, 12);
    put16(&f, 0x0806); /* ARP */
    putz(&f, 28);
    assert_int_equal(decode(1, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_NOT_IP);

    f.n = 0;
    putz(&f, 14);
    put16(&f, 0x0806);
    putz(&f, 28);
    assert_int_equal(decode(113, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_NOT_IP);

    assert_int_equal(decode(147, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_LINKTYPE);
    assert_false(sdiff_decode_linktype_supported(147));
}

/* IPv6 with extension headers; ext = list of (type) built with 8 bytes each (16 for routing) */
static void ipv6_with_ext(struct fb *f, const unsigned *ext, size_t next, unsigned last_nh,
                          size_t upper_len)
{
    size_t ext_len = 0;
    for (size_t i = 0; i < next; i++)
        ext_len += ext[i] == 43 ? 24 : 8;
    ipv6(f, (unsigned)(ext_len + upper_len), next > 0 ? ext[0] : last_nh);
    for (size_t i = 0; i < next; i++) {
        unsigned nh = i + 1 < next ? ext[i + 1] : last_nh;
        put8(f, nh);
        if (ext[i] == 44) {
            put8(f, 0);
            put16(f, 0); /* offset 0, M = 0: atomic */
            put32(f, 0xdeadbeef);
        } else if (ext[i] == 43) {
            put8(f, 2);
            put8(f, 0);
            put8(f, 0);
            putz(f, 4 + 16);
        } else {
            put8(f, 0);
            put8(f, 1); /* PadN */
            put8(f, 4);
            putz(f, 4);
        }
    }
}

static void test_decode__ipv6_extension_headers_skipped(void **state)
{
    (void)state;
    const unsigned ext[] = {0, 60, 43, 44, 60};
    struct fb f = {.n = 0};
    ipv6_with_ext(&f, ext, 5, 6, 20 + PLEN);
    tcp(&f, 5, SDIFF_TCP_PSH | SDIFF_TCP_ACK);
    size_t hdr = f.n;
    putn(&f, PAYLOAD, PLEN);
    struct sdiff_segment s;
    uint8_t *copy;
    assert_int_equal(decode(229, f.b, f.n, f.n, &s, &copy), SDIFF_DECODE_TCP);
    assert_std_segment(&s, 6);
    assert_ptr_equal(s.payload, copy + hdr);
    assert_int_equal(s.len, PLEN);
    free(copy);

    /* every cut inside the extension chain is a truncation */
    for (size_t cut = 0; cut < hdr; cut++)
        assert_int_equal(decode(229, f.b, cut, f.n, &s, NULL), SDIFF_DECODE_TRUNCATED);
}

static void test_decode__ipv6_fragment_and_non_tcp_classified(void **state)
{
    (void)state;
    struct sdiff_segment s;
    struct fb f = {.n = 0};
    const unsigned frag[] = {44};
    ipv6_with_ext(&f, frag, 1, 6, 20);
    tcp(&f, 5, 0);
    f.b[40 + 3] = 1; /* M flag */
    assert_int_equal(decode(229, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_FRAGMENT);
    f.b[40 + 3] = 0;
    f.b[40 + 2] = 0x01; /* offset 32 */
    assert_int_equal(decode(229, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_FRAGMENT);
    f.b[40 + 2] = 0;
    assert_int_equal(decode(229, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_TCP);

    const unsigned hbh[] = {0};
    f.n = 0;
    ipv6_with_ext(&f, hbh, 1, 59, 0); /* no next header */
    assert_int_equal(decode(229, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_NOT_TCP);
    f.n = 0;
    ipv6(&f, 8, 50); /* ESP */
    putz(&f, 8);
    assert_int_equal(decode(229, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_NOT_TCP);
    f.n = 0;
    ipv6(&f, 8, 51); /* AH */
    putz(&f, 8);
    assert_int_equal(decode(229, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_NOT_TCP);

    /* an extension header longer than the payload length */
    f.n = 0;
    ipv6(&f, 8, 60);
    put8(&f, 6);
    put8(&f, 3);
    putz(&f, 6 + 24);
    assert_int_equal(decode(229, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_MALFORMED);
}

static void test_decode__ipv6_jumbo_and_zero_length_handled(void **state)
{
    (void)state;
    struct fb f = {.n = 0};
    ipv6(&f, 0, 0);
    put8(&f, 6);
    put8(&f, 0);
    put8(&f, 0xc2); /* Jumbo Payload */
    put8(&f, 4);
    put32(&f, (uint32_t)(8 + 20 + PLEN));
    tcp(&f, 5, SDIFF_TCP_ACK);
    putn(&f, PAYLOAD, PLEN);
    putz(&f, 3); /* trailing bytes are not payload */
    struct sdiff_segment s;
    assert_int_equal(decode(229, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_TCP);
    assert_int_equal(s.len, PLEN);
    assert_int_equal(s.missing, 0);

    /* a 4 GB jumbogram cut by the snap length: no overflow, the rest is missing */
    f.b[40 + 4] = 0xff;
    f.b[40 + 5] = 0xff;
    f.b[40 + 6] = 0xff;
    f.b[40 + 7] = 0xff;
    size_t wire = (size_t)40 + 0xffffffffu;
    assert_int_equal(decode(229, f.b, f.n, wire, &s, NULL), SDIFF_DECODE_TCP);
    assert_int_equal(s.len, PLEN + 3);
    assert_int_equal(s.missing, (uint64_t)0xffffffffu - 8 - 20 - (PLEN + 3));
    /* claiming more than the wire length is malformed */
    assert_int_equal(decode(229, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_MALFORMED);

    /* zero payload length without the option (TSO): runs to the end of the frame */
    f.n = 0;
    ipv6(&f, 0, 6);
    tcp(&f, 5, SDIFF_TCP_ACK);
    putn(&f, PAYLOAD, PLEN);
    assert_int_equal(decode(229, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_TCP);
    assert_int_equal(s.len, PLEN);
}

static void test_decode__snaplen_cut_reports_missing_bytes(void **state)
{
    (void)state;
    struct fb f;
    size_t hdr;
    std_frame(&f, 1, 4, &hdr);
    struct sdiff_segment s;
    assert_int_equal(decode(1, f.b, hdr + 5, f.n, &s, NULL), SDIFF_DECODE_TCP);
    assert_int_equal(s.len, 5);
    assert_int_equal(s.missing, PLEN - 5);
    /* padding beyond the IP packet is not counted as missing */
    assert_int_equal(decode(1, f.b, hdr + 5, f.n + 10, &s, NULL), SDIFF_DECODE_TCP);
    assert_int_equal(s.missing, PLEN - 5);
    /* wirelen below caplen is taken as caplen */
    assert_int_equal(decode(1, f.b, f.n, 3, &s, NULL), SDIFF_DECODE_TCP);
    assert_int_equal(s.len, PLEN);
    assert_int_equal(s.missing, 0);
}

static void test_decode__truncation_at_every_length_never_overreads(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof LINKTYPES / sizeof LINKTYPES[0]; i++) {
        for (int family = 4; family <= 6; family += 2) {
            int lt = LINKTYPES[i];
            if ((lt == 228 && family == 6) || (lt == 229 && family == 4))
                continue;
            struct fb f;
            size_t hdr;
            std_frame(&f, lt, family, &hdr);
            for (size_t cut = 0; cut <= f.n; cut++) {
                struct sdiff_segment s;
                uint8_t *copy;
                enum sdiff_decode_kind k = decode(lt, f.b, cut, f.n, &s, &copy);
                if (cut < hdr) {
                    assert_int_equal(k, SDIFF_DECODE_TRUNCATED);
                } else {
                    assert_int_equal(k, SDIFF_DECODE_TCP);
                    assert_ptr_equal(s.payload, copy + hdr);
                    assert_int_equal(s.len, cut - hdr);
                    assert_int_equal(s.missing, PLEN - (cut - hdr));
                }
                free(copy);
                /* with the wire length lost too: never worse than truncated */
                k = decode(lt, f.b, cut, cut, &s, NULL);
                assert_true(k == SDIFF_DECODE_TRUNCATED || k == SDIFF_DECODE_MALFORMED ||
                            (k == SDIFF_DECODE_TCP && cut == f.n));
            }
        }
    }
}

static void test_decode__null_data_is_truncated(void **state)
{
    (void)state;
    struct sdiff_segment s;
    assert_int_equal(sdiff_decode_frame(1, NULL, 0, 0, 0, &s), SDIFF_DECODE_TRUNCATED);
    assert_int_equal(sdiff_decode_frame(101, NULL, 10, 10, 0, &s), SDIFF_DECODE_TRUNCATED);
}

static void test_decode__kind_names_are_distinct(void **state)
{
    (void)state;
    for (int a = 0; a < SDIFF_DECODE__COUNT; a++) {
        const char *na = sdiff_decode_kind_str((enum sdiff_decode_kind)a);
        assert_non_null(na);
        assert_string_not_equal(na, "unknown");
        for (int b = a + 1; b < SDIFF_DECODE__COUNT; b++)
            assert_string_not_equal(na, sdiff_decode_kind_str((enum sdiff_decode_kind)b));
    }
    assert_string_equal(sdiff_decode_kind_str(SDIFF_DECODE_FRAGMENT), "fragment");
}


/* ---- tunnels --------------------------------------------------------------------------- */

static const uint8_t TUN_A[16] = {172, 16, 0, 1};
static const uint8_t TUN_B[16] = {172, 16, 0, 2};
static const uint8_t TUN_A6[16] = {0xfd, 0, 0, 9, [15] = 1};
static const uint8_t TUN_B6[16] = {0xfd, 0, 0, 9, [15] = 2};

/* Put hdr (n bytes) in front of what f holds. */
static void prepend(struct fb *f, const struct fb *hdr)
{
    struct fb tmp = *f;
    *f = *hdr;
    putn(f, tmp.b, tmp.n);
}

static void wrap_eth(struct fb *f, unsigned et)
{
    struct fb h = {.n = 0};
    putn(&h, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
    put16(&h, et);
    prepend(f, &h);
}

static void wrap_ip(struct fb *f, int family, unsigned proto, const uint8_t *src,
                    const uint8_t *dst)
{
    struct fb h = {.n = 0};
    if (family == 4) {
        put8(&h, 0x45);
        put8(&h, 0);
        put16(&h, (unsigned)(20 + f->n));
        put32(&h, 0x4000);
        put8(&h, 64);
        put8(&h, proto);
        put16(&h, 0);
        putn(&h, src, 4);
        putn(&h, dst, 4);
    } else {
        put32(&h, 0x60000000);
        put16(&h, (unsigned)f->n);
        put8(&h, proto);
        put8(&h, 64);
        putn(&h, src, 16);
        putn(&h, dst, 16);
    }
    prepend(f, &h);
}

static void wrap_udp(struct fb *f, unsigned dport)
{
    struct fb h = {.n = 0};
    put16(&h, 49152);
    put16(&h, dport);
    put16(&h, (unsigned)(8 + f->n));
    put16(&h, 0);
    prepend(f, &h);
}

static void wrap_vxlan(struct fb *f, uint32_t vni)
{
    struct fb h = {.n = 0};
    put32(&h, 0x08000000);
    put32(&h, vni << 8);
    prepend(f, &h);
}

static void wrap_geneve(struct fb *f, unsigned proto, uint32_t vni, unsigned optwords)
{
    struct fb h = {.n = 0};
    put8(&h, optwords);
    put8(&h, 0);
    put16(&h, proto);
    put32(&h, vni << 8);
    for (unsigned i = 0; i < optwords; i++)
        put32(&h, 0x01038001);
    prepend(f, &h);
}

/* flags: C 0x8000, K 0x2000, S 0x1000 */
static void wrap_gre(struct fb *f, unsigned flags, unsigned proto, uint32_t key)
{
    struct fb h = {.n = 0};
    put16(&h, flags);
    put16(&h, proto);
    if (flags & 0x8000)
        put32(&h, 0);
    if (flags & 0x2000)
        put32(&h, key);
    if (flags & 0x1000)
        put32(&h, 12345);
    prepend(f, &h);
}

/* type 2 or 3 (with the platform subheader when o) */
static void wrap_erspan(struct fb *f, int type, unsigned session, int o)
{
    struct fb h = {.n = 0};
    put16(&h, (type == 2 ? 0x1000u : 0x2000u) | 10);
    put16(&h, session);
    put32(&h, 77);
    if (type == 3) {
        put16(&h, 0);
        put16(&h, o ? 1 : 0);
        if (o)
            put32(&h, 0x18000000), put32(&h, 0);
    }
    prepend(f, &h);
}

/* The inner packet: IPv4 (or IPv6) + TCP + PAYLOAD, as std_frame builds on raw IP. */
static void inner_packet(struct fb *f, int family)
{
    size_t hdr;
    std_frame(f, 101, family, &hdr);
}

enum { T_VXLAN, T_VXLAN8472, T_GENEVE_ETH, T_GENEVE_IP, T_GRE, T_GRE_KEY, T_GRE_KEY_SEQ,
       T_GRE_CSUM, T_GRE_TEB, T_ERSPAN1, T_ERSPAN2, T_ERSPAN3, T_ERSPAN3_O, T__COUNT };

/* One tunnel level around f (an IP packet of family inner), over an outer IP of outer. */
static void wrap_tunnel(struct fb *f, int t, int inner, int outer, const uint8_t *src,
                        const uint8_t *dst, uint32_t id)
{
    unsigned et = inner == 4 ? 0x0800 : 0x86dd;
    switch (t) {
    case T_VXLAN:
    case T_VXLAN8472:
        wrap_eth(f, et);
        wrap_vxlan(f, id);
        wrap_udp(f, t == T_VXLAN ? 4789 : 8472);
        break;
    case T_GENEVE_ETH:
        wrap_eth(f, et);
        wrap_geneve(f, 0x6558, id, 2);
        wrap_udp(f, 6081);
        break;
    case T_GENEVE_IP:
        wrap_geneve(f, et, id, 0);
        wrap_udp(f, 6081);
        break;
    case T_GRE: wrap_gre(f, 0, et, 0); break;
    case T_GRE_KEY: wrap_gre(f, 0x2000, et, id); break;
    case T_GRE_KEY_SEQ: wrap_gre(f, 0x3000, et, id); break;
    case T_GRE_CSUM: wrap_gre(f, 0x9000, et, 0); break;
    case T_GRE_TEB:
        wrap_eth(f, et);
        wrap_gre(f, 0x2000, 0x6558, id);
        break;
    case T_ERSPAN1:
        wrap_eth(f, et);
        wrap_gre(f, 0, 0x88be, 0);
        break;
    case T_ERSPAN2:
        wrap_eth(f, et);
        wrap_erspan(f, 2, id, 0);
        wrap_gre(f, 0x1000, 0x88be, 0);
        break;
    case T_ERSPAN3:
    case T_ERSPAN3_O:
        wrap_eth(f, et);
        wrap_erspan(f, 3, id, t == T_ERSPAN3_O);
        wrap_gre(f, 0x1000, 0x22eb, 0);
        break;
    }
    int udp = t <= T_GENEVE_IP;
    wrap_ip(f, outer, udp ? 17 : 47, src, dst);
}

static int tunnel_kind_of(int t)
{
    if (t <= T_VXLAN8472)
        return SDIFF_TUN_VXLAN;
    if (t <= T_GENEVE_IP)
        return SDIFF_TUN_GENEVE;
    return t <= T_GRE_TEB ? SDIFF_TUN_GRE : SDIFF_TUN_ERSPAN;
}

static enum sdiff_decode_kind decode_d(const struct sdiff_decap *d, const uint8_t *p,
                                       size_t caplen, size_t wirelen, struct sdiff_segment *seg,
                                       uint8_t **copy_out)
{
    uint8_t *copy = malloc(caplen ? caplen : 1);
    assert_non_null(copy);
    if (caplen)
        memcpy(copy, p, caplen);
    memset(seg, 0xa5, sizeof *seg);
    enum sdiff_decode_kind k = sdiff_decode_frame_decap(d, 1, copy, caplen, wirelen, 77, seg);
    if (copy_out != NULL)
        *copy_out = copy;
    else
        free(copy);
    return k;
}

static void test_decode__every_tunnel_kind_gives_the_inner_segment(void **state)
{
    (void)state;
    const struct sdiff_decap d = SDIFF_DECAP_INIT;
    for (int t = 0; t < T__COUNT; t++) {
        for (int outer = 4; outer <= 6; outer += 2) {
            for (int inner = 4; inner <= 6; inner += 2) {
                struct fb f;
                inner_packet(&f, inner);
                wrap_tunnel(&f, t, inner, outer, outer == 4 ? TUN_B : TUN_B6,
                            outer == 4 ? TUN_A : TUN_A6, 0x123);
                wrap_eth(&f, outer == 4 ? 0x0800 : 0x86dd);
                struct sdiff_segment s;
                uint8_t *copy;
                assert_int_equal(decode_d(&d, f.b, f.n, f.n, &s, &copy), SDIFF_DECODE_TCP);
                assert_std_segment(&s, inner);
                assert_ptr_equal(s.payload, copy + f.n - PLEN);
                assert_int_equal(s.len, PLEN);
                assert_int_equal(s.tun.depth, 1);
                assert_int_equal(s.tun.kind[0], tunnel_kind_of(t));
                assert_int_equal(s.tun.family, outer);
                /* lower address first, whichever way the packet went */
                assert_memory_equal(s.tun.addr[0], outer == 4 ? TUN_A : TUN_A6, 16);
                assert_memory_equal(s.tun.addr[1], outer == 4 ? TUN_B : TUN_B6, 16);
                int has_id = t != T_GRE && t != T_GRE_CSUM && t != T_ERSPAN1;
                assert_int_equal(s.tun.id, has_id ? 0x123 : 0);
                int eth = t != T_GENEVE_IP && (t < T_GRE || t > T_GRE_CSUM);
                assert_int_equal(s.tun.frame_linktype, eth ? 1 : 101);
                size_t iplen = (inner == 4 ? 20 : 40) + 20 + PLEN;
                assert_int_equal(s.tun.frame_off, f.n - iplen - (eth ? 14 : 0));
                free(copy);
                /* without decapsulation it is not TCP */
                assert_int_equal(decode(1, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_NOT_TCP);
                assert_int_equal(s.tun.depth, 0);
            }
        }
    }
}

static void test_decode__tunnel_truncation_at_every_length_never_overreads(void **state)
{
    (void)state;
    const struct sdiff_decap d = SDIFF_DECAP_INIT;
    for (int t = 0; t < T__COUNT; t++) {
        for (int outer = 4; outer <= 6; outer += 2) {
            struct fb f;
            inner_packet(&f, 4);
            wrap_tunnel(&f, t, 4, outer, outer == 4 ? TUN_A : TUN_A6,
                        outer == 4 ? TUN_B : TUN_B6, 9);
            wrap_tunnel(&f, (t + 5) % T__COUNT, outer, 4, TUN_A, TUN_B, 10);
            wrap_eth(&f, 0x0800);
            size_t hdr = f.n - PLEN;
            for (size_t cut = 0; cut <= f.n; cut++) {
                struct sdiff_segment s;
                uint8_t *copy;
                enum sdiff_decode_kind k = decode_d(&d, f.b, cut, f.n, &s, &copy);
                if (cut < hdr) {
                    assert_int_equal(k, SDIFF_DECODE_TRUNCATED);
                } else {
                    assert_int_equal(k, SDIFF_DECODE_TCP);
                    assert_int_equal(s.tun.depth, 2);
                    assert_ptr_equal(s.payload, copy + hdr);
                    assert_int_equal(s.len, cut - hdr);
                    assert_int_equal(s.missing, PLEN - (cut - hdr));
                }
                free(copy);
                k = decode_d(&d, f.b, cut, cut, &s, NULL);
                assert_true(k == SDIFF_DECODE_TRUNCATED || k == SDIFF_DECODE_MALFORMED ||
                            (k == SDIFF_DECODE_TCP && cut == f.n));
            }
        }
    }
}

static void test_decode__tunnels_nest_four_deep_and_no_deeper(void **state)
{
    (void)state;
    const struct sdiff_decap d = SDIFF_DECAP_INIT;
    const int kinds[] = {T_GRE_KEY, T_VXLAN, T_GENEVE_ETH, T_ERSPAN3_O, T_GRE};
    for (int depth = 1; depth <= 5; depth++) {
        struct fb f;
        inner_packet(&f, 4);
        for (int i = depth - 1; i >= 0; i--)
            wrap_tunnel(&f, kinds[i], 4, 4, TUN_A, TUN_B, (uint32_t)(100 + i));
        wrap_eth(&f, 0x0800);
        struct sdiff_segment s;
        enum sdiff_decode_kind k = decode_d(&d, f.b, f.n, f.n, &s, NULL);
        if (depth == 5) {
            assert_int_equal(k, SDIFF_DECODE_TOO_DEEP);
            assert_int_equal(s.tun.depth, SDIFF_TUNNEL_MAX_DEPTH);
            continue;
        }
        assert_int_equal(k, SDIFF_DECODE_TCP);
        assert_std_segment(&s, 4);
        assert_int_equal(s.tun.depth, depth);
        for (int i = 0; i < depth; i++)
            assert_int_equal(s.tun.kind[i], tunnel_kind_of(kinds[i]));
        assert_int_equal(s.tun.outer != 0, depth > 1);
    }
    assert_string_equal(sdiff_decode_kind_str(SDIFF_DECODE_TOO_DEEP), "tunnels nested too deep");
}

/* The identity of a VXLAN tunnel from src to dst with vni around the standard packet. */
static struct sdiff_segment tunnel_seg(const uint8_t *src, const uint8_t *dst, uint32_t vni,
                                       int t)
{
    const struct sdiff_decap d = SDIFF_DECAP_INIT;
    struct fb f;
    inner_packet(&f, 4);
    wrap_tunnel(&f, t, 4, 4, src, dst, vni);
    wrap_eth(&f, 0x0800);
    struct sdiff_segment s;
    assert_int_equal(decode_d(&d, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_TCP);
    return s;
}

static void test_decode__tunnel_identity_separates_sources_and_vnis(void **state)
{
    (void)state;
    const uint8_t other[16] = {172, 16, 0, 3};
    struct sdiff_segment a = tunnel_seg(TUN_A, TUN_B, 100, T_VXLAN);
    struct sdiff_segment back = tunnel_seg(TUN_B, TUN_A, 100, T_VXLAN);
    struct sdiff_segment vni = tunnel_seg(TUN_A, TUN_B, 200, T_VXLAN);
    struct sdiff_segment src = tunnel_seg(other, TUN_B, 100, T_VXLAN);
    struct sdiff_segment gre = tunnel_seg(TUN_A, TUN_B, 100, T_GRE_KEY);
    struct sdiff_segment none;
    struct fb f;
    inner_packet(&f, 4);
    assert_int_equal(decode(101, f.b, f.n, f.n, &none, NULL), SDIFF_DECODE_TCP);
    assert_true(sdiff_tunnel_equal(&a.tun, &back.tun));
    assert_true(sdiff_tunnel_hash(&a.tun) == sdiff_tunnel_hash(&back.tun));
    assert_false(sdiff_tunnel_equal(&a.tun, &vni.tun));
    assert_false(sdiff_tunnel_equal(&a.tun, &src.tun));
    assert_false(sdiff_tunnel_equal(&a.tun, &gre.tun));
    assert_false(sdiff_tunnel_equal(&a.tun, &none.tun));
    assert_true(sdiff_tunnel_equal(&none.tun, &none.tun));
    assert_true(sdiff_tunnel_hash(&none.tun) == 0);
    assert_true(sdiff_tunnel_hash(&a.tun) != sdiff_tunnel_hash(&vni.tun));
}

static void test_decode__tunnel_headers_we_do_not_know_are_not_tcp(void **state)
{
    (void)state;
    const struct sdiff_decap d = SDIFF_DECAP_INIT;
    struct sdiff_segment s;
    struct fb f;
    /* VXLAN without the I flag */
    inner_packet(&f, 4);
    wrap_eth(&f, 0x0800);
    put32(&f, 0);
    struct fb h = {.n = 0};
    put32(&h, 0);
    put32(&h, 100 << 8);
    prepend(&f, &h);
    wrap_udp(&f, 4789);
    wrap_ip(&f, 4, 17, TUN_A, TUN_B);
    wrap_eth(&f, 0x0800);
    assert_int_equal(decode_d(&d, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_NOT_TCP);
    /* VXLAN on a port not configured */
    struct sdiff_decap other = {{9999}, 1, {0}, 0, 0};
    struct fb g;
    inner_packet(&g, 4);
    wrap_tunnel(&g, T_VXLAN, 4, 4, TUN_A, TUN_B, 1);
    wrap_eth(&g, 0x0800);
    assert_int_equal(decode_d(&other, g.b, g.n, g.n, &s, NULL), SDIFF_DECODE_NOT_TCP);
    assert_int_equal(decode_d(&d, g.b, g.n, g.n, &s, NULL), SDIFF_DECODE_TCP);
    /* GRE: source routing (R), version 1, an unknown protocol; Geneve version 1 */
    const unsigned gre_flags[] = {0x4000, 0x0001, 0x0800};
    for (size_t i = 0; i < 3; i++) {
        inner_packet(&f, 4);
        wrap_gre(&f, gre_flags[i], 0x0800, 0);
        wrap_ip(&f, 4, 47, TUN_A, TUN_B);
        wrap_eth(&f, 0x0800);
        assert_int_equal(decode_d(&d, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_NOT_TCP);
    }
    inner_packet(&f, 4);
    wrap_gre(&f, 0, 0x8847, 0); /* MPLS */
    wrap_ip(&f, 4, 47, TUN_A, TUN_B);
    wrap_eth(&f, 0x0800);
    assert_int_equal(decode_d(&d, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_NOT_IP);
    inner_packet(&f, 4);
    wrap_geneve(&f, 0x0800, 1, 0);
    f.b[0] = 0x40; /* version 1 */
    wrap_udp(&f, 6081);
    wrap_ip(&f, 4, 17, TUN_A, TUN_B);
    wrap_eth(&f, 0x0800);
    assert_int_equal(decode_d(&d, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_NOT_TCP);
    /* a UDP length beyond the IP packet */
    inner_packet(&f, 4);
    wrap_tunnel(&f, T_VXLAN, 4, 4, TUN_A, TUN_B, 1);
    f.b[20 + 4] = 0xff;
    wrap_eth(&f, 0x0800);
    assert_int_equal(decode_d(&d, f.b, f.n, f.n, &s, NULL), SDIFF_DECODE_MALFORMED);
}

static void test_decode__decap_option_parses_and_refuses(void **state)
{
    (void)state;
    struct sdiff_decap d = SDIFF_DECAP_INIT;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_decap_parse(&d, "vxlan:4789", &err), SDIFF_OK);
    assert_int_equal(d.nvxlan, 1);
    assert_int_equal(d.ngeneve, 1);
    assert_int_equal(sdiff_decap_parse(&d, "geneve:6081,7000,65535", &err), SDIFF_OK);
    assert_int_equal(d.ngeneve, 3);
    assert_int_equal(d.geneve_ports[2], 65535);
    assert_int_equal(sdiff_decap_parse(&d, "gre:off", &err), SDIFF_OK);
    assert_int_equal(d.gre, 0);
    assert_int_equal(sdiff_decap_parse(&d, "gre", &err), SDIFF_OK);
    assert_int_equal(d.gre, 1);
    assert_int_equal(sdiff_decap_parse(&d, "vxlan:off", &err), SDIFF_OK);
    assert_int_equal(d.nvxlan, 0);
    assert_int_equal(sdiff_decap_parse(&d, "none", &err), SDIFF_OK);
    assert_int_equal(d.nvxlan + d.ngeneve + (size_t)d.gre, 0);
    const char *bad[] = {"vxlan", "vxlan:", "vxlan:0", "vxlan:65536", "vxlan:1,", "vxlan:,1",
                         "vxlan:12a", "geneve:1,2,3,4,5,6,7,8,9", "gre:4789", "mpls:1", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sdiff_err e = {0};
        assert_int_equal(sdiff_decap_parse(&d, bad[i], &e), SDIFF_EINVAL);
        assert_true(e.msg[0] != '\0');
    }
    for (int k = 0; k < SDIFF_TUN__COUNT; k++)
        assert_string_not_equal(sdiff_tunnel_kind_str((enum sdiff_tunnel_kind)k), "unknown");
}

/* ---- TCP checksums --------------------------------------------------------------------- */

/* Checksum results over every TCP segment of a fixture: [0] bad, [1] good, [2] cannot tell. */
static void checksum_counts(const char *fixture, int flip, unsigned counts[3])
{
    struct sdiff_capture_opts o = {.pcap_file = sdiff_test_fixture_path(fixture)};
    struct sdiff_capture *cap = NULL;
    struct sdiff_err err = {0};
    if (sdiff_capture_open(&cap, &o, &err) < 0)
        fail_msg("%s: %s", fixture, err.msg);
    struct sdiff_packet pkt;
    counts[0] = counts[1] = counts[2] = 0;
    while (sdiff_capture_next(cap, &pkt, NULL) == SDIFF_OK) {
        uint8_t copy[65536];
        assert_true(pkt.caplen <= sizeof copy);
        memcpy(copy, pkt.data, pkt.caplen);
        struct sdiff_segment seg;
        if (sdiff_decode_frame(pkt.linktype, copy, pkt.caplen, pkt.wirelen, pkt.ts_us, &seg) !=
            SDIFF_DECODE_TCP)
            continue;
        if (flip && seg.len > 0)
            copy[pkt.caplen - 1] ^= 0x20; /* one payload bit */
        int r = sdiff_decode_tcp_checksum(&seg);
        counts[r < 0 ? 2 : r]++;
    }
    sdiff_capture_close(cap);
}

static void test_decode__tcp_checksums_verify_over_ipv4_and_ipv6(void **state)
{
    (void)state;
    unsigned n[3];
    /* scapy computed every checksum: IPv4, IPv4 with options, IPv6, IPv6 with a hop-by-hop
     * header, behind VLAN tags */
    const char *good[] = {"pcap/vlan_ipv6.pcap", "pcap/raw_ip.pcap", "pcap/seq_wrap.pcap"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        checksum_counts(good[i], 0, n);
        assert_int_equal(n[0], 0);
        assert_int_equal(n[2], 0);
        assert_true(n[1] > 10);
        unsigned total = n[1];
        checksum_counts(good[i], 1, n); /* every segment with a payload now fails */
        assert_true(n[0] > 0 && n[0] < total);
        assert_int_equal(n[0] + n[1], total);
    }
    /* the two forged copies, one IPv4 and one IPv6, are the only bad ones */
    checksum_counts("pcap/desync_bad_checksum.pcap", 0, n);
    assert_int_equal(n[0], 2);
    assert_int_equal(n[1], 28);
}

static void test_decode__tcp_checksum_of_a_cut_or_routed_segment_cannot_be_told(void **state)
{
    (void)state;
    struct fb f = {.n = 0};
    ipv4(&f, 5, 20 + 20 + PLEN, 0x4000, 6);
    tcp(&f, 5, 0x18);
    putn(&f, PAYLOAD, PLEN);
    struct sdiff_segment seg;
    assert_int_equal(sdiff_decode_frame(101, f.b, f.n - 5, f.n, 0, &seg), SDIFF_DECODE_TCP);
    assert_int_equal(seg.missing, 5);
    assert_int_equal(sdiff_decode_tcp_checksum(&seg), -1);
    /* IPv6 with a routing header: the pseudo-header's destination is not in the packet */
    f.n = 0;
    ipv6(&f, 8 + 20 + PLEN, 43);
    put8(&f, 6);
    put8(&f, 0);
    putz(&f, 6);
    tcp(&f, 5, 0x18);
    putn(&f, PAYLOAD, PLEN);
    assert_int_equal(sdiff_decode_frame(101, f.b, f.n, f.n, 0, &seg), SDIFF_DECODE_TCP);
    assert_int_equal(sdiff_decode_tcp_checksum(&seg), -1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_decode__every_linktype_decodes_tcp),
    cmocka_unit_test(test_decode__null_link_accepts_both_byte_orders_and_inet6_values),
    cmocka_unit_test(test_decode__vlan_and_qinq_tags_skipped),
    cmocka_unit_test(test_decode__vlan_in_linux_cooked_skipped),
    cmocka_unit_test(test_decode__ethernet_padding_trimmed),
    cmocka_unit_test(test_decode__ipv4_options_and_tcp_options_skipped),
    cmocka_unit_test(test_decode__ipv4_bad_lengths_malformed),
    cmocka_unit_test(test_decode__ipv4_zero_total_length_runs_to_frame_end),
    cmocka_unit_test(test_decode__ipv4_fragments_reported),
    cmocka_unit_test(test_decode__non_tcp_and_non_ip_classified),
    cmocka_unit_test(test_decode__ipv6_extension_headers_skipped),
    cmocka_unit_test(test_decode__ipv6_fragment_and_non_tcp_classified),
    cmocka_unit_test(test_decode__ipv6_jumbo_and_zero_length_handled),
    cmocka_unit_test(test_decode__snaplen_cut_reports_missing_bytes),
    cmocka_unit_test(test_decode__truncation_at_every_length_never_overreads),
    cmocka_unit_test(test_decode__null_data_is_truncated),
    cmocka_unit_test(test_decode__kind_names_are_distinct),
    cmocka_unit_test(test_decode__every_tunnel_kind_gives_the_inner_segment),
    cmocka_unit_test(test_decode__tunnel_truncation_at_every_length_never_overreads),
    cmocka_unit_test(test_decode__tunnels_nest_four_deep_and_no_deeper),
    cmocka_unit_test(test_decode__tunnel_identity_separates_sources_and_vnis),
    cmocka_unit_test(test_decode__tunnel_headers_we_do_not_know_are_not_tcp),
    cmocka_unit_test(test_decode__decap_option_parses_and_refuses),
    cmocka_unit_test(test_decode__tcp_checksums_verify_over_ipv4_and_ipv6),
    cmocka_unit_test(test_decode__tcp_checksum_of_a_cut_or_routed_segment_cannot_be_told),
};
SDIFF_TEST_MAIN(tests)
