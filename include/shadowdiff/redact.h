#ifndef SDIFF_REDACT_H
#define SDIFF_REDACT_H

#include "shadowdiff/core.h"
#include "shadowdiff/exchange.h"
#include "shadowdiff/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/redact.h - credentials out of everything stored or printed.
 *
 * A redacted value is replaced by a keyed hash: "hmac:" and the first 16 hex digits of
 * HMAC-SHA256(key, value). Equal secrets give equal hashes, so the differ still tells an
 * unchanged credential from a changed one (and shows the two hashes), while nobody reading a
 * database, a report or a log learns the value. What is redacted in a message:
 *
 *   - secret headers (sdiff_header_is_secret plus a configured list): the credentials of
 *     Authorization and Proxy-Authorization (the scheme stays: "Bearer hmac:..."), each
 *     cookie value of Cookie, the cookie value of Set-Cookie (its name and attributes stay),
 *     the whole value of the others;
 *   - query parameters with a secret name (token, access_token, refresh_token, id_token,
 *     auth, api_key, apikey, key, password, passwd, secret, client_secret, signature, sig,
 *     x-amz-signature, x-amz-credential, x-amz-security-token, x-goog-signature,
 *     x-goog-credential, plus a configured list; names compare case-insensitively after
 *     percent-decoding, and "name[]" or "name[N]" counts as name) and user:password@ in the request-target, in the URL headers Referer,
 *     Location and Content-Location, and in form bodies (application/x-www-form-urlencoded);
 *   - JSON values at configured paths in request and response bodies: JSONPath with `.name`,
 *     `["name"]`, `[N]`, `.*`, `[*]` and `..` (any depth): "$.password",
 *     "$.items[*].token", "$..secret". A string hashes its decoded text; another value
 *     becomes a string holding the hash of its compact JSON. A body that does not parse
 *     (cut at the body limit, say) still has the values of members named like the last step
 *     of a pattern redacted, by a lenient scan;
 *   - every other occurrence, in bodies, request-targets, header values and notes, of a
 *     secret of 8 bytes or more seen in the places above in the same exchange: a service
 *     that echoes a token back does not leak it either.
 *
 * Content-coded bodies (gzip, deflate) are decoded to be searched; when something in one is
 * redacted it is kept decoded and its Content-Encoding is dropped (codings we cannot decode,
 * such as br, are kept as they are). A changed body gets a matching Content-Length. Values
 * already in hash form are left alone, so redacting twice changes nothing.
 *
 * Keys: 32 random bytes kept in the database (meta table) that holds the hashes, created
 * with it, or a key file given by the user (never stored; only its id is). Anyone holding a
 * database and its key can test guesses of a low-entropy secret against the hashes.
 *
 * Not thread-safe: one redactor per thread.
 */

#define SDIFF_REDACT_KEY_MAX 256
/* "hmac:" + 16 hex digits + NUL */
#define SDIFF_REDACT_HASH_SIZE (sizeof SDIFF_REDACTED_PREFIX - 1 + SDIFF_REDACTED_HEX + 1)

struct sdiff_redact_key {
    uint8_t bytes[SDIFF_REDACT_KEY_MAX];
    size_t len;                        /* 0: no key yet */
    int from_file;                     /* the user's key file: never written to a database */
    char id[SDIFF_REDACTED_HEX + 1];   /* 16 hex digits naming the key (a hash of it) */
};

/** 32 random bytes (a key for one output only, such as JSON Lines on stdout). */
SDIFF_API int sdiff_redact_key_random(struct sdiff_redact_key *k, struct sdiff_err *err);
/**
 * Read a key file: its bytes, less one trailing newline; 16 to 256 bytes. Make one with
 * `head -c 32 /dev/urandom > FILE` (or `openssl rand -hex 32 > FILE`), mode 0600.
 * @return SDIFF_OK, SDIFF_EIO (unreadable), SDIFF_EINVAL (too short or too long)
 */
SDIFF_API int sdiff_redact_key_load(struct sdiff_redact_key *k, const char *path,
                                    struct sdiff_err *err);
/**
 * Tie a key to a database, so that what it holds is always hashed with one key. Without a key
 * (k->len == 0), k becomes the database's own key, created (random) and stored when it has
 * none. With a key (a file, or another database's key), the database must have been hashed
 * with that key or with none yet: its id is recorded (and, unless it came from a file, the
 * key too).
 * @return SDIFF_OK, SDIFF_EINVAL (the database was hashed with another key, or with a key
 *         file that was not given), SDIFF_EDB
 */
SDIFF_API int sdiff_redact_key_bind(struct sdiff_redact_key *k, struct sdiff_store *st,
                                    struct sdiff_err *err);

/**
 * A keyed 64-bit hash of the parts (SipHash under a subkey derived from k with HMAC), for
 * choices traffic must not be able to steer, such as the --sample decision: the same key and
 * parts give the same value, and without the key nobody can aim at a range. k must have a
 * key (len > 0).
 */
SDIFF_API uint64_t sdiff_redact_key_hash64(const struct sdiff_redact_key *k,
                                           const struct sdiff_slice *parts, size_t nparts);

struct sdiff_redact_opts {
    const struct sdiff_redact_key *key; /* copied; NULL: set by sdiff_redact_bind */
    const char *const *headers;        /* header names redacted besides the defaults */
    size_t nheaders;
    const char *const *query;          /* query parameter names besides the defaults */
    size_t nquery;
    const char *const *paths;          /* JSONPath patterns of body values (at most 64) */
    size_t npaths;
    size_t max_decoded;                /* content-decoded body bytes; 0: 64 MiB */
};

struct sdiff_redact;

/**
 * @return SDIFF_OK, SDIFF_EINVAL (a bad pattern: err names it), SDIFF_ENOMEM; caller frees
 *         with sdiff_redact_free
 */
SDIFF_API int sdiff_redact_new(struct sdiff_redact **out, const struct sdiff_redact_opts *o,
                               struct sdiff_err *err);
SDIFF_API void sdiff_redact_free(struct sdiff_redact *r);
/**
 * A redactor with r's key, names and patterns, for another thread (one redactor per thread):
 * it hashes every value as r does. Nothing of r's current exchange is copied.
 * @return SDIFF_OK, SDIFF_ENOMEM; caller frees with sdiff_redact_free
 */
SDIFF_API int sdiff_redact_clone(struct sdiff_redact **out, const struct sdiff_redact *r,
                                 struct sdiff_err *err);
/**
 * Tie the redactor's key to a database (sdiff_redact_key_bind); a redactor made without a
 * key takes the database's (created when it has none).
 * @return SDIFF_OK, SDIFF_EINVAL (another key), SDIFF_EDB
 */
SDIFF_API int sdiff_redact_bind(struct sdiff_redact *r, struct sdiff_store *st,
                                struct sdiff_err *err);

/*
 * One exchange at a time: reset, collect the secrets of every message that belongs to it
 * (request, recorded response, replayed answers), then redact each message. Collecting first
 * lets an echo of the request's token in a response be found.
 */

/** Forget the secrets collected so far. */
SDIFF_API void sdiff_redact_reset(struct sdiff_redact *r);
/** Note the secrets m carries (m is not changed). SDIFF_OK or SDIFF_ENOMEM. */
SDIFF_API int sdiff_redact_collect(struct sdiff_redact *r, const struct sdiff_msg *m);
/** Note one secret value (e.g. a test credential set on replayed requests). */
SDIFF_API int sdiff_redact_collect_value(struct sdiff_redact *r, const void *v, size_t len);
/** Redact m in place (start line, headers, body). SDIFF_OK, SDIFF_ENOMEM, SDIFF_EINVAL (no key) */
SDIFF_API int sdiff_redact_msg(struct sdiff_redact *r, struct sdiff_msg *m,
                               struct sdiff_err *err);
/** Reset, collect request and response, redact both and the note. */
SDIFF_API int sdiff_redact_exchange(struct sdiff_redact *r, struct sdiff_exchange *ex,
                                    struct sdiff_err *err);
/**
 * Redact free text in place (a note, an error message): collected secrets and secret
 * query parameters ("token=..."). The result is cut to fit cap bytes with its NUL.
 */
SDIFF_API void sdiff_redact_text(struct sdiff_redact *r, char *s, size_t cap);

/** The redactor's key (empty before sdiff_redact_bind when it was made without one). */
SDIFF_API const struct sdiff_redact_key *sdiff_redact_key_of(const struct sdiff_redact *r);
/** The hash of len bytes: "hmac:" and 16 lowercase hex digits, NUL-terminated. */
SDIFF_API void sdiff_redact_hash(const struct sdiff_redact *r, const void *v, size_t len,
                                 char out[SDIFF_REDACT_HASH_SIZE]);
/** Whether a query parameter name (len bytes, not decoded) is redacted ("name[]" as name). */
SDIFF_API int sdiff_redact_query_name(const struct sdiff_redact *r, const char *name,
                                      size_t len);

#ifdef __cplusplus
}
#endif
#endif
