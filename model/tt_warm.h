/*
 * tt_warm: warm start of training from a previous model (the retrain job's
 * "previous model as an optional warm start", issue 5).
 *
 * Training starts as usual (every parameter drawn from the training seed,
 * tt_train.h), then the parameters the previous model knows are
 * overwritten with its values, matched by id:
 *   stage 1  phi_u of every user the previous model holds a phi_u for (its
 *            active users), x_i (the first d entries) of every item it
 *            holds, and with item features the category rows of g, taken
 *            from the tail of the first matching item (in dense index
 *            order) of each category;
 *   stage 2  psi, Theta_1, Theta_2 and, when both models are 2TS-Plus, W
 *            (the dense block: psi and the cells lead it, W follows).
 * Users and items the previous model does not know keep the usual
 * initialisation.  Nothing random is drawn here, so a warm-started
 * training is as deterministic as a cold one: the same previous model,
 * log and seed give the same bits.
 *
 * The previous model must have the state dimension D and the feature
 * dimension of the training (tt_warm_check); t*, K, Plus and the window
 * rule may differ (W is copied only Plus to Plus).  Training reaches the
 * previous model through tt_train_opts.warm; the hooks in tt_stage1.c and
 * tt_stage2.c call tt_warm_stage1 / tt_warm_stage2 right after their own
 * initialisation.
 *
 * Threading: the functions read the model (shared, immutable) and write
 * only the caller's arrays; call them from one thread per array.
 */
#ifndef TT_WARM_H
#define TT_WARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "model/tt_dataset.h"
#include "model/tt_model.h"

struct tt_train_opts;

/* How much of a dataset a previous model covers. */
struct tt_warm_match {
    uint32_t users, users_known;  /* dataset users; with a phi_u in prev */
    uint32_t items, items_known;  /* dataset items; with a vector in prev */
    bool plus_w;                  /* W is copied (both 2TS-Plus) */
};

/* Whether `prev` can warm-start training with `opts`: the same D (d plus
 * feature_dim) and feature dimension.  TT_ERR_INVAL with a message naming
 * both shapes otherwise. */
tt_err_t tt_warm_check(const tt_model_t *prev,
                       const struct tt_train_opts *opts, char *errstr,
                       size_t errstr_size);

/* Counts the users and items of `ds` that `prev` knows (for the job's log;
 * one hash lookup per user and item). */
void tt_warm_count(const tt_model_t *prev, const struct tt_dataset *ds,
                   bool plus, struct tt_warm_match *m);

/*
 * Stage 1: overwrites the rows of phi ([n_users][d + fd]) of the users of
 * `ds` that `prev` holds a phi_u for, the rows of x ([n_items][d]) of the
 * items it holds, and with fd > 0 the rows of g ([n_cat][fd]) of the
 * categories of those items (cat[i]: item i's row of g, < n_cat).  Does
 * nothing when prev's dimensions are not d + fd and fd.  TT_ERR_NOMEM
 * (a bitmap of n_cat bytes), else TT_ERR_OK.
 */
tt_err_t tt_warm_stage1(const tt_model_t *prev, const struct tt_dataset *ds,
                        uint32_t d, uint32_t fd, float *phi, float *x,
                        float *g, const uint32_t *cat, uint32_t n_cat);

/* Stage 2: overwrites the dense block (tt_model_int.h layout for `dim`,
 * `plus`) with prev's psi and cells, and W when both are Plus.  Does
 * nothing when prev's dimension is not `dim`. */
void tt_warm_stage2(const tt_model_t *prev, float *dense, uint32_t dim,
                    bool plus);

#endif
