/* float64 reference of the counter-based RNG, and the scalar Philox4x32-10
 * that later code (e.g. select's random fill) shares. */
#ifndef PRISM_REF_RNG_H
#define PRISM_REF_RNG_H
#include <stdint.h>

/* Philox4x32-10 (Salmon et al., SC'11; Random123's philox4x32_R(10, ...)). */
void prism_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* The four words of counter block `block` for `seed` (see rng.c for the layout). */
void prism_rng_block(uint64_t seed, uint64_t block, uint32_t out[4]);
/* A word to a uniform in (0, 1): ((w >> 9) + 0.5) * 2^-23, exact in fp32. */
double prism_rng_u01(uint32_t w);

/* Element i of the tensor: block offset + i/4, word i%4; y = lo + (hi - lo) u
 * evaluated in fp32 arithmetic exactly as the shader does (bit-identical). */
void prism_ref_rng_uniform(uint64_t seed, uint64_t offset, float lo, float hi, double *y, int64_t n);
/* Box-Muller in float64 on the pair of words (0,1) / (2,3) of a block:
 * r = sqrt(-2 ln u(w_even)), a = 2 pi u(w_odd); words 0,2 -> r cos a, 1,3 -> r sin a. */
void prism_ref_rng_normal(uint64_t seed, uint64_t offset, double mean, double stddev, double *y, int64_t n);

#endif
