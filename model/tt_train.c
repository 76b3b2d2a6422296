/*
 * What both training stages share: options, the worker team, and the
 * per-user training sequences.
 */
#include "model/tt_train_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf/tt_conf.h"
#include "model/tt_model.h"

void tt_train_opts_from_conf(struct tt_train_opts *o,
                             const struct tt_conf *conf)
{
    memset(o, 0, sizeof *o);
    o->seed = conf->train.seed;
    o->threads = conf->train.threads;
    o->dim = conf->model.dim > 0 ? (uint32_t)conf->model.dim : 0;
    o->tstar = conf->model.tstar > 0 ? (uint32_t)conf->model.tstar : 0;
    o->k = conf->model.k > 0 ? (uint32_t)conf->model.k : 0;
    o->plus = conf->model.plus;
    o->features = conf->model.features;
    o->feature_dim =
        conf->model.feature_dim > 0 ? (uint32_t)conf->model.feature_dim : 0;
    o->mode = TT_MODE_2TS;
    o->inactive_all_users = conf->train.inactive_all;
    o->auto_tstar = conf->train.auto_tstar;
    /* The inference rule and stage 2 settings chosen on validation data
     * (issue 3): the sliding window, K-windows per active user adding up
     * to about 400 steps (20 at K = 20, 8 at K = 50: the active cell's
     * share of stage 2 does not grow with K), the active cell started like
     * any GRU. */
    o->window = true;
    o->window_hop = conf->train.window_hop;
    o->active_windows = o->k >= 400 ? 1 : o->k > 0 ? 400 / o->k : 1;
    o->active_z_bias = 0.0;
    o->negatives =
        conf->train.negatives > 0 ? (uint32_t)conf->train.negatives : 0;
    o->adam = !conf->train.optimizer ||
              strcmp(conf->train.optimizer, "sgd") != 0;
    o->epochs1 = conf->train.epochs1 > 0 ? (uint32_t)conf->train.epochs1 : 0;
    o->lr1 = conf->train.lr1;
    o->l2 = conf->train.l2;
    o->epochs2 = conf->train.epochs2 > 0 ? (uint32_t)conf->train.epochs2 : 0;
    o->lr2 = conf->train.lr2;
    o->batch = conf->train.batch > 0 ? (uint32_t)conf->train.batch : 0;
    o->patience = conf->train.patience > 0 ? (uint32_t)conf->train.patience
                                           : 0;
    o->clip = conf->train.clip;
}

uint32_t tt_train_hop(const struct tt_train_opts *o)
{
    if (!o->window || o->mode != TT_MODE_2TS || o->window_hop < 0)
        return 0;
    if (o->window_hop > 0)
        return (uint32_t)o->window_hop;
    return o->k / 2 ? o->k / 2 : 1;
}

uint32_t tt_train_dim(const struct tt_train_opts *o)
{
    return o->dim + (o->features ? o->feature_dim : 0);
}

tt_err_t tt_train_opts_check(const struct tt_train_opts *o, char *errstr,
                             size_t errstr_size)
{
    if (o->dim < 1 || tt_train_dim(o) > TT_MODEL_DIM_MAX)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "dimension %u (+ features %u) outside 1..%d", o->dim,
                       o->features ? o->feature_dim : 0, TT_MODEL_DIM_MAX);
    if (o->features && o->feature_dim < 1)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "features need feature_dim >= 1");
    if (o->threads < 1 || o->threads > 256)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "threads %d outside 1..256", o->threads);
    if (o->negatives < 1 || o->negatives > TT_TRAIN_NEGATIVES_MAX)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "negatives %u outside 1..%d", o->negatives,
                       TT_TRAIN_NEGATIVES_MAX);
    if (o->batch < 1 || o->batch > 1000000)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "batch %u outside 1..1000000", o->batch);
    if (o->mode == TT_MODE_2TS && (o->k < 1 || o->k > o->tstar))
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "K = %u must be in 1..t* (t* = %u)", o->k, o->tstar);
    if (o->mode == TT_MODE_2TS && o->window && o->k > TT_MODEL_WINDOW_MAX)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "K = %u above %d: too long a window", o->k,
                       TT_MODEL_WINDOW_MAX);
    if (o->mode == TT_MODE_2TS && o->window && o->window_hop > 0 &&
        (uint32_t)o->window_hop > o->k)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "window hop %d above K = %u", o->window_hop, o->k);
    if (!(o->lr1 > 0) || !(o->lr2 > 0) || !(o->l2 >= 0) || !(o->clip >= 0))
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "learning rates must be > 0, l2 and clip >= 0");
    return TT_ERR_OK;
}

/* ---- team ---- */

tt_err_t tt_team_init(struct tt_team *team, int n)
{
    team->n = n;
    team->gate = 0;
    if (pthread_barrier_init(&team->bar, NULL, (unsigned)n) != 0)
        return TT_ERR_NOMEM;
    pthread_mutex_init(&team->gate_mu, NULL);
    pthread_cond_init(&team->gate_cv, NULL);
    return TT_ERR_OK;
}

void tt_team_release(struct tt_team *team)
{
    pthread_barrier_destroy(&team->bar);
    pthread_mutex_destroy(&team->gate_mu);
    pthread_cond_destroy(&team->gate_cv);
}

void tt_team_barrier(struct tt_team *team)
{
    if (team->n > 1)
        pthread_barrier_wait(&team->bar);
}

struct team_arg {
    struct tt_team *team;
    void (*fn)(void *ctx, int tid);
    void *ctx;
    int tid;
};

/* Workers wait at a gate until every thread exists: if one cannot be
 * created, the others leave without running fn (the barrier counts all n,
 * so a partial team could never pass it). */
static void *team_main(void *p)
{
    struct team_arg *a = p;
    struct tt_team *team = a->team;
    int go;

    pthread_mutex_lock(&team->gate_mu);
    while (team->gate == 0)
        pthread_cond_wait(&team->gate_cv, &team->gate_mu);
    go = team->gate == 1;
    pthread_mutex_unlock(&team->gate_mu);
    if (go)
        a->fn(a->ctx, a->tid);
    return NULL;
}

static void open_gate(struct tt_team *team, int state)
{
    pthread_mutex_lock(&team->gate_mu);
    team->gate = state;
    pthread_cond_broadcast(&team->gate_cv);
    pthread_mutex_unlock(&team->gate_mu);
}

tt_err_t tt_team_run(struct tt_team *team, void (*fn)(void *ctx, int tid),
                     void *ctx, char *errstr, size_t errstr_size)
{
    pthread_t th[256];
    struct team_arg args[256];
    int started = 1, rc = 0;

    team->gate = 0;
    for (int t = 1; t < team->n; t++) {
        args[t].team = team;
        args[t].fn = fn;
        args[t].ctx = ctx;
        args[t].tid = t;
        rc = pthread_create(&th[t], NULL, team_main, &args[t]);
        if (rc != 0)
            break;
        started++;
    }
    open_gate(team, rc == 0 ? 1 : 2);
    if (rc == 0)
        fn(ctx, 0);
    for (int t = 1; t < started; t++)
        pthread_join(th[t], NULL);
    if (rc != 0)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "cannot start training thread: %s", strerror(rc));
    return TT_ERR_OK;
}

void tt_team_range(size_t n, int tid, int nt, size_t *lo, size_t *hi)
{
    *lo = n * (size_t)tid / (size_t)nt;
    *hi = n * (size_t)(tid + 1) / (size_t)nt;
}

/* ---- training data ---- */

void tt_train_data_release(struct tt_train_data *td)
{
    free(td->off);
    free(td->items);
    free(td->count);
    free(td->pool);
    memset(td, 0, sizeof *td);
}

tt_err_t tt_train_data_build(struct tt_train_data *td,
                             const struct tt_dataset *ds,
                             const struct tt_split *split, char *errstr,
                             size_t errstr_size)
{
    size_t n = split->train_end;
    uint8_t *seen = NULL;

    memset(td, 0, sizeof *td);
    if (n == 0 || n > ds->n)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "no training interactions (train_end %zu of %zu)", n,
                       ds->n);
    td->n_users = tt_dataset_n_users(ds);
    td->n_items = tt_dataset_n_items(ds);
    td->off = calloc((size_t)td->n_users + 1, sizeof *td->off);
    td->items = malloc(n * sizeof *td->items);
    td->count = calloc((size_t)td->n_users + 1, sizeof *td->count);
    td->pool = malloc(((size_t)td->n_items + 1) * sizeof *td->pool);
    seen = calloc((size_t)td->n_items + 1, 1);
    if (!td->off || !td->items || !td->count || !td->pool || !seen) {
        free(seen);
        tt_train_data_release(td);
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "out of memory for %zu training interactions", n);
    }
    /* counting sort by user keeps each user's interactions in time order */
    for (size_t j = 0; j < n; j++)
        td->count[ds->user[j]]++;
    for (uint32_t u = 0; u < td->n_users; u++)
        td->off[u + 1] = td->off[u] + td->count[u];
    {
        uint64_t *fill = td->off; /* reuse: restore afterwards */

        for (size_t j = 0; j < n; j++)
            td->items[fill[ds->user[j]]++] = ds->item[j];
        for (uint32_t u = td->n_users; u > 0; u--)
            td->off[u] = td->off[u - 1];
        td->off[0] = 0;
    }
    for (size_t j = 0; j < n; j++)
        seen[ds->item[j]] = 1;
    for (uint32_t i = 0; i < td->n_items; i++)
        if (seen[i])
            td->pool[td->n_pool++] = i;
    free(seen);
    return TT_ERR_OK;
}
