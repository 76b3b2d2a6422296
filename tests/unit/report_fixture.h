/*
 * File helpers shared by the report tests (test_report.c, test_report_jdoc.c):
 * whole-file reads and writes, the fixture tests/data/report_small.json
 * (TT_TEST_DATA), and scratch directories.  Include after cmocka.h.
 */
#ifndef TT_TEST_REPORT_FIXTURE_H
#define TT_TEST_REPORT_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* The whole file at `path`, NUL-terminated (free it), or NULL when it
 * cannot be opened; *len its size. */
static inline char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (len)
        *len = 0;
    if (!f)
        return NULL;
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

/* Writes buf[0..len) to `path`, replacing it. */
static inline void write_all(const char *path, const char *buf, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* The fixture tests/data/report_small.json (free it). */
static inline char *fixture(size_t *len)
{
    const char *dir = getenv("TT_TEST_DATA");
    char path[1024];
    char *buf;

    assert_non_null(dir);
    snprintf(path, sizeof(path), "%s/report_small.json", dir);
    buf = read_all(path, len);
    assert_non_null(buf);
    return buf;
}

/* Whether dir/name exists; *size its size when it does. */
static inline bool file_exists(const char *dir, const char *name, size_t *size)
{
    char path[1024];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (stat(path, &st) != 0)
        return false;
    if (size)
        *size = (size_t)st.st_size;
    return true;
}

/* Removes a scratch directory and all it holds. */
static inline void rm_rf(const char *dir)
{
    char cmd[1200];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

#endif
