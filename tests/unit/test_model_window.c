/*
 * Unit tests of model/tt_model's window rules: the sliding window
 * (tt_model_user_state over the last K known items of an active user,
 * tt_model_user_can_step) and the hopping window (tt_model_user_state_at
 * over the events (a(c), c], tt_model_window_start, _can_step_at), each
 * against a GRU run by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/tt_gru.h"
#include "tests/unit/model_fixture.h"

/* ---- the window rule: tt_model_user_state and tt_model_user_can_step ---- */

/* phi_u or psi through `cell` over the non-NULL xs[from..n), by hand. */
static void by_hand(const struct tt_gru *cell, const float *h0,
                    const float *const *xs, size_t from, size_t n,
                    uint32_t dim, float *h)
{
    memcpy(h, h0, 4 * dim);
    for (size_t j = from; j < n; j++)
        if (xs[j])
            tt_gru_step(cell, h, xs[j], h);
}

static void check_window(bool plus)
{
    const uint32_t dim = 9;
    struct fixture f;
    tt_model_t *mw, *m0;
    struct tt_model_info info;
    struct tt_user_run run, inc;
    struct tt_gru c0, c1;
    float *psi, *wp, h[24], q1[24], q2[24];
    const float *xs[9], *ys[10];
    char err[256];

    fixture_make(&f, dim, plus, 77);
    m0 = fixture_model(&f);
    f.parts.k = 3;
    f.parts.flags |= TT_MODEL_FLAG_WINDOW;
    mw = fixture_model(&f);
    tt_model_get_info(mw, &info);
    assert_true(info.window);
    assert_int_equal(info.k, 3);
    tt_model_get_info(m0, &info);
    assert_false(info.window);
    tt_model_dense_views(f.dense, dim, plus, &psi, &c0, &c1, &wp);
    /* a history with an unknown item (NULL) inside the last three known */
    for (int j = 0; j < 9; j++)
        xs[j] = f.items + (size_t)(j % 6) * dim;
    xs[7] = NULL;
    memcpy(ys, xs, sizeof xs);
    ys[9] = xs[1];

    /* active user, window model: phi_u over the last 3 KNOWN items */
    tt_model_user_state(mw, 7, true, xs, 9, &run);
    by_hand(&c1, f.phi, xs, 5, 9, dim, h);
    assert_int_equal(run.cell, TT_CELL_ACTIVE);
    assert_int_equal(run.steps, 3);
    assert_memory_equal(run.h, h, 4 * dim);
    assert_true(run.has_last);
    assert_memory_equal(run.last, xs[8], 4 * dim);
    assert_false(tt_model_user_can_step(mw, &run));
    /* shorter than the window: every item, and stepping stays exact */
    tt_model_user_state(mw, 7, true, xs, 2, &run);
    by_hand(&c1, f.phi, xs, 0, 2, dim, h);
    assert_memory_equal(run.h, h, 4 * dim);
    assert_true(tt_model_user_can_step(mw, &run));
    tt_model_user_step(mw, &run, xs[2]);
    tt_model_user_state(mw, 7, true, xs, 3, &inc);
    assert_same_run(&run, &inc, dim);
    assert_false(tt_model_user_can_step(mw, &run));
    /* the same user not allowed the active cell, and a user without phi:
     * psi over everything, always incremental */
    for (int u = 0; u < 2; u++) {
        tt_model_user_state(mw, u ? 31337 : 7, u != 0, xs, 9, &run);
        by_hand(&c0, psi, xs, 0, 9, dim, h);
        assert_int_equal(run.cell, TT_CELL_INACTIVE);
        assert_int_equal(run.steps, 8);
        assert_memory_equal(run.h, h, 4 * dim);
        assert_true(tt_model_user_can_step(mw, &run));
        tt_model_user_step(mw, &run, ys[9]);
        tt_model_user_state(mw, u ? 31337 : 7, u != 0, ys, 10, &inc);
        assert_same_run(&run, &inc, dim);
    }
    /* without the window: phi_u over every item given, as stepping does */
    tt_model_user_state(m0, 7, true, xs, 9, &run);
    by_hand(&c1, f.phi, xs, 0, 9, dim, h);
    assert_int_equal(run.steps, 8);
    assert_memory_equal(run.h, h, 4 * dim);
    assert_true(tt_model_user_can_step(m0, &run));
    tt_model_user_start(m0, 7, true, &inc);
    for (int j = 0; j < 9; j++)
        if (xs[j])
            tt_model_user_step(m0, &inc, xs[j]);
    assert_same_run(&run, &inc, dim);
    /* an empty history is the start; the query sees no last item */
    tt_model_user_state(mw, 7, true, xs, 0, &run);
    tt_model_user_start(mw, 7, true, &inc);
    assert_same_run(&run, &inc, dim);
    tt_model_user_query(mw, &run, q1);
    tt_model_user_query(mw, &inc, q2);
    assert_memory_equal(q1, q2, 4 * dim);

    /* the flag survives a file round trip; a window needs 1 <= K <= max */
    {
        uint8_t *b;
        size_t len;
        tt_model_t *back;

        assert_int_equal(tt_model_save_buf(mw, &b, &len), TT_ERR_OK);
        assert_int_equal(tt_model_load_buf(&back, b, len, err, sizeof err),
                         TT_ERR_OK);
        tt_model_get_info(back, &info);
        assert_true(info.window);
        assert_int_equal(info.k, 3);
        tt_model_user_state(back, 7, true, xs, 9, &inc);
        tt_model_user_state(mw, 7, true, xs, 9, &run);
        assert_same_run(&run, &inc, dim);
        tt_model_destroy(back);
        free(b);
    }
    tt_model_destroy(mw);
    tt_model_destroy(m0);
    f.parts.k = 0;
    assert_int_equal(tt_model_build(&mw, &f.parts, err, sizeof err),
                     TT_ERR_INVAL);
    f.parts.k = TT_MODEL_WINDOW_MAX + 1;
    assert_int_equal(tt_model_build(&mw, &f.parts, err, sizeof err),
                     TT_ERR_INVAL);
    f.parts.k = TT_MODEL_WINDOW_MAX;
    mw = fixture_model(&f);
    tt_model_destroy(mw);
    free(f.dense);
}

static void test_window(void **state)
{
    (void)state;
    check_window(false);
    check_window(true);
}

/* ---- the hopping window: tt_model_user_state_at, _can_step_at ---- */

/* a(c) of the hopping window, from its definition */
static size_t hop_from(size_t c, size_t k, size_t h)
{
    return c <= k ? 0 : h * ((c - k + h - 1) / h);
}

static void check_hop(bool plus, uint32_t k, uint32_t hop)
{
    const uint32_t dim = 7;
    enum { N = 23 };
    struct fixture f;
    tt_model_t *m, *back;
    struct tt_model_info info;
    struct tt_user_run run, inc, pre;
    struct tt_gru c0, c1;
    float *psi, *wp, h[24], as[N][3 * 24];
    const float *xs[N], *ap[N];
    char err[256];
    uint8_t *b;
    size_t len;

    fixture_make(&f, dim, plus, 91 + hop);
    f.parts.k = k;
    f.parts.flags |= TT_MODEL_FLAGS_HOP(hop);
    m = fixture_model(&f);
    tt_model_get_info(m, &info);
    assert_true(info.window);
    assert_int_equal(info.hop, hop);
    tt_model_dense_views(f.dense, dim, plus, &psi, &c0, &c1, &wp);
    /* events with unknown items (NULL) here and there: they count */
    for (int j = 0; j < N; j++) {
        xs[j] = (j % 5 == 3 || j == 11) ? NULL
                                        : f.items + (size_t)(j % 6) * dim;
        ap[j] = NULL;
        if (xs[j]) {
            tt_model_active_input(m, xs[j], as[j]);
            ap[j] = as[j];
        }
    }
    tt_model_user_start(m, 7, true, &inc);
    for (size_t c = 1; c <= N; c++) {
        size_t a = hop_from(c, k, hop);

        assert_int_equal(tt_model_window_start(m, c), a);
        assert_true(c - a <= k && (c <= k || c - a >= k - hop + 1));
        /* incremental: one step (or none) between hops */
        if (tt_model_user_can_step_at(m, &inc, c)) {
            assert_int_equal(hop_from(c - 1, k, hop), a);
            if (xs[c - 1])
                tt_model_user_step(m, &inc, xs[c - 1]);
        } else {
            assert_true(hop_from(c - 1, k, hop) != a);
            tt_model_user_state_at(m, 7, true, xs + a, NULL, c - a, a,
                                   &inc);
        }
        /* every start of the history at or before a(c): the same state */
        for (size_t first = 0; first <= a; first++) {
            tt_model_user_state_at(m, 7, true, xs + first, NULL, c - first,
                                   first, &run);
            assert_same_run(&run, &inc, dim);
            tt_model_user_state_at(m, 7, true, xs + first, ap + first,
                                   c - first, first, &pre);
            assert_same_run(&pre, &inc, dim);
        }
        tt_model_user_state(m, 7, true, xs, c, &run);
        assert_same_run(&run, &inc, dim);
        by_hand(&c1, f.phi, xs, a, c, dim, h);
        assert_memory_equal(run.h, h, 4 * dim);
        assert_int_equal(run.cell, TT_CELL_ACTIVE);
        assert_false(tt_model_user_can_step(m, &run));
    }
    /* the inactive cell ignores the window: psi over everything */
    tt_model_user_state_at(m, 31337, true, xs, NULL, N, 0, &run);
    by_hand(&c0, psi, xs, 0, N, dim, h);
    assert_int_equal(run.cell, TT_CELL_INACTIVE);
    assert_memory_equal(run.h, h, 4 * dim);
    assert_true(tt_model_user_can_step_at(m, &run, N + 1));
    assert_true(tt_model_user_can_step(m, &run));
    /* the hop survives a file round trip */
    assert_int_equal(tt_model_save_buf(m, &b, &len), TT_ERR_OK);
    assert_int_equal(tt_model_load_buf(&back, b, len, err, sizeof err),
                     TT_ERR_OK);
    tt_model_get_info(back, &info);
    assert_int_equal(info.hop, hop);
    tt_model_user_state(back, 7, true, xs, N, &run);
    assert_same_run(&run, &inc, dim);
    tt_model_destroy(back);
    free(b);
    tt_model_destroy(m);
    free(f.dense);
}

static void test_hop(void **state)
{
    struct fixture f;
    tt_model_t *m;
    char err[256];

    (void)state;
    check_hop(false, 5, 2);
    check_hop(true, 5, 2);
    check_hop(false, 4, 1);  /* sliding over the last K events */
    check_hop(true, 4, 4);   /* tumbling */
    check_hop(false, 6, 3);
    check_hop(true, 1, 1);
    /* a hop in 1..K, with the window flag; hop bits need the hop flag */
    fixture_make(&f, 5, false, 3);
    f.parts.k = 4;
    f.parts.flags = TT_MODEL_FLAGS_HOP(5);
    assert_int_equal(tt_model_build(&m, &f.parts, err, sizeof err),
                     TT_ERR_INVAL);
    f.parts.flags = TT_MODEL_FLAGS_HOP(0);
    assert_int_equal(tt_model_build(&m, &f.parts, err, sizeof err),
                     TT_ERR_INVAL);
    f.parts.flags = TT_MODEL_FLAGS_HOP(2) & ~TT_MODEL_FLAG_WINDOW;
    assert_int_equal(tt_model_build(&m, &f.parts, err, sizeof err),
                     TT_ERR_INVAL);
    f.parts.flags = TT_MODEL_FLAGS_HOP(2) & ~TT_MODEL_FLAG_HOP;
    assert_int_equal(tt_model_build(&m, &f.parts, err, sizeof err),
                     TT_ERR_INVAL);
    f.parts.flags = TT_MODEL_FLAGS_HOP(4);
    m = fixture_model(&f);
    tt_model_destroy(m);
    free(f.dense);
}

/* ---- golden model file ---- */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_hop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
