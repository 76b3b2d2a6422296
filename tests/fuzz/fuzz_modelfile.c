/*
 * Fuzz harness of the model file loader (tt_model_load_buf).  Any input
 * must be rejected cleanly or load; a loaded model must serialise back to
 * the very same bytes (the format has one encoding per model) and its
 * per-user functions must run without touching memory they do not own.
 * Seed corpus: tests/fuzz/corpus/modelfile (written by
 * `test_model --write-corpus`).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/tt_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tt_model_t *m = NULL;
    char err[256];
    uint8_t *back;
    size_t len;
    struct tt_model_info info;
    struct tt_user_run run;
    float q[TT_MODEL_DIM_MAX];

    if (tt_model_load_buf(&m, data, size, err, sizeof err) != TT_ERR_OK) {
        if (m)
            abort(); /* a failed load must leave *out NULL */
        if (!err[0])
            abort(); /* and say why */
        return 0;
    }
    if (tt_model_save_buf(m, &back, &len) != TT_ERR_OK || len != size ||
        memcmp(back, data, size) != 0)
        abort();
    free(back);
    tt_model_get_info(m, &info);
    tt_model_user_start(m, 7, true, &run);
    for (uint32_t i = 0; i < info.n_items && i < 4; i++)
        tt_model_user_step(m, &run, tt_model_item_at(m, i, NULL));
    tt_model_user_query(m, &run, q);
    (void)tt_model_score(m, q, q);
    {
        /* the window rules over a short history, anchored anywhere */
        const float *xs[8];
        size_t n = 0;

        for (uint32_t i = 0; i < info.n_items && n < 8; i++)
            xs[n++] = i % 3 == 2 ? NULL : tt_model_item_at(m, i, NULL);
        tt_model_user_state_at(m, 7, true, xs, NULL, n, 13, &run);
        (void)tt_model_user_can_step_at(m, &run, 14 + n);
        (void)tt_model_window_start(m, UINT64_MAX);
        tt_model_user_query(m, &run, q);
    }
    tt_model_destroy(m);
    return 0;
}
