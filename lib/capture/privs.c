/*
 * privs.c - giving up capabilities once the capture is open, in every thread.
 *
 * Linux keeps the capability sets, the bounding set and no_new_privs per thread; a new thread
 * copies its creator's. Dropping them in the thread that opened the capture would leave them
 * in the others (a mirror's main thread, the metrics server's, libcurl's resolver). So the
 * calling thread drops its own, sends every other thread a signal whose handler makes the
 * same system calls for itself (glibc does the same for setuid(2)), and reads each thread's
 * /proc/self/task/TID/status until every one shows the result, signalling again the ones that
 * do not. libcap's psx does this only for threads started through its own pthread_create
 * wrapper, not for those libmicrohttpd and libcurl start, hence raw prctl(2) and capset(2).
 */
#include "shadowdiff/capture.h"

#include <dirent.h>
#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PRIV_SIGNAL (SIGRTMIN + 5)
#define PRIV_WAIT_S 5.0 /* a thread that blocks the signal this long fails the drop */

static atomic_uint handler_what; /* what the handler drops in its thread */

/* Only system calls: this also runs in a signal handler. */
static void drop_self(unsigned what)
{
    if (what & SDIFF_PRIV_BOUNDING)
        for (unsigned long cap = 0; cap < 64; cap++)
            (void)prctl(PR_CAPBSET_DROP, cap, 0, 0, 0); /* EINVAL past the kernel's last */
    if (what & SDIFF_PRIV_SETS) {
        struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {{0, 0, 0}, {0, 0, 0}};
        (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        (void)syscall(SYS_capset, &h, d);
        (void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    }
}

static void on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    drop_self(atomic_load(&handler_what));
    errno = saved;
}

/* The value of "Key:\t..." in a status text (hex for Cap*, decimal otherwise); -1 if absent. */
static long long status_field(const char *text, const char *key, int base)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, key, kl) == 0 && p[kl] == ':')
            return (long long)strtoull(p + kl + 1, NULL, base);
    return -1;
}

/*
 * 1 when the thread shows what was asked, 0 when not yet (what it still has in detail), -1
 * when it is gone.
 */
static int thread_done(const char *tid, unsigned what, char *detail, size_t dcap)
{
    char path[64], text[8192];
    snprintf(path, sizeof path, "/proc/self/task/%s/status", tid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    static const char *const sets[] = {"CapInh", "CapPrm", "CapEff", "CapAmb"};
    if (what & SDIFF_PRIV_SETS) {
        for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
            long long v = status_field(text, sets[i], 16);
            if (v > 0) {
                snprintf(detail, dcap, "%s %016llx", sets[i], (unsigned long long)v);
                return 0;
            }
        }
        if (status_field(text, "NoNewPrivs", 10) == 0) {
            snprintf(detail, dcap, "no_new_privs unset");
            return 0;
        }
    }
    if ((what & SDIFF_PRIV_BOUNDING) && status_field(text, "CapBnd", 16) > 0) {
        snprintf(detail, dcap, "CapBnd %016llx",
                 (unsigned long long)status_field(text, "CapBnd", 16));
        return 0;
    }
    return 1;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/*
 * Without /proc the other threads can be neither listed nor checked: the calling thread is
 * checked with capget(2) and PR_GET_NO_NEW_PRIVS. Complete for a single-threaded capture.
 */
static int self_check(unsigned what, struct sdiff_err *err)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
    memset(d, 0, sizeof d);
    if (!(what & SDIFF_PRIV_SETS))
        return SDIFF_OK;
    if (syscall(SYS_capget, &h, d) != 0 ||
        (d[0].permitted | d[1].permitted | d[0].effective | d[1].effective |
         d[0].inheritable | d[1].inheritable) != 0 ||
        prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        return sdiff_err_set(err, SDIFF_EPERM, "privileges", "cannot give up capabilities");
    return SDIFF_OK;
}

int sdiff_capture_drop_privileges(unsigned what, struct sdiff_err *err)
{
    char self[24], detail[64] = "";
    pid_t pid = getpid();
    snprintf(self, sizeof self, "%ld", (long)syscall(SYS_gettid));
    /* the bounding set can only be emptied with CAP_SETPCAP (root has it) */
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct cur[_LINUX_CAPABILITY_U32S_3];
    memset(cur, 0, sizeof cur);
    if (syscall(SYS_capget, &h, cur) != 0 || !(cur[0].effective & (1u << CAP_SETPCAP)))
        what &= ~SDIFF_PRIV_BOUNDING;
    if (what == 0)
        return SDIFF_OK;
    atomic_store(&handler_what, what);
    /* Installed for good: a signal still queued for a thread that has dropped already must
     * find the (harmless) handler, not the default action, which ends the process. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(PRIV_SIGNAL, &sa, NULL) != 0)
        return sdiff_err_set(err, SDIFF_EPERM, "privileges", "cannot install a signal handler: %s",
                             strerror(errno));
    drop_self(what);
    if (thread_done(self, what, detail, sizeof detail) == 0)
        return sdiff_err_set(err, SDIFF_EPERM, "privileges",
                             "cannot give up capabilities: %s is left", detail);
    double deadline = now_s() + PRIV_WAIT_S;
    for (;;) {
        DIR *d = opendir("/proc/self/task");
        if (d == NULL && errno == ENOENT)
            return self_check(what, err); /* no /proc (a bare chroot): this thread only */
        if (d == NULL)
            return sdiff_err_set(err, SDIFF_EPERM, "privileges",
                                 "cannot list the threads in /proc/self/task: %s",
                                 strerror(errno));
        int all = 1;
        long left = 0;
        for (struct dirent *e; (e = readdir(d)) != NULL;) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9')
                continue;
            if (thread_done(e->d_name, what, detail, sizeof detail) != 0)
                continue;
            all = 0;
            left = atol(e->d_name);
            (void)syscall(SYS_tgkill, (long)pid, left, PRIV_SIGNAL);
        }
        closedir(d);
        if (all)
            return SDIFF_OK;
        if (now_s() > deadline)
            return sdiff_err_set(err, SDIFF_EPERM, "privileges",
                                 "thread %ld kept its capabilities (%s)", left, detail);
        struct timespec pause = {0, 5 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}
