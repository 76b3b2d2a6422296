/*
 * tt_modelsub: reading the model topic (catch-up, then a follow thread)
 * into the assembler of tt_modelsub_asm.c.
 */
#include "consumers/tt_modelsub.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "common/tt_time.h"
#include "producers/tt_kconf.h"

#define POLL_MS 200
#define TOPIC_RETRY_NS (3 * UINT64_C(1000000000))
#define META_TIMEOUT_MS 5000

struct kentry {
    int32_t partition;
    bool live;
    char key[TT_MODELSUB_KEY_MAX];
};

struct tt_modelsub_s {
    rd_kafka_t *rk;
    char *topic;
    tt_log_t *log;
    tt_modelsub_asm_t *as;
    int32_t n_parts;     /* 0 until assigned */
    int64_t *next;       /* [n_parts] next offset to read, -1 unknown */
    struct kentry *keys;
    size_t n_keys, cap_keys;
    tt_model_t *held;    /* catch-up: newest complete version */
    bool caught_up;
    /* following */
    pthread_t th;
    bool thread;
    atomic_bool stop;
    tt_modelsub_fn fn;
    void *ctx;
    uint64_t last_topic_try;
    uint64_t logged_drops;  /* drops already logged */
    pthread_mutex_t mu;  /* guards st */
    struct tt_modelsub_stats st;
};

tt_err_t tt_modelsub_new(tt_modelsub_t **out, const struct tt_conf_kafka *kc,
                         const struct tt_modelsub_opts *opts, char *errstr,
                         size_t errstr_size)
{
    rd_kafka_conf_t *conf = NULL;
    tt_modelsub_t *s;
    char group[300], rderr[512];
    tt_err_t err;

    *out = NULL;
    if (!opts->topic || !*opts->topic)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "model follower: no topic");
    s = calloc(1, sizeof(*s));
    if (!s || !(s->topic = strdup(opts->topic))) {
        free(s);
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "model follower: no memory");
    }
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->stop, false);
    s->log = opts->log;
    err = tt_modelsub_asm_new(&s->as, opts->min_version, errstr, errstr_size);
    if (err)
        goto fail;
    tt_modelsub_asm_stats(s->as, &s->st);
    err = tt_kconf_new_role(&conf, kc, TT_KCONF_CONSUMER, errstr,
                            errstr_size);
    if (err)
        goto fail;
    /* Assigned partitions only: the group id is never joined nor
     * committed to.  read_committed: records of aborted or open
     * publications are never seen, and the end of a partition is its last
     * stable offset. */
    snprintf(group, sizeof(group), "%s.models", kc->group_id);
    if ((err = tt_kconf_set(conf, "group.id", group, errstr, errstr_size)) ||
        (err = tt_kconf_require_role(conf, kc, TT_KCONF_CONSUMER,
                                     "isolation.level", "read_committed",
                                     "the model follower (tt_modelsub)",
                                     errstr, errstr_size)) ||
        (err = tt_kconf_set(conf, "enable.partition.eof", "true", errstr,
                            errstr_size)) ||
        (err = tt_kconf_set(conf, "enable.auto.commit", "false", errstr,
                            errstr_size)) ||
        (err = tt_kconf_set(conf, "auto.offset.reset", "earliest", errstr,
                            errstr_size)) ||
        (err = tt_kconf_default_role(conf, kc, TT_KCONF_CONSUMER,
                                     "fetch.wait.max.ms", "100", errstr,
                                     errstr_size)))
        goto fail;
    s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rderr, sizeof(rderr));
    if (!s->rk) {
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                      "model follower: %s", rderr);
        goto fail;
    }
    conf = NULL;
    rd_kafka_poll_set_consumer(s->rk);
    *out = s;
    return TT_ERR_OK;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    tt_modelsub_destroy(s);
    return err;
}

/* The partition count of the topic, or TT_ERR_NOTFOUND. */
static tt_err_t topic_parts(tt_modelsub_t *s, int32_t *n, char *errstr,
                            size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(s->rk, s->topic, NULL);
    rd_kafka_resp_err_t kerr;
    tt_err_t err = TT_ERR_OK;

    if (!rkt)
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                       "model follower: topic \"%s\": %s", s->topic,
                       rd_kafka_err2str(rd_kafka_last_error()));
    kerr = rd_kafka_metadata(s->rk, 0, rkt, &md, META_TIMEOUT_MS);
    if (kerr)
        err = tt_errf(kerr == RD_KAFKA_RESP_ERR__TIMED_OUT ? TT_ERR_TIMEOUT
                                                           : TT_ERR_KAFKA,
                      errstr, errstr_size, "model follower: metadata: %s",
                      rd_kafka_err2str(kerr));
    else if (md->topic_cnt != 1 || md->topics[0].err ||
             md->topics[0].partition_cnt < 1)
        err = tt_errf(TT_ERR_NOTFOUND, errstr, errstr_size,
                      "model topic \"%s\" does not exist", s->topic);
    else
        *n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return err;
}

/* Assigns every partition from the beginning. */
static tt_err_t assign_all(tt_modelsub_t *s, int32_t n, char *errstr,
                           size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new(n);
    rd_kafka_resp_err_t kerr;

    s->next = malloc((size_t)n * sizeof(*s->next));
    if (!s->next) {
        rd_kafka_topic_partition_list_destroy(l);
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "model follower: no memory");
    }
    for (int32_t p = 0; p < n; p++) {
        rd_kafka_topic_partition_list_add(l, s->topic, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
        s->next[p] = -1;
    }
    kerr = rd_kafka_assign(s->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (kerr) {
        free(s->next);
        s->next = NULL;
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                       "model follower: assign: %s", rd_kafka_err2str(kerr));
    }
    s->n_parts = n;
    return TT_ERR_OK;
}

static void note_key(tt_modelsub_t *s, const rd_kafka_message_t *m)
{
    size_t i;

    if (!m->key || m->key_len == 0 || m->key_len >= TT_MODELSUB_KEY_MAX)
        return;
    for (i = 0; i < s->n_keys; i++)
        if (s->keys[i].partition == m->partition &&
            strlen(s->keys[i].key) == m->key_len &&
            !memcmp(s->keys[i].key, m->key, m->key_len))
            break;
    if (i == s->n_keys) {
        if (s->n_keys == s->cap_keys) {
            size_t cap = s->cap_keys ? 2 * s->cap_keys : 64;
            struct kentry *k = realloc(s->keys, cap * sizeof(*k));

            if (!k)
                return; /* only tombstones are lost: compaction's work */
            s->keys = k;
            s->cap_keys = cap;
        }
        memset(&s->keys[i], 0, sizeof(s->keys[i]));
        s->keys[i].partition = m->partition;
        memcpy(s->keys[i].key, m->key, m->key_len);
        s->n_keys++;
    }
    s->keys[i].live = m->payload != NULL;
}

static void publish_stats(tt_modelsub_t *s)
{
    pthread_mutex_lock(&s->mu);
    tt_modelsub_asm_stats(s->as, &s->st);
    pthread_mutex_unlock(&s->mu);
}

/* A verified version: to the follow callback, or held (catch-up). */
static void deliver(tt_modelsub_t *s, tt_model_t *m)
{
    struct tt_model_info info;
    struct tt_modelsub_stats st;

    tt_model_get_info(m, &info);
    tt_modelsub_asm_stats(s->as, &st);
    tt_log_info(s->log, "models",
                "model version %" PRIu64 " assembled and verified: D=%u, "
                "%u items, %u active users, %u cutoffs (%.2f s; %.1f MiB "
                "buffered at most)",
                info.version, info.dim, info.n_items, info.n_active,
                info.n_cutoffs, st.build_seconds,
                (double)st.peak_buffered_bytes / (1024.0 * 1024.0));
    if (s->fn) {
        s->fn(s->ctx, &m);
        tt_model_destroy(m);
        return;
    }
    tt_model_destroy(s->held);
    s->held = m;
}

/* Logs versions the assembler dropped before they completed. */
static void log_drops(tt_modelsub_t *s)
{
    struct tt_modelsub_stats st;
    uint64_t drops;

    tt_modelsub_asm_stats(s->as, &st);
    drops = st.versions_incomplete + st.versions_superseded;
    if (drops == s->logged_drops)
        return;
    s->logged_drops = drops;
    if (st.versions_incomplete)
        tt_log_warn(s->log, "models", "%s (incomplete so far: %" PRIu64
                    ", superseded: %" PRIu64 ")",
                    st.last_drop, st.versions_incomplete,
                    st.versions_superseded);
    else
        tt_log_info(s->log, "models", "%s", st.last_drop);
}

/* One message or event of the consumer; only fatal errors are returned. */
static tt_err_t handle(tt_modelsub_t *s, const rd_kafka_message_t *m,
                       char *errstr, size_t errstr_size)
{
    tt_model_t *model = NULL;
    char why[512], fatal[256];
    tt_err_t err;

    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (m->partition >= 0 && m->partition < s->n_parts &&
            m->offset > s->next[m->partition])
            s->next[m->partition] = m->offset;
        return TT_ERR_OK;
    }
    if (m->err) {
        if (rd_kafka_fatal_error(s->rk, fatal, sizeof(fatal)))
            return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                           "model follower: %s", fatal);
        tt_log_debug(s->log, "models", "consumer: %s",
                     rd_kafka_message_errstr(m));
        return TT_ERR_OK;
    }
    if (m->partition < 0 || m->partition >= s->n_parts)
        return TT_ERR_OK;
    s->next[m->partition] = m->offset + 1;
    note_key(s, m);
    err = tt_modelsub_asm_add(s->as, m->payload, m->payload ? m->len : 0,
                              &model, why, sizeof(why));
    if (err == TT_ERR_NOMEM)
        return tt_errf(err, errstr, errstr_size, "%s", why);
    if (err)
        tt_log_warn(s->log, "models", "%s [%d] offset %" PRId64 ": %s",
                    s->topic, (int)m->partition, m->offset, why);
    log_drops(s);
    if (model)
        deliver(s, model);
    return TT_ERR_OK;
}

/* Whether every partition has been read up to `high`. */
static bool reached(const tt_modelsub_t *s, const int64_t *low,
                    const int64_t *high)
{
    for (int32_t p = 0; p < s->n_parts; p++)
        if (high[p] > low[p] && s->next[p] < high[p])
            return false;
    return true;
}

/* The end (last stable) offsets of every partition now. */
static tt_err_t end_offsets(tt_modelsub_t *s, int64_t *low, int64_t *high,
                            char *errstr, size_t errstr_size)
{
    for (int32_t p = 0; p < s->n_parts; p++) {
        rd_kafka_resp_err_t kerr = rd_kafka_query_watermark_offsets(
            s->rk, s->topic, p, &low[p], &high[p], META_TIMEOUT_MS);

        if (kerr)
            return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                           "model follower: end offsets of %s [%d]: %s",
                           s->topic, (int)p, rd_kafka_err2str(kerr));
    }
    return TT_ERR_OK;
}

/* Pauses (or resumes) every partition but 0. */
static void others(tt_modelsub_t *s, bool pause)
{
    rd_kafka_topic_partition_list_t *l;

    if (s->n_parts < 2)
        return;
    l = rd_kafka_topic_partition_list_new(s->n_parts - 1);
    for (int32_t p = 1; p < s->n_parts; p++)
        rd_kafka_topic_partition_list_add(l, s->topic, p);
    if (pause)
        rd_kafka_pause_partitions(s->rk, l);
    else
        rd_kafka_resume_partitions(s->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Reads every partition up to high[] (or a timeout / fatal error). */
static tt_err_t read_to(tt_modelsub_t *s, const int64_t *low,
                        const int64_t *high, uint64_t deadline,
                        char *errstr, size_t errstr_size)
{
    tt_err_t err = TT_ERR_OK;

    while (!err && !reached(s, low, high)) {
        rd_kafka_message_t *m;

        if (tt_time_mono_ns() > deadline)
            return tt_errf(TT_ERR_TIMEOUT, errstr, errstr_size,
                           "model follower: %s not read to its end in time",
                           s->topic);
        m = rd_kafka_consumer_poll(s->rk, POLL_MS);
        if (!m)
            continue;
        err = handle(s, m, errstr, errstr_size);
        rd_kafka_message_destroy(m);
    }
    return err;
}

tt_err_t tt_modelsub_catch_up(tt_modelsub_t *s, int timeout_ms,
                              tt_model_t **out, char *errstr,
                              size_t errstr_size)
{
    uint64_t now = tt_time_mono_ns(), grace;
    uint64_t deadline = now + (uint64_t)timeout_ms * 1000000u;
    int64_t *low = NULL, *high = NULL;
    int32_t n = 0;
    tt_err_t err;

    *out = NULL;
    if (s->thread || s->n_parts)
        return tt_errf(TT_ERR_STATE, errstr, errstr_size,
                       "model follower: catch-up after start");
    err = topic_parts(s, &n, errstr, errstr_size);
    if (err)
        return err;
    low = calloc((size_t)n, sizeof(*low));
    high = calloc((size_t)n, sizeof(*high));
    if (!low || !high) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                      "model follower: no memory");
        goto out;
    }
    err = assign_all(s, n, errstr, errstr_size);
    if (!err)
        err = end_offsets(s, low, high, errstr, errstr_size);
    /* Partition 0 first: it holds every version's HEADER, dense tensors,
     * items and COMMIT in publication order, so the assembler knows which
     * versions are committed before the USERS records of the others come
     * (what it keeps when the topic holds many versions). */
    if (!err && n > 1) {
        int64_t high0 = high[0];

        others(s, true);
        for (int32_t p = 1; p < n; p++)
            high[p] = low[p];
        err = read_to(s, low, high, deadline, errstr, errstr_size);
        others(s, false);
        if (!err)
            err = end_offsets(s, low, high, errstr, errstr_size);
        if (!err && high[0] < high0)
            high[0] = high0;
    }
    if (!err)
        err = read_to(s, low, high, deadline, errstr, errstr_size);
    /* A version whose COMMIT came while some of its records did not: the
     * transaction markers of a publication that just committed may not be
     * on every partition yet.  Read the new ends for a little while. */
    grace = tt_time_mono_ns() + (uint64_t)TT_MODELSUB_GRACE_MS * 1000000u;
    while (!err && tt_modelsub_asm_waiting(s->as) &&
           tt_time_mono_ns() < grace) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, POLL_MS);

        if (m) {
            err = handle(s, m, errstr, errstr_size);
            rd_kafka_message_destroy(m);
        }
        if (!err)
            err = end_offsets(s, low, high, errstr, errstr_size);
        if (!err)
            err = read_to(s, low, high, deadline, errstr, errstr_size);
    }
    if (!err && tt_modelsub_asm_waiting(s->as))
        tt_log_warn(s->log, "models",
                    "a version of %s has its COMMIT but not all its "
                    "records after %d ms; it is not used unless they come",
                    s->topic, TT_MODELSUB_GRACE_MS);
    if (!err) {
        s->caught_up = true;
        *out = s->held;
        s->held = NULL;
    }
out:
    publish_stats(s);
    free(low);
    free(high);
    return err;
}

static void *follow_main(void *arg)
{
    tt_modelsub_t *s = arg;
    char errstr[512];

    while (!atomic_load(&s->stop)) {
        rd_kafka_message_t *m;
        tt_err_t err;

        if (s->n_parts == 0) {
            uint64_t now = tt_time_mono_ns();
            int32_t n;

            if (s->last_topic_try && now - s->last_topic_try < TOPIC_RETRY_NS) {
                rd_kafka_poll(s->rk, POLL_MS);
                continue;
            }
            s->last_topic_try = now;
            if (topic_parts(s, &n, errstr, sizeof(errstr)) == TT_ERR_OK &&
                assign_all(s, n, errstr, sizeof(errstr)) == TT_ERR_OK)
                tt_log_info(s->log, "models", "following %s (%d partitions)",
                            s->topic, (int)n);
            continue;
        }
        m = rd_kafka_consumer_poll(s->rk, POLL_MS);
        if (m) {
            err = handle(s, m, errstr, sizeof(errstr));
            rd_kafka_message_destroy(m);
            if (err) {
                tt_log_error(s->log, "models",
                             "%s; no more model versions will be followed",
                             errstr);
                break;
            }
        }
        publish_stats(s);
    }
    return NULL;
}

tt_err_t tt_modelsub_follow(tt_modelsub_t *s, tt_modelsub_fn fn, void *ctx,
                            char *errstr, size_t errstr_size)
{
    if (s->thread)
        return tt_errf(TT_ERR_STATE, errstr, errstr_size,
                       "model follower: already following");
    s->fn = fn;
    s->ctx = ctx;
    if (pthread_create(&s->th, NULL, follow_main, s) != 0)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "model follower: cannot start its thread");
    s->thread = true;
    return TT_ERR_OK;
}

tt_err_t tt_modelsub_start(tt_modelsub_t **out, const struct tt_conf_kafka *kc,
                           tt_log_t *log, int timeout_ms, tt_model_t **model,
                           char *errstr, size_t errstr_size)
{
    struct tt_modelsub_opts so;
    struct tt_model_info info;
    tt_modelsub_t *s = NULL;
    tt_model_t *newer = NULL;
    tt_err_t err;

    *out = NULL;
    memset(&so, 0, sizeof(so));
    so.topic = kc->model_topic;
    so.log = log;
    if (*model) {
        tt_model_get_info(*model, &info);
        so.min_version = info.version;
    }
    err = tt_modelsub_new(&s, kc, &so, errstr, errstr_size);
    if (err)
        return err;
    err = tt_modelsub_catch_up(s, timeout_ms, &newer, errstr, errstr_size);
    if (err == TT_ERR_NOTFOUND) {
        tt_log_info(log, "models",
                    "no model topic %s yet: waiting for its first version",
                    kc->model_topic);
        err = TT_ERR_OK;
    }
    if (err) {
        tt_modelsub_destroy(s);
        return err;
    }
    if (newer) {
        tt_model_destroy(*model);
        *model = newer;
    }
    *out = s;
    return TT_ERR_OK;
}

void tt_modelsub_stats(tt_modelsub_t *s, struct tt_modelsub_stats *stats)
{
    pthread_mutex_lock(&s->mu);
    *stats = s->st;
    pthread_mutex_unlock(&s->mu);
}

size_t tt_modelsub_keys(const tt_modelsub_t *s, struct tt_modelsub_key *keys,
                        size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n_keys; i++) {
        if (!s->keys[i].live)
            continue;
        if (n < cap) {
            keys[n].partition = s->keys[i].partition;
            memcpy(keys[n].key, s->keys[i].key, sizeof(keys[n].key));
        }
        n++;
    }
    return n;
}

void tt_modelsub_destroy(tt_modelsub_t *s)
{
    if (!s)
        return;
    if (s->thread) {
        atomic_store(&s->stop, true);
        pthread_join(s->th, NULL);
    }
    if (s->rk) {
        rd_kafka_consumer_close(s->rk);
        rd_kafka_destroy(s->rk);
    }
    tt_model_destroy(s->held);
    tt_modelsub_asm_destroy(s->as);
    pthread_mutex_destroy(&s->mu);
    free(s->next);
    free(s->keys);
    free(s->topic);
    free(s);
}
