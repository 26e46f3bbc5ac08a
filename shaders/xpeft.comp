// variant: xpeft_mask -DXP_MASK
// variant: xpeft_mask_bwd -DXP_MASK_BWD
// variant: xpeft_bank_sum -DXP_SUM
// variant: xpeft_bank_sum_vec4 -DXP_SUM -DXP_VEC4
// variant: xpeft_bank_grad -DXP_GRAD
// variant: xpeft_bank_grad_vec4 -DXP_GRAD -DXP_VEC4
#version 450
// X-PEFT ops (include/prism/xpeft.h, METHODS.md §4):
//
//   xpeft_mask       one workgroup per row of N logits. soft: max and sum of
//                    exp by a shared-memory tree, then w = e / sum. hard:
//                    w_i = 1/k when rank_i < k, rank_i = #{j: s_j > s_i or
//                    (s_j == s_i and j < i)} (ties -> lower index). The rank
//                    count is O(N^2) per row, but N is a bank size (tens to a
//                    few thousand) and it needs no sort and no atomics, so it
//                    is deterministic. A non-finite logit makes the row NaN.
//   xpeft_mask_bwd   one workgroup per row; soft needs ⟨w, dw⟩ (tree).
//   xpeft_bank_sum   out[p, j] = Σ_i w[p, i] bank[i, j]: one invocation per
//                    column j and block of PB rows p (spec 3, at most P, so a
//                    single profile does no idle work), summing i in order.
//                    Each bank element is read once per PB rows (the bank is
//                    the large operand; w is tiny and stays in cache).
//   xpeft_bank_grad  dw[p, i] = ⟨d_eff[p, :], bank[i, :]⟩: one workgroup per
//                    (p, i), strided partials then a tree.
//
// The _vec4 variants (D % 4 == 0, 16-byte aligned bank and output / d_eff)
// read and write vec4s: one 16-byte load instead of four, several times
// faster on CPU devices; boff[] still counts floats.
//
// Trees use the whole workgroup (its size is a power of two, chosen by the
// runtime); no subgroup ops, so the result does not depend on the subgroup
// size, and the order of additions is fixed: bit-reproducible runs.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint rows;   // rows of the mask ops; P for bank ops
    uint n;      // N
    uint d;      // D (bank ops)
    uint k;      // hard mask k
    uint flags;  // 1: hard, 2: accumulate
} pc;

const uint F_HARD = 1u, F_ACC = 2u;

shared float red[gl_WorkGroupSize.x];

// Sum (or max) over the workgroup of v; every invocation gets the result.
float wg_reduce(float v, bool take_max) {
    uint li = gl_LocalInvocationID.x;
    red[li] = v;
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        barrier();
        if (li < s) red[li] = take_max ? max(red[li], red[li + s]) : red[li] + red[li + s];
    }
    barrier();
    float r = red[0];
    barrier();  // red is reused by the next call
    return r;
}

#if defined(XP_MASK)
layout(std430, binding = 0) writeonly buffer W { float w[]; };
layout(std430, binding = 1) readonly buffer S { float s[]; };

void main() {
    uint row = prism_group_linear();
    if (row >= pc.rows) return;  // uniform over the workgroup
    uint li = gl_LocalInvocationID.x, L = gl_WorkGroupSize.x;
    uint ow = pc.boff[0] + row * pc.n, os = pc.boff[1] + row * pc.n;
    float bad = 0.0;
    for (uint j = li; j < pc.n; j += L)
        if (isnan(s[os + j]) || isinf(s[os + j])) bad = 1.0;
    if (wg_reduce(bad, true) > 0.0) {
        for (uint j = li; j < pc.n; j += L) w[ow + j] = uintBitsToFloat(0x7fc00000u);
        return;
    }
    if ((pc.flags & F_HARD) != 0u) {
        float inv = 1.0 / float(pc.k);
        for (uint i = li; i < pc.n; i += L) {
            float si = s[os + i];
            uint rank = 0u;
            for (uint j = 0u; j < pc.n; j++) {
                float sj = s[os + j];
                rank += (sj > si || (sj == si && j < i)) ? 1u : 0u;
            }
            w[ow + i] = rank < pc.k ? inv : 0.0;
        }
        return;
    }
    float m = -3.402823e38;
    for (uint j = li; j < pc.n; j += L) m = max(m, s[os + j]);
    m = wg_reduce(m, true);
    float acc = 0.0;
    for (uint j = li; j < pc.n; j += L) acc += exp(s[os + j] - m);
    float sum = wg_reduce(acc, false);
    for (uint j = li; j < pc.n; j += L) w[ow + j] = exp(s[os + j] - m) / sum;
}

#elif defined(XP_MASK_BWD)
layout(std430, binding = 0) buffer DS { float ds[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) readonly buffer DW { float dw[]; };

void main() {
    uint row = prism_group_linear();
    if (row >= pc.rows) return;
    uint li = gl_LocalInvocationID.x, L = gl_WorkGroupSize.x;
    uint o0 = pc.boff[0] + row * pc.n, o1 = pc.boff[1] + row * pc.n, o2 = pc.boff[2] + row * pc.n;
    bool hard = (pc.flags & F_HARD) != 0u, accum = (pc.flags & F_ACC) != 0u;
    float dot = 0.0;
    if (!hard) {
        float acc = 0.0;
        for (uint j = li; j < pc.n; j += L) acc += w[o1 + j] * dw[o2 + j];
        dot = wg_reduce(acc, false);
    }
    for (uint j = li; j < pc.n; j += L) {
        float g = dw[o2 + j];
        float v = hard ? g : w[o1 + j] * (g - dot);
        ds[o0 + j] = accum ? ds[o0 + j] + v : v;  // select, not 0 * old: NaN-safe
    }
}

#elif defined(XP_SUM)
#ifdef XP_VEC4
#define VT vec4
#define VS 4u
#else
#define VT float
#define VS 1u
#endif
layout(std430, binding = 0) writeonly buffer O { VT o[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) readonly buffer B { VT bank[]; };
layout(constant_id = 3) const uint PB = 8u;  // rows of w per invocation (1, 2, 4 or 8: <= P)

void main() {
    uint dv = pc.d / VS, gid = prism_gid();  // columns in units of VT
    uint j = gid % dv, p0 = (gid / dv) * PB;
    if (p0 >= pc.rows) return;
    uint np = min(PB, pc.rows - p0), ob = pc.boff[2] / VS, oo = pc.boff[0] / VS;
    VT acc[PB];
    for (uint q = 0u; q < PB; q++) acc[q] = VT(0.0);
    for (uint i = 0u; i < pc.n; i++) {
        VT b = bank[ob + i * dv + j];
        for (uint q = 0u; q < PB; q++)
            if (q < np) acc[q] += w[pc.boff[1] + (p0 + q) * pc.n + i] * b;
    }
    for (uint q = 0u; q < PB; q++)
        if (q < np) o[oo + (p0 + q) * dv + j] = acc[q];
}

#elif defined(XP_GRAD)
#ifdef XP_VEC4
#define VT vec4
#define VS 4u
float hsum(vec4 v) { return (v.x + v.y) + (v.z + v.w); }
#else
#define VT float
#define VS 1u
float hsum(float v) { return v; }
#endif
layout(std430, binding = 0) buffer DW { float dw[]; };
layout(std430, binding = 1) readonly buffer DE { VT de[]; };
layout(std430, binding = 2) readonly buffer B { VT bank[]; };

void main() {
    uint item = prism_group_linear();
    if (item >= pc.rows * pc.n) return;
    uint dv = pc.d / VS, p = item / pc.n, i = item % pc.n, li = gl_LocalInvocationID.x;
    uint oe = pc.boff[1] / VS + p * dv, ob = pc.boff[2] / VS + i * dv;
    VT acc = VT(0.0);
    for (uint j = li; j < dv; j += gl_WorkGroupSize.x) acc += de[oe + j] * bank[ob + j];
    float sum = wg_reduce(hsum(acc), false);
    if (li == 0u) {
        uint o = pc.boff[0] + item;
        dw[o] = (pc.flags & F_ACC) != 0u ? dw[o] + sum : sum;
    }
}
#endif
