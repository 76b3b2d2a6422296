/*
 * Stage 2 (eq. 11, 12): with x_i and the phi_u of active users frozen,
 * learn psi, Theta_1, Theta_2 (and W for 2TS-Plus) by Adam on the sampled
 * softmax at every step of the users' training sequences, full BPTT.
 *
 * Training sequences (fixed once, numbered in user order), with thresholds
 * tlo <= thi (both t*, or with auto_tstar the ends of the t* grid):
 *   2TS       a user with 1..thi training interactions: all of them, inactive
 *             cell from psi; a user with T > tlo: the last K, active cell
 *             from phi_u, and with active_windows = W > 1 also the K-windows
 *             ending K, 2K, ... (W - 1)K interactions before the last, as
 *             far as T allows; with inactive_all_users also the first thi of
 *             every user above thi through the inactive cell from psi.
 *   GRU_ALL   every user: the last min(T, TT_TRAIN_GRU_ALL_CAP) interactions,
 *             one cell from psi (a cap for speed; longer histories are cut
 *             at their start).
 * This matches how a model moves users at test time (tt_model.h): inactive
 * and new users from psi through all their events; active users of a
 * window model from phi_u through their last K items (each K-window is one
 * such path), of other models from phi_u through the events after the
 * cutoff; the 2TS-Plus "last item" is absent at the first step of every
 * sequence, as after tt_model_user_start().  More windows per active user
 * give the active cell W times the data of the paper's last-K rule.
 *
 * Each epoch shuffles the sequences of each cell, cuts them into minibatches
 * of `batch` sequences of one cell, and shuffles the order of the batches.
 * A batch is sorted by length (longest first) and dealt round-robin to the
 * threads; each thread runs tt_bptt_run into its own gradient buffer; the
 * buffers are summed in thread order (each thread a fixed slice of the
 * parameters), the global norm clipped, and Adam applied.  At each step the
 * sequences of a batch share p negatives drawn from an rng per (epoch,
 * batch, step), whatever the threads.  Same seed and threads: same bits.
 *
 * After every epoch the candidate model is scored by `validate`; the best
 * epoch's parameters are kept, and training stops after `patience` epochs
 * without improvement (patience 0: run all epochs, still keep the best).
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_time.h"
#include "model/tt_adam.h"
#include "model/tt_kern.h"
#include "model/tt_model_int.h"
#include "model/tt_train_int.h"
#include "model/tt_warm.h"

#define MAX_THREADS 256

struct s2seq {
    uint32_t user;
    uint32_t cell;
    uint64_t start; /* into td.items */
    uint32_t len;
};

struct s2 {
    const struct tt_train_opts *o;
    const struct tt_dataset *ds;
    const struct tt_stage1 *s1;
    struct tt_train_data td;
    struct tt_team team;
    int nt;
    uint32_t dim;
    bool plus;
    size_t nd;                     /* dense floats */
    float *dense, *best;
    float *grad[MAX_THREADS];
    double sumsq[MAX_THREADS];
    double loss[MAX_THREADS];
    struct tt_adam adam;
    struct tt_bptt bp[MAX_THREADS];
    struct tt_s2_seq *sq[MAX_THREADS];
    struct s2seq *seqs;
    uint32_t n_seqs;
    uint32_t *ids[2];              /* sequence ids per cell */
    uint32_t n_ids[2];
    uint32_t *order;               /* this epoch's batches, concatenated */
    uint32_t (*batches)[3];        /* {cell, first in order, count} */
    uint32_t n_batches;
    uint32_t *cur;                 /* the current batch, longest first */
    uint32_t cur_n;
    float scale, clip_factor;
    uint64_t steps_per_epoch;
    /* thread 0 only */
    tt_model_t *model;
    tt_train_validate_fn validate;
    void *validate_ctx;
    tt_train_progress_fn progress;
    void *progress_ctx;
    uint64_t t0, last_report, steps_done, epoch_steps;
    double best_mrr;
    uint32_t bad_epochs, best_epoch;
    int stop;                      /* 1 done, 2 validation failed */
    /* the t* range the sequences cover (tlo = thi = t* without auto_tstar)
     * and the grid chosen from after training */
    uint32_t tlo, thi;
    uint32_t grid[TT_TRAIN_TSTAR_GRID_MAX];
    uint32_t n_grid;
};

static int cmp_len_desc(const void *a, const void *b, void *ctx)
{
    const struct s2seq *s = ctx;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    if (s[x].len != s[y].len)
        return s[x].len > s[y].len ? -1 : 1;
    return x < y ? -1 : x > y;
}

static void shuffle(uint32_t *v, size_t n, struct tt_rng *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)tt_rng_below(rng, i);
        uint32_t t = v[i - 1];

        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* Thread 0, between barriers: the epoch's batch order. */
static void plan_epoch(struct s2 *s, uint32_t epoch)
{
    struct tt_rng rng;
    uint32_t pos = 0, nb = 0;

    tt_rng_seed(&rng, s->o->seed, TT_TRAIN_STREAM_S2_SHUFFLE + epoch);
    for (uint32_t c = 0; c < 2; c++) {
        shuffle(s->ids[c], s->n_ids[c], &rng);
        for (uint32_t i = 0; i < s->n_ids[c]; i += s->o->batch) {
            uint32_t cnt = s->n_ids[c] - i < s->o->batch ? s->n_ids[c] - i
                                                         : s->o->batch;

            memcpy(s->order + pos, s->ids[c] + i, cnt * sizeof *s->order);
            s->batches[nb][0] = c;
            s->batches[nb][1] = pos;
            s->batches[nb][2] = cnt;
            pos += cnt;
            nb++;
        }
    }
    s->n_batches = nb;
    /* then the order of the batches, so that the cells interleave */
    for (uint32_t i = nb; i > 1; i--) {
        uint32_t j = (uint32_t)tt_rng_below(&rng, i), t[3];

        memcpy(t, s->batches[i - 1], sizeof t);
        memcpy(s->batches[i - 1], s->batches[j], sizeof t);
        memcpy(s->batches[j], t, sizeof t);
    }
}

static void report(struct s2 *s, uint32_t epoch, double fraction,
                   double mrr, bool force)
{
    struct tt_train_progress pr;
    uint64_t now = tt_time_mono_ns();
    double loss = 0.0;

    if (!s->progress || (!force && now - s->last_report < 1000000000ull))
        return;
    s->last_report = now;
    for (int t = 0; t < s->nt; t++)
        loss += s->loss[t];
    pr.stage = 2;
    pr.epoch = epoch;
    pr.epochs = s->o->epochs2;
    pr.loss = s->epoch_steps ? loss / (double)s->epoch_steps : 0.0;
    pr.fraction = fraction;
    pr.rate = (double)s->steps_done / tt_time_secs(s->t0, now);
    pr.valid_mrr = mrr;
    s->progress(s->progress_ctx, &pr);
}

/* Thread 0 after an epoch: validation, best-keeping, early stopping. */
static void end_epoch(struct s2 *s, uint32_t epoch)
{
    double mrr = -1.0;

    if (s->validate) {
        memcpy(tt_model_dense_mut(s->model), s->dense, s->nd * sizeof(float));
        mrr = s->validate(s->validate_ctx, s->model);
        if (!(mrr >= 0.0)) {
            s->stop = 2;
            return;
        }
        if (s->best_epoch == 0 || mrr > s->best_mrr) {
            s->best_mrr = mrr;
            s->best_epoch = epoch;
            s->bad_epochs = 0;
            memcpy(s->best, s->dense, s->nd * sizeof(float));
        } else if (++s->bad_epochs >= s->o->patience && s->o->patience > 0) {
            s->stop = 1;
        }
    } else {
        s->best_epoch = epoch;
        memcpy(s->best, s->dense, s->nd * sizeof(float));
    }
    report(s, epoch, 1.0, mrr, true);
}

static void s2_worker(void *ctx, int tid)
{
    struct s2 *s = ctx;
    size_t lo, hi;

    tt_team_range(s->nd, tid, s->nt, &lo, &hi);
    for (uint32_t epoch = 1; epoch <= s->o->epochs2; epoch++) {
        const uint64_t nseed = s->o->seed ^
                               tt_rng_mix64(TT_TRAIN_STREAM_S2_NEG + epoch);
        uint64_t done_in_epoch = 0;

        if (tid == 0) {
            plan_epoch(s, epoch);
            for (int t = 0; t < s->nt; t++)
                s->loss[t] = 0.0;
            s->epoch_steps = 0;
        }
        tt_team_barrier(&s->team);
        for (uint32_t bi = 0; bi < s->n_batches; bi++) {
            struct tt_s2_seq *sq = s->sq[tid];
            uint32_t mine = 0;

            if (tid == 0) {
                uint64_t total = 0;

                s->cur_n = s->batches[bi][2];
                memcpy(s->cur, s->order + s->batches[bi][1],
                       s->cur_n * sizeof *s->cur);
                qsort_r(s->cur, s->cur_n, sizeof *s->cur, cmp_len_desc,
                        s->seqs);
                for (uint32_t k = 0; k < s->cur_n; k++)
                    total += s->seqs[s->cur[k]].len;
                s->scale = 1.0f / (float)total;
                s->epoch_steps += total;
                if (s->o->adam)
                    tt_adam_next(&s->adam);
            }
            tt_team_barrier(&s->team);
            /* round-robin over the sorted batch: each share stays sorted */
            for (uint32_t k = (uint32_t)tid; k < s->cur_n;
                 k += (uint32_t)s->nt) {
                const struct s2seq *q = &s->seqs[s->cur[k]];
                struct tt_s2_seq *o = &sq[mine++];

                o->items = s->td.items + q->start;
                o->len = q->len;
                o->cell = q->cell;
                o->h0 = q->cell ? s->s1->phi + (size_t)q->user * s->dim
                                : s->dense; /* psi leads the dense block */
            }
            memset(s->grad[tid], 0, s->nd * sizeof(float));
            if (mine) {
                struct tt_s2_neg neg;

                neg.pool = s->td.pool;
                neg.n_pool = s->td.n_pool;
                neg.seed = nseed ^ tt_rng_mix64(bi);
                neg.fixed = NULL;
                s->loss[tid] += tt_bptt_run(&s->bp[tid], s->dense,
                                            s->grad[tid], s->s1->x, &neg, sq,
                                            mine, s->scale);
            }
            tt_team_barrier(&s->team);
            /* sum the thread gradients in thread order, slice by slice */
            {
                float *g0 = s->grad[0];

                for (int t = 1; t < s->nt; t++)
                    for (size_t i = lo; i < hi; i++)
                        g0[i] += s->grad[t][i];
                s->sumsq[tid] = tt_kern_sumsq(g0 + lo, hi - lo);
            }
            tt_team_barrier(&s->team);
            if (tid == 0) {
                double norm2 = 0.0;

                for (int t = 0; t < s->nt; t++)
                    norm2 += s->sumsq[t];
                s->clip_factor = 1.0f;
                if (s->o->clip > 0 && sqrt(norm2) > s->o->clip)
                    s->clip_factor = (float)(s->o->clip / sqrt(norm2));
            }
            tt_team_barrier(&s->team);
            if (s->clip_factor != 1.0f)
                tt_kern_scale(s->grad[0] + lo, s->grad[0] + lo,
                              s->clip_factor, hi - lo);
            if (s->o->adam)
                tt_adam_apply(&s->adam, s->dense + lo, s->grad[0] + lo, lo,
                              hi - lo);
            else
                tt_sgd_apply(s->dense + lo, s->grad[0] + lo, hi - lo,
                             (float)s->o->lr2);
            if (tid == 0) {
                uint64_t total = 0;

                for (uint32_t k = 0; k < s->cur_n; k++)
                    total += s->seqs[s->cur[k]].len;
                s->steps_done += total;
                done_in_epoch += total;
                report(s, epoch,
                       (double)done_in_epoch / (double)s->steps_per_epoch,
                       -1.0, false);
            }
            tt_team_barrier(&s->team);
        }
        if (tid == 0)
            end_epoch(s, epoch);
        tt_team_barrier(&s->team);
        if (s->stop)
            break;
    }
}

/* ---- setup ---- */

static void s2_free(struct s2 *s)
{
    free(s->dense);
    free(s->best);
    for (int t = 0; t < MAX_THREADS; t++) {
        free(s->grad[t]);
        free(s->sq[t]);
        tt_bptt_release(&s->bp[t]);
    }
    tt_adam_release(&s->adam);
    free(s->seqs);
    free(s->ids[0]);
    free(s->ids[1]);
    free(s->order);
    free(s->batches);
    free(s->cur);
    tt_model_destroy(s->model);
    tt_train_data_release(&s->td);
}

static bool is_active(const struct s2 *s, uint32_t u, uint32_t tstar)
{
    return s->o->mode == TT_MODE_2TS && s->td.count[u] > tstar;
}

/* Counts sequence n, or on the second pass records it. */
static void add_seq(struct s2 *s, int pass, uint32_t *n, struct s2seq q)
{
    if (pass == 1) {
        s->seqs[*n] = q;
        s->ids[q.cell][s->n_ids[q.cell]++] = *n;
    }
    (*n)++;
}

/* The training sequences (see the top of the file), users in order. */
static tt_err_t build_seqs(struct s2 *s)
{
    const struct tt_train_opts *o = s->o;
    const uint32_t nw = o->active_windows ? o->active_windows : 1;
    uint32_t n = 0;

    for (int pass = 0; pass < 2; pass++) {
        n = 0;
        for (uint32_t u = 0; u < s->td.n_users; u++) {
            const uint32_t t = s->td.count[u];
            const uint64_t off = s->td.off[u];

            if (t == 0)
                continue;
            if (o->mode == TT_MODE_GRU_ALL) {
                uint32_t len = t < TT_TRAIN_GRU_ALL_CAP ? t
                                                        : TT_TRAIN_GRU_ALL_CAP;

                add_seq(s, pass, &n, (struct s2seq){u, 0, off + t - len, len});
            } else {
                /* the inactive cell: every user that is inactive for some
                 * t* of the grid, all of its interactions; with
                 * inactive_all_users every other user's first t* */
                if (t <= s->thi)
                    add_seq(s, pass, &n, (struct s2seq){u, 0, off, t});
                else if (o->inactive_all_users)
                    add_seq(s, pass, &n, (struct s2seq){u, 0, off, s->thi});
                if (t <= s->tlo)
                    continue;
                /* windows ending at t, t - K, t - 2K, ...; the first always
                 * fits since K <= t* < t */
                for (uint32_t w = 0; w < nw; w++) {
                    uint64_t end = (uint64_t)t - (uint64_t)w * o->k;

                    if (end < o->k || end > t)
                        break;
                    add_seq(s, pass, &n,
                            (struct s2seq){u, 1, off + end - o->k, o->k});
                }
            }
        }
        if (pass == 0) {
            s->seqs = malloc(((size_t)n + 1) * sizeof *s->seqs);
            s->ids[0] = malloc(((size_t)n + 1) * sizeof *s->ids[0]);
            s->ids[1] = malloc(((size_t)n + 1) * sizeof *s->ids[1]);
            s->order = malloc(((size_t)n + 1) * sizeof *s->order);
            s->batches = malloc(((size_t)n + 2) * sizeof *s->batches);
            s->cur = malloc(((size_t)o->batch + 1) * sizeof *s->cur);
            if (!s->seqs || !s->ids[0] || !s->ids[1] || !s->order ||
                !s->batches || !s->cur)
                return TT_ERR_NOMEM;
        }
    }
    s->n_seqs = n;
    s->steps_per_epoch = 0;
    for (uint32_t i = 0; i < n; i++)
        s->steps_per_epoch += s->seqs[i].len;
    return TT_ERR_OK;
}

static int cmp_u32_desc(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x > y ? -1 : x < y;
}

/* Per-thread buffers for the largest share of a batch any thread can get. */
static tt_err_t alloc_threads(struct s2 *s)
{
    size_t cap_n = ((size_t)s->o->batch + (size_t)s->nt - 1) / (size_t)s->nt;
    size_t cap_rows = 0, longest;
    uint32_t *lens = malloc(((size_t)s->n_seqs + 1) * sizeof *lens);

    if (!lens)
        return TT_ERR_NOMEM;
    for (uint32_t i = 0; i < s->n_seqs; i++)
        lens[i] = s->seqs[i].len;
    qsort(lens, s->n_seqs, sizeof *lens, cmp_u32_desc);
    longest = lens[0];
    for (size_t i = 0; i < cap_n && i < s->n_seqs; i++)
        cap_rows += lens[i];
    free(lens);
    if (cap_n > s->n_seqs)
        cap_n = s->n_seqs;
    for (int t = 0; t < s->nt; t++) {
        s->grad[t] = malloc(s->nd * sizeof(float));
        s->sq[t] = calloc(cap_n, sizeof *s->sq[t]);
        if (!s->grad[t] || !s->sq[t] ||
            tt_bptt_init(&s->bp[t], s->dim, s->plus, s->o->negatives, cap_n,
                         cap_rows, longest))
            return TT_ERR_NOMEM;
    }
    return TT_ERR_OK;
}

/* A model for threshold `tstar`: pool items, the phi of users above it,
 * the current dense parameters, into *out.  With `init`, first the initial
 * dense parameters (psi = mean phi of the users it will serve, the active
 * cell biased to keep its state, W = [I ; 0] so that Plus starts as 2TS). */
static tt_err_t build_model(struct s2 *s, uint32_t tstar, bool init,
                            uint64_t version, const struct tt_split *split,
                            tt_model_t **out, char *errstr,
                            size_t errstr_size)
{
    const uint32_t dim = s->dim;
    struct tt_model_parts p;
    int64_t *item_ids = NULL, *user_ids = NULL;
    float *items = NULL, *phi = NULL, *psi, *wp;
    struct tt_gru c0, c1;
    struct tt_rng rng;
    uint32_t n_act = 0, n_psi = 0;
    double *mean;
    tt_err_t err = TT_ERR_NOMEM;

    for (uint32_t u = 0; u < s->td.n_users; u++)
        n_act += is_active(s, u, tstar);
    item_ids = malloc(((size_t)s->td.n_pool + 1) * sizeof *item_ids);
    items = malloc(((size_t)s->td.n_pool * dim + 1) * sizeof *items);
    user_ids = malloc(((size_t)n_act + 1) * sizeof *user_ids);
    phi = malloc(((size_t)n_act * dim + 1) * sizeof *phi);
    mean = calloc(dim, sizeof *mean);
    if (!item_ids || !items || !user_ids || !phi || !mean)
        goto out;
    for (uint32_t k = 0; k < s->td.n_pool; k++) {
        uint32_t i = s->td.pool[k];

        item_ids[k] = tt_ids_id(s->ds->items, i);
        memcpy(items + (size_t)k * dim, s->s1->x + (size_t)i * dim,
               dim * sizeof(float));
    }
    n_act = 0;
    for (uint32_t u = 0; u < s->td.n_users; u++) {
        const float *row = s->s1->phi + (size_t)u * dim;

        if (is_active(s, u, tstar)) {
            user_ids[n_act] = tt_ids_id(s->ds->users, u);
            memcpy(phi + (size_t)n_act++ * dim, row, dim * sizeof(float));
        } else if (s->td.count[u] > 0) {
            for (uint32_t j = 0; j < dim; j++)
                mean[j] += row[j];
            n_psi++;
        }
    }
    tt_model_dense_views(s->dense, dim, s->plus, &psi, &c0, &c1, &wp);
    if (init) {
        for (uint32_t j = 0; j < dim; j++)
            psi[j] = n_psi ? (float)(mean[j] / n_psi) : 0.0f;
        tt_rng_seed(&rng, s->o->seed, TT_TRAIN_STREAM_S2_INIT);
        tt_gru_init_params(&c0, &rng, 0.0f);
        tt_gru_init_params(&c1, &rng, (float)s->o->active_z_bias);
        if (s->plus) {
            memset(wp, 0, 2 * (size_t)dim * dim * sizeof(float));
            for (uint32_t j = 0; j < dim; j++)
                wp[(size_t)j * dim + j] = 1.0f;
        }
        if (s->o->warm)
            tt_warm_stage2(s->o->warm, s->dense, dim, s->plus);
    }
    memset(&p, 0, sizeof p);
    p.dim = dim;
    p.tstar = tstar;
    p.k = s->o->k;
    p.flags = (s->plus ? TT_MODEL_FLAG_PLUS : 0) |
              (s->o->mode == TT_MODE_GRU_ALL ? TT_MODEL_FLAG_GRU_ALL : 0) |
              (s->o->features ? TT_MODEL_FLAG_FEATURES : 0) |
              (s->o->window && s->o->mode == TT_MODE_2TS
                   ? TT_MODEL_FLAG_WINDOW
                   : 0);
    if (tt_train_hop(s->o))
        p.flags |= TT_MODEL_FLAGS_HOP(tt_train_hop(s->o));
    p.feature_dim = s->o->features ? s->o->feature_dim : 0;
    p.version = version;
    p.seed = s->o->seed;
    p.cutoff_ts_ms = s->ds->ts[split->train_end - 1];
    p.n_items = s->td.n_pool;
    p.item_ids = item_ids;
    p.items = items;
    p.n_active = n_act;
    p.user_ids = user_ids;
    p.phi = phi;
    p.dense = s->dense;
    err = tt_model_build(out, &p, errstr, errstr_size);
out:
    if (err == TT_ERR_NOMEM)
        tt_errf(err, errstr, errstr_size, "out of memory building the model");
    free(item_ids);
    free(items);
    free(user_ids);
    free(phi);
    free(mean);
    return err;
}

/* The t* grid (opts.auto_tstar: t* / 2, t*, 2, 4 and 8 t*, none below K) and the
 * range [tlo, thi] of thresholds the training sequences must serve. */
static void plan_grid(struct s2 *s)
{
    const struct tt_train_opts *o = s->o;
    const uint64_t cand[TT_TRAIN_TSTAR_GRID_MAX] = {
        o->tstar / 2, o->tstar, (uint64_t)o->tstar * 2,
        (uint64_t)o->tstar * 4, (uint64_t)o->tstar * 8};

    s->n_grid = 0;
    if (o->auto_tstar && o->mode == TT_MODE_2TS) {
        for (int i = 0; i < TT_TRAIN_TSTAR_GRID_MAX; i++)
            if (cand[i] >= o->k && cand[i] <= UINT32_MAX / 2 &&
                (s->n_grid == 0 || cand[i] > s->grid[s->n_grid - 1]))
                s->grid[s->n_grid++] = (uint32_t)cand[i];
    } else {
        s->grid[s->n_grid++] = o->tstar;
    }
    s->tlo = s->grid[0];
    s->thi = s->grid[s->n_grid - 1];
}

/*
 * After training, with the best epoch's parameters in s->model (built for
 * opts.tstar and already validated as s->best_mrr): the other thresholds
 * of the grid, each as a model with the phi of the users above it, scored
 * on the same validation; the best replaces s->model (ties keep the
 * configured t*, then the lower one).  Routing is all that differs: both
 * cells were trained on the users every threshold of the grid gives them.
 */
static tt_err_t choose_tstar(struct s2 *s, uint64_t version,
                             const struct tt_split *split, char *errstr,
                             size_t errstr_size)
{
    double best = s->best_mrr;

    memcpy(s->dense, s->best, s->nd * sizeof(float));
    for (uint32_t g = 0; g < s->n_grid; g++) {
        tt_model_t *m = NULL;
        double mrr;
        tt_err_t err;

        if (s->grid[g] == s->o->tstar)
            continue;
        err = build_model(s, s->grid[g], false, version, split, &m, errstr,
                          errstr_size);
        if (err)
            return err;
        mrr = s->validate(s->validate_ctx, m);
        if (!(mrr >= 0.0)) {
            tt_model_destroy(m);
            return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                           "validation failed for t* = %u", s->grid[g]);
        }
        if (mrr > best) {
            best = mrr;
            tt_model_destroy(s->model);
            s->model = m;
        } else {
            tt_model_destroy(m);
        }
    }
    return TT_ERR_OK;
}

tt_err_t tt_stage2_train(const struct tt_dataset *ds,
                         const struct tt_split *split,
                         const struct tt_stage1 *s1,
                         const struct tt_train_opts *opts, uint64_t version,
                         tt_train_validate_fn validate, void *validate_ctx,
                         tt_train_progress_fn progress, void *progress_ctx,
                         tt_model_t **out, double *seconds, char *errstr,
                         size_t errstr_size)
{
    uint64_t t0 = tt_time_mono_ns();
    struct s2 *s;
    tt_err_t err;

    *out = NULL;
    err = tt_train_opts_check(opts, errstr, errstr_size);
    if (err)
        return err;
    if (s1->dim != tt_train_dim(opts) ||
        s1->n_users != tt_dataset_n_users(ds) ||
        s1->n_items != tt_dataset_n_items(ds))
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "stage 1 result (dim %u, %u users, %u items) does not "
                       "fit the options and dataset", s1->dim, s1->n_users,
                       s1->n_items);
    s = calloc(1, sizeof *s);
    if (!s)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    s->o = opts;
    s->ds = ds;
    s->s1 = s1;
    s->nt = opts->threads;
    s->dim = s1->dim;
    s->plus = opts->plus;
    s->nd = tt_model_dense_floats(s->dim, s->plus);
    s->validate = validate;
    s->validate_ctx = validate_ctx;
    s->progress = progress;
    s->progress_ctx = progress_ctx;
    err = tt_train_data_build(&s->td, ds, split, errstr, errstr_size);
    if (err)
        goto out_free;
    plan_grid(s);
    s->dense = calloc(s->nd, sizeof(float));
    s->best = calloc(s->nd, sizeof(float));
    if (!s->dense || !s->best || build_seqs(s) || alloc_threads(s) ||
        (opts->adam && tt_adam_init(&s->adam, s->nd, opts->lr2))) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                      "out of memory for stage 2 (%u sequences)", s->n_seqs);
        goto out_free;
    }
    err = build_model(s, opts->tstar, true, version, split, &s->model, errstr,
                      errstr_size);
    if (err)
        goto out_free;
    err = tt_team_init(&s->team, s->nt);
    if (err) {
        err = tt_errf(err, errstr, errstr_size, "cannot create a barrier");
        goto out_free;
    }
    /* the workers are the parallelism: OpenBLAS threads inside their sgemm
     * calls would only compete with them (a process-wide setting) */
    openblas_set_num_threads(1);
    s->t0 = s->last_report = tt_time_mono_ns();
    err = tt_team_run(&s->team, s2_worker, s, errstr, errstr_size);
    tt_team_release(&s->team);
    if (err)
        goto out_free;
    if (s->stop == 2) {
        err = tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                      "validation failed after epoch %u",
                      s->best_epoch + s->bad_epochs + 1);
        goto out_free;
    }
    if (s->best_epoch == 0) /* epochs2 == 0: the initial parameters */
        memcpy(s->best, s->dense, s->nd * sizeof(float));
    memcpy(tt_model_dense_mut(s->model), s->best, s->nd * sizeof(float));
    if (s->n_grid > 1 && s->validate && s->best_epoch > 0) {
        err = choose_tstar(s, version, split, errstr, errstr_size);
        if (err)
            goto out_free;
    }
    *out = s->model;
    s->model = NULL;
    if (seconds)
        *seconds = tt_time_secs(t0, tt_time_mono_ns());
out_free:
    s2_free(s);
    free(s);
    return err;
}
