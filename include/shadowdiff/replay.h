#ifndef SDIFF_REPLAY_H
#define SDIFF_REPLAY_H

#include "shadowdiff/core.h"
#include "shadowdiff/exchange.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/replay.h - sends captured requests to live targets (the candidate, a secondary,
 * a live primary): http:// with shadowdiff's own HTTP/1.1 client, https:// with the libcurl
 * multi interface. One event loop, no thread per request, persistent connections per target.
 *
 * Requests are sent faithfully: method, request-target, headers in wire order and case,
 * body. Hop-by-hop headers (Connection and what it names, Keep-Alive, Proxy-Connection, TE,
 * Trailer, Transfer-Encoding, Upgrade) are not forwarded; Content-Length is recomputed from
 * the body; Host becomes the target's unless preserve_host. Redirects are never followed and
 * bodies never decompressed: the raw bytes are recorded (de-chunked). Not thread-safe.
 *
 * The marker: every replay carries exactly one marker header, by default
 * "X-Shadowdiff: <run token>" (128 random bits in hex, new for each engine), so the candidate
 * can tell replays from real traffic and a capture can tell our replays from requests that
 * only claim to be (a forged marker). Marker headers in the captured request are removed
 * whatever their case or number, also when no marker is sent.
 */

#define SDIFF_REPLAY_MARKER_NAME "X-Shadowdiff"
#define SDIFF_REPLAY_TOKEN_LEN 32    /* hex digits of a run token */
#define SDIFF_REPLAY_MARKER_MAX 256  /* a marker line "Name: value" with its NUL */

enum sdiff_replay_error {
    SDIFF_REPLAY_OK = 0,
    SDIFF_REPLAY_REFUSED,    /* connection refused */
    SDIFF_REPLAY_RESET,      /* connection reset or closed before a complete response */
    SDIFF_REPLAY_TIMEOUT,    /* connect or total timeout */
    SDIFF_REPLAY_TLS,        /* TLS handshake or verification failed */
    SDIFF_REPLAY_RESOLVE,    /* host name did not resolve */
    SDIFF_REPLAY_TOO_LARGE,  /* response body over max_body (kept up to it) */
    SDIFF_REPLAY_PROTOCOL,   /* the answer was not valid HTTP */
    SDIFF_REPLAY_OTHER,
    SDIFF_REPLAY__COUNT
};

enum sdiff_replay_transport {
    SDIFF_REPLAY_TRANSPORT_AUTO = 0, /* the native HTTP/1.1 client for http://, libcurl for
                                        https:// */
    SDIFF_REPLAY_TRANSPORT_CURL,     /* libcurl for every target */
    SDIFF_REPLAY_TRANSPORT_NATIVE,   /* as AUTO: https:// still needs libcurl */
};

/* A transport that carries requests ready for the wire (lib/replay/replay_int.h). */
struct sdiff_transport_ops;

struct sdiff_replay_opts {
    size_t concurrency;           /* requests in flight over all targets; 0: 16 */
    double rate;                  /* requests started per second over all targets; 0: no cap */
    long connect_timeout_ms;      /* 0: 2000 */
    long timeout_ms;              /* whole request; 0: 10000 */
    int preserve_host;            /* send the captured Host header */
    const char *const *set_headers;  /* "Name: value": replaces or adds */
    size_t nset;
    const char *const *drop_headers; /* names not to send */
    size_t ndrop;
    const char *marker;           /* "Name: value" added to every request; NULL: X-Shadowdiff
                                     with a new run token (sdiff_replay_marker says which);
                                     "": none. Captured marker headers (X-Shadowdiff and
                                     this name) are never forwarded */
    int insecure;                 /* do not verify TLS certificates */
    size_t max_body;              /* response body bytes kept; 0: 8 MiB */
    size_t max_queue;             /* requests waiting beyond the concurrency; 0: 4096 */
    enum sdiff_replay_transport transport;
    const struct sdiff_transport_ops *transport_ops; /* carries every target instead (tests) */
};

struct sdiff_replay_result {
    size_t target;                /* index into the targets given to sdiff_replay_new */
    enum sdiff_replay_error error;
    char errmsg[160];             /* one line, when error != OK */
    struct sdiff_msg resp;        /* status, reason, headers in wire order, raw body;
                                     method and target NULL; present once a status line
                                     came, complete only when error is OK */
    double latency_ms;            /* from the first request byte written to the last response
                                     byte read (connecting and queueing not counted) */
};

/*
 * Called once per submitted request when it finishes (answered or failed); takes ownership
 * of res, which is freed with sdiff_replay_result_free. May call sdiff_replay_submit (not
 * sdiff_replay_run, which then returns SDIFF_EINVAL, nor sdiff_replay_free).
 */
typedef void (*sdiff_replay_done_fn)(void *tag, struct sdiff_replay_result *res, void *ud);

struct sdiff_replay;

/**
 * @param targets   base URLs ("http://127.0.0.1:8081", optionally with a path prefix);
 *                  copied
 * @return SDIFF_OK, SDIFF_EINVAL (a URL that is not http:// or https://, or has credentials,
 *         a query or a fragment; a set_headers entry or marker not "Name: value"),
 *         SDIFF_ENOMEM
 */
SDIFF_API int sdiff_replay_new(struct sdiff_replay **out, const struct sdiff_replay_opts *o,
                               const char *const *targets, size_t ntargets,
                               sdiff_replay_done_fn fn, void *ud, struct sdiff_err *err);
/** Abort what is in flight (no callbacks) and free. NULL-safe. */
SDIFF_API void sdiff_replay_free(struct sdiff_replay *r);

/**
 * Queue the request of ex for one target. Copies what it needs from ex. Requests beyond
 * the concurrency wait in a queue (of at most max_queue entries: then SDIFF_ELIMIT).
 * A request that cannot be sent as captured (method not a token, control characters in the
 * target, a target neither origin nor absolute form, a body the capture cut) is accepted
 * and reported through the callback as SDIFF_REPLAY_OTHER, errmsg "not replayed: ...".
 * @return SDIFF_OK, SDIFF_ELIMIT, SDIFF_EINVAL (target out of range), SDIFF_ENOMEM
 */
SDIFF_API int sdiff_replay_submit(struct sdiff_replay *r, const struct sdiff_exchange *ex,
                                  size_t target, void *tag, struct sdiff_err *err);

/**
 * Drive transfers for up to timeout_ms (0: do what is ready and return). Callbacks run from
 * here; it returns early once some have run (so the caller can submit more) or nothing is
 * pending. Returns the number of requests still queued or in flight, or a negative status.
 */
SDIFF_API int sdiff_replay_run(struct sdiff_replay *r, int timeout_ms, struct sdiff_err *err);

/** Make a sdiff_replay_run waiting in another thread return early. Thread-safe. */
SDIFF_API void sdiff_replay_wakeup(struct sdiff_replay *r);
/** Requests queued or in flight. */
SDIFF_API size_t sdiff_replay_pending(const struct sdiff_replay *r);

/** The marker line this engine sends ("X-Shadowdiff: <token>"), or "" when none. Borrowed. */
SDIFF_API const char *sdiff_replay_marker(const struct sdiff_replay *r);

/** A new run token: 128 random bits as 32 lowercase hex digits. SDIFF_OK or SDIFF_ERR. */
SDIFF_API int sdiff_replay_token(char out[SDIFF_REPLAY_TOKEN_LEN + 1], struct sdiff_err *err);

enum sdiff_replay_mark {
    SDIFF_REPLAY_MARK_NONE = 0, /* no marker header */
    SDIFF_REPLAY_MARK_OURS,     /* a marker header with exactly our marker's value */
    SDIFF_REPLAY_MARK_FORGED,   /* marker headers, none of them ours */
};
/**
 * Whether a captured request carries a marker header (X-Shadowdiff, or the name of marker)
 * and whether it is ours. marker: the line sent ("Name: value"), "" or NULL when none is
 * sent (then every marker header is forged).
 */
SDIFF_API enum sdiff_replay_mark sdiff_replay_marker_check(const struct sdiff_msg *req,
                                                           const char *marker);

/* A method override a request carries: frameworks route it as that method, not its own. */
struct sdiff_replay_override {
    const char *where; /* "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override",
                          "_method in the query", "_method in the form body" (static) */
    char method[64];   /* the value, percent-decoded for a parameter; cut to fit */
};
/**
 * The method overrides of a request: the X-HTTP-Method-Override, X-HTTP-Method and
 * X-Method-Override headers (every copy), the _method query parameter and, in an
 * application/x-www-form-urlencoded or multipart/form-data body, the _method field. Fills
 * at most max of them into out; returns how many there are.
 */
SDIFF_API size_t sdiff_replay_overrides(const struct sdiff_msg *req,
                                        struct sdiff_replay_override *out, size_t max);

SDIFF_API void sdiff_replay_result_free(struct sdiff_replay_result *res);
/** "refused", "reset", "timeout", ... */
SDIFF_API const char *sdiff_replay_error_str(enum sdiff_replay_error e);
/** Whether a header is hop-by-hop (never forwarded). */
SDIFF_API int sdiff_replay_is_hop_by_hop(const char *name, size_t len);

/* ---- a small bounded fetch for the rest of the library -------------------------------- */

/**
 * GET url (http:// or https:// only) and append its body to out, whose maximum is the size
 * limit. The whole transfer takes at most timeout_ms (0: 2000); redirects are never
 * followed (a 3xx is an error, as is any status but 2xx); the body is not decoded. On the
 * caller's thread; thread-safe (no shared state but libcurl's global init, done once).
 * @return SDIFF_OK; SDIFF_EINVAL (not an http(s) URL); SDIFF_ENET; SDIFF_ETIMEOUT;
 *         SDIFF_ELIMIT (body over out->max: out holds what fitted); SDIFF_ERR (status)
 */
SDIFF_API int sdiff_replay_fetch(const char *url, long timeout_ms, struct sdiff_buf *out,
                                 struct sdiff_err *err);

#ifdef __cplusplus
}
#endif
#endif
