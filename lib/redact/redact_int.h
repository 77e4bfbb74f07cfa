#ifndef SDIFF_REDACT_INT_H
#define SDIFF_REDACT_INT_H
/*
 * redact_int.h - shared by the files of lib/redact: the redactor, the spans it replaces, the
 * compiled JSON paths.
 */
#include "shadowdiff/redact.h"

#include "jdiff/jdiff_int.h"

#define SDIFF__REDACT_MAX_SEGS 256 /* path steps over all patterns (a 256-bit state) */
#define SDIFF__REDACT_MIN_ECHO 8   /* shorter secrets are not searched for elsewhere */

/*
 * A stretch of the text being redacted and what replaces it: the hash of hin[in_off, +in_len)
 * (in quotes when quote is set), unless that is already a hash. raw_* is the secret as it
 * was spelled in the text (escapes, percent-encoding), collected with the decoded form.
 */
struct sdiff__span {
    size_t off, len;
    size_t in_off, in_len;
    size_t raw_off, raw_len;
    int quote;
    int collect;
};

enum { SDIFF__SEG_NAME = 0, SDIFF__SEG_ANY, SDIFF__SEG_INDEX };

struct sdiff__rseg {
    uint32_t name_off, name_len; /* decoded UTF-8 name, in sdiff_redact.names */
    uint32_t index;
    uint32_t end;                /* one past the last step of its pattern */
    uint8_t kind;
    uint8_t desc;                /* preceded by "..": may match at any depth below */
};

struct sdiff_redact {
    struct sdiff_redact_key key;
    char **headers;              /* lowercase */
    size_t nheaders;
    char **query;                /* lowercase, defaults first */
    size_t nquery;
    size_t max_decoded;
    struct sdiff_buf segs;       /* struct sdiff__rseg[] */
    struct sdiff_buf names;
    size_t nsegs;
    size_t npaths;
    uint64_t start[SDIFF__REDACT_MAX_SEGS / 64]; /* first step of every pattern */
    /* secrets of the current exchange */
    struct sdiff_buf secrets;    /* bytes, back to back */
    struct sdiff_buf secret_ix;  /* struct {size_t off, len;}[] */
    int sorted;
    /* scratch, reused */
    struct sdiff_buf spans;      /* struct sdiff__span[] */
    struct sdiff_buf hin;        /* what the spans hash */
    struct sdiff_buf dec, a, b, c, hv;
    struct sdiff__jtape tape;
};

/* HMAC-SHA256(key, v) as "hmac:" + 16 hex digits (key.c, the only user of libcrypto). */
void sdiff__redact_hmac(const struct sdiff_redact_key *k, const void *v, size_t len,
                        char out[SDIFF_REDACT_HASH_SIZE]);

/* Whether len bytes are exactly a hash ("hmac:" + 16 lowercase hex digits). */
int sdiff__redact_is_hash(const void *v, size_t len);

/* Append a span hashing hin[in_off, +in_len) (already appended there); SDIFF_ENOMEM. */
int sdiff__redact_span(struct sdiff_redact *r, size_t off, size_t len, size_t in_off,
                       size_t in_len, size_t raw_off, size_t raw_len, int quote, int collect);
/* The same, appending in (which must not point into r->hin) to hin first. */
int sdiff__redact_span_bytes(struct sdiff_redact *r, size_t off, size_t len, const void *in,
                             size_t in_len, size_t raw_off, size_t raw_len, int quote,
                             int collect);

/* rjson.c: compile the patterns into r; spans for the values they name in a JSON text. */
int sdiff__redact_compile(struct sdiff_redact *r, const char *const *paths, size_t n,
                          struct sdiff_err *err);
int sdiff__redact_json_spans(struct sdiff_redact *r, const uint8_t *p, size_t len);

#endif
