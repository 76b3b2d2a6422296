/*
 * tt_conf_print: the effective configuration in libconfig syntax (readable
 * back by tt_conf_load_file), with the values of secrets redacted.
 */
#include "conf/tt_conf.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/tt_conf_int.h"

#define REDACTED "<redacted>"
/* Column of the trailing "# doc" comments. */
#define DOC_COLUMN 40

/* True when `word` occurs in `key`, ignoring case. */
static bool has(const char *key, const char *word)
{
    return strcasestr(key, word) != NULL;
}

/* True when a component of `key` (split at '.', '_', '-') is "key" or ends
 * in it ("apikey", "private_key"), as in ssl.key.pem. */
static bool has_key_component(const char *key)
{
    const char *p = key;

    while (*p) {
        size_t len = strcspn(p, "._-");

        if (len >= 3 && strncasecmp(p + len - 3, "key", 3) == 0)
            return true;
        p += len;
        if (*p)
            p++;
    }
    return false;
}

bool tt_conf_is_secret(const char *key)
{
    static const char *const words[] = {"password", "passwd",     "secret",
                                        "token",    "credential", "jaas"};

    if (!key)
        return false;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (has(key, words[i]))
            return true;
    }
    /* sasl.oauthbearer.config and .extensions can embed client secrets;
     * redacting the harmless ones (method, scope) as well costs nothing.
     * Anywhere in the name, for role prefixes ("consumer.sasl..."). */
    if (has(key, "sasl.oauthbearer."))
        return true;
    /* ssl.key.pem is a private key; ssl.key.location is only a path, but the
     * rule stays simple rather than guess which key settings are harmless. */
    return has_key_component(key);
}

/* A libconfig string literal. */
static int print_string(FILE *out, const char *s)
{
    int n = 2;

    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            n += fprintf(out, "\\\"");
            break;
        case '\\':
            n += fprintf(out, "\\\\");
            break;
        case '\n':
            n += fprintf(out, "\\n");
            break;
        case '\r':
            n += fprintf(out, "\\r");
            break;
        case '\t':
            n += fprintf(out, "\\t");
            break;
        case '\f':
            n += fprintf(out, "\\f");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                n += fprintf(out, "\\x%02x", *p);
            } else {
                fputc(*p, out);
                n++;
            }
        }
    }
    fputc('"', out);
    return n;
}

/* The shortest text that reads back as the same double, with a '.' or an
 * exponent so that libconfig reads it as a float. */
static int print_double(FILE *out, double v)
{
    char buf[40];

    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".eEn"))
        return fprintf(out, "%s.0", buf);
    return fprintf(out, "%s", buf);
}

static int print_value(FILE *out, const struct tt_conf *conf,
                       const struct tt_conf_def *def)
{
    const void *slot = (const char *)conf + def->offset;

    switch (def->type) {
    case TT_CONF_STRING: {
        const char *s = *(char *const *)slot;

        if (s && *s && tt_conf_is_secret(def->name))
            s = REDACTED;
        return print_string(out, s ? s : "");
    }
    case TT_CONF_INT:
        return fprintf(out, "%d", *(const int *)slot);
    case TT_CONF_INT64: {
        int64_t v = *(const int64_t *)slot;

        /* libconfig 1.5 wraps plain integers beyond 32 bits. */
        return fprintf(out, "%" PRId64 "%s", v,
                       v > INT32_MAX || v < INT32_MIN ? "L" : "");
    }
    case TT_CONF_UINT64: {
        uint64_t v = *(const uint64_t *)slot;

        return fprintf(out, "%" PRIu64 "%s", v, v > INT32_MAX ? "L" : "");
    }
    case TT_CONF_DOUBLE:
        return print_double(out, *(const double *)slot);
    case TT_CONF_BOOL:
        return fprintf(out, "%s", *(const bool *)slot ? "true" : "false");
    }
    return 0;
}

static void print_props(const struct tt_conf_kafka *k, FILE *out)
{
    fprintf(out, "  properties = (");
    for (size_t i = 0; i < k->n_props; i++) {
        const char *key = k->props[i].key;

        fprintf(out, "%s\n    (", i ? "," : "");
        print_string(out, key);
        fprintf(out, ", ");
        print_string(out, tt_conf_is_secret(key) ? REDACTED
                                                 : k->props[i].value);
        fprintf(out, ")");
    }
    fprintf(out, "%s);\n", k->n_props ? "\n  " : " ");
}

void tt_conf_print(const struct tt_conf *conf, FILE *out)
{
    const struct tt_conf_def *defs;
    const char *group = NULL;
    size_t group_len = 0, n;

    defs = tt_conf_defs(&n);
    for (size_t i = 0; i < n; i++) {
        const char *name = defs[i].name;
        const char *dot = strchr(name, '.');
        size_t len = dot ? (size_t)(dot - name) : 0;
        int col;

        if (group && (len != group_len || strncmp(name, group, len))) {
            if (!strncmp(group, "kafka", group_len))
                print_props(&conf->kafka, out);
            fprintf(out, "};\n\n");
            group = NULL;
        }
        if (dot && !group) {
            group = name;
            group_len = len;
            fprintf(out, "%.*s = {\n", (int)len, name);
        }
        col = fprintf(out, "%s%s = ", dot ? "  " : "", dot ? dot + 1 : name);
        col += print_value(out, conf, &defs[i]);
        col += fprintf(out, ";");
        fprintf(out, "%*s# %s\n", col < DOC_COLUMN ? DOC_COLUMN - col : 1, "",
                defs[i].doc);
    }
    if (group) {
        if (!strncmp(group, "kafka", group_len))
            print_props(&conf->kafka, out);
        fprintf(out, "};\n");
    }
}
