/*
 * tt_score: scores the interactions of an evaluation slice (tt_eval.h) with
 * query vectors that come from OUTSIDE the harness, one interaction at a
 * time, and sums the results into the same struct tt_eval_result that
 * tt_eval_run() gives.  For `twotime backtest --live`, which scores each
 * interaction with the embedding the stream had emitted for the user before
 * it, possibly under several model versions.
 *
 * Nothing of the protocol is re-implemented here: the candidates are
 * tt_eval_negatives_of() (the harness's own draw for position j), the rank
 * is tt_eval_rank(), every score is tt_model_score() (the canonical dot
 * product the harness uses), the buckets are tt_eval_buckets() /
 * tt_eval_bucket_of() over tt_eval_train_count(), and the sums are the
 * harness's exact fixed-point sums of 1/rank (tt_score_rr).  Given the
 * queries tt_eval_run's model scorer computes, the result is identical
 * (tests/unit/test_score.c).  Only the user counts of the buckets and the
 * embedding-change statistics are counted by the caller's calls, since the
 * caller knows which states belong to one run.
 *
 * An interaction whose true item has no vector in the query's model is
 * scored with the worst rank and counted (as in tt_eval).
 *
 * Threading: a struct tt_score belongs to one thread; the eval handle and
 * the models are shared read-only.  tt_score_add() allocates a scratch set
 * per call (inside tt_eval_negatives_of): for evaluation tools, not a hot
 * path.
 */
#ifndef TT_SCORE_H
#define TT_SCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "model/tt_dataset.h"
#include "model/tt_eval.h"
#include "model/tt_eval_bt.h"
#include "model/tt_model.h"

/* Running sums of one evaluation (caller-owned; tt_score_init/_release). */
struct tt_score {
    const tt_eval_t *ev;        /* borrowed */
    uint32_t *neg;              /* [negatives + 1] scratch */
    float *s_neg;
    uint8_t *user_seen;         /* [n_users] counted in a bucket already */
    uint64_t n, hits, rr;
    uint64_t unknown, new_user, steps, skipped;
    uint32_t max_cand;
    uint64_t b_n[TT_EVAL_BUCKETS_MAX], b_hits[TT_EVAL_BUCKETS_MAX],
        b_rr[TT_EVAL_BUCKETS_MAX], b_users[TT_EVAL_BUCKETS_MAX];
    uint64_t g_n[2], g_hits[2], g_rr[2];
    double ch_sum[2][TT_EVAL_STEPS_MAX + 2];
    uint64_t ch_n[2][TT_EVAL_STEPS_MAX + 2];
};

/* Starts empty sums over `ev` (borrowed; outlives s).  TT_ERR_NOMEM. */
tt_err_t tt_score_init(struct tt_score *s, const tt_eval_t *ev);

/* Frees the scratch buffers; safe on a zeroed struct. */
void tt_score_release(struct tt_score *s);

/*
 * The item table of model `m` over the dataset's dense items (what
 * tt_eval_model_init builds): a new malloc'd array of n_items borrowed
 * pointers into m (NULL = no vector) that the caller frees.  NULL on
 * allocation failure.
 */
const float **tt_score_item_table(const struct tt_dataset *ds,
                                  const tt_model_t *m);

/*
 * Scores the interaction at position p (tt_eval_is_scored must hold) with
 * query q (the model's dim floats) of model m, whose item table is
 * `items`; `group` 0 inactive, 1 active.  Adds it to the sums and returns
 * its rank (1-based).
 */
uint32_t tt_score_add(struct tt_score *s, size_t p, const tt_model_t *m,
                      const float *const *items, const float *q, int group);

/* Counts one event of the slice: a state step taken, or none (no vector
 * for its item). */
void tt_score_count_step(struct tt_score *s, bool stepped);

/* Adds ||b - a||_2 over dim floats to the change statistics of `group` at
 * step index `step` (>= 1; above TT_EVAL_STEPS_MAX: the later bin). */
void tt_score_change(struct tt_score *s, int group, uint32_t step,
                     const float *a, const float *b, uint32_t dim);

/* The result so far (fields as tt_eval_run fills them; seconds = 0). */
void tt_score_result(const struct tt_score *s, struct tt_eval_result *res);

/* 1/rank in the harness's 2^-32 fixed point, and the MRR of such a sum. */
uint64_t tt_score_rr(uint32_t rank);
double tt_score_mrr(uint64_t rr, uint64_t n);

/*
 * The dataset and test-slice figures of a backtest report (n, users,
 * items, split, train users/items, active users above res->tstar, times,
 * test scored/users/new users/unknown items) for the test handle `test`
 * over [split->valid_end, n): what tt_bt_run reports.  res->split and
 * res->tstar must be set.  TT_ERR_NOMEM.
 */
tt_err_t tt_score_bt_stats(const struct tt_dataset *ds, const tt_eval_t *test,
                           struct tt_bt_result *res);

#endif
