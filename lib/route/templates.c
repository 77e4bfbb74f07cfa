/*
 * templates.c - explicit route templates: from the config or an OpenAPI 3 document (JSON).
 */
#include "shadowdiff/route.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct tmpl {
    char method[16];
    char *path;            /* "/api/users/{id}" */
    size_t nseg;
    size_t literals;       /* segments that are not parameters */
};

struct sdiff_routes {
    struct tmpl *v;
    size_t n, cap;
};

int sdiff_routes_new(struct sdiff_routes **out)
{
    *out = sdiff_calloc(1, sizeof **out);
    return *out ? SDIFF_OK : SDIFF_ENOMEM;
}

void sdiff_routes_free(struct sdiff_routes *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        sdiff_free(r->v[i].path);
    sdiff_free(r->v);
    sdiff_free(r);
}

size_t sdiff_routes_count(const struct sdiff_routes *r)
{
    return r ? r->n : 0;
}

static int is_param(const char *seg, size_t len)
{
    return len >= 2 && seg[0] == '{' && seg[len - 1] == '}';
}

static int add(struct sdiff_routes *r, const char *method, const char *path,
               struct sdiff_err *err)
{
    if (path[0] != '/' || strlen(method) >= sizeof r->v[0].method)
        return sdiff_err_set(err, SDIFF_EINVAL, "route",
                             "route template \"%.20s %.100s\" must be METHOD /path", method, path);
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 32;
        struct tmpl *v = sdiff_realloc(r->v, cap * sizeof *v);
        if (v == NULL)
            return sdiff_err_set(err, SDIFF_ENOMEM, "route", "out of memory");
        r->v = v;
        r->cap = cap;
    }
    struct tmpl *t = &r->v[r->n];
    memset(t, 0, sizeof *t);
    for (size_t i = 0; method[i]; i++)
        t->method[i] = (char)(method[i] >= 'a' && method[i] <= 'z' ? method[i] - 32 : method[i]);
    t->path = sdiff_strdup(path);
    if (t->path == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "route", "out of memory");
    for (const char *p = path + 1; *p;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > 0) {
            t->nseg++;
            t->literals += !is_param(p, len);
        }
        p += len + (e != NULL);
    }
    r->n++;
    return SDIFF_OK;
}

int sdiff_routes_add(struct sdiff_routes *r, const char *route, struct sdiff_err *err)
{
    const char *sp = strchr(route, ' ');
    char method[16];
    if (sp == NULL || (size_t)(sp - route) >= sizeof method)
        return sdiff_err_set(err, SDIFF_EINVAL, "route",
                             "route template \"%.100s\" must be METHOD /path", route);
    memcpy(method, route, (size_t)(sp - route));
    method[sp - route] = '\0';
    return add(r, method, sp + 1, err);
}

static int load_doc(struct sdiff_routes *r, json_t *doc, const char *path,
                    struct sdiff_err *err);

int sdiff_routes_load_openapi(struct sdiff_routes *r, const char *path, struct sdiff_err *err)
{
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (doc == NULL && je.line < 0)
        return sdiff_err_set(err, SDIFF_EPARSE, "route", "cannot read OpenAPI document %.150s",
                             path);
    if (doc == NULL)
        return sdiff_err_set(err, SDIFF_EPARSE, "route", "%.100s:%d:%d: %.80s", path, je.line,
                             je.column, je.text);
    return load_doc(r, doc, path, err);
}

int sdiff_routes_load_openapi_text(struct sdiff_routes *r, const char *text, size_t len,
                                   const char *name, struct sdiff_err *err)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, 0, &je);
    if (doc == NULL)
        return sdiff_err_set(err, SDIFF_EPARSE, "route", "%.100s:%d:%d: %.80s", name, je.line,
                             je.column, je.text);
    return load_doc(r, doc, name, err);
}

/* Every path x method of an OpenAPI 3 document (taken: freed here). */
static int load_doc(struct sdiff_routes *r, json_t *doc, const char *path, struct sdiff_err *err)
{
    static const char *const methods[] = {"get", "put", "post", "delete", "options", "head",
                                          "patch", "trace"};
    json_t *paths = json_object_get(doc, "paths");
    int rc = SDIFF_OK;
    if (!json_is_object(paths)) {
        rc = sdiff_err_set(err, SDIFF_EINVAL, "route",
                           "%.150s: no \"paths\" object (an OpenAPI 3 document in JSON?)", path);
        goto out;
    }
    /* a server URL with a path ("https://api.example.com/v1") prefixes every path */
    char prefix[256] = "";
    json_t *server = json_array_get(json_object_get(doc, "servers"), 0);
    const char *url = json_string_value(json_object_get(server, "url"));
    if (url) {
        const char *p = strstr(url, "://");
        p = p ? strchr(p + 3, '/') : (url[0] == '/' ? url : NULL);
        if (p && strcmp(p, "/") != 0)
            snprintf(prefix, sizeof prefix, "%s", p);
        size_t n = strlen(prefix);
        if (n > 0 && prefix[n - 1] == '/')
            prefix[n - 1] = '\0';
    }
    const char *key;
    json_t *item;
    json_object_foreach(paths, key, item) {
        char full[1024];
        snprintf(full, sizeof full, "%s%s", prefix, key);
        for (size_t m = 0; m < sizeof methods / sizeof methods[0] && rc >= 0; m++)
            if (json_object_get(item, methods[m]))
                rc = add(r, methods[m], full, err);
        if (rc < 0)
            break;
    }
out:
    json_decref(doc);
    return rc;
}

/* Whether target's path matches t, segment by segment. */
static int matches(const struct tmpl *t, const char *path, size_t plen)
{
    const char *a = t->path + 1, *b = path + (plen > 0 && path[0] == '/');
    const char *bend = path + plen;
    for (;;) {
        const char *ae = strchr(a, '/');
        size_t al = ae ? (size_t)(ae - a) : strlen(a);
        const char *be = memchr(b, '/', (size_t)(bend - b));
        size_t bl = be ? (size_t)(be - b) : (size_t)(bend - b);
        if (is_param(a, al)) {
            if (bl == 0)
                return 0;
        } else if (al != bl || memcmp(a, b, al) != 0) {
            return 0;
        }
        if ((ae == NULL) != (be == NULL))
            return 0;
        if (ae == NULL)
            return 1;
        a = ae + 1;
        b = be + 1;
    }
}

int sdiff_routes_route(const struct sdiff_routes *r, const char *method, const char *target,
                       struct sdiff_buf *out)
{
    const char *p = target ? target : "";
    const char *scheme = p[0] != '/' ? strstr(p, "://") : NULL;
    if (scheme) {
        const char *slash = strchr(scheme + 3, '/');
        p = slash ? slash : "/";
    }
    size_t plen = strcspn(p, "?#");
    const struct tmpl *best = NULL;
    for (size_t i = 0; r && i < r->n; i++) {
        const struct tmpl *t = &r->v[i];
        if (strcmp(t->method, "*") != 0 && strcasecmp(t->method, method ? method : "") != 0)
            continue;
        if (matches(t, p, plen) && (best == NULL || t->literals > best->literals))
            best = t;
    }
    if (best == NULL)
        return sdiff_route_template(method, target, out);
    int rc = sdiff_buf_puts(out, method && *method ? method : "?");
    rc = rc < 0 ? rc : sdiff_buf_append(out, " ", 1);
    return rc < 0 ? rc : sdiff_buf_puts(out, best->path);
}
