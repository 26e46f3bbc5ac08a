#version 450
// Philox4x32-10 counter-based fills: MODE 0 uniform, 1 normal. One
// invocation computes one counter block (4 words) and writes up to 4
// consecutive elements. Mapping (identical in runtime/reference/rng.c):
//   key = (seed lo, seed hi); block = offset + i/4 (64-bit);
//   counter = (block lo, block hi, 0, 0); word = philox(counter, key)[i % 4]
//   u = ((w >> 9) + 0.5) * 2^-23: exact in fp32, in [2^-24, 1 - 2^-24]
//   uniform: y = lo + d * u with d = fp32(hi - lo), every step rounded to
//            fp32 (`precise`: no fused multiply-add), so device and reference
//            agree bit for bit
//   normal:  Box-Muller on words (0,1) and (2,3): r = sqrt(-2 ln u(w0)),
//            a = 2 pi u(w1); i%4 = 0 -> r cos a, 1 -> r sin a (2, 3 likewise);
//            y = mean + stddev z
// ln, sin and cos are evaluated here from polynomials (add/mul/div only)
// rather than GLSL's built-ins, whose precision Vulkan leaves loose (sin/cos:
// 2^-11 absolute), so every device lands within a few ulp of float64.
// No 64-bit integers (shaderInt64 is optional): umulExtended and uaddCarry.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 3) const uint MODE = 0;

layout(std430, binding = 0) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint n;              // elements in this chunk (the chunk starts on a block boundary)
    uint blk_lo, blk_hi; // counter block of the chunk's first element: offset + base/4
    uint key_lo, key_hi;
    float a, b;          // uniform: lo, hi - lo; normal: mean, stddev
} pc;

uvec4 philox4x32_10(uvec4 c, uvec2 k) {
    for (int r = 0; r < 10; r++) {
        uint hi0, lo0, hi1, lo1;
        umulExtended(0xD2511F53u, c.x, hi0, lo0);
        umulExtended(0xCD9E8D57u, c.z, hi1, lo1);
        c = uvec4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k += uvec2(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

float u01(uint w) { return (float(w >> 9) + 0.5) * (1.0 / 8388608.0); }

// ln x for x in (0, 1]: x = m 2^e with m in [sqrt(1/2), sqrt(2)),
// ln m = 2 atanh(s), s = (m - 1)/(m + 1), |s| < 0.172 (series to s^11:
// truncation below 1e-10 relative). m - 1 is exact (Sterbenz).
float prism_ln(float x) {
    int e;
    float m = frexp(x, e);
    if (m < 0.70710678) { m *= 2.0; e -= 1; }
    float s = (m - 1.0) / (m + 1.0), s2 = s * s;
    float q = s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0)))));
    return float(e) * 0.69314718055994531 + 2.0 * (s + s * q);
}

// (sin, cos) of 2 pi u, u in [0, 1]: quadrant q = round(4u), f = 4u - q in
// [-1/2, 1/2] (both exact), angle f pi/2 in [-pi/4, pi/4] where Taylor
// series to a^11 / a^12 are below 1e-11.
vec2 sincos_2pi(float u) {
    float t = 4.0 * u, q = floor(t + 0.5), f = t - q;
    float a = f * 1.5707963267948966, a2 = a * a;
    float s = a + a * a2 * (-1.0 / 6.0 + a2 * (1.0 / 120.0 + a2 * (-1.0 / 5040.0 + a2 * (1.0 / 362880.0 + a2 * (-1.0 / 39916800.0)))));
    float c = 1.0 + a2 * (-0.5 + a2 * (1.0 / 24.0 + a2 * (-1.0 / 720.0 + a2 * (1.0 / 40320.0 + a2 * (-1.0 / 3628800.0 + a2 * (1.0 / 479001600.0))))));
    uint qi = uint(q) & 3u;
    if (qi == 0u) return vec2(s, c);
    if (qi == 1u) return vec2(c, -s);
    if (qi == 2u) return vec2(-s, -c);
    return vec2(-c, s);
}

void main() {
    uint j = prism_gid();
    uint e0 = j * 4u;
    if (j >= (pc.n + 3u) / 4u) return;
    uint carry;
    uint lo = uaddCarry(pc.blk_lo, j, carry);
    uvec4 w = philox4x32_10(uvec4(lo, pc.blk_hi + carry, 0u, 0u), uvec2(pc.key_lo, pc.key_hi));
    float r[4];
    if (MODE == 0u) {
        for (int k = 0; k < 4; k++) {
            precise float t = pc.b * u01(w[k]);
            precise float o = pc.a + t;
            r[k] = o;
        }
    } else {
        for (int k = 0; k < 4; k += 2) {
            float rad = sqrt(-2.0 * prism_ln(u01(w[k])));
            vec2 sc = sincos_2pi(u01(w[k + 1]));
            r[k] = pc.a + pc.b * (rad * sc.y);
            r[k + 1] = pc.a + pc.b * (rad * sc.x);
        }
    }
    uint yo = pc.boff[0] + e0;
    uint cnt = min(4u, pc.n - e0);
    for (uint k = 0u; k < cnt; k++) y[yo + k] = r[k];
}
