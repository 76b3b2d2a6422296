/*
 * tt_retrain_log: the interaction log of `twotime retrain` read from the
 * input topic, split by time with a training cutoff per partition.
 *
 * Reading: a consumer without a group (assign; never commits) reads every
 * partition from its earliest retained offset up to the end offset
 * observed at the start, read_committed, so that the end is the last
 * stable offset and records of aborted or open transactions are never
 * read.  Later records are ignored (their partition is paused).  Records
 * that do not decode as Interaction events are skipped and counted.
 *
 * Splitting: T is the event time at position train_frac of the log sorted
 * by time (the position tt_split_compute gives).  Partition p's cutoff is
 * the offset of its first event at or after T (its end offset when none
 * is); every event before it is a training event.  An event past its
 * partition's cutoff with a time before T (out-of-order times) gets time T,
 * so that the training events are exactly the first train_end of the
 * time-sorted dataset and the model has seen exactly the records below the
 * cutoffs.  The validation and newest slices follow by time, as in
 * tt_split_compute.
 *
 * Memory while reading: 40 bytes per event, then the dataset (16 bytes per
 * event and the id maps) is built partition by partition as the read copy
 * is freed.
 *
 * Threading: one thread.
 */
#ifndef TT_RETRAIN_LOG_H
#define TT_RETRAIN_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "common/tt_log.h"
#include "conf/tt_conf.h"
#include "model/tt_dataset.h"
#include "model/tt_model.h"

struct tt_retrain_log {
    /* set by the caller */
    tt_log_t *log;          /* borrowed; progress every few seconds */
    int (*stopping)(void);  /* polled while reading; may be NULL */
    /* filled by tt_retrain_log_read */
    int32_t n_parts;
    struct tt_model_cutoff *cutoffs; /* [n_parts], partitions 0..n-1 */
    int64_t *low, *end;     /* [n_parts] offsets read: [low, end) */
    uint64_t events;        /* decoded */
    uint64_t skipped;       /* undecodable records */
    uint64_t moved;         /* out-of-order events moved to time T */
    double seconds;         /* reading */
};

/*
 * Reads kc->input_topic into `ds` (initialised, empty; finished on
 * success) and fills `split` and tl's outputs.  TT_ERR_NOTFOUND for a
 * missing topic, TT_ERR_INVAL for a log too small to split, TT_ERR_KAFKA,
 * TT_ERR_TIMEOUT (no progress for a minute), TT_ERR_INTERRUPTED when
 * tl->stopping() said so, TT_ERR_NOMEM.
 */
tt_err_t tt_retrain_log_read(struct tt_retrain_log *tl,
                             const struct tt_conf_kafka *kc,
                             double train_frac, double valid_frac,
                             struct tt_dataset *ds, struct tt_split *split,
                             char *errstr, size_t errstr_size);

/* Frees tl's outputs; safe on a zeroed struct. */
void tt_retrain_log_release(struct tt_retrain_log *tl);

#endif
