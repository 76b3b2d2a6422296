/*
 * tt_conf_int: what the configuration modules share inside conf/.
 *
 * The one table of settings (tt_conf.c) drives defaults, loading from a
 * libconfig file (tt_conf_load.c), tt_conf_set(), range validation and
 * printing.  The `put` functions below are the only way a value enters a
 * struct tt_conf, so that every source (default, file, --set) goes through
 * the same type and range checks.
 *
 * Not thread-safe while writing a conf, like the public API.
 */
#ifndef TT_CONF_INT_H
#define TT_CONF_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/tt_conf.h"

enum tt_conf_type {
    TT_CONF_STRING, /* char *, owned by the struct */
    TT_CONF_INT,    /* int */
    TT_CONF_INT64,  /* int64_t, full range of the type */
    TT_CONF_UINT64, /* uint64_t, full range of the type */
    TT_CONF_DOUBLE, /* double, finite */
    TT_CONF_BOOL,   /* bool */
};

/*
 * One setting.  `min` and `max` bound the value of INT and DOUBLE settings
 * and the length in bytes of STRING settings; INT64 and UINT64 settings take
 * the full range of their C type and ignore them.  `choices` lists the only
 * values a STRING setting may take ("adam|sgd"), or is NULL.  `def` is the
 * default as text, parsed like a --set value so that there is one parser.
 */
struct tt_conf_def {
    const char *name;
    enum tt_conf_type type;
    size_t offset;
    double min;
    double max;
    const char *def;
    const char *choices;
    const char *doc;
};

/* Prefix of the dotted names of extra librdkafka properties. */
#define TT_CONF_PROPS "kafka.properties"

/* Bounds on what a configuration may hold, so that no buffer is unbounded. */
#define TT_CONF_PROPS_MAX 256
#define TT_CONF_PROP_KEY_MAX 255
#define TT_CONF_PROP_VALUE_MAX 65536
#define TT_CONF_TEXT_MAX (1024 * 1024)

/* The table and its length. */
const struct tt_conf_def *tt_conf_defs(size_t *n);

/* The setting named `name` ("model.dim"), or NULL. */
const struct tt_conf_def *tt_conf_def_find(const char *name);

/* "an integer", "a number"...: what a setting of `type` must be. */
const char *tt_conf_type_name(enum tt_conf_type type);

/* For an unknown `name` that looks like a typo (edit distance at most 2) of
 * a setting or group, or a setting without its group ("dim"), writes that
 * name into `buf` and returns true. */
bool tt_conf_suggest(const char *name, char *buf, size_t size);

/*
 * Store a value into the setting `def` of `conf` after checking its type
 * and range.  `where` prefixes error messages ("twotime.conf:12: ", or "").
 * Strings are copied.  Return TT_ERR_CONF (or TT_ERR_NOMEM) with a message.
 */
tt_err_t tt_conf_put_string(struct tt_conf *conf, const struct tt_conf_def *def,
                            const char *value, const char *where,
                            char *errstr, size_t errstr_size);
tt_err_t tt_conf_put_int(struct tt_conf *conf, const struct tt_conf_def *def,
                         long long value, const char *where, char *errstr,
                         size_t errstr_size);
tt_err_t tt_conf_put_double(struct tt_conf *conf, const struct tt_conf_def *def,
                            double value, const char *where, char *errstr,
                            size_t errstr_size);
tt_err_t tt_conf_put_bool(struct tt_conf *conf, const struct tt_conf_def *def,
                          bool value, const char *where, char *errstr,
                          size_t errstr_size);

/* Checks the value `conf` holds for `def` against its type's range (what a
 * put would have checked).  TT_ERR_CONF with a message when out of range. */
tt_err_t tt_conf_check_def(const struct tt_conf *conf,
                           const struct tt_conf_def *def, char *errstr,
                           size_t errstr_size);

/* Adds the librdkafka property `key` or replaces its value; both copied.
 * Never puts the value into errstr: it may be a secret. */
tt_err_t tt_conf_put_prop(struct tt_conf *conf, const char *key,
                          const char *value, const char *where, char *errstr,
                          size_t errstr_size);

#endif
