/*
 * What the stream integration tests (test_stream_*.c) share, as static
 * functions in a header (each test is one .c linked with tt_itest.c only):
 *
 *  - a small random model (tt_model_build) with active users, cutoffs and
 *    items the events use plus items it does not know;
 *  - events whose timestamp tells their index;
 *  - a test setup: unique topics, group and state directory, the same
 *    settings as a tt_conf (threads) and as --set arguments (child
 *    processes running the real `twotime stream`, TT_BINARY);
 *  - THE REFERENCE: each event's expected embedding computed from the
 *    user's history with the model library alone (tt_model_user_start/
 *    step/query), following the definition in consumers/tt_proc.h;
 *  - reading back the input (partition, offset of each event) and the
 *    output (every embedding compared bit for bit with the reference).
 * TT_TEST_KEEP=1 keeps the state directories and child logs.
 */
#ifndef TEST_STREAM_COMMON_H
#define TEST_STREAM_COMMON_H

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/tt_rng.h"
#include "common/tt_time.h"
#include "consumers/tt_senc.h"
#include "consumers/tt_stream.h"
#include "model/tt_model.h"
#include "model/tt_model_int.h"
#include "tests/integration/tt_itest.h"

#define SIT_DIM 16
#define SIT_ITEMS 60   /* item ids 0..59 known to the model */
#define SIT_UNKNOWN 6  /* item ids 60..65 unknown */
#define SIT_TSTAR 3
#define SIT_HMAX 8     /* history_max: retention drops halves often */
#define SIT_PARTS 4
#define SIT_CUTOFF 40  /* training cutoff offset of every partition */
#define SIT_USERS_MAX 1000
#define SIT_TS0 INT64_C(1700000000000)
#define SIT_TS_STEP 3
#define SIT_SETS_MAX 40

/* ---- model and events -------------------------------------------------- */

/* Users with an even id have a phi_u; 2TS-Plus; cutoffs SIT_CUTOFF; random
 * parameters from seed `seed_base + version`, window K `k`, `flags`
 * (TT_MODEL_FLAG_*, PLUS included by the caller). */
static inline tt_model_t *sit_model_with(uint64_t version, uint64_t seed_base,
                                         uint32_t k, uint32_t flags)
{
    struct tt_rng rng;
    struct tt_model_parts parts;
    size_t nd = tt_model_dense_floats(SIT_DIM, true);
    static float items[SIT_ITEMS * SIT_DIM], phi[SIT_USERS_MAX * SIT_DIM];
    static int64_t item_ids[SIT_ITEMS], user_ids[SIT_USERS_MAX];
    float *dense = malloc(nd * sizeof(float));
    struct tt_model_cutoff cuts[SIT_PARTS];
    uint32_t n_active = 0;
    tt_model_t *m = NULL;
    char err[256];

    assert_non_null(dense);
    tt_rng_seed(&rng, seed_base + version, 1);
    for (int i = 0; i < SIT_ITEMS; i++)
        item_ids[i] = i;
    for (size_t i = 0; i < SIT_ITEMS * SIT_DIM; i++)
        items[i] = (float)(0.5 * tt_rng_normal(&rng));
    for (int64_t u = 0; u < SIT_USERS_MAX; u += 2) {
        user_ids[n_active] = u;
        for (int k = 0; k < SIT_DIM; k++)
            phi[n_active * SIT_DIM + k] = (float)(0.5 * tt_rng_normal(&rng));
        n_active++;
    }
    for (size_t i = 0; i < nd; i++)
        dense[i] = (float)(0.4 * tt_rng_normal(&rng));
    for (int p = 0; p < SIT_PARTS; p++) {
        cuts[p].partition = p;
        cuts[p].offset = SIT_CUTOFF;
    }
    memset(&parts, 0, sizeof(parts));
    parts.dim = SIT_DIM;
    parts.tstar = SIT_TSTAR;
    parts.k = k;
    parts.flags = flags;
    parts.version = version;
    parts.seed = version;
    parts.n_items = SIT_ITEMS;
    parts.item_ids = item_ids;
    parts.items = items;
    parts.n_active = n_active;
    parts.user_ids = user_ids;
    parts.phi = phi;
    parts.dense = dense;
    parts.n_cutoffs = SIT_PARTS;
    parts.cutoffs = cuts;
    if (tt_model_build(&m, &parts, err, sizeof(err)))
        fail_msg("model: %s", err);
    free(dense);
    return m;
}

/* The stream tests' model: K 2, no window. */
static inline tt_model_t *sit_model(uint64_t version)
{
    return sit_model_with(version, 1000, 2, TT_MODEL_FLAG_PLUS);
}

/* Event i has timestamp SIT_TS0 + i * SIT_TS_STEP. */
static inline void sit_events(struct tt_event *ev, size_t n,
                              uint32_t users, uint64_t seed)
{
    struct tt_rng rng;

    tt_rng_seed(&rng, seed, 2);
    for (size_t i = 0; i < n; i++) {
        uint64_t a = tt_rng_below(&rng, users), b = tt_rng_below(&rng, users);

        ev[i].user_id = (int64_t)(a < b ? a : b);
        ev[i].item_id = (int64_t)tt_rng_below(&rng, SIT_ITEMS + SIT_UNKNOWN);
        ev[i].ts_ms = SIT_TS0 + (int64_t)i * SIT_TS_STEP;
        ev[i].category = TT_EVENT_NO_CATEGORY;
    }
}

/* ---- setup ------------------------------------------------------------- */

struct sit {
    char in[TT_ITEST_NAME_MAX], out[TT_ITEST_NAME_MAX];
    char cl[TT_ITEST_NAME_MAX], dlq[TT_ITEST_NAME_MAX];
    char group[TT_ITEST_NAME_MAX];
    char dir[128];
    struct tt_conf conf;
    char sets[SIT_SETS_MAX][320];
    int n_sets;
    /* tt_stream_opts of sit_start (0, NULL) */
    int linger_ms;
    bool (*stopping)(void *arg);
    void *stopping_arg;
    tt_log_t *log;
};

static inline void sit_set(struct sit *t, const char *key,
                           const char *value)
{
    char errstr[256], kv[sizeof(t->sets[0])];

    /* `value` may point into `t` (t->dir): format into a local first. */
    assert_true(t->n_sets < SIT_SETS_MAX);
    snprintf(kv, sizeof(kv), "%s=%s", key, value);
    memcpy(t->sets[t->n_sets++], kv, sizeof(kv));
    if (tt_conf_set(&t->conf, key, value, errstr, sizeof(errstr)))
        fail_msg("setting %s: %s", key, errstr);
}

/* A state directory path <dir>/<name>. */
static inline void sit_state_path(const struct sit *t, const char *name,
                                  char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", t->dir, name);
}

static inline void sit_init(struct sit *t, const char *prefix, bool eos)
{
    char buf[64], path[256];

    memset(t, 0, sizeof(*t));
    tt_itest_conf(&t->conf);
    snprintf(buf, sizeof(buf), "%s-in", prefix);
    tt_itest_name(t->in, sizeof(t->in), buf);
    snprintf(buf, sizeof(buf), "%s-out", prefix);
    tt_itest_name(t->out, sizeof(t->out), buf);
    snprintf(buf, sizeof(buf), "%s-cl", prefix);
    tt_itest_name(t->cl, sizeof(t->cl), buf);
    snprintf(buf, sizeof(buf), "%s-dlq", prefix);
    tt_itest_name(t->dlq, sizeof(t->dlq), buf);
    snprintf(buf, sizeof(buf), "%s-g", prefix);
    tt_itest_name(t->group, sizeof(t->group), buf);
    snprintf(t->dir, sizeof(t->dir), "/tmp/tt-stream-test-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    sit_set(t, "kafka.brokers", tt_itest_brokers());
    sit_set(t, "kafka.input_topic", t->in);
    sit_set(t, "kafka.output_topic", t->out);
    sit_set(t, "kafka.changelog_topic", t->cl);
    sit_set(t, "kafka.dead_letter_topic", t->dlq);
    sit_set(t, "kafka.group_id", t->group);
    sit_set(t, "kafka.partitions", "4");
    sit_set(t, "kafka.exactly_once", eos ? "true" : "false");
    sit_set(t, "kafka.batch_max", "300");
    sit_set(t, "kafka.batch_ms", "100");
    sit_set(t, "kafka.properties.consumer.heartbeat.interval.ms", "300");
    sit_set(t, "kafka.properties.consumer.session.timeout.ms", "6000");
    sit_state_path(t, "state", path, sizeof(path));
    sit_set(t, "state.path", path);
    sit_set(t, "state.history_max", "8");
    sit_set(t, "state.user_cache", "2000");
    sit_set(t, "state.cache_mb", "8");
    sit_set(t, "state.write_buffer_mb", "8");
    sit_set(t, "metrics.port", "0");
    sit_set(t, "model.dim", "16");
    sit_set(t, "model.tstar", "3");
    sit_set(t, "model.k", "2");
    tt_itest_create_topic(&t->conf.kafka, t->in, SIT_PARTS);
}

static inline void sit_release(struct sit *t)
{
    char cmd[256];

    tt_itest_delete_topic(&t->conf.kafka, t->in);
    tt_itest_delete_topic(&t->conf.kafka, t->out);
    tt_itest_delete_topic(&t->conf.kafka, t->cl);
    tt_itest_delete_topic(&t->conf.kafka, t->dlq);
    tt_conf_release(&t->conf);
    if (getenv("TT_TEST_KEEP") && getenv("TT_TEST_KEEP")[0]) {
        fprintf(stderr, "kept %s\n", t->dir);
        return;
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", t->dir);
}

/* ---- the stream in a thread --------------------------------------------- */

struct sit_runner {
    tt_stream_t *s;
    pthread_t th;
    tt_err_t err;
    char errstr[512];
};

static inline void *sit_run_thread(void *arg)
{
    struct sit_runner *r = arg;

    r->err = tt_stream_run(r->s, r->errstr, sizeof(r->errstr));
    return NULL;
}

/* Starts a stream of the test's configuration on model *m (taken: set to
 * NULL) in a thread. */
static inline void sit_start_model(struct sit_runner *r, const struct sit *t,
                                   tt_model_t **m, const char *instance)
{
    struct tt_stream_opts opts;
    char errstr[512];

    memset(r, 0, sizeof(*r));
    memset(&opts, 0, sizeof(opts));
    opts.instance_id = instance;
    opts.create_topics = true;
    opts.linger_ms = t->linger_ms;
    opts.stopping = t->stopping;
    opts.stopping_arg = t->stopping_arg;
    opts.log = t->log;
    if (tt_stream_new(&r->s, &t->conf, m, &opts, errstr, sizeof(errstr)))
        fail_msg("stream: %s", errstr);
    assert_null(*m);
    assert_int_equal(pthread_create(&r->th, NULL, sit_run_thread, r), 0);
}

/* sit_start_model() with sit_model(model_version). */
static inline void sit_start(struct sit_runner *r, const struct sit *t,
                             uint64_t model_version, const char *instance)
{
    tt_model_t *m = sit_model(model_version);

    sit_start_model(r, t, &m, instance);
}

static inline void sit_stop(struct sit_runner *r)
{
    tt_stream_stop(r->s);
    assert_int_equal(pthread_join(r->th, NULL), 0);
    if (r->err)
        fail_msg("stream: %s", r->errstr);
}

/* ---- the real binary as a child process -------------------------------- */

static inline pid_t sit_spawn(const struct sit *t, const char *model_path,
                       const char *instance, const char *state,
                       const char *log_path)
{
    const char *bin = getenv("TT_BINARY");
    char *argv[2 * SIT_SETS_MAX + 16], state_set[320];
    int argc = 0;
    pid_t pid;

    if (!bin)
        fail_msg("TT_BINARY is not set");
    argv[argc++] = (char *)bin;
    argv[argc++] = (char *)"stream";
    argv[argc++] = (char *)"--model";
    argv[argc++] = (char *)model_path;
    argv[argc++] = (char *)"--instance";
    argv[argc++] = (char *)instance;
    for (int i = 0; i < t->n_sets; i++) {
        argv[argc++] = (char *)"--set";
        argv[argc++] = (char *)t->sets[i];
    }
    snprintf(state_set, sizeof(state_set), "state.path=%s", state);
    argv[argc++] = (char *)"--set";
    argv[argc++] = state_set;
    argv[argc] = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *f = freopen(log_path, "a", stderr);

        (void)f;
        execv(bin, argv);
        _exit(127);
    }
    return pid;
}

/* Waits for a child; returns its exit status, or -signal. */
static inline int sit_wait(pid_t pid)
{
    int st = 0;

    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st))
        return -WTERMSIG(st);
    return WEXITSTATUS(st);
}

/* ---- progress: committed offsets of the stream's group ---------------- */

struct sit_committed {
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *l;
};

static inline void sit_committed_open(struct sit_committed *c,
                                      const struct sit *t)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256];

    rd_kafka_conf_set(conf, "bootstrap.servers", t->conf.kafka.brokers, err,
                      sizeof(err));
    rd_kafka_conf_set(conf, "group.id", t->group, err, sizeof(err));
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(c->rk);
    c->l = rd_kafka_topic_partition_list_new(SIT_PARTS);
    for (int p = 0; p < SIT_PARTS; p++)
        rd_kafka_topic_partition_list_add(c->l, t->in, p);
}

/* Sum of the committed (stable) offsets over the input partitions. */
static inline int64_t sit_committed_sum(struct sit_committed *c)
{
    int64_t sum = 0;

    if (rd_kafka_committed(c->rk, c->l, 10000))
        return -1;
    for (int i = 0; i < c->l->cnt; i++)
        if (c->l->elems[i].offset > 0)
            sum += c->l->elems[i].offset;
    return sum;
}

/* Polls until the group has committed `want` records or timeout_s passed;
 * returns the last sum. */
static inline int64_t sit_wait_committed(const struct sit *t, int64_t want,
                                  double timeout_s)
{
    struct sit_committed c;
    uint64_t t0 = tt_time_mono_ns();
    int64_t sum = 0;

    sit_committed_open(&c, t);
    while ((sum = sit_committed_sum(&c)) < want &&
           tt_time_secs(t0, tt_time_mono_ns()) < timeout_s)
        usleep(100000);
    rd_kafka_topic_partition_list_destroy(c.l);
    rd_kafka_destroy_flags(c.rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    return sum;
}

/* ---- reading a topic to its end ----------------------------------------- */

/*
 * Longest a read waits for the topic to be readable to its end.  A killed
 * instance's open transaction holds back every read_committed reader at its
 * first record (the partition's last stable offset) until the transaction
 * coordinator aborts it: transaction.timeout.ms after it began (the
 * stream's default, consumers/tt_stream_prod.c), noticed by a sweep every
 * transaction.abort.timed.out.transaction.cleanup.interval.ms (broker,
 * 10 s by default).  The rest is room for a loaded machine.
 */
#define SIT_READ_S 120.0

/* A client of the test's broker; read_committed or not.  Never commits. */
static inline rd_kafka_t *sit_client(const struct sit *t, bool committed)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char group[TT_ITEST_NAME_MAX], err[256];
    rd_kafka_t *rk;

    tt_itest_name(group, sizeof(group), "sit-read");
    if (rd_kafka_conf_set(conf, "bootstrap.servers", t->conf.kafka.brokers,
                          err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "isolation.level",
                          committed ? "read_committed" : "read_uncommitted",
                          err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", err,
                          sizeof(err)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err,
                          sizeof(err)) ||
        rd_kafka_conf_set(conf, "auto.offset.reset", "error", err,
                          sizeof(err)))
        fail_msg("reader configuration: %s", err);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk)
        fail_msg("reader: %s", err);
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* Partitions of `topic` (fails the test when it has none or too many). */
static inline int sit_topic_parts(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t kerr;
    int n = 0;

    assert_non_null(rkt);
    kerr = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (kerr)
        fail_msg("metadata of %s: %s", topic, rd_kafka_err2str(kerr));
    if (md->topic_cnt == 1 && !md->topics[0].err)
        n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    if (n <= 0 || n > 64)
        fail_msg("%s: %d partitions", topic, n);
    return n;
}

/* The end offset of every partition: the high watermark (`committed`
 * false) or the last stable offset (true), as a client of that isolation
 * level sees it. */
static inline void sit_topic_ends(rd_kafka_t *rk, const char *topic, int n,
                                  int64_t *end)
{
    for (int p = 0; p < n; p++) {
        int64_t lo = -1, hi = -1;
        rd_kafka_resp_err_t kerr =
            rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);

        if (kerr)
            fail_msg("watermarks of %s [%d]: %s", topic, p,
                     rd_kafka_err2str(kerr));
        end[p] = hi;
    }
}

/*
 * Waits until no transaction is open on `topic`: the last stable offset of
 * every partition is its high watermark (the writers must have stopped or
 * died).  Returns the seconds it took; fails the test after SIT_READ_S.
 */
static inline double sit_wait_stable(const struct sit *t, const char *topic)
{
    rd_kafka_t *hw_rk = sit_client(t, false), *rk = sit_client(t, true);
    int64_t end[64], stable[64];
    uint64_t t0 = tt_time_mono_ns();
    int n = sit_topic_parts(hw_rk, topic), open;
    double secs;

    do {
        sit_topic_ends(hw_rk, topic, n, end);
        sit_topic_ends(rk, topic, n, stable);
        open = 0;
        for (int p = 0; p < n; p++)
            open += stable[p] < end[p];
        secs = tt_time_secs(t0, tt_time_mono_ns());
        if (open && secs > SIT_READ_S)
            fail_msg("%s: %d partition(s) with a transaction still open "
                     "after %.0f s",
                     topic, open, SIT_READ_S);
        if (open)
            usleep(100000);
    } while (open);
    rd_kafka_destroy(hw_rk);
    rd_kafka_destroy(rk);
    return secs;
}

/*
 * Reads every record of `topic` with read_committed, calling fn(arg, msg)
 * for each, and returns how many there were.  Call it once the writers
 * have stopped (or died): the end of each partition is its high watermark
 * then, which counts records of open and aborted transactions as well, and
 * the read goes on until every partition is read past it.  A partition
 * whose last stable offset is below its high watermark has an open
 * transaction (a killed instance's, until the coordinator aborts it): the
 * read waits for it, up to SIT_READ_S, rather than taking a pause for the
 * end.  A silence is never taken for the end, a deadline never for
 * success: at SIT_READ_S the test fails, naming the stuck partitions.
 */
static inline size_t sit_read_topic(const struct sit *t, const char *topic,
                                    void (*fn)(void *arg,
                                               const rd_kafka_message_t *m),
                                    void *arg)
{
    rd_kafka_t *hw_rk = sit_client(t, false), *rk = sit_client(t, true);
    rd_kafka_topic_partition_list_t *l;
    int64_t end[64], stable[64], at[64];
    uint64_t t0 = tt_time_mono_ns();
    size_t records = 0;
    int n = sit_topic_parts(hw_rk, topic), left = 0;

    sit_topic_ends(hw_rk, topic, n, end);
    rd_kafka_destroy(hw_rk);
    sit_topic_ends(rk, topic, n, stable);
    l = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++) {
        at[p] = 0;
        left += end[p] > 0;
        rd_kafka_topic_partition_list_add(l, topic, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    }
    assert_int_equal(rd_kafka_assign(rk, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    while (left > 0) {
        rd_kafka_message_t *m;
        int64_t past = -1;

        if (tt_time_secs(t0, tt_time_mono_ns()) > SIT_READ_S) {
            char buf[512];
            size_t len = 0;

            sit_topic_ends(rk, topic, n, stable);
            for (int p = 0; p < n && len + 80 < sizeof(buf); p++)
                if (at[p] < end[p])
                    len += (size_t)snprintf(
                        buf + len, sizeof(buf) - len,
                        " [%d] read to %lld of %lld (stable %lld)", p,
                        (long long)at[p], (long long)end[p],
                        (long long)stable[p]);
            fail_msg("%s not read to its end after %.0f s:%s", topic,
                     SIT_READ_S, buf);
        }
        m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            past = m->offset; /* the next offset to fetch */
        } else if (m->err) {
            fprintf(stderr, "reading %s: %s\n", topic,
                    rd_kafka_message_errstr(m));
        } else {
            fn(arg, m);
            records++;
            past = m->offset + 1;
        }
        if (past >= 0 && m->partition >= 0 && m->partition < n &&
            past > at[m->partition]) {
            if (at[m->partition] < end[m->partition] &&
                past >= end[m->partition])
                left--;
            at[m->partition] = past;
        }
        rd_kafka_message_destroy(m);
    }
    for (int p = 0; p < n; p++)
        if (stable[p] < end[p])
            fprintf(stderr,
                    "note: %s [%d]: held back at %lld of %lld by an open "
                    "transaction when the read began; read to the end in "
                    "%.1f s\n",
                    topic, p, (long long)stable[p], (long long)end[p],
                    tt_time_secs(t0, tt_time_mono_ns()));
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return records;
}

/* ---- the input as the broker holds it ----------------------------------- */

/* Where each event landed; bad records are listed apart. */
struct sit_input {
    size_t n;
    int32_t *part;   /* [n], -1 when never seen */
    int64_t *off;    /* [n] */
    size_t n_bad;
    int32_t bad_part[64];
    int64_t bad_off[64];
    /* offset -> event index, per partition */
    int64_t *ix[SIT_PARTS];
    int64_t ix_len[SIT_PARTS];
    tt_codec_t *codec;
};

static inline void sit_input_cb(void *arg, const rd_kafka_message_t *m)
{
    struct sit_input *in = arg;
    struct tt_event ev;
    size_t i;

    assert_true(m->partition >= 0 && m->partition < SIT_PARTS);
    if (!m->payload ||
        tt_senc_decode_event(in->codec, m->payload, m->len, &ev, NULL, 0) ||
        (ev.ts_ms - SIT_TS0) % SIT_TS_STEP != 0) {
        assert_true(in->n_bad < 64);
        in->bad_part[in->n_bad] = m->partition;
        in->bad_off[in->n_bad++] = m->offset;
        return;
    }
    i = (size_t)((ev.ts_ms - SIT_TS0) / SIT_TS_STEP);
    assert_true(i < in->n);
    assert_int_equal(in->part[i], -1);
    in->part[i] = m->partition;
    in->off[i] = m->offset;
    assert_true(m->offset < in->ix_len[m->partition]);
    in->ix[m->partition][m->offset] = (int64_t)i;
}

/* Reads the whole input topic (n events plus n_bad bad records). */
static inline void sit_read_input(struct sit_input *in, const struct sit *t,
                           size_t n, size_t n_bad)
{
    size_t got;

    memset(in, 0, sizeof(*in));
    in->n = n;
    in->part = malloc(n * sizeof(*in->part));
    in->off = malloc(n * sizeof(*in->off));
    assert_non_null(in->part);
    assert_non_null(in->off);
    for (size_t i = 0; i < n; i++)
        in->part[i] = -1;
    for (int p = 0; p < SIT_PARTS; p++) {
        in->ix_len[p] = (int64_t)(n + n_bad);
        in->ix[p] = malloc((n + n_bad) * sizeof(int64_t));
        assert_non_null(in->ix[p]);
        for (size_t k = 0; k < n + n_bad; k++)
            in->ix[p][k] = -1;
    }
    assert_int_equal(tt_senc_new(&in->codec, NULL, 0), TT_ERR_OK);
    got = sit_read_topic(t, t->in, sit_input_cb, in);
    assert_int_equal(got, n + n_bad);
    assert_int_equal(in->n_bad, n_bad);
}

static inline void sit_input_release(struct sit_input *in)
{
    free(in->part);
    free(in->off);
    for (int p = 0; p < SIT_PARTS; p++)
        free(in->ix[p]);
    tt_senc_destroy(in->codec);
}

/* ---- the reference ------------------------------------------------------ */

struct sit_expect {
    float q[SIT_DIM];
    uint64_t count;
    bool active;
    uint64_t version;
};

/*
 * Expected outputs of events ev[0..n) whose input positions are `in`:
 * each user's history (offset order = event order, all in one partition)
 * with the documented retention, its embedding recomputed from scratch
 * after every event with the model of version versions[i] (models[k] for
 * events with k = model_of[i]).
 */
static inline void sit_reference(tt_model_t *const *models,
                                 const uint8_t *model_of,
                                 const struct tt_event *ev,
                                 const struct sit_input *in,
                                 struct sit_expect *out)
{
    static struct {
        uint64_t count;
        uint32_t n;
        int64_t item[SIT_HMAX];
        int64_t off[SIT_HMAX];
    } u[SIT_USERS_MAX];
    struct tt_user_run *run = malloc(sizeof(*run));

    assert_non_null(run);
    memset(u, 0, sizeof(u));
    for (size_t i = 0; i < in->n; i++) {
        const tt_model_t *m = models[model_of ? model_of[i] : 0];
        struct tt_model_info info;
        int64_t uid = ev[i].user_id;

        assert_true(uid >= 0 && uid < SIT_USERS_MAX);
        assert_true(in->part[i] >= 0);
        tt_model_get_info(m, &info);
        if (u[uid].n == SIT_HMAX) {
            uint32_t keep = SIT_HMAX / 2;

            memmove(u[uid].item, u[uid].item + (SIT_HMAX - keep),
                    keep * sizeof(int64_t));
            memmove(u[uid].off, u[uid].off + (SIT_HMAX - keep),
                    keep * sizeof(int64_t));
            u[uid].n = keep;
        }
        u[uid].item[u[uid].n] = ev[i].item_id;
        u[uid].off[u[uid].n++] = in->off[i];
        u[uid].count++;
        tt_model_user_start(m, uid, u[uid].count > info.tstar, run);
        for (uint32_t j = 0; j < u[uid].n; j++) {
            const float *x = tt_model_item(m, u[uid].item[j]);

            if (run->cell == TT_CELL_ACTIVE && u[uid].off[j] < SIT_CUTOFF)
                continue;
            if (x)
                tt_model_user_step(m, run, x);
        }
        tt_model_user_query(m, run, out[i].q);
        out[i].count = u[uid].count;
        out[i].active = run->cell == TT_CELL_ACTIVE;
        out[i].version = info.version;
    }
    free(run);
}

/* ---- the output --------------------------------------------------------- */

/* The last output record of one event, and how many there were. */
struct sit_got {
    unsigned n;
    bool differ;         /* two outputs of the event differ */
    int64_t user_id;
    uint32_t dim;
    uint64_t count;
    bool active;
    uint64_t version;
    int64_t event_time;
    float q[SIT_DIM];
};

struct sit_output {
    const struct sit_input *in;
    struct sit_got *got; /* [in->n] */
    size_t records;
    size_t strays;       /* outputs that name no input event */
    tt_codec_t *codec;
};

static inline void sit_output_cb(void *arg, const rd_kafka_message_t *m)
{
    struct sit_output *o = arg;
    struct tt_senc_emb e;
    struct sit_got g;
    int64_t i;

    o->records++;
    memset(&g, 0, sizeof(g));
    if (tt_senc_decode_embedding(o->codec, m->payload, m->len, &e, g.q,
                                 SIT_DIM, NULL, 0) ||
        e.partition < 0 || e.partition >= SIT_PARTS || e.offset < 0 ||
        e.offset >= o->in->ix_len[e.partition] ||
        (i = o->in->ix[e.partition][e.offset]) < 0) {
        o->strays++;
        return;
    }
    g.user_id = e.user_id;
    g.dim = e.dim;
    g.count = e.count;
    g.active = e.active;
    g.version = e.model_version;
    g.event_time = e.event_time;
    g.n = o->got[i].n + 1;
    g.differ = o->got[i].differ;
    if (o->got[i].n > 0) {
        const struct sit_got *a = &o->got[i];

        if (a->user_id != g.user_id || a->dim != g.dim ||
            a->count != g.count || a->active != g.active ||
            a->version != g.version || a->event_time != g.event_time ||
            memcmp(a->q, g.q, sizeof(g.q)) != 0)
            g.differ = true;
    }
    o->got[i] = g;
}

/* Reads the whole output topic (read_committed, sit_read_topic): call it
 * after every writer has stopped or died. */
static inline void sit_read_output(struct sit_output *o, const struct sit *t,
                                   const struct sit_input *in)
{
    memset(o, 0, sizeof(*o));
    o->in = in;
    o->got = calloc(in->n, sizeof(*o->got));
    assert_non_null(o->got);
    assert_int_equal(tt_senc_new(&o->codec, NULL, 0), TT_ERR_OK);
    sit_read_topic(t, t->out, sit_output_cb, o);
    tt_senc_destroy(o->codec);
}

static inline void sit_output_release(struct sit_output *o)
{
    free(o->got);
}

/* Outputs that do not equal the reference (bit for bit) or differ between
 * two outputs of one event. */
static inline size_t sit_mismatches(const struct sit_output *o,
                             const struct tt_event *ev,
                             const struct sit_expect *exp)
{
    size_t bad = 0;

    for (size_t i = 0; i < o->in->n; i++) {
        const struct sit_got *g = &o->got[i];

        if (g->n == 0)
            continue;
        if (!g->differ && g->user_id == ev[i].user_id && g->dim == SIT_DIM &&
            g->count == exp[i].count && g->active == exp[i].active &&
            g->version == exp[i].version && g->event_time == ev[i].ts_ms &&
            memcmp(g->q, exp[i].q, sizeof(g->q)) == 0)
            continue;
        if (bad++ < 5)
            fprintf(stderr,
                    "mismatch: event %zu user %lld count %llu/%llu active "
                    "%d/%d version %llu/%llu q[0] %.9g/%.9g%s\n",
                    i, (long long)g->user_id, (unsigned long long)g->count,
                    (unsigned long long)exp[i].count, g->active,
                    exp[i].active, (unsigned long long)g->version,
                    (unsigned long long)exp[i].version, g->q[0], exp[i].q[0],
                    g->differ ? " (outputs differ)" : "");
    }
    return bad;
}

/* Exactly one output per event, each equal to the reference, and no other
 * record: true, or false with what is wrong in msg. */
static inline bool sit_exactly_once(const struct sit_output *o,
                                    const struct tt_event *ev,
                                    const struct sit_expect *exp, char *msg,
                                    size_t cap)
{
    size_t missing = 0, doubled = 0, bad = sit_mismatches(o, ev, exp);

    for (size_t i = 0; i < o->in->n; i++) {
        missing += o->got[i].n == 0;
        doubled += o->got[i].n > 1;
    }
    snprintf(msg, cap,
             "%zu records: %zu events without output, %zu with more than "
             "one, %zu mismatches, %zu strays",
             o->records, missing, doubled, bad, o->strays);
    return !missing && !doubled && !bad && !o->strays &&
           o->records == o->in->n;
}

static inline void sit_assert_exactly_once(const struct sit_output *o,
                                           const struct tt_event *ev,
                                           const struct sit_expect *exp)
{
    char msg[256];

    if (!sit_exactly_once(o, ev, exp, msg, sizeof(msg)))
        fail_msg("%s", msg);
}

/* ---- child logs ---------------------------------------------------------- */

/* The last `lines` lines of a child's log, to stderr (with its path: the
 * test's directory is kept when a test fails). */
static inline void sit_show_log(const char *path, int lines)
{
    char cmd[400];

    fprintf(stderr, "---- last %d lines of %s\n", lines, path);
    snprintf(cmd, sizeof(cmd), "tail -n %d '%s' >&2", lines, path);
    if (system(cmd) != 0)
        fprintf(stderr, "(no log %s)\n", path);
}

#endif
