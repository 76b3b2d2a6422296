/*
 * Unit tests of schemas/tt_codec against hostile input, on both codecs (the
 * hand-written one and Avro C's): every truncation and trailing bytes, bad
 * headers, a newer writer's schema, malformed bodies and model records,
 * values the encoder must refuse, and random mutations on which both
 * codecs must agree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"
#include "schemas/tt_codec.h"
#include "schemas/tt_schema.h"
#include "tests/unit/codec_fixture.h"

/* ---- hostile input ---- */

static tt_err_t dec_event(tt_codec_t *c, const uint8_t *b, size_t n,
                          char *errstr, size_t es)
{
    struct tt_event ev;

    return tt_codec_decode_event(c, b, n, &ev, errstr, es);
}

static tt_err_t dec_emb(tt_codec_t *c, const uint8_t *b, size_t n,
                        char *errstr, size_t es)
{
    static float emb[TT_CODEC_MAX_DIM];
    struct tt_embedding_rec r;

    return tt_codec_decode_embedding(c, b, n, &r, emb, TT_CODEC_MAX_DIM,
                                     errstr, es);
}

static tt_err_t dec_mrec(tt_codec_t *c, const uint8_t *b, size_t n,
                         char *errstr, size_t es)
{
    struct tt_modelrec r;

    return tt_codec_decode_modelrec(c, b, n, &r, errstr, es);
}

typedef tt_err_t (*decode_fn)(tt_codec_t *, const uint8_t *, size_t, char *,
                              size_t);

/* Every prefix and one byte too many must fail, with a message, on both
 * codecs; the prefixes go through a heap copy of exactly their length so
 * that ASan sees any read past the end. */
static void check_truncations(struct fixture *f, decode_fn dec,
                              const uint8_t *msg, size_t len)
{
    for (int which = 0; which < 2; which++) {
        tt_codec_t *c = which ? f->ref : f->fast;
        uint8_t *copy;

        for (size_t n = 0; n < len; n++) {
            copy = malloc(n + 1);
            assert_non_null(copy);
            memcpy(copy, msg, n);
            f->errstr[0] = '\0';
            assert_int_not_equal(dec(c, copy, n, f->errstr,
                                     sizeof(f->errstr)),
                                 TT_ERR_OK);
            assert_true(f->errstr[0] != '\0');
            free(copy);
        }
        copy = malloc(len + 1);
        assert_non_null(copy);
        memcpy(copy, msg, len);
        copy[len] = 0;
        assert_int_equal(dec(c, copy, len + 1, f->errstr, sizeof(f->errstr)),
                         TT_ERR_PARSE);
        assert_non_null(strstr(f->errstr, "trailing"));
        assert_int_equal(dec(c, copy, len, f->errstr, sizeof(f->errstr)),
                         TT_ERR_OK);
        free(copy);
    }
}

static void test_truncated_and_trailing(void **state)
{
    struct fixture *f = *state;
    static uint8_t payload[3000];
    uint8_t buf[TT_CODEC_MODELREC_MAX(3000)];
    struct tt_modelrec r = {TT_MODELREC_ITEMS, 5, 9, payload, 3000, 0};
    size_t n;

    check_truncations(f, dec_event, golden_event, sizeof(golden_event));
    check_truncations(f, dec_emb, golden_embedding, sizeof(golden_embedding));
    memset(payload, 0xab, sizeof(payload));
    assert_int_equal(tt_codec_encode_modelrec(f->fast, &r, buf, sizeof(buf),
                                              &n, f->errstr,
                                              sizeof(f->errstr)),
                     TT_ERR_OK);
    check_truncations(f, dec_mrec, buf, n);
}

/* A message with the Interaction header and a hand-made body. */
static size_t event_msg(uint8_t *out, const uint8_t *body, size_t n)
{
    memcpy(out, golden_event, 10);
    memcpy(out + 10, body, n);
    return 10 + n;
}

static size_t emb_msg(uint8_t *out, const uint8_t *body, size_t n)
{
    memcpy(out, golden_embedding, 10);
    memcpy(out + 10, body, n);
    return 10 + n;
}

static void expect_both(struct fixture *f, decode_fn dec, const uint8_t *b,
                        size_t n, tt_err_t want, const char *needle)
{
    for (int which = 0; which < 2; which++) {
        f->errstr[0] = '\0';
        assert_int_equal(dec(which ? f->ref : f->fast, b, n, f->errstr,
                             sizeof(f->errstr)),
                         want);
        if (!strstr(f->errstr, needle))
            fail_msg("error \"%s\" lacks \"%s\"", f->errstr, needle);
    }
}

static void test_bad_headers(void **state)
{
    struct fixture *f = *state;
    uint8_t b[64];
    enum tt_schema_id id;

    memcpy(b, golden_event, sizeof(golden_event));
    b[0] = 0x00;
    expect_both(f, dec_event, b, sizeof(golden_event), TT_ERR_PARSE,
                "single-object");
    memcpy(b, golden_event, sizeof(golden_event));
    b[1] = 0x02;
    expect_both(f, dec_event, b, sizeof(golden_event), TT_ERR_PARSE,
                "c3 01");
    memcpy(b, golden_event, sizeof(golden_event));
    b[5] ^= 0x10;
    expect_both(f, dec_event, b, sizeof(golden_event), TT_ERR_VERSION,
                "unknown writer schema fingerprint");
    assert_int_equal(tt_codec_identify(b, sizeof(golden_event), &id,
                                       f->errstr, sizeof(f->errstr)),
                     TT_ERR_VERSION);
    /* An embedding handed to the event decoder and the other way round. */
    expect_both(f, dec_event, golden_embedding, sizeof(golden_embedding),
                TT_ERR_VERSION, "is a io.twotime.UserEmbedding");
    expect_both(f, dec_emb, golden_event, sizeof(golden_event),
                TT_ERR_VERSION, "is a io.twotime.Interaction");
    expect_both(f, dec_mrec, golden_event, sizeof(golden_event),
                TT_ERR_VERSION, "expected io.twotime.ModelRecord");
    assert_int_equal(tt_codec_identify(golden_embedding,
                                       sizeof(golden_embedding), &id,
                                       f->errstr, sizeof(f->errstr)),
                     TT_ERR_OK);
    assert_int_equal(id, TT_SCHEMA_USER_EMBEDDING);
    assert_int_equal(tt_codec_identify(golden_event, 3, &id, f->errstr,
                                       sizeof(f->errstr)),
                     TT_ERR_PARSE);
}

/* Any change to a schema changes its fingerprint, so a v2 writer's records
 * are refused as unknown, not misread, until the reader adds v2 to its table
 * (tt_schema.h).  Here a v2 Interaction with an extra field. */
static void test_v2_writer_refused(void **state)
{
    struct fixture *f = *state;
    static const char v2[] =
        "{\"type\":\"record\",\"name\":\"Interaction\",\"namespace\":"
        "\"io.twotime\",\"fields\":[{\"name\":\"user_id\",\"type\":"
        "\"long\"},{\"name\":\"item_id\",\"type\":\"long\"},"
        "{\"name\":\"event_time\",\"type\":\"long\"},{\"name\":"
        "\"category\",\"type\":[\"null\",\"int\"],\"default\":null},"
        "{\"name\":\"source\",\"type\":\"string\",\"default\":\"\"}]}";
    char pcf[1024];
    uint8_t m[64];
    uint64_t fp;
    size_t n;

    assert_int_equal(tt_schema_canonical(v2, strlen(v2), pcf, sizeof(pcf),
                                         &n, f->errstr, sizeof(f->errstr)),
                     TT_ERR_OK);
    fp = tt_schema_fingerprint(pcf, n);
    assert_true(fp != TT_SCHEMA_FP_INTERACTION);
    memcpy(m, golden_event, sizeof(golden_event));
    for (int i = 0; i < 8; i++)
        m[2 + i] = (uint8_t)(fp >> (8 * i));
    m[sizeof(golden_event)] = 0x04; /* source = "ab" */
    m[sizeof(golden_event) + 1] = 'a';
    m[sizeof(golden_event) + 2] = 'b';
    expect_both(f, dec_event, m, sizeof(golden_event) + 3, TT_ERR_VERSION,
                "unknown writer schema fingerprint");
}

static void test_bad_bodies(void **state)
{
    struct fixture *f = *state;
    uint8_t m[128];
    /* user 1, item 2, ts 3, then a category union branch of 2, -1, 1+(-5) */
    static const uint8_t branch2[] = {0x02, 0x04, 0x06, 0x04, 0x02};
    static const uint8_t branchm1[] = {0x02, 0x04, 0x06, 0x01};
    static const uint8_t negcat[] = {0x02, 0x04, 0x06, 0x02, 0x09};
    static const uint8_t neguser[] = {0x01, 0x04, 0x06, 0x00};
    static const uint8_t negitem[] = {0x02, 0x03, 0x06, 0x00};
    /* ts = 2^47 ms: year ~6400 */
    static const uint8_t farts[] = {0x02, 0x04, 0x80, 0x80, 0x80, 0x80,
                                    0x80, 0x80, 0x40, 0x00};
    static const uint8_t negts[] = {0x02, 0x04, 0x05, 0x00};
    /* an 11-byte varint, and a 10th byte with bits past 64 */
    static const uint8_t overlong[] = {0x02, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                                       0x06, 0x00};
    static const uint8_t bits65[] = {0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0x03, 0x06, 0x00};
    /* category int larger than 32 bits */
    static const uint8_t bigint[] = {0x02, 0x04, 0x06, 0x02,
                                     0xff, 0xff, 0xff, 0xff, 0x7f};
    /* embeddings: length -1, length 2^62, length 2^31, length 6 (not
     * floats); then two zero floats with dim 3, cell 2, model_version -1,
     * input_partition -2, and a valid one */
    static const uint8_t neglen[] = {0x54, 0x01, 0x00};
    static const uint8_t hugelen[] = {0x54, 0x80, 0x80, 0x80, 0x80, 0x80,
                                      0x80, 0x80, 0x80, 0x80, 0x01};
    static const uint8_t len2g[] = {0x54, 0x80, 0x80, 0x80, 0x80, 0x10};
    static const uint8_t len6[] = {0x54, 0x0c, 1, 2, 3, 4, 5, 6,
                                   0x06, 0x00, 0x00, 0x00, 0x00, 0x00,
                                   0x00, 0x00};
    static const uint8_t dimbad[] = {0x54, 0x10, 0, 0, 0, 0, 0, 0, 0, 0,
                                     0x06, 0x00, 0x00, 0x00, 0x00, 0x00,
                                     0x00};
    static const uint8_t cell2[] = {0x54, 0x10, 0, 0, 0, 0, 0, 0, 0, 0,
                                    0x04, 0x00, 0x04, 0x00, 0x00, 0x00,
                                    0x00};
    static const uint8_t negver[] = {0x54, 0x10, 0, 0, 0, 0, 0, 0, 0, 0,
                                     0x04, 0x01, 0x00, 0x00, 0x00, 0x00,
                                     0x00};
    static const uint8_t part2[] = {0x54, 0x10, 0, 0, 0, 0, 0, 0, 0, 0,
                                    0x04, 0x00, 0x00, 0x00, 0x00, 0x03,
                                    0x00};
    static const uint8_t okemb[] = {0x54, 0x10, 0, 0, 0, 0, 0, 0, 0, 0,
                                    0x04, 0x00, 0x00, 0x00, 0x00, 0x01,
                                    0x01};
    static float small[1];
    struct tt_embedding_rec r;

    expect_both(f, dec_event, m, event_msg(m, branch2, sizeof(branch2)),
                TT_ERR_PARSE, "branch 2");
    expect_both(f, dec_event, m, event_msg(m, branchm1, sizeof(branchm1)),
                TT_ERR_PARSE, "branch -1");
    expect_both(f, dec_event, m, event_msg(m, negcat, sizeof(negcat)),
                TT_ERR_RANGE, "negative category");
    expect_both(f, dec_event, m, event_msg(m, neguser, sizeof(neguser)),
                TT_ERR_RANGE, "negative user_id");
    expect_both(f, dec_event, m, event_msg(m, negitem, sizeof(negitem)),
                TT_ERR_RANGE, "negative item_id");
    expect_both(f, dec_event, m, event_msg(m, farts, sizeof(farts)),
                TT_ERR_RANGE, "1970..2200");
    expect_both(f, dec_event, m, event_msg(m, negts, sizeof(negts)),
                TT_ERR_RANGE, "1970..2200");
    expect_both(f, dec_event, m, event_msg(m, overlong, sizeof(overlong)),
                TT_ERR_PARSE, "item_id");
    expect_both(f, dec_event, m, event_msg(m, bits65, sizeof(bits65)),
                TT_ERR_PARSE, "item_id");
    expect_both(f, dec_event, m, event_msg(m, bigint, sizeof(bigint)),
                TT_ERR_PARSE, "category");
    expect_both(f, dec_emb, m, emb_msg(m, neglen, sizeof(neglen)),
                TT_ERR_PARSE, "embedding");
    expect_both(f, dec_emb, m, emb_msg(m, hugelen, sizeof(hugelen)),
                TT_ERR_PARSE, "embedding");
    expect_both(f, dec_emb, m, emb_msg(m, len2g, sizeof(len2g)),
                TT_ERR_PARSE, "embedding");
    expect_both(f, dec_emb, m, emb_msg(m, len6, sizeof(len6)), TT_ERR_PARSE,
                "not 1..16384 floats");
    expect_both(f, dec_emb, m, emb_msg(m, dimbad, sizeof(dimbad)),
                TT_ERR_RANGE, "dim 3 disagrees");
    expect_both(f, dec_emb, m, emb_msg(m, cell2, sizeof(cell2)), TT_ERR_PARSE,
                "cell enum index 2");
    expect_both(f, dec_emb, m, emb_msg(m, negver, sizeof(negver)),
                TT_ERR_RANGE, "negative model_version");
    expect_both(f, dec_emb, m, emb_msg(m, part2, sizeof(part2)),
                TT_ERR_RANGE, "below -1");
    expect_both(f, dec_emb, m, emb_msg(m, okemb, sizeof(okemb)), TT_ERR_OK,
                "");
    /* Two floats do not fit a one-float buffer. */
    assert_int_equal(tt_codec_decode_embedding(
                         f->fast, m, emb_msg(m, okemb, sizeof(okemb)), &r,
                         small, 1, f->errstr, sizeof(f->errstr)),
                     TT_ERR_OVERFLOW);
    /* More than the cap of any embedding message. */
    expect_both(f, dec_emb, m,
                TT_CODEC_EMBEDDING_MAX(TT_CODEC_MAX_DIM) + 1, TT_ERR_PARSE,
                "cap");
}

static void test_bad_modelrec(void **state)
{
    struct fixture *f = *state;
    static const uint8_t payload[] = "twotime";
    struct tt_modelrec r = {TT_MODELREC_DENSE, 2, 1, payload, 7, 0};
    uint8_t buf[TT_CODEC_MODELREC_MAX(7) + 16];
    size_t n;

    assert_int_equal(tt_codec_encode_modelrec(f->fast, &r, buf, sizeof(buf),
                                              &n, f->errstr,
                                              sizeof(f->errstr)),
                     TT_ERR_OK);
    /* Header, kind 0x02, version 0x04, seq 0x02, length 0x0e, payload at
     * byte 14.  Flip a payload bit: the CRC catches it. */
    assert_int_equal(buf[13], 0x0e);
    buf[14] ^= 0x01;
    expect_both(f, dec_mrec, buf, n, TT_ERR_CORRUPT, "CRC-32C");
    buf[14] ^= 0x01;
    expect_both(f, dec_mrec, buf, n, TT_ERR_OK, "");
    /* kind enum index 5 */
    buf[10] = 0x0a;
    expect_both(f, dec_mrec, buf, n, TT_ERR_PARSE, "kind enum index 5");
    buf[10] = 0x02;
    /* seq -1 */
    buf[12] = 0x01;
    expect_both(f, dec_mrec, buf, n, TT_ERR_RANGE, "seq -1");
    buf[12] = 0x02;
    /* payload length -7 */
    buf[13] = 0x0d;
    expect_both(f, dec_mrec, buf, n, TT_ERR_PARSE, "payload");
}

/* The encoders with codec c into buf[0..cap), errors into f->errstr. */
static tt_err_t enc_event(struct fixture *f, tt_codec_t *c,
                          const struct tt_event *e, uint8_t *buf, size_t cap)
{
    size_t n;

    return tt_codec_encode_event(c, e, buf, cap, &n, f->errstr,
                                 sizeof(f->errstr));
}

static tt_err_t enc_emb(struct fixture *f, tt_codec_t *c,
                        const struct tt_embedding_rec *r, uint8_t *buf,
                        size_t cap)
{
    size_t n;

    return tt_codec_encode_embedding(c, r, buf, cap, &n, f->errstr,
                                     sizeof(f->errstr));
}

static tt_err_t enc_mrec(struct fixture *f, tt_codec_t *c,
                         const struct tt_modelrec *m, uint8_t *buf, size_t cap)
{
    size_t n;

    return tt_codec_encode_modelrec(c, m, buf, cap, &n, f->errstr,
                                    sizeof(f->errstr));
}

static void test_encode_rejects(void **state)
{
    struct fixture *f = *state;
    const float emb[2] = {1, 2};
    struct tt_event ev = {1, 2, 3, TT_EVENT_NO_CATEGORY};
    struct tt_embedding_rec r = {.user_id = 1, .emb = emb, .dim = 2,
                                 .event_time = 5, .input_partition = -1,
                                 .input_offset = -1};
    struct tt_modelrec mr = {TT_MODELREC_COMMIT, 0, 0, NULL, 0, 0};
    static uint8_t buf[TT_CODEC_MODELREC_MAX(TT_MODELREC_MAX_PAYLOAD) + 1];

    for (int which = 0; which < 2; which++) {
        tt_codec_t *c = which ? f->ref : f->fast;
        struct tt_event e = ev;
        struct tt_embedding_rec er = r;
        struct tt_modelrec m = mr;

        assert_int_equal(enc_event(f, c, &e, buf, TT_CODEC_EVENT_MAX - 1),
                         TT_ERR_OVERFLOW);
        e.ts_ms = INT64_C(1700000000); /* seconds, not ms: 1970-01-20 ok */
        assert_int_equal(enc_event(f, c, &e, buf, sizeof(buf)), TT_ERR_OK);
        e.ts_ms = INT64_C(1700000000000000); /* microseconds */
        assert_int_equal(enc_event(f, c, &e, buf, sizeof(buf)), TT_ERR_RANGE);
        e = ev;
        e.user_id = -5;
        assert_int_equal(enc_event(f, c, &e, buf, sizeof(buf)), TT_ERR_RANGE);
        assert_non_null(strstr(f->errstr, "user_id -5"));
        e = ev;
        e.category = -2;
        assert_int_equal(enc_event(f, c, &e, buf, sizeof(buf)), TT_ERR_RANGE);
        assert_int_equal(enc_emb(f, c, &er, buf,
                                 TT_CODEC_EMBEDDING_MAX(2) - 1),
                         TT_ERR_OVERFLOW);
        er.dim = 0;
        assert_int_equal(enc_emb(f, c, &er, buf, sizeof(buf)), TT_ERR_RANGE);
        er = r;
        er.cell = 2;
        assert_int_equal(enc_emb(f, c, &er, buf, sizeof(buf)), TT_ERR_RANGE);
        er = r;
        er.emb = NULL;
        assert_int_equal(enc_emb(f, c, &er, buf, sizeof(buf)), TT_ERR_INVAL);
        m.payload_len = TT_MODELREC_MAX_PAYLOAD + 1;
        m.payload = buf;
        assert_int_equal(enc_mrec(f, c, &m, buf, sizeof(buf)), TT_ERR_RANGE);
        m = mr;
        m.kind = TT_MODELREC__KINDS;
        assert_int_equal(enc_mrec(f, c, &m, buf, sizeof(buf)), TT_ERR_RANGE);
    }
}

/* Random mutations of valid messages: never a crash, and whatever the fast
 * decoder accepts the reference (Avro C) decoder accepts with equal values. */
static void test_mutations_agree(void **state)
{
    struct fixture *f = *state;
    static float e1[300], e2[300], src[300];
    uint8_t msg[TT_CODEC_EMBEDDING_MAX(300)];
    struct tt_embedding_rec r, o1, o2;
    struct tt_event ev, v1, v2;
    struct tt_rng rng;
    size_t n;
    int accepted = 0;

    tt_rng_seed(&rng, 5, 0);
    for (int t = 0; t < 20000; t++) {
        bool is_event = t % 2 == 0;

        if (is_event) {
            random_event(&rng, &ev);
            assert_int_equal(tt_codec_encode_event(f->fast, &ev, msg,
                                                   sizeof(msg), &n, NULL, 0),
                             TT_ERR_OK);
        } else {
            random_embedding(&rng, &r, src,
                             1 + (uint32_t)tt_rng_below(&rng, 8));
            assert_int_equal(tt_codec_encode_embedding(f->fast, &r, msg,
                                                       sizeof(msg), &n, NULL,
                                                       0),
                             TT_ERR_OK);
        }
        for (int k = 1 + (int)tt_rng_below(&rng, 3); k > 0; k--) {
            size_t at = 10 + tt_rng_below(&rng, n - 10);

            msg[at] = (uint8_t)tt_rng_next(&rng);
        }
        if (tt_rng_below(&rng, 4) == 0)
            n -= tt_rng_below(&rng, n - 10);
        if (is_event) {
            tt_err_t a = tt_codec_decode_event(f->fast, msg, n, &v1, NULL, 0);
            tt_err_t b = tt_codec_decode_event(f->ref, msg, n, &v2, NULL, 0);

            assert_int_equal(a, b);
            if (a == TT_ERR_OK) {
                assert_event_equal(&v1, &v2);
                accepted++;
            }
        } else {
            tt_err_t a = tt_codec_decode_embedding(f->fast, msg, n, &o1, e1,
                                                   300, NULL, 0);
            tt_err_t b = tt_codec_decode_embedding(f->ref, msg, n, &o2, e2,
                                                   300, NULL, 0);

            assert_int_equal(a, b);
            if (a == TT_ERR_OK) {
                assert_embedding_equal(&o1, &o2);
                accepted++;
            }
        }
    }
    /* Both outcomes were exercised. */
    assert_true(accepted > 100 && accepted < 19000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncated_and_trailing),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_v2_writer_refused),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_bad_modelrec),
        cmocka_unit_test(test_encode_rejects),
        cmocka_unit_test(test_mutations_agree),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
