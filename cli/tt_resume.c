#include "cli/tt_resume.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/tt_kread.h"
#include "cli/tt_source.h"
#include "common/tt_time.h"
#include "producers/tt_ukey.h"
#include "schemas/tt_codec.h"

#define QUERY_TIMEOUT_MS 30000
#define SETTLE_MS 1000
#define SETTLE_MAX_MS 30000
#define FETCH_TIMEOUT_S 30
#define POLL_MS 200

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* End offsets that stayed the same over SETTLE_MS. */
static tt_err_t settled_ends(tt_kread_t *r, int64_t *lo, int64_t *hi,
                             char *errstr, size_t errstr_size)
{
    int parts = tt_kread_partitions(r);
    int64_t *lo2 = calloc((size_t)parts, sizeof(*lo2));
    int64_t *hi2 = calloc((size_t)parts, sizeof(*hi2));
    uint64_t t0 = tt_time_mono_ns();
    tt_err_t err;

    if (!lo2 || !hi2) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    err = tt_kread_watermarks(r, lo, hi, QUERY_TIMEOUT_MS, errstr,
                              errstr_size);
    while (!err) {
        nap_ms(SETTLE_MS);
        err = tt_kread_watermarks(r, lo2, hi2, QUERY_TIMEOUT_MS, errstr,
                                  errstr_size);
        if (err || !memcmp(hi, hi2, (size_t)parts * sizeof(*hi)))
            break;
        memcpy(lo, lo2, (size_t)parts * sizeof(*lo));
        memcpy(hi, hi2, (size_t)parts * sizeof(*hi));
        if (tt_time_secs(t0, tt_time_mono_ns()) * 1000 > SETTLE_MAX_MS)
            err = tt_errf(TT_ERR_STATE, errstr, errstr_size,
                          "the topic is still being written to after %d s: "
                          "is another producer running?",
                          SETTLE_MAX_MS / 1000);
    }
out:
    free(lo2);
    free(hi2);
    return err;
}

/* Reads the input once: the n-th event of each partition into expect[]. */
static tt_err_t scan_input(const struct tt_resume *rs, const int64_t *hi,
                           const char *input,
                           const struct tt_reader_opts *ropts,
                           struct tt_event *expect, char *errstr,
                           size_t errstr_size)
{
    uint64_t *count = calloc((size_t)rs->partitions, sizeof(*count));
    struct tt_event ev;
    tt_source_t *src = NULL;
    tt_err_t err;

    if (!count)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    err = tt_source_open(&src, input, ropts, errstr, errstr_size);
    while (!err &&
           (err = tt_source_next(src, &ev, errstr, errstr_size)) ==
               TT_ERR_OK) {
        int32_t p = tt_ukey_user_partition(ev.user_id, rs->partitions);

        if (++count[p] == (uint64_t)hi[p])
            expect[p] = ev;
    }
    if (err == TT_ERR_NOTFOUND)
        err = TT_ERR_OK;
    for (int p = 0; p < rs->partitions && !err; p++)
        if (count[p] < (uint64_t)hi[p])
            err = tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                          "partition %d holds %" PRId64 " records but %s "
                          "has only %" PRIu64 " events for it: the topic "
                          "does not hold a prefix of this input (another "
                          "input, or a run without --resume before?)",
                          p, hi[p], input, count[p]);
    tt_source_close(src);
    free(count);
    return err;
}

static bool same_event(const struct tt_event *a, const struct tt_event *b)
{
    return a->user_id == b->user_id && a->item_id == b->item_id &&
           a->ts_ms == b->ts_ms && a->category == b->category;
}

/* Checks the record at hi-1 of every partition against expect[]. */
static tt_err_t check_last(struct tt_resume *rs, tt_kread_t *r,
                           const int64_t *lo, const int64_t *hi,
                           const struct tt_event *expect, char *errstr,
                           size_t errstr_size)
{
    int64_t *start = calloc((size_t)rs->partitions, sizeof(*start));
    uint64_t t0 = tt_time_mono_ns();
    rd_kafka_message_t *m;
    tt_codec_t *codec = NULL;
    struct tt_event ev;
    char why[256];
    tt_err_t err;

    if (!start)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    for (int p = 0; p < rs->partitions; p++) {
        bool gone = hi[p] > 0 && lo[p] > hi[p] - 1;

        rs->unchecked += gone;
        start[p] = hi[p] > 0 && !gone ? hi[p] - 1 : hi[p];
    }
    err = tt_codec_new(&codec, errstr, errstr_size);
    if (!err)
        err = tt_kread_assign(r, start, hi, errstr, errstr_size);
    while (!err && !tt_kread_all_done(r)) {
        if (tt_time_secs(t0, tt_time_mono_ns()) > FETCH_TIMEOUT_S) {
            err = tt_errf(TT_ERR_TIMEOUT, errstr, errstr_size,
                          "could not read the last records within %d s",
                          FETCH_TIMEOUT_S);
            break;
        }
        err = tt_kread_poll(r, &m, POLL_MS, errstr, errstr_size);
        if (err || !m)
            continue;
        if (tt_codec_decode_event(codec, m->payload, m->len, &ev, why,
                                  sizeof(why)))
            err = tt_errf(TT_ERR_CORRUPT, errstr, errstr_size,
                          "partition %d offset %" PRId64 " is not an "
                          "interaction event (%s): refusing to resume",
                          (int)m->partition, m->offset, why);
        else if (!same_event(&ev, &expect[m->partition]))
            err = tt_errf(
                TT_ERR_CORRUPT, errstr, errstr_size,
                "partition %d offset %" PRId64 " holds user %" PRId64
                " item %" PRId64 " time %" PRId64 ", but event %" PRId64
                " of the input for this partition is user %" PRId64
                " item %" PRId64 " time %" PRId64
                ": the topic does not hold a prefix of this input",
                (int)m->partition, m->offset, ev.user_id, ev.item_id,
                ev.ts_ms, m->offset + 1, expect[m->partition].user_id,
                expect[m->partition].item_id, expect[m->partition].ts_ms);
        rd_kafka_message_destroy(m);
    }
    tt_codec_destroy(codec);
    free(start);
    return err;
}

tt_err_t tt_resume_plan(struct tt_resume *rs, const struct tt_conf_kafka *kc,
                        const char *topic, int partitions, const char *input,
                        const struct tt_reader_opts *ropts, char *errstr,
                        size_t errstr_size)
{
    int64_t *lo = NULL, *hi = NULL;
    struct tt_event *expect = NULL;
    tt_kread_t *r = NULL;
    tt_err_t err;

    memset(rs, 0, sizeof(*rs));
    if (!strcmp(input, "-"))
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "--resume reads the input twice: it needs a file, "
                       "not stdin");
    rs->partitions = partitions;
    rs->in_topic = calloc((size_t)partitions, sizeof(*rs->in_topic));
    rs->seen = calloc((size_t)partitions, sizeof(*rs->seen));
    lo = calloc((size_t)partitions, sizeof(*lo));
    hi = calloc((size_t)partitions, sizeof(*hi));
    expect = calloc((size_t)partitions, sizeof(*expect));
    if (!rs->in_topic || !rs->seen || !lo || !hi || !expect) {
        err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    err = tt_kread_new(&r, kc, topic, partitions, errstr, errstr_size);
    if (!err)
        err = settled_ends(r, lo, hi, errstr, errstr_size);
    if (err)
        goto out;
    for (int p = 0; p < partitions; p++)
        rs->total += (uint64_t)hi[p];
    if (rs->total == 0)
        goto out;
    err = scan_input(rs, hi, input, ropts, expect, errstr, errstr_size);
    if (!err)
        err = check_last(rs, r, lo, hi, expect, errstr, errstr_size);
    if (err)
        goto out;
    for (int p = 0; p < partitions; p++)
        rs->in_topic[p] = (uint64_t)hi[p];
out:
    if (err)
        rs->total = 0;
    tt_kread_destroy(r);
    free(lo);
    free(hi);
    free(expect);
    if (err)
        tt_resume_release(rs);
    return err;
}

void tt_resume_release(struct tt_resume *rs)
{
    free(rs->in_topic);
    free(rs->seen);
    memset(rs, 0, sizeof(*rs));
}

bool tt_resume_skip(struct tt_resume *rs, const struct tt_event *ev)
{
    int32_t p;

    if (!rs->total)
        return false;
    p = tt_ukey_user_partition(ev->user_id, rs->partitions);
    if (rs->seen[p] >= rs->in_topic[p])
        return false;
    rs->seen[p]++;
    return true;
}
