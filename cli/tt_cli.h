/*
 * tt_cli: what the subcommands of the `twotime` program share.  Each
 * subcommand is a thin `main`: it parses its flags, loads the configuration,
 * calls the libraries, prints, and returns the process exit code.
 */
#ifndef TT_CLI_H
#define TT_CLI_H

#include <stdio.h>

#include "conf/tt_conf.h"

/* Exit codes shared by every subcommand. */
enum {
    TT_EXIT_OK = 0,
    TT_EXIT_FAIL = 1,  /* the work failed (I/O, Kafka, bad data) */
    TT_EXIT_USAGE = 2, /* bad flags or configuration */
    TT_EXIT_GATE = 3,  /* a quality gate refused (e.g. retrain MRR drop) */
};

#define TT_CMD(name, fn, summary) int fn(int argc, char **argv);
#include "cli/commands.def"
#undef TT_CMD

/*
 * Loads the configuration the way every subcommand does: defaults, then the
 * file `path` (NULL: conf/twotime.conf if it exists, else defaults only), then
 * each "key=value" of `sets` in order, then validation.  On failure prints the
 * error to stderr and returns TT_EXIT_USAGE; on success TT_EXIT_OK and `conf`
 * must be released with tt_conf_release().
 */
int tt_cli_load_conf(struct tt_conf *conf, const char *path,
                     char *const *sets, int n_sets);

/*
 * The partition count of an existing `topic`, for commands that read one:
 * checks that a broker answers within `timeout_ms` first, so that a missing
 * broker is said as such.  On failure prints the error and returns
 * TT_EXIT_USAGE (configuration) or TT_EXIT_FAIL.
 */
int tt_cli_topic_partitions(const char *cmd, const struct tt_conf_kafka *kc,
                            const char *topic, int timeout_ms, int *parts);

/* Prints "twotime <cmd>: <message>" to stderr. */
void tt_cli_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Installs SIGINT/SIGTERM handlers that set the flag tt_cli_stopping()
 * reads; the only mutable global of the program. */
void tt_cli_install_signals(void);

/* True once SIGINT or SIGTERM has arrived. */
int tt_cli_stopping(void);

/*
 * OpenBLAS 0.3.21 does not recognise some recent x86 CPUs and falls back to
 * its SSE3 "Prescott" kernels, 5-8x slower at sgemm than its SkylakeX or
 * Haswell ones on the matrix shapes of stage 2.  The kernel is picked when
 * the library loads, from OPENBLAS_CORETYPE, so the one fix is to restart
 * the program once with it set: call this first thing in a subcommand that
 * trains (argc/argv as the subcommand received them, argv[0] its name).
 * Returns only if no restart was needed or possible.
 */
void tt_cli_openblas_fix(int argc, char **argv);

#endif
