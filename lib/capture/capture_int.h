#ifndef SDIFF_CAPTURE_INT_H
#define SDIFF_CAPTURE_INT_H
/*
 * capture_int.h - what the files of capture/ share: the pcapng reader.
 *
 * libpcap reads a pcapng file only while every interface it describes has the link type of
 * the first one; a capture made on several interfaces (dumpcap -i eth0 -i lo) mixes them,
 * and then libpcap refuses the file at its second interface block. This reader gives each
 * packet its own interface's link type.
 */
#include <stdio.h>

#include "shadowdiff/capture.h"

/* The first byte of a pcapng file (its Section Header Block type is 0x0A0D0D0A). */
#define SDIFF_PCAPNG_FIRST_BYTE 0x0A

struct sdiff__pcapng;

/*
 * Read the Section Header Block from f, which is owned from here: closed by _close, and on
 * failure (stdin is never closed). name is for messages. SDIFF_EIO with "not a pcap or
 * pcapng file", "truncated file header" or an unsupported version.
 */
int sdiff__pcapng_open(struct sdiff__pcapng **out, FILE *f, const char *name,
                       struct sdiff_err *err);
void sdiff__pcapng_close(struct sdiff__pcapng *r);

/*
 * Next packet, with its interface's link type; data borrowed until the next call.
 * SDIFF_OK, SDIFF_END at the end of the file, SDIFF_EIO for a corrupt block. A file that
 * ends inside a block gives SDIFF_EIO with a message containing "truncated dump file", as
 * libpcap says for a pcap cut inside its last record.
 */
int sdiff__pcapng_next(struct sdiff__pcapng *r, struct sdiff_packet *pkt, struct sdiff_err *err);

#endif
