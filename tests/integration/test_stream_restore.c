/*
 * tt_restore (the changelog restore of `twotime stream`) against a real
 * broker: partitions start and end their restores in quick succession
 * again and again, as when a member is given partitions one rebalance
 * after another.  librdkafka 2.0.2 aborts the process ("Assertion
 * rktp->rktp_started failed" in rd_kafka_assignment_partition_stopped)
 * when a consumer's whole assignment is replaced again before the
 * previous replacement's fetch stops were served (a partition is stopped
 * twice); the restore must change its assignment one partition at a time.
 * Every round must restore every partition to its end.
 *
 * Needs TT_TEST_BROKERS (tt_itest.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>

#include "consumers/tt_restore.h"
#include "state/tt_state.h"
#include "tests/integration/test_stream_common.h"

#define ROUNDS 150

static void restore_churn(void **st_)
{
    struct sit t;
    tt_state_t *st;
    tt_restore_t *r;
    struct tt_restore_stats stats;
    char errstr[512];
    uint64_t t0 = tt_time_mono_ns();

    (void)st_;
    sit_init(&t, "srs", true);
    tt_itest_create_topic(&t.conf.kafka, t.cl, SIT_PARTS);
    if (tt_state_new(&st, &t.conf.state, errstr, sizeof(errstr)))
        fail_msg("state: %s", errstr);
    if (tt_restore_new(&r, &t.conf.kafka, t.cl, st, errstr, sizeof(errstr)))
        fail_msg("restore: %s", errstr);
    for (int round = 0; round < ROUNDS; round++) {
        uint64_t r0 = tt_time_mono_ns();

        for (int32_t p = 0; p < SIT_PARTS; p++)
            if (tt_restore_start(r, p, errstr, sizeof(errstr)))
                fail_msg("round %d: start %d: %s", round, p, errstr);
        while (tt_restore_n_active(r) > 0) {
            int32_t done[SIT_PARTS];
            size_t n_done = 0;

            if (tt_restore_step(r, 20, done, SIT_PARTS, &n_done, errstr,
                                sizeof(errstr)))
                fail_msg("round %d: step: %s", round, errstr);
            if (tt_time_secs(r0, tt_time_mono_ns()) > 30)
                fail_msg("round %d: %zu partitions still restoring after "
                         "30 s",
                         round, tt_restore_n_active(r));
        }
    }
    tt_restore_stats(r, &stats);
    assert_int_equal(stats.completed, (uint64_t)ROUNDS * SIT_PARTS);
    fprintf(stderr, "note: %d rounds of %d restores in %.1f s\n", ROUNDS,
            SIT_PARTS, tt_time_secs(t0, tt_time_mono_ns()));
    tt_restore_destroy(r);
    tt_state_destroy(st);
    sit_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(restore_churn),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
