/*
 * tt_ucache: a bounded write-back cache of hot users' states in front of
 * tt_state.
 *
 * Interaction counts follow a power law: a few users get most events, so
 * keeping their decoded states in memory saves a RocksDB lookup and a decode
 * per event.  Entries are decoded `struct tt_user_state`s in one slab
 * allocated at creation (capacity x (4 dim_max + 24 hist_cap + ~100) bytes;
 * 100k users of d = 64, history 100: about 275 MB; history 256: 650 MB);
 * the hot path never allocates.
 *
 * Write-back within a commit: tt_ucache_put() only updates the entry and
 * marks it dirty; tt_ucache_commit() adds every dirty entry to the caller's
 * write batch (which carries the partition offsets) and commits it, so the
 * store never holds an offset whose states are still only in memory, and a
 * hot user touched by several events between commits is encoded and written
 * once.  Dirty entries are never evicted (clean eviction, CLOCK order); when
 * every entry is dirty a put fails with TT_ERR_OVERFLOW: commit at least once
 * per `capacity` distinct users.  When a commit fails or a Kafka transaction
 * aborts, tt_ucache_rollback() forgets every uncommitted change, so what the
 * cache serves is always what the store holds plus this commit's puts:
 * results are identical with and without the cache (tested) for the
 * read-modify-write-commit cycle of the processor.  (Reads through the cache
 * see this commit's puts; tt_state_get_many() alone does not, since a write
 * batch is not readable: read each user once per commit.)
 *
 * Threading: one thread at a time, the same that uses the tt_state_t.
 */
#ifndef TT_UCACHE_H
#define TT_UCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "state/tt_state.h"
#include "state/tt_ustate.h"

typedef struct tt_ucache_s tt_ucache_t;

struct tt_ucache_stats {
    uint64_t hits;      /* users served from memory */
    uint64_t misses;    /* users read from the store */
    uint64_t evictions; /* clean entries replaced */
    uint64_t refusals;  /* puts refused: every entry dirty */
    uint32_t size;      /* entries in use */
    uint32_t dirty;     /* entries not yet committed */
    uint32_t capacity;
    uint64_t bytes;     /* memory held by the cache */
};

/*
 * A cache of `capacity` users (>= 1) over `st` (borrowed; it must outlive the
 * cache), entries holding embeddings of up to dim_max floats and hist_cap
 * history entries (history_max).  TT_ERR_INVAL or TT_ERR_NOMEM.
 */
tt_err_t tt_ucache_new(tt_ucache_t **cp, tt_state_t *st, uint32_t capacity,
                       uint32_t dim_max, uint32_t hist_cap, char *errstr,
                       size_t errstr_size);

/* Frees the cache, dropping uncommitted changes; NULL is a no-op. */
void tt_ucache_destroy(tt_ucache_t *c);

/*
 * tt_state_get_many() through the cache: hits are copied from memory, misses
 * read from the store in batched lookups and cached (clean) when a clean
 * entry can be evicted.  Same contract for states, status and the result.
 */
tt_err_t tt_ucache_get_many(tt_ucache_t *c, int32_t partition, size_t n,
                            const int64_t *user_ids,
                            struct tt_user_state *const *states,
                            tt_err_t *status, char *errstr,
                            size_t errstr_size);

/* Stores a copy of `s` as the new state of the user, dirty until the next
 * commit.  TT_ERR_OVERFLOW when s->dim > dim_max or every entry is dirty;
 * TT_ERR_INVAL for a bad partition or id. */
tt_err_t tt_ucache_put(tt_ucache_t *c, int32_t partition, int64_t user_id,
                       const struct tt_user_state *s, char *errstr,
                       size_t errstr_size);

/*
 * Adds every dirty entry to `b` (which holds the offsets and anything else of
 * this commit), commits it with tt_state_commit() and marks the entries
 * clean.  On failure the batch is discarded, every dirty entry forgotten
 * (tt_ucache_rollback) and the error returned.
 */
tt_err_t tt_ucache_commit(tt_ucache_t *c, tt_state_batch_t *b, char *errstr,
                          size_t errstr_size);

/* Forgets every change since the last commit (dirty entries are evicted;
 * the next read gets the committed state from the store). */
void tt_ucache_rollback(tt_ucache_t *c);

/* Evicts every entry of `partition`, dirty or not.  Call it with
 * tt_state_drop_partition/clear_partition (or use the two wrappers). */
void tt_ucache_forget_partition(tt_ucache_t *c, int32_t partition);

/* tt_ucache_forget_partition() then tt_state_drop_partition(). */
tt_err_t tt_ucache_drop_partition(tt_ucache_t *c, int32_t partition,
                                  char *errstr, size_t errstr_size);

/* tt_ucache_forget_partition() then tt_state_clear_partition(). */
tt_err_t tt_ucache_clear_partition(tt_ucache_t *c, int32_t partition,
                                   char *errstr, size_t errstr_size);

/* Fills *stats. */
void tt_ucache_stats(const tt_ucache_t *c, struct tt_ucache_stats *stats);

#endif
