/*
 * tt_train_int: what the training files of model/ share (tt_train.c,
 * tt_stage1.c, tt_stage2.c, tt_bptt.c) and what the unit tests reach
 * inside: the worker team, the per-user training sequences, and the
 * stage 2 loss/gradient core (BPTT over a set of sequences).
 *
 * Determinism: every random choice of training comes from a tt_rng seeded
 * with (opts.seed, a fixed stream number below), never from thread timing;
 * parallel work is split by fixed rules and every sum over threads is
 * reduced in thread order.
 */
#ifndef TT_TRAIN_INT_H
#define TT_TRAIN_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_rng.h"
#include "model/tt_train.h"

/* rng streams derived from opts.seed (stream numbers, not seeds) */
#define TT_TRAIN_STREAM_S1_INIT 1u
#define TT_TRAIN_STREAM_S1_SHUFFLE (UINT64_C(2) << 32)   /* + epoch */
#define TT_TRAIN_STREAM_S1_NEG (UINT64_C(3) << 56)       /* ^ (epoch, pos) */
#define TT_TRAIN_STREAM_S2_INIT 4u
#define TT_TRAIN_STREAM_S2_SHUFFLE (UINT64_C(5) << 32)   /* + epoch */
#define TT_TRAIN_STREAM_S2_NEG (UINT64_C(6) << 56)       /* ^ (epoch, seq) */

/* Negatives per positive at most (offer-set buffers are sized by it). */
#define TT_TRAIN_NEGATIVES_MAX 4096

/* Thresholds opts.auto_tstar chooses from: t* / 2, t*, 2, 4 and 8 t*. */
#define TT_TRAIN_TSTAR_GRID_MAX 5

/* GRU_ALL mode trains on at most the last this many steps of a user. */
#define TT_TRAIN_GRU_ALL_CAP 200
/* Bias of the update gate z of the active cell at initialisation:
 * sigmoid(-2) = 0.12, so the cell starts by mostly keeping phi_u (the slow
 * time scale) instead of overwriting it with noise. */
#define TT_TRAIN_ACTIVE_Z_BIAS (-2.0f)

/* Checks opts for both stages; TT_ERR_INVAL with a message. */
tt_err_t tt_train_opts_check(const struct tt_train_opts *opts, char *errstr,
                             size_t errstr_size);

/* D: d, plus feature_dim when features are on. */
uint32_t tt_train_dim(const struct tt_train_opts *opts);

/* ---- a team of worker threads with a barrier ---- */

struct tt_team {
    int n;
    pthread_barrier_t bar;
    pthread_mutex_t gate_mu;
    pthread_cond_t gate_cv;
    int gate; /* 0 wait, 1 run, 2 abort */
};

/* Runs fn(ctx, tid) on n threads (tid 0 on the calling thread) and waits
 * for all.  `team` must be the one initialised with tt_team_init(n). */
tt_err_t tt_team_init(struct tt_team *team, int n);
void tt_team_release(struct tt_team *team);
tt_err_t tt_team_run(struct tt_team *team, void (*fn)(void *ctx, int tid),
                     void *ctx, char *errstr, size_t errstr_size);
void tt_team_barrier(struct tt_team *team);

/* [lo, hi) of `n` items for thread `tid` of `nt` (contiguous, fixed). */
void tt_team_range(size_t n, int tid, int nt, size_t *lo, size_t *hi);

/* ---- training data shared by the stages ---- */

/*
 * The training interactions per user, in time order, as dense item indices:
 * items[off[u] .. off[u+1]) for user u; count[u] = off[u+1] - off[u].
 * `pool` lists the items with at least one training interaction (ascending),
 * the set negatives are drawn from.
 */
struct tt_train_data {
    uint32_t n_users, n_items;
    uint64_t *off;     /* [n_users + 1] */
    uint32_t *items;   /* [train interactions] */
    uint32_t *count;   /* [n_users] */
    uint32_t *pool;    /* [n_pool] */
    uint32_t n_pool;
};

tt_err_t tt_train_data_build(struct tt_train_data *td,
                             const struct tt_dataset *ds,
                             const struct tt_split *split, char *errstr,
                             size_t errstr_size);
void tt_train_data_release(struct tt_train_data *td);

/* A uniform negative from `pool` that is not `pos` (resampled while equal;
 * a pool holding only `pos` returns `pos`). */
static inline uint32_t tt_train_negative(struct tt_rng *rng,
                                         const uint32_t *pool,
                                         uint32_t n_pool, uint32_t pos)
{
    uint32_t j;

    if (n_pool < 2)
        return pool[0];
    do
        j = pool[tt_rng_below(rng, n_pool)];
    while (j == pos);
    return j;
}

/* ---- stage 2 core: BPTT over a set of sequences ---- */

/*
 * One stage 2 training sequence: from the start vector h0 (psi or phi_u),
 * the step t query (from h_t, and for Plus the previous item of the
 * sequence, none at t = 0) predicts items[t]; then h_{t+1} =
 * GRU_cell(h_t, x_{items[t]}).
 */
struct tt_s2_seq {
    const uint32_t *items; /* [len] dense item indices */
    uint32_t len;          /* >= 1 */
    uint32_t cell;         /* 0 inactive (h0 = psi), 1 active (h0 = phi) */
    const float *h0;       /* psi or phi_u: D floats */
};

/*
 * The negatives of stage 2: at step t every sequence of a minibatch is
 * scored against the same p negatives (a negative equal to a row's
 * positive is dropped from that row), drawn uniformly from `pool` with the
 * rng tt_rng_seed(seed, t), so that the draw does not depend on how the
 * batch is split between threads; or, when `fixed` is non-NULL, fixed[t *
 * p + j] (tests).
 */
struct tt_s2_neg {
    const uint32_t *pool;
    uint32_t n_pool;
    uint64_t seed;
    const uint32_t *fixed;
};

/* Per-thread buffers of the core, sized for at most cap_n sequences,
 * cap_rows (sum of lengths) rows and cap_steps steps. */
struct tt_bptt {
    uint32_t dim, negatives;
    bool plus;
    size_t cap_n, cap_rows, cap_steps;
    float *h, *z, *r, *hh, *rh, *dq;  /* [cap_rows][dim] */
    float *xa, *la;                    /* [cap_rows][dim] GRU inputs, the
                                          2TS-Plus last items (Plus only) */
    float *da;                         /* [cap_rows][3 dim] GRU gradients */
    float *dha, *dhb, *qb;             /* [cap_n][dim] */
    float *ws;                         /* tt_gru_ws_floats(dim, cap_n) */
    uint32_t *nrow;                    /* [cap_steps] rows per step */
    uint32_t *neg;                     /* [negatives] this step's */
    float *xn;                         /* [negatives][dim] their vectors */
    float *ln;                         /* [cap_n][negatives] logits, dL/dl */
    float *l;                          /* [negatives + 1] one offer set */
    uint32_t *map;                     /* [negatives + 1] */
};

tt_err_t tt_bptt_init(struct tt_bptt *b, uint32_t dim, bool plus,
                      uint32_t negatives, size_t cap_n, size_t cap_rows,
                      size_t cap_steps);
void tt_bptt_release(struct tt_bptt *b);

/*
 * Loss and gradient of n sequences of one cell, sorted by length descending
 * (seqs[0] the longest; n <= cap_n, total length <= cap_rows, longest <=
 * cap_steps).  `dense` holds the parameters in the tt_model_int.h layout;
 * the gradient of (scale * the sum of the step losses) is ADDED to `grad`
 * (same layout).  psi receives the gradient of h0 of cell 0 sequences; phi
 * is frozen.  `items` is the item table (n_items x dim).  Returns the sum
 * of the step losses (unscaled).
 */
double tt_bptt_run(struct tt_bptt *b, const float *dense, float *grad,
                   const float *items, const struct tt_s2_neg *neg,
                   const struct tt_s2_seq *seqs, uint32_t n, float scale);

#endif
