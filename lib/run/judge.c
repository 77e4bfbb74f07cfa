/*
 * judge.c - replay -> diff -> store for one exchange at a time.
 *
 * An exchange is finished when every target has answered (or failed): noise is learned from
 * the secondary first, then the candidate is compared and the result stored. Nothing here
 * blocks; the caller decides how many may be in flight.
 */
#include "shadowdiff/run.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "run/judge_int.h"
#include "run/queue_int.h"
#include "run/run_int.h"
#include "shadowdiff/diff.h"
#include "shadowdiff/route.h"

enum { T_CANDIDATE = 0, T_SECONDARY, T_PRIMARY, T__COUNT };

struct pending {
    struct pending *prev, *next;   /* in flight, so free can release what never finished */
    struct sdiff_exchange *ex;
    char route[256];
    struct sdiff_replay_result *res[T__COUNT];
    int waiting;
    int skipped;                   /* not replayed: stored as skipped with why */
    char why[200];
};

/* Per-route token bucket for the route cap: small open-addressing table. */
struct bucket {
    uint64_t hash;
    double tokens;
    uint64_t last_us;
};

struct sdiff_judge {
    struct sdiff_judge_opts o;
    struct sdiff_replay_run_stats *st;
    struct sdiff_noise *noise;
    struct sdiff_replay *replay;
    size_t target_index[T__COUNT]; /* index in the replay engine, or SIZE_MAX */
    atomic_int rc;                 /* first fatal error of a callback or of the worker */
    struct sdiff_err err;          /* its message; written by the thread that stores */
    int worker_on;                 /* finished exchanges go to the worker thread */
    struct sdiff_queue done;       /* pending records for the worker, in order */
    pthread_t worker;
    size_t inflight;
    struct pending *head;
    uint64_t identical_seen;
    struct bucket *buckets;
    size_t nbuckets;               /* power of two */
    struct bucket overflow;        /* shared by routes that find every slot busy */
    struct sdiff_redact_key sample_key; /* keys the --sample hash */
};

static int load_noise(const char *route, const char *key, void *ud)
{
    return sdiff_noise_add(ud, route, key) < 0 ? SDIFF_ENOMEM : 0;
}

/* New noise is stored as soon as it is learned, so a crash does not forget it. */
static int save_noise(const char *route, const char *key, void *ud)
{
    struct sdiff_judge *j = ud;
    return sdiff_store_save_noise(j->o.db, route, key, j->st->run_id, &j->err);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

int sdiff_judge_sampled(const struct sdiff_redact_key *key, const struct sdiff_exchange *ex,
                        double rate)
{
    if (rate <= 0 || rate >= 1)
        return 1;
    const char *m = ex->req.method ? ex->req.method : "", *t = ex->req.target ? ex->req.target : "";
    struct sdiff_slice parts[3] = {
        {(const uint8_t *)m, strlen(m)},
        {(const uint8_t *)t, strlen(t)},
        {ex->req.body, ex->req.body ? ex->req.body_len : 0},
    };
    uint64_t h = sdiff_redact_key_hash64(key, parts, 3);
    return (double)(h >> 11) / 9007199254740992.0 < rate;
}

int sdiff__judge_override_blocked(const struct sdiff_rules *rules, const char *route,
                                  const struct sdiff_msg *req, const char *const *extra,
                                  size_t nextra, char *why, size_t whysz)
{
    struct sdiff_replay_override ov[8];
    size_t n = sdiff_replay_overrides(req, ov, 8);
    for (size_t i = 0; i < n && i < 8; i++) {
        if (sdiff_rules_method_allowed(rules, route, ov[i].method, extra, nextra))
            continue;
        snprintf(why, whysz,
                 "method override: %s says %.20s (allow it with --allow-method or a route rule)",
                 ov[i].where, ov[i].method);
        return 1;
    }
    if (n > 8) {
        snprintf(why, whysz, "method override: %zu overrides in one request", n);
        return 1;
    }
    return 0;
}

/* Refill b to now; a bucket is full again after one idle second. */
static void bucket_refill(struct bucket *b, double rate, uint64_t now_us)
{
    if (now_us > b->last_us) {
        b->tokens += (double)(now_us - b->last_us) / 1e6 * rate;
        if (b->tokens > rate)
            b->tokens = rate;
        b->last_us = now_us;
    }
}

static int bucket_take(struct bucket *b, double rate, uint64_t now_us)
{
    bucket_refill(b, rate, now_us);
    if (b->tokens < 1)
        return 0;
    b->tokens -= 1;
    return 1;
}

/*
 * The route cap, one token bucket per route. Slots are never emptied, so probe chains stay
 * whole; a slot whose bucket has refilled is as good as absent (a new bucket starts full),
 * so a new route takes the first such slot it passes. Junk routes therefore hold a slot for
 * one second at most. When every slot has spent tokens within the last second, the routes
 * that find no slot share one overflow bucket: a full table caps, it never passes.
 */
static int route_allowed(struct sdiff_judge *j, const char *route, uint64_t now_us)
{
    double rate = j->o.route_rate;
    if (rate <= 0)
        return 1;
    uint64_t h = fnv(1469598103934665603ull, route, strlen(route)) | 1;
    size_t mask = j->nbuckets - 1, i = h & mask;
    struct bucket *reuse = NULL;
    for (size_t probes = 0; probes < j->nbuckets; probes++, i = (i + 1) & mask) {
        struct bucket *b = &j->buckets[i];
        if (b->hash == h)
            return bucket_take(b, rate, now_us);
        if (b->hash == 0) {
            if (reuse == NULL)
                reuse = b;
            break; /* the end of the chain: h is not in the table */
        }
        if (reuse == NULL) {
            bucket_refill(b, rate, now_us);
            if (b->tokens >= rate)
                reuse = b;
        }
    }
    if (reuse == NULL)
        return bucket_take(&j->overflow, rate, now_us);
    reuse->hash = h;
    reuse->tokens = rate; /* one second of burst */
    reuse->last_us = now_us;
    return bucket_take(reuse, rate, now_us);
}

static void reasons_text(unsigned reasons, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (unsigned bit = 1; bit && bit <= SDIFF_REASON__LAST; bit <<= 1)
        if (reasons & bit)
            o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%s%s", o ? "," : "",
                                  sdiff_reason_str(bit));
}

/*
 * Credentials out of an exchange and the answers it got, before anything is compared or
 * stored: the secrets of every message are collected first, so that an echo of the request's
 * token in an answer is found too. The test credentials of --set-header count as secrets.
 */
static int redact_all(struct sdiff_judge *j, struct sdiff_exchange *ex, struct pending *p)
{
    struct sdiff_redact *r = j->o.redact;
    int rc = SDIFF_OK;
    if (r == NULL)
        return SDIFF_OK;
    sdiff_redact_reset(r);
    rc = sdiff_redact_collect(r, &ex->req);
    rc = rc < 0 ? rc : sdiff_redact_collect(r, &ex->resp);
    for (int t = 0; p && t < T__COUNT && rc >= 0; t++)
        if (p->res[t])
            rc = sdiff_redact_collect(r, &p->res[t]->resp);
    for (size_t i = 0; i < j->o.replay.nset && rc >= 0; i++) {
        const char *hv = j->o.replay.set_headers[i], *colon = strchr(hv, ':');
        if (colon && sdiff_header_is_secret(hv, (size_t)(colon - hv))) {
            const char *v = colon + 1 + strspn(colon + 1, " \t");
            const char *sp = strchr(v, ' '); /* the credentials after a scheme, and the whole */
            rc = sdiff_redact_collect_value(r, v, strlen(v));
            if (rc >= 0 && sp)
                rc = sdiff_redact_collect_value(r, sp + 1, strlen(sp + 1));
        }
    }
    if (rc < 0)
        return sdiff_err_set(&j->err, rc, "judge", "out of memory redacting");
    rc = sdiff_redact_msg(r, &ex->req, &j->err);
    rc = rc < 0 ? rc : sdiff_redact_msg(r, &ex->resp, &j->err);
    for (int t = 0; p && t < T__COUNT && rc >= 0; t++) {
        if (p->res[t] == NULL)
            continue;
        rc = sdiff_redact_msg(r, &p->res[t]->resp, &j->err);
        sdiff_redact_text(r, p->res[t]->errmsg, sizeof p->res[t]->errmsg);
    }
    sdiff_redact_text(r, ex->note, sizeof ex->note);
    return rc;
}

static int store_exchange(struct sdiff_judge *j, struct sdiff_exchange *ex)
{
    return j->o.copy_exchanges ? sdiff_store_put_exchange(j->o.db, ex, &j->err) : SDIFF_OK;
}

static int store_skipped(struct sdiff_judge *j, struct sdiff_exchange *ex, const char *route,
                         const char *why)
{
    int rc = redact_all(j, ex, NULL);
    rc = rc < 0 ? rc : store_exchange(j, ex);
    if (rc < 0)
        return rc;
    struct sdiff_result_rec r = {
        .run_id = j->st->run_id, .exchange_id = ex->id, .method = ex->req.method,
        .route = route, .target = ex->req.target, .cls = "skipped", .skip_reason = why,
        .primary_status = ex->resp.present ? ex->resp.status : 0,
        .primary_ms = sdiff_exchange_primary_ms(ex), .bytes_equal = -1,
        .t_req_start = ex->t_req_start,
    };
    j->st->cls[SDIFF_CLASS_SKIPPED]++;
    return sdiff_store_put_result(j->o.db, &r, NULL, &j->err);
}

/* Every target answered: learn, compare, store. */
static int finish(struct sdiff_judge *j, struct pending *p)
{
    struct sdiff_exchange *ex = p->ex;
    struct sdiff_replay_result *cand = p->res[T_CANDIDATE], *sec = p->res[T_SECONDARY],
                               *prim = p->res[T_PRIMARY];
    const struct sdiff_msg *primary = &ex->resp;
    double primary_ms = sdiff_exchange_primary_ms(ex);
    struct sdiff_differ *d = NULL;
    struct sdiff_diff_result dr;
    char reasons[256] = "", note[300] = "", cand_err[200] = "";
    const char *cls;
    int rc = redact_all(j, ex, p);
    rc = rc < 0 ? rc : store_exchange(j, ex);
    memset(&dr, 0, sizeof dr);
    dr.cls = SDIFF_CLASS_ERROR;
    if (rc >= 0)
        rc = sdiff_rules_differ(j->o.rules, p->route, &d, &j->err);
    if (rc < 0)
        return rc;
    if (prim) {
        primary = prim->error == SDIFF_REPLAY_OK ? &prim->resp : NULL;
        primary_ms = prim->latency_ms;
    }
    if (primary == NULL) {
        snprintf(note, sizeof note, "primary: %s", prim->errmsg);
        if (j->st->primary_errors++ == 0)
            snprintf(j->st->primary_error, sizeof j->st->primary_error, "%s: %.120s",
                     sdiff_replay_error_str(prim->error), prim->errmsg);
    } else if (cand->error != SDIFF_REPLAY_OK) {
        /* the kind first, so errors group by it: "timeout: no complete response ..." */
        snprintf(cand_err, sizeof cand_err, "%s: %s", sdiff_replay_error_str(cand->error),
                 cand->errmsg);
        snprintf(note, sizeof note, "candidate %s", cand_err);
        j->st->errors[cand->error]++;
    } else {
        if (sec && sec->error == SDIFF_REPLAY_OK) {
            int added = sdiff_differ_learn(d, primary, &sec->resp, p->route, j->noise, &j->err);
            if (added < 0)
                return added;
            j->st->noise_learned += (uint64_t)added;
        }
        rc = sdiff_differ_compare(d, primary, &cand->resp, p->route, j->noise, &dr, &j->err);
        if (rc < 0)
            return rc;
        reasons_text(dr.reasons, reasons, sizeof reasons);
        if (dr.note[0])
            snprintf(note, sizeof note, "%s", dr.note);
        else if (dr.nomitted)
            snprintf(note, sizeof note, "%zu more differences not recorded", dr.nomitted);
    }
    cls = sdiff_class_str(dr.cls);
    j->st->cls[dr.cls]++;
    const char *paths[64], *kinds[64], *pv[64], *cv[64], *hints[64];
    size_t n = dr.nitems < 64 ? dr.nitems : 64;
    for (size_t i = 0; i < n; i++) {
        paths[i] = dr.items[i].path;
        kinds[i] = dr.items[i].kind;
        pv[i] = dr.items[i].primary;
        cv[i] = dr.items[i].candidate;
        hints[i] = dr.items[i].hint;
    }
    /* Differences keep their bodies; identical answers only a sample of them. */
    int keep = dr.cls != SDIFF_CLASS_IDENTICAL;
    if (!keep && j->o.identical_body_every)
        keep = j->identical_seen++ % j->o.identical_body_every == 0;
    int answered = cand->error == SDIFF_REPLAY_OK;
    struct sdiff_result_rec r = {
        .run_id = j->st->run_id, .exchange_id = ex->id, .method = ex->req.method,
        .route = p->route, .target = ex->req.target, .cls = cls, .reasons = reasons,
        .note = note, .primary_status = primary ? primary->status : 0,
        .primary_ms = primary_ms, .bytes_equal = primary && answered ? dr.bytes_equal : -1,
        .t_req_start = ex->t_req_start,
        .candidate = {.msg = answered || cand->resp.present ? &cand->resp : NULL,
                      .latency_ms = cand->latency_ms,
                      .error = answered ? NULL : cand_err, .keep_body = keep,
                      .skip_row = !keep},
        .paths = paths, .kinds = kinds, .primary_values = pv, .candidate_values = cv,
        .hints = hints, .ndiffs = n,
    };
    if (sec) {
        r.secondary.msg = sec->error == SDIFF_REPLAY_OK ? &sec->resp : NULL;
        r.secondary.latency_ms = sec->latency_ms;
        r.secondary.error = sec->error ? sec->errmsg : NULL;
        r.secondary.keep_body = keep;
        r.secondary.skip_row = !keep;
    }
    rc = sdiff_store_put_result(j->o.db, &r, NULL, &j->err);
    if (j->o.on_result)
        j->o.on_result(p->route, dr.cls, primary_ms, answered ? cand->latency_ms : -1,
                       j->o.on_result_ud);
    sdiff_diff_result_dispose(&dr);
    return rc;
}

static void link_pending(struct sdiff_judge *j, struct pending *p)
{
    p->next = j->head;
    if (j->head)
        j->head->prev = p;
    j->head = p;
    j->inflight++;
}

static void unlink_pending(struct sdiff_judge *j, struct pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        j->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    j->inflight--;
}

static void pending_free(struct pending *p)
{
    for (int i = 0; i < T__COUNT; i++)
        sdiff_replay_result_free(p->res[i]);
    sdiff_exchange_free(p->ex);
    sdiff_free(p);
}

/* Store one finished or skipped record, unless an earlier one failed, and free it. */
static void store_record(struct sdiff_judge *j, struct pending *p)
{
    if (atomic_load(&j->rc) >= 0) {
        int rc = p->skipped ? store_skipped(j, p->ex, p->route, p->why) : finish(j, p);
        if (rc < 0)
            atomic_store(&j->rc, rc);
    }
    pending_free(p);
}

/* The worker owns the database, the noise and the differs while it runs. */
static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The worker owns the database, the noise and the differs while it runs. It commits at
 * least every second, so a crash loses at most a second of results. */
static void *worker_main(void *arg)
{
    struct sdiff_judge *j = arg;
    struct pending *p;
    double last = mono_s();
    while ((p = sdiff_queue_pop(&j->done, 1)) != NULL) {
        store_record(j, p);
        double now = mono_s();
        if (now - last >= 1.0 && atomic_load(&j->rc) >= 0) {
            int rc = sdiff_store_commit(j->o.db, &j->err);
            if (rc < 0)
                atomic_store(&j->rc, rc);
            last = now;
        }
    }
    return NULL;
}

/* Hand a record over: stored here, or queued for the worker (waiting while it is behind). */
static int settle(struct sdiff_judge *j, struct pending *p)
{
    if (!j->worker_on) {
        store_record(j, p);
        return SDIFF_OK;
    }
    if (sdiff_queue_push(&j->done, p) < 0) {
        pending_free(p);
        return SDIFF_ERR;
    }
    return SDIFF_OK;
}

/* An exchange that is not replayed (ownership taken). */
static int settle_skipped(struct sdiff_judge *j, struct sdiff_exchange *ex, const char *route,
                          const char *why)
{
    struct pending *p = sdiff_calloc(1, sizeof *p);
    if (p == NULL) {
        sdiff_exchange_free(ex);
        return SDIFF_ENOMEM;
    }
    p->ex = ex;
    p->skipped = 1;
    snprintf(p->route, sizeof p->route, "%s", route);
    snprintf(p->why, sizeof p->why, "%s", why);
    return settle(j, p);
}

/* The first error of the storing side, as the caller's error. */
static int judge_error(struct sdiff_judge *j, int rc, struct sdiff_err *err)
{
    int jrc = atomic_load(&j->rc);
    if (jrc < 0)
        return sdiff_err_set(err, jrc, j->err.where, "%s", j->err.msg);
    if (rc == SDIFF_ENOMEM)
        return sdiff_err_set(err, rc, "judge", "out of memory");
    if (rc < 0)
        return sdiff_err_set(err, rc, "judge", "the result writer has stopped");
    return SDIFF_OK;
}

static void on_done(void *tag, struct sdiff_replay_result *res, void *ud)
{
    struct sdiff_judge *j = ud;
    struct pending *p = tag;
    int which = T_CANDIDATE;
    for (int i = 0; i < T__COUNT; i++)
        if (j->target_index[i] == res->target)
            which = i;
    p->res[which] = res;
    if (--p->waiting > 0)
        return;
    unlink_pending(j, p);
    settle(j, p);
}

int sdiff_judge_submit(struct sdiff_judge *j, struct sdiff_exchange *ex, int stopped,
                       uint64_t now_us, struct sdiff_err *err)
{
    struct sdiff_buf rb;
    char route[256], why[200];
    sdiff_buf_init(&rb, sizeof route - 1);
    sdiff_routes_route(j->o.routes, ex->req.present ? ex->req.method : "?", ex->req.target, &rb);
    snprintf(route, sizeof route, "%s", rb.data ? (const char *)rb.data : "?");
    sdiff_buf_dispose(&rb);
    j->st->exchanges++;
    sdiff_rules_saw_route(j->o.rules, route);
    /* a marker we did not send: someone dressed a request up as a replay. It is judged like
     * any other (and its marker never forwarded), but counted, so it shows */
    if (ex->req.present &&
        sdiff_replay_marker_check(&ex->req, j->st->marker) == SDIFF_REPLAY_MARK_FORGED)
        j->st->forged_marker++;
    why[0] = '\0';
    if (stopped) {
        j->st->skip_stopped++;
        snprintf(why, sizeof why, "run stopped before it was sent");
    } else if (ex->state != SDIFF_EX_COMPLETE || !ex->req.present || !ex->resp.present) {
        j->st->skip_incomplete++;
        snprintf(why, sizeof why, "incomplete capture: %s%s%.150s",
                 sdiff_exchange_state_str(ex->state), ex->note[0] ? ": " : "", ex->note);
    } else if (!sdiff_rules_method_allowed(j->o.rules, route, ex->req.method,
                                           j->o.allow_methods, j->o.nallow)) {
        j->st->skip_unsafe++;
        snprintf(why, sizeof why,
                 "unsafe method %.20s (allow it with --allow-method or a route rule)",
                 ex->req.method);
    } else if (sdiff__judge_override_blocked(j->o.rules, route, &ex->req, j->o.allow_methods,
                                             j->o.nallow, why, sizeof why)) {
        j->st->skip_override++;
    } else if (!sdiff_judge_sampled(&j->sample_key, ex, j->o.sample)) {
        j->st->skip_sampled++;
        snprintf(why, sizeof why, "sampled out");
    } else if (!route_allowed(j, route, now_us)) {
        j->st->skip_route_cap++;
        snprintf(why, sizeof why, "over the per-route rate cap");
    }
    if (why[0])
        return judge_error(j, settle_skipped(j, ex, route, why), err);

    struct pending *p = sdiff_calloc(1, sizeof *p);
    if (p == NULL) {
        sdiff_exchange_free(ex);
        return sdiff_err_set(err, SDIFF_ENOMEM, "judge", "out of memory");
    }
    p->ex = ex;
    snprintf(p->route, sizeof p->route, "%s", route);
    for (int t = 0; t < T__COUNT; t++)
        if (j->target_index[t] != SIZE_MAX)
            p->waiting++;
    link_pending(j, p);
    int left = p->waiting;
    for (int t = 0; t < T__COUNT; t++) {
        if (j->target_index[t] == SIZE_MAX)
            continue;
        left--;
        struct sdiff_err serr = {0};
        int rc = sdiff_replay_submit(j->replay, ex, j->target_index[t], p, &serr);
        if (rc == SDIFF_ELIMIT && t == T_CANDIDATE) {
            /* replay queue full: nothing was sent, count it and move on */
            unlink_pending(j, p);
            j->st->skip_busy++;
            p->waiting = 0;
            p->skipped = 1;
            snprintf(p->why, sizeof p->why, "replay queue full");
            return judge_error(j, settle(j, p), err);
        }
        if (rc < 0) {
            sdiff_err_set(err, rc, serr.where, "%s", serr.msg);
            /* targets not submitted will never answer */
            p->waiting -= left + 1;
            if (p->waiting == 0) {
                unlink_pending(j, p);
                pending_free(p);
            }
            return rc;
        }
    }
    return judge_error(j, SDIFF_OK, err);
}

int sdiff_judge_abandon(struct sdiff_judge *j, const char *why, struct sdiff_err *err)
{
    /* Stop the transfers first so no callback runs while the records are stored. */
    sdiff_replay_free(j->replay);
    j->replay = NULL;
    int rc = SDIFF_OK;
    while (j->head) {
        struct pending *p = j->head;
        unlink_pending(j, p);
        j->st->skip_stopped++;
        p->skipped = 1;
        snprintf(p->why, sizeof p->why, "%s", why);
        int src = settle(j, p);
        if (rc >= 0)
            rc = src;
    }
    return judge_error(j, rc, err);
}

int sdiff_judge_finish(struct sdiff_judge *j, struct sdiff_err *err)
{
    if (j->worker_on) {
        sdiff_queue_close(&j->done);
        pthread_join(j->worker, NULL);
        j->worker_on = 0;
    }
    return judge_error(j, SDIFF_OK, err);
}

void sdiff_judge_wakeup(struct sdiff_judge *j)
{
    sdiff_replay_wakeup(j->replay);
}

int sdiff_judge_poll(struct sdiff_judge *j, int timeout_ms, struct sdiff_err *err)
{
    if (j->replay == NULL)
        return SDIFF_OK;
    int rc = sdiff_replay_run(j->replay, timeout_ms, err);
    if (rc < 0)
        return rc;
    return judge_error(j, SDIFF_OK, err);
}

size_t sdiff_judge_inflight(const struct sdiff_judge *j)
{
    return j->inflight;
}

/*
 * The --sample hash is keyed with the key the results are hashed with (the redactor's, bound
 * to the database), so nobody without it can craft a request that is always or never
 * replayed. With --keep-secrets there is no redactor: the database's own key (created when it
 * has none), or, for a database hashed with a key file that cannot be given then, a key for
 * this run only.
 */
static int sample_key(struct sdiff_judge *j, struct sdiff_err *err)
{
    if (j->o.redact) {
        j->sample_key = *sdiff_redact_key_of(j->o.redact);
        return SDIFF_OK;
    }
    if (j->o.sample <= 0 || j->o.sample >= 1)
        return SDIFF_OK; /* every request is replayed: no key needed */
    struct sdiff_err berr = {0};
    int rc = j->o.db ? sdiff_redact_key_bind(&j->sample_key, j->o.db, &berr) : SDIFF_EINVAL;
    if (rc == SDIFF_EINVAL)
        return sdiff_redact_key_random(&j->sample_key, err);
    if (rc < 0)
        return sdiff_err_set(err, rc, berr.where, "%s", berr.msg);
    return SDIFF_OK;
}

int sdiff_judge_new(struct sdiff_judge **out, const struct sdiff_judge_opts *o,
                    struct sdiff_replay_run_stats *st, struct sdiff_err *err)
{
    const char *urls[T__COUNT];
    size_t nurls = 0;
    int rc;
    struct sdiff_judge *j = sdiff_calloc(1, sizeof *j);
    *out = NULL;
    if (j == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "judge", "out of memory");
    j->o = *o;
    j->st = st;
    for (int i = 0; i < T__COUNT; i++)
        j->target_index[i] = SIZE_MAX;
    j->nbuckets = 1024;
    j->buckets = sdiff_calloc(j->nbuckets, sizeof *j->buckets);
    rc = j->buckets ? sdiff_noise_new(&j->noise) : SDIFF_ENOMEM;
    if (rc < 0) {
        rc = sdiff_err_set(err, rc, "judge", "out of memory");
        goto fail;
    }
    /* noise learned by earlier runs: the results database's and, for a gate, the corpus's */
    rc = o->no_learned_noise ? SDIFF_OK : sdiff_store_load_noise(o->db, load_noise, j->noise, err);
    if (rc >= 0 && o->noise_from && !o->no_learned_noise)
        rc = sdiff_store_load_noise(o->noise_from, load_noise, j->noise, err);
    /* hashes in one database come from one key: the redactor's is checked against (and
     * recorded in) the results database, or a redactor without one takes the database's */
    if (rc >= 0 && o->redact)
        rc = sdiff_redact_bind(o->redact, o->db, err);
    if (rc >= 0)
        rc = sample_key(j, err);
    if (rc < 0)
        goto fail;
    sdiff_noise_on_add(j->noise, save_noise, j);
    enum sdiff_preset preset = sdiff_rules_preset(o->rules);
    if (preset != SDIFF_PRESET_NONE) {
        char name[64];
        snprintf(name, sizeof name, SDIFF_PRESET_META_FMT, (long long)st->run_id);
        const char *v = sdiff_preset_str(preset);
        rc = sdiff_store_meta_add(o->db, name, v, strlen(v), err);
        if (rc < 0)
            goto fail;
    }
    urls[nurls] = o->candidate;
    j->target_index[T_CANDIDATE] = nurls++;
    if (o->secondary) {
        urls[nurls] = o->secondary;
        j->target_index[T_SECONDARY] = nurls++;
    }
    if (o->primary) {
        urls[nurls] = o->primary;
        j->target_index[T_PRIMARY] = nurls++;
    }
    rc = sdiff_replay_new(&j->replay, &o->replay, urls, nurls, on_done, j, err);
    if (rc < 0)
        goto fail;
    snprintf(st->marker, sizeof st->marker, "%s", sdiff_replay_marker(j->replay));
    if (o->threaded) {
        size_t inflight = (o->replay.concurrency ? o->replay.concurrency : 16) * 2;
        rc = sdiff_queue_init(&j->done, inflight * 4, 16);
        if (rc < 0 || pthread_create(&j->worker, NULL, worker_main, j) != 0) {
            rc = sdiff_err_set(err, SDIFF_ENOMEM, "judge", "cannot start the result writer");
            goto fail;
        }
        j->worker_on = 1;
    }
    *out = j;
    return SDIFF_OK;
fail:
    sdiff_judge_free(j);
    return rc;
}

void sdiff_judge_free(struct sdiff_judge *j)
{
    if (j == NULL)
        return;
    /* the replay engine drops in-flight requests without callbacks: free their records */
    sdiff_replay_free(j->replay);
    while (j->head) {
        struct pending *p = j->head;
        unlink_pending(j, p);
        pending_free(p);
    }
    if (j->worker_on) { /* what is queued is still stored: it was finished */
        sdiff_queue_close(&j->done);
        pthread_join(j->worker, NULL);
    }
    sdiff_queue_dispose(&j->done);
    sdiff_noise_free(j->noise);
    sdiff_free(j->buckets);
    memset(&j->sample_key, 0, sizeof j->sample_key);
    sdiff_free(j);
}

/* ---- the run's marker ------------------------------------------------------------------- */

int sdiff__run_marker(struct sdiff_judge_opts *jo, char line[SDIFF_REPLAY_MARKER_MAX],
                      const char **token, struct sdiff_err *err)
{
    *token = NULL;
    if (jo->replay.marker == NULL) {
        char tok[SDIFF_REPLAY_TOKEN_LEN + 1];
        int rc = sdiff_replay_token(tok, err);
        if (rc < 0)
            return rc;
        snprintf(line, SDIFF_REPLAY_MARKER_MAX, "%s: %s", SDIFF_REPLAY_MARKER_NAME, tok);
        jo->replay.marker = line;
    }
    const char *colon = strchr(jo->replay.marker, ':');
    if (colon != NULL) {
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        *token = v;
    }
    return SDIFF_OK;
}

/* ---- the end of a run -------------------------------------------------------------------- */

enum sdiff_run_state sdiff__run_end_state(int rc, int stopped, int stop_is_normal,
                                          const struct sdiff_replay_run_stats *st)
{
    uint64_t judged = st->cls[SDIFF_CLASS_IDENTICAL] + st->cls[SDIFF_CLASS_EQUIVALENT] +
                      st->cls[SDIFF_CLASS_DIFFERENT] + st->cls[SDIFF_CLASS_ERROR];
    if (rc < 0)
        return judged ? SDIFF_RUN_INTERRUPTED : SDIFF_RUN_FAILED;
    if (stopped && !stop_is_normal)
        return SDIFF_RUN_INTERRUPTED;
    return SDIFF_RUN_FINISHED;
}

int sdiff__run_finish(struct sdiff_store *db, int rc, int stopped, int stop_is_normal,
                      const struct sdiff_replay_run_stats *st, struct sdiff_err *err)
{
    struct sdiff_buf sum;
    sdiff_buf_init(&sum, 1u << 16);
    sdiff_replay_run_summary_json(st, &sum);
    int erc = sdiff_store_finish_run(db, st->run_id,
                                     sdiff__run_end_state(rc, stopped, stop_is_normal, st),
                                     (const char *)sum.data, err);
    sdiff_buf_dispose(&sum);
    return erc;
}
