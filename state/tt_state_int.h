/*
 * tt_state_int: internals shared by tt_state.c (store, reads, partitions)
 * and tt_state_batch.c (write batches, commit, iterators).
 */
#ifndef TT_STATE_INT_H
#define TT_STATE_INT_H

#include <pthread.h>
#include <sys/types.h>
#include <rocksdb/c.h>

#include "state/tt_state.h"

/* Keys per RocksDB multi-get call; longer requests are split. */
#define TT_STATE_GET_CHUNK 512

struct tt_state_s {
    char *path;
    rocksdb_t *db;
    rocksdb_options_t *opts; /* DB options, also for new column families */
    rocksdb_block_based_table_options_t *bbto;
    rocksdb_cache_t *cache;
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wopts;
    rocksdb_column_family_handle_t *cf_default;
    /* parts[p]: column family "p<p>", NULL when absent.  Mutated only by the
     * owning thread, under `lock` so that stats can read it from another. */
    rocksdb_column_family_handle_t **parts;
    size_t parts_len;
    uint32_t n_partitions;
    /* Column families twotime did not create, kept open because RocksDB
     * requires every family to be opened. */
    rocksdb_column_family_handle_t **other;
    size_t n_other;
    /* Bumped by every drop or clear, so that a batch can tell that a column
     * family it wrote to went away. */
    uint64_t gen;
    /* Identity of the directory opened, checked before every commit: a
     * directory removed or replaced under a running store must stop it,
     * not let RocksDB write half a store into the new one. */
    dev_t dir_dev;
    ino_t dir_ino;
    /* and of its LOCK file: a removed and re-created directory may get
     * the same inode number back, its LOCK file does not come back. */
    dev_t lock_dev;
    ino_t lock_ino;
    /* Free bytes the file system of the store must keep (space_check). */
    uint64_t reserve;
    pthread_mutex_t lock;
    /* Multi-get scratch, TT_STATE_GET_CHUNK entries each. */
    uint8_t (*keys)[TT_USTATE_USER_KEY_SIZE];
    const char **keyp;
    size_t *ksz;
    rocksdb_pinnableslice_t **vals;
    char **errs;
    uint32_t *order; /* request index of the i-th key in key order */
    uint32_t *pos;   /* its inverse: key-order position of request i */
};

/* TT_ERR_STATE with a message when the file system of the store has less
 * than st->reserve bytes free: called before every write that could
 * reach the disk, so that the store stops cleanly before RocksDB meets
 * ENOSPC (on which Debian's librocksdb 7.8 may abort, see set_options). */
tt_err_t tt_state_space_check(const tt_state_t *st, char *errstr,
                              size_t errstr_size);

/* The column family of `partition`, created when `create` and missing.
 * *h is NULL (and the result OK) when absent and not created. */
tt_err_t tt_state_part_cf(tt_state_t *st, int32_t partition, bool create,
                          rocksdb_column_family_handle_t **h, char *errstr,
                          size_t errstr_size);

/* Translates RocksDB's malloc'd error *msg into a tt_err_t and errstr
 * ("<context>: <message>"), frees it and sets *msg to NULL. */
tt_err_t tt_state_rocks_err(char **msg, char *errstr, size_t errstr_size,
                            const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Little-endian int64, the payload of the "offset" metadata. */
void tt_state_put_i64(uint8_t *p, int64_t v);
int64_t tt_state_get_i64(const uint8_t *p);

#endif
