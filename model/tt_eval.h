/*
 * tt_eval: the paper's evaluation protocol (sec. 5; NOTES.md "How the paper
 * evaluates"), shared by `twotime backtest`, training-time validation and the
 * unit tests.
 *
 * Protocol, as implemented:
 *
 *  - The dataset is split chronologically (tt_split_compute): [0, train_end)
 *    trains, [train_end, valid_end) validates, [valid_end, n) tests.  An
 *    evaluation scores the interactions of one slice [begin, end), either
 *    all of them or a fixed sample of `max_scored` (Floyd's algorithm with
 *    rng stream TT_EVAL_STREAM_SAMPLE; the same positions for every model).
 *
 *  - Candidates.  Interaction j (its position in the time-sorted dataset) is
 *    ranked against the true item and `negatives` (499) negatives drawn
 *    uniformly WITHOUT replacement from the candidate pool, never the true
 *    item.  The pool is the catalogue known at the end of training: every
 *    item with at least one training interaction.  The draw depends only on
 *    (seed, j): rng stream j of `seed` (tt_rng_seed), Floyd's algorithm over
 *    the pool minus the true item.  Every model, run and thread count sees the
 *    same candidates.  When the pool has fewer than `negatives` items other
 *    than the true one, all of them are candidates.
 *
 *  - Rank.  Pessimistic ties: rank = 1 + #{negatives n : !(s_n < s_true)}, so
 *    a model that scores everything equal (or NaN) gets the worst rank.  A true
 *    item the model has no vector for (new since training) is still scored,
 *    with the worst rank, and counted.  A negative without a vector scores
 *    -infinity.  MRR = mean 1/rank, Recall@10 = share with rank <= 10.  The
 *    sums are exact integers (1/rank in 2^-32 fixed point), so results do not
 *    depend on the number of threads.
 *
 *  - Streaming.  Users are independent; each is processed alone in time
 *    order.  Interaction j is scored with the user's state after all of the
 *    user's earlier interactions (training, validation and test ones), then
 *    the state is updated with it.  A scorer decides per user whether its
 *    state starts at the training cutoff (2TS active users: phi_u, moved only
 *    by events at positions >= train_end) or at the user's first event (2TS
 *    inactive and new users: psi, moved by every event).  An event whose item
 *    has no vector moves nothing.
 *
 *  - Reported by activity bucket (the user's number of training
 *    interactions; bounds from 0, 5, 20, t*, 500), by group (active or
 *    inactive, as the scorer says), and the size ||h_{t+1} - h_t|| of each
 *    state change taken on an event of the slice, by step index (the number
 *    of steps the state has taken since its start, 1..TT_EVAL_STEPS_MAX, then
 *    one bin for all later steps) and group: the paper's fig. 4.
 *
 * Threads: a tt_eval_t is immutable after tt_eval_new() and may be used by
 * several threads at once; tt_eval_run() itself runs `threads` workers over
 * 64 fixed user shards (u mod 64) and merges them in shard order.
 */
#ifndef TT_EVAL_H
#define TT_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "model/tt_dataset.h"
#include "model/tt_model.h"

/* Step indices reported one by one; later steps share one bin. */
#define TT_EVAL_STEPS_MAX 50
/* Activity buckets at most. */
#define TT_EVAL_BUCKETS_MAX 8
/* rng stream of the sample of scored interactions (the negatives of
 * interaction j use stream j < 2^62). */
#define TT_EVAL_STREAM_SAMPLE (UINT64_C(1) << 63)
/* Ranks at most this are "hits" for Recall. */
#define TT_EVAL_RECALL_AT 10

struct tt_eval_opts {
    uint32_t negatives; /* per scored interaction (499) */
    uint64_t seed;      /* of the negatives and of the sample */
    size_t max_scored;  /* score a fixed sample of this many, 0 = all */
    int threads;        /* workers (>= 1) */
    uint32_t tstar;     /* t*: a bucket bound; baselines' active group */
};

typedef struct tt_eval_s tt_eval_t;

/* Flags a scorer's start() returns for a user. */
enum {
    TT_EVAL_ACTIVE = 1,      /* the user is in the active group */
    TT_EVAL_FROM_CUTOFF = 2, /* state is at the cutoff: skip training events */
    TT_EVAL_STATIC = 4,      /* the state never moves: skip all steps */
};

/*
 * A model under evaluation: how it turns a user's history into a query
 * vector q that scores item i as q . x_i.  The callbacks must be safe to call
 * from several threads with different `run` buffers, and must not allocate.
 */
struct tt_eval_scorer {
    const char *name;
    uint32_t dim;                /* of q and of every item vector */
    const float *const *item;    /* [n_items] by dense index; NULL = the
                                    model has no vector for the item */
    size_t run_bytes;            /* per-user state the harness provides */
    const void *ctx;
    /* Starts dense user u in `run`; returns TT_EVAL_* flags. */
    int (*start)(const void *ctx, uint32_t u, void *run);
    /* Moves the state with one interaction with item vector x (non-NULL). */
    void (*step)(const void *ctx, void *run, const float *x);
    /* Optional (NULL: nothing): an interaction the harness does not step
     * (no item vector), for scorers that count every event (a hopping
     * window is anchored to the user's event count). */
    void (*skip)(const void *ctx, void *run);
    /* Writes the query vector (dim floats). */
    void (*query)(const void *ctx, const void *run, float *q);
    /* The user embedding h (dim floats) whose change is measured, or NULL
     * callback: no change statistics. */
    const float *(*state)(const void *ctx, const void *run);
};

struct tt_eval_bucket {
    uint32_t lo, hi;         /* training-count bounds, inclusive; hi ==
                                UINT32_MAX: open */
    uint64_t n;              /* scored interactions */
    uint64_t users;          /* distinct users with a scored interaction */
    double mrr, recall;
};

struct tt_eval_result {
    uint64_t n;              /* scored interactions */
    double mrr, recall;      /* overall; recall is Recall@10 */
    uint32_t n_candidates;   /* largest candidate count (negatives + 1) */
    uint64_t n_unknown;      /* scored with an item the model lacks */
    uint64_t n_new_user;     /* scored, from users with no training event */
    uint64_t n_steps;        /* state updates taken on slice events */
    uint64_t n_skipped_steps;/* slice events with no item vector: no step */
    uint32_t n_buckets;
    struct tt_eval_bucket bucket[TT_EVAL_BUCKETS_MAX];
    /* by group, [0] inactive, [1] active */
    uint64_t group_n[2];
    double group_mrr[2], group_recall[2];
    /* mean ||h_{t+1} - h_t|| by group and step index 1..TT_EVAL_STEPS_MAX
     * at [1..STEPS_MAX], later steps at [STEPS_MAX + 1]; [0] unused */
    double change_mean[2][TT_EVAL_STEPS_MAX + 2];
    uint64_t change_n[2][TT_EVAL_STEPS_MAX + 2];
    double seconds;          /* wall time of the evaluation */
};

/*
 * Prepares the evaluation of slice [begin, end) of `ds` (borrowed; must
 * outlive the handle) under `split`: per-user sequences, training counts,
 * the candidate pool and the sample of scored interactions.  TT_ERR_INVAL
 * for an empty slice, an empty pool or bad options.
 */
tt_err_t tt_eval_new(tt_eval_t **out, const struct tt_dataset *ds,
                     const struct tt_split *split, size_t begin, size_t end,
                     const struct tt_eval_opts *opts, char *errstr,
                     size_t errstr_size);

/* Frees the handle; NULL is a no-op. */
void tt_eval_destroy(tt_eval_t *ev);

/* The dataset, split and options the handle was made with (borrowed). */
const struct tt_dataset *tt_eval_dataset(const tt_eval_t *ev);
const struct tt_split *tt_eval_split(const tt_eval_t *ev);
const struct tt_eval_opts *tt_eval_opts(const tt_eval_t *ev);

/* The number of interactions that will be scored. */
size_t tt_eval_n_scored(const tt_eval_t *ev);

/* Training interactions of dense user u. */
uint32_t tt_eval_train_count(const tt_eval_t *ev, uint32_t u);

/* The dataset positions of dense user u's events up to the handle's end,
 * oldest first (the first tt_eval_train_count() of them are training
 * ones), *n of them (borrowed; NULL and 0 for an unknown user). */
const uint32_t *tt_eval_user_events(const tt_eval_t *ev, uint32_t u,
                                    size_t *n);

/* Whether dense item i had a training interaction (is in the pool). */
bool tt_eval_item_in_train(const tt_eval_t *ev, uint32_t i);

/* The number of items in the candidate pool. */
uint32_t tt_eval_pool_size(const tt_eval_t *ev);

/* Whether the interaction at position j is scored. */
bool tt_eval_is_scored(const tt_eval_t *ev, size_t j);

/*
 * The negatives of interaction j (dense item indices) into out[0..cap);
 * returns how many (min(negatives, pool without the true item)), or 0 when
 * cap is too small.  Allocates a scratch set; for tests and inspection.
 */
uint32_t tt_eval_negatives_of(const tt_eval_t *ev, size_t j, uint32_t *out,
                              uint32_t cap);

/* The activity bucket bounds for t*: fills lo/hi of up to
 * TT_EVAL_BUCKETS_MAX buckets and returns their count. */
uint32_t tt_eval_buckets(uint32_t tstar, struct tt_eval_bucket *b);

/* The bucket index of a training count. */
uint32_t tt_eval_bucket_of(const struct tt_eval_bucket *b, uint32_t n_buckets,
                           uint32_t count);

/*
 * The rank of the true item with score s_true among n negatives' scores
 * (pessimistic ties, NaN counts against the true item).  1-based.
 */
uint32_t tt_eval_rank(float s_true, const float *s_neg, uint32_t n);

/*
 * Runs `sc` over the slice and fills *res.  TT_ERR_NOMEM, or TT_ERR_INVAL
 * when the scorer's dimension or item table does not fit the dataset.
 */
tt_err_t tt_eval_run(const tt_eval_t *ev, const struct tt_eval_scorer *sc,
                     struct tt_eval_result *res, char *errstr,
                     size_t errstr_size);

/*
 * A scorer over a trained model (2ts, 2ts-plus, gru): the model's canonical
 * tt_model_user_start/step/query, a user allowed the active cell when its
 * training count exceeds the model's t*.  The active group is the users on
 * the active cell; for a model with no phi_u at all (gru), the users above
 * the evaluation's t*.  `sc` points into `ms` (do not move it), which the
 * caller releases with tt_eval_model_release() after the last run.
 */
struct tt_eval_model_scorer {
    struct tt_eval_scorer sc;
    const tt_model_t *m;
    const struct tt_dataset *ds;
    const tt_eval_t *ev;
    uint32_t tstar;
    bool no_phi;
    const float **item;
    /* window models: the active cell's input part of every item
     * (tt_model_active_input), computed once, so that recomputing a window
     * costs about half; NULL when the table would exceed
     * TT_EVAL_INPUT_TABLE_MAX bytes (then windows step from scratch) */
    float *act_in;        /* [model items][3 * dim], model item order */
    const float *items0;  /* the model's first item vector */
    uint32_t k;           /* the model's K */
    uint32_t hop;         /* the model's hop H, 0 without */
};
#define TT_EVAL_INPUT_TABLE_MAX (256u << 20)
tt_err_t tt_eval_model_init(struct tt_eval_model_scorer *ms,
                            const tt_eval_t *ev, const tt_model_t *m,
                            const char *name);
void tt_eval_model_release(struct tt_eval_model_scorer *ms);

/*
 * Streaming MRR of `m` over the handle's slice: a tt_train_validate_fn with
 * ctx = a tt_eval_t made for the validation slice [train_end, valid_end)
 * with max_scored = the sample size.  Returns the MRR, or -1 on failure.
 */
double tt_eval_validate(void *ctx, const tt_model_t *m);

#endif
