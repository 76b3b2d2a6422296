/*
 * Unit tests of schemas/tt_schema: the CRC-64-AVRO fingerprint against the
 * Avro specification's algorithm and its test vectors, Parsing Canonical
 * Forms of Avro's share/test/data/schema-tests.txt, and the embedded .avsc
 * texts against the files on disk with their written-down canonical forms and
 * fingerprints.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"
#include "schemas/tt_schema.h"

/* The Avro specification's fingerprint64, transcribed literally (table built
 * by initFPTable, then one table step per byte). */
static uint64_t spec_fingerprint64(const uint8_t *buf, size_t len)
{
    const uint64_t empty = UINT64_C(0xc15d213aa4d7a795);
    uint64_t table[256];
    uint64_t fp;

    for (int i = 0; i < 256; i++) {
        fp = (uint64_t)i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (empty & (0 - (fp & 1)));
        table[i] = fp;
    }
    fp = empty;
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ table[(fp ^ buf[i]) & 0xff];
    return fp;
}

static void test_fingerprint_matches_spec(void **state)
{
    struct tt_rng rng;
    uint8_t buf[300];

    (void)state;
    tt_rng_seed(&rng, 1, 0);
    assert_true(tt_schema_fingerprint("", 0) ==
                UINT64_C(0xc15d213aa4d7a795));
    for (int t = 0; t < 500; t++) {
        size_t n = tt_rng_below(&rng, sizeof(buf));

        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)tt_rng_next(&rng);
        assert_true(tt_schema_fingerprint(buf, n) ==
                    spec_fingerprint64(buf, n));
    }
}

/* Inputs, canonical forms and fingerprints (Java longs) from Avro's
 * share/test/data/schema-tests.txt; only those Avro C 1.11 parses. */
static const struct {
    const char *input;
    const char *canonical;
    int64_t fingerprint;
} pcf_vectors[] = {
    {"\"null\"", "\"null\"", INT64_C(7195948357588979594)},
    {"{\"type\":\"boolean\"}", "\"boolean\"", INT64_C(-6970731678124411036)},
    {"\"int\"", "\"int\"", INT64_C(8247732601305521295)},
    {"{\"type\":\"long\"}", "\"long\"", INT64_C(-3434872931120570953)},
    {"\"float\"", "\"float\"", INT64_C(5583340709985441680)},
    {"\"double\"", "\"double\"", INT64_C(-8181574048448539266)},
    {"\"bytes\"", "\"bytes\"", INT64_C(5746618253357095269)},
    {"\"string\"", "\"string\"", INT64_C(-8142146995180207161)},
    {"[ \"int\"  ]", "[\"int\"]", INT64_C(-5232228896498058493)},
    {"[ \"int\" , {\"type\":\"boolean\"} ]", "[\"int\",\"boolean\"]",
     INT64_C(5392556393470105090)},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}",
     INT64_C(-4824392279771201922)},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", "
     "\"namespace\":\"x.y\"}",
     "{\"name\":\"x.y.foo\",\"type\":\"record\",\"fields\":[]}",
     INT64_C(5916914534497305771)},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", "
     "\"doc\":\"Useful info\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}",
     INT64_C(-4824392279771201922)},
    {"{\"fields\":[{\"type\":{\"type\":\"boolean\"}, \"name\":\"f1\"}], "
     "\"type\":\"record\", \"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\","
     "\"type\":\"boolean\"}]}",
     INT64_C(7843277075252814651)},
    {"{ \"fields\":[{\"type\":\"boolean\", \"aliases\":[], \"name\":\"f1\", "
     "\"default\":true},{\"order\":\"descending\",\"name\":\"f2\","
     "\"doc\":\"Hello\",\"type\":\"int\"}], \"type\":\"record\", "
     "\"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\","
     "\"type\":\"boolean\"},{\"name\":\"f2\",\"type\":\"int\"}]}",
     INT64_C(-4860222112080293046)},
    {"{\"type\":\"enum\", \"name\":\"foo\", \"symbols\":[\"A1\"]}",
     "{\"name\":\"foo\",\"type\":\"enum\",\"symbols\":[\"A1\"]}",
     INT64_C(-6342190197741309591)},
    {"{\"namespace\":\"x.y.z\", \"type\":\"enum\", \"name\":\"foo\", "
     "\"doc\":\"foo bar\", \"symbols\":[\"A1\", \"A2\"]}",
     "{\"name\":\"x.y.z.foo\",\"type\":\"enum\",\"symbols\":[\"A1\","
     "\"A2\"]}",
     INT64_C(-4448647247586288245)},
    {"{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}",
     "{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}",
     INT64_C(1756455273707447556)},
    {"{\"namespace\":\"x.y.z\", \"type\":\"fixed\", \"name\":\"foo\", "
     "\"doc\":\"foo bar\", \"size\":32}",
     "{\"name\":\"x.y.z.foo\",\"type\":\"fixed\",\"size\":32}",
     INT64_C(-3064184465700546786)},
    {"{ \"items\":{\"type\":\"null\"}, \"type\":\"array\"}",
     "{\"type\":\"array\",\"items\":\"null\"}", INT64_C(-589620603366471059)},
    {"{ \"values\":\"string\", \"type\":\"map\"}",
     "{\"type\":\"map\",\"values\":\"string\"}",
     INT64_C(-8732877298790414990)},
    {"{\"name\":\"PigValue\",\"type\":\"record\",\"fields\":[{\"name\":"
     "\"value\", \"type\":[\"null\", \"int\", \"long\", \"PigValue\"]}]}",
     "{\"name\":\"PigValue\",\"type\":\"record\",\"fields\":[{\"name\":"
     "\"value\",\"type\":[\"null\",\"int\",\"long\",\"PigValue\"]}]}",
     INT64_C(-1759257747318642341)},
};

static void test_canonical_form_vectors(void **state)
{
    char out[1024], errstr[256];
    size_t n;

    (void)state;
    for (size_t i = 0; i < sizeof(pcf_vectors) / sizeof(pcf_vectors[0]);
         i++) {
        const char *in = pcf_vectors[i].input;
        tt_err_t err = tt_schema_canonical(in, strlen(in), out, sizeof(out),
                                           &n, errstr, sizeof(errstr));

        if (err)
            fail_msg("vector %zu: %s", i, errstr);
        assert_string_equal(out, pcf_vectors[i].canonical);
        assert_int_equal(n, strlen(out));
        assert_true(tt_schema_fingerprint(out, n) ==
                    (uint64_t)pcf_vectors[i].fingerprint);
    }
    /* Too small a buffer and a broken schema are errors, not crashes. */
    assert_int_equal(tt_schema_canonical(pcf_vectors[10].input,
                                         strlen(pcf_vectors[10].input), out,
                                         8, &n, errstr, sizeof(errstr)),
                     TT_ERR_OVERFLOW);
    assert_int_equal(tt_schema_canonical("{\"type\":", 8, out, sizeof(out),
                                         &n, errstr, sizeof(errstr)),
                     TT_ERR_PARSE);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = n >= 0 ? calloc(1, (size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* The .avsc files are the one source: the embedded text is theirs, and the
 * written-down canonical forms and fingerprints follow from them. */
static void test_schemas_match_disk(void **state)
{
    static const char *const files[TT_SCHEMA__COUNT] = {
        "interaction.avsc", "user_embedding.avsc", "model_record.avsc"};
    static const uint64_t fps[TT_SCHEMA__COUNT] = {
        TT_SCHEMA_FP_INTERACTION, TT_SCHEMA_FP_USER_EMBEDDING,
        TT_SCHEMA_FP_MODEL_RECORD};
    const char *src = getenv("TT_SOURCE_DIR");
    char path[4096], pcf[2048], errstr[256];
    struct tt_schema_writer w;
    size_t n;

    (void)state;
    assert_non_null(src);
    for (int i = 0; i < TT_SCHEMA__COUNT; i++) {
        const struct tt_schema_info *info = tt_schema_get(i);
        char *text;

        snprintf(path, sizeof(path), "%s/schemas/%s", src, files[i]);
        text = read_file(path);
        assert_non_null(text);
        assert_string_equal(text, info->avsc);
        free(text);
        assert_int_equal(tt_schema_canonical(info->avsc, strlen(info->avsc),
                                             pcf, sizeof(pcf), &n, errstr,
                                             sizeof(errstr)),
                         TT_ERR_OK);
        assert_string_equal(pcf, info->canonical);
        assert_true(info->fingerprint == fps[i]);
        assert_true(spec_fingerprint64((const uint8_t *)pcf, n) == fps[i]);
        assert_true(tt_schema_lookup(fps[i], &w));
        assert_int_equal(w.schema, i);
        assert_int_equal(w.version, 1);
    }
    assert_false(tt_schema_lookup(12345, &w));
    assert_null(tt_schema_get(TT_SCHEMA__COUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprint_matches_spec),
        cmocka_unit_test(test_canonical_form_vectors),
        cmocka_unit_test(test_schemas_match_disk),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
