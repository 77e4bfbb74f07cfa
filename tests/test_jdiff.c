/*
 * test_jdiff.c - the JSON reader and differ: Python (Flask) vs Go serialisation differences,
 * paths, options, limits, malformed and truncated input, out-of-memory sweep.
 *
 * Most cases are rows: primary, candidate, expected verdict, expected deltas as
 * "path KIND; path KIND" in report order, and reason bits that must be set.
 */
#include "sdiff_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shadowdiff/jdiff.h"
#include "jdiff/jdiff_int.h"

#define KO SDIFF_JDIFF_KEY_ORDER
#define NS SDIFF_JDIFF_NUMBER_SPELLING
#define SE SDIFF_JDIFF_STRING_ESCAPES
#define WS SDIFF_JDIFF_WHITESPACE
#define AO SDIFF_JDIFF_ARRAY_ORDER
#define TOL SDIFF_JDIFF_TOLERANCE
#define IGN SDIFF_JDIFF_IGNORED
#define DUP SDIFF_JDIFF_DUPLICATE_KEY

struct row {
    const char *name;
    const char *a, *b;
    int equal;
    const char *deltas;
    unsigned reasons;
};

static struct sdiff_slice sl(const char *s)
{
    struct sdiff_slice v = {(const uint8_t *)s, strlen(s)};
    return v;
}

/* "path KIND; path KIND" */
static void render_deltas(const struct sdiff_jdiff_result *r, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->ndeltas; i++)
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s %s", i ? "; " : "",
                              r->deltas[i].path, sdiff_delta_kind_str(r->deltas[i].kind));
}

static void check_rows(const struct row *rows, size_t n, const struct sdiff_jdiff_opts *opts)
{
    struct sdiff_jdiff *jd = NULL;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_jdiff_new(&jd, opts, &err), SDIFF_OK);
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        struct sdiff_jdiff_result res;
        char got[2048];
        sdiff_err_clear(&err);
        int rc = sdiff_jdiff_run(jd, sl(r->a), sl(r->b), &res, &err);
        if (rc != SDIFF_OK)
            fail_msg("%s: rc %d (%s)", r->name, rc, err.msg);
        render_deltas(&res, got, sizeof got);
        if (res.equal != r->equal || strcmp(got, r->deltas) != 0)
            fail_msg("%s: equal %d, deltas \"%s\"; expected equal %d, \"%s\"", r->name, res.equal,
                     got, r->equal, r->deltas);
        if ((res.reasons & r->reasons) != r->reasons)
            fail_msg("%s: reasons 0x%x lack 0x%x", r->name, res.reasons, r->reasons);
        assert_int_equal(res.nomitted, 0);
        /* symmetric verdict */
        struct sdiff_jdiff_result rev;
        assert_int_equal(sdiff_jdiff_run(jd, sl(r->b), sl(r->a), &rev, &err), SDIFF_OK);
        if (rev.equal != r->equal)
            fail_msg("%s: reversed verdict %d", r->name, rev.equal);
        sdiff_jdiff_result_dispose(&rev);
        sdiff_jdiff_result_dispose(&res);
    }
    sdiff_jdiff_free(jd);
}

/* ---- Python vs Go serialisation ------------------------------------------------------- */

static void test_jdiff__python_vs_go_spellings_are_equal(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {"go escapes <>& and ends with a newline", "{\"html\":\"<b>Tom & Jerry</b>\"}",
         "{\"html\":\"\\u003cb\\u003eTom \\u0026 Jerry\\u003c/b\\u003e\"}\n", 1, "", SE | WS},
        {"python escapes non-ascii", "{\"name\":\"Caf\\u00e9 na\\u00efve\"}",
         "{\"name\":\"Café naïve\"}", 1, "", SE},
        {"python 1.0, go 1", "{\"price\":1.0,\"qty\":2}", "{\"price\":1,\"qty\":2}", 1, "", NS},
        {"exponent spellings", "[1e-05,1e+21,1E+21,2.5e-7]", "[0.00001,1e21,1e21,25e-8]", 1, "",
         NS},
        {"same exponents", "{\"a\":1e-05,\"b\":1e+21,\"c\":0}", "{\"b\":1e+21,\"a\":1e-05,\"c\":0}",
         1, "", KO},
        {"flask sorts keys, go keeps struct order", "{\"a\":1,\"b\":{\"x\":1,\"y\":2},\"id\":3}",
         "{\"id\":3,\"b\":{\"y\":2,\"x\":1},\"a\":1}", 1, "", KO},
        {"python separators", "{\"a\": 1, \"b\": [1, 2], \"c\": {\"d\": null}}",
         "{\"a\":1,\"b\":[1,2],\"c\":{\"d\":null}}", 1, "", WS},
        {"go drops a null omitempty field", "{\"id\":1,\"note\":null}", "{\"id\":1}", 0,
         "$.note MISSING", 0},
        {"exact decimal values", "[10,-0,1.5e3,100e-1,0.0,-0.0e5,1.0E+1,0.000]",
         "[10.0,0,1500,1.0E+1,0,0,10,-0]", 1, "", NS},
        {"\\/ is /", "{\"url\":\"http:\\/\\/x\\/y\"}", "{\"url\":\"http://x/y\"}", 1, "", SE},
        {"surrogate pair vs utf-8 emoji", "[\"\\ud83d\\ude00 ok\"]", "[\"\xf0\x9f\x98\x80 ok\"]", 1,
         "", SE},
        {"hex case of escapes", "[\"\\u00E9\\uD83D\\uDE00\"]", "[\"\\u00e9\\ud83d\\ude00\"]", 1, "",
         SE},
        {"escaped key", "{\"caf\\u00e9\":1}", "{\"café\":1}", 1, "", SE},
    };
    check_rows(rows, sizeof rows / sizeof rows[0], NULL);
}

static void test_jdiff__big_integers_compare_exactly(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {"2^53+1 printed through float64", "{\"id\":9007199254740993}", "{\"id\":9007199254740992}",
         0, "$.id CHANGED", 0},
        {"2^63+5 through float64", "{\"id\":9223372036854775813}", "{\"id\":9223372036854775808}",
         0, "$.id CHANGED", 0},
        {"30 digits through float64", "{\"id\":123456789012345678901234567890}",
         "{\"id\":1.2345678901234568e+29}", 0, "$.id CHANGED", 0},
        {"30 digits respelled", "{\"id\":123456789012345678901234567890}",
         "{\"id\":1.2345678901234567890123456789E29}", 1, "", NS},
        {"2^53+1 in exponent form", "[9007199254740993]", "[9.007199254740993e15]", 1, "", NS},
        {"negative big", "[-18446744073709551617]", "[-18446744073709551616]", 0, "$[0] CHANGED",
         0},
        {"last float digit", "{\"p\":0.30000000000000004}", "{\"p\":0.3}", 0, "$.p CHANGED", 0},
        {"huge exponents", "[1e999999999999999999999,2E999999999999999999999]",
         "[1.0e999999999999999999999,2e+999999999999999999999]", 1, "", NS},
        {"huge exponents differ", "[1e999999999999999999999]", "[1e999999999999999999998]", 0,
         "$[0] CHANGED", 0},
        {"sign", "[1]", "[-1]", 0, "$[0] CHANGED", 0},
    };
    check_rows(rows, sizeof rows / sizeof rows[0], NULL);
}

static void test_jdiff__types_and_absence_are_distinct(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {"null vs []", "{\"x\":null}", "{\"x\":[]}", 0, "$.x TYPE_CHANGED", 0},
        {"[] vs missing", "{\"x\":[]}", "{}", 0, "$.x MISSING", 0},
        {"missing vs {}", "{}", "{\"x\":{}}", 0, "$.x EXTRA", 0},
        {"\"\" vs null", "{\"x\":\"\"}", "{\"x\":null}", 0, "$.x TYPE_CHANGED", 0},
        {"[] vs {}", "{\"x\":[]}", "{\"x\":{}}", 0, "$.x TYPE_CHANGED", 0},
        {"bool vs number", "{\"f\":true}", "{\"f\":1}", 0, "$.f TYPE_CHANGED", 0},
        {"number vs string", "{\"n\":1}", "{\"n\":\"1\"}", 0, "$.n TYPE_CHANGED", 0},
        {"true vs false", "[true]", "[false]", 0, "$[0] CHANGED", 0},
        {"root type", "[]", "{}", 0, "$ TYPE_CHANGED", 0},
        {"scalar roots", "\"a\"", "\"b\"", 0, "$ CHANGED", 0},
        {"lone surrogate kept", "[\"\\ud83d\"]", "[\"\\ud83e\"]", 0, "$[0] CHANGED", 0},
        {"lone vs pair", "[\"\\ud83dx\"]", "[\"\xf0\x9f\x98\x80\"]", 0, "$[0] CHANGED", 0},
        {"lone surrogate spelled twice", "[\"\\ud83d\",1]", "[\"\\uD83D\",1]", 1, "", SE},
        {"string escape changes value", "[\"a\\nb\"]", "[\"a\\\\nb\"]", 0, "$[0] CHANGED", 0},
    };
    check_rows(rows, sizeof rows / sizeof rows[0], NULL);
}

static void test_jdiff__paths_use_jsonpath(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {"index and member",
         "{\"items\":[{\"price\":1},{\"price\":2},{\"price\":3},{\"price\":4.5}]}",
         "{\"items\":[{\"price\":1},{\"price\":2},{\"price\":3},{\"price\":4.6}]}", 0,
         "$.items[3].price CHANGED", 0},
        {"bracket notation", "{\"odd key\":1,\"a.b\":2,\"0x\":3,\"é\":4,\"q\\\"t\":5,\"\":6}",
         "{\"odd key\":0,\"a.b\":0,\"0x\":0,\"é\":0,\"q\\\"t\":0,\"\":0}", 0,
         "$[\"odd key\"] CHANGED; $[\"a.b\"] CHANGED; $[\"0x\"] CHANGED; $.é CHANGED; "
         "$[\"q\\\"t\"] CHANGED; $[\"\"] CHANGED",
         0},
        {"escaped key is decoded", "{\"caf\\u00e9\":1,\"tab\\tkey\":1}",
         "{\"café\":2,\"tab\\u0009key\":2}", 0, "$.café CHANGED; $[\"tab\\tkey\"] CHANGED", 0},
        {"primary order then extras", "{\"b\":1,\"a\":1,\"c\":1}",
         "{\"z\":1,\"c\":2,\"a\":1,\"y\":1}", 0, "$.b MISSING; $.c CHANGED; $.z EXTRA; $.y EXTRA",
         0},
        {"deep", "{\"a\":{\"b\":[[0,{\"c\":[true]}]]}}", "{\"a\":{\"b\":[[0,{\"c\":[null]}]]}}", 0,
         "$.a.b[0][1].c[0] TYPE_CHANGED", 0},
    };
    check_rows(rows, sizeof rows / sizeof rows[0], NULL);
}

static void test_jdiff__arrays_order_and_length(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {"order", "[1,2,3]", "[3,2,1]", 0, "$ ORDER", 0},
        {"order of tags", "{\"tags\":[\"a\",\"b\",\"c\"]}", "{\"tags\":[\"c\",\"a\",\"b\"]}", 0,
         "$.tags ORDER", 0},
        {"order of objects with respelled members", "[{\"a\":1,\"b\":2.0},{\"a\":3,\"b\":4}]",
         "[{\"b\":4,\"a\":3},{\"b\":2,\"a\":1}]", 0, "$ ORDER", 0},
        {"order and duplicates", "[1,1,2]", "[1,2,1]", 0, "$ ORDER", 0},
        {"not a permutation", "[1,2,3]", "[2,1,4]", 0, "$[0] CHANGED; $[1] CHANGED; $[2] CHANGED",
         0},
        {"multiset differs by count", "[1,1,2]", "[2,2,1]", 0,
         "$[0] CHANGED; $[1] CHANGED; $[2] CHANGED", 0},
        {"shorter", "[1,2,3]", "[1,2]", 0, "$ LENGTH; $[2] MISSING", 0},
        {"longer with a change", "[1,2]", "[1,5,3]", 0, "$ LENGTH; $[1] CHANGED; $[2] EXTRA", 0},
        {"empty vs one", "{\"a\":[]}", "{\"a\":[null]}", 0, "$.a LENGTH; $.a[0] EXTRA", 0},
        {"order nested in a change", "{\"a\":[[1,2],[3]]}", "{\"a\":[[2,1],[4]]}", 0,
         "$.a[0] ORDER; $.a[1][0] CHANGED", 0},
    };
    check_rows(rows, sizeof rows / sizeof rows[0], NULL);
}

static void test_jdiff__duplicate_keys_last_wins(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {"dup overridden", "{\"a\":1,\"a\":2}", "{\"a\":2}", 1, "", DUP},
        {"dup differs", "{\"a\":1,\"a\":2}", "{\"a\":1}", 0, "$.a CHANGED", DUP},
        {"dup both sides", "{\"a\":1,\"a\":2}", "{\"a\":3,\"a\":2}", 1, "", DUP},
        {"dup in candidate", "{\"b\":0,\"a\":2}", "{\"a\":1,\"b\":0,\"a\":2}", 1, "", DUP},
        {"dup escaped spelling", "{\"a\":1,\"\\u0061\":2}", "{\"a\":2}", 1, "", DUP},
    };
    check_rows(rows, sizeof rows / sizeof rows[0], NULL);
}

/* Lists of objects reuse the key matching of the previous element when keys are spelled the
   same at the same positions; these rows make sure a reused match is never a wrong one. */
static void test_jdiff__lists_of_objects_with_changing_layouts(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {"same layouts, then a duplicate, then the layout again",
         "[{\"b\":1,\"a\":2},{\"b\":1,\"a\":2},{\"a\":2,\"a\":3,\"b\":1},{\"b\":1,\"a\":2}]",
         "[{\"a\":2,\"b\":1},{\"a\":2,\"b\":1},{\"b\":1,\"a\":3},{\"a\":2,\"b\":9}]", 0,
         "$[3].b CHANGED", DUP | KO},
        {"keys equal in their first 16 bytes",
         "[{\"x\":0,\"abcdefghijklmnopqr_1\":1},{\"x\":0,\"abcdefghijklmnopqr_2\":1}]",
         "[{\"abcdefghijklmnopqr_1\":1,\"x\":0},{\"abcdefghijklmnopqr_3\":1,\"x\":0}]", 0,
         "$[1].abcdefghijklmnopqr_2 MISSING; $[1].abcdefghijklmnopqr_3 EXTRA", KO},
        {"long keys reused",
         "[{\"x\":0,\"abcdefghijklmnopqr_1\":1},{\"x\":0,\"abcdefghijklmnopqr_1\":2}]",
         "[{\"abcdefghijklmnopqr_1\":1,\"x\":0},{\"abcdefghijklmnopqr_1\":3,\"x\":0}]", 0,
         "$[1].abcdefghijklmnopqr_1 CHANGED", KO},
        {"escaped spelling in one element only",
         "[{\"b\":1,\"\\u00e9\":2},{\"b\":1,\"\\u00e9\":2},{\"b\":1,\"\\u00e8\":2}]",
         "[{\"é\":2,\"b\":1},{\"é\":2,\"b\":1},{\"é\":2,\"b\":1}]", 0,
         "$[2].è MISSING; $[2].é EXTRA", SE | KO},
        {"missing member in some elements",
         "[{\"b\":1,\"a\":null},{\"b\":2,\"a\":1},{\"b\":3,\"a\":null},{\"b\":4,\"a\":1}]",
         "[{\"b\":1},{\"a\":1,\"b\":2},{\"b\":3},{\"a\":1,\"b\":4}]", 0,
         "$[0].a MISSING; $[2].a MISSING", KO},
        {"nested layouts alternate with their parents",
         "[{\"d\":{\"w\":1,\"h\":2},\"id\":1},{\"d\":{\"w\":1,\"h\":2},\"id\":2}]",
         "[{\"id\":1,\"d\":{\"h\":2,\"w\":1}},{\"id\":2,\"d\":{\"h\":3,\"w\":1}}]", 0,
         "$[1].d.h CHANGED", KO},
        {"same spelling, shifted positions",
         "[{\"a\":1,\"b\":2,\"c\":3},{\"a\":1,\"b\":2,\"c\":3}]",
         "[{\"c\":3,\"a\":1,\"b\":2},{\"b\":2,\"c\":3,\"a\":1}]", 1, "", KO},
    };
    check_rows(rows, sizeof rows / sizeof rows[0], NULL);
}

/* Objects over 32 members match keys by sorting instead. */
static void test_jdiff__large_objects_match_by_sorting(void **state)
{
    (void)state;
    struct sdiff_buf a, b;
    sdiff_buf_init(&a, 1 << 16);
    sdiff_buf_init(&b, 1 << 16);
    for (int i = 0; i < 40; i++)
        assert_int_equal(sdiff_buf_printf(&a, "%s\"k%02d\":%d", i ? "," : "{", i, i), SDIFF_OK);
    assert_int_equal(sdiff_buf_puts(&a, ",\"k07\":70,\"caf\\u00e9\":1,\"gone\":1}"), SDIFF_OK);
    for (int i = 39; i >= 0; i--)
        assert_int_equal(sdiff_buf_printf(&b, "%s\"k%02d\":%d", i < 39 ? "," : "{", i,
                                          i == 7    ? 70
                                          : i == 20 ? 21
                                                    : i),
                         SDIFF_OK);
    assert_int_equal(sdiff_buf_puts(&b, ",\"café\":1,\"new\":1}"), SDIFF_OK);
    struct sdiff_jdiff_result res;
    struct sdiff_slice sa = {a.data, a.len}, sb = {b.data, b.len};
    assert_int_equal(sdiff_jdiff_compare(NULL, sa, sb, &res, NULL), SDIFF_OK);
    char got[512];
    render_deltas(&res, got, sizeof got);
    assert_string_equal(got, "$.k20 CHANGED; $.gone MISSING; $.new EXTRA");
    assert_true(res.reasons & SDIFF_JDIFF_DUPLICATE_KEY);
    assert_true(res.reasons & SDIFF_JDIFF_KEY_ORDER);
    assert_true(res.reasons & SDIFF_JDIFF_STRING_ESCAPES);
    sdiff_jdiff_result_dispose(&res);
    sdiff_buf_dispose(&a);
    sdiff_buf_dispose(&b);
}

/* ---- options -------------------------------------------------------------------------- */

static void test_jdiff__unordered_paths_compare_as_multisets(void **state)
{
    (void)state;
    static const char *const uno[] = {"$.results", "$.items[*].tags", "$[\"odd key\"]"};
    struct sdiff_jdiff_opts o = SDIFF_JDIFF_OPTS_INIT;
    o.unordered = uno;
    o.nunordered = 3;
    static const struct row rows[] = {
        {"reordered", "{\"results\":[3,1,2],\"items\":[{\"tags\":[\"x\",\"y\"]},{\"tags\":[]}]}",
         "{\"results\":[1,2,3],\"items\":[{\"tags\":[\"y\",\"x\"]},{\"tags\":[]}]}", 1, "", AO},
        {"objects reordered", "{\"results\":[{\"id\":1,\"v\":\"a\"},{\"id\":2,\"v\":\"b\"}]}",
         "{\"results\":[{\"v\":\"b\",\"id\":2},{\"id\":1,\"v\":\"a\"}]}", 1, "", AO | KO},
        {"one changed", "{\"results\":[{\"id\":1,\"v\":\"a\"},{\"id\":2,\"v\":\"b\"}]}",
         "{\"results\":[{\"id\":2,\"v\":\"b\"},{\"id\":1,\"v\":\"c\"}]}", 0,
         "$.results[0].v CHANGED", 0},
        {"shorter", "{\"results\":[1,2,3]}", "{\"results\":[3,2]}", 0,
         "$.results LENGTH; $.results[0] MISSING", 0},
        {"extra", "{\"results\":[1]}", "{\"results\":[2,1,1]}", 0,
         "$.results LENGTH; $.results[0] EXTRA; $.results[2] EXTRA", 0},
        {"other arrays keep order", "{\"results\":[],\"other\":[1,2]}",
         "{\"results\":[],\"other\":[2,1]}", 0, "$.other ORDER", 0},
        {"nested unordered inside unordered path",
         "{\"items\":[{\"tags\":[1,2]},{\"tags\":[3,4]}]}",
         "{\"items\":[{\"tags\":[2,1]},{\"tags\":[4,3]}]}", 1, "", AO},
        {"bracket pattern", "{\"odd key\":[1,2]}", "{\"odd key\":[2,1]}", 1, "", AO},
        {"multiset with unordered inner arrays", "{\"results\":[[1,2],[3,4]]}",
         "{\"results\":[[3,4],[1,2]]}", 1, "", AO},
    };
    check_rows(rows, sizeof rows / sizeof rows[0], &o);

    /* elements that are themselves unordered arrays hash order-insensitively */
    static const char *const uno2[] = {"$", "$[*]"};
    struct sdiff_jdiff_opts o2 = SDIFF_JDIFF_OPTS_INIT;
    o2.unordered = uno2;
    o2.nunordered = 2;
    static const struct row rows2[] = {
        {"sets of sets", "[[1,2],[3,4],[5]]", "[[5],[4,3],[2,1]]", 1, "", AO},
        {"sets of sets differ", "[[1,2],[3,4]]", "[[4,3],[2,2]]", 0, "$[0][0] CHANGED", 0},
    };
    check_rows(rows2, sizeof rows2 / sizeof rows2[0], &o2);
}

static void test_jdiff__ignored_paths_are_skipped(void **state)
{
    (void)state;
    static const char *const ign[] = {"$.items[*].updated_at", "$.meta.*", "$.trace_id",
                                      "$['odd \\'key']", "$.*.etag"};
    struct sdiff_jdiff_opts o = SDIFF_JDIFF_OPTS_INIT;
    o.ignore = ign;
    o.nignore = 5;
    static const struct row rows[] = {
        {"ignored differ",
         "{\"trace_id\":\"abc\",\"items\":[{\"id\":1,\"updated_at\":\"x\"}],\"meta\":{\"host\":"
         "\"a\",\"t\":1}}",
         "{\"trace_id\":\"def\",\"items\":[{\"id\":1,\"updated_at\":\"y\"}],\"meta\":{\"host\":"
         "\"b\"}}",
         1, "", IGN},
        {"others still count", "{\"trace_id\":\"abc\",\"items\":[{\"id\":1,\"updated_at\":\"x\"}]}",
         "{\"trace_id\":\"def\",\"items\":[{\"id\":2,\"updated_at\":\"y\"}]}", 0,
         "$.items[0].id CHANGED", IGN},
        {"ignored absent", "{\"trace_id\":\"a\",\"x\":1}", "{\"x\":1}", 1, "", IGN},
        {"ignored extra", "{\"x\":1}", "{\"x\":1,\"trace_id\":null}", 1, "", IGN},
        {"quoted pattern", "{\"odd 'key\":1}", "{\"odd 'key\":2}", 1, "", IGN},
        {"wildcard member", "{\"a\":{\"etag\":1},\"b\":{\"etag\":2,\"v\":1}}",
         "{\"a\":{\"etag\":3},\"b\":{\"v\":1}}", 1, "", IGN},
        {"meta elements all ignored", "{\"meta\":[1,2]}", "{\"meta\":[3]}", 1, "", IGN},
        {"escaped key matches pattern", "{\"trace\\u005fid\":1}", "{\"trace_id\":2}", 1, "", IGN},
    };
    check_rows(rows, sizeof rows / sizeof rows[0], &o);

    static const char *const all[] = {"$"};
    o.ignore = all;
    o.nignore = 1;
    static const struct row rows2[] = {{"root ignored", "[1]", "{}", 1, "", IGN}};
    check_rows(rows2, 1, &o);
}

static void test_jdiff__tolerance_compares_as_doubles(void **state)
{
    (void)state;
    struct sdiff_jdiff_opts o = SDIFF_JDIFF_OPTS_INIT;
    o.abs_tol = 1e-9;
    static const struct row rows[] = {
        {"within", "{\"p\":0.30000000000000004}", "{\"p\":0.3}", 1, "", TOL},
        {"outside", "{\"p\":0.31}", "{\"p\":0.3}", 0, "$.p CHANGED", 0},
        {"order within tolerance", "[0.1,0.2]", "[0.2,0.1000000000001]", 0, "$ ORDER", 0},
        {"exact still exact", "[1.0]", "[1]", 1, "", NS},
        {"huge", "[1e400]", "[2e400]", 0, "$[0] CHANGED", 0},
        {"tiny", "[1e-400]", "[0]", 1, "", TOL},
    };
    check_rows(rows, sizeof rows / sizeof rows[0], &o);

    struct sdiff_jdiff_opts r = SDIFF_JDIFF_OPTS_INIT;
    r.rel_tol = 1e-6;
    static const struct row rows2[] = {
        {"relative within", "[1000000]", "[1000000.5]", 1, "", TOL},
        {"relative outside", "[1]", "[1.1]", 0, "$[0] CHANGED", 0},
        {"big ints within", "[9007199254740993]", "[9007199254740992]", 1, "", TOL},
    };
    check_rows(rows2, sizeof rows2 / sizeof rows2[0], &r);
}

static void test_jdiff__tolerance_matches_large_unordered_numeric_arrays(void **state)
{
    (void)state;
    static const char *const uno[] = {"$"};
    struct sdiff_jdiff_opts o = SDIFF_JDIFF_OPTS_INIT;
    o.abs_tol = 1e-6;
    o.unordered = uno;
    o.nunordered = 1;
    struct sdiff_buf a, b;
    sdiff_buf_init(&a, 1 << 20);
    sdiff_buf_init(&b, 1 << 20);
    enum { N = 3000 };
    for (int i = 0; i < N; i++) {
        int j = (i * 7919) % N; /* a permutation: 7919 is prime and does not divide N */
        assert_int_equal(sdiff_buf_printf(&a, "%s%d.25", i ? "," : "[", i), SDIFF_OK);
        assert_int_equal(sdiff_buf_printf(&b, "%s%d.2500000001", i ? "," : "[", j), SDIFF_OK);
    }
    assert_int_equal(sdiff_buf_puts(&a, "]"), SDIFF_OK);
    assert_int_equal(sdiff_buf_puts(&b, "]"), SDIFF_OK);
    struct sdiff_jdiff_result res;
    struct sdiff_slice sa = {a.data, a.len}, sb = {b.data, b.len};
    assert_int_equal(sdiff_jdiff_compare(&o, sa, sb, &res, NULL), SDIFF_OK);
    assert_true(res.equal);
    assert_true(res.reasons & SDIFF_JDIFF_ARRAY_ORDER);
    sdiff_jdiff_result_dispose(&res);
    sdiff_buf_dispose(&a);
    sdiff_buf_dispose(&b);
}

static void test_jdiff__bad_options_are_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = {"items",    "$..a", "$[0]", "$.",
                                      "$[\"open", "$.a[", "$x",   "$[\"\\q\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sdiff_jdiff_opts o = SDIFF_JDIFF_OPTS_INIT;
        struct sdiff_jdiff *jd = NULL;
        struct sdiff_err err = {0};
        o.ignore = &bad[i];
        o.nignore = 1;
        if (sdiff_jdiff_new(&jd, &o, &err) != SDIFF_EINVAL)
            fail_msg("pattern %s accepted", bad[i]);
        assert_null(jd);
        assert_non_null(strstr(err.msg, "ignore pattern 0"));
    }
    struct sdiff_jdiff_opts o = SDIFF_JDIFF_OPTS_INIT;
    struct sdiff_jdiff *jd = NULL;
    o.abs_tol = -1;
    assert_int_equal(sdiff_jdiff_new(&jd, &o, NULL), SDIFF_EINVAL);
    o.abs_tol = 0;
    o.max_depth = SDIFF_JDIFF_DEPTH_MAX + 1;
    assert_int_equal(sdiff_jdiff_new(&jd, &o, NULL), SDIFF_EINVAL);
    o.max_depth = 512;
    o.nunordered = 65;
    assert_int_equal(sdiff_jdiff_new(&jd, &o, NULL), SDIFF_EINVAL);
}

/* ---- results -------------------------------------------------------------------------- */

static void test_jdiff__byte_equal_bodies_skip_parsing(void **state)
{
    (void)state;
    struct sdiff_jdiff_result res;
    assert_int_equal(sdiff_jdiff_compare(NULL, sl("not json {"), sl("not json {"), &res, NULL),
                     SDIFF_OK);
    assert_true(res.equal);
    assert_true(res.bytes_equal);
    assert_int_equal(res.reasons, 0);
    assert_int_equal(res.ndeltas, 0);
    sdiff_jdiff_result_dispose(&res);

    assert_int_equal(sdiff_jdiff_compare(NULL, sl("{\"a\":1}"), sl("{\"a\":1} "), &res, NULL),
                     SDIFF_OK);
    assert_true(res.equal);
    assert_false(res.bytes_equal);
    assert_int_equal(res.reasons, SDIFF_JDIFF_WHITESPACE);
    sdiff_jdiff_result_dispose(&res);
}

static void test_jdiff__values_are_compact_and_cut(void **state)
{
    (void)state;
    struct sdiff_jdiff_result res;
    assert_int_equal(sdiff_jdiff_compare(NULL,
                                         sl("{\"a\": [1, {\"b\" : \"x\\u00e9\"}], \"c\":[1,2,3]}"),
                                         sl("{\"a\":{},\"c\":[1,2]}"), &res, NULL),
                     SDIFF_OK);
    assert_int_equal(res.ndeltas, 3);
    assert_string_equal(res.deltas[0].path, "$.a");
    assert_int_equal(res.deltas[0].kind, SDIFF_DELTA_TYPE_CHANGED);
    assert_string_equal(res.deltas[0].left, "[1,{\"b\":\"x\\u00e9\"}]");
    assert_string_equal(res.deltas[0].right, "{}");
    assert_int_equal(res.deltas[1].kind, SDIFF_DELTA_LENGTH);
    assert_string_equal(res.deltas[1].left, "3");
    assert_string_equal(res.deltas[1].right, "2");
    assert_string_equal(res.deltas[2].path, "$.c[2]");
    assert_string_equal(res.deltas[2].left, "3");
    assert_null(res.deltas[2].right);
    sdiff_jdiff_result_dispose(&res);

    /* long values are cut at 120 bytes, never inside a UTF-8 character */
    char a[1024], b[1024];
    size_t n = 0;
    n += (size_t)snprintf(a, sizeof a, "[\"");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(a + n, sizeof a - n, "\xc3\xa9");
    snprintf(a + n, sizeof a - n, "\"]");
    snprintf(b, sizeof b, "[[%s]]",
             "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,"
             "24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43");
    assert_int_equal(sdiff_jdiff_compare(NULL, sl(a), sl(b), &res, NULL), SDIFF_OK);
    assert_int_equal(res.ndeltas, 1);
    const char *l = res.deltas[0].left, *r = res.deltas[0].right;
    assert_int_equal(strlen(l), 119 + 3); /* '"' + 59 two-byte characters, then "..." */
    assert_string_equal(l + 119, "...");
    assert_int_equal(strlen(r), 123);
    assert_memory_equal(r, "[1,2,3,4,5,6,7,8,9,10,", 22);
    sdiff_jdiff_result_dispose(&res);
}

static void test_jdiff__differences_beyond_the_cap_are_counted(void **state)
{
    (void)state;
    struct sdiff_jdiff_opts o = SDIFF_JDIFF_OPTS_INIT;
    struct sdiff_jdiff_result res;
    o.max_deltas = 3;
    assert_int_equal(sdiff_jdiff_compare(&o, sl("[1,2,3,4,5,6,7,8,9,10]"),
                                         sl("[0,0,0,0,0,0,0,0,0,0]"), &res, NULL),
                     SDIFF_OK);
    assert_false(res.equal);
    assert_int_equal(res.ndeltas, 3);
    assert_int_equal(res.nomitted, 7);
    assert_string_equal(res.deltas[2].path, "$[2]");
    sdiff_jdiff_result_dispose(&res);

    o.max_deltas = 0;
    assert_int_equal(sdiff_jdiff_compare(&o, sl("{\"a\":1,\"b\":2}"), sl("{\"a\":2}"), &res, NULL),
                     SDIFF_OK);
    assert_false(res.equal);
    assert_int_equal(res.ndeltas, 0);
    assert_null(res.deltas);
    assert_int_equal(res.nomitted, 2);
    sdiff_jdiff_result_dispose(&res);

    /* a reordering found after the cap filled is still one delta */
    o.max_deltas = 1;
    assert_int_equal(sdiff_jdiff_compare(&o, sl("[[1,2,3],5]"), sl("[[3,2,1],6]"), &res, NULL),
                     SDIFF_OK);
    assert_int_equal(res.ndeltas, 1);
    assert_int_equal(res.nomitted, 1);
    assert_int_equal(res.deltas[0].kind, SDIFF_DELTA_ORDER);
    sdiff_jdiff_result_dispose(&res);
}

static void test_jdiff__handle_is_reusable(void **state)
{
    (void)state;
    struct sdiff_jdiff *jd = NULL;
    assert_int_equal(sdiff_jdiff_new(&jd, NULL, NULL), SDIFF_OK);
    for (int i = 0; i < 50; i++) {
        struct sdiff_jdiff_result res;
        char a[64], b[64];
        snprintf(a, sizeof a, "{\"i\":%d,\"l\":[%d,2]}", i, i);
        snprintf(b, sizeof b, "{\"l\":[%d,2],\"i\":%d%s}", i % 2 ? i : i + 1, i, "");
        assert_int_equal(sdiff_jdiff_run(jd, sl(a), sl(b), &res, NULL), SDIFF_OK);
        assert_int_equal(res.equal, i % 2);
        assert_int_equal(res.ndeltas, i % 2 ? 0 : 1);
        if (!res.equal)
            assert_string_equal(res.deltas[0].path, "$.l[0]");
        sdiff_jdiff_result_dispose(&res);
    }
    sdiff_jdiff_free(jd);
}

/* ---- malformed input and limits ------------------------------------------------------- */

static void test_jdiff__deep_nesting_is_a_clean_error(void **state)
{
    (void)state;
    enum { N = 100000 };
    char *deep = malloc(2 * N + 1);
    assert_non_null(deep);
    for (int i = 0; i < N; i++) {
        deep[i] = '[';
        deep[N + i] = ']';
    }
    deep[2 * N] = '\0';
    struct sdiff_jdiff_result res;
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_jdiff_compare(NULL, sl("[]"), sl(deep), &res, &err), SDIFF_ELIMIT);
    assert_string_equal(err.msg, "candidate: json nested deeper than 512 levels");
    assert_int_equal(err.offset, 512);
    assert_int_equal(res.unread, SDIFF_JDIFF_CANDIDATE);
    assert_false(res.equal);
    sdiff_jdiff_result_dispose(&res);

    /* objects too, and exactly the limit is fine */
    char *objs = malloc(6 * N + 2);
    assert_non_null(objs);
    size_t n = 0;
    for (int i = 0; i < N; i++)
        n += (size_t)sprintf(objs + n, "{\"a\":");
    objs[n++] = '1';
    for (int i = 0; i < N; i++)
        objs[n++] = '}';
    objs[n] = '\0';
    assert_int_equal(sdiff_jdiff_validate(sl(objs), NULL, NULL), SDIFF_ELIMIT);
    struct sdiff_slice ok = {(const uint8_t *)deep + N - 512, 1024};
    assert_int_equal(sdiff_jdiff_validate(ok, NULL, NULL), SDIFF_OK);
    struct sdiff_slice over = {(const uint8_t *)deep + N - 513, 1026};
    assert_int_equal(sdiff_jdiff_validate(over, NULL, NULL), SDIFF_ELIMIT);
    struct sdiff_jdiff_opts o = SDIFF_JDIFF_OPTS_INIT;
    o.max_depth = SDIFF_JDIFF_DEPTH_MAX;
    struct sdiff_slice a = {(const uint8_t *)deep + N - 4096, 8192};
    struct sdiff_slice b = {(const uint8_t *)objs, n};
    /* deepest allowed documents still compare (the differ recurses per level) */
    assert_int_equal(sdiff_jdiff_compare(&o, a, a, &res, NULL), SDIFF_OK);
    sdiff_jdiff_result_dispose(&res);
    memcpy(deep + N - 1, "1", 1); /* [[...[1]...]] at the centre */
    struct sdiff_slice a1 = {(const uint8_t *)deep + N - 4096, 8191};
    struct sdiff_slice a2 = {(const uint8_t *)deep + N - 4095, 8189};
    (void)b;
    assert_int_equal(sdiff_jdiff_compare(&o, a1, a2, &res, NULL), SDIFF_OK);
    assert_false(res.equal);
    sdiff_jdiff_result_dispose(&res);

    /* objects as deep as allowed, spelled differently all the way down (no shortcut) */
    struct sdiff_buf x, y;
    sdiff_buf_init(&x, 1 << 20);
    sdiff_buf_init(&y, 1 << 20);
    for (unsigned i = 0; i < SDIFF_JDIFF_DEPTH_MAX - 1; i++) {
        assert_int_equal(sdiff_buf_puts(&x, "{\"k\":1,\"o\":"), SDIFF_OK);
        assert_int_equal(sdiff_buf_puts(&y, "{\"o\":"), SDIFF_OK);
    }
    assert_int_equal(sdiff_buf_puts(&x, "[1.0]"), SDIFF_OK);
    assert_int_equal(sdiff_buf_puts(&y, "[2]"), SDIFF_OK);
    for (unsigned i = 0; i < SDIFF_JDIFF_DEPTH_MAX - 1; i++) {
        assert_int_equal(sdiff_buf_puts(&x, "}"), SDIFF_OK);
        assert_int_equal(sdiff_buf_puts(&y, ",\"k\":1}"), SDIFF_OK);
    }
    struct sdiff_slice sx = {x.data, x.len}, sy = {y.data, y.len};
    assert_int_equal(sdiff_jdiff_compare(&o, sx, sy, &res, NULL), SDIFF_OK);
    assert_int_equal(res.ndeltas, 1);
    assert_int_equal(res.deltas[0].kind, SDIFF_DELTA_CHANGED);
    assert_int_equal(strlen(res.deltas[0].path), 1 + 2 * (SDIFF_JDIFF_DEPTH_MAX - 1) + 3);
    sdiff_jdiff_result_dispose(&res);
    sdiff_buf_dispose(&x);
    sdiff_buf_dispose(&y);
    free(objs);
    free(deep);
}

static void test_jdiff__malformed_json_is_rejected(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        size_t len; /* 0: strlen */
        size_t offset;
    } bad[] = {
        {"", 0, 0},
        {"  \n", 0, 3},
        {"[\"\xff\"]", 0, 2},
        {"[\"\xc0\xaf\"]", 0, 2},         /* overlong '/' */
        {"[\"\xed\xa0\x80\"]", 0, 2},     /* UTF-8 encoded surrogate */
        {"[\"\xe2\x82\"]", 0, 2},         /* truncated sequence */
        {"[\"\xf4\x90\x80\x80\"]", 0, 2}, /* beyond U+10FFFF */
        {"[\"a\tb\"]", 0, 3},
        {"[\"a\x00\"]", 5, 3},
        {"[\"\\x\"]", 0, 2},
        {"[\"\\u12\"]", 0, 2},
        {"[\"\\u12g4\"]", 0, 2},
        {"[01]", 0, 2},
        {"[1.]", 0, 3},
        {"[.5]", 0, 1},
        {"[-]", 0, 2},
        {"[1e]", 0, 3},
        {"[1e+]", 0, 4},
        {"[+1]", 0, 1},
        {"[NaN]", 0, 1},
        {"[Infinity]", 0, 1},
        {"[1,]", 0, 3},
        {"{\"a\":1,}", 0, 7},
        {"{'a':1}", 0, 1},
        {"{\"a\" 1}", 0, 5},
        {"{\"a\":}", 0, 5},
        {"{1:1}", 0, 1},
        {"[1 2]", 0, 3},
        {"[tru]", 0, 4},
        {"[nul", 0, 4},
        {"{} x", 0, 3},
        {"\xef\xbb\xbf{}", 0, 0},
        {"[}", 0, 1},
        {"{]", 0, 1},
        {"[1]]", 0, 3},
        {"\"abc", 0, 4},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sdiff_slice s = {(const uint8_t *)bad[i].doc,
                                bad[i].len ? bad[i].len : strlen(bad[i].doc)};
        struct sdiff_jdiff_result res;
        struct sdiff_err err = {0};
        int rc = sdiff_jdiff_compare(NULL, s, sl("{}"), &res, &err);
        if (rc != SDIFF_EPARSE || err.offset != bad[i].offset)
            fail_msg("case %zu: rc %d offset %lu (%s)", i, rc, (unsigned long)err.offset, err.msg);
        assert_int_equal(res.unread, SDIFF_JDIFF_PRIMARY);
        assert_non_null(strstr(err.msg, "primary: "));
        assert_false(sdiff_jdiff_valid(s));
    }
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_jdiff_validate(sl("{\"a\":1} x"), NULL, &err), SDIFF_EPARSE);
    assert_string_equal(err.msg, "trailing bytes after json value ('x')");
    assert_int_equal(err.offset, 8);
    sdiff_err_clear(&err);
    assert_int_equal(sdiff_jdiff_validate(sl("[\"\xff\"]"), NULL, &err), SDIFF_EPARSE);
    assert_string_equal(err.msg, "invalid utf-8 in string (byte 0xff)");

    /* both unreadable: both flagged, the primary's error kept */
    struct sdiff_jdiff_result res;
    sdiff_err_clear(&err);
    assert_int_equal(sdiff_jdiff_compare(NULL, sl("[1,"), sl("{"), &res, &err), SDIFF_EPARSE);
    assert_int_equal(res.unread, SDIFF_JDIFF_PRIMARY | SDIFF_JDIFF_CANDIDATE);
    assert_int_equal(err.offset, 3);

    struct sdiff_jdiff_opts o = SDIFF_JDIFF_OPTS_INIT;
    o.max_bytes = 4;
    sdiff_err_clear(&err);
    assert_int_equal(sdiff_jdiff_compare(&o, sl("[1]"), sl("[1,2]"), &res, &err), SDIFF_ELIMIT);
    assert_string_equal(err.msg, "candidate: json larger than 4 bytes");
}

static const char sample[] =
    "{\"items\":[{\"id\":9007199254740993,\"name\":\"Caf\\u00e9 <b>\",\"price\":12.50,"
    "\"tags\":[\"a\",\"\\ud83d\\ude00\",\"\xc3\xa9\"],\"ok\":true,\"x\":null,\"f\":false}],"
    "\"n\":-1.5e-3, \"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}";

static void test_jdiff__every_truncation_is_an_error(void **state)
{
    (void)state;
    struct sdiff_jdiff *jd = NULL;
    assert_int_equal(sdiff_jdiff_new(&jd, NULL, NULL), SDIFF_OK);
    size_t len = strlen(sample);
    assert_true(sdiff_jdiff_valid(sl(sample)));
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut + 1); /* exact size so ASan sees any over-read */
        assert_non_null(copy);
        memcpy(copy, sample, cut);
        struct sdiff_slice s = {copy, cut};
        struct sdiff_jdiff_result res;
        struct sdiff_err err = {0};
        int rc = sdiff_jdiff_run(jd, s, sl(sample), &res, &err);
        if (rc != SDIFF_EPARSE)
            fail_msg("cut %zu: rc %d", cut, rc);
        assert_true(err.offset <= cut);
        assert_int_equal(res.unread, SDIFF_JDIFF_PRIMARY);
        sdiff_jdiff_result_dispose(&res);
        free(copy);
    }
    sdiff_jdiff_free(jd);
}

/* ---- out of memory -------------------------------------------------------------------- */

static void test_jdiff__out_of_memory_sweep(void **state)
{
    (void)state;
    static const char *const uno[] = {"$.u"};
    static const char *const ign[] = {"$.items[*].x"};
    struct sdiff_jdiff_opts o = SDIFF_JDIFF_OPTS_INIT;
    o.unordered = uno;
    o.nunordered = 1;
    o.ignore = ign;
    o.nignore = 1;
    const char *a = "{\"u\":[3,2,1,{\"k\":1,\"j\":2}],\"o\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,"
                    "16,17,18],\"d\":{\"a\":1,\"a\":2},\"items\":[{\"x\":1,\"y\":\"\\u00e9\"}],"
                    "\"gone\":1}";
    const char *b = "{\"o\":[18,17,16,15,14,13,12,11,10,9,8,7,6,5,4,3,2,1],\"u\":[{\"j\":2,\"k\":"
                    "1},1,2,3],\"d\":{\"a\":3},\"items\":[{\"x\":2,\"y\":\"\xc3\xa8\"}],\"new\":2}";
    long n;
    int rc = SDIFF_ENOMEM;
    for (n = 0; rc != SDIFF_OK; n++) {
        struct sdiff_jdiff_result res;
        struct sdiff_err err = {0};
        sdiff_alloc_fail_after(n);
        rc = sdiff_jdiff_compare(&o, sl(a), sl(b), &res, &err);
        sdiff_alloc_fail_after(-1);
        if (rc != SDIFF_OK) {
            if (rc != SDIFF_ENOMEM)
                fail_msg("allocation %ld: rc %d (%s)", n, rc, err.msg);
            assert_int_equal(err.code, SDIFF_ENOMEM);
            assert_null(res.deltas);
            assert_int_equal(res.ndeltas, 0);
            continue;
        }
        char got[512];
        render_deltas(&res, got, sizeof got);
        assert_string_equal(got, "$.o ORDER; $.d.a CHANGED; $.items[0].y CHANGED; $.gone MISSING; "
                                 "$.new EXTRA");
        sdiff_jdiff_result_dispose(&res);
    }
    assert_true(n > 5);

    /* the reusable handle, the validator and the printer fail cleanly too */
    struct sdiff_jdiff *jd = NULL;
    assert_int_equal(sdiff_jdiff_new(&jd, &o, NULL), SDIFF_OK);
    rc = SDIFF_ENOMEM;
    for (n = 0; rc != SDIFF_OK; n++) {
        struct sdiff_jdiff_result res;
        sdiff_alloc_fail_after(n);
        rc = sdiff_jdiff_run(jd, sl(a), sl(b), &res, NULL);
        sdiff_alloc_fail_after(-1);
        assert_true(rc == SDIFF_OK || rc == SDIFF_ENOMEM);
        sdiff_jdiff_result_dispose(&res);
    }
    sdiff_jdiff_free(jd);
    rc = SDIFF_ENOMEM;
    for (n = 0; rc != SDIFF_OK; n++) {
        struct sdiff_buf out;
        sdiff_buf_init(&out, 1 << 20);
        sdiff_alloc_fail_after(n);
        rc = sdiff_jdiff_pretty(sl(a), &out, NULL);
        if (rc == SDIFF_OK)
            rc = sdiff_jdiff_validate(sl(b), NULL, NULL);
        sdiff_alloc_fail_after(-1);
        assert_true(rc == SDIFF_OK || rc == SDIFF_ENOMEM);
        sdiff_buf_dispose(&out);
    }
}

/* ---- reader internals, validator, printer --------------------------------------------- */

static void test_jdiff__tape_is_flat_with_subtree_sizes(void **state)
{
    (void)state;
    struct sdiff__jtape t;
    sdiff__jtape_init(&t);
    const char *doc = " {\"a\" : [1, \"x\\n\"], \"b\": {}} ";
    assert_int_equal(sdiff__jtape_parse(&t, sl(doc), 1000, 8, NULL, NULL), SDIFF_OK);
    assert_int_equal(t.len, 7);
    static const unsigned kinds[] = {SDIFF__J_OBJECT, SDIFF__J_KEY, SDIFF__J_ARRAY, SDIFF__J_NUMBER,
                                     SDIFF__J_STRING, SDIFF__J_KEY, SDIFF__J_OBJECT};
    static const uint32_t sizes[] = {7, 1, 3, 1, 1, 1, 1};
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(sdiff__jkind(&t.n[i]), kinds[i]);
        assert_int_equal(t.n[i].size, sizes[i]);
    }
    assert_int_equal(t.n[0].off, 1);
    assert_int_equal(t.n[0].len, strlen(doc) - 2);
    assert_memory_equal(doc + t.n[4].off, "x\\n", t.n[4].len);
    assert_true(t.n[4].info & SDIFF__JF_ESC);
    assert_int_equal(t.ws, 7);
    sdiff__jtape_dispose(&t);
}

static void test_jdiff__pretty_prints_two_space_indent(void **state)
{
    (void)state;
    struct sdiff_buf out;
    sdiff_buf_init(&out, 4096);
    assert_int_equal(sdiff_jdiff_pretty(sl("{\"b\":[1,{\"c\":null}],\"a\":{},\"d\":[],"
                                           "\"e\":\"x\\u00e9\",\"f\":1.0E+2}"),
                                        &out, NULL),
                     SDIFF_OK);
    assert_string_equal((char *)out.data, "{\n"
                                          "  \"b\": [\n"
                                          "    1,\n"
                                          "    {\n"
                                          "      \"c\": null\n"
                                          "    }\n"
                                          "  ],\n"
                                          "  \"a\": {},\n"
                                          "  \"d\": [],\n"
                                          "  \"e\": \"x\\u00e9\",\n"
                                          "  \"f\": 1.0E+2\n"
                                          "}");
    sdiff_buf_reset(&out);
    assert_int_equal(sdiff_jdiff_pretty(sl(" 42 "), &out, NULL), SDIFF_OK);
    assert_string_equal((char *)out.data, "42");
    sdiff_buf_reset(&out);
    struct sdiff_err err = {0};
    assert_int_equal(sdiff_jdiff_pretty(sl("[1,]"), &out, &err), SDIFF_EPARSE);
    assert_int_equal(err.offset, 3);
    sdiff_buf_dispose(&out);

    sdiff_buf_init(&out, 8);
    assert_int_equal(sdiff_jdiff_pretty(sl("[1,2,3,4,5]"), &out, NULL), SDIFF_ELIMIT);
    sdiff_buf_dispose(&out);
}

static void test_jdiff__validate_accepts_rfc8259(void **state)
{
    (void)state;
    static const char *const good[] = {
        "0",
        "-0",
        "1.5e-3",
        "-1E+2",
        "\"\"",
        "true",
        "false",
        "null",
        "[]",
        "{}",
        " [ ] ",
        "{\"\":0}",
        "[\"\\u0000\"]",
        "[\"\\ud800\"]",
        "\"\xf4\x8f\xbf\xbf\"",
        "\"\xe0\xa0\x80\"",
        "[[[]],{\"a\":[{}]}]",
        "123456789012345678901234567890e-999",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!sdiff_jdiff_valid(sl(good[i])))
            fail_msg("rejected %s", good[i]);
    assert_string_equal(sdiff_delta_kind_str(SDIFF_DELTA_TYPE_CHANGED), "TYPE_CHANGED");
    assert_string_equal(sdiff_jdiff_reason_str(SDIFF_JDIFF_KEY_ORDER), "key_order");
    assert_string_equal(sdiff_jdiff_reason_str(3), "?");
}

/* A Flask body and a Go body of the same data, as the services really print them. */
static void test_jdiff__flask_and_go_bodies_are_equivalent(void **state)
{
    (void)state;
    const char *flask =
        "{\"items\":[{\"created_at\":\"2024-05-01T12:00:00Z\",\"discount\":1e-05,\"id\":"
        "9007199254740993,\"in_stock\":true,\"name\":\"Caf\\u00e9 <b>cr\\u00e8me</b> & co\","
        "\"price\":10.0,\"rating\":null,\"tags\":[\"b&w\",\"<new>\"]}],\"next\":null,\"page\":1,"
        "\"total\":1e+21}\n";
    const char *go =
        "{\"page\":1,\"total\":1e+21,\"items\":[{\"id\":9007199254740993,\"name\":\"Café "
        "\\u003cb\\u003ecrème\\u003c/b\\u003e \\u0026 co\",\"price\":10,\"discount\":1e-05,"
        "\"in_stock\":true,\"rating\":null,\"tags\":[\"b\\u0026w\",\"\\u003cnew\\u003e\"],"
        "\"created_at\":\"2024-05-01T12:00:00Z\"}],\"next\":null}\n";
    struct sdiff_jdiff_result res;
    assert_int_equal(sdiff_jdiff_compare(NULL, sl(flask), sl(go), &res, NULL), SDIFF_OK);
    assert_true(res.equal);
    assert_int_equal(res.reasons, SDIFF_JDIFF_KEY_ORDER | SDIFF_JDIFF_NUMBER_SPELLING |
                                      SDIFF_JDIFF_STRING_ESCAPES);
    sdiff_jdiff_result_dispose(&res);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_jdiff__python_vs_go_spellings_are_equal),
    cmocka_unit_test(test_jdiff__big_integers_compare_exactly),
    cmocka_unit_test(test_jdiff__types_and_absence_are_distinct),
    cmocka_unit_test(test_jdiff__paths_use_jsonpath),
    cmocka_unit_test(test_jdiff__arrays_order_and_length),
    cmocka_unit_test(test_jdiff__duplicate_keys_last_wins),
    cmocka_unit_test(test_jdiff__lists_of_objects_with_changing_layouts),
    cmocka_unit_test(test_jdiff__large_objects_match_by_sorting),
    cmocka_unit_test(test_jdiff__unordered_paths_compare_as_multisets),
    cmocka_unit_test(test_jdiff__ignored_paths_are_skipped),
    cmocka_unit_test(test_jdiff__tolerance_compares_as_doubles),
    cmocka_unit_test(test_jdiff__tolerance_matches_large_unordered_numeric_arrays),
    cmocka_unit_test(test_jdiff__bad_options_are_rejected),
    cmocka_unit_test(test_jdiff__byte_equal_bodies_skip_parsing),
    cmocka_unit_test(test_jdiff__values_are_compact_and_cut),
    cmocka_unit_test(test_jdiff__differences_beyond_the_cap_are_counted),
    cmocka_unit_test(test_jdiff__handle_is_reusable),
    cmocka_unit_test(test_jdiff__deep_nesting_is_a_clean_error),
    cmocka_unit_test(test_jdiff__malformed_json_is_rejected),
    cmocka_unit_test(test_jdiff__every_truncation_is_an_error),
    cmocka_unit_test(test_jdiff__out_of_memory_sweep),
    cmocka_unit_test(test_jdiff__tape_is_flat_with_subtree_sizes),
    cmocka_unit_test(test_jdiff__pretty_prints_two_space_indent),
    cmocka_unit_test(test_jdiff__validate_accepts_rfc8259),
    cmocka_unit_test(test_jdiff__flask_and_go_bodies_are_equivalent),
};
SDIFF_TEST_MAIN(tests)
