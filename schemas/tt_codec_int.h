/*
 * tt_codec_int: the codec handle and the reference implementation on Avro
 * C's generic value API (tt_codec_avro.c), shared inside schemas/ only.
 *
 * tt_codec.c does everything both implementations have in common (size caps,
 * framing, validation, the structural walk of untrusted bytes) and calls the
 * functions below only for input that has already passed that walk.
 */
#ifndef TT_CODEC_INT_H
#define TT_CODEC_INT_H

#include "schemas/tt_codec.h"

struct tt_codec_avro;

/* TT_ERR_RANGE with the reason ("negative user_id 5") unless
 * tt_event_valid(ev); shared with tt_container. */
tt_err_t tt_codec_event_check(const struct tt_event *ev, char *errstr,
                              size_t errstr_size);

struct tt_codec_s {
    struct tt_codec_avro *ref; /* NULL: the hand-written wire codec */
};

/* Parses the schemas and makes the reusable values, reader and writer. */
tt_err_t tt_codec_avro_new(struct tt_codec_avro **ref, char *errstr,
                           size_t errstr_size);

void tt_codec_avro_destroy(struct tt_codec_avro *ref);

/* Encoders write the Avro body to body[0..cap) and set *len.  The input has
 * been validated. */
tt_err_t tt_codec_avro_encode_event(struct tt_codec_avro *ref,
                                    const struct tt_event *ev, uint8_t *body,
                                    size_t cap, size_t *len, char *errstr,
                                    size_t errstr_size);
tt_err_t tt_codec_avro_encode_embedding(struct tt_codec_avro *ref,
                                        const struct tt_embedding_rec *rec,
                                        uint8_t *body, size_t cap,
                                        size_t *len, char *errstr,
                                        size_t errstr_size);
tt_err_t tt_codec_avro_encode_modelrec(struct tt_codec_avro *ref,
                                       const struct tt_modelrec *rec,
                                       uint8_t *body, size_t cap, size_t *len,
                                       char *errstr, size_t errstr_size);

/* Decoders read a body that the structural walk has accepted, so every
 * length in it is known to be sane.  The embedding decoder writes the floats
 * to emb (emb_cap already checked); the model record decoder points
 * out->payload into body. */
tt_err_t tt_codec_avro_decode_event(struct tt_codec_avro *ref,
                                    const uint8_t *body, size_t len,
                                    struct tt_event *out, char *errstr,
                                    size_t errstr_size);
tt_err_t tt_codec_avro_decode_embedding(struct tt_codec_avro *ref,
                                        const uint8_t *body, size_t len,
                                        struct tt_embedding_rec *out,
                                        float *emb, size_t emb_cap,
                                        char *errstr, size_t errstr_size);
tt_err_t tt_codec_avro_decode_modelrec(struct tt_codec_avro *ref,
                                       const uint8_t *body, size_t len,
                                       struct tt_modelrec *out, char *errstr,
                                       size_t errstr_size);

#endif
