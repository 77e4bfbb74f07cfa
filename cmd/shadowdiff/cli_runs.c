/*
 * cli_runs.c - naming and selecting runs on the command line: --run NAME and --label k=v of
 * the writers (replay, mirror, gate), and the run selector of the readers (an id or a name).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "shadowdiff/store.h"

#define LABEL_VALUE_MAX 256
#define LABELS_MAX 32

static int name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

/* 1..64 of [A-Za-z0-9._-]; with need_letter, at least one that is not a digit. */
static int good_name(const char *s, int need_letter)
{
    size_t n = strlen(s);
    int other = 0;
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!name_char(s[i]))
            return 0;
        if (s[i] < '0' || s[i] > '9')
            other = 1;
    }
    return other || !need_letter;
}

int cli_run_name(const char *cmd, const char *name)
{
    if (good_name(name, 1))
        return 0;
    struct sdiff_text_ring t;
    sdiff_text_ring_init(&t);
    cli_error(cmd,
              "--run: '%s' is not a run name (1 to 64 of A-Z a-z 0-9 . _ -, not only digits)",
              name[0] ? sdiff_text(&t, name) : "");
    sdiff_text_ring_dispose(&t);
    return -1;
}

int cli_label_add(const char *cmd, const char *arg, char **labels)
{
    const char *eq = strchr(arg, '=');
    char key[65];
    struct sdiff_text_ring t;
    json_t *obj = NULL;
    int ok = 0;

    sdiff_text_ring_init(&t);
    size_t klen = eq ? (size_t)(eq - arg) : 0;
    if (eq == NULL || klen == 0 || klen > 64) {
        cli_error(cmd, "--label: '%s' is not key=value (key: 1 to 64 of A-Z a-z 0-9 . _ -)",
                  sdiff_text(&t, arg));
        goto out;
    }
    memcpy(key, arg, klen);
    key[klen] = '\0';
    const char *value = eq + 1;
    size_t vlen = strlen(value);
    if (!good_name(key, 0)) {
        cli_error(cmd, "--label: '%s' is not a label key (1 to 64 of A-Z a-z 0-9 . _ -)",
                  sdiff_text(&t, key));
        goto out;
    }
    /* printable: a value goes into reports and terminals; escaping stays the readers' job,
     * but a label is a tag, not a place for control characters */
    if (vlen > LABEL_VALUE_MAX || sdiff_text_span(value, vlen, 0) != vlen) {
        cli_error(cmd, "--label: the value of %s is not printable text of at most %d bytes",
                  key, LABEL_VALUE_MAX);
        goto out;
    }
    obj = *labels ? json_loads(*labels, 0, NULL) : json_object();
    if (obj == NULL || json_object_size(obj) >= LABELS_MAX) {
        cli_error(cmd, "--label: more than %d labels", LABELS_MAX);
        goto out;
    }
    json_object_set_new(obj, key, json_string(value));
    char *s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    if (s == NULL) {
        cli_error(cmd, "--label: out of memory");
        goto out;
    }
    size_t n = strlen(s);
    char *copy = sdiff_malloc(n + 1);
    if (copy)
        memcpy(copy, s, n + 1);
    free(s);
    if (copy == NULL) {
        cli_error(cmd, "--label: out of memory");
        goto out;
    }
    sdiff_free(*labels);
    *labels = copy;
    ok = 1;
out:
    json_decref(obj);
    sdiff_text_ring_dispose(&t);
    return ok ? 0 : -1;
}

int cli_find_run(const char *cmd, const char *db, const char *sel, int64_t *id)
{
    struct sdiff_store_opts so = {.read_only = 1};
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    int rc;

    *id = 0;
    if (sel == NULL)
        return 0;
    size_t n = strlen(sel), digits = strspn(sel, "0123456789");
    if (n == 0 || (digits != n && !good_name(sel, 1)) || (digits == n && n > 18)) {
        struct sdiff_text_ring t;
        sdiff_text_ring_init(&t);
        cli_error(cmd, "--run: '%s' is not a run id or name", sel[0] ? sdiff_text(&t, sel) : "");
        sdiff_text_ring_dispose(&t);
        return -1;
    }
    rc = sdiff_store_open(&st, db, &so, &err);
    if (rc >= 0)
        rc = sdiff_store_find_run(st, sel, id, &err);
    sdiff_store_close(st);
    if (rc < 0) {
        cli_fail(cmd, &err);
        return -1;
    }
    return 0;
}

void cli_say_join(const char *cmd, const char *db, const char *name)
{
    struct sdiff_store_opts so = {.read_only = 1};
    struct sdiff_store *st = NULL;
    struct sdiff_store_run run;
    int64_t id = 0;

    memset(&run, 0, sizeof run);
    if (name == NULL || (!sdiff_store_is_url(db) && access(db, F_OK) != 0))
        return;
    /* a file that is not a results database yet (a new file, a bare corpus) has no run to
     * join: the writer creates it, and says nothing here */
    if (sdiff_store_open(&st, db, &so, NULL) < 0 || sdiff_store_find_run(st, name, &id, NULL) < 0 ||
        sdiff_store_get_run(st, id, &run, NULL) < 0)
        goto out;
    struct sdiff_text_ring t;
    sdiff_text_ring_init(&t);
    const char *last = run.last_activity ? run.last_activity : run.started_at;
    if (run.state && strcmp(run.state, "running") == 0)
        cli_log(cmd, "info", NULL, "joining run %s (running, last active %s)",
                sdiff_text(&t, name), last ? sdiff_text(&t, last) : "unknown");
    else
        cli_log(cmd, "info", NULL, "appending to run %s, last active %s",
                sdiff_text(&t, name), last ? sdiff_text(&t, last) : "unknown");
    sdiff_text_ring_dispose(&t);
out:
    sdiff_store_run_dispose(&run);
    sdiff_store_close(st);
}
