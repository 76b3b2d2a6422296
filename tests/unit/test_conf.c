/*
 * Unit tests of conf/: defaults, the shipped conf/twotime.conf, errors with
 * file and line, overrides, cross-field rules, secret redaction, and the
 * `twotime config` command.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf/tt_conf.h"

static char tmpdir[256];

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_conf.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes `text` to tmpdir/name; the path goes into `path`. */
static void write_file(const char *name, const char *text, char *path,
                       size_t size)
{
    FILE *f;

    snprintf(path, size, "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Loads `text` as a file over the defaults; returns the error and leaves
 * the message in errstr. */
static tt_err_t load_text(const char *text, char *path, size_t path_size,
                          char *errstr, size_t errstr_size)
{
    struct tt_conf c;
    tt_err_t err;

    write_file("t.conf", text, path, path_size);
    assert_int_equal(tt_conf_init(&c), TT_ERR_OK);
    errstr[0] = '\0';
    err = tt_conf_load_file(&c, path, errstr, errstr_size);
    tt_conf_release(&c);
    return err;
}

/* Expects loading `text` to fail with exactly "PATH:" + `msg`. */
static void expect_load_error(const char *text, const char *msg)
{
    char path[512], errstr[512], want[1024];

    assert_int_equal(load_text(text, path, sizeof(path), errstr,
                               sizeof(errstr)),
                     TT_ERR_CONF);
    snprintf(want, sizeof(want), "%s:%s", path, msg);
    assert_string_equal(errstr, want);
}

/* tt_conf_print into a malloc'd string. */
static char *print_to_string(const struct tt_conf *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    tt_conf_print(c, f);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static const char *source_dir(void)
{
    const char *dir = getenv("TT_SOURCE_DIR");

    if (!dir)
        fail_msg("TT_SOURCE_DIR is not set (run the test through ctest)");
    return dir;
}

static void test_defaults(void **state)
{
    struct tt_conf c;
    char errstr[256];

    (void)state;
    assert_int_equal(tt_conf_init(&c), TT_ERR_OK);
    assert_int_equal(tt_conf_validate(&c, errstr, sizeof(errstr)), TT_ERR_OK);
    /* The values the project settled on, one by one, so that a setting
     * missing from the table shows up as NULL or 0 here. */
    assert_string_equal(c.kafka.brokers, "127.0.0.1:19092");
    assert_string_equal(c.kafka.group_id, "twotime-stream");
    assert_string_equal(c.kafka.client_id, "twotime");
    assert_string_equal(c.kafka.input_topic, "twotime.interactions");
    assert_string_equal(c.kafka.output_topic, "twotime.embeddings");
    assert_string_equal(c.kafka.changelog_topic, "twotime.state-changelog");
    assert_string_equal(c.kafka.dead_letter_topic, "twotime.dead-letters");
    assert_string_equal(c.kafka.model_topic, "twotime.models");
    assert_int_equal(c.kafka.partitions, 4);
    assert_true(c.kafka.exactly_once);
    assert_string_equal(c.kafka.transactional_id, "twotime-stream");
    assert_int_equal(c.kafka.batch_max, 2000);
    assert_int_equal(c.kafka.batch_ms, 100);
    assert_int_equal(c.kafka.n_props, 0);
    assert_string_equal(c.state.path, "var/state");
    assert_int_equal(c.state.cache_mb, 64);
    assert_int_equal(c.state.write_buffer_mb, 32);
    assert_int_equal(c.state.user_cache, 100000);
    assert_int_equal(c.state.history_max, 256);
    assert_int_equal(c.model.dim, 64);
    assert_int_equal(c.model.tstar, 100);
    assert_int_equal(c.model.k, 50);
    assert_true(c.model.plus);
    assert_false(c.model.features);
    assert_int_equal(c.model.feature_dim, 16);
    assert_string_equal(c.model.path, "");
    assert_int_equal(c.train.seed, 42);
    assert_int_equal(c.train.threads, 2);
    assert_int_equal(c.train.negatives, 32);
    assert_string_equal(c.train.optimizer, "adam");
    assert_int_equal(c.train.epochs1, 10);
    assert_true(c.train.lr1 == 0.001);
    assert_true(c.train.l2 == 1e-6);
    assert_int_equal(c.train.epochs2, 30);
    assert_true(c.train.lr2 == 0.001);
    assert_int_equal(c.train.batch, 64);
    assert_int_equal(c.train.patience, 5);
    assert_true(c.train.clip == 5.0);
    assert_true(c.train.auto_tstar);
    assert_true(c.train.inactive_all);
    assert_true(c.eval.train_frac == 0.7);
    assert_true(c.eval.valid_frac == 0.1);
    assert_int_equal(c.eval.negatives, 499);
    assert_int_equal(c.eval.seed, 7);
    assert_int_equal(c.eval.max_test, 0);
    assert_string_equal(c.metrics.bind, "127.0.0.1");
    assert_int_equal(c.metrics.port, 9464);
    assert_string_equal(c.log_level, "info");
    tt_conf_release(&c);
}

/*
 * The shipped file must name every setting (each with a comment on its
 * line) and hold exactly the defaults, so that it cannot drift from the
 * table.  The list of settings comes from tt_conf_print's output, parsed
 * back with libconfig.
 */
static void test_shipped_file(void **state)
{
    struct tt_conf defaults, loaded;
    char path[1024], errstr[512], line[1024];
    char *want, *got;
    config_t printed, shipped;
    config_setting_t *root;
    int n_checked = 0;

    (void)state;
    snprintf(path, sizeof(path), "%s/conf/twotime.conf", source_dir());
    assert_int_equal(tt_conf_init(&defaults), TT_ERR_OK);
    assert_int_equal(tt_conf_init(&loaded), TT_ERR_OK);
    if (tt_conf_load_file(&loaded, path, errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    assert_int_equal(tt_conf_validate(&loaded, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    want = print_to_string(&defaults);
    got = print_to_string(&loaded);
    assert_string_equal(got, want);

    config_init(&printed);
    config_init(&shipped);
    assert_int_equal(config_read_string(&printed, want), CONFIG_TRUE);
    assert_int_equal(config_read_file(&shipped, path), CONFIG_TRUE);
    root = config_root_setting(&printed);
    for (int i = 0; i < config_setting_length(root); i++) {
        config_setting_t *g = config_setting_get_elem(root, (unsigned)i);
        int n = config_setting_is_group(g) ? config_setting_length(g) : 1;

        for (int j = 0; j < n; j++) {
            config_setting_t *s =
                config_setting_is_group(g)
                    ? config_setting_get_elem(g, (unsigned)j)
                    : g;
            const config_setting_t *f;
            char name[256];
            FILE *fp;

            if (s == g)
                snprintf(name, sizeof(name), "%s", config_setting_name(s));
            else
                snprintf(name, sizeof(name), "%s.%s", config_setting_name(g),
                         config_setting_name(s));
            f = config_lookup(&shipped, name);
            if (!f)
                fail_msg("conf/twotime.conf lacks the setting %s", name);
            if (!strcmp(name, "kafka.properties"))
                continue;
            /* Its own line must carry a comment. */
            fp = fopen(path, "r");
            assert_non_null(fp);
            for (unsigned l = 0; l < config_setting_source_line(f); l++)
                assert_non_null(fgets(line, sizeof(line), fp));
            fclose(fp);
            if (!strchr(line, '#'))
                fail_msg("conf/twotime.conf:%u: %s has no comment",
                         config_setting_source_line(f), name);
            n_checked++;
        }
    }
    /* Every setting of struct tt_conf but the property list. */
    assert_int_equal(n_checked, 55);
    config_destroy(&printed);
    config_destroy(&shipped);
    free(want);
    free(got);
    tt_conf_release(&defaults);
    tt_conf_release(&loaded);
}

static void test_print_round_trip(void **state)
{
    struct tt_conf a, b;
    char errstr[512];
    char *first, *second;

    (void)state;
    assert_int_equal(tt_conf_init(&a), TT_ERR_OK);
    assert_int_equal(tt_conf_set(&a, "model.path",
                                 "dir with \"quotes\"\\ and\ttab\x01", errstr,
                                 sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(tt_conf_set(&a, "train.seed", "18000000000000000000",
                                 errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(tt_conf_set(&a, "eval.seed", "3000000000", errstr,
                                 sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(tt_conf_set(&a, "train.lr1", "0.123456789012345678",
                                 errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(tt_conf_set(&a, "train.clip", "3", errstr,
                                 sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(tt_conf_set(&a, "kafka.properties.acks", "all", errstr,
                                 sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(tt_conf_set(&a, "kafka.properties.linger.ms", "5",
                                 errstr, sizeof(errstr)),
                     TT_ERR_OK);
    first = print_to_string(&a);

    assert_int_equal(tt_conf_init(&b), TT_ERR_OK);
    if (tt_conf_load_string(&b, first, "printed", errstr, sizeof(errstr)))
        fail_msg("%s\n%s", errstr, first);
    assert_string_equal(b.model.path, a.model.path);
    assert_true(b.train.lr1 == a.train.lr1);
    assert_int_equal(b.eval.seed, 3000000000u);
    /* libconfig reads at most int64: a larger seed comes back clamped. */
    assert_true(b.train.seed == INT64_MAX);
    b.train.seed = a.train.seed;
    second = print_to_string(&b);
    assert_string_equal(second, first);
    free(first);
    free(second);
    tt_conf_release(&a);
    tt_conf_release(&b);
}

static void test_syntax_error_line(void **state)
{
    (void)state;
    expect_load_error("model = {\n  dim = 32;\n\n  tstar = ;\n};\n",
                      "4: syntax error");
    expect_load_error("# comment\nmodel = {\n  dim = 32;\n}}\n",
                      "4: syntax error");
    /* An unterminated string is noticed, and reported, at the end. */
    expect_load_error("kafka = {\n  brokers = \"x;\n};\n\n",
                      "5: syntax error");
    expect_load_error("model = {\n  dim = 32;\n  dim = 16;\n};\n",
                      "3: duplicate setting name");
}

static void test_unknown_setting_line(void **state)
{
    (void)state;
    expect_load_error("model = {\n  dim = 32;\n  dimm = 16;\n};\n",
                      "3: unknown setting 'model.dimm' (did you mean "
                      "'model.dim'?)");
    expect_load_error("\n\nmodle = {\n  dim = 32;\n};\n",
                      "3: unknown setting 'modle' (did you mean 'model'?)");
    expect_load_error("dim = 32;\n",
                      "1: unknown setting 'dim' (did you mean 'model.dim'?)");
    expect_load_error("kafka = {\n  flux_capacitor = 1;\n};\n",
                      "2: unknown setting 'kafka.flux_capacitor'");
    expect_load_error("model = {\n  sub = {\n    dim = 3;\n  };\n};\n",
                      "2: unknown setting 'model.sub'");
    expect_load_error("model = 64;\n",
                      "1: model must be a group: model = { ... };");
}

static void test_wrong_type_line(void **state)
{
    char path[512], errstr[512];

    (void)state;
    expect_load_error("model = {\n  dim = \"64\";\n};\n",
                      "2: model.dim must be an integer");
    expect_load_error("model = {\n  dim = 64.0;\n};\n",
                      "2: model.dim must be an integer");
    expect_load_error("model = {\n\n  plus = 1;\n};\n",
                      "3: model.plus must be true or false");
    expect_load_error("kafka = { brokers = 5; };\n",
                      "1: kafka.brokers must be a string");
    expect_load_error("train = {\n  lr1 = \"fast\";\n};\n",
                      "2: train.lr1 must be a number");
    expect_load_error("train = {\n  seed = 1.5;\n};\n",
                      "2: train.seed must be a non-negative integer");
    expect_load_error("log_level = [1, 2];\n",
                      "1: log_level must be a string");
    /* Integers are fine where reals are expected. */
    assert_int_equal(load_text("train = { lr1 = 1; clip = 0; };\n", path,
                               sizeof(path), errstr, sizeof(errstr)),
                     TT_ERR_OK);
}

static void test_out_of_range_line(void **state)
{
    char path[512], errstr[512];
    struct tt_conf c;

    (void)state;
    expect_load_error("model = {\n  dim = 0;\n};\n",
                      "2: model.dim = 0 is out of range [2, 1024]");
    expect_load_error("model = {\n  dim = 1025;\n};\n",
                      "2: model.dim = 1025 is out of range [2, 1024]");
    expect_load_error("eval = {\n  train_frac = 1.5;\n};\n",
                      "2: eval.train_frac = 1.5 is out of range [0, 1]");
    expect_load_error("eval = {\n  negatives = 0;\n};\n",
                      "2: eval.negatives = 0 is out of range [1, 1000000]");
    expect_load_error("train = {\n  optimizer = \"adagrad\";\n};\n",
                      "2: train.optimizer = \"adagrad\" is not one of "
                      "adam|sgd");
    expect_load_error("kafka = {\n  brokers = \"\";\n};\n",
                      "2: kafka.brokers must be 1 to 4095 characters long "
                      "(is 0)");
    expect_load_error("train = {\n  seed = -1;\n};\n",
                      "2: train.seed = -1 is out of range [0, "
                      "18446744073709551615]");
    /* libconfig 1.5 wraps a plain integer above 2^31; with L it is 64-bit. */
    expect_load_error("train = {\n  seed = 3000000000;\n};\n",
                      "2: train.seed = -1294967296 is out of range [0, "
                      "18446744073709551615]");
    write_file("seed.conf", "train = { seed = 3000000000L; };\n", path,
               sizeof(path));
    assert_int_equal(tt_conf_init(&c), TT_ERR_OK);
    assert_int_equal(tt_conf_load_file(&c, path, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_true(c.train.seed == 3000000000u);
    tt_conf_release(&c);
}

/* Sets `kv` on fresh defaults and expects validation to fail mentioning
 * `needle`. */
static void expect_invalid(const char *const *kvs, const char *needle)
{
    struct tt_conf c;
    char errstr[512];

    assert_int_equal(tt_conf_init(&c), TT_ERR_OK);
    for (; *kvs; kvs++) {
        if (tt_conf_set_kv(&c, *kvs, errstr, sizeof(errstr)))
            fail_msg("%s: %s", *kvs, errstr);
    }
    assert_int_equal(tt_conf_validate(&c, errstr, sizeof(errstr)),
                     TT_ERR_CONF);
    if (!strstr(errstr, needle))
        fail_msg("'%s' does not mention '%s'", errstr, needle);
    tt_conf_release(&c);
}

static void test_cross_field_rules(void **state)
{
    struct tt_conf c;
    char errstr[512];

    (void)state;
    expect_invalid((const char *[]){"model.k=101", NULL},
                   "model.k = 101 must be <= model.tstar = 100");
    expect_invalid((const char *[]){"eval.train_frac=0.9",
                                    "eval.valid_frac=0.1", NULL},
                   "sum to less than 1");
    expect_invalid((const char *[]){"eval.valid_frac=0", NULL},
                   "eval.valid_frac = 0");
    expect_invalid((const char *[]){"eval.train_frac=0", NULL},
                   "eval.train_frac = 0");
    expect_invalid((const char *[]){"model.features=true", "model.dim=1000",
                                    "model.feature_dim=64", NULL},
                   "model.dim + model.feature_dim = 1064 exceeds 1024");
    expect_invalid((const char *[]){"kafka.transactional_id=", NULL},
                   "kafka.transactional_id must be set");
    expect_invalid((const char *[]){"kafka.output_topic=twotime.interactions",
                                    NULL},
                   "kafka.input_topic and kafka.output_topic");
    expect_invalid((const char *[]){"kafka.model_topic=bad topic", NULL},
                   "not a Kafka topic name");
    expect_invalid((const char *[]){"metrics.bind=", NULL}, "metrics.bind");
    expect_invalid((const char *[]){"state.history_max=10", NULL},
                   "state.history_max = 10 must be >= model.k = 50");
    expect_invalid((const char *[]){"state.history_max=97", NULL},
                   "state.history_max = 97 must be >= 2 * model.k - 2 = 98");
    expect_invalid((const char *[]){"train.window_hop=51", NULL},
                   "train.window_hop = 51 must be <= model.k = 50");
    expect_invalid((const char *[]){"kafka.properties.bootstrap.servers=h:1",
                                    NULL},
                   "set kafka.brokers instead");
    expect_invalid((const char *[]){"kafka.properties.consumer.group.id=g",
                                    NULL},
                   "set kafka.group_id instead");

    /* The same settings are fine once the rule holds. */
    assert_int_equal(tt_conf_init(&c), TT_ERR_OK);
    assert_int_equal(tt_conf_set_kv(&c, "model.k=100", errstr,
                                    sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(tt_conf_set_kv(&c, "kafka.exactly_once=false", errstr,
                                    sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(tt_conf_set_kv(&c, "kafka.transactional_id=", errstr,
                                    sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(tt_conf_set_kv(&c, "metrics.port=0", errstr,
                                    sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(tt_conf_set_kv(&c, "metrics.bind=", errstr,
                                    sizeof(errstr)),
                     TT_ERR_OK);
    if (tt_conf_validate(&c, errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    /* A value put into the struct by hand is range-checked as well. */
    c.model.dim = 1;
    assert_int_equal(tt_conf_validate(&c, errstr, sizeof(errstr)),
                     TT_ERR_CONF);
    assert_string_equal(errstr, "model.dim = 1 is out of range [2, 1024]");
    tt_conf_release(&c);
}

static void test_set_overrides(void **state)
{
    struct tt_conf c;
    char path[512], errstr[512];

    (void)state;
    write_file("props.conf",
               "kafka = {\n"
               "  brokers = \"b1:9092,b2:9092\";\n"
               "  properties = (\n"
               "    (\"security.protocol\", \"SASL_SSL\"),\n"
               "    (\"sasl.mechanism\", \"PLAIN\")\n"
               "  );\n"
               "};\n",
               path, sizeof(path));
    assert_int_equal(tt_conf_init(&c), TT_ERR_OK);
    assert_int_equal(tt_conf_load_file(&c, path, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_string_equal(c.kafka.brokers, "b1:9092,b2:9092");
    assert_int_equal(c.kafka.n_props, 2);
    assert_string_equal(c.kafka.props[0].key, "security.protocol");
    assert_string_equal(c.kafka.props[0].value, "SASL_SSL");
    assert_string_equal(c.kafka.props[1].key, "sasl.mechanism");

    /* Overrides replace a property, add one, and set plain settings. */
    assert_int_equal(tt_conf_set(&c, "kafka.properties.security.protocol",
                                 "SSL", errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(tt_conf_set_kv(&c, "kafka.properties.acks=all", errstr,
                                    sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(c.kafka.n_props, 3);
    assert_string_equal(c.kafka.props[0].value, "SSL");
    assert_string_equal(c.kafka.props[2].key, "acks");
    assert_string_equal(c.kafka.props[2].value, "all");
    assert_int_equal(tt_conf_set_kv(&c, "model.dim=32", errstr,
                                    sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(c.model.dim, 32);
    assert_int_equal(tt_conf_set_kv(&c, " model.plus = off", errstr,
                                    sizeof(errstr)),
                     TT_ERR_CONF); /* the value " off" is not a boolean */
    assert_int_equal(tt_conf_set_kv(&c, " model.plus =off", errstr,
                                    sizeof(errstr)),
                     TT_ERR_OK);
    assert_false(c.model.plus);
    assert_int_equal(tt_conf_set_kv(&c, "train.lr2=1e-4", errstr,
                                    sizeof(errstr)),
                     TT_ERR_OK);
    assert_true(c.train.lr2 == 1e-4);
    assert_int_equal(tt_conf_set_kv(&c, "train.seed=18446744073709551615",
                                    errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_true(c.train.seed == UINT64_MAX);
    assert_int_equal(tt_conf_set_kv(&c, "model.path=a=b", errstr,
                                    sizeof(errstr)),
                     TT_ERR_OK);
    assert_string_equal(c.model.path, "a=b");

    /* Bad overrides fail and leave the old value. */
    assert_int_equal(tt_conf_set_kv(&c, "model.dim=abc", errstr,
                                    sizeof(errstr)),
                     TT_ERR_CONF);
    assert_string_equal(errstr, "model.dim must be an integer, not \"abc\"");
    assert_int_equal(tt_conf_set_kv(&c, "model.dim=1", errstr,
                                    sizeof(errstr)),
                     TT_ERR_CONF);
    assert_string_equal(errstr, "model.dim = 1 is out of range [2, 1024]");
    assert_int_equal(c.model.dim, 32);
    assert_int_equal(tt_conf_set_kv(&c, "train.seed=-1", errstr,
                                    sizeof(errstr)),
                     TT_ERR_CONF);
    assert_int_equal(tt_conf_set_kv(&c, "train.lr1=nan", errstr,
                                    sizeof(errstr)),
                     TT_ERR_CONF);
    assert_int_equal(tt_conf_set_kv(&c, "model.dim=99999999999999999999",
                                    errstr, sizeof(errstr)),
                     TT_ERR_CONF);
    assert_int_equal(tt_conf_set_kv(&c, "model.dimm=3", errstr,
                                    sizeof(errstr)),
                     TT_ERR_CONF);
    assert_string_equal(errstr, "unknown setting 'model.dimm' (did you mean "
                                "'model.dim'?)");
    assert_int_equal(tt_conf_set_kv(&c, "kafka.properties=x", errstr,
                                    sizeof(errstr)),
                     TT_ERR_CONF);
    assert_int_equal(tt_conf_set_kv(&c, "kafka.properties.=x", errstr,
                                    sizeof(errstr)),
                     TT_ERR_CONF);
    assert_int_equal(tt_conf_set_kv(&c, "=x", errstr, sizeof(errstr)),
                     TT_ERR_CONF);
    assert_int_equal(c.model.dim, 32);
    assert_int_equal(c.kafka.n_props, 3);
    if (tt_conf_validate(&c, errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    tt_conf_release(&c);
}

static void test_property_list_errors(void **state)
{
    (void)state;
    expect_load_error("kafka = {\n  properties = (\n    (\"acks\", \"all\"),\n"
                      "    (\"linger.ms\", 5)\n  );\n};\n",
                      "4: kafka.properties element 2 must be a (\"name\", "
                      "\"value\") pair of strings");
    expect_load_error("kafka = {\n  properties = ( (\"a\", \"b\", \"c\") "
                      ");\n};\n",
                      "2: kafka.properties element 1 must be a (\"name\", "
                      "\"value\") pair of strings");
    expect_load_error("kafka = {\n  properties = { acks = \"all\"; };\n};\n",
                      "2: kafka.properties must be a list of (\"name\", "
                      "\"value\") pairs");
    expect_load_error("kafka = {\n  properties = ( (\"\", \"x\") );\n};\n",
                      "2: kafka.properties: a property name must be 1 to "
                      "255 characters long");
}

static void test_secrets(void **state)
{
    static const char *const secret[] = {
        "sasl.password",
        "ssl.key.password",
        "ssl.keystore.password",
        "ssl.key.pem",
        "ssl.key.location",
        "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.config",
        "sasl.oauthbearer.extensions",
        "sasl.jaas.config",
        "SASL.PASSWORD",
        "sasl.oauthbearer.token.endpoint.url",
        "schema.registry.api_key",
        "apikey",
        "consumer.sasl.oauthbearer.config",
        "producer.sasl.password",
        "admin.ssl.key.pem",
    };
    static const char *const plain[] = {
        "security.protocol",  "sasl.mechanism",        "sasl.username",
        "ssl.ca.location",    "ssl.certificate.location", "acks",
        "linger.ms",          "ssl.keystore.location", "sasl.kerberos.keytab",
        "partitioner",        "kafka.brokers",         "enable.idempotence",
        "consumer.session.timeout.ms",
    };
    struct tt_conf c;
    char errstr[512];
    char *out;

    (void)state;
    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
        if (!tt_conf_is_secret(secret[i]))
            fail_msg("%s should be secret", secret[i]);
    }
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        if (tt_conf_is_secret(plain[i]))
            fail_msg("%s should not be secret", plain[i]);
    }
    assert_false(tt_conf_is_secret(NULL));

    assert_int_equal(tt_conf_init(&c), TT_ERR_OK);
    assert_int_equal(tt_conf_set(&c, "kafka.properties.sasl.password",
                                 "hunter2", errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(tt_conf_set(&c, "kafka.properties.ssl.key.pem",
                                 "-----BEGIN PRIVATE KEY-----xyz", errstr,
                                 sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(tt_conf_set(&c, "kafka.properties.sasl.jaas.config",
                                 "user=\"u\" password=\"pw\"", errstr,
                                 sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(tt_conf_set(&c,
                                 "kafka.properties.sasl.oauthbearer.client."
                                 "secret",
                                 "s3cr3t", errstr, sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(tt_conf_set(&c, "kafka.properties.security.protocol",
                                 "SASL_SSL", errstr, sizeof(errstr)),
                     TT_ERR_OK);
    out = print_to_string(&c);
    assert_null(strstr(out, "hunter2"));
    assert_null(strstr(out, "PRIVATE KEY"));
    assert_null(strstr(out, "pw"));
    assert_null(strstr(out, "s3cr3t"));
    assert_non_null(strstr(out, "(\"sasl.password\", \"<redacted>\")"));
    assert_non_null(strstr(out, "(\"ssl.key.pem\", \"<redacted>\")"));
    assert_non_null(strstr(out, "(\"security.protocol\", \"SASL_SSL\")"));
    free(out);

    /* A mistyped --set never echoes what may be a secret. */
    assert_int_equal(tt_conf_set_kv(&c, "kafka.properties.sasl.password:"
                                        "hunter2",
                                    errstr, sizeof(errstr)),
                     TT_ERR_CONF);
    assert_null(strstr(errstr, "hunter2"));
    tt_conf_release(&c);
}

static void test_release(void **state)
{
    struct tt_conf c;

    (void)state;
    memset(&c, 0, sizeof(c));
    tt_conf_release(&c);
    assert_int_equal(tt_conf_init(&c), TT_ERR_OK);
    tt_conf_release(&c);
    assert_null(c.kafka.brokers);
    assert_null(c.kafka.props);
    tt_conf_release(&c); /* twice is fine: release zeroes */
}

static void test_io_errors(void **state)
{
    struct tt_conf c;
    char path[512], errstr[512];

    (void)state;
    assert_int_equal(tt_conf_init(&c), TT_ERR_OK);
    snprintf(path, sizeof(path), "%s/no-such.conf", tmpdir);
    assert_int_equal(tt_conf_load_file(&c, path, errstr, sizeof(errstr)),
                     TT_ERR_IO);
    assert_non_null(strstr(errstr, "no-such.conf: cannot open"));
    assert_int_equal(tt_conf_load_file(&c, tmpdir, errstr, sizeof(errstr)),
                     TT_ERR_IO);
    if (tt_conf_validate(&c, errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    tt_conf_release(&c);
}

static void test_include(void **state)
{
    char inc[512], text[1024], path[512], errstr[512], want[1024];
    struct tt_conf c;

    (void)state;
    /* Errors inside an included file name that file and its line. */
    write_file("inc.conf", "dim = 32;\ntstar = 0;\n", inc, sizeof(inc));
    snprintf(text, sizeof(text), "model = {\n@include \"%s\"\n};\n", inc);
    assert_int_equal(load_text(text, path, sizeof(path), errstr,
                               sizeof(errstr)),
                     TT_ERR_OK);
    write_file("inc.conf", "dim = 32;\ndimm = 0;\n", inc, sizeof(inc));
    assert_int_equal(load_text(text, path, sizeof(path), errstr,
                               sizeof(errstr)),
                     TT_ERR_CONF);
    snprintf(want, sizeof(want),
             "%s:2: unknown setting 'model.dimm' (did you mean "
             "'model.dim'?)",
             inc);
    assert_string_equal(errstr, want);

    /* Text from memory never opens a file. */
    assert_int_equal(tt_conf_init(&c), TT_ERR_OK);
    assert_int_equal(tt_conf_load_string(&c, text, "mem", errstr,
                                         sizeof(errstr)),
                     TT_ERR_CONF);
    assert_string_equal(errstr, "mem:2: cannot open include file");
    tt_conf_release(&c);
}

/* Runs `twotime ARGS`; returns its exit code, its output in `out`. */
static int run_cli(const char *args, char *out, size_t size)
{
    const char *bin = getenv("TT_BINARY");
    char cmd[2048];
    size_t n;
    FILE *p;
    int status;

    if (!bin || access(bin, X_OK) != 0)
        fail_msg("TT_BINARY (%s) is not an executable twotime program: build "
                 "the `twotime` target before running the tests",
                 bin ? bin : "unset");
    snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", bin, args);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    status = pclose(p);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_cli(void **state)
{
    char args[2048], out[16384], shipped[1024], bad[512];

    (void)state;
    snprintf(shipped, sizeof(shipped), "%s/conf/twotime.conf", source_dir());
    snprintf(args, sizeof(args), "config check '%s'", shipped);
    assert_int_equal(run_cli(args, out, sizeof(out)), 0);
    assert_non_null(strstr(out, ": ok"));

    write_file("bad.conf", "model = {\n  dim = 0;\n};\n", bad, sizeof(bad));
    snprintf(args, sizeof(args), "config check '%s'", bad);
    assert_int_equal(run_cli(args, out, sizeof(out)), 2);
    assert_non_null(strstr(out, "bad.conf:2: model.dim = 0 is out of range"));

    snprintf(args, sizeof(args), "config check '%s' --set model.k=500",
             shipped);
    assert_int_equal(run_cli(args, out, sizeof(out)), 2);

    snprintf(args, sizeof(args),
             "config print '%s' --set kafka.properties.sasl.password=hunter2 "
             "--set model.dim=48",
             shipped);
    assert_int_equal(run_cli(args, out, sizeof(out)), 0);
    assert_null(strstr(out, "hunter2"));
    assert_non_null(strstr(out, "\"<redacted>\""));
    assert_non_null(strstr(out, "dim = 48;"));

    assert_int_equal(run_cli("config --help", out, sizeof(out)), 0);
    assert_int_equal(run_cli("config check", out, sizeof(out)), 2);
    assert_int_equal(run_cli("config frob", out, sizeof(out)), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_shipped_file),
        cmocka_unit_test(test_print_round_trip),
        cmocka_unit_test(test_syntax_error_line),
        cmocka_unit_test(test_unknown_setting_line),
        cmocka_unit_test(test_wrong_type_line),
        cmocka_unit_test(test_out_of_range_line),
        cmocka_unit_test(test_cross_field_rules),
        cmocka_unit_test(test_set_overrides),
        cmocka_unit_test(test_property_list_errors),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_io_errors),
        cmocka_unit_test(test_include),
        cmocka_unit_test(test_cli),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
