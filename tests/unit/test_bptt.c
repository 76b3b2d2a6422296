/*
 * Unit test of stage 2's backpropagation through time (model/tt_bptt.c):
 * the loss gradient (through the GRU, the 2TS-Plus projection W and psi)
 * against finite differences of a double-precision reference, for the
 * inactive and the active cell.  Split from test_train.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"
#include "model/tt_kern.h"
#include "model/tt_model_int.h"
#include "model/tt_softmax.h"
#include "model/tt_train.h"
#include "model/tt_train_int.h"
#include "tests/unit/gru_ref.h"

/* ---- stage 2 gradient against a double reference ---- */

/* scale * sum of step losses of the sequences, all in double: at step t
 * every sequence is scored against neg[t * p ..], without the negatives
 * equal to its positive. */
static double ref_loss(const double *dense, int d, bool plus,
                       const double *items, const struct tt_s2_seq *seqs,
                       uint32_t n, uint32_t p, const uint32_t *neg,
                       const double *phi0, double scale)
{
    size_t np = tt_gru_nparams((uint32_t)d);
    const double *psi = dense, *cell = dense + d + np * seqs[0].cell;
    const double *wp = dense + d + 2 * np;
    double total = 0;

    for (uint32_t s = 0; s < n; s++) {
        double h[16], hn[16], q[16];

        for (int j = 0; j < d; j++)
            h[j] = seqs[s].cell ? phi0[s * (uint32_t)d + (uint32_t)j] : psi[j];
        for (uint32_t t = 0; t < seqs[s].len; t++) {
            double l[64], m = -INFINITY, sum = 0;
            uint32_t offer[64], no = 1;

            for (int j = 0; j < d; j++) {
                q[j] = plus ? 0 : h[j];
                if (plus)
                    for (int k = 0; k < d; k++) {
                        q[j] += wp[k * d + j] * h[k];
                        if (t > 0)
                            q[j] += wp[(d + k) * d + j] *
                                    items[seqs[s].items[t - 1] * (uint32_t)d +
                                          (uint32_t)k];
                    }
            }
            offer[0] = seqs[s].items[t];
            for (uint32_t j = 0; j < p; j++)
                if (neg[t * p + j] != offer[0])
                    offer[no++] = neg[t * p + j];
            for (uint32_t j = 0; j < no; j++) {
                l[j] = 0;
                for (int k = 0; k < d; k++)
                    l[j] += q[k] * items[offer[j] * (uint32_t)d + (uint32_t)k];
                m = fmax(m, l[j]);
            }
            for (uint32_t j = 0; j < no; j++)
                sum += exp(l[j] - m);
            total += log(sum) + m - l[0];
            if (t + 1 < seqs[s].len) {
                ref_step(cell, d, h, items + seqs[s].items[t] * (uint32_t)d,
                         hn);
                memcpy(h, hn, sizeof h);
            }
        }
    }
    return scale * total;
}

static void check_bptt(bool plus, uint32_t cell)
{
    enum { D = 4, NI = 9, P = 3 };
    static const uint32_t seq_items[3][5] = {
        {1, 4, 2, 8, 3}, {0, 5, 5}, {7}};
    static const uint32_t lens[3] = {5, 3, 1};
    /* shared per step; step 0 hits the positive of sequence 0, step 2 that
     * of sequence 1 twice: those negatives must drop out of those rows */
    static const uint32_t neg[5 * P] = {1, 6, 2, 3, 8, 0, 5, 5, 6, 4, 7, 0,
                                        2, 1, 0};
    size_t nd = tt_model_dense_floats(D, plus);
    float *dense = malloc(nd * 4), *grad = calloc(nd, 4), items[NI * D];
    float phi[3 * D];
    double *dd = malloc(nd * 8), itd[NI * D], phid[3 * D], loss_f, loss_d;
    struct tt_s2_seq seqs[3];
    struct tt_s2_neg ng = {NULL, 0, 0, neg};
    struct tt_bptt b;
    struct tt_rng rng;
    const double eps = 1e-6, scale = 1.0 / 9.0;

    tt_rng_seed(&rng, 77, cell * 2 + plus);
    for (size_t i = 0; i < nd; i++)
        dense[i] = (float)(0.6 * tt_rng_normal(&rng));
    for (int i = 0; i < NI * D; i++)
        items[i] = (float)tt_rng_normal(&rng);
    for (int i = 0; i < 3 * D; i++)
        phi[i] = (float)tt_rng_normal(&rng);
    for (int s = 0; s < 3; s++) {
        seqs[s].items = seq_items[s];
        seqs[s].len = lens[s];
        seqs[s].cell = cell;
        seqs[s].h0 = cell ? phi + s * D : dense;
    }
    assert_int_equal(tt_bptt_init(&b, D, plus, P, 3, 9, 5), TT_ERR_OK);
    /* buffers full of NaN, as garbage from earlier batches could be: the
     * rows whose sequence has ended take part in the all-rows weight
     * gradients and must be cleared, not trusted */
    for (size_t i = 0; i < 9 * D; i++) {
        b.h[i] = b.z[i] = b.r[i] = b.hh[i] = b.rh[i] = b.dq[i] = NAN;
        b.xa[i] = NAN;
        if (plus)
            b.la[i] = NAN;
    }
    for (size_t i = 0; i < 3 * 9 * D; i++)
        b.da[i] = NAN;
    loss_f = tt_bptt_run(&b, dense, grad, items, &ng, seqs, 3, (float)scale);
    for (size_t i = 0; i < nd; i++)
        dd[i] = dense[i];
    for (int i = 0; i < NI * D; i++)
        itd[i] = items[i];
    for (int i = 0; i < 3 * D; i++)
        phid[i] = phi[i];
    loss_d = ref_loss(dd, D, plus, itd, seqs, 3, P, neg, phid, scale);
    assert_true(fabs(loss_f * scale - loss_d) < 1e-5); /* false for NaN */
    for (size_t i = 0; i < nd; i++) {
        double k = dd[i], lp, lm, num;

        dd[i] = k + eps;
        lp = ref_loss(dd, D, plus, itd, seqs, 3, P, neg, phid, scale);
        dd[i] = k - eps;
        lm = ref_loss(dd, D, plus, itd, seqs, 3, P, neg, phid, scale);
        dd[i] = k;
        num = (lp - lm) / (2 * eps);
        if (!(fabs(grad[i] - num) <= 1e-5 + 2e-3 * fabs(num))) { /* NaN */
            print_error("plus %d cell %u param %zu: analytic %.8g numeric "
                        "%.8g\n", plus, cell, i, grad[i], num);
            fail();
        }
    }
    tt_bptt_release(&b);
    free(dense);
    free(grad);
    free(dd);
}

static void test_bptt_gradient(void **state)
{
    (void)state;
    check_bptt(false, 0);
    check_bptt(true, 0);
    check_bptt(true, 1);
    check_bptt(false, 1);
}

/* The loss training optimises for a sequence is the loss the canonical
 * model path (start, query, score, step) gives on the same events. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bptt_gradient),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
