/*
 * Fuzz harness of the user-state record decoder (state/tt_ustate.h): any
 * bytes must decode to an error or to a state whose re-encoding is the input
 * itself (the format has one encoding per state), and never crash or read out
 * of bounds.  The metadata decoder gets the same bytes.
 *
 * Input: one mode byte, then the record.  Mode bit 0 set: the record's
 * trailing CRC-32C is recomputed before decoding, so that the fuzzer explores
 * the structural checks behind the checksum instead of stopping at it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_crc32c.h"
#include "state/tt_ustate.h"

/* The decoder must never need more than this; a static workspace keeps the
 * harness allocation-free per input. */
#define FUZZ_DIM TT_USTATE_DIM_MAX
#define FUZZ_HIST 256u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static float emb[FUZZ_DIM];
    static struct tt_ustate_item hist[FUZZ_HIST];
    static uint8_t out[TT_USTATE_HEADER_SIZE + 4 * FUZZ_DIM +
                       TT_USTATE_ITEM_SIZE * FUZZ_HIST + TT_USTATE_CRC_SIZE];
    static uint8_t in[sizeof(out)];
    struct tt_user_state s;
    char err[256];
    const uint8_t *payload;
    size_t plen, len;
    tt_err_t rc;

    if (size < 1 || size - 1 > sizeof(in))
        return 0;
    memcpy(in, data + 1, size - 1);
    if ((data[0] & 1) && size - 1 >= TT_USTATE_CRC_SIZE) {
        size_t body = size - 1 - TT_USTATE_CRC_SIZE;
        uint32_t c = tt_crc32c(0, in, body);

        for (int i = 0; i < 4; i++)
            in[body + (size_t)i] = (uint8_t)(c >> (8 * i));
    }
    data = in;
    size--;
    if (tt_ustate_bind(&s, emb, FUZZ_DIM, hist, FUZZ_HIST) != TT_ERR_OK)
        abort();
    rc = tt_ustate_decode(data, size, &s, err, sizeof(err));
    if (rc == TT_ERR_OK) {
        if (s.dim > FUZZ_DIM || s.hist_len > FUZZ_HIST)
            abort();
        if (tt_ustate_encode(&s, out, sizeof(out), &len, err, sizeof(err)) !=
            TT_ERR_OK)
            abort();
        /* Without history truncation the record must round-trip exactly. */
        if (size == len && memcmp(out, data, size) != 0)
            abort();
        if (size < len)
            abort();
    } else if (s.dim != 0 || s.hist_len != 0 || err[0] == '\0') {
        abort(); /* a failed decode leaves a reset state and a message */
    }
    rc = tt_ustate_meta_decode(data, size, &payload, &plen, NULL, 0);
    if (rc == TT_ERR_OK && (payload != data + 1 || plen + 5 != size))
        abort();
    return 0;
}
