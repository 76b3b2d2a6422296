/*
 * The model file, format version 1.  Little-endian, packed, no padding; f32
 * is an IEEE-754 binary32 bit pattern.
 *
 *   off  size  field
 *   0    8     magic "2TSMODEL"
 *   8    4     u32 format version (1); a newer one fails with TT_ERR_VERSION
 *   12   4     u32 byte-order marker 0x0A0B0C0D (bytes 0D 0C 0B 0A)
 *   16   4     u32 header size (96)
 *   20   4     u32 flags: bit 0 PLUS, bit 1 GRU_ALL, bit 2 FEATURES,
 *                bit 3 WINDOW (active users over their last K items)
 *   24   4     u32 dim D (1..1024)
 *   28   4     u32 t*
 *   32   4     u32 K
 *   36   4     u32 feature_dim (< D)
 *   40   4     u32 n_items
 *   44   4     u32 n_active
 *   48   4     u32 n_cutoffs
 *   52   4     u32 reserved, 0
 *   56   8     u64 model version
 *   64   8     u64 training seed
 *   72   8     i64 cutoff time, ms
 *   80   8     u64 file length in bytes, checksum included
 *   88   8     u64 reserved, 0
 *   96         cutoffs    n_cutoffs x { i32 partition, u32 0, i64 offset }
 *              item ids   n_items x i64
 *              items      n_items x D x f32
 *              user ids   n_active x i64
 *              phi        n_active x D x f32
 *              dense      tt_model_dense_floats(D, plus) x f32
 *                         (psi, cell 0, cell 1, W: see tt_model_int.h)
 *   len-8 8    u64 XXH64 (seed 0) of bytes [0, len - 8)
 *
 * Loading checks, in order: the length covers a header, magic, byte order,
 * version, header size, that the stated length equals the buffer's, the
 * checksum, flags and dimensions, that the counts give exactly that length
 * (so nothing is ever allocated from an unchecked size), then the content
 * (distinct non-negative ids, finite floats, ordered cutoffs).
 */
#include "model/tt_model_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENDIAN_MARKER 0x0A0B0C0Du
#define CHECKSUM_SIZE 8
/* The largest file we agree to read (bounded by the counts: 2^32 ids with
 * D = 1024 would be 16 TiB; a sane model is far below this). */
#define FILE_MAX (UINT64_C(1) << 40)

/* ---- XXH64 ---- */

#define P1 UINT64_C(0x9E3779B185EBCA87)
#define P2 UINT64_C(0xC2B2AE3D27D4EB4F)
#define P3 UINT64_C(0x165667B19E3779F9)
#define P4 UINT64_C(0x85EBCA77C2B2AE63)
#define P5 UINT64_C(0x27D4EB2F165667C5)

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t xround(uint64_t acc, uint64_t in)
{
    acc += in * P2;
    acc = rotl64(acc, 31);
    return acc * P1;
}

static inline uint64_t xmerge(uint64_t acc, uint64_t v)
{
    acc ^= xround(0, v);
    return acc * P1 + P4;
}

uint64_t tt_model_hash64(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data, *end = p + len;
    uint64_t h;

    if (len >= 32) {
        uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed,
                 v4 = seed - P1;

        do {
            v1 = xround(v1, rd64(p));
            v2 = xround(v2, rd64(p + 8));
            v3 = xround(v3, rd64(p + 16));
            v4 = xround(v4, rd64(p + 24));
            p += 32;
        } while (end - p >= 32);
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = xmerge(h, v1);
        h = xmerge(h, v2);
        h = xmerge(h, v3);
        h = xmerge(h, v4);
    } else {
        h = seed + P5;
    }
    h += (uint64_t)len;
    while (end - p >= 8) {
        h ^= xround(0, rd64(p));
        h = rotl64(h, 27) * P1 + P4;
        p += 8;
    }
    if (end - p >= 4) {
        h ^= (uint64_t)rd32(p) * P1;
        h = rotl64(h, 23) * P2 + P3;
        p += 4;
    }
    while (p < end) {
        h ^= (uint64_t)(*p) * P5;
        h = rotl64(h, 11) * P1;
        p++;
    }
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

/* ---- encoding ---- */

struct wbuf {
    uint8_t *p;
    size_t off;
};

static void put32(struct wbuf *w, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        w->p[w->off++] = (uint8_t)(v >> (8 * i));
}

static void put64(struct wbuf *w, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        w->p[w->off++] = (uint8_t)(v >> (8 * i));
}

static void put_f32s(struct wbuf *w, const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t b;

        memcpy(&b, &v[i], sizeof b);
        put32(w, b);
    }
}

/* Body size for the given counts; false on overflow or beyond FILE_MAX. */
static bool file_size(uint32_t dim, bool plus, uint32_t n_items,
                      uint32_t n_active, uint32_t n_cutoffs, uint64_t *size)
{
    uint64_t s = TT_MODEL_HEADER_SIZE;

    /* each term is below 2^32 * 2^10 * 4 = 2^44: no overflow in u64 */
    s += (uint64_t)n_cutoffs * 16;
    s += (uint64_t)n_items * (8 + 4 * (uint64_t)dim);
    s += (uint64_t)n_active * (8 + 4 * (uint64_t)dim);
    s += 4 * (uint64_t)tt_model_dense_floats(dim, plus);
    s += CHECKSUM_SIZE;
    *size = s;
    return s <= FILE_MAX && s <= SIZE_MAX;
}

tt_err_t tt_model_save_buf(const tt_model_t *m, uint8_t **buf, size_t *len)
{
    const struct tt_model_info *in = &m->info;
    struct wbuf w;
    uint64_t size;

    *buf = NULL;
    *len = 0;
    if (!file_size(in->dim, in->plus, in->n_items, in->n_active,
                   in->n_cutoffs, &size))
        return TT_ERR_RANGE;
    w.p = malloc((size_t)size);
    w.off = 0;
    if (!w.p)
        return TT_ERR_NOMEM;
    memcpy(w.p, TT_MODEL_MAGIC, 8);
    w.off = 8;
    put32(&w, TT_MODEL_FORMAT_VERSION);
    put32(&w, ENDIAN_MARKER);
    put32(&w, TT_MODEL_HEADER_SIZE);
    put32(&w, m->flags);
    put32(&w, in->dim);
    put32(&w, in->tstar);
    put32(&w, in->k);
    put32(&w, in->feature_dim);
    put32(&w, in->n_items);
    put32(&w, in->n_active);
    put32(&w, in->n_cutoffs);
    put32(&w, 0);
    put64(&w, in->version);
    put64(&w, in->seed);
    put64(&w, (uint64_t)in->cutoff_ts_ms);
    put64(&w, size);
    put64(&w, 0);
    for (uint32_t i = 0; i < in->n_cutoffs; i++) {
        put32(&w, (uint32_t)m->cutoffs[i].partition);
        put32(&w, 0);
        put64(&w, (uint64_t)m->cutoffs[i].offset);
    }
    for (uint32_t i = 0; i < in->n_items; i++)
        put64(&w, (uint64_t)m->item_ids[i]);
    put_f32s(&w, m->items, (size_t)in->n_items * in->dim);
    for (uint32_t i = 0; i < in->n_active; i++)
        put64(&w, (uint64_t)m->user_ids[i]);
    put_f32s(&w, m->phi, (size_t)in->n_active * in->dim);
    put_f32s(&w, m->dense, m->n_dense);
    put64(&w, tt_model_hash64(w.p, w.off, 0));
    if (w.off != size) {
        free(w.p);
        return TT_ERR_RANGE; /* a layout bug, caught by the tests */
    }
    *buf = w.p;
    *len = (size_t)size;
    return TT_ERR_OK;
}

/* Writes to a temporary file beside `path`, fsyncs it, renames it over
 * `path` and fsyncs the directory, so that readers see the old or the new
 * model, never a part. */
tt_err_t tt_model_save(const tt_model_t *m, const char *path, char *errstr,
                       size_t errstr_size)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    uint8_t *buf;
    size_t len, done = 0;
    int fd, dfd;
    tt_err_t err;

    err = tt_model_save_buf(m, &buf, &len);
    if (err)
        return tt_errf(err, errstr, errstr_size, "%s: cannot serialise: %s",
                       path, tt_err_str(err));
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) {
        free(buf);
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size, "%s: path too long",
                       path);
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        err = tt_errf(TT_ERR_IO, errstr, errstr_size, "%s: %s", tmp,
                      strerror(errno));
        goto out_free;
    }
    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = tt_errf(TT_ERR_IO, errstr, errstr_size, "%s: write: %s",
                          tmp, n < 0 ? strerror(errno) : "no progress");
            goto out_unlink;
        }
        done += (size_t)n;
    }
    if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
        err = tt_errf(TT_ERR_IO, errstr, errstr_size, "%s: %s", tmp,
                      strerror(errno));
        goto out_unlink;
    }
    if (close(fd) != 0) {
        fd = -1;
        err = tt_errf(TT_ERR_IO, errstr, errstr_size, "%s: close: %s", tmp,
                      strerror(errno));
        goto out_unlink;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        err = tt_errf(TT_ERR_IO, errstr, errstr_size, "rename %s -> %s: %s",
                      tmp, path, strerror(errno));
        goto out_unlink;
    }
    /* the rename itself must reach the disk */
    snprintf(dir, sizeof dir, "%s", path);
    dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    free(buf);
    return TT_ERR_OK;

out_unlink:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out_free:
    free(buf);
    return err;
}

/* ---- decoding ---- */

static uint32_t get32(const uint8_t *b, size_t off)
{
    return rd32(b + off);
}

static uint64_t get64(const uint8_t *b, size_t off)
{
    return rd64(b + off);
}

static void get_f32s(float *dst, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t b = rd32(src + 4 * i);

        memcpy(&dst[i], &b, sizeof b);
    }
}

tt_err_t tt_model_load_buf(tt_model_t **out, const uint8_t *buf, size_t len,
                           char *errstr, size_t errstr_size)
{
    struct tt_model_parts p;
    struct tt_model_cutoff *cut = NULL;
    int64_t *item_ids = NULL, *user_ids = NULL;
    float *items = NULL, *phi = NULL, *dense = NULL;
    uint32_t version, flags, hsize;
    uint64_t stated, want, sum;
    size_t off, nd;
    char why[160];
    tt_err_t err;

    *out = NULL;
    if (len < TT_MODEL_HEADER_SIZE + CHECKSUM_SIZE)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "model truncated: %zu bytes, a header needs %d", len,
                       TT_MODEL_HEADER_SIZE + CHECKSUM_SIZE);
    if (memcmp(buf, TT_MODEL_MAGIC, 8) != 0)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "not a twotime model (bad magic)");
    if (get32(buf, 12) != ENDIAN_MARKER)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "model byte-order marker 0x%08x is not 0x%08x",
                       get32(buf, 12), ENDIAN_MARKER);
    version = get32(buf, 8);
    if (version > TT_MODEL_FORMAT_VERSION)
        return tt_errf(TT_ERR_VERSION, errstr, errstr_size,
                       "model format version %u is newer than this build "
                       "reads (%d)", version, TT_MODEL_FORMAT_VERSION);
    if (version == 0)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "model format version 0");
    hsize = get32(buf, 16);
    if (hsize != TT_MODEL_HEADER_SIZE)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "model header size %u, expected %d", hsize,
                       TT_MODEL_HEADER_SIZE);
    stated = get64(buf, 80);
    if (stated != (uint64_t)len)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "model length %zu bytes but the header says %llu "
                       "(truncated or extended)", len,
                       (unsigned long long)stated);
    sum = get64(buf, len - CHECKSUM_SIZE);
    if (tt_model_hash64(buf, len - CHECKSUM_SIZE, 0) != sum)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "model checksum mismatch (corrupt file)");

    memset(&p, 0, sizeof p);
    flags = get32(buf, 20);
    p.flags = flags;
    p.dim = get32(buf, 24);
    p.tstar = get32(buf, 28);
    p.k = get32(buf, 32);
    p.feature_dim = get32(buf, 36);
    p.n_items = get32(buf, 40);
    p.n_active = get32(buf, 44);
    p.n_cutoffs = get32(buf, 48);
    p.version = get64(buf, 56);
    p.seed = get64(buf, 64);
    p.cutoff_ts_ms = (int64_t)get64(buf, 72);
    if (flags & ~TT_MODEL_FLAGS_KNOWN)
        return tt_errf(TT_ERR_UNSUPPORTED, errstr, errstr_size,
                       "model has unknown flags 0x%x", flags);
    if (p.dim < 1 || p.dim > TT_MODEL_DIM_MAX || p.feature_dim >= p.dim)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "model dimension %u / feature dimension %u out of "
                       "range (1..%d)", p.dim, p.feature_dim,
                       TT_MODEL_DIM_MAX);
    if (get32(buf, 52) != 0 || get64(buf, 88) != 0)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "model reserved header fields are not zero");
    if (!file_size(p.dim, (flags & TT_MODEL_FLAG_PLUS) != 0, p.n_items,
                   p.n_active, p.n_cutoffs, &want) ||
        want != (uint64_t)len)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "model counts (%u items, %u users, %u cutoffs, "
                       "dim %u) do not match its length %zu", p.n_items,
                       p.n_active, p.n_cutoffs, p.dim, len);

    /* every size below is now bounded by len */
    nd = tt_model_dense_floats(p.dim, (flags & TT_MODEL_FLAG_PLUS) != 0);
    cut = malloc(sizeof *cut * ((size_t)p.n_cutoffs + 1));
    item_ids = malloc(sizeof *item_ids * ((size_t)p.n_items + 1));
    items = malloc(sizeof *items * ((size_t)p.n_items * p.dim + 1));
    user_ids = malloc(sizeof *user_ids * ((size_t)p.n_active + 1));
    phi = malloc(sizeof *phi * ((size_t)p.n_active * p.dim + 1));
    dense = malloc(sizeof *dense * nd);
    if (!cut || !item_ids || !items || !user_ids || !phi || !dense) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                      "out of memory loading a %zu-byte model", len);
        goto out_free;
    }
    off = TT_MODEL_HEADER_SIZE;
    for (uint32_t i = 0; i < p.n_cutoffs; i++, off += 16) {
        cut[i].partition = (int32_t)get32(buf, off);
        cut[i].offset = (int64_t)get64(buf, off + 8);
        if (get32(buf, off + 4) != 0) {
            err = tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                          "model cutoff %u: padding is not zero", i);
            goto out_free;
        }
    }
    for (uint32_t i = 0; i < p.n_items; i++, off += 8)
        item_ids[i] = (int64_t)get64(buf, off);
    get_f32s(items, buf + off, (size_t)p.n_items * p.dim);
    off += 4 * (size_t)p.n_items * p.dim;
    for (uint32_t i = 0; i < p.n_active; i++, off += 8)
        user_ids[i] = (int64_t)get64(buf, off);
    get_f32s(phi, buf + off, (size_t)p.n_active * p.dim);
    off += 4 * (size_t)p.n_active * p.dim;
    get_f32s(dense, buf + off, nd);
    off += 4 * nd;
    if (off + CHECKSUM_SIZE != len) {
        err = tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                      "model layout ends at %zu of %zu bytes", off, len);
        goto out_free;
    }
    p.cutoffs = cut;
    p.item_ids = item_ids;
    p.items = items;
    p.user_ids = user_ids;
    p.phi = phi;
    p.dense = dense;
    /* tt_model_build copies; the checks it makes on content are the ones a
     * loader needs, so a failure there is a corrupt file */
    err = tt_model_build(out, &p, why, sizeof why);
    if (err == TT_ERR_INVAL)
        err = tt_errf(TT_ERR_CORRUPT, errstr, errstr_size, "corrupt model: %s",
                      why);
    else if (err)
        err = tt_errf(err, errstr, errstr_size, "%s", why);

out_free:
    free(cut);
    free(item_ids);
    free(items);
    free(user_ids);
    free(phi);
    free(dense);
    return err;
}

tt_err_t tt_model_load(tt_model_t **out, const char *path, char *errstr,
                       size_t errstr_size)
{
    struct stat st;
    uint8_t *buf;
    size_t done = 0;
    int fd;
    tt_err_t err;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tt_errf(TT_ERR_IO, errstr, errstr_size, "%s: %s", path,
                       strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return tt_errf(TT_ERR_IO, errstr, errstr_size,
                       "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > FILE_MAX) {
        close(fd);
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "%s: %lld bytes is beyond any model", path,
                       (long long)st.st_size);
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "%s: out of memory", path);
    }
    while (done < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    close(fd);
    err = tt_model_load_buf(out, buf, done, errstr, errstr_size);
    if (err && errstr && errstr_size) {
        char inner[256];

        snprintf(inner, sizeof inner, "%s", errstr);
        snprintf(errstr, errstr_size, "%s: %s", path, inner);
    }
    free(buf);
    return err;
}
