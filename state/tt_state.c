#include "state/tt_state.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "state/tt_state_int.h"

#define MB (UINT64_C(1) << 20)

void tt_state_put_i64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;

    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(u >> (8 * i));
}

int64_t tt_state_get_i64(const uint8_t *p)
{
    uint64_t u = 0;

    for (int i = 7; i >= 0; i--)
        u = (u << 8) | p[i];
    return (int64_t)u;
}

tt_err_t tt_state_rocks_err(char **msg, char *errstr, size_t errstr_size,
                            const char *fmt, ...)
{
    char ctx[512];
    const char *m = *msg ? *msg : "unknown RocksDB error";
    tt_err_t code = TT_ERR_STATE;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    /* RocksDB reports a held LOCK file as an "IO error"; it is not one, and
     * the operator needs to hear "locked". */
    if (strstr(m, "lock") || strstr(m, "LOCK")) {
        tt_errf(TT_ERR_STATE, errstr, errstr_size,
                "%s: the store is locked (in use by another process or "
                "another handle of this one): %s",
                ctx, m);
    } else {
        if (strncmp(m, "IO error", 8) == 0)
            code = TT_ERR_IO;
        else if (strncmp(m, "Corruption", 10) == 0)
            code = TT_ERR_CORRUPT;
        tt_errf(code, errstr, errstr_size, "%s: %s", ctx, m);
    }
    free(*msg);
    *msg = NULL;
    return code;
}

/* "p<N>" with N in 0..TT_STATE_PARTITION_MAX, no sign or leading zeros. */
static bool parse_cf_name(const char *name, int32_t *partition)
{
    char *end;
    long v;

    if (name[0] != 'p' || name[1] < '0' || name[1] > '9' ||
        (name[1] == '0' && name[2] != '\0'))
        return false;
    errno = 0;
    v = strtol(name + 1, &end, 10);
    if (errno || *end != '\0' || v < 0 || v > TT_STATE_PARTITION_MAX)
        return false;
    *partition = (int32_t)v;
    return true;
}

static bool partition_valid(int32_t partition)
{
    return partition >= 0 && partition <= TT_STATE_PARTITION_MAX;
}

/* Makes parts[] long enough for `partition`; allocates only when a new
 * partition appears, never on the hot path. */
static tt_err_t grow_parts(tt_state_t *st, int32_t partition)
{
    size_t need = (size_t)partition + 1, len = st->parts_len;
    rocksdb_column_family_handle_t **p, **old;

    if (need <= len)
        return TT_ERR_OK;
    len = len ? len : 16;
    while (len < need)
        len *= 2;
    if (len > (size_t)TT_STATE_PARTITION_MAX + 1)
        len = (size_t)TT_STATE_PARTITION_MAX + 1;
    /* Not realloc: a stats reader may be walking the old table. */
    p = calloc(len, sizeof(*p));
    if (!p)
        return TT_ERR_NOMEM;
    if (st->parts_len)
        memcpy(p, st->parts, st->parts_len * sizeof(*p));
    pthread_mutex_lock(&st->lock);
    old = st->parts;
    st->parts = p;
    st->parts_len = len;
    pthread_mutex_unlock(&st->lock);
    free(old);
    return TT_ERR_OK;
}

tt_err_t tt_state_part_cf(tt_state_t *st, int32_t partition, bool create,
                          rocksdb_column_family_handle_t **h, char *errstr,
                          size_t errstr_size)
{
    char name[16], *rerr = NULL;
    rocksdb_column_family_handle_t *cf;

    *h = NULL;
    if (!partition_valid(partition))
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "state: partition %" PRId32 " outside 0..%d",
                       partition, TT_STATE_PARTITION_MAX);
    if ((size_t)partition < st->parts_len && st->parts[partition]) {
        *h = st->parts[partition];
        return TT_ERR_OK;
    }
    if (!create)
        return TT_ERR_OK;
    if (tt_state_space_check(st, errstr, errstr_size))
        return TT_ERR_STATE;
    if (grow_parts(st, partition) != TT_ERR_OK)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "state: no memory for partition %" PRId32, partition);
    snprintf(name, sizeof(name), "p%" PRId32, partition);
    cf = rocksdb_create_column_family(st->db, st->opts, name, &rerr);
    if (rerr)
        return tt_state_rocks_err(&rerr, errstr, errstr_size,
                                  "state: cannot create column family %s",
                                  name);
    pthread_mutex_lock(&st->lock);
    st->parts[partition] = cf;
    st->n_partitions++;
    pthread_mutex_unlock(&st->lock);
    *h = cf;
    return TT_ERR_OK;
}

/* Options the C API has no setter for, by name. */
#define HINT_OPTIONS                                                           \
    "memtable_insert_with_hint_prefix_extractor=rocksdb.FixedPrefix.1"

static tt_err_t set_options(tt_state_t *st, const struct tt_conf_state *conf,
                            char *errstr, size_t errstr_size)
{
    uint64_t wb = (uint64_t)conf->write_buffer_mb * MB;
    uint64_t per_cf = wb / 2 > MB ? wb / 2 : MB;
    rocksdb_options_t *o = st->opts;
    char *rerr = NULL;

    /* Memtable inserts keep a hint of where the last key with the same
     * first byte went (all user keys start with 'u') and, for a key after
     * it, search again only the skip-list levels the hint does not cover
     * (without it RocksDB searches from the top whenever the key is not
     * next to the previous one).  The write-back cache writes each commit's
     * users in key order (tt_ucache_commit).  Callgrind, bench_stream
     * --offline: memtable inserts 1.27 -> 0.79 G instructions. */
    rocksdb_get_options_from_string(o, HINT_OPTIONS, o, &rerr);
    if (rerr)
        return tt_state_rocks_err(&rerr, errstr, errstr_size,
                                  "state: options %s", HINT_OPTIONS);

    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_create_missing_column_families(o, 1);
    /* One budget for the memtables of all column families together, so that
     * memory does not grow with the number of partitions; a family may use
     * half of it before the largest is flushed. */
    rocksdb_options_set_db_write_buffer_size(o, (size_t)wb);
    rocksdb_options_set_write_buffer_size(o, (size_t)per_cf);
    rocksdb_options_set_max_write_buffer_number(o, 2);
    /* The WAL cannot be recycled until every family has flushed; bound it so
     * that an idle partition forces a flush instead of growing the log. */
    rocksdb_options_set_max_total_wal_size(o, 4 * wb);
    rocksdb_options_set_wal_recovery_mode(o, rocksdb_point_in_time_recovery);
    rocksdb_options_set_max_background_jobs(o, 2);
    rocksdb_options_set_level_compaction_dynamic_level_bytes(o, 1);
    /* No block compression: values are float embeddings and varints, which
     * LZ4 did not shrink at all (162.8 vs 163.0 MB for 200k users) while
     * costing ~10% of the CPU per user (bench/bench_state.c). */
    rocksdb_options_set_compression(o, rocksdb_no_compression);
    rocksdb_options_set_keep_log_file_num(o, 3);
    /* Only fatal messages in RocksDB's info LOG: Debian's librocksdb 7.8 is
     * built with assertions, and a second write to a LOG file whose write
     * failed (a full disk) aborts the process (WritableFileWriter::
     * AssertFalseAndGetStatusForPrevError) instead of returning the error;
     * test_fault_state disk_full. */
    rocksdb_options_set_info_log_level(o, 4 /* FATAL_LEVEL */);
    rocksdb_options_set_max_log_file_size(o, 8 * MB);
    /* A bloom filter over each memtable's whole keys: the lookup of a user
     * absent from a memtable, most of them, skips the skip-list search
     * (callgrind, bench_stream --offline: memtable reads 0.80 -> 0.40 G
     * instructions).  0.5% of the write buffer: 84 KB for the 16 MB
     * default, ~40 bits per user record of 1 KB; every open partition's
     * memtable has one. */
    rocksdb_options_set_memtable_whole_key_filtering(o, 1);
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(o, 0.005);

    /* Bloom filters (10 bits/key, ~1% false positives) make the lookup of a
     * new user, the common case for inactive users, cost no data block
     * read.  Filters and indexes live in the block cache, so cache_mb bounds
     * them too. */
    rocksdb_block_based_options_set_block_cache(st->bbto, st->cache);
    rocksdb_block_based_options_set_filter_policy(
        st->bbto, rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(st->bbto, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(
        st->bbto, 1);
    rocksdb_block_based_options_set_format_version(st->bbto, 5);
    rocksdb_options_set_block_based_table_factory(o, st->bbto);
    return TT_ERR_OK;
}

tt_err_t tt_state_space_check(const tt_state_t *st, char *errstr,
                              size_t errstr_size)
{
    struct statvfs vfs;
    uint64_t avail;

    if (statvfs(st->path, &vfs) != 0)
        return TT_ERR_OK; /* the write itself will say what is wrong */
    avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    if (avail >= st->reserve)
        return TT_ERR_OK;
    return tt_errf(TT_ERR_STATE, errstr, errstr_size,
                   "state: no space left on device for %s: %" PRIu64
                   " MB free, the store keeps %" PRIu64
                   " MB in reserve; stopping (free space and restart)",
                   st->path, avail / MB, st->reserve / MB);
}

/* Whether dir holds files a RocksDB store writes (tables, logs, a
 * manifest): such a directory without CURRENT is a damaged store, and
 * opening it as a new one could replay its logs. */
static bool has_store_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool found = false;

    if (!d)
        return false;
    while (!found && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);

        found = (n > 4 && (strcmp(e->d_name + n - 4, ".sst") == 0 ||
                           strcmp(e->d_name + n - 4, ".log") == 0)) ||
                strncmp(e->d_name, "MANIFEST-", 9) == 0;
    }
    closedir(d);
    return found;
}

static tt_err_t open_db(tt_state_t *st, char *errstr, size_t errstr_size)
{
    static const char *const fresh[] = {"default"};
    char current[4096], *rerr = NULL;
    char **names = NULL;
    const char *const *use = fresh;
    size_t n = 1;
    const rocksdb_options_t **cfopts = NULL;
    rocksdb_column_family_handle_t **h = NULL;
    struct stat sb;
    tt_err_t err = TT_ERR_OK;

    /* A directory without CURRENT holds no database yet: open it with the
     * default family only.  Otherwise every family must be reopened. */
    snprintf(current, sizeof(current), "%s/CURRENT", st->path);
    if (stat(current, &sb) != 0 && has_store_files(st->path))
        return tt_errf(TT_ERR_STATE, errstr, errstr_size,
                       "state: %s holds store files but no database "
                       "(CURRENT is missing: the directory was removed or "
                       "damaged while in use): remove it to restore from "
                       "the changelog",
                       st->path);
    if (stat(current, &sb) == 0) {
        names = rocksdb_list_column_families(st->opts, st->path, &n, &rerr);
        if (rerr)
            return tt_state_rocks_err(&rerr, errstr, errstr_size,
                                      "state: cannot list column families of "
                                      "%s",
                                      st->path);
        use = (const char *const *)names;
    }
    cfopts = calloc(n, sizeof(*cfopts));
    h = calloc(n, sizeof(*h));
    st->other = calloc(n, sizeof(*st->other));
    if (!cfopts || !h || !st->other) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "state: no memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        cfopts[i] = st->opts;
    st->db = rocksdb_open_column_families(st->opts, st->path, (int)n, use,
                                          cfopts, h, &rerr);
    if (rerr) {
        st->db = NULL;
        err = tt_state_rocks_err(&rerr, errstr, errstr_size,
                                 "state: cannot open %s", st->path);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t p;

        if (strcmp(use[i], "default") == 0) {
            st->cf_default = h[i];
        } else if (parse_cf_name(use[i], &p) && grow_parts(st, p) == 0 &&
                   !st->parts[p]) {
            st->parts[p] = h[i];
            st->n_partitions++;
        } else {
            st->other[st->n_other++] = h[i];
        }
    }
out:
    if (names)
        rocksdb_list_column_families_destroy(names, n);
    free(cfopts);
    free(h);
    return err;
}

/* Checks (or, in a new store, writes) the store format marker. */
static tt_err_t check_format(tt_state_t *st, char *errstr, size_t errstr_size)
{
    uint8_t buf[8], key[TT_USTATE_META_NAME_MAX + 1], val[16];
    size_t len = 0, klen, vlen;
    char *rerr = NULL;
    tt_err_t err;
    uint32_t fmt;

    err = tt_state_get_meta(st, "format", buf, sizeof(buf), &len, errstr,
                            errstr_size);
    if (err == TT_ERR_NOTFOUND) {
        buf[0] = TT_STATE_FORMAT;
        buf[1] = buf[2] = buf[3] = 0;
        klen = tt_ustate_meta_key("format", key, sizeof(key));
        tt_ustate_meta_encode(buf, 4, val, sizeof(val), &vlen);
        rocksdb_put_cf(st->db, st->wopts, st->cf_default, (const char *)key,
                       klen, (const char *)val, vlen, &rerr);
        if (rerr)
            return tt_state_rocks_err(&rerr, errstr, errstr_size,
                                      "state: cannot write the format of %s",
                                      st->path);
        return TT_ERR_OK;
    }
    if (err)
        return err;
    fmt = len == 4 ? (uint32_t)buf[0] | (uint32_t)buf[1] << 8 |
                         (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 24
                   : 0;
    if (fmt != TT_STATE_FORMAT)
        return tt_errf(TT_ERR_VERSION, errstr, errstr_size,
                       "state: %s has store format %u, this build reads %d",
                       st->path, fmt, TT_STATE_FORMAT);
    return TT_ERR_OK;
}

tt_err_t tt_state_new(tt_state_t **stp, const struct tt_conf_state *conf,
                      char *errstr, size_t errstr_size)
{
    tt_state_t *st;
    tt_err_t err;

    *stp = NULL;
    if (!conf->path || !conf->path[0])
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "state: path is empty");
    if (strlen(conf->path) > 4000)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "state: path is too long");
    if (conf->cache_mb < 1 || conf->cache_mb > 1 << 20 ||
        conf->write_buffer_mb < 1 || conf->write_buffer_mb > 1 << 16)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "state: cache_mb %d or write_buffer_mb %d out of range",
                       conf->cache_mb, conf->write_buffer_mb);
    st = calloc(1, sizeof(*st));
    if (!st)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "state: no memory");
    pthread_mutex_init(&st->lock, NULL);
    st->path = strdup(conf->path);
    st->opts = rocksdb_options_create();
    st->bbto = rocksdb_block_based_options_create();
    st->cache = rocksdb_cache_create_lru((size_t)conf->cache_mb * MB);
    st->ropts = rocksdb_readoptions_create();
    st->wopts = rocksdb_writeoptions_create();
    st->keys = calloc(TT_STATE_GET_CHUNK, sizeof(*st->keys));
    st->keyp = calloc(TT_STATE_GET_CHUNK, sizeof(*st->keyp));
    st->ksz = calloc(TT_STATE_GET_CHUNK, sizeof(*st->ksz));
    st->vals = calloc(TT_STATE_GET_CHUNK, sizeof(*st->vals));
    st->errs = calloc(TT_STATE_GET_CHUNK, sizeof(*st->errs));
    st->order = calloc(TT_STATE_GET_CHUNK, sizeof(*st->order));
    st->pos = calloc(TT_STATE_GET_CHUNK, sizeof(*st->pos));
    if (!st->path || !st->opts || !st->bbto || !st->cache || !st->ropts ||
        !st->wopts || !st->keys || !st->keyp || !st->ksz || !st->vals ||
        !st->errs || !st->order || !st->pos) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "state: no memory");
        goto out_destroy;
    }
    for (size_t i = 0; i < TT_STATE_GET_CHUNK; i++) {
        st->keyp[i] = (const char *)st->keys[i];
        st->ksz[i] = TT_USTATE_USER_KEY_SIZE;
    }
    rocksdb_writeoptions_set_sync(st->wopts, 0);
    err = set_options(st, conf, errstr, errstr_size);
    if (err)
        goto out_destroy;
    /* Room for two memtables to flush, plus logs and manifest. */
    st->reserve = 2 * (uint64_t)conf->write_buffer_mb * MB + 4 * MB;
    if (mkdir(st->path, 0755) != 0 && errno != EEXIST) {
        err = tt_errf(TT_ERR_IO, errstr, errstr_size, "state: %s: %s",
                      st->path, strerror(errno));
        goto out_destroy;
    }
    err = tt_state_space_check(st, errstr, errstr_size);
    if (err)
        goto out_destroy;
    err = open_db(st, errstr, errstr_size);
    if (err)
        goto out_destroy;
    err = check_format(st, errstr, errstr_size);
    if (err)
        goto out_destroy;
    {
        struct stat sb;
        char lock[4096 + 8];

        if (stat(st->path, &sb) != 0) {
            err = tt_errf(TT_ERR_IO, errstr, errstr_size, "state: %s: %s",
                          st->path, strerror(errno));
            goto out_destroy;
        }
        st->dir_dev = sb.st_dev;
        st->dir_ino = sb.st_ino;
        snprintf(lock, sizeof(lock), "%s/LOCK", st->path);
        if (stat(lock, &sb) != 0) {
            err = tt_errf(TT_ERR_IO, errstr, errstr_size, "state: %s: %s",
                          lock, strerror(errno));
            goto out_destroy;
        }
        st->lock_dev = sb.st_dev;
        st->lock_ino = sb.st_ino;
    }
    *stp = st;
    return TT_ERR_OK;

out_destroy:
    tt_state_destroy(st);
    return err;
}

void tt_state_destroy(tt_state_t *st)
{
    if (!st)
        return;
    if (st->db) {
        for (size_t i = 0; i < st->parts_len; i++)
            if (st->parts[i])
                rocksdb_column_family_handle_destroy(st->parts[i]);
        for (size_t i = 0; i < st->n_other; i++)
            rocksdb_column_family_handle_destroy(st->other[i]);
        if (st->cf_default)
            rocksdb_column_family_handle_destroy(st->cf_default);
        rocksdb_close(st->db);
    }
    /* The options hold references to the cache and filter; the database
     * is closed, so they can go. */
    if (st->wopts)
        rocksdb_writeoptions_destroy(st->wopts);
    if (st->ropts)
        rocksdb_readoptions_destroy(st->ropts);
    if (st->opts)
        rocksdb_options_destroy(st->opts);
    if (st->bbto)
        rocksdb_block_based_options_destroy(st->bbto);
    if (st->cache)
        rocksdb_cache_destroy(st->cache);
    free(st->parts);
    free(st->other);
    free(st->keys);
    free(st->keyp);
    free(st->ksz);
    free(st->vals);
    free(st->errs);
    free(st->order);
    free(st->pos);
    free(st->path);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* Decodes one found value; on error the message names the user. */
static tt_err_t decode_found(const char *v, size_t vlen, int32_t partition,
                             int64_t user_id, struct tt_user_state *s,
                             bool first, char *errstr, size_t errstr_size)
{
    char msg[256];
    tt_err_t rc = tt_ustate_decode(v, vlen, s, msg, sizeof(msg));

    if (rc && first)
        tt_errf(rc, errstr, errstr_size,
                "state: partition %" PRId32 " user %" PRId64 ": %s",
                partition, user_id, msg);
    return rc;
}

/* Order of two request indices by user id, then index (qsort_r). */
static int id_order(const void *pa, const void *pb, void *arg)
{
    const int64_t *ids = arg;
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;

    if (ids[a] != ids[b])
        return ids[a] < ids[b] ? -1 : 1;
    return (a > b) - (a < b);
}

tt_err_t tt_state_get_many(tt_state_t *st, int32_t partition, size_t n,
                           const int64_t *user_ids,
                           struct tt_user_state *const *states,
                           tt_err_t *status, char *errstr,
                           size_t errstr_size)
{
    rocksdb_column_family_handle_t *h;
    tt_err_t first = TT_ERR_OK, err;

    err = tt_state_part_cf(st, partition, false, &h, errstr, errstr_size);
    if (err)
        return err;
    for (size_t i = 0; i < n; i++)
        if (user_ids[i] < 0)
            return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                           "state: negative user id %" PRId64, user_ids[i]);
    if (!h) {
        for (size_t i = 0; i < n; i++) {
            tt_ustate_reset(states[i]);
            status[i] = TT_ERR_NOTFOUND;
        }
        return TT_ERR_OK;
    }
    for (size_t off = 0; off < n; off += TT_STATE_GET_CHUNK) {
        size_t m = n - off < TT_STATE_GET_CHUNK ? n - off : TT_STATE_GET_CHUNK;

        /* Keys in key order (ids ascending: the keys are big-endian), so
         * that RocksDB need not sort them with its comparator. */
        for (size_t i = 0; i < m; i++)
            st->order[i] = (uint32_t)i;
        qsort_r(st->order, m, sizeof(*st->order), id_order,
                (void *)(user_ids + off));
        for (size_t k = 0; k < m; k++) {
            tt_ustate_user_key(st->keys[k], user_ids[off + st->order[k]]);
            st->pos[st->order[k]] = (uint32_t)k;
        }
        rocksdb_batched_multi_get_cf(st->db, st->ropts, h, m, st->keyp,
                                     st->ksz, st->vals, st->errs, true);
        /* Results in request order, so that errstr names the first bad
         * user of the request. */
        for (size_t r = 0; r < m; r++) {
            size_t i = st->pos[r], j = off + r, vlen;
            const char *v;

            if (st->errs[i]) {
                tt_ustate_reset(states[j]);
                if (first)
                    status[j] = tt_state_rocks_err(&st->errs[i], NULL, 0, "-");
                else
                    status[j] = tt_state_rocks_err(
                        &st->errs[i], errstr, errstr_size,
                        "state: partition %" PRId32 " user %" PRId64,
                        partition, user_ids[j]);
            } else if (!st->vals[i]) {
                tt_ustate_reset(states[j]);
                status[j] = TT_ERR_NOTFOUND;
                continue;
            } else {
                v = rocksdb_pinnableslice_value(st->vals[i], &vlen);
                status[j] = decode_found(v, vlen, partition, user_ids[j],
                                         states[j], first == TT_ERR_OK,
                                         errstr, errstr_size);
                rocksdb_pinnableslice_destroy(st->vals[i]);
            }
            if (status[j] && !first)
                first = status[j];
        }
    }
    return first;
}

/* Reads metadata `name` of column family h; *pin is NULL when absent. */
static tt_err_t get_meta_cf(tt_state_t *st, rocksdb_column_family_handle_t *h,
                            const char *name, rocksdb_pinnableslice_t **pin,
                            const uint8_t **payload, size_t *plen,
                            char *errstr, size_t errstr_size)
{
    uint8_t key[TT_USTATE_META_NAME_MAX + 1];
    size_t klen = tt_ustate_meta_key(name, key, sizeof(key)), vlen;
    char *rerr = NULL, msg[256];
    const char *v;
    tt_err_t rc;

    *pin = NULL;
    if (!klen)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "state: bad metadata name");
    *pin = rocksdb_get_pinned_cf(st->db, st->ropts, h, (const char *)key,
                                 klen, &rerr);
    if (rerr)
        return tt_state_rocks_err(&rerr, errstr, errstr_size,
                                  "state: cannot read metadata %s", name);
    if (!*pin)
        return TT_ERR_OK;
    v = rocksdb_pinnableslice_value(*pin, &vlen);
    rc = tt_ustate_meta_decode(v, vlen, payload, plen, msg, sizeof(msg));
    if (rc) {
        rocksdb_pinnableslice_destroy(*pin);
        *pin = NULL;
        return tt_errf(rc, errstr, errstr_size, "state: metadata %s: %s",
                       name, msg);
    }
    return TT_ERR_OK;
}

tt_err_t tt_state_applied_offset(tt_state_t *st, int32_t partition,
                                 int64_t *offset, char *errstr,
                                 size_t errstr_size)
{
    rocksdb_column_family_handle_t *h;
    rocksdb_pinnableslice_t *pin;
    const uint8_t *p;
    size_t plen;
    tt_err_t err;

    *offset = -1;
    err = tt_state_part_cf(st, partition, false, &h, errstr, errstr_size);
    if (err || !h)
        return err;
    err = get_meta_cf(st, h, "offset", &pin, &p, &plen, errstr, errstr_size);
    if (err || !pin)
        return err;
    if (plen == 8)
        *offset = tt_state_get_i64(p);
    else
        err = tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                      "state: partition %" PRId32 " offset of %zu bytes",
                      partition, plen);
    rocksdb_pinnableslice_destroy(pin);
    return err;
}

tt_err_t tt_state_get_meta(tt_state_t *st, const char *name, void *buf,
                           size_t cap, size_t *len, char *errstr,
                           size_t errstr_size)
{
    rocksdb_pinnableslice_t *pin;
    const uint8_t *p;
    size_t plen;
    tt_err_t err;

    *len = 0;
    err = get_meta_cf(st, st->cf_default, name, &pin, &p, &plen, errstr,
                      errstr_size);
    if (err)
        return err;
    if (!pin)
        return tt_errf(TT_ERR_NOTFOUND, errstr, errstr_size,
                       "state: no metadata %s", name);
    if (plen > cap) {
        err = tt_errf(TT_ERR_OVERFLOW, errstr, errstr_size,
                      "state: metadata %s of %zu bytes, buffer of %zu", name,
                      plen, cap);
    } else {
        memcpy(buf, p, plen);
        *len = plen;
    }
    rocksdb_pinnableslice_destroy(pin);
    return err;
}

bool tt_state_has_partition(const tt_state_t *st, int32_t partition)
{
    return partition_valid(partition) && (size_t)partition < st->parts_len &&
           st->parts[partition] != NULL;
}

size_t tt_state_partitions(const tt_state_t *st, int32_t *out, size_t cap)
{
    size_t k = 0;

    for (size_t i = 0; i < st->parts_len; i++) {
        if (!st->parts[i])
            continue;
        if (k < cap)
            out[k] = (int32_t)i;
        k++;
    }
    return k;
}

tt_err_t tt_state_drop_partition(tt_state_t *st, int32_t partition,
                                 char *errstr, size_t errstr_size)
{
    rocksdb_column_family_handle_t *h;
    char *rerr = NULL;
    tt_err_t err;

    err = tt_state_part_cf(st, partition, false, &h, errstr, errstr_size);
    if (err || !h)
        return err;
    rocksdb_drop_column_family(st->db, h, &rerr);
    if (rerr)
        return tt_state_rocks_err(&rerr, errstr, errstr_size,
                                  "state: cannot drop partition %" PRId32,
                                  partition);
    pthread_mutex_lock(&st->lock);
    st->parts[partition] = NULL;
    st->n_partitions--;
    st->gen++;
    pthread_mutex_unlock(&st->lock);
    rocksdb_column_family_handle_destroy(h);
    return TT_ERR_OK;
}

tt_err_t tt_state_clear_partition(tt_state_t *st, int32_t partition,
                                  char *errstr, size_t errstr_size)
{
    rocksdb_column_family_handle_t *h;
    tt_err_t err;

    /* Dropping and recreating the family frees the space at once, where a
     * range deletion would leave tombstones for compaction to clean up. */
    err = tt_state_part_cf(st, partition, false, &h, errstr, errstr_size);
    if (err || !h)
        return err;
    err = tt_state_drop_partition(st, partition, errstr, errstr_size);
    if (err)
        return err;
    return tt_state_part_cf(st, partition, true, &h, errstr, errstr_size);
}

tt_err_t tt_state_flush(tt_state_t *st, char *errstr, size_t errstr_size)
{
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    char *rerr = NULL;
    tt_err_t err = TT_ERR_OK;

    if (!fo)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "state: no memory");
    rocksdb_flushoptions_set_wait(fo, 1);
    rocksdb_flush_cf(st->db, fo, st->cf_default, &rerr);
    for (size_t i = 0; !rerr && i < st->parts_len; i++)
        if (st->parts[i])
            rocksdb_flush_cf(st->db, fo, st->parts[i], &rerr);
    if (rerr)
        err = tt_state_rocks_err(&rerr, errstr, errstr_size,
                                 "state: flush of %s failed", st->path);
    rocksdb_flushoptions_destroy(fo);
    return err;
}

tt_err_t tt_state_checkpoint(tt_state_t *st, const char *dir, char *errstr,
                             size_t errstr_size)
{
    rocksdb_checkpoint_t *cp;
    char *rerr = NULL;

    cp = rocksdb_checkpoint_object_create(st->db, &rerr);
    if (rerr)
        return tt_state_rocks_err(&rerr, errstr, errstr_size,
                                  "state: cannot checkpoint %s", st->path);
    /* log_size_for_flush 0: flush first, so the checkpoint needs no WAL. */
    rocksdb_checkpoint_create(cp, dir, 0, &rerr);
    rocksdb_checkpoint_object_destroy(cp);
    if (rerr)
        return tt_state_rocks_err(&rerr, errstr, errstr_size,
                                  "state: checkpoint of %s into %s failed",
                                  st->path, dir);
    return TT_ERR_OK;
}

static void add_cf_stats(tt_state_t *st, rocksdb_column_family_handle_t *h,
                         struct tt_state_stats *s)
{
    uint64_t v;

    if (rocksdb_property_int_cf(st->db, h, "rocksdb.live-sst-files-size",
                                &v) == 0)
        s->sst_bytes += v;
    if (rocksdb_property_int_cf(st->db, h, "rocksdb.cur-size-all-mem-tables",
                                &v) == 0)
        s->memtable_bytes += v;
}

void tt_state_stats(tt_state_t *st, struct tt_state_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    pthread_mutex_lock(&st->lock);
    add_cf_stats(st, st->cf_default, stats);
    for (size_t i = 0; i < st->parts_len; i++)
        if (st->parts[i])
            add_cf_stats(st, st->parts[i], stats);
    for (size_t i = 0; i < st->n_other; i++)
        add_cf_stats(st, st->other[i], stats);
    stats->partitions = st->n_partitions;
    pthread_mutex_unlock(&st->lock);
    stats->block_cache_bytes = rocksdb_cache_get_usage(st->cache);
}

uint64_t tt_state_approx_bytes(tt_state_t *st)
{
    struct tt_state_stats s;

    tt_state_stats(st, &s);
    return s.sst_bytes + s.memtable_bytes;
}
