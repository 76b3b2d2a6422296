/*
 * Unit tests of consumers/tt_proc, the pure per-batch processing of the
 * stream: every output equals an independent reference computed from the
 * user's history with the model library alone (tt_model_user_start/step/
 * query), bit for bit; a user's results do not depend on which users share
 * its batch, on the batch sizes or on the interleaving of users; routing
 * (t*, phi_u, cutoffs), unknown items, duplicates, retention and model swaps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"
#include "consumers/tt_proc.h"
#include "model/tt_model.h"
#include "model/tt_model_int.h"
#include "state/tt_ustate.h"

#define DIM 16
#define N_ITEMS 40     /* ids 0..N_ITEMS-1 known; N_ITEMS.. unknown */
#define N_USERS 24     /* ids 0..N_USERS-1 */
#define N_PARTS 3
#define TSTAR 5

/* ---- models ------------------------------------------------------------ */

/* make_model_w's `window` for a hopping-window model of K 4, hop h. */
#define W_HOP(h) (1 + (h))

/* A random model: users with an even id have a phi_u; cutoffs per
 * partition at `cut` (none when cut < 0); window 0: none, 1: the sliding
 * window (K 3), W_HOP(h): the hopping window (K 4, hop h). */
static tt_model_t *make_model_w(uint64_t seed, uint64_t version, bool plus,
                                uint32_t n_items, int64_t cut, int window)
{
    struct tt_rng rng;
    struct tt_model_parts parts;
    size_t nd = tt_model_dense_floats(DIM, plus);
    float *items = malloc((size_t)n_items * DIM * sizeof(float));
    float *phi = malloc((size_t)N_USERS * DIM * sizeof(float));
    float *dense = malloc(nd * sizeof(float));
    int64_t *item_ids = malloc(n_items * sizeof(int64_t));
    int64_t *user_ids = malloc(N_USERS * sizeof(int64_t));
    struct tt_model_cutoff cuts[N_PARTS];
    uint32_t n_active = 0;
    tt_model_t *m = NULL;
    char err[256];

    assert_non_null(items);
    assert_non_null(phi);
    assert_non_null(dense);
    tt_rng_seed(&rng, seed, 1);
    for (uint32_t i = 0; i < n_items; i++)
        item_ids[i] = i;
    for (size_t i = 0; i < (size_t)n_items * DIM; i++)
        items[i] = (float)(0.5 * tt_rng_normal(&rng));
    for (int64_t u = 0; u < N_USERS; u += 2) {
        user_ids[n_active] = u;
        for (int k = 0; k < DIM; k++)
            phi[n_active * DIM + k] = (float)(0.5 * tt_rng_normal(&rng));
        n_active++;
    }
    for (size_t i = 0; i < nd; i++)
        dense[i] = (float)(0.4 * tt_rng_normal(&rng));
    for (int p = 0; p < N_PARTS; p++) {
        cuts[p].partition = p;
        cuts[p].offset = cut;
    }
    memset(&parts, 0, sizeof(parts));
    parts.dim = DIM;
    parts.tstar = TSTAR;
    parts.k = window > 1 ? 4 : 3;
    parts.flags = (plus ? TT_MODEL_FLAG_PLUS : 0) |
                  (window ? TT_MODEL_FLAG_WINDOW : 0) |
                  (window > 1 ? TT_MODEL_FLAGS_HOP(window - 1) : 0);
    parts.version = version;
    parts.seed = seed;
    parts.n_items = n_items;
    parts.item_ids = item_ids;
    parts.items = items;
    parts.n_active = n_active;
    parts.user_ids = user_ids;
    parts.phi = phi;
    parts.dense = dense;
    parts.n_cutoffs = cut >= 0 ? N_PARTS : 0;
    parts.cutoffs = cuts;
    assert_int_equal(tt_model_build(&m, &parts, err, sizeof(err)), TT_ERR_OK);
    free(items);
    free(phi);
    free(dense);
    free(item_ids);
    free(user_ids);
    return m;
}

static tt_model_t *make_model(uint64_t seed, uint64_t version, bool plus,
                              uint32_t n_items, int64_t cut)
{
    return make_model_w(seed, version, plus, n_items, cut, false);
}

/* ---- the reference: histories and the model library only ---------------- */

#define REF_HIST_MAX 64

struct ref_user {
    uint64_t count;
    uint32_t n;
    int64_t item[REF_HIST_MAX];
    int64_t off[REF_HIST_MAX];
};

static struct ref_user ref[N_PARTS][N_USERS];

static void ref_reset(void)
{
    memset(ref, 0, sizeof(ref));
}

/* Applies an event (the documented retention: drop the oldest half when
 * full); false when it is a duplicate. */
static bool ref_apply(int p, int64_t u, int64_t item, int64_t off,
                      uint32_t hmax)
{
    struct ref_user *r = &ref[p][u];

    if (r->n > 0 && off <= r->off[r->n - 1])
        return false;
    if (r->n == hmax) {
        uint32_t keep = hmax / 2;

        memmove(r->item, r->item + (r->n - keep), keep * sizeof(int64_t));
        memmove(r->off, r->off + (r->n - keep), keep * sizeof(int64_t));
        r->n = keep;
    }
    r->item[r->n] = item;
    r->off[r->n] = off;
    r->n++;
    r->count++;
    return true;
}

static int64_t ref_cutoff(const tt_model_t *m, int p)
{
    struct tt_model_info info;
    const struct tt_model_cutoff *c = tt_model_cutoffs(m);

    tt_model_get_info(m, &info);
    for (uint32_t i = 0; i < info.n_cutoffs; i++)
        if (c[i].partition == p)
            return c[i].offset;
    return -1;
}

static struct tt_user_run ref_run;

/* The embedding (query) of user u of partition p from its history. */
static enum tt_cell ref_query(const tt_model_t *m, int p, int64_t u, float *q)
{
    struct tt_model_info info;
    const struct ref_user *r = &ref[p][u];
    int64_t cut = ref_cutoff(m, p);

    const float *xs[REF_HIST_MAX];
    bool active;
    size_t n = 0;

    /* The model library's one definition: tt_model_user_state over the
     * retained items, without the cutoff's items for a non-window active
     * cell (tt_model.h). */
    tt_model_get_info(m, &info);
    active = r->count > info.tstar && tt_model_phi(m, u) != NULL;
    for (uint32_t j = 0; j < r->n; j++) {
        if (active && !info.window && cut >= 0 && r->off[j] < cut)
            continue;
        xs[n++] = tt_model_item(m, r->item[j]);
    }
    /* the history holds events count - n + 1 .. count (a hopping window
     * is anchored to the count) */
    tt_model_user_state_at(m, u, r->count > info.tstar, xs, NULL, n,
                           r->count - r->n, &ref_run);
    tt_model_user_query(m, &ref_run, q);
    return ref_run.cell;
}

/* ---- a simulated store: encoded records between batches ----------------- */

struct store_rec {
    size_t len;
    uint8_t buf[TT_USTATE_HEADER_SIZE + 4 * DIM +
                TT_USTATE_ITEM_SIZE * REF_HIST_MAX + TT_USTATE_CRC_SIZE];
};

static struct store_rec store[N_PARTS][N_USERS];

static void store_reset(void)
{
    memset(store, 0, sizeof(store));
}

static void load_states(tt_proc_t *p)
{
    for (size_t i = 0; i < tt_proc_n_users(p); i++) {
        int32_t part;
        int64_t uid;
        struct tt_user_state *s = tt_proc_user(p, i, &part, &uid);
        struct store_rec *r = &store[part][uid];

        if (r->len)
            assert_int_equal(tt_ustate_decode(r->buf, r->len, s, NULL, 0),
                             TT_ERR_OK);
    }
}

static void save_states(tt_proc_t *p)
{
    for (size_t i = 0; i < tt_proc_n_users(p); i++) {
        int32_t part;
        int64_t uid;
        struct tt_user_state *s = tt_proc_user(p, i, &part, &uid);
        struct store_rec *r = &store[part][uid];

        if (!tt_proc_user_dirty(p, i))
            continue;
        assert_int_equal(
            tt_ustate_encode(s, r->buf, sizeof(r->buf), &r->len, NULL, 0),
            TT_ERR_OK);
    }
}

/* ---- event streams ---------------------------------------------------- */

#define N_EV 600

static struct tt_proc_in evs[N_EV];

/* Events of N_USERS users over N_PARTS partitions (a user lives in one
 * partition), offsets increasing per partition, some unknown items. */
static void make_events(uint64_t seed, size_t n, int64_t first_offset)
{
    struct tt_rng rng;
    int64_t next[N_PARTS];

    tt_rng_seed(&rng, seed, 2);
    for (int p = 0; p < N_PARTS; p++)
        next[p] = first_offset;
    for (size_t i = 0; i < n; i++) {
        /* A skewed choice of user, so some cross t* and overflow. */
        uint64_t a = tt_rng_below(&rng, N_USERS);
        uint64_t b = tt_rng_below(&rng, N_USERS);
        int64_t u = (int64_t)(a < b ? a : b);
        int p = (int)(u % N_PARTS);

        memset(&evs[i], 0, sizeof(evs[i]));
        evs[i].ev.user_id = u;
        evs[i].ev.item_id = (int64_t)tt_rng_below(&rng, N_ITEMS + 6);
        evs[i].ev.ts_ms = INT64_C(1700000000000) + (int64_t)i;
        evs[i].ev.category = TT_EVENT_NO_CATEGORY;
        evs[i].partition = p;
        evs[i].offset = next[p];
        next[p] += 1 + (int64_t)tt_rng_below(&rng, 2);
    }
}

/* Output of each event of the stream: q bits and state facts. */
struct result {
    bool applied;
    uint8_t cell;
    uint64_t count;
    uint64_t version;
    float q[DIM];
};

/* Runs events evs[order[k]] in batches of the given sizes, carrying states
 * through the simulated store; results indexed by event. */
static void run_batches(const struct tt_proc_view *v, uint32_t hmax,
                        const size_t *order, size_t n, const size_t *sizes,
                        size_t n_sizes, struct result *res)
{
    struct tt_proc_conf pc = {.batch_max = 64, .history_max = hmax};
    tt_proc_t *p;
    size_t k = 0, b = 0;

    assert_int_equal(tt_proc_new(&p, &pc, NULL, 0), TT_ERR_OK);
    while (k < n) {
        size_t sz = sizes[b++ % n_sizes], n_out;
        const struct tt_proc_out *out;

        tt_proc_begin(p);
        for (size_t j = 0; j < sz && k < n; j++, k++)
            assert_int_equal(tt_proc_add(p, &evs[order[k]]), TT_ERR_OK);
        load_states(p);
        assert_int_equal(tt_proc_run(p, v), TT_ERR_OK);
        out = tt_proc_outputs(p, &n_out);
        for (size_t j = 0; j < n_out; j++) {
            size_t e = order[k - n_out + j];
            struct result *r = &res[e];

            assert_int_equal(out[j].in, j);
            r->applied = out[j].applied;
            r->cell = out[j].cell;
            r->count = out[j].count;
            r->version = out[j].model_version;
            if (out[j].applied)
                memcpy(r->q, out[j].q, sizeof(r->q));
        }
        save_states(p);
    }
    tt_proc_destroy(p);
}

static size_t ident[N_EV];
static struct result res_a[N_EV], res_b[N_EV];

static void check_against_reference(const tt_model_t *m, uint32_t hmax,
                                    size_t n, const struct result *res)
{
    float q[DIM];

    ref_reset();
    for (size_t i = 0; i < n; i++) {
        const struct tt_proc_in *e = &evs[i];
        bool applied = ref_apply(e->partition, e->ev.user_id, e->ev.item_id,
                                 e->offset, hmax);
        enum tt_cell cell;

        assert_int_equal(res[i].applied, applied);
        if (!applied)
            continue;
        cell = ref_query(m, e->partition, e->ev.user_id, q);
        assert_int_equal(res[i].cell, (uint8_t)cell);
        assert_int_equal(res[i].count, ref[e->partition][e->ev.user_id].count);
        assert_memory_equal(res[i].q, q, sizeof(q));
    }
}

/* Projection cache sizes: the default (room for every item: direct), none,
 * and 64 entries for 2 * N_ITEMS keys (hashed: entries are replaced). */
#define XP_DEFAULT ((size_t)-1)
#define XP_SMALL (64 * (3 * DIM * sizeof(float) + sizeof(uint32_t)))

static void test_reference_x(bool plus, int64_t cut, uint32_t hmax,
                             int window, size_t xp_bytes)
{
    tt_model_t *m = make_model_w(11, 3, plus, N_ITEMS, cut, window);
    struct tt_proc_view v;
    size_t sizes[] = {1, 7, 64, 3, 30};

    assert_int_equal(tt_proc_view_init(&v, m), TT_ERR_OK);
    assert_non_null(v.xp);
    if (xp_bytes != XP_DEFAULT) {
        tt_proc_view_set_cache(&v, xp_bytes);
        assert_true(xp_bytes ? v.xp != NULL : v.xp == NULL);
    }
    make_events(5, N_EV, 0);
    for (size_t i = 0; i < N_EV; i++)
        ident[i] = i;
    store_reset();
    run_batches(&v, hmax, ident, N_EV, sizes, 5, res_a);
    check_against_reference(m, hmax, N_EV, res_a);
    tt_proc_view_release(&v);
    tt_model_destroy(m);
}

static void test_reference_w(bool plus, int64_t cut, uint32_t hmax,
                             int window)
{
    test_reference_x(plus, cut, hmax, window, XP_DEFAULT);
}

static void test_reference(bool plus, int64_t cut, uint32_t hmax)
{
    test_reference_w(plus, cut, hmax, false);
}

/* (1) Outputs equal the reference, bit for bit, in every model variant. */
static void reference_plain(void **st)
{
    (void)st;
    test_reference(false, -1, 16);
}

static void reference_plus(void **st)
{
    (void)st;
    test_reference(true, -1, 16);
}

/* With a cutoff, active users step only over events at or after it. */
static void reference_cutoff(void **st)
{
    (void)st;
    test_reference(true, 150, 16);
    test_reference(false, 150, 64);
}

/* A window model: active users follow their last K items across the
 * cutoff, recomputed on every event; with a tiny history too. */
static void reference_window(void **st)
{
    (void)st;
    test_reference_w(false, 150, 16, true);
    test_reference_w(true, 150, 64, true);
    test_reference_w(true, -1, 4, true);
}

/* A hopping-window model (K 4): active users step between hops and are
 * recomputed at hops; every output equals tt_model_user_state_at over the
 * retained history, with the shortest history that holds every window
 * (2K - 2 = 6: drops keep the incremental path) and longer ones. */
static void reference_hop(void **st)
{
    (void)st;
    test_reference_w(false, 150, 6, W_HOP(2));
    test_reference_w(true, 150, 16, W_HOP(2));
    test_reference_w(true, -1, 64, W_HOP(1));
    test_reference_w(true, 150, 7, W_HOP(4));
    test_reference_w(false, -1, 16, W_HOP(3));
    test_reference_x(true, 150, 16, W_HOP(2), 0);
    test_reference_x(true, 150, 16, W_HOP(2), XP_SMALL);
}

/* The item projection cache (tt_proc.h, SPEED) changes no bit: without it,
 * and with a cache so small that entries keep replacing each other, every
 * output still equals the model library's tt_model_user_state. */
static void projection_cache(void **st)
{
    (void)st;
    for (int w = 0; w < 2; w++) {
        test_reference_x(true, 150, 16, w, 0);
        test_reference_x(true, 150, 16, w, XP_SMALL);
        test_reference_x(false, -1, 64, w, XP_SMALL);
    }
}

/* Retention: a tiny history drops its oldest half again and again; every
 * recompute and every increment still equals the reference. */
static void reference_retention(void **st)
{
    (void)st;
    test_reference(true, -1, 4);
    test_reference(false, 40, 1);
    test_reference(false, -1, 5);
}

/* (5) Batch composition: one event per batch, random sizes, and a random
 * interleaving of users (each user's own order kept) all give the same
 * output for every event and the same final states: a user's embedding
 * does not depend on which other users share its batch.  For both kinds of
 * model (a window model's active users are recomputed per event). */
static void batch_composition_w(int window)
{
    tt_model_t *m = make_model_w(21, 9, true, N_ITEMS, 100, window);
    struct tt_proc_view v;
    static size_t order[N_EV];
    static struct store_rec final_a[N_PARTS][N_USERS];
    struct tt_rng rng;
    size_t one[] = {1}, big[] = {64}, mixed[] = {5, 17, 2, 64, 33, 1, 9};
    const size_t *size_sets[] = {one, big, mixed};
    size_t n_sizes[] = {1, 1, 7}, n_active = 0;

    assert_int_equal(tt_proc_view_init(&v, m), TT_ERR_OK);
    make_events(8, N_EV, 0);
    for (size_t i = 0; i < N_EV; i++)
        ident[i] = i;
    store_reset();
    run_batches(&v, 16, ident, N_EV, big, 1, res_a);
    memcpy(final_a, store, sizeof(store));
    /* Both cells are exercised (for a window model: the recomputes). */
    for (size_t i = 0; i < N_EV; i++)
        n_active += res_a[i].applied && res_a[i].cell == TT_USTATE_CELL_ACTIVE;
    assert_true(n_active > N_EV / 10 && n_active < N_EV);
    tt_rng_seed(&rng, 99, 3);
    for (int trial = 0; trial < 6; trial++) {
        /* Interleave: repeatedly take the next event of a random user. */
        size_t pos[N_PARTS * N_USERS] = {0}, k = 0;

        while (k < N_EV) {
            size_t pick = (size_t)tt_rng_below(&rng, N_EV);
            size_t u = (size_t)(evs[pick].partition * N_USERS +
                                evs[pick].ev.user_id);

            /* the next not-yet-taken event of that user, in order */
            for (size_t i = pos[u]; i < N_EV; i++) {
                if ((size_t)(evs[i].partition * N_USERS +
                             evs[i].ev.user_id) != u)
                    continue;
                order[k++] = i;
                pos[u] = i + 1;
                break;
            }
        }
        store_reset();
        run_batches(&v, 16, trial % 2 ? order : ident, N_EV,
                    size_sets[trial % 3], n_sizes[trial % 3], res_b);
        for (size_t i = 0; i < N_EV; i++) {
            assert_int_equal(res_a[i].applied, res_b[i].applied);
            assert_int_equal(res_a[i].count, res_b[i].count);
            assert_int_equal(res_a[i].cell, res_b[i].cell);
            assert_memory_equal(res_a[i].q, res_b[i].q, sizeof(res_a[i].q));
        }
        for (int p = 0; p < N_PARTS; p++)
            for (int u = 0; u < N_USERS; u++) {
                assert_int_equal(final_a[p][u].len, store[p][u].len);
                assert_memory_equal(final_a[p][u].buf, store[p][u].buf,
                                    store[p][u].len);
            }
    }
    tt_proc_view_release(&v);
    tt_model_destroy(m);
}

static void batch_composition(void **st)
{
    (void)st;
    batch_composition_w(false);
    batch_composition_w(true);
    batch_composition_w(W_HOP(2));
}

/* Feeds one event to a fresh single-user processor over the store. */
static const struct tt_proc_out *one(tt_proc_t *p,
                                     const struct tt_proc_view *v, int part,
                                     int64_t user, int64_t item, int64_t off)
{
    struct tt_proc_in in;
    size_t n;

    memset(&in, 0, sizeof(in));
    in.ev.user_id = user;
    in.ev.item_id = item;
    in.ev.ts_ms = 1000 + off;
    in.ev.category = TT_EVENT_NO_CATEGORY;
    in.partition = part;
    in.offset = off;
    tt_proc_begin(p);
    assert_int_equal(tt_proc_add(p, &in), TT_ERR_OK);
    load_states(p);
    assert_int_equal(tt_proc_run(p, v), TT_ERR_OK);
    save_states(p);
    return tt_proc_outputs(p, &n);
}

/* Routing: a user with a phi_u is inactive until count > t*, then active
 * from phi_u; a user without one stays inactive past t*. */
static void routing(void **st)
{
    tt_model_t *m = make_model(31, 1, false, N_ITEMS, -1);
    struct tt_proc_view v;
    struct tt_proc_conf pc = {.batch_max = 4, .history_max = 64};
    tt_proc_t *p;
    const struct tt_proc_out *o;
    float q[DIM];

    (void)st;
    assert_int_equal(tt_proc_view_init(&v, m), TT_ERR_OK);
    assert_int_equal(tt_proc_new(&p, &pc, NULL, 0), TT_ERR_OK);
    store_reset();
    ref_reset();
    for (int64_t k = 0; k < 2 * TSTAR; k++) {
        o = one(p, &v, 0, 2, k % N_ITEMS, k); /* user 2 has a phi_u */
        ref_apply(0, 2, k % N_ITEMS, k, 64);
        assert_int_equal(o->cell, k + 1 > TSTAR ? TT_USTATE_CELL_ACTIVE
                                                : TT_USTATE_CELL_INACTIVE);
        assert_int_equal(o->recomputed, k == 0 || k + 1 == TSTAR + 1);
        ref_query(m, 0, 2, q);
        assert_memory_equal(o->q, q, sizeof(q));
        o = one(p, &v, 1, 3, k % N_ITEMS, k); /* user 3 has none */
        assert_int_equal(o->cell, TT_USTATE_CELL_INACTIVE);
    }
    tt_proc_destroy(p);
    tt_proc_view_release(&v);
    tt_model_destroy(m);
}

/* The hopping window's path: an active user (t* 5, K 4, H 2) is
 * recomputed when it turns active and at each hop (a(c) changes: c = 7,
 * 9, 11, ...), and otherwise takes one step (none for an unknown item). */
static void hop_path(void **st)
{
    tt_model_t *m = make_model_w(33, 1, true, N_ITEMS, -1, W_HOP(2));
    struct tt_proc_view v;
    struct tt_proc_conf pc = {.batch_max = 4, .history_max = 6};
    struct tt_proc_stats stats;
    tt_proc_t *p;
    const struct tt_proc_out *o;
    uint64_t steps = 0;
    float q[DIM];

    (void)st;
    assert_int_equal(tt_proc_view_init(&v, m), TT_ERR_OK);
    assert_int_equal(tt_proc_new(&p, &pc, NULL, 0), TT_ERR_OK);
    store_reset();
    ref_reset();
    for (int64_t k = 0; k < 40; k++) {
        uint64_t c = (uint64_t)k + 1;
        int64_t item = k % 7 == 5 ? N_ITEMS + 1 : k % N_ITEMS;
        bool hop = c > 4 && tt_model_window_start(m, c) !=
                                tt_model_window_start(m, c - 1);

        o = one(p, &v, 0, 2, item, k); /* user 2 has a phi_u */
        ref_apply(0, 2, item, k, 6);
        assert_int_equal(o->cell, c > TSTAR ? TT_USTATE_CELL_ACTIVE
                                            : TT_USTATE_CELL_INACTIVE);
        assert_int_equal(hop, c > 4 && (c - 4) % 2 == 1);
        assert_int_equal(o->recomputed,
                         c == 1 || c == TSTAR + 1 || (c > TSTAR && hop));
        assert_int_equal(o->stepped, item < N_ITEMS);
        ref_query(m, 0, 2, q);
        assert_memory_equal(o->q, q, sizeof(q));
    }
    /* K / H = 2 steps per active event on average (H - 1 single steps and
     * a K - H + 1 recompute every H events), not K */
    tt_proc_stats(p, &stats);
    steps = stats.steps;
    assert_true(steps < 40 * 2 + 10);
    tt_proc_destroy(p);
    tt_proc_view_release(&v);
    tt_model_destroy(m);
}

/* Unknown items: counted and kept, no step; a later model that knows the
 * item recomputes the user with it. */
static void unknown_items(void **st)
{
    tt_model_t *m1 = make_model(41, 1, false, N_ITEMS, -1);
    tt_model_t *m2 = make_model(41, 2, false, N_ITEMS + 10, -1);
    struct tt_proc_view v1, v2;
    struct tt_proc_conf pc = {.batch_max = 4, .history_max = 64};
    struct tt_proc_stats stats;
    tt_proc_t *p;
    const struct tt_proc_out *o;
    float before[DIM], q[DIM];

    (void)st;
    assert_int_equal(tt_proc_view_init(&v1, m1), TT_ERR_OK);
    assert_int_equal(tt_proc_view_init(&v2, m2), TT_ERR_OK);
    assert_int_equal(tt_proc_new(&p, &pc, NULL, 0), TT_ERR_OK);
    store_reset();
    ref_reset();
    o = one(p, &v1, 0, 1, 3, 0);
    ref_apply(0, 1, 3, 0, 64);
    memcpy(before, o->q, sizeof(before));
    o = one(p, &v1, 0, 1, N_ITEMS + 2, 1); /* unknown to m1 */
    ref_apply(0, 1, N_ITEMS + 2, 1, 64);
    assert_true(o->applied);
    assert_true(o->unknown_item);
    assert_false(o->stepped);
    assert_int_equal(o->count, 2);
    assert_memory_equal(o->q, before, sizeof(before)); /* no step */
    ref_query(m1, 0, 1, q);
    assert_memory_equal(o->q, q, sizeof(q));
    tt_proc_stats(p, &stats);
    assert_int_equal(stats.unknown_items, 1);
    /* m2 knows item N_ITEMS + 2: the next event recomputes with it. */
    o = one(p, &v2, 0, 1, 4, 2);
    ref_apply(0, 1, 4, 2, 64);
    assert_true(o->recomputed);
    assert_int_equal(o->model_version, 2);
    ref_query(m2, 0, 1, q);
    assert_memory_equal(o->q, q, sizeof(q));
    assert_int_equal(o->count, 3);
    tt_proc_destroy(p);
    tt_proc_view_release(&v1);
    tt_proc_view_release(&v2);
    tt_model_destroy(m1);
    tt_model_destroy(m2);
}

/* Duplicates (offset at or below the newest applied) change nothing. */
static void duplicates(void **st)
{
    tt_model_t *m = make_model(51, 1, true, N_ITEMS, -1);
    struct tt_proc_view v;
    struct tt_proc_conf pc = {.batch_max = 4, .history_max = 8};
    tt_proc_t *p;
    const struct tt_proc_out *o;
    struct store_rec saved;

    (void)st;
    assert_int_equal(tt_proc_view_init(&v, m), TT_ERR_OK);
    assert_int_equal(tt_proc_new(&p, &pc, NULL, 0), TT_ERR_OK);
    store_reset();
    for (int64_t k = 0; k < 5; k++)
        one(p, &v, 2, 7, k, 10 + k);
    saved = store[2][7];
    o = one(p, &v, 2, 7, 1, 14);
    assert_false(o->applied);
    o = one(p, &v, 2, 7, 1, 3);
    assert_false(o->applied);
    assert_int_equal(o->count, 5);
    assert_memory_equal(&saved, &store[2][7], sizeof(saved));
    o = one(p, &v, 2, 7, 1, 15);
    assert_true(o->applied);
    assert_int_equal(o->count, 6);
    tt_proc_destroy(p);
    tt_proc_view_release(&v);
    tt_model_destroy(m);
}

/* A model swap mid-stream: each user is recomputed on its next event under
 * the new version, then goes on incrementally; all equal the reference
 * that uses the model current at each event. */
static void model_swap(void **st)
{
    tt_model_t *m1 = make_model(61, 1, true, N_ITEMS, -1);
    tt_model_t *m2 = make_model(62, 2, true, N_ITEMS, 200);
    struct tt_proc_view v1, v2;
    size_t sizes[] = {13};
    float q[DIM];

    (void)st;
    assert_int_equal(tt_proc_view_init(&v1, m1), TT_ERR_OK);
    assert_int_equal(tt_proc_view_init(&v2, m2), TT_ERR_OK);
    make_events(9, N_EV, 0);
    for (size_t i = 0; i < N_EV; i++)
        ident[i] = i;
    store_reset();
    run_batches(&v1, 16, ident, N_EV / 2, sizes, 1, res_a);
    run_batches(&v2, 16, ident + N_EV / 2, N_EV - N_EV / 2, sizes, 1,
                res_a);
    ref_reset();
    for (size_t i = 0; i < N_EV; i++) {
        const struct tt_proc_in *e = &evs[i];
        const tt_model_t *m = i < N_EV / 2 ? m1 : m2;

        assert_int_equal(res_a[i].applied,
                         ref_apply(e->partition, e->ev.user_id, e->ev.item_id,
                                   e->offset, 16));
        ref_query(m, e->partition, e->ev.user_id, q);
        assert_int_equal(res_a[i].version, i < N_EV / 2 ? 1 : 2);
        assert_memory_equal(res_a[i].q, q, sizeof(q));
    }
    tt_proc_view_release(&v1);
    tt_proc_view_release(&v2);
    tt_model_destroy(m1);
    tt_model_destroy(m2);
}

/* Invalid input and a full batch are refused. */
static void refusals(void **st)
{
    struct tt_proc_conf pc = {.batch_max = 2, .history_max = 8};
    struct tt_proc_conf bad = {.batch_max = 0, .history_max = 8};
    tt_proc_t *p;
    struct tt_proc_in in;
    char err[128];

    (void)st;
    assert_int_equal(tt_proc_new(&p, &bad, err, sizeof(err)), TT_ERR_INVAL);
    assert_null(p);
    assert_int_equal(tt_proc_new(&p, &pc, NULL, 0), TT_ERR_OK);
    tt_proc_begin(p);
    memset(&in, 0, sizeof(in));
    in.ev.user_id = 1;
    in.ev.item_id = 1;
    in.ev.ts_ms = 5;
    in.ev.category = TT_EVENT_NO_CATEGORY;
    in.ev.user_id = -1;
    assert_int_equal(tt_proc_add(p, &in), TT_ERR_RANGE);
    in.ev.user_id = 1;
    in.ev.ts_ms = TT_EVENT_TS_MAX + 1;
    assert_int_equal(tt_proc_add(p, &in), TT_ERR_RANGE);
    in.ev.ts_ms = 5;
    in.partition = -2;
    assert_int_equal(tt_proc_add(p, &in), TT_ERR_RANGE);
    in.partition = 0;
    assert_int_equal(tt_proc_add(p, &in), TT_ERR_OK);
    in.offset = 1;
    assert_int_equal(tt_proc_add(p, &in), TT_ERR_OK);
    assert_int_equal(tt_proc_add(p, &in), TT_ERR_OVERFLOW);
    assert_int_equal(tt_proc_n_users(p), 1);
    assert_int_equal(tt_proc_n_events(p), 2);
    tt_proc_destroy(p);
    tt_proc_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reference_plain),
        cmocka_unit_test(reference_plus),
        cmocka_unit_test(reference_cutoff),
        cmocka_unit_test(reference_window),
        cmocka_unit_test(reference_hop),
        cmocka_unit_test(hop_path),
        cmocka_unit_test(projection_cache),
        cmocka_unit_test(reference_retention),
        cmocka_unit_test(batch_composition),
        cmocka_unit_test(routing),
        cmocka_unit_test(unknown_items),
        cmocka_unit_test(duplicates),
        cmocka_unit_test(model_swap),
        cmocka_unit_test(refusals),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
