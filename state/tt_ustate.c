#include "state/tt_ustate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_crc32c.h"

/* Byte order is spelled out with shifts rather than assumed: compilers turn
 * these into single loads and stores on little-endian machines. */
static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;

    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t float_bits(float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof(u));
    return u;
}

/* Exponent all ones: infinity or NaN. */
static bool bits_finite(uint32_t u)
{
    return (u & 0x7f800000u) != 0x7f800000u;
}

/* Whether all n values are finite: one branch-free pass the compiler
 * vectorises (the embedding is most of a record's fixed part). */
static bool emb_finite(const float *x, uint32_t n)
{
    uint32_t bad = 0;

    for (uint32_t i = 0; i < n; i++)
        bad |= (uint32_t)!bits_finite(float_bits(x[i]));
    return bad == 0;
}

/* n floats as little-endian binary32: a copy on little-endian hosts. */
static void put_floats(uint8_t *p, const float *x, uint32_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, x, (size_t)n * sizeof(float));
#else
    for (uint32_t i = 0; i < n; i++)
        put_u32(p + 4 * (size_t)i, float_bits(x[i]));
#endif
}

static void get_floats(float *x, const uint8_t *p, uint32_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(x, p, (size_t)n * sizeof(float));
#else
    for (uint32_t i = 0; i < n; i++) {
        uint32_t u = get_u32(p + 4 * (size_t)i);

        memcpy(&x[i], &u, sizeof(u));
    }
#endif
}

static bool caps_valid(uint32_t dim_max, uint32_t hist_cap)
{
    return dim_max >= 1 && dim_max <= TT_USTATE_DIM_MAX && hist_cap >= 1 &&
           hist_cap <= TT_USTATE_HIST_MAX;
}

tt_err_t tt_ustate_init(struct tt_user_state *s, uint32_t dim_max,
                        uint32_t hist_cap)
{
    size_t hist_bytes = (size_t)hist_cap * sizeof(struct tt_ustate_item);
    unsigned char *mem;

    memset(s, 0, sizeof(*s));
    if (!caps_valid(dim_max, hist_cap))
        return TT_ERR_INVAL;
    /* One block: the history first so that both parts are aligned. */
    mem = malloc(hist_bytes + (size_t)dim_max * sizeof(float));
    if (!mem)
        return TT_ERR_NOMEM;
    s->hist = (struct tt_ustate_item *)(void *)mem;
    s->emb = (float *)(void *)(mem + hist_bytes);
    s->dim_max = dim_max;
    s->hist_cap = hist_cap;
    s->own_ = mem;
    tt_ustate_reset(s);
    return TT_ERR_OK;
}

tt_err_t tt_ustate_bind(struct tt_user_state *s, float *emb, uint32_t dim_max,
                        struct tt_ustate_item *hist, uint32_t hist_cap)
{
    memset(s, 0, sizeof(*s));
    if (!emb || !hist || !caps_valid(dim_max, hist_cap))
        return TT_ERR_INVAL;
    s->emb = emb;
    s->dim_max = dim_max;
    s->hist = hist;
    s->hist_cap = hist_cap;
    tt_ustate_reset(s);
    return TT_ERR_OK;
}

void tt_ustate_release(struct tt_user_state *s)
{
    if (!s)
        return;
    free(s->own_);
    memset(s, 0, sizeof(*s));
}

void tt_ustate_reset(struct tt_user_state *s)
{
    s->count = 0;
    s->model_version = 0;
    s->last_event_ms = -1;
    s->cell = TT_USTATE_CELL_INACTIVE;
    s->dim = 0;
    s->hist_len = 0;
}

void tt_ustate_push(struct tt_user_state *s, int64_t item_id, int64_t offset,
                    int32_t category)
{
    struct tt_ustate_item *it;

    /* A memmove of at most history_max entries (2 KB for 100) is cheaper
     * than the ring-buffer index arithmetic every reader would need. */
    if (s->hist_len == s->hist_cap) {
        memmove(s->hist, s->hist + 1,
                (size_t)(s->hist_cap - 1) * sizeof(*s->hist));
        s->hist_len--;
    }
    it = &s->hist[s->hist_len++];
    it->item_id = item_id;
    it->offset = offset;
    it->category = category;
}

tt_err_t tt_ustate_copy(struct tt_user_state *dst,
                        const struct tt_user_state *src)
{
    uint32_t n = src->hist_len, skip = 0;

    if (dst == src)
        return TT_ERR_OK;
    if (src->dim > dst->dim_max)
        return TT_ERR_OVERFLOW;
    if (n > dst->hist_cap) {
        skip = n - dst->hist_cap;
        n = dst->hist_cap;
    }
    dst->count = src->count;
    dst->model_version = src->model_version;
    dst->last_event_ms = src->last_event_ms;
    dst->cell = src->cell;
    dst->dim = src->dim;
    dst->hist_len = n;
    memcpy(dst->emb, src->emb, (size_t)src->dim * sizeof(float));
    memcpy(dst->hist, src->hist + skip, (size_t)n * sizeof(*dst->hist));
    return TT_ERR_OK;
}

bool tt_ustate_equal(const struct tt_user_state *a,
                     const struct tt_user_state *b)
{
    if (a->count != b->count || a->model_version != b->model_version ||
        a->last_event_ms != b->last_event_ms || a->cell != b->cell ||
        a->dim != b->dim || a->hist_len != b->hist_len)
        return false;
    for (uint32_t i = 0; i < a->dim; i++)
        if (float_bits(a->emb[i]) != float_bits(b->emb[i]))
            return false;
    for (uint32_t i = 0; i < a->hist_len; i++) {
        const struct tt_ustate_item *x = &a->hist[i], *y = &b->hist[i];

        if (x->item_id != y->item_id || x->offset != y->offset ||
            x->category != y->category)
            return false;
    }
    return true;
}

static bool item_valid(int64_t item_id, int64_t offset, int32_t category)
{
    return item_id >= 0 && offset >= -1 && category >= -1;
}

/* History entries as three unsigned LEB128 varints: the item id, the offset
 * (first entry offset + 1, then the zigzag of the difference from the
 * previous entry, computed modulo 2^64 so any pair of offsets round-trips),
 * and category + 1.  Ids, offset steps and categories are small numbers, so
 * an entry takes ~6 bytes instead of 20 fixed ones; the history is 90% of a
 * record, and the record is what RocksDB, its WAL, compaction and the
 * changelog move around. */
static size_t varint_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Reads a varint from [*pp, end); false when truncated, longer than 64 bits
 * or not in its shortest form (so that every state has one encoding). */
static bool get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    uint64_t x = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b;

        if (p == end)
            return false;
        b = *p++;
        if (shift == 63 && b > 1)
            return false;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (b == 0 && shift > 0)
                return false;
            *pp = p;
            *v = x;
            return true;
        }
    }
    return false;
}

static uint64_t zigzag(uint64_t d)
{
    return (d << 1) ^ (0 - (d >> 63));
}

static uint64_t unzigzag(uint64_t z)
{
    return (z >> 1) ^ (0 - (z & 1));
}

static uint64_t offset_code(const struct tt_ustate_item *hist, uint32_t i)
{
    if (i == 0)
        return (uint64_t)hist[0].offset + 1;
    return zigzag((uint64_t)hist[i].offset - (uint64_t)hist[i - 1].offset);
}

size_t tt_ustate_encoded_size(const struct tt_user_state *s)
{
    size_t n = TT_USTATE_HEADER_SIZE + 4u * (size_t)s->dim +
               TT_USTATE_CRC_SIZE;

    for (uint32_t i = 0; i < s->hist_len; i++)
        n += varint_len((uint64_t)s->hist[i].item_id) +
             varint_len(offset_code(s->hist, i)) +
             varint_len((uint64_t)((int64_t)s->hist[i].category + 1));
    return n;
}

tt_err_t tt_ustate_encode(const struct tt_user_state *s, uint8_t *buf,
                          size_t cap, size_t *len, char *errstr,
                          size_t errstr_size)
{
    size_t need, body;
    uint8_t *p;

    if (s->dim > TT_USTATE_DIM_MAX || s->dim > s->dim_max)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "user state: dim %u above the maximum %u", s->dim,
                       TT_USTATE_DIM_MAX);
    if (s->hist_len > TT_USTATE_HIST_MAX || s->hist_len > s->hist_cap)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "user state: %u history entries, above the maximum",
                       s->hist_len);
    if (s->cell > TT_USTATE_CELL_ACTIVE)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "user state: unknown cell %u", s->cell);
    if (s->last_event_ms < -1)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "user state: last event time %lld is negative",
                       (long long)s->last_event_ms);
    for (uint32_t i = 0; i < s->hist_len; i++) {
        const struct tt_ustate_item *it = &s->hist[i];

        if (!item_valid(it->item_id, it->offset, it->category))
            return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                           "user state: history[%u] out of range (item %lld "
                           "offset %lld category %d)",
                           i, (long long)it->item_id, (long long)it->offset,
                           (int)it->category);
    }
    /* The exact size costs a pass over the history; skip it when the
     * buffer holds the largest possible record anyway. */
    need = TT_USTATE_SIZE_MAX(s->dim, s->hist_len);
    if (need > cap) {
        need = tt_ustate_encoded_size(s);
        if (need > cap)
            return tt_errf(TT_ERR_OVERFLOW, errstr, errstr_size,
                           "user state: record of %zu bytes, buffer of %zu",
                           need, cap);
    }
    buf[0] = TT_USTATE_VERSION;
    buf[1] = s->cell;
    put_u16(buf + 2, (uint16_t)s->dim);
    put_u16(buf + 4, (uint16_t)s->hist_len);
    put_u16(buf + 6, 0);
    put_u64(buf + 8, s->count);
    put_u64(buf + 16, s->model_version);
    put_u64(buf + 24, (uint64_t)s->last_event_ms);
    p = buf + TT_USTATE_HEADER_SIZE;
    if (!emb_finite(s->emb, s->dim)) {
        uint32_t i = 0;

        while (bits_finite(float_bits(s->emb[i])))
            i++;
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "user state: embedding[%u] is not finite", i);
    }
    put_floats(p, s->emb, s->dim);
    p += 4 * (size_t)s->dim;
    for (uint32_t i = 0; i < s->hist_len; i++) {
        p = put_varint(p, (uint64_t)s->hist[i].item_id);
        p = put_varint(p, offset_code(s->hist, i));
        p = put_varint(p, (uint64_t)((int64_t)s->hist[i].category + 1));
    }
    body = (size_t)(p - buf);
    put_u32(p, tt_crc32c(0, buf, body));
    *len = body + TT_USTATE_CRC_SIZE;
    return TT_ERR_OK;
}

/* The frame every value shares: [version][...][crc32c]. */
static tt_err_t check_frame(const uint8_t *p, size_t len, const char *what,
                            char *errstr, size_t errstr_size)
{
    uint32_t want, got;

    if (len < 1 + TT_USTATE_CRC_SIZE)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "%s: record of %zu bytes is truncated", what, len);
    want = get_u32(p + len - TT_USTATE_CRC_SIZE);
    got = tt_crc32c(0, p, len - TT_USTATE_CRC_SIZE);
    if (want != got)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "%s: checksum mismatch (stored %08x, computed %08x)",
                       what, want, got);
    if (p[0] != TT_USTATE_VERSION)
        return tt_errf(TT_ERR_VERSION, errstr, errstr_size,
                       "%s: format version %u unknown (this build reads %d)",
                       what, p[0], TT_USTATE_VERSION);
    return TT_ERR_OK;
}

tt_err_t tt_ustate_decode(const void *data, size_t len,
                          struct tt_user_state *s, char *errstr,
                          size_t errstr_size)
{
    const uint8_t *p = data, *end;
    uint32_t dim, n, skip = 0;
    uint64_t prev = 0;
    tt_err_t err;

    tt_ustate_reset(s);
    err = check_frame(p, len, "user state", errstr, errstr_size);
    if (err)
        return err;
    if (len < TT_USTATE_HEADER_SIZE + TT_USTATE_CRC_SIZE)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "user state: record of %zu bytes is truncated", len);
    dim = get_u16(p + 2);
    n = get_u16(p + 4);
    end = p + len - TT_USTATE_CRC_SIZE;
    if (p[1] > TT_USTATE_CELL_ACTIVE || get_u16(p + 6) != 0 ||
        dim > TT_USTATE_DIM_MAX ||
        TT_USTATE_HEADER_SIZE + 4u * (size_t)dim + 3u * (size_t)n >
            len - TT_USTATE_CRC_SIZE)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "user state: malformed header (cell %u, dim %u, "
                       "%u history entries, %zu bytes)",
                       p[1], dim, n, len);
    if (dim > s->dim_max)
        return tt_errf(TT_ERR_OVERFLOW, errstr, errstr_size,
                       "user state: embedding of %u floats, room for %u", dim,
                       s->dim_max);
    if ((int64_t)get_u64(p + 24) < -1)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "user state: negative last event time");
    p += TT_USTATE_HEADER_SIZE;
    get_floats(s->emb, p, dim);
    if (!emb_finite(s->emb, dim)) {
        uint32_t i = 0;

        while (bits_finite(float_bits(s->emb[i])))
            i++;
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "user state: embedding[%u] is not finite", i);
    }
    p += 4 * (size_t)dim;
    /* A history longer than the buffer keeps its newest entries; the older
     * ones are still parsed, since offsets are chained. */
    if (n > s->hist_cap)
        skip = n - s->hist_cap;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t item, code, cat, off;

        if (!get_varint(&p, end, &item) || !get_varint(&p, end, &code) ||
            !get_varint(&p, end, &cat))
            return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                           "user state: history[%u] truncated or malformed",
                           i);
        off = i == 0 ? code - 1 : prev + unzigzag(code);
        if (item > (uint64_t)INT64_MAX ||
            (i == 0 && code > (uint64_t)1 << 63) || (int64_t)off < -1 ||
            cat > (uint64_t)INT32_MAX + 1)
            return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                           "user state: history[%u] out of range", i);
        prev = off;
        if (i >= skip) {
            struct tt_ustate_item *it = &s->hist[i - skip];

            it->item_id = (int64_t)item;
            it->offset = (int64_t)off;
            it->category = (int32_t)((int64_t)cat - 1);
        }
    }
    if (p != end)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "user state: %zu bytes after the history",
                       (size_t)(end - p));
    p = data;
    s->cell = p[1];
    s->dim = dim;
    s->hist_len = n - skip;
    s->count = get_u64(p + 8);
    s->model_version = get_u64(p + 16);
    s->last_event_ms = (int64_t)get_u64(p + 24);
    return TT_ERR_OK;
}

void tt_ustate_user_key(uint8_t key[TT_USTATE_USER_KEY_SIZE], int64_t user_id)
{
    uint64_t u = (uint64_t)user_id;

    key[0] = TT_USTATE_KEY_USER;
    for (int i = 0; i < 8; i++)
        key[1 + i] = (uint8_t)(u >> (56 - 8 * i));
}

bool tt_ustate_parse_user_key(const void *key, size_t len, int64_t *user_id)
{
    const uint8_t *k = key;
    uint64_t u = 0;

    if (len != TT_USTATE_USER_KEY_SIZE || k[0] != TT_USTATE_KEY_USER)
        return false;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | k[1 + i];
    if (u > (uint64_t)INT64_MAX)
        return false;
    *user_id = (int64_t)u;
    return true;
}

size_t tt_ustate_meta_key(const char *name, uint8_t *buf, size_t cap)
{
    size_t n = strlen(name);

    if (n == 0 || n > TT_USTATE_META_NAME_MAX || n + 1 > cap)
        return 0;
    buf[0] = TT_USTATE_KEY_META;
    memcpy(buf + 1, name, n);
    return n + 1;
}

tt_err_t tt_ustate_meta_encode(const void *payload, size_t plen, uint8_t *buf,
                               size_t cap, size_t *len)
{
    size_t need = 1 + plen + TT_USTATE_CRC_SIZE;

    if (plen > TT_USTATE_META_PAYLOAD_MAX || need > cap)
        return TT_ERR_OVERFLOW;
    buf[0] = TT_USTATE_VERSION;
    if (plen)
        memcpy(buf + 1, payload, plen);
    put_u32(buf + 1 + plen, tt_crc32c(0, buf, 1 + plen));
    *len = need;
    return TT_ERR_OK;
}

tt_err_t tt_ustate_meta_decode(const void *data, size_t len,
                               const uint8_t **payload, size_t *plen,
                               char *errstr, size_t errstr_size)
{
    tt_err_t err = check_frame(data, len, "state metadata", errstr,
                               errstr_size);

    if (err)
        return err;
    *payload = (const uint8_t *)data + 1;
    *plen = len - 1 - TT_USTATE_CRC_SIZE;
    return TT_ERR_OK;
}
