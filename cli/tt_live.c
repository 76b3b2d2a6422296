/*
 * tt_live: the live backtest (see tt_live.h): pairing of embeddings with
 * interactions, scoring with model/tt_score.  Reading the topics is
 * tt_live_read.c, the report tt_live_report.c.
 */
#include "cli/tt_live_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/tt_time.h"
#include "model/tt_score.h"

/* --------------------------------------------------------------- scoring */

static struct tt_live_version *version_stats(struct tt_live_stats *st,
                                             const struct tt_live_model *lm)
{
    uint32_t i;

    for (i = 0; i < st->n_versions; i++)
        if (st->v[i].version == lm->version)
            return &st->v[i];
    if (st->n_versions == TT_LIVE_VERSIONS_MAX)
        return NULL;
    /* keep increasing version order */
    for (i = st->n_versions; i > 0 && st->v[i - 1].version > lm->version; i--)
        st->v[i] = st->v[i - 1];
    memset(&st->v[i], 0, sizeof(st->v[i]));
    st->v[i].version = lm->version;
    st->v[i].from_topic = lm->from_topic;
    st->n_versions++;
    return &st->v[i];
}

/* Per-user step counting for the change statistics, as the harness counts:
 * steps with a known item since the state's start (inactive: the user's
 * first event; active: the training cutoff), under one version. */
struct ustep {
    uint64_t version;
    uint32_t all, cut;
    size_t upto;                /* counted over positions < upto */
    bool valid;
};

static uint32_t step_index(const struct tt_dataset *ds,
                           size_t train_end, struct ustep *us,
                           const size_t *next_of, const size_t *first_of,
                           uint32_t u, size_t p, const struct tt_live_model *lm,
                           bool active)
{
    size_t j;

    if (!us->valid || us->version != lm->version) {
        us->valid = true;
        us->version = lm->version;
        us->all = us->cut = 0;
        us->upto = first_of[u];
    }
    /* positions of u from upto through p, walked by next_of */
    for (j = us->upto; j != TT_LIVE_NO_POS && j <= p; j = next_of[j]) {
        if (lm->items[ds->item[j]]) {
            us->all++;
            us->cut += j >= train_end;
        }
        us->upto = next_of[j];
    }
    return active ? us->cut : us->all;
}

static tt_err_t score_all(struct tt_live_ctx *L, const struct tt_dataset *ds,
                          const tt_eval_t *ev, const struct tt_split *split,
                          struct tt_score *sc, char *errstr,
                          size_t errstr_size)
{
    uint32_t n_users = tt_dataset_n_users(ds);
    size_t *prev = malloc(ds->n * sizeof(*prev));
    size_t *next_of = malloc(ds->n * sizeof(*next_of));
    size_t *first_of = malloc((n_users ? n_users : 1) * sizeof(*first_of));
    size_t *last = malloc((n_users ? n_users : 1) * sizeof(*last));
    struct ustep *us = calloc(n_users ? n_users : 1, sizeof(*us));
    float *q = malloc(TT_MODEL_DIM_MAX * sizeof(float));
    struct tt_user_run *run = malloc(sizeof(*run));
    tt_err_t err = TT_ERR_OK;

    if (!prev || !next_of || !first_of || !last || !us || !q || !run) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    for (uint32_t u = 0; u < n_users; u++)
        first_of[u] = last[u] = TT_LIVE_NO_POS;
    for (size_t p = 0; p < ds->n; p++) {
        uint32_t u = ds->user[p];

        prev[p] = last[u];
        next_of[p] = TT_LIVE_NO_POS;
        if (last[u] != TT_LIVE_NO_POS)
            next_of[last[u]] = p;
        else
            first_of[u] = p;
        last[u] = p;
    }
    for (size_t p = split->valid_end; p < ds->n; p++) {
        uint32_t u = ds->user[p], sp = L->slot[p];
        size_t pp = prev[p];
        uint32_t spp = pp == TT_LIVE_NO_POS ? TT_LIVE_NO_SLOT : L->slot[pp];
        bool have_p = sp != TT_LIVE_NO_SLOT && L->have[sp];
        const struct tt_live_model *lm = NULL, *lp;
        const float *before = NULL;
        int group = 0;

        /* the query in effect before p */
        if (pp == TT_LIVE_NO_POS) {
            if (have_p && (lm = tt_live_model_of(L, L->ver[sp])) != NULL) {
                tt_model_user_start(lm->m, tt_ids_id(ds->users, u), false,
                                    run);
                tt_model_user_query(lm->m, run, q);
                before = q;
            }
        } else if (spp != TT_LIVE_NO_SLOT && L->have[spp]) {
            lm = tt_live_model_of(L, L->ver[spp]);
            before = L->emb + (size_t)spp * L->dim;
            group = L->cell[spp];
        }
        if (tt_eval_is_scored(ev, p)) {
            bool have_before = pp == TT_LIVE_NO_POS
                                   ? have_p
                                   : spp != TT_LIVE_NO_SLOT && L->have[spp];

            if (!have_before) {
                L->st->missing_embedding++;
            } else if (!lm) {
                L->st->missing_model++;
            } else {
                struct tt_live_version *v = version_stats(L->st, lm);
                uint32_t rank = tt_score_add(sc, p, lm->m, lm->items, before,
                                             group);
                uint64_t rr = tt_score_rr(rank);
                bool hit = rank <= TT_EVAL_RECALL_AT;

                L->st->scored++;
                L->st->first_interactions += pp == TT_LIVE_NO_POS;
                L->st->after_swap += have_p && L->ver[sp] != lm->version;
                if (v) {
                    v->n++;
                    v->rr += rr;
                    v->hits += hit;
                    v->g_n[group]++;
                    v->g_rr[group] += rr;
                    v->g_hits[group] += hit;
                }
            }
        }
        /* the state change p caused, under the version that processed p */
        lp = have_p ? tt_live_model_of(L, L->ver[sp]) : lm;
        if (lp) {
            bool stepped = lp->items[ds->item[p]] != NULL;

            tt_score_count_step(sc, stepped);
            if (stepped && have_p && before && lm == lp) {
                int g = L->cell[sp];
                uint32_t step = step_index(ds, split->train_end, &us[u],
                                           next_of, first_of, u, p, lp,
                                           g == 1);

                if (step > 0)
                    tt_score_change(sc, g, step, before,
                                    L->emb + (size_t)sp * L->dim, L->dim);
            }
        }
    }
out:
    free(prev);
    free(next_of);
    free(first_of);
    free(last);
    free(us);
    free(q);
    free(run);
    return err;
}

/* ---------------------------------------------------------------- the run */

/* The test-slice handle of the backtest protocol for t* `tstar`. */
static tt_err_t eval_setup(const struct tt_dataset *ds,
                           const struct tt_bt_opts *bo, uint32_t tstar,
                           struct tt_split *split, tt_eval_t **ev,
                           char *errstr, size_t errstr_size)
{
    struct tt_eval_opts eo = bo->eval;

    if (tt_split_compute(ds, bo->train_frac, bo->valid_frac, split) !=
        TT_ERR_OK)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "cannot split %zu interactions %.2f/%.2f", ds->n,
                       bo->train_frac, bo->valid_frac);
    eo.tstar = tstar;
    if (eo.threads < 1)
        eo.threads = 1;
    return tt_eval_new(ev, ds, split, split->valid_end, ds->n, &eo, errstr,
                       errstr_size);
}

/* Fills the report's data figures and the one model slot. */
static tt_err_t fill_result(const struct tt_dataset *ds, const tt_eval_t *ev,
                            const struct tt_split *split,
                            const struct tt_model_info *info,
                            const struct tt_eval_result *er,
                            struct tt_bt_result *res)
{
    struct tt_bt_model_result *mr;

    memset(res, 0, sizeof(*res));
    res->split = *split;
    res->tstar = info->tstar;
    res->k = info->k;
    res->best_grid = -1;
    if (tt_score_bt_stats(ds, ev, res) != TT_ERR_OK)
        return TT_ERR_NOMEM;
    mr = &res->model[info->plus ? TT_BT_2TS_PLUS : TT_BT_2TS];
    mr->done = true;
    mr->tstar = info->tstar; /* the per-model t* of the report */
    mr->test = *er;
    return TT_ERR_OK;
}

static void live_release(struct tt_live_ctx *L)
{
    for (int i = 0; i < L->n_models; i++) {
        free(L->models[i].items);
        tt_model_destroy(L->models[i].m);
    }
    for (size_t i = 0; i < L->n_mrecs; i++)
        free(L->mrecs[i].value);
    free(L->mrecs);
    free(L->recs);
    free(L->by_off);
    free(L->slot);
    free(L->emb);
    free(L->ver);
    free(L->cell);
    free(L->have);
    free(L->buf);
    tt_senc_destroy(L->codec);
}

/* Slots for the positions whose embedding is used: the test slice, and
 * each user's last interaction before it. */
static tt_err_t plan_slots(struct tt_live_ctx *L, const struct tt_dataset *ds,
                           size_t begin, char *errstr, size_t errstr_size)
{
    uint32_t n_users = tt_dataset_n_users(ds);
    size_t *last = malloc((n_users ? n_users : 1) * sizeof(*last));

    L->slot = malloc((ds->n ? ds->n : 1) * sizeof(*L->slot));
    if (!last || !L->slot) {
        free(last);
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    for (uint32_t u = 0; u < n_users; u++)
        last[u] = TT_LIVE_NO_POS;
    for (size_t p = 0; p < ds->n; p++) {
        L->slot[p] = TT_LIVE_NO_SLOT;
        if (p < begin)
            last[ds->user[p]] = p;
    }
    for (uint32_t u = 0; u < n_users; u++)
        if (last[u] != TT_LIVE_NO_POS)
            L->slot[last[u]] = 0;
    for (size_t p = 0; p < ds->n; p++)
        if (p >= begin || L->slot[p] == 0)
            L->slot[p] = L->n_slots++;
    free(last);
    L->emb = malloc(((size_t)L->n_slots * L->dim + 1) * sizeof(float));
    L->ver = calloc((size_t)L->n_slots + 1, sizeof(*L->ver));
    L->cell = calloc((size_t)L->n_slots + 1, 1);
    L->have = calloc((size_t)L->n_slots + 1, 1);
    if (!L->emb || !L->ver || !L->cell || !L->have)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "out of memory (%u embeddings of %u floats)",
                       L->n_slots, L->dim);
    return TT_ERR_OK;
}

tt_err_t tt_live_run(const struct tt_conf *conf, const struct tt_live_opts *lo,
                     const struct tt_bt_opts *bo, tt_log_t *log,
                     struct tt_bt_result *res, struct tt_live_stats *st,
                     char *errstr, size_t errstr_size)
{
    struct tt_live_ctx L;
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_score sc;
    struct tt_eval_result er;
    tt_eval_t *ev = NULL;
    uint64_t t0 = tt_time_mono_ns(), t1;
    const struct tt_live_model *first;
    tt_err_t err;

    memset(&L, 0, sizeof(L));
    memset(&sc, 0, sizeof(sc));
    memset(st, 0, sizeof(*st));
    L.lo = lo;
    L.st = st;
    err = tt_dataset_init(&ds);
    if (err)
        return tt_errf(err, errstr, errstr_size, "out of memory");
    err = tt_senc_new(&L.codec, errstr, errstr_size);
    if (err)
        goto out;
    L.buf = malloc(TT_MODEL_DIM_MAX * sizeof(float));
    if (!L.buf) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }

    /* the models */
    for (int i = 0; i < lo->n_model_files; i++) {
        tt_model_t *m = NULL;

        err = tt_model_load(&m, lo->model_files[i], errstr, errstr_size);
        if (!err)
            err = tt_live_add_model(&L, &m, false, errstr, errstr_size);
        tt_model_destroy(m);
        if (err)
            goto out;
    }
    if (lo->model_topic) {
        err = tt_live_read_models(&L, &conf->kafka, errstr, errstr_size);
        if (err)
            goto out;
    }
    if (L.n_models == 0) {
        err = tt_errf(TT_ERR_NOTFOUND, errstr, errstr_size,
                      "no model version: give --model FILE or publish one "
                      "to %s",
                      lo->model_topic ? lo->model_topic : "the model topic");
        goto out;
    }
    first = &L.models[0];
    for (int i = 1; i < L.n_models; i++)
        if (L.models[i].version < first->version)
            first = &L.models[i];
    L.dim = first->info.dim;
    for (int i = 0; i < L.n_models; i++)
        if (L.models[i].info.dim != L.dim) {
            err = tt_errf(TT_ERR_UNSUPPORTED, errstr, errstr_size,
                          "model versions of different dimensions (%u, %u)",
                          L.dim, L.models[i].info.dim);
            goto out;
        }
    tt_log_info(log, "live", "%d model version(s), oldest %llu",
                L.n_models, (unsigned long long)first->version);

    /* the interactions */
    err = tt_live_read_input(&L, &conf->kafka, &ds, errstr, errstr_size);
    if (!err)
        err = eval_setup(&ds, bo, first->info.tstar, &split, &ev, errstr,
                         errstr_size);
    if (!err)
        err = plan_slots(&L, &ds, split.valid_end, errstr, errstr_size);
    if (err)
        goto out;
    tt_log_info(log, "live", "%s: %zu interactions (%llu undecodable), "
                "test from position %zu",
                lo->input_topic, ds.n,
                (unsigned long long)st->input_undecodable, split.valid_end);
    for (int i = 0; i < L.n_models; i++) {
        L.models[i].items = tt_score_item_table(&ds, L.models[i].m);
        if (!L.models[i].items) {
            err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
            goto out;
        }
    }

    /* the embeddings */
    err = tt_live_read_embeddings(&L, &conf->kafka, errstr, errstr_size);
    if (err)
        goto out;
    t1 = tt_time_mono_ns();
    st->read_seconds = tt_time_secs(t0, t1);
    tt_log_info(log, "live", "%s: %llu embeddings (%llu undecodable, %llu "
                "unmatched, %llu duplicates, %llu conflicts)",
                lo->output_topic, (unsigned long long)st->embeddings,
                (unsigned long long)st->embeddings_undecodable,
                (unsigned long long)st->embeddings_unmatched,
                (unsigned long long)st->duplicates,
                (unsigned long long)st->conflicts);

    err = tt_score_init(&sc, ev);
    if (err) {
        err = tt_errf(err, errstr, errstr_size, "out of memory");
        goto out;
    }
    err = score_all(&L, &ds, ev, &split, &sc, errstr, errstr_size);
    if (err)
        goto out;
    tt_score_result(&sc, &er);
    st->score_seconds = tt_time_secs(t1, tt_time_mono_ns());
    er.seconds = st->score_seconds;
    if (fill_result(&ds, ev, &split, &first->info, &er, res) != TT_ERR_OK) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    res->seconds = tt_time_secs(t0, tt_time_mono_ns());
out:
    tt_score_release(&sc);
    tt_eval_destroy(ev);
    tt_dataset_release(&ds);
    live_release(&L);
    return err;
}

tt_err_t tt_live_offline(const struct tt_dataset *ds, const tt_model_t *m,
                         const struct tt_bt_opts *bo, struct tt_bt_result *res,
                         char *errstr, size_t errstr_size)
{
    struct tt_model_info info;
    struct tt_split split;
    struct tt_eval_model_scorer ms;
    struct tt_eval_result er;
    tt_eval_t *ev = NULL;
    uint64_t t0 = tt_time_mono_ns();
    tt_err_t err;

    tt_model_get_info(m, &info);
    err = eval_setup(ds, bo, info.tstar, &split, &ev, errstr, errstr_size);
    if (err)
        return err;
    err = tt_eval_model_init(&ms, ev, m, info.plus ? "2ts-plus" : "2ts");
    if (err) {
        tt_eval_destroy(ev);
        return tt_errf(err, errstr, errstr_size, "model scorer: %s",
                       tt_err_str(err));
    }
    err = tt_eval_run(ev, &ms.sc, &er, errstr, errstr_size);
    if (!err && fill_result(ds, ev, &split, &info, &er, res) != TT_ERR_OK)
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    if (!err)
        res->seconds = tt_time_secs(t0, tt_time_mono_ns());
    tt_eval_model_release(&ms);
    tt_eval_destroy(ev);
    return err;
}
