/*
 * Unit tests of schemas/tt_container: round trips through Avro C's file
 * writer and reader, files of another schema or codec refused, and container
 * files built byte by byte here with every framing fault Avro C 1.11 trusts
 * (negative or huge block counts and sizes, wrong sync markers, truncation at
 * every length), malformed and out-of-range records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <avro.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tt_rng.h"
#include "schemas/tt_container.h"
#include "schemas/tt_schema.h"

static char path[64];

static int setup(void **state)
{
    int fd;

    (void)state;
    snprintf(path, sizeof(path), "/tmp/tt_container_XXXXXX");
    fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

static void random_event(struct tt_rng *rng, struct tt_event *ev)
{
    ev->user_id = (int64_t)(tt_rng_next(rng) >> (1 + tt_rng_below(rng, 60)));
    ev->item_id = (int64_t)tt_rng_below(rng, 100000);
    ev->ts_ms = (int64_t)tt_rng_below(rng, TT_EVENT_TS_MAX + 1);
    ev->category = tt_rng_below(rng, 3) == 0
                       ? TT_EVENT_NO_CATEGORY
                       : (int32_t)tt_rng_below(rng, 50);
}

static void test_roundtrip(void **state)
{
    tt_container_writer_t *w;
    tt_container_reader_t *r;
    struct tt_event ev, got;
    struct tt_rng rng;
    char errstr[512];
    bool end;

    (void)state;
    for (int n = 0; n <= 20000; n += 20000) {
        tt_rng_seed(&rng, 21, (uint64_t)n);
        assert_int_equal(tt_container_writer_new(&w, path, errstr,
                                                 sizeof(errstr)),
                         TT_ERR_OK);
        for (int i = 0; i < n; i++) {
            random_event(&rng, &ev);
            assert_int_equal(tt_container_writer_append(w, &ev, errstr,
                                                        sizeof(errstr)),
                             TT_ERR_OK);
        }
        ev.user_id = -1;
        assert_int_equal(tt_container_writer_append(w, &ev, errstr,
                                                    sizeof(errstr)),
                         TT_ERR_RANGE);
        assert_int_equal(tt_container_writer_finish(w, errstr,
                                                    sizeof(errstr)),
                         TT_ERR_OK);
        assert_int_equal(tt_container_writer_finish(w, errstr,
                                                    sizeof(errstr)),
                         TT_ERR_INVAL);
        tt_container_writer_destroy(w);

        if (tt_container_reader_new(&r, path, errstr, sizeof(errstr)))
            fail_msg("%s", errstr);
        assert_int_equal(tt_container_reader_count(r), n);
        tt_rng_seed(&rng, 21, (uint64_t)n);
        for (int i = 0; i < n; i++) {
            random_event(&rng, &ev);
            assert_int_equal(tt_container_reader_next(r, &got, &end, errstr,
                                                      sizeof(errstr)),
                             TT_ERR_OK);
            assert_false(end);
            assert_true(got.user_id == ev.user_id &&
                        got.item_id == ev.item_id && got.ts_ms == ev.ts_ms);
            assert_int_equal(got.category, ev.category);
        }
        for (int k = 0; k < 2; k++) {
            assert_int_equal(tt_container_reader_next(r, &got, &end, errstr,
                                                      sizeof(errstr)),
                             TT_ERR_OK);
            assert_true(end);
        }
        tt_container_reader_destroy(r);
    }
}

/* A container file written by Avro C itself with schema `json`. */
static void write_with_schema(const char *json, const char *codec)
{
    avro_schema_t schema;
    avro_file_writer_t fw;
    avro_value_iface_t *iface;
    avro_value_t v;

    unlink(path);
    assert_int_equal(avro_schema_from_json_length(json, strlen(json),
                                                  &schema),
                     0);
    if (avro_file_writer_create_with_codec(path, schema, &fw, codec, 0))
        fail_msg("%s: %s", codec, avro_strerror());
    iface = avro_generic_class_from_schema(schema);
    assert_int_equal(avro_generic_value_new(iface, &v), 0);
    if (avro_value_get_type(&v) == AVRO_RECORD) {
        avro_value_t f, branch;

        /* A union needs a branch before it can be written: null. */
        assert_int_equal(avro_value_get_by_index(&v, 3, &f, NULL), 0);
        assert_int_equal(avro_value_set_branch(&f, 0, &branch), 0);
    }
    assert_int_equal(avro_file_writer_append_value(fw, &v), 0);
    assert_int_equal(avro_file_writer_close(fw), 0);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
}

static void test_other_schema_and_codec(void **state)
{
    tt_container_reader_t *r = NULL;
    tt_container_writer_t *w = NULL;
    char errstr[512];
    /* Same canonical form: other whitespace, docs, no logicalType. */
    static const char same[] =
        "{\"namespace\":\"io.twotime\",\"type\":\"record\",\"name\":"
        "\"Interaction\",\"doc\":\"x\",\"fields\":[{\"name\":\"user_id\","
        "\"type\":\"long\"},{\"name\":\"item_id\",\"type\":\"long\"},"
        "{\"name\":\"event_time\",\"type\":\"long\"},{\"name\":\"category\","
        "\"type\":[\"null\",\"int\"]}]}";
    static const char other_name[] =
        "{\"type\":\"record\",\"name\":\"Click\",\"fields\":[{\"name\":"
        "\"user_id\",\"type\":\"long\"},{\"name\":\"item_id\",\"type\":"
        "\"long\"},{\"name\":\"event_time\",\"type\":\"long\"},{\"name\":"
        "\"category\",\"type\":[\"null\",\"int\"]}]}";
    static const char int_ids[] =
        "{\"namespace\":\"io.twotime\",\"type\":\"record\",\"name\":"
        "\"Interaction\",\"fields\":[{\"name\":\"user_id\",\"type\":\"int\"},"
        "{\"name\":\"item_id\",\"type\":\"int\"},{\"name\":\"event_time\","
        "\"type\":\"long\"},{\"name\":\"category\",\"type\":[\"null\","
        "\"int\"]}]}";

    (void)state;
    write_with_schema(same, "null");
    assert_int_equal(tt_container_reader_new(&r, path, errstr,
                                             sizeof(errstr)),
                     TT_ERR_OK);
    assert_int_equal(tt_container_reader_count(r), 1);
    tt_container_reader_destroy(r);

    write_with_schema(other_name, "null");
    assert_int_equal(tt_container_reader_new(&r, path, errstr,
                                             sizeof(errstr)),
                     TT_ERR_VERSION);
    assert_non_null(strstr(errstr, "\"Click\""));
    assert_non_null(strstr(errstr, "expected io.twotime.Interaction"));
    write_with_schema(int_ids, "null");
    assert_int_equal(tt_container_reader_new(&r, path, errstr,
                                             sizeof(errstr)),
                     TT_ERR_VERSION);
    write_with_schema("\"long\"", "null");
    assert_int_equal(tt_container_reader_new(&r, path, errstr,
                                             sizeof(errstr)),
                     TT_ERR_VERSION);
    write_with_schema(same, "deflate");
    assert_int_equal(tt_container_reader_new(&r, path, errstr,
                                             sizeof(errstr)),
                     TT_ERR_UNSUPPORTED);
    assert_non_null(strstr(errstr, "deflate"));
    assert_int_equal(tt_container_reader_new(&r, "/nonexistent/x.avro",
                                             errstr, sizeof(errstr)),
                     TT_ERR_IO);
    assert_int_equal(tt_container_writer_new(&w, "/nonexistent/x.avro",
                                             errstr, sizeof(errstr)),
                     TT_ERR_IO);
}

/* ---- container files built by hand ---- */

struct buf {
    uint8_t b[8192];
    size_t n;
};

static void put(struct buf *o, const void *p, size_t n)
{
    assert_true(o->n + n <= sizeof(o->b));
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void put_long(struct buf *o, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);

    while (u >= 0x80) {
        uint8_t c = (uint8_t)(u | 0x80);

        put(o, &c, 1);
        u >>= 7;
    }
    put(o, &(uint8_t){(uint8_t)u}, 1);
}

static void put_str(struct buf *o, const char *s)
{
    put_long(o, (int64_t)strlen(s));
    put(o, s, strlen(s));
}

static const uint8_t sync_marker[16] = "0123456789abcdef";

static void put_header(struct buf *o)
{
    const char *json = tt_schema_get(TT_SCHEMA_INTERACTION)->avsc;

    o->n = 0;
    put(o, "Obj\1", 4);
    put_long(o, 2);
    put_str(o, "avro.schema");
    put_str(o, json);
    put_str(o, "avro.codec");
    put_str(o, "null");
    put_long(o, 0);
    put(o, sync_marker, 16);
}

/* One block of `count` events with ids base..base+count-1. */
static void put_block(struct buf *o, int64_t count, int64_t base)
{
    struct buf rec = {.n = 0};

    for (int64_t i = 0; i < count; i++) {
        put_long(&rec, base + i);      /* user_id */
        put_long(&rec, 2 * (base + i)); /* item_id */
        put_long(&rec, 1000 + i);      /* event_time */
        put_long(&rec, i % 2);         /* null or int branch */
        if (i % 2)
            put_long(&rec, 7);
    }
    put_long(o, count);
    put_long(o, (int64_t)rec.n);
    put(o, rec.b, rec.n);
    put(o, sync_marker, 16);
}

static void write_file(const struct buf *o, size_t n)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(o->b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Opens the file and reads it to the end; returns the reader's first error
 * (or OK) and the number of events read. */
static tt_err_t read_all(uint64_t *n_read, char *errstr, size_t es)
{
    tt_container_reader_t *r;
    struct tt_event ev;
    bool end = false;
    tt_err_t err = tt_container_reader_new(&r, path, errstr, es);

    *n_read = 0;
    if (err)
        return err;
    while (!err && !end) {
        err = tt_container_reader_next(r, &ev, &end, errstr, es);
        if (!err && !end) {
            assert_true(ev.user_id >= 0 && ev.item_id == 2 * ev.user_id);
            (*n_read)++;
        }
    }
    tt_container_reader_destroy(r);
    return err;
}

static void test_handmade_valid(void **state)
{
    struct buf o;
    char errstr[512];
    uint64_t n;

    (void)state;
    put_header(&o);
    write_file(&o, o.n);
    assert_int_equal(read_all(&n, errstr, sizeof(errstr)), TT_ERR_OK);
    assert_int_equal(n, 0);
    put_block(&o, 3, 0);
    put_block(&o, 5, 3);
    write_file(&o, o.n);
    if (read_all(&n, errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    assert_int_equal(n, 8);
}

/* Every prefix of a valid file either is refused or ends on a block
 * boundary and reads exactly the complete blocks. */
static void test_truncations(void **state)
{
    struct buf o;
    size_t bounds[4];
    char errstr[512];
    uint64_t n;

    (void)state;
    put_header(&o);
    bounds[0] = o.n;
    put_block(&o, 2, 0);
    bounds[1] = o.n;
    put_block(&o, 3, 2);
    bounds[2] = o.n;
    put_block(&o, 1, 5);
    bounds[3] = o.n;
    for (size_t len = 0; len <= o.n; len++) {
        tt_err_t err;
        int b = -1;

        write_file(&o, len);
        err = read_all(&n, errstr, sizeof(errstr));
        for (int k = 0; k < 4; k++)
            if (bounds[k] == len)
                b = k;
        if (b < 0) {
            assert_int_equal(err, TT_ERR_PARSE);
        } else {
            static const uint64_t counts[4] = {0, 2, 5, 6};

            assert_int_equal(err, TT_ERR_OK);
            assert_int_equal(n, counts[b]);
        }
    }
}

static void expect_refused(const struct buf *o, const char *needle)
{
    char errstr[512];
    uint64_t n;

    write_file(o, o->n);
    assert_int_equal(read_all(&n, errstr, sizeof(errstr)), TT_ERR_PARSE);
    if (!strstr(errstr, needle))
        fail_msg("error \"%s\" lacks \"%s\"", errstr, needle);
}

static void test_hostile_framing(void **state)
{
    struct buf o;
    size_t hdr;

    (void)state;
    put_header(&o);
    hdr = o.n;
    /* Block counts: negative, zero, huge. */
    put_long(&o, -5);
    put_long(&o, 20);
    expect_refused(&o, "block count not positive");
    o.n = hdr;
    put_long(&o, 0);
    put_long(&o, 0);
    put(&o, sync_marker, 16);
    expect_refused(&o, "block count not positive");
    o.n = hdr;
    put_long(&o, INT64_MAX);
    put_long(&o, 8);
    put(&o, "\2\4\6\0\2\4\6\0", 8);
    put(&o, sync_marker, 16);
    expect_refused(&o, "larger than its bytes hold");
    /* Block sizes: negative, huge, past the end of the file. */
    o.n = hdr;
    put_long(&o, 1);
    put_long(&o, -4);
    expect_refused(&o, "block size out of range");
    o.n = hdr;
    put_long(&o, 1);
    put_long(&o, INT64_C(1) << 50);
    expect_refused(&o, "block size out of range");
    o.n = hdr;
    put_long(&o, 1);
    put_long(&o, 1000);
    put(&o, "\2\4\6\0", 4);
    expect_refused(&o, "past the end");
    /* A wrong sync marker, garbage after the last block. */
    o.n = hdr;
    put_block(&o, 2, 0);
    o.b[o.n - 1] ^= 1;
    expect_refused(&o, "wrong sync marker");
    o.n = hdr;
    put_block(&o, 2, 0);
    put(&o, "\xff\xff", 2);
    expect_refused(&o, "truncated block count");
    /* Header faults: magic, negative metadata length, a huge one. */
    put_header(&o);
    o.b[3] = 2;
    expect_refused(&o, "magic");
    o.n = 0;
    put(&o, "Obj\1", 4);
    put_long(&o, 1);
    put_long(&o, -3);
    expect_refused(&o, "bad metadata length");
    o.n = 0;
    put(&o, "Obj\1", 4);
    put_long(&o, 1);
    put_str(&o, "avro.schema");
    put_long(&o, INT64_C(1) << 40);
    expect_refused(&o, "bad metadata length");
    o.n = 0;
    put(&o, "Obj\1", 4);
    put_long(&o, 1000);
    expect_refused(&o, "too many metadata entries");
    o.n = 0;
    put(&o, "Obj\1", 4);
    put_long(&o, 1);
    put_str(&o, "avro.codec");
    put_str(&o, "null");
    put_long(&o, 0);
    put(&o, sync_marker, 16);
    expect_refused(&o, "no avro.schema");
}

/* A reader of the file at `path`, for reading record by record. */
struct rd {
    tt_container_reader_t *r;
    struct tt_event ev;
    bool end;
    char errstr[512];
};

static void rd_open(struct rd *d)
{
    assert_int_equal(tt_container_reader_new(&d->r, path, d->errstr,
                                             sizeof(d->errstr)),
                     TT_ERR_OK);
}

static tt_err_t rd_next(struct rd *d)
{
    return tt_container_reader_next(d->r, &d->ev, &d->end, d->errstr,
                                    sizeof(d->errstr));
}

static void test_bad_records(void **state)
{
    struct rd d;
    struct buf o;

    (void)state;
    /* Three records: valid, user_id -1 (out of range), valid. */
    put_header(&o);
    put_long(&o, 3);
    put_long(&o, 12);
    put(&o, "\2\4\6\0" "\1\4\6\0" "\4\10\6\0", 12);
    put(&o, sync_marker, 16);
    write_file(&o, o.n);
    rd_open(&d);
    assert_int_equal(rd_next(&d), TT_ERR_OK);
    assert_int_equal(rd_next(&d), TT_ERR_RANGE);
    assert_non_null(strstr(d.errstr, "negative user_id"));
    assert_int_equal(rd_next(&d), TT_ERR_OK);
    assert_true(d.ev.user_id == 2 && d.ev.item_id == 4);
    assert_int_equal(rd_next(&d), TT_ERR_OK);
    assert_true(d.end);
    tt_container_reader_destroy(d.r);

    /* A union branch of 5: a malformed record stops the reader. */
    put_header(&o);
    put_long(&o, 2);
    put_long(&o, 8);
    put(&o, "\2\4\6\12" "\2\4\6\0", 8);
    put(&o, sync_marker, 16);
    write_file(&o, o.n);
    rd_open(&d);
    assert_int_equal(rd_next(&d), TT_ERR_PARSE);
    assert_int_equal(rd_next(&d), TT_ERR_PARSE);
    assert_non_null(strstr(d.errstr, "stopped"));
    tt_container_reader_destroy(d.r);

    /* A block claiming more records than its bytes contain. */
    put_header(&o);
    put_long(&o, 2);
    put_long(&o, 8);
    put(&o, "\2\4\6\0" "\2\4\6\2", 8); /* the second needs a category */
    put(&o, sync_marker, 16);
    write_file(&o, o.n);
    rd_open(&d);
    assert_int_equal(rd_next(&d), TT_ERR_OK);
    assert_int_equal(rd_next(&d), TT_ERR_PARSE);
    tt_container_reader_destroy(d.r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_other_schema_and_codec),
        cmocka_unit_test(test_handmade_valid),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_hostile_framing),
        cmocka_unit_test(test_bad_records),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
