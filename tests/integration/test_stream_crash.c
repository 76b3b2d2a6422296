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

#include "tests/integration/tt_itest_crash.h"

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
    crash_wait_all(t, pid, log_path, N, 120, name);
    crash_stop(pid, log_path, name);
}

static void kill9(bool eos)
{
    struct crash_pair p;
    const int64_t kill_at[2] = {N / 5, N / 2};
    size_t repeats = 0;

    crash_pair_init(&p, eos ? "sc-eos-a" : "sc-alo-a",
                    eos ? "sc-eos-b" : "sc-alo-b", eos);
    crash_pair_produce(&p, evs, N, USERS, 11);

    run_child(&p.clean, p.model_path, NULL, 0, "clean");
    run_child(&p.crash, p.model_path, kill_at, 2, "crash");

    crash_pair_read(&p, evs, expect, N);
    if (eos) {
        crash_assert_once(&p.crash, &p.out_crash, evs, expect, "crash.log",
                          80, "crashed run");
    } else {
        const struct sit_output *o = &p.out_crash;
        size_t missing = 0;

        for (size_t i = 0; i < N; i++) {
            missing += o->got[i].n == 0;
            repeats += o->got[i].n > 1 ? o->got[i].n - 1 : 0;
        }
        assert_int_equal(missing, 0);
        assert_int_equal(sit_mismatches(o, evs, expect), 0);
        assert_int_equal(o->strays, 0);
        fprintf(stderr, "at-least-once: %zu repeated outputs after 2 "
                        "crashes\n",
                repeats);
    }
    /* The crashed run's outputs are the crash-free run's, byte for byte. */
    crash_same_outputs(&p.out_clean, &p.out_crash, N, false);
    crash_pair_release(&p);
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
