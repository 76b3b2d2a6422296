/*
 * tt_train: the two training stages of 2TS (NOTES.md, "Two-stage training").
 *
 * Stage 1 learns a transductive embedding phi_u for every user and a vector
 * x_i for every item from the training interactions with the sampled softmax
 * of eq. 10, ignoring order.  Stage 2 freezes the item vectors and the phi_u
 * of active users and learns psi, Theta_1, Theta_2 (and W for 2TS-Plus) with
 * the same loss applied at every step of the users' sequences (eq. 11, 12),
 * choosing the epoch to keep on validation data, and returns a tt_model_t.
 *
 * Both stages are deterministic for a given seed and thread count (stage 1
 * even gives the same bits for any thread count; stage 2 sums per-thread
 * gradients in thread order).  They use `threads` worker threads
 * internally; the calls themselves are blocking and not reentrant on the
 * same output.  Stage 2 runs OpenBLAS single-threaded (a process-wide
 * setting): the workers are the parallelism.
 *
 * How test-time state follows training (tt_model.h): an active user
 * (training count > t*) is phi_u moved by the active cell over its last K
 * items (opts.window, the default), or over every item after the cutoff
 * (the paper's rule); an inactive or new user starts from psi and is moved
 * by the inactive cell over all its events.  Stage 2 trains these paths:
 * inactive users over their whole training sequence from psi, active users
 * over K-windows of their training interactions from phi_u (the last one,
 * and with opts.active_windows earlier ones), the 2TS-Plus last item absent
 * at the first step of each sequence, as after tt_model_user_start().  Negatives are uniform over the items with
 * training interactions; in stage 2 the sequences of a minibatch share the
 * p negatives of each step (drawn per epoch, batch and step).
 */
#ifndef TT_TRAIN_H
#define TT_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "model/tt_dataset.h"
#include "model/tt_model.h"

/* How stage 2 treats users. */
enum tt_train_mode {
    TT_MODE_2TS = 0,     /* inactive GRU from psi, active GRU from phi_u */
    TT_MODE_GRU_ALL = 1, /* one GRU over every user's whole sequence from a
                            shared start: the GRU4Rec-style baseline */
};

struct tt_train_opts {
    uint64_t seed;
    int threads;
    uint32_t dim;        /* d */
    uint32_t tstar;      /* t* */
    uint32_t k;          /* K */
    bool plus;           /* learn W and score with it */
    bool features;       /* item categories through g(f_i) */
    uint32_t feature_dim;
    enum tt_train_mode mode;
    /* Variant (issue 3): also train the inactive cell on the first t*
     * interactions of active users, not only on inactive users. */
    bool inactive_all_users;
    /* Choose t* after training from t* / 2, t*, 2, 4 and 8 t* (none below
     * K) by the validation MRR (needs a validate callback; without one, t*
     * as given).  The inactive cell then trains on every user with at most
     * 8 t* interactions and the active cell on every user above t* / 2, so
     * that each threshold's routing is a path both cells were trained on;
     * only the routing differs between the thresholds, so the choice costs
     * four validation passes, not four trainings.  The model records the
     * chosen t* (tt_model_info.tstar). */
    bool auto_tstar;
    /* Active users at inference: a sliding window, phi_u then the active
     * cell over the user's last K items whichever side of the cutoff
     * (TT_MODEL_FLAG_WINDOW), instead of every item after the cutoff.
     * Needs K <= TT_MODEL_WINDOW_MAX.  false (zero) = the paper's rule. */
    bool window;
    /* With `window`, the kind of window (tt_model.h): H > 0 a hopping
     * window of hop H (1..K; TT_MODEL_FLAG_HOP), 0 = H = K/2 (at least 1),
     * -1 = the sliding window over the last K known items (the kind before
     * the hop).  Stage 2 trains the same either way (prefixes of K-windows
     * from phi_u cover every window length); the kind sets the model's
     * inference rule, which validation (t*, early stopping) scores. */
    int32_t window_hop;
    /* Stage 2 sequences of an active user: its last K training
     * interactions (the paper; 0 or 1), or up to this many K-windows
     * ending K, 2K, ... interactions before the last, while they fit. */
    uint32_t active_windows;
    /* Initial bias of the active cell's update gate z.  Negative values
     * make the cell start by keeping phi_u (sigmoid(-2) = 0.12: a slow time
     * scale imposed from the start); 0 is the standard GRU start, as for
     * the inactive cell, and lets training find the time scale. */
    double active_z_bias;
    uint32_t negatives;  /* p */
    /* Stage 1 offer sets: false (default) = the p negatives are drawn once
     * per minibatch and shared by its positives (a negative equal to a
     * row's positive is dropped from that row), true = p fresh negatives
     * for every positive (resampled if equal to it).  Both give each
     * positive p uniform negatives; sharing reads p item rows per batch
     * instead of p per positive, ~10x faster on large catalogues. */
    bool per_positive_negatives;
    bool adam;           /* false = SGD */
    uint32_t epochs1;
    double lr1;
    double l2;
    uint32_t epochs2;
    double lr2;
    uint32_t batch;
    uint32_t patience;
    double clip;
    /* Warm start (model/tt_warm.h): after the usual initialisation, the
     * parameters this previous model knows are copied from it.  Borrowed;
     * NULL (zero) = a cold start. */
    const tt_model_t *warm;
};

/* Fills `opts` from the configuration's model and train sections. */
struct tt_conf;
void tt_train_opts_from_conf(struct tt_train_opts *opts,
                             const struct tt_conf *conf);

/* The hop H a model trained with `opts` gets: 0 for none (no window, the
 * sliding window, or not 2TS), else window_hop, or K/2 (at least 1) for 0. */
uint32_t tt_train_hop(const struct tt_train_opts *opts);

/* Progress reports from inside training (called on the calling thread). */
struct tt_train_progress {
    int stage;         /* 1 or 2 */
    uint32_t epoch;    /* 1-based */
    uint32_t epochs;   /* limit */
    double loss;       /* mean training loss of the epoch so far */
    double fraction;   /* of the current epoch done, 0..1 */
    double rate;       /* positives/s (stage 1) or steps/s (stage 2) */
    double valid_mrr;  /* after an epoch, < 0 when not measured */
};
typedef void (*tt_train_progress_fn)(void *ctx,
                                     const struct tt_train_progress *p);

/* Scores a candidate model on validation data; higher is better.  Used for
 * early stopping.  Returns a negative value on failure. */
typedef double (*tt_train_validate_fn)(void *ctx, const tt_model_t *m);

/*
 * The output of stage 1, indexed by the dataset's dense indices: phi for
 * every user seen in training (zero rows for users with no training
 * interaction) and x for every item (zero rows for items unseen in
 * training).  The baselines `ccf` and `sumpool` use it directly.
 */
struct tt_stage1 {
    uint32_t n_users;
    uint32_t n_items;
    uint32_t dim;            /* D = d (+ feature_dim with features) */
    float *phi;              /* [n_users * dim] */
    float *x;                /* [n_items * dim], features included */
    uint32_t *train_count;   /* [n_users] training interactions per user */
    double seconds;          /* wall time of the stage */
};

/* Stage 1 on interactions [0, split->train_end).  The caller releases
 * `out` with tt_stage1_release(). */
tt_err_t tt_stage1_train(const struct tt_dataset *ds,
                         const struct tt_split *split,
                         const struct tt_train_opts *opts,
                         tt_train_progress_fn progress, void *progress_ctx,
                         struct tt_stage1 *out, char *errstr,
                         size_t errstr_size);

void tt_stage1_release(struct tt_stage1 *s1);

/*
 * Stage 2 from a stage 1 result.  `validate` (may be NULL: keep the last
 * epoch) picks the epoch to keep.  On success the caller owns *out, a model
 * whose version is `version` and whose cutoff time is the last training
 * event's time.  `seconds` receives the stage's wall time when non-NULL.
 */
tt_err_t tt_stage2_train(const struct tt_dataset *ds,
                         const struct tt_split *split,
                         const struct tt_stage1 *s1,
                         const struct tt_train_opts *opts, uint64_t version,
                         tt_train_validate_fn validate, void *validate_ctx,
                         tt_train_progress_fn progress, void *progress_ctx,
                         tt_model_t **out, double *seconds, char *errstr,
                         size_t errstr_size);

#endif
