/*
 * exchange.c - the owned exchange record: lifecycle, header look-up, state names.
 *
 * A message's header array, its start-line strings and every header name and value live in
 * one allocation (msg->headers), so copying a parsed head costs one malloc.
 */
#include "shadowdiff/exchange.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "pair/pair_int.h"

struct sdiff_exchange *sdiff_exchange_new(void)
{
    return sdiff_calloc(1, sizeof(struct sdiff_exchange));
}

void sdiff_msg_dispose(struct sdiff_msg *m)
{
    if (m == NULL)
        return;
    sdiff_free(m->headers);
    sdiff_free(m->body);
    memset(m, 0, sizeof *m);
}

void sdiff_exchange_free(struct sdiff_exchange *ex)
{
    if (ex == NULL)
        return;
    sdiff_msg_dispose(&ex->req);
    sdiff_msg_dispose(&ex->resp);
    sdiff_free(ex);
}

static const char *const state_names[SDIFF_EX__COUNT] = {
    "complete", "truncated", "gap", "no_response", "unparsable", "unacknowledged", "shed",
};

const char *sdiff_exchange_state_str(enum sdiff_exchange_state s)
{
    return (unsigned)s < SDIFF_EX__COUNT ? state_names[s] : "unknown";
}

int sdiff_exchange_state_parse(const char *s)
{
    for (int i = 0; i < SDIFF_EX__COUNT; i++)
        if (strcmp(s, state_names[i]) == 0)
            return i;
    return -1;
}

const struct sdiff_hfield *sdiff_msg_header(const struct sdiff_msg *m, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < m->nheaders; i++)
        if (m->headers[i].name_len == n && strncasecmp(m->headers[i].name, name, n) == 0)
            return &m->headers[i];
    return NULL;
}

/*
 * Lay out one block: [n fields][method\0 target\0 reason\0][name\0 value\0 ...].
 * The start-line strings come from the message being replaced, or from the arguments.
 */
int sdiff__msg_build(struct sdiff_msg *m, const char *method, size_t method_len,
                     const char *target, size_t target_len, const char *reason,
                     size_t reason_len, const struct sdiff_hfield *h, size_t n)
{
    size_t size = n * sizeof(struct sdiff_hfield) + method_len + target_len + reason_len + 3;
    for (size_t i = 0; i < n; i++)
        size += h[i].name_len + h[i].value_len + 2;
    uint8_t *block = sdiff_malloc(size);
    if (block == NULL)
        return SDIFF_ENOMEM;
    struct sdiff_hfield *f = (struct sdiff_hfield *)block;
    char *s = (char *)(f + n);
#define PUT(dst, src, len)                                                                     \
    do {                                                                                       \
        if (len)                                                                               \
            memcpy(s, src, len);                                                               \
        s[len] = '\0';                                                                         \
        dst = s;                                                                               \
        s += (len) + 1;                                                                        \
    } while (0)
    char *mp, *tp, *rp;
    PUT(mp, method, method_len);
    PUT(tp, target, target_len);
    PUT(rp, reason, reason_len);
    for (size_t i = 0; i < n; i++) {
        const char *np, *vp;
        PUT(np, h[i].name, h[i].name_len);
        PUT(vp, h[i].value, h[i].value_len);
        f[i].name = np;
        f[i].value = vp;
        f[i].name_len = h[i].name_len;
        f[i].value_len = h[i].value_len;
    }
#undef PUT
    sdiff_free(m->headers);
    m->headers = f;
    m->nheaders = n;
    m->method = mp;
    m->target = tp;
    m->reason = rp;
    return SDIFF_OK;
}

int sdiff_msg_set_headers(struct sdiff_msg *m, const struct sdiff_hfield *h, size_t n)
{
    const char *method = m->method ? m->method : "";
    const char *target = m->target ? m->target : "";
    const char *reason = m->reason ? m->reason : "";
    return sdiff__msg_build(m, method, strlen(method), target, strlen(target), reason,
                            strlen(reason), h, n);
}

int sdiff_exchange_json_add_tunnel(const struct sdiff_exchange *ex, struct sdiff_buf *b)
{
    const struct sdiff_tunnel *t = &ex->tunnel;
    if (t->depth == 0)
        return SDIFF_OK;
    if (b->len == 0 || b->data[b->len - 1] != '}')
        return SDIFF_EINVAL;
    b->len--; /* reopen the object */
    int rc = sdiff_buf_puts(b, b->len > 1 ? ",\"tunnel\":{\"kinds\":[" : "\"tunnel\":{\"kinds\":[");
    for (unsigned i = 0; i < t->depth && i < SDIFF_TUNNEL_MAX_DEPTH && rc >= 0; i++)
        rc = sdiff_buf_printf(b, "%s\"%s\"", i ? "," : "",
                              sdiff_tunnel_kind_str((enum sdiff_tunnel_kind)t->kind[i]));
    for (int i = 0; i < 2 && rc >= 0; i++) {
        /* addresses only: inet_ntop's output needs no escaping */
        char ip[INET6_ADDRSTRLEN] = "?";
        inet_ntop(t->family == 6 ? AF_INET6 : AF_INET, t->addr[i], ip, sizeof ip);
        rc = sdiff_buf_printf(b, "%s\"%s\"", i ? "," : "],\"endpoints\":[", ip);
    }
    if (rc >= 0)
        rc = sdiff_buf_printf(b, "],\"id\":%lu}}", (unsigned long)t->id);
    return rc < 0 ? rc : SDIFF_OK;
}

double sdiff_exchange_primary_ms(const struct sdiff_exchange *ex)
{
    if (!ex->resp.complete || ex->t_resp_end < ex->t_req_start || ex->t_req_start == 0)
        return -1;
    return (double)(ex->t_resp_end - ex->t_req_start) / 1000.0;
}

int sdiff_header_is_secret(const char *name, size_t len)
{
    /* every header of every message is asked about: lengths are known, not measured */
#define S(s) {s, sizeof s - 1}
    static const struct {
        const char *name;
        size_t len;
    } secret[] = {
        S("authorization"), S("proxy-authorization"), S("cookie"), S("set-cookie"),
        S("x-api-key"), S("api-key"), S("x-auth-token"), S("x-access-token"), S("x-csrf-token"),
        S("x-xsrf-token"), S("x-amz-security-token"), S("x-goog-api-key"), S("private-token"),
        S("x-vault-token"),
    };
#undef S
    for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++)
        if (secret[i].len == len && strncasecmp(secret[i].name, name, len) == 0)
            return 1;
    return 0;
}

int sdiff_value_is_redacted(const char *v, size_t len)
{
    static const char legacy[] = "[redacted]";
    const size_t plen = sizeof SDIFF_REDACTED_PREFIX - 1;
    if (len == sizeof legacy - 1 && memcmp(v, legacy, len) == 0)
        return 1;
    for (size_t i = 0; i + plen + SDIFF_REDACTED_HEX <= len; i++) {
        if (memcmp(v + i, SDIFF_REDACTED_PREFIX, plen) != 0)
            continue;
        size_t k = 0;
        while (k < SDIFF_REDACTED_HEX && ((v[i + plen + k] >= '0' && v[i + plen + k] <= '9') ||
                                          (v[i + plen + k] >= 'a' && v[i + plen + k] <= 'f')))
            k++;
        if (k == SDIFF_REDACTED_HEX)
            return 1;
    }
    return 0;
}
