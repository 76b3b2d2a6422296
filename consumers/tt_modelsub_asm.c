/*
 * tt_modelsub_asm: ModelRecords of the model topic -> verified tt_model_t
 * (the checks are listed in tt_modelsub.h).  No Kafka here.
 */
#include "consumers/tt_modelsub.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_time.h"
#include "model/tt_gru.h"
#include "model/tt_model_int.h"
#include "schemas/tt_codec.h"
#include "schemas/tt_modelrec.h"

/* Rejected versions remembered, so that late records of one are ignored. */
#define REJECTED_MAX 16

struct arec {
    uint8_t *payload;
    size_t len;
    uint32_t crc;
    enum tt_modelrec_kind kind;
    bool present;
};

struct pending {
    bool used;
    uint64_t version;
    struct arec *recs;  /* indexed by seq */
    uint32_t cap;
    uint32_t n_present;
    bool has_commit;
    struct tt_modelrec_commit commit;
    uint64_t bytes;
};

struct tt_modelsub_asm_s {
    uint64_t min_version;
    struct pending pend[TT_MODELSUB_PENDING_MAX];
    uint64_t rejected[REJECTED_MAX];
    unsigned n_rejected, next_rejected;
    tt_codec_t *codec;
    struct tt_modelsub_stats st;
};

tt_err_t tt_modelsub_asm_new(tt_modelsub_asm_t **out, uint64_t min_version,
                             char *errstr, size_t errstr_size)
{
    tt_modelsub_asm_t *a = calloc(1, sizeof(*a));
    tt_err_t err;

    *out = NULL;
    if (!a)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "model assembler: no memory");
    err = tt_codec_new(&a->codec, errstr, errstr_size);
    if (err) {
        free(a);
        return err;
    }
    a->min_version = min_version;
    a->st.current_version = min_version;
    *out = a;
    return TT_ERR_OK;
}

static void pending_free(tt_modelsub_asm_t *a, struct pending *p)
{
    for (uint32_t i = 0; i < p->cap; i++)
        free(p->recs[i].payload);
    free(p->recs);
    a->st.buffered_bytes -= p->bytes;
    memset(p, 0, sizeof(*p));
}

/* Drops a version that never completed, counting why. */
static void drop_pending(tt_modelsub_asm_t *a, struct pending *p,
                         const char *why)
{
    if (p->has_commit) {
        a->st.versions_incomplete++;
        snprintf(a->st.last_drop, sizeof(a->st.last_drop),
                 "version %" PRIu64 " dropped %s with its COMMIT but %u of "
                 "its %u records",
                 p->version, why, p->n_present, p->commit.n_records);
    } else {
        a->st.versions_superseded++;
        snprintf(a->st.last_drop, sizeof(a->st.last_drop),
                 "version %" PRIu64 " dropped %s without its COMMIT (%u "
                 "records)",
                 p->version, why, p->n_present);
    }
    pending_free(a, p);
}

void tt_modelsub_asm_destroy(tt_modelsub_asm_t *a)
{
    if (!a)
        return;
    for (int i = 0; i < TT_MODELSUB_PENDING_MAX; i++)
        if (a->pend[i].used)
            pending_free(a, &a->pend[i]);
    tt_codec_destroy(a->codec);
    free(a);
}

void tt_modelsub_asm_stats(const tt_modelsub_asm_t *a,
                           struct tt_modelsub_stats *stats)
{
    *stats = a->st;
}

static bool is_rejected(const tt_modelsub_asm_t *a, uint64_t v)
{
    for (unsigned i = 0; i < a->n_rejected; i++)
        if (a->rejected[i] == v)
            return true;
    return false;
}

static struct pending *find(tt_modelsub_asm_t *a, uint64_t v)
{
    for (int i = 0; i < TT_MODELSUB_PENDING_MAX; i++)
        if (a->pend[i].used && a->pend[i].version == v)
            return &a->pend[i];
    return NULL;
}

/* Rejects version v for good: counted, buffers freed, the reason kept.
 * Returns `code` with errstr filled. */
static bool forbid(tt_modelsub_asm_t *a, uint64_t v)
{
    struct pending *p = find(a, v);

    if (p)
        pending_free(a, p);
    if (is_rejected(a, v))
        return false;
    a->rejected[a->next_rejected] = v;
    a->next_rejected = (a->next_rejected + 1) % REJECTED_MAX;
    if (a->n_rejected < REJECTED_MAX)
        a->n_rejected++;
    return true;
}

static tt_err_t reject(tt_modelsub_asm_t *a, uint64_t v, tt_err_t code,
                       char *errstr, size_t errstr_size, const char *why)
{
    if (forbid(a, v))
        a->st.versions_rejected++;
    snprintf(a->st.last_reject, sizeof(a->st.last_reject),
             "version %" PRIu64 ": %s", v, why);
    return tt_errf(code, errstr, errstr_size, "model version %" PRIu64
                   " rejected: %s", v, why);
}

/* ---- building a complete version ---- */

/* Where a DENSE tensor goes in the model's dense block. */
struct dense_slot {
    const char *name;
    uint32_t rows, cols;
    size_t off;        /* in the dense block; SIZE_MAX: a meta tensor */
    uint64_t covered;  /* elements seen */
};

/* One DENSE record, parsed. */
struct dslice {
    int slot;
    uint64_t first;
    uint32_t count;
    uint32_t seq;
};

static int cmp_slice(const void *x, const void *y)
{
    const struct dslice *a = x, *b = y;

    if (a->slot != b->slot)
        return a->slot < b->slot ? -1 : 1;
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    return 0;
}

/* The expected tensors for dim d; returns how many. */
static int dense_slots(uint32_t d, bool plus, struct dense_slot *s)
{
    size_t np = tt_gru_nparams(d), sq = 3 * (size_t)d * d;
    int n = 0;

    s[n++] = (struct dense_slot){"psi", 1, d, 0, 0};
    for (int c = 0; c < 2; c++) {
        size_t base = d + (size_t)c * np;

        s[n++] = (struct dense_slot){c ? "cell1.wt" : "cell0.wt", d, 3 * d,
                                     base, 0};
        s[n++] = (struct dense_slot){c ? "cell1.ut" : "cell0.ut", d, 3 * d,
                                     base + sq, 0};
        s[n++] = (struct dense_slot){c ? "cell1.b" : "cell0.b", 1, 3 * d,
                                     base + 2 * sq, 0};
    }
    if (plus)
        s[n++] = (struct dense_slot){"W", 2 * d, d, d + 2 * np, 0};
    s[n++] = (struct dense_slot){"meta.seed", 1, 4, SIZE_MAX, 0};
    s[n++] = (struct dense_slot){"meta.flags", 1, 1, SIZE_MAX, 0};
    return n;
}

struct build {
    struct tt_modelrec_header h;
    struct tt_model_cutoff *cutoffs;
    int64_t *item_ids, *user_ids;
    float *items, *phi, *dense;
    struct dslice *slices;
    uint32_t n_slices;
    float seed16[4], flags;
    bool has_flags;
};

static void build_release(struct build *b)
{
    free(b->cutoffs);
    free(b->item_ids);
    free(b->user_ids);
    free(b->items);
    free(b->phi);
    free(b->dense);
    free(b->slices);
}

/*
 * Pass 1: checks every record of a complete version without copying its
 * data.  Fills b->h, the cutoffs and the sorted DENSE slices.  Returns a
 * static reason or NULL when the version is sound.
 */
static const char *check_version(struct pending *p, struct build *b,
                                 struct dense_slot *slots, int *n_slots,
                                 char *why, size_t why_size)
{
    struct tt_modelrec_digest dg;
    uint64_t n_items = 0, n_users = 0;
    uint32_t n = p->commit.n_records;
    char e[256];
    int distinct = 0;

    tt_modelrec_digest_init(&dg);
    for (uint32_t i = 0; i < n; i++)
        if (tt_modelrec_digest_add(&dg, p->recs[i].kind, (int32_t)i,
                                   p->recs[i].crc, p->recs[i].len, e,
                                   sizeof(e)))
            goto bad;
    if (tt_modelrec_commit_check(&dg, &p->commit, e, sizeof(e)))
        goto bad;
    if (n == 0 || p->recs[0].kind != TT_MODELREC_HEADER) {
        snprintf(why, why_size, "seq 0 is not a HEADER");
        return why;
    }
    if (tt_modelrec_header_parse(p->recs[0].payload, p->recs[0].len, &b->h,
                                 e, sizeof(e)))
        goto bad;
    if (b->h.dim < 1 || b->h.dim > TT_MODEL_DIM_MAX ||
        b->h.feature_dim >= b->h.dim || b->h.n_items > UINT32_MAX ||
        b->h.n_users > UINT32_MAX) {
        snprintf(why, why_size,
                 "HEADER: dim %u, feature_dim %u, %" PRIu64 " items, %" PRIu64
                 " users out of range",
                 b->h.dim, b->h.feature_dim, b->h.n_items, b->h.n_users);
        return why;
    }
    *n_slots = dense_slots(b->h.dim, b->h.flags & TT_MODELREC_FLAG_PLUS, slots);
    b->slices = malloc(((size_t)n + 1) * sizeof(*b->slices));
    b->cutoffs = malloc(((size_t)b->h.n_cutoffs + 1) * sizeof(*b->cutoffs));
    if (!b->slices || !b->cutoffs) {
        snprintf(why, why_size, "no memory");
        return why;
    }
    for (uint32_t i = 0; i < b->h.n_cutoffs; i++) {
        struct tt_modelrec_cutoff c = tt_modelrec_header_cutoff(&b->h, i);

        b->cutoffs[i].partition = c.partition;
        b->cutoffs[i].offset = c.offset;
    }
    for (uint32_t i = 1; i < n; i++) {
        const struct arec *r = &p->recs[i];
        struct tt_modelrec_rows rows;
        struct tt_modelrec_dense d;
        int s;

        switch (r->kind) {
        case TT_MODELREC_ITEMS:
        case TT_MODELREC_USERS:
            if (tt_modelrec_rows_parse(r->payload, r->len, &rows, e,
                                       sizeof(e)))
                goto bad;
            if (rows.row_dim != b->h.dim) {
                snprintf(why, why_size, "seq %u: rows of dim %u, model %u",
                         i, rows.row_dim, b->h.dim);
                return why;
            }
            if (r->kind == TT_MODELREC_ITEMS)
                n_items += rows.n_rows;
            else
                n_users += rows.n_rows;
            break;
        case TT_MODELREC_DENSE:
            if (tt_modelrec_dense_parse(r->payload, r->len, &d, e,
                                        sizeof(e)))
                goto bad;
            for (s = 0; s < *n_slots; s++)
                if (!strcmp(slots[s].name, d.name))
                    break;
            if (s == *n_slots) {
                if (!strncmp(d.name, "meta.", 5))
                    continue; /* a newer publisher's extra provenance */
                snprintf(why, why_size, "seq %u: unknown tensor \"%s\"", i,
                         d.name);
                return why;
            }
            if (d.rows != slots[s].rows || d.cols != slots[s].cols) {
                snprintf(why, why_size,
                         "seq %u: tensor %s is %ux%u, expected %ux%u", i,
                         d.name, d.rows, d.cols, slots[s].rows,
                         slots[s].cols);
                return why;
            }
            if (slots[s].covered == 0)
                distinct++;
            slots[s].covered += d.count;
            b->slices[b->n_slices++] =
                (struct dslice){s, d.first, d.count, i};
            break;
        default:
            snprintf(why, why_size, "seq %u: a second %s", i,
                     tt_modelrec_kind_name(r->kind));
            return why;
        }
    }
    if (n_items != b->h.n_items || n_users != b->h.n_users) {
        snprintf(why, why_size,
                 "%" PRIu64 " item and %" PRIu64 " user rows, HEADER says "
                 "%" PRIu64 " and %" PRIu64,
                 n_items, n_users, b->h.n_items, b->h.n_users);
        return why;
    }
    /* every known tensor exactly covered: sorted slices are contiguous */
    qsort(b->slices, b->n_slices, sizeof(*b->slices), cmp_slice);
    for (uint32_t i = 0, at = 0; i < b->n_slices; i++) {
        int s = b->slices[i].slot;

        if (i == 0 || b->slices[i - 1].slot != s)
            at = 0;
        if (b->slices[i].first != at) {
            snprintf(why, why_size, "tensor %s: slice at %" PRIu64
                     " where %u was expected (gap or overlap)",
                     slots[s].name, b->slices[i].first, at);
            return why;
        }
        at += b->slices[i].count;
    }
    for (int s = 0; s < *n_slots; s++) {
        bool optional = slots[s].off == SIZE_MAX;

        if (slots[s].covered != (uint64_t)slots[s].rows * slots[s].cols &&
            !(optional && slots[s].covered == 0)) {
            snprintf(why, why_size, "tensor %s: %" PRIu64 " of %" PRIu64
                     " elements",
                     slots[s].name, slots[s].covered,
                     (uint64_t)slots[s].rows * slots[s].cols);
            return why;
        }
    }
    if ((uint32_t)distinct > b->h.n_dense) {
        snprintf(why, why_size, "%d tensors, HEADER says %u", distinct,
                 b->h.n_dense);
        return why;
    }
    return NULL;
bad:
    snprintf(why, why_size, "%s", e);
    return why;
}

/* Pass 2: copies the data into arrays (freeing each payload once copied:
 * the peak stays near twice the model) and builds the model. */
static tt_err_t build_version(tt_modelsub_asm_t *a, struct pending *p,
                              tt_model_t **out, char *errstr,
                              size_t errstr_size)
{
    struct dense_slot slots[16];
    struct tt_model_parts parts;
    struct build b;
    uint64_t t0 = tt_time_mono_ns();
    uint32_t n = p->commit.n_records, dim, ni = 0, nu = 0;
    size_t nd;
    int n_slots = 0;
    char why[320];
    bool plus;
    tt_err_t err;

    memset(&b, 0, sizeof(b));
    if (check_version(p, &b, slots, &n_slots, why, sizeof(why))) {
        build_release(&b);
        return reject(a, p->version, TT_ERR_CORRUPT, errstr, errstr_size,
                      why);
    }
    dim = b.h.dim;
    plus = (b.h.flags & TT_MODELREC_FLAG_PLUS) != 0;
    nd = tt_model_dense_floats(dim, plus);
    b.item_ids = malloc((b.h.n_items + 1) * sizeof(int64_t));
    b.items = malloc((b.h.n_items * dim + 1) * sizeof(float));
    b.user_ids = malloc((b.h.n_users + 1) * sizeof(int64_t));
    b.phi = malloc((b.h.n_users * dim + 1) * sizeof(float));
    b.dense = calloc(nd, sizeof(float));
    if (!b.item_ids || !b.items || !b.user_ids || !b.phi || !b.dense) {
        build_release(&b);
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "model version %" PRIu64 ": no memory to assemble",
                       p->version);
    }
    for (uint32_t i = 0; i < b.n_slices; i++) {
        const struct dslice *sl = &b.slices[i];
        const struct dense_slot *s = &slots[sl->slot];
        struct tt_modelrec_dense d;
        char e[64];

        /* parsed once already: cannot fail */
        tt_modelrec_dense_parse(p->recs[sl->seq].payload,
                                p->recs[sl->seq].len, &d, e, sizeof(e));
        if (s->off != SIZE_MAX)
            tt_modelrec_floats_get(b.dense + s->off + sl->first, d.values,
                                   d.count);
        else if (!strcmp(s->name, "meta.seed"))
            tt_modelrec_floats_get(b.seed16 + sl->first, d.values, d.count);
        else {
            tt_modelrec_floats_get(&b.flags, d.values, d.count);
            b.has_flags = true;
        }
    }
    for (uint32_t i = 1; i < n; i++) {
        struct arec *r = &p->recs[i];
        struct tt_modelrec_rows rows;
        char e[64];

        if (r->kind == TT_MODELREC_ITEMS || r->kind == TT_MODELREC_USERS) {
            bool it = r->kind == TT_MODELREC_ITEMS;

            tt_modelrec_rows_parse(r->payload, r->len, &rows, e, sizeof(e));
            for (uint32_t j = 0; j < rows.n_rows; j++) {
                uint32_t at = it ? ni++ : nu++;

                tt_modelrec_rows_get(&rows, j,
                                     it ? &b.item_ids[at] : &b.user_ids[at],
                                     (it ? b.items : b.phi) +
                                         (size_t)at * dim);
            }
        }
        a->st.buffered_bytes -= r->len;
        p->bytes -= r->len;
        free(r->payload);
        r->payload = NULL;
        r->len = 0;
    }
    memset(&parts, 0, sizeof(parts));
    parts.dim = dim;
    parts.tstar = b.h.tstar;
    parts.k = b.h.k;
    parts.flags = (plus ? TT_MODEL_FLAG_PLUS : 0) |
                  ((b.h.flags & TT_MODELREC_FLAG_FEATURES)
                       ? TT_MODEL_FLAG_FEATURES
                       : 0);
    if (b.has_flags) {
        /* the model's own flags, which must agree with the HEADER's */
        uint32_t f = (uint32_t)b.flags;

        if (!(b.flags >= 0.0f && b.flags < 16777216.0f) ||
            b.flags != (float)f ||
            (f & (TT_MODEL_FLAG_PLUS | TT_MODEL_FLAG_FEATURES)) !=
                parts.flags) {
            build_release(&b);
            return reject(a, p->version, TT_ERR_CORRUPT, errstr, errstr_size,
                          "meta.flags disagree with the HEADER");
        }
        parts.flags = f;
    }
    parts.feature_dim = b.h.feature_dim;
    parts.version = p->version;
    for (int i = 0; i < 4; i++) {
        if (!(b.seed16[i] >= 0.0f && b.seed16[i] <= 65535.0f) ||
            b.seed16[i] != (float)(uint32_t)b.seed16[i]) {
            build_release(&b);
            return reject(a, p->version, TT_ERR_CORRUPT, errstr, errstr_size,
                          "meta.seed is not four 16-bit limbs");
        }
        parts.seed |= (uint64_t)(uint32_t)b.seed16[i] << (16 * i);
    }
    parts.cutoff_ts_ms = b.h.cutoff_ms;
    parts.n_items = (uint32_t)b.h.n_items;
    parts.item_ids = b.item_ids;
    parts.items = b.items;
    parts.n_active = (uint32_t)b.h.n_users;
    parts.user_ids = b.user_ids;
    parts.phi = b.phi;
    parts.dense = b.dense;
    parts.n_cutoffs = b.h.n_cutoffs;
    parts.cutoffs = b.cutoffs;
    err = tt_model_build(out, &parts, why, sizeof(why));
    build_release(&b);
    if (err)
        return reject(a, p->version, TT_ERR_CORRUPT, errstr, errstr_size,
                      why);
    a->st.build_seconds = tt_time_secs(t0, tt_time_mono_ns());
    return TT_ERR_OK;
}

/* Version p is complete: verify, build, and hand it over. */
static tt_err_t complete(tt_modelsub_asm_t *a, struct pending *p,
                         tt_model_t **out, char *errstr, size_t errstr_size)
{
    uint64_t v = p->version;
    tt_err_t err;

    if (p->n_present != p->commit.n_records)
        return reject(a, v, TT_ERR_CORRUPT, errstr, errstr_size,
                      "records beyond the COMMIT's count");
    err = build_version(a, p, out, errstr, errstr_size);
    if (err)
        return err;
    pending_free(a, p);
    a->min_version = v;
    a->st.current_version = v;
    a->st.versions_ok++;
    for (int i = 0; i < TT_MODELSUB_PENDING_MAX; i++)
        if (a->pend[i].used && a->pend[i].version <= v)
            drop_pending(a, &a->pend[i], "when a newer one completed");
    return TT_ERR_OK;
}

static bool all_present(const struct pending *p)
{
    if (!p->has_commit || p->n_present < p->commit.n_records)
        return false;
    for (uint32_t i = 0; i < p->commit.n_records; i++)
        if (i >= p->cap || !p->recs[i].present)
            return false;
    return true;
}

/*
 * The pending slot for version v, or NULL when there is no room for it.
 * With every slot taken, one older than v is dropped: first the oldest
 * without a COMMIT (a partial or unfinished publication), else the oldest,
 * so that a reader of an uncompacted topic keeps the committed versions it
 * may still complete.
 */
static struct pending *slot_for(tt_modelsub_asm_t *a, uint64_t v)
{
    struct pending *p = find(a, v), *victim = NULL;

    if (p)
        return p;
    for (int i = 0; i < TT_MODELSUB_PENDING_MAX && !p; i++)
        if (!a->pend[i].used)
            p = &a->pend[i];
    for (int pass = 0; !p && pass < 2 && !victim; pass++)
        for (int i = 0; i < TT_MODELSUB_PENDING_MAX; i++) {
            struct pending *c = &a->pend[i];

            if (c->version < v && (pass == 1 || !c->has_commit) &&
                (!victim || c->version < victim->version))
                victim = c;
        }
    if (!p) {
        if (!victim)
            return NULL;
        drop_pending(a, victim, "for newer ones (buffer full)");
        p = victim;
    }
    p->used = true;
    p->version = v;
    return p;
}

static tt_err_t store(tt_modelsub_asm_t *a, struct pending *p,
                      const struct tt_modelrec *rec, char *errstr,
                      size_t errstr_size)
{
    uint32_t seq = (uint32_t)rec->seq;
    struct arec *r;

    if (seq >= p->cap) {
        uint32_t cap = p->cap ? p->cap : 64;
        struct arec *nr;

        while (cap <= seq)
            cap *= 2;
        nr = realloc(p->recs, (size_t)cap * sizeof(*nr));
        if (!nr)
            return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                           "model assembler: no memory");
        memset(nr + p->cap, 0, (size_t)(cap - p->cap) * sizeof(*nr));
        p->recs = nr;
        p->cap = cap;
    }
    r = &p->recs[seq];
    if (r->present) {
        /* the same record again (a retried publication): keep the last */
        a->st.buffered_bytes -= r->len;
        p->bytes -= r->len;
        free(r->payload);
        p->n_present--;
    }
    r->payload = malloc(rec->payload_len ? rec->payload_len : 1);
    if (!r->payload) {
        r->present = false;
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "model assembler: no memory");
    }
    memcpy(r->payload, rec->payload, rec->payload_len);
    r->len = rec->payload_len;
    r->crc = rec->payload_crc32c;
    r->kind = rec->kind;
    r->present = true;
    p->n_present++;
    p->bytes += r->len;
    a->st.buffered_bytes += r->len;
    if (a->st.buffered_bytes > a->st.peak_buffered_bytes)
        a->st.peak_buffered_bytes = a->st.buffered_bytes;
    return TT_ERR_OK;
}

tt_err_t tt_modelsub_asm_add(tt_modelsub_asm_t *a, const uint8_t *value,
                             size_t len, tt_model_t **out, char *errstr,
                             size_t errstr_size)
{
    struct tt_modelrec rec;
    struct pending *p;
    uint64_t v;
    char e[256];
    tt_err_t err;

    *out = NULL;
    a->st.records++;
    if (!value) {
        a->st.tombstones++;
        return TT_ERR_OK;
    }
    memset(&rec, 0, sizeof(rec));
    rec.model_version = -1;
    err = tt_codec_decode_modelrec(a->codec, value, len, &rec, e, sizeof(e));
    if (err) {
        a->st.bad_records++;
        /* A record that parsed but fails its CRC names its version: that
         * version can never be trusted. */
        if (err == TT_ERR_CORRUPT && rec.model_version >= 0 &&
            (uint64_t)rec.model_version > a->min_version) {
            if ((uint64_t)rec.model_version > a->st.max_version)
                a->st.max_version = (uint64_t)rec.model_version;
            return reject(a, (uint64_t)rec.model_version, TT_ERR_CORRUPT,
                          errstr, errstr_size, e);
        }
        return tt_errf(err, errstr, errstr_size, "model record: %s", e);
    }
    v = (uint64_t)rec.model_version;
    if (v > a->st.max_version)
        a->st.max_version = v;
    if (v <= a->min_version || is_rejected(a, v)) {
        a->st.ignored++;
        return TT_ERR_OK;
    }
    if ((uint32_t)rec.seq >= TT_MODELSUB_RECORDS_MAX) {
        a->st.bad_records++;
        return reject(a, v, TT_ERR_RANGE, errstr, errstr_size,
                      "a record seq beyond the limit");
    }
    p = slot_for(a, v);
    if (!p) {
        a->st.ignored++;
        return TT_ERR_OK;
    }
    if (rec.kind == TT_MODELREC_COMMIT) {
        struct tt_modelrec_commit c;

        if (tt_modelrec_commit_parse(rec.payload, rec.payload_len, &c, e,
                                     sizeof(e)))
            return reject(a, v, TT_ERR_CORRUPT, errstr, errstr_size, e);
        if (c.n_records != (uint32_t)rec.seq ||
            c.n_records > TT_MODELSUB_RECORDS_MAX)
            return reject(a, v, TT_ERR_CORRUPT, errstr, errstr_size,
                          "COMMIT seq differs from its record count");
        p->has_commit = true;
        p->commit = c;
    } else {
        err = store(a, p, &rec, errstr, errstr_size);
        if (err)
            return err;
    }
    if (all_present(p))
        return complete(a, p, out, errstr, errstr_size);
    return TT_ERR_OK;
}

bool tt_modelsub_asm_waiting(const tt_modelsub_asm_t *a)
{
    for (int i = 0; i < TT_MODELSUB_PENDING_MAX; i++)
        if (a->pend[i].used && a->pend[i].has_commit)
            return true;
    return false;
}
