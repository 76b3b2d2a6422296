/*
 * tt_log: one line per event of interest, to a stream (stderr by default).
 *
 * Only the loops that own work (the stream processor, the trainer, main) log;
 * library functions report through tt_err_t and errstr instead.  A logger is
 * created once by main and borrowed by the long-lived objects it hands it to.
 * A NULL logger discards everything, which keeps tests quiet.
 *
 * Thread-safe: each call formats into a local buffer and writes it with one
 * fputs(), which POSIX stdio makes atomic per call.
 */
#ifndef TT_LOG_H
#define TT_LOG_H

#include <stdio.h>

enum tt_log_level {
    TT_LOG_ERROR = 0,
    TT_LOG_WARN = 1,
    TT_LOG_INFO = 2,
    TT_LOG_DEBUG = 3,
};

typedef struct tt_log_s tt_log_t;

/* A logger writing to `out` (borrowed, must outlive it) at `level` and below.
 * Returns NULL on allocation failure. */
tt_log_t *tt_log_new(FILE *out, enum tt_log_level level);

/* Frees the logger; NULL is a no-op.  Does not close the stream. */
void tt_log_destroy(tt_log_t *log);

/* Parses "error", "warn", "info" or "debug"; returns 0, or -1 if unknown. */
int tt_log_level_parse(const char *name, enum tt_log_level *level);

/* True when a message at `level` would be written. */
int tt_log_enabled(const tt_log_t *log, enum tt_log_level level);

/* Writes "<UTC time> <level> <component>: <message>\n". */
void tt_log_write(tt_log_t *log, enum tt_log_level level,
                  const char *component, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define tt_log_error(log, comp, ...) tt_log_write(log, TT_LOG_ERROR, comp, __VA_ARGS__)
#define tt_log_warn(log, comp, ...) tt_log_write(log, TT_LOG_WARN, comp, __VA_ARGS__)
#define tt_log_info(log, comp, ...) tt_log_write(log, TT_LOG_INFO, comp, __VA_ARGS__)
#define tt_log_debug(log, comp, ...) tt_log_write(log, TT_LOG_DEBUG, comp, __VA_ARGS__)

#endif
