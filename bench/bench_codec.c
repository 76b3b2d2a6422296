/*
 * bench_codec: nanoseconds per encode and decode of the Kafka messages.
 *
 *   event            Interaction, hand-written codec vs Avro C generic values
 *   embedding d=64   UserEmbedding with the embedding as `bytes` (the wire
 *                    format), both codecs
 *   array<float>     the same record with `array<float>` instead, through
 *                    Avro C generic values (one call per element) and by
 *                    hand, to show what the choice of `bytes` saves
 *   model record     a ~900 KB ModelRecord (CRC-32C dominated), MB/s
 *
 * Each figure is the median of 5 runs.  Usage: bench_codec [iterations]
 */
#include <avro.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tt_rng.h"
#include "common/tt_time.h"
#include "schemas/tt_codec.h"

#define RUNS 5
#define DIM 64

static uint64_t sink; /* defeats dead-code elimination */

struct bench {
    const char *name;
    void (*fn)(void *ctx, long iters);
    void *ctx;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median_ns(void (*fn)(void *, long), void *ctx, long iters)
{
    double t[RUNS];

    fn(ctx, iters / 10 + 1); /* warm caches and branch predictors */
    for (int r = 0; r < RUNS; r++) {
        uint64_t t0 = tt_time_mono_ns();

        fn(ctx, iters);
        t[r] = (double)(tt_time_mono_ns() - t0) / (double)iters;
    }
    qsort(t, RUNS, sizeof(t[0]), cmp_double);
    return t[RUNS / 2];
}

/* ---- context shared by the benchmarks ---- */

struct ctx {
    tt_codec_t *codec;
    struct tt_event ev[256];
    float emb[DIM];
    struct tt_embedding_rec rec;
    uint8_t msg[TT_CODEC_EMBEDDING_MAX(DIM)];
    size_t msg_len;
    float out[DIM];
    /* array<float> variant through Avro C */
    avro_schema_t arr_schema;
    avro_value_iface_t *arr_iface;
    avro_value_t arr_value;
    avro_writer_t writer;
    avro_reader_t reader;
    uint8_t arr_msg[TT_CODEC_EMBEDDING_MAX(DIM) + 16];
    size_t arr_len;
    /* model record */
    uint8_t *payload;
    uint8_t *big;
    size_t big_len;
};

static void b_event_encode(void *p, long iters)
{
    struct ctx *c = p;
    uint8_t buf[TT_CODEC_EVENT_MAX];
    size_t n;

    for (long i = 0; i < iters; i++) {
        tt_codec_encode_event(c->codec, &c->ev[i & 255], buf, sizeof(buf),
                              &n, NULL, 0);
        sink += n + buf[n - 1];
    }
}

static void b_event_decode(void *p, long iters)
{
    struct ctx *c = p;
    uint8_t buf[256][TT_CODEC_EVENT_MAX];
    size_t n[256];
    struct tt_event ev;

    for (int k = 0; k < 256; k++)
        tt_codec_encode_event(c->codec, &c->ev[k], buf[k], sizeof(buf[k]),
                              &n[k], NULL, 0);
    for (long i = 0; i < iters; i++) {
        tt_codec_decode_event(c->codec, buf[i & 255], n[i & 255], &ev, NULL,
                              0);
        sink += (uint64_t)ev.item_id;
    }
}

static void b_emb_encode(void *p, long iters)
{
    struct ctx *c = p;
    uint8_t buf[TT_CODEC_EMBEDDING_MAX(DIM)];
    size_t n;

    for (long i = 0; i < iters; i++) {
        c->rec.user_id = i;
        tt_codec_encode_embedding(c->codec, &c->rec, buf, sizeof(buf), &n,
                                  NULL, 0);
        sink += n + buf[n - 1];
    }
}

static void b_emb_decode(void *p, long iters)
{
    struct ctx *c = p;
    struct tt_embedding_rec r;

    for (long i = 0; i < iters; i++) {
        tt_codec_decode_embedding(c->codec, c->msg, c->msg_len, &r, c->out,
                                  DIM, NULL, 0);
        sink += (uint64_t)r.user_id + (uint64_t)c->out[i & (DIM - 1)];
    }
}

/* array<float> through Avro C: one avro_value_append + set_float per
 * element, and one get_by_index + get_float per element back. */
static void b_arr_avro_encode(void *p, long iters)
{
    struct ctx *c = p;
    avro_value_t *v = &c->arr_value;
    avro_value_t f, arr, el;

    for (long i = 0; i < iters; i++) {
        avro_value_get_by_index(v, 0, &f, NULL);
        avro_value_set_long(&f, i);
        avro_value_get_by_index(v, 1, &arr, NULL);
        avro_value_reset(&arr);
        for (int k = 0; k < DIM; k++) {
            avro_value_append(&arr, &el, NULL);
            avro_value_set_float(&el, c->emb[k]);
        }
        avro_writer_memory_set_dest(c->writer, (const char *)c->arr_msg + 10,
                                    (int64_t)sizeof(c->arr_msg) - 10);
        avro_value_write(c->writer, v);
        sink += (uint64_t)avro_writer_tell(c->writer);
    }
}

static void b_arr_avro_decode(void *p, long iters)
{
    struct ctx *c = p;
    avro_value_t *v = &c->arr_value;
    avro_value_t arr, el;
    size_t n;

    for (long i = 0; i < iters; i++) {
        avro_reader_memory_set_source(c->reader,
                                      (const char *)c->arr_msg + 10,
                                      (int64_t)c->arr_len - 10);
        avro_value_read(c->reader, v);
        avro_value_get_by_index(v, 1, &arr, NULL);
        avro_value_get_size(&arr, &n);
        for (size_t k = 0; k < n && k < DIM; k++) {
            avro_value_get_by_index(&arr, k, &el, NULL);
            avro_value_get_float(&el, &c->out[k]);
        }
        sink += n + (uint64_t)c->out[i & (DIM - 1)];
    }
}

/* array<float> by hand: one block of DIM floats then the 0 terminator; the
 * per-element cost in C is a 4-byte copy either way. */
static void b_arr_hand_encode(void *p, long iters)
{
    struct ctx *c = p;
    uint8_t buf[TT_CODEC_EMBEDDING_MAX(DIM) + 16];

    for (long i = 0; i < iters; i++) {
        uint8_t *q = buf + 10;

        *q++ = (uint8_t)(i << 1);
        *q++ = 0x80; /* zigzag(64) = 128: two varint bytes */
        *q++ = 0x01;
        memcpy(q, c->emb, 4 * DIM);
        q += 4 * DIM;
        *q++ = 0;
        sink += (uint64_t)(q - buf) + buf[13 + (i & 255)];
    }
}

static void b_modelrec(void *p, long iters)
{
    struct ctx *c = p;
    struct tt_modelrec r = {TT_MODELREC_ITEMS, 1, 2, c->payload,
                            TT_MODELREC_MAX_PAYLOAD, 0};
    size_t n;

    for (long i = 0; i < iters; i++) {
        tt_codec_encode_modelrec(c->codec, &r, c->big,
                                 TT_CODEC_MODELREC_MAX(r.payload_len), &n,
                                 NULL, 0);
        tt_codec_decode_modelrec(c->codec, c->big, n, &r, NULL, 0);
        r.payload = c->payload;
        sink += n;
    }
}

static int setup_array(struct ctx *c)
{
    static const char json[] =
        "{\"type\":\"record\",\"name\":\"UserEmbeddingArray\",\"fields\":["
        "{\"name\":\"user_id\",\"type\":\"long\"},"
        "{\"name\":\"embedding\",\"type\":{\"type\":\"array\",\"items\":"
        "\"float\"}},"
        "{\"name\":\"dim\",\"type\":\"int\"},"
        "{\"name\":\"model_version\",\"type\":\"long\"},"
        "{\"name\":\"cell\",\"type\":{\"type\":\"enum\",\"name\":\"Cell\","
        "\"symbols\":[\"ACTIVE\",\"INACTIVE\"]}},"
        "{\"name\":\"interaction_count\",\"type\":\"long\"},"
        "{\"name\":\"event_time\",\"type\":\"long\"},"
        "{\"name\":\"input_partition\",\"type\":\"int\"},"
        "{\"name\":\"input_offset\",\"type\":\"long\"}]}";

    if (avro_schema_from_json_length(json, sizeof(json) - 1,
                                     &c->arr_schema) != 0)
        return -1;
    c->arr_iface = avro_generic_class_from_schema(c->arr_schema);
    if (!c->arr_iface ||
        avro_generic_value_new(c->arr_iface, &c->arr_value) != 0)
        return -1;
    c->writer = avro_writer_memory(NULL, 0);
    c->reader = avro_reader_memory(NULL, 0);
    b_arr_avro_encode(c, 1);
    c->arr_len = 10 + (size_t)avro_writer_tell(c->writer);
    return 0;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    static struct ctx c;
    tt_codec_t *fast, *ref;
    struct tt_rng rng;
    char errstr[256];
    double t;

    if (iters <= 0 || tt_codec_new(&fast, errstr, sizeof(errstr)) ||
        tt_codec_new_ref(&ref, errstr, sizeof(errstr))) {
        fprintf(stderr, "bench_codec: %s\n", errstr);
        return 1;
    }
    tt_rng_seed(&rng, 42, 0);
    for (int k = 0; k < 256; k++) {
        c.ev[k].user_id = (int64_t)tt_rng_below(&rng, 10000000);
        c.ev[k].item_id = (int64_t)tt_rng_below(&rng, 1000000);
        c.ev[k].ts_ms = INT64_C(1700000000000) + k;
        c.ev[k].category = k % 3 ? (int32_t)(k % 50) : TT_EVENT_NO_CATEGORY;
    }
    for (int k = 0; k < DIM; k++)
        c.emb[k] = (float)tt_rng_normal(&rng);
    c.rec = (struct tt_embedding_rec){
        .user_id = 123456, .emb = c.emb, .dim = DIM, .model_version = 3,
        .cell = TT_EMB_ACTIVE, .interaction_count = 250,
        .event_time = INT64_C(1700000000000), .input_partition = 5,
        .input_offset = 987654321};
    c.payload = calloc(1, TT_MODELREC_MAX_PAYLOAD);
    c.big = malloc(TT_CODEC_MODELREC_MAX(TT_MODELREC_MAX_PAYLOAD));
    if (!c.payload || !c.big || setup_array(&c) != 0) {
        fprintf(stderr, "bench_codec: setup failed\n");
        return 1;
    }
    for (size_t i = 0; i < TT_MODELREC_MAX_PAYLOAD; i++)
        c.payload[i] = (uint8_t)tt_rng_next(&rng);

    printf("bench_codec: median of %d runs of %ld iterations, ns per "
           "operation\n",
           RUNS, iters);
    printf("%-44s %10s %10s\n", "", "hand", "Avro C");
    for (int op = 0; op < 4; op++) {
        static const char *const names[4] = {
            "Interaction encode", "Interaction decode",
            "UserEmbedding d=64 (bytes) encode",
            "UserEmbedding d=64 (bytes) decode"};
        void (*fn)(void *, long) = op == 0   ? b_event_encode
                                   : op == 1 ? b_event_decode
                                   : op == 2 ? b_emb_encode
                                             : b_emb_decode;
        double th, ta;

        c.codec = fast;
        tt_codec_encode_embedding(fast, &c.rec, c.msg, sizeof(c.msg),
                                  &c.msg_len, NULL, 0);
        th = median_ns(fn, &c, iters);
        c.codec = ref;
        ta = median_ns(fn, &c, iters);
        printf("%-44s %10.1f %10.1f\n", names[op], th, ta);
    }
    printf("%-44s %10.1f %10.1f\n", "UserEmbedding d=64 (array<float>) encode",
           median_ns(b_arr_hand_encode, &c, iters),
           median_ns(b_arr_avro_encode, &c, iters));
    printf("%-44s %10s %10.1f\n", "UserEmbedding d=64 (array<float>) decode",
           "-", median_ns(b_arr_avro_decode, &c, iters));
    c.codec = fast;
    t = median_ns(b_modelrec, &c, iters / 2000 + 5);
    printf("ModelRecord %d-byte payload encode+decode: %.0f us, %.0f MB/s "
           "(hand)\n",
           TT_MODELREC_MAX_PAYLOAD, t / 1000.0,
           (double)TT_MODELREC_MAX_PAYLOAD / t * 1000.0);
    printf("(checksum %" PRIu64 ")\n", sink);

    avro_value_decref(&c.arr_value);
    avro_value_iface_decref(c.arr_iface);
    avro_schema_decref(c.arr_schema);
    avro_writer_free(c.writer);
    avro_reader_free(c.reader);
    free(c.payload);
    free(c.big);
    tt_codec_destroy(fast);
    tt_codec_destroy(ref);
    return 0;
}
