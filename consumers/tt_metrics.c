#include "consumers/tt_metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct tt_metrics_s {
    _Atomic int64_t v[TT_M__COUNT];
    _Atomic int64_t lag[TT_METRICS_PARTITIONS_MAX];
    _Atomic uint64_t lat_bucket[TT_METRICS_LAT_BUCKETS];
    _Atomic uint64_t lat_count;
    _Atomic uint64_t lat_sum_us;
    struct MHD_Daemon *mhd;
    int port;
};

static const char *const m_name[] = {
#define TT_METRIC_NAME_(id, name, type, help) name,
    TT_METRICS_TABLE(TT_METRIC_NAME_)
#undef TT_METRIC_NAME_
};
static const char *const m_type[] = {
#define TT_METRIC_TYPE_(id, name, type, help) type,
    TT_METRICS_TABLE(TT_METRIC_TYPE_)
#undef TT_METRIC_TYPE_
};
static const char *const m_help[] = {
#define TT_METRIC_HELP_(id, name, type, help) help,
    TT_METRICS_TABLE(TT_METRIC_HELP_)
#undef TT_METRIC_HELP_
};
static const double lat_bounds[TT_METRICS_LAT_BUCKETS - 1] =
    TT_METRICS_LAT_BOUNDS_MS;

/* A bounded text buffer that remembers how much it would have needed. */
struct out {
    char *buf;
    size_t cap;
    size_t len;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o,
                                                      const char *fmt, ...)
{
    va_list ap;
    int n;
    size_t room = o->len < o->cap ? o->cap - o->len : 0;

    va_start(ap, fmt);
    n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

tt_err_t tt_metrics_render(const tt_metrics_t *m, char *buf, size_t cap,
                           size_t *len)
{
    struct out o = {buf, cap, 0};
    uint64_t cum = 0;

    for (int i = 0; i < TT_M__COUNT; i++) {
        put(&o, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", m_name[i], m_help[i],
            m_name[i], m_type[i], m_name[i],
            (long long)atomic_load_explicit(&m->v[i], memory_order_relaxed));
    }
    put(&o, "# HELP twotime_stream_consumer_lag input records not yet "
            "consumed, per assigned partition\n"
            "# TYPE twotime_stream_consumer_lag gauge\n");
    for (int p = 0; p < TT_METRICS_PARTITIONS_MAX; p++) {
        int64_t lag = atomic_load_explicit(&m->lag[p], memory_order_relaxed);

        if (lag >= 0)
            put(&o, "twotime_stream_consumer_lag{partition=\"%d\"} %lld\n", p,
                (long long)lag);
    }
    put(&o, "# HELP twotime_stream_latency_seconds event (input record "
            "timestamp) to output (transaction committed / delivered)\n"
            "# TYPE twotime_stream_latency_seconds histogram\n");
    for (int b = 0; b < TT_METRICS_LAT_BUCKETS; b++) {
        cum += atomic_load_explicit(&m->lat_bucket[b], memory_order_relaxed);
        if (b < TT_METRICS_LAT_BUCKETS - 1)
            put(&o,
                "twotime_stream_latency_seconds_bucket{le=\"%g\"} %llu\n",
                lat_bounds[b] / 1000.0, (unsigned long long)cum);
        else
            put(&o,
                "twotime_stream_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
                (unsigned long long)cum);
    }
    put(&o, "twotime_stream_latency_seconds_sum %.6f\n",
        (double)atomic_load_explicit(&m->lat_sum_us, memory_order_relaxed) /
            1e6);
    put(&o, "twotime_stream_latency_seconds_count %llu\n",
        (unsigned long long)atomic_load_explicit(&m->lat_count,
                                                 memory_order_relaxed));
    for (int k = 0; k < 3; k++) {
        static const double qs[3] = {0.5, 0.9, 0.99};

        if (k == 0)
            put(&o, "# HELP twotime_stream_latency_quantile_seconds "
                    "latency quantiles estimated from the histogram\n"
                    "# TYPE twotime_stream_latency_quantile_seconds gauge\n");
        put(&o, "twotime_stream_latency_quantile_seconds{quantile=\"%g\"} "
                "%.6f\n",
            qs[k], tt_metrics_latency_quantile(m, qs[k]) / 1000.0);
    }
    *len = o.len;
    if (o.len >= cap)
        return TT_ERR_OVERFLOW;
    return TT_ERR_OK;
}

static void free_cb(void *p)
{
    free(p);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    const tt_metrics_t *m = cls;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    size_t cap = 16384, len = 0;
    char *buf = NULL;
    unsigned status = MHD_HTTP_OK;

    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char msg[] = "method not allowed\n";

        resp = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
                                               MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    } else if (strcmp(url, "/metrics") != 0 && strcmp(url, "/") != 0) {
        static const char msg[] = "not found: try /metrics\n";

        resp = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
                                               MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_NOT_FOUND;
    } else {
        /* Not the hot path: one allocation per scrape, grown once if the
         * lag series need more room. */
        for (;;) {
            buf = malloc(cap);
            if (!buf)
                return MHD_NO;
            if (tt_metrics_render(m, buf, cap, &len) == TT_ERR_OK)
                break;
            free(buf);
            cap = len + 1024;
        }
        resp = MHD_create_response_from_buffer_with_free_callback(len, buf,
                                                                  free_cb);
    }
    if (!resp) {
        free(buf);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type",
                            "text/plain; version=0.0.4; charset=utf-8");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

tt_err_t tt_metrics_new(tt_metrics_t **mp, const struct tt_conf_metrics *conf,
                        char *errstr, size_t errstr_size)
{
    tt_metrics_t *m;
    const char *bind = conf->bind && conf->bind[0] ? conf->bind : "127.0.0.1";
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    const struct sockaddr *sa;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
    const union MHD_DaemonInfo *info;

    *mp = NULL;
    m = calloc(1, sizeof(*m));
    if (!m)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "metrics: no memory");
    for (int i = 0; i < TT_METRICS_PARTITIONS_MAX; i++)
        atomic_init(&m->lag[i], -1);
    if (conf->port <= 0) {
        *mp = m;
        return TT_ERR_OK;
    }
    if (conf->port > 65535)
        goto bad_addr;
    memset(&a4, 0, sizeof(a4));
    memset(&a6, 0, sizeof(a6));
    if (inet_pton(AF_INET, bind, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)conf->port);
        sa = (const struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, bind, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)conf->port);
        sa = (const struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        goto bad_addr;
    }
    m->mhd = MHD_start_daemon(flags, (uint16_t)conf->port, NULL, NULL,
                              on_request, m, MHD_OPTION_SOCK_ADDR, sa,
                              MHD_OPTION_CONNECTION_LIMIT, 16u,
                              MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                              MHD_OPTION_END);
    if (!m->mhd) {
        free(m);
        return tt_errf(TT_ERR_IO, errstr, errstr_size,
                       "metrics: cannot listen on %s port %d (in use?)", bind,
                       conf->port);
    }
    info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info ? info->port : conf->port;
    *mp = m;
    return TT_ERR_OK;
bad_addr:
    free(m);
    return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                   "metrics: bind address \"%s\" port %d is not an IPv4 or "
                   "IPv6 address and port",
                   bind, conf->port);
}

void tt_metrics_destroy(tt_metrics_t *m)
{
    if (!m)
        return;
    if (m->mhd)
        MHD_stop_daemon(m->mhd);
    free(m);
}

int tt_metrics_port(const tt_metrics_t *m)
{
    return m->mhd ? m->port : 0;
}

void tt_metrics_add(tt_metrics_t *m, enum tt_metric id, uint64_t n)
{
    atomic_fetch_add_explicit(&m->v[id], (int64_t)n, memory_order_relaxed);
}

void tt_metrics_set(tt_metrics_t *m, enum tt_metric id, int64_t value)
{
    atomic_store_explicit(&m->v[id], value, memory_order_relaxed);
}

int64_t tt_metrics_get(const tt_metrics_t *m, enum tt_metric id)
{
    return atomic_load_explicit(&m->v[id], memory_order_relaxed);
}

void tt_metrics_set_lag(tt_metrics_t *m, int32_t partition, int64_t lag)
{
    if (partition < 0 || partition >= TT_METRICS_PARTITIONS_MAX)
        return;
    atomic_store_explicit(&m->lag[partition], lag < -1 ? -1 : lag,
                          memory_order_relaxed);
}

void tt_metrics_observe_latency(tt_metrics_t *m, double ms, uint64_t n)
{
    int b = 0;

    if (n == 0)
        return;
    if (!(ms >= 0))
        ms = 0;
    while (b < TT_METRICS_LAT_BUCKETS - 1 && ms > lat_bounds[b])
        b++;
    atomic_fetch_add_explicit(&m->lat_bucket[b], n, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->lat_count, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->lat_sum_us, (uint64_t)(ms * 1000.0) * n,
                              memory_order_relaxed);
}

double tt_metrics_latency_quantile(const tt_metrics_t *m, double q)
{
    uint64_t cnt[TT_METRICS_LAT_BUCKETS], total = 0, cum = 0;
    double rank;

    for (int b = 0; b < TT_METRICS_LAT_BUCKETS; b++) {
        cnt[b] = atomic_load_explicit(&m->lat_bucket[b], memory_order_relaxed);
        total += cnt[b];
    }
    if (total == 0)
        return 0;
    rank = q * (double)total;
    for (int b = 0; b < TT_METRICS_LAT_BUCKETS; b++) {
        double lo, hi;

        if ((double)(cum + cnt[b]) < rank || cnt[b] == 0) {
            cum += cnt[b];
            continue;
        }
        if (b == TT_METRICS_LAT_BUCKETS - 1)
            return lat_bounds[b - 1];
        lo = b == 0 ? 0 : lat_bounds[b - 1];
        hi = lat_bounds[b];
        return lo + (hi - lo) * ((rank - (double)cum) / (double)cnt[b]);
    }
    return lat_bounds[TT_METRICS_LAT_BUCKETS - 2];
}
