/*
 * tt_reader: streams interaction events out of text logs, one line at a
 * time (never the whole file in memory; a line may be at most
 * TT_READER_LINE_MAX bytes).
 *
 * Formats (enum tt_format):
 *   csv    delimited text with a header line naming at least a user, an item
 *          and a time column, in any order; other columns are ignored.  The
 *          delimiter is a tab if the header line contains one, else a comma.
 *          Fields may be double-quoted ("a,b", "" for a quote).  Column names
 *          (case-insensitive):
 *            user:     user_id, userid, user
 *            item:     item_id, itemid, item, movie_id, movieid
 *            time:     timestamp_ms, ts_ms, time_ms      -> milliseconds
 *                      timestamp_s, ts_s, time_s,
 *                      timestamp_sec, timestamp_seconds   -> seconds
 *                      timestamp, ts, time                -> milliseconds
 *                                                            (see ts_unit)
 *            category: category, category_id (optional; an empty field means
 *                      no category)
 *          The unit is decided by the header name, never by the magnitude of
 *          the values: a bare `timestamp` is milliseconds (what `twotime gen`
 *          writes) unless the caller sets ts_unit.
 *   udata  MovieLens-100K u.data: user \t item \t rating \t unix-seconds, no
 *          header.
 *   dat    MovieLens-1M/10M ratings.dat: user::item::rating::unix-seconds.
 *   mlcsv  MovieLens-20M/25M ratings.csv: header userId,movieId,rating,
 *          timestamp (seconds); read as csv with seconds as the default unit.
 *   auto   decided from the first non-blank line: "::" -> dat; four numeric
 *          tab-separated fields -> udata; a header with userId and movieId ->
 *          mlcsv; any other header naming the required columns -> csv.
 * The MovieLens rating is ignored: every rating counts as an interaction.
 * Seconds become milliseconds (fractional seconds are kept to the ms).
 *
 * Malformed lines (wrong field count, non-numeric or negative ids, integer
 * overflow, timestamps outside tt_event_valid(), NUL bytes, over-long lines)
 * are an error "FILE:LINE: reason", or, with skip_bad, skipped and counted
 * (tt_reader_skipped()).  Blank lines (empty or whitespace only, anywhere)
 * carry no event and are ignored; they are counted separately
 * (tt_reader_blank()).  A UTF-8 BOM and CRLF line ends are accepted.
 *
 * A reader is used by one thread at a time.
 */
#ifndef TT_READER_H
#define TT_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/tt_err.h"
#include "common/tt_event.h"

struct tt_dataset;

/* The longest accepted line, in bytes, without its line end. */
#define TT_READER_LINE_MAX (64u * 1024u)

typedef struct tt_reader_s tt_reader_t;

enum tt_format {
    TT_FORMAT_AUTO,
    TT_FORMAT_CSV,
    TT_FORMAT_UDATA,
    TT_FORMAT_ML_DAT,
    TT_FORMAT_ML_CSV,
};

/* Unit of a csv time column: AUTO = decided by the header name (above);
 * MS / S override the name (e.g. a `timestamp` column in seconds). */
enum tt_ts_unit {
    TT_TS_UNIT_AUTO,
    TT_TS_UNIT_MS,
    TT_TS_UNIT_S,
};

/* Parses "auto", "csv", "udata", "dat", "mlcsv".  TT_ERR_INVAL otherwise. */
tt_err_t tt_format_parse(const char *name, enum tt_format *out);

/* The name tt_format_parse() accepts for `fmt`; never NULL. */
const char *tt_format_name(enum tt_format fmt);

/* Parses "auto", "ms", "s".  TT_ERR_INVAL otherwise. */
tt_err_t tt_ts_unit_parse(const char *name, enum tt_ts_unit *out);

/* Everything a reader can be told.  Initialise with tt_reader_opts_init(). */
struct tt_reader_opts {
    enum tt_format format;   /* default TT_FORMAT_AUTO */
    bool skip_bad;           /* default false */
    enum tt_ts_unit ts_unit; /* default TT_TS_UNIT_AUTO; csv/mlcsv only */
};

void tt_reader_opts_init(struct tt_reader_opts *opts);

/*
 * Opens `path` ("-" = stdin) and reads up to the first event line (the
 * header, for formats with one).  On success *out owns the reader (close
 * with tt_reader_close()).  TT_ERR_IO if the file cannot be opened or read,
 * TT_ERR_PARSE if the header is unusable or AUTO cannot tell the format
 * ("FILE:LINE: reason" in errstr).  An empty input is not an error: the
 * first tt_reader_next() returns TT_ERR_NOTFOUND.
 */
tt_err_t tt_reader_open(tt_reader_t **out, const char *path,
                        enum tt_format fmt, bool skip_bad, char *errstr,
                        size_t errstr_size);

/* tt_reader_open() with all options. */
tt_err_t tt_reader_open_opts(tt_reader_t **out, const char *path,
                             const struct tt_reader_opts *opts, char *errstr,
                             size_t errstr_size);

/* Reads from an open stream (borrowed: tt_reader_close() does not close it;
 * e.g. fmemopen() memory).  `name` is used in messages.  As
 * tt_reader_open_opts() otherwise. */
tt_err_t tt_reader_open_stream(tt_reader_t **out, FILE *f, const char *name,
                               const struct tt_reader_opts *opts,
                               char *errstr, size_t errstr_size);

/*
 * The next event.  TT_ERR_OK and *ev filled; TT_ERR_NOTFOUND at the end of
 * the input; TT_ERR_PARSE "FILE:LINE: reason" for a malformed line unless
 * skip_bad (then the line is counted and skipped); TT_ERR_IO on a read
 * error.  After TT_ERR_PARSE the reader may be called again: it continues
 * with the next line.
 */
tt_err_t tt_reader_next(tt_reader_t *r, struct tt_event *ev, char *errstr,
                        size_t errstr_size);

/* Malformed lines skipped so far (skip_bad). */
uint64_t tt_reader_skipped(const tt_reader_t *r);

/* Blank lines ignored so far. */
uint64_t tt_reader_blank(const tt_reader_t *r);

/* The 1-based number of the line read last (0 before any). */
uint64_t tt_reader_line(const tt_reader_t *r);

/* The format in use (AUTO resolved once the first line was seen; AUTO for
 * an empty input). */
enum tt_format tt_reader_format(const tt_reader_t *r);

/* Closes the file (unless borrowed) and frees the reader; NULL is a no-op. */
void tt_reader_close(tt_reader_t *r);

/*
 * Reads a whole log into `ds` (initialised with tt_dataset_init(), still
 * unfinished): opens `path`, adds every event, and finishes the dataset.
 * *skipped (may be NULL) receives the number of skipped lines.  Errors as
 * tt_reader_open() / tt_reader_next(), plus TT_ERR_NOMEM; on error `ds` is
 * left for tt_dataset_release().
 */
tt_err_t tt_dataset_read(struct tt_dataset *ds, const char *path,
                         enum tt_format fmt, bool skip_bad, uint64_t *skipped,
                         char *errstr, size_t errstr_size);

/* tt_dataset_read() with all reader options. */
tt_err_t tt_dataset_read_opts(struct tt_dataset *ds, const char *path,
                              const struct tt_reader_opts *opts,
                              uint64_t *skipped, char *errstr,
                              size_t errstr_size);

#endif
