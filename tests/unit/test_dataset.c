/*
 * Unit tests of model/tt_dataset: stable time sort (small hand-made logs and
 * a large random one against qsort with an index tie-break), dense indices in
 * order of first appearance after sorting, item categories, invalid input,
 * chronological splits and per-user sequences against a naive reference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"
#include "model/tt_dataset.h"

static struct tt_event ev(int64_t u, int64_t i, int64_t ts, int32_t cat)
{
    struct tt_event e = {.user_id = u, .item_id = i, .ts_ms = ts,
                         .category = cat};

    return e;
}

static void add_all(struct tt_dataset *ds, const struct tt_event *evs,
                    size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(tt_dataset_add(ds, &evs[i]), TT_ERR_OK);
}

static void test_small_sort_and_indices(void **state)
{
    /* Input order != time order; ties at ts 20 keep input order. */
    const struct tt_event in[] = {
        ev(900, 5, 30, 2), ev(800, 6, 20, -1), ev(700, 5, 10, -1),
        ev(900, 7, 20, 1), ev(800, 5, 40, 3),
    };
    struct tt_dataset ds;

    (void)state;
    assert_int_equal(tt_dataset_init(&ds), TT_ERR_OK);
    add_all(&ds, in, 5);
    assert_int_equal(tt_dataset_finish(&ds), TT_ERR_OK);
    assert_int_equal(ds.n, 5);
    /* Sorted: (700,5,10) (800,6,20) (900,7,20) (900,5,30) (800,5,40). */
    const int64_t ts[] = {10, 20, 20, 30, 40};
    const uint32_t user[] = {0, 1, 2, 2, 1};
    const uint32_t item[] = {0, 1, 2, 0, 0};

    for (int j = 0; j < 5; j++) {
        assert_true(ds.ts[j] == ts[j]);
        assert_int_equal(ds.user[j], user[j]);
        assert_int_equal(ds.item[j], item[j]);
    }
    assert_int_equal(tt_dataset_n_users(&ds), 3);
    assert_int_equal(tt_dataset_n_items(&ds), 3);
    assert_true(tt_ids_id(ds.users, 0) == 700);
    assert_true(tt_ids_id(ds.users, 1) == 800);
    assert_true(tt_ids_id(ds.users, 2) == 900);
    assert_true(tt_ids_id(ds.items, 0) == 5);
    assert_true(tt_ids_id(ds.items, 1) == 6);
    assert_true(tt_ids_id(ds.items, 2) == 7);
    /* Item 5 was first given category 2 (input order), later 3: first
     * wins; item 6 has none; item 7 has 1. */
    assert_int_equal(ds.item_category[0], 2);
    assert_int_equal(ds.item_category[1], TT_EVENT_NO_CATEGORY);
    assert_int_equal(ds.item_category[2], 1);
    assert_int_equal(ds.n_categories, 3);
    tt_dataset_release(&ds);
}

static void test_invalid_and_lifecycle(void **state)
{
    struct tt_dataset ds;
    struct tt_event e;

    (void)state;
    assert_int_equal(tt_dataset_init(&ds), TT_ERR_OK);
    e = ev(-1, 1, 1, -1);
    assert_int_equal(tt_dataset_add(&ds, &e), TT_ERR_INVAL);
    e = ev(1, -1, 1, -1);
    assert_int_equal(tt_dataset_add(&ds, &e), TT_ERR_INVAL);
    e = ev(1, 1, TT_EVENT_TS_MAX + 1, -1);
    assert_int_equal(tt_dataset_add(&ds, &e), TT_ERR_INVAL);
    e = ev(1, 1, -1, -1);
    assert_int_equal(tt_dataset_add(&ds, &e), TT_ERR_INVAL);
    e = ev(1, 1, 1, -2);
    assert_int_equal(tt_dataset_add(&ds, &e), TT_ERR_INVAL);
    /* Nothing was added by the failures. */
    assert_int_equal(tt_dataset_finish(&ds), TT_ERR_OK);
    assert_int_equal(ds.n, 0);
    assert_int_equal(tt_dataset_n_users(&ds), 0);
    assert_int_equal(ds.n_categories, 0);
    e = ev(1, 1, 1, -1);
    assert_int_equal(tt_dataset_add(&ds, &e), TT_ERR_INVAL);
    assert_int_equal(tt_dataset_finish(&ds), TT_ERR_INVAL);
    tt_dataset_release(&ds);
    tt_dataset_release(&ds); /* twice: zeroed, still fine */
}

struct ref_ev {
    struct tt_event e;
    size_t order;
};

static int cmp_ref(const void *a, const void *b)
{
    const struct ref_ev *x = a, *y = b;

    if (x->e.ts_ms != y->e.ts_ms)
        return x->e.ts_ms < y->e.ts_ms ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Random log over a wide time range (several radix passes, heavy ties). */
static void check_random(uint64_t seed, size_t n, int64_t ts_range)
{
    struct ref_ev *ref = malloc(n * sizeof(*ref));
    struct tt_dataset ds;
    struct tt_rng rng;

    assert_non_null(ref);
    tt_rng_seed(&rng, seed, 0);
    assert_int_equal(tt_dataset_init(&ds), TT_ERR_OK);
    for (size_t j = 0; j < n; j++) {
        ref[j].e = ev((int64_t)tt_rng_below(&rng, 5000) * 1000003,
                      (int64_t)tt_rng_below(&rng, 700),
                      INT64_C(1500000000000) +
                          (int64_t)tt_rng_below(&rng, (uint64_t)ts_range),
                      -1);
        ref[j].order = j;
        assert_int_equal(tt_dataset_add(&ds, &ref[j].e), TT_ERR_OK);
    }
    assert_int_equal(tt_dataset_finish(&ds), TT_ERR_OK);
    qsort(ref, n, sizeof(*ref), cmp_ref);
    assert_int_equal(ds.n, n);
    for (size_t j = 0; j < n; j++) {
        assert_true(ds.ts[j] == ref[j].e.ts_ms);
        assert_true(tt_ids_id(ds.users, ds.user[j]) == ref[j].e.user_id);
        assert_true(tt_ids_id(ds.items, ds.item[j]) == ref[j].e.item_id);
    }
    /* First appearance: indices grow by at most one along the log. */
    {
        uint32_t next_u = 0, next_i = 0;

        for (size_t j = 0; j < n; j++) {
            assert_true(ds.user[j] <= next_u);
            assert_true(ds.item[j] <= next_i);
            next_u += ds.user[j] == next_u;
            next_i += ds.item[j] == next_i;
        }
        assert_int_equal(next_u, tt_dataset_n_users(&ds));
        assert_int_equal(next_i, tt_dataset_n_items(&ds));
    }
    free(ref);
    tt_dataset_release(&ds);
}

static void test_random_sort(void **state)
{
    (void)state;
    check_random(1, 300000, INT64_C(400) * 86400 * 1000); /* 4 passes */
    check_random(2, 100000, 1000);                        /* many ties */
    check_random(3, 1, 10);
    check_random(4, 2, 10);
}

static void test_already_sorted(void **state)
{
    struct tt_dataset ds;
    struct tt_event e;

    (void)state;
    assert_int_equal(tt_dataset_init(&ds), TT_ERR_OK);
    for (int j = 0; j < 5000; j++) {
        e = ev(j % 37, j % 101, 1000 + j / 3, j % 5);
        assert_int_equal(tt_dataset_add(&ds, &e), TT_ERR_OK);
    }
    assert_int_equal(tt_dataset_finish(&ds), TT_ERR_OK);
    for (int j = 0; j < 5000; j++) {
        assert_true(ds.ts[j] == 1000 + j / 3);
        assert_true(tt_ids_id(ds.users, ds.user[j]) == j % 37);
    }
    assert_int_equal(ds.n_categories, 5);
    tt_dataset_release(&ds);
}

static void make_linear(struct tt_dataset *ds, size_t n, uint32_t users)
{
    struct tt_event e;

    assert_int_equal(tt_dataset_init(ds), TT_ERR_OK);
    for (size_t j = 0; j < n; j++) {
        e = ev((int64_t)((j * 7) % users), (int64_t)(j % 13),
               1000 + (int64_t)j, -1);
        assert_int_equal(tt_dataset_add(ds, &e), TT_ERR_OK);
    }
    assert_int_equal(tt_dataset_finish(ds), TT_ERR_OK);
}

static void test_split(void **state)
{
    struct tt_dataset ds;
    struct tt_split sp;

    (void)state;
    make_linear(&ds, 10, 3);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.1, &sp), TT_ERR_OK);
    assert_int_equal(sp.train_end, 7);
    assert_int_equal(sp.valid_end, 8);
    assert_int_equal(tt_split_compute(&ds, 0.5, 0.0, &sp), TT_ERR_OK);
    assert_int_equal(sp.train_end, 5);
    assert_int_equal(sp.valid_end, 5);
    assert_int_equal(tt_split_compute(&ds, 0.0, 0.1, &sp), TT_ERR_INVAL);
    assert_int_equal(tt_split_compute(&ds, 1.0, 0.0, &sp), TT_ERR_INVAL);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.3, &sp), TT_ERR_INVAL);
    assert_int_equal(tt_split_compute(&ds, 0.7, -0.1, &sp), TT_ERR_INVAL);
    tt_dataset_release(&ds);

    make_linear(&ds, 1000003, 1000);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.1, &sp), TT_ERR_OK);
    assert_int_equal(sp.train_end, 700002);
    assert_int_equal(sp.valid_end, 800002);
    tt_dataset_release(&ds);
}

static void test_seqs(void **state)
{
    struct tt_dataset ds;
    struct tt_seqs s;
    const size_t ranges[][2] = {{0, 5000}, {1234, 4321}, {77, 77}, {0, 1}};

    (void)state;
    make_linear(&ds, 5000, 97);
    for (size_t r = 0; r < 4; r++) {
        size_t b = ranges[r][0], e = ranges[r][1];
        uint64_t total = 0;

        assert_int_equal(tt_seqs_build(&ds, b, e, &s), TT_ERR_OK);
        assert_int_equal(s.n_users, tt_dataset_n_users(&ds));
        for (uint32_t u = 0; u < s.n_users; u++) {
            uint64_t k = s.off[u];

            /* Naive: scan the range for u's interactions in order. */
            for (size_t j = b; j < e; j++) {
                if (ds.user[j] != u)
                    continue;
                assert_true(k < s.off[u + 1]);
                assert_int_equal(s.pos[k], j);
                k++;
            }
            assert_true(k == s.off[u + 1]);
            total += tt_seqs_len(&s, u);
        }
        assert_true(total == e - b);
        tt_seqs_release(&s);
    }
    assert_int_equal(tt_seqs_build(&ds, 10, 5, &s), TT_ERR_INVAL);
    assert_int_equal(tt_seqs_build(&ds, 0, 5001, &s), TT_ERR_INVAL);
    tt_seqs_release(&s);
    tt_dataset_release(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_sort_and_indices),
        cmocka_unit_test(test_invalid_and_lifecycle),
        cmocka_unit_test(test_random_sort),
        cmocka_unit_test(test_already_sorted),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_seqs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
