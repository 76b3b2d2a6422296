/*
 * Line-oriented reader of interaction logs.  The file is read in chunks of
 * RBUF_SIZE bytes and cut into lines in a buffer of at most
 * TT_READER_LINE_MAX bytes, so memory does not depend on the input.  Fields
 * are split in place.  Quoted csv fields cannot contain line ends (a log of
 * interactions has no reason to); such a field is reported as unterminated.
 */
#include "model/tt_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/tt_dataset.h"

#define RBUF_SIZE (64u * 1024u)
#define NAME_MAX_LEN 256
#define REASON_SIZE 256
#define SNIP_LEN 40

enum col_role { COL_NONE, COL_USER, COL_ITEM, COL_TS, COL_CAT };

struct tt_reader_s {
    FILE *f;
    bool own_f;
    char name[NAME_MAX_LEN];
    struct tt_reader_opts opts;
    enum tt_format fmt; /* resolved; AUTO until the first line was seen */

    char rbuf[RBUF_SIZE];
    size_t rpos, rlen;
    bool eof;
    char line[TT_READER_LINE_MAX + 2]; /* + '\r' + NUL */
    size_t line_len;
    bool pending; /* `line` holds a data line not returned yet */

    uint64_t line_no, skipped, blank;

    /* csv / mlcsv layout from the header */
    char delim;
    int n_cols;
    int col_user, col_item, col_ts, col_cat;
    bool ts_seconds;
};

/* Results of read_line(). */
enum { LINE_OK, LINE_EOF, LINE_IO, LINE_LONG };

static const char *const format_names[] = {
    [TT_FORMAT_AUTO] = "auto",   [TT_FORMAT_CSV] = "csv",
    [TT_FORMAT_UDATA] = "udata", [TT_FORMAT_ML_DAT] = "dat",
    [TT_FORMAT_ML_CSV] = "mlcsv",
};

tt_err_t tt_format_parse(const char *name, enum tt_format *out)
{
    for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]);
         i++) {
        if (strcmp(name, format_names[i]) == 0) {
            *out = (enum tt_format)i;
            return TT_ERR_OK;
        }
    }
    return TT_ERR_INVAL;
}

const char *tt_format_name(enum tt_format fmt)
{
    if ((size_t)fmt < sizeof(format_names) / sizeof(format_names[0]))
        return format_names[fmt];
    return "?";
}

tt_err_t tt_ts_unit_parse(const char *name, enum tt_ts_unit *out)
{
    if (strcmp(name, "auto") == 0)
        *out = TT_TS_UNIT_AUTO;
    else if (strcmp(name, "ms") == 0)
        *out = TT_TS_UNIT_MS;
    else if (strcmp(name, "s") == 0)
        *out = TT_TS_UNIT_S;
    else
        return TT_ERR_INVAL;
    return TT_ERR_OK;
}

void tt_reader_opts_init(struct tt_reader_opts *opts)
{
    opts->format = TT_FORMAT_AUTO;
    opts->skip_bad = false;
    opts->ts_unit = TT_TS_UNIT_AUTO;
}

/* ---- lines ---- */

static int fill(tt_reader_t *r)
{
    size_t n;

    if (r->eof)
        return 0;
    n = fread(r->rbuf, 1, sizeof(r->rbuf), r->f);
    if (n == 0) {
        if (ferror(r->f))
            return -1;
        r->eof = true;
        return 0;
    }
    r->rpos = 0;
    r->rlen = n;
    return 1;
}

/* The next line into r->line (NUL-terminated, without "\n" or "\r\n"). */
static int read_line(tt_reader_t *r)
{
    size_t n = 0;
    bool any = false, too_long = false;

    for (;;) {
        char *start, *nl;
        size_t avail, take;

        if (r->rpos == r->rlen) {
            int rc = fill(r);

            if (rc < 0)
                return LINE_IO;
            if (rc == 0) {
                if (!any)
                    return LINE_EOF;
                break;
            }
        }
        any = true;
        start = r->rbuf + r->rpos;
        avail = r->rlen - r->rpos;
        nl = memchr(start, '\n', avail);
        take = nl ? (size_t)(nl - start) : avail;
        if (!too_long) {
            if (n + take > TT_READER_LINE_MAX + 1) {
                too_long = true; /* keep reading up to the line end */
            } else {
                memcpy(r->line + n, start, take);
                n += take;
            }
        }
        r->rpos += take + (nl ? 1 : 0);
        if (nl)
            break;
    }
    r->line_no++;
    if (too_long)
        return LINE_LONG;
    if (n > 0 && r->line[n - 1] == '\r')
        n--;
    if (n > TT_READER_LINE_MAX)
        return LINE_LONG;
    r->line[n] = '\0';
    /* A UTF-8 byte order mark may open the file. */
    if (r->line_no == 1 && n >= 3 && memcmp(r->line, "\xEF\xBB\xBF", 3) == 0) {
        memmove(r->line, r->line + 3, n - 2);
        n -= 3;
    }
    r->line_len = n;
    return LINE_OK;
}

static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

/* ---- fields ---- */

static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *e = '\0';
    return s;
}

/*
 * Cuts the next field off *pp (in place; the field is NUL-terminated and
 * trimmed).  `delim` is one character, or "::" when dcolon.  Quotes are
 * honoured when `quotes`.  *more tells whether a delimiter followed.
 * Returns NULL for a malformed quoted field (reason set).
 */
static char *take_field(char **pp, char delim, bool dcolon, bool quotes,
                        bool *more, const char **reason)
{
    char *p = *pp, *d;

    while (*p == ' ' || (*p == '\t' && delim != '\t'))
        p++;
    if (quotes && *p == '"') {
        char *w = p, *s = p + 1, *fld = p;

        for (;;) {
            if (*s == '\0') {
                *reason = "unterminated quoted field";
                return NULL;
            }
            if (*s == '"') {
                if (s[1] == '"') {
                    *w++ = '"';
                    s += 2;
                    continue;
                }
                s++;
                break;
            }
            *w++ = *s++;
        }
        while (*s == ' ' || (*s == '\t' && delim != '\t'))
            s++;
        if (*s == delim) {
            *more = true;
            *pp = s + 1;
        } else if (*s == '\0') {
            *more = false;
            *pp = s;
        } else {
            *reason = "text after a closing quote";
            return NULL;
        }
        *w = '\0';
        return fld;
    }
    if (dcolon) {
        d = strstr(p, "::");
        if (d) {
            *d = '\0';
            *pp = d + 2;
        }
    } else {
        d = strchr(p, delim);
        if (d) {
            *d = '\0';
            *pp = d + 1;
        }
    }
    if (!d)
        *pp = p + strlen(p);
    *more = d != NULL;
    return trim(p);
}

/* A copy of `s` fit for a message: printable, at most SNIP_LEN chars. */
static void snip(char *out, size_t size, const char *s)
{
    size_t i = 0;

    for (; s[i] && i < SNIP_LEN && i + 4 < size; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (s[i] && i + 4 <= size) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
}

/* Parses a non-negative decimal integer id. */
static bool parse_id(const char *s, const char *what, int64_t *out,
                     char *reason, size_t rsize)
{
    char sn[SNIP_LEN + 8];
    char *end;
    long long v;

    snip(sn, sizeof(sn), s);
    if (*s == '\0') {
        snprintf(reason, rsize, "missing %s", what);
        return false;
    }
    if (!((*s >= '0' && *s <= '9') ||
          ((*s == '-' || *s == '+') && s[1] >= '0' && s[1] <= '9'))) {
        snprintf(reason, rsize, "%s is not an integer: \"%s\"", what, sn);
        return false;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0') {
        snprintf(reason, rsize, "%s is not an integer: \"%s\"", what, sn);
        return false;
    }
    if (errno == ERANGE) {
        snprintf(reason, rsize, "%s out of range: \"%s\"", what, sn);
        return false;
    }
    if (v < 0) {
        snprintf(reason, rsize, "negative %s: %lld", what, v);
        return false;
    }
    *out = (int64_t)v;
    return true;
}

/* Parses a timestamp, in seconds (an optional fraction is kept to the ms)
 * or in ms, into ms within the range tt_event_valid() accepts. */
static bool parse_ts(const char *s, bool seconds, int64_t *out, char *reason,
                     size_t rsize)
{
    char sn[SNIP_LEN + 8];
    char *end;
    long long v;
    int64_t ms, frac = 0;

    snip(sn, sizeof(sn), s);
    if (*s == '\0') {
        snprintf(reason, rsize, "missing timestamp");
        return false;
    }
    if (!((*s >= '0' && *s <= '9') ||
          ((*s == '-' || *s == '+') && s[1] >= '0' && s[1] <= '9')))
        goto not_number;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (seconds && *end == '.') {
        int64_t scale = 100;

        for (end++; *end >= '0' && *end <= '9'; end++) {
            frac += (*end - '0') * scale;
            scale /= 10;
        }
    }
    if (*end != '\0')
        goto not_number;
    if (errno == ERANGE || v < 0 ||
        (seconds && v > TT_EVENT_TS_MAX / 1000) ||
        (!seconds && v > TT_EVENT_TS_MAX))
        goto range;
    ms = seconds ? (int64_t)v * 1000 + frac : (int64_t)v;
    if (ms < TT_EVENT_TS_MIN || ms > TT_EVENT_TS_MAX)
        goto range;
    *out = ms;
    return true;
not_number:
    snprintf(reason, rsize, "timestamp is not %s: \"%s\"",
             seconds ? "a number of seconds" : "an integer (ms)", sn);
    return false;
range:
    snprintf(reason, rsize,
             "timestamp out of range (1970..2200) in %s: \"%s\"",
             seconds ? "seconds" : "ms", sn);
    return false;
}

static bool parse_category(const char *s, int32_t *out, char *reason,
                           size_t rsize)
{
    int64_t v;

    if (*s == '\0' || strcmp(s, "-1") == 0) {
        *out = TT_EVENT_NO_CATEGORY;
        return true;
    }
    if (!parse_id(s, "category", &v, reason, rsize))
        return false;
    if (v > INT32_MAX) {
        snprintf(reason, rsize, "category out of range: %lld", (long long)v);
        return false;
    }
    *out = (int32_t)v;
    return true;
}

/* ---- headers and format detection ---- */

static bool name_is(const char *s, const char *const *names)
{
    for (; *names; names++)
        if (strcasecmp(s, *names) == 0)
            return true;
    return false;
}

static const char *const user_names[] = {"user_id", "userid", "user", NULL};
static const char *const item_names[] = {"item_id", "itemid", "item",
                                         "movie_id", "movieid", NULL};
static const char *const ts_ms_names[] = {"timestamp_ms", "ts_ms", "time_ms",
                                          NULL};
static const char *const ts_s_names[] = {"timestamp_s", "ts_s", "time_s",
                                         "timestamp_sec", "timestamp_seconds",
                                         NULL};
static const char *const ts_names[] = {"timestamp", "ts", "time", NULL};
static const char *const cat_names[] = {"category", "category_id", NULL};

/*
 * Reads the header in r->line.  For AUTO, also decides between csv and mlcsv
 * (a movieId column means MovieLens).  Returns false with a reason.
 */
static bool parse_header(tt_reader_t *r, char *reason, size_t rsize)
{
    char *p = r->line, *f;
    bool more = true, movie = false;
    int ts_unit_by_name = 0; /* 0 none, 1 ms, 2 s */
    const char *why = NULL;

    r->delim = memchr(r->line, '\t', r->line_len) ? '\t' : ',';
    r->col_user = r->col_item = r->col_ts = r->col_cat = -1;
    r->n_cols = 0;
    while (more) {
        int *slot = NULL;
        int col = r->n_cols++;

        f = take_field(&p, r->delim, false, true, &more, &why);
        if (!f) {
            snprintf(reason, rsize, "header: %s", why);
            return false;
        }
        if (name_is(f, user_names)) {
            slot = &r->col_user;
        } else if (name_is(f, item_names)) {
            slot = &r->col_item;
            movie = strcasecmp(f, "movieid") == 0;
        } else if (name_is(f, ts_ms_names)) {
            slot = &r->col_ts;
            ts_unit_by_name = 1;
        } else if (name_is(f, ts_s_names)) {
            slot = &r->col_ts;
            ts_unit_by_name = 2;
        } else if (name_is(f, ts_names)) {
            slot = &r->col_ts;
        } else if (name_is(f, cat_names)) {
            slot = &r->col_cat;
        }
        if (slot && *slot >= 0) {
            snprintf(reason, rsize, "header: two columns for the same role "
                                    "(column %d and %d)",
                     *slot + 1, col + 1);
            return false;
        }
        if (slot)
            *slot = col;
    }
    if (r->col_user < 0 || r->col_item < 0 || r->col_ts < 0) {
        snprintf(reason, rsize,
                 "header has no %s column (expected e.g. "
                 "user_id,item_id,timestamp)",
                 r->col_user < 0   ? "user"
                 : r->col_item < 0 ? "item"
                                   : "timestamp");
        return false;
    }
    if (r->fmt == TT_FORMAT_AUTO)
        r->fmt = movie ? TT_FORMAT_ML_CSV : TT_FORMAT_CSV;
    if (r->opts.ts_unit != TT_TS_UNIT_AUTO)
        r->ts_seconds = r->opts.ts_unit == TT_TS_UNIT_S;
    else if (ts_unit_by_name)
        r->ts_seconds = ts_unit_by_name == 2;
    else
        r->ts_seconds = r->fmt == TT_FORMAT_ML_CSV;
    return true;
}

/* True if s[0..n) is a plain number ([+-]digits[.digits]). */
static bool looks_numeric(const char *s, size_t n)
{
    size_t i = 0;
    bool digits = false;

    while (i < n && s[i] == ' ')
        i++;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        digits = true;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            digits = true;
    while (i < n && s[i] == ' ')
        i++;
    return digits && i == n;
}

/* u.data: exactly four tab-separated numeric fields. */
static bool looks_udata(const char *s, size_t n)
{
    size_t start = 0, fields = 0;

    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '\t') {
            if (!looks_numeric(s + start, i - start))
                return false;
            fields++;
            start = i + 1;
        }
    }
    return fields == 4;
}

/* Decides the format from the first non-blank line (AUTO) or reads the
 * header (csv, mlcsv).  The line of a header-less format stays pending. */
static tt_err_t first_line(tt_reader_t *r, char *errstr, size_t errstr_size)
{
    char reason[REASON_SIZE];

    if (r->fmt == TT_FORMAT_AUTO) {
        if (memchr(r->line, '\0', r->line_len)) {
            return tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                           "%s:%llu: cannot detect the format: NUL byte",
                           r->name, (unsigned long long)r->line_no);
        }
        if (strstr(r->line, "::")) {
            r->fmt = TT_FORMAT_ML_DAT;
            r->pending = true;
            return TT_ERR_OK;
        }
        if (looks_udata(r->line, r->line_len)) {
            r->fmt = TT_FORMAT_UDATA;
            r->pending = true;
            return TT_ERR_OK;
        }
    }
    if (!parse_header(r, reason, sizeof(reason))) {
        return tt_errf(TT_ERR_PARSE, errstr, errstr_size, "%s:%llu: %s%s",
                       r->name, (unsigned long long)r->line_no,
                       r->opts.format == TT_FORMAT_AUTO
                           ? "cannot detect the format: "
                           : "",
                       reason);
    }
    return TT_ERR_OK;
}

/* ---- open / close ---- */

static tt_err_t open_common(tt_reader_t **out, FILE *f, bool own,
                            const char *name,
                            const struct tt_reader_opts *opts, char *errstr,
                            size_t errstr_size)
{
    tt_reader_t *r;
    tt_err_t err;
    int rc;

    *out = NULL;
    if ((unsigned)opts->format > TT_FORMAT_ML_CSV ||
        (unsigned)opts->ts_unit > TT_TS_UNIT_S) {
        if (own)
            fclose(f);
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "%s: invalid reader options", name);
    }
    r = calloc(1, sizeof(*r));
    if (!r) {
        if (own)
            fclose(f);
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "%s: out of memory", name);
    }
    r->f = f;
    r->own_f = own;
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->opts = *opts;
    r->fmt = opts->format;
    if (r->fmt == TT_FORMAT_AUTO || r->fmt == TT_FORMAT_CSV ||
        r->fmt == TT_FORMAT_ML_CSV) {
        do {
            rc = read_line(r);
            if (rc == LINE_OK && is_blank(r->line, r->line_len))
                r->blank++;
            else
                break;
        } while (1);
        if (rc == LINE_IO) {
            err = tt_errf(TT_ERR_IO, errstr, errstr_size, "%s: read error: %s",
                          r->name, strerror(errno));
            goto fail;
        }
        if (rc == LINE_LONG) {
            err = tt_errf(TT_ERR_PARSE, errstr, errstr_size,
                          "%s:%llu: line longer than %u bytes", r->name,
                          (unsigned long long)r->line_no,
                          TT_READER_LINE_MAX);
            goto fail;
        }
        if (rc == LINE_OK) {
            err = first_line(r, errstr, errstr_size);
            if (err)
                goto fail;
        }
    }
    *out = r;
    return TT_ERR_OK;
fail:
    tt_reader_close(r);
    return err;
}

tt_err_t tt_reader_open_stream(tt_reader_t **out, FILE *f, const char *name,
                               const struct tt_reader_opts *opts,
                               char *errstr, size_t errstr_size)
{
    return open_common(out, f, false, name, opts, errstr, errstr_size);
}

tt_err_t tt_reader_open_opts(tt_reader_t **out, const char *path,
                             const struct tt_reader_opts *opts, char *errstr,
                             size_t errstr_size)
{
    FILE *f;

    *out = NULL;
    if (strcmp(path, "-") == 0)
        return open_common(out, stdin, false, "<stdin>", opts, errstr,
                           errstr_size);
    f = fopen(path, "rb");
    if (!f)
        return tt_errf(TT_ERR_IO, errstr, errstr_size, "%s: %s", path,
                       strerror(errno));
    return open_common(out, f, true, path, opts, errstr, errstr_size);
}

tt_err_t tt_reader_open(tt_reader_t **out, const char *path,
                        enum tt_format fmt, bool skip_bad, char *errstr,
                        size_t errstr_size)
{
    struct tt_reader_opts o;

    tt_reader_opts_init(&o);
    o.format = fmt;
    o.skip_bad = skip_bad;
    return tt_reader_open_opts(out, path, &o, errstr, errstr_size);
}

void tt_reader_close(tt_reader_t *r)
{
    if (!r)
        return;
    if (r->own_f)
        fclose(r->f);
    free(r);
}

/* ---- events ---- */

/* Parses a header-less line: four fields user, item, rating, seconds. */
static bool parse_ml_line(tt_reader_t *r, struct tt_event *ev, char *reason,
                          size_t rsize)
{
    char *p = r->line, *fld[4];
    bool more = true, dcolon = r->fmt == TT_FORMAT_ML_DAT;
    const char *why = NULL;
    int n = 0;

    while (more) {
        char *f = take_field(&p, '\t', dcolon, false, &more, &why);

        if (n < 4)
            fld[n] = f;
        n++;
    }
    (void)why; /* unquoted fields cannot fail */
    if (n != 4) {
        snprintf(reason, rsize, "expected 4 %s-separated fields, got %d",
                 dcolon ? "'::'" : "tab", n);
        return false;
    }
    ev->category = TT_EVENT_NO_CATEGORY;
    return parse_id(fld[0], "user id", &ev->user_id, reason, rsize) &&
           parse_id(fld[1], "item id", &ev->item_id, reason, rsize) &&
           parse_ts(fld[3], true, &ev->ts_ms, reason, rsize);
}

static bool parse_csv_line(tt_reader_t *r, struct tt_event *ev, char *reason,
                           size_t rsize)
{
    char *p = r->line, *fu = NULL, *fi = NULL, *ft = NULL, *fc = NULL;
    bool more = true;
    const char *why = NULL;
    int n = 0;

    while (more) {
        char *f = take_field(&p, r->delim, false, true, &more, &why);

        if (!f) {
            snprintf(reason, rsize, "%s", why);
            return false;
        }
        if (n == r->col_user)
            fu = f;
        else if (n == r->col_item)
            fi = f;
        else if (n == r->col_ts)
            ft = f;
        else if (n == r->col_cat)
            fc = f;
        n++;
    }
    if (n != r->n_cols) {
        snprintf(reason, rsize, "expected %d fields as in the header, got %d",
                 r->n_cols, n);
        return false;
    }
    ev->category = TT_EVENT_NO_CATEGORY;
    return parse_id(fu, "user id", &ev->user_id, reason, rsize) &&
           parse_id(fi, "item id", &ev->item_id, reason, rsize) &&
           parse_ts(ft, r->ts_seconds, &ev->ts_ms, reason, rsize) &&
           (!fc || parse_category(fc, &ev->category, reason, rsize));
}

tt_err_t tt_reader_next(tt_reader_t *r, struct tt_event *ev, char *errstr,
                        size_t errstr_size)
{
    char reason[REASON_SIZE];

    for (;;) {
        bool ok;

        if (r->pending) {
            r->pending = false;
        } else {
            int rc = read_line(r);

            if (rc == LINE_EOF)
                return TT_ERR_NOTFOUND;
            if (rc == LINE_IO)
                return tt_errf(TT_ERR_IO, errstr, errstr_size,
                               "%s: read error: %s", r->name,
                               strerror(errno));
            if (rc == LINE_LONG) {
                snprintf(reason, sizeof(reason),
                         "line longer than %u bytes", TT_READER_LINE_MAX);
                goto bad;
            }
        }
        if (is_blank(r->line, r->line_len)) {
            r->blank++;
            continue;
        }
        if (memchr(r->line, '\0', r->line_len)) {
            snprintf(reason, sizeof(reason), "NUL byte in line");
            goto bad;
        }
        if (r->fmt == TT_FORMAT_AUTO) {
            /* Only reachable when the input was empty at open time. */
            return TT_ERR_NOTFOUND;
        }
        if (r->fmt == TT_FORMAT_UDATA || r->fmt == TT_FORMAT_ML_DAT)
            ok = parse_ml_line(r, ev, reason, sizeof(reason));
        else
            ok = parse_csv_line(r, ev, reason, sizeof(reason));
        if (ok)
            return TT_ERR_OK;
bad:
        if (!r->opts.skip_bad)
            return tt_errf(TT_ERR_PARSE, errstr, errstr_size, "%s:%llu: %s",
                           r->name, (unsigned long long)r->line_no, reason);
        r->skipped++;
    }
}

uint64_t tt_reader_skipped(const tt_reader_t *r)
{
    return r->skipped;
}

uint64_t tt_reader_blank(const tt_reader_t *r)
{
    return r->blank;
}

uint64_t tt_reader_line(const tt_reader_t *r)
{
    return r->line_no;
}

enum tt_format tt_reader_format(const tt_reader_t *r)
{
    return r->fmt;
}

/* ---- whole logs ---- */

tt_err_t tt_dataset_read_opts(struct tt_dataset *ds, const char *path,
                              const struct tt_reader_opts *opts,
                              uint64_t *skipped, char *errstr,
                              size_t errstr_size)
{
    tt_reader_t *r;
    struct tt_event ev;
    tt_err_t err;

    err = tt_reader_open_opts(&r, path, opts, errstr, errstr_size);
    if (err)
        return err;
    while ((err = tt_reader_next(r, &ev, errstr, errstr_size)) == TT_ERR_OK) {
        err = tt_dataset_add(ds, &ev);
        if (err) {
            err = tt_errf(err, errstr, errstr_size, "%s:%llu: %s", r->name,
                          (unsigned long long)r->line_no,
                          err == TT_ERR_INVAL ? "dataset already finished"
                                              : tt_err_str(err));
            goto out;
        }
    }
    if (err != TT_ERR_NOTFOUND)
        goto out;
    err = tt_dataset_finish(ds);
    if (err)
        err = tt_errf(err, errstr, errstr_size, "%s: finishing the dataset: %s",
                      r->name, tt_err_str(err));
out:
    if (skipped)
        *skipped = r->skipped;
    tt_reader_close(r);
    return err;
}

tt_err_t tt_dataset_read(struct tt_dataset *ds, const char *path,
                         enum tt_format fmt, bool skip_bad, uint64_t *skipped,
                         char *errstr, size_t errstr_size)
{
    struct tt_reader_opts o;

    tt_reader_opts_init(&o);
    o.format = fmt;
    o.skip_bad = skip_bad;
    return tt_dataset_read_opts(ds, path, &o, skipped, errstr, errstr_size);
}
