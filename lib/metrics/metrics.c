/*
 * metrics.c - the only file with <microhttpd.h>: /metrics, /healthz and /readyz on a loopback
 * port.
 *
 * libmicrohttpd runs its own polling thread; the text it serves is swapped under a mutex.
 */
#include "shadowdiff/metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct sdiff_metrics {
    struct MHD_Daemon *d;
    pthread_mutex_t mu;
    char *text;
    size_t len;
    int ready;
    char ready_text[256];  /* the body of /readyz */
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    struct sdiff_metrics *m = cls;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    struct MHD_Response *r = NULL;
    unsigned status = MHD_HTTP_OK;
    const char *type = "text/plain; version=0.0.4; charset=utf-8";
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        r = MHD_create_response_from_buffer(19, (void *)"method not allowed\n",
                                            MHD_RESPMEM_PERSISTENT);
    } else if (strcmp(url, "/metrics") == 0) {
        pthread_mutex_lock(&m->mu);
        r = MHD_create_response_from_buffer(m->len, m->text ? m->text : (char *)"",
                                            MHD_RESPMEM_MUST_COPY);
        pthread_mutex_unlock(&m->mu);
    } else if (strcmp(url, "/healthz") == 0) {
        r = MHD_create_response_from_buffer(3, (void *)"ok\n", MHD_RESPMEM_PERSISTENT);
    } else if (strcmp(url, "/readyz") == 0) {
        pthread_mutex_lock(&m->mu);
        status = m->ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
        r = MHD_create_response_from_buffer(strlen(m->ready_text), m->ready_text,
                                            MHD_RESPMEM_MUST_COPY);
        pthread_mutex_unlock(&m->mu);
        type = "text/plain; charset=utf-8";
    } else {
        status = MHD_HTTP_NOT_FOUND;
        static const char hint[] = "try /metrics, /healthz or /readyz\n";
        r = MHD_create_response_from_buffer(sizeof hint - 1, (void *)hint,
                                            MHD_RESPMEM_PERSISTENT);
    }
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    if (colon == NULL)
        return -1;
    size_t hl = (size_t)(colon - s);
    if (hl >= sizeof host)
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || colon[1] == '\0')
        return -1;
    memset(ss, 0, sizeof *ss);
    if (hl == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (host[0] == '[') {
        size_t n = strlen(host);
        if (n < 2 || host[n - 1] != ']')
            return -1;
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            return -1;
        *len = sizeof *a6;
        return 6;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return -1;
    *len = sizeof *a4;
    return 4;
}

int sdiff_metrics_start(struct sdiff_metrics **out, const char *addr, struct sdiff_err *err)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    *out = NULL;
    int fam = parse_addr(addr, &ss, &sl);
    if (fam < 0)
        return sdiff_err_set(err, SDIFF_EINVAL, "metrics",
                             "--metrics: '%s' is not ADDR:PORT (e.g. 127.0.0.1:9464)", addr);
    struct sdiff_metrics *m = sdiff_calloc(1, sizeof *m);
    if (m == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "metrics", "out of memory");
    pthread_mutex_init(&m->mu, NULL);
    snprintf(m->ready_text, sizeof m->ready_text, "not ready: starting\n");
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (fam == 6)
        flags |= MHD_USE_IPv6;
    m->d = MHD_start_daemon(flags, 0, NULL, NULL, answer, m, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, 16u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (m->d == NULL) {
        pthread_mutex_destroy(&m->mu);
        sdiff_free(m);
        return sdiff_err_set(err, SDIFF_ENET, "metrics", "cannot listen on %s", addr);
    }
    *out = m;
    return SDIFF_OK;
}

void sdiff_metrics_stop(struct sdiff_metrics *m)
{
    if (m == NULL)
        return;
    MHD_stop_daemon(m->d);
    pthread_mutex_destroy(&m->mu);
    sdiff_free(m->text);
    sdiff_free(m);
}

int sdiff_metrics_publish(struct sdiff_metrics *m, const char *text, size_t len)
{
    char *copy = sdiff_malloc(len + 1);
    if (copy == NULL)
        return SDIFF_ENOMEM;
    memcpy(copy, text, len);
    copy[len] = '\0';
    pthread_mutex_lock(&m->mu);
    char *old = m->text;
    m->text = copy;
    m->len = len;
    pthread_mutex_unlock(&m->mu);
    sdiff_free(old);
    return SDIFF_OK;
}


void sdiff_metrics_set_ready(struct sdiff_metrics *m, int ready, const char *why)
{
    char line[sizeof m->ready_text - 1];
    int n = snprintf(line, sizeof line, "%s: %.200s", ready ? "ready" : "not ready",
                     why ? why : "");
    if (n < 0)
        return;
    /* one line of printable ASCII: why may quote a URL or a cause from elsewhere */
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
    pthread_mutex_lock(&m->mu);
    m->ready = ready;
    snprintf(m->ready_text, sizeof m->ready_text, "%s\n", line);
    pthread_mutex_unlock(&m->mu);
}
