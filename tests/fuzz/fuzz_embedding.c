/*
 * Fuzz harness of the UserEmbedding decoder (schemas/tt_codec.h): any bytes
 * must decode to an error or to an in-range record, never crash, read out of
 * bounds or write past the caller's float buffer; the hand-written and the
 * Avro C reference decoders must agree bit for bit, and an accepted record
 * must survive a re-encoding.
 *
 * Input: one byte choosing the float buffer size (so the OVERFLOW path is
 * explored too), then the message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/tt_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_options(void);

/* The reference codec keeps its last decoded bytes in Avro C generic values,
 * whose fields Avro C places 4 bytes off pointer alignment; LeakSanitizer
 * only sees aligned pointers unless told otherwise, and would report those
 * buffers (still owned by the codec) as leaked. */
const char *__lsan_default_options(void)
{
    return "use_unaligned=1";
}

static int same(const struct tt_embedding_rec *a,
                const struct tt_embedding_rec *b)
{
    return a->user_id == b->user_id && a->dim == b->dim &&
           memcmp(a->emb, b->emb, 4 * (size_t)a->dim) == 0 &&
           a->model_version == b->model_version && a->cell == b->cell &&
           a->interaction_count == b->interaction_count &&
           a->event_time == b->event_time &&
           a->input_partition == b->input_partition &&
           a->input_offset == b->input_offset;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tt_codec_t *fast, *ref;
    static float ea_emb[TT_CODEC_MAX_DIM], eb_emb[TT_CODEC_MAX_DIM];
    static float ec_emb[TT_CODEC_MAX_DIM];
    static uint8_t buf[TT_CODEC_EMBEDDING_MAX(TT_CODEC_MAX_DIM)];
    struct tt_embedding_rec a, b, c;
    size_t cap, n;
    tt_err_t ea, eb;

    if (!fast && (tt_codec_new(&fast, NULL, 0) ||
                  tt_codec_new_ref(&ref, NULL, 0)))
        abort();
    if (size < 1)
        return 0;
    cap = data[0] < 0x80 ? TT_CODEC_MAX_DIM : data[0] & 0x7f;
    data++;
    size--;
    ea = tt_codec_decode_embedding(fast, data, size, &a, ea_emb, cap, NULL,
                                   0);
    eb = tt_codec_decode_embedding(ref, data, size, &b, eb_emb, cap, NULL, 0);
    if (ea != eb || (ea == TT_ERR_OK && !same(&a, &b)))
        abort();
    if (ea != TT_ERR_OK)
        return 0;
    if (a.dim > cap || a.emb != ea_emb ||
        tt_codec_encode_embedding(fast, &a, buf, sizeof(buf), &n, NULL, 0) ||
        tt_codec_decode_embedding(fast, buf, n, &c, ec_emb, TT_CODEC_MAX_DIM,
                                  NULL, 0) ||
        !same(&a, &c) || n > size)
        abort();
    return 0;
}
