/*
 * Unit tests of state/tt_ustate (the user-state record format): golden
 * bytes, round trips, every truncation and every single-bit flip of a record,
 * unknown versions, malformed records with a valid checksum, bounds of
 * embedding and history.  The checksum itself: test_crc32c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_crc32c.h"
#include "common/tt_rng.h"
#include "state/tt_ustate.h"

/* Written by an independent Python implementation of the layout documented
 * in tt_ustate.h: cell active, d = 3, two history entries. */
static const uint8_t golden[56] = {
    0x01, 0x01, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x7b, 0x68, 0xe5, 0xcf, 0x8b, 0x01, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3f,
    0x00, 0x00, 0x00, 0xbf, 0x00, 0x00, 0x80, 0x3e, 0xe9, 0x07, 0x38, 0x04,
    0xd2, 0x0f, 0x02, 0x00, 0xe9, 0x34, 0xe8, 0x34,
};
/* Where the history starts in `golden` (32 + 4 * 3). */
#define GOLDEN_HIST 44

static void fill_golden(struct tt_user_state *s)
{
    tt_ustate_reset(s);
    s->cell = TT_USTATE_CELL_ACTIVE;
    s->count = 7;
    s->model_version = 42;
    s->last_event_ms = INT64_C(1700000000123);
    s->dim = 3;
    s->emb[0] = 1.0f;
    s->emb[1] = -0.5f;
    s->emb[2] = 0.25f;
    tt_ustate_push(s, 1001, 55, 3);
    tt_ustate_push(s, 2002, 56, -1);
}

static void fill_random(struct tt_user_state *s, struct tt_rng *rng,
                        uint32_t dim, uint32_t n)
{
    tt_ustate_reset(s);
    s->count = tt_rng_next(rng);
    s->model_version = tt_rng_next(rng);
    s->last_event_ms = (int64_t)tt_rng_below(rng, UINT64_C(1) << 42);
    s->cell = (uint8_t)tt_rng_below(rng, 2);
    s->dim = dim;
    for (uint32_t i = 0; i < dim; i++)
        s->emb[i] = (float)tt_rng_normal(rng);
    for (uint32_t i = 0; i < n; i++)
        tt_ustate_push(s, (int64_t)(tt_rng_next(rng) >> 1),
                       (int64_t)tt_rng_below(rng, UINT64_C(1) << 40),
                       (int32_t)tt_rng_below(rng, 50) - 1);
}

static void test_golden(void **unused)
{
    struct tt_user_state s, d;
    uint8_t buf[256];
    size_t len = 0;

    (void)unused;
    assert_int_equal(tt_ustate_init(&s, 8, 4), TT_ERR_OK);
    assert_int_equal(tt_ustate_init(&d, 8, 4), TT_ERR_OK);
    fill_golden(&s);
    assert_int_equal(tt_ustate_encoded_size(&s), sizeof(golden));
    assert_int_equal(tt_ustate_encode(&s, buf, sizeof(buf), &len, NULL, 0),
                     TT_ERR_OK);
    assert_int_equal(len, sizeof(golden));
    assert_memory_equal(buf, golden, sizeof(golden));
    assert_int_equal(tt_ustate_decode(golden, sizeof(golden), &d, NULL, 0),
                     TT_ERR_OK);
    assert_true(tt_ustate_equal(&s, &d));
    assert_int_equal(d.hist[1].category, -1);
    tt_ustate_release(&s);
    tt_ustate_release(&d);
}

static void test_round_trip_random(void **unused)
{
    struct tt_user_state s, d;
    struct tt_rng rng;
    uint8_t *buf = malloc(TT_USTATE_RECORD_MAX);
    size_t len;

    (void)unused;
    assert_non_null(buf);
    tt_rng_seed(&rng, 1, 0);
    assert_int_equal(tt_ustate_init(&s, 128, 200), TT_ERR_OK);
    assert_int_equal(tt_ustate_init(&d, 128, 200), TT_ERR_OK);
    for (int k = 0; k < 500; k++) {
        uint32_t dim = (uint32_t)tt_rng_below(&rng, 129);
        uint32_t n = (uint32_t)tt_rng_below(&rng, 260);

        fill_random(&s, &rng, dim, n);
        assert_int_equal(s.hist_len, n < 200 ? n : 200);
        assert_int_equal(tt_ustate_encode(&s, buf, TT_USTATE_RECORD_MAX, &len,
                                          NULL, 0),
                         TT_ERR_OK);
        assert_int_equal(len, tt_ustate_encoded_size(&s));
        assert_true(len <= TT_USTATE_SIZE_MAX(dim, s.hist_len));
        assert_true(len >= 36 + 4 * (size_t)dim + 3 * (size_t)s.hist_len);
        assert_int_equal(tt_ustate_decode(buf, len, &d, NULL, 0), TT_ERR_OK);
        assert_true(tt_ustate_equal(&s, &d));
        /* The exact-size path: a buffer of exactly len bytes, and one less. */
        assert_int_equal(tt_ustate_encode(&s, buf, len, &len, NULL, 0),
                         TT_ERR_OK);
        assert_int_equal(tt_ustate_encode(&s, buf, len - 1, &len, NULL, 0),
                         TT_ERR_OVERFLOW);
    }
    /* The size the brief plans for: d = 64, history 100, item ids below
     * 2^21 (3-byte varints), consecutive offsets, small categories. */
    fill_random(&s, &rng, 64, 0);
    for (int i = 0; i < 100; i++)
        tt_ustate_push(&s, (1 << 14) + (int64_t)tt_rng_below(&rng, 1 << 20),
                       123456 + i, (int32_t)tt_rng_below(&rng, 100) - 1);
    /* 5 bytes an entry, plus 2 for the first offset (123457: 3 bytes). */
    assert_int_equal(tt_ustate_encoded_size(&s), 36 + 256 + 100 * 5 + 2);
    tt_ustate_release(&s);
    tt_ustate_release(&d);
    free(buf);
}

static void test_truncations_and_bit_flips(void **unused)
{
    struct tt_user_state s, d;
    struct tt_rng rng;
    uint8_t buf[2400], copy[2400];
    char err[256];
    size_t len;

    (void)unused;
    tt_rng_seed(&rng, 2, 0);
    assert_int_equal(tt_ustate_init(&s, 64, 100), TT_ERR_OK);
    assert_int_equal(tt_ustate_init(&d, 64, 100), TT_ERR_OK);
    fill_random(&s, &rng, 64, 100);
    assert_int_equal(tt_ustate_encode(&s, buf, sizeof(buf), &len, NULL, 0),
                     TT_ERR_OK);
    for (size_t n = 0; n < len; n++) {
        /* A heap copy of exactly n bytes lets ASan catch an over-read. */
        uint8_t *t = malloc(n ? n : 1);

        assert_non_null(t);
        memcpy(t, buf, n);
        err[0] = '\0';
        assert_int_equal(tt_ustate_decode(t, n, &d, err, sizeof(err)),
                         TT_ERR_CORRUPT);
        assert_true(err[0] != '\0');
        assert_int_equal(d.dim, 0);
        free(t);
    }
    for (size_t bit = 0; bit < len * 8; bit++) {
        memcpy(copy, buf, len);
        copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(tt_ustate_decode(copy, len, &d, NULL, 0),
                         TT_ERR_CORRUPT);
    }
    /* An appended byte is corrupt too. */
    memcpy(copy, buf, len);
    copy[len] = 0;
    assert_int_equal(tt_ustate_decode(copy, len + 1, &d, NULL, 0),
                     TT_ERR_CORRUPT);
    tt_ustate_release(&s);
    tt_ustate_release(&d);
}

/* Rewrites the checksum after a deliberate edit, so that the decoder's
 * structural checks (not the CRC) must catch it. */
static void reseal(uint8_t *buf, size_t len)
{
    uint32_t c = tt_crc32c(0, buf, len - 4);

    for (int i = 0; i < 4; i++)
        buf[len - 4 + (size_t)i] = (uint8_t)(c >> (8 * i));
}

static void test_versions_and_malformed(void **unused)
{
    struct tt_user_state d;
    uint8_t b[sizeof(golden) + 8];
    char err[256];
    float nan = NAN;

    (void)unused;
    assert_int_equal(tt_ustate_init(&d, 8, 4), TT_ERR_OK);
    const uint8_t versions[] = {0, 2, 7, 255};
    for (size_t i = 0; i < sizeof(versions); i++) {
        memcpy(b, golden, sizeof(golden));
        b[0] = versions[i];
        reseal(b, sizeof(golden));
        err[0] = '\0';
        assert_int_equal(tt_ustate_decode(b, sizeof(golden), &d, err,
                                          sizeof(err)),
                         TT_ERR_VERSION);
        assert_non_null(strstr(err, "version"));
    }
    /* A future version may be any length, even shorter than a header. */
    b[0] = 9;
    reseal(b, 5);
    assert_int_equal(tt_ustate_decode(b, 5, &d, NULL, 0), TT_ERR_VERSION);

    memcpy(b, golden, sizeof(golden)); /* cell 2 */
    b[1] = 2;
    reseal(b, sizeof(golden));
    assert_int_equal(tt_ustate_decode(b, sizeof(golden), &d, NULL, 0),
                     TT_ERR_CORRUPT);
    memcpy(b, golden, sizeof(golden)); /* reserved bytes */
    b[7] = 1;
    reseal(b, sizeof(golden));
    assert_int_equal(tt_ustate_decode(b, sizeof(golden), &d, NULL, 0),
                     TT_ERR_CORRUPT);
    memcpy(b, golden, sizeof(golden)); /* dim disagrees with length */
    b[2] = 4;
    reseal(b, sizeof(golden));
    assert_int_equal(tt_ustate_decode(b, sizeof(golden), &d, NULL, 0),
                     TT_ERR_CORRUPT);
    memcpy(b, golden, sizeof(golden)); /* history count disagrees */
    b[4] = 0xff;
    b[5] = 0xff;
    reseal(b, sizeof(golden));
    assert_int_equal(tt_ustate_decode(b, sizeof(golden), &d, NULL, 0),
                     TT_ERR_CORRUPT);
    memcpy(b, golden, sizeof(golden)); /* NaN in the embedding */
    memcpy(b + 36, &nan, 4);
    reseal(b, sizeof(golden));
    err[0] = '\0';
    assert_int_equal(tt_ustate_decode(b, sizeof(golden), &d, err, sizeof(err)),
                     TT_ERR_CORRUPT);
    assert_non_null(strstr(err, "embedding[1] is not finite"));
    assert_int_equal(d.dim, 0);
    memcpy(b, golden, sizeof(golden)); /* last event time below -1 */
    b[24] = 0xfe;
    memset(b + 25, 0xff, 7);
    reseal(b, sizeof(golden));
    assert_int_equal(tt_ustate_decode(b, sizeof(golden), &d, NULL, 0),
                     TT_ERR_CORRUPT);
    assert_int_equal(d.dim, 0);
    assert_int_equal(d.hist_len, 0);
    tt_ustate_release(&d);
}

/* A record with golden's header and embedding, `n` history entries made of
 * the bytes (h, hlen), and a valid checksum. */
static size_t make_rec(uint8_t *out, uint16_t n, const char *h, size_t hlen)
{
    memcpy(out, golden, GOLDEN_HIST);
    out[4] = (uint8_t)n;
    out[5] = (uint8_t)(n >> 8);
    memcpy(out + GOLDEN_HIST, h, hlen);
    reseal(out, GOLDEN_HIST + hlen + 4);
    return GOLDEN_HIST + hlen + 4;
}

static void test_history_varints(void **unused)
{
    static const struct {
        const char *what;
        uint16_t n;
        const char *h;
        size_t hlen;
        tt_err_t want;
    } cases[] = {
        {"item INT64_MAX", 1, "\xff\xff\xff\xff\xff\xff\xff\xff\x7f\x01\x00",
         11, TT_ERR_OK},
        {"item 2^63", 1,
         "\xff\xff\xff\xff\xff\xff\xff\xff\x80\x01\x01\x00", 12,
         TT_ERR_CORRUPT},
        {"10th byte above 1", 1,
         "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02\x01\x00", 12,
         TT_ERR_CORRUPT},
        {"11-byte varint", 1,
         "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x01\x00", 13,
         TT_ERR_CORRUPT},
        {"not shortest form", 1, "\x81\x00\x01\x00", 4, TT_ERR_CORRUPT},
        {"offset code 2^63", 1,
         "\x05\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01\x00", 12,
         TT_ERR_OK},
        {"offset code 2^63+1", 1,
         "\x05\x81\x80\x80\x80\x80\x80\x80\x80\x80\x01\x00", 12,
         TT_ERR_CORRUPT},
        {"category INT32_MAX", 1, "\x05\x01\x80\x80\x80\x80\x08", 7,
         TT_ERR_OK},
        {"category 2^31", 1, "\x05\x01\x81\x80\x80\x80\x08", 7,
         TT_ERR_CORRUPT},
        {"offset below -1", 2, "\x05\x01\x00\x06\x03\x00", 6,
         TT_ERR_CORRUPT},
        {"offset -1 after 0", 2, "\x05\x01\x00\x06\x01\x00", 6, TT_ERR_OK},
        {"byte after the history", 1, "\x05\x01\x00\x00", 4,
         TT_ERR_CORRUPT},
        {"truncated varint", 2, "\x05\x01\x00\x80\x80\x80", 6,
         TT_ERR_CORRUPT},
        {"fewer bytes than 3 per entry", 3, "\x05\x01\x00\x06\x01\x00", 6,
         TT_ERR_CORRUPT},
    };
    struct tt_user_state d, e;
    uint8_t b[128], again[128];
    size_t len, len2;

    (void)unused;
    assert_int_equal(tt_ustate_init(&d, 8, 4), TT_ERR_OK);
    assert_int_equal(tt_ustate_init(&e, 8, 4), TT_ERR_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        len = make_rec(b, cases[i].n, cases[i].h, cases[i].hlen);
        if (tt_ustate_decode(b, len, &d, NULL, 0) != cases[i].want)
            fail_msg("case \"%s\"", cases[i].what);
        if (cases[i].want != TT_ERR_OK)
            continue;
        /* What decodes re-encodes to the same bytes. */
        assert_int_equal(tt_ustate_encode(&d, again, sizeof(again), &len2,
                                          NULL, 0),
                         TT_ERR_OK);
        assert_int_equal(len2, len);
        assert_memory_equal(again, b, len);
    }
    /* Extreme values round-trip, offset differences wrapping mod 2^64. */
    fill_golden(&e);
    e.hist_len = 0;
    tt_ustate_push(&e, INT64_MAX, -1, INT32_MAX);
    tt_ustate_push(&e, 0, INT64_MAX, -1);
    tt_ustate_push(&e, 5, -1, 0);
    tt_ustate_push(&e, 7, INT64_MAX - 1, 2);
    assert_int_equal(tt_ustate_encode(&e, b, sizeof(b), &len, NULL, 0),
                     TT_ERR_OK);
    assert_int_equal(tt_ustate_decode(b, len, &d, NULL, 0), TT_ERR_OK);
    assert_true(tt_ustate_equal(&d, &e));
    tt_ustate_release(&d);
    tt_ustate_release(&e);
}

static void test_capacity_bounds(void **unused)
{
    struct tt_user_state s, small, tiny;
    uint8_t buf[256];
    size_t len;
    char err[256];

    (void)unused;
    assert_int_equal(tt_ustate_init(&s, 8, 4), TT_ERR_OK);
    assert_int_equal(tt_ustate_init(&small, 2, 4), TT_ERR_OK);
    assert_int_equal(tt_ustate_init(&tiny, 8, 1), TT_ERR_OK);
    /* Embedding longer than the caller's buffer: overflow, not a crash. */
    assert_int_equal(tt_ustate_decode(golden, sizeof(golden), &small, err,
                                      sizeof(err)),
                     TT_ERR_OVERFLOW);
    /* History longer than the cap (history_max lowered): newest kept. */
    assert_int_equal(tt_ustate_decode(golden, sizeof(golden), &tiny, NULL, 0),
                     TT_ERR_OK);
    assert_int_equal(tiny.hist_len, 1);
    assert_int_equal(tiny.hist[0].item_id, 2002);
    fill_golden(&s);
    assert_int_equal(tt_ustate_copy(&tiny, &s), TT_ERR_OK);
    assert_int_equal(tiny.hist_len, 1);
    assert_int_equal(tiny.hist[0].item_id, 2002);
    assert_int_equal(tt_ustate_copy(&small, &s), TT_ERR_OVERFLOW);

    /* Encoder refusals. */
    assert_int_equal(tt_ustate_encode(&s, buf, sizeof(golden) - 1, &len, err,
                                      sizeof(err)),
                     TT_ERR_OVERFLOW);
    s.emb[1] = INFINITY;
    err[0] = '\0';
    assert_int_equal(tt_ustate_encode(&s, buf, sizeof(buf), &len, err,
                                      sizeof(err)),
                     TT_ERR_RANGE);
    assert_non_null(strstr(err, "embedding[1] is not finite"));
    fill_golden(&s);
    s.cell = 3;
    assert_int_equal(tt_ustate_encode(&s, buf, sizeof(buf), &len, NULL, 0),
                     TT_ERR_RANGE);
    fill_golden(&s);
    s.hist[0].item_id = -5;
    assert_int_equal(tt_ustate_encode(&s, buf, sizeof(buf), &len, NULL, 0),
                     TT_ERR_RANGE);
    tt_ustate_release(&s);
    assert_int_equal(tt_ustate_init(&s, 0, 4), TT_ERR_INVAL);
    assert_int_equal(tt_ustate_init(&s, 8, TT_USTATE_HIST_MAX + 1),
                     TT_ERR_INVAL);
    tt_ustate_release(&small);
    tt_ustate_release(&tiny);
}

static void test_history_bound(void **unused)
{
    struct tt_user_state s;
    float emb[4];
    struct tt_ustate_item hist[100];

    (void)unused;
    assert_int_equal(tt_ustate_bind(&s, emb, 4, hist, 100), TT_ERR_OK);
    for (int64_t i = 0; i < 250; i++)
        tt_ustate_push(&s, 1000 + i, i, (int32_t)(i % 3) - 1);
    assert_int_equal(s.hist_len, 100);
    for (uint32_t i = 0; i < 100; i++) {
        assert_int_equal(s.hist[i].item_id, 1150 + (int64_t)i);
        assert_int_equal(s.hist[i].offset, 150 + (int64_t)i);
    }
    tt_ustate_release(&s); /* bound: frees nothing */
}

static void test_keys(void **unused)
{
    struct tt_rng rng;
    uint8_t a[TT_USTATE_USER_KEY_SIZE], b[TT_USTATE_USER_KEY_SIZE];
    uint8_t mk[TT_USTATE_META_NAME_MAX + 1];
    int64_t id;

    (void)unused;
    tt_rng_seed(&rng, 3, 0);
    for (int i = 0; i < 10000; i++) {
        unsigned sx = 1 + (unsigned)tt_rng_below(&rng, 63);
        unsigned sy = 1 + (unsigned)tt_rng_below(&rng, 63);
        int64_t x = (int64_t)(tt_rng_next(&rng) >> sx);
        int64_t y = (int64_t)(tt_rng_next(&rng) >> sy);
        int c;

        tt_ustate_user_key(a, x);
        tt_ustate_user_key(b, y);
        c = memcmp(a, b, sizeof(a));
        /* Bytewise key order is numeric id order. */
        assert_true((c < 0) == (x < y) && (c == 0) == (x == y));
        assert_true(tt_ustate_parse_user_key(a, sizeof(a), &id));
        assert_true(id == x);
    }
    assert_false(tt_ustate_parse_user_key(a, sizeof(a) - 1, &id));
    a[0] = TT_USTATE_KEY_META;
    assert_false(tt_ustate_parse_user_key(a, sizeof(a), &id));
    assert_int_equal(tt_ustate_meta_key("offset", mk, sizeof(mk)), 7);
    assert_int_equal(mk[0], 'm');
    assert_memory_equal(mk + 1, "offset", 6);
    assert_int_equal(tt_ustate_meta_key("", mk, sizeof(mk)), 0);
    assert_int_equal(tt_ustate_meta_key("offset", mk, 6), 0);
    /* Metadata sorts before every user. */
    tt_ustate_user_key(a, 0);
    assert_true(memcmp(mk, a, 1) < 0);
}

static void test_meta_values(void **unused)
{
    uint8_t buf[64];
    const uint8_t *p;
    size_t len, plen;

    (void)unused;
    assert_int_equal(tt_ustate_meta_encode("abcdefgh", 8, buf, sizeof(buf),
                                           &len),
                     TT_ERR_OK);
    assert_int_equal(len, 13);
    assert_int_equal(tt_ustate_meta_decode(buf, len, &p, &plen, NULL, 0),
                     TT_ERR_OK);
    assert_int_equal(plen, 8);
    assert_memory_equal(p, "abcdefgh", 8);
    for (size_t n = 0; n < len; n++)
        assert_int_equal(tt_ustate_meta_decode(buf, n, &p, &plen, NULL, 0),
                         TT_ERR_CORRUPT);
    buf[3] ^= 0x10;
    assert_int_equal(tt_ustate_meta_decode(buf, len, &p, &plen, NULL, 0),
                     TT_ERR_CORRUPT);
    assert_int_equal(tt_ustate_meta_encode("abcdefgh", 8, buf, 12, &len),
                     TT_ERR_OVERFLOW);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_truncations_and_bit_flips),
        cmocka_unit_test(test_versions_and_malformed),
        cmocka_unit_test(test_history_varints),
        cmocka_unit_test(test_capacity_bounds),
        cmocka_unit_test(test_history_bound),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_meta_values),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
