/*
 * Unit tests of schemas/tt_codec: round trips of random records (bit-exact
 * floats), the hand-written codec against Avro C's encoder and
 * decoder both ways, golden bytes, every kind of hostile input, and a pure
 * Python decoder (schemas/twotime_wire.py) over bytes the C encoder wrote.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tt_crc32c.h"
#include "common/tt_rng.h"
#include "schemas/tt_codec.h"
#include "schemas/tt_schema.h"

struct fixture {
    tt_codec_t *fast;
    tt_codec_t *ref;
    char errstr[512];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f || tt_codec_new(&f->fast, f->errstr, sizeof(f->errstr)) ||
        tt_codec_new_ref(&f->ref, f->errstr, sizeof(f->errstr))) {
        fprintf(stderr, "codec: %s\n", f ? f->errstr : "nomem");
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    tt_codec_destroy(f->fast);
    tt_codec_destroy(f->ref);
    free(f);
    return 0;
}

/* ---- random records ---- */

static void random_event(struct tt_rng *rng, struct tt_event *ev)
{
    static const int64_t ids[] = {0, 1, 63, 64, 127, 128, INT64_MAX,
                                  INT64_MAX - 1, INT64_C(1) << 40};
    int pick = (int)tt_rng_below(rng, 4);

    ev->user_id = pick == 0 ? ids[tt_rng_below(rng, 9)]
                            : (int64_t)(tt_rng_next(rng) >> (1 + pick * 13));
    ev->item_id = pick == 1 ? ids[tt_rng_below(rng, 9)]
                            : (int64_t)(tt_rng_next(rng) >> (1 + pick * 7));
    ev->ts_ms = pick == 2 ? (tt_rng_below(rng, 2) ? TT_EVENT_TS_MIN
                                                  : TT_EVENT_TS_MAX)
                          : (int64_t)tt_rng_below(rng, TT_EVENT_TS_MAX + 1);
    switch (tt_rng_below(rng, 4)) {
    case 0: ev->category = TT_EVENT_NO_CATEGORY; break;
    case 1: ev->category = INT32_MAX; break;
    default: ev->category = (int32_t)tt_rng_below(rng, 1000); break;
    }
}

/* Floats from raw bits: NaNs with payloads, infinities, -0, denormals. */
static float random_float(struct tt_rng *rng)
{
    static const uint32_t special[] = {0x00000000, 0x80000000, 0x7f800000,
                                       0xff800000, 0x7fc00000, 0x7f800001,
                                       0xffbadbad, 0x00000001, 0x807fffff};
    uint32_t bits = tt_rng_below(rng, 4) == 0
                        ? special[tt_rng_below(rng, 9)]
                        : (uint32_t)tt_rng_next(rng);
    float f;

    memcpy(&f, &bits, 4);
    return f;
}

static void random_embedding(struct tt_rng *rng, struct tt_embedding_rec *r,
                             float *emb, uint32_t dim)
{
    for (uint32_t i = 0; i < dim; i++)
        emb[i] = random_float(rng);
    r->user_id = (int64_t)(tt_rng_next(rng) >> tt_rng_below(rng, 63) >> 1);
    r->emb = emb;
    r->dim = dim;
    r->model_version = (int64_t)tt_rng_below(rng, 1000);
    r->cell = (uint8_t)tt_rng_below(rng, 2);
    r->interaction_count = (int64_t)(tt_rng_next(rng) >> 1);
    r->event_time = (int64_t)tt_rng_below(rng, TT_EVENT_TS_MAX + 1);
    r->input_partition = (int32_t)tt_rng_below(rng, 3) - 1;
    r->input_offset = r->input_partition < 0
                          ? -1
                          : (int64_t)(tt_rng_next(rng) >> 1);
}

static void assert_event_equal(const struct tt_event *a,
                               const struct tt_event *b)
{
    assert_true(a->user_id == b->user_id);
    assert_true(a->item_id == b->item_id);
    assert_true(a->ts_ms == b->ts_ms);
    assert_int_equal(a->category, b->category);
}

static void assert_embedding_equal(const struct tt_embedding_rec *a,
                                   const struct tt_embedding_rec *b)
{
    assert_true(a->user_id == b->user_id);
    assert_int_equal(a->dim, b->dim);
    assert_memory_equal(a->emb, b->emb, 4 * (size_t)a->dim); /* bits */
    assert_true(a->model_version == b->model_version);
    assert_int_equal(a->cell, b->cell);
    assert_true(a->interaction_count == b->interaction_count);
    assert_true(a->event_time == b->event_time);
    assert_int_equal(a->input_partition, b->input_partition);
    assert_true(a->input_offset == b->input_offset);
}

/* Round trips through both codecs, and each codec's bytes decoded by the
 * other: the hand-written wire format is Avro C's, byte for byte. */
static void test_event_roundtrip_cross(void **state)
{
    struct fixture *f = *state;
    uint8_t a[TT_CODEC_EVENT_MAX], b[TT_CODEC_EVENT_MAX];
    struct tt_event ev, out;
    struct tt_rng rng;
    size_t na, nb;

    tt_rng_seed(&rng, 2, 0);
    for (int t = 0; t < 20000; t++) {
        random_event(&rng, &ev);
        assert_int_equal(tt_codec_encode_event(f->fast, &ev, a, sizeof(a),
                                               &na, f->errstr,
                                               sizeof(f->errstr)),
                         TT_ERR_OK);
        assert_int_equal(tt_codec_encode_event(f->ref, &ev, b, sizeof(b),
                                               &nb, f->errstr,
                                               sizeof(f->errstr)),
                         TT_ERR_OK);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
        assert_int_equal(tt_codec_decode_event(f->fast, b, nb, &out,
                                               f->errstr, sizeof(f->errstr)),
                         TT_ERR_OK);
        assert_event_equal(&ev, &out);
        memset(&out, 0x5a, sizeof(out));
        assert_int_equal(tt_codec_decode_event(f->ref, a, na, &out,
                                               f->errstr, sizeof(f->errstr)),
                         TT_ERR_OK);
        assert_event_equal(&ev, &out);
    }
}

static void test_embedding_roundtrip_cross(void **state)
{
    struct fixture *f = *state;
    static uint8_t a[TT_CODEC_EMBEDDING_MAX(TT_CODEC_MAX_DIM)];
    static uint8_t b[TT_CODEC_EMBEDDING_MAX(TT_CODEC_MAX_DIM)];
    static float emb[TT_CODEC_MAX_DIM], got[TT_CODEC_MAX_DIM];
    struct tt_embedding_rec r, out;
    struct tt_rng rng;
    size_t na, nb;

    tt_rng_seed(&rng, 3, 0);
    for (int t = 0; t < 3000; t++) {
        uint32_t dim = t == 0   ? TT_CODEC_MAX_DIM
                       : t == 1 ? 1
                       : t % 3  ? 64
                                : 1 + (uint32_t)tt_rng_below(&rng, 300);

        random_embedding(&rng, &r, emb, dim);
        assert_int_equal(tt_codec_encode_embedding(f->fast, &r, a, sizeof(a),
                                                   &na, f->errstr,
                                                   sizeof(f->errstr)),
                         TT_ERR_OK);
        assert_int_equal(tt_codec_encode_embedding(f->ref, &r, b, sizeof(b),
                                                   &nb, f->errstr,
                                                   sizeof(f->errstr)),
                         TT_ERR_OK);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
        memset(got, 0, 4 * (size_t)dim);
        assert_int_equal(tt_codec_decode_embedding(f->fast, b, nb, &out, got,
                                                   TT_CODEC_MAX_DIM,
                                                   f->errstr,
                                                   sizeof(f->errstr)),
                         TT_ERR_OK);
        assert_ptr_equal(out.emb, got);
        assert_embedding_equal(&r, &out);
        memset(got, 0, 4 * (size_t)dim);
        assert_int_equal(tt_codec_decode_embedding(f->ref, a, na, &out, got,
                                                   dim, f->errstr,
                                                   sizeof(f->errstr)),
                         TT_ERR_OK);
        assert_embedding_equal(&r, &out);
    }
}

static void test_modelrec_roundtrip_cross(void **state)
{
    struct fixture *f = *state;
    static uint8_t payload[TT_MODELREC_MAX_PAYLOAD];
    static uint8_t a[TT_CODEC_MODELREC_MAX(TT_MODELREC_MAX_PAYLOAD)];
    static uint8_t b[TT_CODEC_MODELREC_MAX(TT_MODELREC_MAX_PAYLOAD)];
    struct tt_modelrec r, out;
    struct tt_rng rng;
    size_t na, nb;

    tt_rng_seed(&rng, 4, 0);
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)tt_rng_next(&rng);
    for (int t = 0; t < 300; t++) {
        r.kind = (enum tt_modelrec_kind)tt_rng_below(&rng, 5);
        r.model_version = (int64_t)(tt_rng_next(&rng) >> 1);
        r.seq = (int32_t)tt_rng_below(&rng, INT32_MAX);
        r.payload = payload + tt_rng_below(&rng, 100);
        r.payload_len = t == 0   ? 0
                        : t == 1 ? TT_MODELREC_MAX_PAYLOAD - 100
                                 : tt_rng_below(&rng, 5000);
        r.payload_crc32c = 0; /* computed by the encoder */
        assert_int_equal(tt_codec_encode_modelrec(f->fast, &r, a, sizeof(a),
                                                  &na, f->errstr,
                                                  sizeof(f->errstr)),
                         TT_ERR_OK);
        assert_true(na <= TT_MODELREC_MAX_RECORD);
        assert_int_equal(tt_codec_encode_modelrec(f->ref, &r, b, sizeof(b),
                                                  &nb, f->errstr,
                                                  sizeof(f->errstr)),
                         TT_ERR_OK);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
        for (int which = 0; which < 2; which++) {
            assert_int_equal(
                tt_codec_decode_modelrec(which ? f->ref : f->fast,
                                         which ? a : b, na, &out, f->errstr,
                                         sizeof(f->errstr)),
                TT_ERR_OK);
            assert_int_equal(out.kind, r.kind);
            assert_true(out.model_version == r.model_version);
            assert_int_equal(out.seq, r.seq);
            assert_int_equal(out.payload_len, r.payload_len);
            if (r.payload_len)
                assert_memory_equal(out.payload, r.payload, r.payload_len);
            assert_int_equal(out.payload_crc32c,
                             tt_crc32c(0, r.payload, r.payload_len));
        }
    }
}

/* ---- golden bytes (computed by an independent Python encoder) ---- */

static const uint8_t golden_event[] = {
    0xc3, 0x01, 0xe1, 0x2b, 0x5c, 0x47, 0x59, 0xad, 0x40, 0x24, 0x54,
    0x0e, 0x80, 0xa0, 0xab, 0xfe, 0xf9, 0x62, 0x02, 0x06};

static const uint8_t golden_embedding[] = {
    0xc3, 0x01, 0x8e, 0xfc, 0x25, 0x27, 0x60, 0xca, 0x70, 0xd3,
    0x54, 0x20, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x80,
    0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x10, 0xc0, 0x08, 0x06,
    0x02, 0x22, 0x80, 0xa0, 0xab, 0xfe, 0xf9, 0x62, 0x04, 0xf2,
    0xc0, 0x01};

static void test_golden(void **state)
{
    struct fixture *f = *state;
    const struct tt_event ev = {42, 7, INT64_C(1700000000000), 3};
    const float emb[4] = {1.0f, -0.0f, 0.5f, -2.25f};
    const struct tt_embedding_rec rec = {
        .user_id = 42, .emb = emb, .dim = 4, .model_version = 3,
        .cell = TT_EMB_INACTIVE, .interaction_count = 17,
        .event_time = INT64_C(1700000000000), .input_partition = 2,
        .input_offset = 12345};
    uint8_t buf[TT_CODEC_EMBEDDING_MAX(4)];
    struct tt_embedding_rec out;
    struct tt_event eo;
    float got[4];
    size_t n;

    for (int which = 0; which < 2; which++) {
        tt_codec_t *c = which ? f->ref : f->fast;

        assert_int_equal(tt_codec_encode_event(c, &ev, buf, sizeof(buf), &n,
                                               f->errstr, sizeof(f->errstr)),
                         TT_ERR_OK);
        assert_int_equal(n, sizeof(golden_event));
        assert_memory_equal(buf, golden_event, n);
        assert_int_equal(tt_codec_decode_event(c, golden_event,
                                               sizeof(golden_event), &eo,
                                               f->errstr, sizeof(f->errstr)),
                         TT_ERR_OK);
        assert_event_equal(&ev, &eo);
        assert_int_equal(tt_codec_encode_embedding(c, &rec, buf, sizeof(buf),
                                                   &n, f->errstr,
                                                   sizeof(f->errstr)),
                         TT_ERR_OK);
        assert_int_equal(n, sizeof(golden_embedding));
        assert_memory_equal(buf, golden_embedding, n);
        assert_int_equal(tt_codec_decode_embedding(
                             c, golden_embedding, sizeof(golden_embedding),
                             &out, got, 4, f->errstr, sizeof(f->errstr)),
                         TT_ERR_OK);
        assert_embedding_equal(&rec, &out);
    }
}

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
    size_t n;

    for (int which = 0; which < 2; which++) {
        tt_codec_t *c = which ? f->ref : f->fast;
        struct tt_event e = ev;
        struct tt_embedding_rec er = r;
        struct tt_modelrec m = mr;

        assert_int_equal(tt_codec_encode_event(c, &e, buf,
                                               TT_CODEC_EVENT_MAX - 1, &n,
                                               f->errstr, sizeof(f->errstr)),
                         TT_ERR_OVERFLOW);
        e.ts_ms = INT64_C(1700000000); /* seconds, not ms: 1970-01-20 ok */
        assert_int_equal(tt_codec_encode_event(c, &e, buf, sizeof(buf), &n,
                                               f->errstr, sizeof(f->errstr)),
                         TT_ERR_OK);
        e.ts_ms = INT64_C(1700000000000000); /* microseconds */
        assert_int_equal(tt_codec_encode_event(c, &e, buf, sizeof(buf), &n,
                                               f->errstr, sizeof(f->errstr)),
                         TT_ERR_RANGE);
        e = ev;
        e.user_id = -5;
        assert_int_equal(tt_codec_encode_event(c, &e, buf, sizeof(buf), &n,
                                               f->errstr, sizeof(f->errstr)),
                         TT_ERR_RANGE);
        assert_non_null(strstr(f->errstr, "user_id -5"));
        e = ev;
        e.category = -2;
        assert_int_equal(tt_codec_encode_event(c, &e, buf, sizeof(buf), &n,
                                               f->errstr, sizeof(f->errstr)),
                         TT_ERR_RANGE);
        assert_int_equal(tt_codec_encode_embedding(
                             c, &er, buf, TT_CODEC_EMBEDDING_MAX(2) - 1, &n,
                             f->errstr, sizeof(f->errstr)),
                         TT_ERR_OVERFLOW);
        er.dim = 0;
        assert_int_equal(tt_codec_encode_embedding(c, &er, buf, sizeof(buf),
                                                   &n, f->errstr,
                                                   sizeof(f->errstr)),
                         TT_ERR_RANGE);
        er = r;
        er.cell = 2;
        assert_int_equal(tt_codec_encode_embedding(c, &er, buf, sizeof(buf),
                                                   &n, f->errstr,
                                                   sizeof(f->errstr)),
                         TT_ERR_RANGE);
        er = r;
        er.emb = NULL;
        assert_int_equal(tt_codec_encode_embedding(c, &er, buf, sizeof(buf),
                                                   &n, f->errstr,
                                                   sizeof(f->errstr)),
                         TT_ERR_INVAL);
        m.payload_len = TT_MODELREC_MAX_PAYLOAD + 1;
        m.payload = buf;
        assert_int_equal(tt_codec_encode_modelrec(c, &m, buf, sizeof(buf),
                                                  &n, f->errstr,
                                                  sizeof(f->errstr)),
                         TT_ERR_RANGE);
        m = mr;
        m.kind = TT_MODELREC__KINDS;
        assert_int_equal(tt_codec_encode_modelrec(c, &m, buf, sizeof(buf),
                                                  &n, f->errstr,
                                                  sizeof(f->errstr)),
                         TT_ERR_RANGE);
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

/* ---- a Python reader over bytes the C encoder wrote ---- */

static void put_msg(FILE *out, const uint8_t *b, size_t n)
{
    uint8_t len[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16),
                      (uint8_t)(n >> 24)};

    assert_int_equal(fwrite(len, 1, 4, out), 4);
    assert_int_equal(fwrite(b, 1, n, out), n);
}

static void test_python_reader(void **state)
{
    struct fixture *f = *state;
    const char *src = getenv("TT_SOURCE_DIR");
    char path[] = "/tmp/tt_codec_py_XXXXXX";
    char cmd[8192], line[8192], want[8192];
    static float emb[128];
    uint8_t buf[TT_CODEC_EMBEDDING_MAX(128)];
    struct tt_embedding_rec r;
    struct tt_event ev;
    struct tt_rng rng;
    FILE *out, *py;
    size_t n;
    int fd, lines = 0;

    if (system("command -v python3 >/dev/null 2>&1") != 0)
        skip();
    assert_non_null(src);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    out = fdopen(fd, "wb");
    assert_non_null(out);
    tt_rng_seed(&rng, 6, 0);
    for (int i = 0; i < 60; i++) {
        random_event(&rng, &ev);
        assert_int_equal(tt_codec_encode_event(f->fast, &ev, buf, sizeof(buf),
                                               &n, NULL, 0),
                         TT_ERR_OK);
        put_msg(out, buf, n);
        random_embedding(&rng, &r, emb, i % 2 ? 64 : 1 + (uint32_t)i);
        assert_int_equal(tt_codec_encode_embedding(f->fast, &r, buf,
                                                   sizeof(buf), &n, NULL, 0),
                         TT_ERR_OK);
        put_msg(out, buf, n);
    }
    assert_int_equal(fclose(out), 0);

    snprintf(cmd, sizeof(cmd), "python3 '%s/schemas/twotime_wire.py' dump %s",
             src, path);
    py = popen(cmd, "r");
    assert_non_null(py);
    tt_rng_seed(&rng, 6, 0); /* replay the same records */
    while (fgets(line, sizeof(line), py)) {
        int pos = 0;

        line[strcspn(line, "\n")] = '\0';
        if (lines % 2 == 0) {
            random_event(&rng, &ev);
            snprintf(want, sizeof(want),
                     "Interaction user=%" PRId64 " item=%" PRId64
                     " ts=%" PRId64 " cat=%d",
                     ev.user_id, ev.item_id, ev.ts_ms, ev.category);
        } else {
            int i = lines / 2;

            random_embedding(&rng, &r, emb, i % 2 ? 64 : 1 + (uint32_t)i);
            pos = snprintf(want, sizeof(want),
                           "UserEmbedding user=%" PRId64 " dim=%u ver=%" PRId64
                           " cell=%s count=%" PRId64 " ts=%" PRId64
                           " part=%d off=%" PRId64 " emb=",
                           r.user_id, r.dim, r.model_version,
                           r.cell ? "INACTIVE" : "ACTIVE", r.interaction_count,
                           r.event_time, r.input_partition, r.input_offset);
            for (uint32_t k = 0; k < r.dim; k++) {
                uint32_t bits;

                memcpy(&bits, &emb[k], 4);
                pos += snprintf(want + pos, sizeof(want) - (size_t)pos,
                                k ? ",%08x" : "%08x", bits);
            }
        }
        assert_string_equal(line, want);
        lines++;
    }
    assert_int_equal(pclose(py), 0);
    unlink(path);
    assert_int_equal(lines, 120);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_roundtrip_cross),
        cmocka_unit_test(test_embedding_roundtrip_cross),
        cmocka_unit_test(test_modelrec_roundtrip_cross),
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_truncated_and_trailing),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_v2_writer_refused),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_bad_modelrec),
        cmocka_unit_test(test_encode_rejects),
        cmocka_unit_test(test_mutations_agree),
        cmocka_unit_test(test_python_reader),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
