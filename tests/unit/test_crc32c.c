/*
 * Unit tests of common/tt_crc32c: the standard check value, the hardware path
 * against the table path and against a bit-by-bit reference at every length
 * and misalignment that reaches the 8-byte and tail loops, and continuing a
 * CRC across a split buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/tt_crc32c.h"
#include "common/tt_rng.h"

/* The definition itself: one bit at a time, reflected polynomial 0x82F63B78. */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;

    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void test_check_value(void **unused)
{
    (void)unused;
    assert_int_equal(tt_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(tt_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(tt_crc32c(0, "123456789123456789", 18),
                     crc32c_bitwise((const uint8_t *)"123456789123456789",
                                    18));
    assert_int_equal(tt_crc32c(0, "", 0), 0);
    assert_int_equal(tt_crc32c_sw(0, "", 0), 0);
    /* An empty continuation leaves a CRC as it is. */
    assert_int_equal(tt_crc32c(0xE3069283u, "", 0), 0xE3069283u);
}

static void test_hw_equals_sw(void **unused)
{
    uint8_t buf[512];
    struct tt_rng rng;

    (void)unused;
    tt_rng_seed(&rng, 11, 0);
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)tt_rng_next(&rng);
    /* Every length and misalignment exercises the 8-byte and tail loops. */
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n + off <= 300; n++) {
            uint32_t hw = tt_crc32c(0, buf + off, n);

            assert_int_equal(hw, tt_crc32c_sw(0, buf + off, n));
            assert_int_equal(hw, crc32c_bitwise(buf + off, n));
        }
}

static void test_streaming(void **unused)
{
    static uint8_t buf[4096];
    struct tt_rng rng;

    (void)unused;
    tt_rng_seed(&rng, 11, 0);
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)tt_rng_next(&rng);
    for (int t = 0; t < 200; t++) {
        size_t n = tt_rng_below(&rng, sizeof(buf));
        size_t cut = n ? tt_rng_below(&rng, n) : 0;
        uint32_t whole = tt_crc32c(0, buf, n);

        assert_int_equal(whole, crc32c_bitwise(buf, n));
        assert_int_equal(tt_crc32c_sw(0, buf, n), whole);
        assert_int_equal(tt_crc32c(tt_crc32c(0, buf, cut), buf + cut,
                                   n - cut),
                         whole);
        assert_int_equal(tt_crc32c_sw(tt_crc32c(0, buf, cut), buf + cut,
                                      n - cut),
                         whole);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_hw_equals_sw),
        cmocka_unit_test(test_streaming),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
