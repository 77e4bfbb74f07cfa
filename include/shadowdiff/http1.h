#ifndef SDIFF_HTTP1_H
#define SDIFF_HTTP1_H

#include "shadowdiff/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/http1.h - incremental HTTP/1.1 message parser (RFC 9112), one per stream
 * direction.
 *
 * Bytes go in as they arrive, split anywhere; the callbacks see the same sequence whatever
 * the split (body bytes may come in different pieces, their concatenation is the same).
 * The header block is collected in a buffer bounded by limits.max_header_bytes; the views in
 * struct sdiff_http1_head point into it and are valid only during on_head. Body bytes are
 * handed out transfer-decoded (de-chunked), borrowed for the call.
 *
 * Framing follows RFC 9112 section 6: requests without Content-Length or Transfer-Encoding
 * have no body; responses to HEAD, 1xx, 204 and 304 have no body; a response without either
 * field is delimited by the close of the connection. Conflicting framing (Content-Length
 * with Transfer-Encoding, differing Content-Length values, a request Transfer-Encoding whose
 * last coding is not chunked, an invalid length or chunk size) is a parse error, with two
 * exceptions for requests, so that what was seen is kept: a request with Content-Length and
 * a chunked Transfer-Encoding is framed by the Transfer-Encoding (RFC 9112 6.3 item 3) and
 * flagged (head.framing_problem); a request whose length cannot be determined, or whose
 * request line is refused but still reads "METHOD target HTTP/1.x" in printable ASCII, gets
 * its on_head (head.refused) before the parser fails.
 * After a parse error the parser stays failed until sdiff_http1_resync, which makes it hunt
 * for the start of the next message. Not thread-safe.
 */

enum sdiff_http1_kind { SDIFF_HTTP1_REQUEST = 0, SDIFF_HTTP1_RESPONSE = 1 };

enum sdiff_http1_framing {
    SDIFF_HTTP1_NOBODY = 0,
    SDIFF_HTTP1_LENGTH,   /* Content-Length */
    SDIFF_HTTP1_CHUNKED,
    SDIFF_HTTP1_CLOSE,    /* response body runs to the end of the connection */
};

struct sdiff_http1_header {
    struct sdiff_slice name;  /* as on the wire (case kept) */
    struct sdiff_slice value; /* leading and trailing whitespace removed */
};

/* A parsed start line and header block; every view is valid only during on_head. */
struct sdiff_http1_head {
    enum sdiff_http1_kind kind;
    struct sdiff_slice method;  /* requests */
    struct sdiff_slice target;  /* requests */
    int status;                 /* responses */
    struct sdiff_slice reason;  /* responses; may be empty */
    int version_minor;          /* HTTP/1.<version_minor> */
    const struct sdiff_http1_header *headers; /* in wire order */
    size_t nheaders;
    enum sdiff_http1_framing framing;
    uint64_t content_length;    /* for SDIFF_HTTP1_LENGTH */
    int keep_alive;             /* connection persists after this message */
    int expect_continue;        /* request had Expect: 100-continue */
    int upgrade;                /* 101 response: the parser ignores the bytes after it */
    /* Requests only; NULL otherwise. framing_problem: the framing is usable but a smuggling
     * risk (Content-Length beside a chunked Transfer-Encoding: framed by the latter, RFC
     * 9112 6.3); parsing goes on. refused: the message cannot be framed or its request line
     * was refused; the head is handed over only so the caller keeps what was seen (a refused
     * request line comes as method, target and version as seen, without fields), and the
     * parser fails with this reason (SDIFF_EPARSE) as soon as on_head returns. */
    const char *framing_problem;
    const char *refused;
};

/* on_head may return this for a response to make it bodiless (the request was HEAD). */
#define SDIFF_HTTP1_SKIP_BODY 1

/*
 * Callbacks; any may be NULL. A negative return from a callback stops the parser, and
 * sdiff_http1_feed returns that value.
 */
struct sdiff_http1_cb {
    /* the first byte of a new message was consumed */
    int (*on_begin)(void *ud);
    int (*on_head)(const struct sdiff_http1_head *h, void *ud);
    int (*on_body)(const uint8_t *p, size_t len, void *ud);
    /* trailer fields of a chunked message (views valid during the call) */
    int (*on_trailers)(const struct sdiff_http1_header *h, size_t n, void *ud);
    int (*on_complete)(void *ud);
};

struct sdiff_http1;

/**
 * @param limits  copied; max_header_bytes and max_header_count are used
 * @param cb      copied
 * @return SDIFF_OK or SDIFF_ENOMEM; caller frees *out with sdiff_http1_free
 */
SDIFF_API int sdiff_http1_new(struct sdiff_http1 **out, enum sdiff_http1_kind kind,
                              const struct sdiff_limits *limits, const struct sdiff_http1_cb *cb,
                              void *ud, struct sdiff_err *err);
SDIFF_API void sdiff_http1_free(struct sdiff_http1 *p);

/**
 * Parse the next len bytes of the stream; all of them are consumed (the parser buffers what
 * it needs). Completes as many messages as the bytes hold.
 *
 * @return SDIFF_OK, SDIFF_EPARSE (malformed message; err says what and where),
 *         SDIFF_ELIMIT (header block or field count over the limit), SDIFF_ENOMEM, or a
 *         negative value returned by a callback
 */
SDIFF_API int sdiff_http1_feed(struct sdiff_http1 *p, const uint8_t *data, size_t len,
                               struct sdiff_err *err);

/**
 * The stream ended (FIN, or end of capture). Completes a close-delimited response.
 * @return SDIFF_OK when the parser was between messages or finished one; SDIFF_ETRUNC when a
 *         message was cut short (its on_complete is not called)
 */
SDIFF_API int sdiff_http1_eof(struct sdiff_http1 *p, struct sdiff_err *err);

/**
 * len bytes of the stream were lost. When they fall inside a body of known remaining length
 * (Content-Length or the current chunk), they are skipped and SDIFF_OK is returned: the
 * message continues, short of those bytes (the caller marks it). Otherwise framing is lost:
 * the parser starts hunting for the next message start and SDIFF_EPARSE is returned.
 */
SDIFF_API int sdiff_http1_gap(struct sdiff_http1 *p, uint64_t len);

/**
 * Forget the current message and hunt for the next start line: a request line
 * ("METHOD target HTTP/1.x") or status line ("HTTP/1.x NNN") at the start of a line. Used
 * after a parse error, a gap, and for connections already open when capture began.
 */
SDIFF_API void sdiff_http1_resync(struct sdiff_http1 *p);

/**
 * While hunting, let a start line begin at any byte, not only at a line start, and only
 * where it looks like one by a stricter pattern: a standard method (GET, HEAD, POST, PUT,
 * DELETE, PATCH, OPTIONS, CONNECT, TRACE), a space and a target's first byte ('/', "http",
 * '*'), or "HTTP/1.x ddd". For a connection picked up midstream: its first bytes end a
 * message whose framing was never seen, and a pipelined message follows a body with no line
 * end ("...}POST /b HTTP/1.1"). A line start counts no more than any byte then, so a custom
 * method is not found this way. Stays set across resyncs until turned off.
 */
SDIFF_API void sdiff_http1_hunt_anywhere(struct sdiff_http1 *p, int on);

/** Whether the parser is inside a message (some of its bytes were consumed). */
SDIFF_API int sdiff_http1_in_message(const struct sdiff_http1 *p);
/**
 * Whether the current message's start line was valid, also after the message failed: then
 * it is HTTP whose fields, framing or size are wrong, not bytes of another protocol.
 */
SDIFF_API int sdiff_http1_start_line_ok(const struct sdiff_http1 *p);
/** Whether the connection was upgraded (a 101, or set_upgraded): bytes after are ignored. */
SDIFF_API int sdiff_http1_upgraded(const struct sdiff_http1 *p);
/** Stop parsing: the other direction switched protocols (the request side after a 101). */
SDIFF_API void sdiff_http1_set_upgraded(struct sdiff_http1 *p);
/**
 * After sdiff_http1_feed failed: how many of the bytes it was given were consumed when it
 * stopped (for a refused line, field or framing: through the end of that line). Feeding the
 * rest after sdiff_http1_resync goes on as if the stream had been split there.
 */
SDIFF_API size_t sdiff_http1_consumed(const struct sdiff_http1 *p);

/** Bytes thrown away while hunting for a message start. */
SDIFF_API uint64_t sdiff_http1_skipped_bytes(const struct sdiff_http1 *p);

/**
 * What the parser holds now, as sdiff_mem_cost counts it: itself and its buffers (a split
 * header block, the field table). At most about twice limits.max_header_bytes; for a memory
 * budget.
 */
SDIFF_API size_t sdiff_http1_mem(const struct sdiff_http1 *p);

#ifdef __cplusplus
}
#endif
#endif
