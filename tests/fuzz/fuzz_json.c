/*
 * Fuzz harness of the strict JSON reader (model/tt_jdoc.h): any bytes must
 * give a tree or an error "byte N (line L, column C): ..." with N inside the
 * input, never a crash, hang or out-of-bounds read.  A parsed tree is
 * walked: offsets inside the input and increasing along arrays, strings
 * NUL-terminated, valid UTF-8 and not longer than their source, no
 * duplicate keys, nesting within the limit.  A tree re-serialised and parsed
 * again gives the same tree.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/tt_jdoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_utf8(const char *s, uint32_t n)
{
    const unsigned char *p = (const unsigned char *)s;

    if (s[n] != '\0')
        abort();
    for (uint32_t i = 0; i < n;) {
        unsigned char c = p[i];
        uint32_t k = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;

        if ((c >= 0x80 && c < 0xc2) || c > 0xf4 || i + k > n)
            abort();
        for (uint32_t j = 1; j < k; j++)
            if ((p[i + j] & 0xc0) != 0x80)
                abort();
        i += k;
    }
}

static void walk(const struct tt_jval *v, size_t size, int depth)
{
    if (v->offset >= size || depth > TT_JDOC_DEPTH_MAX)
        abort();
    switch (v->type) {
    case TT_JNULL:
    case TT_JBOOL:
        break;
    case TT_JNUMBER:
        if (!isfinite(v->u.num.d))
            abort();
        if (v->is_int && (double)v->u.num.i != v->u.num.d)
            abort();
        break;
    case TT_JSTRING:
        if (v->n > size)
            abort();
        check_utf8(v->u.s, v->n);
        break;
    case TT_JARRAY:
        for (uint32_t i = 0; i < v->n; i++) {
            if (v->u.items[i].offset <= v->offset ||
                (i && v->u.items[i].offset <= v->u.items[i - 1].offset))
                abort();
            walk(&v->u.items[i], size, depth + 1);
        }
        break;
    case TT_JOBJECT:
        for (uint32_t i = 0; i < v->n; i++) {
            const struct tt_jmember *m = &v->u.members[i];

            check_utf8(m->key, m->key_len);
            if (m->val.offset <= v->offset)
                abort();
            for (uint32_t j = 0; j < i && v->n < 64; j++)
                if (m->key_len == v->u.members[j].key_len &&
                    !memcmp(m->key, v->u.members[j].key, m->key_len))
                    abort();
            if (tt_jdoc_get(v, m->key) == NULL)
                abort();
            walk(&m->val, size, depth + 1);
        }
        break;
    default:
        abort();
    }
}

static void emit_str(FILE *f, const char *s, uint32_t n)
{
    fputc('"', f);
    for (uint32_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == '"' || c == '\\')
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void emit(FILE *f, const struct tt_jval *v)
{
    switch (v->type) {
    case TT_JNULL:
        fputs("null", f);
        break;
    case TT_JBOOL:
        fputs(v->u.b ? "true" : "false", f);
        break;
    case TT_JNUMBER:
        fprintf(f, "%.17g", v->u.num.d);
        break;
    case TT_JSTRING:
        emit_str(f, v->u.s, v->n);
        break;
    case TT_JARRAY:
        fputc('[', f);
        for (uint32_t i = 0; i < v->n; i++) {
            if (i)
                fputc(',', f);
            emit(f, &v->u.items[i]);
        }
        fputc(']', f);
        break;
    case TT_JOBJECT:
        fputc('{', f);
        for (uint32_t i = 0; i < v->n; i++) {
            if (i)
                fputc(',', f);
            emit_str(f, v->u.members[i].key, v->u.members[i].key_len);
            fputc(':', f);
            emit(f, &v->u.members[i].val);
        }
        fputc('}', f);
        break;
    }
}

static void same(const struct tt_jval *a, const struct tt_jval *b)
{
    if (a->type != b->type || a->n != b->n)
        abort();
    switch (a->type) {
    case TT_JBOOL:
        if (a->u.b != b->u.b)
            abort();
        break;
    case TT_JNUMBER:
        if (a->u.num.d != b->u.num.d)
            abort();
        break;
    case TT_JSTRING:
        if (memcmp(a->u.s, b->u.s, a->n))
            abort();
        break;
    case TT_JARRAY:
        for (uint32_t i = 0; i < a->n; i++)
            same(&a->u.items[i], &b->u.items[i]);
        break;
    case TT_JOBJECT:
        for (uint32_t i = 0; i < a->n; i++) {
            if (a->u.members[i].key_len != b->u.members[i].key_len ||
                memcmp(a->u.members[i].key, b->u.members[i].key,
                       a->u.members[i].key_len))
                abort();
            same(&a->u.members[i].val, &b->u.members[i].val);
        }
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tt_jdoc_t *doc = NULL, *again = NULL;
    char err[512];
    char *buf = NULL;
    size_t len = 0, off;
    tt_err_t rc;
    FILE *f;

    err[0] = '\0';
    rc = tt_jdoc_parse(&doc, (const char *)data, size, 0, err, sizeof(err));
    if (rc != TT_ERR_OK) {
        if (doc || (rc != TT_ERR_PARSE && rc != TT_ERR_RANGE) ||
            sscanf(err, "byte %zu (line", &off) != 1 || off > size)
            abort();
        return 0;
    }
    walk(tt_jdoc_root(doc), size, 0);
    f = open_memstream(&buf, &len);
    if (!f)
        abort();
    emit(f, tt_jdoc_root(doc));
    fclose(f);
    if (tt_jdoc_parse(&again, buf, len, 0, err, sizeof(err)) != TT_ERR_OK)
        abort();
    same(tt_jdoc_root(doc), tt_jdoc_root(again));
    tt_jdoc_destroy(again);
    tt_jdoc_destroy(doc);
    free(buf);
    return 0;
}
