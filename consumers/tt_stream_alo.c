/*
 * At-least-once batches in flight.  A batch's records are produced and the
 * loop goes on with the next batch without waiting for the delivery
 * reports, up to ALO_INFLIGHT batches in flight.  Each batch has its own
 * processor (tt_proc), whose state slots keep the batch's new user states
 * until the batch is delivered: a later batch loads a user from the newest
 * batch in flight that changed it (an index, ov), else from the write-back
 * cache.  Every record carries its batch's sequence number (the message
 * opaque); the delivery reports count a batch down.  The oldest batches
 * whose records are all delivered are popped in order: their states go to
 * the cache, the changelog offsets they reached become the store's next
 * checkpoint, their offsets are committed.  So the cache and RocksDB only
 * ever hold states that Kafka has, as without the pipeline.
 *
 * A failed delivery discards every batch in flight (their states with
 * them) and rewinds to the committed offsets, i.e. to the first event of
 * the oldest batch in flight: those events are processed again from the
 * states they were first processed from, and produce the same outputs and
 * changelog records again.  Nothing is lost; outputs delivered before the
 * failure come twice.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"
#include "common/tt_time.h"
#include "consumers/tt_stream_int.h"

/* Longest a batch waits for delivery reports (a free slot, a drain). */
#define DELIVERY_WAIT_MS 60000
/* Offsets of delivered batches are committed this often (and when the
 * stream drains: revoke, stop).  At 10k events/s batches are small and
 * many; an OffsetCommit per batch costs the broker CPU that every record's
 * latency pays for.  A crash replays at most this much more. */
#define ALO_COMMIT_MS 100

static struct alo_batch *slot(tt_stream_t *s, uint64_t seq)
{
    return &s->alo[seq % ALO_INFLIGHT];
}

static uint32_t ov_hash(int32_t part, int64_t uid, uint32_t mask)
{
    return (uint32_t)tt_rng_mix64((uint64_t)uid ^
                                  ((uint64_t)(uint32_t)part << 48)) &
           mask;
}

static struct alo_ref *ov_lookup(tt_stream_t *s, int32_t part, int64_t uid)
{
    uint32_t mask = s->ov_cap - 1;

    for (uint32_t h = ov_hash(part, uid, mask);; h = (h + 1) & mask) {
        struct alo_ref *r = &s->ov[h];

        if (r->seq == 0 || (r->uid == uid && r->part == part))
            return r;
    }
}

/* Removes entry r (linear probing: later entries of its run move up). */
static void ov_remove(tt_stream_t *s, struct alo_ref *r)
{
    uint32_t mask = s->ov_cap - 1, i = (uint32_t)(r - s->ov), j = i;

    s->ov[i].seq = 0;
    s->ov_n--;
    for (;;) {
        uint32_t home;

        j = (j + 1) & mask;
        if (s->ov[j].seq == 0)
            return;
        home = ov_hash(s->ov[j].part, s->ov[j].uid, mask);
        /* Entry j may fill the hole at i unless its home lies in (i, j]. */
        if ((j > i && (home <= i || home > j)) ||
            (j < i && home <= i && home > j)) {
            s->ov[i] = s->ov[j];
            s->ov[j].seq = 0;
            i = j;
        }
    }
}

tt_err_t tt_stream_alo_new(tt_stream_t *s, const struct tt_proc_conf *pc,
                           char *errstr, size_t errstr_size)
{
    uint64_t want = 2ull * ALO_INFLIGHT * pc->batch_max;
    uint32_t cap = 64;
    tt_err_t err;

    while (cap < want)
        cap *= 2;
    s->ov = calloc(cap, sizeof(*s->ov));
    if (!s->ov)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "stream: no memory");
    s->ov_cap = cap;
    s->alo_seq = s->alo_done = 1;
    s->proc_ix = 1 % ALO_INFLIGHT;
    s->procs[s->proc_ix] = s->proc;
    for (uint32_t i = 0; i < ALO_INFLIGHT; i++) {
        if (s->procs[i])
            continue;
        err = tt_proc_new(&s->procs[i], pc, errstr, errstr_size);
        if (err)
            return err;
    }
    return TT_ERR_OK;
}

const struct tt_user_state *tt_stream_alo_find(tt_stream_t *s, int32_t part,
                                               int64_t uid)
{
    const struct alo_ref *r;

    if (!s->ov || s->ov_n == 0)
        return NULL;
    r = ov_lookup(s, part, uid);
    if (r->seq == 0)
        return NULL;
    return tt_proc_user(s->procs[r->seq % ALO_INFLIGHT], r->user, NULL,
                        NULL);
}

/* The open batch's changed users become the newest in-flight states. */
static void ov_register(tt_stream_t *s)
{
    size_t n = tt_proc_n_users(s->proc);

    for (size_t i = 0; i < n; i++) {
        int32_t part;
        int64_t uid;
        struct alo_ref *r;

        if (!tt_proc_user_dirty(s->proc, i))
            continue;
        tt_proc_user(s->proc, i, &part, &uid);
        r = ov_lookup(s, part, uid);
        if (r->seq == 0)
            s->ov_n++;
        *r = (struct alo_ref){
            .seq = s->alo_seq, .uid = uid, .part = part, .user = (uint32_t)i};
    }
}

/* Batch seq is delivered: its users no longer point at its processor. */
static void ov_unregister(tt_stream_t *s, uint64_t seq)
{
    tt_proc_t *proc = s->procs[seq % ALO_INFLIGHT];
    size_t n = tt_proc_n_users(proc);

    for (size_t i = 0; i < n && s->ov_n; i++) {
        int32_t part;
        int64_t uid;
        struct alo_ref *r;

        if (!tt_proc_user_dirty(proc, i))
            continue;
        tt_proc_user(proc, i, &part, &uid);
        r = ov_lookup(s, part, uid);
        if (r->seq == seq)
            ov_remove(s, r);
    }
}

/* The open batch becomes s->alo_seq's: its slot's processor, begun. */
static void use_proc(tt_stream_t *s)
{
    s->proc_ix = (uint32_t)(s->alo_seq % ALO_INFLIGHT);
    s->proc = s->procs[s->proc_ix];
    tt_proc_begin(s->proc);
}

/* The open batch's slot, initialised on first use (free: alo_close waits
 * for it before the batch opens). */
static struct alo_batch *open_slot(tt_stream_t *s)
{
    struct alo_batch *b = slot(s, s->alo_seq);

    if (b->seq != s->alo_seq) {
        b->seq = s->alo_seq;
        b->closed = false;
        b->pending = b->failed = 0;
        b->n_parts = 0;
    }
    return b;
}

static struct alo_part *find_part(struct alo_batch *b, int32_t part,
                                  bool add)
{
    for (uint32_t i = 0; i < b->n_parts; i++)
        if (b->parts[i].part == part)
            return &b->parts[i];
    if (!add)
        return NULL;
    if (b->n_parts == b->cap_parts) {
        /* Grows to the number of partitions once. */
        uint32_t cap = b->cap_parts ? b->cap_parts * 2 : 8;
        struct alo_part *p = realloc(b->parts, cap * sizeof(*p));

        if (!p)
            return NULL;
        b->parts = p;
        b->cap_parts = cap;
    }
    b->parts[b->n_parts] = (struct alo_part){
        .part = part, .next = -1, .cl_max = -1};
    return &b->parts[b->n_parts++];
}

tt_err_t tt_stream_alo_produced(tt_stream_t *s, enum msg_kind kind,
                                int32_t partition, char *errstr,
                                size_t errstr_size)
{
    struct alo_batch *b = open_slot(s);

    b->pending++;
    if (kind == MSG_CHANGELOG) {
        struct alo_part *p = find_part(b, partition, true);

        if (!p)
            return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                           "stream: no memory");
        p->cl_sent++;
    }
    return TT_ERR_OK;
}

void tt_stream_alo_report(tt_stream_t *s, uint64_t seq, enum msg_kind kind,
                          const rd_kafka_message_t *m)
{
    struct alo_batch *b = slot(s, seq);
    struct alo_part *p;

    if (b->seq != seq || b->pending == 0)
        return; /* a discarded batch's late report */
    b->pending--;
    if (m->err) {
        b->failed++;
        if (s->dr_failed++ == 0)
            snprintf(s->dr_error, sizeof(s->dr_error), "%s",
                     rd_kafka_err2str(m->err));
        return;
    }
    if (kind == MSG_CHANGELOG && (p = find_part(b, m->partition, false))) {
        p->cl_acked++;
        if (m->offset > p->cl_max)
            p->cl_max = m->offset;
    }
}

void tt_stream_alo_discard(tt_stream_t *s)
{
    for (int i = 0; i < ALO_INFLIGHT; i++) {
        s->alo[i].seq = 0;
        s->alo[i].n_parts = 0;
    }
    if (s->ov)
        memset(s->ov, 0, s->ov_cap * sizeof(*s->ov));
    s->ov_n = 0;
    if (s->alo_offs) {
        rd_kafka_topic_partition_list_destroy(s->alo_offs);
        s->alo_offs = NULL;
    }
    s->alo_seq++;
    s->alo_done = s->alo_seq;
    s->dr_failed = 0;
    if (s->ov)
        use_proc(s);
}

void tt_stream_alo_release(tt_stream_t *s)
{
    for (int i = 0; i < ALO_INFLIGHT; i++) {
        free(s->alo[i].parts);
        s->alo[i].parts = NULL;
        s->alo[i].cap_parts = s->alo[i].n_parts = 0;
        /* s->proc is one of them: tt_stream_destroy frees it. */
        if (s->procs[i] != s->proc)
            tt_proc_destroy(s->procs[i]);
        s->procs[i] = NULL;
    }
    free(s->ov);
    s->ov = NULL;
    if (s->alo_offs)
        rd_kafka_topic_partition_list_destroy(s->alo_offs);
    s->alo_offs = NULL;
}

/* Commits the pending offsets (async: a lost commit only means replayed,
 * skipped events after a crash). */
static void commit_offsets(tt_stream_t *s, bool sync)
{
    if (!s->alo_offs)
        return;
    rd_kafka_commit(s->cons, s->alo_offs, sync ? 0 : 1);
    rd_kafka_topic_partition_list_destroy(s->alo_offs);
    s->alo_offs = NULL;
    s->alo_commit_t = tt_time_mono_ns();
}

void tt_stream_alo_commit(tt_stream_t *s)
{
    commit_offsets(s, true);
}

/* Pops the complete batches at the front; commits their offsets. */
static tt_err_t pop(tt_stream_t *s, bool sync, char *errstr,
                    size_t errstr_size)
{
    uint32_t failures;
    tt_err_t err;

    while (s->alo_done < s->alo_seq) {
        struct alo_batch *b = slot(s, s->alo_done);

        if (b->seq != s->alo_done || !b->closed || b->pending)
            break;
        if (b->failed) {
            char msg[512];

            snprintf(msg, sizeof(msg),
                     "delivery: %u records of a batch failed, first: %s",
                     b->failed, s->dr_error);
            /* tt_stream_recover discards the batches in flight. */
            return tt_stream_recover(s, RD_KAFKA_RESP_ERR__FAIL, false, msg,
                                     errstr, errstr_size);
        }
        /* Its states into the cache, then its checkpoint (every earlier
         * batch is in already). */
        failures = s->store_failures;
        ov_unregister(s, b->seq);
        err = tt_stream_store_put(s, s->procs[b->seq % ALO_INFLIGHT], b,
                                  errstr, errstr_size);
        if (err || s->store_failures > failures)
            return err; /* resyncing from the changelog: all discarded */
        for (uint32_t i = 0; i < b->n_parts; i++) {
            const struct alo_part *ap = &b->parts[i];
            struct part *p = &s->parts[ap->part];
            rd_kafka_topic_partition_t *e;

            if (ap->next < 0)
                continue;
            p->committed = ap->next;
            if (!s->alo_offs)
                s->alo_offs = rd_kafka_topic_partition_list_new(8);
            e = rd_kafka_topic_partition_list_find(
                s->alo_offs, s->conf->kafka.input_topic, ap->part);
            if (!e)
                e = rd_kafka_topic_partition_list_add(
                    s->alo_offs, s->conf->kafka.input_topic, ap->part);
            e->offset = ap->next;
        }
        b->seq = 0;
        s->alo_done++;
    }
    if (sync || tt_time_mono_ns() - s->alo_commit_t >=
                    ALO_COMMIT_MS * 1000000ull)
        commit_offsets(s, sync);
    return TT_ERR_OK;
}

/* Waits until the batch `seq` (and so every earlier one) is popped. */
static tt_err_t wait_popped(tt_stream_t *s, uint64_t seq, bool sync,
                            char *errstr, size_t errstr_size)
{
    uint64_t t0 = tt_time_mono_ns();
    tt_err_t err;

    for (;;) {
        uint64_t done = s->alo_done;

        err = pop(s, sync, errstr, errstr_size);
        if (err)
            return err;
        if (s->alo_done > seq || s->alo_done == s->alo_seq)
            return TT_ERR_OK;
        if (s->alo_done == done &&
            tt_time_mono_ns() - t0 > DELIVERY_WAIT_MS * 1000000ull) {
            char msg[256];

            snprintf(msg, sizeof(msg), "delivery: no report for %d ms",
                     DELIVERY_WAIT_MS);
            return tt_stream_recover(s, RD_KAFKA_RESP_ERR__TIMED_OUT, false,
                                     msg, errstr, errstr_size);
        }
        if (s->alo_done != done)
            t0 = tt_time_mono_ns();
        rd_kafka_poll(s->prod, 5);
    }
}

tt_err_t tt_stream_alo_reap(tt_stream_t *s, bool wait_all, char *errstr,
                            size_t errstr_size)
{
    rd_kafka_poll(s->prod, 0);
    if (!wait_all || s->alo_done >= s->alo_seq)
        return pop(s, wait_all, errstr, errstr_size);
    return wait_popped(s, s->alo_seq - 1, true, errstr, errstr_size);
}

tt_err_t tt_stream_alo_close(tt_stream_t *s, char *errstr,
                             size_t errstr_size)
{
    struct alo_batch *b = open_slot(s);
    tt_err_t err;

    for (size_t k = 0; k < s->n_batch_parts; k++) {
        int32_t part = s->batch_parts[k];
        struct alo_part *p = find_part(b, part, true);

        if (!p)
            return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                           "stream: no memory");
        p->next = s->parts[part].next;
    }
    b->closed = true;
    ov_register(s);
    s->alo_seq++;
    rd_kafka_poll(s->prod, 0);
    /* The next batch's slot (and processor) must be free before it takes
     * anything. */
    if (slot(s, s->alo_seq)->seq != 0) {
        uint64_t w0 = tt_time_mono_ns();

        s->alo_waits++;
        err = wait_popped(s, s->alo_seq - ALO_INFLIGHT, false, errstr,
                          errstr_size);
        s->w_commit += tt_time_secs(w0, tt_time_mono_ns());
    } else {
        err = pop(s, false, errstr, errstr_size);
    }
    if (!err)
        use_proc(s); /* (after a discard, tt_stream_alo_discard did) */
    return err;
}
