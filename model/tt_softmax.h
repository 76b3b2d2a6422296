/*
 * tt_softmax: the sampled softmax ("collaborative competitive filtering")
 * loss of eq. 10-12 for one query q over an offer set O = {positive,
 * p negatives}:
 *
 *     L = log sum_{j in O} exp(q . x_j) - q . x_pos
 *
 * with its gradients dL/dlogit_j = softmax_j - [j = pos], dL/dq =
 * sum_j g_j x_j and dL/dx_j = g_j q.  Position 0 of every offer set is the
 * positive.  Item vectors are rows of a row-major matrix addressed by
 * index, so that no offer set is ever copied.
 *
 * The exponentials use tt_kern_exp after subtracting the largest logit;
 * the loss itself is returned in double.  Thread-safe: no state.
 */
#ifndef TT_SOFTMAX_H
#define TT_SOFTMAX_H

#include <stddef.h>
#include <stdint.h>

/* The loss from precomputed logits l[0..n) (l[0] the positive); writes
 * g[j] = dL/dl_j.  n >= 1; g may equal l. */
double tt_softmax_logits(const float *l, uint32_t n, float *g);

/*
 * The loss of query q (dim floats) over items idx[0..n) (idx[0] the
 * positive), rows of x with stride ld floats; writes g[j] = dL/dlogit_j.
 */
double tt_softmax_fwd(const float *q, const float *x, size_t ld, uint32_t dim,
                      const uint32_t *idx, uint32_t n, float *g);

/* dq += scale * sum_j g[j] x_{idx[j]}. */
void tt_softmax_bwd_q(float *dq, const float *x, size_t ld, uint32_t dim,
                      const uint32_t *idx, uint32_t n, const float *g,
                      float scale);

/* dx_{idx[j]} += scale * g[j] q for every j (rows of dx with stride ld;
 * repeated indices accumulate). */
void tt_softmax_bwd_x(float *dx, size_t ld, const float *q, uint32_t dim,
                      const uint32_t *idx, uint32_t n, const float *g,
                      float scale);

#endif
