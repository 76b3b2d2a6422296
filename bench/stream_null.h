/*
 * stream_null.h: bench_stream --null, the ceiling the stream is measured
 * against.  Included by bench_stream.c only (bench/CMakeLists.txt makes one
 * program per bench_*.c file); static functions.
 *
 * The same Kafka work as `twotime stream` without state or model: a
 * consumer-group member configured as the stream's consumer (cooperative-
 * sticky, manual offsets, read_committed, same kafka.* properties) and a
 * producer configured as the stream's (idempotent, acks=all, murmur2,
 * linger.ms 2; exactly-once: transactional, transaction.timeout.ms 5000,
 * linger.ms 10, retry.backoff.ms 10)
 * consume batches closed like the stream's (kafka.batch_max messages, or
 * the queue drained, or kafka.batch_ms) and produce one NULL_RECORD-byte
 * record per input (about an embedding record plus a share of changelog
 * bytes) to the output topic, keyed like the input, with the input
 * record's timestamp (what the latency reader measures from).  Exactly-once: each
 * batch is one transaction with its offsets.  At-least-once: delivery is
 * never waited for and the last batch's offsets are committed
 * asynchronously every 100 ms, the stream's cadence (no delivery tracking
 * at all: an upper bound for the stream's pipelined at-least-once mode).
 *
 * Threading: null_main() on its own thread; stop and assigned from any.
 */
#ifndef BENCH_STREAM_NULL_H
#define BENCH_STREAM_NULL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "common/tt_time.h"
#include "conf/tt_conf.h"
#include "producers/tt_kconf.h"

#define NULL_RECORD 300

struct null_run {
    const struct tt_conf *conf;
    bool eos;
    _Atomic int stop;
    _Atomic int assigned;     /* rebalance callbacks that added partitions */
    uint64_t consumed, produced, batches;
    uint64_t dr_failed;
    int err;                  /* nonzero: errstr says what */
    char errstr[512];
};

static void null_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t *l, void *opaque)
{
    struct null_run *r = opaque;
    rd_kafka_error_t *e;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        e = rd_kafka_incremental_assign(rk, l);
        atomic_fetch_add(&r->assigned, 1);
    } else {
        e = rd_kafka_incremental_unassign(rk, l);
    }
    if (e)
        rd_kafka_error_destroy(e);
}

static void null_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *op)
{
    struct null_run *r = op;

    (void)rk;
    if (m->err)
        r->dr_failed++;
}

static int null_fail(struct null_run *r, const char *what, const char *msg)
{
    snprintf(r->errstr, sizeof(r->errstr), "%.60s: %.400s", what, msg);
    r->err = 1;
    return 1;
}

/* Both clients configured as tt_stream configures its own. */
static int null_clients(struct null_run *r, rd_kafka_t **cons,
                        rd_kafka_t **prod)
{
    const struct tt_conf_kafka *kc = &r->conf->kafka;
    rd_kafka_conf_t *cc = NULL, *pc = NULL;
    char err[512], txn[160];

    snprintf(txn, sizeof(txn), "%s-null", kc->group_id);
    if (tt_kconf_new_role(&cc, kc, TT_KCONF_CONSUMER, err, sizeof(err)) ||
        tt_kconf_require_role(cc, kc, TT_KCONF_CONSUMER, "group.id",
                              kc->group_id, "null", err, sizeof(err)) ||
        tt_kconf_require_role(cc, kc, TT_KCONF_CONSUMER,
                              "partition.assignment.strategy",
                              "cooperative-sticky", "null", err, sizeof(err)) ||
        tt_kconf_require_role(cc, kc, TT_KCONF_CONSUMER, "enable.auto.commit",
                              "false", "null", err, sizeof(err)) ||
        tt_kconf_require_role(cc, kc, TT_KCONF_CONSUMER,
                              "enable.auto.offset.store", "false", "null", err,
                              sizeof(err)) ||
        tt_kconf_require_role(cc, kc, TT_KCONF_CONSUMER, "isolation.level",
                              "read_committed", "null", err, sizeof(err)) ||
        tt_kconf_default_role(cc, kc, TT_KCONF_CONSUMER, "auto.offset.reset",
                              "earliest", err, sizeof(err)) ||
        tt_kconf_new_role(&pc, kc, TT_KCONF_PRODUCER, err, sizeof(err)) ||
        tt_kconf_require_role(pc, kc, TT_KCONF_PRODUCER, "partitioner",
                              "murmur2_random", "null", err, sizeof(err)) ||
        tt_kconf_require_role(pc, kc, TT_KCONF_PRODUCER, "enable.idempotence",
                              "true", "null", err, sizeof(err)) ||
        tt_kconf_require_role(pc, kc, TT_KCONF_PRODUCER, "acks", "all", "null",
                              err, sizeof(err)) ||
        tt_kconf_default_role(pc, kc, TT_KCONF_PRODUCER, "linger.ms",
                              r->eos ? "10" : "2", err, sizeof(err)) ||
        (r->eos &&
         (tt_kconf_require_role(pc, kc, TT_KCONF_PRODUCER, "transactional.id",
                                txn, "null", err, sizeof(err)) ||
          tt_kconf_default_role(pc, kc, TT_KCONF_PRODUCER,
                                "transaction.timeout.ms", "5000", err,
                                sizeof(err)) ||
          tt_kconf_default_role(pc, kc, TT_KCONF_PRODUCER, "retry.backoff.ms",
                                "10", err, sizeof(err))))) {
        if (cc)
            rd_kafka_conf_destroy(cc);
        if (pc)
            rd_kafka_conf_destroy(pc);
        return null_fail(r, "config", err);
    }
    rd_kafka_conf_set_rebalance_cb(cc, null_rebalance);
    rd_kafka_conf_set_opaque(cc, r);
    rd_kafka_conf_set_dr_msg_cb(pc, null_dr);
    rd_kafka_conf_set_opaque(pc, r);
    *cons = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof(err));
    if (!*cons) {
        rd_kafka_conf_destroy(cc);
        rd_kafka_conf_destroy(pc);
        return null_fail(r, "consumer", err);
    }
    rd_kafka_poll_set_consumer(*cons);
    *prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err));
    if (!*prod) {
        rd_kafka_conf_destroy(pc);
        return null_fail(r, "producer", err);
    }
    if (r->eos) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(*prod, 60000);

        if (e) {
            null_fail(r, "init_transactions", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            return 1;
        }
    }
    return 0;
}

/* One transaction call; fails the run on error (the bench has no faults). */
static int null_txn(struct null_run *r, rd_kafka_error_t *e, const char *what)
{
    if (!e)
        return 0;
    null_fail(r, what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return 1;
}

static void *null_main(void *arg)
{
    struct null_run *r = arg;
    const struct tt_conf_kafka *kc = &r->conf->kafka;
    const size_t max = (size_t)kc->batch_max;
    const uint64_t batch_ns = (uint64_t)kc->batch_ms * 1000000u;
    rd_kafka_t *cons = NULL, *prod = NULL;
    rd_kafka_topic_t *out = NULL;
    rd_kafka_topic_partition_list_t *sub, *offs;
    int64_t next[256];
    uint64_t last_commit = 0;
    uint8_t val[NULL_RECORD];

    memset(val, 0x5a, sizeof(val));
    if (null_clients(r, &cons, &prod))
        goto out;
    out = rd_kafka_topic_new(prod, kc->output_topic, NULL);
    sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, kc->input_topic,
                                      RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(cons, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    while (!atomic_load(&r->stop)) {
        size_t n = 0;
        uint64_t t0 = 0;

        for (int i = 0; i < 256; i++)
            next[i] = -1;
        while (n < max) {
            rd_kafka_message_t *m;
            int timeout = 100;

            if (n > 0) {
                uint64_t age = tt_time_mono_ns() - t0;

                if (age >= batch_ns)
                    break;
                timeout = 0;
            }
            m = rd_kafka_consumer_poll(cons, timeout);
            if (!m)
                break;
            if (m->err || m->partition < 0 || m->partition >= 256) {
                rd_kafka_message_destroy(m);
                continue;
            }
            if (n == 0) {
                t0 = tt_time_mono_ns();
                if (r->eos && null_txn(r, rd_kafka_begin_transaction(prod),
                                       "begin_transaction")) {
                    rd_kafka_message_destroy(m);
                    goto out;
                }
            }
            while (rd_kafka_producev(
                       prod, RD_KAFKA_V_RKT(out),
                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                       RD_KAFKA_V_KEY(m->key, m->key_len),
                       RD_KAFKA_V_VALUE(val, sizeof(val)),
                       RD_KAFKA_V_TIMESTAMP(
                           rd_kafka_message_timestamp(m, NULL)),
                       RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(prod, 5);
            next[m->partition] = m->offset + 1;
            rd_kafka_message_destroy(m);
            n++;
        }
        if (n == 0)
            continue;
        offs = rd_kafka_topic_partition_list_new(8);
        for (int i = 0; i < 256; i++)
            if (next[i] >= 0)
                rd_kafka_topic_partition_list_add(offs, kc->input_topic, i)
                    ->offset = next[i];
        if (r->eos) {
            rd_kafka_consumer_group_metadata_t *md =
                rd_kafka_consumer_group_metadata(cons);
            int bad = null_txn(r,
                               rd_kafka_send_offsets_to_transaction(prod, offs,
                                                                    md, -1),
                               "send_offsets_to_transaction");

            rd_kafka_consumer_group_metadata_destroy(md);
            if (!bad)
                bad = null_txn(r, rd_kafka_commit_transaction(prod, -1),
                               "commit_transaction");
            if (bad) {
                rd_kafka_topic_partition_list_destroy(offs);
                goto out;
            }
        } else {
            /* Serve the delivery reports that are in, then commit. */
            rd_kafka_poll(prod, 0);
            if (tt_time_mono_ns() - last_commit >= 100000000u) {
                rd_kafka_commit(cons, offs, 1);
                last_commit = tt_time_mono_ns();
            }
        }
        rd_kafka_topic_partition_list_destroy(offs);
        r->consumed += n;
        r->produced += n;
        r->batches++;
    }
out:
    if (prod)
        rd_kafka_flush(prod, 10000);
    if (out)
        rd_kafka_topic_destroy(out);
    if (cons) {
        rd_kafka_consumer_close(cons);
        rd_kafka_destroy(cons);
    }
    if (prod)
        rd_kafka_destroy(prod);
    return NULL;
}

#endif
