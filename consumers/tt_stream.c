/*
 * The stream loop: setup, batch collection (decode, dead letters), model
 * swaps, metrics.  Rebalances and restores are in tt_stream_part.c, a
 * batch's commit in tt_stream_txn.c.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tt_time.h"
#include "consumers/tt_stream_int.h"
#include "producers/tt_admin.h"
#include "producers/tt_kconf.h"

/* Longest an idle poll blocks, so that restores and metrics move on. */
#define IDLE_POLL_MS 100
/* Restore slice between batches while other partitions flow. */
#define RESTORE_SLICE_MS 20
#define TICK_NS 1000000000ull
/* Default tt_stream_opts.store_flush_ms.  The write-back cache reaches
 * RocksDB inline, in the loop: events that arrive meanwhile wait.  At
 * 10k events/s (Zipf users, 500-event batches) a write of 1 s of changes
 * took 34-57 ms on the loaded 2-core build machine, of 250 ms 12-16 ms,
 * for 0-15% more store CPU per event (hot users written more often;
 * bench_stream --offline --batch-max 500 --flush-every 20 / 5). */
#define STORE_FLUSH_MS 250
#define ADMIN_TIMEOUT_MS 30000

static bool stopping(tt_stream_t *s)
{
    if (atomic_load(&s->stop))
        return true;
    return s->opts.stopping && s->opts.stopping(s->opts.stopping_arg);
}

void tt_stream_stop(tt_stream_t *s)
{
    atomic_store(&s->stop, 1);
}

tt_metrics_t *tt_stream_metrics(tt_stream_t *s)
{
    return s->metrics;
}

const char *tt_stream_instance(const tt_stream_t *s)
{
    return s->eos ? s->txn_id : s->instance;
}

tt_err_t tt_stream_offer_model(tt_stream_t *s, tt_model_t **model,
                               char *errstr, size_t errstr_size)
{
    return tt_mhold_offer(s->mhold, model, errstr, errstr_size);
}

/* "<hostname>-<FNV-1a of the absolute state path>": stable across restarts
 * of one instance, distinct for instances on one host (each has its own
 * store, which RocksDB locks). */
static void default_instance(char *buf, size_t cap, const char *state_path)
{
    char host[256] = "host", real[PATH_MAX];
    const char *path = realpath(state_path, real) ? real : state_path;
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "host");
    host[sizeof(host) - 1] = '\0';
    for (const char *c = path; *c; c++)
        h = (h ^ (uint8_t)*c) * UINT64_C(0x100000001b3);
    snprintf(buf, cap, "%s-%08" PRIx32, host, (uint32_t)(h ^ (h >> 32)));
}

/* Creates missing topics (changelog co-partitioned with the input) and
 * learns the input's partition count. */
static tt_err_t setup_topics(tt_stream_t *s, int32_t *n_input, char *errstr,
                             size_t errstr_size)
{
    const struct tt_conf_kafka *kc = &s->conf->kafka;
    static const struct tt_conf_kv compact[] = {
        {(char *)"cleanup.policy", (char *)"compact"},
    };
    tt_admin_t *admin;
    struct tt_topic_spec spec;
    int n = 0;
    tt_err_t err;

    err = tt_admin_new(&admin, kc, errstr, errstr_size);
    if (err)
        return err;
    err = tt_admin_partitions(admin, kc->input_topic, ADMIN_TIMEOUT_MS, &n,
                              errstr, errstr_size);
    if (err == TT_ERR_NOTFOUND && s->opts.create_topics) {
        memset(&spec, 0, sizeof(spec));
        spec.name = kc->input_topic;
        spec.partitions = kc->partitions;
        spec.replication = -1;
        err = tt_admin_create_topic(admin, &spec, 0, ADMIN_TIMEOUT_MS, NULL,
                                    errstr, errstr_size);
        n = kc->partitions;
    }
    if (err)
        goto out;
    if (s->opts.create_topics) {
        const struct {
            const char *name;
            int partitions;
            bool compacted;
        } topics[] = {
            {kc->changelog_topic, n, true},
            {kc->output_topic, kc->partitions, true},
            {kc->dead_letter_topic, kc->partitions, false},
        };

        for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
            memset(&spec, 0, sizeof(spec));
            spec.name = topics[i].name;
            spec.partitions = topics[i].partitions;
            spec.replication = -1;
            spec.configs = topics[i].compacted ? compact : NULL;
            spec.n_configs = topics[i].compacted ? 1 : 0;
            err = tt_admin_create_topic(admin, &spec, 0, ADMIN_TIMEOUT_MS,
                                        NULL, errstr, errstr_size);
            if (err)
                goto out;
        }
    } else {
        int ncl = 0;

        err = tt_admin_partitions(admin, kc->changelog_topic,
                                  ADMIN_TIMEOUT_MS, &ncl, errstr,
                                  errstr_size);
        if (!err && ncl != n)
            err = tt_errf(TT_ERR_CONF, errstr, errstr_size,
                          "changelog %s has %d partitions, input %s has %d: "
                          "they must be co-partitioned",
                          kc->changelog_topic, ncl, kc->input_topic, n);
    }
    *n_input = n;
out:
    tt_admin_destroy(admin);
    return err;
}

static tt_err_t consumer_new(tt_stream_t *s, char *errstr,
                             size_t errstr_size)
{
    const struct tt_conf_kafka *kc = &s->conf->kafka;
    rd_kafka_conf_t *conf = NULL;
    char kerr[512];
    tt_err_t err;

    err = tt_kconf_new_role(&conf, kc, TT_KCONF_CONSUMER, errstr, errstr_size);
    if (err)
        return err;
    /* read_committed also makes committed-offset reads wait for a
     * previous owner's open transaction (KIP-447 stable offsets). */
    if ((err = tt_kconf_require_role(conf, kc, TT_KCONF_CONSUMER,
                                     "group.id", kc->group_id,
                                     "the stream group", errstr,
                                     errstr_size)) ||
        (err = tt_kconf_require_role(conf, kc, TT_KCONF_CONSUMER,
                                     "partition.assignment.strategy",
                                     "cooperative-sticky", "the stream", errstr,
                                     errstr_size)) ||
        (err = tt_kconf_require_role(conf, kc, TT_KCONF_CONSUMER,
                                     "enable.auto.commit", "false",
                                     "the stream's offset commits", errstr,
                                     errstr_size)) ||
        (err = tt_kconf_require_role(conf, kc, TT_KCONF_CONSUMER,
                                     "enable.auto.offset.store", "false",
                                     "the stream's offset commits", errstr,
                                     errstr_size)) ||
        (err = tt_kconf_require_role(conf, kc, TT_KCONF_CONSUMER,
                                     "isolation.level", "read_committed",
                                     "exactly-once", errstr, errstr_size)) ||
        (err = tt_kconf_default_role(conf, kc, TT_KCONF_CONSUMER,
                                     "auto.offset.reset", "earliest",
                                     errstr, errstr_size)))
        goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, tt_stream_rebalance_cb);
    rd_kafka_conf_set_opaque(conf, s);
    s->cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof(kerr));
    if (!s->cons) {
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size, "consumer: %s",
                      kerr);
        goto fail;
    }
    rd_kafka_poll_set_consumer(s->cons);
    return TT_ERR_OK;
fail:
    rd_kafka_conf_destroy(conf);
    return err;
}

tt_err_t tt_stream_new(tt_stream_t **sp, const struct tt_conf *conf,
                       tt_model_t **model, const struct tt_stream_opts *opts,
                       char *errstr, size_t errstr_size)
{
    tt_stream_t *s;
    size_t nb = (size_t)conf->kafka.batch_max;
    uint32_t hmax = (uint32_t)conf->state.history_max;
    struct tt_proc_conf pc = {.batch_max = (uint32_t)nb, .history_max = hmax};
    const struct tt_proc_view *v;
    int32_t n_input = 0;
    tt_err_t err;

    *sp = NULL;
    s = calloc(1, sizeof(*s));
    if (!s) {
        tt_model_destroy(*model);
        *model = NULL;
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "stream: no memory");
    }
    s->conf = conf;
    s->opts = *opts;
    s->log = opts->log;
    s->eos = conf->kafka.exactly_once;
    if (s->opts.store_flush_ms <= 0)
        s->opts.store_flush_ms = STORE_FLUSH_MS;
    atomic_init(&s->stop, 0);
    err = tt_mhold_new(&s->mhold, model, errstr, errstr_size);
    if (err) {
        tt_model_destroy(*model);
        *model = NULL;
        goto fail;
    }
    v = tt_mhold_view(s->mhold);
    if ((err = tt_metrics_new(&s->metrics, &conf->metrics, errstr,
                              errstr_size)) ||
        (err = tt_senc_new(&s->codec, errstr, errstr_size)) ||
        (err = tt_proc_new(&s->proc, &pc, errstr, errstr_size)) ||
        (!s->eos && (err = tt_stream_alo_new(s, &pc, errstr, errstr_size))))
        goto fail;
    s->enc_cap = TT_USTATE_HEADER_SIZE + 4u * TT_MODEL_DIM_MAX +
                 (size_t)TT_USTATE_ITEM_SIZE * hmax + TT_USTATE_CRC_SIZE;
    if (s->enc_cap < tt_senc_embedding_max(TT_MODEL_DIM_MAX))
        s->enc_cap = tt_senc_embedding_max(TT_MODEL_DIM_MAX);
    s->enc = malloc(s->enc_cap);
    s->ids = malloc(nb * sizeof(*s->ids));
    s->sp = malloc(nb * sizeof(*s->sp));
    s->status = malloc(nb * sizeof(*s->status));
    s->ev_ts = malloc(nb * sizeof(*s->ev_ts));
    if (!s->enc || !s->ids || !s->sp || !s->status || !s->ev_ts ||
        tt_ustate_init(&s->dup_state, TT_MODEL_DIM_MAX, hmax)) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "stream: no memory");
        goto fail;
    }
    err = tt_state_new(&s->st, &conf->state, errstr, errstr_size);
    if (!err)
        err = tt_state_batch_new(&s->sb, s->st, errstr, errstr_size);
    if (err)
        goto fail;
    if (conf->state.user_cache > 0) {
        /* Never fewer entries than one batch's users: a put into a cache
         * whose every entry is dirty would fail. */
        uint32_t cap = (uint32_t)conf->state.user_cache;

        if (cap < nb)
            cap = (uint32_t)nb;
        s->cache_dim = v->info.dim;
        err = tt_ucache_new(&s->cache, s->st, cap, s->cache_dim, hmax, errstr,
                            errstr_size);
        if (err)
            goto fail;
    }
    if (opts->instance_id && opts->instance_id[0])
        snprintf(s->instance, sizeof(s->instance), "%s", opts->instance_id);
    else
        default_instance(s->instance, sizeof(s->instance), conf->state.path);
    snprintf(s->txn_id, sizeof(s->txn_id), "%s-%s",
             conf->kafka.transactional_id && conf->kafka.transactional_id[0]
                 ? conf->kafka.transactional_id
                 : "twotime-stream",
             s->instance);
    err = setup_topics(s, &n_input, errstr, errstr_size);
    if (!err)
        err = tt_stream_grow_parts(s, n_input, errstr, errstr_size);
    if (!err)
        err = tt_restore_new(&s->restore, &conf->kafka,
                             conf->kafka.changelog_topic, s->st, errstr,
                             errstr_size);
    if (!err)
        err = tt_stream_producer_new(s, errstr, errstr_size);
    if (!err)
        err = consumer_new(s, errstr, errstr_size);
    if (err)
        goto fail;
    tt_metrics_set(s->metrics, TT_M_MODEL_VERSION, (int64_t)v->info.version);
    *sp = s;
    return TT_ERR_OK;
fail:
    tt_stream_destroy(s);
    return err;
}

void tt_stream_destroy(tt_stream_t *s)
{
    if (!s)
        return;
    if (s->cons)
        /* No final rebalance callback: destroy commits nothing. */
        rd_kafka_destroy_flags(s->cons, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    tt_restore_destroy(s->restore);
    tt_stream_producer_destroy(s);
    tt_ucache_destroy(s->cache);
    tt_state_batch_destroy(s->sb);
    tt_state_destroy(s->st);
    tt_proc_destroy(s->proc);
    tt_mhold_destroy(s->mhold);
    tt_senc_destroy(s->codec);
    tt_metrics_destroy(s->metrics);
    tt_ustate_release(&s->dup_state);
    tt_stream_alo_release(s);
    free(s->enc);
    free(s->ids);
    free(s->sp);
    free(s->status);
    free(s->ev_ts);
    free(s->batch_parts);
    free(s->parts);
    free(s);
}

static tt_err_t dead_letter(tt_stream_t *s, const rd_kafka_message_t *m,
                            const char *reason, char *errstr,
                            size_t errstr_size)
{
    rd_kafka_headers_t *h;
    char num[32];
    tt_err_t err;

    err = tt_stream_ensure_txn(s, errstr, errstr_size);
    if (err)
        return err;
    h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "tt.error", -1, reason, -1);
    rd_kafka_header_add(h, "tt.topic", -1, rd_kafka_topic_name(m->rkt), -1);
    snprintf(num, sizeof(num), "%" PRId32, m->partition);
    rd_kafka_header_add(h, "tt.partition", -1, num, -1);
    snprintf(num, sizeof(num), "%" PRId64, m->offset);
    rd_kafka_header_add(h, "tt.offset", -1, num, -1);
    err = tt_stream_produce(s, s->t_dlq, RD_KAFKA_PARTITION_UA, m->key,
                            m->key_len, m->payload, m->len, h,
                            MSG_DEAD_LETTER, errstr, errstr_size);
    if (err)
        return err;
    s->n_dlq++;
    tt_metrics_add(s->metrics, TT_M_DEAD_LETTERS, 1);
    return TT_ERR_OK;
}

/* One input message into the batch. */
static tt_err_t take(tt_stream_t *s, const rd_kafka_message_t *m,
                     char *errstr, size_t errstr_size)
{
    struct part *p;
    struct tt_proc_in in;
    char why[300], reason[400];
    tt_err_t err;

    if (m->partition >= s->n_parts &&
        (err = tt_stream_grow_parts(s, m->partition + 1, errstr, errstr_size)))
        return err;
    p = &s->parts[m->partition];
    if (p->phase != P_READY) {
        /* Fetched before the pause took hold: read again after restore. */
        if (p->dropped_min < 0 || m->offset < p->dropped_min)
            p->dropped_min = m->offset;
        return TT_ERR_OK;
    }
    if (!p->in_batch) {
        p->in_batch = true;
        p->cl_sent = p->cl_acked = p->cl_failed = 0;
        p->cl_max = -1;
        s->batch_parts[s->n_batch_parts++] = m->partition;
    }
    p->next = m->offset + 1;
    if (s->n_msgs++ == 0)
        s->batch_t0 = tt_time_mono_ns();
    tt_metrics_add(s->metrics, TT_M_EVENTS, 1);
    memset(&in, 0, sizeof(in));
    err = m->payload ? tt_senc_decode_event(s->codec, m->payload, m->len,
                                            &in.ev, why, sizeof(why))
                     : tt_errf(TT_ERR_PARSE, why, sizeof(why), "no payload");
    if (!err) {
        in.partition = m->partition;
        in.offset = m->offset;
        s->ev_ts[tt_proc_n_events(s->proc)] =
            rd_kafka_message_timestamp(m, NULL);
        err = tt_proc_add(s->proc, &in);
        if (err)
            snprintf(why, sizeof(why), "invalid event");
    }
    if (!err)
        return TT_ERR_OK;
    snprintf(reason, sizeof(reason), "%s: %s", tt_err_name(err), why);
    return dead_letter(s, m, reason, errstr, errstr_size);
}

/* Collects one batch: up to batch_max messages, until the queue is drained
 * (after linger_ms) or batch_ms has passed since the first one, or half of
 * transaction.timeout.ms since a dead letter opened the transaction (a
 * transaction outliving its timeout is aborted by the coordinator). */
static tt_err_t collect(tt_stream_t *s, int idle_ms, char *errstr,
                        size_t errstr_size)
{
    const size_t max = (size_t)s->conf->kafka.batch_max;
    const uint64_t batch_ns = (uint64_t)s->conf->kafka.batch_ms * 1000000u;
    const uint64_t linger_ns = (uint64_t)s->opts.linger_ms * 1000000u;

    while (s->n_msgs < max) {
        rd_kafka_message_t *m;
        int timeout = idle_ms;
        tt_err_t err;

        if (s->n_msgs > 0) {
            uint64_t now = tt_time_mono_ns(), age = now - s->batch_t0;
            uint64_t left = age < batch_ns ? batch_ns - age : 0;

            if (s->txn_open && s->txn_timeout_ms > 0) {
                uint64_t half = (uint64_t)s->txn_timeout_ms * 500000u;
                uint64_t t_age = now - s->txn_t0;
                uint64_t t_left = t_age < half ? half - t_age : 0;

                if (t_left < left)
                    left = t_left;
            }
            if (left == 0)
                break;
            timeout = age >= linger_ns ? 0
                                       : (int)((linger_ns - age) / 1000000u);
            if ((uint64_t)timeout > left / 1000000u)
                timeout = (int)(left / 1000000u);
        }
        m = rd_kafka_consumer_poll(s->cons, timeout);
        if (s->cb_err) {
            if (m)
                rd_kafka_message_destroy(m);
            err = s->cb_err;
            s->cb_err = TT_ERR_OK;
            return tt_errf(err, errstr, errstr_size, "%s", s->cb_errstr);
        }
        if (s->need_rewind) {
            if (m)
                rd_kafka_message_destroy(m);
            tt_stream_batch_reset(s);
            err = tt_stream_rewind(s, errstr, errstr_size);
            if (err)
                return err;
            continue;
        }
        if (!m)
            break; /* idle, or the queue is drained after the linger */
        if (m->err) {
            rd_kafka_resp_err_t e = m->err;
            char fatal[256];

            rd_kafka_message_destroy(m);
            if (e == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                continue;
            if (rd_kafka_fatal_error(s->cons, fatal, sizeof(fatal)))
                return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                               "consumer: %s", fatal);
            tt_log_warn(s->log, "stream", "consumer: %s",
                        rd_kafka_err2str(e));
            continue;
        }
        err = take(s, m, errstr, errstr_size);
        rd_kafka_message_destroy(m);
        if (err == TT_ERR_KAFKA || err == TT_ERR_TIMEOUT) {
            char msg[512];

            snprintf(msg, sizeof(msg), "dead letter: %s", errstr);
            err = tt_stream_recover(s, RD_KAFKA_RESP_ERR__FAIL, false, msg,
                                    errstr, errstr_size);
            if (err == TT_ERR_ABORTED)
                continue;
        }
        if (err)
            return err;
        if (stopping(s))
            break;
    }
    return TT_ERR_OK;
}

static void tick(tt_stream_t *s)
{
    int64_t assigned = 0, restoring = 0;

    rd_kafka_poll(s->prod, 0);
    for (int32_t p = 0; p < s->n_parts; p++) {
        struct part *pt = &s->parts[p];
        int64_t lo = -1, hi = -1, at;

        if (pt->phase == P_NONE)
            continue;
        assigned++;
        restoring += pt->phase != P_READY;
        if (rd_kafka_get_watermark_offsets(s->cons, s->conf->kafka.input_topic,
                                           p, &lo, &hi) ||
            hi < 0)
            continue;
        at = pt->committed >= 0 ? pt->committed : lo;
        tt_metrics_set_lag(s->metrics, p, at >= 0 && hi >= at ? hi - at : 0);
    }
    tt_metrics_set(s->metrics, TT_M_ASSIGNED, assigned);
    tt_metrics_set(s->metrics, TT_M_RESTORING, restoring);
    tt_metrics_set(s->metrics, TT_M_STATE_BYTES,
                   (int64_t)tt_state_approx_bytes(s->st));
}

static tt_err_t swap_model(tt_stream_t *s, char *errstr, size_t errstr_size)
{
    uint64_t old;
    const struct tt_proc_view *v;

    if (!tt_mhold_swap(s->mhold, &old))
        return TT_ERR_OK;
    v = tt_mhold_view(s->mhold);
    if (s->cache && v->info.dim > s->cache_dim) {
        /* Entries are sized for the old dimension: write the dirty ones,
         * then start a new cache. */
        uint32_t cap = (uint32_t)s->conf->state.user_cache;
        tt_err_t err = tt_stream_store_flush(s, errstr, errstr_size);

        if (err)
            return err;
        if (cap < (uint32_t)s->conf->kafka.batch_max)
            cap = (uint32_t)s->conf->kafka.batch_max;
        tt_ucache_destroy(s->cache);
        s->cache = NULL;
        s->cache_dim = v->info.dim;
        err = tt_ucache_new(&s->cache, s->st, cap, s->cache_dim,
                            (uint32_t)s->conf->state.history_max, errstr,
                            errstr_size);
        if (err)
            return err;
    }
    tt_metrics_set(s->metrics, TT_M_MODEL_VERSION, (int64_t)v->info.version);
    tt_metrics_add(s->metrics, TT_M_MODEL_SWAPS, 1);
    tt_log_info(s->log, "stream",
                "model swapped: version %" PRIu64 " -> %" PRIu64
                " (users are recomputed on their next event)",
                old, v->info.version);
    return TT_ERR_OK;
}

static bool any_ready(const tt_stream_t *s)
{
    for (int32_t p = 0; p < s->n_parts; p++)
        if (s->parts[p].phase == P_READY)
            return true;
    return false;
}

/*
 * librdkafka before 2.3.0 aborts the process when a cooperative-sticky
 * consumer is closed after it joined its group but before its first
 * assignment arrived (rd_kafka_sticky_assignor_state_destroy: Assertion
 * `assignor_state' failed; librdkafka issue 4312): a SIGTERM right after a
 * start did that (test_fault_rebalance).  So a stream stopped before any
 * rebalance callback waits for the first one, up to FIRST_ASSIGN_WAIT_MS
 * (a rebalance waits at most a session timeout for members that died).
 * Messages polled meanwhile are dropped uncommitted: the partitions are
 * paused for their restore, and nothing of theirs was processed.
 */
#define FIRST_ASSIGN_WAIT_MS 15000
static void wait_first_assignment(tt_stream_t *s)
{
    uint64_t t0 = tt_time_mono_ns();

    while (tt_metrics_get(s->metrics, TT_M_REBALANCES) == 0 &&
           tt_time_secs(t0, tt_time_mono_ns()) * 1000 <
               FIRST_ASSIGN_WAIT_MS) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->cons, 100);

        if (m)
            rd_kafka_message_destroy(m);
    }
}

tt_err_t tt_stream_run(tt_stream_t *s, char *errstr, size_t errstr_size)
{
    const struct tt_proc_view *v = tt_mhold_view(s->mhold);
    rd_kafka_topic_partition_list_t *sub;
    rd_kafka_resp_err_t kerr;
    tt_err_t err = TT_ERR_OK, err2;
    char errstr2[256];

    sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, s->conf->kafka.input_topic,
                                      RD_KAFKA_PARTITION_UA);
    kerr = rd_kafka_subscribe(s->cons, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (kerr)
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size, "subscribe %s: %s",
                       s->conf->kafka.input_topic, rd_kafka_err2str(kerr));
    tt_log_info(s->log, "stream",
                "started: %s, %s %s, group %s, input %s, model version %" PRIu64
                " (d=%u, t*=%u%s)",
                s->eos ? "exactly-once" : "at-least-once",
                s->eos ? "transactional.id" : "instance",
                tt_stream_instance(s), s->conf->kafka.group_id,
                s->conf->kafka.input_topic, v->info.version, v->info.dim,
                v->info.tstar, v->info.plus ? ", plus" : "");
    while (!stopping(s)) {
        bool ready = any_ready(s);
        uint64_t now = tt_time_mono_ns(), cpu0 = tt_stream_cpu_ns();

        err = tt_stream_restores(s, ready ? RESTORE_SLICE_MS : IDLE_POLL_MS,
                                 errstr, errstr_size);
        if (!err)
            err = swap_model(s, errstr, errstr_size);
        if (err)
            break;
        if (now - s->last_tick >= TICK_NS) {
            tick(s);
            s->last_tick = now;
        }
        err = collect(s, tt_restore_n_active(s->restore) ? 0 : IDLE_POLL_MS,
                      errstr, errstr_size);
        s->t_collect += tt_time_secs(cpu0, tt_stream_cpu_ns());
        if (!err)
            err = tt_stream_flush(s, errstr, errstr_size);
        if (err)
            break;
    }
    if (!err) {
        /* The last batch, then leave the group (its revoke callback
         * commits nothing more: the batch is empty). */
        err = tt_stream_flush(s, errstr, errstr_size);
    }
    if (!err && !s->eos) {
        /* Every batch in flight delivered, its offsets committed. */
        err = tt_stream_alo_reap(s, true, errstr, errstr_size);
        if (err == TT_ERR_ABORTED)
            err = TT_ERR_OK; /* redone by the next start */
    }
    if (!err)
        err = tt_stream_store_flush(s, errstr, errstr_size);
    if (err) {
        if (s->eos)
            tt_stream_abort_txn(s, errstr2, sizeof(errstr2));
        tt_stream_batch_reset(s);
    }
    wait_first_assignment(s);
    kerr = rd_kafka_consumer_close(s->cons);
    if (!err && s->cb_err)
        err = tt_errf(s->cb_err, errstr, errstr_size, "%s", s->cb_errstr);
    if (!err && kerr)
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size, "close: %s",
                      rd_kafka_err2str(kerr));
    err2 = TT_ERR_OK;
    if (!s->eos && rd_kafka_flush(s->prod, 10000))
        err2 = TT_ERR_TIMEOUT;
    tick(s);
    tt_log_info(s->log, "stream",
                "cpu in batches: loop+collect %.2f s, load %.2f s, process "
                "%.2f s, produce %.2f s, %s %.2f s, store %.2f s",
                s->t_collect, s->t_load, s->t_proc, s->t_produce,
                s->eos ? "commit" : "delivery", s->t_commit, s->t_store);
    tt_log_info(s->log, "stream",
                "wall time: batches %.2f s, of which %s %.2f s; %" PRIu64
                " RocksDB writes, %.1f ms mean, %.1f ms longest",
                s->w_batch, s->eos ? "commit" : "waits for delivery",
                s->w_commit, s->n_store,
                s->n_store ? s->w_store * 1e3 / (double)s->n_store : 0.0,
                s->w_store_max * 1e3);
    if (!s->eos)
        tt_log_info(s->log, "stream",
                    "at-least-once: %" PRIu64 " of %" PRIu64
                    " batches waited for one in flight",
                    s->alo_waits, s->alo_seq);
    tt_log_info(s->log, "stream", "stopped%s%s", err ? ": " : "",
                err ? errstr : "");
    return err ? err : err2;
}
