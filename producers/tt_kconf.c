#include "producers/tt_kconf.h"

#include <string.h>

/* Long enough for every non-PEM property value librdkafka reads back. */
#define KCONF_VALUE_MAX 1024

tt_err_t tt_kconf_set(rd_kafka_conf_t *conf, const char *key,
                      const char *value, char *errstr, size_t errstr_size)
{
    char rderr[512];
    rd_kafka_conf_res_t res;

    if (!key || !*key)
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "empty librdkafka property name");
    if (!value)
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "librdkafka property \"%s\" has no value", key);
    rderr[0] = '\0';
    res = rd_kafka_conf_set(conf, key, value, rderr, sizeof(rderr));
    if (res == RD_KAFKA_CONF_OK)
        return TT_ERR_OK;
    if (res == RD_KAFKA_CONF_UNKNOWN)
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "unknown librdkafka property \"%s\" (from "
                       "kafka.properties.%s; see librdkafka's "
                       "CONFIGURATION.md for the names)",
                       key, key);
    /* librdkafka quotes the rejected value in its message, so a secret's
     * message is replaced rather than copied. */
    if (tt_conf_is_secret(key))
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "librdkafka rejected property \"%s\" (unsupported "
                       "or invalid; its message is not shown as it may "
                       "quote the secret value)",
                       key);
    return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                   "invalid value for librdkafka property \"%s\": %s", key,
                   rderr);
}

/* Indexed by enum tt_kconf_role. */
static const char *const role_prefixes[] = {"", "producer.", "consumer.",
                                            "admin."};
#define N_ROLES 4

const char *tt_kconf_role_prefix(enum tt_kconf_role role)
{
    return role_prefixes[role];
}

/* The role a property name is prefixed for, or -1 when unprefixed. */
static int prefixed_role(const char *key)
{
    for (int r = 1; r < N_ROLES; r++) {
        if (!strncmp(key, role_prefixes[r], strlen(role_prefixes[r])))
            return r;
    }
    return -1;
}

const char *tt_kconf_prop(const struct tt_conf_kafka *kc, const char *key)
{
    return tt_kconf_prop_role(kc, TT_KCONF_ANY, key);
}

const char *tt_kconf_prop_role(const struct tt_conf_kafka *kc,
                               enum tt_kconf_role role, const char *key)
{
    const char *prefix = role_prefixes[role];
    size_t plen = strlen(prefix);
    const char *plain = NULL, *mine = NULL;

    for (size_t i = 0; i < kc->n_props; i++) {
        const char *k = kc->props[i].key;

        if (!k)
            continue;
        if (!strcmp(k, key))
            plain = kc->props[i].value;
        else if (plen && !strncmp(k, prefix, plen) && !strcmp(k + plen, key))
            mine = kc->props[i].value;
    }
    return mine ? mine : plain;
}

tt_err_t tt_kconf_new(rd_kafka_conf_t **out, const struct tt_conf_kafka *kc,
                      char *errstr, size_t errstr_size)
{
    return tt_kconf_new_role(out, kc, TT_KCONF_ANY, errstr, errstr_size);
}

tt_err_t tt_kconf_new_role(rd_kafka_conf_t **out,
                           const struct tt_conf_kafka *kc,
                           enum tt_kconf_role role, char *errstr,
                           size_t errstr_size)
{
    rd_kafka_conf_t *conf;
    tt_err_t err;

    *out = NULL;
    if (!kc->brokers || !*kc->brokers)
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "kafka.brokers is empty");
    conf = rd_kafka_conf_new();
    if (!conf)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "rd_kafka_conf_new failed");
    err = tt_kconf_set(conf, "bootstrap.servers", kc->brokers, errstr,
                       errstr_size);
    if (err)
        goto out_destroy;
    if (kc->client_id && *kc->client_id) {
        err = tt_kconf_set(conf, "client.id", kc->client_id, errstr,
                           errstr_size);
        if (err)
            goto out_destroy;
    }
    /* Unprefixed first, then this role's, so that the prefixed win. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < kc->n_props; i++) {
            const char *key = kc->props[i].key;
            int r = key ? prefixed_role(key) : -1;

            if (pass == 0 ? r >= 0 : r < 0 || r != (int)role)
                continue;
            if (r >= 0)
                key += strlen(role_prefixes[r]);
            err = tt_kconf_set(conf, key, kc->props[i].value, errstr,
                               errstr_size);
            if (err)
                goto out_destroy;
        }
    }
    *out = conf;
    return TT_ERR_OK;
out_destroy:
    rd_kafka_conf_destroy(conf);
    return err;
}

/* The value librdkafka holds for `key` in `buf`, or "" when it is longer
 * than the buffer or unreadable. */
static void conf_get(const rd_kafka_conf_t *conf, const char *key, char *buf,
                     size_t size)
{
    size_t n = size;

    if (rd_kafka_conf_get(conf, key, buf, &n) != RD_KAFKA_CONF_OK || n > size)
        buf[0] = '\0';
}

tt_err_t tt_kconf_require(rd_kafka_conf_t *conf,
                          const struct tt_conf_kafka *kc, const char *key,
                          const char *value, const char *why, char *errstr,
                          size_t errstr_size)
{
    return tt_kconf_require_role(conf, kc, TT_KCONF_ANY, key, value, why,
                                 errstr, errstr_size);
}

tt_err_t tt_kconf_require_role(rd_kafka_conf_t *conf,
                               const struct tt_conf_kafka *kc,
                               enum tt_kconf_role role, const char *key,
                               const char *value, const char *why,
                               char *errstr, size_t errstr_size)
{
    char user[KCONF_VALUE_MAX], want[KCONF_VALUE_MAX];
    const char *given = tt_kconf_prop_role(kc, role, key);
    tt_err_t err;

    if (!given)
        return tt_kconf_set(conf, key, value, errstr, errstr_size);
    /* Compare what librdkafka makes of both spellings, so that "all" and
     * "-1", or "true" and "1", agree. */
    conf_get(conf, key, user, sizeof(user));
    err = tt_kconf_set(conf, key, value, errstr, errstr_size);
    if (err)
        return err;
    conf_get(conf, key, want, sizeof(want));
    if (*user && *want ? strcmp(user, want) != 0
                       : strcmp(given, value) != 0) {
        if (tt_conf_is_secret(key))
            return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                           "kafka.properties sets %s, which conflicts with "
                           "the value %s requires",
                           key, why);
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "kafka.properties sets %s=%s, which conflicts with "
                       "%s=%s that %s requires; remove the property",
                       key, given, key, value, why);
    }
    return TT_ERR_OK;
}

tt_err_t tt_kconf_default(rd_kafka_conf_t *conf,
                          const struct tt_conf_kafka *kc, const char *key,
                          const char *value, char *errstr,
                          size_t errstr_size)
{
    return tt_kconf_default_role(conf, kc, TT_KCONF_ANY, key, value, errstr,
                                 errstr_size);
}

tt_err_t tt_kconf_default_role(rd_kafka_conf_t *conf,
                               const struct tt_conf_kafka *kc,
                               enum tt_kconf_role role, const char *key,
                               const char *value, char *errstr,
                               size_t errstr_size)
{
    if (tt_kconf_prop_role(kc, role, key))
        return TT_ERR_OK;
    return tt_kconf_set(conf, key, value, errstr, errstr_size);
}
