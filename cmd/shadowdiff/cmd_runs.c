/*
 * cmd_runs.c - `shadowdiff runs`: the runs of a results database, one line each (or JSON):
 * id, name, labels, kind, instances, started, last activity, state and counts. Read-only.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "shadowdiff/store.h"

#define RUNS_SCHEMA_VERSION 1

static const char USAGE[] =
    "usage: shadowdiff runs --db FILE [--format text|json] [--out FILE|-]\n"
    "\n"
    "  shadowdiff runs --db results.db\n"
    "  shadowdiff runs --db results.db --format json --out runs.json\n"
    "\n"
    "Lists the runs of a results database, oldest first: id, name, kind, instances (the\n"
    "processes that wrote to it), started, last activity, state (running, finished,\n"
    "interrupted, failed), the counts of its results (judged, different, errors, skipped) and\n"
    "its labels. Select one for report or accept with --run ID or --run NAME.\n"
    "\n"
    "  -d, --db FILE|URL           results database (read-only)\n"
    "  -f, --format F              text (default) or json\n"
    "  -o, --out FILE|-            write there instead of stdout\n"
    "  -h, --help                  this text\n"
    "  -V, --version               the version\n"
    "\n"
    "Exit: 0 listed (also when there is no run); 2 error.\n";

/* A string from the database as JSON: invalid UTF-8 made valid, never dropped. */
static json_t *jtext(const char *s)
{
    if (s == NULL)
        return json_null();
    json_t *v = json_string(s);
    if (v != NULL)
        return v;
    struct sdiff_buf b;
    sdiff_buf_init(&b, 1u << 20);
    if (sdiff_buf_text(&b, s, strlen(s), SDIFF_TEXT_UTF8_ONLY) >= 0)
        v = json_string(b.data ? (const char *)b.data : "");
    sdiff_buf_dispose(&b);
    return v ? v : json_null();
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "k=v, k=v" in key order, or NULL without labels; into b. */
static const char *labels_line(const char *labels, struct sdiff_buf *b)
{
    const char *keys[64], *k;
    size_t n = 0;
    json_t *v, *o = labels ? json_loads(labels, 0, NULL) : NULL;
    int rc = 0;
    sdiff_buf_reset(b);
    if (!json_is_object(o) || json_object_size(o) == 0) {
        json_decref(o);
        return NULL;
    }
    json_object_foreach(o, k, v) {
        if (n < sizeof keys / sizeof keys[0])
            keys[n++] = k;
    }
    qsort(keys, n, sizeof keys[0], cmp_str);
    for (size_t i = 0; i < n && rc >= 0; i++) {
        v = json_object_get(o, keys[i]);
        rc = sdiff_buf_printf(b, "%s%s=%s", i ? ", " : "", keys[i],
                              json_is_string(v) ? json_string_value(v) : "?");
    }
    json_decref(o);
    return rc < 0 || b->data == NULL ? NULL : (const char *)b->data;
}

struct ctx {
    FILE *f;
    int json;
    json_t *arr;
    struct sdiff_text_ring t;
    struct sdiff_buf lb;
    size_t n;
};

static int one_run(const struct sdiff_store_run *run, const struct sdiff_store_run_counts *c,
                   void *ud, struct sdiff_err *err)
{
    struct ctx *x = ud;
    (void)err;
    x->n++;
    if (x->json) {
        json_t *o = json_object(), *cnt = json_object();
        json_t *labels = run->labels_json ? json_loads(run->labels_json, 0, NULL) : NULL;
        json_object_set_new(o, "id", json_integer((json_int_t)run->id));
        json_object_set_new(o, "name", jtext(run->name));
        json_object_set_new(o, "labels", json_is_object(labels) ? labels : json_null());
        if (labels && !json_is_object(labels))
            json_decref(labels);
        json_object_set_new(o, "kind", jtext(run->kind));
        json_object_set_new(o, "instances", json_integer((json_int_t)c->instances));
        json_object_set_new(o, "started_at", jtext(run->started_at));
        json_object_set_new(o, "last_activity", jtext(run->last_activity));
        json_object_set_new(o, "finished_at", jtext(run->finished_at));
        json_object_set_new(o, "state", jtext(run->state));
        json_object_set_new(cnt, "samples", json_integer((json_int_t)c->samples));
        json_object_set_new(cnt, "judged", json_integer((json_int_t)c->judged));
        json_object_set_new(cnt, "different", json_integer((json_int_t)c->different));
        json_object_set_new(cnt, "errors", json_integer((json_int_t)c->errors));
        json_object_set_new(cnt, "skipped", json_integer((json_int_t)c->skipped));
        json_object_set_new(o, "counts", cnt);
        json_array_append_new(x->arr, o);
        return SDIFF_OK;
    }
    if (x->n == 1)
        fprintf(x->f, "%-5s %-20s %-7s %9s %-24s %-24s %-11s %7s %9s %6s %7s  %s\n", "ID", "NAME",
                "KIND", "INSTANCES", "STARTED", "LAST ACTIVITY", "STATE", "JUDGED", "DIFFERENT",
                "ERRORS", "SKIPPED", "LABELS");
    const char *labels = labels_line(run->labels_json, &x->lb);
    fprintf(x->f, "%-5lld %-20s %-7s %9llu %-24s %-24s %-11s %7llu %9llu %6llu %7llu  %s\n",
            (long long)run->id, run->name ? sdiff_text(&x->t, run->name) : "-",
            run->kind ? sdiff_text(&x->t, run->kind) : "-", (unsigned long long)c->instances,
            run->started_at ? sdiff_text(&x->t, run->started_at) : "-",
            run->last_activity ? sdiff_text(&x->t, run->last_activity) : "-",
            run->state ? sdiff_text(&x->t, run->state) : "-", (unsigned long long)c->judged,
            (unsigned long long)c->different, (unsigned long long)c->errors,
            (unsigned long long)c->skipped, labels ? sdiff_text(&x->t, labels) : "-");
    return SDIFF_OK;
}

int cmd_runs(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"format", required_argument, NULL, 'f'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *format = "text", *out_path = NULL;
    struct sdiff_store_opts so = {.read_only = 1};
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    struct ctx x;
    FILE *out = NULL;
    struct sdiff_outfile of;
    int c, ret = SDIFF_EXIT_ERROR;

    memset(&x, 0, sizeof x);
    memset(&of, 0, sizeof of);
    optind = 1;
    while ((c = cli_getopt("runs", argc, argv, "d:f:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'f': format = optarg; break;
        case 'o': out_path = optarg; break;
        case 'h': fputs(USAGE, stdout); return SDIFF_EXIT_OK;
        case 'V': return cli_version();
        default: return SDIFF_EXIT_ERROR;
        }
    }
    if (optind < argc) {
        cli_error("runs", "unexpected argument '%s'", argv[optind]);
        return SDIFF_EXIT_ERROR;
    }
    if (db == NULL) {
        cli_error("runs", "--db FILE is required");
        return SDIFF_EXIT_ERROR;
    }
    if (strcmp(format, "text") == 0) {
        x.json = 0;
    } else if (strcmp(format, "json") == 0) {
        x.json = 1;
    } else {
        cli_error("runs", "--format: not text or json");
        return SDIFF_EXIT_ERROR;
    }
    char shown[600];
    sdiff_store_shown(db, shown, sizeof shown);
    if (sdiff_store_open(&st, db, &so, &err) < 0)
        return cli_fail("runs", &err);
    if (out_path) {
        if (sdiff_outfile_open(&of, out_path, &err) < 0) {
            ret = cli_fail("runs", &err);
            goto done;
        }
        out = of.is_stdout ? NULL : of.f;
    }
    x.f = out ? out : stdout;
    x.arr = json_array();
    sdiff_text_ring_init(&x.t);
    sdiff_buf_init(&x.lb, 1u << 16);
    if (sdiff_store_each_run(st, one_run, &x, &err) < 0) {
        ret = cli_fail("runs", &err);
        goto done;
    }
    if (x.json) {
        json_t *root = json_object();
        json_object_set_new(root, "schema_version", json_integer(RUNS_SCHEMA_VERSION));
        json_object_set_new(root, "database", jtext(shown));
        json_object_set_new(root, "runs", json_incref(x.arr));
        char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(root);
        int rc = sdiff_write_json_text(x.f, s);
        free(s);
        if (rc < 0) {
            cli_error("runs", rc == SDIFF_EIO ? "cannot write the list" : "out of memory");
            goto done;
        }
    } else if (x.n == 0) {
        fprintf(x.f, "no runs in %s\n", sdiff_text(&x.t, shown));
    }
    ret = SDIFF_EXIT_OK;
done:
    if (of.f && ret == SDIFF_EXIT_OK && sdiff_outfile_commit(&of, &err) < 0)
        ret = cli_fail("runs", &err);
    sdiff_outfile_abort(&of);
    if (out == NULL && ret == SDIFF_EXIT_OK && fflush(stdout) != 0) {
        cli_error("runs", "cannot write to stdout");
        ret = SDIFF_EXIT_ERROR;
    }
    json_decref(x.arr);
    sdiff_text_ring_dispose(&x.t);
    sdiff_buf_dispose(&x.lb);
    sdiff_store_close(st);
    return ret;
}
