/*
 * Unit tests of model/tt_eval_model, the model scorer: on random models of
 * every kind (no window, sliding window, hopping window; 2TS and
 * 2TS-Plus) the backtest's ranks equal a replay that does what the stream
 * does (one pass in time order, tt_model_user_state over each user's
 * events, score then step), and the groups of a model without phi_u.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/tt_eval.h"
#include "model/tt_kern.h"
#include "tests/unit/eval_fixture.h"

/* ------------------------------------- a real model: stream equivalence */

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

/* The log of the model tests: 4000 events, 80 users, 700 items (20 new
 * after the training part), t* 15, scored over the test part into *ev. */
static void test_log(struct tt_dataset *ds, struct tt_split *split,
                     struct tt_eval_opts *o, tt_eval_t **ev)
{
    make_ds(ds, 4000, 80, 700, 20, 2800, 4);
    assert_int_equal(tt_split_compute(ds, 0.7, 0.1, split), TT_ERR_OK);
    o->tstar = 15;
    assert_int_equal(tt_eval_new(ev, ds, split, split->valid_end, ds->n, o,
                                 NULL, 0),
                     TT_ERR_OK);
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

    test_log(&ds, &split, &o, &ev);
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

    test_log(&ds, &split, &o, &ev);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_equivalence),
        cmocka_unit_test(test_model_equivalence_plus),
        cmocka_unit_test(test_model_window),
        cmocka_unit_test(test_model_hop),
        cmocka_unit_test(test_model_no_phi_groups),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
