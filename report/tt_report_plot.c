/*
 * The report's figures: data files and a gnuplot script written into the
 * output directory, then gnuplot run there as a child process with a
 * deadline.  Its output goes to DIR/gnuplot.log.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/tt_time.h"
#include "report/tt_report_int.h"

#define FILE_MAX 4096
#define SCRIPT "report.gp"
#define LOG "gnuplot.log"
#define DAT_ACTIVITY "fig_activity.dat"
#define DAT_CHANGE "fig_change.dat"
#define DAT_TRAINING "fig_training.dat"
#define DAT_STATIC "fig_training_static.dat"

/* One colour per model (Tableau 10), the same in every figure. */
static const char *const colours[] = {
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
};
#define N_COLOURS (sizeof(colours) / sizeof(colours[0]))

static const char *colour(uint32_t model)
{
    return colours[model % N_COLOURS];
}

/* gnuplot reads "NaN" as a missing point and breaks the line there. */
static void put_num(FILE *f, bool has, double v)
{
    if (has && isfinite(v))
        fprintf(f, " %.9g", v);
    else
        fputs(" NaN", f);
}

static FILE *open_in(const char *dir, const char *name, char *errstr,
                     size_t errstr_size)
{
    char path[FILE_MAX];
    FILE *f;

    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
        tt_errf(TT_ERR_RANGE, errstr, errstr_size, "%s: path too long", dir);
        return NULL;
    }
    f = fopen(path, "w");
    if (!f)
        tt_errf(TT_ERR_IO, errstr, errstr_size, "cannot write %s: %s", path,
                strerror(errno));
    return f;
}

static tt_err_t close_out(FILE *f, const char *dir, const char *name,
                          char *errstr, size_t errstr_size)
{
    bool bad = ferror(f) != 0;

    if (fclose(f) != 0 || bad)
        return tt_errf(TT_ERR_IO, errstr, errstr_size,
                       "writing %s/%s failed", dir, name);
    return TT_ERR_OK;
}

/* Whether model m's buckets have the bounds of model 0's (so that one
 * x axis fits both). */
static bool same_buckets(const struct tt_rp_data *d, uint32_t m)
{
    const struct tt_rp_model *a = &d->model[0], *b = &d->model[m];

    if (a->n_buckets != b->n_buckets)
        return false;
    for (uint32_t i = 0; i < a->n_buckets; i++)
        if (a->bucket[i].lo != b->bucket[i].lo ||
            a->bucket[i].hi != b->bucket[i].hi ||
            a->bucket[i].open != b->bucket[i].open)
            return false;
    return true;
}

static void dat_activity(FILE *f, const struct tt_rp_data *d)
{
    const struct tt_rp_model *m0 = &d->model[0];
    char label[64];

    fputs("# bucket label share_of_test_interactions_pct users", f);
    for (uint32_t m = 0; m < d->n_models; m++)
        fprintf(f, " mrr_%s", d->model[m].name);
    fputc('\n', f);
    for (uint32_t b = 0; b < m0->n_buckets; b++) {
        const struct tt_rp_bucket *bk = &m0->bucket[b];

        tt_rp_bucket_label(bk, label, sizeof(label));
        fprintf(f, "%u \"%s\"", (unsigned)b, label);
        put_num(f, m0->scored > 0,
                100.0 * (double)bk->m.n / (double)m0->scored);
        fprintf(f, " %llu", (unsigned long long)bk->users);
        /* A bucket without interactions has MRR 0 in the JSON ("a metric
         * that does not exist is 0"); it is no point on the line. */
        for (uint32_t m = 0; m < d->n_models; m++) {
            const struct tt_rp_bucket *x = &d->model[m].bucket[b];

            put_num(f, same_buckets(d, m) && x->m.n > 0, x->m.mrr);
        }
        fputc('\n', f);
    }
}

static void dat_change(FILE *f, const struct tt_rp_data *d)
{
    bool first = true;

    for (uint32_t m = 0; m < d->n_models; m++) {
        const struct tt_rp_model *mo = &d->model[m];

        if (!mo->has_change)
            continue;
        fprintf(f, "%s# %s: step inactive_mean active_mean inactive_n "
                   "active_n\n",
                first ? "" : "\n\n", mo->name);
        first = false;
        for (uint32_t s = 0; s < mo->steps; s++) {
            fprintf(f, "%u", (unsigned)s + 1);
            put_num(f, mo->change[0].has[s], mo->change[0].mean[s]);
            put_num(f, mo->change[1].has[s], mo->change[1].mean[s]);
            fprintf(f, " %llu %llu\n", (unsigned long long)mo->change[0].n[s],
                    (unsigned long long)mo->change[1].n[s]);
        }
    }
}

static void dat_training(FILE *f, FILE *fs, const struct tt_rp_data *d)
{
    bool first = true, first_s = true;

    for (uint32_t m = 0; m < d->n_models; m++) {
        const struct tt_rp_model *mo = &d->model[m];

        if (!mo->n_curve) {
            fprintf(fs, "%s# %s: stage1_seconds valid_mrr\n",
                    first_s ? "" : "\n\n", mo->name);
            first_s = false;
            fprintf(fs, "%.9g %.9g\n", mo->stage1_s, mo->valid_mrr);
            continue;
        }
        fprintf(f, "%s# %s: total_seconds valid_mrr epoch\n",
                first ? "" : "\n\n", mo->name);
        first = false;
        for (uint32_t i = 0; i < mo->n_curve; i++)
            fprintf(f, "%.9g %.9g %u\n", mo->curve[i].total_seconds,
                    mo->curve[i].valid_mrr, (unsigned)mo->curve[i].epoch);
    }
}

static void gp_activity(FILE *g, const struct tt_rp_data *d)
{
    const struct tt_rp_model *m0 = &d->model[0];
    int t = tt_rp_tstar_bucket(d);

    fprintf(g, "set output \"%s\"\n", tt_rp_fig_file(TT_RP_FIG_ACTIVITY));
    fputs("set title \"Test MRR by the user's number of training "
          "interactions\"\n"
          "set xlabel \"training interactions of the user (bucket)\"\n"
          "set ylabel \"test MRR\"\n"
          "set y2label \"share of test interactions (%)\"\n"
          "set ytics nomirror\nset y2tics\nset y2range [0:*]\n"
          "set yrange [0:*]\n"
          "set grid ytics\n"
          "set style fill transparent solid 0.18 noborder\n"
          "set boxwidth 0.7\n"
          "set key below horizontal maxcols 5 noenhanced\n",
          g);
    fprintf(g, "set xrange [-0.5:%u.5]\n", (unsigned)m0->n_buckets - 1);
    if (t >= 0) {
        fprintf(g,
                "set arrow 1 from %d.5, graph 0 to %d.5, graph 1 nohead "
                "dt 2 lw 2 lc rgb \"black\"\n"
                "set label 1 \"t* = %llu\" at %d.5, graph 0.96 offset "
                "0.6,0 left\n",
                t, t, (unsigned long long)d->tstar, t);
    }
    fprintf(g, "plot \"%s\" using 1:3:xtic(2) axes x1y2 with boxes lc rgb "
               "\"#888888\" title \"share of test interactions\"",
            DAT_ACTIVITY);
    for (uint32_t m = 0; m < d->n_models; m++) {
        fprintf(g, ", \\\n     \"\" using 1:%u with linespoints lw 2 pt 7 "
                   "ps 1.1 lc rgb \"%s\" dt %u title \"%s\"",
                (unsigned)m + 5, colour(m), (unsigned)(m / N_COLOURS) + 1,
                d->model[m].name);
    }
    fputs("\nunset arrow 1\nunset label 1\nunset y2tics\nunset y2label\n"
          "set ytics mirror\nunset boxwidth\nset xrange [*:*]\n"
          "set yrange [*:*]\nunset grid\n",
          g);
}

static void gp_change(FILE *g, const struct tt_rp_data *d)
{
    uint32_t n = 0, cols, rows, block = 0, steps = 1;

    for (uint32_t m = 0; m < d->n_models; m++) {
        n += d->model[m].has_change;
        if (d->model[m].has_change && d->model[m].steps > steps)
            steps = d->model[m].steps;
    }
    cols = n < 3 ? n : 3;
    rows = (n + cols - 1) / cols;
    fprintf(g, "set terminal pngcairo size %u,%u enhanced font "
               "\"sans,10\"\n",
            cols * 440, rows * 340 + 40);
    fprintf(g, "set output \"%s\"\n", tt_rp_fig_file(TT_RP_FIG_CHANGE));
    /* One legend for all panels, in the title: per-panel keys collide
     * with the data or the title whatever their place. */
    fprintf(g, "set multiplot layout %u,%u title \"Mean embedding change "
               "per update by step (t* = %llu)\\nblue \342\227\217 "
               "inactive users,   red \342\226\240 active users (more "
               "than t* training interactions)\" font \",12\"\n",
            rows, cols, (unsigned long long)d->tstar);
    fprintf(g, "set xrange [1:%u]\nset xtics (", (unsigned)steps);
    /* Log scale, labelled 1 2 5 10 20 50 ...: gnuplot's own log tics
     * label only the powers of ten. */
    for (uint32_t t = 1, i = 0; t <= steps; i++) {
        fprintf(g, "%s%u", i ? ", " : "", (unsigned)t);
        t = i % 3 == 1 ? t / 2 * 5 : t * 2;
    }
    fputs(")\n", g);
    fputs("set xlabel \"step (state updates since the state's start)\"\n"
          "set ylabel \"mean ||h_{t+1} - h_t||_2\"\n"
          "set logscale x\nset yrange [0:*]\n"
          "set grid\nunset key\n",
          g);
    for (uint32_t m = 0; m < d->n_models; m++) {
        const struct tt_rp_model *mo = &d->model[m];

        if (!mo->has_change)
            continue;
        /* Users who were active long before the cutoff under a model
         * without a per-user start (gru, sumpool) have only steps beyond
         * steps_max: say so rather than show an empty line. */
        bool active_late = mo->change[1].later_n > 0;

        for (uint32_t s = 0; s < mo->steps; s++)
            active_late &= !mo->change[1].has[s];
        fprintf(g, "set title \"%s%s\" noenhanced\n", mo->name,
                active_late ? "  (active users: all updates beyond the "
                              "plotted steps)"
                            : "");
        /* A group without a point would make gnuplot warn; has_change
         * guarantees one of the two. */
        bool any[2] = {false, false};

        for (int gr = 0; gr < 2; gr++)
            for (uint32_t s = 0; s < mo->steps; s++)
                any[gr] |= mo->change[gr].has[s];
        fputs("plot ", g);
        if (any[0])
            fprintf(g, "\"%s\" index %u using 1:2 with linespoints lw 2 "
                       "pt 7 ps 0.6 lc rgb \"#1f77b4\" title \"inactive\"%s",
                    DAT_CHANGE, (unsigned)block, any[1] ? ", " : "");
        if (any[1])
            fprintf(g, "\"%s\" index %u using 1:3 with linespoints lw 2 "
                       "pt 5 ps 0.6 lc rgb \"#d62728\" title \"active\"",
                    DAT_CHANGE, (unsigned)block);
        fputc('\n', g);
        block++;
    }
    fputs("unset multiplot\nunset logscale x\nset xtics autofreq\n"
          "unset grid\nset key\n"
          "set xrange [*:*]\nset yrange [*:*]\nunset title\n",
          g);
}

static void gp_training(FILE *g, const struct tt_rp_data *d)
{
    uint32_t block = 0, sblock = 0;
    bool first = true;

    fprintf(g, "set output \"%s\"\n", tt_rp_fig_file(TT_RP_FIG_TRAINING));
    fputs("set title \"Validation MRR against training time (one point per "
          "stage-2 epoch)\"\n"
          "set xlabel \"training time, s (stage 1 + stage 2, validation "
          "excluded)\"\n"
          "set ylabel \"validation MRR\"\n"
          "set xrange [0:*]\nset grid\n"
          "set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05\n"
          "set key below horizontal maxcols 4 noenhanced\n",
          g);
    fputs("plot ", g);
    for (uint32_t m = 0; m < d->n_models; m++) {
        const struct tt_rp_model *mo = &d->model[m];

        if (!first)
            fputs(", \\\n     ", g);
        first = false;
        if (mo->n_curve)
            fprintf(g, "\"%s\" index %u using 1:2 with linespoints lw 2 "
                       "pt 7 ps 0.9 lc rgb \"%s\" title \"%s\"",
                    DAT_TRAINING, (unsigned)block++, colour(m), mo->name);
        else
            fprintf(g, "\"%s\" index %u using 1:2 with points pt 9 ps 2 "
                       "lc rgb \"%s\" title \"%s (no stage 2)\"",
                    DAT_STATIC, (unsigned)sblock++, colour(m), mo->name);
    }
    fputs("\nunset grid\nset xrange [*:*]\nset offsets 0, 0, 0, 0\n", g);
}

static tt_err_t write_inputs(const struct tt_rp_data *d, const char *dir,
                             const bool *want, char *errstr,
                             size_t errstr_size)
{
    FILE *f, *fs, *g;
    tt_err_t err;

    f = open_in(dir, DAT_ACTIVITY, errstr, errstr_size);
    if (!f)
        return TT_ERR_IO;
    dat_activity(f, d);
    if ((err = close_out(f, dir, DAT_ACTIVITY, errstr, errstr_size)))
        return err;
    f = open_in(dir, DAT_CHANGE, errstr, errstr_size);
    if (!f)
        return TT_ERR_IO;
    dat_change(f, d);
    if ((err = close_out(f, dir, DAT_CHANGE, errstr, errstr_size)))
        return err;
    f = open_in(dir, DAT_TRAINING, errstr, errstr_size);
    if (!f)
        return TT_ERR_IO;
    fs = open_in(dir, DAT_STATIC, errstr, errstr_size);
    if (!fs) {
        fclose(f);
        return TT_ERR_IO;
    }
    dat_training(f, fs, d);
    err = close_out(f, dir, DAT_TRAINING, errstr, errstr_size);
    if (err) {
        fclose(fs);
        return err;
    }
    if ((err = close_out(fs, dir, DAT_STATIC, errstr, errstr_size)))
        return err;

    g = open_in(dir, SCRIPT, errstr, errstr_size);
    if (!g)
        return TT_ERR_IO;
    fputs("# Written by `twotime report`; redraw with: gnuplot report.gp\n"
          "set encoding utf8\n"
          "set datafile missing NaN\n",
          g);
    if (want[TT_RP_FIG_ACTIVITY]) {
        fputs("set terminal pngcairo size 1000,560 enhanced font "
              "\"sans,11\"\n",
              g);
        gp_activity(g, d);
    }
    if (want[TT_RP_FIG_TRAINING]) {
        fputs("set terminal pngcairo size 1000,560 enhanced font "
              "\"sans,11\"\n",
              g);
        gp_training(g, d);
    }
    if (want[TT_RP_FIG_CHANGE])
        gp_change(g, d);
    fputs("set output\n", g);
    return close_out(g, dir, SCRIPT, errstr, errstr_size);
}

/* The first lines of the log, for the error message. */
static void log_head(const char *dir, char *buf, size_t size)
{
    char path[FILE_MAX];
    size_t n = 0;
    FILE *f;
    int c, lines = 0;

    buf[0] = '\0';
    snprintf(path, sizeof(path), "%s/%s", dir, LOG);
    f = fopen(path, "r");
    if (!f)
        return;
    while (n + 1 < size && (c = fgetc(f)) != EOF) {
        if (c == '\n') {
            if (++lines == 3)
                break;
            c = ' ';
        }
        buf[n++] = (char)c;
    }
    buf[n] = '\0';
    fclose(f);
}

/* Runs `program SCRIPT` in dir with its output in dir/LOG. */
static tt_err_t run_gnuplot(const char *dir, const char *program,
                            int timeout_ms, char *errstr, size_t errstr_size)
{
    char path[FILE_MAX], head[400];
    char *const argv[] = {(char *)"gnuplot", (char *)SCRIPT, NULL};
    struct timespec nap = {0, 10 * 1000 * 1000};
    uint64_t t0 = tt_time_mono_ns();
    int logfd, nullfd, status = 0;
    pid_t pid, w;

    snprintf(path, sizeof(path), "%s/%s", dir, LOG);
    logfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (logfd < 0)
        return tt_errf(TT_ERR_IO, errstr, errstr_size, "cannot write %s: %s",
                       path, strerror(errno));
    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nullfd < 0) {
        close(logfd);
        return tt_errf(TT_ERR_IO, errstr, errstr_size,
                       "cannot open /dev/null: %s", strerror(errno));
    }
    pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls between fork and exec. */
        if (chdir(dir) != 0 || dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 ||
            dup2(logfd, 2) < 0)
            _exit(126);
        execv(program, argv);
        _exit(127);
    }
    close(logfd);
    close(nullfd);
    if (pid < 0)
        return tt_errf(TT_ERR_IO, errstr, errstr_size, "cannot fork: %s",
                       strerror(errno));
    for (;;) {
        w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            return tt_errf(TT_ERR_IO, errstr, errstr_size,
                           "waiting for gnuplot: %s", strerror(errno));
        if (tt_time_secs(t0, tt_time_mono_ns()) * 1000.0 > timeout_ms) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            return tt_errf(TT_ERR_TIMEOUT, errstr, errstr_size,
                           "%s did not finish within %d ms (killed)",
                           program, timeout_ms);
        }
        nanosleep(&nap, NULL);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return TT_ERR_OK;
    log_head(dir, head, sizeof(head));
    if (WIFEXITED(status))
        return tt_errf(TT_ERR_IO, errstr, errstr_size,
                       "%s %s in %s failed (exit %d): %s", program, SCRIPT,
                       dir, WEXITSTATUS(status),
                       head[0] ? head : "no message");
    return tt_errf(TT_ERR_IO, errstr, errstr_size,
                   "%s %s in %s died of signal %d: %s", program, SCRIPT, dir,
                   WTERMSIG(status), head[0] ? head : "no message");
}

tt_err_t tt_rp_plot(const struct tt_rp_data *d, const char *dir,
                    const char *program, int timeout_ms, unsigned *drawn,
                    char *errstr, size_t errstr_size)
{
    bool want[TT_RP_FIG__COUNT];
    char path[FILE_MAX];
    struct stat st;
    tt_err_t err;

    *drawn = 0;
    for (int f = 0; f < TT_RP_FIG__COUNT; f++) {
        want[f] = tt_rp_fig_wanted(d, (enum tt_rp_fig)f);
        /* A figure from an earlier report in the same directory must not
         * pass for this one's. */
        snprintf(path, sizeof(path), "%s/%s", dir,
                 tt_rp_fig_file((enum tt_rp_fig)f));
        if (unlink(path) != 0 && errno != ENOENT)
            return tt_errf(TT_ERR_IO, errstr, errstr_size,
                           "cannot remove %s: %s", path, strerror(errno));
    }
    err = write_inputs(d, dir, want, errstr, errstr_size);
    if (err)
        return err;
    err = run_gnuplot(dir, program, timeout_ms, errstr, errstr_size);
    if (err)
        return err;
    for (int f = 0; f < TT_RP_FIG__COUNT; f++) {
        if (!want[f])
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir,
                 tt_rp_fig_file((enum tt_rp_fig)f));
        if (stat(path, &st) != 0 || st.st_size == 0)
            return tt_errf(TT_ERR_IO, errstr, errstr_size,
                           "gnuplot wrote no %s (see %s/%s)", path, dir, LOG);
        *drawn |= 1u << f;
    }
    return TT_ERR_OK;
}
