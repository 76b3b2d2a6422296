/*
 * tt_report: `twotime report`: turns the JSON that `twotime backtest --json`
 * writes (layout "format": 1, see model/tt_eval_bt.c) into a directory with
 * a self-contained index.html (inline CSS, figures embedded as data: URIs,
 * nothing fetched from elsewhere) and the figures as PNG files:
 *
 *   fig_training.png   validation MRR against training time per model
 *                      (the paper's fig. 2, from each valid_curve)
 *   fig_activity.png   test MRR by the user's number of training
 *                      interactions, one line per model, t* marked (fig. 3)
 *   fig_change.png     mean embedding change per new interaction by step,
 *                      active vs inactive users, one panel per model (fig. 4)
 *
 * plus the tables: models (MRR, Recall@10, by group, times), dataset and
 * split, the share of test interactions from new users, tuning.
 *
 * Figures are drawn by gnuplot (Debian gnuplot-nox), run as a child process
 * in the output directory on the generated report.gp and fig_*.dat files,
 * which are kept so that a figure can be restyled and redrawn by hand
 * (`cd DIR && gnuplot report.gp`).  Decision: when gnuplot is not
 * installed the report fails before writing anything, with a message that
 * says so, unless figures are turned off (tables only); there is no
 * built-in plotter to fall back on.
 *
 * The input is untrusted: it is read with tt_jdoc (strict, bounded), every
 * field the report uses is checked for presence, type and range, and an
 * error names the field's path and byte offset ("models[2].buckets[1].mrr:
 * expected a number, found a string at byte 1234").
 *
 * Threading: no shared state; one report at a time per output directory.
 * The child process is started with fork/exec, so call this from a
 * single-threaded program (the CLI) or accept fork's usual caveats.
 */
#ifndef TT_REPORT_H
#define TT_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/tt_err.h"

/* Largest JSON input accepted (a backtest report is ~50-100 KB). */
#define TT_REPORT_JSON_MAX ((size_t)16 << 20)

struct tt_report_opts {
    bool figures;       /* draw figures with gnuplot (default true) */
    const char *gnuplot; /* program to run; NULL: "gnuplot" on PATH */
    int timeout_ms;     /* longest gnuplot may run; default 60000 */
    const char *title;  /* page title; NULL: derived from the input */
};

/* What was written. */
struct tt_report_info {
    unsigned models;    /* models in the report */
    unsigned figures;   /* PNG files written and embedded */
    size_t html_bytes;  /* size of index.html */
};

/* Defaults: figures on, "gnuplot" from PATH, 60 s. */
void tt_report_opts_init(struct tt_report_opts *o);

/*
 * Reads the backtest JSON at `json_path`, checks it, and writes the report
 * into `out_dir` (created if missing, one level; existing files of the same
 * names are replaced).  `info` may be NULL.  Errors: TT_ERR_IO (files),
 * TT_ERR_PARSE / TT_ERR_RANGE (malformed JSON, a missing field, a wrong
 * type or value; the message names the field), TT_ERR_VERSION (another
 * "format"), TT_ERR_NOTFOUND (gnuplot not installed, with figures on),
 * TT_ERR_TIMEOUT / TT_ERR_IO (gnuplot failed; its messages are in
 * DIR/gnuplot.log and the first lines in errstr).
 */
tt_err_t tt_report_write(const char *json_path, const char *out_dir,
                         const struct tt_report_opts *o,
                         struct tt_report_info *info, char *errstr,
                         size_t errstr_size);

#endif
