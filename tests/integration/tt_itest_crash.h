/*
 * tt_itest_crash: what the crash tests (tests/integration/test_stream_crash.c,
 * test_fault_kill.c) share on top of test_stream_common.h: a pair of setups
 * over the same events (one run crash-free, one crashed), letting a
 * `twotime stream` child finish the input and stop it, and comparing the
 * crashed run's outputs with the crash-free run's.
 *
 * Header-only (static inline), like test_stream_common.h.  Call from the
 * test's thread (the helpers fail the current cmocka test on error).
 */
#ifndef TT_ITEST_CRASH_H
#define TT_ITEST_CRASH_H

#include "tests/integration/test_stream_common.h"

/* A crash-free run and a crashed run of the stream over the same events. */
struct crash_pair {
    struct sit clean, crash;
    struct sit_input in_clean, in_crash;
    struct sit_output out_clean, out_crash;
    tt_model_t *m;          /* sit_model(1) */
    char model_path[256];   /* m's file, in crash.dir */
};

/* Two setups (topics named after clean_prefix and crash_prefix) with
 * batches of at most 100 events: many transactions, so that kills land
 * inside one.  More settings may follow before crash_pair_produce(). */
static inline void crash_pair_init(struct crash_pair *p,
                                   const char *clean_prefix,
                                   const char *crash_prefix, bool eos)
{
    memset(p, 0, sizeof(*p));
    sit_init(&p->clean, clean_prefix, eos);
    sit_init(&p->crash, crash_prefix, eos);
    sit_set(&p->clean, "kafka.batch_max", "100");
    sit_set(&p->crash, "kafka.batch_max", "100");
    p->m = sit_model(1);
}

/* Saves the model to model_path, makes evs[0..n) (sit_events with
 * `users`, `seed`) and produces them to both input topics. */
static inline void crash_pair_produce(struct crash_pair *p,
                                      struct tt_event *evs, size_t n,
                                      uint32_t users, uint64_t seed)
{
    char errstr[256];

    snprintf(p->model_path, sizeof(p->model_path), "%s/model.bin",
             p->crash.dir);
    assert_int_equal(tt_model_save(p->m, p->model_path, errstr,
                                   sizeof(errstr)),
                     TT_ERR_OK);
    sit_events(evs, n, users, seed);
    tt_itest_produce(&p->clean.conf.kafka, p->clean.in, evs, n);
    tt_itest_produce(&p->crash.conf.kafka, p->crash.in, evs, n);
}

/* Asserts that `out` holds exactly one correct output an event; otherwise
 * shows the end of <t->dir>/<log> and fails, naming the run `name`. */
static inline void crash_assert_once(const struct sit *t,
                                     const struct sit_output *out,
                                     const struct tt_event *evs,
                                     const struct sit_expect *expect,
                                     const char *log, int lines,
                                     const char *name)
{
    char msg[256], log_path[256];

    if (!sit_exactly_once(out, evs, expect, msg, sizeof(msg))) {
        snprintf(log_path, sizeof(log_path), "%s/%s", t->dir, log);
        sit_show_log(log_path, lines);
        fail_msg("%s: %s", name, msg);
    }
}

/* After both runs over n events: reads both inputs and outputs, computes
 * the expected outputs into expect[0..n) and asserts that the clean run
 * (its log clean.log) produced exactly those, once each. */
static inline void crash_pair_read(struct crash_pair *p,
                                   const struct tt_event *evs,
                                   struct sit_expect *expect, size_t n)
{
    sit_read_input(&p->in_clean, &p->clean, n, 0);
    sit_read_input(&p->in_crash, &p->crash, n, 0);
    sit_reference(&p->m, NULL, evs, &p->in_crash, expect);
    sit_read_output(&p->out_clean, &p->clean, &p->in_clean);
    sit_read_output(&p->out_crash, &p->crash, &p->in_crash);
    crash_assert_once(&p->clean, &p->out_clean, evs, expect, "clean.log", 60,
                      "clean run");
}

static inline void crash_pair_release(struct crash_pair *p)
{
    sit_output_release(&p->out_clean);
    sit_output_release(&p->out_crash);
    sit_input_release(&p->in_clean);
    sit_input_release(&p->in_crash);
    tt_model_destroy(p->m);
    sit_release(&p->clean);
    sit_release(&p->crash);
}

/* Waits (at most timeout_s) until the group of `t` has committed `n`
 * input records; otherwise kills the child `pid`, shows the end of its log
 * and fails the test, naming the run `name`. */
static inline void crash_wait_all(const struct sit *t, pid_t pid,
                                  const char *log_path, int64_t n,
                                  double timeout_s, const char *name)
{
    if (sit_wait_committed(t, n, timeout_s) < n) {
        kill(pid, SIGKILL);
        sit_wait(pid);
        sit_show_log(log_path, 60);
        fail_msg("%s: the input was not all committed", name);
    }
}

/* Stops the child `pid` with SIGTERM and asserts that it exits 0. */
static inline void crash_stop(pid_t pid, const char *log_path,
                              const char *name)
{
    int rc;

    kill(pid, SIGTERM);
    if ((rc = sit_wait(pid)) != 0) {
        sit_show_log(log_path, 60);
        fail_msg("%s: exit status %d after SIGTERM", name, rc);
    }
}

/* The crashed run's outputs of events [0, n) are the crash-free run's, bit
 * for bit (user, count, cell, version, time, embedding); with `once`, each
 * run has exactly one output an event. */
static inline void crash_same_outputs(const struct sit_output *clean,
                                      const struct sit_output *crash,
                                      size_t n, bool once)
{
    for (size_t i = 0; i < n; i++) {
        const struct sit_got *a = &clean->got[i], *b = &crash->got[i];

        if (once) {
            assert_int_equal(a->n, 1);
            assert_int_equal(b->n, 1);
        }
        assert_int_equal(a->user_id, b->user_id);
        assert_int_equal(a->count, b->count);
        assert_int_equal(a->active, b->active);
        assert_int_equal(a->version, b->version);
        assert_int_equal(a->event_time, b->event_time);
        assert_memory_equal(a->q, b->q, sizeof(a->q));
    }
}

#endif
