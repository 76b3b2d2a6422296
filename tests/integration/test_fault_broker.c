/*
 * The broker restarted under a running `twotime stream` (TT_BINARY).
 *
 * This test starts ITS OWN single-node broker with scripts/kafka (port
 * TT_FAULT_KAFKA_PORT, default 19694, controller port + 1, a temporary
 * TT_KAFKA_DIR), so that the suite's shared broker is never disturbed; it
 * ignores TT_TEST_BROKERS.
 *
 * broker_restart: half of the input is produced, the stream processes part
 * of it, the broker is stopped (SIGTERM, a clean shutdown) for a few
 * seconds while the stream runs, then started again and the rest of the
 * input produced.  The stream waits: it logs that the broker is down
 * (librdkafka's "all brokers down"/transport errors, as warnings) and does
 * not exit; when the broker is back it goes on.  The committed output holds
 * exactly one record per event, equal to the offline reference.
 *
 * Needs TT_SOURCE_DIR (scripts/kafka) and TT_BINARY.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>

#include "tests/integration/test_stream_common.h"

#define N 8000
#define USERS 500
#define DOWN_S 6

static struct tt_event evs[N];
static struct sit_expect expect[N];

struct broker {
    char dir[128];
    char env[512]; /* the environment of scripts/kafka */
    char brokers[64];
};

static struct broker the_broker;

/* Runs `scripts/kafka <verb>` for our broker; returns its exit status. */
static int kafka(const struct broker *b, const char *verb)
{
    char cmd[2048];
    int rc;

    snprintf(cmd, sizeof(cmd), "%s \"$TT_SOURCE_DIR/scripts/kafka\" %s "
                               ">>'%s/script.log' 2>&1",
             b->env, verb, b->dir);
    rc = system(cmd);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static int setup(void **st)
{
    const char *src = getenv("TT_SOURCE_DIR"), *port_s;
    struct broker *b = &the_broker;
    long port = 19694;

    (void)st;
    if (!src) {
        fprintf(stderr, "TT_SOURCE_DIR is not set\n");
        return -1;
    }
    port_s = getenv("TT_FAULT_KAFKA_PORT");
    if (port_s && *port_s) {
        char *end;

        port = strtol(port_s, &end, 10);
        if (*end || port < 1024 || port > 65000) {
            fprintf(stderr, "TT_FAULT_KAFKA_PORT=%s: not a port\n", port_s);
            return -1;
        }
    }
    snprintf(b->dir, sizeof(b->dir), "/tmp/tt-fault-kafka-XXXXXX");
    if (!mkdtemp(b->dir))
        return -1;
    snprintf(b->env, sizeof(b->env),
             "TT_KAFKA_PORT=%ld TT_KAFKA_CTRL_PORT=%ld TT_KAFKA_DIR='%.120s' "
             "TT_KAFKA_HEAP=384m",
             port, port + 1, b->dir);
    snprintf(b->brokers, sizeof(b->brokers), "127.0.0.1:%ld", port);
    if (kafka(b, "start") != 0) {
        char cmd[sizeof(b->dir) + 64];

        snprintf(cmd, sizeof(cmd), "cat '%.120s/script.log' >&2", b->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "no log in %s\n", b->dir);
        fprintf(stderr, "could not start a broker on %s\n", b->brokers);
        return -1;
    }
    /* sit_init and tt_itest_conf read the broker from here. */
    setenv("TT_TEST_BROKERS", b->brokers, 1);
    return 0;
}

static int teardown(void **st)
{
    char cmd[256];

    (void)st;
    kafka(&the_broker, "stop");
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", the_broker.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", the_broker.dir);
    return 0;
}

static void broker_restart(void **st)
{
    struct sit t;
    struct sit_input in;
    struct sit_output o;
    tt_model_t *m = sit_model(1);
    char model_path[256], errstr[256], msg[256], state[256], log_path[256];
    char inst[64];
    uint64_t t_down, t_up;
    int64_t before;
    pid_t pid;
    int rc, st_w;

    (void)st;
    sit_init(&t, "fb", true);
    sit_set(&t, "kafka.batch_max", "100");
    snprintf(model_path, sizeof(model_path), "%s/model.bin", t.dir);
    assert_int_equal(tt_model_save(m, model_path, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    sit_events(evs, N, USERS, 31);
    tt_itest_produce(&t.conf.kafka, t.in, evs, N / 2);
    sit_state_path(&t, "s", state, sizeof(state));
    snprintf(log_path, sizeof(log_path), "%s/s.log", t.dir);
    tt_itest_instance(inst, sizeof(inst), "fb");
    pid = sit_spawn(&t, model_path, inst, state, log_path);
    before = sit_wait_committed(&t, N / 4, 120);
    assert_true(before >= N / 4);

    t_down = tt_time_mono_ns();
    assert_int_equal(kafka(&the_broker, "stop"), 0);
    sleep(DOWN_S);
    /* The stream waits for the broker: it must still be running. */
    if (waitpid(pid, &st_w, WNOHANG) == pid) {
        sit_show_log(log_path, 40);
        fail_msg("the stream exited while the broker was down (status "
                 "%d)",
                 WIFEXITED(st_w) ? WEXITSTATUS(st_w) : -WTERMSIG(st_w));
    }
    assert_int_equal(kafka(&the_broker, "start"), 0);
    t_up = tt_time_mono_ns();
    fprintf(stderr, "broker down for %.1f s (restart included)\n",
            tt_time_secs(t_down, t_up));
    tt_itest_produce(&t.conf.kafka, t.in, evs + N / 2, N - N / 2);
    if (sit_wait_committed(&t, N, 180) < N) {
        kill(pid, SIGKILL);
        sit_wait(pid);
        sit_show_log(log_path, 60);
        fail_msg("the input was not all committed after the restart");
    }
    fprintf(stderr, "input committed %.1f s after the broker was back\n",
            tt_time_secs(t_up, tt_time_mono_ns()));
    kill(pid, SIGTERM);
    if ((rc = sit_wait(pid)) != 0) {
        sit_show_log(log_path, 60);
        fail_msg("exit status %d after SIGTERM", rc);
    }
    /* It said so: librdkafka's connection errors reach the log. */
    fprintf(stderr, "log lines about the broker being down: %d\n",
            tt_itest_file_count(log_path, "Connection refused") +
                tt_itest_file_count(log_path, "brokers are down") +
                tt_itest_file_count(log_path, "Disconnected"));
    sit_read_input(&in, &t, N, 0);
    sit_reference(&m, NULL, evs, &in, expect);
    sit_read_output(&o, &t, &in);
    if (!sit_exactly_once(&o, evs, expect, msg, sizeof(msg))) {
        sit_show_log(log_path, 80);
        fail_msg("%s (log %s)", msg, log_path);
    }
    sit_output_release(&o);
    sit_input_release(&in);
    tt_model_destroy(m);
    sit_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(broker_restart),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
