/*
 * tt_senc: the stream's messages through the Avro codec (schemas/tt_codec.h),
 * in a translation unit of their own.
 *
 * Why a module: it keeps the stream's hot loop free of the codec's record
 * structs and speaks of the cell as a bool, so consumers/tt_proc.c depends
 * only on the model.
 *
 * Threading: as tt_codec: one codec per thread.
 */
#ifndef TT_SENC_H
#define TT_SENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "common/tt_event.h"

typedef struct tt_codec_s tt_codec_t;

/* One refreshed embedding, as the stream emits it. */
struct tt_senc_emb {
    int64_t user_id;
    const float *emb;       /* dim floats */
    uint32_t dim;
    uint64_t model_version;
    bool active;            /* ACTIVE cell (phi_u + Theta_2) */
    uint64_t count;         /* interactions applied */
    int64_t event_time;     /* ms */
    int32_t partition;      /* input partition, -1 none */
    int64_t offset;         /* input offset, -1 none */
};

/* The fast codec (tt_codec_new). */
tt_err_t tt_senc_new(tt_codec_t **codec, char *errstr, size_t errstr_size);

/* tt_codec_destroy. */
void tt_senc_destroy(tt_codec_t *codec);

/* Bytes an encoded embedding of `dim` floats may take. */
size_t tt_senc_embedding_max(uint32_t dim);

/* tt_codec_decode_event. */
tt_err_t tt_senc_decode_event(tt_codec_t *codec, const void *buf, size_t len,
                              struct tt_event *ev, char *errstr,
                              size_t errstr_size);

/* tt_codec_encode_event. */
tt_err_t tt_senc_encode_event(tt_codec_t *codec, const struct tt_event *ev,
                              uint8_t *buf, size_t cap, size_t *len,
                              char *errstr, size_t errstr_size);

/* Encodes a UserEmbedding message into buf[0..cap). */
tt_err_t tt_senc_encode_embedding(tt_codec_t *codec,
                                  const struct tt_senc_emb *e, uint8_t *buf,
                                  size_t cap, size_t *len, char *errstr,
                                  size_t errstr_size);

/* Decodes a UserEmbedding message, its floats into emb[0..cap). */
tt_err_t tt_senc_decode_embedding(tt_codec_t *codec, const void *buf,
                                  size_t len, struct tt_senc_emb *e,
                                  float *emb, size_t cap, char *errstr,
                                  size_t errstr_size);

#endif
