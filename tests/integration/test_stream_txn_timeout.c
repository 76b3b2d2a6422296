/*
 * `twotime stream` (library, thread) and transaction.timeout.ms.
 *
 * - stalled_transaction_recovers: the loop stalls with a transaction open
 *   (a dead letter opened it) until the coordinator has aborted it for its
 *   age and bumped the producer's epoch.  librdkafka reports that as
 *   fenced; it is not another instance, so the stream must recreate the
 *   producer, redo the batch and go on, exactly once, not stop as fenced.
 * - dead_letter_closes_batch_in_time: batches that linger for a minute; a
 *   dead letter opens the transaction early, so its batch is committed
 *   within the transaction timeout (not aborted by the coordinator).
 * - dead_owner_blocks_its_partitions_only: a group member dies committing
 *   (its transaction holds offsets of its partitions and stays open).  The
 *   stream, given its partitions, waits for them (their committed offsets
 *   are not given until the transaction ends) but its own partitions flow
 *   meanwhile; once the transaction is aborted, the others follow, exactly
 *   once.
 *
 * The broker aborts expired transactions in a sweep every 10 s
 * (transaction.abort.timed.out.transaction.cleanup.interval.ms): the first
 * test takes up to 2 + 10 s more than the others.
 *
 * Needs TT_TEST_BROKERS (tt_itest.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdbool.h>

#include "producers/tt_ukey.h"
#include "tests/integration/test_stream_common.h"

#define N 400
#define USERS 50
#define TXN_MS "2000"
/* Longest the stall waits for the coordinator's abort. */
#define STALL_MAX_S 60.0

static struct tt_event evs[N];
static struct sit_expect expect[N];

/* Produces one record that is not an event (a dead letter). */
static void produce_bad(const struct sit *t)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    uint8_t key[TT_UKEY_LEN];
    rd_kafka_t *rk;
    char err[256];

    rd_kafka_conf_set(conf, "bootstrap.servers", t->conf.kafka.brokers, err,
                      sizeof(err));
    rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err,
                      sizeof(err));
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(rk);
    tt_ukey_encode(1, key);
    assert_int_equal(
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(t->in),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_KEY(key, sizeof(key)),
                          RD_KAFKA_V_VALUE((void *)"not an event", 12),
                          RD_KAFKA_V_END),
        0);
    assert_int_equal(rd_kafka_flush(rk, 30000), 0);
    rd_kafka_destroy(rk);
}

/* The stall, run by the stream's thread through opts.stopping (no cmocka
 * calls there: it only records what it saw). */
struct stall {
    struct sit_runner *r;
    rd_kafka_t *rk;      /* read_committed client */
    const char *dlq;
    int dlq_parts;
    atomic_bool done;
    atomic_bool aborted; /* the coordinator aborted the transaction */
    double secs;
};

/* Once, after the first dead letter: holds the transaction it opened open
 * until the dead-letter partition's last stable offset passes the dead
 * letter and the abort marker (the coordinator aborted it). */
static bool stall_cb(void *arg)
{
    struct stall *st = arg;
    uint64_t t0 = tt_time_mono_ns();

    if (atomic_load(&st->done) || !st->r->s ||
        tt_metrics_get(tt_stream_metrics(st->r->s), TT_M_DEAD_LETTERS) < 1)
        return false;
    atomic_store(&st->done, true);
    while (!atomic_load(&st->aborted) &&
           tt_time_secs(t0, tt_time_mono_ns()) < STALL_MAX_S) {
        for (int p = 0; p < st->dlq_parts; p++) {
            int64_t lo = -1, hi = -1;

            if (!rd_kafka_query_watermark_offsets(st->rk, st->dlq, p, &lo,
                                                  &hi, 5000) &&
                hi >= 2)
                atomic_store(&st->aborted, true);
        }
        usleep(100000);
    }
    st->secs = tt_time_secs(t0, tt_time_mono_ns());
    return false;
}

static void check_output(struct sit *t, size_t n, size_t n_bad)
{
    struct sit_input in;
    struct sit_output o;
    tt_model_t *m = sit_model(1);

    sit_read_input(&in, t, n, n_bad);
    sit_reference(&m, NULL, evs, &in, expect);
    sit_read_output(&o, t, &in);
    sit_assert_exactly_once(&o, evs, expect);
    sit_output_release(&o);
    sit_input_release(&in);
    tt_model_destroy(m);
}

static void count_cb(void *arg, const rd_kafka_message_t *m)
{
    (void)arg;
    (void)m;
}

static void stalled_transaction_recovers(void **st_)
{
    struct sit t;
    struct sit_runner r;
    struct stall st;
    tt_metrics_t *mx;
    int64_t got;

    (void)st_;
    sit_init(&t, "stt-stall", true);
    sit_set(&t, "kafka.batch_max", "50");
    sit_set(&t, "kafka.properties.producer.transaction.timeout.ms", TXN_MS);
    memset(&st, 0, sizeof(st));
    st.r = &r;
    st.dlq = t.dlq;
    st.rk = sit_client(&t, true);
    t.stopping = stall_cb;
    t.stopping_arg = &st;
    sit_events(evs, N, USERS, 41);
    produce_bad(&t);
    tt_itest_produce(&t.conf.kafka, t.in, evs, N);
    memset(&r, 0, sizeof(r));
    sit_start(&r, &t, 1, "a");
    /* The topics exist now. */
    st.dlq_parts = sit_topic_parts(st.rk, t.dlq);
    got = sit_wait_committed(&t, N + 1, 60 + STALL_MAX_S);
    tt_stream_stop(r.s);
    assert_int_equal(pthread_join(r.th, NULL), 0);
    if (r.err)
        fail_msg("the stream stopped: %s", r.errstr);
    assert_int_equal(got, N + 1);
    /* The scenario happened: the coordinator aborted the stalled
     * transaction, and the stream redid the batch. */
    assert_true(atomic_load(&st.done));
    assert_true(atomic_load(&st.aborted));
    fprintf(stderr, "note: the coordinator aborted the transaction %.1f s "
                    "into the stall\n",
            st.secs);
    mx = tt_stream_metrics(r.s);
    assert_true(tt_metrics_get(mx, TT_M_TXN_ABORTED) >= 1);
    assert_int_equal(tt_metrics_get(mx, TT_M_DEAD_LETTERS), 2);
    tt_stream_destroy(r.s);
    rd_kafka_destroy(st.rk);

    check_output(&t, N, 1);
    /* The aborted dead letter is not visible; the redone one is. */
    assert_int_equal(sit_read_topic(&t, t.dlq, count_cb, NULL), 1);
    sit_release(&t);
}

static void dead_letter_closes_batch_in_time(void **st_)
{
    struct sit t;
    struct sit_runner r;
    tt_metrics_t *mx;
    int64_t got;

    (void)st_;
    sit_init(&t, "stt-linger", true);
    sit_set(&t, "kafka.batch_max", "1000");
    sit_set(&t, "kafka.batch_ms", "60000");
    sit_set(&t, "kafka.properties.producer.transaction.timeout.ms", TXN_MS);
    t.linger_ms = 60000;
    sit_events(evs, 10, USERS, 42);
    produce_bad(&t);
    tt_itest_produce(&t.conf.kafka, t.in, evs, 10);
    sit_start(&r, &t, 1, "a");
    /* The batch would linger for a minute; the open transaction closes it
     * at half its timeout. */
    got = sit_wait_committed(&t, 11, 30);
    sit_stop(&r);
    assert_int_equal(got, 11);
    mx = tt_stream_metrics(r.s);
    assert_int_equal(tt_metrics_get(mx, TT_M_TXN_ABORTED), 0);
    assert_int_equal(tt_metrics_get(mx, TT_M_DEAD_LETTERS), 1);
    tt_stream_destroy(r.s);

    check_output(&t, 10, 1);
    assert_int_equal(sit_read_topic(&t, t.dlq, count_cb, NULL), 1);
    sit_release(&t);
}

/* A plain group member that owns some partitions and dies committing: its
 * transaction holds offsets of its partitions (valid generation) and stays
 * open (its own timeout is a minute); it never leaves the group. */
struct dead_owner {
    rd_kafka_t *cons;
    rd_kafka_t *prod;
    bool owned[SIT_PARTS];
};

static void owner_join(struct dead_owner *d, const struct sit *t)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *sub;
    char err[256];

    memset(d, 0, sizeof(*d));
    if (rd_kafka_conf_set(conf, "bootstrap.servers", t->conf.kafka.brokers,
                          err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "group.id", t->group, err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "partition.assignment.strategy",
                          "cooperative-sticky", err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "session.timeout.ms", "6000", err,
                          sizeof(err)) ||
        rd_kafka_conf_set(conf, "heartbeat.interval.ms", "300", err,
                          sizeof(err)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err,
                          sizeof(err)))
        fail_msg("dead owner: %s", err);
    d->cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(d->cons);
    rd_kafka_poll_set_consumer(d->cons);
    sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, t->in, RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(d->cons, sub), 0);
    rd_kafka_topic_partition_list_destroy(sub);
}

/* Polls the member (it reads nothing) until it owns `want` partitions. */
static void owner_wait(struct dead_owner *d, int want)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    uint64_t t0 = tt_time_mono_ns();
    int n = -1;

    while (n != want) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(d->cons, 100);

        if (m)
            rd_kafka_message_destroy(m);
        if (tt_time_secs(t0, tt_time_mono_ns()) > 60)
            fail_msg("dead owner: %d partitions, want %d", n, want);
        assert_int_equal(rd_kafka_assignment(d->cons, &l), 0);
        n = l->cnt;
        memset(d->owned, 0, sizeof(d->owned));
        for (int i = 0; i < l->cnt; i++)
            d->owned[l->elems[i].partition] = true;
        rd_kafka_topic_partition_list_destroy(l);
    }
}

/* Sends offset 0 of its partitions to a transaction and dies. */
static void owner_die_committing(struct dead_owner *d, const struct sit *t)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    rd_kafka_consumer_group_metadata_t *md;
    rd_kafka_error_t *error;
    char err[256], id[TT_ITEST_NAME_MAX];

    tt_itest_name(id, sizeof(id), "stt-dead");
    rd_kafka_conf_set(conf, "bootstrap.servers", t->conf.kafka.brokers, err,
                      sizeof(err));
    rd_kafka_conf_set(conf, "transactional.id", id, err, sizeof(err));
    rd_kafka_conf_set(conf, "transaction.timeout.ms", "60000", err,
                      sizeof(err));
    d->prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(d->prod);
    assert_null(rd_kafka_init_transactions(d->prod, 30000));
    assert_null(rd_kafka_begin_transaction(d->prod));
    for (int p = 0; p < SIT_PARTS; p++)
        if (d->owned[p])
            rd_kafka_topic_partition_list_add(l, t->in, p)->offset = 0;
    md = rd_kafka_consumer_group_metadata(d->cons);
    error = rd_kafka_send_offsets_to_transaction(d->prod, l, md, 30000);
    if (error)
        fail_msg("dead owner: %s", rd_kafka_error_string(error));
    rd_kafka_consumer_group_metadata_destroy(md);
    rd_kafka_topic_partition_list_destroy(l);
    /* Gone without leaving the group: found dead after its session. */
    rd_kafka_destroy_flags(d->cons, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    d->cons = NULL;
}

/* Lines of the log at `path` saying that partitions were assigned (not an
 * empty assignment). */
static int assignments(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int n = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        const char *a = strstr(line, "assigned partitions [");

        n += a && a[21] >= '0' && a[21] <= '9';
    }
    fclose(f);
    return n;
}

/* Events of evs[from..to) on partitions the dead owner did not own. */
static int64_t on_others(const struct dead_owner *d,
                         const struct sit_input *in, size_t from, size_t to)
{
    int64_t n = 0;

    for (size_t i = from; i < to; i++)
        n += !d->owned[in->part[i]];
    return n;
}

static void dead_owner_blocks_its_partitions_only(void **st_)
{
    struct sit t;
    struct sit_runner r;
    struct sit_input in;
    struct dead_owner d;
    tt_metrics_t *mx;
    int64_t mine, applied = 0;
    uint64_t t0;
    char log_path[256];
    FILE *log_f;

    (void)st_;
    sit_init(&t, "stt-dead", true);
    snprintf(log_path, sizeof(log_path), "%s/b.log", t.dir);
    log_f = fopen(log_path, "w");
    assert_non_null(log_f);
    setvbuf(log_f, NULL, _IOLBF, 0);
    t.log = tt_log_new(log_f, TT_LOG_INFO);
    assert_non_null(t.log);
    sit_events(evs, N, USERS, 43);
    tt_itest_produce(&t.conf.kafka, t.in, evs, N / 2);
    owner_join(&d, &t);
    owner_wait(&d, SIT_PARTS);
    sit_start(&r, &t, 1, "b");
    mx = tt_stream_metrics(r.s);
    owner_wait(&d, SIT_PARTS / 2);
    /* b processes the first half of its own partitions' events. */
    sit_read_input(&in, &t, N / 2, 0);
    mine = on_others(&d, &in, 0, N / 2);
    sit_input_release(&in);
    t0 = tt_time_mono_ns();
    while (tt_metrics_get(mx, TT_M_APPLIED) < mine &&
           tt_time_secs(t0, tt_time_mono_ns()) < 60)
        usleep(50000);
    assert_int_equal(tt_metrics_get(mx, TT_M_APPLIED), mine);
    assert_int_equal(assignments(log_path), 1);
    owner_die_committing(&d, &t);
    /* b is given the dead owner's partitions after its session timeout;
     * their committed offsets are not given while its transaction is
     * open. */
    t0 = tt_time_mono_ns();
    while (assignments(log_path) < 2 &&
           tt_time_secs(t0, tt_time_mono_ns()) < 60)
        usleep(50000);
    if (assignments(log_path) < 2) {
        sit_show_log(log_path, 30);
        fail_msg("b was not given the dead owner's partitions");
    }
    /* b's own partitions flow meanwhile: the second half of their events,
     * produced now. */
    t0 = tt_time_mono_ns();
    tt_itest_produce(&t.conf.kafka, t.in, evs + N / 2, N - N / 2);
    sit_read_input(&in, &t, N, 0);
    mine = on_others(&d, &in, 0, N);
    while ((applied = tt_metrics_get(mx, TT_M_APPLIED)) < mine &&
           tt_time_secs(t0, tt_time_mono_ns()) < 25)
        usleep(50000);
    if (applied != mine) {
        sit_show_log(log_path, 30);
        rd_kafka_destroy(d.prod);
        sit_stop(&r);
        fail_msg("%lld events applied while the dead owner's transaction "
                 "was open, want %lld (b's own partitions)",
                 (long long)applied, (long long)mine);
    }
    fprintf(stderr, "note: b's own partitions went on (%.1f s)\n",
            tt_time_secs(t0, tt_time_mono_ns()));
    /* Nothing of the dead owner's partitions while it is open. */
    usleep(1000000);
    assert_int_equal(tt_metrics_get(mx, TT_M_APPLIED), mine);
    assert_null(rd_kafka_abort_transaction(d.prod, 30000));
    rd_kafka_destroy(d.prod);
    assert_int_equal(sit_wait_committed(&t, N, 60), N);
    sit_stop(&r);
    assert_int_equal(tt_metrics_get(mx, TT_M_APPLIED), N);
    tt_stream_destroy(r.s);
    tt_log_destroy(t.log);
    fclose(log_f);

    {
        struct sit_output o;
        tt_model_t *m = sit_model(1);

        sit_reference(&m, NULL, evs, &in, expect);
        sit_read_output(&o, &t, &in);
        sit_assert_exactly_once(&o, evs, expect);
        sit_output_release(&o);
        tt_model_destroy(m);
    }
    sit_input_release(&in);
    sit_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stalled_transaction_recovers),
        cmocka_unit_test(dead_letter_closes_batch_in_time),
        cmocka_unit_test(dead_owner_blocks_its_partitions_only),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
