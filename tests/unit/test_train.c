/*
 * Unit tests of the two training stages (model/tt_stage1.c, tt_stage2.c,
 * tt_bptt.c) on a small synthetic log with a strong sequential pattern:
 *
 *  (the stage 2 loss gradient against finite differences: test_bptt.c);
 *  - training and inference are one function: the loss tt_bptt_run computes
 *    for a sequence equals the loss of the canonical tt_model_user_* path;
 *  - stage 1: loss decreases, zero rows for users/items without training
 *    data, train counts, features share g across a category, bit-identical
 *    results for the same seed and for 1 or 3 threads;
 *  - stage 2: loss decreases, the model ranks better than its starting
 *    point, early stopping keeps the best epoch, GRU_ALL and
 *    inactive_all_users, bit-identical model files for the same seed and
 *    thread count; auto_tstar picks the grid threshold the validator
 *    prefers and gives phi_u to exactly the users above it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"
#include "model/tt_dataset.h"
#include "model/tt_kern.h"
#include "model/tt_model_int.h"
#include "model/tt_softmax.h"
#include "model/tt_train.h"
#include "model/tt_train_int.h"

/* ---- a synthetic log ---- */

#define N_ITEMS 40
#define N_CAT 4

/* Users 0..n_users-1: the first third heavy (40..70 events), the rest light
 * (2..12); next item = previous + 1 with probability 0.7, else an item of
 * the user's favourite category (item % 4).  Ten extra users appear only at
 * the end (no training data); items 38, 39 appear only at the end too. */
static void make_log(struct tt_dataset *ds, uint32_t n_users, uint64_t seed)
{
    struct tt_rng rng;
    uint32_t *left = calloc(n_users + 10, sizeof *left);
    uint32_t *prev = calloc(n_users + 10, sizeof *prev);
    int64_t ts = INT64_C(1600000000000);
    uint32_t active = n_users;

    tt_rng_seed(&rng, seed, 0);
    assert_int_equal(tt_dataset_init(ds), TT_ERR_OK);
    for (uint32_t u = 0; u < n_users; u++) {
        left[u] = u < n_users / 3 ? 40 + (uint32_t)tt_rng_below(&rng, 31)
                                  : 2 + (uint32_t)tt_rng_below(&rng, 11);
        prev[u] = (uint32_t)tt_rng_below(&rng, N_ITEMS - 2);
    }
    while (active) {
        uint32_t u = (uint32_t)tt_rng_below(&rng, n_users);
        struct tt_event ev;
        uint32_t it;

        if (!left[u])
            continue;
        if (tt_rng_uniform(&rng) < 0.7)
            it = (prev[u] + 1) % (N_ITEMS - 2);
        else
            it = (uint32_t)(u % N_CAT +
                            N_CAT * tt_rng_below(&rng, (N_ITEMS - 2) / N_CAT));
        prev[u] = it;
        ev.user_id = 1000 + u;
        ev.item_id = 500 + it;
        ev.ts_ms = ts++;
        ev.category = (int32_t)(it % N_CAT);
        assert_int_equal(tt_dataset_add(ds, &ev), TT_ERR_OK);
        if (--left[u] == 0)
            active--;
    }
    for (uint32_t u = n_users; u < n_users + 10; u++) {
        struct tt_event ev = {1000 + u, 500 + 38 + u % 2, ts++,
                              (int32_t)((38 + u % 2) % N_CAT)};

        assert_int_equal(tt_dataset_add(ds, &ev), TT_ERR_OK);
    }
    assert_int_equal(tt_dataset_finish(ds), TT_ERR_OK);
    free(left);
    free(prev);
}

static void base_opts(struct tt_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 7;
    o->threads = 2;
    o->dim = 8;
    o->tstar = 20;
    o->k = 5;
    o->plus = true;
    o->feature_dim = 4;
    o->mode = TT_MODE_2TS;
    o->negatives = 8;
    o->adam = true;
    o->epochs1 = 8;
    o->lr1 = 0.05;
    o->l2 = 1e-5;
    o->epochs2 = 6;
    o->lr2 = 0.02;
    o->batch = 16;
    o->patience = 0;
    o->clip = 5.0;
}

struct losses {
    double first[3], last[3];
    uint32_t n[3];
    double mrr[16];
    uint32_t n_mrr;
};

static void on_progress(void *ctx, const struct tt_train_progress *p)
{
    struct losses *l = ctx;

    assert_true(p->stage == 1 || p->stage == 2);
    assert_true(p->fraction >= 0.0 && p->fraction <= 1.0 + 1e-9);
    if (p->fraction < 1.0)
        return;
    if (l->n[p->stage]++ == 0)
        l->first[p->stage] = p->loss;
    l->last[p->stage] = p->loss;
    if (p->stage == 2 && p->valid_mrr >= 0 && l->n_mrr < 16)
        l->mrr[l->n_mrr++] = p->valid_mrr;
}

/* Stage 1 on the split, asserting that it succeeds; with `l`, the losses
 * of its epochs are recorded there. */
static void stage1_ok(const struct tt_dataset *ds,
                      const struct tt_split *split,
                      const struct tt_train_opts *o, struct losses *l,
                      struct tt_stage1 *out)
{
    char err[256];

    if (tt_stage1_train(ds, split, o, l ? on_progress : NULL, l, out, err,
                        sizeof err) != TT_ERR_OK)
        fail_msg("stage 1: %s", err);
}

/* Two stage-1 results over nu users and ni items are the same bits. */
static void assert_same_stage1(const struct tt_stage1 *a,
                               const struct tt_stage1 *b, uint32_t nu,
                               uint32_t ni)
{
    assert_memory_equal(a->phi, b->phi, sizeof(float) * nu * a->dim);
    assert_memory_equal(a->x, b->x, sizeof(float) * ni * a->dim);
}

/* ---- a small streaming validator (the test's own) ---- */

struct val {
    const struct tt_dataset *ds;
    struct tt_split split;
    uint32_t tstar;
    int calls;
    double fake[16];      /* when fake[0] > 0: return these instead */
    float *seen_dense[16];
};

/* MRR over the validation slice, full ranking against the model's items,
 * state per tt_model.h: active users from phi at the cutoff, others from
 * psi through all their events. */
static double streaming_mrr(const struct val *v, const tt_model_t *m)
{
    const struct tt_dataset *ds = v->ds;
    uint32_t nu = tt_dataset_n_users(ds);
    struct tt_user_run *runs = calloc(nu, sizeof *runs);
    uint32_t *cnt = calloc(nu, sizeof *cnt);
    uint8_t *started = calloc(nu, 1);
    struct tt_model_info info;
    double sum = 0;
    size_t n = 0;

    tt_model_get_info(m, &info);
    for (size_t j = 0; j < v->split.train_end; j++)
        cnt[ds->user[j]]++;
    for (size_t j = 0; j < v->split.valid_end; j++) {
        uint32_t u = ds->user[j];
        int64_t uid = tt_ids_id(ds->users, u);
        const float *x = tt_model_item(m, tt_ids_id(ds->items, ds->item[j]));
        bool act = cnt[u] > v->tstar && tt_model_phi(m, uid);

        if (!started[u]) {
            tt_model_user_start(m, uid, cnt[u] > v->tstar, &runs[u]);
            started[u] = 1;
        }
        if (j < v->split.train_end && act)
            continue; /* active users start at the cutoff */
        if (j >= v->split.train_end && x) {
            float q[64], s = 0;
            uint32_t rank = 1;

            tt_model_user_query(m, &runs[u], q);
            s = tt_model_score(m, q, x);
            for (uint32_t i = 0; i < info.n_items; i++) {
                const float *y = tt_model_item_at(m, i, NULL);

                if (y != x && !(tt_model_score(m, q, y) < s))
                    rank++;
            }
            sum += 1.0 / rank;
            n++;
        }
        if (x)
            tt_model_user_step(m, &runs[u], x);
    }
    free(runs);
    free(cnt);
    free(started);
    return n ? sum / (double)n : 0.0;
}

static double validate(void *ctx, const tt_model_t *m)
{
    struct val *v = ctx;
    struct tt_model_parts p;
    int c = v->calls++;

    if (c < 16) {
        size_t nd;

        tt_model_parts_get(m, &p);
        nd = tt_model_dense_floats(p.dim, (p.flags & TT_MODEL_FLAG_PLUS) != 0);
        v->seen_dense[c] = malloc(nd * sizeof(float));
        memcpy(v->seen_dense[c], p.dense, nd * sizeof(float));
    }
    if (v->fake[0] > 0)
        return v->fake[c < 16 ? c : 15];
    return streaming_mrr(v, m);
}

static void val_release(struct val *v)
{
    for (int i = 0; i < 16; i++)
        free(v->seen_dense[i]);
}

static void test_train_infer_consistent(void **state)
{
    enum { D = 6, NI = 7, P = 4 };
    struct fixture_items {
        int64_t ids[NI];
        float v[NI * D];
    } it;
    static const uint32_t seq[6] = {3, 1, 4, 1, 5, 6};
    size_t nd = tt_model_dense_floats(D, true);
    float *dense = malloc(nd * 4), *grad = calloc(nd, 4), phi[D];
    int64_t uid = 99;
    uint32_t neg[6 * P];
    struct tt_model_parts p;
    struct tt_s2_neg ng = {NULL, 0, 0, neg};
    struct tt_s2_seq s;
    struct tt_bptt b;
    struct tt_rng rng;
    tt_model_t *m;
    char err[128];

    (void)state;
    tt_rng_seed(&rng, 5, 0);
    for (size_t i = 0; i < nd; i++)
        dense[i] = (float)(0.5 * tt_rng_normal(&rng));
    for (int i = 0; i < NI; i++)
        it.ids[i] = 10 + i;
    for (int i = 0; i < NI * D; i++)
        it.v[i] = (float)tt_rng_normal(&rng);
    for (int i = 0; i < D; i++)
        phi[i] = (float)tt_rng_normal(&rng);
    for (int i = 0; i < 6 * P; i++)
        neg[i] = (uint32_t)tt_rng_below(&rng, NI);
    memset(&p, 0, sizeof p);
    p.dim = D;
    p.flags = TT_MODEL_FLAG_PLUS;
    p.n_items = NI;
    p.item_ids = it.ids;
    p.items = it.v;
    p.n_active = 1;
    p.user_ids = &uid;
    p.phi = phi;
    p.dense = dense;
    assert_int_equal(tt_model_build(&m, &p, err, sizeof err), TT_ERR_OK);
    assert_int_equal(tt_bptt_init(&b, D, true, P, 1, 6, 6), TT_ERR_OK);
    for (uint32_t cell = 0; cell < 2; cell++) {
        struct tt_user_run run;
        double train, infer = 0;

        s.items = seq;
        s.len = 6;
        s.cell = cell;
        s.h0 = cell ? phi : dense;
        train = tt_bptt_run(&b, dense, grad, it.v, &ng, &s, 1, 1.0f);
        tt_model_user_start(m, cell ? uid : 12345, true, &run);
        assert_int_equal(run.cell, cell);
        for (uint32_t t = 0; t < 6; t++) {
            float q[D], l[P + 1];
            uint32_t offer[P + 1], no = 1;

            tt_model_user_query(m, &run, q);
            offer[0] = seq[t];
            for (int j = 0; j < P; j++)
                if (neg[t * P + j] != seq[t])
                    offer[no++] = neg[t * P + j];
            for (uint32_t j = 0; j < no; j++)
                l[j] = tt_model_score(m, q, it.v + offer[j] * D);
            infer += tt_softmax_logits(l, no, l);
            tt_model_user_step(m, &run, it.v + seq[t] * D);
        }
        print_message("cell %u: training loss %.7f, inference loss %.7f\n",
                      cell, train, infer);
        assert_true(fabs(train - infer) < 1e-4 * (1 + fabs(infer)));
    }
    tt_bptt_release(&b);
    tt_model_destroy(m);
    free(dense);
    free(grad);
}

/* ---- stage 1 ---- */

static void test_stage1(void **state)
{
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_train_opts o;
    struct tt_stage1 a, b, c;
    struct losses l = {0};
    char err[256];
    uint32_t nu, ni;

    (void)state;
    make_log(&ds, 60, 1);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.1, &split), TT_ERR_OK);
    nu = tt_dataset_n_users(&ds);
    ni = tt_dataset_n_items(&ds);
    base_opts(&o);
    stage1_ok(&ds, &split, &o, &l, &a);
    assert_int_equal(l.n[1], o.epochs1);
    print_message("stage 1 loss: epoch 1 %.4f, epoch %u %.4f\n", l.first[1],
                  o.epochs1, l.last[1]);
    assert_true(l.last[1] < 0.9 * l.first[1]);
    assert_int_equal(a.dim, o.dim);
    assert_int_equal(a.n_users, nu);
    assert_int_equal(a.n_items, ni);
    assert_true(a.seconds > 0);
    /* train counts; zero rows exactly where there is no training data */
    {
        uint32_t *cnt = calloc(nu, sizeof *cnt);
        uint8_t *seen = calloc(ni, 1);

        for (size_t j = 0; j < split.train_end; j++) {
            cnt[ds.user[j]]++;
            seen[ds.item[j]] = 1;
        }
        for (uint32_t u = 0; u < nu; u++) {
            double n2 = tt_kern_sumsq(a.phi + (size_t)u * a.dim, a.dim);

            assert_int_equal(a.train_count[u], cnt[u]);
            assert_true(cnt[u] ? n2 > 0 : n2 == 0);
        }
        for (uint32_t i = 0; i < ni; i++) {
            double n2 = tt_kern_sumsq(a.x + (size_t)i * a.dim, a.dim);

            assert_true(seen[i] ? n2 > 0 : n2 == 0);
        }
        free(cnt);
        free(seen);
    }
    /* same seed: same bits, whatever the number of threads */
    stage1_ok(&ds, &split, &o, NULL, &b);
    assert_same_stage1(&a, &b, nu, ni);
    tt_stage1_release(&b);
    o.threads = 3;
    stage1_ok(&ds, &split, &o, NULL, &b);
    assert_same_stage1(&a, &b, nu, ni);
    tt_stage1_release(&b);
    /* another seed: other bits */
    o.seed = 8;
    stage1_ok(&ds, &split, &o, NULL, &b);
    assert_memory_not_equal(a.phi, b.phi, sizeof(float) * nu * a.dim);
    tt_stage1_release(&b);
    /* one offer set per positive: trains, and is thread-independent too */
    o.seed = 7;
    o.per_positive_negatives = true;
    memset(&l, 0, sizeof l);
    stage1_ok(&ds, &split, &o, &l, &b);
    assert_true(l.last[1] < 0.9 * l.first[1]);
    o.threads = 1;
    stage1_ok(&ds, &split, &o, NULL, &c);
    assert_same_stage1(&b, &c, nu, ni);
    assert_memory_not_equal(a.phi, b.phi, sizeof(float) * nu * a.dim);
    tt_stage1_release(&b);
    tt_stage1_release(&c);
    o.per_positive_negatives = false;
    o.threads = 3;
    /* SGD trains too */
    o.adam = false;
    o.lr1 = 2.0;
    memset(&l, 0, sizeof l);
    stage1_ok(&ds, &split, &o, &l, &b);
    assert_true(l.last[1] < l.first[1]);
    tt_stage1_release(&b);
    /* features: D = d + feature_dim, items of a category share g */
    base_opts(&o);
    o.features = true;
    stage1_ok(&ds, &split, &o, NULL, &c);
    assert_int_equal(c.dim, o.dim + o.feature_dim);
    for (uint32_t i = 0; i < ni; i++)
        for (uint32_t i2 = 0; i2 < ni; i2++) {
            const float *gi = c.x + (size_t)i * c.dim + o.dim;
            const float *gj = c.x + (size_t)i2 * c.dim + o.dim;

            if (tt_kern_sumsq(gi, o.feature_dim) == 0 ||
                tt_kern_sumsq(gj, o.feature_dim) == 0)
                continue;
            if (ds.item_category[i] == ds.item_category[i2])
                assert_memory_equal(gi, gj, sizeof(float) * o.feature_dim);
            else
                assert_memory_not_equal(gi, gj,
                                        sizeof(float) * o.feature_dim);
        }
    tt_stage1_release(&c);
    /* bad options are refused with a message */
    base_opts(&o);
    o.k = 30;
    assert_int_equal(tt_stage1_train(&ds, &split, &o, NULL, NULL, &b, err,
                                     sizeof err),
                     TT_ERR_INVAL);
    assert_non_null(strstr(err, "K"));
    tt_stage1_release(&a);
    tt_dataset_release(&ds);
}

/* ---- stage 2 ---- */

static tt_model_t *train_both(const struct tt_dataset *ds,
                              const struct tt_split *split,
                              const struct tt_train_opts *o, struct val *v,
                              struct losses *l)
{
    struct tt_stage1 s1;
    tt_model_t *m;
    char err[256];
    double secs = 0;

    stage1_ok(ds, split, o, NULL, &s1);
    if (tt_stage2_train(ds, split, &s1, o, 3, v ? validate : NULL, v,
                        l ? on_progress : NULL, l, &m, &secs, err,
                        sizeof err)) {
        print_error("stage 2: %s\n", err);
        fail();
    }
    assert_true(secs > 0);
    tt_stage1_release(&s1);
    return m;
}

static void test_stage2(void **state)
{
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_train_opts o;
    struct losses l = {0};
    struct val v = {0};
    struct tt_model_info info;
    tt_model_t *m, *m2;
    uint8_t *b1, *b2;
    size_t n1, n2;
    double mrr0;

    (void)state;
    make_log(&ds, 90, 2);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.1, &split), TT_ERR_OK);
    v.ds = &ds;
    v.split = split;
    v.tstar = 20;
    base_opts(&o);
    m = train_both(&ds, &split, &o, &v, &l);
    tt_model_get_info(m, &info);
    assert_int_equal(info.version, 3);
    assert_int_equal(info.dim, 8);
    assert_true(info.plus);
    assert_false(info.gru_all);
    assert_int_equal(info.cutoff_ts_ms, ds.ts[split.train_end - 1]);
    assert_true(info.n_active > 0);
    assert_int_equal(v.calls, (int)o.epochs2);
    print_message("stage 2 loss: epoch 1 %.4f, epoch %u %.4f; valid MRR "
                  "first %.4f last %.4f\n", l.first[2], o.epochs2, l.last[2],
                  l.mrr[0], l.mrr[l.n_mrr - 1]);
    assert_true(l.last[2] < l.first[2]);
    {
        /* the untrained start (epochs2 = 0) ranks worse than the result */
        struct tt_train_opts z = o;
        tt_model_t *m0;

        z.epochs2 = 0;
        m0 = train_both(&ds, &split, &z, NULL, NULL);
        mrr0 = streaming_mrr(&v, m0);
        print_message("valid MRR untrained %.4f, trained %.4f\n", mrr0,
                      streaming_mrr(&v, m));
        assert_true(streaming_mrr(&v, m) > mrr0 + 0.02);
        tt_model_destroy(m0);
    }
    /* the kept epoch is the best validated one */
    {
        struct tt_model_parts p;
        uint32_t best = 0;

        for (uint32_t e = 1; e < l.n_mrr; e++)
            if (l.mrr[e] > l.mrr[best])
                best = e;
        tt_model_parts_get(m, &p);
        assert_memory_equal(p.dense, v.seen_dense[best],
                            sizeof(float) *
                                tt_model_dense_floats(p.dim, true));
    }
    /* same seed and threads: the same model file, bit for bit */
    m2 = train_both(&ds, &split, &o, NULL, NULL);
    {
        tt_model_t *m3 = train_both(&ds, &split, &o, NULL, NULL);

        assert_int_equal(tt_model_save_buf(m2, &b1, &n1), TT_ERR_OK);
        assert_int_equal(tt_model_save_buf(m3, &b2, &n2), TT_ERR_OK);
        assert_int_equal(n1, n2);
        assert_memory_equal(b1, b2, n1);
        free(b1);
        free(b2);
        tt_model_destroy(m3);
    }
    tt_model_destroy(m2);
    tt_model_destroy(m);
    val_release(&v);
    tt_dataset_release(&ds);
}

static void test_stage2_early_stop(void **state)
{
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_train_opts o;
    struct val v = {0};
    struct tt_model_parts p;
    tt_model_t *m;
    static const double fake[] = {0.3, 0.5, 0.4, 0.45, 0.9, 0.95};

    (void)state;
    make_log(&ds, 45, 3);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.1, &split), TT_ERR_OK);
    base_opts(&o);
    o.patience = 2;
    o.threads = 1;
    memcpy(v.fake, fake, sizeof fake);
    m = train_both(&ds, &split, &o, &v, NULL);
    /* epochs 3 and 4 do not beat epoch 2: stop after 4, keep epoch 2 */
    assert_int_equal(v.calls, 4);
    tt_model_parts_get(m, &p);
    assert_memory_equal(p.dense, v.seen_dense[1],
                        sizeof(float) * tt_model_dense_floats(p.dim, true));
    tt_model_destroy(m);
    val_release(&v);
    tt_dataset_release(&ds);
}

static double fail_validate(void *ctx, const tt_model_t *m)
{
    (void)ctx;
    (void)m;
    return -1.0;
}

static void test_stage2_modes(void **state)
{
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_train_opts o;
    struct tt_stage1 s1;
    struct tt_model_info info;
    tt_model_t *m;
    char err[256];

    (void)state;
    make_log(&ds, 45, 4);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.1, &split), TT_ERR_OK);
    base_opts(&o);
    o.epochs2 = 2;
    o.mode = TT_MODE_GRU_ALL;
    o.plus = false;
    m = train_both(&ds, &split, &o, NULL, NULL);
    tt_model_get_info(m, &info);
    assert_true(info.gru_all);
    assert_int_equal(info.n_active, 0);
    assert_false(info.plus);
    tt_model_destroy(m);
    base_opts(&o);
    o.epochs2 = 2;
    o.inactive_all_users = true;
    o.features = true;
    m = train_both(&ds, &split, &o, NULL, NULL);
    tt_model_get_info(m, &info);
    assert_int_equal(info.dim, 12);
    assert_int_equal(info.feature_dim, 4);
    assert_true(info.n_active > 0);
    tt_model_destroy(m);
    /* the window rule is flagged in the model; more K-windows per active
     * user train on more sequences (0 means the paper's one) */
    {
        tt_model_t *m1, *m3;
        struct tt_model_parts p0, p1, p3;
        size_t nd;

        base_opts(&o);
        o.epochs2 = 2;
        o.window = true;
        m = train_both(&ds, &split, &o, NULL, NULL);
        tt_model_get_info(m, &info);
        assert_true(info.window);
        assert_int_equal(info.k, 5);
        assert_true(info.n_active > 0);
        o.active_windows = 1;
        m1 = train_both(&ds, &split, &o, NULL, NULL);
        o.active_windows = 3;
        m3 = train_both(&ds, &split, &o, NULL, NULL);
        tt_model_parts_get(m, &p0);
        tt_model_parts_get(m1, &p1);
        tt_model_parts_get(m3, &p3);
        nd = tt_model_dense_floats(p0.dim, true);
        assert_memory_equal(p0.dense, p1.dense, sizeof(float) * nd);
        assert_memory_not_equal(p0.dense, p3.dense, sizeof(float) * nd);
        tt_model_destroy(m);
        tt_model_destroy(m1);
        tt_model_destroy(m3);
        o.window = false;
        m = train_both(&ds, &split, &o, NULL, NULL);
        tt_model_get_info(m, &info);
        assert_false(info.window);
        tt_model_destroy(m);
    }
    /* a failing validation fails the stage with a message */
    base_opts(&o);
    stage1_ok(&ds, &split, &o, NULL, &s1);
    assert_int_equal(tt_stage2_train(&ds, &split, &s1, &o, 1, fail_validate,
                                     NULL, NULL, NULL, &m, NULL, err,
                                     sizeof err),
                     TT_ERR_INVAL);
    assert_null(m);
    assert_non_null(strstr(err, "validation"));
    /* a window longer than a model may hold is refused */
    o.window = true;
    o.tstar = 5000;
    o.k = TT_MODEL_WINDOW_MAX + 1;
    assert_int_equal(tt_stage2_train(&ds, &split, &s1, &o, 1, NULL, NULL,
                                     NULL, NULL, &m, NULL, err, sizeof err),
                     TT_ERR_INVAL);
    assert_non_null(strstr(err, "window"));
    o.window = false;
    o.tstar = 20;
    o.k = 5;
    /* a stage 1 result of another shape is refused */
    o.dim = 9;
    assert_int_equal(tt_stage2_train(&ds, &split, &s1, &o, 1, NULL, NULL,
                                     NULL, NULL, &m, NULL, err, sizeof err),
                     TT_ERR_INVAL);
    tt_stage1_release(&s1);
    tt_dataset_release(&ds);
}

/* auto_tstar: the validator prefers the model whose t* is `want` (0.6),
 * then t* 10 (0.55), everything else 0.5; records every dense block. */
struct by_tstar {
    uint32_t want;
    int calls;
    uint32_t seen_tstar[32];
};

static double validate_by_tstar(void *ctx, const tt_model_t *m)
{
    struct by_tstar *b = ctx;
    struct tt_model_info info;

    tt_model_get_info(m, &info);
    if (b->calls < 32)
        b->seen_tstar[b->calls] = info.tstar;
    b->calls++;
    return info.tstar == b->want ? 0.6 : info.tstar == 10 ? 0.55 : 0.5;
}

static void test_stage2_auto_tstar(void **state)
{
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_train_opts o;
    struct tt_stage1 s1;
    struct tt_model_info info;
    tt_model_t *m, *ref;
    struct tt_model_parts p, pr;
    char err[256];
    uint32_t *cnt, above40 = 0;
    static const uint32_t wants[] = {40, 20, 10};

    (void)state;
    make_log(&ds, 90, 5);
    assert_int_equal(tt_split_compute(&ds, 0.7, 0.1, &split), TT_ERR_OK);
    base_opts(&o);
    o.epochs2 = 3;
    o.window = true;
    o.auto_tstar = true; /* t* 20, K 5: the grid is 10, 20, 40, 80, 160 */
    cnt = calloc(tt_dataset_n_users(&ds), sizeof *cnt);
    for (size_t j = 0; j < split.train_end; j++)
        cnt[ds.user[j]]++;
    for (uint32_t u = 0; u < tt_dataset_n_users(&ds); u++)
        above40 += cnt[u] > 40;
    assert_true(above40 > 0);
    stage1_ok(&ds, &split, &o, NULL, &s1);
    for (int w = 0; w < 3; w++) {
        struct by_tstar b = {.want = wants[w]};

        assert_int_equal(tt_stage2_train(&ds, &split, &s1, &o, 1,
                                         validate_by_tstar, &b, NULL, NULL,
                                         &m, NULL, err, sizeof err),
                         TT_ERR_OK);
        tt_model_get_info(m, &info);
        /* every epoch validated at the configured t*, then the four others
         * (10, 40, 80, 160) once each; the best wins */
        assert_int_equal(b.calls, (int)o.epochs2 + 4);
        for (uint32_t e = 0; e < o.epochs2; e++)
            assert_int_equal(b.seen_tstar[e], 20);
        assert_int_equal(info.tstar, wants[w]);
        if (wants[w] == 40) {
            /* phi_u for exactly the users above the chosen t* */
            assert_int_equal(info.n_active, above40);
            for (uint32_t u = 0; u < tt_dataset_n_users(&ds); u++) {
                const float *phi = tt_model_phi(m, tt_ids_id(ds.users, u));

                assert_true((phi != NULL) == (cnt[u] > 40));
                if (phi)
                    assert_memory_equal(phi, s1.phi + (size_t)u * s1.dim,
                                        s1.dim * sizeof(float));
            }
        }
        tt_model_destroy(m);
    }
    /* without a validator the configured t* is kept, with the same
     * parameters as when the validator keeps it (the best epoch is the
     * first under a constant score, so compare against epochs2 = 1) */
    assert_int_equal(tt_stage2_train(&ds, &split, &s1, &o, 1, NULL, NULL,
                                     NULL, NULL, &m, NULL, err, sizeof err),
                     TT_ERR_OK);
    tt_model_get_info(m, &info);
    assert_int_equal(info.tstar, 20);
    tt_model_destroy(m);
    {
        struct by_tstar b = {.want = 20};
        struct tt_train_opts one = o;

        one.epochs2 = 1;
        assert_int_equal(tt_stage2_train(&ds, &split, &s1, &o, 1,
                                         validate_by_tstar, &b, NULL, NULL,
                                         &m, NULL, err, sizeof err),
                         TT_ERR_OK);
        assert_int_equal(tt_stage2_train(&ds, &split, &s1, &one, 1, NULL,
                                         NULL, NULL, NULL, &ref, NULL, err,
                                         sizeof err),
                         TT_ERR_OK);
        tt_model_parts_get(m, &p);
        tt_model_parts_get(ref, &pr);
        assert_int_equal(p.tstar, 20);
        assert_memory_equal(p.dense, pr.dense,
                            sizeof(float) * tt_model_dense_floats(p.dim, true));
        tt_model_destroy(ref);
        tt_model_destroy(m);
    }
    /* the grid covers more users than the configured t* alone: the
     * inactive cell trains on users up to 40, the active one above 10, so
     * the parameters differ from a run without auto_tstar */
    {
        struct tt_train_opts fixed = o;

        fixed.auto_tstar = false;
        assert_int_equal(tt_stage2_train(&ds, &split, &s1, &o, 1, NULL, NULL,
                                         NULL, NULL, &m, NULL, err,
                                         sizeof err),
                         TT_ERR_OK);
        assert_int_equal(tt_stage2_train(&ds, &split, &s1, &fixed, 1, NULL,
                                         NULL, NULL, NULL, &ref, NULL, err,
                                         sizeof err),
                         TT_ERR_OK);
        tt_model_parts_get(m, &p);
        tt_model_parts_get(ref, &pr);
        assert_memory_not_equal(p.dense, pr.dense,
                                sizeof(float) *
                                    tt_model_dense_floats(p.dim, true));
        tt_model_destroy(ref);
        tt_model_destroy(m);
    }
    tt_stage1_release(&s1);
    free(cnt);
    tt_dataset_release(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_infer_consistent),
        cmocka_unit_test(test_stage1),
        cmocka_unit_test(test_stage2),
        cmocka_unit_test(test_stage2_early_stop),
        cmocka_unit_test(test_stage2_modes),
        cmocka_unit_test(test_stage2_auto_tstar),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
