/*
 * Retraining and live model swaps against a real broker (TT_TEST_BROKERS):
 *
 * - kafka_round_trip: a model of many chunks published (one transaction)
 *   and assembled by a follower is bit for bit the canonical form of the
 *   published one (model file bytes); a smaller next version deletes the
 *   keys it no longer uses (tombstones), so the topic's live keys are
 *   exactly the new version's records.
 * - partial_and_corrupt: a version without COMMIT, a version in an aborted
 *   transaction, a version with a corrupted chunk, and one with a missing
 *   record are never used, at catch-up or while following; the good
 *   version after them is.
 * - hot_swap: `twotime retrain` publishes version 1 from the input topic;
 *   `twotime stream` (no model file) starts from it; events flow; a second
 *   `twotime retrain` publishes version 2 and the running stream swaps it in
 *   without restarting; exactly one committed output per input event, and
 *   every event produced after the swap names version 2.
 * - gate_and_every: with a model in service, a crippled retrain is refused
 *   with exit code 3 and publishes nothing; a retrain warm-started from
 *   the model in service (2 + 2 epochs instead of 3 + 2) passes the gate
 *   (MRR within retrain.max_mrr_drop of the cold version 1) and publishes
 *   version 2; two warm dry runs write the same model bytes; a warm-start
 *   model of another D is refused (exit 1); `--every 1s` publishes version
 *   after version and stops cleanly (exit 0) on SIGTERM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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
#include "consumers/tt_modelsub.h"
#include "consumers/tt_senc.h"
#include "model/tt_model.h"
#include "model/tt_model_int.h"
#include "producers/tt_modelpub.h"
#include "tests/integration/tt_itest.h"
#include "tests/integration/tt_itest_retrain.h"

/* ---- kafka_round_trip --------------------------------------------------- */

static void kafka_round_trip(void **state)
{
    struct rt t;
    struct tt_modelpub_summary sum, sum2;
    struct tt_modelsub_key keys[256];
    struct tt_modelpub_key stale[256];
    tt_modelsub_t *sub;
    tt_model_t *m = make_model(32, 30000, 12000, 5), *m2, *got, *canon;
    size_t n_keys;
    char err[256];
    int n_parts = 0;

    (void)state;
    rt_init(&t, "rtk");
    assert_int_equal(tt_modelpub_ensure_topic(&t.conf.kafka, t.models, PARTS,
                                              &n_parts, err, sizeof(err)),
                     TT_ERR_OK);
    assert_int_equal(n_parts, PARTS);
    publish(&t, m, 1, NULL, 0, &sum);
    /* 30000 items x 136 B and 12000 users: chunks of at most ~900 KB */
    assert_true(sum.items >= 5 && sum.users >= 4);
    assert_true(sum.max_value <= TT_MODELREC_MAX_RECORD);

    got = catch_up(&t, &sub, NULL, 1);
    assert_non_null(got);
    assert_int_equal(tt_modelpub_canonical(&canon, m, PARTS, err, sizeof(err)),
                     TT_ERR_OK);
    tt_model_set_version(canon, 1);
    assert_same_bytes(got, canon);
    tt_model_destroy(got);
    tt_model_destroy(canon);
    n_keys = tt_modelsub_keys(sub, keys, 256);
    assert_int_equal(n_keys, sum.records);
    for (size_t i = 0; i < n_keys; i++) {
        stale[i].partition = keys[i].partition;
        memcpy(stale[i].key, keys[i].key, sizeof(stale[i].key));
    }
    tt_modelsub_destroy(sub);

    /* a smaller version 2: the keys it does not rewrite are deleted */
    m2 = make_model(32, 9000, 3000, 6);
    publish(&t, m2, 2, stale, n_keys, &sum2);
    assert_true(sum2.records < sum.records);
    assert_int_equal(sum2.tombstones, sum.records - sum2.records);
    got = catch_up(&t, &sub, NULL, 2);
    assert_non_null(got);
    assert_int_equal(version_of(got), 2);
    assert_int_equal(tt_modelpub_canonical(&canon, m2, PARTS, err,
                                           sizeof(err)),
                     TT_ERR_OK);
    tt_model_set_version(canon, 2);
    assert_same_bytes(got, canon);
    assert_int_equal(tt_modelsub_keys(sub, keys, 256), sum2.records);
    tt_modelsub_destroy(sub);
    tt_model_destroy(got);
    tt_model_destroy(canon);
    tt_model_destroy(m2);
    tt_model_destroy(m);
    rt_release(&t);
}

/* ---- partial_and_corrupt ------------------------------------------------ */

/* How the raw writer alters a publication. */
struct raw {
    rd_kafka_t *rk;
    bool drop_commit;   /* write everything but the COMMIT */
    int32_t drop_seq;   /* leave this record out (-1: none) */
    int32_t flip_seq;   /* flip a payload byte of this record (-1: none) */
};

/* A producer of the model topic; transactional when txn is non-NULL. */
static rd_kafka_t *raw_producer(const struct rt *t, const char *txn)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_t *rk;

    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers",
                                       t->conf.kafka.brokers, err,
                                       sizeof(err)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "enable.idempotence", "true",
                                       err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    if (txn)
        assert_int_equal(rd_kafka_conf_set(conf, "transactional.id", txn, err,
                                           sizeof(err)),
                         RD_KAFKA_CONF_OK);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(rk);
    return rk;
}

struct raw_ctx {
    struct raw w;
    rd_kafka_topic_t *rkt;
};

static tt_err_t raw_emit2(void *ctx, const struct tt_modelpub_rec *r,
                          char *errstr, size_t errstr_size)
{
    struct raw_ctx *c = ctx;
    uint8_t *v;
    int rc;

    (void)errstr;
    (void)errstr_size;
    if ((c->w.drop_commit && r->kind == TT_MODELREC_COMMIT) ||
        r->seq == c->w.drop_seq)
        return TT_ERR_OK;
    v = malloc(r->value_len);
    assert_non_null(v);
    memcpy(v, r->value, r->value_len);
    if (r->seq == c->w.flip_seq)
        v[r->value_len / 2] ^= 0x40;
    rc = rd_kafka_produce(c->rkt, r->partition, RD_KAFKA_MSG_F_FREE, v,
                          r->value_len, r->key, strlen(r->key), NULL);
    assert_int_equal(rc, 0);
    rd_kafka_poll(c->w.rk, 0);
    return TT_ERR_OK;
}

/* Writes model m as version v with the alterations of `w`; with `abort`,
 * inside a transaction that is then aborted. */
static void raw_publish(const struct rt *t, const tt_model_t *m, uint64_t v,
                        struct raw w, bool abort)
{
    struct raw_ctx c;
    char txn[TT_ITEST_NAME_MAX + 16], err[256];
    rd_kafka_error_t *e;

    snprintf(txn, sizeof(txn), "%s-raw", t->models);
    memset(&c, 0, sizeof(c));
    c.w = w;
    c.w.rk = raw_producer(t, abort ? txn : NULL);
    c.rkt = rd_kafka_topic_new(c.w.rk, t->models, NULL);
    assert_non_null(c.rkt);
    if (abort) {
        assert_null(rd_kafka_init_transactions(c.w.rk, 30000));
        assert_null(rd_kafka_begin_transaction(c.w.rk));
    }
    assert_int_equal(tt_modelpub_records(m, v, PARTS, 0, raw_emit2, &c, NULL,
                                         err, sizeof(err)),
                     TT_ERR_OK);
    assert_int_equal(rd_kafka_flush(c.w.rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    if (abort) {
        e = rd_kafka_abort_transaction(c.w.rk, 30000);
        assert_null(e);
    }
    rd_kafka_topic_destroy(c.rkt);
    rd_kafka_destroy(c.w.rk);
}

struct seen {
    pthread_mutex_t mu;
    uint64_t versions[16];
    int n;
};

static void on_model(void *ctx, tt_model_t **m)
{
    struct seen *s = ctx;

    pthread_mutex_lock(&s->mu);
    if (s->n < 16)
        s->versions[s->n++] = version_of(*m);
    pthread_mutex_unlock(&s->mu);
}

static int seen_n(struct seen *s)
{
    int n;

    pthread_mutex_lock(&s->mu);
    n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void partial_and_corrupt(void **state)
{
    static const struct raw plain = {NULL, false, -1, -1};
    struct raw w;
    struct rt t;
    struct seen seen;
    struct tt_modelsub_stats st;
    tt_modelsub_t *sub;
    tt_model_t *m = make_model(16, 3000, 2000, 9), *got;
    uint64_t t0;
    char err[256];
    int n_parts;

    (void)state;
    rt_init(&t, "rtp");
    assert_int_equal(tt_modelpub_ensure_topic(&t.conf.kafka, t.models, PARTS,
                                              &n_parts, err, sizeof(err)),
                     TT_ERR_OK);
    publish(&t, m, 1, NULL, 0, NULL);
    w = plain;
    w.drop_commit = true;
    raw_publish(&t, m, 2, w, false);          /* no COMMIT */
    raw_publish(&t, m, 3, plain, true);       /* aborted transaction */
    w = plain;
    w.flip_seq = 2;
    raw_publish(&t, m, 4, w, false);          /* corrupted chunk */

    got = catch_up(&t, &sub, &st, 1);
    assert_non_null(got);
    assert_int_equal(version_of(got), 1);
    tt_model_destroy(got);
    assert_int_equal(st.max_version, 4);      /* v3 never seen */
    assert_int_equal(st.versions_ok, 1);
    assert_int_equal(st.versions_rejected, 1);
    assert_true(st.bad_records >= 1);

    /* following: more bad versions, then a good one */
    memset(&seen, 0, sizeof(seen));
    pthread_mutex_init(&seen.mu, NULL);
    assert_int_equal(tt_modelsub_follow(sub, on_model, &seen, err,
                                        sizeof(err)),
                     TT_ERR_OK);
    w = plain;
    w.flip_seq = 5;
    raw_publish(&t, m, 5, w, false);          /* corrupted chunk */
    w = plain;
    w.drop_seq = 3;
    raw_publish(&t, m, 6, w, false);          /* a record missing */
    raw_publish(&t, m, 7, plain, true);       /* aborted */
    publish(&t, m, 8, NULL, 0, NULL);
    t0 = tt_time_mono_ns();
    while (seen_n(&seen) < 1 && tt_time_secs(t0, tt_time_mono_ns()) < 30)
        usleep(100000);
    tt_modelsub_stats(sub, &st);
    tt_modelsub_destroy(sub);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.versions[0], 8);
    assert_int_equal(st.versions_rejected, 2);
    /* v6 (COMMIT, a record missing) dropped incomplete; v2 (no COMMIT)
     * superseded (at catch-up when v4 needed room, and again later, since
     * its USERS records came after) */
    assert_int_equal(st.versions_incomplete, 1);
    assert_true(st.versions_superseded >= 1);
    assert_int_equal(st.current_version, 8);
    pthread_mutex_destroy(&seen.mu);
    tt_model_destroy(m);
    rt_release(&t);
}

/* ---- hot_swap ---------------------------------------------------------- */

#define N_A 3000
#define N_B 1500
#define N_C 1500
#define N_ALL (N_A + N_B + N_C)
#define USERS 300
#define ITEMS 80

static struct tt_event evs[N_ALL];

/* Event i has time TS0 + i * TS_STEP; users and items with some structure
 * (user u prefers items near u mod ITEMS). */
static void make_events(void)
{
    struct tt_rng rng;

    tt_rng_seed(&rng, 77, 2);
    for (size_t i = 0; i < N_ALL; i++) {
        uint64_t u = tt_rng_below(&rng, USERS);

        evs[i].user_id = (int64_t)u;
        evs[i].item_id = (int64_t)((u + tt_rng_below(&rng, 8)) % ITEMS);
        evs[i].ts_ms = TS0 + (int64_t)i * TS_STEP;
        evs[i].category = TT_EVENT_NO_CATEGORY;
    }
}

/* Input positions: (partition, offset) -> event index. */
struct in_ix {
    int64_t *ix[PARTS];
    int64_t len;
    tt_codec_t *codec;
    size_t n;
};

static void in_cb(void *arg, const rd_kafka_message_t *m)
{
    struct in_ix *x = arg;
    struct tt_event ev;
    int64_t i;

    assert_true(m->partition >= 0 && m->partition < PARTS);
    assert_int_equal(tt_senc_decode_event(x->codec, m->payload, m->len, &ev,
                                          NULL, 0),
                     TT_ERR_OK);
    i = (ev.ts_ms - TS0) / TS_STEP;
    assert_true(i >= 0 && i < N_ALL && m->offset < x->len);
    x->ix[m->partition][m->offset] = i;
    x->n++;
}

struct out_rd {
    const struct in_ix *x;
    unsigned count[N_ALL];
    uint64_t version[N_ALL];
    size_t records, strays;
    tt_codec_t *codec;
};

static struct out_rd outs;

static void out_cb(void *arg, const rd_kafka_message_t *m)
{
    struct out_rd *o = arg;
    struct tt_senc_emb e;
    float q[64];
    int64_t i;

    o->records++;
    if (tt_senc_decode_embedding(o->codec, m->payload, m->len, &e, q, 64,
                                 NULL, 0) ||
        e.partition < 0 || e.partition >= PARTS || e.offset < 0 ||
        e.offset >= o->x->len || (i = o->x->ix[e.partition][e.offset]) < 0) {
        o->strays++;
        return;
    }
    o->count[i]++;
    o->version[i] = e.model_version;
}

static void hot_swap(void **state)
{
    static const char *const retrain[] = {"retrain", NULL};
    static const char *const stream[] = {"stream", "--instance", "a", NULL};
    struct rt t;
    struct in_ix x;
    char group[TT_ITEST_NAME_MAX];
    size_t missing = 0, doubled = 0, old_after = 0, v1 = 0;
    pid_t sp;

    (void)state;
    rt_init(&t, "rth");
    tt_itest_create_topic(&t.conf.kafka, t.in, PARTS);
    make_events();
    tt_itest_produce(&t.conf.kafka, t.in, evs, N_A);

    /* version 1 from the topic; then the stream starts from it */
    rt_ok(&t, retrain, "retrain1.log", 0, 120);
    assert_true(log_has(&t, "retrain1.log", "published version 1"));
    sp = rt_spawn(&t, stream, "stream.log");
    wait_committed(&t, N_A, "stream.log", 90);
    assert_true(log_has(&t, "stream.log", "model version 1 (d=16"));
    tt_itest_produce(&t.conf.kafka, t.in, evs + N_A, N_B);
    wait_committed(&t, N_A + N_B, "stream.log", 90);

    /* version 2 while the stream runs */
    rt_set(&t, "retrain.max_mrr_drop", "1");
    rt_ok(&t, retrain, "retrain2.log", 0, 120);
    assert_true(log_has(&t, "retrain2.log", "published version 2"));
    if (!rt_wait_log(&t, "stream.log", "model swapped: version 1 -> 2", 60)) {
        dump_log(&t, "stream.log");
        fail_msg("the stream did not swap in version 2");
    }
    tt_itest_produce(&t.conf.kafka, t.in, evs + N_A + N_B, N_C);
    wait_committed(&t, N_ALL, "stream.log", 90);
    rt_stop(&t, sp, "stream.log");

    /* exactly one committed output per event; version 2 after the swap */
    memset(&x, 0, sizeof(x));
    x.len = N_ALL;
    for (int p = 0; p < PARTS; p++) {
        x.ix[p] = malloc(N_ALL * sizeof(int64_t));
        assert_non_null(x.ix[p]);
        for (int64_t k = 0; k < N_ALL; k++)
            x.ix[p][k] = -1;
    }
    assert_int_equal(tt_senc_new(&x.codec, NULL, 0), TT_ERR_OK);
    tt_itest_name(group, sizeof(group), "rth-in");
    assert_int_equal(tt_itest_consume(&t.conf.kafka, t.in, group, N_ALL,
                                      10000, in_cb, &x),
                     N_ALL);
    memset(&outs, 0, sizeof(outs));
    outs.x = &x;
    assert_int_equal(tt_senc_new(&outs.codec, NULL, 0), TT_ERR_OK);
    tt_itest_name(group, sizeof(group), "rth-out");
    tt_itest_consume(&t.conf.kafka, t.out, group, N_ALL + 1, 6000, out_cb,
                     &outs);
    for (size_t i = 0; i < N_ALL; i++) {
        missing += outs.count[i] == 0;
        doubled += outs.count[i] > 1;
        if (i >= N_A + N_B)
            old_after += outs.version[i] != 2;
        else
            v1 += outs.version[i] == 1;
    }
    if (missing || doubled || outs.strays || old_after)
        fail_msg("%zu records: %zu events without output, %zu with more "
                 "than one, %zu strays, %zu after the swap not version 2",
                 outs.records, missing, doubled, outs.strays, old_after);
    assert_int_equal(outs.records, N_ALL);
    assert_int_equal(v1, N_A + N_B);
    tt_senc_destroy(outs.codec);
    tt_senc_destroy(x.codec);
    for (int p = 0; p < PARTS; p++)
        free(x.ix[p]);
    rt_release(&t);
}

/* ---- gate_and_every ----------------------------------------------------- */

static void gate_and_every(void **state)
{
    struct rt t;
    struct tt_modelsub_stats st;
    tt_model_t *m;
    char log_path[256];
    const char *gen[] = {"gen", "-o", log_path, "-n", "20000", "-s", "3",
                         "--users", "800", "--items", "300", "-q", NULL};
    const char *retrain[] = {"retrain", "--input", log_path, NULL};
    const char *every[] = {"retrain", "--input", log_path, "--every", "1s",
                           NULL};
    char out1[256], out2[256];
    const char *warm[] = {"retrain", "--input", log_path, "--warm-start",
                          "serving", NULL};
    const char *dry1[] = {"retrain", "--input", log_path, "--warm-start",
                          "serving", "--dry-run", "--out", out1, NULL};
    const char *dry2[] = {"retrain", "--input", log_path, "--warm-start",
                          "serving", "--dry-run", "--out", out2, NULL};
    const char *wrong[] = {"retrain", "--input", log_path, "--warm-start",
                           out1, "--dry-run", NULL};
    tt_model_t *w1, *w2;
    bool v3;
    pid_t pid;
    int rc;

    (void)state;
    rt_init(&t, "rtg");
    snprintf(log_path, sizeof(log_path), "%s/log.csv", t.dir);
    assert_int_equal(rt_run(&t, gen, "gen.log", 60), 0);
    rt_ok(&t, retrain, "good.log", 0, 120);

    /* learning rates of ~0: a model far worse than the one in service */
    rt_set(&t, "train.lr1", "1e-9");
    rt_set(&t, "train.lr2", "1e-9");
    rt_ok(&t, retrain, "bad.log", 3, 120);
    assert_true(log_has(&t, "bad.log", "gate refused version 2"));
    m = catch_up(&t, NULL, &st, 1);
    assert_non_null(m);
    assert_int_equal(version_of(m), 1);
    assert_int_equal(st.max_version, 1);
    tt_model_destroy(m);

    /* warm start from version 1 (the default 2 + 2 epochs), through the
     * gate at the default max_mrr_drop 0.05 */
    rt_set(&t, "train.lr1", "0.01");
    rt_set(&t, "train.lr2", "0.001");
    rc = rt_run(&t, warm, "warm.log", 120);
    if (rc != 0 || !log_has(&t, "warm.log", "gate on") ||
        !log_has(&t, "warm.log", ": pass ("))
        dump_log(&t, "warm.log");
    assert_int_equal(rc, 0);
    assert_true(log_has(&t, "warm.log", "warm start from version 1: "));
    assert_true(log_has(&t, "warm.log", "; 2 + 2 epochs"));
    assert_true(log_has(&t, "warm.log", "stage 1: ") &&
                log_has(&t, "warm.log", ", 2 epochs, D = 16"));
    assert_true(log_has(&t, "warm.log", ": pass ("));
    assert_true(log_has(&t, "warm.log", "published version 2"));
    /* deterministic: two warm dry runs from version 2, the same bytes */
    snprintf(out1, sizeof(out1), "%s/warm1.ttm", t.dir);
    snprintf(out2, sizeof(out2), "%s/warm2.ttm", t.dir);
    assert_int_equal(rt_run(&t, dry1, "dry1.log", 120), 0);
    assert_int_equal(rt_run(&t, dry2, "dry2.log", 120), 0);
    assert_true(log_has(&t, "dry1.log", "warm start from version 2: "));
    {
        char err[256];

        assert_int_equal(tt_model_load(&w1, out1, err, sizeof(err)),
                         TT_ERR_OK);
        assert_int_equal(tt_model_load(&w2, out2, err, sizeof(err)),
                         TT_ERR_OK);
    }
    assert_same_bytes(w1, w2);
    tt_model_destroy(w1);
    tt_model_destroy(w2);
    /* a warm-start file of another D: refused before training */
    rt_set(&t, "model.dim", "8");
    rt_ok(&t, wrong, "wrong.log", 1, 120);
    assert_true(log_has(&t, "wrong.log", "D = 16 (feature dim 0), this "
                                         "training D = 8"));
    rt_set(&t, "model.dim", "16");

    /* periodic: versions 3, 4, ... until SIGTERM, then exit 0 */
    rt_set(&t, "retrain.max_mrr_drop", "1");
    pid = rt_spawn(&t, every, "every.log");
    v3 = rt_wait_log(&t, "every.log", "published version 3", 90);
    rt_stop(&t, pid, "every.log");
    if (!v3)
        dump_log(&t, "every.log");
    assert_true(v3);
    assert_true(log_has(&t, "every.log", "retrain: stopped"));
    m = catch_up(&t, NULL, &st, 3);
    assert_non_null(m);
    assert_true(version_of(m) >= 3);
    assert_int_equal(st.versions_rejected, 0);
    tt_model_destroy(m);
    rt_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kafka_round_trip),
        cmocka_unit_test(partial_and_corrupt),
        cmocka_unit_test(hot_swap),
        cmocka_unit_test(gate_and_every),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
