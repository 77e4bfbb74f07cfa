#ifndef SDIFF_RULES_H
#define SDIFF_RULES_H

#include "shadowdiff/core.h"
#include "shadowdiff/diff.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/rules.h - the JSON config file: comparison rules, global and per route.
 *
 *   {
 *     "ignore_headers":  ["X-Served-By"],          headers not compared (plus the defaults)
 *     "compare_headers": ["Server"],               default-ignored headers to compare
 *     "ignore_paths":    ["$.meta.generated_at", "$.items[*].updated_at"],
 *     "unordered_paths": ["$.tags", "$.items[*].labels"],
 *     "float_tolerance": {"absolute": 1e-9, "relative": 0},
 *     "text_masks":      [{"pattern": "[0-9]{2}:[0-9]{2}", "replace": "<time>"}],
 *     "allow_methods":   ["POST"],                 replayed besides GET, HEAD, OPTIONS
 *     "secret_headers":  ["X-Internal-Token"],     redacted besides the defaults
 *     "redact_paths":    ["$.password", "$.items[*].token", "$..secret"],
 *                                                  JSON values redacted in every body
 *     "redact_query":    ["session_key"],          query parameters redacted besides the
 *                                                  defaults (token, access_token, ...)
 *     "preset":          "python-go",              judgements between two stacks (diff.h)
 *     "routes": {
 *       "GET /api/report":   {"ignore_paths": ["$.generated_at"]},
 *       "POST /api/orders":  {"allow": true}
 *     },
 *     "waivers": [                                 accepted differences (shadowdiff report)
 *       {"cluster": "0123456789ab", "reason": "prices are strings now", "expires": "2025-01-31"},
 *       {"cluster": {"route": "GET /api/x", "signature": "$.a changed"}, "reason": "..."}
 *     ]
 *   }
 *
 * A route's lists are added to the global ones. Unknown keys, wrong types, bad patterns and
 * bad regular expressions are errors that name the key and, for syntax errors, the line and
 * column. Not thread-safe, except that other threads may read it (method checks, differs of
 * their own from sdiff_rules_differs_new) while one notes the routes it saw.
 */

struct sdiff_rules;

/** Load and check a config file. path NULL gives the defaults (no file). */
SDIFF_API int sdiff_rules_load(struct sdiff_rules **out, const char *path, struct sdiff_err *err);
/** Parse config text (name is used in messages). */
SDIFF_API int sdiff_rules_parse(struct sdiff_rules **out, const char *text, size_t len,
                                const char *name, struct sdiff_err *err);
SDIFF_API void sdiff_rules_free(struct sdiff_rules *r);

/**
 * The differ for a route (global rules plus the route's own); borrowed, built on first use.
 * @return SDIFF_OK, SDIFF_ENOMEM
 */
SDIFF_API int sdiff_rules_differ(struct sdiff_rules *r, const char *route,
                                 struct sdiff_differ **out, struct sdiff_err *err);

/*
 * Another set of the differs of r, for another thread (a differ is not thread-safe): the same
 * rules and preset, built anew. r must outlive it and keep its preset while it lives.
 */
struct sdiff_rules_differs;

/** @return SDIFF_OK, SDIFF_ENOMEM; caller frees with sdiff_rules_differs_free */
SDIFF_API int sdiff_rules_differs_new(struct sdiff_rules_differs **out,
                                      const struct sdiff_rules *r, struct sdiff_err *err);
SDIFF_API void sdiff_rules_differs_free(struct sdiff_rules_differs *ds);
/** The differ of ds for a route, as sdiff_rules_differ gives r's; borrowed from ds. */
SDIFF_API struct sdiff_differ *sdiff_rules_differs_get(const struct sdiff_rules_differs *ds,
                                                       const char *route);

/**
 * Use a preset (a --preset flag wins over the config's "preset"): every differ is built anew;
 * on failure r is unchanged. Differs borrowed before are freed.
 */
SDIFF_API int sdiff_rules_set_preset(struct sdiff_rules *r, enum sdiff_preset p,
                                     struct sdiff_err *err);
/** The config's "learned_noise" rule (fields left 0 take the defaults); NULL for NULL. */
SDIFF_API const struct sdiff_noise_rule *sdiff_rules_noise_rule(const struct sdiff_rules *r);
/** The preset in use (SDIFF_PRESET_NONE without one). */
SDIFF_API enum sdiff_preset sdiff_rules_preset(const struct sdiff_rules *r);

/**
 * Whether a method may be replayed on a route: GET, HEAD and OPTIONS always; others when
 * allowed globally (config or extra, e.g. --allow-method) or by the route's "allow".
 */
SDIFF_API int sdiff_rules_method_allowed(const struct sdiff_rules *r, const char *route,
                                         const char *method, const char *const *extra,
                                         size_t nextra);

/** Extra secret header names (borrowed, valid while r lives). */
SDIFF_API const char *const *sdiff_rules_secret_headers(const struct sdiff_rules *r, size_t *n);
/** JSONPath patterns of values redacted in bodies (borrowed; checked by sdiff_redact_new). */
SDIFF_API const char *const *sdiff_rules_redact_paths(const struct sdiff_rules *r, size_t *n);
/** Extra query parameter names to redact (borrowed). */
SDIFF_API const char *const *sdiff_rules_redact_query(const struct sdiff_rules *r, size_t *n);

/**
 * A verdict threshold from the config's "thresholds" object ("min_samples", "max_mismatch",
 * "max_p99_ratio", "max_error_increase"): 1 and *out set when given, 0 otherwise. A
 * threshold written as a string ("5%", "+50%") sets *out to -1: read it with
 * sdiff_rules_threshold_text (the report's parsers check it).
 */
SDIFF_API int sdiff_rules_threshold(const struct sdiff_rules *r, const char *name, double *out);
/** The config's threshold name as written (a number, or a string such as "5%"); NULL when
 * not set. Borrowed from r. Checked by sdiff_report_policy_resolve (shadowdiff/verdict.h). */
SDIFF_API const char *sdiff_rules_threshold_text(const struct sdiff_rules *r, const char *name);

/** The routes named in the config's "routes" (templates, "METHOD /path/{id}"); borrowed. */
SDIFF_API size_t sdiff_rules_route_count(const struct sdiff_rules *r);
SDIFF_API const char *sdiff_rules_route_name(const struct sdiff_rules *r, size_t i);

/** Note that route was seen (for the unused-rule report). */
SDIFF_API void sdiff_rules_saw_route(struct sdiff_rules *r, const char *route);
/**
 * Append one line per rule that never matched anything: route rules whose route never
 * appeared. Returns how many.
 */
SDIFF_API size_t sdiff_rules_unused(const struct sdiff_rules *r, struct sdiff_buf *out);

/* One "waivers" entry of the config: cluster, or route and signature, is set. */
struct sdiff_rules_waiver {
    const char *cluster;            /* 12 lowercase hex digits; NULL when route is set */
    const char *route, *signature;  /* "GET /api/x", a cluster signature; NULL with cluster */
    const char *reason;             /* never empty */
    const char *expires;            /* "YYYY-MM-DD" (last day it applies); NULL: never */
};

/** The config's waivers in file order (borrowed, valid while r lives). */
SDIFF_API const struct sdiff_rules_waiver *sdiff_rules_waivers(const struct sdiff_rules *r,
                                                               size_t *n);

#ifdef __cplusplus
}
#endif
#endif
