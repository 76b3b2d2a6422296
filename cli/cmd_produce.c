/*
 * twotime produce: reads an interaction log (a text log, model/tt_reader.h,
 * or an Avro container file from `twotime dump`: cli/tt_source.h) and
 * produces every event, in file order, to a Kafka topic: Avro, keyed by
 * user (producers/tt_ukey.h), idempotent, acks=all.
 *
 * Pacing (cli/tt_pace.h): --rate N events/s, --speedup X replays the
 * events' own timestamps X times faster.  While waiting, delivery reports
 * are served.  Progress (cli/tt_progress.h): a bar on a terminal, plain
 * lines every 5 s otherwise.  --resume (cli/tt_resume.h) skips, per
 * partition, the events a killed earlier run already wrote, so that the
 * topic ends up holding each event exactly once.  Prints what was read,
 * skipped, sent and delivered, and the rate.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/tt_cli.h"
#include "cli/tt_pace.h"
#include "cli/tt_progress.h"
#include "cli/tt_resume.h"
#include "cli/tt_source.h"
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
/* Longest wait in one piece while pacing, so signals are noticed. */
#define PACE_SLICE_MS 100
#define PROGRESS_INTERVAL_S 5.0

struct produce_opts {
    const char *input;
    const char *topic;     /* NULL: kafka.input_topic */
    struct tt_reader_opts reader;
    int create_partitions; /* 0: the topic must exist */
    double rate;           /* events/s; 0: as fast as possible */
    double speedup;        /* replay factor of event time; 0: off */
    bool resume;
    bool quiet;            /* no progress display */
};

struct produce_counts {
    uint64_t read;
    uint64_t skipped;      /* already in the topic (--resume) */
    uint64_t sent;
};

/* What the send loop uses besides the producer. */
struct produce_run {
    tt_source_t *src;
    struct tt_pace pace;
    struct tt_progress progress;
    struct tt_resume resume;
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
            "  -i, --input LOG             interaction log ('-' = stdin),\n"
            "                              text or an Avro container file\n"
            "                              (as `twotime dump` writes)\n"
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
            "      --rate N                at most N events per second\n"
            "      --speedup X             replay by the events' timestamps,\n"
            "                              X times faster (60: an hour of\n"
            "                              history per minute)\n"
            "      --resume                skip what an earlier, interrupted\n"
            "                              run of this input already wrote\n"
            "                              (per partition; checked against\n"
            "                              the topic's last records)\n"
            "  -q, --quiet                 no progress display\n"
            "  -c, --config FILE           configuration file\n"
            "  -s, --set KEY=VALUE         override a setting\n"
            "  -h, --help                  show this help\n");
}

/* Waits until the monotonic time `due`, serving delivery reports. */
static tt_err_t pace(tt_eventprod_t *p, uint64_t due, char *errstr,
                     size_t errstr_size)
{
    for (;;) {
        uint64_t now = tt_time_mono_ns(), left;
        tt_err_t err;

        if (now >= due)
            return TT_ERR_OK;
        if (tt_cli_stopping())
            return tt_errf(TT_ERR_INTERRUPTED, errstr, errstr_size,
                           "interrupted");
        left = due - now;
        if (left >= 1000000) {
            uint64_t ms = left / 1000000;

            err = tt_eventprod_poll(p, ms > PACE_SLICE_MS ? PACE_SLICE_MS
                                                          : (int)ms,
                                    errstr, errstr_size);
            if (err)
                return err;
        } else {
            struct timespec ts = {0, (long)left};

            nanosleep(&ts, NULL);
        }
    }
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
static int produce_all(struct produce_run *run, tt_eventprod_t *p,
                       const struct produce_opts *o,
                       struct produce_counts *cnt)
{
    struct tt_event ev;
    char errstr[512];
    int64_t last_ts = -1;
    tt_err_t err;

    for (;;) {
        if (tt_cli_stopping()) {
            tt_cli_error(CMD, "interrupted after %llu events",
                         (unsigned long long)cnt->read);
            return TT_EXIT_FAIL;
        }
        err = tt_source_next(run->src, &ev, errstr, sizeof(errstr));
        if (err == TT_ERR_NOTFOUND)
            return TT_EXIT_OK;
        if (err) {
            tt_cli_error(CMD, "%s", errstr);
            return TT_EXIT_FAIL;
        }
        cnt->read++;
        if (o->resume && tt_resume_skip(&run->resume, &ev)) {
            cnt->skipped++;
        } else {
            err = pace(p, tt_pace_next(&run->pace, &ev), errstr,
                       sizeof(errstr));
            if (!err)
                err = tt_eventprod_send(p, &ev, errstr, sizeof(errstr));
            if (err) {
                tt_cli_error(CMD, "event %llu (%s %llu): %s",
                             (unsigned long long)cnt->read,
                             tt_source_unit(run->src),
                             (unsigned long long)tt_source_position(run->src),
                             errstr);
                return TT_EXIT_FAIL;
            }
            cnt->sent++;
            last_ts = ev.ts_ms;
        }
        tt_progress_update(&run->progress, tt_source_position(run->src),
                           cnt->sent, cnt->skipped, last_ts,
                           tt_time_mono_ns(), false);
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

/* Plans a resume: what of the input the topic already holds. */
static int plan_resume(const struct tt_conf_kafka *kc,
                       const struct produce_opts *o, const char *topic,
                       int parts, struct tt_resume *rs)
{
    char errstr[1024];
    tt_err_t err;

    err = tt_resume_plan(rs, kc, topic, parts, o->input, &o->reader, errstr,
                         sizeof(errstr));
    if (err) {
        tt_cli_error(CMD, "--resume: %s", errstr);
        return err == TT_ERR_INVAL || err == TT_ERR_CONF ? TT_EXIT_USAGE
                                                         : TT_EXIT_FAIL;
    }
    if (!o->quiet)
        fprintf(stderr,
                "twotime produce: resuming: %llu events already in %s are "
                "skipped%s\n",
                (unsigned long long)rs->total, topic,
                rs->unchecked ? " (some partitions' last records were "
                                "deleted: not checked)"
                              : "");
    return TT_EXIT_OK;
}

static void print_summary(const struct produce_opts *o, const char *topic,
                          int parts, const struct produce_run *run,
                          const struct produce_counts *cnt,
                          const struct tt_eventprod_stats *st, double secs)
{
    printf("topic:          %s (%d partitions)\n", topic, parts);
    printf("input:          %s (%s)\n", o->input,
           tt_source_format_name(run->src));
    printf("events read:    %llu\n", (unsigned long long)cnt->read);
    printf("bad %ss:      %llu skipped\n", tt_source_unit(run->src),
           (unsigned long long)tt_source_skipped(run->src));
    if (o->resume)
        printf("resumed:        %llu already in the topic, skipped\n",
               (unsigned long long)cnt->skipped);
    if (tt_pace_active(&run->pace)) {
        printf("pacing:        ");
        if (o->rate > 0)
            printf(" at most %g events/s", o->rate);
        if (o->speedup > 0)
            printf(" event time x%g", o->speedup);
        putchar('\n');
    }
    printf("sent:           %llu\n", (unsigned long long)st->sent);
    printf("delivered:      %llu (%llu bytes)\n",
           (unsigned long long)st->delivered, (unsigned long long)st->bytes);
    printf("failed:         %llu%s%s\n", (unsigned long long)st->failed,
           st->failed ? ", first: " : "", st->first_error);
    printf("queue waits:    %llu\n", (unsigned long long)st->queue_full);
    printf("time:           %.3f s (%.0f events/s)\n", secs,
           secs > 0 ? (double)st->delivered / secs : 0.0);
}

static int run(const struct tt_conf *conf, const struct produce_opts *o)
{
    const char *topic = o->topic ? o->topic : conf->kafka.input_topic;
    struct tt_eventprod_opts popts = {topic, 0};
    struct tt_eventprod_stats st;
    struct produce_counts cnt = {0, 0, 0};
    struct produce_run pr;
    tt_eventprod_t *p = NULL;
    char errstr[512];
    uint64_t t0, total;
    double secs;
    int parts = 0, rc;

    memset(&pr, 0, sizeof(pr));
    rc = prepare_topic(&conf->kafka, o, topic, &parts);
    if (rc)
        return rc;
    if (o->resume) {
        rc = plan_resume(&conf->kafka, o, topic, parts, &pr.resume);
        if (rc)
            return rc;
    }
    if (tt_source_open(&pr.src, o->input, &o->reader, errstr,
                       sizeof(errstr))) {
        tt_cli_error(CMD, "%s", errstr);
        rc = TT_EXIT_FAIL;
        goto out_resume;
    }
    if (tt_eventprod_new(&p, &conf->kafka, &popts, errstr, sizeof(errstr))) {
        tt_cli_error(CMD, "%s", errstr);
        rc = TT_EXIT_USAGE;
        goto out_source;
    }
    tt_cli_install_signals();
    t0 = tt_time_mono_ns();
    total = tt_source_is_avro(pr.src) ? tt_source_count(pr.src)
                                      : tt_progress_count_lines(o->input);
    tt_progress_init(&pr.progress, o->quiet ? NULL : stderr, "twotime produce",
                     isatty(STDERR_FILENO) != 0, total, PROGRESS_INTERVAL_S,
                     t0);
    tt_pace_init(&pr.pace, o->rate, o->speedup, t0);
    rc = produce_all(&pr, p, o, &cnt);
    /* Even after an error, wait for what was sent so that the counts say
     * what the topic holds. */
    if (flush_all(p) != TT_EXIT_OK)
        rc = TT_EXIT_FAIL;
    secs = tt_time_secs(t0, tt_time_mono_ns());
    tt_progress_update(&pr.progress, tt_source_position(pr.src), cnt.sent,
                       cnt.skipped, -1, tt_time_mono_ns(), true);
    tt_progress_end(&pr.progress);
    tt_eventprod_stats(p, &st);
    print_summary(o, topic, parts, &pr, &cnt, &st, secs);
    if (rc == TT_EXIT_OK && st.delivered != cnt.sent)
        rc = TT_EXIT_FAIL;
    tt_eventprod_destroy(p);
out_source:
    tt_source_close(pr.src);
out_resume:
    tt_resume_release(&pr.resume);
    return rc;
}

static int parse_rate(const char *s, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > 1e9)
        return -1;
    *out = v;
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
        {"rate", required_argument, NULL, 'r'},
        {"speedup", required_argument, NULL, 'x'},
        {"resume", no_argument, NULL, 'R'},
        {"quiet", no_argument, NULL, 'q'},
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct produce_opts o;
    struct tt_cli_opts co;
    struct tt_conf conf;
    uint64_t u64;
    int rc = TT_EXIT_NONE, c;

    memset(&o, 0, sizeof(o));
    tt_reader_opts_init(&o.reader);
    tt_cli_opts_init(&co, CMD, usage, argc);
    optind = 1;
    while (rc == TT_EXIT_NONE &&
           (c = getopt_long(argc, argv, "i:t:f:c:s:qh", longopts, NULL)) !=
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
            if (tt_cli_parse_u64(optarg, 100000, &u64) || u64 < 1) {
                tt_cli_error(CMD, "--create-partitions takes 1..100000");
                rc = TT_EXIT_USAGE;
            } else {
                o.create_partitions = (int)u64;
            }
            break;
        case 'r':
        case 'x':
            if (parse_rate(optarg, c == 'r' ? &o.rate : &o.speedup)) {
                tt_cli_error(CMD, "--%s takes a number > 0 (up to 1e9)",
                             c == 'r' ? "rate" : "speedup");
                rc = TT_EXIT_USAGE;
            }
            break;
        case 'R':
            o.resume = true;
            break;
        case 'q':
            o.quiet = true;
            break;
        default:
            rc = tt_cli_opts_take(&co, c, optarg);
            break;
        }
    }
    if (rc == TT_EXIT_NONE)
        rc = tt_cli_opts_operands(&co, argc, argv);
    if (rc != TT_EXIT_NONE)
        goto out_free;
    if (!o.input) {
        tt_cli_error(CMD, "--input LOG is required");
        rc = TT_EXIT_USAGE;
        goto out_free;
    }
    rc = tt_cli_opts_load_conf(&co, &conf);
    if (rc != TT_EXIT_OK)
        goto out_free;
    rc = run(&conf, &o);
    tt_conf_release(&conf);
out_free:
    tt_cli_opts_release(&co);
    return rc;
}
