/*
 * tt_live_int: what the live backtest's files share (cli/tt_live.h): the
 * run's working state, filled by tt_live_read.c (the three topics) and used
 * by tt_live.c (pairing and scoring).
 *
 * Threading: one run at a time, one thread.
 */
#ifndef TT_LIVE_INT_H
#define TT_LIVE_INT_H

#include "cli/tt_live.h"
#include "consumers/tt_senc.h"

#define TT_LIVE_NO_SLOT UINT32_MAX
#define TT_LIVE_NO_POS SIZE_MAX

/* One valid Interaction of the input topic and where it was read. */
struct tt_live_rec {
    struct tt_event ev;
    int32_t partition;
    int64_t offset;
};

/* One model version: from a file or assembled from the model topic. */
struct tt_live_model {
    uint64_t version;
    bool from_topic;
    tt_model_t *m;
    const float **items; /* by dense item of the dataset */
    struct tt_model_info info;
};

/* A model-topic record, kept until sorted by version. */
struct tt_live_mrec {
    uint64_t version;
    size_t index;
    uint8_t *value;
    size_t len;
};

/* The run: what was read, and the embeddings of the needed positions. */
struct tt_live_ctx {
    const struct tt_live_opts *lo;
    struct tt_live_stats *st;
    tt_codec_t *codec;
    /* input */
    struct tt_live_rec *recs; /* merged order = dataset positions */
    size_t n_recs, cap_recs;
    size_t *by_off; /* positions sorted by (partition, offset) */
    /* models */
    struct tt_live_model models[TT_LIVE_VERSIONS_MAX];
    int n_models;
    struct tt_live_mrec *mrecs;
    size_t n_mrecs, cap_mrecs;
    /* embeddings of the needed positions */
    uint32_t dim;
    uint32_t *slot; /* [n] slot or TT_LIVE_NO_SLOT */
    uint32_t n_slots;
    float *emb;     /* [n_slots][dim] */
    uint64_t *ver;  /* [n_slots] */
    uint8_t *cell;  /* [n_slots] 1 = ACTIVE */
    uint8_t *have;  /* [n_slots] */
    float *buf;     /* TT_MODEL_DIM_MAX decode buffer */
};

/* The loaded version `version`, or NULL. */
struct tt_live_model *tt_live_model_of(struct tt_live_ctx *L,
                                       uint64_t version);

/* Adds the model *m (ownership taken, *m set to NULL) unless its version is
 * already there (then *m is destroyed: the first one stays).  TT_ERR_RANGE
 * past TT_LIVE_VERSIONS_MAX. */
tt_err_t tt_live_add_model(struct tt_live_ctx *L, tt_model_t **m,
                           bool from_topic, char *errstr, size_t errstr_size);

/* Adds every complete, verified version of L->lo->model_topic. */
tt_err_t tt_live_read_models(struct tt_live_ctx *L,
                             const struct tt_conf_kafka *kc, char *errstr,
                             size_t errstr_size);

/* Reads L->lo->input_topic into L->recs and `ds` (merged order, finished)
 * and builds the (partition, offset) index L->by_off. */
tt_err_t tt_live_read_input(struct tt_live_ctx *L,
                            const struct tt_conf_kafka *kc,
                            struct tt_dataset *ds, char *errstr,
                            size_t errstr_size);

/* Reads L->lo->output_topic into the slots L->slot names (L->dim floats
 * each), counting what does not pair in L->st. */
tt_err_t tt_live_read_embeddings(struct tt_live_ctx *L,
                                 const struct tt_conf_kafka *kc, char *errstr,
                                 size_t errstr_size);

#endif
