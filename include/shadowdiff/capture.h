#ifndef SDIFF_CAPTURE_H
#define SDIFF_CAPTURE_H

#include "shadowdiff/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/capture.h - packet sources: a pcap/pcapng file or a live interface (libpcap).
 *
 * Live capture uses a snap length that keeps whole packets (never a short default that cuts
 * bodies) and a configurable kernel ring, read in blocks (TPACKET_V3 on Linux, not immediate
 * mode: its fixed frames make a ring of the same size hold a hundred times fewer packets);
 * a packet waits at most 50 ms in a partly filled block. It needs CAP_NET_RAW
 * (and CAP_NET_ADMIN for some interfaces' promiscuous mode, which we do not request). The
 * packet returned by sdiff_capture_next borrows libpcap's buffer until the next call. A
 * pcapng file is read by our own reader, so its interfaces may have different link types
 * (each packet carries its own).
 * Not thread-safe, except sdiff_capture_break, which may be called from a signal handler.
 */

struct sdiff_capture_opts {
    const char *interface;   /* live source, or NULL */
    const char *pcap_file;   /* file source ("-" for stdin), or NULL */
    const char *filter;      /* BPF expression, or NULL for every packet */
    int snaplen;             /* 0: 262144 */
    int buffer_bytes;        /* live kernel buffer; 0: 32 MiB */
    int timeout_ms;          /* live: how long next() waits before SDIFF_MORE; 0: 200 */
};

struct sdiff_packet {
    uint64_t ts_us;
    int linktype;
    const uint8_t *data;     /* borrowed until the next sdiff_capture_next */
    size_t caplen;
    size_t wirelen;
};

struct sdiff_capture_stats {
    uint64_t packets;        /* frames read */
    uint64_t bytes;          /* captured bytes read */
    uint64_t kernel_drops;   /* live: dropped by the kernel (pcap_stats ps_drop) */
    uint64_t iface_drops;    /* live: dropped by the interface (ps_ifdrop) */
};

struct sdiff_capture;

/**
 * Open a source and apply the filter. Errors are specific: a missing file or interface,
 * a file that is not a capture, a missing capability (SDIFF_EPERM), a bad filter.
 * @return SDIFF_OK, SDIFF_EINVAL, SDIFF_EIO, SDIFF_EPERM, SDIFF_ENOMEM; free with _close
 */
SDIFF_API int sdiff_capture_open(struct sdiff_capture **out, const struct sdiff_capture_opts *o,
                                 struct sdiff_err *err);
SDIFF_API void sdiff_capture_close(struct sdiff_capture *c);

/**
 * Next packet.
 * @return SDIFF_OK (pkt filled), SDIFF_MORE (live: nothing within the timeout),
 *         SDIFF_END (end of file), SDIFF_EIO (a corrupt
 *         or truncated file; err says where)
 */
SDIFF_API int sdiff_capture_next(struct sdiff_capture *c, struct sdiff_packet *pkt,
                                 struct sdiff_err *err);

/** Counters; for live sources also asks the kernel for its drop counts. */
SDIFF_API void sdiff_capture_stats(struct sdiff_capture *c, struct sdiff_capture_stats *st);

/** Whether the source is a live interface. */
SDIFF_API int sdiff_capture_is_live(const struct sdiff_capture *c);

/**
 * Build a BPF expression for live capture from the server ports plus an optional extra
 * expression: "((tcp and (port 80 or port 8080)) or (vlan and tcp and (...))) and (EXTRA)".
 * Caller frees with sdiff_free.
 */
SDIFF_API char *sdiff_capture_build_filter(const uint16_t *ports, size_t nports,
                                           const char *extra);

/**
 * The same, widened for tunnels: UDP to any of the nudp tunnel ports, and (gre) IP protocol
 * 47, pass whatever they carry, since the port filter and extra apply to the inner packet,
 * which the kernel cannot see into (see sdiff_capture_filter). Caller frees with sdiff_free.
 */
SDIFF_API char *sdiff_capture_build_filter_tunnels(const uint16_t *ports, size_t nports,
                                                   const char *extra, const uint16_t *udp_ports,
                                                   size_t nudp, int gre);

/*
 * A BPF expression run in user space on frames of any link type, compiled once per link
 * type as they appear: for the inner frames of decapsulated packets. Not thread-safe.
 */
struct sdiff_capture_filter;

/**
 * @param expr  a BPF expression; checked by compiling it for Ethernet
 * @return SDIFF_OK, SDIFF_EINVAL (a bad expression), SDIFF_ENOMEM; free with _free
 */
SDIFF_API int sdiff_capture_filter_new(struct sdiff_capture_filter **out, const char *expr,
                                       struct sdiff_err *err);
SDIFF_API void sdiff_capture_filter_free(struct sdiff_capture_filter *f);

/**
 * Whether a frame passes. A link type the expression cannot be compiled for (an "ether"
 * test on raw IP) never passes.
 * @return 1 or 0
 */
SDIFF_API int sdiff_capture_filter_match(struct sdiff_capture_filter *f, int linktype,
                                         const uint8_t *data, size_t caplen, size_t wirelen);

/* ---- privileges ----------------------------------------------------------------------- */

/*
 * What sdiff_capture_drop_privileges gives up. Capabilities belong to each thread in Linux, so
 * both act on every thread of the process (each is sent a signal whose handler drops its own,
 * and every thread's /proc status is checked until it shows the result). Where /proc is not
 * mounted (a bare chroot) only the calling thread can be reached and checked.
 */
#define SDIFF_PRIV_BOUNDING 1u /* empty the bounding set; ignored without CAP_SETPCAP (which
                                  root has) */
#define SDIFF_PRIV_SETS 2u     /* clear the permitted, effective, inheritable and ambient sets
                                  and set no_new_privs: nothing can be regained, not even by
                                  executing a program with file capabilities */

/**
 * Give up privileges for good, in every thread (see SDIFF_PRIV_*). Call it once the capture
 * handle is open: nothing after that needs a capability.
 * @return SDIFF_OK, or SDIFF_EPERM (a thread kept something; err names it)
 */
SDIFF_API int sdiff_capture_drop_privileges(unsigned what, struct sdiff_err *err);

#ifdef __cplusplus
}
#endif
#endif
