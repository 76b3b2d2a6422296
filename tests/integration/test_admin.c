/*
 * producers/tt_admin against a real broker: topic creation is idempotent,
 * a partition-count mismatch is a clear configuration error, topic configs
 * (cleanup.policy=compact) are applied and, on request, checked; describe
 * reports partitions and watermarks; missing topics are TT_ERR_NOTFOUND.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "producers/tt_admin.h"
#include "tests/integration/tt_itest.h"

#define ADMIN_MS 30000

struct found {
    const char *want;
    int partitions;
};

static void on_topic(void *arg, const char *name, int partitions)
{
    struct found *f = arg;

    if (!strcmp(name, f->want))
        f->partitions = partitions;
}

static void test_create_idempotent(void **state)
{
    struct tt_conf conf;
    char topic[TT_ITEST_NAME_MAX], errstr[512];
    struct tt_topic_spec spec;
    struct tt_partition_info parts[8];
    struct found f;
    tt_admin_t *admin;
    bool created;
    int n;

    (void)state;
    tt_itest_conf(&conf);
    tt_itest_name(topic, sizeof(topic), "tt-admin");
    assert_int_equal(tt_admin_new(&admin, &conf.kafka, errstr,
                                  sizeof(errstr)),
                     TT_ERR_OK);
    assert_true(tt_admin_reachable(admin, 10000));
    memset(&spec, 0, sizeof(spec));
    spec.name = topic;
    spec.partitions = 3;
    spec.replication = -1;

    assert_int_equal(tt_admin_partitions(admin, topic, ADMIN_MS, &n, errstr,
                                         sizeof(errstr)),
                     TT_ERR_NOTFOUND);
    assert_int_equal(tt_admin_create_topic(admin, &spec, 0, ADMIN_MS,
                                           &created, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_true(created);
    /* again: already there, same shape, fine */
    assert_int_equal(tt_admin_create_topic(admin, &spec, 0, ADMIN_MS,
                                           &created, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_false(created);
    assert_int_equal(tt_admin_partitions(admin, topic, ADMIN_MS, &n, errstr,
                                         sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(n, 3);

    /* another partition count: a clear error that says both counts */
    spec.partitions = 8;
    assert_int_equal(tt_admin_create_topic(admin, &spec, 0, ADMIN_MS,
                                           &created, errstr, sizeof(errstr)),
                     TT_ERR_CONF);
    assert_non_null(strstr(errstr, topic));
    assert_non_null(strstr(errstr, "3 partitions"));
    assert_non_null(strstr(errstr, "ask for 3"));
    assert_non_null(strstr(errstr, "8"));

    if (tt_admin_describe(admin, topic, parts, 8, &n, ADMIN_MS, errstr,
                          sizeof(errstr)))
        fail_msg("describe: %s", errstr);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++) {
        assert_int_equal(parts[i].id, i);
        assert_true(parts[i].leader >= 0);
        assert_int_equal(parts[i].replicas, 1);
        assert_int_equal(parts[i].low, 0);
        assert_int_equal(parts[i].high, 0);
    }
    /* a short array gets what fits, and the true count */
    assert_int_equal(tt_admin_describe(admin, topic, parts, 2, &n, ADMIN_MS,
                                       errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(n, 3);

    f.want = topic;
    f.partitions = -1;
    assert_int_equal(tt_admin_list_topics(admin, on_topic, &f, ADMIN_MS,
                                          errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(f.partitions, 3);

    assert_int_equal(tt_admin_delete_topic(admin, topic, ADMIN_MS, errstr,
                                           sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(tt_admin_delete_topic(admin, topic, ADMIN_MS, errstr,
                                           sizeof(errstr)),
                     TT_ERR_NOTFOUND);
    assert_int_equal(tt_admin_describe(admin, "tt-admin-no-such-topic", parts,
                                       8, &n, ADMIN_MS, errstr,
                                       sizeof(errstr)),
                     TT_ERR_NOTFOUND);
    tt_admin_destroy(admin);
    tt_conf_release(&conf);
}

static void test_configs(void **state)
{
    struct tt_conf conf;
    char topic[TT_ITEST_NAME_MAX], errstr[512];
    char k_policy[] = "cleanup.policy", v_compact[] = "compact",
         v_delete[] = "delete";
    struct tt_conf_kv kv = {k_policy, v_compact};
    struct tt_topic_spec spec;
    tt_admin_t *admin;
    bool created;

    (void)state;
    tt_itest_conf(&conf);
    tt_itest_name(topic, sizeof(topic), "tt-admin-compact");
    assert_int_equal(tt_admin_new(&admin, &conf.kafka, errstr,
                                  sizeof(errstr)),
                     TT_ERR_OK);
    memset(&spec, 0, sizeof(spec));
    spec.name = topic;
    spec.partitions = 2;
    spec.replication = 1;
    spec.configs = &kv;
    spec.n_configs = 1;
    assert_int_equal(tt_admin_create_topic(admin, &spec,
                                           TT_ADMIN_CHECK_CONFIGS, ADMIN_MS,
                                           &created, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_true(created);
    /* the config was applied: checking it against the broker passes */
    assert_int_equal(tt_admin_create_topic(admin, &spec,
                                           TT_ADMIN_CHECK_CONFIGS, ADMIN_MS,
                                           &created, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_false(created);
    /* a different policy is reported when asked to check... */
    kv.value = v_delete;
    assert_int_equal(tt_admin_create_topic(admin, &spec,
                                           TT_ADMIN_CHECK_CONFIGS, ADMIN_MS,
                                           &created, errstr, sizeof(errstr)),
                     TT_ERR_CONF);
    assert_non_null(strstr(errstr, "cleanup.policy=compact"));
    assert_non_null(strstr(errstr, "cleanup.policy=delete"));
    /* ...and not otherwise */
    assert_int_equal(tt_admin_create_topic(admin, &spec, 0, ADMIN_MS,
                                           &created, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    /* a config the broker rejects fails the creation with its reason */
    tt_itest_delete_topic(&conf.kafka, topic);
    {
        char k_bad[] = "cleanup.policy", v_bad[] = "shred";
        struct tt_conf_kv bad = {k_bad, v_bad};
        char other[TT_ITEST_NAME_MAX];

        tt_itest_name(other, sizeof(other), "tt-admin-bad");
        spec.name = other;
        spec.configs = &bad;
        assert_int_equal(tt_admin_create_topic(admin, &spec, 0, ADMIN_MS,
                                               &created, errstr,
                                               sizeof(errstr)),
                         TT_ERR_KAFKA);
        assert_non_null(strstr(errstr, other));
    }
    tt_admin_destroy(admin);
    tt_conf_release(&conf);
}

static void test_unreachable_times_out(void **state)
{
    struct tt_conf_kafka kc;
    char brokers[] = "127.0.0.1:1", errstr[512];
    tt_admin_t *admin;
    int n;

    (void)state;
    memset(&kc, 0, sizeof(kc));
    kc.brokers = brokers;
    assert_int_equal(tt_admin_new(&admin, &kc, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_false(tt_admin_reachable(admin, 500));
    assert_int_equal(tt_admin_partitions(admin, "x", 500, &n, errstr,
                                         sizeof(errstr)),
                     TT_ERR_TIMEOUT);
    assert_non_null(strstr(errstr, "broker"));
    tt_admin_destroy(admin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_idempotent),
        cmocka_unit_test(test_configs),
        cmocka_unit_test(test_unreachable_times_out),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
