#include "state/tt_ucache.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"

#define NONE UINT32_MAX
/* Misses collected before one batched store lookup. */
#define MISS_CHUNK 256
#define CAPACITY_MAX (UINT32_C(1) << 24)

struct ent {
    struct tt_user_state s; /* bound to the slabs */
    int64_t user;
    int32_t partition;
    uint32_t hash;
    uint32_t dirty_pos; /* index in c->dirty when dirty */
    uint8_t used;
    uint8_t dirty;
    uint8_t ref; /* CLOCK reference bit */
};

struct tt_ucache_s {
    tt_state_t *st;
    uint32_t cap, dim_max, hist_cap;
    struct ent *ents;
    float *emb_slab;
    struct tt_ustate_item *hist_slab;
    /* Open addressing (linear probing, backward-shift deletion) from
     * (partition, user) to entry; at least twice `cap` buckets, so probes
     * stay short and a free bucket always exists. */
    uint32_t *index;
    uint32_t mask;
    uint32_t *free_list;
    uint32_t n_free;
    uint32_t *dirty;
    uint32_t n_dirty;
    uint32_t hand;
    struct tt_ucache_stats stats;
    int64_t miss_ids[MISS_CHUNK];
    struct tt_user_state *miss_states[MISS_CHUNK];
    tt_err_t miss_status[MISS_CHUNK];
};

static uint32_t hash_key(int32_t partition, int64_t user)
{
    return (uint32_t)tt_rng_mix64((uint64_t)user ^
                                  tt_rng_mix64((uint64_t)(uint32_t)partition));
}

/* The entry of (partition, user), or NONE; *bucket is its bucket, or the
 * empty bucket where it would go. */
static uint32_t find(const tt_ucache_t *c, int32_t partition, int64_t user,
                     uint32_t *bucket)
{
    uint32_t i = hash_key(partition, user) & c->mask;

    for (;; i = (i + 1) & c->mask) {
        uint32_t e = c->index[i];

        if (e == NONE)
            break;
        if (c->ents[e].user == user && c->ents[e].partition == partition) {
            *bucket = i;
            return e;
        }
    }
    *bucket = i;
    return NONE;
}

static void index_remove(tt_ucache_t *c, uint32_t bucket)
{
    uint32_t i = bucket, j = bucket;

    /* Backward shift: move later members of the probe run into the hole
     * unless their home bucket lies cyclically in (i, j]. */
    for (;;) {
        uint32_t k;

        j = (j + 1) & c->mask;
        if (c->index[j] == NONE)
            break;
        k = c->ents[c->index[j]].hash & c->mask;
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        c->index[i] = c->index[j];
        i = j;
    }
    c->index[i] = NONE;
}

static void set_dirty(tt_ucache_t *c, uint32_t e)
{
    if (c->ents[e].dirty)
        return;
    c->ents[e].dirty = 1;
    c->ents[e].dirty_pos = c->n_dirty;
    c->dirty[c->n_dirty++] = e;
}

static void unset_dirty(tt_ucache_t *c, uint32_t e)
{
    uint32_t pos = c->ents[e].dirty_pos, last;

    if (!c->ents[e].dirty)
        return;
    last = c->dirty[--c->n_dirty];
    c->dirty[pos] = last;
    c->ents[last].dirty_pos = pos;
    c->ents[e].dirty = 0;
}

static void evict(tt_ucache_t *c, uint32_t e)
{
    struct ent *x = &c->ents[e];
    uint32_t bucket;

    unset_dirty(c, e);
    if (find(c, x->partition, x->user, &bucket) == e)
        index_remove(c, bucket);
    x->used = 0;
    c->free_list[c->n_free++] = e;
    c->stats.size--;
}

/* A free entry, evicting a clean one in CLOCK order if needed; NONE when
 * every entry is dirty. */
static uint32_t take_slot(tt_ucache_t *c)
{
    if (!c->n_free) {
        for (uint64_t step = 0; step < 2 * (uint64_t)c->cap; step++) {
            uint32_t e = c->hand;

            c->hand = c->hand + 1 == c->cap ? 0 : c->hand + 1;
            if (c->ents[e].dirty)
                continue;
            if (c->ents[e].ref) {
                c->ents[e].ref = 0;
                continue;
            }
            evict(c, e);
            c->stats.evictions++;
            break;
        }
        if (!c->n_free)
            return NONE;
    }
    return c->free_list[--c->n_free];
}

/* Caches a copy of `s` for (partition, user), dirty or clean; NONE when no
 * entry could be had. */
static uint32_t upsert(tt_ucache_t *c, int32_t partition, int64_t user,
                       const struct tt_user_state *s, bool dirty)
{
    uint32_t bucket, e = find(c, partition, user, &bucket);

    if (e == NONE) {
        e = take_slot(c);
        if (e == NONE)
            return NONE;
        /* An eviction may have shifted the probe run. */
        find(c, partition, user, &bucket);
        c->index[bucket] = e;
        c->ents[e].user = user;
        c->ents[e].partition = partition;
        c->ents[e].hash = hash_key(partition, user);
        c->ents[e].used = 1;
        c->ents[e].dirty = 0;
        c->stats.size++;
    }
    tt_ustate_copy(&c->ents[e].s, s);
    c->ents[e].ref = 1;
    if (dirty)
        set_dirty(c, e);
    return e;
}

tt_err_t tt_ucache_new(tt_ucache_t **cp, tt_state_t *st, uint32_t capacity,
                       uint32_t dim_max, uint32_t hist_cap, char *errstr,
                       size_t errstr_size)
{
    tt_ucache_t *c;
    size_t nb = 2;

    *cp = NULL;
    if (capacity < 1 || capacity > CAPACITY_MAX || dim_max < 1 ||
        dim_max > TT_USTATE_DIM_MAX || hist_cap < 1 ||
        hist_cap > TT_USTATE_HIST_MAX)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "user cache: capacity %" PRIu32 " (1..%" PRIu32
                       "), dim %" PRIu32 " or history %" PRIu32
                       " out of range",
                       capacity, CAPACITY_MAX, dim_max, hist_cap);
    while (nb < 2 * (size_t)capacity)
        nb *= 2;
    c = calloc(1, sizeof(*c));
    if (!c)
        goto out_nomem;
    c->st = st;
    c->cap = capacity;
    c->dim_max = dim_max;
    c->hist_cap = hist_cap;
    c->mask = (uint32_t)(nb - 1);
    c->ents = calloc(capacity, sizeof(*c->ents));
    c->emb_slab = calloc((size_t)capacity * dim_max, sizeof(float));
    c->hist_slab = calloc((size_t)capacity * hist_cap,
                          sizeof(struct tt_ustate_item));
    c->index = malloc(nb * sizeof(*c->index));
    c->free_list = malloc((size_t)capacity * sizeof(*c->free_list));
    c->dirty = malloc((size_t)capacity * sizeof(*c->dirty));
    if (!c->ents || !c->emb_slab || !c->hist_slab || !c->index ||
        !c->free_list || !c->dirty)
        goto out_nomem;
    memset(c->index, 0xff, nb * sizeof(*c->index));
    for (uint32_t i = 0; i < capacity; i++) {
        tt_ustate_bind(&c->ents[i].s, c->emb_slab + (size_t)i * dim_max,
                       dim_max, c->hist_slab + (size_t)i * hist_cap,
                       hist_cap);
        /* Popped from the end: entries are used in ascending order. */
        c->free_list[i] = capacity - 1 - i;
    }
    c->n_free = capacity;
    c->stats.capacity = capacity;
    c->stats.bytes =
        sizeof(*c) + nb * sizeof(uint32_t) +
        (size_t)capacity *
            (sizeof(struct ent) + dim_max * sizeof(float) +
             hist_cap * sizeof(struct tt_ustate_item) + 2 * sizeof(uint32_t));
    *cp = c;
    return TT_ERR_OK;

out_nomem:
    tt_ucache_destroy(c);
    return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                   "user cache: no memory for %" PRIu32 " users", capacity);
}

void tt_ucache_destroy(tt_ucache_t *c)
{
    if (!c)
        return;
    free(c->ents);
    free(c->emb_slab);
    free(c->hist_slab);
    free(c->index);
    free(c->free_list);
    free(c->dirty);
    free(c);
}

/* Looks the collected misses up in the store and caches what was found. */
static tt_err_t fetch_misses(tt_ucache_t *c, int32_t partition, size_t m,
                             const size_t *pos, tt_err_t *status,
                             tt_err_t first, char *errstr, size_t errstr_size)
{
    tt_err_t rc;

    rc = tt_state_get_many(c->st, partition, m, c->miss_ids, c->miss_states,
                           c->miss_status, first ? NULL : errstr,
                           first ? 0 : errstr_size);
    if (rc == TT_ERR_INVAL)
        return rc;
    for (size_t i = 0; i < m; i++) {
        status[pos[i]] = c->miss_status[i];
        if (c->miss_status[i] == TT_ERR_OK)
            upsert(c, partition, c->miss_ids[i], c->miss_states[i], false);
    }
    c->stats.misses += m;
    return first ? first : rc;
}

tt_err_t tt_ucache_get_many(tt_ucache_t *c, int32_t partition, size_t n,
                            const int64_t *user_ids,
                            struct tt_user_state *const *states,
                            tt_err_t *status, char *errstr,
                            size_t errstr_size)
{
    size_t pos[MISS_CHUNK], m = 0;
    tt_err_t first = TT_ERR_OK;

    if (partition < 0 || partition > TT_STATE_PARTITION_MAX)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "user cache: partition %" PRId32 " out of range",
                       partition);
    for (size_t i = 0; i < n; i++)
        if (user_ids[i] < 0)
            return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                           "user cache: negative user id %" PRId64,
                           user_ids[i]);
    for (size_t i = 0; i < n; i++) {
        uint32_t bucket, e = find(c, partition, user_ids[i], &bucket);

        if (e != NONE) {
            c->ents[e].ref = 1;
            c->stats.hits++;
            status[i] = tt_ustate_copy(states[i], &c->ents[e].s);
            if (status[i]) {
                tt_ustate_reset(states[i]);
                if (!first)
                    first = tt_errf(status[i], errstr, errstr_size,
                                    "user cache: partition %" PRId32
                                    " user %" PRId64
                                    ": embedding longer than the buffer",
                                    partition, user_ids[i]);
            }
            continue;
        }
        c->miss_ids[m] = user_ids[i];
        c->miss_states[m] = states[i];
        pos[m++] = i;
        if (m == MISS_CHUNK) {
            first = fetch_misses(c, partition, m, pos, status, first, errstr,
                                 errstr_size);
            m = 0;
        }
    }
    if (m)
        first = fetch_misses(c, partition, m, pos, status, first, errstr,
                             errstr_size);
    return first;
}

tt_err_t tt_ucache_put(tt_ucache_t *c, int32_t partition, int64_t user_id,
                       const struct tt_user_state *s, char *errstr,
                       size_t errstr_size)
{
    if (partition < 0 || partition > TT_STATE_PARTITION_MAX || user_id < 0)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "user cache: partition %" PRId32 " or user %" PRId64
                       " out of range",
                       partition, user_id);
    if (s->dim > c->dim_max)
        return tt_errf(TT_ERR_OVERFLOW, errstr, errstr_size,
                       "user cache: embedding of %" PRIu32
                       " floats, entries hold %" PRIu32,
                       s->dim, c->dim_max);
    if (upsert(c, partition, user_id, s, true) == NONE) {
        c->stats.refusals++;
        return tt_errf(TT_ERR_OVERFLOW, errstr, errstr_size,
                       "user cache: all %" PRIu32 " entries hold uncommitted "
                       "states; commit more often or raise state.user_cache",
                       c->cap);
    }
    return TT_ERR_OK;
}

/* Key order of two entries: partition (column family), then user id, which
 * is the order of the user keys inside a family. */
static int ent_order(const void *pa, const void *pb, void *arg)
{
    const struct ent *ents = arg;
    const struct ent *x = &ents[*(const uint32_t *)pa];
    const struct ent *y = &ents[*(const uint32_t *)pb];

    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return (x->user > y->user) - (x->user < y->user);
}

tt_err_t tt_ucache_commit(tt_ucache_t *c, tt_state_batch_t *b, char *errstr,
                          size_t errstr_size)
{
    tt_err_t err = TT_ERR_OK;

    /* RocksDB inserts a batch into each memtable (a skip list) in batch
     * order, each search starting from where the previous insert ended
     * (tt_state sets the insert hint): keys in ascending order need only
     * the lowest levels searched again.  With the hint, callgrind on
     * bench_stream --offline: rocksdb_write 1.73 -> 1.07 G instructions
     * (sorting alone: 1.53 G). */
    qsort_r(c->dirty, c->n_dirty, sizeof(*c->dirty), ent_order, c->ents);
    for (uint32_t k = 0; k < c->n_dirty; k++)
        c->ents[c->dirty[k]].dirty_pos = k;
    for (uint32_t k = 0; k < c->n_dirty && !err; k++) {
        const struct ent *x = &c->ents[c->dirty[k]];

        err = tt_state_batch_put(b, x->partition, x->user, &x->s, errstr,
                                 errstr_size);
    }
    if (err)
        tt_state_batch_clear(b);
    else
        err = tt_state_commit(c->st, b, errstr, errstr_size);
    if (err) {
        tt_ucache_rollback(c);
        return err;
    }
    for (uint32_t k = 0; k < c->n_dirty; k++)
        c->ents[c->dirty[k]].dirty = 0;
    c->n_dirty = 0;
    return TT_ERR_OK;
}

void tt_ucache_rollback(tt_ucache_t *c)
{
    while (c->n_dirty)
        evict(c, c->dirty[c->n_dirty - 1]);
}

void tt_ucache_forget_partition(tt_ucache_t *c, int32_t partition)
{
    for (uint32_t e = 0; e < c->cap; e++)
        if (c->ents[e].used && c->ents[e].partition == partition)
            evict(c, e);
}

tt_err_t tt_ucache_drop_partition(tt_ucache_t *c, int32_t partition,
                                  char *errstr, size_t errstr_size)
{
    tt_ucache_forget_partition(c, partition);
    return tt_state_drop_partition(c->st, partition, errstr, errstr_size);
}

tt_err_t tt_ucache_clear_partition(tt_ucache_t *c, int32_t partition,
                                   char *errstr, size_t errstr_size)
{
    tt_ucache_forget_partition(c, partition);
    return tt_state_clear_partition(c->st, partition, errstr, errstr_size);
}

void tt_ucache_stats(const tt_ucache_t *c, struct tt_ucache_stats *stats)
{
    *stats = c->stats;
    stats->dirty = c->n_dirty;
}
