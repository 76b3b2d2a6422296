/*
 * tt_gen: a synthetic interaction log in the spirit of the paper's sec. 2
 * user model, with the features of real logs that matter to a sequential
 * recommender.  Streaming: memory is O(users * dim + items * dim), whatever
 * the number of events; events come out in time order (non-decreasing ms
 * timestamps); the same options (seed included) give the same events, bit
 * for bit.
 *
 * The model (details and the reasons in tt_gen.c):
 *  - items: latent vectors v_i around K cluster centres ("genres"; K =
 *    n_categories if set, else 16), a Zipf popularity over a random
 *    permutation of the items.  With n_categories > 0 each event carries its
 *    item's cluster as the category.
 *  - users: theta_u = mu + sigma * z (E|theta_u - mu|^2 = sigma^2 = Var_m),
 *    drifting as a random walk (drift per sqrt(day)) between sessions.
 *  - each user's number of events T_u follows p(T) ~ (T + 1)^-alpha on
 *    [1, cap], the cap chosen so that the counts add up to n_events but at
 *    most 200 times the mean (then all counts are scaled up instead, which
 *    raises the minimum); the counts are rescaled to sum to n_events
 *    exactly.
 *  - users are present from the start or (a fraction new_user_rate of them)
 *    arrive uniformly during the log; each is active in a time window and
 *    interacts in sessions (mean session_len events, seconds to minutes
 *    apart; sessions spread over the window).
 *  - the next item is drawn from softmax(theta_u . v_i / temp + log pop_i)
 *    by sampling-importance-resampling over `candidates` items drawn half by
 *    popularity, half from the user's likely clusters; within a session,
 *    with probability session_prob, from
 *    softmax((theta_u + v_prev) . v_i / temp + log pop_i) over candidates
 *    drawn from the previous item's cluster (the short-term effect).
 *
 * A generator is used by one thread at a time.
 */
#ifndef TT_GEN_H
#define TT_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/tt_err.h"
#include "common/tt_event.h"

typedef struct tt_gen_s tt_gen_t;

struct tt_gen_opts {
    uint64_t seed;
    uint64_t n_events;     /* exactly this many events, >= 1 */
    uint32_t n_users;      /* users in total (some may get no event when
                              n_events < n_users) */
    uint32_t n_items;
    double alpha;          /* power-law exponent of events per user, > 1 */
    uint32_t dim;          /* latent dimension */
    double sigma;          /* spread of users around mu: Var_m = sigma^2 */
    double drift;          /* random-walk std of theta per sqrt(day) */
    double new_user_rate;  /* fraction of users arriving during the log */
    uint32_t n_categories; /* 0: events carry no category */
    double zipf;           /* item popularity exponent */
    double temp;           /* softmax temperature of the affinity */
    double session_prob;   /* P(next item near the previous one) in session */
    double session_len;    /* mean events per session, >= 1 */
    double days;           /* length of the log in days */
    int64_t start_ms;      /* time of the log's start */
    uint32_t candidates;   /* candidate pool per draw */
};

/* The defaults: 1M events, 20k users, 5k items, alpha 1.4 (with these
 * defaults: median 4 events per user, 10% of users above 100, about 140
 * above 1000, the largest near 2000), dim 16, sigma 1.0, drift 0.02, 20% new
 * users, no categories, zipf 0.6, temp 0.1, session_prob 0.5, session_len
 * 8, 120 days from 2020-01-01, 64 candidates, seed 1. */
void tt_gen_opts_init(struct tt_gen_opts *opts);

/* A generator for `opts` (copied).  TT_ERR_INVAL for out-of-range options,
 * TT_ERR_NOMEM; *out owns the generator (tt_gen_destroy()). */
tt_err_t tt_gen_new(tt_gen_t **out, const struct tt_gen_opts *opts,
                    char *errstr, size_t errstr_size);

/* The next event in time order; false once n_events were produced. */
bool tt_gen_next(tt_gen_t *g, struct tt_event *ev);

/* Frees the generator; NULL is a no-op. */
void tt_gen_destroy(tt_gen_t *g);

/* Bytes the generator holds (does not depend on n_events). */
size_t tt_gen_bytes(const tt_gen_t *g);

/* Events produced so far. */
uint64_t tt_gen_emitted(const tt_gen_t *g);

/* The csv header line (no newline) matching tt_gen_write_csv() output. */
const char *tt_gen_csv_header(const tt_gen_t *g);

/*
 * Writes the csv header line (`user_id,item_id,timestamp[,category]`,
 * timestamp in ms) and then every remaining event to `f`.  TT_ERR_IO on a
 * write error.
 */
tt_err_t tt_gen_write_csv(tt_gen_t *g, FILE *f, char *errstr,
                          size_t errstr_size);

#endif
