/*
 * `twotime stream` (the library, in a thread) against a real broker with
 * the two WINDOW kinds of model (tt_model.h):
 *   hopping window (the kind `twotime train` writes by default): an active
 *     user's embedding after its c-th event is phi_u moved by the active
 *     cell over the known items of its events (a(c), c], one step per event
 *     between hops and a recompute at a hop;
 *   sliding window (`train.window_hop = -1`): phi_u moved over the user's
 *     last K known items, recomputed on every event.
 * Every published embedding must be, bit for bit, what the model library
 * computes offline for the same retained history: tt_model_user_state_at()
 * over the retained item vectors (anchored at the user's count; a sliding
 * window ignores the anchor), then tt_model_user_query().
 *
 * - {hop,window}_exactly_once / _at_least_once: one run over N events with
 *   unknown items (they take no step; they count as events for a hop, not
 *   toward a sliding window's K), users crossing t*, and a history small
 *   enough that retention drops halves (SIT_HMAX 8 >= 2K - 2: a hopping
 *   window always lies in the retained history).
 * - {hop,window}_restore_new_model: the first half, stop; the second half
 *   with a new, empty state directory (restored from the changelog) and a
 *   newer model of the same kind (every user recomputed under it).
 *
 * Needs TT_TEST_BROKERS (tt_itest.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>

#include "tests/integration/test_stream_common.h"

#define N 4000
#define USERS 150
#define WIN_K 3 /* K: <= t* (SIT_TSTAR); 2K - 2 <= history_max (SIT_HMAX) */
#define WIN_H 2 /* the hop of the hopping-window tests */

static struct tt_event evs[N];
static struct sit_expect expect[N];
static uint8_t model_of[N];
/* The kind under test: WIN_H for the hopping window, 0 for the sliding. */
static uint32_t win_hop;

/* sit_model() of the kind under test, K = WIN_K: users with an even id
 * have a phi_u, 2TS-Plus, cutoffs at SIT_CUTOFF (which a window model's
 * active cell ignores). */
static tt_model_t *win_model(uint64_t version)
{
    tt_model_t *m = sit_model_with(
        version, 2000, WIN_K,
        TT_MODEL_FLAG_PLUS | (win_hop ? TT_MODEL_FLAGS_HOP(win_hop)
                                      : TT_MODEL_FLAG_WINDOW));
    struct tt_model_info info;

    tt_model_get_info(m, &info);
    assert_true(info.window);
    assert_int_equal(info.k, WIN_K);
    assert_int_equal(info.hop, win_hop);
    return m;
}

/* sit_start() with a window model of `version`. */
static void win_start(struct sit_runner *r, const struct sit *t,
                      uint64_t version, const char *instance)
{
    tt_model_t *m = win_model(version);

    sit_start_model(r, t, &m, instance);
}

/*
 * The offline reference: each user's retained history (offset order = event
 * order; the documented retention, dropping the oldest half when full), and
 * after every event tt_model_user_state_at() over ALL its retained item
 * vectors (NULL for unknown items), the first of them being event
 * count - n + 1, with allow_active = count > t*: the model library picks
 * the window (a(count), count] for an active user itself.  No cutoff
 * filtering: a window model's active cell ignores it.
 */
static void win_reference(tt_model_t *const *models,
                          const struct sit_input *in, struct sit_expect *out)
{
    static struct {
        uint64_t count;
        uint32_t n;
        int64_t item[SIT_HMAX];
    } u[SIT_USERS_MAX];
    struct tt_user_run *run = malloc(sizeof(*run));

    assert_non_null(run);
    memset(u, 0, sizeof(u));
    for (size_t i = 0; i < in->n; i++) {
        const tt_model_t *m = models[model_of[i]];
        struct tt_model_info info;
        const float *xs[SIT_HMAX];
        int64_t uid = evs[i].user_id;

        assert_true(uid >= 0 && uid < SIT_USERS_MAX);
        assert_true(in->part[i] >= 0);
        tt_model_get_info(m, &info);
        if (u[uid].n == SIT_HMAX) {
            uint32_t keep = SIT_HMAX / 2;

            memmove(u[uid].item, u[uid].item + (SIT_HMAX - keep),
                    keep * sizeof(int64_t));
            u[uid].n = keep;
        }
        u[uid].item[u[uid].n++] = evs[i].item_id;
        u[uid].count++;
        for (uint32_t j = 0; j < u[uid].n; j++)
            xs[j] = tt_model_item(m, u[uid].item[j]);
        tt_model_user_state_at(m, uid, u[uid].count > info.tstar, xs, NULL,
                               u[uid].n, u[uid].count - u[uid].n, run);
        tt_model_user_query(m, run, out[i].q);
        out[i].count = u[uid].count;
        out[i].active = run->cell == TT_CELL_ACTIVE;
        out[i].version = info.version;
    }
    free(run);
}

/* Events whose reference is in the active cell: the window path ran. */
static size_t n_active(size_t n)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        k += expect[i].active;
    return k;
}

static void run_once(bool eos)
{
    struct sit t;
    struct sit_runner r;
    struct sit_input in;
    struct sit_output o;
    tt_model_t *m;
    tt_metrics_t *mx;

    sit_init(&t, win_hop ? (eos ? "sh-eos" : "sh-alo")
                         : (eos ? "sw-eos" : "sw-alo"),
             eos);
    sit_events(evs, N, USERS, 13);
    tt_itest_produce(&t.conf.kafka, t.in, evs, N);
    win_start(&r, &t, 1, "a");
    assert_int_equal(sit_wait_committed(&t, N, 90), N);
    sit_stop(&r);
    mx = tt_stream_metrics(r.s);
    assert_int_equal(tt_metrics_get(mx, TT_M_EVENTS), N);
    assert_int_equal(tt_metrics_get(mx, TT_M_APPLIED), N);
    assert_int_equal(tt_metrics_get(mx, TT_M_DUPLICATES), 0);
    assert_int_equal(tt_metrics_get(mx, TT_M_DEAD_LETTERS), 0);
    assert_int_equal(tt_metrics_get(mx, TT_M_TXN_ABORTED), 0);
    if (win_hop) {
        /* Active users are recomputed only at hops (every WIN_H events),
         * when they turn active, and new users: far fewer recomputes than
         * the active events (more than N / 4, checked below). */
        assert_true(tt_metrics_get(mx, TT_M_RECOMPUTES) > 0);
        assert_true(tt_metrics_get(mx, TT_M_RECOMPUTES) < N * 7 / 10);
    } else {
        /* Active users of a sliding window: recomputed on every event. */
        assert_true(tt_metrics_get(mx, TT_M_RECOMPUTES) > N / 4);
    }
    tt_stream_destroy(r.s);

    sit_read_input(&in, &t, N, 0);
    m = win_model(1);
    memset(model_of, 0, sizeof(model_of));
    win_reference(&m, &in, expect);
    assert_true(n_active(N) > N / 4 && n_active(N) < N);
    sit_read_output(&o, &t, &in);
    sit_assert_exactly_once(&o, evs, expect);
    sit_output_release(&o);
    sit_input_release(&in);
    tt_model_destroy(m);
    sit_release(&t);
}

static void restore_new_model(void);

static void hop_exactly_once(void **st)
{
    (void)st;
    win_hop = WIN_H;
    run_once(true);
}

static void hop_at_least_once(void **st)
{
    (void)st;
    win_hop = WIN_H;
    run_once(false);
}

static void hop_restore_new_model(void **st)
{
    (void)st;
    win_hop = WIN_H;
    restore_new_model();
}

static void window_exactly_once(void **st)
{
    (void)st;
    win_hop = 0;
    run_once(true);
}

static void window_at_least_once(void **st)
{
    (void)st;
    win_hop = 0;
    run_once(false);
}

static void window_restore_new_model(void **st)
{
    (void)st;
    win_hop = 0;
    restore_new_model();
}

static void restore_new_model(void)
{
    struct sit t;
    struct sit_runner r;
    struct sit_input in;
    struct sit_output o;
    tt_model_t *m[2];
    char path[256], errstr[256];

    sit_init(&t, win_hop ? "sh-rst" : "sw-rst", true);
    sit_events(evs, N, USERS, 14);
    tt_itest_produce(&t.conf.kafka, t.in, evs, N / 2);
    win_start(&r, &t, 1, "a");
    assert_int_equal(sit_wait_committed(&t, N / 2, 90), N / 2);
    sit_stop(&r);
    tt_stream_destroy(r.s);

    /* A new instance with an empty store and a newer model of the kind. */
    tt_itest_produce(&t.conf.kafka, t.in, evs + N / 2, N - N / 2);
    sit_state_path(&t, "state-b", path, sizeof(path));
    assert_int_equal(tt_conf_set(&t.conf, "state.path", path, errstr,
                                 sizeof(errstr)),
                     TT_ERR_OK);
    win_start(&r, &t, 2, "b");
    assert_int_equal(sit_wait_committed(&t, N, 90), N);
    sit_stop(&r);
    assert_true(tt_metrics_get(tt_stream_metrics(r.s),
                               TT_M_RESTORED_RECORDS) > USERS / 2);
    assert_int_equal(tt_metrics_get(tt_stream_metrics(r.s), TT_M_APPLIED),
                     N - N / 2);
    tt_stream_destroy(r.s);

    sit_read_input(&in, &t, N, 0);
    m[0] = win_model(1);
    m[1] = win_model(2);
    for (size_t i = 0; i < N; i++)
        model_of[i] = i >= N / 2;
    win_reference(m, &in, expect);
    sit_read_output(&o, &t, &in);
    sit_assert_exactly_once(&o, evs, expect);
    sit_output_release(&o);
    sit_input_release(&in);
    tt_model_destroy(m[0]);
    tt_model_destroy(m[1]);
    sit_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hop_exactly_once),
        cmocka_unit_test(hop_at_least_once),
        cmocka_unit_test(hop_restore_new_model),
        cmocka_unit_test(window_exactly_once),
        cmocka_unit_test(window_at_least_once),
        cmocka_unit_test(window_restore_new_model),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
