/*
 * Fixtures shared by the evaluation tests (test_eval.c, test_eval_base.c):
 * default protocol options and a small random log.  Include after cmocka.h.
 */
#ifndef TT_TEST_EVAL_FIXTURE_H
#define TT_TEST_EVAL_FIXTURE_H

#include "common/tt_rng.h"
#include "model/tt_dataset.h"
#include "model/tt_eval.h"
#include "model/tt_model_int.h"

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

/* The dimension of build_model's models. */
#define MD 8

/* A random model of dimension MD over the training items of `ev` and a
 * phi_u for every user above t*.  window_k > 0: a window model (TT_MODEL_FLAG_WINDOW) with K = window_k,
 * and with hop > 0 a hopping-window model of hop H = hop. */
static inline tt_model_t *build_model_hop(const struct tt_dataset *ds,
                                          const tt_eval_t *ev, uint32_t tstar,
                                          bool plus, uint32_t window_k,
                                          uint32_t hop, uint64_t seed)
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

static inline tt_model_t *build_model(const struct tt_dataset *ds,
                                      const tt_eval_t *ev, uint32_t tstar,
                                      bool plus, uint32_t window_k,
                                      uint64_t seed)
{
    return build_model_hop(ds, ev, tstar, plus, window_k, 0, seed);
}

#endif
