#include "cli/tt_kread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tt_time.h"
#include "producers/tt_kconf.h"

struct tt_kread_s {
    rd_kafka_t *rk;
    char topic[256];
    int partitions;
    bool assigned;
    int64_t *start, *end;
    bool *done, *paused;
    int n_done;
    uint64_t transient;
};

/* Errors a reader waits out: librdkafka reconnects and retries. */
static bool transient(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
        return true;
    default:
        return false;
    }
}

static tt_err_t configure(rd_kafka_conf_t *conf,
                          const struct tt_conf_kafka *kc, char *errstr,
                          size_t errstr_size)
{
    /* What the reader's guarantees rest on: no commits, committed data
     * only, an end-of-partition event, and no silent jump when an offset
     * has gone (auto.offset.reset=latest would skip records unnoticed). */
    static const char *const pinned[][2] = {
        {"enable.auto.commit", "false"},
        {"isolation.level", "read_committed"},
        {"enable.partition.eof", "true"},
        {"auto.offset.reset", "error"},
    };
    char group[96];
    tt_err_t err;

    /* assign() needs a group.id; this one never joins (no subscribe) and
     * never commits. */
    snprintf(group, sizeof(group), "twotime-kread-%ld-%llu", (long)getpid(),
             (unsigned long long)tt_time_mono_ns());
    err = tt_kconf_set(conf, "group.id", group, errstr, errstr_size);
    for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]) && !err; i++)
        err = tt_kconf_require_role(conf, kc, TT_KCONF_CONSUMER, pinned[i][0],
                                    pinned[i][1],
                                    "the topic reader (dump, produce "
                                    "--resume)",
                                    errstr, errstr_size);
    return err;
}

tt_err_t tt_kread_new(tt_kread_t **out, const struct tt_conf_kafka *kc,
                      const char *topic, int partitions, char *errstr,
                      size_t errstr_size)
{
    rd_kafka_conf_t *conf = NULL;
    char rderr[512];
    tt_kread_t *r;
    tt_err_t err;

    *out = NULL;
    if (partitions < 1)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "%s: no partitions", topic);
    r = calloc(1, sizeof(*r));
    if (!r)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    snprintf(r->topic, sizeof(r->topic), "%s", topic);
    r->partitions = partitions;
    r->start = calloc((size_t)partitions, sizeof(*r->start));
    r->end = calloc((size_t)partitions, sizeof(*r->end));
    r->done = calloc((size_t)partitions, sizeof(*r->done));
    r->paused = calloc((size_t)partitions, sizeof(*r->paused));
    if (!r->start || !r->end || !r->done || !r->paused) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto fail;
    }
    err = tt_kconf_new_role(&conf, kc, TT_KCONF_CONSUMER, errstr,
                            errstr_size);
    if (!err)
        err = configure(conf, kc, errstr, errstr_size);
    if (err)
        goto fail;
    r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rderr, sizeof(rderr));
    if (!r->rk) {
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                      "cannot create a consumer: %s", rderr);
        goto fail;
    }
    conf = NULL;
    rd_kafka_poll_set_consumer(r->rk);
    *out = r;
    return TT_ERR_OK;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    tt_kread_destroy(r);
    return err;
}

void tt_kread_destroy(tt_kread_t *r)
{
    if (!r)
        return;
    if (r->rk) {
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
    }
    free(r->start);
    free(r->end);
    free(r->done);
    free(r->paused);
    free(r);
}

int tt_kread_partitions(const tt_kread_t *r)
{
    return r->partitions;
}

tt_err_t tt_kread_watermarks(tt_kread_t *r, int64_t *lo, int64_t *hi,
                             int timeout_ms, char *errstr,
                             size_t errstr_size)
{
    for (int p = 0; p < r->partitions; p++) {
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
            r->rk, r->topic, p, &lo[p], &hi[p], timeout_ms);

        if (e)
            return tt_errf(e == RD_KAFKA_RESP_ERR__TIMED_OUT ? TT_ERR_TIMEOUT
                                                             : TT_ERR_KAFKA,
                           errstr, errstr_size,
                           "%s [%d]: cannot read the end offsets: %s",
                           r->topic, p, rd_kafka_err2str(e));
    }
    return TT_ERR_OK;
}

static rd_kafka_topic_partition_list_t *all_partitions(tt_kread_t *r,
                                                       int64_t offset)
{
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new(r->partitions);

    for (int p = 0; p < r->partitions; p++)
        rd_kafka_topic_partition_list_add(l, r->topic, p)->offset = offset;
    return l;
}

tt_err_t tt_kread_offsets_for_time(tt_kread_t *r, int64_t ts_ms,
                                   int64_t *offsets, int timeout_ms,
                                   char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = all_partitions(r, ts_ms);
    rd_kafka_resp_err_t e;
    tt_err_t err = TT_ERR_OK;

    e = rd_kafka_offsets_for_times(r->rk, l, timeout_ms);
    if (e) {
        err = tt_errf(e == RD_KAFKA_RESP_ERR__TIMED_OUT ? TT_ERR_TIMEOUT
                                                        : TT_ERR_KAFKA,
                      errstr, errstr_size,
                      "%s: cannot look up offsets for time %lld: %s",
                      r->topic, (long long)ts_ms, rd_kafka_err2str(e));
        goto out;
    }
    for (int i = 0; i < l->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &l->elems[i];

        if (tp->err) {
            err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                          "%s [%d]: cannot look up offsets for time %lld: "
                          "%s",
                          r->topic, (int)tp->partition, (long long)ts_ms,
                          rd_kafka_err2str(tp->err));
            goto out;
        }
        if (tp->partition >= 0 && tp->partition < r->partitions)
            offsets[tp->partition] = tp->offset < 0 ? -1 : tp->offset;
    }
out:
    rd_kafka_topic_partition_list_destroy(l);
    return err;
}

tt_err_t tt_kread_pause(tt_kread_t *r, int p, bool pause, char *errstr,
                        size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t e;

    /* A done partition stays paused: nothing more is read from it. */
    if (p < 0 || p >= r->partitions || r->paused[p] == pause ||
        (!pause && r->done[p]))
        return TT_ERR_OK;
    l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, r->topic, p);
    e = pause ? rd_kafka_pause_partitions(r->rk, l)
              : rd_kafka_resume_partitions(r->rk, l);
    if (!e)
        e = l->elems[0].err;
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size, "%s [%d]: %s: %s",
                       r->topic, p, pause ? "pause" : "resume",
                       rd_kafka_err2str(e));
    r->paused[p] = pause;
    return TT_ERR_OK;
}

/* Marks p done and stops fetching it. */
static void finish(tt_kread_t *r, int p)
{
    if (r->done[p])
        return;
    r->done[p] = true;
    r->n_done++;
    /* Best effort: a partition left running only costs fetches. */
    tt_kread_pause(r, p, true, NULL, 0);
}

tt_err_t tt_kread_assign(tt_kread_t *r, const int64_t *start,
                         const int64_t *end, char *errstr,
                         size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t e;

    if (r->assigned)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "%s: already assigned", r->topic);
    l = rd_kafka_topic_partition_list_new(r->partitions);
    for (int p = 0; p < r->partitions; p++) {
        r->start[p] = start[p];
        r->end[p] = end[p];
        r->done[p] = start[p] >= end[p];
        r->n_done += r->done[p];
        if (!r->done[p])
            rd_kafka_topic_partition_list_add(l, r->topic, p)->offset =
                start[p];
    }
    e = l->cnt ? rd_kafka_assign(r->rk, l) : RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size, "%s: assign: %s",
                       r->topic, rd_kafka_err2str(e));
    r->assigned = true;
    return TT_ERR_OK;
}

/* After a quiet poll: a partition whose position reached its end (past
 * trailing control records) is done. */
static void check_positions(tt_kread_t *r)
{
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new(r->partitions);

    for (int p = 0; p < r->partitions; p++)
        if (!r->done[p] && !r->paused[p])
            rd_kafka_topic_partition_list_add(l, r->topic, p);
    if (l->cnt && !rd_kafka_position(r->rk, l)) {
        for (int i = 0; i < l->cnt; i++) {
            const rd_kafka_topic_partition_t *tp = &l->elems[i];

            if (!tp->err && tp->offset >= 0 &&
                tp->offset >= r->end[tp->partition])
                finish(r, tp->partition);
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

tt_err_t tt_kread_poll(tt_kread_t *r, rd_kafka_message_t **msg,
                       int timeout_ms, char *errstr, size_t errstr_size)
{
    rd_kafka_message_t *m;
    char fatal[256];
    int p;

    *msg = NULL;
    if (rd_kafka_fatal_error(r->rk, fatal, sizeof(fatal)))
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size, "%s: %s", r->topic,
                       fatal);
    m = rd_kafka_consumer_poll(r->rk, timeout_ms);
    if (!m) {
        check_positions(r);
        return TT_ERR_OK;
    }
    p = m->partition;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (p >= 0 && p < r->partitions && m->offset >= r->end[p])
            finish(r, p);
        rd_kafka_message_destroy(m);
        return TT_ERR_OK;
    }
    if (m->err) {
        tt_err_t err = TT_ERR_OK;

        if (transient(m->err))
            r->transient++;
        else
            err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size, "%s [%d]: %s",
                          r->topic, p, rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return err;
    }
    if (p < 0 || p >= r->partitions || r->done[p] || m->offset < r->start[p] ||
        m->offset >= r->end[p]) {
        if (p >= 0 && p < r->partitions && m->offset >= r->end[p])
            finish(r, p);
        rd_kafka_message_destroy(m);
        return TT_ERR_OK;
    }
    if (m->offset + 1 >= r->end[p])
        finish(r, p);
    *msg = m;
    return TT_ERR_OK;
}

bool tt_kread_done(const tt_kread_t *r, int p)
{
    return p >= 0 && p < r->partitions && r->done[p];
}

bool tt_kread_all_done(const tt_kread_t *r)
{
    return r->n_done == r->partitions;
}

int tt_kread_done_count(const tt_kread_t *r)
{
    return r->n_done;
}

uint64_t tt_kread_transient_errors(const tt_kread_t *r)
{
    return r->transient;
}
