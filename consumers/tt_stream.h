/*
 * tt_stream: `twotime stream`, the consumer-group member that keeps every
 * user's embedding fresh from the interaction topic, exactly once.
 *
 * One loop per process: poll a batch of events (rd_kafka_consumer_poll,
 * cooperative-sticky group), decode them (undecodable or invalid ones go to
 * the dead-letter topic with the reason and their origin in headers), load
 * the users' states (write-back cache, then batched RocksDB reads), apply
 * the events with the current model (tt_proc: pure, deterministic), and emit
 * for each applied event the user's refreshed embedding to the output topic
 * (compacted, keyed by user) and for each changed user its new state to the
 * changelog topic (compacted, keyed by user, partition = input partition).
 *
 * EXACTLY ONCE (kafka.exactly_once = true, the default).  Outputs, changelog
 * records, dead letters and the consumer offsets of a batch are one Kafka
 * transaction (send_offsets_to_transaction with the group metadata: KIP-447
 * fencing of zombies by generation).  RocksDB is not in the transaction: a
 * batch's states are written to it only after the commit succeeded, with the
 * changelog offset they reflect (tt_restore checkpoint), so the store never
 * runs ahead of what Kafka committed.  An abortable error aborts, rewinds
 * every partition to its committed offset and drops the batch (nothing of it
 * reached the store).  A fenced producer (another instance took this
 * transactional id) stops the stream with TT_ERR_FENCED; any other fatal
 * producer error recreates the producer and rewinds.
 *
 * TRANSACTION TIMEOUT (transaction.timeout.ms, 5 s by default).  A batch is
 * committed well within it (a transaction opened early by a dead letter
 * closes its batch at half of it).  One that outlives it all the same (a
 * stall) is aborted by the coordinator, which bumps the producer's epoch;
 * librdkafka reports that as fenced, which the stream tells apart from
 * another instance by the transaction's age: it recreates the producer and
 * redoes the batch.  An instance that dies mid-transaction and never comes
 * back leaves its transaction open until the coordinator aborts it (5-15 s
 * with the broker's default 10 s sweep): read_committed readers of the
 * partitions it wrote wait that long, and so does the member taking over
 * its partitions if it died committing (rd_kafka_committed waits for
 * stable offsets).  An instance restarted with the same instance id fences
 * and aborts it at once.  See TXN_TIMEOUT_MS in tt_stream_prod.c.
 *
 * AT LEAST ONCE (kafka.exactly_once = false).  No transactions; idempotent
 * producer; batches are pipelined: a batch's outputs and changelog records
 * are produced and the next batch is processed without waiting for their
 * delivery (up to ALO_INFLIGHT = 4 batches in flight, each with its own
 * processor holding its users' new states).  A batch's states go to the
 * write-back cache (so RocksDB) and its offsets are committed (every
 * 100 ms; synchronously on a revoke and at the stop) only once its records
 * and those of every earlier batch are delivered: the store never holds a
 * state that Kafka lacks.  A failed delivery drops every
 * batch in flight and rewinds to the committed offsets; their events are
 * processed again from the same states, so nothing is lost (outputs
 * delivered before the failure come twice).  What it gives up: after a
 * crash, or a failed delivery, events after the last committed offset are
 * consumed again, and their outputs may be emitted twice (readers of the
 * compacted output topic see the same value again); and a member that
 * loses its partitions without a revoke (session timeout) may still have
 * records of them in flight.  States stay exact: each history entry keeps
 * the input offset of its event, so an event at or below a user's newest
 * applied offset is skipped; the user's current embedding is then
 * re-emitted once, so that an output lost in the crash is never missing.
 *
 * PARTITIONS.  An assigned partition is paused, its committed offset read
 * (given, read_committed, only once a previous owner's open transaction
 * has ended; the other partitions flow meanwhile), its states restored
 * from the changelog from the store's checkpoint to the end (tt_restore, in
 * slices while other partitions flow), then it is sought to the committed
 * offset and resumed: no event of a partition is processed before its
 * state is complete.  A partition being revoked has the
 * open batch committed in the rebalance callback first; a lost one (session
 * timeout) is abandoned without committing.  Local state of a revoked
 * partition is kept, so that getting it back costs only the changelog delta.
 *
 * MODELS.  The initial model is given to tt_stream_new; newer verified
 * versions may be offered at any time (tt_stream_offer_model) and are
 * swapped in between batches (tt_mhold); outputs name the version.
 *
 * Threading: tt_stream_run() on one thread.  tt_stream_stop(),
 * tt_stream_offer_model() and tt_stream_metrics() reads from any thread.
 */
#ifndef TT_STREAM_H
#define TT_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "common/tt_err.h"
#include "common/tt_log.h"
#include "conf/tt_conf.h"
#include "consumers/tt_metrics.h"
#include "model/tt_model.h"

typedef struct tt_stream_s tt_stream_t;

struct tt_stream_opts {
    /* Stable identity of this instance, part of the transactional id:
     * a restarted instance with the same id fences its dead predecessor at
     * once.  NULL: "<hostname>-<hash of the absolute state path>". */
    const char *instance_id;
    tt_log_t *log;             /* borrowed; NULL logs nothing */
    /* Polled between batches; the loop finishes the current batch,
     * commits and returns TT_ERR_OK when it returns true.  May be NULL. */
    bool (*stopping)(void *arg);
    void *stopping_arg;
    bool create_topics;        /* create missing topics at start */
    /* How long a non-empty batch waits for more events when none are
     * queued (0: it closes as soon as the queue is drained).  Larger
     * batches make fewer transactions; kafka.batch_ms bounds it. */
    int linger_ms;
    /* Longest a changed state stays only in the write-back cache
     * (state.user_cache > 0) before it is written to RocksDB; a user
     * changed by several batches meanwhile is written once.  A crash loses
     * nothing: the changelog has the states.  0: 250 ms (the write is
     * inline: a longer interval means longer stalls, a shorter one more
     * writes of hot users). */
    int store_flush_ms;
};

/*
 * Builds the stream: the store at conf->state.path, the model holder with
 * *model (ownership taken, *model set to NULL, also on failure), the Kafka
 * clients (topics created when opts->create_topics), the metrics endpoint.
 * conf must outlive the stream.  TT_ERR_CONF, TT_ERR_KAFKA, TT_ERR_STATE,
 * TT_ERR_IO, TT_ERR_NOMEM with a message.
 */
tt_err_t tt_stream_new(tt_stream_t **sp, const struct tt_conf *conf,
                       tt_model_t **model, const struct tt_stream_opts *opts,
                       char *errstr, size_t errstr_size);

/*
 * Runs until stopped (TT_ERR_OK, after committing the last batch and
 * leaving the group) or a fatal error: TT_ERR_FENCED (another instance has
 * this transactional id), TT_ERR_KAFKA (fatal client error), TT_ERR_STATE
 * (the store keeps failing).  Call once.
 */
tt_err_t tt_stream_run(tt_stream_t *s, char *errstr, size_t errstr_size);

/* Asks tt_stream_run() to finish the current batch and return.  Any
 * thread, async-signal-safe. */
void tt_stream_stop(tt_stream_t *s);

/* Offers a newer model version (see tt_mhold_offer); any thread. */
tt_err_t tt_stream_offer_model(tt_stream_t *s, tt_model_t **model,
                               char *errstr, size_t errstr_size);

/* The stream's metrics (borrowed, valid until destroy); any thread. */
tt_metrics_t *tt_stream_metrics(tt_stream_t *s);

/* The transactional id (exactly-once) or instance id in use. */
const char *tt_stream_instance(const tt_stream_t *s);

/* Frees everything; NULL is a no-op.  Does not commit anything. */
void tt_stream_destroy(tt_stream_t *s);

#endif
