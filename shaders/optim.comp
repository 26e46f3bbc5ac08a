#version 450
// variant: optim_tick -DPRISM_TICK
// variant: optim_adamw -DPRISM_ADAMW
// variant: optim_adamw_vec4 -DPRISM_ADAMW -DT=vec4 -DVSHIFT=2
// variant: optim_sgd -DPRISM_SGD
// variant: optim_sgd_vec4 -DPRISM_SGD -DT=vec4 -DVSHIFT=2
// variant: optim_sumsq -DPRISM_SUMSQ
//
// Optimizer kernels. Step-dependent scalars (lr, bias corrections, clip
// scale) are read from the state tensor (binding 0, PRISM_OPT_* layout), not
// push constants, so a recorded step replays correctly.
//   tick   one invocation: t += 1, bc = 1 - beta^t
//   adamw  one pass over p, g, m, v, PER items per invocation (28 B/param,
//          the minimum). Two variants: float, and vec4 (items are vec4s; the
//          dispatcher uses it on the 16-byte-aligned bulk and the float one
//          on the tail of up to 3 elements)
//   sgd    same shape and variants, optional momentum buffer
//   sumsq  one workgroup adds sum(g^2) of one tensor (chunk) to state[6] in
//          a fixed order; the last call writes state[NORM] and state[CLIP]
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

const uint STEP = 0, LR = 1, BC1 = 2, BC2 = 3, CLIP = 4, NORM = 5, SUMSQ = 6;

#ifndef T
#define T float
#define VSHIFT 0
#endif

layout(std430, binding = 0) buffer S { float st[]; };
layout(std430, binding = 1) buffer P { T p[]; };
layout(std430, binding = 2) readonly buffer G { T g[]; };
layout(std430, binding = 3) buffer M { T m[]; };  // adamw: m; sgd: momentum buffer
layout(std430, binding = 4) buffer V { T v[]; };

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint n;        // items: floats or vec4s (adamw/sgd), floats (sumsq)
    uint flags;    // sgd: 1 = momentum buffer; sumsq: 1 = first, 2 = last
    float a, b, c, d;  // tick: beta1 beta2; adamw: beta1 beta2 eps wd; sgd: mu wd; sumsq: max_norm
} pc;

#define ST(i) st[pc.boff[0] + (i)]
// boff[] counts floats; the vec4 variants only run when they are multiples of 4
#define OFF(k) (pc.boff[k] >> VSHIFT)

#if defined(PRISM_TICK)
// beta^t by binary powering: only correctly rounded multiplies (no pow(),
// whose precision Vulkan leaves loose), exact at t = 1, relative error
// within ~2 log2(t) ulp. t is stored as a float: exact up to 2^24 steps.
float powi(float base, uint e) {
    precise float r = 1.0, x = base;
    while (e != 0u) {
        if ((e & 1u) != 0u) r *= x;
        x *= x;
        e >>= 1;
    }
    return r;
}
void main() {
    if (gl_GlobalInvocationID.x != 0u) return;
    float t = ST(STEP) + 1.0;
    ST(STEP) = t;
    ST(BC1) = 1.0 - powi(pc.a, uint(t));
    ST(BC2) = 1.0 - powi(pc.b, uint(t));
}

#elif defined(PRISM_ADAMW)
// Each invocation updates PER items, lid + k * LS within its workgroup's
// block: coalesced on GPUs, and on lavapipe (which runs invocations as SIMD
// lanes and every buffer access as a per-lane loop) neighbouring lanes touch
// neighbouring addresses too; see docs/ARCHITECTURE.md for the measurements.
layout(constant_id = 3) const uint PER = 1;
void main() {
    float lr = ST(LR), clip = ST(CLIP), ibc1 = 1.0 / ST(BC1), ibc2 = 1.0 / ST(BC2);
    uint i0 = prism_group_linear() * gl_WorkGroupSize.x * PER + gl_LocalInvocationID.x;
    for (uint k = 0u; k < PER; k++) {
        uint i = i0 + k * gl_WorkGroupSize.x;
        if (i >= pc.n) return;
        uint pi = OFF(1) + i, mi = OFF(3) + i, vi = OFF(4) + i;
        T gi = g[OFF(2) + i] * clip, pv = p[pi];
        T mv = pc.a * m[mi] + (1.0 - pc.a) * gi;
        T vv = pc.b * v[vi] + (1.0 - pc.b) * gi * gi;
        m[mi] = mv;
        v[vi] = vv;
        p[pi] = pv - lr * (pc.d * pv + (mv * ibc1) / (sqrt(vv * ibc2) + pc.c));
    }
}

#elif defined(PRISM_SGD)
layout(constant_id = 3) const uint PER = 1;  // as adamw
void main() {
    float lr = ST(LR), clip = ST(CLIP);
    uint i0 = prism_group_linear() * gl_WorkGroupSize.x * PER + gl_LocalInvocationID.x;
    for (uint k = 0u; k < PER; k++) {
        uint i = i0 + k * gl_WorkGroupSize.x;
        if (i >= pc.n) return;
        uint pi = OFF(1) + i;
        T pv = p[pi];
        T gi = g[OFF(2) + i] * clip + pc.b * pv;
        if ((pc.flags & 1u) != 0u) {
            uint bi = OFF(3) + i;
            gi = pc.a * m[bi] + gi;
            m[bi] = gi;
        }
        p[pi] = pv - lr * gi;
    }
}

#elif defined(PRISM_SUMSQ)
// The host dispatches exactly one workgroup with a power-of-two size.
shared float sv[gl_WorkGroupSize.x];
void main() {
    uint lid = gl_LocalInvocationID.x, ls = gl_WorkGroupSize.x;
    float acc = 0.0;
    for (uint j = lid; j < pc.n; j += ls) {
        float x = g[pc.boff[2] + j];
        acc += x * x;
    }
    sv[lid] = acc;
    barrier();
    for (uint s = ls / 2u; s > 0u; s >>= 1) {
        if (lid < s) sv[lid] += sv[lid + s];
        barrier();
    }
    if (lid != 0u) return;
    float total = sv[0] + ((pc.flags & 1u) != 0u ? 0.0 : ST(SUMSQ));
    ST(SUMSQ) = total;
    if ((pc.flags & 2u) != 0u) {
        float norm = sqrt(total);
        ST(NORM) = norm;
        ST(CLIP) = min(1.0, pc.a / (norm + 1e-6));
    }
}
#endif
