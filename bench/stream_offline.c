/*
 * stream_offline.c: bench_stream --offline (see bench_stream.c's top): the
 * stream thread's own work per event, on one thread, without a broker.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/tt_time.h"
#include "consumers/tt_proc.h"
#include "consumers/tt_senc.h"
#include "state/tt_state.h"
#include "state/tt_ucache.h"
#include "state/tt_ustate.h"

#include "stream_bench.h"

static uint64_t cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The stream thread's work without Kafka (see the top), timed by phase. */
void offline(const struct opts *o, const struct tt_conf *c,
             const tt_model_t *m)
{
    const uint32_t bmax = (uint32_t)o->batch_max, hmax = (uint32_t)o->history;
    struct tt_proc_conf pc = {.batch_max = bmax, .history_max = hmax};
    struct tt_proc_view v;
    tt_state_t *st;
    tt_state_batch_t *sb;
    tt_ucache_t *cache;
    tt_proc_t *proc;
    tt_codec_t *codec;
    struct tt_rng rng;
    int64_t *ids = malloc(bmax * sizeof(*ids));
    int64_t *next_off = calloc((size_t)o->partitions, sizeof(*next_off));
    struct tt_user_state **sp = malloc(bmax * sizeof(*sp));
    tt_err_t *status = malloc(bmax * sizeof(*status));
    size_t enc_cap = tt_senc_embedding_max(TT_MODEL_DIM_MAX) + 65536;
    uint8_t *enc = malloc(enc_cap);
    uint64_t t[5] = {0}, done = 0, bytes = 0, batches = 0, t_all;
    uint64_t flush_max = 0, flush_sum = 0, flushes = 0;
    uint32_t cap = o->user_cache > (int)bmax ? (uint32_t)o->user_cache : bmax;
    struct tt_proc_stats ps;
    char err[512];

    if (!ids || !next_off || !sp || !status || !enc)
        die("%s", "no memory");
    if (tt_state_new(&st, &c->state, err, sizeof(err)) ||
        tt_state_batch_new(&sb, st, err, sizeof(err)) ||
        tt_ucache_new(&cache, st, cap, o->dim, hmax, err, sizeof(err)) ||
        tt_proc_new(&proc, &pc, err, sizeof(err)) ||
        tt_senc_new(&codec, err, sizeof(err)))
        die("offline: %s", err);
    if (tt_proc_view_init(&v, m))
        die("%s", "no memory");
    tt_rng_seed(&rng, 42, 3);
    t_all = cpu_ns();
    while (done < o->events) {
        uint64_t c0 = cpu_ns(), c1, c2, c3, c4;
        const struct tt_proc_out *outs;
        size_t n_out, n_users;

        tt_proc_begin(proc);
        for (uint32_t i = 0; i < bmax && done < o->events; i++, done++) {
            struct tt_proc_in in;

            memset(&in, 0, sizeof(in));
            next_event(&rng, o, &in.ev);
            in.partition = (int32_t)(in.ev.user_id % o->partitions);
            in.offset = next_off[in.partition]++;
            if (tt_proc_add(proc, &in))
                die("%s", "add");
        }
        c1 = cpu_ns();
        n_users = tt_proc_n_users(proc);
        for (int32_t part = 0; part < o->partitions; part++) {
            size_t n = 0;

            for (size_t i = 0; i < n_users; i++) {
                int32_t pp;
                int64_t uid;
                struct tt_user_state *s = tt_proc_user(proc, i, &pp, &uid);

                if (pp != part)
                    continue;
                ids[n] = uid;
                sp[n++] = s;
            }
            if (n && tt_ucache_get_many(cache, part, n, ids, sp, status, err,
                                        sizeof(err)))
                die("get: %s", err);
        }
        c2 = cpu_ns();
        if (tt_proc_run(proc, &v))
            die("%s", "run");
        c3 = cpu_ns();
        outs = tt_proc_outputs(proc, &n_out);
        for (size_t i = 0; i < n_out; i++) {
            const struct tt_proc_in *in = tt_proc_event(proc, outs[i].in);
            struct tt_senc_emb e = {
                .user_id = in->ev.user_id, .emb = outs[i].q, .dim = o->dim,
                .model_version = outs[i].model_version,
                .active = outs[i].cell == TT_USTATE_CELL_ACTIVE,
                .count = outs[i].count, .event_time = in->ev.ts_ms,
                .partition = in->partition, .offset = in->offset};
            size_t len;

            if (!outs[i].applied)
                continue;
            if (tt_senc_encode_embedding(codec, &e, enc, enc_cap, &len, err,
                                         sizeof(err)))
                die("encode: %s", err);
            bytes += len;
        }
        for (size_t i = 0; i < n_users; i++) {
            int32_t pp;
            int64_t uid;
            const struct tt_user_state *s = tt_proc_user(proc, i, &pp, &uid);
            size_t len;

            if (!tt_proc_user_dirty(proc, i))
                continue;
            if (tt_ustate_encode(s, enc, enc_cap, &len, err, sizeof(err)))
                die("changelog: %s", err);
            bytes += len;
        }
        c4 = cpu_ns();
        for (size_t i = 0; i < n_users; i++) {
            int32_t pp;
            int64_t uid;
            const struct tt_user_state *s = tt_proc_user(proc, i, &pp, &uid);
            struct tt_ucache_stats cs;

            if (!tt_proc_user_dirty(proc, i))
                continue;
            tt_ucache_stats(cache, &cs);
            if (cs.dirty >= cs.capacity &&
                tt_ucache_commit(cache, sb, err, sizeof(err)))
                die("commit: %s", err);
            if (tt_ucache_put(cache, pp, uid, s, err, sizeof(err)))
                die("put: %s", err);
        }
        if (++batches % (uint64_t)o->flush_every == 0) {
            /* The stream writes the cache to RocksDB inline like this:
             * the longest one is a latency spike. */
            uint64_t f0 = tt_time_mono_ns(), f;

            if (tt_ucache_commit(cache, sb, err, sizeof(err)))
                die("commit: %s", err);
            f = tt_time_mono_ns() - f0;
            flush_max = f > flush_max ? f : flush_max;
            flush_sum += f;
            flushes++;
        }
        t[0] += c1 - c0;
        t[1] += c2 - c1;
        t[2] += c3 - c2;
        t[3] += c4 - c3;
        t[4] += cpu_ns() - c4;
    }
    if (tt_ucache_commit(cache, sb, err, sizeof(err)))
        die("commit: %s", err);
    t_all = cpu_ns() - t_all;
    tt_proc_stats(proc, &ps);
    printf("offline: %" PRIu64 " events in %" PRIu64 " batches, %.3f s CPU "
           "(%.0f ev/s on one thread): %.2f us/event = add %.2f + load %.2f "
           "+ process %.2f + encode %.2f + store %.2f\n",
           done, batches, (double)t_all / 1e9, (double)done * 1e9 / t_all,
           (double)t_all / 1e3 / done, (double)t[0] / 1e3 / done,
           (double)t[1] / 1e3 / done, (double)t[2] / 1e3 / done,
           (double)t[3] / 1e3 / done, (double)t[4] / 1e3 / done);
    printf("  GRU steps %.2f per event, recomputes %.3f per event, active "
           "share %.3f, %.0f bytes encoded per event\n",
           (double)ps.steps / done, (double)ps.recomputes / done,
           (double)ps.active / done, (double)bytes / done);
    if (flushes)
        printf("  RocksDB writes of the user cache (every %d batches): %" PRIu64
               ", %.1f ms mean, %.1f ms longest (wall)\n",
               o->flush_every, flushes, (double)flush_sum / 1e6 / flushes,
               (double)flush_max / 1e6);
    /* One line for bench/stream.sh's table. */
    printf("result: offline %s zipf=%.2f us_per_event=%.2f process_us=%.2f\n",
           o->window && o->hop ? "hop" : o->window ? "window" : "nowindow",
           o->zipf,
           (double)t_all / 1e3 / done, (double)t[2] / 1e3 / done);
    tt_senc_destroy(codec);
    tt_proc_view_release(&v);
    tt_proc_destroy(proc);
    tt_ucache_destroy(cache);
    tt_state_batch_destroy(sb);
    tt_state_destroy(st);
    free(ids);
    free(next_off);
    free(sp);
    free(status);
    free(enc);
}
