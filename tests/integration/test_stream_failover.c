/*
 * Two `twotime stream` processes (TT_BINARY) in one group share the input;
 * one is killed with SIGKILL while events flow.  The other takes over its
 * partitions (after the session timeout), restores their states from the
 * changelog (waiting for the dead one's open transaction to be aborted) and
 * goes on.  The committed output holds exactly one record per event, each
 * equal to the offline reference: nothing lost, nothing applied twice.
 *
 * The transaction a had open when it died stays open until the coordinator
 * aborts it (a's transactional.id is never used again, so nothing fences
 * it): transaction.timeout.ms after it began, noticed by the broker's
 * periodic sweep.  Until then read_committed readers of the output
 * partition it wrote stop at its first record, with b's later outputs
 * behind it.  The output is read only once no transaction is open and then
 * to its end (sit_read_topic), never until a pause: a loaded machine once
 * made a pause-based read miss every output behind a's transaction.
 *
 * Needs TT_TEST_BROKERS (tt_itest.h) and TT_BINARY.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <time.h>

#include "tests/integration/test_stream_common.h"

#define N 30000
#define USERS 800

static struct tt_event evs[N];
static struct sit_expect expect[N];

/* "note: <what> at <UTC time>", to match with the children's logs. */
static void note_wall(const char *what)
{
    int64_t ms = tt_time_wall_ms();
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char buf[64];

    gmtime_r(&secs, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "note: %s at %s.%03dZ\n", what, buf, (int)(ms % 1000));
}

static void show_logs(const char *la, const char *lb)
{
    sit_show_log(la, 60);
    sit_show_log(lb, 60);
}

static void failover(void **st)
{
    struct sit t;
    struct sit_input in;
    struct sit_output o;
    tt_model_t *m = sit_model(1);
    char model_path[256], errstr[256], sa[256], sb[256], la[256], lb[256];
    char msg[256];
    pid_t a, b;
    int rc;
    uint64_t t_kill;

    (void)st;
    sit_init(&t, "sf", true);
    sit_set(&t, "kafka.batch_max", "100");
    snprintf(model_path, sizeof(model_path), "%s/model.bin", t.dir);
    assert_int_equal(tt_model_save(m, model_path, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    sit_state_path(&t, "a", sa, sizeof(sa));
    sit_state_path(&t, "b", sb, sizeof(sb));
    snprintf(la, sizeof(la), "%s/a.log", t.dir);
    snprintf(lb, sizeof(lb), "%s/b.log", t.dir);
    sit_events(evs, N, USERS, 21);
    /* Four quarters: before the start, with both running, just before the
     * kill (so that a is busy when it dies), and after it (so that b must
     * take over a's partitions to finish). */
    tt_itest_produce(&t.conf.kafka, t.in, evs, N / 4);
    a = sit_spawn(&t, model_path, "a", sa, la);
    tt_itest_wait_lines(la, ": restored in", 1, 60);
    b = sit_spawn(&t, model_path, "b", sb, lb);
    /* Cooperative-sticky moves some of a's partitions to b; a commits
     * their open batch in its revoke callback. */
    tt_itest_wait_lines(lb, ": restored in", 1, 60);
    assert_true(tt_itest_file_count(la, "revoked partitions") >= 1);
    tt_itest_produce(&t.conf.kafka, t.in, evs + N / 4, N / 4);
    assert_true(sit_wait_committed(&t, N / 2, 120) >= N / 2);
    tt_itest_produce(&t.conf.kafka, t.in, evs + N / 2, N / 4);
    assert_true(sit_wait_committed(&t, N / 2 + N / 16, 120) >=
                N / 2 + N / 16);
    kill(a, SIGKILL);
    t_kill = tt_time_mono_ns();
    assert_int_equal(sit_wait(a), -SIGKILL);
    note_wall("a killed");
    tt_itest_produce(&t.conf.kafka, t.in, evs + 3 * (N / 4), N - 3 * (N / 4));

    if (sit_wait_committed(&t, N, 150) < N) {
        kill(b, SIGKILL);
        sit_wait(b);
        show_logs(la, lb);
        fail_msg("b did not finish the input");
    }
    kill(b, SIGTERM);
    if ((rc = sit_wait(b)) != 0) {
        show_logs(la, lb);
        fail_msg("b: exit status %d after SIGTERM", rc);
    }
    /* b was assigned twice (its share, then a's) and restored a's
     * partitions from the changelog before processing them. */
    assert_true(tt_itest_file_count(lb, "assigned partitions") >= 2);
    assert_true(tt_itest_file_count(lb, ": restored in") >= SIT_PARTS);

    fprintf(stderr, "note: b finished the input %.1f s after the kill\n",
            tt_time_secs(t_kill, tt_time_mono_ns()));
    /* a's transaction open when it died (if any) holds back read_committed
     * readers of the partitions it wrote until the coordinator aborts it:
     * the reads below wait for that; this only tells how long it took. */
    sit_wait_stable(&t, t.out);
    sit_wait_stable(&t, t.cl);
    fprintf(stderr, "note: no transaction open %.1f s after the kill\n",
            tt_time_secs(t_kill, tt_time_mono_ns()));

    sit_read_input(&in, &t, N, 0);
    sit_reference(&m, NULL, evs, &in, expect);
    sit_read_output(&o, &t, &in);
    if (!sit_exactly_once(&o, evs, expect, msg, sizeof(msg))) {
        show_logs(la, lb);
        fail_msg("%s (logs in %s)", msg, t.dir);
    }
    sit_output_release(&o);
    sit_input_release(&in);
    tt_model_destroy(m);
    sit_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failover),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
