/*
 * Unit tests of state/tt_state against a real RocksDB in a mkdtemp
 * directory (removed afterwards): batched reads with present, absent and
 * corrupt users, atomic commits of states with offsets (also across a
 * SIGKILL of a writer process), reopening with every column family, drop and
 * clear, history bounds, the lock error, checkpoints, metadata, stats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <rocksdb/c.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/tt_rng.h"
#include "state/tt_state.h"

#define DIM 16
#define HIST 100

struct fix {
    char dir[256];
    char path[300];
    struct tt_conf_state conf;
};

static int rm_entry(const char *p, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");

    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/tt_state_XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
    f->conf.path = f->path;
    f->conf.cache_mb = 8;
    f->conf.write_buffer_mb = 4;
    f->conf.user_cache = 0;
    f->conf.history_max = HIST;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;

    rm_rf(f->dir);
    free(f);
    return 0;
}

static tt_state_t *open_ok(struct fix *f)
{
    char err[512] = "";
    tt_state_t *st = NULL;
    tt_err_t rc = tt_state_new(&st, &f->conf, err, sizeof(err));

    if (rc)
        fail_msg("tt_state_new: %s", err);
    return st;
}

/* A state that is a deterministic function of (user, version). */
static void make_state(struct tt_user_state *s, int64_t user, uint64_t ver)
{
    struct tt_rng rng;
    uint32_t n;

    tt_rng_seed(&rng, (uint64_t)user, ver);
    tt_ustate_reset(s);
    s->count = ver;
    s->model_version = 3;
    s->last_event_ms = 1000 + (int64_t)ver;
    s->cell = (uint8_t)(user % 2);
    s->dim = DIM;
    for (uint32_t i = 0; i < DIM; i++)
        s->emb[i] = (float)tt_rng_normal(&rng);
    n = (uint32_t)(ver % 30);
    for (uint32_t i = 0; i < n; i++)
        tt_ustate_push(s, (int64_t)tt_rng_below(&rng, 100000), (int64_t)i,
                       -1);
}

static void put_commit(tt_state_t *st, int32_t part, const int64_t *users,
                       size_t n, uint64_t ver, int64_t offset)
{
    struct tt_user_state s;
    tt_state_batch_t *b;
    char err[512];

    assert_int_equal(tt_ustate_init(&s, DIM, HIST), TT_ERR_OK);
    assert_int_equal(tt_state_batch_new(&b, st, err, sizeof(err)), 0);
    for (size_t i = 0; i < n; i++) {
        make_state(&s, users[i], ver);
        assert_int_equal(tt_state_batch_put(b, part, users[i], &s, err,
                                            sizeof(err)),
                         TT_ERR_OK);
    }
    if (offset >= 0)
        assert_int_equal(tt_state_batch_set_offset(b, part, offset, err,
                                                   sizeof(err)),
                         TT_ERR_OK);
    if (tt_state_commit(st, b, err, sizeof(err)))
        fail_msg("commit: %s", err);
    assert_int_equal(tt_state_batch_count(b), 0);
    tt_state_batch_destroy(b);
    tt_ustate_release(&s);
}

/* Reads `n` users and checks each is present with version `ver` (or absent
 * when ver == 0). */
static void expect_users(tt_state_t *st, int32_t part, const int64_t *users,
                         size_t n, uint64_t ver)
{
    struct tt_user_state got, want;
    struct tt_user_state *const one[1] = {&got};
    tt_err_t status;
    char err[512];

    assert_int_equal(tt_ustate_init(&got, DIM, HIST), TT_ERR_OK);
    assert_int_equal(tt_ustate_init(&want, DIM, HIST), TT_ERR_OK);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(tt_state_get_many(st, part, 1, &users[i], one,
                                           &status, err, sizeof(err)),
                         TT_ERR_OK);
        if (ver == 0) {
            assert_int_equal(status, TT_ERR_NOTFOUND);
            continue;
        }
        assert_int_equal(status, TT_ERR_OK);
        make_state(&want, users[i], ver);
        assert_true(tt_ustate_equal(&got, &want));
    }
    tt_ustate_release(&got);
    tt_ustate_release(&want);
}

static int64_t offset_of(tt_state_t *st, int32_t part)
{
    int64_t off = -7;
    char err[512];

    assert_int_equal(tt_state_applied_offset(st, part, &off, err, sizeof(err)),
                     TT_ERR_OK);
    return off;
}

static void test_commit_and_multi_get(void **state)
{
    struct fix *f = *state;
    tt_state_t *st = open_ok(f);
    const int64_t users[] = {5, 1, 900000000000LL, 42, 7};
    int64_t ask[12];
    struct tt_user_state s[12], want;
    struct tt_user_state *ptr[12];
    tt_err_t status[12];
    char err[512];
    int32_t parts[4];

    assert_int_equal(offset_of(st, 3), -1);
    assert_int_equal(tt_state_partitions(st, parts, 4), 0);
    put_commit(st, 3, users, 5, 11, 1234);
    assert_int_equal(offset_of(st, 3), 1234);
    assert_int_equal(offset_of(st, 4), -1);
    assert_int_equal(tt_state_partitions(st, parts, 4), 1);
    assert_int_equal(parts[0], 3);
    assert_false(tt_state_has_partition(st, 4));

    /* A mix of present and absent users, unsorted, with a duplicate. */
    const int64_t mix[12] = {8, 42, 5, 0,  900000000000LL, 6,
                             1, 42, 2, 7, 99,            3};
    const bool present[12] = {false, true, true,  false, true,  false,
                              true,  true, false, true,  false, false};
    assert_int_equal(tt_ustate_init(&want, DIM, HIST), TT_ERR_OK);
    for (int i = 0; i < 12; i++) {
        assert_int_equal(tt_ustate_init(&s[i], DIM, HIST), TT_ERR_OK);
        s[i].count = 77; /* must be reset when absent */
        ptr[i] = &s[i];
        ask[i] = mix[i];
    }
    assert_int_equal(tt_state_get_many(st, 3, 12, ask, ptr, status, err,
                                       sizeof(err)),
                     TT_ERR_OK);
    for (int i = 0; i < 12; i++) {
        if (!present[i]) {
            assert_int_equal(status[i], TT_ERR_NOTFOUND);
            assert_int_equal(s[i].count, 0);
            assert_int_equal(s[i].dim, 0);
            continue;
        }
        assert_int_equal(status[i], TT_ERR_OK);
        make_state(&want, mix[i], 11);
        assert_true(tt_ustate_equal(&s[i], &want));
    }
    /* A partition without a family: all absent, nothing created. */
    assert_int_equal(tt_state_get_many(st, 9, 12, ask, ptr, status, err,
                                       sizeof(err)),
                     TT_ERR_OK);
    for (int i = 0; i < 12; i++)
        assert_int_equal(status[i], TT_ERR_NOTFOUND);
    assert_false(tt_state_has_partition(st, 9));
    /* Bad arguments. */
    ask[3] = -1;
    assert_int_equal(tt_state_get_many(st, 3, 12, ask, ptr, status, err,
                                       sizeof(err)),
                     TT_ERR_INVAL);
    assert_int_equal(tt_state_get_many(st, -2, 1, ask, ptr, status, err,
                                       sizeof(err)),
                     TT_ERR_INVAL);
    assert_int_equal(tt_state_get_many(st, TT_STATE_PARTITION_MAX + 1, 1, ask,
                                       ptr, status, err, sizeof(err)),
                     TT_ERR_INVAL);
    for (int i = 0; i < 12; i++)
        tt_ustate_release(&s[i]);
    tt_ustate_release(&want);
    tt_state_destroy(st);
}

static void test_multi_get_many_chunks(void **state)
{
    struct fix *f = *state;
    tt_state_t *st = open_ok(f);
    enum { N = 1500 };
    int64_t *ids = calloc(N, sizeof(*ids)), *even = calloc(N, sizeof(*ids));
    struct tt_user_state *s = calloc(N, sizeof(*s)), want;
    struct tt_user_state **ptr = calloc(N, sizeof(*ptr));
    tt_err_t *status = calloc(N, sizeof(*status));
    size_t ne = 0;
    char err[512];

    assert_true(ids && even && s && ptr && status);
    for (int i = 0; i < N; i++) {
        ids[i] = (int64_t)(N - i) * 3; /* descending: RocksDB must sort */
        if (i % 2 == 0)
            even[ne++] = ids[i];
        assert_int_equal(tt_ustate_init(&s[i], DIM, HIST), 0);
        ptr[i] = &s[i];
    }
    put_commit(st, 0, even, ne, 5, 10);
    /* A second batch in the same store, then a flush: reads now come from
     * SST files through the bloom filters as well as from memtables. */
    assert_int_equal(tt_state_flush(st, err, sizeof(err)), 0);
    assert_int_equal(tt_state_get_many(st, 0, N, ids, ptr, status, err,
                                       sizeof(err)),
                     TT_ERR_OK);
    assert_int_equal(tt_ustate_init(&want, DIM, HIST), 0);
    for (int i = 0; i < N; i++) {
        if (i % 2) {
            assert_int_equal(status[i], TT_ERR_NOTFOUND);
            continue;
        }
        assert_int_equal(status[i], TT_ERR_OK);
        make_state(&want, ids[i], 5);
        assert_true(tt_ustate_equal(&s[i], &want));
    }
    for (int i = 0; i < N; i++)
        tt_ustate_release(&s[i]);
    tt_ustate_release(&want);
    free(ids);
    free(even);
    free(s);
    free(ptr);
    free(status);
    tt_state_destroy(st);
}

static void test_batch_atomicity(void **state)
{
    struct fix *f = *state;
    tt_state_t *st = open_ok(f);
    const int64_t users[] = {1, 2, 3};
    struct tt_user_state s;
    tt_state_batch_t *b;
    char err[512];

    assert_int_equal(tt_ustate_init(&s, DIM, HIST), 0);
    /* A batch that is never committed leaves no trace, offset included. */
    assert_int_equal(tt_state_batch_new(&b, st, err, sizeof(err)), 0);
    make_state(&s, 1, 1);
    assert_int_equal(tt_state_batch_put(b, 2, 1, &s, err, sizeof(err)), 0);
    assert_int_equal(tt_state_batch_set_offset(b, 2, 50, err, sizeof(err)),
                     0);
    assert_int_equal(tt_state_batch_count(b), 2);
    expect_users(st, 2, users, 1, 0);
    assert_int_equal(offset_of(st, 2), -1);
    tt_state_batch_clear(b);
    assert_int_equal(tt_state_commit(st, b, err, sizeof(err)), 0);
    expect_users(st, 2, users, 1, 0);
    assert_int_equal(offset_of(st, 2), -1);

    /* Committed: states and offset together; the last offset set wins. */
    for (int i = 0; i < 3; i++) {
        make_state(&s, users[i], 4);
        assert_int_equal(tt_state_batch_put(b, 2, users[i], &s, err,
                                            sizeof(err)),
                         0);
    }
    assert_int_equal(tt_state_batch_set_offset(b, 2, 60, err, sizeof(err)),
                     0);
    assert_int_equal(tt_state_batch_set_offset(b, 2, 61, err, sizeof(err)),
                     0);
    assert_int_equal(tt_state_commit(st, b, err, sizeof(err)), 0);
    expect_users(st, 2, users, 3, 4);
    assert_int_equal(offset_of(st, 2), 61);

    /* A batch whose partition is dropped before the commit is refused as a
     * whole: neither its states nor its offset appear. */
    make_state(&s, 1, 9);
    assert_int_equal(tt_state_batch_put(b, 2, 1, &s, err, sizeof(err)), 0);
    assert_int_equal(tt_state_batch_set_offset(b, 2, 70, err, sizeof(err)),
                     0);
    assert_int_equal(tt_state_batch_put(b, 8, 1, &s, err, sizeof(err)), 0);
    assert_int_equal(tt_state_drop_partition(st, 2, err, sizeof(err)), 0);
    err[0] = '\0';
    assert_int_equal(tt_state_commit(st, b, err, sizeof(err)), TT_ERR_STATE);
    assert_non_null(strstr(err, "dropped"));
    expect_users(st, 8, users, 1, 0);
    assert_int_equal(offset_of(st, 2), -1);
    assert_int_equal(offset_of(st, 8), -1);

    /* Deletion, and a delete in a partition without a family. */
    put_commit(st, 8, users, 3, 2, 5);
    assert_int_equal(tt_state_batch_delete(b, 8, 2, err, sizeof(err)), 0);
    assert_int_equal(tt_state_batch_delete(b, 30, 2, err, sizeof(err)), 0);
    assert_int_equal(tt_state_commit(st, b, err, sizeof(err)), 0);
    expect_users(st, 8, &users[0], 1, 2);
    expect_users(st, 8, &users[1], 1, 0);
    assert_false(tt_state_has_partition(st, 30));

    /* Refusals. */
    assert_int_equal(tt_state_batch_set_offset(b, 8, -2, err, sizeof(err)),
                     TT_ERR_INVAL);
    assert_int_equal(tt_state_batch_put(b, 8, -1, &s, err, sizeof(err)),
                     TT_ERR_INVAL);
    s.emb[0] = 1.0f / 0.0f;
    assert_int_equal(tt_state_batch_put(b, 8, 1, &s, err, sizeof(err)),
                     TT_ERR_RANGE);
    assert_int_equal(tt_state_batch_count(b), 0);
    tt_state_batch_destroy(b);
    tt_ustate_release(&s);
    tt_state_destroy(st);
}

static void test_reopen_keeps_everything(void **state)
{
    struct fix *f = *state;
    tt_state_t *st = open_ok(f);
    const int64_t users[] = {10, 20, 30, 40};
    int32_t parts[8];
    char buf[16], err[512];
    size_t len;
    tt_state_batch_t *b;

    put_commit(st, 0, users, 4, 1, 100);
    put_commit(st, 5, users, 2, 2, 200);
    put_commit(st, 17, users, 3, 3, 300);
    assert_int_equal(tt_state_batch_new(&b, st, err, sizeof(err)), 0);
    assert_int_equal(tt_state_batch_put_meta(b, "model_version", "v42", 3, err,
                                             sizeof(err)),
                     0);
    assert_int_equal(tt_state_commit(st, b, err, sizeof(err)), 0);
    tt_state_batch_destroy(b);
    /* Half the data flushed to SST, half only in the WAL. */
    assert_int_equal(tt_state_flush(st, err, sizeof(err)), 0);
    put_commit(st, 17, users, 1, 4, 301);
    tt_state_destroy(st);

    st = open_ok(f);
    assert_int_equal(tt_state_partitions(st, parts, 8), 3);
    assert_int_equal(parts[0], 0);
    assert_int_equal(parts[1], 5);
    assert_int_equal(parts[2], 17);
    expect_users(st, 0, users, 4, 1);
    expect_users(st, 5, users, 2, 2);
    expect_users(st, 5, &users[2], 2, 0);
    expect_users(st, 17, users, 1, 4);
    expect_users(st, 17, &users[1], 2, 3);
    assert_int_equal(offset_of(st, 0), 100);
    assert_int_equal(offset_of(st, 5), 200);
    assert_int_equal(offset_of(st, 17), 301);
    assert_int_equal(tt_state_get_meta(st, "model_version", buf, sizeof(buf),
                                       &len, err, sizeof(err)),
                     0);
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "v42", 3);
    assert_int_equal(tt_state_get_meta(st, "nothing", buf, sizeof(buf), &len,
                                       err, sizeof(err)),
                     TT_ERR_NOTFOUND);
    assert_int_equal(tt_state_get_meta(st, "model_version", buf, 2, &len, err,
                                       sizeof(err)),
                     TT_ERR_OVERFLOW);
    tt_state_destroy(st);
}

static void test_drop_and_clear(void **state)
{
    struct fix *f = *state;
    tt_state_t *st = open_ok(f);
    const int64_t users[] = {1, 2, 3};
    int32_t parts[8];
    char err[512];

    put_commit(st, 1, users, 3, 1, 10);
    put_commit(st, 2, users, 3, 2, 20);
    put_commit(st, 3, users, 3, 3, 30);
    assert_int_equal(tt_state_drop_partition(st, 2, err, sizeof(err)), 0);
    assert_int_equal(tt_state_drop_partition(st, 2, err, sizeof(err)), 0);
    assert_int_equal(tt_state_clear_partition(st, 3, err, sizeof(err)), 0);
    assert_int_equal(tt_state_clear_partition(st, 4, err, sizeof(err)), 0);
    assert_false(tt_state_has_partition(st, 2));
    assert_true(tt_state_has_partition(st, 3));
    assert_false(tt_state_has_partition(st, 4));
    expect_users(st, 2, users, 3, 0);
    expect_users(st, 3, users, 3, 0);
    expect_users(st, 1, users, 3, 1);
    assert_int_equal(offset_of(st, 2), -1);
    assert_int_equal(offset_of(st, 3), -1);
    assert_int_equal(offset_of(st, 1), 10);
    /* A cleared partition takes writes again. */
    put_commit(st, 3, users, 1, 5, 31);
    tt_state_destroy(st);

    st = open_ok(f);
    assert_int_equal(tt_state_partitions(st, parts, 8), 2);
    assert_int_equal(parts[0], 1);
    assert_int_equal(parts[1], 3);
    expect_users(st, 3, users, 1, 5);
    expect_users(st, 3, &users[1], 2, 0);
    assert_int_equal(offset_of(st, 3), 31);
    assert_int_equal(offset_of(st, 2), -1);
    /* A dropped partition can come back (reassigned later). */
    put_commit(st, 2, users, 1, 6, 25);
    expect_users(st, 2, users, 1, 6);
    expect_users(st, 2, &users[1], 2, 0);
    tt_state_destroy(st);
}

static void test_history_bound_in_store(void **state)
{
    struct fix *f = *state;
    tt_state_t *st = open_ok(f);
    struct tt_user_state s, big, small;
    struct tt_user_state *p;
    tt_state_batch_t *b;
    const int64_t id = 77;
    tt_err_t status;
    char err[512];

    assert_int_equal(tt_ustate_init(&s, DIM, HIST), 0);
    assert_int_equal(tt_ustate_init(&big, DIM, HIST), 0);
    assert_int_equal(tt_ustate_init(&small, DIM, 10), 0);
    for (int64_t i = 0; i < 300; i++) {
        tt_ustate_push(&s, 5000 + i, 100 + i, 1);
        s.count++;
    }
    assert_int_equal(s.hist_len, HIST);
    assert_int_equal(tt_state_batch_new(&b, st, err, sizeof(err)), 0);
    assert_int_equal(tt_state_batch_put(b, 0, id, &s, err, sizeof(err)), 0);
    assert_int_equal(tt_state_commit(st, b, err, sizeof(err)), 0);
    p = &big;
    assert_int_equal(tt_state_get_many(st, 0, 1, &id, &p, &status, err,
                                       sizeof(err)),
                     0);
    assert_int_equal(big.hist_len, HIST);
    assert_int_equal(big.count, 300);
    assert_int_equal(big.hist[0].item_id, 5200);
    assert_int_equal(big.hist[HIST - 1].item_id, 5299);
    /* history_max lowered to 10: the newest 10 are kept. */
    p = &small;
    assert_int_equal(tt_state_get_many(st, 0, 1, &id, &p, &status, err,
                                       sizeof(err)),
                     0);
    assert_int_equal(small.hist_len, 10);
    assert_int_equal(small.hist[0].item_id, 5290);
    assert_int_equal(small.hist[9].offset, 399);
    tt_state_batch_destroy(b);
    tt_ustate_release(&s);
    tt_ustate_release(&big);
    tt_ustate_release(&small);
    tt_state_destroy(st);
}

static void test_locked(void **state)
{
    struct fix *f = *state;
    tt_state_t *st = open_ok(f), *st2 = (tt_state_t *)(uintptr_t)1;
    char err[1024] = "";
    tt_err_t rc;

    rc = tt_state_new(&st2, &f->conf, err, sizeof(err));
    assert_int_equal(rc, TT_ERR_STATE);
    assert_null(st2);
    assert_non_null(strstr(err, "locked"));
    assert_non_null(strstr(err, f->path));
    /* The first handle is unharmed. */
    assert_int_equal(offset_of(st, 0), -1);
    tt_state_destroy(st);
    st = open_ok(f);
    tt_state_destroy(st);
}

static void test_bad_open(void **state)
{
    struct fix *f = *state;
    struct tt_conf_state c = f->conf;
    char p[400], err[1024] = "";
    tt_state_t *st = NULL;
    int fd;

    c.path = (char[]){""};
    assert_int_equal(tt_state_new(&st, &c, err, sizeof(err)), TT_ERR_INVAL);
    c = f->conf;
    c.cache_mb = 0;
    assert_int_equal(tt_state_new(&st, &c, err, sizeof(err)), TT_ERR_INVAL);
    /* A regular file where a directory should be. */
    snprintf(p, sizeof(p), "%s/file", f->dir);
    fd = open(p, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    snprintf(p, sizeof(p), "%s/file/db", f->dir);
    c = f->conf;
    c.path = p;
    err[0] = '\0';
    assert_int_not_equal(tt_state_new(&st, &c, err, sizeof(err)), TT_ERR_OK);
    assert_null(st);
    assert_non_null(strstr(err, "file/db"));
    tt_state_destroy(NULL);
}

static void test_corrupt_record_in_store(void **state)
{
    struct fix *f = *state;
    tt_state_t *st = open_ok(f);
    const int64_t users[] = {1, 7, 9};
    struct tt_user_state s[3], *ptr[3];
    tt_err_t status[3];
    char err[512], *rerr = NULL;
    rocksdb_options_t *o;
    rocksdb_t *db;
    rocksdb_column_family_handle_t *h[2];
    const char *names[2] = {"default", "p4"};
    const rocksdb_options_t *co[2];
    rocksdb_writeoptions_t *wo;
    rocksdb_readoptions_t *ro;
    rocksdb_pinnableslice_t *pin;
    uint8_t key[TT_USTATE_USER_KEY_SIZE], val[4096];
    const char *v;
    size_t vlen;
    tt_state_iter_t *it;
    int64_t uid;
    int ok = 0, bad = 0;

    put_commit(st, 4, users, 3, 6, 3);
    tt_state_destroy(st);

    /* Flip one bit of user 7's value behind the store's back. */
    o = rocksdb_options_create();
    co[0] = co[1] = o;
    db = rocksdb_open_column_families(o, f->path, 2, names, co, h, &rerr);
    assert_null(rerr);
    tt_ustate_user_key(key, 7);
    ro = rocksdb_readoptions_create();
    pin = rocksdb_get_pinned_cf(db, ro, h[1], (const char *)key, sizeof(key),
                                &rerr);
    rocksdb_readoptions_destroy(ro);
    assert_non_null(pin);
    v = rocksdb_pinnableslice_value(pin, &vlen);
    assert_true(vlen < sizeof(val));
    memcpy(val, v, vlen);
    rocksdb_pinnableslice_destroy(pin);
    val[40] ^= 0x08;
    wo = rocksdb_writeoptions_create();
    rocksdb_put_cf(db, wo, h[1], (const char *)key, sizeof(key),
                   (const char *)val, vlen, &rerr);
    assert_null(rerr);
    /* And a truncated record for user 3, which sorts before user 7. */
    tt_ustate_user_key(key, 3);
    rocksdb_put_cf(db, wo, h[1], (const char *)key, sizeof(key),
                   (const char *)val, 7, &rerr);
    assert_null(rerr);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_column_family_handle_destroy(h[0]);
    rocksdb_column_family_handle_destroy(h[1]);
    rocksdb_close(db);
    rocksdb_options_destroy(o);

    st = open_ok(f);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tt_ustate_init(&s[i], DIM, HIST), 0);
        ptr[i] = &s[i];
    }
    err[0] = '\0';
    assert_int_equal(tt_state_get_many(st, 4, 3, users, ptr, status, err,
                                       sizeof(err)),
                     TT_ERR_CORRUPT);
    assert_int_equal(status[0], TT_ERR_OK);
    assert_int_equal(status[1], TT_ERR_CORRUPT);
    assert_int_equal(status[2], TT_ERR_OK);
    assert_non_null(strstr(err, "user 7"));
    assert_int_equal(s[1].dim, 0);
    /* Lookups go to RocksDB in key order; the error names the first bad
     * user of the request all the same. */
    {
        const int64_t ask[3] = {9, 7, 3};

        err[0] = '\0';
        assert_int_equal(tt_state_get_many(st, 4, 3, ask, ptr, status, err,
                                           sizeof(err)),
                         TT_ERR_CORRUPT);
        assert_int_equal(status[0], TT_ERR_OK);
        assert_int_equal(status[1], TT_ERR_CORRUPT);
        assert_int_equal(status[2], TT_ERR_CORRUPT);
        assert_int_equal(s[0].count, 6);
        assert_non_null(strstr(err, "user 7"));
        assert_null(strstr(err, "user 3"));
    }
    /* The iterator reports the bad user and carries on. */
    assert_int_equal(tt_state_iter_new(&it, st, 4, err, sizeof(err)), 0);
    for (;;) {
        tt_err_t rc = tt_state_iter_next(it, &uid, &s[0], err, sizeof(err));

        if (rc == TT_ERR_NOTFOUND)
            break;
        if (rc == TT_ERR_CORRUPT) {
            assert_true(uid == (bad ? 7 : 3));
            bad++;
        } else {
            assert_int_equal(rc, TT_ERR_OK);
            ok++;
        }
    }
    assert_int_equal(ok, 2);
    assert_int_equal(bad, 2);
    tt_state_iter_destroy(it);
    for (int i = 0; i < 3; i++)
        tt_ustate_release(&s[i]);
    tt_state_destroy(st);
}

static void test_iterator_and_stats(void **state)
{
    struct fix *f = *state;
    tt_state_t *st = open_ok(f);
    int64_t users[200], uid, prev = -1;
    struct tt_user_state s, want;
    struct tt_state_stats stats;
    tt_state_iter_t *it;
    char err[512];
    uint64_t before;
    int n = 0;

    for (int i = 0; i < 200; i++)
        users[i] = (int64_t)(tt_rng_mix64((uint64_t)i) >> 1);
    before = tt_state_approx_bytes(st);
    put_commit(st, 6, users, 200, 13, 99);
    assert_int_equal(tt_ustate_init(&s, DIM, HIST), 0);
    assert_int_equal(tt_ustate_init(&want, DIM, HIST), 0);
    assert_int_equal(tt_state_iter_new(&it, st, 6, err, sizeof(err)), 0);
    /* Writes after the iterator was made are not seen by it. */
    put_commit(st, 6, (const int64_t[]){1}, 1, 13, 100);
    while (tt_state_iter_next(it, &uid, &s, err, sizeof(err)) == TT_ERR_OK) {
        assert_true(uid > prev); /* id order */
        prev = uid;
        make_state(&want, uid, 13);
        assert_true(tt_ustate_equal(&s, &want));
        n++;
    }
    assert_int_equal(n, 200);
    tt_state_iter_destroy(it);
    /* No family: an empty iteration. */
    assert_int_equal(tt_state_iter_new(&it, st, 60, err, sizeof(err)), 0);
    assert_int_equal(tt_state_iter_next(it, &uid, &s, err, sizeof(err)),
                     TT_ERR_NOTFOUND);
    tt_state_iter_destroy(it);

    assert_true(tt_state_approx_bytes(st) > before);
    assert_int_equal(tt_state_flush(st, err, sizeof(err)), 0);
    tt_state_stats(st, &stats);
    assert_int_equal(stats.partitions, 1);
    /* 201 records of ~600 bytes, LZ4 or not: well above 20 KB on disk. */
    assert_true(stats.sst_bytes > 20000);
    assert_true(tt_state_approx_bytes(st) >= stats.sst_bytes);
    tt_ustate_release(&s);
    tt_ustate_release(&want);
    tt_state_destroy(st);
}

static void test_checkpoint(void **state)
{
    struct fix *f = *state;
    tt_state_t *st = open_ok(f), *cp;
    const int64_t users[] = {3, 4};
    struct fix g = *f;
    char err[512];

    put_commit(st, 2, users, 2, 8, 80);
    snprintf(g.path, sizeof(g.path), "%s/cp", f->dir);
    g.conf.path = g.path;
    assert_int_equal(tt_state_checkpoint(st, g.path, err, sizeof(err)), 0);
    put_commit(st, 2, users, 2, 9, 90);
    /* A second checkpoint into an existing directory fails cleanly. */
    assert_int_not_equal(tt_state_checkpoint(st, g.path, err, sizeof(err)),
                         0);
    cp = open_ok(&g);
    expect_users(cp, 2, users, 2, 8);
    assert_int_equal(offset_of(cp, 2), 80);
    expect_users(st, 2, users, 2, 9);
    tt_state_destroy(cp);
    tt_state_destroy(st);
}

static void test_store_format(void **state)
{
    struct fix *f = *state;
    tt_state_t *st = open_ok(f);
    tt_state_batch_t *b;
    char buf[8], err[512];
    size_t len;
    const uint8_t two[4] = {2, 0, 0, 0};

    assert_int_equal(tt_state_get_meta(st, "format", buf, sizeof(buf), &len,
                                       err, sizeof(err)),
                     0);
    assert_int_equal(len, 4);
    assert_int_equal(buf[0], TT_STATE_FORMAT);
    assert_int_equal(tt_state_batch_new(&b, st, err, sizeof(err)), 0);
    assert_int_equal(tt_state_batch_put_meta(b, "format", two, 4, err,
                                             sizeof(err)),
                     0);
    assert_int_equal(tt_state_commit(st, b, err, sizeof(err)), 0);
    tt_state_batch_destroy(b);
    tt_state_destroy(st);
    st = NULL;
    assert_int_equal(tt_state_new(&st, &f->conf, err, sizeof(err)),
                     TT_ERR_VERSION);
    assert_null(st);
    assert_non_null(strstr(err, "format 2"));
}

/* The crash test's writer, run as a separate process (fork + exec of this
 * program) so that RocksDB's threads start fresh: batch k writes users
 * k % 40 and (7k) % 40 of partition 0 with count k, and offset k. */
static int writer_main(const char *path, const char *ready)
{
    struct tt_conf_state c = {0};
    struct tt_user_state s;
    tt_state_batch_t *b;
    tt_state_t *st;
    char err[512];

    c.path = (char *)path;
    c.cache_mb = 8;
    c.write_buffer_mb = 1;
    if (tt_state_new(&st, &c, err, sizeof(err)) ||
        tt_state_batch_new(&b, st, err, sizeof(err)) ||
        tt_ustate_init(&s, DIM, HIST)) {
        fprintf(stderr, "writer: %s\n", err);
        return 1;
    }
    for (int64_t k = 1;; k++) {
        const int64_t u[2] = {k % 40, (7 * k) % 40};

        for (int i = 0; i < 2; i++) {
            make_state(&s, u[i], (uint64_t)k);
            if (tt_state_batch_put(b, 0, u[i], &s, err, sizeof(err)))
                return 1;
        }
        if (tt_state_batch_set_offset(b, 0, k, err, sizeof(err)) ||
            tt_state_commit(st, b, err, sizeof(err)))
            return 1;
        if (k == 300)
            close(open(ready, O_CREAT | O_WRONLY, 0600));
    }
}

static void test_crash_keeps_offsets_with_states(void **state)
{
    struct fix *f = *state;
    char ready[400], self[4096], err[512];
    struct timespec ts = {0, 10 * 1000 * 1000};
    struct tt_user_state s;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    tt_state_iter_t *it;
    tt_state_t *st;
    int64_t off, uid;
    int wstatus, seen = 0, tries = 0;
    pid_t pid;

    assert_true(n > 0);
    self[n] = '\0';
    snprintf(ready, sizeof(ready), "%s/ready", f->dir);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(self, self, "--writer", f->path, ready, (char *)NULL);
        _exit(127);
    }
    while (access(ready, F_OK) != 0 && tries++ < 2000)
        nanosleep(&ts, NULL);
    assert_true(access(ready, F_OK) == 0);
    /* Another process holds the store: a clear refusal, no crash. */
    st = (tt_state_t *)(uintptr_t)1;
    assert_int_equal(tt_state_new(&st, &f->conf, err, sizeof(err)),
                     TT_ERR_STATE);
    assert_null(st);
    assert_non_null(strstr(err, "locked"));
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    assert_true(WIFSIGNALED(wstatus));

    st = open_ok(f);
    assert_int_equal(tt_state_applied_offset(st, 0, &off, err, sizeof(err)),
                     0);
    assert_true(off >= 300);
    /* Every user holds a state of a batch at or below the offset, and the
     * users of batch `off` hold exactly that batch's states. */
    assert_int_equal(tt_ustate_init(&s, DIM, HIST), 0);
    assert_int_equal(tt_state_iter_new(&it, st, 0, err, sizeof(err)), 0);
    while (tt_state_iter_next(it, &uid, &s, err, sizeof(err)) == TT_ERR_OK) {
        assert_true((int64_t)s.count <= off);
        if (uid == off % 40 || uid == (7 * off) % 40)
            assert_int_equal((int64_t)s.count, off);
        seen++;
    }
    assert_int_equal(seen, 40);
    tt_state_iter_destroy(it);
    tt_ustate_release(&s);
    tt_state_destroy(st);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_and_multi_get, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_multi_get_many_chunks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_batch_atomicity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_drop_and_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_bound_in_store, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_record_in_store, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_iterator_and_stats, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_keeps_offsets_with_states,
                                        setup, teardown),
    };

    if (argc == 4 && strcmp(argv[1], "--writer") == 0)
        return writer_main(argv[2], argv[3]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
