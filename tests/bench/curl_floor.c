/*
 * curl_floor.c - the fastest a libcurl replayer can go: N GET requests over C keep-alive
 * connections with the multi interface driven by epoll (curl_multi_socket_action), bodies
 * and headers thrown away, nothing read, compared or stored. bench_replay.sh runs it next
 * to wrk and shadowdiff replay, so the replay's ratio can be read against libcurl's own.
 *
 *   curl_floor URL REQUESTS CONNECTIONS
 *
 * Prints "REQUESTS requests in S s: R req/s" and exits 0, or exits 1 when a request failed.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>

static int ep;
static long timer_ms = -1;

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *ud, void *sockp)
{
    (void)e;
    (void)ud;
    (void)sockp;
    if (what == CURL_POLL_REMOVE)
        return epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL), 0;
    struct epoll_event ev = {.data.fd = fd};
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) != 0)
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static int on_timer(CURLM *m, long ms, void *ud)
{
    (void)m;
    (void)ud;
    timer_ms = ms;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: curl_floor URL REQUESTS CONNECTIONS\n");
        return 2;
    }
    long total = atol(argv[2]), started = 0, done = 0, failed = 0;
    int conns = atoi(argv[3]), running;
    if (total <= 0 || conns <= 0)
        return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    ep = epoll_create1(0);
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conns);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < conns && started < total; i++, started++) {
        CURL *e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, argv[1]);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, discard);
        curl_easy_setopt(e, CURLOPT_PROXY, "");
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_multi_add_handle(m, e);
    }
    curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
    struct epoll_event evs[64];
    while (done < total) {
        int n = epoll_wait(ep, evs, 64, timer_ms < 0 ? 1000 : (int)timer_ms);
        if (n <= 0)
            curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
        for (int i = 0; i < n; i++) {
            uint32_t f = evs[i].events;
            int mask = (f & EPOLLIN ? CURL_CSELECT_IN : 0) | (f & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                       (f & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(m, evs[i].data.fd, mask, &running);
        }
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            failed += msg->data.result != CURLE_OK;
            done++;
            curl_multi_remove_handle(m, e);
            if (started < total) { /* the same handle, so its connection is reused */
                started++;
                curl_multi_add_handle(m, e);
            } else {
                curl_easy_cleanup(e);
            }
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%ld requests in %.2f s: %.0f req/s\n", total, s, (double)total / s);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    if (failed) {
        fprintf(stderr, "curl_floor: %ld requests failed\n", failed);
        return 1;
    }
    return 0;
}
