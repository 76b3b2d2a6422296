#include "model/tt_eval.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"
#include "common/tt_time.h"
#include "model/tt_kern.h"

/* Users are dealt to this many shards (u mod N); each shard is accumulated
 * alone and shards are merged in order, so the thread count never changes a
 * result. */
#define N_SHARDS 64
#define NO_POS UINT32_MAX
/* 1/rank in fixed point: exact integer sums, associative. */
#define RR_ONE (UINT64_C(1) << 32)
#define CH_BINS (TT_EVAL_STEPS_MAX + 2)
/* The negatives of every scored interaction are drawn once, in
 * tt_eval_new, and kept when they take at most this many bytes: a handle
 * is run again and again (validation after every training epoch, several
 * models in a backtest) and the draw (one rng call per negative) cost as
 * much as the scoring.  Larger slices draw them again in every run. */
#define NEG_CACHE_MAX (size_t)(32u << 20)

struct tt_eval_s {
    const struct tt_dataset *ds;
    struct tt_split split;
    size_t begin, end;
    struct tt_eval_opts opts;
    struct tt_seqs seqs;      /* over [0, end) */
    uint32_t *train_count;    /* [n_users] */
    uint32_t *pool;           /* [n_pool] dense items seen in training */
    uint32_t n_pool;
    uint32_t *pool_pos;       /* [n_items] index in pool or NO_POS */
    uint64_t *scored;         /* bits over [begin, end); NULL = all */
    size_t n_scored;
    size_t *scored_before;    /* [words of scored]: set bits before word */
    /* the negatives of the c-th scored interaction (in position order) at
     * [c * negatives], dense item indices; one of the two or neither */
    uint16_t *neg16;
    uint32_t *neg32;
    /* users with a scored interaction, grouped by shard */
    uint32_t *work;
    size_t shard_off[N_SHARDS + 1];
    uint8_t shard_order[N_SHARDS]; /* most work first */
    size_t *last;             /* [per work entry] last scored position */
    uint32_t n_buckets;
    struct tt_eval_bucket buckets[TT_EVAL_BUCKETS_MAX];
};

struct acc {
    uint64_t n, hits, rr;
    uint64_t unknown, new_user, steps, skipped;
    uint32_t max_cand;
    uint64_t b_n[TT_EVAL_BUCKETS_MAX], b_hits[TT_EVAL_BUCKETS_MAX],
        b_rr[TT_EVAL_BUCKETS_MAX], b_users[TT_EVAL_BUCKETS_MAX];
    uint64_t g_n[2], g_hits[2], g_rr[2];
    double ch_sum[2][CH_BINS];
    uint64_t ch_n[2][CH_BINS];
};

/* ---------------------------------------------------------------- buckets */

uint32_t tt_eval_buckets(uint32_t tstar, struct tt_eval_bucket *b)
{
    uint32_t bounds[5] = {0, 5, 20, 500, 0}, n = 4, nb = 0;

    /* t* joins the bounds so that active and inactive never share one. */
    for (uint32_t i = 0; i < n; i++) {
        if (bounds[i] == tstar)
            break;
        if (bounds[i] > tstar) {
            memmove(bounds + i + 1, bounds + i, (n - i) * sizeof(*bounds));
            bounds[i] = tstar;
            n++;
            break;
        }
        if (i == n - 1) {
            bounds[n++] = tstar;
            break;
        }
    }
    memset(b, 0, TT_EVAL_BUCKETS_MAX * sizeof(*b));
    b[nb].lo = 0;
    b[nb++].hi = 0;
    for (uint32_t i = 1; i < n; i++) {
        b[nb].lo = bounds[i - 1] + 1;
        b[nb++].hi = bounds[i];
    }
    if (bounds[n - 1] < UINT32_MAX) {
        b[nb].lo = bounds[n - 1] + 1;
        b[nb++].hi = UINT32_MAX;
    }
    return nb;
}

uint32_t tt_eval_bucket_of(const struct tt_eval_bucket *b, uint32_t n_buckets,
                           uint32_t count)
{
    for (uint32_t i = 0; i < n_buckets; i++)
        if (count >= b[i].lo && count <= b[i].hi)
            return i;
    return n_buckets - 1;
}

/* ------------------------------------------------------------------ ranks */

uint32_t tt_eval_rank(float s_true, const float *s_neg, uint32_t n)
{
    uint32_t above = 0;

    /* !(s < t) counts ties and NaN against the true item: a model that
     * cannot tell the candidates apart gets the worst rank. */
    for (uint32_t i = 0; i < n; i++)
        above += !(s_neg[i] < s_true);
    if (isnan(s_true))
        above = n;
    return 1 + above;
}

static inline uint64_t rr_fixed(uint32_t rank)
{
    return (RR_ONE + rank / 2) / rank;
}

/* -------------------------------------------------------------- negatives */

/* The set of Floyd's algorithm: one bit per pool index.  It is cleared
 * after each draw by walking the k indices drawn, so a draw costs O(k)
 * whatever the size of the catalogue. */
struct nset {
    uint64_t *bits;
};

static int nset_init(struct nset *s, uint32_t n_pool)
{
    s->bits = calloc(((size_t)n_pool + 63) / 64, sizeof(*s->bits));
    return s->bits ? 0 : -1;
}

/* How many negatives interaction j gets. */
static inline uint32_t n_neg(const tt_eval_t *ev, uint32_t true_item)
{
    uint32_t m = ev->n_pool - (ev->pool_pos[true_item] != NO_POS);

    return ev->opts.negatives < m ? ev->opts.negatives : m;
}

/* Floyd's algorithm: k distinct pool indices uniform over the pool without
 * the true item, from rng stream j.  Returns k. */
static uint32_t draw_negatives(const tt_eval_t *ev, size_t j, struct nset *set,
                               uint32_t *out)
{
    uint32_t true_item = ev->ds->item[j];
    uint32_t tp = ev->pool_pos[true_item];
    uint32_t m = ev->n_pool - (tp != NO_POS);
    uint32_t k = n_neg(ev, true_item), c = 0;
    uint64_t *bits = set->bits;
    struct tt_rng rng;

    tt_rng_seed(&rng, ev->opts.seed, (uint64_t)j);
    for (uint32_t jj = m - k; jj < m; jj++) {
        uint32_t t = (uint32_t)tt_rng_below(&rng, (uint64_t)jj + 1);

        if ((bits[t / 64] >> (t % 64)) & 1)
            t = jj;
        bits[t / 64] |= UINT64_C(1) << (t % 64);
        out[c++] = t;
    }
    for (uint32_t i = 0; i < c; i++) {
        uint32_t t = out[i];

        bits[t / 64] = 0;
        /* Skip over the true item's slot in the pool. */
        out[i] = ev->pool[tp != NO_POS && t >= tp ? t + 1 : t];
    }
    return c;
}

uint32_t tt_eval_negatives_of(const tt_eval_t *ev, size_t j, uint32_t *out,
                              uint32_t cap)
{
    struct nset set;
    uint32_t k;

    if (j >= ev->ds->n)
        return 0;
    k = n_neg(ev, ev->ds->item[j]);
    if (k > cap || nset_init(&set, ev->n_pool) != 0)
        return 0;
    k = draw_negatives(ev, j, &set, out);
    free(set.bits);
    return k;
}

/* ------------------------------------------------------------ preparation */

static inline bool is_scored(const tt_eval_t *ev, size_t p)
{
    size_t i;

    if (p < ev->begin || p >= ev->end)
        return false;
    if (!ev->scored)
        return true;
    i = p - ev->begin;
    return (ev->scored[i / 64] >> (i % 64)) & 1;
}

bool tt_eval_is_scored(const tt_eval_t *ev, size_t j)
{
    return is_scored(ev, j);
}

/* The index of scored position p among the scored ones. */
static inline size_t scored_index(const tt_eval_t *ev, size_t p)
{
    size_t i = p - ev->begin, w = i / 64;
    uint64_t below;

    if (!ev->scored)
        return i;
    below = ev->scored[w] & ((UINT64_C(1) << (i % 64)) - 1);
    return ev->scored_before[w] + (size_t)__builtin_popcountll(below);
}

/* The negatives of scored position p into out (from the cache when there
 * is one; the same draw either way).  Returns how many. */
static uint32_t negatives_at(const tt_eval_t *ev, size_t p, struct nset *set,
                             uint32_t *out)
{
    size_t row;
    uint32_t k;

    if (!ev->neg16 && !ev->neg32)
        return draw_negatives(ev, p, set, out);
    k = n_neg(ev, ev->ds->item[p]);
    row = scored_index(ev, p) * ev->opts.negatives;
    if (ev->neg32) {
        memcpy(out, ev->neg32 + row, k * sizeof(*out));
    } else {
        const uint16_t *c = ev->neg16 + row;

        for (uint32_t i = 0; i < k; i++)
            out[i] = c[i];
    }
    return k;
}

/* Draws the negatives of every scored interaction once (NEG_CACHE_MAX).
 * Only TT_ERR_NOMEM; no cache is no error. */
static tt_err_t cache_negatives(tt_eval_t *ev)
{
    size_t n = ev->end - ev->begin, words = (n + 63) / 64, c = 0;
    bool narrow = tt_dataset_n_items(ev->ds) <= UINT16_MAX + 1u;
    size_t width = narrow ? sizeof(uint16_t) : sizeof(uint32_t);
    struct nset set = {NULL};
    uint32_t *tmp;

    if (ev->n_scored == 0 ||
        ev->n_scored > NEG_CACHE_MAX / width / ev->opts.negatives)
        return TT_ERR_OK;
    if (ev->scored) {
        ev->scored_before = malloc(words * sizeof(*ev->scored_before));
        if (!ev->scored_before)
            return TT_ERR_NOMEM;
        for (size_t w = 0, before = 0; w < words; w++) {
            ev->scored_before[w] = before;
            before += (size_t)__builtin_popcountll(ev->scored[w]);
        }
    }
    tmp = malloc((size_t)ev->opts.negatives * sizeof(*tmp));
    if (narrow)
        ev->neg16 = malloc(ev->n_scored * ev->opts.negatives * width);
    else
        ev->neg32 = malloc(ev->n_scored * ev->opts.negatives * width);
    if (!tmp || (!ev->neg16 && !ev->neg32) || nset_init(&set, ev->n_pool)) {
        free(tmp);
        free(set.bits);
        return TT_ERR_NOMEM;
    }
    for (size_t p = ev->begin; p < ev->end; p++) {
        uint32_t k;
        size_t row;

        if (!is_scored(ev, p))
            continue;
        k = draw_negatives(ev, p, &set, tmp);
        row = c++ * ev->opts.negatives;
        if (narrow)
            for (uint32_t i = 0; i < k; i++)
                ev->neg16[row + i] = (uint16_t)tmp[i];
        else
            memcpy(ev->neg32 + row, tmp, k * sizeof(*tmp));
    }
    free(tmp);
    free(set.bits);
    return TT_ERR_OK;
}


static tt_err_t sample_scored(tt_eval_t *ev)
{
    size_t n = ev->end - ev->begin, k = ev->opts.max_scored;
    struct tt_rng rng;

    if (k == 0 || k >= n) {
        ev->n_scored = n;
        return TT_ERR_OK;
    }
    ev->scored = calloc((n + 63) / 64, sizeof(*ev->scored));
    if (!ev->scored)
        return TT_ERR_NOMEM;
    /* Floyd's algorithm again, with the bitmap as the set. */
    tt_rng_seed(&rng, ev->opts.seed, TT_EVAL_STREAM_SAMPLE);
    for (size_t jj = n - k; jj < n; jj++) {
        size_t t = (size_t)tt_rng_below(&rng, (uint64_t)jj + 1);

        if ((ev->scored[t / 64] >> (t % 64)) & 1)
            t = jj;
        ev->scored[t / 64] |= UINT64_C(1) << (t % 64);
    }
    ev->n_scored = k;
    return TT_ERR_OK;
}

/* The shards by their work (the events their users replay), most first,
 * ties by index: workers take shards in this order as they become free,
 * so that a few heavy users do not leave one thread working alone at the
 * end.  Which thread runs a shard never changes a result. */
static void order_shards(tt_eval_t *ev)
{
    uint64_t cost[N_SHARDS];

    for (int s = 0; s < N_SHARDS; s++) {
        cost[s] = 0;
        for (size_t i = ev->shard_off[s]; i < ev->shard_off[s + 1]; i++)
            cost[s] += tt_seqs_len(&ev->seqs, ev->work[i]);
        ev->shard_order[s] = (uint8_t)s;
    }
    for (int i = 1; i < N_SHARDS; i++) { /* insertion sort, stable */
        uint8_t v = ev->shard_order[i];
        int j = i;

        while (j > 0 && cost[ev->shard_order[j - 1]] < cost[v]) {
            ev->shard_order[j] = ev->shard_order[j - 1];
            j--;
        }
        ev->shard_order[j] = v;
    }
}

static tt_err_t build_work(tt_eval_t *ev)
{
    uint32_t n_users = ev->seqs.n_users;
    size_t n_work = 0, fill[N_SHARDS];

    /* First pass counts per shard, second fills. */
    memset(ev->shard_off, 0, sizeof(ev->shard_off));
    for (uint32_t u = 0; u < n_users; u++) {
        for (uint64_t i = ev->seqs.off[u + 1]; i > ev->seqs.off[u]; i--) {
            size_t p = ev->seqs.pos[i - 1];

            if (p < ev->begin)
                break;
            if (is_scored(ev, p)) {
                ev->shard_off[u % N_SHARDS + 1]++;
                n_work++;
                break;
            }
        }
    }
    for (int s = 0; s < N_SHARDS; s++)
        ev->shard_off[s + 1] += ev->shard_off[s];
    ev->work = malloc((n_work ? n_work : 1) * sizeof(*ev->work));
    ev->last = malloc((n_work ? n_work : 1) * sizeof(*ev->last));
    if (!ev->work || !ev->last)
        return TT_ERR_NOMEM;
    memcpy(fill, ev->shard_off, sizeof(fill));
    for (uint32_t u = 0; u < n_users; u++) {
        for (uint64_t i = ev->seqs.off[u + 1]; i > ev->seqs.off[u]; i--) {
            size_t p = ev->seqs.pos[i - 1];

            if (p < ev->begin)
                break;
            if (is_scored(ev, p)) {
                size_t w = fill[u % N_SHARDS]++;

                ev->work[w] = u;
                ev->last[w] = p;
                break;
            }
        }
    }
    order_shards(ev);
    return TT_ERR_OK;
}

tt_err_t tt_eval_new(tt_eval_t **out, const struct tt_dataset *ds,
                     const struct tt_split *split, size_t begin, size_t end,
                     const struct tt_eval_opts *opts, char *errstr,
                     size_t errstr_size)
{
    tt_eval_t *ev;
    uint32_t n_users = tt_dataset_n_users(ds), n_items = tt_dataset_n_items(ds);
    tt_err_t err;

    *out = NULL;
    if (begin >= end || end > ds->n || split->train_end > split->valid_end ||
        split->valid_end > ds->n || split->train_end == 0)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "empty evaluation slice [%zu, %zu) of %zu interactions "
                       "(training part %zu)",
                       begin, end, ds->n, split->train_end);
    if (opts->negatives == 0 || opts->threads < 1)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "negatives and threads must be >= 1");
    ev = calloc(1, sizeof(*ev));
    if (!ev)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    ev->ds = ds;
    ev->split = *split;
    ev->begin = begin;
    ev->end = end;
    ev->opts = *opts;
    ev->train_count = calloc(n_users ? n_users : 1, sizeof(*ev->train_count));
    ev->pool_pos = malloc((n_items ? n_items : 1) * sizeof(*ev->pool_pos));
    if (!ev->train_count || !ev->pool_pos) {
        err = TT_ERR_NOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < n_items; i++)
        ev->pool_pos[i] = NO_POS;
    for (size_t p = 0; p < split->train_end; p++) {
        if (ev->train_count[ds->user[p]] < UINT32_MAX)
            ev->train_count[ds->user[p]]++;
        ev->pool_pos[ds->item[p]] = 0;
    }
    for (uint32_t i = 0; i < n_items; i++)
        ev->n_pool += ev->pool_pos[i] == 0;
    ev->pool = malloc((ev->n_pool ? ev->n_pool : 1) * sizeof(*ev->pool));
    if (!ev->pool) {
        err = TT_ERR_NOMEM;
        goto fail;
    }
    for (uint32_t i = 0, c = 0; i < n_items; i++)
        if (ev->pool_pos[i] == 0) {
            ev->pool[c] = i;
            ev->pool_pos[i] = c++;
        }
    if (ev->n_pool < 2) {
        uint32_t n_pool = ev->n_pool;

        tt_eval_destroy(ev);
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "the training part has %u distinct item(s): nothing "
                       "to rank against",
                       n_pool);
    }
    err = tt_seqs_build(ds, 0, end, &ev->seqs);
    if (err)
        goto fail;
    err = sample_scored(ev);
    if (!err)
        err = build_work(ev);
    if (!err)
        err = cache_negatives(ev);
    if (err)
        goto fail;
    ev->n_buckets = tt_eval_buckets(opts->tstar, ev->buckets);
    *out = ev;
    return TT_ERR_OK;
fail:
    tt_eval_destroy(ev);
    return tt_errf(err, errstr, errstr_size,
                   "cannot prepare the evaluation: %s", tt_err_str(err));
}

void tt_eval_destroy(tt_eval_t *ev)
{
    if (!ev)
        return;
    tt_seqs_release(&ev->seqs);
    free(ev->train_count);
    free(ev->pool);
    free(ev->pool_pos);
    free(ev->scored);
    free(ev->scored_before);
    free(ev->neg16);
    free(ev->neg32);
    free(ev->work);
    free(ev->last);
    free(ev);
}

const struct tt_dataset *tt_eval_dataset(const tt_eval_t *ev) { return ev->ds; }
const struct tt_split *tt_eval_split(const tt_eval_t *ev) { return &ev->split; }
const struct tt_eval_opts *tt_eval_opts(const tt_eval_t *ev)
{
    return &ev->opts;
}
size_t tt_eval_n_scored(const tt_eval_t *ev) { return ev->n_scored; }
uint32_t tt_eval_pool_size(const tt_eval_t *ev) { return ev->n_pool; }

uint32_t tt_eval_train_count(const tt_eval_t *ev, uint32_t u)
{
    return u < ev->seqs.n_users ? ev->train_count[u] : 0;
}

const uint32_t *tt_eval_user_events(const tt_eval_t *ev, uint32_t u,
                                    size_t *n)
{
    if (u >= ev->seqs.n_users) {
        *n = 0;
        return NULL;
    }
    *n = (size_t)(ev->seqs.off[u + 1] - ev->seqs.off[u]);
    return ev->seqs.pos + ev->seqs.off[u];
}

bool tt_eval_item_in_train(const tt_eval_t *ev, uint32_t i)
{
    return i < tt_dataset_n_items(ev->ds) && ev->pool_pos[i] != NO_POS;
}

/* ------------------------------------------------------------------- runs */

struct worker {
    const tt_eval_t *ev;
    const struct tt_eval_scorer *sc;
    struct acc *accs; /* [N_SHARDS] */
    atomic_int *next; /* the next entry of ev->shard_order to take */
    int index, n_threads;
    bool stats;
    tt_err_t err;
};

struct scratch {
    void *run;
    float *q, *hprev, *s_neg;
    uint32_t *neg;
    struct nset set;
};

/* s[i] = the score of item neg[i] against q (tt_kern_dot), -infinity for
 * an item without a vector. */
static void score_negatives(const struct tt_eval_scorer *sc, const float *q,
                            const uint32_t *neg, uint32_t k, float *s)
{
    const float *const *item = sc->item;
    uint32_t i = 0;

    for (; i + 4 <= k; i += 4) {
        const float *x0 = item[neg[i]], *x1 = item[neg[i + 1]];
        const float *x2 = item[neg[i + 2]], *x3 = item[neg[i + 3]];

        if (i + 12 < k) {
            for (uint32_t j = i + 8; j < i + 12; j++)
                if (item[neg[j]])
                    __builtin_prefetch(item[neg[j]]);
        }
        if (x0 && x1 && x2 && x3) {
            tt_kern_dot4(q, x0, x1, x2, x3, sc->dim, s + i);
            continue;
        }
        for (uint32_t j = i; j < i + 4; j++)
            s[j] = item[neg[j]] ? tt_kern_dot(q, item[neg[j]], sc->dim)
                                : -INFINITY;
    }
    for (; i < k; i++)
        s[i] = item[neg[i]] ? tt_kern_dot(q, item[neg[i]], sc->dim)
                            : -INFINITY;
}

static void score_one(const tt_eval_t *ev, const struct tt_eval_scorer *sc,
                      struct scratch *w, size_t p, uint32_t bucket, int group,
                      struct acc *a)
{
    uint32_t item = ev->ds->item[p], rank, k;
    const float *xt = sc->item[item];

    if (!xt) {
        /* No vector for the true item: the worst rank, still counted. */
        rank = n_neg(ev, item) + 1;
        a->unknown++;
    } else {
        float s_true;

        sc->query(sc->ctx, w->run, w->q);
        s_true = tt_kern_dot(w->q, xt, sc->dim);
        k = negatives_at(ev, p, &w->set, w->neg);
        score_negatives(sc, w->q, w->neg, k, w->s_neg);
        rank = tt_eval_rank(s_true, w->s_neg, k);
    }
    if (rank > a->max_cand)
        a->max_cand = rank;
    a->n++;
    a->rr += rr_fixed(rank);
    a->hits += rank <= TT_EVAL_RECALL_AT;
    a->b_n[bucket]++;
    a->b_rr[bucket] += rr_fixed(rank);
    a->b_hits[bucket] += rank <= TT_EVAL_RECALL_AT;
    a->g_n[group]++;
    a->g_rr[group] += rr_fixed(rank);
    a->g_hits[group] += rank <= TT_EVAL_RECALL_AT;
}

static void run_user(const tt_eval_t *ev, const struct tt_eval_scorer *sc,
                     struct scratch *w, uint32_t u, size_t last, bool stats,
                     struct acc *a)
{
    const uint32_t *pos = ev->seqs.pos + ev->seqs.off[u];
    uint64_t n = tt_seqs_len(&ev->seqs, u);
    uint32_t tc = ev->train_count[u];
    uint32_t bucket = tt_eval_bucket_of(ev->buckets, ev->n_buckets, tc);
    uint32_t steps = 0;
    int flags = sc->start(sc->ctx, u, w->run);
    int group = (flags & TT_EVAL_ACTIVE) ? 1 : 0;

    a->b_users[bucket]++;
    for (uint64_t i = 0; i < n; i++) {
        size_t p = pos[i];
        bool in_slice = p >= ev->begin;
        const float *x;

        if (is_scored(ev, p)) {
            score_one(ev, sc, w, p, bucket, group, a);
            if (tc == 0)
                a->new_user++;
            if (p == last && !stats)
                break;
        }
        if (flags & TT_EVAL_STATIC)
            continue;
        if ((flags & TT_EVAL_FROM_CUTOFF) && p < ev->split.train_end)
            continue;
        x = sc->item[ev->ds->item[p]];
        if (!x) {
            a->skipped += in_slice;
            if (sc->skip)
                sc->skip(sc->ctx, w->run);
            continue;
        }
        steps++;
        if (in_slice && stats) {
            const float *h = sc->state(sc->ctx, w->run);
            uint32_t bin = steps <= TT_EVAL_STEPS_MAX ? steps : CH_BINS - 1;
            double ss = 0;

            memcpy(w->hprev, h, sc->dim * sizeof(float));
            sc->step(sc->ctx, w->run, x);
            h = sc->state(sc->ctx, w->run);
            for (uint32_t d = 0; d < sc->dim; d++) {
                double diff = (double)h[d] - (double)w->hprev[d];

                ss += diff * diff;
            }
            a->ch_sum[group][bin] += sqrt(ss);
            a->ch_n[group][bin]++;
        } else {
            sc->step(sc->ctx, w->run, x);
        }
        a->steps += in_slice;
    }
}

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    const tt_eval_t *ev = wk->ev;
    const struct tt_eval_scorer *sc = wk->sc;
    struct scratch w;
    size_t run_bytes = (sc->run_bytes + 63) / 64 * 64;

    memset(&w, 0, sizeof(w));
    w.run = aligned_alloc(64, run_bytes ? run_bytes : 64);
    w.q = malloc(sc->dim * sizeof(float));
    w.hprev = malloc(sc->dim * sizeof(float));
    w.s_neg = malloc(((size_t)ev->opts.negatives + 1) * sizeof(float));
    w.neg = malloc(((size_t)ev->opts.negatives + 1) * sizeof(uint32_t));
    if (!w.run || !w.q || !w.hprev || !w.s_neg || !w.neg ||
        nset_init(&w.set, ev->n_pool) != 0) {
        wk->err = TT_ERR_NOMEM;
        goto out;
    }
    memset(w.run, 0, run_bytes ? run_bytes : 64);
    for (;;) {
        int o = atomic_fetch_add(wk->next, 1), s;

        if (o >= N_SHARDS)
            break;
        s = ev->shard_order[o];
        for (size_t i = ev->shard_off[s]; i < ev->shard_off[s + 1]; i++)
            run_user(ev, sc, &w, ev->work[i], ev->last[i], wk->stats,
                     &wk->accs[s]);
    }
out:
    free(w.run);
    free(w.q);
    free(w.hprev);
    free(w.s_neg);
    free(w.neg);
    free(w.set.bits);
    return NULL;
}

static double ratio(uint64_t num, uint64_t den)
{
    return den ? (double)num / (double)den : 0.0;
}

static double mrr_of(uint64_t rr, uint64_t n)
{
    return n ? (double)rr / (double)RR_ONE / (double)n : 0.0;
}

static void merge(const tt_eval_t *ev, const struct acc *accs,
                  struct tt_eval_result *res)
{
    struct acc t;

    memset(&t, 0, sizeof(t));
    for (int s = 0; s < N_SHARDS; s++) {
        const struct acc *a = &accs[s];

        t.n += a->n;
        t.hits += a->hits;
        t.rr += a->rr;
        t.unknown += a->unknown;
        t.new_user += a->new_user;
        t.steps += a->steps;
        t.skipped += a->skipped;
        if (a->max_cand > t.max_cand)
            t.max_cand = a->max_cand;
        for (int b = 0; b < TT_EVAL_BUCKETS_MAX; b++) {
            t.b_n[b] += a->b_n[b];
            t.b_hits[b] += a->b_hits[b];
            t.b_rr[b] += a->b_rr[b];
            t.b_users[b] += a->b_users[b];
        }
        for (int g = 0; g < 2; g++) {
            t.g_n[g] += a->g_n[g];
            t.g_hits[g] += a->g_hits[g];
            t.g_rr[g] += a->g_rr[g];
            for (int k = 0; k < CH_BINS; k++) {
                t.ch_sum[g][k] += a->ch_sum[g][k];
                t.ch_n[g][k] += a->ch_n[g][k];
            }
        }
    }
    res->n = t.n;
    res->mrr = mrr_of(t.rr, t.n);
    res->recall = ratio(t.hits, t.n);
    res->n_candidates = t.max_cand;
    res->n_unknown = t.unknown;
    res->n_new_user = t.new_user;
    res->n_steps = t.steps;
    res->n_skipped_steps = t.skipped;
    res->n_buckets = ev->n_buckets;
    for (uint32_t b = 0; b < ev->n_buckets; b++) {
        res->bucket[b] = ev->buckets[b];
        res->bucket[b].n = t.b_n[b];
        res->bucket[b].users = t.b_users[b];
        res->bucket[b].mrr = mrr_of(t.b_rr[b], t.b_n[b]);
        res->bucket[b].recall = ratio(t.b_hits[b], t.b_n[b]);
    }
    for (int g = 0; g < 2; g++) {
        res->group_n[g] = t.g_n[g];
        res->group_mrr[g] = mrr_of(t.g_rr[g], t.g_n[g]);
        res->group_recall[g] = ratio(t.g_hits[g], t.g_n[g]);
        for (int k = 0; k < CH_BINS; k++) {
            res->change_n[g][k] = t.ch_n[g][k];
            res->change_mean[g][k] =
                t.ch_n[g][k] ? t.ch_sum[g][k] / (double)t.ch_n[g][k] : 0.0;
        }
    }
}

tt_err_t tt_eval_run(const tt_eval_t *ev, const struct tt_eval_scorer *sc,
                     struct tt_eval_result *res, char *errstr,
                     size_t errstr_size)
{
    int n_threads = ev->opts.threads > N_SHARDS ? N_SHARDS : ev->opts.threads;
    struct worker wk[N_SHARDS];
    pthread_t tid[N_SHARDS];
    struct acc *accs;
    uint64_t t0 = tt_time_mono_ns();
    tt_err_t err = TT_ERR_OK;
    int started = 1;
    atomic_int next;

    memset(res, 0, sizeof(*res));
    if (sc->dim == 0 || sc->dim > TT_MODEL_DIM_MAX || !sc->item ||
        !sc->start || !sc->step || !sc->query)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "scorer '%s' is incomplete or has dimension %u",
                       sc->name ? sc->name : "?", sc->dim);
    accs = calloc(N_SHARDS, sizeof(*accs));
    if (!accs)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    atomic_init(&next, 0);
    for (int t = 0; t < n_threads; t++) {
        wk[t].ev = ev;
        wk[t].sc = sc;
        wk[t].accs = accs;
        wk[t].next = &next;
        wk[t].index = t;
        wk[t].n_threads = n_threads;
        wk[t].stats = sc->state != NULL;
        wk[t].err = TT_ERR_OK;
    }
    /* Thread 0 is the caller; threads take shards as they become free, so
     * shards a thread that cannot start would have taken go to the others
     * (the later calls find none left), and the result never depends on
     * it. */
    for (int t = 1; t < n_threads; t++) {
        if (pthread_create(&tid[t], NULL, worker_main, &wk[t]) != 0)
            break;
        started++;
    }
    worker_main(&wk[0]);
    for (int t = 1; t < started; t++)
        pthread_join(tid[t], NULL);
    for (int t = started; t < n_threads; t++)
        worker_main(&wk[t]);
    for (int t = 0; t < n_threads; t++)
        if (wk[t].err)
            err = wk[t].err;
    if (err) {
        free(accs);
        return tt_errf(err, errstr, errstr_size, "evaluating '%s': %s",
                       sc->name ? sc->name : "?", tt_err_str(err));
    }
    merge(ev, accs, res);
    free(accs);
    res->seconds = tt_time_secs(t0, tt_time_mono_ns());
    return TT_ERR_OK;
}
