/*
 * tt_stream_int: what the files of the stream share: tt_stream.c (setup,
 * loop, batch collection), tt_stream_part.c (rebalances, restores),
 * tt_stream_txn.c (a batch: states, processing, transactions, store),
 * tt_stream_alo.c (at-least-once batches in flight) and tt_stream_prod.c
 * (the producer).  One thread: the loop's (librdkafka calls the delivery
 * report and rebalance callbacks on it, inside its polls).
 */
#ifndef TT_STREAM_INT_H
#define TT_STREAM_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "consumers/tt_mhold.h"
#include "consumers/tt_metrics.h"
#include "consumers/tt_proc.h"
#include "consumers/tt_restore.h"
#include "consumers/tt_senc.h"
#include "consumers/tt_stream.h"
#include "state/tt_state.h"
#include "state/tt_ucache.h"

enum part_phase {
    P_NONE = 0,   /* not assigned */
    P_PENDING,    /* assigned and paused; its restore has not started */
    P_RESTORING,  /* paused, restoring from the changelog */
    P_READY,      /* resumed: its events are processed */
};

/* What the delivery report callback is told a message was. */
enum msg_kind {
    MSG_OUTPUT = 1,
    MSG_CHANGELOG = 2,
    MSG_DEAD_LETTER = 3,
};

/* At-least-once batches whose delivery reports are not all in (a ring;
 * the next batch waits for a free slot).  Each has its own processor,
 * whose state slots hold its users' new states until it is delivered. */
#define ALO_INFLIGHT 4

/* Where the newest in-flight state of a user is: batch seq's processor,
 * user index `user` (seq 0: empty). */
struct alo_ref {
    uint64_t seq;
    int64_t uid;
    int32_t part;
    uint32_t user;
};

/* One partition of an at-least-once batch in flight. */
struct alo_part {
    int32_t part;
    int64_t next;        /* offset after the batch's last message, or -1 */
    uint32_t cl_sent;    /* changelog records produced, acknowledged */
    uint32_t cl_acked;
    int64_t cl_max;      /* highest changelog offset acknowledged, or -1 */
};

/* An at-least-once batch: processed, its records produced, its states in
 * the write-back cache; its offsets are committed once it and every
 * earlier batch are fully delivered. */
struct alo_batch {
    uint64_t seq;        /* 0: free slot */
    bool closed;         /* all its records produced, offsets known */
    uint32_t pending;    /* records without a delivery report */
    uint32_t failed;     /* records whose delivery failed */
    uint32_t n_parts;
    uint32_t cap_parts;
    struct alo_part *parts;
};

/* Per input partition. */
struct part {
    uint8_t phase;       /* enum part_phase */
    bool in_batch;
    int64_t next;        /* offset after the batch's last message */
    int64_t committed;   /* next offset committed (or -1 unknown) */
    int64_t resume_at;   /* committed offset read at assignment, or -1 */
    int64_t dropped_min; /* first message dropped while not ready, or -1 */
    uint64_t restore_t0; /* tt_time_mono_ns at the start of the restore */
    /* Reading the committed offset before the restore (P_PENDING): */
    uint64_t unstable_t0; /* first found unstable (mono ns), or 0 */
    uint64_t retry_at;    /* next try not before (mono ns) */
    uint32_t tries;       /* tries that timed out */
    /* Changelog records of the current batch (partition = this one). */
    uint32_t cl_sent;
    uint32_t cl_acked;
    uint32_t cl_failed;
    int64_t cl_max;      /* highest changelog offset delivered, or -1 */
    /* Changelog checkpoint reached by states still only in the write-back
     * cache (written with them by the next store flush), or -1. */
    int64_t ckpt_pending;
};

struct tt_stream_s {
    const struct tt_conf *conf;
    struct tt_stream_opts opts;
    tt_log_t *log;
    bool eos;
    char instance[256];
    char txn_id[512];
    _Atomic int stop;

    rd_kafka_t *cons;
    rd_kafka_t *prod;
    rd_kafka_topic_t *t_out;
    rd_kafka_topic_t *t_cl;
    rd_kafka_topic_t *t_dlq;
    bool txn_open;
    uint64_t txn_t0;        /* tt_time_mono_ns when the open one began */
    int txn_timeout_ms;     /* the producer's transaction.timeout.ms */
    /* Producers recreated after fatal errors since the last good batch. */
    uint32_t fatal_recreations;

    tt_codec_t *codec;
    tt_state_t *st;
    tt_ucache_t *cache;
    uint32_t cache_dim;
    tt_state_batch_t *sb;
    tt_restore_t *restore;
    tt_mhold_t *mhold;
    tt_proc_t *proc;
    tt_metrics_t *metrics;
    uint32_t store_failures;
    uint64_t last_store_flush; /* tt_time_mono_ns of the last store write */

    struct part *parts;
    int32_t n_parts;

    /* The open batch. */
    size_t n_msgs;          /* input messages taken, dead letters included */
    size_t n_dlq;
    int32_t *batch_parts;   /* partitions with messages in the batch */
    size_t n_batch_parts;
    int64_t *ev_ts;         /* record timestamp (ms) of each proc event */
    uint64_t batch_t0;      /* mono ns of the batch's first message */
    bool need_rewind;       /* a callback aborted: rewind before going on */
    tt_err_t cb_err;        /* an error raised inside a callback */
    char cb_errstr[512];

    /* Scratch of one batch, sized at creation (batch_max). */
    int64_t *ids;
    struct tt_user_state **sp;
    tt_err_t *status;
    uint8_t *enc;
    size_t enc_cap;
    struct tt_user_state dup_state; /* re-emission in at-least-once mode */
    struct tt_user_run run;
    float q[TT_MODEL_DIM_MAX];

    /* Delivery reports. */
    uint64_t dr_failed;
    char dr_error[256];

    /* At-least-once pipeline: alo_seq is the open batch's sequence number
     * (its records carry it), alo_done the oldest not yet committed. */
    struct alo_batch alo[ALO_INFLIGHT];
    uint64_t alo_seq;
    uint64_t alo_done;
    uint64_t alo_waits;     /* times a batch waited for a free slot */
    /* Offsets of delivered batches not committed yet (committed every
     * ALO_COMMIT_MS, and synchronously when draining), or NULL. */
    rd_kafka_topic_partition_list_t *alo_offs;
    uint64_t alo_commit_t;  /* mono ns of the last commit */
    /* The processors of the batches in flight (procs[seq % ALO_INFLIGHT];
     * proc is the open batch's; exactly-once: proc only). */
    tt_proc_t *procs[ALO_INFLIGHT];
    uint32_t proc_ix;
    struct tt_proc_stats pstats_of[ALO_INFLIGHT];
    /* (partition, user) -> newest in-flight state: open addressing,
     * linear probing, ov_cap a power of two. */
    struct alo_ref *ov;
    uint32_t ov_cap;
    uint32_t ov_n;

    /* CPU seconds of the loop's thread per phase of a batch (logged when
     * the stream stops). */
    double t_collect, t_load, t_proc, t_produce, t_commit, t_store;
    double w_commit, w_batch; /* wall seconds: commit/delivery, whole flush */
    double w_store, w_store_max; /* wall seconds of the RocksDB writes */
    uint64_t n_store;
    uint64_t last_tick;
};

/* Grows the partition table to n partitions (new ones unassigned). */
tt_err_t tt_stream_grow_parts(tt_stream_t *s, int32_t n, char *errstr,
                              size_t errstr_size);

/* The consumer's rebalance callback (opaque = the stream). */
void tt_stream_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *l, void *opaque);

/* Starts the restores of newly assigned partitions, applies changelog
 * records for about budget_ms, and resumes the partitions whose restore
 * ended. */
tt_err_t tt_stream_restores(tt_stream_t *s, int budget_ms, char *errstr,
                            size_t errstr_size);

/* CPU time of the calling thread, ns. */
uint64_t tt_stream_cpu_ns(void);

/* Commits the open batch: states, processing, produce, transaction or
 * delivery, store.  An aborted batch (rewound) is not an error. */
tt_err_t tt_stream_flush(tt_stream_t *s, char *errstr, size_t errstr_size);

/* Writes the write-back cache's dirty users and the checkpoints they reach
 * to the store (on failure: forgets them and resyncs every partition). */
tt_err_t tt_stream_store_flush(tt_stream_t *s, char *errstr,
                               size_t errstr_size);

/* Forgets the open batch (after an abort or a lost assignment). */
void tt_stream_batch_reset(tt_stream_t *s);

/* Begins a transaction unless one is open (exactly-once only). */
tt_err_t tt_stream_ensure_txn(tt_stream_t *s, char *errstr,
                              size_t errstr_size);

/* Aborts the open transaction, if any (exactly-once only). */
tt_err_t tt_stream_abort_txn(tt_stream_t *s, char *errstr,
                             size_t errstr_size);

/* Recovers from a failed step of a batch: a fenced producer stops the
 * stream (TT_ERR_FENCED); a fatal error recreates the producer; otherwise
 * the transaction is aborted (exactly-once).  Then rewinds and drops the
 * batch: TT_ERR_ABORTED, or the error that prevented recovery. */
tt_err_t tt_stream_recover(tt_stream_t *s, rd_kafka_resp_err_t code,
                           bool fatal, const char *msg, char *errstr,
                           size_t errstr_size);

/* Seeks the consumer's partitions in l to their offsets (waiting up to
 * 30 s for the fetcher to take them): TT_ERR_KAFKA naming `what` and the
 * partition on failure. */
tt_err_t tt_stream_seek(tt_stream_t *s, rd_kafka_topic_partition_list_t *l,
                        const char *what, char *errstr, size_t errstr_size);

/* Seeks every ready partition back to its committed offset. */
tt_err_t tt_stream_rewind(tt_stream_t *s, char *errstr, size_t errstr_size);

/* At-least-once: counts one record of the open batch as produced (its
 * slot opened on the first; a changelog record names its partition). */
tt_err_t tt_stream_alo_produced(tt_stream_t *s, enum msg_kind kind,
                                int32_t partition, char *errstr,
                                size_t errstr_size);

/* At-least-once: the delivery report of a record of batch seq. */
void tt_stream_alo_report(tt_stream_t *s, uint64_t seq, enum msg_kind kind,
                          const rd_kafka_message_t *m);

/* At-least-once: the open batch is produced and stored: records its
 * offsets, opens the next batch (waiting for a free slot) and commits
 * what is complete.  A failed delivery rewinds: TT_ERR_ABORTED. */
tt_err_t tt_stream_alo_close(tt_stream_t *s, char *errstr,
                             size_t errstr_size);

/* At-least-once: serves delivery reports and commits the offsets of the
 * oldest batches that are fully delivered, in order (asynchronously);
 * wait_all: waits (bounded) until every closed batch is, and commits
 * synchronously.  A failed or timed-out delivery recovers (rewind):
 * TT_ERR_ABORTED. */
tt_err_t tt_stream_alo_reap(tt_stream_t *s, bool wait_all, char *errstr,
                            size_t errstr_size);

/* At-least-once: forgets every batch in flight (before a rewind: their
 * events are read again; late reports of theirs are ignored) and the
 * offsets not committed yet. */
void tt_stream_alo_discard(tt_stream_t *s);

/* At-least-once: commits the delivered batches' offsets not committed yet
 * (synchronously: a rewind that follows reads them back). */
void tt_stream_alo_commit(tt_stream_t *s);

/* Frees the slots' memory and the extra processors. */
void tt_stream_alo_release(tt_stream_t *s);

/* At-least-once: the extra processors and the in-flight index (called
 * once s->proc exists).  TT_ERR_NOMEM. */
tt_err_t tt_stream_alo_new(tt_stream_t *s, const struct tt_proc_conf *pc,
                           char *errstr, size_t errstr_size);

/* At-least-once: the newest state of a user written by a batch in flight,
 * or NULL (then the cache or store has its newest). */
const struct tt_user_state *tt_stream_alo_find(tt_stream_t *s, int32_t part,
                                               int64_t uid);

/* Puts a committed or delivered batch's changed states (proc's) into the
 * write-back cache (or the store batch), then makes the changelog offsets
 * it reached (b's, or with b NULL the open batch's partitions') the next
 * checkpoint; writes to RocksDB when due.  tt_stream_txn.c. */
tt_err_t tt_stream_store_put(tt_stream_t *s, tt_proc_t *proc,
                             const struct alo_batch *b, char *errstr,
                             size_t errstr_size);

/* Produces one message, waiting (bounded) when the local queue is full. */
tt_err_t tt_stream_produce(tt_stream_t *s, rd_kafka_topic_t *rkt,
                           int32_t partition, const void *key, size_t klen,
                           const void *val, size_t vlen,
                           rd_kafka_headers_t *hdrs, enum msg_kind kind,
                           char *errstr, size_t errstr_size);

/* Creates the producer (and, exactly-once, initialises transactions). */
tt_err_t tt_stream_producer_new(tt_stream_t *s, char *errstr,
                                size_t errstr_size);

/* Destroys the producer and its topic handles. */
void tt_stream_producer_destroy(tt_stream_t *s);

#endif
