/*
 * Unit tests of model/tt_reader: every format on the sample files in
 * tests/data (u.data, ratings.dat, ratings.csv, reordered and quoted csv,
 * tab-separated with BOM/CRLF/blank lines), format detection, the time-unit
 * rule, every error path with FILE:LINE in the message, skip_bad counts,
 * over-long lines, NUL bytes, empty input, streams, tt_dataset_read().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/tt_dataset.h"
#include "model/tt_reader.h"

static char path_buf[4096];

static const char *data_path(const char *name)
{
    const char *dir = getenv("TT_TEST_DATA");

    snprintf(path_buf, sizeof(path_buf), "%s/%s", dir ? dir : "tests/data",
             name);
    return path_buf;
}

/* Writes `len` bytes to a fresh temporary file; returns its path (static). */
static const char *temp_file(const void *data, size_t len)
{
    static char p[64];
    int fd;

    snprintf(p, sizeof(p), "/tmp/tt_test_reader_XXXXXX");
    fd = mkstemp(p);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return p;
}

static void expect_event(tt_reader_t *r, int64_t u, int64_t i, int64_t ts,
                         int32_t cat)
{
    struct tt_event ev;
    char err[256] = "";

    if (tt_reader_next(r, &ev, err, sizeof(err)) != TT_ERR_OK)
        fail_msg("expected an event, got \"%s\"", err);
    assert_true(ev.user_id == u);
    assert_true(ev.item_id == i);
    assert_true(ev.ts_ms == ts);
    assert_int_equal(ev.category, cat);
}

static void expect_end(tt_reader_t *r)
{
    struct tt_event ev;
    char err[256];

    assert_int_equal(tt_reader_next(r, &ev, err, sizeof(err)),
                     TT_ERR_NOTFOUND);
    assert_int_equal(tt_reader_next(r, &ev, err, sizeof(err)),
                     TT_ERR_NOTFOUND);
}

/* The next call fails with TT_ERR_PARSE and "name:line: ...needle...". */
static void expect_error(tt_reader_t *r, const char *name, unsigned line,
                         const char *needle)
{
    struct tt_event ev;
    char err[256] = "", prefix[128];

    assert_int_equal(tt_reader_next(r, &ev, err, sizeof(err)), TT_ERR_PARSE);
    snprintf(prefix, sizeof(prefix), "%s:%u: ", name, line);
    if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, needle))
        fail_msg("got \"%s\", want \"%s...%s\"", err, prefix, needle);
    assert_int_equal(tt_reader_line(r), line);
}

static long count_events(tt_reader_t *r)
{
    struct tt_event ev;
    char err[256];
    long n = 0;
    tt_err_t rc;

    while ((rc = tt_reader_next(r, &ev, err, sizeof(err))) == TT_ERR_OK)
        n++;
    assert_int_equal(rc, TT_ERR_NOTFOUND);
    return n;
}

static void test_names(void **state)
{
    enum tt_format f;
    enum tt_ts_unit u;
    const char *names[] = {"auto", "csv", "udata", "dat", "mlcsv"};

    (void)state;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(tt_format_parse(names[i], &f), TT_ERR_OK);
        assert_int_equal(f, i);
        assert_string_equal(tt_format_name(f), names[i]);
    }
    assert_int_equal(tt_format_parse("CSV", &f), TT_ERR_INVAL);
    assert_int_equal(tt_format_parse("", &f), TT_ERR_INVAL);
    assert_int_equal(tt_ts_unit_parse("s", &u), TT_ERR_OK);
    assert_int_equal(u, TT_TS_UNIT_S);
    assert_int_equal(tt_ts_unit_parse("ms", &u), TT_ERR_OK);
    assert_int_equal(u, TT_TS_UNIT_MS);
    assert_int_equal(tt_ts_unit_parse("sec", &u), TT_ERR_INVAL);
}

static void test_udata(void **state)
{
    tt_reader_t *r;
    char err[256];
    enum tt_format fmts[] = {TT_FORMAT_AUTO, TT_FORMAT_UDATA};

    (void)state;
    for (int k = 0; k < 2; k++) {
        assert_int_equal(tt_reader_open(&r, data_path("u.data"), fmts[k],
                                        false, err, sizeof(err)),
                         TT_ERR_OK);
        assert_int_equal(tt_reader_format(r), TT_FORMAT_UDATA);
        expect_event(r, 196, 242, INT64_C(881250949000), -1);
        expect_event(r, 186, 302, INT64_C(891717742000), -1);
        assert_int_equal(tt_reader_line(r), 2);
        assert_int_equal(2 + count_events(r), 20);
        assert_int_equal(tt_reader_line(r), 20);
        assert_int_equal(tt_reader_skipped(r), 0);
        expect_end(r);
        tt_reader_close(r);
    }
}

static void test_ratings_dat(void **state)
{
    tt_reader_t *r;
    char err[256];

    (void)state;
    assert_int_equal(tt_reader_open(&r, data_path("ratings.dat"),
                                    TT_FORMAT_AUTO, false, err, sizeof(err)),
                     TT_ERR_OK);
    assert_int_equal(tt_reader_format(r), TT_FORMAT_ML_DAT);
    expect_event(r, 1, 1193, INT64_C(978300760000), -1);
    assert_int_equal(1 + count_events(r), 10);
    tt_reader_close(r);
}

static void test_ratings_csv_and_units(void **state)
{
    tt_reader_t *r;
    char err[256];
    struct tt_reader_opts o;

    (void)state;
    /* AUTO: movieId means MovieLens, a bare timestamp is in seconds. */
    assert_int_equal(tt_reader_open(&r, data_path("ratings.csv"),
                                    TT_FORMAT_AUTO, false, err, sizeof(err)),
                     TT_ERR_OK);
    assert_int_equal(tt_reader_format(r), TT_FORMAT_ML_CSV);
    expect_event(r, 1, 296, INT64_C(1147880044000), -1);
    assert_int_equal(tt_reader_line(r), 2);
    assert_int_equal(1 + count_events(r), 10);
    tt_reader_close(r);

    /* Forced csv: the same bare `timestamp` is milliseconds (the rule is by
     * name, never by magnitude) ... */
    assert_int_equal(tt_reader_open(&r, data_path("ratings.csv"),
                                    TT_FORMAT_CSV, false, err, sizeof(err)),
                     TT_ERR_OK);
    expect_event(r, 1, 296, INT64_C(1147880044), -1);
    tt_reader_close(r);

    /* ... unless the caller says seconds. */
    tt_reader_opts_init(&o);
    o.format = TT_FORMAT_CSV;
    o.ts_unit = TT_TS_UNIT_S;
    assert_int_equal(tt_reader_open_opts(&r, data_path("ratings.csv"), &o,
                                         err, sizeof(err)),
                     TT_ERR_OK);
    expect_event(r, 1, 296, INT64_C(1147880044000), -1);
    tt_reader_close(r);
}

static void test_reordered_quoted_csv(void **state)
{
    tt_reader_t *r;
    char err[256];

    (void)state;
    assert_int_equal(tt_reader_open(&r, data_path("reordered.csv"),
                                    TT_FORMAT_AUTO, false, err, sizeof(err)),
                     TT_ERR_OK);
    assert_int_equal(tt_reader_format(r), TT_FORMAT_CSV);
    expect_event(r, 5, 77, INT64_C(1600000000300), 3);
    expect_event(r, 6, 78, INT64_C(1600000000100), -1);
    expect_event(r, 5, 77, INT64_C(1600000000200), 3);
    expect_event(r, 7, 79, INT64_C(1600000000200), 0);
    expect_end(r);
    tt_reader_close(r);
}

static void test_tabs_bom_crlf(void **state)
{
    tt_reader_t *r;
    char err[256];

    (void)state;
    assert_int_equal(tt_reader_open(&r, data_path("tabs.tsv"), TT_FORMAT_AUTO,
                                    false, err, sizeof(err)),
                     TT_ERR_OK);
    assert_int_equal(tt_reader_format(r), TT_FORMAT_CSV);
    expect_event(r, 10, 100, INT64_C(1600000000000), -1);
    expect_event(r, 11, 101, INT64_C(1600000001250), -1);
    assert_int_equal(tt_reader_line(r), 4);
    expect_event(r, 10, 102, INT64_C(1600000002000), -1);
    expect_end(r);
    assert_int_equal(tt_reader_blank(r), 1);
    assert_int_equal(tt_reader_skipped(r), 0);
    tt_reader_close(r);
}

static void test_bad_strict(void **state)
{
    tt_reader_t *r;
    char err[256];
    const char *p = data_path("bad.csv");
    char name[4096];

    (void)state;
    snprintf(name, sizeof(name), "%s", p);
    assert_int_equal(
        tt_reader_open(&r, name, TT_FORMAT_AUTO, false, err, sizeof(err)),
        TT_ERR_OK);
    expect_event(r, 1, 10, INT64_C(1600000000000), -1);
    expect_error(r, name, 3, "expected 3 fields as in the header, got 2");
    expect_error(r, name, 4, "user id is not an integer: \"x\"");
    expect_error(r, name, 5, "negative item id: -4");
    expect_error(r, name, 6, "timestamp out of range");
    expect_error(r, name, 7, "timestamp out of range");
    expect_error(r, name, 8, "user id out of range");
    expect_event(r, 4, 40, INT64_C(1600000000001), -1);
    expect_error(r, name, 11, "unterminated quoted field");
    expect_error(r, name, 12, "timestamp is not an integer (ms): \"1.5e12\"");
    expect_event(r, 7, 70, INT64_C(1600000000002), -1);
    expect_end(r);
    assert_int_equal(tt_reader_skipped(r), 0);
    assert_int_equal(tt_reader_blank(r), 1);
    tt_reader_close(r);
}

static void test_bad_skip(void **state)
{
    tt_reader_t *r;
    char err[256];
    struct tt_dataset ds;
    uint64_t skipped = 99;

    (void)state;
    assert_int_equal(tt_reader_open(&r, data_path("bad.csv"), TT_FORMAT_AUTO,
                                    true, err, sizeof(err)),
                     TT_ERR_OK);
    assert_int_equal(count_events(r), 3);
    assert_int_equal(tt_reader_skipped(r), 8);
    assert_int_equal(tt_reader_blank(r), 1);
    assert_int_equal(tt_reader_line(r), 13);
    tt_reader_close(r);

    /* tt_dataset_read: strict fails with the first bad line ... */
    assert_int_equal(tt_dataset_init(&ds), TT_ERR_OK);
    assert_int_equal(tt_dataset_read(&ds, data_path("bad.csv"),
                                     TT_FORMAT_AUTO, false, &skipped, err,
                                     sizeof(err)),
                     TT_ERR_PARSE);
    assert_non_null(strstr(err, "bad.csv:3: "));
    assert_int_equal(skipped, 0);
    tt_dataset_release(&ds);
    /* ... skip_bad keeps the three good events and counts the rest. */
    assert_int_equal(tt_dataset_init(&ds), TT_ERR_OK);
    assert_int_equal(tt_dataset_read(&ds, data_path("bad.csv"),
                                     TT_FORMAT_AUTO, true, &skipped, err,
                                     sizeof(err)),
                     TT_ERR_OK);
    assert_int_equal(ds.n, 3);
    assert_int_equal(skipped, 8);
    tt_dataset_release(&ds);
}

static void test_ml_errors(void **state)
{
    const char dat[] = "1::2::3::978300760\n"
                       "1::2::3\n"
                       "1::2::3::4::5\n"
                       "a::2::3::978300760\n"
                       "1::2::3::7258118401\n"
                       "1::2::3::-5\n"
                       "1::2::3::978300760.5\n";
    const char ud[] = "1\t2\t3\t881250949\n"
                      "1 2 3 881250949\n"
                      "1\t2\t3\t881250949\tx\n";
    const char *p;
    tt_reader_t *r;
    char err[256], name[64];

    (void)state;
    p = temp_file(dat, sizeof(dat) - 1);
    snprintf(name, sizeof(name), "%s", p);
    assert_int_equal(
        tt_reader_open(&r, name, TT_FORMAT_AUTO, false, err, sizeof(err)),
        TT_ERR_OK);
    expect_event(r, 1, 2, INT64_C(978300760000), -1);
    expect_error(r, name, 2, "expected 4 '::'-separated fields, got 3");
    expect_error(r, name, 3, "got 5");
    expect_error(r, name, 4, "user id is not an integer");
    expect_error(r, name, 5, "timestamp out of range (1970..2200) in seconds");
    expect_error(r, name, 6, "timestamp out of range");
    expect_event(r, 1, 2, INT64_C(978300760500), -1);
    expect_end(r);
    tt_reader_close(r);
    unlink(name);

    p = temp_file(ud, sizeof(ud) - 1);
    snprintf(name, sizeof(name), "%s", p);
    assert_int_equal(
        tt_reader_open(&r, name, TT_FORMAT_AUTO, false, err, sizeof(err)),
        TT_ERR_OK);
    assert_int_equal(tt_reader_format(r), TT_FORMAT_UDATA);
    expect_event(r, 1, 2, INT64_C(881250949000), -1);
    expect_error(r, name, 2, "expected 4 tab-separated fields, got 1");
    expect_error(r, name, 3, "got 5");
    expect_end(r);
    tt_reader_close(r);
    unlink(name);
}

static void test_long_line_and_nul(void **state)
{
    size_t big = TT_READER_LINE_MAX + 10, n = 0;
    char *buf = malloc(big + 200);
    const char *p;
    tt_reader_t *r;
    char err[256], name[64];

    (void)state;
    assert_non_null(buf);
    n += (size_t)snprintf(buf, 200, "user_id,item_id,timestamp\n");
    memset(buf + n, '7', big);
    n += big;
    buf[n++] = '\n';
    memcpy(buf + n, "1,2,3\n1,\0,3\n4,5,6", 17); /* no final NUL */
    n += 17;
    p = temp_file(buf, n);
    snprintf(name, sizeof(name), "%s", p);
    assert_int_equal(
        tt_reader_open(&r, name, TT_FORMAT_AUTO, false, err, sizeof(err)),
        TT_ERR_OK);
    expect_error(r, name, 2, "line longer than 65536 bytes");
    expect_event(r, 1, 2, 3, -1);
    expect_error(r, name, 4, "NUL byte in line");
    expect_event(r, 4, 5, 6, -1);
    expect_end(r);
    tt_reader_close(r);
    /* The same with skip_bad. */
    assert_int_equal(
        tt_reader_open(&r, name, TT_FORMAT_AUTO, true, err, sizeof(err)),
        TT_ERR_OK);
    assert_int_equal(count_events(r), 2);
    assert_int_equal(tt_reader_skipped(r), 2);
    tt_reader_close(r);
    unlink(name);

    /* A line of exactly the maximum is fine (here: one long ignored
     * column). */
    n = (size_t)snprintf(buf, 200, "user_id,item_id,timestamp,pad\n1,2,3,");
    memset(buf + n, 'x', TT_READER_LINE_MAX - 6);
    n += TT_READER_LINE_MAX - 6;
    buf[n++] = '\n';
    p = temp_file(buf, n);
    snprintf(name, sizeof(name), "%s", p);
    assert_int_equal(
        tt_reader_open(&r, name, TT_FORMAT_AUTO, false, err, sizeof(err)),
        TT_ERR_OK);
    expect_event(r, 1, 2, 3, -1);
    expect_end(r);
    tt_reader_close(r);
    unlink(name);

    /* An over-long first line fails the open. */
    memset(buf, 'a', big);
    p = temp_file(buf, big);
    snprintf(name, sizeof(name), "%s", p);
    assert_int_equal(
        tt_reader_open(&r, name, TT_FORMAT_AUTO, false, err, sizeof(err)),
        TT_ERR_PARSE);
    assert_null(r);
    assert_non_null(strstr(err, ":1: line longer than"));
    unlink(name);
    free(buf);
}

static void test_open_errors(void **state)
{
    tt_reader_t *r = (tt_reader_t *)1;
    char err[256], name[64];
    struct {
        const char *text;
        enum tt_format fmt;
        const char *needle;
    } cases[] = {
        {"hello world\n1,2,3\n", TT_FORMAT_AUTO,
         ":1: cannot detect the format: header has no user column"},
        {"user_id,item,foo\n", TT_FORMAT_CSV,
         ":1: header has no timestamp column"},
        {"user,ts\n", TT_FORMAT_CSV, ":1: header has no item column"},
        {"user_id,userid,item,ts\n", TT_FORMAT_AUTO,
         "two columns for the same role (column 1 and 2)"},
        {"\n\n\"user_id,item,ts\n", TT_FORMAT_AUTO,
         ":3: cannot detect the format: header: unterminated quoted field"},
        {"a\0b\n", TT_FORMAT_AUTO, ":1: cannot detect the format: NUL byte"},
    };

    (void)state;
    assert_int_equal(tt_reader_open(&r, "/nonexistent/dir/x.csv",
                                    TT_FORMAT_AUTO, false, err, sizeof(err)),
                     TT_ERR_IO);
    assert_null(r);
    assert_non_null(strstr(err, "/nonexistent/dir/x.csv: "));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].text);

        if (i == 5)
            len = 4;
        snprintf(name, sizeof(name), "%s", temp_file(cases[i].text, len));
        err[0] = '\0';
        assert_int_equal(tt_reader_open(&r, name, cases[i].fmt, false, err,
                                        sizeof(err)),
                         TT_ERR_PARSE);
        assert_null(r);
        if (strncmp(err, name, strlen(name)) != 0 ||
            !strstr(err, cases[i].needle))
            fail_msg("case %zu: got \"%s\"", i, err);
        unlink(name);
    }
}

static void test_empty_and_blank_inputs(void **state)
{
    const char *texts[] = {"", "\n\n  \n", "user_id,item_id,timestamp\n\n"};
    enum tt_format fmts[] = {TT_FORMAT_AUTO, TT_FORMAT_CSV, TT_FORMAT_UDATA,
                             TT_FORMAT_ML_DAT};
    tt_reader_t *r;
    char err[256], name[64];

    (void)state;
    for (size_t t = 0; t < 3; t++) {
        for (size_t f = 0; f < 4; f++) {
            if (t == 2 && f >= 2)
                continue; /* a header is not u.data */
            snprintf(name, sizeof(name), "%s",
                     temp_file(texts[t], strlen(texts[t])));
            assert_int_equal(
                tt_reader_open(&r, name, fmts[f], false, err, sizeof(err)),
                TT_ERR_OK);
            expect_end(r);
            assert_int_equal(tt_reader_skipped(r), 0);
            tt_reader_close(r);
            unlink(name);
        }
    }
    tt_reader_close(NULL);
}

static void test_stream(void **state)
{
    char text[] = "item_id\tuser_id\tts_ms\tcategory\n9\t8\t7\t6\n";
    FILE *f = fmemopen(text, strlen(text), "r");
    struct tt_reader_opts o;
    tt_reader_t *r;
    char err[256];

    (void)state;
    assert_non_null(f);
    tt_reader_opts_init(&o);
    assert_int_equal(tt_reader_open_stream(&r, f, "mem", &o, err, sizeof(err)),
                     TT_ERR_OK);
    expect_event(r, 8, 9, 7, 6);
    expect_end(r);
    tt_reader_close(r);
    /* The stream is borrowed: still open. */
    assert_int_equal(fclose(f), 0);
}

static void test_dataset_read(void **state)
{
    struct tt_dataset ds;
    char err[256];
    uint64_t skipped = 7;

    (void)state;
    assert_int_equal(tt_dataset_init(&ds), TT_ERR_OK);
    assert_int_equal(tt_dataset_read(&ds, data_path("u.data"), TT_FORMAT_AUTO,
                                     false, &skipped, err, sizeof(err)),
                     TT_ERR_OK);
    assert_int_equal(skipped, 0);
    assert_int_equal(ds.n, 20);
    assert_int_equal(tt_dataset_n_users(&ds), 20);
    /* The earliest u.data line is 291 1042 at 874834944. */
    assert_true(ds.ts[0] == INT64_C(874834944000));
    assert_true(tt_ids_id(ds.users, ds.user[0]) == 291);
    assert_true(tt_ids_id(ds.items, ds.item[0]) == 1042);
    for (size_t j = 1; j < ds.n; j++)
        assert_true(ds.ts[j] >= ds.ts[j - 1]);
    tt_dataset_release(&ds);

    assert_int_equal(tt_dataset_init(&ds), TT_ERR_OK);
    assert_int_equal(tt_dataset_read(&ds, "/nonexistent", TT_FORMAT_AUTO,
                                     false, NULL, err, sizeof(err)),
                     TT_ERR_IO);
    tt_dataset_release(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_udata),
        cmocka_unit_test(test_ratings_dat),
        cmocka_unit_test(test_ratings_csv_and_units),
        cmocka_unit_test(test_reordered_quoted_csv),
        cmocka_unit_test(test_tabs_bom_crlf),
        cmocka_unit_test(test_bad_strict),
        cmocka_unit_test(test_bad_skip),
        cmocka_unit_test(test_ml_errors),
        cmocka_unit_test(test_long_line_and_nul),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_empty_and_blank_inputs),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_dataset_read),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
