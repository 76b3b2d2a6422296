/*
 * tt_container: Avro object container files of Interaction records.  See
 * tt_container.h; the file format is the Avro specification's "Object
 * Container Files": "Obj" 01, a metadata map<bytes>, a 16-byte sync marker,
 * then blocks of (long count, long size, size bytes of records, sync).
 */
#include "schemas/tt_container.h"

#include <avro.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "schemas/tt_codec_int.h"
#include "schemas/tt_schemas_int.h"

#define SYNC_SIZE 16
/* The smallest Interaction record: three one-byte longs and a null branch. */
#define MIN_RECORD 4

/* ---- Avro C value of one Interaction ---- */

struct event_value {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    bool have_value;
};

static tt_err_t event_value_init(struct event_value *v, char *errstr,
                                 size_t errstr_size)
{
    tt_err_t err = tt_schema_parse(TT_SCHEMA_INTERACTION, &v->schema, errstr,
                                   errstr_size);

    if (err)
        return err;
    v->iface = avro_generic_class_from_schema(v->schema);
    if (!v->iface)
        return tt_avro_errf(TT_ERR_NOMEM, errstr, errstr_size,
                            "Avro generic class");
    if (avro_generic_value_new(v->iface, &v->value) != 0)
        return tt_avro_errf(TT_ERR_NOMEM, errstr, errstr_size,
                            "Avro generic value");
    v->have_value = true;
    return TT_ERR_OK;
}

static void event_value_release(struct event_value *v)
{
    if (v->have_value)
        avro_value_decref(&v->value);
    if (v->iface)
        avro_value_iface_decref(v->iface);
    if (v->schema)
        avro_schema_decref(v->schema);
}

/* ---- writer ---- */

struct tt_container_writer_s {
    FILE *fp;
    avro_file_writer_t fw;
    struct event_value ev;
};

void tt_container_writer_destroy(tt_container_writer_t *w)
{
    if (!w)
        return;
    if (w->fw)
        avro_file_writer_close(w->fw);
    if (w->fp)
        fclose(w->fp);
    event_value_release(&w->ev);
    free(w);
}

tt_err_t tt_container_writer_new(tt_container_writer_t **out,
                                 const char *path, char *errstr,
                                 size_t errstr_size)
{
    tt_container_writer_t *w = calloc(1, sizeof(*w));
    tt_err_t err;

    if (!w)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "writer");
    err = event_value_init(&w->ev, errstr, errstr_size);
    if (err)
        goto out_destroy;
    /* Our own FILE, so that finish() can see fclose() fail on a full disk:
     * Avro C ignores the results of fflush and fclose. */
    w->fp = fopen(path, "wb");
    if (!w->fp) {
        err = tt_errf(TT_ERR_IO, errstr, errstr_size, "%s: %s", path,
                      strerror(errno));
        goto out_destroy;
    }
    if (avro_file_writer_create_fp(w->fp, path, 0, w->ev.schema, &w->fw) !=
        0) {
        w->fw = NULL;
        err = tt_avro_errf(TT_ERR_IO, errstr, errstr_size, path);
        goto out_destroy;
    }
    *out = w;
    return TT_ERR_OK;

out_destroy:
    tt_container_writer_destroy(w);
    return err;
}

static int set_field_long(avro_value_t *rec, size_t i, int64_t v)
{
    avro_value_t f;
    int rc = avro_value_get_by_index(rec, i, &f, NULL);

    return rc ? rc : avro_value_set_long(&f, v);
}

tt_err_t tt_container_writer_append(tt_container_writer_t *w,
                                    const struct tt_event *ev, char *errstr,
                                    size_t errstr_size)
{
    avro_value_t *v = &w->ev.value;
    avro_value_t f, branch;
    tt_err_t err = tt_codec_event_check(ev, errstr, errstr_size);
    int rc;

    if (err)
        return err;
    if (!w->fw)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "container writer already finished");
    rc = set_field_long(v, 0, ev->user_id);
    if (!rc)
        rc = set_field_long(v, 1, ev->item_id);
    if (!rc)
        rc = set_field_long(v, 2, ev->ts_ms);
    if (!rc)
        rc = avro_value_get_by_index(v, 3, &f, NULL);
    if (!rc)
        rc = avro_value_set_branch(&f, ev->category < 0 ? 0 : 1, &branch);
    if (!rc)
        rc = ev->category < 0 ? avro_value_set_null(&branch)
                              : avro_value_set_int(&branch, ev->category);
    if (!rc)
        rc = avro_file_writer_append_value(w->fw, v);
    if (rc)
        return tt_avro_errf(TT_ERR_IO, errstr, errstr_size,
                            "container append");
    return TT_ERR_OK;
}

tt_err_t tt_container_writer_finish(tt_container_writer_t *w, char *errstr,
                                    size_t errstr_size)
{
    int rc;
    int closed;

    if (!w->fw)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "container writer already finished");
    rc = avro_file_writer_close(w->fw);
    w->fw = NULL; /* even on failure: Avro C leaves it half-closed */
    if (rc != 0) {
        tt_avro_errf(TT_ERR_IO, errstr, errstr_size, "container close");
        fclose(w->fp);
        w->fp = NULL;
        return TT_ERR_IO;
    }
    closed = fclose(w->fp);
    w->fp = NULL;
    if (closed != 0)
        return tt_errf(TT_ERR_IO, errstr, errstr_size,
                       "container close: %s", strerror(errno));
    return TT_ERR_OK;
}

/* ---- the framing walk ---- */

struct scan {
    FILE *fp;
    const char *path;
    int64_t size;   /* of the file */
    int64_t pos;    /* of the next byte */
    char *errstr;
    size_t errstr_size;
};

static tt_err_t scan_fail(struct scan *s, const char *what)
{
    return tt_errf(TT_ERR_PARSE, s->errstr, s->errstr_size,
                   "%s: not an Avro container file of Interaction records: "
                   "%s at byte %" PRId64,
                   s->path, what, s->pos);
}

/* false at end of file or on a malformed varint. */
static bool scan_long(struct scan *s, int64_t *v)
{
    uint64_t u = 0;

    for (int i = 0; i < TT_WIRE_LONG_MAX; i++) {
        int c = getc(s->fp);

        if (c == EOF || (i == 9 && c > 1))
            return false;
        s->pos++;
        u |= (uint64_t)(c & 0x7F) << (7 * i);
        if (!(c & 0x80)) {
            *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
            return true;
        }
    }
    return false;
}

static bool scan_read(struct scan *s, void *buf, size_t n)
{
    if (fread(buf, 1, n, s->fp) != n)
        return false;
    s->pos += (int64_t)n;
    return true;
}

static bool scan_skip(struct scan *s, int64_t n)
{
    if (fseeko(s->fp, (off_t)n, SEEK_CUR) != 0)
        return false;
    s->pos += n;
    return true;
}

/* A metadata value: its length is checked against the cap and the file
 * before it is allocated. */
static tt_err_t scan_bytes(struct scan *s, int64_t cap, char **out,
                           int64_t *len)
{
    int64_t n;

    if (!scan_long(s, &n) || n < 0 || n > cap || n > s->size - s->pos)
        return scan_fail(s, "bad metadata length");
    *out = malloc((size_t)n + 1);
    if (!*out)
        return tt_errf(TT_ERR_NOMEM, s->errstr, s->errstr_size, "metadata");
    if (!scan_read(s, *out, (size_t)n)) {
        free(*out);
        *out = NULL;
        return scan_fail(s, "truncated metadata");
    }
    (*out)[n] = '\0';
    *len = n;
    return TT_ERR_OK;
}

struct header {
    char *schema;
    int64_t schema_len;
    char *codec;
    uint8_t sync[SYNC_SIZE];
};

static tt_err_t scan_header(struct scan *s, struct header *h)
{
    static const uint8_t magic[4] = {'O', 'b', 'j', 1};
    uint8_t m[4];
    int entries = 0;
    tt_err_t err;

    if (!scan_read(s, m, 4) || memcmp(m, magic, 4) != 0)
        return scan_fail(s, "no \"Obj\\1\" magic");
    for (;;) {
        int64_t count, bsize;

        if (!scan_long(s, &count))
            return scan_fail(s, "truncated metadata");
        if (count == 0)
            break;
        if (count < 0) {
            /* A negative count is followed by the block's byte size. */
            if (count == INT64_MIN || !scan_long(s, &bsize) || bsize < 0)
                return scan_fail(s, "bad metadata block");
            count = -count;
        }
        if (count > TT_CONTAINER_MAX_META - entries)
            return scan_fail(s, "too many metadata entries");
        entries += (int)count;
        for (int64_t i = 0; i < count; i++) {
            char *key, *val;
            int64_t klen, vlen;

            err = scan_bytes(s, 256, &key, &klen);
            if (err)
                return err;
            err = scan_bytes(s, TT_CONTAINER_MAX_META_VALUE, &val, &vlen);
            if (err) {
                free(key);
                return err;
            }
            if (strcmp(key, "avro.schema") == 0 && !h->schema) {
                h->schema = val;
                h->schema_len = vlen;
            } else if (strcmp(key, "avro.codec") == 0 && !h->codec) {
                h->codec = val;
            } else {
                free(val);
            }
            free(key);
        }
    }
    if (!scan_read(s, h->sync, SYNC_SIZE))
        return scan_fail(s, "truncated sync marker");
    if (!h->schema)
        return scan_fail(s, "no avro.schema in the header");
    return TT_ERR_OK;
}

/* Walks every block; sets *records to their total. */
static tt_err_t scan_blocks(struct scan *s, const struct header *h,
                            uint64_t *records)
{
    uint8_t sync[SYNC_SIZE];

    *records = 0;
    while (s->pos < s->size) {
        int64_t count, bytes;

        if (!scan_long(s, &count))
            return scan_fail(s, "truncated block count");
        if (count <= 0)
            return scan_fail(s, "block count not positive");
        if (!scan_long(s, &bytes))
            return scan_fail(s, "truncated block size");
        if (bytes < 0 || bytes > TT_CONTAINER_MAX_BLOCK)
            return scan_fail(s, "block size out of range");
        if (bytes > s->size - s->pos - SYNC_SIZE)
            return scan_fail(s, "block runs past the end of the file");
        if (count > bytes / MIN_RECORD)
            return scan_fail(s, "block count larger than its bytes hold");
        if (!scan_skip(s, bytes) || !scan_read(s, sync, SYNC_SIZE))
            return scan_fail(s, "truncated block");
        if (memcmp(sync, h->sync, SYNC_SIZE) != 0)
            return scan_fail(s, "wrong sync marker after a block");
        *records += (uint64_t)count;
    }
    return TT_ERR_OK;
}

static tt_err_t check_schema(const char *path, const struct header *h,
                             char *errstr, size_t errstr_size)
{
    const struct tt_schema_info *want = tt_schema_get(TT_SCHEMA_INTERACTION);
    char pcf[2048];
    avro_schema_t schema;
    size_t n;
    tt_err_t err;

    if (h->codec && strcmp(h->codec, "null") != 0)
        return tt_errf(TT_ERR_UNSUPPORTED, errstr, errstr_size,
                       "%s: codec \"%.32s\"; only uncompressed (\"null\") "
                       "container files are read",
                       path, h->codec);
    if (avro_schema_from_json_length(h->schema, (size_t)h->schema_len,
                                     &schema) != 0)
        return tt_avro_errf(TT_ERR_PARSE, errstr, errstr_size,
                            "container writer schema");
    err = tt_schema_canonical_of(schema, pcf, sizeof(pcf), &n, errstr,
                                 errstr_size);
    avro_schema_decref(schema);
    if (err == TT_ERR_OVERFLOW || (!err && strcmp(pcf, want->canonical)))
        return tt_errf(TT_ERR_VERSION, errstr, errstr_size,
                       "%s: records of schema %.200s (fingerprint %016" PRIx64
                       "), expected %s (%016" PRIx64 ")",
                       path, err ? "(too long)" : pcf,
                       err ? 0 : tt_schema_fingerprint(pcf, n),
                       want->fullname, want->fingerprint);
    return err;
}

/* ---- reader ---- */

struct tt_container_reader_s {
    avro_file_reader_t fr;
    struct event_value ev;
    uint64_t total, read;
    tt_err_t failed; /* a malformed record stops the reader for good */
};

void tt_container_reader_destroy(tt_container_reader_t *r)
{
    if (!r)
        return;
    if (r->fr)
        avro_file_reader_close(r->fr);
    event_value_release(&r->ev);
    free(r);
}

tt_err_t tt_container_reader_new(tt_container_reader_t **out,
                                 const char *path, char *errstr,
                                 size_t errstr_size)
{
    tt_container_reader_t *r = calloc(1, sizeof(*r));
    struct scan s = {.path = path, .errstr = errstr,
                     .errstr_size = errstr_size};
    struct header h = {0};
    struct stat st;
    tt_err_t err;

    if (!r)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "reader");
    s.fp = fopen(path, "rb");
    if (!s.fp || fstat(fileno(s.fp), &st) != 0) {
        err = tt_errf(TT_ERR_IO, errstr, errstr_size, "%s: %s", path,
                      strerror(errno));
        goto out_close;
    }
    s.size = st.st_size;
    err = scan_header(&s, &h);
    if (!err)
        err = check_schema(path, &h, errstr, errstr_size);
    if (!err)
        err = scan_blocks(&s, &h, &r->total);
    if (!err)
        err = event_value_init(&r->ev, errstr, errstr_size);
    if (err)
        goto out_close;
    /* Avro C reads the same, now checked, FILE from the start and closes
     * it (also on failure). */
    rewind(s.fp);
    if (avro_file_reader_fp(s.fp, path, 1, &r->fr) != 0) {
        s.fp = NULL;
        r->fr = NULL;
        err = tt_avro_errf(TT_ERR_PARSE, errstr, errstr_size, path);
        goto out_close;
    }
    free(h.schema);
    free(h.codec);
    *out = r;
    return TT_ERR_OK;

out_close:
    if (s.fp)
        fclose(s.fp);
    free(h.schema);
    free(h.codec);
    tt_container_reader_destroy(r);
    return err;
}

uint64_t tt_container_reader_count(const tt_container_reader_t *r)
{
    return r->total;
}

static int get_field_long(avro_value_t *rec, size_t i, int64_t *v)
{
    avro_value_t f;
    int rc = avro_value_get_by_index(rec, i, &f, NULL);

    return rc ? rc : avro_value_get_long(&f, v);
}

tt_err_t tt_container_reader_next(tt_container_reader_t *r,
                                  struct tt_event *ev, bool *end,
                                  char *errstr, size_t errstr_size)
{
    avro_value_t *v = &r->ev.value;
    avro_value_t f, branch;
    int disc = -1;
    int rc;

    *end = false;
    if (r->failed)
        return tt_errf(r->failed, errstr, errstr_size,
                       "container reader stopped at record %" PRIu64
                       " after an error",
                       r->read);
    if (r->read == r->total) {
        *end = true;
        return TT_ERR_OK;
    }
    rc = avro_file_reader_read_value(r->fr, v);
    if (!rc)
        rc = get_field_long(v, 0, &ev->user_id);
    if (!rc)
        rc = get_field_long(v, 1, &ev->item_id);
    if (!rc)
        rc = get_field_long(v, 2, &ev->ts_ms);
    if (!rc)
        rc = avro_value_get_by_index(v, 3, &f, NULL);
    if (!rc)
        rc = avro_value_get_discriminant(&f, &disc);
    ev->category = TT_EVENT_NO_CATEGORY;
    if (!rc && disc == 1) {
        rc = avro_value_get_current_branch(&f, &branch);
        if (!rc)
            rc = avro_value_get_int(&branch, &ev->category);
    }
    if (rc) {
        r->failed = TT_ERR_PARSE;
        return tt_avro_errf(TT_ERR_PARSE, errstr, errstr_size,
                            "container record");
    }
    r->read++;
    if (disc == 1 && ev->category < 0)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "record %" PRIu64 ": negative category %d", r->read,
                       ev->category);
    return tt_codec_event_check(ev, errstr, errstr_size);
}
