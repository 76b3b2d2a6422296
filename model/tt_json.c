#include "model/tt_json.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

void tt_json_init(struct tt_json *w, FILE *out, int indent)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
    w->indent = indent < 0 ? 0 : indent > 8 ? 8 : indent;
}

static void newline(struct tt_json *w)
{
    if (!w->indent)
        return;
    fputc('\n', w->out);
    for (int i = 0; i < w->depth * w->indent; i++)
        fputc(' ', w->out);
}

/* Everything that must happen before a value: a comma and a line break
 * inside an array, nothing after a key, a check that a value may come. */
static bool before_value(struct tt_json *w)
{
    if (w->err)
        return false;
    if (w->depth == 0) {
        if (w->done) {
            w->err = TT_ERR_INVAL;
            return false;
        }
        return true;
    }
    if (w->kind[w->depth - 1] == 'o') {
        if (!w->keyed) {
            w->err = TT_ERR_INVAL;
            return false;
        }
        w->keyed = false;
        return true;
    }
    if (w->any[w->depth - 1])
        fputc(',', w->out);
    w->any[w->depth - 1] = true;
    newline(w);
    return true;
}

static void after_value(struct tt_json *w)
{
    if (w->depth == 0)
        w->done = true;
    if (ferror(w->out) && !w->err)
        w->err = TT_ERR_IO;
}

static void begin(struct tt_json *w, char kind)
{
    if (!before_value(w))
        return;
    if (w->depth >= TT_JSON_DEPTH_MAX) {
        w->err = TT_ERR_INVAL;
        return;
    }
    fputc(kind == 'o' ? '{' : '[', w->out);
    w->kind[w->depth] = kind;
    w->any[w->depth] = false;
    w->depth++;
}

static void end(struct tt_json *w, char kind)
{
    if (w->err)
        return;
    if (w->depth == 0 || w->kind[w->depth - 1] != kind || w->keyed) {
        w->err = TT_ERR_INVAL;
        return;
    }
    w->depth--;
    if (w->any[w->depth])
        newline(w);
    fputc(kind == 'o' ? '}' : ']', w->out);
    after_value(w);
}

void tt_json_obj_begin(struct tt_json *w) { begin(w, 'o'); }
void tt_json_obj_end(struct tt_json *w) { end(w, 'o'); }
void tt_json_arr_begin(struct tt_json *w) { begin(w, 'a'); }
void tt_json_arr_end(struct tt_json *w) { end(w, 'a'); }

/* The length of the valid UTF-8 sequence at s (at most `len` bytes), or 0
 * when it is not one (overlong forms, surrogates, > U+10FFFF rejected). */
static size_t utf8_len(const unsigned char *s, size_t len)
{
    unsigned c = s[0];
    size_t n;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n > len)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void tt_json_write_string(FILE *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    fputc('"', out);
    while (i < len) {
        unsigned c = p[i];
        size_t n;

        switch (c) {
        case '"':
            fputs("\\\"", out);
            i++;
            continue;
        case '\\':
            fputs("\\\\", out);
            i++;
            continue;
        case '\n':
            fputs("\\n", out);
            i++;
            continue;
        case '\t':
            fputs("\\t", out);
            i++;
            continue;
        case '\r':
            fputs("\\r", out);
            i++;
            continue;
        default:
            break;
        }
        if (c < 0x20 || c == 0x7f) {
            fprintf(out, "\\u%04x", c);
            i++;
            continue;
        }
        n = utf8_len(p + i, len - i);
        if (n == 0) {
            fputs("\\ufffd", out);
            i++;
            continue;
        }
        fwrite(p + i, 1, n, out);
        i += n;
    }
    fputc('"', out);
}

void tt_json_key(struct tt_json *w, const char *key)
{
    if (w->err)
        return;
    if (w->depth == 0 || w->kind[w->depth - 1] != 'o' || w->keyed) {
        w->err = TT_ERR_INVAL;
        return;
    }
    if (w->any[w->depth - 1])
        fputc(',', w->out);
    w->any[w->depth - 1] = true;
    newline(w);
    tt_json_write_string(w->out, key, strlen(key));
    fputs(w->indent ? ": " : ":", w->out);
    w->keyed = true;
}

void tt_json_strn(struct tt_json *w, const char *s, size_t len)
{
    if (!before_value(w))
        return;
    tt_json_write_string(w->out, s, len);
    after_value(w);
}

void tt_json_str(struct tt_json *w, const char *s)
{
    if (!s) {
        tt_json_null(w);
        return;
    }
    tt_json_strn(w, s, strlen(s));
}

void tt_json_int(struct tt_json *w, int64_t v)
{
    if (!before_value(w))
        return;
    fprintf(w->out, "%" PRId64, v);
    after_value(w);
}

void tt_json_uint(struct tt_json *w, uint64_t v)
{
    if (!before_value(w))
        return;
    fprintf(w->out, "%" PRIu64, v);
    after_value(w);
}

static void number(struct tt_json *w, double v, const char *fmt)
{
    if (!before_value(w))
        return;
    if (!isfinite(v))
        fputs("null", w->out);
    else if (v == 0)
        fputc('0', w->out); /* never "-0" */
    else
        fprintf(w->out, fmt, v);
    after_value(w);
}

void tt_json_double(struct tt_json *w, double v) { number(w, v, "%.17g"); }
void tt_json_num(struct tt_json *w, double v) { number(w, v, "%.6g"); }

void tt_json_bool(struct tt_json *w, bool v)
{
    if (!before_value(w))
        return;
    fputs(v ? "true" : "false", w->out);
    after_value(w);
}

void tt_json_null(struct tt_json *w)
{
    if (!before_value(w))
        return;
    fputs("null", w->out);
    after_value(w);
}

tt_err_t tt_json_finish(struct tt_json *w)
{
    if (w->err)
        return w->err;
    if (w->depth != 0 || !w->done)
        return w->err = TT_ERR_INVAL;
    fputc('\n', w->out);
    if (fflush(w->out) != 0 || ferror(w->out))
        return w->err = TT_ERR_IO;
    return TT_ERR_OK;
}
