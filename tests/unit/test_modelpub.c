/*
 * Unit tests of producers/tt_modelpub (a model as ModelRecords) and the
 * assembler of consumers/tt_modelsub, without a broker:
 *  - round trip bit for bit: the assembled model saves to exactly the bytes
 *    of the canonical form of the published one (all shapes: 2TS-Plus or
 *    not, features, GRU baseline, sliding window, 64-bit seeds, cutoffs), in any record
 *    order across partitions;
 *  - chunking: no record over the limit, USERS chunks on the partition
 *    their users hash to, stable keys;
 *  - a partial version (no COMMIT, or a missing record) is never used; a
 *    corrupted chunk or a record with a valid CRC but other content (digest)
 *    rejects its version for good; older versions and tombstones are
 *    ignored; a later good version is still used.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"
#include "consumers/tt_modelsub.h"
#include "model/tt_model.h"
#include "model/tt_model_int.h"
#include "producers/tt_modelpub.h"
#include "producers/tt_ukey.h"
#include "schemas/tt_codec.h"

struct shape {
    uint32_t dim, feature_dim, n_items, n_users, n_cutoffs;
    uint32_t flags;
    uint64_t seed;
};

static tt_model_t *make_model(const struct shape *sh, uint64_t rng_seed)
{
    struct tt_model_parts parts;
    struct tt_rng rng;
    bool plus = sh->flags & TT_MODEL_FLAG_PLUS;
    size_t nd = tt_model_dense_floats(sh->dim, plus);
    float *dense = malloc(nd * sizeof(float));
    float *items = malloc(((size_t)sh->n_items * sh->dim + 1) * sizeof(float));
    float *phi = malloc(((size_t)sh->n_users * sh->dim + 1) * sizeof(float));
    int64_t *iid = malloc((sh->n_items + 1) * sizeof(int64_t));
    int64_t *uid = malloc((sh->n_users + 1) * sizeof(int64_t));
    struct tt_model_cutoff cuts[8];
    tt_model_t *m = NULL;
    char err[256];

    assert_true(dense && items && phi && iid && uid);
    tt_rng_seed(&rng, rng_seed, 1);
    for (size_t i = 0; i < nd; i++)
        dense[i] = (float)tt_rng_normal(&rng);
    for (size_t i = 0; i < (size_t)sh->n_items * sh->dim; i++)
        items[i] = (float)tt_rng_normal(&rng);
    for (size_t i = 0; i < (size_t)sh->n_users * sh->dim; i++)
        phi[i] = (float)tt_rng_normal(&rng);
    /* ids: distinct, scattered, some large */
    for (uint32_t i = 0; i < sh->n_items; i++)
        iid[i] = (int64_t)i * 7919 + (i % 3 ? 0 : INT64_C(1) << 40);
    for (uint32_t i = 0; i < sh->n_users; i++)
        uid[i] = (int64_t)(sh->n_users - i) * 104729 + 3;
    for (uint32_t i = 0; i < sh->n_cutoffs; i++) {
        cuts[i].partition = (int32_t)(2 * i);
        cuts[i].offset = (int64_t)i * 1000 + 17;
    }
    memset(&parts, 0, sizeof(parts));
    parts.dim = sh->dim;
    parts.tstar = 5;
    parts.k = 3;
    parts.flags = sh->flags;
    parts.feature_dim = sh->feature_dim;
    parts.version = 1;
    parts.seed = sh->seed;
    parts.cutoff_ts_ms = INT64_C(1700000000123);
    parts.n_items = sh->n_items;
    parts.item_ids = iid;
    parts.items = items;
    parts.n_active = sh->n_users;
    parts.user_ids = uid;
    parts.phi = phi;
    parts.dense = dense;
    parts.n_cutoffs = sh->n_cutoffs;
    parts.cutoffs = cuts;
    if (tt_model_build(&m, &parts, err, sizeof(err)))
        fail_msg("model: %s", err);
    free(dense);
    free(items);
    free(phi);
    free(iid);
    free(uid);
    return m;
}

/* The records of one publication, copied. */
struct rec {
    enum tt_modelrec_kind kind;
    int32_t seq, partition;
    char key[TT_MODELPUB_KEY_MAX];
    uint8_t *value;
    size_t len;
};

struct recs {
    struct rec *r;
    size_t n, cap;
};

static tt_err_t collect(void *ctx, const struct tt_modelpub_rec *r,
                        char *errstr, size_t errstr_size)
{
    struct recs *rs = ctx;
    struct rec *x;

    (void)errstr;
    (void)errstr_size;
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? 2 * rs->cap : 16;
        rs->r = realloc(rs->r, rs->cap * sizeof(*rs->r));
        assert_non_null(rs->r);
    }
    x = &rs->r[rs->n++];
    x->kind = r->kind;
    x->seq = r->seq;
    x->partition = r->partition;
    memcpy(x->key, r->key, sizeof(x->key));
    x->value = malloc(r->value_len);
    assert_non_null(x->value);
    memcpy(x->value, r->value, r->value_len);
    x->len = r->value_len;
    return TT_ERR_OK;
}

static void recs_free(struct recs *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        free(rs->r[i].value);
    free(rs->r);
    memset(rs, 0, sizeof(*rs));
}

static void publish(const tt_model_t *m, uint64_t version, int32_t parts,
                    struct recs *rs, struct tt_modelpub_summary *sum)
{
    char err[256];

    memset(rs, 0, sizeof(*rs));
    if (tt_modelpub_records(m, version, parts, 42, collect, rs, sum, err,
                            sizeof(err)))
        fail_msg("records: %s", err);
}

/* Feeds records in the order idx[] (all when idx is NULL); returns the
 * model completed on the way (at most one expected). */
static tt_model_t *feed(tt_modelsub_asm_t *a, const struct recs *rs,
                        const size_t *idx, size_t n, int *n_errors)
{
    tt_model_t *got = NULL;

    *n_errors = 0;
    for (size_t k = 0; k < n; k++) {
        const struct rec *r = &rs->r[idx ? idx[k] : k];
        tt_model_t *m = NULL;
        char err[512];

        if (tt_modelsub_asm_add(a, r->value, r->len, &m, err, sizeof(err)))
            (*n_errors)++;
        if (m) {
            assert_null(got);
            got = m;
        }
    }
    return got;
}

static void assert_same_bytes(const tt_model_t *a, const tt_model_t *b)
{
    uint8_t *ba, *bb;
    size_t la, lb;

    assert_int_equal(tt_model_save_buf(a, &ba, &la), TT_ERR_OK);
    assert_int_equal(tt_model_save_buf(b, &bb, &lb), TT_ERR_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    free(ba);
    free(bb);
}

static void round_trip_shape(const struct shape *sh, int32_t parts,
                             bool shuffle)
{
    tt_model_t *m = make_model(sh, sh->dim + sh->n_items), *canon, *got;
    tt_modelsub_asm_t *a;
    struct tt_modelpub_summary sum;
    struct tt_modelsub_stats st;
    struct recs rs;
    size_t *idx;
    char err[256];
    int errors;

    assert_int_equal(tt_modelpub_canonical(&canon, m, parts, err,
                                           sizeof(err)),
                     TT_ERR_OK);
    tt_model_set_version(canon, 9);
    publish(m, 9, parts, &rs, &sum);
    assert_int_equal(sum.records, rs.n);
    assert_true(sum.max_value <= TT_MODELREC_MAX_RECORD);
    assert_int_equal(rs.r[0].kind, TT_MODELREC_HEADER);
    assert_int_equal(rs.r[rs.n - 1].kind, TT_MODELREC_COMMIT);
    idx = malloc(rs.n * sizeof(*idx));
    assert_non_null(idx);
    for (size_t i = 0; i < rs.n; i++)
        idx[i] = i;
    if (shuffle) {
        /* another partition order, the COMMIT not last */
        struct tt_rng rng;

        tt_rng_seed(&rng, 5, 5);
        for (size_t i = rs.n - 1; i > 0; i--) {
            size_t j = (size_t)tt_rng_below(&rng, i + 1), t = idx[i];

            idx[i] = idx[j];
            idx[j] = t;
        }
    }
    assert_int_equal(tt_modelsub_asm_new(&a, 0, err, sizeof(err)), TT_ERR_OK);
    got = feed(a, &rs, idx, rs.n, &errors);
    assert_int_equal(errors, 0);
    assert_non_null(got);
    assert_same_bytes(got, canon);
    /* the canonical form looks up like the original */
    for (uint32_t i = 0; i < sh->n_users; i++) {
        int64_t id = (int64_t)(sh->n_users - i) * 104729 + 3;

        assert_memory_equal(tt_model_phi(m, id), tt_model_phi(got, id),
                            sh->dim * sizeof(float));
    }
    tt_modelsub_asm_stats(a, &st);
    assert_int_equal(st.versions_ok, 1);
    assert_int_equal(st.current_version, 9);
    assert_int_equal(st.buffered_bytes, 0);
    tt_model_destroy(got);
    /* the same again: ignored (not newer) */
    got = feed(a, &rs, NULL, rs.n, &errors);
    assert_null(got);
    tt_modelsub_asm_stats(a, &st);
    assert_int_equal(st.ignored, rs.n);
    tt_modelsub_asm_destroy(a);
    free(idx);
    recs_free(&rs);
    tt_model_destroy(canon);
    tt_model_destroy(m);
}

static void round_trip(void **state)
{
    static const struct shape shapes[] = {
        {8, 0, 30, 20, 2, TT_MODEL_FLAG_PLUS, 42},
        {8, 0, 30, 0, 0, 0, UINT64_C(0xfedcba9876543210)},
        {12, 4, 17, 9, 3, TT_MODEL_FLAG_PLUS | TT_MODEL_FLAG_FEATURES, 7},
        {6, 0, 11, 0, 1, TT_MODEL_FLAG_GRU_ALL, 1},
        {8, 0, 12, 5, 4, TT_MODEL_FLAG_PLUS | TT_MODEL_FLAG_WINDOW, 3},
        {8, 0, 12, 5, 4, TT_MODEL_FLAG_PLUS | TT_MODEL_FLAGS_HOP(2), 5},
        {1, 0, 1, 1, 0, 0, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        round_trip_shape(&shapes[i], 4, false);
        round_trip_shape(&shapes[i], 3, true);
        round_trip_shape(&shapes[i], 1, true);
    }
}

/* A catalogue and user base that need many chunks of each kind; the dense
 * tensors (D = 300: cells of 541k floats) too. */
static void chunking(void **state)
{
    struct shape sh = {300, 0, 9000, 7000, 4, TT_MODEL_FLAG_PLUS, 3};
    tt_model_t *m = make_model(&sh, 11), *got, *canon;
    tt_modelsub_asm_t *a;
    struct tt_modelpub_summary sum;
    struct recs rs;
    tt_codec_t *codec;
    uint32_t n_users_rec = 0, n_items_rec = 0, n_dense = 0;
    char err[256];
    int errors;

    (void)state;
    publish(m, 3, 4, &rs, &sum);
    assert_int_equal(tt_codec_new(&codec, err, sizeof(err)), TT_ERR_OK);
    for (size_t i = 0; i < rs.n; i++) {
        struct tt_modelrec rec;
        struct tt_modelrec_rows rows;

        assert_true(rs.r[i].len <= TT_MODELREC_MAX_RECORD);
        assert_int_equal((size_t)rs.r[i].seq, i);
        for (size_t j = 0; j < i; j++)
            assert_false(rs.r[j].partition == rs.r[i].partition &&
                         !strcmp(rs.r[j].key, rs.r[i].key));
        assert_int_equal(tt_codec_decode_modelrec(codec, rs.r[i].value,
                                                  rs.r[i].len, &rec, err,
                                                  sizeof(err)),
                         TT_ERR_OK);
        switch (rec.kind) {
        case TT_MODELREC_USERS:
            n_users_rec++;
            assert_int_equal(tt_modelrec_rows_parse(rec.payload,
                                                    rec.payload_len, &rows,
                                                    err, sizeof(err)),
                             TT_ERR_OK);
            for (uint32_t r = 0; r < rows.n_rows; r++) {
                int64_t id;
                float v[300];

                tt_modelrec_rows_get(&rows, r, &id, v);
                assert_int_equal(tt_ukey_user_partition(id, 4),
                                 rs.r[i].partition);
            }
            assert_int_equal(rs.r[i].key[0], 'U');
            break;
        case TT_MODELREC_ITEMS:
            n_items_rec++;
            assert_int_equal(rs.r[i].partition, 0);
            break;
        case TT_MODELREC_DENSE:
            n_dense++;
            assert_int_equal(rs.r[i].partition, 0);
            break;
        default:
            assert_int_equal(rs.r[i].partition, 0);
        }
    }
    /* 9000 x 1208 B rows: 12 item chunks; 7000 users: >= 4 chunks */
    assert_int_equal(n_items_rec, 12);
    assert_true(n_users_rec >= 12);
    assert_int_equal(sum.users, n_users_rec);
    assert_true(n_dense > 10);
    tt_codec_destroy(codec);
    assert_int_equal(tt_modelsub_asm_new(&a, 2, err, sizeof(err)), TT_ERR_OK);
    got = feed(a, &rs, NULL, rs.n, &errors);
    assert_int_equal(errors, 0);
    assert_non_null(got);
    assert_int_equal(tt_modelpub_canonical(&canon, m, 4, err, sizeof(err)),
                     TT_ERR_OK);
    tt_model_set_version(canon, 3);
    assert_same_bytes(got, canon);
    tt_model_destroy(canon);
    tt_model_destroy(got);
    tt_modelsub_asm_destroy(a);
    recs_free(&rs);
    tt_model_destroy(m);
}

static const struct shape small = {8, 0, 40, 25, 2, TT_MODEL_FLAG_PLUS, 42};

static void partial_versions(void **state)
{
    tt_model_t *m = make_model(&small, 1), *got;
    tt_modelsub_asm_t *a;
    struct tt_modelsub_stats st;
    struct recs rs, rs6, rs7;
    char err[256];
    int errors;

    (void)state;
    publish(m, 5, 2, &rs, NULL);
    assert_true(rs.n >= 5);
    assert_int_equal(tt_modelsub_asm_new(&a, 0, err, sizeof(err)), TT_ERR_OK);
    publish(m, 6, 2, &rs6, NULL);
    publish(m, 7, 2, &rs7, NULL);
    /* everything but the COMMIT: never used; dropped (superseded) when a
     * newer version completes */
    got = feed(a, &rs, NULL, rs.n - 1, &errors);
    assert_null(got);
    assert_false(tt_modelsub_asm_waiting(a));
    tt_modelsub_asm_stats(a, &st);
    assert_true(st.buffered_bytes > 0);
    assert_int_equal(st.versions_ok, 0);
    /* version 6 with its COMMIT but one record missing: waiting */
    {
        size_t idx[256], n = 0;

        assert_true(rs6.n < 256);
        for (size_t i = 0; i < rs6.n; i++)
            if (i != 2)
                idx[n++] = i;
        got = feed(a, &rs6, idx, n, &errors);
        assert_null(got);
        assert_true(tt_modelsub_asm_waiting(a));
        /* version 7 needs room: the oldest (5, no COMMIT) is dropped */
        got = feed(a, &rs7, NULL, 1, &errors);
        assert_null(got);
        tt_modelsub_asm_stats(a, &st);
        assert_int_equal(st.versions_superseded, 1);
        assert_true(strstr(st.last_drop, "version 5") != NULL);
        /* version 7 completes: 6 is dropped as incomplete */
        got = feed(a, &rs7, NULL, rs7.n, &errors);
        assert_non_null(got);
        tt_model_destroy(got);
        tt_modelsub_asm_stats(a, &st);
        assert_int_equal(st.versions_incomplete, 1);
        assert_true(strstr(st.last_drop, "version 6") != NULL);
        assert_int_equal(st.buffered_bytes, 0);
        assert_false(tt_modelsub_asm_waiting(a));
        /* version 6's missing record arrives too late: never used */
        idx[0] = 2;
        got = feed(a, &rs6, idx, 1, &errors);
        assert_null(got);
    }
    tt_modelsub_asm_destroy(a);
    /* the missing record coming late (markers reaching a partition after
     * the COMMIT's) completes the version */
    {
        size_t idx[256], n = 0;

        for (size_t i = 0; i < rs6.n; i++)
            if (i != 2)
                idx[n++] = i;
        idx[n++] = 2;
        assert_int_equal(tt_modelsub_asm_new(&a, 0, err, sizeof(err)),
                         TT_ERR_OK);
        got = feed(a, &rs6, idx, n - 1, &errors);
        assert_null(got);
        assert_true(tt_modelsub_asm_waiting(a));
        got = feed(a, &rs6, idx + n - 1, 1, &errors);
        assert_non_null(got);
        tt_model_destroy(got);
        tt_modelsub_asm_destroy(a);
    }
    recs_free(&rs);
    recs_free(&rs6);
    recs_free(&rs7);
    tt_model_destroy(m);
}

static void corrupt_versions(void **state)
{
    tt_model_t *m = make_model(&small, 2), *m2 = make_model(&small, 3), *got;
    tt_modelsub_asm_t *a;
    struct tt_modelsub_stats st;
    struct recs rs, rs2, rs_other;
    tt_codec_t *codec;
    char err[256];
    int errors;

    (void)state;
    publish(m, 5, 2, &rs, NULL);
    publish(m2, 6, 2, &rs2, NULL);
    /* a flipped bit inside a chunk's payload: CRC fails, version 5 is
     * rejected; its other records and COMMIT never make it usable */
    rs.r[1].value[rs.r[1].len / 2] ^= 0x10;
    assert_int_equal(tt_modelsub_asm_new(&a, 0, err, sizeof(err)), TT_ERR_OK);
    got = feed(a, &rs, NULL, rs.n, &errors);
    assert_null(got);
    assert_int_equal(errors, 1);
    tt_modelsub_asm_stats(a, &st);
    assert_int_equal(st.bad_records, 1);
    assert_int_equal(st.versions_rejected, 1);
    assert_int_equal(st.max_version, 5);
    assert_true(strstr(st.last_reject, "CRC") != NULL);
    assert_int_equal(st.buffered_bytes, 0);
    /* the next version is fine */
    got = feed(a, &rs2, NULL, rs2.n, &errors);
    assert_non_null(got);
    tt_model_destroy(got);
    tt_modelsub_asm_destroy(a);

    /* a record with a valid CRC but content of another model: the COMMIT
     * digest does not match */
    publish(m2, 5, 2, &rs_other, NULL);
    assert_int_equal(tt_codec_new(&codec, err, sizeof(err)), TT_ERR_OK);
    rs.r[1].value[rs.r[1].len / 2] ^= 0x10; /* undo */
    {
        size_t idx[256], n = 0;

        for (size_t i = 0; i < rs.n; i++)
            idx[n++] = i;
        assert_int_equal(tt_modelsub_asm_new(&a, 0, err, sizeof(err)),
                         TT_ERR_OK);
        /* record 3 from the other model, same version and seq */
        feed(a, &rs_other, idx + 3, 1, &errors);
        idx[3] = idx[--n];
        got = feed(a, &rs, idx, n, &errors);
        assert_null(got);
        assert_int_equal(errors, 1);
        tt_modelsub_asm_stats(a, &st);
        assert_int_equal(st.versions_rejected, 1);
        assert_true(strstr(st.last_reject, "digest") != NULL ||
                    strstr(st.last_reject, "COMMIT") != NULL);
        tt_modelsub_asm_destroy(a);
    }
    tt_codec_destroy(codec);
    recs_free(&rs);
    recs_free(&rs2);
    recs_free(&rs_other);
    tt_model_destroy(m);
    tt_model_destroy(m2);
}

/* Interleaved versions, as a reader of an uncompacted topic sees them; an
 * older version completing after a newer one is ignored; tombstones. */
static void several_versions(void **state)
{
    tt_model_t *m[3], *got;
    tt_modelsub_asm_t *a;
    struct tt_modelsub_stats st;
    struct recs rs[3];
    char err[256];

    (void)state;
    for (int v = 0; v < 3; v++) {
        m[v] = make_model(&small, 10 + (uint64_t)v);
        publish(m[v], (uint64_t)v + 1, 2, &rs[v], NULL);
    }
    assert_int_equal(tt_modelsub_asm_new(&a, 0, err, sizeof(err)), TT_ERR_OK);
    assert_int_equal(tt_modelsub_asm_add(a, NULL, 0, &got, err, sizeof(err)),
                     TT_ERR_OK);
    /* v1 and v2 interleaved; v3 starts (drops v1), v2 completes, then v3 */
    for (size_t i = 0; i + 1 < rs[0].n; i++) {
        assert_int_equal(tt_modelsub_asm_add(a, rs[0].r[i].value,
                                             rs[0].r[i].len, &got, err,
                                             sizeof(err)),
                         TT_ERR_OK);
        assert_null(got);
        assert_int_equal(tt_modelsub_asm_add(a, rs[1].r[i].value,
                                             rs[1].r[i].len, &got, err,
                                             sizeof(err)),
                         TT_ERR_OK);
        assert_null(got);
    }
    assert_int_equal(tt_modelsub_asm_add(a, rs[2].r[0].value, rs[2].r[0].len,
                                         &got, err, sizeof(err)),
                     TT_ERR_OK);
    assert_int_equal(tt_modelsub_asm_add(a, rs[1].r[rs[1].n - 1].value,
                                         rs[1].r[rs[1].n - 1].len, &got, err,
                                         sizeof(err)),
                     TT_ERR_OK);
    assert_non_null(got);
    assert_same_bytes(got, got);
    {
        struct tt_model_info info;

        tt_model_get_info(got, &info);
        assert_int_equal(info.version, 2);
    }
    tt_model_destroy(got);
    /* v1's COMMIT now: ignored */
    assert_int_equal(tt_modelsub_asm_add(a, rs[0].r[rs[0].n - 1].value,
                                         rs[0].r[rs[0].n - 1].len, &got, err,
                                         sizeof(err)),
                     TT_ERR_OK);
    assert_null(got);
    for (size_t i = 1; i < rs[2].n; i++) {
        assert_int_equal(tt_modelsub_asm_add(a, rs[2].r[i].value,
                                             rs[2].r[i].len, &got, err,
                                             sizeof(err)),
                         TT_ERR_OK);
        if (i + 1 < rs[2].n)
            assert_null(got);
    }
    assert_non_null(got);
    tt_model_destroy(got);
    tt_modelsub_asm_stats(a, &st);
    assert_int_equal(st.versions_ok, 2);
    assert_int_equal(st.versions_superseded, 1);
    assert_int_equal(st.versions_incomplete, 0);
    assert_int_equal(st.tombstones, 1);
    assert_int_equal(st.current_version, 3);
    assert_int_equal(st.max_version, 3);
    assert_int_equal(st.buffered_bytes, 0);
    tt_modelsub_asm_destroy(a);
    for (int v = 0; v < 3; v++) {
        recs_free(&rs[v]);
        tt_model_destroy(m[v]);
    }
}

/* Garbage never crashes and never yields a model. */
static void hostile_bytes(void **state)
{
    tt_modelsub_asm_t *a;
    tt_model_t *got;
    struct tt_rng rng;
    uint8_t buf[512];
    char err[256];

    (void)state;
    tt_rng_seed(&rng, 99, 1);
    assert_int_equal(tt_modelsub_asm_new(&a, 0, err, sizeof(err)), TT_ERR_OK);
    for (int i = 0; i < 2000; i++) {
        size_t len = (size_t)tt_rng_below(&rng, sizeof(buf));

        for (size_t j = 0; j < len; j++)
            buf[j] = (uint8_t)tt_rng_next(&rng);
        if (i % 2 && len > 10) {
            /* a valid single-object header: the body is walked */
            buf[0] = 0xc3;
            buf[1] = 0x01;
        }
        tt_modelsub_asm_add(a, buf, len, &got, err, sizeof(err));
        assert_null(got);
    }
    tt_modelsub_asm_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(chunking),
        cmocka_unit_test(partial_versions),
        cmocka_unit_test(corrupt_versions),
        cmocka_unit_test(several_versions),
        cmocka_unit_test(hostile_bytes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
