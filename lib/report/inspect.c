/*
 * inspect.c - one stored result in detail: the request, both answers, the differences and
 * a curl command that sends the request to the candidate again.
 */
#include "shadowdiff/report.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "shadowdiff/codec.h"
#include "shadowdiff/jdiff.h"
#include "report/report_int.h"
#include "shadowdiff/store.h"

#define WHERE "inspect"
#define MAX_LINES 200
#define INLINE_BODY 4096 /* bodies up to this size go inline into the curl command */

int sdiff_report_shell_quote(struct sdiff_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int rc;
    if (sdiff_text_span(s, len, 0) == len) {
        rc = sdiff_buf_append(b, "'", 1);
        for (size_t i = 0; i < len && rc >= 0; i++)
            rc = s[i] == '\'' ? sdiff_buf_puts(b, "'\\''") : sdiff_buf_append(b, s + i, 1);
        return rc < 0 ? rc : sdiff_buf_append(b, "'", 1);
    }
    /* Something a terminal would act on (or not UTF-8): ANSI-C quoting gives curl the same
     * bytes while the screen shows only \xHH. */
    rc = sdiff_buf_append(b, "$'", 2);
    for (size_t i = 0; i < len && rc >= 0;) {
        size_t run = sdiff_text_span(s + i, len - i, 0);
        for (size_t k = i; k < i + run && rc >= 0; k++)
            rc = s[k] == '\'' || s[k] == '\\' ? sdiff_buf_printf(b, "\\%c", s[k])
                                             : sdiff_buf_append(b, s + k, 1);
        i += run;
        if (i < len && rc >= 0) {
            size_t n = sdiff_utf8_len(s + i, len - i);
            for (size_t k = 0; k < (n ? n : 1) && rc >= 0; k++, i++) {
                uint8_t c = (uint8_t)s[i];
                char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
                rc = sdiff_buf_append(b, e, 4);
            }
        }
    }
    return rc < 0 ? rc : sdiff_buf_append(b, "'", 1);
}

/*
 * A latency as SQLite spells a REAL (printf "%!.15g": always a decimal point), which is how
 * inspect has always shown it.
 */
static const char *fmt_ms(double v, char buf[40])
{
    if (v < 0)
        return "-";
    snprintf(buf, 40, "%.15g", v);
    if (strpbrk(buf, ".eEn") == NULL && strlen(buf) + 2 < 40)
        strcat(buf, ".0");
    return buf;
}

/* Value of header name in a stored [[name, value], ...] list (borrowed from hdrs), or NULL. */
static const char *header(json_t *hdrs, const char *name)
{
    size_t i;
    json_t *h;
    json_array_foreach(hdrs, i, h) {
        const char *n = json_string_value(json_array_get(h, 0));
        if (n && strcasecmp(n, name) == 0)
            return json_string_value(json_array_get(h, 1));
    }
    return NULL;
}

static void print_headers(FILE *f, json_t *hdrs)
{
    size_t i;
    json_t *h;
    json_array_foreach(hdrs, i, h) {
        const char *n = json_string_value(json_array_get(h, 0));
        const char *v = json_string_value(json_array_get(h, 1));
        fputs("  ", f);
        sdiff_fputs_text(f, n ? n : "?", 0);
        fputs(": ", f);
        sdiff_fputs_text(f, v ? v : "", 0);
        fputc('\n', f);
    }
}

/* A header name curl takes as one: an RFC 9110 token (never "@file", which -H reads). */
static int token(const char *n)
{
    if (*n == '\0')
        return 0;
    for (; *n; n++)
        if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') ||
              strchr("!#$%&'*+-.^_`|~", *n)))
            return 0;
    return 1;
}

static int printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t') || p[i] == 0x7f)
            return 0;
    return 1;
}

/* Up to MAX_LINES lines of text, each indented; escaped (sdiff_buf_text) but for line feeds
 * and tabs, so no byte of the body acts on the terminal. */
static void print_cut(FILE *f, const uint8_t *raw, size_t rawlen)
{
    struct sdiff_buf esc;
    sdiff_buf_init(&esc, SIZE_MAX);
    if (sdiff_buf_text(&esc, raw, rawlen, SDIFF_TEXT_NL | SDIFF_TEXT_TAB) < 0) {
        fprintf(f, "  (%zu bytes: out of memory)\n", rawlen);
        sdiff_buf_dispose(&esc);
        return;
    }
    const uint8_t *p = esc.data;
    size_t n = esc.len;
    size_t lines = 0, i = 0;
    fputs("  ", f);
    for (; i < n && lines < MAX_LINES; i++) {
        fputc(p[i], f);
        if (p[i] == '\n' && ++lines < MAX_LINES && i + 1 < n)
            fputs("  ", f);
    }
    if (i < n)
        fprintf(f, "\n  ... (cut at %d lines; %zu more bytes)\n", MAX_LINES, n - i);
    else if (n && p[n - 1] != '\n')
        fputc('\n', f);
    sdiff_buf_dispose(&esc);
}

/* Decode per Content-Encoding, pretty-print JSON, cut long bodies. */
static void print_body(FILE *f, json_t *hdrs, const uint8_t *p, size_t n)
{
    struct sdiff_buf dec, pretty;
    struct sdiff_err e = {0};
    enum sdiff_codec_result res = SDIFF_CODEC_IDENTITY;
    const char *enc = header(hdrs, "Content-Encoding");
    struct sdiff_text_ring T;
    sdiff_text_ring_init(&T);
    sdiff_buf_init(&dec, 64u << 20);
    sdiff_buf_init(&pretty, 4u << 20);
    if (n == 0) {
        fputs("  (empty body)\n", f);
        goto out;
    }
    if (enc && *enc) {
        if (sdiff_codec_decode(enc, (struct sdiff_slice){p, n}, 64u << 20, &dec, &res, &e) < 0)
            fprintf(f, "  (cannot decode %s: %s; showing raw bytes)\n", sdiff_text(&T, enc),
                    sdiff_text(&T, e.msg));
        else if (res == SDIFF_CODEC_DECODED) {
            fprintf(f, "  (%s-decoded: %zu -> %zu bytes)\n", sdiff_text(&T, enc), n, dec.len);
            p = dec.data ? dec.data : (const uint8_t *)"";
            n = dec.len;
        }
    }
    sdiff_err_clear(&e);
    if (sdiff_jdiff_valid((struct sdiff_slice){p, n}) &&
        sdiff_jdiff_pretty((struct sdiff_slice){p, n}, &pretty, &e) >= 0) {
        print_cut(f, pretty.data, pretty.len);
    } else if (printable(p, n)) {
        print_cut(f, p, n);
    } else {
        fprintf(f, "  (%zu bytes of binary data)\n", n);
    }
out:
    sdiff_buf_dispose(&dec);
    sdiff_buf_dispose(&pretty);
    sdiff_text_ring_dispose(&T);
}

static json_t *parse_headers(const char *s)
{
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    if (!json_is_array(j)) {
        json_decref(j);
        j = json_array();
    }
    return j;
}

static int hop_by_hop(const char *n)
{
    static const char *const skip[] = {"host", "connection", "keep-alive", "proxy-connection",
                                       "te", "trailer", "transfer-encoding", "upgrade",
                                       "content-length"};
    for (size_t i = 0; i < sizeof skip / sizeof *skip; i++)
        if (strcasecmp(n, skip[i]) == 0)
            return 1;
    return 0;
}

static int curl_line(struct sdiff_buf *b, const char *base, const char *method,
                     const char *target, json_t *hdrs, const uint8_t *body, size_t blen)
{
    int rc = sdiff_buf_puts(b, "curl -sS -i -X ");
    rc = rc < 0 ? rc : sdiff_report_shell_quote(b, method, strlen(method));
    size_t i;
    json_t *h;
    json_array_foreach(hdrs, i, h) {
        const char *n = json_string_value(json_array_get(h, 0));
        const char *v = json_string_value(json_array_get(h, 1));
        if (n == NULL || hop_by_hop(n) || !token(n))
            continue;
        struct sdiff_buf hv;
        sdiff_buf_init(&hv, 1u << 20);
        rc = rc < 0 ? rc : sdiff_buf_printf(&hv, "%s: %s", n, v ? v : "");
        rc = rc < 0 ? rc : sdiff_buf_puts(b, " -H ");
        rc = rc < 0 ? rc : sdiff_report_shell_quote(b, (const char *)hv.data, hv.len);
        sdiff_buf_dispose(&hv);
    }
    /* --data-raw: a body that starts with @ is data, never the name of a file to upload */
    int inline_body = blen > 0 && blen <= INLINE_BODY && memchr(body, 0, blen) == NULL;
    if (inline_body) {
        rc = rc < 0 ? rc : sdiff_buf_puts(b, " --data-raw ");
        rc = rc < 0 ? rc : sdiff_report_shell_quote(b, (const char *)body, blen);
    } else if (blen > 0) {
        rc = rc < 0 ? rc : sdiff_buf_puts(b, " --data-binary @-");
    }
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    struct sdiff_buf url;
    sdiff_buf_init(&url, 1u << 20);
    rc = rc < 0 ? rc : sdiff_buf_append(&url, base, bl);
    if (target[0] != '/')
        rc = rc < 0 ? rc : sdiff_buf_append(&url, "/", 1);
    rc = rc < 0 ? rc : sdiff_buf_puts(&url, target);
    /* --globoff: [1-9] and {a,b} in a target are bytes to send, not a list of requests;
     * --path-as-is: /../ is sent as captured */
    rc = rc < 0 ? rc : sdiff_buf_puts(b, " --globoff --path-as-is --url ");
    rc = rc < 0 ? rc : sdiff_report_shell_quote(b, (const char *)url.data, url.len);
    if (rc >= 0 && blen > 0 && !inline_body)
        rc = sdiff_buf_printf(b, "   # pipe the %zu-byte request body on stdin", blen);
    sdiff_buf_dispose(&url);
    return rc;
}

static void print_candidate(const struct sdiff_store_result *res, FILE *f)
{
    const struct sdiff_store_answer *a = &res->candidate;
    const char *cls = res->cls ? res->cls : "?";
    json_t *hdrs = NULL;
    struct sdiff_text_ring T;
    sdiff_text_ring_init(&T);
    fputs("\n== candidate response ==\n", f);
    if (a->present) {
        if (a->status)
            fprintf(f, "  HTTP/1.1 %d %s\n", a->status, a->reason ? sdiff_text(&T, a->reason) : "");
        if (a->error)
            fprintf(f, "  error: %s\n", sdiff_text(&T, a->error));
        if (a->latency_ms >= 0)
            fprintf(f, "  latency: %.1f ms\n", a->latency_ms);
        hdrs = parse_headers(a->headers_json);
        print_headers(f, hdrs);
        if (a->body_stored)
            print_body(f, hdrs, a->body, a->body_len);
        else if (a->body_size >= 0)
            fprintf(f, "  (body not stored: %s, %lld bytes)\n",
                    strcmp(cls, "identical") == 0 ? "identical" : "not kept",
                    (long long)a->body_size);
    } else {
        fprintf(f, "  (body not stored: %s)\n",
                strcmp(cls, "identical") == 0 || strcmp(cls, "equivalent") == 0
                    ? "identical"
                    : "no answer recorded");
    }
    json_decref(hdrs);
    sdiff_text_ring_dispose(&T);
}

struct diff_printer {
    FILE *f;
    size_t n;
    enum sdiff_preset preset; /* of the result's run: hints as the comparison named them */
    int color;                /* colour the two sides (a terminal) */
};

static int print_difference(const struct sdiff_store_difference *d, void *ud,
                            struct sdiff_err *err)
{
    (void)err;
    struct diff_printer *c = ud;
    struct sdiff_text_ring T;
    sdiff_text_ring_init(&T);
    /* as diff -u colours it: the primary's side red, the candidate's green */
    const char *bold = c->color ? "\033[1m" : "", *red = c->color ? "\033[31m" : "",
               *green = c->color ? "\033[32m" : "", *reset = c->color ? "\033[0m" : "";
    fprintf(c->f, "  %s%s%s  %s  %s%s%s -> %s%s%s\n", bold,
            d->path ? sdiff_text(&T, d->path) : "?", reset, d->kind ? sdiff_text(&T, d->kind) : "?",
            red, d->primary_value ? sdiff_text(&T, d->primary_value) : "(absent)", reset, green,
            d->candidate_value ? sdiff_text(&T, d->candidate_value) : "(absent)", reset);
    const char *hint = d->hint ? d->hint
                               : sdiff_diff_hint(c->preset, d->path, d->kind, d->primary_value,
                                                 d->candidate_value);
    if (hint)
        fprintf(c->f, "    hint: %s\n", sdiff_text(&T, hint));
    sdiff_text_ring_dispose(&T);
    c->n++;
    return SDIFF_OK;
}

static int print_differences(struct sdiff_store *st, int64_t run_id, int64_t id, int color,
                             FILE *f, struct sdiff_err *err)
{
    struct diff_printer c = {f, 0, SDIFF_PRESET_NONE, color};
    fputs("\n== differences ==\n", f);
    int rc = sdiff__report_run_preset(st, run_id, &c.preset, err);
    rc = rc < 0 ? rc : sdiff_store_each_difference(st, id, print_difference, &c, err);
    if (rc >= 0 && c.n == 0)
        fputs("  (none)\n", f);
    return rc;
}

/* The fields learned as noise for the result's route, and on what evidence. */
struct noise_printer {
    FILE *f;
    const char *route;
    size_t n;
};

static int print_noise_row(const struct sdiff_store_noise *n, void *ud, struct sdiff_err *err)
{
    (void)err;
    struct noise_printer *c = ud;
    if (n->route == NULL || strcmp(n->route, c->route) != 0)
        return SDIFF_OK;
    struct sdiff_text_ring T;
    sdiff_text_ring_init(&T);
    if (c->n++ == 0)
        fputs("\n== learned noise of this route (ignored) ==\n", c->f);
    fprintf(c->f, "  %s", sdiff_text(&T, n->key));
    if (n->source)
        fprintf(c->f, "  %s: %llu pairs from %llu clients, confidence %.2f, examples %s",
                sdiff_text(&T, n->source), (unsigned long long)n->pairs,
                (unsigned long long)n->clients, n->confidence < 0 ? 0 : n->confidence,
                n->examples_json ? sdiff_text(&T, n->examples_json) : "[]");
    if (n->run_id)
        fprintf(c->f, " (run %lld)", (long long)n->run_id);
    fputc('\n', c->f);
    sdiff_text_ring_dispose(&T);
    return SDIFF_OK;
}

int sdiff_report_inspect(const char *db_path, int64_t result_id, int color, FILE *out,
                         struct sdiff_err *err)
{
    struct sdiff_store *st = NULL;
    struct sdiff_store_result res = {0};
    json_t *req_h = NULL, *resp_h = NULL;
    struct sdiff_buf curl;
    char ms1[40], ms2[40], num[24];
    struct sdiff_text_ring T;
    int rc;
    if (SDIFF_NEVER(db_path == NULL || out == NULL))
        return SDIFF_EINVAL;
    sdiff_buf_init(&curl, 16u << 20);
    sdiff_text_ring_init(&T);
    rc = sdiff__report_open_store(db_path, &st, err);
    rc = rc < 0 ? rc : sdiff_store_get_result(st, result_id, &res, err);
    if (rc < 0)
        goto out;
    const char *cls = res.cls ? res.cls : "?";
    const char *method = res.req_method ? res.req_method : res.method ? res.method : "GET";
    const char *target = res.req_target ? res.req_target : res.target ? res.target : "/";
    req_h = parse_headers(res.req_headers_json);
    resp_h = parse_headers(res.primary.headers_json);

    fprintf(out, "result %lld (run %lld): %s\n", (long long)result_id, (long long)res.run_id,
            sdiff_text(&T, cls));
    if (res.route)
        fprintf(out, "route: %s\n", sdiff_text(&T, res.route));
    if (res.reasons)
        fprintf(out, "reasons: %s\n", sdiff_text(&T, res.reasons));
    if (res.skip_reason)
        fprintf(out, "skipped: %s\n", sdiff_text(&T, res.skip_reason));
    if (res.note)
        fprintf(out, "note: %s\n", sdiff_text(&T, res.note));
    if (res.candidate_error)
        fprintf(out, "candidate error: %s\n", sdiff_text(&T, res.candidate_error));
    snprintf(num, sizeof num, "%d", res.primary_status);
    fprintf(out, "status: primary %s", res.primary_status ? num : "-");
    snprintf(num, sizeof num, "%d", res.candidate_status);
    fprintf(out, ", candidate %s\n", res.candidate_status ? num : "-");
    if (res.primary_ms >= 0 || res.candidate_ms >= 0)
        fprintf(out, "latency: primary %s ms, candidate %s ms\n", fmt_ms(res.primary_ms, ms1),
                fmt_ms(res.candidate_ms, ms2));

    fprintf(out, "\n== request ==\n  %s %s\n", sdiff_text(&T, method), sdiff_text(&T, target));
    print_headers(out, req_h);
    if (res.req_body_len)
        print_body(out, req_h, res.req_body, res.req_body_len);

    fputs("\n== primary response ==\n", out);
    if (!res.has_exchange) {
        fputs("  (exchange not stored)\n", out);
    } else if (!res.primary.present) {
        fputs("  (no response)\n", out);
    } else {
        fprintf(out, "  HTTP/1.1 %d %s\n", res.primary.status,
                res.primary.reason ? sdiff_text(&T, res.primary.reason) : "");
        print_headers(out, resp_h);
        print_body(out, resp_h, res.primary.body, res.primary.body_len);
    }
    print_candidate(&res, out);
    rc = print_differences(st, res.run_id, result_id, color, out, err);
    if (rc >= 0 && res.route) {
        struct noise_printer np = {out, res.route, 0};
        rc = sdiff_store_each_noise(st, print_noise_row, &np, err);
    }
    if (rc < 0)
        goto out;

    fputs("\n== reproduce against the candidate ==\n", out);
    rc = curl_line(&curl, res.run_candidate ? res.run_candidate : "http://CANDIDATE", method,
                   target, req_h, res.req_body, res.req_body_len);
    if (rc < 0) {
        rc = sdiff_err_set(err, rc, WHERE, "curl command too long");
        goto out;
    }
    fprintf(out, "  %s\n", (const char *)curl.data);
    if (fflush(out) != 0 || ferror(out))
        rc = sdiff_err_set(err, SDIFF_EIO, WHERE, "cannot write");
out:
    json_decref(req_h);
    json_decref(resp_h);
    sdiff_buf_dispose(&curl);
    sdiff_store_result_dispose(&res);
    sdiff_store_close(st);
    sdiff_text_ring_dispose(&T);
    return rc;
}
