/*
 * Unit tests of model/tt_gen: determinism (same seed, same bytes; another
 * seed, other bytes), exact event count, time order and valid events, the
 * power law of events per user (tail exponent fitted), the share of heavy
 * users under the default shape, memory independent of the number of events,
 * a session effect that vanishes when switched off, new users, the csv round
 * trip through tt_reader, option validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/tt_gen.h"
#include "model/tt_reader.h"

static tt_gen_t *make(const struct tt_gen_opts *o)
{
    tt_gen_t *g = NULL;
    char err[256] = "";

    if (tt_gen_new(&g, o, err, sizeof(err)) != TT_ERR_OK)
        fail_msg("tt_gen_new: %s", err);
    return g;
}

static void small_opts(struct tt_gen_opts *o, uint64_t seed, uint64_t n)
{
    tt_gen_opts_init(o);
    o->seed = seed;
    o->n_events = n;
    o->n_users = 2000;
    o->n_items = 1000;
}

/* The whole csv output in memory (caller frees). */
static char *csv_of(const struct tt_gen_opts *o, size_t *len)
{
    tt_gen_t *g = make(o);
    char *buf = NULL, err[256];
    FILE *f = open_memstream(&buf, len);

    assert_non_null(f);
    assert_int_equal(tt_gen_write_csv(g, f, err, sizeof(err)), TT_ERR_OK);
    assert_int_equal(fclose(f), 0);
    tt_gen_destroy(g);
    return buf;
}

static void test_determinism(void **state)
{
    struct tt_gen_opts o;
    size_t la, lb, lc;
    char *a, *b, *c;

    (void)state;
    small_opts(&o, 42, 20000);
    o.n_categories = 12;
    a = csv_of(&o, &la);
    b = csv_of(&o, &lb);
    o.seed = 43;
    c = csv_of(&o, &lc);
    assert_true(la > 20000 * 10);
    assert_true(la == lb && memcmp(a, b, la) == 0);
    assert_true(la != lc || memcmp(a, c, la) != 0);
    assert_true(strncmp(a, "user_id,item_id,timestamp,category\n", 35) == 0);
    free(a);
    free(b);
    free(c);
}

static void test_events_valid_and_ordered(void **state)
{
    struct tt_gen_opts o;
    struct tt_event ev;
    tt_gen_t *g;
    int64_t prev = INT64_MIN;
    uint64_t n = 0;

    (void)state;
    small_opts(&o, 7, 50000);
    o.n_categories = 5;
    g = make(&o);
    assert_string_equal(tt_gen_csv_header(g),
                        "user_id,item_id,timestamp,category");
    while (tt_gen_next(g, &ev)) {
        assert_true(tt_event_valid(&ev));
        assert_true(ev.ts_ms >= prev);
        assert_true(ev.ts_ms >= o.start_ms);
        assert_true(ev.ts_ms <= o.start_ms + (int64_t)(2 * o.days * 86400000));
        assert_true(ev.user_id >= 1 && ev.user_id <= o.n_users);
        assert_true(ev.item_id >= 1 && ev.item_id <= o.n_items);
        assert_true(ev.category >= 0 && ev.category < 5);
        prev = ev.ts_ms;
        n++;
    }
    assert_true(n == o.n_events);
    assert_true(tt_gen_emitted(g) == n);
    assert_false(tt_gen_next(g, &ev));
    tt_gen_destroy(g);

    /* Fewer events than users; no categories. */
    small_opts(&o, 7, 10);
    g = make(&o);
    assert_string_equal(tt_gen_csv_header(g), "user_id,item_id,timestamp");
    n = 0;
    while (tt_gen_next(g, &ev)) {
        assert_int_equal(ev.category, TT_EVENT_NO_CATEGORY);
        n++;
    }
    assert_true(n == 10);
    tt_gen_destroy(g);
}

/* Events per user, sorted ascending; returns the number of users seen. */
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

static uint32_t user_counts(const struct tt_gen_opts *o, uint64_t *cnt)
{
    tt_gen_t *g = make(o);
    struct tt_event ev;
    uint32_t seen = 0;

    memset(cnt, 0, o->n_users * sizeof(*cnt));
    while (tt_gen_next(g, &ev))
        cnt[ev.user_id - 1]++;
    tt_gen_destroy(g);
    qsort(cnt, o->n_users, sizeof(*cnt), cmp_u64);
    for (uint32_t u = 0; u < o->n_users; u++)
        seen += cnt[u] > 0;
    return seen;
}

/* Maximum-likelihood (Hill) exponent of the counts >= xmin, with the usual
 * discreteness correction. */
static double hill(const uint64_t *cnt, uint32_t n, double xmin)
{
    double s = 0.0;
    uint32_t k = 0;

    for (uint32_t u = 0; u < n; u++) {
        if ((double)cnt[u] >= xmin) {
            s += log((double)cnt[u] / (xmin - 0.5));
            k++;
        }
    }
    assert_true(k > 200);
    return 1.0 + k / s;
}

static void test_power_law(void **state)
{
    struct tt_gen_opts o;
    uint64_t *cnt;
    const double alphas[] = {1.8, 2.1};
    double fit[2];

    (void)state;
    small_opts(&o, 3, 150000);
    o.n_users = 5000;
    /* Counts per user do not depend on which items are chosen: small
     * vectors and pools keep this test fast. */
    o.dim = 2;
    o.candidates = 2;
    cnt = malloc(o.n_users * sizeof(*cnt));
    assert_non_null(cnt);
    for (int k = 0; k < 2; k++) {
        o.alpha = alphas[k];
        user_counts(&o, cnt);
        fit[k] = hill(cnt, o.n_users, 30.0);
        print_message("alpha %.2f: fitted %.3f\n", alphas[k], fit[k]);
        if (fabs(fit[k] - alphas[k]) > 0.25)
            fail_msg("alpha %.2f: fitted tail exponent %.3f", alphas[k],
                     fit[k]);
    }
    assert_true(fit[1] > fit[0] + 0.1);

    /* The default shape at the default events per user (50): about 10% of
     * users above 100 events, most with a handful, a few with thousands. */
    small_opts(&o, 5, 100000);
    o.dim = 2;
    o.candidates = 2;
    {
        uint32_t seen = user_counts(&o, cnt), above = 0;
        uint64_t median = cnt[o.n_users - seen + seen / 2];

        for (uint32_t u = 0; u < o.n_users; u++)
            above += cnt[u] > 100;
        print_message("defaults: %u of %u users above 100, median %llu, "
                      "max %llu\n",
                      above, o.n_users, (unsigned long long)median,
                      (unsigned long long)cnt[o.n_users - 1]);
        if (!(above > 0.06 * o.n_users && above < 0.15 * o.n_users) ||
            median > 10 || cnt[o.n_users - 1] < 1000)
            fail_msg("users > 100: %u of %u; median %llu; max %llu", above,
                     o.n_users, (unsigned long long)median,
                     (unsigned long long)cnt[o.n_users - 1]);
    }
    free(cnt);
}

static void test_memory_independent_of_events(void **state)
{
    struct tt_gen_opts o;
    struct tt_event ev;
    tt_gen_t *g;
    size_t bytes[2];
    const uint64_t ns[2] = {10000, 1000000};

    (void)state;
    for (int k = 0; k < 2; k++) {
        struct mallinfo2 m0, m1;

        tt_gen_opts_init(&o);
        o.n_events = ns[k];
        /* Small vectors and pools: this test is about state, not speed. */
        o.n_users = 3000;
        o.n_items = 800;
        o.dim = 2;
        o.candidates = 2;
        g = make(&o);
        bytes[k] = tt_gen_bytes(g);
        m0 = mallinfo2();
        while (tt_gen_next(g, &ev))
            ;
        m1 = mallinfo2();
        /* Generating allocates nothing. */
        assert_true(m1.uordblks == m0.uordblks);
        assert_true(tt_gen_bytes(g) == bytes[k]);
        assert_true(tt_gen_emitted(g) == ns[k]);
        tt_gen_destroy(g);
    }
    assert_true(bytes[0] == bytes[1]);
    assert_true(bytes[0] < (size_t)3000 * 200 + (size_t)800 * 100 + 65536);
}

/*
 * The fraction of a user's consecutive events, less than 10 minutes apart
 * (same session), whose items share a category.
 */
static double same_cat_rate(double session_prob)
{
    struct tt_gen_opts o;
    struct tt_event ev;
    tt_gen_t *g;
    int32_t *last_cat;
    int64_t *last_ts;
    uint64_t pairs = 0, same = 0;

    small_opts(&o, 9, 60000);
    o.n_categories = 20;
    o.session_prob = session_prob;
    last_cat = malloc(o.n_users * sizeof(*last_cat));
    last_ts = malloc(o.n_users * sizeof(*last_ts));
    assert_non_null(last_cat);
    assert_non_null(last_ts);
    for (uint32_t u = 0; u < o.n_users; u++)
        last_ts[u] = -1;
    g = make(&o);
    while (tt_gen_next(g, &ev)) {
        uint32_t u = (uint32_t)(ev.user_id - 1);

        if (last_ts[u] >= 0 && ev.ts_ms - last_ts[u] < 600000) {
            pairs++;
            same += ev.category == last_cat[u];
        }
        last_ts[u] = ev.ts_ms;
        last_cat[u] = ev.category;
    }
    tt_gen_destroy(g);
    free(last_cat);
    free(last_ts);
    assert_true(pairs > 10000);
    return (double)same / (double)pairs;
}

static void test_session_effect(void **state)
{
    double off, on;

    (void)state;
    off = same_cat_rate(0.0);
    on = same_cat_rate(0.5);
    print_message("same-category rate in sessions: off %.3f on %.3f\n", off,
                  on);
    /* Off: users still prefer some categories (well above 1/20); on: half
     * of the in-session draws stay in the previous item's category. */
    if (!(off > 0.05 && on > off + 0.25))
        fail_msg("same-category rate in sessions: off %.3f on %.3f", off, on);
}

/* The share of events in the last 20% of the log by users absent from the
 * first 70%. */
static double unseen_share(double new_user_rate)
{
    struct tt_gen_opts o;
    struct tt_event ev;
    tt_gen_t *g;
    uint8_t *seen;
    uint64_t j = 0, test = 0, unseen = 0;

    small_opts(&o, 4, 50000);
    o.new_user_rate = new_user_rate;
    o.dim = 2; /* who comes when does not depend on the items */
    o.candidates = 2;
    seen = calloc(o.n_users, 1);
    assert_non_null(seen);
    g = make(&o);
    while (tt_gen_next(g, &ev)) {
        uint32_t u = (uint32_t)(ev.user_id - 1);

        if (j < o.n_events * 7 / 10)
            seen[u] = 1;
        else if (j >= o.n_events * 8 / 10) {
            test++;
            unseen += !seen[u];
        }
        j++;
    }
    tt_gen_destroy(g);
    free(seen);
    return (double)unseen / (double)test;
}

static void test_new_users(void **state)
{
    double none = unseen_share(0.0), some = unseen_share(0.2),
           many = unseen_share(0.6);

    (void)state;
    print_message("unseen-user share of test events: %.3f %.3f %.3f\n", none,
                  some, many);
    if (!(some > 0.02 && many > some + 0.05 && some > none))
        fail_msg("unseen-user share of test events: %.3f %.3f %.3f", none,
                 some, many);
}

static void test_reader_round_trip(void **state)
{
    struct tt_gen_opts o;
    tt_gen_t *g, *ref;
    tt_reader_t *r;
    struct tt_event a, b;
    char path[] = "/tmp/tt_test_gen_XXXXXX", err[256];
    int fd;
    FILE *f;
    uint64_t n = 0;

    (void)state;
    small_opts(&o, 11, 20000);
    o.n_categories = 7;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    g = make(&o);
    assert_int_equal(tt_gen_write_csv(g, f, err, sizeof(err)), TT_ERR_OK);
    assert_int_equal(fclose(f), 0);
    tt_gen_destroy(g);

    ref = make(&o);
    assert_int_equal(
        tt_reader_open(&r, path, TT_FORMAT_AUTO, false, err, sizeof(err)),
        TT_ERR_OK);
    assert_int_equal(tt_reader_format(r), TT_FORMAT_CSV);
    while (tt_reader_next(r, &a, err, sizeof(err)) == TT_ERR_OK) {
        assert_true(tt_gen_next(ref, &b));
        assert_true(a.user_id == b.user_id && a.item_id == b.item_id &&
                    a.ts_ms == b.ts_ms && a.category == b.category);
        n++;
    }
    assert_true(n == o.n_events);
    assert_false(tt_gen_next(ref, &b));
    assert_int_equal(tt_reader_skipped(r), 0);
    tt_reader_close(r);
    tt_gen_destroy(ref);
    unlink(path);
}

static void test_bad_options(void **state)
{
    struct tt_gen_opts o;
    tt_gen_t *g = (tt_gen_t *)1;
    char err[256];
    FILE *ro;

    (void)state;
    tt_gen_opts_init(&o);
    o.alpha = 1.0;
    assert_int_equal(tt_gen_new(&g, &o, err, sizeof(err)), TT_ERR_INVAL);
    assert_null(g);
    assert_non_null(strstr(err, "alpha"));
    tt_gen_opts_init(&o);
    o.n_events = 0;
    assert_int_equal(tt_gen_new(&g, &o, err, sizeof(err)), TT_ERR_INVAL);
    tt_gen_opts_init(&o);
    o.n_items = 1;
    assert_int_equal(tt_gen_new(&g, &o, err, sizeof(err)), TT_ERR_INVAL);
    tt_gen_opts_init(&o);
    o.n_categories = o.n_items + 1;
    assert_int_equal(tt_gen_new(&g, &o, err, sizeof(err)), TT_ERR_INVAL);
    tt_gen_opts_init(&o);
    o.temp = 0.0;
    assert_int_equal(tt_gen_new(&g, &o, err, sizeof(err)), TT_ERR_INVAL);
    tt_gen_opts_init(&o);
    o.new_user_rate = 1.5;
    assert_int_equal(tt_gen_new(&g, &o, err, sizeof(err)), TT_ERR_INVAL);
    tt_gen_opts_init(&o);
    o.start_ms = INT64_C(7258118400000) - 1000;
    assert_int_equal(tt_gen_new(&g, &o, err, sizeof(err)), TT_ERR_INVAL);
    assert_non_null(strstr(err, "1970..2200"));
    tt_gen_destroy(NULL);

    /* A write error is reported. */
    small_opts(&o, 1, 100);
    g = make(&o);
    ro = fopen("/dev/null", "r");
    assert_non_null(ro);
    assert_int_equal(tt_gen_write_csv(g, ro, err, sizeof(err)), TT_ERR_IO);
    fclose(ro);
    tt_gen_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_events_valid_and_ordered),
        cmocka_unit_test(test_power_law),
        cmocka_unit_test(test_memory_independent_of_events),
        cmocka_unit_test(test_session_effect),
        cmocka_unit_test(test_new_users),
        cmocka_unit_test(test_reader_round_trip),
        cmocka_unit_test(test_bad_options),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
