/*
 * tt_conf_check: validation of a whole configuration: every setting's range
 * (from the table) and the rules that tie settings together.
 */
#include "conf/tt_conf.h"

#include <string.h>

#include "conf/tt_conf_int.h"

/* The largest user state the model supports: d plus the feature dimension
 * (model/tt_model.h, TT_MODEL_DIM_MAX; conf sits below model in the
 * layering, so the number is repeated here and a model test can pin it). */
#define STATE_DIM_MAX 1024

/* librdkafka properties that have a setting of their own. */
static const struct {
    const char *property;
    const char *setting;
} owned_props[] = {
    {"bootstrap.servers", "kafka.brokers"},
    {"metadata.broker.list", "kafka.brokers"},
    {"group.id", "kafka.group_id"},
    {"client.id", "kafka.client_id"},
    {"transactional.id", "kafka.transactional_id"},
};

/* Kafka's rule for topic names: [a-zA-Z0-9._-]+, not "." or "..". */
static bool topic_name_ok(const char *t)
{
    if (!strcmp(t, ".") || !strcmp(t, ".."))
        return false;
    for (const char *p = t; *p; p++) {
        char c = *p;

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static tt_err_t check_topics(const struct tt_conf_kafka *k, char *errstr,
                             size_t errstr_size)
{
    const struct {
        const char *name;
        const char *value;
    } topics[] = {
        {"kafka.input_topic", k->input_topic},
        {"kafka.output_topic", k->output_topic},
        {"kafka.changelog_topic", k->changelog_topic},
        {"kafka.dead_letter_topic", k->dead_letter_topic},
        {"kafka.model_topic", k->model_topic},
    };
    const size_t n = sizeof(topics) / sizeof(topics[0]);

    for (size_t i = 0; i < n; i++) {
        if (!topic_name_ok(topics[i].value))
            return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                           "%s = \"%s\" is not a Kafka topic name (letters, "
                           "digits, '.', '_' and '-' only)",
                           topics[i].name, topics[i].value);
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(topics[i].value, topics[j].value))
                return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                               "%s and %s are the same topic \"%s\"",
                               topics[j].name, topics[i].name,
                               topics[i].value);
        }
    }
    return TT_ERR_OK;
}

/* The property name without a role prefix ("consumer.group.id" applies
 * group.id to consumers only; see producers/tt_kconf.h). */
static const char *unprefixed(const char *key)
{
    static const char *const roles[] = {"producer.", "consumer.", "admin."};

    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        size_t n = strlen(roles[i]);

        if (!strncmp(key, roles[i], n))
            return key + n;
    }
    return key;
}

static tt_err_t check_props(const struct tt_conf_kafka *k, char *errstr,
                            size_t errstr_size)
{
    for (size_t i = 0; i < k->n_props; i++) {
        const char *key = k->props[i].key;

        if (!key || !*key || !k->props[i].value)
            return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                           TT_CONF_PROPS " element %zu is incomplete", i + 1);
        for (size_t j = 0; j < sizeof(owned_props) / sizeof(owned_props[0]);
             j++) {
            if (!strcmp(unprefixed(key), owned_props[j].property))
                return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                               TT_CONF_PROPS ".%s: set %s instead", key,
                               owned_props[j].setting);
        }
    }
    return TT_ERR_OK;
}

tt_err_t tt_conf_validate(const struct tt_conf *conf, char *errstr,
                          size_t errstr_size)
{
    const struct tt_conf_model *m = &conf->model;
    const struct tt_conf_eval *e = &conf->eval;
    const struct tt_conf_def *defs;
    size_t n;
    tt_err_t err;

    defs = tt_conf_defs(&n);
    for (size_t i = 0; i < n; i++) {
        err = tt_conf_check_def(conf, &defs[i], errstr, errstr_size);
        if (err)
            return err;
    }
    if (m->k > m->tstar)
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "model.k = %d must be <= model.tstar = %d (the active "
                       "cell trains on the last K steps of users with more "
                       "than t*)",
                       m->k, m->tstar);
    if (m->features && m->dim + m->feature_dim > STATE_DIM_MAX)
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "model.dim + model.feature_dim = %d exceeds %d",
                       m->dim + m->feature_dim, STATE_DIM_MAX);
    if (conf->state.history_max < m->k)
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "state.history_max = %d must be >= model.k = %d (an "
                       "active user's state is recomputed from its last K "
                       "items)",
                       conf->state.history_max, m->k);
    if (conf->train.window_hop > m->k)
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "train.window_hop = %d must be <= model.k = %d (a "
                       "hopping window holds K - H + 1 .. K events)",
                       conf->train.window_hop, m->k);
    /* A drop halves the history (tt_proc RETENTION): a hopping window of up
     * to K events survives it only if history_max / 2 >= K - 1. */
    if (conf->train.window_hop >= 0 && conf->state.history_max < 2 * m->k - 2)
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "state.history_max = %d must be >= 2 * model.k - 2 = "
                       "%d with a hopping window (train.window_hop = %d): "
                       "the oldest half of a full history is dropped, and "
                       "the window needs the last K events",
                       conf->state.history_max, 2 * m->k - 2,
                       conf->train.window_hop);
    if (!(e->train_frac > 0 && e->valid_frac > 0 &&
          e->train_frac + e->valid_frac < 1))
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "eval.train_frac = %g and eval.valid_frac = %g must "
                       "both be > 0 and sum to less than 1 (the rest tests)",
                       e->train_frac, e->valid_frac);
    if (conf->kafka.exactly_once && conf->kafka.transactional_id[0] == '\0')
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "kafka.transactional_id must be set when "
                       "kafka.exactly_once is true");
    if (conf->metrics.port != 0 && conf->metrics.bind[0] == '\0')
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "metrics.bind must be set when metrics.port is not 0");
    err = check_topics(&conf->kafka, errstr, errstr_size);
    if (err)
        return err;
    return check_props(&conf->kafka, errstr, errstr_size);
}
