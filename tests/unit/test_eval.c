/*
 * Unit tests of model/tt_eval (the evaluation protocol): ranks and ties,
 * exact MRR and Recall on hand-made scores, the candidate sets (no true
 * item, distinct, from the training catalogue, the same for every run and
 * thread count),
 * the streaming order (per-user processing equals a global time-ordered
 * replay, unknown items, new users), buckets, embedding-change statistics
 * and the validation sample.  The model scorer (every model kind against a
 * stream-like replay) is tested in test_eval_model.c.
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
        cmocka_unit_test(test_sample),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
