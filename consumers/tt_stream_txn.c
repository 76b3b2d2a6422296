/*
 * One batch of the stream: load states, process, produce, commit (one Kafka
 * transaction, or delivery then offsets), then the store.  See tt_stream.h
 * for the guarantees this order gives.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/tt_time.h"
#include "consumers/tt_stream_int.h"
#include "producers/tt_kconf.h"
#include "producers/tt_ukey.h"

/* Retries of a retriable transaction call before giving up on it. */
#define TXN_RETRIES 5
/* Fatal producer errors survived in a row (producer recreated, no batch
 * committed in between) before stopping. */
#define FATAL_RECREATIONS_MAX 5
/* Consecutive store write failures before stopping. */
#define STORE_FAILURES_MAX 3
/* Longest a seek waits for the fetcher to take it (it is local: fast). */
#define SEEK_WAIT_MS 30000

uint64_t tt_stream_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void tt_stream_batch_reset(tt_stream_t *s)
{
    for (size_t k = 0; k < s->n_batch_parts; k++) {
        struct part *p = &s->parts[s->batch_parts[k]];

        p->in_batch = false;
        p->cl_sent = p->cl_acked = p->cl_failed = 0;
        p->cl_max = -1;
    }
    s->n_batch_parts = 0;
    s->n_msgs = 0;
    s->n_dlq = 0;
    s->batch_t0 = 0;
    s->dr_failed = 0;
    tt_proc_begin(s->proc);
}

static bool fenced_code(rd_kafka_resp_err_t code)
{
    return code == RD_KAFKA_RESP_ERR__FENCED ||
           code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

/* Where a partition without a committed offset starts. */
static int64_t reset_offset(const tt_stream_t *s)
{
    const char *v = tt_kconf_prop_role(&s->conf->kafka, TT_KCONF_CONSUMER,
                                   "auto.offset.reset");

    if (v && (!strcmp(v, "latest") || !strcmp(v, "largest") ||
              !strcmp(v, "end")))
        return RD_KAFKA_OFFSET_END;
    return RD_KAFKA_OFFSET_BEGINNING;
}

tt_err_t tt_stream_seek(tt_stream_t *s, rd_kafka_topic_partition_list_t *l,
                        const char *what, char *errstr, size_t errstr_size)
{
    rd_kafka_error_t *error;
    int wait = SEEK_WAIT_MS;

    /* librdkafka before 2.1.0 waits for rd_kafka_seek_partitions() in
     * microseconds, not the milliseconds it is given (its PR #4230): 30000
     * meant 30 ms, which a loaded machine exceeds, and a seek that timed
     * out stopped the stream. */
    if (rd_kafka_version() < 0x020100ff)
        wait = SEEK_WAIT_MS * 1000;
    error = rd_kafka_seek_partitions(s->cons, l, wait);
    if (error) {
        tt_err_t err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                               "%s: seek: %s", what,
                               rd_kafka_error_string(error));

        rd_kafka_error_destroy(error);
        return err;
    }
    /* __STATE: the partition's fetcher has not started yet (librdkafka
     * still reads the committed offsets of the assignment it came with,
     * all at once, and waits while any of them is unstable).  It will start
     * at the committed offset, which is where a seek here is meant to put
     * it (a partition that fetched anything has started). */
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].err && l->elems[i].err != RD_KAFKA_RESP_ERR__STATE)
            return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                           "%s: seek partition %" PRId32 ": %s", what,
                           l->elems[i].partition,
                           rd_kafka_err2str(l->elems[i].err));
    return TT_ERR_OK;
}

tt_err_t tt_stream_rewind(tt_stream_t *s, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t kerr;
    const char *topic = s->conf->kafka.input_topic;
    tt_err_t err;

    s->need_rewind = false;
    l = rd_kafka_topic_partition_list_new(s->n_parts > 0 ? s->n_parts : 1);
    for (int32_t p = 0; p < s->n_parts; p++)
        if (s->parts[p].phase == P_READY)
            rd_kafka_topic_partition_list_add(l, topic, p);
    if (l->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(l);
        return TT_ERR_OK;
    }
    kerr = rd_kafka_committed(s->cons, l, 30000);
    if (kerr) {
        rd_kafka_topic_partition_list_destroy(l);
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                       "rewind: committed offsets: %s", rd_kafka_err2str(kerr));
    }
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *e = &l->elems[i];

        s->parts[e->partition].committed = e->offset >= 0 ? e->offset : -1;
        if (e->offset < 0)
            e->offset = reset_offset(s);
    }
    err = tt_stream_seek(s, l, "rewind", errstr, errstr_size);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        return err;
    tt_log_info(s->log, "stream", "rewound to the committed offsets");
    return TT_ERR_OK;
}

tt_err_t tt_stream_ensure_txn(tt_stream_t *s, char *errstr,
                              size_t errstr_size)
{
    rd_kafka_error_t *error;
    tt_err_t err;

    if (!s->eos || s->txn_open)
        return TT_ERR_OK;
    error = rd_kafka_begin_transaction(s->prod);
    if (!error) {
        s->txn_open = true;
        s->txn_t0 = tt_time_mono_ns();
        return TT_ERR_OK;
    }
    err = tt_errf(fenced_code(rd_kafka_error_code(error)) ? TT_ERR_FENCED
                                                           : TT_ERR_KAFKA,
                  errstr, errstr_size, "begin_transaction: %s",
                  rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return err;
}

tt_err_t tt_stream_abort_txn(tt_stream_t *s, char *errstr,
                             size_t errstr_size)
{
    rd_kafka_error_t *error;
    tt_err_t err;

    if (!s->eos || !s->txn_open)
        return TT_ERR_OK;
    error = rd_kafka_abort_transaction(s->prod, -1);
    /* Serve the delivery reports of the purged messages now, so that they
     * are not counted against the next batch. */
    rd_kafka_poll(s->prod, 0);
    if (!error) {
        s->txn_open = false;
        tt_metrics_add(s->metrics, TT_M_TXN_ABORTED, 1);
        return TT_ERR_OK;
    }
    err = tt_errf(fenced_code(rd_kafka_error_code(error)) ? TT_ERR_FENCED
                                                           : TT_ERR_KAFKA,
                  errstr, errstr_size, "abort_transaction: %s",
                  rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return err;
}

/* The open transaction has lived longer than transaction.timeout.ms: the
 * coordinator may have aborted it. */
static bool txn_expired(const tt_stream_t *s)
{
    return s->eos && s->txn_open && s->txn_timeout_ms > 0 &&
           tt_time_mono_ns() - s->txn_t0 >=
               (uint64_t)s->txn_timeout_ms * 1000000u;
}

tt_err_t tt_stream_recover(tt_stream_t *s, rd_kafka_resp_err_t code,
                           bool fatal, const char *msg, char *errstr,
                           size_t errstr_size)
{
    rd_kafka_resp_err_t fcode = RD_KAFKA_RESP_ERR_NO_ERROR;
    char fbuf[256];
    tt_err_t err;

    if (s->prod)
        fcode = rd_kafka_fatal_error(s->prod, fbuf, sizeof(fbuf));
    if (fcode)
        fatal = true;
    if ((fenced_code(code) || fenced_code(fcode)) && !txn_expired(s))
        return tt_errf(TT_ERR_FENCED, errstr, errstr_size,
                       "%s: another instance uses transactional.id %s", msg,
                       s->txn_id);
    if (fenced_code(code) || fenced_code(fcode)) {
        /* Not another instance: the coordinator aborted the transaction
         * for its age and bumped the epoch, which librdkafka reports as
         * fenced.  A new producer (same transactional.id) goes on.  Had
         * another instance taken the id all the same, the new producer
         * fences it in turn: one id in two places is wrong either way. */
        tt_log_warn(s->log, "stream",
                    "transaction open for %.1f s, longer than "
                    "transaction.timeout.ms (%d ms): the coordinator aborted "
                    "it",
                    tt_time_secs(s->txn_t0, tt_time_mono_ns()),
                    s->txn_timeout_ms);
        fatal = true;
    }
    if (fatal) {
        if (++s->fatal_recreations > FATAL_RECREATIONS_MAX)
            return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                           "%s (fatal, %u times)", msg, s->fatal_recreations);
        tt_log_error(s->log, "stream",
                     "fatal producer error: %s; recreating the producer",
                     msg);
        tt_stream_producer_destroy(s);
        tt_metrics_add(s->metrics, TT_M_TXN_ABORTED, s->eos ? 1 : 0);
        err = tt_stream_producer_new(s, errstr, errstr_size);
        if (err)
            return err;
    } else if (s->eos) {
        tt_log_warn(s->log, "stream", "aborting the transaction: %s", msg);
        err = tt_stream_abort_txn(s, errstr, errstr_size);
        if (err == TT_ERR_KAFKA) {
            /* The abort itself failed: start over with a new producer. */
            tt_stream_producer_destroy(s);
            err = tt_stream_producer_new(s, errstr, errstr_size);
        }
        if (err)
            return err;
    } else {
        tt_log_warn(s->log, "stream", "%s: redoing the batches in flight",
                    msg);
    }
    if (!s->eos) {
        /* Delivered batches first: the rewind reads their offsets. */
        tt_stream_alo_commit(s);
        tt_stream_alo_discard(s);
    }
    tt_stream_batch_reset(s);
    err = tt_stream_rewind(s, errstr, errstr_size);
    return err ? err : TT_ERR_ABORTED;
}

/* recover() from a failed transaction call. */
static tt_err_t txn_fail(tt_stream_t *s, rd_kafka_error_t *error,
                         const char *what, char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    bool fatal = rd_kafka_error_is_fatal(error);
    char msg[512];

    snprintf(msg, sizeof(msg), "%s: %s", what, rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return tt_stream_recover(s, code, fatal, msg, errstr, errstr_size);
}

/* The users' stored states into the processor's slots, per partition. */
static tt_err_t load_states(tt_stream_t *s, char *errstr, size_t errstr_size)
{
    size_t n_users = tt_proc_n_users(s->proc);

    for (size_t k = 0; k < s->n_batch_parts; k++) {
        int32_t part = s->batch_parts[k];
        size_t n = 0;
        tt_err_t err;

        for (size_t i = 0; i < n_users; i++) {
            int32_t p;
            int64_t uid;
            struct tt_user_state *st = tt_proc_user(s->proc, i, &p, &uid);

            if (p != part)
                continue;
            if (!s->eos) {
                /* Changed by a batch still in flight: its newest state. */
                const struct tt_user_state *fl =
                    tt_stream_alo_find(s, p, uid);

                if (fl) {
                    err = tt_ustate_copy(st, fl);
                    if (err)
                        return tt_errf(err, errstr, errstr_size,
                                       "user %" PRId64 ": in-flight state "
                                       "does not fit",
                                       uid);
                    continue;
                }
            }
            s->ids[n] = uid;
            s->sp[n++] = st;
        }
        if (n == 0)
            continue;
        if (s->cache)
            err = tt_ucache_get_many(s->cache, part, n, s->ids, s->sp,
                                     s->status, errstr, errstr_size);
        else
            err = tt_state_get_many(s->st, part, n, s->ids, s->sp, s->status,
                                    errstr, errstr_size);
        if (!err)
            continue;
        for (size_t j = 0; j < n; j++) {
            tt_err_t e = s->status[j];

            if (e == TT_ERR_OK || e == TT_ERR_NOTFOUND)
                continue;
            if (e != TT_ERR_CORRUPT && e != TT_ERR_VERSION &&
                e != TT_ERR_OVERFLOW)
                return err;
            /* The slot was reset: the user starts afresh.  The changelog
             * still has the good record; a restore would bring it back. */
            tt_log_error(s->log, "stream",
                         "partition %" PRId32 " user %" PRId64
                         ": stored state unreadable (%s), starting afresh",
                         part, s->ids[j], tt_err_str(e));
        }
    }
    return TT_ERR_OK;
}

static tt_err_t emit_embedding(tt_stream_t *s, const struct tt_senc_emb *e,
                               char *errstr, size_t errstr_size)
{
    uint8_t key[TT_UKEY_LEN];
    size_t len;
    tt_err_t err;

    err = tt_senc_encode_embedding(s->codec, e, s->enc, s->enc_cap, &len,
                                   errstr, errstr_size);
    if (err)
        return err;
    tt_ukey_encode(e->user_id, key);
    return tt_stream_produce(s, s->t_out, RD_KAFKA_PARTITION_UA, key,
                             sizeof(key), s->enc, len, NULL, MSG_OUTPUT,
                             errstr, errstr_size);
}

/* At-least-once: a user all of whose events were replays gets its current
 * embedding again, in case the crash lost the output of its last event. */
static tt_err_t reemit(tt_stream_t *s, const struct tt_proc_view *v,
                       int32_t part, int64_t uid,
                       const struct tt_user_state *st, char *errstr,
                       size_t errstr_size)
{
    struct tt_senc_emb e;
    tt_err_t err;

    if (st->count == 0 || st->hist_len == 0)
        return TT_ERR_OK;
    err = tt_ustate_copy(&s->dup_state, st);
    if (err)
        return tt_errf(err, errstr, errstr_size, "re-emit: state too large");
    tt_proc_recompute(v, part, uid, &s->dup_state, &s->run, s->q);
    e.user_id = uid;
    e.emb = s->q;
    e.dim = v->info.dim;
    e.model_version = v->info.version;
    e.active = s->dup_state.cell == TT_USTATE_CELL_ACTIVE;
    e.count = st->count;
    e.event_time = st->last_event_ms >= 0 ? st->last_event_ms : 0;
    e.partition = part;
    e.offset = st->hist[st->hist_len - 1].offset;
    return emit_embedding(s, &e, errstr, errstr_size);
}

/* Produces the outputs of the applied events and the changed states. */
static tt_err_t produce_results(tt_stream_t *s, const struct tt_proc_view *v,
                                char *errstr, size_t errstr_size)
{
    size_t n_out, n_users = tt_proc_n_users(s->proc);
    const struct tt_proc_out *outs = tt_proc_outputs(s->proc, &n_out);
    tt_err_t err;

    for (size_t i = 0; i < n_out; i++) {
        const struct tt_proc_out *o = &outs[i];
        const struct tt_proc_in *in;
        struct tt_senc_emb e;

        if (!o->applied)
            continue;
        in = tt_proc_event(s->proc, o->in);
        e.user_id = in->ev.user_id;
        e.emb = o->q;
        e.dim = v->info.dim;
        e.model_version = o->model_version;
        e.active = o->cell == TT_USTATE_CELL_ACTIVE;
        e.count = o->count;
        e.event_time = in->ev.ts_ms;
        e.partition = in->partition;
        e.offset = in->offset;
        err = emit_embedding(s, &e, errstr, errstr_size);
        if (err)
            return err;
    }
    for (size_t i = 0; i < n_users; i++) {
        int32_t part;
        int64_t uid;
        const struct tt_user_state *st = tt_proc_user(s->proc, i, &part, &uid);
        uint8_t key[TT_UKEY_LEN];
        size_t len;

        if (!tt_proc_user_dirty(s->proc, i)) {
            if (!s->eos) {
                err = reemit(s, v, part, uid, st, errstr, errstr_size);
                if (err)
                    return err;
            }
            continue;
        }
        err = tt_ustate_encode(st, s->enc, s->enc_cap, &len, errstr,
                               errstr_size);
        if (err)
            return err;
        tt_ukey_encode(uid, key);
        err = tt_stream_produce(s, s->t_cl, part, key, sizeof(key), s->enc,
                                len, NULL, MSG_CHANGELOG, errstr, errstr_size);
        if (err)
            return err;
        s->parts[part].cl_sent++;
    }
    return TT_ERR_OK;
}

static rd_kafka_topic_partition_list_t *batch_offsets(const tt_stream_t *s)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(
        s->n_batch_parts > 0 ? (int)s->n_batch_parts : 1);

    for (size_t k = 0; k < s->n_batch_parts; k++)
        rd_kafka_topic_partition_list_add(l, s->conf->kafka.input_topic,
                                          s->batch_parts[k])
            ->offset = s->parts[s->batch_parts[k]].next;
    return l;
}

/* Exactly-once: offsets into the transaction, then commit it. */
static tt_err_t commit_txn(tt_stream_t *s, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = batch_offsets(s);
    rd_kafka_consumer_group_metadata_t *md =
        rd_kafka_consumer_group_metadata(s->cons);
    rd_kafka_error_t *error = NULL;

    for (int i = 0; i < TXN_RETRIES; i++) {
        error = rd_kafka_send_offsets_to_transaction(s->prod, l, md, -1);
        if (!error || !rd_kafka_error_is_retriable(error))
            break;
        rd_kafka_error_destroy(error);
        error = NULL;
    }
    rd_kafka_consumer_group_metadata_destroy(md);
    rd_kafka_topic_partition_list_destroy(l);
    if (error)
        return txn_fail(s, error, "send_offsets_to_transaction", errstr,
                        errstr_size);
    for (int i = 0; i < TXN_RETRIES; i++) {
        error = rd_kafka_commit_transaction(s->prod, -1);
        if (!error || !rd_kafka_error_is_retriable(error))
            break;
        rd_kafka_error_destroy(error);
        error = NULL;
    }
    if (error)
        return txn_fail(s, error, "commit_transaction", errstr, errstr_size);
    s->txn_open = false;
    tt_metrics_add(s->metrics, TT_M_TXN_COMMITTED, 1);
    return TT_ERR_OK;
}

/* Marks every ready partition for a new restore from its checkpoint (the
 * store lost writes that Kafka has). */
static void resync_all(tt_stream_t *s)
{
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new(s->n_parts > 0 ? s->n_parts : 1);

    for (int32_t p = 0; p < s->n_parts; p++) {
        if (s->parts[p].phase != P_READY)
            continue;
        rd_kafka_topic_partition_list_add(l, s->conf->kafka.input_topic, p);
        s->parts[p].phase = P_PENDING;
        s->parts[p].dropped_min = -1;
    }
    if (l->cnt)
        rd_kafka_pause_partitions(s->cons, l);
    rd_kafka_topic_partition_list_destroy(l);
    /* Their offsets are read again when the restores end. */
    if (!s->eos)
        tt_stream_alo_discard(s);
}

/* A store write failed: forget what only memory had, and restore every
 * partition from the changelog (or give up after repeated failures). */
static tt_err_t store_failed(tt_stream_t *s, tt_err_t err, char *errstr,
                             size_t errstr_size)
{
    (void)errstr_size;
    tt_state_batch_clear(s->sb);
    if (s->cache)
        tt_ucache_rollback(s->cache);
    for (int32_t p = 0; p < s->n_parts; p++)
        s->parts[p].ckpt_pending = -1;
    if (++s->store_failures >= STORE_FAILURES_MAX)
        return err;
    tt_log_error(s->log, "stream",
                 "state store write failed (%s): restoring every partition "
                 "from the changelog",
                 errstr);
    resync_all(s);
    return TT_ERR_OK;
}

tt_err_t tt_stream_store_flush(tt_stream_t *s, char *errstr,
                               size_t errstr_size)
{
    tt_err_t err = TT_ERR_OK;
    uint64_t w0 = tt_time_mono_ns();
    double w;

    for (int32_t p = 0; p < s->n_parts && !err; p++)
        if (s->parts[p].ckpt_pending >= 0)
            err = tt_restore_put_checkpoint(s->sb, p, s->parts[p].ckpt_pending,
                                            errstr, errstr_size);
    if (!err)
        err = s->cache ? tt_ucache_commit(s->cache, s->sb, errstr, errstr_size)
                       : tt_state_commit(s->st, s->sb, errstr, errstr_size);
    if (err)
        return store_failed(s, err, errstr, errstr_size);
    for (int32_t p = 0; p < s->n_parts; p++)
        s->parts[p].ckpt_pending = -1;
    s->store_failures = 0;
    s->last_store_flush = tt_time_mono_ns();
    w = tt_time_secs(w0, s->last_store_flush);
    s->w_store += w;
    s->n_store++;
    if (w > s->w_store_max)
        s->w_store_max = w;
    return TT_ERR_OK;
}

/*
 * A batch's changed states into the store.  With the write-back cache they
 * stay dirty in memory and reach RocksDB (with the changelog checkpoints
 * they cover, in one atomic write) at most store_flush_ms later, so that a
 * user seen in many batches is written once; without it, every batch is
 * written at once.  Either way the store never runs ahead of its
 * checkpoint: a crash only means a longer changelog replay.  Only states
 * whose records Kafka has (committed transaction, or delivered) come here,
 * so the store never holds a state that Kafka lacks.
 */
tt_err_t tt_stream_store_put(tt_stream_t *s, tt_proc_t *proc,
                             const struct alo_batch *b, char *errstr,
                             size_t errstr_size)
{
    size_t n_users = tt_proc_n_users(proc), n_dirty = 0;
    struct tt_ucache_stats cs;
    uint64_t flush_ns = (uint64_t)s->opts.store_flush_ms * 1000000u;
    tt_err_t err = TT_ERR_OK;

    for (size_t i = 0; i < n_users; i++)
        n_dirty += tt_proc_user_dirty(proc, i);
    if (s->cache) {
        tt_ucache_stats(s->cache, &cs);
        if (cs.dirty + n_dirty > cs.capacity) {
            uint32_t failures = s->store_failures;

            err = tt_stream_store_flush(s, errstr, errstr_size);
            if (err || s->store_failures > failures)
                return err; /* resyncing: the changelog has the batch */
        }
    }
    for (size_t i = 0; i < n_users && !err; i++) {
        int32_t part;
        int64_t uid;
        const struct tt_user_state *st = tt_proc_user(proc, i, &part, &uid);

        if (!tt_proc_user_dirty(proc, i))
            continue;
        if (s->cache)
            err = tt_ucache_put(s->cache, part, uid, st, errstr, errstr_size);
        else
            err = tt_state_batch_put(s->sb, part, uid, st, errstr,
                                     errstr_size);
    }
    if (err)
        return store_failed(s, err, errstr, errstr_size);
    /* Only a fully acknowledged changelog moves the checkpoint (an older
     * one is always safe: records are full states), and only once the
     * states it covers are in: here, after the puts. */
    for (size_t k = 0; !b && k < s->n_batch_parts; k++) {
        struct part *p = &s->parts[s->batch_parts[k]];

        if (p->cl_sent > 0 && p->cl_acked == p->cl_sent && p->cl_max >= 0)
            p->ckpt_pending = p->cl_max + 1;
    }
    for (uint32_t k = 0; b && k < b->n_parts; k++) {
        const struct alo_part *ap = &b->parts[k];
        struct part *p = &s->parts[ap->part];

        if (ap->cl_sent > 0 && ap->cl_acked == ap->cl_sent &&
            ap->cl_max >= 0 && ap->cl_max + 1 > p->ckpt_pending)
            p->ckpt_pending = ap->cl_max + 1;
    }
    if (s->cache) {
        tt_ucache_stats(s->cache, &cs);
        if (cs.dirty * 2 <= cs.capacity &&
            tt_time_mono_ns() - s->last_store_flush < flush_ns)
            return TT_ERR_OK;
    }
    return tt_stream_store_flush(s, errstr, errstr_size);
}

static void account(tt_stream_t *s)
{
    struct tt_proc_stats ps;
    size_t n_out;
    const struct tt_proc_out *outs = tt_proc_outputs(s->proc, &n_out);
    int64_t now = tt_time_wall_ms();
    struct tt_proc_stats *was = &s->pstats_of[s->proc_ix];

    tt_proc_stats(s->proc, &ps);
    tt_metrics_add(s->metrics, TT_M_APPLIED, ps.applied - was->applied);
    tt_metrics_add(s->metrics, TT_M_DUPLICATES,
                   ps.duplicates - was->duplicates);
    tt_metrics_add(s->metrics, TT_M_UNKNOWN_ITEMS,
                   ps.unknown_items - was->unknown_items);
    tt_metrics_add(s->metrics, TT_M_RECOMPUTES,
                   ps.recomputes - was->recomputes);
    tt_metrics_add(s->metrics, TT_M_GRU_STEPS, ps.steps - was->steps);
    tt_metrics_add(s->metrics, TT_M_BATCHES, 1);
    *was = ps;
    for (size_t i = 0; i < n_out; i++) {
        int64_t ts = s->ev_ts[outs[i].in];

        if (outs[i].applied && ts > 0)
            tt_metrics_observe_latency(s->metrics, (double)(now - ts), 1);
    }
    /* At-least-once: once delivered (tt_stream_alo_close). */
    for (size_t k = 0; k < s->n_batch_parts && s->eos; k++)
        s->parts[s->batch_parts[k]].committed =
            s->parts[s->batch_parts[k]].next;
}

tt_err_t tt_stream_flush(tt_stream_t *s, char *errstr, size_t errstr_size)
{
    const struct tt_proc_view *v = tt_mhold_view(s->mhold);
    bool recovered = false;
    uint32_t failures;
    tt_err_t err;

    uint64_t t0 = tt_stream_cpu_ns(), t1, t2, t3, w0 = tt_time_mono_ns(), w1;

    if (s->n_msgs == 0) {
        /* At-least-once: commit what was delivered meanwhile. */
        err = s->eos ? TT_ERR_OK
                     : tt_stream_alo_reap(s, false, errstr, errstr_size);
        return err == TT_ERR_ABORTED ? TT_ERR_OK : err;
    }
    err = load_states(s, errstr, errstr_size);
    t1 = tt_stream_cpu_ns();
    if (!err)
        err = tt_proc_run(s->proc, v);
    if (err)
        return err;
    err = tt_stream_ensure_txn(s, errstr, errstr_size);
    if (err)
        return err;
    t2 = tt_stream_cpu_ns();
    err = produce_results(s, v, errstr, errstr_size);
    t3 = tt_stream_cpu_ns();
    w1 = tt_time_mono_ns();
    s->t_load += tt_time_secs(t0, t1);
    s->t_proc += tt_time_secs(t1, t2);
    s->t_produce += tt_time_secs(t2, t3);
    if (!err && s->eos) {
        err = commit_txn(s, errstr, errstr_size);
        recovered = true; /* commit_txn recovers by itself */
    }
    if (!recovered && (err == TT_ERR_KAFKA || err == TT_ERR_TIMEOUT)) {
        /* Produce failed: nothing of the batch reached the store or the
         * offsets (outputs already delivered may come twice in
         * at-least-once mode). */
        char msg[512];

        snprintf(msg, sizeof(msg), "%s", errstr);
        err = tt_stream_recover(s, RD_KAFKA_RESP_ERR__FAIL, false, msg,
                                errstr, errstr_size);
    }
    if (err == TT_ERR_ABORTED)
        return TT_ERR_OK;
    if (err)
        return err;
    s->fatal_recreations = 0;
    t1 = tt_stream_cpu_ns();
    s->t_commit += tt_time_secs(t3, t1);
    s->w_commit += tt_time_secs(w1, tt_time_mono_ns());
    failures = s->store_failures;
    /* At-least-once: once delivered (tt_stream_alo.c). */
    err = s->eos ? tt_stream_store_put(s, s->proc, NULL, errstr, errstr_size)
                 : TT_ERR_OK;
    s->t_store += tt_time_secs(t1, tt_stream_cpu_ns());
    if (err)
        return err;
    account(s);
    if (!s->eos && s->store_failures <= failures) {
        /* Not waiting for the delivery: offsets are committed once the
         * batch and those before it are delivered. */
        err = tt_stream_alo_close(s, errstr, errstr_size);
        if (err && err != TT_ERR_ABORTED)
            return err;
    }
    tt_stream_batch_reset(s);
    s->w_batch += tt_time_secs(w0, tt_time_mono_ns());
    return TT_ERR_OK;
}
