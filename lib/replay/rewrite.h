#ifndef SDIFF_REPLAY_REWRITE_H
#define SDIFF_REPLAY_REWRITE_H
/*
 * rewrite.h - the one request-rewrite layer of lib/replay: what a captured request becomes
 * on the wire, whichever transport carries it (replay.c builds each job's fields with it;
 * libcurl and the native client in client.c both send those). The replay guard lives here:
 * captured marker headers are stripped (any case, every copy, also when no marker is sent)
 * and exactly one of ours is added; the method overrides a request carries are found here.
 */
#include "shadowdiff/replay.h"

/* A "Name: value" option (set_headers, marker), split in place. */
struct sdiff__hdr_opt {
    char *name;
    size_t nlen;
    const char *value;
    size_t vlen;
};

/* The rewrite rules of one replay engine, from its options; read-only once made. */
struct sdiff__rewrite {
    int preserve_host;
    struct sdiff__hdr_opt *set;
    size_t nset;
    char **drop;
    size_t ndrop;
    struct sdiff__hdr_opt marker;             /* name NULL: no marker is sent */
    char marker_line[SDIFF_REPLAY_MARKER_MAX]; /* "Name: value" as sent; "" when none */
};

/*
 * The rules from o: set and drop lists, and the marker (NULL: X-Shadowdiff with a new run
 * token; "": none). SDIFF_EINVAL for a set header or marker that is not "Name: value", a
 * marker over SDIFF_REPLAY_MARKER_MAX - 1 bytes, or a set header naming a marker header.
 * Dispose even on failure.
 */
int sdiff__rewrite_init(struct sdiff__rewrite *rw, const struct sdiff_replay_opts *o,
                        struct sdiff_err *err);
void sdiff__rewrite_dispose(struct sdiff__rewrite *rw);

/* Why a captured request cannot be sent as it was ("not replayed: ..." into why), or 0. */
int sdiff__rewrite_unsendable(const struct sdiff_msg *req, char *why, size_t whysz);

/*
 * The request-target to send: origin-form as captured, absolute-form reduced to its path
 * and query (RFC 9112 3.2.2), both after the target's path prefix (*prefixed); "*" as is.
 * *slash: a '/' must come before the path ("http://host?q" becomes "/?q").
 * SDIFF_EINVAL when the target is in neither form (see sdiff__rewrite_unsendable).
 */
int sdiff__rewrite_target(const char *cap, const char **path, size_t *path_len, int *prefixed,
                          int *slash);

/* Whether a body (possibly empty) is sent: the request framed one or has bytes; never HEAD. */
int sdiff__rewrite_has_body(const struct sdiff_msg *req);

/*
 * The header fields to send, in order, one call of fn each: the captured fields in their
 * order and case, less hop-by-hop fields, dropped names, marker headers and values that
 * cannot be sent; set headers at the place of their first captured copy; Content-Length as
 * clen (NULL: not sent); Host as authority unless preserve_host; then the set headers that
 * were not captured, then the marker. Values are borrowed for the call.
 */
typedef void (*sdiff__field_fn)(void *ud, const char *name, size_t nlen, const char *value,
                                size_t vlen);
void sdiff__rewrite_fields(const struct sdiff__rewrite *rw, const struct sdiff_msg *req,
                           const char *authority, const char *clen, sdiff__field_fn fn,
                           void *ud);

/* HTTP helpers the transports share. */
int sdiff__replay_ieq(const char *a, size_t alen, const char *b, size_t blen);
int sdiff__replay_is_ows(char c);
int sdiff__replay_is_token(const char *s, size_t n);
/* Whether the comma-separated list v (RFC 9110 5.6.1) has the element tok. */
int sdiff__replay_list_has(const char *v, size_t vlen, const char *tok, size_t toklen);

#endif
