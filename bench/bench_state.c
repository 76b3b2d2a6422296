/*
 * bench_state: read-modify-write throughput of the user-state store, with
 * and without the write-back user cache.
 *
 * A store of --users users (each with a d-float embedding and a full history
 * of --hist entries) is built once, then every run starts from a checkpoint
 * of it.  A run processes poll batches of --batch events whose users follow
 * a Zipf(--zipf) law over --partitions partitions, as the stream processor
 * does: deduplicate users per partition, one batched read per partition,
 * update each user once per event (count, history, embedding), write the
 * users and the partitions' offsets in one atomic commit.  --warm batches
 * are run before the clock starts.  Reported: distinct users and events per
 * second, median of --runs runs, for cache off and cache on (--cache users).
 *
 *   bench_state [--users N] [--batch N] [--batches N] [--warm N] [--dim D]
 *               [--hist H] [--zipf S] [--partitions P] [--cache N]
 *               [--runs R] [--cache-mb M] [--dir DIR]
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/tt_rng.h"
#include "common/tt_time.h"
#include "state/tt_state.h"
#include "state/tt_ucache.h"

#define MAX_BATCH 10000
#define MAX_PARTS 64
#define MAX_RUNS 15
#define DEDUP_SIZE 32768 /* power of two above 2 * MAX_BATCH */

/* Deduplication of a batch's users: a table stamped with a generation so
 * that it needs no clearing between partitions. */
struct dedup_slot {
    uint32_t gen;
    uint32_t idx;
    int64_t id;
};

struct opts {
    long users, batch, batches, warm, dim, hist, parts, cache, runs, cache_mb;
    double zipf;
    const char *dir;
};

struct bench {
    struct opts o;
    double *cdf;
    struct tt_user_state *st;     /* one per event slot of a batch */
    struct tt_user_state **ptr;
    tt_err_t *status;
    int64_t *ids;
    int64_t *ev_user, *ev_item;
    int32_t *ev_part;
    uint32_t *ev_idx;
    struct dedup_slot *dedup;
    uint32_t gen;
    int64_t offset[MAX_PARTS];
};

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct {
        const char *name;
        size_t off;
        long lo, hi;
    } nums[] = {
        {"--users", offsetof(struct opts, users), 1, 100000000},
        {"--batch", offsetof(struct opts, batch), 1, MAX_BATCH},
        {"--batches", offsetof(struct opts, batches), 1, 10000000},
        {"--warm", offsetof(struct opts, warm), 0, 10000000},
        {"--dim", offsetof(struct opts, dim), 1, TT_USTATE_DIM_MAX},
        {"--hist", offsetof(struct opts, hist), 1, TT_USTATE_HIST_MAX},
        {"--partitions", offsetof(struct opts, parts), 1, MAX_PARTS},
        {"--cache", offsetof(struct opts, cache), 1, 1 << 24},
        {"--runs", offsetof(struct opts, runs), 1, MAX_RUNS},
        {"--cache-mb", offsetof(struct opts, cache_mb), 1, 1 << 20},
    };

    for (int i = 1; i < argc; i += 2) {
        size_t k;

        if (i + 1 >= argc)
            return -1;
        if (strcmp(argv[i], "--zipf") == 0) {
            char *end;

            errno = 0;
            o->zipf = strtod(argv[i + 1], &end);
            if (errno || *end || o->zipf <= 0 || o->zipf > 5)
                return -1;
            continue;
        }
        if (strcmp(argv[i], "--dir") == 0) {
            o->dir = argv[i + 1];
            continue;
        }
        for (k = 0; k < sizeof(nums) / sizeof(nums[0]); k++)
            if (strcmp(argv[i], nums[k].name) == 0)
                break;
        if (k == sizeof(nums) / sizeof(nums[0]) ||
            parse_long(argv[i + 1], nums[k].lo, nums[k].hi,
                       (long *)(void *)((char *)o + nums[k].off)))
            return -1;
    }
    return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Rank r (0 = hottest) to a user id, scattered so that hot users are not
 * neighbours in the key space. */
static int64_t rank_id(long r)
{
    return (int64_t)(tt_rng_mix64((uint64_t)r) >> 20);
}

static long zipf_rank(const struct bench *b, struct tt_rng *rng)
{
    double u = tt_rng_uniform(rng);
    long lo = 0, hi = b->o.users - 1;

    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;

        if (b->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static tt_state_t *open_store(const char *path, const struct opts *o)
{
    struct tt_conf_state c = {0};
    tt_state_t *st;
    char err[512];

    c.path = (char *)path;
    c.cache_mb = (int)o->cache_mb;
    c.write_buffer_mb = 32; /* the conf default */
    if (tt_state_new(&st, &c, err, sizeof(err))) {
        fprintf(stderr, "bench_state: %s\n", err);
        exit(1);
    }
    return st;
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "bench_state: %s: %s\n", what, err);
    exit(1);
}

/* Every user present with a full history: the steady state of a store. */
static void populate(struct bench *b, const char *path)
{
    tt_state_t *st = open_store(path, &b->o);
    tt_state_batch_t *wb;
    struct tt_user_state *s = &b->st[0];
    struct tt_rng rng;
    char err[512];

    tt_rng_seed(&rng, 7, 0);
    if (tt_state_batch_new(&wb, st, err, sizeof(err)))
        die("batch", err);
    for (long r = 0; r < b->o.users; r++) {
        int64_t id = rank_id(r);

        tt_ustate_reset(s);
        s->dim = (uint32_t)b->o.dim;
        for (long j = 0; j < b->o.dim; j++)
            s->emb[j] = (float)tt_rng_normal(&rng);
        for (long h = 0; h < b->o.hist; h++)
            tt_ustate_push(s, (int64_t)tt_rng_below(&rng, 1000000), h, -1);
        s->count = (uint64_t)b->o.hist;
        if (tt_state_batch_put(wb, (int32_t)(id % b->o.parts), id, s, err,
                               sizeof(err)))
            die("put", err);
        if (tt_state_batch_count(wb) == 1000 &&
            tt_state_commit(st, wb, err, sizeof(err)))
            die("commit", err);
    }
    if (tt_state_commit(st, wb, err, sizeof(err)) ||
        tt_state_flush(st, err, sizeof(err)))
        die("commit", err);
    printf("store: %.1f MB for %ld users\n",
           (double)tt_state_approx_bytes(st) / 1e6, b->o.users);
    tt_state_batch_destroy(wb);
    tt_state_destroy(st);
}

/* One poll batch; returns the number of distinct users updated. */
static long run_batch(struct bench *b, tt_state_t *st, tt_ucache_t *cache,
                      tt_state_batch_t *wb, struct tt_rng *rng)
{
    long n = b->o.batch, users = 0;
    char err[512];

    for (long e = 0; e < n; e++) {
        b->ev_user[e] = rank_id(zipf_rank(b, rng));
        b->ev_item[e] = (int64_t)tt_rng_below(rng, 1000000);
        b->ev_part[e] = (int32_t)(b->ev_user[e] % b->o.parts);
    }
    for (int32_t p = 0; p < b->o.parts; p++) {
        uint32_t m = 0;

        b->gen++;
        for (long e = 0; e < n; e++) {
            uint64_t h;

            if (b->ev_part[e] != p)
                continue;
            h = tt_rng_mix64((uint64_t)b->ev_user[e]);
            for (;; h++) {
                struct dedup_slot *d = &b->dedup[h & (DEDUP_SIZE - 1)];

                if (d->gen != b->gen) {
                    d->gen = b->gen;
                    d->id = b->ev_user[e];
                    d->idx = m;
                    b->ids[m++] = b->ev_user[e];
                }
                if (d->id == b->ev_user[e]) {
                    b->ev_idx[e] = d->idx;
                    break;
                }
            }
        }
        if (!m)
            continue;
        if ((cache ? tt_ucache_get_many(cache, p, m, b->ids, b->ptr,
                                        b->status, err, sizeof(err))
                   : tt_state_get_many(st, p, m, b->ids, b->ptr, b->status,
                                       err, sizeof(err))))
            die("get", err);
        for (long e = 0; e < n; e++) {
            struct tt_user_state *s;

            if (b->ev_part[e] != p)
                continue;
            s = b->ptr[b->ev_idx[e]];
            if (s->dim == 0)
                s->dim = (uint32_t)b->o.dim;
            /* Stands in for the GRU step: touches every float. */
            for (uint32_t k = 0; k < s->dim; k++)
                s->emb[k] = 0.99f * s->emb[k] + 0.01f;
            s->count++;
            s->last_event_ms = 1700000000000 + b->offset[p];
            tt_ustate_push(s, b->ev_item[e], b->offset[p]++, -1);
        }
        for (size_t j = 0; j < m; j++)
            if ((cache ? tt_ucache_put(cache, p, b->ids[j], b->ptr[j], err,
                                       sizeof(err))
                       : tt_state_batch_put(wb, p, b->ids[j], b->ptr[j], err,
                                            sizeof(err))))
                die("put", err);
        if (tt_state_batch_set_offset(wb, p, b->offset[p] - 1, err,
                                      sizeof(err)))
            die("offset", err);
        users += m;
    }
    if ((cache ? tt_ucache_commit(cache, wb, err, sizeof(err))
               : tt_state_commit(st, wb, err, sizeof(err))))
        die("commit", err);
    return users;
}

struct result {
    double users_s, events_s, users_cpu_s, hit_ratio;
};

/* CPU time of the whole process, RocksDB's background threads included:
 * on a shared machine it is steadier than wall time, and it is the cost. */
static double cpu_secs(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct result run_once(struct bench *b, const char *base,
                              const char *work, long cache_users, int run)
{
    tt_state_t *st;
    tt_ucache_t *cache = NULL;
    tt_state_batch_t *wb;
    struct tt_ucache_stats cs;
    struct tt_rng rng;
    struct result r = {0};
    char err[512];
    long users = 0;
    uint64_t t0;
    double secs, c0;

    rm_rf(work);
    st = open_store(base, &b->o);
    if (tt_state_checkpoint(st, work, err, sizeof(err)))
        die("checkpoint", err);
    tt_state_destroy(st);
    st = open_store(work, &b->o);
    if (tt_state_batch_new(&wb, st, err, sizeof(err)))
        die("batch", err);
    if (cache_users &&
        tt_ucache_new(&cache, st, (uint32_t)cache_users, (uint32_t)b->o.dim,
                      (uint32_t)b->o.hist, err, sizeof(err)))
        die("cache", err);
    memset(b->offset, 0, sizeof(b->offset));
    /* The same events for cache off and on. */
    tt_rng_seed(&rng, 1000 + (uint64_t)run, 0);
    for (long i = 0; i < b->o.warm; i++)
        run_batch(b, st, cache, wb, &rng);
    if (cache)
        tt_ucache_stats(cache, &cs);
    uint64_t h0 = cache ? cs.hits : 0, m0 = cache ? cs.misses : 0;
    t0 = tt_time_mono_ns();
    c0 = cpu_secs();
    for (long i = 0; i < b->o.batches; i++)
        users += run_batch(b, st, cache, wb, &rng);
    secs = tt_time_secs(t0, tt_time_mono_ns());
    r.users_cpu_s = (double)users / (cpu_secs() - c0);
    r.users_s = (double)users / secs;
    r.events_s = (double)(b->o.batches * b->o.batch) / secs;
    if (cache) {
        tt_ucache_stats(cache, &cs);
        r.hit_ratio = (double)(cs.hits - h0) /
                      (double)(cs.hits - h0 + cs.misses - m0);
    }
    tt_ucache_destroy(cache);
    tt_state_batch_destroy(wb);
    tt_state_destroy(st);
    rm_rf(work);
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    struct bench b = {0};
    char tmpl[512], base[600], work[600];
    double sum = 0;

    b.o = (struct opts){.users = 200000, .batch = 500, .batches = 1000,
                        .warm = 50, .dim = 64, .hist = 100, .parts = 4,
                        .cache = 20000, .runs = 5, .cache_mb = 64,
                        .zipf = 1.1, .dir = NULL};
    if (parse_args(argc, argv, &b.o)) {
        fprintf(stderr, "usage: see the comment at the top of "
                        "bench/bench_state.c\n");
        return 2;
    }
    snprintf(tmpl, sizeof(tmpl), "%s/bench_state_XXXXXX",
             b.o.dir ? b.o.dir : "/tmp");
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(base, sizeof(base), "%s/base", tmpl);
    snprintf(work, sizeof(work), "%s/work", tmpl);
    b.cdf = malloc((size_t)b.o.users * sizeof(double));
    b.st = calloc((size_t)b.o.batch, sizeof(*b.st));
    b.ptr = calloc((size_t)b.o.batch, sizeof(*b.ptr));
    b.status = calloc((size_t)b.o.batch, sizeof(*b.status));
    b.ids = calloc((size_t)b.o.batch, sizeof(*b.ids));
    b.ev_user = calloc((size_t)b.o.batch, sizeof(*b.ev_user));
    b.ev_item = calloc((size_t)b.o.batch, sizeof(*b.ev_item));
    b.ev_part = calloc((size_t)b.o.batch, sizeof(*b.ev_part));
    b.ev_idx = calloc((size_t)b.o.batch, sizeof(*b.ev_idx));
    b.dedup = calloc(DEDUP_SIZE, sizeof(*b.dedup));
    if (!b.cdf || !b.st || !b.ptr || !b.status || !b.ids || !b.ev_user ||
        !b.ev_item || !b.ev_part || !b.ev_idx || !b.dedup)
        die("setup", "no memory");
    for (long i = 0; i < b.o.batch; i++) {
        if (tt_ustate_init(&b.st[i], (uint32_t)b.o.dim, (uint32_t)b.o.hist))
            die("setup", "no memory");
        b.ptr[i] = &b.st[i];
    }
    for (long i = 0; i < b.o.users; i++)
        sum += pow((double)(i + 1), -b.o.zipf);
    double acc = 0;
    for (long i = 0; i < b.o.users; i++) {
        acc += pow((double)(i + 1), -b.o.zipf) / sum;
        b.cdf[i] = acc;
    }
    b.cdf[b.o.users - 1] = 1.0;

    uint64_t t0 = tt_time_mono_ns();
    populate(&b, base);
    printf("populated %ld users (d=%ld, history %ld) in %.1f s\n", b.o.users,
           b.o.dim, b.o.hist, tt_time_secs(t0, tt_time_mono_ns()));

    /* Cache off and on alternate, so that both see the same machine load. */
    double us[2][MAX_RUNS], es[2][MAX_RUNS], cs[2][MAX_RUNS], hr[2][MAX_RUNS];
    for (int r = 0; r < b.o.runs; r++) {
        for (int with = 0; with < 2; with++) {
            long cu = with ? b.o.cache : 0;
            struct result res = run_once(&b, base, work, cu, r);

            us[with][r] = res.users_s;
            es[with][r] = res.events_s;
            cs[with][r] = res.users_cpu_s;
            hr[with][r] = res.hit_ratio;
            printf("  run %d cache %-6ld: %8.0f users/s %8.0f events/s "
                   "%8.0f users/cpu-s hit ratio %.3f\n",
                   r, cu, res.users_s, res.events_s, res.users_cpu_s,
                   res.hit_ratio);
            fflush(stdout);
        }
    }
    for (int with = 0; with < 2; with++) {
        size_t n = (size_t)b.o.runs;

        qsort(us[with], n, sizeof(double), cmp_double);
        qsort(es[with], n, sizeof(double), cmp_double);
        qsort(cs[with], n, sizeof(double), cmp_double);
        qsort(hr[with], n, sizeof(double), cmp_double);
        printf("cache %ld users: median %.0f users/s, %.0f events/s, %.0f "
               "users/cpu-s, hit ratio %.3f (users %ld, batch %ld, zipf "
               "%.2f, d %ld, history %ld, %ld runs x %ld batches)\n",
               with ? b.o.cache : 0, us[with][n / 2], es[with][n / 2],
               cs[with][n / 2], hr[with][n / 2], b.o.users, b.o.batch,
               b.o.zipf, b.o.dim, b.o.hist, b.o.runs, b.o.batches);
    }
    rm_rf(tmpl);
    for (long i = 0; i < b.o.batch; i++)
        tt_ustate_release(&b.st[i]);
    free(b.cdf);
    free(b.st);
    free(b.ptr);
    free(b.status);
    free(b.ids);
    free(b.ev_user);
    free(b.ev_item);
    free(b.ev_part);
    free(b.ev_idx);
    free(b.dedup);
    return 0;
}
