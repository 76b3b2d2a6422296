/*
 * Unit tests of schemas/tt_modelrec: the payload layouts (golden HEADER bytes
 * from Python's struct, round trips, chunk limits, every truncation), the
 * COMMIT digest, and a whole model published through tt_codec, shuffled as a
 * compacted topic may deliver it, and reassembled bit for bit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_crc32c.h"
#include "common/tt_rng.h"
#include "schemas/tt_codec.h"
#include "schemas/tt_modelrec.h"

/* Written by Python: struct.pack('<IIIIIIQQIIqq', 1, 3, 64, 16, 100, 10,
 * 1000, 50, 4, 2, 1700000000123, 1699999999000) + pack('<iq', 0, 12345) +
 * pack('<iq', 1, -1). */
static const uint8_t golden_header[88] = {
    0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00,
    0x10, 0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00,
    0xe8, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x32, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
    0x7b, 0x68, 0xe5, 0xcf, 0x8b, 0x01, 0x00, 0x00, 0x18, 0x64, 0xe5, 0xcf,
    0x8b, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x39, 0x30, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff};

static void test_header(void **state)
{
    const struct tt_modelrec_cutoff cuts[2] = {{0, 12345}, {1, -1}};
    struct tt_modelrec_header h = {
        .flags = TT_MODELREC_FLAG_PLUS | TT_MODELREC_FLAG_FEATURES,
        .dim = 64, .feature_dim = 16, .tstar = 100, .k = 10, .n_items = 1000,
        .n_users = 50, .n_dense = 4, .n_cutoffs = 2,
        .created_ms = INT64_C(1700000000123),
        .cutoff_ms = INT64_C(1699999999000), .cutoffs = cuts};
    struct tt_modelrec_header p;
    struct tt_modelrec_cutoff c;
    uint8_t buf[200], bad[200];
    char errstr[256];
    size_t n;

    (void)state;
    assert_int_equal(tt_modelrec_header_build(&h, buf, sizeof(buf), &n,
                                              errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(n, sizeof(golden_header));
    assert_memory_equal(buf, golden_header, n);
    assert_int_equal(tt_modelrec_header_parse(golden_header, n, &p, errstr,
                                              sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(p.layout, 1);
    assert_int_equal(p.flags, h.flags);
    assert_int_equal(p.dim, 64);
    assert_int_equal(p.feature_dim, 16);
    assert_int_equal(p.tstar, 100);
    assert_int_equal(p.k, 10);
    assert_true(p.n_items == 1000 && p.n_users == 50 && p.n_dense == 4);
    assert_true(p.created_ms == h.created_ms && p.cutoff_ms == h.cutoff_ms);
    assert_int_equal(p.n_cutoffs, 2);
    c = tt_modelrec_header_cutoff(&p, 1);
    assert_int_equal(c.partition, 1);
    assert_true(c.offset == -1);
    c = tt_modelrec_header_cutoff(&p, 0);
    assert_true(c.partition == 0 && c.offset == 12345);

    for (size_t k = 0; k < n; k++)
        assert_int_not_equal(tt_modelrec_header_parse(buf, k, &p, errstr,
                                                      sizeof(errstr)),
                             TT_ERR_OK);
    memcpy(bad, buf, n);
    bad[0] = 2;
    assert_int_equal(tt_modelrec_header_parse(bad, n, &p, errstr,
                                              sizeof(errstr)),
                     TT_ERR_VERSION);
    memcpy(bad, buf, n);
    bad[6] = 1; /* flag bit 16 */
    assert_int_equal(tt_modelrec_header_parse(bad, n, &p, errstr,
                                              sizeof(errstr)),
                     TT_ERR_PARSE);
    memcpy(bad, buf, n);
    bad[44] = 3; /* 3 cutoffs in room for 2 */
    assert_int_equal(tt_modelrec_header_parse(bad, n, &p, errstr,
                                              sizeof(errstr)),
                     TT_ERR_PARSE);
    memcpy(bad, buf, n);
    bad[47] = 0xff; /* 4 billion cutoffs: no overflow, just an error */
    assert_int_equal(tt_modelrec_header_parse(bad, n, &p, errstr,
                                              sizeof(errstr)),
                     TT_ERR_PARSE);
    assert_int_equal(tt_modelrec_header_build(&h, buf, n - 1, &n, errstr,
                                              sizeof(errstr)),
                     TT_ERR_OVERFLOW);
    h.flags = 4;
    assert_int_equal(tt_modelrec_header_build(&h, buf, sizeof(buf), &n,
                                              errstr, sizeof(errstr)),
                     TT_ERR_RANGE);
}

static void test_dense(void **state)
{
    static uint8_t buf[TT_MODELREC_MAX_PAYLOAD + 8];
    static float v[TT_MODELREC_MAX_PAYLOAD / 4], got[16];
    struct tt_modelrec_dense d;
    uint32_t per = tt_modelrec_dense_per_chunk(8);
    char errstr[256];
    size_t n;

    (void)state;
    for (uint32_t i = 0; i < 16; i++)
        v[i] = (float)i - 7.5f;
    assert_int_equal(tt_modelrec_dense_build("gru1.W_z", 4, 4, 0, v, 16, buf,
                                             sizeof(buf), &n, errstr,
                                             sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(n, 22 + 8 + 64);
    assert_int_equal(tt_modelrec_dense_parse(buf, n, &d, errstr,
                                             sizeof(errstr)),
                     TT_ERR_OK);
    assert_string_equal(d.name, "gru1.W_z");
    assert_true(d.rows == 4 && d.cols == 4 && d.first == 0 && d.count == 16);
    tt_modelrec_floats_get(got, d.values, d.count);
    assert_memory_equal(got, v, 64);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(tt_modelrec_dense_parse(buf, k, &d, errstr,
                                                 sizeof(errstr)),
                         TT_ERR_PARSE);
    /* The largest slice fits in one record; one more float does not. */
    assert_int_equal(tt_modelrec_dense_build("gru1.W_z", 100000, 100, 7, v,
                                             per, buf, sizeof(buf), &n,
                                             errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_true(n <= TT_MODELREC_MAX_PAYLOAD);
    assert_int_equal(tt_modelrec_dense_build("gru1.W_z", 100000, 100, 7, v,
                                             per + 1, buf, sizeof(buf), &n,
                                             errstr, sizeof(errstr)),
                     TT_ERR_RANGE);
    /* Slices outside the tensor, bad names. */
    assert_int_equal(tt_modelrec_dense_build("psi", 1, 64, 60, v, 5, buf,
                                             sizeof(buf), &n, errstr,
                                             sizeof(errstr)),
                     TT_ERR_RANGE);
    assert_int_equal(tt_modelrec_dense_build("a b", 1, 1, 0, v, 1, buf,
                                             sizeof(buf), &n, errstr,
                                             sizeof(errstr)),
                     TT_ERR_INVAL);
    assert_int_equal(tt_modelrec_dense_build("", 1, 1, 0, v, 1, buf,
                                             sizeof(buf), &n, errstr,
                                             sizeof(errstr)),
                     TT_ERR_INVAL);
    assert_int_equal(tt_modelrec_dense_build("psi", 1, 1, 0, v, 1, buf, 20,
                                             &n, errstr, sizeof(errstr)),
                     TT_ERR_OVERFLOW);
    /* A parsed slice must lie inside rows x cols too. */
    assert_int_equal(tt_modelrec_dense_build("psi", 1, 4, 0, v, 4, buf,
                                             sizeof(buf), &n, errstr,
                                             sizeof(errstr)),
                     TT_ERR_OK);
    buf[2 + 3 + 4 + 4] = 1; /* first = 1 */
    assert_int_equal(tt_modelrec_dense_parse(buf, n, &d, errstr,
                                             sizeof(errstr)),
                     TT_ERR_PARSE);
}

static void test_rows(void **state)
{
    static uint8_t buf[TT_MODELREC_MAX_PAYLOAD];
    static int64_t ids[20000];
    static float vecs[20000 * 64], got[64];
    uint32_t per = tt_modelrec_rows_per_chunk(64);
    struct tt_modelrec_rows r;
    struct tt_rng rng;
    char errstr[256];
    int64_t id;
    size_t n;

    (void)state;
    tt_rng_seed(&rng, 12, 0);
    assert_true(per > 3000 && per < 20000);
    for (uint32_t i = 0; i < per; i++) {
        ids[i] = (int64_t)tt_rng_next(&rng);
        for (int k = 0; k < 64; k++)
            vecs[(size_t)i * 64 + k] = (float)tt_rng_normal(&rng);
    }
    assert_int_equal(tt_modelrec_rows_build(64, ids, vecs, per, buf,
                                            sizeof(buf), &n, errstr,
                                            sizeof(errstr)),
                     TT_ERR_OK);
    assert_true(n <= TT_MODELREC_MAX_PAYLOAD);
    assert_true(n + 8 + 4 * 64 > TT_MODELREC_MAX_PAYLOAD); /* tight */
    assert_int_equal(tt_modelrec_rows_parse(buf, n, &r, errstr,
                                            sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(r.n_rows, per);
    for (uint32_t i = 0; i < per; i += 97) {
        tt_modelrec_rows_get(&r, i, &id, got);
        assert_true(id == ids[i]);
        assert_memory_equal(got, vecs + (size_t)i * 64, 256);
    }
    assert_int_equal(tt_modelrec_rows_build(64, ids, vecs, per + 1, buf,
                                            sizeof(buf), &n, errstr,
                                            sizeof(errstr)),
                     TT_ERR_RANGE);
    assert_int_equal(tt_modelrec_rows_build(0, ids, vecs, 1, buf, sizeof(buf),
                                            &n, errstr, sizeof(errstr)),
                     TT_ERR_RANGE);
    assert_int_equal(tt_modelrec_rows_per_chunk(0), 0);
    assert_int_equal(tt_modelrec_rows_per_chunk(TT_MODELREC_MAX_ROW_DIM + 1),
                     0);
    assert_int_equal(tt_modelrec_rows_build(3, ids, vecs, 2, buf, sizeof(buf),
                                            &n, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(n, 8 + 2 * 20);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(tt_modelrec_rows_parse(buf, k, &r, errstr,
                                                sizeof(errstr)),
                         TT_ERR_PARSE);
    buf[4] = 0xff; /* n_rows 255 */
    assert_int_equal(tt_modelrec_rows_parse(buf, n, &r, errstr,
                                            sizeof(errstr)),
                     TT_ERR_PARSE);
}

/* ---- a whole model through the codec ---- */

#define N_ITEMS 7000
#define N_USERS 300
#define DIM 64
#define DENSE_N 300000 /* more than one record's worth of floats */
#define MAX_MSGS 64

struct published {
    uint8_t *msg[MAX_MSGS];
    size_t len[MAX_MSGS];
    int n;
};

static void publish(tt_codec_t *codec, struct published *out,
                    enum tt_modelrec_kind kind, int64_t version, int32_t seq,
                    const uint8_t *payload, size_t len,
                    struct tt_modelrec_digest *dg)
{
    struct tt_modelrec r = {kind, version, seq, payload, len, 0};
    char errstr[256];

    assert_true(out->n < MAX_MSGS);
    out->msg[out->n] = malloc(TT_CODEC_MODELREC_MAX(len));
    assert_non_null(out->msg[out->n]);
    assert_int_equal(tt_codec_encode_modelrec(
                         codec, &r, out->msg[out->n],
                         TT_CODEC_MODELREC_MAX(len), &out->len[out->n],
                         errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_true(out->len[out->n] <= TT_MODELREC_MAX_RECORD);
    if (kind != TT_MODELREC_COMMIT)
        assert_int_equal(tt_modelrec_digest_add(
                             dg, kind, seq, tt_crc32c(0, payload, len),
                             len, errstr, sizeof(errstr)),
                         TT_ERR_OK);
    out->n++;
}

static void test_publish_and_assemble(void **state)
{
    static uint8_t payload[TT_MODELREC_MAX_PAYLOAD];
    static int64_t item_ids[N_ITEMS], user_ids[N_USERS];
    static float items[N_ITEMS * DIM], users[N_USERS * DIM];
    static float dense[DENSE_N], got_dense[DENSE_N], got_items[N_ITEMS * DIM];
    static bool seen[MAX_MSGS];
    static const struct tt_modelrec *by_seq[MAX_MSGS];
    static struct tt_modelrec recs[MAX_MSGS];
    struct tt_modelrec_header h = {.dim = DIM, .tstar = 100, .k = 10,
                                   .n_items = N_ITEMS, .n_users = N_USERS,
                                   .n_dense = 1};
    struct tt_modelrec_digest pub, rd;
    struct tt_modelrec_commit commit;
    struct tt_modelrec_rows rows;
    struct tt_modelrec_dense dslice;
    struct published out = {0};
    tt_codec_t *codec;
    struct tt_rng rng;
    char errstr[256];
    int32_t seq = 0;
    uint32_t per, got_rows = 0;
    size_t n;

    (void)state;
    assert_int_equal(tt_codec_new(&codec, errstr, sizeof(errstr)), TT_ERR_OK);
    tt_rng_seed(&rng, 13, 0);
    for (int i = 0; i < N_ITEMS; i++)
        item_ids[i] = (int64_t)(tt_rng_next(&rng) >> 1);
    for (int i = 0; i < N_USERS; i++)
        user_ids[i] = i;
    for (size_t i = 0; i < (size_t)N_ITEMS * DIM; i++)
        items[i] = (float)tt_rng_normal(&rng);
    for (size_t i = 0; i < (size_t)N_USERS * DIM; i++)
        users[i] = (float)tt_rng_normal(&rng);
    for (size_t i = 0; i < DENSE_N; i++)
        dense[i] = (float)tt_rng_uniform(&rng);

    /* Publisher: HEADER, DENSE slices, ITEMS and USERS chunks, COMMIT. */
    tt_modelrec_digest_init(&pub);
    assert_int_equal(tt_modelrec_header_build(&h, payload, sizeof(payload),
                                              &n, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    publish(codec, &out, TT_MODELREC_HEADER, 7, seq++, payload, n, &pub);
    per = tt_modelrec_dense_per_chunk(3);
    for (uint32_t first = 0; first < DENSE_N; first += per) {
        uint32_t cnt = DENSE_N - first < per ? DENSE_N - first : per;

        assert_int_equal(tt_modelrec_dense_build("psi", 1, DENSE_N, first,
                                                 dense + first, cnt, payload,
                                                 sizeof(payload), &n, errstr,
                                                 sizeof(errstr)),
                         TT_ERR_OK);
        publish(codec, &out, TT_MODELREC_DENSE, 7, seq++, payload, n, &pub);
    }
    per = tt_modelrec_rows_per_chunk(DIM);
    for (uint32_t i = 0; i < N_ITEMS; i += per) {
        uint32_t cnt = N_ITEMS - i < per ? N_ITEMS - i : per;

        assert_int_equal(tt_modelrec_rows_build(DIM, item_ids + i,
                                                items + (size_t)i * DIM, cnt,
                                                payload, sizeof(payload), &n,
                                                errstr, sizeof(errstr)),
                         TT_ERR_OK);
        publish(codec, &out, TT_MODELREC_ITEMS, 7, seq++, payload, n, &pub);
    }
    assert_int_equal(tt_modelrec_rows_build(DIM, user_ids, users, N_USERS,
                                            payload, sizeof(payload), &n,
                                            errstr, sizeof(errstr)),
                     TT_ERR_OK);
    publish(codec, &out, TT_MODELREC_USERS, 7, seq++, payload, n, &pub);
    assert_int_equal(tt_modelrec_commit_build(&pub, payload, sizeof(payload),
                                              &n, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    publish(codec, &out, TT_MODELREC_COMMIT, 7, seq, payload, n, &pub);
    assert_true(out.n > 5);

    /* Reader: messages arrive shuffled; collect by seq, verify, rebuild. */
    for (int i = out.n - 1; i > 0; i--) {
        int j = (int)tt_rng_below(&rng, (uint64_t)i + 1);
        uint8_t *m = out.msg[i];
        size_t l = out.len[i];

        out.msg[i] = out.msg[j];
        out.len[i] = out.len[j];
        out.msg[j] = m;
        out.len[j] = l;
    }
    for (int i = 0; i < out.n; i++) {
        assert_int_equal(tt_codec_decode_modelrec(codec, out.msg[i],
                                                  out.len[i], &recs[i],
                                                  errstr, sizeof(errstr)),
                         TT_ERR_OK);
        assert_true(recs[i].model_version == 7);
        assert_false(seen[recs[i].seq]);
        seen[recs[i].seq] = true;
        by_seq[recs[i].seq] = &recs[i];
    }
    assert_int_equal(by_seq[seq]->kind, TT_MODELREC_COMMIT);
    assert_int_equal(tt_modelrec_commit_parse(by_seq[seq]->payload,
                                              by_seq[seq]->payload_len,
                                              &commit, errstr,
                                              sizeof(errstr)),
                     TT_ERR_OK);
    tt_modelrec_digest_init(&rd);
    for (int32_t s = 0; s < seq; s++) {
        const struct tt_modelrec *r = by_seq[s];

        assert_int_equal(tt_modelrec_digest_add(&rd, r->kind, s,
                                                r->payload_crc32c,
                                                r->payload_len, errstr,
                                                sizeof(errstr)),
                         TT_ERR_OK);
        if (r->kind == TT_MODELREC_DENSE) {
            assert_int_equal(tt_modelrec_dense_parse(r->payload,
                                                     r->payload_len, &dslice,
                                                     errstr, sizeof(errstr)),
                             TT_ERR_OK);
            tt_modelrec_floats_get(got_dense + dslice.first, dslice.values,
                                   dslice.count);
        } else if (r->kind == TT_MODELREC_ITEMS) {
            assert_int_equal(tt_modelrec_rows_parse(r->payload,
                                                    r->payload_len, &rows,
                                                    errstr, sizeof(errstr)),
                             TT_ERR_OK);
            for (uint32_t i = 0; i < rows.n_rows; i++, got_rows++) {
                int64_t id;

                tt_modelrec_rows_get(&rows, i, &id,
                                     got_items + (size_t)got_rows * DIM);
                assert_true(id == item_ids[got_rows]);
            }
        }
    }
    assert_int_equal(tt_modelrec_commit_check(&rd, &commit, errstr,
                                              sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(got_rows, N_ITEMS);
    assert_memory_equal(got_items, items, sizeof(items));
    assert_memory_equal(got_dense, dense, sizeof(dense));

    /* A reader missing the last chunk, or with two chunks swapped, fails. */
    tt_modelrec_digest_init(&rd);
    for (int32_t s = 0; s < seq - 1; s++)
        tt_modelrec_digest_add(&rd, by_seq[s]->kind, s,
                               by_seq[s]->payload_crc32c,
                               by_seq[s]->payload_len, NULL, 0);
    assert_int_equal(tt_modelrec_commit_check(&rd, &commit, errstr,
                                              sizeof(errstr)),
                     TT_ERR_CORRUPT);
    tt_modelrec_digest_init(&rd);
    for (int32_t s = 0; s < seq; s++) {
        int32_t from = s == 1 ? 2 : s == 2 ? 1 : s;

        tt_modelrec_digest_add(&rd, by_seq[from]->kind, s,
                               by_seq[from]->payload_crc32c,
                               by_seq[from]->payload_len, NULL, 0);
    }
    assert_int_equal(tt_modelrec_commit_check(&rd, &commit, errstr,
                                              sizeof(errstr)),
                     TT_ERR_CORRUPT);
    /* Out-of-order adds and COMMIT inside the digest are refused. */
    assert_int_equal(tt_modelrec_digest_add(&rd, TT_MODELREC_ITEMS, 0, 0, 0,
                                            errstr, sizeof(errstr)),
                     TT_ERR_RANGE);
    assert_int_equal(tt_modelrec_digest_add(&rd, TT_MODELREC_COMMIT,
                                            (int32_t)rd.n_records, 0, 0,
                                            errstr, sizeof(errstr)),
                     TT_ERR_RANGE);
    assert_int_equal(tt_modelrec_commit_parse(payload, 15, &commit, errstr,
                                              sizeof(errstr)),
                     TT_ERR_PARSE);

    for (int i = 0; i < out.n; i++)
        free(out.msg[i]);
    tt_codec_destroy(codec);
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(tt_modelrec_kind_name(TT_MODELREC_HEADER), "HEADER");
    assert_string_equal(tt_modelrec_kind_name(TT_MODELREC_COMMIT), "COMMIT");
    assert_string_equal(tt_modelrec_kind_name(TT_MODELREC__KINDS), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_dense),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_publish_and_assemble),
        cmocka_unit_test(test_kind_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
