/*
 * tt_live's report: the backtest JSON with the "live" member, and the text
 * lines (cli/tt_live.h).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/tt_live.h"
#include "model/tt_json.h"
#include "model/tt_score.h"

static void kv_u(struct tt_json *w, const char *k, uint64_t v)
{
    tt_json_key(w, k);
    tt_json_uint(w, v);
}

static void kv_metrics(struct tt_json *w, uint64_t n, uint64_t rr,
                       uint64_t hits)
{
    kv_u(w, "interactions", n);
    tt_json_key(w, "mrr");
    tt_json_double(w, tt_score_mrr(rr, n));
    tt_json_key(w, "recall_at_10");
    tt_json_double(w, n ? (double)hits / (double)n : 0.0);
}

static tt_err_t write_live(const struct tt_live_stats *st, FILE *out)
{
    struct tt_json w;

    tt_json_init(&w, out, 2);
    tt_json_obj_begin(&w);
    kv_u(&w, "input_records", st->input_records);
    kv_u(&w, "input_undecodable", st->input_undecodable);
    kv_u(&w, "embeddings", st->embeddings);
    kv_u(&w, "embeddings_undecodable", st->embeddings_undecodable);
    kv_u(&w, "embeddings_unmatched", st->embeddings_unmatched);
    kv_u(&w, "duplicate_embeddings", st->duplicates);
    kv_u(&w, "conflicting_embeddings", st->conflicts);
    kv_u(&w, "scored", st->scored);
    kv_u(&w, "missing_embedding", st->missing_embedding);
    kv_u(&w, "missing_model", st->missing_model);
    kv_u(&w, "first_interactions", st->first_interactions);
    kv_u(&w, "after_swap", st->after_swap);
    tt_json_key(&w, "read_seconds");
    tt_json_num(&w, st->read_seconds);
    tt_json_key(&w, "score_seconds");
    tt_json_num(&w, st->score_seconds);
    tt_json_key(&w, "versions");
    tt_json_arr_begin(&w);
    for (uint32_t i = 0; i < st->n_versions; i++) {
        const struct tt_live_version *v = &st->v[i];
        static const char *const group[2] = {"inactive", "active"};

        tt_json_obj_begin(&w);
        kv_u(&w, "version", v->version);
        tt_json_key(&w, "source");
        tt_json_str(&w, v->from_topic ? "topic" : "file");
        kv_metrics(&w, v->n, v->rr, v->hits);
        for (int g = 0; g < 2; g++) {
            tt_json_key(&w, group[g]);
            tt_json_obj_begin(&w);
            kv_metrics(&w, v->g_n[g], v->g_rr[g], v->g_hits[g]);
            tt_json_obj_end(&w);
        }
        tt_json_obj_end(&w);
    }
    tt_json_arr_end(&w);
    tt_json_key(&w, "pairing");
    tt_json_str(&w, "interaction j of user u is scored with the embedding "
                    "emitted for u's previous interaction (by input "
                    "partition and offset) and that embedding's model "
                    "version; u's first interaction with psi of the version "
                    "that processed j");
    tt_json_obj_end(&w);
    return tt_json_finish(&w);
}

tt_err_t tt_live_write_json(const struct tt_bt_result *res,
                            const struct tt_bt_opts *bo, const char *input,
                            const struct tt_live_stats *st, FILE *out)
{
    char *doc = NULL;
    size_t len = 0, end;
    FILE *mem;
    tt_err_t err;

    if (!st)
        return tt_bt_write_json(res, bo, input, out);
    /* the backtest's document, with "live" added as its last member */
    mem = open_memstream(&doc, &len);
    if (!mem)
        return TT_ERR_NOMEM;
    err = tt_bt_write_json(res, bo, input, mem);
    if (fclose(mem) != 0 && !err)
        err = TT_ERR_NOMEM;
    if (err) {
        free(doc);
        return err;
    }
    end = len;
    while (end > 0 && doc[end - 1] != '}')
        end--;
    if (end == 0) {
        free(doc);
        return TT_ERR_INVAL;
    }
    end--;
    while (end > 0 && (doc[end - 1] == '\n' || doc[end - 1] == ' '))
        end--;
    if (fwrite(doc, 1, end, out) != end ||
        fputs(",\n  \"live\": ", out) == EOF)
        err = TT_ERR_IO;
    free(doc);
    if (!err)
        err = write_live(st, out);
    if (!err && fputs("\n}\n", out) == EOF)
        err = TT_ERR_IO;
    return err;
}

void tt_live_print(const struct tt_live_stats *st, FILE *out)
{
    fprintf(out,
            "live: %llu input records (%llu undecodable), %llu embeddings "
            "(%llu unmatched, %llu duplicates, %llu conflicts)\n"
            "live: %llu scored (%llu first interactions, %llu after a model "
            "swap); not scored: %llu without an embedding, %llu without "
            "the model version\n",
            (unsigned long long)st->input_records,
            (unsigned long long)st->input_undecodable,
            (unsigned long long)st->embeddings,
            (unsigned long long)st->embeddings_unmatched,
            (unsigned long long)st->duplicates,
            (unsigned long long)st->conflicts,
            (unsigned long long)st->scored,
            (unsigned long long)st->first_interactions,
            (unsigned long long)st->after_swap,
            (unsigned long long)st->missing_embedding,
            (unsigned long long)st->missing_model);
    fprintf(out, "%-10s %-6s %12s %8s %10s %13s %11s\n", "version", "from",
            "interactions", "MRR", "Recall@10", "inactive MRR", "active MRR");
    for (uint32_t i = 0; i < st->n_versions; i++) {
        const struct tt_live_version *v = &st->v[i];

        fprintf(out, "%-10llu %-6s %12llu %8.4f %10.4f %13.4f %11.4f\n",
                (unsigned long long)v->version,
                v->from_topic ? "topic" : "file", (unsigned long long)v->n,
                tt_score_mrr(v->rr, v->n),
                v->n ? (double)v->hits / (double)v->n : 0.0,
                tt_score_mrr(v->g_rr[0], v->g_n[0]),
                tt_score_mrr(v->g_rr[1], v->g_n[1]));
    }
}
