/*
 * tt_ids: a map between arbitrary 64-bit ids and dense uint32 indices
 * 0..count-1, assigned in order of insertion (open addressing, linear
 * probing, power-of-two capacity).
 *
 * Not thread-safe for insertion; lookups on a map nobody modifies may run
 * concurrently.
 */
#ifndef TT_IDS_H
#define TT_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"

typedef struct tt_ids_s tt_ids_t;

/* A map with room for `capacity_hint` ids before it grows.  NULL on OOM. */
tt_ids_t *tt_ids_new(size_t capacity_hint);

/* Frees the map; NULL is a no-op. */
void tt_ids_destroy(tt_ids_t *ids);

/* The index of `id`, inserting it with the next index if new.
 * TT_ERR_RANGE past UINT32_MAX - 1 ids, TT_ERR_NOMEM if growth fails. */
tt_err_t tt_ids_intern(tt_ids_t *ids, int64_t id, uint32_t *index);

/* True and *index set when `id` is present. */
bool tt_ids_find(const tt_ids_t *ids, int64_t id, uint32_t *index);

/* The number of ids. */
uint32_t tt_ids_count(const tt_ids_t *ids);

/* The id at dense index `index` (< count). */
int64_t tt_ids_id(const tt_ids_t *ids, uint32_t index);

/* Bytes the map uses, for memory accounting. */
size_t tt_ids_bytes(const tt_ids_t *ids);

#endif
