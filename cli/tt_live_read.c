/*
 * tt_live_read: the live backtest's reading of its three topics (input,
 * model, embeddings) into the run's state (tt_live_int.h).
 */
#include "cli/tt_live_int.h"

#include <stdlib.h>
#include <string.h>

#include "cli/tt_kread.h"
#include "common/tt_time.h"
#include "consumers/tt_modelsub.h"
#include "producers/tt_admin.h"
#include "schemas/tt_codec.h"

#define ADMIN_TIMEOUT_MS 10000
#define POLL_MS 200

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

/* ------------------------------------ merged order and the offset index */

static int cmp_rec_time(const void *a, const void *b)
{
    const struct tt_live_rec *x = a, *y = b;

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

static size_t find_pos(const struct tt_live_ctx *L, int32_t partition,
                       int64_t off)
{
    size_t lo = 0, hi = L->n_recs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct tt_live_rec *r = &L->recs[L->by_off[mid]];

        if (r->partition < partition ||
            (r->partition == partition && r->offset < off))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < L->n_recs) {
        const struct tt_live_rec *r = &L->recs[L->by_off[lo]];

        if (r->partition == partition && r->offset == off)
            return L->by_off[lo];
    }
    return TT_LIVE_NO_POS;
}

/* The input topic as a dataset in merged order, and the offset index. */
static tt_err_t build_dataset(struct tt_live_ctx *L, struct tt_dataset *ds,
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

/* ------------------------------------------------------------ the readers */

struct tt_live_model *tt_live_model_of(struct tt_live_ctx *L,
                                       uint64_t version)
{
    for (int i = 0; i < L->n_models; i++)
        if (L->models[i].version == version)
            return &L->models[i];
    return NULL;
}

static tt_err_t take_input(void *arg, const rd_kafka_message_t *msg,
                           char *errstr, size_t errstr_size)
{
    struct tt_live_ctx *L = arg;
    struct tt_live_rec r;
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
        struct tt_live_rec *p = realloc(L->recs, cap * sizeof(*p));

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
    struct tt_live_ctx *L = arg;
    struct tt_modelrec mr;
    struct tt_live_mrec *m;
    char e[256];

    /* tombstones and undecodable records: the assembler would skip them */
    if (!msg->payload ||
        tt_codec_decode_modelrec(L->codec, msg->payload, msg->len, &mr, e,
                                 sizeof e) != TT_ERR_OK)
        return TT_ERR_OK;
    if (L->n_mrecs == L->cap_mrecs) {
        size_t cap = L->cap_mrecs ? 2 * L->cap_mrecs : 64;
        struct tt_live_mrec *p = realloc(L->mrecs, cap * sizeof(*p));

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
    const struct tt_live_mrec *x = a, *y = b;

    if (x->version != y->version)
        return x->version < y->version ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

tt_err_t tt_live_add_model(struct tt_live_ctx *L, tt_model_t **m,
                           bool from_topic, char *errstr, size_t errstr_size)
{
    struct tt_live_model *lm;
    struct tt_model_info info;

    tt_model_get_info(*m, &info);
    if (tt_live_model_of(L, info.version)) {
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
tt_err_t tt_live_read_models(struct tt_live_ctx *L,
                             const struct tt_conf_kafka *kc, char *errstr,
                             size_t errstr_size)
{
    tt_modelsub_asm_t *a = NULL;
    tt_err_t err;

    err = read_topic(kc, L->lo->model_topic, L->lo->timeout_s, take_modelrec,
                     L, errstr, errstr_size);
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
            err = tt_live_add_model(L, &m, true, errstr, errstr_size);
        tt_model_destroy(m);
    }
    tt_modelsub_asm_destroy(a);
    return err;
}

static tt_err_t take_embedding(void *arg, const rd_kafka_message_t *msg,
                               char *errstr, size_t errstr_size)
{
    struct tt_live_ctx *L = arg;
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
    if (p == TT_LIVE_NO_POS || L->recs[p].ev.user_id != e.user_id) {
        L->st->embeddings_unmatched++;
        return TT_ERR_OK;
    }
    s = L->slot[p];
    if (s == TT_LIVE_NO_SLOT)
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

tt_err_t tt_live_read_input(struct tt_live_ctx *L,
                            const struct tt_conf_kafka *kc,
                            struct tt_dataset *ds, char *errstr,
                            size_t errstr_size)
{
    tt_err_t err;

    err = read_topic(kc, L->lo->input_topic, L->lo->timeout_s, take_input, L,
                     errstr, errstr_size);
    if (!err)
        err = build_dataset(L, ds, errstr, errstr_size);
    return err;
}

tt_err_t tt_live_read_embeddings(struct tt_live_ctx *L,
                                 const struct tt_conf_kafka *kc, char *errstr,
                                 size_t errstr_size)
{
    return read_topic(kc, L->lo->output_topic, L->lo->timeout_s,
                      take_embedding, L, errstr, errstr_size);
}
