/*
 * tt_eval_bt: the backtest, i.e. the paper's experiment (sec. 5) on one
 * interaction log: split chronologically, train every selected model on the
 * same training part, score all of them with tt_eval on the same test
 * candidates, and report.  `twotime backtest` is a thin main over it.
 *
 * Models (names as in --models):
 *   2ts            2TS (stage 1 + stage 2, TT_MODE_2TS) with the training
 *                  options as given (by default t* chosen on validation,
 *                  opts.auto_tstar, and the inactive cell trained on every
 *                  user's first interactions, opts.inactive_all_users)
 *   2ts-plus       2TS-Plus (learns W), the same options
 *   2ts-paper      2TS and 2TS-Plus with stage 2 as the paper writes it:
 *   2ts-plus-paper the inactive cell on inactive users only, t* fixed
 *   gru            one GRU over every user's whole sequence from a shared
 *                  start (stage 2 in TT_MODE_GRU_ALL; GRU4Rec-style)
 *   ccf, sumpool   over stage 1 (tt_eval_base.h)
 *   pop            training popularity
 * Stage 1 is trained once and shared by every model that needs it.  Stage 2
 * keeps the epoch with the best streaming MRR on a fixed sample of the
 * validation slice (tt_eval_validate), and the MRR of each epoch is recorded
 * against training time (the paper's fig. 2).
 *
 * Tuning: with a t* grid (and optionally a K grid), plain 2TS is trained for
 * each (t*, K <= t*) and scored on the VALIDATION sample only; the best pair
 * is then used for every model scored on test.  Test data never chooses.
 *
 * Blocking; uses the thread counts of the options.  Logs progress to the
 * borrowed logger (may be NULL).
 */
#ifndef TT_EVAL_BT_H
#define TT_EVAL_BT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/tt_err.h"
#include "common/tt_log.h"
#include "model/tt_dataset.h"
#include "model/tt_eval.h"
#include "model/tt_train.h"

enum tt_bt_model {
    TT_BT_2TS = 0,
    TT_BT_2TS_PLUS,
    TT_BT_2TS_PAPER,
    TT_BT_2TS_PLUS_PAPER,
    TT_BT_GRU,
    TT_BT_CCF,
    TT_BT_SUMPOOL,
    TT_BT_POP,
    TT_BT__COUNT
};

/* The models `--models` selects when not given. */
#define TT_BT_DEFAULT_MODELS                                                   \
    ((1u << TT_BT_2TS) | (1u << TT_BT_2TS_PLUS) | (1u << TT_BT_GRU) |          \
     (1u << TT_BT_CCF) | (1u << TT_BT_SUMPOOL) | (1u << TT_BT_POP))
#define TT_BT_GRID_MAX 16
#define TT_BT_CURVE_MAX 512

struct tt_bt_opts {
    struct tt_train_opts train;  /* t*, K, d, seeds, stage settings */
    struct tt_eval_opts eval;    /* test: negatives, seed, max_scored,
                                    threads (tstar is set from train) */
    double train_frac, valid_frac;
    uint32_t models;             /* bit mask of 1u << TT_BT_* */
    size_t valid_sample;         /* validation interactions scored, 0 = all */
    uint32_t tstar_grid[TT_BT_GRID_MAX];
    uint32_t n_tstar_grid;       /* 0 = no tuning */
    uint32_t k_grid[TT_BT_GRID_MAX];
    uint32_t n_k_grid;           /* 0 = K from train (capped at t*) */
};

struct tt_bt_point {
    uint32_t epoch;
    double seconds;              /* stage 2 time, validation excluded */
    double valid_mrr;
};

struct tt_bt_model_result {
    bool done;
    struct tt_eval_result test;
    double valid_mrr;            /* final model on the validation sample */
    uint32_t tstar;              /* 2TS models: the model's t* (chosen on
                                    validation with auto_tstar); else 0 */
    double stage1_seconds;       /* 0 for models without stage 1 */
    double stage2_seconds;       /* 0 for models without stage 2 */
    uint32_t n_curve;
    struct tt_bt_point curve[TT_BT_CURVE_MAX];
};

struct tt_bt_grid_point {
    uint32_t tstar, k;
    uint32_t n_active;           /* users above t* */
    double valid_mrr;
    double seconds;              /* stage 2 */
};

struct tt_bt_result {
    /* the data */
    size_t n;                    /* interactions */
    uint32_t n_users, n_items;
    struct tt_split split;
    uint32_t train_users, train_items;
    int64_t first_ts_ms, cutoff_ts_ms, last_ts_ms;
    /* the test slice */
    size_t test_scored;
    uint32_t test_users;         /* with a scored interaction */
    uint32_t test_new_users;     /* of those, unseen in training */
    uint64_t test_new_user_n;    /* scored interactions of unseen users */
    uint64_t test_unknown_item_n;/* scored, truth unseen in training */
    uint32_t active_users;       /* users with more than t* training events */
    /* the settings used (after tuning) */
    uint32_t tstar, k;
    size_t valid_scored;
    double stage1_seconds;
    uint32_t n_grid;
    struct tt_bt_grid_point grid[TT_BT_GRID_MAX * TT_BT_GRID_MAX];
    int best_grid;               /* index in grid, -1 without tuning */
    struct tt_bt_model_result model[TT_BT__COUNT];
    double seconds;              /* the whole backtest */
};

/* "2ts", "2ts-plus", ... */
const char *tt_bt_model_name(enum tt_bt_model m);

/* Parses a comma-separated list of model names ("all" = the default set
 * plus the -paper variants) into a mask.  TT_ERR_INVAL naming the bad one. */
tt_err_t tt_bt_parse_models(const char *list, uint32_t *mask, char *errstr,
                            size_t errstr_size);

/* Parses "20,50,100" into at most `cap` values >= lo.  TT_ERR_INVAL. */
tt_err_t tt_bt_parse_grid(const char *list, uint32_t lo, uint32_t *out,
                          uint32_t cap, uint32_t *n, char *errstr,
                          size_t errstr_size);

/*
 * Runs the backtest on the finished dataset `ds` (borrowed).  *res is
 * heap-sized (~150 KB): the caller owns it.  Errors from training or
 * evaluation are returned with their message.
 */
tt_err_t tt_bt_run(const struct tt_dataset *ds, const struct tt_bt_opts *opts,
                   tt_log_t *log, struct tt_bt_result *res, char *errstr,
                   size_t errstr_size);

/* Prints the results as a text table (MRR, Recall@10 overall and by group,
 * training time) to `out`. */
void tt_bt_print(const struct tt_bt_result *res, const struct tt_bt_opts *opts,
                 FILE *out);

/* Writes the results as JSON (fields documented in the README, section
 * "Backtest JSON") to `out`; `input` names the log.  TT_ERR_IO. */
tt_err_t tt_bt_write_json(const struct tt_bt_result *res,
                          const struct tt_bt_opts *opts, const char *input,
                          FILE *out);

#endif
