/*
 * Unit tests of state/tt_ucache: a random power-law read-modify-write
 * workload run against the store alone and through caches of two sizes,
 * with aborted batches and dropped partitions, must leave identical stores
 * and serve identical reads; plus hits, clean eviction, the all-dirty refusal,
 * rollback and failed commits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"
#include "state/tt_state.h"
#include "state/tt_ucache.h"

#define DIM 8
#define HIST 20
#define USERS 400
#define PARTS 3
#define MAXB 40

struct fix {
    char dir[256];
};

static int rm_entry(const char *p, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");

    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/tt_ucache_XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;

    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static tt_state_t *open_store(struct fix *f, const char *name)
{
    char path[400], err[512];
    struct tt_conf_state c = {0};
    tt_state_t *st;

    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    c.path = path;
    c.cache_mb = 4;
    c.write_buffer_mb = 1;
    if (tt_state_new(&st, &c, err, sizeof(err)))
        fail_msg("open %s: %s", name, err);
    return st;
}

/* One event applied to a state: deterministic, touches every field. */
static void apply(struct tt_user_state *s, int64_t item, int64_t offset,
                  int64_t ts)
{
    if (s->dim == 0) {
        s->dim = DIM;
        for (uint32_t j = 0; j < DIM; j++)
            s->emb[j] = 0.0f;
    }
    for (uint32_t j = 0; j < DIM; j++)
        s->emb[j] = 0.9f * s->emb[j] +
                    (float)((item * 31 + (int64_t)j * 7) % 13) / 13.0f;
    s->count++;
    s->cell = s->count > 25 ? TT_USTATE_CELL_ACTIVE : TT_USTATE_CELL_INACTIVE;
    s->model_version = 1 + s->count / 50;
    s->last_event_ms = ts;
    tt_ustate_push(s, item, offset, (int32_t)(item % 5) - 1);
}

/* A Zipf(1.1) user sampler over USERS ids. */
struct zipf {
    double cdf[USERS];
};

static void zipf_init(struct zipf *z)
{
    double sum = 0;

    for (int i = 0; i < USERS; i++)
        sum += 1.0 / pow(i + 1, 1.1);
    double acc = 0;
    for (int i = 0; i < USERS; i++) {
        acc += 1.0 / pow(i + 1, 1.1) / sum;
        z->cdf[i] = acc;
    }
}

static int64_t zipf_draw(const struct zipf *z, struct tt_rng *rng)
{
    double u = tt_rng_uniform(rng);
    int lo = 0, hi = USERS - 1;

    while (lo < hi) {
        int mid = (lo + hi) / 2;

        if (z->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Scatter ranks over ids so hot users are not all small ids. */
    return (int64_t)(tt_rng_mix64((uint64_t)lo) % 1000000);
}

/* One replica of the workload: the store alone (cache NULL) or cached. */
struct replica {
    tt_state_t *st;
    tt_ucache_t *cache;
    tt_state_batch_t *b;
};

static void rep_get(struct replica *r, int32_t p, size_t n, const int64_t *ids,
                    struct tt_user_state *const *s, tt_err_t *status)
{
    char err[512];
    tt_err_t rc = r->cache ? tt_ucache_get_many(r->cache, p, n, ids, s,
                                                status, err, sizeof(err))
                           : tt_state_get_many(r->st, p, n, ids, s, status,
                                               err, sizeof(err));

    if (rc)
        fail_msg("get: %s", err);
}

static void rep_put(struct replica *r, int32_t p, int64_t id,
                    const struct tt_user_state *s)
{
    char err[512];
    tt_err_t rc = r->cache ? tt_ucache_put(r->cache, p, id, s, err,
                                           sizeof(err))
                           : tt_state_batch_put(r->b, p, id, s, err,
                                                sizeof(err));

    if (rc)
        fail_msg("put: %s", err);
}

static void rep_commit(struct replica *r, int32_t p, int64_t offset)
{
    char err[512];
    tt_err_t rc;

    assert_int_equal(tt_state_batch_set_offset(r->b, p, offset, err,
                                               sizeof(err)),
                     0);
    rc = r->cache ? tt_ucache_commit(r->cache, r->b, err, sizeof(err))
                  : tt_state_commit(r->st, r->b, err, sizeof(err));
    if (rc)
        fail_msg("commit: %s", err);
}

static void rep_abort(struct replica *r)
{
    tt_state_batch_clear(r->b);
    if (r->cache)
        tt_ucache_rollback(r->cache);
}

static void rep_drop(struct replica *r, int32_t p)
{
    char err[512];
    tt_err_t rc = r->cache ? tt_ucache_drop_partition(r->cache, p, err,
                                                      sizeof(err))
                           : tt_state_drop_partition(r->st, p, err,
                                                     sizeof(err));

    assert_int_equal(rc, 0);
}

/* Both stores hold the same users, states and offsets. */
static void assert_same_store(tt_state_t *a, tt_state_t *b)
{
    struct tt_user_state sa, sb;
    char err[512];

    assert_int_equal(tt_ustate_init(&sa, DIM, HIST), 0);
    assert_int_equal(tt_ustate_init(&sb, DIM, HIST), 0);
    for (int32_t p = 0; p < PARTS; p++) {
        tt_state_iter_t *ia, *ib;
        int64_t ua, ub, oa, ob;
        tt_err_t ra, rb;

        assert_int_equal(tt_state_applied_offset(a, p, &oa, err, sizeof(err)),
                         0);
        assert_int_equal(tt_state_applied_offset(b, p, &ob, err, sizeof(err)),
                         0);
        assert_int_equal(oa, ob);
        assert_int_equal(tt_state_iter_new(&ia, a, p, err, sizeof(err)), 0);
        assert_int_equal(tt_state_iter_new(&ib, b, p, err, sizeof(err)), 0);
        do {
            ra = tt_state_iter_next(ia, &ua, &sa, err, sizeof(err));
            rb = tt_state_iter_next(ib, &ub, &sb, err, sizeof(err));
            assert_int_equal(ra, rb);
            if (ra == TT_ERR_OK) {
                assert_int_equal(ua, ub);
                assert_true(tt_ustate_equal(&sa, &sb));
            }
        } while (ra == TT_ERR_OK);
        assert_int_equal(ra, TT_ERR_NOTFOUND);
        tt_state_iter_destroy(ia);
        tt_state_iter_destroy(ib);
    }
    tt_ustate_release(&sa);
    tt_ustate_release(&sb);
}

static void test_cache_equivalence(void **state)
{
    struct fix *f = *state;
    enum { R = 3 };
    struct replica r[R] = {{0}};
    const char *names[R] = {"plain", "small", "large"};
    const uint32_t caps[R] = {0, 32, 2048};
    struct tt_user_state s[R][MAXB], *ptr[R][MAXB];
    tt_err_t status[R][MAXB];
    int64_t offset[PARTS] = {0};
    struct zipf *z = malloc(sizeof(*z));
    struct tt_ucache_stats cs;
    struct tt_rng rng;
    char err[512];

    assert_non_null(z);
    zipf_init(z);
    tt_rng_seed(&rng, 2024, 0);
    for (int k = 0; k < R; k++) {
        r[k].st = open_store(f, names[k]);
        assert_int_equal(tt_state_batch_new(&r[k].b, r[k].st, err,
                                            sizeof(err)),
                         0);
        if (caps[k])
            assert_int_equal(tt_ucache_new(&r[k].cache, r[k].st, caps[k], DIM,
                                           HIST, err, sizeof(err)),
                             0);
        for (int i = 0; i < MAXB; i++) {
            assert_int_equal(tt_ustate_init(&s[k][i], DIM, HIST), 0);
            ptr[k][i] = &s[k][i];
        }
    }
    for (int batch = 0; batch < 600; batch++) {
        int32_t p = (int32_t)tt_rng_below(&rng, PARTS);
        size_t nev = 1 + tt_rng_below(&rng, 30), n = 0;
        int64_t ev_user[30], ev_item[30], ids[MAXB];
        double what = tt_rng_uniform(&rng);

        /* Events of one poll batch, deduplicated into distinct users. */
        for (size_t e = 0; e < nev; e++) {
            size_t j;

            ev_user[e] = zipf_draw(z, &rng);
            ev_item[e] = (int64_t)tt_rng_below(&rng, 5000);
            for (j = 0; j < n && ids[j] != ev_user[e]; j++)
                ;
            if (j == n)
                ids[n++] = ev_user[e];
        }
        for (int k = 0; k < R; k++)
            rep_get(&r[k], p, n, ids, ptr[k], status[k]);
        for (size_t i = 0; i < n; i++)
            for (int k = 1; k < R; k++) {
                assert_int_equal(status[k][i], status[0][i]);
                assert_true(tt_ustate_equal(&s[k][i], &s[0][i]));
            }
        for (size_t e = 0; e < nev; e++) {
            size_t j;

            for (j = 0; ids[j] != ev_user[e]; j++)
                ;
            for (int k = 0; k < R; k++)
                apply(&s[k][j], ev_item[e], offset[p] + (int64_t)e,
                      1000 * batch + (int64_t)e);
        }
        for (int k = 0; k < R; k++)
            for (size_t i = 0; i < n; i++)
                rep_put(&r[k], p, ids[i], &s[k][i]);
        if (what < 0.08) {
            /* An aborted transaction: nothing of this batch may stick. */
            for (int k = 0; k < R; k++)
                rep_abort(&r[k]);
            continue;
        }
        offset[p] += (int64_t)nev;
        for (int k = 0; k < R; k++)
            rep_commit(&r[k], p, offset[p] - 1);
        if (what > 0.99) {
            for (int k = 0; k < R; k++)
                rep_drop(&r[k], p);
        }
    }
    for (int k = 1; k < R; k++)
        assert_same_store(r[0].st, r[k].st);
    /* The small cache really evicted and the large one really hit. */
    tt_ucache_stats(r[1].cache, &cs);
    assert_true(cs.evictions > 100);
    assert_true(cs.size <= 32);
    assert_int_equal(cs.dirty, 0);
    tt_ucache_stats(r[2].cache, &cs);
    assert_true(cs.hits > cs.misses);
    /* The slab: at least the entries' embedding and history buffers. */
    assert_true(cs.bytes > 2048u * (DIM * 4 + HIST * 20));
    assert_int_equal(cs.evictions, 0);
    for (int k = 0; k < R; k++) {
        for (int i = 0; i < MAXB; i++)
            tt_ustate_release(&s[k][i]);
        tt_ucache_destroy(r[k].cache);
        tt_state_batch_destroy(r[k].b);
        tt_state_destroy(r[k].st);
    }
    free(z);
}

static void test_dirty_bound_rollback_and_failed_commit(void **state)
{
    struct fix *f = *state;
    tt_state_t *st = open_store(f, "db");
    tt_ucache_t *c;
    tt_state_batch_t *b;
    struct tt_user_state s, g;
    struct tt_user_state *gp = &g;
    struct tt_ucache_stats cs;
    tt_err_t status;
    char err[512];
    int64_t id;

    assert_int_equal(tt_ucache_new(&c, st, 4, DIM, HIST, err, sizeof(err)), 0);
    assert_int_equal(tt_state_batch_new(&b, st, err, sizeof(err)), 0);
    assert_int_equal(tt_ustate_init(&s, DIM, HIST), 0);
    assert_int_equal(tt_ustate_init(&g, DIM, HIST), 0);

    /* Four dirty users fill the cache; a fifth is refused, not lost. */
    for (id = 1; id <= 4; id++) {
        tt_ustate_reset(&s);
        apply(&s, id, id, id);
        assert_int_equal(tt_ucache_put(c, 0, id, &s, err, sizeof(err)), 0);
    }
    err[0] = '\0';
    assert_int_equal(tt_ucache_put(c, 0, 5, &s, err, sizeof(err)),
                     TT_ERR_OVERFLOW);
    assert_non_null(strstr(err, "user_cache"));
    /* Updating a cached dirty user still works. */
    apply(&s, 9, 9, 9);
    assert_int_equal(tt_ucache_put(c, 0, 4, &s, err, sizeof(err)), 0);
    assert_int_equal(tt_state_batch_set_offset(b, 0, 4, err, sizeof(err)), 0);
    assert_int_equal(tt_ucache_commit(c, b, err, sizeof(err)), 0);
    tt_ucache_stats(c, &cs);
    assert_int_equal(cs.dirty, 0);
    assert_int_equal(cs.refusals, 1);
    /* Now clean entries can be evicted for the fifth. */
    assert_int_equal(tt_ucache_put(c, 0, 5, &s, err, sizeof(err)), 0);
    assert_int_equal(tt_ucache_commit(c, b, err, sizeof(err)), 0);

    /* Rollback: the uncommitted put of user 4 disappears; the read goes
     * back to the store and gets the committed state (count 2). */
    id = 4;
    tt_ustate_reset(&s);
    for (int i = 0; i < 7; i++)
        apply(&s, 100 + i, i, i);
    assert_int_equal(tt_ucache_put(c, 0, id, &s, err, sizeof(err)), 0);
    assert_int_equal(tt_ucache_get_many(c, 0, 1, &id, &gp, &status, err,
                                        sizeof(err)),
                     0);
    assert_int_equal(g.count, 7); /* this commit's put is visible */
    tt_ucache_rollback(c);
    assert_int_equal(tt_ucache_get_many(c, 0, 1, &id, &gp, &status, err,
                                        sizeof(err)),
                     0);
    assert_int_equal(status, TT_ERR_OK);
    assert_int_equal(g.count, 2);

    /* A failed commit (its partition dropped under it) forgets the dirty
     * entries and writes nothing. */
    assert_int_equal(tt_ucache_put(c, 1, 77, &s, err, sizeof(err)), 0);
    assert_int_equal(tt_state_batch_set_offset(b, 1, 50, err, sizeof(err)), 0);
    assert_int_equal(tt_state_drop_partition(st, 1, err, sizeof(err)), 0);
    assert_int_equal(tt_ucache_commit(c, b, err, sizeof(err)), TT_ERR_STATE);
    id = 77;
    assert_int_equal(tt_ucache_get_many(c, 1, 1, &id, &gp, &status, err,
                                        sizeof(err)),
                     0);
    assert_int_equal(status, TT_ERR_NOTFOUND);
    tt_ucache_stats(c, &cs);
    assert_int_equal(cs.dirty, 0);

    /* Forgetting a partition evicts its entries. */
    id = 5;
    assert_int_equal(tt_ucache_get_many(c, 0, 1, &id, &gp, &status, err,
                                        sizeof(err)),
                     0);
    tt_ucache_stats(c, &cs);
    assert_true(cs.size > 0);
    tt_ucache_forget_partition(c, 0);
    tt_ucache_stats(c, &cs);
    assert_int_equal(cs.size, 0);

    /* Refusals of bad arguments and of a caller buffer too small. */
    assert_int_equal(tt_ucache_put(c, -1, 1, &s, err, sizeof(err)),
                     TT_ERR_INVAL);
    assert_int_equal(tt_ucache_put(c, 0, -1, &s, err, sizeof(err)),
                     TT_ERR_INVAL);
    {
        struct tt_user_state narrow, *np = &narrow;

        assert_int_equal(tt_ustate_init(&narrow, DIM / 2, HIST), 0);
        id = 5;
        /* A miss (decoded by the store) and then a hit (copied by the
         * cache): both must refuse the short buffer the same way. */
        for (int pass = 0; pass < 2; pass++) {
            assert_int_equal(tt_ucache_get_many(c, 0, 1, &id, &np, &status,
                                                err, sizeof(err)),
                             TT_ERR_OVERFLOW);
            assert_int_equal(status, TT_ERR_OVERFLOW);
            assert_int_equal(tt_ucache_get_many(c, 0, 1, &id, &gp, &status,
                                                err, sizeof(err)),
                             0);
        }
        tt_ustate_release(&narrow);
    }
    tt_ucache_destroy(c);
    assert_int_equal(tt_ucache_new(&c, st, 0, DIM, HIST, err, sizeof(err)),
                     TT_ERR_INVAL);
    assert_null(c);
    tt_ustate_release(&s);
    tt_ustate_release(&g);
    tt_state_batch_destroy(b);
    tt_state_destroy(st);
}

/* The commit writes its users sorted by (partition, id), which reorders the
 * dirty list: a commit that fails after that must still forget exactly the
 * uncommitted users, and a later commit must write every user. */
static void test_sorted_commit(void **state)
{
    struct fix *f = *state;
    tt_state_t *st = open_store(f, "db");
    tt_ucache_t *c;
    tt_state_batch_t *b;
    struct tt_user_state s, g[6], want;
    struct tt_user_state *gp[6];
    struct tt_ucache_stats cs;
    tt_err_t status[6];
    char err[512];
    const int64_t ids[6] = {7, 3, 9, 1, 5, 2};
    const int32_t parts[6] = {2, 2, 0, 2, 0, 2};

    assert_int_equal(tt_ucache_new(&c, st, 8, DIM, HIST, err, sizeof(err)), 0);
    assert_int_equal(tt_state_batch_new(&b, st, err, sizeof(err)), 0);
    assert_int_equal(tt_ustate_init(&s, DIM, HIST), 0);
    assert_int_equal(tt_ustate_init(&want, DIM, HIST), 0);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(tt_ustate_init(&g[i], DIM, HIST), 0);
        gp[i] = &g[i];
    }
    /* User 4 of partition 0 committed and clean: it must survive. */
    apply(&s, 40, 0, 0);
    assert_int_equal(tt_ucache_put(c, 0, 4, &s, err, sizeof(err)), 0);
    assert_int_equal(tt_ucache_commit(c, b, err, sizeof(err)), 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 6; i++) {
            tt_ustate_reset(&s);
            for (int k = 0; k <= i + round; k++)
                apply(&s, ids[i] * 10 + k, k, k);
            assert_int_equal(
                tt_ucache_put(c, parts[i], ids[i], &s, err, sizeof(err)), 0);
        }
        if (round == 0) {
            /* Fails after sorting: partition 3 dropped under the batch. */
            assert_int_equal(
                tt_state_batch_set_offset(b, 3, 8, err, sizeof(err)), 0);
            assert_int_equal(tt_state_drop_partition(st, 3, err, sizeof(err)),
                             0);
            assert_int_equal(tt_ucache_commit(c, b, err, sizeof(err)),
                             TT_ERR_STATE);
            tt_ucache_stats(c, &cs);
            assert_int_equal(cs.dirty, 0);
            assert_int_equal(cs.size, 1);
            for (int i = 0; i < 6; i++) {
                assert_int_equal(tt_ucache_get_many(c, parts[i], 1, &ids[i],
                                                    &gp[i], &status[i], err,
                                                    sizeof(err)),
                                 0);
                assert_int_equal(status[i], TT_ERR_NOTFOUND);
            }
            continue;
        }
        assert_int_equal(tt_ucache_commit(c, b, err, sizeof(err)), 0);
    }
    tt_ucache_stats(c, &cs);
    assert_int_equal(cs.dirty, 0);
    /* Every user in the store itself, as put in the second round. */
    for (int i = 0; i < 6; i++) {
        assert_int_equal(tt_state_get_many(st, parts[i], 1, &ids[i], &gp[i],
                                           &status[i], err, sizeof(err)),
                         0);
        assert_int_equal(status[i], TT_ERR_OK);
        tt_ustate_reset(&want);
        for (int k = 0; k <= i + 1; k++)
            apply(&want, ids[i] * 10 + k, k, k);
        assert_true(tt_ustate_equal(&g[i], &want));
    }
    {
        const int64_t four = 4;

        assert_int_equal(tt_state_get_many(st, 0, 1, &four, &gp[0],
                                           &status[0], err, sizeof(err)),
                         0);
        assert_int_equal(status[0], TT_ERR_OK);
        assert_int_equal(g[0].count, 1);
    }
    for (int i = 0; i < 6; i++)
        tt_ustate_release(&g[i]);
    tt_ustate_release(&s);
    tt_ustate_release(&want);
    tt_ucache_destroy(c);
    tt_state_batch_destroy(b);
    tt_state_destroy(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cache_equivalence, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_dirty_bound_rollback_and_failed_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sorted_commit, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
