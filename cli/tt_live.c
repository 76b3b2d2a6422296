/*
 * tt_live: the live backtest (see tt_live.h): Kafka reading, pairing of
 * embeddings with interactions, scoring with model/tt_score, the report.
 */
#include "cli/tt_live.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/tt_kread.h"
#include "common/tt_time.h"
#include "consumers/tt_modelsub.h"
#include "consumers/tt_senc.h"
#include "model/tt_score.h"
#include "producers/tt_admin.h"
#include "schemas/tt_codec.h"

#define ADMIN_TIMEOUT_MS 10000
#define POLL_MS 200
#define NO_SLOT UINT32_MAX
#define NO_POS SIZE_MAX

/* ---------------------------------------------------------- topic reading */

typedef tt_err_t (*rec_fn)(void *arg, const rd_kafka_message_t *msg,
                           char *errstr, size_t errstr_size);

/* Calls fn on every record of `topic` from the first retained offset to
 * the end offsets seen at the start, partition by partition in offset
 * order (partitions interleaved).  A missing topic fails. */
static tt_err_t read_topic(const struct tt_conf_kafka *kc, const char *topic,
                           int timeout_s, rec_fn fn, void *arg, char *errstr,
                           size_t errstr_size)
{
    tt_admin_t *admin = NULL;
    tt_kread_t *r = NULL;
    int64_t *lo = NULL, *hi = NULL;
    uint64_t last = tt_time_mono_ns();
    int parts = 0;
    tt_err_t err;

    err = tt_admin_new(&admin, kc, errstr, errstr_size);
    if (!err && !tt_admin_reachable(admin, ADMIN_TIMEOUT_MS))
        err = tt_errf(TT_ERR_TIMEOUT, errstr, errstr_size,
                      "no Kafka broker answers at %s", kc->brokers);
    if (!err)
        err = tt_admin_partitions(admin, topic, ADMIN_TIMEOUT_MS, &parts,
                                  errstr, errstr_size);
    tt_admin_destroy(admin);
    if (err)
        return err;
    lo = calloc((size_t)parts, sizeof(*lo));
    hi = calloc((size_t)parts, sizeof(*hi));
    if (!lo || !hi) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    err = tt_kread_new(&r, kc, topic, parts, errstr, errstr_size);
    if (!err)
        err = tt_kread_watermarks(r, lo, hi, ADMIN_TIMEOUT_MS, errstr,
                                  errstr_size);
    if (!err)
        err = tt_kread_assign(r, lo, hi, errstr, errstr_size);
    while (!err && !tt_kread_all_done(r)) {
        rd_kafka_message_t *msg = NULL;
        int done = tt_kread_done_count(r);

        err = tt_kread_poll(r, &msg, POLL_MS, errstr, errstr_size);
        if (err)
            break;
        if (msg) {
            err = fn(arg, msg, errstr, errstr_size);
            rd_kafka_message_destroy(msg);
            last = tt_time_mono_ns();
        } else if (tt_kread_done_count(r) != done) {
            last = tt_time_mono_ns();
        } else if (tt_time_secs(last, tt_time_mono_ns()) > timeout_s) {
            err = tt_errf(TT_ERR_TIMEOUT, errstr, errstr_size,
                          "%s: no progress for %d s", topic, timeout_s);
        }
    }
out:
    tt_kread_destroy(r);
    free(lo);
    free(hi);
    return err;
}

/* ------------------------------------------------------------------ state */

struct rec {
    struct tt_event ev;
    int32_t partition;
    int64_t offset;
};

struct lmodel {
    uint64_t version;
    bool from_topic;
    tt_model_t *m;
    const float **items;        /* by dense item of the dataset */
    struct tt_model_info info;
};

struct mrec {                   /* a model-topic record, kept until sorted */
    uint64_t version;
    size_t index;
    uint8_t *value;
    size_t len;
};

struct live {
    const struct tt_live_opts *lo;
    struct tt_live_stats *st;
    tt_codec_t *codec;
    /* input */
    struct rec *recs;           /* merged order = dataset positions */
    size_t n_recs, cap_recs;
    size_t *by_off;             /* positions sorted by (partition, offset) */
    /* models */
    struct lmodel models[TT_LIVE_VERSIONS_MAX];
    int n_models;
    struct mrec *mrecs;
    size_t n_mrecs, cap_mrecs;
    /* embeddings of the needed positions */
    uint32_t dim;
    uint32_t *slot;             /* [n] slot or NO_SLOT */
    uint32_t n_slots;
    float *emb;                 /* [n_slots][dim] */
    uint64_t *ver;              /* [n_slots] */
    uint8_t *cell;              /* [n_slots] 1 = ACTIVE */
    uint8_t *have;              /* [n_slots] */
    float *buf;                 /* TT_MODEL_DIM_MAX decode buffer */
};

static int cmp_rec_time(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;

    if (x->ev.ts_ms != y->ev.ts_ms)
        return x->ev.ts_ms < y->ev.ts_ms ? -1 : 1;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* qsort has no context: by_off is sorted as (partition, offset, pos)
 * triples, then reduced to positions. */
struct offkey {
    int32_t partition;
    int64_t offset;
    size_t pos;
};

static int cmp_offkey(const void *a, const void *b)
{
    const struct offkey *x = a, *y = b;

    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

static size_t find_pos(const struct live *L, int32_t partition, int64_t off)
{
    size_t lo = 0, hi = L->n_recs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct rec *r = &L->recs[L->by_off[mid]];

        if (r->partition < partition ||
            (r->partition == partition && r->offset < off))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < L->n_recs) {
        const struct rec *r = &L->recs[L->by_off[lo]];

        if (r->partition == partition && r->offset == off)
            return L->by_off[lo];
    }
    return NO_POS;
}

static struct lmodel *model_of(struct live *L, uint64_t version)
{
    for (int i = 0; i < L->n_models; i++)
        if (L->models[i].version == version)
            return &L->models[i];
    return NULL;
}

/* ------------------------------------------------------------ the readers */

static tt_err_t take_input(void *arg, const rd_kafka_message_t *msg,
                           char *errstr, size_t errstr_size)
{
    struct live *L = arg;
    struct rec r;
    char e[256];

    L->st->input_records++;
    if (!msg->payload ||
        tt_senc_decode_event(L->codec, msg->payload, msg->len, &r.ev, e,
                             sizeof e) != TT_ERR_OK ||
        !tt_event_valid(&r.ev)) {
        /* the stream dead-letters these: no embedding, no interaction */
        L->st->input_undecodable++;
        return TT_ERR_OK;
    }
    if (L->n_recs == L->cap_recs) {
        size_t cap = L->cap_recs ? 2 * L->cap_recs : 4096;
        struct rec *p = realloc(L->recs, cap * sizeof(*p));

        if (!p)
            return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                           "out of memory");
        L->recs = p;
        L->cap_recs = cap;
    }
    r.partition = msg->partition;
    r.offset = msg->offset;
    L->recs[L->n_recs++] = r;
    return TT_ERR_OK;
}

static tt_err_t take_modelrec(void *arg, const rd_kafka_message_t *msg,
                              char *errstr, size_t errstr_size)
{
    struct live *L = arg;
    struct tt_modelrec mr;
    struct mrec *m;
    char e[256];

    /* tombstones and undecodable records: the assembler would skip them */
    if (!msg->payload ||
        tt_codec_decode_modelrec(L->codec, msg->payload, msg->len, &mr, e,
                                 sizeof e) != TT_ERR_OK)
        return TT_ERR_OK;
    if (L->n_mrecs == L->cap_mrecs) {
        size_t cap = L->cap_mrecs ? 2 * L->cap_mrecs : 64;
        struct mrec *p = realloc(L->mrecs, cap * sizeof(*p));

        if (!p)
            return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                           "out of memory");
        L->mrecs = p;
        L->cap_mrecs = cap;
    }
    m = &L->mrecs[L->n_mrecs];
    m->value = malloc(msg->len);
    if (!m->value)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    memcpy(m->value, msg->payload, msg->len);
    m->len = msg->len;
    m->version = (uint64_t)mr.model_version;
    m->index = L->n_mrecs++;
    return TT_ERR_OK;
}

static int cmp_mrec(const void *a, const void *b)
{
    const struct mrec *x = a, *y = b;

    if (x->version != y->version)
        return x->version < y->version ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

static tt_err_t add_model(struct live *L, tt_model_t **m, bool from_topic,
                          char *errstr, size_t errstr_size)
{
    struct lmodel *lm;
    struct tt_model_info info;

    tt_model_get_info(*m, &info);
    if (model_of(L, info.version)) {
        /* a file and the topic both give it: the first one stays */
        tt_model_destroy(*m);
        *m = NULL;
        return TT_ERR_OK;
    }
    if (L->n_models == TT_LIVE_VERSIONS_MAX)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "more than %d model versions", TT_LIVE_VERSIONS_MAX);
    lm = &L->models[L->n_models++];
    lm->version = info.version;
    lm->from_topic = from_topic;
    lm->m = *m;
    lm->info = info;
    lm->items = NULL;
    *m = NULL;
    return TT_ERR_OK;
}

/* Every complete version of the model topic: records fed to one assembler
 * in version order, so that each version completes before a newer one
 * (the assembler ignores versions below the last it handed over). */
static tt_err_t load_topic_models(struct live *L, const struct tt_conf *conf,
                                  char *errstr, size_t errstr_size)
{
    tt_modelsub_asm_t *a = NULL;
    tt_err_t err;

    err = read_topic(&conf->kafka, L->lo->model_topic, L->lo->timeout_s,
                     take_modelrec, L, errstr, errstr_size);
    if (err)
        return err;
    qsort(L->mrecs, L->n_mrecs, sizeof(*L->mrecs), cmp_mrec);
    err = tt_modelsub_asm_new(&a, 0, errstr, errstr_size);
    for (size_t i = 0; !err && i < L->n_mrecs; i++) {
        tt_model_t *m = NULL;
        char e[256];
        tt_err_t aerr = tt_modelsub_asm_add(a, L->mrecs[i].value,
                                            L->mrecs[i].len, &m, e, sizeof e);

        if (aerr == TT_ERR_NOMEM)
            err = tt_errf(aerr, errstr, errstr_size, "out of memory");
        else if (m)
            err = add_model(L, &m, true, errstr, errstr_size);
        tt_model_destroy(m);
    }
    tt_modelsub_asm_destroy(a);
    return err;
}

static tt_err_t take_embedding(void *arg, const rd_kafka_message_t *msg,
                               char *errstr, size_t errstr_size)
{
    struct live *L = arg;
    struct tt_senc_emb e;
    char es[256];
    size_t p;
    uint32_t s;
    float *dst;

    (void)errstr;
    (void)errstr_size;
    L->st->embeddings++;
    if (!msg->payload ||
        tt_senc_decode_embedding(L->codec, msg->payload, msg->len, &e,
                                 L->buf, TT_MODEL_DIM_MAX, es,
                                 sizeof es) != TT_ERR_OK ||
        e.dim != L->dim) {
        L->st->embeddings_undecodable++;
        return TT_ERR_OK;
    }
    p = find_pos(L, e.partition, e.offset);
    if (p == NO_POS || L->recs[p].ev.user_id != e.user_id) {
        L->st->embeddings_unmatched++;
        return TT_ERR_OK;
    }
    s = L->slot[p];
    if (s == NO_SLOT)
        return TT_ERR_OK;
    dst = L->emb + (size_t)s * L->dim;
    if (L->have[s]) {
        if (L->ver[s] == e.model_version && L->cell[s] == e.active &&
            !memcmp(dst, L->buf, L->dim * sizeof(float)))
            L->st->duplicates++;
        else
            L->st->conflicts++;
    }
    memcpy(dst, L->buf, L->dim * sizeof(float));
    L->ver[s] = e.model_version;
    L->cell[s] = e.active;
    L->have[s] = 1;
    return TT_ERR_OK;
}

/* --------------------------------------------------------------- scoring */

static struct tt_live_version *version_stats(struct tt_live_stats *st,
                                             const struct lmodel *lm)
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
                           uint32_t u, size_t p, const struct lmodel *lm,
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
    for (j = us->upto; j != NO_POS && j <= p; j = next_of[j]) {
        if (lm->items[ds->item[j]]) {
            us->all++;
            us->cut += j >= train_end;
        }
        us->upto = next_of[j];
    }
    return active ? us->cut : us->all;
}

static tt_err_t score_all(struct live *L, const struct tt_dataset *ds,
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
        first_of[u] = last[u] = NO_POS;
    for (size_t p = 0; p < ds->n; p++) {
        uint32_t u = ds->user[p];

        prev[p] = last[u];
        next_of[p] = NO_POS;
        if (last[u] != NO_POS)
            next_of[last[u]] = p;
        else
            first_of[u] = p;
        last[u] = p;
    }
    for (size_t p = split->valid_end; p < ds->n; p++) {
        uint32_t u = ds->user[p], sp = L->slot[p];
        size_t pp = prev[p];
        uint32_t spp = pp == NO_POS ? NO_SLOT : L->slot[pp];
        bool have_p = sp != NO_SLOT && L->have[sp];
        const struct lmodel *lm = NULL, *lp;
        const float *before = NULL;
        int group = 0;

        /* the query in effect before p */
        if (pp == NO_POS) {
            if (have_p && (lm = model_of(L, L->ver[sp])) != NULL) {
                tt_model_user_start(lm->m, tt_ids_id(ds->users, u), false,
                                    run);
                tt_model_user_query(lm->m, run, q);
                before = q;
            }
        } else if (spp != NO_SLOT && L->have[spp]) {
            lm = model_of(L, L->ver[spp]);
            before = L->emb + (size_t)spp * L->dim;
            group = L->cell[spp];
        }
        if (tt_eval_is_scored(ev, p)) {
            bool have_before = pp == NO_POS
                                   ? have_p
                                   : spp != NO_SLOT && L->have[spp];

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
                L->st->first_interactions += pp == NO_POS;
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
        lp = have_p ? model_of(L, L->ver[sp]) : lm;
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

static void live_release(struct live *L)
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
static tt_err_t plan_slots(struct live *L, const struct tt_dataset *ds,
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
        last[u] = NO_POS;
    for (size_t p = 0; p < ds->n; p++) {
        L->slot[p] = NO_SLOT;
        if (p < begin)
            last[ds->user[p]] = p;
    }
    for (uint32_t u = 0; u < n_users; u++)
        if (last[u] != NO_POS)
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

/* The input topic as a dataset in merged order, and the offset index. */
static tt_err_t build_dataset(struct live *L, struct tt_dataset *ds,
                              char *errstr, size_t errstr_size)
{
    struct offkey *keys;

    qsort(L->recs, L->n_recs, sizeof(*L->recs), cmp_rec_time);
    for (size_t i = 0; i < L->n_recs; i++)
        if (tt_dataset_add(ds, &L->recs[i].ev) != TT_ERR_OK)
            return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                           "out of memory");
    if (tt_dataset_finish(ds) != TT_ERR_OK || ds->n != L->n_recs)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "cannot build the dataset");
    keys = malloc((L->n_recs ? L->n_recs : 1) * sizeof(*keys));
    L->by_off = malloc((L->n_recs ? L->n_recs : 1) * sizeof(*L->by_off));
    if (!keys || !L->by_off) {
        free(keys);
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    for (size_t i = 0; i < L->n_recs; i++) {
        keys[i].partition = L->recs[i].partition;
        keys[i].offset = L->recs[i].offset;
        keys[i].pos = i;
    }
    qsort(keys, L->n_recs, sizeof(*keys), cmp_offkey);
    for (size_t i = 0; i < L->n_recs; i++)
        L->by_off[i] = keys[i].pos;
    free(keys);
    return TT_ERR_OK;
}

tt_err_t tt_live_run(const struct tt_conf *conf, const struct tt_live_opts *lo,
                     const struct tt_bt_opts *bo, tt_log_t *log,
                     struct tt_bt_result *res, struct tt_live_stats *st,
                     char *errstr, size_t errstr_size)
{
    struct live L;
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_score sc;
    struct tt_eval_result er;
    tt_eval_t *ev = NULL;
    uint64_t t0 = tt_time_mono_ns(), t1;
    const struct lmodel *first;
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
            err = add_model(&L, &m, false, errstr, errstr_size);
        tt_model_destroy(m);
        if (err)
            goto out;
    }
    if (lo->model_topic) {
        err = load_topic_models(&L, conf, errstr, errstr_size);
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
    err = read_topic(&conf->kafka, lo->input_topic, lo->timeout_s,
                     take_input, &L, errstr, errstr_size);
    if (!err)
        err = build_dataset(&L, &ds, errstr, errstr_size);
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
    err = read_topic(&conf->kafka, lo->output_topic, lo->timeout_s,
                     take_embedding, &L, errstr, errstr_size);
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
