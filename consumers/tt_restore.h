/*
 * tt_restore: rebuilding a partition's user states from the changelog.
 *
 * The changelog topic (compacted, keyed by user, co-partitioned with the
 * input: changelog partition N holds the states of input partition N) is the
 * truth; the RocksDB store is a local cache of it.  The store keeps, per
 * partition, a CHECKPOINT: the changelog offset from which the store does
 * not yet reflect the changelog.  It is written in the same atomic RocksDB
 * batch as the states it covers (by the stream after each committed batch,
 * and by the restore itself), so a crash anywhere leaves the store at or
 * behind its checkpoint, never ahead.
 *
 * Restoring partition N reads changelog partition N from the checkpoint to
 * its end (read_committed: the end is the last stable offset, so records of
 * aborted or still open transactions are never applied), writing each record
 * into the store in batches that carry the new checkpoint.  Records are full
 * states, so reading from an older offset than necessary is harmless.
 *
 * Where the checkpoint is kept: metadata "clog.pN" (tt_state_get_meta) of the
 * default column family, payload an int64 little-endian offset; -1 or absent
 * means "from the beginning".  A partition without a column family, or with
 * states but no checkpoint, is restored from the beginning (after clearing
 * it).  A checkpoint the changelog no longer has (topic recreated, records
 * deleted) restarts the partition from the beginning.
 *
 * Restores run in slices (tt_restore_step) between the stream's batches, so
 * other partitions keep flowing while one restores.
 *
 * Threading: one thread (the stream loop's), which also owns the store.
 */
#ifndef TT_RESTORE_H
#define TT_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "conf/tt_conf.h"
#include "state/tt_state.h"

typedef struct tt_restore_s tt_restore_t;

struct tt_restore_stats {
    uint64_t records;     /* states written */
    uint64_t tombstones;  /* deletions applied */
    uint64_t bad_records; /* undecodable records skipped */
    uint64_t completed;   /* partition restores finished */
    uint64_t restarts;    /* restarts from the beginning (lost checkpoint) */
};

/*
 * A restorer reading `topic` with a consumer built from kc (brokers, client
 * id, pass-through properties; group "<kc->group_id>.restore", which never
 * joins or commits), writing into `st` (borrowed).  TT_ERR_CONF or
 * TT_ERR_KAFKA with librdkafka's message, TT_ERR_NOMEM.
 */
tt_err_t tt_restore_new(tt_restore_t **rp, const struct tt_conf_kafka *kc,
                        const char *topic, tt_state_t *st, char *errstr,
                        size_t errstr_size);

/* Stops every restore (progress so far is kept) and frees; NULL no-op. */
void tt_restore_destroy(tt_restore_t *r);

/* Starts restoring `partition` from its checkpoint.  A partition already
 * restoring is left alone.  TT_ERR_STATE/CORRUPT for store errors,
 * TT_ERR_KAFKA. */
tt_err_t tt_restore_start(tt_restore_t *r, int32_t partition, char *errstr,
                          size_t errstr_size);

/* Stops restoring `partition` (revoked); what was applied stays with its
 * checkpoint.  No-op when it is not restoring. */
tt_err_t tt_restore_cancel(tt_restore_t *r, int32_t partition, char *errstr,
                           size_t errstr_size);

/* True when `partition` is restoring. */
bool tt_restore_active(const tt_restore_t *r, int32_t partition);

/* Partitions restoring. */
size_t tt_restore_n_active(const tt_restore_t *r);

/*
 * Applies changelog records for about budget_ms (0: only what is already
 * fetched).  Partitions whose restore finished (the store now reflects their
 * changelog up to its end) go to done[0..*n_done) (at most cap; the rest are
 * reported by the next call).  Errors: TT_ERR_STATE/IO from the store,
 * TT_ERR_KAFKA for a fatal consumer error.
 */
tt_err_t tt_restore_step(tt_restore_t *r, int budget_ms, int32_t *done,
                         size_t cap, size_t *n_done, char *errstr,
                         size_t errstr_size);

/* Fills *stats. */
void tt_restore_stats(const tt_restore_t *r, struct tt_restore_stats *stats);

/* Reads the checkpoint of `partition` into *offset (-1: from the
 * beginning). */
tt_err_t tt_restore_checkpoint(tt_state_t *st, int32_t partition,
                               int64_t *offset, char *errstr,
                               size_t errstr_size);

/* Adds "the checkpoint of `partition` is `offset`" to a write batch. */
tt_err_t tt_restore_put_checkpoint(tt_state_batch_t *b, int32_t partition,
                                   int64_t offset, char *errstr,
                                   size_t errstr_size);

#endif
