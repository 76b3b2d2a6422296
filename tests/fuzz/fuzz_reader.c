/*
 * Fuzz harness of the log reader (model/tt_reader.h): any bytes, read as a
 * stream (fmemopen) in AUTO mode strictly, then in every format with
 * skip_bad, must give valid events or errors with a "NAME:LINE: " message,
 * never crash, hang or read out of bounds.  Line numbers never go back, and
 * with skip_bad nothing is lost: every line is an event, a skipped line, a
 * blank line or the header.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/tt_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run(const uint8_t *data, size_t size, enum tt_format fmt,
                bool skip_bad)
{
    struct tt_reader_opts o;
    tt_reader_t *r;
    struct tt_event ev;
    char err[256];
    FILE *f;
    tt_err_t rc;
    uint64_t events = 0, last_line = 0, lines = 0;
    size_t guard = 0;

    /* fmemopen of zero bytes is not portable: an empty input is /dev/null. */
    f = size ? fmemopen((void *)data, size, "r") : fopen("/dev/null", "r");
    if (!f)
        abort();
    tt_reader_opts_init(&o);
    o.format = fmt;
    o.skip_bad = skip_bad;
    err[0] = '\0';
    rc = tt_reader_open_stream(&r, f, "fuzz", &o, err, sizeof(err));
    if (rc != TT_ERR_OK) {
        if (rc != TT_ERR_PARSE || strncmp(err, "fuzz:", 5) != 0)
            abort();
        fclose(f);
        return;
    }
    for (;;) {
        err[0] = '\0';
        rc = tt_reader_next(r, &ev, err, sizeof(err));
        if (tt_reader_line(r) < last_line)
            abort();
        last_line = tt_reader_line(r);
        if (rc == TT_ERR_NOTFOUND)
            break;
        if (rc == TT_ERR_OK) {
            if (!tt_event_valid(&ev))
                abort();
            events++;
        } else if (rc != TT_ERR_PARSE || skip_bad ||
                   strncmp(err, "fuzz:", 5) != 0) {
            abort();
        }
        /* Every call consumes at least one line. */
        if (++guard > size + 2)
            abort();
    }
    /* Lines in the input: newlines, plus an unterminated last line. */
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    lines += size > 0 && data[size - 1] != '\n';
    if (tt_reader_line(r) != lines)
        abort();
    if (skip_bad) {
        bool has_header = tt_reader_format(r) == TT_FORMAT_CSV ||
                          tt_reader_format(r) == TT_FORMAT_ML_CSV;
        uint64_t accounted =
            events + tt_reader_skipped(r) + tt_reader_blank(r);

        /* The one line not accounted for is the header, if any. */
        if (accounted > lines || lines - accounted > (uint64_t)has_header)
            abort();
    }
    tt_reader_close(r);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size, TT_FORMAT_AUTO, false);
    run(data, size, TT_FORMAT_AUTO, true);
    run(data, size, TT_FORMAT_CSV, true);
    run(data, size, TT_FORMAT_UDATA, true);
    run(data, size, TT_FORMAT_ML_DAT, true);
    run(data, size, TT_FORMAT_ML_CSV, true);
    return 0;
}
