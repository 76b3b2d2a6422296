#include "cli/tt_cli.h"

#include <cblas.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
