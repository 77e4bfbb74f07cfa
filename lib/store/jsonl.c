/*
 * jsonl.c - one exchange as one JSON object, for `capture --out -` and for tests.
 *
 * Written by hand into a bounded buffer rather than through jansson: this runs once per
 * exchange on the capture path, and the field set is fixed.
 */
#include "shadowdiff/store.h"

#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "store/store_int.h"

int sdiff_store_is_secret(const struct sdiff_store_opts *opts, const char *name, size_t len)
{
    if (sdiff_header_is_secret(name, len))
        return 1;
    for (size_t i = 0; opts && i < opts->nsecret; i++)
        if (strlen(opts->secret_headers[i]) == len &&
            strncasecmp(opts->secret_headers[i], name, len) == 0)
            return 1;
    return 0;
}

int sdiff__store_headers_json(const struct sdiff_msg *m, const struct sdiff_store_opts *opts,
                              struct sdiff_buf *b)
{
    int rc = sdiff_buf_append(b, "[", 1);
    for (size_t i = 0; i < m->nheaders && rc >= 0; i++) {
        const struct sdiff_hfield *h = &m->headers[i];
        rc = sdiff_buf_append(b, i ? ",[" : "[", i ? 2 : 1);
        rc = rc < 0 ? rc : sdiff_buf_json_str(b, h->name, h->name_len);
        rc = rc < 0 ? rc : sdiff_buf_append(b, ",", 1);
        /* the last line of defence: a secret that did not go through the redactor (values
         * it hashed are kept, so equal secrets still compare equal) */
        if (rc >= 0 && !(opts && opts->keep_secrets) &&
            sdiff_store_is_secret(opts, h->name, h->name_len) &&
            !sdiff_value_is_redacted(h->value, h->value_len))
            rc = sdiff_buf_puts(b, "\"[redacted]\"");
        else if (rc >= 0)
            rc = sdiff_buf_json_str(b, h->value, h->value_len);
        rc = rc < 0 ? rc : sdiff_buf_append(b, "]", 1);
    }
    return rc < 0 ? rc : sdiff_buf_append(b, "]", 1);
}

uint32_t sdiff__store_crc32(const uint8_t *p, size_t left)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    if (left == 0)
        return 0;
    while (left > 0) {
        uInt n = left > (1u << 30) ? (1u << 30) : (uInt)left;
        crc = crc32(crc, p, n);
        p += n;
        left -= n;
    }
    return (uint32_t)crc;
}

static uint32_t body_crc(const struct sdiff_msg *m)
{
    return sdiff__store_crc32(m->body, m->body_len);
}

static int put_key(struct sdiff_buf *b, const char *key)
{
    int rc = sdiff_buf_append(b, ",\"", 2);
    rc = rc < 0 ? rc : sdiff_buf_puts(b, key);
    return rc < 0 ? rc : sdiff_buf_append(b, "\":", 2);
}

static int put_str_field(struct sdiff_buf *b, const char *key, const char *s, int present)
{
    int rc = put_key(b, key);
    if (rc < 0)
        return rc;
    if (!present || s == NULL)
        return sdiff_buf_append(b, "null", 4);
    return sdiff_buf_json_str(b, s, strlen(s));
}

static int put_u64_field(struct sdiff_buf *b, const char *key, uint64_t v)
{
    int rc = put_key(b, key);
    return rc < 0 ? rc : sdiff_buf_put_u64(b, v);
}

static int put_crc_field(struct sdiff_buf *b, const char *key, uint32_t v)
{
    static const char hex[] = "0123456789abcdef";
    char s[10];
    s[0] = s[9] = '"';
    for (int i = 0; i < 8; i++)
        s[1 + i] = hex[(v >> (28 - 4 * i)) & 15];
    int rc = put_key(b, key);
    return rc < 0 ? rc : sdiff_buf_append(b, s, sizeof s);
}

int sdiff_exchange_to_json(const struct sdiff_exchange *ex, const struct sdiff_store_opts *opts,
                           struct sdiff_buf *b)
{
    const struct sdiff_msg *rq = &ex->req, *rs = &ex->resp;
    size_t start = b->len;
    int rc = sdiff_buf_puts(b, "{\"conn\":");
    rc = rc < 0 ? rc : sdiff_buf_put_u64(b, ex->conn_id);
    rc = rc < 0 ? rc : put_u64_field(b, "seq", ex->seq);
    rc = rc < 0 ? rc : put_str_field(b, "client", ex->client, 1);
    rc = rc < 0 ? rc : put_str_field(b, "server", ex->server, 1);
    rc = rc < 0 ? rc : put_str_field(b, "method", rq->method, rq->present);
    rc = rc < 0 ? rc : put_str_field(b, "target", rq->target, rq->present);
    rc = rc < 0 ? rc : put_key(b, "version");
    if (rc >= 0 && rq->present)
        rc = sdiff_buf_puts(b, rq->version_minor ? "\"HTTP/1.1\"" : "\"HTTP/1.0\"");
    else if (rc >= 0)
        rc = sdiff_buf_puts(b, "null");
    if (rc >= 0 && rs->present)
        rc = put_u64_field(b, "status", (uint64_t)rs->status);
    else if (rc >= 0)
        rc = sdiff_buf_puts(b, ",\"status\":null");
    rc = rc < 0 ? rc : put_str_field(b, "reason", rs->reason, rs->present);
    rc = rc < 0 ? rc : put_str_field(b, "state", sdiff_exchange_state_str(ex->state), 1);
    rc = rc < 0 ? rc : put_str_field(b, "note", ex->note, ex->note[0] != '\0');
    rc = rc < 0 ? rc : put_u64_field(b, "req_body_len", rq->body_len);
    rc = rc < 0 ? rc : put_u64_field(b, "resp_body_len", rs->body_len);
    if (opts && opts->checksums) {
        rc = rc < 0 ? rc : put_crc_field(b, "req_body_crc32", body_crc(rq));
        rc = rc < 0 ? rc : put_crc_field(b, "resp_body_crc32", body_crc(rs));
    }
    double ms = sdiff_exchange_primary_ms(ex);
    if (rc >= 0 && ms >= 0) {
        /* microseconds as a fixed-point millisecond value, without printf */
        uint64_t us = ex->t_resp_end - ex->t_req_start;
        char frac[5] = {'.', (char)('0' + us / 100 % 10), (char)('0' + us / 10 % 10),
                        (char)('0' + us % 10), 0};
        rc = put_u64_field(b, "primary_ms", us / 1000);
        rc = rc < 0 ? rc : sdiff_buf_append(b, frac, 4);
    } else if (rc >= 0) {
        rc = sdiff_buf_puts(b, ",\"primary_ms\":null");
    }
    rc = rc < 0 ? rc : put_u64_field(b, "t_req_start", ex->t_req_start);
    rc = rc < 0 ? rc : sdiff_buf_puts(b, ",\"req_headers\":");
    rc = rc < 0 ? rc : sdiff__store_headers_json(rq, opts, b);
    rc = rc < 0 ? rc : sdiff_buf_puts(b, ",\"resp_headers\":");
    rc = rc < 0 ? rc : sdiff__store_headers_json(rs, opts, b);
    rc = rc < 0 ? rc : sdiff_buf_append(b, "}", 1);
    /* the line goes to a terminal as often as to a program: no raw C1 controls or DEL */
    return rc < 0 ? rc : sdiff_buf_json_c1(b, start);
}
