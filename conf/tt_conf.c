/*
 * tt_conf: the table of settings, defaults, and the typed stores every value
 * goes through (defaults, file, --set).
 */
#include "conf/tt_conf.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/tt_conf_int.h"

#define OFF(field) offsetof(struct tt_conf, field)
#define D_STR(name, field, lo, hi, def, choices, doc)                          \
    {name, TT_CONF_STRING, OFF(field), lo, hi, def, choices, doc}
#define D_INT(name, field, lo, hi, def, doc)                                   \
    {name, TT_CONF_INT, OFF(field), lo, hi, def, NULL, doc}
#define D_U64(name, field, def, doc)                                           \
    {name, TT_CONF_UINT64, OFF(field), 0, 0, def, NULL, doc}
#define D_DBL(name, field, lo, hi, def, doc)                                   \
    {name, TT_CONF_DOUBLE, OFF(field), lo, hi, def, NULL, doc}
#define D_BOOL(name, field, def, doc)                                          \
    {name, TT_CONF_BOOL, OFF(field), 0, 1, def, NULL, doc}

/* Topic names: Kafka allows at most 249 characters. */
#define TOPIC_MAX 249
#define NAME_MAX_ 255
#define PATH_MAX_ 4095

/*
 * Every setting, grouped by the first component of its name (the order is
 * the order of `twotime config print` and of conf/twotime.conf).  The
 * defaults suit the single-node local broker that `scripts/kafka start` runs.
 */
static const struct tt_conf_def defs[] = {
    D_STR("kafka.brokers", kafka.brokers, 1, PATH_MAX_, "127.0.0.1:19092",
          NULL, "bootstrap.servers: host:port[,host:port...]"),
    D_STR("kafka.group_id", kafka.group_id, 1, NAME_MAX_, "twotime-stream",
          NULL, "consumer group of `twotime stream`"),
    D_STR("kafka.client_id", kafka.client_id, 1, NAME_MAX_, "twotime", NULL,
          "client.id reported to the brokers"),
    D_STR("kafka.input_topic", kafka.input_topic, 1, TOPIC_MAX,
          "twotime.interactions", NULL, "interaction events, keyed by user id"),
    D_STR("kafka.output_topic", kafka.output_topic, 1, TOPIC_MAX,
          "twotime.embeddings", NULL, "refreshed user embeddings (compacted)"),
    D_STR("kafka.changelog_topic", kafka.changelog_topic, 1, TOPIC_MAX,
          "twotime.state-changelog", NULL, "user state changelog (compacted)"),
    D_STR("kafka.dead_letter_topic", kafka.dead_letter_topic, 1, TOPIC_MAX,
          "twotime.dead-letters", NULL, "events that could not be processed"),
    D_STR("kafka.model_topic", kafka.model_topic, 1, TOPIC_MAX,
          "twotime.models", NULL, "published model versions (compacted)"),
    D_INT("kafka.partitions", kafka.partitions, 1, 10000, "4",
          "partitions of the topics twotime creates"),
    D_BOOL("kafka.exactly_once", kafka.exactly_once, "true",
           "transactions; false = at-least-once"),
    D_STR("kafka.transactional_id", kafka.transactional_id, 0, NAME_MAX_,
          "twotime-stream", NULL,
          "transactional.id prefix; the instance id is appended"),
    D_INT("kafka.batch_max", kafka.batch_max, 1, 1000000, "2000",
          "most events per processing batch (and transaction)"),
    D_INT("kafka.batch_ms", kafka.batch_ms, 0, 600000, "100",
          "longest a batch stays open, milliseconds"),

    D_STR("state.path", state.path, 1, PATH_MAX_, "var/state", NULL,
          "RocksDB directory of the user state"),
    D_INT("state.cache_mb", state.cache_mb, 1, 1048576, "64",
          "RocksDB block cache, MiB"),
    D_INT("state.write_buffer_mb", state.write_buffer_mb, 1, 65536, "32",
          "RocksDB write buffer, MiB"),
    D_INT("state.user_cache", state.user_cache, 0, 100000000, "100000",
          "users kept in the write-back cache"),
    D_INT("state.history_max", state.history_max, 1, 1000000, "256",
          "items kept per user for recomputation"),

    D_INT("model.dim", model.dim, 2, 1024, "64", "d: embedding dimension"),
    D_INT("model.tstar", model.tstar, 0, 100000000, "100",
          "t*: a user is active when its training count > t*"),
    D_INT("model.k", model.k, 1, 100000000, "50",
          "K: the active cell trains on a user's last K steps (K <= t*)"),
    D_BOOL("model.plus", model.plus, "true", "2TS-Plus scoring with W"),
    D_BOOL("model.features", model.features, "false",
           "item category features"),
    D_INT("model.feature_dim", model.feature_dim, 1, 1024, "16",
          "dimension of g(f_i) when features are on"),
    D_STR("model.path", model.path, 0, PATH_MAX_, "", NULL,
          "model file the stream loads at start (\"\" = none)"),
    D_BOOL("model.follow", model.follow, "true",
           "the stream loads the newest model of kafka.model_topic and "
           "follows new ones"),

    D_U64("train.seed", train.seed, "42", "random seed of training"),
    D_INT("train.threads", train.threads, 1, 256, "2", "worker threads"),
    D_INT("train.negatives", train.negatives, 1, 100000, "32",
          "p: sampled negatives per positive"),
    D_STR("train.optimizer", train.optimizer, 1, 16, "adam", "adam|sgd",
          "adam or sgd"),
    D_INT("train.epochs1", train.epochs1, 1, 100000, "10",
          "stage 1 epoch limit"),
    D_DBL("train.lr1", train.lr1, 1e-12, 100, "0.001",
          "stage 1 learning rate"),
    D_DBL("train.l2", train.l2, 0, 100, "1e-6",
          "L2 penalty on embeddings in stage 1"),
    D_INT("train.epochs2", train.epochs2, 1, 100000, "30",
          "stage 2 epoch limit"),
    D_DBL("train.lr2", train.lr2, 1e-12, 100, "0.001",
          "stage 2 learning rate"),
    D_INT("train.batch", train.batch, 1, 1048576, "64",
          "sequences (stage 2) or positives (stage 1) per step"),
    D_INT("train.patience", train.patience, 0, 100000, "5",
          "epochs without validation gain before stopping"),
    D_DBL("train.clip", train.clip, 0, 1e9, "5.0",
          "gradient norm clip in stage 2, 0 = off"),
    D_BOOL("train.auto_tstar", train.auto_tstar, "true",
           "choose t* from t*/2, t*, 2t*, 4t*, 8t* by validation MRR after "
           "stage 2"),
    D_BOOL("train.inactive_all", train.inactive_all, "true",
           "train the inactive cell on every user's first interactions, "
           "not only inactive users'"),
    D_INT("train.window_hop", train.window_hop, -1, 1024, "0",
          "active users' window: H events per hop (1..K), 0 = K/2, "
          "-1 = the older sliding window over the last K known items"),

    D_DBL("eval.train_frac", eval.train_frac, 0, 1, "0.7",
          "chronological split: the first part trains"),
    D_DBL("eval.valid_frac", eval.valid_frac, 0, 1, "0.1",
          "the next part validates; the rest tests"),
    D_INT("eval.negatives", eval.negatives, 1, 1000000, "499",
          "sampled negatives per test interaction"),
    D_U64("eval.seed", eval.seed, "7", "random seed of negative sampling"),
    D_INT("eval.max_test", eval.max_test, 0, INT_MAX, "0",
          "cap on scored test interactions, 0 = all"),

    D_STR("retrain.every", retrain.every, 0, 32, "", NULL,
          "period of `twotime retrain --every` (30m, 6h; \"\" = once)"),
    D_DBL("retrain.max_mrr_drop", retrain.max_mrr_drop, 0, 1, "0.05",
          "refuse to publish when the MRR drops by more than this share"),
    D_INT("retrain.gate_sample", retrain.gate_sample, 0, INT_MAX, "50000",
          "interactions of the newest slice the gate scores, 0 = all"),
    D_STR("retrain.warm_start", retrain.warm_start, 0, PATH_MAX_, "", NULL,
          "start from a previous model: \"\" = cold, \"serving\" = the "
          "model in service, or a model file"),
    D_INT("retrain.warm_epochs1", retrain.warm_epochs1, 0, 100000, "2",
          "stage 1 epochs of a warm start, 0 = train.epochs1"),
    D_INT("retrain.warm_epochs2", retrain.warm_epochs2, 0, 100000, "2",
          "stage 2 epochs of a warm start, 0 = train.epochs2"),

    D_STR("metrics.bind", metrics.bind, 0, NAME_MAX_, "127.0.0.1", NULL,
          "address of the metrics endpoint"),
    D_INT("metrics.port", metrics.port, 0, 65535, "9464",
          "port of the metrics endpoint, 0 = disabled"),

    D_STR("log_level", log_level, 1, 16, "info", "error|warn|info|debug",
          "error, warn, info or debug"),
};

const struct tt_conf_def *tt_conf_defs(size_t *n)
{
    *n = sizeof(defs) / sizeof(defs[0]);
    return defs;
}

const struct tt_conf_def *tt_conf_def_find(const char *name)
{
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        if (!strcmp(defs[i].name, name))
            return &defs[i];
    }
    return NULL;
}

/* Levenshtein distance, giving up (returning limit + 1) past `limit`. */
static size_t edit_distance(const char *a, const char *b, size_t limit)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[64];

    if (lb >= sizeof(row) / sizeof(row[0]) || la > lb + limit ||
        lb > la + limit)
        return limit + 1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0], best;

        row[0] = i;
        best = row[0];
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t v = diag + (a[i - 1] != b[j - 1]);

            if (up + 1 < v)
                v = up + 1;
            if (row[j - 1] + 1 < v)
                v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
            if (v < best)
                best = v;
        }
        if (best > limit)
            return limit + 1;
    }
    return row[lb];
}

bool tt_conf_suggest(const char *name, char *buf, size_t size)
{
    size_t best_d = 3, best_len = 0;
    const char *best = NULL;

    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        const char *full = defs[i].name;
        const char *dot = strchr(full, '.');
        size_t d = edit_distance(name, full, 2);
        char group[32];

        /* A group left out ("dim" for "model.dim"). */
        if (dot && !strcmp(name, dot + 1)) {
            best = full;
            best_len = strlen(full);
            break;
        }
        if (d < best_d) {
            best_d = d;
            best = full;
            best_len = strlen(full);
        }
        /* A misspelt group ("modle" for "model"). */
        if (dot && !strchr(name, '.') && (size_t)(dot - full) < sizeof(group)) {
            memcpy(group, full, (size_t)(dot - full));
            group[dot - full] = '\0';
            d = edit_distance(name, group, 2);
            if (d < best_d && d < strlen(group)) {
                best_d = d;
                best = full;
                best_len = (size_t)(dot - full);
            }
        }
    }
    if (!best || best_len >= size)
        return false;
    memcpy(buf, best, best_len);
    buf[best_len] = '\0';
    return true;
}

static void *field(struct tt_conf *conf, const struct tt_conf_def *def)
{
    return (char *)conf + def->offset;
}

/* True when `value` is one of the '|'-separated `choices`. */
static bool is_choice(const char *choices, const char *value)
{
    size_t n = strlen(value);
    const char *p = choices;

    for (;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);

        if (len == n && !strncmp(p, value, n))
            return true;
        if (!bar)
            return false;
        p = bar + 1;
    }
}


const char *tt_conf_type_name(enum tt_conf_type type)
{
    switch (type) {
    case TT_CONF_STRING:
        return "a string";
    case TT_CONF_INT:
    case TT_CONF_INT64:
        return "an integer";
    case TT_CONF_UINT64:
        return "a non-negative integer";
    case TT_CONF_DOUBLE:
        return "a number";
    case TT_CONF_BOOL:
        return "true or false";
    }
    return "?";
}

static tt_err_t mismatch(const struct tt_conf_def *def, const char *where,
                         char *errstr, size_t errstr_size)
{
    return tt_errf(TT_ERR_CONF, errstr, errstr_size, "%s%s must be %s", where,
                   def->name, tt_conf_type_name(def->type));
}

/*
 * The range checks, shared by the puts (a value arriving) and
 * tt_conf_check_def() (validation of a struct filled by anyone).
 */
static tt_err_t check_string(const struct tt_conf_def *def, const char *value,
                             const char *where, char *errstr,
                             size_t errstr_size)
{
    size_t len;

    if (!value)
        return tt_errf(TT_ERR_CONF, errstr, errstr_size, "%s%s is not set",
                       where, def->name);
    len = strlen(value);
    if ((double)len < def->min || (double)len > def->max)
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "%s%s must be %.0f to %.0f characters long (is %zu)",
                       where, def->name, def->min, def->max, len);
    if (def->choices && !is_choice(def->choices, value))
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "%s%s = \"%s\" is not one of %s", where, def->name,
                       value, def->choices);
    return TT_ERR_OK;
}

static tt_err_t check_int(const struct tt_conf_def *def, long long value,
                          const char *where, char *errstr, size_t errstr_size)
{
    if ((double)value < def->min || (double)value > def->max)
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "%s%s = %lld is out of range [%.0f, %.0f]", where,
                       def->name, value, def->min, def->max);
    return TT_ERR_OK;
}

static tt_err_t check_double(const struct tt_conf_def *def, double value,
                             const char *where, char *errstr,
                             size_t errstr_size)
{
    /* Written so that NaN fails as well. */
    if (!(value >= def->min && value <= def->max))
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "%s%s = %g is out of range [%g, %g]", where, def->name,
                       value, def->min, def->max);
    return TT_ERR_OK;
}

tt_err_t tt_conf_check_def(const struct tt_conf *conf,
                           const struct tt_conf_def *def, char *errstr,
                           size_t errstr_size)
{
    const void *slot = (const char *)conf + def->offset;

    switch (def->type) {
    case TT_CONF_STRING:
        return check_string(def, *(char *const *)slot, "", errstr,
                            errstr_size);
    case TT_CONF_INT:
        return check_int(def, *(const int *)slot, "", errstr, errstr_size);
    case TT_CONF_DOUBLE:
        return check_double(def, *(const double *)slot, "", errstr,
                            errstr_size);
    default:
        /* INT64, UINT64 and BOOL take every value of their C type. */
        return TT_ERR_OK;
    }
}

tt_err_t tt_conf_put_string(struct tt_conf *conf, const struct tt_conf_def *def,
                            const char *value, const char *where,
                            char *errstr, size_t errstr_size)
{
    char **slot = field(conf, def);
    char *copy;

    tt_err_t err;

    if (def->type != TT_CONF_STRING)
        return mismatch(def, where, errstr, errstr_size);
    err = check_string(def, value, where, errstr, errstr_size);
    if (err)
        return err;
    copy = strdup(value);
    if (!copy)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "%s%s: out of memory", where, def->name);
    free(*slot);
    *slot = copy;
    return TT_ERR_OK;
}

tt_err_t tt_conf_put_int(struct tt_conf *conf, const struct tt_conf_def *def,
                         long long value, const char *where, char *errstr,
                         size_t errstr_size)
{
    void *slot = field(conf, def);

    switch (def->type) {
    case TT_CONF_INT:
        if (check_int(def, value, where, errstr, errstr_size))
            return TT_ERR_CONF;
        *(int *)slot = (int)value;
        return TT_ERR_OK;
    case TT_CONF_INT64:
        *(int64_t *)slot = value;
        return TT_ERR_OK;
    case TT_CONF_UINT64:
        if (value < 0)
            return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                           "%s%s = %lld is out of range [0, %" PRIu64 "]",
                           where, def->name, value, UINT64_MAX);
        *(uint64_t *)slot = (uint64_t)value;
        return TT_ERR_OK;
    case TT_CONF_DOUBLE:
        /* An integer is welcome where a real number is expected. */
        return tt_conf_put_double(conf, def, (double)value, where, errstr,
                                  errstr_size);
    default:
        return mismatch(def, where, errstr, errstr_size);
    }
}

tt_err_t tt_conf_put_double(struct tt_conf *conf, const struct tt_conf_def *def,
                            double value, const char *where, char *errstr,
                            size_t errstr_size)
{
    if (def->type != TT_CONF_DOUBLE)
        return mismatch(def, where, errstr, errstr_size);
    if (check_double(def, value, where, errstr, errstr_size))
        return TT_ERR_CONF;
    *(double *)field(conf, def) = value;
    return TT_ERR_OK;
}

tt_err_t tt_conf_put_bool(struct tt_conf *conf, const struct tt_conf_def *def,
                          bool value, const char *where, char *errstr,
                          size_t errstr_size)
{
    if (def->type != TT_CONF_BOOL)
        return mismatch(def, where, errstr, errstr_size);
    *(bool *)field(conf, def) = value;
    return TT_ERR_OK;
}

tt_err_t tt_conf_put_prop(struct tt_conf *conf, const char *key,
                          const char *value, const char *where, char *errstr,
                          size_t errstr_size)
{
    struct tt_conf_kafka *k = &conf->kafka;
    size_t klen = strlen(key);
    struct tt_conf_kv *grown;
    char *kcopy, *vcopy;

    if (klen == 0 || klen > TT_CONF_PROP_KEY_MAX)
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "%s" TT_CONF_PROPS ": a property name must be 1 to %d "
                       "characters long",
                       where, TT_CONF_PROP_KEY_MAX);
    if (strlen(value) > TT_CONF_PROP_VALUE_MAX)
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "%s" TT_CONF_PROPS ".%s: value longer than %d bytes",
                       where, key, TT_CONF_PROP_VALUE_MAX);
    vcopy = strdup(value);
    if (!vcopy)
        goto nomem;
    for (size_t i = 0; i < k->n_props; i++) {
        if (!strcmp(k->props[i].key, key)) {
            free(k->props[i].value);
            k->props[i].value = vcopy;
            return TT_ERR_OK;
        }
    }
    if (k->n_props >= TT_CONF_PROPS_MAX) {
        free(vcopy);
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "%s" TT_CONF_PROPS ": more than %d properties", where,
                       TT_CONF_PROPS_MAX);
    }
    kcopy = strdup(key);
    grown = realloc(k->props, (k->n_props + 1) * sizeof(*k->props));
    if (!kcopy || !grown) {
        /* realloc failing leaves the old array valid and owned. */
        if (grown)
            k->props = grown;
        free(kcopy);
        free(vcopy);
        goto nomem;
    }
    k->props = grown;
    k->props[k->n_props].key = kcopy;
    k->props[k->n_props].value = vcopy;
    k->n_props++;
    return TT_ERR_OK;
nomem:
    return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                   "%s" TT_CONF_PROPS ": out of memory", where);
}

static tt_err_t parse_ll(const char *text, long long *out)
{
    char *end;

    errno = 0;
    *out = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE)
        return TT_ERR_PARSE;
    return TT_ERR_OK;
}

/* Unsigned, refusing the sign and leading space strtoull would accept. */
static tt_err_t parse_u64(const char *text, uint64_t *out)
{
    unsigned long long v;
    char *end;

    if (text[0] < '0' || text[0] > '9')
        return TT_ERR_PARSE;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (*end != '\0' || errno == ERANGE)
        return TT_ERR_PARSE;
    *out = v;
    return TT_ERR_OK;
}

static tt_err_t parse_double(const char *text, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || !isfinite(*out))
        return TT_ERR_PARSE;
    return TT_ERR_OK;
}

static tt_err_t parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!strcasecmp(text, yes[i])) {
            *out = true;
            return TT_ERR_OK;
        }
        if (!strcasecmp(text, no[i])) {
            *out = false;
            return TT_ERR_OK;
        }
    }
    return TT_ERR_PARSE;
}

/* Parses `text` by the type of `def` and stores it (defaults and --set). */
static tt_err_t set_text(struct tt_conf *conf, const struct tt_conf_def *def,
                         const char *text, char *errstr, size_t errstr_size)
{
    long long ll;
    uint64_t u;
    double d;
    bool b;

    switch (def->type) {
    case TT_CONF_STRING:
        return tt_conf_put_string(conf, def, text, "", errstr, errstr_size);
    case TT_CONF_INT:
    case TT_CONF_INT64:
        if (parse_ll(text, &ll))
            break;
        return tt_conf_put_int(conf, def, ll, "", errstr, errstr_size);
    case TT_CONF_UINT64:
        if (parse_u64(text, &u))
            break;
        *(uint64_t *)field(conf, def) = u;
        return TT_ERR_OK;
    case TT_CONF_DOUBLE:
        if (parse_double(text, &d))
            break;
        return tt_conf_put_double(conf, def, d, "", errstr, errstr_size);
    case TT_CONF_BOOL:
        if (parse_bool(text, &b))
            break;
        return tt_conf_put_bool(conf, def, b, "", errstr, errstr_size);
    }
    return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                   "%s must be %s, not \"%s\"", def->name,
                   tt_conf_type_name(def->type), text);
}

tt_err_t tt_conf_init(struct tt_conf *conf)
{
    char errstr[256];

    memset(conf, 0, sizeof(*conf));
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        tt_err_t err = set_text(conf, &defs[i], defs[i].def, errstr,
                                sizeof(errstr));

        if (err) {
            tt_conf_release(conf);
            return err;
        }
    }
    return TT_ERR_OK;
}

void tt_conf_release(struct tt_conf *conf)
{
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        if (defs[i].type == TT_CONF_STRING)
            free(*(char **)field(conf, &defs[i]));
    }
    for (size_t i = 0; i < conf->kafka.n_props; i++) {
        free(conf->kafka.props[i].key);
        free(conf->kafka.props[i].value);
    }
    free(conf->kafka.props);
    memset(conf, 0, sizeof(*conf));
}

tt_err_t tt_conf_set(struct tt_conf *conf, const char *key, const char *value,
                     char *errstr, size_t errstr_size)
{
    static const char props[] = TT_CONF_PROPS ".";
    const struct tt_conf_def *def;
    char hint[64];

    if (!conf || !key || !value)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "tt_conf_set: NULL argument");
    if (!strncmp(key, props, sizeof(props) - 1))
        return tt_conf_put_prop(conf, key + sizeof(props) - 1, value, "",
                                errstr, errstr_size);
    if (!strcmp(key, TT_CONF_PROPS))
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       TT_CONF_PROPS " is set one property at a time: "
                       TT_CONF_PROPS ".NAME=VALUE");
    def = tt_conf_def_find(key);
    if (def)
        return set_text(conf, def, value, errstr, errstr_size);
    if (tt_conf_suggest(key, hint, sizeof(hint)))
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "unknown setting '%s' (did you mean '%s'?)", key, hint);
    return tt_errf(TT_ERR_CONF, errstr, errstr_size, "unknown setting '%s'",
                   key);
}

tt_err_t tt_conf_set_kv(struct tt_conf *conf, const char *kv, char *errstr,
                        size_t errstr_size)
{
    char key[512];
    const char *eq;
    size_t start = 0, end;

    if (!conf || !kv)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "tt_conf_set_kv: NULL argument");
    /* The text is not echoed: it may be a secret typed without its '='. */
    eq = strchr(kv, '=');
    if (!eq)
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "expected KEY=VALUE (no '=' found)");
    end = (size_t)(eq - kv);
    while (start < end && (kv[start] == ' ' || kv[start] == '\t'))
        start++;
    while (end > start && (kv[end - 1] == ' ' || kv[end - 1] == '\t'))
        end--;
    if (end == start)
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "expected KEY=VALUE (empty KEY)");
    if (end - start >= sizeof(key))
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "setting name longer than %zu characters",
                       sizeof(key) - 1);
    memcpy(key, kv + start, end - start);
    key[end - start] = '\0';
    return tt_conf_set(conf, key, eq + 1, errstr, errstr_size);
}
