/* float64 reference: Philox4x32-10 and the uniform / normal fills.
 *
 * Mapping (identical in shaders/rng.comp):
 *   key      = (seed & 0xffffffff, seed >> 32)
 *   block b  = offset + i/4 (64-bit, wraps), counter = (b & 0xffffffff, b >> 32, 0, 0)
 *   word     = philox(counter, key)[i % 4]
 *   uniform  u = ((w >> 9) + 0.5) * 2^-23: 23 random bits, odd multiples of
 *            2^-24, so u is exact in fp32 and lies in [2^-24, 1 - 2^-24]
 *            (never 0 or 1, so ln u is finite);
 *            y = lo + (float)(hi - lo) * u, each operation rounded to fp32.
 *   normal   Box-Muller per word pair: u1 = u(w0), u2 = u(w1) give
 *            z0 = sqrt(-2 ln u1) cos(2 pi u2), z1 = sqrt(-2 ln u1) sin(2 pi u2)
 *            for elements i%4 = 0, 1; words 2, 3 likewise for i%4 = 2, 3;
 *            y = mean + stddev z. */
#include <math.h>
#include "rng.h"

static const uint32_t PHILOX_M0 = 0xD2511F53u, PHILOX_M1 = 0xCD9E8D57u;
static const uint32_t PHILOX_W0 = 0x9E3779B9u, PHILOX_W1 = 0xBB67AE85u;

void prism_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0; /* the bump after the last round is never used */
        k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

void prism_rng_block(uint64_t seed, uint64_t block, uint32_t out[4]) {
    uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), 0, 0};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    prism_philox4x32_10(ctr, key, out);
}

double prism_rng_u01(uint32_t w) { return ((double)(w >> 9) + 0.5) * (1.0 / 8388608.0); }

void prism_ref_rng_uniform(uint64_t seed, uint64_t offset, float lo, float hi, double *y, int64_t n) {
    const float d = hi - lo;
    uint32_t w[4];
    for (int64_t i = 0; i < n; i++) {
        if (i % 4 == 0) prism_rng_block(seed, offset + (uint64_t)(i / 4), w);
        /* volatile: force the fp32 rounding of the product (no fused multiply-add),
         * exactly as the `precise` shader expression */
        volatile float t = d * (float)prism_rng_u01(w[i % 4]);
        volatile float r = lo + t;
        y[i] = r;
    }
}

void prism_ref_rng_normal(uint64_t seed, uint64_t offset, double mean, double stddev, double *y, int64_t n) {
    const double two_pi = 6.283185307179586476925;
    uint32_t w[4];
    for (int64_t i = 0; i < n; i++) {
        if (i % 4 == 0) prism_rng_block(seed, offset + (uint64_t)(i / 4), w);
        int pair = (int)(i % 4) & 2;
        double r = sqrt(-2.0 * log(prism_rng_u01(w[pair])));
        double a = two_pi * prism_rng_u01(w[pair + 1]);
        y[i] = mean + stddev * (i % 2 == 0 ? r * cos(a) : r * sin(a));
    }
}
