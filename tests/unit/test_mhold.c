/*
 * Unit tests of consumers/tt_mhold, the model swap seam: offers must be
 * newer than the current and the pending version; a swap happens only when
 * the loop asks; a newer offer replaces a pending one; offers from another
 * thread race safely with swaps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "consumers/tt_mhold.h"
#include "model/tt_model.h"
#include "model/tt_model_int.h"

#define DIM 4

static tt_model_t *model(uint64_t version)
{
    struct tt_model_parts parts;
    size_t nd = tt_model_dense_floats(DIM, false);
    float *dense = calloc(nd, sizeof(float));
    float items[2 * DIM] = {0};
    int64_t ids[2] = {1, 2};
    struct tt_model_cutoff cut = {.partition = 0, .offset = 10};
    tt_model_t *m = NULL;

    assert_non_null(dense);
    memset(&parts, 0, sizeof(parts));
    parts.dim = DIM;
    parts.tstar = 1;
    parts.k = 1;
    parts.version = version;
    parts.n_items = 2;
    parts.item_ids = ids;
    parts.items = items;
    parts.dense = dense;
    parts.n_cutoffs = 1;
    parts.cutoffs = &cut;
    assert_int_equal(tt_model_build(&m, &parts, NULL, 0), TT_ERR_OK);
    free(dense);
    return m;
}

static void offers_and_swaps(void **st)
{
    tt_mhold_t *h;
    tt_model_t *m = model(5);
    uint64_t old = 0;
    char err[256];

    (void)st;
    assert_int_equal(tt_mhold_new(&h, &m, NULL, 0), TT_ERR_OK);
    assert_null(m);
    assert_int_equal(tt_mhold_view(h)->info.version, 5);
    assert_int_equal(tt_proc_view_cutoff(tt_mhold_view(h), 0), 10);
    assert_int_equal(tt_proc_view_cutoff(tt_mhold_view(h), 1), -1);
    assert_false(tt_mhold_swap(h, &old));
    /* Not newer: refused, ownership stays with the caller. */
    m = model(5);
    assert_int_equal(tt_mhold_offer(h, &m, err, sizeof(err)),
                     TT_ERR_VERSION);
    assert_non_null(m);
    tt_model_destroy(m);
    m = model(7);
    assert_int_equal(tt_mhold_offer(h, &m, NULL, 0), TT_ERR_OK);
    assert_null(m);
    assert_int_equal(tt_mhold_pending_version(h), 7);
    /* Still 5 until the loop swaps. */
    assert_int_equal(tt_mhold_view(h)->info.version, 5);
    /* Newer than current but not than pending: refused. */
    m = model(6);
    assert_int_equal(tt_mhold_offer(h, &m, NULL, 0), TT_ERR_VERSION);
    tt_model_destroy(m);
    /* A newer pending offer replaces the older one. */
    m = model(9);
    assert_int_equal(tt_mhold_offer(h, &m, NULL, 0), TT_ERR_OK);
    assert_true(tt_mhold_swap(h, &old));
    assert_int_equal(old, 5);
    assert_int_equal(tt_mhold_view(h)->info.version, 9);
    assert_int_equal(tt_mhold_pending_version(h), 0);
    assert_false(tt_mhold_swap(h, NULL));
    /* Older than the new current: refused. */
    m = model(8);
    assert_int_equal(tt_mhold_offer(h, &m, NULL, 0), TT_ERR_VERSION);
    tt_model_destroy(m);
    tt_mhold_destroy(h);
    tt_mhold_destroy(NULL);
}

struct offerer {
    tt_mhold_t *h;
    uint64_t from, n;
};

static void *offer_thread(void *arg)
{
    struct offerer *o = arg;

    for (uint64_t v = o->from; v < o->from + o->n; v++) {
        tt_model_t *m = model(v);

        if (tt_mhold_offer(o->h, &m, NULL, 0) != TT_ERR_OK)
            tt_model_destroy(m);
    }
    return NULL;
}

/* Another thread offers while this one swaps: versions seen only grow and
 * the last one offered ends up current (ASan/TSan builds check the rest). */
static void concurrent(void **st)
{
    tt_mhold_t *h;
    tt_model_t *m = model(1);
    struct offerer o;
    pthread_t th;
    uint64_t seen = 1;

    (void)st;
    assert_int_equal(tt_mhold_new(&h, &m, NULL, 0), TT_ERR_OK);
    o.h = h;
    o.from = 2;
    o.n = 300;
    assert_int_equal(pthread_create(&th, NULL, offer_thread, &o), 0);
    for (int i = 0; i < 100000 && seen < o.from + o.n - 1; i++) {
        tt_mhold_swap(h, NULL);
        assert_true(tt_mhold_view(h)->info.version >= seen);
        seen = tt_mhold_view(h)->info.version;
    }
    assert_int_equal(pthread_join(th, NULL), 0);
    tt_mhold_swap(h, NULL);
    assert_int_equal(tt_mhold_view(h)->info.version, o.from + o.n - 1);
    tt_mhold_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(offers_and_swaps),
        cmocka_unit_test(concurrent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
