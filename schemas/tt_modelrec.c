/*
 * tt_modelrec: payload layouts of the model records and the COMMIT digest.  See tt_modelrec.h for the byte tables.
 */
#include "schemas/tt_modelrec.h"

#include <inttypes.h>
#include <string.h>

#include "common/tt_crc32c.h"
#include "schemas/tt_schemas_int.h"

#define HEADER_FIXED 64
#define CUTOFF_SIZE 12
#define DENSE_FIXED 22
#define ROWS_FIXED 8
#define COMMIT_SIZE 16

static const char *const kind_names[TT_MODELREC__KINDS] = {
    "HEADER", "DENSE", "ITEMS", "USERS", "COMMIT"};

const char *tt_modelrec_kind_name(enum tt_modelrec_kind kind)
{
    if ((unsigned)kind >= TT_MODELREC__KINDS)
        return "?";
    return kind_names[kind];
}

static tt_err_t need(size_t want, size_t cap, const char *what, char *errstr,
                     size_t errstr_size)
{
    if (want > cap)
        return tt_errf(TT_ERR_OVERFLOW, errstr, errstr_size,
                       "%s payload needs %zu bytes, buffer has %zu", what,
                       want, cap);
    if (want > TT_MODELREC_MAX_PAYLOAD)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "%s payload of %zu bytes exceeds the %d-byte limit",
                       what, want, TT_MODELREC_MAX_PAYLOAD);
    return TT_ERR_OK;
}

/* ---- HEADER ---- */

tt_err_t tt_modelrec_header_build(const struct tt_modelrec_header *h,
                                  uint8_t *buf, size_t cap, size_t *len,
                                  char *errstr, size_t errstr_size)
{
    const uint32_t known = TT_MODELREC_FLAG_PLUS | TT_MODELREC_FLAG_FEATURES;
    size_t size;
    tt_err_t err;

    if (h->flags & ~known)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "HEADER: unknown flags 0x%x", h->flags & ~known);
    if (h->n_cutoffs > TT_MODELREC_MAX_CUTOFFS ||
        (h->n_cutoffs && !h->cutoffs))
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "HEADER: %u cutoffs (at most %d, and a table)",
                       h->n_cutoffs, TT_MODELREC_MAX_CUTOFFS);
    size = HEADER_FIXED + (size_t)h->n_cutoffs * CUTOFF_SIZE;
    err = need(size, cap, "HEADER", errstr, errstr_size);
    if (err)
        return err;
    tt_wire_put_u32le(buf + 0, TT_MODELREC_LAYOUT);
    tt_wire_put_u32le(buf + 4, h->flags);
    tt_wire_put_u32le(buf + 8, h->dim);
    tt_wire_put_u32le(buf + 12, h->feature_dim);
    tt_wire_put_u32le(buf + 16, h->tstar);
    tt_wire_put_u32le(buf + 20, h->k);
    tt_wire_put_u64le(buf + 24, h->n_items);
    tt_wire_put_u64le(buf + 32, h->n_users);
    tt_wire_put_u32le(buf + 40, h->n_dense);
    tt_wire_put_u32le(buf + 44, h->n_cutoffs);
    tt_wire_put_u64le(buf + 48, (uint64_t)h->created_ms);
    tt_wire_put_u64le(buf + 56, (uint64_t)h->cutoff_ms);
    for (uint32_t i = 0; i < h->n_cutoffs; i++) {
        uint8_t *q = buf + HEADER_FIXED + (size_t)i * CUTOFF_SIZE;

        tt_wire_put_u32le(q, (uint32_t)h->cutoffs[i].partition);
        tt_wire_put_u64le(q + 4, (uint64_t)h->cutoffs[i].offset);
    }
    *len = size;
    return TT_ERR_OK;
}

tt_err_t tt_modelrec_header_parse(const uint8_t *p, size_t len,
                                  struct tt_modelrec_header *h, char *errstr,
                                  size_t errstr_size)
{
    const uint32_t known = TT_MODELREC_FLAG_PLUS | TT_MODELREC_FLAG_FEATURES;

    if (len < HEADER_FIXED)
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                       "HEADER payload of %zu bytes, expected at least %d",
                       len, HEADER_FIXED);
    memset(h, 0, sizeof(*h));
    h->layout = tt_wire_get_u32le(p);
    if (h->layout != TT_MODELREC_LAYOUT)
        return tt_errf(TT_ERR_VERSION, errstr, errstr_size,
                       "HEADER: payload layout %u, this build reads %d",
                       h->layout, TT_MODELREC_LAYOUT);
    h->flags = tt_wire_get_u32le(p + 4);
    h->dim = tt_wire_get_u32le(p + 8);
    h->feature_dim = tt_wire_get_u32le(p + 12);
    h->tstar = tt_wire_get_u32le(p + 16);
    h->k = tt_wire_get_u32le(p + 20);
    h->n_items = tt_wire_get_u64le(p + 24);
    h->n_users = tt_wire_get_u64le(p + 32);
    h->n_dense = tt_wire_get_u32le(p + 40);
    h->n_cutoffs = tt_wire_get_u32le(p + 44);
    h->created_ms = (int64_t)tt_wire_get_u64le(p + 48);
    h->cutoff_ms = (int64_t)tt_wire_get_u64le(p + 56);
    if (h->flags & ~known)
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                       "HEADER: unknown flags 0x%x", h->flags & ~known);
    if (h->n_cutoffs > TT_MODELREC_MAX_CUTOFFS ||
        len != HEADER_FIXED + (size_t)h->n_cutoffs * CUTOFF_SIZE)
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                       "HEADER: %zu bytes do not hold %u cutoffs", len,
                       h->n_cutoffs);
    h->cutoffs_raw = p + HEADER_FIXED;
    return TT_ERR_OK;
}

struct tt_modelrec_cutoff
tt_modelrec_header_cutoff(const struct tt_modelrec_header *h, uint32_t i)
{
    const uint8_t *q = h->cutoffs_raw + (size_t)i * CUTOFF_SIZE;
    struct tt_modelrec_cutoff c;

    c.partition = (int32_t)tt_wire_get_u32le(q);
    c.offset = (int64_t)tt_wire_get_u64le(q + 4);
    return c;
}

/* ---- DENSE ---- */

static bool dense_name_ok(const char *name, size_t n)
{
    if (n == 0 || n > TT_MODELREC_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.'))
            return false;
    }
    return true;
}

uint32_t tt_modelrec_dense_per_chunk(size_t name_len)
{
    if (name_len == 0 || name_len > TT_MODELREC_NAME_MAX)
        return 0;
    return (uint32_t)((TT_MODELREC_MAX_PAYLOAD - DENSE_FIXED - name_len) / 4);
}

tt_err_t tt_modelrec_dense_build(const char *name, uint32_t rows,
                                 uint32_t cols, uint64_t first,
                                 const float *values, uint32_t count,
                                 uint8_t *buf, size_t cap, size_t *len,
                                 char *errstr, size_t errstr_size)
{
    size_t n = strnlen(name, TT_MODELREC_NAME_MAX + 1);
    uint64_t total = (uint64_t)rows * cols;
    size_t size;
    tt_err_t err;

    if (!dense_name_ok(name, n))
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "DENSE: tensor name must be 1..%d of [A-Za-z0-9_.]",
                       TT_MODELREC_NAME_MAX);
    if (first > total || count > total - first || (count && !values))
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "DENSE %s: slice [%" PRIu64 ", +%u) outside %ux%u",
                       name, first, count, rows, cols);
    size = DENSE_FIXED + n + (size_t)count * 4;
    err = need(size, cap, "DENSE", errstr, errstr_size);
    if (err)
        return err;
    buf[0] = (uint8_t)n;
    buf[1] = 0;
    memcpy(buf + 2, name, n);
    tt_wire_put_u32le(buf + 2 + n, rows);
    tt_wire_put_u32le(buf + 6 + n, cols);
    tt_wire_put_u64le(buf + 10 + n, first);
    tt_wire_put_u32le(buf + 18 + n, count);
    tt_wire_put_f32s(buf + DENSE_FIXED + n, values, count);
    *len = size;
    return TT_ERR_OK;
}

tt_err_t tt_modelrec_dense_parse(const uint8_t *p, size_t len,
                                 struct tt_modelrec_dense *d, char *errstr,
                                 size_t errstr_size)
{
    size_t n;
    uint64_t total;

    if (len < 2)
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                       "DENSE payload of %zu bytes", len);
    n = (size_t)p[0] | (size_t)p[1] << 8;
    if (len < DENSE_FIXED + n || !dense_name_ok((const char *)p + 2, n))
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                       "DENSE: bad tensor name (length %zu)", n);
    memcpy(d->name, p + 2, n);
    d->name[n] = '\0';
    d->rows = tt_wire_get_u32le(p + 2 + n);
    d->cols = tt_wire_get_u32le(p + 6 + n);
    d->first = tt_wire_get_u64le(p + 10 + n);
    d->count = tt_wire_get_u32le(p + 18 + n);
    d->values = p + DENSE_FIXED + n;
    total = (uint64_t)d->rows * d->cols;
    if (len != DENSE_FIXED + n + (size_t)d->count * 4)
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                       "DENSE %s: %zu bytes do not hold %u floats", d->name,
                       len, d->count);
    if (d->first > total || d->count > total - d->first)
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                       "DENSE %s: slice [%" PRIu64 ", +%u) outside %ux%u",
                       d->name, d->first, d->count, d->rows, d->cols);
    return TT_ERR_OK;
}

void tt_modelrec_floats_get(float *dst, const uint8_t *src, size_t n)
{
    tt_wire_get_f32s(dst, src, n);
}

/* ---- ITEMS, USERS ---- */

uint32_t tt_modelrec_rows_per_chunk(uint32_t row_dim)
{
    if (row_dim == 0 || row_dim > TT_MODELREC_MAX_ROW_DIM)
        return 0;
    return (uint32_t)((TT_MODELREC_MAX_PAYLOAD - ROWS_FIXED) /
                      (8 + 4 * (size_t)row_dim));
}

tt_err_t tt_modelrec_rows_build(uint32_t row_dim, const int64_t *ids,
                                const float *vecs, uint32_t n_rows,
                                uint8_t *buf, size_t cap, size_t *len,
                                char *errstr, size_t errstr_size)
{
    size_t row = 8 + 4 * (size_t)row_dim;
    size_t size;
    tt_err_t err;

    if (row_dim == 0 || row_dim > TT_MODELREC_MAX_ROW_DIM)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "rows: row_dim %u outside 1..%d", row_dim,
                       TT_MODELREC_MAX_ROW_DIM);
    if (n_rows > tt_modelrec_rows_per_chunk(row_dim))
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "rows: %u rows of dim %u exceed one record (%u)",
                       n_rows, row_dim, tt_modelrec_rows_per_chunk(row_dim));
    size = ROWS_FIXED + (size_t)n_rows * row;
    err = need(size, cap, "rows", errstr, errstr_size);
    if (err)
        return err;
    tt_wire_put_u32le(buf, row_dim);
    tt_wire_put_u32le(buf + 4, n_rows);
    for (uint32_t i = 0; i < n_rows; i++) {
        uint8_t *q = buf + ROWS_FIXED + (size_t)i * row;

        tt_wire_put_u64le(q, (uint64_t)ids[i]);
        tt_wire_put_f32s(q + 8, vecs + (size_t)i * row_dim, row_dim);
    }
    *len = size;
    return TT_ERR_OK;
}

tt_err_t tt_modelrec_rows_parse(const uint8_t *p, size_t len,
                                struct tt_modelrec_rows *r, char *errstr,
                                size_t errstr_size)
{
    if (len < ROWS_FIXED)
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                       "rows payload of %zu bytes", len);
    r->row_dim = tt_wire_get_u32le(p);
    r->n_rows = tt_wire_get_u32le(p + 4);
    r->data = p + ROWS_FIXED;
    if (r->row_dim == 0 || r->row_dim > TT_MODELREC_MAX_ROW_DIM)
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                       "rows: row_dim %u outside 1..%d", r->row_dim,
                       TT_MODELREC_MAX_ROW_DIM);
    /* n_rows is checked against the length by division: no overflow. */
    if ((len - ROWS_FIXED) % (8 + 4 * (size_t)r->row_dim) != 0 ||
        (len - ROWS_FIXED) / (8 + 4 * (size_t)r->row_dim) != r->n_rows)
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                       "rows: %zu bytes do not hold %u rows of dim %u", len,
                       r->n_rows, r->row_dim);
    return TT_ERR_OK;
}

void tt_modelrec_rows_get(const struct tt_modelrec_rows *r, uint32_t i,
                          int64_t *id, float *vec)
{
    const uint8_t *q = r->data + (size_t)i * (8 + 4 * (size_t)r->row_dim);

    *id = (int64_t)tt_wire_get_u64le(q);
    tt_wire_get_f32s(vec, q + 8, r->row_dim);
}

/* ---- COMMIT ---- */

void tt_modelrec_digest_init(struct tt_modelrec_digest *d)
{
    d->crc = 0;
    d->n_records = 0;
    d->payload_bytes = 0;
}

tt_err_t tt_modelrec_digest_add(struct tt_modelrec_digest *d,
                                enum tt_modelrec_kind kind, int32_t seq,
                                uint32_t payload_crc32c, size_t payload_len,
                                char *errstr, size_t errstr_size)
{
    uint8_t rec[9];

    if ((unsigned)kind >= TT_MODELREC_COMMIT)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "digest: kind %d cannot be part of a model",
                       (int)kind);
    if (seq < 0 || (uint32_t)seq != d->n_records)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "digest: record seq %d where %u was next", (int)seq,
                       d->n_records);
    rec[0] = (uint8_t)kind;
    tt_wire_put_u32le(rec + 1, (uint32_t)seq);
    tt_wire_put_u32le(rec + 5, payload_crc32c);
    d->crc = tt_crc32c(d->crc, rec, sizeof(rec));
    d->n_records++;
    d->payload_bytes += payload_len;
    return TT_ERR_OK;
}

tt_err_t tt_modelrec_commit_build(const struct tt_modelrec_digest *d,
                                  uint8_t *buf, size_t cap, size_t *len,
                                  char *errstr, size_t errstr_size)
{
    tt_err_t err = need(COMMIT_SIZE, cap, "COMMIT", errstr, errstr_size);

    if (err)
        return err;
    tt_wire_put_u32le(buf, d->n_records);
    tt_wire_put_u32le(buf + 4, d->crc);
    tt_wire_put_u64le(buf + 8, d->payload_bytes);
    *len = COMMIT_SIZE;
    return TT_ERR_OK;
}

tt_err_t tt_modelrec_commit_parse(const uint8_t *p, size_t len,
                                  struct tt_modelrec_commit *c, char *errstr,
                                  size_t errstr_size)
{
    if (len != COMMIT_SIZE)
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                       "COMMIT payload of %zu bytes, expected %d", len,
                       COMMIT_SIZE);
    c->n_records = tt_wire_get_u32le(p);
    c->digest = tt_wire_get_u32le(p + 4);
    c->payload_bytes = tt_wire_get_u64le(p + 8);
    return TT_ERR_OK;
}

tt_err_t tt_modelrec_commit_check(const struct tt_modelrec_digest *d,
                                  const struct tt_modelrec_commit *c,
                                  char *errstr, size_t errstr_size)
{
    if (d->n_records != c->n_records)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "COMMIT names %u records, %u were read", c->n_records,
                       d->n_records);
    if (d->payload_bytes != c->payload_bytes)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "COMMIT names %" PRIu64 " payload bytes, %" PRIu64
                       " were read",
                       c->payload_bytes, d->payload_bytes);
    if (d->crc != c->digest)
        return tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                       "COMMIT digest %08x, records read give %08x",
                       c->digest, d->crc);
    return TT_ERR_OK;
}
