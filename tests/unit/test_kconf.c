/*
 * Unit tests of producers/tt_kconf: the librdkafka configuration built from
 * struct tt_conf_kafka.  Pass-through of kafka.properties (global and topic
 * level, later entries winning), errors that name the unknown or invalid
 * property, values of secret properties never appearing in an errstr, and
 * tt_kconf_require() refusing contradictions while accepting equivalent
 * spellings, role prefixes ("consumer.") reaching only their role.  No
 * broker: rd_kafka_conf_t only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "conf/tt_conf.h"
#include "producers/tt_kconf.h"

/* A value no error message may ever contain. */
#define SECRET "hunter2-Sup3rS3cret"

static void get(const rd_kafka_conf_t *conf, const char *key, char *buf,
                size_t size)
{
    size_t n = size;

    assert_int_equal(rd_kafka_conf_get(conf, key, buf, &n), RD_KAFKA_CONF_OK);
}

/* tt_kconf_new_role() for `role` of conf's settings, asserted to work. */
static rd_kafka_conf_t *role_ok(const struct tt_conf *conf,
                                enum tt_kconf_role role)
{
    rd_kafka_conf_t *rk = NULL;
    char errstr[512];

    if (tt_kconf_new_role(&rk, &conf->kafka, role, errstr, sizeof(errstr)))
        fail_msg("tt_kconf_new_role: %s", errstr);
    return rk;
}

/* tt_kconf_require_role() for the test producer, errstr of 512 bytes. */
static tt_err_t req(rd_kafka_conf_t *rk, const struct tt_conf *conf,
                    enum tt_kconf_role role, const char *key,
                    const char *value, char *errstr)
{
    return tt_kconf_require_role(rk, &conf->kafka, role, key, value,
                                 "the test producer", errstr, 512);
}

/* A conf loaded the way the CLI loads one, plus --set style overrides. */
static void conf_with(struct tt_conf *conf, const char *const *sets, int n)
{
    char errstr[512];

    assert_int_equal(tt_conf_init(conf), TT_ERR_OK);
    for (int i = 0; i < n; i++)
        assert_int_equal(tt_conf_set_kv(conf, sets[i], errstr,
                                         sizeof(errstr)),
                         TT_ERR_OK);
}

static void test_brokers_and_client_id(void **state)
{
    static const char *const sets[] = {
        "kafka.brokers=10.0.0.1:9092,10.0.0.2:9092",
        "kafka.client_id=tt-unit",
    };
    struct tt_conf conf;
    rd_kafka_conf_t *rk;
    char buf[256];

    (void)state;
    conf_with(&conf, sets, 2);
    rk = role_ok(&conf, TT_KCONF_PRODUCER);
    get(rk, "bootstrap.servers", buf, sizeof(buf));
    assert_string_equal(buf, "10.0.0.1:9092,10.0.0.2:9092");
    get(rk, "client.id", buf, sizeof(buf));
    assert_string_equal(buf, "tt-unit");
    rd_kafka_conf_destroy(rk);
    tt_conf_release(&conf);
}

static void test_properties_pass_through(void **state)
{
    static const char *const sets[] = {
        "kafka.properties.socket.timeout.ms=12345",
        "kafka.properties.security.protocol=sasl_plaintext",
        "kafka.properties.sasl.mechanisms=PLAIN",
        "kafka.properties.sasl.username=alice",
        ("kafka.properties.sasl.password=" SECRET),
        /* a topic-level property falls through to the default topic conf */
        "kafka.properties.compression.type=lz4",
        "kafka.properties.statistics.interval.ms=1000",
        "kafka.properties.statistics.interval.ms=2000",
    };
    struct tt_conf conf;
    rd_kafka_conf_t *rk;
    char buf[256];

    (void)state;
    conf_with(&conf, sets, (int)(sizeof(sets) / sizeof(sets[0])));
    rk = role_ok(&conf, TT_KCONF_PRODUCER);
    get(rk, "socket.timeout.ms", buf, sizeof(buf));
    assert_string_equal(buf, "12345");
    get(rk, "security.protocol", buf, sizeof(buf));
    assert_string_equal(buf, "sasl_plaintext");
    get(rk, "sasl.username", buf, sizeof(buf));
    assert_string_equal(buf, "alice");
    get(rk, "sasl.password", buf, sizeof(buf));
    assert_string_equal(buf, SECRET);
    get(rk, "compression.type", buf, sizeof(buf));
    assert_string_equal(buf, "lz4");
    /* a repeated property: the later one wins, as in the file */
    get(rk, "statistics.interval.ms", buf, sizeof(buf));
    assert_string_equal(buf, "2000");
    assert_string_equal(tt_kconf_prop(&conf.kafka, "sasl.username"),
                        "alice");
    assert_null(tt_kconf_prop(&conf.kafka, "acks"));
    rd_kafka_conf_destroy(rk);
    tt_conf_release(&conf);
}

static void test_unknown_property_named(void **state)
{
    static const char *const sets[] = {
        "kafka.properties.socket.timeout.ms=1000",
        ("kafka.properties.no.such.thing=" SECRET),
    };
    struct tt_conf conf;
    rd_kafka_conf_t *rk = (rd_kafka_conf_t *)&conf; /* must become NULL */
    char errstr[512];

    (void)state;
    conf_with(&conf, sets, 2);
    errstr[0] = '\0';
    assert_int_equal(tt_kconf_new_role(&rk, &conf.kafka, TT_KCONF_PRODUCER,
                                       errstr, sizeof(errstr)),
                     TT_ERR_CONF);
    assert_null(rk);
    assert_non_null(strstr(errstr, "\"no.such.thing\""));
    assert_non_null(strstr(errstr, "unknown"));
    assert_null(strstr(errstr, SECRET));
    tt_conf_release(&conf);
}

static void test_invalid_value_named(void **state)
{
    rd_kafka_conf_t *rk = rd_kafka_conf_new();
    char errstr[512];

    (void)state;
    assert_int_equal(tt_kconf_set(rk, "socket.timeout.ms", "soon", errstr,
                                  sizeof(errstr)),
                     TT_ERR_CONF);
    assert_non_null(strstr(errstr, "\"socket.timeout.ms\""));
    assert_int_equal(tt_kconf_set(rk, "acks", "most", errstr, sizeof(errstr)),
                     TT_ERR_CONF);
    assert_non_null(strstr(errstr, "\"acks\""));
    rd_kafka_conf_destroy(rk);
}

static void test_secret_value_never_in_errstr(void **state)
{
    /* librdkafka validates these secret-named properties and quotes the
     * rejected value in its own message. */
    static const char *const keys[] = {
        "sasl.oauthbearer.method",
        "sasl.oauthbearer.token.endpoint.url.unknown", /* unknown, secret */
        "ssl.key.password.typo",                       /* unknown, secret */
    };
    rd_kafka_conf_t *rk = rd_kafka_conf_new();
    char errstr[512];

    (void)state;
    assert_true(tt_conf_is_secret("sasl.oauthbearer.method"));
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        memset(errstr, 0, sizeof(errstr));
        assert_int_equal(tt_kconf_set(rk, keys[i], SECRET, errstr,
                                      sizeof(errstr)),
                         TT_ERR_CONF);
        assert_non_null(strstr(errstr, keys[i]));
        assert_null(strstr(errstr, SECRET));
        assert_null(strstr(errstr, "hunter2"));
        /* A known secret property that librdkafka rejects gets our own
         * message, whatever librdkafka's said. */
        if (i == 0)
            assert_non_null(strstr(errstr, "not shown"));
    }
    /* Why: librdkafka quotes a rejected value in its message, which
     * tt_kconf_set passes on for properties that are not secret. */
    assert_int_equal(tt_kconf_set(rk, "security.protocol", "hunter3", errstr,
                                  sizeof(errstr)),
                     TT_ERR_CONF);
    assert_non_null(strstr(errstr, "hunter3"));
    rd_kafka_conf_destroy(rk);
}

static void test_secret_not_in_later_error(void **state)
{
    static const char *const sets[] = {
        ("kafka.properties.sasl.password=" SECRET),
        ("kafka.properties.ssl.key.password=" SECRET),
        "kafka.properties.message.max.bytes=-1",
    };
    struct tt_conf conf;
    rd_kafka_conf_t *rk;
    char errstr[512];

    (void)state;
    conf_with(&conf, sets, 3);
    memset(errstr, 0, sizeof(errstr));
    assert_int_equal(tt_kconf_new_role(&rk, &conf.kafka, TT_KCONF_PRODUCER,
                                       errstr, sizeof(errstr)),
                     TT_ERR_CONF);
    assert_non_null(strstr(errstr, "message.max.bytes"));
    assert_null(strstr(errstr, SECRET));
    tt_conf_release(&conf);
}

static void test_require(void **state)
{
    static const char *const conflicting[] = {
        "kafka.properties.acks=1",
        "kafka.properties.enable.idempotence=false",
    };
    static const char *const agreeing[] = {
        "kafka.properties.acks=-1",
        "kafka.properties.enable.idempotence=true",
    };
    struct tt_conf conf;
    rd_kafka_conf_t *rk;
    char errstr[512], buf[64];

    (void)state;
    conf_with(&conf, conflicting, 2);
    rk = role_ok(&conf, TT_KCONF_PRODUCER);
    assert_int_equal(req(rk, &conf, TT_KCONF_PRODUCER, "acks", "all", errstr),
                     TT_ERR_CONF);
    assert_non_null(strstr(errstr, "acks=1"));
    assert_non_null(strstr(errstr, "acks=all"));
    assert_non_null(strstr(errstr, "the test producer"));
    assert_int_equal(req(rk, &conf, TT_KCONF_PRODUCER, "enable.idempotence",
                         "true", errstr),
                     TT_ERR_CONF);
    /* not mentioned by the properties: simply set */
    assert_int_equal(req(rk, &conf, TT_KCONF_PRODUCER, "partitioner",
                         "murmur2_random", errstr),
                     TT_ERR_OK);
    get(rk, "partitioner", buf, sizeof(buf));
    assert_string_equal(buf, "murmur2_random");
    rd_kafka_conf_destroy(rk);
    tt_conf_release(&conf);

    /* "-1" and "all" are one acks setting to librdkafka */
    conf_with(&conf, agreeing, 2);
    rk = role_ok(&conf, TT_KCONF_PRODUCER);
    assert_int_equal(req(rk, &conf, TT_KCONF_PRODUCER, "acks", "all", errstr),
                     TT_ERR_OK);
    assert_int_equal(req(rk, &conf, TT_KCONF_PRODUCER, "enable.idempotence",
                         "true", errstr),
                     TT_ERR_OK);
    rd_kafka_conf_destroy(rk);
    tt_conf_release(&conf);
}

static void test_default(void **state)
{
    static const char *const sets[] = {"kafka.properties.linger.ms=50"};
    struct tt_conf conf;
    rd_kafka_conf_t *rk;
    char errstr[512], buf[64];

    (void)state;
    conf_with(&conf, sets, 1);
    rk = role_ok(&conf, TT_KCONF_PRODUCER);
    assert_int_equal(tt_kconf_default_role(rk, &conf.kafka, TT_KCONF_PRODUCER,
                                           "linger.ms", "5", errstr,
                                           sizeof(errstr)),
                     TT_ERR_OK);
    get(rk, "linger.ms", buf, sizeof(buf));
    assert_string_equal(buf, "50");
    assert_int_equal(tt_kconf_default_role(rk, &conf.kafka, TT_KCONF_PRODUCER,
                                           "batch.num.messages", "777",
                                           errstr, sizeof(errstr)),
                     TT_ERR_OK);
    get(rk, "batch.num.messages", buf, sizeof(buf));
    assert_string_equal(buf, "777");
    rd_kafka_conf_destroy(rk);
    tt_conf_release(&conf);
}

static void test_role_prefixes(void **state)
{
    /* The prefixed property wins over the plain one in either order. */
    static const char *const sets[] = {
        "kafka.properties.consumer.session.timeout.ms=7000",
        "kafka.properties.socket.timeout.ms=11000",
        "kafka.properties.producer.socket.timeout.ms=22000",
        "kafka.properties.linger.ms=20",
        "kafka.properties.admin.socket.timeout.ms=33000",
        "kafka.properties.producer.acks=1",
    };
    struct tt_conf conf;
    rd_kafka_conf_t *rk;
    char errstr[512], buf[64], def[64];

    (void)state;
    conf_with(&conf, sets, (int)(sizeof(sets) / sizeof(sets[0])));
    assert_string_equal(tt_kconf_role_prefix(TT_KCONF_CONSUMER), "consumer.");

    rk = role_ok(&conf, TT_KCONF_CONSUMER);
    get(rk, "session.timeout.ms", buf, sizeof(buf));
    assert_string_equal(buf, "7000");
    get(rk, "socket.timeout.ms", buf, sizeof(buf));
    assert_string_equal(buf, "11000");
    get(rk, "linger.ms", buf, sizeof(buf));
    assert_string_equal(buf, "20");
    /* producer.acks=1 is no business of a consumer */
    assert_int_equal(req(rk, &conf, TT_KCONF_CONSUMER, "acks", "all", errstr),
                     TT_ERR_OK);
    rd_kafka_conf_destroy(rk);

    rk = role_ok(&conf, TT_KCONF_PRODUCER);
    get(rk, "socket.timeout.ms", buf, sizeof(buf));
    assert_string_equal(buf, "22000");
    /* the consumer-only property was not set on the producer */
    {
        rd_kafka_conf_t *fresh = rd_kafka_conf_new();

        get(fresh, "session.timeout.ms", def, sizeof(def));
        rd_kafka_conf_destroy(fresh);
    }
    get(rk, "session.timeout.ms", buf, sizeof(buf));
    assert_string_equal(buf, def);
    assert_string_not_equal(buf, "7000");
    assert_string_equal(
        tt_kconf_prop_role(&conf.kafka, TT_KCONF_PRODUCER, "acks"), "1");
    assert_null(tt_kconf_prop(&conf.kafka, "acks"));
    assert_int_equal(req(rk, &conf, TT_KCONF_PRODUCER, "acks", "all", errstr),
                     TT_ERR_CONF);
    rd_kafka_conf_destroy(rk);

    rk = role_ok(&conf, TT_KCONF_ADMIN);
    get(rk, "socket.timeout.ms", buf, sizeof(buf));
    assert_string_equal(buf, "33000");
    rd_kafka_conf_destroy(rk);
    tt_conf_release(&conf);
}

static void test_empty_brokers(void **state)
{
    struct tt_conf_kafka kc;
    rd_kafka_conf_t *rk;
    char errstr[512];
    char empty[] = "";

    (void)state;
    memset(&kc, 0, sizeof(kc));
    kc.brokers = empty;
    assert_int_equal(tt_kconf_new(&rk, &kc, errstr, sizeof(errstr)),
                     TT_ERR_CONF);
    assert_non_null(strstr(errstr, "kafka.brokers"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_brokers_and_client_id),
        cmocka_unit_test(test_properties_pass_through),
        cmocka_unit_test(test_unknown_property_named),
        cmocka_unit_test(test_invalid_value_named),
        cmocka_unit_test(test_secret_value_never_in_errstr),
        cmocka_unit_test(test_secret_not_in_later_error),
        cmocka_unit_test(test_require),
        cmocka_unit_test(test_default),
        cmocka_unit_test(test_role_prefixes),
        cmocka_unit_test(test_empty_brokers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
