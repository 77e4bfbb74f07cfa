/*
 * learn.c - learned noise from evidence, not from one disagreement.
 *
 * A key (a header or a JSON path of a route) becomes noise only when the old service
 * disagreed with itself about it often enough, for enough clients, over enough time: one
 * user who edits their own record between two answers must not make `$.email` noise for a
 * route, as one primary-vs-secondary disagreement used to. Two kinds of pair count, under
 * one rule: the primary's answer and a second old instance's to the same request
 * (`secondary`), and two answers of the primary to identical safe requests (`repeat`), which
 * needs no second instance. Primary-vs-candidate disagreements never reach this file.
 *
 * Clients: distinct client addresses once the traffic has come from more than one address;
 * before that (everything on `lo`, or behind one proxy) distinct connections, since then
 * every client shares the address.
 *
 * Memory is bounded twice: the last answer per request is kept in a direct-mapped table of
 * RECALL_SLOTS entries, each at most RECALL_BODY_MAX body bytes (a new request takes its
 * slot: only learning is lost, never a result); and at most rule.max_candidates keys
 * collect evidence, after which new keys are not tracked (counted), so a flood of made-up
 * paths can only stop noise from being learned, which shows more differences, never fewer.
 */
#include "shadowdiff/diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "diff/diff_int.h"

#define RECALL_SLOTS 1024
#define RECALL_BODY_MAX (16u << 10)
#define RECALL_KEY_MAX (8u << 10)
#define SEEN_MAX 8        /* distinct clients remembered per key (the rule needs fewer) */
#define EXAMPLES_MAX 3
#define EXAMPLE_LEN 80
#define HELD_MAX 4096     /* results waiting for their keys' evidence */
#define HELD_KEYS 8       /* a result differing on more keys is not held */

struct held {
    int64_t result_id;    /* 0: empty */
    char *route;
    char *keys[HELD_KEYS];
    unsigned nkeys;
};

struct recall {
    char *key;            /* the request's identity; NULL: empty slot */
    size_t key_len;
    struct sdiff_msg resp;
};

struct evidence {
    char *route, *path;   /* NULL: empty slot */
    const char *source;   /* the first source that counted ("secondary" or "repeat") */
    unsigned pairs;
    unsigned nconns, naddrs;
    uint64_t conns[SEEN_MAX], addrs[SEEN_MAX];
    uint64_t first_us, last_us;
    int shaped;           /* every value seen had a volatile shape */
    unsigned nexamples;
    char examples[EXAMPLES_MAX][EXAMPLE_LEN];
    int learned;
};

struct sdiff_learner {
    struct sdiff_noise *noise;    /* borrowed */
    struct sdiff_noise_rule rule;
    struct recall recall[RECALL_SLOTS];
    struct evidence *ev;
    size_t ev_cap, ev_count;
    uint64_t first_addr;          /* the first client address seen */
    int many_addrs;               /* traffic came from more than one address */
    struct held *held;            /* a ring of HELD_MAX */
    size_t held_head, held_count;
    struct sdiff_learner_stats stats;
};


void sdiff_noise_rule_defaults(struct sdiff_noise_rule *r)
{
    *r = (struct sdiff_noise_rule){.pairs = 5, .pairs_shaped = 3, .clients = 3, .span_s = 1.0,
                                   .max_candidates = 65536};
}

int sdiff_learner_new(struct sdiff_learner **out, struct sdiff_noise *noise,
                      const struct sdiff_noise_rule *rule)
{
    struct sdiff_learner *l = sdiff_calloc(1, sizeof *l);
    *out = NULL;
    if (l == NULL)
        return SDIFF_ENOMEM;
    l->noise = noise;
    sdiff_noise_rule_defaults(&l->rule);
    if (rule) {
        if (rule->pairs)
            l->rule.pairs = rule->pairs;
        if (rule->pairs_shaped)
            l->rule.pairs_shaped = rule->pairs_shaped;
        if (rule->clients)
            l->rule.clients = rule->clients;
        if (rule->span_s > 0)
            l->rule.span_s = rule->span_s;
        if (rule->max_candidates)
            l->rule.max_candidates = rule->max_candidates;
    }
    if (l->rule.pairs_shaped > l->rule.pairs)
        l->rule.pairs_shaped = l->rule.pairs;
    l->ev_cap = 256;
    l->ev = sdiff_calloc(l->ev_cap, sizeof *l->ev);
    l->held = sdiff_calloc(HELD_MAX, sizeof *l->held);
    if (l->ev == NULL || l->held == NULL) {
        sdiff_free(l->ev);
        sdiff_free(l->held);
        sdiff_free(l);
        return SDIFF_ENOMEM;
    }
    *out = l;
    return SDIFF_OK;
}

static void held_clear(struct held *h)
{
    sdiff_free(h->route);
    for (unsigned i = 0; i < h->nkeys; i++)
        sdiff_free(h->keys[i]);
    memset(h, 0, sizeof *h);
}

void sdiff_learner_free(struct sdiff_learner *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < RECALL_SLOTS; i++) {
        sdiff_free(l->recall[i].key);
        sdiff_msg_dispose(&l->recall[i].resp);
    }
    for (size_t i = 0; i < l->ev_cap; i++) {
        sdiff_free(l->ev[i].route);
        sdiff_free(l->ev[i].path);
    }
    sdiff_free(l->ev);
    for (size_t i = 0; i < HELD_MAX; i++)
        held_clear(&l->held[i]);
    sdiff_free(l->held);
    sdiff_free(l);
}

const struct sdiff_learner_stats *sdiff_learner_stats(const struct sdiff_learner *l)
{
    return &l->stats;
}

/* ---- value shapes ------------------------------------------------------------------------ */

/* Headers whose values change on every answer of a healthy service. */
static int volatile_header(const char *path)
{
    static const char *const names[] = {
        "header:date", "header:etag", "header:last-modified", "header:expires", "header:age",
        "header:x-request-id", "header:x-correlation-id", "header:request-id",
        "header:x-trace-id", "header:traceparent", "header:x-amzn-trace-id",
        "header:x-runtime", "header:server-timing",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(path, names[i]) == 0)
            return 1;
    return 0;
}

static int hexdig(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* 8-4-4-4-12 hex digits */
static int is_uuid(const char *s, size_t n)
{
    if (n != 36)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !hexdig(s[i]))
            return 0;
    }
    return 1;
}

/* at least 16 hex digits with a digit and a letter: a request or trace id */
static int is_hex_id(const char *s, size_t n)
{
    int digit = 0, letter = 0;
    if (n < 16)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!hexdig(s[i]))
            return 0;
        if (s[i] >= '0' && s[i] <= '9')
            digit = 1;
        else
            letter = 1;
    }
    return digit && letter;
}

/* Seconds since the epoch of an RFC 3339 time at the start of s (UTC offsets applied), or -1. */
static double rfc3339_seconds(const char *s, size_t n)
{
    int y, mo, d, h, mi, sec;
    char t;
    if (n < 19 || sscanf(s, "%4d-%2d-%2d%c%2d:%2d:%2d", &y, &mo, &d, &t, &h, &mi, &sec) != 7 ||
        (t != 'T' && t != 't' && t != ' '))
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi, .tm_sec = sec};
    time_t v = timegm(&tm);
    size_t i = 19;
    while (i < n && (s[i] == '.' || (s[i] >= '0' && s[i] <= '9')))
        i++;
    if (i + 6 <= n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh = (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
        int om = (s[i + 4] - '0') * 10 + (s[i + 5] - '0');
        v -= (s[i] == '+' ? 1 : -1) * (time_t)(oh * 3600 + om * 60);
    }
    return (double)v;
}

/* A time within a minute of the capture time: as an RFC 3339 string, or epoch s or ms. */
static int is_time_near(const char *s, size_t n, uint64_t t_us)
{
    double now = (double)t_us / 1e6, v = rfc3339_seconds(s, n);
    if (v < 0 && (n == 10 || n == 13)) {
        char *end;
        char buf[16];
        memcpy(buf, s, n);
        buf[n] = '\0';
        v = strtod(buf, &end);
        if (*end != '\0' && *end != '.')
            return 0;
        if (n == 13)
            v /= 1000;
    }
    return t_us && v > 0 && v > now - 60 && v < now + 60;
}

/* Whether one value (a JSON text or a header value) looks like it changes on every answer. */
static int volatile_value(const char *v, uint64_t t_us)
{
    if (v == NULL)
        return 0;
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    return is_uuid(v, n) || is_hex_id(v, n) || is_time_near(v, n, t_us);
}

/* ---- evidence ---------------------------------------------------------------------------- */

static uint64_t ev_hash(const char *route, const char *path)
{
    uint64_t h = sdiff_fnv1a(SDIFF_FNV_INIT, route, strlen(route));
    h = sdiff_fnv1a(h, "\x1f", 1);
    return sdiff_fnv1a(h, path, strlen(path));
}

static int ev_grow(struct sdiff_learner *l)
{
    size_t cap = l->ev_cap * 2;
    struct evidence *v = sdiff_calloc(cap, sizeof *v);
    if (v == NULL)
        return SDIFF_ENOMEM;
    for (size_t i = 0; i < l->ev_cap; i++) {
        if (l->ev[i].route == NULL)
            continue;
        size_t j = ev_hash(l->ev[i].route, l->ev[i].path) & (cap - 1);
        while (v[j].route)
            j = (j + 1) & (cap - 1);
        v[j] = l->ev[i];
    }
    sdiff_free(l->ev);
    l->ev = v;
    l->ev_cap = cap;
    return SDIFF_OK;
}

/* The evidence of (route, path); created when create is set and there is room. */
static struct evidence *ev_find(struct sdiff_learner *l, const char *route, const char *path,
                                int create, int *rc)
{
    *rc = SDIFF_OK;
    size_t i = ev_hash(route, path) & (l->ev_cap - 1);
    for (; l->ev[i].route; i = (i + 1) & (l->ev_cap - 1))
        if (strcmp(l->ev[i].route, route) == 0 && strcmp(l->ev[i].path, path) == 0)
            return &l->ev[i];
    if (!create)
        return NULL;
    if (l->ev_count >= l->rule.max_candidates) {
        l->stats.untracked++;
        return NULL;
    }
    if ((l->ev_count + 1) * 2 > l->ev_cap) {
        if ((*rc = ev_grow(l)) < 0)
            return NULL;
        return ev_find(l, route, path, create, rc);
    }
    struct evidence *e = &l->ev[i];
    memset(e, 0, sizeof *e);
    e->route = sdiff_strdup(route);
    e->path = sdiff_strdup(path);
    if (e->route == NULL || e->path == NULL) {
        sdiff_free(e->route);
        sdiff_free(e->path);
        memset(e, 0, sizeof *e);
        *rc = SDIFF_ENOMEM;
        return NULL;
    }
    e->shaped = 1;
    l->ev_count++;
    return e;
}

static void seen_add(uint64_t *v, unsigned *n, uint64_t id)
{
    for (unsigned i = 0; i < *n; i++)
        if (v[i] == id)
            return;
    if (*n < SEEN_MAX)
        v[(*n)++] = id;
}

/* The address part of "addr:port" / "[v6]:port". */
static uint64_t addr_id(const char *client)
{
    const char *colon = strrchr(client, ':');
    size_t n = colon ? (size_t)(colon - client) : strlen(client);
    return sdiff_fnv1a(SDIFF_FNV_INIT, client, n);
}

static unsigned clients_of(const struct sdiff_learner *l, const struct evidence *e)
{
    return l->many_addrs ? e->naddrs : e->nconns;
}

static int rule_met(const struct sdiff_learner *l, const struct evidence *e)
{
    unsigned k = e->shaped ? l->rule.pairs_shaped : l->rule.pairs;
    return e->pairs >= k && clients_of(l, e) >= l->rule.clients &&
           (double)(e->last_us - e->first_us) / 1e6 > l->rule.span_s;
}

static double confidence(const struct sdiff_learner *l, const struct evidence *e)
{
    unsigned k = e->shaped ? l->rule.pairs_shaped : l->rule.pairs;
    double p = (double)e->pairs / (2.0 * (double)k);
    double c = (double)clients_of(l, e) / (2.0 * (double)l->rule.clients);
    p = p > 1 ? 1 : p;
    c = c > 1 ? 1 : c;
    return p < c ? p : c;
}

/* One pair of old-service answers that disagree on path. 1: learned now, 0, or ENOMEM. */
static int count_pair(struct sdiff_learner *l, const char *route, const char *pat,
                      const char *source, const char *client, uint64_t t_us, const char *va,
                      const char *vb)
{
    int rc;
    struct evidence *e = ev_find(l, route, pat, 1, &rc);
    if (e == NULL)
        return rc;
    if (e->source == NULL)
        e->source = source;
    e->pairs++;
    seen_add(e->conns, &e->nconns, sdiff_fnv1a(SDIFF_FNV_INIT, client, strlen(client)));
    seen_add(e->addrs, &e->naddrs, addr_id(client));
    if (e->first_us == 0 || t_us < e->first_us)
        e->first_us = t_us;
    if (t_us > e->last_us)
        e->last_us = t_us;
    if (!(volatile_header(pat) || (volatile_value(va, t_us) && volatile_value(vb, t_us))))
        e->shaped = 0;
    for (int side = 0; side < 2 && e->nexamples < EXAMPLES_MAX; side++) {
        const char *v = side ? vb : va;
        if (v)
            snprintf(e->examples[e->nexamples++], EXAMPLE_LEN, "%s", v);
    }
    if (e->learned || !rule_met(l, e))
        return 0;
    e->learned = 1;
    rc = sdiff_noise_add(l->noise, route, pat);
    return rc < 0 ? rc : 1;
}

/* Compare two old-service answers and count a pair for each key they disagree on. */
static int observe(struct sdiff_learner *l, struct sdiff_differ *d, const struct sdiff_msg *a,
                   const struct sdiff_msg *b, const char *route, const char *source,
                   const char *client, uint64_t t_us, struct sdiff_err *err)
{
    route = route ? route : "";
    client = client ? client : "";
    uint64_t addr = addr_id(client);
    if (l->first_addr == 0)
        l->first_addr = addr;
    else if (addr != l->first_addr)
        l->many_addrs = 1;
    if (a->present && b->present && a->status != b->status)
        return 0; /* different kinds of answer (a 304, an error): not a field that varies */
    struct sdiff_diff_result res;
    int rc = sdiff_differ_compare(d, a, b, route, NULL, &res, err);
    if (rc < 0)
        return rc;
    l->stats.pairs++;
    int learned = 0;
    for (size_t i = 0; i < res.nitems && rc >= 0; i++) {
        const char *path = res.items[i].path;
        if (strcmp(path, "status") == 0 || strncmp(path, "body", 4) == 0)
            continue; /* a whole-body or status disagreement is not a field to ignore */
        char pat[512];
        sdiff__path_pattern(path, pat, sizeof pat);
        rc = count_pair(l, route, pat, source, client, t_us, res.items[i].primary,
                        res.items[i].candidate);
        if (rc > 0)
            learned++;
    }
    sdiff_diff_result_dispose(&res);
    if (rc < 0)
        return sdiff_err_set(err, rc, "diff", "out of memory learning noise");
    l->stats.learned += (uint64_t)learned;
    return learned;
}

int sdiff_learner_secondary(struct sdiff_learner *l, struct sdiff_differ *d,
                            const struct sdiff_msg *primary, const struct sdiff_msg *secondary,
                            const char *route, const char *client, uint64_t t_us,
                            struct sdiff_err *err)
{
    return observe(l, d, primary, secondary, route, "secondary", client, t_us, err);
}

/* ---- repeated answers -------------------------------------------------------------------- */

/* Request headers that do not change what the answer is about. */
static int identity_skips(const char *name)
{
    static const char *const names[] = {
        "connection", "keep-alive", "content-length", "user-agent", "date", "x-request-id",
        "x-correlation-id", "request-id", "traceparent", "tracestate", "x-amzn-trace-id",
        "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "b3",
        "x-forwarded-for", "x-real-ip", "forwarded", "via", "x-shadowdiff",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(name, names[i]) == 0)
            return 1;
    return 0;
}

/*
 * The request's identity: method, target, every header but the ones above (names folded to
 * lower case, in order), and the body. Identical requests have identical identities, so no
 * hash collision can pair the answers of two different requests.
 * SDIFF_OK, SDIFF_ELIMIT (too large to remember), SDIFF_ENOMEM.
 */
static int identity(const struct sdiff_msg *req, struct sdiff_buf *b)
{
    int rc = sdiff_buf_printf(b, "%s %s\n", req->method ? req->method : "",
                              req->target ? req->target : "");
    for (size_t i = 0; rc >= 0 && i < req->nheaders; i++) {
        const struct sdiff_hfield *h = &req->headers[i];
        if (identity_skips(h->name))
            continue;
        for (size_t k = 0; rc >= 0 && k < h->name_len; k++) {
            char c = h->name[k];
            c = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
            rc = sdiff_buf_append(b, &c, 1);
        }
        if (rc >= 0)
            rc = sdiff_buf_append(b, ":", 1);
        if (rc >= 0)
            rc = sdiff_buf_append(b, h->value, h->value_len);
        if (rc >= 0)
            rc = sdiff_buf_append(b, "\n", 1);
    }
    if (rc >= 0 && req->body_len) {
        rc = sdiff_buf_append(b, "\n", 1);
        if (rc >= 0)
            rc = sdiff_buf_append(b, req->body, req->body_len);
    }
    return rc < 0 ? rc : SDIFF_OK;
}

static int is_safe(const char *method)
{
    return method && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
                      strcmp(method, "OPTIONS") == 0);
}

static int copy_resp(struct sdiff_msg *dst, const struct sdiff_msg *src)
{
    memset(dst, 0, sizeof *dst);
    if (sdiff_msg_set_headers(dst, src->headers, src->nheaders) < 0)
        return SDIFF_ENOMEM;
    dst->present = src->present;
    dst->status = src->status;
    dst->version_minor = src->version_minor;
    dst->complete = src->complete;
    dst->chunked = src->chunked;
    dst->body_seen = src->body_seen;
    if (src->body_len) {
        dst->body = sdiff_malloc(src->body_len);
        if (dst->body == NULL) {
            sdiff_msg_dispose(dst);
            return SDIFF_ENOMEM;
        }
        memcpy(dst->body, src->body, src->body_len);
        dst->body_len = src->body_len;
    }
    return SDIFF_OK;
}

int sdiff_learner_answer(struct sdiff_learner *l, struct sdiff_differ *d,
                         const struct sdiff_msg *req, const struct sdiff_msg *resp,
                         const char *route, const char *client, uint64_t t_us,
                         struct sdiff_err *err)
{
    if (!is_safe(req->method) || !resp->present || !resp->complete ||
        resp->body_len > RECALL_BODY_MAX || resp->body_seen > resp->body_len)
        return 0;
    struct sdiff_buf id;
    sdiff_buf_init(&id, RECALL_KEY_MAX);
    int irc = identity(req, &id);
    if (irc < 0) {
        sdiff_buf_dispose(&id);
        if (irc == SDIFF_ELIMIT)
            return 0; /* too large to remember */
        return sdiff_err_set(err, irc, "diff", "out of memory learning noise");
    }
    struct recall *r = &l->recall[sdiff_fnv1a(SDIFF_FNV_INIT, id.data, id.len) & (RECALL_SLOTS - 1)];
    int rc = 0;
    if (r->key && r->key_len == id.len && memcmp(r->key, id.data, id.len) == 0) {
        if (r->resp.present)
            rc = observe(l, d, &r->resp, resp, route, "repeat", client, t_us, err);
        sdiff_msg_dispose(&r->resp);
    } else {
        sdiff_free(r->key);
        sdiff_msg_dispose(&r->resp);
        r->key = NULL;
        size_t n;
        r->key = (char *)sdiff_buf_steal(&id, &n);
        r->key_len = n;
        if (r->key == NULL) {
            sdiff_buf_dispose(&id);
            return sdiff_err_set(err, SDIFF_ENOMEM, "diff", "out of memory learning noise");
        }
    }
    sdiff_buf_dispose(&id);
    if (rc >= 0 && copy_resp(&r->resp, resp) < 0) {
        sdiff_free(r->key);
        r->key = NULL;
        return sdiff_err_set(err, SDIFF_ENOMEM, "diff", "out of memory learning noise");
    }
    return rc;
}

int sdiff_learner_evidence(const struct sdiff_learner *l, const char *route, const char *key,
                           struct sdiff_noise_evidence *out)
{
    int rc;
    struct evidence *e = ev_find((struct sdiff_learner *)l, route ? route : "", key, 0, &rc);
    memset(out, 0, sizeof *out);
    if (e == NULL)
        return 0;
    out->source = e->source;
    out->pairs = e->pairs;
    out->clients = clients_of(l, e);
    out->span_s = (double)(e->last_us - e->first_us) / 1e6;
    out->shaped = e->shaped;
    out->nexamples = e->nexamples;
    for (unsigned i = 0; i < e->nexamples; i++)
        out->examples[i] = e->examples[i];
    out->confidence = confidence(l, e);
    out->learned = e->learned;
    return 1;
}

/* ---- results that wait for evidence ------------------------------------------------------ */

int sdiff_learner_hold(struct sdiff_learner *l, const char *route,
                       const struct sdiff_diff_result *dr, int64_t result_id)
{
    route = route ? route : "";
    if (dr->cls != SDIFF_CLASS_DIFFERENT || dr->nitems == 0 || dr->nitems > HELD_KEYS ||
        dr->nomitted)
        return 0;
    char pats[HELD_KEYS][512];
    for (size_t i = 0; i < dr->nitems; i++) {
        const char *path = dr->items[i].path;
        if (strcmp(path, "status") == 0 || strncmp(path, "body", 4) == 0)
            return 0;
        sdiff__path_pattern(path, pats[i], sizeof pats[i]);
    }
    struct held h = {.result_id = result_id, .route = sdiff_strdup(route)};
    int ok = h.route != NULL;
    for (size_t i = 0; ok && i < dr->nitems; i++) {
        h.keys[h.nkeys] = sdiff_strdup(pats[i]);
        ok = h.keys[h.nkeys] != NULL;
        h.nkeys += ok;
    }
    if (!ok) {
        held_clear(&h);
        return SDIFF_ENOMEM;
    }
    if (l->held_count == HELD_MAX) { /* the oldest stays as it was stored: different */
        held_clear(&l->held[l->held_head]);
        l->held_head = (l->held_head + 1) % HELD_MAX;
        l->held_count--;
        l->stats.held_dropped++;
    }
    l->held[(l->held_head + l->held_count) % HELD_MAX] = h;
    l->held_count++;
    l->stats.held++;
    /* judged in parallel, it may come after the record that taught the last of its keys */
    int all = 1;
    for (unsigned i = 0; all && i < h.nkeys; i++)
        all = sdiff_noise_has(l->noise, h.route, h.keys[i]);
    return all ? 2 : 1;
}

int sdiff_learner_settle(struct sdiff_learner *l, int (*fn)(int64_t result_id, void *ud),
                         void *ud)
{
    size_t n = l->held_count, kept = 0;
    int rc = SDIFF_OK;
    for (size_t k = 0; k < n; k++) {
        struct held h = l->held[(l->held_head + k) % HELD_MAX];
        int all = rc >= 0;
        for (unsigned i = 0; all && i < h.nkeys; i++)
            all = sdiff_noise_has(l->noise, h.route, h.keys[i]);
        if (all) {
            rc = fn(h.result_id, ud);
            l->stats.settled++;
            held_clear(&h);
        } else {
            l->held[(l->held_head + kept) % HELD_MAX] = h;
            kept++;
        }
    }
    /* the slots past the kept ones hold moved or freed pointers: empty them */
    for (size_t k = kept; k < n; k++)
        memset(&l->held[(l->held_head + k) % HELD_MAX], 0, sizeof(struct held));
    l->held_count = kept;
    return rc;
}

int sdiff_noise_examples_json(const struct sdiff_noise_evidence *ev, struct sdiff_buf *out)
{
    int rc = sdiff_buf_append(out, "[", 1);
    for (unsigned i = 0; rc >= 0 && i < ev->nexamples; i++) {
        if (i)
            rc = sdiff_buf_append(out, ",", 1);
        if (rc >= 0)
            rc = sdiff_buf_json_str(out, ev->examples[i], strlen(ev->examples[i]));
    }
    return rc < 0 ? rc : sdiff_buf_append(out, "]", 1);
}
