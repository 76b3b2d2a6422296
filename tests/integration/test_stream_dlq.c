/*
 * Bad input and unknown items through `twotime stream` (library, thread).
 *
 * Valid events are interleaved with records that cannot be processed:
 * bytes that are not Avro, an empty value, an unknown schema fingerprint,
 * a negative user id, a negative item id, an absurd timestamp, a truncated
 * event and an event with trailing bytes.  Each bad record goes to the
 * dead-letter topic unchanged, with the reason (tt.error) and its origin
 * (tt.topic, tt.partition, tt.offset) in headers, and is counted; the
 * partitions keep flowing: every valid event gets exactly one output equal
 * to the offline reference.  Events whose item the model does not know are
 * counted in the user's history and count but take no GRU step.
 *
 * Needs TT_TEST_BROKERS (tt_itest.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>

#include "producers/tt_ukey.h"
#include "schemas/tt_schema.h"
#include "tests/integration/test_stream_common.h"

#define N 3000
#define USERS 120
#define N_BAD 8
#define EVERY (N / N_BAD)

static struct tt_event evs[N];
static struct sit_expect expect[N];

/* One bad record: its bytes and the error code its reason must name. */
struct bad {
    uint8_t buf[64];
    size_t len;
    bool null;
    const char *code;
};

static size_t put_long(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;

    while (z >= 0x80) {
        p[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z;
    return n;
}

/* An Interaction message written by hand (so that it may be invalid). */
static size_t hand_event(uint8_t *p, uint64_t fp, int64_t user, int64_t item,
                         int64_t ts)
{
    size_t n = 0;

    p[n++] = 0xC3;
    p[n++] = 0x01;
    for (int i = 0; i < 8; i++)
        p[n++] = (uint8_t)(fp >> (8 * i));
    n += put_long(p + n, user);
    n += put_long(p + n, item);
    n += put_long(p + n, ts);
    n += put_long(p + n, 0); /* category: null */
    return n;
}

static void make_bad(struct bad *b)
{
    const uint64_t fp = TT_SCHEMA_FP_INTERACTION;
    const int64_t ts = SIT_TS0 - 1; /* not on the SIT_TS_STEP grid */

    memset(b, 0, N_BAD * sizeof(*b));
    memcpy(b[0].buf, "this is not avro", 16);
    b[0].len = 16;
    b[0].code = "TT_ERR_PARSE";
    b[1].null = true;
    b[1].code = "TT_ERR_PARSE";
    b[2].len = hand_event(b[2].buf, fp ^ 0x5555, 1, 1, ts);
    b[2].code = "TT_ERR_VERSION";
    b[3].len = hand_event(b[3].buf, fp, -7, 1, ts);
    b[3].code = "TT_ERR_RANGE";
    b[4].len = hand_event(b[4].buf, fp, 7, -1, ts);
    b[4].code = "TT_ERR_RANGE";
    b[5].len = hand_event(b[5].buf, fp, 7, 1, INT64_C(32503680000000));
    b[5].code = "TT_ERR_RANGE";
    b[6].len = hand_event(b[6].buf, fp, 7, 1, ts) - 3;
    b[6].code = "TT_ERR_PARSE";
    b[7].len = hand_event(b[7].buf, fp, 7, 1, ts);
    b[7].buf[b[7].len++] = 0x42;
    b[7].code = "TT_ERR_PARSE";
}

/* Produces the valid events with a bad record after every EVERY of them,
 * keyed like tt_eventprod does, in order. */
static void produce_mixed(const struct sit *t, const struct bad *bad)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    tt_codec_t *codec;
    char err[256];
    size_t k = 0;

    assert_int_equal(tt_senc_new(&codec, NULL, 0), TT_ERR_OK);
    rd_kafka_conf_set(conf, "bootstrap.servers", t->conf.kafka.brokers, err,
                      sizeof(err));
    rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err,
                      sizeof(err));
    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err));
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(rk);
    for (size_t i = 0; i < N; i++) {
        uint8_t key[TT_UKEY_LEN], buf[64];
        size_t len;

        tt_ukey_encode(evs[i].user_id, key);
        assert_int_equal(tt_senc_encode_event(codec, &evs[i], buf,
                                               sizeof(buf), &len, NULL, 0),
                         TT_ERR_OK);
        assert_int_equal(
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(t->in),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_KEY(key, sizeof(key)),
                              RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_END),
            0);
        if ((i + 1) % EVERY == 0 && k < N_BAD) {
            tt_ukey_encode((int64_t)k, key);
            assert_int_equal(
                rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(t->in),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_KEY(key, sizeof(key)),
                    RD_KAFKA_V_VALUE(bad[k].null ? NULL : (void *)bad[k].buf,
                                     bad[k].null ? 0 : bad[k].len),
                    RD_KAFKA_V_END),
                0);
            k++;
        }
    }
    assert_int_equal(k, N_BAD);
    assert_int_equal(rd_kafka_flush(rk, 30000), 0);
    rd_kafka_destroy(rk);
    tt_senc_destroy(codec);
}

struct dlq_seen {
    const struct sit_input *in;
    const struct bad *bad;
    const char *topic;
    size_t n;
    bool matched[N_BAD];
    size_t problems;
};

static const char *header(const rd_kafka_message_t *m, const char *name,
                          char *buf, size_t cap)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len;

    if (rd_kafka_message_headers(m, &h) ||
        rd_kafka_header_get_last(h, name, &v, &len) || len + 1 > cap)
        return "";
    memcpy(buf, v, len);
    buf[len] = '\0';
    return buf;
}

static void dlq_cb(void *arg, const rd_kafka_message_t *m)
{
    struct dlq_seen *d = arg;
    char e[300], tp[200], ps[32], os[32];
    const char *reason = header(m, "tt.error", e, sizeof(e));
    long long part = strtoll(header(m, "tt.partition", ps, sizeof(ps)), NULL,
                             10);
    long long off = strtoll(header(m, "tt.offset", os, sizeof(os)), NULL, 10);
    size_t j;

    d->n++;
    /* Find the bad record this one came from: its input position. */
    for (j = 0; j < d->in->n_bad; j++)
        if (d->in->bad_part[j] == part && d->in->bad_off[j] == off)
            break;
    if (j == d->in->n_bad ||
        strcmp(header(m, "tt.topic", tp, sizeof(tp)), d->topic) != 0) {
        fprintf(stderr, "dead letter from nowhere: %lld@%lld\n", part, off);
        d->problems++;
        return;
    }
    /* Which of ours: by content (the input keeps our order per key). */
    for (size_t k = 0; k < N_BAD; k++) {
        const struct bad *b = &d->bad[k];
        bool same = b->null ? m->payload == NULL
                            : m->len == b->len &&
                                  !memcmp(m->payload, b->buf, b->len);

        if (!same || d->matched[k])
            continue;
        d->matched[k] = true;
        if (strncmp(reason, b->code, strlen(b->code)) != 0) {
            fprintf(stderr, "bad record %zu: reason \"%s\", want %s\n", k,
                    reason, b->code);
            d->problems++;
        }
        return;
    }
    fprintf(stderr, "dead letter with unknown content\n");
    d->problems++;
}

static void dead_letters_and_unknown_items(void **st)
{
    struct sit t;
    struct sit_runner r;
    struct sit_input in;
    struct sit_output o;
    struct dlq_seen d;
    static struct bad bad[N_BAD];
    tt_model_t *m;
    tt_metrics_t *mx;
    size_t n_unknown = 0, no_step = 0;
    int64_t last_of[USERS];

    (void)st;
    sit_init(&t, "sd", true);
    sit_events(evs, N, USERS, 31);
    for (size_t i = 0; i < N; i++)
        n_unknown += evs[i].item_id >= SIT_ITEMS;
    make_bad(bad);
    produce_mixed(&t, bad);
    sit_start(&r, &t, 1, "a");
    assert_int_equal(sit_wait_committed(&t, N + N_BAD, 90), N + N_BAD);
    sit_stop(&r);
    mx = tt_stream_metrics(r.s);
    assert_int_equal(tt_metrics_get(mx, TT_M_EVENTS), N + N_BAD);
    assert_int_equal(tt_metrics_get(mx, TT_M_DEAD_LETTERS), N_BAD);
    assert_int_equal(tt_metrics_get(mx, TT_M_APPLIED), N);
    assert_int_equal(tt_metrics_get(mx, TT_M_UNKNOWN_ITEMS), n_unknown);
    assert_true(n_unknown > 0);
    tt_stream_destroy(r.s);

    /* Every valid event: one output, equal to the reference. */
    sit_read_input(&in, &t, N, N_BAD);
    m = sit_model(1);
    sit_reference(&m, NULL, evs, &in, expect);
    sit_read_output(&o, &t, &in);
    sit_assert_exactly_once(&o, evs, expect);

    /* An unknown item moved nobody: where the user's previous event was
     * in the same cell and window, the output did not change. */
    for (int u = 0; u < USERS; u++)
        last_of[u] = -1;
    for (size_t i = 0; i < N; i++) {
        int64_t u = evs[i].user_id, prev = last_of[u];

        if (evs[i].item_id >= SIT_ITEMS && prev >= 0 &&
            o.got[prev].active == o.got[i].active &&
            o.got[i].count % (SIT_HMAX / 2) != 1 &&
            o.got[i].count != SIT_TSTAR + 1)
            no_step +=
                memcmp(o.got[prev].q, o.got[i].q, sizeof(o.got[i].q)) == 0;
        last_of[u] = (int64_t)i;
    }
    assert_true(no_step > 0);

    /* Every bad record, once, unchanged, with its reason and origin. */
    memset(&d, 0, sizeof(d));
    d.in = &in;
    d.bad = bad;
    d.topic = t.in;
    assert_int_equal(sit_read_topic(&t, t.dlq, dlq_cb, &d), N_BAD);
    assert_int_equal(d.n, N_BAD);
    assert_int_equal(d.problems, 0);
    for (size_t k = 0; k < N_BAD; k++)
        assert_true(d.matched[k]);

    sit_output_release(&o);
    sit_input_release(&in);
    tt_model_destroy(m);
    sit_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dead_letters_and_unknown_items),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
