/*
 * tt_modelpub: a model as ModelRecords (tt_modelpub_records), and their
 * publication to the model topic (one transaction per version, COMMIT
 * after every other record is acknowledged).
 */
#include "producers/tt_modelpub.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "common/tt_crc32c.h"
#include "common/tt_time.h"
#include "model/tt_model_int.h"
#include "producers/tt_admin.h"
#include "producers/tt_kconf.h"
#include "producers/tt_ukey.h"
#include "schemas/tt_codec.h"

#define PUB_TIMEOUT_DEFAULT_MS 60000
#define PUB_POLL_SLICE_MS 50
/* Dense tensors a model has at most: psi, 2 x 3 cell parts, W, 2 meta. */
#define DENSE_MAX 10

/* ---- the records of a version ---- */

struct walk {
    tt_codec_t *codec;
    uint8_t *payload;   /* TT_MODELREC_MAX_PAYLOAD */
    uint8_t *value;     /* TT_CODEC_MODELREC_MAX(TT_MODELREC_MAX_PAYLOAD) */
    size_t value_cap;
    struct tt_modelrec_digest dg;
    int32_t seq;
    uint64_t version;
    tt_modelpub_emit_fn emit;
    void *ctx;
    struct tt_modelpub_summary *sum;
};

/* Encodes payload[0..len) as the next record and hands it to emit(). */
static tt_err_t put(struct walk *w, enum tt_modelrec_kind kind,
                    int32_t partition, const char *key, size_t len,
                    char *errstr, size_t errstr_size)
{
    struct tt_modelrec rec;
    struct tt_modelpub_rec out;
    size_t vlen;
    tt_err_t err;

    memset(&rec, 0, sizeof(rec));
    rec.kind = kind;
    rec.model_version = (int64_t)w->version;
    rec.seq = w->seq;
    rec.payload = w->payload;
    rec.payload_len = len;
    err = tt_codec_encode_modelrec(w->codec, &rec, w->value, w->value_cap,
                                   &vlen, errstr, errstr_size);
    if (err)
        return err;
    if (kind != TT_MODELREC_COMMIT) {
        err = tt_modelrec_digest_add(&w->dg, kind, w->seq,
                                     tt_crc32c(0, w->payload, len),
                                     len, errstr, errstr_size);
        if (err)
            return err;
    }
    memset(&out, 0, sizeof(out));
    out.kind = kind;
    out.seq = w->seq;
    out.partition = partition;
    snprintf(out.key, sizeof(out.key), "%s", key);
    out.value = w->value;
    out.value_len = vlen;
    err = w->emit(w->ctx, &out, errstr, errstr_size);
    if (err)
        return err;
    w->seq++;
    w->sum->records++;
    w->sum->payload_bytes += len;
    w->sum->value_bytes += vlen;
    if (vlen > w->sum->max_value)
        w->sum->max_value = vlen;
    return TT_ERR_OK;
}

struct dense_t {
    const char *name;
    uint32_t rows, cols;
    const float *v;
};

/* The dense tensors of m (see the header), into t[]; returns how many. */
static uint32_t dense_tensors(const struct tt_model_parts *pt, bool plus,
                              float *seed16, float *flags,
                              struct dense_t *t)
{
    uint32_t d = pt->dim, n = 0;
    size_t np = tt_gru_nparams(d), sq = 3 * (size_t)d * d;
    const float *c0 = pt->dense + d, *c1 = c0 + np;

    for (int i = 0; i < 4; i++)
        seed16[i] = (float)((pt->seed >> (16 * i)) & 0xffffu);
    *flags = (float)pt->flags;
    t[n++] = (struct dense_t){"psi", 1, d, pt->dense};
    t[n++] = (struct dense_t){"cell0.wt", d, 3 * d, c0};
    t[n++] = (struct dense_t){"cell0.ut", d, 3 * d, c0 + sq};
    t[n++] = (struct dense_t){"cell0.b", 1, 3 * d, c0 + 2 * sq};
    t[n++] = (struct dense_t){"cell1.wt", d, 3 * d, c1};
    t[n++] = (struct dense_t){"cell1.ut", d, 3 * d, c1 + sq};
    t[n++] = (struct dense_t){"cell1.b", 1, 3 * d, c1 + 2 * sq};
    if (plus)
        t[n++] = (struct dense_t){"W", 2 * d, d, c1 + np};
    t[n++] = (struct dense_t){"meta.seed", 1, 4, seed16};
    t[n++] = (struct dense_t){"meta.flags", 1, 1, flags};
    return n;
}

/* Rows rows[0..n) (ids + vectors, dim floats each) as chunks of `kind`. */
static tt_err_t put_rows(struct walk *w, enum tt_modelrec_kind kind,
                         int32_t partition, const int64_t *ids,
                         const float *vecs, const uint32_t *order, uint32_t n,
                         uint32_t dim, uint32_t *chunk, int64_t *id_buf,
                         float *vec_buf, char *errstr, size_t errstr_size)
{
    uint32_t per = tt_modelrec_rows_per_chunk(dim);
    char key[TT_MODELPUB_KEY_MAX];
    tt_err_t err;

    for (uint32_t lo = 0; lo < n; lo += per) {
        uint32_t cnt = n - lo < per ? n - lo : per;
        const int64_t *cid = ids + lo;
        const float *cv = vecs + (size_t)lo * dim;
        size_t len;

        if (order) {
            /* gather the chunk's rows (users of one partition) */
            for (uint32_t i = 0; i < cnt; i++) {
                uint32_t r = order[lo + i];

                id_buf[i] = ids[r];
                memcpy(vec_buf + (size_t)i * dim, vecs + (size_t)r * dim,
                       dim * sizeof(float));
            }
            cid = id_buf;
            cv = vec_buf;
        }
        err = tt_modelrec_rows_build(dim, cid, cv, cnt, w->payload,
                                     TT_MODELREC_MAX_PAYLOAD, &len, errstr,
                                     errstr_size);
        if (err)
            return err;
        if (kind == TT_MODELREC_USERS)
            snprintf(key, sizeof(key), "U/%d/%u", (int)partition, *chunk);
        else
            snprintf(key, sizeof(key), "I/%u", *chunk);
        err = put(w, kind, partition, key, len, errstr, errstr_size);
        if (err)
            return err;
        (*chunk)++;
        if (kind == TT_MODELREC_USERS)
            w->sum->users++;
        else
            w->sum->items++;
    }
    return TT_ERR_OK;
}

/*
 * The active users in publication order: by partition, model order inside.
 * order[] gets n_active indices, start[p] .. start[p + 1] those of p.
 */
static tt_err_t user_order(const struct tt_model_parts *pt,
                           int32_t partitions, uint32_t **order,
                           uint32_t **start, char *errstr, size_t errstr_size)
{
    uint32_t *o = malloc(((size_t)pt->n_active + 1) * sizeof(*o));
    uint32_t *s = calloc((size_t)partitions + 1, sizeof(*s));
    int32_t *part = malloc(((size_t)pt->n_active + 1) * sizeof(*part));

    if (!o || !s || !part) {
        free(o);
        free(s);
        free(part);
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "model records: no memory for %u users",
                       pt->n_active);
    }
    for (uint32_t i = 0; i < pt->n_active; i++) {
        part[i] = tt_ukey_user_partition(pt->user_ids[i], partitions);
        s[part[i] + 1]++;
    }
    for (int32_t p = 0; p < partitions; p++)
        s[p + 1] += s[p];
    {
        uint32_t *fill = calloc((size_t)partitions, sizeof(*fill));

        if (!fill) {
            free(o);
            free(s);
            free(part);
            return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                           "model records: no memory");
        }
        for (uint32_t i = 0; i < pt->n_active; i++)
            o[s[part[i]] + fill[part[i]]++] = i;
        free(fill);
    }
    free(part);
    *order = o;
    *start = s;
    return TT_ERR_OK;
}

tt_err_t tt_modelpub_records(const tt_model_t *m, uint64_t version,
                             int32_t partitions, int64_t created_ms,
                             tt_modelpub_emit_fn emit, void *ctx,
                             struct tt_modelpub_summary *sum, char *errstr,
                             size_t errstr_size)
{
    struct tt_model_parts pt;
    struct tt_model_info info;
    struct tt_modelpub_summary local;
    struct tt_modelrec_header h;
    struct tt_modelrec_cutoff *cuts = NULL;
    struct dense_t t[DENSE_MAX];
    struct walk w;
    uint32_t *order = NULL, *start = NULL, n_dense, chunk = 0;
    int64_t *id_buf = NULL;
    float *vec_buf = NULL, seed16[4], flags;
    size_t len;
    tt_err_t err;

    if (!sum)
        sum = &local;
    memset(sum, 0, sizeof(*sum));
    if (partitions < 1 || version > INT64_MAX)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "model records: %d partitions, version %" PRIu64,
                       (int)partitions, version);
    tt_model_parts_get(m, &pt);
    tt_model_get_info(m, &info);
    if (pt.n_cutoffs > TT_MODELREC_MAX_CUTOFFS ||
        pt.dim > TT_MODELREC_MAX_ROW_DIM || pt.flags >= (1u << 24))
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "model records: %u cutoffs, dim %u do not fit",
                       pt.n_cutoffs, pt.dim);
    memset(&w, 0, sizeof(w));
    w.version = version;
    w.emit = emit;
    w.ctx = ctx;
    w.sum = sum;
    w.value_cap = TT_CODEC_MODELREC_MAX(TT_MODELREC_MAX_PAYLOAD);
    tt_modelrec_digest_init(&w.dg);
    err = tt_codec_new(&w.codec, errstr, errstr_size);
    if (err)
        return err;
    w.payload = malloc(TT_MODELREC_MAX_PAYLOAD);
    w.value = malloc(w.value_cap);
    cuts = malloc(((size_t)pt.n_cutoffs + 1) * sizeof(*cuts));
    id_buf = malloc(tt_modelrec_rows_per_chunk(pt.dim) * sizeof(*id_buf));
    vec_buf = malloc((size_t)tt_modelrec_rows_per_chunk(pt.dim) * pt.dim *
                     sizeof(*vec_buf));
    if (!w.payload || !w.value || !cuts || !id_buf || !vec_buf) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                      "model records: no memory");
        goto out;
    }
    err = user_order(&pt, partitions, &order, &start, errstr, errstr_size);
    if (err)
        goto out;

    /* HEADER */
    n_dense = dense_tensors(&pt, info.plus, seed16, &flags, t);
    for (uint32_t i = 0; i < pt.n_cutoffs; i++) {
        cuts[i].partition = pt.cutoffs[i].partition;
        cuts[i].offset = pt.cutoffs[i].offset;
    }
    memset(&h, 0, sizeof(h));
    h.flags = (info.plus ? TT_MODELREC_FLAG_PLUS : 0) |
              ((pt.flags & TT_MODEL_FLAG_FEATURES) ? TT_MODELREC_FLAG_FEATURES
                                                   : 0);
    h.dim = pt.dim;
    h.feature_dim = pt.feature_dim;
    h.tstar = pt.tstar;
    h.k = pt.k;
    h.n_items = pt.n_items;
    h.n_users = pt.n_active;
    h.n_dense = n_dense;
    h.n_cutoffs = pt.n_cutoffs;
    h.created_ms = created_ms;
    h.cutoff_ms = pt.cutoff_ts_ms;
    h.cutoffs = cuts;
    err = tt_modelrec_header_build(&h, w.payload, TT_MODELREC_MAX_PAYLOAD,
                                   &len, errstr, errstr_size);
    if (!err)
        err = put(&w, TT_MODELREC_HEADER, 0, "H", len, errstr, errstr_size);

    /* DENSE */
    for (uint32_t k = 0; k < n_dense && !err; k++) {
        uint64_t total = (uint64_t)t[k].rows * t[k].cols;
        uint32_t per = tt_modelrec_dense_per_chunk(strlen(t[k].name));

        for (uint64_t first = 0; first < total && !err; first += per) {
            uint32_t cnt = (uint32_t)(total - first < per ? total - first
                                                          : per);
            char key[TT_MODELPUB_KEY_MAX];

            err = tt_modelrec_dense_build(t[k].name, t[k].rows, t[k].cols,
                                          first, t[k].v + first, cnt,
                                          w.payload, TT_MODELREC_MAX_PAYLOAD,
                                          &len, errstr, errstr_size);
            snprintf(key, sizeof(key), "D/%u", sum->dense);
            if (!err)
                err = put(&w, TT_MODELREC_DENSE, 0, key, len, errstr,
                          errstr_size);
            sum->dense++;
        }
    }

    /* ITEMS, then USERS partition by partition */
    if (!err)
        err = put_rows(&w, TT_MODELREC_ITEMS, 0, pt.item_ids, pt.items, NULL,
                       pt.n_items, pt.dim, &chunk, id_buf, vec_buf, errstr,
                       errstr_size);
    for (int32_t p = 0; p < partitions && !err; p++) {
        chunk = 0;
        err = put_rows(&w, TT_MODELREC_USERS, p, pt.user_ids, pt.phi,
                       order + start[p], start[p + 1] - start[p], pt.dim,
                       &chunk, id_buf, vec_buf, errstr, errstr_size);
    }

    /* COMMIT */
    if (!err)
        err = tt_modelrec_commit_build(&w.dg, w.payload,
                                       TT_MODELREC_MAX_PAYLOAD, &len, errstr,
                                       errstr_size);
    if (!err)
        err = put(&w, TT_MODELREC_COMMIT, 0, "C", len, errstr, errstr_size);
out:
    free(order);
    free(start);
    free(id_buf);
    free(vec_buf);
    free(cuts);
    free(w.payload);
    free(w.value);
    tt_codec_destroy(w.codec);
    return err;
}

tt_err_t tt_modelpub_canonical(tt_model_t **out, const tt_model_t *m,
                               int32_t partitions, char *errstr,
                               size_t errstr_size)
{
    struct tt_model_parts pt;
    uint32_t *order = NULL, *start = NULL;
    int64_t *ids;
    float *phi;
    tt_err_t err;

    *out = NULL;
    if (partitions < 1)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "canonical model: %d partitions", (int)partitions);
    tt_model_parts_get(m, &pt);
    err = user_order(&pt, partitions, &order, &start, errstr, errstr_size);
    if (err)
        return err;
    ids = malloc(((size_t)pt.n_active + 1) * sizeof(*ids));
    phi = malloc(((size_t)pt.n_active * pt.dim + 1) * sizeof(*phi));
    if (!ids || !phi) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                      "canonical model: no memory");
        goto out;
    }
    for (uint32_t i = 0; i < pt.n_active; i++) {
        ids[i] = pt.user_ids[order[i]];
        memcpy(phi + (size_t)i * pt.dim, pt.phi + (size_t)order[i] * pt.dim,
               pt.dim * sizeof(float));
    }
    pt.user_ids = ids;
    pt.phi = phi;
    err = tt_model_build(out, &pt, errstr, errstr_size);
out:
    free(ids);
    free(phi);
    free(order);
    free(start);
    return err;
}

/* ---- the publisher ---- */

struct tt_modelpub_s {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    char *topic;
    int32_t partitions;
    bool txn;
    bool dead;          /* fenced or fatal: no more publications */
    int timeout_ms;
    /* delivery reports of the current publication */
    uint64_t delivered, failed;
    char first_error[256];
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    tt_modelpub_t *p = opaque;

    (void)rk;
    if (m->err) {
        if (p->failed++ == 0)
            snprintf(p->first_error, sizeof(p->first_error),
                     "%s [%d]: %s", rd_kafka_topic_name(m->rkt),
                     (int)m->partition, rd_kafka_err2str(m->err));
        return;
    }
    p->delivered++;
}

/* Translates a transactional API error; marks the publisher dead when it
 * cannot go on. */
static tt_err_t txn_error(tt_modelpub_t *p, rd_kafka_error_t *e,
                          const char *what, char *errstr, size_t errstr_size)
{
    tt_err_t code = TT_ERR_KAFKA;

    if (rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__FENCED ||
        rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_PRODUCER_FENCED)
        code = TT_ERR_FENCED;
    if (rd_kafka_error_is_fatal(e) || code == TT_ERR_FENCED)
        p->dead = true;
    else if (rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__TIMED_OUT)
        code = TT_ERR_TIMEOUT;
    tt_errf(code, errstr, errstr_size, "model publisher: %s: %s", what,
            rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return code;
}

tt_err_t tt_modelpub_new(tt_modelpub_t **out, const struct tt_conf_kafka *kc,
                         const struct tt_modelpub_opts *opts, char *errstr,
                         size_t errstr_size)
{
    static const char *const why = "the model publisher (tt_modelpub)";
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_resp_err_t kerr;
    rd_kafka_error_t *e;
    tt_modelpub_t *p;
    char rderr[512];
    tt_err_t err;

    *out = NULL;
    if (!opts->topic || !*opts->topic)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "model publisher: no topic");
    p = calloc(1, sizeof(*p));
    if (!p || !(p->topic = strdup(opts->topic))) {
        free(p);
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "model publisher: no memory");
    }
    p->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms
                                         : PUB_TIMEOUT_DEFAULT_MS;
    p->txn = opts->transactional_id && *opts->transactional_id;
    err = tt_kconf_new_role(&conf, kc, TT_KCONF_PRODUCER, errstr,
                            errstr_size);
    if (err)
        goto fail;
    /* Records are explicitly partitioned; a large version may take minutes
     * to write, hence the long transaction timeout (the broker's default
     * transaction.max.timeout.ms is 15 minutes), and message.timeout.ms
     * must stay below it. */
    if ((err = tt_kconf_require_role(conf, kc, TT_KCONF_PRODUCER,
                                     "enable.idempotence", "true", why,
                                     errstr, errstr_size)) ||
        (err = tt_kconf_require_role(conf, kc, TT_KCONF_PRODUCER, "acks",
                                     "all", why, errstr, errstr_size)) ||
        (err = tt_kconf_default_role(conf, kc, TT_KCONF_PRODUCER,
                                     "message.timeout.ms", "300000", errstr,
                                     errstr_size)))
        goto fail;
    if (p->txn &&
        ((err = tt_kconf_set(conf, "transactional.id",
                             opts->transactional_id, errstr, errstr_size)) ||
         (err = tt_kconf_default_role(conf, kc, TT_KCONF_PRODUCER,
                                      "transaction.timeout.ms", "600000",
                                      errstr, errstr_size))))
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rderr, sizeof(rderr));
    if (!p->rk) {
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                      "model publisher: %s", rderr);
        goto fail;
    }
    conf = NULL;
    p->rkt = rd_kafka_topic_new(p->rk, p->topic, NULL);
    if (!p->rkt) {
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                      "model publisher: topic \"%s\": %s", p->topic,
                      rd_kafka_err2str(rd_kafka_last_error()));
        goto fail;
    }
    kerr = rd_kafka_metadata(p->rk, 0, p->rkt, &md, p->timeout_ms);
    if (kerr) {
        err = tt_errf(kerr == RD_KAFKA_RESP_ERR__TIMED_OUT ? TT_ERR_TIMEOUT
                                                           : TT_ERR_KAFKA,
                      errstr, errstr_size,
                      "model publisher: metadata of \"%s\": %s", p->topic,
                      rd_kafka_err2str(kerr));
        goto fail;
    }
    if (md->topic_cnt != 1 || md->topics[0].err ||
        md->topics[0].partition_cnt < 1) {
        err = tt_errf(TT_ERR_NOTFOUND, errstr, errstr_size,
                      "model publisher: topic \"%s\" does not exist",
                      p->topic);
        rd_kafka_metadata_destroy(md);
        goto fail;
    }
    p->partitions = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    if (p->txn) {
        e = rd_kafka_init_transactions(p->rk, p->timeout_ms);
        if (e) {
            err = txn_error(p, e, "init_transactions", errstr, errstr_size);
            goto fail;
        }
    }
    *out = p;
    return TT_ERR_OK;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    tt_modelpub_destroy(p);
    return err;
}

int32_t tt_modelpub_partitions(const tt_modelpub_t *p)
{
    return p->partitions;
}

/* Produces one record (value NULL: a tombstone), waiting for queue room. */
static tt_err_t produce(tt_modelpub_t *p, int32_t partition, const char *key,
                        const uint8_t *value, size_t len, char *errstr,
                        size_t errstr_size)
{
    uint64_t t0 = tt_time_mono_ns();
    rd_kafka_resp_err_t kerr;

    for (;;) {
        kerr = rd_kafka_produce(p->rkt, partition, RD_KAFKA_MSG_F_COPY,
                                (void *)value, value ? len : 0, key,
                                strlen(key), NULL)
                   ? rd_kafka_last_error()
                   : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (kerr != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        if (tt_time_secs(t0, tt_time_mono_ns()) * 1000.0 > p->timeout_ms)
            return tt_errf(TT_ERR_TIMEOUT, errstr, errstr_size,
                           "model publisher: queue full for %d ms",
                           p->timeout_ms);
        rd_kafka_poll(p->rk, PUB_POLL_SLICE_MS);
    }
    if (kerr)
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                       "model publisher: producing to \"%s\" [%d]: %s",
                       p->topic, (int)partition, rd_kafka_err2str(kerr));
    rd_kafka_poll(p->rk, 0);
    return TT_ERR_OK;
}

/* Waits until every queued record is acknowledged; any failure fails. */
static tt_err_t flush_all(tt_modelpub_t *p, char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t kerr = rd_kafka_flush(p->rk, p->timeout_ms);
    char fatal[256];

    if (rd_kafka_fatal_error(p->rk, fatal, sizeof(fatal))) {
        p->dead = true;
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                       "model publisher: fatal: %s", fatal);
    }
    if (p->failed)
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                       "model publisher: %" PRIu64
                       " record(s) not delivered, first: %s",
                       p->failed, p->first_error);
    if (kerr)
        return tt_errf(TT_ERR_TIMEOUT, errstr, errstr_size,
                       "model publisher: %d record(s) unacknowledged after "
                       "%d ms",
                       rd_kafka_outq_len(p->rk), p->timeout_ms);
    return TT_ERR_OK;
}

struct pub_walk {
    tt_modelpub_t *p;
    bool *written;  /* [n_stale]: the version rewrites stale key i */
    const struct tt_modelpub_key *stale;
    size_t n_stale;
    uint32_t tombstones;
};

static tt_err_t emit_cb(void *ctx, const struct tt_modelpub_rec *r,
                        char *errstr, size_t errstr_size)
{
    struct pub_walk *pw = ctx;
    tt_err_t err;

    for (size_t i = 0; i < pw->n_stale; i++)
        if (!pw->written[i] && pw->stale[i].partition == r->partition &&
            !strcmp(pw->stale[i].key, r->key))
            pw->written[i] = true;
    if (r->kind == TT_MODELREC_COMMIT) {
        /* The COMMIT only once everything before it is acknowledged,
         * tombstones of older versions' extra keys included. */
        for (size_t i = 0; i < pw->n_stale; i++) {
            if (pw->written[i] || pw->stale[i].partition < 0 ||
                pw->stale[i].partition >= pw->p->partitions)
                continue;
            err = produce(pw->p, pw->stale[i].partition, pw->stale[i].key,
                          NULL, 0, errstr, errstr_size);
            if (err)
                return err;
            pw->written[i] = true;
            pw->tombstones++;
        }
        err = flush_all(pw->p, errstr, errstr_size);
        if (err)
            return err;
    }
    return produce(pw->p, r->partition, r->key, r->value, r->value_len,
                   errstr, errstr_size);
}

tt_err_t tt_modelpub_publish(tt_modelpub_t *p, const tt_model_t *m,
                             uint64_t version,
                             const struct tt_modelpub_key *stale,
                             size_t n_stale, struct tt_modelpub_summary *sum,
                             char *errstr, size_t errstr_size)
{
    struct tt_modelpub_summary local;
    struct pub_walk pw;
    uint64_t t0 = tt_time_mono_ns();
    rd_kafka_error_t *e;
    tt_err_t err;

    if (!sum)
        sum = &local;
    memset(sum, 0, sizeof(*sum));
    if (p->dead)
        return tt_errf(TT_ERR_STATE, errstr, errstr_size,
                       "model publisher: unusable after a fatal error");
    memset(&pw, 0, sizeof(pw));
    pw.p = p;
    pw.stale = stale;
    pw.n_stale = n_stale;
    pw.written = calloc(n_stale + 1, sizeof(*pw.written));
    if (!pw.written)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "model publisher: no memory");
    p->delivered = p->failed = 0;
    p->first_error[0] = '\0';
    if (p->txn) {
        e = rd_kafka_begin_transaction(p->rk);
        if (e) {
            err = txn_error(p, e, "begin_transaction", errstr, errstr_size);
            goto out;
        }
    }
    err = tt_modelpub_records(m, version, p->partitions, tt_time_wall_ms(),
                              emit_cb, &pw, sum, errstr, errstr_size);
    if (!err)
        err = flush_all(p, errstr, errstr_size);
    if (!err && p->txn) {
        e = rd_kafka_commit_transaction(p->rk, p->timeout_ms);
        if (e)
            err = txn_error(p, e, "commit_transaction", errstr, errstr_size);
    }
    if (err && p->txn && !p->dead) {
        char ignored[256];

        e = rd_kafka_abort_transaction(p->rk, p->timeout_ms);
        if (e)
            txn_error(p, e, "abort_transaction", ignored, sizeof(ignored));
    }
    sum->tombstones = pw.tombstones;
out:
    free(pw.written);
    sum->seconds = tt_time_secs(t0, tt_time_mono_ns());
    return err;
}

void tt_modelpub_destroy(tt_modelpub_t *p)
{
    if (!p)
        return;
    if (p->rkt)
        rd_kafka_topic_destroy(p->rkt);
    if (p->rk) {
        rd_kafka_flush(p->rk, 1000);
        rd_kafka_destroy(p->rk);
    }
    free(p->topic);
    free(p);
}

tt_err_t tt_modelpub_ensure_topic(const struct tt_conf_kafka *kc,
                                  const char *topic, int partitions,
                                  int *n_partitions, char *errstr,
                                  size_t errstr_size)
{
    static const struct tt_conf_kv cfg[] = {
        {(char *)"cleanup.policy", (char *)"compact"},
        {(char *)"segment.ms", (char *)"3600000"},
    };
    struct tt_topic_spec spec;
    tt_admin_t *admin = NULL;
    int n = 0;
    tt_err_t err;

    err = tt_admin_new(&admin, kc, errstr, errstr_size);
    if (err)
        return err;
    err = tt_admin_partitions(admin, topic, 15000, &n, errstr, errstr_size);
    if (err == TT_ERR_NOTFOUND) {
        memset(&spec, 0, sizeof(spec));
        spec.name = topic;
        spec.partitions = partitions;
        spec.replication = -1;
        spec.configs = cfg;
        spec.n_configs = sizeof(cfg) / sizeof(cfg[0]);
        err = tt_admin_create_topic(admin, &spec, 0, 30000, NULL, errstr,
                                    errstr_size);
        if (!err)
            err = tt_admin_partitions(admin, topic, 15000, &n, errstr,
                                      errstr_size);
    }
    tt_admin_destroy(admin);
    if (!err && n_partitions)
        *n_partitions = n;
    return err;
}
