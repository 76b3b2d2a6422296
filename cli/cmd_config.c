/*
 * twotime config: check a configuration file, or print the effective
 * configuration (defaults, then the file, then --set overrides) with secrets
 * redacted.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/tt_cli.h"

#define TT_CONF_DEFAULT_PATH "conf/twotime.conf"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: twotime config check FILE [--set KEY=VALUE]...\n"
            "       twotime config print [FILE] [--set KEY=VALUE]...\n"
            "\n"
            "check   load FILE over the defaults, apply the overrides and\n"
            "        validate; prints \"FILE: ok\" or the error with its line\n"
            "        (exit 0, or 2 when the configuration is wrong)\n"
            "print   print the effective configuration in libconfig syntax;\n"
            "        without FILE, conf/twotime.conf when it exists, else the\n"
            "        defaults.  Values of secrets print as <redacted>.\n"
            "\n"
            "options:\n"
            "  -s, --set KEY=VALUE  override one setting, e.g. model.dim=32 or\n"
            "                       kafka.properties.security.protocol=SSL\n"
            "  -h, --help           show this help\n");
}

int tt_cmd_config(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"set", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct tt_cli_opts co;
    struct tt_conf conf;
    const char *action, *file = NULL;
    int rc = TT_EXIT_NONE, c, n_files;

    if (argc < 2) {
        usage(stderr);
        return TT_EXIT_USAGE;
    }
    action = argv[1];
    if (!strcmp(action, "--help") || !strcmp(action, "-h") ||
        !strcmp(action, "help")) {
        usage(stdout);
        return TT_EXIT_OK;
    }
    if (strcmp(action, "check") != 0 && strcmp(action, "print") != 0) {
        tt_cli_error("config", "unknown action '%s' (check or print)", action);
        return TT_EXIT_USAGE;
    }
    argc--;
    argv++;
    tt_cli_opts_init(&co, "config", usage, argc);
    optind = 1;
    while (rc == TT_EXIT_NONE &&
           (c = getopt_long(argc, argv, "s:h", longopts, NULL)) != -1)
        rc = tt_cli_opts_take(&co, c, optarg);
    if (rc != TT_EXIT_NONE)
        goto out_free_sets;
    n_files = argc - optind;
    if (n_files > 1 || (n_files == 0 && !strcmp(action, "check"))) {
        tt_cli_error("config", "%s takes %s FILE", action,
                     strcmp(action, "check") ? "at most one" : "one");
        rc = TT_EXIT_USAGE;
        goto out_free_sets;
    }
    if (n_files == 1)
        file = argv[optind];
    else if (access(TT_CONF_DEFAULT_PATH, R_OK) == 0)
        /* What tt_cli_load_conf() would read; named so that print says so. */
        file = TT_CONF_DEFAULT_PATH;

    co.conf_path = file;
    rc = tt_cli_opts_load_conf(&co, &conf);
    if (rc != TT_EXIT_OK)
        goto out_free_sets;
    if (!strcmp(action, "check")) {
        printf("%s: ok\n", file);
    } else {
        printf("# twotime configuration: defaults%s%s%s\n\n", file ? " + " : "",
               file ? file : "", co.n_sets ? " + --set" : "");
        tt_conf_print(&conf, stdout);
    }
    tt_conf_release(&conf);
    if (fflush(stdout) != 0) {
        tt_cli_error("config", "cannot write the output");
        rc = TT_EXIT_FAIL;
    }
out_free_sets:
    tt_cli_opts_release(&co);
    return rc;
}
