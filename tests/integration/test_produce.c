/*
 * `twotime produce` pacing and resume (TT_BINARY) against a real broker:
 * 2000 events at --rate 1000 take at least 1.8 s (the schedule puts the
 * last one at 1.999 s, so this cannot flake on a slow machine; only a
 * missing or broken pacing is faster); 3 s of event time at --speedup 2
 * take at least 1.4 s; a run killed with SIGKILL mid-way and resumed with
 * --resume leaves exactly N records in the topic, N distinct events equal
 * to the input; resuming again sends nothing; resuming with another input
 * is refused and adds nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/tt_time.h"
#include "schemas/tt_codec.h"
#include "tests/integration/tt_itest.h"

#define N_RESUME 4000
#define PARTS 3

struct run {
    int rc;
    double secs;
    char out[1 << 16];
    char err[1 << 16];
};

static void slurp(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    size_t n = 0;

    if (f) {
        n = fread(buf, 1, size - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    unlink(path);
}

static const char *binary(void)
{
    const char *bin = getenv("TT_BINARY");

    if (!bin || !*bin)
        fail_msg("TT_BINARY is not set (ctest sets it to the twotime "
                 "program)");
    return bin;
}

/* Runs `twotime ARGS --set kafka.brokers=...`, timed, output captured. */
static void twotime(struct run *r, const char *brokers, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void twotime(struct run *r, const char *brokers, const char *fmt, ...)
{
    char args[2048], cmd[4096], out[64], err[64];
    uint64_t t0;
    va_list ap;
    int st;

    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(out, sizeof(out), "/tmp/tt-prod-out-%ld", (long)getpid());
    snprintf(err, sizeof(err), "/tmp/tt-prod-err-%ld", (long)getpid());
    snprintf(cmd, sizeof(cmd), "'%s' %s --set kafka.brokers=%s >%s 2>%s",
             binary(), args, brokers, out, err);
    t0 = tt_time_mono_ns();
    st = system(cmd);
    r->secs = tt_time_secs(t0, tt_time_mono_ns());
    assert_true(st != -1 && WIFEXITED(st));
    r->rc = WEXITSTATUS(st);
    slurp(out, r->out, sizeof(r->out));
    slurp(err, r->err, sizeof(r->err));
}

/* A csv log of n distinct events, `step_ms` apart; reversed if asked. */
static void write_log(const char *path, int n, int step_ms, bool reversed)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fprintf(f, "user_id,item_id,timestamp,category\n");
    for (int k = 0; k < n; k++) {
        int i = reversed ? n - 1 - k : k;

        fprintf(f, "%d,%d,%lld,%d\n", i % 97, 5000 + i,
                1700000000000LL + (long long)i * step_ms, i % 3);
    }
    fclose(f);
}

static void test_rate(void **state)
{
    struct tt_conf conf;
    struct run *r = calloc(1, sizeof(*r));
    char topic[TT_ITEST_NAME_MAX], log[64];

    (void)state;
    assert_non_null(r);
    tt_itest_conf(&conf);
    tt_itest_name(topic, sizeof(topic), "tt-rate");
    snprintf(log, sizeof(log), "/tmp/tt-rate-%ld.csv", (long)getpid());
    write_log(log, 2000, 1, false);
    twotime(r, conf.kafka.brokers,
            "produce --input %s --topic %s --create-partitions 2 "
            "--rate 1000",
            log, topic);
    if (r->rc)
        fail_msg("produce --rate failed (%d): %s", r->rc, r->err);
    assert_non_null(strstr(r->out, "delivered:      2000 "));
    assert_non_null(strstr(r->out, "at most 1000 events/s"));
    /* plain progress lines, not a bar, when stderr is not a terminal */
    assert_null(strchr(r->err, '\r'));
    assert_non_null(strstr(r->err, "twotime produce: 2,000 sent"));
    if (r->secs < 1.8)
        fail_msg("2000 events at 1000/s took %.3f s", r->secs);
    assert_int_equal(tt_itest_topic_records(&conf.kafka, topic), 2000);

    /* 300 steps of 10 ms = 3 s of event time at x2: >= 1.5 s */
    tt_itest_name(topic, sizeof(topic), "tt-speedup");
    write_log(log, 301, 10, false);
    twotime(r, conf.kafka.brokers,
            "produce --input %s --topic %s --create-partitions 2 "
            "--speedup 2",
            log, topic);
    assert_int_equal(r->rc, 0);
    if (r->secs < 1.4)
        fail_msg("3 s of event time at x2 took %.3f s", r->secs);
    assert_int_equal(tt_itest_topic_records(&conf.kafka, topic), 301);
    unlink(log);
    tt_conf_release(&conf);
    free(r);
}

struct seen {
    tt_codec_t *codec;
    struct tt_event *ev;
    size_t n, cap;
    size_t bad;
};

static void collect(void *arg, const rd_kafka_message_t *m)
{
    struct seen *s = arg;
    char err[256];

    if (s->n < s->cap && !tt_codec_decode_event(s->codec, m->payload, m->len,
                                                &s->ev[s->n], err,
                                                sizeof(err)))
        s->n++;
    else
        s->bad++;
}

static int cmp_event(const void *a, const void *b)
{
    const struct tt_event *x = a, *y = b;

    if (x->item_id != y->item_id)
        return x->item_id < y->item_id ? -1 : 1;
    if (x->user_id != y->user_id)
        return x->user_id < y->user_id ? -1 : 1;
    return x->ts_ms < y->ts_ms ? -1 : x->ts_ms > y->ts_ms;
}

static void test_resume_after_kill(void **state)
{
    struct tt_conf conf;
    struct run *r = calloc(1, sizeof(*r));
    struct seen s = {0};
    char topic[TT_ITEST_NAME_MAX], group[TT_ITEST_NAME_MAX], log[64];
    char other[64], brokers[256], err[256];
    uint64_t t0;
    int64_t before;
    pid_t pid;
    int st;

    (void)state;
    assert_non_null(r);
    tt_itest_conf(&conf);
    tt_itest_name(topic, sizeof(topic), "tt-resume");
    tt_itest_name(group, sizeof(group), "tt-resume-g");
    tt_itest_create_topic(&conf.kafka, topic, PARTS);
    snprintf(log, sizeof(log), "/tmp/tt-resume-%ld.csv", (long)getpid());
    snprintf(other, sizeof(other), "/tmp/tt-resume-o-%ld.csv",
             (long)getpid());
    write_log(log, N_RESUME, 1, false);
    write_log(other, N_RESUME, 1, true);
    snprintf(brokers, sizeof(brokers), "kafka.brokers=%s",
             conf.kafka.brokers);

    /* a paced run, killed without warning once part of it is in */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);

        dup2(fd, 1);
        dup2(fd, 2);
        execl(binary(), "twotime", "produce", "--input", log, "--topic",
              topic, "--rate", "1000", "--set", brokers, (char *)NULL);
        _exit(127);
    }
    t0 = tt_time_mono_ns();
    while ((before = tt_itest_topic_records(&conf.kafka, topic)) < 800) {
        struct timespec nap = {0, 50 * 1000 * 1000};

        if (tt_time_secs(t0, tt_time_mono_ns()) > 30) {
            kill(pid, SIGKILL);
            fail_msg("the paced run wrote only %lld records in 30 s",
                     (long long)before);
        }
        nanosleep(&nap, NULL);
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    before = tt_itest_topic_records(&conf.kafka, topic);
    print_message("killed with %lld of %d records in the topic\n",
                  (long long)before, N_RESUME);
    assert_true(before < N_RESUME);

    /* another input is refused and adds nothing */
    twotime(r, conf.kafka.brokers, "produce --input %s --topic %s --resume",
            other, topic);
    assert_int_equal(r->rc, 1);
    assert_non_null(strstr(r->err, "does not hold a prefix of this input"));

    twotime(r, conf.kafka.brokers, "produce --input %s --topic %s --resume",
            log, topic);
    if (r->rc)
        fail_msg("resume failed (%d): %s", r->rc, r->err);
    assert_int_equal(tt_itest_topic_records(&conf.kafka, topic), N_RESUME);

    /* again: everything is there, nothing is sent */
    twotime(r, conf.kafka.brokers, "produce --input %s --topic %s --resume",
            log, topic);
    assert_int_equal(r->rc, 0);
    assert_non_null(strstr(r->out, "sent:           0\n"));
    assert_int_equal(tt_itest_topic_records(&conf.kafka, topic), N_RESUME);

    /* exactly the input, each event once */
    if (tt_codec_new(&s.codec, err, sizeof(err)))
        fail_msg("%s", err);
    s.cap = 2 * N_RESUME;
    s.ev = calloc(s.cap, sizeof(*s.ev));
    assert_non_null(s.ev);
    assert_int_equal(tt_itest_consume(&conf.kafka, topic, group,
                                      N_RESUME + 1, 3000, collect, &s),
                     N_RESUME);
    assert_int_equal(s.bad, 0);
    assert_int_equal(s.n, N_RESUME);
    qsort(s.ev, s.n, sizeof(*s.ev), cmp_event);
    for (size_t i = 0; i < s.n; i++) {
        assert_int_equal(s.ev[i].item_id, 5000 + (int64_t)i);
        assert_int_equal(s.ev[i].user_id, (int64_t)i % 97);
        assert_int_equal(s.ev[i].ts_ms, 1700000000000LL + (int64_t)i);
        assert_int_equal(s.ev[i].category, (int32_t)(i % 3));
    }
    tt_codec_destroy(s.codec);
    free(s.ev);
    unlink(log);
    unlink(other);
    tt_itest_delete_topic(&conf.kafka, topic);
    tt_conf_release(&conf);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_resume_after_kill),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
