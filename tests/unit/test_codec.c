/*
 * Unit tests of schemas/tt_codec: round trips of random records (bit-exact
 * floats), the hand-written codec against Avro C's encoder and decoder both
 * ways, golden bytes, and a pure Python decoder (schemas/twotime_wire.py)
 * over bytes the C encoder wrote.  Hostile input: test_codec_hostile.
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
#include "tests/unit/codec_fixture.h"

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

/* ---- golden bytes (codec_fixture.h) ---- */

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
        cmocka_unit_test(test_python_reader),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
