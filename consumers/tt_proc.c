#include "consumers/tt_proc.h"

#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"
#include "model/tt_gru.h"
#include "model/tt_kern.h"
/* The cells' weights (m->cell), for the projected step below. */
#include "model/tt_model_int.h"

/*
 * The item projection cache of a view: entry e holds, for the key
 * (item index * 2 + cell), a = b + W^T x of that cell, exactly as
 * tt_gru_step computes it.  Direct-mapped (a collision replaces the entry);
 * with room for every item of both cells, the index is the key itself.
 */
struct tt_proc_xproj {
    uintptr_t items;    /* address of item 0's vector (item i's: + i dim) */
    uint32_t dim;
    uint32_t n_items;
    size_t mask;        /* entries - 1 */
    bool direct;        /* entries >= 2 * n_items: entry = key */
    uint32_t *tag;      /* key + 1, 0 = empty */
    float *a;           /* entries x 3 dim */
};

/* A slot of the per-batch user table. */
struct proc_user {
    int64_t user_id;
    int32_t partition;
    bool dirty;
    struct tt_user_state st;
};

struct tt_proc_s {
    struct tt_proc_conf conf;
    /* Events of the batch, in input order. */
    struct tt_proc_in *in;
    uint32_t *in_user; /* user slot of each event */
    struct tt_proc_out *out;
    size_t n_in;
    /* Users of the batch, in order of first sight. */
    struct proc_user *users;
    size_t n_users;
    /* Open-addressing table (partition, user) -> users index + 1; a bucket
     * is live only when its stamp equals `gen`, so a new batch clears the
     * table by bumping gen instead of a memset. */
    uint32_t *bucket;
    uint32_t *stamp;
    size_t mask;
    uint32_t gen;
    /* Buffers behind the user slots and the output vectors. */
    float *emb_buf;
    struct tt_ustate_item *hist_buf;
    float *q_buf;
    struct tt_user_run run;
    struct tt_proc_stats stats;
};

/* The projection cache of a view of `m`, or NULL (no items, no memory, or
 * too little room for it to be worth it). */
static struct tt_proc_xproj *xproj_new(const tt_model_t *m,
                                       const struct tt_model_info *info,
                                       size_t max_bytes)
{
    struct tt_proc_xproj *xp;
    size_t entry = 3 * (size_t)info->dim * sizeof(float) + sizeof(uint32_t);
    size_t want = (size_t)info->n_items * 2, n = 64;

    if (info->n_items == 0 || info->n_items > UINT32_MAX / 2 ||
        64 * entry > max_bytes)
        return NULL;
    while (n < want && 2 * n * entry <= max_bytes)
        n <<= 1;
    xp = calloc(1, sizeof(*xp));
    if (!xp)
        return NULL;
    xp->items = (uintptr_t)tt_model_item_at(m, 0, NULL);
    xp->dim = info->dim;
    xp->n_items = info->n_items;
    xp->mask = n - 1;
    xp->direct = n >= want;
    xp->tag = calloc(n, sizeof(*xp->tag));
    /* Large: the kernel maps its pages as entries are first written. */
    xp->a = malloc(n * 3 * (size_t)info->dim * sizeof(float));
    if (!xp->tag || !xp->a) {
        free(xp->tag);
        free(xp->a);
        free(xp);
        return NULL;
    }
    return xp;
}

static void xproj_destroy(struct tt_proc_xproj *xp)
{
    if (!xp)
        return;
    free(xp->tag);
    free(xp->a);
    free(xp);
}

/* a = b + W^T x of `g` for the item whose vector is x: from the cache, or
 * computed into it.  NULL when x is not one of the model's item vectors. */
static const float *xproj_get(struct tt_proc_xproj *xp, const struct tt_gru *g,
                              enum tt_cell cell, const float *x)
{
    const size_t d = xp->dim, d3 = 3 * d, row = d * sizeof(float);
    uintptr_t at = (uintptr_t)x;
    size_t off, e;
    uint32_t key;
    float *a;

    /* Addresses as integers: x may point into another array. */
    if (at < xp->items)
        return NULL;
    off = (size_t)(at - xp->items);
    if (off % row != 0 || off / row >= xp->n_items)
        return NULL;
    key = (uint32_t)(off / row) * 2 + (uint32_t)cell;
    e = xp->direct ? key : (size_t)(tt_rng_mix64(key) & xp->mask);
    a = xp->a + e * d3;
    if (xp->tag[e] != key + 1) {
        memcpy(a, g->b, d3 * sizeof(*a));
        tt_kern_gemv_t(a, g->wt, d3, x, d, d3);
        xp->tag[e] = key + 1;
    }
    return a;
}

/*
 * tt_model_user_step(v->model, run, x), with the input half of the GRU step
 * from the view's cache.  The rest is tt_gru_step line by line: the same
 * kernels on the same operands in the same order, so the same bits.
 */
static void proc_step(const struct tt_proc_view *v, struct tt_user_run *run,
                      const float *x)
{
    const struct tt_gru *g = &v->model->cell[run->cell];
    const float *a = v->xp ? xproj_get(v->xp, g, run->cell, x) : NULL;
    float u[3 * TT_MODEL_DIM_MAX];
    float rh[TT_MODEL_DIM_MAX];
    const size_t d = g->dim, d3 = 3 * d;
    const float *z = u, *r = u + d;
    float *hh = u + 2 * d, *h = run->h;

    if (!a) {
        tt_model_user_step(v->model, run, x);
        return;
    }
    memset(u, 0, d3 * sizeof *u);
    tt_kern_gemv_t(u, g->ut, d3, h, d, 2 * d);
    for (size_t j = 0; j < 2 * d; j++)
        u[j] = a[j] + u[j];
    tt_kern_sigmoid(u, u, 2 * d);
    for (size_t j = 0; j < d; j++)
        rh[j] = r[j] * h[j];
    tt_kern_gemv_t(hh, g->ut + 2 * d, d3, rh, d, d);
    for (size_t j = 0; j < d; j++)
        hh[j] = a[2 * d + j] + hh[j];
    tt_kern_tanh(hh, hh, d);
    for (size_t j = 0; j < d; j++)
        h[j] = (1.0f - z[j]) * h[j] + z[j] * hh[j];
    memmove(run->last, x, d * sizeof *run->last);
    run->has_last = true;
    run->steps++;
}

tt_err_t tt_proc_view_init(struct tt_proc_view *v, const tt_model_t *m)
{
    const struct tt_model_cutoff *c;
    size_t n = 0;

    memset(v, 0, sizeof(*v));
    v->model = m;
    tt_model_get_info(m, &v->info);
    c = tt_model_cutoffs(m);
    for (uint32_t i = 0; i < v->info.n_cutoffs; i++)
        if (c[i].partition >= 0 && (size_t)c[i].partition + 1 > n)
            n = (size_t)c[i].partition + 1;
    if (n > 0) {
        v->cutoff = malloc(n * sizeof(*v->cutoff));
        if (!v->cutoff)
            return TT_ERR_NOMEM;
        for (size_t p = 0; p < n; p++)
            v->cutoff[p] = -1;
        for (uint32_t i = 0; i < v->info.n_cutoffs; i++)
            if (c[i].partition >= 0)
                v->cutoff[c[i].partition] = c[i].offset;
    }
    v->n_cutoff = n;
    v->xp = xproj_new(m, &v->info, TT_PROC_XPROJ_BYTES);
    return TT_ERR_OK;
}

void tt_proc_view_set_cache(struct tt_proc_view *v, size_t max_bytes)
{
    xproj_destroy(v->xp);
    v->xp = xproj_new(v->model, &v->info, max_bytes);
}

void tt_proc_view_release(struct tt_proc_view *v)
{
    xproj_destroy(v->xp);
    free(v->cutoff);
    memset(v, 0, sizeof(*v));
}

int64_t tt_proc_view_cutoff(const struct tt_proc_view *v, int32_t partition)
{
    if (partition < 0 || (size_t)partition >= v->n_cutoff)
        return -1;
    return v->cutoff[partition];
}

tt_err_t tt_proc_new(tt_proc_t **pp, const struct tt_proc_conf *conf,
                     char *errstr, size_t errstr_size)
{
    tt_proc_t *p;
    size_t cap = 2, nb = conf->batch_max, dmax = TT_MODEL_DIM_MAX;

    *pp = NULL;
    if (conf->batch_max < 1 || conf->batch_max > 10000000u ||
        conf->history_max < 1 || conf->history_max > TT_USTATE_HIST_MAX)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "proc: batch_max %u or history_max %u out of range",
                       conf->batch_max, conf->history_max);
    while (cap < 2 * nb)
        cap <<= 1;
    p = calloc(1, sizeof(*p));
    if (!p)
        goto nomem;
    p->conf = *conf;
    p->mask = cap - 1;
    p->in = malloc(nb * sizeof(*p->in));
    p->in_user = malloc(nb * sizeof(*p->in_user));
    p->out = malloc(nb * sizeof(*p->out));
    p->users = calloc(nb, sizeof(*p->users));
    p->bucket = calloc(cap, sizeof(*p->bucket));
    p->stamp = calloc(cap, sizeof(*p->stamp));
    /* Large blocks: the kernel maps pages on first touch, so a generous
     * batch_max costs address space, not memory, until batches fill it. */
    p->emb_buf = malloc(nb * dmax * sizeof(float));
    p->hist_buf = malloc(nb * conf->history_max * sizeof(*p->hist_buf));
    p->q_buf = malloc(nb * dmax * sizeof(float));
    if (!p->in || !p->in_user || !p->out || !p->users || !p->bucket ||
        !p->stamp || !p->emb_buf || !p->hist_buf || !p->q_buf)
        goto nomem;
    for (size_t i = 0; i < nb; i++)
        tt_ustate_bind(&p->users[i].st, p->emb_buf + i * dmax, (uint32_t)dmax,
                       p->hist_buf + i * conf->history_max,
                       conf->history_max);
    p->gen = 1;
    *pp = p;
    return TT_ERR_OK;
nomem:
    tt_proc_destroy(p);
    return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                   "proc: no memory for batches of %zu events", nb);
}

void tt_proc_destroy(tt_proc_t *p)
{
    if (!p)
        return;
    free(p->in);
    free(p->in_user);
    free(p->out);
    free(p->users);
    free(p->bucket);
    free(p->stamp);
    free(p->emb_buf);
    free(p->hist_buf);
    free(p->q_buf);
    free(p);
}

void tt_proc_begin(tt_proc_t *p)
{
    p->n_in = 0;
    p->n_users = 0;
    p->gen++;
    if (p->gen == 0) {
        /* The stamps wrapped around: clear them once every 2^32 batches. */
        memset(p->stamp, 0, (p->mask + 1) * sizeof(*p->stamp));
        p->gen = 1;
    }
}

static size_t user_slot(tt_proc_t *p, int32_t partition, int64_t user_id)
{
    uint64_t h = tt_rng_mix64((uint64_t)user_id ^
                              ((uint64_t)(uint32_t)partition << 48));
    size_t b = (size_t)h & p->mask;
    struct proc_user *u;

    for (;;) {
        if (p->stamp[b] != p->gen)
            break;
        u = &p->users[p->bucket[b] - 1];
        if (u->user_id == user_id && u->partition == partition)
            return p->bucket[b] - 1;
        b = (b + 1) & p->mask;
    }
    /* A new user of this batch: the table holds at most batch_max users in
     * at least 2 * batch_max buckets, so the probe above always ends. */
    u = &p->users[p->n_users];
    u->user_id = user_id;
    u->partition = partition;
    u->dirty = false;
    tt_ustate_reset(&u->st);
    p->stamp[b] = p->gen;
    p->bucket[b] = (uint32_t)(p->n_users + 1);
    return p->n_users++;
}

tt_err_t tt_proc_add(tt_proc_t *p, const struct tt_proc_in *in)
{
    if (p->n_in >= p->conf.batch_max)
        return TT_ERR_OVERFLOW;
    if (!tt_event_valid(&in->ev) || in->partition < 0 || in->offset < -1)
        return TT_ERR_RANGE;
    p->in[p->n_in] = *in;
    p->in_user[p->n_in] =
        (uint32_t)user_slot(p, in->partition, in->ev.user_id);
    p->n_in++;
    p->stats.events++;
    return TT_ERR_OK;
}

size_t tt_proc_n_events(const tt_proc_t *p)
{
    return p->n_in;
}

const struct tt_proc_in *tt_proc_event(const tt_proc_t *p, size_t i)
{
    return &p->in[i];
}

size_t tt_proc_n_users(const tt_proc_t *p)
{
    return p->n_users;
}

struct tt_user_state *tt_proc_user(tt_proc_t *p, size_t i,
                                   int32_t *partition, int64_t *user_id)
{
    if (partition)
        *partition = p->users[i].partition;
    if (user_id)
        *user_id = p->users[i].user_id;
    return &p->users[i].st;
}

bool tt_proc_user_dirty(const tt_proc_t *p, size_t i)
{
    return p->users[i].dirty;
}

/* Whether a history entry at `offset` moves a user in `cell` given the
 * cutoff: every entry, except that the active cell of a model without a
 * window starts at the training cutoff (a window model's active cell runs
 * over the last K items whichever side of the cutoff they fall). */
static bool entry_counts(const struct tt_proc_view *v, uint8_t cell,
                         int64_t cut, int64_t offset)
{
    return cell == TT_USTATE_CELL_INACTIVE || v->info.window || cut < 0 ||
           offset >= cut;
}

/* The active cell of a window model: tt_model_user_state over the user's
 * last K known items (the only ones it reads), so the stream computes
 * exactly what the model library and the backtest compute. */
static uint32_t recompute_window(const struct tt_proc_view *v,
                                 int64_t user_id, const struct tt_user_state *s,
                                 struct tt_user_run *run)
{
    const float *xs[TT_MODEL_WINDOW_MAX];
    uint32_t n = 0, k = v->info.k < TT_MODEL_WINDOW_MAX ? v->info.k
                                                         : TT_MODEL_WINDOW_MAX;
    uint32_t j = s->hist_len;

    while (j > 0 && n < k) {
        if (tt_model_item(v->model, s->hist[--j].item_id))
            n++;
    }
    n = 0;
    for (; j < s->hist_len; j++) {
        const float *x = tt_model_item(v->model, s->hist[j].item_id);

        if (x)
            xs[n++] = x;
    }
    /* tt_model_user_state(v->model, user_id, true, xs, n, run): n <= K
     * known items, so it starts the user and steps over all of them. */
    tt_model_user_start(v->model, user_id, true, run);
    for (uint32_t i = 0; i < n; i++)
        proc_step(v, run, xs[i]);
    return n;
}

/* The active cell of a hopping-window model: tt_model_user_state_at over
 * the retained events (a(count), count] (the history holds the user's
 * events count - hist_len + 1 .. count, oldest first). */
/* The history index of the first event of a hopping window's current
 * window (a(count), count]: hist[j] is the user's event
 * count - hist_len + 1 + j. */
static uint32_t hop_index(const struct tt_proc_view *v,
                          const struct tt_user_state *s)
{
    const uint64_t first =
        s->count > s->hist_len ? s->count - s->hist_len : 0;
    const uint64_t a = tt_model_window_start(v->model, s->count);

    return a > first ? (uint32_t)(a - first) : 0;
}

static uint32_t recompute_hop(const struct tt_proc_view *v, int64_t user_id,
                              const struct tt_user_state *s,
                              struct tt_user_run *run)
{
    uint32_t j = hop_index(v, s), n = 0;

    tt_model_user_start(v->model, user_id, true, run);
    for (; j < s->hist_len; j++) {
        const float *x = tt_model_item(v->model, s->hist[j].item_id);

        if (x) {
            proc_step(v, run, x);
            n++;
        }
    }
    return n;
}

uint32_t tt_proc_recompute(const struct tt_proc_view *v, int32_t partition,
                           int64_t user_id, struct tt_user_state *s,
                           struct tt_user_run *run, float *q)
{
    const tt_model_t *m = v->model;
    int64_t cut = tt_proc_view_cutoff(v, partition);
    bool allow = s->count > v->info.tstar;
    uint32_t steps = 0;

    if (v->info.hop && allow && tt_model_phi(m, user_id)) {
        steps = recompute_hop(v, user_id, s, run);
        goto out;
    }
    if (v->info.window && allow && tt_model_phi(m, user_id)) {
        steps = recompute_window(v, user_id, s, run);
        goto out;
    }
    tt_model_user_start(m, user_id, allow, run);
    for (uint32_t j = 0; j < s->hist_len; j++) {
        const struct tt_ustate_item *e = &s->hist[j];
        const float *x;

        if (!entry_counts(v, (uint8_t)run->cell, cut, e->offset))
            continue;
        x = tt_model_item(m, e->item_id);
        if (!x)
            continue;
        proc_step(v, run, x);
        steps++;
    }
out:
    memcpy(s->emb, run->h, v->info.dim * sizeof(float));
    s->dim = v->info.dim;
    s->cell = (uint8_t)run->cell;
    s->model_version = v->info.version;
    if (q)
        tt_model_user_query(m, run, q);
    return steps;
}

/* Rebuilds the run of a user whose stored embedding is current: h from the
 * state, and for 2TS-Plus the vector of the last item that moved it (the
 * newest history entry in [lo, upto) that counts and is known). */
static void resume_run(const struct tt_proc_view *v, int64_t cut,
                       const struct tt_user_state *s, uint32_t lo,
                       uint32_t upto, struct tt_user_run *run)
{
    run->cell = (enum tt_cell)s->cell;
    run->steps = 0;
    run->has_last = false;
    memcpy(run->h, s->emb, v->info.dim * sizeof(float));
    if (!v->info.plus)
        return;
    for (uint32_t j = upto; j-- > lo;) {
        const float *x;

        if (!entry_counts(v, s->cell, cut, s->hist[j].offset))
            continue;
        x = tt_model_item(v->model, s->hist[j].item_id);
        if (x) {
            memcpy(run->last, x, v->info.dim * sizeof(float));
            run->has_last = true;
            return;
        }
    }
}

static void apply(tt_proc_t *p, const struct tt_proc_view *v, size_t i)
{
    const struct tt_proc_in *in = &p->in[i];
    struct tt_proc_out *o = &p->out[i];
    struct proc_user *u = &p->users[p->in_user[i]];
    struct tt_user_state *s = &u->st;
    struct tt_user_run *run = &p->run;
    const tt_model_t *m = v->model;
    int64_t cut = tt_proc_view_cutoff(v, in->partition);
    bool dropped = false, active, incremental, hop;
    uint8_t cell;
    const float *x;

    memset(o, 0, sizeof(*o));
    o->in = (uint32_t)i;
    o->user = p->in_user[i];
    if (s->hist_len > 0 && in->offset >= 0) {
        int64_t last = s->hist[s->hist_len - 1].offset;

        if (last >= 0 && in->offset <= last) {
            p->stats.duplicates++;
            o->cell = s->cell;
            o->count = s->count;
            o->model_version = s->model_version;
            return;
        }
    }
    if (s->hist_len == s->hist_cap) {
        uint32_t keep = s->hist_cap / 2;

        memmove(s->hist, s->hist + (s->hist_len - keep),
                keep * sizeof(*s->hist));
        s->hist_len = keep;
        dropped = true;
    }
    tt_ustate_push(s, in->ev.item_id, in->offset, in->ev.category);
    s->count++;
    s->last_event_ms = in->ev.ts_ms;
    u->dirty = true;

    active = s->count > v->info.tstar &&
             tt_model_phi(m, in->ev.user_id) != NULL;
    cell = active ? TT_USTATE_CELL_ACTIVE : TT_USTATE_CELL_INACTIVE;
    x = tt_model_item(m, in->ev.item_id);
    /* A window model's active cell drops its oldest item as each new one
     * comes, which no single step can do: such users are recomputed over
     * their last K known items (K steps) on every event, except for an
     * item the model does not know, which leaves those K items, and so the
     * stored state and the last item, as they were. */
    /* A hopping-window model's active cell extends its window by the event
     * (one step, or none for an unknown item) except at a hop, where the
     * window restarts: recomputed over its K - H + 1 events.  Its state
     * does not read the dropped history (the window lies in the newest
     * history_max / 2 + 1 events when history_max >= 2K - 2), so a drop
     * keeps the incremental path. */
    hop = v->info.hop && active;
    if (hop)
        incremental = tt_model_window_start(m, s->count) ==
                      tt_model_window_start(m, s->count - 1);
    else
        incremental = !dropped && !(v->info.window && active && x);
    incremental = incremental && s->count > 1 &&
                  s->model_version == v->info.version && s->cell == cell &&
                  s->dim == v->info.dim;
    o->q = p->q_buf + (size_t)i * v->info.dim;
    if (incremental) {
        bool step = x && entry_counts(v, cell, cut, in->offset);

        if (step) {
            /* A step makes x the last item: 2TS-Plus needs no look-back. */
            run->cell = (enum tt_cell)cell;
            run->steps = 0;
            run->has_last = false;
            memcpy(run->h, s->emb, v->info.dim * sizeof(float));
            proc_step(v, run, x);
            memcpy(s->emb, run->h, v->info.dim * sizeof(float));
            p->stats.steps++;
            o->stepped = true;
        } else {
            resume_run(v, cut, s, hop ? hop_index(v, s) : 0,
                       s->hist_len - 1, run);
        }
        tt_model_user_query(m, run, (float *)o->q);
    } else {
        uint32_t n = tt_proc_recompute(v, in->partition, in->ev.user_id, s,
                                       run, (float *)o->q);

        p->stats.steps += n;
        p->stats.recomputes++;
        o->recomputed = true;
        o->stepped = x && entry_counts(v, cell, cut, in->offset);
    }
    o->applied = true;
    o->unknown_item = x == NULL;
    o->cell = s->cell;
    o->count = s->count;
    o->model_version = s->model_version;
    p->stats.applied++;
    if (!x)
        p->stats.unknown_items++;
    if (s->cell == TT_USTATE_CELL_ACTIVE)
        p->stats.active++;
}

tt_err_t tt_proc_run(tt_proc_t *p, const struct tt_proc_view *v)
{
    if (v->info.dim < 1 || v->info.dim > TT_MODEL_DIM_MAX)
        return TT_ERR_RANGE;
    for (size_t k = 0; k < p->n_users; k++)
        if (p->users[k].st.dim > p->users[k].st.dim_max)
            return TT_ERR_RANGE;
    for (size_t i = 0; i < p->n_in; i++)
        apply(p, v, i);
    return TT_ERR_OK;
}

const struct tt_proc_out *tt_proc_outputs(const tt_proc_t *p, size_t *n)
{
    *n = p->n_in;
    return p->out;
}

void tt_proc_stats(const tt_proc_t *p, struct tt_proc_stats *stats)
{
    *stats = p->stats;
}
