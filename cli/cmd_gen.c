/*
 * twotime gen: writes a synthetic interaction log (model/tt_gen.h) as csv,
 * streaming, so that any number of events needs the same memory.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/tt_cli.h"
#include "model/tt_gen.h"

static void usage(FILE *out)
{
    struct tt_gen_opts d;

    tt_gen_opts_init(&d);
    fprintf(out,
            "usage: twotime gen --out FILE|- --events N --seed S [options]\n"
            "\n"
            "Writes a synthetic, time-ordered interaction log as csv with the\n"
            "header user_id,item_id,timestamp[,category] (timestamp in ms).\n"
            "The same options give the same bytes.\n"
            "\n"
            "options (defaults in brackets):\n"
            "  -o, --out FILE|-          output file, - for stdout\n"
            "  -n, --events N            number of events\n"
            "  -s, --seed S              random seed\n"
            "      --users U             users [%u]\n"
            "      --items I             items [%u]\n"
            "      --alpha A             events per user ~ (T+1)^-A [%g]\n"
            "      --dim D               latent dimension [%u]\n"
            "      --sigma S             spread of users, Var_m = S^2 [%g]\n"
            "      --drift X             preference random walk per "
            "sqrt(day) [%g]\n"
            "      --new-user-rate R     fraction of users arriving during "
            "the log [%g]\n"
            "      --categories C        item categories, 0 = no column [%u]\n"
            "      --zipf Z              item popularity exponent [%g]\n"
            "      --temp T              softmax temperature [%g]\n"
            "      --session-prob P      P(next item near the previous) "
            "[%g]\n"
            "      --session-len L       mean events per session [%g]\n"
            "      --days D              length of the log in days [%g]\n"
            "      --start-ms MS         first timestamp [%lld]\n"
            "      --candidates M        candidate pool per draw [%u]\n"
            "      --format csv          output format (csv only)\n"
            "  -q, --quiet               no summary on stderr\n"
            "  -h, --help                show this help\n",
            d.n_users, d.n_items, d.alpha, d.dim, d.sigma, d.drift,
            d.new_user_rate, d.n_categories, d.zipf, d.temp, d.session_prob,
            d.session_len, d.days, (long long)d.start_ms, d.candidates);
}

static int parse_double(const char *s, double *out)
{
    char *end;
    double v;

    if (!s || *s == '\0')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

enum {
    OPT_USERS = 256,
    OPT_ITEMS,
    OPT_ALPHA,
    OPT_DIM,
    OPT_SIGMA,
    OPT_DRIFT,
    OPT_NEWRATE,
    OPT_CATS,
    OPT_ZIPF,
    OPT_TEMP,
    OPT_SPROB,
    OPT_SLEN,
    OPT_DAYS,
    OPT_START,
    OPT_CANDS,
    OPT_FORMAT,
};

int tt_cmd_gen(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"events", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},
        {"users", required_argument, NULL, OPT_USERS},
        {"items", required_argument, NULL, OPT_ITEMS},
        {"alpha", required_argument, NULL, OPT_ALPHA},
        {"dim", required_argument, NULL, OPT_DIM},
        {"sigma", required_argument, NULL, OPT_SIGMA},
        {"drift", required_argument, NULL, OPT_DRIFT},
        {"new-user-rate", required_argument, NULL, OPT_NEWRATE},
        {"categories", required_argument, NULL, OPT_CATS},
        {"zipf", required_argument, NULL, OPT_ZIPF},
        {"temp", required_argument, NULL, OPT_TEMP},
        {"session-prob", required_argument, NULL, OPT_SPROB},
        {"session-len", required_argument, NULL, OPT_SLEN},
        {"days", required_argument, NULL, OPT_DAYS},
        {"start-ms", required_argument, NULL, OPT_START},
        {"candidates", required_argument, NULL, OPT_CANDS},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct tt_gen_opts o;
    struct tt_cli_opts co;
    const char *out_path = NULL;
    bool have_events = false, have_seed = false, quiet = false;
    char errstr[256];
    tt_gen_t *g = NULL;
    FILE *f = NULL;
    uint64_t u64 = 0;
    int c, rc = TT_EXIT_FAIL;
    tt_err_t err;

    tt_gen_opts_init(&o);
    /* gen takes no --config or --set ('s' is its --seed, handled below), so
     * `co` never allocates and needs no release. */
    tt_cli_opts_init(&co, "gen", usage, argc);
    optind = 1;
    for (;;) {
        int bad = 0, li = -1;

        c = getopt_long(argc, argv, "o:n:s:qh", longopts, &li);
        if (c == -1)
            break;
        switch (c) {
        case 'o':
            out_path = optarg;
            break;
        case 'n':
            bad = tt_cli_parse_u64(optarg, UINT64_MAX, &o.n_events) !=
                  TT_ERR_OK;
            have_events = true;
            break;
        case 's':
            bad = tt_cli_parse_u64(optarg, UINT64_MAX, &o.seed) != TT_ERR_OK;
            have_seed = true;
            break;
        case OPT_USERS:
            bad = tt_cli_parse_u64(optarg, UINT32_MAX, &u64) != TT_ERR_OK;
            o.n_users = (uint32_t)u64;
            break;
        case OPT_ITEMS:
            bad = tt_cli_parse_u64(optarg, UINT32_MAX, &u64) != TT_ERR_OK;
            o.n_items = (uint32_t)u64;
            break;
        case OPT_DIM:
            bad = tt_cli_parse_u64(optarg, UINT32_MAX, &u64) != TT_ERR_OK;
            o.dim = (uint32_t)u64;
            break;
        case OPT_CATS:
            bad = tt_cli_parse_u64(optarg, UINT32_MAX, &u64) != TT_ERR_OK;
            o.n_categories = (uint32_t)u64;
            break;
        case OPT_CANDS:
            bad = tt_cli_parse_u64(optarg, UINT32_MAX, &u64) != TT_ERR_OK;
            o.candidates = (uint32_t)u64;
            break;
        case OPT_START:
            bad = tt_cli_parse_u64(optarg, (uint64_t)TT_EVENT_TS_MAX, &u64) !=
                  TT_ERR_OK;
            o.start_ms = (int64_t)u64;
            break;
        case OPT_ALPHA:
            bad = parse_double(optarg, &o.alpha);
            break;
        case OPT_SIGMA:
            bad = parse_double(optarg, &o.sigma);
            break;
        case OPT_DRIFT:
            bad = parse_double(optarg, &o.drift);
            break;
        case OPT_NEWRATE:
            bad = parse_double(optarg, &o.new_user_rate);
            break;
        case OPT_ZIPF:
            bad = parse_double(optarg, &o.zipf);
            break;
        case OPT_TEMP:
            bad = parse_double(optarg, &o.temp);
            break;
        case OPT_SPROB:
            bad = parse_double(optarg, &o.session_prob);
            break;
        case OPT_SLEN:
            bad = parse_double(optarg, &o.session_len);
            break;
        case OPT_DAYS:
            bad = parse_double(optarg, &o.days);
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "csv") != 0) {
                tt_cli_error("gen", "unsupported format '%s' (csv)", optarg);
                return TT_EXIT_USAGE;
            }
            break;
        case 'q':
            quiet = true;
            break;
        default:
            return tt_cli_opts_take(&co, c, optarg);
        }
        if (bad) {
            tt_cli_error("gen", "bad value '%s' for --%s", optarg,
                         li >= 0 ? longopts[li].name
                                 : (c == 'n' ? "events" : "seed"));
            return TT_EXIT_USAGE;
        }
    }
    if (tt_cli_opts_operands(&co, argc, argv) != TT_EXIT_NONE)
        return TT_EXIT_USAGE;
    if (!out_path || !have_events || !have_seed) {
        tt_cli_error("gen", "--out, --events and --seed are required");
        return TT_EXIT_USAGE;
    }
    err = tt_gen_new(&g, &o, errstr, sizeof(errstr));
    if (err) {
        /* The library's message already starts with "gen: ". */
        fprintf(stderr, "twotime %s\n", errstr);
        return err == TT_ERR_INVAL ? TT_EXIT_USAGE : TT_EXIT_FAIL;
    }
    if (strcmp(out_path, "-") == 0) {
        f = stdout;
    } else {
        f = fopen(out_path, "w");
        if (!f) {
            tt_cli_error("gen", "%s: %s", out_path, strerror(errno));
            goto out;
        }
    }
    err = tt_gen_write_csv(g, f, errstr, sizeof(errstr));
    if (f != stdout && fclose(f) != 0 && !err)
        err = tt_errf(TT_ERR_IO, errstr, sizeof(errstr), "gen: %s: %s",
                      out_path, strerror(errno));
    if (err) {
        fprintf(stderr, "twotime %s\n", errstr);
        goto out;
    }
    if (!quiet)
        fprintf(stderr,
                "twotime gen: %llu events, %u users, %u items, seed %llu, "
                "%zu bytes of generator state\n",
                (unsigned long long)tt_gen_emitted(g), o.n_users, o.n_items,
                (unsigned long long)o.seed, tt_gen_bytes(g));
    rc = TT_EXIT_OK;
out:
    tt_gen_destroy(g);
    return rc;
}
