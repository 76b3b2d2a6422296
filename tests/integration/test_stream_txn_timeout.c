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

static void check_output(struct sit *t, size_t n)
{
    struct sit_input in;
    struct sit_output o;
    tt_model_t *m = sit_model(1);

    sit_read_input(&in, t, n, 1);
    sit_reference(&m, NULL, evs, &in, expect);
    sit_read_output(&o, t, &in);
    sit_assert_exactly_once(&o, evs, expect);
    sit_output_release(&o);
    sit_input_release(&in);
    tt_model_destroy(m);
}

static size_t count_cb_n;

static void count_cb(void *arg, const rd_kafka_message_t *m)
{
    (void)arg;
    (void)m;
    count_cb_n++;
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

    check_output(&t, N);
    /* The aborted dead letter is not visible; the redone one is. */
    count_cb_n = 0;
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

    check_output(&t, 10);
    assert_int_equal(sit_read_topic(&t, t.dlq, count_cb, NULL), 1);
    sit_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stalled_transaction_recovers),
        cmocka_unit_test(dead_letter_closes_batch_in_time),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
