/*
 * Unit tests of model/tt_ids: dense indices in insertion order, lookups of
 * present and absent ids, growth through many rehashes against a naive
 * reference, extreme id values, memory accounting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "common/tt_rng.h"
#include "model/tt_ids.h"

static void test_insertion_order(void **state)
{
    tt_ids_t *ids = tt_ids_new(0);
    const int64_t in[] = {42, 7, 42, INT64_MAX, 0, 7, -5};
    const uint32_t want[] = {0, 1, 0, 2, 3, 1, 4};
    uint32_t idx;

    (void)state;
    assert_non_null(ids);
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        assert_int_equal(tt_ids_intern(ids, in[i], &idx), TT_ERR_OK);
        assert_int_equal(idx, want[i]);
    }
    assert_int_equal(tt_ids_count(ids), 5);
    assert_true(tt_ids_id(ids, 2) == INT64_MAX);
    assert_true(tt_ids_id(ids, 4) == -5);
    assert_true(tt_ids_find(ids, 0, &idx));
    assert_int_equal(idx, 3);
    assert_false(tt_ids_find(ids, 8, &idx));
    assert_false(tt_ids_find(ids, INT64_MIN, &idx));
    tt_ids_destroy(ids);
    tt_ids_destroy(NULL);
}

/* Many ids, with collisions forced by ids that differ only in high bits,
 * against a sorted reference; the map must survive many doublings. */
static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static void test_growth_against_reference(void **state)
{
    enum { N = 200000 };
    tt_ids_t *ids = tt_ids_new(4);
    int64_t *keys = malloc(N * sizeof(*keys));
    int64_t *sorted = malloc(N * sizeof(*sorted));
    struct tt_rng rng;
    uint32_t idx, n_distinct = 0;

    (void)state;
    assert_non_null(ids);
    assert_non_null(keys);
    assert_non_null(sorted);
    tt_rng_seed(&rng, 11, 0);
    for (uint32_t i = 0; i < N; i++) {
        /* A third repeat an earlier key; a third step by 2^40. */
        uint64_t r = tt_rng_below(&rng, 3);

        if (r == 0 && i > 0)
            keys[i] = keys[tt_rng_below(&rng, i)];
        else if (r == 1)
            keys[i] = (int64_t)(tt_rng_below(&rng, 1u << 20) << 40);
        else
            keys[i] = (int64_t)tt_rng_next(&rng);
    }
    for (uint32_t i = 0; i < N; i++) {
        uint32_t before = tt_ids_count(ids);

        assert_int_equal(tt_ids_intern(ids, keys[i], &idx), TT_ERR_OK);
        if (idx == before)
            n_distinct++;
        else
            assert_true(idx < before);
        assert_true(tt_ids_id(ids, idx) == keys[i]);
    }
    /* The reference count of distinct keys. */
    for (uint32_t i = 0; i < N; i++)
        sorted[i] = keys[i];
    qsort(sorted, N, sizeof(*sorted), cmp_i64);
    {
        uint32_t d = 1;

        for (uint32_t i = 1; i < N; i++)
            d += sorted[i] != sorted[i - 1];
        assert_int_equal(d, n_distinct);
        assert_int_equal(tt_ids_count(ids), d);
    }
    /* Every index maps back to an id that finds the same index. */
    for (uint32_t k = 0; k < tt_ids_count(ids); k++) {
        assert_true(tt_ids_find(ids, tt_ids_id(ids, k), &idx));
        assert_int_equal(idx, k);
    }
    /* Load factor <= 1/2 and 8 bytes per id: about 16-32 bytes per id. */
    assert_true(tt_ids_bytes(ids) >= (size_t)tt_ids_count(ids) * 12);
    assert_true(tt_ids_bytes(ids) <= (size_t)tt_ids_count(ids) * 40 + 4096);
    free(keys);
    free(sorted);
    tt_ids_destroy(ids);
}

static void test_capacity_hint(void **state)
{
    tt_ids_t *small = tt_ids_new(0), *big = tt_ids_new(100000);

    (void)state;
    assert_non_null(small);
    assert_non_null(big);
    assert_true(tt_ids_bytes(big) > tt_ids_bytes(small));
    assert_int_equal(tt_ids_count(big), 0);
    tt_ids_destroy(small);
    tt_ids_destroy(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insertion_order),
        cmocka_unit_test(test_growth_against_reference),
        cmocka_unit_test(test_capacity_hint),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
