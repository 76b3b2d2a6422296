/*
 * tt_warm: warm start of training from a previous model.
 *
 * - check: a previous model of another D or feature dimension is refused
 *   with both shapes in the message; the same shape passes.
 * - stage1_rows: after tt_warm_stage1, the phi rows of the users the
 *   previous model holds, the x rows of its items and the g rows of their
 *   categories are the previous model's values; every other row is
 *   untouched.
 * - stage2_dense: psi and both cells are copied; W only Plus to Plus.
 * - retrain: the realistic case (previous model on the first 85% of the
 *   log, retraining on all of it): a warm start with 2 + 2 epochs reaches
 *   the MRR of a cold start with 8 + 4 epochs on the newest slice within
 *   0.01, and beats a cold start with the same 2 + 2 epochs (so the copy
 *   does the work); two warm trainings give the same model file bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/tt_dataset.h"
#include "model/tt_eval.h"
#include "model/tt_gen.h"
#include "model/tt_model_int.h"
#include "model/tt_train.h"
#include "model/tt_warm.h"

#define N_EVENTS 12000

/* The first n_events of one synthetic log (the same events for any n). */
static void make_log(struct tt_dataset *ds, uint64_t n_events)
{
    struct tt_gen_opts go;
    struct tt_event ev;
    tt_gen_t *g;
    char err[256];

    tt_gen_opts_init(&go);
    go.seed = 11;
    go.n_events = N_EVENTS;
    go.n_users = 400;
    go.n_items = 200;
    go.n_categories = 8;
    go.days = 30;
    assert_int_equal(tt_gen_new(&g, &go, err, sizeof(err)), TT_ERR_OK);
    assert_int_equal(tt_dataset_init(ds), TT_ERR_OK);
    for (uint64_t k = 0; k < n_events && tt_gen_next(g, &ev); k++)
        assert_int_equal(tt_dataset_add(ds, &ev), TT_ERR_OK);
    tt_gen_destroy(g);
    assert_int_equal(tt_dataset_finish(ds), TT_ERR_OK);
}

static void base_opts(struct tt_train_opts *o, bool features)
{
    memset(o, 0, sizeof(*o));
    o->seed = 5;
    o->threads = 2;
    o->dim = features ? 4 : 8; /* D = 8 either way */
    o->tstar = 20;
    o->k = 5;
    o->plus = true;
    o->features = features;
    o->feature_dim = features ? 4 : 0;
    o->mode = TT_MODE_2TS;
    o->window = true;
    o->active_windows = 4;
    o->negatives = 16;
    o->adam = true;
    o->epochs1 = 8;
    o->lr1 = 0.02;
    o->l2 = 1e-6;
    o->epochs2 = 4;
    o->lr2 = 0.005;
    o->batch = 64;
    o->patience = 0;
    o->clip = 5.0;
}

/* Both stages; stage 2 keeps the epoch best on validation. */
static tt_model_t *train(const struct tt_dataset *ds,
                         const struct tt_split *split,
                         const struct tt_train_opts *o)
{
    struct tt_eval_opts eo;
    struct tt_stage1 s1;
    tt_eval_t *ev;
    tt_model_t *m = NULL;
    char err[256];

    memset(&eo, 0, sizeof(eo));
    eo.negatives = 99;
    eo.seed = 3;
    eo.threads = 2;
    eo.tstar = o->tstar;
    assert_int_equal(tt_eval_new(&ev, ds, split, split->train_end,
                                 split->valid_end, &eo, err, sizeof(err)),
                     TT_ERR_OK);
    if (tt_stage1_train(ds, split, o, NULL, NULL, &s1, err, sizeof(err)) ||
        tt_stage2_train(ds, split, &s1, o, 1, tt_eval_validate, ev, NULL,
                        NULL, &m, NULL, err, sizeof(err)))
        fail_msg("training: %s", err);
    tt_stage1_release(&s1);
    tt_eval_destroy(ev);
    return m;
}

/* MRR of m on the newest slice [valid_end, n). */
static double newest_mrr(const struct tt_dataset *ds,
                         const struct tt_split *split, const tt_model_t *m)
{
    struct tt_eval_opts eo;
    tt_eval_t *ev;
    char err[256];
    double mrr;

    memset(&eo, 0, sizeof(eo));
    eo.negatives = 99;
    eo.seed = 4;
    eo.threads = 2;
    eo.tstar = 20;
    assert_int_equal(tt_eval_new(&ev, ds, split, split->valid_end, ds->n, &eo,
                                 err, sizeof(err)),
                     TT_ERR_OK);
    mrr = tt_eval_validate(ev, m);
    tt_eval_destroy(ev);
    assert_true(mrr > 0);
    return mrr;
}

/* A previous model: trained on the first 85% of the log. */
static tt_model_t *train_previous(bool features)
{
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_train_opts o;
    tt_model_t *m;

    make_log(&ds, N_EVENTS * 85 / 100);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.1, &split), TT_ERR_OK);
    base_opts(&o, features);
    m = train(&ds, &split, &o);
    tt_dataset_release(&ds);
    return m;
}

/* The previous models, without and with item features, trained once for
 * all tests (group setup). */
static tt_model_t *prev_models[2];

static int group_setup(void **state)
{
    (void)state;
    prev_models[0] = train_previous(false);
    prev_models[1] = train_previous(true);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tt_model_destroy(prev_models[0]);
    tt_model_destroy(prev_models[1]);
    return 0;
}

static const tt_model_t *previous(bool features)
{
    return prev_models[features];
}

static void check(void **state)
{
    struct tt_train_opts o;
    const tt_model_t *prev = previous(false);
    char err[256];

    (void)state;
    base_opts(&o, false);
    assert_int_equal(tt_warm_check(prev, &o, err, sizeof(err)), TT_ERR_OK);
    o.dim = 32;
    assert_int_equal(tt_warm_check(prev, &o, err, sizeof(err)),
                     TT_ERR_INVAL);
    assert_non_null(strstr(err, "D = 8"));
    assert_non_null(strstr(err, "D = 32"));
    base_opts(&o, true); /* D = 4 + 4 = 8, but features prev lacks */
    assert_int_equal(tt_warm_check(prev, &o, err, sizeof(err)),
                     TT_ERR_INVAL);
}

static void stage1_rows(void **state)
{
    const uint32_t d = 4, fd = 4, dd = 8, n_cat = 9;
    const tt_model_t *prev = previous(true);
    struct tt_dataset ds;
    struct tt_warm_match wm;
    uint32_t nu, ni, *cat, *first;
    float *phi, *x, *g;
    uint32_t n_phi = 0, n_x = 0, n_g = 0;

    (void)state;
    make_log(&ds, N_EVENTS);
    nu = tt_dataset_n_users(&ds);
    ni = tt_dataset_n_items(&ds);
    phi = malloc((size_t)nu * dd * sizeof(float));
    x = malloc((size_t)ni * d * sizeof(float));
    g = malloc((size_t)n_cat * fd * sizeof(float));
    cat = malloc(ni * sizeof(uint32_t));
    first = malloc(n_cat * sizeof(uint32_t));
    assert_true(phi && x && g && cat && first);
    for (size_t k = 0; k < (size_t)nu * dd; k++)
        phi[k] = 7.0f;
    for (size_t k = 0; k < (size_t)ni * d; k++)
        x[k] = 7.0f;
    for (size_t k = 0; k < (size_t)n_cat * fd; k++)
        g[k] = 7.0f;
    for (uint32_t i = 0; i < ni; i++) {
        int32_t c = ds.item_category[i];

        cat[i] = c >= 0 && c < 8 ? (uint32_t)c : 8;
    }
    assert_int_equal(tt_warm_stage1(prev, &ds, d, fd, phi, x, g, cat, n_cat),
                     TT_ERR_OK);
    for (uint32_t u = 0; u < nu; u++) {
        const float *p = tt_model_phi(prev, tt_ids_id(ds.users, u));
        const float *row = phi + (size_t)u * dd;

        if (p) {
            assert_memory_equal(row, p, dd * sizeof(float));
            n_phi++;
        } else {
            for (uint32_t j = 0; j < dd; j++)
                assert_true(row[j] == 7.0f);
        }
    }
    for (uint32_t c = 0; c < n_cat; c++)
        first[c] = UINT32_MAX;
    for (uint32_t i = 0; i < ni; i++) {
        const float *p = tt_model_item(prev, tt_ids_id(ds.items, i));
        const float *row = x + (size_t)i * d;

        if (p) {
            assert_memory_equal(row, p, d * sizeof(float));
            if (first[cat[i]] == UINT32_MAX)
                first[cat[i]] = i;
            n_x++;
        } else {
            for (uint32_t j = 0; j < d; j++)
                assert_true(row[j] == 7.0f);
        }
    }
    for (uint32_t c = 0; c < n_cat; c++) {
        const float *row = g + (size_t)c * fd;

        if (first[c] != UINT32_MAX) {
            const float *p =
                tt_model_item(prev, tt_ids_id(ds.items, first[c]));

            assert_memory_equal(row, p + d, fd * sizeof(float));
            n_g++;
        } else {
            for (uint32_t j = 0; j < fd; j++)
                assert_true(row[j] == 7.0f);
        }
    }
    tt_warm_count(prev, &ds, true, &wm);
    assert_int_equal(wm.users, nu);
    assert_int_equal(wm.items, ni);
    assert_int_equal(wm.users_known, n_phi);
    assert_int_equal(wm.items_known, n_x);
    assert_true(wm.plus_w);
    /* some known, some new, on both sides */
    assert_true(n_phi > 20 && n_phi < nu);
    assert_true(n_x > 100 && n_x < ni);
    assert_true(n_g >= 4);
    print_message("warm rows: %u of %u users, %u of %u items, %u of %u "
                  "categories\n", n_phi, nu, n_x, ni, n_g, n_cat);

    /* another shape: nothing is touched */
    for (size_t k = 0; k < (size_t)nu * dd; k++)
        phi[k] = 7.0f;
    assert_int_equal(tt_warm_stage1(prev, &ds, 8, 0, phi, x, NULL, NULL, 0),
                     TT_ERR_OK);
    for (size_t k = 0; k < (size_t)nu * dd; k++)
        assert_true(phi[k] == 7.0f);
    free(phi);
    free(x);
    free(g);
    free(cat);
    free(first);
    tt_dataset_release(&ds);
}

static void stage2_dense(void **state)
{
    const tt_model_t *prev = previous(false);
    struct tt_model_parts p;
    size_t n_plus = tt_model_dense_floats(8, true);
    size_t n_base = tt_model_dense_floats(8, false);
    float *dense = malloc(n_plus * sizeof(float));

    (void)state;
    assert_non_null(dense);
    tt_model_parts_get(prev, &p);
    for (size_t k = 0; k < n_plus; k++)
        dense[k] = 7.0f;
    tt_warm_stage2(prev, dense, 8, true);
    assert_memory_equal(dense, p.dense, n_plus * sizeof(float));
    /* into a model without W: psi and the cells only */
    for (size_t k = 0; k < n_plus; k++)
        dense[k] = 7.0f;
    tt_warm_stage2(prev, dense, 8, false);
    assert_memory_equal(dense, p.dense, n_base * sizeof(float));
    assert_true(dense[n_base] == 7.0f);
    /* another dimension: nothing */
    for (size_t k = 0; k < n_plus; k++)
        dense[k] = 7.0f;
    tt_warm_stage2(prev, dense, 16, true);
    for (size_t k = 0; k < n_plus; k++)
        assert_true(dense[k] == 7.0f);
    free(dense);
}

static void retrain(void **state)
{
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_train_opts o;
    const tt_model_t *prev = previous(false);
    tt_model_t *cold, *cold22, *warm, *warm2;
    double m_cold, m_cold22, m_warm;
    uint8_t *a, *b;
    size_t la, lb;

    (void)state;
    make_log(&ds, N_EVENTS);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.1, &split), TT_ERR_OK);
    base_opts(&o, false);
    cold = train(&ds, &split, &o);
    o.epochs1 = 2;
    o.epochs2 = 2;
    cold22 = train(&ds, &split, &o);
    o.warm = prev;
    warm = train(&ds, &split, &o);
    warm2 = train(&ds, &split, &o);
    m_cold = newest_mrr(&ds, &split, cold);
    m_cold22 = newest_mrr(&ds, &split, cold22);
    m_warm = newest_mrr(&ds, &split, warm);
    print_message("newest-slice MRR: cold 8+4 epochs %.4f, cold 2+2 %.4f, "
                  "warm 2+2 %.4f\n", m_cold, m_cold22, m_warm);
    assert_true(m_warm >= m_cold - 0.01);
    assert_true(m_warm > m_cold22 + 0.01);
    /* deterministic */
    assert_int_equal(tt_model_save_buf(warm, &a, &la), TT_ERR_OK);
    assert_int_equal(tt_model_save_buf(warm2, &b, &lb), TT_ERR_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
    tt_model_destroy(cold);
    tt_model_destroy(cold22);
    tt_model_destroy(warm);
    tt_model_destroy(warm2);
    tt_dataset_release(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check),
        cmocka_unit_test(stage1_rows),
        cmocka_unit_test(stage2_dense),
        cmocka_unit_test(retrain),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
