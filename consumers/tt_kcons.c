#include "consumers/tt_kcons.h"

#include <stdlib.h>
#include <string.h>

#include "common/tt_time.h"
#include "producers/tt_kconf.h"

struct tt_kcons_s {
    rd_kafka_t *rk;
    struct tt_kcons_opts opts; /* hooks and mode; strings not kept */
    struct tt_kcons_stats stats;
    /* The batch being collected by tt_kcons_poll_batch(), so that the
     * rebalance callback can drop what a revocation takes away. */
    rd_kafka_message_t **batch;
    size_t batch_n;
    bool batch_cut;
    /* A failure seen inside a callback, reported by the next poll. */
    tt_err_t fail;
    char fail_msg[512];
    bool closed;
};

static void record_fail(tt_kcons_t *c, tt_err_t err, const char *what,
                        const char *why)
{
    if (c->fail)
        return; /* the first failure is the one worth reporting */
    c->fail = err;
    snprintf(c->fail_msg, sizeof(c->fail_msg), "%s: %s", what, why);
}

/* Drops the messages of the batch in progress whose partition is revoked. */
static void drop_revoked(tt_kcons_t *c,
                         const rd_kafka_topic_partition_list_t *parts)
{
    size_t kept = 0;

    if (!c->batch)
        return;
    for (size_t i = 0; i < c->batch_n; i++) {
        rd_kafka_message_t *m = c->batch[i];

        if (rd_kafka_topic_partition_list_find(parts,
                                               rd_kafka_topic_name(m->rkt),
                                               m->partition)) {
            rd_kafka_message_destroy(m);
            c->stats.dropped++;
        } else {
            c->batch[kept++] = m;
        }
    }
    c->batch_n = kept;
    c->batch_cut = true;
}

static void assign(tt_kcons_t *c, rd_kafka_t *rk, bool coop,
                   rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_error_t *error;
    rd_kafka_resp_err_t rerr;
    tt_err_t herr;

    c->stats.assigns++;
    if (c->opts.on_assign) {
        herr = c->opts.on_assign(c->opts.hook_arg, parts);
        /* Assign anyway, so that the group state stays consistent; the
         * error makes the owner of the loop stop and close. */
        if (herr)
            record_fail(c, herr, "partition assignment hook",
                        tt_err_str(herr));
    }
    if (coop) {
        error = rd_kafka_incremental_assign(rk, parts);
        if (error) {
            record_fail(c, TT_ERR_KAFKA, "incremental assign",
                        rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
            return;
        }
        c->stats.assigned += parts->cnt;
    } else {
        rerr = rd_kafka_assign(rk, parts);
        if (rerr) {
            record_fail(c, TT_ERR_KAFKA, "assign", rd_kafka_err2str(rerr));
            return;
        }
        c->stats.assigned = parts->cnt;
    }
}

static void revoke(tt_kcons_t *c, rd_kafka_t *rk, bool coop,
                   rd_kafka_topic_partition_list_t *parts)
{
    bool lost = rd_kafka_assignment_lost(rk) != 0;
    rd_kafka_error_t *error;
    rd_kafka_resp_err_t rerr;

    c->stats.revokes++;
    if (lost)
        c->stats.lost++;
    if (c->opts.on_revoke)
        c->opts.on_revoke(c->opts.hook_arg, parts, lost);
    drop_revoked(c, parts);
    /* librdkafka commits the stored offsets of removed partitions itself
     * only with enable.auto.commit; in manual mode they would be reset
     * unless committed here.  Lost partitions may belong to another member
     * already: committing for them could move its offsets backwards. */
    if (!lost && c->opts.commit == TT_KCONS_COMMIT_MANUAL) {
        rerr = rd_kafka_commit(rk, NULL, 0);
        if (rerr && rerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
            record_fail(c, TT_ERR_KAFKA, "commit before revocation",
                        rd_kafka_err2str(rerr));
    }
    if (coop) {
        error = rd_kafka_incremental_unassign(rk, parts);
        if (error) {
            record_fail(c, TT_ERR_KAFKA, "incremental unassign",
                        rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
            return;
        }
        c->stats.assigned -= parts->cnt;
        if (c->stats.assigned < 0)
            c->stats.assigned = 0;
    } else {
        rerr = rd_kafka_assign(rk, NULL);
        if (rerr)
            record_fail(c, TT_ERR_KAFKA, "unassign", rd_kafka_err2str(rerr));
        c->stats.assigned = 0;
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    tt_kcons_t *c = opaque;
    const char *proto = rd_kafka_rebalance_protocol(rk);
    bool coop = proto && !strcmp(proto, "COOPERATIVE");

    switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        assign(c, rk, coop, parts);
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        revoke(c, rk, coop, parts);
        break;
    default:
        record_fail(c, TT_ERR_KAFKA, "rebalance", rd_kafka_err2str(err));
        drop_revoked(c, parts);
        rd_kafka_assign(rk, NULL);
        c->stats.assigned = 0;
        break;
    }
}

static tt_err_t set_pinned(rd_kafka_conf_t *conf,
                           const struct tt_conf_kafka *kc,
                           const struct tt_kcons_opts *opts, char *errstr,
                           size_t errstr_size)
{
    const char *pinned[][2] = {
        {"enable.auto.offset.store", "false"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"enable.auto.commit",
         opts->commit == TT_KCONS_COMMIT_AUTO ? "true" : "false"},
        {"auto.offset.reset", "earliest"}, /* only from_beginning */
    };
    size_t n = sizeof(pinned) / sizeof(pinned[0]) - !opts->from_beginning;
    const char *group = opts->group_id ? opts->group_id : kc->group_id;
    tt_err_t err;

    if (!group || !*group)
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "no consumer group id (kafka.group_id)");
    err = tt_kconf_set(conf, "group.id", group, errstr, errstr_size);
    for (size_t i = 0; i < n && !err; i++)
        err = tt_kconf_require_role(conf, kc, TT_KCONF_CONSUMER,
                                    pinned[i][0], pinned[i][1],
                                    "the consumer wrapper (tt_kcons)",
                                    errstr, errstr_size);
    return err;
}

tt_err_t tt_kcons_new(tt_kcons_t **out, const struct tt_conf_kafka *kc,
                      const struct tt_kcons_opts *opts, char *errstr,
                      size_t errstr_size)
{
    char rderr[512];
    rd_kafka_conf_t *conf;
    rd_kafka_topic_partition_list_t *topics;
    rd_kafka_resp_err_t rerr;
    tt_kcons_t *c;
    tt_err_t err;

    *out = NULL;
    if (opts->n_topics == 0)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "consumer: no topic to subscribe to");
    c = calloc(1, sizeof(*c));
    if (!c)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "consumer: no memory");
    c->opts = *opts;
    c->opts.group_id = NULL;
    c->opts.topics = NULL;
    err = tt_kconf_new_role(&conf, kc, TT_KCONF_CONSUMER, errstr,
                            errstr_size);
    if (err)
        goto out_free;
    err = set_pinned(conf, kc, opts, errstr, errstr_size);
    if (err) {
        rd_kafka_conf_destroy(conf);
        goto out_free;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, c);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rderr, sizeof(rderr));
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size, "consumer: %s",
                      rderr);
        goto out_free;
    }
    /* Route the main queue to the consumer queue so that one
     * rd_kafka_consumer_poll() serves everything (errors, stats). */
    rd_kafka_poll_set_consumer(c->rk);
    topics = rd_kafka_topic_partition_list_new((int)opts->n_topics);
    for (size_t i = 0; i < opts->n_topics; i++)
        rd_kafka_topic_partition_list_add(topics, opts->topics[i],
                                          RD_KAFKA_PARTITION_UA);
    rerr = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (rerr) {
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                      "consumer: subscribe: %s", rd_kafka_err2str(rerr));
        goto out_destroy;
    }
    *out = c;
    return TT_ERR_OK;
out_destroy:
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
out_free:
    free(c);
    return err;
}

/* True for consumer errors that retrying cannot fix. */
static bool permanent(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
        return true;
    default:
        return false;
    }
}

/* Counts a consumer error message; true when it is permanent (then
 * c->fail is set). */
static bool consumer_error(tt_kcons_t *c, const rd_kafka_message_t *m)
{
    char fatal[256];

    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return false;
    c->stats.errors++;
    snprintf(c->stats.last_error, sizeof(c->stats.last_error), "%s%s%s",
             m->rkt ? rd_kafka_topic_name(m->rkt) : "",
             m->rkt ? ": " : "", rd_kafka_message_errstr(m));
    if (!permanent(m->err))
        return false;
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(c->rk, fatal, sizeof(fatal));
        record_fail(c, TT_ERR_KAFKA, "fatal consumer error", fatal);
    } else {
        record_fail(c, TT_ERR_KAFKA, "consumer", c->stats.last_error);
    }
    return true;
}

tt_err_t tt_kcons_poll_batch(tt_kcons_t *c, rd_kafka_message_t **msgs,
                             size_t max, int max_ms, size_t *n, char *errstr,
                             size_t errstr_size)
{
    uint64_t deadline =
        tt_time_mono_ns() + (uint64_t)(max_ms > 0 ? max_ms : 0) * 1000000u;
    rd_kafka_message_t *m;

    *n = 0;
    if (c->closed)
        return tt_errf(TT_ERR_STATE, errstr, errstr_size,
                       "consumer: polled after close");
    c->batch = msgs;
    c->batch_n = 0;
    c->batch_cut = false;
    while (c->batch_n < max && !c->fail) {
        uint64_t now = tt_time_mono_ns();
        int wait = now >= deadline ? 0 : (int)((deadline - now) / 1000000u);

        m = rd_kafka_consumer_poll(c->rk, wait);
        if (!m) {
            if (wait == 0)
                break;
            continue;
        }
        if (m->err) {
            consumer_error(c, m);
            rd_kafka_message_destroy(m);
            continue;
        }
        msgs[c->batch_n++] = m;
        if (c->batch_cut)
            break;
    }
    c->batch = NULL;
    if (c->fail) {
        tt_kcons_batch_free(msgs, c->batch_n);
        return tt_errf(c->fail, errstr, errstr_size, "consumer: %s",
                       c->fail_msg);
    }
    *n = c->batch_n;
    c->stats.messages += c->batch_n;
    return TT_ERR_OK;
}

void tt_kcons_batch_free(rd_kafka_message_t **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_destroy(msgs[i]);
        msgs[i] = NULL;
    }
}

/* Stores the offsets in `list` and reports the first failure. */
static tt_err_t store_list(tt_kcons_t *c,
                           rd_kafka_topic_partition_list_t *list,
                           char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t rerr = rd_kafka_offsets_store(c->rk, list);

    for (int i = 0; i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &list->elems[i];

        if (p->err)
            return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                           "storing offset %lld of %s [%d]: %s",
                           (long long)p->offset, p->topic, (int)p->partition,
                           rd_kafka_err2str(p->err));
    }
    if (rerr)
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                       "storing offsets: %s", rd_kafka_err2str(rerr));
    return TT_ERR_OK;
}

tt_err_t tt_kcons_store_batch(tt_kcons_t *c, rd_kafka_message_t *const *msgs,
                              size_t n, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *list;
    tt_err_t err;

    if (n == 0)
        return TT_ERR_OK;
    /* One small list per batch (not per message), as offsets_store takes a
     * list; partitions per batch are few. */
    list = rd_kafka_topic_partition_list_new(8);
    if (!list)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "offset list");
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = msgs[i];
        const char *topic = rd_kafka_topic_name(m->rkt);
        rd_kafka_topic_partition_t *p;

        p = rd_kafka_topic_partition_list_find(list, topic, m->partition);
        if (!p)
            p = rd_kafka_topic_partition_list_add(list, topic, m->partition);
        /* The stored offset is the next one to read, as Kafka commits
         * it: librdkafka's offsets_store takes it as is. */
        if (m->offset + 1 > p->offset)
            p->offset = m->offset + 1;
    }
    err = store_list(c, list, errstr, errstr_size);
    rd_kafka_topic_partition_list_destroy(list);
    return err;
}

tt_err_t tt_kcons_store(tt_kcons_t *c, const char *topic, int32_t partition,
                        int64_t next_offset, char *errstr,
                        size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *list;
    tt_err_t err;

    list = rd_kafka_topic_partition_list_new(1);
    if (!list)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "offset list");
    rd_kafka_topic_partition_list_add(list, topic, partition)->offset =
        next_offset;
    err = store_list(c, list, errstr, errstr_size);
    rd_kafka_topic_partition_list_destroy(list);
    return err;
}

tt_err_t tt_kcons_commit(tt_kcons_t *c, char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t rerr;

    if (c->closed)
        return tt_errf(TT_ERR_STATE, errstr, errstr_size,
                       "consumer: commit after close");
    rerr = rd_kafka_commit(c->rk, NULL, 0);
    if (rerr && rerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                       "committing offsets: %s", rd_kafka_err2str(rerr));
    return TT_ERR_OK;
}

tt_err_t tt_kcons_close(tt_kcons_t *c, char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t rerr;

    if (c->closed)
        return TT_ERR_OK;
    c->closed = true;
    /* Revokes the assignment through rebalance_cb (hooks, manual commit)
     * and, with auto commit, commits the stored offsets. */
    rerr = rd_kafka_consumer_close(c->rk);
    if (rerr)
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                       "closing the consumer: %s", rd_kafka_err2str(rerr));
    if (c->fail)
        return tt_errf(c->fail, errstr, errstr_size, "consumer: %s",
                       c->fail_msg);
    return TT_ERR_OK;
}

void tt_kcons_destroy(tt_kcons_t *c)
{
    if (!c)
        return;
    tt_kcons_close(c, NULL, 0);
    rd_kafka_destroy(c->rk);
    free(c);
}

void tt_kcons_stats(const tt_kcons_t *c, struct tt_kcons_stats *stats)
{
    *stats = c->stats;
}

rd_kafka_t *tt_kcons_handle(tt_kcons_t *c)
{
    return c->rk;
}
