/*
 * Unit tests of model/tt_softmax (the sampled softmax loss of eq. 10-12)
 * and model/tt_adam: loss and gradients w.r.t. the query and the item
 * vectors against finite differences of a double-precision reference,
 * numerical stability with huge logits, offer sets larger than one chunk,
 * repeated items; Adam against a double reference, range splitting, its
 * square root, and convergence on a convex problem.
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
#include "model/tt_adam.h"
#include "model/tt_softmax.h"

static void fill(float *v, size_t n, struct tt_rng *rng, double a)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(a * (2.0 * tt_rng_uniform(rng) - 1.0));
}

/* log sum exp(q.x_j) - q.x_0 in double. */
static double ref_loss(const double *q, const double *x, size_t ld, int dim,
                       const uint32_t *idx, int n)
{
    double l[64], m = -INFINITY, s = 0;

    for (int j = 0; j < n; j++) {
        l[j] = 0;
        for (int k = 0; k < dim; k++)
            l[j] += q[k] * x[idx[j] * ld + (size_t)k];
        m = fmax(m, l[j]);
    }
    for (int j = 0; j < n; j++)
        s += exp(l[j] - m);
    return log(s) + m - l[0];
}

static void test_softmax_gradients(void **state)
{
    enum { DIM = 9, NI = 12, N = 7, LD = 11 };
    float q[DIM], x[NI * LD], g[N], dq[DIM] = {0}, dx[NI * LD] = {0};
    double qd[DIM], xd[NI * LD], loss, eps = 1e-6;
    /* item 3 appears twice: the gradient of a repeated negative adds up */
    uint32_t idx[N] = {5, 3, 0, 11, 3, 7, 2};
    struct tt_rng rng;

    (void)state;
    tt_rng_seed(&rng, 1, 0);
    fill(q, DIM, &rng, 1.0);
    fill(x, NI * LD, &rng, 1.0);
    for (int i = 0; i < DIM; i++)
        qd[i] = q[i];
    for (int i = 0; i < NI * LD; i++)
        xd[i] = x[i];
    loss = tt_softmax_fwd(q, x, LD, DIM, idx, N, g);
    assert_true(fabs(loss - ref_loss(qd, xd, LD, DIM, idx, N)) < 1e-6);
    tt_softmax_bwd_q(dq, x, LD, DIM, idx, N, g, 1.0f);
    tt_softmax_bwd_x(dx, LD, q, DIM, idx, N, g, 1.0f);
    for (int i = 0; i < DIM; i++) {
        double k = qd[i], lp, lm;

        qd[i] = k + eps;
        lp = ref_loss(qd, xd, LD, DIM, idx, N);
        qd[i] = k - eps;
        lm = ref_loss(qd, xd, LD, DIM, idx, N);
        qd[i] = k;
        assert_true(fabs(dq[i] - (lp - lm) / (2 * eps)) < 1e-5);
    }
    for (int i = 0; i < NI * LD; i++) {
        double k = xd[i], lp, lm;

        xd[i] = k + eps;
        lp = ref_loss(qd, xd, LD, DIM, idx, N);
        xd[i] = k - eps;
        lm = ref_loss(qd, xd, LD, DIM, idx, N);
        xd[i] = k;
        /* columns beyond DIM and items outside the offer set: exactly 0 */
        assert_true(fabs(dx[i] - (lp - lm) / (2 * eps)) < 1e-5);
    }
    /* the scale argument scales */
    memset(dq, 0, sizeof dq);
    tt_softmax_bwd_q(dq, x, LD, DIM, idx, N, g, 0.25f);
    for (int i = 0; i < DIM; i++) {
        float one[DIM] = {0};

        tt_softmax_bwd_q(one, x, LD, DIM, idx, N, g, 1.0f);
        assert_true(fabsf(dq[i] - 0.25f * one[i]) < 1e-6f);
    }
}

static void test_softmax_stability(void **state)
{
    float l[600], g[600];
    double loss, sum = 0;
    struct tt_rng rng;

    (void)state;
    /* huge logits: no overflow, the loss is the gap to the best */
    l[0] = 1000.0f;
    l[1] = 1010.0f;
    l[2] = -1000.0f;
    loss = tt_softmax_logits(l, 3, g);
    assert_true(fabs(loss - (10.0 + log1p(exp(-10.0)))) < 1e-5);
    assert_true(isfinite(g[0]) && isfinite(g[1]) && g[2] >= 0.0f);
    /* one item alone: no loss, no gradient */
    assert_true(fabs(tt_softmax_logits(l, 1, g)) < 1e-12 && g[0] == 0.0f);
    /* more than one chunk: gradients sum to zero, loss matches double */
    tt_rng_seed(&rng, 2, 0);
    fill(l, 600, &rng, 5.0);
    {
        double m = -INFINITY, s = 0;

        for (int j = 0; j < 600; j++)
            m = fmax(m, l[j]);
        for (int j = 0; j < 600; j++)
            s += exp(l[j] - m);
        loss = tt_softmax_logits(l, 600, g);
        assert_true(fabs(loss - (log(s) + m - l[0])) < 1e-5);
    }
    for (int j = 0; j < 600; j++)
        sum += g[j];
    assert_true(fabs(sum) < 1e-5);
    /* in place */
    memcpy(g, l, sizeof l);
    assert_true(tt_softmax_logits(g, 600, g) == loss);
}

static void test_adam_reference(void **state)
{
    enum { N = 37, STEPS = 5 };
    float p[N], g[N];
    double pd[N], md[N] = {0}, vd[N] = {0};
    struct tt_adam a;
    struct tt_rng rng;

    (void)state;
    tt_rng_seed(&rng, 3, 0);
    fill(p, N, &rng, 1.0);
    for (int i = 0; i < N; i++)
        pd[i] = p[i];
    assert_int_equal(tt_adam_init(&a, N, 0.01), TT_ERR_OK);
    for (int t = 1; t <= STEPS; t++) {
        fill(g, N, &rng, 2.0);
        tt_adam_next(&a);
        /* split in two ranges: same result as one range */
        tt_adam_apply(&a, p, g, 0, 20);
        tt_adam_apply(&a, p + 20, g + 20, 20, N - 20);
        for (int i = 0; i < N; i++) {
            md[i] = 0.9 * md[i] + 0.1 * g[i];
            vd[i] = 0.999 * vd[i] + 0.001 * (double)g[i] * g[i];
            pd[i] -= 0.01 * (md[i] / (1 - pow(0.9, t))) /
                     (sqrt(vd[i] / (1 - pow(0.999, t))) + 1e-8);
        }
    }
    for (int i = 0; i < N; i++)
        assert_true(fabs(p[i] - pd[i]) < 1e-5);
    tt_adam_release(&a);
    tt_adam_release(&a); /* zeroed: safe */
}

static void test_adam_sqrt(void **state)
{
    double me = 0;

    (void)state;
    assert_true(tt_adam_sqrt1(0.0f) == 0.0f);
    for (double v = 1e-30; v < 1e30; v *= 1.0007) {
        float x = (float)v;

        me = fmax(me, fabs(tt_adam_sqrt1(x) - sqrt((double)x)) /
                          sqrt((double)x));
    }
    print_message("Adam sqrt max relative error %.3g\n", me);
    assert_true(me < 3e-7);
}

/* Adam and SGD both minimise a sampled softmax over a fixed offer set. */
static void test_optimizers_converge(void **state)
{
    enum { DIM = 4, NI = 5 };
    float x[NI * DIM], q[DIM] = {0}, q2[DIM] = {0}, g[NI], dq[DIM];
    uint32_t idx[NI] = {2, 0, 1, 3, 4};
    double first = 0, last = 0;
    struct tt_adam a;
    struct tt_rng rng;

    (void)state;
    tt_rng_seed(&rng, 4, 0);
    fill(x, NI * DIM, &rng, 1.0);
    assert_int_equal(tt_adam_init(&a, DIM, 0.05), TT_ERR_OK);
    for (int it = 0; it < 300; it++) {
        double l = tt_softmax_fwd(q, x, DIM, DIM, idx, NI, g);

        if (it == 0)
            first = l;
        last = l;
        memset(dq, 0, sizeof dq);
        tt_softmax_bwd_q(dq, x, DIM, DIM, idx, NI, g, 1.0f);
        tt_adam_next(&a);
        tt_adam_apply(&a, q, dq, 0, DIM);
        tt_softmax_fwd(q2, x, DIM, DIM, idx, NI, g);
        memset(dq, 0, sizeof dq);
        tt_softmax_bwd_q(dq, x, DIM, DIM, idx, NI, g, 1.0f);
        tt_sgd_apply(q2, dq, DIM, 0.5f);
    }
    assert_true(last < 0.5 * first);
    assert_true(tt_softmax_fwd(q2, x, DIM, DIM, idx, NI, g) < 0.5 * first);
    tt_adam_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_gradients),
        cmocka_unit_test(test_softmax_stability),
        cmocka_unit_test(test_adam_reference),
        cmocka_unit_test(test_adam_sqrt),
        cmocka_unit_test(test_optimizers_converge),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
