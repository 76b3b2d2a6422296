/*
 * twotime backtest: trains 2TS and the baselines on the first part of a log
 * and scores them on the rest with the paper's protocol (model/tt_eval.h,
 * model/tt_eval_bt.h); prints a table and optionally writes a JSON report.
 * With --model it scores a given model file instead of training, and with
 * --live what the running pipeline emitted (cli/tt_live.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/tt_cli.h"
#include "cli/tt_live.h"
#include "cli/tt_source.h"
#include "common/tt_log.h"
#include "model/tt_eval_bt.h"
#include "model/tt_reader.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: twotime backtest --input LOG [options]\n"
            "       twotime backtest --input LOG --model MODEL [options]\n"
            "       twotime backtest --live [--model MODEL]... [options]\n"
            "\n"
            "Splits LOG by time (eval.train_frac / eval.valid_frac: 70/10/20),\n"
            "trains every selected model on the first part, and ranks each test\n"
            "interaction's true item among eval.negatives (499) negatives drawn\n"
            "from the items seen in training, the same for every model.  Users\n"
            "are replayed in time order: each interaction is scored with the\n"
            "user's state after all earlier ones, then the state is updated.\n"
            "Reports MRR and Recall@10, overall, by group and by activity.\n"
            "\n"
            "options:\n"
            "  -i, --input LOG        interaction log (- for stdin)\n"
            "  -f, --format F         auto, csv, udata, dat, mlcsv [auto]\n"
            "      --skip-bad         skip malformed lines instead of failing\n"
            "  -m, --models LIST      comma-separated: 2ts, 2ts-plus, 2ts-paper,\n"
            "                         2ts-plus-paper, gru, ccf, sumpool, pop, all\n"
            "                         [2ts,2ts-plus,gru,ccf,sumpool,pop]\n"
            "  -j, --json FILE        write the full report as JSON (- = stdout;\n"
            "                         the table then goes to stderr)\n"
            "  -c, --config FILE      configuration [conf/twotime.conf if present]\n"
            "  -s, --set KEY=VALUE    override one setting (repeatable)\n"
            "      --tstar N          t* (model.tstar)\n"
            "      --k N              K (model.k)\n"
            "      --max-test N       score a fixed sample of N test interactions\n"
            "                         (eval.max_test; 0 = all)\n"
            "      --valid-sample N   validation interactions scored for early\n"
            "                         stopping and tuning [20000; 0 = all]\n"
            "      --tstar-grid LIST  tune t* on VALIDATION data, e.g. 20,50,100;\n"
            "                         the best is used for the test run\n"
            "      --k-grid LIST      tune K too (pairs with K <= t*)\n"
            "      --window, --no-window\n"
            "                         2TS active users: phi_u over a window of\n"
            "                         their last K events (hopping every\n"
            "                         train.window_hop events), or over every\n"
            "                         item after the cutoff (the paper)\n"
            "      --active-windows N stage 2 K-windows per active user [1]\n"
            "      --active-z-bias B  initial update-gate bias of the active\n"
            "                         cell (< 0: starts by keeping phi_u) [0]\n"

            "      --model MODEL      score this model file instead of\n"
            "                         training (t* and K are the model's)\n"
            "      --live             score what the stream emitted: each\n"
            "                         test interaction of kafka.input_topic\n"
            "                         with the user's previous embedding on\n"
            "                         kafka.output_topic, against the items\n"
            "                         of the model version it names (from\n"
            "                         --model files and kafka.model_topic)\n"
            "      --no-model-topic   --live: model versions from --model only\n"
            "      --timeout S        --live: fail a read idle for S s [30]\n"
            "  -q, --quiet            no progress log\n"
            "  -h, --help             show this help\n");
}

/* Writes the report to `json` (NULL: none; "-": stdout), then flushes
 * stdout.  Returns the exit code. */
static int write_json(const char *json, const struct tt_bt_result *res,
                      const struct tt_bt_opts *o, const char *input,
                      const struct tt_live_stats *lst)
{
    if (json) {
        FILE *f = strcmp(json, "-") ? fopen(json, "w") : stdout;
        tt_err_t jerr;

        if (!f) {
            tt_cli_error("backtest", "cannot write %s: %s", json,
                         strerror(errno));
            return TT_EXIT_FAIL;
        }
        jerr = tt_live_write_json(res, o, input, lst, f);
        if (f != stdout && fclose(f) != 0 && !jerr)
            jerr = TT_ERR_IO;
        if (jerr) {
            tt_cli_error("backtest", "writing %s: %s", json,
                         tt_err_str(jerr));
            return TT_EXIT_FAIL;
        }
    }
    if (fflush(stdout) != 0) {
        tt_cli_error("backtest", "cannot write the output");
        return TT_EXIT_FAIL;
    }
    return TT_EXIT_OK;
}

enum {
    OPT_SKIP_BAD = 256,
    OPT_TSTAR,
    OPT_K,
    OPT_MAX_TEST,
    OPT_VALID_SAMPLE,
    OPT_TSTAR_GRID,
    OPT_K_GRID,
    OPT_WINDOW,
    OPT_NO_WINDOW,
    OPT_ACTIVE_WINDOWS,
    OPT_ACTIVE_Z_BIAS,
    OPT_MODEL,
    OPT_LIVE,
    OPT_NO_MODEL_TOPIC,
    OPT_TIMEOUT,
};

int tt_cmd_backtest(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},
        {"format", required_argument, NULL, 'f'},
        {"skip-bad", no_argument, NULL, OPT_SKIP_BAD},
        {"models", required_argument, NULL, 'm'},
        {"json", required_argument, NULL, 'j'},
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"tstar", required_argument, NULL, OPT_TSTAR},
        {"k", required_argument, NULL, OPT_K},
        {"max-test", required_argument, NULL, OPT_MAX_TEST},
        {"valid-sample", required_argument, NULL, OPT_VALID_SAMPLE},
        {"tstar-grid", required_argument, NULL, OPT_TSTAR_GRID},
        {"k-grid", required_argument, NULL, OPT_K_GRID},
        {"window", no_argument, NULL, OPT_WINDOW},
        {"no-window", no_argument, NULL, OPT_NO_WINDOW},
        {"active-windows", required_argument, NULL, OPT_ACTIVE_WINDOWS},
        {"active-z-bias", required_argument, NULL, OPT_ACTIVE_Z_BIAS},
        {"model", required_argument, NULL, OPT_MODEL},
        {"live", no_argument, NULL, OPT_LIVE},
        {"no-model-topic", no_argument, NULL, OPT_NO_MODEL_TOPIC},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *input = NULL, *json = NULL;
    const char *models = NULL, *tgrid = NULL, *kgrid = NULL;
    enum tt_format fmt = TT_FORMAT_AUTO;
    enum tt_log_level level = TT_LOG_INFO;
    bool skip_bad = false, quiet = false;
    uint64_t valid_sample = 20000, active_windows = 0, v;
    int window = -1;
    double z_bias = 0.0;
    bool have_z_bias = false;
    struct tt_cli_opts co;
    int c, rc = TT_EXIT_USAGE;
    struct tt_conf conf;
    struct tt_bt_opts o;
    struct tt_bt_result *res = NULL;
    struct tt_dataset ds;
    tt_log_t *log = NULL;
    uint64_t skipped = 0;
    char err[512];
    FILE *table = stdout;
    bool conf_loaded = false;
    bool live = false, model_topic = true;
    struct tt_live_opts lo;
    struct tt_live_stats *lst = NULL;
    tt_model_t *given = NULL;

    tt_cli_openblas_fix(argc, argv);
    tt_cli_opts_init(&co, "backtest", usage, argc);
    memset(&ds, 0, sizeof ds);
    memset(&lo, 0, sizeof lo);
    lo.timeout_s = 30;
    optind = 1;
    while ((c = getopt_long(argc, argv, "i:f:m:j:c:s:qh", longopts, NULL)) !=
           -1) {
        switch (c) {
        case 'i':
            input = optarg;
            break;
        case 'f':
            if (tt_format_parse(optarg, &fmt) != TT_ERR_OK) {
                tt_cli_error("backtest", "unknown format '%s'", optarg);
                goto out;
            }
            break;
        case OPT_SKIP_BAD:
            skip_bad = true;
            break;
        case 'm':
            models = optarg;
            break;
        case 'j':
            json = optarg;
            break;
        case OPT_TSTAR:
        case OPT_K:
        case OPT_MAX_TEST:
            if (tt_cli_opts_add_set(&co,
                                    c == OPT_TSTAR ? "model.tstar"
                                    : c == OPT_K   ? "model.k"
                                                   : "eval.max_test",
                                    optarg)) {
                tt_cli_error("backtest", "out of memory");
                rc = TT_EXIT_FAIL;
                goto out;
            }
            break;
        case OPT_VALID_SAMPLE:
            if (tt_cli_parse_u64(optarg, SIZE_MAX, &valid_sample)) {
                tt_cli_error("backtest", "bad --valid-sample '%s'", optarg);
                goto out;
            }
            break;
        case OPT_TSTAR_GRID:
            tgrid = optarg;
            break;
        case OPT_K_GRID:
            kgrid = optarg;
            break;
        case OPT_WINDOW:
        case OPT_NO_WINDOW:
            window = c == OPT_WINDOW;
            break;
        case OPT_ACTIVE_Z_BIAS:
            if (tt_cli_parse_double(optarg, -20.0, 20.0, &z_bias)) {
                tt_cli_error("backtest", "bad --active-z-bias '%s'", optarg);
                goto out;
            }
            have_z_bias = true;
            break;
        case OPT_ACTIVE_WINDOWS:
            if (tt_cli_parse_u64(optarg, 1000000, &active_windows) ||
                active_windows < 1) {
                tt_cli_error("backtest", "bad --active-windows '%s'", optarg);
                goto out;
            }
            break;
        case OPT_MODEL:
            if (lo.n_model_files == TT_LIVE_FILES_MAX) {
                tt_cli_error("backtest", "more than %d --model files",
                             TT_LIVE_FILES_MAX);
                goto out;
            }
            lo.model_files[lo.n_model_files++] = optarg;
            break;
        case OPT_LIVE:
            live = true;
            break;
        case OPT_NO_MODEL_TOPIC:
            model_topic = false;
            break;
        case OPT_TIMEOUT:
            if (tt_cli_parse_u64(optarg, 86400, &v) || v < 1) {
                tt_cli_error("backtest", "bad --timeout '%s'", optarg);
                goto out;
            }
            lo.timeout_s = (int)v;
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
    if (live && input) {
        tt_cli_error("backtest", "--live reads the input topic: no --input");
        goto out;
    }
    if (!live && !input) {
        tt_cli_error("backtest", "--input LOG (or --live) is required");
        goto out;
    }
    if (!live && lo.n_model_files > 1) {
        tt_cli_error("backtest", "one --model without --live");
        goto out;
    }
    if (!live && !model_topic) {
        tt_cli_error("backtest", "--no-model-topic needs --live");
        goto out;
    }
    if (live && !model_topic && lo.n_model_files == 0) {
        tt_cli_error("backtest", "--no-model-topic needs --model FILE");
        goto out;
    }
    if ((live || lo.n_model_files) && (tgrid || models)) {
        tt_cli_error("backtest", "--models and grids train: not with "
                                 "--model or --live");
        goto out;
    }
    if (kgrid && !tgrid) {
        tt_cli_error("backtest", "--k-grid needs --tstar-grid");
        goto out;
    }
    rc = tt_cli_opts_load_conf(&co, &conf);
    if (rc != TT_EXIT_OK)
        goto out;
    conf_loaded = true;
    rc = TT_EXIT_USAGE;

    memset(&o, 0, sizeof o);
    tt_train_opts_from_conf(&o.train, &conf);
    if (window >= 0)
        o.train.window = window != 0;
    if (active_windows)
        o.train.active_windows = (uint32_t)active_windows;
    if (have_z_bias)
        o.train.active_z_bias = z_bias;
    o.eval.negatives = (uint32_t)conf.eval.negatives;
    o.eval.seed = conf.eval.seed;
    o.eval.max_scored = (size_t)conf.eval.max_test;
    o.eval.threads = conf.train.threads;
    o.eval.tstar = o.train.tstar;
    o.train_frac = conf.eval.train_frac;
    o.valid_frac = conf.eval.valid_frac;
    o.valid_sample = (size_t)valid_sample;
    o.models = TT_BT_DEFAULT_MODELS;
    if (models &&
        tt_bt_parse_models(models, &o.models, err, sizeof err) != TT_ERR_OK) {
        tt_cli_error("backtest", "%s", err);
        goto out;
    }
    if (tgrid && tt_bt_parse_grid(tgrid, 1, o.tstar_grid, TT_BT_GRID_MAX,
                                  &o.n_tstar_grid, err, sizeof err)) {
        tt_cli_error("backtest", "--tstar-grid: %s", err);
        goto out;
    }
    if (kgrid && tt_bt_parse_grid(kgrid, 1, o.k_grid, TT_BT_GRID_MAX,
                                  &o.n_k_grid, err, sizeof err)) {
        tt_cli_error("backtest", "--k-grid: %s", err);
        goto out;
    }
    if (conf.log_level && tt_log_level_parse(conf.log_level, &level) != 0)
        level = TT_LOG_INFO;
    if (!quiet) {
        log = tt_log_new(stderr, level);
        if (!log) {
            tt_cli_error("backtest", "out of memory");
            rc = TT_EXIT_FAIL;
            goto out;
        }
    }
    if (json && !strcmp(json, "-"))
        table = stderr;

    rc = TT_EXIT_FAIL;
    res = calloc(1, sizeof(*res));
    if (!res) {
        tt_cli_error("backtest", "out of memory");
        goto out;
    }
    if (live) {
        char where[300];

        lst = calloc(1, sizeof(*lst));
        if (!lst) {
            tt_cli_error("backtest", "out of memory");
            goto out;
        }
        lo.input_topic = conf.kafka.input_topic;
        lo.output_topic = conf.kafka.output_topic;
        lo.model_topic = model_topic ? conf.kafka.model_topic : NULL;
        if (tt_live_run(&conf, &lo, &o, log, res, lst, err, sizeof err) !=
            TT_ERR_OK) {
            tt_cli_error("backtest", "%s", err);
            goto out;
        }
        snprintf(where, sizeof where, "kafka:%s", conf.kafka.input_topic);
        tt_bt_print(res, &o, table);
        tt_live_print(lst, table);
        rc = write_json(json, res, &o, where, lst);
        goto out;
    }
    if (tt_dataset_init(&ds) != TT_ERR_OK) {
        tt_cli_error("backtest", "out of memory");
        goto out;
    }
    if (tt_source_read_dataset(&ds, input, fmt, skip_bad, &skipped, err,
                               sizeof err) != TT_ERR_OK) {
        tt_cli_error("backtest", "%s", err);
        goto out;
    }
    if (skipped)
        tt_log_warn(log, "backtest", "%s: skipped %llu malformed line(s)",
                    input, (unsigned long long)skipped);
    if (lo.n_model_files) {
        if (tt_model_load(&given, lo.model_files[0], err, sizeof err) !=
                TT_ERR_OK ||
            tt_live_offline(&ds, given, &o, res, err, sizeof err) !=
                TT_ERR_OK) {
            tt_cli_error("backtest", "%s", err);
            goto out;
        }
    } else if (tt_bt_run(&ds, &o, log, res, err, sizeof err) != TT_ERR_OK) {
        tt_cli_error("backtest", "%s", err);
        goto out;
    }
    tt_bt_print(res, &o, table);
    rc = write_json(json, res, &o, input, NULL);
out:
    free(res);
    free(lst);
    tt_model_destroy(given);
    tt_dataset_release(&ds);
    tt_log_destroy(log);
    if (conf_loaded)
        tt_conf_release(&conf);
    tt_cli_opts_release(&co);
    return rc;
}
