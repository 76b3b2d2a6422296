/*
 * `twotime stream` (the library, in a thread) against a real broker: the
 * embeddings it publishes are exactly (bit for bit) the ones the model
 * library computes offline from each user's history (the reference in
 * test_stream_common.h), one per event.
 *
 * - exactly_once / at_least_once: one run over N events with unknown items,
 *   users crossing t*, cutoffs and a history small enough that retention
 *   drops halves again and again.
 * - restart_restore_new_model: the first half, stop; the second half with a
 *   NEW, empty state directory (every partition is restored from the
 *   changelog) and a newer model (users recomputed under it).
 * - model_swap_midstream: a newer model offered while the stream runs is
 *   swapped in between batches; every output names the version that made it
 *   and equals the reference for that version; versions never go back.
 *
 * Needs TT_TEST_BROKERS (tt_itest.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>

#include "tests/integration/test_stream_common.h"

#define N 4000
#define USERS 150

static struct tt_event evs[N];
static struct sit_expect expect[N];
static uint8_t model_of[N];

static size_t unknown_items(size_t from, size_t to)
{
    size_t k = 0;

    for (size_t i = from; i < to; i++)
        k += evs[i].item_id >= SIT_ITEMS;
    return k;
}

static void run_once(bool eos)
{
    struct sit t;
    struct sit_runner r;
    struct sit_input in;
    struct sit_output o;
    tt_model_t *m;
    tt_metrics_t *mx;

    sit_init(&t, eos ? "sx-eos" : "sx-alo", eos);
    sit_events(evs, N, USERS, 3);
    tt_itest_produce(&t.conf.kafka, t.in, evs, N);
    sit_start(&r, &t, 1, "a");
    assert_int_equal(sit_wait_committed(&t, N, 90), N);
    sit_stop(&r);
    mx = tt_stream_metrics(r.s);
    assert_int_equal(tt_metrics_get(mx, TT_M_EVENTS), N);
    assert_int_equal(tt_metrics_get(mx, TT_M_APPLIED), N);
    assert_int_equal(tt_metrics_get(mx, TT_M_DUPLICATES), 0);
    assert_int_equal(tt_metrics_get(mx, TT_M_DEAD_LETTERS), 0);
    assert_int_equal(tt_metrics_get(mx, TT_M_UNKNOWN_ITEMS),
                     unknown_items(0, N));
    assert_int_equal(tt_metrics_get(mx, TT_M_RESTORES), SIT_PARTS);
    assert_int_equal(tt_metrics_get(mx, TT_M_TXN_ABORTED), 0);
    if (eos)
        assert_true(tt_metrics_get(mx, TT_M_TXN_COMMITTED) > 0);
    else
        assert_int_equal(tt_metrics_get(mx, TT_M_TXN_COMMITTED), 0);
    assert_true(tt_metrics_get(mx, TT_M_RECOMPUTES) > 0);
    tt_stream_destroy(r.s);

    sit_read_input(&in, &t, N, 0);
    m = sit_model(1);
    sit_reference(&m, NULL, evs, &in, expect);
    sit_read_output(&o, &t, &in);
    sit_assert_exactly_once(&o, evs, expect);
    sit_output_release(&o);
    sit_input_release(&in);
    tt_model_destroy(m);
    sit_release(&t);
}

static void exactly_once(void **st)
{
    (void)st;
    run_once(true);
}

static void at_least_once(void **st)
{
    (void)st;
    run_once(false);
}

static void restart_restore_new_model(void **st)
{
    struct sit t;
    struct sit_runner r;
    struct sit_input in;
    struct sit_output o;
    tt_model_t *m[2];
    char path[256], errstr[256];

    (void)st;
    sit_init(&t, "sx-rst", true);
    sit_events(evs, N, USERS, 4);
    tt_itest_produce(&t.conf.kafka, t.in, evs, N / 2);
    sit_start(&r, &t, 1, "a");
    assert_int_equal(sit_wait_committed(&t, N / 2, 90), N / 2);
    sit_stop(&r);
    tt_stream_destroy(r.s);

    /* A new instance with an empty store and a newer model. */
    tt_itest_produce(&t.conf.kafka, t.in, evs + N / 2, N - N / 2);
    sit_state_path(&t, "state-b", path, sizeof(path));
    assert_int_equal(tt_conf_set(&t.conf, "state.path", path, errstr,
                                 sizeof(errstr)),
                     TT_ERR_OK);
    sit_start(&r, &t, 2, "b");
    assert_int_equal(sit_wait_committed(&t, N, 90), N);
    sit_stop(&r);
    /* Every user of the first half came back from the changelog. */
    assert_true(tt_metrics_get(tt_stream_metrics(r.s),
                               TT_M_RESTORED_RECORDS) > USERS / 2);
    assert_int_equal(tt_metrics_get(tt_stream_metrics(r.s), TT_M_APPLIED),
                     N - N / 2);
    tt_stream_destroy(r.s);

    sit_read_input(&in, &t, N, 0);
    m[0] = sit_model(1);
    m[1] = sit_model(2);
    for (size_t i = 0; i < N; i++)
        model_of[i] = i >= N / 2;
    sit_reference(m, model_of, evs, &in, expect);
    sit_read_output(&o, &t, &in);
    sit_assert_exactly_once(&o, evs, expect);
    sit_output_release(&o);
    sit_input_release(&in);
    tt_model_destroy(m[0]);
    tt_model_destroy(m[1]);
    sit_release(&t);
}

static void model_swap_midstream(void **st)
{
    struct sit t;
    struct sit_runner r;
    struct sit_input in;
    struct sit_output o;
    tt_model_t *m[2], *next, *stale;
    char errstr[256];
    int64_t last[SIT_PARTS];
    size_t v2 = 0;

    (void)st;
    sit_init(&t, "sx-swp", true);
    sit_events(evs, N, USERS, 5);
    tt_itest_produce(&t.conf.kafka, t.in, evs, N / 2);
    sit_start(&r, &t, 1, "a");
    assert_int_equal(sit_wait_committed(&t, N / 2, 90), N / 2);
    /* A stale version is refused; a newer one is taken. */
    stale = sit_model(1);
    assert_int_equal(tt_stream_offer_model(r.s, &stale, errstr,
                                           sizeof(errstr)),
                     TT_ERR_VERSION);
    tt_model_destroy(stale);
    next = sit_model(2);
    assert_int_equal(tt_stream_offer_model(r.s, &next, errstr,
                                           sizeof(errstr)),
                     TT_ERR_OK);
    assert_null(next);
    tt_itest_produce(&t.conf.kafka, t.in, evs + N / 2, N - N / 2);
    assert_int_equal(sit_wait_committed(&t, N, 90), N);
    sit_stop(&r);
    assert_int_equal(tt_metrics_get(tt_stream_metrics(r.s), TT_M_MODEL_SWAPS),
                     1);
    assert_int_equal(
        tt_metrics_get(tt_stream_metrics(r.s), TT_M_MODEL_VERSION), 2);
    tt_stream_destroy(r.s);

    sit_read_input(&in, &t, N, 0);
    sit_read_output(&o, &t, &in);
    /* The version of each output decides its reference; within a
     * partition, versions only go up. */
    for (int p = 0; p < SIT_PARTS; p++)
        last[p] = 0;
    for (int p = 0; p < SIT_PARTS; p++)
        for (int64_t k = 0; k < in.ix_len[p]; k++) {
            int64_t i = in.ix[p][k];

            if (i < 0 || o.got[i].n == 0)
                continue;
            assert_true(o.got[i].version >= (uint64_t)last[p]);
            last[p] = (int64_t)o.got[i].version;
        }
    for (size_t i = 0; i < N; i++) {
        model_of[i] = o.got[i].version == 2;
        v2 += model_of[i];
        if (i < N / 2)
            assert_int_equal(model_of[i], 0);
    }
    /* The batch being collected when the offer came may still use v1. */
    assert_true(v2 > 0 && v2 <= N - N / 2);
    m[0] = sit_model(1);
    m[1] = sit_model(2);
    sit_reference(m, model_of, evs, &in, expect);
    sit_assert_exactly_once(&o, evs, expect);
    sit_output_release(&o);
    sit_input_release(&in);
    tt_model_destroy(m[0]);
    tt_model_destroy(m[1]);
    sit_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exactly_once),
        cmocka_unit_test(at_least_once),
        cmocka_unit_test(restart_restore_new_model),
        cmocka_unit_test(model_swap_midstream),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
