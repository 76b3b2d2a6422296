/*
 * tt_resume: what `twotime produce --resume` must not send again.
 *
 * Decision: the topic itself is the progress record; no state file.  The
 * event producer is idempotent and keys each event by user, so each
 * partition holds, in order, a prefix of the input's events for that
 * partition (the broker refuses a batch whose predecessor is missing), even
 * when the previous run was killed with batches in flight.  So for each
 * partition p with end offset n_p, the first n_p input events that map to
 * p (the same murmur2 partitioner, producers/tt_ukey.h) are already there
 * and are skipped; everything else is sent.  A global count would not do:
 * partitions advance independently, so what is in the topic is not a
 * prefix of the input.
 *
 * Checked before anything is sent: the end offsets are read until they
 * stay the same for a second (requests of a killed producer that reached
 * the broker late land first); the input is read once to find each
 * partition's n_p-th event, and the record at offset n_p - 1 must be that
 * event (user, item, time, category), so a topic that holds another input,
 * or records from elsewhere, is refused instead of "resumed".  Assumed:
 * the topic was empty when the first run started, only `twotime produce`
 * of this input wrote to it (no transactions: one offset per record), and
 * its partition count did not change.  Records deleted by retention are
 * still counted (offsets keep counting); the check then needs the last
 * record to be there.
 *
 * Plain data, one thread.
 */
#ifndef TT_RESUME_H
#define TT_RESUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"
#include "common/tt_event.h"
#include "conf/tt_conf.h"
#include "model/tt_reader.h"

struct tt_resume {
    int partitions;
    uint64_t *in_topic; /* per partition: events already there */
    uint64_t *seen;     /* per partition: input events seen so far */
    uint64_t total;     /* sum of in_topic */
    int unchecked;      /* partitions whose last record was gone */
};

/*
 * Plans a resume of `input` (a file, not stdin) into `topic` with
 * `partitions` partitions: reads the end offsets, the input once, and the
 * last record of each partition (see above).  TT_ERR_CORRUPT when the
 * topic is not a prefix of this input (the message says where), TT_ERR_INVAL
 * for stdin, Kafka and input errors as they come.  Release with
 * tt_resume_release().
 */
tt_err_t tt_resume_plan(struct tt_resume *rs, const struct tt_conf_kafka *kc,
                        const char *topic, int partitions, const char *input,
                        const struct tt_reader_opts *ropts, char *errstr,
                        size_t errstr_size);

void tt_resume_release(struct tt_resume *rs);

/* For the events of the input in file order: true when `ev` is already in
 * the topic (skip it). */
bool tt_resume_skip(struct tt_resume *rs, const struct tt_event *ev);

#endif
