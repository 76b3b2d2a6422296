#include "model/tt_gru.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "common/tt_rng.h"
#include "model/tt_kern.h"

size_t tt_gru_nparams(uint32_t dim)
{
    return 6 * (size_t)dim * dim + 3 * (size_t)dim;
}

void tt_gru_view(struct tt_gru *g, uint32_t dim, float *params)
{
    size_t sq = 3 * (size_t)dim * dim;

    g->dim = dim;
    g->wt = params;
    g->ut = params + sq;
    g->b = params + 2 * sq;
}

void tt_gru_init_params(const struct tt_gru *g, struct tt_rng *rng,
                        float z_bias)
{
    size_t sq = 3 * (size_t)g->dim * g->dim;
    double a = 1.0 / sqrt((double)g->dim);

    for (size_t i = 0; i < sq; i++)
        g->wt[i] = (float)(a * (2.0 * tt_rng_uniform(rng) - 1.0));
    for (size_t i = 0; i < sq; i++)
        g->ut[i] = (float)(a * (2.0 * tt_rng_uniform(rng) - 1.0));
    for (uint32_t j = 0; j < 3 * g->dim; j++)
        g->b[j] = j < g->dim ? z_bias : 0.0f;
}

/*
 * The canonical step.  Summation order per output, fixed by tt_kern_gemv_t:
 * a = b + sum_k x_k W^T[k] (k ascending), u = 0 + sum_k h_k U^T[k], the
 * gate pre-activation is a + u; h~ uses a + (0 + sum_k (r h)_k U_h^T[k]).
 */
void tt_gru_input(const struct tt_gru *g, const float *x, float *a)
{
    const size_t d = g->dim, d3 = 3 * d;

    assert(d > 0 && d <= TT_GRU_DIM_MAX);
    memcpy(a, g->b, d3 * sizeof *a);
    tt_kern_gemv_t(a, g->wt, d3, x, d, d3);
}

void tt_gru_step(const struct tt_gru *g, const float *h, const float *x,
                 float *h_out)
{
    float a[3 * TT_GRU_DIM_MAX];

    tt_gru_input(g, x, a);
    tt_gru_step_a(g, h, a, h_out);
}

void tt_gru_step_a(const struct tt_gru *g, const float *h, const float *a,
                   float *h_out)
{
    float u[3 * TT_GRU_DIM_MAX];
    float rh[TT_GRU_DIM_MAX];
    const size_t d = g->dim, d3 = 3 * d;
    const float *z = u, *r = u + d;
    float *hh = u + 2 * d;

    assert(d > 0 && d <= TT_GRU_DIM_MAX);
    memset(u, 0, d3 * sizeof *u);
    tt_kern_gemv_t(u, g->ut, d3, h, d, 2 * d);
    for (size_t j = 0; j < 2 * d; j++)
        u[j] = a[j] + u[j];
    tt_kern_sigmoid(u, u, 2 * d);
    for (size_t j = 0; j < d; j++)
        rh[j] = r[j] * h[j];
    tt_kern_gemv_t(hh, g->ut + 2 * d, d3, rh, d, d);
    for (size_t j = 0; j < d; j++)
        hh[j] = a[2 * d + j] + hh[j];
    tt_kern_tanh(hh, hh, d);
    for (size_t j = 0; j < d; j++)
        h_out[j] = (1.0f - z[j]) * h[j] + z[j] * hh[j];
}

size_t tt_gru_ws_floats(uint32_t dim, size_t n)
{
    return n * 4 * (size_t)dim;
}

void tt_gru_fwd_batch(const struct tt_gru *g, size_t n, const float *x,
                      const float *h, float *h_out, float *z, float *r,
                      float *hh, float *rh, float *ws)
{
    const int d = (int)g->dim, d3 = 3 * d, rows = (int)n;
    float *a = ws; /* n x 3D pre-activations */

    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        memcpy(a + i * (size_t)d3, g->b, (size_t)d3 * sizeof *a);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d3, d, 1.0f,
                x, d, g->wt, d3, 1.0f, a, d3);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, 2 * d, d,
                1.0f, h, d, g->ut, d3, 1.0f, a, d3);
    for (size_t i = 0; i < n; i++) {
        const float *ai = a + i * (size_t)d3;
        const float *hi = h + i * (size_t)d;
        float *zi = z + i * (size_t)d, *ri = r + i * (size_t)d;
        float *rhi = rh + i * (size_t)d;

        tt_kern_sigmoid(zi, ai, (size_t)d);
        tt_kern_sigmoid(ri, ai + d, (size_t)d);
        for (int j = 0; j < d; j++)
            rhi[j] = ri[j] * hi[j];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d, d, 1.0f,
                rh, d, g->ut + 2 * d, d3, 1.0f, a + 2 * d, d3);
    for (size_t i = 0; i < n; i++) {
        const float *hi = h + i * (size_t)d, *zi = z + i * (size_t)d;
        float *hhi = hh + i * (size_t)d, *ho = h_out + i * (size_t)d;

        tt_kern_tanh(hhi, a + i * (size_t)d3 + 2 * d, (size_t)d);
        for (int j = 0; j < d; j++)
            ho[j] = (1.0f - zi[j]) * hi[j] + zi[j] * hhi[j];
    }
}

void tt_gru_bwd_data(const struct tt_gru *g, size_t n, const float *h,
                     const float *z, const float *r, const float *hh,
                     const float *dh_out, float *dh, float *da, float *drh)
{
    const int d = (int)g->dim, d3 = 3 * d, rows = (int)n;

    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        const size_t o = i * (size_t)d;
        float *dai = da + i * (size_t)d3;

        for (int j = 0; j < d; j++) {
            const float go = dh_out[o + j], zz = z[o + j], hv = hh[o + j];

            dai[j] = go * (hv - h[o + j]) * zz * (1.0f - zz);
            dai[2 * d + j] = go * zz * (1.0f - hv * hv);
            dh[o + j] += go * (1.0f - zz);
        }
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, d, d, 1.0f,
                da + 2 * d, d3, g->ut + 2 * d, d3, 0.0f, drh, d);
    for (size_t i = 0; i < n; i++) {
        const size_t o = i * (size_t)d;
        float *dai = da + i * (size_t)d3;

        for (int j = 0; j < d; j++) {
            const float rr = r[o + j];

            dai[d + j] = drh[o + j] * h[o + j] * rr * (1.0f - rr);
            dh[o + j] += drh[o + j] * rr;
        }
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, d, 2 * d, 1.0f,
                da, d3, g->ut, d3, 1.0f, dh, d);
}

void tt_gru_bwd_batch(const struct tt_gru *g, const struct tt_gru *grad,
                      size_t n, const float *x, const float *h,
                      const float *z, const float *r, const float *hh,
                      const float *rh, const float *dh_out, float *dh,
                      float *dx, float *ws)
{
    const int d = (int)g->dim, d3 = 3 * d, rows = (int)n;
    float *da = ws;                        /* n x 3D: d pre-activations */
    float *drh = ws + n * (size_t)d3;      /* n x D: dL/d(r*h) */

    if (n == 0)
        return;
    /* dh is complete before the weight gradients, which read only da */
    tt_gru_bwd_data(g, n, h, z, r, hh, dh_out, dh, da, drh);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, rows, 1.0f, rh,
                d, da + 2 * d, d3, 1.0f, grad->ut + 2 * d, d3);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, 2 * d, rows, 1.0f,
                h, d, da, d3, 1.0f, grad->ut, d3);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d3, rows, 1.0f, x,
                d, da, d3, 1.0f, grad->wt, d3);
    for (size_t i = 0; i < n; i++)
        tt_kern_axpy(grad->b, 1.0f, da + i * (size_t)d3, (size_t)d3);
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, d, d3,
                    1.0f, da, d3, g->wt, d3, 0.0f, dx, d);
}
