/*
 * twotime report: the JSON of `twotime backtest --json` as an HTML report
 * with figures (model/tt_report.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/tt_cli.h"
#include "report/tt_report.h"

#define CMD "report"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: twotime report RESULT.json --out DIR [options]\n"
            "\n"
            "Writes DIR/index.html, a self-contained page (inline CSS,\n"
            "figures embedded) from the JSON that `twotime backtest --json`\n"
            "wrote: the model table (MRR, Recall@10, by group), the data and\n"
            "split, the share of new users, MRR by user activity with t*\n"
            "(paper fig. 3), embedding change by step for active and\n"
            "inactive users (fig. 4) and MRR against training time (fig. 2).\n"
            "The figures are PNG files drawn by gnuplot (Debian gnuplot-nox)\n"
            "from DIR/report.gp and DIR/fig_*.dat, kept for redrawing.\n"
            "Without gnuplot the command fails unless --no-figures is given.\n"
            "\n"
            "options:\n"
            "  -o, --out DIR          output directory (created if missing)\n"
            "      --no-figures       tables only; gnuplot is not needed\n"
            "      --gnuplot PROG     gnuplot program [gnuplot on PATH]\n"
            "      --timeout S        longest gnuplot may run [60]\n"
            "      --title TEXT       page title\n"
            "  -h, --help             show this help\n");
}

int tt_cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"no-figures", no_argument, NULL, 'n'},
        {"gnuplot", required_argument, NULL, 'g'},
        {"timeout", required_argument, NULL, 'T'},
        {"title", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct tt_report_opts o;
    struct tt_report_info info;
    struct tt_cli_opts co;
    const char *out = NULL;
    char errstr[1024];
    uint64_t v;
    int c;

    tt_report_opts_init(&o);
    /* report takes no --config or --set, so `co` never allocates and needs
     * no release. */
    tt_cli_opts_init(&co, CMD, usage, argc);
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'n':
            o.figures = false;
            break;
        case 'g':
            o.gnuplot = optarg;
            break;
        case 'T':
            if (tt_cli_parse_u64(optarg, 3600, &v) || v < 1) {
                tt_cli_error(CMD, "--timeout takes 1..3600 seconds");
                return TT_EXIT_USAGE;
            }
            o.timeout_ms = (int)v * 1000;
            break;
        case 't':
            o.title = optarg;
            break;
        default:
            return tt_cli_opts_take(&co, c, optarg);
        }
    }
    if (optind != argc - 1) {
        tt_cli_error(CMD, optind >= argc ? "RESULT.json is required"
                                         : "one RESULT.json only");
        return TT_EXIT_USAGE;
    }
    if (!out) {
        tt_cli_error(CMD, "--out DIR is required");
        return TT_EXIT_USAGE;
    }
    if (tt_report_write(argv[optind], out, &o, &info, errstr,
                        sizeof(errstr))) {
        tt_cli_error(CMD, "%s", errstr);
        return TT_EXIT_FAIL;
    }
    printf("%s/index.html: %u models, %u figures, %zu bytes\n", out,
           info.models, info.figures, info.html_bytes);
    return TT_EXIT_OK;
}
