/*
 * tt_retrain_log: the input topic, from its earliest to its end offsets,
 * into a dataset split with per-partition cutoffs.
 */
#include "cli/tt_retrain_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "common/tt_time.h"
#include "producers/tt_kconf.h"
#include "schemas/tt_codec.h"

#define POLL_MS 200
#define META_TIMEOUT_MS 10000
#define STALL_S 60.0
#define PROGRESS_S 5.0

/* One event as read, with its offset (partition: the array it is in). */
struct pev {
    int64_t user, item, ts, offset;
    int32_t category;
};

struct ppart {
    struct pev *ev;
    size_t n, cap;
    bool done;
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static tt_err_t new_consumer(rd_kafka_t **out, const struct tt_conf_kafka *kc,
                             char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = NULL;
    char group[300], rderr[512];
    tt_err_t err;

    err = tt_kconf_new_role(&conf, kc, TT_KCONF_CONSUMER, errstr,
                            errstr_size);
    if (err)
        return err;
    snprintf(group, sizeof(group), "%s.retrain", kc->group_id);
    if ((err = tt_kconf_set(conf, "group.id", group, errstr, errstr_size)) ||
        (err = tt_kconf_require_role(conf, kc, TT_KCONF_CONSUMER,
                                     "isolation.level", "read_committed",
                                     "the retrain job's reader", errstr,
                                     errstr_size)) ||
        (err = tt_kconf_set(conf, "enable.partition.eof", "true", errstr,
                            errstr_size)) ||
        (err = tt_kconf_set(conf, "enable.auto.commit", "false", errstr,
                            errstr_size)) ||
        (err = tt_kconf_set(conf, "auto.offset.reset", "earliest", errstr,
                            errstr_size))) {
        rd_kafka_conf_destroy(conf);
        return err;
    }
    *out = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rderr, sizeof(rderr));
    if (!*out) {
        rd_kafka_conf_destroy(conf);
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                       "retrain reader: %s", rderr);
    }
    rd_kafka_poll_set_consumer(*out);
    return TT_ERR_OK;
}

static tt_err_t topic_parts(rd_kafka_t *rk, const char *topic, int32_t *n,
                            char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t kerr;
    tt_err_t err = TT_ERR_OK;

    if (!rkt)
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size, "topic %s: %s",
                       topic, rd_kafka_err2str(rd_kafka_last_error()));
    kerr = rd_kafka_metadata(rk, 0, rkt, &md, META_TIMEOUT_MS);
    if (kerr)
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                      "metadata of %s: %s", topic, rd_kafka_err2str(kerr));
    else if (md->topic_cnt != 1 || md->topics[0].err ||
             md->topics[0].partition_cnt < 1)
        err = tt_errf(TT_ERR_NOTFOUND, errstr, errstr_size,
                      "input topic %s does not exist", topic);
    else
        *n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return err;
}

static void pause_one(rd_kafka_t *rk, const char *topic, int32_t p)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);

    rd_kafka_topic_partition_list_add(l, topic, p);
    rd_kafka_pause_partitions(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

static tt_err_t append(struct ppart *pp, const struct tt_event *ev,
                       int64_t offset)
{
    if (pp->n == pp->cap) {
        size_t cap = pp->cap ? 2 * pp->cap : 4096;
        struct pev *e = realloc(pp->ev, cap * sizeof(*e));

        if (!e)
            return TT_ERR_NOMEM;
        pp->ev = e;
        pp->cap = cap;
    }
    pp->ev[pp->n].user = ev->user_id;
    pp->ev[pp->n].item = ev->item_id;
    pp->ev[pp->n].ts = ev->ts_ms;
    pp->ev[pp->n].offset = offset;
    pp->ev[pp->n].category = ev->category;
    pp->n++;
    return TT_ERR_OK;
}

/* Reads every partition to tl->end into pp[]. */
static tt_err_t read_all(struct tt_retrain_log *tl, rd_kafka_t *rk,
                         const char *topic, struct ppart *pp, char *errstr,
                         size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t kerr;
    tt_codec_t *codec = NULL;
    uint64_t t0 = tt_time_mono_ns(), last_progress = t0, last_move = t0;
    int32_t left = 0;
    char e[256];
    tt_err_t err;

    err = tt_codec_new(&codec, errstr, errstr_size);
    if (err)
        return err;
    l = rd_kafka_topic_partition_list_new(tl->n_parts);
    for (int32_t p = 0; p < tl->n_parts; p++) {
        pp[p].done = tl->end[p] <= tl->low[p];
        left += !pp[p].done;
        rd_kafka_topic_partition_list_add(l, topic, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    }
    kerr = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (kerr) {
        tt_codec_destroy(codec);
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size, "assign %s: %s",
                       topic, rd_kafka_err2str(kerr));
    }
    while (left > 0) {
        rd_kafka_message_t *m;
        uint64_t now = tt_time_mono_ns();
        int32_t p;

        if (tl->stopping && tl->stopping()) {
            err = tt_errf(TT_ERR_INTERRUPTED, errstr, errstr_size,
                          "interrupted while reading %s", topic);
            break;
        }
        if (tt_time_secs(last_move, now) > STALL_S) {
            err = tt_errf(TT_ERR_TIMEOUT, errstr, errstr_size,
                          "no progress reading %s for %.0f s (%d "
                          "partition(s) not at their end)",
                          topic, STALL_S, (int)left);
            break;
        }
        if (tt_time_secs(last_progress, now) > PROGRESS_S) {
            last_progress = now;
            tt_log_info(tl->log, "retrain",
                        "read %" PRIu64 " events of %s (%.0f/s), %d "
                        "partition(s) to go",
                        tl->events, topic,
                        (double)tl->events / tt_time_secs(t0, now),
                        (int)left);
        }
        m = rd_kafka_consumer_poll(rk, POLL_MS);
        if (!m)
            continue;
        p = m->partition;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (p >= 0 && p < tl->n_parts && !pp[p].done &&
                m->offset >= tl->end[p]) {
                pp[p].done = true;
                left--;
            }
        } else if (m->err) {
            char fatal[256];

            if (rd_kafka_fatal_error(rk, fatal, sizeof(fatal)))
                err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                              "reading %s: %s", topic, fatal);
            else
                tt_log_debug(tl->log, "retrain", "reading %s: %s", topic,
                             rd_kafka_message_errstr(m));
        } else if (p >= 0 && p < tl->n_parts && !pp[p].done) {
            struct tt_event ev;

            last_move = tt_time_mono_ns();
            if (m->offset < tl->end[p]) {
                if (!m->payload ||
                    tt_codec_decode_event(codec, m->payload, m->len, &ev, e,
                                          sizeof(e)) != TT_ERR_OK)
                    tl->skipped++;
                else if (append(&pp[p], &ev, m->offset) != TT_ERR_OK)
                    err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                                  "out of memory after %" PRIu64 " events",
                                  tl->events);
                else
                    tl->events++;
            }
            if (m->offset + 1 >= tl->end[p]) {
                pp[p].done = true;
                left--;
                pause_one(rk, topic, p);
            }
        }
        rd_kafka_message_destroy(m);
        if (err)
            break;
    }
    rd_kafka_assign(rk, NULL);
    tt_codec_destroy(codec);
    tl->seconds = tt_time_secs(t0, tt_time_mono_ns());
    return err;
}

/* T, the cutoffs, the clamped events into ds, and the split. */
static tt_err_t build(struct tt_retrain_log *tl, struct ppart *pp,
                      double train_frac, double valid_frac,
                      struct tt_dataset *ds, struct tt_split *split,
                      char *errstr, size_t errstr_size)
{
    size_t n = (size_t)tl->events, k, at = 0, n_train = 0;
    int64_t *ts, t_cut;

    if (n == 0)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "the input topic holds no events");
    ts = malloc(n * sizeof(*ts));
    if (!ts)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    for (int32_t p = 0; p < tl->n_parts; p++)
        for (size_t i = 0; i < pp[p].n; i++)
            ts[at++] = pp[p].ev[i].ts;
    qsort(ts, n, sizeof(*ts), cmp_i64);
    /* the position tt_split_compute gives the end of training */
    k = (size_t)((double)n * train_frac * (1.0 + 1e-12));
    t_cut = k < n ? ts[k] : INT64_MAX;
    free(ts);
    for (int32_t p = 0; p < tl->n_parts; p++) {
        int64_t cut = tl->end[p];

        for (size_t i = 0; i < pp[p].n; i++)
            if (pp[p].ev[i].ts >= t_cut) {
                cut = pp[p].ev[i].offset;
                break;
            }
        tl->cutoffs[p].partition = p;
        tl->cutoffs[p].offset = cut;
        for (size_t i = 0; i < pp[p].n; i++) {
            const struct pev *e = &pp[p].ev[i];
            struct tt_event ev;

            ev.user_id = e->user;
            ev.item_id = e->item;
            ev.ts_ms = e->ts;
            ev.category = e->category;
            if (e->offset < cut) {
                n_train++;
            } else if (ev.ts_ms < t_cut) {
                ev.ts_ms = t_cut;
                tl->moved++;
            }
            if (tt_dataset_add(ds, &ev) != TT_ERR_OK)
                return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                               "out of memory");
        }
        free(pp[p].ev);
        pp[p].ev = NULL;
        pp[p].n = pp[p].cap = 0;
    }
    if (tt_dataset_finish(ds) != TT_ERR_OK)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    split->train_end = n_train;
    split->valid_end =
        (size_t)((double)n * (train_frac + valid_frac) * (1.0 + 1e-12));
    if (split->valid_end > n)
        split->valid_end = n;
    if (split->valid_end < split->train_end)
        split->valid_end = split->train_end;
    if (n_train == 0)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "%zu events leave no training part at %.2f", n,
                       train_frac);
    return TT_ERR_OK;
}

tt_err_t tt_retrain_log_read(struct tt_retrain_log *tl,
                             const struct tt_conf_kafka *kc,
                             double train_frac, double valid_frac,
                             struct tt_dataset *ds, struct tt_split *split,
                             char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk = NULL;
    struct ppart *pp = NULL;
    int32_t n = 0;
    tt_err_t err;

    err = new_consumer(&rk, kc, errstr, errstr_size);
    if (err)
        return err;
    err = topic_parts(rk, kc->input_topic, &n, errstr, errstr_size);
    if (err)
        goto out;
    tl->n_parts = n;
    tl->low = calloc((size_t)n, sizeof(*tl->low));
    tl->end = calloc((size_t)n, sizeof(*tl->end));
    tl->cutoffs = calloc((size_t)n, sizeof(*tl->cutoffs));
    pp = calloc((size_t)n, sizeof(*pp));
    if (!tl->low || !tl->end || !tl->cutoffs || !pp) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    /* A read_committed consumer's watermark query returns the last stable
     * offset (librdkafka >= 1.7.1 honours isolation.level). */
    for (int32_t p = 0; p < n && !err; p++) {
        rd_kafka_resp_err_t kerr = rd_kafka_query_watermark_offsets(
            rk, kc->input_topic, p, &tl->low[p], &tl->end[p],
            META_TIMEOUT_MS);

        if (kerr)
            err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                          "end offsets of %s [%d]: %s", kc->input_topic,
                          (int)p, rd_kafka_err2str(kerr));
    }
    if (!err)
        err = read_all(tl, rk, kc->input_topic, pp, errstr, errstr_size);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    rk = NULL;
    if (err)
        goto out;
    tt_log_info(tl->log, "retrain",
                "read %" PRIu64 " events of %s (%d partitions, up to the end "
                "offsets seen at the start) in %.2f s; %" PRIu64
                " undecodable skipped",
                tl->events, kc->input_topic, (int)n, tl->seconds, tl->skipped);
    err = build(tl, pp, train_frac, valid_frac, ds, split, errstr,
                errstr_size);
    if (!err && tl->moved)
        tt_log_info(tl->log, "retrain",
                    "%" PRIu64 " event(s) after their partition's cutoff "
                    "had an earlier time; moved to the cutoff time",
                    tl->moved);
out:
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    for (int32_t p = 0; pp && p < n; p++)
        free(pp[p].ev);
    free(pp);
    return err;
}

void tt_retrain_log_release(struct tt_retrain_log *tl)
{
    free(tl->cutoffs);
    free(tl->low);
    free(tl->end);
    tl->cutoffs = NULL;
    tl->low = tl->end = NULL;
    tl->n_parts = 0;
}
