/*
 * Unit tests of model/tt_eval_base: pop's strict order (training count, then
 * index) and missing vectors for items unseen in training, ccf's mean phi
 * over users seen in training, sumpool's state updates and change
 * statistics, and refusal of a stage 1 that does not match the dataset.
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
#include "model/tt_eval_base.h"

#include "tests/unit/eval_fixture.h"

/* ---------------------------------------------------------- baselines */

static void test_baselines(void **state)
{
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_eval_opts o = opts_default();
    struct tt_eval_base pop, ccf, sp;
    struct tt_eval_result r;
    struct tt_stage1 s1;
    tt_eval_t *ev;
    uint32_t n_users, n_items, *cnt;
    float sc_best;

    (void)state;
    make_ds(&ds, 6000, 100, 200, 10, 4500, 6);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.1, &split), TT_ERR_OK);
    o.negatives = 50;
    assert_int_equal(
        tt_eval_new(&ev, &ds, &split, split.valid_end, ds.n, &o, NULL, 0),
        TT_ERR_OK);
    n_users = tt_dataset_n_users(&ds);
    n_items = tt_dataset_n_items(&ds);

    /* pop: scores follow training counts strictly, ties by index */
    assert_int_equal(tt_eval_base_init(&pop, TT_BASE_POP, ev, NULL), TT_ERR_OK);
    cnt = calloc(n_items, sizeof(uint32_t));
    for (size_t p = 0; p < split.train_end; p++)
        cnt[ds.item[p]]++;
    sc_best = 0;
    for (uint32_t i = 0; i < n_items; i++) {
        if (!cnt[i]) {
            assert_null(pop.item[i]);
            continue;
        }
        for (uint32_t j = 0; j < n_items; j++) {
            if (!cnt[j] || i == j)
                continue;
            if (cnt[i] > cnt[j] || (cnt[i] == cnt[j] && i < j))
                assert_true(pop.item[i][0] > pop.item[j][0]);
        }
        if (pop.item[i][0] > sc_best)
            sc_best = pop.item[i][0];
    }
    assert_true(sc_best == (float)tt_eval_pool_size(ev));
    assert_int_equal(tt_eval_run(ev, &pop.sc, &r, NULL, 0), TT_ERR_OK);
    assert_true(r.mrr > 0 && r.n_unknown > 0);
    assert_int_equal(r.change_n[0][1] + r.change_n[1][1], 0); /* static */

    /* ccf and sumpool over a fake stage 1 */
    memset(&s1, 0, sizeof s1);
    s1.n_users = n_users;
    s1.n_items = n_items;
    s1.dim = 4;
    s1.phi = calloc((size_t)n_users * 4, sizeof(float));
    s1.x = calloc((size_t)n_items * 4, sizeof(float));
    for (uint32_t i = 0; i < n_items; i++)
        s1.x[i * 4 + i % 4] = 1.0f;
    for (uint32_t u = 0; u < n_users; u++)
        s1.phi[u * 4 + u % 4] = 2.0f;
    assert_int_equal(tt_eval_base_init(&ccf, TT_BASE_CCF, ev, &s1), TT_ERR_OK);
    assert_int_equal(tt_eval_base_init(&sp, TT_BASE_SUMPOOL, ev, &s1),
                     TT_ERR_OK);
    {
        /* the mean phi is over users with training events */
        double m0 = 0;
        uint32_t seen = 0;

        for (uint32_t u = 0; u < n_users; u++)
            if (tt_eval_train_count(ev, u)) {
                seen++;
                m0 += u % 4 == 0 ? 2.0 : 0.0;
            }
        assert_true(fabs(ccf.mean_phi[0] - m0 / seen) < 1e-6);
    }
    assert_int_equal(tt_eval_run(ev, &ccf.sc, &r, NULL, 0), TT_ERR_OK);
    assert_true(r.n > 0);
    assert_int_equal(tt_eval_run(ev, &sp.sc, &r, NULL, 0), TT_ERR_OK);
    /* sumpool moves: steps taken on test events, changes measured */
    assert_true(r.n_steps > 0);
    assert_true(r.change_n[0][TT_EVAL_STEPS_MAX + 1] +
                    r.change_n[1][TT_EVAL_STEPS_MAX + 1] >
                0);
    /* a mismatched stage 1 is refused */
    tt_eval_base_release(&ccf);
    s1.n_items++;
    assert_int_equal(tt_eval_base_init(&ccf, TT_BASE_CCF, ev, &s1),
                     TT_ERR_INVAL);
    s1.n_items--;
    tt_eval_base_release(&pop);
    tt_eval_base_release(&ccf);
    tt_eval_base_release(&sp);
    free(s1.phi);
    free(s1.x);
    free(cnt);
    tt_eval_destroy(ev);
    tt_dataset_release(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baselines),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
