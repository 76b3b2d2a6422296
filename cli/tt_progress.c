#include "cli/tt_progress.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 24
#define TTY_INTERVAL_NS 100000000ull

void tt_progress_init(struct tt_progress *pr, FILE *out, const char *name,
                      bool tty, uint64_t total, double interval_s,
                      uint64_t now_ns)
{
    memset(pr, 0, sizeof(*pr));
    pr->out = out;
    pr->name = name;
    pr->tty = tty;
    pr->total = total;
    pr->start_ns = pr->last_ns = now_ns;
    pr->interval_ns = tty ? TTY_INTERVAL_NS
                          : (uint64_t)(interval_s > 0 ? interval_s * 1e9
                                                      : 5e9);
}

/* 1234567 -> "1,234,567" */
static const char *group(uint64_t v, char *buf, size_t size)
{
    char d[32];
    size_t n = (size_t)snprintf(d, sizeof(d), "%llu", (unsigned long long)v);
    size_t o = 0;

    for (size_t i = 0; i < n && o + 2 < size; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = d[i];
    }
    buf[o] = '\0';
    return buf;
}

static void when(int64_t ts, char *buf, size_t size)
{
    time_t t = (time_t)(ts / 1000);
    struct tm tm;

    buf[0] = '\0';
    if (ts >= 0 && gmtime_r(&t, &tm))
        strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

void tt_progress_update(struct tt_progress *pr, uint64_t pos, uint64_t sent,
                        uint64_t skipped, int64_t ts, uint64_t now_ns,
                        bool force)
{
    double secs, frac = -1, rate;
    char a[32], b[32], t[40], eta[32] = "";

    if (!pr->out || (!force && now_ns - pr->last_ns < pr->interval_ns))
        return;
    pr->last_ns = now_ns;
    secs = (double)(now_ns - pr->start_ns) / 1e9;
    rate = secs > 0 ? (double)sent / secs : 0;
    if (pr->total) {
        frac = (double)pos / (double)pr->total;
        if (frac > 1)
            frac = 1;
        if (frac > 0 && frac < 1) {
            double left = secs * (1 - frac) / frac;

            snprintf(eta, sizeof(eta), "  ETA %d:%02d",
                     (int)(left / 60), (int)left % 60);
        }
    }
    when(ts, t, sizeof(t));
    if (pr->tty) {
        char bar[BAR_WIDTH + 1];
        int fill = frac < 0 ? 0 : (int)(frac * BAR_WIDTH + 0.5);

        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        if (frac >= 0)
            fprintf(pr->out, "\r[%s] %5.1f%%", bar, 100 * frac);
        else
            fputs("\r", pr->out);
        fprintf(pr->out, "  %s sent  %.0f ev/s%s%s%s", group(sent, a, 32),
                rate, eta, t[0] ? "  at " : "", t);
        if (skipped)
            fprintf(pr->out, "  (%s skipped)", group(skipped, b, 32));
        fputs("\033[K", pr->out);
        pr->drawn = true;
    } else {
        fprintf(pr->out, "%s: %s sent", pr->name, group(sent, a, 32));
        if (skipped)
            fprintf(pr->out, ", %s skipped (already in the topic)",
                    group(skipped, b, 32));
        if (frac >= 0)
            fprintf(pr->out, ", %.1f%% of the input", 100 * frac);
        fprintf(pr->out, ", %.0f events/s%s%s", rate, t[0] ? ", at " : "",
                t);
        fputc('\n', pr->out);
    }
    fflush(pr->out);
}

void tt_progress_end(struct tt_progress *pr)
{
    if (pr->out && pr->tty && pr->drawn) {
        fputc('\n', pr->out);
        fflush(pr->out);
    }
    pr->drawn = false;
}

uint64_t tt_progress_count_lines(const char *path)
{
    char buf[1 << 16];
    uint64_t lines = 0;
    struct stat st;
    ssize_t n;
    char last = '\n';
    int fd;

    if (!strcmp(path, "-") || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p)));
             p++)
            lines++;
        last = buf[n - 1];
    }
    close(fd);
    if (n < 0)
        return 0;
    return lines + (last != '\n');
}
