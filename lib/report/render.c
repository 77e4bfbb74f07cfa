/*
 * render.c - a built report as text (terminal), Markdown (PR comment), JSON (stable schema,
 * see README.md) or JUnit XML (one testcase per endpoint); HTML is in render_html.c.
 */
#include "shadowdiff/report.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/report_int.h"
#include "report_html.h"
#include "shadowdiff/verdict.h"


#define WHERE "report"
#define TEXT_CLUSTERS 20 /* clusters shown by text and markdown; json has all */

const char *sdiff__report_iso_time(uint64_t us, char *buf, size_t cap)
{
    if (us == 0) {
        snprintf(buf, cap, "-");
        return buf;
    }
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    if (gmtime_r(&s, &tm) == NULL) {
        snprintf(buf, cap, "-");
        return buf;
    }
    char day[24];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, cap, "%.20s.%03uZ", day, (unsigned)(us % 1000000 / 1000));
    return buf;
}

const char *sdiff__report_pct(double v, char *buf, size_t cap)
{
    if (v < 0)
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%.2f%%", 100 * v);
    return buf;
}

const char *sdiff__report_ms(double v, char *buf, size_t cap)
{
    if (v < 0)
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%.1f", v);
    return buf;
}

static const char *verdict_line(const struct sdiff_report *r, char *buf, size_t cap)
{
    size_t covered = 0;
    for (size_t i = 0; i < r->nendpoints; i++)
        covered += r->endpoints[i].covered != 0;
    snprintf(buf, cap, "%s: %zu endpoint%s ready, %zu blocked, %zu with insufficient data (%zu"
             " covered by the run's bound)",
             r->verdict == SDIFF_REPORT_PASS   ? "PASS"
             : r->verdict == SDIFF_REPORT_FAIL ? "FAIL"
                                               : "INCONCLUSIVE",
             r->nready, r->nready == 1 ? "" : "s", r->nblocked, r->ninsufficient, covered);
    return buf;
}

/* "accepted: REASON (until DATE)", "waiver expired on DATE: REASON" or "" (waivers). */
static const char *waiver_note(const struct sdiff_report_cluster *c, char *buf, size_t cap)
{
    if (c->expired)
        snprintf(buf, cap, "waiver expired on %s: %s", c->waiver_expires, c->waiver_reason);
    else if (c->waived)
        snprintf(buf, cap, "accepted: %s%s%s%s", c->waiver_reason,
                 c->waiver_expires ? " (until " : "", c->waiver_expires ? c->waiver_expires : "",
                 c->waiver_expires ? ")" : "");
    else
        buf[0] = 0;
    return buf;
}

/* ---- text -------------------------------------------------------------------------------- */

/* s escaped, cut to at most w bytes on a character boundary (for a column). */
static const char *cell(struct sdiff_text_ring *t, const char *s, size_t w)
{
    char *e = (char *)sdiff_text(t, s);
    size_t n = strlen(e);
    if (n > w) {
        while (w > 0 && ((unsigned char)e[w] & 0xc0) == 0x80)
            w--;
        e[w] = '\0';
    }
    return e;
}

static void render_text(const struct sdiff_report *r, int color, FILE *f)
{
    struct sdiff_text_ring T;
    sdiff_text_ring_init(&T);
    const char *green = color ? "\033[32m" : "", *red = color ? "\033[31m" : "",
               *yellow = color ? "\033[33m" : "", *bold = color ? "\033[1m" : "",
               *reset = color ? "\033[0m" : "";
    char a[32], b[32], c[32], d[32], line[300];
    int w = 8;
    for (size_t i = 0; i < r->nendpoints; i++) {
        int n = (int)(strlen(r->endpoints[i].method) + 1 + strlen(r->endpoints[i].route));
        if (n > w)
            w = n;
    }
    if (w > 60)
        w = 60;
    fprintf(f, "%sshadowdiff report: run %lld%s", bold, (long long)r->run_id, reset);
    if (r->run_kind)
        fprintf(f, " (%s)", sdiff_text(&T, r->run_kind));
    if (r->run_name)
        fprintf(f, ", name %s", sdiff_text(&T, r->run_name));
    struct sdiff_buf lb;
    sdiff_buf_init(&lb, 1u << 16);
    if (sdiff__report_labels(r->run_labels_json, &lb))
        fprintf(f, ", labels %s", sdiff_text(&T, (const char *)lb.data));
    sdiff_buf_dispose(&lb);
    if (r->run_candidate)
        fprintf(f, ", candidate %s", sdiff_text(&T, r->run_candidate));
    if (r->run_started_at)
        fprintf(f, ", started %s", sdiff_text(&T, r->run_started_at));
    if (r->run_state && strcmp(r->run_state, "running") == 0)
        fputs(", in progress", f);
    fprintf(f, "\n\n%-*s %8s %8s %9s %10s %10s %7s %8s  %s\n", w, "ENDPOINT", "SAMPLES",
            "PARITY", "MISMATCH", "PRIM p99ms", "CAND p99ms", "ERRORS", "UNJUDGED", "VERDICT");
    for (size_t i = 0; i < r->nendpoints; i++) {
        const struct sdiff_report_endpoint *e = &r->endpoints[i];
        snprintf(line, sizeof line, "%s%s%s", e->method, e->method[0] ? " " : "", e->route);
        const char *col = e->verdict == SDIFF_REPORT_READY     ? green
                          : e->verdict == SDIFF_REPORT_BLOCKED ? red
                                                                : yellow;
        fprintf(f, "%-*s %8llu %8s %9s %10s %10s %7llu %8llu  %s%s%s\n", w,
                cell(&T, line, (size_t)w),
                (unsigned long long)e->samples, sdiff__report_pct(e->parity, a, sizeof a),
                sdiff__report_pct(e->mismatch_upper, b, sizeof b), sdiff__report_ms(e->primary.p99, c, sizeof c),
                sdiff__report_ms(e->candidate.p99, d, sizeof d), (unsigned long long)e->errors,
                (unsigned long long)e->unjudged, col, sdiff_report_verdict_str(e->verdict),
                reset);
        for (size_t k = 0; k < e->nreasons; k++)
            fprintf(f, "%*s  - %s\n", w, "", sdiff_text(&T, e->reasons[k]));
        if (e->covered)
            fprintf(f, "%*s  - covered: no difference, and the run's bound covers it\n", w, "");
        if (!e->latency_judged && e->replayed)
            fprintf(f, "%*s  - p99 latency not judged: %llu latencies per side needed\n", w, "",
                    (unsigned long long)e->latency_needed);
        if (e->accepted)
            fprintf(f, "%*s  - %llu accepted (waived clusters, not in the mismatch bound)\n", w,
                    "", (unsigned long long)e->accepted);
        if (e->both_4xx && e->both_4xx < e->judged)
            fprintf(f, "%*s  - both sides answered 4xx to %llu (%llu different): judged apart\n",
                    w, "", (unsigned long long)e->both_4xx,
                    (unsigned long long)e->both_4xx_different);
    }
    const struct sdiff_report_endpoint *t = &r->totals;
    fprintf(f, "%-*s %8llu %8s %9s %10s %10s %7llu %8llu\n", w, "total",
            (unsigned long long)t->samples, sdiff__report_pct(t->parity, a, sizeof a),
            sdiff__report_pct(t->mismatch_upper, b, sizeof b), "", "", (unsigned long long)t->errors,
            (unsigned long long)t->unjudged);
    fprintf(f, "\nparity = (identical + equivalent) / judged; mismatch = 95%% Wilson upper bound"
               " of the different rate; unjudged = skipped + errors\n");
    if (r->nclusters) {
        fprintf(f, "\n%sdiscrepancy clusters%s (%zu)\n", bold, reset, r->nclusters);
        for (size_t i = 0; i < r->nclusters && i < TEXT_CLUSTERS; i++) {
            const struct sdiff_report_cluster *cl = &r->clusters[i];
            fprintf(f, "%3zu. %llux %s%s%s: %s\n", i + 1, (unsigned long long)cl->count,
                    sdiff_text(&T, cl->method), cl->method[0] ? " " : "", sdiff_text(&T, cl->route),
                    sdiff_text(&T, cl->signature));
            fprintf(f, "     id %s%s%s\n", sdiff_text(&T, cl->id), cl->waived || cl->expired ? ", " : "",
                    sdiff_text(&T, waiver_note(cl, line, sizeof line)));
            fprintf(f, "     first %s, last %s, examples:", sdiff__report_iso_time(cl->first_us, a, sizeof a),
                    sdiff__report_iso_time(cl->last_us, b, sizeof b));
            for (size_t k = 0; k < cl->nexamples; k++)
                fprintf(f, " %lld", (long long)cl->examples[k]);
            fprintf(f, "\n");
            if (cl->sample_path)
                fprintf(f, "     e.g. %s: %s -> %s\n", sdiff_text(&T, cl->sample_path),
                        cl->sample_primary ? sdiff_text(&T, cl->sample_primary) : "(absent)",
                        cl->sample_candidate ? sdiff_text(&T, cl->sample_candidate) : "(absent)");
            if (cl->hint)
                fprintf(f, "     hint: %s\n", sdiff_text(&T, cl->hint));
        }
        if (r->nclusters > TEXT_CLUSTERS)
            fprintf(f, "     ... and %zu more (see --format json)\n",
                    r->nclusters - TEXT_CLUSTERS);
    }
    if (r->nnoise) {
        fprintf(f, "\n%slearned noise%s (%zu): fields the old service varies on, ignored\n", bold,
                reset, r->nnoise);
        for (size_t i = 0; i < r->nnoise && i < TEXT_CLUSTERS; i++) {
            const struct sdiff_report_noise *n = &r->noise[i];
            fprintf(f, "  %s %s", sdiff_text(&T, n->route), sdiff_text(&T, n->key));
            if (n->source)
                fprintf(f, " (%s: %llu pairs, %llu clients, confidence %.2f)",
                        sdiff_text(&T, n->source), (unsigned long long)n->pairs,
                        (unsigned long long)n->clients, n->confidence < 0 ? 0 : n->confidence);
            fputc('\n', f);
        }
        if (r->nnoise > TEXT_CLUSTERS)
            fprintf(f, "  ... and %zu more (see --format json)\n", r->nnoise - TEXT_CLUSTERS);
    }
    if (r->instances) {
        fprintf(f, "\n%sinstances%s (%zu)\n%-8s %-24s %8s %8s %8s %9s %7s %8s %8s\n", bold, reset,
                r->ninstances, "ID", "HOST", "PID", "SAMPLES", "JUDGED", "DIFFERENT", "ERRORS",
                "SKIPPED", "PARITY");
        for (size_t i = 0; i < r->ninstances; i++) {
            const struct sdiff_report_instance *in = &r->instances[i];
            fprintf(f, "%-8.8s %-24s %8lld %8llu %8llu %9llu %7llu %8llu %8s\n",
                    sdiff_text(&T, in->id), in->host ? sdiff_text(&T, in->host) : "-",
                    (long long)in->pid, (unsigned long long)in->samples,
                    (unsigned long long)in->judged, (unsigned long long)in->different,
                    (unsigned long long)in->errors, (unsigned long long)in->skipped,
                    sdiff__report_pct(in->parity, a, sizeof a));
        }
    }
    sdiff__report_cost_text(r, bold, reset, f);
    fprintf(f, "\n%sverdict: %s%s%s\n", bold,
            r->verdict == SDIFF_REPORT_PASS   ? green
            : r->verdict == SDIFF_REPORT_FAIL ? red
                                              : yellow,
            verdict_line(r, line, sizeof line), reset);
    for (size_t i = 0; i < r->nrun_reasons; i++)
        fprintf(f, "  - %s\n", sdiff_text(&T, r->run_reasons[i]));
    sdiff_text_ring_dispose(&T);
}

/* ---- markdown ---------------------------------------------------------------------------- */

/*
 * Inline code span content: no backticks, no newlines, and no pipe at all: a GFM table splits
 * cells at every | not escaped by a backslash, code span or not, so \| would be escaped by
 * the route's own backslash; &#124; has no pipe to split on.
 */
static void md_code(FILE *f, const char *s)
{
    struct sdiff_buf b;
    sdiff_buf_init(&b, 1u << 20);
    if (sdiff_buf_text(&b, s, strlen(s), 0) < 0)
        sdiff_buf_reset(&b);
    fputc('`', f);
    for (const char *p = b.data ? (const char *)b.data : ""; *p; p++) {
        if (*p == '|')
            fputs("&#124;", f);
        else
            fputc(*p == '`' ? '\'' : *p, f);
    }
    fputc('`', f);
    sdiff_buf_dispose(&b);
}

/*
 * Plain text in a GFM table cell (a reason may name a route, which comes from traffic):
 * control bytes escaped as the terminal writer does, then every character markdown or
 * HTML would act on written as an entity or escaped, and no pipe to split the cell on.
 */
static void md_plain(FILE *f, const char *s)
{
    struct sdiff_buf b;
    sdiff_buf_init(&b, 1u << 20);
    if (sdiff_buf_text(&b, s, strlen(s), 0) < 0)
        sdiff_buf_reset(&b);
    for (const char *p = b.data ? (const char *)b.data : ""; *p; p++) {
        switch (*p) {
        case '|': fputs("&#124;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '`': case '*': case '_': case '[': case ']': case '\\': case '#': case '~':
            fputc('\\', f);
            fputc(*p, f);
            break;
        default: fputc(*p, f);
        }
    }
    sdiff_buf_dispose(&b);
}

static void render_markdown(const struct sdiff_report *r, FILE *f)
{
    char a[32], b[32], c[32], d[32], line[300];
    fprintf(f, "### shadowdiff report: run %lld", (long long)r->run_id);
    if (r->run_kind)
        fprintf(f, " (%s)", r->run_kind);
    if (r->run_name) {
        fputs(", name ", f);
        md_code(f, r->run_name);
    }
    struct sdiff_buf lb;
    sdiff_buf_init(&lb, 1u << 16);
    if (sdiff__report_labels(r->run_labels_json, &lb)) {
        fputs(", labels ", f);
        md_code(f, (const char *)lb.data);
    }
    sdiff_buf_dispose(&lb);
    fprintf(f, "\n\n**%s**\n\n", verdict_line(r, line, sizeof line));
    for (size_t i = 0; i < r->nrun_reasons; i++) {
        fputs("- ", f);
        md_code(f, r->run_reasons[i]);
        fputs("\n", f);
    }
    if (r->nrun_reasons)
        fputs("\n", f);
    fprintf(f, "| Endpoint | Samples | Parity | Mismatch bound | p99 primary (ms) |"
               " p99 candidate (ms) | Errors | Unjudged | Verdict |\n"
               "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    for (size_t i = 0; i < r->nendpoints; i++) {
        const struct sdiff_report_endpoint *e = &r->endpoints[i];
        snprintf(line, sizeof line, "%s%s%s", e->method, e->method[0] ? " " : "", e->route);
        fputs("| ", f);
        md_code(f, line);
        fprintf(f, " | %llu | %s | %s | %s | %s | %llu | %llu | %s",
                (unsigned long long)e->samples, sdiff__report_pct(e->parity, a, sizeof a),
                sdiff__report_pct(e->mismatch_upper, b, sizeof b), sdiff__report_ms(e->primary.p99, c, sizeof c),
                sdiff__report_ms(e->candidate.p99, d, sizeof d), (unsigned long long)e->errors,
                (unsigned long long)e->unjudged,
                e->verdict == SDIFF_REPORT_READY     ? ":white_check_mark: ready"
                : e->verdict == SDIFF_REPORT_BLOCKED ? ":x: blocked"
                                                      : ":grey_question: insufficient data");
        for (size_t k = 0; k < e->nreasons; k++) {
            fputs(k ? "; " : ": ", f);
            md_plain(f, e->reasons[k]);
        }
        if (e->covered)
            fputs("; covered", f);
        if (e->accepted)
            fprintf(f, "%s%llu accepted", e->nreasons ? "; " : ": ",
                    (unsigned long long)e->accepted);
        fputs(" |\n", f);
    }
    if (r->nclusters) {
        fprintf(f, "\n#### Discrepancy clusters\n\n");
        for (size_t i = 0; i < r->nclusters && i < TEXT_CLUSTERS; i++) {
            const struct sdiff_report_cluster *cl = &r->clusters[i];
            snprintf(line, sizeof line, "%s%s%s", cl->method, cl->method[0] ? " " : "",
                     cl->route);
            fprintf(f, "%zu. **%llu×** ", i + 1, (unsigned long long)cl->count);
            md_code(f, line);
            fputs(": ", f);
            md_code(f, cl->signature);
            fprintf(f, " (first %s, last %s; examples", sdiff__report_iso_time(cl->first_us, a, sizeof a),
                    sdiff__report_iso_time(cl->last_us, b, sizeof b));
            for (size_t k = 0; k < cl->nexamples; k++)
                fprintf(f, "%s%lld", k ? ", " : " ", (long long)cl->examples[k]);
            fputs(")", f);
            if (cl->sample_path) {
                fputs(" e.g. ", f);
                md_code(f, cl->sample_path);
                fputs(": ", f);
                md_code(f, cl->sample_primary ? cl->sample_primary : "(absent)");
                fputs(" → ", f);
                md_code(f, cl->sample_candidate ? cl->sample_candidate : "(absent)");
            }
            fputs(" id ", f);
            md_code(f, cl->id);
            if (cl->waived || cl->expired) {
                fputs(cl->waived ? " :white_check_mark: " : " :warning: ", f);
                md_code(f, waiver_note(cl, line, sizeof line));
            }
            fputs("\n", f);
        }
        if (r->nclusters > TEXT_CLUSTERS)
            fprintf(f, "\n… and %zu more clusters.\n", r->nclusters - TEXT_CLUSTERS);
    }
    if (r->nnoise) {
        fprintf(f, "\n#### Learned noise (%zu)\n\n| Route | Field | Source | Pairs | Clients |"
                   " Confidence |\n| --- | --- | --- | ---: | ---: | ---: |\n",
                r->nnoise);
        for (size_t i = 0; i < r->nnoise && i < TEXT_CLUSTERS; i++) {
            const struct sdiff_report_noise *n = &r->noise[i];
            fputs("| ", f);
            md_code(f, n->route);
            fputs(" | ", f);
            md_code(f, n->key);
            fputs(" | ", f);
            md_code(f, n->source ? n->source : "-");
            fprintf(f, " | %llu | %llu | %.2f |\n", (unsigned long long)n->pairs,
                    (unsigned long long)n->clients, n->confidence < 0 ? 0 : n->confidence);
        }
    }
    if (r->instances) {
        fprintf(f, "\n#### Instances (%zu)\n\n| Instance | Host | PID | Samples | Judged |"
                   " Different | Errors | Skipped | Parity |\n"
                   "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
                r->ninstances);
        for (size_t i = 0; i < r->ninstances; i++) {
            const struct sdiff_report_instance *in = &r->instances[i];
            char id[9];
            snprintf(id, sizeof id, "%.8s", in->id);
            fputs("| ", f);
            md_code(f, id);
            fputs(" | ", f);
            md_code(f, in->host ? in->host : "-");
            fprintf(f, " | %lld | %llu | %llu | %llu | %llu | %llu | %s |\n", (long long)in->pid,
                    (unsigned long long)in->samples, (unsigned long long)in->judged,
                    (unsigned long long)in->different, (unsigned long long)in->errors,
                    (unsigned long long)in->skipped, sdiff__report_pct(in->parity, a, sizeof a));
        }
    }
    sdiff__report_cost_markdown(r, f);
    fprintf(f, "\nUnjudged = skipped + errors. Mismatch bound = 95%% Wilson upper bound of the"
               " different rate.\n");
}

/* ---- json -------------------------------------------------------------------------------- */

static json_t *num(double v)
{
    return v < 0 ? json_null() : json_real(v);
}

/*
 * A JSON string that is never lost: json_string refuses text that is not UTF-8, which would
 * drop its key; here each byte outside a UTF-8 sequence is written as \xHH instead, as
 * `diff --format json` does.
 */
json_t *sdiff__report_json_text(const char *s)
{
    json_t *v = json_string(s);
    if (v != NULL || s == NULL)
        return v;
    struct sdiff_buf b;
    sdiff_buf_init(&b, SIZE_MAX);
    if (sdiff_buf_text(&b, s, strlen(s), SDIFF_TEXT_UTF8_ONLY) >= 0)
        v = json_string(b.data ? (const char *)b.data : "");
    sdiff_buf_dispose(&b);
    return v;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char *sdiff__report_labels(const char *labels_json, struct sdiff_buf *out)
{
    const char *keys[64];
    size_t n = 0;
    const char *k;
    json_t *v, *obj = labels_json ? json_loads(labels_json, 0, NULL) : NULL;
    sdiff_buf_reset(out);
    if (!json_is_object(obj) || json_object_size(obj) == 0) {
        json_decref(obj);
        return NULL;
    }
    json_object_foreach(obj, k, v) {
        if (n < sizeof keys / sizeof keys[0])
            keys[n++] = k;
    }
    qsort(keys, n, sizeof keys[0], cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        json_t *val = json_object_get(obj, keys[i]);
        rc = sdiff_buf_printf(out, "%s%s=%s", i ? ", " : "", keys[i],
                              json_is_string(val) ? json_string_value(val) : "?");
    }
    json_decref(obj);
    if (rc < 0 || out->data == NULL)
        return NULL;
    return (const char *)out->data;
}

static json_t *str_or_null(const char *s)
{
    return s ? sdiff__report_json_text(s) : json_null();
}

/* The labels as a JSON object of strings (every value through json_text); null when none. */
static json_t *labels_json(const char *text)
{
    json_t *in = text ? json_loads(text, 0, NULL) : NULL, *out = json_object(), *v;
    const char *k;
    if (!json_is_object(in) || json_object_size(in) == 0) {
        json_decref(in);
        json_decref(out);
        return json_null();
    }
    json_object_foreach(in, k, v) {
        json_t *kv = sdiff__report_json_text(k);
        if (json_is_string(kv) && json_is_string(v))
            json_object_set_new(out, json_string_value(kv), sdiff__report_json_text(json_string_value(v)));
        json_decref(kv);
    }
    json_decref(in);
    return out;
}

static json_t *count(uint64_t v)
{
    return json_integer((json_int_t)v);
}

static json_t *latency(const struct sdiff_report_latency *l)
{
    json_t *o = json_object();
    json_object_set_new(o, "n", count(l->n));
    json_object_set_new(o, "p50", num(l->p50));
    json_object_set_new(o, "p95", num(l->p95));
    json_object_set_new(o, "p99", num(l->p99));
    json_object_set_new(o, "p99_lower", num(l->p99_lower));
    json_object_set_new(o, "p99_upper", num(l->p99_upper));
    return o;
}

static void counts(json_t *o, const struct sdiff_report_endpoint *e)
{
    json_object_set_new(o, "samples", count(e->samples));
    json_object_set_new(o, "identical", count(e->identical));
    json_object_set_new(o, "equivalent", count(e->equivalent));
    json_object_set_new(o, "different", count(e->different));
    json_object_set_new(o, "errors", count(e->errors));
    json_object_set_new(o, "skipped", count(e->skipped));
    json_object_set_new(o, "judged", count(e->judged));
    json_object_set_new(o, "unjudged", count(e->unjudged));
    json_object_set_new(o, "parity", num(e->parity));
    json_object_set_new(o, "byte_parity", num(e->byte_parity));
    json_object_set_new(o, "mismatch_upper", num(e->mismatch_upper));
    json_object_set_new(o, "accepted", count(e->accepted));
    /* the stratum judged apart (verdict.h); null when there is none */
    if (e->both_4xx && e->both_4xx < e->judged) {
        json_t *st = json_object();
        json_object_set_new(st, "judged", count(e->both_4xx));
        json_object_set_new(st, "different", count(e->both_4xx_different));
        json_object_set_new(st, "parity", json_real(1.0 - (double)e->both_4xx_different /
                                                              (double)e->both_4xx));
        json_object_set_new(o, "both_4xx", st);
    } else {
        json_object_set_new(o, "both_4xx", json_null());
    }
    /* the stored routes merged into a {param} endpoint, each judged on its own counts */
    if (e->nmembers) {
        json_t *ms = json_array();
        for (size_t i = 0; i < e->nmembers; i++) {
            const struct sdiff_report_endpoint *m = &e->members[i];
            json_t *mo = json_object();
            json_object_set_new(mo, "route", sdiff__report_json_text(m->key));
            json_object_set_new(mo, "samples", count(m->samples));
            json_object_set_new(mo, "judged", count(m->judged));
            json_object_set_new(mo, "different", count(m->different));
            json_object_set_new(mo, "verdict",
                                json_string(e->accepted ? "not judged apart"
                                                        : sdiff_report_verdict_str(m->verdict)));
            json_array_append_new(ms, mo);
        }
        json_object_set_new(o, "members", ms);
    }
}

static json_t *error_rates(const struct sdiff_report_endpoint *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "replayed", count(e->replayed));
    json_object_set_new(o, "primary_5xx", num(e->primary_5xx_rate));
    json_object_set_new(o, "candidate_5xx", num(e->candidate_5xx_rate));
    json_object_set_new(o, "transport", num(e->transport_error_rate));
    json_object_set_new(o, "candidate", num(e->candidate_error_rate));
    return o;
}

static json_t *to_json(const struct sdiff_report *r)
{
    char a[32];
    json_t *root = json_object(), *run = json_object(), *tot = json_object(),
           *eps = json_array(), *cls = json_array(), *th = json_object(),
           *why = json_array();
    json_object_set_new(root, "schema_version", json_integer(SDIFF_REPORT_SCHEMA_VERSION));
    json_object_set_new(root, "verdict", json_string(sdiff_report_run_verdict_str(r->verdict)));
    for (size_t i = 0; i < r->nrun_reasons; i++)
        json_array_append_new(why, sdiff__report_json_text(r->run_reasons[i]));
    json_object_set_new(root, "reasons", why);
    json_object_set_new(run, "id", json_integer((json_int_t)r->run_id));
    json_object_set_new(run, "kind", str_or_null(r->run_kind));
    json_object_set_new(run, "corpus", str_or_null(r->run_corpus));
    json_object_set_new(run, "candidate", str_or_null(r->run_candidate));
    json_object_set_new(run, "primary", str_or_null(r->run_primary));
    json_object_set_new(run, "started_at", str_or_null(r->run_started_at));
    json_object_set_new(run, "finished_at", str_or_null(r->run_finished_at));
    json_object_set_new(run, "name", str_or_null(r->run_name));
    json_object_set_new(run, "labels", labels_json(r->run_labels_json));
    json_object_set_new(run, "state", str_or_null(r->run_state));
    json_object_set_new(root, "run", run);

    counts(tot, &r->totals);
    json_object_set_new(tot, "error_rates", error_rates(&r->totals));
    json_object_set_new(tot, "endpoints", json_integer((json_int_t)r->nendpoints));
    json_object_set_new(tot, "ready", json_integer((json_int_t)r->nready));
    json_object_set_new(tot, "blocked", json_integer((json_int_t)r->nblocked));
    json_object_set_new(tot, "insufficient_data", json_integer((json_int_t)r->ninsufficient));
    json_object_set_new(tot, "mismatch_lower", num(r->mismatch_lower));
    json_object_set_new(tot, "error_increase_lower", json_real(r->error_increase_lower));
    json_object_set_new(tot, "error_increase_upper", json_real(r->error_increase_upper));
    json_object_set_new(root, "totals", tot);

    for (size_t i = 0; i < r->nendpoints; i++) {
        const struct sdiff_report_endpoint *e = &r->endpoints[i];
        json_t *o = json_object(), *lat = json_object(), *reasons = json_array();
        json_object_set_new(o, "method", sdiff__report_json_text(e->method));
        json_object_set_new(o, "route", sdiff__report_json_text(e->route));
        counts(o, e);
        json_object_set_new(lat, "primary", latency(&e->primary));
        json_object_set_new(lat, "candidate", latency(&e->candidate));
        json_object_set_new(lat, "p99_ratio", num(e->p99_ratio));
        json_object_set_new(lat, "judged", json_boolean(e->latency_judged));
        json_object_set_new(lat, "samples_needed", count(e->latency_needed));
        json_object_set_new(o, "latency", lat);
        json_object_set_new(o, "error_rates", error_rates(e));
        json_object_set_new(o, "verdict", sdiff__report_json_text(sdiff_report_verdict_str(e->verdict)));
        for (size_t k = 0; k < e->nreasons; k++)
            json_array_append_new(reasons, sdiff__report_json_text(e->reasons[k]));
        json_object_set_new(o, "reasons", reasons);
        json_object_set_new(o, "covered", json_boolean(e->covered));
        json_object_set_new(o, "samples_needed", count(e->needed));
        json_object_set_new(o, "mismatch_lower", num(e->mismatch_lower));
        json_object_set_new(o, "error_increase_lower", json_real(e->error_increase_lower));
        json_object_set_new(o, "error_increase_upper", json_real(e->error_increase_upper));
        json_array_append_new(eps, o);
    }
    json_object_set_new(root, "endpoints", eps);

    for (size_t i = 0; i < r->nclusters; i++) {
        const struct sdiff_report_cluster *c = &r->clusters[i];
        json_t *o = json_object(), *ex = json_array();
        json_object_set_new(o, "method", sdiff__report_json_text(c->method));
        json_object_set_new(o, "route", sdiff__report_json_text(c->route));
        json_object_set_new(o, "signature", sdiff__report_json_text(c->signature));
        json_object_set_new(o, "count", count(c->count));
        json_object_set_new(o, "first_seen",
                            c->first_us ? sdiff__report_json_text(sdiff__report_iso_time(c->first_us, a, sizeof a))
                                        : json_null());
        json_object_set_new(o, "last_seen",
                            c->last_us ? sdiff__report_json_text(sdiff__report_iso_time(c->last_us, a, sizeof a))
                                       : json_null());
        for (size_t k = 0; k < c->nexamples; k++)
            json_array_append_new(ex, json_integer((json_int_t)c->examples[k]));
        json_object_set_new(o, "examples", ex);
        if (c->sample_path) {
            json_t *s = json_object();
            json_object_set_new(s, "path", sdiff__report_json_text(c->sample_path));
            json_object_set_new(s, "primary", str_or_null(c->sample_primary));
            json_object_set_new(s, "candidate", str_or_null(c->sample_candidate));
            json_object_set_new(o, "sample", s);
        } else {
            json_object_set_new(o, "sample", json_null());
        }
        json_object_set_new(o, "hint", c->hint ? sdiff__report_json_text(c->hint) : json_null());
        json_object_set_new(o, "id", sdiff__report_json_text(c->id));
        json_object_set_new(o, "accepted", json_boolean(c->waived));
        if (c->waived || c->expired) {
            json_t *wv = json_object();
            json_object_set_new(wv, "reason", str_or_null(c->waiver_reason));
            json_object_set_new(wv, "expires", str_or_null(c->waiver_expires));
            json_object_set_new(wv, "expired", json_boolean(c->expired));
            json_object_set_new(o, "waiver", wv);
        } else {
            json_object_set_new(o, "waiver", json_null());
        }
        json_array_append_new(cls, o);
    }
    json_object_set_new(root, "clusters", cls);
    json_object_set_new(th, "min_samples", count(r->thresholds.min_samples));
    json_object_set_new(th, "max_mismatch", json_real(r->thresholds.max_mismatch));
    json_object_set_new(th, "max_p99_ratio", json_real(r->thresholds.max_p99_ratio));
    json_object_set_new(th, "max_error_increase", json_real(r->thresholds.max_error_increase));
    json_object_set_new(root, "thresholds", th);
    json_t *wvs = json_array();
    for (size_t i = 0; i < r->nwaivers; i++) {
        const struct sdiff_report_waiver *wv = &r->waivers[i];
        json_t *o = json_object();
        json_object_set_new(o, "cluster", sdiff__report_json_text(wv->cluster));
        json_object_set_new(o, "route", str_or_null(wv->route));
        json_object_set_new(o, "signature", str_or_null(wv->signature));
        json_object_set_new(o, "reason", str_or_null(wv->reason));
        json_object_set_new(o, "expires", str_or_null(wv->expires));
        json_object_set_new(o, "expired", json_boolean(wv->expired));
        json_object_set_new(o, "source", str_or_null(wv->source));
        json_array_append_new(wvs, o);
    }
    json_object_set_new(root, "waivers", wvs);
    json_t *noise = json_array();
    for (size_t i = 0; i < r->nnoise; i++) {
        const struct sdiff_report_noise *n = &r->noise[i];
        json_t *o = json_object();
        json_object_set_new(o, "route", sdiff__report_json_text(n->route));
        json_object_set_new(o, "path", sdiff__report_json_text(n->key));
        json_object_set_new(o, "source", str_or_null(n->source));
        json_object_set_new(o, "pairs", n->pairs ? count(n->pairs) : json_null());
        json_object_set_new(o, "clients", n->clients ? count(n->clients) : json_null());
        json_t *ex = n->examples_json ? json_loads(n->examples_json, 0, NULL) : NULL;
        json_object_set_new(o, "examples", json_is_array(ex) ? ex : json_array());
        if (ex && !json_is_array(ex))
            json_decref(ex);
        json_object_set_new(o, "confidence", n->confidence >= 0 ? json_real(n->confidence)
                                                                : json_null());
        json_object_set_new(o, "run", n->run_id ? json_integer(n->run_id) : json_null());
        json_array_append_new(noise, o);
    }
    json_object_set_new(root, "noise", noise);
    if (r->plan) {
        json_t *plan = json_array();
        for (size_t i = 0; i < r->nplan; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "route", json_string(r->plan[i].route));
            json_object_set_new(o, "available", count(r->plan[i].available));
            json_object_set_new(o, "planned", count(r->plan[i].planned));
            json_array_append_new(plan, o);
        }
        json_object_set_new(root, "plan", plan);
    }
    if (r->instances) {
        json_t *ins = json_array();
        for (size_t i = 0; i < r->ninstances; i++) {
            const struct sdiff_report_instance *in = &r->instances[i];
            json_t *o = json_object();
            json_object_set_new(o, "id", sdiff__report_json_text(in->id));
            json_object_set_new(o, "host", str_or_null(in->host));
            json_object_set_new(o, "pid", json_integer((json_int_t)in->pid));
            json_object_set_new(o, "side", str_or_null(in->side));
            json_object_set_new(o, "started_at", str_or_null(in->started_at));
            json_object_set_new(o, "stopped_at", str_or_null(in->stopped_at));
            json_object_set_new(o, "samples", count(in->samples));
            json_object_set_new(o, "identical", count(in->identical));
            json_object_set_new(o, "equivalent", count(in->equivalent));
            json_object_set_new(o, "different", count(in->different));
            json_object_set_new(o, "errors", count(in->errors));
            json_object_set_new(o, "skipped", count(in->skipped));
            json_object_set_new(o, "judged", count(in->judged));
            json_object_set_new(o, "parity", num(in->parity));
            json_array_append_new(ins, o);
        }
        json_object_set_new(root, "instances", ins);
    }
    json_object_set_new(root, "cost", sdiff__report_cost_json(r));
    return root;
}

/* ---- junit ------------------------------------------------------------------------------- */

/* Attribute or text content: escaped for a terminal first (sdiff_buf_text), which also keeps
 * it within XML 1.0's character set (no C0 but tab and newline, no U+FFFE/U+FFFF, UTF-8). */
static void xml(FILE *f, const char *text)
{
    struct sdiff_buf b;
    sdiff_buf_init(&b, 1u << 20);
    if (sdiff_buf_text(&b, text, strlen(text), 0) < 0)
        sdiff_buf_reset(&b);
    for (const char *s = b.data ? (const char *)b.data : ""; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        switch (ch) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            fputc(ch, f);
        }
    }
    sdiff_buf_dispose(&b);
}

/*
 * The run's verdict is a test case of its own: a run can fail on the overall bound, or be
 * inconclusive, with no endpoint blocked, and a CI that reads only test cases must see it.
 */
static void junit_run_case(const struct sdiff_report *r, FILE *f)
{
    fputs("    <testcase classname=\"shadowdiff.run\" name=\"run verdict\">\n", f);
    if (r->verdict != SDIFF_REPORT_PASS) {
        fprintf(f, "      <%s message=\"%s", r->verdict == SDIFF_REPORT_FAIL ? "failure" : "skipped",
                sdiff_report_run_verdict_str(r->verdict));
        for (size_t i = 0; i < r->nrun_reasons; i++) {
            fputs(i ? "; " : ": ", f);
            xml(f, r->run_reasons[i]);
        }
        fputs(r->verdict == SDIFF_REPORT_FAIL ? "\" type=\"fail\"/>\n" : "\"/>\n", f);
    }
    fputs("    </testcase>\n", f);
}

static void render_junit(const struct sdiff_report *r, FILE *f)
{
    char name[300], a[32], b[32];
    size_t tests = r->nendpoints + 1;
    size_t failures = r->nblocked + (r->verdict == SDIFF_REPORT_FAIL);
    size_t skipped = r->ninsufficient + (r->verdict == SDIFF_REPORT_INCONCLUSIVE);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites name=\"shadowdiff\" tests=\"%zu\" failures=\"%zu\" skipped=\"%zu\">\n",
            tests, failures, skipped);
    fprintf(f, "  <testsuite name=\"shadowdiff run %lld\" tests=\"%zu\" failures=\"%zu\""
               " errors=\"0\" skipped=\"%zu\">\n",
            (long long)r->run_id, tests, failures, skipped);
    fprintf(f, "    <properties>\n      <property name=\"verdict\" value=\"%s\"/>\n",
            sdiff_report_run_verdict_str(r->verdict));
    for (size_t i = 0; i < r->nrun_reasons; i++) {
        fputs("      <property name=\"reason\" value=\"", f);
        xml(f, r->run_reasons[i]);
        fputs("\"/>\n", f);
    }
    fputs("    </properties>\n", f);
    junit_run_case(r, f);
    for (size_t i = 0; i < r->nendpoints; i++) {
        const struct sdiff_report_endpoint *e = &r->endpoints[i];
        snprintf(name, sizeof name, "%s%s%s", e->method, e->method[0] ? " " : "", e->route);
        fputs("    <testcase classname=\"shadowdiff.parity\" name=\"", f);
        xml(f, name);
        fputs("\">\n", f);
        if (e->verdict == SDIFF_REPORT_BLOCKED) {
            fputs("      <failure message=\"", f);
            for (size_t k = 0; k < e->nreasons; k++) {
                if (k)
                    fputs("; ", f);
                xml(f, e->reasons[k]);
            }
            fprintf(f, "\" type=\"blocked\">samples %llu, judged %llu, different %llu,"
                       " errors %llu, skipped %llu, parity %s, mismatch bound %s</failure>\n",
                    (unsigned long long)e->samples, (unsigned long long)e->judged,
                    (unsigned long long)e->different, (unsigned long long)e->errors,
                    (unsigned long long)e->skipped, sdiff__report_pct(e->parity, a, sizeof a),
                    sdiff__report_pct(e->mismatch_upper, b, sizeof b));
        } else if (e->verdict == SDIFF_REPORT_INSUFFICIENT) {
            fputs("      <skipped message=\"insufficient data", f);
            for (size_t k = 0; k < e->nreasons; k++) {
                fputs(k ? "; " : ": ", f);
                xml(f, e->reasons[k]);
            }
            if (e->covered)
                fputs("; covered by the run's bound", f);
            fputs("\"/>\n", f);
        }
        for (size_t k = 0; k < r->nclusters; k++) {
            const struct sdiff_report_cluster *cl = &r->clusters[k];
            if ((cl->waived || cl->expired) && strcmp(cl->method, e->method) == 0 &&
                strcmp(cl->route, e->route) == 0) {
                fprintf(f, "      <system-out>cluster %s (%llu): ", cl->id,
                        (unsigned long long)cl->count);
                xml(f, waiver_note(cl, name, sizeof name));
                fputs("</system-out>\n", f);
            }
        }
        fputs("    </testcase>\n", f);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
}

int sdiff_report_render(const struct sdiff_report *r, enum sdiff_report_format fmt, int color,
                        FILE *out, struct sdiff_err *err)
{
    if (SDIFF_NEVER(r == NULL || out == NULL))
        return SDIFF_EINVAL;
    switch (fmt) {
    case SDIFF_REPORT_TEXT: render_text(r, color, out); break;
    case SDIFF_REPORT_MARKDOWN: render_markdown(r, out); break;
    case SDIFF_REPORT_JUNIT: render_junit(r, out); break;
    case SDIFF_REPORT_HTML: sdiff__report_render_html(r, out); break;
    case SDIFF_REPORT_JSON: {
        json_t *root = to_json(r);
        if (root == NULL)
            return sdiff_err_set(err, SDIFF_ENOMEM, WHERE, "out of memory");
        char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        json_decref(root);
        int rc = sdiff_write_json_text(out, text);
        free(text);
        if (rc < 0)
            return sdiff_err_set(err, rc == SDIFF_EIO ? SDIFF_EIO : SDIFF_ENOMEM, WHERE,
                                 rc == SDIFF_EIO ? "cannot write the report" : "out of memory");
        break;
    }
    default: return sdiff_err_set(err, SDIFF_EINVAL, WHERE, "unknown format %d", (int)fmt);
    }
    if (fflush(out) != 0 || ferror(out))
        return sdiff_err_set(err, SDIFF_EIO, WHERE, "cannot write the report");
    return SDIFF_OK;
}
