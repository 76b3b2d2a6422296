#include "model/tt_softmax.h"

#include <assert.h>
#include <math.h>

#include "model/tt_kern.h"

/* Offer sets are small (p + 1 logits); this bounds the stack buffer. */
#define CHUNK 256

double tt_softmax_logits(const float *l, uint32_t n, float *g)
{
    float m = l[0], e[CHUNK];
    double s = 0.0, l0 = l[0];
    float inv;

    assert(n >= 1);
    for (uint32_t j = 1; j < n; j++)
        m = l[j] > m ? l[j] : m;
    /* two passes over chunks: the sum first, then the normalised terms */
    for (uint32_t j0 = 0; j0 < n; j0 += CHUNK) {
        uint32_t w = n - j0 < CHUNK ? n - j0 : CHUNK;

        for (uint32_t j = 0; j < w; j++)
            e[j] = l[j0 + j] - m;
        tt_kern_exp(e, e, w);
        for (uint32_t j = 0; j < w; j++)
            s += e[j];
    }
    inv = (float)(1.0 / s);
    for (uint32_t j0 = 0; j0 < n; j0 += CHUNK) {
        uint32_t w = n - j0 < CHUNK ? n - j0 : CHUNK;

        for (uint32_t j = 0; j < w; j++)
            e[j] = l[j0 + j] - m;
        tt_kern_exp(e, e, w);
        for (uint32_t j = 0; j < w; j++)
            g[j0 + j] = e[j] * inv;
    }
    g[0] -= 1.0f;
    return log(s) + (double)m - l0;
}

double tt_softmax_fwd(const float *q, const float *x, size_t ld, uint32_t dim,
                      const uint32_t *idx, uint32_t n, float *g)
{
    for (uint32_t j = 0; j < n; j++)
        g[j] = tt_kern_dot(q, x + (size_t)idx[j] * ld, dim);
    return tt_softmax_logits(g, n, g);
}

void tt_softmax_bwd_q(float *dq, const float *x, size_t ld, uint32_t dim,
                      const uint32_t *idx, uint32_t n, const float *g,
                      float scale)
{
    for (uint32_t j = 0; j < n; j++)
        tt_kern_axpy(dq, scale * g[j], x + (size_t)idx[j] * ld, dim);
}

void tt_softmax_bwd_x(float *dx, size_t ld, const float *q, uint32_t dim,
                      const uint32_t *idx, uint32_t n, const float *g,
                      float scale)
{
    for (uint32_t j = 0; j < n; j++)
        tt_kern_axpy(dx + (size_t)idx[j] * ld, scale * g[j], q, dim);
}
