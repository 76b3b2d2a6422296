/*
 * tt_report_int: what the report's files share (tt_report.c reads and
 * checks the JSON into struct tt_rp_data; tt_report_plot.c draws it;
 * tt_report_html.c writes the page).  Internal to report/.
 */
#ifndef TT_REPORT_INT_H
#define TT_REPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "report/tt_report.h"

/* Bounds of what a report holds; a JSON beyond them is refused, not
 * truncated. */
#define TT_RP_MODELS_MAX 16
#define TT_RP_BUCKETS_MAX 16
#define TT_RP_STEPS_MAX 200
#define TT_RP_CURVE_MAX 500
#define TT_RP_GRID_MAX 256
#define TT_RP_NAME_MAX 32
#define TT_RP_TEXT_MAX 512
#define TT_RP_VERSIONS_MAX 64

/* groups, in the JSON's order */
enum { TT_RP_INACTIVE = 0, TT_RP_ACTIVE = 1 };

struct tt_rp_metric {
    uint64_t n;
    double mrr, recall;
};

struct tt_rp_bucket {
    uint64_t lo, hi; /* inclusive */
    bool open;       /* hi is unbounded */
    uint64_t users;
    struct tt_rp_metric m;
};

struct tt_rp_change {
    double mean[TT_RP_STEPS_MAX];
    bool has[TT_RP_STEPS_MAX]; /* false where the JSON says null */
    uint64_t n[TT_RP_STEPS_MAX];
    double later_mean;
    bool later_has;
    uint64_t later_n;
};

struct tt_rp_curve {
    uint32_t epoch;
    double seconds, total_seconds, valid_mrr;
};

struct tt_rp_model {
    char name[TT_RP_NAME_MAX];
    double mrr, recall, valid_mrr;
    uint64_t scored, unknown, new_user_n, updates, skipped_updates;
    double stage1_s, stage2_s, scoring_s;
    struct tt_rp_metric group[2];
    uint32_t n_buckets;
    struct tt_rp_bucket bucket[TT_RP_BUCKETS_MAX];
    uint32_t steps;        /* embedding_change.steps_max */
    bool has_change;       /* any update counted (not a static model) */
    struct tt_rp_change change[2];
    uint32_t n_curve;
    struct tt_rp_curve curve[TT_RP_CURVE_MAX];
};

struct tt_rp_grid {
    uint64_t tstar, k, active;
    double valid_mrr, seconds;
};

/* One model version of a live backtest (`backtest --live`). */
struct tt_rp_version {
    uint64_t version;
    char source[TT_RP_NAME_MAX];
    struct tt_rp_metric all, group[2];
};

/* The "live" member of a live backtest's JSON (absent offline). */
struct tt_rp_live {
    bool present;
    uint64_t input_records, input_undecodable, embeddings, unmatched;
    uint64_t duplicates, conflicts, scored, missing_embedding, missing_model;
    uint64_t first_interactions, after_swap;
    uint32_t n_versions;
    struct tt_rp_version v[TT_RP_VERSIONS_MAX];
};

struct tt_rp_data {
    char input[TT_RP_TEXT_MAX];
    /* dataset */
    uint64_t interactions, users, items, train, valid, test;
    uint64_t train_users, train_items, active_users;
    int64_t first_ts, cutoff_ts, last_ts;
    /* test */
    uint64_t scored, test_users, new_users, new_user_n, unknown_items;
    double new_user_share;
    uint64_t valid_scored;
    /* config (what the report shows) */
    uint64_t tstar, k, dim, eval_negatives, epochs1, epochs2, threads;
    uint64_t train_negatives, eval_seed, train_seed;
    char optimizer[TT_RP_NAME_MAX];
    bool features;
    /* tuning */
    uint32_t n_grid;
    struct tt_rp_grid grid[TT_RP_GRID_MAX];
    double stage1_s, seconds;
    uint32_t n_models;
    struct tt_rp_model model[TT_RP_MODELS_MAX];
    struct tt_rp_live live;
};

/* The figures, in the order of the page. */
enum tt_rp_fig {
    TT_RP_FIG_ACTIVITY,
    TT_RP_FIG_CHANGE,
    TT_RP_FIG_TRAINING,
    TT_RP_FIG__COUNT,
};

/* The file name of a figure ("fig_activity.png"). */
const char *tt_rp_fig_file(enum tt_rp_fig fig);

/* Whether the data has anything to draw in `fig` (no curve at all, say,
 * leaves fig. 2 out). */
bool tt_rp_fig_wanted(const struct tt_rp_data *d, enum tt_rp_fig fig);

/* The index of the bucket whose upper bound is t*, or -1. */
int tt_rp_tstar_bucket(const struct tt_rp_data *d);

/* Label of bucket b ("0 (new)", "1-5", "501+") into buf. */
void tt_rp_bucket_label(const struct tt_rp_bucket *b, char *buf, size_t size);

/* Mean of the change over steps [from, to] (1-based, weighted by counts);
 * false when no update had those indices. */
bool tt_rp_change_mean(const struct tt_rp_model *m, int group, uint32_t from,
                       uint32_t to, double *out);

/* Resolves `prog` (a path, or a name searched on PATH) to an executable
 * file in buf; TT_ERR_NOTFOUND when there is none. */
tt_err_t tt_rp_find_program(const char *prog, char *buf, size_t size);

/* Writes the data files and report.gp into dir and runs gnuplot there
 * (`program` resolved by tt_rp_find_program()).  *drawn gets a bit per
 * figure written. */
tt_err_t tt_rp_plot(const struct tt_rp_data *d, const char *dir,
                    const char *program, int timeout_ms, unsigned *drawn,
                    char *errstr, size_t errstr_size);

/* Writes dir/index.html; figures whose bit is set in `drawn` are read from
 * dir and embedded.  *bytes gets the file's size. */
tt_err_t tt_rp_html(const struct tt_rp_data *d, const char *dir,
                    const char *title, const char *json_path, unsigned drawn,
                    size_t *bytes, char *errstr, size_t errstr_size);

#endif
