/*
 * Fuzz harness of the Interaction decoder (schemas/tt_codec.h): any bytes
 * must decode to an error or to a valid event, never crash or read out of
 * bounds; the hand-written decoder and the Avro C reference decoder must
 * agree on every input, and an accepted event must survive a re-encoding.
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

static int same(const struct tt_event *a, const struct tt_event *b)
{
    return a->user_id == b->user_id && a->item_id == b->item_id &&
           a->ts_ms == b->ts_ms && a->category == b->category;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Made once per process: a fuzzer runs millions of inputs. */
    static tt_codec_t *fast, *ref;
    uint8_t buf[TT_CODEC_EVENT_MAX];
    struct tt_event a, b, c;
    tt_err_t ea, eb;
    size_t n;

    if (!fast && (tt_codec_new(&fast, NULL, 0) ||
                  tt_codec_new_ref(&ref, NULL, 0)))
        abort();
    ea = tt_codec_decode_event(fast, data, size, &a, NULL, 0);
    eb = tt_codec_decode_event(ref, data, size, &b, NULL, 0);
    if (ea != eb || (ea == TT_ERR_OK && !same(&a, &b)))
        abort();
    if (ea != TT_ERR_OK)
        return 0;
    if (!tt_event_valid(&a) ||
        tt_codec_encode_event(fast, &a, buf, sizeof(buf), &n, NULL, 0) ||
        tt_codec_decode_event(fast, buf, n, &c, NULL, 0) || !same(&a, &c) ||
        n > size)
        abort();
    return 0;
}
