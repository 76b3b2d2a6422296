/*
 * Unit tests of the backtest report (report/tt_report): a report from the
 * fixture tests/data/report_small.json with figures (gnuplot must be
 * installed: scripts/setup installs gnuplot-nox) and without, its files and
 * the table values in the page; a missing, failing and hanging gnuplot; and
 * hostile variants of the fixture (missing fields, wrong types, every
 * truncation, every number replaced by a string), which must fail with the
 * field's path or succeed, never crash.  With TT_BINARY set, the report also
 * reads what a real `twotime backtest --json` writes.  The JSON reader it
 * rests on: test_report_jdoc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report/tt_report.h"
#include "tests/unit/report_fixture.h"

/* ---- report ---- */

static void test_report_fixture(void **state)
{
    char dir[] = "/tmp/tt_report_XXXXXX", path[512], err[1024];
    const char *data = getenv("TT_TEST_DATA");
    const char *const files[] = {"fig_activity.png", "fig_change.png",
                                 "fig_training.png"};
    const char *const cells[] = {
        /* models table: MRR, Recall@10, inactive, active, valid MRR */
        "<td>2ts</td><td class=\"best\">0.3123</td>"
        "<td class=\"best\">0.5679</td><td>0.3187</td><td>0.2654</td>"
        "<td class=\"best\">0.2922</td>",
        "<td>gru</td><td>0.2988</td><td>0.5432</td><td>0.2951</td>"
        "<td>0.3211</td><td>0.2801</td>",
        "<td>pop</td><td>0.1700</td><td>0.3456</td>",
        /* dataset and split */
        "<td>interactions</td><td>5,000</td>",
        "<td>train</td><td>3,500</td><td>70.0%</td>",
        "<td>test</td><td>1,000</td><td>20.0%</td>",
        /* new users: 400 of 1000 scored, 120 of 250 users */
        "<b>40.0%</b>", "<td>new users (unseen in training)</td><td>120</td>",
        /* buckets, t* = 10 */
        "<td>6-10</td><td>40</td><td>200</td>", "<td>11+</td>",
        "<td>0 (new)</td>",
        /* fig. 4 table: 2ts steps 1-5, weighted:
         * (50 + 36 + 25.5 + 16 + 8) / 150 = 0.9033 */
        "<td>2ts</td><td>0.903</td>",
        /* fig. 2 table: best epoch 2 of 3 */
        "<td>2ts</td><td>3</td><td>0.2922</td><td>2</td>",
        /* tuning */
        "<td>10 (chosen)</td>",
        /* the input path, escaped */
        "tests/data/&lt;tiny&gt;&amp;log.csv",
        "data:image/png;base64,iVBORw0KGgo",
    };
    struct tt_report_opts o;
    struct tt_report_info info;
    char *html;
    size_t size, n_img = 0;

    (void)state;
    assert_non_null(data);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/report_small.json", data);
    tt_report_opts_init(&o);
    /* gnuplot is part of the setup (scripts/setup installs gnuplot-nox):
     * its absence is a failure here, not a skip. */
    if (tt_report_write(path, dir, &o, &info, err, sizeof(err)) != TT_ERR_OK)
        fail_msg("report: %s", err);
    assert_int_equal(info.models, 3);
    assert_int_equal(info.figures, 3);
    for (size_t i = 0; i < 3; i++) {
        char *png;

        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        png = read_all(path, &size);
        assert_non_null(png);
        assert_true(size > 1000);
        assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
        free(png);
    }
    assert_true(file_exists(dir, "report.gp", NULL));
    assert_true(file_exists(dir, "fig_activity.dat", NULL));
    assert_true(file_exists(dir, "gnuplot.log", NULL));
    assert_false(file_exists(dir, "index.html.tmp", NULL));
    snprintf(path, sizeof(path), "%s/index.html", dir);
    html = read_all(path, &size);
    assert_non_null(html);
    assert_int_equal(size, info.html_bytes);
    for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++)
        if (!strstr(html, cells[i]))
            fail_msg("index.html lacks: %s", cells[i]);
    /* self-contained: three embedded images, nothing fetched */
    for (const char *p = html; (p = strstr(p, "<img ")); p++)
        n_img++;
    assert_int_equal(n_img, 3);
    assert_null(strstr(html, "http://"));
    assert_null(strstr(html, "https://"));
    assert_null(strstr(html, "src=\"fig"));
    assert_null(strstr(html, "<link"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<tiny>"));
    free(html);

    /* the activity data: one row per bucket, no point for a bucket
     * without interactions */
    snprintf(path, sizeof(path), "%s/fig_activity.dat", dir);
    html = read_all(path, NULL);
    assert_non_null(strstr(html, "2 \"6-10\" 20 40 0.3403 0.3111 0.175\n"));
    free(html);

    /* again into the same directory, without figures: the old PNGs are
     * not passed off as this report's */
    o.figures = false;
    assert_int_equal(tt_report_write("/dev/null", dir, &o, NULL,
                                     err, sizeof(err)),
                     TT_ERR_PARSE);
    snprintf(path, sizeof(path), "%s/report_small.json", data);
    assert_int_equal(tt_report_write(path, dir, &o, &info, err, sizeof(err)),
                     TT_ERR_OK);
    assert_int_equal(info.figures, 0);
    snprintf(path, sizeof(path), "%s/index.html", dir);
    html = read_all(path, NULL);
    assert_null(strstr(html, "<img "));
    assert_non_null(strstr(html, "report made without figures"));
    assert_non_null(strstr(html, "0.3123"));
    free(html);
    rm_rf(dir);
}

static void test_report_gnuplot_failures(void **state)
{
    char dir[] = "/tmp/tt_report_XXXXXX", out[300], path[512], err[1024];
    char script[300];
    const char *data = getenv("TT_TEST_DATA");
    struct tt_report_opts o;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/report_small.json", data);
    snprintf(out, sizeof(out), "%s/out", dir);
    tt_report_opts_init(&o);

    /* not installed: a clear error, and nothing written */
    o.gnuplot = "/nonexistent/gnuplot";
    assert_int_equal(tt_report_write(path, out, &o, NULL, err, sizeof(err)),
                     TT_ERR_NOTFOUND);
    assert_non_null(strstr(err, "gnuplot-nox"));
    assert_false(file_exists(out, "", NULL));
    o.gnuplot = "no-such-gnuplot-tt";
    assert_int_equal(tt_report_write(path, out, &o, NULL, err, sizeof(err)),
                     TT_ERR_NOTFOUND);
    assert_non_null(strstr(err, "on PATH"));

    /* fails: its message is reported */
    snprintf(script, sizeof(script), "%s/fake-gnuplot", dir);
    f = fopen(script, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\necho \"line 3: no such terminal\" >&2\nexit 1\n", f);
    fclose(f);
    assert_int_equal(chmod(script, 0755), 0);
    o.gnuplot = script;
    assert_int_equal(tt_report_write(path, out, &o, NULL, err, sizeof(err)),
                     TT_ERR_IO);
    assert_non_null(strstr(err, "exit 1"));
    assert_non_null(strstr(err, "no such terminal"));

    /* hangs: killed at the deadline */
    f = fopen(script, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\nexec sleep 30\n", f);
    fclose(f);
    o.timeout_ms = 300;
    assert_int_equal(tt_report_write(path, out, &o, NULL, err, sizeof(err)),
                     TT_ERR_TIMEOUT);
    assert_non_null(strstr(err, "killed"));

    /* succeeds without drawing: noticed */
    f = fopen(script, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\nexit 0\n", f);
    fclose(f);
    assert_int_equal(tt_report_write(path, out, &o, NULL, err, sizeof(err)),
                     TT_ERR_IO);
    assert_non_null(strstr(err, "wrote no"));
    rm_rf(dir);
}

/* Replaces the first occurrence of `from` (after `after`) by `to`. */
static char *replace(const char *src, const char *after, const char *from,
                     const char *to)
{
    const char *start = after ? strstr(src, after) : src;
    const char *p;
    char *out;
    size_t a, b, c;

    assert_non_null(start);
    p = strstr(start, from);
    assert_non_null(p);
    a = (size_t)(p - src);
    b = strlen(to);
    c = strlen(p + strlen(from));
    out = malloc(a + b + c + 1);
    assert_non_null(out);
    memcpy(out, src, a);
    memcpy(out + a, to, b);
    memcpy(out + a + b, p + strlen(from), c + 1);
    return out;
}

struct bad_case {
    const char *after, *from, *to;
    tt_err_t code;
    const char *words;
};

static void test_report_bad_input(void **state)
{
    static const struct bad_case cases[] = {
        {"\"name\": \"gru\"", "\"recall_at_10\": 0.54321,", "", TT_ERR_PARSE,
         "models[1]: missing field \"recall_at_10\""},
        {"\"name\": \"gru\"", "\"mrr\": 0.29876", "\"mrr\": \"0.29876\"",
         TT_ERR_PARSE, "models[1].mrr: expected a number, found a string"},
        {NULL, "\"format\": 1", "\"format\": 2", TT_ERR_VERSION,
         "format 2 is not supported"},
        {NULL, "\"format\": 1", "\"format\": 1.5", TT_ERR_PARSE,
         "format: expected a non-negative integer"},
        {NULL, "\"mrr\": 0.31234567", "\"mrr\": 1.5", TT_ERR_RANGE,
         "models[0].mrr: 1.5 is outside [0, 1]"},
        {NULL, "\"dataset\": {", "\"dataset\": [{", TT_ERR_PARSE, NULL},
        {NULL, "\"test\": {", "\"test\": null, \"x\": {", TT_ERR_PARSE,
         "test: expected an object, found a null"},
        {NULL, "\"hi\": 5", "\"hi\": 0", TT_ERR_RANGE,
         "models[0].buckets[1]: hi 0 is below lo 1"},
        {NULL, "\"steps_max\": 5", "\"steps_max\": 4", TT_ERR_RANGE,
         "mean and n must have steps_max = 4 items"},
        {NULL, "\"steps_max\": 5", "\"steps_max\": 100000", TT_ERR_RANGE,
         "steps_max: 100000 is outside"},
        {NULL, "\"name\": \"gru\"", "\"name\": \"g\\\"ru\"", TT_ERR_RANGE,
         "models[1].name: only letters"},
        {NULL, "\"mean\": [\n            1.0", "\"mean\": [\n  \"x\"",
         TT_ERR_PARSE, "embedding_change.inactive.mean[0]: expected a number "
                       "or null"},
        {NULL, "\"valid_curve\": [\n        {", "\"valid_curve\": [7, {",
         TT_ERR_PARSE, "models[0].valid_curve[0]: expected an object"},
        {NULL, "\"grid\": [", "\"grid\": 3, \"x\": [", TT_ERR_PARSE,
         "tuning.grid: expected an array, found a number"},
        {NULL, "\"scored\": 1000,", "\"scored\": -1000,", TT_ERR_PARSE,
         "test.scored: expected a non-negative integer"},
        {NULL, "\"format\": 1,", "\"format\": 1, \"format\": 1,",
         TT_ERR_PARSE, "duplicate key \"format\""},
    };
    char dir[] = "/tmp/tt_report_XXXXXX", path[300], out[300], err[1024];
    struct tt_report_opts o;
    size_t len;
    char *fx = fixture(&len), *bad;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/bad.json", dir);
    snprintf(out, sizeof(out), "%s/out", dir);
    tt_report_opts_init(&o);
    o.figures = false;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad_case *c = &cases[i];
        tt_err_t rc;

        bad = replace(fx, c->after, c->from, c->to);
        write_all(path, bad, strlen(bad));
        rc = tt_report_write(path, out, &o, NULL, err, sizeof(err));
        if (rc != c->code || (c->words && !strstr(err, c->words)) ||
            !strstr(err, "bad.json: "))
            fail_msg("case %zu: got %s '%s', want %s '%s'", i,
                     tt_err_name(rc), err, tt_err_name(c->code),
                     c->words ? c->words : "");
        free(bad);
    }

    /* an empty models list, a top-level array */
    write_all(path, "{\"format\": 1, \"models\": []}", 27);
    assert_int_equal(tt_report_write(path, out, &o, NULL, err, sizeof(err)),
                     TT_ERR_PARSE);
    write_all(path, "[{\"format\": 1}]", 15);
    assert_int_equal(tt_report_write(path, out, &o, NULL, err, sizeof(err)),
                     TT_ERR_PARSE);
    assert_non_null(strstr(err, "top level"));

    /* every truncation fails cleanly with an offset inside the input */
    for (size_t cut = 0; cut < len - 1; cut += 7) {
        size_t off;
        const char *b;

        write_all(path, fx, cut);
        assert_int_equal(
            tt_report_write(path, out, &o, NULL, err, sizeof(err)),
            TT_ERR_PARSE);
        b = strstr(err, ": byte ");
        assert_non_null(b);
        assert_int_equal(sscanf(b, ": byte %zu", &off), 1);
        assert_true(off <= cut);
    }
    rm_rf(dir);
    free(fx);
}

/* Every number in the fixture replaced by a string, one at a time: an
 * error naming the field, or (for fields the report does not read)
 * success; never a crash. */
static void test_report_type_confusion(void **state)
{
    char dir[] = "/tmp/tt_report_XXXXXX", path[300], out[300], err[1024];
    struct tt_report_opts o;
    size_t len, fails = 0, total = 0;
    char *fx = fixture(&len);

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/t.json", dir);
    snprintf(out, sizeof(out), "%s/out", dir);
    tt_report_opts_init(&o);
    o.figures = false;
    for (size_t i = 0; i < len; i++) {
        size_t j = i;
        char *bad;
        FILE *f;
        tt_err_t rc;

        if (!(fx[i] == '-' || (fx[i] >= '0' && fx[i] <= '9')) ||
            (i && (fx[i - 1] != ' ' && fx[i - 1] != '[')))
            continue;
        while (j < len && strchr("0123456789.eE+-", fx[j]))
            j++;
        bad = malloc(len + 8);
        assert_non_null(bad);
        f = fmemopen(bad, len + 8, "w");
        assert_non_null(f);
        fprintf(f, "%.*s\"s\"%s", (int)i, fx, fx + j);
        fclose(f);
        write_all(path, bad, strlen(bad));
        rc = tt_report_write(path, out, &o, NULL, err, sizeof(err));
        total++;
        if (rc != TT_ERR_OK) {
            fails++;
            assert_true(rc == TT_ERR_PARSE);
            assert_true(strstr(err, "expected") != NULL);
        }
        free(bad);
        i = j;
    }
    /* most numbers are read and checked; a few config ones are not */
    assert_true(total > 100);
    assert_true(fails > total * 9 / 10);
    rm_rf(dir);
    free(fx);
}

/* The fixture as `backtest --live` writes it: plus a "live" member. */
static const char live_member[] =
    ",\n\"live\": {\"input_records\": 5003, \"input_undecodable\": 3, "
    "\"embeddings\": 5000, \"embeddings_undecodable\": 0, "
    "\"embeddings_unmatched\": 0, \"duplicate_embeddings\": 0, "
    "\"conflicting_embeddings\": 0, \"scored\": 998, "
    "\"missing_embedding\": 2, \"missing_model\": 0, "
    "\"first_interactions\": 77, \"after_swap\": 31, "
    "\"read_seconds\": 0.5, \"score_seconds\": 0.25, \"versions\": ["
    "{\"version\": 4, \"source\": \"topic\", \"interactions\": 600, "
    "\"mrr\": 0.25, \"recall_at_10\": 0.5, \"inactive\": {\"interactions\": "
    "500, \"mrr\": 0.2, \"recall_at_10\": 0.4}, \"active\": "
    "{\"interactions\": 100, \"mrr\": 0.5, \"recall_at_10\": 1}}, "
    "{\"version\": 5, \"source\": \"file\", \"interactions\": 398, "
    "\"mrr\": 0.375, \"recall_at_10\": 0.625, \"inactive\": "
    "{\"interactions\": 398, \"mrr\": 0.375, \"recall_at_10\": 0.625}, "
    "\"active\": {\"interactions\": 0, \"mrr\": 0, \"recall_at_10\": 0}}], "
    "\"pairing\": \"...\"}\n}\n";

/* Writes the fixture with `member` spliced in before its closing brace
 * to dir/name; returns the path in buf. */
static void write_live_fixture(const char *dir, const char *name,
                               const char *member, char *buf, size_t size)
{
    char path[512];
    size_t len, end;
    char *doc;
    FILE *f;

    snprintf(path, sizeof(path), "%s/report_small.json",
             getenv("TT_TEST_DATA"));
    doc = read_all(path, &len);
    assert_non_null(doc);
    for (end = len; end > 0 && doc[end - 1] != '}'; end--)
        ;
    assert_true(end > 0);
    snprintf(buf, size, "%s/%s", dir, name);
    f = fopen(buf, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(doc, 1, end - 1, f), end - 1);
    assert_true(fputs(member, f) >= 0);
    assert_int_equal(fclose(f), 0);
    free(doc);
}

/* A live backtest's JSON renders, with its own section; a bad value in
 * the live member fails with its path. */
static void test_report_live(void **state)
{
    char dir[] = "/tmp/tt_report_live_XXXXXX", path[700], err[1024];
    char out[256], bad[sizeof(live_member) + 16];
    const char *const cells[] = {
        "<h2>Live: what the pipeline served</h2>",
        "<td>input records</td><td>5,003</td><td>3 undecodable",
        "<td>test interactions scored</td><td>998</td><td>77 first "
        "interactions (psi), 31 with an embedding from before a model swap",
        "no embedding for the previous interaction: 2;",
        "<tr><td>4</td><td>topic</td><td>600</td><td>0.2500</td>"
        "<td>0.5000</td><td>0.2000</td><td>0.5000</td></tr>",
        "<tr><td>5</td><td>file</td><td>398</td><td>0.3750</td>",
    };
    struct tt_report_opts o;
    struct tt_report_info info;
    char *html, *at;
    size_t size;

    (void)state;
    assert_non_null(mkdtemp(dir));
    write_live_fixture(dir, "live.json", live_member, path, sizeof(path));
    tt_report_opts_init(&o);
    o.figures = false;
    snprintf(out, sizeof(out), "%s/out", dir);
    if (tt_report_write(path, out, &o, &info, err, sizeof(err)) != TT_ERR_OK)
        fail_msg("report: %s", err);
    snprintf(path, sizeof(path), "%s/index.html", out);
    html = read_all(path, &size);
    assert_non_null(html);
    for (size_t i = 0; i < sizeof(cells) / sizeof(*cells); i++)
        if (!strstr(html, cells[i]))
            fail_msg("index.html lacks %s", cells[i]);
    free(html);

    /* offline reports have no live section */
    snprintf(path, sizeof(path), "%s/report_small.json",
             getenv("TT_TEST_DATA"));
    snprintf(out, sizeof(out), "%s/offline", dir);
    assert_int_equal(tt_report_write(path, out, &o, &info, err, sizeof(err)),
                     TT_ERR_OK);
    snprintf(path, sizeof(path), "%s/index.html", out);
    html = read_all(path, &size);
    assert_non_null(html);
    assert_null(strstr(html, "Live: what"));
    free(html);

    /* a string where the second version's MRR belongs */
    snprintf(bad, sizeof(bad), "%s", live_member);
    at = strstr(bad, "\"mrr\": 0.375");
    assert_non_null(at);
    memcpy(at, "\"mrr\": \"0.3\"", 12);
    write_live_fixture(dir, "bad.json", bad, path, sizeof(path));
    snprintf(out, sizeof(out), "%s/bad", dir);
    assert_int_equal(tt_report_write(path, out, &o, &info, err, sizeof(err)),
                     TT_ERR_PARSE);
    if (!strstr(err, "live.versions[1].mrr"))
        fail_msg("unexpected message: %s", err);
    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
}

/* What `twotime backtest --json` writes today, the report reads. */
static void test_report_real_backtest(void **state)
{
    const char *bin = getenv("TT_BINARY");
    char dir[] = "/tmp/tt_report_XXXXXX", cmd[2048], path[300], err[1024];
    struct tt_report_opts o;
    struct tt_report_info info;

    (void)state;
    assert_non_null(bin);
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd),
             "'%s' gen --out '%s/log.csv' --events 4000 --seed 3 >/dev/null "
             "&& '%s' backtest --input '%s/log.csv' --models all "
             "--tstar 10 --k 5 --set model.dim=8 --set train.epochs1=1 "
             "--set train.epochs2=2 --json '%s/bt.json' -q >/dev/null",
             bin, dir, bin, dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/bt.json", dir);
    tt_report_opts_init(&o);
    snprintf(cmd, sizeof(cmd), "%s/report", dir);
    if (tt_report_write(path, cmd, &o, &info, err, sizeof(err)) != TT_ERR_OK)
        fail_msg("%s", err);
    assert_int_equal(info.models, 8);
    assert_int_equal(info.figures, 3);
    rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_fixture),
        cmocka_unit_test(test_report_gnuplot_failures),
        cmocka_unit_test(test_report_bad_input),
        cmocka_unit_test(test_report_type_confusion),
        cmocka_unit_test(test_report_real_backtest),
        cmocka_unit_test(test_report_live),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

