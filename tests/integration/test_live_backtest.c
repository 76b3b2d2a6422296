/*
 * The live backtest against a real broker (TT_TEST_BROKERS) and the real
 * `twotime` binary (TT_BINARY):
 *
 * - live_equals_offline: a generated log, a model trained on it (2TS,
 *   no Plus, so that the embedding the stream emits is the state h that
 *   the offline backtest measures), the log produced to a 4-partition
 *   topic, `twotime stream` over all of it (exactly once), then
 *   `backtest --live` and the offline `backtest --model` over `twotime
 *   dump` of the same topic (the dump's order is the live reader's merge
 *   order, so both see the same positions and candidates).  "Agree" is
 *   exact: the stream is bit-exact, so every count, MRR, Recall@10, group
 *   and bucket figure is equal as a number; only the embedding-change
 *   means are summed in another order (offline: 64 user shards; live: time
 *   order) and may differ in the last bits (relative 1e-9).  The live run
 *   must have paired every test interaction (no missing embedding or
 *   model, no duplicates, conflicts or strays).  Control: the same live
 *   run against another model of the same version (another training seed)
 *   gives another MRR, so the comparison can fail.
 * - versions_from_topic: models published by `twotime retrain` to the
 *   model topic, the stream following them; a second version published
 *   mid-stream.  `backtest --live` with no model file reads both versions
 *   from the topic, scores every test interaction (none missing), splits
 *   them by version, and counts the interactions scored across the swap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/tt_time.h"
#include "model/tt_jdoc.h"
#include "tests/integration/tt_itest.h"
#include "tests/integration/tt_itest_retrain.h"

#define EVENTS 6000

/* The retraining tests' setup (tt_itest_retrain.h) with batches of up to
 * 500 events and the default batch_ms and eval.negatives. */
static void live_init(struct rt *t, const char *prefix)
{
    static const struct rt_params p = {"live", "500", NULL, NULL};

    rt_init_with(t, prefix, &p);
}

/* ---- JSON -------------------------------------------------------------- */

static tt_jdoc_t *load_json(const struct rt *t, const char *name)
{
    char path[256], err[256];
    tt_jdoc_t *doc = NULL;

    snprintf(path, sizeof(path), "%s/%s", t->dir, name);
    if (tt_jdoc_load(&doc, path, 0, err, sizeof(err)) != TT_ERR_OK)
        fail_msg("%s", err);
    return doc;
}

static const struct tt_jval *get(const struct tt_jval *v, const char *path)
{
    char key[64];

    while (v && *path) {
        size_t n = strcspn(path, ".");

        assert_true(n < sizeof(key));
        memcpy(key, path, n);
        key[n] = '\0';
        if (v->type == TT_JARRAY) {
            char *end;
            unsigned long i = strtoul(key, &end, 10);

            v = *end || i >= v->n ? NULL : &v->u.items[i];
        } else {
            v = tt_jdoc_get(v, key);
        }
        path += n + (path[n] == '.');
    }
    if (!v)
        fail_msg("no %s in the report", path);
    return v;
}

static double num(const struct tt_jval *root, const char *path)
{
    const struct tt_jval *v = get(root, path);

    if (v->type != TT_JNUMBER)
        fail_msg("%s is not a number", path);
    return v->u.num.d;
}

/*
 * a == b, member by member, except keys named in `skip`; numbers exactly,
 * or within a relative 1e-9 under the keys "mean" and "later_mean" (sums
 * of doubles in another order).  `where` names the position for the
 * failure message.
 */
static void same(const struct tt_jval *a, const struct tt_jval *b,
                 const char *where, bool in_mean)
{
    static const char *const skip[] = {"seconds", "input", "live",
                                       "stage1_seconds", NULL};
    char sub[512];

    if (a->type != b->type)
        fail_msg("%s: %s vs %s", where, tt_jdoc_type_name(a->type),
                 tt_jdoc_type_name(b->type));
    switch (a->type) {
    case TT_JNUMBER:
        if (in_mean ? fabs(a->u.num.d - b->u.num.d) >
                          1e-9 * fabs(a->u.num.d)
                    : a->u.num.d != b->u.num.d)
            fail_msg("%s: offline %.17g, live %.17g", where, a->u.num.d,
                     b->u.num.d);
        break;
    case TT_JSTRING:
        if (strcmp(a->u.s, b->u.s))
            fail_msg("%s: \"%s\" vs \"%s\"", where, a->u.s, b->u.s);
        break;
    case TT_JBOOL:
        assert_int_equal(a->u.b, b->u.b);
        break;
    case TT_JARRAY:
        if (a->n != b->n)
            fail_msg("%s: %u vs %u items", where, a->n, b->n);
        for (uint32_t i = 0; i < a->n; i++) {
            snprintf(sub, sizeof(sub), "%s[%u]", where, i);
            same(&a->u.items[i], &b->u.items[i], sub, in_mean);
        }
        break;
    case TT_JOBJECT:
        for (uint32_t i = 0; i < a->n; i++) {
            const char *k = a->u.members[i].key;
            const struct tt_jval *bv;
            bool skipped = false;

            for (int s = 0; skip[s]; s++)
                skipped |= !strcmp(k, skip[s]);
            if (skipped)
                continue;
            bv = tt_jdoc_get(b, k);
            snprintf(sub, sizeof(sub), "%s.%s", where, k);
            if (!bv)
                fail_msg("%s: missing in the live report", sub);
            same(&a->u.members[i].val, bv, sub,
                 !strcmp(k, "mean") || !strcmp(k, "later_mean"));
        }
        break;
    case TT_JNULL:
        break;
    }
}

/* ---- live_equals_offline ---------------------------------------------- */

static void live_equals_offline(void **state)
{
    static const char *const gen[] = {
        "gen",     "--out",   "log.csv", "--events", "6000", "--seed", "3",
        "--users", "300",     "--items", "400",      "-q",   NULL};
    static const char *const train[] = {"train",  "--input", "log.csv",
                                        "--out",  "m.ttm",   "--no-plus",
                                        "-q",     NULL};
    static const char *const train2[] = {
        "train", "--input", "log.csv", "--out", "other.ttm", "--no-plus",
        "--seed", "99", "-q", NULL};
    static const char *const stream[] = {
        "stream", "--model", "m.ttm", "--no-follow-models", NULL};
    static const char *const dump[] = {"dump", "--out", "dump.avro", NULL};
    static const char *const offline[] = {
        "backtest", "--input", "dump.avro", "--model", "m.ttm",
        "--json",   "off.json", "-q", NULL};
    static const char *const live[] = {
        "backtest",         "--live",  "--model", "m.ttm",
        "--no-model-topic", "--json",  "live.json", "-q", NULL};
    static const char *const control[] = {
        "backtest",         "--live", "--model", "other.ttm",
        "--no-model-topic", "--json", "control.json", "-q", NULL};
    char produce_topic[TT_ITEST_NAME_MAX + 8];
    const char *produce[] = {"produce", "--input", "log.csv", "--topic",
                             NULL,      "-q",      NULL};
    struct rt t;
    tt_jdoc_t *off, *lv, *ctl;
    const struct tt_jval *o, *l;
    double scored;
    pid_t sp;

    (void)state;
    live_init(&t, "live");
    rt_ok(&t, gen, "gen.log", 0, 300);
    rt_ok(&t, train, "train.log", 0, 300);
    tt_itest_create_topic(&t.conf.kafka, t.in, PARTS);
    snprintf(produce_topic, sizeof(produce_topic), "%s", t.in);
    produce[4] = produce_topic;
    rt_ok(&t, produce, "produce.log", 0, 300);
    sp = rt_spawn(&t, stream, "stream.log");
    wait_committed(&t, EVENTS, "stream.log", 120);
    rt_stop(&t, sp, "stream.log");

    rt_ok(&t, dump, "dump.log", 0, 300);
    rt_ok(&t, offline, "offline.log", 0, 300);
    rt_ok(&t, live, "live.log", 0, 300);
    off = load_json(&t, "off.json");
    lv = load_json(&t, "live.json");
    o = tt_jdoc_root(off);
    l = tt_jdoc_root(lv);

    /* the pairing is complete */
    scored = num(o, "test.scored");
    assert_true(scored > 500);
    assert_true(num(l, "live.scored") == scored);
    assert_true(num(l, "live.input_records") == EVENTS);
    assert_true(num(l, "live.embeddings") == EVENTS);
    assert_true(num(l, "live.missing_embedding") == 0);
    assert_true(num(l, "live.missing_model") == 0);
    assert_true(num(l, "live.embeddings_unmatched") == 0);
    assert_true(num(l, "live.duplicate_embeddings") == 0);
    assert_true(num(l, "live.conflicting_embeddings") == 0);
    assert_true(num(l, "live.first_interactions") > 0);
    assert_true(num(l, "live.after_swap") == 0);
    assert_int_equal(get(l, "live.versions")->n, 1);
    assert_true(num(l, "live.versions.0.interactions") == scored);
    assert_true(num(l, "live.versions.0.mrr") == num(o, "models.0.mrr"));

    /* both groups and new users are in play, so the equality means much */
    assert_true(num(o, "models.0.groups.active.interactions") > 50);
    assert_true(num(o, "models.0.groups.inactive.interactions") > 50);
    assert_true(num(o, "test.new_user_interactions") > 0);
    assert_true(num(o, "models.0.mrr") > 0.01);

    /* offline == live: every figure of the report but times */
    same(o, l, "report", false);
    fprintf(stderr, "offline and live agree: %g test interactions, MRR %.6f, "
                    "Recall@10 %.6f\n",
            scored, num(l, "models.0.mrr"), num(l, "models.0.recall_at_10"));

    /* control: another model under the same version number disagrees */
    rt_ok(&t, train2, "train2.log", 0, 300);
    rt_ok(&t, control, "control.log", 0, 300);
    ctl = load_json(&t, "control.json");
    assert_true(num(tt_jdoc_root(ctl), "models.0.mrr") !=
                num(o, "models.0.mrr"));
    tt_jdoc_destroy(ctl);
    tt_jdoc_destroy(off);
    tt_jdoc_destroy(lv);
    rt_release(&t);
}

/* ---- versions_from_topic ----------------------------------------------- */

static void versions_from_topic(void **state)
{
    static const char *const gen[] = {
        "gen",     "--out",   "log.csv", "--events", "6000", "--seed", "5",
        "--users", "300",     "--items", "400",      "-q",   NULL};
    static const char *const retrain[] = {"retrain", "-q", NULL};
    static const char *const stream[] = {"stream", "--instance", "a", NULL};
    static const char *const live[] = {"backtest", "--live", "--json",
                                       "live.json", NULL};
    char topic[TT_ITEST_NAME_MAX + 8];
    const char *produce_a[] = {"produce", "--input", "a.csv", "--topic",
                               topic,     "-q",      NULL};
    const char *produce_b[] = {"produce", "--input", "b.csv", "--topic",
                               topic,     "-q",      NULL};
    struct rt t;
    tt_jdoc_t *lv;
    const struct tt_jval *l, *vs;
    double sum = 0;
    char cmd[512];
    pid_t sp;

    (void)state;
    live_init(&t, "livev");
    rt_ok(&t, gen, "gen.log", 0, 300);
    /* a.csv: the first 70% (history and the first model's training), b.csv
     * the rest (replayed after version 2 is out) */
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && head -n 4201 log.csv > a.csv && "
             "(head -n 1 log.csv; tail -n +4202 log.csv) > b.csv",
             t.dir);
    assert_int_equal(system(cmd), 0);
    tt_itest_create_topic(&t.conf.kafka, t.in, PARTS);
    snprintf(topic, sizeof(topic), "%s", t.in);
    rt_ok(&t, produce_a, "produce_a.log", 0, 300);
    rt_ok(&t, retrain, "retrain1.log", 0, 300);
    assert_true(log_has(&t, "retrain1.log", "published version 1"));
    sp = rt_spawn(&t, stream, "stream.log");
    wait_committed(&t, 4200, "stream.log", 120);

    /* version 2 (trained on the same history, another seed) */
    rt_set(&t, "retrain.max_mrr_drop", "1");
    rt_set(&t, "train.seed", "8");
    rt_ok(&t, retrain, "retrain2.log", 0, 300);
    assert_true(log_has(&t, "retrain2.log", "published version 2"));
    if (!rt_wait_log(&t, "stream.log", "model swapped: version 1 -> 2", 60)) {
        dump_log(&t, "stream.log");
        fail_msg("the stream did not swap in version 2");
    }
    rt_ok(&t, produce_b, "produce_b.log", 0, 300);
    wait_committed(&t, EVENTS, "stream.log", 120);
    rt_stop(&t, sp, "stream.log");

    rt_ok(&t, live, "live.log", 0, 300);
    lv = load_json(&t, "live.json");
    l = tt_jdoc_root(lv);
    assert_true(num(l, "live.missing_embedding") == 0);
    assert_true(num(l, "live.missing_model") == 0);
    assert_true(num(l, "live.scored") == num(l, "test.scored"));
    vs = get(l, "live.versions");
    assert_int_equal(vs->n, 2);
    assert_true(num(l, "live.versions.0.version") == 1);
    assert_true(num(l, "live.versions.1.version") == 2);
    assert_string_equal(get(l, "live.versions.0.source")->u.s, "topic");
    for (uint32_t i = 0; i < vs->n; i++)
        sum += num(&vs->u.items[i], "interactions");
    assert_true(sum == num(l, "live.scored"));
    /* the test slice (the last 20%) is all after the swap: users whose
     * previous interaction came before it are scored with version 1 */
    assert_true(num(l, "live.versions.1.interactions") > 0);
    assert_true(num(l, "live.after_swap") ==
                num(l, "live.versions.0.interactions"));
    tt_jdoc_destroy(lv);
    rt_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(live_equals_offline),
        cmocka_unit_test(versions_from_topic),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
