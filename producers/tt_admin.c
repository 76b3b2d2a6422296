#include "producers/tt_admin.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "common/tt_time.h"
#include "producers/tt_kconf.h"

struct tt_admin_s {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q; /* results of admin requests */
};

/* Pause between two looks at metadata that is not ready yet. */
#define ADMIN_RETRY_MS 100

static uint64_t deadline_after(int timeout_ms)
{
    return tt_time_mono_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) *
                                   UINT64_C(1000000);
}

/* Milliseconds left until `deadline`, at least 1 so that librdkafka calls
 * still make one attempt. */
static int remaining_ms(uint64_t deadline)
{
    uint64_t now = tt_time_mono_ns();

    if (now >= deadline)
        return 1;
    return (int)((deadline - now) / UINT64_C(1000000)) + 1;
}

static bool expired(uint64_t deadline)
{
    return tt_time_mono_ns() >= deadline;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

tt_err_t tt_admin_new(tt_admin_t **out, const struct tt_conf_kafka *kc,
                      char *errstr, size_t errstr_size)
{
    char rderr[512];
    rd_kafka_conf_t *conf;
    tt_admin_t *admin;
    tt_err_t err;

    *out = NULL;
    admin = calloc(1, sizeof(*admin));
    if (!admin)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "admin: no memory");
    err = tt_kconf_new_role(&conf, kc, TT_KCONF_ADMIN, errstr,
                            errstr_size);
    if (err)
        goto out_free;
    /* The admin client is a producer handle that never produces. */
    admin->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rderr, sizeof(rderr));
    if (!admin->rk) {
        rd_kafka_conf_destroy(conf);
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                      "admin client: %s", rderr);
        goto out_free;
    }
    admin->q = rd_kafka_queue_new(admin->rk);
    if (!admin->q) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                      "admin client: no queue");
        goto out_destroy;
    }
    *out = admin;
    return TT_ERR_OK;
out_destroy:
    rd_kafka_destroy(admin->rk);
out_free:
    free(admin);
    return err;
}

void tt_admin_destroy(tt_admin_t *admin)
{
    if (!admin)
        return;
    rd_kafka_queue_destroy(admin->q);
    rd_kafka_destroy(admin->rk);
    free(admin);
}

/* Fetches the metadata of one topic into `*md`. */
static tt_err_t topic_metadata(tt_admin_t *admin, const char *topic,
                               int timeout_ms,
                               const struct rd_kafka_metadata **md,
                               char *errstr, size_t errstr_size)
{
    rd_kafka_topic_t *rkt;
    rd_kafka_resp_err_t rerr;

    rkt = rd_kafka_topic_new(admin->rk, topic, NULL);
    if (!rkt)
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size, "topic \"%s\": %s",
                       topic, rd_kafka_err2str(rd_kafka_last_error()));
    rerr = rd_kafka_metadata(admin->rk, 0, rkt, md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (rerr == RD_KAFKA_RESP_ERR__TIMED_OUT ||
        rerr == RD_KAFKA_RESP_ERR__TRANSPORT)
        return tt_errf(TT_ERR_TIMEOUT, errstr, errstr_size,
                       "no metadata for topic \"%s\" within %d ms: %s "
                       "(is the broker running?)",
                       topic, timeout_ms, rd_kafka_err2str(rerr));
    if (rerr)
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                       "metadata for topic \"%s\": %s", topic,
                       rd_kafka_err2str(rerr));
    if ((*md)->topic_cnt != 1) {
        int cnt = (*md)->topic_cnt;

        rd_kafka_metadata_destroy(*md);
        *md = NULL;
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                       "metadata for topic \"%s\" lists %d topics", topic,
                       cnt);
    }
    return TT_ERR_OK;
}

/* Errors of a partition that is still being set up or moving. */
static bool transient(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
        return true;
    default:
        return false;
    }
}

/* The watermarks of one partition, retrying transient errors (a partition
 * just created is in the metadata before its leader serves it) until
 * `deadline`. */
static rd_kafka_resp_err_t watermarks(tt_admin_t *admin, const char *topic,
                                      int32_t partition, int64_t *low,
                                      int64_t *high, uint64_t deadline)
{
    rd_kafka_resp_err_t rerr;

    for (;;) {
        rerr = rd_kafka_query_watermark_offsets(admin->rk, topic, partition,
                                                low, high,
                                                remaining_ms(deadline));
        if (!rerr || !transient(rerr) || expired(deadline))
            return rerr;
        sleep_ms(ADMIN_RETRY_MS);
    }
}

/* Partition count of `topic`, or TT_ERR_NOTFOUND; `*ready` (may be NULL)
 * tells whether every partition has a leader and no error. */
static tt_err_t topic_state(tt_admin_t *admin, const char *topic,
                            int timeout_ms, int *n, bool *ready, char *errstr,
                            size_t errstr_size)
{
    const struct rd_kafka_metadata *md;
    const struct rd_kafka_metadata_topic *t;
    tt_err_t err;

    err = topic_metadata(admin, topic, timeout_ms, &md, errstr, errstr_size);
    if (err)
        return err;
    t = &md->topics[0];
    if (t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        err = tt_errf(TT_ERR_NOTFOUND, errstr, errstr_size,
                      "topic \"%s\" does not exist", topic);
        goto out;
    }
    *n = t->partition_cnt;
    if (ready) {
        *ready = !t->err && t->partition_cnt > 0;
        for (int i = 0; i < t->partition_cnt; i++) {
            if (t->partitions[i].err || t->partitions[i].leader < 0)
                *ready = false;
        }
    } else if (t->err) {
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size, "topic \"%s\": %s",
                      topic, rd_kafka_err2str(t->err));
    }
out:
    rd_kafka_metadata_destroy(md);
    return err;
}

tt_err_t tt_admin_partitions(tt_admin_t *admin, const char *topic,
                             int timeout_ms, int *n, char *errstr,
                             size_t errstr_size)
{
    return topic_state(admin, topic, timeout_ms, n, NULL, errstr,
                       errstr_size);
}

/* Waits for one admin result event of `type`; NULL with errstr set when
 * none comes in time. */
static rd_kafka_event_t *wait_result(tt_admin_t *admin,
                                     rd_kafka_event_type_t type,
                                     uint64_t deadline, const char *what,
                                     char *errstr, size_t errstr_size)
{
    rd_kafka_event_t *ev;

    for (;;) {
        ev = rd_kafka_queue_poll(admin->q, remaining_ms(deadline));
        if (!ev) {
            tt_errf(TT_ERR_TIMEOUT, errstr, errstr_size,
                    "%s: no answer from the cluster in time (is the broker "
                    "running?)",
                    what);
            return NULL;
        }
        if (rd_kafka_event_type(ev) == type)
            return ev;
        rd_kafka_event_destroy(ev);
    }
}

static rd_kafka_AdminOptions_t *admin_options(tt_admin_t *admin,
                                              rd_kafka_admin_op_t op,
                                              uint64_t deadline)
{
    rd_kafka_AdminOptions_t *opts;
    char rderr[256];
    int ms = remaining_ms(deadline);

    opts = rd_kafka_AdminOptions_new(admin->rk, op);
    if (!opts)
        return NULL;
    rd_kafka_AdminOptions_set_request_timeout(opts, ms, rderr, sizeof(rderr));
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS ||
        op == RD_KAFKA_ADMIN_OP_DELETETOPICS)
        rd_kafka_AdminOptions_set_operation_timeout(opts, ms, rderr,
                                                    sizeof(rderr));
    return opts;
}

/* Sends CreateTopics for `spec`; `*exists` tells an existing topic. */
static tt_err_t create_request(tt_admin_t *admin,
                               const struct tt_topic_spec *spec,
                               uint64_t deadline, bool *exists, char *errstr,
                               size_t errstr_size)
{
    char rderr[512];
    rd_kafka_NewTopic_t *nt;
    rd_kafka_AdminOptions_t *opts;
    rd_kafka_event_t *ev;
    const rd_kafka_CreateTopics_result_t *res;
    const rd_kafka_topic_result_t **tr;
    size_t cnt;
    rd_kafka_resp_err_t rerr;
    tt_err_t err = TT_ERR_OK;

    *exists = false;
    nt = rd_kafka_NewTopic_new(spec->name, spec->partitions, spec->replication,
                               rderr, sizeof(rderr));
    if (!nt)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size, "topic \"%s\": %s",
                       spec->name, rderr);
    for (size_t i = 0; i < spec->n_configs; i++) {
        rerr = rd_kafka_NewTopic_set_config(nt, spec->configs[i].key,
                                            spec->configs[i].value);
        if (rerr) {
            err = tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                          "topic \"%s\": config %s: %s", spec->name,
                          spec->configs[i].key, rd_kafka_err2str(rerr));
            goto out_topic;
        }
    }
    opts = admin_options(admin, RD_KAFKA_ADMIN_OP_CREATETOPICS, deadline);
    if (!opts) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "admin options");
        goto out_topic;
    }
    rd_kafka_CreateTopics(admin->rk, &nt, 1, opts, admin->q);
    rd_kafka_AdminOptions_destroy(opts);
    ev = wait_result(admin, RD_KAFKA_EVENT_CREATETOPICS_RESULT, deadline,
                     "creating a topic", errstr, errstr_size);
    if (!ev) {
        err = TT_ERR_TIMEOUT;
        goto out_topic;
    }
    if (rd_kafka_event_error(ev)) {
        err = tt_errf(rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__TIMED_OUT
                          ? TT_ERR_TIMEOUT
                          : TT_ERR_KAFKA,
                      errstr, errstr_size, "creating topic \"%s\": %s",
                      spec->name, rd_kafka_event_error_string(ev));
        goto out_event;
    }
    res = rd_kafka_event_CreateTopics_result(ev);
    tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
    if (cnt != 1) {
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                      "creating topic \"%s\": %zu results", spec->name, cnt);
        goto out_event;
    }
    rerr = rd_kafka_topic_result_error(tr[0]);
    if (rerr == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        *exists = true;
    } else if (rerr) {
        const char *msg = rd_kafka_topic_result_error_string(tr[0]);

        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                      "creating topic \"%s\" (%d partitions): %s%s%s",
                      spec->name, spec->partitions, rd_kafka_err2str(rerr),
                      msg ? ": " : "", msg ? msg : "");
    }
out_event:
    rd_kafka_event_destroy(ev);
out_topic:
    rd_kafka_NewTopic_destroy(nt);
    return err;
}

/* Compares the configs of an existing topic with spec's. */
static tt_err_t check_configs(tt_admin_t *admin,
                              const struct tt_topic_spec *spec,
                              uint64_t deadline, char *errstr,
                              size_t errstr_size)
{
    rd_kafka_ConfigResource_t *cr;
    rd_kafka_AdminOptions_t *opts;
    rd_kafka_event_t *ev;
    const rd_kafka_DescribeConfigs_result_t *res;
    const rd_kafka_ConfigResource_t **rs;
    const rd_kafka_ConfigEntry_t **ents;
    size_t n_rs, n_ents;
    tt_err_t err = TT_ERR_OK;

    if (spec->n_configs == 0)
        return TT_ERR_OK;
    cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, spec->name);
    opts = admin_options(admin, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, deadline);
    if (!cr || !opts) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "describe configs");
        goto out;
    }
    rd_kafka_DescribeConfigs(admin->rk, &cr, 1, opts, admin->q);
    ev = wait_result(admin, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, deadline,
                     "describing topic configs", errstr, errstr_size);
    if (!ev) {
        err = TT_ERR_TIMEOUT;
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                      "describing topic \"%s\": %s", spec->name,
                      rd_kafka_event_error_string(ev));
        goto out_event;
    }
    res = rd_kafka_event_DescribeConfigs_result(ev);
    rs = rd_kafka_DescribeConfigs_result_resources(res, &n_rs);
    if (n_rs != 1 || rd_kafka_ConfigResource_error(rs[0])) {
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                      "describing topic \"%s\": %s", spec->name,
                      n_rs == 1 ? rd_kafka_ConfigResource_error_string(rs[0])
                                : "no result");
        goto out_event;
    }
    ents = rd_kafka_ConfigResource_configs(rs[0], &n_ents);
    for (size_t i = 0; i < spec->n_configs && !err; i++) {
        const char *want = spec->configs[i].value, *have = NULL;
        bool known = false;

        for (size_t j = 0; j < n_ents; j++) {
            if (!strcmp(rd_kafka_ConfigEntry_name(ents[j]),
                        spec->configs[i].key)) {
                known = true;
                have = rd_kafka_ConfigEntry_value(ents[j]);
            }
        }
        if (!known || !have || strcmp(have, want) != 0)
            err = tt_errf(TT_ERR_CONF, errstr, errstr_size,
                          "topic \"%s\" exists with %s=%s, twotime needs "
                          "%s=%s: change the topic (kafka-configs.sh "
                          "--alter) or use another topic",
                          spec->name, spec->configs[i].key,
                          have ? have : "(unset)", spec->configs[i].key, want);
    }
out_event:
    rd_kafka_event_destroy(ev);
out:
    if (opts)
        rd_kafka_AdminOptions_destroy(opts);
    if (cr)
        rd_kafka_ConfigResource_destroy(cr);
    return err;
}

/* True when every partition's leader answers an offsets request. */
static bool leaders_answer(tt_admin_t *admin, const char *topic, int n,
                           uint64_t deadline)
{
    int64_t low, high;

    for (int32_t p = 0; p < n; p++) {
        if (watermarks(admin, topic, p, &low, &high, deadline))
            return false;
    }
    return true;
}

tt_err_t tt_admin_create_topic(tt_admin_t *admin,
                               const struct tt_topic_spec *spec,
                               unsigned flags, int timeout_ms, bool *created,
                               char *errstr, size_t errstr_size)
{
    uint64_t deadline = deadline_after(timeout_ms);
    bool exists, ready = false;
    int n = 0;
    tt_err_t err;

    if (created)
        *created = false;
    if (!spec->name || !*spec->name ||
        strlen(spec->name) > TT_ADMIN_TOPIC_MAX)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "topic name must be 1..%d characters",
                       TT_ADMIN_TOPIC_MAX);
    if (spec->partitions < 1)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "topic \"%s\": %d partitions, need at least 1",
                       spec->name, spec->partitions);
    err = create_request(admin, spec, deadline, &exists, errstr, errstr_size);
    if (err)
        return err;
    if (created)
        *created = !exists;
    for (;;) {
        err = topic_state(admin, spec->name, remaining_ms(deadline), &n,
                          &ready, errstr, errstr_size);
        /* A topic just created may not be in the metadata yet. */
        if (err && err != TT_ERR_NOTFOUND)
            return err;
        if (!err && n > 0 && n != spec->partitions)
            return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                           "topic \"%s\" exists with %d partitions, not the "
                           "%d requested: users would map to other "
                           "partitions than expected; use another topic or "
                           "ask for %d",
                           spec->name, n, spec->partitions, n);
        if (!err && ready)
            ready = leaders_answer(admin, spec->name, n, deadline);
        if (!err && ready)
            break;
        if (expired(deadline))
            return tt_errf(TT_ERR_TIMEOUT, errstr, errstr_size,
                           "topic \"%s\": partitions without a leader after "
                           "%d ms",
                           spec->name, timeout_ms);
        sleep_ms(ADMIN_RETRY_MS);
    }
    if (exists && (flags & TT_ADMIN_CHECK_CONFIGS))
        return check_configs(admin, spec, deadline, errstr, errstr_size);
    return TT_ERR_OK;
}

tt_err_t tt_admin_delete_topic(tt_admin_t *admin, const char *topic,
                               int timeout_ms, char *errstr,
                               size_t errstr_size)
{
    uint64_t deadline = deadline_after(timeout_ms);
    rd_kafka_DeleteTopic_t *dt;
    rd_kafka_AdminOptions_t *opts;
    rd_kafka_event_t *ev;
    const rd_kafka_topic_result_t **tr;
    size_t cnt;
    rd_kafka_resp_err_t rerr;
    tt_err_t err = TT_ERR_OK;

    dt = rd_kafka_DeleteTopic_new(topic);
    opts = admin_options(admin, RD_KAFKA_ADMIN_OP_DELETETOPICS, deadline);
    if (!dt || !opts) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "delete topic");
        goto out;
    }
    rd_kafka_DeleteTopics(admin->rk, &dt, 1, opts, admin->q);
    ev = wait_result(admin, RD_KAFKA_EVENT_DELETETOPICS_RESULT, deadline,
                     "deleting a topic", errstr, errstr_size);
    if (!ev) {
        err = TT_ERR_TIMEOUT;
        goto out;
    }
    rerr = rd_kafka_event_error(ev);
    if (!rerr) {
        tr = rd_kafka_DeleteTopics_result_topics(
            rd_kafka_event_DeleteTopics_result(ev), &cnt);
        rerr = cnt == 1 ? rd_kafka_topic_result_error(tr[0])
                        : RD_KAFKA_RESP_ERR__FAIL;
    }
    if (rerr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        err = tt_errf(TT_ERR_NOTFOUND, errstr, errstr_size,
                      "topic \"%s\" does not exist", topic);
    else if (rerr)
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                      "deleting topic \"%s\": %s", topic,
                      rd_kafka_err2str(rerr));
    rd_kafka_event_destroy(ev);
out:
    if (opts)
        rd_kafka_AdminOptions_destroy(opts);
    if (dt)
        rd_kafka_DeleteTopic_destroy(dt);
    return err;
}

tt_err_t tt_admin_describe(tt_admin_t *admin, const char *topic,
                           struct tt_partition_info *parts, int cap, int *n,
                           int timeout_ms, char *errstr, size_t errstr_size)
{
    uint64_t deadline = deadline_after(timeout_ms);
    const struct rd_kafka_metadata *md;
    const struct rd_kafka_metadata_topic *t;
    rd_kafka_resp_err_t rerr;
    tt_err_t err;

    *n = 0;
    err = topic_metadata(admin, topic, timeout_ms, &md, errstr, errstr_size);
    if (err)
        return err;
    t = &md->topics[0];
    if (t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        err = tt_errf(TT_ERR_NOTFOUND, errstr, errstr_size,
                      "topic \"%s\" does not exist", topic);
        goto out;
    }
    if (t->err) {
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size, "topic \"%s\": %s",
                      topic, rd_kafka_err2str(t->err));
        goto out;
    }
    *n = t->partition_cnt;
    for (int i = 0; i < t->partition_cnt; i++) {
        const struct rd_kafka_metadata_partition *mp = &t->partitions[i];
        struct tt_partition_info *pi;

        /* Partition ids are 0..n-1; metadata lists them in any order. */
        if (mp->id < 0 || mp->id >= cap)
            continue;
        pi = &parts[mp->id];
        pi->id = mp->id;
        pi->leader = mp->leader;
        pi->replicas = mp->replica_cnt;
        pi->isr = mp->isr_cnt;
        rerr = watermarks(admin, topic, mp->id, &pi->low, &pi->high,
                          deadline);
        if (rerr) {
            err = tt_errf(rerr == RD_KAFKA_RESP_ERR__TIMED_OUT
                              ? TT_ERR_TIMEOUT
                              : TT_ERR_KAFKA,
                          errstr, errstr_size,
                          "offsets of topic \"%s\" partition %d: %s", topic,
                          (int)mp->id, rd_kafka_err2str(rerr));
            goto out;
        }
    }
out:
    rd_kafka_metadata_destroy(md);
    return err;
}

tt_err_t tt_admin_list_topics(tt_admin_t *admin,
                              void (*fn)(void *arg, const char *name,
                                         int partitions),
                              void *arg, int timeout_ms, char *errstr,
                              size_t errstr_size)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t rerr;

    rerr = rd_kafka_metadata(admin->rk, 1, NULL, &md, timeout_ms);
    if (rerr)
        return tt_errf(rerr == RD_KAFKA_RESP_ERR__TIMED_OUT ||
                               rerr == RD_KAFKA_RESP_ERR__TRANSPORT
                           ? TT_ERR_TIMEOUT
                           : TT_ERR_KAFKA,
                       errstr, errstr_size, "listing topics: %s",
                       rd_kafka_err2str(rerr));
    for (int i = 0; i < md->topic_cnt; i++) {
        if (!md->topics[i].err)
            fn(arg, md->topics[i].topic, md->topics[i].partition_cnt);
    }
    rd_kafka_metadata_destroy(md);
    return TT_ERR_OK;
}

bool tt_admin_reachable(tt_admin_t *admin, int timeout_ms)
{
    const struct rd_kafka_metadata *md;

    if (rd_kafka_metadata(admin->rk, 0, NULL, &md, timeout_ms))
        return false;
    rd_kafka_metadata_destroy(md);
    return true;
}
