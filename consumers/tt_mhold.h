/*
 * tt_mhold: the model holder of the stream processor, the seam through which
 * new model versions arrive.
 *
 * The stream loop reads the current model (through a tt_proc_view) while it
 * processes a batch and calls tt_mhold_swap() between batches.  Anyone else
 * (today: nobody after start; with retraining: a thread following the model
 * topic) hands over a complete, verified model with tt_mhold_offer(): the
 * offer is checked (a version above the current and any pending one, a
 * dimension the processor supports), its view is built by the offering
 * thread, and it waits as "pending" until the loop's next swap, which is a
 * pointer exchange; the old model is freed there, when nothing reads it any
 * more.  A batch is therefore processed by exactly one model version, every
 * output names it, and users are recomputed under the new version on their
 * next event (tt_proc).
 *
 * Threading: tt_mhold_offer() and tt_mhold_pending_version() from any
 * thread; everything else from the loop's thread.
 */
#ifndef TT_MHOLD_H
#define TT_MHOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "consumers/tt_proc.h"
#include "model/tt_model.h"

typedef struct tt_mhold_s tt_mhold_t;

/* A holder whose current model is *initial (ownership taken, *initial set
 * to NULL).  TT_ERR_RANGE for an unsupported dimension, TT_ERR_NOMEM. */
tt_err_t tt_mhold_new(tt_mhold_t **hp, tt_model_t **initial, char *errstr,
                      size_t errstr_size);

/* Frees the holder, its current and pending models; NULL is a no-op. */
void tt_mhold_destroy(tt_mhold_t *h);

/*
 * Offers a new model version (ownership of *m taken on success, *m set to
 * NULL).  The caller has verified it is complete (tt_model_load* checks the
 * file).  TT_ERR_VERSION when its version is not above the current and the
 * pending one (a replayed or stale publication), TT_ERR_RANGE for an
 * unsupported dimension.  A pending offer not yet swapped in is replaced.
 */
tt_err_t tt_mhold_offer(tt_mhold_t *h, tt_model_t **m, char *errstr,
                        size_t errstr_size);

/* Makes the pending model current, if there is one, and frees the old one.
 * Returns true when it swapped; *old_version (may be NULL) gets the version
 * it replaced. */
bool tt_mhold_swap(tt_mhold_t *h, uint64_t *old_version);

/* The current model's view (borrowed, valid until the next swap). */
const struct tt_proc_view *tt_mhold_view(const tt_mhold_t *h);

/* The version waiting for the next swap, or 0 when none. */
uint64_t tt_mhold_pending_version(tt_mhold_t *h);

#endif
