#include "model/tt_adam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/tt_kern.h"

tt_err_t tt_adam_init(struct tt_adam *a, size_t n, double lr)
{
    memset(a, 0, sizeof *a);
    a->m = calloc(n ? n : 1, sizeof *a->m);
    a->v = calloc(n ? n : 1, sizeof *a->v);
    if (!a->m || !a->v) {
        tt_adam_release(a);
        return TT_ERR_NOMEM;
    }
    a->n = n;
    a->lr = lr;
    a->beta1 = 0.9;
    a->beta2 = 0.999;
    a->eps = 1e-8;
    return TT_ERR_OK;
}

void tt_adam_release(struct tt_adam *a)
{
    free(a->m);
    free(a->v);
    memset(a, 0, sizeof *a);
}

void tt_adam_next(struct tt_adam *a)
{
    double t;

    a->t++;
    t = (double)a->t;
    a->alpha_t = (float)(a->lr * sqrt(1.0 - pow(a->beta2, t)) /
                         (1.0 - pow(a->beta1, t)));
}

/* sqrt(x) = x * rsqrt(x): the classic bit-level first guess of 1/sqrt(x),
 * then three Newton steps (each squares the relative error).  x = 0 gives a
 * finite huge guess times 0 = 0. */
static inline float ksqrt(float x)
{
    uint32_t b;
    float y;

    memcpy(&b, &x, sizeof b);
    b = 0x5f375a86u - (b >> 1);
    memcpy(&y, &b, sizeof y);
    y = y * (1.5f - 0.5f * x * y * y);
    y = y * (1.5f - 0.5f * x * y * y);
    y = y * (1.5f - 0.5f * x * y * y);
    return x * y;
}

float tt_adam_sqrt1(float x)
{
    return ksqrt(x);
}

TT_KERN_CLONES
void tt_adam_apply(struct tt_adam *a, float *restrict param,
                   const float *restrict grad, size_t off, size_t n)
{
    float *restrict m = a->m + off, *restrict v = a->v + off;
    const float b1 = (float)a->beta1, b2 = (float)a->beta2;
    const float c1 = 1.0f - b1, c2 = 1.0f - b2;
    const float at = a->alpha_t, eps = (float)a->eps;

    for (size_t i = 0; i < n; i++) {
        const float g = grad[i];

        m[i] = b1 * m[i] + c1 * g;
        v[i] = b2 * v[i] + c2 * (g * g);
        param[i] -= at * m[i] / (ksqrt(v[i]) + eps);
    }
}

TT_KERN_CLONES
void tt_sgd_apply(float *restrict param, const float *restrict grad, size_t n,
                  float lr)
{
    for (size_t i = 0; i < n; i++)
        param[i] -= lr * grad[i];
}
