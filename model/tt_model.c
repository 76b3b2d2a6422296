#include "model/tt_model_int.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"
#include "model/tt_kern.h"

/* ---- id -> index tables ---- */

static uint32_t table_size(uint32_t n)
{
    uint32_t cap = 16;

    /* load factor <= 1/2; n <= UINT32_MAX / 4 is checked by the callers */
    while (cap < 2 * (uint64_t)n)
        cap <<= 1;
    return cap;
}

/* Inserts ids[0..n) (index + 1 in the slots); TT_ERR_INVAL on a duplicate. */
static tt_err_t table_fill(uint32_t *slots, uint32_t mask, const int64_t *ids,
                           uint32_t n, uint32_t *dup)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t s = (uint32_t)tt_rng_mix64((uint64_t)ids[i]) & mask;

        while (slots[s]) {
            if (ids[slots[s] - 1] == ids[i]) {
                *dup = i;
                return TT_ERR_INVAL;
            }
            s = (s + 1) & mask;
        }
        slots[s] = i + 1;
    }
    return TT_ERR_OK;
}

static bool table_find(const uint32_t *slots, uint32_t mask,
                       const int64_t *ids, int64_t id, uint32_t *index)
{
    uint32_t s = (uint32_t)tt_rng_mix64((uint64_t)id) & mask;

    while (slots[s]) {
        if (ids[slots[s] - 1] == id) {
            *index = slots[s] - 1;
            return true;
        }
        s = (s + 1) & mask;
    }
    return false;
}

/* ---- layout ---- */

size_t tt_model_dense_floats(uint32_t dim, bool plus)
{
    return (size_t)dim + 2 * tt_gru_nparams(dim) +
           (plus ? 2 * (size_t)dim * dim : 0);
}

void tt_model_dense_views(float *dense, uint32_t dim, bool plus, float **psi,
                          struct tt_gru *cell0, struct tt_gru *cell1,
                          float **wp)
{
    size_t np = tt_gru_nparams(dim);

    *psi = dense;
    tt_gru_view(cell0, dim, dense + dim);
    tt_gru_view(cell1, dim, dense + dim + np);
    *wp = plus ? dense + dim + 2 * np : NULL;
}

/* ---- build ---- */

static bool all_finite(const float *v, size_t n, size_t *bad)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            *bad = i;
            return false;
        }
    }
    return true;
}

static tt_err_t check_cutoffs(const struct tt_model_cutoff *c, uint32_t n,
                              char *errstr, size_t errstr_size)
{
    for (uint32_t i = 0; i < n; i++) {
        if (c[i].partition < 0 || c[i].offset < 0)
            return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                           "cutoff %u: negative partition or offset", i);
        if (i > 0 && c[i].partition <= c[i - 1].partition)
            return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                           "cutoff %u: partitions must increase strictly", i);
    }
    return TT_ERR_OK;
}

void tt_model_destroy(tt_model_t *m)
{
    if (!m)
        return;
    free(m->cutoffs);
    free(m->item_ids);
    free(m->items);
    free(m->user_ids);
    free(m->phi);
    free(m->dense);
    free(m->item_slots);
    free(m->user_slots);
    free(m);
}

tt_err_t tt_model_build(tt_model_t **out, const struct tt_model_parts *p,
                        char *errstr, size_t errstr_size)
{
    const bool plus = (p->flags & TT_MODEL_FLAG_PLUS) != 0;
    tt_model_t *m;
    size_t nd, bad;
    uint32_t dup, cap_i, cap_u;
    tt_err_t err;

    *out = NULL;
    if (p->dim < 1 || p->dim > TT_MODEL_DIM_MAX)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "dimension %u outside 1..%u", p->dim, TT_MODEL_DIM_MAX);
    if (p->feature_dim >= p->dim)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "feature dimension %u not below dimension %u",
                       p->feature_dim, p->dim);
    if (p->flags & ~TT_MODEL_FLAGS_KNOWN)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "unknown model flags 0x%x", p->flags);
    if ((p->flags & TT_MODEL_FLAG_WINDOW) &&
        (p->k < 1 || p->k > TT_MODEL_WINDOW_MAX))
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "window model with K = %u outside 1..%u", p->k,
                       TT_MODEL_WINDOW_MAX);
    if (p->flags & TT_MODEL_FLAG_HOP) {
        uint32_t h = (p->flags >> TT_MODEL_HOP_SHIFT) & TT_MODEL_HOP_MASK;

        if (!(p->flags & TT_MODEL_FLAG_WINDOW) || h < 1 || h > p->k)
            return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                           "hopping-window model with hop %u outside 1..K "
                           "(K = %u) or without the window flag", h, p->k);
    } else if ((p->flags >> TT_MODEL_HOP_SHIFT) & TT_MODEL_HOP_MASK) {
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "model flags 0x%x: a hop without the hop flag",
                       p->flags);
    }
    if (p->n_items > UINT32_MAX / 4 || p->n_active > UINT32_MAX / 4)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "too many items or users");
    err = check_cutoffs(p->cutoffs, p->n_cutoffs, errstr, errstr_size);
    if (err)
        return err;
    nd = tt_model_dense_floats(p->dim, plus);
    if (!all_finite(p->items, (size_t)p->n_items * p->dim, &bad))
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "item vector %zu has a non-finite value", bad / p->dim);
    if (!all_finite(p->phi, (size_t)p->n_active * p->dim, &bad))
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "user vector %zu has a non-finite value", bad / p->dim);
    if (!all_finite(p->dense, nd, &bad))
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "dense parameter %zu is not finite", bad);

    m = calloc(1, sizeof *m);
    if (!m)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    m->info.version = p->version;
    m->info.dim = p->dim;
    m->info.tstar = p->tstar;
    m->info.k = p->k;
    m->info.plus = plus;
    m->info.n_items = p->n_items;
    m->info.n_active = p->n_active;
    m->info.cutoff_ts_ms = p->cutoff_ts_ms;
    m->info.seed = p->seed;
    m->info.n_cutoffs = p->n_cutoffs;
    m->info.feature_dim = p->feature_dim;
    m->info.gru_all = (p->flags & TT_MODEL_FLAG_GRU_ALL) != 0;
    m->info.window = (p->flags & TT_MODEL_FLAG_WINDOW) != 0;
    m->info.hop = (p->flags & TT_MODEL_FLAG_HOP)
                      ? (p->flags >> TT_MODEL_HOP_SHIFT) & TT_MODEL_HOP_MASK
                      : 0;
    m->flags = p->flags;
    m->n_dense = nd;
    cap_i = table_size(p->n_items);
    cap_u = table_size(p->n_active);
    m->item_mask = cap_i - 1;
    m->user_mask = cap_u - 1;
    m->cutoffs = malloc(sizeof *m->cutoffs * (p->n_cutoffs + 1));
    m->item_ids = malloc(sizeof *m->item_ids * ((size_t)p->n_items + 1));
    m->items = malloc(sizeof *m->items * ((size_t)p->n_items * p->dim + 1));
    m->user_ids = malloc(sizeof *m->user_ids * ((size_t)p->n_active + 1));
    m->phi = malloc(sizeof *m->phi * ((size_t)p->n_active * p->dim + 1));
    m->dense = malloc(sizeof *m->dense * nd);
    m->item_slots = calloc(cap_i, sizeof *m->item_slots);
    m->user_slots = calloc(cap_u, sizeof *m->user_slots);
    if (!m->cutoffs || !m->item_ids || !m->items || !m->user_ids || !m->phi ||
        !m->dense || !m->item_slots || !m->user_slots) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out_destroy;
    }
    if (p->n_cutoffs)
        memcpy(m->cutoffs, p->cutoffs, sizeof *m->cutoffs * p->n_cutoffs);
    if (p->n_items) {
        memcpy(m->item_ids, p->item_ids, sizeof *m->item_ids * p->n_items);
        memcpy(m->items, p->items,
               sizeof *m->items * (size_t)p->n_items * p->dim);
    }
    if (p->n_active) {
        memcpy(m->user_ids, p->user_ids, sizeof *m->user_ids * p->n_active);
        memcpy(m->phi, p->phi, sizeof *m->phi * (size_t)p->n_active * p->dim);
    }
    memcpy(m->dense, p->dense, sizeof *m->dense * nd);
    tt_model_dense_views(m->dense, p->dim, plus, &m->psi, &m->cell[0],
                         &m->cell[1], &m->wp);
    for (uint32_t i = 0; i < p->n_items; i++)
        if (m->item_ids[i] < 0) {
            err = tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                          "item %u has a negative id", i);
            goto out_destroy;
        }
    for (uint32_t i = 0; i < p->n_active; i++)
        if (m->user_ids[i] < 0) {
            err = tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                          "user %u has a negative id", i);
            goto out_destroy;
        }
    if (table_fill(m->item_slots, m->item_mask, m->item_ids, p->n_items,
                   &dup)) {
        err = tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                      "duplicate item id %lld", (long long)m->item_ids[dup]);
        goto out_destroy;
    }
    if (table_fill(m->user_slots, m->user_mask, m->user_ids, p->n_active,
                   &dup)) {
        err = tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                      "duplicate user id %lld", (long long)m->user_ids[dup]);
        goto out_destroy;
    }
    *out = m;
    return TT_ERR_OK;

out_destroy:
    tt_model_destroy(m);
    return err;
}

void tt_model_parts_get(const tt_model_t *m, struct tt_model_parts *p)
{
    memset(p, 0, sizeof *p);
    p->dim = m->info.dim;
    p->tstar = m->info.tstar;
    p->k = m->info.k;
    p->flags = m->flags;
    p->feature_dim = m->info.feature_dim;
    p->version = m->info.version;
    p->seed = m->info.seed;
    p->cutoff_ts_ms = m->info.cutoff_ts_ms;
    p->n_items = m->info.n_items;
    p->item_ids = m->item_ids;
    p->items = m->items;
    p->n_active = m->info.n_active;
    p->user_ids = m->user_ids;
    p->phi = m->phi;
    p->dense = m->dense;
    p->n_cutoffs = m->info.n_cutoffs;
    p->cutoffs = m->cutoffs;
}

float *tt_model_dense_mut(tt_model_t *m)
{
    return m->dense;
}

void tt_model_set_version(tt_model_t *m, uint64_t version)
{
    m->info.version = version;
}

tt_err_t tt_model_set_cutoffs(tt_model_t *m,
                              const struct tt_model_cutoff *cutoffs,
                              uint32_t n, char *errstr, size_t errstr_size)
{
    struct tt_model_cutoff *c;
    tt_err_t err = check_cutoffs(cutoffs, n, errstr, errstr_size);

    if (err)
        return err;
    c = malloc(sizeof *c * ((size_t)n + 1));
    if (!c)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    if (n)
        memcpy(c, cutoffs, sizeof *c * n);
    free(m->cutoffs);
    m->cutoffs = c;
    m->info.n_cutoffs = n;
    return TT_ERR_OK;
}

/* ---- accessors ---- */

void tt_model_get_info(const tt_model_t *m, struct tt_model_info *info)
{
    *info = m->info;
}

const struct tt_model_cutoff *tt_model_cutoffs(const tt_model_t *m)
{
    return m->cutoffs;
}

const float *tt_model_item(const tt_model_t *m, int64_t item_id)
{
    uint32_t i;

    if (!table_find(m->item_slots, m->item_mask, m->item_ids, item_id, &i))
        return NULL;
    return m->items + (size_t)i * m->info.dim;
}

const float *tt_model_item_at(const tt_model_t *m, uint32_t index,
                              int64_t *id)
{
    assert(index < m->info.n_items);
    if (id)
        *id = m->item_ids[index];
    return m->items + (size_t)index * m->info.dim;
}

const float *tt_model_phi(const tt_model_t *m, int64_t user_id)
{
    uint32_t i;

    if (!table_find(m->user_slots, m->user_mask, m->user_ids, user_id, &i))
        return NULL;
    return m->phi + (size_t)i * m->info.dim;
}

const float *tt_model_psi(const tt_model_t *m)
{
    return m->psi;
}

/* ---- the per-user functions every scorer shares ---- */

void tt_model_user_start(const tt_model_t *m, int64_t user_id,
                         bool allow_active, struct tt_user_run *run)
{
    const size_t d = m->info.dim;
    const float *phi = allow_active ? tt_model_phi(m, user_id) : NULL;

    /* Only the model's dim floats are written: clearing the whole run
     * (8 KB at TT_MODEL_DIM_MAX) cost the stream ~5% of its instructions,
     * and nothing reads past dim.  `last` is zeroed although has_last is
     * false, so that a fresh run's query half is zero either way. */
    run->cell = phi ? TT_CELL_ACTIVE : TT_CELL_INACTIVE;
    run->steps = 0;
    run->has_last = false;
    memcpy(run->h, phi ? phi : m->psi, d * sizeof *run->h);
    memset(run->last, 0, d * sizeof *run->last);
}

void tt_model_user_step(const tt_model_t *m, struct tt_user_run *run,
                        const float *x)
{
    const size_t d = m->info.dim;

    assert(run->cell == TT_CELL_INACTIVE || run->cell == TT_CELL_ACTIVE);
    tt_gru_step(&m->cell[run->cell], run->h, x, run->h);
    memmove(run->last, x, d * sizeof *run->last);
    run->has_last = true;
    run->steps++;
}

void tt_model_active_input(const tt_model_t *m, const float *x, float *a)
{
    tt_gru_input(&m->cell[TT_CELL_ACTIVE], x, a);
}

uint64_t tt_model_window_start(const tt_model_t *m, uint64_t count)
{
    const uint64_t k = m->info.k, h = m->info.hop;

    if (!h || count <= k)
        return 0;
    return h * ((count - k + h - 1) / h);
}

static void user_state(const tt_model_t *m, int64_t user_id,
                       bool allow_active, const float *const *xs,
                       const float *const *as, size_t n, uint64_t first,
                       struct tt_user_run *run)
{
    const size_t d = m->info.dim;
    size_t from = 0;

    tt_model_user_start(m, user_id, allow_active, run);
    if (run->cell == TT_CELL_ACTIVE && m->info.hop) {
        /* the events (a(c), c] of c = first + n; xs[j] is event first+j+1 */
        uint64_t a = tt_model_window_start(m, first + n);

        from = a > first ? (size_t)(a - first) : 0;
        if (from > n)
            from = n;
    } else if (run->cell == TT_CELL_ACTIVE && m->info.window) {
        uint32_t known = 0;

        /* back to the K-th known item from the end (or the start) */
        from = n;
        while (from > 0 && known < m->info.k)
            known += xs[--from] != NULL;
    }
    if (!as || run->cell != TT_CELL_ACTIVE) {
        for (size_t j = from; j < n; j++)
            if (xs[j])
                tt_model_user_step(m, run, xs[j]);
        return;
    }
    /* tt_model_user_step with the input part precomputed (tt_gru_step is
     * tt_gru_input then tt_gru_step_a) */
    for (size_t j = from; j < n; j++) {
        if (!xs[j])
            continue;
        tt_gru_step_a(&m->cell[TT_CELL_ACTIVE], run->h, as[j], run->h);
        memmove(run->last, xs[j], d * sizeof *run->last);
        run->has_last = true;
        run->steps++;
    }
}

void tt_model_user_state(const tt_model_t *m, int64_t user_id,
                         bool allow_active, const float *const *xs, size_t n,
                         struct tt_user_run *run)
{
    user_state(m, user_id, allow_active, xs, NULL, n, 0, run);
}

void tt_model_user_state_pre(const tt_model_t *m, int64_t user_id,
                             bool allow_active, const float *const *xs,
                             const float *const *as, size_t n,
                             struct tt_user_run *run)
{
    user_state(m, user_id, allow_active, xs, as, n, 0, run);
}

void tt_model_user_state_at(const tt_model_t *m, int64_t user_id,
                            bool allow_active, const float *const *xs,
                            const float *const *as, size_t n, uint64_t first,
                            struct tt_user_run *run)
{
    user_state(m, user_id, allow_active, xs, as, n, first, run);
}

bool tt_model_user_can_step(const tt_model_t *m,
                            const struct tt_user_run *run)
{
    if (run->cell != TT_CELL_ACTIVE)
        return true;
    if (m->info.hop)
        return false; /* needs the event count: tt_model_user_can_step_at */
    return !(m->info.window && run->steps >= m->info.k);
}

bool tt_model_user_can_step_at(const tt_model_t *m,
                               const struct tt_user_run *run, uint64_t count)
{
    if (!m->info.hop || run->cell != TT_CELL_ACTIVE)
        return tt_model_user_can_step(m, run);
    /* the window (a(c), c] extends (a(c - 1), c - 1] by one event */
    return count <= 1 ||
           tt_model_window_start(m, count) ==
               tt_model_window_start(m, count - 1);
}

/*
 * 2TS-Plus: q_j = sum_k W[k][j] c_k over c = [h ; last], k ascending, as one
 * tt_kern_gemv_t over the 2D rows would (two calls, same order).  Before the
 * first step there is no last item: its half contributes nothing (training
 * feeds zeros there), whatever the run's `last` holds.
 */
void tt_model_user_query(const tt_model_t *m, const struct tt_user_run *run,
                         float *q)
{
    const size_t d = m->info.dim;

    if (!m->wp) {
        memcpy(q, run->h, d * sizeof *q);
        return;
    }
    memset(q, 0, d * sizeof *q);
    tt_kern_gemv_t(q, m->wp, d, run->h, d, d);
    if (run->has_last)
        tt_kern_gemv_t(q, m->wp + d * d, d, run->last, d, d);
}

float tt_model_score(const tt_model_t *m, const float *q, const float *x)
{
    return tt_kern_dot(q, x, m->info.dim);
}
