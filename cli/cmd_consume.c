/*
 * twotime consume: reads a topic as a consumer-group member and prints the
 * decoded records, one per line (csv or json): interaction events, or with
 * --embeddings the refreshed user embeddings.  A debugging and demo tool:
 * records that do not decode are reported on stderr and skipped.
 *
 * Without --group a throwaway group is used and nothing is committed, so
 * reading never moves the offsets of a real group.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/tt_cli.h"
#include "common/tt_time.h"
#include "consumers/tt_kcons.h"
#include "producers/tt_ukey.h"
#include "schemas/tt_codec.h"

#define CMD "consume"
#define ADMIN_TIMEOUT_MS 10000
#define BATCH_MAX 256
#define POLL_MS 200

enum out_format { OUT_CSV, OUT_JSON };

struct consume_opts {
    const char *topic;    /* NULL: kafka.input_topic (embeddings: output) */
    const char *group;    /* NULL: a throwaway group, no commits */
    uint64_t max;         /* 0: no limit */
    int timeout_ms;       /* stop after this long without a record; 0: never */
    bool from_beginning;
    bool embeddings;
    enum out_format format;
};

struct consume_counts {
    uint64_t records;
    uint64_t undecodable;
    uint64_t bad_keys;    /* key is not the 8-byte id of the record's user */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: twotime consume [--topic T] [options]\n"
            "\n"
            "Prints the records of topic T as a consumer-group member, one\n"
            "per line.  Interaction events by default (topic default\n"
            "kafka.input_topic); with --embeddings, user embeddings (default\n"
            "kafka.output_topic).  A summary goes to stderr.\n"
            "\n"
            "options:\n"
            "  -t, --topic T          topic to read\n"
            "  -g, --group G          consumer group; offsets are committed\n"
            "                         (default: a throwaway group that\n"
            "                         commits nothing)\n"
            "  -n, --max N            stop after N records\n"
            "      --timeout-ms MS    stop after MS without a record\n"
            "                         (default: run until interrupted)\n"
            "      --from-beginning   a group without committed offsets\n"
            "                         starts at the oldest record\n"
            "      --format F         csv (default) or json\n"
            "      --embeddings       decode UserEmbedding records\n"
            "  -c, --config FILE      configuration file\n"
            "  -s, --set KEY=VALUE    override a setting\n"
            "  -h, --help             show this help\n");
}

static void print_event(const struct consume_opts *o,
                        const rd_kafka_message_t *m, const struct tt_event *ev)
{
    if (o->format == OUT_JSON) {
        printf("{\"partition\":%d,\"offset\":%" PRId64
               ",\"user_id\":%" PRId64 ",\"item_id\":%" PRId64
               ",\"timestamp\":%" PRId64 ",\"category\":",
               (int)m->partition, m->offset, ev->user_id, ev->item_id,
               ev->ts_ms);
        if (ev->category == TT_EVENT_NO_CATEGORY)
            printf("null}\n");
        else
            printf("%d}\n", (int)ev->category);
        return;
    }
    printf("%d,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",",
           (int)m->partition, m->offset, ev->user_id, ev->item_id, ev->ts_ms);
    if (ev->category != TT_EVENT_NO_CATEGORY)
        printf("%d", (int)ev->category);
    putchar('\n');
}

static void print_embedding(const struct consume_opts *o,
                            const rd_kafka_message_t *m,
                            const struct tt_embedding_rec *rec)
{
    static const char *const cells[] = {"ACTIVE", "INACTIVE"};
    const char *cell = rec->cell < 2 ? cells[rec->cell] : "?";
    bool json = o->format == OUT_JSON;

    if (json)
        printf("{\"partition\":%d,\"offset\":%" PRId64
               ",\"user_id\":%" PRId64 ",\"model_version\":%" PRId64
               ",\"cell\":\"%s\",\"interaction_count\":%" PRId64
               ",\"event_time\":%" PRId64 ",\"input_partition\":%d"
               ",\"input_offset\":%" PRId64 ",\"dim\":%u,\"embedding\":[",
               (int)m->partition, m->offset, rec->user_id,
               rec->model_version, cell, rec->interaction_count,
               rec->event_time, (int)rec->input_partition, rec->input_offset,
               (unsigned)rec->dim);
    else
        printf("%d,%" PRId64 ",%" PRId64 ",%" PRId64 ",%s,%" PRId64
               ",%" PRId64 ",%d,%" PRId64 ",%u,",
               (int)m->partition, m->offset, rec->user_id,
               rec->model_version, cell, rec->interaction_count,
               rec->event_time, (int)rec->input_partition, rec->input_offset,
               (unsigned)rec->dim);
    /* %.9g prints every binary32 exactly enough to read it back. */
    for (uint32_t i = 0; i < rec->dim; i++)
        printf("%s%.9g", i ? (json ? "," : " ") : "", (double)rec->emb[i]);
    printf(json ? "]}\n" : "\n");
}

static void print_header(const struct consume_opts *o)
{
    if (o->format != OUT_CSV)
        return;
    if (o->embeddings)
        printf("partition,offset,user_id,model_version,cell,"
               "interaction_count,event_time,input_partition,input_offset,"
               "dim,embedding\n");
    else
        printf("partition,offset,user_id,item_id,timestamp,category\n");
}

/* Decodes and prints one record; counts what is wrong with it. */
static void handle(const struct consume_opts *o, tt_codec_t *codec,
                   float *emb, const rd_kafka_message_t *m,
                   struct consume_counts *cnt)
{
    struct tt_event ev;
    struct tt_embedding_rec rec;
    char errstr[256];
    int64_t key_user, user;
    tt_err_t err;

    if (o->embeddings)
        err = tt_codec_decode_embedding(codec, m->payload, m->len, &rec, emb,
                                        TT_CODEC_MAX_DIM, errstr,
                                        sizeof(errstr));
    else
        err = tt_codec_decode_event(codec, m->payload, m->len, &ev, errstr,
                                    sizeof(errstr));
    if (err) {
        cnt->undecodable++;
        fprintf(stderr, "twotime consume: %s [%d] offset %" PRId64 ": %s\n",
                rd_kafka_topic_name(m->rkt), (int)m->partition, m->offset,
                errstr);
        return;
    }
    cnt->records++;
    user = o->embeddings ? rec.user_id : ev.user_id;
    if (tt_ukey_decode(m->key, m->key_len, &key_user) || key_user != user)
        cnt->bad_keys++;
    if (o->embeddings)
        print_embedding(o, m, &rec);
    else
        print_event(o, m, &ev);
}

static int consume_loop(const struct consume_opts *o, tt_kcons_t *c,
                        tt_codec_t *codec, float *emb,
                        struct consume_counts *cnt)
{
    rd_kafka_message_t *batch[BATCH_MAX];
    uint64_t last = tt_time_mono_ns(), seen = 0;
    char errstr[512];
    size_t n, want;

    for (;;) {
        if (tt_cli_stopping())
            return TT_EXIT_OK;
        if (o->max && seen >= o->max)
            return TT_EXIT_OK;
        if (o->timeout_ms &&
            tt_time_secs(last, tt_time_mono_ns()) * 1000.0 >= o->timeout_ms)
            return TT_EXIT_OK;
        want = BATCH_MAX;
        if (o->max && o->max - seen < want)
            want = (size_t)(o->max - seen);
        if (tt_kcons_poll_batch(c, batch, want, POLL_MS, &n, errstr,
                                sizeof(errstr))) {
            tt_cli_error(CMD, "%s", errstr);
            return TT_EXIT_FAIL;
        }
        for (size_t i = 0; i < n; i++)
            handle(o, codec, emb, batch[i], cnt);
        if (n) {
            seen += n;
            last = tt_time_mono_ns();
            if (o->group && tt_kcons_store_batch(c, batch, n, errstr,
                                                 sizeof(errstr))) {
                tt_kcons_batch_free(batch, n);
                tt_cli_error(CMD, "%s", errstr);
                return TT_EXIT_FAIL;
            }
        }
        tt_kcons_batch_free(batch, n);
    }
}

static int run(const struct tt_conf *conf, const struct consume_opts *o)
{
    const char *topic = o->topic ? o->topic
                                 : o->embeddings ? conf->kafka.output_topic
                                                 : conf->kafka.input_topic;
    const char *topics[1] = {topic};
    struct consume_counts cnt = {0, 0, 0};
    struct tt_kcons_opts kopts;
    struct tt_kcons_stats st;
    tt_codec_t *codec = NULL;
    tt_kcons_t *c = NULL;
    float *emb = NULL;
    char errstr[512], group[128];
    uint64_t t0;
    int parts = 0, rc;

    rc = tt_cli_topic_partitions(CMD, &conf->kafka, topic, ADMIN_TIMEOUT_MS,
                                 &parts);
    if (rc)
        return rc;
    if (tt_codec_new(&codec, errstr, sizeof(errstr))) {
        tt_cli_error(CMD, "%s", errstr);
        return TT_EXIT_FAIL;
    }
    if (o->embeddings) {
        emb = malloc(TT_CODEC_MAX_DIM * sizeof(*emb));
        if (!emb) {
            tt_cli_error(CMD, "out of memory");
            rc = TT_EXIT_FAIL;
            goto out_codec;
        }
    }
    memset(&kopts, 0, sizeof(kopts));
    if (o->group) {
        kopts.group_id = o->group;
        kopts.commit = TT_KCONS_COMMIT_AUTO;
    } else {
        snprintf(group, sizeof(group), "twotime-consume-%ld-%" PRIu64,
                 (long)getpid(), tt_time_mono_ns());
        kopts.group_id = group;
        kopts.commit = TT_KCONS_COMMIT_NONE;
    }
    kopts.topics = topics;
    kopts.n_topics = 1;
    kopts.from_beginning = o->from_beginning;
    if (tt_kcons_new(&c, &conf->kafka, &kopts, errstr, sizeof(errstr))) {
        tt_cli_error(CMD, "%s", errstr);
        rc = TT_EXIT_USAGE;
        goto out_emb;
    }
    tt_cli_install_signals();
    print_header(o);
    t0 = tt_time_mono_ns();
    rc = consume_loop(o, c, codec, emb, &cnt);
    tt_kcons_stats(c, &st);
    if (tt_kcons_close(c, errstr, sizeof(errstr)) && rc == TT_EXIT_OK) {
        tt_cli_error(CMD, "%s", errstr);
        rc = TT_EXIT_FAIL;
    }
    if (fflush(stdout) != 0) {
        tt_cli_error(CMD, "cannot write the output");
        rc = TT_EXIT_FAIL;
    }
    fprintf(stderr,
            "twotime consume: %" PRIu64 " records from %s (%d partitions) "
            "in %.2f s; %" PRIu64 " undecodable, %" PRIu64
            " with a key that is not the user's; group %s%s\n",
            cnt.records, topic, parts, tt_time_secs(t0, tt_time_mono_ns()),
            cnt.undecodable, cnt.bad_keys, kopts.group_id,
            o->group ? "" : " (throwaway, not committed)");
    if (st.errors)
        fprintf(stderr, "twotime consume: %" PRIu64
                        " consumer errors, last: %s\n",
                st.errors, st.last_error);
    tt_kcons_destroy(c);
out_emb:
    free(emb);
out_codec:
    tt_codec_destroy(codec);
    return rc;
}

int tt_cmd_consume(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"topic", required_argument, NULL, 't'},
        {"group", required_argument, NULL, 'g'},
        {"max", required_argument, NULL, 'n'},
        {"timeout-ms", required_argument, NULL, 'T'},
        {"from-beginning", no_argument, NULL, 'B'},
        {"format", required_argument, NULL, 'F'},
        {"embeddings", no_argument, NULL, 'E'},
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct consume_opts o;
    struct tt_cli_opts co;
    struct tt_conf conf;
    uint64_t v;
    int rc = TT_EXIT_NONE, c;

    memset(&o, 0, sizeof(o));
    tt_cli_opts_init(&co, CMD, usage, argc);
    optind = 1;
    while (rc == TT_EXIT_NONE &&
           (c = getopt_long(argc, argv, "t:g:n:c:s:h", longopts, NULL)) !=
               -1) {
        switch (c) {
        case 't':
            o.topic = optarg;
            break;
        case 'g':
            o.group = optarg;
            break;
        case 'n':
            if (tt_cli_parse_u64(optarg, UINT64_MAX, &o.max) || o.max == 0) {
                tt_cli_error(CMD, "--max takes a positive count");
                rc = TT_EXIT_USAGE;
            }
            break;
        case 'T':
            if (tt_cli_parse_u64(optarg, 86400000, &v) || v == 0) {
                tt_cli_error(CMD, "--timeout-ms takes 1..86400000");
                rc = TT_EXIT_USAGE;
            }
            o.timeout_ms = (int)v;
            break;
        case 'B':
            o.from_beginning = true;
            break;
        case 'F':
            if (!strcmp(optarg, "csv")) {
                o.format = OUT_CSV;
            } else if (!strcmp(optarg, "json")) {
                o.format = OUT_JSON;
            } else {
                tt_cli_error(CMD, "--format is csv or json");
                rc = TT_EXIT_USAGE;
            }
            break;
        case 'E':
            o.embeddings = true;
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
    rc = tt_cli_opts_load_conf(&co, &conf);
    if (rc != TT_EXIT_OK)
        goto out_free;
    rc = run(&conf, &o);
    tt_conf_release(&conf);
out_free:
    tt_cli_opts_release(&co);
    return rc;
}
