/*
 * render_html.c - a built report as one self-contained HTML page: inline CSS, inline SVG
 * charts (parity bars, latency percentiles), the endpoint table and the discrepancy clusters
 * with primary and candidate values side by side. No script and no external asset, so the
 * file can be attached to a CI run and opened offline. Every string from the database goes
 * through esc(); long values are cut on a UTF-8 boundary.
 */
#include "report_html.h"
#include "shadowdiff/verdict.h"


#include <stdint.h>
#include <string.h>
#include <time.h>

#define HTML_CLUSTERS 100 /* clusters shown; json has all */
#define VALUE_CAP 300     /* bytes of a sample value shown */
#define SIG_CAP 400       /* bytes of a cluster signature shown */
#define LABEL_CAP 42      /* bytes of an endpoint name inside a chart */

/* Chart geometry (SVG user units; the SVG scales to the page width). */
#define CHART_W 1100
#define LABEL_W 300
#define PARITY_X 310
#define PARITY_W 600
#define ROW_H 26
#define LAT_X 350
#define LAT_W 560
#define LAT_ROW_H 26
#define LAT_GROUP_H (3 * LAT_ROW_H + 14)

static const char CSS[] =
    ":root{--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--bg:#fff;--alt:#f6f8fa;"
    "--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 -apple-system,"
    "BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif}\n"
    "main{max-width:1200px;margin:0 auto;padding:24px 28px 48px}\n"
    "h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;"
    "padding-bottom:4px;border-bottom:1px solid var(--line)}\n"
    "code,pre{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}\n"
    ".meta{color:var(--muted);margin:0 0 16px;display:flex;flex-wrap:wrap;column-gap:18px}"
    ".meta b{color:var(--fg);font-weight:600;overflow-wrap:anywhere}\n"
    ".meta span{min-width:0}\n"
    ".banner{border-radius:8px;padding:14px 18px;color:#fff;display:flex;gap:16px;"
    "align-items:center;margin:8px 0 16px}\n"
    ".banner.pass{background:var(--ok)}.banner.fail{background:var(--bad)}"
    ".banner.inconclusive{background:var(--warn)}\n"
    "ul.why{margin:0 0 16px;padding-left:18px;font-size:13px}\n"
    ".banner .big{font-size:26px;font-weight:700;letter-spacing:.04em}\n"
    ".tiles{display:flex;flex-wrap:wrap;gap:10px;margin:0 0 8px}\n"
    ".tile{border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:120px}\n"
    ".tile .v{font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}\n"
    ".tile .k{color:var(--muted);font-size:12px}\n"
    "table{border-collapse:collapse;width:100%}\n"
    "th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;"
    "vertical-align:top}\n"
    "th{background:var(--alt);font-weight:600;font-size:13px}\n"
    "tbody tr:nth-child(even){background:#fafbfc}\n"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "tfoot td{font-weight:600;border-top:2px solid var(--line)}\n"
    /* a route breaks only after a slash (<wbr>), never inside a word */
    ".ep-name{word-break:normal;overflow-wrap:normal;min-width:12em}\n"
    ".scroll{overflow-x:auto}\n"
    ".bar{display:inline-block;height:6px;border-radius:3px;vertical-align:middle;"
    "margin-left:6px}\n"
    "code.cmd{display:block;margin-top:4px;padding:3px 6px;background:#fff;border:1px solid "
    "var(--line);border-radius:4px;white-space:pre-wrap;word-break:break-all;"
    "user-select:all}\n"
    ".pill{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;"
    "font-weight:600;color:#fff;white-space:nowrap}\n"
    ".pill.ready{background:var(--ok)}.pill.blocked{background:var(--bad)}"
    ".pill.insufficient{background:#8c959f}\n"
    /* blockers in red; notes (what would settle an endpoint) in grey */
    "ul.reasons{margin:4px 0 0;padding-left:18px;color:var(--muted);font-size:12.5px}\n"
    "ul.reasons.blocker{color:var(--bad)}\n"
    ".legend{display:flex;flex-wrap:wrap;gap:14px;margin:4px 0 6px;font-size:12.5px}\n"
    ".legend i{display:inline-block;width:12px;height:12px;border-radius:2px;"
    "margin-right:5px;vertical-align:-1px}\n"
    ".chart{width:100%;height:auto;display:block}\n"
    ".chart text{font-size:12px;fill:var(--fg)}.chart text.s{font-size:10.5px;"
    "fill:var(--muted)}.chart text.bad{fill:var(--bad)}\n"
    ".note{color:var(--muted);font-size:12.5px}\n"
    ".cluster{border:1px solid var(--line);border-radius:8px;margin:12px 0;overflow:hidden}\n"
    ".cluster header{background:var(--alt);padding:8px 12px}\n"
    ".cluster .count{font-weight:700;color:var(--bad);margin-right:8px}\n"
    ".cluster .sig{display:block;margin-top:4px;word-break:break-all;color:#424a53}\n"
    ".cluster .when{color:var(--muted);font-size:12.5px;margin-top:2px}\n"
    "table.sbs{table-layout:fixed}table.sbs th{background:#fff}\n"
    "table.sbs td{border-bottom:0}table.sbs col.path{width:22%}\n"
    "table.sbs pre{margin:0;white-space:pre-wrap;word-break:break-all;padding:6px 8px;"
    "border-radius:4px}\n"
    "pre.prim{background:#eef4fc}pre.cand{background:#fdf0ee}\n"
    ".absent{color:var(--muted);font-style:italic}\n";

/* Class colours: identical, equivalent, different, error, skipped. */
static const char *const CLASS_NAMES[5] = {"identical", "equivalent", "different", "error",
                                           "skipped"};
static const char *const CLASS_FILLS[5] = {"#2da44e", "#9be9a8", "#cf222e", "#fb8f44",
                                           "#afb8c1"};
#define PRIMARY_FILL "#4d7fd1"
#define CANDIDATE_FILL "#a371f7"

/* ---- helpers ----------------------------------------------------------------------------- */

/* Length of s cut to at most cap bytes without splitting a UTF-8 sequence. */
static size_t cut_len(const char *s, size_t len, size_t cap)
{
    if (len <= cap)
        return len;
    size_t n = cap;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* s[0..len) as HTML text or attribute content; control bytes become U+FFFD. */
static void esc_n(FILE *f, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default:
            if ((ch < 0x20 && ch != '\t' && ch != '\n') || ch == 0x7f)
                fputs("&#xFFFD;", f);
            else
                fputc(ch, f);
        }
    }
}

static void esc(FILE *f, const char *s)
{
    esc_n(f, s, strlen(s));
}

/* Escaped s cut to cap bytes; says how much was left out. Returns whether it was cut. */
static int esc_cut(FILE *f, const char *s, size_t cap)
{
    size_t len = strlen(s), n = cut_len(s, len, cap);
    esc_n(f, s, n);
    if (n < len)
        fprintf(f, "\xe2\x80\xa6 <span class=\"absent\">(%zu bytes more)</span>", len - n);
    return n < len;
}

/* "METHOD route" (or just route), escaped; cut to cap bytes with an ellipsis when cap > 0. */
static void ep_name(FILE *f, const char *method, const char *route, size_t cap)
{
    size_t ml = strlen(method), rl = strlen(route);
    if (ml) {
        esc(f, method);
        fputc(' ', f);
    }
    if (cap == 0 || ml + 1 + rl <= cap) {
        esc(f, route);
        return;
    }
    size_t room = cap > ml + 1 ? cap - ml - 1 : 1;
    esc_n(f, route, cut_len(route, rl, room));
    fputs("\xe2\x80\xa6", f);
}


/* The endpoint's name with a break opportunity after each slash, so that a narrow column
 * breaks a route between its segments and never inside one. */
static void ep_name_wbr(FILE *f, const char *method, const char *route)
{
    if (method[0]) {
        esc(f, method);
        fputc(' ', f);
    }
    for (const char *p = route; *p;) {
        size_t n = strcspn(p, "/");
        esc_n(f, p, n);
        p += n;
        if (*p == '/') {
            fputs("/<wbr>", f);
            p++;
        }
    }
}

/* Blocked endpoints first, then those without enough data, then the ready ones; each group
 * in route order: what a release manager must act on is at the top. */
static int verdict_rank(enum sdiff_report_verdict v)
{
    return v == SDIFF_REPORT_BLOCKED ? 0 : v == SDIFF_REPORT_INSUFFICIENT ? 1 : 2;
}

static const char *verdict_class(enum sdiff_report_verdict v)
{
    return v == SDIFF_REPORT_READY ? "ready" : v == SDIFF_REPORT_BLOCKED ? "blocked"
                                                                          : "insufficient";
}

/* ---- page parts -------------------------------------------------------------------------- */

static const char *verdict_upper(const struct sdiff_report *r)
{
    return r->verdict == SDIFF_REPORT_PASS   ? "PASS"
           : r->verdict == SDIFF_REPORT_FAIL ? "FAIL"
                                             : "INCONCLUSIVE";
}

static void head(const struct sdiff_report *r, FILE *f)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
          f);
    fprintf(f, "<title>shadowdiff report: run %lld", (long long)r->run_id);
    if (r->run_kind) {
        fputs(" (", f);
        esc(f, r->run_kind);
        fputc(')', f);
    }
    fprintf(f, " - %s</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n",
            verdict_upper(r), CSS);
}

static void meta_item(FILE *f, const char *key, const char *value)
{
    if (value == NULL)
        return;
    fprintf(f, "<span>%s <b>", key);
    esc(f, value);
    fputs("</b></span>", f);
}

static void title_and_banner(const struct sdiff_report *r, FILE *f)
{
    char a[32], b[32];
    fprintf(f, "<h1>shadowdiff report: run %lld</h1>\n<p class=\"meta\">", (long long)r->run_id);
    meta_item(f, "kind", r->run_kind);
    meta_item(f, "name", r->run_name);
    struct sdiff_buf lb;
    sdiff_buf_init(&lb, 1u << 16);
    meta_item(f, "labels", sdiff__report_labels(r->run_labels_json, &lb));
    sdiff_buf_dispose(&lb);
    meta_item(f, "candidate", r->run_candidate);
    meta_item(f, "primary", r->run_primary);
    meta_item(f, "corpus", r->run_corpus);
    meta_item(f, "started", r->run_started_at);
    meta_item(f, "finished", r->run_finished_at);
    fputs("</p>\n", f);

    fprintf(f,
            "<div class=\"banner %s\" id=\"verdict\"><span class=\"big\">%s</span><span>%zu"
            " endpoint%s ready, %zu blocked, %zu with insufficient data</span></div>\n",
            sdiff_report_run_verdict_str(r->verdict), verdict_upper(r), r->nready,
            r->nready == 1 ? "" : "s", r->nblocked, r->ninsufficient);
    fputs("<ul class=\"why\" id=\"reasons\">", f);
    for (size_t i = 0; i < r->nrun_reasons; i++) {
        fputs("<li>", f);
        esc(f, r->run_reasons[i]);
        fputs("</li>", f);
    }
    fputs("</ul>\n", f);

    const struct sdiff_report_endpoint *t = &r->totals;
    fprintf(f,
            "<div class=\"tiles\">"
            "<div class=\"tile\"><div class=\"v\">%zu</div><div class=\"k\">endpoints</div></div>"
            "<div class=\"tile\"><div class=\"v\">%llu</div><div class=\"k\">samples</div></div>"
            "<div class=\"tile\"><div class=\"v\">%llu</div><div class=\"k\">judged</div></div>"
            "<div class=\"tile\"><div class=\"v\">%s</div><div class=\"k\">parity</div></div>"
            "<div class=\"tile\"><div class=\"v\">%s</div><div class=\"k\">mismatch bound</div>"
            "</div>"
            "<div class=\"tile\"><div class=\"v\">%llu</div><div class=\"k\">errors</div></div>"
            "<div class=\"tile\"><div class=\"v\">%llu</div><div class=\"k\">unjudged</div>"
            "</div></div>\n",
            r->nendpoints, (unsigned long long)t->samples, (unsigned long long)t->judged,
            sdiff__report_pct(t->parity, a, sizeof a), sdiff__report_pct(t->mismatch_upper, b, sizeof b),
            (unsigned long long)t->errors, (unsigned long long)t->unjudged);
}

/* A bar of v on the scale max (the largest p99 of any endpoint, either side). */
static void latency_bar(FILE *f, double v, double max, const char *fill)
{
    if (v < 0 || max <= 0)
        return;
    fprintf(f, "<span class=\"bar\" style=\"width:%.0fpx;background:%s\"></span>",
            2 + 58 * v / max, fill);
}

static void endpoint_table(const struct sdiff_report *r, FILE *f)
{
    char a[32], b[32], c[32], d[32], s[32];
    size_t *order = sdiff_calloc(r->nendpoints + 1, sizeof *order), n = 0;
    double pmax = 0;
    for (int rank = 0; rank < 3; rank++)
        for (size_t i = 0; i < r->nendpoints; i++)
            if (verdict_rank(r->endpoints[i].verdict) == rank && order)
                order[n++] = i;
    for (size_t i = 0; i < r->nendpoints; i++) {
        const struct sdiff_report_endpoint *e = &r->endpoints[i];
        if (e->primary.p99 > pmax)
            pmax = e->primary.p99;
        if (e->candidate.p99 > pmax)
            pmax = e->candidate.p99;
    }
    fputs("<h2>Endpoints</h2>\n<div class=\"scroll\"><table id=\"endpoints\">\n<thead><tr>"
          "<th>Endpoint</th><th class=\"n\">Samples</th><th class=\"n\">Share</th>"
          "<th class=\"n\">Parity</th><th class=\"n\">Mismatch bound</th>"
          "<th class=\"n\">p99 primary (ms)</th><th class=\"n\">p99 candidate (ms)</th>"
          "<th class=\"n\">Errors</th><th class=\"n\">Unjudged</th><th>Verdict</th></tr>"
          "</thead>\n<tbody>\n",
          f);
    for (size_t row = 0; row < r->nendpoints; row++) {
        const struct sdiff_report_endpoint *e = &r->endpoints[order ? order[row] : row];
        double share = r->totals.samples ? (double)e->samples / (double)r->totals.samples : -1;
        fputs("<tr class=\"ep\"><td class=\"ep-name\"><code>", f);
        ep_name_wbr(f, e->method, e->route);
        fprintf(f,
                "</code></td><td class=\"n\">%llu</td><td class=\"n\">%s</td>"
                "<td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s",
                (unsigned long long)e->samples, sdiff__report_pct(share, s, sizeof s),
                sdiff__report_pct(e->parity, a, sizeof a),
                sdiff__report_pct(e->mismatch_upper, b, sizeof b),
                sdiff__report_ms(e->primary.p99, c, sizeof c));
        latency_bar(f, e->primary.p99, pmax, PRIMARY_FILL);
        fprintf(f, "</td><td class=\"n\">%s", sdiff__report_ms(e->candidate.p99, d, sizeof d));
        latency_bar(f, e->candidate.p99, pmax, CANDIDATE_FILL);
        fprintf(f,
                "</td><td class=\"n\">%llu</td><td class=\"n\">%llu</td>"
                "<td><span class=\"pill %s\">%s</span>",
                (unsigned long long)e->errors, (unsigned long long)e->unjudged,
                verdict_class(e->verdict), sdiff_report_verdict_str(e->verdict));
        if (e->nreasons) {
            fprintf(f, "<ul class=\"reasons%s\">",
                    e->verdict == SDIFF_REPORT_BLOCKED ? " blocker" : "");
            for (size_t k = 0; k < e->nreasons && k < SDIFF_REPORT_MAX_REASONS; k++) {
                fputs("<li>", f);
                esc(f, e->reasons[k]);
                fputs("</li>", f);
            }
            fputs("</ul>", f);
        }
        fputs("</td></tr>\n", f);
    }
    sdiff_free(order);
    const struct sdiff_report_endpoint *t = &r->totals;
    fprintf(f,
            "</tbody>\n<tfoot><tr><td>total</td><td class=\"n\">%llu</td><td></td>"
            "<td class=\"n\">%s</td>"
            "<td class=\"n\">%s</td><td></td><td></td><td class=\"n\">%llu</td>"
            "<td class=\"n\">%llu</td><td></td></tr></tfoot>\n</table></div>\n",
            (unsigned long long)t->samples, sdiff__report_pct(t->parity, a, sizeof a),
            sdiff__report_pct(t->mismatch_upper, b, sizeof b), (unsigned long long)t->errors,
            (unsigned long long)t->unjudged);
    fprintf(f,
            "<p class=\"note\">parity = (identical + equivalent) / judged; mismatch bound = 95%%"
            " Wilson upper bound of the different rate; unjudged = skipped + errors."
            " Thresholds: at least %llu judged results, mismatch bound at most %.2f%%,"
            " candidate/primary p99 at most %.2f, error rate increase at most %.2f%%.</p>\n",
            (unsigned long long)r->thresholds.min_samples, 100 * r->thresholds.max_mismatch,
            r->thresholds.max_p99_ratio, 100 * r->thresholds.max_error_increase);
}

/* Endpoint label at the left of a chart row; the full name in a tooltip. */
static void chart_label(FILE *f, const struct sdiff_report_endpoint *e, double y)
{
    fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\"><title>", LABEL_W, y);
    ep_name(f, e->method, e->route, 0);
    fputs("</title>", f);
    ep_name(f, e->method, e->route, LABEL_CAP);
    fputs("</text>\n", f);
}

static void parity_chart(const struct sdiff_report *r, FILE *f)
{
    char a[32];
    fputs("<h2>Parity per endpoint</h2>\n<div class=\"legend\">", f);
    for (int k = 0; k < 5; k++)
        fprintf(f, "<span><i style=\"background:%s\"></i>%s</span>", CLASS_FILLS[k],
                CLASS_NAMES[k]);
    fputs("</div>\n", f);
    int h = (int)r->nendpoints * ROW_H + 10;
    fprintf(f,
            "<svg class=\"chart\" id=\"parity-chart\" viewBox=\"0 0 %d %d\" role=\"img\""
            " aria-label=\"results per class and endpoint\">\n",
            CHART_W, h);
    for (size_t i = 0; i < r->nendpoints; i++) {
        const struct sdiff_report_endpoint *e = &r->endpoints[i];
        uint64_t n[5] = {e->identical, e->equivalent, e->different, e->errors, e->skipped};
        uint64_t total = n[0] + n[1] + n[2] + n[3] + n[4];
        double y = 5 + (double)i * ROW_H;
        chart_label(f, e, y + 16);
        fprintf(f,
                "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"18\" fill=\"#f6f8fa\""
                " stroke=\"#d0d7de\"/>\n",
                PARITY_X, y + 3, PARITY_W);
        double x = PARITY_X;
        for (int k = 0; k < 5 && total > 0; k++) {
            if (n[k] == 0)
                continue;
            double w = (double)PARITY_W * (double)n[k] / (double)total;
            fprintf(f,
                    "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"18\" fill=\"%s\">"
                    "<title>%s: %llu of %llu (%.2f%%)</title></rect>\n",
                    x, y + 3, w, CLASS_FILLS[k], CLASS_NAMES[k], (unsigned long long)n[k],
                    (unsigned long long)total, 100.0 * (double)n[k] / (double)total);
            x += w;
        }
        fprintf(f, "<text x=\"%d\" y=\"%.1f\">parity %s &middot; %llu samples</text>\n",
                PARITY_X + PARITY_W + 10, y + 16, sdiff__report_pct(e->parity, a, sizeof a),
                (unsigned long long)e->samples);
    }
    fputs("</svg>\n", f);
}

static void latency_chart(const struct sdiff_report *r, FILE *f)
{
    char a[32];
    fprintf(f,
            "<h2>Latency percentiles</h2>\n<div class=\"legend\"><span><i style=\"background:%s"
            "\"></i>primary</span><span><i style=\"background:%s\"></i>candidate</span>"
            "<span class=\"note\">milliseconds, nearest rank; bars are scaled per endpoint"
            "</span></div>\n",
            PRIMARY_FILL, CANDIDATE_FILL);
    int h = (int)r->nendpoints * LAT_GROUP_H + 6;
    fprintf(f,
            "<svg class=\"chart\" id=\"latency-chart\" viewBox=\"0 0 %d %d\" role=\"img\""
            " aria-label=\"latency percentiles of primary and candidate per endpoint\">\n",
            CHART_W, h);
    for (size_t i = 0; i < r->nendpoints; i++) {
        const struct sdiff_report_endpoint *e = &r->endpoints[i];
        double v[3][2] = {{e->primary.p50, e->candidate.p50},
                          {e->primary.p95, e->candidate.p95},
                          {e->primary.p99, e->candidate.p99}};
        static const char *const names[3] = {"p50", "p95", "p99"};
        double max = 0;
        for (int k = 0; k < 3; k++)
            for (int s = 0; s < 2; s++)
                if (v[k][s] > max)
                    max = v[k][s];
        double y0 = 4 + (double)i * LAT_GROUP_H;
        if (i > 0)
            fprintf(f, "<line x1=\"0\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#d0d7de\"/>\n",
                    CHART_W, y0 - 2, y0 - 2);
        chart_label(f, e, y0 + LAT_GROUP_H / 2.0 - 4);
        if (e->p99_ratio >= 0)
            fprintf(f,
                    "<text class=\"s%s\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">p99 ratio"
                    " %.2f</text>\n",
                    e->p99_ratio > r->thresholds.max_p99_ratio ? " bad" : "", LABEL_W,
                    y0 + LAT_GROUP_H / 2.0 + 11, e->p99_ratio);
        for (int k = 0; k < 3; k++) {
            double y = y0 + 6 + k * LAT_ROW_H;
            fprintf(f, "<text class=\"s\" x=\"%d\" y=\"%.1f\">%s</text>\n", PARITY_X, y + 15,
                    names[k]);
            for (int s = 0; s < 2; s++) {
                double by = y + s * 11;
                const char *fill = s ? CANDIDATE_FILL : PRIMARY_FILL;
                const char *side = s ? "candidate" : "primary";
                double w = v[k][s] > 0 && max > 0 ? (double)LAT_W * v[k][s] / max : 0;
                if (v[k][s] >= 0 && w < 1)
                    w = 1; /* a zero latency is still a measurement: show a sliver */
                if (v[k][s] >= 0)
                    fprintf(f,
                            "<rect x=\"%d\" y=\"%.1f\" width=\"%.2f\" height=\"10\" rx=\"1\""
                            " fill=\"%s\"><title>%s %s: %s ms</title></rect>\n",
                            LAT_X, by, w, fill, side, names[k], sdiff__report_ms(v[k][s], a, sizeof a));
                fprintf(f, "<text class=\"s\" x=\"%.2f\" y=\"%.1f\">%s</text>\n",
                        LAT_X + w + 5, by + 9,
                        v[k][s] >= 0 ? sdiff__report_ms(v[k][s], a, sizeof a) : "no sample");
            }
        }
    }
    fputs("</svg>\n", f);
}

static void sample_value(FILE *f, const char *cls, const char *v)
{
    fprintf(f, "<td><pre class=\"%s\">", cls);
    if (v)
        esc_cut(f, v, VALUE_CAP);
    else
        fputs("<span class=\"absent\">(absent)</span>", f);
    fputs("</pre></td>", f);
}

static void clusters(const struct sdiff_report *r, FILE *f)
{
    char a[32], b[32];
    /* the database, quoted for a shell (its name may hold anything) */
    struct sdiff_buf db;
    sdiff_buf_init(&db, 4096);
    const char *name = r->db_shown ? r->db_shown : "FILE";
    if (sdiff_report_shell_quote(&db, name, strlen(name)) < 0 || db.data == NULL) {
        sdiff_buf_reset(&db);
        sdiff_buf_puts(&db, "FILE");
    }
    fprintf(f, "<h2>Discrepancy clusters (%zu)</h2>\n", r->nclusters);
    if (r->nclusters == 0) {
        fputs("<p class=\"note\">No different results.</p>\n", f);
        sdiff_buf_dispose(&db);
        return;
    }
    fputs("<p class=\"note\">Different results of one endpoint that share the same set of"
          " differences, most frequent first; values are those of the first difference of"
          " the first example.</p>\n",
          f);
    for (size_t i = 0; i < r->nclusters && i < HTML_CLUSTERS; i++) {
        const struct sdiff_report_cluster *cl = &r->clusters[i];
        fprintf(f,
                "<section class=\"cluster\"><header><span class=\"count\">#%zu &middot;"
                " %llu&times;</span><code>",
                i + 1, (unsigned long long)cl->count);
        ep_name(f, cl->method, cl->route, 0);
        fputs("</code><code class=\"sig\">", f);
        esc_cut(f, cl->signature, SIG_CAP);
        fprintf(f, "</code><div class=\"when\">first %s, last %s; example results",
                sdiff__report_iso_time(cl->first_us, a, sizeof a), sdiff__report_iso_time(cl->last_us, b, sizeof b));
        for (size_t k = 0; k < cl->nexamples && k < SDIFF_REPORT_MAX_EXAMPLES; k++)
            fprintf(f, "%s%lld", k ? ", " : " ", (long long)cl->examples[k]);
        fputs("</div>", f);
        /* what to run next, selected whole with one click */
        if (cl->nexamples) {
            fputs("<code class=\"cmd\">shadowdiff inspect --db ", f);
            esc(f, (const char *)db.data);
            fprintf(f, " %lld</code>", (long long)cl->examples[0]);
        }
        fputs("<code class=\"cmd\">shadowdiff accept --db ", f);
        esc(f, (const char *)db.data);
        fputc(' ', f);
        esc(f, cl->id);
        fputs(" --reason '...' --expires YYYY-MM-DD</code></header>\n", f);
        if (cl->sample_path == NULL) {
            fputs("<p class=\"note\" style=\"padding:0 12px\">no stored difference</p>"
                  "</section>\n",
                  f);
            continue;
        }
        fputs("<table class=\"sbs\"><colgroup><col class=\"path\"><col><col></colgroup>"
              "<thead><tr><th>path</th><th>primary</th><th>candidate</th></tr></thead>"
              "<tbody><tr><td><code>",
              f);
        esc_cut(f, cl->sample_path, VALUE_CAP);
        fputs("</code></td>", f);
        sample_value(f, "prim", cl->sample_primary);
        sample_value(f, "cand", cl->sample_candidate);
        fputs("</tr></tbody></table></section>\n", f);
    }
    if (r->nclusters > HTML_CLUSTERS)
        fprintf(f, "<p class=\"note\">&hellip; and %zu more clusters (see --format json).</p>\n",
                r->nclusters - HTML_CLUSTERS);
    sdiff_buf_dispose(&db);
}

/* ---- API --------------------------------------------------------------------------------- */

/* report --by instance: one row per process that wrote to the run. */
static void instance_table(const struct sdiff_report *r, FILE *f)
{
    char a[32], id[9];
    if (r->instances == NULL)
        return;
    fputs("<h2>Instances</h2>\n<table id=\"instances\">\n<thead><tr><th>Instance</th>"
          "<th>Host</th><th class=\"n\">PID</th><th class=\"n\">Samples</th>"
          "<th class=\"n\">Judged</th><th class=\"n\">Different</th>"
          "<th class=\"n\">Errors</th><th class=\"n\">Skipped</th>"
          "<th class=\"n\">Parity</th></tr></thead>\n<tbody>\n",
          f);
    for (size_t i = 0; i < r->ninstances; i++) {
        const struct sdiff_report_instance *in = &r->instances[i];
        snprintf(id, sizeof id, "%.8s", in->id);
        fputs("<tr><td><code>", f);
        esc(f, id);
        fputs("</code></td><td>", f);
        esc(f, in->host ? in->host : "-");
        fprintf(f,
                "</td><td class=\"n\">%lld</td><td class=\"n\">%llu</td>"
                "<td class=\"n\">%llu</td><td class=\"n\">%llu</td><td class=\"n\">%llu</td>"
                "<td class=\"n\">%llu</td><td class=\"n\">%s</td></tr>\n",
                (long long)in->pid, (unsigned long long)in->samples,
                (unsigned long long)in->judged, (unsigned long long)in->different,
                (unsigned long long)in->errors, (unsigned long long)in->skipped,
                sdiff__report_pct(in->parity, a, sizeof a));
    }
    fputs("</tbody>\n</table>\n", f);
}

void sdiff__report_render_html(const struct sdiff_report *r, FILE *f)
{
    head(r, f);
    title_and_banner(r, f);
    endpoint_table(r, f);
    if (r->nendpoints) {
        parity_chart(r, f);
        latency_chart(r, f);
    }
    instance_table(r, f);
    sdiff__report_cost_html(r, f);
    clusters(r, f);
    fputs("<p class=\"note\">Generated by shadowdiff.</p>\n</main>\n</body>\n</html>\n", f);
}
