/*
 * tt_model: a trained 2TS model and the one implementation of how it moves a
 * user's state, shared by training-time evaluation, `twotime backtest` and the
 * stream processor, so that all three agree bit for bit.
 *
 * A model holds the item vectors x_i, the transductive embeddings phi_u of
 * active users, the shared start vector psi, the inactive cell Theta_1, the
 * active cell Theta_2, and for 2TS-Plus the projection W (NOTES.md eq. 8, 9).
 * Item and user ids are the source system's int64 ids.
 *
 * Routing: a user with a phi_u in this model starts from phi_u and moves with
 * the active cell; every other user (inactive, or new) starts from psi and
 * moves with the inactive cell.  The caller (stream, evaluation) decides
 * whether the interaction count allows the active cell; the model only knows
 * who has a phi_u.
 *
 * THE STATE OF A USER is tt_model_user_state() over the user's retained
 * item vectors, oldest first:
 *   inactive cell: h = psi, then one step per item;
 *   active cell, hopping-window model (info.hop = H > 0, the default of
 *     `twotime train`): after the user's c-th event (c counts every event
 *     of the user from the start of its log, known item or not), h = phi_u
 *     then one step per known item of the user's events with index in
 *     (a(c), c], where a(c) = 0 for c <= K and H * ceil((c - K) / H)
 *     otherwise (tt_model_window_start): a window of K - H + 1 .. K events
 *     that restarts every H events, so between hops the state extends by
 *     one step per event and at a hop it is recomputed over K - H + 1
 *     events (K / H steps per event on average; H = K: a tumbling window,
 *     H = 1: a sliding window over the last K events);
 *   active cell, sliding-window model (info.window, info.hop == 0): h =
 *     phi_u, then one step per item of the user's LAST K known items,
 *     whichever side of the training cutoff they fall;
 *   active cell, other models (files written before the window): h = phi_u
 *     at the training cutoff, then one step per item after it; the caller
 *     passes only those items.
 * tt_model_user_step() extends a state by one item incrementally while
 * tt_model_user_can_step_at() says this equals recomputing it.
 *
 * A loaded model is immutable and may be shared by any number of threads; the
 * per-user functions write only to the caller's run and workspace.
 */
#ifndef TT_MODEL_H
#define TT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"

typedef struct tt_model_s tt_model_t;

enum tt_cell {
    TT_CELL_INACTIVE = 0, /* psi + Theta_1: inactive and new users */
    TT_CELL_ACTIVE = 1,   /* phi_u + Theta_2: active users */
};

/* The largest state dimension any model may have (d + feature dim). */
#define TT_MODEL_DIM_MAX 1024
/* The largest K of a window model (callers may size window buffers by it). */
#define TT_MODEL_WINDOW_MAX 1024

/* The training cutoff of one input partition: the model has seen every
 * record of the partition below `offset`. */
struct tt_model_cutoff {
    int32_t partition;
    int64_t offset;
};

/* Shape and provenance of a model, as stored in its file header. */
struct tt_model_info {
    uint64_t version;      /* increases with each published model */
    uint32_t dim;          /* D: state and item vector dimension */
    uint32_t tstar;        /* t*: active when training count > t* */
    uint32_t k;            /* K: steps of the active cell in training */
    bool plus;             /* 2TS-Plus scoring */
    uint32_t n_items;
    uint32_t n_active;     /* users with a phi_u */
    int64_t cutoff_ts_ms;  /* latest event time seen in training */
    uint64_t seed;         /* training seed, for provenance */
    uint32_t n_cutoffs;    /* per-partition offsets (0 for file inputs) */
    uint32_t feature_dim;  /* the last feature_dim entries of an item
                              vector are g(f_i); 0 without features */
    bool gru_all;          /* trained as the GRU4Rec-style baseline (no
                              active users) */
    bool window;           /* active users: phi_u + the active cell over
                              a window (see the top) */
    uint32_t hop;          /* H of a hopping-window model (1..K; implies
                              window), 0 for the other kinds */
};

/*
 * The running state of one user under one model: h_t, the cell that moves
 * it, the vector of the item clicked last (for 2TS-Plus) and the number of
 * GRU steps taken.  A plain caller-owned value; only the first dim floats
 * of h and last are written and meaningful.
 */
struct tt_user_run {
    enum tt_cell cell;
    uint32_t steps;
    bool has_last;
    float h[TT_MODEL_DIM_MAX];
    float last[TT_MODEL_DIM_MAX];
};

/* Loads a model file.  A truncated, corrupt or incompatible file fails with
 * TT_ERR_CORRUPT / TT_ERR_VERSION / TT_ERR_IO and a message; never crashes.
 * On success the caller owns *out. */
tt_err_t tt_model_load(tt_model_t **out, const char *path, char *errstr,
                       size_t errstr_size);

/* Loads a model from memory (same checks as tt_model_load). */
tt_err_t tt_model_load_buf(tt_model_t **out, const uint8_t *buf, size_t len,
                           char *errstr, size_t errstr_size);

/* Writes the model to `path` atomically (temporary file + rename). */
tt_err_t tt_model_save(const tt_model_t *m, const char *path, char *errstr,
                       size_t errstr_size);

/* Serialises the model (the exact bytes tt_model_save writes) into a new
 * malloc'd buffer *buf of *len bytes that the caller frees.  TT_ERR_NOMEM. */
tt_err_t tt_model_save_buf(const tt_model_t *m, uint8_t **buf, size_t *len);

/* Sets the version stored in the header (before the model is shared). */
void tt_model_set_version(tt_model_t *m, uint64_t version);

/* Replaces the per-partition training cutoffs (copied; partitions >= 0 and
 * strictly increasing, offsets >= 0) before the model is shared.
 * TT_ERR_INVAL / TT_ERR_NOMEM with a message. */
tt_err_t tt_model_set_cutoffs(tt_model_t *m,
                              const struct tt_model_cutoff *cutoffs,
                              uint32_t n, char *errstr, size_t errstr_size);

/* Frees the model; NULL is a no-op. */
void tt_model_destroy(tt_model_t *m);

/* Copies the model's shape and provenance into *info. */
void tt_model_get_info(const tt_model_t *m, struct tt_model_info *info);

/* The per-partition training cutoffs (info.n_cutoffs entries), borrowed. */
const struct tt_model_cutoff *tt_model_cutoffs(const tt_model_t *m);

/* The item vector x_i (dim floats, borrowed), or NULL for an item the model
 * does not know. */
const float *tt_model_item(const tt_model_t *m, int64_t item_id);

/* The item at dense index `index` < n_items: its vector (borrowed) and, when
 * `id` is non-NULL, its id.  For scanning or sampling the model's items. */
const float *tt_model_item_at(const tt_model_t *m, uint32_t index,
                              int64_t *id);

/* The active user's phi_u (borrowed), or NULL when the user has none. */
const float *tt_model_phi(const tt_model_t *m, int64_t user_id);

/* The shared start vector psi (borrowed). */
const float *tt_model_psi(const tt_model_t *m);

/* Starts a user: from phi_u with the active cell when `allow_active` and the
 * model holds a phi_u for `user_id`, else from psi with the inactive cell. */
void tt_model_user_start(const tt_model_t *m, int64_t user_id,
                         bool allow_active, struct tt_user_run *run);

/* One interaction with item vector `x` (dim floats): h <- GRU_cell(h, x),
 * and x becomes the last item.  Does not allocate.  This extends the state
 * tt_model_user_state() gives by one item only while
 * tt_model_user_can_step(m, run) (or _at); otherwise (an active user of a
 * window model whose window moves) recompute with tt_model_user_state(). */
void tt_model_user_step(const tt_model_t *m, struct tt_user_run *run,
                        const float *x);

/*
 * THE way to compute a user's state (see the top of this file): starts
 * `run` as tt_model_user_start(m, user_id, allow_active) does, then steps
 * it over the item vectors xs[0..n) (oldest first; dim floats each,
 * borrowed), all of them, or for the active cell of a sliding-window model
 * the last K of them.  NULL entries (items the model does not know) take
 * no step and do not count toward the K.  For the active cell of a
 * hopping-window model xs[0] must be the user's first event (else
 * tt_model_user_state_at), NULL entries count as events.  For the active
 * cell of a model without a
 * window, xs must hold only the items after the training cutoff.  The
 * evaluation and the stream both call this, so their embeddings agree bit
 * for bit.  Costs one GRU step per item stepped; does not allocate.
 */
void tt_model_user_state(const tt_model_t *m, int64_t user_id,
                         bool allow_active, const float *const *xs, size_t n,
                         struct tt_user_run *run);

/*
 * tt_model_user_state() for a history that need not start at the user's
 * first event: xs[j] (and as[j]; `as` may be NULL, else as in
 * tt_model_user_state_pre) is the user's event number first + j + 1, so the
 * state is the one after event c = first + n.  Only the active cell of a
 * hopping-window model reads `first` (the window is anchored to the
 * absolute count); pass first <= tt_model_window_start(m, first + n) for
 * the exact state (a history that starts later gives the state over the
 * events it holds).  Entries may be NULL (events whose item the model does
 * not know: they count as events and take no step).
 */
void tt_model_user_state_at(const tt_model_t *m, int64_t user_id,
                            bool allow_active, const float *const *xs,
                            const float *const *as, size_t n, uint64_t first,
                            struct tt_user_run *run);

/* a(count) of a hopping-window model (see the top): the active cell's state
 * after event `count` runs over events (a, count].  0 for the other kinds. */
uint64_t tt_model_window_start(const tt_model_t *m, uint64_t count);

/* The active cell's input part b + W x for item vector x (3 * dim floats
 * into `a`): what tt_model_user_state_pre() takes per item. */
void tt_model_active_input(const tt_model_t *m, const float *x, float *a);

/* tt_model_user_state() with the active cell's input parts of the items
 * given (as[j] for xs[j], from tt_model_active_input; borrowed; used only
 * when the user runs on the active cell): the same state bit for bit, at
 * about half the cost per step.  For scorers that recompute sliding
 * windows over the same items many times. */
void tt_model_user_state_pre(const tt_model_t *m, int64_t user_id,
                             bool allow_active, const float *const *xs,
                             const float *const *as, size_t n,
                             struct tt_user_run *run);

/* Whether tt_model_user_step(m, run, x) gives the state that
 * tt_model_user_state() would give over the same items plus x: always for
 * the inactive cell and for models without a window; for the active cell of
 * a sliding-window model, only while run->steps < K (the window is not
 * full); never for the active cell of a hopping-window model (it needs the
 * count: tt_model_user_can_step_at). */
bool tt_model_user_can_step(const tt_model_t *m,
                            const struct tt_user_run *run);

/* tt_model_user_can_step() knowing that the new event is the user's
 * count-th (1-based): for the active cell of a hopping-window model, true
 * unless event `count` starts a new window (a(count) != a(count - 1)):
 * then the event takes one step (a known item) or none (an unknown one)
 * from the state after event count - 1; at a hop recompute with
 * tt_model_user_state_at(). */
bool tt_model_user_can_step_at(const tt_model_t *m,
                               const struct tt_user_run *run,
                               uint64_t count);

/* The query vector q (dim floats) that scores item i as q . x_i: h, or for
 * 2TS-Plus W^T [h ; x_last] (x_last = 0 before any step). */
void tt_model_user_query(const tt_model_t *m, const struct tt_user_run *run,
                         float *q);

/* The canonical score q . x over the model's dimension (fixed summation
 * order, tt_kern_dot), so that every scorer ranks identically. */
float tt_model_score(const tt_model_t *m, const float *q, const float *x);

#endif
