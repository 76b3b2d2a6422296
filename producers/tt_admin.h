/*
 * tt_admin: the topics twotime needs, created idempotently, and what the
 * cluster knows about them.
 *
 * tt_admin_create_topic() may run at every start: a topic that already
 * exists with the requested partition count is success, one with another
 * count is a clear TT_ERR_CONF (records keyed by user id would land on other
 * partitions than the state built for them), and on request the topic
 * configs (cleanup.policy=compact...) are checked the same way.  It returns
 * only once the metadata shows every partition with a leader, so that a
 * producer or consumer started next does not race the creation.
 *
 * Thread-safety: one tt_admin_t per thread (each call waits on its own
 * queue; librdkafka itself is thread-safe underneath).
 */
#ifndef TT_ADMIN_H
#define TT_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "conf/tt_conf.h"

typedef struct tt_admin_s tt_admin_t;

/* Also check the configs of a topic that already exists. */
#define TT_ADMIN_CHECK_CONFIGS 0x1u

/* Longest topic name Kafka accepts. */
#define TT_ADMIN_TOPIC_MAX 249

struct tt_topic_spec {
    const char *name;
    int partitions;
    int replication;                 /* -1: the broker's default */
    const struct tt_conf_kv *configs; /* topic configs, may be NULL */
    size_t n_configs;
};

struct tt_partition_info {
    int32_t id;
    int32_t leader;     /* broker id, -1 when leaderless */
    int replicas;
    int isr;            /* in-sync replicas */
    int64_t low;        /* first offset still in the log */
    int64_t high;       /* offset the next record will get */
};

/* A new admin client over kc (brokers, client id, pass-through properties).
 * Does not contact the cluster yet. */
tt_err_t tt_admin_new(tt_admin_t **out, const struct tt_conf_kafka *kc,
                      char *errstr, size_t errstr_size);

/* Frees the client; NULL is a no-op. */
void tt_admin_destroy(tt_admin_t *admin);

/*
 * Creates the topic `spec` unless it exists, then waits until its metadata
 * shows every partition with a leader, all within timeout_ms.  `*created`
 * (may be NULL) tells whether this call created it.  An existing topic with
 * another partition count fails with TT_ERR_CONF; with `flags` &
 * TT_ADMIN_CHECK_CONFIGS so does one whose configs differ from spec's.
 * TT_ERR_TIMEOUT when the cluster does not answer in time.
 */
tt_err_t tt_admin_create_topic(tt_admin_t *admin,
                               const struct tt_topic_spec *spec,
                               unsigned flags, int timeout_ms, bool *created,
                               char *errstr, size_t errstr_size);

/* Deletes `topic`; TT_ERR_NOTFOUND when it does not exist. */
tt_err_t tt_admin_delete_topic(tt_admin_t *admin, const char *topic,
                               int timeout_ms, char *errstr,
                               size_t errstr_size);

/* The partition count of `topic` in `*n`; TT_ERR_NOTFOUND when the topic
 * does not exist. */
tt_err_t tt_admin_partitions(tt_admin_t *admin, const char *topic,
                             int timeout_ms, int *n, char *errstr,
                             size_t errstr_size);

/*
 * Describes the partitions of `topic` into parts[0..cap) in partition
 * order, watermarks included, and their number in `*n` (which may exceed
 * cap: then only cap were written).  TT_ERR_NOTFOUND when the topic does
 * not exist.
 */
tt_err_t tt_admin_describe(tt_admin_t *admin, const char *topic,
                           struct tt_partition_info *parts, int cap, int *n,
                           int timeout_ms, char *errstr, size_t errstr_size);

/* Calls fn(arg, name, partitions) for every topic in the cluster, internal
 * ones ("__consumer_offsets") included. */
tt_err_t tt_admin_list_topics(tt_admin_t *admin,
                              void (*fn)(void *arg, const char *name,
                                         int partitions),
                              void *arg, int timeout_ms, char *errstr,
                              size_t errstr_size);

/* True when the cluster answers a metadata request within timeout_ms. */
bool tt_admin_reachable(tt_admin_t *admin, int timeout_ms);

#endif
