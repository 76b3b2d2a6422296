/*
 * The stage 2 loss and its gradient over a set of sequences of one cell
 * (eq. 11, 12), by full backpropagation through time.
 *
 * The sequences are sorted longest first, so the sequences still running at
 * step t are always the first nrow[t]: every step is one dense block of rows
 * and the GRU, the 2TS-Plus projection, the logits against the step's
 * shared negatives and the gradients that flow back through time are sgemm
 * calls over that block, with no padding.  Per step and row the forward
 * pass keeps h_t, the gate values z, r, h~, r*h, the GRU input x and
 * dL/dq_t (computed at once, since the item vectors are frozen), and the
 * backward pass the GRU's pre-activation gradients (3 D): 10 D floats, 11 D
 * with the 2TS-Plus last items.  The weight gradients (W, U, b of the cell
 * and W of 2TS-Plus) do not feed back into the recursion, so they are
 * summed once over all rows of all steps at the end (one sgemm each)
 * instead of one small sgemm per step: past the first steps of a batch
 * only a few long sequences run, and per-step calls on one to three rows
 * cost mostly call overhead.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/tt_gru.h"
#include "model/tt_kern.h"
#include "model/tt_model_int.h"
#include "model/tt_softmax.h"
#include "model/tt_train_int.h"

void tt_bptt_release(struct tt_bptt *b)
{
    free(b->h);
    free(b->z);
    free(b->r);
    free(b->hh);
    free(b->rh);
    free(b->dq);
    free(b->xa);
    free(b->la);
    free(b->da);
    free(b->dha);
    free(b->dhb);
    free(b->qb);
    free(b->ws);
    free(b->nrow);
    free(b->neg);
    free(b->xn);
    free(b->ln);
    free(b->l);
    free(b->map);
    memset(b, 0, sizeof *b);
}

tt_err_t tt_bptt_init(struct tt_bptt *b, uint32_t dim, bool plus,
                      uint32_t negatives, size_t cap_n, size_t cap_rows,
                      size_t cap_steps)
{
    size_t rows = cap_rows * dim, nd = cap_n * dim;

    memset(b, 0, sizeof *b);
    b->dim = dim;
    b->plus = plus;
    b->negatives = negatives;
    b->cap_n = cap_n;
    b->cap_rows = cap_rows;
    b->cap_steps = cap_steps;
    b->h = malloc(rows * sizeof(float) + 1);
    b->z = malloc(rows * sizeof(float) + 1);
    b->r = malloc(rows * sizeof(float) + 1);
    b->hh = malloc(rows * sizeof(float) + 1);
    b->rh = malloc(rows * sizeof(float) + 1);
    b->dq = malloc(rows * sizeof(float) + 1);
    b->xa = malloc(rows * sizeof(float) + 1);
    b->la = plus ? malloc(rows * sizeof(float) + 1) : NULL;
    b->da = malloc(3 * rows * sizeof(float) + 1);
    b->dha = malloc(nd * sizeof(float) + 1);
    b->dhb = malloc(nd * sizeof(float) + 1);
    b->qb = malloc(nd * sizeof(float) + 1);
    b->ws = malloc(tt_gru_ws_floats(dim, cap_n) * sizeof(float) + 1);
    b->nrow = malloc((cap_steps + 1) * sizeof *b->nrow);
    b->neg = malloc(((size_t)negatives + 1) * sizeof *b->neg);
    b->xn = malloc(((size_t)negatives * dim + 1) * sizeof *b->xn);
    b->ln = malloc((cap_n * negatives + 1) * sizeof *b->ln);
    b->l = malloc(((size_t)negatives + 1) * sizeof *b->l);
    b->map = malloc(((size_t)negatives + 1) * sizeof *b->map);
    if (!b->h || !b->z || !b->r || !b->hh || !b->rh || !b->dq || !b->xa ||
        (plus && !b->la) || !b->da || !b->dha || !b->dhb || !b->qb ||
        !b->ws || !b->nrow || !b->neg || !b->xn || !b->ln || !b->l || !b->map) {
        tt_bptt_release(b);
        return TT_ERR_NOMEM;
    }
    return TT_ERR_OK;
}

/* dst[k] = x_{seqs[k].items[t]} for k < n. */
static void gather(float *dst, const float *items, uint32_t dim,
                   const struct tt_s2_seq *seqs, uint32_t n, uint32_t t)
{
    for (uint32_t k = 0; k < n; k++)
        memcpy(dst + (size_t)k * dim,
               items + (size_t)seqs[k].items[t] * dim, dim * sizeof(float));
}

/*
 * tt_softmax_logits(l, n, l) with one exp per logit instead of two (the
 * exponentials are kept in l between the sum and the normalisation): the
 * same IEEE operations in the same order, so the same bits.
 */
static double offer_softmax(float *l, uint32_t n)
{
    const double l0 = l[0];
    float m = l[0], inv;
    double s = 0.0;

    for (uint32_t j = 1; j < n; j++)
        m = l[j] > m ? l[j] : m;
    for (uint32_t j = 0; j < n; j++)
        l[j] = l[j] - m;
    tt_kern_exp(l, l, n);
    for (uint32_t j = 0; j < n; j++)
        s += l[j];
    inv = (float)(1.0 / s);
    for (uint32_t j = 0; j < n; j++)
        l[j] = l[j] * inv;
    l[0] -= 1.0f;
    return log(s) + (double)m - l0;
}

/*
 * The sampled softmax of step t for its nt rows with queries q: draws the
 * step's negatives, scores them by one sgemm, and sets dq = scale * dL/dq
 * (the item vectors are frozen, so this is all the backward pass needs).
 */
static double step_softmax(struct tt_bptt *b, const float *items,
                           const struct tt_s2_neg *neg,
                           const struct tt_s2_seq *seqs, uint32_t t,
                           uint32_t nt, const float *q, float *dq,
                           float scale)
{
    const uint32_t dim = b->dim, p = b->negatives;
    const int d = (int)dim;
    double loss = 0.0;
    struct tt_rng rng;

    tt_rng_seed(&rng, neg->seed, t);
    for (uint32_t j = 0; j < p; j++) {
        b->neg[j] = neg->fixed ? neg->fixed[(size_t)t * p + j]
                               : neg->pool[tt_rng_below(&rng, neg->n_pool)];
        memcpy(b->xn + (size_t)j * dim, items + (size_t)b->neg[j] * dim,
               dim * sizeof(float));
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nt, (int)p, d,
                1.0f, q, d, b->xn, d, 0.0f, b->ln, (int)p);
    for (uint32_t k = 0; k < nt; k++) {
        const uint32_t pos = seqs[k].items[t];
        const float *xp = items + (size_t)pos * dim;
        float *lk = b->ln + (size_t)k * p;
        uint32_t n = 1;

        /* the offer set without the accidental hits, compacted */
        b->l[0] = tt_kern_dot(q + (size_t)k * dim, xp, dim);
        b->map[0] = 0;
        for (uint32_t j = 0; j < p; j++) {
            if (b->neg[j] == pos)
                continue;
            b->l[n] = lk[j];
            b->map[n++] = j + 1;
        }
        loss += offer_softmax(b->l, n);
        memset(lk, 0, p * sizeof *lk);
        for (uint32_t m = 1; m < n; m++)
            lk[b->map[m] - 1] = b->l[m] * scale;
        memset(dq + (size_t)k * dim, 0, dim * sizeof(float));
        tt_kern_axpy(dq + (size_t)k * dim, b->l[0] * scale, xp, dim);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nt, d, (int)p,
                1.0f, b->ln, (int)p, b->xn, d, 1.0f, dq, d);
    return loss;
}

double tt_bptt_run(struct tt_bptt *b, const float *dense, float *grad,
                   const float *items, const struct tt_s2_neg *neg,
                   const struct tt_s2_seq *seqs, uint32_t n, float scale)
{
    const uint32_t dim = b->dim, steps = seqs[0].len;
    const int d = (int)dim, d3 = 3 * d;
    float *psi, *wp, *gpsi, *gwp;
    struct tt_gru cell[2], gcell[2];
    const struct tt_gru *c, *gc;
    size_t base = 0, rows;
    double loss = 0.0;
    float *dnext = b->dha, *dcur = b->dhb;

    tt_model_dense_views((float *)dense, dim, b->plus, &psi, &cell[0],
                         &cell[1], &wp);
    tt_model_dense_views(grad, dim, b->plus, &gpsi, &gcell[0], &gcell[1],
                         &gwp);
    c = &cell[seqs[0].cell];
    gc = &gcell[seqs[0].cell];
    for (uint32_t t = 0; t < steps; t++) {
        uint32_t k = 0;

        while (k < n && seqs[k].len > t)
            k++;
        b->nrow[t] = k;
    }

    /*
     * Forward.  Row blocks by step: block t holds the nt rows running at
     * step t; the GRU transition t -> t + 1 of its first n1 rows keeps its
     * input (xa), z, r, h~ and r*h in block t, the rows that end at t get
     * zero inputs and r*h (so that the weight gradients can be one sgemm
     * over all rows).  The 2TS-Plus last items of block t + 1 are the
     * inputs of block t (la; none in block 0).
     */
    if (b->plus)
        memset(b->la, 0, (size_t)n * dim * sizeof(float));
    for (uint32_t t = 0; t < steps; t++) {
        const uint32_t nt = b->nrow[t];
        const uint32_t n1 = t + 1 < steps ? b->nrow[t + 1] : 0;
        const size_t o = base * dim, rest = (size_t)(nt - n1) * dim;
        float *ht = b->h + o, *dqt = b->dq + o, *xt = b->xa + o;
        const float *q = ht;

        if (t == 0)
            for (uint32_t k = 0; k < n; k++)
                memcpy(ht + (size_t)k * dim, seqs[k].h0, dim * sizeof(float));
        if (b->plus) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nt, d,
                        d, 1.0f, ht, d, wp, d, 0.0f, b->qb, d);
            if (t > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nt,
                            d, d, 1.0f, b->la + o, d, wp + (size_t)dim * dim,
                            d, 1.0f, b->qb, d);
            q = b->qb;
        }
        loss += step_softmax(b, items, neg, seqs, t, nt, q, dqt, scale);
        if (n1) {
            gather(xt, items, dim, seqs, n1, t);
            if (b->plus)
                memcpy(b->la + o + (size_t)nt * dim, xt,
                       (size_t)n1 * dim * sizeof(float));
            tt_gru_fwd_batch(c, n1, xt, ht, ht + (size_t)nt * dim,
                             b->z + o, b->r + o, b->hh + o, b->rh + o, b->ws);
        }
        memset(xt + (size_t)n1 * dim, 0, rest * sizeof(float));
        memset(b->rh + o + (size_t)n1 * dim, 0, rest * sizeof(float));
        base += nt;
    }
    rows = base;

    /* backward, dnext = dL/dh_{t+1} of the rows still running at t + 1;
     * da gets the pre-activation gradients of block t's transitions, zero
     * for the rows that end at t */
    for (uint32_t t = steps; t-- > 0;) {
        const uint32_t nt = b->nrow[t];
        const uint32_t n1 = t + 1 < steps ? b->nrow[t + 1] : 0;
        float *ht, *dqt, *dat;
        size_t o;

        base -= nt;
        o = base * dim;
        ht = b->h + o;
        dqt = b->dq + o;
        dat = b->da + 3 * o;
        if (b->plus) {
            memset(dcur, 0, (size_t)nt * dim * sizeof(float));
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nt, d, d,
                        1.0f, dqt, d, wp, d, 1.0f, dcur, d);
        } else {
            memcpy(dcur, dqt, (size_t)nt * dim * sizeof(float));
        }
        /* the weight gradients are summed over all steps at the end, in
         * one sgemm each */
        tt_gru_bwd_data(c, n1, ht, b->z + o, b->r + o, b->hh + o, dnext,
                        dcur, dat, b->ws);
        memset(dat + (size_t)n1 * d3, 0,
               (size_t)(nt - n1) * d3 * sizeof(float));
        {
            float *tmp = dnext;

            dnext = dcur;
            dcur = tmp;
        }
    }
    /* the weight gradients over all rows at once: W from the inputs, the
     * z and r parts of U from h_t, the h~ part from r*h, b from da */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d3, (int)rows,
                1.0f, b->xa, d, b->da, d3, 1.0f, gc->wt, d3);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, 2 * d, (int)rows,
                1.0f, b->h, d, b->da, d3, 1.0f, gc->ut, d3);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, (int)rows,
                1.0f, b->rh, d, b->da + 2 * d, d3, 1.0f, gc->ut + 2 * d, d3);
    for (size_t i = 0; i < rows; i++)
        tt_kern_axpy(gc->b, 1.0f, b->da + i * (size_t)d3, (size_t)d3);
    if (b->plus) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, (int)rows,
                    1.0f, b->h, d, b->dq, d, 1.0f, gwp, d);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, (int)rows,
                    1.0f, b->la, d, b->dq, d, 1.0f, gwp + (size_t)dim * dim,
                    d);
    }
    /* dnext is dL/dh_0: psi's gradient for the inactive cell; phi_u of
     * active users is frozen */
    if (seqs[0].cell == 0)
        for (uint32_t k = 0; k < n; k++)
            tt_kern_axpy(gpsi, 1.0f, dnext + (size_t)k * dim, dim);
    return loss;
}
