/*
 * test_report_html.c - the HTML report on a small results database built with the store API:
 * self-contained (no external asset, no script), every string escaped, long values cut; and
 * the page as headless Chromium renders it (screenshot and DOM), skipped without Chromium.
 */
#include "sdiff_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shadowdiff/report.h"
#include "shadowdiff/store.h"

#define T0 1714564800000000ull /* 2024-05-01T12:00:00Z in microseconds */
#define CHROMIUM "/usr/bin/chromium"
#define EVIL_ROUTE "GET /search/<script>alert(\"r\")</script>"
#define EVIL_VALUE "\"<script>alert('x')</script> & more\""

static char *tmpdir;
static char dbpath[512], htmlpath[512], emptypath[512];
static char long_value[2100];

/* ---- building the database ----------------------------------------------------------------- */

static void put(struct sdiff_store *st, struct sdiff_result_rec *r)
{
    struct sdiff_err err = {0};
    if (sdiff_store_put_result(st, r, NULL, &err) < 0)
        fail_msg("put_result: %s", err.msg);
}

/* n results of one class; latencies cycle through 1..50 ms, times pscale or cscale. */
static void put_many(struct sdiff_store *st, int64_t run, const char *route, const char *cls,
                     int n, double pscale, double cscale)
{
    static struct sdiff_msg ok = {.present = 1, .status = 200};
    struct sdiff_result_rec r;
    for (int i = 0; i < n; i++) {
        memset(&r, 0, sizeof r);
        r.run_id = run;
        r.route = route;
        r.target = "/x";
        r.cls = cls;
        r.bytes_equal = -1;
        r.primary_status = 200;
        r.primary_ms = pscale * (double)(i % 50 + 1);
        r.t_req_start = T0 + (uint64_t)i;
        r.candidate.latency_ms = cscale * (double)(i % 50 + 1);
        r.candidate.skip_row = 1;
        r.candidate.msg = &ok;
        if (strcmp(cls, "error") == 0) {
            r.candidate.error = "timeout after 5s";
            r.candidate.skip_row = 0;
            r.candidate.msg = NULL;
        } else if (strcmp(cls, "skipped") == 0) {
            r.skip_reason = "method not allowed";
            r.candidate.latency_ms = -1;
            r.primary_ms = -1;
            r.candidate.msg = NULL;
        }
        put(st, &r);
    }
}

/* A different result with one difference (path, primary value, candidate value). */
static void put_different(struct sdiff_store *st, int64_t run, const char *route,
                          const char *path, const char *pv, const char *cv, uint64_t t)
{
    static struct sdiff_msg cand = {.present = 1, .status = 200};
    const char *paths[1] = {path}, *kinds[1] = {"changed"}, *pvs[1] = {pv}, *cvs[1] = {cv};
    struct sdiff_result_rec r;
    memset(&r, 0, sizeof r);
    r.run_id = run;
    r.route = route;
    r.target = "/x";
    r.cls = "different";
    r.reasons = "body";
    r.bytes_equal = 0;
    r.primary_status = 200;
    r.primary_ms = 12;
    r.t_req_start = t;
    r.candidate.msg = &cand;
    r.candidate.latency_ms = 13;
    r.paths = paths;
    r.kinds = kinds;
    r.primary_values = pvs;
    r.candidate_values = cvs;
    r.ndiffs = 1;
    put(st, &r);
}

static int build_db(void **state)
{
    (void)state;
    struct sdiff_store *st = NULL;
    struct sdiff_err err = {0};
    struct sdiff_store_opts opts = {0};
    int64_t run;
    tmpdir = sdiff_test_tmpdir();
    snprintf(dbpath, sizeof dbpath, "%s/results.db", tmpdir);
    snprintf(htmlpath, sizeof htmlpath, "%s/report.html", tmpdir);
    snprintf(emptypath, sizeof emptypath, "%s/empty.html", tmpdir);
    memset(long_value, 'v', sizeof long_value - 1);
    long_value[0] = '"';
    long_value[sizeof long_value - 2] = '"';
    if (sdiff_store_open(&st, dbpath, &opts, &err) < 0)
        fail_msg("open: %s", err.msg);

    struct sdiff_run_info info = {.kind = "replay", .corpus = "corpus.db",
                                  .candidate = "http://cand.example:8080/?a=1&b=<2>"};
    assert_int_equal(sdiff_store_begin_run(st, &info, &run, &err), SDIFF_OK);
    put_many(st, run, "GET /users/{id}", "identical", 500, 1, 1);
    put_many(st, run, "GET /users/{id}", "equivalent", 60, 1, 1);
    put_many(st, run, "GET /slow", "identical", 200, 1, 3);
    put_many(st, run, "GET /flaky", "identical", 150, 2, 2);
    put_many(st, run, "GET /flaky", "error", 20, 2, 100);
    put_many(st, run, "GET /flaky", "skipped", 10, 0, 0);
    put_many(st, run, EVIL_ROUTE, "identical", 5, 1, 1);
    put_many(st, run, "POST /orders", "identical", 80, 4, 4);
    for (int i = 0; i < 6; i++)
        put_different(st, run, "POST /orders", "$.items[0].price", "1.5", "\"1.50\"",
                      T0 + 1000000 * (uint64_t)i);
    for (int i = 0; i < 2; i++)
        put_different(st, run, "POST /orders", "$.note", EVIL_VALUE, long_value,
                      T0 + 2000000 * (uint64_t)i);
    put_different(st, run, EVIL_ROUTE, "$.q<b>", "\"a\"", NULL, T0);
    assert_int_equal(sdiff_store_end_run(st, run, "{}", &err), SDIFF_OK);

    /* a run without results: the page must still be whole */
    assert_int_equal(sdiff_store_begin_run(st, &info, &run, &err), SDIFF_OK);
    assert_int_equal(sdiff_store_end_run(st, run, "{}", &err), SDIFF_OK);
    sdiff_store_close(st);
    return 0;
}

static int remove_db(void **state)
{
    (void)state;
    if (getenv("SDIFF_KEEP_TMP")) /* for looking at the page by hand */
        fprintf(stderr, "kept %s\n", tmpdir);
    else
        sdiff_test_rmdir(tmpdir);
    free(tmpdir);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static struct sdiff_report *build(int64_t run)
{
    struct sdiff_report *r = NULL;
    struct sdiff_err err = {0};
    if (sdiff_report_build(&r, dbpath, run, NULL, &err) < 0)
        fail_msg("build: %s", err.msg);
    return r;
}

static void render_to(const struct sdiff_report *r, const char *path)
{
    struct sdiff_err err = {0};
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (sdiff_report_render(r, SDIFF_REPORT_HTML, 0, f, &err) < 0)
        fail_msg("render: %s", err.msg);
    assert_int_equal(fclose(f), 0);
}

static char *slurp(const char *path)
{
    size_t n;
    return (char *)sdiff_test_read_file(path, &n);
}

static size_t count_substr(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* No asset is fetched: no src/href attribute, stylesheet link, CSS url() or import, script. */
static void assert_self_contained(const char *html)
{
    static const char *const banned[] = {"src=", "href=", "<link", "url(", "@import",
                                         "<script", "<iframe", "<img"};
    for (size_t i = 0; i < sizeof banned / sizeof banned[0]; i++)
        if (strstr(html, banned[i]))
            fail_msg("page contains %s", banned[i]);
}

/* Run chromium headless on the page, width pixels wide, with one extra argument; its exit
 * status (-1: timeout). */
static int chromium_at(int width, const char *arg, const char *page, const char *out_path);

static int chromium(const char *arg, const char *page, const char *out_path)
{
    return chromium_at(1280, arg, page, out_path);
}

static int chromium_at(int width, const char *arg, const char *page, const char *out_path)
{
    char size[64];
    snprintf(size, sizeof size, "--window-size=%d,2000", width);
    char profile[600], url[600];
    char *dir = sdiff_test_tmpdir();
    snprintf(profile, sizeof profile, "--user-data-dir=%s", dir);
    snprintf(url, sizeof url, "file://%s", page);
    char errp[600];
    snprintf(errp, sizeof errp, "%s/chromium.err", tmpdir);
    char *argv[] = {CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--hide-scrollbars", profile,
                    size, (char *)arg, url, NULL};
    int pid = sdiff_test_spawn(argv, out_path, errp);
    int status = sdiff_test_wait(pid, 90);
    sdiff_test_rmdir(dir);
    free(dir);
    return status;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_report_html__format_name_parses(void **state)
{
    (void)state;
    assert_int_equal(sdiff_report_format_parse("html"), SDIFF_REPORT_HTML);
    assert_int_equal(sdiff_report_format_parse("junit"), SDIFF_REPORT_JUNIT);
    assert_int_equal(sdiff_report_format_parse("HTML"), -1);
}

static void test_report_html__page_is_self_contained_and_escaped(void **state)
{
    (void)state;
    struct sdiff_report *r = build(1);
    render_to(r, htmlpath);
    char *html = slurp(htmlpath);

    assert_non_null(strstr(html, "<!DOCTYPE html>"));
    assert_non_null(strstr(html, "</html>"));
    assert_self_contained(html);
    assert_int_equal(count_substr(html, "<svg"), 2);
    assert_int_equal(count_substr(html, "</svg>"), 2);
    assert_true(r->nendpoints == 5);
    assert_int_equal(count_substr(html, "<tr class=\"ep\">"), r->nendpoints);
    /* every route, in the table and both charts */
    for (size_t i = 0; i < r->nendpoints; i++) {
        if (strchr(r->endpoints[i].route, '<'))
            continue;
        if (count_substr(html, r->endpoints[i].route) < 3)
            fail_msg("route %s not in table and charts", r->endpoints[i].route);
    }
    assert_non_null(strstr(html, "GET /search/&lt;script&gt;alert(&quot;r&quot;)&lt;/script&gt;"));
    /* the banner: the mixed run fails (orders mismatch, flaky errors) */
    assert_false(r->pass);
    assert_non_null(strstr(html, "class=\"banner fail\""));
    assert_non_null(strstr(html, "<span class=\"pill blocked\">blocked</span>"));
    assert_non_null(strstr(html, "<span class=\"pill ready\">ready</span>"));
    assert_non_null(strstr(html, "candidate <b>http://cand.example:8080/?a=1&amp;b=&lt;2&gt;"));

    /* clusters: paths and both values, escaped; the long value cut */
    assert_true(r->nclusters == 3);
    assert_non_null(strstr(html, "$.items[0].price"));
    assert_non_null(strstr(html, "$.note"));
    assert_non_null(strstr(html, "$.q&lt;b&gt;"));
    assert_non_null(strstr(html, "<pre class=\"prim\">1.5</pre>"));
    assert_non_null(strstr(html, "<pre class=\"cand\">&quot;1.50&quot;</pre>"));
    assert_non_null(strstr(html, "&quot;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp;"
                                 " more&quot;"));
    assert_non_null(strstr(html, "<span class=\"absent\">(absent)</span>"));
    assert_null(strstr(html, long_value));
    assert_non_null(strstr(html, "bytes more)"));
    free(html);
    sdiff_report_free(r);
}

static void test_report_html__empty_run_renders_whole_page(void **state)
{
    (void)state;
    struct sdiff_report *r = build(2);
    assert_true(r->nendpoints == 0);
    render_to(r, emptypath);
    char *html = slurp(emptypath);
    assert_self_contained(html);
    assert_non_null(strstr(html, "class=\"banner inconclusive\""));
    /* three verdicts, three colours: inconclusive is never the pass green */
    assert_non_null(strstr(html, ".banner.pass{background:var(--ok)}"));
    assert_non_null(strstr(html, ".banner.fail{background:var(--bad)}"));
    assert_non_null(strstr(html, ".banner.inconclusive{background:var(--warn)}"));
    assert_non_null(strstr(html, "--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700"));
    assert_non_null(strstr(html, "<li>nothing judged: 0 results, none replayed</li>"));
    assert_non_null(strstr(html, "No different results."));
    assert_non_null(strstr(html, "</html>"));
    free(html);
    sdiff_report_free(r);
}

static void test_report_html__chromium_renders_tables_and_charts(void **state)
{
    (void)state;
    if (access(CHROMIUM, X_OK) != 0) {
        fprintf(stderr, "no %s: skipped\n", CHROMIUM);
        skip();
    }
    struct sdiff_report *r = build(1);
    render_to(r, htmlpath);

    char png[600], shot[700], dom[600];
    snprintf(png, sizeof png, "%s/report.png", tmpdir);
    snprintf(shot, sizeof shot, "--screenshot=%s", png);
    int status = chromium(shot, htmlpath, NULL);
    assert_true(status != -1 && WIFEXITED(status));
    struct stat sb;
    assert_int_equal(stat(png, &sb), 0);
    assert_true(sb.st_size > 10 * 1024);
    size_t n;
    uint8_t *bytes = sdiff_test_read_file(png, &n);
    assert_memory_equal(bytes, "\x89PNG\r\n\x1a\n", 8);
    free(bytes);

    snprintf(dom, sizeof dom, "%s/dom.html", tmpdir);
    status = chromium("--dump-dom", htmlpath, dom);
    assert_true(status != -1 && WIFEXITED(status));
    char *html = slurp(dom);
    assert_int_equal(count_substr(html, "<tr class=\"ep\">"), r->nendpoints);
    /* routes break only after a slash */
    assert_non_null(strstr(html, "<code>GET /<wbr>users/<wbr>{id}</code>"));
    assert_non_null(strstr(html, "<code>POST /<wbr>orders</code>"));
    assert_non_null(strstr(html, "id=\"parity-chart\""));
    assert_non_null(strstr(html, "id=\"latency-chart\""));
    /* the escaped route stayed text: the parser made no script element of it */
    assert_null(strstr(html, "<script"));
    free(html);
    sdiff_report_free(r);
}

/*
 * Read in five seconds at a laptop's width and a phone's: blocked endpoints first, their
 * reasons red and the others' grey, a traffic share per endpoint, latency bars on one
 * scale, copyable inspect and accept lines, and never wider than the window.
 */
static void test_report_html__blocked_first_and_fits_laptop_and_phone(void **state)
{
    (void)state;
    if (access(CHROMIUM, X_OK) != 0)
        skip();
    struct sdiff_report *r = build(1);
    render_to(r, htmlpath);
    char *page = slurp(htmlpath);
    /* the first endpoint row is a blocked one */
    const char *row = strstr(page, "<tr class=\"ep\">");
    assert_non_null(row);
    const char *end = strstr(row, "</tr>");
    const char *pill = strstr(row, "<span class=\"pill ");
    assert_true(pill && pill < end);
    assert_int_equal(strncmp(pill, "<span class=\"pill blocked\">", 27), 0);
    assert_non_null(strstr(page, "<ul class=\"reasons blocker\">"));
    assert_non_null(strstr(page, "<th class=\"n\">Share</th>"));
    assert_non_null(strstr(page, "<span class=\"bar\""));
    assert_non_null(strstr(page, "<code class=\"cmd\">shadowdiff accept --db "));
    assert_non_null(strstr(page, "<code class=\"cmd\">shadowdiff inspect --db "));
    /* the page measures itself into its title */
    char measured[700];
    snprintf(measured, sizeof measured, "%s/measured.html", tmpdir);
    FILE *f = fopen(measured, "w");
    assert_non_null(f);
    char *body = strstr(page, "</body>");
    assert_non_null(body);
    fwrite(page, 1, (size_t)(body - page), f);
    fputs("<script>document.title = 'W=' + document.documentElement.scrollWidth + ' I=' +"
          " window.innerWidth;</script>", f);
    fputs(body, f);
    fclose(f);
    static const int widths[] = {1280, 500}; /* headless chromium's narrowest is 500 */
    for (size_t i = 0; i < 2; i++) {
        char dom[700];
        snprintf(dom, sizeof dom, "%s/dom-%d.html", tmpdir, widths[i]);
        int status = chromium_at(widths[i], "--dump-dom", measured, dom);
        assert_true(status != -1 && WIFEXITED(status));
        char *html = slurp(dom);
        const char *t = strstr(html, "<title>W=");
        assert_non_null(t);
        int w = 0, inner = 0;
        assert_int_equal(sscanf(t, "<title>W=%d I=%d", &w, &inner), 2);
        if (w > inner)
            fail_msg("at %d px the page is %d px wide (window %d)", widths[i], w, inner);
        free(html);
    }
    free(page);
    sdiff_report_free(r);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_html__format_name_parses),
        cmocka_unit_test(test_report_html__page_is_self_contained_and_escaped),
        cmocka_unit_test(test_report_html__empty_run_renders_whole_page),
        cmocka_unit_test(test_report_html__chromium_renders_tables_and_charts),
        cmocka_unit_test(test_report_html__blocked_first_and_fits_laptop_and_phone),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, build_db, remove_db);
}
