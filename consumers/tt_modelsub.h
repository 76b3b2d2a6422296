/*
 * tt_modelsub: follows the model topic (kafka.model_topic) and turns the
 * ModelRecords of each published version (producers/tt_modelpub.h) back
 * into a tt_model_t, handed over only when complete and verified.
 *
 * ASSEMBLY (tt_modelsub_asm_*, no Kafka: unit-tested and fuzzed alone).
 * Records are grouped by version.  A version is used only when its COMMIT
 * has arrived, records seq 0..n-1 are all there, the COMMIT digest over
 * them matches (tt_modelrec_commit_check), every record's payload CRC-32C
 * matched when it was decoded, the HEADER's layout is known, every DENSE
 * tensor is covered exactly once with its expected shape, the ITEMS/USERS
 * rows add up to the HEADER's counts, and tt_model_build accepts the
 * result.  Anything else REJECTS the version: it is counted, its buffers
 * are freed, and it is never used, even if more of its records come later.
 * A version that has not completed (no COMMIT yet, or records missing) is
 * never used either; it stays buffered, since its records may still be on
 * their way (the transaction markers of a committed publication reach the
 * partitions one by one), until a newer version completes or newer ones
 * need the room: then it is dropped and counted (incomplete when its
 * COMMIT had come, superseded otherwise).  Versions at or below the last
 * one handed over are ignored, so a replay or a stale publication never
 * goes backwards.
 *
 * Users are assembled in record order (by partition, model order inside),
 * the order tt_modelpub_canonical() gives: the assembled model saves to the
 * same bytes as the canonical form of the published one.
 *
 * MEMORY.  At most TT_MODELSUB_PENDING_MAX versions are buffered at once
 * (the newest ones); a version's payloads are copied until it completes, so
 * a reader needs about twice the model's size at the moment of assembly
 * (payload copies, then the arrays tt_model_build copies), and the model
 * itself afterwards: 8 + 4 D bytes per item and per active user.  Every
 * reader reads the USERS records of all partitions: each stream instance
 * holds every active user's phi_u, though it serves only its partitions'
 * users.  Reading partition 0 and its own partitions only would divide the
 * phi_u part by the instance count; that needs a per-partition digest in
 * the COMMIT (today's covers all records) and is not done.
 *
 * FOLLOWING (tt_modelsub_t).  A consumer without a group (assign, never
 * commits) reads every partition of the topic from the beginning with
 * isolation.level=read_committed, so records of an aborted or open
 * publication are never seen.  tt_modelsub_catch_up() reads up to the end
 * offsets (last stable offsets) observed when it starts and returns the
 * newest complete version; tt_modelsub_follow() then keeps reading on a
 * thread of its own and hands every newer complete version to a callback.
 * A topic that does not exist yet is looked for again every few seconds.
 *
 * Threading: an assembler belongs to one thread.  A tt_modelsub_t is used
 * by one thread until tt_modelsub_follow(); after that only
 * tt_modelsub_stats() and tt_modelsub_destroy() (which stops the thread)
 * may be called, from any thread.
 */
#ifndef TT_MODELSUB_H
#define TT_MODELSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "common/tt_log.h"
#include "conf/tt_conf.h"
#include "model/tt_model.h"

/* Versions buffered at once, at most. */
#define TT_MODELSUB_PENDING_MAX 2
/* Records one version may have, at most (~3.6 TB of payload). */
#define TT_MODELSUB_RECORDS_MAX (1u << 22)
/* How long a catch-up waits for the rest of a version whose COMMIT came. */
#define TT_MODELSUB_GRACE_MS 10000
/* Longest record key kept for tt_modelsub_keys(), NUL included. */
#define TT_MODELSUB_KEY_MAX 32

struct tt_modelsub_stats {
    uint64_t records;             /* model records read (tombstones too) */
    uint64_t tombstones;
    uint64_t ignored;             /* of versions at or below the one in use,
                                     or of rejected versions */
    uint64_t bad_records;         /* undecodable, or failing their CRC */
    uint64_t versions_ok;         /* assembled, verified, handed over */
    uint64_t versions_rejected;   /* corrupt: CRC, digest, layout, build */
    uint64_t versions_incomplete; /* dropped incomplete after its COMMIT */
    uint64_t versions_superseded; /* dropped incomplete, no COMMIT seen
                                     (a partial publication, or one still
                                     arriving when a newer completed) */
    uint64_t max_version;         /* highest version named by any record */
    uint64_t current_version;     /* last handed over, or the minimum */
    uint64_t buffered_bytes;      /* payload copies held now */
    uint64_t peak_buffered_bytes;
    double build_seconds;         /* verification + build, last version */
    char last_reject[256];        /* why the last version was rejected */
    char last_drop[256];          /* what the last drop was */
};

/* ---- assembly ---- */

typedef struct tt_modelsub_asm_s tt_modelsub_asm_t;

/* An assembler that ignores versions <= min_version.  TT_ERR_NOMEM. */
tt_err_t tt_modelsub_asm_new(tt_modelsub_asm_t **out, uint64_t min_version,
                             char *errstr, size_t errstr_size);

/* Frees the assembler and every buffered record; NULL is a no-op. */
void tt_modelsub_asm_destroy(tt_modelsub_asm_t *a);

/*
 * Feeds one record value of the model topic (NULL/0: a tombstone, counted
 * and skipped).  TT_ERR_OK: absorbed, and when it completed a newer
 * version, *out receives the model (caller owns it; the assembler then
 * ignores versions up to it).  TT_ERR_CORRUPT, TT_ERR_PARSE,
 * TT_ERR_VERSION, TT_ERR_RANGE, TT_ERR_INVAL: the record or its version
 * was rejected (counted; errstr says why; keep feeding).  TT_ERR_NOMEM.
 */
tt_err_t tt_modelsub_asm_add(tt_modelsub_asm_t *a, const uint8_t *value,
                             size_t len, tt_model_t **out, char *errstr,
                             size_t errstr_size);

/* True when some version has its COMMIT but still misses records (a
 * catch-up waits a little for them: see tt_modelsub_catch_up). */
bool tt_modelsub_asm_waiting(const tt_modelsub_asm_t *a);

/* Counters (see struct tt_modelsub_stats). */
void tt_modelsub_asm_stats(const tt_modelsub_asm_t *a,
                           struct tt_modelsub_stats *stats);

/* ---- following the topic ---- */

typedef struct tt_modelsub_s tt_modelsub_t;

struct tt_modelsub_opts {
    const char *topic;     /* the model topic */
    uint64_t min_version;  /* ignore versions <= this (the one in use) */
    tt_log_t *log;         /* borrowed; NULL: silent.  Logs versions
                              handed over and rejected (follow thread) */
};

/* Receives a newer complete model; takes *m (set it to NULL) or leaves it
 * to be freed. */
typedef void (*tt_modelsub_fn)(void *ctx, tt_model_t **m);

/* A reader of opts->topic over kc (brokers, client id, pass-through
 * properties; consumer.* ones apply).  Does not contact the cluster.
 * TT_ERR_CONF / TT_ERR_KAFKA / TT_ERR_NOMEM. */
tt_err_t tt_modelsub_new(tt_modelsub_t **out, const struct tt_conf_kafka *kc,
                         const struct tt_modelsub_opts *opts, char *errstr,
                         size_t errstr_size);

/*
 * Reads the topic up to the end offsets observed now and returns in *out
 * the newest complete version above the minimum (caller owns it), or NULL
 * when there is none.  When a version's COMMIT has been read but some of
 * its records not (the markers of a just committed publication not yet on
 * every partition), the end offsets are read again for up to
 * TT_MODELSUB_GRACE_MS.  TT_ERR_NOTFOUND when the topic does not exist (then
 * tt_modelsub_follow() waits for it), TT_ERR_TIMEOUT after timeout_ms,
 * TT_ERR_KAFKA, TT_ERR_NOMEM.  Call at most once, before follow.
 */
tt_err_t tt_modelsub_catch_up(tt_modelsub_t *s, int timeout_ms,
                              tt_model_t **out, char *errstr,
                              size_t errstr_size);

/*
 * Starts the thread that keeps reading and calls fn(ctx, &m) for each newer
 * complete version, from that thread.  TT_ERR_STATE when already
 * following, TT_ERR_NOMEM.
 */
tt_err_t tt_modelsub_follow(tt_modelsub_t *s, tt_modelsub_fn fn, void *ctx,
                            char *errstr, size_t errstr_size);

/*
 * What a stream does at start (model.follow): a follower of
 * kc->model_topic that ignores versions up to *model's (a model file; NULL:
 * none), caught up: when the topic holds a newer complete version, it
 * replaces *model (the old one is freed).  A topic that does not exist yet
 * is not an error (the follow thread waits for it).  The caller owns *out
 * and starts it with tt_modelsub_follow().  TT_ERR_TIMEOUT / TT_ERR_KAFKA /
 * TT_ERR_NOMEM; *model is unchanged on error.
 */
tt_err_t tt_modelsub_start(tt_modelsub_t **out, const struct tt_conf_kafka *kc,
                           tt_log_t *log, int timeout_ms, tt_model_t **model,
                           char *errstr, size_t errstr_size);

/* Counters; any thread. */
void tt_modelsub_stats(tt_modelsub_t *s, struct tt_modelsub_stats *stats);

/* A key holding a record (not a tombstone) in the topic as read so far. */
struct tt_modelsub_key {
    int32_t partition;
    char key[TT_MODELSUB_KEY_MAX];
};

/* The live keys read so far into keys[0..cap); returns how many there are
 * (may exceed cap).  Before follow only.  The publisher deletes those the
 * next version does not rewrite. */
size_t tt_modelsub_keys(const tt_modelsub_t *s, struct tt_modelsub_key *keys,
                        size_t cap);

/* Stops the follow thread if any, closes the consumer, frees; NULL is a
 * no-op. */
void tt_modelsub_destroy(tt_modelsub_t *s);

#endif
