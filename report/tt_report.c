/*
 * Reading and checking the backtest JSON (struct tt_rp_data), and the
 * report's driver.  Every getter below fails with the field's path and
 * byte offset; the first error sticks, so a section reads all its fields
 * and checks once.
 */
#include "report/tt_report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/tt_jdoc.h"
#include "report/tt_report_int.h"

#define PATH_MAX_LEN 4096
#define DEFAULT_TIMEOUT_MS 60000

struct rx {
    char *errstr;
    size_t errstr_size;
    tt_err_t err;
};

static bool rx_fail(struct rx *x, tt_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool rx_fail(struct rx *x, tt_err_t err, const char *fmt, ...)
{
    va_list ap;

    if (x->err)
        return false;
    va_start(ap, fmt);
    x->err = tt_verrf(err, x->errstr, x->errstr_size, fmt, ap);
    va_end(ap);
    return false;
}

static const char *article(enum tt_jtype t)
{
    return t == TT_JARRAY || t == TT_JOBJECT ? "an" : "a";
}

/* The member `key` of obj (at `path`) if it has type `want` (or is null
 * and `nullable`); NULL after recording an error. */
static const struct tt_jval *rx_get(struct rx *x, const struct tt_jval *obj,
                                    const char *path, const char *key,
                                    enum tt_jtype want, bool nullable)
{
    const struct tt_jval *v;
    const char *dot = *path ? "." : "";

    if (x->err)
        return NULL;
    v = tt_jdoc_get(obj, key);
    if (!v) {
        rx_fail(x, TT_ERR_PARSE,
                "%s%smissing field \"%s\" (in the object at byte %zu)", path,
                *path ? ": " : "", key, obj->offset);
        return NULL;
    }
    if (v->type == want || (nullable && v->type == TT_JNULL))
        return v;
    rx_fail(x, TT_ERR_PARSE,
            "%s%s%s: expected %s %s%s, found %s %s at byte %zu", path, dot, key, article(want), tt_jdoc_type_name(want),
            nullable ? " or null" : "", article(v->type),
            tt_jdoc_type_name(v->type), v->offset);
    return NULL;
}

static bool rx_u64_val(struct rx *x, const struct tt_jval *v,
                       const char *path, const char *key, uint64_t *out)
{
    const char *dot = *path && *key ? "." : "";

    if (v->type != TT_JNUMBER || !v->is_int || v->u.num.i < 0)
        return rx_fail(x, TT_ERR_PARSE,
                       "%s%s%s: expected a non-negative integer at byte %zu",
                       path, dot, key, v->offset);
    *out = (uint64_t)v->u.num.i;
    return true;
}

static bool rx_u64(struct rx *x, const struct tt_jval *obj, const char *path,
                   const char *key, uint64_t *out)
{
    const struct tt_jval *v = rx_get(x, obj, path, key, TT_JNUMBER, false);

    return v && rx_u64_val(x, v, path, key, out);
}

static bool rx_i64(struct rx *x, const struct tt_jval *obj, const char *path,
                   const char *key, int64_t *out)
{
    const struct tt_jval *v = rx_get(x, obj, path, key, TT_JNUMBER, false);

    if (!v)
        return false;
    if (!v->is_int)
        return rx_fail(x, TT_ERR_PARSE,
                       "%s.%s: expected an integer at byte %zu", path, key,
                       v->offset);
    *out = v->u.num.i;
    return true;
}

static bool rx_real_val(struct rx *x, const struct tt_jval *v,
                        const char *path, const char *key, double lo,
                        double hi, double *out)
{
    const char *dot = *path && *key ? "." : "";

    if (v->u.num.d < lo || v->u.num.d > hi)
        return rx_fail(x, TT_ERR_RANGE,
                       "%s%s%s: %.17g is outside [%g, %g] at byte %zu", path,
                       dot, key, v->u.num.d, lo, hi, v->offset);
    *out = v->u.num.d;
    return true;
}

static bool rx_real(struct rx *x, const struct tt_jval *obj, const char *path,
                    const char *key, double lo, double hi, double *out)
{
    const struct tt_jval *v = rx_get(x, obj, path, key, TT_JNUMBER, false);

    return v && rx_real_val(x, v, path, key, lo, hi, out);
}

/* A number in [lo, hi] or null (*has false). */
static bool rx_real_null(struct rx *x, const struct tt_jval *obj,
                         const char *path, const char *key, double lo,
                         double hi, double *out, bool *has)
{
    const struct tt_jval *v = rx_get(x, obj, path, key, TT_JNUMBER, true);

    if (!v)
        return false;
    *has = v->type == TT_JNUMBER;
    return !*has || rx_real_val(x, v, path, key, lo, hi, out);
}

static bool rx_bool(struct rx *x, const struct tt_jval *obj, const char *path,
                    const char *key, bool *out)
{
    const struct tt_jval *v = rx_get(x, obj, path, key, TT_JBOOL, false);

    if (v)
        *out = v->u.b;
    return v != NULL;
}

/* A string into buf; longer ones are cut with "..." (display only). */
static bool rx_text(struct rx *x, const struct tt_jval *obj, const char *path,
                    const char *key, char *buf, size_t size)
{
    const struct tt_jval *v = rx_get(x, obj, path, key, TT_JSTRING, false);
    size_t n;

    if (!v)
        return false;
    n = v->n < size - 1 ? v->n : size - 1;
    memcpy(buf, v->u.s, n);
    buf[n] = '\0';
    if (n < v->n && size > 4)
        memcpy(buf + size - 4, "...", 4);
    /* a \u0000 escape would cut the text short; harmless for display */
    return true;
}

/* A model name: 1..TT_RP_NAME_MAX-1 characters from [A-Za-z0-9_.+-], since
 * it goes into gnuplot titles and HTML. */
static bool rx_name(struct rx *x, const struct tt_jval *obj, const char *path,
                    char *buf)
{
    const struct tt_jval *v = rx_get(x, obj, path, "name", TT_JSTRING, false);

    if (!v)
        return false;
    if (v->n == 0 || v->n >= TT_RP_NAME_MAX)
        return rx_fail(x, TT_ERR_RANGE,
                       "%s.name: must be 1 to %d characters at byte %zu",
                       path, TT_RP_NAME_MAX - 1, v->offset);
    for (uint32_t i = 0; i < v->n; i++) {
        char c = v->u.s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || strchr("_.+-", c) != NULL) ||
            c == '\0')
            return rx_fail(x, TT_ERR_RANGE,
                           "%s.name: only letters, digits and _.+- are "
                           "allowed at byte %zu",
                           path, v->offset);
    }
    memcpy(buf, v->u.s, v->n);
    buf[v->n] = '\0';
    return true;
}

/* An array of at most `max` items. */
static const struct tt_jval *rx_array(struct rx *x, const struct tt_jval *obj,
                                      const char *path, const char *key,
                                      uint32_t max)
{
    const struct tt_jval *v = rx_get(x, obj, path, key, TT_JARRAY, false);

    if (v && v->n > max) {
        rx_fail(x, TT_ERR_RANGE,
                "%s.%s: %u items, more than the %u this report reads at "
                "byte %zu",
                path, key, (unsigned)v->n, (unsigned)max, v->offset);
        return NULL;
    }
    return v;
}

static void read_metric(struct rx *x, const struct tt_jval *obj,
                        const char *path, const char *n_key,
                        struct tt_rp_metric *m)
{
    rx_u64(x, obj, path, n_key, &m->n);
    rx_real(x, obj, path, "mrr", 0, 1, &m->mrr);
    rx_real(x, obj, path, "recall_at_10", 0, 1, &m->recall);
}

static void read_buckets(struct rx *x, const struct tt_jval *mo,
                         const char *path, struct tt_rp_model *m)
{
    const struct tt_jval *arr = rx_array(x, mo, path, "buckets",
                                         TT_RP_BUCKETS_MAX);
    char p[96];

    if (!arr)
        return;
    m->n_buckets = arr->n;
    for (uint32_t i = 0; i < arr->n && !x->err; i++) {
        const struct tt_jval *b = &arr->u.items[i];
        struct tt_rp_bucket *o = &m->bucket[i];
        const struct tt_jval *hi;

        snprintf(p, sizeof(p), "%s.buckets[%u]", path, (unsigned)i);
        if (b->type != TT_JOBJECT) {
            rx_fail(x, TT_ERR_PARSE, "%s: expected an object at byte %zu", p,
                    b->offset);
            return;
        }
        rx_u64(x, b, p, "lo", &o->lo);
        hi = rx_get(x, b, p, "hi", TT_JNUMBER, true);
        if (hi && hi->type == TT_JNULL)
            o->open = true;
        else if (hi)
            rx_u64_val(x, hi, p, "hi", &o->hi);
        rx_u64(x, b, p, "users", &o->users);
        read_metric(x, b, p, "interactions", &o->m);
        if (!x->err && !o->open && o->hi < o->lo)
            rx_fail(x, TT_ERR_RANGE, "%s: hi %llu is below lo %llu at byte "
                                     "%zu",
                    p, (unsigned long long)o->hi, (unsigned long long)o->lo,
                    b->offset);
    }
}

static void read_change_group(struct rx *x, const struct tt_jval *ch,
                              const char *path, const char *key,
                              uint32_t steps, struct tt_rp_change *c)
{
    const struct tt_jval *g = rx_get(x, ch, path, key, TT_JOBJECT, false);
    const struct tt_jval *mean, *n;
    char p[128];

    if (!g)
        return;
    snprintf(p, sizeof(p), "%s.%s", path, key);
    mean = rx_array(x, g, p, "mean", TT_RP_STEPS_MAX);
    n = rx_array(x, g, p, "n", TT_RP_STEPS_MAX);
    if (!mean || !n)
        return;
    if (mean->n != steps || n->n != steps) {
        rx_fail(x, TT_ERR_RANGE,
                "%s: mean and n must have steps_max = %u items at byte %zu",
                p, (unsigned)steps, g->offset);
        return;
    }
    for (uint32_t i = 0; i < steps && !x->err; i++) {
        const struct tt_jval *v = &mean->u.items[i];
        char ip[160];

        snprintf(ip, sizeof(ip), "%s.mean[%u]", p, (unsigned)i);
        if (v->type == TT_JNUMBER)
            c->has[i] = rx_real_val(x, v, ip, "", 0, 1e9, &c->mean[i]);
        else if (v->type != TT_JNULL)
            rx_fail(x, TT_ERR_PARSE,
                    "%s: expected a number or null at byte %zu", ip,
                    v->offset);
        snprintf(ip, sizeof(ip), "%s.n[%u]", p, (unsigned)i);
        rx_u64_val(x, &n->u.items[i], ip, "", &c->n[i]);
    }
    rx_real_null(x, g, p, "later_mean", 0, 1e9, &c->later_mean,
                 &c->later_has);
    rx_u64(x, g, p, "later_n", &c->later_n);
}

static void read_change(struct rx *x, const struct tt_jval *mo,
                        const char *path, struct tt_rp_model *m)
{
    const struct tt_jval *ch = rx_get(x, mo, path, "embedding_change",
                                      TT_JOBJECT, true);
    char p[96];
    uint64_t steps = 0;

    if (!ch || ch->type == TT_JNULL)
        return;
    snprintf(p, sizeof(p), "%s.embedding_change", path);
    if (!rx_u64(x, ch, p, "steps_max", &steps))
        return;
    if (steps < 1 || steps > TT_RP_STEPS_MAX) {
        rx_fail(x, TT_ERR_RANGE, "%s.steps_max: %llu is outside [1, %d]", p,
                (unsigned long long)steps, TT_RP_STEPS_MAX);
        return;
    }
    m->steps = (uint32_t)steps;
    read_change_group(x, ch, p, "inactive", m->steps,
                      &m->change[TT_RP_INACTIVE]);
    read_change_group(x, ch, p, "active", m->steps, &m->change[TT_RP_ACTIVE]);
    for (int g = 0; g < 2; g++)
        for (uint32_t i = 0; i < m->steps; i++)
            m->has_change |= m->change[g].has[i];
}

static void read_curve(struct rx *x, const struct tt_jval *mo,
                       const char *path, struct tt_rp_model *m)
{
    const struct tt_jval *arr = rx_array(x, mo, path, "valid_curve",
                                         TT_RP_CURVE_MAX);
    char p[96];

    if (!arr)
        return;
    m->n_curve = arr->n;
    for (uint32_t i = 0; i < arr->n && !x->err; i++) {
        const struct tt_jval *c = &arr->u.items[i];
        struct tt_rp_curve *o = &m->curve[i];
        uint64_t epoch = 0;

        snprintf(p, sizeof(p), "%s.valid_curve[%u]", path, (unsigned)i);
        if (c->type != TT_JOBJECT) {
            rx_fail(x, TT_ERR_PARSE, "%s: expected an object at byte %zu", p,
                    c->offset);
            return;
        }
        rx_u64(x, c, p, "epoch", &epoch);
        o->epoch = epoch > UINT32_MAX ? UINT32_MAX : (uint32_t)epoch;
        rx_real(x, c, p, "seconds", 0, 1e12, &o->seconds);
        rx_real(x, c, p, "total_seconds", 0, 1e12, &o->total_seconds);
        rx_real(x, c, p, "valid_mrr", 0, 1, &o->valid_mrr);
    }
}

static void read_model(struct rx *x, const struct tt_jval *mo,
                       const char *path, struct tt_rp_model *m)
{
    static const char *const groups[2] = {"inactive", "active"};
    const struct tt_jval *sec, *grp;
    char p[96];

    if (mo->type != TT_JOBJECT) {
        rx_fail(x, TT_ERR_PARSE, "%s: expected an object at byte %zu", path,
                mo->offset);
        return;
    }
    rx_name(x, mo, path, m->name);
    rx_real(x, mo, path, "mrr", 0, 1, &m->mrr);
    rx_real(x, mo, path, "recall_at_10", 0, 1, &m->recall);
    rx_real(x, mo, path, "valid_mrr", 0, 1, &m->valid_mrr);
    rx_u64(x, mo, path, "scored", &m->scored);
    rx_u64(x, mo, path, "unknown_item_interactions", &m->unknown);
    rx_u64(x, mo, path, "new_user_interactions", &m->new_user_n);
    rx_u64(x, mo, path, "state_updates", &m->updates);
    rx_u64(x, mo, path, "skipped_updates", &m->skipped_updates);
    sec = rx_get(x, mo, path, "seconds", TT_JOBJECT, false);
    snprintf(p, sizeof(p), "%s.seconds", path);
    if (sec) {
        rx_real(x, sec, p, "stage1", 0, 1e12, &m->stage1_s);
        rx_real(x, sec, p, "stage2", 0, 1e12, &m->stage2_s);
        rx_real(x, sec, p, "test_scoring", 0, 1e12, &m->scoring_s);
    }
    grp = rx_get(x, mo, path, "groups", TT_JOBJECT, false);
    for (int g = 0; g < 2 && grp; g++) {
        const struct tt_jval *o;

        snprintf(p, sizeof(p), "%s.groups", path);
        o = rx_get(x, grp, p, groups[g], TT_JOBJECT, false);
        snprintf(p, sizeof(p), "%s.groups.%s", path, groups[g]);
        if (o)
            read_metric(x, o, p, "interactions", &m->group[g]);
    }
    read_buckets(x, mo, path, m);
    read_change(x, mo, path, m);
    read_curve(x, mo, path, m);
}

static void read_tuning(struct rx *x, const struct tt_jval *root,
                        struct tt_rp_data *d)
{
    const struct tt_jval *t = rx_get(x, root, "", "tuning", TT_JOBJECT, true);
    const struct tt_jval *grid;
    char p[64];

    if (!t || t->type == TT_JNULL)
        return;
    grid = rx_array(x, t, "tuning", "grid", TT_RP_GRID_MAX);
    if (!grid)
        return;
    d->n_grid = grid->n;
    for (uint32_t i = 0; i < grid->n && !x->err; i++) {
        const struct tt_jval *g = &grid->u.items[i];
        struct tt_rp_grid *o = &d->grid[i];

        snprintf(p, sizeof(p), "tuning.grid[%u]", (unsigned)i);
        if (g->type != TT_JOBJECT) {
            rx_fail(x, TT_ERR_PARSE, "%s: expected an object at byte %zu", p,
                    g->offset);
            return;
        }
        rx_u64(x, g, p, "tstar", &o->tstar);
        rx_u64(x, g, p, "k", &o->k);
        rx_u64(x, g, p, "active_users", &o->active);
        rx_real(x, g, p, "valid_mrr", 0, 1, &o->valid_mrr);
        rx_real(x, g, p, "stage2_seconds", 0, 1e12, &o->seconds);
    }
}

static void read_top(struct rx *x, const struct tt_jval *root,
                     struct tt_rp_data *d)
{
    const struct tt_jval *ds, *te, *cf;

    rx_text(x, root, "", "input", d->input, sizeof(d->input));
    ds = rx_get(x, root, "", "dataset", TT_JOBJECT, false);
    if (ds) {
        rx_u64(x, ds, "dataset", "interactions", &d->interactions);
        rx_u64(x, ds, "dataset", "users", &d->users);
        rx_u64(x, ds, "dataset", "items", &d->items);
        rx_u64(x, ds, "dataset", "train", &d->train);
        rx_u64(x, ds, "dataset", "valid", &d->valid);
        rx_u64(x, ds, "dataset", "test", &d->test);
        rx_u64(x, ds, "dataset", "train_users", &d->train_users);
        rx_u64(x, ds, "dataset", "train_items", &d->train_items);
        rx_u64(x, ds, "dataset", "active_users", &d->active_users);
        rx_i64(x, ds, "dataset", "first_ts_ms", &d->first_ts);
        rx_i64(x, ds, "dataset", "cutoff_ts_ms", &d->cutoff_ts);
        rx_i64(x, ds, "dataset", "last_ts_ms", &d->last_ts);
    }
    te = rx_get(x, root, "", "test", TT_JOBJECT, false);
    if (te) {
        rx_u64(x, te, "test", "scored", &d->scored);
        rx_u64(x, te, "test", "users", &d->test_users);
        rx_u64(x, te, "test", "new_users", &d->new_users);
        rx_u64(x, te, "test", "new_user_interactions", &d->new_user_n);
        rx_real(x, te, "test", "new_user_share", 0, 1, &d->new_user_share);
        rx_u64(x, te, "test", "unknown_item_interactions",
               &d->unknown_items);
    }
    rx_u64(x, root, "", "valid_scored", &d->valid_scored);
    cf = rx_get(x, root, "", "config", TT_JOBJECT, false);
    if (cf) {
        rx_u64(x, cf, "config", "tstar", &d->tstar);
        rx_u64(x, cf, "config", "k", &d->k);
        rx_u64(x, cf, "config", "dim", &d->dim);
        rx_u64(x, cf, "config", "eval_negatives", &d->eval_negatives);
        rx_u64(x, cf, "config", "epochs1", &d->epochs1);
        rx_u64(x, cf, "config", "epochs2", &d->epochs2);
        rx_u64(x, cf, "config", "threads", &d->threads);
        rx_u64(x, cf, "config", "train_negatives", &d->train_negatives);
        rx_u64(x, cf, "config", "eval_seed", &d->eval_seed);
        rx_u64(x, cf, "config", "train_seed", &d->train_seed);
        rx_text(x, cf, "config", "optimizer", d->optimizer,
                sizeof(d->optimizer));
        rx_bool(x, cf, "config", "features", &d->features);
    }
    read_tuning(x, root, d);
    rx_real(x, root, "", "stage1_seconds", 0, 1e12, &d->stage1_s);
    rx_real(x, root, "", "seconds", 0, 1e12, &d->seconds);
}

/* The optional "live" member (`backtest --live`; README "Live backtest"). */
static void read_live(struct rx *x, const struct tt_jval *root,
                      struct tt_rp_data *d)
{
    static const char *const groups[2] = {"inactive", "active"};
    const struct tt_jval *lv = tt_jdoc_get(root, "live"), *vs;
    struct tt_rp_live *l = &d->live;
    char p[64], gp[96];

    if (!lv || x->err)
        return;
    lv = rx_get(x, root, "", "live", TT_JOBJECT, false);
    if (!lv)
        return;
    l->present = true;
    rx_u64(x, lv, "live", "input_records", &l->input_records);
    rx_u64(x, lv, "live", "input_undecodable", &l->input_undecodable);
    rx_u64(x, lv, "live", "embeddings", &l->embeddings);
    rx_u64(x, lv, "live", "embeddings_unmatched", &l->unmatched);
    rx_u64(x, lv, "live", "duplicate_embeddings", &l->duplicates);
    rx_u64(x, lv, "live", "conflicting_embeddings", &l->conflicts);
    rx_u64(x, lv, "live", "scored", &l->scored);
    rx_u64(x, lv, "live", "missing_embedding", &l->missing_embedding);
    rx_u64(x, lv, "live", "missing_model", &l->missing_model);
    rx_u64(x, lv, "live", "first_interactions", &l->first_interactions);
    rx_u64(x, lv, "live", "after_swap", &l->after_swap);
    vs = rx_array(x, lv, "live", "versions", TT_RP_VERSIONS_MAX);
    for (uint32_t i = 0; vs && i < vs->n && !x->err; i++) {
        const struct tt_jval *v = &vs->u.items[i];
        struct tt_rp_version *o = &l->v[i];

        snprintf(p, sizeof(p), "live.versions[%u]", (unsigned)i);
        if (v->type != TT_JOBJECT) {
            rx_fail(x, TT_ERR_PARSE, "%s: expected an object at byte %zu", p,
                    v->offset);
            return;
        }
        rx_u64(x, v, p, "version", &o->version);
        rx_text(x, v, p, "source", o->source, sizeof(o->source));
        read_metric(x, v, p, "interactions", &o->all);
        for (int g = 0; g < 2; g++) {
            const struct tt_jval *go = rx_get(x, v, p, groups[g], TT_JOBJECT,
                                              false);

            snprintf(gp, sizeof(gp), "%s.%s", p, groups[g]);
            if (go)
                read_metric(x, go, gp, "interactions", &o->group[g]);
        }
        l->n_versions = i + 1;
    }
}

static tt_err_t read_data(const struct tt_jval *root, struct tt_rp_data *d,
                          char *errstr, size_t errstr_size)
{
    struct rx x = {errstr, errstr_size, TT_ERR_OK};
    const struct tt_jval *models;
    uint64_t format = 0;
    char p[32];

    if (root->type != TT_JOBJECT)
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                       "expected an object at the top level, found %s %s",
                       article(root->type), tt_jdoc_type_name(root->type));
    if (!rx_u64(&x, root, "", "format", &format))
        return x.err;
    if (format != 1)
        return tt_errf(TT_ERR_VERSION, errstr, errstr_size,
                       "format %llu is not supported (this twotime reads "
                       "backtest reports of format 1)",
                       (unsigned long long)format);
    read_top(&x, root, d);
    models = rx_array(&x, root, "", "models", TT_RP_MODELS_MAX);
    if (models && models->n == 0)
        rx_fail(&x, TT_ERR_RANGE, "models: no model in the report");
    for (uint32_t i = 0; models && i < models->n && !x.err; i++) {
        snprintf(p, sizeof(p), "models[%u]", (unsigned)i);
        read_model(&x, &models->u.items[i], p, &d->model[i]);
        d->n_models = i + 1;
    }
    read_live(&x, root, d);
    return x.err;
}

const char *tt_rp_fig_file(enum tt_rp_fig fig)
{
    static const char *const files[TT_RP_FIG__COUNT] = {
        "fig_activity.png", "fig_change.png", "fig_training.png"};

    return (unsigned)fig < TT_RP_FIG__COUNT ? files[fig] : "?";
}

bool tt_rp_fig_wanted(const struct tt_rp_data *d, enum tt_rp_fig fig)
{
    for (uint32_t i = 0; i < d->n_models; i++) {
        const struct tt_rp_model *m = &d->model[i];

        if (fig == TT_RP_FIG_ACTIVITY && m->n_buckets)
            return true;
        if (fig == TT_RP_FIG_CHANGE && m->has_change)
            return true;
        if (fig == TT_RP_FIG_TRAINING && m->n_curve)
            return true;
    }
    return false;
}

int tt_rp_tstar_bucket(const struct tt_rp_data *d)
{
    const struct tt_rp_model *m = &d->model[0];

    for (uint32_t b = 0; d->n_models && b < m->n_buckets; b++)
        if (!m->bucket[b].open && m->bucket[b].hi == d->tstar)
            return (int)b;
    return -1;
}

void tt_rp_bucket_label(const struct tt_rp_bucket *b, char *buf, size_t size)
{
    if (b->open)
        snprintf(buf, size, "%llu+", (unsigned long long)b->lo);
    else if (b->lo == 0 && b->hi == 0)
        snprintf(buf, size, "0 (new)");
    else if (b->lo == b->hi)
        snprintf(buf, size, "%llu", (unsigned long long)b->lo);
    else
        snprintf(buf, size, "%llu-%llu", (unsigned long long)b->lo,
                 (unsigned long long)b->hi);
}

bool tt_rp_change_mean(const struct tt_rp_model *m, int group, uint32_t from,
                       uint32_t to, double *out)
{
    const struct tt_rp_change *c = &m->change[group];
    double sum = 0;
    uint64_t n = 0;

    for (uint32_t s = from; s >= 1 && s <= to && s <= m->steps; s++) {
        if (!c->has[s - 1])
            continue;
        sum += c->mean[s - 1] * (double)c->n[s - 1];
        n += c->n[s - 1];
    }
    if (!n)
        return false;
    *out = sum / (double)n;
    return true;
}

static bool executable(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
           access(path, X_OK) == 0;
}

tt_err_t tt_rp_find_program(const char *prog, char *buf, size_t size)
{
    const char *path = getenv("PATH"), *p, *colon;
    int n;

    if (strchr(prog, '/')) {
        if (!executable(prog))
            return TT_ERR_NOTFOUND;
        n = snprintf(buf, size, "%s", prog);
        return n >= 0 && (size_t)n < size ? TT_ERR_OK : TT_ERR_RANGE;
    }
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (p = path;; p = colon + 1) {
        size_t len;

        colon = strchr(p, ':');
        len = colon ? (size_t)(colon - p) : strlen(p);
        /* an empty PATH entry is the current directory */
        n = len ? snprintf(buf, size, "%.*s/%s", (int)len, p, prog)
                : snprintf(buf, size, "./%s", prog);
        if (n >= 0 && (size_t)n < size && executable(buf))
            return TT_ERR_OK;
        if (!colon)
            return TT_ERR_NOTFOUND;
    }
}

void tt_report_opts_init(struct tt_report_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->figures = true;
    o->timeout_ms = DEFAULT_TIMEOUT_MS;
}

static tt_err_t make_dir(const char *dir, char *errstr, size_t errstr_size)
{
    struct stat st;

    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return tt_errf(TT_ERR_IO, errstr, errstr_size, "cannot create %s: %s",
                       dir, strerror(errno));
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return tt_errf(TT_ERR_IO, errstr, errstr_size,
                       "%s exists and is not a directory", dir);
    return TT_ERR_OK;
}

tt_err_t tt_report_write(const char *json_path, const char *out_dir,
                         const struct tt_report_opts *o,
                         struct tt_report_info *info, char *errstr,
                         size_t errstr_size)
{
    struct tt_report_opts def;
    struct tt_rp_data *d;
    tt_jdoc_t *doc = NULL;
    char program[PATH_MAX_LEN], tmp[512];
    unsigned drawn = 0;
    size_t bytes = 0;
    tt_err_t err;

    if (!o) {
        tt_report_opts_init(&def);
        o = &def;
    }
    if (info)
        memset(info, 0, sizeof(*info));
    d = calloc(1, sizeof(*d));
    if (!d)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    err = tt_jdoc_load(&doc, json_path, TT_REPORT_JSON_MAX, errstr,
                       errstr_size);
    if (err)
        goto out;
    err = read_data(tt_jdoc_root(doc), d, tmp, sizeof(tmp));
    if (err) {
        tt_errf(err, errstr, errstr_size, "%s: %s", json_path, tmp);
        goto out;
    }
    if (o->figures) {
        const char *prog = o->gnuplot ? o->gnuplot : "gnuplot";

        err = tt_rp_find_program(prog, program, sizeof(program));
        if (err) {
            err = tt_errf(TT_ERR_NOTFOUND, errstr, errstr_size,
                          "%s: not found%s; the figures need gnuplot "
                          "(Debian: apt-get install gnuplot-nox), or make "
                          "a report without figures",
                          prog, strchr(prog, '/') ? "" : " on PATH");
            goto out;
        }
    }
    err = make_dir(out_dir, errstr, errstr_size);
    if (err)
        goto out;
    if (o->figures) {
        err = tt_rp_plot(d, out_dir, program,
                         o->timeout_ms > 0 ? o->timeout_ms
                                           : DEFAULT_TIMEOUT_MS,
                         &drawn, errstr, errstr_size);
        if (err)
            goto out;
    }
    err = tt_rp_html(d, out_dir, o->title, json_path, drawn, &bytes, errstr,
                     errstr_size);
    if (err)
        goto out;
    if (info) {
        info->models = d->n_models;
        for (int f = 0; f < TT_RP_FIG__COUNT; f++)
            info->figures += (drawn >> f) & 1u;
        info->html_bytes = bytes;
    }
out:
    tt_jdoc_destroy(doc);
    free(d);
    return err;
}
