/*
 * tt_kcons: a Kafka consumer-group member done the way librdkafka 2.0 wants.
 *
 * - Cooperative-sticky assignment (partition.assignment.strategy is pinned):
 *   the rebalance callback uses rd_kafka_incremental_assign/unassign, checks
 *   rd_kafka_assignment_lost(), and never commits partitions it has lost.
 * - Offsets are stored by the caller after processing
 *   (enable.auto.offset.store=false); a stored offset is the NEXT offset to
 *   read, i.e. message offset + 1, which tt_kcons_store*() add.
 * - Messages come from rd_kafka_consumer_poll(), never consume_batch (unsafe
 *   with rebalances in 2.0.x); tt_kcons_poll_batch() collects up to N of them
 *   within a time budget.  If partitions are revoked while a batch is being
 *   collected, the batch's messages from those partitions are dropped (their
 *   new owner reads them) and the batch ends early, so that a batch never
 *   mixes two assignments.
 * - tt_kcons_close() leaves the group cleanly (final commit per the commit
 *   mode); destroy without close does it too, best effort.
 *
 * Thread-safety: a tt_kcons_t belongs to the thread that polls it; the hooks
 * run on that thread, inside tt_kcons_poll_batch() and tt_kcons_close().
 * Several tt_kcons_t may run in several threads of one process.
 */
#ifndef TT_KCONS_H
#define TT_KCONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "common/tt_err.h"
#include "conf/tt_conf.h"

typedef struct tt_kcons_s tt_kcons_t;

enum tt_kcons_commit {
    /* librdkafka commits the stored offsets every auto.commit.interval.ms,
     * before partitions are revoked, and at close. */
    TT_KCONS_COMMIT_AUTO = 0,
    /* Only tt_kcons_commit() commits, plus the wrapper itself before a
     * (not lost) revocation and at close, so stored offsets are not lost. */
    TT_KCONS_COMMIT_MANUAL,
    /* Nothing is committed by the consumer: offsets travel in producer
     * transactions (rd_kafka_send_offsets_to_transaction). */
    TT_KCONS_COMMIT_NONE,
};

struct tt_kcons_opts {
    const char *group_id;       /* NULL: kc->group_id */
    const char *const *topics;  /* to subscribe to, at least one */
    size_t n_topics;
    bool from_beginning;        /* a group without committed offsets starts
                                   at the earliest offset, else the latest */
    enum tt_kcons_commit commit;
    /*
     * Optional hooks.  on_assign sees the partitions being added and may
     * set their .offset (where to start; RD_KAFKA_OFFSET_INVALID = the
     * committed offset); an error it returns is reported by the next
     * tt_kcons_poll_batch().  on_revoke sees partitions being taken away,
     * before they are; `lost` means another member may already own them
     * (do not commit for them).
     */
    tt_err_t (*on_assign)(void *arg, rd_kafka_topic_partition_list_t *parts);
    void (*on_revoke)(void *arg, const rd_kafka_topic_partition_list_t *parts,
                      bool lost);
    void *hook_arg;
};

struct tt_kcons_stats {
    uint64_t messages;   /* returned by tt_kcons_poll_batch() */
    uint64_t dropped;    /* dropped from a batch by a revocation */
    uint64_t errors;     /* consumer errors seen (non-fatal ones too) */
    uint64_t assigns;    /* rebalance callbacks adding partitions */
    uint64_t revokes;    /* rebalance callbacks removing partitions */
    uint64_t lost;       /* of which the partitions were lost */
    int assigned;        /* partitions currently assigned */
    char last_error[256];
};

/*
 * Creates the consumer over kc (brokers, client id, pass-through
 * properties) and subscribes to opts->topics.  kafka.properties may not
 * contradict what the wrapper pins (group.id, enable.auto.offset.store,
 * partition.assignment.strategy, enable.auto.commit): TT_ERR_CONF.
 */
tt_err_t tt_kcons_new(tt_kcons_t **out, const struct tt_conf_kafka *kc,
                      const struct tt_kcons_opts *opts, char *errstr,
                      size_t errstr_size);

/*
 * Collects up to `max` messages into msgs[0..*n) within about max_ms
 * (0: only what is already fetched).  The caller owns the messages: free
 * them with tt_kcons_batch_free().  Non-fatal consumer errors are counted
 * in the stats and skipped; fatal ones, authorization failures and failed
 * rebalance hooks return TT_ERR_KAFKA with no messages.
 */
tt_err_t tt_kcons_poll_batch(tt_kcons_t *c, rd_kafka_message_t **msgs,
                             size_t max, int max_ms, size_t *n, char *errstr,
                             size_t errstr_size);

/* Destroys msgs[0..n). */
void tt_kcons_batch_free(rd_kafka_message_t **msgs, size_t n);

/* Stores, per partition, the highest offset in msgs[0..n) plus one, to be
 * committed per the commit mode.  Call after processing them. */
tt_err_t tt_kcons_store_batch(tt_kcons_t *c, rd_kafka_message_t *const *msgs,
                              size_t n, char *errstr, size_t errstr_size);

/* Stores `next_offset` (the next offset to read: last processed + 1) for
 * one partition. */
tt_err_t tt_kcons_store(tt_kcons_t *c, const char *topic, int32_t partition,
                        int64_t next_offset, char *errstr,
                        size_t errstr_size);

/* Commits the stored offsets now, synchronously.  Nothing to commit is
 * success. */
tt_err_t tt_kcons_commit(tt_kcons_t *c, char *errstr, size_t errstr_size);

/* Leaves the group: revokes (hooks run), commits per the commit mode and
 * closes.  Idempotent. */
tt_err_t tt_kcons_close(tt_kcons_t *c, char *errstr, size_t errstr_size);

/* Closes (best effort) and frees; NULL is a no-op. */
void tt_kcons_destroy(tt_kcons_t *c);

/* Counters and the last error. */
void tt_kcons_stats(const tt_kcons_t *c, struct tt_kcons_stats *stats);

/* The librdkafka handle, borrowed, for what the wrapper does not cover
 * (rd_kafka_consumer_group_metadata, rd_kafka_position...).  Do not poll
 * it or change its assignment directly. */
rd_kafka_t *tt_kcons_handle(tt_kcons_t *c);

#endif
