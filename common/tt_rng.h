/*
 * tt_rng: the deterministic random numbers of twotime (xoshiro256**, seeded by
 * splitmix64).  Every random choice in training, sampling, evaluation and the
 * synthetic generator draws from an explicitly seeded tt_rng so that the same
 * seed and input give the same output, bit for bit, on every run.
 *
 * A `struct tt_rng` is a plain caller-owned value; one per thread.
 */
#ifndef TT_RNG_H
#define TT_RNG_H

#include <stdint.h>

struct tt_rng {
    uint64_t s[4];
};

/* Seeds `rng` from `seed` and a `stream` number, so that independent streams
 * (one per thread, one per purpose) can be derived from one user seed. */
void tt_rng_seed(struct tt_rng *rng, uint64_t seed, uint64_t stream);

/* The next 64 random bits. */
uint64_t tt_rng_next(struct tt_rng *rng);

/* A uniform integer in [0, n); n must be > 0.  Unbiased (Lemire's method). */
uint64_t tt_rng_below(struct tt_rng *rng, uint64_t n);

/* A uniform double in [0, 1). */
double tt_rng_uniform(struct tt_rng *rng);

/* A standard normal deviate (Box-Muller, one value per call). */
double tt_rng_normal(struct tt_rng *rng);

/* splitmix64 of `x`: a good 64-bit mixing function, also for hashing ids. */
uint64_t tt_rng_mix64(uint64_t x);

#endif
