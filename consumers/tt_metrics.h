/*
 * tt_metrics: the Prometheus endpoint of `twotime stream`.
 *
 * A fixed set of counters and gauges (TT_METRICS_TABLE), consumer lag per
 * input partition, and a fixed-bucket histogram of event-to-output latency,
 * all plain atomics: the stream loop updates them without locks, and the
 * libmicrohttpd thread renders them in the Prometheus text format (0.0.4) on
 * GET /metrics.  The endpoint binds to conf->bind (loopback by default:
 * metrics say how busy the service is and which model it runs, so exposing
 * them is an explicit choice) and conf->port; port 0 disables the endpoint
 * while the counters keep working (tests, benchmarks, logs).
 *
 * Threading: every update and read function may be called from any thread.
 * tt_metrics_new/destroy from one thread, with no update running.
 */
#ifndef TT_METRICS_H
#define TT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "conf/tt_conf.h"

/* X(enum suffix, metric name, type, help).  Counters end in _total. */
#define TT_METRICS_TABLE(X)                                                    \
    X(EVENTS, "twotime_stream_events_total", "counter",                        \
      "input records consumed")                                                \
    X(APPLIED, "twotime_stream_applied_total", "counter",                      \
      "events applied to a user state (one output each)")                      \
    X(DUPLICATES, "twotime_stream_duplicates_total", "counter",                \
      "events skipped as already applied (replays)")                           \
    X(DEAD_LETTERS, "twotime_stream_dead_letters_total", "counter",            \
      "events sent to the dead-letter topic")                                  \
    X(UNKNOWN_ITEMS, "twotime_stream_unknown_items_total", "counter",          \
      "applied events whose item the model does not know")                     \
    X(RECOMPUTES, "twotime_stream_recomputes_total", "counter",                \
      "users recomputed from their history (new model, cell or window)")       \
    X(GRU_STEPS, "twotime_stream_gru_steps_total", "counter",                  \
      "GRU steps taken")                                                       \
    X(BATCHES, "twotime_stream_batches_total", "counter",                      \
      "processing batches committed")                                          \
    X(TXN_COMMITTED, "twotime_stream_transactions_committed_total", "counter", \
      "Kafka transactions committed")                                          \
    X(TXN_ABORTED, "twotime_stream_transactions_aborted_total", "counter",     \
      "Kafka transactions aborted (work rewound and redone)")                  \
    X(RESTORES, "twotime_stream_restores_total", "counter",                    \
      "partition restores from the changelog completed")                       \
    X(RESTORED_RECORDS, "twotime_stream_restored_records_total", "counter",    \
      "changelog records applied by restores")                                 \
    X(REBALANCES, "twotime_stream_rebalances_total", "counter",                \
      "rebalance callbacks (assign or revoke)")                                \
    X(MODEL_SWAPS, "twotime_stream_model_swaps_total", "counter",              \
      "model versions swapped in after start")                                 \
    X(MODEL_VERSION, "twotime_stream_model_version", "gauge",                  \
      "version of the model in use")                                           \
    X(ASSIGNED, "twotime_stream_assigned_partitions", "gauge",                 \
      "input partitions assigned to this instance")                            \
    X(RESTORING, "twotime_stream_restoring_partitions", "gauge",               \
      "assigned partitions still restoring from the changelog")                \
    X(STATE_BYTES, "twotime_stream_state_bytes", "gauge",                      \
      "approximate RocksDB size (SST files and memtables)")

enum tt_metric {
#define TT_METRIC_ENUM_(id, name, type, help) TT_M_##id,
    TT_METRICS_TABLE(TT_METRIC_ENUM_)
#undef TT_METRIC_ENUM_
        TT_M__COUNT
};

/* Partitions whose lag is tracked (higher ones are summed into none). */
#define TT_METRICS_PARTITIONS_MAX 1024
/* Upper bounds of the latency buckets, milliseconds (then +Inf). */
#define TT_METRICS_LAT_BOUNDS_MS                                               \
    {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000}
#define TT_METRICS_LAT_BUCKETS 15 /* the bounds above plus +Inf */

typedef struct tt_metrics_s tt_metrics_t;

/*
 * Creates the metrics and, when conf->port > 0, starts the HTTP endpoint on
 * conf->bind:conf->port (an IPv4 or IPv6 literal; "" = 127.0.0.1).
 * TT_ERR_CONF for a bad address, TT_ERR_IO when the port cannot be bound,
 * TT_ERR_NOMEM.  conf is borrowed.
 */
tt_err_t tt_metrics_new(tt_metrics_t **mp, const struct tt_conf_metrics *conf,
                        char *errstr, size_t errstr_size);

/* Stops the endpoint and frees; NULL is a no-op. */
void tt_metrics_destroy(tt_metrics_t *m);

/* The port the endpoint listens on, 0 when disabled. */
int tt_metrics_port(const tt_metrics_t *m);

/* Adds n to a counter (or a gauge). */
void tt_metrics_add(tt_metrics_t *m, enum tt_metric id, uint64_t n);

/* Sets a gauge. */
void tt_metrics_set(tt_metrics_t *m, enum tt_metric id, int64_t value);

/* Reads a counter or gauge. */
int64_t tt_metrics_get(const tt_metrics_t *m, enum tt_metric id);

/* Sets the consumer lag of input `partition`, or -1 when not assigned
 * (the series disappears). */
void tt_metrics_set_lag(tt_metrics_t *m, int32_t partition, int64_t lag);

/* Records one event-to-output latency of `ms` milliseconds (n times). */
void tt_metrics_observe_latency(tt_metrics_t *m, double ms, uint64_t n);

/* The q-quantile (0 < q < 1) of the recorded latencies, interpolated
 * linearly inside its bucket; 0 when nothing was recorded.  The last finite
 * bound when the quantile falls in +Inf. */
double tt_metrics_latency_quantile(const tt_metrics_t *m, double q);

/* Renders every metric in the Prometheus text format into buf[0..cap) with
 * a NUL, and sets *len (without it).  TT_ERR_OVERFLOW when cap is too small
 * (then *len is the size needed). */
tt_err_t tt_metrics_render(const tt_metrics_t *m, char *buf, size_t cap,
                           size_t *len);

#endif
