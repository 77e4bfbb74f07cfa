/*
 * fetch.c - one bounded GET for the rest of the library (a service's metrics page now;
 * webhooks and OpenAPI URLs may follow): http:// or https:// only, a time limit on the whole
 * transfer, a size limit on the body, redirects never followed. Through libcurl's easy
 * interface, on the caller's thread, so it stays inside lib/replay with the rest of curl.
 */
#include "shadowdiff/replay.h"

#include <pthread.h>
#include <string.h>

#include <curl/curl.h>

struct sink {
    struct sdiff_buf *out;
    int over;              /* the body went past out's maximum */
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct sink *s = ud;
    size_t len = size * n;
    if (sdiff_buf_append(s->out, p, len) < 0) {
        s->over = 1;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    return len;
}

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static CURLcode fetch_init_rc;

static void fetch_init(void)
{
    fetch_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int sdiff_replay_fetch(const char *url, long timeout_ms, struct sdiff_buf *out,
                       struct sdiff_err *err)
{
    if (SDIFF_NEVER(url == NULL || out == NULL))
        return SDIFF_EINVAL;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return sdiff_err_set(err, SDIFF_EINVAL, "fetch", "%.200s: not an http:// or https:// URL",
                             url);
    pthread_once(&fetch_once, fetch_init);
    if (fetch_init_rc != CURLE_OK)
        return sdiff_err_set(err, SDIFF_ERR, "fetch", "curl_global_init: %s",
                             curl_easy_strerror(fetch_init_rc));
    CURL *e = curl_easy_init();
    if (e == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "fetch", "out of memory");
    struct sink s = {.out = out};
    long ms = timeout_ms > 0 ? timeout_ms : 2000;
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)out->max) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, &s) != CURLE_OK;
    /* the body as the server sends it: a metrics page is small, and a decoder would be one
     * more thing a hostile server could make expand */
    bad |= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "shadowdiff") != CURLE_OK;
    int rc = SDIFF_OK;
    if (bad) {
        rc = sdiff_err_set(err, SDIFF_ERR, "fetch", "%.200s: cannot set up the request", url);
        goto out;
    }
    CURLcode c = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (s.over || c == CURLE_FILESIZE_EXCEEDED)
        rc = sdiff_err_set(err, SDIFF_ELIMIT, "fetch", "%.200s: answer larger than %zu bytes",
                           url, out->max);
    else if (c == CURLE_OPERATION_TIMEDOUT)
        rc = sdiff_err_set(err, SDIFF_ETIMEOUT, "fetch", "%.200s: no answer in %ld ms", url, ms);
    else if (c != CURLE_OK)
        rc = sdiff_err_set(err, SDIFF_ENET, "fetch", "%.200s: %s", url, curl_easy_strerror(c));
    else if (status < 200 || status > 299)
        rc = sdiff_err_set(err, SDIFF_ERR, "fetch", "%.200s: status %ld%s", url, status,
                           status >= 300 && status < 400 ? " (redirects are not followed)"
                                                          : "");
out:
    curl_easy_cleanup(e);
    return rc;
}
