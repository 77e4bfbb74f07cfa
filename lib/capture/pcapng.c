/*
 * pcapng.c - a pcapng reader (draft-ietf-opsawg-pcapng) that keeps each interface's link
 * type, so one file may mix Ethernet, Linux cooked and raw IP interfaces.
 *
 * Every block is
 *
 *   type(4) total_length(4) body(total_length - 12) total_length(4)
 *
 * in the byte order the Section Header Block's byte-order magic shows. A section header
 * starts a new section: its interfaces are numbered from 0 again. Interface Description
 * Blocks may come anywhere before the packets that name them. Blocks other than section,
 * interface and packet blocks (name resolution, statistics, secrets, custom) are skipped.
 */
#include "capture/capture_int.h"

#include <string.h>

#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 1u
#define BT_OPB 2u /* obsolete packet block */
#define BT_SPB 3u /* simple packet block */
#define BT_EPB 6u /* enhanced packet block */
#define BOM 0x1A2B3C4Du
#define MAX_BLOCK (16u << 20) /* libpcap's limit too */
#define MAX_IFACES 4096

struct iface {
    int linktype;
    uint32_t snaplen;
    uint64_t units;  /* timestamp units per second */
    int64_t offset_s; /* if_tsoffset */
};

struct sdiff__pcapng {
    FILE *f;
    int swap;             /* the section's byte order is big-endian */
    struct iface *ifs;
    size_t nifs;
    struct sdiff_buf blk; /* the current block, headers included */
    uint64_t pos;         /* file offset of the next block */
};

/* ---- helpers --------------------------------------------------------------------------- */

static uint32_t get32(const struct sdiff__pcapng *r, struct sdiff_rd *rd)
{
    return r->swap ? sdiff_rd_u32be(rd) : sdiff_rd_u32le(rd);
}

static uint16_t get16(const struct sdiff__pcapng *r, struct sdiff_rd *rd)
{
    return r->swap ? sdiff_rd_u16be(rd) : sdiff_rd_u16le(rd);
}

static uint32_t peek32(const struct sdiff__pcapng *r, const uint8_t *p)
{
    struct sdiff_rd rd;
    sdiff_rd_init(&rd, p, 4);
    return get32(r, &rd);
}

/* Read exactly n bytes into the block buffer; the number read. */
static size_t fill(struct sdiff__pcapng *r, size_t n)
{
    size_t got = 0;
    while (got < n) {
        size_t k = fread(r->blk.data + r->blk.len, 1, n - got, r->f);
        if (k == 0)
            break;
        r->blk.len += k;
        got += k;
    }
    return got;
}

static int truncated(struct sdiff__pcapng *r, uint32_t need, struct sdiff_err *err)
{
    return sdiff_err_set(err, SDIFF_EIO, "capture",
                         "truncated dump file; the block at offset %llu has %u bytes, only %zu"
                         " are in the file",
                         (unsigned long long)r->pos, need, r->blk.len);
}

static int corrupt(struct sdiff__pcapng *r, const char *what, uint32_t v, struct sdiff_err *err)
{
    return sdiff_err_set(err, SDIFF_EIO, "capture", "the block at offset %llu %s (%u)",
                         (unsigned long long)r->pos, what, v);
}

/*
 * Read the next whole block into r->blk. SDIFF_OK, SDIFF_END at a clean end of the file.
 * A section header's byte order is learnt here, before its length is read.
 */
static int read_block(struct sdiff__pcapng *r, uint32_t *type, struct sdiff_err *err)
{
    sdiff_buf_reset(&r->blk);
    if (sdiff_buf_reserve(&r->blk, 12) < 0)
        return sdiff_err_set(err, SDIFF_ENOMEM, "capture", "out of memory");
    size_t got = fill(r, 8);
    if (got == 0)
        return SDIFF_END;
    if (got < 8)
        return truncated(r, 8, err);
    uint32_t t = peek32(r, r->blk.data);
    if (t == BT_SHB) {
        /* the byte-order magic follows the length */
        if (fill(r, 4) < 4)
            return truncated(r, 12, err);
        const uint8_t *m = r->blk.data + 8;
        uint32_t le = (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 |
                      (uint32_t)m[3] << 24;
        uint32_t be = (uint32_t)m[3] | (uint32_t)m[2] << 8 | (uint32_t)m[1] << 16 |
                      (uint32_t)m[0] << 24;
        if (le != BOM && be != BOM)
            return corrupt(r, "is a section header with a bad byte-order magic", le, err);
        r->swap = be == BOM;
    }
    uint32_t len = peek32(r, r->blk.data + 4);
    if (len < 12 || len % 4 != 0 || len > MAX_BLOCK || (t == BT_SHB && len < 28))
        return corrupt(r, "has an invalid length", len, err);
    if (sdiff_buf_reserve(&r->blk, len - r->blk.len) < 0)
        return sdiff_err_set(err, SDIFF_ENOMEM, "capture", "out of memory");
    size_t want = len - r->blk.len;
    if (fill(r, want) < want)
        return truncated(r, len, err);
    if (peek32(r, r->blk.data + len - 4) != len)
        return corrupt(r, "has different lengths at its start and its end", len, err);
    *type = t;
    return SDIFF_OK;
}

/* Section Header Block: byte order (already learnt), version; forget the interfaces. */
static int section(struct sdiff__pcapng *r, struct sdiff_err *err)
{
    struct sdiff_rd rd;
    sdiff_rd_init(&rd, r->blk.data + 12, r->blk.len - 16);
    uint16_t major = get16(r, &rd), minor = get16(r, &rd);
    if (rd.bad || major != 1)
        return sdiff_err_set(err, SDIFF_EIO, "capture", "pcapng version %u.%u is not supported",
                             major, minor);
    r->nifs = 0;
    return SDIFF_OK;
}

/* Interface Description Block: link type, snap length, timestamp resolution and offset. */
static int interface(struct sdiff__pcapng *r, struct sdiff_err *err)
{
    struct sdiff_rd rd;
    sdiff_rd_init(&rd, r->blk.data + 8, r->blk.len - 12);
    struct iface ifc = {.units = 1000000};
    ifc.linktype = get16(r, &rd);
    sdiff_rd_skip(&rd, 2);
    ifc.snaplen = get32(r, &rd);
    if (rd.bad)
        return corrupt(r, "is an interface description too short for its fields", 0, err);
    /* options: code(2) length(2) value padded to 4 bytes; opt_endofopt (0) ends them */
    while (sdiff_rd_left(&rd) >= 4) {
        uint16_t code = get16(r, &rd), olen = get16(r, &rd);
        const uint8_t *v = sdiff_rd_bytes(&rd, olen);
        sdiff_rd_skip(&rd, (4 - olen % 4) % 4);
        if (v == NULL || code == 0)
            break;
        if (code == 9 && olen >= 1) {
            /* if_tsresol: 10^-n, or 2^-n when the top bit is set */
            unsigned n = v[0] & 0x7f;
            uint64_t u = 1;
            if (v[0] & 0x80) {
                if (n > 63)
                    return corrupt(r, "has a timestamp resolution out of range", v[0], err);
                u <<= n;
            } else {
                if (n > 19)
                    return corrupt(r, "has a timestamp resolution out of range", v[0], err);
                while (n--)
                    u *= 10;
            }
            ifc.units = u;
        } else if (code == 14 && olen == 8) {
            struct sdiff_rd o;
            sdiff_rd_init(&o, v, 8);
            uint32_t a = get32(r, &o), b = get32(r, &o);
            uint64_t x = r->swap ? (uint64_t)a << 32 | b : (uint64_t)b << 32 | a;
            ifc.offset_s = (int64_t)x;
        }
    }
    if (r->nifs == MAX_IFACES)
        return corrupt(r, "describes one interface too many", MAX_IFACES, err);
    if (r->nifs % 16 == 0) {
        struct iface *n = sdiff_realloc(r->ifs, (r->nifs + 16) * sizeof *n);
        if (n == NULL)
            return sdiff_err_set(err, SDIFF_ENOMEM, "capture", "out of memory");
        r->ifs = n;
    }
    r->ifs[r->nifs++] = ifc;
    return SDIFF_OK;
}

static uint64_t to_us(const struct iface *ifc, uint64_t ts)
{
    uint64_t sec = ts / ifc->units, frac = ts % ifc->units;
    uint64_t us = ifc->units == 1000000 ? frac
                                        : (uint64_t)((double)frac * 1e6 / (double)ifc->units);
    sec += (uint64_t)ifc->offset_s; /* unsigned: a damaged offset wraps, never overflows */
    return sec * 1000000u + us;
}

/* ---- API ------------------------------------------------------------------------------- */

int sdiff__pcapng_open(struct sdiff__pcapng **out, FILE *f, const char *name,
                       struct sdiff_err *err)
{
    struct sdiff__pcapng *r = sdiff_calloc(1, sizeof *r);
    uint32_t type = 0;
    int rc;
    *out = NULL;
    if (r == NULL) {
        if (f != stdin)
            fclose(f);
        return sdiff_err_set(err, SDIFF_ENOMEM, "capture", "out of memory");
    }
    r->f = f;
    sdiff_buf_init(&r->blk, MAX_BLOCK);
    struct sdiff_err e = {0};
    rc = read_block(r, &type, &e);
    int shb = r->blk.len >= 4 && peek32(r, r->blk.data) == BT_SHB;
    if (rc == SDIFF_END || !shb || (rc < 0 && strstr(e.msg, "byte-order magic")))
        rc = sdiff_err_set(err, SDIFF_EIO, "capture", "%s is not a pcap or pcapng file", name);
    else if (rc < 0 && strstr(e.msg, "truncated"))
        rc = sdiff_err_set(err, SDIFF_EIO, "capture", "%s: truncated file header", name);
    else if (rc < 0 || (rc = section(r, &e)) < 0)
        rc = sdiff_err_set(err, rc, "capture", "%s: %s", name, e.msg);
    if (rc < 0) {
        sdiff__pcapng_close(r);
        return rc;
    }
    r->pos = r->blk.len;
    *out = r;
    return SDIFF_OK;
}

void sdiff__pcapng_close(struct sdiff__pcapng *r)
{
    if (r == NULL)
        return;
    if (r->f && r->f != stdin)
        fclose(r->f);
    sdiff_buf_dispose(&r->blk);
    sdiff_free(r->ifs);
    sdiff_free(r);
}

int sdiff__pcapng_next(struct sdiff__pcapng *r, struct sdiff_packet *pkt, struct sdiff_err *err)
{
    for (;;) {
        uint32_t type;
        int rc = read_block(r, &type, err);
        if (rc != SDIFF_OK)
            return rc;
        uint64_t at = r->pos;
        struct sdiff_rd rd;
        sdiff_rd_init(&rd, r->blk.data + 8, r->blk.len - 12);
        uint32_t ifid = 0, hi = 0, lo = 0, caplen, wirelen;
        switch (type) {
        case BT_SHB:
            rc = section(r, err);
            break;
        case BT_IDB:
            rc = interface(r, err);
            break;
        case BT_EPB:
        case BT_OPB:
            ifid = type == BT_EPB ? get32(r, &rd) : get16(r, &rd);
            if (type == BT_OPB)
                sdiff_rd_skip(&rd, 2); /* drops count */
            hi = get32(r, &rd);
            lo = get32(r, &rd);
            caplen = get32(r, &rd);
            wirelen = get32(r, &rd);
            goto packet;
        case BT_SPB:
            /* no captured length: what the block holds, at most the snap length */
            wirelen = get32(r, &rd);
            caplen = (uint32_t)sdiff_rd_left(&rd);
            if (wirelen < caplen)
                caplen = wirelen;
            if (r->nifs > 0 && r->ifs[0].snaplen > 0 && caplen > r->ifs[0].snaplen)
                caplen = r->ifs[0].snaplen;
            goto packet;
        default:
            break; /* blocks we do not need */
        }
        r->pos = at + r->blk.len;
        if (rc < 0)
            return rc;
        continue;
    packet:
        if (rd.bad)
            return corrupt(r, "is a packet block too short for its fields", 0, err);
        if (ifid >= r->nifs)
            return corrupt(r, "names an interface no block describes", ifid, err);
        const uint8_t *data = sdiff_rd_bytes(&rd, caplen);
        if (data == NULL)
            return corrupt(r, "claims more captured bytes than it holds", caplen, err);
        r->pos = at + r->blk.len;
        const struct iface *ifc = &r->ifs[ifid];
        pkt->ts_us = to_us(ifc, (uint64_t)hi << 32 | lo);
        pkt->linktype = ifc->linktype;
        pkt->data = data;
        pkt->caplen = caplen;
        pkt->wirelen = wirelen < caplen ? caplen : wirelen;
        return SDIFF_OK;
    }
}
