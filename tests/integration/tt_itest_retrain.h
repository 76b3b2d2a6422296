/*
 * tt_itest_retrain: what the retraining and live-backtest integration tests
 * (tests/integration/test_retrain.c, test_live_backtest.c) share: a
 * scratch setup (unique topic names, a temporary directory, the settings
 * every child process gets; rt_init_with for other batch settings),
 * running the twotime program with them (tt_itest.h), waiting for the
 * stream's commits and its log, synthetic models, publishing a model and
 * catching up with the model topic.
 *
 * Header-only (static inline): tests/CMakeLists.txt compiles each
 * integration test with tt_itest.c alone.  Call from the test's thread
 * (the helpers fail the current cmocka test on error).
 */
#ifndef TT_ITEST_RETRAIN_H
#define TT_ITEST_RETRAIN_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tt_rng.h"
#include "common/tt_time.h"
#include "consumers/tt_modelsub.h"
#include "model/tt_model.h"
#include "model/tt_model_int.h"
#include "producers/tt_modelpub.h"
#include "tests/integration/tt_itest.h"

#define PARTS 4
#define SETS_MAX 48
#define TS0 INT64_C(1700000000000)
#define TS_STEP 1000

/* ---- setup ------------------------------------------------------------- */

struct rt {
    struct tt_conf conf;
    char in[TT_ITEST_NAME_MAX], out[TT_ITEST_NAME_MAX];
    char cl[TT_ITEST_NAME_MAX], dlq[TT_ITEST_NAME_MAX];
    char models[TT_ITEST_NAME_MAX], group[TT_ITEST_NAME_MAX];
    char dir[128];
    char sets[SETS_MAX][320];
    int n_sets;
};

static inline void rt_set(struct rt *t, const char *key, const char *value)
{
    char errstr[256], kv[sizeof(t->sets[0])];

    assert_true(t->n_sets < SETS_MAX);
    snprintf(kv, sizeof(kv), "%s=%s", key, value);
    memcpy(t->sets[t->n_sets++], kv, sizeof(kv));
    if (tt_conf_set(&t->conf, key, value, errstr, sizeof(errstr)))
        fail_msg("setting %s: %s", key, errstr);
}

/* How rt_init_with() differs between the tests that share it. */
struct rt_params {
    const char *dir_tag;    /* the scratch directory /tmp/tt-<tag>-test-* */
    const char *batch_max;  /* kafka.batch_max */
    const char *batch_ms;   /* kafka.batch_ms (NULL: the default) */
    const char *negatives;  /* eval.negatives (NULL: the default) */
};

/* Unique topic and group names from `prefix`, a scratch directory, and the
 * settings every child gets: a 4-partition broker setup, a small state
 * store, a small fast model (D 16, 3 + 2 epochs), then p's. */
static inline void rt_init_with(struct rt *t, const char *prefix,
                                const struct rt_params *p)
{
    char buf[64], path[256];

    memset(t, 0, sizeof(*t));
    tt_itest_conf(&t->conf);
#define NAME(field, suffix)                                                    \
    snprintf(buf, sizeof(buf), "%s-" suffix, prefix);                         \
    tt_itest_name(t->field, sizeof(t->field), buf)
    NAME(in, "in");
    NAME(out, "out");
    NAME(cl, "cl");
    NAME(dlq, "dlq");
    NAME(models, "models");
    NAME(group, "g");
#undef NAME
    snprintf(t->dir, sizeof(t->dir), "/tmp/tt-%s-test-XXXXXX", p->dir_tag);
    assert_non_null(mkdtemp(t->dir));
    rt_set(t, "kafka.brokers", tt_itest_brokers());
    rt_set(t, "kafka.input_topic", t->in);
    rt_set(t, "kafka.output_topic", t->out);
    rt_set(t, "kafka.changelog_topic", t->cl);
    rt_set(t, "kafka.dead_letter_topic", t->dlq);
    rt_set(t, "kafka.model_topic", t->models);
    rt_set(t, "kafka.group_id", t->group);
    rt_set(t, "kafka.partitions", "4");
    rt_set(t, "kafka.batch_max", p->batch_max);
    if (p->batch_ms)
        rt_set(t, "kafka.batch_ms", p->batch_ms);
    rt_set(t, "kafka.properties.consumer.heartbeat.interval.ms", "300");
    rt_set(t, "kafka.properties.consumer.session.timeout.ms", "6000");
    snprintf(path, sizeof(path), "%s/state", t->dir);
    rt_set(t, "state.path", path);
    rt_set(t, "state.cache_mb", "8");
    rt_set(t, "state.write_buffer_mb", "8");
    rt_set(t, "metrics.port", "0");
    rt_set(t, "model.dim", "16");
    rt_set(t, "model.tstar", "10");
    rt_set(t, "model.k", "4");
    rt_set(t, "train.epochs1", "3");
    rt_set(t, "train.epochs2", "2");
    if (p->negatives)
        rt_set(t, "eval.negatives", p->negatives);
}

/* The retraining tests' setup: batches of 300 within 100 ms, 99 negatives
 * an evaluated interaction. */
static inline void rt_init(struct rt *t, const char *prefix)
{
    static const struct rt_params p = {"retrain", "300", "100", "99"};

    rt_init_with(t, prefix, &p);
}

static inline void rt_release(struct rt *t)
{
    char cmd[256];

    tt_itest_delete_topic(&t->conf.kafka, t->in);
    tt_itest_delete_topic(&t->conf.kafka, t->out);
    tt_itest_delete_topic(&t->conf.kafka, t->cl);
    tt_itest_delete_topic(&t->conf.kafka, t->dlq);
    tt_itest_delete_topic(&t->conf.kafka, t->models);
    tt_conf_release(&t->conf);
    if (getenv("TT_TEST_KEEP") && *getenv("TT_TEST_KEEP")) {
        fprintf(stderr, "kept %s\n", t->dir);
        return;
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", t->dir);
}

/* Runs `twotime <cmd> extra... --set <each setting>` (no settings for
 * `gen`, which takes none) in <dir>, so that relative paths name files
 * there, with stderr and stdout appended to <dir>/<log>; returns the
 * child's pid. */
static inline pid_t rt_spawn(const struct rt *t, const char *const *extra,
                             const char *log)
{
    const char *sets[SETS_MAX];
    char path[256];

    for (int i = 0; i < t->n_sets; i++)
        sets[i] = t->sets[i];
    snprintf(path, sizeof(path), "%s/%s", t->dir, log);
    return tt_itest_spawn_in(t->dir, extra, sets,
                             strcmp(extra[0], "gen") ? t->n_sets : 0, path);
}

/* Runs a command to its end (at most timeout_s); returns its exit
 * status. */
static inline int rt_run(const struct rt *t, const char *const *extra,
                         const char *log, double timeout_s)
{
    return tt_itest_wait(rt_spawn(t, extra, log), timeout_s);
}

/* <dir>/<log> to stderr. */
static inline void dump_log(const struct rt *t, const char *log)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", t->dir, log);
    tt_itest_dump_file(path);
}

/* Whether a line of <dir>/<log> contains `what`. */
static inline bool log_has(const struct rt *t, const char *log,
                           const char *what)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", t->dir, log);
    return tt_itest_file_has(path, what);
}

/* Runs a command to its end (at most timeout_s) and asserts its exit
 * status is `want`; the log goes to stderr when it is not. */
static inline void rt_ok(const struct rt *t, const char *const *extra,
                         const char *log, int want, double timeout_s)
{
    int rc = rt_run(t, extra, log, timeout_s);

    if (rc != want)
        dump_log(t, log);
    assert_int_equal(rc, want);
}

/* Stops a running command with SIGTERM and asserts that it exits 0 within
 * a minute. */
static inline void rt_stop(const struct rt *t, pid_t pid, const char *log)
{
    int rc;

    kill(pid, SIGTERM);
    rc = tt_itest_wait(pid, 60);
    if (rc != 0)
        dump_log(t, log);
    assert_int_equal(rc, 0);
}

/* Waits at most timeout_s for a line of <dir>/<log> that contains `what`;
 * returns whether one came. */
static inline bool rt_wait_log(const struct rt *t, const char *log,
                               const char *what, double timeout_s)
{
    uint64_t t0 = tt_time_mono_ns();

    while (!log_has(t, log, what) &&
           tt_time_secs(t0, tt_time_mono_ns()) < timeout_s)
        usleep(100000);
    return log_has(t, log, what);
}

/* Committed offsets of the stream's group, summed over the input (-1 when
 * the broker does not say). */
static inline int64_t committed_sum(const struct rt *t)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_t *rk;
    char err[256];
    int64_t sum = 0;

    rd_kafka_conf_set(conf, "bootstrap.servers", t->conf.kafka.brokers, err,
                      sizeof(err));
    rd_kafka_conf_set(conf, "group.id", t->group, err, sizeof(err));
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(rk);
    l = rd_kafka_topic_partition_list_new(PARTS);
    for (int p = 0; p < PARTS; p++)
        rd_kafka_topic_partition_list_add(l, t->in, p);
    if (rd_kafka_committed(rk, l, 10000))
        sum = -1;
    for (int i = 0; sum >= 0 && i < l->cnt; i++)
        if (l->elems[i].offset > 0)
            sum += l->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return sum;
}

/* Waits (at most timeout_s) until the stream has committed `want` input
 * records; fails the test with <dir>/<log> otherwise. */
static inline void wait_committed(const struct rt *t, int64_t want,
                                  const char *log, double timeout_s)
{
    uint64_t t0 = tt_time_mono_ns();
    int64_t sum;

    while ((sum = committed_sum(t)) < want &&
           tt_time_secs(t0, tt_time_mono_ns()) < timeout_s)
        usleep(200000);
    if (sum != want) {
        dump_log(t, log);
        fail_msg("the stream committed %lld of %lld events", (long long)sum,
                 (long long)want);
    }
}

/* ---- models ------------------------------------------------------------ */

static inline tt_model_t *make_model(uint32_t dim, uint32_t n_items,
                              uint32_t n_users, uint64_t seed)
{
    struct tt_model_parts parts;
    struct tt_rng rng;
    size_t nd = tt_model_dense_floats(dim, true);
    float *dense = malloc(nd * sizeof(float));
    float *items = malloc((size_t)n_items * dim * sizeof(float));
    float *phi = malloc(((size_t)n_users * dim + 1) * sizeof(float));
    int64_t *iid = malloc(n_items * sizeof(int64_t));
    int64_t *uid = malloc((n_users + 1) * sizeof(int64_t));
    struct tt_model_cutoff cuts[PARTS];
    tt_model_t *m = NULL;
    char err[256];

    assert_true(dense && items && phi && iid && uid);
    tt_rng_seed(&rng, seed, 1);
    for (size_t i = 0; i < nd; i++)
        dense[i] = (float)(0.3 * tt_rng_normal(&rng));
    for (size_t i = 0; i < (size_t)n_items * dim; i++)
        items[i] = (float)tt_rng_normal(&rng);
    for (size_t i = 0; i < (size_t)n_users * dim; i++)
        phi[i] = (float)tt_rng_normal(&rng);
    for (uint32_t i = 0; i < n_items; i++)
        iid[i] = (int64_t)i * 3 + 1;
    for (uint32_t i = 0; i < n_users; i++)
        uid[i] = (int64_t)(n_users - i) * 11;
    for (int p = 0; p < PARTS; p++) {
        cuts[p].partition = p;
        cuts[p].offset = 100 + p;
    }
    memset(&parts, 0, sizeof(parts));
    parts.dim = dim;
    parts.tstar = 10;
    parts.k = 4;
    parts.flags = TT_MODEL_FLAG_PLUS;
    parts.version = 1;
    parts.seed = seed;
    parts.cutoff_ts_ms = TS0;
    parts.n_items = n_items;
    parts.item_ids = iid;
    parts.items = items;
    parts.n_active = n_users;
    parts.user_ids = uid;
    parts.phi = phi;
    parts.dense = dense;
    parts.n_cutoffs = PARTS;
    parts.cutoffs = cuts;
    if (tt_model_build(&m, &parts, err, sizeof(err)))
        fail_msg("model: %s", err);
    free(dense);
    free(items);
    free(phi);
    free(iid);
    free(uid);
    return m;
}

static inline void assert_same_bytes(const tt_model_t *a, const tt_model_t *b)
{
    uint8_t *ba, *bb;
    size_t la, lb;

    assert_int_equal(tt_model_save_buf(a, &ba, &la), TT_ERR_OK);
    assert_int_equal(tt_model_save_buf(b, &bb, &lb), TT_ERR_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    free(ba);
    free(bb);
}

static inline uint64_t version_of(const tt_model_t *m)
{
    struct tt_model_info info;

    tt_model_get_info(m, &info);
    return info.version;
}

static inline void publish(const struct rt *t, const tt_model_t *m, uint64_t v,
                    const struct tt_modelpub_key *stale, size_t n_stale,
                    struct tt_modelpub_summary *sum)
{
    struct tt_modelpub_opts po;
    tt_modelpub_t *pub;
    char txn[TT_ITEST_NAME_MAX + 16], err[512];

    memset(&po, 0, sizeof(po));
    po.topic = t->models;
    snprintf(txn, sizeof(txn), "%s-pub", t->models);
    po.transactional_id = txn;
    if (tt_modelpub_new(&pub, &t->conf.kafka, &po, err, sizeof(err)))
        fail_msg("publisher: %s", err);
    if (tt_modelpub_publish(pub, m, v, stale, n_stale, sum, err,
                            sizeof(err)))
        fail_msg("publish v%llu: %s", (unsigned long long)v, err);
    tt_modelpub_destroy(pub);
}

/*
 * A fresh follower caught up: the newest complete version (or NULL).  A
 * publication is visible to read_committed readers only once its
 * transaction markers are written, a moment after the commit returns: try
 * again for a while until a version >= want shows (want 0: once).
 */
static inline tt_model_t *catch_up(const struct rt *t, tt_modelsub_t **keep,
                            struct tt_modelsub_stats *st, uint64_t want)
{
    uint64_t t0 = tt_time_mono_ns();

    for (;;) {
        struct tt_modelsub_opts so;
        tt_modelsub_t *sub;
        tt_model_t *m = NULL;
        char err[512];

        memset(&so, 0, sizeof(so));
        so.topic = t->models;
        if (tt_modelsub_new(&sub, &t->conf.kafka, &so, err, sizeof(err)))
            fail_msg("follower: %s", err);
        if (tt_modelsub_catch_up(sub, 60000, &m, err, sizeof(err)))
            fail_msg("catch-up: %s", err);
        if (want == 0 || (m && version_of(m) >= want) ||
            tt_time_secs(t0, tt_time_mono_ns()) > 30) {
            if (st)
                tt_modelsub_stats(sub, st);
            if (keep)
                *keep = sub;
            else
                tt_modelsub_destroy(sub);
            return m;
        }
        tt_model_destroy(m);
        tt_modelsub_destroy(sub);
        usleep(200000);
    }
}

#endif
