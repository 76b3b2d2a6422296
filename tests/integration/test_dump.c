/*
 * `twotime dump` (TT_BINARY) against a real broker: N events produced to a
 * 3-partition topic are dumped to Avro and to CSV, read back with the
 * container reader and the text reader, and compared exactly with the
 * input in merge order (event time, ties by partition); the Avro dump,
 * produced again with `twotime produce`, dumps to the same CSV bytes.
 * Records that do not decode are counted (and fail --strict, leaving no
 * file); --from-time/--to-time split a topic produced in two batches
 * exactly at the time between them; offset ranges give the records they
 * name; an empty range is an empty, valid file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/tt_time.h"
#include "model/tt_reader.h"
#include "producers/tt_ukey.h"
#include "schemas/tt_container.h"
#include "tests/integration/tt_itest.h"

#define N_EVENTS 3000
#define PARTS 3
#define MAX_READ 20000

struct run {
    int rc;
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

/* Runs `twotime ARGS --set kafka.brokers=...`, output captured. */
static void twotime(struct run *r, const char *brokers, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void twotime(struct run *r, const char *brokers, const char *fmt, ...)
{
    const char *bin = getenv("TT_BINARY");
    char args[2048], cmd[4096], out[64], err[64];
    va_list ap;
    int st;

    if (!bin || !*bin)
        fail_msg("TT_BINARY is not set (ctest sets it to the twotime "
                 "program)");
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(out, sizeof(out), "/tmp/tt-dump-out-%ld", (long)getpid());
    snprintf(err, sizeof(err), "/tmp/tt-dump-err-%ld", (long)getpid());
    snprintf(cmd, sizeof(cmd), "'%s' %s --set kafka.brokers=%s >%s 2>%s",
             bin, args, brokers, out, err);
    st = system(cmd);
    assert_true(st != -1 && WIFEXITED(st));
    r->rc = WEXITSTATUS(st);
    slurp(out, r->out, sizeof(r->out));
    slurp(err, r->err, sizeof(r->err));
}

/* Distinct events; every third shares the previous one's time, and some
 * have no category. */
static void make_events(struct tt_event *ev, size_t n, int64_t base)
{
    for (size_t i = 0; i < n; i++) {
        ev[i].user_id = (int64_t)(i * 7919 % 211);
        ev[i].item_id = (int64_t)(10000 + i);
        ev[i].ts_ms = base + (int64_t)(i / 3) * 10;
        ev[i].category = i % 5 == 0 ? TT_EVENT_NO_CATEGORY : (int32_t)(i % 4);
    }
}

/* What the dump writes: the events by (time, partition), each partition
 * in produce order (a stable insertion sort; n is small). */
static void merge_order(struct tt_event *ev, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct tt_event x = ev[i];
        int32_t px = tt_ukey_user_partition(x.user_id, PARTS);
        size_t j = i;

        while (j > 0) {
            const struct tt_event *y = &ev[j - 1];
            int32_t py = tt_ukey_user_partition(y->user_id, PARTS);

            if (y->ts_ms < x.ts_ms || (y->ts_ms == x.ts_ms && py <= px))
                break;
            ev[j] = ev[j - 1];
            j--;
        }
        ev[j] = x;
    }
}

static size_t read_avro(const char *path, struct tt_event *out, size_t max)
{
    tt_container_reader_t *r;
    char err[512];
    size_t n = 0;
    bool end = false;

    if (tt_container_reader_new(&r, path, err, sizeof(err)))
        fail_msg("%s: %s", path, err);
    for (;;) {
        assert_true(n < max);
        if (tt_container_reader_next(r, &out[n], &end, err, sizeof(err)))
            fail_msg("%s: %s", path, err);
        if (end)
            break;
        n++;
    }
    assert_int_equal(tt_container_reader_count(r), n);
    tt_container_reader_destroy(r);
    return n;
}

static size_t read_csv(const char *path, struct tt_event *out, size_t max)
{
    tt_reader_t *r;
    char err[512];
    size_t n = 0;
    tt_err_t rc;

    if (tt_reader_open(&r, path, TT_FORMAT_CSV, false, err, sizeof(err)))
        fail_msg("%s: %s", path, err);
    while ((rc = tt_reader_next(r, &out[n], err, sizeof(err))) == TT_ERR_OK)
        assert_true(++n < max);
    if (rc != TT_ERR_NOTFOUND)
        fail_msg("%s: %s", path, err);
    tt_reader_close(r);
    return n;
}

static void same_events(const struct tt_event *want, size_t n_want,
                        const struct tt_event *got, size_t n_got)
{
    assert_int_equal(n_got, n_want);
    for (size_t i = 0; i < n_want; i++)
        if (memcmp(&want[i], &got[i], sizeof(want[i])) != 0)
            fail_msg("event %zu: want %" PRId64 "/%" PRId64 "/%" PRId64
                     "/%d, got %" PRId64 "/%" PRId64 "/%" PRId64 "/%d",
                     i, want[i].user_id, want[i].item_id, want[i].ts_ms,
                     want[i].category, got[i].user_id, got[i].item_id,
                     got[i].ts_ms, got[i].category);
}

static char *file_bytes(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

static void test_dump_round_trip(void **state)
{
    struct tt_conf conf;
    char topic[TT_ITEST_NAME_MAX], topic2[TT_ITEST_NAME_MAX];
    char avro[96], csv[96], csv2[96];
    struct tt_event *ev = calloc(N_EVENTS, sizeof(*ev));
    struct tt_event *got = calloc(MAX_READ, sizeof(*got));
    struct run *r = calloc(1, sizeof(*r));
    char *a, *b;
    size_t n;

    (void)state;
    assert_non_null(ev);
    assert_non_null(got);
    assert_non_null(r);
    tt_itest_conf(&conf);
    tt_itest_name(topic, sizeof(topic), "tt-dump");
    tt_itest_name(topic2, sizeof(topic2), "tt-dump2");
    tt_itest_create_topic(&conf.kafka, topic, PARTS);
    make_events(ev, N_EVENTS, 1700000000000LL);
    tt_itest_produce(&conf.kafka, topic, ev, N_EVENTS);
    merge_order(ev, N_EVENTS);

    snprintf(avro, sizeof(avro), "/tmp/tt-dump-%ld.avro", (long)getpid());
    snprintf(csv, sizeof(csv), "/tmp/tt-dump-%ld.csv", (long)getpid());
    snprintf(csv2, sizeof(csv2), "/tmp/tt-dump-%ld-2.csv", (long)getpid());
    twotime(r, conf.kafka.brokers, "dump --topic %s --out %s", topic, avro);
    if (r->rc)
        fail_msg("dump failed (%d): %s", r->rc, r->err);
    assert_non_null(strstr(r->out, "3000 written, 0 undecodable"));
    n = read_avro(avro, got, MAX_READ);
    same_events(ev, N_EVENTS, got, n);

    twotime(r, conf.kafka.brokers, "dump --topic %s --out %s --format csv",
            topic, csv);
    assert_int_equal(r->rc, 0);
    n = read_csv(csv, got, MAX_READ);
    same_events(ev, N_EVENTS, got, n);

    /* the Avro dump is an input of produce: the copy dumps identically */
    twotime(r, conf.kafka.brokers,
            "produce --input %s --topic %s --create-partitions %d -q", avro,
            topic2, PARTS);
    if (r->rc)
        fail_msg("produce from avro failed (%d): %s", r->rc, r->err);
    assert_non_null(strstr(r->out, "(avro)"));
    twotime(r, conf.kafka.brokers, "dump --topic %s --out %s --format csv",
            topic2, csv2);
    assert_int_equal(r->rc, 0);
    a = file_bytes(csv);
    b = file_bytes(csv2);
    assert_string_equal(a, b);
    free(a);
    free(b);

    /* no .tmp left behind */
    a = calloc(1, 128);
    snprintf(a, 128, "%s.tmp", avro);
    assert_int_equal(access(a, F_OK), -1);
    free(a);
    unlink(avro);
    unlink(csv);
    unlink(csv2);
    tt_itest_delete_topic(&conf.kafka, topic);
    tt_itest_delete_topic(&conf.kafka, topic2);
    tt_conf_release(&conf);
    free(ev);
    free(got);
    free(r);
}

static void produce_garbage(const struct tt_conf_kafka *kc, const char *topic)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    static const char junk[] = "not an avro record";
    rd_kafka_t *rk;
    char errstr[512];

    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers",
                                       kc->brokers, errstr, sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(rk);
    assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                       RD_KAFKA_V_PARTITION(1),
                                       RD_KAFKA_V_VALUE((void *)junk,
                                                        sizeof(junk) - 1),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                       RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
}

static void test_dump_undecodable(void **state)
{
    struct tt_conf conf;
    char topic[TT_ITEST_NAME_MAX], out[96];
    struct tt_event ev[100];
    struct tt_event *got = calloc(MAX_READ, sizeof(*got));
    struct run *r = calloc(1, sizeof(*r));

    (void)state;
    assert_non_null(got);
    assert_non_null(r);
    tt_itest_conf(&conf);
    tt_itest_name(topic, sizeof(topic), "tt-dump-bad");
    tt_itest_create_topic(&conf.kafka, topic, PARTS);
    make_events(ev, 100, 1700000000000LL);
    tt_itest_produce(&conf.kafka, topic, ev, 50);
    produce_garbage(&conf.kafka, topic);
    tt_itest_produce(&conf.kafka, topic, ev + 50, 50);
    snprintf(out, sizeof(out), "/tmp/tt-dump-bad-%ld.avro", (long)getpid());

    twotime(r, conf.kafka.brokers, "dump --topic %s --out %s", topic, out);
    assert_int_equal(r->rc, 0);
    assert_non_null(strstr(r->out, "101 read"));
    assert_non_null(strstr(r->out, "100 written, 1 undecodable"));
    assert_non_null(strstr(r->err, "skipped"));
    assert_int_equal(read_avro(out, got, MAX_READ), 100);
    unlink(out);

    twotime(r, conf.kafka.brokers, "dump --topic %s --out %s --strict",
            topic, out);
    assert_int_equal(r->rc, 1);
    assert_non_null(strstr(r->err, "does not decode (--strict)"));
    assert_int_equal(access(out, F_OK), -1);
    tt_itest_delete_topic(&conf.kafka, topic);
    tt_conf_release(&conf);
    free(got);
    free(r);
}

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void test_dump_ranges(void **state)
{
    struct tt_conf conf;
    char topic[TT_ITEST_NAME_MAX], out[96];
    struct tt_event *ev = calloc(1200, sizeof(*ev));
    struct tt_event *got = calloc(MAX_READ, sizeof(*got));
    struct run *r = calloc(1, sizeof(*r));
    int64_t split, per_part[PARTS] = {0}, want = 0;
    size_t n;

    (void)state;
    assert_non_null(ev);
    assert_non_null(got);
    assert_non_null(r);
    tt_itest_conf(&conf);
    tt_itest_name(topic, sizeof(topic), "tt-dump-time");
    tt_itest_create_topic(&conf.kafka, topic, PARTS);
    make_events(ev, 1200, 1600000000000LL);
    /* batch A, then the split time, then batch B: record timestamps are
     * the producer's clock */
    tt_itest_produce(&conf.kafka, topic, ev, 500);
    nap_ms(30);
    split = tt_time_wall_ms();
    nap_ms(30);
    tt_itest_produce(&conf.kafka, topic, ev + 500, 700);
    snprintf(out, sizeof(out), "/tmp/tt-dump-time-%ld.avro", (long)getpid());

    twotime(r, conf.kafka.brokers, "dump --topic %s --out %s --from-time "
                                   "%" PRId64,
            topic, out, split);
    assert_int_equal(r->rc, 0);
    n = read_avro(out, got, MAX_READ);
    merge_order(ev + 500, 700);
    same_events(ev + 500, 700, got, n);

    twotime(r, conf.kafka.brokers, "dump --topic %s --out %s --to-time "
                                   "%" PRId64,
            topic, out, split);
    assert_int_equal(r->rc, 0);
    n = read_avro(out, got, MAX_READ);
    merge_order(ev, 500);
    same_events(ev, 500, got, n);

    /* offsets [10, 20) of every partition */
    for (size_t i = 0; i < 1200; i++)
        per_part[tt_ukey_user_partition(ev[i].user_id, PARTS)]++;
    for (int p = 0; p < PARTS; p++)
        want += per_part[p] >= 20 ? 10 : per_part[p] > 10 ? per_part[p] - 10
                                                          : 0;
    twotime(r, conf.kafka.brokers,
            "dump --topic %s --out %s --from-offset 10 --to-offset 20", topic,
            out);
    assert_int_equal(r->rc, 0);
    assert_int_equal(read_avro(out, got, MAX_READ), (size_t)want);

    /* nothing in range: an empty, valid file */
    twotime(r, conf.kafka.brokers,
            "dump --topic %s --out %s --from-offset 1000000", topic, out);
    assert_int_equal(r->rc, 0);
    assert_int_equal(read_avro(out, got, MAX_READ), 0);

    /* usage errors */
    twotime(r, conf.kafka.brokers,
            "dump --topic %s --out %s --from-offset 1 --from-time 2", topic,
            out);
    assert_int_equal(r->rc, 2);
    twotime(r, conf.kafka.brokers, "dump --topic %s-missing --out %s", topic,
            out);
    assert_int_equal(r->rc, 1);
    unlink(out);
    tt_itest_delete_topic(&conf.kafka, topic);
    tt_conf_release(&conf);
    free(ev);
    free(got);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dump_round_trip),
        cmocka_unit_test(test_dump_undecodable),
        cmocka_unit_test(test_dump_ranges),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
