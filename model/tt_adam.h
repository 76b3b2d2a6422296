/*
 * tt_adam: the optimizers of training, Adam (Kingma & Ba) and plain SGD,
 * over float32 parameter blocks.
 *
 * One struct tt_adam holds the first and second moments of n parameters.
 * Each optimisation step calls tt_adam_next() once, then tt_adam_apply() on
 * any number of disjoint ranges, so the same state serves dense parameters
 * (stage 2: every range every step) and sparse rows (stage 1: only the rows a
 * minibatch touched, "lazy" Adam with the global step count for the bias
 * correction, as TensorFlow's LazyAdam).
 *
 * The update is element-wise and branch-free (the square root is a Newton
 * iteration, which the compiler vectorises where sqrtf would stay scalar
 * because of errno), so its result does not depend on how the ranges are
 * split between threads.  Threads may apply disjoint ranges concurrently
 * after tt_adam_next() returned.
 */
#ifndef TT_ADAM_H
#define TT_ADAM_H

#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"

struct tt_adam {
    size_t n;
    float *m;      /* [n] first moment */
    float *v;      /* [n] second moment */
    double lr, beta1, beta2, eps;
    uint64_t t;    /* steps taken */
    float alpha_t; /* lr * sqrt(1 - beta2^t) / (1 - beta1^t) */
};

/* Zeroed moments for n parameters, beta1 0.9, beta2 0.999, eps 1e-8.
 * TT_ERR_NOMEM on allocation failure.  Release with tt_adam_release(). */
tt_err_t tt_adam_init(struct tt_adam *a, size_t n, double lr);

/* Frees the moments; safe on a zeroed struct. */
void tt_adam_release(struct tt_adam *a);

/* Starts an optimisation step (t += 1, bias correction). */
void tt_adam_next(struct tt_adam *a);

/* Updates param[0..n) with grad[0..n) using the moments at [off, off + n). */
void tt_adam_apply(struct tt_adam *a, float *param, const float *grad,
                   size_t off, size_t n);

/* param -= lr * grad. */
void tt_sgd_apply(float *param, const float *grad, size_t n, float lr);

/* The vectorisable square root used by Adam (relative error < 3e-7 for
 * normal x >= 0; 0 for x = 0). */
float tt_adam_sqrt1(float x);

#endif
