/*
 * Unit tests of the strict JSON reader (model/tt_jdoc) the report reads
 * backtest files with: values and escapes, every kind of malformed input
 * with the byte offset it is reported at, limits, loading a file, and a
 * round trip through the JSON writer (model/tt_json).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/tt_jdoc.h"
#include "model/tt_json.h"
#include "tests/unit/report_fixture.h"

/* ---- helpers ---- */

static tt_jdoc_t *parse_ok(const char *s)
{
    tt_jdoc_t *doc = NULL;
    char err[256] = "";

    if (tt_jdoc_parse(&doc, s, strlen(s), 0, err, sizeof(err)) != TT_ERR_OK)
        fail_msg("'%s' did not parse: %s", s, err);
    return doc;
}

/* Parses s (len bytes), expects `code` and "byte <offset> " in the
 * message, plus `words` when not NULL. */
static void parse_bad_n(const char *s, size_t len, tt_err_t code,
                        size_t offset, const char *words)
{
    tt_jdoc_t *doc = (tt_jdoc_t *)1;
    char err[256] = "", want[64];
    tt_err_t rc = tt_jdoc_parse(&doc, s, len, 0, err, sizeof(err));

    if (rc != code)
        fail_msg("'%.*s': got %s (%s), want %s", (int)len, s, tt_err_name(rc),
                 err, tt_err_name(code));
    assert_null(doc);
    snprintf(want, sizeof(want), "byte %zu ", offset);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("'%.*s': message '%s' does not start with '%s'", (int)len,
                 s, err, want);
    if (words && !strstr(err, words))
        fail_msg("'%.*s': message '%s' lacks '%s'", (int)len, s, err, words);
}

static void parse_bad(const char *s, tt_err_t code, size_t offset,
                      const char *words)
{
    parse_bad_n(s, strlen(s), code, offset, words);
}

/* ---- JSON reader ---- */

static void test_jdoc_values(void **state)
{
    tt_jdoc_t *doc;
    const struct tt_jval *r, *v;

    (void)state;
    doc = parse_ok(" {\"a\": [1, -0, 2.5e3, -9223372036854775808, "
                   "9223372036854775808, 1E-2],\n \"s\": \"q\\\"\\\\\\/\\b"
                   "\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\\u0000z\", "
                   "\"t\": true, \"f\": false, \"n\": null, \"o\": {}, "
                   "\"e\": [], \"\xc3\xa9\": 1} ");
    r = tt_jdoc_root(doc);
    assert_int_equal(r->type, TT_JOBJECT);
    assert_int_equal(r->n, 8);
    assert_int_equal(r->offset, 1);
    v = tt_jdoc_get(r, "a");
    assert_non_null(v);
    assert_int_equal(v->type, TT_JARRAY);
    assert_int_equal(v->n, 6);
    assert_true(v->u.items[0].is_int);
    assert_int_equal(v->u.items[0].u.num.i, 1);
    assert_true(v->u.items[1].is_int);
    assert_true(signbit(v->u.items[1].u.num.d));
    assert_false(v->u.items[2].is_int);
    assert_true(v->u.items[2].u.num.d == 2500.0);
    assert_true(v->u.items[3].is_int);
    assert_true(v->u.items[3].u.num.i == INT64_MIN);
    /* beyond int64: a double only */
    assert_false(v->u.items[4].is_int);
    assert_true(v->u.items[4].u.num.d == 9223372036854775808.0);
    assert_true(v->u.items[5].u.num.d == 0.01);
    assert_int_equal(v->u.items[0].offset, 8);
    v = tt_jdoc_get(r, "s");
    assert_int_equal(v->type, TT_JSTRING);
    assert_int_equal(v->n, 17);
    assert_memory_equal(v->u.s, "q\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80\0z",
                        18);
    assert_true(tt_jdoc_get(r, "t")->u.b);
    assert_false(tt_jdoc_get(r, "f")->u.b);
    assert_int_equal(tt_jdoc_get(r, "n")->type, TT_JNULL);
    assert_int_equal(tt_jdoc_get(r, "o")->n, 0);
    assert_int_equal(tt_jdoc_get(r, "e")->type, TT_JARRAY);
    assert_non_null(tt_jdoc_get(r, "\xc3\xa9"));
    assert_null(tt_jdoc_get(r, "missing"));
    assert_null(tt_jdoc_get(tt_jdoc_get(r, "a"), "a"));
    assert_string_equal(tt_jdoc_type_name(TT_JOBJECT), "object");
    tt_jdoc_destroy(doc);
    tt_jdoc_destroy(NULL);

    /* scalars at the top level, a byte order mark */
    doc = parse_ok("\xef\xbb\xbf 42 ");
    assert_int_equal(tt_jdoc_root(doc)->u.num.i, 42);
    tt_jdoc_destroy(doc);
}

static void test_jdoc_errors(void **state)
{
    (void)state;
    parse_bad("", TT_ERR_PARSE, 0, "empty");
    parse_bad("  \n ", TT_ERR_PARSE, 4, "empty");
    parse_bad("[1,2,", TT_ERR_PARSE, 5, "a JSON value");
    parse_bad("[1,2,]", TT_ERR_PARSE, 5, "found ']'");
    parse_bad("{\"a\":1,}", TT_ERR_PARSE, 7, "a string key");
    parse_bad("{\"a\" 1}", TT_ERR_PARSE, 5, "':'");
    parse_bad("{\"a\":1 \"b\":2}", TT_ERR_PARSE, 7, "',' or '}'");
    parse_bad("[1 2]", TT_ERR_PARSE, 3, "',' or ']'");
    parse_bad("{'a':1}", TT_ERR_PARSE, 1, "a string key");
    parse_bad("[01]", TT_ERR_PARSE, 1, "leading zeros");
    parse_bad("[-]", TT_ERR_PARSE, 2, "a digit");
    parse_bad("[+1]", TT_ERR_PARSE, 1, "a JSON value");
    parse_bad("[1.]", TT_ERR_PARSE, 3, "decimal point");
    parse_bad("[.5]", TT_ERR_PARSE, 1, NULL);
    parse_bad("[1e]", TT_ERR_PARSE, 3, "exponent");
    parse_bad("[NaN]", TT_ERR_PARSE, 1, NULL);
    parse_bad("[Infinity]", TT_ERR_PARSE, 1, NULL);
    parse_bad("[tru]", TT_ERR_PARSE, 1, NULL);
    parse_bad("[1] x", TT_ERR_PARSE, 4, "nothing after");
    parse_bad("[1] // c", TT_ERR_PARSE, 4, NULL);
    parse_bad("\"abc", TT_ERR_PARSE, 0, "unterminated");
    parse_bad("\"ab\\\"", TT_ERR_PARSE, 0, "unterminated");
    parse_bad("\"a\tb\"", TT_ERR_PARSE, 2, "control character 0x09");
    parse_bad("\"\\x\"", TT_ERR_PARSE, 2, "after a backslash");
    parse_bad("\"\\u12g4\"", TT_ERR_PARSE, 5, "hexadecimal");
    parse_bad("\"\\ud800\"", TT_ERR_PARSE, 1, "high surrogate");
    parse_bad("\"\\ud800\\u0041\"", TT_ERR_PARSE, 7, "not a low one");
    parse_bad("\"\\udc00\"", TT_ERR_PARSE, 1, "low surrogate");
    parse_bad("\"\xc3\x28\"", TT_ERR_PARSE, 1, "UTF-8");
    parse_bad("\"\xc0\x80\"", TT_ERR_PARSE, 1, "UTF-8");         /* overlong */
    parse_bad("\"\xed\xa0\x80\"", TT_ERR_PARSE, 1, "UTF-8");     /* surrogate */
    parse_bad("\"\xf4\x90\x80\x80\"", TT_ERR_PARSE, 1, "UTF-8"); /* > 10FFFF */
    parse_bad("\"\xe2\x82\"", TT_ERR_PARSE, 1, "UTF-8");         /* cut */
    parse_bad_n("[\0]", 3, TT_ERR_PARSE, 1, "byte 0x00");
    parse_bad("{\"a\":1,\"a\":2}", TT_ERR_PARSE, 11, "duplicate key \"a\"");
    parse_bad("1e999", TT_ERR_RANGE, 0, "range of a double");
    parse_bad("-1e999", TT_ERR_RANGE, 0, "range of a double");
    /* line and column */
    parse_bad("{\n  \"a\": [1,\n   x]}", TT_ERR_PARSE, 16,
              "(line 3, column 4)");
}

static void test_jdoc_limits(void **state)
{
    char deep[2 * TT_JDOC_DEPTH_MAX + 4], big[4096];
    char num[TT_JDOC_NUMBER_MAX + 8];
    tt_jdoc_t *doc;
    char err[256];
    size_t n = 0;
    int d;

    (void)state;
    /* TT_JDOC_DEPTH_MAX levels parse, one more does not */
    for (d = 0; d < TT_JDOC_DEPTH_MAX; d++)
        deep[n++] = '[';
    for (d = 0; d < TT_JDOC_DEPTH_MAX; d++)
        deep[n++] = ']';
    deep[n] = '\0';
    tt_jdoc_destroy(parse_ok(deep));
    memmove(deep + 1, deep, n + 1);
    deep[0] = '[';
    deep[n + 1] = ']';
    deep[n + 2] = '\0';
    parse_bad(deep, TT_ERR_RANGE, TT_JDOC_DEPTH_MAX, "nesting deeper");

    /* the size limit */
    assert_int_equal(tt_jdoc_parse(&doc, "[1, 2]", 6, 5, err, sizeof(err)),
                     TT_ERR_RANGE);
    assert_non_null(strstr(err, "limit"));
    assert_int_equal(tt_jdoc_parse(&doc, "[1, 2]", 6, 6, err, sizeof(err)),
                     TT_ERR_OK);
    tt_jdoc_destroy(doc);

    /* number literals are bounded */
    memset(num, '1', TT_JDOC_NUMBER_MAX);
    num[TT_JDOC_NUMBER_MAX] = '\0';
    tt_jdoc_destroy(parse_ok(num));
    num[TT_JDOC_NUMBER_MAX] = '1';
    num[TT_JDOC_NUMBER_MAX + 1] = '\0';
    parse_bad(num, TT_ERR_RANGE, 0, "longer than");

    /* a large object is checked for duplicates too (the sorted path) */
    n = (size_t)snprintf(big, sizeof(big), "{");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "\"k%d\":%d,", i, i);
    snprintf(big + n - 1, sizeof(big) - n + 1, "}");
    doc = parse_ok(big);
    assert_int_equal(tt_jdoc_root(doc)->n, 100);
    assert_int_equal(tt_jdoc_get(tt_jdoc_root(doc), "k77")->u.num.i, 77);
    tt_jdoc_destroy(doc);
    n = strlen(big);
    snprintf(big + n - 1, sizeof(big) - n + 1, ",\"k42\":0}");
    parse_bad(big, TT_ERR_PARSE, n + 6, "duplicate key \"k42\"");
}

static void test_jdoc_load(void **state)
{
    char dir[] = "/tmp/tt_report_XXXXXX", path[256], err[512];
    tt_jdoc_t *doc;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/none.json", dir);
    assert_int_equal(tt_jdoc_load(&doc, path, 0, err, sizeof(err)),
                     TT_ERR_IO);
    assert_non_null(strstr(err, "none.json"));
    snprintf(path, sizeof(path), "%s/x.json", dir);
    write_all(path, "{\"a\": [1, 2", 11);
    assert_int_equal(tt_jdoc_load(&doc, path, 0, err, sizeof(err)),
                     TT_ERR_PARSE);
    assert_non_null(strstr(err, "x.json: byte 11 "));
    write_all(path, "[1, 2, 3]", 9);
    assert_int_equal(tt_jdoc_load(&doc, path, 8, err, sizeof(err)),
                     TT_ERR_RANGE);
    assert_int_equal(tt_jdoc_load(&doc, path, 9, err, sizeof(err)),
                     TT_ERR_OK);
    assert_int_equal(tt_jdoc_root(doc)->n, 3);
    tt_jdoc_destroy(doc);
    rm_rf(dir);
}

static void write_doc(struct tt_json *w)
{
    const char odd[] = "a\"\\\x01\x7f\xff\xc3\xa9\xe2\x82\xac";

    tt_json_obj_begin(w);
    tt_json_key(w, "odd");
    tt_json_strn(w, odd, sizeof(odd) - 1);
    tt_json_key(w, "u");
    tt_json_uint(w, UINT64_MAX);
    tt_json_key(w, "i");
    tt_json_int(w, INT64_MIN);
    tt_json_key(w, "d");
    tt_json_double(w, 0.1);
    tt_json_key(w, "nan");
    tt_json_double(w, NAN);
    tt_json_key(w, "list");
    tt_json_arr_begin(w);
    tt_json_num(w, 1.5);
    tt_json_bool(w, true);
    tt_json_arr_end(w);
    tt_json_obj_end(w);
}

/* What the project's JSON writer writes, the reader reads back. */
static void test_jdoc_writer_round_trip(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct tt_json w;
    tt_jdoc_t *doc;
    const struct tt_jval *r, *v;

    (void)state;
    assert_non_null(f);
    tt_json_init(&w, f, 2);
    write_doc(&w);
    assert_int_equal(tt_json_finish(&w), TT_ERR_OK);
    fclose(f);
    doc = parse_ok(buf);
    r = tt_jdoc_root(doc);
    v = tt_jdoc_get(r, "odd");
    /* the writer replaced the invalid byte 0xff by U+FFFD */
    assert_int_equal(v->n, 13);
    assert_memory_equal(v->u.s, "a\"\\\x01\x7f\xef\xbf\xbd\xc3\xa9\xe2\x82\xac",
                        13);
    v = tt_jdoc_get(r, "u");
    assert_false(v->is_int);
    assert_true(v->u.num.d == 18446744073709551615.0);
    v = tt_jdoc_get(r, "i");
    assert_true(v->is_int && v->u.num.i == INT64_MIN);
    assert_true(tt_jdoc_get(r, "d")->u.num.d == 0.1);
    assert_int_equal(tt_jdoc_get(r, "nan")->type, TT_JNULL);
    assert_int_equal(tt_jdoc_get(r, "list")->n, 2);
    tt_jdoc_destroy(doc);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jdoc_values),
        cmocka_unit_test(test_jdoc_errors),
        cmocka_unit_test(test_jdoc_limits),
        cmocka_unit_test(test_jdoc_load),
        cmocka_unit_test(test_jdoc_writer_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
