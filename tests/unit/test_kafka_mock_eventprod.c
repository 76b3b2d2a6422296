/*
 * Failure injection for producers/tt_eventprod with librdkafka's built-in
 * mock cluster (test.mock / rdkafka_mock.h), which is used here ONLY for
 * what a real broker cannot be made to do on demand: reject produce
 * requests, or vanish.  Everything else is tested against the real broker
 * (tests/integration).
 *
 * - a produce request the broker rejects: the failure is counted, flush
 *   reports it with the broker's reason, and send() refuses to go on (a gap
 *   would break per-user order);
 * - a broker that is down and a full local queue: send() gives up after
 *   queue_wait_ms with TT_ERR_TIMEOUT instead of blocking, and destroy
 *   returns promptly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "common/tt_time.h"
#include "conf/tt_conf.h"
#include "producers/tt_eventprod.h"

/* Kafka protocol ApiKey of Produce requests. */
#define APIKEY_PRODUCE 0
#define TOPIC "mock-events"

struct mock {
    rd_kafka_t *rk; /* only for the mock cluster's bookkeeping */
    rd_kafka_mock_cluster_t *mc;
    struct tt_conf conf;
};

static void set(struct tt_conf *conf, const char *key, const char *value)
{
    char errstr[512];

    if (tt_conf_set(conf, key, value, errstr, sizeof(errstr)))
        fail_msg("%s: %s", key, errstr);
}

static int mock_setup(void **state)
{
    struct mock *m = calloc(1, sizeof(*m));
    char errstr[512];

    assert_non_null(m);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), errstr,
                         sizeof(errstr));
    assert_non_null(m->rk);
    m->mc = rd_kafka_mock_cluster_new(m->rk, 1);
    assert_non_null(m->mc);
    assert_int_equal(rd_kafka_mock_topic_create(m->mc, TOPIC, 4, 1), 0);
    assert_int_equal(tt_conf_init(&m->conf), TT_ERR_OK);
    set(&m->conf, "kafka.brokers", rd_kafka_mock_cluster_bootstraps(m->mc));
    *state = m;
    return 0;
}

static int mock_teardown(void **state)
{
    struct mock *m = *state;

    tt_conf_release(&m->conf);
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->rk);
    free(m);
    return 0;
}

static struct tt_event event(int64_t i)
{
    struct tt_event ev = {i % 7, 1000 + i, INT64_C(1700000000000) + i, -1};

    return ev;
}

static void test_rejected_produce_is_surfaced(void **state)
{
    struct mock *m = *state;
    struct tt_eventprod_opts opts = {TOPIC, 0};
    struct tt_eventprod_stats st;
    struct tt_event ev;
    tt_eventprod_t *p;
    char errstr[512];

    set(&m->conf, "kafka.properties.producer.linger.ms", "0");
    assert_int_equal(tt_eventprod_new(&p, &m->conf.kafka, &opts, errstr,
                                      sizeof(errstr)),
                     TT_ERR_OK);
    /* First the happy path, so that the failure below is the injection. */
    for (int i = 0; i < 10; i++) {
        ev = event(i);
        assert_int_equal(tt_eventprod_send(p, &ev, errstr, sizeof(errstr)),
                         TT_ERR_OK);
    }
    assert_int_equal(tt_eventprod_flush(p, 10000, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    tt_eventprod_stats(p, &st);
    assert_int_equal(st.delivered, 10);
    assert_int_equal(st.failed, 0);

    /* Every produce request from now on is refused, not retriably. */
    rd_kafka_mock_push_request_errors(
        m->mc, APIKEY_PRODUCE, 20,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    ev = event(10);
    assert_int_equal(tt_eventprod_send(p, &ev, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    memset(errstr, 0, sizeof(errstr));
    assert_int_equal(tt_eventprod_flush(p, 10000, errstr, sizeof(errstr)),
                     TT_ERR_KAFKA);
    assert_non_null(strstr(errstr, "uthoriz")); /* the broker's reason */
    tt_eventprod_stats(p, &st);
    assert_int_equal(st.delivered, 10);
    assert_int_equal(st.failed, 1);
    assert_non_null(strstr(st.first_error, TOPIC));
    /* and it will not silently go on past the gap */
    ev = event(11);
    assert_int_equal(tt_eventprod_send(p, &ev, errstr, sizeof(errstr)),
                     TT_ERR_KAFKA);
    assert_non_null(strstr(errstr, "not delivered"));
    tt_eventprod_stats(p, &st);
    assert_int_equal(st.sent, 11);
    tt_eventprod_destroy(p);
}

static void test_full_queue_does_not_block(void **state)
{
    struct mock *m = *state;
    struct tt_eventprod_opts opts = {TOPIC, 300};
    struct tt_eventprod_stats st;
    struct tt_event ev;
    tt_eventprod_t *p;
    char errstr[512];
    uint64_t t0;
    double secs;
    int i;

    set(&m->conf, "kafka.properties.producer.queue.buffering.max.messages",
        "5");
    set(&m->conf, "kafka.properties.producer.message.timeout.ms", "60000");
    assert_int_equal(rd_kafka_mock_broker_set_down(m->mc, 1), 0);
    assert_int_equal(tt_eventprod_new(&p, &m->conf.kafka, &opts, errstr,
                                      sizeof(errstr)),
                     TT_ERR_OK);
    for (i = 0; i < 5; i++) {
        ev = event(i);
        assert_int_equal(tt_eventprod_send(p, &ev, errstr, sizeof(errstr)),
                         TT_ERR_OK);
    }
    t0 = tt_time_mono_ns();
    ev = event(i);
    assert_int_equal(tt_eventprod_send(p, &ev, errstr, sizeof(errstr)),
                     TT_ERR_TIMEOUT);
    secs = tt_time_secs(t0, tt_time_mono_ns());
    assert_true(secs >= 0.25 && secs < 3.0);
    assert_non_null(strstr(errstr, "queue"));
    tt_eventprod_stats(p, &st);
    assert_int_equal(st.sent, 5);
    assert_int_equal(st.queue_full, 1);
    assert_int_equal(st.delivered, 0);
    /* a bounded flush says how many are stuck */
    assert_int_equal(tt_eventprod_flush(p, 200, errstr, sizeof(errstr)),
                     TT_ERR_TIMEOUT);
    assert_non_null(strstr(errstr, "undelivered"));
    /* destroy purges instead of waiting out message.timeout.ms */
    t0 = tt_time_mono_ns();
    tt_eventprod_destroy(p);
    assert_true(tt_time_secs(t0, tt_time_mono_ns()) < 5.0);
    assert_int_equal(rd_kafka_mock_broker_set_up(m->mc, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rejected_produce_is_surfaced,
                                        mock_setup, mock_teardown),
        cmocka_unit_test_setup_teardown(test_full_queue_does_not_block,
                                        mock_setup, mock_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
