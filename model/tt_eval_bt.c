#include "model/tt_eval_bt.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_time.h"
#include "model/tt_eval_base.h"
#include "model/tt_json.h"

static const char *const model_names[TT_BT__COUNT] = {
    [TT_BT_2TS] = "2ts",
    [TT_BT_2TS_PLUS] = "2ts-plus",
    [TT_BT_2TS_PAPER] = "2ts-paper",
    [TT_BT_2TS_PLUS_PAPER] = "2ts-plus-paper",
    [TT_BT_GRU] = "gru",
    [TT_BT_CCF] = "ccf",
    [TT_BT_SUMPOOL] = "sumpool",
    [TT_BT_POP] = "pop",
};

const char *tt_bt_model_name(enum tt_bt_model m)
{
    return (unsigned)m < TT_BT__COUNT ? model_names[m] : "?";
}

tt_err_t tt_bt_parse_models(const char *list, uint32_t *mask, char *errstr,
                            size_t errstr_size)
{
    const char *p = list;

    *mask = 0;
    while (*p) {
        size_t len = strcspn(p, ",");
        bool found = false;

        if (len == 3 && !strncmp(p, "all", 3)) {
            *mask |= (1u << TT_BT__COUNT) - 1;
            found = true;
        }
        for (int m = 0; m < TT_BT__COUNT && !found; m++)
            if (strlen(model_names[m]) == len &&
                !strncmp(p, model_names[m], len)) {
                *mask |= 1u << m;
                found = true;
            }
        if (!found)
            return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                           "unknown model '%.*s' (2ts, 2ts-plus, "
                           "2ts-paper, 2ts-plus-paper, gru, ccf, sumpool, "
                           "pop, all)",
                           (int)len, p);
        p += len;
        if (*p == ',')
            p++;
    }
    if (!*mask)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size, "no model named");
    return TT_ERR_OK;
}

tt_err_t tt_bt_parse_grid(const char *list, uint32_t lo, uint32_t *out,
                          uint32_t cap, uint32_t *n, char *errstr,
                          size_t errstr_size)
{
    const char *p = list;

    *n = 0;
    while (*p) {
        char *end;
        long long v;

        errno = 0;
        v = strtoll(p, &end, 10);
        if (end == p || errno || v < (long long)lo || v > 100000000 ||
            (*end && *end != ','))
            return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                           "bad grid value in '%s' (integers >= %u, comma "
                           "separated)",
                           list, lo);
        if (*n >= cap)
            return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                           "at most %u grid values", cap);
        out[(*n)++] = (uint32_t)v;
        p = *end ? end + 1 : end;
    }
    if (*n == 0)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size, "empty grid");
    return TT_ERR_OK;
}

/* ------------------------------------------------------------- training */

/* Wraps tt_eval_validate to record the MRR of each epoch against stage 2
 * time, without the time validation itself takes. */
struct vrec {
    tt_eval_t *valid;
    uint64_t t0;
    double excluded;
    struct tt_bt_model_result *mr; /* NULL: do not record */
    uint32_t tstar; /* epochs are validated at this t*; other values are
                       auto_tstar's choice after training, not epochs */
};

static double validate_rec(void *ctx, const tt_model_t *m)
{
    struct vrec *v = ctx;
    uint64_t a = tt_time_mono_ns();
    double mrr = tt_eval_validate(v->valid, m), at;
    uint64_t b = tt_time_mono_ns();
    struct tt_model_info info;

    tt_model_get_info(m, &info);
    at = tt_time_secs(v->t0, a) - v->excluded;
    v->excluded += tt_time_secs(a, b);
    if (v->mr && v->mr->n_curve < TT_BT_CURVE_MAX &&
        (info.gru_all || info.tstar == v->tstar)) {
        struct tt_bt_point *pt = &v->mr->curve[v->mr->n_curve++];

        pt->epoch = v->mr->n_curve;
        pt->seconds = at;
        pt->valid_mrr = mrr;
    }
    return mrr;
}

struct prog {
    tt_log_t *log;
    const char *name;
};

static void progress(void *ctx, const struct tt_train_progress *p)
{
    const struct prog *pc = ctx;

    /* One line per epoch: stage 2 reports the epoch's end again with the
     * validation MRR, so only that one is logged. */
    if (p->stage == 2 ? p->valid_mrr < 0 : p->fraction < 1.0)
        return;
    if (p->valid_mrr >= 0)
        tt_log_info(pc->log, "backtest",
                    "%s: stage %d epoch %u/%u loss %.4f valid MRR %.4f",
                    pc->name, p->stage, p->epoch, p->epochs, p->loss,
                    p->valid_mrr);
    else
        tt_log_info(pc->log, "backtest", "%s: stage %d epoch %u/%u loss %.4f",
                    pc->name, p->stage, p->epoch, p->epochs, p->loss);
}

static tt_err_t train_stage2(const struct tt_dataset *ds,
                             const struct tt_split *split,
                             const struct tt_stage1 *s1,
                             const struct tt_train_opts *to, tt_eval_t *valid,
                             struct tt_bt_model_result *mr, const char *name,
                             tt_log_t *log, tt_model_t **out, double *secs,
                             char *errstr, size_t errstr_size)
{
    struct vrec v = {.valid = valid, .t0 = tt_time_mono_ns(), .mr = mr,
                     .tstar = to->tstar};
    struct prog pc = {.log = log, .name = name};

    if (mr)
        mr->n_curve = 0;
    return tt_stage2_train(ds, split, s1, to, 1, validate_rec, &v, progress,
                           &pc, out, secs, errstr, errstr_size);
}

/* The training options of one model. */
static struct tt_train_opts model_opts(const struct tt_bt_opts *o,
                                       uint32_t tstar, uint32_t k,
                                       enum tt_bt_model m)
{
    struct tt_train_opts t = o->train;

    t.tstar = tstar;
    t.k = k;
    t.plus = m == TT_BT_2TS_PLUS || m == TT_BT_2TS_PLUS_PAPER;
    if (m == TT_BT_2TS_PAPER || m == TT_BT_2TS_PLUS_PAPER) {
        /* stage 2 as the paper writes it: the inactive cell on inactive
         * users only, t* as configured */
        t.inactive_all_users = false;
        t.auto_tstar = false;
    }
    t.mode = m == TT_BT_GRU ? TT_MODE_GRU_ALL : TT_MODE_2TS;
    return t;
}

static tt_err_t tune(const struct tt_dataset *ds, const struct tt_bt_opts *o,
                     const struct tt_stage1 *s1, tt_eval_t *valid,
                     tt_log_t *log, struct tt_bt_result *res,
                     tt_model_t **best, char *errstr, size_t errstr_size)
{
    /* Each pair's curve goes to `cur`; the best one's is kept as 2TS's,
     * since 2TS reuses the best model instead of training it again. */
    struct tt_bt_model_result *cur = calloc(1, sizeof(*cur));
    struct tt_bt_model_result *keep = &res->model[TT_BT_2TS];
    double best_mrr = -1;
    tt_err_t err = TT_ERR_OK;

    if (!cur)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    res->n_grid = 0;
    for (uint32_t i = 0; i < o->n_tstar_grid; i++) {
        uint32_t t = o->tstar_grid[i];
        uint32_t nk = o->n_k_grid ? o->n_k_grid : 1;

        for (uint32_t j = 0; j < nk; j++) {
            uint32_t k = o->n_k_grid ? o->k_grid[j] : o->train.k;
            struct tt_train_opts to;
            struct tt_bt_grid_point *g;
            tt_model_t *m = NULL;
            struct tt_model_info info;
            char name[48];

            if (k > t) {
                if (o->n_k_grid)
                    continue;
                k = t;
            }
            to = model_opts(o, t, k, TT_BT_2TS);
            to.auto_tstar = false; /* the grid chooses */
            snprintf(name, sizeof name, "tune t*=%u K=%u", t, k);
            g = &res->grid[res->n_grid++];
            g->tstar = t;
            g->k = k;
            err = train_stage2(ds, &res->split, s1, &to, valid, cur, name,
                               log, &m, &g->seconds, errstr, errstr_size);
            if (err)
                goto out;
            g->valid_mrr = tt_eval_validate(valid, m);
            tt_model_get_info(m, &info);
            g->n_active = info.n_active;
            tt_log_info(log, "backtest", "%s: valid MRR %.4f (%u active)",
                        name, g->valid_mrr, g->n_active);
            if (g->valid_mrr > best_mrr) {
                best_mrr = g->valid_mrr;
                res->best_grid = (int)(g - res->grid);
                tt_model_destroy(*best);
                *best = m;
                keep->n_curve = cur->n_curve;
                memcpy(keep->curve, cur->curve,
                       cur->n_curve * sizeof(*cur->curve));
            } else {
                tt_model_destroy(m);
            }
        }
    }
    if (res->best_grid < 0)
        err = tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                      "the grid has no pair with K <= t*");
out:
    free(cur);
    return err;
}

static void data_stats(const struct tt_dataset *ds, const tt_eval_t *test,
                       struct tt_bt_result *res)
{
    uint32_t n_users = tt_dataset_n_users(ds), n_items = tt_dataset_n_items(ds);
    uint8_t *seen = calloc(n_users ? n_users : 1, 1);

    res->n = ds->n;
    res->n_users = n_users;
    res->n_items = n_items;
    res->train_items = tt_eval_pool_size(test);
    res->first_ts_ms = ds->n ? ds->ts[0] : 0;
    res->last_ts_ms = ds->n ? ds->ts[ds->n - 1] : 0;
    res->cutoff_ts_ms = res->split.train_end ? ds->ts[res->split.train_end - 1]
                                             : 0;
    for (uint32_t u = 0; u < n_users; u++) {
        uint32_t tc = tt_eval_train_count(test, u);

        res->train_users += tc > 0;
        res->active_users += tc > res->tstar;
    }
    res->test_scored = tt_eval_n_scored(test);
    for (size_t p = res->split.valid_end; p < ds->n; p++) {
        uint32_t u = ds->user[p];
        bool fresh = tt_eval_train_count(test, u) == 0;

        if (!tt_eval_is_scored(test, p))
            continue;
        res->test_new_user_n += fresh;
        res->test_unknown_item_n += !tt_eval_item_in_train(test, ds->item[p]);
        if (seen && !seen[u]) {
            seen[u] = 1;
            res->test_users++;
            res->test_new_users += fresh;
        }
    }
    free(seen);
}

static tt_err_t eval_model(const tt_eval_t *test, tt_eval_t *valid,
                           const struct tt_eval_scorer *sc,
                           struct tt_bt_model_result *mr, char *errstr,
                           size_t errstr_size)
{
    struct tt_eval_result vr;
    struct tt_eval_scorer vsc = *sc;
    tt_err_t err;

    vsc.state = NULL;
    err = tt_eval_run(valid, &vsc, &vr, errstr, errstr_size);
    if (err)
        return err;
    mr->valid_mrr = vr.mrr;
    err = tt_eval_run(test, sc, &mr->test, errstr, errstr_size);
    if (err)
        return err;
    mr->done = true;
    return TT_ERR_OK;
}

static bool needs_stage1(uint32_t models)
{
    return (models & ~(1u << TT_BT_POP)) != 0;
}

tt_err_t tt_bt_run(const struct tt_dataset *ds, const struct tt_bt_opts *o,
                   tt_log_t *log, struct tt_bt_result *res, char *errstr,
                   size_t errstr_size)
{
    struct tt_eval_opts vo = o->eval, to = o->eval;
    struct tt_stage1 s1;
    struct prog pc = {.log = log, .name = "stage 1"};
    tt_eval_t *valid = NULL, *test = NULL;
    tt_model_t *tuned = NULL;
    uint64_t t0 = tt_time_mono_ns();
    bool have_s1 = false;
    tt_err_t err;

    memset(res, 0, sizeof(*res));
    memset(&s1, 0, sizeof(s1));
    res->best_grid = -1;
    res->tstar = o->train.tstar;
    res->k = o->train.k;
    err = tt_split_compute(ds, o->train_frac, o->valid_frac, &res->split);
    if (err || res->split.train_end == 0 ||
        res->split.valid_end <= res->split.train_end ||
        res->split.valid_end >= ds->n)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "cannot split %zu interactions %.2f/%.2f into three "
                       "non-empty parts",
                       ds->n, o->train_frac, o->valid_frac);
    vo.max_scored = o->valid_sample;
    vo.tstar = o->train.tstar;
    err = tt_eval_new(&valid, ds, &res->split, res->split.train_end,
                      res->split.valid_end, &vo, errstr, errstr_size);
    if (err)
        goto out;
    res->valid_scored = tt_eval_n_scored(valid);
    tt_log_info(log, "backtest",
                "%zu interactions, %u users, %u items; train %zu, valid %zu "
                "(%zu scored for validation), test %zu",
                ds->n, tt_dataset_n_users(ds), tt_dataset_n_items(ds),
                res->split.train_end,
                res->split.valid_end - res->split.train_end,
                res->valid_scored, ds->n - res->split.valid_end);

    if (needs_stage1(o->models) || o->n_tstar_grid) {
        tt_log_info(log, "backtest", "stage 1 (shared by all models)");
        err = tt_stage1_train(ds, &res->split, &o->train, progress, &pc, &s1,
                              errstr, errstr_size);
        if (err)
            goto out;
        have_s1 = true;
        res->stage1_seconds = s1.seconds;
        tt_log_info(log, "backtest", "stage 1 done in %.1f s", s1.seconds);
    }
    if (o->n_tstar_grid) {
        err = tune(ds, o, &s1, valid, log, res, &tuned, errstr, errstr_size);
        if (err)
            goto out;
        res->tstar = res->grid[res->best_grid].tstar;
        res->k = res->grid[res->best_grid].k;
        tt_log_info(log, "backtest", "tuned on validation: t* = %u, K = %u",
                    res->tstar, res->k);
        /* Buckets and groups of the validation handle follow t*. */
        tt_eval_destroy(valid);
        vo.tstar = res->tstar;
        err = tt_eval_new(&valid, ds, &res->split, res->split.train_end,
                          res->split.valid_end, &vo, errstr, errstr_size);
        if (err)
            goto out;
    }
    to.tstar = res->tstar;
    err = tt_eval_new(&test, ds, &res->split, res->split.valid_end, ds->n, &to,
                      errstr, errstr_size);
    if (err)
        goto out;
    data_stats(ds, test, res);

    for (int mi = 0; mi < TT_BT__COUNT; mi++) {
        struct tt_bt_model_result *mr = &res->model[mi];
        const char *name = model_names[mi];

        if (!(o->models & (1u << mi)))
            continue;
        if (mi == TT_BT_CCF || mi == TT_BT_SUMPOOL || mi == TT_BT_POP) {
            struct tt_eval_base b;

            err = tt_eval_base_init(&b,
                                    mi == TT_BT_CCF       ? TT_BASE_CCF
                                    : mi == TT_BT_SUMPOOL ? TT_BASE_SUMPOOL
                                                          : TT_BASE_POP,
                                    test, have_s1 ? &s1 : NULL);
            if (err) {
                tt_errf(err, errstr, errstr_size, "%s: %s", name,
                        tt_err_str(err));
                goto out;
            }
            mr->stage1_seconds = mi == TT_BT_POP ? 0 : res->stage1_seconds;
            err = eval_model(test, valid, &b.sc, mr, errstr, errstr_size);
            tt_eval_base_release(&b);
        } else {
            struct tt_train_opts tro = model_opts(o, res->tstar, res->k, mi);
            struct tt_eval_model_scorer ms;
            tt_model_t *m = NULL;

            mr->stage1_seconds = res->stage1_seconds;
            if (mi == TT_BT_2TS && tuned) {
                /* the grid already trained this one, identically */
                const struct tt_bt_grid_point *g = &res->grid[res->best_grid];

                m = tuned;
                tuned = NULL;
                mr->stage2_seconds = g->seconds;
            } else {
                tt_log_info(log, "backtest", "%s: stage 2", name);
                err = train_stage2(ds, &res->split, &s1, &tro, valid, mr,
                                   name, log, &m, &mr->stage2_seconds, errstr,
                                   errstr_size);
                if (err)
                    goto out;
            }
            if (mi != TT_BT_GRU) {
                struct tt_model_info info;

                tt_model_get_info(m, &info);
                mr->tstar = info.tstar;
            }
            err = tt_eval_model_init(&ms, test, m, name);
            if (!err)
                err = eval_model(test, valid, &ms.sc, mr, errstr, errstr_size);
            else
                tt_errf(err, errstr, errstr_size, "%s: %s", name,
                        tt_err_str(err));
            tt_eval_model_release(&ms);
            tt_model_destroy(m);
        }
        if (err)
            goto out;
        tt_log_info(log, "backtest",
                    "%s: test MRR %.4f Recall@10 %.4f (valid MRR %.4f; "
                    "scored in %.1f s)",
                    name, mr->test.mrr, mr->test.recall, mr->valid_mrr,
                    mr->test.seconds);
    }
    res->seconds = tt_time_secs(t0, tt_time_mono_ns());
out:
    tt_model_destroy(tuned);
    if (have_s1)
        tt_stage1_release(&s1);
    tt_eval_destroy(valid);
    tt_eval_destroy(test);
    return err;
}

/* ---------------------------------------------------------------- output */

static const char *const group_names[2] = {"inactive", "active"};

void tt_bt_print(const struct tt_bt_result *res, const struct tt_bt_opts *o,
                 FILE *out)
{
    fprintf(out,
            "data: %zu interactions, %u users, %u items; split train %zu / "
            "valid %zu / test %zu\n",
            res->n, res->n_users, res->n_items, res->split.train_end,
            res->split.valid_end - res->split.train_end,
            res->n - res->split.valid_end);
    fprintf(out,
            "test: %zu scored, %u users (%u unseen in training); %.1f%% of "
            "scored interactions from unseen users, %.1f%% with items unseen "
            "in training\n",
            res->test_scored, res->test_users, res->test_new_users,
            res->test_scored ? 100.0 * (double)res->test_new_user_n /
                                   (double)res->test_scored
                             : 0.0,
            res->test_scored ? 100.0 * (double)res->test_unknown_item_n /
                                   (double)res->test_scored
                             : 0.0);
    fprintf(out,
            "t* = %u (%u active users), K = %u, d = %u, %u negatives "
            "(seed %llu)\n",
            res->tstar, res->active_users, res->k, o->train.dim,
            o->eval.negatives, (unsigned long long)o->eval.seed);
    fprintf(out,
            "2TS active users: %s (hop %u); stage 2: %u K-window(s) per "
            "active user, active z bias %g\n",
            !o->train.window          ? "phi_u at the cutoff + every later item"
            : tt_train_hop(&o->train) ? "phi_u + a hopping window of K events"
                                      : "phi_u + the last K items (window)",
            tt_train_hop(&o->train),
            o->train.active_windows ? o->train.active_windows : 1,
            o->train.active_z_bias);
    if (res->n_grid) {
        fprintf(out, "\ntuning on validation (%zu interactions):\n",
                res->valid_scored);
        fprintf(out, "  %8s %6s %10s %10s\n", "t*", "K", "valid MRR",
                "stage2 s");
        for (uint32_t i = 0; i < res->n_grid; i++)
            fprintf(out, "  %8u %6u %10.4f %10.1f%s\n", res->grid[i].tstar,
                    res->grid[i].k, res->grid[i].valid_mrr,
                    res->grid[i].seconds,
                    (int)i == res->best_grid ? "  <- best" : "");
    }
    fprintf(out, "\n%-13s %8s %8s %10s %10s %10s %8s %8s %9s %6s\n", "model",
            "MRR", "Rec@10", "inact MRR", "active MRR", "valid MRR",
            "stage1 s", "stage2 s", "unknown", "t*");
    for (int mi = 0; mi < TT_BT__COUNT; mi++) {
        const struct tt_bt_model_result *mr = &res->model[mi];

        if (!mr->done)
            continue;
        fprintf(out,
                "%-13s %8.4f %8.4f %10.4f %10.4f %10.4f %8.1f %8.1f %9llu",
                model_names[mi], mr->test.mrr, mr->test.recall,
                mr->test.group_mrr[0], mr->test.group_mrr[1], mr->valid_mrr,
                mr->stage1_seconds, mr->stage2_seconds,
                (unsigned long long)mr->test.n_unknown);
        if (mr->tstar)
            fprintf(out, " %6u\n", mr->tstar);
        else
            fprintf(out, " %6s\n", "-");
    }
}

static void json_bucket(struct tt_json *w, const struct tt_eval_bucket *b)
{
    tt_json_obj_begin(w);
    tt_json_key(w, "lo");
    tt_json_uint(w, b->lo);
    tt_json_key(w, "hi");
    if (b->hi == UINT32_MAX)
        tt_json_null(w);
    else
        tt_json_uint(w, b->hi);
    tt_json_key(w, "users");
    tt_json_uint(w, b->users);
    tt_json_key(w, "interactions");
    tt_json_uint(w, b->n);
    tt_json_key(w, "mrr");
    tt_json_double(w, b->mrr);
    tt_json_key(w, "recall_at_10");
    tt_json_double(w, b->recall);
    tt_json_obj_end(w);
}

static void json_change(struct tt_json *w, const struct tt_eval_result *r,
                        int g)
{
    tt_json_obj_begin(w);
    tt_json_key(w, "mean");
    tt_json_arr_begin(w);
    for (int k = 1; k <= TT_EVAL_STEPS_MAX; k++)
        tt_json_double(w, r->change_n[g][k] ? r->change_mean[g][k] : NAN);
    tt_json_arr_end(w);
    tt_json_key(w, "n");
    tt_json_arr_begin(w);
    for (int k = 1; k <= TT_EVAL_STEPS_MAX; k++)
        tt_json_uint(w, r->change_n[g][k]);
    tt_json_arr_end(w);
    tt_json_key(w, "later_mean");
    tt_json_double(w, r->change_n[g][TT_EVAL_STEPS_MAX + 1]
                          ? r->change_mean[g][TT_EVAL_STEPS_MAX + 1]
                          : NAN);
    tt_json_key(w, "later_n");
    tt_json_uint(w, r->change_n[g][TT_EVAL_STEPS_MAX + 1]);
    tt_json_obj_end(w);
}

static void json_model(struct tt_json *w, int mi,
                       const struct tt_bt_model_result *mr)
{
    const struct tt_eval_result *r = &mr->test;

    tt_json_obj_begin(w);
    tt_json_key(w, "name");
    tt_json_str(w, model_names[mi]);
    tt_json_key(w, "mrr");
    tt_json_double(w, r->mrr);
    tt_json_key(w, "recall_at_10");
    tt_json_double(w, r->recall);
    tt_json_key(w, "scored");
    tt_json_uint(w, r->n);
    tt_json_key(w, "max_candidates");
    tt_json_uint(w, r->n_candidates);
    tt_json_key(w, "unknown_item_interactions");
    tt_json_uint(w, r->n_unknown);
    tt_json_key(w, "new_user_interactions");
    tt_json_uint(w, r->n_new_user);
    tt_json_key(w, "state_updates");
    tt_json_uint(w, r->n_steps);
    tt_json_key(w, "skipped_updates");
    tt_json_uint(w, r->n_skipped_steps);
    tt_json_key(w, "valid_mrr");
    tt_json_double(w, mr->valid_mrr);
    tt_json_key(w, "tstar");
    if (mr->tstar)
        tt_json_uint(w, mr->tstar);
    else
        tt_json_null(w);
    tt_json_key(w, "seconds");
    tt_json_obj_begin(w);
    tt_json_key(w, "stage1");
    tt_json_num(w, mr->stage1_seconds);
    tt_json_key(w, "stage2");
    tt_json_num(w, mr->stage2_seconds);
    tt_json_key(w, "test_scoring");
    tt_json_num(w, r->seconds);
    tt_json_obj_end(w);
    tt_json_key(w, "groups");
    tt_json_obj_begin(w);
    for (int g = 0; g < 2; g++) {
        tt_json_key(w, group_names[g]);
        tt_json_obj_begin(w);
        tt_json_key(w, "interactions");
        tt_json_uint(w, r->group_n[g]);
        tt_json_key(w, "mrr");
        tt_json_double(w, r->group_mrr[g]);
        tt_json_key(w, "recall_at_10");
        tt_json_double(w, r->group_recall[g]);
        tt_json_obj_end(w);
    }
    tt_json_obj_end(w);
    tt_json_key(w, "buckets");
    tt_json_arr_begin(w);
    for (uint32_t b = 0; b < r->n_buckets; b++)
        json_bucket(w, &r->bucket[b]);
    tt_json_arr_end(w);
    tt_json_key(w, "embedding_change");
    tt_json_obj_begin(w);
    tt_json_key(w, "steps_max");
    tt_json_uint(w, TT_EVAL_STEPS_MAX);
    for (int g = 0; g < 2; g++) {
        tt_json_key(w, group_names[g]);
        json_change(w, r, g);
    }
    tt_json_obj_end(w);
    tt_json_key(w, "valid_curve");
    tt_json_arr_begin(w);
    for (uint32_t i = 0; i < mr->n_curve; i++) {
        tt_json_obj_begin(w);
        tt_json_key(w, "epoch");
        tt_json_uint(w, mr->curve[i].epoch);
        tt_json_key(w, "seconds");
        tt_json_num(w, mr->curve[i].seconds);
        tt_json_key(w, "total_seconds");
        tt_json_num(w, mr->curve[i].seconds + mr->stage1_seconds);
        tt_json_key(w, "valid_mrr");
        tt_json_double(w, mr->curve[i].valid_mrr);
        tt_json_obj_end(w);
    }
    tt_json_arr_end(w);
    tt_json_obj_end(w);
}

static void kv_uint(struct tt_json *w, const char *k, uint64_t v)
{
    tt_json_key(w, k);
    tt_json_uint(w, v);
}

static void kv_num(struct tt_json *w, const char *k, double v)
{
    tt_json_key(w, k);
    tt_json_double(w, v);
}

static void json_config(struct tt_json *w, const struct tt_bt_result *res,
                        const struct tt_bt_opts *o)
{
    const struct tt_train_opts *t = &o->train;

    tt_json_obj_begin(w);
    kv_uint(w, "tstar", res->tstar);
    kv_uint(w, "k", res->k);
    kv_uint(w, "dim", t->dim);
    tt_json_key(w, "features");
    tt_json_bool(w, t->features);
    kv_uint(w, "feature_dim", t->features ? t->feature_dim : 0);
    kv_uint(w, "train_seed", t->seed);
    kv_uint(w, "train_negatives", t->negatives);
    tt_json_key(w, "optimizer");
    tt_json_str(w, t->adam ? "adam" : "sgd");
    kv_uint(w, "epochs1", t->epochs1);
    kv_num(w, "lr1", t->lr1);
    kv_num(w, "l2", t->l2);
    kv_uint(w, "epochs2", t->epochs2);
    kv_num(w, "lr2", t->lr2);
    kv_uint(w, "batch", t->batch);
    kv_uint(w, "patience", t->patience);
    kv_num(w, "clip", t->clip);
    tt_json_key(w, "window");
    tt_json_bool(w, t->window);
    kv_uint(w, "window_hop", tt_train_hop(t));
    kv_uint(w, "active_windows", t->active_windows ? t->active_windows : 1);
    kv_num(w, "active_z_bias", t->active_z_bias);
    kv_uint(w, "threads", (uint64_t)t->threads);
    kv_num(w, "train_frac", o->train_frac);
    kv_num(w, "valid_frac", o->valid_frac);
    kv_uint(w, "eval_negatives", o->eval.negatives);
    kv_uint(w, "eval_seed", o->eval.seed);
    kv_uint(w, "max_test", o->eval.max_scored);
    kv_uint(w, "valid_sample", o->valid_sample);
    tt_json_key(w, "candidates");
    tt_json_str(w, "true item + negatives drawn uniformly without "
                   "replacement from the items seen in training, never the "
                   "true item; the same for every model");
    tt_json_key(w, "ties");
    tt_json_str(w, "pessimistic");
    tt_json_obj_end(w);
}

tt_err_t tt_bt_write_json(const struct tt_bt_result *res,
                          const struct tt_bt_opts *o, const char *input,
                          FILE *out)
{
    struct tt_json w;

    tt_json_init(&w, out, 2);
    tt_json_obj_begin(&w);
    kv_uint(&w, "format", 1);
    tt_json_key(&w, "input");
    tt_json_str(&w, input);
    tt_json_key(&w, "dataset");
    tt_json_obj_begin(&w);
    kv_uint(&w, "interactions", res->n);
    kv_uint(&w, "users", res->n_users);
    kv_uint(&w, "items", res->n_items);
    kv_uint(&w, "train", res->split.train_end);
    kv_uint(&w, "valid", res->split.valid_end - res->split.train_end);
    kv_uint(&w, "test", res->n - res->split.valid_end);
    kv_uint(&w, "train_users", res->train_users);
    kv_uint(&w, "train_items", res->train_items);
    kv_uint(&w, "active_users", res->active_users);
    tt_json_key(&w, "first_ts_ms");
    tt_json_int(&w, res->first_ts_ms);
    tt_json_key(&w, "cutoff_ts_ms");
    tt_json_int(&w, res->cutoff_ts_ms);
    tt_json_key(&w, "last_ts_ms");
    tt_json_int(&w, res->last_ts_ms);
    tt_json_obj_end(&w);
    tt_json_key(&w, "test");
    tt_json_obj_begin(&w);
    kv_uint(&w, "scored", res->test_scored);
    kv_uint(&w, "users", res->test_users);
    kv_uint(&w, "new_users", res->test_new_users);
    kv_uint(&w, "new_user_interactions", res->test_new_user_n);
    kv_num(&w, "new_user_share",
           res->test_scored ? (double)res->test_new_user_n /
                                  (double)res->test_scored
                            : 0.0);
    kv_uint(&w, "unknown_item_interactions", res->test_unknown_item_n);
    tt_json_obj_end(&w);
    tt_json_key(&w, "valid_scored");
    tt_json_uint(&w, res->valid_scored);
    tt_json_key(&w, "config");
    json_config(&w, res, o);
    tt_json_key(&w, "tuning");
    if (!res->n_grid) {
        tt_json_null(&w);
    } else {
        tt_json_obj_begin(&w);
        tt_json_key(&w, "grid");
        tt_json_arr_begin(&w);
        for (uint32_t i = 0; i < res->n_grid; i++) {
            tt_json_obj_begin(&w);
            kv_uint(&w, "tstar", res->grid[i].tstar);
            kv_uint(&w, "k", res->grid[i].k);
            kv_uint(&w, "active_users", res->grid[i].n_active);
            kv_num(&w, "valid_mrr", res->grid[i].valid_mrr);
            tt_json_key(&w, "stage2_seconds");
            tt_json_num(&w, res->grid[i].seconds);
            tt_json_obj_end(&w);
        }
        tt_json_arr_end(&w);
        kv_uint(&w, "best_tstar", res->tstar);
        kv_uint(&w, "best_k", res->k);
        tt_json_obj_end(&w);
    }
    tt_json_key(&w, "stage1_seconds");
    tt_json_num(&w, res->stage1_seconds);
    tt_json_key(&w, "seconds");
    tt_json_num(&w, res->seconds);
    tt_json_key(&w, "models");
    tt_json_arr_begin(&w);
    for (int mi = 0; mi < TT_BT__COUNT; mi++)
        if (res->model[mi].done)
            json_model(&w, mi, &res->model[mi]);
    tt_json_arr_end(&w);
    tt_json_obj_end(&w);
    return tt_json_finish(&w);
}
