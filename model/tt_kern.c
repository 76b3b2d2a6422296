#include "model/tt_kern.h"

#include <stdint.h>
#include <string.h>

/*
 * Why the approximations look the way they do: GCC only vectorises a loop
 * whose body is branch-free, and without -fno-trapping-math it will not turn
 * a float comparison into a select.  So clamping is done on the bit pattern
 * with integer compares (|x| bits vs the limit's bits), rounding to an
 * integer uses the 1.5 * 2^23 trick, and 2^n is built in the exponent field.
 * Everything is plain IEEE float arithmetic in a fixed order, so the scalar
 * and vector paths give the same bits.
 */

/* |x| clamped to the positive float whose bits are `lim`, sign kept.  NaN
 * (bits above infinity) clamps to the limit as well. */
static inline float clamp_abs(float x, int32_t lim)
{
    int32_t b, s, a;

    memcpy(&b, &x, sizeof b);
    s = (int32_t)((uint32_t)b & 0x80000000u);
    a = b & 0x7fffffff;
    a = a > lim ? lim : a;
    b = a | s;
    memcpy(&x, &b, sizeof x);
    return x;
}

#define BITS_9F 0x41100000  /* 9.0f */
#define BITS_87F 0x42ae0000 /* 87.0f */

/* Cephes expf: n = round(x / ln 2), r = x - n ln 2 in two parts (Cody-Waite),
 * a degree-7 polynomial for e^r, then scale by 2^n.  |x| <= 87 keeps n in
 * [-126, 126], a normal exponent. */
static inline float kexp(float x)
{
    float n, r, y, s;
    int32_t ni;
    uint32_t bits;

    x = clamp_abs(x, BITS_87F);
    n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * (r * r) + r + 1.0f;
    ni = (int32_t)n;
    bits = (uint32_t)(ni + 127) << 23;
    memcpy(&s, &bits, sizeof s);
    return y * s;
}

static inline float ksigmoid(float x)
{
    return 1.0f / (1.0f + kexp(-x));
}

/* A [13/6] rational minimax approximation of tanh on [-9, 9] (the one Eigen
 * uses); odd numerator, so tanh(x) ~ x keeps full relative precision near
 * zero, and tanh(+-9) rounds to +-1 in float anyway. */
static inline float ktanh(float a)
{
    float x = clamp_abs(a, BITS_9F);
    float x2 = x * x;
    float p, q;

    p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    p = p * x;
    q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    return p / q;
}

float tt_kern_exp1(float x)
{
    return kexp(x);
}

float tt_kern_sigmoid1(float x)
{
    return ksigmoid(x);
}

float tt_kern_tanh1(float x)
{
    return ktanh(x);
}

TT_KERN_CLONES
void tt_kern_exp(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = kexp(x[i]);
}

TT_KERN_CLONES
void tt_kern_sigmoid(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = ksigmoid(x[i]);
}

TT_KERN_CLONES
void tt_kern_tanh(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = ktanh(x[i]);
}

/* The end of tt_kern_dot for one row: the fixed pairwise reduction of its
 * 16 partial sums, then the tail from element i. */
static inline float dot_finish(float *acc, const float *a, const float *b,
                               size_t i, size_t n)
{
    float s;

    for (int k = 0; k < 8; k++)
        acc[k] += acc[k + 8];
    for (int k = 0; k < 4; k++)
        acc[k] += acc[k + 4];
    acc[0] += acc[2];
    acc[1] += acc[3];
    s = acc[0] + acc[1];
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

TT_KERN_CLONES
float tt_kern_dot(const float *restrict a, const float *restrict b, size_t n)
{
    float acc[16] = {0};
    size_t i = 0;

    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++)
            acc[k] += a[i + k] * b[i + k];
    return dot_finish(acc, a, b, i, n);
}

/* Four rows at once: their additions interleave, which gives the CPU four
 * independent chains instead of one; each row's operations and their order
 * are tt_kern_dot's. */
TT_KERN_CLONES
void tt_kern_dot4(const float *restrict q, const float *restrict x0,
                  const float *restrict x1, const float *restrict x2,
                  const float *restrict x3, size_t n, float *out)
{
    float a0[16] = {0}, a1[16] = {0}, a2[16] = {0}, a3[16] = {0};
    size_t i = 0;

    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) {
            const float qk = q[i + k];

            a0[k] += qk * x0[i + k];
            a1[k] += qk * x1[i + k];
            a2[k] += qk * x2[i + k];
            a3[k] += qk * x3[i + k];
        }
    out[0] = dot_finish(a0, q, x0, i, n);
    out[1] = dot_finish(a1, q, x1, i, n);
    out[2] = dot_finish(a2, q, x2, i, n);
    out[3] = dot_finish(a3, q, x3, i, n);
}

/*
 * Blocks of outputs stay in registers while the whole input is swept; for
 * each output the additions run over k in ascending order, whatever the
 * block width, so blocking and vectorisation never change the result.
 * Wider blocks give the CPU more independent addition chains (the sweep is
 * bound by the latency of one chain's additions): 64 outputs are four
 * AVX-512 or eight AVX2 accumulators.  The rest goes in blocks of 32, 16 and
 * 8, then one output at a time.
 */
#define GEMV_BLOCK 64

/* One block of W outputs starting at column j0; W a constant at each use. */
#define GEMV_BLOCK_AT(W, y, a, lda, x, n_in, j0)                               \
    do {                                                                       \
        float acc_[W];                                                         \
                                                                               \
        _Pragma("GCC unroll 64")                                               \
        for (int c_ = 0; c_ < (W); c_++)                                       \
            acc_[c_] = (y)[(j0) + c_];                                         \
        for (size_t k_ = 0; k_ < (n_in); k_++) {                               \
            const float xk_ = (x)[k_];                                         \
            const float *row_ = (a) + k_ * (lda) + (j0);                       \
                                                                               \
            _Pragma("GCC unroll 64")                                           \
            for (int c_ = 0; c_ < (W); c_++)                                   \
                acc_[c_] += xk_ * row_[c_];                                    \
        }                                                                      \
        _Pragma("GCC unroll 64")                                               \
        for (int c_ = 0; c_ < (W); c_++)                                       \
            (y)[(j0) + c_] = acc_[c_];                                         \
    } while (0)

TT_KERN_CLONES
void tt_kern_gemv_t(float *restrict y, const float *restrict a, size_t lda,
                    const float *restrict x, size_t n_in, size_t n_out)
{
    size_t j0 = 0;

    for (; j0 + GEMV_BLOCK <= n_out; j0 += GEMV_BLOCK)
        GEMV_BLOCK_AT(GEMV_BLOCK, y, a, lda, x, n_in, j0);
    if (j0 + 32 <= n_out) {
        GEMV_BLOCK_AT(32, y, a, lda, x, n_in, j0);
        j0 += 32;
    }
    if (j0 + 16 <= n_out) {
        GEMV_BLOCK_AT(16, y, a, lda, x, n_in, j0);
        j0 += 16;
    }
    if (j0 + 8 <= n_out) {
        GEMV_BLOCK_AT(8, y, a, lda, x, n_in, j0);
        j0 += 8;
    }
    for (; j0 < n_out; j0++)
        GEMV_BLOCK_AT(1, y, a, lda, x, n_in, j0);
}

TT_KERN_CLONES
void tt_kern_axpy(float *restrict y, float alpha, const float *restrict x,
                  size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += alpha * x[i];
}

TT_KERN_CLONES
void tt_kern_scale(float *y, const float *x, float s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * s;
}

double tt_kern_sumsq(const float *x, size_t n)
{
    double s = 0.0;

    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * (double)x[i];
    return s;
}
