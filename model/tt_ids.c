#include "model/tt_ids.h"

#include <assert.h>
#include <stdlib.h>

#include "common/tt_rng.h"

/*
 * Slots hold index + 1 (0 = empty) so that a zeroed table is empty; the id
 * itself is read from the dense array, which keeps a slot at 4 bytes: a map
 * costs 8 bytes per id in `id` plus 4-8 bytes per slot (load factor <= 1/2).
 */
struct tt_ids_s {
    uint32_t *slot; /* [cap] index + 1, 0 = empty */
    size_t cap;     /* power of two */
    int64_t *id;    /* [id_cap] id by dense index */
    size_t id_cap;
    uint32_t count;
};

#define TT_IDS_MAX (UINT32_MAX - 1u)

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;

    while (c < n)
        c <<= 1;
    return c;
}

static inline size_t hash_id(int64_t id, size_t mask)
{
    return (size_t)tt_rng_mix64((uint64_t)id) & mask;
}

tt_ids_t *tt_ids_new(size_t capacity_hint)
{
    tt_ids_t *ids = calloc(1, sizeof(*ids));

    if (!ids)
        return NULL;
    if (capacity_hint > TT_IDS_MAX)
        capacity_hint = TT_IDS_MAX;
    ids->cap = pow2_at_least(capacity_hint * 2);
    ids->slot = calloc(ids->cap, sizeof(*ids->slot));
    ids->id_cap = capacity_hint > 16 ? capacity_hint : 16;
    ids->id = malloc(ids->id_cap * sizeof(*ids->id));
    if (!ids->slot || !ids->id) {
        tt_ids_destroy(ids);
        return NULL;
    }
    return ids;
}

void tt_ids_destroy(tt_ids_t *ids)
{
    if (!ids)
        return;
    free(ids->slot);
    free(ids->id);
    free(ids);
}

static tt_err_t rehash(tt_ids_t *ids, size_t new_cap)
{
    uint32_t *slot = calloc(new_cap, sizeof(*slot));
    size_t mask = new_cap - 1;

    if (!slot)
        return TT_ERR_NOMEM;
    for (uint32_t i = 0; i < ids->count; i++) {
        size_t h = hash_id(ids->id[i], mask);

        while (slot[h])
            h = (h + 1) & mask;
        slot[h] = i + 1;
    }
    free(ids->slot);
    ids->slot = slot;
    ids->cap = new_cap;
    return TT_ERR_OK;
}

tt_err_t tt_ids_intern(tt_ids_t *ids, int64_t id, uint32_t *index)
{
    size_t mask = ids->cap - 1;
    size_t h = hash_id(id, mask);
    uint32_t s;

    while ((s = ids->slot[h]) != 0) {
        if (ids->id[s - 1] == id) {
            *index = s - 1;
            return TT_ERR_OK;
        }
        h = (h + 1) & mask;
    }
    if (ids->count >= TT_IDS_MAX)
        return TT_ERR_RANGE;
    if (ids->count == ids->id_cap) {
        size_t nc = ids->id_cap * 2;
        int64_t *p;

        if (nc > TT_IDS_MAX)
            nc = TT_IDS_MAX;
        p = realloc(ids->id, nc * sizeof(*p));
        if (!p)
            return TT_ERR_NOMEM;
        ids->id = p;
        ids->id_cap = nc;
    }
    /* Keep the load factor at most 1/2 so that probes stay short. */
    if ((size_t)(ids->count + 1) * 2 > ids->cap) {
        tt_err_t err = rehash(ids, ids->cap * 2);

        if (err)
            return err;
        mask = ids->cap - 1;
        h = hash_id(id, mask);
        while (ids->slot[h])
            h = (h + 1) & mask;
    }
    ids->id[ids->count] = id;
    ids->slot[h] = ids->count + 1;
    *index = ids->count++;
    return TT_ERR_OK;
}

bool tt_ids_find(const tt_ids_t *ids, int64_t id, uint32_t *index)
{
    size_t mask = ids->cap - 1;
    size_t h = hash_id(id, mask);
    uint32_t s;

    while ((s = ids->slot[h]) != 0) {
        if (ids->id[s - 1] == id) {
            *index = s - 1;
            return true;
        }
        h = (h + 1) & mask;
    }
    return false;
}

uint32_t tt_ids_count(const tt_ids_t *ids)
{
    return ids->count;
}

int64_t tt_ids_id(const tt_ids_t *ids, uint32_t index)
{
    assert(index < ids->count);
    return ids->id[index];
}

size_t tt_ids_bytes(const tt_ids_t *ids)
{
    return sizeof(*ids) + ids->cap * sizeof(*ids->slot) +
           ids->id_cap * sizeof(*ids->id);
}
