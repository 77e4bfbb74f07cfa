#ifndef SDIFF_EXCHANGE_H
#define SDIFF_EXCHANGE_H

#include "shadowdiff/core.h"
#include "shadowdiff/decode.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/exchange.h - one HTTP request and the response it got, owned.
 *
 * An exchange owns every byte it points to (header blocks and bodies) and is freed with
 * sdiff_exchange_free. Bodies are stored after transfer decoding (de-chunked), never
 * content-decoded, and cut at the body limit.
 */

enum sdiff_exchange_state {
    SDIFF_EX_COMPLETE = 0,   /* request and response fully seen */
    SDIFF_EX_TRUNCATED,      /* a body was over the body limit; kept up to it */
    SDIFF_EX_GAP,            /* bytes of the request or response were lost by the capture */
    SDIFF_EX_NO_RESPONSE,    /* the connection or capture ended before the response */
    SDIFF_EX_UNPARSABLE,     /* the request or its response was not valid HTTP/1.x */
    SDIFF_EX_UNACKNOWLEDGED, /* bytes of it were never acknowledged by their receiver */
    SDIFF_EX_SHED,           /* capture's memory budget was full: its bodies (or head) were
                                not kept; never replayed */
    SDIFF_EX__COUNT
};

struct sdiff_hfield {
    const char *name;        /* NUL-terminated, wire case */
    const char *value;       /* NUL-terminated */
    size_t name_len;
    size_t value_len;
};

struct sdiff_msg {
    int present;             /* a start line was parsed */
    char *method;            /* request; NUL-terminated */
    char *target;            /* request */
    int status;              /* response; 0 when absent */
    char *reason;            /* response */
    int version_minor;       /* HTTP/1.<version_minor> */
    struct sdiff_hfield *headers; /* wire order; one allocation with the strings above */
    size_t nheaders;
    uint8_t *body;           /* NULL when empty */
    size_t body_len;         /* bytes kept */
    uint64_t body_seen;      /* bytes seen after transfer decoding (>= body_len when cut) */
    int chunked;             /* the body was chunked on the wire */
    int complete;            /* the message ended properly */
};

struct sdiff_exchange {
    uint64_t id;             /* assigned by the store; 0 before */
    uint64_t conn_id;        /* connection, in order of first packet */
    uint32_t seq;            /* index of this exchange on its connection */
    char client[64];         /* "addr:port" ("[v6]:port") */
    char server[64];
    /* The tunnels the connection came through (depth 0: none): their kinds, outermost first,
     * and the innermost one's outer endpoints (lower address first) and VNI, GRE key or
     * ERSPAN session, so mirrored sources with the same inner addresses are told apart.
     * frame_linktype and frame_off are a packet's and mean nothing here. */
    struct sdiff_tunnel tunnel;
    struct sdiff_msg req;
    struct sdiff_msg resp;
    uint64_t t_req_start;    /* capture timestamps, microseconds since the epoch */
    uint64_t t_req_end;
    uint64_t t_resp_start;
    uint64_t t_resp_end;
    enum sdiff_exchange_state state;
    char note[160];          /* why it is not complete, for people */
};

/** An empty exchange; caller frees with sdiff_exchange_free. NULL on allocation failure. */
SDIFF_API struct sdiff_exchange *sdiff_exchange_new(void);
SDIFF_API void sdiff_exchange_free(struct sdiff_exchange *ex);

/** "complete", "truncated", "gap", "no_response", "unparsable", "unacknowledged", "shed". */
SDIFF_API const char *sdiff_exchange_state_str(enum sdiff_exchange_state s);
/** Parse a state name; -1 when unknown. */
SDIFF_API int sdiff_exchange_state_parse(const char *s);

/** The first header named name (case-insensitive), or NULL. */
SDIFF_API const struct sdiff_hfield *sdiff_msg_header(const struct sdiff_msg *m,
                                                      const char *name);

/**
 * Replace a message's header list with a copy of n fields (names and values copied).
 * Used when building exchanges from stored data. SDIFF_OK or SDIFF_ENOMEM.
 */
SDIFF_API int sdiff_msg_set_headers(struct sdiff_msg *m, const struct sdiff_hfield *h, size_t n);

/**
 * Read one HTTP/1.x response (status line, headers, body in any framing) from data into m,
 * or, when data does not start with "HTTP/1.", take it all as a bare body (m->present = 0).
 * 1xx interim responses before the final one are skipped. Bodies beyond max_body are cut.
 * @return SDIFF_OK, SDIFF_EPARSE (err says where), SDIFF_ETRUNC, SDIFF_ENOMEM; release m with
 *         sdiff_msg_dispose
 */
SDIFF_API int sdiff_msg_read_response(const uint8_t *data, size_t len, size_t max_body,
                                      struct sdiff_msg *m, struct sdiff_err *err);
/** Free what a message owns and zero it. NULL-safe. */
SDIFF_API void sdiff_msg_dispose(struct sdiff_msg *m);

/**
 * Add where the exchange was mirrored from to b, which holds one JSON object as
 * sdiff_exchange_to_json writes it: before its closing brace, "tunnel": {"kinds": ["gre",
 * "vxlan"], "endpoints": ["10.8.0.1", "10.9.0.7"], "id": 500}. Nothing when the exchange
 * came through no tunnel.
 * @return SDIFF_OK, SDIFF_EINVAL (b does not end with '}'), SDIFF_ENOMEM, SDIFF_ELIMIT
 */
SDIFF_API int sdiff_exchange_json_add_tunnel(const struct sdiff_exchange *ex, struct sdiff_buf *b);

/** Primary latency in milliseconds (response end - request start), or -1 when unknown. */
SDIFF_API double sdiff_exchange_primary_ms(const struct sdiff_exchange *ex);

/**
 * Whether a header name is sensitive by default: Authorization, Proxy-Authorization, Cookie,
 * Set-Cookie, X-Api-Key, Api-Key, X-Auth-Token, X-Access-Token, X-Csrf-Token, X-Xsrf-Token,
 * X-Amz-Security-Token, X-Goog-Api-Key, Private-Token, X-Vault-Token.
 */
SDIFF_API int sdiff_header_is_secret(const char *name, size_t len);

/* A redacted value holds this prefix and SDIFF_REDACTED_HEX hex digits of a keyed hash. */
#define SDIFF_REDACTED_PREFIX "hmac:"
#define SDIFF_REDACTED_HEX 16

/**
 * Whether a value was redacted: it holds a keyed hash ("hmac:" and 16 lowercase hex
 * digits, as written by shadowdiff/redact.h), or is the "[redacted]" of older versions.
 */
SDIFF_API int sdiff_value_is_redacted(const char *v, size_t len);

#ifdef __cplusplus
}
#endif
#endif
