/*
 * tt_modelpub: publishes a tt_model_t as version V to the compacted model
 * topic (kafka.model_topic), as the ModelRecord messages of
 * schemas/tt_modelrec.h, so that every `twotime stream` can assemble it
 * (consumers/tt_modelsub.h) and switch to it live.
 *
 * THE RECORDS OF A VERSION, in seq order (seq numbers them from 0 without
 * gaps), with their Kafka key and partition:
 *
 *   kind    key            partition  content
 *   HEADER  "H"            0          shape, t*, K, flags, counts, cutoffs
 *   DENSE   "D/<k>"        0          k-th slice of the dense tensors below
 *   ITEMS   "I/<k>"        0          k-th chunk of (item id, x_i) rows,
 *                                     model order
 *   USERS   "U/<p>/<k>"    p          k-th chunk of the active users whose
 *                                     user key maps to partition p (murmur2
 *                                     of the 8-byte key, as the input), in
 *                                     partition order, model order inside
 *   COMMIT  "C"            0          record count and digest
 *
 * Keys are stable from one version to the next, so compaction keeps only
 * the newest version's record of each key; a key the previous version used
 * and this one does not (a smaller catalogue) is deleted with a tombstone
 * in the same publication.  Why not the user key on USERS records: a chunk
 * holds thousands of users, and a key that changes with the chunking would
 * never be compacted away; the chunk goes to the partition its users hash
 * to instead, so the model topic (created with the input's partition
 * count) is co-partitioned with the input: a stream instance could read
 * partition 0 plus only its own partitions.
 *
 * DENSE tensors (name: rows x cols, row-major float32, tt_model_int.h):
 *   psi           1 x D           the shared start vector
 *   cell0.wt      D x 3D          inactive cell Theta_1 (tt_gru.h layout)
 *   cell0.ut      D x 3D
 *   cell0.b       1 x 3D
 *   cell1.wt/ut/b                 active cell Theta_2, same shapes
 *   W             2D x D          2TS-Plus only
 *   meta.seed     1 x 4           training seed, 16-bit limbs, least
 *                                 significant first (exact in float32)
 *   meta.flags    1 x 1           the model's flags (TT_MODEL_FLAG_*:
 *                                 GRU baseline, sliding window...), an
 *                                 exact integer; HEADER.flags carries only
 *                                 PLUS and FEATURES
 * HEADER.dim is D (state and item vector dimension, features included);
 * feature_dim is its feature part.  Each record's payload stays under
 * TT_MODELREC_MAX_PAYLOAD (every encoded record under ~900 KB) whatever the
 * catalogue size: big tensors and row sets are chunked.
 *
 * ATOMICITY.  The COMMIT is produced only after every other record of the
 * version has been acknowledged (acks=all, idempotent producer), so a
 * reader never meets the COMMIT of a version whose records were not all
 * written.  With a transactional id (the default), the whole version,
 * tombstones included, is ONE Kafka transaction: readers with
 * isolation.level=read_committed (tt_modelsub) never see half a version,
 * and a publisher that dies mid-way leaves nothing behind.  One
 * transactional id per model topic also fences a second, overlapping
 * publisher (two retrain jobs): the older one's commit fails.  Without
 * one, readers still use only versions whose COMMIT and digest check out.
 *
 * Threading: a tt_modelpub_t belongs to one thread.  tt_modelpub_records()
 * and tt_modelpub_canonical() are pure and thread-safe.
 */
#ifndef TT_MODELPUB_H
#define TT_MODELPUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "conf/tt_conf.h"
#include "model/tt_model.h"
#include "schemas/tt_modelrec.h"

/* Longest record key, NUL included ("U/<partition>/<chunk>"). */
#define TT_MODELPUB_KEY_MAX 32

/* One record of a publication, as handed to the emit callback. */
struct tt_modelpub_rec {
    enum tt_modelrec_kind kind;
    int32_t seq;
    int32_t partition;              /* of the model topic */
    char key[TT_MODELPUB_KEY_MAX];  /* NUL-terminated */
    const uint8_t *value;           /* the encoded ModelRecord (borrowed,
                                       valid during the callback) */
    size_t value_len;
};

/* Receives each record; a non-zero return stops the walk and is returned. */
typedef tt_err_t (*tt_modelpub_emit_fn)(void *ctx,
                                        const struct tt_modelpub_rec *r,
                                        char *errstr, size_t errstr_size);

/* What one walk or publication wrote. */
struct tt_modelpub_summary {
    uint32_t records;      /* COMMIT included */
    uint32_t dense;        /* DENSE records */
    uint32_t items;        /* ITEMS records */
    uint32_t users;        /* USERS records */
    uint64_t payload_bytes;
    uint64_t value_bytes;  /* encoded records, COMMIT included */
    size_t max_value;      /* largest encoded record */
    uint32_t tombstones;   /* keys of older versions deleted */
    double seconds;        /* publication wall time */
};

/*
 * Turns model `m` into the records of version `version` for a model topic
 * of `partitions` (>= 1) partitions and calls emit() for each in seq
 * order, COMMIT last.  created_ms goes into the HEADER.  TT_ERR_RANGE for a
 * model the layout cannot carry, TT_ERR_NOMEM, or emit()'s error.
 */
tt_err_t tt_modelpub_records(const tt_model_t *m, uint64_t version,
                             int32_t partitions, int64_t created_ms,
                             tt_modelpub_emit_fn emit, void *ctx,
                             struct tt_modelpub_summary *sum, char *errstr,
                             size_t errstr_size);

/*
 * A copy of `m` whose active users are in publication order (grouped by
 * partition of `partitions`, model order inside), the order in which a
 * reader assembles them: saving it gives exactly the file bytes every
 * follower's assembled model has.  Lookups are unchanged.  The caller owns
 * *out.  TT_ERR_NOMEM / TT_ERR_INVAL.
 */
tt_err_t tt_modelpub_canonical(tt_model_t **out, const tt_model_t *m,
                               int32_t partitions, char *errstr,
                               size_t errstr_size);

/* A record key of an older version, to delete unless rewritten. */
struct tt_modelpub_key {
    int32_t partition;
    char key[TT_MODELPUB_KEY_MAX];
};

typedef struct tt_modelpub_s tt_modelpub_t;

struct tt_modelpub_opts {
    const char *topic;            /* the model topic; must exist */
    /* Transactional id: NULL or "" publishes without a transaction
     * (idempotent, COMMIT last).  One id per model topic. */
    const char *transactional_id;
    int timeout_ms;               /* per Kafka wait; 0: 60000 */
};

/*
 * A producer for opts->topic over kc (brokers, client id, pass-through
 * properties; producer.* ones apply).  Pins enable.idempotence=true and
 * acks=all; with a transactional id, initialises the transactions (fencing
 * an older producer with the same id).  Reads the topic's partition count.
 * TT_ERR_NOTFOUND when the topic does not exist, TT_ERR_CONF, TT_ERR_KAFKA,
 * TT_ERR_TIMEOUT with a message.
 */
tt_err_t tt_modelpub_new(tt_modelpub_t **out, const struct tt_conf_kafka *kc,
                         const struct tt_modelpub_opts *opts, char *errstr,
                         size_t errstr_size);

/* Partitions of the model topic. */
int32_t tt_modelpub_partitions(const tt_modelpub_t *p);

/*
 * Publishes `m` as version `version`: every record but the COMMIT, waits
 * for all acknowledgements, then the COMMIT, then commits the transaction.
 * Tombstones go to each stale[i] key this version does not write.  On
 * failure the transaction is aborted (nothing of the version is visible to
 * read_committed readers) and TT_ERR_KAFKA / TT_ERR_TIMEOUT / TT_ERR_FENCED
 * (another publisher took the transactional id) is returned; after
 * TT_ERR_FENCED or a fatal error the publisher cannot be used again.
 * *sum (may be NULL) receives what was written.
 */
tt_err_t tt_modelpub_publish(tt_modelpub_t *p, const tt_model_t *m,
                             uint64_t version,
                             const struct tt_modelpub_key *stale,
                             size_t n_stale, struct tt_modelpub_summary *sum,
                             char *errstr, size_t errstr_size);

/* Frees the producer (aborting nothing: publish either committed or
 * aborted); NULL is a no-op. */
void tt_modelpub_destroy(tt_modelpub_t *p);

/*
 * Creates the model topic unless it exists: compacted
 * (cleanup.policy=compact, segment.ms one hour so superseded versions can
 * be compacted away within hours), `partitions` partitions (the input's,
 * for co-partitioned USERS records).  An existing topic is accepted with
 * any partition count (*n_partitions tells which; may be NULL).
 */
tt_err_t tt_modelpub_ensure_topic(const struct tt_conf_kafka *kc,
                                  const char *topic, int partitions,
                                  int *n_partitions, char *errstr,
                                  size_t errstr_size);

#endif
