/*
 * tt_progress: the progress display of long CLI runs (`twotime produce`).
 * On a terminal, one bar redrawn in place at most ten times a second:
 *
 *   [##########..........]  51.3%  102,400 sent  1,000 ev/s  ETA 1:37
 *   at 2020-01-03 12:00 UTC
 *
 * (on one line); elsewhere (a log file, a pipe), one plain line every
 * `interval` seconds, so logs stay readable.  The fraction is the input
 * position over its total (lines of a text log, records of an Avro file);
 * without a total (stdin) only counts and rates are shown.
 *
 * Plain data, one thread.  Writes only to the FILE it is given.
 */
#ifndef TT_PROGRESS_H
#define TT_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct tt_progress {
    FILE *out;          /* borrowed; NULL: display nothing */
    const char *name;   /* prefix of plain lines ("twotime produce") */
    bool tty;
    uint64_t total;     /* input units (lines, records); 0: unknown */
    uint64_t start_ns, last_ns, interval_ns;
    bool drawn;         /* a bar is on the screen */
};

/* Starts a display on `out` (NULL: none); `tty` picks the bar;
 * `interval_s` is the period of plain lines. */
void tt_progress_init(struct tt_progress *pr, FILE *out, const char *name,
                      bool tty, uint64_t total, double interval_s,
                      uint64_t now_ns);

/* Shows the state if it is time to (or `force`): `pos` input units
 * read, `sent` events sent, `skipped` events skipped (resume), `ts` the
 * event time of the last event sent (ms; < 0: none). */
void tt_progress_update(struct tt_progress *pr, uint64_t pos, uint64_t sent,
                        uint64_t skipped, int64_t ts, uint64_t now_ns,
                        bool force);

/* Ends the display: the bar's line is finished with a newline. */
void tt_progress_end(struct tt_progress *pr);

/* The number of lines in the regular file `path` (a last line without a
 * newline counts), or 0 when it cannot be counted (stdin, a pipe). */
uint64_t tt_progress_count_lines(const char *path);

#endif
