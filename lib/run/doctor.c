/*
 * doctor.c - the preflight checks of `shadowdiff doctor`. Each check says what it found and,
 * when something is wrong, the one thing to do about it; nothing here keeps a resource or
 * creates a file, so the doctor can run beside a live sidecar.
 */
#include "shadowdiff/doctor.h"
#include "shadowdiff/store.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shadowdiff/capture.h"

struct report {
    sdiff_doctor_fn fn;
    void *ud;
    int failed;
};

static void say(struct report *r, enum sdiff_doctor_status st, const char *check, const char *fix,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void say(struct report *r, enum sdiff_doctor_status st, const char *check, const char *fix,
                const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    r->failed += st == SDIFF_DOCTOR_FAIL;
    r->fn(st, check, what, fix, r->ud);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- capture and traffic --------------------------------------------------------------------- */

static void check_capture(const struct sdiff_doctor_opts *o, struct report *r)
{
    char filter[512] = "tcp";
    size_t len = strlen(filter);
    for (size_t i = 0; i < o->nports && len < sizeof filter - 32; i++)
        len += (size_t)snprintf(filter + len, sizeof filter - len, "%sport %u%s",
                                i == 0 ? " and (" : " or ", o->ports[i],
                                i + 1 == o->nports ? ")" : "");
    struct sdiff_capture_opts co = {.interface = o->interface, .filter = filter,
                                    .timeout_ms = 100};
    struct sdiff_capture *c = NULL;
    struct sdiff_err err = {0};
    if (sdiff_capture_open(&c, &co, &err) < 0) {
        const char *fix = strstr(err.msg, "CAP_NET_RAW") || strstr(err.msg, "ermission")
                              ? "README: Least privilege"
                              : "check the interface name (ip link)";
        say(r, SDIFF_DOCTOR_FAIL, "capture", fix, "%s", err.msg);
        return;
    }
    say(r, SDIFF_DOCTOR_OK, "capture", NULL, "%s opened (filter: %s)", o->interface, filter);
    if (o->nports == 0) {
        sdiff_capture_close(c);
        return;
    }
    double wait = o->wait_s > 0 ? o->wait_s : 5, t0 = mono_s();
    uint64_t seen = 0;
    while (seen == 0 && mono_s() - t0 < wait) {
        struct sdiff_packet pkt;
        int rc = sdiff_capture_next(c, &pkt, &err);
        if (rc < 0)
            break;
        seen += rc == SDIFF_OK;
    }
    sdiff_capture_close(c);
    if (seen)
        say(r, SDIFF_DOCTOR_OK, "traffic", NULL, "packets on %s within %.1f s", filter,
            mono_s() - t0);
    else
        say(r, SDIFF_DOCTOR_FAIL, "traffic",
            "check the service's port (ss -ltnp) and that requests reach it now; behind a "
            "proxy or mesh, capture where the plaintext hop is (often lo)",
            "0 packets matched %s on %s in %.0f s", filter, o->interface, wait);
}

/* ---- reachability ------------------------------------------------------------------------------ */

/* host and port of an http:// or https:// URL; 0 on success */
static int url_host_port(const char *url, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *p;
    const char *def;
    if (strncmp(url, "http://", 7) == 0) {
        p = url + 7;
        def = "80";
    } else if (strncmp(url, "https://", 8) == 0) {
        p = url + 8;
        def = "443";
    } else {
        return -1;
    }
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n); /* user:password@ never reaches a log line */
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    const char *colon = NULL;
    if (n > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', n);
        if (close == NULL)
            return -1;
        if ((size_t)(close - p - 1) >= hcap)
            return -1;
        memcpy(host, p + 1, (size_t)(close - p - 1));
        host[close - p - 1] = '\0';
        if ((size_t)(close + 1 - p) < n && close[1] == ':')
            colon = close + 1;
    } else {
        colon = memchr(p, ':', n);
        size_t hl = colon ? (size_t)(colon - p) : n;
        if (hl == 0 || hl >= hcap)
            return -1;
        memcpy(host, p, hl);
        host[hl] = '\0';
    }
    if (colon) {
        size_t pl = n - (size_t)(colon + 1 - p);
        if (pl == 0 || pl >= pcap)
            return -1;
        memcpy(port, colon + 1, pl);
        port[pl] = '\0';
    } else {
        snprintf(port, pcap, "%s", def);
    }
    return 0;
}

static void check_reach(const char *check, const char *url, double timeout_s, struct report *r)
{
    char host[256], port[16];
    if (url_host_port(url, host, sizeof host, port, sizeof port) != 0) {
        say(r, SDIFF_DOCTOR_FAIL, check, "give a URL like http://127.0.0.1:8081",
            "not an http:// or https:// URL with a host");
        return;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int g = getaddrinfo(host, port, &hints, &ai);
    if (g != 0) {
        say(r, SDIFF_DOCTOR_FAIL, check, "check the host name and DNS", "%s:%s: %s", host, port,
            gai_strerror(g));
        return;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = fd < 0 ? -1 : connect(fd, ai->ai_addr, ai->ai_addrlen);
    int e = rc == 0 ? 0 : errno;
    if (rc != 0 && e == EINPROGRESS) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int ms = (int)((timeout_s > 0 ? timeout_s : 2) * 1000);
        if (poll(&pfd, 1, ms) == 1) {
            socklen_t el = sizeof e;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
        } else {
            e = ETIMEDOUT;
        }
    }
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    if (e == 0)
        say(r, SDIFF_DOCTOR_OK, check, NULL, "%s:%s accepts connections", host, port);
    else
        say(r, SDIFF_DOCTOR_FAIL, check, "start it, or correct the URL", "%s:%s: %s", host, port,
            strerror(e));
}

/* ---- files ------------------------------------------------------------------------------------- */

static void check_db(const char *db, struct report *r)
{
    if (strncmp(db, "postgres://", 11) == 0 || strncmp(db, "postgresql://", 13) == 0) {
        /* connect and create or migrate the schema, as the first writer will */
        struct sdiff_store *st = NULL;
        struct sdiff_err err = {0};
        char shown[300];
        sdiff_store_shown(db, shown, sizeof shown);
        if (sdiff_store_open(&st, db, NULL, &err) < 0)
            say(r, SDIFF_DOCTOR_FAIL, "store",
                "check the URL, PGPASSFILE or PGPASSWORD, and that the server runs", "%s",
                err.msg);
        else
            say(r, SDIFF_DOCTOR_OK, "store", NULL, "%s answers and holds schema %d", shown,
                sdiff_store_schema_version(st));
        sdiff_store_close(st);
        return;
    }
    struct stat st;
    if (lstat(db, &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            say(r, SDIFF_DOCTOR_FAIL, "store", "name a regular file",
                "%s is not a regular file (a link or a directory)", db);
        } else if (st.st_uid != geteuid()) {
            say(r, SDIFF_DOCTOR_FAIL, "store", "use a database this user created",
                "%s belongs to uid %u, not to this user", db, (unsigned)st.st_uid);
        } else if (st.st_mode & 022) {
            say(r, SDIFF_DOCTOR_FAIL, "store", "chmod 600 it",
                "%s is writable by group or others", db);
        } else if (access(db, W_OK) != 0) {
            say(r, SDIFF_DOCTOR_FAIL, "store", "chmod u+w it", "%s is not writable", db);
        } else {
            say(r, SDIFF_DOCTOR_OK, "store", NULL, "%s is writable%s", db,
                st.st_mode & 044 ? " (readable by others: chmod 600 keeps its key private)"
                                 : "");
        }
        return;
    }
    /* not there yet: its directory must take a new file (and SQLite's WAL beside it) */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", db);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    if (access(dir, W_OK | X_OK) != 0)
        say(r, SDIFF_DOCTOR_FAIL, "store", "choose a directory this user can write",
            "cannot create %s: %s", db, strerror(errno));
    else
        say(r, SDIFF_DOCTOR_OK, "store", NULL, "%s will be created (mode 0600)", db);
}

static void check_key(const char *key, struct report *r)
{
    int fd = open(key, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        say(r, SDIFF_DOCTOR_FAIL, "redact-key", "create it: head -c 32 /dev/urandom > KEY",
            "cannot read %s: %s", key, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    close(fd);
    if (!S_ISREG(st.st_mode) || st.st_size < 16 || st.st_size > 256)
        say(r, SDIFF_DOCTOR_FAIL, "redact-key", "use 16 to 256 random bytes",
            "%s is not a file of 16 to 256 bytes", key);
    else if (st.st_mode & 077)
        say(r, SDIFF_DOCTOR_WARN, "redact-key", "chmod 600 it",
            "%s is readable by group or others", key);
    else
        say(r, SDIFF_DOCTOR_OK, "redact-key", NULL, "%s holds %lld bytes", key,
            (long long)st.st_size);
}

/* ---- API ----------------------------------------------------------------------------------------- */

int sdiff_doctor_run(const struct sdiff_doctor_opts *o, sdiff_doctor_fn fn, void *ud,
                     struct sdiff_err *err)
{
    if (!o->interface && !o->candidate && !o->primary && !o->secondary && !o->db &&
        !o->redact_key)
        return sdiff_err_set(err, SDIFF_EINVAL, "doctor", "nothing to check");
    struct report r = {.fn = fn, .ud = ud};
    if (o->interface)
        check_capture(o, &r);
    if (o->candidate)
        check_reach("candidate", o->candidate, o->connect_timeout_s, &r);
    if (o->primary)
        check_reach("primary", o->primary, o->connect_timeout_s, &r);
    if (o->secondary)
        check_reach("secondary", o->secondary, o->connect_timeout_s, &r);
    if (o->db)
        check_db(o->db, &r);
    if (o->redact_key)
        check_key(o->redact_key, &r);
    else if (o->db)
        say(&r, SDIFF_DOCTOR_OK, "redact-key", NULL,
            "the database's own key is used (instances of a fleet need one --redact-key)");
    return r.failed;
}
