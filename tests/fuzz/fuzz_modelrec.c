/*
 * Fuzz harness of the ModelRecord decoder (schemas/tt_codec.h) and of the
 * payload parsers (schemas/tt_modelrec.h): never a crash or an out-of-bounds
 * access; the two codecs agree; every payload a parser accepts is rebuilt
 * byte for byte by the matching builder (one encoding per payload).
 *
 * Input: one mode byte.  Mode bit 0 clear: the rest is a whole message.  Set:
 * the next byte is a kind and the rest a payload, which is first wrapped in a
 * record with a correct CRC, so that the fuzzer reaches the payload parsers
 * instead of stopping at the checksum.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/tt_codec.h"
#include "schemas/tt_modelrec.h"

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

static uint8_t rebuilt[TT_MODELREC_MAX_PAYLOAD];
static float floats[TT_MODELREC_MAX_PAYLOAD / 4];

static void check_payload(enum tt_modelrec_kind kind, const uint8_t *p,
                          size_t len)
{
    struct tt_modelrec_header h;
    struct tt_modelrec_dense d;
    struct tt_modelrec_rows r;
    struct tt_modelrec_commit c;
    struct tt_modelrec_digest dg;
    size_t n = 0;

    switch (kind) {
    case TT_MODELREC_HEADER: {
        static struct tt_modelrec_cutoff cuts[TT_MODELREC_MAX_CUTOFFS];

        if (tt_modelrec_header_parse(p, len, &h, NULL, 0))
            return;
        for (uint32_t i = 0; i < h.n_cutoffs; i++)
            cuts[i] = tt_modelrec_header_cutoff(&h, i);
        h.cutoffs = cuts;
        if (tt_modelrec_header_build(&h, rebuilt, sizeof(rebuilt), &n, NULL,
                                     0))
            abort();
        break;
    }
    case TT_MODELREC_DENSE:
        if (tt_modelrec_dense_parse(p, len, &d, NULL, 0))
            return;
        tt_modelrec_floats_get(floats, d.values, d.count);
        if (tt_modelrec_dense_build(d.name, d.rows, d.cols, d.first, floats,
                                    d.count, rebuilt, sizeof(rebuilt), &n,
                                    NULL, 0))
            abort();
        break;
    case TT_MODELREC_ITEMS:
    case TT_MODELREC_USERS: {
        static int64_t ids[TT_MODELREC_MAX_PAYLOAD / 12];

        if (tt_modelrec_rows_parse(p, len, &r, NULL, 0))
            return;
        for (uint32_t i = 0; i < r.n_rows; i++)
            tt_modelrec_rows_get(&r, i, &ids[i],
                                 floats + (size_t)i * r.row_dim);
        if (tt_modelrec_rows_build(r.row_dim, ids, floats, r.n_rows, rebuilt,
                                   sizeof(rebuilt), &n, NULL, 0))
            abort();
        break;
    }
    default:
        if (tt_modelrec_commit_parse(p, len, &c, NULL, 0))
            return;
        dg.n_records = c.n_records;
        dg.crc = c.digest;
        dg.payload_bytes = c.payload_bytes;
        if (tt_modelrec_commit_build(&dg, rebuilt, sizeof(rebuilt), &n, NULL,
                                     0) ||
            tt_modelrec_commit_check(&dg, &c, NULL, 0))
            abort();
        break;
    }
    if (n != len || memcmp(rebuilt, p, len) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tt_codec_t *fast, *ref;
    static uint8_t msg[TT_CODEC_MODELREC_MAX(TT_MODELREC_MAX_PAYLOAD)];
    struct tt_modelrec a, b;
    tt_err_t ea, eb;

    if (!fast && (tt_codec_new(&fast, NULL, 0) ||
                  tt_codec_new_ref(&ref, NULL, 0)))
        abort();
    if (size < 2)
        return 0;
    if (data[0] & 1) {
        struct tt_modelrec r = {(enum tt_modelrec_kind)(data[1] % 5), 1, 0,
                                data + 2, size - 2, 0};

        if (tt_codec_encode_modelrec(fast, &r, msg, sizeof(msg), &size, NULL,
                                     0))
            return 0; /* payload too long */
        data = msg;
    } else {
        data++;
        size--;
    }
    ea = tt_codec_decode_modelrec(fast, data, size, &a, NULL, 0);
    eb = tt_codec_decode_modelrec(ref, data, size, &b, NULL, 0);
    if (ea != eb)
        abort();
    if (ea != TT_ERR_OK)
        return 0;
    if (a.kind != b.kind || a.model_version != b.model_version ||
        a.seq != b.seq || a.payload_len != b.payload_len ||
        a.payload_crc32c != b.payload_crc32c ||
        (a.payload_len && memcmp(a.payload, b.payload, a.payload_len)))
        abort();
    check_payload(a.kind, a.payload, a.payload_len);
    return 0;
}
