/*
 * report.c - build a run's report from the results database: per-endpoint counts (one
 * aggregate query), latency percentiles (one ordered scan per side), verdicts, and the
 * discrepancy clusters of the different results.
 */
#include "shadowdiff/report.h"

#include <math.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report/waivers.h"
#include "shadowdiff/store.h"

#define WHERE "report"

/* A database written by a newer shadowdiff may mean something else by the same tables. */
static int check_version(sqlite3 *db, const char *path, const char *where,
                         struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    if (version > SDIFF_STORE_SCHEMA_VERSION)
        return sdiff_err_set(err, SDIFF_EDB, where,
                             "%.150s: schema version %d is newer than this shadowdiff supports"
                             " (%d)",
                             path, version, SDIFF_STORE_SCHEMA_VERSION);
    return SDIFF_OK;
}

int sdiff__report_open_db(const char *path, const char *where, const char *probe, sqlite3 **db,
                          struct sdiff_err *err)
{
    struct stat sb;
    *db = NULL;
    if (stat(path, &sb) != 0)
        return sdiff_err_set(err, SDIFF_EIO, where, "%.150s: no such file", path);
    if (!S_ISREG(sb.st_mode))
        return sdiff_err_set(err, SDIFF_EIO, where, "%.150s: not a regular file", path);
    int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK && check_version(*db, path, where, err) < 0) {
        sqlite3_close(*db);
        *db = NULL;
        return SDIFF_EDB;
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(*db, probe, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        sdiff_err_set(err, SDIFF_EDB, where, "%.150s: not a readable shadowdiff database (%.30s)",
                      path, *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
        sqlite3_close(*db);
        *db = NULL;
        return SDIFF_EDB;
    }
    sqlite3_busy_timeout(*db, 5000);
    return SDIFF_OK;
}

static int open_db(const char *path, sqlite3 **db, struct sdiff_err *err)
{
    int rc = sdiff__report_open_db(
        path, WHERE, "SELECT id FROM runs LIMIT 0; SELECT id FROM results LIMIT 0", db, err);
    /* Several passes read the same pages: map the file and keep a large page cache rather
     * than copying every page in with read() on each pass. */
    if (rc >= 0)
        sqlite3_exec(*db, "PRAGMA mmap_size=4294967296; PRAGMA cache_size=-262144", NULL, NULL,
                     NULL);
    return rc;
}

static int db_err(sqlite3 *db, struct sdiff_err *err)
{
    return sdiff_err_set(err, SDIFF_EDB, WHERE, "cannot read the database: %.150s",
                         sqlite3_errmsg(db));
}

static char *col_dup(sqlite3_stmt *q, int i)
{
    const unsigned char *s = sqlite3_column_text(q, i);
    return s ? sdiff_strdup((const char *)s) : NULL;
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
}

static void cluster_dispose(struct sdiff_report_cluster *c)
{
    sdiff_free(c->method);
    sdiff_free(c->route);
    sdiff_free(c->signature);
    sdiff_free(c->sample_path);
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
    for (size_t i = 0; i < r->nwaivers; i++)
        sdiff_report_waiver_dispose(&r->waivers[i]);
    sdiff_free(r->waivers);
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

static int load_run(sqlite3 *db, struct sdiff_report *r, int64_t run_id, const char *path,
                    struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db,
                                run_id > 0
                                    ? "SELECT id, kind, corpus, candidate, primary_url, started_at,"
                                      " finished_at FROM runs WHERE id = ?"
                                    : "SELECT id, kind, corpus, candidate, primary_url, started_at,"
                                      " finished_at FROM runs ORDER BY id DESC LIMIT 1",
                                -1, &q, NULL);
    if (rc != SQLITE_OK)
        return db_err(db, err);
    if (run_id > 0)
        sqlite3_bind_int64(q, 1, run_id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        r->run_id = sqlite3_column_int64(q, 0);
        r->run_kind = col_dup(q, 1);
        r->run_corpus = col_dup(q, 2);
        r->run_candidate = col_dup(q, 3);
        r->run_primary = col_dup(q, 4);
        r->run_started_at = col_dup(q, 5);
        r->run_finished_at = col_dup(q, 6);
        rc = SDIFF_OK;
    } else if (rc == SQLITE_DONE) {
        rc = run_id > 0 ? sdiff_err_set(err, SDIFF_EINVAL, WHERE, "no run %lld in %.150s",
                                        (long long)run_id, path)
                        : sdiff_err_set(err, SDIFF_EINVAL, WHERE, "no run in %.150s", path);
    } else {
        rc = db_err(db, err);
    }
    sqlite3_finalize(q);
    return rc;
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
}

static int load_counts(sqlite3 *db, struct sdiff_report *r, struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    size_t cap = 0;
    int rc = sqlite3_prepare_v2(
        db,
        "SELECT route, count(*), sum(class = 'identical'), sum(class = 'equivalent'),"
        " sum(class = 'different'), sum(class = 'error'), sum(class = 'skipped'),"
        " sum(class IN ('identical','equivalent','different','error') AND primary_status >= 500),"
        " sum(class IN ('identical','equivalent','different','error') AND candidate_status >= 500),"
        " sum(class = 'error' OR (class IN ('identical','equivalent','different')"
        "     AND candidate_status >= 500))"
        " FROM results NOT INDEXED WHERE run_id = ?1 AND (?2 = 0 OR t_req_start >= ?2)"
        " GROUP BY route ORDER BY route",
        -1, &q, NULL);
    if (rc != SQLITE_OK)
        return db_err(db, err);
    sqlite3_bind_int64(q, 1, r->run_id);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)r->thresholds.since_us);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (r->nendpoints == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            void *p = sdiff_realloc(r->endpoints, ncap * sizeof *r->endpoints);
            if (p == NULL) {
                rc = sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
                goto out;
            }
            r->endpoints = p;
            cap = ncap;
        }
        struct sdiff_report_endpoint *e = &r->endpoints[r->nendpoints++];
        memset(e, 0, sizeof *e);
        const char *key = (const char *)sqlite3_column_text(q, 0);
        e->key = sdiff_strdup(key ? key : "");
        if (e->key == NULL || split_route(key, &e->method, &e->route) < 0) {
            rc = sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
            goto out;
        }
        e->samples = (uint64_t)sqlite3_column_int64(q, 1);
        e->identical = (uint64_t)sqlite3_column_int64(q, 2);
        e->equivalent = (uint64_t)sqlite3_column_int64(q, 3);
        e->different = (uint64_t)sqlite3_column_int64(q, 4);
        e->errors = (uint64_t)sqlite3_column_int64(q, 5);
        e->skipped = (uint64_t)sqlite3_column_int64(q, 6);
        derive(e, (uint64_t)sqlite3_column_int64(q, 7), (uint64_t)sqlite3_column_int64(q, 8),
               (uint64_t)sqlite3_column_int64(q, 9));
        e->primary.p50 = e->primary.p95 = e->primary.p99 = -1;
        e->candidate.p50 = e->candidate.p95 = e->candidate.p99 = -1;
        e->p99_ratio = -1;
    }
    rc = rc == SQLITE_DONE ? SDIFF_OK : db_err(db, err);
out:
    sqlite3_finalize(q);
    return rc;
}

/*
 * Routes whose position holds many different values under the same prefix are one endpoint
 * with a parameter there: /api/users/alice, /api/users/bob, ... (8 or more distinct values,
 * none carrying half the traffic) become /api/users/{param}. Inference at capture time only
 * knows identifier-looking segments; this catches names and slugs. The stored routes stay as
 * they are; the alias table maps each to its merged endpoint.
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
static char *group_key(const char *key, size_t n)
{
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
            gk[i] = into[i] == SIZE_MAX ? group_key(r->endpoints[i].key, pos) : NULL;
        }
        for (size_t i = 0; i < n && rc >= 0; i++) {
            if (gk[i] == NULL)
                continue;
            size_t members = 0;
            uint64_t total = 0, top = 0;
            for (size_t k = i; k < n; k++)
                if (gk[k] && strcmp(gk[k], gk[i]) == 0) {
                    members++;
                    total += r->endpoints[k].samples;
                    if (r->endpoints[k].samples > top)
                        top = r->endpoints[k].samples;
                }
            if (members < MERGE_MIN_DISTINCT || top * 2 > total) {
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
            if (nkey == NULL || alias_add(al, t->key, i) < 0) {
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
}

/*
 * Both sides' latencies in one sequential scan of the run's rows, bucketed per endpoint and
 * sorted per endpoint afterwards: an ORDER BY route would walk the index and fetch every row
 * at random, which on a million rows costs several times a straight scan.
 */
static int load_latencies(sqlite3 *db, struct sdiff_report *r, const struct alias_tab *al,
                          struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    struct sdiff_buf *vals = sdiff_calloc(r->nendpoints * 2 + 1, sizeof *vals);
    struct sdiff_report_endpoint *cur = NULL;
    char cur_key[512];
    int have_key = 0;
    int rc;
    if (vals == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
    for (size_t i = 0; i < r->nendpoints * 2; i++)
        sdiff_buf_init(&vals[i], SIZE_MAX / 2);
    rc = sqlite3_prepare_v2(db,
                            "SELECT route, primary_ms, candidate_ms FROM results NOT INDEXED"
                            " WHERE run_id = ?1 AND (?2 = 0 OR t_req_start >= ?2)",
                            -1, &q, NULL);
    if (rc != SQLITE_OK) {
        rc = db_err(db, err);
        goto out;
    }
    sqlite3_bind_int64(q, 1, r->run_id);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)r->thresholds.since_us);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(q, 0);
        if (cur == NULL || key == NULL || !have_key || strcmp(key, cur_key) != 0) {
            cur = find_endpoint(r, alias_key(r, al, key), key == NULL);
            /* remember the stored key (the column text is gone at the next step) */
            have_key = cur && key && strlen(key) < sizeof cur_key;
            if (have_key)
                memcpy(cur_key, key, strlen(key) + 1);
        }
        if (cur == NULL)
            continue;
        size_t ei = (size_t)(cur - r->endpoints);
        for (int side = 0; side < 2; side++) {
            if (sqlite3_column_type(q, 1 + side) == SQLITE_NULL)
                continue;
            double v = sqlite3_column_double(q, 1 + side);
            if (sdiff_buf_append(&vals[ei * 2 + (size_t)side], &v, sizeof v) < 0) {
                rc = sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
                goto out;
            }
        }
    }
    if (rc != SQLITE_DONE) {
        rc = db_err(db, err);
        goto out;
    }
    for (size_t i = 0; i < r->nendpoints; i++) {
        set_latency(&r->endpoints[i].primary, &vals[i * 2]);
        set_latency(&r->endpoints[i].candidate, &vals[i * 2 + 1]);
    }
    rc = SDIFF_OK;
out:
    sqlite3_finalize(q);
    for (size_t i = 0; i < r->nendpoints * 2; i++)
        sdiff_buf_dispose(&vals[i]);
    sdiff_free(vals);
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

static int cluster_sample(sqlite3 *db, struct sdiff_report_cluster *c, struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT path, primary_value, candidate_value FROM differences"
                                " WHERE result_id = ? ORDER BY idx LIMIT 1",
                                -1, &q, NULL);
    if (rc != SQLITE_OK)
        return db_err(db, err);
    sqlite3_bind_int64(q, 1, c->examples[0]);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        c->sample_path = col_dup(q, 0);
        c->sample_primary = col_dup(q, 1);
        c->sample_candidate = col_dup(q, 2);
        rc = SDIFF_OK;
    } else {
        rc = rc == SQLITE_DONE ? SDIFF_OK : db_err(db, err);
    }
    sqlite3_finalize(q);
    return rc;
}

static int load_clusters(sqlite3 *db, struct sdiff_report *r, const struct alias_tab *al,
                         struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    struct members m = {0};
    char **items = NULL;
    size_t nitems = 0, capitems = 0;
    char *route = NULL;
    int64_t cur = -1;
    uint64_t cur_t = 0;
    int rc = sqlite3_prepare_v2(
        db,
        "SELECT r.id, r.route, r.t_req_start, d.path, d.kind, d.primary_value, d.candidate_value"
        " FROM results r LEFT JOIN differences d ON d.result_id = r.id"
        " WHERE r.run_id = ?1 AND r.class = 'different' AND (?2 = 0 OR r.t_req_start >= ?2)"
        " ORDER BY r.id, d.idx",
        -1, &q, NULL);
    if (rc != SQLITE_OK) {
        rc = db_err(db, err);
        goto out;
    }
    sqlite3_bind_int64(q, 1, r->run_id);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)r->thresholds.since_us);
    for (;;) {
        rc = sqlite3_step(q);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            rc = db_err(db, err);
            goto out;
        }
        int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
        if (id != cur && cur >= 0) {
            if (add_member(&m, alias_key(r, al, route), items, nitems, cur, cur_t) < 0)
                goto oom;
            for (size_t i = 0; i < nitems; i++)
                sdiff_free(items[i]);
            nitems = 0;
            sdiff_free(route);
            route = NULL;
        }
        if (rc == SQLITE_DONE)
            break;
        if (id != cur) {
            cur = id;
            cur_t = (uint64_t)sqlite3_column_int64(q, 2);
            route = col_dup(q, 1);
            if (route == NULL && sqlite3_column_type(q, 1) != SQLITE_NULL)
                goto oom;
        }
        const char *path = (const char *)sqlite3_column_text(q, 3);
        if (path == NULL)
            continue;
        if (nitems == capitems) {
            size_t ncap = capitems ? capitems * 2 : 16;
            void *p = sdiff_realloc(items, ncap * sizeof *items);
            if (p == NULL)
                goto oom;
            items = p;
            capitems = ncap;
        }
        const char *kind = (const char *)sqlite3_column_text(q, 4);
        items[nitems] = signature_item(path, kind ? kind : "?",
                                       (const char *)sqlite3_column_text(q, 5),
                                       (const char *)sqlite3_column_text(q, 6));
        if (items[nitems] == NULL)
            goto oom;
        nitems++;
    }
    if (m.n)
        qsort(m.v, m.n, sizeof *m.v, cmp_member);
    size_t ncl = 0;
    for (size_t i = 0; i < m.n; i++)
        if (i == 0 || strcmp(m.v[i].key, m.v[i - 1].key) != 0)
            ncl++;
    r->clusters = ncl ? sdiff_calloc(ncl, sizeof *r->clusters) : NULL;
    if (ncl && r->clusters == NULL)
        goto oom;
    for (size_t i = 0; i < m.n; i++) {
        struct sdiff_report_cluster *c;
        if (i == 0 || strcmp(m.v[i].key, m.v[i - 1].key) != 0) {
            c = &r->clusters[r->nclusters++];
            const char *nl = strchr(m.v[i].key, '\n');
            char *rkey = sdiff_strndup(m.v[i].key, (size_t)(nl - m.v[i].key));
            c->signature = sdiff_strdup(nl + 1);
            if (rkey && c->signature)
                sdiff_report_cluster_id(rkey, c->signature, c->id);
            rc = rkey && c->signature
                     ? split_route(nl == m.v[i].key ? NULL : rkey, &c->method, &c->route)
                     : SDIFF_ENOMEM;
            sdiff_free(rkey);
            if (rc < 0)
                goto oom;
        } else {
            c = &r->clusters[r->nclusters - 1];
        }
        c->count++;
        if (c->nexamples < SDIFF_REPORT_MAX_EXAMPLES)
            c->examples[c->nexamples++] = m.v[i].id;
        uint64_t t = m.v[i].t;
        if (t && (c->first_us == 0 || t < c->first_us))
            c->first_us = t;
        if (t > c->last_us)
            c->last_us = t;
    }
    if (r->nclusters)
        qsort(r->clusters, r->nclusters, sizeof *r->clusters, cmp_cluster);
    rc = SDIFF_OK;
    for (size_t i = 0; i < r->nclusters && rc >= 0; i++)
        rc = cluster_sample(db, &r->clusters[i], err);
    goto out;
oom:
    rc = sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
out:
    sqlite3_finalize(q);
    for (size_t i = 0; i < nitems; i++)
        sdiff_free(items[i]);
    sdiff_free(items);
    sdiff_free(route);
    for (size_t i = 0; i < m.n; i++)
        sdiff_free(m.v[i].key);
    sdiff_free(m.v);
    return rc;
}

/* ---- verdicts ---------------------------------------------------------------------------- */

static void add_reason(struct sdiff_report_endpoint *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_reason(struct sdiff_report_endpoint *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (e->nreasons < SDIFF_REPORT_MAX_REASONS)
        vsnprintf(e->reasons[e->nreasons++], sizeof e->reasons[0], fmt, ap);
    va_end(ap);
}

static void judge(struct sdiff_report *r, struct sdiff_report_endpoint *e)
{
    const struct sdiff_report_thresholds *th = &r->thresholds;
    if (e->primary.p99 > 0 && e->candidate.p99 >= 0)
        e->p99_ratio = e->candidate.p99 / e->primary.p99;
    if (e->judged < th->min_samples) {
        e->verdict = SDIFF_REPORT_INSUFFICIENT;
        r->ninsufficient++;
        return;
    }
    /* No difference at all, only too few samples to bound the rate: that is not evidence of
     * a problem, so it is insufficient data (unless something else blocks). */
    int bound_only = e->mismatch_upper > th->max_mismatch && e->different == e->accepted;
    if (e->mismatch_upper > th->max_mismatch && !bound_only)
        add_reason(e, "mismatch upper bound %.2f%% > %.2f%%", 100 * e->mismatch_upper,
                   100 * th->max_mismatch);
    /* A p99 from fewer than 200 samples is one of the two slowest answers: noise, not a
     * regression. Below that the latency is shown but not judged. */
    if (e->p99_ratio >= 0 && e->p99_ratio > th->max_p99_ratio && e->primary.n >= 200 &&
        e->candidate.n >= 200)
        add_reason(e, "p99 latency ratio %.2f > %.2f", e->p99_ratio, th->max_p99_ratio);
    double inc = e->candidate_error_rate - (e->primary_5xx_rate < 0 ? 0 : e->primary_5xx_rate);
    if (e->candidate_error_rate >= 0 && inc > th->max_error_increase)
        add_reason(e, "error rate increase %.2f%% > %.2f%%", 100 * inc,
                   100 * th->max_error_increase);
    if (e->nreasons == 0 && bound_only) {
        /* z^2 (1 - t) / t samples with no difference bound the rate under t (Wilson, 0/n) */
        double t = th->max_mismatch > 0 ? th->max_mismatch : 1e-9;
        double need = 1.96 * 1.96 * (1 - t) / t;
        add_reason(e, "no difference in %llu judged; about %.0f needed to bound it under %.2f%%",
                   (unsigned long long)e->judged, need + 1, 100 * th->max_mismatch);
        e->verdict = SDIFF_REPORT_INSUFFICIENT;
        r->ninsufficient++;
        return;
    }
    e->verdict = e->nreasons ? SDIFF_REPORT_BLOCKED : SDIFF_REPORT_READY;
    if (e->nreasons)
        r->nblocked++;
    else
        r->nready++;
}

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
    t->p99_ratio = -1;
}

int sdiff_report_build(struct sdiff_report **out, const char *db_path, int64_t run_id,
                       const struct sdiff_report_thresholds *th, struct sdiff_err *err)
{
    return sdiff_report_build_config(out, db_path, run_id, th, NULL, err);
}

int sdiff_report_build_config(struct sdiff_report **out, const char *db_path, int64_t run_id,
                              const struct sdiff_report_thresholds *th,
                              const struct sdiff_rules *config, struct sdiff_err *err)
{
    static const struct sdiff_report_thresholds defaults = SDIFF_REPORT_THRESHOLDS_INIT;
    sqlite3 *db = NULL;
    struct sdiff_report *r = NULL;
    int rc;
    if (SDIFF_NEVER(out == NULL || db_path == NULL))
        return SDIFF_EINVAL;
    *out = NULL;
    rc = open_db(db_path, &db, err);
    if (rc < 0)
        goto out;
    r = sdiff_calloc(1, sizeof *r);
    if (r == NULL) {
        rc = sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
        goto out;
    }
    r->thresholds = th ? *th : defaults;
    rc = load_run(db, r, run_id, db_path, err);
    struct alias_tab al = {0};
    rc = rc < 0 ? rc : load_counts(db, r, err);
    if (rc >= 0 && merge_variable_routes(r, &al) < 0)
        rc = sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
    rc = rc < 0 ? rc : load_latencies(db, r, &al, err);
    rc = rc < 0 ? rc : load_clusters(db, r, &al, err);
    alias_free(&al);
    rc = rc < 0 ? rc : sdiff__report_apply_waivers(db, r, config, err);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < r->nendpoints; i++)
        judge(r, &r->endpoints[i]);
    totals(r);
    r->pass = r->nblocked == 0;
    *out = r;
    r = NULL;
out:
    sdiff_report_free(r);
    sqlite3_close(db);
    return rc;
}
