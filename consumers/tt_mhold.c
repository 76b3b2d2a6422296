#include "consumers/tt_mhold.h"

#include <pthread.h>
#include <stdlib.h>

/* A model with its view, so that the view outlives no model. */
struct held {
    tt_model_t *model;
    struct tt_proc_view view;
};

struct tt_mhold_s {
    struct held *cur;       /* loop thread only */
    uint64_t cur_version;   /* under lock: offers compare against it */
    pthread_mutex_t lock;
    struct held *pending;   /* under lock */
};

static void held_free(struct held *hd)
{
    if (!hd)
        return;
    tt_proc_view_release(&hd->view);
    tt_model_destroy(hd->model);
    free(hd);
}

static tt_err_t held_new(struct held **out, tt_model_t **m, char *errstr,
                         size_t errstr_size)
{
    struct held *hd;
    struct tt_model_info info;

    tt_model_get_info(*m, &info);
    if (info.dim < 1 || info.dim > TT_MODEL_DIM_MAX)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "model version %llu: dimension %u not supported",
                       (unsigned long long)info.version, info.dim);
    hd = calloc(1, sizeof(*hd));
    if (!hd || tt_proc_view_init(&hd->view, *m) != TT_ERR_OK) {
        free(hd);
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "model holder: no memory");
    }
    hd->model = *m;
    *m = NULL;
    *out = hd;
    return TT_ERR_OK;
}

tt_err_t tt_mhold_new(tt_mhold_t **hp, tt_model_t **initial, char *errstr,
                      size_t errstr_size)
{
    tt_mhold_t *h;
    tt_err_t err;

    *hp = NULL;
    h = calloc(1, sizeof(*h));
    if (!h)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "model holder: no memory");
    err = held_new(&h->cur, initial, errstr, errstr_size);
    if (err) {
        free(h);
        return err;
    }
    h->cur_version = h->cur->view.info.version;
    pthread_mutex_init(&h->lock, NULL);
    *hp = h;
    return TT_ERR_OK;
}

void tt_mhold_destroy(tt_mhold_t *h)
{
    if (!h)
        return;
    held_free(h->cur);
    held_free(h->pending);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

tt_err_t tt_mhold_offer(tt_mhold_t *h, tt_model_t **m, char *errstr,
                        size_t errstr_size)
{
    struct tt_model_info info;
    struct held *hd = NULL, *old = NULL;
    uint64_t floor;
    tt_err_t err;

    tt_model_get_info(*m, &info);
    pthread_mutex_lock(&h->lock);
    floor = h->pending ? h->pending->view.info.version : h->cur_version;
    pthread_mutex_unlock(&h->lock);
    if (info.version <= floor)
        return tt_errf(TT_ERR_VERSION, errstr, errstr_size,
                       "model version %llu is not newer than %llu",
                       (unsigned long long)info.version,
                       (unsigned long long)floor);
    /* The view is built here, outside the lock and off the loop's thread. */
    err = held_new(&hd, m, errstr, errstr_size);
    if (err)
        return err;
    pthread_mutex_lock(&h->lock);
    floor = h->pending ? h->pending->view.info.version : h->cur_version;
    if (info.version <= floor) {
        /* A newer offer won the race meanwhile. */
        pthread_mutex_unlock(&h->lock);
        *m = hd->model;
        hd->model = NULL;
        held_free(hd);
        return tt_errf(TT_ERR_VERSION, errstr, errstr_size,
                       "model version %llu is not newer than %llu",
                       (unsigned long long)info.version,
                       (unsigned long long)floor);
    }
    old = h->pending;
    h->pending = hd;
    pthread_mutex_unlock(&h->lock);
    held_free(old);
    return TT_ERR_OK;
}

bool tt_mhold_swap(tt_mhold_t *h, uint64_t *old_version)
{
    struct held *next, *old;

    pthread_mutex_lock(&h->lock);
    next = h->pending;
    h->pending = NULL;
    if (next)
        h->cur_version = next->view.info.version;
    pthread_mutex_unlock(&h->lock);
    if (!next)
        return false;
    old = h->cur;
    h->cur = next;
    if (old_version)
        *old_version = old->view.info.version;
    held_free(old);
    return true;
}

const struct tt_proc_view *tt_mhold_view(const tt_mhold_t *h)
{
    return &h->cur->view;
}

uint64_t tt_mhold_pending_version(tt_mhold_t *h)
{
    uint64_t v;

    pthread_mutex_lock(&h->lock);
    v = h->pending ? h->pending->view.info.version : 0;
    pthread_mutex_unlock(&h->lock);
    return v;
}
