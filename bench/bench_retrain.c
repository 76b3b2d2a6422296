/*
 * bench_retrain: cost of moving a model through the model topic, the part
 * of `twotime retrain` and of every follower that grows with the catalogue
 * and the user base.
 *
 *   bench_retrain BROKERS MODEL_FILE [PARTITIONS]
 *   bench_retrain BROKERS --synthetic ITEMS USERS DIM [PARTITIONS]
 *
 * Publishes the model (a file, e.g. `twotime retrain --out`, or a random
 * one of that shape) as version 1 to a fresh compacted topic of PARTITIONS
 * partitions (default 4) in one transaction, then assembles it with a fresh
 * follower (tt_modelsub catch-up) and checks the bytes.  Reports records,
 * bytes, publish and assembly time, and the follower's resident memory
 * before and after assembly: what a stream instance pays per version.  The
 * USERS share per partition says what a follower reading only its own
 * partitions would save.  Deletes its topic unless BENCH_KEEP is set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tt_rng.h"
#include "common/tt_time.h"
#include "conf/tt_conf.h"
#include "consumers/tt_modelsub.h"
#include "model/tt_model.h"
#include "model/tt_model_int.h"
#include "producers/tt_admin.h"
#include "producers/tt_modelpub.h"

/* Resident memory now, MiB (VmRSS). */
static double rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = strtod(line + 6, NULL);
    fclose(f);
    return kb / 1024.0;
}

static tt_model_t *synthetic(uint32_t n_items, uint32_t n_users, uint32_t dim)
{
    struct tt_model_parts pt;
    struct tt_rng rng;
    size_t nd = tt_model_dense_floats(dim, true);
    float *dense = malloc(nd * sizeof(float));
    float *items = malloc((size_t)n_items * dim * sizeof(float));
    float *phi = malloc(((size_t)n_users * dim + 1) * sizeof(float));
    int64_t *iid = malloc((size_t)n_items * sizeof(int64_t));
    int64_t *uid = malloc(((size_t)n_users + 1) * sizeof(int64_t));
    tt_model_t *m = NULL;
    char err[256];

    if (!dense || !items || !phi || !iid || !uid) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    tt_rng_seed(&rng, 1, 1);
    for (size_t i = 0; i < nd; i++)
        dense[i] = (float)(0.1 * tt_rng_normal(&rng));
    for (size_t i = 0; i < (size_t)n_items * dim; i++)
        items[i] = (float)tt_rng_normal(&rng);
    for (size_t i = 0; i < (size_t)n_users * dim; i++)
        phi[i] = (float)tt_rng_normal(&rng);
    for (uint32_t i = 0; i < n_items; i++)
        iid[i] = i;
    for (uint32_t i = 0; i < n_users; i++)
        uid[i] = (int64_t)i * 7;
    memset(&pt, 0, sizeof(pt));
    pt.dim = dim;
    pt.tstar = 100;
    pt.k = 20;
    pt.flags = TT_MODEL_FLAG_PLUS;
    pt.version = 1;
    pt.n_items = n_items;
    pt.item_ids = iid;
    pt.items = items;
    pt.n_active = n_users;
    pt.user_ids = uid;
    pt.phi = phi;
    pt.dense = dense;
    if (tt_model_build(&m, &pt, err, sizeof(err))) {
        fprintf(stderr, "model: %s\n", err);
        exit(1);
    }
    free(dense);
    free(items);
    free(phi);
    free(iid);
    free(uid);
    return m;
}

int main(int argc, char **argv)
{
    struct tt_conf conf;
    struct tt_modelpub_opts po;
    struct tt_modelpub_summary sum;
    struct tt_modelsub_opts so;
    struct tt_modelsub_stats st;
    struct tt_model_info info;
    tt_modelpub_t *pub = NULL;
    tt_modelsub_t *sub = NULL;
    tt_model_t *m = NULL, *canon = NULL, *got = NULL;
    uint8_t *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    char topic[128], txn[160], err[512];
    int parts = 4, n_parts = 0;
    double rss0, rss1, t_asm;
    uint64_t t0;

    if (argc >= 6 && !strcmp(argv[2], "--synthetic")) {
        m = synthetic((uint32_t)strtoul(argv[3], NULL, 10),
                      (uint32_t)strtoul(argv[4], NULL, 10),
                      (uint32_t)strtoul(argv[5], NULL, 10));
        if (argc > 6)
            parts = (int)strtol(argv[6], NULL, 10);
    } else if (argc >= 3) {
        if (tt_model_load(&m, argv[2], err, sizeof(err))) {
            fprintf(stderr, "%s: %s\n", argv[2], err);
            return 1;
        }
        if (argc > 3)
            parts = (int)strtol(argv[3], NULL, 10);
    } else {
        fprintf(stderr,
                "usage: bench_retrain BROKERS MODEL_FILE [PARTITIONS]\n"
                "       bench_retrain BROKERS --synthetic ITEMS USERS DIM "
                "[PARTITIONS]\n");
        return 2;
    }
    tt_conf_init(&conf);
    if (tt_conf_set(&conf, "kafka.brokers", argv[1], err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    snprintf(topic, sizeof(topic), "bench-models-%ld-%llu", (long)getpid(),
             (unsigned long long)tt_time_mono_ns());
    snprintf(txn, sizeof(txn), "%s-pub", topic);
    if (tt_modelpub_ensure_topic(&conf.kafka, topic, parts, &n_parts, err,
                                 sizeof(err)) ||
        tt_modelpub_canonical(&canon, m, n_parts, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    tt_model_get_info(canon, &info);
    memset(&po, 0, sizeof(po));
    po.topic = topic;
    po.transactional_id = txn;
    po.timeout_ms = 300000;
    if (tt_modelpub_new(&pub, &conf.kafka, &po, err, sizeof(err)) ||
        tt_modelpub_publish(pub, canon, info.version, NULL, 0, &sum, err,
                            sizeof(err))) {
        fprintf(stderr, "publish: %s\n", err);
        return 1;
    }
    tt_modelpub_destroy(pub);
    printf("model: D = %u, %u items, %u active users, %d partitions\n",
           info.dim, info.n_items, info.n_active, n_parts);
    printf("publish: %u records (%u dense, %u items, %u users), %.1f MiB, "
           "largest %.0f KiB, %.2f s (%.0f MiB/s)\n",
           sum.records, sum.dense, sum.items, sum.users,
           (double)sum.value_bytes / 1048576.0, (double)sum.max_value / 1024.0,
           sum.seconds, (double)sum.value_bytes / 1048576.0 / sum.seconds);
    printf("  USERS per partition: %.1f MiB of %.1f MiB (what a follower of "
           "its own partitions only would skip: %.0f%% of the users)\n",
           (double)info.n_active * (8 + 4.0 * info.dim) / n_parts / 1048576.0,
           (double)sum.payload_bytes / 1048576.0,
           100.0 * (n_parts - 1) / n_parts);

    /* the follower: a fresh process-side reader, memory around assembly */
    tt_model_destroy(m);
    m = NULL;
    memset(&so, 0, sizeof(so));
    so.topic = topic;
    rss0 = rss_mib();
    t0 = tt_time_mono_ns();
    for (int tries = 0; !got && tries < 50; tries++) {
        if (tt_modelsub_new(&sub, &conf.kafka, &so, err, sizeof(err)) ||
            tt_modelsub_catch_up(sub, 300000, &got, err, sizeof(err))) {
            fprintf(stderr, "catch-up: %s\n", err);
            return 1;
        }
        if (!got) {
            tt_modelsub_destroy(sub);
            sub = NULL;
            usleep(100000);
        }
    }
    t_asm = tt_time_secs(t0, tt_time_mono_ns());
    tt_modelsub_stats(sub, &st);
    rss1 = rss_mib();
    if (!got || tt_model_save_buf(got, &a, &la) ||
        tt_model_save_buf(canon, &b, &lb) || la != lb || memcmp(a, b, la)) {
        fprintf(stderr, "assembled model differs\n");
        return 1;
    }
    printf("assemble: %.2f s (%.0f MiB/s; verification + build %.2f s), "
           "payload buffered at most %.1f MiB; follower RSS %.0f -> %.0f "
           "MiB (+%.0f MiB = %.2f x the model file's %.1f MiB)\n",
           t_asm, (double)sum.value_bytes / 1048576.0 / t_asm,
           st.build_seconds, (double)st.peak_buffered_bytes / 1048576.0,
           rss0, rss1, rss1 - rss0, (rss1 - rss0) / ((double)la / 1048576.0),
           (double)la / 1048576.0);
    printf("  bytes per item / per active user in a follower: %u\n",
           8 + 4 * info.dim);
    free(a);
    free(b);
    tt_modelsub_destroy(sub);
    tt_model_destroy(got);
    tt_model_destroy(canon);
    if (!getenv("BENCH_KEEP")) {
        tt_admin_t *admin = NULL;

        if (!tt_admin_new(&admin, &conf.kafka, err, sizeof(err)))
            tt_admin_delete_topic(admin, topic, 30000, err, sizeof(err));
        tt_admin_destroy(admin);
    }
    tt_conf_release(&conf);
    return 0;
}
