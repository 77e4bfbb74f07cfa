/*
 * report.c - build a run's report from the rows the store hands it: per-endpoint counts (one
 * aggregate per route), latency percentiles (one scan of the run, sorted per endpoint),
 * verdicts, and the discrepancy clusters of the different results.
 */
#include "shadowdiff/report.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_int.h"
#include "report/waivers.h"
#include "shadowdiff/store.h"
#include "shadowdiff/verdict.h"

#define WHERE "report"

int sdiff__report_open_store(const char *path, struct sdiff_store **st, struct sdiff_err *err)
{
    struct sdiff_store_opts so = {.read_only = 1};
    return sdiff_store_open(st, path, &so, err);
}

/* ---- the store as a source of rows ----------------------------------------------------------- */

static int st_get_run(void *src, int64_t run_id, struct sdiff_store_run *out,
                      struct sdiff_err *err)
{
    return sdiff_store_get_run(src, run_id, out, err);
}

static int st_each_route_stats(void *src, int64_t run_id, uint64_t since_us,
                               int (*fn)(const struct sdiff_store_route_stats *s, void *ud,
                                         struct sdiff_err *err),
                               void *ud, struct sdiff_err *err)
{
    return sdiff_store_each_route_stats(src, run_id, since_us, fn, ud, err);
}

static int st_each_latency(void *src, int64_t run_id, uint64_t since_us,
                           int (*fn)(const struct sdiff_store_latency *l, void *ud,
                                     struct sdiff_err *err),
                           void *ud, struct sdiff_err *err)
{
    return sdiff_store_each_latency(src, run_id, since_us, fn, ud, err);
}

static int st_each_different(void *src, int64_t run_id, uint64_t since_us,
                             int (*fn)(const struct sdiff_store_difference *d, void *ud,
                                       struct sdiff_err *err),
                             void *ud, struct sdiff_err *err)
{
    return sdiff_store_each_different(src, run_id, since_us, fn, ud, err);
}

static int st_each_difference(void *src, int64_t result_id,
                              int (*fn)(const struct sdiff_store_difference *d, void *ud,
                                        struct sdiff_err *err),
                              void *ud, struct sdiff_err *err)
{
    return sdiff_store_each_difference(src, result_id, fn, ud, err);
}

static int st_each_waiver(void *src,
                          int (*fn)(const struct sdiff_store_waiver *w, void *ud,
                                    struct sdiff_err *err),
                          void *ud, struct sdiff_err *err)
{
    return sdiff_store_each_waiver(src, fn, ud, err);
}

int sdiff__report_run_preset(struct sdiff_store *st, int64_t run_id, enum sdiff_preset *out,
                             struct sdiff_err *err)
{
    char name[64], v[32];
    size_t n = 0;
    *out = SDIFF_PRESET_NONE;
    snprintf(name, sizeof name, SDIFF_PRESET_META_FMT, (long long)run_id);
    int rc = sdiff_store_meta_get(st, name, v, sizeof v - 1, &n, err);
    if (rc <= 0)
        return rc;
    v[n < sizeof v - 1 ? n : sizeof v - 1] = '\0';
    if (sdiff_preset_parse(v, out) < 0)
        *out = SDIFF_PRESET_NONE; /* a preset this version does not know: no hints */
    return SDIFF_OK;
}

static int st_get_preset(void *src, int64_t run_id, enum sdiff_preset *out,
                         struct sdiff_err *err)
{
    return sdiff__report_run_preset(src, run_id, out, err);
}

static int st_each_cost_sample(void *src, int64_t run_id, uint64_t since_us,
                               int (*fn)(const struct sdiff_store_cost_sample *s, void *ud,
                                         struct sdiff_err *err),
                               void *ud, struct sdiff_err *err)
{
    return sdiff_store_each_cost_sample(src, run_id, since_us, fn, ud, err);
}

static int st_each_noise(void *src,
                         int (*fn)(const struct sdiff_store_noise *n, void *ud,
                                   struct sdiff_err *err),
                         void *ud, struct sdiff_err *err)
{
    return sdiff_store_each_noise(src, fn, ud, err);
}

void sdiff__report_store_source(struct sdiff__report_source *src, struct sdiff_store *st)
{
    *src = (struct sdiff__report_source){
        .src = st,
        .get_run = st_get_run,
        .each_route_stats = st_each_route_stats,
        .each_latency = st_each_latency,
        .each_different = st_each_different,
        .each_difference = st_each_difference,
        .get_preset = st_get_preset,
        .each_waiver = st_each_waiver,
        .each_noise = st_each_noise,
        .each_cost_sample = st_each_cost_sample,
    };
}

static int oom(struct sdiff_err *err)
{
    return sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
}

static int dup_or_null(char **dst, const char *s)
{
    *dst = s ? sdiff_strdup(s) : NULL;
    return s == NULL || *dst != NULL;
}

double sdiff_report_wilson_upper(uint64_t k, uint64_t n, double z)
{
    if (n == 0)
        return 1.0;
    double nn = (double)n, p = (double)k / nn, z2 = z * z;
    double center = p + z2 / (2 * nn);
    double margin = z * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    double u = (center + margin) / (1 + z2 / nn);
    return u > 1 ? 1 : u;
}

const char *sdiff_report_verdict_str(enum sdiff_report_verdict v)
{
    switch (v) {
    case SDIFF_REPORT_READY: return "ready";
    case SDIFF_REPORT_BLOCKED: return "blocked";
    case SDIFF_REPORT_INSUFFICIENT: return "insufficient data";
    }
    return "?";
}

int sdiff_report_format_parse(const char *s)
{
    static const char *const names[] = {"text", "markdown", "json", "junit", "html"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static void endpoint_dispose(struct sdiff_report_endpoint *e)
{
    sdiff_free(e->method);
    sdiff_free(e->route);
    sdiff_free(e->key);
    sdiff_free(e->shape);
    for (size_t i = 0; i < e->nmembers; i++)
        endpoint_dispose(&e->members[i]);
    sdiff_free(e->members);
}

/* Keep e's own counts as a member of t (a merged endpoint), under its stored key. */
static int keep_member(struct sdiff_report_endpoint *t, const struct sdiff_report_endpoint *e)
{
    struct sdiff_report_endpoint *m =
        sdiff_realloc(t->members, (t->nmembers + 1) * sizeof *t->members);
    if (m == NULL)
        return SDIFF_ENOMEM;
    t->members = m;
    m = &t->members[t->nmembers];
    *m = *e;
    m->method = m->route = m->shape = NULL;
    m->members = NULL;
    m->nmembers = 0;
    m->key = sdiff_strdup(e->key);
    if (m->key == NULL)
        return SDIFF_ENOMEM;
    t->nmembers++;
    return SDIFF_OK;
}

/*
 * Members of a merged endpoint judged on their own, so that a broken route cannot hide in
 * a merge: the endpoint is blocked when one of them is, and says which. Waivers apply to
 * the merged endpoint's clusters, which members cannot split: with accepted differences
 * on the endpoint, its members are not judged apart.
 */
static void decide_members(struct sdiff_report_endpoint *e,
                           const struct sdiff_report_thresholds *th)
{
    if (e->nmembers == 0 || e->accepted)
        return;
    for (size_t i = 0; i < e->nmembers; i++) {
        struct sdiff_report_endpoint *m = &e->members[i];
        sdiff_report_decide_endpoint(m, th);
        if (m->verdict != SDIFF_REPORT_BLOCKED)
            continue;
        e->verdict = SDIFF_REPORT_BLOCKED;
        if (e->nreasons < SDIFF_REPORT_MAX_REASONS)
            snprintf(e->reasons[e->nreasons++], sizeof e->reasons[0], "merged route %.60s: %.80s",
                     m->key, m->nreasons ? m->reasons[0] : "blocked");
    }
}

static void cluster_dispose(struct sdiff_report_cluster *c)
{
    sdiff_free(c->method);
    sdiff_free(c->route);
    sdiff_free(c->signature);
    sdiff_free(c->sample_path);
    sdiff_free(c->hint);
    sdiff_free(c->sample_primary);
    sdiff_free(c->sample_candidate);
    sdiff_free(c->waiver_reason);
    sdiff_free(c->waiver_expires);
}

void sdiff_report_free(struct sdiff_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nendpoints; i++)
        endpoint_dispose(&r->endpoints[i]);
    for (size_t i = 0; i < r->nclusters; i++)
        cluster_dispose(&r->clusters[i]);
    sdiff_free(r->endpoints);
    sdiff_free(r->clusters);
    sdiff_free(r->run_kind);
    sdiff_free(r->run_corpus);
    sdiff_free(r->run_candidate);
    sdiff_free(r->run_primary);
    sdiff_free(r->run_started_at);
    sdiff_free(r->run_finished_at);
    sdiff_free(r->run_name);
    sdiff_free(r->run_labels_json);
    sdiff__report_instances_free(r);
    sdiff_free(r->run_state);
    for (size_t i = 0; i < r->nwaivers; i++)
        sdiff_report_waiver_dispose(&r->waivers[i]);
    sdiff_free(r->waivers);
    for (size_t i = 0; i < r->nnoise; i++) {
        sdiff_free(r->noise[i].route);
        sdiff_free(r->noise[i].key);
        sdiff_free(r->noise[i].source);
        sdiff_free(r->noise[i].examples_json);
    }
    sdiff_free(r->noise);
    sdiff_free(r->db_shown);
    sdiff_free(r);
}

/* "GET /users/{id}" -> method "GET", route "/users/{id}". */
static int split_route(const char *key, char **method, char **route)
{
    const char *sp = key ? strchr(key, ' ') : NULL;
    if (key == NULL) {
        *method = sdiff_strdup("");
        *route = sdiff_strdup("(no route)");
    } else if (sp == NULL) {
        *method = sdiff_strdup("");
        *route = sdiff_strdup(key);
    } else {
        *method = sdiff_strndup(key, (size_t)(sp - key));
        *route = sdiff_strdup(sp + 1);
    }
    return *method && *route ? SDIFF_OK : SDIFF_ENOMEM;
}

static int load_run(const struct sdiff__report_source *src, struct sdiff_report *r,
                    int64_t run_id, struct sdiff_err *err)
{
    struct sdiff_store_run run;
    int rc = src->get_run(src->src, run_id, &run, err);
    if (rc < 0)
        return rc;
    r->run_id = run.id;
    /* the report takes the strings it shows */
    r->run_kind = run.kind;
    r->run_corpus = run.corpus;
    r->run_candidate = run.candidate;
    r->run_primary = run.primary;
    r->run_started_at = run.started_at;
    r->run_finished_at = run.finished_at;
    r->run_name = run.name;
    r->run_labels_json = run.labels_json;
    run.labels_json = NULL;
    r->run_state = run.state;
    sdiff__report_cost_model(r, run.summary);
    run.kind = run.corpus = run.candidate = run.primary = NULL;
    run.started_at = run.finished_at = run.name = run.state = NULL;
    sdiff_store_run_dispose(&run);
    return SDIFF_OK;
}

static double ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : -1;
}

static void derive(struct sdiff_report_endpoint *e, uint64_t p5xx, uint64_t c5xx,
                   uint64_t cerr)
{
    e->primary_5xx = p5xx;
    e->candidate_5xx = c5xx;
    e->candidate_failed = cerr;
    e->judged = e->identical + e->equivalent + e->different;
    e->replayed = e->judged + e->errors;
    e->unjudged = e->skipped + e->errors;
    e->parity = ratio(e->identical + e->equivalent, e->judged);
    e->byte_parity = ratio(e->identical, e->judged);
    e->mismatch_upper = e->judged ? sdiff_report_wilson_upper(e->different, e->judged, 1.96) : -1;
    e->primary_5xx_rate = ratio(p5xx, e->replayed);
    e->candidate_5xx_rate = ratio(c5xx, e->replayed);
    e->transport_error_rate = ratio(e->errors, e->replayed);
    e->candidate_error_rate = ratio(cerr, e->replayed);
}

/* Add e's counts to t; derive(t, ...) afterwards recomputes the rates. */
static void add_counts(struct sdiff_report_endpoint *t, const struct sdiff_report_endpoint *e)
{
    t->samples += e->samples;
    t->identical += e->identical;
    t->equivalent += e->equivalent;
    t->different += e->different;
    t->errors += e->errors;
    t->skipped += e->skipped;
    t->primary_5xx += e->primary_5xx;
    t->candidate_5xx += e->candidate_5xx;
    t->candidate_failed += e->candidate_failed;
    t->accepted += e->accepted;
    t->not_found += e->not_found;
    t->both_4xx += e->both_4xx;
    t->both_4xx_different += e->both_4xx_different;
}

struct counts_ctx {
    struct sdiff_report *r;
    size_t cap;
};

static int on_route_stats(const struct sdiff_store_route_stats *s, void *ud,
                          struct sdiff_err *err)
{
    struct counts_ctx *c = ud;
    struct sdiff_report *r = c->r;
    if (r->nendpoints == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 16;
        void *p = sdiff_realloc(r->endpoints, ncap * sizeof *r->endpoints);
        if (p == NULL)
            return oom(err);
        r->endpoints = p;
        c->cap = ncap;
    }
    struct sdiff_report_endpoint *e = &r->endpoints[r->nendpoints++];
    memset(e, 0, sizeof *e);
    e->key = sdiff_strdup(s->route ? s->route : "");
    if (e->key == NULL || split_route(s->route, &e->method, &e->route) < 0)
        return oom(err);
    e->samples = s->samples;
    e->identical = s->identical;
    e->equivalent = s->equivalent;
    e->different = s->different;
    e->errors = s->errors;
    e->skipped = s->skipped;
    e->not_found = s->not_found;
    e->both_4xx = s->both_4xx;
    e->both_4xx_different = s->both_4xx_different;
    if (s->shape_min && s->shape_max && strcmp(s->shape_min, s->shape_max) == 0 &&
        (e->shape = sdiff_strdup(s->shape_min)) == NULL)
        return oom(err);
    derive(e, s->primary_5xx, s->candidate_5xx, s->candidate_failed);
    e->primary.p50 = e->primary.p95 = e->primary.p99 = -1;
    e->candidate.p50 = e->candidate.p95 = e->candidate.p99 = -1;
    e->primary.p99_lower = e->primary.p99_upper = -1;
    e->candidate.p99_lower = e->candidate.p99_upper = -1;
    e->p99_ratio = -1;
    return SDIFF_OK;
}

/* The learned noise of the routes this run stored (read before routes are merged). */
struct noise_ctx {
    struct sdiff_report *r;
    size_t cap;
};

static int on_noise(const struct sdiff_store_noise *n, void *ud, struct sdiff_err *err)
{
    struct noise_ctx *c = ud;
    struct sdiff_report *r = c->r;
    int ours = 0;
    for (size_t i = 0; !ours && i < r->nendpoints; i++)
        ours = strcmp(r->endpoints[i].key, n->route) == 0;
    if (!ours)
        return SDIFF_OK;
    if (r->nnoise == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 8;
        void *p = sdiff_realloc(r->noise, ncap * sizeof *r->noise);
        if (p == NULL)
            return oom(err);
        r->noise = p;
        c->cap = ncap;
    }
    struct sdiff_report_noise *x = &r->noise[r->nnoise++];
    memset(x, 0, sizeof *x);
    x->route = sdiff_strdup(n->route);
    x->key = sdiff_strdup(n->key);
    x->source = n->source ? sdiff_strdup(n->source) : NULL;
    x->examples_json = n->examples_json ? sdiff_strdup(n->examples_json) : NULL;
    x->pairs = n->pairs;
    x->clients = n->clients;
    x->confidence = n->confidence;
    x->run_id = n->run_id;
    if (x->route == NULL || x->key == NULL || (n->source && x->source == NULL) ||
        (n->examples_json && x->examples_json == NULL))
        return oom(err);
    return SDIFF_OK;
}

static int load_noise(const struct sdiff__report_source *src, struct sdiff_report *r,
                      struct sdiff_err *err)
{
    struct noise_ctx c = {r, 0};
    return src->each_noise ? src->each_noise(src->src, on_noise, &c, err) : SDIFF_OK;
}

static int load_counts(const struct sdiff__report_source *src, struct sdiff_report *r,
                       struct sdiff_err *err)
{
    struct counts_ctx c = {r, 0};
    return src->each_route_stats(src->src, r->run_id, r->thresholds.since_us, on_route_stats,
                                 &c, err);
}

/*
 * Routes whose position holds many different values under the same prefix, answered alike,
 * are one endpoint with a parameter there: /api/users/alice, /api/users/bob, ... (8 or more
 * distinct values, none carrying half the traffic, every one answered with the same shape:
 * status class, media type, top-level JSON keys) become /api/users/{param}. Inference at
 * capture time only knows identifier-looking segments; this catches names and slugs.
 * Collections under one prefix (/api/orders, /api/users) answer with different shapes and
 * are never merged because of how many siblings they have; paths the primary answered only
 * with 404 or 405 (made-up ones) neither count toward a merge nor join one, so junk paths
 * cannot dilute a real endpoint; without shapes (a version-2 file) nothing is merged. The
 * stored routes stay as they are; the alias table maps each to its merged endpoint.
 */
#define MERGE_MIN_DISTINCT 8

struct alias_tab {
    char **stored;   /* stored route key */
    size_t *idx;     /* endpoint index */
    size_t n, cap;
};

static void alias_free(struct alias_tab *al)
{
    for (size_t i = 0; i < al->n; i++)
        sdiff_free(al->stored[i]);
    sdiff_free(al->stored);
    sdiff_free(al->idx);
    memset(al, 0, sizeof *al);
}

static int alias_add(struct alias_tab *al, const char *stored, size_t idx)
{
    for (size_t i = 0; i < al->n; i++)
        if (strcmp(al->stored[i], stored) == 0) {
            al->idx[i] = idx;
            return SDIFF_OK;
        }
    if (al->n == al->cap) {
        size_t cap = al->cap ? al->cap * 2 : 32;
        char **s = sdiff_realloc(al->stored, cap * sizeof *s);
        if (s == NULL)
            return SDIFF_ENOMEM;
        al->stored = s;
        size_t *x = sdiff_realloc(al->idx, cap * sizeof *x);
        if (x == NULL)
            return SDIFF_ENOMEM;
        al->idx = x;
        al->cap = cap;
    }
    al->stored[al->n] = sdiff_strdup(stored);
    if (al->stored[al->n] == NULL)
        return SDIFF_ENOMEM;
    al->idx[al->n++] = idx;
    return SDIFF_OK;
}

static const char *alias_key(const struct sdiff_report *r, const struct alias_tab *al,
                             const char *stored)
{
    for (size_t i = 0; al && stored && i < al->n; i++)
        if (strcmp(al->stored[i], stored) == 0)
            return r->endpoints[al->idx[i]].key;
    return stored;
}

/* The n-th "/"-separated segment of a route key ("GET /a/b"), or NULL. */
static const char *segment(const char *key, size_t n, size_t *len)
{
    const char *p = strchr(key, ' ');
    if (p == NULL || p[1] != '/')
        return NULL;
    p += 2;
    for (size_t i = 0; i < n; i++) {
        p = strchr(p, '/');
        if (p == NULL)
            return NULL;
        p++;
    }
    *len = strcspn(p, "/");
    return p;
}

/* The key with segment n replaced by "*" (the group of routes that differ only there). */
static char *group_key(const struct sdiff_report_endpoint *e, size_t n)
{
    const char *key = e->key;
    /* only answers of one known shape, not only 404s and 405s, may take part */
    if (e->shape == NULL || e->not_found >= e->samples)
        return NULL;
    size_t len;
    const char *seg = segment(key, n, &len);
    if (seg == NULL || len == 0 || seg[0] == '{')
        return NULL;
    struct sdiff_buf b;
    sdiff_buf_init(&b, 4096);
    sdiff_buf_append(&b, key, (size_t)(seg - key));
    sdiff_buf_append(&b, "*", 1);
    sdiff_buf_puts(&b, seg + len);
    return (char *)sdiff_buf_steal(&b, NULL);
}

static int merge_variable_routes(struct sdiff_report *r, struct alias_tab *al)
{
    size_t n = r->nendpoints;
    size_t *into = sdiff_calloc(n + 1, sizeof *into); /* SIZE_MAX: alive */
    char **gk = sdiff_calloc(n + 1, sizeof *gk);
    int rc = SDIFF_OK, merged = 0;
    if (into == NULL || gk == NULL) {
        rc = SDIFF_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        into[i] = SIZE_MAX;
    for (size_t pos = 0; pos < 16 && rc >= 0; pos++) {
        for (size_t i = 0; i < n; i++) {
            sdiff_free(gk[i]);
            gk[i] = into[i] == SIZE_MAX ? group_key(&r->endpoints[i], pos) : NULL;
        }
        for (size_t i = 0; i < n && rc >= 0; i++) {
            if (gk[i] == NULL)
                continue;
            size_t members = 0;
            uint64_t total = 0, top = 0;
            int alike = 1;
            for (size_t k = i; k < n; k++)
                if (gk[k] && strcmp(gk[k], gk[i]) == 0) {
                    members++;
                    total += r->endpoints[k].samples;
                    if (r->endpoints[k].samples > top)
                        top = r->endpoints[k].samples;
                    alike = alike && strcmp(r->endpoints[k].shape, r->endpoints[i].shape) == 0;
                }
            if (members < MERGE_MIN_DISTINCT || top * 2 > total || !alike) {
                for (size_t k = i + 1; k < n; k++)
                    if (gk[k] && strcmp(gk[k], gk[i]) == 0) {
                        sdiff_free(gk[k]);
                        gk[k] = NULL;
                    }
                continue;
            }
            /* merge the group into endpoint i, renamed with {param} at pos */
            struct sdiff_report_endpoint *t = &r->endpoints[i];
            char *star = strchr(gk[i], '*');
            struct sdiff_buf b;
            sdiff_buf_init(&b, 4096);
            sdiff_buf_append(&b, gk[i], (size_t)(star - gk[i]));
            sdiff_buf_puts(&b, "{param}");
            sdiff_buf_puts(&b, star + 1);
            char *nkey = (char *)sdiff_buf_steal(&b, NULL);
            if (nkey == NULL || alias_add(al, t->key, i) < 0 || keep_member(t, t) < 0) {
                sdiff_free(nkey);
                rc = SDIFF_ENOMEM;
                break;
            }
            for (size_t k = i + 1; k < n && rc >= 0; k++) {
                if (gk[k] == NULL || strcmp(gk[k], gk[i]) != 0)
                    continue;
                struct sdiff_report_endpoint *e = &r->endpoints[k];
                add_counts(t, e);
                into[k] = i;
                rc = alias_add(al, e->key, i);
                if (rc >= 0)
                    rc = keep_member(t, e);
                /* routes merged earlier into k now belong to i */
                for (size_t a = 0; a < al->n; a++)
                    if (al->idx[a] == k)
                        al->idx[a] = i;
                sdiff_free(gk[k]);
                gk[k] = NULL;
            }
            derive(t, t->primary_5xx, t->candidate_5xx, t->candidate_failed);
            sdiff_free(t->key);
            sdiff_free(t->method);
            sdiff_free(t->route);
            t->key = nkey;
            t->method = t->route = NULL;
            if (split_route(nkey, &t->method, &t->route) < 0)
                rc = SDIFF_ENOMEM;
            merged = 1;
        }
    }
    if (rc >= 0 && merged) {
        /* drop the merged-away endpoints; aliases follow the new indexes */
        size_t *newidx = into; /* reuse: old index -> new index for the living */
        size_t w = 0;
        for (size_t i = 0; i < n; i++) {
            if (into[i] != SIZE_MAX) {
                endpoint_dispose(&r->endpoints[i]);
                newidx[i] = SIZE_MAX;
                continue;
            }
            r->endpoints[w] = r->endpoints[i];
            newidx[i] = w++;
        }
        for (size_t a = 0; a < al->n; a++)
            al->idx[a] = newidx[al->idx[a]];
        r->nendpoints = w;
    }
out:
    for (size_t i = 0; gk && i < n; i++)
        sdiff_free(gk[i]);
    sdiff_free(gk);
    sdiff_free(into);
    return rc;
}

/* Endpoint whose key is key (NULL: the results without a route). */
static struct sdiff_report_endpoint *find_endpoint(struct sdiff_report *r, const char *key,
                                                   int null_key)
{
    for (size_t i = 0; i < r->nendpoints; i++) {
        struct sdiff_report_endpoint *e = &r->endpoints[i];
        if (null_key ? strcmp(e->route, "(no route)") == 0 && e->method[0] == 0
                     : strcmp(e->key, key) == 0)
            return e;
    }
    return NULL;
}

/* Nearest rank: the smallest value with at least p% of the samples at or below it. */
static double nearest_rank(const double *v, size_t n, double p)
{
    double rank = ceil(p / 100.0 * (double)n);
    size_t i = rank < 1 ? 0 : (size_t)rank - 1;
    return v[i < n ? i : n - 1];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The values of one route arrive in index order, unsorted: sort them here, per route, which
 * is far cheaper than SQLite sorting the whole run by (route, latency). */
static void set_latency(struct sdiff_report_latency *l, struct sdiff_buf *b)
{
    double *v = (double *)(void *)b->data;
    l->n = b->len / sizeof(double);
    if (l->n == 0)
        return;
    qsort(v, l->n, sizeof *v, cmp_double);
    l->p50 = nearest_rank(v, l->n, 50);
    l->p95 = nearest_rank(v, l->n, 95);
    l->p99 = nearest_rank(v, l->n, 99);
    uint64_t lo, hi;
    sdiff_report_quantile_ranks(l->n, 0.99, 0.025, &lo, &hi);
    l->p99_lower = lo ? v[lo - 1] : -1;
    l->p99_upper = hi ? v[hi - 1] : -1;
}
struct latency_ctx {
    struct sdiff_report *r;
    const struct alias_tab *al;
    struct sdiff_buf *vals;             /* per endpoint: primary, candidate */
    struct sdiff_report_endpoint *cur;  /* endpoint of the previous row */
    char cur_key[512];                  /* its stored route (rows come grouped in runs) */
    int have_key;
};

static int on_latency(const struct sdiff_store_latency *l, void *ud, struct sdiff_err *err)
{
    struct latency_ctx *c = ud;
    const char *key = l->route;
    if (c->cur == NULL || key == NULL || !c->have_key || strcmp(key, c->cur_key) != 0) {
        c->cur = find_endpoint(c->r, alias_key(c->r, c->al, key), key == NULL);
        /* remember the stored key (the row's text is gone after this call) */
        c->have_key = c->cur && key && strlen(key) < sizeof c->cur_key;
        if (c->have_key)
            memcpy(c->cur_key, key, strlen(key) + 1);
    }
    if (c->cur == NULL)
        return SDIFF_OK;
    size_t ei = (size_t)(c->cur - c->r->endpoints);
    double v[2] = {l->primary_ms, l->candidate_ms};
    for (size_t side = 0; side < 2; side++)
        if (v[side] >= 0 && sdiff_buf_append(&c->vals[ei * 2 + side], &v[side], sizeof v[side]) < 0)
            return oom(err);
    return SDIFF_OK;
}

/*
 * Both sides' latencies in one sequential scan of the run's rows, bucketed per endpoint and
 * sorted per endpoint afterwards: sorting the whole run by (route, latency) in the store
 * would cost several times a straight scan on a million rows.
 */
static int load_latencies(const struct sdiff__report_source *src, struct sdiff_report *r,
                          const struct alias_tab *al, struct sdiff_err *err)
{
    struct latency_ctx c = {.r = r, .al = al};
    c.vals = sdiff_calloc(r->nendpoints * 2 + 1, sizeof *c.vals);
    if (c.vals == NULL)
        return oom(err);
    for (size_t i = 0; i < r->nendpoints * 2; i++)
        sdiff_buf_init(&c.vals[i], SIZE_MAX / 2);
    int rc = src->each_latency(src->src, r->run_id, r->thresholds.since_us, on_latency, &c, err);
    for (size_t i = 0; rc >= 0 && i < r->nendpoints; i++) {
        set_latency(&r->endpoints[i].primary, &c.vals[i * 2]);
        set_latency(&r->endpoints[i].candidate, &c.vals[i * 2 + 1]);
    }
    for (size_t i = 0; i < r->nendpoints * 2; i++)
        sdiff_buf_dispose(&c.vals[i]);
    sdiff_free(c.vals);
    return rc;
}

/* ---- clusters ---------------------------------------------------------------------------- */

struct member {
    char *key;          /* route "\n" signature */
    int64_t id;
    uint64_t t;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_member(const void *a, const void *b)
{
    const struct member *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

static int cmp_cluster(const void *a, const void *b)
{
    const struct sdiff_report_cluster *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    int c = strcmp(x->method, y->method);
    c = c ? c : strcmp(x->route, y->route);
    return c ? c : strcmp(x->signature, y->signature);
}

/* "$.items[3].tags[10]" -> "$.items[*].tags[*]" */
static int wildcard(struct sdiff_buf *b, const char *path)
{
    int rc = SDIFF_OK;
    for (const char *p = path; *p && rc >= 0; p++) {
        if (*p == '[' && p[1] >= '0' && p[1] <= '9') {
            const char *q = p + 1;
            while (*q >= '0' && *q <= '9')
                q++;
            if (*q == ']') {
                rc = sdiff_buf_puts(b, "[*]");
                p = q;
                continue;
            }
        }
        rc = sdiff_buf_append(b, p, 1);
    }
    return rc;
}

/* The signature items of one result (owned strings in items[0..n)) -> member key. */
static char *make_key(const char *route, char **items, size_t n)
{
    struct sdiff_buf b;
    sdiff_buf_init(&b, SIZE_MAX / 2);
    if (n > 1) /* items is NULL when a result has no difference left (all noise) */
        qsort(items, n, sizeof *items, cmp_str);
    int rc = sdiff_buf_puts(&b, route ? route : "");
    rc = rc < 0 ? rc : sdiff_buf_append(&b, "\n", 1);
    if (n == 0)
        rc = rc < 0 ? rc : sdiff_buf_puts(&b, "(no differences recorded)");
    for (size_t i = 0; i < n && rc >= 0; i++) {
        if (i > 0 && strcmp(items[i], items[i - 1]) == 0)
            continue;
        if (i > 0)
            rc = sdiff_buf_puts(&b, "; ");
        rc = rc < 0 ? rc : sdiff_buf_puts(&b, items[i]);
    }
    if (rc < 0 || b.data == NULL) {
        sdiff_buf_dispose(&b);
        return NULL;
    }
    return (char *)sdiff_buf_steal(&b, NULL);
}

static char *signature_item(const char *path, const char *kind, const char *pv, const char *cv)
{
    struct sdiff_buf b;
    sdiff_buf_init(&b, SIZE_MAX / 2);
    int rc;
    if (strcmp(path, "status") == 0)
        rc = sdiff_buf_printf(&b, "status %s %s->%s", kind, pv ? pv : "?", cv ? cv : "?");
    else {
        rc = wildcard(&b, path);
        rc = rc < 0 ? rc : sdiff_buf_printf(&b, " %s", kind);
    }
    if (rc < 0 || b.data == NULL) {
        sdiff_buf_dispose(&b);
        return NULL;
    }
    return (char *)sdiff_buf_steal(&b, NULL);
}

struct members {
    struct member *v;
    size_t n, cap;
};

static int add_member(struct members *m, const char *route, char **items, size_t nitems,
                      int64_t id, uint64_t t)
{
    if (m->n == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        void *p = sdiff_realloc(m->v, ncap * sizeof *m->v);
        if (p == NULL)
            return SDIFF_ENOMEM;
        m->v = p;
        m->cap = ncap;
    }
    char *key = make_key(route, items, nitems);
    if (key == NULL)
        return SDIFF_ENOMEM;
    m->v[m->n++] = (struct member){key, id, t};
    return SDIFF_OK;
}

struct sample_ctx {
    struct sdiff_report_cluster *c;
    enum sdiff_preset preset;
};

static int on_sample(const struct sdiff_store_difference *d, void *ud, struct sdiff_err *err)
{
    struct sample_ctx *x = ud;
    struct sdiff_report_cluster *c = x->c;
    if (!dup_or_null(&c->sample_path, d->path) ||
        !dup_or_null(&c->sample_primary, d->primary_value) ||
        !dup_or_null(&c->sample_candidate, d->candidate_value))
        return oom(err);
    /* the hint the comparison stored (v3), else the one it named from the same values */
    const char *hint = d->hint ? d->hint
                               : sdiff_diff_hint(x->preset, d->path, d->kind, d->primary_value,
                                                 d->candidate_value);
    if (!dup_or_null(&c->hint, hint))
        return oom(err);
    return SDIFF_END; /* the first difference is the sample */
}

static int cluster_sample(const struct sdiff__report_source *src, struct sdiff_report_cluster *c,
                          enum sdiff_preset preset, struct sdiff_err *err)
{
    struct sample_ctx x = {c, preset};
    return src->each_difference(src->src, c->examples[0], on_sample, &x, err);
}

/* The different results arrive as rows (one per difference), grouped by result id. */
struct clusters_ctx {
    struct sdiff_report *r;
    const struct alias_tab *al;
    struct members m;
    char **items;       /* signature items of the current result */
    size_t nitems, capitems;
    char *route;        /* of the current result */
    int64_t cur;        /* its id; -1 before the first row */
    uint64_t cur_t;
};

/* The current result is complete: make it a member of its cluster. */
static int flush_member(struct clusters_ctx *c)
{
    if (c->cur < 0)
        return SDIFF_OK;
    int rc = add_member(&c->m, alias_key(c->r, c->al, c->route), c->items, c->nitems, c->cur,
                        c->cur_t);
    for (size_t i = 0; i < c->nitems; i++)
        sdiff_free(c->items[i]);
    c->nitems = 0;
    sdiff_free(c->route);
    c->route = NULL;
    c->cur = -1;
    return rc;
}

static int on_different(const struct sdiff_store_difference *d, void *ud, struct sdiff_err *err)
{
    struct clusters_ctx *c = ud;
    if (d->result_id != c->cur) {
        if (flush_member(c) < 0)
            return oom(err);
        c->cur = d->result_id;
        c->cur_t = d->t_req_start;
        if (!dup_or_null(&c->route, d->route))
            return oom(err);
    }
    if (d->path == NULL)
        return SDIFF_OK;
    /* a field that became noise later in the run than this result was judged: not part of
     * what differs (the result stays different for its other fields) */
    if (d->route && c->r->nnoise) {
        char key[512];
        sdiff_noise_key(d->path, key, sizeof key);
        for (size_t i = 0; i < c->r->nnoise; i++)
            if (strcmp(c->r->noise[i].route, d->route) == 0 &&
                strcmp(c->r->noise[i].key, key) == 0)
                return SDIFF_OK;
    }
    if (c->nitems == c->capitems) {
        size_t ncap = c->capitems ? c->capitems * 2 : 16;
        void *p = sdiff_realloc(c->items, ncap * sizeof *c->items);
        if (p == NULL)
            return oom(err);
        c->items = p;
        c->capitems = ncap;
    }
    c->items[c->nitems] = signature_item(d->path, d->kind ? d->kind : "?", d->primary_value,
                                         d->candidate_value);
    if (c->items[c->nitems] == NULL)
        return oom(err);
    c->nitems++;
    return SDIFF_OK;
}

static int load_clusters(const struct sdiff__report_source *src, struct sdiff_report *r,
                         const struct alias_tab *al, struct sdiff_err *err)
{
    struct clusters_ctx cx = {.r = r, .al = al, .cur = -1};
    struct members *m = &cx.m;
    int rc = src->each_different(src->src, r->run_id, r->thresholds.since_us, on_different, &cx,
                                 err);
    if (rc < 0)
        goto out;
    if (flush_member(&cx) < 0)
        goto oom;
    if (m->n)
        qsort(m->v, m->n, sizeof *m->v, cmp_member);
    size_t ncl = 0;
    for (size_t i = 0; i < m->n; i++)
        if (i == 0 || strcmp(m->v[i].key, m->v[i - 1].key) != 0)
            ncl++;
    r->clusters = ncl ? sdiff_calloc(ncl, sizeof *r->clusters) : NULL;
    if (ncl && r->clusters == NULL)
        goto oom;
    for (size_t i = 0; i < m->n; i++) {
        struct sdiff_report_cluster *c;
        if (i == 0 || strcmp(m->v[i].key, m->v[i - 1].key) != 0) {
            c = &r->clusters[r->nclusters++];
            const char *nl = strchr(m->v[i].key, '\n');
            char *rkey = sdiff_strndup(m->v[i].key, (size_t)(nl - m->v[i].key));
            c->signature = sdiff_strdup(nl + 1);
            if (rkey && c->signature)
                sdiff_report_cluster_id(rkey, c->signature, c->id);
            rc = rkey && c->signature
                     ? split_route(nl == m->v[i].key ? NULL : rkey, &c->method, &c->route)
                     : SDIFF_ENOMEM;
            sdiff_free(rkey);
            if (rc < 0)
                goto oom;
        } else {
            c = &r->clusters[r->nclusters - 1];
        }
        c->count++;
        if (c->nexamples < SDIFF_REPORT_MAX_EXAMPLES)
            c->examples[c->nexamples++] = m->v[i].id;
        uint64_t t = m->v[i].t;
        if (t && (c->first_us == 0 || t < c->first_us))
            c->first_us = t;
        if (t > c->last_us)
            c->last_us = t;
    }
    if (r->nclusters)
        qsort(r->clusters, r->nclusters, sizeof *r->clusters, cmp_cluster);
    enum sdiff_preset preset = SDIFF_PRESET_NONE;
    rc = src->get_preset ? src->get_preset(src->src, r->run_id, &preset, err) : SDIFF_OK;
    for (size_t i = 0; i < r->nclusters && rc >= 0; i++)
        rc = cluster_sample(src, &r->clusters[i], preset, err);
    goto out;
oom:
    rc = oom(err);
out:
    for (size_t i = 0; i < cx.nitems; i++)
        sdiff_free(cx.items[i]);
    sdiff_free(cx.items);
    sdiff_free(cx.route);
    for (size_t i = 0; i < m->n; i++)
        sdiff_free(m->v[i].key);
    sdiff_free(m->v);
    return rc;
}

/* ---- verdicts: lib/report/verdict.c ----------------------------------------------------- */

static void totals(struct sdiff_report *r)
{
    struct sdiff_report_endpoint *t = &r->totals;
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < r->nendpoints; i++)
        add_counts(t, &r->endpoints[i]);
    derive(t, t->primary_5xx, t->candidate_5xx, t->candidate_failed);
    if (t->judged)
        t->mismatch_upper = sdiff_report_wilson_upper(t->different - t->accepted, t->judged, 1.96);
    t->primary.p50 = t->primary.p95 = t->primary.p99 = -1;
    t->candidate.p50 = t->candidate.p95 = t->candidate.p99 = -1;
    t->primary.p99_lower = t->primary.p99_upper = -1;
    t->candidate.p99_lower = t->candidate.p99_upper = -1;
    t->p99_ratio = -1;
}

int sdiff_report_build(struct sdiff_report **out, const char *db_path, int64_t run_id,
                       const struct sdiff_report_thresholds *th, struct sdiff_err *err)
{
    return sdiff_report_build_config(out, db_path, run_id, th, NULL, err);
}

int sdiff__report_build_from(struct sdiff_report **out, const struct sdiff__report_source *src,
                             int64_t run_id, const struct sdiff_report_thresholds *th,
                             const struct sdiff_rules *config, struct sdiff_err *err)
{
    static const struct sdiff_report_thresholds defaults = SDIFF_REPORT_THRESHOLDS_INIT;
    struct sdiff_report *r = NULL;
    struct alias_tab al = {0};
    int rc;
    if (SDIFF_NEVER(out == NULL || src == NULL))
        return SDIFF_EINVAL;
    *out = NULL;
    r = sdiff_calloc(1, sizeof *r);
    if (r == NULL)
        return oom(err);
    r->thresholds = th ? *th : defaults;
    rc = load_run(src, r, run_id, err);
    rc = rc < 0 ? rc : load_counts(src, r, err);
    rc = rc < 0 ? rc : load_noise(src, r, err);
    if (rc >= 0 && merge_variable_routes(r, &al) < 0)
        rc = oom(err);
    rc = rc < 0 ? rc : load_latencies(src, r, &al, err);
    rc = rc < 0 ? rc : load_clusters(src, r, &al, err);
    alias_free(&al);
    rc = rc < 0 ? rc : sdiff__report_apply_waivers(src, r, config, err);
    rc = rc < 0 ? rc : sdiff__report_load_cost(src, r, err);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < r->nendpoints; i++)
    {
        sdiff_report_decide_endpoint(&r->endpoints[i], &r->thresholds);
        decide_members(&r->endpoints[i], &r->thresholds);
    }
    totals(r);
    sdiff_report_decide_run(r);
    *out = r;
    r = NULL;
out:
    sdiff_report_free(r);
    return rc;
}

int sdiff_report_build_config(struct sdiff_report **out, const char *db_path, int64_t run_id,
                              const struct sdiff_report_thresholds *th,
                              const struct sdiff_rules *config, struct sdiff_err *err)
{
    struct sdiff_store *st = NULL;
    struct sdiff__report_source src;
    if (SDIFF_NEVER(out == NULL || db_path == NULL))
        return SDIFF_EINVAL;
    *out = NULL;
    int rc = sdiff__report_open_store(db_path, &st, err);
    if (rc < 0)
        return rc;
    sdiff__report_store_source(&src, st);
    rc = sdiff__report_build_from(out, &src, run_id, th, config, err);
    if (rc >= 0) {
        char shown[600];
        sdiff_store_shown(db_path, shown, sizeof shown);
        (*out)->db_shown = sdiff_strdup(shown); /* NULL: the commands say FILE */
    }
    sdiff_store_close(st);
    return rc;
}
