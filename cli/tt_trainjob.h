/*
 * tt_trainjob: the training pipeline of `twotime train`, shared with
 * `twotime retrain` so that both learn a model with the same code and
 * settings, plus the retrain job's quality gate.
 *
 * The pipeline (what cmd_train.c does, step for step): the train options
 * from the configuration (tt_train_opts_from_conf), a validation handle on
 * a fixed sample of [train_end, valid_end) (eval.negatives, eval.seed,
 * valid_sample interactions), stage 1, then stage 2 keeping the epoch with
 * the best streaming validation MRR (tt_eval_validate).  A warm start is
 * the caller's o->warm (model/tt_warm.h).
 *
 * Progress: on a terminal, one line redrawn in place (stage, epoch, share
 * done, loss, rate, ETA); otherwise log lines, at most one every
 * TT_TRAINJOB_LOG_EVERY_S seconds plus one at the end of each epoch.
 *
 * Threading: one thread; training itself uses train.threads workers.
 */
#ifndef TT_TRAINJOB_H
#define TT_TRAINJOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "common/tt_log.h"
#include "conf/tt_conf.h"
#include "model/tt_dataset.h"
#include "model/tt_model.h"
#include "model/tt_train.h"

#define TT_TRAINJOB_LOG_EVERY_S 10.0

/* A progress reporter (tt_train_progress_fn's context). */
struct tt_trainjob_progress {
    tt_log_t *log;       /* borrowed; NULL: quiet */
    bool tty;            /* redraw one line on stderr */
    const char *what;    /* log component ("train", "retrain") */
    int stage;
    uint64_t stage_t0, last_ns;
    bool line_open;      /* a redrawn line waits for its newline */
    double best_mrr;
    uint32_t best_epoch, epochs_run;
};

/* Sets up a reporter; tty when stderr is a terminal and log is non-NULL. */
void tt_trainjob_progress_init(struct tt_trainjob_progress *pr, tt_log_t *log,
                               const char *what);

/* The tt_train_progress_fn. */
void tt_trainjob_on_progress(void *ctx, const struct tt_train_progress *p);

struct tt_trainjob_result {
    tt_model_t *model;        /* the caller owns it */
    double stage1_seconds;
    double stage1_peak_mib;   /* peak resident memory after stage 1 */
    double stage2_seconds;
    uint32_t epochs_run;      /* stage 2 */
    uint32_t best_epoch;      /* 0 without validation */
    double valid_mrr;         /* of the kept epoch, < 0 without validation */
    uint32_t dim;             /* D */
};

/*
 * Trains on `ds` split by `split` with options `o` (from
 * tt_train_opts_from_conf, possibly adjusted) and returns the model of
 * version `version` in res->model.  valid_sample: validation interactions
 * scored per epoch (0 = all).  Errors from training with their message.
 */
tt_err_t tt_trainjob_train(const struct tt_dataset *ds,
                           const struct tt_split *split,
                           const struct tt_conf *conf,
                           const struct tt_train_opts *o, size_t valid_sample,
                           uint64_t version, struct tt_trainjob_progress *pr,
                           struct tt_trainjob_result *res, char *errstr,
                           size_t errstr_size);

/* The gate's verdict. */
struct tt_trainjob_gate {
    size_t scored;            /* interactions of the slice scored */
    double new_mrr, new_recall;
    double old_mrr, old_recall;  /* < 0 without a model in service */
    double drop;              /* (old - new) / old; 0 without one */
    double max_drop;          /* retrain.max_mrr_drop */
    bool pass;
    double seconds;
};

/*
 * The quality gate: the paper's streaming metric (tt_eval: 499 sampled
 * negatives, eval.seed; retrain.gate_sample interactions) on the newest
 * slice [split->valid_end, n) for the candidate and for the model in
 * service (may be NULL: pass).  Both are scored on the same candidates
 * with tt_eval_model_init; the serving model is judged by the same rule
 * (active users from phi_u at this split's training cutoff), which cannot
 * favour it: its phi_u have seen at most what the candidate's have.
 * Passes when (old - new) / old <= retrain.max_mrr_drop.  TT_ERR_INVAL for
 * an empty slice, errors of the evaluation.
 */
tt_err_t tt_trainjob_gate(const struct tt_dataset *ds,
                          const struct tt_split *split,
                          const struct tt_conf *conf, int threads,
                          const tt_model_t *cand, const tt_model_t *serving,
                          struct tt_trainjob_gate *g, char *errstr,
                          size_t errstr_size);

/* Peak resident memory of the process, MiB. */
double tt_trainjob_peak_mib(void);

#endif
