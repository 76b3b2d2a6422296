/*
 * tt_json: a small streaming JSON writer for reports (`twotime backtest
 * --json`).  It tracks nesting and commas so that callers only say what comes
 * next; strings are escaped (control characters as \u00XX, invalid UTF-8
 * bytes replaced by U+FFFD) and non-finite numbers are written as null, so
 * the output is always valid JSON (RFC 8259) when every container is closed.
 *
 * Errors are sticky: after the first failed write, or a call that would make
 * the document invalid (a value where a key is expected, closing the wrong
 * container, nesting deeper than TT_JSON_DEPTH_MAX), every call does nothing
 * and tt_json_finish() reports the first error.
 *
 * A writer is a caller-owned value used by one thread.
 */
#ifndef TT_JSON_H
#define TT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/tt_err.h"

#define TT_JSON_DEPTH_MAX 32

struct tt_json {
    FILE *out;          /* borrowed */
    int indent;         /* spaces per level, 0 = compact */
    int depth;
    tt_err_t err;
    /* per level: 'o' object or 'a' array; whether it has members; whether
     * a key was just written (objects) */
    char kind[TT_JSON_DEPTH_MAX];
    bool any[TT_JSON_DEPTH_MAX];
    bool keyed;
    bool done;          /* a complete top-level value was written */
};

/* Starts a document written to `out` (borrowed), pretty-printed with
 * `indent` spaces per level (0 = one line). */
void tt_json_init(struct tt_json *w, FILE *out, int indent);

/* Containers. */
void tt_json_obj_begin(struct tt_json *w);
void tt_json_obj_end(struct tt_json *w);
void tt_json_arr_begin(struct tt_json *w);
void tt_json_arr_end(struct tt_json *w);

/* The key of the next member of the current object. */
void tt_json_key(struct tt_json *w, const char *key);

/* Values (in an array, after a key, or as the whole document). */
void tt_json_str(struct tt_json *w, const char *s);
void tt_json_strn(struct tt_json *w, const char *s, size_t len);
void tt_json_int(struct tt_json *w, int64_t v);
void tt_json_uint(struct tt_json *w, uint64_t v);
/* %.17g for doubles round-trip; NaN and infinities become null. */
void tt_json_double(struct tt_json *w, double v);
/* Written with %.6g: for measured quantities where 17 digits are noise. */
void tt_json_num(struct tt_json *w, double v);
void tt_json_bool(struct tt_json *w, bool v);
void tt_json_null(struct tt_json *w);

/* Checks that the document is complete, writes a final newline and flushes.
 * Returns the first error (TT_ERR_INVAL for misuse, TT_ERR_IO for a failed
 * write), or TT_ERR_OK. */
tt_err_t tt_json_finish(struct tt_json *w);

/* Writes `s` as a JSON string literal (quotes included) to `out`. */
void tt_json_write_string(FILE *out, const char *s, size_t len);

#endif
