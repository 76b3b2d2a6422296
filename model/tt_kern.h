/*
 * tt_kern: the small float32 vector kernels of the model (dot product,
 * matrix-vector product, fast exp/sigmoid/tanh), written so that
 *
 *  - the compiler vectorises them with the baseline flags (no intrinsics,
 *    no -ffast-math: every loop is branch-free and its arithmetic order is
 *    written out explicitly), and
 *  - the result does not depend on how they are compiled: each output is
 *    computed by the same sequence of IEEE operations whether the loop runs
 *    vectorised, scalar, at -O0 or -O3, with SSE2 or AVX-512.  (ISO C mode
 *    keeps -ffp-contract=off, so no FMA contraction either.)
 *
 * That is what makes the canonical GRU step (tt_gru_step) bit-identical in
 * training-time evaluation, backtests and the stream processor.
 *
 * Accuracy of the approximations, measured against double precision by
 * tests/unit/test_gru.c over a dense grid:
 *   tt_kern_exp      relative error <= 2.5e-7 on [-87, 87]; the input is
 *                    clamped to that range (exp(-87) ~ 1.6e-38, exp(87) ~ 6e37)
 *   tt_kern_sigmoid  relative error <= 2.5e-7 on [-80, 87], absolute error
 *                    <= 2e-38 below
 *   tt_kern_tanh     relative error <= 5e-7 everywhere (|x| >= 9 gives
 *                    +-1 - 2e-8); tanh(+-0) = +-0
 * (the bounds are what the test asserts; the measured maxima are 7.9e-8 for
 * exp, 1.45e-7 for sigmoid and 3.95e-7 for tanh, identical at -O0, -O2 and
 * -O3 -march=native).  NaN inputs give finite garbage, never a trap.
 *
 * Thread-safe: no state.
 */
#ifndef TT_KERN_H
#define TT_KERN_H

#include <stddef.h>

/*
 * The hot kernels are compiled for AVX-512, AVX2 and the baseline and the
 * best one is picked at load time (GCC/Clang target_clones, glibc ifunc).
 * Wider vectors change the speed, not the result: each output's IEEE
 * operations and their order are fixed by the code, and contraction into
 * FMA is off in ISO C mode (-std=c11, which the build uses; the golden
 * vectors in tests/data/gru_golden.txt check it).
 */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TT_NO_CLONES 1 /* ifunc resolvers run before the TSan runtime */
#endif
#endif
#if defined(__SANITIZE_THREAD__) && !defined(TT_NO_CLONES)
#define TT_NO_CLONES 1
#endif
/* clang 14 emits no resolver for target_clones (undefined symbols at link
 * time), so the clones are a GCC build's. */
#if defined(__clang__) && !defined(TT_NO_CLONES)
#define TT_NO_CLONES 1
#endif
#if defined(__GNUC__) && defined(__x86_64__) && !defined(TT_NO_CLONES)
#define TT_KERN_CLONES __attribute__((target_clones("avx512f", "avx2", \
                                                    "default")))
#else
#define TT_KERN_CLONES
#endif

/* sum_i a[i] * b[i] in a fixed order: 16 interleaved partial sums, then a
 * fixed pairwise reduction, then the tail added in order. */
float tt_kern_dot(const float *a, const float *b, size_t n);

/* out[j] = tt_kern_dot(q, xj, n) for j = 0..3, bit for bit (the same
 * operations per row, rows interleaved: faster than four calls). */
void tt_kern_dot4(const float *q, const float *x0, const float *x1,
                  const float *x2, const float *x3, size_t n, float *out);

/* y[j] += sum_{k < n_in} x[k] * a[k * lda + j] for j < n_out, with k
 * ascending for every j (the transposed-matrix-vector product A^T x over a
 * row-major A of n_in rows).  y must not alias a or x. */
void tt_kern_gemv_t(float *y, const float *a, size_t lda, const float *x,
                    size_t n_in, size_t n_out);

/* y[i] += alpha * x[i]. */
void tt_kern_axpy(float *y, float alpha, const float *x, size_t n);

/* y[i] = x[i] * s. */
void tt_kern_scale(float *y, const float *x, float s, size_t n);

/* Element-wise approximations (see the accuracy table above); y may equal
 * x. */
void tt_kern_exp(float *y, const float *x, size_t n);
void tt_kern_sigmoid(float *y, const float *x, size_t n);
void tt_kern_tanh(float *y, const float *x, size_t n);

/* The scalar forms of the same approximations, bit-identical to the vector
 * forms. */
float tt_kern_exp1(float x);
float tt_kern_sigmoid1(float x);
float tt_kern_tanh1(float x);

/* sum_i x[i]^2 in double (for norms and clipping; order fixed). */
double tt_kern_sumsq(const float *x, size_t n);

#endif
