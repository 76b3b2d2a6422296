/*
 * tt_event: one user-item interaction, the unit every layer passes around
 * (readers and the generator make them, the Avro codec encodes and decodes
 * them, the trainer and the stream consume them).
 *
 * Ids are arbitrary 64-bit integers chosen by the source system; twotime
 * maps them to dense indices internally.  Valid events have user_id >= 0,
 * item_id >= 0 and a timestamp in [TT_EVENT_TS_MIN, TT_EVENT_TS_MAX].
 */
#ifndef TT_EVENT_H
#define TT_EVENT_H

#include <stdbool.h>
#include <stdint.h>

/* No category: the item carries no feature. */
#define TT_EVENT_NO_CATEGORY (-1)

/* Timestamps are milliseconds since the Unix epoch; outside 1970..2200 an
 * event is rejected as absurd (a seconds/milliseconds mix-up, garbage). */
#define TT_EVENT_TS_MIN INT64_C(0)
#define TT_EVENT_TS_MAX INT64_C(7258118400000)

struct tt_event {
    int64_t user_id;
    int64_t item_id;
    int64_t ts_ms;
    int32_t category; /* item category feature, or TT_EVENT_NO_CATEGORY */
};

/* True when the event's ids and timestamp are in range. */
static inline bool tt_event_valid(const struct tt_event *ev)
{
    return ev->user_id >= 0 && ev->item_id >= 0 &&
           ev->ts_ms >= TT_EVENT_TS_MIN && ev->ts_ms <= TT_EVENT_TS_MAX &&
           ev->category >= TT_EVENT_NO_CATEGORY;
}

#endif
