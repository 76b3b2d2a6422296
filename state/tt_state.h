/*
 * tt_state: the RocksDB user-state store of the stream processor.
 *
 * One RocksDB database per process (conf->path) with one shared LRU block
 * cache (cache_mb) and one bound on all memtables together (write_buffer_mb),
 * so memory does not grow with the number of partitions.  Each input
 * partition N has its own column family "pN", created on the first write,
 * holding its users' records and its last applied input offset; revoking a
 * partition drops one column family.  Records and keys are laid out as
 * documented in state/tt_ustate.h.  state/ knows Kafka offsets only as
 * (partition int32, offset int64).
 *
 * Exactly-once with Kafka transactions (KIP-892 style): RocksDB is not part of
 * the Kafka transaction.  A write batch carries the user states of a
 * processing batch AND the partition's last applied input offset; a commit
 * writes them atomically.  After a crash or an aborted transaction that is
 * replayed, the processor skips every input at or below
 * tt_state_applied_offset(), so nothing is applied twice.
 *
 * Durability: WAL on, no fsync per commit (WriteOptions.sync = false), WAL
 * recovery "point in time".  A process crash loses nothing (the WAL is in
 * the OS page cache).  A power loss may lose the last commits, but recovery
 * stops at a batch boundary, so states and offsets stay consistent with each
 * other and the lost inputs are replayed from Kafka after the applied offset.
 * An fsync per batch would cost milliseconds for no gain in correctness.
 *
 * Threading: one thread uses a tt_state_t and its batches and iterators at a
 * time (the stream loop), except tt_state_approx_bytes() and
 * tt_state_stats(), which any thread may call concurrently (metrics).
 * Destroy iterators before dropping their partition or the store; a batch
 * whose partition was dropped or cleared since its first write fails to
 * commit (TT_ERR_STATE) rather than touching a dead column family.
 */
#ifndef TT_STATE_H
#define TT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "conf/tt_conf.h"
#include "state/tt_ustate.h"

/* Partitions 0..TT_STATE_PARTITION_MAX have a column family each. */
#define TT_STATE_PARTITION_MAX 65535
/* Format of the store as a whole, kept in metadata "format". */
#define TT_STATE_FORMAT 1

typedef struct tt_state_s tt_state_t;
typedef struct tt_state_batch_s tt_state_batch_t;
typedef struct tt_state_iter_s tt_state_iter_t;

struct tt_state_stats {
    uint64_t sst_bytes;         /* live SST files, all column families */
    uint64_t memtable_bytes;    /* memtables, all column families */
    uint64_t block_cache_bytes; /* block cache in use */
    uint32_t partitions;        /* column families of partitions */
};

/*
 * Opens (creating if missing; the parent directory must exist) the store at
 * conf->path with every column family it has.  Fails with TT_ERR_STATE and
 * "locked" in errstr when another process or handle has it open,
 * TT_ERR_VERSION when it was written in an
 * unknown store format, TT_ERR_IO/TT_ERR_CORRUPT/TT_ERR_STATE with RocksDB's
 * message otherwise, TT_ERR_INVAL for a bad conf.  conf is borrowed.
 */
tt_err_t tt_state_new(tt_state_t **stp, const struct tt_conf_state *conf,
                      char *errstr, size_t errstr_size);

/* Closes the store; NULL is a no-op.  Batches and iterators must be gone. */
void tt_state_destroy(tt_state_t *st);

/*
 * Reads the states of `n` users of `partition` in batched RocksDB lookups.
 * states[i] (caller-owned, initialised with tt_ustate_init/bind) receives the
 * state of user_ids[i]; status[i] is TT_ERR_OK when found, TT_ERR_NOTFOUND
 * when absent (states[i] reset to a new user), or the error of that user's
 * record (TT_ERR_CORRUPT, TT_ERR_VERSION, TT_ERR_OVERFLOW...; states[i]
 * reset).  Returns TT_ERR_OK when every status is OK or NOTFOUND, else the
 * first other status with the user named in errstr: the caller decides
 * whether a bad record stops the partition.  Ids must be >= 0.
 */
tt_err_t tt_state_get_many(tt_state_t *st, int32_t partition, size_t n,
                           const int64_t *user_ids,
                           struct tt_user_state *const *states,
                           tt_err_t *status, char *errstr,
                           size_t errstr_size);

/*
 * Sets *offset to the last input offset applied to `partition` (the offset
 * given to tt_state_batch_set_offset in the last commit), or -1 when none.
 * TT_ERR_CORRUPT/TT_ERR_VERSION for a bad record, TT_ERR_STATE on RocksDB
 * failure.
 */
tt_err_t tt_state_applied_offset(tt_state_t *st, int32_t partition,
                                 int64_t *offset, char *errstr,
                                 size_t errstr_size);

/* Copies the payload of metadata `name` (default column family) into buf of
 * cap bytes and sets *len.  TT_ERR_NOTFOUND when absent, TT_ERR_OVERFLOW
 * when cap is too small. */
tt_err_t tt_state_get_meta(tt_state_t *st, const char *name, void *buf,
                           size_t cap, size_t *len, char *errstr,
                           size_t errstr_size);

/* A new, empty write batch on `st` (borrowed; it must outlive the batch). */
tt_err_t tt_state_batch_new(tt_state_batch_t **bp, tt_state_t *st,
                            char *errstr, size_t errstr_size);

/* Frees a batch without committing it; NULL is a no-op. */
void tt_state_batch_destroy(tt_state_batch_t *b);

/* Adds the state of user `user_id` (>= 0) of `partition` to the batch,
 * encoded at once (s is not kept).  Creates the partition's column family on
 * its first write.  TT_ERR_RANGE for a state the format cannot store. */
tt_err_t tt_state_batch_put(tt_state_batch_t *b, int32_t partition,
                            int64_t user_id, const struct tt_user_state *s,
                            char *errstr, size_t errstr_size);

/* Adds the deletion of a user's state. */
tt_err_t tt_state_batch_delete(tt_state_batch_t *b, int32_t partition,
                               int64_t user_id, char *errstr,
                               size_t errstr_size);

/* Records `offset` (>= -1) as the last input offset applied to `partition`
 * when the batch commits.  The last call per partition wins. */
tt_err_t tt_state_batch_set_offset(tt_state_batch_t *b, int32_t partition,
                                   int64_t offset, char *errstr,
                                   size_t errstr_size);

/* Adds metadata `name` = (data, len) in the default column family (e.g. the
 * model version in use), committed with the rest. */
tt_err_t tt_state_batch_put_meta(tt_state_batch_t *b, const char *name,
                                 const void *data, size_t len, char *errstr,
                                 size_t errstr_size);

/* Operations in the batch. */
size_t tt_state_batch_count(const tt_state_batch_t *b);

/* Empties the batch. */
void tt_state_batch_clear(tt_state_batch_t *b);

/*
 * Writes the batch atomically (all or nothing; WAL, no fsync) and empties it,
 * whether the write succeeded or not.  TT_ERR_IO (disk full...), TT_ERR_STATE
 * with RocksDB's message, or when a partition of the batch was dropped or
 * cleared after the batch wrote to it.
 */
tt_err_t tt_state_commit(tt_state_t *st, tt_state_batch_t *b, char *errstr,
                         size_t errstr_size);

/* True when `partition` has a column family. */
bool tt_state_has_partition(const tt_state_t *st, int32_t partition);

/* Writes up to `cap` partitions that have a column family, ascending, into
 * out and returns how many there are in all. */
size_t tt_state_partitions(const tt_state_t *st, int32_t *out, size_t cap);

/* Drops the column family of a revoked partition (its states and offset go;
 * they are restored from the changelog wherever the partition moves).  No-op
 * when absent. */
tt_err_t tt_state_drop_partition(tt_state_t *st, int32_t partition,
                                 char *errstr, size_t errstr_size);

/* Empties a partition (states and offset) and keeps it, e.g. before a
 * restore from the changelog. */
tt_err_t tt_state_clear_partition(tt_state_t *st, int32_t partition,
                                  char *errstr, size_t errstr_size);

/* Flushes every memtable to SST files (tests, shutdown). */
tt_err_t tt_state_flush(tt_state_t *st, char *errstr, size_t errstr_size);

/* Writes a consistent snapshot of the store (hard links where possible) into
 * the new directory `dir`, which must not exist. */
tt_err_t tt_state_checkpoint(tt_state_t *st, const char *dir, char *errstr,
                             size_t errstr_size);

/* Approximate bytes of state: live SST files plus memtables.  Any thread. */
uint64_t tt_state_approx_bytes(tt_state_t *st);

/* Fills *stats.  Any thread. */
void tt_state_stats(tt_state_t *st, struct tt_state_stats *stats);

/*
 * An iterator over the users of `partition` in id order, on a consistent
 * snapshot taken now (empty when the partition has no column family).
 */
tt_err_t tt_state_iter_new(tt_state_iter_t **itp, tt_state_t *st,
                           int32_t partition, char *errstr,
                           size_t errstr_size);

/* Decodes the next user into *user_id and s.  TT_ERR_NOTFOUND at the end;
 * TT_ERR_CORRUPT/VERSION/OVERFLOW for a bad record (the iterator moves past
 * it, *user_id is set); TT_ERR_STATE on a RocksDB read error. */
tt_err_t tt_state_iter_next(tt_state_iter_t *it, int64_t *user_id,
                            struct tt_user_state *s, char *errstr,
                            size_t errstr_size);

/* Frees an iterator; NULL is a no-op. */
void tt_state_iter_destroy(tt_state_iter_t *it);

#endif
