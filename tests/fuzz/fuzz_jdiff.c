/*
 * fuzz_jdiff.c - libFuzzer target for the JSON reader and differ.
 *
 * Input: one option byte, then the primary document, a NUL byte (never valid inside JSON),
 * then the candidate; without a NUL the rest is split in half. Besides memory errors it
 * checks invariants: the verdict matches the delta counts, comparing is symmetric (without
 * tolerance), a pretty-printed document equals its source, and the validator agrees with the
 * differ about which documents parse.
 *
 * Built by CMake with -DSDIFF_FUZZ=ON (tests/fuzz/README.md), run as
 *   build-fuzz/tests/fuzz/fuzz_jdiff -max_len=4096 corpus/ seeds/jdiff/
 */
#include "sdiff_fuzz.h"

#include <string.h>

#include "shadowdiff/jdiff.h"

#define check(x) SDIFF_FUZZ_CHECK(x)

static void opts_from(uint8_t f, struct sdiff_jdiff_opts *o)
{
    static const char *const uno[] = {"$", "$[*]", "$.*", "$.a[*].b"};
    static const char *const ign[] = {"$.a", "$[*].id", "$.*.x"};
    struct sdiff_jdiff_opts init = SDIFF_JDIFF_OPTS_INIT;
    *o = init;
    if (f & 1)
        o->abs_tol = 1e-6;
    if (f & 2)
        o->rel_tol = 1e-3;
    if (f & 4) {
        o->unordered = uno;
        o->nunordered = 4;
    }
    if (f & 8) {
        o->ignore = ign;
        o->nignore = 3;
    }
    if (f & 16)
        o->max_deltas = 2;
    if (f & 32)
        o->max_depth = 16;
    if (f & 64)
        o->max_value_len = 5;
}

static int run(const struct sdiff_jdiff_opts *o, struct sdiff_slice a, struct sdiff_slice b,
               struct sdiff_jdiff_result *res)
{
    int rc = sdiff_jdiff_compare(o, a, b, res, NULL);
    check(rc == SDIFF_OK || rc == SDIFF_EPARSE || rc == SDIFF_ELIMIT);
    if (rc == SDIFF_OK) {
        check(res->equal == (res->ndeltas == 0 && res->nomitted == 0));
        check(res->ndeltas <= o->max_deltas);
        for (size_t i = 0; i < res->ndeltas; i++) {
            const struct sdiff_delta *d = &res->deltas[i];
            check(d->path[0] == '$');
            check(d->left != NULL || d->kind == SDIFF_DELTA_EXTRA);
            check(d->right != NULL || d->kind == SDIFF_DELTA_MISSING);
            check(d->left == NULL || strlen(d->left) <= o->max_value_len + 3 ||
                  d->kind == SDIFF_DELTA_LENGTH);
        }
    } else {
        check(res->unread != 0 && res->ndeltas == 0);
    }
    return rc;
}

int sdiff_fuzz_jdiff(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct sdiff_jdiff_opts o;
    opts_from(data[0], &o);
    data++;
    size--;
    const uint8_t *sep = memchr(data, 0, size);
    size_t la = sep ? (size_t)(sep - data) : size / 2;
    struct sdiff_slice a = {data, la};
    struct sdiff_slice b = {data + la + (sep != NULL), size - la - (sep != NULL)};

    struct sdiff_jdiff_result r1, r2;
    int rc1 = run(&o, a, b, &r1);
    int rc2 = run(&o, b, a, &r2);
    if (rc1 == SDIFF_OK && rc2 == SDIFF_OK && o.abs_tol == 0 && o.rel_tol == 0)
        check(r1.equal == r2.equal);
    if (rc1 != SDIFF_OK && rc2 != SDIFF_OK && !(data[-1] & 32)) {
        /* the same documents fail whichever side they are on */
        unsigned swapped = ((r2.unread & 1) << 1) | ((r2.unread & 2) >> 1);
        check(r1.unread == swapped);
        check(((r1.unread & SDIFF_JDIFF_PRIMARY) != 0) ==
              (sdiff_jdiff_validate(a, &o, NULL) != SDIFF_OK));
    }
    sdiff_jdiff_result_dispose(&r1);
    sdiff_jdiff_result_dispose(&r2);

    /* pretty-printing keeps the meaning */
    struct sdiff_buf pretty;
    sdiff_buf_init(&pretty, 1u << 24);
    if (sdiff_jdiff_pretty(a, &pretty, NULL) == SDIFF_OK) {
        struct sdiff_slice p = {pretty.data, pretty.len};
        struct sdiff_jdiff_opts plain = SDIFF_JDIFF_OPTS_INIT;
        check(sdiff_jdiff_valid(p));
        check(run(&plain, a, p, &r1) == SDIFF_OK);
        check(r1.equal);
        sdiff_jdiff_result_dispose(&r1);
        if (o.max_depth >= plain.max_depth) {
            check(run(&o, p, a, &r1) == SDIFF_OK);
            check(r1.equal);
            sdiff_jdiff_result_dispose(&r1);
        }
    }
    sdiff_buf_dispose(&pretty);
    return 0;
}
