#include "common/tt_log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tt_log_s {
    FILE *out;
    enum tt_log_level level;
};

static const char *const level_names[] = {"error", "warn", "info", "debug"};

tt_log_t *tt_log_new(FILE *out, enum tt_log_level level)
{
    tt_log_t *log = calloc(1, sizeof(*log));

    if (!log)
        return NULL;
    log->out = out;
    log->level = level;
    return log;
}

void tt_log_destroy(tt_log_t *log)
{
    free(log);
}

int tt_log_level_parse(const char *name, enum tt_log_level *level)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *level = (enum tt_log_level)i;
            return 0;
        }
    }
    return -1;
}

int tt_log_enabled(const tt_log_t *log, enum tt_log_level level)
{
    return log && level <= log->level;
}

void tt_log_write(tt_log_t *log, enum tt_log_level level,
                  const char *component, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    va_list ap;

    if (!tt_log_enabled(log, level))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %-5s %s: ",
                          ts.tv_nsec / 1000000L, level_names[level],
                          component);
    if (n < sizeof(line) - 2) {
        va_start(ap, fmt);
        vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
        va_end(ap);
    }
    /* A truncated message still ends its line. */
    n = strlen(line);
    line[n] = '\n';
    line[n + 1] = '\0';
    fputs(line, log->out);
    fflush(log->out);
}
