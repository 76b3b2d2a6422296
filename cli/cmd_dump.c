/*
 * twotime dump: writes the interaction events of a topic to an Avro object
 * container file (schemas/tt_container.h) or CSV, for archives and as
 * input of train, backtest and produce.
 *
 * All partitions are read (cli/tt_kread.h: assign-only, read_committed) up
 * to the end offsets seen at the start, so a dump of a live topic ends.
 * The partitions are merged by event time: each partition is read in
 * offset order, and the event with the smallest event_time among the
 * partitions' next ones is written first (ties: lower partition, then
 * offset).  A topic produced from a time-sorted log thus dumps back in
 * time order, which replay (`produce --speedup`) needs.  Memory is bounded:
 * a partition whose look-ahead queue is full is paused until it drains.
 *
 * Records that do not decode as Interaction events are counted and the
 * first few reported on stderr; with --strict the first one fails the run.
 * The output is written to FILE.tmp and renamed at the end, so a failed or
 * interrupted dump leaves no partial FILE.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/tt_cli.h"
#include "cli/tt_kread.h"
#include "common/tt_time.h"
#include "schemas/tt_codec.h"
#include "schemas/tt_container.h"

#define CMD "dump"
#define ADMIN_TIMEOUT_MS 10000
#define QUERY_TIMEOUT_MS 30000
#define POLL_MS 200
#define REPORT_MAX 10   /* undecodable records described on stderr */
#define PATH_MAX_LEN 4096
/* Look-ahead per partition, in events (40 bytes each). */
#define QUEUE_EVENTS_TOTAL (1u << 19)
#define QUEUE_MIN 256u
#define QUEUE_MAX 8192u

enum dump_format { DUMP_AVRO, DUMP_CSV };

struct dump_opts {
    const char *topic; /* NULL: kafka.input_topic */
    const char *out;
    enum dump_format format;
    int64_t from_offset, from_time, to_offset, to_time; /* -1: not given */
    bool strict;
    int timeout_s;
};

struct item {
    struct tt_event ev;
    int64_t offset;
};

/* A partition's look-ahead: a ring of decoded events in offset order. */
struct queue {
    struct item *buf;
    size_t cap, head, n;
};

struct merge {
    int parts;
    struct queue *q;
    bool *done;     /* our copy of tt_kread_done() */
    int done_seen;  /* tt_kread_done_count() when copied */
    int starving;   /* partitions not done with an empty queue */
    int *heap;      /* partitions with a non-empty queue, by head */
    int heap_n;
    size_t qcap;
};

struct counts {
    uint64_t read, written, bad;
};

struct writer {
    enum dump_format format;
    tt_container_writer_t *avro;
    FILE *csv;
    bool csv_stdout;
    char tmp[PATH_MAX_LEN];
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: twotime dump --topic T --out FILE [options]\n"
            "\n"
            "Writes the interaction events of topic T (all partitions, up to\n"
            "the end offsets seen at the start, committed records only) to\n"
            "FILE, merged by event time, as an Avro object container file\n"
            "(readable by train, backtest and produce, and by any Avro tool)\n"
            "or as CSV (user_id,item_id,timestamp_ms,category).\n"
            "\n"
            "options:\n"
            "  -t, --topic T          topic (default kafka.input_topic)\n"
            "  -o, --out FILE         output file ('-' = stdout, csv only)\n"
            "  -f, --format F         avro (default) or csv\n"
            "      --from-offset N    start at offset N of every partition\n"
            "      --from-time MS     start at the first record whose Kafka\n"
            "                         timestamp is >= MS (ms since the epoch)\n"
            "      --to-offset N      stop before offset N of every partition\n"
            "      --to-time MS       stop before the first record whose\n"
            "                         Kafka timestamp is >= MS\n"
            "      --strict           fail on the first record that does not\n"
            "                         decode (default: count and skip)\n"
            "      --timeout S        fail after S seconds without progress\n"
            "                         [60]\n"
            "  -c, --config FILE      configuration file\n"
            "  -s, --set KEY=VALUE    override a setting\n"
            "  -h, --help             show this help\n"
            "\n"
            "Times are Kafka record timestamps (twotime produce stamps\n"
            "records with the time they were produced), looked up in the\n"
            "broker's time index as Kafka's own tools do; the event_time\n"
            "inside the records is what orders the output.\n");
}

/* ---- the merge ---- */

static bool before(const struct merge *m, int a, int b)
{
    const struct item *x = &m->q[a].buf[m->q[a].head];
    const struct item *y = &m->q[b].buf[m->q[b].head];

    if (x->ev.ts_ms != y->ev.ts_ms)
        return x->ev.ts_ms < y->ev.ts_ms;
    return a < b;
}

static void sift_down(struct merge *m, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, min = i, t;

        if (l < m->heap_n && before(m, m->heap[l], m->heap[min]))
            min = l;
        if (r < m->heap_n && before(m, m->heap[r], m->heap[min]))
            min = r;
        if (min == i)
            return;
        t = m->heap[i];
        m->heap[i] = m->heap[min];
        m->heap[min] = t;
        i = min;
    }
}

static void heap_insert(struct merge *m, int p)
{
    int i = m->heap_n++;

    m->heap[i] = p;
    while (i > 0 && before(m, m->heap[i], m->heap[(i - 1) / 2])) {
        int t = m->heap[i];

        m->heap[i] = m->heap[(i - 1) / 2];
        m->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static tt_err_t merge_init(struct merge *m, int parts)
{
    memset(m, 0, sizeof(*m));
    m->parts = parts;
    m->qcap = QUEUE_EVENTS_TOTAL / (size_t)parts;
    if (m->qcap < QUEUE_MIN)
        m->qcap = QUEUE_MIN;
    if (m->qcap > QUEUE_MAX)
        m->qcap = QUEUE_MAX;
    m->q = calloc((size_t)parts, sizeof(*m->q));
    m->done = calloc((size_t)parts, sizeof(*m->done));
    m->heap = calloc((size_t)parts, sizeof(*m->heap));
    if (!m->q || !m->done || !m->heap)
        return TT_ERR_NOMEM;
    m->done_seen = -1; /* the first merge_sync() counts */
    return TT_ERR_OK;
}

static void merge_release(struct merge *m)
{
    for (int p = 0; m->q && p < m->parts; p++)
        free(m->q[p].buf);
    free(m->q);
    free(m->done);
    free(m->heap);
}

/* Copies the reader's done flags when they changed, and recounts. */
static void merge_sync(struct merge *m, const tt_kread_t *r)
{
    if (tt_kread_done_count(r) == m->done_seen)
        return;
    m->done_seen = tt_kread_done_count(r);
    m->starving = 0;
    for (int p = 0; p < m->parts; p++) {
        m->done[p] = tt_kread_done(r, p);
        m->starving += !m->done[p] && m->q[p].n == 0;
    }
}

static tt_err_t merge_push(struct merge *m, int p, const struct tt_event *ev,
                           int64_t offset)
{
    struct queue *q = &m->q[p];

    if (q->n == q->cap) {
        /* Full only if records arrived after a pause: grow rather than
         * drop (librdkafka stops a paused partition at once). */
        size_t cap = q->cap ? q->cap * 2 : m->qcap;
        struct item *b = malloc(cap * sizeof(*b));

        if (!b)
            return TT_ERR_NOMEM;
        for (size_t i = 0; i < q->n; i++)
            b[i] = q->buf[(q->head + i) % q->cap];
        free(q->buf);
        q->buf = b;
        q->cap = cap;
        q->head = 0;
    }
    q->buf[(q->head + q->n) % q->cap].ev = *ev;
    q->buf[(q->head + q->n) % q->cap].offset = offset;
    if (q->n++ == 0) {
        m->starving -= !m->done[p];
        heap_insert(m, p);
    }
    return TT_ERR_OK;
}

/* The next event in merge order, if every partition that may still bring
 * an earlier one has a head to compare with. */
static bool merge_pop(struct merge *m, struct item *out, int *part)
{
    int p;
    struct queue *q;

    if (m->starving > 0 || m->heap_n == 0)
        return false;
    p = m->heap[0];
    q = &m->q[p];
    *out = q->buf[q->head];
    *part = p;
    q->head = (q->head + 1) % q->cap;
    if (--q->n == 0) {
        m->starving += !m->done[p];
        m->heap[0] = m->heap[--m->heap_n];
    }
    sift_down(m, 0);
    return true;
}

/* ---- output ---- */

static tt_err_t writer_open(struct writer *w, const struct dump_opts *o,
                            char *errstr, size_t errstr_size)
{
    memset(w, 0, sizeof(*w));
    w->format = o->format;
    if (o->format == DUMP_CSV && !strcmp(o->out, "-")) {
        w->csv = stdout;
        w->csv_stdout = true;
    } else {
        if (snprintf(w->tmp, sizeof(w->tmp), "%s.tmp", o->out) >=
            (int)sizeof(w->tmp))
            return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                           "%s: path too long", o->out);
        if (o->format == DUMP_AVRO)
            return tt_container_writer_new(&w->avro, w->tmp, errstr,
                                           errstr_size);
        w->csv = fopen(w->tmp, "w");
        if (!w->csv)
            return tt_errf(TT_ERR_IO, errstr, errstr_size,
                           "cannot write %s: %s", w->tmp, strerror(errno));
    }
    fputs("user_id,item_id,timestamp_ms,category\n", w->csv);
    return TT_ERR_OK;
}

static tt_err_t writer_put(struct writer *w, const struct tt_event *ev,
                           char *errstr, size_t errstr_size)
{
    if (w->avro)
        return tt_container_writer_append(w->avro, ev, errstr, errstr_size);
    fprintf(w->csv, "%" PRId64 ",%" PRId64 ",%" PRId64 ",", ev->user_id,
            ev->item_id, ev->ts_ms);
    if (ev->category != TT_EVENT_NO_CATEGORY)
        fprintf(w->csv, "%d", (int)ev->category);
    fputc('\n', w->csv);
    return ferror(w->csv) ? tt_errf(TT_ERR_IO, errstr, errstr_size,
                                    "writing the csv output failed")
                          : TT_ERR_OK;
}

/* Finishes the file and moves it into place (ok), or removes it. */
static tt_err_t writer_close(struct writer *w, const char *out, bool ok,
                             char *errstr, size_t errstr_size)
{
    tt_err_t err = TT_ERR_OK;

    if (w->avro) {
        if (ok)
            err = tt_container_writer_finish(w->avro, errstr, errstr_size);
        tt_container_writer_destroy(w->avro);
        w->avro = NULL;
    } else if (w->csv) {
        bool bad = fflush(w->csv) != 0 || ferror(w->csv);

        if (!w->csv_stdout && fclose(w->csv) != 0)
            bad = true;
        w->csv = NULL;
        if (ok && bad)
            err = tt_errf(TT_ERR_IO, errstr, errstr_size,
                          "writing %s failed", out);
    }
    if (w->csv_stdout || !w->tmp[0])
        return err;
    if (ok && !err && rename(w->tmp, out) != 0)
        err = tt_errf(TT_ERR_IO, errstr, errstr_size,
                      "cannot rename %s to %s: %s", w->tmp, out,
                      strerror(errno));
    if (!ok || err)
        remove(w->tmp);
    return err;
}

/* ---- the run ---- */

/* The [start, end) of every partition from the options. */
static tt_err_t plan_ranges(tt_kread_t *r, const struct dump_opts *o,
                            int64_t *start, int64_t *end, char *errstr,
                            size_t errstr_size)
{
    int parts = tt_kread_partitions(r);
    int64_t *lo = calloc((size_t)parts, sizeof(*lo));
    int64_t *t = calloc((size_t)parts, sizeof(*t));
    tt_err_t err;

    if (!lo || !t) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    err = tt_kread_watermarks(r, lo, end, QUERY_TIMEOUT_MS, errstr,
                              errstr_size);
    if (err)
        goto out;
    for (int p = 0; p < parts; p++) {
        start[p] = lo[p];
        if (o->from_offset >= 0 && o->from_offset > start[p])
            start[p] = o->from_offset;
        if (o->to_offset >= 0 && o->to_offset < end[p])
            end[p] = o->to_offset;
    }
    if (o->from_time >= 0) {
        err = tt_kread_offsets_for_time(r, o->from_time, t, QUERY_TIMEOUT_MS,
                                        errstr, errstr_size);
        if (err)
            goto out;
        for (int p = 0; p < parts; p++)
            start[p] = t[p] < 0 ? end[p] : t[p] > start[p] ? t[p] : start[p];
    }
    if (o->to_time >= 0) {
        err = tt_kread_offsets_for_time(r, o->to_time, t, QUERY_TIMEOUT_MS,
                                        errstr, errstr_size);
        if (err)
            goto out;
        for (int p = 0; p < parts; p++)
            if (t[p] >= 0 && t[p] < end[p])
                end[p] = t[p];
    }
out:
    free(lo);
    free(t);
    return err;
}

/* Decodes one record into the merge, or counts it as undecodable. */
static tt_err_t take(const struct dump_opts *o, tt_codec_t *codec,
                     struct merge *m, const rd_kafka_message_t *msg,
                     struct counts *cnt, char *errstr, size_t errstr_size)
{
    struct tt_event ev;
    char why[256];
    tt_err_t err;

    cnt->read++;
    err = tt_codec_decode_event(codec, msg->payload, msg->len, &ev, why,
                                sizeof(why));
    if (!err)
        return merge_push(m, (int)msg->partition, &ev, msg->offset)
                   ? tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                             "out of memory")
                   : TT_ERR_OK;
    cnt->bad++;
    if (o->strict)
        return tt_errf(err, errstr, errstr_size,
                       "%s [%d] offset %" PRId64 " does not decode (--strict): "
                       "%s",
                       rd_kafka_topic_name(msg->rkt), (int)msg->partition,
                       msg->offset, why);
    if (cnt->bad <= REPORT_MAX)
        fprintf(stderr, "twotime dump: %s [%d] offset %" PRId64
                        ": skipped: %s\n",
                rd_kafka_topic_name(msg->rkt), (int)msg->partition,
                msg->offset, why);
    return TT_ERR_OK;
}

/* Reads, merges and writes until every partition is done. */
static tt_err_t dump_loop(const struct dump_opts *o, tt_kread_t *r,
                          tt_codec_t *codec, struct merge *m,
                          struct writer *w, struct counts *cnt, char *errstr,
                          size_t errstr_size)
{
    uint64_t last_progress = tt_time_mono_ns();
    rd_kafka_message_t *msg;
    struct item it;
    int p;
    tt_err_t err;

    merge_sync(m, r);
    for (;;) {
        while (merge_pop(m, &it, &p)) {
            err = writer_put(w, &it.ev, errstr, errstr_size);
            if (err)
                return err;
            cnt->written++;
            if (m->q[p].n == m->qcap / 2) {
                err = tt_kread_pause(r, p, false, errstr, errstr_size);
                if (err)
                    return err;
            }
        }
        if (tt_kread_all_done(r) && m->heap_n == 0)
            return TT_ERR_OK;
        if (tt_cli_stopping())
            return tt_errf(TT_ERR_INTERRUPTED, errstr, errstr_size,
                           "interrupted after %llu records",
                           (unsigned long long)cnt->read);
        err = tt_kread_poll(r, &msg, POLL_MS, errstr, errstr_size);
        if (err)
            return err;
        if (msg) {
            p = (int)msg->partition;
            err = take(o, codec, m, msg, cnt, errstr, errstr_size);
            rd_kafka_message_destroy(msg);
            if (err)
                return err;
            if (m->q[p].n >= m->qcap && !tt_kread_done(r, p)) {
                err = tt_kread_pause(r, p, true, errstr, errstr_size);
                if (err)
                    return err;
            }
            last_progress = tt_time_mono_ns();
        } else if (tt_kread_done_count(r) != m->done_seen) {
            last_progress = tt_time_mono_ns();
        } else if (tt_time_secs(last_progress, tt_time_mono_ns()) >
                   o->timeout_s) {
            return tt_errf(TT_ERR_TIMEOUT, errstr, errstr_size,
                           "no progress for %d s (%llu records read; "
                           "transient errors: %llu)",
                           o->timeout_s, (unsigned long long)cnt->read,
                           (unsigned long long)tt_kread_transient_errors(r));
        }
        merge_sync(m, r);
    }
}

static int run(const struct tt_conf *conf, const struct dump_opts *o)
{
    const char *topic = o->topic ? o->topic : conf->kafka.input_topic;
    FILE *info = !strcmp(o->out, "-") ? stderr : stdout;
    struct counts cnt = {0, 0, 0};
    int64_t *start = NULL, *end = NULL;
    tt_kread_t *r = NULL;
    tt_codec_t *codec = NULL;
    struct merge m;
    struct writer w;
    char errstr[512];
    uint64_t t0 = tt_time_mono_ns(), planned = 0;
    int parts = 0, rc;
    tt_err_t err;
    double secs;
    struct stat st;

    rc = tt_cli_topic_partitions(CMD, &conf->kafka, topic, ADMIN_TIMEOUT_MS,
                                 &parts);
    if (rc)
        return rc;
    memset(&w, 0, sizeof(w));
    err = merge_init(&m, parts);
    start = calloc((size_t)parts, sizeof(*start));
    end = calloc((size_t)parts, sizeof(*end));
    if (err || !start || !end) {
        tt_cli_error(CMD, "out of memory");
        rc = TT_EXIT_FAIL;
        goto out;
    }
    rc = TT_EXIT_FAIL;
    err = tt_codec_new(&codec, errstr, sizeof(errstr));
    if (!err)
        err = tt_kread_new(&r, &conf->kafka, topic, parts, errstr,
                           sizeof(errstr));
    if (err) {
        tt_cli_error(CMD, "%s", errstr);
        rc = err == TT_ERR_CONF ? TT_EXIT_USAGE : TT_EXIT_FAIL;
        goto out;
    }
    err = plan_ranges(r, o, start, end, errstr, sizeof(errstr));
    if (!err)
        err = writer_open(&w, o, errstr, sizeof(errstr));
    if (!err)
        err = tt_kread_assign(r, start, end, errstr, sizeof(errstr));
    if (err) {
        tt_cli_error(CMD, "%s", errstr);
        writer_close(&w, o->out, false, NULL, 0);
        goto out;
    }
    for (int p = 0; p < parts; p++)
        planned += end[p] > start[p] ? (uint64_t)(end[p] - start[p]) : 0;
    tt_cli_install_signals();
    err = dump_loop(o, r, codec, &m, &w, &cnt, errstr, sizeof(errstr));
    if (err) {
        tt_cli_error(CMD, "%s", errstr);
        writer_close(&w, o->out, false, NULL, 0);
        goto out;
    }
    if (writer_close(&w, o->out, true, errstr, sizeof(errstr))) {
        tt_cli_error(CMD, "%s", errstr);
        goto out;
    }
    secs = tt_time_secs(t0, tt_time_mono_ns());
    fprintf(info, "topic:        %s (%d partitions, read_committed)\n", topic,
            parts);
    if (parts <= 16)
        for (int p = 0; p < parts; p++)
            fprintf(info, "  [%d]        offsets %" PRId64 "..%" PRId64
                          " (%s)\n",
                    p, start[p], end[p],
                    start[p] < end[p] ? "end excluded" : "empty");
    fprintf(info, "records:      %llu read (%llu offsets in range), %llu "
                  "written, %llu undecodable\n",
            (unsigned long long)cnt.read, (unsigned long long)planned,
            (unsigned long long)cnt.written, (unsigned long long)cnt.bad);
    if (strcmp(o->out, "-") && stat(o->out, &st) == 0)
        fprintf(info, "output:       %s (%s, %lld bytes)\n", o->out,
                o->format == DUMP_AVRO ? "avro" : "csv",
                (long long)st.st_size);
    fprintf(info, "time:         %.3f s (%.0f records/s)\n", secs,
            secs > 0 ? (double)cnt.read / secs : 0.0);
    rc = TT_EXIT_OK;
out:
    tt_kread_destroy(r);
    tt_codec_destroy(codec);
    merge_release(&m);
    free(start);
    free(end);
    return rc;
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

int tt_cmd_dump(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"topic", required_argument, NULL, 't'},
        {"out", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {"from-offset", required_argument, NULL, 'a'},
        {"from-time", required_argument, NULL, 'b'},
        {"to-offset", required_argument, NULL, 'd'},
        {"to-time", required_argument, NULL, 'e'},
        {"strict", no_argument, NULL, 'S'},
        {"timeout", required_argument, NULL, 'T'},
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct dump_opts o;
    struct tt_cli_opts co;
    struct tt_conf conf;
    int64_t v;
    int rc = TT_EXIT_NONE, c;

    memset(&o, 0, sizeof(o));
    o.from_offset = o.from_time = o.to_offset = o.to_time = -1;
    o.timeout_s = 60;
    tt_cli_opts_init(&co, CMD, usage, argc);
    optind = 1;
    while (rc == TT_EXIT_NONE && (c = getopt_long(argc, argv, "t:o:f:c:s:h", longopts,
                                      NULL)) != -1) {
        int64_t *slot = c == 'a' ? &o.from_offset
                        : c == 'b' ? &o.from_time
                        : c == 'd' ? &o.to_offset
                        : c == 'e' ? &o.to_time
                                   : NULL;

        if (slot) {
            if (parse_i64(optarg, slot)) {
                tt_cli_error(CMD, "--%s takes a non-negative integer, not "
                                  "'%s'",
                             c == 'a'   ? "from-offset"
                             : c == 'b' ? "from-time"
                             : c == 'd' ? "to-offset"
                                        : "to-time",
                             optarg);
                rc = TT_EXIT_USAGE;
            }
            continue;
        }
        switch (c) {
        case 't':
            o.topic = optarg;
            break;
        case 'o':
            o.out = optarg;
            break;
        case 'f':
            if (!strcmp(optarg, "avro")) {
                o.format = DUMP_AVRO;
            } else if (!strcmp(optarg, "csv")) {
                o.format = DUMP_CSV;
            } else {
                tt_cli_error(CMD, "unknown format '%s' (avro, csv)", optarg);
                rc = TT_EXIT_USAGE;
            }
            break;
        case 'S':
            o.strict = true;
            break;
        case 'T':
            if (parse_i64(optarg, &v) || v < 1 || v > 86400) {
                tt_cli_error(CMD, "--timeout takes 1..86400 seconds");
                rc = TT_EXIT_USAGE;
            }
            o.timeout_s = (int)v;
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
    rc = TT_EXIT_USAGE;
    if (!o.out)
        tt_cli_error(CMD, "--out FILE is required");
    else if (o.from_offset >= 0 && o.from_time >= 0)
        tt_cli_error(CMD, "--from-offset and --from-time exclude each other");
    else if (o.to_offset >= 0 && o.to_time >= 0)
        tt_cli_error(CMD, "--to-offset and --to-time exclude each other");
    else if (o.format == DUMP_AVRO && !strcmp(o.out, "-"))
        tt_cli_error(CMD, "an Avro container file cannot go to stdout "
                          "(use --format csv, or a file)");
    else
        rc = TT_EXIT_NONE;
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
