/*
 * twotime produce: reads an interaction log (model/tt_reader.h formats) and
 * produces every event, in file order, to a Kafka topic: Avro, keyed by
 * user (producers/tt_ukey.h), idempotent, acks=all.  Prints what was read,
 * sent and delivered, and the rate.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/tt_cli.h"
#include "common/tt_time.h"
#include "model/tt_reader.h"
#include "producers/tt_admin.h"
#include "producers/tt_eventprod.h"

#define CMD "produce"
#define ADMIN_TIMEOUT_MS 30000
#define REACH_TIMEOUT_MS 10000
/* Each flush slice; the whole flush is bounded by message.timeout.ms,
 * after which librdkafka fails what is left. */
#define FLUSH_SLICE_MS 1000

struct produce_opts {
    const char *input;
    const char *topic;     /* NULL: kafka.input_topic */
    const char *conf_path;
    struct tt_reader_opts reader;
    int create_partitions; /* 0: the topic must exist */
    /* Pacing (--rate, --speedup) will go here and into pace(). */
};

struct produce_counts {
    uint64_t read;
    uint64_t sent;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: twotime produce --input LOG [--topic T] [options]\n"
            "\n"
            "Produces the events of LOG, in file order, to topic T (default:\n"
            "kafka.input_topic), Avro-encoded and keyed by user id (8-byte\n"
            "big-endian, murmur2 partitioner: the partition a Java producer\n"
            "keyed by the same long would pick).\n"
            "\n"
            "options:\n"
            "  -i, --input LOG             interaction log ('-' = stdin)\n"
            "  -t, --topic T               topic to produce to\n"
            "  -f, --format F              auto (default), csv, udata, dat,\n"
            "                              mlcsv\n"
            "      --ts-unit U             csv time unit: auto (from the\n"
            "                              column name), ms, s\n"
            "      --skip-bad              skip malformed lines (counted)\n"
            "                              instead of stopping at the first\n"
            "      --create-partitions N   create T with N partitions if it\n"
            "                              does not exist (an existing T with\n"
            "                              another count is an error)\n"
            "  -c, --config FILE           configuration file\n"
            "  -s, --set KEY=VALUE         override a setting\n"
            "  -h, --help                  show this help\n");
}

/* The place where --rate and --speedup will wait before an event. */
static void pace(const struct produce_opts *o, const struct tt_event *ev)
{
    (void)o;
    (void)ev;
}

/* Checks that the topic exists, or creates it; its partitions in *n. */
static int prepare_topic(const struct tt_conf_kafka *kc,
                         const struct produce_opts *o, const char *topic,
                         int *n)
{
    struct tt_topic_spec spec = {topic, o->create_partitions, -1, NULL, 0};
    tt_admin_t *admin;
    char errstr[512];
    bool created = false;
    tt_err_t err;

    err = tt_admin_new(&admin, kc, errstr, sizeof(errstr));
    if (err) {
        tt_cli_error(CMD, "%s", errstr);
        return TT_EXIT_USAGE;
    }
    if (!tt_admin_reachable(admin, REACH_TIMEOUT_MS)) {
        tt_admin_destroy(admin);
        tt_cli_error(CMD, "no Kafka broker answers at %s within %d s (start "
                          "one with scripts/kafka start)",
                     kc->brokers, REACH_TIMEOUT_MS / 1000);
        return TT_EXIT_FAIL;
    }
    if (o->create_partitions > 0)
        err = tt_admin_create_topic(admin, &spec, 0, ADMIN_TIMEOUT_MS,
                                    &created, errstr, sizeof(errstr));
    if (!err)
        err = tt_admin_partitions(admin, topic, ADMIN_TIMEOUT_MS, n, errstr,
                                  sizeof(errstr));
    tt_admin_destroy(admin);
    if (err == TT_ERR_NOTFOUND) {
        tt_cli_error(CMD,
                     "topic \"%s\" does not exist; create it with "
                     "--create-partitions N (kafka.partitions is %d)",
                     topic, kc->partitions);
        return TT_EXIT_FAIL;
    }
    if (err) {
        tt_cli_error(CMD, "%s (brokers %s)", errstr, kc->brokers);
        return err == TT_ERR_CONF ? TT_EXIT_USAGE : TT_EXIT_FAIL;
    }
    if (created)
        fprintf(stderr, "twotime produce: created topic %s with %d "
                        "partitions\n",
                topic, *n);
    return TT_EXIT_OK;
}

/* Reads and sends until the end of the input, an error or a signal. */
static int produce_all(tt_reader_t *r, tt_eventprod_t *p,
                       const struct produce_opts *o,
                       struct produce_counts *cnt)
{
    struct tt_event ev;
    char errstr[512];
    tt_err_t err;

    for (;;) {
        if (tt_cli_stopping()) {
            tt_cli_error(CMD, "interrupted after %llu events",
                         (unsigned long long)cnt->read);
            return TT_EXIT_FAIL;
        }
        err = tt_reader_next(r, &ev, errstr, sizeof(errstr));
        if (err == TT_ERR_NOTFOUND)
            return TT_EXIT_OK;
        if (err) {
            tt_cli_error(CMD, "%s", errstr);
            return TT_EXIT_FAIL;
        }
        cnt->read++;
        pace(o, &ev);
        err = tt_eventprod_send(p, &ev, errstr, sizeof(errstr));
        if (err) {
            tt_cli_error(CMD, "event %llu (line %llu): %s",
                         (unsigned long long)cnt->read,
                         (unsigned long long)tt_reader_line(r), errstr);
            return TT_EXIT_FAIL;
        }
        cnt->sent++;
    }
}

/* Waits for every delivery report, or a signal. */
static int flush_all(tt_eventprod_t *p)
{
    char errstr[512];
    tt_err_t err;

    for (;;) {
        err = tt_eventprod_flush(p, FLUSH_SLICE_MS, errstr, sizeof(errstr));
        if (err != TT_ERR_TIMEOUT)
            break;
        if (tt_cli_stopping()) {
            tt_cli_error(CMD, "interrupted while waiting: %s", errstr);
            return TT_EXIT_FAIL;
        }
    }
    if (err) {
        tt_cli_error(CMD, "%s", errstr);
        return TT_EXIT_FAIL;
    }
    return TT_EXIT_OK;
}

static int run(const struct tt_conf *conf, const struct produce_opts *o)
{
    const char *topic = o->topic ? o->topic : conf->kafka.input_topic;
    struct tt_eventprod_opts popts = {topic, 0};
    struct tt_eventprod_stats st;
    struct produce_counts cnt = {0, 0};
    tt_reader_t *r = NULL;
    tt_eventprod_t *p = NULL;
    char errstr[512];
    uint64_t t0;
    double secs;
    int parts = 0, rc;

    rc = prepare_topic(&conf->kafka, o, topic, &parts);
    if (rc)
        return rc;
    if (tt_reader_open_opts(&r, o->input, &o->reader, errstr,
                            sizeof(errstr))) {
        tt_cli_error(CMD, "%s", errstr);
        return TT_EXIT_FAIL;
    }
    if (tt_eventprod_new(&p, &conf->kafka, &popts, errstr, sizeof(errstr))) {
        tt_cli_error(CMD, "%s", errstr);
        rc = TT_EXIT_USAGE;
        goto out_reader;
    }
    tt_cli_install_signals();
    t0 = tt_time_mono_ns();
    rc = produce_all(r, p, o, &cnt);
    /* Even after an error, wait for what was sent so that the counts say
     * what the topic holds. */
    if (flush_all(p) != TT_EXIT_OK)
        rc = TT_EXIT_FAIL;
    secs = tt_time_secs(t0, tt_time_mono_ns());
    tt_eventprod_stats(p, &st);
    printf("topic:          %s (%d partitions)\n", topic, parts);
    printf("input:          %s (%s)\n", o->input,
           tt_format_name(tt_reader_format(r)));
    printf("events read:    %llu\n", (unsigned long long)cnt.read);
    printf("bad lines:      %llu skipped\n",
           (unsigned long long)tt_reader_skipped(r));
    printf("sent:           %llu\n", (unsigned long long)st.sent);
    printf("delivered:      %llu (%llu bytes)\n",
           (unsigned long long)st.delivered, (unsigned long long)st.bytes);
    printf("failed:         %llu%s%s\n", (unsigned long long)st.failed,
           st.failed ? ", first: " : "", st.first_error);
    printf("queue waits:    %llu\n", (unsigned long long)st.queue_full);
    printf("time:           %.3f s (%.0f events/s)\n", secs,
           secs > 0 ? (double)st.delivered / secs : 0.0);
    if (rc == TT_EXIT_OK && st.delivered != cnt.read)
        rc = TT_EXIT_FAIL;
    tt_eventprod_destroy(p);
out_reader:
    tt_reader_close(r);
    return rc;
}

static int parse_int(const char *s, int min, int max, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

int tt_cmd_produce(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},
        {"topic", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'f'},
        {"ts-unit", required_argument, NULL, 'u'},
        {"skip-bad", no_argument, NULL, 'b'},
        {"create-partitions", required_argument, NULL, 'P'},
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct produce_opts o;
    struct tt_conf conf;
    char **sets;
    int n_sets = 0, rc, c;

    memset(&o, 0, sizeof(o));
    tt_reader_opts_init(&o.reader);
    sets = calloc((size_t)argc + 1, sizeof(*sets));
    if (!sets) {
        tt_cli_error(CMD, "out of memory");
        return TT_EXIT_FAIL;
    }
    optind = 1;
    rc = -1;
    while (rc < 0 &&
           (c = getopt_long(argc, argv, "i:t:f:c:s:h", longopts, NULL)) !=
               -1) {
        switch (c) {
        case 'i':
            o.input = optarg;
            break;
        case 't':
            o.topic = optarg;
            break;
        case 'f':
            if (tt_format_parse(optarg, &o.reader.format)) {
                tt_cli_error(CMD, "unknown format '%s' (auto, csv, udata, "
                                  "dat, mlcsv)",
                             optarg);
                rc = TT_EXIT_USAGE;
            }
            break;
        case 'u':
            if (tt_ts_unit_parse(optarg, &o.reader.ts_unit)) {
                tt_cli_error(CMD, "unknown time unit '%s' (auto, ms, s)",
                             optarg);
                rc = TT_EXIT_USAGE;
            }
            break;
        case 'b':
            o.reader.skip_bad = true;
            break;
        case 'P':
            if (parse_int(optarg, 1, 100000, &o.create_partitions)) {
                tt_cli_error(CMD, "--create-partitions takes 1..100000");
                rc = TT_EXIT_USAGE;
            }
            break;
        case 'c':
            o.conf_path = optarg;
            break;
        case 's':
            sets[n_sets++] = optarg;
            break;
        case 'h':
            usage(stdout);
            rc = TT_EXIT_OK;
            break;
        default:
            fprintf(stderr, "see 'twotime produce --help'\n");
            rc = TT_EXIT_USAGE;
            break;
        }
    }
    if (rc >= 0)
        goto out_free;
    if (optind < argc) {
        tt_cli_error(CMD, "unexpected argument '%s'", argv[optind]);
        rc = TT_EXIT_USAGE;
        goto out_free;
    }
    if (!o.input) {
        tt_cli_error(CMD, "--input LOG is required");
        rc = TT_EXIT_USAGE;
        goto out_free;
    }
    rc = tt_cli_load_conf(&conf, o.conf_path, sets, n_sets);
    if (rc != TT_EXIT_OK)
        goto out_free;
    rc = run(&conf, &o);
    tt_conf_release(&conf);
out_free:
    free(sets);
    return rc;
}
