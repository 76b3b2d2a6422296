/*
 * tt_dataset: an interaction log in memory, in the dense form training and
 * evaluation work on.
 *
 * Events are appended in any order with tt_dataset_add(); tt_dataset_finish()
 * sorts them stably by timestamp (ties keep input order), which fixes the
 * chronological order every split and sequence relies on.  User and item ids
 * (arbitrary int64) are mapped to dense uint32 indices in order of first
 * appearance *after* sorting, so the same log always gives the same indices.
 *
 * Memory: 16 bytes per interaction (user, item, ts) plus the id maps
 * (~24 bytes per distinct id).  Not thread-safe while building; a finished
 * dataset is read-only and may be shared by threads.
 */
#ifndef TT_DATASET_H
#define TT_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "common/tt_event.h"
#include "model/tt_ids.h"

struct tt_dataset {
    size_t n;               /* interactions */
    uint32_t *user;         /* [n] dense user index */
    uint32_t *item;         /* [n] dense item index */
    int64_t *ts;            /* [n] event time, ms, non-decreasing */
    tt_ids_t *users;        /* dense index <-> user id */
    tt_ids_t *items;        /* dense index <-> item id */
    int32_t *item_category; /* [n_items] category or TT_EVENT_NO_CATEGORY */
    int32_t n_categories;   /* 1 + the largest category seen, 0 if none */
    /* private: staging area until tt_dataset_finish() */
    struct tt_event *staged;
    size_t n_staged, cap_staged;
    int finished;
};

/* An empty dataset.  Release with tt_dataset_release(). */
tt_err_t tt_dataset_init(struct tt_dataset *ds);

/* Frees everything `ds` owns; safe on a zeroed or half-built struct. */
void tt_dataset_release(struct tt_dataset *ds);

/* Appends one event (copied).  TT_ERR_INVAL if `ev` is not tt_event_valid()
 * or the dataset is finished; TT_ERR_NOMEM on allocation failure. */
tt_err_t tt_dataset_add(struct tt_dataset *ds, const struct tt_event *ev);

/* Sorts, assigns dense indices and frees the staging area. */
tt_err_t tt_dataset_finish(struct tt_dataset *ds);

/* The number of distinct users / items. */
uint32_t tt_dataset_n_users(const struct tt_dataset *ds);
uint32_t tt_dataset_n_items(const struct tt_dataset *ds);

/*
 * Chronological split: interactions [0, train_end) train, [train_end,
 * valid_end) validate, [valid_end, n) test.  Boundaries are positions in the
 * time-sorted log, so all three parts are contiguous in time.
 */
struct tt_split {
    size_t train_end;
    size_t valid_end;
};

/* Computes the split for fractions in (0, 1) with train + valid < 1. */
tt_err_t tt_split_compute(const struct tt_dataset *ds, double train_frac,
                          double valid_frac, struct tt_split *split);

/*
 * Per-user sequences over the interactions [begin, end): for user u, the
 * positions (indices into the dataset arrays) of its interactions in time
 * order are pos[off[u]] .. pos[off[u+1]-1].  Users with no interaction in the
 * range have an empty sequence.  `n_users` is the dataset's user count.
 */
struct tt_seqs {
    uint32_t n_users;
    uint64_t *off; /* [n_users + 1] */
    uint32_t *pos; /* [end - begin] */
};

tt_err_t tt_seqs_build(const struct tt_dataset *ds, size_t begin, size_t end,
                       struct tt_seqs *seqs);
void tt_seqs_release(struct tt_seqs *seqs);

/* Length of user u's sequence. */
static inline uint64_t tt_seqs_len(const struct tt_seqs *s, uint32_t u)
{
    return s->off[u + 1] - s->off[u];
}

#endif
