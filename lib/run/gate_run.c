/*
 * gate_run.c - `shadowdiff gate`: a stratified, seeded sample of a corpus through a judge.
 *
 * Two passes over the corpus: the first notes each replayable exchange's route and a hash
 * of (seed, id); the second feeds the chosen ones to the judge. Only ids, hashes and route
 * indexes are kept between the passes, so memory is small whatever the corpus.
 */
#include "shadowdiff/run.h"

#include <stdlib.h>
#include <string.h>

#include "run/cost_int.h"
#include "run/judge_int.h"
#include "run/run_int.h"
#include "shadowdiff/route.h"

struct cand {
    uint64_t id;
    uint64_t rank;   /* hash of (seed, id): the order of choice inside a route */
    uint32_t route;  /* index into the route table */
};

struct scan {
    const struct sdiff_gate_opts *o;
    struct sdiff_gate_stats *st;
    struct cand *v;
    size_t n, cap;
    char **routes;
    size_t nroutes, routes_cap;
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static int route_index(struct scan *s, const char *route, uint32_t *out)
{
    /* routes are few (tens to hundreds): a linear scan is fine for a one-off pass */
    for (size_t i = 0; i < s->nroutes; i++)
        if (strcmp(s->routes[i], route) == 0) {
            *out = (uint32_t)i;
            return SDIFF_OK;
        }
    if (s->nroutes == s->routes_cap) {
        size_t cap = s->routes_cap ? s->routes_cap * 2 : 64;
        char **r = sdiff_realloc(s->routes, cap * sizeof *r);
        if (r == NULL)
            return SDIFF_ENOMEM;
        s->routes = r;
        s->routes_cap = cap;
    }
    s->routes[s->nroutes] = sdiff_strdup(route);
    if (s->routes[s->nroutes] == NULL)
        return SDIFF_ENOMEM;
    *out = (uint32_t)s->nroutes++;
    return SDIFF_OK;
}

static int scan_one(struct sdiff_exchange *ex, void *ud, struct sdiff_err *err)
{
    struct scan *s = ud;
    const struct sdiff_judge_opts *j = &s->o->judge;
    int rc = SDIFF_OK;
    s->st->corpus++;
    if (ex->state == SDIFF_EX_COMPLETE && ex->req.present && ex->resp.present) {
        struct sdiff_buf rb;
        sdiff_buf_init(&rb, 255);
        sdiff_routes_route(j->routes, ex->req.method, ex->req.target, &rb);
        const char *route = rb.data ? (const char *)rb.data : "?";
        char why[200];
        if (sdiff_rules_method_allowed(j->rules, route, ex->req.method, j->allow_methods,
                                       j->nallow) &&
            !sdiff__judge_override_blocked(j->rules, route, &ex->req, j->allow_methods,
                                           j->nallow, why, sizeof why)) {
            uint32_t ri = 0;
            rc = route_index(s, route, &ri);
            if (rc >= 0 && s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 1024;
                struct cand *v = sdiff_realloc(s->v, cap * sizeof *v);
                if (v == NULL)
                    rc = SDIFF_ENOMEM;
                else {
                    s->v = v;
                    s->cap = cap;
                }
            }
            if (rc >= 0) {
                s->v[s->n].id = ex->id;
                s->v[s->n].rank = mix(s->o->seed * 0x9e3779b97f4a7c15ull ^ mix(ex->id));
                s->v[s->n].route = ri;
                s->n++;
                s->st->eligible++;
            }
        }
        sdiff_buf_dispose(&rb);
    }
    sdiff_exchange_free(ex);
    return rc < 0 ? sdiff_err_set(err, rc, "gate", "out of memory sampling the corpus") : rc;
}

static int by_route_rank(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->route != y->route)
        return x->route < y->route ? -1 : 1;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int by_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * The plan, under a hard cap of want: one exchange for each route (the busiest first when
 * there are more routes than want); then each route raised to min(available, min_samples),
 * busiest first, so as many endpoints as possible reach the floor a verdict needs; then what
 * is left shared in proportion to the traffic still unsampled (largest remainders). order[]
 * lists the routes busiest first (ties by name), so the plan depends only on the corpus.
 */
static void allocate(const size_t *count, const size_t *order, size_t nroutes, size_t want,
                     uint64_t min_samples, size_t *take)
{
    size_t given = 0;
    for (size_t i = 0; i < nroutes; i++) {
        size_t r = order[i];
        take[r] = count[r] > 0 && given < want ? 1 : 0;
        given += take[r];
    }
    for (size_t i = 0; i < nroutes && given < want; i++) {
        size_t r = order[i];
        size_t floor_r = count[r] < min_samples ? count[r] : (size_t)min_samples;
        if (take[r] == 0 || take[r] >= floor_r)
            continue;
        size_t add = floor_r - take[r];
        if (add > want - given)
            add = want - given;
        take[r] += add;
        given += add;
    }
    size_t remaining = 0;
    for (size_t r = 0; r < nroutes; r++)
        remaining += count[r] - take[r];
    if (given >= want || remaining == 0)
        return;
    size_t left = want - given < remaining ? want - given : remaining;
    /* shares by the floor of left * room / remaining, then one each by largest remainder */
    double *rem = sdiff_calloc(nroutes + 1, sizeof *rem);
    size_t handed = 0;
    for (size_t r = 0; r < nroutes; r++) {
        size_t room = count[r] - take[r];
        double exact = (double)left * (double)room / (double)remaining;
        size_t share = (size_t)exact;
        if (share > room)
            share = room;
        take[r] += share;
        handed += share;
        if (rem)
            rem[r] = count[r] > take[r] ? exact - (double)share : -1;
    }
    while (handed < left) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < nroutes; i++) {
            size_t r = order[i];
            if (count[r] <= take[r])
                continue;
            if (best == SIZE_MAX || (rem && rem[r] > rem[best]))
                best = r;
        }
        if (best == SIZE_MAX)
            break;
        take[best]++;
        handed++;
        if (rem)
            rem[best] = -1;
    }
    sdiff_free(rem);
}

struct ranked {
    size_t idx, count;
    const char *route;
};

static int by_traffic(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->route, y->route);
}

void sdiff_gate_stats_dispose(struct sdiff_gate_stats *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->nplan; i++)
        sdiff_free(st->plan[i].route);
    sdiff_free(st->plan);
    st->plan = NULL;
    st->nplan = 0;
}

struct feed {
    struct sdiff_judge *judge;
    const uint64_t *ids;
    size_t nids;
    volatile sig_atomic_t *stop;
    size_t cap;
    struct sdiff__ticker *tk;
};

static int feed_one(struct sdiff_exchange *ex, void *ud, struct sdiff_err *err)
{
    struct feed *f = ud;
    if (bsearch(&ex->id, f->ids, f->nids, sizeof *f->ids, by_id) == NULL) {
        sdiff_exchange_free(ex);
        return SDIFF_OK;
    }
    int rc = sdiff_judge_submit(f->judge, ex, f->stop && *f->stop, ex->t_req_start, err);
    f->tk->submitted++;
    while (rc >= 0 && sdiff_judge_inflight(f->judge) >= f->cap) {
        rc = sdiff_judge_poll(f->judge, 100, err);
        sdiff__ticker_tick(f->tk, sdiff_judge_inflight(f->judge), 0);
    }
    return rc;
}

int sdiff_run_gate(const struct sdiff_gate_opts *o, volatile sig_atomic_t *stop,
                   struct sdiff_gate_stats *st, struct sdiff_err *err)
{
    struct sdiff_store *corpus = NULL, *db = NULL;
    struct sdiff_rules *own_rules = NULL;
    struct sdiff_judge *judge = NULL;
    struct sdiff__cost *cost = NULL;
    struct sdiff_judge_opts jo = o->judge;
    struct scan s = {.o = o, .st = st};
    size_t *count = NULL, *take = NULL, *order = NULL;
    uint64_t *ids = NULL;
    struct sdiff__ticker tk = {0};
    int rc;

    memset(st, 0, sizeof *st);
    if (jo.primary == NULL)
        return sdiff_err_set(err, SDIFF_EINVAL, "gate", "--primary URL is required");
    if (jo.rules == NULL) {
        rc = sdiff_rules_load(&own_rules, NULL, err);
        if (rc < 0)
            goto out;
        jo.rules = own_rules;
    }
    struct sdiff_gate_opts local = *o;
    local.judge = jo;
    s.o = &local;
    struct sdiff_store_opts copts = o->store;
    copts.must_exist = 1;
    rc = sdiff_store_open(&corpus, o->corpus, &copts, err);
    if (rc >= 0)
        rc = sdiff_store_each_exchange(corpus, scan_one, &s, err);
    if (rc < 0)
        goto out;
    st->routes = s.nroutes;

    size_t want = o->sample ? o->sample : 1000;
    count = sdiff_calloc(s.nroutes + 1, sizeof *count);
    take = sdiff_calloc(s.nroutes + 1, sizeof *take);
    ids = sdiff_calloc(want + 1, sizeof *ids);
    if (count == NULL || take == NULL || ids == NULL) {
        rc = sdiff_err_set(err, SDIFF_ENOMEM, "gate", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < s.n; i++)
        count[s.v[i].route]++;
    order = sdiff_calloc(s.nroutes + 1, sizeof *order);
    st->plan = sdiff_calloc(s.nroutes + 1, sizeof *st->plan);
    if (order == NULL || st->plan == NULL) {
        rc = sdiff_err_set(err, SDIFF_ENOMEM, "gate", "out of memory");
        goto out;
    }
    struct ranked *rk = sdiff_calloc(s.nroutes + 1, sizeof *rk);
    if (rk == NULL) {
        rc = sdiff_err_set(err, SDIFF_ENOMEM, "gate", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < s.nroutes; i++)
        rk[i] = (struct ranked){i, count[i], s.routes[i]};
    qsort(rk, s.nroutes, sizeof *rk, by_traffic);
    for (size_t i = 0; i < s.nroutes; i++)
        order[i] = rk[i].idx;
    sdiff_free(rk);
    allocate(count, order, s.nroutes, want, o->min_samples ? o->min_samples : 30, take);
    for (size_t i = 0; i < s.nroutes; i++) {
        size_t r = order[i];
        st->plan[i].route = sdiff_strdup(s.routes[r]);
        if (st->plan[i].route == NULL) {
            rc = sdiff_err_set(err, SDIFF_ENOMEM, "gate", "out of memory");
            goto out;
        }
        st->plan[i].available = count[r];
        st->plan[i].planned = take[r];
        st->nplan++;
    }
    if (s.n > 0)
        qsort(s.v, s.n, sizeof *s.v, by_route_rank);
    /* s.v is grouped by route and ranked inside: take the first take[route] of each group */
    for (size_t i = 0, k = 0; i < s.n; i++) {
        k = i > 0 && s.v[i].route == s.v[i - 1].route ? k + 1 : 0;
        if (k < take[s.v[i].route] && st->sampled < want)
            ids[st->sampled++] = s.v[i].id;
    }
    if (st->sampled > 0)
        qsort(ids, st->sampled, sizeof *ids, by_id);

    jo.copy_exchanges = 1;
    jo.threaded = 1; /* db belongs to the judge's writer until sdiff_judge_finish */
    jo.noise_from = corpus;
    jo.no_learned_noise = o->no_learned_noise;
    rc = sdiff_store_open(&db, o->db, &o->store, err);
    if (rc < 0)
        goto out;
    jo.db = db;
    char marker_line[SDIFF_REPLAY_MARKER_MAX];
    const char *marker_token = NULL;
    rc = sdiff__run_marker(&jo, marker_line, &marker_token, err);
    if (rc < 0)
        goto out;
    struct sdiff_run_info info = {.kind = "gate", .corpus = o->corpus, .candidate = jo.candidate,
                                  .secondary = jo.secondary, .primary = jo.primary,
                                  .config = o->config_path,
                                  .marker = marker_token, .name = o->run_name,
                                  .labels_json = o->labels_json};
    rc = sdiff_store_begin_run(db, &info, &st->judge.run_id, err);
    if (rc >= 0)
        rc = sdiff_store_begin_capture(db, o->corpus, "gate (sampled corpus)", NULL, err);
    if (rc >= 0)
        rc = sdiff_store_commit(db, err);
    /* before the judge is made: the sampler counts the answers through jo's on_result */
    if (rc >= 0)
        rc = sdiff__cost_start(&cost, &o->cost, o->db, &o->store, st->judge.run_id,
                               sdiff_store_instance_id(db), 1, &jo, err);
    if (rc >= 0) {
        sdiff__ticker_start(&tk, o->progress, o->progress_ud, o->progress_s, st->sampled, &jo);
        rc = sdiff_judge_new(&judge, &jo, &st->judge, err);
    }
    if (rc < 0)
        goto out;
    struct feed f = {.judge = judge, .ids = ids, .nids = st->sampled, .stop = stop,
                     .cap = (jo.replay.concurrency ? jo.replay.concurrency : 16) * 2,
                     .tk = &tk};
    rc = sdiff_store_each_exchange(corpus, feed_one, &f, err);
    while (rc >= 0 && sdiff_judge_inflight(judge) > 0) {
        if (stop && *stop) {
            rc = sdiff_judge_abandon(judge, "gate stopped before the answer", err);
            break;
        }
        rc = sdiff_judge_poll(judge, 100, err);
        sdiff__ticker_tick(&tk, sdiff_judge_inflight(judge), 0);
    }
    int frc = sdiff_judge_finish(judge, rc >= 0 ? err : &(struct sdiff_err){0});
    if (rc >= 0)
        rc = frc;
    /* the writer's last batch may still be open: the end's sample must not wait on it
     * (a failure here is the run's end's to report) */
    if (cost && db)
        sdiff_store_commit(db, &(struct sdiff_err){0});
    st->judge.cost_samples = sdiff__cost_stop(cost); /* the end's sample, every answer in */
    cost = NULL;
    if (rc >= 0)
        sdiff__ticker_tick(&tk, 0, 1);
out:
    sdiff_judge_free(judge);
    sdiff__cost_stop(cost);
    if (o->cost.price_model)
        snprintf(st->judge.price_model, sizeof st->judge.price_model, "%s", o->cost.price_model);
    /* every begun run ends, failed ones too: a run left running would stay the default */
    if (db && st->judge.run_id > 0) {
        struct sdiff_err serr = {0};
        int erc = sdiff__run_finish(db, rc, stop && *stop, 0, &st->judge, &serr);
        if (rc >= 0 && erc < 0)
            rc = sdiff_err_set(err, erc, serr.where, "%s", serr.msg);
    }
    sdiff_store_close(db);
    sdiff_store_close(corpus);
    sdiff_rules_free(own_rules);
    for (size_t i = 0; i < s.nroutes; i++)
        sdiff_free(s.routes[i]);
    sdiff_free(s.routes);
    sdiff_free(s.v);
    sdiff_free(count);
    sdiff_free(take);
    sdiff_free(order);
    sdiff_free(ids);
    return rc;
}
