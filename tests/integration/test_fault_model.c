/*
 * Damaged model versions through the real broker and the real program
 * (TT_BINARY): a running `twotime stream` follows its model topic while
 * three bad versions arrive, and never uses them.
 *
 * test_retrain.c partial_and_corrupt checks the model follower
 * (tt_modelsub) alone; this is the end-to-end case: the stream's outputs.
 *
 * - v1 is published properly (tt_modelpub, as `twotime retrain` does) and
 *   the stream starts from it; half of the input flows.
 * - v2: one DENSE record with a flipped payload byte (its CRC-32C no longer
 *   matches): rejected, the log says "model version 2 rejected" and why.
 * - v3: every record and the COMMIT, but one record missing: it waits for
 *   the record and is dropped when a newer version completes ("version 3
 *   dropped ... with its COMMIT but N of its M records").
 * - v4: every record but the COMMIT (a publisher that died): dropped
 *   without its COMMIT.
 * - The rest of the input flows; every output names version 1 and equals
 *   the offline reference computed with v1, exactly once.
 * - v5 is published properly: the stream swaps it in ("model swapped:
 *   version 1 -> 5"), so the follower survived the bad ones.
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

#define N 4000
#define USERS 300

static struct tt_event evs[N];
static struct sit_expect expect[N];

static void bad_versions_never_used(void **st)
{
    static const struct tt_itest_model_fault corrupt = {false, -1, 1},
                                             missing = {false, 2, -1},
                                             no_commit = {true, -1, -1};
    struct sit t;
    struct sit_input in;
    struct sit_output o;
    tt_model_t *m1 = sit_model(1), *bad = sit_model(2), *m5 = sit_model(5);
    char models[TT_ITEST_NAME_MAX], model_path[256], errstr[256], inst[64];
    char state[256], log_path[256], msg[256];
    pid_t pid;
    int rc;

    (void)st;
    sit_init(&t, "fm", true);
    tt_itest_name(models, sizeof(models), "fm-models");
    sit_set(&t, "kafka.model_topic", models);
    sit_set(&t, "model.follow", "true");
    tt_itest_model_publish(&t.conf.kafka, models, m1, 1, SIT_PARTS);
    snprintf(model_path, sizeof(model_path), "%s/model.bin", t.dir);
    assert_int_equal(tt_model_save(m1, model_path, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    sit_events(evs, N, USERS, 61);
    tt_itest_produce(&t.conf.kafka, t.in, evs, N / 2);
    sit_state_path(&t, "s", state, sizeof(state));
    snprintf(log_path, sizeof(log_path), "%s/s.log", t.dir);
    tt_itest_instance(inst, sizeof(inst), "fm");
    pid = sit_spawn(&t, model_path, inst, state, log_path);
    tt_itest_wait_lines(log_path, ": restored in", 1, 60);
    assert_true(sit_wait_committed(&t, N / 2, 120) >= N / 2);

    tt_itest_model_publish_raw(&t.conf.kafka, models, bad, 2, SIT_PARTS,
                               corrupt);
    tt_itest_model_publish_raw(&t.conf.kafka, models, bad, 3, SIT_PARTS,
                               missing);
    tt_itest_model_publish_raw(&t.conf.kafka, models, bad, 4, SIT_PARTS,
                               no_commit);
    tt_itest_wait_lines(log_path, "model version 2 rejected", 1, 30);
    tt_itest_produce(&t.conf.kafka, t.in, evs + N / 2, N - N / 2);
    if (sit_wait_committed(&t, N, 120) < N) {
        kill(pid, SIGKILL);
        sit_wait(pid);
        sit_show_log(log_path, 40);
        fail_msg("the input was not all committed");
    }
    /* A good version after the bad ones is taken. */
    tt_itest_model_publish(&t.conf.kafka, models, m5, 5, SIT_PARTS);
    tt_itest_wait_lines(log_path, "model swapped: version 1 -> 5", 1, 30);
    kill(pid, SIGTERM);
    if ((rc = sit_wait(pid)) != 0) {
        sit_show_log(log_path, 40);
        fail_msg("exit status %d after SIGTERM", rc);
    }
    /* Said why: the corrupt one at once, the partial ones when v5 came. */
    assert_true(tt_itest_file_count(log_path, "version 3 dropped") >= 1);
    assert_true(tt_itest_file_count(log_path, "version 4 dropped") >= 1);
    assert_int_equal(
        tt_itest_file_count(log_path, "model swapped: version 1 -> 2"), 0);
    assert_int_equal(
        tt_itest_file_count(log_path, "model swapped: version 1 -> 3"), 0);
    assert_int_equal(
        tt_itest_file_count(log_path, "model swapped: version 1 -> 4"), 0);

    /* Every output was made by v1, exactly once, bit for bit. */
    sit_read_input(&in, &t, N, 0);
    sit_reference(&m1, NULL, evs, &in, expect);
    sit_read_output(&o, &t, &in);
    if (!sit_exactly_once(&o, evs, expect, msg, sizeof(msg))) {
        sit_show_log(log_path, 60);
        fail_msg("%s (log %s)", msg, log_path);
    }
    for (size_t i = 0; i < N; i++)
        assert_int_equal(o.got[i].version, 1);
    sit_output_release(&o);
    sit_input_release(&in);
    tt_itest_delete_topic(&t.conf.kafka, models);
    tt_model_destroy(m1);
    tt_model_destroy(bad);
    tt_model_destroy(m5);
    sit_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_versions_never_used),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
