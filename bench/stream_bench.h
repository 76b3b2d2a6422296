/*
 * stream_bench.h: what the files of the bench_stream program share
 * (bench_stream.c: options, Kafka runs, main; stream_offline.c: --offline).
 * bench/CMakeLists.txt builds bench_<name>.c with the <name>_*.c beside it
 * into one program.  One thread uses these, the main one.
 */
#ifndef BENCH_STREAM_BENCH_H
#define BENCH_STREAM_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "common/tt_event.h"
#include "common/tt_rng.h"
#include "conf/tt_conf.h"
#include "model/tt_model.h"

struct opts {
    const char *brokers;
    bool eos;
    uint64_t events;
    uint32_t users;
    uint32_t items;
    uint32_t dim;
    int partitions;
    int batch_max;
    int batch_ms;
    int linger_ms;
    int history;
    int user_cache;
    double rate;
    double seconds;
    double zipf;              /* user popularity exponent, 0 = uniform */
    double *cdf;              /* zipf CDF over users */
    const char *state_dir;
    uint32_t tstar, k, phi_every;
    bool window;
    uint32_t hop;             /* --hop: hopping window of hop H; 0: sliding */
    bool offline;
    int flush_every;          /* offline: batches per RocksDB commit */
    bool null;                /* the ceiling: Kafka work only (stream_null.h) */
    long broker_pid;          /* its CPU per event is reported; 0: not */
    int store_flush_ms;       /* tt_stream_opts.store_flush_ms (0: default) */
};
/* Prints "bench_stream: " fmt (with detail) and exits 1. */
void die(const char *fmt, const char *detail);

/* The next synthetic event: a user drawn as the options say (uniform or
 * Zipf), a uniform item, the wall clock as its time. */
void next_event(struct tt_rng *rng, const struct opts *o,
                struct tt_event *ev);

/* --offline: the stream thread's work per event without Kafka, by phase,
 * printed (model m borrowed). */
void offline(const struct opts *o, const struct tt_conf *c,
             const tt_model_t *m);

#endif
