/*
 * tt_codec: the Kafka messages of twotime, to and from bytes.
 *
 * Every message is one Avro record in single-object encoding (see
 * tt_schema.h): interaction events (Interaction), refreshed user embeddings
 * (UserEmbedding) and model chunks (ModelRecord, payloads in tt_modelrec.h).
 *
 * Two implementations behind one API:
 *   tt_codec_new()      hand-written Avro binary for these fixed schemas:
 *                       the hot path; no allocation per call.
 *   tt_codec_new_ref()  Avro C's generic value API (one reused value per
 *                       schema, one memory reader and writer): the
 *                       reference the first is tested against, and a
 *                       fallback.  Slower, and its decoder allocates for
 *                       bytes fields.
 * Both produce the same bytes and accept the same messages.  Input is
 * untrusted: a decoder first checks the size cap, the magic and the
 * fingerprint, then walks the body checking every length, union index and
 * enum index against what is left before anything is copied (the reference
 * implementation runs this walk before handing bytes to Avro C, whose 1.11
 * decoder trusts lengths).  Errors never abort:
 *   TT_ERR_PARSE     short, wrong magic, truncated, malformed, trailing bytes
 *   TT_ERR_VERSION   unknown writer fingerprint, or another schema's
 *   TT_ERR_RANGE     well-formed but out of range (negative id, absurd
 *                    time, dim mismatch...), and on encode invalid input
 *   TT_ERR_OVERFLOW  the caller's buffer is too small
 *   TT_ERR_CORRUPT   a model record whose payload CRC does not match
 * with the reason in errstr.  On error, outputs are unspecified.
 *
 * Threading: a codec is used by one thread at a time; make one per thread.
 */
#ifndef TT_CODEC_H
#define TT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "common/tt_event.h"
#include "schemas/tt_modelrec.h"
#include "schemas/tt_schema.h"

typedef struct tt_codec_s tt_codec_t;

/* Largest embedding dimension on the wire. */
#define TT_CODEC_MAX_DIM 16384

/* Buffer sizes an encoder needs (worst case: 10-byte header, varints at
 * full length).  Decoders refuse messages longer than these. */
#define TT_CODEC_EVENT_MAX 46
#define TT_CODEC_EMBEDDING_MAX(dim) (76 + 4 * (size_t)(dim))
#define TT_CODEC_MODELREC_MAX(payload_len) (46 + (size_t)(payload_len))

/* The Avro enum io.twotime.Cell, in symbol order. */
enum tt_embedding_cell {
    TT_EMB_ACTIVE = 0,   /* moved by Theta_2 from phi_u */
    TT_EMB_INACTIVE = 1, /* moved by Theta_1 from psi */
};

/* One UserEmbedding message.  Provenance (input_partition, input_offset) is
 * the input record that produced it, or (-1, -1) for none. */
struct tt_embedding_rec {
    int64_t user_id;           /* >= 0 */
    const float *emb;          /* dim floats; decode points it at the
                                  caller's buffer */
    uint32_t dim;              /* 1..TT_CODEC_MAX_DIM */
    int64_t model_version;     /* >= 0 */
    uint8_t cell;              /* enum tt_embedding_cell */
    int64_t interaction_count; /* >= 0 */
    int64_t event_time;        /* ms since the epoch, TT_EVENT_TS_MIN..MAX */
    int32_t input_partition;   /* >= -1 */
    int64_t input_offset;      /* >= -1 */
};

/*
 * Creates the fast codec.  It parses the embedded .avsc files with Avro C and
 * checks that their canonical forms and fingerprints are the ones written
 * down in tt_schema.c (TT_ERR_VERSION if not: the build is inconsistent).
 * The caller owns *codec.
 */
tt_err_t tt_codec_new(tt_codec_t **codec, char *errstr, size_t errstr_size);

/* Creates the reference codec on Avro C's generic value API (same checks). */
tt_err_t tt_codec_new_ref(tt_codec_t **codec, char *errstr,
                          size_t errstr_size);

/* Frees the codec; NULL is a no-op. */
void tt_codec_destroy(tt_codec_t *codec);

/* Which schema a message claims to be, from its header alone (TT_ERR_PARSE
 * for a bad magic, TT_ERR_VERSION for an unknown fingerprint).  For routing
 * mixed input and for dead-letter reasons. */
tt_err_t tt_codec_identify(const uint8_t *buf, size_t len,
                           enum tt_schema_id *schema, char *errstr,
                           size_t errstr_size);

/* Encodes *ev into buf[0..cap) (cap >= TT_CODEC_EVENT_MAX), *len bytes.
 * TT_ERR_RANGE when !tt_event_valid(ev), with the reason. */
tt_err_t tt_codec_encode_event(tt_codec_t *codec, const struct tt_event *ev,
                               uint8_t *buf, size_t cap, size_t *len,
                               char *errstr, size_t errstr_size);

/* Decodes one Interaction message into *out; a null category becomes
 * TT_EVENT_NO_CATEGORY.  Out-of-range events fail with TT_ERR_RANGE. */
tt_err_t tt_codec_decode_event(tt_codec_t *codec, const uint8_t *buf,
                               size_t len, struct tt_event *out, char *errstr,
                               size_t errstr_size);

/* Encodes *rec into buf[0..cap) (cap >= TT_CODEC_EMBEDDING_MAX(rec->dim)). */
tt_err_t tt_codec_encode_embedding(tt_codec_t *codec,
                                   const struct tt_embedding_rec *rec,
                                   uint8_t *buf, size_t cap, size_t *len,
                                   char *errstr, size_t errstr_size);

/* Decodes one UserEmbedding message into *out, its floats (bit-exact) into
 * emb[0..emb_cap), and sets out->emb = emb.  TT_ERR_OVERFLOW when the
 * message has more than emb_cap floats. */
tt_err_t tt_codec_decode_embedding(tt_codec_t *codec, const uint8_t *buf,
                                   size_t len, struct tt_embedding_rec *out,
                                   float *emb, size_t emb_cap, char *errstr,
                                   size_t errstr_size);

/* Encodes *rec (its payload_crc32c is ignored and computed) into buf[0..cap),
 * cap >= TT_CODEC_MODELREC_MAX(rec->payload_len). */
tt_err_t tt_codec_encode_modelrec(tt_codec_t *codec,
                                  const struct tt_modelrec *rec, uint8_t *buf,
                                  size_t cap, size_t *len, char *errstr,
                                  size_t errstr_size);

/* Decodes one ModelRecord message into *out and checks its payload CRC
 * (TT_ERR_CORRUPT).  out->payload points into buf (reference codec: into the
 * codec, valid until its next call). */
tt_err_t tt_codec_decode_modelrec(tt_codec_t *codec, const uint8_t *buf,
                                  size_t len, struct tt_modelrec *out,
                                  char *errstr, size_t errstr_size);

#endif
