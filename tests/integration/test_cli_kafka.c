/*
 * The `twotime produce` and `twotime consume` programs (TT_BINARY) against
 * a real broker: a log with a malformed line is refused, or produced with
 * --skip-bad; consume prints every event back (csv and json), reports
 * undecodable records on stderr without stopping, decodes UserEmbedding
 * records exactly with --embeddings, and with --group continues where it
 * left off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "producers/tt_ukey.h"
#include "schemas/tt_codec.h"
#include "tests/integration/tt_itest.h"

#define N_GOOD 200
#define OUT_MAX (1 << 20)

struct run {
    int rc;
    char out[OUT_MAX];
    char err[OUT_MAX / 4];
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

/* Runs `twotime ARGS` with stdout and stderr captured. */
static void twotime(struct run *r, const char *args)
{
    const char *bin = getenv("TT_BINARY");
    char cmd[4096], out[64], err[64];
    int st;

    if (!bin || !*bin)
        fail_msg("TT_BINARY is not set (ctest sets it to the twotime "
                 "program)");
    snprintf(out, sizeof(out), "/tmp/tt-cli-out-%ld", (long)getpid());
    snprintf(err, sizeof(err), "/tmp/tt-cli-err-%ld", (long)getpid());
    snprintf(cmd, sizeof(cmd), "'%s' %s >%s 2>%s", bin, args, out, err);
    st = system(cmd);
    assert_true(st != -1 && WIFEXITED(st));
    r->rc = WEXITSTATUS(st);
    slurp(out, r->out, sizeof(r->out));
    slurp(err, r->err, sizeof(r->err));
}

static int count_lines(const char *s)
{
    int n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* A csv log of N_GOOD events and, at line 3, one malformed line. */
static void write_log(const char *path)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fprintf(f, "user_id,item_id,timestamp,category\n");
    for (int i = 0; i < N_GOOD; i++) {
        if (i == 1)
            fprintf(f, "12,not-an-item,1700000000000,1\n");
        fprintf(f, "%d,%d,%lld,%d\n", i % 17, 1000 + i,
                1700000000000LL + i, i % 3);
    }
    fclose(f);
}

static void produce_raw(const struct tt_conf_kafka *kc, const char *topic,
                        const void *key, size_t key_len, const void *val,
                        size_t len)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_vu_t vus[4];
    rd_kafka_t *rk;
    char errstr[512];

    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers",
                                       kc->brokers, errstr, sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(rk);
    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[0].u.cstr = topic;
    vus[1].vtype = RD_KAFKA_VTYPE_KEY;
    vus[1].u.mem.ptr = (void *)key;
    vus[1].u.mem.size = key_len;
    vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[2].u.mem.ptr = (void *)val;
    vus[2].u.mem.size = len;
    vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[3].u.i = RD_KAFKA_MSG_F_COPY;
    assert_null(rd_kafka_produceva(rk, vus, 4));
    assert_int_equal(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
}

static void test_produce_consume_cli(void **state)
{
    struct tt_conf conf;
    struct run *r = malloc(sizeof(*r));
    char topic[TT_ITEST_NAME_MAX], group[TT_ITEST_NAME_MAX];
    char log[64], args[1024];
    const char *brokers;

    (void)state;
    assert_non_null(r);
    tt_itest_conf(&conf);
    brokers = conf.kafka.brokers;
    tt_itest_name(topic, sizeof(topic), "tt-cli");
    tt_itest_name(group, sizeof(group), "tt-cli-group");
    snprintf(log, sizeof(log), "/tmp/tt-cli-log-%ld.csv", (long)getpid());
    write_log(log);

    /* the malformed line stops a strict run, naming file and line */
    snprintf(args, sizeof(args),
             "produce --input %s --topic %s --create-partitions 3 "
             "--set kafka.brokers=%s",
             log, topic, brokers);
    twotime(r, args);
    assert_int_equal(r->rc, 1);
    assert_non_null(strstr(r->err, ":3:"));

    /* --skip-bad: the 200 good events, in file order (a second run
     * appends: the topic now holds what the strict run sent before the
     * bad line, one event) */
    snprintf(args, sizeof(args),
             "produce --input %s --topic %s --create-partitions 3 "
             "--skip-bad --set kafka.brokers=%s",
             log, topic, brokers);
    twotime(r, args);
    if (r->rc)
        fail_msg("produce failed: %s", r->err);
    assert_non_null(strstr(r->out, "events read:    200\n"));
    assert_non_null(strstr(r->out, "bad lines:      1 skipped\n"));
    assert_non_null(strstr(r->out, "delivered:      200 "));
    assert_non_null(strstr(r->out, "(3 partitions)"));

    /* csv back, with a committing group */
    snprintf(args, sizeof(args),
             "consume --topic %s --group %s --from-beginning --max 150 "
             "--timeout-ms 10000 --set kafka.brokers=%s",
             topic, group, brokers);
    twotime(r, args);
    if (r->rc)
        fail_msg("consume failed: %s", r->err);
    assert_int_equal(count_lines(r->out), 1 + 150);
    assert_true(!strncmp(r->out, "partition,offset,user_id,item_id,",
                         strlen("partition,offset,user_id,item_id,")));
    /* the same group continues after the 150 it committed (and waits
     * for more: only the idle timeout ends this run) */
    snprintf(args, sizeof(args),
             "consume --topic %s --group %s --from-beginning "
             "--timeout-ms 3000 --format json --set kafka.brokers=%s",
             topic, group, brokers);
    twotime(r, args);
    if (r->rc)
        fail_msg("consume failed: %s", r->err);
    assert_int_equal(count_lines(r->out), 201 - 150);
    assert_non_null(strstr(r->out, "{\"partition\":"));
    assert_non_null(strstr(r->out, "\"category\":"));

    /* a record that is not an event is reported, the rest still printed */
    {
        uint8_t key[TT_UKEY_LEN];
        static const char junk[] = "not avro at all";

        tt_ukey_encode(5, key);
        produce_raw(&conf.kafka, topic, key, sizeof(key), junk,
                    sizeof(junk));
    }
    snprintf(args, sizeof(args),
             "consume --topic %s --from-beginning --max 202 "
             "--timeout-ms 10000 --set kafka.brokers=%s",
             topic, brokers);
    twotime(r, args);
    if (r->rc)
        fail_msg("consume failed: %s", r->err);
    assert_int_equal(count_lines(r->out), 1 + 201);
    assert_non_null(strstr(r->err, "201 records"));
    assert_non_null(strstr(r->err, "1 undecodable"));
    assert_non_null(strstr(r->err, "0 with a key that is not the user's"));

    unlink(log);
    tt_itest_delete_topic(&conf.kafka, topic);
    tt_conf_release(&conf);
    free(r);
}

static void test_consume_embeddings(void **state)
{
    static const float emb[4] = {0.1f, -2.5f, 3.14159274f, 1e-7f};
    struct tt_conf conf;
    struct run *r = malloc(sizeof(*r));
    struct tt_embedding_rec rec;
    tt_codec_t *codec;
    uint8_t buf[TT_CODEC_EMBEDDING_MAX(4)], key[TT_UKEY_LEN];
    char topic[TT_ITEST_NAME_MAX], args[1024], errstr[256];
    size_t len;

    (void)state;
    assert_non_null(r);
    tt_itest_conf(&conf);
    tt_itest_name(topic, sizeof(topic), "tt-cli-emb");
    tt_itest_create_topic(&conf.kafka, topic, 2);
    assert_int_equal(tt_codec_new(&codec, errstr, sizeof(errstr)), TT_ERR_OK);
    memset(&rec, 0, sizeof(rec));
    rec.user_id = 123456789012LL;
    rec.emb = emb;
    rec.dim = 4;
    rec.model_version = 7;
    rec.cell = TT_EMB_INACTIVE;
    rec.interaction_count = 42;
    rec.event_time = 1700000000123LL;
    rec.input_partition = 3;
    rec.input_offset = 99;
    assert_int_equal(tt_codec_encode_embedding(codec, &rec, buf, sizeof(buf),
                                               &len, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    tt_codec_destroy(codec);
    tt_ukey_encode(rec.user_id, key);
    produce_raw(&conf.kafka, topic, key, sizeof(key), buf, len);

    snprintf(args, sizeof(args),
             "consume --embeddings --topic %s --from-beginning --max 1 "
             "--timeout-ms 10000 --set kafka.brokers=%s",
             topic, conf.kafka.brokers);
    twotime(r, args);
    if (r->rc)
        fail_msg("consume failed: %s", r->err);
    /* %.9g round-trips binary32 */
    assert_non_null(strstr(r->out, ",123456789012,7,INACTIVE,42,"
                                   "1700000000123,3,99,4,"
                                   "0.100000001 -2.5 3.14159274 "
                                   "1.00000001e-07\n"));
    snprintf(args, sizeof(args),
             "consume --embeddings --topic %s --from-beginning --max 1 "
             "--timeout-ms 10000 --format json --set kafka.brokers=%s",
             topic, conf.kafka.brokers);
    twotime(r, args);
    if (r->rc)
        fail_msg("consume failed: %s", r->err);
    assert_non_null(strstr(r->out, "\"cell\":\"INACTIVE\""));
    assert_non_null(strstr(r->out, "\"embedding\":[0.100000001,-2.5,"
                                   "3.14159274,1.00000001e-07]}"));
    tt_itest_delete_topic(&conf.kafka, topic);
    tt_conf_release(&conf);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_produce_consume_cli),
        cmocka_unit_test(test_consume_embeddings),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
