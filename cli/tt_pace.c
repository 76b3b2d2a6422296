#include "cli/tt_pace.h"

#include <math.h>

void tt_pace_init(struct tt_pace *pc, double rate, double speedup,
                  uint64_t now_ns)
{
    pc->rate = rate > 0 ? rate : 0;
    pc->speedup = speedup > 0 ? speedup : 0;
    pc->start_ns = now_ns;
    pc->n = 0;
    pc->have_first = false;
    pc->first_ts = pc->max_ts = 0;
}

bool tt_pace_active(const struct tt_pace *pc)
{
    return pc->rate > 0 || pc->speedup > 0;
}

/* start + secs, saturating (a schedule years away is "never" enough). */
static uint64_t at(const struct tt_pace *pc, double secs)
{
    double ns = secs * 1e9;

    if (!(ns > 0))
        return pc->start_ns;
    if (ns >= (double)(UINT64_MAX - pc->start_ns))
        return UINT64_MAX;
    return pc->start_ns + (uint64_t)ns;
}

uint64_t tt_pace_next(struct tt_pace *pc, const struct tt_event *ev)
{
    uint64_t due = pc->start_ns, t;

    if (pc->rate > 0) {
        t = at(pc, (double)pc->n / pc->rate);
        if (t > due)
            due = t;
    }
    if (pc->speedup > 0) {
        if (!pc->have_first) {
            pc->have_first = true;
            pc->first_ts = pc->max_ts = ev->ts_ms;
        }
        if (ev->ts_ms > pc->max_ts)
            pc->max_ts = ev->ts_ms;
        t = at(pc, (double)(pc->max_ts - pc->first_ts) / 1000.0 /
                       pc->speedup);
        if (t > due)
            due = t;
    }
    pc->n++;
    return due;
}
