/*
 * cost.c - the report's cost section: what each side's processes used while the run went
 * (cost_samples, written by the run's sampler), per request and per million requests under
 * the run's price model, and whether the two sides served alike enough to be compared.
 *
 * Samples hold differences from the previous sample of the same side and instance, so the
 * first sample of each sequence in the window only marks its start: its CPU and requests
 * happened before it. Memory is integrated over time (trapezoids) for the price of memory.
 */
#include "shadowdiff/report.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "report/report_html.h"
#include "report/report_int.h"

#define MIB (1024.0 * 1024)
#define GIB (1024.0 * 1024 * 1024)

void sdiff__report_cost_model(struct sdiff_report *r, const char *summary_json)
{
    static const struct sdiff_cost_model cloud_run = SDIFF_COST_MODEL_CLOUD_RUN;
    r->cost.model = cloud_run;
    r->cost.priced = 1;
    json_t *j = summary_json ? json_loads(summary_json, 0, NULL) : NULL;
    const char *name = json_string_value(json_object_get(j, "price_model"));
    if (name && strcmp(name, "none") == 0)
        r->cost.priced = 0;
    json_decref(j);
}

struct seq_acc {
    struct sdiff_report_cost_side *side;
    double cpu_s, gib_s, rss_sum;
    uint64_t requests, nrss, peak, t_min, t_max;
    int longest;                   /* rows in the longest sequence */
};

struct cost_ctx {
    struct seq_acc acc[2];         /* primary, candidate */
    int cur;                       /* the sequence being read: its side, -1 none */
    char inst[40];
    int rows;                      /* rows of the current sequence so far */
    uint64_t prev_t, prev_rss;
};

static int on_cost(const struct sdiff_store_cost_sample *s, void *ud, struct sdiff_err *err)
{
    struct cost_ctx *c = ud;
    (void)err;
    int side = strcmp(s->target, "primary") == 0     ? 0
               : strcmp(s->target, "candidate") == 0 ? 1
                                                      : -1;
    if (side < 0)
        return SDIFF_OK;
    const char *inst = s->instance_id ? s->instance_id : "";
    if (side != c->cur || strncmp(inst, c->inst, sizeof c->inst - 1) != 0) {
        c->cur = side;
        snprintf(c->inst, sizeof c->inst, "%s", inst);
        c->rows = 0;
    }
    struct seq_acc *a = &c->acc[side];
    if (c->rows > 0) {
        /* what happened since the previous sample of this sequence */
        a->cpu_s += s->cpu_ms > 0 ? s->cpu_ms / 1000 : 0;
        a->requests += s->requests;
        if (s->t_us > c->prev_t)
            a->gib_s += ((double)s->rss_bytes + (double)c->prev_rss) / 2 / GIB *
                        (double)(s->t_us - c->prev_t) / 1e6;
    }
    c->rows++;
    if (c->rows > a->longest)
        a->longest = c->rows;
    c->prev_t = s->t_us;
    c->prev_rss = s->rss_bytes;
    a->rss_sum += (double)s->rss_bytes;
    a->nrss++;
    if (s->rss_bytes > a->peak)
        a->peak = s->rss_bytes;
    if (a->t_min == 0 || s->t_us < a->t_min)
        a->t_min = s->t_us;
    if (s->t_us > a->t_max)
        a->t_max = s->t_us;
    a->side->samples++;
    return SDIFF_OK;
}

static void finish_side(const struct sdiff_report *r, const struct seq_acc *a)
{
    struct sdiff_report_cost_side *s = a->side;
    s->present = a->longest >= 2;
    if (!s->present)
        return;
    s->requests = a->requests;
    s->window_s = (double)(a->t_max - a->t_min) / 1e6;
    s->cpu_ms_per_request = a->requests ? a->cpu_s * 1000 / (double)a->requests : -1;
    s->rss_mib_mean = a->rss_sum / (double)a->nrss / MIB;
    s->rss_mib_peak = (double)a->peak / MIB;
    s->cpu_s = a->cpu_s;
    s->gib_s = a->gib_s;
    s->cost_per_million =
        r->cost.priced ? sdiff_cost_per_million(&r->cost.model, a->cpu_s, a->gib_s, a->requests)
                       : -1;
}

static double cost_ratio(double cand, double prim)
{
    return cand >= 0 && prim > 0 ? cand / prim : -1;
}

int sdiff__report_load_cost(const struct sdiff__report_source *src, struct sdiff_report *r,
                            struct sdiff_err *err)
{
    struct sdiff_report_cost *k = &r->cost;
    k->ratio_cpu_ms_per_request = k->ratio_rss_mib_mean = k->ratio_cost_per_million = -1;
    k->mix_distance = -1;
    if (src->each_cost_sample == NULL)
        return SDIFF_OK;
    struct cost_ctx c = {.cur = -1};
    c.acc[0].side = &k->primary;
    c.acc[1].side = &k->candidate;
    int rc = src->each_cost_sample(src->src, r->run_id, r->thresholds.since_us, on_cost, &c, err);
    if (rc < 0)
        return rc;
    finish_side(r, &c.acc[0]);
    finish_side(r, &c.acc[1]);
    /* replay without a live --primary: the primary served nothing of this run */
    int live_primary = !(r->run_kind && strcmp(r->run_kind, "replay") == 0 && !r->run_primary);
    if (!live_primary)
        memset(&k->primary, 0, sizeof k->primary);
    k->present = k->primary.present || k->candidate.present;
    if (!k->primary.present || !k->candidate.present)
        return SDIFF_OK;
    k->ratio_cpu_ms_per_request =
        cost_ratio(k->candidate.cpu_ms_per_request, k->primary.cpu_ms_per_request);
    k->ratio_rss_mib_mean = cost_ratio(k->candidate.rss_mib_mean, k->primary.rss_mib_mean);
    k->ratio_cost_per_million =
        cost_ratio(k->candidate.cost_per_million, k->primary.cost_per_million);
    /* The route mixes: the candidate answered the replays; the primary the same replays
     * (replay, gate: a live primary) or everything captured (mirror, skipped ones too). */
    int mirror = r->run_kind && strcmp(r->run_kind, "mirror") == 0;
    double np = 0, nc = 0;
    for (size_t i = 0; i < r->nendpoints; i++) {
        const struct sdiff_report_endpoint *e = &r->endpoints[i];
        np += (double)(mirror ? e->samples : e->replayed);
        nc += (double)e->replayed;
    }
    if (np > 0 && nc > 0) {
        double d = 0;
        for (size_t i = 0; i < r->nendpoints; i++) {
            const struct sdiff_report_endpoint *e = &r->endpoints[i];
            d += fabs((double)(mirror ? e->samples : e->replayed) / np -
                      (double)e->replayed / nc);
        }
        k->mix_distance = d / 2;
    }
    k->comparable = k->mix_distance >= 0 && k->mix_distance <= SDIFF_REPORT_COST_MIX_MAX;
    return SDIFF_OK;
}

void sdiff_report_set_price_model(struct sdiff_report *r, const struct sdiff_cost_model *model)
{
    struct sdiff_report_cost *k = &r->cost;
    k->priced = model != NULL;
    if (model)
        k->model = *model;
    struct sdiff_report_cost_side *sides[2] = {&k->primary, &k->candidate};
    for (int i = 0; i < 2; i++)
        sides[i]->cost_per_million =
            model && sides[i]->present
                ? sdiff_cost_per_million(model, sides[i]->cpu_s, sides[i]->gib_s,
                                         sides[i]->requests)
                : -1;
    k->ratio_cost_per_million =
        k->primary.present && k->candidate.present
            ? cost_ratio(k->candidate.cost_per_million, k->primary.cost_per_million)
            : -1;
}

/* ---- the formats --------------------------------------------------------------------------- */

static json_t *num(double v)
{
    return v < 0 ? json_null() : json_real(v);
}

static json_t *side_json(const struct sdiff_report_cost_side *s)
{
    if (!s->present)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "cpu_ms_per_request", num(s->cpu_ms_per_request));
    json_object_set_new(o, "rss_mib_mean", num(s->rss_mib_mean));
    json_object_set_new(o, "rss_mib_peak", num(s->rss_mib_peak));
    json_object_set_new(o, "requests", json_integer((json_int_t)s->requests));
    json_object_set_new(o, "cost_per_million", num(s->cost_per_million));
    json_object_set_new(o, "samples", json_integer((json_int_t)s->samples));
    json_object_set_new(o, "window_s", json_real(s->window_s));
    return o;
}

json_t *sdiff__report_cost_json(const struct sdiff_report *r)
{
    const struct sdiff_report_cost *k = &r->cost;
    if (!k->present)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "primary", side_json(&k->primary));
    json_object_set_new(o, "candidate", side_json(&k->candidate));
    json_t *ratio = json_object();
    json_object_set_new(ratio, "cpu_ms_per_request", num(k->ratio_cpu_ms_per_request));
    json_object_set_new(ratio, "rss_mib_mean", num(k->ratio_rss_mib_mean));
    json_object_set_new(ratio, "cost_per_million", num(k->ratio_cost_per_million));
    json_object_set_new(o, "ratio", ratio);
    json_object_set_new(o, "comparable", json_boolean(k->comparable));
    json_object_set_new(o, "route_mix_distance", num(k->mix_distance));
    json_object_set_new(o, "route_mix_max", json_real(SDIFF_REPORT_COST_MIX_MAX));
    json_t *m = json_object();
    json_object_set_new(m, "name", json_string(k->priced ? "cloud-run" : "none"));
    json_object_set_new(m, "source", k->priced ? json_string(k->model.source) : json_null());
    json_object_set_new(m, "read_on", k->priced ? json_string(k->model.read_on) : json_null());
    if (k->priced) {
        json_object_set_new(m, "usd_per_vcpu_second", json_real(k->model.usd_per_vcpu_second));
        json_object_set_new(m, "usd_per_gib_second", json_real(k->model.usd_per_gib_second));
        json_object_set_new(m, "usd_per_million_requests",
                            json_real(k->model.usd_per_million_requests));
    }
    json_object_set_new(o, "model", m);
    return o;
}

/* v with `decimals` digits after the point, and an "x" after a ratio; "-" when unknown */
static const char *fmt(double v, int decimals, int times, char *buf, size_t cap)
{
    if (v < 0)
        return "-";
    snprintf(buf, cap, "%.*f%s", decimals, v, times ? "x" : "");
    return buf;
}

/* The rows every format shows: side, CPU ms/request, RSS mean, peak, requests, USD/1M. */
struct row {
    const char *name;
    char cpu[32], mean[32], peak[32], req[32], usd[32];
};

static void rows(const struct sdiff_report *r, struct row out[3])
{
    const struct sdiff_report_cost *k = &r->cost;
    const struct sdiff_report_cost_side *sides[2] = {&k->primary, &k->candidate};
    static const char *const names[2] = {"primary", "candidate"};
    char b[32];
    for (int i = 0; i < 2; i++) {
        const struct sdiff_report_cost_side *s = sides[i];
        struct row *w = &out[i];
        w->name = names[i];
        snprintf(w->cpu, sizeof w->cpu, "%s", s->present ? fmt(s->cpu_ms_per_request, 3, 0, b, sizeof b) : "-");
        snprintf(w->mean, sizeof w->mean, "%s", s->present ? fmt(s->rss_mib_mean, 1, 0, b, sizeof b) : "-");
        snprintf(w->peak, sizeof w->peak, "%s", s->present ? fmt(s->rss_mib_peak, 1, 0, b, sizeof b) : "-");
        if (s->present)
            snprintf(w->req, sizeof w->req, "%llu", (unsigned long long)s->requests);
        else
            snprintf(w->req, sizeof w->req, "-");
        snprintf(w->usd, sizeof w->usd, "%s", s->present ? fmt(s->cost_per_million, 4, 0, b, sizeof b) : "-");
    }
    struct row *w = &out[2];
    w->name = "ratio";
    snprintf(w->cpu, sizeof w->cpu, "%s", fmt(k->ratio_cpu_ms_per_request, 2, 1, b, sizeof b));
    snprintf(w->mean, sizeof w->mean, "%s", fmt(k->ratio_rss_mib_mean, 2, 1, b, sizeof b));
    snprintf(w->peak, sizeof w->peak, "-");
    snprintf(w->req, sizeof w->req, "-");
    snprintf(w->usd, sizeof w->usd, "%s", fmt(k->ratio_cost_per_million, 2, 1, b, sizeof b));
}

/* "comparable" / "not comparable: route mixes differ by 23% (more than 10%)" / why unknown */
static const char *comparable_line(const struct sdiff_report *r, char *buf, size_t cap)
{
    const struct sdiff_report_cost *k = &r->cost;
    if (r->run_kind && strcmp(r->run_kind, "replay") == 0 && !r->run_primary)
        snprintf(buf, cap, "no ratio: a replay without a live --primary has no primary cost");
    else if (!k->primary.present || !k->candidate.present)
        snprintf(buf, cap, "no ratio: %s was not sampled",
                 k->primary.present ? "the candidate" : "the primary (live)");
    else if (k->mix_distance < 0)
        snprintf(buf, cap, "not comparable: no requests to compare the route mixes on");
    else if (k->comparable)
        snprintf(buf, cap, "comparable: route mixes differ by %.1f%% (at most %.0f%%)",
                 k->mix_distance * 100, SDIFF_REPORT_COST_MIX_MAX * 100);
    else
        snprintf(buf, cap, "not comparable: route mixes differ by %.1f%% (more than %.0f%%)",
                 k->mix_distance * 100, SDIFF_REPORT_COST_MIX_MAX * 100);
    return buf;
}

static const char *model_line(const struct sdiff_report_cost *k, char *buf, size_t cap)
{
    if (!k->priced)
        snprintf(buf, cap, "no price model (--price-model none)");
    else
        snprintf(buf, cap,
                 "estimate from CPU used, not how Cloud Run bills: %s, read %s (%g USD/vCPU-s,"
                 " %g USD/GiB-s, %g USD/1M requests)",
                 k->model.source, k->model.read_on, k->model.usd_per_vcpu_second,
                 k->model.usd_per_gib_second, k->model.usd_per_million_requests);
    return buf;
}

void sdiff__report_cost_text(const struct sdiff_report *r, const char *bold, const char *reset,
                             FILE *f)
{
    if (!r->cost.present)
        return;
    struct row w[3];
    char line[400];
    rows(r, w);
    fprintf(f, "\n%scost per request%s\n%-10s %12s %13s %9s %9s %12s\n", bold, reset, "SIDE",
            "CPU MS/REQ", "RSS MIB MEAN", "PEAK", "REQUESTS", "USD PER 1M");
    for (int i = 0; i < 3; i++)
        fprintf(f, "%-10s %12s %13s %9s %9s %12s\n", w[i].name, w[i].cpu, w[i].mean, w[i].peak,
                w[i].req, w[i].usd);
    fprintf(f, "  %s\n", comparable_line(r, line, sizeof line));
    fprintf(f, "  %s\n", model_line(&r->cost, line, sizeof line));
}

void sdiff__report_cost_markdown(const struct sdiff_report *r, FILE *f)
{
    if (!r->cost.present)
        return;
    struct row w[3];
    char line[400];
    rows(r, w);
    fputs("\n#### Cost per request\n\n| Side | CPU ms/request | RSS MiB mean | RSS MiB peak |"
          " Requests | USD per 1M |\n| --- | ---: | ---: | ---: | ---: | ---: |\n",
          f);
    for (int i = 0; i < 3; i++)
        fprintf(f, "| %s | %s | %s | %s | %s | %s |\n", w[i].name, w[i].cpu, w[i].mean,
                w[i].peak, w[i].req, w[i].usd);
    fprintf(f, "\n%s. The cost is an %s.\n", comparable_line(r, line, sizeof line),
            model_line(&r->cost, line + 200, 200));
}

void sdiff__report_cost_html(const struct sdiff_report *r, FILE *f)
{
    if (!r->cost.present)
        return;
    struct row w[3];
    char line[400];
    rows(r, w);
    fputs("<h2>Cost per request</h2>\n<table id=\"cost\">\n<thead><tr><th>Side</th>"
          "<th class=\"n\">CPU ms/request</th><th class=\"n\">RSS MiB mean</th>"
          "<th class=\"n\">RSS MiB peak</th><th class=\"n\">Requests</th>"
          "<th class=\"n\">USD per 1M</th></tr></thead>\n<tbody>\n",
          f);
    /* every cell is a number or "-" made here: nothing from traffic to escape */
    for (int i = 0; i < 3; i++)
        fprintf(f,
                "<tr><td>%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td>"
                "<td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td></tr>\n",
                w[i].name, w[i].cpu, w[i].mean, w[i].peak, w[i].req, w[i].usd);
    fprintf(f, "</tbody>\n</table>\n<p class=\"note\">%s.", comparable_line(r, line,
                                                                          sizeof line));
    fprintf(f, " The cost is an %s.</p>\n", model_line(&r->cost, line, sizeof line));
}
