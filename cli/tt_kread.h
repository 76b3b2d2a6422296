/*
 * tt_kread: reads given offset ranges of one topic, all partitions, with an
 * assign-only consumer: no group membership (a throwaway group.id that
 * never joins and never commits), isolation.level=read_committed, so that
 * aborted and open transactions are never returned and the end offsets are
 * the last stable offsets.  For `twotime dump` and `twotime produce
 * --resume`.
 *
 * A partition's range is [start, end).  It is done when a record at or
 * past end-1 was returned, when the consumer reports the partition's end
 * at or past `end`, or when its position is (control records, such as
 * transaction markers, take offsets and are never returned, so the last
 * record of a range may sit below end-1).  Records outside the range are
 * dropped.  Partitions can be paused (flow control): librdkafka then drops
 * what it prefetched for them and refetches from the next offset on resume.
 *
 * Threading: one thread per tt_kread_t.
 */
#ifndef TT_KREAD_H
#define TT_KREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "common/tt_err.h"
#include "conf/tt_conf.h"

typedef struct tt_kread_s tt_kread_t;

/* A consumer over kc for `topic`, which has `partitions` partitions. */
tt_err_t tt_kread_new(tt_kread_t **out, const struct tt_conf_kafka *kc,
                      const char *topic, int partitions, char *errstr,
                      size_t errstr_size);

/* Frees the consumer; NULL is a no-op. */
void tt_kread_destroy(tt_kread_t *r);

/* The partition count given at creation. */
int tt_kread_partitions(const tt_kread_t *r);

/* Per partition p: lo[p], the first offset still in the log, and hi[p],
 * the last stable offset (the end a read_committed reader sees). */
tt_err_t tt_kread_watermarks(tt_kread_t *r, int64_t *lo, int64_t *hi,
                             int timeout_ms, char *errstr,
                             size_t errstr_size);

/* Per partition: the first offset whose record timestamp is >= ts_ms, or
 * -1 when there is none (the time index, as Kafka's tools use it). */
tt_err_t tt_kread_offsets_for_time(tt_kread_t *r, int64_t ts_ms,
                                   int64_t *offsets, int timeout_ms,
                                   char *errstr, size_t errstr_size);

/* Starts reading [start[p], end[p]) of every partition with start < end;
 * the others are done at once.  Call once. */
tt_err_t tt_kread_assign(tt_kread_t *r, const int64_t *start,
                         const int64_t *end, char *errstr,
                         size_t errstr_size);

/*
 * Waits up to timeout_ms for the next record in range: *msg is set (the
 * caller destroys it with rd_kafka_message_destroy()) or NULL when none
 * came in time.  TT_ERR_KAFKA for errors a reader cannot go past (unknown
 * topic, offset out of range, fatal, authorization).
 */
tt_err_t tt_kread_poll(tt_kread_t *r, rd_kafka_message_t **msg,
                       int timeout_ms, char *errstr, size_t errstr_size);

/* Whether partition p is done / every partition is. */
bool tt_kread_done(const tt_kread_t *r, int p);
bool tt_kread_all_done(const tt_kread_t *r);

/* How many partitions are done; it only grows, so a caller that keeps
 * per-partition state rescans only when it changed. */
int tt_kread_done_count(const tt_kread_t *r);

/* Pauses / resumes fetching partition p (no-op when already so; a done
 * partition is never resumed). */
tt_err_t tt_kread_pause(tt_kread_t *r, int p, bool pause, char *errstr,
                        size_t errstr_size);

/* Transient consumer errors seen and skipped (broker connection...). */
uint64_t tt_kread_transient_errors(const tt_kread_t *r);

#endif
