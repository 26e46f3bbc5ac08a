// variant: multi_matvec -DMULTI_MV
// variant: multi_matvec_vec4 -DMULTI_MV -DMULTI_VEC4
// variant: multi_reflect -DMULTI_REFLECT
#version 450
// Multi-profile ops (include/prism/profiles.h): every row t of a batch uses
// the parameters of its own profile p_t = ids[t], gathered from a stack of
// all profiles, so one dispatch serves a batch however many profiles it mixes.
//
//   multi_matvec   y[t, i] = (acc ? y[t, i] : 0) + Σ_j x[t, j] M[p_t, j, i] (+ bias[i])
//                  i.e. y_t = x_t M[p_t] with M [P, C, R]: neighbouring
//                  invocations are neighbouring outputs i, so for each j they
//                  read neighbouring elements of M (one vector load on a CPU
//                  device, coalesced on a GPU) and the same x[t, j].
//                  Items are (t, i) pairs; S invocations (spec 3, a power of
//                  two) share one item: strided partials over j, then a tree
//                  inside the segment. CPU devices use S = 1 (no barriers,
//                  which cost most there); GPUs get more invocations per item
//                  for long rows (C = n) so that few items still fill them.
//   multi_reflect  per item (t, block b): y = x − 2 û(ûᵀx) (ETHER) or
//                  x − û(ûᵀx) + v̂(v̂ᵀx) (ETHER+) on the block's columns, with
//                  unit vectors û = u[p_t, b], v̂ = v[p_t, b] (the profile set
//                  normalises them once), plus an optional bias.
//
// A profile id is a float that must be an integer in [0, P); any other value
// (negative, fractional, NaN, too large) gives a NaN row: a wrong id must never
// silently serve another profile's adapter. No subgroup ops; fixed-order sums.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 3) const uint S = 1;  // invocations per item (power of two)

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint T;      // rows
    uint R;      // matvec: outputs per row; reflect: d
    uint C;      // matvec: row length; reflect: block width
    uint nb;     // reflect: blocks per row
    uint P;      // profiles in the stack
    uint flags;  // 1: accumulate (matvec), 2: bias, 4: plus (reflect, v bound)
} pc;

const uint F_ACC = 1u, F_BIAS = 2u, F_PLUS = 4u;

// Returns the profile of row t, or P when ids[t] is not a valid id.
uint profile_of(float id) {
    bool ok = id >= 0.0 && id < float(pc.P) && id == floor(id);  // false for NaN
    return ok ? uint(id) : pc.P;
}

#define QNAN uintBitsToFloat(0x7fc00000u)

#if defined(MULTI_MV) && defined(MULTI_VEC4)
// One invocation per 4 consecutive outputs (R % 4 == 0, S == 1, y / M / bias
// 16-byte aligned; boff[] still counts floats): vec4 loads of M and y.
layout(std430, binding = 0) buffer Y { vec4 y[]; };
layout(std430, binding = 1) readonly buffer M { vec4 mat[]; };
layout(std430, binding = 2) readonly buffer X { float x[]; };
layout(std430, binding = 3) readonly buffer I { float ids[]; };
layout(std430, binding = 4) readonly buffer BI { vec4 bias[]; };

void main() {
    uint item = prism_gid(), R4 = pc.R / 4u;
    if (item >= pc.T * R4) return;
    uint t = item / R4, i4 = item % R4;
    uint p = profile_of(ids[pc.boff[3] + t]);
    vec4 acc = vec4(0.0);
    if (p < pc.P) {
        uint om = pc.boff[1] / 4u + p * pc.C * R4 + i4, ox = pc.boff[2] + t * pc.C;
        for (uint j = 0u; j < pc.C; j++) acc += x[ox + j] * mat[om + j * R4];
    }
    uint o = pc.boff[0] / 4u + item;
    if ((pc.flags & F_ACC) != 0u) acc += y[o];
    if ((pc.flags & F_BIAS) != 0u) acc += bias[pc.boff[4] / 4u + i4];
    y[o] = p < pc.P ? acc : vec4(QNAN);
}

#elif defined(MULTI_MV)
layout(std430, binding = 0) buffer Y { float y[]; };
layout(std430, binding = 1) readonly buffer M { float mat[]; };
layout(std430, binding = 2) readonly buffer X { float x[]; };
layout(std430, binding = 3) readonly buffer I { float ids[]; };
layout(std430, binding = 4) readonly buffer BI { float bias[]; };

shared float red[gl_WorkGroupSize.x];

void main() {
    uint li = gl_LocalInvocationID.x, lane = li % S;
    uint item = prism_group_linear() * (gl_WorkGroupSize.x / S) + li / S;
    bool live = item < pc.T * pc.R;
    uint t = live ? item / pc.R : 0u, i = live ? item % pc.R : 0u;
    uint p = live ? profile_of(ids[pc.boff[3] + t]) : pc.P;
    float acc = 0.0;
    if (p < pc.P) {
        uint om = pc.boff[1] + p * pc.C * pc.R + i, ox = pc.boff[2] + t * pc.C;
        for (uint j = lane; j < pc.C; j += S) acc += x[ox + j] * mat[om + j * pc.R];
    }
    if (S > 1u) {
        red[li] = acc;
        for (uint s = S / 2u; s > 0u; s >>= 1) {
            barrier();
            if (lane < s) red[li] += red[li + s];
        }
        barrier();
        acc = red[li];
    }
    if (live && lane == 0u) {
        uint o = pc.boff[0] + item;
        float r = acc;
        if ((pc.flags & F_ACC) != 0u) r += y[o];
        if ((pc.flags & F_BIAS) != 0u) r += bias[pc.boff[4] + i];
        y[o] = p < pc.P ? r : QNAN;
    }
}

#elif defined(MULTI_REFLECT)
layout(std430, binding = 0) writeonly buffer Y { float y[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) readonly buffer I { float ids[]; };
layout(std430, binding = 3) readonly buffer U { float u[]; };
layout(std430, binding = 4) readonly buffer V { float v[]; };
layout(std430, binding = 5) readonly buffer BI { float bias[]; };

shared vec2 red[gl_WorkGroupSize.x];

void main() {
    uint li = gl_LocalInvocationID.x, lane = li % S;
    uint item = prism_group_linear() * (gl_WorkGroupSize.x / S) + li / S;
    bool live = item < pc.T * pc.nb;
    uint t = live ? item / pc.nb : 0u, b = live ? item % pc.nb : 0u;
    uint p = live ? profile_of(ids[pc.boff[2] + t]) : pc.P;
    bool plus = (pc.flags & F_PLUS) != 0u;
    uint ox = pc.boff[1] + t * pc.R + b * pc.C;
    uint ou = pc.boff[3] + (p < pc.P ? p : 0u) * pc.R + b * pc.C;
    uint ov = pc.boff[4] + (p < pc.P ? p : 0u) * pc.R + b * pc.C;
    vec2 acc = vec2(0.0);
    if (p < pc.P)
        for (uint j = lane; j < pc.C; j += S) {
            float xv = x[ox + j];
            acc.x += u[ou + j] * xv;
            if (plus) acc.y += v[ov + j] * xv;
        }
    if (S > 1u) {
        red[li] = acc;
        for (uint s = S / 2u; s > 0u; s >>= 1) {
            barrier();
            if (lane < s) red[li] += red[li + s];
        }
        barrier();
        acc = red[li - lane];  // the segment's total
    }
    if (!live) return;  // after the last barrier
    uint oy = pc.boff[0] + t * pc.R + b * pc.C, obias = pc.boff[5] + b * pc.C;
    for (uint j = lane; j < pc.C; j += S) {
        float o = QNAN;
        if (p < pc.P) {
            float xv = x[ox + j];
            o = plus ? xv - acc.x * u[ou + j] + acc.y * v[ov + j] : xv - 2.0 * acc.x * u[ou + j];
            if ((pc.flags & F_BIAS) != 0u) o += bias[obias + j];
        }
        y[oy + j] = o;
    }
}
#endif
