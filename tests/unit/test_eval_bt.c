/*
 * End-to-end tests of model/tt_eval_bt (the backtest) on a small synthetic
 * log from model/tt_gen: 2TS-Plus beats the static baselines (ccf, pop),
 * inactive users' embeddings move more per step
 * than active users' (the paper's fig. 4), the report's counts add up, the
 * JSON report parses back, the per-epoch validation curve is recorded, and
 * t* tuning picks the best validation pair.  Also the model-list and grid
 * parsers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/tt_conf.h"
#include "model/tt_eval_bt.h"
#include "model/tt_gen.h"

static void gen_ds(struct tt_dataset *ds, uint64_t n, uint32_t users,
                   uint32_t items, uint64_t seed)
{
    struct tt_gen_opts go;
    struct tt_event e;
    tt_gen_t *g;
    char err[256];

    tt_gen_opts_init(&go);
    go.n_events = n;
    go.n_users = users;
    go.n_items = items;
    go.seed = seed;
    assert_int_equal(tt_gen_new(&g, &go, err, sizeof err), TT_ERR_OK);
    assert_int_equal(tt_dataset_init(ds), TT_ERR_OK);
    while (tt_gen_next(g, &e))
        assert_int_equal(tt_dataset_add(ds, &e), TT_ERR_OK);
    tt_gen_destroy(g);
    assert_int_equal(tt_dataset_finish(ds), TT_ERR_OK);
}

static void base_opts(struct tt_bt_opts *o)
{
    struct tt_conf conf;

    memset(o, 0, sizeof *o);
    assert_int_equal(tt_conf_init(&conf), TT_ERR_OK);
    tt_train_opts_from_conf(&o->train, &conf);
    o->train.dim = 16;
    o->train.epochs1 = 5;
    o->train.epochs2 = 5;
    o->train.lr2 = 0.01;
    o->train.tstar = 20;
    o->train.k = 10;
    o->train.threads = 2;
    o->eval.negatives = 499;
    o->eval.seed = 7;
    o->eval.threads = 2;
    o->train_frac = conf.eval.train_frac;
    o->valid_frac = conf.eval.valid_frac;
    o->valid_sample = 2000;
    tt_conf_release(&conf);
}

/* Mean change over steps 1..n of one group. */
static double change(const struct tt_eval_result *r, int g, int n)
{
    double s = 0;
    uint64_t c = 0;

    for (int k = 1; k <= n; k++) {
        s += r->change_mean[g][k] * (double)r->change_n[g][k];
        c += r->change_n[g][k];
    }
    return c ? s / (double)c : 0;
}

static void test_backtest(void **state)
{
    struct tt_dataset ds;
    struct tt_bt_opts o;
    struct tt_bt_result *res = calloc(1, sizeof(*res));
    const struct tt_bt_model_result *m2, *mp, *mc, *mpop;
    char err[512], path[] = "/tmp/tt_bt_testXXXXXX", cmd[600];
    FILE *f;
    int fd;

    (void)state;
    gen_ds(&ds, 20000, 700, 350, 3);
    base_opts(&o);
    o.models = (1u << TT_BT_2TS) | (1u << TT_BT_2TS_PLUS) |
               (1u << TT_BT_CCF) | (1u << TT_BT_SUMPOOL) | (1u << TT_BT_POP);
    assert_int_equal(tt_bt_run(&ds, &o, NULL, res, err, sizeof err),
                     TT_ERR_OK);
    m2 = &res->model[TT_BT_2TS];
    mp = &res->model[TT_BT_2TS_PLUS];
    mc = &res->model[TT_BT_CCF];
    mpop = &res->model[TT_BT_POP];
    print_message("MRR 2ts %.4f 2ts-plus %.4f ccf %.4f sumpool %.4f pop "
                  "%.4f\n",
                  m2->test.mrr, mp->test.mrr, mc->test.mrr,
                  res->model[TT_BT_SUMPOOL].test.mrr, mpop->test.mrr);
    print_message("change per step 1..10: 2ts inactive %.3f active %.3f\n",
                  change(&m2->test, 0, 10), change(&m2->test, 1, 10));
    assert_true(m2->done && mp->done && mc->done && mpop->done);
    assert_false(res->model[TT_BT_GRU].done);
    /* The paper's ordering, on data with sessions.  With the sliding
     * window and the default stage 2 settings, plain 2TS is ahead of ccf
     * by ~0.03 on this log (printed above; with the paper's rule it was
     * within a few thousandths); 2TS-Plus is far ahead. */
    assert_true(m2->test.mrr > mc->test.mrr + 0.01);
    assert_true(m2->test.mrr > mpop->test.mrr + 0.03);
    assert_true(mp->test.mrr > mc->test.mrr + 0.03);
    assert_true(mp->test.mrr > mpop->test.mrr + 0.03);
    /* two time scales */
    assert_true(change(&m2->test, 0, 10) > change(&m2->test, 1, 10));
    assert_true(change(&mp->test, 0, 10) > change(&mp->test, 1, 10));
    /* the same candidates and slices for every model */
    assert_int_equal(m2->test.n, mpop->test.n);
    assert_int_equal(m2->test.n, res->test_scored);
    assert_int_equal(mc->test.n_unknown, res->test_unknown_item_n);
    assert_int_equal(m2->test.n_unknown, res->test_unknown_item_n);
    assert_int_equal(m2->test.n_new_user, res->test_new_user_n);
    /* a catalogue smaller than 500: every training item is a candidate, and
     * an unknown truth ranks after all of them */
    assert_true(res->test_unknown_item_n > 0);
    assert_int_equal(m2->test.n_candidates,
                     res->train_items < 500 ? res->train_items + 1 : 500);
    assert_true(res->active_users > 0 && res->test_new_users > 0);
    {
        uint64_t sum = 0, users = 0;

        for (uint32_t b = 0; b < m2->test.n_buckets; b++) {
            sum += m2->test.bucket[b].n;
            users += m2->test.bucket[b].users;
        }
        assert_int_equal(sum, m2->test.n);
        assert_int_equal(users, res->test_users);
        assert_int_equal(m2->test.bucket[0].n, res->test_new_user_n);
        assert_int_equal(m2->test.group_n[0] + m2->test.group_n[1],
                         m2->test.n);
    }
    /* the validation curve: one point per epoch, time increasing */
    assert_true(m2->n_curve >= 1 && m2->n_curve <= o.train.epochs2);
    for (uint32_t i = 1; i < m2->n_curve; i++)
        assert_true(m2->curve[i].seconds >= m2->curve[i - 1].seconds);
    assert_true(mc->n_curve == 0 && mc->stage1_seconds > 0);

    /* JSON: parses back, with the numbers */
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_int_equal(tt_bt_write_json(res, &o, "synthetic \"log\"", f),
                     TT_ERR_OK);
    fclose(f);
    if (system("python3 -c 'import json' >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof cmd,
                 "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
                 "m={x[\"name\"]:x for x in d[\"models\"]}; "
                 "assert set(m)=={\"2ts\",\"2ts-plus\",\"ccf\",\"sumpool\","
                 "\"pop\"}; assert abs(m[\"2ts\"][\"mrr\"]-%.17g)<1e-12; "
                 "assert len(m[\"2ts\"][\"embedding_change\"][\"active\"]"
                 "[\"mean\"])==50; assert d[\"config\"][\"tstar\"]==20; "
                 "assert m[\"2ts\"][\"buckets\"][-1][\"hi\"] is None; "
                 "assert d[\"input\"]==\"synthetic \\\"log\\\"\"' %s",
                 m2->test.mrr, path);
        assert_int_equal(system(cmd), 0);
    } else {
        print_message("python3 not found: JSON parse check skipped\n");
    }
    unlink(path);
    free(res);
    tt_dataset_release(&ds);
}

static void test_tuning(void **state)
{
    struct tt_dataset ds;
    struct tt_bt_opts o;
    struct tt_bt_result *res = calloc(1, sizeof(*res));
    char err[512];
    double best = -1;

    (void)state;
    gen_ds(&ds, 8000, 400, 200, 4);
    base_opts(&o);
    o.train.epochs1 = 2;
    o.train.epochs2 = 2;
    o.models = (1u << TT_BT_POP) | (1u << TT_BT_2TS);
    o.tstar_grid[0] = 5;
    o.tstar_grid[1] = 30;
    o.n_tstar_grid = 2;
    o.k_grid[0] = 5;
    o.k_grid[1] = 10;
    o.n_k_grid = 2;
    assert_int_equal(tt_bt_run(&ds, &o, NULL, res, err, sizeof err),
                     TT_ERR_OK);
    /* (5,5), (30,5), (30,10): K > t* is left out */
    assert_int_equal(res->n_grid, 3);
    assert_true(res->best_grid >= 0);
    for (uint32_t i = 0; i < res->n_grid; i++) {
        assert_true(res->grid[i].k <= res->grid[i].tstar);
        if (res->grid[i].valid_mrr > best)
            best = res->grid[i].valid_mrr;
    }
    assert_true(res->grid[res->best_grid].valid_mrr == best);
    assert_int_equal(res->tstar, res->grid[res->best_grid].tstar);
    assert_int_equal(res->k, res->grid[res->best_grid].k);
    assert_true(res->model[TT_BT_POP].done);
    /* 2TS is the best grid model, with its validation curve */
    assert_true(res->model[TT_BT_2TS].done);
    assert_true(res->model[TT_BT_2TS].n_curve >= 1);
    assert_true(res->model[TT_BT_2TS].stage2_seconds ==
                res->grid[res->best_grid].seconds);
    assert_true(fabs(res->model[TT_BT_2TS].valid_mrr -
                     res->grid[res->best_grid].valid_mrr) < 1e-12);
    assert_int_equal(res->model[TT_BT_POP].test.bucket[0].hi, 0);
    free(res);
    tt_dataset_release(&ds);
}

static void test_parse(void **state)
{
    uint32_t mask, v[TT_BT_GRID_MAX], n;
    char err[256];

    (void)state;
    assert_int_equal(tt_bt_parse_models("2ts,pop", &mask, err, sizeof err),
                     TT_ERR_OK);
    assert_int_equal(mask, (1u << TT_BT_2TS) | (1u << TT_BT_POP));
    assert_int_equal(
        tt_bt_parse_models("2ts-plus-paper", &mask, err, sizeof err), TT_ERR_OK);
    assert_int_equal(mask, 1u << TT_BT_2TS_PLUS_PAPER);
    assert_int_equal(tt_bt_parse_models("all", &mask, err, sizeof err),
                     TT_ERR_OK);
    assert_int_equal(mask, (1u << TT_BT__COUNT) - 1);
    assert_int_equal(tt_bt_parse_models("2ts,bert", &mask, err, sizeof err),
                     TT_ERR_INVAL);
    assert_non_null(strstr(err, "'bert'"));
    assert_int_equal(tt_bt_parse_models("2t", &mask, err, sizeof err),
                     TT_ERR_INVAL);
    assert_int_equal(tt_bt_parse_models("", &mask, err, sizeof err),
                     TT_ERR_INVAL);
    assert_int_equal(tt_bt_parse_grid("20,50,100", 1, v, TT_BT_GRID_MAX, &n,
                                      err, sizeof err),
                     TT_ERR_OK);
    assert_true(n == 3 && v[0] == 20 && v[2] == 100);
    assert_int_equal(
        tt_bt_parse_grid("20,,5", 1, v, TT_BT_GRID_MAX, &n, err, sizeof err),
        TT_ERR_INVAL);
    assert_int_equal(
        tt_bt_parse_grid("0", 1, v, TT_BT_GRID_MAX, &n, err, sizeof err),
        TT_ERR_INVAL);
    assert_int_equal(
        tt_bt_parse_grid("7x", 1, v, TT_BT_GRID_MAX, &n, err, sizeof err),
        TT_ERR_INVAL);
    assert_int_equal(tt_bt_parse_grid("1,2,3", 1, v, 2, &n, err, sizeof err),
                     TT_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_tuning),
        cmocka_unit_test(test_backtest),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
