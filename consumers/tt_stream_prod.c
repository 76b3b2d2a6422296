/*
 * The stream's producer: creation (idempotent, transactional in
 * exactly-once mode, fencing a previous incarnation), produce with a
 * bounded wait on a full queue, and the delivery reports that tell which
 * changelog offsets a batch reached.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_time.h"
#include "consumers/tt_stream_int.h"
#include "producers/tt_kconf.h"

/* A record's opaque: its kind in the low bits; at-least-once, its batch's
 * sequence number above them (0 in exactly-once mode). */
#define MSG_KIND_MASK 3u
#define MSG_SEQ_SHIFT 2
/* Longest a produce call waits for room in a full local queue. */
#define PRODUCE_WAIT_MS 30000
/*
 * Default transaction.timeout.ms.  An instance that dies mid-transaction
 * and does not come back (its transactional.id is never used again) leaves
 * the transaction open until the coordinator aborts it: this long after it
 * began, noticed by a sweep every
 * transaction.abort.timed.out.transaction.cleanup.interval.ms (broker, 10 s
 * by default).  Until then read_committed readers of the partitions it
 * wrote (its output partitions, co-partitioned with its input) stop at its
 * first record, and the member taking over its partitions waits for it if
 * it died committing.  So it bounds how long a crash holds back outputs;
 * 5 s against Kafka Streams' 10 s makes that 5-15 s instead of 10-20 s.
 * The price: a transaction of this instance that takes longer (a batch is
 * committed well within it, see collect(); so only a stall: overload,
 * swap, a broker failing over) is aborted by the coordinator and the batch
 * redone with a new producer, and librdkafka caps message.timeout.ms to it.
 * kafka.properties.producer.transaction.timeout.ms overrides it.
 */
#define TXN_TIMEOUT_MS "5000"

/*
 * Exactly-once: the wait before retrying a request the broker refused for
 * now.  The common case is the next batch's first produce right after a
 * commit: the coordinator answers CONCURRENT_TRANSACTIONS until the previous
 * transaction's markers are written, and librdkafka retries after
 * retry.backoff.ms (default 100), so back-to-back transactions took 100 ms
 * or more (the Java client uses 20 ms for this case, KAFKA-5477).  With 10:
 * 2.4x the transactions per second at 10k events/s and half the median
 * latency (p50 41-60 ms against 119-123, 3 paired runs, shared machine;
 * bench_stream --mode eos --rate 10000).  Other retries (a broker away) also
 * come sooner; the timeouts that end them are unchanged.
 * kafka.properties.producer.retry.backoff.ms overrides it.
 */
#define TXN_RETRY_BACKOFF_MS "10"

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    tt_stream_t *s = opaque;
    uint64_t op = (uint64_t)(uintptr_t)m->_private;
    enum msg_kind kind = (enum msg_kind)(op & MSG_KIND_MASK);
    struct part *p = NULL;

    (void)rk;
    if (op >> MSG_SEQ_SHIFT) {
        tt_stream_alo_report(s, op >> MSG_SEQ_SHIFT, kind, m);
        return;
    }
    if (kind == MSG_CHANGELOG && m->partition >= 0 &&
        m->partition < s->n_parts)
        p = &s->parts[m->partition];
    if (m->err) {
        if (s->dr_failed++ == 0)
            snprintf(s->dr_error, sizeof(s->dr_error), "%s",
                     rd_kafka_err2str(m->err));
        if (p)
            p->cl_failed++;
        return;
    }
    if (p) {
        p->cl_acked++;
        if (m->offset > p->cl_max)
            p->cl_max = m->offset;
    }
}

tt_err_t tt_stream_producer_new(tt_stream_t *s, char *errstr,
                                size_t errstr_size)
{
    const struct tt_conf_kafka *kc = &s->conf->kafka;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_error_t *error;
    char kerr[512];
    tt_err_t err;

    err = tt_kconf_new_role(&conf, kc, TT_KCONF_PRODUCER, errstr, errstr_size);
    if (err)
        return err;
    /* The key contract (producers/tt_ukey.h) and no loss, no duplicates
     * from retries; a transaction bounds how long an instance that died
     * mid-batch holds back read_committed readers.  linger.ms: in
     * exactly-once mode the commit sends what waits at once, so a longer
     * linger only makes fuller produce requests (10 against 2 ms: +8-19%
     * events/s in 4 of 4 paired runs, broker CPU per event lower, latency
     * at 10k ev/s no worse); at-least-once records wait for it. */
    if ((err = tt_kconf_require_role(conf, kc, TT_KCONF_PRODUCER,
                                     "partitioner", "murmur2_random",
                                     "the user key contract", errstr,
                                     errstr_size)) ||
        (err = tt_kconf_require_role(conf, kc, TT_KCONF_PRODUCER,
                                     "enable.idempotence", "true",
                                     "the stream producer", errstr,
                                     errstr_size)) ||
        (err = tt_kconf_require_role(conf, kc, TT_KCONF_PRODUCER,
                                     "acks", "all", "the stream producer",
                                     errstr, errstr_size)) ||
        (err = tt_kconf_default_role(conf, kc, TT_KCONF_PRODUCER,
                                     "linger.ms", s->eos ? "10" : "2",
                                     errstr, errstr_size)))
        goto fail;
    if (s->eos &&
        ((err = tt_kconf_require_role(conf, kc, TT_KCONF_PRODUCER,
                                      "transactional.id", s->txn_id,
                                      "exactly-once", errstr, errstr_size)) ||
         (err = tt_kconf_default_role(conf, kc, TT_KCONF_PRODUCER,
                                      "transaction.timeout.ms",
                                      TXN_TIMEOUT_MS, errstr, errstr_size)) ||
         (err = tt_kconf_default_role(conf, kc, TT_KCONF_PRODUCER,
                                      "retry.backoff.ms", TXN_RETRY_BACKOFF_MS,
                                      errstr, errstr_size))))
        goto fail;
    if (s->eos) {
        char buf[32];
        size_t len = sizeof(buf);
        char *end = NULL;
        long v = 0;

        if (rd_kafka_conf_get(conf, "transaction.timeout.ms", buf, &len) ==
            RD_KAFKA_CONF_OK)
            v = strtol(buf, &end, 10);
        s->txn_timeout_ms = end && *end == '\0' && v > 0 && v <= INT_MAX
                                ? (int)v
                                : 0;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, s);
    s->prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
    if (!s->prod) {
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size, "producer: %s",
                      kerr);
        goto fail;
    }
    conf = NULL;
    s->t_out = rd_kafka_topic_new(s->prod, kc->output_topic, NULL);
    s->t_cl = rd_kafka_topic_new(s->prod, kc->changelog_topic, NULL);
    s->t_dlq = rd_kafka_topic_new(s->prod, kc->dead_letter_topic, NULL);
    if (!s->t_out || !s->t_cl || !s->t_dlq) {
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                      "producer: topic handles: %s",
                      rd_kafka_err2str(rd_kafka_last_error()));
        goto fail_prod;
    }
    if (s->eos) {
        /* Fences a previous incarnation with the same transactional id and
         * aborts its open transaction. */
        error = rd_kafka_init_transactions(s->prod, 60000);
        if (error) {
            err = tt_errf(rd_kafka_error_code(error) ==
                                  RD_KAFKA_RESP_ERR__FENCED
                              ? TT_ERR_FENCED
                              : TT_ERR_KAFKA,
                          errstr, errstr_size,
                          "init_transactions (transactional.id %s): %s",
                          s->txn_id, rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
            goto fail_prod;
        }
    }
    s->txn_open = false;
    return TT_ERR_OK;
fail_prod:
    tt_stream_producer_destroy(s);
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    return err;
}

void tt_stream_producer_destroy(tt_stream_t *s)
{
    if (s->t_out)
        rd_kafka_topic_destroy(s->t_out);
    if (s->t_cl)
        rd_kafka_topic_destroy(s->t_cl);
    if (s->t_dlq)
        rd_kafka_topic_destroy(s->t_dlq);
    s->t_out = s->t_cl = s->t_dlq = NULL;
    if (s->prod) {
        /* Anything not delivered yet is either in an aborted transaction or
         * will be produced again after the rewind. */
        rd_kafka_purge(s->prod, RD_KAFKA_PURGE_F_QUEUE |
                                    RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(s->prod, 0);
        rd_kafka_destroy(s->prod);
        s->prod = NULL;
    }
    s->txn_open = false;
}

tt_err_t tt_stream_produce(tt_stream_t *s, rd_kafka_topic_t *rkt,
                           int32_t partition, const void *key, size_t klen,
                           const void *val, size_t vlen,
                           rd_kafka_headers_t *hdrs, enum msg_kind kind,
                           char *errstr, size_t errstr_size)
{
    uint64_t t0 = 0;
    void *op;

    op = (void *)(uintptr_t)((s->eos ? 0 : s->alo_seq << MSG_SEQ_SHIFT) |
                             (uint64_t)kind);
    for (;;) {
        rd_kafka_resp_err_t kerr;

        if (hdrs)
            kerr = rd_kafka_producev(
                s->prod, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)val, vlen),
                RD_KAFKA_V_HEADERS(hdrs),
                RD_KAFKA_V_OPAQUE(op), RD_KAFKA_V_END);
        else
            kerr = rd_kafka_producev(
                s->prod, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)val, vlen),
                RD_KAFKA_V_OPAQUE(op), RD_KAFKA_V_END);
        if (!kerr)
            return s->eos ? TT_ERR_OK
                          : tt_stream_alo_produced(s, kind, partition, errstr,
                                                   errstr_size);
        if (kerr != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (hdrs)
                rd_kafka_headers_destroy(hdrs);
            return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                           "produce to %s: %s", rd_kafka_topic_name(rkt),
                           rd_kafka_err2str(kerr));
        }
        if (!t0) {
            t0 = tt_time_mono_ns();
        } else if (tt_time_mono_ns() - t0 > PRODUCE_WAIT_MS * 1000000ull) {
            if (hdrs)
                rd_kafka_headers_destroy(hdrs);
            return tt_errf(TT_ERR_TIMEOUT, errstr, errstr_size,
                           "produce to %s: local queue full for %d ms",
                           rd_kafka_topic_name(rkt), PRODUCE_WAIT_MS);
        }
        rd_kafka_poll(s->prod, 5);
    }
}
