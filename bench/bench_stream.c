/*
 * bench_stream: `twotime stream` end to end against a real broker.
 *
 * Throughput (--rate 0, the default): N events are produced ahead to a new
 * input topic; the stream (library, in a thread of this process) consumes
 * them while a read_committed consumer counts the outputs.  Reported: the
 * events/s from the stream's start to the last output read, and from the
 * first output to the last (steady state, without group join and restore).
 *
 * Latency (--rate R): once the stream has its partitions, events are
 * produced at a steady R events/s for --seconds, each with the wall clock
 * as its event time; the output reader computes now - event_time for every
 * embedding (ms resolution) and reports quantiles after a warm-up second.
 *
 * Offline (--offline): no broker.  The stream thread's own work per event,
 * on one thread: the batch's states from the write-back cache (RocksDB
 * behind it), tt_proc, the output and changelog records encoded, the
 * states put back and committed to RocksDB every --flush-every batches.
 * Reported: thread CPU per event by phase.  Repeatable under
 * `valgrind --tool=callgrind` (instructions per event), which is how
 * changes to the per-event cost are compared on a shared machine.
 *
 * The model: d = --dim, t* = --tstar, K = --k, 2TS-Plus, every
 * --phi-every-th user id holds a phi_u (10: a tenth; 1: all, as when every
 * heavy user was in the training data), --window for a sliding-window
 * model, --hop H for a hopping-window model of hop H (1..K; the default
 * of `twotime train`, with H = K/2), --no-window: the older kind.
 *
 * Everything shares the machine with the broker, as in production on a
 * small box.  Example (see bench/stream.sh):
 *   bench_stream --brokers 127.0.0.1:19292 --mode eos --events 1000000
 *   bench_stream --brokers 127.0.0.1:19292 --mode eos --rate 10000
 *   bench_stream --offline --events 200000 --zipf 1.0
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <ftw.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "common/tt_log.h"
#include "common/tt_rng.h"
#include "common/tt_time.h"
#include "conf/tt_conf.h"
#include "consumers/tt_proc.h"
#include "consumers/tt_senc.h"
#include "consumers/tt_stream.h"
#include "model/tt_model.h"
#include "model/tt_model_int.h"
#include "producers/tt_admin.h"
#include "producers/tt_eventprod.h"
#include "state/tt_state.h"
#include "state/tt_ucache.h"
#include "state/tt_ustate.h"

#include "stream_null.h"

#include "stream_bench.h"

struct reader {
    const struct opts *o;
    const char *topic;
    uint64_t want;
    _Atomic uint64_t count;
    uint64_t first_ns, last_ns;
    bool latency;
    int64_t *lat_ms;          /* one per output (latency mode) */
    int64_t *proc_ms;         /* event time to output record creation */
    uint64_t lat_cap;
    int64_t warm_ms;          /* outputs of events before this are skipped */
    _Atomic int stop;
};

void die(const char *fmt, const char *detail)
{
    fprintf(stderr, "bench_stream: ");
    fprintf(stderr, fmt, detail);
    fputc('\n', stderr);
    exit(1);
}

static void setc(struct tt_conf *c, const char *k, const char *v)
{
    char err[256];

    if (tt_conf_set(c, k, v, err, sizeof(err)))
        die("%s", err);
}

static void set_name(struct tt_conf *c, const char *key, const char *base,
                     const char *suffix)
{
    char v[160];

    snprintf(v, sizeof(v), "%s-%s", base, suffix);
    setc(c, key, v);
}

static tt_model_t *make_model(const struct opts *o)
{
    struct tt_rng rng;
    struct tt_model_parts p;
    uint32_t n_active = (o->users + o->phi_every - 1) / o->phi_every;
    size_t nd = tt_model_dense_floats(o->dim, true);
    float *items = malloc((size_t)o->items * o->dim * sizeof(float));
    float *phi = malloc((size_t)n_active * o->dim * sizeof(float));
    float *dense = malloc(nd * sizeof(float));
    int64_t *iid = malloc(o->items * sizeof(int64_t));
    int64_t *uid = malloc(n_active * sizeof(int64_t));
    tt_model_t *m = NULL;
    char err[256];

    if (!items || !phi || !dense || !iid || !uid)
        die("%s", "no memory");
    tt_rng_seed(&rng, 7, 1);
    for (uint32_t i = 0; i < o->items; i++)
        iid[i] = i;
    for (size_t i = 0; i < (size_t)o->items * o->dim; i++)
        items[i] = (float)(0.3 * tt_rng_normal(&rng));
    for (uint32_t i = 0; i < n_active; i++)
        uid[i] = (int64_t)i * o->phi_every;
    for (size_t i = 0; i < (size_t)n_active * o->dim; i++)
        phi[i] = (float)(0.3 * tt_rng_normal(&rng));
    for (size_t i = 0; i < nd; i++)
        dense[i] = (float)(0.1 * tt_rng_normal(&rng));
    memset(&p, 0, sizeof(p));
    p.dim = o->dim;
    p.tstar = o->tstar;
    p.k = o->k;
    p.flags = TT_MODEL_FLAG_PLUS | (o->window ? TT_MODEL_FLAG_WINDOW : 0) |
              (o->window && o->hop ? TT_MODEL_FLAGS_HOP(o->hop) : 0);
    p.version = 1;
    p.n_items = o->items;
    p.item_ids = iid;
    p.items = items;
    p.n_active = n_active;
    p.user_ids = uid;
    p.phi = phi;
    p.dense = dense;
    if (tt_model_build(&m, &p, err, sizeof(err)))
        die("model: %s", err);
    free(items);
    free(phi);
    free(dense);
    free(iid);
    free(uid);
    return m;
}

/* The CDF of p(rank k) ~ 1 / k^s over the users (ranks shuffled into ids
 * by a multiplicative hash so that heavy users spread over partitions). */
static void zipf_init(struct opts *o)
{
    double sum = 0;

    o->cdf = malloc(o->users * sizeof(double));
    if (!o->cdf)
        die("%s", "no memory");
    for (uint32_t k = 0; k < o->users; k++) {
        sum += 1.0 / pow((double)(k + 1), o->zipf);
        o->cdf[k] = sum;
    }
    for (uint32_t k = 0; k < o->users; k++)
        o->cdf[k] /= sum;
}

static int64_t pick_user(struct tt_rng *rng, const struct opts *o)
{
    double u;
    uint32_t lo = 0, hi;

    if (!o->cdf)
        return (int64_t)tt_rng_below(rng, o->users);
    u = tt_rng_uniform(rng);
    hi = o->users - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (o->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (int64_t)(((uint64_t)lo * 2654435761u) % o->users);
}

void next_event(struct tt_rng *rng, const struct opts *o,
                struct tt_event *ev)
{
    ev->user_id = pick_user(rng, o);
    ev->item_id = (int64_t)tt_rng_below(rng, o->items);
    ev->ts_ms = tt_time_wall_ms();
    ev->category = TT_EVENT_NO_CATEGORY;
}

static double produce(const struct tt_conf *c, const struct opts *o,
                      uint64_t n, double rate, struct tt_rng *rng)
{
    struct tt_eventprod_opts po = {.topic = c->kafka.input_topic};
    tt_eventprod_t *p;
    struct tt_event ev;
    char err[512];
    uint64_t t0 = tt_time_mono_ns();

    if (tt_eventprod_new(&p, &c->kafka, &po, err, sizeof(err)))
        die("producer: %s", err);
    for (uint64_t i = 0; i < n; i++) {
        if (rate > 0) {
            uint64_t due = t0 + (uint64_t)((double)i * 1e9 / rate);

            while (tt_time_mono_ns() < due) {
                tt_eventprod_poll(p, 0, NULL, 0);
                usleep(200);
            }
        }
        next_event(rng, o, &ev);
        if (tt_eventprod_send(p, &ev, err, sizeof(err)))
            die("produce: %s", err);
    }
    if (tt_eventprod_flush(p, 60000, err, sizeof(err)))
        die("flush: %s", err);
    tt_eventprod_destroy(p);
    return tt_time_secs(t0, tt_time_mono_ns());
}

static void *read_outputs(void *arg)
{
    struct reader *r = arg;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_t *rk;
    tt_codec_t *codec = NULL;
    char err[256], group[64];
    float emb[1024];

    snprintf(group, sizeof(group), "bench-reader-%d", (int)getpid());
    rd_kafka_conf_set(conf, "bootstrap.servers", r->o->brokers, err,
                      sizeof(err));
    rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err));
    rd_kafka_conf_set(conf, "isolation.level", "read_committed", err,
                      sizeof(err));
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "5", err, sizeof(err));
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk)
        die("reader: %s", err);
    rd_kafka_poll_set_consumer(rk);
    if (tt_senc_new(&codec, err, sizeof(err)))
        die("codec: %s", err);
    l = rd_kafka_topic_partition_list_new(r->o->partitions);
    for (int p = 0; p < r->o->partitions; p++)
        rd_kafka_topic_partition_list_add(l, r->topic, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    while (!atomic_load(&r->stop) && atomic_load(&r->count) < r->want) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        uint64_t now;

        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        now = tt_time_mono_ns();
        if (atomic_load(&r->count) == 0)
            r->first_ns = now;
        r->last_ns = now;
        if (r->latency) {
            struct tt_senc_emb e;

            /* The null run's records carry no embedding: their timestamp
             * is the input record's (stream_null.h). */
            if (r->o->null) {
                e.event_time = rd_kafka_message_timestamp(m, NULL);
            } else if (tt_senc_decode_embedding(codec, m->payload, m->len,
                                                &e, emb, 1024, NULL, 0)) {
                e.event_time = -1;
            }
            if (e.event_time >= r->warm_ms) {
                uint64_t k = atomic_load(&r->count);

                if (k < r->lat_cap) {
                    r->lat_ms[k] = tt_time_wall_ms() - e.event_time;
                    r->proc_ms[k] =
                        rd_kafka_message_timestamp(m, NULL) - e.event_time;
                }
            } else {
                rd_kafka_message_destroy(m);
                continue;
            }
        }
        atomic_fetch_add(&r->count, 1);
        rd_kafka_message_destroy(m);
    }
    tt_senc_destroy(codec);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return NULL;
}

struct runner {
    tt_stream_t *s;
    tt_err_t err;
    char errstr[512];
};

static void *run_stream(void *arg)
{
    struct runner *r = arg;

    r->err = tt_stream_run(r->s, r->errstr, sizeof(r->errstr));
    return NULL;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Deletes the run's topics and state directory. */
static void cleanup(const struct tt_conf *c)
{
    const char *topics[] = {c->kafka.input_topic, c->kafka.output_topic,
                            c->kafka.changelog_topic,
                            c->kafka.dead_letter_topic};
    tt_admin_t *admin;
    char err[256];

    if (tt_admin_new(&admin, &c->kafka, err, sizeof(err)) == TT_ERR_OK) {
        for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
            tt_admin_delete_topic(admin, topics[i], 30000, err, sizeof(err));
        tt_admin_destroy(admin);
    }
    nftw(c->state.path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* CPU seconds (user + system) of process pid so far, or -1. */
static double proc_cpu_s(long pid)
{
    char path[64], buf[1024];
    const char *p;
    unsigned long long ut = 0, st = 0;
    FILE *f;
    size_t n;

    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command name "(...)": state is field 3, utime 14,
     * stime 15. */
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                            "%llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_stream --brokers HOST:PORT [--mode eos|alos]\n"
            "  [--events N] [--users U] [--items I] [--dim D]\n"
            "  [--partitions P] [--batch-max B] [--batch-ms MS]\n"
            "  [--linger-ms MS] [--history H] [--user-cache C]\n"
            "  [--rate R --seconds S] [--zipf S] [--state-dir DIR]\n"
            "  [--tstar T] [--k K] [--phi-every N] [--window|--no-window]\n"
            "  [--hop H]\n"
            "  [--offline [--flush-every BATCHES]] [--null]\n"
            "  [--broker-pid PID] [--store-flush-ms MS]\n");
    exit(2);
}

static double num(const char *s)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || v < 0)
        die("not a number: %s", s);
    return v;
}

static void parse(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        {"brokers", 1, NULL, 'b'},    {"mode", 1, NULL, 'm'},
        {"events", 1, NULL, 'n'},     {"users", 1, NULL, 'u'},
        {"items", 1, NULL, 'i'},      {"dim", 1, NULL, 'd'},
        {"partitions", 1, NULL, 'p'}, {"batch-max", 1, NULL, 'B'},
        {"batch-ms", 1, NULL, 'M'},   {"linger-ms", 1, NULL, 'L'},
        {"history", 1, NULL, 'H'},    {"user-cache", 1, NULL, 'C'},
        {"rate", 1, NULL, 'r'},       {"seconds", 1, NULL, 's'},
        {"state-dir", 1, NULL, 'S'},  {"zipf", 1, NULL, 'z'},
        {"tstar", 1, NULL, 'T'},      {"k", 1, NULL, 'K'},
        {"phi-every", 1, NULL, 'P'},  {"window", 0, NULL, 'w'},
        {"no-window", 0, NULL, 'W'},  {"offline", 0, NULL, 'o'},
        {"flush-every", 1, NULL, 'F'}, {"hop", 1, NULL, 'J'},
        {"null", 0, NULL, 'N'},       {"broker-pid", 1, NULL, 'G'},
        {"store-flush-ms", 1, NULL, 'X'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'b': o->brokers = optarg; break;
        case 'm': o->eos = !strcmp(optarg, "eos"); break;
        case 'n': o->events = (uint64_t)num(optarg); break;
        case 'u': o->users = (uint32_t)num(optarg); break;
        case 'i': o->items = (uint32_t)num(optarg); break;
        case 'd': o->dim = (uint32_t)num(optarg); break;
        case 'p': o->partitions = (int)num(optarg); break;
        case 'B': o->batch_max = (int)num(optarg); break;
        case 'M': o->batch_ms = (int)num(optarg); break;
        case 'L': o->linger_ms = (int)num(optarg); break;
        case 'H': o->history = (int)num(optarg); break;
        case 'C': o->user_cache = (int)num(optarg); break;
        case 'r': o->rate = num(optarg); break;
        case 's': o->seconds = num(optarg); break;
        case 'S': o->state_dir = optarg; break;
        case 'z': o->zipf = num(optarg); break;
        case 'T': o->tstar = (uint32_t)num(optarg); break;
        case 'K': o->k = (uint32_t)num(optarg); break;
        case 'P': o->phi_every = (uint32_t)num(optarg); break;
        case 'w': o->window = true; break;
        case 'W': o->window = false; break;
        case 'J': o->hop = (uint32_t)num(optarg); o->window = true; break;
        case 'o': o->offline = true; break;
        case 'F': o->flush_every = (int)num(optarg); break;
        case 'N': o->null = true; break;
        case 'G': o->broker_pid = (long)num(optarg); break;
        case 'X': o->store_flush_ms = (int)num(optarg); break;
        default: usage();
        }
    }
    if ((!o->brokers && !o->offline) || !o->users || !o->items || !o->dim ||
        !o->phi_every || !o->k || o->k > o->tstar || o->hop > o->k ||
        o->flush_every < 1 ||
        o->batch_max < 1 || o->partitions < 1)
        usage();
    if (o->zipf > 0)
        zipf_init(o);
}

int main(int argc, char **argv)
{
    struct opts o = {.eos = true, .events = 1000000, .users = 100000,
                     .items = 20000, .dim = 64, .partitions = 4,
                     .batch_max = 5000, .batch_ms = 100, .linger_ms = 0,
                     .history = 256, .user_cache = 0, .rate = 0,
                     .seconds = 20, .state_dir = "/tmp", .tstar = 5,
                     .k = 5, .phi_every = 10, .window = true,
                     .flush_every = 10};
    struct tt_conf c;
    struct tt_stream_opts so;
    struct runner run = {0};
    struct reader rd = {0};
    struct tt_rng rng;
    tt_model_t *m;
    tt_admin_t *admin;
    struct tt_topic_spec spec = {0};
    pthread_t ts, tr;
    char name[128], dir[256], buf[64], err[512];
    uint64_t t0, n;
    double secs;
    struct rusage ru, ru0;
    tt_metrics_t *mx = NULL;
    struct null_run nr = {0};
    double broker0;
    const char *mode;

    parse(argc, argv, &o);
    n = o.rate > 0 ? (uint64_t)(o.rate * o.seconds) : o.events;
    tt_conf_init(&c);
    setc(&c, "kafka.brokers", o.brokers ? o.brokers : "127.0.0.1:9");
    snprintf(name, sizeof(name), "bench-%d-%" PRId64, (int)getpid(),
             tt_time_wall_ms());
    set_name(&c, "kafka.input_topic", name, "in");
    set_name(&c, "kafka.output_topic", name, "out");
    set_name(&c, "kafka.changelog_topic", name, "cl");
    set_name(&c, "kafka.dead_letter_topic", name, "dlq");
    set_name(&c, "kafka.group_id", name, "g");
    snprintf(buf, sizeof(buf), "%d", o.partitions);
    setc(&c, "kafka.partitions", buf);
    setc(&c, "kafka.exactly_once", o.eos ? "true" : "false");
    snprintf(buf, sizeof(buf), "%d", o.batch_max);
    setc(&c, "kafka.batch_max", buf);
    snprintf(buf, sizeof(buf), "%d", o.batch_ms);
    setc(&c, "kafka.batch_ms", buf);
    snprintf(buf, sizeof(buf), "%d", o.history);
    setc(&c, "state.history_max", buf);
    snprintf(buf, sizeof(buf), "%d", o.user_cache);
    setc(&c, "state.user_cache", buf);
    snprintf(dir, sizeof(dir), "%s/%s-state", o.state_dir, name);
    setc(&c, "state.path", dir);
    setc(&c, "metrics.port", "0");
    if (getenv("BENCH_PROP_KEY"))
        setc(&c, getenv("BENCH_PROP_KEY"), getenv("BENCH_PROP_VALUE"));
    snprintf(buf, sizeof(buf), "%u", o.dim);
    setc(&c, "model.dim", buf);

    if (o.offline) {
        m = make_model(&o);
        printf("offline, d=%u, %u users (zipf %.2f), %u items, t* %u, K %u, "
               "%s, phi every %u users, batch_max %d, history %d, "
               "user_cache %d\n",
               o.dim, o.users, o.zipf, o.items, o.tstar, o.k,
               o.window && o.hop ? "hopping window" : o.window ? "window"
                                                             : "no window",
               o.phi_every, o.batch_max,
               o.history, o.user_cache);
        offline(&o, &c, m);
        tt_model_destroy(m);
        nftw(c.state.path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(o.cdf);
        tt_conf_release(&c);
        return 0;
    }
    spec.name = c.kafka.input_topic;
    spec.partitions = o.partitions;
    spec.replication = -1;
    if (tt_admin_new(&admin, &c.kafka, err, sizeof(err)) ||
        tt_admin_create_topic(admin, &spec, 0, 30000, NULL, err,
                              sizeof(err)))
        die("input topic: %s", err);
    if (o.null) {
        /* The stream creates its output topic; the null run uses the
         * same kind (compacted, same partitions). */
        static const struct tt_conf_kv compact[] = {
            {(char *)"cleanup.policy", (char *)"compact"},
        };

        spec.name = c.kafka.output_topic;
        spec.configs = compact;
        spec.n_configs = 1;
        if (tt_admin_create_topic(admin, &spec, 0, 30000, NULL, err,
                                  sizeof(err)))
            die("output topic: %s", err);
    }
    tt_admin_destroy(admin);
    mode = o.null ? (o.eos ? "null-eos" : "null-alos") : o.eos ? "eos" : "alos";
    tt_rng_seed(&rng, 42, 3);
    if (o.rate == 0) {
        secs = produce(&c, &o, n, 0, &rng);
        printf("produced %" PRIu64 " events ahead in %.2f s (%.0f ev/s)\n", n,
               secs, (double)n / secs);
    }

    m = make_model(&o);
    getrusage(RUSAGE_SELF, &ru0);
    memset(&so, 0, sizeof(so));
    so.create_topics = true;
    so.linger_ms = o.linger_ms;
    so.store_flush_ms = o.store_flush_ms;
    so.instance_id = "bench";
    so.log = tt_log_new(stderr, TT_LOG_INFO);
    broker0 = proc_cpu_s(o.broker_pid);
    t0 = tt_time_mono_ns();
    if (o.null) {
        tt_model_destroy(m);
        nr.conf = &c;
        nr.eos = o.eos;
    } else {
        if (tt_stream_new(&run.s, &c, &m, &so, err, sizeof(err)))
            die("stream: %s", err);
        mx = tt_stream_metrics(run.s);
    }
    rd.o = &o;
    rd.topic = c.kafka.output_topic;
    rd.want = n;
    if (o.rate > 0) {
        rd.latency = true;
        rd.lat_cap = n;
        rd.lat_ms = malloc(n * sizeof(int64_t));
        rd.proc_ms = malloc(n * sizeof(int64_t));
        if (!rd.lat_ms || !rd.proc_ms)
            die("%s", "no memory");
    }
    if (o.null)
        pthread_create(&ts, NULL, null_main, &nr);
    else
        pthread_create(&ts, NULL, run_stream, &run);
    if (o.rate == 0) {
        pthread_create(&tr, NULL, read_outputs, &rd);
    } else {
        uint64_t last = 0, t_last = 0;

        while (o.null ? atomic_load(&nr.assigned) == 0 && !nr.err
                      : tt_metrics_get(mx, TT_M_RESTORES) < o.partitions)
            usleep(10000);
        /* Outputs of the first second (warm-up) are not counted. */
        rd.warm_ms = tt_time_wall_ms() + 1000;
        rd.want = n - (uint64_t)o.rate;
        pthread_create(&tr, NULL, read_outputs, &rd);
        secs = produce(&c, &o, n, o.rate, &rng);
        printf("produced %" PRIu64 " events at %.0f ev/s in %.2f s\n", n,
               o.rate, secs);
        /* Wait for the outputs until none come for 5 s. */
        while (atomic_load(&rd.count) < rd.want) {
            uint64_t k = atomic_load(&rd.count), now = tt_time_mono_ns();

            if (k != last || !t_last) {
                last = k;
                t_last = now;
            } else if (tt_time_secs(t_last, now) > 5) {
                atomic_store(&rd.stop, 1);
                break;
            }
            usleep(50000);
        }
    }
    pthread_join(tr, NULL);
    secs = tt_time_secs(t0, rd.last_ns);
    if (o.null) {
        atomic_store(&nr.stop, 1);
        pthread_join(ts, NULL);
        if (nr.err)
            die("null: %s", nr.errstr);
    } else {
        tt_stream_stop(run.s);
        pthread_join(ts, NULL);
        if (run.err)
            die("stream: %s", run.errstr);
    }
    getrusage(RUSAGE_SELF, &ru);
    broker0 = broker0 >= 0 ? proc_cpu_s(o.broker_pid) - broker0 : -1;
    printf("mode %s%s, d=%u, %u users (zipf %.2f), %u items, %d partitions, "
           "batch_max %d, linger %d ms, history %d, user_cache %d\n",
           o.null ? "null (Kafka only), " : "",
           o.eos ? "exactly-once" : "at-least-once", o.dim, o.users, o.zipf,
           o.items, o.partitions, o.batch_max, o.linger_ms, o.history,
           o.user_cache);
    if (o.rate == 0) {
        printf("end to end: %" PRIu64 " outputs in %.2f s from start: "
               "%.0f ev/s; steady (first to last output) %.0f ev/s\n",
               (uint64_t)atomic_load(&rd.count), secs,
               (double)atomic_load(&rd.count) / secs,
               (double)atomic_load(&rd.count) /
                   tt_time_secs(rd.first_ns, rd.last_ns));
        printf("result: %s zipf=%.2f events_per_s=%.0f steady_per_s=%.0f"
               " broker_us=%.2f\n",
               mode, o.zipf,
               (double)atomic_load(&rd.count) / secs,
               (double)atomic_load(&rd.count) /
                   tt_time_secs(rd.first_ns, rd.last_ns),
               broker0 >= 0 ? broker0 * 1e6 / (double)n : -1.0);
    } else {
        uint64_t k = atomic_load(&rd.count);

        if (k > rd.lat_cap)
            k = rd.lat_cap;
        if (k == 0)
            die("%s", "latency: no output read");
        if (getenv("BENCH_LAT_DUMP")) {
            /* Each output's latency in arrival order, to see when. */
            FILE *f = fopen(getenv("BENCH_LAT_DUMP"), "w");

            for (uint64_t i = 0; f && i < k; i++)
                fprintf(f, "%" PRId64 "\n", rd.lat_ms[i]);
            if (f)
                fclose(f);
        }
        qsort(rd.lat_ms, k, sizeof(int64_t), cmp64);
        printf("latency over %" PRIu64 " outputs at %.0f ev/s: p50 %" PRId64
               " ms, p90 %" PRId64 " ms, p99 %" PRId64 " ms, p99.9 %" PRId64
               " ms, max %" PRId64 " ms\n",
               k, o.rate, rd.lat_ms[k / 2], rd.lat_ms[k * 9 / 10],
               rd.lat_ms[k * 99 / 100], rd.lat_ms[k * 999 / 1000],
               rd.lat_ms[k - 1]);
        qsort(rd.proc_ms, k, sizeof(int64_t), cmp64);
        printf("  of which event to output produced: p50 %" PRId64
               " ms, p90 %" PRId64 " ms, p99 %" PRId64 " ms\n",
               rd.proc_ms[k / 2], rd.proc_ms[k * 9 / 10],
               rd.proc_ms[k * 99 / 100]);
        printf("result: %s zipf=%.2f rate=%.0f p50=%" PRId64 " p99=%" PRId64
               " p999=%" PRId64 " max=%" PRId64 "\n",
               mode, o.zipf, o.rate, rd.lat_ms[k / 2],
               rd.lat_ms[k * 99 / 100], rd.lat_ms[k * 999 / 1000],
               rd.lat_ms[k - 1]);
    }
    printf("process CPU from the stream's start (stream, librdkafka and "
           "reader threads%s): %.2f us per event\n",
           o.rate > 0 ? ", the paced producer" : "",
           ((double)(ru.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
            (double)(ru.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
            (double)(ru.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
            (double)(ru.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6) *
               1e6 / (double)n);
    if (broker0 >= 0)
        printf("broker CPU (pid %ld): %.2f us per event\n", o.broker_pid,
               broker0 * 1e6 / (double)n);
    if (o.null) {
        printf("null: %" PRIu64 " batches, %" PRIu64 " failed deliveries\n",
               nr.batches, nr.dr_failed);
    } else {
        printf("batches %" PRId64 ", transactions %" PRId64 " (aborted %" PRId64
               "), recomputes %" PRId64 ", GRU steps %" PRId64
               ", state %.1f MB, cpu user %.1f s sys %.1f s, max rss %.0f MB\n",
               tt_metrics_get(mx, TT_M_BATCHES),
               tt_metrics_get(mx, TT_M_TXN_COMMITTED),
               tt_metrics_get(mx, TT_M_TXN_ABORTED),
               tt_metrics_get(mx, TT_M_RECOMPUTES),
               tt_metrics_get(mx, TT_M_GRU_STEPS),
               (double)tt_metrics_get(mx, TT_M_STATE_BYTES) / 1e6,
               (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
               (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
               (double)ru.ru_maxrss / 1024.0);
    }
    tt_stream_destroy(run.s);
    tt_log_destroy(so.log);
    if (!getenv("BENCH_KEEP"))
        cleanup(&c);
    free(rd.lat_ms);
    free(rd.proc_ms);
    free(o.cdf);
    tt_conf_release(&c);
    return 0;
}
