/*
 * tt_modelrec: the records a published model is made of, and the binary
 * layouts of their payloads.
 *
 * The retraining job publishes model version V to the compacted model topic
 * as ModelRecord messages (schemas/model_record.avsc, encoded by tt_codec):
 *
 *     seq 0        HEADER   dimensions, t*, K, flags, counts, input cutoffs
 *     seq 1..      DENSE    slices of named dense tensors (GRUs, psi, W, g)
 *     seq ...      ITEMS    chunks of (item id, vector) rows
 *     seq ...      USERS    chunks of (user id, phi_u) rows of active users
 *     seq n        COMMIT   n (records before it) and a digest over them
 *
 * seq numbers the records of one version from 0 without gaps, across kinds;
 * the order of kinds above is a convention, not a requirement.  A reader
 * collects records of version V, and only the COMMIT makes V usable: it
 * checks that seq 0..n-1 are all present and that their digest matches.  No
 * record exceeds TT_MODELREC_MAX_RECORD bytes (~900 KB, under Kafka's default
 * 1 MB message limit), so payloads are at most TT_MODELREC_MAX_PAYLOAD.
 *
 * Each record carries the CRC-32C (common/tt_crc32c.h) of its payload
 * (checked by the decoder).  The COMMIT digest is the CRC-32C, continued
 * record after record in seq order, of the 9 bytes (kind u8, seq u32,
 * payload_crc32c u32) of each record.
 *
 * Payload layouts, version 1: little-endian, packed, no padding; f32 is an
 * IEEE-754 binary32 bit pattern.  A reader refuses a HEADER whose layout
 * field it does not know, and with it the whole model.
 *
 *   HEADER (64 + 12 * n_cutoffs bytes)
 *     off  size  field
 *     0    4     u32 layout        1
 *     4    4     u32 flags         bit 0 PLUS (2TS-Plus W), bit 1 FEATURES;
 *                                  other bits 0
 *     8    4     u32 dim           d, the user-state dimension
 *     12   4     u32 feature_dim   dimension of g(f_i), 0 without features
 *     16   4     u32 tstar         t*: active when training count > t*
 *     20   4     u32 k             K: active users' last-K steps
 *     24   8     u64 n_items       rows in all ITEMS records
 *     32   8     u64 n_users       rows in all USERS records
 *     40   4     u32 n_dense       distinct DENSE tensors
 *     44   4     u32 n_cutoffs     entries in the cutoff table below
 *     48   8     i64 created_ms    wall time the model was built
 *     56   8     i64 cutoff_ms     event_time of the last training event
 *     64   12*n  cutoff table: { i32 partition, i64 offset } per input
 *                partition: the first input offset NOT seen in training
 *
 *   DENSE (22 + name_len + 4 * count bytes): a slice of a row-major tensor
 *     0    2     u16 name_len      1..63
 *     2    n     name              [A-Za-z0-9_.], not NUL-terminated
 *     2+n  4     u32 rows
 *     6+n  4     u32 cols
 *     10+n 8     u64 first         index of the slice's first element
 *     18+n 4     u32 count         elements in this slice;
 *                                  first + count <= rows * cols
 *     22+n 4*c   f32 values
 *
 *   ITEMS, USERS (8 + n_rows * (8 + 4 * row_dim) bytes)
 *     0    4     u32 row_dim       1..TT_MODELREC_MAX_ROW_DIM
 *     4    4     u32 n_rows
 *     8    ...   n_rows x { i64 id, row_dim x f32 }
 *
 *   COMMIT (16 bytes)
 *     0    4     u32 n_records     records of the version before COMMIT
 *     4    4     u32 digest        see above
 *     8    8     u64 payload_bytes sum of their payload lengths
 *
 * Builders write into a caller buffer of `cap` bytes; parsers return views
 * that point into the payload (valid while it is) and never allocate.
 * Thread-safe: pure functions.
 */
#ifndef TT_MODELREC_H
#define TT_MODELREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"

/* The Avro enum io.twotime.ModelRecordKind, in symbol order. */
enum tt_modelrec_kind {
    TT_MODELREC_HEADER = 0,
    TT_MODELREC_DENSE = 1,
    TT_MODELREC_ITEMS = 2,
    TT_MODELREC_USERS = 3,
    TT_MODELREC_COMMIT = 4,
    TT_MODELREC__KINDS
};

/* Limits: a whole encoded record, and the payload inside it (the rest is
 * room for the framing and the other fields, at most 46 bytes). */
#define TT_MODELREC_MAX_RECORD (900 * 1024)
#define TT_MODELREC_MAX_PAYLOAD (TT_MODELREC_MAX_RECORD - 64)
#define TT_MODELREC_LAYOUT 1
#define TT_MODELREC_FLAG_PLUS 0x1u
#define TT_MODELREC_FLAG_FEATURES 0x2u
#define TT_MODELREC_MAX_CUTOFFS 16384
#define TT_MODELREC_NAME_MAX 63
#define TT_MODELREC_MAX_ROW_DIM 16384

/* One ModelRecord message.  Encoding computes payload_crc32c; decoding checks
 * it and leaves `payload` pointing into the decoded message (borrowed). */
struct tt_modelrec {
    enum tt_modelrec_kind kind;
    int64_t model_version; /* >= 0 */
    int32_t seq;           /* >= 0 */
    const uint8_t *payload;
    size_t payload_len; /* <= TT_MODELREC_MAX_PAYLOAD */
    uint32_t payload_crc32c;
};

/* The Avro symbol of `kind` ("HEADER"), or "?" when out of range. */
const char *tt_modelrec_kind_name(enum tt_modelrec_kind kind);

/* ---- HEADER ---- */

struct tt_modelrec_cutoff {
    int32_t partition;
    int64_t offset;
};

struct tt_modelrec_header {
    uint32_t layout; /* set by the parser; the builder writes version 1 */
    uint32_t flags;
    uint32_t dim;
    uint32_t feature_dim;
    uint32_t tstar;
    uint32_t k;
    uint64_t n_items;
    uint64_t n_users;
    uint32_t n_dense;
    uint32_t n_cutoffs;
    int64_t created_ms;
    int64_t cutoff_ms;
    /* Builder: n_cutoffs entries (borrowed).  Parser: NULL; read them with
     * tt_modelrec_header_cutoff(). */
    const struct tt_modelrec_cutoff *cutoffs;
    const uint8_t *cutoffs_raw; /* parser: the table inside the payload */
};

/* Writes a HEADER payload.  TT_ERR_RANGE for unknown flags or too many
 * cutoffs, TT_ERR_OVERFLOW when cap is too small. */
tt_err_t tt_modelrec_header_build(const struct tt_modelrec_header *h,
                                  uint8_t *buf, size_t cap, size_t *len,
                                  char *errstr, size_t errstr_size);

/* Parses a HEADER payload into *h.  TT_ERR_VERSION for an unknown layout,
 * TT_ERR_PARSE for a wrong size or unknown flags. */
tt_err_t tt_modelrec_header_parse(const uint8_t *p, size_t len,
                                  struct tt_modelrec_header *h, char *errstr,
                                  size_t errstr_size);

/* Cutoff i (< h->n_cutoffs) of a parsed header. */
struct tt_modelrec_cutoff
tt_modelrec_header_cutoff(const struct tt_modelrec_header *h, uint32_t i);

/* ---- DENSE ---- */

struct tt_modelrec_dense {
    char name[TT_MODELREC_NAME_MAX + 1]; /* NUL-terminated copy */
    uint32_t rows, cols;
    uint64_t first;
    uint32_t count;
    const uint8_t *values; /* parser: count LE floats inside the payload */
};

/* Most floats one DENSE record can carry for a name of name_len bytes. */
uint32_t tt_modelrec_dense_per_chunk(size_t name_len);

/* Writes a DENSE payload: elements [first, first + count) of tensor `name`
 * (rows x cols, row-major), taken from values[0..count). */
tt_err_t tt_modelrec_dense_build(const char *name, uint32_t rows,
                                 uint32_t cols, uint64_t first,
                                 const float *values, uint32_t count,
                                 uint8_t *buf, size_t cap, size_t *len,
                                 char *errstr, size_t errstr_size);

/* Parses a DENSE payload into *d (TT_ERR_PARSE when malformed). */
tt_err_t tt_modelrec_dense_parse(const uint8_t *p, size_t len,
                                 struct tt_modelrec_dense *d, char *errstr,
                                 size_t errstr_size);

/* Copies n little-endian floats from a parsed payload to dst. */
void tt_modelrec_floats_get(float *dst, const uint8_t *src, size_t n);

/* ---- ITEMS, USERS ---- */

struct tt_modelrec_rows {
    uint32_t row_dim;
    uint32_t n_rows;
    const uint8_t *data; /* parser: n_rows x (8 + 4 * row_dim) bytes */
};

/* Most rows of dimension row_dim one ITEMS/USERS record can carry (0 when
 * row_dim is 0 or above TT_MODELREC_MAX_ROW_DIM). */
uint32_t tt_modelrec_rows_per_chunk(uint32_t row_dim);

/* Writes an ITEMS/USERS payload of n_rows rows: ids[i] and the row_dim
 * floats at vecs + i * row_dim. */
tt_err_t tt_modelrec_rows_build(uint32_t row_dim, const int64_t *ids,
                                const float *vecs, uint32_t n_rows,
                                uint8_t *buf, size_t cap, size_t *len,
                                char *errstr, size_t errstr_size);

/* Parses an ITEMS/USERS payload into *r (TT_ERR_PARSE when malformed). */
tt_err_t tt_modelrec_rows_parse(const uint8_t *p, size_t len,
                                struct tt_modelrec_rows *r, char *errstr,
                                size_t errstr_size);

/* Row i (< r->n_rows) of a parsed chunk: its id, and row_dim floats to vec. */
void tt_modelrec_rows_get(const struct tt_modelrec_rows *r, uint32_t i,
                          int64_t *id, float *vec);

/* ---- COMMIT ---- */

/* The running digest of a version's records, kept by the publisher and by
 * the reader alike; records must be added in seq order from 0. */
struct tt_modelrec_digest {
    uint32_t crc;
    uint32_t n_records;
    uint64_t payload_bytes;
};

struct tt_modelrec_commit {
    uint32_t n_records;
    uint32_t digest;
    uint64_t payload_bytes;
};

/* Starts an empty digest. */
void tt_modelrec_digest_init(struct tt_modelrec_digest *d);

/* Adds the record with this kind, seq and payload CRC/length.  TT_ERR_RANGE
 * when seq is not the next number or kind is COMMIT. */
tt_err_t tt_modelrec_digest_add(struct tt_modelrec_digest *d,
                                enum tt_modelrec_kind kind, int32_t seq,
                                uint32_t payload_crc32c, size_t payload_len,
                                char *errstr, size_t errstr_size);

/* Writes the COMMIT payload for the records added to d. */
tt_err_t tt_modelrec_commit_build(const struct tt_modelrec_digest *d,
                                  uint8_t *buf, size_t cap, size_t *len,
                                  char *errstr, size_t errstr_size);

/* Parses a COMMIT payload (TT_ERR_PARSE when its size is not 16). */
tt_err_t tt_modelrec_commit_parse(const uint8_t *p, size_t len,
                                  struct tt_modelrec_commit *c, char *errstr,
                                  size_t errstr_size);

/* TT_ERR_CORRUPT unless the records a reader added to d are exactly those
 * the COMMIT c describes. */
tt_err_t tt_modelrec_commit_check(const struct tt_modelrec_digest *d,
                                  const struct tt_modelrec_commit *c,
                                  char *errstr, size_t errstr_size);

#endif
