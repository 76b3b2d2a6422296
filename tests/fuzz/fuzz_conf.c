/*
 * Fuzzes the configuration loader: the input is a libconfig file, loaded
 * over the defaults with tt_conf_load_string.  What loads must validate or
 * fail cleanly, and must print to text that loads back to the same
 * configuration.  The input's lines are then tried as --set overrides.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/tt_conf.h"

/* Configuration files are small; larger inputs only slow the fuzzer. */
#define TEXT_MAX 65536
#define SETS_MAX 32

/*
 * libconfig 1.5 (and its upstream grammar to this day) has no bison
 * %destructor for string tokens: a string the parser does not expect (the
 * input `""` alone) is leaked with the syntax error.  That is the library's
 * bug, once per failed parse, not twotime's.  The suppression matches only
 * allocations made inside libconfig.so; twotime's own allocations never have
 * a libconfig frame (libconfig does not call back into twotime), so a leak
 * of ours still fails.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libconfig.so\n";
}

static char *print_to_string(const struct tt_conf *conf)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        abort();
    tt_conf_print(conf, f);
    if (fclose(f) != 0)
        abort();
    return buf;
}

/* Printed text must load back and print the same. */
static void check_round_trip(const struct tt_conf *conf)
{
    struct tt_conf again;
    char errstr[512];
    char *first, *second;

    first = print_to_string(conf);
    if (tt_conf_init(&again) != TT_ERR_OK)
        abort();
    if (tt_conf_load_string(&again, first, "printed", errstr,
                            sizeof(errstr)) != TT_ERR_OK) {
        fprintf(stderr, "printed text does not load: %s\n%s\n", errstr,
                first);
        abort();
    }
    second = print_to_string(&again);
    if (strcmp(first, second) != 0) {
        fprintf(stderr, "round trip differs:\n%s\n---\n%s\n", first, second);
        abort();
    }
    free(first);
    free(second);
    tt_conf_release(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tt_conf conf;
    char errstr[512];
    char *text, *line, *save = NULL;
    int n_sets = 0;

    if (size > TEXT_MAX)
        size = TEXT_MAX;
    /* libconfig reads NUL-terminated text. */
    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    if (tt_conf_init(&conf) != TT_ERR_OK)
        abort();
    if (tt_conf_load_string(&conf, text, "fuzz", errstr, sizeof(errstr)) ==
        TT_ERR_OK) {
        tt_conf_validate(&conf, errstr, sizeof(errstr));
        check_round_trip(&conf);
    }
    for (line = strtok_r(text, "\n", &save); line && n_sets < SETS_MAX;
         line = strtok_r(NULL, "\n", &save), n_sets++)
        tt_conf_set_kv(&conf, line, errstr, sizeof(errstr));
    tt_conf_validate(&conf, errstr, sizeof(errstr));
    free(print_to_string(&conf));
    tt_conf_release(&conf);
    free(text);
    return 0;
}
