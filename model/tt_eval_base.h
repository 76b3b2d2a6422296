/*
 * tt_eval_base: the non-neural baselines of `twotime backtest`, as
 * tt_eval_scorer's over a stage 1 result (tt_train.h), so that they are
 * scored by the same harness, on the same candidates, as 2TS:
 *
 *   ccf      stage 1 alone (collaborative competitive filtering, eq. 10):
 *            q = phi_u for a user seen in training, the mean phi of those
 *            users otherwise.  Static: no update after training.
 *   sumpool  q = mean of the stage-1 item vectors x_i of the items the user
 *            clicked so far (training, validation and test clicks, in time
 *            order; items without a vector are skipped), the mean phi
 *            before the first click.
 *   pop      training popularity: items ranked by training count, ties by
 *            dense item index (lower first), as a strict order.  Items unseen
 *            in training have no score (worst rank when they are the truth).
 *
 * Item vectors are the stage-1 x_i of items seen in training; others have
 * none.  A user is in the active group when its training count exceeds t*
 * (reporting only: the baselines treat every user alike).
 *
 * A baseline is immutable after init and may be run by several threads.
 * It must not be moved (the scorer points into it).
 */
#ifndef TT_EVAL_BASE_H
#define TT_EVAL_BASE_H

#include "model/tt_eval.h"
#include "model/tt_train.h"

enum tt_eval_base_kind {
    TT_BASE_CCF = 0,
    TT_BASE_SUMPOOL = 1,
    TT_BASE_POP = 2,
};

struct tt_eval_base {
    struct tt_eval_scorer sc;
    enum tt_eval_base_kind kind;
    const tt_eval_t *ev;
    const struct tt_stage1 *s1;
    uint32_t dim;
    const float **item;  /* [n_items] */
    float *mean_phi;     /* [dim] */
    float *pop;          /* [n_items] pop's one-dimensional item vectors */
};

/*
 * Makes baseline `kind` from `s1` (borrowed; ccf and sumpool need it, pop
 * does not and accepts NULL) for the evaluation `ev` (borrowed).  Both must
 * outlive the baseline.  TT_ERR_INVAL when s1 does not match the dataset,
 * TT_ERR_NOMEM.  Release with tt_eval_base_release().
 */
tt_err_t tt_eval_base_init(struct tt_eval_base *b, enum tt_eval_base_kind kind,
                           const tt_eval_t *ev, const struct tt_stage1 *s1);

void tt_eval_base_release(struct tt_eval_base *b);

/* The name of a baseline ("ccf", "sumpool", "pop"). */
const char *tt_eval_base_name(enum tt_eval_base_kind kind);

#endif
