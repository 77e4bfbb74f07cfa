/*
 * test_fuzz_regress.c - the fuzz targets' entry points (tests/fuzz/fuzz_<name>.c) over their
 * committed inputs, every file of fixtures/fuzz/<name>/: crashers found by fuzzing and small
 * inputs that reach deep, so every build exercises the targets without libFuzzer. A broken
 * invariant aborts; under the sanitizer build a memory error fails the test as well.
 */
#include "sdiff_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdiff_fuzz.h"
#include "shadowdiff/rules.h"

typedef int (*fuzz_fn)(const uint8_t *data, size_t size);

/* Run fn over every file of fixtures/fuzz/<name>/, in name order; returns how many. */
static size_t run_dir(const char *name, fuzz_fn fn)
{
    char dir[4096];
    struct dirent **ents = NULL;
    snprintf(dir, sizeof dir, "%s", sdiff_test_fixture_path("fuzz"));
    size_t len = strlen(dir);
    snprintf(dir + len, sizeof dir - len, "/%s", name);
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0)
        fail_msg("cannot list %s", dir);
    size_t ran = 0;
    for (int i = 0; i < n; i++) {
        char path[8192];
        if (ents[i]->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name);
            size_t size;
            uint8_t *file = sdiff_test_read_file(path, &size);
            /* exactly size bytes, as libFuzzer passes them, so an overread is caught */
            uint8_t *data = malloc(size ? size : 1);
            assert_non_null(data);
            memcpy(data, file, size);
            print_message("%s/%s\n", name, ents[i]->d_name);
            assert_int_equal(fn(data, size), 0);
            free(data);
            free(file);
            ran++;
        }
        free(ents[i]);
    }
    free(ents);
    return ran;
}

#define REGRESS(name)                                                                          \
    static void test_fuzz_regress__##name##_inputs_pass(void **state)                          \
    {                                                                                          \
        (void)state;                                                                           \
        assert_true(run_dir(#name, sdiff_fuzz_##name) > 0);                                    \
    }

REGRESS(packets)
REGRESS(pcapng)
REGRESS(reasm)
REGRESS(http1)
REGRESS(codec)
REGRESS(jdiff)
REGRESS(rules)
REGRESS(msg_read)
REGRESS(text)

/* The config inputs load from a file exactly as their bytes parse. */
static void test_fuzz_regress__rules_inputs_load_as_files(void **state)
{
    (void)state;
    char dir[4096];
    struct dirent **ents = NULL;
    snprintf(dir, sizeof dir, "%s", sdiff_test_fixture_path("fuzz/rules"));
    int n = scandir(dir, &ents, NULL, alphasort);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        char path[8192];
        if (ents[i]->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name);
            size_t size;
            uint8_t *text = sdiff_test_read_file(path, &size);
            struct sdiff_rules *a = NULL, *b = NULL;
            struct sdiff_err ea = {0}, eb = {0};
            int ra = sdiff_rules_load(&a, path, &ea);
            int rb = sdiff_rules_parse(&b, (const char *)text, size, path, &eb);
            assert_int_equal(ra, rb);
            assert_string_equal(ea.msg, eb.msg);
            sdiff_rules_free(a);
            sdiff_rules_free(b);
            free(text);
        }
        free(ents[i]);
    }
    free(ents);
}

/*
 * Text masks that make glibc's regcomp take gigabytes, seconds or its whole stack (found by
 * fuzz_rules) are refused at load; masks of a realistic size still load.
 */
/* Load a config with one text mask; its status (the message printed). */
static int load_mask(const char *pat)
{
    size_t cap = strlen(pat) + 64;
    char *text = malloc(cap);
    assert_non_null(text);
    snprintf(text, cap, "{\"text_masks\": [{\"pattern\": \"%s\"}]}", pat);
    struct sdiff_rules *r = NULL;
    struct sdiff_err err = {0};
    int rc = sdiff_rules_parse(&r, text, strlen(text), "masks.json", &err);
    print_message("%.80s: %s\n", pat, rc < 0 ? err.msg : "loads");
    if (rc < 0)
        assert_non_null(strstr(err.msg, "text mask"));
    sdiff_rules_free(r);
    free(text);
    return rc;
}

static void test_fuzz_regress__rules_costly_masks_are_refused(void **state)
{
    (void)state;
    static const char *const costly[] = {
        "(.*){1,32000}[bc]", "a|bG++VVVVVV++*+++++++++++G", "(V?){3000}", "x++++++++++++++++",
        "1){,32000}M", "a|bG+++++????????????????????????????????????????????????????????????+++G",
        "x*?", "x{2}+", "((((((((((((((((((((((((((((((((((x))))))))))))))))))))))))))))))))))",
    };
    static const char *const fine[] = {
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\\\.[0-9]+)?Z",
        "[0-9a-f]{64}", "[A-Za-z0-9+/]{20,}={0,2}", "x{1,999}", "x{,999}", "(a|b?)*(a|b?)*",
    };
    for (size_t i = 0; i < sizeof costly / sizeof costly[0]; i++)
        assert_int_equal(load_mask(costly[i]), SDIFF_EINVAL);
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++)
        assert_int_equal(load_mask(fine[i]), SDIFF_OK);
    /* alternations and repetition operators count too: 200 copies of (a|b?)* are 1200
     * elements (600 counting atoms alone); regcomp took 0.17 s on them, and 1.1 s and
     * 490 MB in the fuzz build. 150 copies (900 elements) still load. */
    char chain[200 * 7 + 1] = "";
    for (int n = 1; n <= 200; n++) {
        strcat(chain, "(a|b?)*");
        if (n == 150)
            assert_int_equal(load_mask(chain), SDIFF_OK);
    }
    assert_int_equal(load_mask(chain), SDIFF_EINVAL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fuzz_regress__packets_inputs_pass),
    cmocka_unit_test(test_fuzz_regress__pcapng_inputs_pass),
    cmocka_unit_test(test_fuzz_regress__reasm_inputs_pass),
    cmocka_unit_test(test_fuzz_regress__http1_inputs_pass),
    cmocka_unit_test(test_fuzz_regress__codec_inputs_pass),
    cmocka_unit_test(test_fuzz_regress__jdiff_inputs_pass),
    cmocka_unit_test(test_fuzz_regress__rules_inputs_pass),
    cmocka_unit_test(test_fuzz_regress__msg_read_inputs_pass),
    cmocka_unit_test(test_fuzz_regress__text_inputs_pass),
    cmocka_unit_test(test_fuzz_regress__rules_inputs_load_as_files),
    cmocka_unit_test(test_fuzz_regress__rules_costly_masks_are_refused),
};
SDIFF_TEST_MAIN(tests)
