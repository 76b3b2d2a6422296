#include "model/tt_jdoc.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_MIN ((size_t)64 * 1024)
/* Objects up to this size are checked for duplicate keys pairwise; larger
 * ones by sorting, so that a hostile object costs n log n, not n^2. */
#define DUP_PAIRWISE_MAX 16

struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
};

struct tt_jdoc_s {
    struct chunk *chunks;
    struct tt_jval root;
};

struct parser {
    const unsigned char *start, *p, *end;
    tt_jdoc_t *doc;
    /* Members (or items, key unused) of the containers being parsed, the
     * innermost on top; a container moves its own into the document when
     * it closes. */
    struct tt_jmember *stack;
    size_t top, cap;
    int depth;
    char *errstr;
    size_t errstr_size;
};

static void *arena_alloc(tt_jdoc_t *doc, size_t size)
{
    const size_t align = sizeof(max_align_t);
    struct chunk *c = doc->chunks;
    void *out;

    size = (size + align - 1) / align * align;
    if (!size)
        size = align;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > CHUNK_MIN ? size : CHUNK_MIN;

        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = doc->chunks;
        doc->chunks = c;
    }
    out = (char *)c->data + c->used;
    c->used += size;
    return out;
}

static tt_err_t fail(struct parser *ps, size_t offset, tt_err_t err,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static tt_err_t fail(struct parser *ps, size_t offset, tt_err_t err,
                     const char *fmt, ...)
{
    char what[256];
    size_t line = 1, col = 1;
    va_list ap;

    for (size_t i = 0; i < offset && ps->start + i < ps->end; i++) {
        if (ps->start[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return tt_errf(err, ps->errstr, ps->errstr_size,
                   "byte %zu (line %zu, column %zu): %s", offset, line, col,
                   what);
}

static size_t here(const struct parser *ps)
{
    return (size_t)(ps->p - ps->start);
}

/* A printable description of the byte at p, for messages. */
static void describe(const struct parser *ps, char *buf, size_t size)
{
    if (ps->p >= ps->end)
        snprintf(buf, size, "the end of the input");
    else if (*ps->p >= 0x21 && *ps->p < 0x7f)
        snprintf(buf, size, "'%c'", *ps->p);
    else
        snprintf(buf, size, "byte 0x%02x", *ps->p);
}

static tt_err_t unexpected(struct parser *ps, const char *expected)
{
    char what[32];

    describe(ps, what, sizeof(what));
    return fail(ps, here(ps), TT_ERR_PARSE, "expected %s, found %s", expected,
                what);
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
                               *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static tt_err_t push(struct parser *ps, const struct tt_jmember *m)
{
    if (ps->top == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 64;
        struct tt_jmember *s = realloc(ps->stack, cap * sizeof(*s));

        if (!s)
            return tt_errf(TT_ERR_NOMEM, ps->errstr, ps->errstr_size,
                           "out of memory");
        ps->stack = s;
        ps->cap = cap;
    }
    ps->stack[ps->top++] = *m;
    return TT_ERR_OK;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits of a \u escape at p (after "\u"). */
static tt_err_t read_hex4(struct parser *ps, unsigned *out)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        int h = ps->p < ps->end ? hexval(*ps->p) : -1;

        if (h < 0)
            return unexpected(ps, "4 hexadecimal digits after \\u");
        v = v * 16 + (unsigned)h;
        ps->p++;
    }
    *out = v;
    return TT_ERR_OK;
}

static size_t put_utf8(char *dst, unsigned cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xc0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xe0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        dst[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    dst[0] = (char)(0xf0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    dst[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* The length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    size_t n;

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

static tt_err_t parse_escape(struct parser *ps, char *dst, size_t *len)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit;
    unsigned cp = 0, lo = 0;
    tt_err_t err;

    /* p is after the backslash */
    if (ps->p >= ps->end)
        return unexpected(ps, "an escape character");
    if (*ps->p != 'u') {
        hit = *ps->p ? strchr(from, *ps->p) : NULL;
        if (!hit)
            return unexpected(ps, "one of \"\\/bfnrtu after a backslash");
        dst[(*len)++] = to[hit - from];
        ps->p++;
        return TT_ERR_OK;
    }
    ps->p++;
    err = read_hex4(ps, &cp);
    if (err)
        return err;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return fail(ps, here(ps) - 6, TT_ERR_PARSE,
                    "\\u%04x is a low surrogate without a high one", cp);
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
            return fail(ps, here(ps) - 6, TT_ERR_PARSE,
                        "\\u%04x is a high surrogate not followed by a low "
                        "one",
                        cp);
        ps->p += 2;
        err = read_hex4(ps, &lo);
        if (err)
            return err;
        if (lo < 0xdc00 || lo > 0xdfff)
            return fail(ps, here(ps) - 6, TT_ERR_PARSE,
                        "\\u%04x after a high surrogate is not a low one", lo);
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    *len += put_utf8(dst + *len, cp);
    return TT_ERR_OK;
}

/* A string at p (on its opening quote), decoded into the document. */
static tt_err_t parse_string(struct parser *ps, const char **out,
                             uint32_t *out_len)
{
    const unsigned char *q;
    size_t open = here(ps), len = 0, n;
    char *dst;
    tt_err_t err;

    ps->p++;
    /* The decoded string is never longer than its source. */
    for (q = ps->p; q < ps->end && *q != '"'; q++)
        if (*q == '\\' && q + 1 < ps->end)
            q++;
    if (q >= ps->end)
        return fail(ps, open, TT_ERR_PARSE,
                    "unterminated string (no closing quote)");
    if ((size_t)(q - ps->p) >= UINT32_MAX)
        return fail(ps, open, TT_ERR_RANGE, "string too long");
    dst = arena_alloc(ps->doc, (size_t)(q - ps->p) + 1);
    if (!dst)
        return tt_errf(TT_ERR_NOMEM, ps->errstr, ps->errstr_size,
                       "out of memory");
    while (*ps->p != '"') {
        unsigned char c = *ps->p;

        if (c < 0x20)
            return fail(ps, here(ps), TT_ERR_PARSE,
                        "control character 0x%02x inside a string (must be "
                        "escaped)",
                        c);
        if (c == '\\') {
            ps->p++;
            err = parse_escape(ps, dst, &len);
            if (err)
                return err;
            continue;
        }
        if (c < 0x80) {
            dst[len++] = (char)c;
            ps->p++;
            continue;
        }
        n = utf8_len(ps->p, ps->end);
        if (!n)
            return fail(ps, here(ps), TT_ERR_PARSE,
                        "invalid UTF-8 byte 0x%02x inside a string", c);
        memcpy(dst + len, ps->p, n);
        len += n;
        ps->p += n;
    }
    ps->p++;
    dst[len] = '\0';
    *out = dst;
    *out_len = (uint32_t)len;
    return TT_ERR_OK;
}

static bool is_digit(const struct parser *ps)
{
    return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9';
}

static tt_err_t parse_number(struct parser *ps, struct tt_jval *v)
{
    const unsigned char *s = ps->p;
    char buf[TT_JDOC_NUMBER_MAX + 1];
    bool integral = true;
    size_t n;
    char *end;

    if (*ps->p == '-')
        ps->p++;
    if (!is_digit(ps))
        return unexpected(ps, "a digit");
    if (*ps->p == '0') {
        ps->p++;
        if (is_digit(ps))
            return fail(ps, here(ps) - 1, TT_ERR_PARSE,
                        "leading zeros are not allowed in numbers");
    } else {
        while (is_digit(ps))
            ps->p++;
    }
    if (ps->p < ps->end && *ps->p == '.') {
        integral = false;
        ps->p++;
        if (!is_digit(ps))
            return unexpected(ps, "a digit after the decimal point");
        while (is_digit(ps))
            ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        integral = false;
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (!is_digit(ps))
            return unexpected(ps, "a digit in the exponent");
        while (is_digit(ps))
            ps->p++;
    }
    n = (size_t)(ps->p - s);
    if (n > TT_JDOC_NUMBER_MAX)
        return fail(ps, v->offset, TT_ERR_RANGE,
                    "number literal longer than %d characters",
                    TT_JDOC_NUMBER_MAX);
    memcpy(buf, s, n);
    buf[n] = '\0';
    v->type = TT_JNUMBER;
    v->u.num.d = strtod(buf, &end);
    if (end != buf + n)
        return fail(ps, v->offset, TT_ERR_PARSE, "malformed number");
    if (isinf(v->u.num.d))
        return fail(ps, v->offset, TT_ERR_RANGE,
                    "number %s is out of the range of a double", buf);
    if (integral) {
        long long i;

        errno = 0;
        i = strtoll(buf, &end, 10);
        if (!errno && end == buf + n) {
            v->is_int = true;
            v->u.num.i = i;
        }
    }
    return TT_ERR_OK;
}

static tt_err_t parse_literal(struct parser *ps, struct tt_jval *v)
{
    static const struct {
        const char *word;
        enum tt_jtype type;
        bool b;
    } lits[] = {
        {"true", TT_JBOOL, true},
        {"false", TT_JBOOL, false},
        {"null", TT_JNULL, false},
    };

    for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
        size_t n = strlen(lits[i].word);

        if ((size_t)(ps->end - ps->p) >= n && !memcmp(ps->p, lits[i].word, n)) {
            v->type = lits[i].type;
            v->u.b = lits[i].b;
            ps->p += n;
            return TT_ERR_OK;
        }
    }
    return unexpected(ps, "a JSON value");
}

static tt_err_t parse_value(struct parser *ps, struct tt_jval *v);

static int cmp_key(const void *a, const void *b)
{
    const struct tt_jmember *x = *(const struct tt_jmember *const *)a;
    const struct tt_jmember *y = *(const struct tt_jmember *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);

    if (c)
        return c;
    return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

static tt_err_t duplicate(struct parser *ps, const struct tt_jmember *a,
                          const struct tt_jmember *b)
{
    const struct tt_jmember *later = a->val.offset > b->val.offset ? a : b;
    char key[48];
    size_t n = 0;

    for (uint32_t i = 0; i < later->key_len && n + 1 < sizeof(key); i++) {
        unsigned char c = (unsigned char)later->key[i];

        key[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    key[n] = '\0';
    return fail(ps, later->val.offset, TT_ERR_PARSE,
                "duplicate key \"%s\" in an object", key);
}

static tt_err_t check_duplicates(struct parser *ps,
                                 const struct tt_jmember *m, uint32_t n)
{
    const struct tt_jmember **sorted;
    tt_err_t err = TT_ERR_OK;

    if (n <= DUP_PAIRWISE_MAX) {
        for (uint32_t i = 1; i < n; i++)
            for (uint32_t j = 0; j < i; j++)
                if (m[i].key_len == m[j].key_len &&
                    !memcmp(m[i].key, m[j].key, m[i].key_len))
                    return duplicate(ps, &m[j], &m[i]);
        return TT_ERR_OK;
    }
    sorted = malloc(n * sizeof(*sorted));
    if (!sorted)
        return tt_errf(TT_ERR_NOMEM, ps->errstr, ps->errstr_size,
                       "out of memory");
    for (uint32_t i = 0; i < n; i++)
        sorted[i] = &m[i];
    qsort(sorted, n, sizeof(*sorted), cmp_key);
    for (uint32_t i = 1; i < n && !err; i++)
        if (!cmp_key(&sorted[i - 1], &sorted[i]))
            err = duplicate(ps, sorted[i - 1], sorted[i]);
    free(sorted);
    return err;
}

/* Moves the members above `base` on the stack into the document. */
static tt_err_t close_container(struct parser *ps, struct tt_jval *v,
                                size_t base)
{
    size_t n = ps->top - base;
    void *dst;

    if (n > UINT32_MAX)
        return fail(ps, v->offset, TT_ERR_RANGE, "too many elements");
    v->n = (uint32_t)n;
    if (n == 0) {       /* the stack may still be unallocated (NULL) */
        v->u.items = NULL;
        return TT_ERR_OK;
    }
    if (v->type == TT_JOBJECT) {
        struct tt_jmember *m = arena_alloc(ps->doc, n * sizeof(*m));

        if (!m)
            goto nomem;
        memcpy(m, ps->stack + base, n * sizeof(*m));
        v->u.members = m;
        ps->top = base;
        return check_duplicates(ps, m, v->n);
    }
    dst = arena_alloc(ps->doc, n * sizeof(struct tt_jval));
    if (!dst)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        ((struct tt_jval *)dst)[i] = ps->stack[base + i].val;
    v->u.items = dst;
    ps->top = base;
    return TT_ERR_OK;
nomem:
    return tt_errf(TT_ERR_NOMEM, ps->errstr, ps->errstr_size,
                   "out of memory");
}

/* An array or object at p (on its opening bracket). */
static tt_err_t parse_container(struct parser *ps, struct tt_jval *v)
{
    bool obj = *ps->p == '{';
    char close = obj ? '}' : ']';
    size_t base = ps->top;
    struct tt_jmember m;
    tt_err_t err;

    if (++ps->depth > TT_JDOC_DEPTH_MAX)
        return fail(ps, here(ps), TT_ERR_RANGE,
                    "nesting deeper than %d levels", TT_JDOC_DEPTH_MAX);
    v->type = obj ? TT_JOBJECT : TT_JARRAY;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ps->depth--;
        return close_container(ps, v, base);
    }
    for (;;) {
        memset(&m, 0, sizeof(m));
        if (obj) {
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != '"')
                return unexpected(ps, "a string key");
            err = parse_string(ps, &m.key, &m.key_len);
            if (err)
                return err;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':')
                return unexpected(ps, "':' after an object key");
            ps->p++;
        }
        err = parse_value(ps, &m.val);
        if (!err)
            err = push(ps, &m);
        if (err)
            return err;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close)
            break;
        return unexpected(ps, obj ? "',' or '}' after an object member"
                                  : "',' or ']' after an array item");
    }
    ps->p++;
    ps->depth--;
    return close_container(ps, v, base);
}

static tt_err_t parse_value(struct parser *ps, struct tt_jval *v)
{
    skip_ws(ps);
    memset(v, 0, sizeof(*v));
    v->offset = here(ps);
    if (ps->p >= ps->end)
        return unexpected(ps, "a JSON value");
    switch (*ps->p) {
    case '{':
    case '[':
        return parse_container(ps, v);
    case '"':
        v->type = TT_JSTRING;
        return parse_string(ps, &v->u.s, &v->n);
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return parse_number(ps, v);
    default:
        return parse_literal(ps, v);
    }
}

tt_err_t tt_jdoc_parse(tt_jdoc_t **out, const char *buf, size_t len,
                       size_t max_len, char *errstr, size_t errstr_size)
{
    struct parser ps;
    tt_jdoc_t *doc;
    tt_err_t err;

    *out = NULL;
    if (!max_len || max_len > TT_JDOC_SIZE_MAX)
        max_len = TT_JDOC_SIZE_MAX;
    if (len > max_len)
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                       "%zu bytes is more than the limit of %zu", len,
                       max_len);
    doc = calloc(1, sizeof(*doc));
    if (!doc)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size, "out of memory");
    memset(&ps, 0, sizeof(ps));
    ps.start = ps.p = (const unsigned char *)buf;
    ps.end = ps.start + len;
    ps.doc = doc;
    ps.errstr = errstr;
    ps.errstr_size = errstr_size;
    if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
        ps.p += 3;
    skip_ws(&ps);
    if (ps.p == ps.end) {
        err = fail(&ps, here(&ps), TT_ERR_PARSE,
                   "empty input, expected a JSON value");
        goto out;
    }
    err = parse_value(&ps, &doc->root);
    if (err)
        goto out;
    skip_ws(&ps);
    if (ps.p != ps.end)
        err = unexpected(&ps, "nothing after the JSON value");
out:
    free(ps.stack);
    if (err) {
        tt_jdoc_destroy(doc);
        return err;
    }
    *out = doc;
    return TT_ERR_OK;
}

tt_err_t tt_jdoc_load(tt_jdoc_t **out, const char *path, size_t max_len,
                      char *errstr, size_t errstr_size)
{
    char tmp[512];
    char *buf = NULL, *nb;
    size_t len = 0, cap = 0, got;
    FILE *f;
    tt_err_t err;

    *out = NULL;
    if (!max_len || max_len > TT_JDOC_SIZE_MAX)
        max_len = TT_JDOC_SIZE_MAX;
    f = fopen(path, "rb");
    if (!f)
        return tt_errf(TT_ERR_IO, errstr, errstr_size, "%s: %s", path,
                       strerror(errno));
    for (;;) {
        if (len == cap) {
            if (cap > max_len) {
                err = tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                              "%s: larger than the limit of %zu bytes", path,
                              max_len);
                goto out;
            }
            cap = cap ? cap * 2 : 64 * 1024;
            if (cap > max_len + 1)
                cap = max_len + 1;
            nb = realloc(buf, cap);
            if (!nb) {
                err = tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                              "%s: out of memory", path);
                goto out;
            }
            buf = nb;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        err = tt_errf(TT_ERR_IO, errstr, errstr_size, "%s: read error", path);
        goto out;
    }
    if (len > max_len) {
        err = tt_errf(TT_ERR_RANGE, errstr, errstr_size,
                      "%s: larger than the limit of %zu bytes", path,
                      max_len);
        goto out;
    }
    err = tt_jdoc_parse(out, buf, len, max_len, tmp, sizeof(tmp));
    if (err)
        tt_errf(err, errstr, errstr_size, "%s: %s", path, tmp);
out:
    free(buf);
    fclose(f);
    return err;
}

const struct tt_jval *tt_jdoc_root(const tt_jdoc_t *doc)
{
    return &doc->root;
}

void tt_jdoc_destroy(tt_jdoc_t *doc)
{
    struct chunk *c, *next;

    if (!doc)
        return;
    for (c = doc->chunks; c; c = next) {
        next = c->next;
        free(c);
    }
    free(doc);
}

const struct tt_jval *tt_jdoc_get(const struct tt_jval *obj, const char *key)
{
    size_t n;

    if (!obj || obj->type != TT_JOBJECT)
        return NULL;
    n = strlen(key);
    for (uint32_t i = 0; i < obj->n; i++)
        if (obj->u.members[i].key_len == n &&
            !memcmp(obj->u.members[i].key, key, n))
            return &obj->u.members[i].val;
    return NULL;
}

const char *tt_jdoc_type_name(enum tt_jtype type)
{
    static const char *const names[] = {"null",   "boolean", "number",
                                        "string", "array",   "object"};

    return (unsigned)type < sizeof(names) / sizeof(names[0]) ? names[type]
                                                             : "?";
}
