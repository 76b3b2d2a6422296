/*
 * tt_model_int: the inside of a tt_model_t, shared by the files of model/
 * (tt_model.c, tt_modelfile.c, stage 2) and by tools that assemble or take
 * apart a model from plain arrays (the retraining job, the Kafka model
 * publisher, tests).
 *
 * A model is a handful of arrays:
 *   items   n_items ids and n_items x dim vectors x_i (item features
 *           already concatenated: [x_i ; g(f_i)])
 *   users   n_active ids and n_active x dim vectors phi_u of active users
 *   dense   one float block, tt_model_dense_floats(dim, plus) long:
 *             psi                 dim
 *             cell 0 (inactive)   tt_gru_nparams(dim)   (tt_gru.h layout)
 *             cell 1 (active)     tt_gru_nparams(dim)
 *             W (2TS-Plus only)   2 dim x dim, row-major: q = W^T [h ; last]
 * plus the header values of struct tt_model_info and the input cutoffs.
 *
 * Not thread-safe while a model is being built or modified; see tt_model.h
 * for the rules once it is shared.
 */
#ifndef TT_MODEL_INT_H
#define TT_MODEL_INT_H

#include "model/tt_gru.h"
#include "model/tt_model.h"

/* The model file format this build writes and the newest it reads. */
#define TT_MODEL_FORMAT_VERSION 1
/* The file begins with these 8 bytes. */
#define TT_MODEL_MAGIC "2TSMODEL"
/* Fixed header size of format version 1, in bytes. */
#define TT_MODEL_HEADER_SIZE 96
/* Header flags. */
#define TT_MODEL_FLAG_PLUS 0x1u
#define TT_MODEL_FLAG_GRU_ALL 0x2u
#define TT_MODEL_FLAG_FEATURES 0x4u
/* Active users follow a sliding window of their last K items (tt_model.h,
 * tt_model_user_state).  A reader that predates the flag refuses the file
 * (unknown flag) rather than computing states the model was not trained
 * for; files without it load as before, so the format version stays 1. */
#define TT_MODEL_FLAG_WINDOW 0x8u
/* With TT_MODEL_FLAG_WINDOW: the hopping window (tt_model.h), whose hop H
 * (1..K) is stored in the flags word's bits 8..18 (TT_MODEL_HOP_SHIFT,
 * TT_MODEL_HOP_MASK).  The flags are the header word every carrier of a
 * model already round-trips (the file, the Kafka model topic's meta.flags
 * tensor, exact below 2^24), so the format version stays 1; a reader that
 * predates the flag refuses the file (unknown flags). */
#define TT_MODEL_FLAG_HOP 0x10u
#define TT_MODEL_HOP_SHIFT 8
#define TT_MODEL_HOP_MASK 0x7ffu
#define TT_MODEL_FLAGS_KNOWN                                                 \
    (0x1fu | (TT_MODEL_HOP_MASK << TT_MODEL_HOP_SHIFT))
/* The flags word of a hopping-window model with hop h (1..K). */
#define TT_MODEL_FLAGS_HOP(h)                                                \
    (TT_MODEL_FLAG_WINDOW | TT_MODEL_FLAG_HOP |                              \
     (((uint32_t)(h) & TT_MODEL_HOP_MASK) << TT_MODEL_HOP_SHIFT))

struct tt_model_s {
    struct tt_model_info info;
    uint32_t flags;                  /* TT_MODEL_FLAG_* */
    struct tt_model_cutoff *cutoffs; /* [info.n_cutoffs] */
    int64_t *item_ids;               /* [n_items] */
    float *items;                    /* [n_items][dim] */
    int64_t *user_ids;               /* [n_active] */
    float *phi;                      /* [n_active][dim] */
    float *dense;                    /* see the layout above */
    size_t n_dense;
    float *psi;                      /* views into dense */
    struct tt_gru cell[2];
    float *wp;                       /* NULL unless plus */
    /* id -> index + 1 (0 = empty), open addressing, power-of-two sizes */
    uint32_t *item_slots;
    uint32_t *user_slots;
    uint32_t item_mask, user_mask;
};

/* Everything a model is made of, as borrowed arrays. */
struct tt_model_parts {
    uint32_t dim;
    uint32_t tstar;
    uint32_t k;
    uint32_t flags;            /* TT_MODEL_FLAG_* */
    uint32_t feature_dim;      /* 0 without features */
    uint64_t version;
    uint64_t seed;
    int64_t cutoff_ts_ms;
    uint32_t n_items;
    const int64_t *item_ids;   /* distinct, >= 0 */
    const float *items;        /* [n_items][dim] */
    uint32_t n_active;
    const int64_t *user_ids;   /* distinct, >= 0 */
    const float *phi;          /* [n_active][dim] */
    const float *dense;        /* tt_model_dense_floats(dim, plus) */
    uint32_t n_cutoffs;
    const struct tt_model_cutoff *cutoffs;
};

/* Floats in the dense block of a model of dimension `dim`. */
size_t tt_model_dense_floats(uint32_t dim, bool plus);

/* Views of the parts of a dense block `dense` (psi, the two cells, W or
 * NULL). */
void tt_model_dense_views(float *dense, uint32_t dim, bool plus, float **psi,
                          struct tt_gru *cell0, struct tt_gru *cell1,
                          float **wp);

/*
 * Assembles a model from copies of `parts`: checks the shape (dim in
 * 1..TT_MODEL_DIM_MAX, feature_dim < dim, known flags, K in
 * 1..TT_MODEL_WINDOW_MAX with TT_MODEL_FLAG_WINDOW; with
 * TT_MODEL_FLAG_HOP also the window flag and a hop in 1..K, and hop bits
 * only with it), that ids are
 * distinct and non-negative, every float finite, and that cutoff partitions
 * are non-negative and strictly increasing.  TT_ERR_INVAL with a message
 * otherwise, TT_ERR_NOMEM.  On success the caller owns *out.
 */
tt_err_t tt_model_build(tt_model_t **out, const struct tt_model_parts *parts,
                        char *errstr, size_t errstr_size);

/* Fills `parts` with views of the model's arrays (valid while it lives). */
void tt_model_parts_get(const tt_model_t *m, struct tt_model_parts *parts);

/* The mutable dense block (stage 2 writes candidate parameters into a model
 * it owns and has not shared yet). */
float *tt_model_dense_mut(tt_model_t *m);

/* XXH64 of `len` bytes (the model file checksum). */
uint64_t tt_model_hash64(const void *data, size_t len, uint64_t seed);

#endif
