/*
 * Crash recovery of the real `twotime stream` (TT_BINARY, child processes)
 * against a real broker.
 *
 * - exactly_once_kill9: a crash-free run over N events, and a run killed
 *   with SIGKILL twice mid-stream and restarted each time on the same state
 *   directory and instance id.  The committed output (read_committed) of
 *   the crashed run is exactly the crash-free one: one record per event,
 *   byte-identical embeddings and fields (both also equal the offline
 *   reference).
 * - at_least_once_kill9: the same crash in at-least-once mode.  Outputs may
 *   repeat, but every event has one, every repeat is identical, and every
 *   embedding equals the reference: the state was never applied twice.
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

/* Runs the stream to the end of the input: kills it with SIGKILL when the
 * group has committed each of kill_at[0..n_kills) records, restarting it
 * each time, then stops it with SIGTERM. */
static void run_child(const struct sit *t, const char *model_path,
                      const int64_t *kill_at, int n_kills, const char *name)
{
    char state[256], log_path[256];
    pid_t pid;
    int rc;

    sit_state_path(t, name, state, sizeof(state));
    snprintf(log_path, sizeof(log_path), "%s/%s.log", t->dir, name);
    pid = sit_spawn(t, model_path, name, state, log_path);
    for (int k = 0; k < n_kills; k++) {
        int64_t got = sit_wait_committed(t, kill_at[k], 120);

        if (got < kill_at[k]) {
            sit_show_log(log_path, 60);
            fail_msg("%s: %lld committed before the kill", name,
                     (long long)got);
        }
        kill(pid, SIGKILL);
        assert_int_equal(sit_wait(pid), -SIGKILL);
        if (got >= N)
            fprintf(stderr, "note: %s finished before the kill\n", name);
        pid = sit_spawn(t, model_path, name, state, log_path);
    }
    if (sit_wait_committed(t, N, 120) < N) {
        kill(pid, SIGKILL);
        sit_wait(pid);
        sit_show_log(log_path, 60);
        fail_msg("%s: the input was not all committed", name);
    }
    kill(pid, SIGTERM);
    rc = sit_wait(pid);
    if (rc != 0) {
        sit_show_log(log_path, 60);
        fail_msg("%s: exit status %d after SIGTERM", name, rc);
    }
}

static void kill9(bool eos)
{
    struct sit clean, crash;
    struct sit_input in_clean, in_crash;
    struct sit_output out_clean, out_crash;
    tt_model_t *m = sit_model(1);
    char model_path[256], errstr[256];
    const int64_t kill_at[2] = {N / 5, N / 2};
    size_t repeats = 0;
    char msg[256], log_path[256];

    sit_init(&clean, eos ? "sc-eos-a" : "sc-alo-a", eos);
    sit_init(&crash, eos ? "sc-eos-b" : "sc-alo-b", eos);
    /* Small batches: many transactions, so the kills land inside one. */
    sit_set(&crash, "kafka.batch_max", "100");
    sit_set(&clean, "kafka.batch_max", "100");
    snprintf(model_path, sizeof(model_path), "%s/model.bin", crash.dir);
    assert_int_equal(tt_model_save(m, model_path, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    sit_events(evs, N, USERS, 11);
    tt_itest_produce(&clean.conf.kafka, clean.in, evs, N);
    tt_itest_produce(&crash.conf.kafka, crash.in, evs, N);

    run_child(&clean, model_path, NULL, 0, "clean");
    run_child(&crash, model_path, kill_at, 2, "crash");

    sit_read_input(&in_clean, &clean, N, 0);
    sit_read_input(&in_crash, &crash, N, 0);
    sit_reference(&m, NULL, evs, &in_crash, expect);
    sit_read_output(&out_clean, &clean, &in_clean);
    sit_read_output(&out_crash, &crash, &in_crash);
    if (!sit_exactly_once(&out_clean, evs, expect, msg, sizeof(msg))) {
        snprintf(log_path, sizeof(log_path), "%s/clean.log", clean.dir);
        sit_show_log(log_path, 60);
        fail_msg("clean run: %s", msg);
    }
    if (eos) {
        if (!sit_exactly_once(&out_crash, evs, expect, msg, sizeof(msg))) {
            snprintf(log_path, sizeof(log_path), "%s/crash.log", crash.dir);
            sit_show_log(log_path, 80);
            fail_msg("crashed run: %s", msg);
        }
    } else {
        size_t missing = 0;

        for (size_t i = 0; i < N; i++) {
            missing += out_crash.got[i].n == 0;
            repeats += out_crash.got[i].n > 1 ? out_crash.got[i].n - 1 : 0;
        }
        assert_int_equal(missing, 0);
        assert_int_equal(sit_mismatches(&out_crash, evs, expect), 0);
        assert_int_equal(out_crash.strays, 0);
        fprintf(stderr, "at-least-once: %zu repeated outputs after 2 "
                        "crashes\n",
                repeats);
    }
    /* The crashed run's outputs are the crash-free run's, byte for byte. */
    for (size_t i = 0; i < N; i++) {
        const struct sit_got *a = &out_clean.got[i], *b = &out_crash.got[i];

        assert_int_equal(a->count, b->count);
        assert_int_equal(a->active, b->active);
        assert_int_equal(a->version, b->version);
        assert_int_equal(a->event_time, b->event_time);
        assert_memory_equal(a->q, b->q, sizeof(a->q));
    }
    sit_output_release(&out_clean);
    sit_output_release(&out_crash);
    sit_input_release(&in_clean);
    sit_input_release(&in_crash);
    tt_model_destroy(m);
    sit_release(&clean);
    sit_release(&crash);
}

static void exactly_once_kill9(void **st)
{
    (void)st;
    kill9(true);
}

static void at_least_once_kill9(void **st)
{
    (void)st;
    kill9(false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exactly_once_kill9),
        cmocka_unit_test(at_least_once_kill9),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
