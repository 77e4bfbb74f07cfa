#ifndef SDIFF_REPORT_H
#define SDIFF_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "shadowdiff/core.h"
#include "shadowdiff/cost.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/report.h - per-endpoint parity summaries of a stored run, a release verdict,
 * discrepancy clusters; rendered as text, Markdown, JSON, JUnit XML or HTML. Also the detail view
 * of one stored result (`shadowdiff inspect`).
 *
 * Reads the results database read-only (never creates, migrates or indexes it), through the
 * store's readers (shadowdiff/store.h): counts from one aggregate per route, latency
 * percentiles from one scan of the run, sorted per endpoint. A report owns every
 * string it points to and is freed with sdiff_report_free. Not thread-safe per report.
 * The JSON schema is documented in lib/report/README.md and is stable.
 */

struct sdiff_report_thresholds {
    uint64_t min_samples;       /* judged results below this: insufficient data (30) */
    double max_mismatch;        /* Wilson 95% upper bound of the different rate (0.01) */
    double max_p99_ratio;       /* candidate p99 / primary p99 (1.5) */
    double max_error_increase;  /* candidate error rate - primary error rate (0.01) */
    uint64_t since_us;          /* only exchanges captured from then on (microseconds since
                                   the epoch); 0: all of the run */
};

#define SDIFF_REPORT_THRESHOLDS_INIT                                                           \
    {                                                                                          \
        .min_samples = 30, .max_mismatch = 0.01, .max_p99_ratio = 1.5,                        \
        .max_error_increase = 0.01,                                                            \
    }

enum sdiff_report_verdict {
    SDIFF_REPORT_READY = 0,
    SDIFF_REPORT_BLOCKED,
    SDIFF_REPORT_INSUFFICIENT,  /* neither: listed with the samples that would settle it */
};

/* The run's verdict: exactly these three (JSON "verdict": "pass" | "fail" | "inconclusive"). */
enum sdiff_report_run_verdict {
    SDIFF_REPORT_PASS = 0,
    SDIFF_REPORT_FAIL,
    SDIFF_REPORT_INCONCLUSIVE,
};

#define SDIFF_REPORT_MAX_RUN_REASONS 8
/* The version of every JSON output's schema (top-level "schema_version"). */
#define SDIFF_REPORT_SCHEMA_VERSION 2

enum sdiff_report_format {
    SDIFF_REPORT_TEXT = 0,
    SDIFF_REPORT_MARKDOWN,
    SDIFF_REPORT_JSON,
    SDIFF_REPORT_JUNIT,
    SDIFF_REPORT_HTML,          /* one self-contained page: inline CSS and SVG charts */
};

/* Latency percentiles in milliseconds (nearest rank); < 0 when no sample. */
struct sdiff_report_latency {
    uint64_t n;
    double p50, p95, p99;
    /* two-sided 95% distribution-free (order-statistic) bounds of the true p99; < 0 when
     * there are too few samples for that side of the interval (see verdict.h) */
    double p99_lower, p99_upper;
};

#define SDIFF_REPORT_MAX_REASONS 4

struct sdiff_report_endpoint {
    char *method;               /* "GET"; "" when the route has no space */
    char *route;                /* "/users/{id}"; "(no route)" for results without one */
    char *key;                  /* results.route as stored ("GET /users/{id}") */
    uint64_t samples, identical, equivalent, different, errors, skipped;
    uint64_t judged;            /* identical + equivalent + different */
    uint64_t replayed;          /* judged + errors */
    uint64_t unjudged;          /* skipped + errors */
    uint64_t primary_5xx;       /* replayed with primary_status >= 500 */
    uint64_t candidate_5xx;     /* replayed with candidate_status >= 500 */
    uint64_t candidate_failed;  /* transport errors + judged with candidate_status >= 500 */
    double parity;              /* (identical + equivalent) / judged; < 0 when judged == 0 */
    double byte_parity;         /* identical / judged; < 0 when judged == 0 */
    double mismatch_upper;      /* Wilson upper bound of different / judged; < 0 when judged == 0 */
    struct sdiff_report_latency primary, candidate;
    double p99_ratio;           /* candidate p99 / primary p99; < 0 when either is unknown */
    double primary_5xx_rate;    /* primary_status >= 500 over replayed; < 0 when replayed == 0 */
    double candidate_5xx_rate;  /* candidate_status >= 500 over replayed */
    double transport_error_rate;/* class 'error' over replayed */
    double candidate_error_rate;/* candidate 5xx or transport error, over replayed */
    enum sdiff_report_verdict verdict;
    char reasons[SDIFF_REPORT_MAX_REASONS][160];
    size_t nreasons;
    /* evidence (verdict.h): Wilson 95% lower bound of (different - accepted) / judged, < 0
     * when judged == 0; Newcombe 95% interval of candidate_failed/replayed - primary_5xx/
     * replayed, both 0 when replayed == 0 */
    double mismatch_lower;
    double error_increase_lower, error_increase_upper;
    int covered;                /* insufficient data, no difference, the run's bound covers it */
    uint64_t needed;            /* insufficient data: judged results that would settle it
                                   (0: unknown) */
    int latency_judged;         /* both p99 bounds known: the latency rule applied */
    uint64_t latency_needed;    /* latencies per side the latency rule needs (0 when judged) */
    uint64_t accepted;          /* different results in waived clusters: not counted against
                                   the mismatch bound (which is over different - accepted) */
    uint64_t not_found;         /* the primary answered 404 or 405 */
    /* the stratum of judged results where both sides answered 4xx, judged apart so that
     * many identical 4xx answers cannot dilute the rest (verdict.h) */
    uint64_t both_4xx, both_4xx_different;
    /* the stored routes merged into this {param} endpoint, each judged on its own counts
     * (mismatch and error rules; NULL, 0 when nothing was merged). The endpoint is blocked
     * when any of them is, and its reasons name it */
    struct sdiff_report_endpoint *members;
    size_t nmembers;
    char *shape;                /* the one shape of the primary's 2xx answers; NULL when
                                   there are none, several, or it is unknown */
};

#define SDIFF_REPORT_MAX_EXAMPLES 3

/* Different results of one route sharing the same set of "path kind" differences. */
struct sdiff_report_cluster {
    char *method, *route;       /* as in the endpoint */
    char *signature;            /* sorted distinct "path kind" items joined by "; " */
    uint64_t count;
    uint64_t first_us, last_us; /* results.t_req_start, microseconds; 0 when unknown */
    int64_t examples[SDIFF_REPORT_MAX_EXAMPLES]; /* lowest result ids */
    size_t nexamples;
    char *sample_path;          /* first difference of the first example; NULL when none */
    char *sample_primary, *sample_candidate; /* its values; NULL when absent */
    char *hint;                 /* probable cause of the sample: as stored, else under the
                                   run's preset (sdiff_diff_hint); NULL when none */
    char id[13];                /* first 12 hex digits of FNV-1a 64 of "route\x1fsignature" */
    int waived;                 /* an unexpired waiver applies: its results are accepted */
    char *waiver_reason;        /* of the matching waiver (applied or expired); else NULL */
    char *waiver_expires;       /* "YYYY-MM-DD" or NULL */
    int expired;                /* only an expired waiver matches: not waived */
};

struct sdiff_rules; /* shadowdiff/rules.h: the config file, for its "waivers" */

/* An accepted difference: from the database (`shadowdiff accept`) or the config file. */
struct sdiff_report_waiver {
    char *cluster;              /* cluster id (12 hex digits) */
    char *route, *signature;    /* results.route and cluster signature; NULL when unknown */
    char *reason;
    char *expires;              /* "YYYY-MM-DD", last day it applies; NULL: never */
    char *source;               /* "database" or the config file name */
    int expired;                /* expires < today (UTC) */
};

/* A field learned as noise for a route of this run, with the evidence it was learned on. */
struct sdiff_report_noise {
    char *route;                /* results.route ("GET /api/report") */
    char *key;                  /* "$.generated_at", "header:date" */
    char *source;               /* "secondary", "repeat"; NULL: unknown (older runs) */
    uint64_t pairs, clients;    /* 0: unknown */
    char *examples_json;        /* JSON array text of example values; NULL: none */
    double confidence;          /* 0..1; < 0: unknown */
    int64_t run_id;             /* the run that learned it; 0: unknown */
};

/* One route of gate's sampling plan: exchanges available in the corpus and planned. */
struct sdiff_report_plan {
    char *route;
    uint64_t available, planned;
};

/* One instance (process) of the run and what it judged (`report --by instance`). */
struct sdiff_report_instance {
    char *id;                   /* 32 hex digits */
    char *host;                 /* NULL when unknown */
    int64_t pid;                /* 0: unknown */
    char *side;                 /* "old" or "new" */
    char *started_at, *stopped_at; /* NULL when unknown (stopped_at: still running, or lost) */
    uint64_t samples, identical, equivalent, different, errors, skipped;
    uint64_t judged;            /* identical + equivalent + different */
    double parity;              /* (identical + equivalent) / judged; < 0 when judged == 0 */
};

/* One side's cost over the run, from its cost samples (lib/report/README.md, "cost"). */
struct sdiff_report_cost_side {
    int present;                /* sampled (two samples or more) and, for the primary, live */
    uint64_t requests;          /* answered in the sampled window */
    uint64_t samples;
    double window_s;
    double cpu_ms_per_request;  /* < 0 when requests == 0 */
    double rss_mib_mean, rss_mib_peak; /* over the samples (of each instance) */
    double cost_per_million;    /* USD under the model; < 0 without a model or requests */
    double cpu_s, gib_s;        /* CPU seconds and GiB-seconds of memory in the window */
};

/* The share of requests by route may differ by this much between the sides (total
 * variation distance, 0..1) for their costs to be comparable. */
#define SDIFF_REPORT_COST_MIX_MAX 0.10

struct sdiff_report_cost {
    int present;                /* a side was sampled (JSON "cost" is null otherwise) */
    struct sdiff_report_cost_side primary, candidate;
    /* candidate / primary; < 0 when either side is unknown */
    double ratio_cpu_ms_per_request, ratio_rss_mib_mean, ratio_cost_per_million;
    double mix_distance;        /* total variation distance of the two route mixes; < 0
                                   when a side is missing */
    int comparable;             /* both sides present and mix_distance <= the maximum */
    int priced;                 /* a price model applies (else cost_per_million is null) */
    struct sdiff_cost_model model; /* its strings are static */
};

struct sdiff_report {
    int64_t run_id;
    char *run_kind, *run_corpus, *run_candidate, *run_primary;
    char *run_started_at, *run_finished_at; /* NULL when unknown */
    char *run_name;                         /* NULL: an unnamed run */
    char *run_labels_json;                  /* the run's labels, a JSON object text; NULL: none */
    char *run_state;                        /* "running" (in progress), "finished",
                                               "interrupted", "failed" */
    struct sdiff_report_thresholds thresholds;
    struct sdiff_report_endpoint *endpoints; /* ordered by results.route */
    size_t nendpoints;
    struct sdiff_report_cluster *clusters;   /* count desc, then route, signature */
    size_t nclusters;
    struct sdiff_report_endpoint totals;     /* sums over all endpoints (no verdict) */
    size_t nready, nblocked, ninsufficient;
    int pass;                                /* verdict == SDIFF_REPORT_PASS */
    enum sdiff_report_run_verdict verdict;   /* the run's: see verdict.h */
    char run_reasons[SDIFF_REPORT_MAX_RUN_REASONS][200];
    size_t nrun_reasons;
    /* overall bounds, over the whole sample (unweighted by endpoint) */
    double mismatch_lower, mismatch_upper;
    double error_increase_lower, error_increase_upper;
    struct sdiff_report_waiver *waivers;     /* the waivers matching a cluster of this run */
    size_t nwaivers;
    /* gate's sampling plan, rendered in JSON as "plan"; borrowed: set by the caller after
     * the build and never freed by sdiff_report_free */
    const struct sdiff_report_plan *plan;
    size_t nplan;
    char *db_shown;                          /* the database as shown (a URL's password as
                                                ***); NULL when built from rows alone */
    struct sdiff_report_noise *noise;        /* learned noise of this run's routes, by route
                                                and key */
    size_t nnoise;
    struct sdiff_report_instance *instances; /* by instance: only after
                                                sdiff_report_add_instances; else NULL */
    size_t ninstances;
    /* what each side's processes used (--primary-pid ...), under the run's price model */
    struct sdiff_report_cost cost;
};

/**
 * Build the report of run_id (0: the latest by last activity that did not fail) from the
 * database at db_path (schema version 2 or 3, never migrated), opened
 * read-only. th may be NULL (defaults).
 * @return SDIFF_OK; SDIFF_EIO when the file is missing; SDIFF_EDB when it is not a readable
 *         shadowdiff database; SDIFF_EINVAL when the run does not exist (or there is none);
 *         SDIFF_ENOMEM. Caller frees *out with sdiff_report_free.
 */
SDIFF_API int sdiff_report_build(struct sdiff_report **out, const char *db_path, int64_t run_id,
                                 const struct sdiff_report_thresholds *th,
                                 struct sdiff_err *err);
/**
 * As sdiff_report_build, also applying the waivers of config (may be NULL) besides those
 * recorded in the database. See lib/report/waivers.c.
 */
SDIFF_API int sdiff_report_build_config(struct sdiff_report **out, const char *db_path,
                                        int64_t run_id, const struct sdiff_report_thresholds *th,
                                        const struct sdiff_rules *config, struct sdiff_err *err);
/** NULL-safe. */
SDIFF_API void sdiff_report_free(struct sdiff_report *r);
/**
 * Price r's cost section under model instead of the one its run recorded (NULL: no model,
 * every cost_per_million unknown). model's strings are borrowed for r's life.
 */
SDIFF_API void sdiff_report_set_price_model(struct sdiff_report *r,
                                            const struct sdiff_cost_model *model);
/**
 * Add the per-instance breakdown of r's run (read from db_path, read-only, with r's since),
 * which every format then shows. The run's own numbers stay those of all its instances
 * together. @return SDIFF_OK, SDIFF_EIO, SDIFF_EDB, SDIFF_ENOMEM
 */
SDIFF_API int sdiff_report_add_instances(struct sdiff_report *r, const char *db_path,
                                         struct sdiff_err *err);

/**
 * Record a waiver of cluster_id (a cluster of the latest run) in the database's waivers
 * table. expires: "YYYY-MM-DD" or NULL. On success *out (caller disposes with
 * sdiff_report_waiver_dispose) holds the waiver, its route and signature. Accepting a
 * cluster again updates its waiver (reason, expiry) and keeps its id.
 * @return SDIFF_OK; SDIFF_EINVAL for an empty reason, a bad date, a date already past, or
 *         "no cluster ID in the latest run of FILE"; SDIFF_EIO, SDIFF_EDB as for build;
 *         SDIFF_ENOMEM
 */
SDIFF_API int sdiff_report_accept(const char *db_path, const char *cluster_id,
                                  const char *reason, const char *expires,
                                  struct sdiff_report_waiver *out, struct sdiff_err *err);
/** As sdiff_report_accept, for a cluster of run run_id (0: the latest). */
SDIFF_API int sdiff_report_accept_run(const char *db_path, int64_t run_id,
                                      const char *cluster_id, const char *reason,
                                      const char *expires, struct sdiff_report_waiver *out,
                                      struct sdiff_err *err);
/** Free the strings of w. NULL-safe. */
SDIFF_API void sdiff_report_waiver_dispose(struct sdiff_report_waiver *w);
/**
 * The database's waivers in force (newest first) on out: a table for people (id, cluster,
 * route, expiry, reason; traffic-derived text escaped) or, with json, an array of {id,
 * cluster, route, signature, reason, expires, expired, run, accepted_at}.
 * @return SDIFF_OK, SDIFF_EIO, SDIFF_EDB, SDIFF_ENOMEM
 */
SDIFF_API int sdiff_report_waivers_list(const char *db_path, int json, FILE *out,
                                        struct sdiff_err *err);
/**
 * Revoke waiver id of the database: later reports no longer apply it (the row stays).
 * @return SDIFF_OK; SDIFF_EINVAL "no waiver ID in FILE"; SDIFF_EIO, SDIFF_EDB
 */
SDIFF_API int sdiff_report_revoke(const char *db_path, int64_t id, struct sdiff_err *err);
/** Cluster id of (results.route, signature) into out (12 hex digits and NUL). */
SDIFF_API void sdiff_report_cluster_id(const char *route, const char *signature, char out[13]);

/**
 * Write the report to out in the given format. color: ANSI colours in text (the caller
 * decides: a TTY and NO_COLOR unset). SDIFF_OK, SDIFF_EIO (write failed), SDIFF_ENOMEM.
 */
SDIFF_API int sdiff_report_render(const struct sdiff_report *r, enum sdiff_report_format fmt,
                                  int color, FILE *out, struct sdiff_err *err);

/** Parse "text", "markdown", "json", "junit", "html"; -1 when unknown. */
SDIFF_API int sdiff_report_format_parse(const char *s);
/** "ready", "blocked", "insufficient data". */
SDIFF_API const char *sdiff_report_verdict_str(enum sdiff_report_verdict v);

/**
 * Upper bound of the Wilson score interval of k successes in n trials at z (1.96 for 95%).
 * Returns 1 when n == 0.
 */
SDIFF_API double sdiff_report_wilson_upper(uint64_t k, uint64_t n, double z);

/**
 * Write the detail of result result_id to out: request, primary's and candidate's answers
 * (decoded, JSON pretty-printed, cut to about 200 lines), class, reasons, note, every stored
 * difference, and a curl command reproducing the request against the candidate.
 * @return SDIFF_OK; SDIFF_EINVAL "no result ID in FILE"; SDIFF_EIO, SDIFF_EDB as for build
 */
SDIFF_API int sdiff_report_inspect(const char *db_path, int64_t result_id, int color,
                                    FILE *out, struct sdiff_err *err);

/**
 * Append s to b as one bash word that gives back exactly its len bytes: in single quotes
 * ('it'\''s') when it is plain text, else ANSI-C quoted ($'a\x1b[2Jb') so nothing a terminal
 * acts on is printed (sdiff_text_span decides). SDIFF_OK, SDIFF_ELIMIT, SDIFF_ENOMEM.
 */
SDIFF_API int sdiff_report_shell_quote(struct sdiff_buf *b, const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif
