/*
 * tt_trainjob: stage 1 + stage 2 as `twotime train` runs them, progress,
 * and the retrain gate.
 */
#include "cli/tt_trainjob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/tt_time.h"
#include "model/tt_eval.h"

double tt_trainjob_peak_mib(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)ru.ru_maxrss / 1024.0;
}

void tt_trainjob_progress_init(struct tt_trainjob_progress *pr, tt_log_t *log,
                               const char *what)
{
    memset(pr, 0, sizeof(*pr));
    pr->log = log;
    pr->what = what;
    pr->tty = log && isatty(STDERR_FILENO);
}

static void end_line(struct tt_trainjob_progress *pr)
{
    if (pr->line_open) {
        fputc('\n', stderr);
        pr->line_open = false;
    }
}

void tt_trainjob_on_progress(void *ctx, const struct tt_train_progress *p)
{
    struct tt_trainjob_progress *pr = ctx;
    uint64_t now = tt_time_mono_ns();
    const char *unit = p->stage == 1 ? "positives" : "steps";
    bool epoch_end = p->fraction >= 1.0;
    double done, elapsed, eta;

    if (p->stage != pr->stage) {
        pr->stage = p->stage;
        pr->stage_t0 = now;
    }
    if (p->stage == 2 && epoch_end) {
        pr->epochs_run = p->epoch;
        if (p->valid_mrr >= 0 &&
            (pr->best_epoch == 0 || p->valid_mrr > pr->best_mrr)) {
            pr->best_mrr = p->valid_mrr;
            pr->best_epoch = p->epoch;
        }
    }
    if (!pr->log)
        return;
    done = ((double)(p->epoch - 1) + p->fraction) / (double)p->epochs;
    elapsed = tt_time_secs(pr->stage_t0, now);
    eta = done > 0 ? elapsed * (1.0 - done) / done : 0.0;
    if (pr->tty) {
        fprintf(stderr,
                "\r%s: stage %d epoch %u/%u %3.0f%%  loss %.4f  %.0f %s/s  "
                "ETA %.0f s",
                pr->what, p->stage, p->epoch, p->epochs, 100.0 * p->fraction,
                p->loss, p->rate, unit, eta);
        if (p->valid_mrr >= 0)
            fprintf(stderr, "  validation MRR %.4f", p->valid_mrr);
        fputs("\033[K", stderr);
        pr->line_open = true;
        if (epoch_end)
            end_line(pr);
        fflush(stderr);
        return;
    }
    if (!epoch_end && pr->last_ns &&
        tt_time_secs(pr->last_ns, now) < TT_TRAINJOB_LOG_EVERY_S)
        return;
    pr->last_ns = now;
    if (p->valid_mrr >= 0)
        tt_log_info(pr->log, pr->what,
                    "stage %d epoch %u/%u done: loss %.4f, validation MRR "
                    "%.4f, %.0f %s/s, ETA %.0f s (at most)",
                    p->stage, p->epoch, p->epochs, p->loss, p->valid_mrr,
                    p->rate, unit, eta);
    else
        tt_log_info(pr->log, pr->what,
                    "stage %d epoch %u/%u %3.0f%%: loss %.4f, %.0f %s/s, "
                    "ETA %.0f s",
                    p->stage, p->epoch, p->epochs, 100.0 * p->fraction,
                    p->loss, p->rate, unit, eta);
}

tt_err_t tt_trainjob_train(const struct tt_dataset *ds,
                           const struct tt_split *split,
                           const struct tt_conf *conf,
                           const struct tt_train_opts *o, size_t valid_sample,
                           uint64_t version, struct tt_trainjob_progress *pr,
                           struct tt_trainjob_result *res, char *errstr,
                           size_t errstr_size)
{
    struct tt_eval_opts eo;
    struct tt_stage1 s1;
    tt_eval_t *ev = NULL;
    char err[512];
    tt_err_t rc;

    memset(res, 0, sizeof(*res));
    memset(&s1, 0, sizeof(s1));
    res->valid_mrr = -1.0;
    /* validation: streaming MRR on (a fixed sample of) the next slice */
    memset(&eo, 0, sizeof(eo));
    eo.negatives = (uint32_t)conf->eval.negatives;
    eo.seed = conf->eval.seed;
    eo.max_scored = valid_sample;
    eo.threads = o->threads;
    eo.tstar = o->tstar;
    if (split->valid_end > split->train_end &&
        tt_eval_new(&ev, ds, split, split->train_end, split->valid_end, &eo,
                    err, sizeof(err)) != TT_ERR_OK) {
        tt_log_warn(pr->log, pr->what,
                    "no validation (%s): keeping the last epoch", err);
        ev = NULL;
    }
    rc = tt_stage1_train(ds, split, o, tt_trainjob_on_progress, pr, &s1,
                         errstr, errstr_size);
    end_line(pr);
    if (rc)
        goto out;
    res->stage1_seconds = s1.seconds;
    res->stage1_peak_mib = tt_trainjob_peak_mib();
    res->dim = s1.dim;
    tt_log_info(pr->log, pr->what,
                "stage 1: %.2f s, %u epochs, D = %u; peak memory %.0f MiB",
                s1.seconds, o->epochs1, s1.dim, res->stage1_peak_mib);
    rc = tt_stage2_train(ds, split, &s1, o, version,
                         ev ? tt_eval_validate : NULL, ev,
                         tt_trainjob_on_progress, pr, &res->model,
                         &res->stage2_seconds, errstr, errstr_size);
    end_line(pr);
    if (rc)
        goto out;
    res->epochs_run = pr->epochs_run;
    if (ev) {
        res->best_epoch = pr->best_epoch;
        res->valid_mrr = pr->best_mrr;
    }
    tt_log_info(pr->log, pr->what,
                "stage 2: %.2f s, %u epochs run, best epoch %u (validation "
                "MRR %.4f); peak memory %.0f MiB",
                res->stage2_seconds, res->epochs_run, res->best_epoch,
                res->valid_mrr, tt_trainjob_peak_mib());
out:
    tt_stage1_release(&s1);
    tt_eval_destroy(ev);
    return rc;
}

/* The MRR and recall of one model on the gate's handle. */
static tt_err_t score(const tt_eval_t *ev, const tt_model_t *m,
                      const char *name, double *mrr, double *recall,
                      size_t *n, char *errstr, size_t errstr_size)
{
    struct tt_eval_model_scorer ms;
    struct tt_eval_result *res = calloc(1, sizeof(*res));
    tt_err_t err;

    if (!res)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "gate: no memory");
    err = tt_eval_model_init(&ms, ev, m, name);
    if (err) {
        free(res);
        return tt_errf(err, errstr, errstr_size,
                       "gate: cannot score the %s model", name);
    }
    err = tt_eval_run(ev, &ms.sc, res, errstr, errstr_size);
    if (!err) {
        *mrr = res->mrr;
        *recall = res->recall;
        *n = (size_t)res->n;
    }
    tt_eval_model_release(&ms);
    free(res);
    return err;
}

tt_err_t tt_trainjob_gate(const struct tt_dataset *ds,
                          const struct tt_split *split,
                          const struct tt_conf *conf, int threads,
                          const tt_model_t *cand, const tt_model_t *serving,
                          struct tt_trainjob_gate *g, char *errstr,
                          size_t errstr_size)
{
    struct tt_model_info info;
    struct tt_eval_opts eo;
    uint64_t t0 = tt_time_mono_ns();
    tt_eval_t *ev = NULL;
    size_t n_old = 0;
    tt_err_t err;

    memset(g, 0, sizeof(*g));
    g->old_mrr = g->old_recall = -1.0;
    g->max_drop = conf->retrain.max_mrr_drop;
    tt_model_get_info(cand, &info);
    memset(&eo, 0, sizeof(eo));
    eo.negatives = (uint32_t)conf->eval.negatives;
    eo.seed = conf->eval.seed;
    eo.max_scored = (size_t)conf->retrain.gate_sample;
    eo.threads = threads;
    eo.tstar = info.tstar;
    if (split->valid_end >= ds->n)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "gate: the newest slice is empty (%zu events, "
                       "eval.train_frac + eval.valid_frac leave none)",
                       ds->n);
    err = tt_eval_new(&ev, ds, split, split->valid_end, ds->n, &eo, errstr,
                      errstr_size);
    if (err)
        return err;
    err = score(ev, cand, "new", &g->new_mrr, &g->new_recall, &g->scored,
                errstr, errstr_size);
    if (!err && serving)
        err = score(ev, serving, "serving", &g->old_mrr, &g->old_recall,
                    &n_old, errstr, errstr_size);
    tt_eval_destroy(ev);
    if (err)
        return err;
    if (serving && g->old_mrr > 0)
        g->drop = (g->old_mrr - g->new_mrr) / g->old_mrr;
    g->pass = g->drop <= g->max_drop;
    g->seconds = tt_time_secs(t0, tt_time_mono_ns());
    return TT_ERR_OK;
}
