/*
 * twotime stream: keep user embeddings fresh from the interaction topic
 * (consumers/tt_stream.h).  Runs until SIGINT or SIGTERM, then finishes the
 * current batch, commits it and leaves the consumer group.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/tt_cli.h"
#include "common/tt_log.h"
#include "consumers/tt_modelsub.h"
#include "consumers/tt_stream.h"
#include "model/tt_model.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: twotime stream [options]\n"
            "\n"
            "Consumes interaction events (kafka.input_topic) in the consumer\n"
            "group kafka.group_id and publishes each user's refreshed\n"
            "embedding to kafka.output_topic, exactly once by default\n"
            "(kafka.exactly_once).  Run several to share the partitions.\n"
            "\n"
            "options:\n"
            "  -c, --config FILE      configuration file (default\n"
            "                         conf/twotime.conf when it exists)\n"
            "  -s, --set KEY=VALUE    override one setting, e.g.\n"
            "                         kafka.exactly_once=false\n"
            "  -m, --model PATH       model file (overrides model.path)\n"
            "      --follow-models    load the newest model version of\n"
            "                         kafka.model_topic at start (when newer\n"
            "                         than the file) and swap in newer ones\n"
            "                         live (default: model.follow)\n"
            "      --no-follow-models use the model file only\n"
            "  -i, --instance ID      instance id, part of the transactional\n"
            "                         id (default: host name and state path)\n"
            "      --linger-ms N      wait up to N ms for more events before\n"
            "                         closing a batch (default 0)\n"
            "      --no-create-topics fail instead of creating missing topics\n"
            "  -h, --help             show this help\n"
            "\n"
            "exit status: 0 after a clean stop (SIGINT/SIGTERM), 1 on a\n"
            "failure (including a fenced instance), 2 on bad usage\n");
}

static bool stop_requested(void *arg)
{
    (void)arg;
    return tt_cli_stopping() != 0;
}

/* The follow thread hands newer model versions to the stream. */
struct follow_ctx {
    tt_stream_t *s;
    tt_log_t *log;
};

static void offer_model(void *arg, tt_model_t **m)
{
    struct follow_ctx *fc = arg;
    char errstr[256];

    if (tt_stream_offer_model(fc->s, m, errstr, sizeof(errstr)))
        tt_log_warn(fc->log, "stream", "model not offered: %s", errstr);
}

int tt_cmd_stream(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"model", required_argument, NULL, 'm'},
        {"instance", required_argument, NULL, 'i'},
        {"linger-ms", required_argument, NULL, 'L'},
        {"no-create-topics", no_argument, NULL, 'N'},
        {"follow-models", no_argument, NULL, 'F'},
        {"no-follow-models", no_argument, NULL, 'G'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct tt_conf conf;
    struct tt_stream_opts opts;
    const char *model_path = NULL;
    enum tt_log_level level = TT_LOG_INFO;
    tt_log_t *log = NULL;
    tt_model_t *model = NULL;
    tt_stream_t *s = NULL;
    tt_modelsub_t *sub = NULL;
    struct follow_ctx fc;
    int follow = -1;
    uint64_t v;
    struct tt_cli_opts co;
    char errstr[1024];
    int rc = TT_EXIT_NONE, c;
    tt_err_t err;

    memset(&opts, 0, sizeof(opts));
    opts.create_topics = true;
    tt_cli_opts_init(&co, "stream", usage, argc);
    optind = 1;
    while (rc == TT_EXIT_NONE &&
           (c = getopt_long(argc, argv, "c:s:m:i:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm':
            model_path = optarg;
            break;
        case 'i':
            opts.instance_id = optarg;
            break;
        case 'L':
            if (tt_cli_parse_u64(optarg, 600000, &v)) {
                tt_cli_error("stream", "--linger-ms: not a number of ms: %s",
                             optarg);
                rc = TT_EXIT_USAGE;
                break;
            }
            opts.linger_ms = (int)v;
            break;
        case 'N':
            opts.create_topics = false;
            break;
        case 'F':
        case 'G':
            follow = c == 'F';
            break;
        default:
            rc = tt_cli_opts_take(&co, c, optarg);
        }
    }
    if (rc == TT_EXIT_NONE)
        rc = tt_cli_opts_operands(&co, argc, argv);
    if (rc != TT_EXIT_NONE)
        goto out_free_sets;
    rc = tt_cli_opts_load_conf(&co, &conf);
    if (rc != TT_EXIT_OK)
        goto out_free_sets;
    if (!model_path)
        model_path = conf.model.path;
    if (follow < 0)
        follow = conf.model.follow;
    if ((!model_path || !model_path[0]) && !follow) {
        tt_cli_error("stream", "no model: set model.path or pass --model");
        rc = TT_EXIT_USAGE;
        goto out_conf;
    }
    if (tt_log_level_parse(conf.log_level, &level) != 0)
        level = TT_LOG_INFO;
    log = tt_log_new(stderr, level);
    if (!log) {
        tt_cli_error("stream", "out of memory");
        rc = TT_EXIT_FAIL;
        goto out_conf;
    }
    err = model_path && model_path[0]
              ? tt_model_load(&model, model_path, errstr, sizeof(errstr))
              : TT_ERR_OK;
    if (err) {
        tt_cli_error("stream", "model %s: %s", model_path, errstr);
        rc = TT_EXIT_FAIL;
        goto out_log;
    }
    /* The newest published version if newer than the file; then a thread
     * follows the model topic (consumers/tt_modelsub.h). */
    if (follow && tt_modelsub_start(&sub, &conf.kafka, log, 300000, &model,
                                    errstr, sizeof(errstr))) {
        if (!model) {
            tt_cli_error("stream", "model topic %s: %s",
                         conf.kafka.model_topic, errstr);
            rc = TT_EXIT_FAIL;
            goto out_log;
        }
        tt_log_warn(log, "stream", "not following %s: %s",
                    conf.kafka.model_topic, errstr);
    }
    if (!model) {
        tt_cli_error("stream",
                     "no model: %s holds no complete version yet; publish "
                     "one with `twotime retrain` or pass --model",
                     conf.kafka.model_topic);
        rc = TT_EXIT_FAIL;
        goto out_sub;
    }
    tt_cli_install_signals();
    opts.log = log;
    opts.stopping = stop_requested;
    err = tt_stream_new(&s, &conf, &model, &opts, errstr, sizeof(errstr));
    if (err) {
        tt_cli_error("stream", "%s", errstr);
        rc = err == TT_ERR_CONF ? TT_EXIT_USAGE : TT_EXIT_FAIL;
        goto out_sub;
    }
    fc.s = s;
    fc.log = log;
    if (sub && tt_modelsub_follow(sub, offer_model, &fc, errstr,
                                  sizeof(errstr)))
        tt_log_warn(log, "stream", "not following %s: %s",
                    conf.kafka.model_topic, errstr);
    if (tt_metrics_port(tt_stream_metrics(s)) > 0)
        tt_log_info(log, "stream", "metrics on http://%s:%d/metrics",
                    conf.metrics.bind[0] ? conf.metrics.bind : "127.0.0.1",
                    tt_metrics_port(tt_stream_metrics(s)));
    err = tt_stream_run(s, errstr, sizeof(errstr));
    if (err == TT_ERR_FENCED) {
        tt_cli_error("stream",
                     "fenced: %s (another instance runs with the same "
                     "--instance / state path); stopping",
                     errstr);
        rc = TT_EXIT_FAIL;
    } else if (err) {
        tt_cli_error("stream", "%s", errstr);
        rc = TT_EXIT_FAIL;
    } else {
        rc = TT_EXIT_OK;
    }
    /* the follow thread offers to the stream: stop it first */
    tt_modelsub_destroy(sub);
    sub = NULL;
    tt_stream_destroy(s);
out_sub:
    tt_modelsub_destroy(sub);
out_log:
    tt_model_destroy(model);
    tt_log_destroy(log);
out_conf:
    tt_conf_release(&conf);
out_free_sets:
    tt_cli_opts_release(&co);
    return rc;
}
