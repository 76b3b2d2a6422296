/*
 * Unit tests of model/tt_model and model/tt_modelfile: routing of users to
 * psi/phi and the two cells, the canonical step and the 2TS-Plus query
 * against independent computations, the model file (round trips, atomic
 * save, rejection of every truncation and every single-bit flip, wrong
 * magic, future version, absurd sizes with a valid checksum, duplicate ids,
 * NaN), XXH64 test vectors, concurrent use of one model by threads, and
 * the golden model file tests/data/model_v1.ttm with its expected outputs.
 * The window rules are in test_model_window.c.
 *
 * `test_model --write-golden DIR` rewrites DIR/model_v1.ttm and
 * DIR/model_v1_expect.txt; `test_model --write-corpus DIR` writes seed
 * inputs for tests/fuzz/fuzz_modelfile.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tt_rng.h"
#include "model/tt_kern.h"
#include "model/tt_model.h"
#include "model/tt_model_int.h"

#include "tests/unit/model_fixture.h"

static void test_hash_vectors(void **state)
{
    static const char spam[] = "Nobody inspects the spammish repetition";

    (void)state;
    assert_true(tt_model_hash64("", 0, 0) == UINT64_C(0xEF46DB3751D8E999));
    assert_true(tt_model_hash64("abc", 3, 0) == UINT64_C(0x44BC2CF5AD770999));
    assert_true(tt_model_hash64(spam, sizeof spam - 1, 0) ==
                UINT64_C(0xFBCEA83C8A378BF1));
}

/* Routing and the per-user functions against direct computations. */
static void check_user_functions(uint32_t dim, bool plus)
{
    struct fixture f;
    tt_model_t *m;
    struct tt_user_run run, run2;
    struct tt_model_info info;
    float q[24], h[24], last[24] = {0};
    struct tt_gru c0, c1;
    float *psi, *wp;

    fixture_make(&f, dim, plus, 100 + dim);
    m = fixture_model(&f);
    tt_model_get_info(m, &info);
    assert_int_equal(info.dim, dim);
    assert_int_equal(info.plus, plus);
    assert_int_equal(info.n_items, 6);
    assert_int_equal(info.n_active, 2);
    assert_int_equal(info.version, 42);
    assert_int_equal(info.n_cutoffs, 2);
    assert_int_equal(tt_model_cutoffs(m)[1].offset, INT64_C(1) << 40);
    tt_model_dense_views(f.dense, dim, plus, &psi, &c0, &c1, &wp);

    /* items and phi by id */
    assert_memory_equal(tt_model_item(m, 103), f.items + dim, 4 * dim);
    assert_null(tt_model_item(m, 101));
    assert_null(tt_model_item(m, -1));
    assert_memory_equal(tt_model_phi(m, INT64_C(9000000000)), f.phi + dim,
                        4 * dim);
    assert_null(tt_model_phi(m, 8));
    {
        int64_t id;

        assert_memory_equal(tt_model_item_at(m, 5, &id), f.items + 5 * dim,
                            4 * dim);
        assert_int_equal(id, 115);
    }

    /* an active user with allow_active starts from phi, active cell */
    tt_model_user_start(m, 7, true, &run);
    assert_int_equal(run.cell, TT_CELL_ACTIVE);
    assert_int_equal(run.steps, 0);
    assert_false(run.has_last);
    assert_memory_equal(run.h, f.phi, 4 * dim);
    /* the same user without allow_active, and an unknown user: psi */
    tt_model_user_start(m, 7, false, &run2);
    assert_int_equal(run2.cell, TT_CELL_INACTIVE);
    assert_memory_equal(run2.h, psi, 4 * dim);
    tt_model_user_start(m, 12345, true, &run2);
    assert_int_equal(run2.cell, TT_CELL_INACTIVE);
    assert_memory_equal(run2.h, psi, 4 * dim);

    /* steps: the active run moves with cell 1, the inactive with cell 0 */
    memcpy(h, f.phi, 4 * dim);
    for (int t = 0; t < 3; t++) {
        const float *x = f.items + (size_t)(t * 2) * dim;

        tt_model_user_step(m, &run, x);
        tt_gru_step(&c1, h, x, h);
        memcpy(last, x, 4 * dim);
        assert_memory_equal(run.h, h, 4 * dim);
        assert_true(run.has_last);
        assert_memory_equal(run.last, x, 4 * dim);
    }
    assert_int_equal(run.steps, 3);
    tt_model_user_step(m, &run2, f.items);
    tt_gru_step(&c0, psi, f.items, h);
    assert_memory_equal(run2.h, h, 4 * dim);

    /* query: h, or W^T [h ; last] in the documented order */
    tt_model_user_query(m, &run, q);
    if (!plus) {
        assert_memory_equal(q, run.h, 4 * dim);
    } else {
        for (uint32_t j = 0; j < dim; j++) {
            float s = 0.0f;
            double sd = 0.0;

            for (uint32_t k = 0; k < dim; k++) {
                s = s + run.h[k] * wp[k * dim + j];
                sd += (double)run.h[k] * wp[k * dim + j];
            }
            for (uint32_t k = 0; k < dim; k++) {
                s = s + last[k] * wp[(dim + k) * dim + j];
                sd += (double)last[k] * wp[(dim + k) * dim + j];
            }
            assert_memory_equal(&s, &q[j], 4);
            assert_true(fabs(sd - q[j]) < 1e-4);
        }
        /* before any step the last-item half contributes nothing, whatever
         * the run's `last` holds */
        tt_model_user_start(m, 555, true, &run2);
        memset(run2.last, 0x7f, sizeof run2.last);
        tt_model_user_query(m, &run2, q);
        for (uint32_t j = 0; j < dim; j++) {
            float s = 0.0f;

            for (uint32_t k = 0; k < dim; k++)
                s = s + psi[k] * wp[k * dim + j];
            assert_memory_equal(&s, &q[j], 4);
        }
    }
    assert_memory_equal(&(float){tt_model_score(m, q, f.items)},
                        &(float){tt_kern_dot(q, f.items, dim)}, 4);
    tt_model_destroy(m);
    free(f.dense);
}

static void test_user_functions(void **state)
{
    (void)state;
    check_user_functions(5, false);
    check_user_functions(24, true);
    check_user_functions(17, true);
}

static void test_build_errors(void **state)
{
    struct fixture f;
    tt_model_t *m = NULL;
    char err[256];
    int64_t ids[6];

    (void)state;
    fixture_make(&f, 4, true, 1);
    f.parts.dim = 0;
    assert_int_equal(tt_model_build(&m, &f.parts, err, sizeof err),
                     TT_ERR_INVAL);
    assert_null(m);
    f.parts.dim = TT_MODEL_DIM_MAX + 1;
    assert_int_equal(tt_model_build(&m, &f.parts, err, sizeof err),
                     TT_ERR_INVAL);
    f.parts.dim = 4;
    f.parts.feature_dim = 4;
    assert_int_equal(tt_model_build(&m, &f.parts, err, sizeof err),
                     TT_ERR_INVAL);
    f.parts.feature_dim = 0;
    memcpy(ids, f.item_ids, sizeof ids);
    ids[4] = ids[1];
    f.parts.item_ids = ids;
    assert_int_equal(tt_model_build(&m, &f.parts, err, sizeof err),
                     TT_ERR_INVAL);
    assert_non_null(strstr(err, "duplicate item id 103"));
    ids[4] = -5;
    assert_int_equal(tt_model_build(&m, &f.parts, err, sizeof err),
                     TT_ERR_INVAL);
    f.parts.item_ids = f.item_ids;
    f.phi[3] = NAN;
    assert_int_equal(tt_model_build(&m, &f.parts, err, sizeof err),
                     TT_ERR_INVAL);
    f.phi[3] = 0.0f;
    f.cut[1].partition = 0;
    assert_int_equal(tt_model_build(&m, &f.parts, err, sizeof err),
                     TT_ERR_INVAL);
    f.cut[1].partition = 3;
    f.parts.flags = 0x80;
    assert_int_equal(tt_model_build(&m, &f.parts, err, sizeof err),
                     TT_ERR_INVAL);
    f.parts.flags = TT_MODEL_FLAG_PLUS;
    assert_int_equal(tt_model_build(&m, &f.parts, err, sizeof err),
                     TT_ERR_OK);
    /* version and cutoffs can be replaced before sharing */
    tt_model_set_version(m, 77);
    {
        struct tt_model_cutoff c[1] = {{5, 99}};
        struct tt_model_info info;
        struct tt_model_parts back;

        assert_int_equal(tt_model_set_cutoffs(m, c, 1, err, sizeof err),
                         TT_ERR_OK);
        c[0].offset = -1;
        assert_int_equal(tt_model_set_cutoffs(m, c, 1, err, sizeof err),
                         TT_ERR_INVAL);
        tt_model_get_info(m, &info);
        assert_int_equal(info.version, 77);
        assert_int_equal(info.n_cutoffs, 1);
        assert_int_equal(tt_model_cutoffs(m)[0].offset, 99);
        tt_model_parts_get(m, &back);
        assert_int_equal(back.n_items, 6);
        assert_memory_equal(back.items, f.items, 4 * 6 * 4);
        assert_memory_equal(back.dense, f.dense,
                            4 * tt_model_dense_floats(4, true));
    }
    tt_model_destroy(m);
    tt_model_destroy(NULL);
    free(f.dense);
}

static void test_roundtrip(void **state)
{
    struct fixture f;
    tt_model_t *m, *m2;
    uint8_t *b1, *b2;
    size_t l1, l2;
    char err[256], dir[] = "/tmp/tt_test_model_XXXXXX", path[512];
    struct tt_model_info i1, i2;
    int files = 0;
    DIR *d;
    struct dirent *e;

    (void)state;
    fixture_make(&f, 9, true, 3);
    m = fixture_model(&f);
    assert_int_equal(tt_model_save_buf(m, &b1, &l1), TT_ERR_OK);
    assert_int_equal(tt_model_load_buf(&m2, b1, l1, err, sizeof err),
                     TT_ERR_OK);
    assert_int_equal(tt_model_save_buf(m2, &b2, &l2), TT_ERR_OK);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    tt_model_get_info(m, &i1);
    tt_model_get_info(m2, &i2);
    assert_memory_equal(&i1, &i2, sizeof i1);
    tt_model_destroy(m2);
    free(b2);

    /* to a file, atomically: no temporary left behind, same bytes */
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.ttm", dir);
    assert_int_equal(tt_model_save(m, path, err, sizeof err), TT_ERR_OK);
    assert_int_equal(tt_model_save(m, path, err, sizeof err), TT_ERR_OK);
    assert_int_equal(tt_model_load(&m2, path, err, sizeof err), TT_ERR_OK);
    assert_int_equal(tt_model_save_buf(m2, &b2, &l2), TT_ERR_OK);
    assert_memory_equal(b1, b2, l1);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            files++;
    closedir(d);
    assert_int_equal(files, 1);
    tt_model_destroy(m2);
    /* missing file, unwritable place */
    assert_int_equal(tt_model_load(&m2, "/nonexistent/m.ttm", err, sizeof err),
                     TT_ERR_IO);
    assert_null(m2);
    assert_int_equal(tt_model_save(m, "/nonexistent/dir/m.ttm", err,
                                   sizeof err),
                     TT_ERR_IO);
    unlink(path);
    rmdir(dir);
    free(b1);
    free(b2);
    tt_model_destroy(m);
    free(f.dense);
}

/* Patches a header field and recomputes the checksum, so that the check
 * under test is the one that fires. */
static void patch32(uint8_t *b, size_t len, size_t off, uint32_t v)
{
    uint64_t h;

    for (int i = 0; i < 4; i++)
        b[off + (size_t)i] = (uint8_t)(v >> (8 * i));
    h = tt_model_hash64(b, len - 8, 0);
    for (int i = 0; i < 8; i++)
        b[len - 8 + (size_t)i] = (uint8_t)(h >> (8 * i));
}

static void test_hostile_files(void **state)
{
    struct fixture f;
    tt_model_t *m, *bad;
    uint8_t *b, *c;
    size_t len;
    char err[256];

    (void)state;
    fixture_make(&f, 3, true, 4);
    f.parts.n_items = 3; /* keep the file small: every bit gets flipped */
    m = fixture_model(&f);
    assert_int_equal(tt_model_save_buf(m, &b, &len), TT_ERR_OK);
    c = malloc(len);
    for (size_t n = 0; n < len; n++) {
        bad = (tt_model_t *)1;
        assert_int_equal(tt_model_load_buf(&bad, b, n, err, sizeof err),
                         TT_ERR_CORRUPT);
        assert_null(bad);
    }
    for (size_t bit = 0; bit < 8 * len; bit++) {
        tt_err_t e;

        memcpy(c, b, len);
        c[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        e = tt_model_load_buf(&bad, c, len, err, sizeof err);
        assert_true(e == TT_ERR_CORRUPT || e == TT_ERR_VERSION);
        assert_null(bad);
    }
    /* one byte more is not accepted either */
    {
        uint8_t *longer = calloc(len + 1, 1);

        memcpy(longer, b, len);
        assert_int_equal(tt_model_load_buf(&bad, longer, len + 1, err,
                                           sizeof err),
                         TT_ERR_CORRUPT);
        free(longer);
    }
    memcpy(c, b, len);
    c[0] = 'X';
    assert_int_equal(tt_model_load_buf(&bad, c, len, err, sizeof err),
                     TT_ERR_CORRUPT);
    assert_non_null(strstr(err, "magic"));
    memcpy(c, b, len);
    patch32(c, len, 8, TT_MODEL_FORMAT_VERSION + 1);
    assert_int_equal(tt_model_load_buf(&bad, c, len, err, sizeof err),
                     TT_ERR_VERSION);
    assert_non_null(strstr(err, "newer"));
    memcpy(c, b, len);
    patch32(c, len, 12, 0x0D0C0B0A);
    assert_int_equal(tt_model_load_buf(&bad, c, len, err, sizeof err),
                     TT_ERR_CORRUPT);
    /* absurd sizes with a valid checksum: refused before any allocation */
    memcpy(c, b, len);
    patch32(c, len, 24, 100000); /* dim */
    assert_int_equal(tt_model_load_buf(&bad, c, len, err, sizeof err),
                     TT_ERR_CORRUPT);
    memcpy(c, b, len);
    patch32(c, len, 40, 0xFFFFFFF0u); /* n_items */
    assert_int_equal(tt_model_load_buf(&bad, c, len, err, sizeof err),
                     TT_ERR_CORRUPT);
    assert_non_null(strstr(err, "do not match"));
    memcpy(c, b, len);
    patch32(c, len, 48, 0x7FFFFFFFu); /* n_cutoffs */
    assert_int_equal(tt_model_load_buf(&bad, c, len, err, sizeof err),
                     TT_ERR_CORRUPT);
    memcpy(c, b, len);
    patch32(c, len, 20, 0x20); /* unknown flag */
    assert_int_equal(tt_model_load_buf(&bad, c, len, err, sizeof err),
                     TT_ERR_UNSUPPORTED);
    memcpy(c, b, len);
    patch32(c, len, 20, 0x80000000u); /* unknown flag above the hop bits */
    assert_int_equal(tt_model_load_buf(&bad, c, len, err, sizeof err),
                     TT_ERR_UNSUPPORTED);
    memcpy(c, b, len);
    patch32(c, len, 20, 0x100); /* a hop without the hop flag */
    assert_int_not_equal(tt_model_load_buf(&bad, c, len, err, sizeof err),
                         TT_ERR_OK);
    assert_null(bad);
    memcpy(c, b, len);
    patch32(c, len, 20, 0); /* PLUS dropped: the W block no longer fits */
    assert_int_equal(tt_model_load_buf(&bad, c, len, err, sizeof err),
                     TT_ERR_CORRUPT);
    /* content: a duplicate item id, a NaN, both with valid checksums */
    {
        size_t ids = TT_MODEL_HEADER_SIZE + 2 * 16;

        memcpy(c, b, len);
        patch32(c, len, ids + 8, (uint32_t)f.item_ids[0]);
        assert_int_equal(tt_model_load_buf(&bad, c, len, err, sizeof err),
                         TT_ERR_CORRUPT);
        assert_non_null(strstr(err, "duplicate"));
        memcpy(c, b, len);
        patch32(c, len, ids + 3 * 8 + 4, 0x7FC00000u);
        assert_int_equal(tt_model_load_buf(&bad, c, len, err, sizeof err),
                         TT_ERR_CORRUPT);
    }
    /* still intact */
    assert_int_equal(tt_model_load_buf(&bad, b, len, err, sizeof err),
                     TT_ERR_OK);
    tt_model_destroy(bad);
    free(b);
    free(c);
    tt_model_destroy(m);
    free(f.dense);
}

/* One loaded model, many threads: each gets the single-thread bits. */
struct thr {
    const tt_model_t *m;
    float out[24];
};

static void *thr_run(void *arg)
{
    struct thr *t = arg;
    struct tt_user_run run;

    for (int rep = 0; rep < 200; rep++) {
        tt_model_user_start(t->m, 7, true, &run);
        for (uint32_t i = 0; i < 6; i++)
            tt_model_user_step(t->m, &run, tt_model_item_at(t->m, i, NULL));
        tt_model_user_query(t->m, &run, t->out);
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct fixture f;
    struct thr t[4];
    pthread_t th[4];

    (void)state;
    fixture_make(&f, 24, true, 5);
    t[0].m = fixture_model(&f);
    thr_run(&t[0]);
    for (int i = 1; i < 4; i++) {
        t[i].m = t[0].m;
        assert_int_equal(pthread_create(&th[i], NULL, thr_run, &t[i]), 0);
    }
    for (int i = 1; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_memory_equal(t[i].out, t[0].out, sizeof t[0].out);
    }
    tt_model_destroy((tt_model_t *)t[0].m);
    free(f.dense);
}

static void golden_outputs(const tt_model_t *m, FILE *out, FILE *in)
{
    static const int64_t users[2] = {7, 31337};
    struct tt_model_info info;
    struct tt_user_run run;
    float q[24];

    tt_model_get_info(m, &info);
    for (int u = 0; u < 2; u++) {
        tt_model_user_start(m, users[u], true, &run);
        for (uint32_t t = 0; t < 4; t++) {
            tt_model_user_query(m, &run, q);
            for (uint32_t j = 0; j < info.dim; j++) {
                if (out) {
                    fprintf(out, "%a\n", (double)q[j]);
                } else {
                    char line[128];
                    float want;

                    assert_non_null(fgets(line, sizeof line, in));
                    want = (float)strtod(line, NULL);
                    if (memcmp(&want, &q[j], 4) != 0) {
                        print_error("golden user %d step %u [%u]: %a != %a\n",
                                    u, t, j, (double)q[j], (double)want);
                        fail();
                    }
                }
            }
            tt_model_user_step(m, &run,
                               tt_model_item_at(m, (t * 5) % 6, NULL));
        }
    }
}

static int write_golden(const char *dir)
{
    struct fixture f;
    tt_model_t *m;
    char path[4096], err[256];
    FILE *out;

    fixture_make(&f, 21, true, 2024);
    f.parts.flags |= TT_MODEL_FLAG_FEATURES;
    f.parts.feature_dim = 5;
    if (tt_model_build(&m, &f.parts, err, sizeof err))
        return 1;
    snprintf(path, sizeof path, "%s/model_v1.ttm", dir);
    if (tt_model_save(m, path, err, sizeof err))
        return 1;
    snprintf(path, sizeof path, "%s/model_v1_expect.txt", dir);
    out = fopen(path, "w");
    if (!out)
        return 1;
    golden_outputs(m, out, NULL);
    tt_model_destroy(m);
    free(f.dense);
    return fclose(out) != 0;
}

static void test_golden(void **state)
{
    const char *dir = getenv("TT_TEST_DATA");
    char path[4096], err[256];
    tt_model_t *m;
    struct tt_model_info info;
    uint8_t *b, *fb;
    size_t len, flen;
    FILE *in;

    (void)state;
    assert_non_null(dir);
    snprintf(path, sizeof path, "%s/model_v1.ttm", dir);
    assert_int_equal(tt_model_load(&m, path, err, sizeof err), TT_ERR_OK);
    tt_model_get_info(m, &info);
    assert_int_equal(info.dim, 21);
    assert_int_equal(info.feature_dim, 5);
    assert_true(info.plus);
    /* the format is stable: re-saving gives the file's bytes */
    in = fopen(path, "rb");
    assert_non_null(in);
    fb = malloc(1 << 20);
    flen = fread(fb, 1, 1 << 20, in);
    fclose(in);
    assert_int_equal(tt_model_save_buf(m, &b, &len), TT_ERR_OK);
    assert_int_equal(len, flen);
    assert_memory_equal(b, fb, len);
    free(b);
    free(fb);
    snprintf(path, sizeof path, "%s/model_v1_expect.txt", dir);
    in = fopen(path, "r");
    assert_non_null(in);
    golden_outputs(m, NULL, in);
    fclose(in);
    tt_model_destroy(m);
}

static int write_corpus(const char *dir)
{
    static const struct {
        uint32_t dim;
        bool plus;
        uint32_t items;
    } shapes[] = {{1, false, 0}, {3, true, 3}, {8, false, 6}, {16, true, 2}};
    char path[4096];

    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        struct fixture f;
        tt_model_t *m;
        uint8_t *b;
        size_t len;
        char err[256];
        FILE *out;

        fixture_make(&f, shapes[s].dim, shapes[s].plus, s);
        f.parts.n_items = shapes[s].items;
        if (tt_model_build(&m, &f.parts, err, sizeof err) ||
            tt_model_save_buf(m, &b, &len))
            return 1;
        snprintf(path, sizeof path, "%s/valid_%zu", dir, s);
        out = fopen(path, "wb");
        if (!out || fwrite(b, 1, len, out) != len || fclose(out))
            return 1;
        /* a truncated one and a flipped one */
        snprintf(path, sizeof path, "%s/truncated_%zu", dir, s);
        out = fopen(path, "wb");
        if (!out || fwrite(b, 1, len / 2, out) != len / 2 || fclose(out))
            return 1;
        b[len / 3] ^= 0x10;
        snprintf(path, sizeof path, "%s/flipped_%zu", dir, s);
        out = fopen(path, "wb");
        if (!out || fwrite(b, 1, len, out) != len || fclose(out))
            return 1;
        free(b);
        tt_model_destroy(m);
        free(f.dense);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_vectors),
        cmocka_unit_test(test_user_functions),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_golden),
    };

    if (argc == 3 && strcmp(argv[1], "--write-golden") == 0)
        return write_golden(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
        return write_corpus(argv[2]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
