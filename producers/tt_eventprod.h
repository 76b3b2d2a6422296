/*
 * tt_eventprod: produces interaction events (struct tt_event) to a Kafka
 * topic, Avro-encoded (schemas/tt_codec.h, single-object encoding) and keyed
 * by user (producers/tt_ukey.h: 8-byte big-endian id, murmur2 partitioner),
 * so that all of a user's events land on one partition, in the order they
 * were sent, whichever language produced them.
 *
 * Delivery: enable.idempotence=true and acks=all are pinned (a contrary
 * kafka.properties entry is a TT_ERR_CONF, not silently overridden), so
 * retries neither duplicate nor reorder.  Every delivery report is counted;
 * after the first failed delivery tt_eventprod_send() refuses to go on
 * (TT_ERR_KAFKA with the first error), since a gap would break the order
 * the stream relies on.  A full local queue never blocks forever: send()
 * serves delivery reports in short slices for at most `queue_wait_ms`, then
 * returns TT_ERR_TIMEOUT; such waits are counted.
 *
 * The record timestamp is the producer's clock (CreateTime); the event time
 * is in the payload.  Old event times as record timestamps would make
 * time-based retention delete a replayed history at once.
 *
 * Thread-safety: one thread per tt_eventprod_t (the codec and the counters
 * are not shared); delivery reports are served on that thread.
 */
#ifndef TT_EVENTPROD_H
#define TT_EVENTPROD_H

#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "common/tt_event.h"
#include "conf/tt_conf.h"

typedef struct tt_eventprod_s tt_eventprod_t;

struct tt_eventprod_opts {
    const char *topic;  /* required */
    int queue_wait_ms;  /* longest send() waits for room; 0: 30000 */
};

struct tt_eventprod_stats {
    uint64_t sent;       /* accepted into the local queue */
    uint64_t delivered;  /* acknowledged by all in-sync replicas */
    uint64_t failed;     /* delivery reports with an error */
    uint64_t queue_full; /* send() calls that had to wait for room */
    uint64_t bytes;      /* payload bytes delivered */
    char first_error[256];
};

/* A producer over kc (brokers, client id, pass-through properties) writing
 * to opts->topic.  The topic must exist (see tt_admin). */
tt_err_t tt_eventprod_new(tt_eventprod_t **out, const struct tt_conf_kafka *kc,
                          const struct tt_eventprod_opts *opts, char *errstr,
                          size_t errstr_size);

/*
 * Encodes *ev and queues it.  TT_ERR_RANGE for an invalid event (nothing
 * sent; the caller may skip it), TT_ERR_TIMEOUT when the queue stayed full,
 * TT_ERR_KAFKA after a failed delivery or a fatal producer error.
 */
tt_err_t tt_eventprod_send(tt_eventprod_t *p, const struct tt_event *ev,
                           char *errstr, size_t errstr_size);

/* Serves delivery reports, waiting up to timeout_ms for one.  TT_ERR_KAFKA
 * once a delivery failed. */
tt_err_t tt_eventprod_poll(tt_eventprod_t *p, int timeout_ms, char *errstr,
                           size_t errstr_size);

/* Waits until every queued event is delivered or failed, at most
 * timeout_ms: TT_ERR_TIMEOUT with the number still in flight,
 * TT_ERR_KAFKA when any failed. */
tt_err_t tt_eventprod_flush(tt_eventprod_t *p, int timeout_ms, char *errstr,
                            size_t errstr_size);

/* Counters and the first delivery error. */
void tt_eventprod_stats(const tt_eventprod_t *p,
                        struct tt_eventprod_stats *stats);

/* Frees the producer; events not yet delivered are purged (flush first).
 * NULL is a no-op. */
void tt_eventprod_destroy(tt_eventprod_t *p);

#endif
