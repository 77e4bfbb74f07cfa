/*
 * rules.c - loads the JSON config (jansson) and builds one differ per route on demand.
 */
#include "shadowdiff/rules.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct strv {
    char **v;
    size_t n;
};

struct rule_set {
    struct strv ignore_headers, compare_headers, ignore_paths, unordered_paths;
    struct sdiff_text_mask *masks;
    size_t nmasks;
    int allow;
};

struct route_rule {
    char *route;
    struct rule_set set;
    struct sdiff_differ *differ;
    uint64_t seen;
};

struct sdiff_rules {
    struct rule_set global;
    double thresholds[4];
    char threshold_text[4][64];    /* as written: a number, or a string such as "5%" */
    unsigned thresholds_set;       /* bit i: thresholds[i] given */
    double abs_tol, rel_tol;
    enum sdiff_preset preset;
    struct sdiff_noise_rule noise_rule; /* "learned_noise": fields left 0 take the defaults */
    struct strv allow_methods, secret_headers, redact_paths, redact_query;
    struct route_rule *routes;
    size_t nroutes;
    struct sdiff_differ *differ;   /* for routes without a rule */
    struct sdiff_rules_waiver *waivers; /* strings owned */
    size_t nwaivers;
};

/* ---- helpers --------------------------------------------------------------------------- */

static int bad(struct sdiff_err *err, const char *file, const char *key, const char *what);

/*
 * "learned_noise": {"pairs": 5, "pairs_volatile": 3, "clients": 3, "span_s": 1}, each
 * optional (the rule of shadowdiff/diff.h); counts are whole numbers of at least 1.
 */
static int read_noise_rule(json_t *v, struct sdiff_noise_rule *out, const char *name,
                           struct sdiff_err *err)
{
    if (!json_is_object(v))
        return bad(err, name, "learned_noise", "must be an object");
    const char *key;
    json_t *x;
    json_object_foreach(v, key, x) {
        char where[80];
        snprintf(where, sizeof where, "learned_noise.%.60s", key);
        double d = json_is_number(x) ? json_number_value(x) : -1;
        if (strcmp(key, "span_s") == 0) {
            if (d <= 0)
                return bad(err, name, where, "must be a positive number of seconds");
            out->span_s = d;
            continue;
        }
        unsigned *slot = strcmp(key, "pairs") == 0            ? &out->pairs
                         : strcmp(key, "pairs_volatile") == 0 ? &out->pairs_shaped
                         : strcmp(key, "clients") == 0        ? &out->clients
                                                              : NULL;
        if (slot == NULL)
            return bad(err, name, where, "unknown key");
        if (!json_is_integer(x) || d < 1 || d > 1000000)
            return bad(err, name, where, "must be a whole number of at least 1");
        *slot = (unsigned)d;
    }
    return SDIFF_OK;
}

static void strv_free(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        sdiff_free(s->v[i]);
    sdiff_free(s->v);
    s->v = NULL;
    s->n = 0;
}

static void set_free(struct rule_set *s)
{
    strv_free(&s->ignore_headers);
    strv_free(&s->compare_headers);
    strv_free(&s->ignore_paths);
    strv_free(&s->unordered_paths);
    for (size_t i = 0; i < s->nmasks; i++) {
        sdiff_free((char *)s->masks[i].pattern);
        sdiff_free((char *)s->masks[i].replace);
    }
    sdiff_free(s->masks);
}

void sdiff_rules_free(struct sdiff_rules *r)
{
    if (r == NULL)
        return;
    set_free(&r->global);
    strv_free(&r->allow_methods);
    strv_free(&r->secret_headers);
    strv_free(&r->redact_paths);
    strv_free(&r->redact_query);
    for (size_t i = 0; i < r->nroutes; i++) {
        sdiff_free(r->routes[i].route);
        set_free(&r->routes[i].set);
        sdiff_differ_free(r->routes[i].differ);
    }
    sdiff_free(r->routes);
    sdiff_differ_free(r->differ);
    for (size_t i = 0; i < r->nwaivers; i++) {
        sdiff_free((char *)r->waivers[i].cluster);
        sdiff_free((char *)r->waivers[i].route);
        sdiff_free((char *)r->waivers[i].signature);
        sdiff_free((char *)r->waivers[i].reason);
        sdiff_free((char *)r->waivers[i].expires);
    }
    sdiff_free(r->waivers);
    sdiff_free(r);
}

static int bad(struct sdiff_err *err, const char *name, const char *where, const char *what)
{
    return sdiff_err_set(err, SDIFF_EINVAL, "rules", "%s: %s: %s", name, where, what);
}

/* "YYYY-MM-DD", a real calendar day. */
static int valid_date(const char *s)
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

static char *dup_lower(const char *s)
{
    char *d = sdiff_strdup(s);
    for (char *p = d; p && *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p - 'A' + 'a');
    return d;
}

/* "waivers": [{"cluster": ID | {"route", "signature"}, "reason", "expires"?}] */
static int read_waivers(json_t *v, struct sdiff_rules *r, const char *name, struct sdiff_err *err)
{
    static const char usage[] = "must be {\"cluster\": ID or {\"route\": ..., \"signature\":"
                                " ...}, \"reason\": TEXT, \"expires\": \"YYYY-MM-DD\"}";
    if (!json_is_array(v))
        return bad(err, name, "waivers", "must be an array of {\"cluster\", \"reason\"}");
    r->waivers = sdiff_calloc(json_array_size(v) + 1, sizeof *r->waivers);
    if (r->waivers == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "rules", "out of memory");
    for (size_t i = 0; i < json_array_size(v); i++) {
        char where[32];
        snprintf(where, sizeof where, "waivers[%zu]", i);
        json_t *w = json_array_get(v, i), *cl = json_object_get(w, "cluster"),
               *reason = json_object_get(w, "reason"), *exp = json_object_get(w, "expires");
        json_t *route = json_object_get(cl, "route"), *sig = json_object_get(cl, "signature");
        if (!json_is_object(w) || json_object_size(w) != 2u + !!exp ||
            !json_is_string(reason) || json_string_length(reason) == 0 ||
            (exp && !json_is_string(exp)))
            return bad(err, name, where, usage);
        if (exp && !valid_date(json_string_value(exp)))
            return bad(err, name, where, "\"expires\" must be a date YYYY-MM-DD");
        struct sdiff_rules_waiver *rw = &r->waivers[r->nwaivers++];
        if (json_is_string(cl)) {
            const char *id = json_string_value(cl);
            if (strlen(id) != 12 || strspn(id, "0123456789abcdefABCDEF") != 12)
                return bad(err, name, where, "\"cluster\" must be a 12-digit hex cluster id");
            rw->cluster = dup_lower(id);
        } else if (json_is_object(cl) && json_object_size(cl) == 2 && json_is_string(route) &&
                   json_is_string(sig)) {
            rw->route = sdiff_strdup(json_string_value(route));
            rw->signature = sdiff_strdup(json_string_value(sig));
        } else {
            return bad(err, name, where, usage);
        }
        rw->reason = sdiff_strdup(json_string_value(reason));
        rw->expires = exp ? sdiff_strdup(json_string_value(exp)) : NULL;
        if ((rw->cluster == NULL && (rw->route == NULL || rw->signature == NULL)) ||
            rw->reason == NULL || (exp && rw->expires == NULL))
            return sdiff_err_set(err, SDIFF_ENOMEM, "rules", "out of memory");
    }
    return SDIFF_OK;
}

static int read_strv(json_t *v, struct strv *out, const char *name, const char *key,
                     struct sdiff_err *err)
{
    if (!json_is_array(v))
        return bad(err, name, key, "must be an array of strings");
    size_t n = json_array_size(v);
    out->v = sdiff_calloc(n ? n : 1, sizeof *out->v);
    if (out->v == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "rules", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s) || json_string_length(s) == 0)
            return bad(err, name, key, "must be an array of non-empty strings");
        out->v[i] = sdiff_strdup(json_string_value(s));
        if (out->v[i] == NULL)
            return sdiff_err_set(err, SDIFF_ENOMEM, "rules", "out of memory");
        out->n = i + 1;
    }
    return SDIFF_OK;
}

static int read_set(json_t *obj, struct rule_set *set, int is_route, const char *name,
                    const char *where, struct sdiff_err *err)
{
    const char *key;
    json_t *v;
    char ctx[300];
    json_object_foreach(obj, key, v) {
        int rc = SDIFF_OK;
        snprintf(ctx, sizeof ctx, "%s%s%s", where, *where ? "." : "", key);
        if (strcmp(key, "ignore_headers") == 0)
            rc = read_strv(v, &set->ignore_headers, name, ctx, err);
        else if (strcmp(key, "compare_headers") == 0)
            rc = read_strv(v, &set->compare_headers, name, ctx, err);
        else if (strcmp(key, "ignore_paths") == 0)
            rc = read_strv(v, &set->ignore_paths, name, ctx, err);
        else if (strcmp(key, "unordered_paths") == 0)
            rc = read_strv(v, &set->unordered_paths, name, ctx, err);
        else if (strcmp(key, "text_masks") == 0) {
            if (!json_is_array(v))
                return bad(err, name, ctx, "must be an array of {\"pattern\", \"replace\"}");
            size_t n = json_array_size(v);
            set->masks = sdiff_calloc(n ? n : 1, sizeof *set->masks);
            if (set->masks == NULL)
                return sdiff_err_set(err, SDIFF_ENOMEM, "rules", "out of memory");
            for (size_t i = 0; i < n; i++) {
                json_t *m = json_array_get(v, i);
                json_t *pat = json_object_get(m, "pattern"), *rep = json_object_get(m, "replace");
                if (!json_is_object(m) || !json_is_string(pat) ||
                    (rep && !json_is_string(rep)) || json_object_size(m) > 2u)
                    return bad(err, name, ctx,
                               "each mask is {\"pattern\": REGEX, \"replace\": TEXT}");
                set->masks[i].pattern = sdiff_strdup(json_string_value(pat));
                set->masks[i].replace = sdiff_strdup(rep ? json_string_value(rep) : "");
                set->nmasks = i + 1;
                if (!set->masks[i].pattern || !set->masks[i].replace)
                    return sdiff_err_set(err, SDIFF_ENOMEM, "rules", "out of memory");
            }
        } else if (is_route && strcmp(key, "allow") == 0) {
            if (!json_is_boolean(v))
                return bad(err, name, ctx, "must be true or false");
            set->allow = json_is_true(v);
        } else {
            return bad(err, name, ctx, "unknown key");
        }
        if (rc < 0)
            return rc;
    }
    return SDIFF_OK;
}

/* Build a differ for global + route rules; checks patterns and regexes. */
static int build_differ(const struct sdiff_rules *r, const struct rule_set *route,
                        struct sdiff_differ **out, struct sdiff_err *err)
{
    const struct rule_set *g = &r->global;
    const char *ih[256], *ch[256], *ip[256], *up[256];
    struct sdiff_text_mask masks[64];
    size_t nih = 0, nch = 0, nip = 0, nup = 0, nm = 0;
#define ADD(dst, cnt, src)                                                                     \
    for (size_t i = 0; i < (src).n && cnt < sizeof dst / sizeof dst[0]; i++)                   \
        dst[cnt++] = (src).v[i];
    ADD(ih, nih, g->ignore_headers);
    ADD(ch, nch, g->compare_headers);
    ADD(ip, nip, g->ignore_paths);
    ADD(up, nup, g->unordered_paths);
    if (route) {
        ADD(ih, nih, route->ignore_headers);
        ADD(ch, nch, route->compare_headers);
        ADD(ip, nip, route->ignore_paths);
        ADD(up, nup, route->unordered_paths);
    }
#undef ADD
    for (size_t i = 0; i < g->nmasks && nm < 64; i++)
        masks[nm++] = g->masks[i];
    for (size_t i = 0; route && i < route->nmasks && nm < 64; i++)
        masks[nm++] = route->masks[i];
    struct sdiff_jdiff_opts jo = SDIFF_JDIFF_OPTS_INIT;
    jo.ignore = ip;
    jo.nignore = nip > 64 ? 64 : nip;
    jo.unordered = up;
    jo.nunordered = nup > 64 ? 64 : nup;
    jo.abs_tol = r->abs_tol;
    jo.rel_tol = r->rel_tol;
    struct sdiff_diff_opts o = {
        .ignore_headers = ih, .nignore_headers = nih, .compare_headers = ch,
        .ncompare_headers = nch, .json = &jo, .masks = masks, .nmasks = nm,
        .preset = r->preset,
    };
    return sdiff_differ_new(out, &o, err);
}

int sdiff_rules_parse(struct sdiff_rules **out, const char *text, size_t len, const char *name,
                      struct sdiff_err *err)
{
    struct sdiff_rules *r = sdiff_calloc(1, sizeof *r);
    json_t *root = NULL;
    int rc = SDIFF_OK;
    *out = NULL;
    if (r == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "rules", "out of memory");
    if (text != NULL) {
        json_error_t je;
        root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (root == NULL) {
            rc = sdiff_err_set(err, SDIFF_EPARSE, "rules", "%s:%d:%d: %s", name, je.line,
                               je.column, je.text);
            goto fail;
        }
        if (!json_is_object(root)) {
            rc = bad(err, name, "top level", "must be a JSON object");
            goto fail;
        }
        json_t *g = json_deep_copy(root);
        if (g == NULL) {
            rc = sdiff_err_set(err, SDIFF_ENOMEM, "rules", "out of memory");
            goto fail;
        }
        const char *key;
        json_t *v;
        /* take out the keys that are not rule lists, then read the rest as the global set */
        json_t *tol = json_object_get(root, "float_tolerance");
        if (tol) {
            json_t *a = json_object_get(tol, "absolute"), *rl = json_object_get(tol, "relative");
            if (!json_is_object(tol) || (a && !json_is_number(a)) || (rl && !json_is_number(rl)) ||
                json_object_size(tol) > (size_t)(!!a + !!rl)) {
                json_decref(g);
                rc = bad(err, name, "float_tolerance",
                         "must be {\"absolute\": NUMBER, \"relative\": NUMBER}");
                goto fail;
            }
            r->abs_tol = a ? json_number_value(a) : 0;
            r->rel_tol = rl ? json_number_value(rl) : 0;
            if (r->abs_tol < 0 || r->rel_tol < 0) {
                json_decref(g);
                rc = bad(err, name, "float_tolerance", "must not be negative");
                goto fail;
            }
            json_object_del(g, "float_tolerance");
        }
        if ((v = json_object_get(root, "preset")) != NULL) {
            if (!json_is_string(v) || sdiff_preset_parse(json_string_value(v), &r->preset) < 0) {
                json_decref(g);
                rc = bad(err, name, "preset", "must be \"python-go\"");
                goto fail;
            }
            json_object_del(g, "preset");
        }
        if ((v = json_object_get(root, "allow_methods")) != NULL) {
            rc = read_strv(v, &r->allow_methods, name, "allow_methods", err);
            json_object_del(g, "allow_methods");
        }
        if (rc >= 0 && (v = json_object_get(root, "learned_noise")) != NULL) {
            rc = read_noise_rule(v, &r->noise_rule, name, err);
            json_object_del(g, "learned_noise");
        }
        if (rc >= 0 && (v = json_object_get(root, "secret_headers")) != NULL) {
            rc = read_strv(v, &r->secret_headers, name, "secret_headers", err);
            json_object_del(g, "secret_headers");
        }
        if (rc >= 0 && (v = json_object_get(root, "redact_paths")) != NULL) {
            rc = read_strv(v, &r->redact_paths, name, "redact_paths", err);
            for (size_t i = 0; rc >= 0 && i < r->redact_paths.n; i++)
                if (r->redact_paths.v[i][0] != '$')
                    rc = bad(err, name, "redact_paths", "each path starts with '$'");
            json_object_del(g, "redact_paths");
        }
        if (rc >= 0 && (v = json_object_get(root, "redact_query")) != NULL) {
            rc = read_strv(v, &r->redact_query, name, "redact_query", err);
            json_object_del(g, "redact_query");
        }
        if (rc >= 0 && (v = json_object_get(root, "waivers")) != NULL) {
            rc = read_waivers(v, r, name, err);
            json_object_del(g, "waivers");
        }
        static const char *const tnames[4] = {"min_samples", "max_mismatch", "max_p99_ratio",
                                              "max_error_increase"};
        json_t *ths = json_object_get(root, "thresholds");
        if (rc >= 0 && ths) {
            if (!json_is_object(ths)) {
                rc = bad(err, name, "thresholds", "must be an object of numbers");
                json_decref(g);
                goto fail;
            }
            json_object_foreach(ths, key, v) {
                size_t t = 0;
                while (t < 4 && strcmp(tnames[t], key) != 0)
                    t++;
                char where[80];
                snprintf(where, sizeof where, "thresholds.%.60s", key);
                /* a string ("5%", "+50%") is checked where it is read, by the report's
                 * threshold parsers; a number must at least be non-negative here */
                int is_str = json_is_string(v) && json_string_length(v) > 0 &&
                             json_string_length(v) < sizeof r->threshold_text[0];
                if (t == 4 || (!is_str && (!json_is_number(v) || json_number_value(v) < 0))) {
                    rc = bad(err, name, where,
                             t == 4 ? "unknown key" : "must be a non-negative number or a"
                                                      " string such as \"5%\"");
                    json_decref(g);
                    goto fail;
                }
                if (is_str) {
                    snprintf(r->threshold_text[t], sizeof r->threshold_text[t], "%s",
                             json_string_value(v));
                    r->thresholds[t] = -1;
                } else {
                    r->thresholds[t] = json_number_value(v);
                    snprintf(r->threshold_text[t], sizeof r->threshold_text[t], "%.17g",
                             r->thresholds[t]);
                }
                r->thresholds_set |= 1u << t;
            }
            json_object_del(g, "thresholds");
        }
        json_t *routes = json_object_get(root, "routes");
        json_object_del(g, "routes");
        if (rc >= 0)
            rc = read_set(g, &r->global, 0, name, "", err);
        json_decref(g);
        if (rc < 0)
            goto fail;
        if (routes) {
            if (!json_is_object(routes)) {
                rc = bad(err, name, "routes", "must be an object of \"METHOD /route\": {rules}");
                goto fail;
            }
            r->routes = sdiff_calloc(json_object_size(routes) + 1, sizeof *r->routes);
            if (r->routes == NULL) {
                rc = sdiff_err_set(err, SDIFF_ENOMEM, "rules", "out of memory");
                goto fail;
            }
            json_object_foreach(routes, key, v) {
                char where[300];
                snprintf(where, sizeof where, "routes[\"%s\"]", key);
                if (!json_is_object(v) || strchr(key, ' ') == NULL || strchr(key, '/') == NULL) {
                    rc = bad(err, name, where,
                             "must be \"METHOD /route\": {rules}, e.g. \"GET /api/users/{id}\"");
                    goto fail;
                }
                struct route_rule *rr = &r->routes[r->nroutes++];
                rr->route = sdiff_strdup(key);
                if (rr->route == NULL) {
                    rc = sdiff_err_set(err, SDIFF_ENOMEM, "rules", "out of memory");
                    goto fail;
                }
                rc = read_set(v, &rr->set, 1, name, where, err);
                if (rc < 0)
                    goto fail;
            }
        }
    }
    /* Build every differ now so bad patterns and regexes are reported at load time. */
    rc = build_differ(r, NULL, &r->differ, err);
    for (size_t i = 0; rc >= 0 && i < r->nroutes; i++)
        rc = build_differ(r, &r->routes[i].set, &r->routes[i].differ, err);
    if (rc < 0) {
        if (err && err->code == SDIFF_EINVAL) {
            char msg[sizeof err->msg];
            memcpy(msg, err->msg, sizeof msg);
            snprintf(err->msg, sizeof err->msg, "%.60s: %.130s", name, msg);
        }
        goto fail;
    }
    json_decref(root);
    *out = r;
    return SDIFF_OK;
fail:
    json_decref(root);
    sdiff_rules_free(r);
    return rc;
}

int sdiff_rules_load(struct sdiff_rules **out, const char *path, struct sdiff_err *err)
{
    if (path == NULL)
        return sdiff_rules_parse(out, NULL, 0, "defaults", err);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return sdiff_err_set(err, SDIFF_EIO, "rules", "cannot open config %s", path);
    struct sdiff_buf b;
    sdiff_buf_init(&b, 16u << 20);
    char chunk[8192];
    size_t n;
    int rc = SDIFF_OK;
    while (rc >= 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = sdiff_buf_append(&b, chunk, n);
    fclose(f);
    if (rc < 0) {
        sdiff_buf_dispose(&b);
        return sdiff_err_set(err, rc, "rules", "config %s is too large", path);
    }
    rc = sdiff_rules_parse(out, b.data ? (const char *)b.data : "", b.len, path, err);
    sdiff_buf_dispose(&b);
    return rc;
}

static struct route_rule *find_route(const struct sdiff_rules *r, const char *route)
{
    for (size_t i = 0; route && i < r->nroutes; i++)
        if (strcmp(r->routes[i].route, route) == 0)
            return &r->routes[i];
    return NULL;
}

int sdiff_rules_set_preset(struct sdiff_rules *r, enum sdiff_preset p, struct sdiff_err *err)
{
    if (r->preset == p)
        return SDIFF_OK;
    /* build every differ anew before replacing any, so a failure leaves r as it was */
    struct sdiff_differ *g = NULL, **per = sdiff_calloc(r->nroutes + 1, sizeof *per);
    enum sdiff_preset was = r->preset;
    int rc = per ? SDIFF_OK : sdiff_err_set(err, SDIFF_ENOMEM, "rules", "out of memory");
    r->preset = p;
    if (rc >= 0)
        rc = build_differ(r, NULL, &g, err);
    for (size_t i = 0; rc >= 0 && i < r->nroutes; i++)
        rc = build_differ(r, &r->routes[i].set, &per[i], err);
    if (rc < 0) {
        r->preset = was;
        sdiff_differ_free(g);
        for (size_t i = 0; per && i < r->nroutes; i++)
            sdiff_differ_free(per[i]);
        sdiff_free(per);
        return rc;
    }
    sdiff_differ_free(r->differ);
    r->differ = g;
    for (size_t i = 0; i < r->nroutes; i++) {
        sdiff_differ_free(r->routes[i].differ);
        r->routes[i].differ = per[i];
    }
    sdiff_free(per);
    return SDIFF_OK;
}

enum sdiff_preset sdiff_rules_preset(const struct sdiff_rules *r)
{
    return r ? r->preset : SDIFF_PRESET_NONE;
}

int sdiff_rules_differ(struct sdiff_rules *r, const char *route, struct sdiff_differ **out,
                       struct sdiff_err *err)
{
    (void)err;
    struct route_rule *rr = find_route(r, route);
    *out = rr ? rr->differ : r->differ;
    return SDIFF_OK;
}

struct sdiff_rules_differs {
    const struct sdiff_rules *r;
    struct sdiff_differ *global;
    struct sdiff_differ **per;     /* by index of r->routes */
    size_t n;
};

int sdiff_rules_differs_new(struct sdiff_rules_differs **out, const struct sdiff_rules *r,
                            struct sdiff_err *err)
{
    struct sdiff_rules_differs *ds = sdiff_calloc(1, sizeof *ds);
    int rc = SDIFF_OK;
    *out = NULL;
    if (ds == NULL || (ds->per = sdiff_calloc(r->nroutes + 1, sizeof *ds->per)) == NULL) {
        sdiff_free(ds);
        return sdiff_err_set(err, SDIFF_ENOMEM, "rules", "out of memory");
    }
    ds->r = r;
    ds->n = r->nroutes;
    /* r's own differs were built from the same sets, so only memory can fail here */
    rc = build_differ(r, NULL, &ds->global, err);
    for (size_t i = 0; rc >= 0 && i < r->nroutes; i++)
        rc = build_differ(r, &r->routes[i].set, &ds->per[i], err);
    if (rc < 0) {
        sdiff_rules_differs_free(ds);
        return rc;
    }
    *out = ds;
    return SDIFF_OK;
}

void sdiff_rules_differs_free(struct sdiff_rules_differs *ds)
{
    if (ds == NULL)
        return;
    sdiff_differ_free(ds->global);
    for (size_t i = 0; i < ds->n; i++)
        sdiff_differ_free(ds->per[i]);
    sdiff_free(ds->per);
    sdiff_free(ds);
}

struct sdiff_differ *sdiff_rules_differs_get(const struct sdiff_rules_differs *ds,
                                             const char *route)
{
    const struct route_rule *rr = find_route(ds->r, route);
    return rr ? ds->per[rr - ds->r->routes] : ds->global;
}

int sdiff_rules_method_allowed(const struct sdiff_rules *r, const char *route,
                               const char *method, const char *const *extra, size_t nextra)
{
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
        strcmp(method, "OPTIONS") == 0)
        return 1;
    for (size_t i = 0; i < nextra; i++)
        if (strcasecmp(extra[i], method) == 0)
            return 1;
    for (size_t i = 0; r && i < r->allow_methods.n; i++)
        if (strcasecmp(r->allow_methods.v[i], method) == 0)
            return 1;
    const struct route_rule *rr = r ? find_route(r, route) : NULL;
    return rr && rr->set.allow;
}

const char *const *sdiff_rules_secret_headers(const struct sdiff_rules *r, size_t *n)
{
    *n = r->secret_headers.n;
    return (const char *const *)r->secret_headers.v;
}

const char *const *sdiff_rules_redact_paths(const struct sdiff_rules *r, size_t *n)
{
    *n = r->redact_paths.n;
    return (const char *const *)r->redact_paths.v;
}

const char *const *sdiff_rules_redact_query(const struct sdiff_rules *r, size_t *n)
{
    *n = r->redact_query.n;
    return (const char *const *)r->redact_query.v;
}

int sdiff_rules_threshold(const struct sdiff_rules *r, const char *name, double *out)
{
    static const char *const tnames[4] = {"min_samples", "max_mismatch", "max_p99_ratio",
                                          "max_error_increase"};
    for (unsigned t = 0; r && t < 4; t++)
        if (strcmp(tnames[t], name) == 0 && (r->thresholds_set & (1u << t))) {
            *out = r->thresholds[t];
            return 1;
        }
    return 0;
}

const char *sdiff_rules_threshold_text(const struct sdiff_rules *r, const char *name)
{
    static const char *const tnames[4] = {"min_samples", "max_mismatch", "max_p99_ratio",
                                          "max_error_increase"};
    for (unsigned t = 0; r && t < 4; t++)
        if (strcmp(tnames[t], name) == 0 && (r->thresholds_set & (1u << t)))
            return r->threshold_text[t];
    return NULL;
}

size_t sdiff_rules_route_count(const struct sdiff_rules *r)
{
    return r ? r->nroutes : 0;
}

const char *sdiff_rules_route_name(const struct sdiff_rules *r, size_t i)
{
    return i < r->nroutes ? r->routes[i].route : NULL;
}

void sdiff_rules_saw_route(struct sdiff_rules *r, const char *route)
{
    struct route_rule *rr = find_route(r, route);
    if (rr)
        rr->seen++;
}

size_t sdiff_rules_unused(const struct sdiff_rules *r, struct sdiff_buf *out)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nroutes; i++) {
        if (r->routes[i].seen)
            continue;
        n++;
        sdiff_buf_printf(out, "config rule for route \"%s\" matched no exchange\n",
                         r->routes[i].route);
    }
    return n;
}

const struct sdiff_rules_waiver *sdiff_rules_waivers(const struct sdiff_rules *r, size_t *n)
{
    *n = r ? r->nwaivers : 0;
    return r ? r->waivers : NULL;
}

const struct sdiff_noise_rule *sdiff_rules_noise_rule(const struct sdiff_rules *r)
{
    return r ? &r->noise_rule : NULL;
}
