#include "model/tt_eval_base.h"

#include <stdlib.h>
#include <string.h>

/* The run of ccf: the vector it scores with. */
struct ccf_run {
    const float *v;
};

/* The run of sumpool: clicks so far, then sum[dim] and mean[dim]. */
struct sp_run {
    uint32_t n;
    uint32_t pad;
    float v[];
};

static const float one = 1.0f;

const char *tt_eval_base_name(enum tt_eval_base_kind kind)
{
    switch (kind) {
    case TT_BASE_CCF:
        return "ccf";
    case TT_BASE_SUMPOOL:
        return "sumpool";
    case TT_BASE_POP:
        return "pop";
    }
    return "?";
}

static int group_of(const struct tt_eval_base *b, uint32_t u)
{
    return tt_eval_train_count(b->ev, u) > tt_eval_opts(b->ev)->tstar
               ? TT_EVAL_ACTIVE
               : 0;
}

static int ccf_start(const void *ctx, uint32_t u, void *run)
{
    const struct tt_eval_base *b = ctx;
    struct ccf_run *r = run;

    r->v = tt_eval_train_count(b->ev, u) > 0
               ? b->s1->phi + (size_t)u * b->dim
               : b->mean_phi;
    return TT_EVAL_STATIC | group_of(b, u);
}

static void static_step(const void *ctx, void *run, const float *x)
{
    (void)ctx;
    (void)run;
    (void)x;
}

static void ccf_query(const void *ctx, const void *run, float *q)
{
    const struct tt_eval_base *b = ctx;

    memcpy(q, ((const struct ccf_run *)run)->v, b->dim * sizeof(float));
}

static const float *ccf_state(const void *ctx, const void *run)
{
    (void)ctx;
    return ((const struct ccf_run *)run)->v;
}

static int sp_start(const void *ctx, uint32_t u, void *run)
{
    const struct tt_eval_base *b = ctx;
    struct sp_run *r = run;

    r->n = 0;
    memset(r->v, 0, b->dim * sizeof(float));
    memcpy(r->v + b->dim, b->mean_phi, b->dim * sizeof(float));
    return group_of(b, u);
}

static void sp_step(const void *ctx, void *run, const float *x)
{
    const struct tt_eval_base *b = ctx;
    struct sp_run *r = run;
    float inv;

    r->n++;
    inv = 1.0f / (float)r->n;
    for (uint32_t d = 0; d < b->dim; d++) {
        r->v[d] += x[d];
        r->v[b->dim + d] = r->v[d] * inv;
    }
}

static void sp_query(const void *ctx, const void *run, float *q)
{
    const struct tt_eval_base *b = ctx;

    memcpy(q, ((const struct sp_run *)run)->v + b->dim,
           b->dim * sizeof(float));
}

static const float *sp_state(const void *ctx, const void *run)
{
    const struct tt_eval_base *b = ctx;

    return ((const struct sp_run *)run)->v + b->dim;
}

static int pop_start(const void *ctx, uint32_t u, void *run)
{
    (void)run;
    return TT_EVAL_STATIC | group_of(ctx, u);
}

static void pop_query(const void *ctx, const void *run, float *q)
{
    (void)ctx;
    (void)run;
    q[0] = 1.0f;
}

static const float *pop_state(const void *ctx, const void *run)
{
    (void)ctx;
    (void)run;
    return &one;
}

/* Sort key of pop: count descending, then index ascending. */
struct pop_key {
    uint64_t count;
    uint32_t item;
};

static int pop_cmp(const void *a, const void *b)
{
    const struct pop_key *x = a, *y = b;

    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

static tt_err_t pop_init(struct tt_eval_base *b, uint32_t n_items)
{
    const struct tt_dataset *ds = tt_eval_dataset(b->ev);
    size_t train_end = tt_eval_split(b->ev)->train_end;
    uint32_t n_pool = tt_eval_pool_size(b->ev), c = 0;
    struct pop_key *keys;
    uint64_t *count;

    count = calloc(n_items ? n_items : 1, sizeof(*count));
    keys = malloc((n_pool ? n_pool : 1) * sizeof(*keys));
    b->pop = malloc((n_items ? n_items : 1) * sizeof(*b->pop));
    if (!count || !keys || !b->pop) {
        free(count);
        free(keys);
        return TT_ERR_NOMEM;
    }
    for (size_t p = 0; p < train_end; p++)
        count[ds->item[p]]++;
    for (uint32_t i = 0; i < n_items; i++)
        if (count[i]) {
            keys[c].count = count[i];
            keys[c++].item = i;
        }
    qsort(keys, c, sizeof(*keys), pop_cmp);
    /* Position in the order as a float: exact below 2^24 items, so the
     * order is strict and no two items tie. */
    for (uint32_t r = 0; r < c; r++) {
        b->pop[keys[r].item] = (float)(c - r);
        b->item[keys[r].item] = &b->pop[keys[r].item];
    }
    free(count);
    free(keys);
    b->dim = 1;
    return TT_ERR_OK;
}

tt_err_t tt_eval_base_init(struct tt_eval_base *b, enum tt_eval_base_kind kind,
                           const tt_eval_t *ev, const struct tt_stage1 *s1)
{
    const struct tt_dataset *ds = tt_eval_dataset(ev);
    uint32_t n_items = tt_dataset_n_items(ds), n_users = tt_dataset_n_users(ds);
    tt_err_t err = TT_ERR_OK;

    memset(b, 0, sizeof(*b));
    b->kind = kind;
    b->ev = ev;
    b->s1 = s1;
    if (kind != TT_BASE_POP &&
        (!s1 || s1->n_items != n_items || s1->n_users != n_users ||
         s1->dim == 0 || s1->dim > TT_MODEL_DIM_MAX))
        return TT_ERR_INVAL;
    b->item = calloc(n_items ? n_items : 1, sizeof(*b->item));
    if (!b->item)
        return TT_ERR_NOMEM;
    if (kind == TT_BASE_POP) {
        err = pop_init(b, n_items);
        if (err)
            goto fail;
    } else {
        uint64_t seen = 0;
        double *acc;

        b->dim = s1->dim;
        for (uint32_t i = 0; i < n_items; i++)
            if (tt_eval_item_in_train(ev, i))
                b->item[i] = s1->x + (size_t)i * b->dim;
        b->mean_phi = calloc(b->dim, sizeof(float));
        acc = calloc(b->dim, sizeof(double));
        if (!b->mean_phi || !acc) {
            free(acc);
            err = TT_ERR_NOMEM;
            goto fail;
        }
        for (uint32_t u = 0; u < n_users; u++) {
            if (!tt_eval_train_count(ev, u))
                continue;
            seen++;
            for (uint32_t d = 0; d < b->dim; d++)
                acc[d] += s1->phi[(size_t)u * b->dim + d];
        }
        for (uint32_t d = 0; d < b->dim; d++)
            b->mean_phi[d] = seen ? (float)(acc[d] / (double)seen) : 0.0f;
        free(acc);
    }
    b->sc.name = tt_eval_base_name(kind);
    b->sc.dim = b->dim;
    b->sc.item = b->item;
    b->sc.ctx = b;
    b->sc.step = static_step;
    switch (kind) {
    case TT_BASE_CCF:
        b->sc.run_bytes = sizeof(struct ccf_run);
        b->sc.start = ccf_start;
        b->sc.query = ccf_query;
        b->sc.state = ccf_state;
        break;
    case TT_BASE_SUMPOOL:
        b->sc.run_bytes = sizeof(struct sp_run) + 2 * b->dim * sizeof(float);
        b->sc.start = sp_start;
        b->sc.step = sp_step;
        b->sc.query = sp_query;
        b->sc.state = sp_state;
        break;
    case TT_BASE_POP:
        b->sc.run_bytes = 0;
        b->sc.start = pop_start;
        b->sc.query = pop_query;
        b->sc.state = pop_state;
        break;
    }
    return TT_ERR_OK;
fail:
    tt_eval_base_release(b);
    return err;
}

void tt_eval_base_release(struct tt_eval_base *b)
{
    free(b->item);
    free(b->mean_phi);
    free(b->pop);
    b->item = NULL;
    b->mean_phi = NULL;
    b->pop = NULL;
}
