/*
 * inspect.c - one stored result in detail: the request, both answers, the differences and
 * a curl command that sends the request to the candidate again.
 */
#include "shadowdiff/report.h"

#include <jansson.h>
#include <sqlite3.h>
#include <string.h>
#include <strings.h>

#include "shadowdiff/codec.h"
#include "shadowdiff/jdiff.h"
#include "report/waivers.h"
#include "shadowdiff/store.h"

#define WHERE "inspect"
#define MAX_LINES 200
#define INLINE_BODY 4096 /* bodies up to this size go inline into the curl command */

int sdiff_report_shell_quote(struct sdiff_buf *b, const char *s, size_t len)
{
    int rc = sdiff_buf_append(b, "'", 1);
    for (size_t i = 0; i < len && rc >= 0; i++)
        rc = s[i] == '\'' ? sdiff_buf_puts(b, "'\\''") : sdiff_buf_append(b, s + i, 1);
    return rc < 0 ? rc : sdiff_buf_append(b, "'", 1);
}

static const char *col(sqlite3_stmt *q, int i)
{
    return (const char *)sqlite3_column_text(q, i);
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
        fprintf(f, "  %s: %s\n", n ? n : "?", v ? v : "");
    }
}

static int printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t') || p[i] == 0x7f)
            return 0;
    return 1;
}

static void print_cut(FILE *f, const uint8_t *p, size_t n)
{
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
}

/* Decode per Content-Encoding, pretty-print JSON, cut long bodies. */
static void print_body(FILE *f, json_t *hdrs, const uint8_t *p, size_t n)
{
    struct sdiff_buf dec, pretty;
    struct sdiff_err e = {0};
    enum sdiff_codec_result res = SDIFF_CODEC_IDENTITY;
    const char *enc = header(hdrs, "Content-Encoding");
    sdiff_buf_init(&dec, 64u << 20);
    sdiff_buf_init(&pretty, 4u << 20);
    if (n == 0) {
        fputs("  (empty body)\n", f);
        goto out;
    }
    if (enc && *enc) {
        if (sdiff_codec_decode(enc, (struct sdiff_slice){p, n}, 64u << 20, &dec, &res, &e) < 0)
            fprintf(f, "  (cannot decode %s: %s; showing raw bytes)\n", enc, e.msg);
        else if (res == SDIFF_CODEC_DECODED) {
            fprintf(f, "  (%s-decoded: %zu -> %zu bytes)\n", enc, n, dec.len);
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
        if (n == NULL || hop_by_hop(n))
            continue;
        struct sdiff_buf hv;
        sdiff_buf_init(&hv, 1u << 20);
        rc = rc < 0 ? rc : sdiff_buf_printf(&hv, "%s: %s", n, v ? v : "");
        rc = rc < 0 ? rc : sdiff_buf_puts(b, " -H ");
        rc = rc < 0 ? rc : sdiff_report_shell_quote(b, (const char *)hv.data, hv.len);
        sdiff_buf_dispose(&hv);
    }
    if (blen > 0 && blen <= INLINE_BODY && printable(body, blen)) {
        rc = rc < 0 ? rc : sdiff_buf_puts(b, " --data-binary ");
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
    rc = rc < 0 ? rc : sdiff_buf_puts(b, " ");
    rc = rc < 0 ? rc : sdiff_report_shell_quote(b, (const char *)url.data, url.len);
    if (rc >= 0 && blen > 0 && !(blen <= INLINE_BODY && printable(body, blen)))
        rc = sdiff_buf_printf(b, "   # pipe the %zu-byte request body on stdin", blen);
    sdiff_buf_dispose(&url);
    return rc;
}

enum {
    C_ID, C_RUN, C_METHOD, C_ROUTE, C_TARGET, C_CLASS, C_REASONS, C_SKIP, C_NOTE, C_PSTATUS,
    C_CSTATUS, C_PMS, C_CMS, C_CERR, C_RUN_CAND, C_EX_ID, C_EX_METHOD, C_EX_TARGET, C_REQ_H,
    C_REQ_BODY, C_STATUS, C_REASON, C_RESP_H, C_RESP_BODY, C_RESP_SEEN, C_REQ_SEEN,
};

static int print_candidate(sqlite3 *db, int64_t id, const char *cls, FILE *f,
                           struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    json_t *hdrs = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT status, reason, headers, body, body_len, body_stored,"
                                " latency_ms, error FROM responses"
                                " WHERE result_id = ? AND target = 'candidate'",
                                -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sdiff_err_set(err, SDIFF_EDB, WHERE, "cannot read: %.150s", sqlite3_errmsg(db));
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    fputs("\n== candidate response ==\n", f);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_type(q, 0) != SQLITE_NULL)
            fprintf(f, "  HTTP/1.1 %d %s\n", sqlite3_column_int(q, 0), col(q, 1) ? col(q, 1) : "");
        if (col(q, 7))
            fprintf(f, "  error: %s\n", col(q, 7));
        if (sqlite3_column_type(q, 6) != SQLITE_NULL)
            fprintf(f, "  latency: %.1f ms\n", sqlite3_column_double(q, 6));
        hdrs = parse_headers(col(q, 2));
        print_headers(f, hdrs);
        if (sqlite3_column_int(q, 5))
            print_body(f, hdrs, sqlite3_column_blob(q, 3), (size_t)sqlite3_column_bytes(q, 3));
        else if (sqlite3_column_type(q, 4) != SQLITE_NULL)
            fprintf(f, "  (body not stored: %s, %lld bytes)\n",
                    strcmp(cls, "identical") == 0 ? "identical" : "not kept",
                    (long long)sqlite3_column_int64(q, 4));
        rc = SDIFF_OK;
    } else if (rc == SQLITE_DONE) {
        fprintf(f, "  (body not stored: %s)\n",
                strcmp(cls, "identical") == 0 || strcmp(cls, "equivalent") == 0
                    ? "identical"
                    : "no answer recorded");
        rc = SDIFF_OK;
    } else {
        rc = sdiff_err_set(err, SDIFF_EDB, WHERE, "cannot read: %.150s", sqlite3_errmsg(db));
    }
    json_decref(hdrs);
    sqlite3_finalize(q);
    return rc;
}

static int print_differences(sqlite3 *db, int64_t id, FILE *f, struct sdiff_err *err)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT path, kind, primary_value, candidate_value FROM differences"
                                " WHERE result_id = ? ORDER BY idx",
                                -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sdiff_err_set(err, SDIFF_EDB, WHERE, "cannot read: %.150s", sqlite3_errmsg(db));
    sqlite3_bind_int64(q, 1, id);
    size_t n = 0;
    fputs("\n== differences ==\n", f);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        fprintf(f, "  %s  %s  %s -> %s\n", col(q, 0) ? col(q, 0) : "?", col(q, 1) ? col(q, 1) : "?",
                col(q, 2) ? col(q, 2) : "(absent)", col(q, 3) ? col(q, 3) : "(absent)");
        n++;
    }
    if (n == 0)
        fputs("  (none)\n", f);
    rc = rc == SQLITE_DONE
             ? SDIFF_OK
             : sdiff_err_set(err, SDIFF_EDB, WHERE, "cannot read: %.150s", sqlite3_errmsg(db));
    sqlite3_finalize(q);
    return rc;
}

int sdiff_report_inspect(const char *db_path, int64_t result_id, FILE *out,
                         struct sdiff_err *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    json_t *req_h = NULL, *resp_h = NULL;
    struct sdiff_buf curl;
    int rc;
    if (SDIFF_NEVER(db_path == NULL || out == NULL))
        return SDIFF_EINVAL;
    sdiff_buf_init(&curl, 16u << 20);
    rc = sdiff__report_open_db(db_path, WHERE, "SELECT id FROM results LIMIT 0", &db, err);
    if (rc < 0)
        goto out;
    rc = sqlite3_prepare_v2(
        db,
        "SELECT r.id, r.run_id, r.method, r.route, r.target, r.class, r.reasons, r.skip_reason,"
        " r.note, r.primary_status, r.candidate_status, r.primary_ms, r.candidate_ms,"
        " r.candidate_error, ru.candidate, e.id, e.method, e.target, e.req_headers, e.req_body,"
        " e.status, e.reason, e.resp_headers, e.resp_body, e.resp_body_seen, e.req_body_seen"
        " FROM results r LEFT JOIN runs ru ON ru.id = r.run_id"
        " LEFT JOIN exchanges e ON e.id = r.exchange_id WHERE r.id = ?",
        -1, &q, NULL);
    if (rc != SQLITE_OK) {
        rc = sdiff_err_set(err, SDIFF_EDB, WHERE, "%.150s: cannot read: %.30s", db_path,
                           sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_int64(q, 1, result_id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        rc = sdiff_err_set(err, SDIFF_EINVAL, WHERE, "no result %lld in %.150s",
                           (long long)result_id, db_path);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        rc = sdiff_err_set(err, SDIFF_EDB, WHERE, "%.150s: cannot read: %.30s", db_path,
                           sqlite3_errmsg(db));
        goto out;
    }
    const char *cls = col(q, C_CLASS) ? col(q, C_CLASS) : "?";
    const char *method = col(q, C_EX_METHOD) ? col(q, C_EX_METHOD)
                         : col(q, C_METHOD)  ? col(q, C_METHOD)
                                             : "GET";
    const char *target = col(q, C_EX_TARGET) ? col(q, C_EX_TARGET)
                         : col(q, C_TARGET)  ? col(q, C_TARGET)
                                             : "/";
    int has_ex = sqlite3_column_type(q, C_EX_ID) != SQLITE_NULL;
    req_h = parse_headers(col(q, C_REQ_H));
    resp_h = parse_headers(col(q, C_RESP_H));

    fprintf(out, "result %lld (run %lld): %s\n", (long long)result_id,
            (long long)sqlite3_column_int64(q, C_RUN), cls);
    if (col(q, C_ROUTE))
        fprintf(out, "route: %s\n", col(q, C_ROUTE));
    if (col(q, C_REASONS))
        fprintf(out, "reasons: %s\n", col(q, C_REASONS));
    if (col(q, C_SKIP))
        fprintf(out, "skipped: %s\n", col(q, C_SKIP));
    if (col(q, C_NOTE))
        fprintf(out, "note: %s\n", col(q, C_NOTE));
    if (col(q, C_CERR))
        fprintf(out, "candidate error: %s\n", col(q, C_CERR));
    fprintf(out, "status: primary %s", col(q, C_PSTATUS) ? col(q, C_PSTATUS) : "-");
    fprintf(out, ", candidate %s\n", col(q, C_CSTATUS) ? col(q, C_CSTATUS) : "-");
    if (sqlite3_column_type(q, C_PMS) != SQLITE_NULL || sqlite3_column_type(q, C_CMS) != SQLITE_NULL)
        fprintf(out, "latency: primary %s ms, candidate %s ms\n",
                col(q, C_PMS) ? col(q, C_PMS) : "-", col(q, C_CMS) ? col(q, C_CMS) : "-");

    fprintf(out, "\n== request ==\n  %s %s\n", method, target);
    print_headers(out, req_h);
    const uint8_t *req_body = sqlite3_column_blob(q, C_REQ_BODY);
    size_t req_len = (size_t)sqlite3_column_bytes(q, C_REQ_BODY);
    if (req_len)
        print_body(out, req_h, req_body, req_len);

    fputs("\n== primary response ==\n", out);
    if (!has_ex) {
        fputs("  (exchange not stored)\n", out);
    } else if (sqlite3_column_type(q, C_STATUS) == SQLITE_NULL) {
        fputs("  (no response)\n", out);
    } else {
        fprintf(out, "  HTTP/1.1 %d %s\n", sqlite3_column_int(q, C_STATUS),
                col(q, C_REASON) ? col(q, C_REASON) : "");
        print_headers(out, resp_h);
        print_body(out, resp_h, sqlite3_column_blob(q, C_RESP_BODY),
                   (size_t)sqlite3_column_bytes(q, C_RESP_BODY));
    }
    rc = print_candidate(db, result_id, cls, out, err);
    rc = rc < 0 ? rc : print_differences(db, result_id, out, err);
    if (rc < 0)
        goto out;

    fputs("\n== reproduce against the candidate ==\n", out);
    rc = curl_line(&curl, col(q, C_RUN_CAND) ? col(q, C_RUN_CAND) : "http://CANDIDATE", method,
                   target, req_h, req_body, req_len);
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
    sqlite3_finalize(q);
    sqlite3_close(db);
    return rc;
}
