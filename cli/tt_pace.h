/*
 * tt_pace: when `twotime produce` may send its next event.
 *
 *   rate     events per second: event n (0-based, counted from the first
 *            paced one) is due at start + n / rate.
 *   speedup  replay by the events' own timestamps: an event whose time is
 *            T ms after the first paced event's is due at start +
 *            T / speedup ms (60 plays an hour of history per minute).  A
 *            timestamp earlier than one already seen is due at once: the
 *            schedule never runs backwards.
 * With both, an event waits for the later of the two; with neither it is
 * due at once.  The schedule is absolute (from the start), so short
 * sleeps and slow sends do not accumulate drift: a late sender catches up.
 *
 * Plain data, one thread.
 */
#ifndef TT_PACE_H
#define TT_PACE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/tt_event.h"

struct tt_pace {
    double rate;    /* events/s; 0: no limit */
    double speedup; /* event-time factor; 0: off */
    uint64_t start_ns;
    uint64_t n;
    bool have_first;
    int64_t first_ts, max_ts;
};

/* Starts a schedule at `now_ns` (tt_time_mono_ns()). */
void tt_pace_init(struct tt_pace *pc, double rate, double speedup,
                  uint64_t now_ns);

/* The monotonic time (ns) at which `ev`, the next event to send, is due;
 * counts it. */
uint64_t tt_pace_next(struct tt_pace *pc, const struct tt_event *ev);

/* True when the schedule may make events wait. */
bool tt_pace_active(const struct tt_pace *pc);

#endif
