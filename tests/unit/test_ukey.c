/*
 * Unit tests of producers/tt_ukey: the user key bytes (what Java's
 * LongSerializer writes) and Kafka's murmur2 partitioning, against the
 * vectors of Apache Kafka's own UtilsTest.testMurmur2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "producers/tt_ukey.h"

static void test_key_bytes(void **state)
{
    static const uint8_t one[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t big[8] = {0x01, 0x02, 0x03, 0x04,
                                   0x05, 0x06, 0x07, 0x08};
    static const uint8_t max[8] = {0x7f, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff};
    uint8_t key[TT_UKEY_LEN];

    (void)state;
    tt_ukey_encode(1, key);
    assert_memory_equal(key, one, 8);
    tt_ukey_encode(INT64_C(0x0102030405060708), key);
    assert_memory_equal(key, big, 8);
    tt_ukey_encode(INT64_MAX, key);
    assert_memory_equal(key, max, 8);
}

static void test_key_round_trip(void **state)
{
    static const int64_t ids[] = {0, 1, 255, 256, 65535, INT64_C(1) << 40,
                                  INT64_MAX};
    uint8_t key[TT_UKEY_LEN];
    int64_t id;

    (void)state;
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        tt_ukey_encode(ids[i], key);
        assert_int_equal(tt_ukey_decode(key, sizeof(key), &id), TT_ERR_OK);
        assert_true(id == ids[i]);
    }
    assert_int_equal(tt_ukey_decode(key, 7, &id), TT_ERR_PARSE);
    assert_int_equal(tt_ukey_decode(NULL, 8, &id), TT_ERR_PARSE);
    assert_int_equal(tt_ukey_decode((const uint8_t *)"123456789", 9, &id),
                     TT_ERR_PARSE);
    tt_ukey_encode(-5, key);
    assert_int_equal(tt_ukey_decode(key, sizeof(key), &id), TT_ERR_RANGE);
}

static void test_murmur2_kafka_vectors(void **state)
{
    /* org.apache.kafka.common.utils.UtilsTest.testMurmur2 (Java int). */
    static const struct {
        const char *in;
        int32_t want;
    } cases[] = {
        {"21", -973932308},
        {"foobar", -790332482},
        {"a-little-bit-long-string", -985981536},
        {"a-little-bit-longer-string", -1486304829},
        {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
        {"abc", 479470107},
        {"", 275646681},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t h = tt_ukey_murmur2((const uint8_t *)cases[i].in,
                                     strlen(cases[i].in));

        assert_int_equal((int32_t)h, cases[i].want);
    }
}

static void test_partition(void **state)
{
    uint8_t key[TT_UKEY_LEN];
    int counts[4] = {0};

    (void)state;
    /* Java: Utils.toPositive(murmur2("foobar")) % 50 == 16 */
    assert_int_equal(tt_ukey_partition((const uint8_t *)"foobar", 6, 50), 16);
    /* toPositive(-973932308) = 1173551340; % 7 = 5 */
    assert_int_equal(tt_ukey_partition((const uint8_t *)"21", 2, 7),
                     1173551340 % 7);
    for (int64_t u = 0; u < 4000; u++) {
        int32_t p = tt_ukey_user_partition(u, 4);

        assert_true(p >= 0 && p < 4);
        tt_ukey_encode(u, key);
        assert_int_equal(p, tt_ukey_partition(key, sizeof(key), 4));
        counts[p]++;
    }
    /* a hash, not a constant: every partition gets a fair share */
    for (int i = 0; i < 4; i++)
        assert_true(counts[i] > 800 && counts[i] < 1200);
    assert_int_equal(tt_ukey_user_partition(12345, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_bytes),
        cmocka_unit_test(test_key_round_trip),
        cmocka_unit_test(test_murmur2_kafka_vectors),
        cmocka_unit_test(test_partition),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
