/*
 * tt_proc: the pure per-batch processing of the stream processor.
 *
 * Events of one poll batch, plus the states of the users they touch, plus a
 * model, give the users' new states and one output record per applied event.
 * No Kafka, no RocksDB, no clock, no allocation after tt_proc_new(): the
 * stream loop (tt_stream) decodes messages, loads states, and writes results;
 * this module only computes, so it is unit-tested on its own (test_proc.c).
 *
 * THE EMBEDDING OF A USER is a deterministic function of the model and the
 * user's state record (count and retained history), never of the order in
 * which the stream met it or of the other users of its batch:
 *
 *   cell  = ACTIVE   when count > t* (the model's) and the model holds a
 *                    phi_u for the user,
 *           INACTIVE otherwise (new users, inactive users, and users who
 *                    crossed t* since the model was trained: they keep the
 *                    inactive cell until a model holds a phi_u for them).
 *   ACTIVE, hopping-window model (info.hop = H, the default of `twotime
 *             train`): tt_model_user_state_at() over the retained events
 *             (the history holds events count - hist_len + 1 .. count):
 *             h = phi_u, then one step of the active GRU per known item of
 *             the events (a(count), count] (tt_model_window_start).  Between
 *             hops an event extends the window: one step from the stored
 *             h (none for an unknown item); at a hop (every H events) the
 *             user is recomputed over the new window's K - H + 1 events.
 *             K / H steps per event on average instead of K;
 *   ACTIVE, sliding-window model (info.window, hop 0):
 *             tt_model_user_state() over the retained events: h = phi_u,
 *             then one step of the active GRU per event of the user's last
 *             K known items, whichever side of the cutoff (recomputed on
 *             every event: K steps; an event with an item the model does
 *             not know changes none of them and takes none);
 *   ACTIVE, other models: h = phi_u, then one step of the active GRU per
 *             retained event at or after the model's training cutoff of the
 *             user's input partition (offset >= cutoff; every retained event
 *             when the model has no cutoff for that partition);
 *   INACTIVE: h = psi, then one step of the inactive GRU per retained event.
 *   An item the model does not know is kept in the history and counted but
 *   takes no step; under a later model that knows it, it does.
 *   The output vector is the query q = tt_model_user_query() (h itself,
 *   or W^T [h ; x_last] for 2TS-Plus), which scores item i as q . x_i.
 *
 * RETENTION.  The history keeps at most history_max events.  When it is full
 * and an event arrives, the oldest half is dropped at once (not one entry per
 * event): the embedding stays "the GRU over the retained events" while each
 * event costs one GRU step, plus a recompute over history_max/2 events once
 * every history_max/2 events.  A sliding window would cost history_max steps
 * per event for heavy users.
 *
 * A hopping window reads only the events (a(count), count], at most K of
 * them: with history_max >= 2K - 2 they always lie in the retained history,
 * so a drop changes nothing and keeps the incremental path (with a shorter
 * history a recompute after a model swap runs over the retained events).
 *
 * INCREMENTAL = RECOMPUTED.  When the stored embedding was made by the same
 * model version and cell and no history was dropped, the new event is one
 * step from the stored h (bit-identical to running the whole history again,
 * since the step is the same deterministic function).  Otherwise (new model,
 * new cell, dropped history, new user) the user is recomputed from the
 * history.  A model swap therefore recomputes each user on its next event.
 *
 * DUPLICATES.  Each history entry keeps the input offset of its event.  An
 * event whose offset is at or below the newest one in the user's history
 * (same partition) was already applied (replay after a crash in
 * at-least-once mode, or a rewind) and is skipped: no state change, no
 * output.
 *
 * SPEED.  A GRU step's input half, a = b + W^T x (tt_gru_step), depends on
 * the cell and the item only.  A view keeps these projections of the items
 * it meets (a bounded, direct-mapped cache, TT_PROC_XPROJ_BYTES), so a step
 * costs the recurrent half alone: half the multiply-adds, and the same bits
 * as tt_model_user_step (the same kernel computes a, in the same order, and
 * the step adds it exactly where tt_gru_step does; test_proc compares every
 * output with tt_model_user_state).  It matters most for window models,
 * whose active users take K steps per event.
 *
 * Threading: a tt_proc_t is used by one thread at a time; so is a model
 * view (its projection cache fills as it is used; it may be built by one
 * thread and handed to another).
 */
#ifndef TT_PROC_H
#define TT_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "common/tt_event.h"
#include "model/tt_model.h"
#include "state/tt_ustate.h"

typedef struct tt_proc_s tt_proc_t;

/* Most memory a view's item projection cache may use (3 * dim floats per
 * item and cell met; pages are touched as entries fill). */
#define TT_PROC_XPROJ_BYTES (64u << 20)

struct tt_proc_xproj;

/* A model as the processor uses it: the model plus its cutoffs indexed by
 * partition and a cache of item projections.  Built once per model version
 * (tt_proc_view_init). */
struct tt_proc_view {
    const tt_model_t *model; /* borrowed */
    struct tt_model_info info;
    int64_t *cutoff;         /* cutoff[p] for p < n_cutoff, -1 when none */
    size_t n_cutoff;
    struct tt_proc_xproj *xp; /* owned; NULL: steps without the cache */
};

/* Builds a view of `m` (borrowed; it must outlive the view).  Release with
 * tt_proc_view_release().  TT_ERR_NOMEM (without memory for the projection
 * cache the view works without it). */
tt_err_t tt_proc_view_init(struct tt_proc_view *v, const tt_model_t *m);

/* Replaces the projection cache of an initialised view by one of at most
 * max_bytes (0 or too small for 64 entries: none).  For tests and
 * benchmarks; views start with TT_PROC_XPROJ_BYTES.  Without memory the
 * view goes on without it. */
void tt_proc_view_set_cache(struct tt_proc_view *v, size_t max_bytes);

/* Frees what tt_proc_view_init allocated and zeroes v. */
void tt_proc_view_release(struct tt_proc_view *v);

/* The training cutoff of `partition` in the view: the first input offset the
 * model has not seen, or -1 when the model has none for it. */
int64_t tt_proc_view_cutoff(const struct tt_proc_view *v, int32_t partition);

struct tt_proc_conf {
    uint32_t batch_max;   /* events per batch, >= 1 */
    uint32_t history_max; /* retained events per user, 1..TT_USTATE_HIST_MAX */
};

/* One decoded, valid input event and where it came from. */
struct tt_proc_in {
    struct tt_event ev;
    int32_t partition; /* input partition, >= 0 */
    int64_t offset;    /* input offset, >= 0 (-1: from no log) */
};

/* What happened to one input event. */
struct tt_proc_out {
    uint32_t in;            /* index of the event in this batch */
    uint32_t user;          /* index of its user (tt_proc_user) */
    bool applied;           /* false: a duplicate, skipped, no output */
    bool stepped;           /* the GRU moved (known item, past the cutoff) */
    bool recomputed;        /* the user was recomputed from its history */
    bool unknown_item;      /* the model does not know the item */
    uint8_t cell;           /* enum tt_ustate_cell after the event */
    uint64_t count;         /* interactions applied, this one included */
    uint64_t model_version;
    const float *q;         /* query vector, info.dim floats; valid until
                               the next tt_proc_begin() */
};

/* Counters of one tt_proc_t since its creation. */
struct tt_proc_stats {
    uint64_t events;       /* added */
    uint64_t applied;
    uint64_t duplicates;
    uint64_t steps;        /* GRU steps, recomputes included */
    uint64_t recomputes;
    uint64_t unknown_items;
    uint64_t active;       /* applied events of users in the active cell */
};

/* Creates a processor for batches of up to conf->batch_max events, with
 * state buffers for TT_MODEL_DIM_MAX floats and history_max entries per
 * user.  TT_ERR_INVAL or TT_ERR_NOMEM. */
tt_err_t tt_proc_new(tt_proc_t **pp, const struct tt_proc_conf *conf,
                     char *errstr, size_t errstr_size);

/* Frees the processor; NULL is a no-op. */
void tt_proc_destroy(tt_proc_t *p);

/* Starts a new, empty batch (forgets the previous one). */
void tt_proc_begin(tt_proc_t *p);

/* Adds an event to the batch (copied).  Its user (partition, user id) gets
 * a state slot on first sight.  TT_ERR_OVERFLOW when the batch is full,
 * TT_ERR_RANGE for an invalid event or a negative partition. */
tt_err_t tt_proc_add(tt_proc_t *p, const struct tt_proc_in *in);

/* Events added to the current batch. */
size_t tt_proc_n_events(const tt_proc_t *p);

/* The input event `i` of the current batch. */
const struct tt_proc_in *tt_proc_event(const tt_proc_t *p, size_t i);

/* Users (distinct (partition, user id)) of the current batch. */
size_t tt_proc_n_users(const tt_proc_t *p);

/* User `i`: its partition and id, and its state slot (owned by p).  Before
 * tt_proc_run() the caller fills the slot with the user's stored state (or
 * leaves it reset: a new user); after, it holds the new state. */
struct tt_user_state *tt_proc_user(tt_proc_t *p, size_t i,
                                   int32_t *partition, int64_t *user_id);

/* True when user `i` had at least one event applied by tt_proc_run(): its
 * state changed and must be written. */
bool tt_proc_user_dirty(const tt_proc_t *p, size_t i);

/*
 * Applies every event of the batch, in order, to its user's state with the
 * model of `v` (borrowed), and fills one tt_proc_out per event.  Does not
 * allocate.  TT_ERR_RANGE when a state slot holds an impossible state (dim
 * above TT_MODEL_DIM_MAX); the batch is then unusable.
 */
tt_err_t tt_proc_run(tt_proc_t *p, const struct tt_proc_view *v);

/* The outputs of the last tt_proc_run(), one per event in input order. */
const struct tt_proc_out *tt_proc_outputs(const tt_proc_t *p, size_t *n);

/* Fills *stats. */
void tt_proc_stats(const tt_proc_t *p, struct tt_proc_stats *stats);

/*
 * Recomputes a user's embedding from its state record alone (count,
 * history), as defined above, into s->emb / s->dim / s->cell /
 * s->model_version, and the query into q (v->info.dim floats, may be NULL).
 * `partition` selects the cutoff.  `run` is caller-provided scratch.
 * Returns the number of GRU steps taken.
 */
uint32_t tt_proc_recompute(const struct tt_proc_view *v, int32_t partition,
                           int64_t user_id, struct tt_user_state *s,
                           struct tt_user_run *run, float *q);

#endif
