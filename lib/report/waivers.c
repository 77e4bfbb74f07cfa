/*
 * waivers.c - accepted differences: cluster ids, `shadowdiff accept` (a row in the
 * database's waivers table) and applying waivers, from the database and the config file,
 * to a report.
 *
 * A waiver names a cluster by id: the first 12 hex digits of the 64-bit FNV-1a hash of
 * "results.route \x1f signature", stable across runs while the route and the set of
 * differences stay the same. A waiver whose `expires` date (the last day it applies) is
 * before today (UTC) does not apply: its cluster counts as different again and the report
 * says so. Waived results are counted as `accepted` on their endpoint; the mismatch bound
 * is computed over different - accepted.
 */
#include "report/waivers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/report_int.h"
#include "shadowdiff/rules.h"
#include "shadowdiff/store.h"

#define WHERE "report"

void sdiff_report_cluster_id(const char *route, const char *signature, char out[13])
{
    uint64_t h = SDIFF_FNV_INIT;
    const char *parts[3] = {route ? route : "", "\x1f", signature ? signature : ""};
    for (int i = 0; i < 3; i++)
        h = sdiff_fnv1a(h, parts[i], strlen(parts[i]));
    char full[17];
    snprintf(full, sizeof full, "%016llx", (unsigned long long)h);
    memcpy(out, full, 12);
    out[12] = 0;
}

void sdiff__report_today(char out[11])
{
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) == NULL || strftime(out, 11, "%Y-%m-%d", &tm) != 10)
        snprintf(out, 11, "1970-01-01");
}

int sdiff__report_valid_date(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? s[i] != '-' : !(s[i] >= '0' && s[i] <= '9'))
            return 0;
    if (s[10])
        return 0;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m >= 1 && m <= 12 && d >= 1 && d <= mdays[m - 1] && (m != 2 || d <= 28 + leap);
}

void sdiff_report_waiver_dispose(struct sdiff_report_waiver *w)
{
    if (w == NULL)
        return;
    sdiff_free(w->cluster);
    sdiff_free(w->route);
    sdiff_free(w->signature);
    sdiff_free(w->reason);
    sdiff_free(w->expires);
    sdiff_free(w->source);
    memset(w, 0, sizeof *w);
}

/* results.route of a cluster (NULL for results without a route), in buf. */
static const char *cluster_key(const struct sdiff_report_cluster *c, char *buf, size_t cap)
{
    if (c->method[0] == 0 && strcmp(c->route, "(no route)") == 0)
        return NULL;
    snprintf(buf, cap, "%s%s%s", c->method, c->method[0] ? " " : "", c->route);
    return buf;
}

static int dup_opt(char **dst, const char *s)
{
    *dst = s ? sdiff_strdup(s) : NULL;
    return s == NULL || *dst != NULL;
}

static int waiver_set(struct sdiff_report_waiver *w, const char *cluster, const char *route,
                      const char *sig, const char *reason, const char *expires,
                      const char *source)
{
    return dup_opt(&w->cluster, cluster) & dup_opt(&w->route, route) &
                   dup_opt(&w->signature, sig) & dup_opt(&w->reason, reason ? reason : "") &
                   dup_opt(&w->expires, expires) & dup_opt(&w->source, source)
               ? SDIFF_OK
               : SDIFF_ENOMEM;
}

struct wlist {
    struct sdiff_report_waiver *v;
    size_t n, cap;
};

static struct sdiff_report_waiver *wlist_add(struct wlist *l)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 8;
        void *p = sdiff_realloc(l->v, ncap * sizeof *l->v);
        if (p == NULL)
            return NULL;
        l->v = p;
        l->cap = ncap;
    }
    struct sdiff_report_waiver *w = &l->v[l->n++];
    memset(w, 0, sizeof *w);
    return w;
}

static void wlist_dispose(struct wlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        sdiff_report_waiver_dispose(&l->v[i]);
    sdiff_free(l->v);
}

/* The database's waivers, newest first. */
static int on_db_waiver(const struct sdiff_store_waiver *sw, void *ud, struct sdiff_err *err)
{
    struct sdiff_report_waiver *w = wlist_add(ud);
    if (w == NULL || waiver_set(w, sw->cluster, sw->route, sw->signature, sw->reason,
                                sw->expires, "database") < 0)
        return sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
    return SDIFF_OK;
}

static int load_config_waivers(const struct sdiff_rules *config, struct wlist *l,
                               struct sdiff_err *err)
{
    size_t n = 0;
    const struct sdiff_rules_waiver *cw = config ? sdiff_rules_waivers(config, &n) : NULL;
    for (size_t i = 0; i < n; i++) {
        char id[13];
        if (cw[i].cluster == NULL)
            sdiff_report_cluster_id(cw[i].route, cw[i].signature, id);
        struct sdiff_report_waiver *w = wlist_add(l);
        if (w == NULL || waiver_set(w, cw[i].cluster ? cw[i].cluster : id, cw[i].route,
                                    cw[i].signature, cw[i].reason, cw[i].expires,
                                    "config") < 0)
            return sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
    }
    return SDIFF_OK;
}

int sdiff__report_apply_waivers(const struct sdiff__report_source *src, struct sdiff_report *r,
                                const struct sdiff_rules *config, struct sdiff_err *err)
{
    struct wlist all = {0}, used = {0};
    char today[11];
    int rc = src->each_waiver(src->src, on_db_waiver, &all, err);
    rc = rc < 0 ? rc : load_config_waivers(config, &all, err);
    if (rc < 0 || all.n == 0)
        goto out;
    sdiff__report_today(today);
    for (size_t i = 0; i < all.n; i++)
        all.v[i].expired = all.v[i].expires && strcmp(all.v[i].expires, today) < 0;
    for (size_t i = 0; i < r->nclusters; i++) {
        struct sdiff_report_cluster *c = &r->clusters[i];
        const struct sdiff_report_waiver *best = NULL;
        for (size_t k = 0; k < all.n; k++) {
            if (strcmp(all.v[k].cluster, c->id) != 0)
                continue;
            if (best == NULL || (best->expired && !all.v[k].expired))
                best = &all.v[k];
        }
        if (best == NULL)
            continue;
        c->waived = !best->expired;
        c->expired = best->expired;
        if (!dup_opt(&c->waiver_reason, best->reason) ||
            !dup_opt(&c->waiver_expires, best->expires))
            goto oom;
        char key[300];
        struct sdiff_report_waiver *u = wlist_add(&used);
        if (u == NULL ||
            waiver_set(u, c->id, cluster_key(c, key, sizeof key), c->signature, best->reason,
                       best->expires, best->source) < 0)
            goto oom;
        u->expired = best->expired;
        if (!c->waived)
            continue;
        for (size_t e = 0; e < r->nendpoints; e++) {
            struct sdiff_report_endpoint *ep = &r->endpoints[e];
            if (strcmp(ep->method, c->method) == 0 && strcmp(ep->route, c->route) == 0) {
                ep->accepted += c->count;
                if (ep->accepted > ep->different)
                    ep->accepted = ep->different;
                ep->mismatch_upper =
                    ep->judged ? sdiff_report_wilson_upper(ep->different - ep->accepted,
                                                           ep->judged, 1.96)
                               : -1;
                break;
            }
        }
    }
    r->waivers = used.v;
    r->nwaivers = used.n;
    used = (struct wlist){0};
    goto out;
oom:
    rc = sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
out:
    wlist_dispose(&all);
    wlist_dispose(&used);
    return rc;
}

int sdiff_report_accept(const char *db_path, const char *cluster_id, const char *reason,
                        const char *expires, struct sdiff_report_waiver *out,
                        struct sdiff_err *err)
{
    return sdiff_report_accept_run(db_path, 0, cluster_id, reason, expires, out, err);
}

int sdiff_report_accept_run(const char *db_path, int64_t run_id, const char *cluster_id,
                            const char *reason, const char *expires,
                            struct sdiff_report_waiver *out, struct sdiff_err *err)
{
    struct sdiff_report *rep = NULL;
    struct sdiff_store *st = NULL;
    struct sdiff_store_opts so = {0};
    char id[13], today[11], key[300];
    int rc;
    if (SDIFF_NEVER(db_path == NULL || cluster_id == NULL || out == NULL))
        return SDIFF_EINVAL;
    memset(out, 0, sizeof *out);
    if (reason == NULL || reason[0] == 0)
        return sdiff_err_set(err, SDIFF_EINVAL, WHERE, "a waiver needs a reason");
    if (expires && !sdiff__report_valid_date(expires))
        return sdiff_err_set(err, SDIFF_EINVAL, WHERE, "expiry '%.40s' is not a date YYYY-MM-DD",
                             expires);
    snprintf(id, sizeof id, "%.12s", cluster_id);
    for (char *p = id; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p - 'A' + 'a');
    rc = sdiff_report_build(&rep, db_path, run_id, NULL, err);
    if (rc < 0)
        return rc;
    const struct sdiff_report_cluster *c = NULL;
    for (size_t i = 0; strlen(cluster_id) == 12 && i < rep->nclusters && c == NULL; i++)
        if (strcmp(rep->clusters[i].id, id) == 0)
            c = &rep->clusters[i];
    char shown[200];
    sdiff_store_shown(db_path, shown, sizeof shown);
    if (c == NULL && run_id) {
        rc = sdiff_err_set(err, SDIFF_EINVAL, WHERE, "no cluster %.40s in run %lld of %.150s",
                           cluster_id, (long long)run_id, shown);
        goto out;
    }
    if (c == NULL) {
        rc = sdiff_err_set(err, SDIFF_EINVAL, WHERE, "no cluster %.40s in the latest run of %.150s",
                           cluster_id, shown);
        goto out;
    }
    const char *route = cluster_key(c, key, sizeof key);
    sdiff__report_today(today);
    if (expires && strcmp(expires, today) < 0) {
        rc = sdiff_err_set(err, SDIFF_EINVAL, WHERE,
                           "--expires %s is in the past (today is %s, UTC): a waiver that"
                           " never applies would only hide that nothing was accepted",
                           expires, today);
        goto out;
    }
    if (waiver_set(out, id, route, c->signature, reason, expires, "database") < 0) {
        rc = sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
        goto out;
    }
    out->expired = expires && strcmp(expires, today) < 0;
    /* A writer: opening it migrates older files (which may lack the waivers table). */
    so.must_exist = 1;
    rc = sdiff_store_open(&st, db_path, &so, err);
    struct sdiff_store_waiver sw = {.cluster = out->cluster, .route = out->route,
                                    .signature = out->signature, .reason = out->reason,
                                    .expires = out->expires, .run_id = rep->run_id};
    rc = rc < 0 ? rc : sdiff_store_put_waiver(st, &sw, NULL, err);
out:
    if (rc < 0)
        sdiff_report_waiver_dispose(out);
    sdiff_store_close(st);
    sdiff_report_free(rep);
    return rc;
}

/* ---- listing and revoking -------------------------------------------------------------- */

struct list_ctx {
    FILE *f;
    json_t *arr;                   /* NULL: text */
    char today[11];
    size_t n;
};

static int list_one(const struct sdiff_store_waiver *w, void *ud, struct sdiff_err *err)
{
    struct list_ctx *c = ud;
    int expired = w->expires && strcmp(w->expires, c->today) < 0;
    c->n++;
    if (c->arr) {
        json_t *o = json_object();
#define STR(s) ((s) ? sdiff__report_json_text(s) : json_null())
        int bad = o == NULL || json_object_set_new(o, "id", json_integer(w->id)) < 0 ||
                  json_object_set_new(o, "cluster", STR(w->cluster)) < 0 ||
                  json_object_set_new(o, "route", STR(w->route)) < 0 ||
                  json_object_set_new(o, "signature", STR(w->signature)) < 0 ||
                  json_object_set_new(o, "reason", STR(w->reason)) < 0 ||
                  json_object_set_new(o, "expires", STR(w->expires)) < 0 ||
                  json_object_set_new(o, "expired", json_boolean(expired)) < 0 ||
                  json_object_set_new(o, "run", w->run_id ? json_integer(w->run_id)
                                                          : json_null()) < 0 ||
                  json_object_set_new(o, "accepted_at", STR(w->created_at)) < 0;
#undef STR
        if (bad || json_array_append_new(c->arr, o) < 0) {
            if (bad)
                json_decref(o);
            return sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
        }
        return SDIFF_OK;
    }
    struct sdiff_text_ring t;
    sdiff_text_ring_init(&t);
    fprintf(c->f, "%-6lld %-12s %-32s %-12s %s\n", (long long)w->id,
            sdiff_text(&t, w->cluster), w->route ? sdiff_text(&t, w->route) : "-",
            w->expires ? (expired ? "expired" : sdiff_text(&t, w->expires)) : "never",
            sdiff_text(&t, w->reason));
    sdiff_text_ring_dispose(&t);
    return SDIFF_OK;
}

int sdiff_report_waivers_list(const char *db_path, int json, FILE *out, struct sdiff_err *err)
{
    struct sdiff_store *st = NULL;
    struct list_ctx c = {.f = out, .arr = json ? json_array() : NULL};
    if (json && c.arr == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
    sdiff__report_today(c.today);
    int rc = sdiff__report_open_store(db_path, &st, err);
    if (rc >= 0 && !json)
        fprintf(out, "%-6s %-12s %-32s %-12s %s\n", "ID", "CLUSTER", "ROUTE", "EXPIRES",
                "REASON");
    rc = rc < 0 ? rc : sdiff_store_each_waiver(st, list_one, &c, err);
    if (rc >= 0 && json) {
        char *text = json_dumps(c.arr, JSON_INDENT(2));
        if (text == NULL)
            rc = sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
        else if (sdiff_write_json_text(out, text) < 0)
            rc = sdiff_err_set(err, SDIFF_EIO, WHERE, "cannot write");
        free(text);
    }
    if (rc >= 0 && !json && c.n == 0)
        fputs("(no waivers)\n", out);
    if (rc >= 0 && (fflush(out) != 0 || ferror(out)))
        rc = sdiff_err_set(err, SDIFF_EIO, WHERE, "cannot write");
    json_decref(c.arr);
    sdiff_store_close(st);
    return rc;
}

int sdiff_report_revoke(const char *db_path, int64_t id, struct sdiff_err *err)
{
    struct sdiff_store *st = NULL;
    struct sdiff_store_opts so = {.must_exist = 1};
    int rc = sdiff_store_open(&st, db_path, &so, err);
    rc = rc < 0 ? rc : sdiff_store_revoke_waiver(st, id, err);
    sdiff_store_close(st);
    return rc;
}
