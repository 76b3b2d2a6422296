#include "cli/tt_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/tt_dataset.h"
#include "schemas/tt_container.h"

struct tt_source_s {
    tt_reader_t *text;
    tt_container_reader_t *avro;
    char path[1024];
    bool skip_bad;
    uint64_t records; /* Avro records read */
    uint64_t skipped; /* Avro records skipped */
};

/* True when `path` is a regular file that starts with "Obj" 01.  Other
 * files (pipes, devices) are never read ahead: the text reader gets them
 * untouched. */
static bool is_avro(const char *path)
{
    unsigned char magic[4];
    struct stat st;
    bool yes;
    FILE *f;

    if (!strcmp(path, "-") || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    f = fopen(path, "rb");
    if (!f)
        return false;
    yes = fread(magic, 1, 4, f) == 4 && !memcmp(magic, "Obj\x01", 4);
    fclose(f);
    return yes;
}

tt_err_t tt_source_open(tt_source_t **out, const char *path,
                        const struct tt_reader_opts *opts, char *errstr,
                        size_t errstr_size)
{
    tt_source_t *s;
    tt_err_t err;

    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    snprintf(s->path, sizeof(s->path), "%s", path);
    s->skip_bad = opts->skip_bad;
    if (is_avro(path)) {
        char tmp[512];

        err = tt_container_reader_new(&s->avro, path, tmp, sizeof(tmp));
        if (err)
            tt_errf(err, errstr, errstr_size, "%s: %s", path, tmp);
    } else {
        err = tt_reader_open_opts(&s->text, path, opts, errstr, errstr_size);
    }
    if (err) {
        tt_source_close(s);
        return err;
    }
    *out = s;
    return TT_ERR_OK;
}

static tt_err_t next_avro(tt_source_t *s, struct tt_event *ev, char *errstr,
                          size_t errstr_size)
{
    char tmp[512];
    bool end = false;
    tt_err_t err;

    for (;;) {
        err = tt_container_reader_next(s->avro, ev, &end, tmp, sizeof(tmp));
        if (!err && end)
            return TT_ERR_NOTFOUND;
        s->records++;
        if (!err)
            return TT_ERR_OK;
        if (err == TT_ERR_RANGE && s->skip_bad) {
            s->skipped++;
            continue;
        }
        return tt_errf(err, errstr, errstr_size, "%s: record %llu: %s",
                       s->path, (unsigned long long)s->records, tmp);
    }
}

tt_err_t tt_source_next(tt_source_t *s, struct tt_event *ev, char *errstr,
                        size_t errstr_size)
{
    if (s->avro)
        return next_avro(s, ev, errstr, errstr_size);
    return tt_reader_next(s->text, ev, errstr, errstr_size);
}

uint64_t tt_source_skipped(const tt_source_t *s)
{
    return s->avro ? s->skipped : tt_reader_skipped(s->text);
}

uint64_t tt_source_position(const tt_source_t *s)
{
    return s->avro ? s->records : tt_reader_line(s->text);
}

const char *tt_source_unit(const tt_source_t *s)
{
    return s->avro ? "record" : "line";
}

const char *tt_source_format_name(const tt_source_t *s)
{
    return s->avro ? "avro" : tt_format_name(tt_reader_format(s->text));
}

bool tt_source_is_avro(const tt_source_t *s)
{
    return s->avro != NULL;
}

uint64_t tt_source_count(const tt_source_t *s)
{
    return s->avro ? tt_container_reader_count(s->avro) : 0;
}

void tt_source_close(tt_source_t *s)
{
    if (!s)
        return;
    tt_reader_close(s->text);
    tt_container_reader_destroy(s->avro);
    free(s);
}

tt_err_t tt_source_read_dataset(struct tt_dataset *ds, const char *path,
                                enum tt_format fmt, bool skip_bad,
                                uint64_t *skipped, char *errstr,
                                size_t errstr_size)
{
    struct tt_reader_opts o;
    struct tt_event ev;
    tt_source_t *s;
    tt_err_t err;

    tt_reader_opts_init(&o);
    o.format = fmt;
    o.skip_bad = skip_bad;
    if (skipped)
        *skipped = 0;
    if (!is_avro(path))
        return tt_dataset_read_opts(ds, path, &o, skipped, errstr,
                                    errstr_size);
    err = tt_source_open(&s, path, &o, errstr, errstr_size);
    if (err)
        return err;
    while ((err = tt_source_next(s, &ev, errstr, errstr_size)) == TT_ERR_OK) {
        err = tt_dataset_add(ds, &ev);
        if (err) {
            err = tt_errf(err, errstr, errstr_size, "%s: record %llu: %s",
                          path, (unsigned long long)tt_source_position(s),
                          tt_err_str(err));
            goto out;
        }
    }
    if (err != TT_ERR_NOTFOUND)
        goto out;
    err = tt_dataset_finish(ds);
    if (err)
        err = tt_errf(err, errstr, errstr_size,
                      "%s: finishing the dataset: %s", path, tt_err_str(err));
out:
    if (skipped)
        *skipped = tt_source_skipped(s);
    tt_source_close(s);
    return err;
}
