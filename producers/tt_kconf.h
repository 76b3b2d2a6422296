/*
 * tt_kconf: librdkafka configuration objects built from `struct
 * tt_conf_kafka`.
 *
 * Every Kafka client of twotime (producers, consumers, the admin client)
 * starts from tt_kconf_new(): bootstrap.servers and client.id from the
 * configuration, then each pass-through property of kafka.properties (TLS,
 * SASL, tuning) in order.
 *
 * Role prefixes (as Kafka Streams' "consumer."/"producer."/"admin."): a
 * property named "consumer.session.timeout.ms" applies to consumers only,
 * as session.timeout.ms, and likewise "producer." and "admin."; an
 * unprefixed one applies to every client.  A prefixed property wins over
 * the unprefixed one of the same name whatever their order.  So consumer
 * settings do not make every producer warn that it ignores them.  No
 * librdkafka property name starts with these prefixes.
 *
 * A client then pins what its correctness depends on with
 * tt_kconf_require_role() (enable.idempotence, partitioner, ...), which
 * refuses a pass-through property that contradicts it instead of silently
 * overriding either.  The role-less forms (tt_kconf_new(), ...) see only the
 * unprefixed properties.
 *
 * Secrets: the values of properties that tt_conf_is_secret() names
 * (passwords, keys, tokens) never appear in an errstr written here, not even
 * when librdkafka rejects them; only their names do.
 *
 * Thread-safety: a rd_kafka_conf_t is not thread-safe; build it on one thread
 * and hand it to rd_kafka_new(), which takes it.
 */
#ifndef TT_KCONF_H
#define TT_KCONF_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "common/tt_err.h"
#include "conf/tt_conf.h"

enum tt_kconf_role {
    TT_KCONF_ANY, /* unprefixed properties only */
    TT_KCONF_PRODUCER,
    TT_KCONF_CONSUMER,
    TT_KCONF_ADMIN,
};

/*
 * A new librdkafka configuration for a client of `role` in `*out`:
 * bootstrap.servers = kc->brokers, client.id = kc->client_id, then the
 * unprefixed kc->props in order, then those with the role's prefix (a later
 * one of the same name wins).  The caller owns `*out`
 * (rd_kafka_conf_destroy(), or rd_kafka_new() takes it).  TT_ERR_CONF names
 * the property that failed.
 */
tt_err_t tt_kconf_new_role(rd_kafka_conf_t **out,
                           const struct tt_conf_kafka *kc,
                           enum tt_kconf_role role, char *errstr,
                           size_t errstr_size);

/* tt_kconf_new_role() for TT_KCONF_ANY: role-prefixed properties are left
 * out.  Prefer the role form for a client of one role. */
tt_err_t tt_kconf_new(rd_kafka_conf_t **out, const struct tt_conf_kafka *kc,
                      char *errstr, size_t errstr_size);

/*
 * Sets one property.  Unknown names and invalid values fail with
 * TT_ERR_CONF and a message that names the property; the value is quoted
 * only when the property is not a secret.
 */
tt_err_t tt_kconf_set(rd_kafka_conf_t *conf, const char *key,
                      const char *value, char *errstr, size_t errstr_size);

/*
 * Sets a property that the caller's guarantees depend on (`why` says which,
 * e.g. "the event producer"): if kc->props sets `key` for `role` (prefixed
 * or not) to a value librdkafka reads differently from `value`, fails with
 * TT_ERR_CONF naming both; otherwise sets it.  Equivalent spellings ("all"
 * and "-1" for acks) agree.
 */
tt_err_t tt_kconf_require_role(rd_kafka_conf_t *conf,
                               const struct tt_conf_kafka *kc,
                               enum tt_kconf_role role, const char *key,
                               const char *value, const char *why,
                               char *errstr, size_t errstr_size);

/* tt_kconf_require_role() for TT_KCONF_ANY. */
tt_err_t tt_kconf_require(rd_kafka_conf_t *conf,
                          const struct tt_conf_kafka *kc, const char *key,
                          const char *value, const char *why, char *errstr,
                          size_t errstr_size);

/*
 * Sets a default that kafka.properties may override: sets `key` only when
 * kc->props does not mention it for `role` (prefixed or not).
 */
tt_err_t tt_kconf_default_role(rd_kafka_conf_t *conf,
                               const struct tt_conf_kafka *kc,
                               enum tt_kconf_role role, const char *key,
                               const char *value, char *errstr,
                               size_t errstr_size);

/* tt_kconf_default_role() for TT_KCONF_ANY. */
tt_err_t tt_kconf_default(rd_kafka_conf_t *conf,
                          const struct tt_conf_kafka *kc, const char *key,
                          const char *value, char *errstr,
                          size_t errstr_size);

/* The value kc->props gives `key` for a client of `role` (the prefixed
 * property if any, else the unprefixed one; the last one when repeated),
 * or NULL. */
const char *tt_kconf_prop_role(const struct tt_conf_kafka *kc,
                               enum tt_kconf_role role, const char *key);

/* tt_kconf_prop_role() for TT_KCONF_ANY: the unprefixed property only. */
const char *tt_kconf_prop(const struct tt_conf_kafka *kc, const char *key);

/* The prefix of `role`'s properties ("consumer." ...; "" for ANY). */
const char *tt_kconf_role_prefix(enum tt_kconf_role role);

#endif
