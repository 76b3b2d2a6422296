/*
 * tt_ustate: one user's streaming state and its on-disk encoding.
 *
 * A `struct tt_user_state` is what the stream processor keeps per user: how
 * many interactions were applied, the recent history (enough to rebuild the
 * embedding with the GRU), the current embedding, the model version and GRU
 * cell that computed it, and the event time of the last event.  The struct is
 * caller-owned with fixed-capacity buffers (emb[dim_max], hist[hist_cap]), so
 * decoding into it never allocates.
 *
 * This header is also the format specification of the RocksDB records of
 * state/ (keys and values), the way SQLite documents its file format.  The
 * layouts below are a contract with data already on disk: change them only by
 * adding a new format version and keeping the decoder of the old one.
 *
 * KEYS (bytewise order, RocksDB's default comparator)
 *
 *   User record, in the column family of the user's input partition:
 *     offset  size  field
 *     0       1     0x75 ('u')
 *     1       8     user id, unsigned big-endian (ids are >= 0), so that an
 *                   iterator visits users in id order
 *
 *   Metadata record:
 *     0       1     0x6D ('m')
 *     1       n     ASCII name, 1..TT_USTATE_META_NAME_MAX bytes
 *   Names used by tt_state: "offset" (partition column family: the last input
 *   offset applied), "format" (default column family: the store's format).
 *   'm' < 'u', so metadata never interleaves with users in an iteration.
 *
 * VALUES (integers little-endian, floats IEEE-754 binary32 little-endian)
 *
 *   Every value, whatever its version, starts with a version byte and ends
 *   with the CRC-32C (common/tt_crc32c.h) of all the bytes before it.  The
 *   checksum is verified before the version is read, so a flipped bit is
 *   always TT_ERR_CORRUPT while an intact record of an unknown version is
 *   TT_ERR_VERSION.
 *
 *   User record, version 1 (d = dim, n = history entries):
 *     offset        size  field
 *     0             1     version = 1
 *     1             1     cell: 0 inactive (psi, GRU Theta1),
 *                         1 active (phi_u, GRU Theta2)
 *     2             2     d, 0..TT_USTATE_DIM_MAX
 *     4             2     n, 0..TT_USTATE_HIST_MAX
 *     6             2     reserved, 0
 *     8             8     count: interactions applied (u64)
 *     16            8     model_version (u64)
 *     24            8     last_event_ms: event time of the last event (i64,
 *                         -1 when none)
 *     32            4d    embedding
 *     32+4d         H     history, oldest first: n entries, each three
 *                         unsigned LEB128 varints (7 bits a byte, low
 *                         first, shortest form, at most 64 bits):
 *                           item id (>= 0)
 *                           offset code: entry 0: offset + 1; entry i > 0:
 *                             zigzag(offset_i - offset_{i-1}) with the
 *                             difference taken modulo 2^64
 *                             (zigzag(x) = (x << 1) ^ (x >> 63), arithmetic)
 *                           category + 1 (0 = no category)
 *                         Offsets are input offsets (>= -1; -1 when the event
 *                         came from no log).  3 <= H/n <= 24 bytes; ~6 for
 *                         small ids and consecutive offsets.
 *     32+4d+H       4     CRC-32C of bytes [0, 32+4d+H)
 *   Total 36 + 4d + H bytes (about 950 for d = 64 and 100 entries, against
 *   2292 with fixed 20-byte entries: bench/bench_state.c measured the
 *   difference).  Embedding values are finite.  Every state has exactly
 *   one encoding.
 *
 *   Metadata record, version 1:
 *     0             1     version = 1
 *     1             p     payload (for "offset": i64 offset; for "format":
 *                         u32 store format)
 *     1+p           4     CRC-32C of bytes [0, 1+p)
 *
 * The category is kept beside the item id because with item features on, the
 * item vector [x_i ; g(f_i)] needs it and the event is its only source for
 * items unseen in training.
 *
 * Threading: the functions are pure; a struct is used by one thread at a time.
 */
#ifndef TT_USTATE_H
#define TT_USTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"

#define TT_USTATE_VERSION 1
#define TT_USTATE_DIM_MAX 4096u
#define TT_USTATE_HIST_MAX 65535u
#define TT_USTATE_HEADER_SIZE 32u
/* The most bytes one encoded history entry takes (9 + 10 + 5). */
#define TT_USTATE_ITEM_SIZE 24u
#define TT_USTATE_CRC_SIZE 4u
/* The most bytes a record of `dim` floats and `n` history entries takes. */
#define TT_USTATE_SIZE_MAX(dim, n)                                             \
    (TT_USTATE_HEADER_SIZE + 4u * (size_t)(dim) +                              \
     TT_USTATE_ITEM_SIZE * (size_t)(n) + TT_USTATE_CRC_SIZE)
/* The largest user record any version-1 writer produces. */
#define TT_USTATE_RECORD_MAX                                                   \
    TT_USTATE_SIZE_MAX(TT_USTATE_DIM_MAX, TT_USTATE_HIST_MAX)

#define TT_USTATE_KEY_USER 0x75 /* 'u' */
#define TT_USTATE_KEY_META 0x6D /* 'm' */
#define TT_USTATE_USER_KEY_SIZE 9u
#define TT_USTATE_META_NAME_MAX 64u
#define TT_USTATE_META_PAYLOAD_MAX 1024u

enum tt_ustate_cell {
    TT_USTATE_CELL_INACTIVE = 0, /* psi + GRU Theta1 (new, inactive users) */
    TT_USTATE_CELL_ACTIVE = 1,   /* phi_u + GRU Theta2 (active users) */
};

/* One interaction kept in a user's history. */
struct tt_ustate_item {
    int64_t item_id;
    int64_t offset;   /* input offset of the event, -1 if none */
    int32_t category; /* item category, -1 (TT_EVENT_NO_CATEGORY) if none */
};

struct tt_user_state {
    uint64_t count;         /* interactions applied so far */
    uint64_t model_version; /* version of the model that computed emb */
    int64_t last_event_ms;  /* event time of the last applied event, -1 */
    uint8_t cell;           /* enum tt_ustate_cell */
    uint32_t dim;           /* floats used in emb */
    uint32_t hist_len;      /* entries used in hist, oldest first */
    /* Buffers and their capacities (set by _init or _bind). */
    float *emb;
    uint32_t dim_max;
    struct tt_ustate_item *hist;
    uint32_t hist_cap;
    void *own_; /* allocation freed by _release, NULL when bound */
};

/* Allocates the buffers of `s` for embeddings of up to `dim_max` floats and
 * `hist_cap` history entries (1..TT_USTATE_*_MAX), and resets it.  Release with
 * tt_ustate_release().  TT_ERR_INVAL or TT_ERR_NOMEM. */
tt_err_t tt_ustate_init(struct tt_user_state *s, uint32_t dim_max,
                        uint32_t hist_cap);

/* Points `s` at caller-owned buffers (borrowed; they must outlive every use
 * of `s`) and resets it; no allocation.  Capacities as for _init. */
tt_err_t tt_ustate_bind(struct tt_user_state *s, float *emb, uint32_t dim_max,
                        struct tt_ustate_item *hist, uint32_t hist_cap);

/* Frees what _init allocated and zeroes `s`.  Safe on a zeroed or bound
 * struct. */
void tt_ustate_release(struct tt_user_state *s);

/* Makes `s` the state of a user never seen: count 0, no embedding, no
 * history, inactive, model version 0, last_event_ms -1.  Keeps buffers. */
void tt_ustate_reset(struct tt_user_state *s);

/* Appends an interaction to the history, dropping the oldest entry when the
 * history holds hist_cap entries already.  Does not touch count. */
void tt_ustate_push(struct tt_user_state *s, int64_t item_id, int64_t offset,
                    int32_t category);

/* Copies the value of `src` into `dst`'s buffers.  A history longer than
 * dst->hist_cap keeps its newest entries.  TT_ERR_OVERFLOW when src->dim >
 * dst->dim_max (dst unchanged). */
tt_err_t tt_ustate_copy(struct tt_user_state *dst,
                        const struct tt_user_state *src);

/* True when the values (not the capacities) of `a` and `b` are the same, the
 * embeddings compared bit for bit. */
bool tt_ustate_equal(const struct tt_user_state *a,
                     const struct tt_user_state *b);

/* Bytes tt_ustate_encode() writes for `s` (a pass over the history; at
 * most TT_USTATE_SIZE_MAX(s->dim, s->hist_len)). */
size_t tt_ustate_encoded_size(const struct tt_user_state *s);

/*
 * Encodes `s` as a version-1 user record into `buf` of `cap` bytes and sets
 * *len.  TT_ERR_OVERFLOW when cap is too small, TT_ERR_RANGE when a field
 * cannot be stored (dim or history too long, non-finite embedding value,
 * negative item id...).  Does not allocate.
 */
tt_err_t tt_ustate_encode(const struct tt_user_state *s, uint8_t *buf,
                          size_t cap, size_t *len, char *errstr,
                          size_t errstr_size);

/*
 * Decodes the user record (data, len) into `s` (its buffers and capacities
 * are kept).  TT_ERR_CORRUPT for a wrong checksum, a truncated or malformed
 * record; TT_ERR_VERSION for an intact record of an unknown version;
 * TT_ERR_OVERFLOW when the embedding is longer than s->dim_max.  A history
 * longer than s->hist_cap keeps its newest entries (history_max lowered).
 * On error `s` is left reset.  Never reads outside (data, len); never
 * allocates.
 */
tt_err_t tt_ustate_decode(const void *data, size_t len,
                          struct tt_user_state *s, char *errstr,
                          size_t errstr_size);

/* Writes the key of `user_id` (>= 0) into key[TT_USTATE_USER_KEY_SIZE]. */
void tt_ustate_user_key(uint8_t key[TT_USTATE_USER_KEY_SIZE], int64_t user_id);

/* Parses a user key; false when (key, len) is not one. */
bool tt_ustate_parse_user_key(const void *key, size_t len, int64_t *user_id);

/* Writes the key of metadata `name` into `buf` of `cap` bytes and returns its
 * length, or 0 when name is empty, too long or buf too small. */
size_t tt_ustate_meta_key(const char *name, uint8_t *buf, size_t cap);

/* Encodes a metadata value of `plen` payload bytes (<= META_PAYLOAD_MAX)
 * into buf; TT_ERR_OVERFLOW when cap is too small or the payload too long. */
tt_err_t tt_ustate_meta_encode(const void *payload, size_t plen, uint8_t *buf,
                               size_t cap, size_t *len);

/* Checks a metadata value and points *payload into it (borrowed from data).
 * TT_ERR_CORRUPT or TT_ERR_VERSION as for user records. */
tt_err_t tt_ustate_meta_decode(const void *data, size_t len,
                               const uint8_t **payload, size_t *plen,
                               char *errstr, size_t errstr_size);

#endif
