/* Includes the codec and never model/tt_model.h: see tt_senc.h. */
#include "consumers/tt_senc.h"

#include "schemas/tt_codec.h"

tt_err_t tt_senc_new(tt_codec_t **codec, char *errstr, size_t errstr_size)
{
    return tt_codec_new(codec, errstr, errstr_size);
}

void tt_senc_destroy(tt_codec_t *codec)
{
    tt_codec_destroy(codec);
}

size_t tt_senc_embedding_max(uint32_t dim)
{
    return TT_CODEC_EMBEDDING_MAX(dim);
}

tt_err_t tt_senc_decode_event(tt_codec_t *codec, const void *buf, size_t len,
                              struct tt_event *ev, char *errstr,
                              size_t errstr_size)
{
    return tt_codec_decode_event(codec, buf, len, ev, errstr, errstr_size);
}

tt_err_t tt_senc_encode_event(tt_codec_t *codec, const struct tt_event *ev,
                              uint8_t *buf, size_t cap, size_t *len,
                              char *errstr, size_t errstr_size)
{
    return tt_codec_encode_event(codec, ev, buf, cap, len, errstr,
                                 errstr_size);
}

tt_err_t tt_senc_encode_embedding(tt_codec_t *codec,
                                  const struct tt_senc_emb *e, uint8_t *buf,
                                  size_t cap, size_t *len, char *errstr,
                                  size_t errstr_size)
{
    struct tt_embedding_rec rec = {
        .user_id = e->user_id,
        .emb = e->emb,
        .dim = e->dim,
        .model_version = (int64_t)e->model_version,
        .cell = e->active ? TT_EMB_ACTIVE : TT_EMB_INACTIVE,
        .interaction_count = (int64_t)e->count,
        .event_time = e->event_time,
        .input_partition = e->partition,
        .input_offset = e->offset,
    };

    return tt_codec_encode_embedding(codec, &rec, buf, cap, len, errstr,
                                     errstr_size);
}

tt_err_t tt_senc_decode_embedding(tt_codec_t *codec, const void *buf,
                                  size_t len, struct tt_senc_emb *e,
                                  float *emb, size_t cap, char *errstr,
                                  size_t errstr_size)
{
    struct tt_embedding_rec rec;
    tt_err_t err;

    err = tt_codec_decode_embedding(codec, buf, len, &rec, emb, cap, errstr,
                                    errstr_size);
    if (err)
        return err;
    e->user_id = rec.user_id;
    e->emb = emb;
    e->dim = rec.dim;
    e->model_version = (uint64_t)rec.model_version;
    e->active = rec.cell == TT_EMB_ACTIVE;
    e->count = (uint64_t)rec.interaction_count;
    e->event_time = rec.event_time;
    e->partition = rec.input_partition;
    e->offset = rec.input_offset;
    return TT_ERR_OK;
}
