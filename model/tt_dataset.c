/*
 * Building a dataset costs 16 bytes per interaction from the first add: ids
 * are interned as they arrive, into provisional indices stored straight in
 * the final user/item/ts arrays (the `staged` array of struct tt_event, 32
 * bytes per event, stays unused).  tt_dataset_finish() then sorts the three
 * arrays by time with a stable LSD radix sort (16 more bytes per interaction,
 * only while sorting, and skipped when the input is already in time order)
 * and renumbers users and items in order of first appearance in the sorted
 * log.  Peak: 32 bytes per interaction plus the id maps.
 */
#include "model/tt_dataset.h"

#include <stdlib.h>
#include <string.h>

/* While building: user[], item[], ts[] hold n_staged provisional entries
 * with room for cap_staged; item_category has room for the next power of two
 * at or above the item count. */

tt_err_t tt_dataset_init(struct tt_dataset *ds)
{
    memset(ds, 0, sizeof(*ds));
    ds->users = tt_ids_new(1024);
    ds->items = tt_ids_new(1024);
    if (!ds->users || !ds->items) {
        tt_dataset_release(ds);
        return TT_ERR_NOMEM;
    }
    return TT_ERR_OK;
}

void tt_dataset_release(struct tt_dataset *ds)
{
    if (!ds)
        return;
    free(ds->user);
    free(ds->item);
    free(ds->ts);
    free(ds->item_category);
    free(ds->staged);
    tt_ids_destroy(ds->users);
    tt_ids_destroy(ds->items);
    memset(ds, 0, sizeof(*ds));
}

static tt_err_t grow_events(struct tt_dataset *ds)
{
    size_t nc = ds->cap_staged < 1024 ? 1024 : ds->cap_staged + ds->cap_staged / 2;
    uint32_t *u, *it;
    int64_t *t;

    /* Each realloc keeps its old block on failure, so a failure part-way
     * leaves arrays of different capacities; cap_staged only grows once all
     * three succeeded, which keeps the invariant "room for cap_staged". */
    u = realloc(ds->user, nc * sizeof(*u));
    if (!u)
        return TT_ERR_NOMEM;
    ds->user = u;
    it = realloc(ds->item, nc * sizeof(*it));
    if (!it)
        return TT_ERR_NOMEM;
    ds->item = it;
    t = realloc(ds->ts, nc * sizeof(*t));
    if (!t)
        return TT_ERR_NOMEM;
    ds->ts = t;
    ds->cap_staged = nc;
    return TT_ERR_OK;
}

/* Room in item_category for index `idx`, the index the next new item would
 * get.  The capacity is max(64, the power of two above the item count), so
 * the array grows when idx is 0 or a power of two from 64 on.  Called before
 * interning, so that a failure leaves nothing half-added. */
static tt_err_t grow_categories(struct tt_dataset *ds, uint32_t idx)
{
    size_t cap;
    int32_t *p;

    if (ds->item_category && (idx < 64 || (idx & (idx - 1)) != 0))
        return TT_ERR_OK;
    cap = idx < 64 ? 64 : (size_t)idx * 2;
    p = realloc(ds->item_category, cap * sizeof(*p));
    if (!p)
        return TT_ERR_NOMEM;
    ds->item_category = p;
    return TT_ERR_OK;
}

tt_err_t tt_dataset_add(struct tt_dataset *ds, const struct tt_event *ev)
{
    uint32_t u, i, n_items;
    tt_err_t err;

    if (ds->finished || !tt_event_valid(ev))
        return TT_ERR_INVAL;
    if (ds->n_staged >= UINT32_MAX)
        return TT_ERR_RANGE; /* sequence positions are uint32 */
    if (ds->n_staged == ds->cap_staged) {
        err = grow_events(ds);
        if (err)
            return err;
    }
    n_items = tt_ids_count(ds->items);
    err = grow_categories(ds, n_items);
    if (err)
        return err;
    err = tt_ids_intern(ds->users, ev->user_id, &u);
    if (err)
        return err;
    err = tt_ids_intern(ds->items, ev->item_id, &i);
    if (err)
        return err;
    if (i == n_items)
        ds->item_category[i] = TT_EVENT_NO_CATEGORY;
    /* An item's category is the first one given for it, in input order. */
    if (ds->item_category[i] == TT_EVENT_NO_CATEGORY)
        ds->item_category[i] = ev->category;
    ds->user[ds->n_staged] = u;
    ds->item[ds->n_staged] = i;
    ds->ts[ds->n_staged] = ev->ts_ms;
    ds->n_staged++;
    return TT_ERR_OK;
}

/* Stable LSD radix sort of (ts, user, item) by ts, 11-bit digits of
 * ts - min.  Returns the arrays in ds, sorted. */
#define RADIX_BITS 11
#define RADIX_SIZE (1u << RADIX_BITS)

static tt_err_t sort_by_time(struct tt_dataset *ds)
{
    size_t n = ds->n_staged;
    int64_t lo, hi;
    uint64_t range;
    int passes = 0;
    uint32_t *u2, *i2;
    int64_t *t2;
    size_t *count;
    bool sorted = true;

    if (n < 2)
        return TT_ERR_OK;
    lo = hi = ds->ts[0];
    for (size_t j = 1; j < n; j++) {
        int64_t t = ds->ts[j];

        if (t < ds->ts[j - 1])
            sorted = false;
        if (t < lo)
            lo = t;
        if (t > hi)
            hi = t;
    }
    if (sorted)
        return TT_ERR_OK;
    range = (uint64_t)(hi - lo);
    while (range) {
        passes++;
        range >>= RADIX_BITS;
    }
    u2 = malloc(n * sizeof(*u2));
    i2 = malloc(n * sizeof(*i2));
    t2 = malloc(n * sizeof(*t2));
    count = malloc(RADIX_SIZE * sizeof(*count));
    if (!u2 || !i2 || !t2 || !count) {
        free(u2);
        free(i2);
        free(t2);
        free(count);
        return TT_ERR_NOMEM;
    }
    for (int p = 0; p < passes; p++) {
        int shift = p * RADIX_BITS;
        size_t sum = 0;

        memset(count, 0, RADIX_SIZE * sizeof(*count));
        for (size_t j = 0; j < n; j++)
            count[((uint64_t)(ds->ts[j] - lo) >> shift) & (RADIX_SIZE - 1)]++;
        for (size_t b = 0; b < RADIX_SIZE; b++) {
            size_t c = count[b];

            count[b] = sum;
            sum += c;
        }
        for (size_t j = 0; j < n; j++) {
            size_t d = count[((uint64_t)(ds->ts[j] - lo) >> shift) &
                             (RADIX_SIZE - 1)]++;

            u2[d] = ds->user[j];
            i2[d] = ds->item[j];
            t2[d] = ds->ts[j];
        }
        /* Swap: the sorted copy becomes the dataset's, the old one scratch. */
        {
            uint32_t *tu = ds->user, *ti = ds->item;
            int64_t *tt = ds->ts;

            ds->user = u2;
            ds->item = i2;
            ds->ts = t2;
            u2 = tu;
            i2 = ti;
            t2 = tt;
        }
    }
    free(u2);
    free(i2);
    free(t2);
    free(count);
    return TT_ERR_OK;
}

/* Renumbers the provisional indices in `idx` (n entries, values < count) in
 * order of first appearance and rebuilds the map `*map` in the new order.
 * `cat`, when not NULL, is the per-index category array to permute. */
static tt_err_t renumber(uint32_t *idx, size_t n, tt_ids_t **map,
                         int32_t *cat)
{
    uint32_t count = tt_ids_count(*map);
    uint32_t *new_of_old = NULL;
    int32_t *cat_old = NULL;
    tt_ids_t *fresh = NULL;
    tt_err_t err = TT_ERR_NOMEM;

    new_of_old = malloc(((size_t)count + 1) * sizeof(*new_of_old));
    fresh = tt_ids_new(count);
    if (cat) {
        cat_old = malloc(((size_t)count + 1) * sizeof(*cat_old));
        if (cat_old)
            memcpy(cat_old, cat, (size_t)count * sizeof(*cat_old));
    }
    if (!new_of_old || !fresh || (cat && !cat_old))
        goto out;
    memset(new_of_old, 0xff, (size_t)count * sizeof(*new_of_old));
    for (size_t j = 0; j < n; j++) {
        uint32_t o = idx[j];

        if (new_of_old[o] == UINT32_MAX) {
            uint32_t k;

            err = tt_ids_intern(fresh, tt_ids_id(*map, o), &k);
            if (err)
                goto out;
            new_of_old[o] = k;
            if (cat)
                cat[k] = cat_old[o];
        }
        idx[j] = new_of_old[o];
    }
    /* Every interned id occurs in some event, so all were renumbered. */
    tt_ids_destroy(*map);
    *map = fresh;
    fresh = NULL;
    err = TT_ERR_OK;
out:
    tt_ids_destroy(fresh);
    free(new_of_old);
    free(cat_old);
    return err;
}

tt_err_t tt_dataset_finish(struct tt_dataset *ds)
{
    tt_err_t err;
    uint32_t n_items;

    if (ds->finished)
        return TT_ERR_INVAL;
    err = sort_by_time(ds);
    if (err)
        return err;
    err = renumber(ds->user, ds->n_staged, &ds->users, NULL);
    if (err)
        return err;
    err = renumber(ds->item, ds->n_staged, &ds->items, ds->item_category);
    if (err)
        return err;
    /* Give back the growth slack. */
    if (ds->n_staged) {
        void *p;

        if ((p = realloc(ds->user, ds->n_staged * sizeof(*ds->user))))
            ds->user = p;
        if ((p = realloc(ds->item, ds->n_staged * sizeof(*ds->item))))
            ds->item = p;
        if ((p = realloc(ds->ts, ds->n_staged * sizeof(*ds->ts))))
            ds->ts = p;
    }
    n_items = tt_ids_count(ds->items);
    ds->n_categories = 0;
    for (uint32_t i = 0; i < n_items; i++)
        if (ds->item_category[i] >= ds->n_categories)
            ds->n_categories = ds->item_category[i] + 1;
    ds->n = ds->n_staged;
    ds->n_staged = 0;
    ds->cap_staged = 0;
    free(ds->staged);
    ds->staged = NULL;
    ds->finished = 1;
    return TT_ERR_OK;
}

uint32_t tt_dataset_n_users(const struct tt_dataset *ds)
{
    return ds->users ? tt_ids_count(ds->users) : 0;
}

uint32_t tt_dataset_n_items(const struct tt_dataset *ds)
{
    return ds->items ? tt_ids_count(ds->items) : 0;
}

/*
 * Boundaries are floor(n * fraction) (fractions taken to 1e-12 relative, so
 * that decimal fractions like 0.7 + 0.1 are not a position short):
 * positions, not times.  Events with the
 * same timestamp may therefore fall on both sides of a boundary (their input
 * order decides); moving the boundary to the end of a run of equal times
 * would make a split depend on the clock's resolution and could empty a
 * part of a coarse log, so ties are left as the fraction puts them.
 */
tt_err_t tt_split_compute(const struct tt_dataset *ds, double train_frac,
                          double valid_frac, struct tt_split *split)
{
    double n = (double)ds->n;

    if (!ds->finished || !(train_frac > 0.0 && train_frac < 1.0) ||
        !(valid_frac >= 0.0 && valid_frac < 1.0) ||
        !(train_frac + valid_frac < 1.0))
        return TT_ERR_INVAL;
    /* The relative nudge makes 10 * (0.7 + 0.1) = 7.999... count as 8. */
    split->train_end = (size_t)(n * train_frac * (1.0 + 1e-12));
    split->valid_end = (size_t)(n * (train_frac + valid_frac) * (1.0 + 1e-12));
    if (split->valid_end > ds->n)
        split->valid_end = ds->n;
    if (split->train_end > split->valid_end)
        split->train_end = split->valid_end;
    return TT_ERR_OK;
}

tt_err_t tt_seqs_build(const struct tt_dataset *ds, size_t begin, size_t end,
                       struct tt_seqs *seqs)
{
    uint32_t nu = tt_dataset_n_users(ds);
    uint64_t *off, *fill;

    memset(seqs, 0, sizeof(*seqs));
    if (!ds->finished || begin > end || end > ds->n)
        return TT_ERR_INVAL;
    if (end > UINT32_MAX)
        return TT_ERR_RANGE;
    off = calloc((size_t)nu + 1, sizeof(*off));
    fill = malloc(((size_t)nu + 1) * sizeof(*fill));
    seqs->pos = malloc((end - begin + 1) * sizeof(*seqs->pos));
    if (!off || !fill || !seqs->pos) {
        free(off);
        free(fill);
        free(seqs->pos);
        seqs->pos = NULL;
        return TT_ERR_NOMEM;
    }
    for (size_t j = begin; j < end; j++)
        off[ds->user[j] + 1]++;
    for (uint32_t u = 0; u < nu; u++)
        off[u + 1] += off[u];
    memcpy(fill, off, ((size_t)nu + 1) * sizeof(*fill));
    /* Walking positions in order keeps each user's sequence in time order. */
    for (size_t j = begin; j < end; j++)
        seqs->pos[fill[ds->user[j]]++] = (uint32_t)j;
    free(fill);
    seqs->off = off;
    seqs->n_users = nu;
    return TT_ERR_OK;
}

void tt_seqs_release(struct tt_seqs *seqs)
{
    if (!seqs)
        return;
    free(seqs->off);
    free(seqs->pos);
    memset(seqs, 0, sizeof(*seqs));
}
