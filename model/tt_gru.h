/*
 * tt_gru: the GRU cell of the 2TS model (NOTES.md), input and state both of
 * dimension D:
 *
 *     z  = sigmoid(W_z x + U_z h + b_z)
 *     r  = sigmoid(W_r x + U_r h + b_r)
 *     h~ = tanh(W_h x + U_h (r * h) + b_h)
 *     h' = (1 - z) * h + z * h~
 *
 * Two implementations of the same cell:
 *
 *  - tt_gru_step(): the canonical single-user step used by evaluation, the
 *    backtest and the stream.  A fused loop over the kernels of tt_kern, no
 *    BLAS, no allocation, deterministic bit for bit whatever the build flags
 *    or the thread count (each output is summed in a fixed order).
 *  - tt_gru_fwd_batch() / tt_gru_bwd_batch(): the training path over a batch
 *    of n rows with OpenBLAS sgemm, keeping what backpropagation needs.  It
 *    computes the same function (same activation approximations) but may
 *    differ from the canonical step in the last bits.
 *
 * Parameter layout (float32, one contiguous block of tt_gru_nparams(D)):
 *     wt [D][3D]   W^T, row k holds W_z[:,k] | W_r[:,k] | W_h[:,k]
 *     ut [D][3D]   U^T, same layout
 *     b  [3D]      b_z | b_r | b_h
 * W and U are thus stored transposed (input-major), which makes the
 * single-user matrix-vector product a sweep over contiguous rows.
 *
 * Thread-safety: a struct tt_gru is a view; concurrent reads are fine, the
 * training functions write only their outputs and the gradient view.
 */
#ifndef TT_GRU_H
#define TT_GRU_H

#include <stddef.h>
#include <stdint.h>

struct tt_rng;

/* The largest D the canonical step supports (its scratch lives on the
 * stack: ~48 KiB at this size). */
#define TT_GRU_DIM_MAX 1024

/* A view of one cell's parameters inside a float block (not owned). */
struct tt_gru {
    uint32_t dim;
    float *wt; /* [dim][3 dim] */
    float *ut; /* [dim][3 dim] */
    float *b;  /* [3 dim] */
};

/* Floats in one cell's parameter block: 6 D^2 + 3 D. */
size_t tt_gru_nparams(uint32_t dim);

/* Points `g` at the block `params` (tt_gru_nparams(dim) floats, borrowed). */
void tt_gru_view(struct tt_gru *g, uint32_t dim, float *params);

/* Initialises the parameters: W and U uniform in +-1/sqrt(D), b_r = b_h = 0
 * and b_z = z_bias (a negative z_bias makes the cell keep its state at the
 * start of training). */
void tt_gru_init_params(const struct tt_gru *g, struct tt_rng *rng,
                        float z_bias);

/* The canonical step h_out = GRU(h, x); h_out may equal h.  Does not
 * allocate; deterministic bit for bit. */
void tt_gru_step(const struct tt_gru *g, const float *h, const float *x,
                 float *h_out);

/* The part of a step that depends on the input alone: a = b + W x (3 D
 * floats).  tt_gru_step(g, h, x, o) is exactly tt_gru_input(g, x, a) then
 * tt_gru_step_a(g, h, a, o), bit for bit, so a caller stepping the same
 * items many times (sliding windows) may compute `a` once per item. */
void tt_gru_input(const struct tt_gru *g, const float *x, float *a);
void tt_gru_step_a(const struct tt_gru *g, const float *h, const float *a,
                   float *h_out);

/* Workspace floats tt_gru_fwd_batch / tt_gru_bwd_batch need for n rows. */
size_t tt_gru_ws_floats(uint32_t dim, size_t n);

/*
 * Training forward over n rows (row-major n x D): h_out = GRU(h, x), saving
 * z, r, h~ and r*h (n x D each) for the backward pass.  `ws` has
 * tt_gru_ws_floats(dim, n) floats.  No aliasing between outputs and inputs.
 */
void tt_gru_fwd_batch(const struct tt_gru *g, size_t n, const float *x,
                      const float *h, float *h_out, float *z, float *r,
                      float *hh, float *rh, float *ws);

/*
 * Training backward of tt_gru_fwd_batch for n rows given dL/dh_out:
 * accumulates the parameter gradients into `grad` (a view with the same
 * layout), adds dL/dh to `dh` and, when `dx` is non-NULL, sets dx = dL/dx.
 * `ws` as for the forward pass.  `dh` must not alias `dh_out`.
 */
void tt_gru_bwd_batch(const struct tt_gru *g, const struct tt_gru *grad,
                      size_t n, const float *x, const float *h,
                      const float *z, const float *r, const float *hh,
                      const float *rh, const float *dh_out, float *dh,
                      float *dx, float *ws);

/*
 * The data part of tt_gru_bwd_batch, without the parameter gradients: the
 * pre-activation gradients da (n x 3D: z, r, h~ parts) and drh = dL/d(r*h)
 * (n x D) into the caller's buffers, and dL/dh added to `dh`, with the same
 * bits as inside tt_gru_bwd_batch.  For callers that sum the parameter
 * gradients of many calls at once (stage 2: one sgemm per batch).
 */
void tt_gru_bwd_data(const struct tt_gru *g, size_t n, const float *h,
                     const float *z, const float *r, const float *hh,
                     const float *dh_out, float *dh, float *da, float *drh);

#endif
