/*
 * tt_time: clocks.  Monotonic time for durations and rates, wall time in
 * milliseconds since the Unix epoch for event timestamps.
 */
#ifndef TT_TIME_H
#define TT_TIME_H

#include <stdint.h>

/* Monotonic nanoseconds since an arbitrary origin. */
uint64_t tt_time_mono_ns(void);

/* Seconds between two tt_time_mono_ns() readings, as a double. */
double tt_time_secs(uint64_t from_ns, uint64_t to_ns);

/* Wall-clock milliseconds since the Unix epoch. */
int64_t tt_time_wall_ms(void);

#endif
