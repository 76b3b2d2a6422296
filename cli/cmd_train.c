/*
 * twotime train: reads an interaction log, splits it by time, runs stage 1
 * and stage 2 of 2TS (early stopping on the streaming MRR of the validation
 * part) and saves the model file.  Progress on stderr, a summary on stdout.
 * The training itself is cli/tt_trainjob.h, the code `twotime retrain`
 * runs.
 */
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/tt_cli.h"
#include "cli/tt_source.h"
#include "cli/tt_trainjob.h"
#include "common/tt_log.h"
#include "common/tt_time.h"
#include "model/tt_model.h"
#include "model/tt_reader.h"
#include "model/tt_train.h"
#include "model/tt_warm.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: twotime train --input LOG --out MODEL [options]\n"
            "\n"
            "Sorts LOG by time and keeps the first eval.train_frac for\n"
            "training and the next eval.valid_frac for validation; stage 1\n"
            "learns phi_u and x_i (sampled softmax), stage 2 learns psi, the\n"
            "two GRU cells and W (2TS-Plus), keeping the epoch with the best\n"
            "streaming MRR on the validation part.  Writes MODEL atomically.\n"
            "\n"
            "options:\n"
            "  -i, --input LOG          interaction log (- for stdin)\n"
            "  -o, --out MODEL          model file to write\n"
            "  -f, --format F           auto, csv, udata, dat, mlcsv [auto]\n"
            "      --skip-bad           skip malformed lines instead of\n"
            "                           failing\n"
            "  -c, --config FILE        configuration [conf/twotime.conf if\n"
            "                           present]\n"
            "  -s, --set KEY=VALUE      override one setting (repeatable)\n"
            "      --seed N             train.seed\n"
            "      --plus, --no-plus    model.plus\n"
            "      --tstar N            model.tstar (t*)\n"
            "      --k N                model.k (K)\n"
            "      --dim N              model.dim (d)\n"
            "      --threads N          train.threads\n"
            "      --mode M             2ts, or gru (one GRU for every user\n"
            "                           from psi: the GRU4Rec-style\n"
            "                           baseline) [2ts]\n"
            "      --inactive-all-users also train the inactive cell on the\n"
            "                           first t* events of active users\n"
            "                           (train.inactive_all, on by default)\n"
            "      --window, --no-window\n"
            "                           active users: phi_u then the active\n"
            "                           cell over a window of their last\n"
            "                           K events (hopping every\n"
            "                           train.window_hop events; the\n"
            "                           default), or over every item after\n"
            "                           the cutoff\n"
            "      --active-windows N   stage 2 K-windows per active user\n"
            "                           [20]\n"
            "      --active-z-bias B    initial update-gate bias of the\n"
            "                           active cell [0]\n"
            "      --per-positive-negatives\n"
            "                           stage 1 draws p negatives for every\n"
            "                           positive instead of p per minibatch\n"
            "                           (slightly better, ~3x slower)\n"
            "      --valid-sample N     validation interactions scored per\n"
            "                           epoch [20000; 0 = all]\n"
            "      --model-version N    version stored in the model [1]\n"
            "      --warm-start MODEL   start from MODEL's parameters where\n"
            "                           user and item ids match (same D)\n"
            "  -q, --quiet              no progress log\n"
            "  -h, --help               show this help\n");
}

enum {
    OPT_SKIP_BAD = 256,
    OPT_SEED,
    OPT_PLUS,
    OPT_NO_PLUS,
    OPT_TSTAR,
    OPT_K,
    OPT_DIM,
    OPT_THREADS,
    OPT_MODE,
    OPT_INACTIVE_ALL,
    OPT_PER_POSITIVE,
    OPT_WINDOW,
    OPT_NO_WINDOW,
    OPT_ACTIVE_WINDOWS,
    OPT_ACTIVE_Z_BIAS,
    OPT_VALID_SAMPLE,
    OPT_VERSION,
    OPT_WARM,
};

int tt_cmd_train(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},
        {"out", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {"skip-bad", no_argument, NULL, OPT_SKIP_BAD},
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"seed", required_argument, NULL, OPT_SEED},
        {"plus", no_argument, NULL, OPT_PLUS},
        {"no-plus", no_argument, NULL, OPT_NO_PLUS},
        {"tstar", required_argument, NULL, OPT_TSTAR},
        {"k", required_argument, NULL, OPT_K},
        {"dim", required_argument, NULL, OPT_DIM},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"mode", required_argument, NULL, OPT_MODE},
        {"inactive-all-users", no_argument, NULL, OPT_INACTIVE_ALL},
        {"per-positive-negatives", no_argument, NULL, OPT_PER_POSITIVE},
        {"window", no_argument, NULL, OPT_WINDOW},
        {"no-window", no_argument, NULL, OPT_NO_WINDOW},
        {"active-windows", required_argument, NULL, OPT_ACTIVE_WINDOWS},
        {"active-z-bias", required_argument, NULL, OPT_ACTIVE_Z_BIAS},
        {"valid-sample", required_argument, NULL, OPT_VALID_SAMPLE},
        {"model-version", required_argument, NULL, OPT_VERSION},
        {"warm-start", required_argument, NULL, OPT_WARM},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const struct {
        int opt;
        const char *key;
    } direct[] = {
        {OPT_SEED, "train.seed"}, {OPT_TSTAR, "model.tstar"},
        {OPT_K, "model.k"},       {OPT_DIM, "model.dim"},
        {OPT_THREADS, "train.threads"},
    };
    const char *input = NULL, *out = NULL, *warm_path = NULL;
    enum tt_format fmt = TT_FORMAT_AUTO;
    enum tt_train_mode mode = TT_MODE_2TS;
    bool skip_bad = false, quiet = false, inactive_all = false;
    bool per_positive = false, have_z_bias = false;
    int window = -1;
    uint64_t active_windows = 0;
    double z_bias = 0.0;
    bool conf_loaded = false;
    uint64_t valid_sample = 20000, version = 1, skipped = 0;
    char err[512];
    int rc = TT_EXIT_USAGE, c;
    struct tt_cli_opts co;
    struct tt_conf conf;
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_train_opts o;
    struct tt_trainjob_progress pr;
    struct tt_trainjob_result res;
    tt_model_t *warm = NULL;
    tt_log_t *log = NULL;
    enum tt_log_level level = TT_LOG_INFO;
    struct tt_model_info info;
    uint64_t t0;
    double read_secs;

    tt_cli_openblas_fix(argc, argv);
    memset(&ds, 0, sizeof ds);
    memset(&res, 0, sizeof res);
    tt_cli_opts_init(&co, "train", usage, argc);
    optind = 1;
    while ((c = getopt_long(argc, argv, "i:o:f:c:s:qh", longopts, NULL)) !=
           -1) {
        uint64_t v;

        switch (c) {
        case 'i':
            input = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'f':
            if (tt_format_parse(optarg, &fmt) != TT_ERR_OK) {
                tt_cli_error("train", "unknown format '%s'", optarg);
                goto out;
            }
            break;
        case OPT_SKIP_BAD:
            skip_bad = true;
            break;
        case OPT_PLUS:
        case OPT_NO_PLUS:
            if (tt_cli_opts_add_set(&co, "model.plus",
                                    c == OPT_PLUS ? "true" : "false"))
                goto out_nomem;
            break;
        case OPT_SEED:
        case OPT_TSTAR:
        case OPT_K:
        case OPT_DIM:
        case OPT_THREADS:
            for (size_t k = 0; k < sizeof direct / sizeof *direct; k++)
                if (direct[k].opt == c &&
                    tt_cli_opts_add_set(&co, direct[k].key, optarg))
                    goto out_nomem;
            break;
        case OPT_MODE:
            if (!strcmp(optarg, "2ts")) {
                mode = TT_MODE_2TS;
            } else if (!strcmp(optarg, "gru")) {
                mode = TT_MODE_GRU_ALL;
            } else {
                tt_cli_error("train", "unknown mode '%s' (2ts or gru)",
                             optarg);
                goto out;
            }
            break;
        case OPT_INACTIVE_ALL:
            inactive_all = true;
            break;
        case OPT_PER_POSITIVE:
            per_positive = true;
            break;
        case OPT_WINDOW:
        case OPT_NO_WINDOW:
            window = c == OPT_WINDOW;
            break;
        case OPT_ACTIVE_WINDOWS:
            if (tt_cli_parse_u64(optarg, 1000000, &active_windows) ||
                active_windows < 1) {
                tt_cli_error("train", "--active-windows: not in 1..1000000: "
                             "'%s'", optarg);
                goto out;
            }
            break;
        case OPT_ACTIVE_Z_BIAS:
            if (tt_cli_parse_double(optarg, -20.0, 20.0, &z_bias)) {
                tt_cli_error("train", "--active-z-bias: not in -20..20: "
                             "'%s'", optarg);
                goto out;
            }
            have_z_bias = true;
            break;
        case OPT_VALID_SAMPLE:
        case OPT_VERSION:
            if (tt_cli_parse_u64(optarg, UINT64_MAX, &v)) {
                tt_cli_error("train", "--%s: not a number: '%s'",
                             c == OPT_VERSION ? "model-version"
                                              : "valid-sample",
                             optarg);
                goto out;
            }
            if (c == OPT_VERSION)
                version = v;
            else
                valid_sample = v;
            break;
        case OPT_WARM:
            warm_path = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        default:
            rc = tt_cli_opts_take(&co, c, optarg);
            if (rc != TT_EXIT_NONE)
                goto out;
            rc = TT_EXIT_USAGE;
        }
    }
    if (tt_cli_opts_operands(&co, argc, argv) != TT_EXIT_NONE)
        goto out;
    if (!input || !out) {
        tt_cli_error("train", "--input and --out are required");
        usage(stderr);
        goto out;
    }
    {
        /* fail now, not after the training, when MODEL cannot be written */
        char dir[PATH_MAX];

        snprintf(dir, sizeof dir, "%s", out);
        if (access(dirname(dir), W_OK) != 0) {
            tt_cli_error("train", "cannot write %s: %s", out,
                         strerror(errno));
            rc = TT_EXIT_FAIL;
            goto out;
        }
    }
    rc = tt_cli_opts_load_conf(&co, &conf);
    if (rc != TT_EXIT_OK)
        goto out;
    conf_loaded = true;
    rc = TT_EXIT_FAIL;
    tt_train_opts_from_conf(&o, &conf);
    o.mode = mode;
    if (inactive_all)
        o.inactive_all_users = true;
    o.per_positive_negatives = per_positive;
    if (window >= 0)
        o.window = window != 0;
    if (active_windows)
        o.active_windows = (uint32_t)active_windows;
    if (have_z_bias)
        o.active_z_bias = z_bias;
    if (conf.log_level && tt_log_level_parse(conf.log_level, &level) != 0)
        level = TT_LOG_INFO;
    if (!quiet) {
        log = tt_log_new(stderr, level);
        if (!log)
            goto out_nomem;
    }
    if (warm_path &&
        (tt_model_load(&warm, warm_path, err, sizeof err) != TT_ERR_OK ||
         tt_warm_check(warm, &o, err, sizeof err) != TT_ERR_OK)) {
        tt_cli_error("train", "%s%s", warm ? "" : "--warm-start: ", err);
        goto out;
    }
    o.warm = warm;

    /* the log */
    t0 = tt_time_mono_ns();
    if (tt_dataset_init(&ds) != TT_ERR_OK)
        goto out_nomem;
    if (tt_source_read_dataset(&ds, input, fmt, skip_bad, &skipped, err,
                               sizeof err) != TT_ERR_OK) {
        tt_cli_error("train", "%s", err);
        goto out;
    }
    read_secs = tt_time_secs(t0, tt_time_mono_ns());
    if (skipped)
        tt_log_warn(log, "train", "%s: skipped %llu malformed line(s)", input,
                    (unsigned long long)skipped);
    if (tt_split_compute(&ds, conf.eval.train_frac, conf.eval.valid_frac,
                         &split) != TT_ERR_OK ||
        split.train_end == 0) {
        tt_cli_error("train", "%s: %zu events cannot be split %.2f/%.2f",
                     input, ds.n, conf.eval.train_frac, conf.eval.valid_frac);
        goto out;
    }
    printf("read %zu events (%u users, %u items) in %.2f s; train %zu, "
           "validation %zu; OpenBLAS %s\n",
           ds.n, tt_dataset_n_users(&ds), tt_dataset_n_items(&ds), read_secs,
           split.train_end, split.valid_end - split.train_end,
           openblas_get_corename());

    if (warm) {
        struct tt_warm_match wm;

        tt_warm_count(warm, &ds, o.plus, &wm);
        tt_model_get_info(warm, &info);
        printf("warm start from %s (version %llu): %u of %u users and %u "
               "of %u items known%s\n",
               warm_path, (unsigned long long)info.version, wm.users_known,
               wm.users, wm.items_known, wm.items, wm.plus_w ? ", W too" : "");
    }
    tt_trainjob_progress_init(&pr, log, "train");
    if (tt_trainjob_train(&ds, &split, &conf, &o, (size_t)valid_sample,
                          version, &pr, &res, err, sizeof err) != TT_ERR_OK) {
        tt_cli_error("train", "%s", err);
        goto out;
    }
    printf("stage 1: %.2f s, %u epochs, D = %u; peak memory %.0f MiB\n",
           res.stage1_seconds, o.epochs1, res.dim, res.stage1_peak_mib);
    if (res.valid_mrr >= 0)
        printf("stage 2: %.2f s, %u epochs run, best epoch %u (validation "
               "MRR %.4f); peak memory %.0f MiB\n",
               res.stage2_seconds, res.epochs_run, res.best_epoch,
               res.valid_mrr, tt_trainjob_peak_mib());
    else
        printf("stage 2: %.2f s, %u epochs; peak memory %.0f MiB\n",
               res.stage2_seconds, res.epochs_run, tt_trainjob_peak_mib());
    if (tt_model_save(res.model, out, err, sizeof err) != TT_ERR_OK) {
        tt_cli_error("train", "%s", err);
        goto out;
    }
    tt_model_get_info(res.model, &info);
    printf("model %s: version %llu, D = %u, t* = %u, K = %u, %s%s, %u "
           "items, %u active users\n",
           out, (unsigned long long)info.version, info.dim, info.tstar,
           info.k,
           info.gru_all ? "GRU baseline" : (info.plus ? "2TS-Plus" : "2TS"),
           info.hop ? " (hopping window)"
                    : (info.window ? " (sliding window)" : ""),
           info.n_items, info.n_active);
    if (fflush(stdout) != 0) {
        tt_cli_error("train", "cannot write the output");
        goto out;
    }
    rc = TT_EXIT_OK;
    goto out;

out_nomem:
    tt_cli_error("train", "out of memory");
    rc = TT_EXIT_FAIL;
out:
    tt_model_destroy(res.model);
    tt_model_destroy(warm);
    tt_dataset_release(&ds);
    tt_log_destroy(log);
    if (conf_loaded)
        tt_conf_release(&conf);
    tt_cli_opts_release(&co);
    return rc;
}
