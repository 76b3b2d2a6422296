/*
 * End-to-end through a real broker: interaction events produced by
 * tt_eventprod (Avro, keyed by user, murmur2) to a 4-partition topic and
 * consumed back by tt_kcons consumer-group members.
 *
 * - two_consumers: two members of one group in two threads; cooperative-
 *   sticky must split the partitions between them, and together they must
 *   see every record exactly once with the content that was sent; all of a
 *   user's events on one partition, in the order produced, on the partition
 *   murmur2(key) % 4 that a Java client would pick.
 * - consume_rate: one member reading a topic produced beforehand; measures
 *   produce and consume rates.
 * - rebalance_midstream: a slow member alone, a second one joins mid-way and
 *   leaves again (manual commits); the partitions move twice while records
 *   are in flight, and still every record is processed exactly once.
 * - revoke_mid_batch: the revocation lands while a member is collecting a
 *   batch of slowly arriving records; what it loses is dropped from the
 *   batch, and still every record is processed exactly once.
 *
 * Needs TT_TEST_BROKERS (see tt_itest.h); fails, never skips, without it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/tt_rng.h"
#include "common/tt_time.h"
#include "consumers/tt_kcons.h"
#include "producers/tt_eventprod.h"
#include "producers/tt_ukey.h"
#include "schemas/tt_codec.h"
#include "tests/integration/tt_itest.h"

#define N_EVENTS 10000
#define N_PARTS 4
#define N_USERS 300
#define TS_BASE INT64_C(1700000000000)
#define TS_STEP 7

/* Events whose index can be read back from the timestamp, so that every
 * consumed record identifies the one sent. */
struct events {
    struct tt_event ev[N_EVENTS];
    int user_ix[N_EVENTS];
    int64_t user_id[N_USERS];
};

static struct events *make_events(uint64_t seed)
{
    struct events *e = calloc(1, sizeof(*e));
    struct tt_rng rng;

    assert_non_null(e);
    tt_rng_seed(&rng, seed, 0);
    for (int u = 0; u < N_USERS; u++) {
        /* Large, sparse ids exercise all 8 key bytes. */
        e->user_id[u] = (int64_t)(tt_rng_mix64((uint64_t)u + seed) >> 4);
    }
    for (int i = 0; i < N_EVENTS; i++) {
        /* Skewed: low user indices are much more active. */
        double x = tt_rng_uniform(&rng);
        int u = (int)(x * x * x * N_USERS);

        e->user_ix[i] = u;
        e->ev[i].user_id = e->user_id[u];
        e->ev[i].item_id = (int64_t)tt_rng_below(&rng, 1000000);
        e->ev[i].ts_ms = TS_BASE + (int64_t)i * TS_STEP;
        e->ev[i].category =
            i % 5 == 0 ? TT_EVENT_NO_CATEGORY : (int32_t)tt_rng_below(&rng, 20);
    }
    return e;
}

struct rec {
    int32_t partition;
    int64_t offset;
    int64_t key_user; /* decoded from the record key, -1 if bad */
    struct tt_event ev;
};

/* One consumer-group member in its own thread.  No cmocka calls here:
 * failures are recorded and asserted by the test thread. */
struct worker {
    const struct tt_conf_kafka *kc;
    const char *topic;
    const char *group;
    enum tt_kcons_commit commit;
    size_t batch_max;
    int sleep_ms_per_batch;     /* simulated processing time */
    size_t start_at;            /* wait until *total reaches this */
    size_t leave_after;         /* leave the group after this many of
                                   its own records */
    int idle_ms;                /* give up after this long without data */
    int poll_ms;                /* time budget of one batch */
    size_t want;                /* records in the topic, all members */
    atomic_size_t *total;       /* records processed by all members */
    atomic_int assigned;        /* partitions assigned, after each poll */
    atomic_int started;
    struct rec *recs;
    size_t n_recs;
    uint64_t first_ns, last_ns;
    struct tt_kcons_stats stats;
    tt_err_t err;
    char errstr[512];
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void record(struct worker *w, tt_codec_t *codec,
                   const rd_kafka_message_t *m)
{
    struct rec *r = &w->recs[w->n_recs];
    char errstr[256];

    if (w->n_recs >= N_EVENTS) {
        w->err = TT_ERR_OVERFLOW;
        snprintf(w->errstr, sizeof(w->errstr), "more than %d records",
                 N_EVENTS);
        return;
    }
    r->partition = m->partition;
    r->offset = m->offset;
    if (tt_ukey_decode(m->key, m->key_len, &r->key_user))
        r->key_user = -1;
    if (tt_codec_decode_event(codec, m->payload, m->len, &r->ev, errstr,
                              sizeof(errstr))) {
        w->err = TT_ERR_PARSE;
        snprintf(w->errstr, sizeof(w->errstr), "decoding [%d]@%lld: %s",
                 (int)m->partition, (long long)m->offset, errstr);
        return;
    }
    w->n_recs++;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    const char *topics[1] = {w->topic};
    struct tt_kcons_opts opts;
    rd_kafka_message_t *batch[512];
    tt_codec_t *codec = NULL;
    tt_kcons_t *c = NULL;
    uint64_t last = tt_time_mono_ns();
    size_t n;

    while (atomic_load(w->total) < w->start_at)
        sleep_ms(5);
    memset(&opts, 0, sizeof(opts));
    opts.group_id = w->group;
    opts.topics = topics;
    opts.n_topics = 1;
    opts.from_beginning = true;
    opts.commit = w->commit;
    w->err = tt_codec_new(&codec, w->errstr, sizeof(w->errstr));
    if (!w->err)
        w->err = tt_kcons_new(&c, w->kc, &opts, w->errstr, sizeof(w->errstr));
    atomic_store(&w->started, 1);
    while (!w->err && atomic_load(w->total) < w->want &&
           w->n_recs < w->leave_after) {
        w->err = tt_kcons_poll_batch(c, batch, w->batch_max, w->poll_ms, &n,
                                     w->errstr, sizeof(w->errstr));
        if (w->err)
            break;
        tt_kcons_stats(c, &w->stats);
        atomic_store(&w->assigned, w->stats.assigned);
        for (size_t i = 0; i < n && !w->err; i++)
            record(w, codec, batch[i]);
        if (n) {
            if (w->sleep_ms_per_batch)
                sleep_ms(w->sleep_ms_per_batch);
            /* Processed: store, then count as done. */
            if (!w->err)
                w->err = tt_kcons_store_batch(c, batch, n, w->errstr,
                                              sizeof(w->errstr));
            last = tt_time_mono_ns();
            if (!w->first_ns)
                w->first_ns = last;
            w->last_ns = last;
            atomic_fetch_add(w->total, n);
        }
        tt_kcons_batch_free(batch, n);
        if (tt_time_secs(last, tt_time_mono_ns()) * 1000.0 > w->idle_ms) {
            w->err = TT_ERR_TIMEOUT;
            snprintf(w->errstr, sizeof(w->errstr),
                     "no record for %d ms (%zu of %zu processed in all)",
                     w->idle_ms, atomic_load(w->total), w->want);
        }
    }
    if (c) {
        tt_kcons_stats(c, &w->stats);
        if (!w->err)
            w->err = tt_kcons_close(c, w->errstr, sizeof(w->errstr));
        tt_kcons_destroy(c);
    }
    tt_codec_destroy(codec);
    return NULL;
}

static struct worker *worker_new(const struct tt_conf_kafka *kc,
                                 const char *topic, const char *group,
                                 atomic_size_t *total)
{
    struct worker *w = calloc(1, sizeof(*w));

    assert_non_null(w);
    w->recs = calloc(N_EVENTS, sizeof(*w->recs));
    assert_non_null(w->recs);
    w->kc = kc;
    w->topic = topic;
    w->group = group;
    w->batch_max = 512;
    w->poll_ms = 100;
    w->want = N_EVENTS;
    w->leave_after = SIZE_MAX;
    w->idle_ms = 30000;
    w->total = total;
    return w;
}

static void worker_free(struct worker *w)
{
    free(w->recs);
    free(w);
}

static void check_worker(const struct worker *w, const char *name)
{
    if (w->err)
        fail_msg("consumer %s: %s: %s", name, tt_err_name(w->err),
                 w->errstr);
}

/*
 * The core assertions: every event exactly once with identical content,
 * the key is the user's, each user on one partition (the murmur2 one) in
 * produce order.
 */
static void check_records(const struct events *e, int n_events,
                          struct worker *const *ws, int n_ws)
{
    static int32_t part_of[N_EVENTS];
    static int64_t off_of[N_EVENTS];
    static int seen[N_EVENTS];
    int32_t user_part[N_USERS];
    int64_t user_last[N_USERS];

    memset(seen, 0, sizeof(seen));
    for (int k = 0; k < n_ws; k++) {
        for (size_t j = 0; j < ws[k]->n_recs; j++) {
            const struct rec *r = &ws[k]->recs[j];
            int64_t d = r->ev.ts_ms - TS_BASE;
            int64_t i = d / TS_STEP;

            if (d < 0 || d % TS_STEP || i >= n_events)
                fail_msg("record [%d]@%lld: timestamp %lld was never sent",
                         (int)r->partition, (long long)r->offset,
                         (long long)r->ev.ts_ms);
            if (seen[i]++)
                fail_msg("event %lld received twice (second at [%d]@%lld)",
                         (long long)i, (int)r->partition,
                         (long long)r->offset);
            assert_true(r->ev.user_id == e->ev[i].user_id);
            assert_true(r->ev.item_id == e->ev[i].item_id);
            assert_true(r->ev.ts_ms == e->ev[i].ts_ms);
            assert_int_equal(r->ev.category, e->ev[i].category);
            assert_true(r->key_user == e->ev[i].user_id);
            part_of[i] = r->partition;
            off_of[i] = r->offset;
        }
    }
    for (int i = 0; i < n_events; i++) {
        if (seen[i] != 1)
            fail_msg("event %d (user %lld) never received", i,
                     (long long)e->ev[i].user_id);
    }
    for (int u = 0; u < N_USERS; u++) {
        user_part[u] = -1;
        user_last[u] = -1;
    }
    for (int i = 0; i < n_events; i++) {
        int u = e->user_ix[i];

        /* What a Java producer with LongSerializer keys would choose. */
        assert_int_equal(part_of[i],
                         tt_ukey_user_partition(e->ev[i].user_id, N_PARTS));
        if (user_part[u] < 0)
            user_part[u] = part_of[i];
        if (part_of[i] != user_part[u])
            fail_msg("user %lld on partitions %d and %d",
                     (long long)e->ev[i].user_id, user_part[u], part_of[i]);
        if (off_of[i] <= user_last[u])
            fail_msg("user %lld: event %d at offset %lld, after %lld: out "
                     "of produce order",
                     (long long)e->ev[i].user_id, i, (long long)off_of[i],
                     (long long)user_last[u]);
        user_last[u] = off_of[i];
    }
}

/* Bit i set when the worker received records of partition i. */
static unsigned partitions_of(const struct worker *w)
{
    unsigned mask = 0;

    for (size_t j = 0; j < w->n_recs; j++)
        mask |= 1u << w->recs[j].partition;
    return mask;
}

static void test_two_consumers(void **state)
{
    struct tt_conf conf;
    char topic[TT_ITEST_NAME_MAX], group[TT_ITEST_NAME_MAX];
    struct events *e = make_events(42);
    atomic_size_t total = 0;
    struct worker *a, *b;
    pthread_t ta, tb;
    uint64_t t0;
    double secs;
    unsigned ma, mb;

    (void)state;
    tt_itest_conf(&conf);
    tt_itest_name(topic, sizeof(topic), "tt-roundtrip");
    tt_itest_name(group, sizeof(group), "tt-roundtrip-group");
    tt_itest_create_topic(&conf.kafka, topic, N_PARTS);
    a = worker_new(&conf.kafka, topic, group, &total);
    b = worker_new(&conf.kafka, topic, group, &total);
    assert_int_equal(pthread_create(&ta, NULL, worker_main, a), 0);
    assert_int_equal(pthread_create(&tb, NULL, worker_main, b), 0);

    /* Produce only once the group has settled, so that both members get
     * records whatever the join timing. */
    t0 = tt_time_mono_ns();
    while (!(atomic_load(&a->assigned) > 0 && atomic_load(&b->assigned) > 0 &&
             atomic_load(&a->assigned) + atomic_load(&b->assigned) ==
                 N_PARTS)) {
        if (tt_time_secs(t0, tt_time_mono_ns()) > 30.0 || a->err || b->err)
            break;
        sleep_ms(20);
    }
    print_message("group settled after %.2f s: %d + %d partitions\n",
                  tt_time_secs(t0, tt_time_mono_ns()),
                  atomic_load(&a->assigned), atomic_load(&b->assigned));
    secs = tt_itest_produce(&conf.kafka, topic, e->ev, N_EVENTS);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    check_worker(a, "A");
    check_worker(b, "B");
    print_message("produced %d events in %.3f s (%.0f/s); consumed by two "
                  "members: %zu + %zu\n",
                  N_EVENTS, secs, N_EVENTS / secs, a->n_recs, b->n_recs);

    /* cooperative-sticky split the partitions: disjoint, both busy */
    assert_int_equal(a->stats.assigned + b->stats.assigned, N_PARTS);
    ma = partitions_of(a);
    mb = partitions_of(b);
    assert_true(ma != 0 && mb != 0);
    assert_int_equal(ma & mb, 0);
    assert_int_equal(ma | mb, (1u << N_PARTS) - 1);
    assert_int_equal(a->n_recs + b->n_recs, N_EVENTS);
    {
        struct worker *ws[2] = {a, b};

        check_records(e, N_EVENTS, ws, 2);
    }
    assert_int_equal(tt_itest_topic_records(&conf.kafka, topic), N_EVENTS);
    tt_itest_delete_topic(&conf.kafka, topic);
    worker_free(a);
    worker_free(b);
    free(e);
    tt_conf_release(&conf);
}

static void count_one(void *arg, const rd_kafka_message_t *msg)
{
    size_t *n = arg;

    if (!msg->err && msg->len > 0)
        (*n)++;
}

static void test_consume_rate(void **state)
{
    struct tt_conf conf;
    char topic[TT_ITEST_NAME_MAX], group[TT_ITEST_NAME_MAX];
    struct events *e = make_events(7);
    atomic_size_t total = 0;
    struct worker *a;
    double psecs, csecs;

    (void)state;
    tt_itest_conf(&conf);
    tt_itest_name(topic, sizeof(topic), "tt-rate");
    tt_itest_name(group, sizeof(group), "tt-rate-group");
    tt_itest_create_topic(&conf.kafka, topic, N_PARTS);
    psecs = tt_itest_produce(&conf.kafka, topic, e->ev, N_EVENTS);
    a = worker_new(&conf.kafka, topic, group, &total);
    worker_main(a);
    check_worker(a, "A");
    assert_int_equal(a->n_recs, N_EVENTS);
    csecs = tt_time_secs(a->first_ns, a->last_ns);
    print_message("produce %d events: %.3f s = %.0f events/s; consume "
                  "(first to last record): %.3f s = %.0f events/s\n",
                  N_EVENTS, psecs, N_EVENTS / psecs, csecs,
                  csecs > 0 ? N_EVENTS / csecs : 0.0);
    {
        struct worker *ws[1] = {a};

        check_records(e, N_EVENTS, ws, 1);
    }
    /* The shared helper reads the same topic from the start in a new
     * group. */
    {
        size_t counted = 0;

        tt_itest_name(group, sizeof(group), "tt-rate-again");
        assert_int_equal(tt_itest_consume(&conf.kafka, topic, group,
                                          N_EVENTS, 10000, count_one,
                                          &counted),
                         N_EVENTS);
        assert_int_equal(counted, N_EVENTS);
    }
    tt_itest_delete_topic(&conf.kafka, topic);
    worker_free(a);
    free(e);
    tt_conf_release(&conf);
}

static void test_rebalance_midstream(void **state)
{
    struct tt_conf conf;
    char topic[TT_ITEST_NAME_MAX], group[TT_ITEST_NAME_MAX];
    struct events *e = make_events(99);
    atomic_size_t total = 0;
    struct worker *a, *b;
    pthread_t ta, tb;

    (void)state;
    tt_itest_conf(&conf);
    tt_itest_name(topic, sizeof(topic), "tt-rebalance");
    tt_itest_name(group, sizeof(group), "tt-rebalance-group");
    tt_itest_create_topic(&conf.kafka, topic, N_PARTS);
    tt_itest_produce(&conf.kafka, topic, e->ev, N_EVENTS);

    /* About 2000 records/s per member, so the joins and the leave happen
     * while records are in flight. */
    a = worker_new(&conf.kafka, topic, group, &total);
    b = worker_new(&conf.kafka, topic, group, &total);
    a->commit = b->commit = TT_KCONS_COMMIT_MANUAL;
    a->batch_max = b->batch_max = 20;
    a->sleep_ms_per_batch = b->sleep_ms_per_batch = 10;
    b->start_at = 1500;
    b->leave_after = 1500;
    assert_int_equal(pthread_create(&ta, NULL, worker_main, a), 0);
    assert_int_equal(pthread_create(&tb, NULL, worker_main, b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    check_worker(a, "A");
    check_worker(b, "B");
    print_message("A: %zu records, %llu assigns, %llu revokes, %llu dropped "
                  "from a batch; B: %zu records, %llu assigns, %llu "
                  "revokes\n",
                  a->n_recs, (unsigned long long)a->stats.assigns,
                  (unsigned long long)a->stats.revokes,
                  (unsigned long long)a->stats.dropped, b->n_recs,
                  (unsigned long long)b->stats.assigns,
                  (unsigned long long)b->stats.revokes);
    /* The partitions really moved: A gave some to B and got them back. */
    assert_true(b->n_recs > 0);
    assert_true(a->stats.revokes >= 1);
    assert_true(a->stats.assigns >= 2);
    assert_int_equal(a->stats.lost, 0);
    {
        struct worker *ws[2] = {a, b};

        check_records(e, N_EVENTS, ws, 2);
    }
    tt_itest_delete_topic(&conf.kafka, topic);
    worker_free(a);
    worker_free(b);
    free(e);
    tt_conf_release(&conf);
}

/* Produces events slowly from its own thread (no cmocka calls). */
struct trickle {
    const struct tt_conf_kafka *kc;
    const char *topic;
    const struct events *e;
    int n;
    int per_tick;
    int tick_ms;
    tt_err_t err;
    char errstr[512];
};

static void *trickle_main(void *arg)
{
    struct trickle *t = arg;
    struct tt_eventprod_opts opts = {t->topic, 0};
    tt_eventprod_t *p;

    t->err = tt_eventprod_new(&p, t->kc, &opts, t->errstr,
                              sizeof(t->errstr));
    for (int i = 0; i < t->n && !t->err; i++) {
        t->err = tt_eventprod_send(p, &t->e->ev[i], t->errstr,
                                   sizeof(t->errstr));
        if (!t->err && (i + 1) % t->per_tick == 0) {
            t->err = tt_eventprod_flush(p, 10000, t->errstr,
                                        sizeof(t->errstr));
            sleep_ms(t->tick_ms);
        }
    }
    if (!t->err)
        t->err = tt_eventprod_flush(p, 30000, t->errstr, sizeof(t->errstr));
    tt_eventprod_destroy(p);
    return NULL;
}

/*
 * Records arrive slowly while a member collects a long batch; a second
 * member joins in the middle of it.  The revocation lands inside the
 * first member's batch: what it had collected from the partitions it loses
 * must be dropped (their new owner reads them from the committed offset),
 * or they would be processed twice.
 */
static void test_revoke_mid_batch(void **state)
{
    enum { N = 3000 };
    struct tt_conf conf;
    char topic[TT_ITEST_NAME_MAX], group[TT_ITEST_NAME_MAX];
    struct events *e = make_events(1234);
    atomic_size_t total = 0;
    struct trickle t;
    struct worker *a, *b;
    pthread_t ta, tb, tp;
    uint64_t t0;

    (void)state;
    tt_itest_conf(&conf);
    tt_itest_name(topic, sizeof(topic), "tt-midbatch");
    tt_itest_name(group, sizeof(group), "tt-midbatch-group");
    tt_itest_create_topic(&conf.kafka, topic, N_PARTS);
    a = worker_new(&conf.kafka, topic, group, &total);
    b = worker_new(&conf.kafka, topic, group, &total);
    a->commit = b->commit = TT_KCONS_COMMIT_MANUAL;
    a->want = b->want = N;
    a->batch_max = b->batch_max = 512;
    a->poll_ms = b->poll_ms = 1000;
    assert_int_equal(pthread_create(&ta, NULL, worker_main, a), 0);
    t0 = tt_time_mono_ns();
    while (atomic_load(&a->assigned) != N_PARTS && !a->err &&
           tt_time_secs(t0, tt_time_mono_ns()) < 30.0)
        sleep_ms(20);
    memset(&t, 0, sizeof(t));
    t.kc = &conf.kafka;
    t.topic = topic;
    t.e = e;
    t.n = N;
    t.per_tick = 10;
    t.tick_ms = 10;
    assert_int_equal(pthread_create(&tp, NULL, trickle_main, &t), 0);
    sleep_ms(700);
    assert_int_equal(pthread_create(&tb, NULL, worker_main, b), 0);
    pthread_join(tp, NULL);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    if (t.err)
        fail_msg("producer: %s", t.errstr);
    check_worker(a, "A");
    check_worker(b, "B");
    print_message("A: %zu records, %llu revokes, %llu dropped from a batch "
                  "by the revocation; B: %zu records\n",
                  a->n_recs, (unsigned long long)a->stats.revokes,
                  (unsigned long long)a->stats.dropped, b->n_recs);
    assert_true(a->stats.revokes >= 1);
    assert_true(b->n_recs > 0);
    {
        struct worker *ws[2] = {a, b};

        check_records(e, N, ws, 2);
    }
    tt_itest_delete_topic(&conf.kafka, topic);
    worker_free(a);
    worker_free(b);
    free(e);
    tt_conf_release(&conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_consumers),
        cmocka_unit_test(test_consume_rate),
        cmocka_unit_test(test_rebalance_midstream),
        cmocka_unit_test(test_revoke_mid_batch),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
