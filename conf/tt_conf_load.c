/*
 * tt_conf_load: a libconfig file or text into a struct tt_conf.
 *
 * libconfig parses; this walks the tree it built, refuses anything the table
 * does not know (a typo must not silently keep a default), stores every value
 * through the typed puts of tt_conf.c, and drops libconfig before returning.
 */
#include "conf/tt_conf.h"

#include <errno.h>
#include <libconfig.h>
#include <string.h>
#include <sys/stat.h>

#include "conf/tt_conf_int.h"

/* libconfig 1.5 prefixes @include paths with the include directory, even
 * absolute ones; a directory that cannot exist therefore turns every
 * @include of text loaded from memory into a parse error, so that such text
 * (fuzz input, say) never opens a file. */
#define NO_INCLUDE_DIR "/nonexistent/twotime: no @include from memory"

struct walk {
    struct tt_conf *conf;
    const char *name; /* file name for messages when libconfig has none */
    char *errstr;
    size_t errstr_size;
};

/* "FILE:LINE: " of a setting into `buf`. */
static const char *where_of(const struct walk *w, const config_setting_t *s,
                            char *buf, size_t size)
{
    const char *file = config_setting_source_file(s);

    snprintf(buf, size, "%s:%u: ", file ? file : w->name,
             config_setting_source_line(s));
    return buf;
}

static tt_err_t unknown(const struct walk *w, const config_setting_t *s,
                        const char *full)
{
    char where[512], hint[64];

    where_of(w, s, where, sizeof(where));
    if (tt_conf_suggest(full, hint, sizeof(hint)))
        return tt_errf(TT_ERR_CONF, w->errstr, w->errstr_size,
                       "%sunknown setting '%s' (did you mean '%s'?)", where,
                       full, hint);
    return tt_errf(TT_ERR_CONF, w->errstr, w->errstr_size,
                   "%sunknown setting '%s'", where, full);
}

/* One scalar setting of the file into the setting `def`. */
static tt_err_t apply(const struct walk *w, const struct tt_conf_def *def,
                      const config_setting_t *s)
{
    char where[512];

    where_of(w, s, where, sizeof(where));
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
        return tt_conf_put_int(w->conf, def, config_setting_get_int(s), where,
                               w->errstr, w->errstr_size);
    case CONFIG_TYPE_INT64:
        return tt_conf_put_int(w->conf, def, config_setting_get_int64(s),
                               where, w->errstr, w->errstr_size);
    case CONFIG_TYPE_FLOAT:
        return tt_conf_put_double(w->conf, def, config_setting_get_float(s),
                                  where, w->errstr, w->errstr_size);
    case CONFIG_TYPE_BOOL:
        return tt_conf_put_bool(w->conf, def, config_setting_get_bool(s) != 0,
                                where, w->errstr, w->errstr_size);
    case CONFIG_TYPE_STRING:
        return tt_conf_put_string(w->conf, def, config_setting_get_string(s),
                                  where, w->errstr, w->errstr_size);
    default:
        return tt_errf(TT_ERR_CONF, w->errstr, w->errstr_size,
                       "%s%s must be %s", where, def->name,
                       tt_conf_type_name(def->type));
    }
}

/*
 * kafka.properties: libconfig names cannot contain dots, so the properties
 * are a list of pairs: ( ("security.protocol", "SSL"), ("acks", "all") ).
 */
static tt_err_t apply_props(const struct walk *w, const config_setting_t *s)
{
    char where[512];
    int n;

    if (!config_setting_is_list(s))
        return tt_errf(TT_ERR_CONF, w->errstr, w->errstr_size,
                       "%s" TT_CONF_PROPS " must be a list of (\"name\", "
                       "\"value\") pairs",
                       where_of(w, s, where, sizeof(where)));
    n = config_setting_length(s);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        const config_setting_t *k, *v;
        tt_err_t err;

        where_of(w, e, where, sizeof(where));
        if (!config_setting_is_aggregate(e) || config_setting_length(e) != 2 ||
            config_setting_type(k = config_setting_get_elem(e, 0)) !=
                CONFIG_TYPE_STRING ||
            config_setting_type(v = config_setting_get_elem(e, 1)) !=
                CONFIG_TYPE_STRING)
            return tt_errf(TT_ERR_CONF, w->errstr, w->errstr_size,
                           "%s" TT_CONF_PROPS " element %d must be a "
                           "(\"name\", \"value\") pair of strings",
                           where, i + 1);
        err = tt_conf_put_prop(w->conf, config_setting_get_string(k),
                               config_setting_get_string(v), where, w->errstr,
                               w->errstr_size);
        if (err)
            return err;
    }
    return TT_ERR_OK;
}

/* True when some setting lives in the group `group` ("model"). */
static bool is_group_name(const char *group)
{
    size_t n, len = strlen(group);
    const struct tt_conf_def *defs = tt_conf_defs(&n);

    for (size_t i = 0; i < n; i++) {
        if (!strncmp(defs[i].name, group, len) && defs[i].name[len] == '.')
            return true;
    }
    return false;
}

static tt_err_t walk_group(const struct walk *w, const config_setting_t *g)
{
    const char *group = config_setting_name(g);
    int n = config_setting_length(g);
    char where[512];

    if (!is_group_name(group))
        return unknown(w, g, group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const struct tt_conf_def *def;
        char full[256];
        tt_err_t err;

        if (snprintf(full, sizeof(full), "%s.%s", group,
                     config_setting_name(s)) >= (int)sizeof(full))
            return tt_errf(TT_ERR_CONF, w->errstr, w->errstr_size,
                           "%ssetting name too long",
                           where_of(w, s, where, sizeof(where)));
        if (!strcmp(full, TT_CONF_PROPS)) {
            err = apply_props(w, s);
        } else {
            def = tt_conf_def_find(full);
            if (!def)
                return unknown(w, s, full);
            err = apply(w, def, s);
        }
        if (err)
            return err;
    }
    return TT_ERR_OK;
}

static tt_err_t walk_root(const struct walk *w, const config_t *cfg)
{
    const config_setting_t *root = config_root_setting(cfg);
    int n = config_setting_length(root);
    char where[512];

    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(s);
        const struct tt_conf_def *def;
        tt_err_t err;

        if (config_setting_is_group(s)) {
            err = walk_group(w, s);
        } else if ((def = tt_conf_def_find(name)) != NULL) {
            err = apply(w, def, s);
        } else if (is_group_name(name)) {
            err = tt_errf(TT_ERR_CONF, w->errstr, w->errstr_size,
                          "%s%s must be a group: %s = { ... };",
                          where_of(w, s, where, sizeof(where)), name, name);
        } else {
            err = unknown(w, s, name);
        }
        if (err)
            return err;
    }
    return TT_ERR_OK;
}

/* A parse error as "FILE:LINE: text". */
static tt_err_t parse_error(const config_t *cfg, const char *name,
                            char *errstr, size_t errstr_size)
{
    const char *file = config_error_file(cfg);
    const char *text = config_error_text(cfg);

    return tt_errf(TT_ERR_CONF, errstr, errstr_size, "%s:%d: %s",
                   file ? file : name, config_error_line(cfg),
                   text ? text : "cannot parse");
}

tt_err_t tt_conf_load_file(struct tt_conf *conf, const char *path,
                           char *errstr, size_t errstr_size)
{
    struct walk w = {conf, path, errstr, errstr_size};
    struct stat st;
    config_t cfg;
    tt_err_t err;
    FILE *fp;

    if (!conf || !path)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "tt_conf_load_file: NULL argument");
    fp = fopen(path, "r");
    if (!fp)
        return tt_errf(TT_ERR_IO, errstr, errstr_size, "%s: cannot open: %s",
                       path, strerror(errno));
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return tt_errf(TT_ERR_IO, errstr, errstr_size,
                       "%s: not a regular file", path);
    }
    if (st.st_size > TT_CONF_TEXT_MAX) {
        fclose(fp);
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "%s: larger than %d bytes", path, TT_CONF_TEXT_MAX);
    }
    config_init(&cfg);
    if (!config_read(&cfg, fp))
        err = parse_error(&cfg, path, errstr, errstr_size);
    else
        err = walk_root(&w, &cfg);
    config_destroy(&cfg);
    fclose(fp);
    return err;
}

tt_err_t tt_conf_load_string(struct tt_conf *conf, const char *text,
                             const char *name, char *errstr,
                             size_t errstr_size)
{
    struct walk w = {conf, name ? name : "<string>", errstr, errstr_size};
    config_t cfg;
    tt_err_t err;

    if (!conf || !text)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "tt_conf_load_string: NULL argument");
    if (strnlen(text, TT_CONF_TEXT_MAX + 1) > TT_CONF_TEXT_MAX)
        return tt_errf(TT_ERR_CONF, errstr, errstr_size,
                       "%s: larger than %d bytes", w.name, TT_CONF_TEXT_MAX);
    config_init(&cfg);
    config_set_include_dir(&cfg, NO_INCLUDE_DIR);
    if (!config_read_string(&cfg, text))
        err = parse_error(&cfg, w.name, errstr, errstr_size);
    else
        err = walk_root(&w, &cfg);
    config_destroy(&cfg);
    return err;
}
