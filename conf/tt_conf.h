/*
 * tt_conf: the configuration of twotime as plain structs.
 *
 * One libconfig file (conf/twotime.conf documents every setting) is read once
 * into a `struct tt_conf`, command-line overrides ("model.dim=32") are applied
 * on top, the result is validated, and libconfig is dropped: every string is
 * copied and owned by the struct.  Each module's _new() receives its own
 * sub-struct.  A setting missing from the file keeps its default.
 *
 * Not thread-safe while loading; a loaded conf is read-only and may be shared.
 */
#ifndef TT_CONF_H
#define TT_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/tt_err.h"

/* One librdkafka property passed through unchanged (kafka.properties). */
struct tt_conf_kv {
    char *key;
    char *value;
};

struct tt_conf_kafka {
    char *brokers;          /* bootstrap.servers, "127.0.0.1:19092" */
    char *group_id;         /* consumer group of `twotime stream` */
    char *client_id;
    char *input_topic;      /* interaction events, keyed by user id */
    char *output_topic;     /* refreshed embeddings (compacted) */
    char *changelog_topic;  /* user state changelog (compacted) */
    char *dead_letter_topic;
    char *model_topic;      /* published model versions (compacted) */
    int partitions;         /* for topics twotime creates */
    bool exactly_once;      /* transactions; false = at-least-once */
    char *transactional_id; /* prefix; the instance id is appended */
    int batch_max;          /* events per processing batch / transaction */
    int batch_ms;           /* longest a batch stays open */
    struct tt_conf_kv *props; /* extra librdkafka properties */
    size_t n_props;
};

struct tt_conf_state {
    char *path;             /* RocksDB directory */
    int cache_mb;           /* RocksDB block cache */
    int write_buffer_mb;
    int user_cache;         /* users kept in the write-back cache */
    int history_max;        /* items kept per user for recomputation */
};

struct tt_conf_model {
    int dim;                /* d: embedding dimension */
    int tstar;              /* t*: active when training count > t* */
    int k;                  /* K: active users' last-K training steps */
    bool plus;              /* 2TS-Plus scoring with W */
    bool features;          /* item category features */
    int feature_dim;        /* dimension of g(f_i) when features are on */
    char *path;             /* model file the stream loads at start ("" none) */
    bool follow;            /* the stream loads the newest version of
                               kafka.model_topic at start, swaps in newer
                               ones live */
};

struct tt_conf_train {
    uint64_t seed;
    int threads;            /* worker threads (both cores by default) */
    int negatives;          /* p: sampled negatives per positive */
    char *optimizer;        /* "adam" or "sgd" */
    int epochs1;            /* stage 1 epoch limit */
    double lr1;
    double l2;              /* L2 on embeddings in stage 1 */
    int epochs2;            /* stage 2 epoch limit */
    double lr2;
    int batch;              /* sequences (stage 2) / positives (stage 1) */
    int patience;           /* epochs without validation gain before stop */
    double clip;            /* gradient norm clip in stage 2, 0 = off */
    bool auto_tstar;        /* choose t* from t* / 2 .. 8 t* on validation */
    bool inactive_all;      /* inactive cell also on active users' first t* */
    int window_hop;         /* hopping window H (1..K), 0 = K/2, -1 = the
                               sliding window (model/tt_model.h) */
};

struct tt_conf_eval {
    double train_frac;      /* chronological split: first part trains */
    double valid_frac;      /* next part validates; the rest tests */
    int negatives;          /* sampled negatives per test interaction (499) */
    uint64_t seed;
    int max_test;           /* cap on scored test interactions, 0 = all */
};

struct tt_conf_retrain {
    char *every;            /* period of `twotime retrain` ("30m", "6h");
                               "" = run once */
    double max_mrr_drop;    /* gate: largest relative drop of the MRR on
                               the newest slice, new vs in service */
    int gate_sample;        /* gate: interactions scored, 0 = all */
    char *warm_start;       /* "" cold, "serving" the model in service,
                               else a model file (model/tt_warm.h) */
    int warm_epochs1;       /* stage 1 epochs when warm, 0 = train.epochs1 */
    int warm_epochs2;       /* stage 2 epochs when warm, 0 = train.epochs2 */
};

struct tt_conf_metrics {
    char *bind;             /* address of the metrics endpoint */
    int port;               /* 0 = disabled */
};

struct tt_conf {
    struct tt_conf_kafka kafka;
    struct tt_conf_state state;
    struct tt_conf_model model;
    struct tt_conf_train train;
    struct tt_conf_eval eval;
    struct tt_conf_retrain retrain;
    struct tt_conf_metrics metrics;
    char *log_level;        /* error, warn, info, debug */
};

/* Fills `conf` with the defaults (allocating their strings).  Release with
 * tt_conf_release(). */
tt_err_t tt_conf_init(struct tt_conf *conf);

/* Frees every string `conf` owns and zeroes it.  Safe on a zeroed struct. */
void tt_conf_release(struct tt_conf *conf);

/*
 * Reads the libconfig file `path` over the values already in `conf`.  Unknown
 * settings, wrong types and syntax errors fail with "FILE:LINE: message" in
 * errstr (TT_ERR_CONF), or TT_ERR_IO when the file cannot be read.  On
 * failure `conf` may hold part of the file; it still needs tt_conf_release().
 */
tt_err_t tt_conf_load_file(struct tt_conf *conf, const char *path,
                           char *errstr, size_t errstr_size);

/*
 * tt_conf_load_file() from the NUL-terminated libconfig `text` (at most
 * 1 MiB); `name` stands for the file in messages ("NAME:LINE: ...").  Text
 * from memory may not @include files.
 */
tt_err_t tt_conf_load_string(struct tt_conf *conf, const char *text,
                             const char *name, char *errstr,
                             size_t errstr_size);

/* Sets one setting by its dotted name ("model.tstar", "kafka.brokers",
 * "kafka.properties.security.protocol") from text. */
tt_err_t tt_conf_set(struct tt_conf *conf, const char *key, const char *value,
                     char *errstr, size_t errstr_size);

/* tt_conf_set() from one "key=value" string, as given to --set. */
tt_err_t tt_conf_set_kv(struct tt_conf *conf, const char *kv, char *errstr,
                        size_t errstr_size);

/* Checks ranges and cross-field rules (K <= t*, fractions sum below 1...). */
tt_err_t tt_conf_validate(const struct tt_conf *conf, char *errstr,
                          size_t errstr_size);

/* Writes the effective configuration in libconfig syntax; values of secret
 * properties (passwords, keys, tokens) are printed as "<redacted>". */
void tt_conf_print(const struct tt_conf *conf, FILE *out);

/* True when a librdkafka property name holds a secret. */
bool tt_conf_is_secret(const char *key);

#endif
