/*
 * Rebalances under load: three `twotime stream` slots (TT_BINARY, child
 * processes, one consumer group, default dynamic membership) while the
 * input is produced in chunks.  Every STEP_MS a seeded schedule
 * (TT_TEST_SEED) makes one slot join (start), leave (SIGTERM: a clean
 * leave, the open batch committed in the revoke callback) or die
 * (SIGKILL: its partitions wait for the session timeout, its open
 * transaction for the restart of the slot or the coordinator's abort),
 * always keeping one instance running.  At the end every event has exactly
 * one committed output, equal bit for bit to the offline reference, and
 * each user's last output counts exactly that user's events: nothing lost,
 * nothing applied twice.
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

#define N 16000
#define USERS 700
#define SLOTS 3
#define STEPS 14
#define STEP_MS 2500

static struct tt_event evs[N];
static struct sit_expect expect[N];

struct slot {
    const char *name;
    pid_t pid; /* 0: not running */
    char state[256], log[256];
    char inst[64]; /* tt_itest_instance */
};

static int running(const struct slot *s)
{
    int n = 0;

    for (int i = 0; i < SLOTS; i++)
        n += s[i].pid != 0;
    return n;
}

/* Starts slot s and waits until it runs its loop (signal handlers in
 * place: a SIGTERM before that would kill it, not stop it). */
static void spawn_slot(const struct sit *t, const char *model_path,
                       struct slot *s)
{
    int before = tt_itest_file_count(s->log, "stream: started:");
    uint64_t t0 = tt_time_mono_ns();

    if (!s->inst[0])
        tt_itest_instance(s->inst, sizeof(s->inst), s->name);
    s->pid = sit_spawn(t, model_path, s->inst, s->state, s->log);
    while (tt_itest_file_count(s->log, "stream: started:") <= before) {
        if (tt_time_secs(t0, tt_time_mono_ns()) > 60) {
            sit_show_log(s->log, 30);
            fail_msg("%s did not start", s->name);
        }
        usleep(50000);
    }
}

static void show_logs(const struct slot *s)
{
    for (int i = 0; i < SLOTS; i++)
        sit_show_log(s[i].log, 30);
}

static void rebalance_churn(void **st)
{
    static const char *const names[SLOTS] = {"a", "b", "c"};
    struct slot sl[SLOTS];
    struct sit t;
    struct sit_input in;
    struct sit_output o;
    struct tt_rng rng;
    tt_model_t *m = sit_model(1);
    uint64_t seed = tt_itest_seed(20261128), t0 = tt_time_mono_ns();
    char model_path[256], errstr[256], msg[256];
    int joins = 0, leaves = 0, kills = 0;
    static uint64_t per_user[USERS], last_count[USERS];

    (void)st;
    fprintf(stderr, "seed %llu (TT_TEST_SEED)\n", (unsigned long long)seed);
    tt_rng_seed(&rng, seed, 9);
    sit_init(&t, "fr", true);
    sit_set(&t, "kafka.batch_max", "100");
    snprintf(model_path, sizeof(model_path), "%s/model.bin", t.dir);
    assert_int_equal(tt_model_save(m, model_path, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    sit_events(evs, N, USERS, seed);
    for (int i = 0; i < SLOTS; i++) {
        sl[i].name = names[i];
        sl[i].pid = 0;
        sl[i].inst[0] = '\0';
        sit_state_path(&t, names[i], sl[i].state, sizeof(sl[i].state));
        snprintf(sl[i].log, sizeof(sl[i].log), "%s/%s.log", t.dir, names[i]);
    }
    spawn_slot(&t, model_path, &sl[0]);
    for (int step = 0; step < STEPS; step++) {
        size_t lo = (size_t)step * N / STEPS, hi = (size_t)(step + 1) * N / STEPS;
        int k = (int)tt_rng_below(&rng, SLOTS);
        uint64_t ts = tt_time_mono_ns();
        double left;

        tt_itest_produce(&t.conf.kafka, t.in, evs + lo, hi - lo);
        if (!sl[k].pid) {
            spawn_slot(&t, model_path, &sl[k]);
            joins++;
            fprintf(stderr, "step %2d: %s joins\n", step, sl[k].name);
        } else if (running(sl) > 1 && tt_rng_below(&rng, 2) == 0) {
            int rc;

            kill(sl[k].pid, SIGTERM);
            if ((rc = sit_wait(sl[k].pid)) != 0) {
                show_logs(sl);
                fail_msg("%s: exit status %d after SIGTERM", sl[k].name,
                         rc);
            }
            sl[k].pid = 0;
            leaves++;
            fprintf(stderr, "step %2d: %s leaves\n", step, sl[k].name);
        } else if (running(sl) > 1) {
            kill(sl[k].pid, SIGKILL);
            assert_int_equal(sit_wait(sl[k].pid), -SIGKILL);
            sl[k].pid = 0;
            kills++;
            fprintf(stderr, "step %2d: %s killed\n", step, sl[k].name);
        } else {
            fprintf(stderr, "step %2d: %s stays (the only one)\n", step,
                    sl[k].name);
        }
        left = STEP_MS / 1000.0 - tt_time_secs(ts, tt_time_mono_ns());
        if (left > 0)
            usleep((useconds_t)(left * 1e6));
    }
    /* Every slot back, then the rest of the input. */
    for (int i = 0; i < SLOTS; i++)
        if (!sl[i].pid)
            spawn_slot(&t, model_path, &sl[i]);
    if (sit_wait_committed(&t, N, 180) < N) {
        for (int i = 0; i < SLOTS; i++) {
            kill(sl[i].pid, SIGKILL);
            sit_wait(sl[i].pid);
        }
        show_logs(sl);
        fail_msg("the input was not all committed");
    }
    for (int i = 0; i < SLOTS; i++)
        kill(sl[i].pid, SIGTERM);
    for (int i = 0; i < SLOTS; i++) {
        int rc = sit_wait(sl[i].pid);

        if (rc != 0) {
            show_logs(sl);
            fail_msg("%s: exit status %d after SIGTERM", sl[i].name, rc);
        }
    }
    fprintf(stderr, "%d joins, %d leaves, %d kills; input committed in "
                    "%.1f s\n",
            joins, leaves, kills, tt_time_secs(t0, tt_time_mono_ns()));
    assert_true(joins >= 2 && leaves + kills >= 2);

    sit_read_input(&in, &t, N, 0);
    sit_reference(&m, NULL, evs, &in, expect);
    sit_read_output(&o, &t, &in);
    if (!sit_exactly_once(&o, evs, expect, msg, sizeof(msg))) {
        show_logs(sl);
        fail_msg("%s (logs in %s)", msg, t.dir);
    }
    /* Count per user: each user's last output counts its events. */
    memset(per_user, 0, sizeof(per_user));
    memset(last_count, 0, sizeof(last_count));
    for (size_t i = 0; i < N; i++) {
        int64_t u = evs[i].user_id;

        per_user[u]++;
        if (o.got[i].count > last_count[u])
            last_count[u] = o.got[i].count;
    }
    for (int u = 0; u < USERS; u++)
        if (per_user[u] != last_count[u])
            fail_msg("user %d: %llu events, last output counts %llu", u,
                     (unsigned long long)per_user[u],
                     (unsigned long long)last_count[u]);
    sit_output_release(&o);
    sit_input_release(&in);
    tt_model_destroy(m);
    sit_release(&t);
}

/*
 * A member stopped (SIGTERM) right after its start, while its first
 * rebalance is under way: it must stop cleanly (exit 0).  librdkafka 2.0.2
 * aborted in rd_kafka_sticky_assignor_state_destroy when a consumer that
 * had joined was closed before its first assignment (see
 * wait_first_assignment in consumers/tt_stream.c), seen in
 * rebalance_churn; here ROUNDS stops at 0-750 ms after the start.
 */
#define ROUNDS 12
static void stop_before_first_assignment(void **st)
{
    struct slot a = {"a", 0, "", "", ""}, b = {"b", 0, "", "", ""};
    struct sit t;
    tt_model_t *m = sit_model(1);
    char model_path[256], errstr[256];

    (void)st;
    sit_init(&t, "fr2", true);
    snprintf(model_path, sizeof(model_path), "%s/model.bin", t.dir);
    assert_int_equal(tt_model_save(m, model_path, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    sit_events(evs, 400, USERS, 5);
    tt_itest_produce(&t.conf.kafka, t.in, evs, 400);
    sit_state_path(&t, "a", a.state, sizeof(a.state));
    sit_state_path(&t, "b", b.state, sizeof(b.state));
    snprintf(a.log, sizeof(a.log), "%s/a.log", t.dir);
    snprintf(b.log, sizeof(b.log), "%s/b.log", t.dir);
    spawn_slot(&t, model_path, &a);
    assert_true(sit_wait_committed(&t, 400, 60) >= 400);
    for (int round = 0; round < ROUNDS; round++) {
        int rc;

        spawn_slot(&t, model_path, &b);
        /* 0-750 ms into the join: the window moves with the load */
        usleep((useconds_t)(round % 6) * 150000);
        kill(b.pid, SIGTERM);
        if ((rc = sit_wait(b.pid)) != 0) {
            sit_show_log(b.log, 20);
            fail_msg("round %d: exit status %d after an early SIGTERM",
                     round, rc);
        }
    }
    kill(a.pid, SIGTERM);
    assert_int_equal(sit_wait(a.pid), 0);
    tt_model_destroy(m);
    sit_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rebalance_churn),
        cmocka_unit_test(stop_before_first_assignment),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
