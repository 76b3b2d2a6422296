/*
 * tt_live: `twotime backtest --live` (and `--model`, the offline backtest of
 * a given model file): the paper's metric over what the pipeline actually
 * emitted, with the offline backtest's protocol and code.
 *
 * LIVE.  Reads, each from its first retained offset to its end offsets at
 * the start (read_committed, no consumer group):
 *   - the input topic: every record that decodes as a valid Interaction,
 *     merged by event time, ties by partition then offset (the order
 *     `twotime dump` writes, so that `backtest --input DUMP` sees the same
 *     positions); split with eval.train_frac / eval.valid_frac as offline;
 *   - the model versions: --model files, and (unless only files are asked
 *     for) every complete, verified version still on kafka.model_topic;
 *   - the embedding topic: every UserEmbedding, paired with the input record
 *     named by its (input_partition, input_offset).
 * Each test interaction j of user u (every one, or the eval.max_test
 * sample, exactly as offline) is scored with the embedding the pipeline
 * emitted for u's PREVIOUS interaction (the one before j in the merged
 * order: a user lives on one input partition, so it is the previous record
 * of u in that partition), against the item vectors of the model version
 * that embedding names, with the offline candidates (model/tt_score.h).
 * Edge cases:
 *   - u's first interaction ever: the model's start for users without
 *     history, psi (2TS-Plus: W^T [psi ; 0]), of the version that then
 *     processed j (named by j's own embedding), exactly what offline does;
 *   - a version change between u's previous interaction and j: j is scored
 *     with the old embedding and the old version's items (what a service
 *     reading the compacted topic would have served), and counted
 *     (after_swap); the next interaction uses the recomputed embedding;
 *   - no embedding for the previous interaction (the stream has not
 *     caught up, or lost it), or a version no file or topic provides: the
 *     interaction is not scored, and counted (missing_embedding,
 *     missing_model); a complete pipeline has 0 of both;
 *   - an embedding that names no record of the input topic is counted
 *     (unmatched); two embeddings for one input record (at-least-once
 *     replays) are counted as duplicates, or as conflicts when they differ
 *     (the last read wins).
 * "Before" is in processing order: serving latency is not modelled.
 * The result is a struct tt_bt_result with one model (2ts or 2ts-plus, as
 * the first version is) plus struct tt_live_stats, per-version figures
 * included.  The embedding change (fig. 4) is measured between consecutive
 * embeddings of one version: for 2TS-Plus these are query vectors, not h.
 *
 * Threading: one call at a time; blocking.
 */
#ifndef TT_LIVE_H
#define TT_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/tt_err.h"
#include "common/tt_log.h"
#include "conf/tt_conf.h"
#include "model/tt_dataset.h"
#include "model/tt_eval_bt.h"
#include "model/tt_model.h"

#define TT_LIVE_FILES_MAX 16
#define TT_LIVE_VERSIONS_MAX 64

struct tt_live_opts {
    const char *input_topic;   /* borrowed topic names */
    const char *output_topic;
    const char *model_topic;   /* NULL: model files only */
    const char *model_files[TT_LIVE_FILES_MAX];
    int n_model_files;
    int timeout_s;             /* a read without progress this long fails */
};

/* The interactions scored with one model version's embeddings. */
struct tt_live_version {
    uint64_t version;
    bool from_topic;           /* assembled from the model topic, not a file */
    uint64_t n, rr, hits;      /* rr: fixed-point sum (tt_score_rr) */
    uint64_t g_n[2], g_rr[2], g_hits[2]; /* [0] inactive, [1] active */
};

struct tt_live_stats {
    uint64_t input_records, input_undecodable;
    uint64_t embeddings, embeddings_undecodable, embeddings_unmatched;
    uint64_t duplicates, conflicts;
    uint64_t scored, missing_embedding, missing_model;
    uint64_t first_interactions, after_swap;
    uint32_t n_versions;       /* in increasing version order */
    struct tt_live_version v[TT_LIVE_VERSIONS_MAX];
    double read_seconds, score_seconds;
};

/*
 * The live backtest (see the top).  `bo` gives the protocol (eval
 * negatives, seed, max_scored, threads; train/valid fractions) and the
 * configuration reported; conf->kafka the brokers.  *res (heap-sized, the
 * caller owns it) and *st are filled.  Errors with a message.
 */
tt_err_t tt_live_run(const struct tt_conf *conf, const struct tt_live_opts *lo,
                     const struct tt_bt_opts *bo, tt_log_t *log,
                     struct tt_bt_result *res, struct tt_live_stats *st,
                     char *errstr, size_t errstr_size);

/*
 * The offline backtest of a given model `m` on the finished dataset `ds`:
 * the same split, candidates and report as `twotime backtest`, without
 * training (tt_eval_run with the model scorer).  t* and K are the model's.
 */
tt_err_t tt_live_offline(const struct tt_dataset *ds, const tt_model_t *m,
                         const struct tt_bt_opts *bo, struct tt_bt_result *res,
                         char *errstr, size_t errstr_size);

/* Writes the backtest JSON (tt_bt_write_json's layout) and, when `st` is
 * non-NULL, a "live" member with the live figures (README "Live
 * backtest").  TT_ERR_IO / TT_ERR_NOMEM. */
tt_err_t tt_live_write_json(const struct tt_bt_result *res,
                            const struct tt_bt_opts *bo, const char *input,
                            const struct tt_live_stats *st, FILE *out);

/* Prints the live figures, one line per version, to `out`. */
void tt_live_print(const struct tt_live_stats *st, FILE *out);

#endif
