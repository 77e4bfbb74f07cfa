/*
 * cost.c - CPU and memory of one side, read from /proc, a cgroup or a Prometheus endpoint's
 * text, and what they cost per request. Everything read here comes from files the kernel or
 * another process writes: each value is parsed with a bound and a failure is an error, never
 * a zero that would make a side look free.
 */
#include "shadowdiff/cost.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------------- */

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Read a small file whole into buf (NUL-terminated); its length, or -1 (errno set). */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        errno = EIO;
        return -1;
    }
    buf[n] = '\0';
    return (ssize_t)n;
}

/* One unsigned decimal at *p (after blanks); advances *p. 0 when there is none. */
static int take_u64(const char **p, uint64_t *v)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (!isdigit((unsigned char)*s))
        return 0;
    uint64_t x = 0;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (x > (UINT64_MAX - d) / 10)
            return 0;
        x = x * 10 + d;
        s++;
    }
    *p = s;
    *v = x;
    return 1;
}

/* ---- process trees ------------------------------------------------------------------------- */

struct proc_row {
    pid_t pid, ppid;
    uint64_t ticks;     /* utime + stime + cutime + cstime */
    uint64_t rss_pages;
};

/*
 * /proc/PID/stat: "pid (comm) state ppid ... utime stime cutime cstime ... rss ...". comm may
 * hold spaces and parentheses, so fields are counted from the last ')'. proc(5): ppid is
 * field 4, utime..cstime 14-17, rss 24.
 */
static int parse_stat(const char *text, struct proc_row *r)
{
    const char *close = strrchr(text, ')');
    if (close == NULL || close[1] != ' ')
        return 0;
    const char *p = close + 2;
    /* field 3, the state: one character */
    if (*p == '\0' || p[1] != ' ')
        return 0;
    p += 2;
    uint64_t f[22]; /* fields 4..25 */
    for (int i = 0; i < 22; i++) {
        /* a few fields are signed (priority, nice); none of those we keep is */
        while (*p == ' ')
            p++;
        if (*p == '-')
            p++;
        if (!take_u64(&p, &f[i]))
            return 0;
    }
    r->ppid = (pid_t)f[0];
    r->ticks = f[10] + f[11] + f[12] + f[13];
    r->rss_pages = f[20];
    return 1;
}

enum { TREE_UNKNOWN = 0, TREE_IN = 1, TREE_OUT = 2 };

static int by_pid(const void *a, const void *b)
{
    pid_t x = ((const struct proc_row *)a)->pid, y = ((const struct proc_row *)b)->pid;
    return (x > y) - (x < y);
}

int sdiff_cost_sample_pid(const char *proc_root, pid_t root, struct sdiff_cost_sample *out,
                          struct sdiff_err *err)
{
    char path[512], text[2048];
    struct sdiff_buf rows;
    DIR *d = NULL;
    uint8_t *in = NULL;
    size_t *path_ix = NULL;
    int rc = SDIFF_OK;
    memset(out, 0, sizeof *out);
    /* a million processes is more than any host runs; the cap keeps a hostile /proc bounded */
    sdiff_buf_init(&rows, (size_t)1 << 20 << 5);
    snprintf(path, sizeof path, "%s/%d/stat", proc_root, (int)root);
    if (read_small(path, text, sizeof text) < 0) {
        rc = sdiff_err_set(err, SDIFF_EINVAL, "cost", "no process %d", (int)root);
        goto out;
    }
    /* a zombie has exited: what is left is its exit status, not a service (its children
     * were handed to another parent) */
    const char *state = strrchr(text, ')');
    if (state && state[1] == ' ' && (state[2] == 'Z' || state[2] == 'X')) {
        rc = sdiff_err_set(err, SDIFF_EINVAL, "cost", "process %d exited", (int)root);
        goto out;
    }
    d = opendir(proc_root);
    if (d == NULL) {
        rc = sdiff_err_set(err, SDIFF_EIO, "cost", "cannot read %s: %s", proc_root,
                           strerror(errno));
        goto out;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        uint64_t pid;
        if (!take_u64(&name, &pid) || *name != '\0' || pid > INT32_MAX)
            continue;
        snprintf(path, sizeof path, "%s/%s/stat", proc_root, de->d_name);
        struct proc_row r = {.pid = (pid_t)pid};
        /* a process may exit between readdir and the read: it is simply not there */
        if (read_small(path, text, sizeof text) < 0 || !parse_stat(text, &r))
            continue;
        if ((rc = sdiff_buf_append(&rows, &r, sizeof r)) < 0) {
            rc = sdiff_err_set(err, rc, "cost", "too many processes under %s", proc_root);
            goto out;
        }
    }
    /* Mark the tree: sorted by pid, each process walks up its parents until it meets one
     * whose answer is known (the root: in; pid 0 or a parent that is gone: out), and the
     * answer is kept for the whole path, so each process is walked once. */
    struct proc_row *v = (struct proc_row *)rows.data;
    size_t n = rows.len / sizeof *v;
    qsort(v, n, sizeof *v, by_pid);
    in = sdiff_malloc(n ? n : 1);
    path_ix = sdiff_malloc((n ? n : 1) * sizeof *path_ix);
    if (in == NULL || path_ix == NULL) {
        rc = sdiff_err_set(err, SDIFF_ENOMEM, "cost", "out of memory");
        goto out;
    }
    memset(in, TREE_UNKNOWN, n);
    for (size_t i = 0; i < n; i++) {
        size_t depth = 0, k = i;
        uint8_t answer = TREE_OUT;
        for (;;) {
            if (in[k] != TREE_UNKNOWN) {
                answer = in[k];
                break;
            }
            if (v[k].pid == root) {
                answer = TREE_IN;
                break;
            }
            path_ix[depth++] = k;
            struct proc_row key = {.pid = v[k].ppid};
            const struct proc_row *up = v[k].ppid > 0 && depth < n
                                            ? bsearch(&key, v, n, sizeof *v, by_pid)
                                            : NULL;
            if (up == NULL)
                break; /* reached pid 0 or a parent that exited: not in the tree */
            k = (size_t)(up - v);
        }
        if (v[k].pid == root)
            in[k] = TREE_IN;
        while (depth > 0)
            in[path_ix[--depth]] = answer;
    }
    long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    uint64_t ticks = 0, pages = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] != TREE_IN)
            continue;
        ticks += v[i].ticks;
        pages += v[i].rss_pages;
        out->processes++;
    }
    if (out->processes == 0) {
        rc = sdiff_err_set(err, SDIFF_EINVAL, "cost", "process %d exited", (int)root);
        goto out;
    }
    out->cpu_s = (double)ticks / (double)(hz > 0 ? hz : 100);
    out->mem_bytes = pages * (uint64_t)(page > 0 ? page : 4096);
    out->t_us = now_us();
out:
    if (d)
        closedir(d);
    sdiff_free(in);
    sdiff_free(path_ix);
    sdiff_buf_dispose(&rows);
    return rc;
}

/* ---- cgroups ------------------------------------------------------------------------------- */

/* The value after "key " on its own line of a flat-keyed file (cpu.stat). */
static int keyed_u64(const char *text, const char *key, uint64_t *v)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
            const char *q = p + kl;
            return take_u64(&q, v);
        }
    }
    return 0;
}

static int file_u64(const char *path, uint64_t *v)
{
    char text[64];
    if (read_small(path, text, sizeof text) < 0)
        return -1;
    const char *p = text;
    return take_u64(&p, v) ? 0 : -1;
}

int sdiff_cost_sample_cgroup(const char *cgroup_root, const char *path,
                             struct sdiff_cost_sample *out, int *mem_known, struct sdiff_err *err)
{
    char p[4096], text[4096];
    uint64_t v;
    memset(out, 0, sizeof *out);
    *mem_known = 0;
    if (path[0] != '/' || strstr(path, "/..") != NULL)
        return sdiff_err_set(err, SDIFF_EINVAL, "cost",
                             "cgroup path must be absolute, below the cgroup root: %.200s", path);
    /* cgroup v2: the unified tree at the root (v2 only) or under unified/ (hybrid) */
    static const char *const v2[] = {"", "/unified"};
    for (size_t i = 0; i < sizeof v2 / sizeof v2[0]; i++) {
        snprintf(p, sizeof p, "%s%s%s/cpu.stat", cgroup_root, v2[i], path);
        if (read_small(p, text, sizeof text) < 0)
            continue;
        if (!keyed_u64(text, "usage_usec", &v))
            return sdiff_err_set(err, SDIFF_EIO, "cost", "%.300s has no usage_usec", p);
        out->cpu_s = (double)v / 1e6;
        snprintf(p, sizeof p, "%s%s%s/memory.current", cgroup_root, v2[i], path);
        if (file_u64(p, &v) == 0) {
            out->mem_bytes = v;
            *mem_known = 1;
        } else {
            /* no memory controller in this v2 tree (as on hybrid hosts): try v1's */
            snprintf(p, sizeof p, "%s/memory%s/memory.usage_in_bytes", cgroup_root, path);
            if (file_u64(p, &v) == 0) {
                out->mem_bytes = v;
                *mem_known = 1;
            }
        }
        out->t_us = now_us();
        return SDIFF_OK;
    }
    /* cgroup v1: cpuacct (often co-mounted as cpu,cpuacct) and memory hierarchies */
    static const char *const acct[] = {"cpuacct", "cpu,cpuacct", "cpu"};
    int have_cpu = 0;
    for (size_t i = 0; i < sizeof acct / sizeof acct[0] && !have_cpu; i++) {
        snprintf(p, sizeof p, "%s/%s%s/cpuacct.usage", cgroup_root, acct[i], path);
        if (file_u64(p, &v) == 0) {
            out->cpu_s = (double)v / 1e9;
            have_cpu = 1;
        }
    }
    if (!have_cpu)
        return sdiff_err_set(err, SDIFF_EINVAL, "cost", "no cgroup %.200s under %.200s", path,
                             cgroup_root);
    snprintf(p, sizeof p, "%s/memory%s/memory.usage_in_bytes", cgroup_root, path);
    if (file_u64(p, &v) == 0) {
        out->mem_bytes = v;
        *mem_known = 1;
    }
    out->t_us = now_us();
    return SDIFF_OK;
}

/* ---- Prometheus text ------------------------------------------------------------------------ */

/* The sample value of a line "name{labels} value [timestamp]" whose name is `name`. */
static int metric_line(const char *line, size_t len, const char *name, double *v)
{
    size_t nl = strlen(name);
    if (len <= nl || memcmp(line, name, nl) != 0 || (line[nl] != ' ' && line[nl] != '{'))
        return 0;
    const char *p = line + nl, *end = line + len;
    if (*p == '{') {
        /* label values may hold '}' inside quotes */
        int quoted = 0;
        for (p++; p < end; p++) {
            if (*p == '\\' && quoted && p + 1 < end)
                p++;
            else if (*p == '"')
                quoted = !quoted;
            else if (*p == '}' && !quoted)
                break;
        }
        if (p >= end)
            return 0;
        p++;
    }
    char num[64];
    while (p < end && *p == ' ')
        p++;
    size_t k = 0;
    while (p < end && *p != ' ' && k < sizeof num - 1)
        num[k++] = *p++;
    num[k] = '\0';
    char *e;
    double x = strtod(num, &e);
    if (k == 0 || *e != '\0' || !(x >= 0) || x > 1e18)
        return 0;
    *v = x;
    return 1;
}

int sdiff_cost_parse_metrics(const char *text, size_t len, struct sdiff_cost_sample *out,
                             struct sdiff_err *err)
{
    memset(out, 0, sizeof *out);
    int have_cpu = 0;
    double mem = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t ll = nl ? (size_t)(nl - (text + i)) : len - i;
        double v;
        if (metric_line(text + i, ll, "process_cpu_seconds_total", &v)) {
            out->cpu_s += v;
            have_cpu = 1;
        } else if (metric_line(text + i, ll, "process_resident_memory_bytes", &v)) {
            mem += v;
        }
        i += ll + 1;
    }
    if (!have_cpu)
        return sdiff_err_set(err, SDIFF_EPARSE, "cost", "no process_cpu_seconds_total sample");
    out->mem_bytes = (uint64_t)mem;
    out->t_us = now_us();
    return SDIFF_OK;
}

/* ---- summary -------------------------------------------------------------------------------- */

int sdiff_cost_summarise(const struct sdiff_cost_sample *s, size_t n, uint64_t requests,
                         const struct sdiff_cost_model *model, struct sdiff_cost_side *out,
                         struct sdiff_err *err)
{
    memset(out, 0, sizeof *out);
    if (n < 2)
        return sdiff_err_set(err, SDIFF_EINVAL, "cost", "%zu samples: two are needed", n);
    double mem_sum = 0, gib_s = 0;
    uint64_t peak = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && s[i].t_us < s[i - 1].t_us)
            return sdiff_err_set(err, SDIFF_EINVAL, "cost", "samples out of time order");
        mem_sum += (double)s[i].mem_bytes;
        if (s[i].mem_bytes > peak)
            peak = s[i].mem_bytes;
        if (i > 0) /* memory held over each interval, trapezoids */
            gib_s += ((double)s[i].mem_bytes + (double)s[i - 1].mem_bytes) / 2 /
                     (1024.0 * 1024 * 1024) * (double)(s[i].t_us - s[i - 1].t_us) / 1e6;
    }
    /* a counter that went backwards (the process restarted) contributes nothing, not less */
    double cpu = 0;
    for (size_t i = 1; i < n; i++)
        if (s[i].cpu_s > s[i - 1].cpu_s)
            cpu += s[i].cpu_s - s[i - 1].cpu_s;
    out->requests = requests;
    out->window_s = (double)(s[n - 1].t_us - s[0].t_us) / 1e6;
    out->mem_mib_mean = mem_sum / (double)n / (1024.0 * 1024);
    out->mem_mib_peak = (double)peak / (1024.0 * 1024);
    out->cpu_ms_per_request = requests ? cpu * 1000 / (double)requests : -1;
    out->cost_per_million = model ? sdiff_cost_per_million(model, cpu, gib_s, requests) : -1;
    return SDIFF_OK;
}

double sdiff_cost_per_million(const struct sdiff_cost_model *model, double cpu_s, double gib_s,
                              uint64_t requests)
{
    if (requests == 0)
        return -1;
    double usd = cpu_s * model->usd_per_vcpu_second + gib_s * model->usd_per_gib_second;
    return usd / (double)requests * 1e6 + model->usd_per_million_requests;
}
