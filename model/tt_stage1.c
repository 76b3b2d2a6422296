/*
 * Stage 1 (eq. 10): phi_u and x_i (and g, the category embedding table, for
 * item features) by minibatch Adam or SGD on the sampled softmax, order
 * ignored.
 *
 * Offer sets: by default the p negatives are drawn once per minibatch (rng
 * seeded by (seed, epoch, batch)) and shared by its positives, as
 * TensorFlow's sampled_softmax_loss does; a negative that equals a row's
 * positive is dropped from that row.  Each positive still sees p uniform
 * negatives, but a batch touches p + B item rows instead of p B, which is
 * what makes stage 1 fast when the item table does not fit in cache.  With
 * opts->per_positive_negatives every positive draws its own p (rng seeded
 * by (seed, epoch, position), resampled when equal to the positive).
 *
 * A minibatch of B positives runs in two phases separated by barriers:
 *
 *   A  each thread takes a contiguous share of the positives: scores the
 *      offer sets, keeps the logit gradients g, the user's gradient
 *      dphi = sum_j g_j x_j and a copy of phi_u (what the item gradients
 *      g_j phi_u need).
 *   B  every parameter row has one owner thread (row index mod threads);
 *      each thread walks the whole batch in a fixed order, adds the
 *      contributions to the rows it owns (reading only the batch buffers),
 *      then applies L2 and Adam/SGD to those rows (lazy updates) and clears
 *      them.
 *
 * Every row's gradient is summed in the same order whoever owns it, so the
 * result depends neither on timing nor on the number of threads: the same
 * seed gives the same embeddings bit for bit with 1 or 8 threads.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_time.h"
#include "model/tt_adam.h"
#include "model/tt_kern.h"
#include "model/tt_model.h"
#include "model/tt_softmax.h"
#include "model/tt_train_int.h"
#include "model/tt_warm.h"

#define MAX_THREADS 256
/* The largest offer set of the shared-negatives path (its buffers live on
 * the stack); tt_train_opts_check bounds p below it. */
#define TT_S1_OFFER_MAX (TT_TRAIN_NEGATIVES_MAX + 1)

/* One owner's list of touched rows. */
struct touched {
    uint32_t *rows;
    size_t n;
};

struct s1 {
    const struct tt_train_opts *o;
    const struct tt_dataset *ds;
    const struct tt_train_data *td;
    struct tt_team team;
    int nt;
    uint32_t d, fd, dd, p, n_cat; /* n_cat: rows of G (last = none) */
    size_t n_train, batch;
    float *phi, *x, *g;           /* parameters */
    float *gphi, *gx, *gg;        /* gradient accumulators */
    uint8_t *tphi, *tx, *tg;      /* touched flags */
    struct tt_adam aphi, ax, ag;
    uint32_t *perm;               /* training positions, shuffled */
    uint32_t *cat;                /* [n_items] row of G */
    uint32_t *offer, *bu;         /* [batch][p + 1], [batch] */
    float *gl;                    /* [batch][p + 1] */
    float *pb, *db;               /* [batch][dd]: phi_u copy, dphi */
    /* shared negatives of the batch: each thread draws the same ones */
    uint32_t *neg[MAX_THREADS];   /* [p] */
    float *xn[MAX_THREADS];       /* [p][dd] their full item vectors */
    struct touched tl[MAX_THREADS][3];
    double loss[MAX_THREADS];
    /* progress, owned by thread 0 */
    tt_train_progress_fn progress;
    void *progress_ctx;
    uint64_t t0, last_report;
    uint64_t done;                /* positives processed, all epochs */
};

static void s1_free(struct s1 *s)
{
    free(s->phi);
    free(s->x);
    free(s->g);
    free(s->gphi);
    free(s->gx);
    free(s->gg);
    free(s->tphi);
    free(s->tx);
    free(s->tg);
    tt_adam_release(&s->aphi);
    tt_adam_release(&s->ax);
    tt_adam_release(&s->ag);
    free(s->perm);
    free(s->cat);
    free(s->offer);
    free(s->bu);
    free(s->gl);
    free(s->pb);
    free(s->db);
    for (int t = 0; t < MAX_THREADS; t++) {
        for (int k = 0; k < 3; k++)
            free(s->tl[t][k].rows);
        free(s->neg[t]);
        free(s->xn[t]);
    }
}

static inline uint32_t owner(uint32_t row, int nt)
{
    return row % (uint32_t)nt;
}

static inline void touch(uint8_t *flag, struct touched *tl, uint32_t row)
{
    if (!flag[row]) {
        flag[row] = 1;
        tl->rows[tl->n++] = row;
    }
}

/* Phase A, one offer set per positive: positives [lo, hi) of the batch
 * starting at b0, whose size gives the gradient scale 1 / nb. */
static void phase_a_pp(struct s1 *s, int tid, uint32_t epoch, size_t b0,
                    size_t nb, size_t lo, size_t hi)
{
    const uint32_t p1 = s->p + 1, d = s->d, fd = s->fd, dd = s->dd;
    const uint64_t seed = s->o->seed ^ tt_rng_mix64(TT_TRAIN_STREAM_S1_NEG +
                                                    epoch);
    const float scale = 1.0f / (float)nb;
    double loss = 0.0;

    for (size_t k = lo; k < hi; k++) {
        const uint32_t j = s->perm[b0 + k];
        const uint32_t u = s->ds->user[j], pos = s->ds->item[j];
        const float *ph = s->phi + (size_t)u * dd;
        uint32_t *off = s->offer + k * p1;
        float *g = s->gl + k * p1, *dp = s->db + k * dd;
        struct tt_rng rng;

        tt_rng_seed(&rng, seed, b0 + k);
        s->bu[k] = u;
        off[0] = pos;
        for (uint32_t q = 1; q < p1; q++)
            off[q] = tt_train_negative(&rng, s->td->pool, s->td->n_pool, pos);
        for (uint32_t q = 0; q < p1; q++) {
            g[q] = tt_kern_dot(ph, s->x + (size_t)off[q] * d, d);
            if (fd)
                g[q] += tt_kern_dot(ph + d, s->g + (size_t)s->cat[off[q]] * fd,
                                    fd);
        }
        loss += tt_softmax_logits(g, p1, g);
        for (uint32_t q = 0; q < p1; q++)
            g[q] *= scale;
        memcpy(s->pb + k * dd, ph, dd * sizeof(float));
        memset(dp, 0, dd * sizeof(float));
        for (uint32_t q = 0; q < p1; q++) {
            tt_kern_axpy(dp, g[q], s->x + (size_t)off[q] * d, d);
            if (fd)
                tt_kern_axpy(dp + d, g[q], s->g + (size_t)s->cat[off[q]] * fd,
                             fd);
        }
    }
    s->loss[tid] += loss;
}

/* Phase B, accumulation, one offer set per positive: this thread's rows,
 * in batch order, from the batch buffers only (other threads update their
 * rows meanwhile). */
static void phase_b_pp(struct s1 *s, int tid, size_t nb)
{
    const uint32_t p1 = s->p + 1, d = s->d, fd = s->fd, dd = s->dd;
    struct touched *tl = s->tl[tid];

    for (size_t k = 0; k < nb; k++) {
        const uint32_t u = s->bu[k];
        const uint32_t *off = s->offer + k * p1;
        const float *g = s->gl + k * p1;
        const float *ph = s->pb + k * dd;

        if (owner(u, s->nt) == (uint32_t)tid) {
            touch(s->tphi, &tl[0], u);
            tt_kern_axpy(s->gphi + (size_t)u * dd, 1.0f, s->db + k * dd, dd);
        }
        for (uint32_t q = 0; q < p1; q++) {
            const uint32_t it = off[q];

            if (owner(it, s->nt) == (uint32_t)tid) {
                touch(s->tx, &tl[1], it);
                tt_kern_axpy(s->gx + (size_t)it * d, g[q], ph, d);
            }
            if (fd && owner(s->cat[it], s->nt) == (uint32_t)tid) {
                const uint32_t c = s->cat[it];

                touch(s->tg, &tl[2], c);
                tt_kern_axpy(s->gg + (size_t)c * fd, g[q], ph + d, fd);
            }
        }
    }
}

/* The full vector [x_i ; g(f_i)] of item i into dst. */
static void full_item(const struct s1 *s, uint32_t i, float *dst)
{
    memcpy(dst, s->x + (size_t)i * s->d, s->d * sizeof(float));
    if (s->fd)
        memcpy(dst + s->d, s->g + (size_t)s->cat[i] * s->fd,
               s->fd * sizeof(float));
}

/* Phase A with shared negatives. */
static void phase_a_shared(struct s1 *s, int tid, uint32_t epoch, size_t b0,
                           size_t nb, size_t lo, size_t hi)
{
    const uint32_t p = s->p, p1 = p + 1, dd = s->dd;
    const float scale = 1.0f / (float)nb;
    uint32_t *neg = s->neg[tid];
    float *xn = s->xn[tid];
    float l[TT_S1_OFFER_MAX], xp[TT_MODEL_DIM_MAX];
    uint32_t map[TT_S1_OFFER_MAX];
    struct tt_rng rng;
    double loss = 0.0;

    tt_rng_seed(&rng, s->o->seed ^ tt_rng_mix64(TT_TRAIN_STREAM_S1_NEG +
                                                epoch),
                (b0 / s->batch) | (UINT64_C(1) << 62));
    for (uint32_t q = 0; q < p; q++) {
        neg[q] = s->td->pool[tt_rng_below(&rng, s->td->n_pool)];
        full_item(s, neg[q], xn + (size_t)q * dd);
    }
    for (size_t k = lo; k < hi; k++) {
        const uint32_t j = s->perm[b0 + k];
        const uint32_t u = s->ds->user[j], pos = s->ds->item[j];
        const float *ph = s->phi + (size_t)u * dd;
        float *g = s->gl + k * p1, *dp = s->db + k * dd;
        uint32_t n = 1;

        s->bu[k] = u;
        s->offer[k * p1] = pos;
        full_item(s, pos, xp);
        /* the offer set without the accidental hits, compacted */
        l[0] = tt_kern_dot(ph, xp, dd);
        map[0] = 0;
        for (uint32_t q = 0; q < p; q++) {
            if (neg[q] == pos)
                continue;
            l[n] = tt_kern_dot(ph, xn + (size_t)q * dd, dd);
            map[n++] = q + 1;
        }
        loss += tt_softmax_logits(l, n, l);
        memset(g, 0, p1 * sizeof *g);
        for (uint32_t m = 0; m < n; m++)
            g[map[m]] = l[m] * scale;
        memcpy(s->pb + k * dd, ph, dd * sizeof(float));
        memset(dp, 0, dd * sizeof(float));
        tt_kern_axpy(dp, g[0], xp, dd);
        for (uint32_t q = 0; q < p; q++)
            tt_kern_axpy(dp, g[q + 1], xn + (size_t)q * dd, dd);
    }
    s->loss[tid] += loss;
}

/* Phase B with shared negatives: users and positives in batch order, then
 * each negative (in draw order) over the batch in order. */
static void phase_b_shared(struct s1 *s, int tid, size_t nb)
{
    const uint32_t p = s->p, p1 = p + 1, d = s->d, fd = s->fd, dd = s->dd;
    const uint32_t *neg = s->neg[tid];
    struct touched *tl = s->tl[tid];

    for (size_t k = 0; k < nb; k++) {
        const uint32_t u = s->bu[k], pos = s->offer[k * p1];
        const float g0 = s->gl[k * p1], *ph = s->pb + k * dd;

        if (owner(u, s->nt) == (uint32_t)tid) {
            touch(s->tphi, &tl[0], u);
            tt_kern_axpy(s->gphi + (size_t)u * dd, 1.0f, s->db + k * dd, dd);
        }
        if (owner(pos, s->nt) == (uint32_t)tid) {
            touch(s->tx, &tl[1], pos);
            tt_kern_axpy(s->gx + (size_t)pos * d, g0, ph, d);
        }
        if (fd && owner(s->cat[pos], s->nt) == (uint32_t)tid) {
            touch(s->tg, &tl[2], s->cat[pos]);
            tt_kern_axpy(s->gg + (size_t)s->cat[pos] * fd, g0, ph + d, fd);
        }
    }
    for (uint32_t q = 0; q < p; q++) {
        const uint32_t it = neg[q], c = s->cat[it];
        const bool own_x = owner(it, s->nt) == (uint32_t)tid;
        const bool own_g = fd && owner(c, s->nt) == (uint32_t)tid;

        if (own_x)
            touch(s->tx, &tl[1], it);
        if (own_g)
            touch(s->tg, &tl[2], c);
        if (!own_x && !own_g)
            continue;
        for (size_t k = 0; k < nb; k++) {
            const float gq = s->gl[k * p1 + q + 1], *ph = s->pb + k * dd;

            if (own_x)
                tt_kern_axpy(s->gx + (size_t)it * d, gq, ph, d);
            if (own_g)
                tt_kern_axpy(s->gg + (size_t)c * fd, gq, ph + d, fd);
        }
    }
}

static void apply_rows(struct s1 *s, struct touched *tl, float *param,
                       float *grad, uint8_t *flag, struct tt_adam *a,
                       uint32_t width)
{
    const float l2 = (float)s->o->l2, lr = (float)s->o->lr1;

    for (size_t k = 0; k < tl->n; k++) {
        const size_t off = (size_t)tl->rows[k] * width;
        float *pr = param + off, *gr = grad + off;

        if (l2 > 0.0f)
            tt_kern_axpy(gr, l2, pr, width);
        if (s->o->adam)
            tt_adam_apply(a, pr, gr, off, width);
        else
            tt_sgd_apply(pr, gr, width, lr);
        memset(gr, 0, width * sizeof *gr);
        flag[tl->rows[k]] = 0;
    }
    tl->n = 0;
}

static void report(struct s1 *s, uint32_t epoch, size_t pos_in_epoch,
                   bool end)
{
    struct tt_train_progress pr;
    uint64_t now = tt_time_mono_ns();
    double loss = 0.0;

    if (!s->progress || (!end && now - s->last_report < 1000000000ull))
        return;
    s->last_report = now;
    for (int t = 0; t < s->nt; t++)
        loss += s->loss[t];
    pr.stage = 1;
    pr.epoch = epoch;
    pr.epochs = s->o->epochs1;
    pr.loss = pos_in_epoch ? loss / (double)pos_in_epoch : 0.0;
    pr.fraction = (double)pos_in_epoch / (double)s->n_train;
    pr.rate = (double)s->done / tt_time_secs(s->t0, now);
    pr.valid_mrr = -1.0;
    s->progress(s->progress_ctx, &pr);
}

static void s1_worker(void *ctx, int tid)
{
    struct s1 *s = ctx;

    for (uint32_t epoch = 1; epoch <= s->o->epochs1; epoch++) {
        if (tid == 0) {
            struct tt_rng rng;

            /* Fisher-Yates from a fresh stream per epoch */
            tt_rng_seed(&rng, s->o->seed,
                        TT_TRAIN_STREAM_S1_SHUFFLE + epoch);
            for (size_t i = s->n_train - 1; i > 0; i--) {
                size_t j = (size_t)tt_rng_below(&rng, i + 1);
                uint32_t t = s->perm[i];

                s->perm[i] = s->perm[j];
                s->perm[j] = t;
            }
            for (int t = 0; t < s->nt; t++)
                s->loss[t] = 0.0;
        }
        tt_team_barrier(&s->team);
        for (size_t b0 = 0; b0 < s->n_train; b0 += s->batch) {
            size_t nb = s->n_train - b0 < s->batch ? s->n_train - b0
                                                   : s->batch;
            size_t lo, hi;

            tt_team_range(nb, tid, s->nt, &lo, &hi);
            if (tid == 0 && s->o->adam) {
                tt_adam_next(&s->aphi);
                tt_adam_next(&s->ax);
                tt_adam_next(&s->ag);
            }
            if (s->o->per_positive_negatives) {
                phase_a_pp(s, tid, epoch, b0, nb, lo, hi);
                tt_team_barrier(&s->team);
                phase_b_pp(s, tid, nb);
            } else {
                phase_a_shared(s, tid, epoch, b0, nb, lo, hi);
                tt_team_barrier(&s->team);
                phase_b_shared(s, tid, nb);
            }
            apply_rows(s, &s->tl[tid][0], s->phi, s->gphi, s->tphi, &s->aphi,
                       s->dd);
            apply_rows(s, &s->tl[tid][1], s->x, s->gx, s->tx, &s->ax, s->d);
            if (s->fd)
                apply_rows(s, &s->tl[tid][2], s->g, s->gg, s->tg, &s->ag,
                           s->fd);
            if (tid == 0) {
                s->done += nb;
                report(s, epoch, b0 + nb, b0 + nb == s->n_train);
            }
            tt_team_barrier(&s->team);
        }
    }
}

static float *alloc_floats(size_t n)
{
    return calloc(n ? n : 1, sizeof(float));
}

tt_err_t tt_stage1_train(const struct tt_dataset *ds,
                         const struct tt_split *split,
                         const struct tt_train_opts *opts,
                         tt_train_progress_fn progress, void *progress_ctx,
                         struct tt_stage1 *out, char *errstr,
                         size_t errstr_size)
{
    struct s1 *s;
    struct tt_train_data td;
    struct tt_rng rng;
    uint64_t t0 = tt_time_mono_ns();
    size_t nu, ni, nc;
    tt_err_t err;

    memset(out, 0, sizeof *out);
    err = tt_train_opts_check(opts, errstr, errstr_size);
    if (err)
        return err;
    err = tt_train_data_build(&td, ds, split, errstr, errstr_size);
    if (err)
        return err;
    s = calloc(1, sizeof *s);
    if (!s) {
        tt_train_data_release(&td);
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    s->o = opts;
    s->ds = ds;
    s->td = &td;
    s->nt = opts->threads;
    s->d = opts->dim;
    s->fd = opts->features ? opts->feature_dim : 0;
    s->dd = s->d + s->fd;
    s->p = opts->negatives;
    s->n_cat = (uint32_t)(ds->n_categories > 0 ? ds->n_categories : 0) + 1;
    s->n_train = split->train_end;
    s->batch = opts->batch;
    s->progress = progress;
    s->progress_ctx = progress_ctx;
    nu = td.n_users;
    ni = td.n_items;
    nc = s->fd ? s->n_cat : 0;
    s->phi = alloc_floats(nu * s->dd);
    s->x = alloc_floats(ni * s->d);
    s->g = alloc_floats(nc * s->fd);
    s->gphi = alloc_floats(nu * s->dd);
    s->gx = alloc_floats(ni * s->d);
    s->gg = alloc_floats(nc * s->fd);
    s->tphi = calloc(nu + 1, 1);
    s->tx = calloc(ni + 1, 1);
    s->tg = calloc(nc + 1, 1);
    s->perm = malloc(s->n_train * sizeof *s->perm);
    s->cat = calloc(ni + 1, sizeof *s->cat);
    s->offer = malloc(s->batch * (s->p + 1) * sizeof *s->offer);
    s->bu = malloc(s->batch * sizeof *s->bu);
    s->gl = malloc(s->batch * (s->p + 1) * sizeof *s->gl);
    s->pb = malloc(s->batch * s->dd * sizeof *s->pb);
    s->db = malloc(s->batch * s->dd * sizeof *s->db);
    if (!s->phi || !s->x || !s->g || !s->gphi || !s->gx || !s->gg ||
        !s->tphi || !s->tx || !s->tg || !s->perm || !s->cat || !s->offer ||
        !s->bu || !s->gl || !s->pb || !s->db)
        goto out_nomem;
    for (int t = 0; t < s->nt; t++) {
        /* a thread owns at most one row per positive / offered item */
        s->tl[t][0].rows = malloc(s->batch * sizeof(uint32_t));
        s->tl[t][1].rows = malloc(s->batch * (s->p + 1) * sizeof(uint32_t));
        s->tl[t][2].rows = malloc(s->batch * (s->p + 1) * sizeof(uint32_t));
        s->neg[t] = malloc((s->p + 1) * sizeof(uint32_t));
        s->xn[t] = malloc(((size_t)s->p * s->dd + 1) * sizeof(float));
        if (!s->tl[t][0].rows || !s->tl[t][1].rows || !s->tl[t][2].rows ||
            !s->neg[t] || !s->xn[t])
            goto out_nomem;
    }
    if (opts->adam && (tt_adam_init(&s->aphi, nu * s->dd, opts->lr1) ||
                       tt_adam_init(&s->ax, ni * s->d, opts->lr1) ||
                       tt_adam_init(&s->ag, nc * s->fd, opts->lr1)))
        goto out_nomem;
    for (size_t j = 0; j < s->n_train; j++)
        s->perm[j] = (uint32_t)j;
    for (size_t i = 0; i < ni; i++) {
        int32_t c = ds->item_category ? ds->item_category[i]
                                      : TT_EVENT_NO_CATEGORY;

        s->cat[i] = (c >= 0 && (uint32_t)c < s->n_cat - 1) ? (uint32_t)c
                                                          : s->n_cat - 1;
    }
    /* N(0, 0.1^2): scores start small, so the softmax starts near uniform */
    tt_rng_seed(&rng, opts->seed, TT_TRAIN_STREAM_S1_INIT);
    for (size_t i = 0; i < nu * s->dd; i++)
        s->phi[i] = (float)(0.1 * tt_rng_normal(&rng));
    for (size_t i = 0; i < ni * s->d; i++)
        s->x[i] = (float)(0.1 * tt_rng_normal(&rng));
    for (size_t i = 0; i < nc * s->fd; i++)
        s->g[i] = (float)(0.1 * tt_rng_normal(&rng));
    if (opts->warm && tt_warm_stage1(opts->warm, ds, s->d, s->fd, s->phi,
                                     s->x, s->g, s->cat, (uint32_t)nc))
        goto out_nomem;

    err = tt_team_init(&s->team, s->nt);
    if (err)
        goto out_nomem;
    s->t0 = s->last_report = tt_time_mono_ns();
    err = tt_team_run(&s->team, s1_worker, s, errstr, errstr_size);
    tt_team_release(&s->team);
    if (err)
        goto out_free;

    /* the result: zero rows for users and items without training data */
    out->n_users = (uint32_t)nu;
    out->n_items = (uint32_t)ni;
    out->dim = s->dd;
    out->phi = s->phi;
    s->phi = NULL;
    out->x = alloc_floats(ni * s->dd);
    out->train_count = malloc((nu + 1) * sizeof *out->train_count);
    if (!out->x || !out->train_count) {
        tt_stage1_release(out);
        goto out_nomem;
    }
    for (size_t u = 0; u < nu; u++) {
        out->train_count[u] = td.count[u];
        if (!td.count[u])
            memset(out->phi + u * s->dd, 0, s->dd * sizeof(float));
    }
    for (uint32_t k = 0; k < td.n_pool; k++) {
        const size_t i = td.pool[k];
        float *row = out->x + i * s->dd;

        memcpy(row, s->x + i * s->d, s->d * sizeof(float));
        if (s->fd)
            memcpy(row + s->d, s->g + (size_t)s->cat[i] * s->fd,
                   s->fd * sizeof(float));
    }
    out->seconds = tt_time_secs(t0, tt_time_mono_ns());
    err = TT_ERR_OK;
    goto out_free;

out_nomem:
    err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                  "out of memory for stage 1 (%zu users, %zu items, dim %u)",
                  nu, ni, s->dd);
out_free:
    s1_free(s);
    free(s);
    tt_train_data_release(&td);
    return err;
}

void tt_stage1_release(struct tt_stage1 *s1)
{
    free(s1->phi);
    free(s1->x);
    free(s1->train_count);
    memset(s1, 0, sizeof *s1);
}
