/*
 * tt_stream_int: what the files of the stream share: tt_stream.c (setup,
 * loop, batch collection), tt_stream_part.c (rebalances, restores),
 * tt_stream_txn.c (a batch: states, processing, transactions, store) and
 * tt_stream_prod.c (the producer).  One thread: the loop's.
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

    struct tt_proc_stats pstats; /* processor counters already reported */
    /* CPU seconds of the loop's thread per phase of a batch (logged when
     * the stream stops). */
    double t_collect, t_load, t_proc, t_produce, t_commit, t_store;
    double w_commit, w_batch; /* wall seconds: commit/delivery, whole flush */
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
