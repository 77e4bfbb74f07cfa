/*
 * capture_learn.c - noise learned while capturing: capture sees the old service answer the
 * same safe request again and again, which is the evidence the noise rule wants (see
 * shadowdiff/diff.h). What it learns goes into the corpus with its evidence, so a replay,
 * mirror or gate of that corpus starts out knowing which fields vary, with no second
 * instance and before its own first answers.
 */
#include "shadowdiff/run.h"

#include <stdlib.h>
#include <string.h>

#include "shadowdiff/diff.h"
#include "shadowdiff/route.h"
#include "shadowdiff/rules.h"

struct sdiff_capture_learner {
    struct sdiff_store *corpus;    /* borrowed */
    struct sdiff_rules *rules;     /* borrowed, or own_rules */
    struct sdiff_rules *own_rules;
    struct sdiff_noise *noise;
    struct sdiff_learner *learner;
    struct sdiff_err store_err;    /* a failed save, from inside the noise callback */
    uint64_t learned;
};

/* Store a key as soon as it is learned, with the evidence it was learned on. */
static int save(const char *route, const char *key, void *ud)
{
    struct sdiff_capture_learner *c = ud;
    struct sdiff_store_noise n = {.route = route, .key = key, .confidence = -1};
    struct sdiff_noise_evidence ev;
    struct sdiff_buf examples;
    sdiff_buf_init(&examples, 1u << 16);
    int rc = SDIFF_OK;
    if (sdiff_learner_evidence(c->learner, route, key, &ev) == 1) {
        n.source = ev.source;
        n.pairs = ev.pairs;
        n.clients = ev.clients;
        n.confidence = ev.confidence;
        rc = sdiff_noise_examples_json(&ev, &examples);
        rc = rc < 0 ? rc : sdiff_buf_append(&examples, "", 1);
        n.examples_json = rc >= 0 ? (const char *)examples.data : NULL;
    }
    if (rc >= 0)
        rc = sdiff_store_save_noise(c->corpus, &n, &c->store_err);
    else
        rc = sdiff_err_set(&c->store_err, rc, "capture", "out of memory");
    sdiff_buf_dispose(&examples);
    c->learned += rc >= 0;
    return rc;
}

static int load_one(const char *route, const char *key, void *ud)
{
    return sdiff_noise_add(ud, route, key) < 0 ? SDIFF_ENOMEM : 0;
}

int sdiff_capture_learner_new(struct sdiff_capture_learner **out, struct sdiff_store *corpus,
                              struct sdiff_rules *rules, struct sdiff_err *err)
{
    struct sdiff_capture_learner *c = sdiff_calloc(1, sizeof *c);
    *out = NULL;
    if (c == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "capture", "out of memory");
    c->corpus = corpus;
    int rc = rules ? SDIFF_OK : sdiff_rules_load(&c->own_rules, NULL, err);
    c->rules = rules ? rules : c->own_rules;
    if (rc >= 0)
        rc = sdiff_noise_new(&c->noise);
    /* what the corpus knows already is not learned (nor stored) again */
    if (rc >= 0)
        rc = sdiff_store_load_noise(corpus, load_one, c->noise, err);
    if (rc >= 0)
        rc = sdiff_learner_new(&c->learner, c->noise, sdiff_rules_noise_rule(c->rules));
    if (rc < 0) {
        sdiff_capture_learner_free(c);
        return rc == SDIFF_ENOMEM ? sdiff_err_set(err, rc, "capture", "out of memory") : rc;
    }
    sdiff_noise_on_add(c->noise, save, c);
    *out = c;
    return SDIFF_OK;
}

int sdiff_capture_learner_feed(struct sdiff_capture_learner *c, const struct sdiff_exchange *ex,
                               struct sdiff_err *err)
{
    if (ex->state != SDIFF_EX_COMPLETE || !ex->req.present || !ex->resp.present)
        return 0;
    struct sdiff_buf rb;
    char route[256];
    sdiff_buf_init(&rb, sizeof route - 1);
    /* the route as the judge names it (inferred templates) */
    sdiff_routes_route(NULL, ex->req.method, ex->req.target, &rb);
    snprintf(route, sizeof route, "%s", rb.data ? (const char *)rb.data : "?");
    sdiff_buf_dispose(&rb);
    struct sdiff_differ *d = NULL;
    int rc = sdiff_rules_differ(c->rules, route, &d, err);
    if (rc < 0)
        return rc;
    c->store_err.msg[0] = '\0';
    rc = sdiff_learner_answer(c->learner, d, &ex->req, &ex->resp, route, ex->client,
                              ex->t_req_start, err);
    if (rc < 0 && c->store_err.msg[0])
        *err = c->store_err; /* the store said why */
    return rc;
}

uint64_t sdiff_capture_learner_learned(const struct sdiff_capture_learner *c)
{
    return c ? c->learned : 0;
}

void sdiff_capture_learner_free(struct sdiff_capture_learner *c)
{
    if (c == NULL)
        return;
    sdiff_learner_free(c->learner);
    sdiff_noise_free(c->noise);
    sdiff_rules_free(c->own_rules);
    sdiff_free(c);
}
