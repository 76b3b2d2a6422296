/*
 * The GRU cell of model/tt_gru.h in double precision, written out plainly:
 * the reference the GRU and stage-2 gradient tests compare against.
 */
#ifndef TT_TEST_GRU_REF_H
#define TT_TEST_GRU_REF_H

#include <math.h>
#include <stdlib.h>

static inline double sigm(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

/* Parameters as doubles in the tt_gru layout: wt[D][3D], ut[D][3D], b[3D]. */
static inline void ref_step(const double *p, int d, const double *h,
                            const double *x, double *out)
{
    const double *wt = p, *ut = p + 3 * d * d, *b = p + 6 * d * d;
    double *z = malloc(sizeof(double) * (size_t)d);
    double *r = malloc(sizeof(double) * (size_t)d);

    for (int j = 0; j < d; j++) {
        double az = b[j], ar = b[d + j];

        for (int k = 0; k < d; k++) {
            az += wt[k * 3 * d + j] * x[k] + ut[k * 3 * d + j] * h[k];
            ar += wt[k * 3 * d + d + j] * x[k] + ut[k * 3 * d + d + j] * h[k];
        }
        z[j] = sigm(az);
        r[j] = sigm(ar);
    }
    for (int j = 0; j < d; j++) {
        double ah = b[2 * d + j];

        for (int k = 0; k < d; k++)
            ah += wt[k * 3 * d + 2 * d + j] * x[k] +
                  ut[k * 3 * d + 2 * d + j] * r[k] * h[k];
        out[j] = (1.0 - z[j]) * h[j] + z[j] * tanh(ah);
    }
    free(z);
    free(r);
}

#endif
