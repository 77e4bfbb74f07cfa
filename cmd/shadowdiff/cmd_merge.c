/*
 * cmd_merge.c - `shadowdiff merge --into FILE SRC...`: one run gathered from several stores
 * (per-instance SQLite files, or a PostgreSQL run to export) into one SQLite file.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char USAGE[] =
    "usage: shadowdiff merge --into FILE [--run NAME|ID] SRC...\n"
    "\n"
    "  shadowdiff merge --into all.db pod-a.db pod-b.db pod-c.db --run canary-1.4\n"
    "  shadowdiff merge --into export.db postgresql://ro@db/results --run canary-1.4\n"
    "\n"
    "Copies one run of each SRC (a SQLite file or a postgres:// URL) into the SQLite file FILE\n"
    "(created 0600): the run, its instances, results, answers, differences and the exchanges\n"
    "they refer to, and the waivers and learned noise of SRC. A named run joins FILE's run of\n"
    "that name, so per-instance files of one run become one run; ids are kept where they are\n"
    "free. A result FILE has already is not copied again. Every SRC must hash with FILE's\n"
    "redaction key (sources hashed with different keys are refused: no key can reconcile\n"
    "them). All or nothing per SRC.\n"
    "\n"
    "      --into FILE     the SQLite file to merge into\n"
    "      --run NAME|ID   the run of each SRC (default: its latest that did not fail)\n"
    "  -h, --help          this text\n"
    "  -V, --version       the version\n"
    "\n";

enum { O_INTO = 0x100, O_RUN };

/* The redaction key a store hashes with: 1 and the key, 0 when it has none, < 0 on error. */
static int store_key(struct sdiff_store *st, uint8_t *key, size_t cap, size_t *len,
                     struct sdiff_err *err)
{
    return sdiff_store_meta_get(st, "redact_key", key, cap, len, err);
}

int cmd_merge(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"into", required_argument, NULL, O_INTO},
        {"run", required_argument, NULL, O_RUN},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *into = NULL, *sel = NULL;
    struct sdiff_store *dst = NULL, *src = NULL;
    struct sdiff_err err = {0};
    int c, ret = SDIFF_EXIT_ERROR;
    uint8_t key[512], other[512];
    size_t klen = 0, olen = 0;
    int have_key = 0;
    char key_from[600] = "", shown[600];

    optind = 1;
    while ((c = cli_getopt("merge", argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_INTO: into = optarg; break;
        case O_RUN: sel = optarg; break;
        case 'h': fputs(USAGE, stdout); fputs(cli_exit_help("merge"), stdout); return 0;
        case 'V': return cli_version();
        default: return SDIFF_EXIT_ERROR;
        }
    }
    if (into == NULL || optind >= argc) {
        cli_error("merge", into ? "at least one SRC is required" : "--into FILE is required");
        return SDIFF_EXIT_ERROR;
    }
    if (sdiff_store_is_url(into)) {
        cli_error("merge", "--into takes a SQLite file (merge exports PostgreSQL runs to one)");
        return SDIFF_EXIT_ERROR;
    }
    struct sdiff_store_opts wo = {.keep_secrets = 1};
    if (sdiff_store_open(&dst, into, &wo, &err) < 0)
        return cli_fail("merge", &err);
    int k = store_key(dst, key, sizeof key, &klen, &err);
    if (k < 0)
        goto fail;
    if (k > 0) {
        have_key = 1;
        sdiff_store_shown(into, key_from, sizeof key_from);
    }
    /* every source hashes with one key: check them all before copying anything */
    for (int i = optind; i < argc; i++) {
        struct sdiff_store_opts ro = {.read_only = 1};
        sdiff_store_shown(argv[i], shown, sizeof shown);
        if (sdiff_store_open(&src, argv[i], &ro, &err) < 0)
            goto fail;
        k = store_key(src, other, sizeof other, &olen, &err);
        sdiff_store_close(src);
        src = NULL;
        if (k < 0)
            goto fail;
        if (k > 0 && have_key && (olen != klen || memcmp(other, key, klen) != 0)) {
            cli_error("merge",
                      "%s is hashed with another redaction key than %s: their hashes cannot be"
                      " compared, nothing merged",
                      shown, key_from);
            goto out;
        }
        if (k > 0 && !have_key) {
            have_key = 1;
            memcpy(key, other, olen);
            klen = olen;
            snprintf(key_from, sizeof key_from, "%s", shown);
        }
    }
    for (int i = optind; i < argc; i++) {
        struct sdiff_store_opts ro = {.read_only = 1};
        int64_t run = 0, to = 0;
        uint64_t copied = 0;
        sdiff_store_shown(argv[i], shown, sizeof shown);
        if (sdiff_store_open(&src, argv[i], &ro, &err) < 0)
            goto fail;
        if (sel) {
            if (sdiff_store_find_run(src, sel, &run, &err) < 0)
                goto fail;
        } else {
            struct sdiff_store_run r;
            if (sdiff_store_get_run(src, 0, &r, &err) < 0)
                goto fail;
            run = r.id;
            sdiff_store_run_dispose(&r);
        }
        if (sdiff_store_merge_run(dst, src, run, &to, &copied, &err) < 0)
            goto fail;
        cli_error("merge", "%s: run %lld: %llu results into run %lld", shown, (long long)run,
                  (unsigned long long)copied, (long long)to);
        sdiff_store_close(src);
        src = NULL;
    }
    ret = SDIFF_EXIT_OK;
    goto out;
fail:
    ret = cli_fail("merge", &err);
out:
    memset(key, 0, sizeof key);
    memset(other, 0, sizeof other);
    sdiff_store_close(src);
    sdiff_store_close(dst);
    return ret;
}
