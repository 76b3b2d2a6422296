/*
 * Unit tests of model/tt_score (the live backtest's scorer): scoring every
 * test interaction with the query the STREAM would have emitted before it
 * (tt_model_user_state over the user's earlier events, the stream's
 * definition of a state) gives exactly tt_eval_run's result over the model
 * scorer: MRR, Recall@10, groups, buckets with their user counts, unknown
 * items, new users, state steps and the embedding-change statistics, for
 * 2TS and 2TS-Plus, window and cutoff models, all test interactions or a
 * sample.  And tt_score_bt_stats gives the dataset figures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/tt_model_int.h"
#include "model/tt_score.h"
#include "tests/unit/eval_fixture.h"

/*
 * The stream's state of user u before position p: tt_model_user_state
 * over the user's earlier events (for the active cell of a model without a
 * window, only those at or after the cutoff).  *steps: the steps since the
 * state's start, counted as the harness counts them.
 */
static void stream_state(const struct tt_dataset *ds, const tt_eval_t *ev,
                         const tt_model_t *m, const float *const *items,
                         uint32_t u, size_t p, struct tt_user_run *run,
                         const float **xs, uint32_t *steps)
{
    struct tt_model_info info;
    int64_t uid = tt_ids_id(ds->users, u);
    bool allow;
    size_t train_end = tt_eval_split(ev)->train_end, n = 0;

    tt_model_get_info(m, &info);
    allow = tt_eval_train_count(ev, u) > info.tstar;
    tt_model_user_start(m, uid, allow, run);
    *steps = 0;
    for (size_t j = 0; j < p; j++) {
        if (ds->user[j] != u)
            continue;
        if (run->cell == TT_CELL_ACTIVE && !info.window && j < train_end)
            continue;
        xs[n++] = items[ds->item[j]];
        if (items[ds->item[j]] &&
            (run->cell == TT_CELL_INACTIVE || j >= train_end))
            ++*steps;
    }
    tt_model_user_state(m, uid, allow, xs, n, run);
}

static void check_live_equals_offline(bool plus, uint32_t window_k,
                                      size_t max_scored)
{
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_eval_opts o = opts_default();
    struct tt_eval_model_scorer ms;
    struct tt_eval_result r1, r2;
    struct tt_score sc;
    const float **items, **xs;
    struct tt_user_run *before, *after;
    tt_eval_t *ev;
    tt_model_t *m;
    float q[MD];

    make_ds(&ds, 3000, 60, 500, 20, 2100, 5);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.1, &split), TT_ERR_OK);
    o.tstar = 12;
    o.max_scored = max_scored;
    assert_int_equal(
        tt_eval_new(&ev, &ds, &split, split.valid_end, ds.n, &o, NULL, 0),
        TT_ERR_OK);
    m = build_model(&ds, ev, o.tstar, plus, window_k, 11);
    assert_int_equal(tt_eval_model_init(&ms, ev, m, "2ts"), TT_ERR_OK);
    assert_int_equal(tt_eval_run(ev, &ms.sc, &r1, NULL, 0), TT_ERR_OK);

    items = tt_score_item_table(&ds, m);
    xs = calloc(ds.n, sizeof(*xs));
    before = malloc(sizeof(*before));
    after = malloc(sizeof(*after));
    assert_non_null(items);
    assert_int_equal(tt_score_init(&sc, ev), TT_ERR_OK);
    for (size_t p = split.valid_end; p < ds.n; p++) {
        uint32_t u = ds.user[p], s0, s1;
        int group;

        stream_state(&ds, ev, m, items, u, p, before, xs, &s0);
        group = before->cell == TT_CELL_ACTIVE;
        if (tt_eval_is_scored(ev, p)) {
            tt_model_user_query(m, before, q);
            tt_score_add(&sc, p, m, items, q, group);
        }
        tt_score_count_step(&sc, items[ds.item[p]] != NULL);
        if (items[ds.item[p]] && !max_scored) {
            stream_state(&ds, ev, m, items, u, p + 1, after, xs, &s1);
            assert_int_equal(s1, s0 + 1);
            tt_score_change(&sc, group, s1, before->h, after->h, MD);
        }
    }
    tt_score_result(&sc, &r2);

    assert_true(r1.n > 100);
    assert_int_equal(r2.n, r1.n);
    assert_true(r2.mrr == r1.mrr);
    assert_true(r2.recall == r1.recall);
    assert_int_equal(r2.n_candidates, r1.n_candidates);
    assert_int_equal(r2.n_unknown, r1.n_unknown);
    assert_true(r1.n_unknown > 0);
    assert_int_equal(r2.n_new_user, r1.n_new_user);
    assert_int_equal(r2.n_buckets, r1.n_buckets);
    for (uint32_t b = 0; b < r1.n_buckets; b++) {
        assert_int_equal(r2.bucket[b].lo, r1.bucket[b].lo);
        assert_int_equal(r2.bucket[b].hi, r1.bucket[b].hi);
        assert_int_equal(r2.bucket[b].n, r1.bucket[b].n);
        assert_int_equal(r2.bucket[b].users, r1.bucket[b].users);
        assert_true(r2.bucket[b].mrr == r1.bucket[b].mrr);
        assert_true(r2.bucket[b].recall == r1.bucket[b].recall);
    }
    for (int g = 0; g < 2; g++) {
        assert_true(r1.group_n[g] > 0);
        assert_int_equal(r2.group_n[g], r1.group_n[g]);
        assert_true(r2.group_mrr[g] == r1.group_mrr[g]);
        assert_true(r2.group_recall[g] == r1.group_recall[g]);
    }
    if (!max_scored) {
        /* every slice event is counted once either way */
        assert_int_equal(r2.n_steps, r1.n_steps);
        assert_int_equal(r2.n_skipped_steps, r1.n_skipped_steps);
        for (int g = 0; g < 2; g++)
            for (int k = 0; k < TT_EVAL_STEPS_MAX + 2; k++) {
                assert_int_equal(r2.change_n[g][k], r1.change_n[g][k]);
                assert_true(fabs(r2.change_mean[g][k] -
                                 r1.change_mean[g][k]) <=
                            1e-12 * (1 + r1.change_mean[g][k]));
            }
    }
    tt_score_release(&sc);
    free(items);
    free(xs);
    free(before);
    free(after);
    tt_eval_model_release(&ms);
    tt_model_destroy(m);
    tt_eval_destroy(ev);
    tt_dataset_release(&ds);
}

static void test_2ts_cutoff(void **state)
{
    (void)state;
    check_live_equals_offline(false, 0, 0);
}

static void test_2ts_window(void **state)
{
    (void)state;
    check_live_equals_offline(false, 4, 0);
}

static void test_plus_window(void **state)
{
    (void)state;
    check_live_equals_offline(true, 4, 0);
}

static void test_sample(void **state)
{
    (void)state;
    check_live_equals_offline(true, 4, 300);
}

/* A query that puts the true item first scores rank 1; a zero query ranks
 * last (pessimistic ties). */
static void test_rank_extremes(void **state)
{
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_eval_opts o = opts_default();
    struct tt_score sc;
    struct tt_eval_result r;
    const float **items;
    tt_eval_t *ev;
    tt_model_t *m;
    float q[MD], zero[MD] = {0};
    size_t p;

    (void)state;
    make_ds(&ds, 2000, 40, 300, 0, 0, 8);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.1, &split), TT_ERR_OK);
    assert_int_equal(
        tt_eval_new(&ev, &ds, &split, split.valid_end, ds.n, &o, NULL, 0),
        TT_ERR_OK);
    m = build_model(&ds, ev, o.tstar, false, 0, 3);
    items = tt_score_item_table(&ds, m);
    assert_int_equal(tt_score_init(&sc, ev), TT_ERR_OK);
    for (p = split.valid_end; !items[ds.item[p]]; p++)
        ;
    for (int d = 0; d < MD; d++)
        q[d] = 1000.0f * items[ds.item[p]][d];
    assert_int_equal(tt_score_add(&sc, p, m, items, q, 0), 1);
    assert_int_equal(tt_score_add(&sc, p, m, items, zero, 1),
                     tt_eval_pool_size(ev) < o.negatives + 1
                         ? tt_eval_pool_size(ev)
                         : o.negatives + 1);
    tt_score_result(&sc, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.group_n[0], 1);
    assert_true(r.group_mrr[0] == 1.0);
    assert_true(r.recall == 0.5);
    tt_score_release(&sc);
    free(items);
    tt_model_destroy(m);
    tt_eval_destroy(ev);
    tt_dataset_release(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_2ts_cutoff),
        cmocka_unit_test(test_2ts_window),
        cmocka_unit_test(test_plus_window),
        cmocka_unit_test(test_sample),
        cmocka_unit_test(test_rank_extremes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
