/*
 * fake_transport.c - the scripted transport of fake_transport.h: requests are answered by
 * the test's script and delivered in order by the next poll.
 */
#include "fake_transport.h"

#include <stdlib.h>
#include <string.h>

struct sdiff_fake sdiff_fake;

struct pending {
    struct sdiff_replay_result *res;
    void *ctx;
};

struct fake {
    struct pending *q;
    size_t n, cap;
    void (*done)(void *ctx, void *ud);
    void *ud;
};

void sdiff_fake_reset(void)
{
    free(sdiff_fake.last);
    memset(&sdiff_fake, 0, sizeof sdiff_fake);
}

void sdiff_fake_respond(struct sdiff_replay_result *res, int status, const char *body)
{
    struct sdiff_msg *m = &res->resp;
    struct sdiff_hfield h = {"Content-Type", "application/json", 12, 16};
    m->reason = (char *)"OK";
    (void)sdiff_msg_set_headers(m, &h, body[0] != '\0' ? 1 : 0);
    m->method = m->target = NULL;
    m->present = 1;
    m->complete = 1;
    m->status = status;
    m->version_minor = 1;
    m->body_len = strlen(body);
    m->body_seen = m->body_len;
    m->body = m->body_len ? sdiff_malloc(m->body_len) : NULL;
    if (m->body_len)
        memcpy(m->body, body, m->body_len);
    res->latency_ms = 1.0;
}

static int fake_open(void **out, const struct sdiff__transport_cfg *cfg, struct sdiff_err *err)
{
    (void)err;
    struct fake *f = calloc(1, sizeof *f);
    if (f == NULL)
        return SDIFF_ENOMEM;
    f->done = cfg->done;
    f->ud = cfg->ud;
    sdiff_fake.concurrency = cfg->concurrency;
    *out = f;
    return SDIFF_OK;
}

static void fake_close(void *t)
{
    struct fake *f = t;
    if (f == NULL)
        return;
    free(f->q);
    free(f);
}

static int fake_send(void *t, const struct sdiff__wire_req *req, struct sdiff_err *err)
{
    (void)err;
    struct fake *f = t;
    struct sdiff_buf b;
    sdiff_buf_init(&b, 1u << 20);
    if (sdiff__replay_serialize(&b, req, "fake.invalid") < 0) {
        sdiff_buf_dispose(&b);
        return SDIFF_ENOMEM;
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 16;
        struct pending *q = realloc(f->q, cap * sizeof *q);
        if (q == NULL) {
            sdiff_buf_dispose(&b);
            return SDIFF_ENOMEM;
        }
        f->q = q;
        f->cap = cap;
    }
    if (sdiff_fake.answer != NULL)
        sdiff_fake.answer((const char *)b.data, b.len, req->res, sdiff_fake.ud);
    else
        sdiff_fake_respond(req->res, 200, "");
    free(sdiff_fake.last);
    sdiff_fake.last = strdup(b.data ? (const char *)b.data : "");
    sdiff_buf_dispose(&b);
    f->q[f->n++] = (struct pending){req->res, req->ctx};
    sdiff_fake.sent++;
    if (++sdiff_fake.inflight > sdiff_fake.max_inflight)
        sdiff_fake.max_inflight = sdiff_fake.inflight;
    return SDIFF_OK;
}

static int fake_poll(void *t, int timeout_ms, struct sdiff_err *err)
{
    (void)timeout_ms;
    (void)err;
    struct fake *f = t;
    /* the callbacks may send more: deliver only what was pending when the poll began */
    size_t n = f->n;
    struct pending *batch = malloc((n ? n : 1) * sizeof *batch);
    if (batch == NULL)
        return SDIFF_ENOMEM;
    memcpy(batch, f->q, n * sizeof *batch);
    memmove(f->q, f->q + n, (f->n - n) * sizeof *f->q);
    f->n -= n;
    for (size_t i = 0; i < n; i++) {
        sdiff_fake.inflight--;
        f->done(batch[i].ctx, f->ud);
    }
    free(batch);
    return SDIFF_OK;
}

static int fake_fd(void *t)
{
    (void)t;
    return -1;
}

static void fake_wakeup(void *t)
{
    (void)t;
}

const struct sdiff_transport_ops sdiff_fake_transport = {
    .name = "fake",
    .open = fake_open,
    .close = fake_close,
    .send = fake_send,
    .poll = fake_poll,
    .fd = fake_fd,
    .wakeup = fake_wakeup,
};
