/*
 * tt_codec_avro: the reference codec on Avro C's generic value API, used by
 * tt_codec_new_ref().  One value per schema, one memory reader and one memory
 * writer, all reused.  tt_codec.c validates the input before calling in here,
 * so these functions only translate between the C structs and Avro values;
 * Avro C's own error string is copied into errstr at once.
 */
#include <avro.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/tt_codec_int.h"
#include "schemas/tt_schemas_int.h"

struct tt_codec_avro {
    avro_schema_t schema[TT_SCHEMA__COUNT];
    avro_value_iface_t *iface[TT_SCHEMA__COUNT];
    avro_value_t value[TT_SCHEMA__COUNT];
    bool have_value[TT_SCHEMA__COUNT];
    avro_reader_t reader;
    avro_writer_t writer;
    uint8_t scratch[4 * TT_CODEC_MAX_DIM]; /* embedding bytes, wire order */
};

void tt_codec_avro_destroy(struct tt_codec_avro *ref)
{
    if (!ref)
        return;
    for (int i = 0; i < TT_SCHEMA__COUNT; i++) {
        if (ref->have_value[i])
            avro_value_decref(&ref->value[i]);
        if (ref->iface[i])
            avro_value_iface_decref(ref->iface[i]);
        if (ref->schema[i])
            avro_schema_decref(ref->schema[i]);
    }
    if (ref->reader)
        avro_reader_free(ref->reader);
    if (ref->writer)
        avro_writer_free(ref->writer);
    free(ref);
}

tt_err_t tt_codec_avro_new(struct tt_codec_avro **out, char *errstr,
                           size_t errstr_size)
{
    struct tt_codec_avro *ref = calloc(1, sizeof(*ref));
    tt_err_t err = TT_ERR_OK;

    if (!ref)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "Avro codec");
    for (int i = 0; i < TT_SCHEMA__COUNT && !err; i++) {
        err = tt_schema_parse(i, &ref->schema[i], errstr, errstr_size);
        if (err)
            break;
        ref->iface[i] = avro_generic_class_from_schema(ref->schema[i]);
        if (!ref->iface[i]) {
            err = tt_avro_errf(TT_ERR_NOMEM, errstr, errstr_size,
                               "Avro generic class");
            break;
        }
        if (avro_generic_value_new(ref->iface[i], &ref->value[i]) != 0) {
            err = tt_avro_errf(TT_ERR_NOMEM, errstr, errstr_size,
                               "Avro generic value");
            break;
        }
        ref->have_value[i] = true;
    }
    if (!err) {
        ref->reader = avro_reader_memory(NULL, 0);
        ref->writer = avro_writer_memory(NULL, 0);
        if (!ref->reader || !ref->writer)
            err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                          "Avro memory reader/writer");
    }
    if (err) {
        tt_codec_avro_destroy(ref);
        return err;
    }
    *out = ref;
    return TT_ERR_OK;
}

/* ---- field access; each returns Avro C's error code (0 = OK) ---- */

static int put_long(avro_value_t *rec, size_t i, int64_t v)
{
    avro_value_t f;
    int rc = avro_value_get_by_index(rec, i, &f, NULL);

    return rc ? rc : avro_value_set_long(&f, v);
}

static int put_int(avro_value_t *rec, size_t i, int32_t v)
{
    avro_value_t f;
    int rc = avro_value_get_by_index(rec, i, &f, NULL);

    return rc ? rc : avro_value_set_int(&f, v);
}

static int put_enum(avro_value_t *rec, size_t i, int v)
{
    avro_value_t f;
    int rc = avro_value_get_by_index(rec, i, &f, NULL);

    return rc ? rc : avro_value_set_enum(&f, v);
}

static int put_bytes(avro_value_t *rec, size_t i, const void *p, size_t n)
{
    avro_value_t f;
    int rc = avro_value_get_by_index(rec, i, &f, NULL);

    /* set_bytes copies into the value's buffer, which is reused (grown only
     * when a longer value comes). */
    return rc ? rc : avro_value_set_bytes(&f, (void *)p, n);
}

static int get_long(avro_value_t *rec, size_t i, int64_t *v)
{
    avro_value_t f;
    int rc = avro_value_get_by_index(rec, i, &f, NULL);

    return rc ? rc : avro_value_get_long(&f, v);
}

static int get_int(avro_value_t *rec, size_t i, int32_t *v)
{
    avro_value_t f;
    int rc = avro_value_get_by_index(rec, i, &f, NULL);

    return rc ? rc : avro_value_get_int(&f, v);
}

static int get_enum(avro_value_t *rec, size_t i, int *v)
{
    avro_value_t f;
    int rc = avro_value_get_by_index(rec, i, &f, NULL);

    return rc ? rc : avro_value_get_enum(&f, v);
}

static int get_bytes(avro_value_t *rec, size_t i, const void **p, size_t *n)
{
    avro_value_t f;
    int rc = avro_value_get_by_index(rec, i, &f, NULL);

    return rc ? rc : avro_value_get_bytes(&f, p, n);
}

static tt_err_t write_value(struct tt_codec_avro *ref, enum tt_schema_id id,
                            uint8_t *body, size_t cap, size_t *len,
                            char *errstr, size_t errstr_size)
{
    avro_writer_memory_set_dest(ref->writer, (const char *)body,
                                (int64_t)cap);
    if (avro_value_write(ref->writer, &ref->value[id]) != 0)
        return tt_avro_errf(TT_ERR_OVERFLOW, errstr, errstr_size,
                            "Avro C encoder");
    *len = (size_t)avro_writer_tell(ref->writer);
    return TT_ERR_OK;
}

static tt_err_t read_value(struct tt_codec_avro *ref, enum tt_schema_id id,
                           const uint8_t *body, size_t len, char *errstr,
                           size_t errstr_size)
{
    avro_reader_memory_set_source(ref->reader, (const char *)body,
                                  (int64_t)len);
    if (avro_value_read(ref->reader, &ref->value[id]) != 0)
        return tt_avro_errf(TT_ERR_PARSE, errstr, errstr_size,
                            "Avro C decoder");
    return TT_ERR_OK;
}

/* ---- events ---- */

tt_err_t tt_codec_avro_encode_event(struct tt_codec_avro *ref,
                                    const struct tt_event *ev, uint8_t *body,
                                    size_t cap, size_t *len, char *errstr,
                                    size_t errstr_size)
{
    avro_value_t *v = &ref->value[TT_SCHEMA_INTERACTION];
    avro_value_t f, branch;
    int rc = put_long(v, 0, ev->user_id);

    if (!rc)
        rc = put_long(v, 1, ev->item_id);
    if (!rc)
        rc = put_long(v, 2, ev->ts_ms);
    if (!rc)
        rc = avro_value_get_by_index(v, 3, &f, NULL);
    if (!rc && ev->category == TT_EVENT_NO_CATEGORY) {
        rc = avro_value_set_branch(&f, 0, &branch);
        if (!rc)
            rc = avro_value_set_null(&branch);
    } else if (!rc) {
        rc = avro_value_set_branch(&f, 1, &branch);
        if (!rc)
            rc = avro_value_set_int(&branch, ev->category);
    }
    if (rc)
        return tt_avro_errf(TT_ERR_INVAL, errstr, errstr_size,
                            "Avro C Interaction value");
    return write_value(ref, TT_SCHEMA_INTERACTION, body, cap, len, errstr,
                       errstr_size);
}

tt_err_t tt_codec_avro_decode_event(struct tt_codec_avro *ref,
                                    const uint8_t *body, size_t len,
                                    struct tt_event *out, char *errstr,
                                    size_t errstr_size)
{
    avro_value_t *v = &ref->value[TT_SCHEMA_INTERACTION];
    avro_value_t f, branch;
    int disc = -1;
    tt_err_t err = read_value(ref, TT_SCHEMA_INTERACTION, body, len, errstr,
                              errstr_size);
    int rc;

    if (err)
        return err;
    rc = get_long(v, 0, &out->user_id);
    if (!rc)
        rc = get_long(v, 1, &out->item_id);
    if (!rc)
        rc = get_long(v, 2, &out->ts_ms);
    if (!rc)
        rc = avro_value_get_by_index(v, 3, &f, NULL);
    if (!rc)
        rc = avro_value_get_discriminant(&f, &disc);
    if (!rc && disc == 1) {
        rc = avro_value_get_current_branch(&f, &branch);
        if (!rc)
            rc = avro_value_get_int(&branch, &out->category);
    } else if (!rc) {
        out->category = TT_EVENT_NO_CATEGORY;
    }
    if (rc)
        return tt_avro_errf(TT_ERR_PARSE, errstr, errstr_size,
                            "Avro C Interaction value");
    return TT_ERR_OK;
}

/* ---- embeddings ---- */

tt_err_t tt_codec_avro_encode_embedding(struct tt_codec_avro *ref,
                                        const struct tt_embedding_rec *rec,
                                        uint8_t *body, size_t cap,
                                        size_t *len, char *errstr,
                                        size_t errstr_size)
{
    avro_value_t *v = &ref->value[TT_SCHEMA_USER_EMBEDDING];
    int rc;

    /* The float bits in wire order first; Avro C then copies the bytes. */
    tt_wire_put_f32s(ref->scratch, rec->emb, rec->dim);
    rc = put_long(v, 0, rec->user_id);
    if (!rc)
        rc = put_bytes(v, 1, ref->scratch, 4 * (size_t)rec->dim);
    if (!rc)
        rc = put_int(v, 2, (int32_t)rec->dim);
    if (!rc)
        rc = put_long(v, 3, rec->model_version);
    if (!rc)
        rc = put_enum(v, 4, rec->cell);
    if (!rc)
        rc = put_long(v, 5, rec->interaction_count);
    if (!rc)
        rc = put_long(v, 6, rec->event_time);
    if (!rc)
        rc = put_int(v, 7, rec->input_partition);
    if (!rc)
        rc = put_long(v, 8, rec->input_offset);
    if (rc)
        return tt_avro_errf(TT_ERR_INVAL, errstr, errstr_size,
                            "Avro C UserEmbedding value");
    return write_value(ref, TT_SCHEMA_USER_EMBEDDING, body, cap, len, errstr,
                       errstr_size);
}

tt_err_t tt_codec_avro_decode_embedding(struct tt_codec_avro *ref,
                                        const uint8_t *body, size_t len,
                                        struct tt_embedding_rec *out,
                                        float *emb, size_t emb_cap,
                                        char *errstr, size_t errstr_size)
{
    avro_value_t *v = &ref->value[TT_SCHEMA_USER_EMBEDDING];
    const void *bytes = NULL;
    size_t n = 0;
    int32_t dim = 0;
    int cell = -1;
    tt_err_t err = read_value(ref, TT_SCHEMA_USER_EMBEDDING, body, len,
                              errstr, errstr_size);
    int rc;

    if (err)
        return err;
    rc = get_long(v, 0, &out->user_id);
    if (!rc)
        rc = get_bytes(v, 1, &bytes, &n);
    if (!rc)
        rc = get_int(v, 2, &dim);
    if (!rc)
        rc = get_long(v, 3, &out->model_version);
    if (!rc)
        rc = get_enum(v, 4, &cell);
    if (!rc)
        rc = get_long(v, 5, &out->interaction_count);
    if (!rc)
        rc = get_long(v, 6, &out->event_time);
    if (!rc)
        rc = get_int(v, 7, &out->input_partition);
    if (!rc)
        rc = get_long(v, 8, &out->input_offset);
    if (rc)
        return tt_avro_errf(TT_ERR_PARSE, errstr, errstr_size,
                            "Avro C UserEmbedding value");
    if (dim <= 0 || (size_t)dim != n / 4 || n % 4 || (size_t)dim > emb_cap ||
        (cell != TT_EMB_ACTIVE && cell != TT_EMB_INACTIVE))
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                       "Avro C UserEmbedding value: dim %d, %zu bytes, "
                       "cell %d",
                       (int)dim, n, cell);
    out->dim = (uint32_t)dim;
    out->cell = (uint8_t)cell;
    tt_wire_get_f32s(emb, bytes, out->dim);
    out->emb = emb;
    return TT_ERR_OK;
}

/* ---- model records ---- */

tt_err_t tt_codec_avro_encode_modelrec(struct tt_codec_avro *ref,
                                       const struct tt_modelrec *rec,
                                       uint8_t *body, size_t cap, size_t *len,
                                       char *errstr, size_t errstr_size)
{
    avro_value_t *v = &ref->value[TT_SCHEMA_MODEL_RECORD];
    int rc = put_enum(v, 0, (int)rec->kind);

    if (!rc)
        rc = put_long(v, 1, rec->model_version);
    if (!rc)
        rc = put_int(v, 2, rec->seq);
    if (!rc)
        rc = put_bytes(v, 3, rec->payload ? (const void *)rec->payload : "",
                       rec->payload_len);
    if (!rc)
        rc = put_long(v, 4, rec->payload_crc32c);
    if (rc)
        return tt_avro_errf(TT_ERR_INVAL, errstr, errstr_size,
                            "Avro C ModelRecord value");
    return write_value(ref, TT_SCHEMA_MODEL_RECORD, body, cap, len, errstr,
                       errstr_size);
}

tt_err_t tt_codec_avro_decode_modelrec(struct tt_codec_avro *ref,
                                       const uint8_t *body, size_t len,
                                       struct tt_modelrec *out, char *errstr,
                                       size_t errstr_size)
{
    avro_value_t *v = &ref->value[TT_SCHEMA_MODEL_RECORD];
    const void *payload = NULL;
    int kind = -1;
    int64_t crc = -1;
    tt_err_t err = read_value(ref, TT_SCHEMA_MODEL_RECORD, body, len, errstr,
                              errstr_size);
    int rc;

    if (err)
        return err;
    rc = get_enum(v, 0, &kind);
    if (!rc)
        rc = get_long(v, 1, &out->model_version);
    if (!rc)
        rc = get_int(v, 2, &out->seq);
    if (!rc)
        rc = get_bytes(v, 3, &payload, &out->payload_len);
    if (!rc)
        rc = get_long(v, 4, &crc);
    if (rc)
        return tt_avro_errf(TT_ERR_PARSE, errstr, errstr_size,
                            "Avro C ModelRecord value");
    if (kind < 0 || kind >= TT_MODELREC__KINDS || crc < 0 ||
        crc > UINT32_MAX)
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                       "Avro C ModelRecord value: kind %d", kind);
    out->kind = (enum tt_modelrec_kind)kind;
    out->payload = payload;
    out->payload_crc32c = (uint32_t)crc;
    return TT_ERR_OK;
}
