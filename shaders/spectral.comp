#version 450
// Sparse-coefficient ops of sDCTFT / FourierFT (runtime/ops/spectral.c).
//
// The entry set is a prism_spectral_index: pairs (r_l, c_l), weights w_l,
// and a CSR grouping of the coefficients by the gather's output coordinate
// (ptr over the output length, perm = coefficient ids in ascending order).
// Every output element is owned by one invocation (gathers) or one
// workgroup (coefficient gradients), and sums in a fixed order: results are
// deterministic and no atomics are used.
//
// MODE (spec 3):
//   0 scatter   F[r_l, c_l] = alpha w_l f_l for the entries inside this chunk of F
//   1 gather, real (DCT) rows (2-D grid: outputs x token blocks):     Z[t, a] = beta Z + alpha sum_{l in seg(a)} w_l f_l X[t, b_l]
//   2 gather, Hermitian half spectra (interleaved re, im):
//       H[t, j] = beta H + alpha/2 (sum_{seg(j)} w f conj(x̂[b]) + sum_{seg((L-j)%L)} w f x̂[b])
//     where x̂[b] = half[b] for b <= Lx/2, conj(half[Lx - b]) beyond
//   3 coefficient gradient: one workgroup per coefficient, invocations stride
//     over tokens, shared-memory tree (power-of-two workgroup):
//       DCT:     g[l] = beta g + alpha w_l sum_t G[t, r_l] X[t, c_l]
//       Fourier: g[l] = beta g + alpha w_l sum_t Re(ĝ_t[r_l] x̂_t[c_l])
// (a, b) = (r, c) or, with `transpose`, (c, r).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 3) const uint MODE = 0;

layout(std430, binding = 0) buffer Out { float outp[]; };
layout(std430, binding = 1) readonly buffer X { float xh[]; };
layout(std430, binding = 2) readonly buffer G { float gh[]; };
layout(std430, binding = 3) readonly buffer Coef { float coef[]; };
layout(std430, binding = 4) readonly buffer Pairs { float pairs[]; };
layout(std430, binding = 5) readonly buffer Weights { float wts[]; };
layout(std430, binding = 6) readonly buffer Ptr { float ptr[]; };
layout(std430, binding = 7) readonly buffer Perm { float perm[]; };

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint rows, cols, n;
    uint T;          // tokens in this dispatch
    uint transpose;
    uint fourier;    // coefficient gradient: 0 real rows, 1 half spectra
    float alpha, beta;
    uint base, count; // scatter: fidx range of F bound in this dispatch
    uint lz, lx;     // gather: output / input row length in the transform axis
    uint tb;         // gather: tokens per invocation
} pc;

shared float red[gl_WorkGroupSize.x];

uint pair_at(uint l, uint k) { return uint(pairs[pc.boff[4] + 2u * l + k]); }

// Full-spectrum entry b of a length-L signal from the half spectrum at `o`.
vec2 full_x(uint o, uint L, uint b) {
    if (b <= L / 2u) return vec2(xh[o + 2u * b], xh[o + 2u * b + 1u]);
    uint m = L - b;
    return vec2(xh[o + 2u * m], -xh[o + 2u * m + 1u]);
}
vec2 full_g(uint o, uint L, uint b) {
    if (b <= L / 2u) return vec2(gh[o + 2u * b], gh[o + 2u * b + 1u]);
    uint m = L - b;
    return vec2(gh[o + 2u * m], -gh[o + 2u * m + 1u]);
}

void main() {
    if (MODE == 0u) {
        uint l = prism_gid();
        if (l >= pc.n) return;
        uint r = pair_at(l, 0u), c = pair_at(l, 1u);
        if (r >= pc.rows || c >= pc.cols) return;
        uint fidx = r * pc.cols + c;
        if (fidx < pc.base || fidx - pc.base >= pc.count) return;
        outp[pc.boff[0] + fidx - pc.base] = pc.alpha * wts[pc.boff[5] + l] * coef[pc.boff[3] + l];
        return;
    }

    uint bsel = pc.transpose != 0u ? 0u : 1u;  // which pair word is the input coordinate
    // Gathers: a 2-D grid, x over the output coordinate a (consecutive
    // invocations write consecutive outputs), y over blocks of pc.tb tokens;
    // the CSR segment of a is read once per block and stays cached.
    uint a = gl_WorkGroupID.x * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    uint t0 = gl_WorkGroupID.y * pc.tb, t1 = min(t0 + pc.tb, pc.T);
    if (MODE == 1u) {
        if (a >= pc.lz) return;
        uint j0 = uint(ptr[pc.boff[6] + a]), j1 = uint(ptr[pc.boff[6] + a + 1u]);
        for (uint t = t0; t < t1; t++) {
            float acc = 0.0;
            for (uint j = j0; j < j1; j++) {
                uint l = uint(perm[pc.boff[7] + j]);
                acc += wts[pc.boff[5] + l] * coef[pc.boff[3] + l] * xh[pc.boff[1] + t * pc.lx + pair_at(l, bsel)];
            }
            uint o = pc.boff[0] + t * pc.lz + a;
            outp[o] = pc.beta == 0.0 ? pc.alpha * acc : pc.beta * outp[o] + pc.alpha * acc;
        }
        return;
    }

    if (MODE == 2u) {
        uint hz = pc.lz / 2u + 1u, hx = pc.lx / 2u + 1u;
        if (a >= hz) return;
        uint mz = (pc.lz - a) % pc.lz;
        uint j0 = uint(ptr[pc.boff[6] + a]), j1 = uint(ptr[pc.boff[6] + a + 1u]);
        uint k0 = uint(ptr[pc.boff[6] + mz]), k1 = uint(ptr[pc.boff[6] + mz + 1u]);
        for (uint t = t0; t < t1; t++) {
            uint xo = pc.boff[1] + t * hx * 2u;
            vec2 acc = vec2(0.0);
            // seg(a): w f conj(x̂[b])
            for (uint j = j0; j < j1; j++) {
                uint l = uint(perm[pc.boff[7] + j]);
                vec2 x = full_x(xo, pc.lx, pair_at(l, bsel));
                acc += wts[pc.boff[5] + l] * coef[pc.boff[3] + l] * vec2(x.x, -x.y);
            }
            // seg((L - a) % L): the conjugate of w f conj(x̂[b]) = w f x̂[b]
            for (uint j = k0; j < k1; j++) {
                uint l = uint(perm[pc.boff[7] + j]);
                acc += wts[pc.boff[5] + l] * coef[pc.boff[3] + l] * full_x(xo, pc.lx, pair_at(l, bsel));
            }
            acc *= 0.5 * pc.alpha;
            uint o = pc.boff[0] + 2u * (t * hz + a);
            if (pc.beta == 0.0) {
                outp[o] = acc.x;
                outp[o + 1u] = acc.y;
            } else {
                outp[o] = pc.beta * outp[o] + acc.x;
                outp[o + 1u] = pc.beta * outp[o + 1u] + acc.y;
            }
        }
        return;
    }

    // MODE 3: coefficient gradient, workgroup per coefficient
    uint l = prism_group_linear(), li = gl_LocalInvocationID.x, LS = gl_WorkGroupSize.x;
    bool live = l < pc.n;
    float acc = 0.0;
    if (live) {
        uint r = pair_at(l, 0u), c = pair_at(l, 1u);
        for (uint t = li; t < pc.T; t += LS) {
            if (pc.fourier == 0u) {
                acc += gh[pc.boff[2] + t * pc.rows + r] * xh[pc.boff[1] + t * pc.cols + c];
            } else {
                vec2 g = full_g(pc.boff[2] + t * (pc.rows / 2u + 1u) * 2u, pc.rows, r);
                vec2 x = full_x(pc.boff[1] + t * (pc.cols / 2u + 1u) * 2u, pc.cols, c);
                acc += g.x * x.x - g.y * x.y;
            }
        }
    }
    red[li] = acc;
    for (uint s = LS / 2u; s > 0u; s >>= 1u) {
        barrier();
        if (li < s) red[li] += red[li + s];
    }
    if (live && li == 0u) {
        uint o = pc.boff[0] + l;
        float v = pc.alpha * wts[pc.boff[5] + l] * red[0];
        outp[o] = pc.beta == 0.0 ? v : pc.beta * outp[o] + v;
    }
}
