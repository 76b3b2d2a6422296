#include "model/tt_score.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RR_ONE (UINT64_C(1) << 32)
#define CH_BINS (TT_EVAL_STEPS_MAX + 2)

uint64_t tt_score_rr(uint32_t rank)
{
    /* tt_eval.c's rr_fixed: rounded 2^32 / rank */
    return (RR_ONE + rank / 2) / rank;
}

double tt_score_mrr(uint64_t rr, uint64_t n)
{
    return n ? (double)rr / (double)RR_ONE / (double)n : 0.0;
}

tt_err_t tt_score_init(struct tt_score *s, const tt_eval_t *ev)
{
    uint32_t negs = tt_eval_opts(ev)->negatives;
    uint32_t n_users = tt_dataset_n_users(tt_eval_dataset(ev));

    memset(s, 0, sizeof(*s));
    s->ev = ev;
    s->neg = malloc(((size_t)negs + 1) * sizeof(*s->neg));
    s->s_neg = malloc(((size_t)negs + 1) * sizeof(*s->s_neg));
    s->user_seen = calloc(n_users ? n_users : 1, 1);
    if (!s->neg || !s->s_neg || !s->user_seen) {
        tt_score_release(s);
        return TT_ERR_NOMEM;
    }
    return TT_ERR_OK;
}

void tt_score_release(struct tt_score *s)
{
    free(s->neg);
    free(s->s_neg);
    free(s->user_seen);
    s->neg = NULL;
    s->s_neg = NULL;
    s->user_seen = NULL;
}

const float **tt_score_item_table(const struct tt_dataset *ds,
                                  const tt_model_t *m)
{
    uint32_t n_items = tt_dataset_n_items(ds);
    const float **t = malloc((n_items ? n_items : 1) * sizeof(*t));

    if (!t)
        return NULL;
    for (uint32_t i = 0; i < n_items; i++)
        t[i] = tt_model_item(m, tt_ids_id(ds->items, i));
    return t;
}

/* Candidates of position p besides the true item: the harness's n_neg. */
static uint32_t n_negatives(const tt_eval_t *ev, uint32_t item)
{
    uint32_t pool = tt_eval_pool_size(ev) - tt_eval_item_in_train(ev, item);
    uint32_t negs = tt_eval_opts(ev)->negatives;

    return pool < negs ? pool : negs;
}

uint32_t tt_score_add(struct tt_score *s, size_t p, const tt_model_t *m,
                      const float *const *items, const float *q, int group)
{
    const tt_eval_t *ev = s->ev;
    const struct tt_dataset *ds = tt_eval_dataset(ev);
    uint32_t item = ds->item[p], u = ds->user[p];
    uint32_t negs = tt_eval_opts(ev)->negatives;
    const float *xt = items[item];
    uint32_t tc = tt_eval_train_count(ev, u), rank, k;
    struct tt_eval_bucket b[TT_EVAL_BUCKETS_MAX];
    uint32_t nb = tt_eval_buckets(tt_eval_opts(ev)->tstar, b);
    uint32_t bucket = tt_eval_bucket_of(b, nb, tc);
    uint64_t rr;

    group = group ? 1 : 0;
    if (!xt) {
        /* No vector for the true item: the worst rank, still counted. */
        rank = n_negatives(ev, item) + 1;
        s->unknown++;
    } else {
        float s_true = tt_model_score(m, q, xt);

        k = tt_eval_negatives_of(ev, p, s->neg, negs + 1);
        for (uint32_t i = 0; i < k; i++) {
            const float *xn = items[s->neg[i]];

            s->s_neg[i] = xn ? tt_model_score(m, q, xn) : -INFINITY;
        }
        rank = tt_eval_rank(s_true, s->s_neg, k);
    }
    rr = tt_score_rr(rank);
    if (rank > s->max_cand)
        s->max_cand = rank;
    s->n++;
    s->rr += rr;
    s->hits += rank <= TT_EVAL_RECALL_AT;
    s->b_n[bucket]++;
    s->b_rr[bucket] += rr;
    s->b_hits[bucket] += rank <= TT_EVAL_RECALL_AT;
    if (!s->user_seen[u]) {
        s->user_seen[u] = 1;
        s->b_users[bucket]++;
    }
    s->g_n[group]++;
    s->g_rr[group] += rr;
    s->g_hits[group] += rank <= TT_EVAL_RECALL_AT;
    s->new_user += tc == 0;
    return rank;
}

void tt_score_count_step(struct tt_score *s, bool stepped)
{
    if (stepped)
        s->steps++;
    else
        s->skipped++;
}

void tt_score_change(struct tt_score *s, int group, uint32_t step,
                     const float *a, const float *b, uint32_t dim)
{
    uint32_t bin = step <= TT_EVAL_STEPS_MAX ? step : CH_BINS - 1;
    double ss = 0;

    /* the harness's sum: doubles in index order */
    for (uint32_t d = 0; d < dim; d++) {
        double diff = (double)b[d] - (double)a[d];

        ss += diff * diff;
    }
    group = group ? 1 : 0;
    s->ch_sum[group][bin] += sqrt(ss);
    s->ch_n[group][bin]++;
}

static double ratio(uint64_t num, uint64_t den)
{
    return den ? (double)num / (double)den : 0.0;
}

void tt_score_result(const struct tt_score *s, struct tt_eval_result *res)
{
    memset(res, 0, sizeof(*res));
    res->n = s->n;
    res->mrr = tt_score_mrr(s->rr, s->n);
    res->recall = ratio(s->hits, s->n);
    res->n_candidates = s->max_cand;
    res->n_unknown = s->unknown;
    res->n_new_user = s->new_user;
    res->n_steps = s->steps;
    res->n_skipped_steps = s->skipped;
    res->n_buckets = tt_eval_buckets(tt_eval_opts(s->ev)->tstar, res->bucket);
    for (uint32_t b = 0; b < res->n_buckets; b++) {
        res->bucket[b].n = s->b_n[b];
        res->bucket[b].users = s->b_users[b];
        res->bucket[b].mrr = tt_score_mrr(s->b_rr[b], s->b_n[b]);
        res->bucket[b].recall = ratio(s->b_hits[b], s->b_n[b]);
    }
    for (int g = 0; g < 2; g++) {
        res->group_n[g] = s->g_n[g];
        res->group_mrr[g] = tt_score_mrr(s->g_rr[g], s->g_n[g]);
        res->group_recall[g] = ratio(s->g_hits[g], s->g_n[g]);
        for (int k = 0; k < CH_BINS; k++) {
            res->change_n[g][k] = s->ch_n[g][k];
            res->change_mean[g][k] =
                s->ch_n[g][k] ? s->ch_sum[g][k] / (double)s->ch_n[g][k] : 0.0;
        }
    }
}

tt_err_t tt_score_bt_stats(const struct tt_dataset *ds, const tt_eval_t *test,
                           struct tt_bt_result *res)
{
    uint32_t n_users = tt_dataset_n_users(ds);
    uint8_t *seen = calloc(n_users ? n_users : 1, 1);

    if (!seen)
        return TT_ERR_NOMEM;
    res->n = ds->n;
    res->n_users = n_users;
    res->n_items = tt_dataset_n_items(ds);
    res->train_items = tt_eval_pool_size(test);
    res->first_ts_ms = ds->n ? ds->ts[0] : 0;
    res->last_ts_ms = ds->n ? ds->ts[ds->n - 1] : 0;
    res->cutoff_ts_ms =
        res->split.train_end ? ds->ts[res->split.train_end - 1] : 0;
    res->train_users = 0;
    res->active_users = 0;
    for (uint32_t u = 0; u < n_users; u++) {
        uint32_t tc = tt_eval_train_count(test, u);

        res->train_users += tc > 0;
        res->active_users += tc > res->tstar;
    }
    res->test_scored = tt_eval_n_scored(test);
    res->test_users = res->test_new_users = 0;
    res->test_new_user_n = res->test_unknown_item_n = 0;
    for (size_t p = res->split.valid_end; p < ds->n; p++) {
        uint32_t u = ds->user[p];
        bool fresh = tt_eval_train_count(test, u) == 0;

        if (!tt_eval_is_scored(test, p))
            continue;
        res->test_new_user_n += fresh;
        res->test_unknown_item_n += !tt_eval_item_in_train(test, ds->item[p]);
        if (!seen[u]) {
            seen[u] = 1;
            res->test_users++;
            res->test_new_users += fresh;
        }
    }
    free(seen);
    return TT_ERR_OK;
}
