#include "common/tt_rng.h"

#include <math.h>

uint64_t tt_rng_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void tt_rng_seed(struct tt_rng *rng, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ tt_rng_mix64(stream + 0x5851f42d4c957f2dULL);

    for (int i = 0; i < 4; i++) {
        x = tt_rng_mix64(x);
        rng->s[i] = x;
    }
    /* xoshiro must not start from the all-zero state. */
    if (!(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]))
        rng->s[0] = 1;
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t tt_rng_next(struct tt_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* A 64x64->128-bit product is the cheapest unbiased bounded draw. */
__extension__ typedef unsigned __int128 u128;

uint64_t tt_rng_below(struct tt_rng *rng, uint64_t n)
{
    u128 m = (u128)tt_rng_next(rng) * n;
    uint64_t low = (uint64_t)m;

    if (low < n) {
        uint64_t threshold = -n % n;

        while (low < threshold) {
            m = (u128)tt_rng_next(rng) * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double tt_rng_uniform(struct tt_rng *rng)
{
    return (double)(tt_rng_next(rng) >> 11) * 0x1.0p-53;
}

double tt_rng_normal(struct tt_rng *rng)
{
    double u1 = tt_rng_uniform(rng);
    double u2 = tt_rng_uniform(rng);

    /* u1 = 0 would give log(0); shift into (0, 1]. */
    return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
}
