/*
 * tt_schema: canonical forms, fingerprints and the table of accepted writer
 * schemas.  See tt_schema.h.
 */
#include "schemas/tt_schema.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "schemas/tt_schemas_int.h"

/*
 * The Parsing Canonical Forms, written down by hand from the .avsc files
 * (Avro spec, "Transforming into Parsing Canonical Form": full names, only
 * name/type/fields/symbols/items/values/size in that order, primitives in
 * simple form, so timestamp-millis becomes "long", no whitespace).
 * tt_codec_new() and the unit tests recompute them from the embedded .avsc.
 */
static const char canonical_interaction[] =
    "{\"name\":\"io.twotime.Interaction\",\"type\":\"record\",\"fields\":["
    "{\"name\":\"user_id\",\"type\":\"long\"},"
    "{\"name\":\"item_id\",\"type\":\"long\"},"
    "{\"name\":\"event_time\",\"type\":\"long\"},"
    "{\"name\":\"category\",\"type\":[\"null\",\"int\"]}]}";

static const char canonical_user_embedding[] =
    "{\"name\":\"io.twotime.UserEmbedding\",\"type\":\"record\",\"fields\":["
    "{\"name\":\"user_id\",\"type\":\"long\"},"
    "{\"name\":\"embedding\",\"type\":\"bytes\"},"
    "{\"name\":\"dim\",\"type\":\"int\"},"
    "{\"name\":\"model_version\",\"type\":\"long\"},"
    "{\"name\":\"cell\",\"type\":{\"name\":\"io.twotime.Cell\",\"type\":"
    "\"enum\",\"symbols\":[\"ACTIVE\",\"INACTIVE\"]}},"
    "{\"name\":\"interaction_count\",\"type\":\"long\"},"
    "{\"name\":\"event_time\",\"type\":\"long\"},"
    "{\"name\":\"input_partition\",\"type\":\"int\"},"
    "{\"name\":\"input_offset\",\"type\":\"long\"}]}";

static const char canonical_model_record[] =
    "{\"name\":\"io.twotime.ModelRecord\",\"type\":\"record\",\"fields\":["
    "{\"name\":\"kind\",\"type\":{\"name\":\"io.twotime.ModelRecordKind\","
    "\"type\":\"enum\",\"symbols\":[\"HEADER\",\"DENSE\",\"ITEMS\",\"USERS\","
    "\"COMMIT\"]}},"
    "{\"name\":\"model_version\",\"type\":\"long\"},"
    "{\"name\":\"seq\",\"type\":\"int\"},"
    "{\"name\":\"payload\",\"type\":\"bytes\"},"
    "{\"name\":\"payload_crc32c\",\"type\":\"long\"}]}";

static const struct tt_schema_info schemas[TT_SCHEMA__COUNT] = {
    {TT_SCHEMA_INTERACTION, "io.twotime.Interaction", tt_avsc_interaction,
     canonical_interaction, TT_SCHEMA_FP_INTERACTION},
    {TT_SCHEMA_USER_EMBEDDING, "io.twotime.UserEmbedding",
     tt_avsc_user_embedding, canonical_user_embedding,
     TT_SCHEMA_FP_USER_EMBEDDING},
    {TT_SCHEMA_MODEL_RECORD, "io.twotime.ModelRecord", tt_avsc_model_record,
     canonical_model_record, TT_SCHEMA_FP_MODEL_RECORD},
};

/* Writer schemas this build reads.  A v2 adds a row here (see tt_schema.h). */
static const struct tt_schema_writer writers[] = {
    {TT_SCHEMA_FP_INTERACTION, TT_SCHEMA_INTERACTION, 1},
    {TT_SCHEMA_FP_USER_EMBEDDING, TT_SCHEMA_USER_EMBEDDING, 1},
    {TT_SCHEMA_FP_MODEL_RECORD, TT_SCHEMA_MODEL_RECORD, 1},
};

const struct tt_schema_info *tt_schema_get(enum tt_schema_id id)
{
    if ((unsigned)id >= TT_SCHEMA__COUNT)
        return NULL;
    return &schemas[id];
}

bool tt_schema_lookup(uint64_t fingerprint, struct tt_schema_writer *out)
{
    for (size_t i = 0; i < sizeof(writers) / sizeof(writers[0]); i++) {
        if (writers[i].fingerprint == fingerprint) {
            *out = writers[i];
            return true;
        }
    }
    return false;
}

/* The spec's EMPTY: the fingerprint of no bytes, and the polynomial. */
#define TT_FP_EMPTY UINT64_C(0xc15d213aa4d7a795)

uint64_t tt_schema_fingerprint(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t fp = TT_FP_EMPTY;

    /* Bit at a time: the spec's table is this loop run on each byte value,
     * and fingerprints are computed once per schema, never per message. */
    for (size_t i = 0; i < len; i++) {
        fp ^= p[i];
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (TT_FP_EMPTY & (0 - (fp & 1)));
    }
    return fp;
}

/* ---- Parsing Canonical Form of a parsed schema ---- */

#define TT_PCF_MAX_DEPTH 32
#define TT_PCF_MAX_NAMED 128

struct pcf {
    char *out;
    size_t cap, len;
    bool overflow;
    bool bad_name;
    bool too_deep;
    avro_schema_t named[TT_PCF_MAX_NAMED]; /* named types already written */
    size_t n_named;
};

static void pcf_put(struct pcf *w, const char *s)
{
    size_t n = strlen(s);

    if (w->len + n >= w->cap) {
        w->overflow = true;
        return;
    }
    memcpy(w->out + w->len, s, n);
    w->len += n;
    w->out[w->len] = '\0';
}

/* Avro names are [A-Za-z_][A-Za-z0-9_]* with dots between namespace parts,
 * so they never need a JSON escape; a name that would is refused rather than
 * canonicalised wrongly. */
static void pcf_check(struct pcf *w, const char *s)
{
    for (const char *c = s; *c; c++) {
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
            w->bad_name = true;
    }
}

static void pcf_str(struct pcf *w, const char *s)
{
    pcf_check(w, s);
    pcf_put(w, "\"");
    pcf_put(w, s);
    pcf_put(w, "\"");
}

static void pcf_fullname(struct pcf *w, avro_schema_t s)
{
    const char *ns = avro_schema_namespace(s);
    const char *name = avro_schema_name(s);

    pcf_check(w, name);
    pcf_put(w, "\"");
    if (ns && *ns) {
        pcf_check(w, ns);
        pcf_put(w, ns);
        pcf_put(w, ".");
    }
    pcf_put(w, name);
    pcf_put(w, "\"");
}

static void pcf_schema(struct pcf *w, avro_schema_t s, int depth);

static bool pcf_seen(struct pcf *w, avro_schema_t s)
{
    for (size_t i = 0; i < w->n_named; i++) {
        if (w->named[i] == s)
            return true;
    }
    if (w->n_named < TT_PCF_MAX_NAMED)
        w->named[w->n_named++] = s;
    else
        w->too_deep = true;
    return false;
}

static void pcf_named_head(struct pcf *w, avro_schema_t s, const char *type)
{
    pcf_put(w, "{\"name\":");
    pcf_fullname(w, s);
    pcf_put(w, ",\"type\":\"");
    pcf_put(w, type);
    pcf_put(w, "\"");
}

static void pcf_schema(struct pcf *w, avro_schema_t s, int depth)
{
    char num[32];

    if (depth > TT_PCF_MAX_DEPTH || w->overflow) {
        w->too_deep = depth > TT_PCF_MAX_DEPTH;
        return;
    }
    switch (avro_typeof(s)) {
    case AVRO_STRING: pcf_put(w, "\"string\""); return;
    case AVRO_BYTES: pcf_put(w, "\"bytes\""); return;
    case AVRO_INT32: pcf_put(w, "\"int\""); return;
    case AVRO_INT64: pcf_put(w, "\"long\""); return;
    case AVRO_FLOAT: pcf_put(w, "\"float\""); return;
    case AVRO_DOUBLE: pcf_put(w, "\"double\""); return;
    case AVRO_BOOLEAN: pcf_put(w, "\"boolean\""); return;
    case AVRO_NULL: pcf_put(w, "\"null\""); return;
    case AVRO_LINK:
        pcf_fullname(w, avro_schema_link_target(s));
        return;
    case AVRO_RECORD:
        if (pcf_seen(w, s)) {
            pcf_fullname(w, s);
            return;
        }
        pcf_named_head(w, s, "record");
        pcf_put(w, ",\"fields\":[");
        for (size_t i = 0; i < avro_schema_record_size(s); i++) {
            pcf_put(w, i ? ",{\"name\":" : "{\"name\":");
            pcf_str(w, avro_schema_record_field_name(s, (int)i));
            pcf_put(w, ",\"type\":");
            pcf_schema(w, avro_schema_record_field_get_by_index(s, (int)i),
                       depth + 1);
            pcf_put(w, "}");
        }
        pcf_put(w, "]}");
        return;
    case AVRO_ENUM:
        if (pcf_seen(w, s)) {
            pcf_fullname(w, s);
            return;
        }
        pcf_named_head(w, s, "enum");
        pcf_put(w, ",\"symbols\":[");
        for (int i = 0; i < avro_schema_enum_number_of_symbols(s); i++) {
            if (i)
                pcf_put(w, ",");
            pcf_str(w, avro_schema_enum_get(s, i));
        }
        pcf_put(w, "]}");
        return;
    case AVRO_FIXED:
        if (pcf_seen(w, s)) {
            pcf_fullname(w, s);
            return;
        }
        pcf_named_head(w, s, "fixed");
        snprintf(num, sizeof(num), ",\"size\":%" PRId64 "}",
                 avro_schema_fixed_size(s));
        pcf_put(w, num);
        return;
    case AVRO_ARRAY:
        pcf_put(w, "{\"type\":\"array\",\"items\":");
        pcf_schema(w, avro_schema_array_items(s), depth + 1);
        pcf_put(w, "}");
        return;
    case AVRO_MAP:
        pcf_put(w, "{\"type\":\"map\",\"values\":");
        pcf_schema(w, avro_schema_map_values(s), depth + 1);
        pcf_put(w, "}");
        return;
    case AVRO_UNION:
        pcf_put(w, "[");
        for (size_t i = 0; i < avro_schema_union_size(s); i++) {
            if (i)
                pcf_put(w, ",");
            pcf_schema(w, avro_schema_union_branch(s, (int)i), depth + 1);
        }
        pcf_put(w, "]");
        return;
    }
    w->bad_name = true; /* a type Avro C added after 1.11 */
}

tt_err_t tt_schema_canonical_of(avro_schema_t schema, char *out, size_t cap,
                                size_t *len, char *errstr,
                                size_t errstr_size)
{
    struct pcf w = {.out = out, .cap = cap};

    if (cap == 0)
        return tt_errf(TT_ERR_OVERFLOW, errstr, errstr_size,
                       "canonical form: no room");
    out[0] = '\0';
    pcf_schema(&w, schema, 0);
    if (w.overflow)
        return tt_errf(TT_ERR_OVERFLOW, errstr, errstr_size,
                       "canonical form longer than %zu bytes", cap - 1);
    if (w.too_deep)
        return tt_errf(TT_ERR_UNSUPPORTED, errstr, errstr_size,
                       "schema nested deeper than %d levels or with more "
                       "than %d named types",
                       TT_PCF_MAX_DEPTH, TT_PCF_MAX_NAMED);
    if (w.bad_name)
        return tt_errf(TT_ERR_UNSUPPORTED, errstr, errstr_size,
                       "schema has a name or symbol that needs a JSON "
                       "escape or an unknown type");
    *len = w.len;
    return TT_ERR_OK;
}

tt_err_t tt_schema_canonical(const char *json, size_t json_len, char *out,
                             size_t cap, size_t *len, char *errstr,
                             size_t errstr_size)
{
    avro_schema_t schema;
    tt_err_t err;

    if (avro_schema_from_json_length(json, json_len, &schema) != 0)
        return tt_avro_errf(TT_ERR_PARSE, errstr, errstr_size,
                            "schema JSON");
    err = tt_schema_canonical_of(schema, out, cap, len, errstr, errstr_size);
    avro_schema_decref(schema);
    return err;
}

tt_err_t tt_schema_parse(enum tt_schema_id id, avro_schema_t *out,
                         char *errstr, size_t errstr_size)
{
    const struct tt_schema_info *info = tt_schema_get(id);

    if (!info)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "unknown schema id %d", (int)id);
    if (avro_schema_from_json_length(info->avsc, strlen(info->avsc), out) !=
        0)
        return tt_avro_errf(TT_ERR_PARSE, errstr, errstr_size,
                            info->fullname);
    return TT_ERR_OK;
}

tt_err_t tt_avro_errf(tt_err_t err, char *errstr, size_t errstr_size,
                      const char *what)
{
    const char *msg = avro_strerror();

    return tt_errf(err, errstr, errstr_size, "%s: %s", what,
                   msg && *msg ? msg : "Avro C error");
}

tt_err_t tt_soe_open(const uint8_t *buf, size_t len, enum tt_schema_id expect,
                     const uint8_t **body, size_t *body_len, int *version,
                     char *errstr, size_t errstr_size)
{
    const struct tt_schema_info *want = tt_schema_get(expect);
    struct tt_schema_writer w;
    uint64_t fp;

    if (len < TT_SOE_HEADER)
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                       "%s: message of %zu bytes is shorter than the "
                       "10-byte single-object header",
                       want->fullname, len);
    if (buf[0] != TT_SOE_MAGIC0 || buf[1] != TT_SOE_MAGIC1)
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                       "%s: not Avro single-object encoding (starts "
                       "%02x %02x, expected c3 01)",
                       want->fullname, buf[0], buf[1]);
    fp = tt_wire_get_u64le(buf + 2);
    if (!tt_schema_lookup(fp, &w))
        return tt_errf(TT_ERR_VERSION, errstr, errstr_size,
                       "%s: unknown writer schema fingerprint %016" PRIx64
                       " (this build reads %016" PRIx64 ")",
                       want->fullname, fp, want->fingerprint);
    if (w.schema != expect)
        return tt_errf(TT_ERR_VERSION, errstr, errstr_size,
                       "message is a %s, expected %s",
                       schemas[w.schema].fullname, want->fullname);
    *body = buf + TT_SOE_HEADER;
    *body_len = len - TT_SOE_HEADER;
    *version = w.version;
    return TT_ERR_OK;
}
