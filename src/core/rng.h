/* rng.h: the one pseudo-random generator (xoshiro256**, seeded through splitmix64): head
 * initialisation, dropout and shuffles in training, random model weights. Deterministic for a
 * seed on every host; not for cryptography. */
#ifndef GEOLABEL_RNG_H
#define GEOLABEL_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} gl_rng;

void gl_rng_seed(gl_rng *r, uint64_t seed);
uint64_t gl_rng_next(gl_rng *r);
double gl_rng_uniform(gl_rng *r); /* [0,1) with 53 random bits */
double gl_rng_normal(gl_rng *r);  /* N(0,1) by Box-Muller, one draw per call */

#endif
