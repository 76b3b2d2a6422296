/*
 * Two `twotime stream` processes (TT_BINARY) in one group share the input;
 * one is killed with SIGKILL while events flow.  The other takes over its
 * partitions (after the session timeout), restores their states from the
 * changelog (waiting for the dead one's open transaction to be aborted) and
 * goes on.  The committed output holds exactly one record per event, each
 * equal to the offline reference: nothing lost, nothing applied twice.
 *
 * Needs TT_TEST_BROKERS (tt_itest.h) and TT_BINARY.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>

#include "tests/integration/test_stream_common.h"

#define N 30000
#define USERS 800

static struct tt_event evs[N];
static struct sit_expect expect[N];

/* Occurrences of `needle` in the file at `path`. */
static int log_count(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int n = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

static void show_log(const char *path)
{
    char cmd[400];

    snprintf(cmd, sizeof(cmd), "tail -n 20 '%s' >&2", path);
    if (system(cmd) != 0)
        fprintf(stderr, "(no log %s)\n", path);
}

static void wait_log(const char *path, const char *needle, int times,
                     double timeout_s)
{
    uint64_t t0 = tt_time_mono_ns();

    while (log_count(path, needle) < times) {
        if (tt_time_secs(t0, tt_time_mono_ns()) > timeout_s) {
            show_log(path);
            fail_msg("%s: no \"%s\" x%d after %.0f s", path, needle, times,
                     timeout_s);
        }
        usleep(50000);
    }
}

static void failover(void **st)
{
    struct sit t;
    struct sit_input in;
    struct sit_output o;
    tt_model_t *m = sit_model(1);
    char model_path[256], errstr[256], sa[256], sb[256], la[256], lb[256];
    pid_t a, b;

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
    wait_log(la, ": restored in", 1, 60);
    b = sit_spawn(&t, model_path, "b", sb, lb);
    /* Cooperative-sticky moves some of a's partitions to b; a commits
     * their open batch in its revoke callback. */
    wait_log(lb, ": restored in", 1, 60);
    assert_true(log_count(la, "revoked partitions") >= 1);
    tt_itest_produce(&t.conf.kafka, t.in, evs + N / 4, N / 4);
    assert_true(sit_wait_committed(&t, N / 2, 120) >= N / 2);
    tt_itest_produce(&t.conf.kafka, t.in, evs + N / 2, N / 4);
    assert_true(sit_wait_committed(&t, N / 2 + N / 16, 120) >=
                N / 2 + N / 16);
    kill(a, SIGKILL);
    assert_int_equal(sit_wait(a), -SIGKILL);
    tt_itest_produce(&t.conf.kafka, t.in, evs + 3 * (N / 4), N - 3 * (N / 4));

    if (sit_wait_committed(&t, N, 150) < N) {
        kill(b, SIGKILL);
        sit_wait(b);
        show_log(lb);
        fail_msg("b did not finish the input");
    }
    kill(b, SIGTERM);
    assert_int_equal(sit_wait(b), 0);
    /* b was assigned twice (its share, then a's) and restored a's
     * partitions from the changelog before processing them. */
    assert_true(log_count(lb, "assigned partitions") >= 2);
    assert_true(log_count(lb, ": restored in") >= SIT_PARTS);

    sit_read_input(&in, &t, N, 0);
    sit_reference(&m, NULL, evs, &in, expect);
    sit_read_output(&o, &t, &in, N);
    sit_assert_exactly_once(&o, evs, expect);
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
