/*
 * bench_data: throughput and memory of the data side of the model library.
 *   bench_data [EVENTS [TMPFILE]]      (default 1000000, /tmp/bench_data.csv)
 * 1. tt_gen: events per second, generator bytes, peak RSS.
 * 2. tt_gen_write_csv to TMPFILE, then tt_reader over it: MB/s, events/s;
 *    then tt_dataset_read of the file (read, intern, finish).
 * 3. tt_dataset: add EVENTS events in a scrambled time order (the sort is
 *    not skipped), finish: seconds, bytes per interaction (RSS growth).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "common/tt_time.h"
#include "model/tt_dataset.h"
#include "model/tt_gen.h"
#include "model/tt_reader.h"

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;

    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * 4;
}

static long peak_kb(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static double now_s(void)
{
    return (double)tt_time_mono_ns() * 1e-9;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    const char *tmp = argc > 2 ? argv[2] : "/tmp/bench_data.csv";
    struct tt_gen_opts o;
    tt_gen_t *g;
    struct tt_event ev;
    char err[256];
    double t0, t1;
    uint64_t k = 0, sum = 0;
    FILE *f;
    struct stat st;
    tt_reader_t *r;
    struct tt_dataset ds;
    long rss0;

    tt_gen_opts_init(&o);
    o.n_events = n;
    if (tt_gen_new(&g, &o, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    t0 = now_s();
    while (tt_gen_next(g, &ev))
        sum += (uint64_t)ev.item_id;
    t1 = now_s();
    printf("gen:     %llu events in %.2f s = %.2f M events/s; generator %zu "
           "bytes; peak RSS %ld kB (checksum %llu)\n",
           (unsigned long long)n, t1 - t0, (double)n / (t1 - t0) * 1e-6,
           tt_gen_bytes(g), peak_kb(), (unsigned long long)sum);
    tt_gen_destroy(g);

    if (tt_gen_new(&g, &o, err, sizeof(err)) || !(f = fopen(tmp, "w")))
        return 1;
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    t0 = now_s();
    if (tt_gen_write_csv(g, f, err, sizeof(err)) || fclose(f)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    t1 = now_s();
    tt_gen_destroy(g);
    stat(tmp, &st);
    printf("csv:     wrote %.1f MB in %.2f s\n", (double)st.st_size / 1e6,
           t1 - t0);
    if (tt_reader_open(&r, tmp, TT_FORMAT_AUTO, false, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    t0 = now_s();
    while (tt_reader_next(r, &ev, err, sizeof(err)) == TT_ERR_OK)
        k++;
    t1 = now_s();
    tt_reader_close(r);
    printf("reader:  %llu events, %.1f MB/s, %.2f M events/s\n",
           (unsigned long long)k, (double)st.st_size / 1e6 / (t1 - t0),
           (double)k / (t1 - t0) * 1e-6);
    if (tt_dataset_init(&ds))
        return 1;
    rss0 = rss_kb();
    t0 = now_s();
    if (tt_dataset_read(&ds, tmp, TT_FORMAT_AUTO, false, NULL, err,
                        sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    t1 = now_s();
    printf("read:    tt_dataset_read %.2f s = %.2f M events/s; RSS +%ld kB "
           "= %.1f bytes/interaction\n",
           t1 - t0, (double)ds.n / (t1 - t0) * 1e-6, rss_kb() - rss0,
           (double)(rss_kb() - rss0) * 1024.0 / (double)ds.n);
    tt_dataset_release(&ds);
    remove(tmp);

    /* Scrambled order: events in blocks of 4096 taken in reverse, so that
     * the radix sort does real work. */
    if (tt_gen_new(&g, &o, err, sizeof(err)) || tt_dataset_init(&ds))
        return 1;
    rss0 = rss_kb();
    {
        enum { B = 4096 };
        struct tt_event *blk = malloc(B * sizeof(*blk));
        size_t nb = 0;

        t0 = now_s();
        for (;;) {
            bool more = tt_gen_next(g, &ev);

            if (more)
                blk[nb++] = ev;
            if (nb == B || (!more && nb)) {
                while (nb)
                    if (tt_dataset_add(&ds, &blk[--nb]))
                        return 1;
            }
            if (!more)
                break;
        }
        free(blk);
    }
    t1 = now_s();
    printf("dataset: add %.2f s (incl. generation), RSS +%ld kB\n", t1 - t0,
           rss_kb() - rss0);
    t0 = now_s();
    if (tt_dataset_finish(&ds))
        return 1;
    t1 = now_s();
    printf("dataset: finish (radix sort + renumber) %.3f s; %u users %u "
           "items; RSS +%ld kB = %.1f bytes/interaction; peak RSS %ld kB\n",
           t1 - t0, tt_dataset_n_users(&ds), tt_dataset_n_items(&ds),
           rss_kb() - rss0, (double)(rss_kb() - rss0) * 1024.0 / (double)n,
           peak_kb());
    for (size_t j = 1; j < ds.n; j++)
        if (ds.ts[j] < ds.ts[j - 1])
            return 1;
    tt_dataset_release(&ds);
    tt_gen_destroy(g);
    return 0;
}
