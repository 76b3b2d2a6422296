/*
 * tt_source: where the CLI's commands (train, backtest, produce) read
 * interaction events from.  A path is opened as an Avro object container
 * file of Interaction records (schemas/tt_container.h, what `twotime dump`
 * writes) when it is a regular file starting with the Avro magic "Obj" 01,
 * and as a text log (model/tt_reader.h: csv, MovieLens formats) otherwise;
 * "-" (stdin) is always text, since the container reader needs to seek.
 * model/ knows no Avro, so this choice lives here.
 *
 * Events come in file order.  Avro records that are well-formed but out of
 * range (TT_ERR_RANGE) are skipped and counted with skip_bad like malformed
 * text lines; malformed Avro framing is always an error.  The text reader
 * options (format, time unit) apply to text logs only.
 *
 * A source is used by one thread at a time.
 */
#ifndef TT_SOURCE_H
#define TT_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "common/tt_event.h"
#include "model/tt_reader.h"

struct tt_dataset;

typedef struct tt_source_s tt_source_t;

/* Opens `path` (see above).  Errors as tt_reader_open_opts() and
 * tt_container_reader_new() ("PATH: reason").  The caller owns *out. */
tt_err_t tt_source_open(tt_source_t **out, const char *path,
                        const struct tt_reader_opts *opts, char *errstr,
                        size_t errstr_size);

/* The next event: TT_ERR_OK, TT_ERR_NOTFOUND at the end, or an error
 * "PATH:LINE: reason" (text) / "PATH: record N: reason" (Avro). */
tt_err_t tt_source_next(tt_source_t *s, struct tt_event *ev, char *errstr,
                        size_t errstr_size);

/* Lines (text) or records (Avro) skipped so far with skip_bad. */
uint64_t tt_source_skipped(const tt_source_t *s);

/* The 1-based line (text) or record (Avro) read last; 0 before any. */
uint64_t tt_source_position(const tt_source_t *s);

/* "line" or "record": what tt_source_position() counts. */
const char *tt_source_unit(const tt_source_t *s);

/* The format name: "avro", or tt_format_name() of the text format. */
const char *tt_source_format_name(const tt_source_t *s);

/* True for an Avro container file. */
bool tt_source_is_avro(const tt_source_t *s);

/* The number of events an Avro file holds (0 for text: unknown). */
uint64_t tt_source_count(const tt_source_t *s);

/* Closes the file and frees the source; NULL is a no-op. */
void tt_source_close(tt_source_t *s);

/*
 * tt_dataset_read() over a source: reads every event of `path` into `ds`
 * (initialised, unfinished) and finishes it; *skipped (may be NULL) gets
 * the skipped count.  On error `ds` is left for tt_dataset_release().
 */
tt_err_t tt_source_read_dataset(struct tt_dataset *ds, const char *path,
                                enum tt_format fmt, bool skip_bad,
                                uint64_t *skipped, char *errstr,
                                size_t errstr_size);

#endif
