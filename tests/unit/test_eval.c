/*
 * Unit tests of model/tt_eval (the evaluation protocol): ranks and ties,
 * exact MRR and Recall on hand-made scores, the candidate sets (no true
 * item, distinct, from the training catalogue, the same for every run and
 * thread count),
 * the streaming order (per-user processing equals a global time-ordered
 * replay through the canonical model API, unknown items, new users; for a
 * window model, a recompute with tt_model_user_state over each user's whole
 * history), buckets, embedding-change statistics and the validation sample.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"
#include "model/tt_eval.h"
#include "model/tt_kern.h"
#include "model/tt_model_int.h"

#include "tests/unit/eval_fixture.h"

/* ------------------------------------------------------------------ ranks */

static void test_rank_ties(void **state)
{
    float neg[5] = {0.5f, 1.0f, 2.0f, 1.0f, -3.0f};
    float eq[4] = {1, 1, 1, 1};
    float nanv[3] = {NAN, 0.0f, 5.0f};

    (void)state;
    assert_int_equal(tt_eval_rank(3.0f, neg, 5), 1);
    assert_int_equal(tt_eval_rank(1.5f, neg, 5), 2);
    /* ties count against the true item */
    assert_int_equal(tt_eval_rank(1.0f, neg, 5), 4);
    assert_int_equal(tt_eval_rank(-3.0f, neg, 5), 6);
    assert_int_equal(tt_eval_rank(1.0f, eq, 4), 5);
    /* a NaN negative counts against; a NaN truth is last */
    assert_int_equal(tt_eval_rank(1.0f, nanv, 3), 3);
    assert_int_equal(tt_eval_rank(NAN, neg, 5), 6);
    assert_int_equal(tt_eval_rank(1.0f, NULL, 0), 1);
}

static void test_buckets(void **state)
{
    struct tt_eval_bucket b[TT_EVAL_BUCKETS_MAX];
    uint32_t n;

    (void)state;
    n = tt_eval_buckets(100, b);
    assert_int_equal(n, 6);
    assert_true(b[0].lo == 0 && b[0].hi == 0);
    assert_true(b[1].lo == 1 && b[1].hi == 5);
    assert_true(b[2].lo == 6 && b[2].hi == 20);
    assert_true(b[3].lo == 21 && b[3].hi == 100);
    assert_true(b[4].lo == 101 && b[4].hi == 500);
    assert_true(b[5].lo == 501 && b[5].hi == UINT32_MAX);
    assert_int_equal(tt_eval_bucket_of(b, n, 0), 0);
    assert_int_equal(tt_eval_bucket_of(b, n, 5), 1);
    assert_int_equal(tt_eval_bucket_of(b, n, 100), 3);
    assert_int_equal(tt_eval_bucket_of(b, n, 101), 4);
    assert_int_equal(tt_eval_bucket_of(b, n, 1u << 30), 5);

    n = tt_eval_buckets(5, b);
    assert_int_equal(n, 5);
    assert_true(b[2].lo == 6 && b[2].hi == 20);
    n = tt_eval_buckets(0, b);
    assert_int_equal(n, 5);
    assert_true(b[1].lo == 1 && b[1].hi == 5);
    n = tt_eval_buckets(1000, b);
    assert_int_equal(n, 6);
    assert_true(b[4].lo == 501 && b[4].hi == 1000);
    assert_true(b[5].lo == 1001 && b[5].hi == UINT32_MAX);
    n = tt_eval_buckets(7, b);
    assert_true(b[2].lo == 6 && b[2].hi == 7 && b[3].lo == 8 && b[3].hi == 20);
    /* every count falls in exactly one bucket, and t* is a bound */
    for (uint32_t t = 0; t < 600; t += 7) {
        n = tt_eval_buckets(t, b);
        for (uint32_t c = 0; c < 700; c++) {
            uint32_t k = tt_eval_bucket_of(b, n, c), hits = 0;

            for (uint32_t i = 0; i < n; i++)
                hits += c >= b[i].lo && c <= b[i].hi;
            assert_int_equal(hits, 1);
            assert_true(c >= b[k].lo && c <= b[k].hi);
        }
        assert_int_equal(b[tt_eval_bucket_of(b, n, t)].hi, t);
    }
}

/* ------------------------------------------------------------- candidates */

static void test_negatives(void **state)
{
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_eval_opts o = opts_default();
    tt_eval_t *ev, *ev2;
    uint32_t a[499], b[499], n_items;
    char err[256];
    size_t differ = 0;

    (void)state;
    make_ds(&ds, 20000, 300, 1500, 50, 14000, 1);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.1, &split), TT_ERR_OK);
    assert_int_equal(tt_eval_new(&ev, &ds, &split, split.valid_end, ds.n, &o,
                                 err, sizeof err),
                     TT_ERR_OK);
    o.threads = 2; /* options other than seed and negatives do not matter */
    o.max_scored = 100;
    assert_int_equal(tt_eval_new(&ev2, &ds, &split, split.valid_end, ds.n, &o,
                                 err, sizeof err),
                     TT_ERR_OK);
    n_items = tt_dataset_n_items(&ds);
    for (size_t j = split.valid_end; j < ds.n; j += 37) {
        uint32_t k = tt_eval_negatives_of(ev, j, a, 499);
        uint8_t *seen = calloc(n_items, 1);

        assert_int_equal(k, 499);
        assert_int_equal(tt_eval_negatives_of(ev2, j, b, 499), 499);
        assert_memory_equal(a, b, sizeof a);
        for (uint32_t i = 0; i < k; i++) {
            assert_true(a[i] < n_items);
            assert_int_not_equal(a[i], ds.item[j]);
            assert_true(tt_eval_item_in_train(ev, a[i]));
            assert_int_equal(seen[a[i]], 0);
            seen[a[i]] = 1;
        }
        free(seen);
        tt_eval_negatives_of(ev, j + 1 < ds.n ? j + 1 : j - 1, b, 499);
        differ += memcmp(a, b, sizeof a) != 0;
    }
    assert_true(differ > 0);
    /* too small a buffer: nothing */
    assert_int_equal(tt_eval_negatives_of(ev, split.valid_end, a, 10), 0);
    tt_eval_destroy(ev);
    tt_eval_destroy(ev2);
    tt_dataset_release(&ds);
}

/* Uniformity: over many interactions each pool item is drawn about equally
 * often (chi-square-like bound), the true item never. */
static void test_negatives_uniform(void **state)
{
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_eval_opts o = opts_default();
    tt_eval_t *ev;
    uint32_t neg[40], n_items;
    uint64_t *hits;
    size_t draws = 0;
    double mean, chi = 0;

    (void)state;
    o.negatives = 40;
    make_ds(&ds, 30000, 50, 100, 0, 0, 2);
    assert_int_equal(tt_split_compute(&ds, 0.5, 0.1, &split), TT_ERR_OK);
    assert_int_equal(
        tt_eval_new(&ev, &ds, &split, split.valid_end, ds.n, &o, NULL, 0),
        TT_ERR_OK);
    n_items = tt_dataset_n_items(&ds);
    assert_int_equal(tt_eval_pool_size(ev), n_items);
    hits = calloc(n_items, sizeof(*hits));
    for (size_t j = split.valid_end; j < ds.n; j++) {
        uint32_t k = tt_eval_negatives_of(ev, j, neg, 40);

        for (uint32_t i = 0; i < k; i++)
            hits[neg[i]]++;
        draws += k;
    }
    /* each item is a candidate unless it is the truth: expected draws of i
     * = 40/99 of the interactions whose truth is not i */
    mean = (double)draws / n_items;
    for (uint32_t i = 0; i < n_items; i++)
        chi += (hits[i] - mean) * (hits[i] - mean) / mean;
    /* 99 degrees of freedom; the mean varies a little with item popularity */
    assert_true(chi < 300);
    free(hits);
    tt_eval_destroy(ev);
    tt_dataset_release(&ds);
}

/* ----------------------------------------------- hand-made scorers: exact */

/* Scores item i by value[i] (dim 1), never moves: ranks are known. */
struct val_ctx {
    float *value;
    const float **item;
};

static int val_start(const void *ctx, uint32_t u, void *run)
{
    (void)ctx;
    (void)u;
    (void)run;
    return TT_EVAL_STATIC;
}

static void val_step(const void *ctx, void *run, const float *x)
{
    (void)ctx;
    (void)run;
    (void)x;
}

static void val_query(const void *ctx, const void *run, float *q)
{
    (void)ctx;
    (void)run;
    q[0] = 1.0f;
}

static void test_exact_metrics(void **state)
{
    /* 12 training items, negatives 11 >= the pool: every other training
     * item is a candidate, so each rank is determined by the values. */
    struct tt_dataset ds;
    struct tt_split split = {.train_end = 24, .valid_end = 24};
    struct tt_eval_opts o = opts_default();
    struct tt_eval_result res;
    struct val_ctx vc;
    struct tt_eval_scorer sc;
    tt_eval_t *ev;
    /* test truths: training items 0..11 with value = index, plus item 99
     * (unseen in training) */
    int64_t truth[6] = {11, 10, 0, 5, 99, 3};
    double want_rr = 0;
    uint32_t want_hits = 0;

    (void)state;
    o.negatives = 11;
    assert_int_equal(tt_dataset_init(&ds), TT_ERR_OK);
    for (int i = 0; i < 24; i++) {
        struct tt_event e = {.user_id = i % 3, .item_id = i % 12,
                             .ts_ms = i, .category = -1};
        assert_int_equal(tt_dataset_add(&ds, &e), TT_ERR_OK);
    }
    for (int i = 0; i < 6; i++) {
        struct tt_event e = {.user_id = i % 2, .item_id = truth[i],
                             .ts_ms = 100 + i, .category = -1};
        assert_int_equal(tt_dataset_add(&ds, &e), TT_ERR_OK);
    }
    assert_int_equal(tt_dataset_finish(&ds), TT_ERR_OK);
    assert_int_equal(tt_eval_new(&ev, &ds, &split, 24, ds.n, &o, NULL, 0),
                     TT_ERR_OK);
    vc.value = calloc(13, sizeof(float));
    vc.item = calloc(13, sizeof(*vc.item));
    for (uint32_t i = 0; i < tt_dataset_n_items(&ds); i++) {
        int64_t id = tt_ids_id(ds.items, i);

        vc.value[i] = (float)id;
        vc.item[i] = id == 99 ? NULL : &vc.value[i];
    }
    for (int i = 0; i < 6; i++) {
        /* value v among 0..11: rank 12 - v; unknown: worst = 12 */
        uint32_t rank = truth[i] == 99 ? 12 : (uint32_t)(12 - truth[i]);

        want_rr += 1.0 / rank;
        want_hits += rank <= 10;
    }
    memset(&sc, 0, sizeof sc);
    sc.name = "values";
    sc.dim = 1;
    sc.item = vc.item;
    sc.ctx = &vc;
    sc.start = val_start;
    sc.step = val_step;
    sc.query = val_query;
    assert_int_equal(tt_eval_run(ev, &sc, &res, NULL, 0), TT_ERR_OK);
    assert_int_equal(res.n, 6);
    assert_true(fabs(res.mrr - want_rr / 6) < 1e-9);
    assert_true(fabs(res.recall - want_hits / 6.0) < 1e-12);
    assert_int_equal(res.n_unknown, 1);
    assert_int_equal(res.n_candidates, 12);
    /* users 0 and 1 both have 8 training events: one bucket, 6-20 */
    {
        uint32_t b = tt_eval_bucket_of(res.bucket, res.n_buckets, 8);

        assert_int_equal(res.bucket[b].lo, 6);
        assert_int_equal(res.bucket[b].hi, 20);
        assert_int_equal(res.bucket[b].n, 6);
        assert_int_equal(res.bucket[b].users, 2);
    }
    assert_int_equal(res.group_n[0], 6);

    /* all scores equal: every rank is the worst */
    for (int i = 0; i < 13; i++)
        vc.value[i] = 0.25f;
    assert_int_equal(tt_eval_run(ev, &sc, &res, NULL, 0), TT_ERR_OK);
    assert_true(fabs(res.mrr - 1.0 / 12) < 1e-9);
    assert_true(res.recall == 0.0);

    free(vc.value);
    free(vc.item);
    tt_eval_destroy(ev);
    tt_dataset_release(&ds);
}

/* ------------------------------------------------- streaming order */

/* Logs, per user, how many steps its state had at each query; items unseen
 * in training have no vector. */
struct log_ctx {
    const tt_eval_t *ev;
    uint32_t *q_steps; /* [n_events] per query, in order of queries */
    uint32_t *q_user;
    size_t n_q;
    const float **item;
    float dummy[2];
};

struct log_run {
    uint32_t u, steps;
    float h[2];
};

static int log_start(const void *ctx, uint32_t u, void *run)
{
    const struct log_ctx *c = ctx;
    struct log_run *r = run;

    r->u = u;
    r->steps = 0;
    r->h[0] = r->h[1] = 0;
    /* users with more than t* training events start at the cutoff */
    return tt_eval_train_count(c->ev, u) > tt_eval_opts(c->ev)->tstar
               ? TT_EVAL_ACTIVE | TT_EVAL_FROM_CUTOFF
               : 0;
}

static void log_step(const void *ctx, void *run, const float *x)
{
    struct log_run *r = run;

    (void)ctx;
    (void)x;
    r->steps++;
    r->h[0] += 1.0f;
}

static void log_query(const void *ctx, const void *run, float *q)
{
    struct log_ctx *c = (struct log_ctx *)ctx; /* test only: single thread */
    const struct log_run *r = run;

    c->q_steps[c->n_q] = r->steps;
    c->q_user[c->n_q++] = r->u;
    q[0] = q[1] = 0;
}

static const float *log_state(const void *ctx, const void *run)
{
    (void)ctx;
    return ((const struct log_run *)run)->h;
}

static void test_streaming_order(void **state)
{
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_eval_opts o = opts_default();
    struct tt_eval_result res;
    struct tt_eval_scorer sc;
    struct log_ctx c;
    tt_eval_t *ev;
    uint32_t n_users, n_items;
    uint64_t want_steps[2][TT_EVAL_STEPS_MAX + 2] = {{0}};

    (void)state;
    make_ds(&ds, 6000, 200, 80, 10, 4400, 3);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.1, &split), TT_ERR_OK);
    o.tstar = 20;
    assert_int_equal(
        tt_eval_new(&ev, &ds, &split, split.valid_end, ds.n, &o, NULL, 0),
        TT_ERR_OK);
    n_users = tt_dataset_n_users(&ds);
    n_items = tt_dataset_n_items(&ds);
    memset(&c, 0, sizeof c);
    c.ev = ev;
    c.q_steps = calloc(ds.n, sizeof(uint32_t));
    c.q_user = calloc(ds.n, sizeof(uint32_t));
    c.item = calloc(n_items, sizeof(*c.item));
    for (uint32_t i = 0; i < n_items; i++)
        c.item[i] = tt_eval_item_in_train(ev, i) ? c.dummy : NULL;
    memset(&sc, 0, sizeof sc);
    sc.name = "log";
    sc.dim = 2;
    sc.item = c.item;
    sc.run_bytes = sizeof(struct log_run);
    sc.ctx = &c;
    sc.start = log_start;
    sc.step = log_step;
    sc.query = log_query;
    sc.state = log_state;
    assert_int_equal(tt_eval_run(ev, &sc, &res, NULL, 0), TT_ERR_OK);

    /* The reference: a replay of the whole log in time order with a step
     * counter per user, like the stream processor. */
    {
        uint32_t *steps = calloc(n_users, sizeof(uint32_t));
        uint32_t *ref_u = calloc(ds.n, sizeof(uint32_t));
        uint32_t *ref_s = calloc(ds.n, sizeof(uint32_t));
        size_t n_ref = 0, unknown = 0, new_user = 0;

        for (size_t p = 0; p < ds.n; p++) {
            uint32_t u = ds.user[p];
            bool active = tt_eval_train_count(ev, u) > o.tstar;
            bool known = c.item[ds.item[p]] != NULL;

            if (p >= split.valid_end) {
                ref_u[n_ref] = u;
                ref_s[n_ref++] = steps[u];
                unknown += !known;
                new_user += tt_eval_train_count(ev, u) == 0;
            }
            if (active && p < split.train_end)
                continue;
            if (!known)
                continue;
            steps[u]++;
            if (p >= split.valid_end) {
                uint32_t bin = steps[u] <= TT_EVAL_STEPS_MAX
                                   ? steps[u]
                                   : TT_EVAL_STEPS_MAX + 1;
                want_steps[active][bin]++;
            }
        }
        assert_int_equal(c.n_q + unknown, n_ref);
        assert_int_equal(res.n, n_ref);
        assert_int_equal(res.n_unknown, unknown);
        assert_true(unknown > 0);
        assert_int_equal(res.n_new_user, new_user);
        /* Per user, the queries come in the reference's order with the
         * same step counts (unknown truths are not queried). */
        for (uint32_t u = 0; u < n_users; u++) {
            size_t a = 0, b = 0;

            for (;;) {
                while (a < c.n_q && c.q_user[a] != u)
                    a++;
                while (b < n_ref &&
                       (ref_u[b] != u ||
                        c.item[ds.item[split.valid_end + b]] == NULL))
                    b++;
                if (a >= c.n_q || b >= n_ref) {
                    assert_true(a >= c.n_q && b >= n_ref);
                    break;
                }
                assert_int_equal(c.q_steps[a], ref_s[b]);
                a++;
                b++;
            }
        }
        free(steps);
        free(ref_u);
        free(ref_s);
    }
    /* embedding change: every step moves h[0] by exactly 1 */
    for (int g = 0; g < 2; g++)
        for (int k = 1; k < TT_EVAL_STEPS_MAX + 2; k++) {
            assert_int_equal(res.change_n[g][k], want_steps[g][k]);
            if (want_steps[g][k])
                assert_true(fabs(res.change_mean[g][k] - 1.0) < 1e-12);
        }
    assert_true(want_steps[0][5] > 0 && want_steps[1][1] > 0);
    free(c.q_steps);
    free(c.q_user);
    free(c.item);
    tt_eval_destroy(ev);
    tt_dataset_release(&ds);
}

/* ------------------------------------- a real model: stream equivalence */

#define MD 8

/* window_k > 0: a window model (TT_MODEL_FLAG_WINDOW) with K = window_k,
 * and with hop > 0 a hopping-window model of hop H = hop. */
static tt_model_t *build_model_hop(const struct tt_dataset *ds,
                                   const tt_eval_t *ev, uint32_t tstar,
                                   bool plus, uint32_t window_k, uint32_t hop,
                                   uint64_t seed)
{
    struct tt_model_parts parts;
    struct tt_rng rng;
    uint32_t n_items = tt_dataset_n_items(ds), n_users = tt_dataset_n_users(ds);
    int64_t *item_ids = calloc(n_items, sizeof(int64_t));
    int64_t *user_ids = calloc(n_users, sizeof(int64_t));
    float *items = calloc((size_t)n_items * MD, sizeof(float));
    float *phi = calloc((size_t)n_users * MD, sizeof(float));
    size_t nd = tt_model_dense_floats(MD, plus);
    float *dense = calloc(nd, sizeof(float));
    uint32_t ni = 0, na = 0;
    tt_model_t *m = NULL;
    char err[256];

    tt_rng_seed(&rng, seed, 1);
    for (uint32_t i = 0; i < n_items; i++) {
        if (!tt_eval_item_in_train(ev, i))
            continue;
        item_ids[ni] = tt_ids_id(ds->items, i);
        for (int d = 0; d < MD; d++)
            items[(size_t)ni * MD + d] = (float)tt_rng_normal(&rng);
        ni++;
    }
    for (uint32_t u = 0; u < n_users; u++) {
        if (tt_eval_train_count(ev, u) <= tstar)
            continue;
        user_ids[na] = tt_ids_id(ds->users, u);
        for (int d = 0; d < MD; d++)
            phi[(size_t)na * MD + d] = (float)tt_rng_normal(&rng);
        na++;
    }
    for (size_t i = 0; i < nd; i++)
        dense[i] = (float)(0.4 * tt_rng_normal(&rng));
    memset(&parts, 0, sizeof parts);
    parts.dim = MD;
    parts.tstar = tstar;
    parts.k = window_k ? window_k : tstar;
    parts.flags = (plus ? TT_MODEL_FLAG_PLUS : 0) |
                  (window_k ? TT_MODEL_FLAG_WINDOW : 0) |
                  (window_k && hop ? TT_MODEL_FLAGS_HOP(hop) : 0);
    parts.version = 1;
    parts.seed = seed;
    parts.n_items = ni;
    parts.item_ids = item_ids;
    parts.items = items;
    parts.n_active = na;
    parts.user_ids = user_ids;
    parts.phi = phi;
    parts.dense = dense;
    assert_int_equal(tt_model_build(&m, &parts, err, sizeof err), TT_ERR_OK);
    free(item_ids);
    free(user_ids);
    free(items);
    free(phi);
    free(dense);
    return m;
}

static tt_model_t *build_model(const struct tt_dataset *ds,
                               const tt_eval_t *ev, uint32_t tstar, bool plus,
                               uint32_t window_k, uint64_t seed)
{
    return build_model_hop(ds, ev, tstar, plus, window_k, 0, seed);
}

/* What the stream does: one pass in time order over every event, a run per
 * user in a table, score-then-step.  Returns the sum of 1/rank. */
static double replay_rr(const struct tt_dataset *ds, const tt_eval_t *ev,
                        const tt_model_t *m, size_t begin, size_t end,
                        uint32_t tstar, size_t *n_scored)
{
    uint32_t n_users = tt_dataset_n_users(ds);
    struct tt_user_run *runs = calloc(n_users, sizeof(*runs));
    bool *started = calloc(n_users, sizeof(bool));
    const struct tt_split *split = tt_eval_split(ev);
    uint32_t neg[500];
    float q[MD], s[500];
    double rr = 0;

    *n_scored = 0;
    for (size_t p = 0; p < end; p++) {
        uint32_t u = ds->user[p];
        int64_t uid = tt_ids_id(ds->users, u);
        const float *x = tt_model_item(m, tt_ids_id(ds->items, ds->item[p]));
        bool active = tt_eval_train_count(ev, u) > tstar;

        if (!started[u]) {
            tt_model_user_start(m, uid, active, &runs[u]);
            started[u] = true;
        }
        if (p >= begin && tt_eval_is_scored(ev, p)) {
            uint32_t k = tt_eval_negatives_of(ev, p, neg, 500), rank;

            if (!x) {
                rank = k + 1;
            } else {
                tt_model_user_query(m, &runs[u], q);
                for (uint32_t i = 0; i < k; i++) {
                    const float *xn =
                        tt_model_item(m, tt_ids_id(ds->items, neg[i]));
                    s[i] = tt_kern_dot(q, xn, MD);
                }
                rank = tt_eval_rank(tt_kern_dot(q, x, MD), s, k);
            }
            rr += 1.0 / rank;
            ++*n_scored;
        }
        if (runs[u].cell == TT_CELL_ACTIVE && p < split->train_end)
            continue;
        if (x)
            tt_model_user_step(m, &runs[u], x);
    }
    free(runs);
    free(started);
    return rr;
}

static void check_model_equivalence(bool plus)
{
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_eval_opts o = opts_default();
    struct tt_eval_model_scorer ms;
    struct tt_eval_result r1, r2;
    tt_eval_t *ev, *evv;
    tt_model_t *m;
    size_t n;
    double rr;

    make_ds(&ds, 4000, 80, 700, 20, 2800, 4);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.1, &split), TT_ERR_OK);
    o.tstar = 15;
    assert_int_equal(
        tt_eval_new(&ev, &ds, &split, split.valid_end, ds.n, &o, NULL, 0),
        TT_ERR_OK);
    m = build_model(&ds, ev, o.tstar, plus, 0, 9);
    assert_int_equal(tt_eval_model_init(&ms, ev, m, "2ts"), TT_ERR_OK);
    assert_int_equal(tt_eval_run(ev, &ms.sc, &r1, NULL, 0), TT_ERR_OK);
    rr = replay_rr(&ds, ev, m, split.valid_end, ds.n, o.tstar, &n);
    assert_int_equal(r1.n, n);
    assert_true(fabs(r1.mrr - rr / (double)n) < 1e-9);
    assert_true(r1.n_unknown > 0);
    assert_true(r1.group_n[0] > 0 && r1.group_n[1] > 0);
    tt_eval_model_release(&ms);
    tt_eval_destroy(ev);

    /* the same with 2 and 3 threads: bit-identical results */
    for (int t = 2; t <= 3; t++) {
        o.threads = t;
        assert_int_equal(
            tt_eval_new(&ev, &ds, &split, split.valid_end, ds.n, &o, NULL, 0),
            TT_ERR_OK);
        assert_int_equal(tt_eval_model_init(&ms, ev, m, "2ts"), TT_ERR_OK);
        assert_int_equal(tt_eval_run(ev, &ms.sc, &r2, NULL, 0), TT_ERR_OK);
        r2.seconds = r1.seconds;
        assert_memory_equal(&r1, &r2, sizeof r1);
        tt_eval_model_release(&ms);
        tt_eval_destroy(ev);
    }

    /* validation: a sample of 150 of the validation slice, same replay */
    o.max_scored = 150;
    assert_int_equal(tt_eval_new(&evv, &ds, &split, split.train_end,
                                 split.valid_end, &o, NULL, 0),
                     TT_ERR_OK);
    assert_int_equal(tt_eval_n_scored(evv), 150);
    rr = replay_rr(&ds, evv, m, split.train_end, split.valid_end, o.tstar, &n);
    assert_int_equal(n, 150);
    assert_true(fabs(tt_eval_validate(evv, m) - rr / 150.0) < 1e-9);
    tt_eval_destroy(evv);
    tt_model_destroy(m);
    tt_dataset_release(&ds);
}

static void test_model_equivalence(void **state)
{
    (void)state;
    check_model_equivalence(false);
}

static void test_model_equivalence_plus(void **state)
{
    (void)state;
    check_model_equivalence(true);
}

/* What the stream does with a window model: each user's state is
 * tt_model_user_state() over the known items of ALL its earlier events
 * (training ones too), recomputed before every scored event.  Returns the
 * sum of 1/rank. */
static double replay_rr_window(const struct tt_dataset *ds,
                               const tt_eval_t *ev, const tt_model_t *m,
                               size_t begin, size_t end, uint32_t tstar,
                               size_t *n_scored)
{
    uint32_t n_users = tt_dataset_n_users(ds);
    const float **hist = calloc(end + 1, sizeof(*hist));
    uint64_t *off = calloc((size_t)n_users + 1, sizeof(*off));
    uint32_t *len = calloc(n_users, sizeof(*len));
    struct tt_user_run run;
    uint32_t neg[500];
    float q[MD], s[500];
    double rr = 0;

    for (size_t p = 0; p < end; p++)
        off[ds->user[p] + 1]++;
    for (uint32_t u = 0; u < n_users; u++)
        off[u + 1] += off[u];
    *n_scored = 0;
    for (size_t p = 0; p < end; p++) {
        uint32_t u = ds->user[p];
        const float *x = tt_model_item(m, tt_ids_id(ds->items, ds->item[p]));

        if (p >= begin && tt_eval_is_scored(ev, p)) {
            uint32_t k = tt_eval_negatives_of(ev, p, neg, 500), rank;

            if (!x) {
                rank = k + 1;
            } else {
                tt_model_user_state(m, tt_ids_id(ds->users, u),
                                    tt_eval_train_count(ev, u) > tstar,
                                    hist + off[u], len[u], &run);
                tt_model_user_query(m, &run, q);
                for (uint32_t i = 0; i < k; i++)
                    s[i] = tt_kern_dot(
                        q, tt_model_item(m, tt_ids_id(ds->items, neg[i])), MD);
                rank = tt_eval_rank(tt_kern_dot(q, x, MD), s, k);
            }
            rr += 1.0 / rank;
            ++*n_scored;
        }
        hist[off[u] + len[u]++] = x; /* NULL: unknown, no step */
    }
    free(hist);
    free(off);
    free(len);
    return rr;
}

/* A window model in the harness (last K training items at the cutoff, then
 * a recompute per event; hopping window: the events (a(c), c] at the
 * cutoff, then a step per event and a recompute per hop) scores exactly as
 * the stream's recompute from the whole history (tt_model_user_state over
 * every event, unknown items as NULL); the window moves active users, and
 * it is not the paper's rule (the same parameters without the flag score
 * differently). */
static void check_model_window(bool plus, uint32_t hop)
{
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_eval_opts o = opts_default();
    struct tt_eval_model_scorer ms;
    struct tt_eval_result r1, r2, r0;
    tt_eval_t *ev, *evv;
    tt_model_t *m, *m0;
    size_t n;
    double rr;

    make_ds(&ds, 4000, 80, 700, 20, 2800, 4);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.1, &split), TT_ERR_OK);
    o.tstar = 15;
    assert_int_equal(
        tt_eval_new(&ev, &ds, &split, split.valid_end, ds.n, &o, NULL, 0),
        TT_ERR_OK);
    m = build_model_hop(&ds, ev, o.tstar, plus, 4, hop, 9);
    m0 = build_model(&ds, ev, o.tstar, plus, 0, 9);
    assert_int_equal(tt_eval_model_init(&ms, ev, m, "2ts"), TT_ERR_OK);
    assert_int_equal(ms.hop, hop);
    assert_int_equal(tt_eval_run(ev, &ms.sc, &r1, NULL, 0), TT_ERR_OK);
    tt_eval_model_release(&ms);
    rr = replay_rr_window(&ds, ev, m, split.valid_end, ds.n, o.tstar, &n);
    assert_int_equal(r1.n, n);
    assert_true(fabs(r1.mrr - rr / (double)n) < 1e-9);
    assert_true(r1.n_unknown > 0); /* unknown items count toward a hop */
    assert_true(r1.group_n[0] > 0 && r1.group_n[1] > 0);
    /* active users take steps and change with every event */
    assert_true(r1.change_n[1][1] > 0 && r1.change_mean[1][1] > 0);
    /* the paper's rule on the same parameters: inactive users identical,
     * active ones not */
    assert_int_equal(tt_eval_model_init(&ms, ev, m0, "2ts"), TT_ERR_OK);
    assert_int_equal(tt_eval_run(ev, &ms.sc, &r0, NULL, 0), TT_ERR_OK);
    tt_eval_model_release(&ms);
    assert_true(r0.group_mrr[0] == r1.group_mrr[0]);
    assert_true(r0.group_mrr[1] != r1.group_mrr[1]);
    /* threads do not change a bit */
    o.threads = 3;
    tt_eval_destroy(ev);
    assert_int_equal(
        tt_eval_new(&ev, &ds, &split, split.valid_end, ds.n, &o, NULL, 0),
        TT_ERR_OK);
    assert_int_equal(tt_eval_model_init(&ms, ev, m, "2ts"), TT_ERR_OK);
    assert_int_equal(tt_eval_run(ev, &ms.sc, &r2, NULL, 0), TT_ERR_OK);
    tt_eval_model_release(&ms);
    r2.seconds = r1.seconds;
    assert_memory_equal(&r1, &r2, sizeof r1);
    tt_eval_destroy(ev);
    /* validation (stops at each user's last sampled event): same replay */
    o.max_scored = 150;
    assert_int_equal(tt_eval_new(&evv, &ds, &split, split.train_end,
                                 split.valid_end, &o, NULL, 0),
                     TT_ERR_OK);
    rr = replay_rr_window(&ds, evv, m, split.train_end, split.valid_end,
                          o.tstar, &n);
    assert_int_equal(n, 150);
    assert_true(fabs(tt_eval_validate(evv, m) - rr / 150.0) < 1e-9);
    /* validation recomputes a window only for scored events (no change
     * statistics); the full run recomputes after every event: same bits */
    assert_int_equal(tt_eval_model_init(&ms, evv, m, "2ts"), TT_ERR_OK);
    assert_int_equal(tt_eval_run(evv, &ms.sc, &r2, NULL, 0), TT_ERR_OK);
    tt_eval_model_release(&ms);
    assert_true(tt_eval_validate(evv, m) == r2.mrr);
    tt_eval_destroy(evv);
    tt_model_destroy(m);
    tt_model_destroy(m0);
    tt_dataset_release(&ds);
}

static void test_model_window(void **state)
{
    (void)state;
    check_model_window(false, 0);
    check_model_window(true, 0);
}

static void test_model_hop(void **state)
{
    (void)state;
    check_model_window(false, 2);
    check_model_window(true, 2);
    check_model_window(false, 1);
    check_model_window(true, 4);
}

/* A model without any phi_u (the GRU baseline): every user runs the
 * inactive cell from psi over all its events, and is reported in the group
 * 2TS would put it in (training count > the evaluation's t*). */
static void test_model_no_phi_groups(void **state)
{
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_eval_opts o = opts_default();
    struct tt_eval_model_scorer ms;
    struct tt_eval_result r;
    tt_eval_t *ev;
    tt_model_t *m;
    uint64_t want_active = 0;
    size_t n;
    double rr;

    (void)state;
    make_ds(&ds, 3000, 60, 300, 0, 0, 8);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.1, &split), TT_ERR_OK);
    o.tstar = 15;
    assert_int_equal(
        tt_eval_new(&ev, &ds, &split, split.valid_end, ds.n, &o, NULL, 0),
        TT_ERR_OK);
    m = build_model(&ds, ev, 1000000, false, 0, 3);
    assert_int_equal(tt_eval_model_init(&ms, ev, m, "gru"), TT_ERR_OK);
    assert_int_equal(tt_eval_run(ev, &ms.sc, &r, NULL, 0), TT_ERR_OK);
    for (size_t p = split.valid_end; p < ds.n; p++)
        want_active += tt_eval_train_count(ev, ds.user[p]) > o.tstar;
    assert_true(want_active > 0);
    assert_int_equal(r.group_n[1], want_active);
    assert_true(r.change_n[1][TT_EVAL_STEPS_MAX + 1] > 0);
    rr = replay_rr(&ds, ev, m, split.valid_end, ds.n, 1000000, &n);
    assert_true(fabs(r.mrr - rr / (double)n) < 1e-9);
    tt_eval_model_release(&ms);
    tt_model_destroy(m);
    tt_eval_destroy(ev);
    tt_dataset_release(&ds);
}

static void test_sample(void **state)
{
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_eval_opts o = opts_default();
    tt_eval_t *a, *b;
    size_t n = 0, same = 0;
    char err[200];

    (void)state;
    make_ds(&ds, 5000, 100, 300, 0, 0, 5);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.1, &split), TT_ERR_OK);
    o.max_scored = 333;
    assert_int_equal(
        tt_eval_new(&a, &ds, &split, split.valid_end, ds.n, &o, NULL, 0),
        TT_ERR_OK);
    assert_int_equal(
        tt_eval_new(&b, &ds, &split, split.valid_end, ds.n, &o, NULL, 0),
        TT_ERR_OK);
    for (size_t j = 0; j < ds.n; j++) {
        n += tt_eval_is_scored(a, j);
        same += tt_eval_is_scored(a, j) == tt_eval_is_scored(b, j);
        if (j < split.valid_end)
            assert_false(tt_eval_is_scored(a, j));
    }
    assert_int_equal(n, 333);
    assert_int_equal(same, ds.n);
    tt_eval_destroy(a);
    tt_eval_destroy(b);
    /* bad slices and options */
    assert_int_equal(tt_eval_new(&a, &ds, &split, 10, 10, &o, err, sizeof err),
                     TT_ERR_INVAL);
    assert_null(a);
    o.negatives = 0;
    assert_int_equal(
        tt_eval_new(&a, &ds, &split, 0, ds.n, &o, err, sizeof err),
        TT_ERR_INVAL);
    tt_dataset_release(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rank_ties),
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_negatives),
        cmocka_unit_test(test_negatives_uniform),
        cmocka_unit_test(test_exact_metrics),
        cmocka_unit_test(test_streaming_order),
        cmocka_unit_test(test_model_equivalence),
        cmocka_unit_test(test_model_equivalence_plus),
        cmocka_unit_test(test_model_window),
        cmocka_unit_test(test_model_hop),
        cmocka_unit_test(test_model_no_phi_groups),
        cmocka_unit_test(test_sample),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
