/*
 * The partitions of the stream: rebalance callbacks (pause new partitions,
 * commit or abandon the open batch before giving partitions up) and the
 * restores that bring a partition's states up to date before its events
 * flow.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_time.h"
#include "consumers/tt_stream_int.h"

/*
 * A newly assigned partition's committed offset is read with read_committed
 * semantics: while a previous owner's transaction holding offsets of it is
 * open (it died committing), the broker answers "unstable" and librdkafka
 * asks again until its timeout.  That may last until the coordinator aborts
 * the transaction (transaction.timeout.ms plus its sweep, seconds), so the
 * loop asks with a short timeout and tries again later, while the other
 * partitions flow, instead of blocking them all.  The timeout doubles with
 * each try that timed out (a slow broker), up to COMMITTED_TRY_MAX_MS.
 */
#define COMMITTED_TRY_MS 250
#define COMMITTED_TRY_MAX_MS 4000
#define COMMITTED_RETRY_MS 500

tt_err_t tt_stream_grow_parts(tt_stream_t *s, int32_t n, char *errstr,
                             size_t errstr_size)
{
    struct part *p;
    int32_t *bp;

    if (n <= s->n_parts)
        return TT_ERR_OK;
    bp = realloc(s->batch_parts, (size_t)n * sizeof(*bp));
    if (bp)
        s->batch_parts = bp;
    p = bp ? realloc(s->parts, (size_t)n * sizeof(*p)) : NULL;
    if (!p)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "stream: no memory");
    for (int32_t i = s->n_parts; i < n; i++) {
        memset(&p[i], 0, sizeof(p[i]));
        p[i].committed = p[i].resume_at = p[i].dropped_min = -1;
        p[i].cl_max = -1;
        p[i].ckpt_pending = -1;
    }
    s->parts = p;
    s->n_parts = n;
    return TT_ERR_OK;
}

static void log_parts(tt_stream_t *s, const char *what,
                      const rd_kafka_topic_partition_list_t *l,
                      const char *suffix)
{
    char buf[512];
    size_t len = 0;

    buf[0] = '\0';
    for (int i = 0; i < l->cnt && len + 16 < sizeof(buf); i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%" PRId32,
                                i ? "," : "", l->elems[i].partition);
    tt_log_info(s->log, "stream", "%s partitions [%s]%s", what, buf, suffix);
}

static void set_cb_err(tt_stream_t *s, tt_err_t err, const char *msg)
{
    if (s->cb_err)
        return;
    s->cb_err = err;
    snprintf(s->cb_errstr, sizeof(s->cb_errstr), "%s", msg);
}

static void on_assign(tt_stream_t *s, rd_kafka_t *rk,
                      rd_kafka_topic_partition_list_t *l, bool cooperative)
{
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t kerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    char errstr[256];
    int32_t max = 0;

    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].partition + 1 > max)
            max = l->elems[i].partition + 1;
    if (tt_stream_grow_parts(s, max, errstr, sizeof(errstr))) {
        set_cb_err(s, TT_ERR_NOMEM, errstr);
        return;
    }
    if (cooperative)
        error = rd_kafka_incremental_assign(rk, l);
    else
        kerr = rd_kafka_assign(rk, l);
    if (error || kerr) {
        snprintf(errstr, sizeof(errstr), "assign: %s",
                 error ? rd_kafka_error_string(error) : rd_kafka_err2str(kerr));
        if (error)
            rd_kafka_error_destroy(error);
        set_cb_err(s, TT_ERR_KAFKA, errstr);
        return;
    }
    /* Paused until restored: no event of a partition before its state. */
    rd_kafka_pause_partitions(rk, l);
    for (int i = 0; i < l->cnt; i++) {
        struct part *p = &s->parts[l->elems[i].partition];

        p->phase = P_PENDING;
        p->dropped_min = -1;
        p->resume_at = -1;
        p->unstable_t0 = p->retry_at = 0;
        p->tries = 0;
    }
    log_parts(s, "assigned", l, "");
}

static void on_revoke(tt_stream_t *s, rd_kafka_t *rk,
                      rd_kafka_topic_partition_list_t *l, bool cooperative)
{
    bool lost = rd_kafka_assignment_lost(rk) != 0;
    char errstr[512];
    rd_kafka_error_t *error = NULL;
    tt_err_t err;

    if (!lost) {
        /* The open work of the partitions leaving (and of the others, it
         * is one batch) is committed before they are given up. */
        err = tt_stream_flush(s, errstr, sizeof(errstr));
        /* At-least-once: every batch in flight delivered and committed
         * (their changelog records must not land after the next owner's). */
        if (!err && !s->eos)
            err = tt_stream_alo_reap(s, true, errstr, sizeof(errstr));
        if (err == TT_ERR_ABORTED)
            err = TT_ERR_OK; /* rewound: the new owner reads them */
        if (err)
            set_cb_err(s, err, errstr);
    } else {
        /* Another member may own them already: commit nothing. */
        err = tt_stream_abort_txn(s, errstr, sizeof(errstr));
        if (err)
            set_cb_err(s, err, errstr);
        tt_stream_batch_reset(s);
        if (!s->eos)
            tt_stream_alo_discard(s);
        s->need_rewind = true;
    }
    /* Their states still only in the write-back cache go to the store
     * before the cache forgets them (they are committed: the changelog
     * has them too). */
    err = tt_stream_store_flush(s, errstr, sizeof(errstr));
    if (err)
        set_cb_err(s, err, errstr);
    for (int i = 0; i < l->cnt; i++) {
        int32_t p = l->elems[i].partition;

        if (p >= s->n_parts)
            continue;
        if (s->parts[p].phase == P_RESTORING &&
            tt_restore_cancel(s->restore, p, errstr, sizeof(errstr)))
            set_cb_err(s, TT_ERR_STATE, errstr);
        if (s->cache)
            tt_ucache_forget_partition(s->cache, p);
        s->parts[p].phase = P_NONE;
        tt_metrics_set_lag(s->metrics, p, -1);
    }
    if (cooperative)
        error = rd_kafka_incremental_unassign(rk, l);
    else
        rd_kafka_assign(rk, NULL);
    if (error)
        rd_kafka_error_destroy(error);
    log_parts(s, "revoked", l, lost ? " (lost)" : "");
}

void tt_stream_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *l, void *opaque)
{
    tt_stream_t *s = opaque;
    bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");

    tt_metrics_add(s->metrics, TT_M_REBALANCES, 1);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(s, rk, l, coop);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        on_revoke(s, rk, l, coop);
    } else {
        tt_log_error(s->log, "stream", "rebalance error: %s",
                     rd_kafka_err2str(err));
        if (coop)
            rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, l));
        else
            rd_kafka_assign(rk, NULL);
    }
}

/* Starts the restore of a partition assigned (or resynced) since. */
static tt_err_t restore_begin(tt_stream_t *s, int32_t p, char *errstr,
                              size_t errstr_size)
{
    struct part *pt = &s->parts[p];
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t kerr;
    uint64_t now = tt_time_mono_ns();
    int try_ms = COMMITTED_TRY_MS;
    int64_t ck = -1;
    tt_err_t err;

    if (now < pt->retry_at)
        return TT_ERR_OK;
    for (uint32_t i = 0; i < pt->tries && try_ms < COMMITTED_TRY_MAX_MS; i++)
        try_ms *= 2;
    l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, s->conf->kafka.input_topic, p);
    /* First the committed offset: read_committed, it is only given once a
     * previous owner's open transaction has committed or aborted, so that
     * the changelog read next already holds (or never will) that work. */
    kerr = rd_kafka_committed(s->cons, l, try_ms);
    if (!kerr)
        kerr = l->elems[0].err;
    if (kerr) {
        rd_kafka_topic_partition_list_destroy(l);
        if (kerr == RD_KAFKA_RESP_ERR__TIMED_OUT && !pt->unstable_t0)
            tt_log_info(s->log, "stream",
                        "partition %" PRId32 ": committed offset not "
                        "given yet (a previous owner's transaction may be "
                        "open); the other partitions go on meanwhile",
                        p);
        else if (kerr != RD_KAFKA_RESP_ERR__TIMED_OUT)
            tt_log_warn(s->log, "stream",
                        "partition %" PRId32 ": committed offset: %s; will "
                        "retry",
                        p, rd_kafka_err2str(kerr));
        if (!pt->unstable_t0)
            pt->unstable_t0 = now;
        pt->tries++;
        pt->retry_at = tt_time_mono_ns() + COMMITTED_RETRY_MS * 1000000ull;
        return TT_ERR_OK;
    }
    if (pt->unstable_t0)
        tt_log_info(s->log, "stream",
                    "partition %" PRId32 ": committed offset given after "
                    "%.1f s",
                    p, tt_time_secs(pt->unstable_t0, tt_time_mono_ns()));
    pt->unstable_t0 = pt->retry_at = 0;
    pt->tries = 0;
    s->parts[p].resume_at = l->elems[0].offset >= 0 ? l->elems[0].offset : -1;
    s->parts[p].committed = s->parts[p].resume_at;
    rd_kafka_topic_partition_list_destroy(l);
    if (s->cache)
        tt_ucache_forget_partition(s->cache, p);
    s->parts[p].ckpt_pending = -1;
    if (tt_state_has_partition(s->st, p)) {
        err = tt_restore_checkpoint(s->st, p, &ck, errstr, errstr_size);
        if (err)
            return err;
    }
    err = tt_restore_start(s->restore, p, errstr, errstr_size);
    if (err)
        return err;
    s->parts[p].phase = P_RESTORING;
    s->parts[p].restore_t0 = tt_time_mono_ns();
    tt_log_info(s->log, "stream",
                "partition %" PRId32 ": restoring from %s offset %" PRId64
                " (input committed %" PRId64 ")",
                p, s->conf->kafka.changelog_topic, ck < 0 ? 0 : ck,
                s->parts[p].resume_at);
    return TT_ERR_OK;
}

/* The partition's store is complete: seek it to where processing resumes
 * and let its events flow. */
static tt_err_t restore_end(tt_stream_t *s, int32_t p, char *errstr,
                            size_t errstr_size)
{
    struct part *pt = &s->parts[p];
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    int64_t at = pt->resume_at >= 0 ? pt->resume_at : pt->dropped_min;
    char what[64];
    tt_err_t err = TT_ERR_OK;

    rd_kafka_topic_partition_list_add(l, s->conf->kafka.input_topic, p)
        ->offset = at;
    if (s->cache)
        tt_ucache_forget_partition(s->cache, p);
    snprintf(what, sizeof(what), "partition %" PRId32, p);
    if (at >= 0)
        err = tt_stream_seek(s, l, what, errstr, errstr_size);
    if (!err)
        rd_kafka_resume_partitions(s->cons, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        return err;
    pt->phase = P_READY;
    pt->dropped_min = -1;
    tt_metrics_add(s->metrics, TT_M_RESTORES, 1);
    tt_log_info(s->log, "stream",
                "partition %" PRId32 ": restored in %.2f s, resuming at "
                "%" PRId64,
                p, tt_time_secs(pt->restore_t0, tt_time_mono_ns()), at);
    return TT_ERR_OK;
}

tt_err_t tt_stream_restores(tt_stream_t *s, int budget_ms, char *errstr,
                            size_t errstr_size)
{
    int32_t done[64];
    size_t n_done = 0;
    struct tt_restore_stats before, after;
    tt_err_t err;

    for (int32_t p = 0; p < s->n_parts; p++) {
        if (s->parts[p].phase != P_PENDING)
            continue;
        err = restore_begin(s, p, errstr, errstr_size);
        if (err)
            return err;
    }
    if (tt_restore_n_active(s->restore) == 0)
        return TT_ERR_OK;
    tt_restore_stats(s->restore, &before);
    err = tt_restore_step(s->restore, budget_ms, done, 64, &n_done, errstr,
                          errstr_size);
    tt_restore_stats(s->restore, &after);
    tt_metrics_add(s->metrics, TT_M_RESTORED_RECORDS,
                   after.records - before.records);
    if (after.bad_records != before.bad_records)
        tt_log_warn(s->log, "stream",
                    "restore: %" PRIu64
                    " undecodable changelog records skipped",
                    after.bad_records - before.bad_records);
    if (err)
        return err;
    for (size_t i = 0; i < n_done; i++) {
        if (done[i] >= s->n_parts || s->parts[done[i]].phase != P_RESTORING)
            continue;
        err = restore_end(s, done[i], errstr, errstr_size);
        if (err)
            return err;
    }
    return TT_ERR_OK;
}
