/*
 * tt_cli: what the subcommands of the `twotime` program share.  Each
 * subcommand is a thin `main`: it parses its flags, loads the configuration,
 * calls the libraries, prints, and returns the process exit code.
 */
#ifndef TT_CLI_H
#define TT_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/tt_err.h"
#include "conf/tt_conf.h"

/* Exit codes shared by every subcommand. */
enum {
    TT_EXIT_OK = 0,
    TT_EXIT_FAIL = 1,  /* the work failed (I/O, Kafka, bad data) */
    TT_EXIT_USAGE = 2, /* bad flags or configuration */
    TT_EXIT_GATE = 3,  /* a quality gate refused (e.g. retrain MRR drop) */
    TT_EXIT_NONE = -1, /* not an exit code: parsing goes on */
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
 * The options every subcommand's getopt loop shares: -c/--config FILE,
 * -s/--set KEY=VALUE (repeatable, kept in order), -h/--help, and what an
 * unknown option or a missing argument says.  Init with
 * tt_cli_opts_init(), pass each getopt result the subcommand does not handle
 * itself to tt_cli_opts_take(), check the operands with
 * tt_cli_opts_operands(), load with tt_cli_opts_load_conf(), release with
 * tt_cli_opts_release().  The strings are argv's (borrowed).
 */
struct tt_cli_opts {
    const char *cmd;          /* "consume": for messages */
    void (*usage)(FILE *out); /* prints the subcommand's help */
    const char *conf_path;    /* --config, NULL when not given */
    char **sets;              /* --set values in order, NULL until one */
    int n_sets;
    int max_sets; /* the argc given to init: at most one --set an argument */
    char **own;   /* the sets made by tt_cli_opts_add_set (owned) */
    int n_own;
};

/* Prepares `o` for a getopt loop over `argc` arguments; allocates nothing. */
void tt_cli_opts_init(struct tt_cli_opts *o, const char *cmd,
                      void (*usage)(FILE *out), int argc);

/* Frees the --set array and the settings made by tt_cli_opts_add_set; `o`
 * may then be initialised again. */
void tt_cli_opts_release(struct tt_cli_opts *o);

/*
 * Handles the getopt_long result `c` (with its `arg`, i.e. optarg) as a
 * common option, for the `default:` of a subcommand's switch: 'c' and 's'
 * are stored and give TT_EXIT_NONE (go on); 'h' prints the help to stdout
 * and gives TT_EXIT_OK; anything else (getopt's '?', an unknown option, or a
 * missing argument) prints "see 'twotime <cmd> --help'" to stderr and gives
 * TT_EXIT_USAGE.  TT_EXIT_FAIL when the --set array cannot be allocated.
 * getopt returns 'c' and 's' only when the subcommand lists them, so a
 * subcommand without them (or with its own meaning, handled before) is safe.
 */
int tt_cli_opts_take(struct tt_cli_opts *o, int c, char *arg);

/*
 * Appends the setting "key=value" after the --set values so far, for an
 * option that is a shortcut for one (`--seed N` is train.seed=N): the
 * shortcuts and --set apply in the order given.  One setting an argument
 * at most, like --set.  The string is a copy owned by `o`.  Returns
 * TT_ERR_NOMEM (nothing printed) or TT_ERR_OK.
 */
tt_err_t tt_cli_opts_add_set(struct tt_cli_opts *o, const char *key,
                             const char *value);

/*
 * After the getopt loop, for subcommands that take no operands: when
 * argv[optind] exists prints "unexpected argument '<it>'" and returns
 * TT_EXIT_USAGE; else TT_EXIT_NONE.
 */
int tt_cli_opts_operands(const struct tt_cli_opts *o, int argc,
                         char *const *argv);

/* tt_cli_load_conf() with the --config and --set values collected in `o`. */
int tt_cli_opts_load_conf(const struct tt_cli_opts *o, struct tt_conf *conf);

/*
 * Parses all of `s` as a decimal integer in 0..max (no sign, nothing after
 * the digits) into *out, for option values.  TT_ERR_PARSE or TT_ERR_RANGE
 * without touching *out; the caller says what the option takes.
 */
tt_err_t tt_cli_parse_u64(const char *s, uint64_t max, uint64_t *out);

/*
 * Parses all of `s` as a decimal number in lo..hi (a NaN is out of range)
 * into *out.  TT_ERR_PARSE or TT_ERR_RANGE without touching *out.
 */
tt_err_t tt_cli_parse_double(const char *s, double lo, double hi,
                             double *out);

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
