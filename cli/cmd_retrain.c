/*
 * twotime retrain: the periodic batch job that re-learns both stages from
 * the interaction log and publishes the model, which running streams
 * (`twotime stream`, model.follow) swap in live.
 *
 * One run:
 *  1. The model in service: the newest complete version on kafka.model_topic
 *     (tt_modelsub), and the highest version any record names.
 *  2. The log: the input topic from its earliest retained offsets to the
 *     end (last stable) offsets observed now, read_committed; or a file
 *     (--input: CSV and the other tt_reader formats, or an Avro container
 *     file, recognised by its magic: cli/tt_source.h).
 *  3. The split, by time as `twotime train` does (eval.train_frac,
 *     eval.valid_frac): training, validation (early stopping), and the
 *     newest slice, which only the gate sees.  For the topic, the training
 *     part is a prefix of every partition: with T the event time at
 *     position train_frac of the time-sorted log, partition p's training
 *     cutoff is the offset of its first event at or after T; events past
 *     a cutoff with an earlier time (out of order) are moved to T.  These
 *     per-partition cutoffs go into the model (tt_model_set_cutoffs): it
 *     has seen exactly the records below them, so a stream steps active
 *     users over the events from there on (consumers/tt_proc.h).
 *  4. Stage 1 and stage 2 with the code and settings of `twotime train`
 *     (cli/tt_trainjob.h); with a warm start (--warm-start,
 *     retrain.warm_start: the model in service or a model file) from the
 *     previous model's parameters where ids match (model/tt_warm.h), for
 *     retrain.warm_epochs1/2 epochs.
 *  5. The gate: the new model and the one in service on the newest slice
 *     with the paper's metric; a relative MRR drop above
 *     retrain.max_mrr_drop refuses to publish (exit code 3).
 *  6. Publication as version max + 1 (producers/tt_modelpub.h: one
 *     transaction, COMMIT last) to a model topic created if needed with
 *     the input's partition count.
 *
 * --every DURATION runs it periodically in one process; SIGINT/SIGTERM
 * stop it between phases (a stage that has started finishes first; a
 * publication is one transaction, never left half-visible) with exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/tt_cli.h"
#include "cli/tt_retrain_log.h"
#include "cli/tt_source.h"
#include "cli/tt_trainjob.h"
#include "common/tt_log.h"
#include "common/tt_time.h"
#include "consumers/tt_modelsub.h"
#include "model/tt_model.h"
#include "model/tt_reader.h"
#include "model/tt_train.h"
#include "model/tt_warm.h"
#include "producers/tt_admin.h"
#include "producers/tt_modelpub.h"

#define CATCHUP_MS 300000
#define STALE_KEYS_MAX 65536

static void usage(FILE *out)
{
    fprintf(out,
            "usage: twotime retrain [options]\n"
            "\n"
            "Re-learns the model from the interaction log (kafka.input_topic\n"
            "from its earliest to its current end offsets, or --input),\n"
            "checks it against the model in service on the newest slice of\n"
            "the log, and publishes it to kafka.model_topic as the next\n"
            "version, which running `twotime stream` processes swap in\n"
            "without restarting.\n"
            "\n"
            "options:\n"
            "  -c, --config FILE      configuration [conf/twotime.conf if\n"
            "                         present]\n"
            "  -s, --set KEY=VALUE    override one setting (repeatable)\n"
            "  -i, --input FILE       read this log instead of the input\n"
            "                         topic (csv, udata, dat, mlcsv, .avro)\n"
            "  -f, --format F         format of --input: auto, csv, udata,\n"
            "                         dat, mlcsv [auto]\n"
            "      --skip-bad         skip malformed lines of --input\n"
            "  -e, --every DURATION   run every DURATION (30s, 30m, 6h, 1d)\n"
            "                         until SIGINT/SIGTERM [retrain.every;\n"
            "                         once]\n"
            "  -o, --out MODEL        also write the model file (the exact\n"
            "                         bytes followers assemble)\n"
            "  -n, --dry-run          train and gate, do not publish\n"
            "  -w, --warm-start SRC   start training from a previous model:\n"
            "                         'serving' (the model in service) or a\n"
            "                         model file; '' = cold\n"
            "                         [retrain.warm_start]\n"
            "      --valid-sample N   validation interactions scored per\n"
            "                         epoch [20000; 0 = all]\n"
            "  -q, --quiet            no progress log\n"
            "  -h, --help             show this help\n"
            "\n"
            "exit status: 0 published (or stopped), 1 failure, 2 bad usage,\n"
            "3 the gate refused (MRR drop above retrain.max_mrr_drop)\n");
}

/* "90", "30s", "30m", "6h", "1d" -> seconds (> 0). */
static int parse_duration(const char *s, uint64_t *secs)
{
    char *end;
    unsigned long long v;
    uint64_t mul = 1;

    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    if (*end) {
        if (end[1])
            return -1;
        switch (*end) {
        case 's': mul = 1; break;
        case 'm': mul = 60; break;
        case 'h': mul = 3600; break;
        case 'd': mul = 86400; break;
        default: return -1;
        }
    }
    if (v == 0 || v > UINT64_MAX / mul / 1000000000u)
        return -1;
    *secs = v * mul;
    return 0;
}

struct job {
    struct tt_conf *conf;
    tt_log_t *log;
    const char *input;
    enum tt_format fmt;
    bool skip_bad;
    const char *out;
    bool dry_run;
    size_t valid_sample;
    const char *warm_start; /* --warm-start, or NULL: retrain.warm_start */
};

/* The log of --input, split as `twotime train` splits it. */
static tt_err_t file_dataset(const struct job *j, struct tt_dataset *ds,
                             struct tt_split *split, char *errstr,
                             size_t errstr_size)
{
    uint64_t skipped = 0, t0 = tt_time_mono_ns();
    tt_err_t err;

    err = tt_source_read_dataset(ds, j->input, j->fmt, j->skip_bad,
                                 &skipped, errstr, errstr_size);
    if (err)
        return err;
    if (skipped)
        tt_log_warn(j->log, "retrain", "%s: skipped %" PRIu64
                    " malformed line(s)", j->input, skipped);
    if (tt_split_compute(ds, j->conf->eval.train_frac,
                         j->conf->eval.valid_frac, split) != TT_ERR_OK ||
        split->train_end == 0)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "%s: %zu events cannot be split %.2f/%.2f", j->input,
                       ds->n, j->conf->eval.train_frac,
                       j->conf->eval.valid_frac);
    tt_log_info(j->log, "retrain",
                "read %zu events (%u users, %u items) from %s in %.2f s",
                ds->n, tt_dataset_n_users(ds), tt_dataset_n_items(ds),
                j->input, tt_time_secs(t0, tt_time_mono_ns()));
    return TT_ERR_OK;
}

/* The model in service, the highest version named on the topic, and the
 * topic's live keys (to delete those the next version does not rewrite). */
struct serving {
    tt_model_t *model;
    uint64_t max_version;
    struct tt_modelpub_key *keys;
    size_t n_keys;
    bool topic_exists;
};

static void serving_release(struct serving *sv)
{
    tt_model_destroy(sv->model);
    free(sv->keys);
    memset(sv, 0, sizeof(*sv));
}

static tt_err_t find_serving(const struct job *j, struct serving *sv,
                             char *errstr, size_t errstr_size)
{
    struct tt_modelsub_opts so;
    struct tt_modelsub_stats st;
    struct tt_modelsub_key *keys = NULL;
    tt_modelsub_t *sub = NULL;
    size_t n;
    tt_err_t err;

    memset(sv, 0, sizeof(*sv));
    memset(&so, 0, sizeof(so));
    so.topic = j->conf->kafka.model_topic;
    so.log = j->log;
    err = tt_modelsub_new(&sub, &j->conf->kafka, &so, errstr, errstr_size);
    if (err)
        return err;
    err = tt_modelsub_catch_up(sub, CATCHUP_MS, &sv->model, errstr,
                               errstr_size);
    if (err == TT_ERR_NOTFOUND) {
        tt_modelsub_destroy(sub);
        return TT_ERR_OK;
    }
    if (err)
        goto out;
    sv->topic_exists = true;
    tt_modelsub_stats(sub, &st);
    sv->max_version = st.max_version;
    n = tt_modelsub_keys(sub, NULL, 0);
    if (n > STALE_KEYS_MAX)
        n = STALE_KEYS_MAX;
    keys = calloc(n + 1, sizeof(*keys));
    sv->keys = calloc(n + 1, sizeof(*sv->keys));
    if (!keys || !sv->keys) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    tt_modelsub_keys(sub, keys, n);
    for (size_t i = 0; i < n; i++) {
        sv->keys[i].partition = keys[i].partition;
        snprintf(sv->keys[i].key, sizeof(sv->keys[i].key), "%s",
                 keys[i].key);
    }
    sv->n_keys = n;
    if (st.versions_rejected || st.versions_incomplete)
        tt_log_warn(j->log, "retrain",
                    "model topic: %" PRIu64 " version(s) rejected, %" PRIu64
                    " incomplete (last: %s)",
                    st.versions_rejected, st.versions_incomplete,
                    st.last_reject);
out:
    free(keys);
    tt_modelsub_destroy(sub);
    return err;
}

/*
 * The publisher, opened BEFORE the model in service is read: with a
 * transactional id, init_transactions completes (or aborts) whatever an
 * earlier publisher with this id left, so the catch-up that follows sees
 * every version published before, and the version number it gives is
 * right.  The model topic is created if needed with the input's partition
 * count, for co-partitioned USERS records.
 */
static tt_err_t open_publisher(const struct job *j, tt_modelpub_t **pub,
                               bool *txn, char *errstr, size_t errstr_size)
{
    const struct tt_conf_kafka *kc = &j->conf->kafka;
    struct tt_modelpub_opts po;
    int partitions = kc->partitions, n_parts = 0;
    char txn_id[600];
    tt_err_t err;

    if (!j->input) {
        tt_admin_t *admin = NULL;

        err = tt_admin_new(&admin, kc, errstr, errstr_size);
        if (!err)
            err = tt_admin_partitions(admin, kc->input_topic, 15000,
                                      &partitions, errstr, errstr_size);
        tt_admin_destroy(admin);
        if (err)
            return err;
    }
    err = tt_modelpub_ensure_topic(kc, kc->model_topic, partitions, &n_parts,
                                   errstr, errstr_size);
    if (err)
        return err;
    if (n_parts != partitions)
        tt_log_warn(j->log, "retrain",
                    "model topic %s has %d partitions, the input %d: USERS "
                    "records are not co-partitioned with the input",
                    kc->model_topic, n_parts, partitions);
    memset(&po, 0, sizeof(po));
    po.topic = kc->model_topic;
    *txn = kc->transactional_id && kc->transactional_id[0];
    if (*txn) {
        snprintf(txn_id, sizeof(txn_id), "%s-retrain-%s",
                 kc->transactional_id, kc->model_topic);
        po.transactional_id = txn_id;
    }
    return tt_modelpub_new(pub, kc, &po, errstr, errstr_size);
}

/* Publishes `m` (canonical order for the topic's partitions). */
static tt_err_t publish(const struct job *j, tt_modelpub_t *pub, bool txn,
                        const tt_model_t *m, uint64_t version,
                        const struct serving *sv, char *errstr,
                        size_t errstr_size)
{
    const struct tt_conf_kafka *kc = &j->conf->kafka;
    struct tt_modelpub_summary sum;
    tt_model_t *canon = NULL;
    tt_err_t err;

    err = tt_modelpub_canonical(&canon, m, tt_modelpub_partitions(pub),
                                errstr, errstr_size);
    if (err)
        return err;
    tt_model_set_version(canon, version);
    err = tt_modelpub_publish(pub, canon, version, sv->keys, sv->n_keys,
                              &sum, errstr, errstr_size);
    if (!err) {
        tt_log_info(j->log, "retrain",
                    "published version %" PRIu64 " to %s: %u records "
                    "(%.1f MiB, largest %.0f KiB), %u tombstones, %s, in "
                    "%.2f s",
                    version, kc->model_topic, sum.records,
                    (double)sum.value_bytes / (1024.0 * 1024.0),
                    (double)sum.max_value / 1024.0, sum.tombstones,
                    txn ? "one transaction" : "no transaction", sum.seconds);
        if (j->out)
            err = tt_model_save(canon, j->out, errstr, errstr_size);
    }
    tt_model_destroy(canon);
    return err;
}

static bool stop_now(const struct job *j, const char *where)
{
    if (!tt_cli_stopping())
        return false;
    tt_log_info(j->log, "retrain", "stopping %s; nothing published", where);
    return true;
}

/*
 * The warm start of this run: *warm is the model to start from (sv->model,
 * or a file loaded into *owned), or NULL for a cold start.  The model in
 * service may be missing or of another shape (a changed model.dim): then
 * the run starts cold with a warning; a model file that cannot be loaded
 * or does not fit is an error.
 */
static tt_err_t warm_setup(const struct job *j, const struct serving *sv,
                           const struct tt_train_opts *o,
                           const tt_model_t **warm, tt_model_t **owned,
                           char *errstr, size_t errstr_size)
{
    const char *src = j->warm_start ? j->warm_start
                                    : j->conf->retrain.warm_start;
    char why[512];
    tt_err_t err;

    *warm = NULL;
    *owned = NULL;
    if (!src || !*src)
        return TT_ERR_OK;
    if (strcmp(src, "serving") != 0) {
        err = tt_model_load(owned, src, why, sizeof(why));
        if (err)
            return tt_errf(err, errstr, errstr_size, "warm start: %s", why);
        err = tt_warm_check(*owned, o, errstr, errstr_size);
        if (err)
            return err;
        *warm = *owned;
        return TT_ERR_OK;
    }
    if (!sv->model) {
        tt_log_warn(j->log, "retrain",
                    "warm start: no model in service; starting cold");
        return TT_ERR_OK;
    }
    if (tt_warm_check(sv->model, o, why, sizeof(why))) {
        tt_log_warn(j->log, "retrain", "%s; starting cold", why);
        return TT_ERR_OK;
    }
    *warm = sv->model;
    return TT_ERR_OK;
}

/* One retraining; returns the exit code. */
static int run_once(const struct job *j)
{
    const struct tt_conf *conf = j->conf;
    struct tt_retrain_log tl;
    struct tt_trainjob_progress pr;
    struct tt_trainjob_result tr;
    struct tt_trainjob_gate g;
    struct tt_train_opts o;
    struct tt_dataset ds;
    struct tt_split split;
    struct serving sv;
    struct tt_model_info info;
    struct tt_warm_match wm;
    uint64_t version, t0 = tt_time_mono_ns();
    tt_model_t *warm_file = NULL;
    tt_modelpub_t *pub = NULL;
    int rc = TT_EXIT_FAIL;
    bool txn = false;
    char err[1024];

    memset(&ds, 0, sizeof(ds));
    memset(&tr, 0, sizeof(tr));
    memset(&tl, 0, sizeof(tl));
    memset(&sv, 0, sizeof(sv));
    if (!j->dry_run && open_publisher(j, &pub, &txn, err, sizeof(err))) {
        tt_cli_error("retrain", "model publisher: %s", err);
        goto out;
    }
    if (find_serving(j, &sv, err, sizeof(err))) {
        tt_cli_error("retrain", "model topic: %s", err);
        goto out;
    }
    if (sv.model) {
        tt_model_get_info(sv.model, &info);
        tt_log_info(j->log, "retrain",
                    "model in service: version %" PRIu64 " (D=%u, %u items, "
                    "%u active users); highest version on %s: %" PRIu64,
                    info.version, info.dim, info.n_items, info.n_active,
                    conf->kafka.model_topic, sv.max_version);
    } else {
        tt_log_info(j->log, "retrain",
                    "no model in service on %s%s; highest version %" PRIu64,
                    conf->kafka.model_topic,
                    sv.topic_exists ? "" : " (no such topic yet)",
                    sv.max_version);
    }
    version = sv.max_version + 1;
    /* the warm start before the log: a bad model file fails fast */
    tt_train_opts_from_conf(&o, conf);
    if (warm_setup(j, &sv, &o, &o.warm, &warm_file, err, sizeof(err))) {
        tt_cli_error("retrain", "%s", err);
        goto out;
    }
    if (stop_now(j, "before reading the log"))
        goto out_ok;
    if (tt_dataset_init(&ds) != TT_ERR_OK) {
        tt_cli_error("retrain", "out of memory");
        goto out;
    }
    if (j->input) {
        if (file_dataset(j, &ds, &split, err, sizeof(err))) {
            tt_cli_error("retrain", "%s", err);
            goto out;
        }
    } else {
        tl.log = j->log;
        tl.stopping = tt_cli_stopping;
        if (tt_retrain_log_read(&tl, &conf->kafka, conf->eval.train_frac,
                                conf->eval.valid_frac, &ds, &split, err,
                                sizeof(err))) {
            if (stop_now(j, "while reading the log"))
                goto out_ok;
            tt_cli_error("retrain", "%s", err);
            goto out;
        }
    }
    tt_log_info(j->log, "retrain",
                "split: training %zu, validation %zu, newest slice %zu "
                "events (the gate's)",
                split.train_end, split.valid_end - split.train_end,
                ds.n - split.valid_end);
    if (stop_now(j, "before training"))
        goto out_ok;

    if (o.warm) {
        if (conf->retrain.warm_epochs1 > 0)
            o.epochs1 = (uint32_t)conf->retrain.warm_epochs1;
        if (conf->retrain.warm_epochs2 > 0)
            o.epochs2 = (uint32_t)conf->retrain.warm_epochs2;
        tt_model_get_info(o.warm, &info);
        tt_warm_count(o.warm, &ds, o.plus, &wm);
        tt_log_info(j->log, "retrain",
                    "warm start from version %" PRIu64 ": %u of %u users "
                    "and %u of %u items known%s; %u + %u epochs",
                    info.version, wm.users_known, wm.users, wm.items_known,
                    wm.items, wm.plus_w ? ", W too" : "", o.epochs1,
                    o.epochs2);
    }
    tt_trainjob_progress_init(&pr, j->log, "retrain");
    if (tt_trainjob_train(&ds, &split, conf, &o, j->valid_sample, version,
                          &pr, &tr, err, sizeof(err))) {
        tt_cli_error("retrain", "training: %s", err);
        goto out;
    }
    if (tl.cutoffs &&
        tt_model_set_cutoffs(tr.model, tl.cutoffs, (uint32_t)tl.n_parts, err,
                             sizeof(err))) {
        tt_cli_error("retrain", "cutoffs: %s", err);
        goto out;
    }
    if (stop_now(j, "before the gate"))
        goto out_ok;

    if (tt_trainjob_gate(&ds, &split, conf, o.threads, tr.model, sv.model,
                         &g, err, sizeof(err))) {
        tt_cli_error("retrain", "gate: %s", err);
        goto out;
    }
    if (sv.model)
        tt_log_info(j->log, "retrain",
                    "gate on the newest %zu interactions: new MRR %.4f "
                    "(Recall@10 %.4f), in service %.4f (%.4f): drop %.1f%%, "
                    "allowed %.1f%%: %s (%.1f s)",
                    g.scored, g.new_mrr, g.new_recall, g.old_mrr,
                    g.old_recall, 100.0 * g.drop, 100.0 * g.max_drop,
                    g.pass ? "pass" : "REFUSED", g.seconds);
    else
        tt_log_info(j->log, "retrain",
                    "gate on the newest %zu interactions: new MRR %.4f "
                    "(Recall@10 %.4f); nothing in service to compare with",
                    g.scored, g.new_mrr, g.new_recall);
    if (!g.pass) {
        tt_cli_error("retrain",
                     "gate refused version %" PRIu64 ": MRR %.4f vs %.4f in "
                     "service, a %.1f%% drop (retrain.max_mrr_drop %.1f%%); "
                     "not published",
                     version, g.new_mrr, g.old_mrr, 100.0 * g.drop,
                     100.0 * g.max_drop);
        printf("refused version %" PRIu64 ": MRR %.4f, in service %.4f\n",
               version, g.new_mrr, g.old_mrr);
        rc = TT_EXIT_GATE;
        goto out;
    }
    if (j->dry_run) {
        if (j->out && tt_model_save(tr.model, j->out, err, sizeof(err))) {
            tt_cli_error("retrain", "%s", err);
            goto out;
        }
        printf("dry run: version %" PRIu64 " not published (MRR %.4f)\n",
               version, g.new_mrr);
        goto out_ok;
    }
    if (stop_now(j, "before publishing"))
        goto out_ok;
    if (publish(j, pub, txn, tr.model, version, &sv, err, sizeof(err))) {
        tt_cli_error("retrain", "publishing: %s", err);
        goto out;
    }
    tt_model_get_info(tr.model, &info);
    printf("published version %" PRIu64 ": %zu events, %u items, %u active "
           "users, gate MRR %.4f; %.1f s, peak memory %.0f MiB\n",
           version, ds.n, info.n_items, info.n_active, g.new_mrr,
           tt_time_secs(t0, tt_time_mono_ns()), tt_trainjob_peak_mib());
out_ok:
    rc = TT_EXIT_OK;
out:
    fflush(stdout);
    tt_modelpub_destroy(pub);
    tt_model_destroy(tr.model);
    tt_model_destroy(warm_file);
    tt_retrain_log_release(&tl);
    tt_dataset_release(&ds);
    serving_release(&sv);
    return rc;
}

/* Sleeps until `deadline` (monotonic ns) or a stop request. */
static void wait_until(uint64_t deadline)
{
    while (!tt_cli_stopping() && tt_time_mono_ns() < deadline) {
        struct timespec ts = {0, 200 * 1000000L};

        nanosleep(&ts, NULL);
    }
}

int tt_cmd_retrain(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"input", required_argument, NULL, 'i'},
        {"format", required_argument, NULL, 'f'},
        {"skip-bad", no_argument, NULL, 'B'},
        {"every", required_argument, NULL, 'e'},
        {"out", required_argument, NULL, 'o'},
        {"dry-run", no_argument, NULL, 'n'},
        {"valid-sample", required_argument, NULL, 'V'},
        {"warm-start", required_argument, NULL, 'w'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *every = NULL;
    enum tt_log_level level = TT_LOG_INFO;
    struct tt_conf conf;
    struct job j;
    uint64_t period = 0;
    bool quiet = false;
    struct tt_cli_opts co;
    int rc = TT_EXIT_USAGE, c;

    tt_cli_openblas_fix(argc, argv);
    memset(&j, 0, sizeof(j));
    j.fmt = TT_FORMAT_AUTO;
    j.valid_sample = 20000;
    tt_cli_opts_init(&co, "retrain", usage, argc);
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:s:i:f:e:o:nw:qh", longopts, NULL)) !=
           -1) {
        uint64_t v;

        switch (c) {
        case 'i':
            j.input = optarg;
            break;
        case 'f':
            if (tt_format_parse(optarg, &j.fmt) != TT_ERR_OK) {
                tt_cli_error("retrain", "unknown format '%s'", optarg);
                goto out_sets;
            }
            break;
        case 'B':
            j.skip_bad = true;
            break;
        case 'e':
            every = optarg;
            break;
        case 'o':
            j.out = optarg;
            break;
        case 'n':
            j.dry_run = true;
            break;
        case 'w':
            j.warm_start = optarg;
            break;
        case 'V':
            if (tt_cli_parse_u64(optarg, SIZE_MAX, &v)) {
                tt_cli_error("retrain", "--valid-sample: not a number: '%s'",
                             optarg);
                goto out_sets;
            }
            j.valid_sample = (size_t)v;
            break;
        case 'q':
            quiet = true;
            break;
        default:
            rc = tt_cli_opts_take(&co, c, optarg);
            if (rc != TT_EXIT_NONE)
                goto out_sets;
            rc = TT_EXIT_USAGE;
        }
    }
    if (tt_cli_opts_operands(&co, argc, argv) != TT_EXIT_NONE)
        goto out_sets;
    rc = tt_cli_opts_load_conf(&co, &conf);
    if (rc != TT_EXIT_OK)
        goto out_sets;
    if (!every && conf.retrain.every[0])
        every = conf.retrain.every;
    if (every && parse_duration(every, &period)) {
        tt_cli_error("retrain",
                     "--every / retrain.every: not a duration: '%s' (e.g. "
                     "90s, 30m, 6h, 1d)",
                     every);
        rc = TT_EXIT_USAGE;
        goto out_conf;
    }
    if (conf.log_level && tt_log_level_parse(conf.log_level, &level) != 0)
        level = TT_LOG_INFO;
    if (!quiet && !(j.log = tt_log_new(stderr, level))) {
        tt_cli_error("retrain", "out of memory");
        rc = TT_EXIT_FAIL;
        goto out_conf;
    }
    j.conf = &conf;
    tt_cli_install_signals();
    if (!period) {
        rc = run_once(&j);
        goto out_log;
    }
    tt_log_info(j.log, "retrain", "retraining every %" PRIu64
                " s until SIGINT/SIGTERM", period);
    while (!tt_cli_stopping()) {
        uint64_t start = tt_time_mono_ns();
        int r = run_once(&j);

        if (r == TT_EXIT_GATE)
            tt_log_warn(j.log, "retrain",
                        "this run was refused by the gate; the model in "
                        "service stays");
        else if (r != TT_EXIT_OK)
            tt_log_warn(j.log, "retrain",
                        "this run failed; trying again at the next period");
        if (!tt_cli_stopping())
            tt_log_info(j.log, "retrain", "next run in %.0f s",
                        (double)period -
                            tt_time_secs(start, tt_time_mono_ns()));
        wait_until(start + period * UINT64_C(1000000000));
    }
    tt_log_info(j.log, "retrain", "stopped");
    rc = TT_EXIT_OK;
out_log:
    tt_log_destroy(j.log);
out_conf:
    tt_conf_release(&conf);
out_sets:
    tt_cli_opts_release(&co);
    return rc;
}
