/*
 * tt_warm: copies what a previous model knows into freshly initialised
 * training parameters (see tt_warm.h).
 */
#include "model/tt_warm.h"

#include <stdlib.h>
#include <string.h>

#include "model/tt_model_int.h"
#include "model/tt_train.h"

tt_err_t tt_warm_check(const tt_model_t *prev,
                       const struct tt_train_opts *opts, char *errstr,
                       size_t errstr_size)
{
    struct tt_model_info info;
    uint32_t fd = opts->features ? opts->feature_dim : 0;

    tt_model_get_info(prev, &info);
    if (info.dim != opts->dim + fd || info.feature_dim != fd)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "warm start: the previous model (version %llu) has "
                       "D = %u (feature dim %u), this training D = %u "
                       "(feature dim %u)",
                       (unsigned long long)info.version, info.dim,
                       info.feature_dim, opts->dim + fd, fd);
    return TT_ERR_OK;
}

void tt_warm_count(const tt_model_t *prev, const struct tt_dataset *ds,
                   bool plus, struct tt_warm_match *m)
{
    struct tt_model_info info;

    tt_model_get_info(prev, &info);
    memset(m, 0, sizeof(*m));
    m->users = tt_dataset_n_users(ds);
    m->items = tt_dataset_n_items(ds);
    for (uint32_t u = 0; u < m->users; u++)
        m->users_known += tt_model_phi(prev, tt_ids_id(ds->users, u)) != NULL;
    for (uint32_t i = 0; i < m->items; i++)
        m->items_known += tt_model_item(prev, tt_ids_id(ds->items, i)) != NULL;
    m->plus_w = plus && info.plus;
}

tt_err_t tt_warm_stage1(const tt_model_t *prev, const struct tt_dataset *ds,
                        uint32_t d, uint32_t fd, float *phi, float *x,
                        float *g, const uint32_t *cat, uint32_t n_cat)
{
    const uint32_t dd = d + fd;
    const uint32_t nu = tt_dataset_n_users(ds);
    const uint32_t ni = tt_dataset_n_items(ds);
    struct tt_model_info info;
    uint8_t *done = NULL;

    tt_model_get_info(prev, &info);
    if (info.dim != dd || info.feature_dim != fd)
        return TT_ERR_OK;
    if (fd && g && cat && !(done = calloc((size_t)n_cat + 1, 1)))
        return TT_ERR_NOMEM;
    for (uint32_t u = 0; u < nu; u++) {
        const float *row = tt_model_phi(prev, tt_ids_id(ds->users, u));

        if (row)
            memcpy(phi + (size_t)u * dd, row, dd * sizeof(float));
    }
    for (uint32_t i = 0; i < ni; i++) {
        const float *row = tt_model_item(prev, tt_ids_id(ds->items, i));

        if (!row)
            continue;
        memcpy(x + (size_t)i * d, row, d * sizeof(float));
        /* g's row of this item's category, once per category: the first
         * known item of the category in dense index order brings it (a
         * fixed rule); the others keep the usual initialisation */
        if (done && cat[i] < n_cat && !done[cat[i]]) {
            memcpy(g + (size_t)cat[i] * fd, row + d, fd * sizeof(float));
            done[cat[i]] = 1;
        }
    }
    free(done);
    return TT_ERR_OK;
}

void tt_warm_stage2(const tt_model_t *prev, float *dense, uint32_t dim,
                    bool plus)
{
    struct tt_model_info info;
    struct tt_model_parts p;

    tt_model_get_info(prev, &info);
    if (info.dim != dim)
        return;
    tt_model_parts_get(prev, &p);
    /* psi and both cells lead the block in either layout; W follows */
    memcpy(dense, p.dense,
           tt_model_dense_floats(dim, plus && info.plus) * sizeof(float));
}
