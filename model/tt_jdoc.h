/*
 * tt_jdoc: a small strict JSON reader (RFC 8259) for the reports twotime
 * writes itself (`twotime backtest --json`, read back by `twotime report`).
 * The whole document is parsed into an immutable tree held by one handle.
 *
 * Strict: no comments, trailing commas, single quotes, NaN/Infinity,
 * leading zeros or '+' signs; strings must be valid UTF-8 without raw
 * control characters, \u escapes must pair surrogates; duplicate keys in one
 * object and numbers that overflow a double are errors; nothing but
 * whitespace may follow the value.  A leading UTF-8 byte order mark is
 * skipped (RFC 8259 sec. 8.1 allows it).
 *
 * Bounded: nesting deeper than TT_JDOC_DEPTH_MAX, inputs larger than the
 * caller's limit (and never above TT_JDOC_SIZE_MAX), number literals longer
 * than TT_JDOC_NUMBER_MAX characters are refused.  Memory is proportional to
 * the input (a value takes at least one input byte).
 *
 * Errors are TT_ERR_PARSE (TT_ERR_RANGE for limits and number overflow,
 * TT_ERR_IO for files, TT_ERR_NOMEM) with "byte N (line L, column C): what
 * was expected", N counted from 0 in the input.  Numbers are converted with
 * strtod, which assumes the "C" locale (twotime never calls setlocale).
 *
 * Threading: a document is immutable once parsed; readers on several
 * threads may share it.  Parsing holds no global state.
 */
#ifndef TT_JDOC_H
#define TT_JDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tt_err.h"

#define TT_JDOC_DEPTH_MAX 64
#define TT_JDOC_SIZE_MAX ((size_t)256 << 20)
#define TT_JDOC_NUMBER_MAX 64

typedef struct tt_jdoc_s tt_jdoc_t;

enum tt_jtype {
    TT_JNULL,
    TT_JBOOL,
    TT_JNUMBER,
    TT_JSTRING,
    TT_JARRAY,
    TT_JOBJECT,
};

struct tt_jmember;

/* One value of the tree.  Pointers point into the document. */
struct tt_jval {
    enum tt_jtype type;
    /* TT_JNUMBER: written without fraction or exponent and fits an
     * int64_t, which is then in u.num.i (exactly) as well as u.num.d. */
    bool is_int;
    /* TT_JSTRING: bytes (without the NUL terminator; a \u0000 escape may
     * put NULs inside); TT_JARRAY: items; TT_JOBJECT: members. */
    uint32_t n;
    size_t offset; /* of the value's first byte in the input */
    union {
        bool b;
        struct {
            double d;
            int64_t i;
        } num;
        const char *s; /* NUL-terminated */
        const struct tt_jval *items;
        const struct tt_jmember *members; /* in input order */
    } u;
};

struct tt_jmember {
    const char *key; /* NUL-terminated, key_len bytes */
    uint32_t key_len;
    struct tt_jval val;
};

/* Parses buf[0..len) (no terminator needed) into *out, which the caller
 * owns (tt_jdoc_destroy()).  `max_len` (0: TT_JDOC_SIZE_MAX) bounds len. */
tt_err_t tt_jdoc_parse(tt_jdoc_t **out, const char *buf, size_t len,
                       size_t max_len, char *errstr, size_t errstr_size);

/* Reads the file `path` (at most max_len bytes, 0: TT_JDOC_SIZE_MAX) and
 * parses it; errors are prefixed with the path. */
tt_err_t tt_jdoc_load(tt_jdoc_t **out, const char *path, size_t max_len,
                      char *errstr, size_t errstr_size);

/* The top-level value; borrowed from the document. */
const struct tt_jval *tt_jdoc_root(const tt_jdoc_t *doc);

/* Frees the document and every value in it; NULL is a no-op. */
void tt_jdoc_destroy(tt_jdoc_t *doc);

/* The value of member `key` of object `obj`, or NULL when obj is not an
 * object or has no such member.  Linear in the object's size. */
const struct tt_jval *tt_jdoc_get(const struct tt_jval *obj, const char *key);

/* "null", "boolean", "number", "string", "array", "object". */
const char *tt_jdoc_type_name(enum tt_jtype type);

#endif
