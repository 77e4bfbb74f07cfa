#ifndef SDIFF_DIFF_H
#define SDIFF_DIFF_H

#include "shadowdiff/core.h"
#include "shadowdiff/exchange.h"
#include "shadowdiff/jdiff.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/diff.h - compares the primary's response with the candidate's and classifies
 * the exchange.
 *
 *   identical   same status, same compared headers, same body bytes after transfer
 *               decoding (chunked vs Content-Length framing never counts)
 *   equivalent  not identical, but equal once content-decoded and compared by meaning:
 *               key order, number spelling, escapes, whitespace, content coding, header
 *               spelling, masked text, ignored paths or learned noise; the reasons are listed
 *   different   status, a compared header, or the body differs by meaning
 *   error       the candidate could not be judged (transport failure, decompression bomb)
 *   skipped     not replayed (unsafe method, incomplete capture, sampled out)
 *
 * Headers ignored by default: Date, Server, Connection, Keep-Alive, Content-Length,
 * Transfer-Encoding, Age, Via, Expires (it follows Date), and request-id style headers
 * (X-Request-Id, X-Correlation-Id, Request-Id, X-Amzn-Requestid, X-Trace-Id, Traceparent,
 * Tracestate, X-B3-*, X-Runtime, X-Response-Time). Content-Encoding is compared through the
 * decoded body. Content-Type is compared by media type and parameters (case of
 * the type and of charset, spacing and parameter order do not count). Secret headers
 * (Set-Cookie, ...) compare by value, which is the keyed hash of the secret once redacted
 * (shadowdiff/redact.h: redact both messages with one key before comparing; values are shown
 * as they are given); Set-Cookie's Expires attribute does not count, and the "[redacted]" of
 * older databases compares by presence. Not thread-safe per differ.
 */

enum sdiff_class {
    SDIFF_CLASS_IDENTICAL = 0,
    SDIFF_CLASS_EQUIVALENT,
    SDIFF_CLASS_DIFFERENT,
    SDIFF_CLASS_ERROR,
    SDIFF_CLASS_SKIPPED,
    SDIFF_CLASS__COUNT
};

/* Why an exchange is equivalent rather than identical (bits). */
enum sdiff_reason {
    SDIFF_REASON_CONTENT_ENCODING = 1u << 0,
    SDIFF_REASON_KEY_ORDER = 1u << 1,
    SDIFF_REASON_NUMBER_SPELLING = 1u << 2,
    SDIFF_REASON_STRING_ESCAPES = 1u << 3,
    SDIFF_REASON_WHITESPACE = 1u << 4,
    SDIFF_REASON_ARRAY_ORDER = 1u << 5,
    SDIFF_REASON_TOLERANCE = 1u << 6,
    SDIFF_REASON_IGNORED = 1u << 7,     /* a configured ignored header or path */
    SDIFF_REASON_NOISE = 1u << 8,       /* learned from the secondary */
    SDIFF_REASON_TEXT_MASK = 1u << 9,
    SDIFF_REASON_HEADER_SPELLING = 1u << 10,
    SDIFF_REASON_DUPLICATE_KEY = 1u << 11,
    SDIFF_REASON_TIME_SPELLING = 1u << 12, /* one instant, two RFC 3339 spellings (preset) */
    SDIFF_REASON__LAST = 1u << 12,
};

/*
 * Named sets of judgements between two stacks. SDIFF_PRESET_PYTHON_GO (a Python service
 * ported to Go): RFC 3339 spellings of one instant are equal ("+00:00" vs "Z", trailing
 * zeros of the fraction, micro- vs nanoseconds when the values are equal), and differences
 * that are typical porting mistakes get a hint naming the probable cause (they stay
 * differences): see sdiff_diff_hint.
 */
enum sdiff_preset {
    SDIFF_PRESET_NONE = 0,
    SDIFF_PRESET_PYTHON_GO,
};

/* One difference. Strings are owned by the result. */
struct sdiff_diff_item {
    char *path;        /* "status", "header:content-type", "body", or a JSONPath "$.a[3].b" */
    const char *kind;  /* "changed", "type_changed", "missing", "extra", "order", "length" */
    char *primary;     /* display value, cut; NULL when absent */
    char *candidate;
    const char *hint;  /* probable cause under the preset (static string), or NULL */
};

struct sdiff_diff_result {
    enum sdiff_class cls;
    unsigned reasons;          /* enum sdiff_reason bits */
    int status_equal;
    int bytes_equal;           /* body bytes equal after transfer decoding */
    const char *body_kind;     /* "empty", "json", "text", "binary" */
    struct sdiff_diff_item *items;
    size_t nitems;
    size_t nomitted;           /* differences beyond the recording cap */
    size_t noise_hits;         /* differences dropped as learned noise */
    char note[200];            /* for error, or extra detail */
};

/* A regex mask for text bodies: every match is replaced by `replace` on both sides. */
struct sdiff_text_mask {
    const char *pattern;       /* POSIX extended regular expression */
    const char *replace;
};

struct sdiff_diff_opts {
    const char *const *ignore_headers;  /* added to the default ignored set */
    size_t nignore_headers;
    const char *const *compare_headers; /* taken out of the default ignored set */
    size_t ncompare_headers;
    const struct sdiff_jdiff_opts *json; /* NULL: SDIFF_JDIFF_OPTS_INIT */
    const struct sdiff_text_mask *masks;
    size_t nmasks;
    size_t max_decoded;        /* decoded body bytes per side; 0: 64 MiB */
    size_t max_compare;        /* larger bodies compare by length and hash; 0: 16 MiB */
    size_t max_items;          /* differences recorded; 0: 50 */
    enum sdiff_preset preset;  /* SDIFF_PRESET_NONE: no equivalences or hints of a preset */
};

/* Learned noise: per route, header names and JSON path patterns ("$.items[*].ts"). */
struct sdiff_noise;

struct sdiff_differ;

SDIFF_API int sdiff_differ_new(struct sdiff_differ **out, const struct sdiff_diff_opts *o,
                               struct sdiff_err *err);
SDIFF_API void sdiff_differ_free(struct sdiff_differ *d);

/**
 * Compare the primary's response with the candidate's. Either may be a bare body (present=0
 * with a body): then only the bodies are compared.
 *
 * @param route  route template for noise look-up (may be NULL)
 * @param noise  learned noise (may be NULL)
 * @param[out] res  release with sdiff_diff_result_dispose
 * @return SDIFF_OK or SDIFF_ENOMEM; everything else is a classification
 */
SDIFF_API int sdiff_differ_compare(struct sdiff_differ *d, const struct sdiff_msg *primary,
                                   const struct sdiff_msg *candidate, const char *route,
                                   const struct sdiff_noise *noise, struct sdiff_diff_result *res,
                                   struct sdiff_err *err);

SDIFF_API void sdiff_diff_result_dispose(struct sdiff_diff_result *res);

SDIFF_API int sdiff_noise_new(struct sdiff_noise **out);
SDIFF_API void sdiff_noise_free(struct sdiff_noise *n);
/** Add "header:name" or a path pattern for route; 1 when new, 0 when known, or ENOMEM. */
SDIFF_API int sdiff_noise_add(struct sdiff_noise *n, const char *route, const char *key);
/**
 * Call fn(route, key, ud) for every key added from now on (e.g. to store it at once). A
 * negative return from fn is returned by sdiff_noise_add.
 */
SDIFF_API void sdiff_noise_on_add(struct sdiff_noise *n,
                                  int (*fn)(const char *route, const char *key, void *ud),
                                  void *ud);
SDIFF_API int sdiff_noise_has(const struct sdiff_noise *n, const char *route, const char *key);
/** The noise key of a difference's path: "$.items[3].ts" -> "$.items[*].ts" (headers as
 * they are), into out (cut at cap). */
SDIFF_API void sdiff_noise_key(const char *path, char *out, size_t cap);

/* ---- learning noise from evidence (learn.c) ------------------------------------------- */

/*
 * A key of a route (a header, a JSON path with array indexes wildcarded) becomes noise only
 * when answers of the old service to the same request disagreed on it in at least `pairs`
 * pairs (`pairs_shaped` when every value looked volatile: UUIDs, long hex ids, times within a
 * minute of the capture, Date/ETag-like headers), from at least `clients` clients (distinct
 * addresses once traffic comes from several, else distinct connections), spread over more
 * than span_s seconds. A pair is the primary's answer and the secondary's (`secondary`), or
 * two answers of the primary to identical safe requests (`repeat`). Status or whole-body
 * disagreements never make noise, and pairs with different statuses do not count.
 */
struct sdiff_noise_rule {
    unsigned pairs;                /* 0: 5 */
    unsigned pairs_shaped;         /* 0: 3 (never more than pairs) */
    unsigned clients;              /* 0: 3 */
    double span_s;                 /* 0: 1 */
    size_t max_candidates;         /* keys collecting evidence at once; 0: 65536 */
};
SDIFF_API void sdiff_noise_rule_defaults(struct sdiff_noise_rule *r);

/* What was counted for one key. */
struct sdiff_noise_evidence {
    const char *source;            /* "secondary" or "repeat": the first that counted */
    unsigned pairs, clients;
    double span_s;
    int shaped;                    /* every value seen looked volatile */
    int learned;
    const char *examples[3];       /* values seen (JSON text or header values), cut at 79 */
    unsigned nexamples;
    double confidence;             /* 0..1: 0.5 when the rule is just met, 1 at twice it */
};

struct sdiff_learner_stats {
    uint64_t pairs;                /* answer pairs compared */
    uint64_t learned;              /* keys that became noise */
    uint64_t untracked;            /* keys not tracked: max_candidates was reached */
    uint64_t held;                 /* results held while their keys collected evidence */
    uint64_t settled;              /* held results whose keys all became noise */
    uint64_t held_dropped;         /* held results let go to make room (they stay different) */
};

struct sdiff_learner;

/** noise is borrowed; rule NULL: the defaults (fields left 0 take theirs too). */
SDIFF_API int sdiff_learner_new(struct sdiff_learner **out, struct sdiff_noise *noise,
                                const struct sdiff_noise_rule *rule);
SDIFF_API void sdiff_learner_free(struct sdiff_learner *l);
/**
 * An answer of the old service (recorded, or a live primary's) to req from client
 * ("addr:port") at t_us: compared by d (the route's differ) with the last answer to an
 * identical safe request (method, target, headers but tracing ones, body) and remembered in
 * its place.
 * @return keys learned now (>= 0), or SDIFF_ENOMEM
 */
SDIFF_API int sdiff_learner_answer(struct sdiff_learner *l, struct sdiff_differ *d,
                                   const struct sdiff_msg *req, const struct sdiff_msg *resp,
                                   const char *route, const char *client, uint64_t t_us,
                                   struct sdiff_err *err);
/** The primary's and the secondary's answers to one request. @return as _answer */
SDIFF_API int sdiff_learner_secondary(struct sdiff_learner *l, struct sdiff_differ *d,
                                      const struct sdiff_msg *primary,
                                      const struct sdiff_msg *secondary, const char *route,
                                      const char *client, uint64_t t_us, struct sdiff_err *err);
/** The evidence's example values as a JSON array of strings appended to out (bytes that
 * are not UTF-8, from a header or cut at 79, kept as \u00XX: never dropped).
 * @return SDIFF_OK, SDIFF_ELIMIT, SDIFF_ENOMEM */
SDIFF_API int sdiff_noise_examples_json(const struct sdiff_noise_evidence *ev,
                                        struct sdiff_buf *out);
/** The evidence counted for (route, key): 1 and *out filled (borrowed until the next call
 * on l), or 0 when none. */
SDIFF_API int sdiff_learner_evidence(const struct sdiff_learner *l, const char *route,
                                     const char *key, struct sdiff_noise_evidence *out);
SDIFF_API const struct sdiff_learner_stats *sdiff_learner_stats(const struct sdiff_learner *l);
/*
 * A result judged different early in a run, before the old service's disagreement on its
 * keys had been seen often enough, is held (stored as different meanwhile): when every key
 * it differs on becomes noise later in the run, _settle hands its id to fn, which marks it
 * equivalent. Held are results whose every difference is a header or a JSON path (never a
 * status or a whole body), at most 8 of them; the newest 4096 are kept. A real difference
 * is held harmlessly: its key never collects evidence, so it stays different.
 */
/** 1 held; 2 held, and its fields are all noise already (settle now); 0 not a result to
 * hold; SDIFF_ENOMEM. */
SDIFF_API int sdiff_learner_hold(struct sdiff_learner *l, const char *route,
                                 const struct sdiff_diff_result *dr, int64_t result_id);
/** Call fn for each held result whose keys are all noise now; fn's first error is returned. */
SDIFF_API int sdiff_learner_settle(struct sdiff_learner *l,
                                   int (*fn)(int64_t result_id, void *ud), void *ud);


/* ---- the shape of an answer (shape.c) ---------------------------------------------------- */

#define SDIFF_SHAPE_LEN 17
/**
 * A short hash (16 hex digits) of an answer's kind: its status class, media type and, for a
 * JSON body (content-decoded), the value's type and an object's sorted top-level keys (of
 * the first element, for an array). Two answers of one endpoint with a parameter share it;
 * two collections under one prefix usually do not. "" for no answer.
 * @return SDIFF_OK, SDIFF_ENOMEM
 */
SDIFF_API int sdiff_answer_shape(const struct sdiff_msg *m, char out[SDIFF_SHAPE_LEN]);

SDIFF_API const char *sdiff_class_str(enum sdiff_class c);

/** The preset called name ("python-go"); SDIFF_EINVAL for an unknown name. */
SDIFF_API int sdiff_preset_parse(const char *name, enum sdiff_preset *out);
/*
 * The meta value (shadowdiff/store.h) that records the preset of a run, so report and
 * inspect name the hints its comparisons did: name printf'd with the run id (long long),
 * value the preset's name.
 */
#define SDIFF_PRESET_META_FMT "preset.run.%lld"

/** "python-go", or "" for SDIFF_PRESET_NONE. */
SDIFF_API const char *sdiff_preset_str(enum sdiff_preset p);

/**
 * The probable cause of one difference under a preset, from what is stored of it (path,
 * kind, both display values), or NULL. So a report built from stored rows names the same
 * hint as the comparison did. Static strings; thread-safe.
 */
SDIFF_API const char *sdiff_diff_hint(enum sdiff_preset p, const char *path, const char *kind,
                                      const char *primary, const char *candidate);
/** Name of one reason bit ("key_order"). */
SDIFF_API const char *sdiff_reason_str(unsigned bit);
/** Whether a header name is ignored by default (its class is not semantic). */
SDIFF_API int sdiff_diff_header_ignored_by_default(const char *name, size_t len);

/* How a header is judged (the table in README.md, as data in lib/diff/diff.c). */
enum sdiff_header_class {
    SDIFF_HEADER_SEMANTIC = 0, /* compared (some by meaning: Content-Type, Vary) */
    SDIFF_HEADER_FRAMING,      /* how the bytes travel: never a difference */
    SDIFF_HEADER_HOP_BY_HOP,   /* one connection's: never a difference */
    SDIFF_HEADER_VOLATILE,     /* changes with every answer (Date, request ids) */
};
/** The class of a header name (case-insensitive). */
SDIFF_API enum sdiff_header_class sdiff_diff_header_class(const char *name, size_t len);
/** "framing", "hop-by-hop", "volatile", "semantic". */
SDIFF_API const char *sdiff_diff_header_class_str(enum sdiff_header_class c);

#ifdef __cplusplus
}
#endif
#endif
