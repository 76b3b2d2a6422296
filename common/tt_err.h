/*
 * tt_err: the one error convention of twotime.
 *
 * Every fallible function returns a tt_err_t, 0 meaning success.  Functions at
 * a boundary (constructors, I/O, codecs, configuration) also take a
 * caller-owned `char *errstr, size_t errstr_size` and fill it with what failed
 * and why; leaf functions never log.  The codes and their strings come from one
 * table (TT_ERR_TABLE) so that they cannot drift apart.
 *
 * Thread-safe: no state.
 */
#ifndef TT_ERR_H
#define TT_ERR_H

#include <stdarg.h>
#include <stddef.h>

#define TT_ERR_TABLE(X)                                                        \
    X(OK, "success")                                                           \
    X(NOMEM, "out of memory")                                                  \
    X(INVAL, "invalid argument")                                               \
    X(IO, "input/output error")                                                \
    X(PARSE, "malformed input")                                                \
    X(CORRUPT, "corrupt data")                                                 \
    X(VERSION, "unsupported version")                                          \
    X(NOTFOUND, "not found")                                                   \
    X(RANGE, "value out of range")                                             \
    X(OVERFLOW, "buffer too small")                                            \
    X(KAFKA, "Kafka error")                                                    \
    X(STATE, "state store error")                                              \
    X(TIMEOUT, "timed out")                                                    \
    X(FENCED, "fenced by a newer instance")                                    \
    X(ABORTED, "transaction aborted")                                          \
    X(CONF, "configuration error")                                             \
    X(UNSUPPORTED, "not supported")                                            \
    X(INTERRUPTED, "interrupted")

typedef enum {
#define TT_ERR_ENUM_(name, str) TT_ERR_##name,
    TT_ERR_TABLE(TT_ERR_ENUM_)
#undef TT_ERR_ENUM_
        TT_ERR__COUNT
} tt_err_t;

/* The static, human-readable string for `err`; never NULL. */
const char *tt_err_str(tt_err_t err);

/* The symbolic name of `err` ("TT_ERR_PARSE"); never NULL. */
const char *tt_err_name(tt_err_t err);

/*
 * Formats a message into a caller-owned `errstr` of `errstr_size` bytes and
 * returns `err`, so that a boundary function can `return tt_errf(...)`.
 * A NULL or zero-sized errstr is allowed and ignored.
 */
tt_err_t tt_errf(tt_err_t err, char *errstr, size_t errstr_size,
                 const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The va_list form of tt_errf(). */
tt_err_t tt_verrf(tt_err_t err, char *errstr, size_t errstr_size,
                  const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#endif
