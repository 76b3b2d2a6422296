#include "consumers/tt_restore.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "common/tt_time.h"
#include "producers/tt_kconf.h"
#include "producers/tt_ukey.h"
#include "state/tt_ustate.h"

/* Records per RocksDB write batch during a restore. */
#define RESTORE_COMMIT_EVERY 4096

struct rpart {
    int32_t partition;
    int64_t next;  /* next changelog offset to apply; -1: the beginning */
    bool touched;  /* applied records since the last store commit */
    bool done;     /* reached the end; reported by the next step */
    bool assigned; /* in the consumer's assignment */
};

struct tt_restore_s {
    rd_kafka_t *rk;
    char *topic;
    tt_state_t *st;
    tt_state_batch_t *b;
    size_t in_batch;
    struct rpart *parts;
    size_t n_parts;
    size_t cap_parts;
    struct tt_user_state scratch;
    struct tt_restore_stats stats;
};

static void meta_name(char *buf, size_t cap, int32_t partition)
{
    snprintf(buf, cap, "clog.p%" PRId32, partition);
}

tt_err_t tt_restore_checkpoint(tt_state_t *st, int32_t partition,
                               int64_t *offset, char *errstr,
                               size_t errstr_size)
{
    char name[32];
    uint8_t buf[8];
    size_t len = 0;
    tt_err_t err;

    meta_name(name, sizeof(name), partition);
    *offset = -1;
    err = tt_state_get_meta(st, name, buf, sizeof(buf), &len, errstr,
                            errstr_size);
    if (err == TT_ERR_NOTFOUND)
        return TT_ERR_OK;
    if (err)
        return err;
    if (len != 8)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "changelog checkpoint of partition %" PRId32
                       ": %zu bytes",
                       partition, len);
    *offset = 0;
    for (int i = 7; i >= 0; i--)
        *offset = (int64_t)(((uint64_t)*offset << 8) | buf[i]);
    if (*offset < -1)
        *offset = -1;
    return TT_ERR_OK;
}

tt_err_t tt_restore_put_checkpoint(tt_state_batch_t *b, int32_t partition,
                                   int64_t offset, char *errstr,
                                   size_t errstr_size)
{
    char name[32];
    uint8_t buf[8];

    meta_name(name, sizeof(name), partition);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)offset >> (8 * i));
    return tt_state_batch_put_meta(b, name, buf, sizeof(buf), errstr,
                                   errstr_size);
}

tt_err_t tt_restore_new(tt_restore_t **rp, const struct tt_conf_kafka *kc,
                        const char *topic, tt_state_t *st, char *errstr,
                        size_t errstr_size)
{
    tt_restore_t *r;
    rd_kafka_conf_t *conf = NULL;
    char group[512], kerr[512];
    tt_err_t err;

    *rp = NULL;
    r = calloc(1, sizeof(*r));
    if (!r)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "restore: no memory");
    r->st = st;
    r->topic = strdup(topic);
    if (!r->topic ||
        tt_ustate_init(&r->scratch, TT_USTATE_DIM_MAX, TT_USTATE_HIST_MAX)) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "restore: no memory");
        goto fail;
    }
    err = tt_state_batch_new(&r->b, st, errstr, errstr_size);
    if (err)
        goto fail;
    err = tt_kconf_new_role(&conf, kc, TT_KCONF_CONSUMER, errstr, errstr_size);
    if (err)
        goto fail;
    snprintf(group, sizeof(group), "%s.restore", kc->group_id);
    /* A short fetch wait: the end of a partition is seen within tens of
     * milliseconds instead of half a second.  read_committed: the end of a
     * partition is its last stable offset, so records of aborted or open
     * transactions are never restored.  EOF events tell when the end is
     * reached; an offset the log no longer has is reported (not silently
     * reset) so that the partition restarts from the beginning with a
     * cleared store. */
    if ((err = tt_kconf_set(conf, "group.id", group, errstr, errstr_size)) ||
        (err = tt_kconf_require_role(conf, kc, TT_KCONF_CONSUMER,
                                     "isolation.level", "read_committed",
                                     "the changelog restore", errstr,
                                     errstr_size)) ||
        (err = tt_kconf_set(conf, "enable.partition.eof", "true", errstr,
                            errstr_size)) ||
        (err = tt_kconf_set(conf, "enable.auto.commit", "false", errstr,
                            errstr_size)) ||
        (err = tt_kconf_set(conf, "auto.offset.reset", "error", errstr,
                            errstr_size)) ||
        (err = tt_kconf_default_role(conf, kc, TT_KCONF_CONSUMER,
                                     "fetch.wait.max.ms", "20", errstr,
                                     errstr_size)))
        goto fail;
    r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof(kerr));
    if (!r->rk) {
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                      "restore consumer: %s", kerr);
        goto fail;
    }
    conf = NULL;
    rd_kafka_poll_set_consumer(r->rk);
    *rp = r;
    return TT_ERR_OK;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    tt_restore_destroy(r);
    return err;
}

void tt_restore_destroy(tt_restore_t *r)
{
    if (!r)
        return;
    if (r->rk) {
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
    }
    tt_state_batch_destroy(r->b);
    tt_ustate_release(&r->scratch);
    free(r->parts);
    free(r->topic);
    free(r);
}

static struct rpart *find(const tt_restore_t *r, int32_t partition)
{
    for (size_t i = 0; i < r->n_parts; i++)
        if (r->parts[i].partition == partition)
            return &r->parts[i];
    return NULL;
}

/*
 * The consumer's assignment changes one partition at a time (incremental
 * assign and unassign), never as a whole: librdkafka 2.0.2 aborts the
 * process (assertion rktp_started in rd_kafka_assignment_partition_stopped)
 * when a whole assignment is replaced again before the fetch stops of the
 * previous replacement were served, which restores starting and ending in
 * quick succession did (test_stream_restore).
 */

/* Adds rp's partition to the assignment at its next offset. */
static tt_err_t assign_part(tt_restore_t *r, struct rpart *rp, char *errstr,
                            size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_error_t *error;
    tt_err_t err = TT_ERR_OK;

    rd_kafka_topic_partition_list_add(l, r->topic, rp->partition)->offset =
        rp->next >= 0 ? rp->next : RD_KAFKA_OFFSET_BEGINNING;
    error = rd_kafka_incremental_assign(r->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (error) {
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                      "restore: assign %s [%" PRId32 "]: %s", r->topic,
                      rp->partition, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        return err;
    }
    rp->assigned = true;
    return TT_ERR_OK;
}

/* Takes rp's partition out of the assignment, if there. */
static tt_err_t unassign_part(tt_restore_t *r, struct rpart *rp,
                              char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_error_t *error;
    tt_err_t err;

    if (!rp->assigned)
        return TT_ERR_OK;
    l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, r->topic, rp->partition);
    error = rd_kafka_incremental_unassign(r->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    rp->assigned = false;
    if (!error)
        return TT_ERR_OK;
    err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                  "restore: unassign %s [%" PRId32 "]: %s", r->topic,
                  rp->partition, rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return err;
}

/* Commits the records applied so far with the checkpoints they reach. */
static tt_err_t flush(tt_restore_t *r, char *errstr, size_t errstr_size)
{
    tt_err_t err;
    bool any = false;

    for (size_t i = 0; i < r->n_parts; i++) {
        struct rpart *rp = &r->parts[i];

        if (!rp->touched)
            continue;
        err = tt_restore_put_checkpoint(r->b, rp->partition, rp->next, errstr,
                                        errstr_size);
        if (err)
            return err;
        rp->touched = false;
        any = true;
    }
    if (!any && tt_state_batch_count(r->b) == 0)
        return TT_ERR_OK;
    r->in_batch = 0;
    return tt_state_commit(r->st, r->b, errstr, errstr_size);
}

tt_err_t tt_restore_start(tt_restore_t *r, int32_t partition, char *errstr,
                          size_t errstr_size)
{
    struct rpart *rp = find(r, partition);
    int64_t off = -1;
    tt_err_t err;

    if (rp && !rp->done)
        return TT_ERR_OK;
    if (rp && (err = unassign_part(r, rp, errstr, errstr_size)))
        return err;
    if (tt_state_has_partition(r->st, partition)) {
        err = tt_restore_checkpoint(r->st, partition, &off, errstr,
                                    errstr_size);
        if (err)
            return err;
        /* States without a checkpoint cannot be trusted to match any
         * changelog offset: rebuild them. */
        if (off < 0) {
            err = tt_state_clear_partition(r->st, partition, errstr,
                                           errstr_size);
            if (err)
                return err;
        }
    }
    if (!rp) {
        if (r->n_parts == r->cap_parts) {
            size_t cap = r->cap_parts ? 2 * r->cap_parts : 16;
            struct rpart *p = realloc(r->parts, cap * sizeof(*p));

            if (!p)
                return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                               "restore: no memory");
            r->parts = p;
            r->cap_parts = cap;
        }
        rp = &r->parts[r->n_parts++];
        rp->assigned = false;
    }
    rp->partition = partition;
    rp->next = off;
    rp->touched = false;
    rp->done = false;
    return assign_part(r, rp, errstr, errstr_size);
}

static void remove_part(tt_restore_t *r, struct rpart *rp)
{
    *rp = r->parts[--r->n_parts];
}

tt_err_t tt_restore_cancel(tt_restore_t *r, int32_t partition, char *errstr,
                           size_t errstr_size)
{
    struct rpart *rp = find(r, partition);
    tt_err_t err;

    if (!rp)
        return TT_ERR_OK;
    err = flush(r, errstr, errstr_size);
    if (!err)
        err = unassign_part(r, rp, errstr, errstr_size);
    remove_part(r, rp);
    return err;
}

bool tt_restore_active(const tt_restore_t *r, int32_t partition)
{
    const struct rpart *rp = find(r, partition);

    return rp && !rp->done;
}

size_t tt_restore_n_active(const tt_restore_t *r)
{
    size_t n = 0;

    for (size_t i = 0; i < r->n_parts; i++)
        n += !r->parts[i].done;
    return n;
}

/* The changelog no longer holds the checkpoint: forget the checkpoint,
 * clear the partition (in that order, so that a crash between the two
 * cannot leave old states behind a valid-looking checkpoint), start over. */
static tt_err_t restart(tt_restore_t *r, struct rpart *rp, char *errstr,
                        size_t errstr_size)
{
    tt_err_t err = flush(r, errstr, errstr_size);

    if (!err)
        err = tt_restore_put_checkpoint(r->b, rp->partition, -1, errstr,
                                        errstr_size);
    if (!err)
        err = tt_state_commit(r->st, r->b, errstr, errstr_size);
    if (!err)
        err = tt_state_clear_partition(r->st, rp->partition, errstr,
                                       errstr_size);
    if (err)
        return err;
    rp->next = -1;
    r->stats.restarts++;
    err = unassign_part(r, rp, errstr, errstr_size);
    return err ? err : assign_part(r, rp, errstr, errstr_size);
}

static tt_err_t apply(tt_restore_t *r, struct rpart *rp,
                      const rd_kafka_message_t *m, char *errstr,
                      size_t errstr_size)
{
    int64_t uid;
    tt_err_t err;

    rp->next = m->offset + 1;
    rp->touched = true;
    if (tt_ukey_decode(m->key, m->key_len, &uid) != TT_ERR_OK) {
        r->stats.bad_records++;
        return TT_ERR_OK;
    }
    if (!m->payload) {
        err = tt_state_batch_delete(r->b, rp->partition, uid, errstr,
                                    errstr_size);
        r->stats.tombstones++;
    } else if (tt_ustate_decode(m->payload, m->len, &r->scratch, NULL, 0) !=
               TT_ERR_OK) {
        r->stats.bad_records++;
        return TT_ERR_OK;
    } else {
        err = tt_state_batch_put(r->b, rp->partition, uid, &r->scratch,
                                 errstr, errstr_size);
        r->stats.records++;
    }
    if (err)
        return err;
    if (++r->in_batch >= RESTORE_COMMIT_EVERY)
        return flush(r, errstr, errstr_size);
    return TT_ERR_OK;
}

tt_err_t tt_restore_step(tt_restore_t *r, int budget_ms, int32_t *done,
                         size_t cap, size_t *n_done, char *errstr,
                         size_t errstr_size)
{
    uint64_t deadline = tt_time_mono_ns() + (uint64_t)budget_ms * 1000000u;
    tt_err_t err = TT_ERR_OK;
    bool ended = false;

    *n_done = 0;
    while (tt_restore_n_active(r) > 0) {
        uint64_t now = tt_time_mono_ns();
        int wait = now >= deadline ? 0 : (int)((deadline - now) / 1000000u);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, wait);
        struct rpart *rp;

        if (!m)
            break;
        rp = m->rkt && !strcmp(rd_kafka_topic_name(m->rkt), r->topic)
                 ? find(r, m->partition)
                 : NULL;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (rp && !rp->done) {
                if (m->offset > rp->next)
                    rp->next = m->offset;
                rp->touched = true;
                rp->done = true;
                ended = true;
            }
        } else if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                   m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
            if (rp && !rp->done)
                err = restart(r, rp, errstr, errstr_size);
        } else if (m->err) {
            char fatal[256];

            if (rd_kafka_fatal_error(r->rk, fatal, sizeof(fatal)))
                err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                              "restore consumer: %s", fatal);
        } else if (rp && !rp->done) {
            err = apply(r, rp, m, errstr, errstr_size);
        }
        rd_kafka_message_destroy(m);
        if (err)
            return err;
        if (tt_time_mono_ns() >= deadline)
            break;
    }
    err = flush(r, errstr, errstr_size);
    if (err)
        return err;
    for (size_t i = 0; i < r->n_parts && ended; i++)
        if (r->parts[i].done &&
            (err = unassign_part(r, &r->parts[i], errstr, errstr_size)))
            return err;
    for (size_t i = 0; i < r->n_parts && *n_done < cap;) {
        if (r->parts[i].done) {
            done[(*n_done)++] = r->parts[i].partition;
            r->stats.completed++;
            remove_part(r, &r->parts[i]);
        } else {
            i++;
        }
    }
    return TT_ERR_OK;
}

void tt_restore_stats(const tt_restore_t *r, struct tt_restore_stats *stats)
{
    *stats = r->stats;
}
