/*
 * tt_eval_model: the scorer of a trained tt_model_t for tt_eval_run (the
 * model scorer of tt_eval.h): each user's state is the model library's
 * tt_model_user_state over the user's events, kept incrementally where the
 * model kind allows (see model_run), and the validation hook of training.
 */
#include "model/tt_eval.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------- model scorer */

/*
 * The run of the model scorer: the canonical tt_user_run, and for an active
 * user of a window model its last K known items, from which every state is
 * tt_model_user_state() (what the stream computes from its retained
 * history).  win[] holds info.k pointers into the scorer's item table.
 */
struct model_run {
    struct tt_user_run run;
    int64_t user_id;
    bool window;
    bool stale;     /* window moved since run was computed (lazy mode) */
    uint32_t n;
    uint64_t count; /* hopping window: the user's events so far */
    const float *win[]; /* K item vectors, then their K active inputs;
                           hopping window: the events (a(count), count],
                           NULL for an item the model does not know */
};

/* The active input of item vector x, a row of the model's item table. */
static const float *act_of(const struct tt_eval_model_scorer *ms,
                           const float *x)
{
    size_t i = (size_t)(x - ms->items0) / ms->sc.dim;

    return ms->act_in + i * 3 * ms->sc.dim;
}

/* The window's state: tt_model_user_state over its items, with their
 * precomputed inputs when the scorer has them (the same bits). */
static void window_state(const struct tt_eval_model_scorer *ms,
                         const struct model_run *r, uint32_t k,
                         struct tt_user_run *out)
{
    if (ms->act_in)
        tt_model_user_state_pre(ms->m, r->user_id, true, r->win, r->win + k,
                                r->n, out);
    else
        tt_model_user_state(ms->m, r->user_id, true, r->win, r->n, out);
}

/* The window user u's last K known training items, oldest first, into
 * win[0..n), and their active inputs into win[k..k+n) (when the scorer
 * has them). */
static uint32_t window_fill(const struct tt_eval_model_scorer *ms, uint32_t u,
                            uint32_t k, const float **win)
{
    const tt_eval_t *ev = ms->ev;
    size_t n_ev;
    const uint32_t *pos = tt_eval_user_events(ev, u, &n_ev);
    uint32_t tc = tt_eval_train_count(ev, u), n = 0;

    assert(tc <= n_ev);
    /* a user's positions ascend: its training ones come first */
    for (uint32_t i = tc; i-- > 0 && n < k;) {
        uint32_t item = ms->ds->item[pos[i]];
        const float *x = ms->item[item];

        if (x) {
            ++n;
            win[k - n] = x;
            if (ms->act_in)
                win[2 * k - n] = act_of(ms, x);
        }
    }
    memmove(win, win + (k - n), n * sizeof(*win));
    if (ms->act_in)
        memmove(win + k, win + 2 * k - n, n * sizeof(*win));
    return n;
}

/* Hopping window: the state after the user's first tc (training) events,
 * the events (a(tc), tc] into win[0..n) (their active inputs into
 * win[k..k+n) when the scorer has them). */
static void hop_start(const struct tt_eval_model_scorer *ms, uint32_t u,
                      struct model_run *r)
{
    const tt_eval_t *ev = ms->ev;
    size_t n_ev;
    const uint32_t *pos = tt_eval_user_events(ev, u, &n_ev);
    const uint32_t tc = tt_eval_train_count(ev, u), k = ms->k;
    const uint64_t a = tt_model_window_start(ms->m, tc);

    assert(tc <= n_ev);
    r->count = tc;
    r->n = 0;
    for (uint64_t i = a; i < tc; i++) {
        const float *x = ms->item[ms->ds->item[pos[i]]];

        if (ms->act_in)
            r->win[k + r->n] = x ? act_of(ms, x) : NULL;
        r->win[r->n++] = x;
    }
    tt_model_user_state_at(ms->m, r->user_id, true, r->win,
                           ms->act_in ? r->win + k : NULL, r->n, a, &r->run);
}

/* Hopping window: the user's next event (x NULL: an item the model does
 * not know).  One step between hops, a recompute over the new window's
 * K - H + 1 events at a hop: the state tt_model_user_state_at gives. */
static void hop_step(const struct tt_eval_model_scorer *ms,
                     struct model_run *r, const float *x)
{
    const uint32_t k = ms->k;
    const uint64_t a0 = tt_model_window_start(ms->m, r->count);
    const uint64_t a = tt_model_window_start(ms->m, ++r->count);

    if (a == a0) {
        if (k && ms->act_in)
            r->win[k + r->n] = x ? act_of(ms, x) : NULL;
        r->win[r->n++] = x;
        if (x)
            tt_model_user_step(ms->m, &r->run, x);
        return;
    }
    /* (a0, count - 1] -> (a, count]: drop the a - a0 oldest, add x */
    {
        uint32_t drop = (uint32_t)(a - a0);

        drop = drop < r->n ? drop : r->n;
        r->n -= drop;
        memmove(r->win, r->win + drop, r->n * sizeof(*r->win));
        if (ms->act_in)
            memmove(r->win + k, r->win + k + drop, r->n * sizeof(*r->win));
    }
    if (ms->act_in)
        r->win[k + r->n] = x ? act_of(ms, x) : NULL;
    r->win[r->n++] = x;
    tt_model_user_state_at(ms->m, r->user_id, true, r->win,
                           ms->act_in ? r->win + k : NULL, r->n, a, &r->run);
}

static void model_skip(const void *ctx, void *run)
{
    const struct tt_eval_model_scorer *ms = ctx;
    struct model_run *r = run;

    if (r->window && ms->hop)
        hop_step(ms, r, NULL);
}

static int model_start(const void *ctx, uint32_t u, void *run)
{
    const struct tt_eval_model_scorer *ms = ctx;
    struct model_run *r = run;
    bool allow = tt_eval_train_count(ms->ev, u) > ms->tstar;
    struct tt_model_info info;

    r->user_id = tt_ids_id(ms->ds->users, u);
    r->window = false;
    r->stale = false;
    r->n = 0;
    tt_model_user_start(ms->m, r->user_id, allow, &r->run);
    if (r->run.cell == TT_CELL_ACTIVE) {
        tt_model_get_info(ms->m, &info);
        /* A window user's state at the cutoff is phi_u over its last K
         * training items; either way the harness then replays only what
         * follows the cutoff (what the stream does at deployment). */
        if (info.window && ms->hop) {
            r->window = true;
            hop_start(ms, u, r);
        } else if (info.window) {
            r->window = true;
            r->n = window_fill(ms, u, info.k, r->win);
            window_state(ms, r, ms->k, &r->run);
        }
        return TT_EVAL_ACTIVE | TT_EVAL_FROM_CUTOFF;
    }
    /* A model without any phi_u (the GRU baseline) reports its users in
     * the groups 2TS would put them in, so that the groups compare. */
    if (ms->no_phi &&
        tt_eval_train_count(ms->ev, u) > tt_eval_opts(ms->ev)->tstar)
        return TT_EVAL_ACTIVE;
    return 0;
}

static void model_step(const void *ctx, void *run, const float *x)
{
    const struct tt_eval_model_scorer *ms = ctx;
    struct model_run *r = run;
    struct tt_model_info info;
    const uint32_t k = ms->act_in ? ms->k : 0;

    if (!r->window) {
        tt_model_user_step(ms->m, &r->run, x);
        return;
    }
    if (ms->hop) {
        hop_step(ms, r, x);
        return;
    }
    tt_model_get_info(ms->m, &info);
    if (r->n == info.k) {
        --r->n;
        memmove(r->win, r->win + 1, r->n * sizeof(*r->win));
        if (k)
            memmove(r->win + k, r->win + k + 1, r->n * sizeof(*r->win));
    }
    if (k)
        r->win[k + r->n] = act_of(ms, x);
    r->win[r->n++] = x;
    /* Without change statistics (validation) nothing reads the state
     * between queries: recompute it (K steps) only for the events that are
     * scored, in model_query, instead of after every event.  Same state,
     * same bits; with a sampled validation slice most events are not
     * scored. */
    if (!ms->sc.state) {
        r->stale = true;
        return;
    }
    window_state(ms, r, ms->k, &r->run);
}

static void model_query(const void *ctx, const void *run, float *q)
{
    const struct tt_eval_model_scorer *ms = ctx;
    const struct model_run *r = run;

    if (r->stale) {
        struct tt_user_run now;

        window_state(ms, r, ms->k, &now);
        tt_model_user_query(ms->m, &now, q);
        return;
    }
    tt_model_user_query(ms->m, &r->run, q);
}

static const float *model_state(const void *ctx, const void *run)
{
    (void)ctx;
    return ((const struct model_run *)run)->run.h;
}

tt_err_t tt_eval_model_init(struct tt_eval_model_scorer *ms,
                            const tt_eval_t *ev, const tt_model_t *m,
                            const char *name)
{
    const struct tt_dataset *ds = tt_eval_dataset(ev);
    uint32_t n_items = tt_dataset_n_items(ds);
    struct tt_model_info info;

    memset(ms, 0, sizeof(*ms));
    tt_model_get_info(m, &info);
    if (info.dim == 0 || info.dim > TT_MODEL_DIM_MAX)
        return TT_ERR_INVAL;
    /* One id lookup per item here keeps hash lookups off the hot path. */
    ms->item = malloc((n_items ? n_items : 1) * sizeof(*ms->item));
    if (!ms->item)
        return TT_ERR_NOMEM;
    for (uint32_t i = 0; i < n_items; i++)
        ms->item[i] = tt_model_item(m, tt_ids_id(ds->items, i));
    ms->m = m;
    ms->ds = ds;
    ms->ev = ev;
    ms->tstar = info.tstar;
    ms->no_phi = info.n_active == 0;
    ms->sc.name = name;
    ms->sc.dim = info.dim;
    ms->sc.item = ms->item;
    ms->k = info.k;
    ms->hop = info.hop;
    if (info.window && info.n_active > 0 && info.n_items > 0 &&
        (uint64_t)info.n_items * 3 * info.dim * sizeof(float) <=
            TT_EVAL_INPUT_TABLE_MAX) {
        const size_t row = 3 * (size_t)info.dim;

        ms->act_in = malloc(info.n_items * row * sizeof(float));
        if (!ms->act_in) {
            free(ms->item);
            ms->item = NULL;
            return TT_ERR_NOMEM;
        }
        ms->items0 = tt_model_item_at(m, 0, NULL);
        for (uint32_t i = 0; i < info.n_items; i++)
            tt_model_active_input(m, tt_model_item_at(m, i, NULL),
                                  ms->act_in + i * row);
    }
    ms->sc.run_bytes = sizeof(struct model_run) +
                       (info.window ? 2 * (size_t)info.k : 0) *
                           sizeof(const float *);
    ms->sc.ctx = ms;
    ms->sc.start = model_start;
    ms->sc.step = model_step;
    ms->sc.skip = model_skip;
    ms->sc.query = model_query;
    ms->sc.state = model_state;
    return TT_ERR_OK;
}

void tt_eval_model_release(struct tt_eval_model_scorer *ms)
{
    free(ms->item);
    ms->item = NULL;
    free(ms->act_in);
    ms->act_in = NULL;
}

double tt_eval_validate(void *ctx, const tt_model_t *m)
{
    const tt_eval_t *ev = ctx;
    struct tt_eval_model_scorer ms;
    struct tt_eval_result res;
    tt_err_t err;

    if (tt_eval_model_init(&ms, ev, m, "validate") != TT_ERR_OK)
        return -1.0;
    /* No change statistics: lets each user stop at its last sampled event. */
    ms.sc.state = NULL;
    err = tt_eval_run(ev, &ms.sc, &res, NULL, 0);
    tt_eval_model_release(&ms);
    return err ? -1.0 : res.mrr;
}
