/*
 * Write batches, commit and iterators of tt_state (see state/tt_state.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "state/tt_state_int.h"

struct tt_state_batch_s {
    tt_state_t *st;
    rocksdb_writebatch_t *wb;
    uint8_t *buf; /* encode scratch, grown to the largest record seen */
    size_t cap;
    size_t count;
    bool touched; /* wrote to a partition family since the last clear */
    uint64_t gen; /* st->gen at that first write */
};

struct tt_state_iter_s {
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it; /* NULL: the partition has no family */
    int32_t partition;
    char upper[1];          /* iterate_upper_bound must outlive `it` */
};

tt_err_t tt_state_batch_new(tt_state_batch_t **bp, tt_state_t *st,
                            char *errstr, size_t errstr_size)
{
    tt_state_batch_t *b = calloc(1, sizeof(*b));

    *bp = NULL;
    if (!b || !(b->wb = rocksdb_writebatch_create())) {
        free(b);
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "state: no memory");
    }
    b->st = st;
    *bp = b;
    return TT_ERR_OK;
}

void tt_state_batch_destroy(tt_state_batch_t *b)
{
    if (!b)
        return;
    rocksdb_writebatch_destroy(b->wb);
    free(b->buf);
    free(b);
}

size_t tt_state_batch_count(const tt_state_batch_t *b)
{
    return b->count;
}

void tt_state_batch_clear(tt_state_batch_t *b)
{
    rocksdb_writebatch_clear(b->wb);
    b->count = 0;
    b->touched = false;
}

/* The family of `partition` for a write, remembering the store generation at
 * the first one so that commit can detect a drop in between. */
static tt_err_t batch_cf(tt_state_batch_t *b, int32_t partition, bool create,
                         rocksdb_column_family_handle_t **h, char *errstr,
                         size_t errstr_size)
{
    tt_err_t err = tt_state_part_cf(b->st, partition, create, h, errstr,
                                    errstr_size);

    if (err || !*h)
        return err;
    if (!b->touched) {
        b->touched = true;
        b->gen = b->st->gen;
    }
    return TT_ERR_OK;
}

tt_err_t tt_state_batch_put(tt_state_batch_t *b, int32_t partition,
                            int64_t user_id, const struct tt_user_state *s,
                            char *errstr, size_t errstr_size)
{
    rocksdb_column_family_handle_t *h;
    uint8_t key[TT_USTATE_USER_KEY_SIZE];
    size_t need = TT_USTATE_SIZE_MAX(s->dim, s->hist_len), len;
    tt_err_t err;

    if (user_id < 0)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "state: negative user id %" PRId64, user_id);
    if (need > b->cap && need <= TT_USTATE_RECORD_MAX) {
        uint8_t *nb = malloc(need);

        if (!nb)
            return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                           "state: no memory");
        free(b->buf);
        b->buf = nb;
        b->cap = need;
    }
    err = tt_ustate_encode(s, b->buf, b->cap, &len, errstr, errstr_size);
    if (err)
        return err;
    err = batch_cf(b, partition, true, &h, errstr, errstr_size);
    if (err)
        return err;
    tt_ustate_user_key(key, user_id);
    rocksdb_writebatch_put_cf(b->wb, h, (const char *)key, sizeof(key),
                              (const char *)b->buf, len);
    b->count++;
    return TT_ERR_OK;
}

tt_err_t tt_state_batch_delete(tt_state_batch_t *b, int32_t partition,
                               int64_t user_id, char *errstr,
                               size_t errstr_size)
{
    rocksdb_column_family_handle_t *h;
    uint8_t key[TT_USTATE_USER_KEY_SIZE];
    tt_err_t err;

    if (user_id < 0)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "state: negative user id %" PRId64, user_id);
    /* Nothing to delete in a partition without a family. */
    err = batch_cf(b, partition, false, &h, errstr, errstr_size);
    if (err || !h)
        return err;
    tt_ustate_user_key(key, user_id);
    rocksdb_writebatch_delete_cf(b->wb, h, (const char *)key, sizeof(key));
    b->count++;
    return TT_ERR_OK;
}

tt_err_t tt_state_batch_set_offset(tt_state_batch_t *b, int32_t partition,
                                   int64_t offset, char *errstr,
                                   size_t errstr_size)
{
    rocksdb_column_family_handle_t *h;
    uint8_t key[16], payload[8], val[16];
    size_t klen, vlen;
    tt_err_t err;

    if (offset < -1)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "state: offset %" PRId64 " is negative", offset);
    err = batch_cf(b, partition, true, &h, errstr, errstr_size);
    if (err)
        return err;
    klen = tt_ustate_meta_key("offset", key, sizeof(key));
    tt_state_put_i64(payload, offset);
    tt_ustate_meta_encode(payload, sizeof(payload), val, sizeof(val), &vlen);
    /* Later puts of the same key in one batch win, as in the WAL replay. */
    rocksdb_writebatch_put_cf(b->wb, h, (const char *)key, klen,
                              (const char *)val, vlen);
    b->count++;
    return TT_ERR_OK;
}

tt_err_t tt_state_batch_put_meta(tt_state_batch_t *b, const char *name,
                                 const void *data, size_t len, char *errstr,
                                 size_t errstr_size)
{
    uint8_t key[TT_USTATE_META_NAME_MAX + 1];
    uint8_t val[1 + TT_USTATE_META_PAYLOAD_MAX + TT_USTATE_CRC_SIZE];
    size_t klen = tt_ustate_meta_key(name, key, sizeof(key)), vlen;

    if (!klen)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "state: metadata name must be 1..%u bytes",
                       TT_USTATE_META_NAME_MAX);
    if (tt_ustate_meta_encode(data, len, val, sizeof(val), &vlen))
        return tt_errf(TT_ERR_OVERFLOW, errstr, errstr_size,
                       "state: metadata %s of %zu bytes, at most %u", name,
                       len, TT_USTATE_META_PAYLOAD_MAX);
    rocksdb_writebatch_put_cf(b->wb, b->st->cf_default, (const char *)key,
                              klen, (const char *)val, vlen);
    b->count++;
    return TT_ERR_OK;
}

/* Whether st->path is still the directory the store opened, with the
 * store's LOCK file in it. */
static bool same_dir(const tt_state_t *st)
{
    struct stat sb;
    char lock[4096 + 8];

    if (stat(st->path, &sb) != 0 || sb.st_dev != st->dir_dev ||
        sb.st_ino != st->dir_ino)
        return false;
    snprintf(lock, sizeof(lock), "%s/LOCK", st->path);
    return stat(lock, &sb) == 0 && sb.st_dev == st->lock_dev &&
           sb.st_ino == st->lock_ino;
}

tt_err_t tt_state_commit(tt_state_t *st, tt_state_batch_t *b, char *errstr,
                         size_t errstr_size)
{
    char *rerr = NULL;
    tt_err_t err = TT_ERR_OK;

    if (b->st != st) {
        err = tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                      "state: batch of another store");
    } else if (b->count && !same_dir(st)) {
        err = tt_errf(TT_ERR_STATE, errstr, errstr_size,
                      "state: directory %s was removed or replaced while in "
                      "use: stopping before the store writes into it; "
                      "remove it and restart to restore from the changelog",
                      st->path);
    } else if (b->count &&
               (err = tt_state_space_check(st, errstr, errstr_size))) {
        /* err and errstr set */
    } else if (b->touched && b->gen != st->gen) {
        err = tt_errf(TT_ERR_STATE, errstr, errstr_size,
                      "state: a partition was dropped or cleared while the "
                      "batch was open; batch discarded");
    } else if (b->count) {
        rocksdb_write(st->db, st->wopts, b->wb, &rerr);
        if (rerr)
            err = tt_state_rocks_err(&rerr, errstr, errstr_size,
                                     "state: commit of %zu writes failed",
                                     b->count);
    }
    tt_state_batch_clear(b);
    return err;
}

tt_err_t tt_state_iter_new(tt_state_iter_t **itp, tt_state_t *st,
                           int32_t partition, char *errstr,
                           size_t errstr_size)
{
    rocksdb_column_family_handle_t *h;
    tt_state_iter_t *it;
    const char first = TT_USTATE_KEY_USER;
    tt_err_t err;

    *itp = NULL;
    err = tt_state_part_cf(st, partition, false, &h, errstr, errstr_size);
    if (err)
        return err;
    it = calloc(1, sizeof(*it));
    if (!it || !(it->ro = rocksdb_readoptions_create())) {
        free(it);
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "state: no memory");
    }
    it->partition = partition;
    if (h) {
        /* Users only ('u' <= key < 'v'); a scan must not evict the hot
         * blocks of the stream from the cache. */
        it->upper[0] = TT_USTATE_KEY_USER + 1;
        rocksdb_readoptions_set_iterate_upper_bound(it->ro, it->upper, 1);
        rocksdb_readoptions_set_fill_cache(it->ro, 0);
        it->it = rocksdb_create_iterator_cf(st->db, it->ro, h);
        rocksdb_iter_seek(it->it, &first, 1);
    }
    *itp = it;
    return TT_ERR_OK;
}

tt_err_t tt_state_iter_next(tt_state_iter_t *it, int64_t *user_id,
                            struct tt_user_state *s, char *errstr,
                            size_t errstr_size)
{
    const char *k, *v;
    size_t klen, vlen;
    char *rerr = NULL, msg[256];
    tt_err_t rc;

    if (!it->it)
        return TT_ERR_NOTFOUND;
    if (!rocksdb_iter_valid(it->it)) {
        rocksdb_iter_get_error(it->it, &rerr);
        if (rerr)
            return tt_state_rocks_err(&rerr, errstr, errstr_size,
                                      "state: iteration of partition %" PRId32,
                                      it->partition);
        return TT_ERR_NOTFOUND;
    }
    k = rocksdb_iter_key(it->it, &klen);
    v = rocksdb_iter_value(it->it, &vlen);
    if (!tt_ustate_parse_user_key(k, klen, user_id)) {
        rocksdb_iter_next(it->it);
        tt_ustate_reset(s);
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "state: partition %" PRId32 ": key of %zu bytes is "
                       "not a user key",
                       it->partition, klen);
    }
    rc = tt_ustate_decode(v, vlen, s, msg, sizeof(msg));
    rocksdb_iter_next(it->it);
    if (rc)
        return tt_errf(rc, errstr, errstr_size,
                       "state: partition %" PRId32 " user %" PRId64 ": %s",
                       it->partition, *user_id, msg);
    return TT_ERR_OK;
}

void tt_state_iter_destroy(tt_state_iter_t *it)
{
    if (!it)
        return;
    if (it->it)
        rocksdb_iter_destroy(it->it);
    rocksdb_readoptions_destroy(it->ro);
    free(it);
}
