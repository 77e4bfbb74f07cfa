/*
 * capture.c - the only file that includes <pcap.h>: opens files and interfaces, reads
 * packets, turns libpcap's errors into one-line messages a user can act on. pcapng files
 * are read by pcapng.c instead, which keeps each interface's link type.
 */
#include "shadowdiff/capture.h"

#include <errno.h>
#include <pcap.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "capture/capture_int.h"

/* A filter compiled for one link type of a pcapng file. */
struct ng_filter {
    int linktype;
    struct bpf_program prog;
};

struct sdiff_capture {
    pcap_t *pc;
    struct sdiff__pcapng *ng; /* a pcapng file: read without libpcap, see capture_int.h */
    char *ng_expr;            /* its filter, compiled per link type as they appear */
    struct ng_filter ng_filters[8];
    size_t ng_nfilters;
    int live;
    int linktype;
    int fd;          /* live: selectable descriptor */
    int timeout_ms;  /* live: how long next() waits */
    struct sdiff_capture_stats st;
    char name[256];
};

/*
 * Longest a captured packet waits in a partly filled ring block before it is read. A block
 * handed over early holds few packets: with the default 32 MiB ring (128 blocks of 256 KiB)
 * a capture that cannot read still loses nothing of slow traffic for 128 x 50 ms = 6.4 s.
 */
#define SDIFF_BLOCK_MS 50

static int open_live(struct sdiff_capture *c, const struct sdiff_capture_opts *o,
                     struct sdiff_err *err)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    c->pc = pcap_create(o->interface, ebuf);
    if (c->pc == NULL)
        return sdiff_err_set(err, SDIFF_EIO, "capture", "cannot open interface %s: %s",
                             o->interface, ebuf);
    pcap_set_snaplen(c->pc, o->snaplen > 0 ? o->snaplen : 262144);
    /*
     * Not immediate mode: on Linux that selects a TPACKET_V2 ring of fixed frames sized for
     * the snap length, about 128 KiB each on lo, so a 32 MiB buffer holds 256 packets and a
     * stall of a few milliseconds drops traffic. The TPACKET_V3 ring packs packets by their
     * real size (a 16 MiB ring held 8,000 packets of a stalled capture without a drop, where
     * immediate mode dropped 99%). Its blocks are handed over when full or after
     * SDIFF_BLOCK_MS, which bounds the added delay.
     */
    pcap_set_immediate_mode(c->pc, 0);
    pcap_set_buffer_size(c->pc, o->buffer_bytes > 0 ? o->buffer_bytes : 32 << 20);
    pcap_set_timeout(c->pc, SDIFF_BLOCK_MS);
    int rc = pcap_activate(c->pc);
    if (rc < 0) {
        const char *why = pcap_geterr(c->pc);
        switch (rc) {
        case PCAP_ERROR_NO_SUCH_DEVICE:
            return sdiff_err_set(err, SDIFF_EINVAL, "capture", "no such interface: %s",
                                 o->interface);
        case PCAP_ERROR_PERM_DENIED:
            return sdiff_err_set(err, SDIFF_EPERM, "capture",
                                 "no permission to capture on %s: run as root or grant "
                                 "CAP_NET_RAW (setcap cap_net_raw+ep shadowdiff)",
                                 o->interface);
        case PCAP_ERROR_IFACE_NOT_UP:
            return sdiff_err_set(err, SDIFF_EIO, "capture", "interface %s is down",
                                 o->interface);
        default:
            return sdiff_err_set(err, SDIFF_EIO, "capture", "cannot capture on %s: %s",
                                 o->interface, why);
        }
    }
    /* Wait in our own poll() with a timeout, so a quiet interface still lets the caller
     * serve signals, durations and idle expiry. */
    if (pcap_setnonblock(c->pc, 1, ebuf) < 0)
        return sdiff_err_set(err, SDIFF_EIO, "capture", "cannot capture on %s: %s",
                             o->interface, ebuf);
    c->fd = pcap_get_selectable_fd(c->pc);
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 200;
    c->live = 1;
    snprintf(c->name, sizeof c->name, "%s", o->interface);
    return SDIFF_OK;
}

static int open_file(struct sdiff_capture *c, const struct sdiff_capture_opts *o,
                     struct sdiff_err *err)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    struct stat sb;
    if (strcmp(o->pcap_file, "-") != 0) {
        if (stat(o->pcap_file, &sb) != 0)
            return sdiff_err_set(err, SDIFF_EIO, "capture", "cannot open %s: %s", o->pcap_file,
                                 strerror(errno));
        if (S_ISDIR(sb.st_mode))
            return sdiff_err_set(err, SDIFF_EIO, "capture", "%s is a directory", o->pcap_file);
        if (sb.st_size == 0)
            return sdiff_err_set(err, SDIFF_EIO, "capture", "%s is empty, not a pcap file",
                                 o->pcap_file);
    }
    FILE *f = strcmp(o->pcap_file, "-") == 0 ? stdin : fopen(o->pcap_file, "rb");
    if (f == NULL)
        return sdiff_err_set(err, SDIFF_EIO, "capture", "cannot open %s: %s", o->pcap_file,
                             strerror(errno));
    snprintf(c->name, sizeof c->name, "%s", o->pcap_file);
    int first = getc(f);
    if (first != EOF)
        ungetc(first, f);
    if (first == SDIFF_PCAPNG_FIRST_BYTE)
        return sdiff__pcapng_open(&c->ng, f, o->pcap_file, err);
    c->pc = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
    if (c->pc == NULL) {
        if (f != stdin)
            fclose(f); /* pcap_close closes it once libpcap has taken it */
        if (strstr(ebuf, "unknown file format") || strstr(ebuf, "bad dump file format"))
            return sdiff_err_set(err, SDIFF_EIO, "capture",
                                 "%s is not a pcap or pcapng file", o->pcap_file);
        if (strstr(ebuf, "truncated"))
            return sdiff_err_set(err, SDIFF_EIO, "capture", "%s: truncated file header",
                                 o->pcap_file);
        return sdiff_err_set(err, SDIFF_EIO, "capture", "cannot read %s: %s", o->pcap_file,
                             ebuf);
    }
    return SDIFF_OK;
}

int sdiff_capture_open(struct sdiff_capture **out, const struct sdiff_capture_opts *o,
                       struct sdiff_err *err)
{
    struct sdiff_capture *c = NULL;
    int rc;
    *out = NULL;
    if (SDIFF_NEVER(o == NULL))
        return SDIFF_EINVAL;
    if ((o->interface == NULL) == (o->pcap_file == NULL))
        return sdiff_err_set(err, SDIFF_EINVAL, "capture",
                             "give exactly one of an interface or a pcap file");
    c = sdiff_calloc(1, sizeof *c);
    if (c == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "capture", "out of memory");
    c->fd = -1;
    rc = o->interface ? open_live(c, o, err) : open_file(c, o, err);
    if (rc < 0)
        goto fail;
    if (c->ng) {
        /* compiled per link type by ng_filter_pass, as the interfaces appear */
        if (o->filter && *o->filter && (c->ng_expr = sdiff_strdup(o->filter)) == NULL) {
            rc = sdiff_err_set(err, SDIFF_ENOMEM, "capture", "out of memory");
            goto fail;
        }
        *out = c;
        return SDIFF_OK;
    }
    c->linktype = pcap_datalink(c->pc);
    if (o->filter && *o->filter) {
        struct bpf_program prog;
        if (pcap_compile(c->pc, &prog, o->filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
            rc = sdiff_err_set(err, SDIFF_EINVAL, "capture", "bad filter \"%s\": %s",
                               o->filter, pcap_geterr(c->pc));
            goto fail;
        }
        int frc = pcap_setfilter(c->pc, &prog);
        pcap_freecode(&prog);
        if (frc < 0) {
            rc = sdiff_err_set(err, SDIFF_EIO, "capture", "cannot set filter: %s",
                               pcap_geterr(c->pc));
            goto fail;
        }
    }
    *out = c;
    return SDIFF_OK;
fail:
    sdiff_capture_close(c);
    return rc;
}

void sdiff_capture_close(struct sdiff_capture *c)
{
    if (c == NULL)
        return;
    if (c->pc)
        pcap_close(c->pc);
    sdiff__pcapng_close(c->ng);
    for (size_t i = 0; i < c->ng_nfilters; i++)
        pcap_freecode(&c->ng_filters[i].prog);
    sdiff_free(c->ng_expr);
    sdiff_free(c);
}

/* libpcap compiles for DLT values; the file gives LINKTYPE values (pcap-linktype(7)). */
static int linktype_to_dlt(int linktype)
{
    switch (linktype) {
    case 101: return DLT_RAW;
    case 100: return DLT_ATM_RFC1483;
    default: return linktype;
    }
}

/* Whether a pcapng packet passes the filter (compiled once per link type). */
static int ng_filter_pass(struct sdiff_capture *c, const struct sdiff_packet *pkt,
                          struct sdiff_err *err)
{
    struct ng_filter *f = NULL;
    for (size_t i = 0; i < c->ng_nfilters && f == NULL; i++)
        if (c->ng_filters[i].linktype == pkt->linktype)
            f = &c->ng_filters[i];
    if (f == NULL) {
        if (c->ng_nfilters == sizeof c->ng_filters / sizeof c->ng_filters[0])
            return sdiff_err_set(err, SDIFF_EINVAL, "capture",
                                 "%s: --filter with more than %zu link types in one file",
                                 c->name, c->ng_nfilters);
        pcap_t *dead = pcap_open_dead(linktype_to_dlt(pkt->linktype), 262144);
        if (dead == NULL)
            return sdiff_err_set(err, SDIFF_ENOMEM, "capture", "out of memory");
        f = &c->ng_filters[c->ng_nfilters];
        int crc = pcap_compile(dead, &f->prog, c->ng_expr, 1, PCAP_NETMASK_UNKNOWN);
        if (crc < 0)
            sdiff_err_set(err, SDIFF_EINVAL, "capture", "bad filter \"%s\" for link type %d: %s",
                          c->ng_expr, pkt->linktype, pcap_geterr(dead));
        pcap_close(dead);
        if (crc < 0)
            return SDIFF_EINVAL;
        f->linktype = pkt->linktype;
        c->ng_nfilters++;
    }
    struct pcap_pkthdr h = {.caplen = (bpf_u_int32)pkt->caplen, .len = (bpf_u_int32)pkt->wirelen};
    return pcap_offline_filter(&f->prog, &h, pkt->data) != 0;
}

static int ng_next(struct sdiff_capture *c, struct sdiff_packet *pkt, struct sdiff_err *err)
{
    for (;;) {
        struct sdiff_err e = {0};
        int rc = sdiff__pcapng_next(c->ng, pkt, &e);
        if (rc == SDIFF_END)
            return rc;
        if (rc < 0)
            return sdiff_err_set(err, rc, "capture", "%s: corrupt capture after %llu packets: %s",
                                 c->name, (unsigned long long)c->st.packets, e.msg);
        rc = c->ng_expr ? ng_filter_pass(c, pkt, err) : 1;
        if (rc < 0)
            return rc;
        if (rc > 0) {
            /* counted as libpcap counts: the packets the filter let through */
            c->st.packets++;
            c->st.bytes += pkt->caplen;
            return SDIFF_OK;
        }
    }
}

int sdiff_capture_next(struct sdiff_capture *c, struct sdiff_packet *pkt, struct sdiff_err *err)
{
    struct pcap_pkthdr *h;
    const u_char *data;
    if (c->ng)
        return ng_next(c, pkt, err);
    int rc = pcap_next_ex(c->pc, &h, &data);
    if (rc == 0 && c->live && c->fd >= 0) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        if (poll(&pfd, 1, c->timeout_ms) <= 0)
            return SDIFF_MORE; /* timeout or a signal */
        rc = pcap_next_ex(c->pc, &h, &data);
    }
    switch (rc) {
    case 1:
        break;
    case 0:
        return SDIFF_MORE;
    case PCAP_ERROR_BREAK:
        return SDIFF_END;
    default:
        /* pcapng pcap_next_ex returns -1 with "truncated" / "bad block" messages */
        return sdiff_err_set(err, SDIFF_EIO, "capture", "%s: corrupt capture after %llu packets: %s",
                             c->name, (unsigned long long)c->st.packets, pcap_geterr(c->pc));
    }
    pkt->ts_us = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
    pkt->linktype = c->linktype;
    pkt->data = data;
    pkt->caplen = h->caplen;
    pkt->wirelen = h->len < h->caplen ? h->caplen : h->len;
    c->st.packets++;
    c->st.bytes += h->caplen;
    return SDIFF_OK;
}

void sdiff_capture_stats(struct sdiff_capture *c, struct sdiff_capture_stats *st)
{
    if (c->live) {
        struct pcap_stat ps;
        if (pcap_stats(c->pc, &ps) == 0) {
            c->st.kernel_drops = ps.ps_drop;
            c->st.iface_drops = ps.ps_ifdrop;
        }
    }
    *st = c->st;
}

int sdiff_capture_is_live(const struct sdiff_capture *c)
{
    return c->live;
}

/* "tcp and (port 80 or port 8080)" (or "tcp") into p. */
static int port_expr(struct sdiff_buf *p, const uint16_t *ports, size_t nports)
{
    int rc = sdiff_buf_puts(p, "tcp");
    for (size_t i = 0; i < nports && rc >= 0; i++)
        rc = sdiff_buf_printf(p, "%s port %u%s", i ? " or" : " and (", (unsigned)ports[i],
                              i + 1 == nports ? ")" : "");
    return rc;
}

char *sdiff_capture_build_filter(const uint16_t *ports, size_t nports, const char *extra)
{
    struct sdiff_buf p, b;
    sdiff_buf_init(&p, 1u << 16);
    sdiff_buf_init(&b, 1u << 17);
    int rc = port_expr(&p, ports, nports);
    /* The same test again behind an 802.1Q tag: BPF offsets shift after "vlan". */
    rc = rc < 0 ? rc : sdiff_buf_printf(&b, "((%s) or (vlan and %s))", p.data, p.data);
    if (extra && *extra && rc >= 0)
        rc = sdiff_buf_printf(&b, " and (%s)", extra);
    sdiff_buf_dispose(&p);
    if (rc < 0) {
        sdiff_buf_dispose(&b);
        return NULL;
    }
    return (char *)sdiff_buf_steal(&b, NULL);
}

char *sdiff_capture_build_filter_tunnels(const uint16_t *ports, size_t nports, const char *extra,
                                         const uint16_t *udp_ports, size_t nudp, int gre)
{
    if (nudp == 0 && !gre)
        return sdiff_capture_build_filter(ports, nports, extra);
    struct sdiff_buf p, b;
    sdiff_buf_init(&p, 1u << 16);
    sdiff_buf_init(&b, 1u << 17);
    int rc = sdiff_buf_puts(&p, "(");
    rc = rc < 0 ? rc : port_expr(&p, ports, nports);
    if (extra && *extra && rc >= 0)
        rc = sdiff_buf_printf(&p, ") and (%s", extra);
    rc = rc < 0 ? rc : sdiff_buf_puts(&p, ")");
    for (size_t i = 0; i < nudp && rc >= 0; i++)
        rc = sdiff_buf_printf(&p, "%s dst port %u%s", i ? " or" : " or (udp and (",
                              (unsigned)udp_ports[i], i + 1 == nudp ? "))" : "");
    if (gre && rc >= 0)
        rc = sdiff_buf_puts(&p, " or ip proto 47 or ip6 proto 47");
    /* As above: the untagged test first, then the same behind one and two 802.1Q/802.1ad
     * tags (switches mirror from tagged trunks; ERSPAN often arrives double tagged). */
    rc = rc < 0 ? rc
                : sdiff_buf_printf(&b, "(%s) or (vlan and ((%s) or (vlan and (%s))))", p.data,
                                   p.data, p.data);
    sdiff_buf_dispose(&p);
    if (rc < 0) {
        sdiff_buf_dispose(&b);
        return NULL;
    }
    return (char *)sdiff_buf_steal(&b, NULL);
}

/* ---- user-space filter ----------------------------------------------------------------- */

struct sdiff_capture_filter {
    char *expr;
    struct {
        int linktype;
        int ok; /* compiled; else the expression does not apply to this link type */
        struct bpf_program prog;
    } per[8];
    size_t n;
};

static int filter_compile(const char *expr, int linktype, struct bpf_program *prog, char *why,
                          size_t whylen)
{
    pcap_t *dead = pcap_open_dead(linktype_to_dlt(linktype), 262144);
    if (dead == NULL) {
        snprintf(why, whylen, "out of memory");
        return SDIFF_ENOMEM;
    }
    int rc = pcap_compile(dead, prog, expr, 1, PCAP_NETMASK_UNKNOWN);
    if (rc < 0)
        snprintf(why, whylen, "%s", pcap_geterr(dead));
    pcap_close(dead);
    return rc < 0 ? SDIFF_EINVAL : SDIFF_OK;
}

int sdiff_capture_filter_new(struct sdiff_capture_filter **out, const char *expr,
                             struct sdiff_err *err)
{
    *out = NULL;
    if (SDIFF_NEVER(expr == NULL))
        return SDIFF_EINVAL;
    struct sdiff_capture_filter *f = sdiff_calloc(1, sizeof *f);
    if (f == NULL || (f->expr = sdiff_strdup(expr)) == NULL) {
        sdiff_free(f);
        return sdiff_err_set(err, SDIFF_ENOMEM, "capture", "out of memory");
    }
    char why[PCAP_ERRBUF_SIZE];
    int rc = filter_compile(expr, 1, &f->per[0].prog, why, sizeof why);
    if (rc < 0) {
        sdiff_capture_filter_free(f);
        return sdiff_err_set(err, rc, "capture", "bad filter \"%s\": %s", expr, why);
    }
    f->per[0].linktype = 1;
    f->per[0].ok = 1;
    f->n = 1;
    *out = f;
    return SDIFF_OK;
}

void sdiff_capture_filter_free(struct sdiff_capture_filter *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n; i++)
        if (f->per[i].ok)
            pcap_freecode(&f->per[i].prog);
    sdiff_free(f->expr);
    sdiff_free(f);
}

int sdiff_capture_filter_match(struct sdiff_capture_filter *f, int linktype, const uint8_t *data,
                               size_t caplen, size_t wirelen)
{
    size_t i = 0;
    while (i < f->n && f->per[i].linktype != linktype)
        i++;
    if (i == f->n) {
        if (f->n == sizeof f->per / sizeof f->per[0])
            return 0;
        char why[PCAP_ERRBUF_SIZE];
        f->per[i].linktype = linktype;
        f->per[i].ok = filter_compile(f->expr, linktype, &f->per[i].prog, why, sizeof why) == 0;
        f->n++;
    }
    if (!f->per[i].ok)
        return 0;
    struct pcap_pkthdr h = {.caplen = (bpf_u_int32)caplen,
                            .len = (bpf_u_int32)(wirelen > UINT32_MAX ? UINT32_MAX : wirelen)};
    return pcap_offline_filter(&f->per[i].prog, &h, data) != 0;
}
