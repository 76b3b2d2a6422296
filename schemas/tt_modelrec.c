/*
 * tt_modelrec: payload layouts of the model records, CRC-32C and the COMMIT
 * digest.  See tt_modelrec.h for the byte tables.
 */
#include "schemas/tt_modelrec.h"

#include <inttypes.h>
#include <string.h>

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

/* Byte-at-a-time table of the reflected Castagnoli polynomial 0x82F63B78
 * (the unit test rebuilds it bit by bit). */
static const uint32_t crc32c_table[256] = {
    0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4,
    0xc79a971f, 0x35f1141c, 0x26a1e7e8, 0xd4ca64eb,
    0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
    0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24,
    0x105ec76f, 0xe235446c, 0xf165b798, 0x030e349b,
    0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
    0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54,
    0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b,
    0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
    0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35,
    0xaa64d611, 0x580f5512, 0x4b5fa6e6, 0xb93425e5,
    0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
    0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45,
    0xf779deae, 0x05125dad, 0x1642ae59, 0xe4292d5a,
    0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
    0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595,
    0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48,
    0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
    0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687,
    0x0c38d26c, 0xfe53516f, 0xed03a29b, 0x1f682198,
    0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
    0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38,
    0xdbfc821c, 0x2997011f, 0x3ac7f2eb, 0xc8ac71e8,
    0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
    0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096,
    0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789,
    0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
    0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46,
    0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9,
    0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
    0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36,
    0x3cdb9bdd, 0xceb018de, 0xdde0eb2a, 0x2f8b6829,
    0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
    0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93,
    0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043,
    0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
    0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3,
    0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc,
    0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
    0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033,
    0xa24bb5a6, 0x502036a5, 0x4370c551, 0xb11b4652,
    0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
    0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d,
    0xef087a76, 0x1d63f975, 0x0e330a81, 0xfc588982,
    0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
    0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622,
    0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2,
    0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
    0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530,
    0x0417b1db, 0xf67c32d8, 0xe52cc12c, 0x1747422f,
    0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
    0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0,
    0xd3d3e1ab, 0x21b862a8, 0x32e8915c, 0xc083125f,
    0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
    0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90,
    0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f,
    0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
    0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1,
    0x69e9f0d5, 0x9b8273d6, 0x88d28022, 0x7ab90321,
    0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
    0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81,
    0x34f4f86a, 0xc69f7b69, 0xd5cf889d, 0x27a40b9e,
    0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
    0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

uint32_t tt_modelrec_crc32c_sw(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;

    crc = ~crc;
    for (size_t i = 0; i < len; i++)
        crc = (crc >> 8) ^ crc32c_table[(crc ^ p[i]) & 0xFF];
    return ~crc;
}

/* A model is hundreds of MB that are checksummed when published and again
 * when loaded; the SSE4.2 crc32 instruction does it ~30 times faster than
 * the table, so use it where the CPU has it. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = ~crc;

    for (; len >= 8; len -= 8, p += 8) {
        uint64_t v;

        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
    }
    for (; len > 0; len--, p++)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p);
    return ~(uint32_t)c;
}

static bool have_crc32c_hw(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
}
#else
static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
    return tt_modelrec_crc32c_sw(crc, p, len);
}

static bool have_crc32c_hw(void)
{
    return false;
}
#endif

uint32_t tt_modelrec_crc32c(uint32_t crc, const void *data, size_t len)
{
    if (len >= 16 && have_crc32c_hw())
        return crc32c_hw(crc, data, len);
    return tt_modelrec_crc32c_sw(crc, data, len);
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
    d->crc = tt_modelrec_crc32c(d->crc, rec, sizeof(rec));
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
