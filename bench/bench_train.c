/*
 * bench_train: speed of the two training stages and of the canonical
 * per-user step, on a synthetic log made by tt_gen.
 *
 *   bench_train [EVENTS [DIM [THREADS [RUNS]]]]
 *       (defaults 200000 events, d = 64, 2 threads, 3 runs; users = events
 *       / 50, items = events / 60, the generator's other defaults)
 *
 * Reports the median over RUNS runs of
 *   stage 1 positives/s   one epoch, p = 32 negatives, batch 64, Adam
 *   stage 2 steps/s       one epoch, 2TS-Plus, t* = 100, K = 20, batch 64
 *   step / query          ns per tt_model_user_step / tt_model_user_query
 * and the model's state bytes per active user and per item.  On CPUs
 * OpenBLAS 0.3.21 does not recognise (it falls back to its slow Prescott
 * kernels) the bench restarts itself with OPENBLAS_CORETYPE set, as
 * `twotime train` does; set OPENBLAS_CORETYPE yourself to choose.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tt_time.h"
#include "model/tt_dataset.h"
#include "model/tt_gen.h"
#include "model/tt_model.h"
#include "model/tt_train.h"

#define RUNS_MAX 15

struct last_rate {
    double rate;
};

static void on_progress(void *ctx, const struct tt_train_progress *p)
{
    struct last_rate *r = ctx;

    if (p->fraction >= 1.0)
        r->rate = p->rate;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* See openblas_core_fix() in cli/cmd_train.c. */
static void openblas_core_fix(char **argv)
{
    const char *core = openblas_get_corename(), *want = NULL;

    if (getenv("OPENBLAS_CORETYPE") || !core || strcmp(core, "Prescott"))
        return;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = "Haswell";
    if (want && setenv("OPENBLAS_CORETYPE", want, 1) == 0) {
        execv("/proc/self/exe", argv);
        unsetenv("OPENBLAS_CORETYPE");
    }
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
    uint32_t dim = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 64;
    int threads = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 2;
    int runs = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 3;
    struct tt_gen_opts go;
    struct tt_train_opts o;
    struct tt_dataset ds;
    struct tt_split split;
    struct tt_event ev;
    struct tt_model_info info;
    tt_gen_t *g;
    tt_model_t *m = NULL;
    char err[256];
    double r1[RUNS_MAX], r2[RUNS_MAX], s1_secs[RUNS_MAX], s2_secs[RUNS_MAX];

    openblas_core_fix(argv);
    if (n < 1000 || dim < 1 || dim > 1024 || threads < 1 || runs < 1 ||
        runs > RUNS_MAX) {
        fprintf(stderr, "usage: bench_train [EVENTS>=1000 [DIM [THREADS "
                        "[RUNS<=%d]]]]\n", RUNS_MAX);
        return 2;
    }
    tt_gen_opts_init(&go);
    go.seed = 1;
    go.n_events = n;
    go.n_users = (uint32_t)(n / 50);
    go.n_items = (uint32_t)(n / 60);
    if (tt_gen_new(&g, &go, err, sizeof err) || tt_dataset_init(&ds)) {
        fprintf(stderr, "bench_train: %s\n", err);
        return 1;
    }
    while (tt_gen_next(g, &ev))
        if (tt_dataset_add(&ds, &ev)) {
            fprintf(stderr, "bench_train: out of memory\n");
            return 1;
        }
    tt_gen_destroy(g);
    if (tt_dataset_finish(&ds) || tt_split_compute(&ds, 0.7, 0.1, &split)) {
        fprintf(stderr, "bench_train: cannot build the dataset\n");
        return 1;
    }
    memset(&o, 0, sizeof o);
    o.seed = 42;
    o.threads = threads;
    o.dim = dim;
    o.tstar = 100;
    o.k = 20;
    o.plus = true;
    o.mode = TT_MODE_2TS;
    o.negatives = 32;
    o.adam = true;
    o.epochs1 = 1;
    o.lr1 = 0.01;
    o.l2 = 1e-6;
    o.epochs2 = 1;
    o.lr2 = 0.001;
    o.batch = 64;
    o.clip = 5.0;
    printf("bench_train: %zu events, %u users, %u items, d = %u, %d "
           "thread(s), %d run(s), OpenBLAS %s\n",
           ds.n, tt_dataset_n_users(&ds), tt_dataset_n_items(&ds), dim,
           threads, runs, openblas_get_corename());
    for (int r = 0; r < runs; r++) {
        struct tt_stage1 s1;
        struct last_rate lr1 = {0}, lr2 = {0};
        double secs = 0;

        tt_model_destroy(m);
        m = NULL;
        if (tt_stage1_train(&ds, &split, &o, on_progress, &lr1, &s1, err,
                            sizeof err) ||
            tt_stage2_train(&ds, &split, &s1, &o, 1, NULL, NULL, on_progress,
                            &lr2, &m, &secs, err, sizeof err)) {
            fprintf(stderr, "bench_train: %s\n", err);
            return 1;
        }
        r1[r] = lr1.rate;
        r2[r] = lr2.rate;
        s1_secs[r] = s1.seconds;
        s2_secs[r] = secs;
        tt_stage1_release(&s1);
    }
    printf("stage 1: %.0f positives/s (median; one epoch %.2f s)\n",
           median(r1, runs), median(s1_secs, runs));
    printf("stage 2: %.0f steps/s (median; one epoch %.2f s)\n",
           median(r2, runs), median(s2_secs, runs));

    /* the canonical per-user path, as the stream runs it */
    tt_model_get_info(m, &info);
    {
        struct tt_user_run run;
        float q[1024];
        const int reps = 20000;
        double t_step[RUNS_MAX], t_query[RUNS_MAX];
        volatile float sink = 0;

        for (int r = 0; r < runs; r++) {
            uint64_t t0, t1, t2;

            tt_model_user_start(m, 12345, false, &run);
            t0 = tt_time_mono_ns();
            for (int i = 0; i < reps; i++)
                tt_model_user_step(m, &run,
                                   tt_model_item_at(m, (uint32_t)i %
                                                           info.n_items,
                                                    NULL));
            t1 = tt_time_mono_ns();
            for (int i = 0; i < reps; i++) {
                tt_model_user_query(m, &run, q);
                sink += q[i % info.dim];
            }
            t2 = tt_time_mono_ns();
            t_step[r] = (double)(t1 - t0) / reps;
            t_query[r] = (double)(t2 - t1) / reps;
        }
        (void)sink;
        printf("canonical step: %.0f ns, query (Plus): %.0f ns, D = %u\n",
               median(t_step, runs), median(t_query, runs), info.dim);
    }
    /* state: id (8) + vector (4 D) + one id-table slot (4 B at load factor
     * <= 1/2, so <= 8 B) per active user and per item */
    printf("model state: %u B per active user, %u B per item, %zu B of "
           "shared parameters; user run %zu B\n",
           8 + 4 * info.dim + 8, 8 + 4 * info.dim + 8,
           sizeof(float) * (info.dim + 2 * (6 * (size_t)info.dim * info.dim +
                                            3 * info.dim) +
                            2 * (size_t)info.dim * info.dim),
           sizeof(struct tt_user_run));
    tt_model_destroy(m);
    tt_dataset_release(&ds);
    return 0;
}
