/*
 * The report's page: one index.html with inline CSS and the figures
 * embedded as base64 data: URIs, so that the file alone is the report
 * (mail it, attach it to a ticket).  Nothing in it depends on the clock,
 * so the same JSON gives the same page.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "report/tt_report_int.h"

#define FILE_MAX 4096
#define PNG_MAX ((size_t)32 << 20)

static const char css[] =
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "margin:0;background:#f6f7f9;color:#1d2330}"
    "main{max-width:1100px;margin:0 auto;padding:24px 28px 48px}"
    "h1{font-size:26px;margin:8px 0 2px}"
    "h2{font-size:19px;margin:34px 0 10px;padding-bottom:4px;"
    "border-bottom:2px solid #dfe3ea}"
    ".sub{color:#5b6475;margin:0 0 18px}"
    "code{font:13px ui-monospace,Menlo,Consolas,monospace;background:#eceff4;"
    "padding:1px 4px;border-radius:3px}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}"
    ".card{background:#fff;border:1px solid #dfe3ea;border-radius:8px;"
    "padding:10px 16px;min-width:180px}"
    ".card b{display:block;font-size:22px}"
    ".card span{color:#5b6475;font-size:13px}"
    "table{border-collapse:collapse;background:#fff;margin:8px 0 12px;"
    "font-variant-numeric:tabular-nums}"
    "th,td{padding:5px 11px;border-bottom:1px solid #e6e9ef;text-align:right}"
    "th{background:#eef1f6;font-weight:600;font-size:13px}"
    "td:first-child,th:first-child{text-align:left}"
    "td.best{font-weight:700;color:#0b6b2f}"
    ".two{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}"
    ".bar{height:18px;background:#e3e7ee;border-radius:9px;overflow:hidden;"
    "max-width:560px}"
    ".bar div{height:100%;background:#e07b39}"
    "figure{margin:10px 0;background:#fff;border:1px solid #dfe3ea;"
    "border-radius:8px;padding:8px}"
    "figure img{max-width:100%;height:auto;display:block;margin:0 auto}"
    "figcaption{color:#5b6475;font-size:13px;margin-top:6px}"
    ".note{color:#5b6475;font-size:13px}"
    "footer{margin-top:40px;color:#5b6475;font-size:13px}";

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* 1234567 -> "1,234,567" */
static const char *count(uint64_t v, char *buf, size_t size)
{
    char digits[32];
    size_t n, o = 0;

    n = (size_t)snprintf(digits, sizeof(digits), "%llu",
                         (unsigned long long)v);
    for (size_t i = 0; i < n && o + 2 < size; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

static const char *date(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (!gmtime_r(&t, &tm) ||
        !strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm))
        snprintf(buf, size, "%lld ms", (long long)ms);
    return buf;
}

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* Writes the PNG at dir/name as a data: URI. */
static tt_err_t embed_png(FILE *out, const char *dir, const char *name,
                          char *errstr, size_t errstr_size)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char path[FILE_MAX];
    unsigned char in[3 * 1024];
    size_t n, total = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (!f)
        return tt_errf(TT_ERR_IO, errstr, errstr_size, "cannot read %s: %s",
                       path, strerror(errno));
    fputs("data:image/png;base64,", out);
    /* Whole 3-byte groups except at the end, so padding only ends it. */
    while ((n = fread(in, 1, sizeof(in), f)) > 0) {
        total += n;
        if (total > PNG_MAX)
            break;
        for (size_t i = 0; i < n; i += 3) {
            unsigned v = (unsigned)in[i] << 16;
            size_t k = n - i < 3 ? n - i : 3;

            if (k > 1)
                v |= (unsigned)in[i + 1] << 8;
            if (k > 2)
                v |= in[i + 2];
            fputc(b64[(v >> 18) & 63], out);
            fputc(b64[(v >> 12) & 63], out);
            fputc(k > 1 ? b64[(v >> 6) & 63] : '=', out);
            fputc(k > 2 ? b64[v & 63] : '=', out);
        }
        if (n < sizeof(in))
            break;
    }
    if (ferror(f) || total > PNG_MAX) {
        fclose(f);
        return tt_errf(TT_ERR_IO, errstr, errstr_size,
                       "cannot embed %s (read error or over %zu bytes)", path,
                       PNG_MAX);
    }
    fclose(f);
    return TT_ERR_OK;
}

static tt_err_t figure(FILE *out, const char *dir, unsigned drawn,
                       enum tt_rp_fig fig, const char *alt,
                       const char *caption, char *errstr, size_t errstr_size)
{
    tt_err_t err;

    if (!(drawn & (1u << fig))) {
        fprintf(out, "<p class=\"note\">(figure not drawn: %s)</p>\n",
                drawn ? "no data for it in this report"
                      : "report made without figures");
        return TT_ERR_OK;
    }
    fputs("<figure><img alt=\"", out);
    esc(out, alt);
    fputs("\" src=\"", out);
    err = embed_png(out, dir, tt_rp_fig_file(fig), errstr, errstr_size);
    if (err)
        return err;
    fprintf(out, "\"><figcaption>%s (<code>%s</code>)</figcaption></figure>\n",
            caption, tt_rp_fig_file(fig));
    return TT_ERR_OK;
}

/* The index of the model with the largest value of `field`. */
static uint32_t best_of(const struct tt_rp_data *d, size_t field)
{
    uint32_t best = 0;

    for (uint32_t m = 1; m < d->n_models; m++)
        if (*(const double *)((const char *)&d->model[m] + field) >
            *(const double *)((const char *)&d->model[best] + field))
            best = m;
    return best;
}

static void cell(FILE *f, double v, bool best)
{
    fprintf(f, "<td%s>%.4f</td>", best ? " class=\"best\"" : "", v);
}

static void cards(FILE *f, const struct tt_rp_data *d)
{
    const struct tt_rp_model *bm = &d->model[best_of(
                                 d, offsetof(struct tt_rp_model, mrr))],
                             *br = &d->model[best_of(
                                 d, offsetof(struct tt_rp_model, recall))];
    char a[32], b[32];

    fputs("<div class=\"cards\">", f);
    fprintf(f, "<div class=\"card\"><span>best MRR</span><b>%.4f</b>"
               "<span>%s</span></div>",
            bm->mrr, bm->name);
    fprintf(f, "<div class=\"card\"><span>best Recall@10</span><b>%.4f</b>"
               "<span>%s</span></div>",
            br->recall, br->name);
    fprintf(f, "<div class=\"card\"><span>test interactions from new "
               "users</span><b>%.1f%%</b><span>%s of %s scored</span></div>",
            100.0 * d->new_user_share, count(d->new_user_n, a, sizeof(a)),
            count(d->scored, b, sizeof(b)));
    fprintf(f, "<div class=\"card\"><span>active users (&gt; t* = %llu "
               "training interactions)</span><b>%s</b><span>of ",
            (unsigned long long)d->tstar,
            count(d->active_users, a, sizeof(a)));
    fprintf(f, "%s training users</span></div></div>\n",
            count(d->train_users, a, sizeof(a)));
}

static void models_table(FILE *f, const struct tt_rp_data *d)
{
    uint32_t bm = best_of(d, offsetof(struct tt_rp_model, mrr));
    uint32_t br = best_of(d, offsetof(struct tt_rp_model, recall));
    uint32_t bv = best_of(d, offsetof(struct tt_rp_model, valid_mrr));
    char a[32], b[32], c[32];

    fputs("<table id=\"models\"><tr><th>model</th><th>MRR</th>"
          "<th>Recall@10</th><th>inactive MRR</th><th>active MRR</th>"
          "<th>valid MRR</th><th>stage 1 s</th><th>stage 2 s</th>"
          "<th>scoring s</th></tr>\n",
          f);
    for (uint32_t m = 0; m < d->n_models; m++) {
        const struct tt_rp_model *mo = &d->model[m];

        fprintf(f, "<tr><td>%s</td>", mo->name);
        cell(f, mo->mrr, m == bm);
        cell(f, mo->recall, m == br);
        cell(f, mo->group[TT_RP_INACTIVE].mrr, false);
        cell(f, mo->group[TT_RP_ACTIVE].mrr, false);
        cell(f, mo->valid_mrr, m == bv);
        fprintf(f, "<td>%.1f</td><td>%.1f</td><td>%.2f</td></tr>\n",
                mo->stage1_s, mo->stage2_s, mo->scoring_s);
    }
    fputs("</table>\n", f);
    fprintf(f, "<p class=\"note\">%s test interactions scored per model, "
               "each against its true item and %llu negatives from the "
               "items seen in training (ties pessimistic); inactive/active: "
               "%s / %s interactions of users with at most / more than t* "
               "training interactions.  Best value per column in green.</p>\n",
            count(d->scored, a, sizeof(a)),
            (unsigned long long)d->eval_negatives,
            count(d->model[0].group[TT_RP_INACTIVE].n, b, sizeof(b)),
            count(d->model[0].group[TT_RP_ACTIVE].n, c, sizeof(c)));
}

static void row_count(FILE *f, const char *name, uint64_t v, const char *extra)
{
    char a[32];

    fprintf(f, "<tr><td>%s</td><td>%s</td><td>%s</td></tr>\n", name,
            count(v, a, sizeof(a)), extra);
}

static void data_tables(FILE *f, const struct tt_rp_data *d)
{
    char x[96], t1[40], t2[40];

    fputs("<div class=\"two\"><table><tr><th>dataset</th><th>count</th>"
          "<th></th></tr>\n",
          f);
    row_count(f, "interactions", d->interactions, "");
    row_count(f, "users", d->users, "");
    row_count(f, "items", d->items, "");
    snprintf(x, sizeof(x), "%.1f%%", pct(d->train, d->interactions));
    row_count(f, "train", d->train, x);
    snprintf(x, sizeof(x), "%.1f%%", pct(d->valid, d->interactions));
    row_count(f, "validation", d->valid, x);
    snprintf(x, sizeof(x), "%.1f%%", pct(d->test, d->interactions));
    row_count(f, "test", d->test, x);
    row_count(f, "users in training", d->train_users, "");
    row_count(f, "items in training (candidate pool)", d->train_items, "");
    snprintf(x, sizeof(x), "&gt; t* = %llu", (unsigned long long)d->tstar);
    row_count(f, "active users", d->active_users, x);
    fprintf(f, "<tr><td>first event</td><td colspan=\"2\">%s</td></tr>\n"
               "<tr><td>training cutoff</td><td colspan=\"2\">%s</td></tr>\n",
            date(d->first_ts, t1, sizeof(t1)),
            date(d->cutoff_ts, t2, sizeof(t2)));
    fprintf(f, "<tr><td>last event</td><td colspan=\"2\">%s</td></tr>\n"
               "</table>\n",
            date(d->last_ts, t1, sizeof(t1)));

    fputs("<table><tr><th>test</th><th>count</th><th></th></tr>\n", f);
    row_count(f, "scored interactions", d->scored, "");
    row_count(f, "users", d->test_users, "");
    snprintf(x, sizeof(x), "%.1f%% of test users",
             pct(d->new_users, d->test_users));
    row_count(f, "new users (unseen in training)", d->new_users, x);
    snprintf(x, sizeof(x), "%.1f%%", 100.0 * d->new_user_share);
    row_count(f, "interactions of new users", d->new_user_n, x);
    snprintf(x, sizeof(x), "%.1f%%", pct(d->unknown_items, d->scored));
    row_count(f, "true item unseen in training", d->unknown_items, x);
    row_count(f, "validation sample (early stopping)", d->valid_scored, "");
    fputs("</table>\n", f);

    fputs("<table><tr><th>configuration</th><th>value</th></tr>\n", f);
    fprintf(f, "<tr><td>t* / K</td><td>%llu / %llu</td></tr>\n",
            (unsigned long long)d->tstar, (unsigned long long)d->k);
    fprintf(f, "<tr><td>dimension d</td><td>%llu</td></tr>\n",
            (unsigned long long)d->dim);
    fprintf(f, "<tr><td>epochs (stage 1 / 2)</td><td>%llu / %llu</td></tr>\n",
            (unsigned long long)d->epochs1, (unsigned long long)d->epochs2);
    fputs("<tr><td>optimizer</td><td>", f);
    esc(f, d->optimizer);
    fprintf(f, "</td></tr>\n<tr><td>training negatives</td><td>%llu</td>"
               "</tr>\n<tr><td>evaluation negatives (seed)</td><td>%llu "
               "(%llu)</td></tr>\n",
            (unsigned long long)d->train_negatives,
            (unsigned long long)d->eval_negatives,
            (unsigned long long)d->eval_seed);
    fprintf(f, "<tr><td>item features</td><td>%s</td></tr>\n"
               "<tr><td>threads</td><td>%llu</td></tr>\n"
               "<tr><td>stage 1 / whole run</td><td>%.1f s / %.1f s</td>"
               "</tr>\n</table></div>\n",
            d->features ? "yes" : "no", (unsigned long long)d->threads,
            d->stage1_s, d->seconds);
}

static void new_users(FILE *f, const struct tt_rp_data *d)
{
    char a[32], b[32], c[32], e[32];

    fprintf(f, "<p><b>%.1f%%</b> of the scored test interactions (%s of %s) "
               "come from users unseen in training: %s of the %s users "
               "with a test interaction (%.1f%%).  Under 2TS they start "
               "from the shared state psi and are moved by the inactive "
               "cell.</p>\n",
            100.0 * d->new_user_share, count(d->new_user_n, a, sizeof(a)),
            count(d->scored, b, sizeof(b)), count(d->new_users, c, sizeof(c)),
            count(d->test_users, e, sizeof(e)),
            pct(d->new_users, d->test_users));
    fprintf(f, "<div class=\"bar\" title=\"share of test interactions from "
               "new users\"><div style=\"width:%.1f%%\"></div></div>\n",
            100.0 * d->new_user_share);
}

static void activity_table(FILE *f, const struct tt_rp_data *d)
{
    const struct tt_rp_model *m0 = &d->model[0];
    char label[64], a[32];

    fputs("<table><tr><th>training interactions</th><th>users</th>"
          "<th>test interactions</th>",
          f);
    for (uint32_t m = 0; m < d->n_models; m++)
        fprintf(f, "<th>%s</th>", d->model[m].name);
    fputs("</tr>\n", f);
    for (uint32_t b = 0; b < m0->n_buckets; b++) {
        uint32_t best = 0;

        for (uint32_t m = 1; m < d->n_models; m++)
            if (b < d->model[m].n_buckets &&
                d->model[m].bucket[b].m.mrr >
                    d->model[best].bucket[b].m.mrr)
                best = m;
        tt_rp_bucket_label(&m0->bucket[b], label, sizeof(label));
        fprintf(f, "<tr><td>%s</td><td>%s</td>", label,
                count(m0->bucket[b].users, a, sizeof(a)));
        fprintf(f, "<td>%s</td>", count(m0->bucket[b].m.n, a, sizeof(a)));
        for (uint32_t m = 0; m < d->n_models; m++) {
            const struct tt_rp_model *mo = &d->model[m];

            if (b >= mo->n_buckets || !mo->bucket[b].m.n)
                fputs("<td>&ndash;</td>", f);
            else
                cell(f, mo->bucket[b].m.mrr, m == best);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void change_cell(FILE *f, const struct tt_rp_model *m, int g,
                        uint32_t from, uint32_t to)
{
    const struct tt_rp_change *c = &m->change[g];
    double v = 0;
    bool has;

    /* to == 0: the steps beyond steps_max, kept as one mean */
    if (to == 0) {
        has = c->later_has;
        v = c->later_mean;
    } else {
        has = tt_rp_change_mean(m, g, from, to, &v);
    }
    if (has)
        fprintf(f, "<td>%.3f</td>", v);
    else
        fputs("<td>&ndash;</td>", f);
}

static void change_table(FILE *f, const struct tt_rp_data *d)
{
    fputs("<table><tr><th>model</th><th>inactive, steps 1-5</th>"
          "<th>active, steps 1-5</th><th>inactive, 6-50</th>"
          "<th>active, 6-50</th><th>inactive, later</th>"
          "<th>active, later</th></tr>\n",
          f);
    for (uint32_t m = 0; m < d->n_models; m++) {
        const struct tt_rp_model *mo = &d->model[m];

        if (!mo->has_change)
            continue;
        fprintf(f, "<tr><td>%s</td>", mo->name);
        change_cell(f, mo, TT_RP_INACTIVE, 1, 5);
        change_cell(f, mo, TT_RP_ACTIVE, 1, 5);
        change_cell(f, mo, TT_RP_INACTIVE, 6, 50);
        change_cell(f, mo, TT_RP_ACTIVE, 6, 50);
        change_cell(f, mo, TT_RP_INACTIVE, 0, 0);
        change_cell(f, mo, TT_RP_ACTIVE, 0, 0);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n<p class=\"note\">Mean of ||h<sub>t+1</sub> &minus; "
          "h<sub>t</sub>||<sub>2</sub> over the state updates on test "
          "events, weighted by their count; the step counts updates since "
          "the state's start (from the shared state at the user's first "
          "event for inactive users, from the user's own vector at the "
          "training cutoff for active ones).  Static models (ccf, pop) "
          "have none.</p>\n",
          f);
}

static void training_table(FILE *f, const struct tt_rp_data *d)
{
    fputs("<table><tr><th>model</th><th>epochs</th><th>best valid MRR</th>"
          "<th>at epoch</th><th>at s</th><th>last s</th></tr>\n",
          f);
    for (uint32_t m = 0; m < d->n_models; m++) {
        const struct tt_rp_model *mo = &d->model[m];
        uint32_t best = 0;

        if (!mo->n_curve)
            continue;
        for (uint32_t i = 1; i < mo->n_curve; i++)
            if (mo->curve[i].valid_mrr > mo->curve[best].valid_mrr)
                best = i;
        fprintf(f, "<tr><td>%s</td><td>%u</td><td>%.4f</td><td>%u</td>"
                   "<td>%.1f</td><td>%.1f</td></tr>\n",
                mo->name, (unsigned)mo->n_curve, mo->curve[best].valid_mrr,
                (unsigned)mo->curve[best].epoch,
                mo->curve[best].total_seconds,
                mo->curve[mo->n_curve - 1].total_seconds);
    }
    fputs("</table>\n", f);
}

static void tuning_table(FILE *f, const struct tt_rp_data *d)
{
    char a[32];

    fputs("<h2>Tuning (validation data only)</h2>\n<table><tr><th>t*</th>"
          "<th>K</th><th>active users</th><th>valid MRR</th>"
          "<th>stage 2 s</th></tr>\n",
          f);
    for (uint32_t i = 0; i < d->n_grid; i++) {
        const struct tt_rp_grid *g = &d->grid[i];
        bool chosen = g->tstar == d->tstar && g->k == d->k;

        fprintf(f, "<tr><td>%llu%s</td><td>%llu</td><td>%s</td>",
                (unsigned long long)g->tstar, chosen ? " (chosen)" : "",
                (unsigned long long)g->k, count(g->active, a, sizeof(a)));
        cell(f, g->valid_mrr, chosen);
        fprintf(f, "<td>%.1f</td></tr>\n", g->seconds);
    }
    fputs("</table>\n", f);
}

/* A live backtest: what the pipeline served, per model version. */
static void live_section(FILE *f, const struct tt_rp_data *d)
{
    const struct tt_rp_live *l = &d->live;
    char a[32], b[32], c[32], e[32];

    fputs("<h2>Live: what the pipeline served</h2>\n<p class=\"note\">"
          "Each test interaction is scored with the embedding the stream "
          "had emitted for the user before it (for the user's previous "
          "interaction; psi for a first interaction), against the item "
          "vectors of the model version that embedding names, with the "
          "offline protocol's candidates.</p>\n<table>\n",
          f);
    fprintf(f, "<tr><td>input records</td><td>%s</td><td>%s undecodable "
               "(dead letters)</td></tr>\n",
            count(l->input_records, a, sizeof(a)),
            count(l->input_undecodable, b, sizeof(b)));
    fprintf(f, "<tr><td>embeddings read</td><td>%s</td><td>%s naming no "
               "input record, %s duplicates, %s conflicting</td></tr>\n",
            count(l->embeddings, a, sizeof(a)),
            count(l->unmatched, b, sizeof(b)),
            count(l->duplicates, c, sizeof(c)),
            count(l->conflicts, e, sizeof(e)));
    fprintf(f, "<tr><td>test interactions scored</td><td>%s</td><td>%s "
               "first interactions (psi), ",
            count(l->scored, a, sizeof(a)),
            count(l->first_interactions, b, sizeof(b)));
    fprintf(f, "%s with an embedding from before a model swap</td></tr>\n",
            count(l->after_swap, a, sizeof(a)));
    fprintf(f, "<tr><td>not scored</td><td>%s</td><td>no embedding for the "
               "previous interaction: %s; model version unavailable: "
               "%s</td></tr>\n</table>\n",
            count(l->missing_embedding + l->missing_model, a, sizeof(a)),
            count(l->missing_embedding, b, sizeof(b)),
            count(l->missing_model, c, sizeof(c)));
    fputs("<table><tr><th>model version</th><th>from</th>"
          "<th>interactions</th><th>MRR</th><th>Recall@10</th>"
          "<th>inactive MRR</th><th>active MRR</th></tr>\n",
          f);
    for (uint32_t i = 0; i < l->n_versions; i++) {
        const struct tt_rp_version *v = &l->v[i];

        fprintf(f, "<tr><td>%llu</td><td>", (unsigned long long)v->version);
        esc(f, v->source);
        fprintf(f, "</td><td>%s</td>", count(v->all.n, a, sizeof(a)));
        cell(f, v->all.mrr, false);
        cell(f, v->all.recall, false);
        cell(f, v->group[0].mrr, false);
        cell(f, v->group[1].mrr, false);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');

    return s && s[1] ? s + 1 : path;
}

static tt_err_t page(FILE *f, const struct tt_rp_data *d, const char *dir,
                     const char *title, const char *json_path, unsigned drawn,
                     char *errstr, size_t errstr_size)
{
    char t[TT_RP_TEXT_MAX + 64], a[32];
    tt_err_t err;

    if (title)
        snprintf(t, sizeof(t), "%s", title);
    else
        snprintf(t, sizeof(t), "twotime backtest: %s", base_name(d->input));
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width, "
          "initial-scale=1\"><title>",
          f);
    esc(f, t);
    fprintf(f, "</title><style>%s</style></head>\n<body><main>\n<h1>", css);
    esc(f, t);
    fputs("</h1>\n<p class=\"sub\">input <code>", f);
    esc(f, d->input);
    fprintf(f, "</code> &middot; %s interactions &middot; %u models &middot; "
               "report from <code>",
            count(d->interactions, a, sizeof(a)), (unsigned)d->n_models);
    esc(f, base_name(json_path));
    fputs("</code></p>\n", f);
    cards(f, d);

    fputs("<h2>Models</h2>\n", f);
    models_table(f, d);
    if (d->live.present)
        live_section(f, d);
    fputs("<h2>Data and split</h2>\n<p class=\"note\">Interactions sorted "
          "by time: the first part trains, the next validates (early "
          "stopping, tuning), the rest is scored.</p>\n",
          f);
    data_tables(f, d);
    fputs("<h2>New users</h2>\n", f);
    new_users(f, d);

    fputs("<h2>MRR by user activity (paper fig. 3)</h2>\n", f);
    err = figure(f, dir, drawn, TT_RP_FIG_ACTIVITY, "MRR by activity bucket",
                 "Test MRR of each model by the user's number of training "
                 "interactions; bars: share of test interactions per bucket; "
                 "dashed line: t*, right of it the active users",
                 errstr, errstr_size);
    if (err)
        return err;
    activity_table(f, d);

    fputs("<h2>Embedding change per new interaction (paper fig. 4)</h2>\n",
          f);
    err = figure(f, dir, drawn, TT_RP_FIG_CHANGE, "embedding change by step",
                 "Mean L2 change of the user state per update by step, "
                 "inactive vs active users, one panel per model (log x)",
                 errstr, errstr_size);
    if (err)
        return err;
    change_table(f, d);

    fputs("<h2>MRR against training time (paper fig. 2)</h2>\n", f);
    err = figure(f, dir, drawn, TT_RP_FIG_TRAINING, "MRR against time",
                 "Validation MRR after each stage-2 epoch against the "
                 "training time so far; models without stage 2 as one "
                 "point at their stage-1 time",
                 errstr, errstr_size);
    if (err)
        return err;
    training_table(f, d);
    if (d->n_grid)
        tuning_table(f, d);

    fputs("<footer>Written by <code>twotime report</code>.  The figures "
          "are PNG files next to this page, drawn by gnuplot from "
          "<code>report.gp</code> and the <code>fig_*.dat</code> files: "
          "edit and run <code>gnuplot report.gp</code> in this directory "
          "to redraw them.</footer>\n</main></body></html>\n",
          f);
    return TT_ERR_OK;
}

tt_err_t tt_rp_html(const struct tt_rp_data *d, const char *dir,
                    const char *title, const char *json_path, unsigned drawn,
                    size_t *bytes, char *errstr, size_t errstr_size)
{
    char path[FILE_MAX], tmp[FILE_MAX + 8];
    struct stat st;
    tt_err_t err;
    bool bad;
    FILE *f;

    if (snprintf(path, sizeof(path), "%s/index.html", dir) >=
        (int)sizeof(path))
        return tt_errf(TT_ERR_RANGE, errstr, errstr_size, "%s: path too long",
                       dir);
    /* Written aside and renamed, so that a failed run leaves the previous
     * page, not half of one. */
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f)
        return tt_errf(TT_ERR_IO, errstr, errstr_size, "cannot write %s: %s",
                       tmp, strerror(errno));
    err = page(f, d, dir, title, json_path, drawn, errstr, errstr_size);
    bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad) {
        if (!err)
            err = tt_errf(TT_ERR_IO, errstr, errstr_size,
                          "writing %s failed", tmp);
    }
    if (!err && rename(tmp, path) != 0)
        err = tt_errf(TT_ERR_IO, errstr, errstr_size,
                      "cannot rename %s to %s: %s", tmp, path,
                      strerror(errno));
    if (err) {
        remove(tmp);
        return err;
    }
    *bytes = stat(path, &st) == 0 ? (size_t)st.st_size : 0;
    return TT_ERR_OK;
}
