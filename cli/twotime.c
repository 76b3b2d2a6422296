/*
 * twotime: git-style dispatch to the subcommands listed in commands.def.
 */
#include <stdio.h>
#include <string.h>

#include "cli/tt_cli.h"

struct cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct cmd cmds[] = {
#define TT_CMD(name, fn, summary) {name, fn, summary},
#include "cli/commands.def"
#undef TT_CMD
};

static void usage(FILE *out)
{
    fprintf(out, "usage: twotime <command> [options]\n\n"
                 "Streaming two-time-scale user representations.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        fprintf(out, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(out, "  %-10s %s\n", "help", "list the commands");
    fprintf(out, "  %-10s %s\n", "version", "print the version");
    fprintf(out, "\n'twotime <command> --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    const char *name;

    if (argc < 2) {
        usage(stderr);
        return TT_EXIT_USAGE;
    }
    name = argv[1];
    if (!strcmp(name, "help") || !strcmp(name, "--help") ||
        !strcmp(name, "-h")) {
        usage(stdout);
        return TT_EXIT_OK;
    }
    if (!strcmp(name, "version") || !strcmp(name, "--version")) {
        printf("twotime %s\n", TT_VERSION);
        return TT_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (!strcmp(name, cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "twotime: '%s' is not a command; see 'twotime help'\n",
            name);
    return TT_EXIT_USAGE;
}
