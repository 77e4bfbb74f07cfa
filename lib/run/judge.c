/*
 * judge.c - replay -> diff -> store for one exchange at a time.
 *
 * An exchange is finished when every target has answered (or failed). Then it is judged:
 * redacted, noise learned from the old service's own answers and the secondary's (on
 * evidence: shadowdiff/diff.h), the candidate compared with the primary; and
 * stored. The caller's thread submits and drives the replays and never blocks on either.
 * Threaded, judging runs on N workers and storing on one writer (the single worker stores
 * too when N is 1), so a store, which is not thread-safe, still has one owner:
 *
 *   caller (replays) -> todo queue -> N judges -> done queue -> writer (store, commits)
 *
 * Each judge has its own redactor and differs (neither may be shared). What all of them
 * share is the learned noise (see judge_one) and the first error; the counters of judged
 * exchanges belong to the writer and reach the caller's stats in sync_stats.
 *
 * Memory: at most the caller's cap in flight, plus what waits in the two bounded queues
 * (todo_cap and done_cap records, see sdiff_judge_new) plus one record per judge. A record
 * is one exchange and its answers, each bounded by the limits and replay.max_body.
 */
#include "shadowdiff/run.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

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
    /* the judgement, made by a judge for the writer */
    struct sdiff_diff_result dr;
    const struct sdiff_msg *primary; /* NULL: a live primary failed */
    double primary_ms;
    char reasons[256], note[300], cand_err[200];
    char shape[SDIFF_SHAPE_LEN];   /* the primary's answer shape (sibling merges) */
    uint64_t noise_added;          /* new noise entries this exchange taught */
    struct sdiff_buf noise;        /* those entries, "route\0key\0" each, to store */
};

/* Per-route token bucket for the route cap: small open-addressing table. */
struct bucket {
    uint64_t hash;
    double tokens;
    uint64_t last_us;
};

/* One judging thread's own tools: a differ and a redactor are not thread-safe. */
struct judge_worker {
    struct sdiff_judge *j;
    struct sdiff_redact *redact;   /* the caller's (first judge) or a clone; NULL: none */
    struct sdiff_redact *own_redact;
    struct sdiff_rules_differs *differs; /* NULL: the rules' own (first judge) */
    pthread_t thread;
    int started;
};

struct sdiff_judge {
    struct sdiff_judge_opts o;
    struct sdiff_replay_run_stats *st; /* the caller's: written on the caller's thread only */
    struct sdiff_noise *noise;     /* shared by the judges, under noise_lock */
    pthread_rwlock_t noise_lock;
    struct pending *learner;       /* whose noise is being learned (under the write lock) */
    struct sdiff_learner *evidence; /* the noise rule's evidence and held results (under
                                      the noise write lock) */
    struct sdiff_replay *replay;
    size_t target_index[T__COUNT]; /* index in the replay engine, or SIZE_MAX */
    atomic_int rc;                 /* first fatal error of a callback or of a thread */
    pthread_mutex_t mu;            /* err, wst and identical_seen */
    struct sdiff_err err;          /* the first error's message */
    struct sdiff_replay_run_stats wst; /* counters of stored records (the writer's) */
    size_t njudges;                /* judging threads; 0: inline on the caller's thread */
    struct judge_worker *workers;  /* max(njudges, 1) */
    struct sdiff_queue todo;       /* answered records for the judges */
    struct sdiff_queue done;       /* judged records for the writer (njudges > 1) */
    pthread_t writer;
    int writer_on, threads_on;
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

struct noise_copy {
    struct sdiff_noise *noise;
    struct sdiff_store *db;
};

/* Noise from the corpus: applied, and kept in the results database with its evidence. */
static int copy_noise(const struct sdiff_store_noise *n, void *ud, struct sdiff_err *err)
{
    struct noise_copy *c = ud;
    int added = sdiff_noise_add(c->noise, n->route, n->key);
    if (added < 0)
        return sdiff_err_set(err, added, "judge", "out of memory");
    return added ? sdiff_store_save_noise(c->db, n, err) : SDIFF_OK;
}

/*
 * New noise goes with the record of the exchange that taught it, and the writer stores it
 * just before that record: learned under the noise write lock, so learner is the one
 * judge learning now. Each entry is "route\0key\0source\0pairs clients confidence\0
 * examples\0", the evidence as the rule counted it.
 */
static void set_error(struct sdiff_judge *j, int rc, const struct sdiff_err *e);

static int note_noise(const char *route, const char *key, void *ud)
{
    struct sdiff_judge *j = ud;
    struct sdiff_buf *b = &j->learner->noise;
    struct sdiff_noise_evidence ev;
    char counts[64] = "0 0 -1";
    const char *source = "";
    int have = sdiff_learner_evidence(j->evidence, route, key, &ev) == 1;
    if (have) {
        source = ev.source ? ev.source : "";
        snprintf(counts, sizeof counts, "%u %u %.4f", ev.pairs, ev.clients, ev.confidence);
    }
    int rc = sdiff_buf_append(b, route, strlen(route) + 1);
    rc = rc < 0 ? rc : sdiff_buf_append(b, key, strlen(key) + 1);
    rc = rc < 0 ? rc : sdiff_buf_append(b, source, strlen(source) + 1);
    rc = rc < 0 ? rc : sdiff_buf_append(b, counts, strlen(counts) + 1);
    if (rc >= 0 && have)
        rc = sdiff_noise_examples_json(&ev, b);
    return rc < 0 ? rc : sdiff_buf_append(b, "", 1);
}

/* A held result whose fields all became noise: equivalent after all, in the store and in
 * the counts (counters published already, as mirror's metrics, keep what they said). On the
 * thread that owns the database, under the noise write lock. */
static int settle_noise(int64_t result_id, void *ud)
{
    struct sdiff_judge *j = ud;
    struct sdiff_err e = {0};
    int rc = sdiff_store_mark_noise(j->o.db, result_id, &e);
    if (rc < 0) {
        set_error(j, rc, &e);
        return rc;
    }
    pthread_mutex_lock(&j->mu);
    if (j->wst.cls[SDIFF_CLASS_DIFFERENT] > 0) {
        j->wst.cls[SDIFF_CLASS_DIFFERENT]--;
        j->wst.cls[SDIFF_CLASS_EQUIVALENT]++;
    }
    pthread_mutex_unlock(&j->mu);
    return SDIFF_OK;
}

/* The first error of any thread wins. */
static void set_error(struct sdiff_judge *j, int rc, const struct sdiff_err *e)
{
    pthread_mutex_lock(&j->mu);
    if (atomic_load(&j->rc) >= 0) {
        if (e && e->msg[0])
            j->err = *e;
        else
            sdiff_err_set(&j->err, rc, "judge", rc == SDIFF_ENOMEM ? "out of memory"
                                                                  : "judging failed");
        atomic_store(&j->rc, rc);
    }
    pthread_mutex_unlock(&j->mu);
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
    uint64_t h = sdiff_fnv1a(SDIFF_FNV_INIT, route, strlen(route)) | 1;
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
/*
 * Credentials out of an exchange and the answers it got, before anything is compared or
 * stored: the secrets of every message are collected first, so that an echo of the request's
 * token in an answer is found too. The test credentials of --set-header count as secrets.
 */
static int redact_all(struct sdiff_judge *j, struct sdiff_redact *r, struct sdiff_exchange *ex,
                      struct pending *p, struct sdiff_err *e)
{
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
        return sdiff_err_set(e, rc, "judge", "out of memory redacting");
    rc = sdiff_redact_msg(r, &ex->req, e);
    rc = rc < 0 ? rc : sdiff_redact_msg(r, &ex->resp, e);
    for (int t = 0; p && t < T__COUNT && rc >= 0; t++) {
        if (p->res[t] == NULL)
            continue;
        rc = sdiff_redact_msg(r, &p->res[t]->resp, e);
        sdiff_redact_text(r, p->res[t]->errmsg, sizeof p->res[t]->errmsg);
    }
    sdiff_redact_text(r, ex->note, sizeof ex->note);
    return rc;
}

/*
 * Judge one answered record on a judge's thread: redact it, give the learner its evidence
 * (the old service's answer, and the secondary's), compare the candidate with the primary.
 * Skipped records are only redacted.
 *
 * The learner and the noise it grows are shared by all judges, behind a read-write lock,
 * rather than copied per judge: with copies, what a comparison ignores would depend on how
 * the exchanges were spread over N judges. An exchange gives its evidence under the write
 * lock, then compares under the read lock, so it sees all the evidence it and the
 * exchanges before it gave; noise only grows. That is what one judge guarantees too (there,
 * which exchanges came before depends on the order answers arrive in). Results judged
 * different before a key's evidence was complete are held, and become equivalent when all
 * their keys turn out to be noise (store_one, sdiff_judge_finish), so classes do not depend
 * on that order; a result that stays different keeps its early differences on such keys.
 * Comparisons share the read lock; giving evidence costs about as much as a comparison on
 * small JSON answers and is serialised by the write lock, which bounds what more judges give.
 */
static int judge_one(struct judge_worker *w, struct pending *p, struct sdiff_err *e)
{
    struct sdiff_judge *j = w->j;
    struct sdiff_exchange *ex = p->ex;
    struct sdiff_replay_result *cand = p->res[T_CANDIDATE], *sec = p->res[T_SECONDARY],
                               *prim = p->res[T_PRIMARY];
    struct sdiff_differ *d = NULL;
    int rc = redact_all(j, w->redact, ex, p->skipped ? NULL : p, e);
    if (rc < 0 || p->skipped)
        return rc;
    if (w->differs)
        d = sdiff_rules_differs_get(w->differs, p->route);
    else
        rc = sdiff_rules_differ(j->o.rules, p->route, &d, e);
    if (rc < 0)
        return rc;
    p->primary = &ex->resp;
    p->primary_ms = sdiff_exchange_primary_ms(ex);
    p->dr.cls = SDIFF_CLASS_ERROR;
    if (prim) {
        p->primary = prim->error == SDIFF_REPLAY_OK ? &prim->resp : NULL;
        p->primary_ms = prim->latency_ms;
    }
    if (p->primary && (rc = sdiff_answer_shape(p->primary, p->shape)) < 0)
        return sdiff_err_set(e, rc, "judge", "out of memory");
    if (p->primary == NULL) {
        snprintf(p->note, sizeof p->note, "primary: %s", prim->errmsg);
    } else if (cand->error != SDIFF_REPLAY_OK) {
        /* the kind first, so errors group by it: "timeout: no complete response ..." */
        snprintf(p->cand_err, sizeof p->cand_err, "%s: %s", sdiff_replay_error_str(cand->error),
                 cand->errmsg);
        snprintf(p->note, sizeof p->note, "candidate %s", p->cand_err);
    } else {
        /* the old service against itself: its repeated answers, and the secondary's (the
         * noise rule of shadowdiff/diff.h); what becomes noise applies to this comparison */
        if (!j->o.no_learned_noise) {
            pthread_rwlock_wrlock(&j->noise_lock);
            j->learner = p;
            int added = sdiff_learner_answer(j->evidence, d, &ex->req, p->primary, p->route,
                                             ex->client, ex->t_req_start, e);
            if (added >= 0 && sec && sec->error == SDIFF_REPLAY_OK) {
                int more = sdiff_learner_secondary(j->evidence, d, p->primary, &sec->resp,
                                                   p->route, ex->client, ex->t_req_start, e);
                added = more < 0 ? more : added + more;
            }
            j->learner = NULL;
            pthread_rwlock_unlock(&j->noise_lock);
            if (added < 0)
                return added;
            p->noise_added = (uint64_t)added;
        }
        pthread_rwlock_rdlock(&j->noise_lock);
        rc = sdiff_differ_compare(d, p->primary, &cand->resp, p->route, j->noise, &p->dr, e);
        pthread_rwlock_unlock(&j->noise_lock);
        if (rc < 0)
            return rc;
        reasons_text(p->dr.reasons, p->reasons, sizeof p->reasons);
        if (p->dr.note[0])
            snprintf(p->note, sizeof p->note, "%s", p->dr.note);
        else if (p->dr.nomitted)
            snprintf(p->note, sizeof p->note, "%zu more differences not recorded",
                     p->dr.nomitted);
    }
    return SDIFF_OK;
}

/* The writer's counters of one stored record. */
static void count_record(struct sdiff_judge *j, const struct pending *p)
{
    const struct sdiff_replay_result *cand = p->res[T_CANDIDATE], *prim = p->res[T_PRIMARY];
    pthread_mutex_lock(&j->mu);
    struct sdiff_replay_run_stats *w = &j->wst;
    if (p->skipped) {
        w->cls[SDIFF_CLASS_SKIPPED]++;
    } else {
        w->cls[p->dr.cls]++;
        w->noise_learned += p->noise_added;
        if (p->primary == NULL) {
            if (w->primary_errors++ == 0)
                snprintf(w->primary_error, sizeof w->primary_error, "%s: %.120s",
                         sdiff_replay_error_str(prim->error), prim->errmsg);
        } else if (cand->error != SDIFF_REPLAY_OK) {
            w->errors[cand->error]++;
        }
    }
    pthread_mutex_unlock(&j->mu);
}

/* Store one judged record (on the thread that owns the database). */
static int store_one(struct sdiff_judge *j, struct pending *p, struct sdiff_err *e)
{
    struct sdiff_exchange *ex = p->ex;
    struct sdiff_replay_result *cand = p->res[T_CANDIDATE], *sec = p->res[T_SECONDARY];
    int rc = j->o.copy_exchanges ? sdiff_store_put_exchange(j->o.db, ex, e) : SDIFF_OK;
    if (rc < 0)
        return rc;
    count_record(j, p);
    if (p->skipped) {
        struct sdiff_result_rec r = {
            .run_id = j->st->run_id, .exchange_id = ex->id, .method = ex->req.method,
            .route = p->route, .target = ex->req.target, .cls = "skipped",
            .skip_reason = p->why, .primary_status = ex->resp.present ? ex->resp.status : 0,
            .primary_ms = sdiff_exchange_primary_ms(ex), .bytes_equal = -1,
            .t_req_start = ex->t_req_start,
        };
        return sdiff_store_put_result(j->o.db, &r, NULL, e);
    }
    /* the noise this exchange taught first, so that a crash never keeps a result judged
     * with noise the database does not have */
    for (size_t off = 0; off < p->noise.len && rc >= 0;) {
        const char *route = (const char *)p->noise.data + off;
        const char *key = route + strlen(route) + 1;
        const char *source = key + strlen(key) + 1;
        const char *counts = source + strlen(source) + 1;
        const char *examples = counts + strlen(counts) + 1;
        off = (size_t)(examples + strlen(examples) + 1 - (const char *)p->noise.data);
        unsigned long long pairs = 0, clients = 0;
        double confidence = -1;
        sscanf(counts, "%llu %llu %lf", &pairs, &clients, &confidence);
        struct sdiff_store_noise n = {.route = route, .key = key, .run_id = j->st->run_id,
                                      .source = *source ? source : NULL, .pairs = pairs,
                                      .clients = clients,
                                      .examples_json = *examples ? examples : NULL,
                                      .confidence = confidence};
        rc = sdiff_store_save_noise(j->o.db, &n, e);
    }
    if (rc < 0)
        return rc;
    const struct sdiff_diff_result *dr = &p->dr;
    const char *paths[64], *kinds[64], *pv[64], *cv[64], *hints[64];
    size_t n = dr->nitems < 64 ? dr->nitems : 64;
    for (size_t i = 0; i < n; i++) {
        paths[i] = dr->items[i].path;
        kinds[i] = dr->items[i].kind;
        pv[i] = dr->items[i].primary;
        cv[i] = dr->items[i].candidate;
        hints[i] = dr->items[i].hint;
    }
    /* Differences keep their bodies; identical answers only a sample of them (counted here,
     * on the one storing thread). */
    int keep = dr->cls != SDIFF_CLASS_IDENTICAL;
    if (!keep && j->o.identical_body_every)
        keep = j->identical_seen++ % j->o.identical_body_every == 0;
    int answered = cand->error == SDIFF_REPLAY_OK;
    struct sdiff_result_rec r = {
        .run_id = j->st->run_id, .exchange_id = ex->id, .method = ex->req.method,
        .route = p->route, .target = ex->req.target, .cls = sdiff_class_str(dr->cls),
        .reasons = p->reasons, .note = p->note,
        .primary_status = p->primary ? p->primary->status : 0, .primary_ms = p->primary_ms,
        .bytes_equal = p->primary && answered ? dr->bytes_equal : -1,
        .t_req_start = ex->t_req_start,
        .candidate = {.msg = answered || cand->resp.present ? &cand->resp : NULL,
                      .latency_ms = cand->latency_ms,
                      .error = answered ? NULL : p->cand_err, .keep_body = keep,
                      .skip_row = !keep},
        .paths = paths, .kinds = kinds, .primary_values = pv, .candidate_values = cv,
        .hints = hints, .ndiffs = n, .shape = p->shape[0] ? p->shape : NULL,
    };
    if (sec) {
        r.secondary.msg = sec->error == SDIFF_REPLAY_OK ? &sec->resp : NULL;
        r.secondary.latency_ms = sec->latency_ms;
        r.secondary.error = sec->error ? sec->errmsg : NULL;
        r.secondary.keep_body = keep;
        r.secondary.skip_row = !keep;
    }
    int64_t rid = 0;
    rc = sdiff_store_put_result(j->o.db, &r, &rid, e);
    if (j->o.on_result)
        j->o.on_result(p->route, dr->cls, p->primary_ms, answered ? cand->latency_ms : -1,
                       j->o.on_result_ud);
    /* different only on fields, perhaps before the evidence that they are noise was in:
     * held, and made equivalent when they all are (now, or when later records teach it) */
    if (rc >= 0 && (dr->cls == SDIFF_CLASS_DIFFERENT || p->noise_added > 0)) {
        pthread_rwlock_wrlock(&j->noise_lock);
        int held = dr->cls == SDIFF_CLASS_DIFFERENT
                       ? sdiff_learner_hold(j->evidence, p->route, dr, rid)
                       : 0;
        if (held < 0)
            rc = sdiff_err_set(e, held, "judge", "out of memory");
        else if (held == 2 || p->noise_added > 0)
            rc = sdiff_learner_settle(j->evidence, settle_noise, j);
        pthread_rwlock_unlock(&j->noise_lock);
    }
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

static struct pending *pending_new(void)
{
    struct pending *p = sdiff_calloc(1, sizeof *p);
    if (p)
        sdiff_buf_init(&p->noise, 1u << 20);
    return p;
}

static void pending_free(struct pending *p)
{
    for (int i = 0; i < T__COUNT; i++)
        sdiff_replay_result_free(p->res[i]);
    sdiff_exchange_free(p->ex);
    sdiff_diff_result_dispose(&p->dr);
    sdiff_buf_dispose(&p->noise);
    sdiff_free(p);
}

/* Judge a record unless an earlier error stopped the run. < 0: it was freed. */
static int judge_record(struct judge_worker *w, struct pending *p)
{
    struct sdiff_err e = {0};
    int rc = atomic_load(&w->j->rc) < 0 ? SDIFF_ERR : judge_one(w, p, &e);
    if (rc < 0) {
        set_error(w->j, rc, &e); /* a no-op after an earlier error */
        pending_free(p);
    }
    return rc;
}

/* Store a judged record unless an earlier error stopped the run, and free it. */
static void store_record(struct sdiff_judge *j, struct pending *p)
{
    if (atomic_load(&j->rc) >= 0) {
        struct sdiff_err e = {0};
        int rc = store_one(j, p, &e);
        if (rc < 0)
            set_error(j, rc, &e);
    }
    pending_free(p);
}

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/*
 * The thread that owns the database: the writer (records from the done queue), or, with one
 * judge, that judge (records from the todo queue, judged first). It commits within a second
 * of storing anything, so a crash loses at most a second of results, idle or not.
 */
static void *store_main(void *arg)
{
    struct judge_worker *w = arg;
    struct sdiff_judge *j = w->j;
    /* named, so that top -H and the benchmarks can tell judging from storing */
    (void)prctl(PR_SET_NAME, j->njudges > 1 ? "sdiff-writer" : "sdiff-judge", 0, 0, 0);
    struct sdiff_queue *q = j->njudges > 1 ? &j->done : &j->todo;
    double last = mono_s();
    int dirty = 0;
    for (;;) {
        long left_ms = (long)((last + 1.0 - mono_s()) * 1000) + 1;
        struct pending *p = sdiff_queue_pop_for(q, dirty ? (left_ms > 0 ? left_ms : 1) : -1);
        if (p == NULL && sdiff_queue_done(q))
            break;
        if (p != NULL && (j->njudges > 1 || judge_record(w, p) >= 0)) {
            store_record(j, p);
            dirty = 1;
        }
        double now = mono_s();
        if (dirty && now - last >= 1.0) {
            struct sdiff_err e = {0};
            int rc = atomic_load(&j->rc) >= 0 ? sdiff_store_commit(j->o.db, &e) : SDIFF_OK;
            if (rc < 0)
                set_error(j, rc, &e);
            last = now;
            dirty = 0;
        }
    }
    return NULL;
}

/* A judge of several: records from the todo queue, judged, to the writer. */
static void *judge_main(void *arg)
{
    struct judge_worker *w = arg;
    struct sdiff_judge *j = w->j;
    (void)prctl(PR_SET_NAME, "sdiff-judge", 0, 0, 0);
    struct pending *p;
    while ((p = sdiff_queue_pop(&j->todo, 1)) != NULL)
        if (judge_record(w, p) >= 0 && sdiff_queue_push(&j->done, p) < 0)
            pending_free(p); /* cannot happen: done closes after the judges end */
    return NULL;
}

/* Hand a record over: judged and stored here, or queued for the judges (waiting while they
 * are behind: that is the backpressure on the replays). */
static int settle(struct sdiff_judge *j, struct pending *p)
{
    if (!j->threads_on) {
        if (judge_record(&j->workers[0], p) >= 0)
            store_record(j, p);
        return SDIFF_OK;
    }
    if (sdiff_queue_push(&j->todo, p) < 0) {
        pending_free(p);
        return SDIFF_ERR;
    }
    return SDIFF_OK;
}

/* An exchange that is not replayed (ownership taken). */
static int settle_skipped(struct sdiff_judge *j, struct sdiff_exchange *ex, const char *route,
                          const char *why)
{
    struct pending *p = pending_new();
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

/* The writer's counters into the caller's stats, on the caller's thread. */
static void sync_stats(struct sdiff_judge *j)
{
    struct sdiff_replay_run_stats *st = j->st;
    pthread_mutex_lock(&j->mu);
    memcpy(st->cls, j->wst.cls, sizeof st->cls);
    memcpy(st->errors, j->wst.errors, sizeof st->errors);
    st->noise_learned = j->wst.noise_learned;
    st->primary_errors = j->wst.primary_errors;
    memcpy(st->primary_error, j->wst.primary_error, sizeof st->primary_error);
    pthread_mutex_unlock(&j->mu);
}

/* The first error of the judging and storing side, as the caller's error. */
static int judge_error(struct sdiff_judge *j, int rc, struct sdiff_err *err)
{
    sync_stats(j);
    if (atomic_load(&j->rc) < 0) {
        pthread_mutex_lock(&j->mu);
        int jrc = sdiff_err_set(err, atomic_load(&j->rc), j->err.where, "%s", j->err.msg);
        pthread_mutex_unlock(&j->mu);
        return jrc;
    }
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

    struct pending *p = pending_new();
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

/* Close the queues in the order records flow and wait for every thread: what was queued
 * is still judged and stored. */
static void stop_threads(struct sdiff_judge *j)
{
    if (!j->threads_on)
        return;
    sdiff_queue_close(&j->todo);
    for (size_t i = 0; i < j->njudges; i++)
        if (j->workers[i].started)
            pthread_join(j->workers[i].thread, NULL);
    if (j->writer_on) {
        sdiff_queue_close(&j->done);
        pthread_join(j->writer, NULL);
    }
    for (size_t i = 0; i < j->njudges; i++)
        j->workers[i].started = 0;
    j->writer_on = 0;
    j->threads_on = 0;
}

int sdiff_judge_finish(struct sdiff_judge *j, struct sdiff_err *err)
{
    stop_threads(j);
    /* the last of the held results whose fields became noise (this thread owns the
     * database again) */
    if (atomic_load(&j->rc) >= 0)
        sdiff_learner_settle(j->evidence, settle_noise, j);
    return judge_error(j, SDIFF_OK, err);
}

void sdiff_judge_wakeup(struct sdiff_judge *j)
{
    sdiff_replay_wakeup(j->replay);
}

int sdiff_judge_poll(struct sdiff_judge *j, int timeout_ms, struct sdiff_err *err)
{
    if (j->replay == NULL)
        return judge_error(j, SDIFF_OK, err);
    int rc = sdiff_replay_run(j->replay, timeout_ms, err);
    if (rc < 0)
        return rc;
    return judge_error(j, SDIFF_OK, err);
}

size_t sdiff_judge_inflight(const struct sdiff_judge *j)
{
    return j->inflight;
}

unsigned sdiff_judge_default_judges(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN) - 1;
    /* one CPU for the replays, the corpus reader and the writer: on 2 CPUs, 2 judges ran at
     * 0.84x of one (tests/bench/bench_replay.sh, a quiet machine); and one storing thread
     * takes what judges give it: past about 8 it is the bottleneck */
    return n < 1 ? 1 : n > 8 ? 8 : (unsigned)n;
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

/* The judges' own tools and threads (threaded), or the inline judge's borrowed ones. */
static int start_threads(struct sdiff_judge *j, struct sdiff_err *err)
{
    size_t n = j->o.threaded ? (j->o.judges ? j->o.judges : sdiff_judge_default_judges()) : 0;
    if (n > SDIFF_JUDGES_MAX)
        n = SDIFF_JUDGES_MAX;
    j->njudges = n;
    j->workers = sdiff_calloc(n ? n : 1, sizeof *j->workers);
    if (j->workers == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "judge", "out of memory");
    /* the first judge borrows the caller's redactor and the rules' differs */
    for (size_t i = 0; i < (n ? n : 1); i++) {
        struct judge_worker *w = &j->workers[i];
        w->j = j;
        w->redact = j->o.redact;
        if (i == 0)
            continue;
        int rc = j->o.redact ? sdiff_redact_clone(&w->own_redact, j->o.redact, err) : SDIFF_OK;
        if (rc >= 0)
            rc = sdiff_rules_differs_new(&w->differs, j->o.rules, err);
        if (rc < 0)
            return rc;
        w->redact = w->own_redact;
    }
    if (n == 0)
        return SDIFF_OK;
    /*
     * The bound on records waiting: as many as twice the replays in flight in each queue
     * (four times in the one queue of a single judge, as before there were several), so
     * memory stays proportional to --concurrency whatever N is.
     */
    size_t inflight = (j->o.replay.concurrency ? j->o.replay.concurrency : 16) * 2;
    int rc = sdiff_queue_init(&j->todo, n > 1 ? inflight * 2 : inflight * 4, 16);
    if (rc >= 0 && n > 1)
        rc = sdiff_queue_init(&j->done, inflight * 2, 16);
    if (rc < 0)
        return sdiff_err_set(err, SDIFF_ENOMEM, "judge", "out of memory");
    j->threads_on = 1;
    for (size_t i = 0; i < n; i++) {
        struct judge_worker *w = &j->workers[i];
        if (pthread_create(&w->thread, NULL, n > 1 ? judge_main : store_main, w) != 0)
            return sdiff_err_set(err, SDIFF_ERR, "judge", "cannot start a judge thread");
        w->started = 1;
    }
    if (n > 1) {
        if (pthread_create(&j->writer, NULL, store_main, &j->workers[0]) != 0)
            return sdiff_err_set(err, SDIFF_ERR, "judge", "cannot start the result writer");
        j->writer_on = 1;
    }
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
    pthread_mutex_init(&j->mu, NULL);
    pthread_rwlock_init(&j->noise_lock, NULL);
    for (int i = 0; i < T__COUNT; i++)
        j->target_index[i] = SIZE_MAX;
    j->nbuckets = 1024;
    j->buckets = sdiff_calloc(j->nbuckets, sizeof *j->buckets);
    rc = j->buckets ? sdiff_noise_new(&j->noise) : SDIFF_ENOMEM;
    if (rc >= 0)
        rc = sdiff_learner_new(&j->evidence, j->noise, sdiff_rules_noise_rule(o->rules));
    if (rc < 0) {
        rc = sdiff_err_set(err, rc, "judge", "out of memory");
        goto fail;
    }
    /* noise learned by earlier runs: the results database's and the corpus's (learned at
     * capture, or by a gate); the corpus's is copied into the results database with its
     * evidence, so that the report of this run shows all the noise it applied */
    rc = o->no_learned_noise ? SDIFF_OK : sdiff_store_load_noise(o->db, load_noise, j->noise, err);
    if (rc >= 0 && o->noise_from && !o->no_learned_noise) {
        struct noise_copy nc = {j->noise, o->db};
        rc = sdiff_store_each_noise(o->noise_from, copy_noise, &nc, err);
    }
    /* hashes in one database come from one key: the redactor's is checked against (and
     * recorded in) the results database, or a redactor without one takes the database's */
    if (rc >= 0 && o->redact)
        rc = sdiff_redact_bind(o->redact, o->db, err);
    if (rc >= 0)
        rc = sample_key(j, err);
    if (rc < 0)
        goto fail;
    sdiff_noise_on_add(j->noise, note_noise, j);
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
    rc = start_threads(j, err);
    if (rc < 0)
        goto fail;
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
    stop_threads(j); /* what is queued is still stored: it was finished */
    sync_stats(j);
    sdiff_queue_dispose(&j->todo);
    sdiff_queue_dispose(&j->done);
    for (size_t i = 0; j->workers && i < (j->njudges ? j->njudges : 1); i++) {
        sdiff_redact_free(j->workers[i].own_redact);
        sdiff_rules_differs_free(j->workers[i].differs);
    }
    sdiff_free(j->workers);
    sdiff_learner_free(j->evidence);
    sdiff_noise_free(j->noise);
    sdiff_free(j->buckets);
    pthread_rwlock_destroy(&j->noise_lock);
    pthread_mutex_destroy(&j->mu);
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
