/*
 * At-least-once mode with batches in flight (consumers/tt_stream_alo.c)
 * against a real broker: a failed delivery loses nothing.
 *
 * - changelog_refused, output_refused: the changelog (or the output) topic
 *   is made to refuse every record (max.message.bytes = 64, set with
 *   AlterConfigs: the broker answers MESSAGE_TOO_LARGE, a delivery
 *   failure; no mock cluster) while the stream consumes N events, then
 *   accept them again.  Every event has an output, every output equals the
 *   offline reference (no state applied twice), and the changelog is
 *   complete: a second instance with an EMPTY state directory, restoring
 *   everything from the changelog, processes N2 further events with the
 *   reference's embeddings (a changelog record lost with the failed
 *   deliveries and never re-emitted would give wrong counts there).
 *
 * Needs TT_TEST_BROKERS (tt_itest.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>

#include "tests/integration/test_stream_common.h"

#define N 6000
#define N2 3000
#define USERS 500

static struct tt_event evs[N + N2];
static struct sit_expect expect[N + N2];

/* Sets max.message.bytes of a topic (AlterConfigs replaces a topic's
 * dynamic configuration: cleanup.policy=compact is given again). */
static void set_max_bytes(const struct sit *t, const char *topic,
                          const char *value)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_ConfigResource_t *cr[1];
    rd_kafka_queue_t *q;
    rd_kafka_event_t *ev;
    const rd_kafka_AlterConfigs_result_t *res;
    const rd_kafka_ConfigResource_t **rr;
    size_t n = 0;
    char err[256];
    rd_kafka_t *rk;

    rd_kafka_conf_set(conf, "bootstrap.servers", t->conf.kafka.brokers, err,
                      sizeof(err));
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(rk);
    cr[0] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_ConfigResource_set_config(cr[0], "cleanup.policy", "compact");
    rd_kafka_ConfigResource_set_config(cr[0], "max.message.bytes", value);
    q = rd_kafka_queue_new(rk);
    rd_kafka_AlterConfigs(rk, cr, 1, NULL, q);
    ev = rd_kafka_queue_poll(q, 30000);
    assert_non_null(ev);
    if (rd_kafka_event_error(ev))
        fail_msg("AlterConfigs: %s", rd_kafka_event_error_string(ev));
    res = rd_kafka_event_AlterConfigs_result(ev);
    assert_non_null(res);
    rr = rd_kafka_AlterConfigs_result_resources(res, &n);
    assert_int_equal(n, 1);
    for (size_t i = 0; i < n; i++)
        if (rd_kafka_ConfigResource_error(rr[i]))
            fail_msg("AlterConfigs %s: %s",
                     rd_kafka_ConfigResource_name(rr[i]),
                     rd_kafka_ConfigResource_error_string(rr[i]));
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(cr[0]);
    rd_kafka_destroy(rk);
}

static void refused(bool changelog)
{
    struct sit t;
    struct sit_runner r;
    struct sit_input in;
    struct sit_output out;
    tt_model_t *m = sit_model(1);
    char log_path[256], state2[256];
    FILE *logf;
    int redone;
    size_t missing = 0, repeats = 0, second = 0;

    sit_init(&t, changelog ? "salc" : "salo", false);
    sit_set(&t, "kafka.batch_max", "100");
    snprintf(log_path, sizeof(log_path), "%s/stream.log", t.dir);
    logf = fopen(log_path, "w");
    assert_non_null(logf);
    t.log = tt_log_new(logf, TT_LOG_INFO);
    sit_events(evs, N + N2, USERS, 23);

    sit_start(&r, &t, 1, "sal-a"); /* creates the output and changelog */
    set_max_bytes(&t, changelog ? t.cl : t.out, "64");
    tt_itest_produce(&t.conf.kafka, t.in, evs, N);
    /* Let it fail for a while: every batch's records are refused. */
    tt_itest_wait_lines(log_path, "redoing the batches in flight", 3, 60);
    set_max_bytes(&t, changelog ? t.cl : t.out, "1048588");
    if (sit_wait_committed(&t, N, 120) < N) {
        sit_show_log(log_path, 40);
        fail_msg("the input was not all committed");
    }
    sit_stop(&r);
    tt_stream_destroy(r.s);

    /* A second instance from nothing but the changelog. */
    sit_state_path(&t, "state2", state2, sizeof(state2));
    sit_set(&t, "state.path", state2);
    sit_start(&r, &t, 1, "sal-b");
    tt_itest_produce(&t.conf.kafka, t.in, evs + N, N2);
    if (sit_wait_committed(&t, N + N2, 120) < N + N2) {
        sit_show_log(log_path, 40);
        fail_msg("the second input was not all committed");
    }
    sit_stop(&r);
    tt_stream_destroy(r.s);
    fflush(logf);
    redone = tt_itest_file_count(log_path, "redoing the batches in flight");

    sit_read_input(&in, &t, N + N2, 0);
    sit_reference(&m, NULL, evs, &in, expect);
    sit_read_output(&out, &t, &in);
    for (size_t i = 0; i < N + N2; i++) {
        missing += out.got[i].n == 0;
        repeats += out.got[i].n > 1 ? out.got[i].n - 1 : 0;
        second += i >= N && out.got[i].n > 0;
        if (out.got[i].n == 0 && missing < 10)
            fprintf(stderr, "missing: event %zu partition %d offset %lld\n",
                    i, (int)in.part[i], (long long)in.off[i]);
    }
    fprintf(stderr,
            "note: %d redone rounds, %zu repeated outputs, %zu records\n",
            redone, repeats, out.records);
    if (missing || sit_mismatches(&out, evs, expect) || out.strays)
        sit_show_log(log_path, 40);
    assert_true(redone >= 3);
    assert_int_equal(missing, 0);
    assert_int_equal(second, N2);
    assert_int_equal(sit_mismatches(&out, evs, expect), 0);
    assert_int_equal(out.strays, 0);
    sit_output_release(&out);
    sit_input_release(&in);
    tt_model_destroy(m);
    tt_log_destroy(t.log);
    fclose(logf);
    sit_release(&t);
}

static void changelog_refused(void **st)
{
    (void)st;
    refused(true);
}

static void output_refused(void **st)
{
    (void)st;
    refused(false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(changelog_refused),
        cmocka_unit_test(output_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
