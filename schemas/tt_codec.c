/*
 * tt_codec: framing, validation and the hand-written Avro binary codec of the
 * three message schemas.  See tt_codec.h; the reference implementation on
 * Avro C's value API is tt_codec_avro.c.
 *
 * The wire layouts follow the field order of the .avsc files (Avro binary
 * encoding: long/int as zigzag varints, bytes as a long length then the
 * bytes, enum as its index, union as the branch index then the value).
 */
#include "schemas/tt_codec.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_crc32c.h"
#include "schemas/tt_codec_int.h"
#include "schemas/tt_schemas_int.h"

/* ---- start-up self-check of the embedded schemas ---- */

static tt_err_t check_schemas(char *errstr, size_t errstr_size)
{
    char pcf[2048];

    for (int i = 0; i < TT_SCHEMA__COUNT; i++) {
        const struct tt_schema_info *info = tt_schema_get(i);
        avro_schema_t schema;
        size_t n;
        tt_err_t err = tt_schema_parse(i, &schema, errstr, errstr_size);

        if (err)
            return err;
        err = tt_schema_canonical_of(schema, pcf, sizeof(pcf), &n, errstr,
                                     errstr_size);
        avro_schema_decref(schema);
        if (err)
            return err;
        if (strcmp(pcf, info->canonical) != 0 ||
            tt_schema_fingerprint(pcf, n) != info->fingerprint)
            return tt_errf(TT_ERR_VERSION, errstr, errstr_size,
                           "%s: the embedded .avsc no longer has the "
                           "canonical form and fingerprint %016" PRIx64
                           " written down in tt_schema.c (got %s)",
                           info->fullname, info->fingerprint, pcf);
    }
    return TT_ERR_OK;
}

static tt_err_t codec_new(tt_codec_t **codec, bool ref, char *errstr,
                          size_t errstr_size)
{
    tt_codec_t *c;
    tt_err_t err = check_schemas(errstr, errstr_size);

    if (err)
        return err;
    c = calloc(1, sizeof(*c));
    if (!c)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "codec");
    if (ref) {
        err = tt_codec_avro_new(&c->ref, errstr, errstr_size);
        if (err) {
            free(c);
            return err;
        }
    }
    *codec = c;
    return TT_ERR_OK;
}

tt_err_t tt_codec_new(tt_codec_t **codec, char *errstr, size_t errstr_size)
{
    return codec_new(codec, false, errstr, errstr_size);
}

tt_err_t tt_codec_new_ref(tt_codec_t **codec, char *errstr,
                          size_t errstr_size)
{
    return codec_new(codec, true, errstr, errstr_size);
}

void tt_codec_destroy(tt_codec_t *codec)
{
    if (!codec)
        return;
    tt_codec_avro_destroy(codec->ref);
    free(codec);
}

tt_err_t tt_codec_identify(const uint8_t *buf, size_t len,
                           enum tt_schema_id *schema, char *errstr,
                           size_t errstr_size)
{
    struct tt_schema_writer w;
    uint64_t fp;

    if (len < TT_SOE_HEADER || buf[0] != TT_SOE_MAGIC0 ||
        buf[1] != TT_SOE_MAGIC1)
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                       "not an Avro single-object message (%zu bytes)", len);
    fp = tt_wire_get_u64le(buf + 2);
    if (!tt_schema_lookup(fp, &w))
        return tt_errf(TT_ERR_VERSION, errstr, errstr_size,
                       "unknown writer schema fingerprint %016" PRIx64, fp);
    *schema = w.schema;
    return TT_ERR_OK;
}

/* ---- validation shared by encoders and decoders ---- */

static tt_err_t time_check(const char *what, int64_t t, char *errstr,
                           size_t errstr_size)
{
    if (t < TT_EVENT_TS_MIN || t > TT_EVENT_TS_MAX)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "%s %" PRId64 " ms is outside 1970..2200 (seconds "
                       "instead of milliseconds?)",
                       what, t);
    return TT_ERR_OK;
}

tt_err_t tt_codec_event_check(const struct tt_event *ev, char *errstr,
                              size_t errstr_size)
{
    if (ev->user_id < 0)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "Interaction: negative user_id %" PRId64, ev->user_id);
    if (ev->item_id < 0)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "Interaction: negative item_id %" PRId64, ev->item_id);
    if (ev->category < TT_EVENT_NO_CATEGORY)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "Interaction: negative category %d", ev->category);
    if (time_check("Interaction: event_time", ev->ts_ms, errstr,
                   errstr_size))
        return TT_ERR_RANGE;
    /* The checks above are tt_event_valid() spelled out with reasons. */
    return tt_event_valid(ev) ? TT_ERR_OK
                              : tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                                        "Interaction: invalid event");
}

static tt_err_t embedding_check(const struct tt_embedding_rec *r,
                                char *errstr, size_t errstr_size)
{
    const char *bad = NULL;

    if (r->user_id < 0)
        bad = "negative user_id";
    else if (r->dim == 0 || r->dim > TT_CODEC_MAX_DIM)
        bad = "dim outside 1..16384";
    else if (r->model_version < 0)
        bad = "negative model_version";
    else if (r->cell != TT_EMB_ACTIVE && r->cell != TT_EMB_INACTIVE)
        bad = "cell neither ACTIVE nor INACTIVE";
    else if (r->interaction_count < 0)
        bad = "negative interaction_count";
    else if (r->input_partition < -1 || r->input_offset < -1)
        bad = "input_partition/input_offset below -1";
    if (bad)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "UserEmbedding of user %" PRId64 ": %s", r->user_id,
                       bad);
    return time_check("UserEmbedding: event_time", r->event_time, errstr,
                      errstr_size);
}

static tt_err_t modelrec_check(const struct tt_modelrec *r, char *errstr,
                               size_t errstr_size)
{
    if ((unsigned)r->kind >= TT_MODELREC__KINDS || r->model_version < 0 ||
        r->seq < 0)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "ModelRecord: kind %d, version %" PRId64
                       ", seq %d (want a known kind, version >= 0, "
                       "seq >= 0)",
                       (int)r->kind, r->model_version, (int)r->seq);
    if (r->payload_len > TT_MODELREC_MAX_PAYLOAD)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "ModelRecord: payload of %zu bytes exceeds %d",
                       r->payload_len, TT_MODELREC_MAX_PAYLOAD);
    return TT_ERR_OK;
}

static tt_err_t room(const char *what, size_t need, size_t cap, char *errstr,
                     size_t errstr_size)
{
    if (cap < need)
        return tt_errf(TT_ERR_OVERFLOW, errstr, errstr_size,
                       "%s: buffer of %zu bytes, need %zu", what, cap, need);
    return TT_ERR_OK;
}

/* ---- the structural walk of untrusted bodies ---- */

/* A cursor over one body.  The first failure sticks in `err` and turns the
 * later reads into no-ops, so a decoder reads its fields in a row and checks
 * once. */
struct walk {
    const uint8_t *p, *start, *end;
    const char *schema;
    tt_err_t err;
    char *errstr;
    size_t errstr_size;
};

static inline void walk_fail(struct walk *w, const char *field)
{
    if (w->err)
        return;
    w->err = tt_errf(TT_ERR_PARSE, w->errstr, w->errstr_size,
                     "%s: truncated or malformed %s at body byte %zu of %zu",
                     w->schema, field, (size_t)(w->p - w->start),
                     (size_t)(w->end - w->start));
}

static inline int64_t walk_long(struct walk *w, const char *field)
{
    int64_t v = 0;

    if (!w->err && !tt_wire_get_long(&w->p, w->end, &v))
        walk_fail(w, field);
    return v;
}

static inline int32_t walk_int(struct walk *w, const char *field)
{
    int32_t v = 0;

    if (!w->err && !tt_wire_get_int(&w->p, w->end, &v))
        walk_fail(w, field);
    return v;
}

static inline void walk_bytes(struct walk *w, const char *field,
                       const uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (!w->err && !tt_wire_get_bytes(&w->p, w->end, data, len))
        walk_fail(w, field);
}

static tt_err_t walk_done(struct walk *w)
{
    if (!w->err && w->p != w->end)
        w->err = tt_errf(TT_ERR_PARSE, w->errstr, w->errstr_size,
                         "%s: %zu trailing bytes after the record",
                         w->schema, (size_t)(w->end - w->p));
    return w->err;
}

static tt_err_t walk_event(struct walk *w, struct tt_event *ev)
{
    int64_t branch;

    ev->user_id = walk_long(w, "user_id");
    ev->item_id = walk_long(w, "item_id");
    ev->ts_ms = walk_long(w, "event_time");
    branch = walk_long(w, "category branch");
    ev->category = TT_EVENT_NO_CATEGORY;
    if (branch == 1) {
        ev->category = walk_int(w, "category");
        if (!w->err && ev->category < 0)
            return tt_errf(TT_ERR_RANGE, w->errstr, w->errstr_size,
                           "Interaction: negative category %d",
                           ev->category);
    } else if (!w->err && branch != 0) {
        return tt_errf(TT_ERR_PARSE, w->errstr, w->errstr_size,
                       "Interaction: category union branch %" PRId64
                       " (want 0 or 1)",
                       branch);
    }
    if (walk_done(w))
        return w->err;
    return tt_codec_event_check(ev, w->errstr, w->errstr_size);
}

static tt_err_t walk_embedding(struct walk *w, struct tt_embedding_rec *r,
                               float *emb, size_t emb_cap)
{
    const uint8_t *data;
    size_t n;
    int64_t cell;
    int32_t dim;

    r->user_id = walk_long(w, "user_id");
    walk_bytes(w, "embedding", &data, &n);
    if (w->err)
        return w->err;
    /* The float count is checked against the caps before anything else:
     * it decides how much is copied. */
    if (n % 4 != 0 || n / 4 > TT_CODEC_MAX_DIM)
        return tt_errf(TT_ERR_PARSE, w->errstr, w->errstr_size,
                       "UserEmbedding: embedding of %zu bytes is not 1..%d "
                       "floats",
                       n, TT_CODEC_MAX_DIM);
    if (n / 4 > emb_cap)
        return tt_errf(TT_ERR_OVERFLOW, w->errstr, w->errstr_size,
                       "UserEmbedding: %zu floats, buffer holds %zu", n / 4,
                       emb_cap);
    dim = walk_int(w, "dim");
    r->model_version = walk_long(w, "model_version");
    cell = walk_long(w, "cell");
    r->interaction_count = walk_long(w, "interaction_count");
    r->event_time = walk_long(w, "event_time");
    r->input_partition = walk_int(w, "input_partition");
    r->input_offset = walk_long(w, "input_offset");
    if (walk_done(w))
        return w->err;
    if (cell != TT_EMB_ACTIVE && cell != TT_EMB_INACTIVE)
        return tt_errf(TT_ERR_PARSE, w->errstr, w->errstr_size,
                       "UserEmbedding: cell enum index %" PRId64
                       " (want 0 or 1)",
                       cell);
    if (dim < 0 || (size_t)dim != n / 4)
        return tt_errf(TT_ERR_RANGE, w->errstr, w->errstr_size,
                       "UserEmbedding: dim %d disagrees with %zu embedding "
                       "bytes",
                       (int)dim, n);
    r->cell = (uint8_t)cell;
    r->dim = (uint32_t)dim;
    if (embedding_check(r, w->errstr, w->errstr_size) != TT_ERR_OK)
        return TT_ERR_RANGE;
    tt_wire_get_f32s(emb, data, r->dim);
    r->emb = emb;
    return TT_ERR_OK;
}

static tt_err_t walk_modelrec(struct walk *w, struct tt_modelrec *r)
{
    int64_t kind, crc;

    kind = walk_long(w, "kind");
    r->model_version = walk_long(w, "model_version");
    r->seq = walk_int(w, "seq");
    walk_bytes(w, "payload", &r->payload, &r->payload_len);
    crc = walk_long(w, "payload_crc32c");
    if (walk_done(w))
        return w->err;
    if (kind < 0 || kind >= TT_MODELREC__KINDS)
        return tt_errf(TT_ERR_PARSE, w->errstr, w->errstr_size,
                       "ModelRecord: kind enum index %" PRId64, kind);
    if (crc < 0 || crc > UINT32_MAX)
        return tt_errf(TT_ERR_RANGE, w->errstr, w->errstr_size,
                       "ModelRecord: payload_crc32c %" PRId64
                       " is not a 32-bit CRC",
                       crc);
    r->kind = (enum tt_modelrec_kind)kind;
    r->payload_crc32c = (uint32_t)crc;
    return modelrec_check(r, w->errstr, w->errstr_size);
}

static tt_err_t crc_check(const struct tt_modelrec *r, char *errstr,
                          size_t errstr_size)
{
    uint32_t crc = tt_crc32c(0, r->payload, r->payload_len);

    if (crc != r->payload_crc32c)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "ModelRecord %s v%" PRId64 " seq %d: payload CRC-32C "
                       "%08x, record says %08x",
                       tt_modelrec_kind_name(r->kind), r->model_version,
                       (int)r->seq, crc, r->payload_crc32c);
    return TT_ERR_OK;
}

/* Size cap, framing, then a walk positioned on the body. */
static tt_err_t open_body(enum tt_schema_id id, size_t max,
                          const uint8_t *buf, size_t len, struct walk *w,
                          char *errstr, size_t errstr_size)
{
    const struct tt_schema_info *info = tt_schema_get(id);
    const uint8_t *body;
    size_t body_len;
    int version;
    tt_err_t err;

    if (len > max)
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                       "%s: message of %zu bytes exceeds the %zu-byte cap",
                       info->fullname, len, max);
    err = tt_soe_open(buf, len, id, &body, &body_len, &version, errstr,
                      errstr_size);
    if (err)
        return err;
    /* version is 1 for every accepted writer today; a v2 dispatches here. */
    w->p = body;
    w->start = body;
    w->end = body + body_len;
    w->err = TT_ERR_OK;
    w->schema = info->fullname;
    w->errstr = errstr;
    w->errstr_size = errstr_size;
    return TT_ERR_OK;
}

/* ---- events ---- */

tt_err_t tt_codec_encode_event(tt_codec_t *codec, const struct tt_event *ev,
                               uint8_t *buf, size_t cap, size_t *len,
                               char *errstr, size_t errstr_size)
{
    uint8_t *p = buf + TT_SOE_HEADER;
    tt_err_t err;

    err = room("Interaction", TT_CODEC_EVENT_MAX, cap, errstr, errstr_size);
    if (err)
        return err;
    err = tt_codec_event_check(ev, errstr, errstr_size);
    if (err)
        return err;
    tt_soe_put_header(buf, TT_SCHEMA_FP_INTERACTION);
    if (codec->ref) {
        err = tt_codec_avro_encode_event(codec->ref, ev, p,
                                         cap - TT_SOE_HEADER, len, errstr,
                                         errstr_size);
        if (!err)
            *len += TT_SOE_HEADER;
        return err;
    }
    p += tt_wire_put_long(p, ev->user_id);
    p += tt_wire_put_long(p, ev->item_id);
    p += tt_wire_put_long(p, ev->ts_ms);
    if (ev->category == TT_EVENT_NO_CATEGORY) {
        *p++ = 0;
    } else {
        *p++ = 2; /* zigzag(1): the int branch */
        p += tt_wire_put_int(p, ev->category);
    }
    *len = (size_t)(p - buf);
    return TT_ERR_OK;
}

tt_err_t tt_codec_decode_event(tt_codec_t *codec, const uint8_t *buf,
                               size_t len, struct tt_event *out, char *errstr,
                               size_t errstr_size)
{
    struct walk w = {0};
    tt_err_t err;

    err = open_body(TT_SCHEMA_INTERACTION, TT_CODEC_EVENT_MAX, buf, len, &w,
                    errstr, errstr_size);
    if (err)
        return err;
    err = walk_event(&w, out);
    if (err || !codec->ref)
        return err;
    err = tt_codec_avro_decode_event(codec->ref, w.start,
                                     (size_t)(w.end - w.start), out, errstr,
                                     errstr_size);
    if (err)
        return err;
    return tt_codec_event_check(out, errstr, errstr_size);
}

/* ---- embeddings ---- */

tt_err_t tt_codec_encode_embedding(tt_codec_t *codec,
                                   const struct tt_embedding_rec *rec,
                                   uint8_t *buf, size_t cap, size_t *len,
                                   char *errstr, size_t errstr_size)
{
    uint8_t *p = buf + TT_SOE_HEADER;
    size_t nbytes = 4 * (size_t)rec->dim;
    tt_err_t err;

    err = embedding_check(rec, errstr, errstr_size);
    if (err)
        return err;
    err = room("UserEmbedding", TT_CODEC_EMBEDDING_MAX(rec->dim), cap, errstr,
               errstr_size);
    if (err)
        return err;
    if (!rec->emb)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "UserEmbedding: no embedding");
    tt_soe_put_header(buf, TT_SCHEMA_FP_USER_EMBEDDING);
    if (codec->ref) {
        err = tt_codec_avro_encode_embedding(codec->ref, rec, p,
                                             cap - TT_SOE_HEADER, len,
                                             errstr, errstr_size);
        if (!err)
            *len += TT_SOE_HEADER;
        return err;
    }
    p += tt_wire_put_long(p, rec->user_id);
    p += tt_wire_put_long(p, (int64_t)nbytes);
    tt_wire_put_f32s(p, rec->emb, rec->dim);
    p += nbytes;
    p += tt_wire_put_int(p, (int32_t)rec->dim);
    p += tt_wire_put_long(p, rec->model_version);
    p += tt_wire_put_long(p, rec->cell);
    p += tt_wire_put_long(p, rec->interaction_count);
    p += tt_wire_put_long(p, rec->event_time);
    p += tt_wire_put_int(p, rec->input_partition);
    p += tt_wire_put_long(p, rec->input_offset);
    *len = (size_t)(p - buf);
    return TT_ERR_OK;
}

tt_err_t tt_codec_decode_embedding(tt_codec_t *codec, const uint8_t *buf,
                                   size_t len, struct tt_embedding_rec *out,
                                   float *emb, size_t emb_cap, char *errstr,
                                   size_t errstr_size)
{
    struct walk w = {0};
    tt_err_t err;

    err = open_body(TT_SCHEMA_USER_EMBEDDING,
                    TT_CODEC_EMBEDDING_MAX(TT_CODEC_MAX_DIM), buf, len, &w,
                    errstr, errstr_size);
    if (err)
        return err;
    err = walk_embedding(&w, out, emb, emb_cap);
    if (err || !codec->ref)
        return err;
    err = tt_codec_avro_decode_embedding(codec->ref, w.start,
                                         (size_t)(w.end - w.start), out, emb,
                                         emb_cap, errstr, errstr_size);
    if (err)
        return err;
    return embedding_check(out, errstr, errstr_size);
}

/* ---- model records ---- */

tt_err_t tt_codec_encode_modelrec(tt_codec_t *codec,
                                  const struct tt_modelrec *rec, uint8_t *buf,
                                  size_t cap, size_t *len, char *errstr,
                                  size_t errstr_size)
{
    struct tt_modelrec r = *rec;
    uint8_t *p = buf + TT_SOE_HEADER;
    tt_err_t err;

    err = modelrec_check(&r, errstr, errstr_size);
    if (err)
        return err;
    err = room("ModelRecord", TT_CODEC_MODELREC_MAX(r.payload_len), cap,
               errstr, errstr_size);
    if (err)
        return err;
    if (r.payload_len && !r.payload)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "ModelRecord: no payload");
    r.payload_crc32c = tt_crc32c(0, r.payload, r.payload_len);
    tt_soe_put_header(buf, TT_SCHEMA_FP_MODEL_RECORD);
    if (codec->ref) {
        err = tt_codec_avro_encode_modelrec(codec->ref, &r, p,
                                            cap - TT_SOE_HEADER, len, errstr,
                                            errstr_size);
        if (!err)
            *len += TT_SOE_HEADER;
        return err;
    }
    p += tt_wire_put_long(p, r.kind);
    p += tt_wire_put_long(p, r.model_version);
    p += tt_wire_put_int(p, r.seq);
    p += tt_wire_put_long(p, (int64_t)r.payload_len);
    if (r.payload_len)
        memcpy(p, r.payload, r.payload_len);
    p += r.payload_len;
    p += tt_wire_put_long(p, r.payload_crc32c);
    *len = (size_t)(p - buf);
    return TT_ERR_OK;
}

tt_err_t tt_codec_decode_modelrec(tt_codec_t *codec, const uint8_t *buf,
                                  size_t len, struct tt_modelrec *out,
                                  char *errstr, size_t errstr_size)
{
    struct walk w = {0};
    tt_err_t err;

    err = open_body(TT_SCHEMA_MODEL_RECORD,
                    TT_CODEC_MODELREC_MAX(TT_MODELREC_MAX_PAYLOAD), buf, len,
                    &w, errstr, errstr_size);
    if (err)
        return err;
    err = walk_modelrec(&w, out);
    if (err)
        return err;
    if (codec->ref) {
        err = tt_codec_avro_decode_modelrec(codec->ref, w.start,
                                            (size_t)(w.end - w.start), out,
                                            errstr, errstr_size);
        if (err)
            return err;
    }
    return crc_check(out, errstr, errstr_size);
}
