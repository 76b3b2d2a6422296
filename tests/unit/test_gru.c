/*
 * Unit tests of model/tt_kern and model/tt_gru: accuracy of the fast
 * exp/sigmoid/tanh against double precision, bit-exact order of the dot and
 * matrix-vector kernels, the canonical GRU step against a naive double
 * reference GRU (D = 7, 64, 1024), the sgemm training path against the
 * canonical step, gradients of one step and of BPTT over 5 steps against
 * finite differences of the double reference, and the golden vectors in
 * tests/data/gru_golden.txt (bit-exact outputs of a fixed small cell).
 *
 * `test_gru --write-golden FILE` regenerates the golden file; do that only
 * for an intended numeric change, and say so in the commit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"
#include "model/tt_gru.h"
#include "model/tt_kern.h"
#include "tests/unit/gru_ref.h"

/* ---- naive double reference GRU over the same parameter layout ---- */

static void fill_uniform(float *v, size_t n, struct tt_rng *rng, double a)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(a * (2.0 * tt_rng_uniform(rng) - 1.0));
}

static double *to_double(const float *v, size_t n)
{
    double *o = malloc(sizeof(double) * n);

    assert_non_null(o);
    for (size_t i = 0; i < n; i++)
        o[i] = v[i];
    return o;
}

/* ---- kernels ---- */

static void test_activation_accuracy(void **state)
{
    double me = 0, ms = 0, mt = 0;

    (void)state;
    for (double v = -30.0; v <= 30.0; v += 3e-5) {
        float x = (float)v;
        double e = exp((double)x), s = sigm((double)x), t = tanh((double)x);

        me = fmax(me, fabs(tt_kern_exp1(x) - e) / e);
        if (x > -80.0f)
            ms = fmax(ms, fabs(tt_kern_sigmoid1(x) - s) / s);
        if (x != 0.0f)
            mt = fmax(mt, fabs(tt_kern_tanh1(x) - t) / fabs(t));
    }
    for (double v = -86.9; v <= 86.9; v += 1e-3) {
        float x = (float)v;
        double e = exp((double)x);

        me = fmax(me, fabs(tt_kern_exp1(x) - e) / e);
    }
    /* near zero tanh must keep relative precision */
    for (double v = 1e-12; v <= 1e-2; v *= 1.001) {
        float x = (float)v;

        mt = fmax(mt, fabs(tt_kern_tanh1(x) - tanh((double)x)) / x);
        mt = fmax(mt, fabs(tt_kern_tanh1(-x) + tanh((double)x)) / x);
    }
    print_message("max relative error: exp %.3g sigmoid %.3g tanh %.3g\n", me,
                  ms, mt);
    assert_true(me <= 2.5e-7);
    assert_true(ms <= 2.5e-7);
    assert_true(mt <= 5e-7);
    /* saturation, extremes, signed zero and NaN stay finite and sane */
    assert_true(tt_kern_sigmoid1(-1000.0f) >= 0.0f);
    assert_true(tt_kern_sigmoid1(-1000.0f) < 2e-38f);
    assert_true(tt_kern_sigmoid1(1000.0f) == 1.0f);
    assert_true(fabsf(tt_kern_tanh1(50.0f) - 1.0f) < 1e-7f);
    assert_true(fabsf(tt_kern_tanh1(-50.0f) + 1.0f) < 1e-7f);
    assert_true(tt_kern_tanh1(0.0f) == 0.0f && !signbit(tt_kern_tanh1(0.0f)));
    assert_true(signbit(tt_kern_tanh1(-0.0f)));
    assert_true(isfinite(tt_kern_tanh1(NAN)));
    assert_true(isfinite(tt_kern_sigmoid1(INFINITY)));
    assert_true(isfinite(tt_kern_exp1(-INFINITY)));
}

static void test_vector_equals_scalar(void **state)
{
    enum { N = 1003 };
    float x[N], y[N];
    struct tt_rng rng;

    (void)state;
    tt_rng_seed(&rng, 11, 0);
    for (int i = 0; i < N; i++)
        x[i] = (float)(40.0 * tt_rng_normal(&rng) * tt_rng_uniform(&rng));
    tt_kern_sigmoid(y, x, N);
    for (int i = 0; i < N; i++)
        assert_memory_equal(&y[i], &(float){tt_kern_sigmoid1(x[i])}, 4);
    tt_kern_tanh(y, x, N);
    for (int i = 0; i < N; i++)
        assert_memory_equal(&y[i], &(float){tt_kern_tanh1(x[i])}, 4);
    tt_kern_exp(y, x, N);
    for (int i = 0; i < N; i++)
        assert_memory_equal(&y[i], &(float){tt_kern_exp1(x[i])}, 4);
    /* in place */
    memcpy(y, x, sizeof y);
    tt_kern_tanh(y, y, N);
    for (int i = 0; i < N; i++)
        assert_memory_equal(&y[i], &(float){tt_kern_tanh1(x[i])}, 4);
}

/* The kernels promise one summation order per output: check it against the
 * plain loop in that order, bit for bit, for awkward sizes. */
static void test_kernel_order(void **state)
{
    static const size_t sizes[] = {1, 3, 15, 16, 17, 31, 32, 33, 64, 100, 191};
    struct tt_rng rng;

    (void)state;
    tt_rng_seed(&rng, 12, 0);
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        size_t n = sizes[si], m = sizes[(si + 3) % 11], lda = m + 5;
        float *a = malloc(sizeof(float) * n * lda), *x = malloc(4 * n);
        float *y = malloc(4 * m), *y2 = malloc(4 * m);
        float acc[16] = {0}, s;
        size_t i = 0;
        double ref = 0;

        fill_uniform(a, n * lda, &rng, 1.0);
        fill_uniform(x, n, &rng, 1.0);
        for (i = 0; i + 16 <= n; i += 16)
            for (int k = 0; k < 16; k++)
                acc[k] = acc[k] + a[i + k] * x[i + k];
        for (int k = 0; k < 8; k++)
            acc[k] = acc[k] + acc[k + 8];
        for (int k = 0; k < 4; k++)
            acc[k] = acc[k] + acc[k + 4];
        s = (acc[0] + acc[2]) + (acc[1] + acc[3]);
        for (; i < n; i++)
            s = s + a[i] * x[i];
        assert_memory_equal(&s, &(float){tt_kern_dot(a, x, n)}, 4);
        if (n >= 4) {
            /* four rows of a (len <= lda floats each) at once */
            const size_t len = n < lda ? n : lda;
            float out[4];

            tt_kern_dot4(x, a, a + lda, a + 2 * lda, a + 3 * lda, len, out);
            for (size_t r = 0; r < 4; r++)
                assert_memory_equal(
                    &out[r], &(float){tt_kern_dot(x, a + r * lda, len)}, 4);
        }
        for (i = 0; i < n; i++)
            ref += (double)a[i] * x[i];
        assert_true(fabs(ref - s) < 1e-5 * (double)n);

        fill_uniform(y, m, &rng, 1.0);
        memcpy(y2, y, 4 * m);
        tt_kern_gemv_t(y, a, lda, x, n, m);
        for (size_t j = 0; j < m; j++) {
            float t = y2[j];

            for (size_t k = 0; k < n; k++)
                t = t + x[k] * a[k * lda + j];
            assert_memory_equal(&t, &y[j], 4);
        }
        free(a);
        free(x);
        free(y);
        free(y2);
    }
}

/* ---- the canonical step ---- */

static void check_step_vs_reference(uint32_t d, uint64_t seed, double tol)
{
    size_t np = tt_gru_nparams(d);
    float *p = malloc(4 * np), *h = malloc(4 * d), *x = malloc(4 * d);
    float *out = malloc(4 * d);
    double *pd, *hd, *xd, *ref = malloc(8 * d), maxerr = 0;
    struct tt_gru g;
    struct tt_rng rng;

    tt_rng_seed(&rng, seed, 0);
    tt_gru_view(&g, d, p);
    tt_gru_init_params(&g, &rng, -0.5f);
    fill_uniform(g.b, 3 * d, &rng, 0.5);
    for (int step = 0; step < 3; step++) {
        fill_uniform(h, d, &rng, 1.0);
        fill_uniform(x, d, &rng, 1.0);
        pd = to_double(p, np);
        hd = to_double(h, d);
        xd = to_double(x, d);
        ref_step(pd, (int)d, hd, xd, ref);
        tt_gru_step(&g, h, x, out);
        for (uint32_t j = 0; j < d; j++)
            maxerr = fmax(maxerr, fabs(out[j] - ref[j]));
        /* the input part precomputed gives the same bits */
        {
            float *a = malloc(4 * 3 * d), *o2 = malloc(4 * d);

            tt_gru_input(&g, x, a);
            tt_gru_step_a(&g, h, a, o2);
            assert_memory_equal(o2, out, 4 * d);
            free(a);
            free(o2);
        }
        /* in place gives the same bits */
        tt_gru_step(&g, h, x, h);
        assert_memory_equal(h, out, 4 * d);
        free(pd);
        free(hd);
        free(xd);
    }
    print_message("D=%u canonical step vs double reference: max abs err %.3g\n",
                  d, maxerr);
    assert_true(maxerr < tol);
    free(p);
    free(h);
    free(x);
    free(out);
    free(ref);
}

static void test_step_reference(void **state)
{
    (void)state;
    check_step_vs_reference(7, 1, 2e-6);
    check_step_vs_reference(64, 2, 5e-6);
    check_step_vs_reference(1024, 3, 2e-5);
}

/* The training path computes the same function as the canonical step. */
static void test_batch_vs_step(void **state)
{
    const uint32_t d = 48;
    const size_t n = 5;
    size_t np = tt_gru_nparams(d);
    float *p = malloc(4 * np), *x = malloc(4 * n * d), *h = malloc(4 * n * d);
    float *ho = malloc(4 * n * d), *z = malloc(4 * n * d);
    float *r = malloc(4 * n * d), *hh = malloc(4 * n * d);
    float *rh = malloc(4 * n * d), *ws = malloc(4 * tt_gru_ws_floats(d, n));
    float one[48];
    struct tt_gru g;
    struct tt_rng rng;

    (void)state;
    tt_rng_seed(&rng, 5, 0);
    tt_gru_view(&g, d, p);
    tt_gru_init_params(&g, &rng, 0.3f);
    fill_uniform(x, n * d, &rng, 1.0);
    fill_uniform(h, n * d, &rng, 1.0);
    tt_gru_fwd_batch(&g, n, x, h, ho, z, r, hh, rh, ws);
    for (size_t i = 0; i < n; i++) {
        tt_gru_step(&g, h + i * d, x + i * d, one);
        for (uint32_t j = 0; j < d; j++)
            assert_true(fabsf(one[j] - ho[i * d + j]) < 2e-6f);
    }
    free(p);
    free(x);
    free(h);
    free(ho);
    free(z);
    free(r);
    free(hh);
    free(rh);
    free(ws);
}

/* ---- gradients against finite differences of the double reference ---- */

/* L = sum_t c_t . h_{t+1} over a sequence h_{t+1} = GRU(h_t, x_t). */
static double ref_seq_loss(const double *p, int d, const double *h0,
                           const double *xs, const double *cs, int steps)
{
    double *h = malloc(8 * (size_t)d), *hn = malloc(8 * (size_t)d), l = 0;

    memcpy(h, h0, 8 * (size_t)d);
    for (int t = 0; t < steps; t++) {
        ref_step(p, d, h, xs + t * d, hn);
        for (int j = 0; j < d; j++)
            l += cs[t * d + j] * hn[j];
        memcpy(h, hn, 8 * (size_t)d);
    }
    free(h);
    free(hn);
    return l;
}

static void check_close(double analytic, double numeric, const char *what,
                        size_t i)
{
    double tol = 1e-4 + 2e-3 * fabs(numeric);

    if (fabs(analytic - numeric) > tol) {
        print_error("%s[%zu]: analytic %.8g numeric %.8g\n", what, i, analytic,
                    numeric);
        fail();
    }
}

static void check_bptt(int steps)
{
    const uint32_t d = 6;
    size_t np = tt_gru_nparams(d), nd = (size_t)steps * d;
    float *p = calloc(np, 4), *gp = calloc(np, 4);
    float *xs = malloc(4 * nd), *cs = malloc(4 * nd);
    float *hs = malloc(4 * (nd + d)); /* h_0 .. h_steps */
    float *z = malloc(4 * nd), *r = malloc(4 * nd), *hh = malloc(4 * nd);
    float *rh = malloc(4 * nd), *ws = malloc(4 * tt_gru_ws_floats(d, 1));
    float *dx = malloc(4 * nd), dnext[6], dcur[6];
    double *pd, *h0d, *xd, *cd;
    struct tt_gru g, gg;
    struct tt_rng rng;
    const double eps = 1e-6;

    tt_rng_seed(&rng, 7, (uint64_t)steps);
    tt_gru_view(&g, d, p);
    tt_gru_view(&gg, d, gp);
    tt_gru_init_params(&g, &rng, 0.0f);
    fill_uniform(g.b, 3 * d, &rng, 0.5);
    fill_uniform(hs, d, &rng, 1.0);
    fill_uniform(xs, nd, &rng, 1.0);
    fill_uniform(cs, nd, &rng, 1.0);
    for (int t = 0; t < steps; t++)
        tt_gru_fwd_batch(&g, 1, xs + t * d, hs + t * d, hs + (t + 1) * d,
                         z + t * d, r + t * d, hh + t * d, rh + t * d, ws);
    /* backward: dL/dh_{t+1} = c_t + (from step t+1) */
    memset(dnext, 0, sizeof dnext);
    for (int t = steps - 1; t >= 0; t--) {
        for (uint32_t j = 0; j < d; j++)
            dnext[j] += cs[t * d + j];
        memset(dcur, 0, sizeof dcur);
        tt_gru_bwd_batch(&g, &gg, 1, xs + t * d, hs + t * d, z + t * d,
                         r + t * d, hh + t * d, rh + t * d, dnext, dcur,
                         dx + t * d, ws);
        memcpy(dnext, dcur, sizeof dcur);
    }
    pd = to_double(p, np);
    h0d = to_double(hs, d);
    xd = to_double(xs, nd);
    cd = to_double(cs, nd);
    for (size_t i = 0; i < np; i++) {
        double keep = pd[i], lp, lm;

        pd[i] = keep + eps;
        lp = ref_seq_loss(pd, (int)d, h0d, xd, cd, steps);
        pd[i] = keep - eps;
        lm = ref_seq_loss(pd, (int)d, h0d, xd, cd, steps);
        pd[i] = keep;
        check_close(gp[i], (lp - lm) / (2 * eps), "dparam", i);
    }
    for (uint32_t i = 0; i < d; i++) {
        double keep = h0d[i], lp, lm;

        h0d[i] = keep + eps;
        lp = ref_seq_loss(pd, (int)d, h0d, xd, cd, steps);
        h0d[i] = keep - eps;
        lm = ref_seq_loss(pd, (int)d, h0d, xd, cd, steps);
        h0d[i] = keep;
        check_close(dnext[i], (lp - lm) / (2 * eps), "dh0", i);
    }
    for (size_t i = 0; i < nd; i++) {
        double keep = xd[i], lp, lm;

        xd[i] = keep + eps;
        lp = ref_seq_loss(pd, (int)d, h0d, xd, cd, steps);
        xd[i] = keep - eps;
        lm = ref_seq_loss(pd, (int)d, h0d, xd, cd, steps);
        xd[i] = keep;
        check_close(dx[i], (lp - lm) / (2 * eps), "dx", i);
    }
    free(pd);
    free(h0d);
    free(xd);
    free(cd);
    free(p);
    free(gp);
    free(xs);
    free(cs);
    free(hs);
    free(z);
    free(r);
    free(hh);
    free(rh);
    free(ws);
    free(dx);
}

static void test_grad_step(void **state)
{
    (void)state;
    check_bptt(1);
}

static void test_grad_bptt(void **state)
{
    (void)state;
    check_bptt(5);
}

/* Batched backward over several rows equals the sum of one-row backwards
 * (up to float rounding): rows are independent except for the shared
 * parameter gradient. */
static void test_bwd_rows(void **state)
{
    const uint32_t d = 20;
    const size_t n = 3;
    size_t np = tt_gru_nparams(d), nd = n * d;
    float *p = malloc(4 * np), *g1 = calloc(np, 4), *g2 = calloc(np, 4);
    float *x = malloc(4 * nd), *h = malloc(4 * nd), *ho = malloc(4 * nd);
    float *z = malloc(4 * nd), *r = malloc(4 * nd), *hh = malloc(4 * nd);
    float *rh = malloc(4 * nd), *go = malloc(4 * nd);
    float *dh1 = calloc(nd, 4), *dh2 = calloc(nd, 4);
    float *ws = malloc(4 * tt_gru_ws_floats(d, n));
    struct tt_gru g, a, b;
    struct tt_rng rng;

    (void)state;
    tt_rng_seed(&rng, 9, 0);
    tt_gru_view(&g, d, p);
    tt_gru_view(&a, d, g1);
    tt_gru_view(&b, d, g2);
    tt_gru_init_params(&g, &rng, 0.0f);
    fill_uniform(x, nd, &rng, 1.0);
    fill_uniform(h, nd, &rng, 1.0);
    fill_uniform(go, nd, &rng, 1.0);
    tt_gru_fwd_batch(&g, n, x, h, ho, z, r, hh, rh, ws);
    tt_gru_bwd_batch(&g, &a, n, x, h, z, r, hh, rh, go, dh1, NULL, ws);
    for (size_t i = 0; i < n; i++)
        tt_gru_bwd_batch(&g, &b, 1, x + i * d, h + i * d, z + i * d,
                         r + i * d, hh + i * d, rh + i * d, go + i * d,
                         dh2 + i * d, NULL, ws);
    for (size_t i = 0; i < np; i++)
        assert_true(fabsf(g1[i] - g2[i]) <= 1e-5f * (1.0f + fabsf(g2[i])));
    for (size_t i = 0; i < nd; i++)
        assert_true(fabsf(dh1[i] - dh2[i]) <= 1e-5f * (1.0f + fabsf(dh2[i])));
    free(p);
    free(g1);
    free(g2);
    free(x);
    free(h);
    free(ho);
    free(z);
    free(r);
    free(hh);
    free(rh);
    free(go);
    free(dh1);
    free(dh2);
    free(ws);
}

/* ---- golden vectors ---- */

/* The golden cell: D = 20 (not a multiple of the 16/32 blocks), weights
 * from a fixed seed, 6 steps; the file stores weights, inputs and outputs as
 * C99 hex floats so that the comparison is exact. */
#define GOLD_D 20
#define GOLD_STEPS 6

static void gold_make(float *p, float *h0, float *xs)
{
    struct tt_gru g;
    struct tt_rng rng;

    tt_rng_seed(&rng, 20240601, 0);
    tt_gru_view(&g, GOLD_D, p);
    tt_gru_init_params(&g, &rng, -1.0f);
    fill_uniform(g.b, 3 * GOLD_D, &rng, 1.0);
    fill_uniform(h0, GOLD_D, &rng, 1.0);
    /* large inputs too, so that the activations saturate somewhere */
    fill_uniform(xs, (size_t)GOLD_STEPS * GOLD_D, &rng, 4.0);
}

static int write_golden(const char *path)
{
    size_t np = tt_gru_nparams(GOLD_D);
    float *p = malloc(4 * np), h[GOLD_D], xs[GOLD_STEPS * GOLD_D];
    struct tt_gru g;
    FILE *f = fopen(path, "w");

    if (!f || !p)
        return 1;
    gold_make(p, h, xs);
    tt_gru_view(&g, GOLD_D, p);
    fprintf(f, "# tt_gru golden vectors: dim steps, params, h0, then per "
               "step x and h'\n%d %d\n", GOLD_D, GOLD_STEPS);
    for (size_t i = 0; i < np; i++)
        fprintf(f, "%a\n", (double)p[i]);
    for (int j = 0; j < GOLD_D; j++)
        fprintf(f, "%a\n", (double)h[j]);
    for (int t = 0; t < GOLD_STEPS; t++) {
        tt_gru_step(&g, h, xs + t * GOLD_D, h);
        for (int j = 0; j < GOLD_D; j++)
            fprintf(f, "%a\n", (double)xs[t * GOLD_D + j]);
        for (int j = 0; j < GOLD_D; j++)
            fprintf(f, "%a\n", (double)h[j]);
    }
    free(p);
    return fclose(f) != 0;
}

static float read_hex(FILE *f)
{
    char line[128], *end;
    double v;

    assert_non_null(fgets(line, sizeof line, f));
    errno = 0;
    v = strtod(line, &end);
    assert_true(errno == 0 && end != line);
    return (float)v;
}

static void test_golden(void **state)
{
    const char *dir = getenv("TT_TEST_DATA");
    char path[4096], line[256];
    size_t np = tt_gru_nparams(GOLD_D);
    float *p = malloc(4 * np), *mine = malloc(4 * np), h[GOLD_D];
    float mh[GOLD_D], mxs[GOLD_STEPS * GOLD_D];
    int d, steps;
    struct tt_gru g;
    FILE *f;

    (void)state;
    assert_non_null(dir);
    snprintf(path, sizeof path, "%s/gru_golden.txt", dir);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    assert_int_equal(fscanf(f, "%d %d\n", &d, &steps), 2);
    assert_int_equal(d, GOLD_D);
    assert_int_equal(steps, GOLD_STEPS);
    for (size_t i = 0; i < np; i++)
        p[i] = read_hex(f);
    for (int j = 0; j < d; j++)
        h[j] = read_hex(f);
    /* the generator (tt_rng, init) must still give the stored weights:
     * otherwise this file no longer tests what it says */
    gold_make(mine, mh, mxs);
    assert_memory_equal(mine, p, 4 * np);
    tt_gru_view(&g, GOLD_D, p);
    for (int t = 0; t < steps; t++) {
        float x[GOLD_D], want;

        for (int j = 0; j < d; j++)
            x[j] = read_hex(f);
        tt_gru_step(&g, h, x, h);
        for (int j = 0; j < d; j++) {
            want = read_hex(f);
            if (memcmp(&want, &h[j], 4) != 0) {
                print_error("golden step %d [%d]: got %a want %a\n", t, j,
                            (double)h[j], (double)want);
                fail();
            }
        }
    }
    fclose(f);
    free(p);
    free(mine);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activation_accuracy),
        cmocka_unit_test(test_vector_equals_scalar),
        cmocka_unit_test(test_kernel_order),
        cmocka_unit_test(test_step_reference),
        cmocka_unit_test(test_batch_vs_step),
        cmocka_unit_test(test_grad_step),
        cmocka_unit_test(test_grad_bptt),
        cmocka_unit_test(test_bwd_rows),
        cmocka_unit_test(test_golden),
    };

    if (argc == 3 && strcmp(argv[1], "--write-golden") == 0)
        return write_golden(argv[2]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
