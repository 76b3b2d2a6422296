/*
 * The small random model shared by the model tests (test_model.c,
 * test_model_window.c).  Include after cmocka.h.
 */
#ifndef TT_TEST_MODEL_FIXTURE_H
#define TT_TEST_MODEL_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"
#include "model/tt_model.h"
#include "model/tt_model_int.h"

/* A small model with random parameters: items 100.., active users 7 and
 * 9, two cutoffs. */
struct fixture {
    uint32_t dim;
    bool plus;
    int64_t item_ids[6];
    float items[6 * 24];
    int64_t user_ids[2];
    float phi[2 * 24];
    float *dense;
    struct tt_model_cutoff cut[2];
    struct tt_model_parts parts;
};

/* Two runs hold the same state: cell, steps, has_last and the dim floats
 * of h and last (nothing past dim is written). */
static inline void assert_same_run(const struct tt_user_run *a,
                                   const struct tt_user_run *b, uint32_t dim)
{
    assert_int_equal(a->cell, b->cell);
    assert_int_equal(a->steps, b->steps);
    assert_int_equal(a->has_last, b->has_last);
    assert_memory_equal(a->h, b->h, 4 * (size_t)dim);
    assert_memory_equal(a->last, b->last, 4 * (size_t)dim);
}

static inline void fixture_make(struct fixture *f, uint32_t dim, bool plus,
                                uint64_t seed)
{
    struct tt_rng rng;
    size_t nd = tt_model_dense_floats(dim, plus);
    float *psi, *wp;
    struct tt_gru c0, c1;

    assert_true(dim <= 24);
    memset(f, 0, sizeof *f);
    tt_rng_seed(&rng, seed, 0);
    f->dim = dim;
    f->plus = plus;
    for (int i = 0; i < 6; i++)
        f->item_ids[i] = 100 + 3 * i;
    for (size_t i = 0; i < 6 * (size_t)dim; i++)
        f->items[i] = (float)tt_rng_normal(&rng);
    f->user_ids[0] = 7;
    f->user_ids[1] = INT64_C(9000000000);
    for (size_t i = 0; i < 2 * (size_t)dim; i++)
        f->phi[i] = (float)tt_rng_normal(&rng);
    f->dense = malloc(sizeof(float) * nd);
    assert_non_null(f->dense);
    tt_model_dense_views(f->dense, dim, plus, &psi, &c0, &c1, &wp);
    for (uint32_t j = 0; j < dim; j++)
        psi[j] = (float)(0.1 * tt_rng_normal(&rng));
    tt_gru_init_params(&c0, &rng, 0.0f);
    tt_gru_init_params(&c1, &rng, -2.0f);
    if (plus)
        for (size_t i = 0; i < 2 * (size_t)dim * dim; i++)
            wp[i] = (float)(0.3 * tt_rng_normal(&rng));
    f->cut[0].partition = 0;
    f->cut[0].offset = 1234;
    f->cut[1].partition = 3;
    f->cut[1].offset = INT64_C(1) << 40;
    f->parts.dim = dim;
    f->parts.tstar = 20;
    f->parts.k = 5;
    f->parts.flags = plus ? TT_MODEL_FLAG_PLUS : 0;
    f->parts.version = 42;
    f->parts.seed = seed;
    f->parts.cutoff_ts_ms = INT64_C(1700000000000);
    f->parts.n_items = 6;
    f->parts.item_ids = f->item_ids;
    f->parts.items = f->items;
    f->parts.n_active = 2;
    f->parts.user_ids = f->user_ids;
    f->parts.phi = f->phi;
    f->parts.dense = f->dense;
    f->parts.n_cutoffs = 2;
    f->parts.cutoffs = f->cut;
}

static inline tt_model_t *fixture_model(struct fixture *f)
{
    tt_model_t *m;
    char err[256];

    assert_int_equal(tt_model_build(&m, &f->parts, err, sizeof err),
                     TT_ERR_OK);
    return m;
}

#endif
