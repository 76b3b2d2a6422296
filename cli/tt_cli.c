#include "cli/tt_cli.h"

#include <assert.h>
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "producers/tt_admin.h"

/* The one mutable global: set only by the signal handler. */
static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

void tt_cli_install_signals(void)
{
    struct sigaction sa = {0};

    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int tt_cli_stopping(void)
{
    return stopping != 0;
}

void tt_cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "twotime %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int tt_cli_load_conf(struct tt_conf *conf, const char *path,
                     char *const *sets, int n_sets)
{
    char errstr[512];
    tt_err_t err;

    tt_conf_init(conf);
    if (!path && access("conf/twotime.conf", R_OK) == 0)
        path = "conf/twotime.conf";
    if (path) {
        err = tt_conf_load_file(conf, path, errstr, sizeof(errstr));
        if (err)
            goto fail;
    }
    for (int i = 0; i < n_sets; i++) {
        err = tt_conf_set_kv(conf, sets[i], errstr, sizeof(errstr));
        if (err)
            goto fail;
    }
    err = tt_conf_validate(conf, errstr, sizeof(errstr));
    if (err)
        goto fail;
    return TT_EXIT_OK;
fail:
    fprintf(stderr, "twotime: configuration: %s\n", errstr);
    tt_conf_release(conf);
    return TT_EXIT_USAGE;
}

void tt_cli_opts_init(struct tt_cli_opts *o, const char *cmd,
                      void (*usage)(FILE *out), int argc)
{
    memset(o, 0, sizeof(*o));
    o->cmd = cmd;
    o->usage = usage;
    o->max_sets = argc > 0 ? argc : 0;
}

void tt_cli_opts_release(struct tt_cli_opts *o)
{
    for (int i = 0; i < o->n_own; i++)
        free(o->own[i]);
    free(o->own);
    free(o->sets);
    o->own = NULL;
    o->sets = NULL;
    o->n_own = 0;
    o->n_sets = 0;
}

/* Room for one more setting: the arrays are made at the first. */
static tt_err_t opts_room(struct tt_cli_opts *o)
{
    if (!o->sets) {
        o->sets = calloc((size_t)o->max_sets + 1, sizeof(*o->sets));
        o->own = calloc((size_t)o->max_sets + 1, sizeof(*o->own));
        if (!o->sets || !o->own) {
            free(o->sets);
            free(o->own);
            o->sets = NULL;
            o->own = NULL;
            return TT_ERR_NOMEM;
        }
    }
    /* getopt returns at most one option an argument: this holds. */
    assert(o->n_sets < o->max_sets);
    return TT_ERR_OK;
}

int tt_cli_opts_take(struct tt_cli_opts *o, int c, char *arg)
{
    switch (c) {
    case 'c':
        o->conf_path = arg;
        return TT_EXIT_NONE;
    case 's':
        if (opts_room(o) != TT_ERR_OK) {
            tt_cli_error(o->cmd, "out of memory");
            return TT_EXIT_FAIL;
        }
        o->sets[o->n_sets++] = arg;
        return TT_EXIT_NONE;
    case 'h':
        o->usage(stdout);
        return TT_EXIT_OK;
    default:
        fprintf(stderr, "see 'twotime %s --help'\n", o->cmd);
        return TT_EXIT_USAGE;
    }
}

tt_err_t tt_cli_opts_add_set(struct tt_cli_opts *o, const char *key,
                             const char *value)
{
    size_t len = strlen(key) + strlen(value) + 2;
    char *s;

    if (opts_room(o) != TT_ERR_OK || !(s = malloc(len)))
        return TT_ERR_NOMEM;
    snprintf(s, len, "%s=%s", key, value);
    o->own[o->n_own++] = s;
    o->sets[o->n_sets++] = s;
    return TT_ERR_OK;
}

int tt_cli_opts_operands(const struct tt_cli_opts *o, int argc,
                         char *const *argv)
{
    if (optind < argc) {
        tt_cli_error(o->cmd, "unexpected argument '%s'", argv[optind]);
        return TT_EXIT_USAGE;
    }
    return TT_EXIT_NONE;
}

int tt_cli_opts_load_conf(const struct tt_cli_opts *o, struct tt_conf *conf)
{
    return tt_cli_load_conf(conf, o->conf_path, o->sets, o->n_sets);
}

tt_err_t tt_cli_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    /* strtoull would take "-1" as 2^64 - 1. */
    if (*s == '\0' || *s == '-')
        return TT_ERR_PARSE;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0')
        return TT_ERR_PARSE;
    if (errno || v > max)
        return TT_ERR_RANGE;
    *out = v;
    return TT_ERR_OK;
}

tt_err_t tt_cli_parse_double(const char *s, double lo, double hi,
                             double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0')
        return TT_ERR_PARSE;
    if (errno || !(v >= lo) || !(v <= hi))
        return TT_ERR_RANGE;
    *out = v;
    return TT_ERR_OK;
}

void tt_cli_openblas_fix(int argc, char **argv)
{
    const char *core = openblas_get_corename(), *want = NULL;
    char **args;

    if (getenv("OPENBLAS_CORETYPE") || !core || strcmp(core, "Prescott"))
        return;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = "Haswell";
    if (!want)
        return;
    args = calloc((size_t)argc + 2, sizeof *args);
    if (!args || setenv("OPENBLAS_CORETYPE", want, 1) != 0) {
        free(args);
        return;
    }
    args[0] = (char *)"twotime";
    for (int i = 0; i < argc; i++)
        args[i + 1] = argv[i];
    execv("/proc/self/exe", args);
    /* exec failed: carry on with the slow kernels */
    unsetenv("OPENBLAS_CORETYPE");
    free(args);
}

int tt_cli_topic_partitions(const char *cmd, const struct tt_conf_kafka *kc,
                            const char *topic, int timeout_ms, int *parts)
{
    tt_admin_t *admin;
    char errstr[512];
    tt_err_t err;

    err = tt_admin_new(&admin, kc, errstr, sizeof(errstr));
    if (!err && !tt_admin_reachable(admin, timeout_ms))
        err = tt_errf(TT_ERR_TIMEOUT, errstr, sizeof(errstr),
                      "no Kafka broker answers within %d s (start one with "
                      "scripts/kafka start)",
                      timeout_ms / 1000);
    if (!err)
        err = tt_admin_partitions(admin, topic, timeout_ms, parts, errstr,
                                  sizeof(errstr));
    tt_admin_destroy(admin);
    if (err) {
        tt_cli_error(cmd, "%s (brokers %s)", errstr, kc->brokers);
        return err == TT_ERR_CONF ? TT_EXIT_USAGE : TT_EXIT_FAIL;
    }
    return TT_EXIT_OK;
}
