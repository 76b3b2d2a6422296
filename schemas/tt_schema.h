/*
 * tt_schema: the Avro schemas of twotime and how a reader recognises them.
 *
 * Three record schemas, namespace io.twotime, one .avsc file each in
 * schemas/: Interaction (input events), UserEmbedding (refreshed user
 * embeddings) and ModelRecord (chunks of a published model).  On Kafka each
 * message is one record in Avro single-object encoding:
 *
 *     C3 01 | fingerprint (8 bytes, little-endian) | Avro binary body
 *
 * where the fingerprint is the CRC-64-AVRO (Rabin) fingerprint of the
 * schema's Parsing Canonical Form.  The canonical forms and fingerprints are
 * written down below and in tt_schema.c so that a service in any language can
 * check its own computation against them; tt_codec_new() verifies at start-up
 * that the embedded .avsc files still produce them.
 *
 * Schema evolution.  A reader keeps a table of the writer schemas it accepts
 * (tt_schema_lookup): today one version per schema.  Avro C 1.11 cannot
 * resolve a writer schema against a reader schema with defaults, so a v2 is
 * added by hand: (1) write the v2 .avsc next to v1 (the v1 file stays, under
 * a new name), (2) add its canonical form and fingerprint to the table with
 * version 2, (3) give the codec a v2 body decoder that reads the writer's
 * fields in the writer's order and maps them by name into the same C struct,
 * filling fields v2 lacks with our own defaults and ignoring fields we do not
 * know, (4) switch encoders to v2 only after every reader accepts it.  A
 * unit test then feeds v1 and v2 bytes to the same decoder.
 *
 * Thread-safe: constant tables and pure functions.
 */
#ifndef TT_SCHEMA_H
#define TT_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"

enum tt_schema_id {
    TT_SCHEMA_INTERACTION = 0,
    TT_SCHEMA_USER_EMBEDDING = 1,
    TT_SCHEMA_MODEL_RECORD = 2,
    TT_SCHEMA__COUNT
};

/* CRC-64-AVRO fingerprints of the current (v1) canonical forms; the bytes on
 * the wire are these numbers little-endian. */
#define TT_SCHEMA_FP_INTERACTION UINT64_C(0x2440ad59475c2be1)
#define TT_SCHEMA_FP_USER_EMBEDDING UINT64_C(0xd370ca602725fc8e)
#define TT_SCHEMA_FP_MODEL_RECORD UINT64_C(0xafdc63e65089c3cb)

struct tt_schema_info {
    enum tt_schema_id id;
    const char *fullname;  /* "io.twotime.Interaction" */
    const char *avsc;      /* the .avsc text, embedded at build time */
    const char *canonical; /* its Parsing Canonical Form, written down */
    uint64_t fingerprint;  /* CRC-64-AVRO of canonical */
};

/* The current schema `id` (static storage); NULL for an unknown id. */
const struct tt_schema_info *tt_schema_get(enum tt_schema_id id);

/* One writer schema a reader accepts. */
struct tt_schema_writer {
    uint64_t fingerprint;
    enum tt_schema_id schema;
    int version; /* 1 = the .avsc in schemas/ today */
};

/* Looks `fingerprint` up in the table of accepted writer schemas.  Returns
 * false (and leaves *out alone) when it is unknown. */
bool tt_schema_lookup(uint64_t fingerprint, struct tt_schema_writer *out);

/* The CRC-64-AVRO fingerprint of data[0..len), as the Avro specification
 * defines it ("Schema Fingerprints"). */
uint64_t tt_schema_fingerprint(const void *data, size_t len);

/*
 * The Parsing Canonical Form of the schema text json[0..json_len), parsed by
 * Avro C: written to out[0..cap) with a NUL, *len excluding it.  Errors:
 * TT_ERR_PARSE (Avro C rejects the schema), TT_ERR_OVERFLOW (cap too small),
 * TT_ERR_UNSUPPORTED (a name that would need a JSON escape).
 */
tt_err_t tt_schema_canonical(const char *json, size_t json_len, char *out,
                             size_t cap, size_t *len, char *errstr,
                             size_t errstr_size);

#endif
