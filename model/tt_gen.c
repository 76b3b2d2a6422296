/*
 * The synthetic log generator.  Choices and their reasons:
 *
 * Streaming.  Every user is a small state machine (next event time, events
 * and sessions left, position in its activity window, last item, preference
 * vector); a binary heap keyed by (next time, user index) merges the users'
 * event streams into one time-ordered stream.  Memory is O(users * dim +
 * items * dim) and nothing depends on n_events.  One random stream per
 * purpose (items, users, events), all from the seed; ties in time are broken
 * by user index, so the output is a pure function of the options.
 *
 * Events per user.  The paper's sec. 2 assumes p(T) ~ (T + 1)^-alpha.  Each
 * user draws T_u from that law on [1, cap] (the number of events it would
 * make if active during the whole log) and is active in a window [a_u, e_u]
 * inside the log; it makes T_u * (e_u - a_u) / H of them, at least 1.  The
 * cap is solved so that the expected total is n_events (for alpha < 2 the
 * mean grows with the cap), but kept below CAP_PER_MEAN times the mean so
 * that no user holds a large share of the log, as none does in real logs;
 * when that cap is not enough (alpha >~ 1.7 or a large n_events / n_users)
 * every count is multiplied by a factor s >= 1 (solved with the cap), which
 * raises the smallest counts to about s, like the "at least 20 ratings"
 * filter of MovieLens, and keeps the tail exponent.  The counts are then
 * rescaled by systematic rounding to add up to n_events exactly.
 *
 * Windows.  A fraction new_user_rate of users arrives at a uniform time in
 * the log (so a later test period has users never seen in training); the
 * others are there from the start.  Users leave at a random time
 * (a_u + (H - a_u) * min(1, 0.3 + 0.9 u)): about a fifth stay to the end.
 *
 * Sessions.  A user's events come in sessions (count ~ T / session_len, sizes
 * geometric); session starts are the order statistics of uniform times over
 * the window, generated one at a time (O(1) state); within a session events
 * are log-normally spaced (median 45 s).  The preference vector drifts as a
 * random walk between sessions: theta += drift * sqrt(days) * z / sqrt(dim).
 *
 * Items.  v_i = sqrt(0.5) c_k + sqrt(0.5) z around K cluster centres (K =
 * n_categories, or 16 hidden clusters); Zipf popularity pop_i ~ rank^-zipf
 * over a random permutation, so popularity is unrelated to the item index
 * and to the cluster.  All random vectors have components N(0, 1/dim), norm
 * about 1; mu has norm 1; theta_u = mu + sigma z / sqrt(dim).
 *
 * Choice.  The target is p(i) ~ pop_i exp(theta . v_i / temp).  Computing it
 * over all items costs O(items * dim) per event, so it is sampled by
 * sampling-importance-resampling: `candidates` items are drawn from a
 * proposal q and one is picked with probability ~ p(i) / q(i).  Half of the
 * pool comes from the popularity (alias table, O(1) a draw), half from the
 * user's likely clusters (P(k) ~ share_k exp(CENTRE_W theta . c_k / temp),
 * then by popularity within the cluster), and the weights use the density of
 * the mixture (q(i) = pop_i (1/2 + P(k_i) / (2 share_k))), which keeps them
 * bounded.  Popularity alone as the proposal is not enough: with a peaked
 * target, 64 popular candidates rarely hold the items the user likes, and
 * the output is then little more than popularity (a collaborative filter
 * barely beat the popularity baseline on it).  As the pool grows the choice
 * tends to the exact softmax.  Within a session, with probability
 * session_prob, the pool is drawn uniformly from the previous item's cluster
 * and weighted by pop_j exp((theta + v_prev) . v_j / temp): the next item is
 * close to the previous one, a short-term effect a sequence model can use
 * and a static user embedding cannot.
 */
#include "model/tt_gen.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"

#define HIDDEN_CLUSTERS 16u
#define DAY_MS 86400000.0
#define GAP_MEDIAN_MS 45000.0
#define GAP_LOG_SD 1.0
#define SESSION_MIN_GAP_MS 60000
#define NO_ITEM UINT32_MAX
/* Weight of the cluster centre in an item vector. */
#define CENTRE_W 0.7071067811865476
/* The largest count is at most this many times the mean (ML-25M: max
 * 32202 / mean 154 = 209). */
#define CAP_PER_MEAN 200.0

struct gen_user {
    int64_t t_next; /* time of the next event, ms since the log start */
    int64_t a, e;   /* activity window, ms since the log start */
    double pos;     /* last session start, as a fraction of the window */
    uint64_t rem_events;
    uint64_t rem_sessions; /* sessions not yet started */
    uint64_t sess_rem;     /* events of the current session after next */
    uint32_t last_item;
    bool in_session; /* the next event continues a session */
};

struct tt_gen_s {
    struct tt_gen_opts o;
    struct tt_rng rng;   /* events */
    uint32_t dim, n_clusters;
    float *item_vec;     /* [n_items * dim] */
    uint32_t *item_cl;   /* [n_items] cluster */
    float *log_pop;      /* [n_items] */
    float *alias_prob;   /* [n_items] */
    uint32_t *alias;     /* [n_items] */
    uint32_t *cl_off;    /* [n_clusters + 1] */
    uint32_t *cl_items;  /* [n_items] items by cluster */
    float *cl_alias_prob; /* [n_items] popularity alias within each cluster, */
    uint32_t *cl_alias;   /* [n_items]  in cl_items order, local indices */
    float *centre;        /* [n_clusters * dim] */
    double *cl_logshare;  /* [n_clusters] log share of popularity, -inf if
                             the cluster is empty */
    double *cl_p;         /* [n_clusters] scratch: proposal over clusters */
    float *cl_lq;         /* [n_clusters] scratch: log proposal factor */
    float *theta;        /* [n_users * dim] */
    struct gen_user *users;
    uint32_t *heap;      /* user indices, min (t_next, index) on top */
    uint32_t heap_len;
    float *cand_w;       /* [candidates] scratch */
    uint32_t *cand;      /* [candidates] scratch */
    float *q;            /* [dim] scratch */
    uint64_t emitted;
    size_t bytes;
    char header[64];
};

static void rand_vec(struct tt_rng *rng, float *v, uint32_t dim, double scale)
{
    double s = scale / sqrt((double)dim);

    for (uint32_t k = 0; k < dim; k++)
        v[k] = (float)(tt_rng_normal(rng) * s);
}

/* Four partial sums break the add-latency chain (4x faster at dim 16, where
 * candidate scoring is most of the generator's time); still deterministic. */
static float dot(const float *a, const float *b, uint32_t dim)
{
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    uint32_t k = 0;

    for (; k + 4 <= dim; k += 4) {
        s0 += a[k] * b[k];
        s1 += a[k + 1] * b[k + 1];
        s2 += a[k + 2] * b[k + 2];
        s3 += a[k + 3] * b[k + 3];
    }
    for (; k < dim; k++)
        s0 += a[k] * b[k];
    return (s0 + s1) + (s2 + s3);
}

/* ---- the power law of events per user ---- */

/* Integral of y^p over [y0, y1]. */
static double int_pow(double p, double y0, double y1)
{
    if (fabs(p + 1.0) < 1e-12)
        return log(y1 / y0);
    return (pow(y1, p + 1.0) - pow(y0, p + 1.0)) / (p + 1.0);
}

/* The mean of T for p(T) ~ (T + 1)^-alpha on [1, cap], in the continuous
 * approximation y = T + 1 on [1.5, cap + 1.5]. */
static double pl_mean(double alpha, double cap)
{
    double y0 = 1.5, y1 = cap + 1.5;

    return int_pow(1.0 - alpha, y0, y1) / int_pow(-alpha, y0, y1) - 1.0;
}

static double pl_draw(struct tt_rng *rng, double alpha, double cap)
{
    double y0 = 1.5, y1 = cap + 1.5, u = tt_rng_uniform(rng), y, t;
    double a0 = pow(y0, 1.0 - alpha), a1 = pow(y1, 1.0 - alpha);

    y = pow(a0 + u * (a1 - a0), 1.0 / (1.0 - alpha));
    t = floor(y + 0.5) - 1.0;
    return t < 1.0 ? 1.0 : (t > cap ? cap : t);
}

/* The cap whose mean is `mean` (bisection in log space), within [1, 1e12]. */
static double pl_solve_cap(double alpha, double mean)
{
    double lo = 0.0, hi = log(1e12);

    if (mean <= 1.0)
        return 1.0;
    if (pl_mean(alpha, 1e12) <= mean)
        return 1e12;
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);

        if (pl_mean(alpha, exp(mid)) < mean)
            lo = mid;
        else
            hi = mid;
    }
    return floor(exp(hi) + 0.5);
}

/* ---- items ---- */

/* Walker's alias table for weights w[0..n) (destroys w). */
static int build_alias(float *prob, uint32_t *alias, double *w, uint32_t n)
{
    uint32_t *small = malloc((size_t)n * sizeof(*small));
    uint32_t *large = malloc((size_t)n * sizeof(*large));
    uint32_t ns = 0, nl = 0;
    double sum = 0.0;

    if (!small || !large) {
        free(small);
        free(large);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++)
        sum += w[i];
    for (uint32_t i = 0; i < n; i++) {
        w[i] = w[i] * n / sum;
        alias[i] = i;
        if (w[i] < 1.0)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns && nl) {
        uint32_t s = small[--ns], l = large[nl - 1];

        prob[s] = (float)w[s];
        alias[s] = l;
        w[l] -= 1.0 - w[s];
        if (w[l] < 1.0) {
            nl--;
            small[ns++] = l;
        }
    }
    while (nl)
        prob[large[--nl]] = 1.0f;
    while (ns)
        prob[small[--ns]] = 1.0f; /* rounding leftovers */
    free(small);
    free(large);
    return 0;
}

/* One draw from an alias table of n entries (n < 2^32). */
static uint32_t alias_draw(struct tt_rng *rng, const float *prob,
                           const uint32_t *alias, uint32_t n)
{
    uint64_t r = tt_rng_next(rng);
    uint32_t i = (uint32_t)(((r >> 32) * n) >> 32);
    float u = (float)((r & 0xffffffu) * 0x1.0p-24);

    return u < prob[i] ? i : alias[i];
}

static tt_err_t make_items(tt_gen_t *g, char *errstr, size_t errstr_size)
{
    uint32_t n = g->o.n_items, dim = g->dim, K = g->n_clusters;
    struct tt_rng rng;
    float *centre = g->centre;
    uint32_t *perm = malloc((size_t)n * sizeof(*perm));
    double *w = malloc((size_t)n * sizeof(*w));
    uint32_t *fill = calloc((size_t)K + 1, sizeof(*fill));
    double pop_sum = 0.0;
    tt_err_t err = TT_ERR_OK;

    if (!perm || !w || !fill) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "gen: out of memory");
        goto out;
    }
    tt_rng_seed(&rng, g->o.seed, 1);
    for (uint32_t k = 0; k < K; k++)
        rand_vec(&rng, centre + (size_t)k * dim, dim, 1.0);
    for (uint32_t i = 0; i < n; i++) {
        float *v = g->item_vec + (size_t)i * dim;
        uint32_t k = (uint32_t)tt_rng_below(&rng, K);

        g->item_cl[i] = k;
        rand_vec(&rng, v, dim, sqrt(1.0 - CENTRE_W * CENTRE_W));
        for (uint32_t d = 0; d < dim; d++)
            v[d] += (float)CENTRE_W * centre[(size_t)k * dim + d];
    }
    /* Popularity ranks: a random permutation (Fisher-Yates). */
    for (uint32_t i = 0; i < n; i++)
        perm[i] = i;
    for (uint32_t i = n - 1; i > 0; i--) {
        uint32_t j = (uint32_t)tt_rng_below(&rng, (uint64_t)i + 1), t = perm[i];

        perm[i] = perm[j];
        perm[j] = t;
    }
    for (uint32_t r = 0; r < n; r++) {
        double lp = -g->o.zipf * log((double)r + 1.0);

        g->log_pop[perm[r]] = (float)lp;
        w[perm[r]] = exp((double)(float)lp);
        pop_sum += w[perm[r]];
    }
    if (build_alias(g->alias_prob, g->alias, w, n) != 0) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "gen: out of memory");
        goto out;
    }
    /* Items by cluster (counting sort). */
    memset(g->cl_off, 0, ((size_t)K + 1) * sizeof(*g->cl_off));
    for (uint32_t i = 0; i < n; i++)
        g->cl_off[g->item_cl[i] + 1]++;
    for (uint32_t k = 0; k < K; k++)
        g->cl_off[k + 1] += g->cl_off[k];
    memcpy(fill, g->cl_off, (size_t)K * sizeof(*fill));
    for (uint32_t i = 0; i < n; i++)
        g->cl_items[fill[g->item_cl[i]]++] = i;
    /* Each cluster's share of the popularity and its own alias table. */
    for (uint32_t k = 0; k < K; k++) {
        uint32_t lo = g->cl_off[k], m = g->cl_off[k + 1] - lo;
        double share = 0.0;

        for (uint32_t j = 0; j < m; j++) {
            w[j] = exp((double)g->log_pop[g->cl_items[lo + j]]);
            share += w[j];
        }
        g->cl_logshare[k] = m ? log(share / pop_sum) : -INFINITY;
        if (m && build_alias(g->cl_alias_prob + lo, g->cl_alias + lo, w, m)) {
            err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                          "gen: out of memory");
            goto out;
        }
    }
out:
    free(perm);
    free(w);
    free(fill);
    return err;
}

/* ---- users ---- */

static bool heap_less(const tt_gen_t *g, uint32_t a, uint32_t b)
{
    int64_t ta = g->users[a].t_next, tb = g->users[b].t_next;

    return ta < tb || (ta == tb && a < b);
}

static void heap_down(tt_gen_t *g, uint32_t i)
{
    uint32_t n = g->heap_len, x = g->heap[i];

    for (;;) {
        uint32_t c = 2 * i + 1;

        if (c >= n)
            break;
        if (c + 1 < n && heap_less(g, g->heap[c + 1], g->heap[c]))
            c++;
        if (!heap_less(g, g->heap[c], x))
            break;
        g->heap[i] = g->heap[c];
        i = c;
    }
    g->heap[i] = x;
}

/* A geometric number of failures with mean m >= 0. */
static uint64_t draw_geometric(struct tt_rng *rng, double m)
{
    double u;

    if (m <= 0.0)
        return 0;
    u = 1.0 - tt_rng_uniform(rng); /* (0, 1] */
    return (uint64_t)floor(log(u) / log(m / (1.0 + m)));
}

static int64_t draw_gap_ms(struct tt_rng *rng)
{
    double g = GAP_MEDIAN_MS * exp(GAP_LOG_SD * tt_rng_normal(rng));

    return g < 1.0 ? 1 : (int64_t)g;
}

/* Starts u's next session no earlier than `after`: drifts its preference
 * over the time since `after`, places the start, draws the session size. */
static void start_session(tt_gen_t *g, uint32_t u, int64_t after)
{
    struct gen_user *s = &g->users[u];
    uint64_t k = s->rem_sessions, r = s->rem_events, size;
    double v = tt_rng_uniform(&g->rng), span = (double)(s->e - s->a);
    int64_t start;

    /* Sequential order statistics: the next of k sorted uniforms. */
    s->pos += (1.0 - s->pos) * (1.0 - pow(1.0 - v, 1.0 / (double)k));
    start = s->a + (int64_t)(s->pos * span);
    if (after >= 0 && start < after + SESSION_MIN_GAP_MS)
        start = after + SESSION_MIN_GAP_MS;
    if (after >= 0 && g->o.drift > 0.0) {
        float *th = g->theta + (size_t)u * g->dim;
        double sd = g->o.drift *
                    sqrt((double)(start - after) / DAY_MS / (double)g->dim);

        for (uint32_t d = 0; d < g->dim; d++)
            th[d] += (float)(sd * tt_rng_normal(&g->rng));
    }
    if (k <= 1) {
        size = r;
    } else {
        size = 1 + draw_geometric(&g->rng, (double)r / (double)k - 1.0);
        if (size > r - (k - 1))
            size = r - (k - 1);
    }
    s->rem_sessions = k - 1;
    s->sess_rem = size - 1;
    s->t_next = start;
    s->in_session = false;
}

static tt_err_t make_users(tt_gen_t *g, char *errstr, size_t errstr_size)
{
    uint32_t n = g->o.n_users, dim = g->dim;
    double H = g->o.days * DAY_MS, frac_sum = 0.0, cap, mean, scale;
    double lift = 1.0;
    double cum = 0.0;
    double *c = malloc((size_t)n * sizeof(*c));
    float *mu = malloc((size_t)dim * sizeof(*mu));
    struct tt_rng rng;
    uint64_t assigned = 0;

    if (!c || !mu) {
        free(c);
        free(mu);
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "gen: out of memory");
    }
    tt_rng_seed(&rng, g->o.seed, 2);
    rand_vec(&rng, mu, dim, 1.0);
    for (uint32_t u = 0; u < n; u++) {
        struct gen_user *s = &g->users[u];
        float *th = g->theta + (size_t)u * dim;
        double a = 0.0, e;

        rand_vec(&rng, th, dim, g->o.sigma);
        for (uint32_t d = 0; d < dim; d++)
            th[d] += mu[d];
        if (tt_rng_uniform(&rng) < g->o.new_user_rate)
            a = H * tt_rng_uniform(&rng);
        e = a + (H - a) * fmin(1.0, 0.3 + 0.9 * tt_rng_uniform(&rng));
        s->a = (int64_t)a;
        s->e = (int64_t)e;
        if (s->e <= s->a)
            s->e = s->a + 1;
        c[u] = (e - a) / H; /* the fraction of the log the user is active */
        frac_sum += c[u];
    }
    /* T_u from the power law, scaled by the window: the cap makes the
     * expected total n_events. */
    mean = (double)g->o.n_events / frac_sum;
    cap = pl_solve_cap(g->o.alpha, mean);
    if (cap > CAP_PER_MEAN * mean) {
        /* The law s * T, T on [1, CAP_PER_MEAN * mean / s], with s solved
         * so that its mean is `mean`: the largest count stays below
         * CAP_PER_MEAN times the mean and the smallest ones rise to s. */
        double lo = 1.0, hi = fmax(1.0, mean);

        for (int it = 0; it < 100; it++) {
            double mid = 0.5 * (lo + hi);

            if (mid * pl_mean(g->o.alpha, fmax(1.0, CAP_PER_MEAN * mean / mid)) <
                mean)
                lo = mid;
            else
                hi = mid;
        }
        lift = hi;
        cap = floor(fmax(1.0, CAP_PER_MEAN * mean / hi));
    }
    frac_sum = 0.0;
    for (uint32_t u = 0; u < n; u++) {
        c[u] = fmax(1.0, lift * pl_draw(&rng, g->o.alpha, cap) * c[u]);
        frac_sum += c[u];
    }
    /* Systematic rounding to exactly n_events. */
    scale = (double)g->o.n_events / frac_sum;
    g->heap_len = 0;
    for (uint32_t u = 0; u < n; u++) {
        struct gen_user *s = &g->users[u];
        uint64_t upto;

        cum += c[u] * scale;
        upto = u + 1 == n ? g->o.n_events : (uint64_t)floor(cum + 0.5);
        if (upto > g->o.n_events)
            upto = g->o.n_events;
        if (upto < assigned)
            upto = assigned;
        s->rem_events = upto - assigned;
        assigned = upto;
        s->last_item = NO_ITEM;
        s->pos = 0.0;
        if (s->rem_events == 0)
            continue;
        s->rem_sessions = (uint64_t)floor((double)s->rem_events /
                                              g->o.session_len + 0.5);
        if (s->rem_sessions < 1)
            s->rem_sessions = 1;
        if (s->rem_sessions > s->rem_events)
            s->rem_sessions = s->rem_events;
        start_session(g, u, -1);
        g->heap[g->heap_len++] = u;
    }
    for (uint32_t i = g->heap_len / 2; i-- > 0;)
        heap_down(g, i);
    free(c);
    free(mu);
    return TT_ERR_OK;
}

/* ---- lifecycle ---- */

void tt_gen_opts_init(struct tt_gen_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    o->n_events = 1000000;
    o->n_users = 20000;
    o->n_items = 5000;
    o->alpha = 1.4;
    o->dim = 16;
    o->sigma = 1.0;
    o->drift = 0.02;
    o->new_user_rate = 0.2;
    o->n_categories = 0;
    o->zipf = 0.6;
    o->temp = 0.1;
    o->session_prob = 0.5;
    o->session_len = 8.0;
    o->days = 120.0;
    o->start_ms = INT64_C(1577836800000); /* 2020-01-01T00:00:00Z */
    o->candidates = 64;
}

static tt_err_t check_opts(const struct tt_gen_opts *o, char *errstr,
                           size_t errstr_size)
{
    const char *bad = NULL;

    if (o->n_events < 1 || o->n_events > UINT64_C(1) << 40)
        bad = "events must be in [1, 2^40]";
    else if (o->n_users < 1 || o->n_users > UINT32_C(1) << 28)
        bad = "users must be in [1, 2^28]";
    else if (o->n_items < 2 || o->n_items > UINT32_C(1) << 28)
        bad = "items must be in [2, 2^28]";
    else if (!(o->alpha > 1.0 && o->alpha <= 10.0))
        bad = "alpha must be in (1, 10]";
    else if (o->dim < 1 || o->dim > 1024)
        bad = "dim must be in [1, 1024]";
    else if (!(o->sigma >= 0.0 && o->sigma <= 100.0))
        bad = "sigma must be in [0, 100]";
    else if (!(o->drift >= 0.0 && o->drift <= 100.0))
        bad = "drift must be in [0, 100]";
    else if (!(o->new_user_rate >= 0.0 && o->new_user_rate <= 1.0))
        bad = "new-user-rate must be in [0, 1]";
    else if (o->n_categories > o->n_items)
        bad = "categories must be at most items";
    else if (!(o->zipf >= 0.0 && o->zipf <= 5.0))
        bad = "zipf must be in [0, 5]";
    else if (!(o->temp >= 1e-3 && o->temp <= 1e3))
        bad = "temp must be in [0.001, 1000]";
    else if (!(o->session_prob >= 0.0 && o->session_prob <= 1.0))
        bad = "session-prob must be in [0, 1]";
    else if (!(o->session_len >= 1.0 && o->session_len <= 1e6))
        bad = "session-len must be in [1, 1e6]";
    else if (!(o->days > 0.0 && o->days <= 36500.0))
        bad = "days must be in (0, 36500]";
    else if (o->candidates < 1 || o->candidates > 65536)
        bad = "candidates must be in [1, 65536]";
    else if (o->start_ms < TT_EVENT_TS_MIN ||
             (double)o->start_ms + 2.0 * o->days * DAY_MS >
                 (double)TT_EVENT_TS_MAX)
        bad = "start and days must keep timestamps within 1970..2200";
    if (bad)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size, "gen: %s", bad);
    return TT_ERR_OK;
}

#define GEN_ALLOC(g, field, count)                                             \
    ((g)->bytes += (size_t)(count) * sizeof(*(g)->field),                      \
     (g)->field = calloc((size_t)(count), sizeof(*(g)->field)))

tt_err_t tt_gen_new(tt_gen_t **out, const struct tt_gen_opts *opts,
                    char *errstr, size_t errstr_size)
{
    tt_gen_t *g;
    tt_err_t err;
    size_t ni, nu;

    *out = NULL;
    err = check_opts(opts, errstr, errstr_size);
    if (err)
        return err;
    g = calloc(1, sizeof(*g));
    if (!g)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "gen: out of memory");
    g->o = *opts;
    g->dim = opts->dim;
    g->n_clusters = opts->n_categories ? opts->n_categories : HIDDEN_CLUSTERS;
    if (g->n_clusters > opts->n_items)
        g->n_clusters = opts->n_items;
    ni = opts->n_items;
    nu = opts->n_users;
    g->bytes = sizeof(*g);
    GEN_ALLOC(g, item_vec, ni * g->dim);
    GEN_ALLOC(g, item_cl, ni);
    GEN_ALLOC(g, log_pop, ni);
    GEN_ALLOC(g, alias_prob, ni);
    GEN_ALLOC(g, alias, ni);
    GEN_ALLOC(g, cl_off, (size_t)g->n_clusters + 1);
    GEN_ALLOC(g, cl_items, ni);
    GEN_ALLOC(g, cl_alias_prob, ni);
    GEN_ALLOC(g, cl_alias, ni);
    GEN_ALLOC(g, centre, (size_t)g->n_clusters * g->dim);
    GEN_ALLOC(g, cl_logshare, g->n_clusters);
    GEN_ALLOC(g, cl_p, g->n_clusters);
    GEN_ALLOC(g, cl_lq, g->n_clusters);
    GEN_ALLOC(g, theta, nu * g->dim);
    GEN_ALLOC(g, users, nu);
    GEN_ALLOC(g, heap, nu);
    GEN_ALLOC(g, cand_w, opts->candidates);
    GEN_ALLOC(g, cand, opts->candidates);
    GEN_ALLOC(g, q, g->dim);
    if (!g->item_vec || !g->item_cl || !g->log_pop || !g->alias_prob ||
        !g->alias || !g->cl_off || !g->cl_items || !g->cl_alias_prob ||
        !g->cl_alias || !g->centre || !g->cl_logshare || !g->cl_p ||
        !g->cl_lq || !g->theta || !g->users ||
        !g->heap || !g->cand_w || !g->cand || !g->q) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "gen: out of memory");
        goto fail;
    }
    /* Seeded first: placing the first sessions draws from it. */
    tt_rng_seed(&g->rng, opts->seed, 3);
    err = make_items(g, errstr, errstr_size);
    if (err)
        goto fail;
    err = make_users(g, errstr, errstr_size);
    if (err)
        goto fail;
    snprintf(g->header, sizeof(g->header), "user_id,item_id,timestamp%s",
             opts->n_categories ? ",category" : "");
    *out = g;
    return TT_ERR_OK;
fail:
    tt_gen_destroy(g);
    return err;
}

void tt_gen_destroy(tt_gen_t *g)
{
    if (!g)
        return;
    free(g->item_vec);
    free(g->item_cl);
    free(g->log_pop);
    free(g->alias_prob);
    free(g->alias);
    free(g->cl_off);
    free(g->cl_items);
    free(g->cl_alias_prob);
    free(g->cl_alias);
    free(g->centre);
    free(g->cl_logshare);
    free(g->cl_p);
    free(g->cl_lq);
    free(g->theta);
    free(g->users);
    free(g->heap);
    free(g->cand_w);
    free(g->cand);
    free(g->q);
    free(g);
}

/* ---- events ---- */

/* Picks one of the n candidates with probability ~ exp(logit). */
static uint32_t pick(tt_gen_t *g, uint32_t n)
{
    float mx = g->cand_w[0], sum = 0.0f, r;

    for (uint32_t j = 1; j < n; j++)
        if (g->cand_w[j] > mx)
            mx = g->cand_w[j];
    for (uint32_t j = 0; j < n; j++) {
        g->cand_w[j] = expf(g->cand_w[j] - mx);
        sum += g->cand_w[j];
    }
    r = (float)tt_rng_uniform(&g->rng) * sum;
    for (uint32_t j = 0; j < n; j++) {
        r -= g->cand_w[j];
        if (r < 0.0f)
            return g->cand[j];
    }
    return g->cand[n - 1];
}

static uint32_t choose_item(tt_gen_t *g, uint32_t u)
{
    const struct gen_user *s = &g->users[u];
    const float *th = g->theta + (size_t)u * g->dim;
    uint32_t dim = g->dim, m = g->o.candidates;
    float inv_t = (float)(1.0 / g->o.temp);

    if (s->in_session && s->last_item != NO_ITEM &&
        tt_rng_uniform(&g->rng) < g->o.session_prob) {
        const float *vp = g->item_vec + (size_t)s->last_item * dim;
        uint32_t k = g->item_cl[s->last_item];
        uint32_t lo = g->cl_off[k], n = g->cl_off[k + 1] - lo;

        for (uint32_t d = 0; d < dim; d++)
            g->q[d] = th[d] + vp[d];
        for (uint32_t j = 0; j < m; j++) {
            uint32_t i = g->cl_items[lo + tt_rng_below(&g->rng, n)];

            g->cand[j] = i;
            g->cand_w[j] = dot(g->q, g->item_vec + (size_t)i * dim, dim) *
                               inv_t +
                           g->log_pop[i];
        }
        return pick(g, m);
    }
    /* Proposal over clusters: P(k) ~ share_k exp(CENTRE_W theta . c_k / T),
     * what the target gives cluster k if items sat at their centres. */
    {
        uint32_t K = g->n_clusters;
        double mx = -INFINITY, sum = 0.0;

        for (uint32_t k = 0; k < K; k++) {
            double a = g->cl_logshare[k] +
                       CENTRE_W * inv_t *
                           dot(th, g->centre + (size_t)k * dim, dim);

            g->cl_p[k] = a;
            if (a > mx)
                mx = a;
        }
        for (uint32_t k = 0; k < K; k++) {
            g->cl_p[k] = exp(g->cl_p[k] - mx);
            sum += g->cl_p[k];
        }
        for (uint32_t k = 0; k < K; k++) {
            g->cl_p[k] /= sum;
            /* q(i) / pop(i) = 0.5 + 0.5 P(k) / share_k, pop normalised. */
            g->cl_lq[k] =
                (float)log(0.5 + 0.5 * g->cl_p[k] / exp(g->cl_logshare[k]));
        }
        for (uint32_t j = 0; j < m; j++) {
            uint32_t i, k;

            if (j < m / 2) {
                i = alias_draw(&g->rng, g->alias_prob, g->alias,
                               g->o.n_items);
                k = g->item_cl[i];
            } else {
                double r = tt_rng_uniform(&g->rng);
                uint32_t lo, n;

                for (k = 0; k + 1 < K; k++) {
                    r -= g->cl_p[k];
                    if (r < 0.0)
                        break;
                }
                while (g->cl_off[k + 1] == g->cl_off[k])
                    k = k ? k - 1 : K - 1; /* rounding: a non-empty one */
                lo = g->cl_off[k];
                n = g->cl_off[k + 1] - lo;
                i = g->cl_items[lo + alias_draw(&g->rng, g->cl_alias_prob + lo,
                                                g->cl_alias + lo, n)];
            }
            g->cand[j] = i;
            g->cand_w[j] =
                dot(th, g->item_vec + (size_t)i * dim, dim) * inv_t -
                g->cl_lq[k];
        }
    }
    return pick(g, m);
}

bool tt_gen_next(tt_gen_t *g, struct tt_event *ev)
{
    uint32_t u, item;
    struct gen_user *s;
    int64_t now;

    if (g->heap_len == 0)
        return false;
    u = g->heap[0];
    s = &g->users[u];
    now = s->t_next;
    item = choose_item(g, u);
    ev->user_id = (int64_t)u + 1;
    ev->item_id = (int64_t)item + 1;
    ev->ts_ms = g->o.start_ms + now;
    ev->category = g->o.n_categories ? (int32_t)g->item_cl[item]
                                     : TT_EVENT_NO_CATEGORY;
    s->last_item = item;
    s->rem_events--;
    if (s->rem_events == 0) {
        g->heap[0] = g->heap[--g->heap_len];
    } else if (s->sess_rem > 0) {
        s->sess_rem--;
        s->t_next = now + draw_gap_ms(&g->rng);
        s->in_session = true;
    } else {
        start_session(g, u, now);
    }
    if (g->heap_len)
        heap_down(g, 0);
    g->emitted++;
    return true;
}

size_t tt_gen_bytes(const tt_gen_t *g)
{
    return g->bytes;
}

uint64_t tt_gen_emitted(const tt_gen_t *g)
{
    return g->emitted;
}

const char *tt_gen_csv_header(const tt_gen_t *g)
{
    return g->header;
}

tt_err_t tt_gen_write_csv(tt_gen_t *g, FILE *f, char *errstr,
                          size_t errstr_size)
{
    struct tt_event ev;

    if (fprintf(f, "%s\n", g->header) < 0)
        goto io;
    while (tt_gen_next(g, &ev)) {
        int rc;

        if (g->o.n_categories)
            rc = fprintf(f, "%lld,%lld,%lld,%d\n", (long long)ev.user_id,
                         (long long)ev.item_id, (long long)ev.ts_ms,
                         (int)ev.category);
        else
            rc = fprintf(f, "%lld,%lld,%lld\n", (long long)ev.user_id,
                         (long long)ev.item_id, (long long)ev.ts_ms);
        if (rc < 0)
            goto io;
    }
    if (fflush(f) != 0)
        goto io;
    return TT_ERR_OK;
io:
    return tt_errf(TT_ERR_IO, errstr, errstr_size, "gen: write error: %s",
                   strerror(errno));
}
