/*
 * Fuzz harness of the model assembler (consumers/tt_modelsub.h): any
 * sequence of model-topic records, in any order, of any versions, never
 * crashes, leaks or yields a model that does not survive its own file
 * round trip; the buffered bytes go back to zero once a version completes
 * or the assembler is destroyed.
 *
 * Input: records one after another, each
 *     u8 kind (bit 7: a tombstone; kind % 5 otherwise)
 *     u8 version
 *     u16 seq, little-endian
 *     u24 payload length, little-endian (cut at the input's end)
 *     payload
 * Each is wrapped in a ModelRecord with a correct CRC (a record whose
 * version byte is 0xff gets a wrong one), so that the fuzzer reaches the
 * assembly logic and the payload parsers instead of the checksum.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consumers/tt_modelsub.h"
#include "model/tt_model.h"
#include "schemas/tt_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t value[TT_CODEC_MODELREC_MAX(TT_MODELREC_MAX_PAYLOAD)];

static void check_model(tt_model_t *m)
{
    tt_model_t *back = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;

    if (tt_model_save_buf(m, &buf, &len) != TT_ERR_OK)
        abort();
    if (tt_model_load_buf(&back, buf, len, NULL, 0) != TT_ERR_OK)
        abort();
    tt_model_destroy(back);
    free(buf);
    tt_model_destroy(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tt_modelsub_asm_t *a = NULL;
    tt_codec_t *codec = NULL;
    size_t at = 0;

    if (tt_codec_new(&codec, NULL, 0) != TT_ERR_OK ||
        tt_modelsub_asm_new(&a, 0, NULL, 0) != TT_ERR_OK)
        abort();
    while (size - at >= 7) {
        struct tt_modelrec rec;
        struct tt_modelsub_stats st;
        uint8_t kind = data[at], version = data[at + 1];
        size_t len = (size_t)data[at + 4] | (size_t)data[at + 5] << 8 |
                     (size_t)data[at + 6] << 16;
        tt_model_t *m = NULL;
        size_t vlen = 0;
        tt_err_t err;

        memset(&rec, 0, sizeof(rec));
        rec.kind = (enum tt_modelrec_kind)(kind % TT_MODELREC__KINDS);
        rec.model_version = version;
        rec.seq = (int32_t)(data[at + 2] | data[at + 3] << 8);
        at += 7;
        if (len > size - at)
            len = size - at;
        if (len > TT_MODELREC_MAX_PAYLOAD)
            len = TT_MODELREC_MAX_PAYLOAD;
        rec.payload = data + at;
        rec.payload_len = len;
        at += len;
        if (kind & 0x80) {
            err = tt_modelsub_asm_add(a, NULL, 0, &m, NULL, 0);
        } else {
            if (tt_codec_encode_modelrec(codec, &rec, value, sizeof(value),
                                         &vlen, NULL, 0) != TT_ERR_OK)
                continue;
            if (version == 0xff && vlen > 1)
                value[vlen - 1] ^= 0x02; /* the CRC field's last byte */
            err = tt_modelsub_asm_add(a, value, vlen, &m, NULL, 0);
        }
        if (err == TT_ERR_NOMEM)
            abort();
        if (m)
            check_model(m);
        tt_modelsub_asm_stats(a, &st);
        if (st.buffered_bytes > st.peak_buffered_bytes)
            abort();
    }
    tt_modelsub_asm_destroy(a);
    tt_codec_destroy(codec);
    return 0;
}
