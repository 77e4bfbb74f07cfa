/*
 * instances.c - the per-instance breakdown of a report (`report --by instance`): one row per
 * process that wrote to the run, from the store's aggregate. The run's own numbers are never
 * derived from these rows: they come from all of its results at once.
 */
#include "shadowdiff/report.h"

#include <string.h>

#include "report/report_int.h"
#include "shadowdiff/store.h"

#define WHERE "report"

static char *dup_or_null(const char *s, int *ok)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    char *d = sdiff_malloc(n + 1);
    if (d == NULL) {
        *ok = 0;
        return NULL;
    }
    memcpy(d, s, n + 1);
    return d;
}

static void instance_dispose(struct sdiff_report_instance *in)
{
    sdiff_free(in->id);
    sdiff_free(in->host);
    sdiff_free(in->side);
    sdiff_free(in->started_at);
    sdiff_free(in->stopped_at);
}

void sdiff__report_instances_free(struct sdiff_report *r)
{
    for (size_t i = 0; i < r->ninstances; i++)
        instance_dispose(&r->instances[i]);
    sdiff_free(r->instances);
    r->instances = NULL;
    r->ninstances = 0;
}

struct collect {
    struct sdiff_report_instance *v;
    size_t n, cap;
};

static int collect_one(const struct sdiff_store_instance *in, void *ud, struct sdiff_err *err)
{
    struct collect *c = ud;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        if (cap > SIZE_MAX / sizeof *c->v)
            return sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
        void *v = sdiff_realloc(c->v, cap * sizeof *c->v);
        if (v == NULL)
            return sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
        c->v = v;
        c->cap = cap;
    }
    struct sdiff_report_instance *o = &c->v[c->n];
    int ok = 1;
    memset(o, 0, sizeof *o);
    o->id = dup_or_null(in->id ? in->id : "", &ok);
    o->host = dup_or_null(in->host, &ok);
    o->side = dup_or_null(in->side, &ok);
    o->started_at = dup_or_null(in->started_at, &ok);
    o->stopped_at = dup_or_null(in->stopped_at, &ok);
    if (!ok) {
        instance_dispose(o);
        return sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
    }
    o->pid = in->pid;
    o->samples = in->samples;
    o->identical = in->identical;
    o->equivalent = in->equivalent;
    o->different = in->different;
    o->errors = in->errors;
    o->skipped = in->skipped;
    o->judged = in->identical + in->equivalent + in->different;
    o->parity = o->judged ? (double)(in->identical + in->equivalent) / (double)o->judged : -1;
    c->n++;
    return SDIFF_OK;
}

int sdiff_report_add_instances(struct sdiff_report *r, const char *db_path,
                               struct sdiff_err *err)
{
    struct sdiff_store *st = NULL;
    struct collect c = {0};
    if (SDIFF_NEVER(r == NULL || db_path == NULL))
        return SDIFF_EINVAL;
    int rc = sdiff__report_open_store(db_path, &st, err);
    if (rc >= 0)
        rc = sdiff_store_each_instance(st, r->run_id, r->thresholds.since_us, collect_one, &c,
                                       err);
    sdiff_store_close(st);
    if (rc < 0) {
        for (size_t i = 0; i < c.n; i++)
            instance_dispose(&c.v[i]);
        sdiff_free(c.v);
        return rc;
    }
    sdiff__report_instances_free(r);
    r->instances = c.v;
    r->ninstances = c.n;
    return SDIFF_OK;
}
