/*
 * Fixtures shared by the codec tests (test_codec.c, test_codec_hostile.c):
 * both codecs as a cmocka group state, random records at the edges of their
 * ranges, field-by-field comparisons, and golden bytes.  Include after
 * cmocka.h.
 */
#ifndef TT_TEST_CODEC_FIXTURE_H
#define TT_TEST_CODEC_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"
#include "schemas/tt_codec.h"

/* Both codecs: the hand-written one and Avro C's (the reference). */
struct fixture {
    tt_codec_t *fast;
    tt_codec_t *ref;
    char errstr[512];
};

/* cmocka group setup / teardown of a struct fixture. */
static inline int setup(void **state)
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

static inline int teardown(void **state)
{
    struct fixture *f = *state;

    tt_codec_destroy(f->fast);
    tt_codec_destroy(f->ref);
    free(f);
    return 0;
}

/* ---- random records ---- */

/* Ids, times and categories at and near their limits, or random. */
static inline void random_event(struct tt_rng *rng, struct tt_event *ev)
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
static inline float random_float(struct tt_rng *rng)
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

/* A random UserEmbedding of `dim` floats written to emb. */
static inline void random_embedding(struct tt_rng *rng, struct tt_embedding_rec *r,
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

/* Field by field; floats compared as bits. */
static inline void assert_event_equal(const struct tt_event *a,
                               const struct tt_event *b)
{
    assert_true(a->user_id == b->user_id);
    assert_true(a->item_id == b->item_id);
    assert_true(a->ts_ms == b->ts_ms);
    assert_int_equal(a->category, b->category);
}

static inline void assert_embedding_equal(const struct tt_embedding_rec *a,
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

#endif
