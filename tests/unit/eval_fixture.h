/*
 * Fixtures shared by the evaluation tests (test_eval.c, test_eval_base.c):
 * default protocol options and a small random log.  Include after cmocka.h.
 */
#ifndef TT_TEST_EVAL_FIXTURE_H
#define TT_TEST_EVAL_FIXTURE_H

#include "common/tt_rng.h"
#include "model/tt_dataset.h"
#include "model/tt_eval.h"

static inline struct tt_eval_opts opts_default(void)
{
    struct tt_eval_opts o = {
        .negatives = 499, .seed = 7, .max_scored = 0, .threads = 1,
        .tstar = 3};
    return o;
}

/* A random log: n events of n_users users over n_items items, times
 * increasing; with n_new_items, one event in five after `new_after` is an
 * item unseen before. */
static inline void make_ds(struct tt_dataset *ds, size_t n, uint32_t n_users,
                           uint32_t n_items, uint32_t n_new_items,
                           size_t new_after, uint64_t seed)
{
    struct tt_rng rng;

    tt_rng_seed(&rng, seed, 0);
    assert_int_equal(tt_dataset_init(ds), TT_ERR_OK);
    for (size_t i = 0; i < n; i++) {
        struct tt_event ev = {.ts_ms = 1000 + (int64_t)i,
                              .category = TT_EVENT_NO_CATEGORY};
        /* skewed users: low ids are busy */
        uint64_t a = tt_rng_below(&rng, n_users);
        uint64_t b = tt_rng_below(&rng, n_users);

        ev.user_id = 100 + (int64_t)(a < b ? a : b);
        ev.item_id = 5000 + (int64_t)tt_rng_below(&rng, n_items);
        if (n_new_items && i >= new_after && tt_rng_below(&rng, 5) == 0)
            ev.item_id = 9000 + (int64_t)tt_rng_below(&rng, n_new_items);
        assert_int_equal(tt_dataset_add(ds, &ev), TT_ERR_OK);
    }
    assert_int_equal(tt_dataset_finish(ds), TT_ERR_OK);
}

#endif
