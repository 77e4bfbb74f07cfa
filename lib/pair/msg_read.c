/*
 * msg_read.c - one HTTP/1.x response (or a bare body) from a buffer into a struct sdiff_msg,
 * for `shadowdiff diff` and for tests. Uses the same parser as capture, so a file holding a
 * chunked response is read exactly as it would be off the wire.
 */
#include "shadowdiff/exchange.h"

#include <string.h>

#include "shadowdiff/http1.h"
#include "pair/pair_int.h"

struct reader {
    struct sdiff_msg *m;
    struct sdiff_buf body;
    int done;
    int rc;
};

static int rd_head(const struct sdiff_http1_head *h, void *ud)
{
    struct reader *r = ud;
    if (h->status >= 100 && h->status < 200 && h->status != 101)
        return 0; /* interim responses before the final one are skipped */
    struct sdiff_hfield f[256];
    size_t n = h->nheaders < 256 ? h->nheaders : 256;
    for (size_t i = 0; i < n; i++) {
        f[i].name = (const char *)h->headers[i].name.p;
        f[i].name_len = h->headers[i].name.len;
        f[i].value = (const char *)h->headers[i].value.p;
        f[i].value_len = h->headers[i].value.len;
    }
    int rc = sdiff__msg_build(r->m, "", 0, "", 0, (const char *)h->reason.p, h->reason.len, f, n);
    if (rc < 0)
        return rc;
    r->m->present = 1;
    r->m->status = h->status;
    r->m->version_minor = h->version_minor;
    r->m->chunked = h->framing == SDIFF_HTTP1_CHUNKED;
    return 0;
}

static int rd_body(const uint8_t *p, size_t len, void *ud)
{
    struct reader *r = ud;
    r->m->body_seen += len;
    /* Keep the first max_body bytes: cut the piece that crosses the limit rather than drop
     * it, or a shorter chunk after it would be kept in its place. */
    size_t room = r->body.max - r->body.len;
    if (len > room)
        len = room;
    return len > 0 ? sdiff_buf_append(&r->body, p, len) : 0;
}

static int rd_complete(void *ud)
{
    struct reader *r = ud;
    if (r->m->present && !(r->m->status >= 100 && r->m->status < 200 && r->m->status != 101))
        r->done = 1;
    return 0;
}

int sdiff_msg_read_response(const uint8_t *data, size_t len, size_t max_body,
                            struct sdiff_msg *m, struct sdiff_err *err)
{
    memset(m, 0, sizeof *m);
    if (len < 7 || memcmp(data, "HTTP/1.", 7) != 0) {
        /* a bare body */
        m->body = sdiff_malloc(len + 1);
        if (m->body == NULL)
            return sdiff_err_set(err, SDIFF_ENOMEM, "msg", "out of memory");
        memcpy(m->body, data, len);
        m->body[len] = 0;
        m->body_len = len;
        m->body_seen = len;
        m->complete = 1;
        return SDIFF_OK;
    }
    struct sdiff_limits lim = SDIFF_LIMITS_INIT;
    struct sdiff_http1_cb cb = {.on_head = rd_head, .on_body = rd_body,
                                .on_complete = rd_complete};
    struct reader r = {.m = m};
    struct sdiff_http1 *p = NULL;
    sdiff_buf_init(&r.body, max_body);
    int rc = sdiff_http1_new(&p, SDIFF_HTTP1_RESPONSE, &lim, &cb, &r, err);
    if (rc >= 0)
        rc = sdiff_http1_feed(p, data, len, err);
    if (rc >= 0 && !r.done)
        rc = sdiff_http1_eof(p, err);
    if (rc >= 0 && !r.done)
        rc = sdiff_err_set(err, SDIFF_ETRUNC, "msg", "the response is cut short");
    sdiff_http1_free(p);
    if (rc < 0) {
        sdiff_buf_dispose(&r.body);
        sdiff_free(m->headers);
        memset(m, 0, sizeof *m);
        return rc;
    }
    m->body = sdiff_buf_steal(&r.body, &m->body_len);
    m->complete = 1;
    return SDIFF_OK;
}
