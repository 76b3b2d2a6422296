#include "tests/integration/tt_itest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tt_time.h"
#include "consumers/tt_kcons.h"
#include "producers/tt_admin.h"
#include "producers/tt_eventprod.h"
#include "producers/tt_modelpub.h"

/* How long the broker gets to answer the first metadata request. */
#define ITEST_REACH_MS 10000
#define ITEST_ADMIN_MS 30000

const char *tt_itest_brokers(void)
{
    const char *brokers = getenv("TT_TEST_BROKERS");
    struct tt_conf_kafka kc;
    tt_admin_t *admin;
    char errstr[512];
    char *copy;
    bool up;

    if (!brokers || !*brokers)
        fail_msg("TT_TEST_BROKERS is not set: integration tests need a real "
                 "broker.  Run scripts/test, or `scripts/kafka start` and "
                 "export TT_TEST_BROKERS=127.0.0.1:19092");
    memset(&kc, 0, sizeof(kc));
    copy = strdup(brokers);
    assert_non_null(copy);
    kc.brokers = copy;
    if (tt_admin_new(&admin, &kc, errstr, sizeof(errstr)))
        fail_msg("TT_TEST_BROKERS=%s: %s", brokers, errstr);
    up = tt_admin_reachable(admin, ITEST_REACH_MS);
    tt_admin_destroy(admin);
    free(copy);
    if (!up)
        fail_msg("no Kafka broker answers at TT_TEST_BROKERS=%s within %d "
                 "ms: start one with `scripts/kafka start` (port from "
                 "TT_KAFKA_PORT) or run scripts/test",
                 brokers, ITEST_REACH_MS);
    return brokers;
}

static void set(struct tt_conf *conf, const char *key, const char *value)
{
    char errstr[512];

    if (tt_conf_set(conf, key, value, errstr, sizeof(errstr)))
        fail_msg("test configuration %s: %s", key, errstr);
}

void tt_itest_conf(struct tt_conf *conf)
{
    const char *brokers = tt_itest_brokers();

    assert_int_equal(tt_conf_init(conf), TT_ERR_OK);
    set(conf, "kafka.brokers", brokers);
    set(conf, "kafka.client_id", "tt-itest");
    /* A rebalance reaches the other members with their next heartbeat:
     * 3 s by default, far too slow for a test. */
    set(conf, "kafka.properties.consumer.heartbeat.interval.ms", "300");
    set(conf, "kafka.properties.consumer.session.timeout.ms", "6000");
}

void tt_itest_name(char *buf, size_t size, const char *prefix)
{
    int n = snprintf(buf, size, "%s-%ld-%llu", prefix, (long)getpid(),
                     (unsigned long long)tt_time_mono_ns());

    assert_true(n > 0 && (size_t)n < size);
}

void tt_itest_create_topic(const struct tt_conf_kafka *kc, const char *topic,
                           int partitions)
{
    struct tt_topic_spec spec = {topic, partitions, 1, NULL, 0};
    tt_admin_t *admin;
    char errstr[512];
    bool created;

    if (tt_admin_new(&admin, kc, errstr, sizeof(errstr)))
        fail_msg("admin client: %s", errstr);
    if (tt_admin_create_topic(admin, &spec, 0, ITEST_ADMIN_MS, &created,
                              errstr, sizeof(errstr))) {
        tt_admin_destroy(admin);
        fail_msg("creating topic %s: %s", topic, errstr);
    }
    tt_admin_destroy(admin);
    assert_true(created);
}

void tt_itest_delete_topic(const struct tt_conf_kafka *kc, const char *topic)
{
    tt_admin_t *admin;
    char errstr[512];

    if (tt_admin_new(&admin, kc, errstr, sizeof(errstr)))
        return;
    tt_admin_delete_topic(admin, topic, ITEST_ADMIN_MS, errstr,
                          sizeof(errstr));
    tt_admin_destroy(admin);
}

double tt_itest_produce(const struct tt_conf_kafka *kc, const char *topic,
                        const struct tt_event *evs, size_t n)
{
    struct tt_eventprod_opts opts = {topic, 0};
    struct tt_eventprod_stats st;
    tt_eventprod_t *p;
    char errstr[512];
    uint64_t t0 = tt_time_mono_ns();
    double secs;

    if (tt_eventprod_new(&p, kc, &opts, errstr, sizeof(errstr)))
        fail_msg("event producer: %s", errstr);
    for (size_t i = 0; i < n; i++) {
        if (tt_eventprod_send(p, &evs[i], errstr, sizeof(errstr))) {
            tt_eventprod_destroy(p);
            fail_msg("producing event %zu: %s", i, errstr);
        }
    }
    if (tt_eventprod_flush(p, ITEST_ADMIN_MS, errstr, sizeof(errstr))) {
        tt_eventprod_destroy(p);
        fail_msg("flushing: %s", errstr);
    }
    secs = tt_time_secs(t0, tt_time_mono_ns());
    tt_eventprod_stats(p, &st);
    tt_eventprod_destroy(p);
    assert_int_equal(st.sent, n);
    assert_int_equal(st.delivered, n);
    assert_int_equal(st.failed, 0);
    return secs;
}

size_t tt_itest_consume(const struct tt_conf_kafka *kc, const char *topic,
                        const char *group, size_t want, int idle_ms,
                        void (*fn)(void *arg, const rd_kafka_message_t *msg),
                        void *arg)
{
    const char *topics[1] = {topic};
    struct tt_kcons_opts opts;
    rd_kafka_message_t *batch[256];
    tt_kcons_t *c;
    char errstr[512];
    size_t seen = 0, n;
    uint64_t last = tt_time_mono_ns();

    memset(&opts, 0, sizeof(opts));
    opts.group_id = group;
    opts.topics = topics;
    opts.n_topics = 1;
    opts.from_beginning = true;
    if (tt_kcons_new(&c, kc, &opts, errstr, sizeof(errstr)))
        fail_msg("consumer: %s", errstr);
    while (seen < want &&
           tt_time_secs(last, tt_time_mono_ns()) * 1000.0 < idle_ms) {
        if (tt_kcons_poll_batch(c, batch, 256, 200, &n, errstr,
                                sizeof(errstr))) {
            tt_kcons_destroy(c);
            fail_msg("consuming %s: %s", topic, errstr);
        }
        for (size_t i = 0; i < n; i++)
            fn(arg, batch[i]);
        if (n) {
            last = tt_time_mono_ns();
            seen += n;
            assert_int_equal(tt_kcons_store_batch(c, batch, n, errstr,
                                                  sizeof(errstr)),
                             TT_ERR_OK);
        }
        tt_kcons_batch_free(batch, n);
    }
    if (tt_kcons_close(c, errstr, sizeof(errstr))) {
        tt_kcons_destroy(c);
        fail_msg("closing the consumer: %s", errstr);
    }
    tt_kcons_destroy(c);
    return seen;
}

int64_t tt_itest_topic_records(const struct tt_conf_kafka *kc,
                               const char *topic)
{
    struct tt_partition_info parts[64];
    tt_admin_t *admin;
    char errstr[512];
    int64_t sum = 0;
    int n;

    if (tt_admin_new(&admin, kc, errstr, sizeof(errstr)))
        fail_msg("admin client: %s", errstr);
    if (tt_admin_describe(admin, topic, parts, 64, &n, ITEST_ADMIN_MS,
                          errstr, sizeof(errstr))) {
        tt_admin_destroy(admin);
        fail_msg("describing %s: %s", topic, errstr);
    }
    tt_admin_destroy(admin);
    assert_true(n <= 64);
    for (int i = 0; i < n; i++)
        sum += parts[i].high - parts[i].low;
    return sum;
}

uint64_t tt_itest_seed(uint64_t dflt)
{
    const char *v = getenv("TT_TEST_SEED");
    unsigned long long x;
    char *end;

    if (!v || !*v)
        return dflt;
    errno = 0;
    x = strtoull(v, &end, 10);
    if (errno || end == v || *end)
        fail_msg("TT_TEST_SEED=%s: not a decimal number", v);
    return (uint64_t)x;
}

/* ---- child processes ---- */

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#define ITEST_ARGS_MAX 256

pid_t tt_itest_spawn(const char *const *args, const char *const *sets,
                     int n_sets, const char *log_path)
{
    return tt_itest_spawn_in(NULL, args, sets, n_sets, log_path);
}

pid_t tt_itest_spawn_in(const char *cwd, const char *const *args,
                        const char *const *sets, int n_sets,
                        const char *log_path)
{
    const char *bin = getenv("TT_BINARY");
    char *argv[ITEST_ARGS_MAX];
    int argc = 0;
    pid_t pid;

    if (!bin)
        fail_msg("TT_BINARY is not set (ctest sets it to the twotime "
                 "program)");
    argv[argc++] = (char *)bin;
    for (; *args; args++) {
        assert_true(argc < ITEST_ARGS_MAX - 1);
        argv[argc++] = (char *)*args;
    }
    for (int i = 0; i < n_sets; i++) {
        assert_true(argc < ITEST_ARGS_MAX - 2);
        argv[argc++] = (char *)"--set";
        argv[argc++] = (char *)sets[i];
    }
    argv[argc] = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *e = freopen(log_path, "a", stderr);
        FILE *o = freopen(log_path, "a", stdout);

        (void)e;
        (void)o;
        if (cwd && chdir(cwd) != 0)
            _exit(126);
        execv(bin, argv);
        _exit(127);
    }
    return pid;
}

int tt_itest_wait(pid_t pid, double timeout_s)
{
    uint64_t t0 = tt_time_mono_ns();
    int st = 0;

    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);

        if (r == pid)
            break;
        assert_int_equal(r, 0);
        if (tt_time_secs(t0, tt_time_mono_ns()) > timeout_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail_msg("child %d still running after %.0f s", (int)pid,
                     timeout_s);
        }
        usleep(50000);
    }
    if (WIFSIGNALED(st))
        return -WTERMSIG(st);
    return WEXITSTATUS(st);
}

void tt_itest_dump_file(const char *path)
{
    char line[1024];
    FILE *f = fopen(path, "r");

    if (!f)
        return;
    fprintf(stderr, "---- %s\n", path);
    while (fgets(line, sizeof(line), f))
        fputs(line, stderr);
    fclose(f);
}

bool tt_itest_file_has(const char *path, const char *what)
{
    return tt_itest_file_count(path, what) > 0;
}

int tt_itest_file_count(const char *path, const char *what)
{
    char line[4096];
    int n = 0;
    FILE *f = fopen(path, "r");

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, what) != NULL;
    fclose(f);
    return n;
}

void tt_itest_wait_lines(const char *path, const char *what, int times,
                         double timeout_s)
{
    uint64_t t0 = tt_time_mono_ns();
    char cmd[400];

    while (tt_itest_file_count(path, what) < times) {
        if (tt_time_secs(t0, tt_time_mono_ns()) > timeout_s) {
            fprintf(stderr, "---- last 40 lines of %s\n", path);
            snprintf(cmd, sizeof(cmd), "tail -n 40 '%s' >&2", path);
            if (system(cmd) != 0)
                fprintf(stderr, "(no log %s)\n", path);
            fail_msg("%s: no \"%s\" x%d after %.0f s", path, what, times,
                     timeout_s);
        }
        usleep(50000);
    }
}

void tt_itest_model_publish(const struct tt_conf_kafka *kc, const char *topic,
                            const tt_model_t *m, uint64_t version,
                            int partitions)
{
    struct tt_modelpub_opts o;
    tt_modelpub_t *p = NULL;
    char errstr[512], txn[TT_ITEST_NAME_MAX + 16];

    if (tt_modelpub_ensure_topic(kc, topic, partitions, NULL, errstr,
                                 sizeof(errstr)))
        fail_msg("model topic %s: %s", topic, errstr);
    snprintf(txn, sizeof(txn), "%s-pub", topic);
    memset(&o, 0, sizeof(o));
    o.topic = topic;
    o.transactional_id = txn;
    if (tt_modelpub_new(&p, kc, &o, errstr, sizeof(errstr)) ||
        tt_modelpub_publish(p, m, version, NULL, 0, NULL, errstr,
                            sizeof(errstr)))
        fail_msg("publishing model version %llu: %s",
                 (unsigned long long)version, errstr);
    tt_modelpub_destroy(p);
}

struct raw_ctx {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    struct tt_itest_model_fault f;
};

static tt_err_t raw_emit(void *ctx, const struct tt_modelpub_rec *r,
                         char *errstr, size_t errstr_size)
{
    struct raw_ctx *c = ctx;
    uint8_t *v;

    (void)errstr;
    (void)errstr_size;
    if ((c->f.drop_commit && r->kind == TT_MODELREC_COMMIT) ||
        r->seq == c->f.drop_seq)
        return TT_ERR_OK;
    v = malloc(r->value_len);
    assert_non_null(v);
    memcpy(v, r->value, r->value_len);
    if (r->seq == c->f.flip_seq)
        v[r->value_len / 2] ^= 0x40; /* inside the payload */
    assert_int_equal(rd_kafka_produce(c->rkt, r->partition,
                                      RD_KAFKA_MSG_F_FREE, v, r->value_len,
                                      r->key, strlen(r->key), NULL),
                     0);
    rd_kafka_poll(c->rk, 0);
    return TT_ERR_OK;
}

void tt_itest_model_publish_raw(const struct tt_conf_kafka *kc,
                                const char *topic, const tt_model_t *m,
                                uint64_t version, int partitions,
                                struct tt_itest_model_fault f)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    struct raw_ctx c;
    char err[512];

    if (tt_modelpub_ensure_topic(kc, topic, partitions, NULL, err,
                                 sizeof(err)))
        fail_msg("model topic %s: %s", topic, err);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", kc->brokers, err,
                          sizeof(err)) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err,
                          sizeof(err)))
        fail_msg("raw producer: %s", err);
    memset(&c, 0, sizeof(c));
    c.f = f;
    c.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(c.rk);
    c.rkt = rd_kafka_topic_new(c.rk, topic, NULL);
    assert_non_null(c.rkt);
    if (tt_modelpub_records(m, version, partitions, 0, raw_emit, &c, NULL,
                            err, sizeof(err)))
        fail_msg("model records: %s", err);
    assert_int_equal(rd_kafka_flush(c.rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_destroy(c.rkt);
    rd_kafka_destroy(c.rk);
}

void tt_itest_instance(char *buf, size_t size, const char *base)
{
    int n = snprintf(buf, size, "%s-%ld", base, (long)getpid());

    assert_true(n > 0 && (size_t)n < size);
}
