/*
 * tt_container: Avro object container files of Interaction records, for
 * `twotime dump` and as an input log format any Avro tool can read or write.
 *
 * Files are written with Avro C's file writer (codec "null") and read with its
 * file reader, but never handed to it unchecked: Avro C 1.11 trusts the block
 * counts and sizes in a file (a negative count loops, a huge size allocates).
 * So the reader first walks the whole file's framing itself (magic, metadata,
 * every block's count, size and sync marker, by seeking: it does not read
 * the data twice) and refuses anything malformed, a codec other than "null",
 * and a writer schema whose Parsing Canonical Form is not Interaction's.  It
 * then lets Avro C read exactly the records it counted, never a byte beyond.
 * Each record is range-checked like a Kafka event (tt_event_valid).
 *
 * Not checked: bytes left over inside a block after its records (Avro C skips
 * them), and a file modified while it is read (only the blocks present at
 * open are read).  Avro C 1.11 drops the logicalType attribute when it writes
 * the schema into a file header, so other readers see event_time as a plain
 * long there.
 *
 * Threading: a reader or writer is used by one thread at a time.
 */
#ifndef TT_CONTAINER_H
#define TT_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "common/tt_event.h"

/* Limits of the reader's checks. */
#define TT_CONTAINER_MAX_BLOCK (64 * 1024 * 1024) /* bytes of one block */
#define TT_CONTAINER_MAX_META 64                  /* metadata entries */
#define TT_CONTAINER_MAX_META_VALUE (1024 * 1024) /* bytes of one value */

typedef struct tt_container_writer_s tt_container_writer_t;
typedef struct tt_container_reader_s tt_container_reader_t;

/* Creates (or truncates) the container file `path` for Interaction records.
 * The caller owns *w. */
tt_err_t tt_container_writer_new(tt_container_writer_t **w, const char *path,
                                 char *errstr, size_t errstr_size);

/* Appends one event; TT_ERR_RANGE (with the reason) for an invalid one,
 * TT_ERR_IO when writing fails. */
tt_err_t tt_container_writer_append(tt_container_writer_t *w,
                                    const struct tt_event *ev, char *errstr,
                                    size_t errstr_size);

/* Writes the last block and closes the file, reporting write errors (a full
 * disk shows here).  Call once; destroy the writer afterwards either way. */
tt_err_t tt_container_writer_finish(tt_container_writer_t *w, char *errstr,
                                    size_t errstr_size);

/* Frees the writer (closing the file without reporting errors if finish was
 * not called); NULL is a no-op. */
void tt_container_writer_destroy(tt_container_writer_t *w);

/* Opens and checks the container file `path` (see above).  TT_ERR_IO when it
 * cannot be read, TT_ERR_PARSE when malformed, TT_ERR_VERSION for another
 * schema, TT_ERR_UNSUPPORTED for a compression codec.  The caller owns *r. */
tt_err_t tt_container_reader_new(tt_container_reader_t **r, const char *path,
                                 char *errstr, size_t errstr_size);

/* The number of records the file holds. */
uint64_t tt_container_reader_count(const tt_container_reader_t *r);

/* Reads the next event into *ev, or sets *end at the end of the file.
 * TT_ERR_PARSE for a malformed record, TT_ERR_RANGE for an invalid event
 * (the reader can go on to the next one). */
tt_err_t tt_container_reader_next(tt_container_reader_t *r,
                                  struct tt_event *ev, bool *end,
                                  char *errstr, size_t errstr_size);

/* Closes the file and frees the reader; NULL is a no-op. */
void tt_container_reader_destroy(tt_container_reader_t *r);

#endif
