#ifndef SDIFF_COST_H
#define SDIFF_COST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shadowdiff/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/cost.h - what serving requests costs each side: CPU time and resident memory,
 * sampled from a process and its descendants (/proc), from a cgroup (v1 or v2), or from a
 * Prometheus endpoint's process_* metrics, and turned into CPU per request and a cost per
 * million requests under a price model.
 *
 * A sample is a reading of cumulative CPU seconds and current memory; costs come from the
 * difference of two samples. Readers take a root directory ("/proc", "/sys/fs/cgroup") so
 * tests can hand them fixture trees. No allocation outlives a call; thread-safe (no state).
 */

struct sdiff_cost_sample {
    uint64_t t_us;       /* when it was taken (CLOCK_MONOTONIC, microseconds) */
    double cpu_s;        /* cumulative CPU seconds, user + system */
    uint64_t mem_bytes;  /* resident memory now */
    uint32_t processes;  /* processes counted (pid trees); 0 for cgroups and metrics */
};

/**
 * Sample the process root and every descendant alive now (found by their parent pids in
 * proc_root, normally "/proc"; re-scanned at every call, so workers that a master restarts are
 * counted): CPU is utime + stime + cutime + cstime of each, so a worker that exited and was
 * waited for keeps counting through its parent; memory is the sum of their resident sets
 * (pages shared between forked workers count once per process).
 * @return SDIFF_OK; SDIFF_EINVAL when root does not exist; SDIFF_EIO
 */
SDIFF_API int sdiff_cost_sample_pid(const char *proc_root, pid_t root,
                                    struct sdiff_cost_sample *out, struct sdiff_err *err);

/**
 * Sample a cgroup: path is the cgroup's path below cgroup_root (normally "/sys/fs/cgroup"),
 * e.g. "/system.slice/app.service". cgroup v2 (cpu.stat usage_usec, memory.current) is read
 * from cgroup_root or cgroup_root/unified; v1 from the cpuacct (cpuacct.usage) and memory
 * (memory.usage_in_bytes) hierarchies. A v2 tree without a memory controller gives memory 0
 * and says so through *mem_known = 0.
 * @return SDIFF_OK; SDIFF_EINVAL when the cgroup is not found in any hierarchy; SDIFF_EIO
 */
SDIFF_API int sdiff_cost_sample_cgroup(const char *cgroup_root, const char *path,
                                       struct sdiff_cost_sample *out, int *mem_known,
                                       struct sdiff_err *err);

/**
 * Read process_cpu_seconds_total and process_resident_memory_bytes from a Prometheus text
 * exposition (len bytes of text, not NUL-terminated). Samples with labels are summed.
 * @return SDIFF_OK; SDIFF_EPARSE when process_cpu_seconds_total is absent
 */
SDIFF_API int sdiff_cost_parse_metrics(const char *text, size_t len,
                                       struct sdiff_cost_sample *out, struct sdiff_err *err);

/* Prices of a CPU-proportional estimate (a process is billed for the CPU it used, which is
 * not how Cloud Run bills: it bills allocated vCPU over billable instance time). */
struct sdiff_cost_model {
    const char *source;           /* where the prices were read */
    const char *read_on;          /* "YYYY-MM-DD" */
    double usd_per_vcpu_second;
    double usd_per_gib_second;
    double usd_per_million_requests;
};

/* Cloud Run Tier 1, request-based billing, public price list read on 2026-12-07. */
#define SDIFF_COST_MODEL_CLOUD_RUN                                                              \
    {                                                                                           \
        .source = "Cloud Run pricing, Tier 1, request-based billing", .read_on = "2026-12-07",  \
        .usd_per_vcpu_second = 0.000024, .usd_per_gib_second = 0.0000025,                      \
        .usd_per_million_requests = 0.40,                                                       \
    }

/**
 * The cost of a million requests under model: cpu_s CPU seconds and gib_s GiB-seconds of
 * memory spent on `requests` requests, plus the per-request price. < 0 when requests is 0.
 */
SDIFF_API double sdiff_cost_per_million(const struct sdiff_cost_model *model, double cpu_s,
                                        double gib_s, uint64_t requests);

struct sdiff_cost_side {
    uint64_t requests;         /* served in the window */
    double window_s;
    double cpu_ms_per_request; /* < 0 when requests == 0 */
    double mem_mib_mean, mem_mib_peak;
    double cost_per_million;   /* USD under the model; < 0 without a model or requests */
};

/**
 * Summarise n >= 2 samples of one side (in time order) over which `requests` were served.
 * model may be NULL (cost_per_million < 0).
 * @return SDIFF_OK; SDIFF_EINVAL for fewer than 2 samples or time going backwards
 */
SDIFF_API int sdiff_cost_summarise(const struct sdiff_cost_sample *s, size_t n,
                                   uint64_t requests, const struct sdiff_cost_model *model,
                                   struct sdiff_cost_side *out, struct sdiff_err *err);

#ifdef __cplusplus
}
#endif
#endif
