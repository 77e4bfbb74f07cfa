#ifndef SDIFF_JDIFF_H
#define SDIFF_JDIFF_H

#include "shadowdiff/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/jdiff.h - structural comparison of two JSON bodies: the primary's (the legacy
 * service) and the candidate's (its port).
 *
 * Bodies are read by our own RFC 8259 reader (lib/jdiff/jread.c): zero-copy, one node array
 * per document, strict (invalid UTF-8, bad escapes, bad numbers, trailing bytes are errors),
 * with a nesting limit enforced without recursion. Values are compared by meaning, not
 * spelling:
 *   - objects ignore member order; a duplicate key keeps its last value (as Python does);
 *   - numbers compare by exact decimal value (10 == 10.0 == 1e1 == 100e-1, -0 == 0; integers
 *     of any size, never through a double) unless a tolerance is set;
 *   - strings compare by code points ("\u00e9" == "é", "\/" == "/", surrogate pairs == the
 *     UTF-8 character; a lone surrogate escape equals only the same surrogate);
 *   - arrays compare by position; the same elements in another order give one ORDER delta;
 *     arrays at configured paths compare as multisets;
 *   - null, a missing member, [], {} and "" are all different from each other.
 * Byte-identical bodies are equal without being parsed (even when they are not JSON).
 *
 * Paths are JSONPath (RFC 9535 normalized form, names in shorthand when they allow it):
 * $.items[3].price, $["odd key"]. Patterns (ignored and order-insensitive paths) use the
 * same syntax plus wildcards: `*` (as `.*` or `[*]`) matches any one member or element.
 *
 * Not thread-safe per struct sdiff_jdiff; use one per thread. Reading never recurses;
 * comparing recurses once per nesting level, bounded by max_depth: about 0.5 KiB of stack per
 * level (256 KiB at the default 512 levels, 2 MiB at SDIFF_JDIFF_DEPTH_MAX).
 */

/* What differs at a path. */
enum sdiff_delta_kind {
    SDIFF_DELTA_CHANGED = 1,  /* same type, different value */
    SDIFF_DELTA_TYPE_CHANGED, /* different types: null, boolean, number, string, array, object */
    SDIFF_DELTA_MISSING,      /* member or element in the primary, absent from the candidate */
    SDIFF_DELTA_EXTRA,        /* member or element in the candidate only */
    SDIFF_DELTA_ORDER,        /* array holding the same elements in another order */
    SDIFF_DELTA_LENGTH,       /* arrays of different lengths; left and right are the lengths */
};

/* One difference; every string is owned by the result and NUL-terminated. */
struct sdiff_delta {
    const char *path; /* JSONPath of the value, e.g. $.items[3].price */
    enum sdiff_delta_kind kind;
    const char *left;  /* primary's value as compact JSON, cut to max_value_len bytes plus
                          "..." when longer; NULL for SDIFF_DELTA_EXTRA */
    const char *right; /* candidate's value, likewise; NULL for SDIFF_DELTA_MISSING */
};

/*
 * Why equal bodies were not byte-identical (bits of struct sdiff_jdiff_result.reasons). Also
 * set for unequal bodies when such spellings occur in the parts that compared equal.
 */
enum sdiff_jdiff_reason {
    SDIFF_JDIFF_KEY_ORDER = 1u << 0,       /* object members in another order */
    SDIFF_JDIFF_NUMBER_SPELLING = 1u << 1, /* 1 vs 1.0, 1e+21 vs 1e21 */
    SDIFF_JDIFF_STRING_ESCAPES = 1u << 2,  /* \u00e9 vs é, \u003c vs <, \/ vs / */
    SDIFF_JDIFF_WHITESPACE = 1u << 3,      /* indentation, separators, trailing newline */
    SDIFF_JDIFF_ARRAY_ORDER = 1u << 4,     /* an order-insensitive array in another order */
    SDIFF_JDIFF_TOLERANCE = 1u << 5,       /* numbers equal only within the tolerance */
    SDIFF_JDIFF_IGNORED = 1u << 6,         /* an ignored path is absent or differs */
    SDIFF_JDIFF_DUPLICATE_KEY = 1u << 7,   /* a duplicate object key was overridden */
    SDIFF_JDIFF_TIME_SPELLING = 1u << 8,   /* one instant in two RFC 3339 spellings */
};

/* Which document could not be read (struct sdiff_jdiff_result.unread). */
#define SDIFF_JDIFF_PRIMARY 1u
#define SDIFF_JDIFF_CANDIDATE 2u

/* Hard ceiling for sdiff_jdiff_opts.max_depth (the comparison recurses once per level). */
#define SDIFF_JDIFF_DEPTH_MAX 4096u

/* Start from SDIFF_JDIFF_OPTS_INIT and change what you need. */
struct sdiff_jdiff_opts {
    size_t max_bytes;     /* per document; larger is SDIFF_ELIMIT (at most 4 GiB - 2) */
    unsigned max_depth;   /* nesting levels; deeper is SDIFF_ELIMIT; <= SDIFF_JDIFF_DEPTH_MAX */
    size_t max_deltas;    /* differences recorded; the rest are only counted (0: none kept) */
    size_t max_value_len; /* bytes of each displayed value before it is cut */
    double abs_tol;       /* numbers a, b are equal when |a - b| <= abs_tol ... */
    double rel_tol;       /* ... or |a - b| <= rel_tol * max(|a|, |b|); both 0: exact */
    const char *const *ignore;    /* patterns of paths skipped entirely; borrowed for _new */
    size_t nignore;               /* at most 64 */
    const char *const *unordered; /* patterns of arrays compared as multisets; borrowed */
    size_t nunordered;            /* at most 64 */
    int time_instants;    /* strings that are RFC 3339 date-times with offsets compare by
                             instant: "...+00:00" == "...Z", ".120" == ".12" (sdiff_time) */
};

#define SDIFF_JDIFF_OPTS_INIT                                                                      \
    {                                                                                              \
        .max_bytes = 64u << 20, .max_depth = 512, .max_deltas = 100, .max_value_len = 120,         \
        .abs_tol = 0.0, .rel_tol = 0.0, .ignore = NULL, .nignore = 0, .unordered = NULL,           \
        .nunordered = 0, .time_instants = 0,                                                       \
    }

/* Outcome of one comparison; release with sdiff_jdiff_result_dispose. */
struct sdiff_jdiff_result {
    int equal;                  /* equal by meaning under the options */
    int bytes_equal;            /* byte-identical (then nothing was parsed) */
    unsigned reasons;           /* enum sdiff_jdiff_reason bits */
    unsigned unread;            /* after SDIFF_EPARSE/SDIFF_ELIMIT: SDIFF_JDIFF_PRIMARY and/or
                               SDIFF_JDIFF_CANDIDATE, the documents that could not be read */
    struct sdiff_delta *deltas; /* recorded differences: document order of the primary, then
                                   members only in the candidate */
    size_t ndeltas;
    size_t nomitted; /* differences found beyond opts.max_deltas, not recorded */
};

/* A reusable comparer: compiled patterns plus buffers kept between runs. */
struct sdiff_jdiff;

/* ---- lifecycle ------------------------------------------------------------------------ */

/**
 * Compile the options (patterns are parsed and copied).
 *
 * @param opts  NULL for SDIFF_JDIFF_OPTS_INIT; copied
 * @return SDIFF_OK, SDIFF_EINVAL (bad pattern or option; err says which), SDIFF_ENOMEM;
 *         caller frees *out with sdiff_jdiff_free
 */
SDIFF_API int sdiff_jdiff_new(struct sdiff_jdiff **out, const struct sdiff_jdiff_opts *opts,
                              struct sdiff_err *err);
/** NULL-safe. */
SDIFF_API void sdiff_jdiff_free(struct sdiff_jdiff *jd);

/* ---- operations ----------------------------------------------------------------------- */

/**
 * Compare a primary body with a candidate body.
 *
 * @param primary, candidate  borrowed for this call only
 * @param[out] res  always initialised (also on failure); release with
 *                  sdiff_jdiff_result_dispose. It points into neither input.
 * @return SDIFF_OK (res->equal says the verdict), SDIFF_EPARSE (a body is not JSON;
 *         res->unread says which, err->offset where), SDIFF_ELIMIT (a body is larger than
 *         max_bytes or nested deeper than max_depth), SDIFF_ENOMEM
 */
SDIFF_API int sdiff_jdiff_run(struct sdiff_jdiff *jd, struct sdiff_slice primary,
                              struct sdiff_slice candidate, struct sdiff_jdiff_result *res,
                              struct sdiff_err *err);

/** One-shot sdiff_jdiff_new + sdiff_jdiff_run + sdiff_jdiff_free. opts may be NULL. */
SDIFF_API int sdiff_jdiff_compare(const struct sdiff_jdiff_opts *opts, struct sdiff_slice primary,
                                  struct sdiff_slice candidate, struct sdiff_jdiff_result *res,
                                  struct sdiff_err *err);

/** Free what a result holds and zero it. NULL-safe; safe on a zeroed result. */
SDIFF_API void sdiff_jdiff_result_dispose(struct sdiff_jdiff_result *res);

/**
 * Check that s is one JSON text (RFC 8259, UTF-8) within the limits of opts.
 *
 * @param opts  NULL for SDIFF_JDIFF_OPTS_INIT; max_bytes and max_depth are used
 * @return SDIFF_OK, SDIFF_EPARSE (err->offset: first bad byte), SDIFF_ELIMIT, SDIFF_ENOMEM
 */
SDIFF_API int sdiff_jdiff_validate(struct sdiff_slice s, const struct sdiff_jdiff_opts *opts,
                                   struct sdiff_err *err);

/** 1 when s is valid JSON under the default limits, 0 otherwise (also when out of memory). */
SDIFF_API int sdiff_jdiff_valid(struct sdiff_slice s);

/**
 * Append s pretty-printed to out: 2-space indent, "key": value, members in their original
 * order, empty containers as {} and [], strings and numbers spelled as in s, no final
 * newline. Default limits apply.
 *
 * @return SDIFF_OK, SDIFF_EPARSE, SDIFF_ELIMIT (input limits, or out->max reached: out then
 *         holds a cut copy), SDIFF_ENOMEM
 */
SDIFF_API int sdiff_jdiff_pretty(struct sdiff_slice s, struct sdiff_buf *out,
                                 struct sdiff_err *err);

/* ---- accessors ------------------------------------------------------------------------ */

/** "CHANGED", "TYPE_CHANGED", "MISSING", "EXTRA", "ORDER", "LENGTH"; "?" otherwise. */
SDIFF_API const char *sdiff_delta_kind_str(enum sdiff_delta_kind kind);
/** Name of one reason bit ("key_order", "number_spelling", ...); "?" otherwise. */
SDIFF_API const char *sdiff_jdiff_reason_str(unsigned reason);

#ifdef __cplusplus
}
#endif
#endif
