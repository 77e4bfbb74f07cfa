/*
 * diff.c - classification of one exchange: status, headers, then the body (bytes, content
 * decoding, JSON by meaning, text with masks, binary), then learned noise.
 *
 * The order matters for speed: byte equality of the bodies is checked before anything is
 * decoded or parsed, so identical exchanges cost one memcmp.
 */
#include "shadowdiff/diff.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "shadowdiff/codec.h"
#include "diff/diff_int.h"

struct mask {
    regex_t re;
    char *replace;
};

struct sdiff_differ {
    struct sdiff_jdiff *jd;
    char **ignore;       /* lowercase names added to the default ignored set */
    size_t nignore;
    char **compare;      /* lowercase names taken out of it */
    size_t ncompare;
    struct mask *masks;
    size_t nmasks;
    size_t max_decoded, max_compare, max_items;
    enum sdiff_preset preset;
    struct sdiff_buf dec[2];   /* decoded bodies, reused */
    struct sdiff_buf masked[2];
};

/* ---- names ----------------------------------------------------------------------------- */

static const char *const class_names[SDIFF_CLASS__COUNT] = {
    "identical", "equivalent", "different", "error", "skipped",
};

const char *sdiff_class_str(enum sdiff_class c)
{
    return (unsigned)c < SDIFF_CLASS__COUNT ? class_names[c] : "unknown";
}

const char *sdiff_reason_str(unsigned bit)
{
    switch (bit) {
    case SDIFF_REASON_CONTENT_ENCODING: return "content_encoding";
    case SDIFF_REASON_KEY_ORDER: return "key_order";
    case SDIFF_REASON_NUMBER_SPELLING: return "number_spelling";
    case SDIFF_REASON_STRING_ESCAPES: return "string_escapes";
    case SDIFF_REASON_WHITESPACE: return "whitespace";
    case SDIFF_REASON_ARRAY_ORDER: return "array_order";
    case SDIFF_REASON_TOLERANCE: return "tolerance";
    case SDIFF_REASON_IGNORED: return "ignored";
    case SDIFF_REASON_NOISE: return "noise";
    case SDIFF_REASON_TEXT_MASK: return "text_mask";
    case SDIFF_REASON_HEADER_SPELLING: return "header_spelling";
    case SDIFF_REASON_DUPLICATE_KEY: return "duplicate_key";
    case SDIFF_REASON_TIME_SPELLING: return "time_spelling";
    default: return "?";
    }
}

/*
 * How each header is judged, by meaning (README "Headers judged by meaning"): framing says how
 * the bytes travel (the decoded body is what is compared), hop-by-hop belongs to one
 * connection (RFC 9110 7.6.1), volatile changes with every answer; all three are never a
 * difference by default. Everything else is semantic and compared, some by meaning (a
 * Content-Type's parameters, a Vary list as a set, Vary's Accept-Encoding against an
 * identity-coded answer).
 */
static const struct {
    const char *name;
    enum sdiff_header_class cls;
} HEADER_CLASSES[] = {
    {"content-length", SDIFF_HEADER_FRAMING},    {"transfer-encoding", SDIFF_HEADER_FRAMING},
    {"content-encoding", SDIFF_HEADER_FRAMING},  {"connection", SDIFF_HEADER_HOP_BY_HOP},
    {"keep-alive", SDIFF_HEADER_HOP_BY_HOP},     {"proxy-connection", SDIFF_HEADER_HOP_BY_HOP},
    {"te", SDIFF_HEADER_HOP_BY_HOP},             {"trailer", SDIFF_HEADER_HOP_BY_HOP},
    {"date", SDIFF_HEADER_VOLATILE},             {"server", SDIFF_HEADER_VOLATILE},
    {"age", SDIFF_HEADER_VOLATILE},              {"via", SDIFF_HEADER_VOLATILE},
    {"expires", SDIFF_HEADER_VOLATILE},          {"x-request-id", SDIFF_HEADER_VOLATILE},
    {"x-correlation-id", SDIFF_HEADER_VOLATILE}, {"request-id", SDIFF_HEADER_VOLATILE},
    {"x-amzn-requestid", SDIFF_HEADER_VOLATILE}, {"x-amz-request-id", SDIFF_HEADER_VOLATILE},
    {"x-trace-id", SDIFF_HEADER_VOLATILE},       {"traceparent", SDIFF_HEADER_VOLATILE},
    {"tracestate", SDIFF_HEADER_VOLATILE},       {"x-runtime", SDIFF_HEADER_VOLATILE},
    {"x-response-time", SDIFF_HEADER_VOLATILE},
};

enum sdiff_header_class sdiff_diff_header_class(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof HEADER_CLASSES / sizeof HEADER_CLASSES[0]; i++)
        if (strlen(HEADER_CLASSES[i].name) == len &&
            strncasecmp(HEADER_CLASSES[i].name, name, len) == 0)
            return HEADER_CLASSES[i].cls;
    if (len > 5 && strncasecmp(name, "x-b3-", 5) == 0)
        return SDIFF_HEADER_VOLATILE;
    return SDIFF_HEADER_SEMANTIC;
}

const char *sdiff_diff_header_class_str(enum sdiff_header_class c)
{
    switch (c) {
    case SDIFF_HEADER_FRAMING: return "framing";
    case SDIFF_HEADER_HOP_BY_HOP: return "hop-by-hop";
    case SDIFF_HEADER_VOLATILE: return "volatile";
    case SDIFF_HEADER_SEMANTIC: return "semantic";
    }
    return "semantic";
}

int sdiff_diff_header_ignored_by_default(const char *name, size_t len)
{
    return sdiff_diff_header_class(name, len) != SDIFF_HEADER_SEMANTIC;
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static char **copy_lower(const char *const *src, size_t n)
{
    char **dst = sdiff_calloc(n ? n : 1, sizeof *dst);
    if (dst == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        dst[i] = sdiff_strdup(src[i]);
        if (dst[i] == NULL) {
            for (size_t j = 0; j < i; j++)
                sdiff_free(dst[j]);
            sdiff_free(dst);
            return NULL;
        }
        for (char *c = dst[i]; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
    }
    return dst;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        sdiff_free(v[i]);
    sdiff_free(v);
}

#define MASK_MAX_ELEMENTS 1000 /* glibc's cost grows with its square: 1000 is ~0.2 s, ~90 MB */
#define MASK_MAX_DEPTH 32

/* p at '['; the bracket expression's closing ']' (or its last byte when unterminated). */
static const char *bracket_end(const char *p)
{
    const char *q = p + 1;
    if (*q == '^')
        q++;
    if (*q == ']')
        q++;
    while (*q && *q != ']') {
        if (*q == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
            char c = q[1];
            q += 2;
            while (*q && !(q[0] == c && q[1] == ']'))
                q++;
            if (*q)
                q += 2;
            continue;
        }
        q++;
    }
    return *q ? q : q - 1;
}

/*
 * "{n}", "{n,}", "{n,m}" or glibc's "{,m}" at p: the copies regcomp makes of what it repeats
 * (at most MASK_MAX_ELEMENTS + 1), with *end at the '}'; 0 when p does not start an interval.
 */
static size_t interval_copies(const char *p, const char **end)
{
    const char *q = p + 1;
    size_t n = 0, m;
    if ((*q < '0' || *q > '9') && !(*q == ',' && q[1] >= '0' && q[1] <= '9'))
        return 0;
    for (; *q >= '0' && *q <= '9'; q++)
        n = n > MASK_MAX_ELEMENTS ? n : n * 10 + (size_t)(*q - '0');
    m = n;
    if (*q == ',') {
        m = n + 1; /* {n,}: n copies and a star */
        if (q[1] >= '0' && q[1] <= '9')
            for (m = 0, q++; *q >= '0' && *q <= '9'; q++)
                m = m > MASK_MAX_ELEMENTS ? m : m * 10 + (size_t)(*q - '0');
        else
            q++;
    }
    if (*q != '}')
        return 0;
    *end = q;
    m = m > n ? m : n;
    return m == 0 ? 1 : m > MASK_MAX_ELEMENTS ? MASK_MAX_ELEMENTS + 1 : m;
}

/*
 * Why regcomp could not compile a text mask in bounded time and memory, or NULL when it
 * can. glibc copies what a repetition repeats ("x{3}" is "xxx", "x+" is "xx*"), so nested
 * repetitions grow the compiled pattern exponentially (a mask of 30 bytes can take
 * gigabytes, or overflow its stack), deep nesting overflows its recursion, and its epsilon
 * closures make even a linear count of optional copies quadratic ("(x?){9999}" takes 7 GB):
 * count the copies first. A repetition of a repetition ("x+?", "x*+") is refused outright:
 * it adds nothing in POSIX syntax (which has no lazy or possessive forms, so "x*?" is not
 * what a PCRE user means), and 70 stacked "?" took glibc minutes.
 */
static const char *mask_problem(const char *pat, char *why, size_t cap)
{
    size_t total[MASK_MAX_DEPTH + 1], last[MASK_MAX_DEPTH + 1];
    int depth = 0, repeated = 0; /* the atom before has a repetition already */
    total[0] = last[0] = 0;
    for (const char *p = pat; *p; p++) {
        size_t atom = 1, copies = 0;
        const char *at = p;
        switch (*p) {
        case '\\':
            if (p[1])
                p++;
            break;
        case '[':
            p = bracket_end(p);
            break;
        case '(':
            if (depth == MASK_MAX_DEPTH) {
                snprintf(why, cap, "groups nest deeper than %d", MASK_MAX_DEPTH);
                return why;
            }
            depth++;
            total[depth] = last[depth] = 0;
            repeated = 0;
            continue;
        case ')':
            if (depth > 0)
                atom = total[depth--] + 1;
            break;
        case '|':
            last[depth] = 0;
            total[depth]++; /* a node of its own */
            repeated = 0;
            continue;
        case '*':
        case '?':
            copies = 1;
            break;
        case '+':
            copies = 2;
            break;
        case '{':
            copies = interval_copies(p, &p);
            break;
        }
        if (copies > 0 && repeated) {
            snprintf(why, cap, "a repetition of a repetition (\"%.*s\" at offset %zu)",
                     (int)(p - at + 1) < 20 ? (int)(p - at + 1) : 20, at, (size_t)(at - pat));
            return why;
        }
        repeated = copies > 0;
        if (copies > 0) {
            /* the copies, and the node that makes them optional or repeated */
            total[depth] += last[depth] * (copies - 1) + 1;
            last[depth] = last[depth] * copies + 1;
        } else {
            total[depth] += atom;
            last[depth] = atom;
        }
        if (total[depth] > MASK_MAX_ELEMENTS) {
            snprintf(why, cap, "repetitions expand it past %d elements", MASK_MAX_ELEMENTS);
            return why;
        }
    }
    return NULL;
}

int sdiff_differ_new(struct sdiff_differ **out, const struct sdiff_diff_opts *o,
                     struct sdiff_err *err)
{
    static const struct sdiff_diff_opts none = {0};
    struct sdiff_differ *d = sdiff_calloc(1, sizeof *d);
    int rc = SDIFF_ENOMEM;
    *out = NULL;
    if (o == NULL)
        o = &none;
    if (d == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "diff", "out of memory");
    d->max_decoded = o->max_decoded ? o->max_decoded : 64u << 20;
    d->max_compare = o->max_compare ? o->max_compare : 16u << 20;
    d->max_items = o->max_items ? o->max_items : 50;
    for (int i = 0; i < 2; i++) {
        sdiff_buf_init(&d->dec[i], d->max_decoded);
        sdiff_buf_init(&d->masked[i], d->max_decoded);
    }
    struct sdiff_jdiff_opts jo = SDIFF_JDIFF_OPTS_INIT;
    if (o->json)
        jo = *o->json;
    jo.max_bytes = d->max_decoded;
    jo.max_deltas = d->max_items * 4; /* room for noise to be filtered out */
    d->preset = o->preset;
    if (o->preset == SDIFF_PRESET_PYTHON_GO)
        jo.time_instants = 1;
    rc = sdiff_jdiff_new(&d->jd, &jo, err);
    if (rc < 0)
        goto fail;
    rc = SDIFF_ENOMEM;
    d->ignore = copy_lower(o->ignore_headers, o->nignore_headers);
    d->compare = copy_lower(o->compare_headers, o->ncompare_headers);
    if (d->ignore == NULL || d->compare == NULL)
        goto fail;
    d->nignore = o->nignore_headers;
    d->ncompare = o->ncompare_headers;
    d->masks = sdiff_calloc(o->nmasks ? o->nmasks : 1, sizeof *d->masks);
    if (d->masks == NULL)
        goto fail;
    for (size_t i = 0; i < o->nmasks; i++) {
        char problem[96];
        if (mask_problem(o->masks[i].pattern, problem, sizeof problem) != NULL) {
            rc = sdiff_err_set(err, SDIFF_EINVAL, "diff", "text mask /%s/: %s",
                               o->masks[i].pattern, problem);
            goto fail;
        }
        int rrc = regcomp(&d->masks[i].re, o->masks[i].pattern, REG_EXTENDED);
        if (rrc != 0) {
            char why[120];
            regerror(rrc, &d->masks[i].re, why, sizeof why);
            rc = sdiff_err_set(err, SDIFF_EINVAL, "diff", "text mask /%s/: %s",
                               o->masks[i].pattern, why);
            goto fail;
        }
        d->nmasks = i + 1;
        d->masks[i].replace = sdiff_strdup(o->masks[i].replace ? o->masks[i].replace : "");
        if (d->masks[i].replace == NULL)
            goto fail;
    }
    *out = d;
    return SDIFF_OK;
fail:
    if (rc == SDIFF_ENOMEM)
        sdiff_err_set(err, SDIFF_ENOMEM, "diff", "out of memory");
    sdiff_differ_free(d);
    return rc;
}

void sdiff_differ_free(struct sdiff_differ *d)
{
    if (d == NULL)
        return;
    sdiff_jdiff_free(d->jd);
    free_strs(d->ignore, d->nignore);
    free_strs(d->compare, d->ncompare);
    for (size_t i = 0; d->masks && i < d->nmasks; i++) {
        regfree(&d->masks[i].re);
        sdiff_free(d->masks[i].replace);
    }
    sdiff_free(d->masks);
    for (int i = 0; i < 2; i++) {
        sdiff_buf_dispose(&d->dec[i]);
        sdiff_buf_dispose(&d->masked[i]);
    }
    sdiff_free(d);
}

void sdiff_diff_result_dispose(struct sdiff_diff_result *res)
{
    if (res == NULL)
        return;
    for (size_t i = 0; i < res->nitems; i++) {
        sdiff_free(res->items[i].path);
        sdiff_free(res->items[i].primary);
        sdiff_free(res->items[i].candidate);
    }
    sdiff_free(res->items);
    memset(res, 0, sizeof *res);
}

/* ---- result items ---------------------------------------------------------------------- */

static int add_item(struct sdiff_differ *d, struct sdiff_diff_result *res, const char *path,
                    const char *kind, const char *primary, size_t plen, const char *candidate,
                    size_t clen)
{
    if (res->nitems >= d->max_items) {
        res->nomitted++;
        return SDIFF_OK;
    }
    if ((res->nitems & (res->nitems - 1)) == 0) {
        size_t cap = res->nitems ? res->nitems * 2 : 4;
        struct sdiff_diff_item *v = sdiff_realloc(res->items, cap * sizeof *v);
        if (v == NULL)
            return SDIFF_ENOMEM;
        res->items = v;
    }
    struct sdiff_diff_item *it = &res->items[res->nitems];
    it->kind = kind;
    it->hint = NULL;
    it->path = sdiff_strdup(path);
    it->primary = primary ? sdiff_strndup(primary, plen) : NULL;
    it->candidate = candidate ? sdiff_strndup(candidate, clen) : NULL;
    if (it->path == NULL || (primary && !it->primary) || (candidate && !it->candidate)) {
        sdiff_free(it->path);
        sdiff_free(it->primary);
        sdiff_free(it->candidate);
        return SDIFF_ENOMEM;
    }
    res->nitems++;
    return SDIFF_OK;
}

/* ---- headers --------------------------------------------------------------------------- */

struct hval {
    char name[64];
    const struct sdiff_hfield *first;
    struct sdiff_buf joined; /* values joined with ", " in wire order */
};

static int header_ignored(const struct sdiff_differ *d, const char *lname, size_t len)
{
    for (size_t i = 0; i < d->ncompare; i++)
        if (strlen(d->compare[i]) == len && memcmp(d->compare[i], lname, len) == 0)
            return 0;
    for (size_t i = 0; i < d->nignore; i++)
        if (strlen(d->ignore[i]) == len && memcmp(d->ignore[i], lname, len) == 0)
            return 1;
    return sdiff_diff_header_ignored_by_default(lname, len);
}

/* Collect the compared headers of m, lowercased and joined, sorted by name. */
static int collect_headers(const struct sdiff_differ *d, const struct sdiff_msg *m,
                           struct hval **out, size_t *n_out)
{
    struct hval *v = sdiff_calloc(m->nheaders ? m->nheaders : 1, sizeof *v);
    size_t n = 0;
    if (v == NULL)
        return SDIFF_ENOMEM;
    for (size_t i = 0; i < m->nheaders; i++) {
        const struct sdiff_hfield *h = &m->headers[i];
        char lname[64];
        if (h->name_len >= sizeof lname)
            continue;
        for (size_t k = 0; k < h->name_len; k++) {
            char c = h->name[k];
            lname[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        lname[h->name_len] = '\0';
        if (header_ignored(d, lname, h->name_len))
            continue;
        size_t j = 0;
        while (j < n && strcmp(v[j].name, lname) != 0)
            j++;
        int rc;
        if (j == n) {
            memcpy(v[n].name, lname, h->name_len + 1);
            v[n].first = h;
            sdiff_buf_init(&v[n].joined, 1u << 20);
            n++;
            rc = sdiff_buf_append(&v[j].joined, h->value, h->value_len);
        } else {
            rc = sdiff_buf_append(&v[j].joined, ", ", 2);
            rc = rc < 0 ? rc : sdiff_buf_append(&v[j].joined, h->value, h->value_len);
        }
        if (rc == SDIFF_ENOMEM) {
            for (size_t k = 0; k < n; k++)
                sdiff_buf_dispose(&v[k].joined);
            sdiff_free(v);
            return rc;
        }
    }
    /* insertion sort: header counts are small */
    for (size_t i = 1; i < n; i++) {
        struct hval t = v[i];
        size_t j = i;
        while (j > 0 && strcmp(v[j - 1].name, t.name) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = t;
    }
    *out = v;
    *n_out = n;
    return SDIFF_OK;
}

static void free_hvals(struct hval *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sdiff_buf_dispose(&v[i].joined);
    sdiff_free(v);
}

static const char *hv_str(const struct hval *h)
{
    return h->joined.data ? (const char *)h->joined.data : "";
}

/*
 * Content-Type by meaning: lowercase type/subtype, parameters sorted, names lowercased,
 * charset value lowercased, quotes and spaces dropped.
 */
static void canon_content_type(const char *s, char *out, size_t cap)
{
    char params[8][128];
    size_t np = 0, o = 0;
    const char *p = s;
    while (*p == ' ')
        p++;
    while (*p && *p != ';' && o + 1 < cap) {
        if (*p != ' ' && *p != '\t')
            out[o++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        p++;
    }
    out[o] = '\0';
    while (*p == ';' && np < 8) {
        p++;
        size_t k = 0;
        int in_value = 0, is_charset = 0;
        while (*p && *p != ';' && k + 1 < sizeof params[0]) {
            char c = *p++;
            if (c == ' ' || c == '\t' || c == '"')
                continue;
            if (c == '=') {
                in_value = 1;
                params[np][k] = '\0';
                is_charset = strcmp(params[np], "charset") == 0;
            } else if ((!in_value || is_charset) && c >= 'A' && c <= 'Z') {
                c = (char)(c + 32);
            }
            params[np][k++] = c;
        }
        params[np][k] = '\0';
        if (k > 0)
            np++;
        while (*p && *p != ';')
            p++;
    }
    for (size_t i = 1; i < np; i++)
        for (size_t j = i; j > 0 && strcmp(params[j - 1], params[j]) > 0; j--) {
            char t[128];
            memcpy(t, params[j], sizeof t);
            memcpy(params[j], params[j - 1], sizeof t);
            memcpy(params[j - 1], t, sizeof t);
        }
    for (size_t i = 0; i < np; i++)
        o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, ";%s", params[i]);
}

/* Comma-separated token lists (Vary, Allow) compare as case-insensitive sets. */
static int token_set_equal(const char *a, const char *b)
{
    char ta[32][64], tb[32][64];
    size_t na = 0, nb = 0;
    for (int side = 0; side < 2; side++) {
        const char *p = side ? b : a;
        char(*t)[64] = side ? tb : ta;
        size_t *n = side ? &nb : &na;
        while (*p && *n < 32) {
            while (*p == ' ' || *p == ',')
                p++;
            size_t k = 0;
            while (*p && *p != ',' && k + 1 < 64) {
                if (*p != ' ')
                    t[*n][k++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
                p++;
            }
            t[*n][k] = '\0';
            if (k)
                (*n)++;
            while (*p && *p != ',')
                p++;
        }
    }
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++) {
        size_t j = 0;
        while (j < nb && strcmp(ta[i], tb[j]) != 0)
            j++;
        if (j == nb)
            return 0;
    }
    return 1;
}

/* 1 same bytes, 2 same meaning, 0 different. */
static int header_values_match(const char *name, const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return 1;
    if (strcmp(name, "content-type") == 0) {
        char ca[512], cb[512];
        canon_content_type(a, ca, sizeof ca);
        canon_content_type(b, cb, sizeof cb);
        return strcmp(ca, cb) == 0 ? 2 : 0;
    }
    if (strcmp(name, "vary") == 0 || strcmp(name, "allow") == 0 ||
        strcmp(name, "access-control-allow-methods") == 0 ||
        strcmp(name, "access-control-allow-headers") == 0)
        return token_set_equal(a, b) ? 2 : 0;
    return 0;
}

/* Set-Cookie without its Expires attributes (a date that moves with the time of the answer). */
static void drop_expires(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    while (*s && o + 1 < cap) {
        if (*s == ';') {
            const char *a = s + 1;
            while (*a == ' ')
                a++;
            if (strncasecmp(a, "expires=", 8) == 0) {
                const char *gmt = strstr(a, "GMT");
                const char *semi = strchr(a, ';');
                if (gmt && gmt - a < 48 && (semi == NULL || gmt < semi))
                    s = gmt + 3;
                else
                    s = semi ? semi : a + strlen(a);
                continue;
            }
        }
        out[o++] = *s++;
    }
    out[o] = '\0';
}

/*
 * Secret headers hold keyed hashes (shadowdiff/redact.h), or raw values with --keep-secrets:
 * the same secret on both sides is equal. The "[redacted]" of older databases says nothing
 * about the value, so there only presence counts. 1 same, 2 same but for Expires, 0 different.
 */
static int secret_values_match(const char *name, const char *a, const char *b)
{
    if (strstr(a, "[redacted]") != NULL || strstr(b, "[redacted]") != NULL || strcmp(a, b) == 0)
        return 1;
    if (strcmp(name, "set-cookie") == 0) {
        char ca[1024], cb[1024];
        drop_expires(a, ca, sizeof ca);
        drop_expires(b, cb, sizeof cb);
        return strcmp(ca, cb) == 0 ? 2 : 0;
    }
    return 0;
}

static int noise_has_header(const struct sdiff_noise *noise, const char *route,
                            const char *lname)
{
    char key[96];
    if (noise == NULL)
        return 0;
    snprintf(key, sizeof key, "header:%s", lname);
    return sdiff_noise_has(noise, route, key);
}

/* The Vary list without its Accept-Encoding member ("Accept-Encoding, Origin" -> "origin"). */
static void vary_without_accept_encoding(const char *v, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        size_t n = strcspn(v, ",");
        size_t k = n;
        while (k > 0 && (v[k - 1] == ' ' || v[k - 1] == '\t'))
            k--;
        if (k && !(k == 15 && strncasecmp(v, "accept-encoding", 15) == 0) && o + k + 3 < cap) {
            if (o)
                out[o++] = ',';
            memcpy(out + o, v, k);
            o += k;
            out[o] = '\0';
        }
        v += n;
    }
}

static int identity_coded(const struct sdiff_msg *m)
{
    const struct sdiff_hfield *h = m->present ? sdiff_msg_header(m, "content-encoding") : NULL;
    return h == NULL || h->value[0] == '\0' || strcasecmp(h->value, "identity") == 0;
}

/*
 * A Vary difference that only follows from the encoding: the primary compressed and said
 * Vary: Accept-Encoding, the candidate answered identity-coded and had no reason to. Then the
 * primary's list without Accept-Encoding must match the candidate's (absent = empty). A
 * compressed candidate answer without Vary stays different: a cache would serve its gzip to
 * clients that cannot take it. 1 when the rule makes them equal.
 */
static int vary_follows_encoding(const struct sdiff_msg *c, const char *pv, const char *cv)
{
    char rest[512];
    if (pv == NULL || !identity_coded(c))
        return 0;
    vary_without_accept_encoding(pv, rest, sizeof rest);
    if (cv == NULL)
        return rest[0] == '\0';
    return token_set_equal(rest, cv);
}

static int compare_headers(struct sdiff_differ *d, const struct sdiff_msg *p,
                           const struct sdiff_msg *c, const char *route,
                           const struct sdiff_noise *noise, struct sdiff_diff_result *res,
                           int *differs)
{
    struct hval *hp = NULL, *hc = NULL;
    size_t np = 0, nc = 0, i = 0, j = 0;
    int rc = collect_headers(d, p, &hp, &np);
    rc = rc < 0 ? rc : collect_headers(d, c, &hc, &nc);
    while (rc >= 0 && (i < np || j < nc)) {
        int cmp = i == np ? 1 : j == nc ? -1 : strcmp(hp[i].name, hc[j].name);
        const char *name = cmp <= 0 ? hp[i].name : hc[j].name;
        char path[96];
        snprintf(path, sizeof path, "header:%s", name);
        int secret = sdiff_header_is_secret(name, strlen(name));
        int match = cmp != 0 ? 0
                    : secret ? secret_values_match(name, hv_str(&hp[i]), hv_str(&hc[j]))
                             : header_values_match(name, hv_str(&hp[i]), hv_str(&hc[j]));
        if (match == 2)
            res->reasons |= SDIFF_REASON_HEADER_SPELLING;
        if (match == 0 && cmp <= 0 && strcmp(name, "vary") == 0 &&
            vary_follows_encoding(c, hv_str(&hp[i]), cmp == 0 ? hv_str(&hc[j]) : NULL)) {
            match = 2;
            res->reasons |= SDIFF_REASON_CONTENT_ENCODING;
        }
        if (match == 0) {
            if (noise_has_header(noise, route, name)) {
                res->reasons |= SDIFF_REASON_NOISE;
                res->noise_hits++;
            } else {
                *differs = 1;
                const char *pv = cmp <= 0 ? hv_str(&hp[i]) : NULL;
                const char *cv = cmp >= 0 ? hv_str(&hc[j]) : NULL;
                const char *kind = cmp < 0 ? "missing" : cmp > 0 ? "extra" : "changed";
                rc = add_item(d, res, path, kind, pv, pv ? strlen(pv) : 0, cv,
                              cv ? strlen(cv) : 0);
            }
        }
        if (cmp <= 0)
            i++;
        if (cmp >= 0)
            j++;
    }
    free_hvals(hp, np);
    free_hvals(hc, nc);
    return rc;
}

/* ---- bodies ---------------------------------------------------------------------------- */

static const char *header_value(const struct sdiff_msg *m, const char *name)
{
    const struct sdiff_hfield *h = m->present ? sdiff_msg_header(m, name) : NULL;
    return h ? h->value : NULL;
}

static int media_is_json(const char *ct)
{
    if (ct == NULL)
        return 0;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    if (n >= 16 && strncasecmp(ct, "application/json", 16) == 0 && n == 16)
        return 1;
    return n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}

static int media_is_text(const char *ct)
{
    if (ct == NULL)
        return 0;
    return strncasecmp(ct, "text/", 5) == 0 || strstr(ct, "xml") != NULL ||
           strncasecmp(ct, "application/javascript", 22) == 0 ||
           strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

static int looks_json(struct sdiff_slice s)
{
    size_t i = 0;
    while (i < s.len && (s.p[i] == ' ' || s.p[i] == '\n' || s.p[i] == '\r' || s.p[i] == '\t'))
        i++;
    return i < s.len && (s.p[i] == '{' || s.p[i] == '[');
}

static int looks_text(struct sdiff_slice s)
{
    size_t n = s.len < 4096 ? s.len : 4096;
    return memchr(s.p, 0, n) == NULL;
}

/*
 * A short display of bytes around an offset, as printable text. Both ends fall on character
 * boundaries: a UTF-8 character cut in two would make the whole value invalid text, and JSON
 * writers drop such strings.
 */
static void snippet(struct sdiff_slice s, size_t at, char *out, size_t cap)
{
    size_t from = at > 40 ? at - 40 : 0, o = 0;
    size_t floor = from > 3 ? from - 3 : 0;
    while (from > floor && from < s.len && (s.p[from] & 0xc0) == 0x80)
        from--;
    if (from > 0 && o + 3 < cap) {
        memcpy(out, "...", 3);
        o = 3;
    }
    size_t i = from;
    while (i < s.len && i < at + 60) {
        unsigned char c = s.p[i];
        size_t n = c >= 0x80 ? sdiff_utf8_len(s.p + i, s.len - i) : 1;
        if (o + (n > 1 ? n : 4) + 4 >= cap)
            break;
        if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c < 0x20 || c == 0x7f || n == 0) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        } else if (n > 1) {
            memcpy(out + o, s.p + i, n);
            o += n;
            i += n;
            continue;
        } else {
            out[o++] = (char)c;
        }
        i++;
    }
    if (i < s.len && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static const char *kind_of(const char *ct, struct sdiff_slice s)
{
    if (media_is_json(ct) || looks_json(s))
        return "json";
    return looks_text(s) ? "text" : "binary";
}

static size_t first_diff(struct sdiff_slice a, struct sdiff_slice b)
{
    size_t n = a.len < b.len ? a.len : b.len, i = 0;
    while (i < n && a.p[i] == b.p[i])
        i++;
    return i;
}

/* Replace every mask match in s, into out. Returns 1 when something was replaced. */
static int apply_masks(struct sdiff_differ *d, struct sdiff_slice s, struct sdiff_buf *out)
{
    int changed = 0;
    sdiff_buf_reset(out);
    if (sdiff_buf_append(out, s.p, s.len) < 0)
        return -1;
    for (size_t m = 0; m < d->nmasks; m++) {
        struct sdiff_buf next;
        sdiff_buf_init(&next, out->max);
        const char *p = (const char *)out->data;
        size_t left = out->len;
        regmatch_t rm;
        int any = 0;
        /* regexec needs a C string: bodies with NUL bytes are not text and never get here */
        while (left > 0 && regexec(&d->masks[m].re, p, 1, &rm, 0) == 0 && rm.rm_eo > 0) {
            sdiff_buf_append(&next, p, (size_t)rm.rm_so);
            sdiff_buf_puts(&next, d->masks[m].replace);
            p += rm.rm_eo;
            left -= (size_t)rm.rm_eo;
            any = 1;
        }
        if (any) {
            sdiff_buf_append(&next, p, left);
            sdiff_buf_dispose(out);
            *out = next;
            changed = 1;
        } else {
            sdiff_buf_dispose(&next);
        }
    }
    return changed;
}

/* Map the JSON differ's reasons onto ours. */
static unsigned json_reasons(unsigned r)
{
    unsigned out = 0;
    if (r & SDIFF_JDIFF_KEY_ORDER)
        out |= SDIFF_REASON_KEY_ORDER;
    if (r & SDIFF_JDIFF_NUMBER_SPELLING)
        out |= SDIFF_REASON_NUMBER_SPELLING;
    if (r & SDIFF_JDIFF_STRING_ESCAPES)
        out |= SDIFF_REASON_STRING_ESCAPES;
    if (r & SDIFF_JDIFF_WHITESPACE)
        out |= SDIFF_REASON_WHITESPACE;
    if (r & SDIFF_JDIFF_ARRAY_ORDER)
        out |= SDIFF_REASON_ARRAY_ORDER;
    if (r & SDIFF_JDIFF_TOLERANCE)
        out |= SDIFF_REASON_TOLERANCE;
    if (r & SDIFF_JDIFF_IGNORED)
        out |= SDIFF_REASON_IGNORED;
    if (r & SDIFF_JDIFF_DUPLICATE_KEY)
        out |= SDIFF_REASON_DUPLICATE_KEY;
    if (r & SDIFF_JDIFF_TIME_SPELLING)
        out |= SDIFF_REASON_TIME_SPELLING;
    return out;
}

static const char *kind_name(enum sdiff_delta_kind k)
{
    switch (k) {
    case SDIFF_DELTA_CHANGED: return "changed";
    case SDIFF_DELTA_TYPE_CHANGED: return "type_changed";
    case SDIFF_DELTA_MISSING: return "missing";
    case SDIFF_DELTA_EXTRA: return "extra";
    case SDIFF_DELTA_ORDER: return "order";
    case SDIFF_DELTA_LENGTH: return "length";
    }
    return "changed";
}

void sdiff_noise_key(const char *path, char *out, size_t cap)
{
    sdiff__path_pattern(path, out, cap);
}

int sdiff__path_pattern(const char *path, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = path; *p && o + 4 < cap; p++) {
        if (*p == '[' && p[1] >= '0' && p[1] <= '9') {
            const char *q = p + 1;
            while (*q >= '0' && *q <= '9')
                q++;
            if (*q == ']') {
                memcpy(out + o, "[*]", 3);
                o += 3;
                p = q;
                continue;
            }
        }
        out[o++] = *p;
    }
    out[o] = '\0';
    return (int)o;
}

static int body_json(struct sdiff_differ *d, struct sdiff_slice a, struct sdiff_slice b,
                     const char *route, const struct sdiff_noise *noise,
                     struct sdiff_diff_result *res, int *differs, int *parsed)
{
    struct sdiff_jdiff_result jr;
    struct sdiff_err jerr = {0};
    int rc = sdiff_jdiff_run(d->jd, a, b, &jr, &jerr);
    *parsed = rc >= 0;
    if (rc == SDIFF_ENOMEM) {
        sdiff_jdiff_result_dispose(&jr);
        return rc;
    }
    if (rc < 0) {
        /* not JSON after all (or nested past the reader's depth): compared as text by the
         * caller, and the note says why, so that a text diff of a JSON body is explained */
        sdiff_jdiff_result_dispose(&jr);
        if (res->note[0] == '\0')
            snprintf(res->note, sizeof res->note, "compared as text, not as JSON: %.160s",
                     jerr.msg);
        return SDIFF_OK;
    }
    res->body_kind = "json";
    res->reasons |= json_reasons(jr.reasons);
    for (size_t i = 0; i < jr.ndeltas && rc >= 0; i++) {
        const struct sdiff_delta *dl = &jr.deltas[i];
        char pat[512];
        sdiff__path_pattern(dl->path, pat, sizeof pat);
        if (noise && (sdiff_noise_has(noise, route, pat) || sdiff_noise_has(noise, route, dl->path))) {
            res->reasons |= SDIFF_REASON_NOISE;
            res->noise_hits++;
            continue;
        }
        *differs = 1;
        rc = add_item(d, res, dl->path, kind_name(dl->kind), dl->left,
                      dl->left ? strlen(dl->left) : 0, dl->right,
                      dl->right ? strlen(dl->right) : 0);
    }
    if (jr.nomitted) {
        *differs = 1;
        res->nomitted += jr.nomitted;
    }
    sdiff_jdiff_result_dispose(&jr);
    return rc;
}

static int body_text(struct sdiff_differ *d, struct sdiff_slice a, struct sdiff_slice b,
                     struct sdiff_diff_result *res, int *differs)
{
    res->body_kind = "text";
    if (d->nmasks > 0) {
        int ma = apply_masks(d, a, &d->masked[0]);
        int mb = apply_masks(d, b, &d->masked[1]);
        if (ma < 0 || mb < 0)
            return SDIFF_ENOMEM;
        struct sdiff_slice xa = {d->masked[0].data, d->masked[0].len};
        struct sdiff_slice xb = {d->masked[1].data, d->masked[1].len};
        if ((ma || mb) && xa.len == xb.len && memcmp(xa.p, xb.p, xa.len) == 0) {
            res->reasons |= SDIFF_REASON_TEXT_MASK;
            return SDIFF_OK;
        }
        if (ma || mb) {
            a = xa;
            b = xb;
        }
    }
    *differs = 1;
    size_t at = first_diff(a, b);
    size_t line = 1;
    for (size_t i = 0; i < at; i++)
        line += a.p[i] == '\n';
    char path[64], sa[256], sb[256];
    snprintf(path, sizeof path, "body:line %zu", line);
    snippet(a, at, sa, sizeof sa);
    snippet(b, at, sb, sizeof sb);
    return add_item(d, res, path, a.len == b.len ? "changed" : "length", sa, strlen(sa), sb,
                    strlen(sb));
}

static int body_binary(struct sdiff_differ *d, struct sdiff_slice a, struct sdiff_slice b,
                       struct sdiff_diff_result *res, int *differs)
{
    char pa[96], pb[96], path[64];
    *differs = 1;
    if (res->body_kind == NULL)
        res->body_kind = "binary";
    size_t at = first_diff(a, b);
    snprintf(path, sizeof path, "body:byte %zu", at);
    snprintf(pa, sizeof pa, "%zu bytes, crc32 %08lx", a.len,
             crc32(crc32(0L, Z_NULL, 0), a.p, (uInt)(a.len > UINT32_MAX ? UINT32_MAX : a.len)));
    snprintf(pb, sizeof pb, "%zu bytes, crc32 %08lx", b.len,
             crc32(crc32(0L, Z_NULL, 0), b.p, (uInt)(b.len > UINT32_MAX ? UINT32_MAX : b.len)));
    return add_item(d, res, path, a.len == b.len ? "changed" : "length", pa, strlen(pa), pb,
                    strlen(pb));
}

/* Decode one side's content coding into buf; *s points at what to compare. */
static int decode_side(struct sdiff_differ *d, const struct sdiff_msg *m, int side,
                       struct sdiff_slice *s, int *decoded, struct sdiff_err *err)
{
    const char *enc = header_value(m, "content-encoding");
    enum sdiff_codec_result cr;
    *decoded = 0;
    if (enc == NULL)
        return SDIFF_OK;
    sdiff_buf_reset(&d->dec[side]);
    int rc = sdiff_codec_decode(enc, *s, d->max_decoded, &d->dec[side], &cr, err);
    if (rc < 0)
        return rc;
    if (cr == SDIFF_CODEC_DECODED) {
        *s = (struct sdiff_slice){d->dec[side].data, d->dec[side].len};
        *decoded = 1;
    }
    return SDIFF_OK;
}

static int compare_bodies(struct sdiff_differ *d, const struct sdiff_msg *p,
                          const struct sdiff_msg *c, const char *route,
                          const struct sdiff_noise *noise, struct sdiff_diff_result *res,
                          int *differs)
{
    /* An empty body may be NULL; mem* functions and the JSON reader want a real pointer. */
    static const uint8_t none[1];
    struct sdiff_slice a = {p->body_len > 0 ? p->body : none, p->body_len};
    struct sdiff_slice b = {c->body_len > 0 ? c->body : none, c->body_len};
    if (a.len == 0 && b.len == 0) {
        res->body_kind = "empty";
        res->bytes_equal = 1;
        return SDIFF_OK;
    }
    if (a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0)) {
        res->bytes_equal = 1;
        const char *ce_p = header_value(p, "content-encoding"), *ce_c = header_value(c, "content-encoding");
        if ((ce_p == NULL) != (ce_c == NULL) || (ce_p && strcasecmp(ce_p, ce_c) != 0)) {
            /* same bytes labelled with different codings: a real difference */
            *differs = 1;
            return add_item(d, res, "header:content-encoding", ce_p ? (ce_c ? "changed" : "missing") : "extra",
                            ce_p, ce_p ? strlen(ce_p) : 0, ce_c, ce_c ? strlen(ce_c) : 0);
        }
        res->body_kind = kind_of(header_value(p, "content-type"), a);
        return SDIFF_OK;
    }
    if (a.len > d->max_compare || b.len > d->max_compare)
        return body_binary(d, a, b, res, differs);

    struct sdiff_err derr = {0};
    int dec_a = 0, dec_b = 0;
    int rc = decode_side(d, p, 0, &a, &dec_a, &derr);
    if (rc == SDIFF_ENOMEM)
        return rc;
    /* The primary's body could not be decoded: compare what was sent. */
    rc = decode_side(d, c, 1, &b, &dec_b, &derr);
    if (rc == SDIFF_ENOMEM)
        return rc;
    if (rc == SDIFF_ELIMIT) {
        res->cls = SDIFF_CLASS_ERROR;
        snprintf(res->note, sizeof res->note, "candidate body: %.180s", derr.msg);
        return SDIFF_OK;
    }
    if (rc < 0) {
        *differs = 1;
        return add_item(d, res, "body", "changed", "decodable body", 15, derr.msg,
                        strlen(derr.msg));
    }
    if (dec_a || dec_b) {
        if (a.len == b.len && memcmp(a.p, b.p, a.len) == 0) {
            res->reasons |= SDIFF_REASON_CONTENT_ENCODING;
            return SDIFF_OK;
        }
        res->reasons |= SDIFF_REASON_CONTENT_ENCODING;
    }
    const char *ct_p = header_value(p, "content-type"), *ct_c = header_value(c, "content-type");
    int json = media_is_json(ct_p) || media_is_json(ct_c) || (looks_json(a) && looks_json(b));
    if (json) {
        int parsed = 0;
        rc = body_json(d, a, b, route, noise, res, differs, &parsed);
        if (rc < 0 || parsed)
            return rc;
        /* one side is not JSON: say so, then show where the bytes part */
    }
    if (looks_text(a) && looks_text(b) && (media_is_text(ct_p) || media_is_json(ct_p) ||
                                           ct_p == NULL || json))
        return body_text(d, a, b, res, differs);
    return body_binary(d, a, b, res, differs);
}

/* ---- presets ---------------------------------------------------------------------------- */

int sdiff_preset_parse(const char *name, enum sdiff_preset *out)
{
    if (name != NULL && strcmp(name, "python-go") == 0) {
        *out = SDIFF_PRESET_PYTHON_GO;
        return SDIFF_OK;
    }
    return SDIFF_EINVAL;
}

const char *sdiff_preset_str(enum sdiff_preset p)
{
    return p == SDIFF_PRESET_PYTHON_GO ? "python-go" : "";
}

/* A JSON integer literal (display value) and its digits without sign. */
static int json_int(const char *v, const char **digits)
{
    if (v == NULL)
        return 0;
    const char *p = v + (*v == '-');
    if (*p < '0' || *p > '9')
        return 0;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return 0;
    *digits = p;
    return 1;
}

/* Above 2^53 = 9007199254740992 in magnitude (digits without leading zeros). */
static int above_2_53(const char *digits)
{
    size_t n = strlen(digits);
    return n > 16 || (n == 16 && strcmp(digits, "9007199254740992") > 0);
}

/* A JSON number literal (display value, never cut: numbers are short). */
static int json_number(const char *v, double *out)
{
    if (v == NULL || (*v != '-' && (*v < '0' || *v > '9')))
        return 0;
    char *end;
    *out = strtod(v, &end);
    return *end == '\0';
}

/* The display value of a JSON string ("\"...\"") as a date-time. */
static int json_time(const char *v, struct sdiff_time *t)
{
    size_t n = v ? strlen(v) : 0;
    return n >= 2 && v[0] == '"' && v[n - 1] == '"' && sdiff_time_parse(v + 1, n - 2, t);
}

/* A JSON string holding a decimal number equal to the JSON number num. */
static int decimal_string_of(const char *str, const char *num)
{
    double a, b;
    size_t n = str ? strlen(str) : 0;
    if (n < 3 || str[0] != '"' || str[n - 1] != '"' || n > 64 || !json_number(num, &b))
        return 0;
    char inner[64];
    memcpy(inner, str + 1, n - 2);
    inner[n - 2] = '\0';
    return json_number(inner, &a) && a == b;
}

/*
 * One function from what is stored of a difference to its probable cause, so diff, the
 * judge, report and inspect agree. Each hint is a habit of Go's standard library (or of the
 * frameworks on the Python side) that a port runs into; README "--preset python-go" lists
 * them row by row.
 */
const char *sdiff_diff_hint(enum sdiff_preset p, const char *path, const char *kind,
                            const char *primary, const char *candidate)
{
    if (p != SDIFF_PRESET_PYTHON_GO || path == NULL || kind == NULL)
        return NULL;
    if (strcmp(path, "status") == 0) {
        int a = primary ? atoi(primary) : 0, b = candidate ? atoi(candidate) : 0;
        if ((b == 301 || b == 308) && a != 301 && a != 308)
            return "trailing-slash redirect: Go's ServeMux redirects /path to /path/ (or the "
                   "route is registered with the other spelling)";
        if ((a == 422 && b == 400) || (a == 400 && b == 422))
            return "validation error status: FastAPI/pydantic answer 422, hand-written Go "
                   "handlers usually 400";
        return NULL;
    }
    if (strcmp(path, "header:content-type") == 0) {
        if (candidate && strncasecmp(candidate, "text/plain; charset=utf-8", 25) == 0)
            return "Go's default Content-Type: http.Error, or a Write before the header was "
                   "set, sends text/plain; charset=utf-8";
        return NULL;
    }
    if (path[0] != '$')
        return NULL;
    if (strcmp(kind, "type_changed") == 0 && primary && candidate) {
        if (strcmp(primary, "[]") == 0 && strcmp(candidate, "null") == 0)
            return "a nil slice: Go's encoding/json writes a nil slice as null (make it empty)";
        if (decimal_string_of(primary, candidate) || decimal_string_of(candidate, primary))
            return "a Decimal sent as a string on one side and a number on the other";
        return NULL;
    }
    if (strcmp(kind, "missing") == 0 && primary && strcmp(primary, "null") == 0)
        return "omitempty: a Go field tagged omitempty (or a nil pointer) drops the member "
               "the primary sends as null";
    if (strcmp(kind, "changed") != 0 || primary == NULL || candidate == NULL)
        return NULL;
    const char *da, *db;
    if (json_int(primary, &da) && json_int(candidate, &db) && above_2_53(da)) {
        double a, b;
        if (json_number(primary, &a) && json_number(candidate, &b) && a == b)
            return "an integer above 2^53 lost precision: decoded into float64 (use int64, "
                   "json.Number or a string)";
        return NULL;
    }
    struct sdiff_time ta, tb;
    if (json_time(primary, &ta) && json_time(candidate, &tb)) {
        if (ta.has_offset != tb.has_offset)
            return "a naive local time on one side and a time with an offset (UTC) on the "
                   "other";
        size_t na = strlen(ta.frac), nb = strlen(tb.frac);
        if (ta.has_offset && ta.secs == tb.secs && na != nb &&
            strncmp(ta.frac, tb.frac, na < nb ? na : nb) == 0)
            return "fractional seconds truncated: a different instant (a coarser time format "
                   "or column on one side)";
    }
    return NULL;
}

/* ---- classification -------------------------------------------------------------------- */

int sdiff_differ_compare(struct sdiff_differ *d, const struct sdiff_msg *p,
                         const struct sdiff_msg *c, const char *route,
                         const struct sdiff_noise *noise, struct sdiff_diff_result *res,
                         struct sdiff_err *err)
{
    int differs = 0, rc = SDIFF_OK;
    memset(res, 0, sizeof *res);
    res->cls = SDIFF_CLASS_IDENTICAL;
    res->status_equal = 1;
    if (p->present && c->present && p->status != c->status) {
        char a[16], b[16];
        snprintf(a, sizeof a, "%d", p->status);
        snprintf(b, sizeof b, "%d", c->status);
        res->status_equal = 0;
        differs = 1;
        rc = add_item(d, res, "status", "changed", a, strlen(a), b, strlen(b));
    }
    if (rc >= 0 && p->present && c->present)
        rc = compare_headers(d, p, c, route, noise, res, &differs);
    if (rc >= 0)
        rc = compare_bodies(d, p, c, route, noise, res, &differs);
    if (rc < 0) {
        sdiff_diff_result_dispose(res);
        return sdiff_err_set(err, rc, "diff", "out of memory comparing responses");
    }
    if (res->cls == SDIFF_CLASS_ERROR)
        return SDIFF_OK;
    for (size_t i = 0; d->preset != SDIFF_PRESET_NONE && i < res->nitems; i++) {
        struct sdiff_diff_item *it = &res->items[i];
        it->hint = sdiff_diff_hint(d->preset, it->path, it->kind, it->primary, it->candidate);
    }
    if (differs)
        res->cls = SDIFF_CLASS_DIFFERENT;
    else if (!res->bytes_equal || res->reasons)
        res->cls = SDIFF_CLASS_EQUIVALENT;
    return SDIFF_OK;
}

