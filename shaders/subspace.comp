#version 450
// variant: subspace_decode -DSS_DECODE -DVEC=0
// variant: subspace_decode_vec4 -DSS_DECODE -DVEC=1
// variant: subspace_project -DSS_PROJECT -DVEC=0
// variant: subspace_project_vec4 -DSS_PROJECT -DVEC=1
// variant: subspace_sum -DSS_SUM -DVEC=0
// variant: subspace_sum_serial -DSS_SUM -DSERIAL -DVEC=0
//
// The unified delta-tuning subspace (METHODS.md §5): a decoder D [N, r]
// (row-major) maps the shared coordinates z [r] to a method's parameters and
// its transpose maps the parameter gradient back:
//     decode    theta = theta0 + D z
//     project   dz    = beta dz + D^T dtheta
// One dispatch covers `rows` rows of D (runtime/ops/subspace.c splits larger
// decoders so no binding exceeds maxStorageBufferRange); indices are relative
// to the bound ranges (boff[] counts floats). The vec4 variants read D rows
// (and z) as vec4: only when r % 4 == 0 and D (and z) start 16-byte aligned,
// so every row start is a whole vec4. No float atomics: every sum has a
// fixed order, so results are bit-identical from run to run.
//
// subspace_decode: PER rows per invocation, spaced one workgroup apart (the
//   coalesced layout of the element-wise kernels): each row is an r-term dot
//   product with z, added to theta0 (has_t0 = 0: nothing added).
// subspace_project: two passes, no float atomics. Pass 1 (subspace_project):
//   invocation t sums rpt rows (spaced one workgroup apart) for RB ranks at
//   once in registers and writes its raw partials P[t, 0..r). No barriers:
//   on CPU devices a barrier turns the shader into coroutines and a
//   shared-memory tree cost ~6x the whole pass (lavapipe, [1105920, 4]).
//   Pass 2 (subspace_sum): one workgroup per rank j adds P[t, j] over t in a
//   fixed order (strided per invocation, then a shared-memory tree) into
//   dz[j] = beta dz[j] + sum; with few partials (subspace_sum_serial) one
//   invocation per rank adds them in order, no barrier. Either pass may be split into several
//   dispatches over bindings (later pass-2 dispatches accumulate, beta = 1).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(constant_id = 3) const uint RB = 4;   // ranks held in registers per block (<= 16)
layout(constant_id = 4) const uint PER = 4;  // decode: rows per invocation

// ------------------------------------------------------------------ decode
#ifdef SS_DECODE
layout(std430, binding = 0) buffer Theta { float th[]; };          // out (may be theta0 itself)
layout(std430, binding = 1) readonly buffer Theta0 { float t0[]; };
layout(std430, binding = 2) readonly buffer Dm { float dm[]; };
layout(std430, binding = 2) readonly buffer Dm4 { vec4 dm4[]; };
layout(std430, binding = 3) readonly buffer Zv { float zv[]; };
layout(std430, binding = 3) readonly buffer Zv4 { vec4 zv4[]; };

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint rows;   // rows of D / elements of theta in this dispatch
    uint r;
    uint has_t0; // 0: theta = D z
} pc;

void main() {
    uint lid = gl_LocalInvocationID.x, ls = gl_WorkGroupSize.x;
    uint first = prism_group_linear() * ls * PER + lid;
    if (first >= pc.rows) return;  // no barriers in this kernel
    float acc[PER];
    [[unroll]] for (uint p = 0; p < PER; p++) acc[p] = 0.0;
    // rank blocks outermost: a block of z is loaded once per invocation and
    // serves its PER rows (the dispatcher sets RB = r for r <= 16)
    for (uint kb = 0; kb < pc.r; kb += RB) {
        float zr[RB];
#if VEC == 1
        [[unroll]] for (uint q = 0; q < RB / 4; q++) {
            vec4 v = vec4(0.0);
            if (kb + 4 * q < pc.r) v = zv4[((pc.boff[3] + kb) >> 2) + q];
            zr[4 * q] = v.x; zr[4 * q + 1] = v.y; zr[4 * q + 2] = v.z; zr[4 * q + 3] = v.w;
        }
#else
        [[unroll]] for (uint k = 0; k < RB; k++) zr[k] = kb + k < pc.r ? zv[pc.boff[3] + kb + k] : 0.0;
#endif
        [[unroll]] for (uint p = 0; p < PER; p++) {
            uint i = first + p * ls;
            if (i >= pc.rows) break;
            float a = acc[p];
#if VEC == 1
            uint b4 = (pc.boff[2] + i * pc.r + kb) >> 2;
            [[unroll]] for (uint q = 0; q < RB / 4; q++)
                if (kb + 4 * q < pc.r) a += dot(dm4[b4 + q], vec4(zr[4 * q], zr[4 * q + 1], zr[4 * q + 2], zr[4 * q + 3]));
#else
            uint b = pc.boff[2] + i * pc.r + kb;
            [[unroll]] for (uint k = 0; k < RB; k++)
                if (kb + k < pc.r) a += dm[b + k] * zr[k];
#endif
            acc[p] = a;
        }
    }
    [[unroll]] for (uint p = 0; p < PER; p++) {
        uint i = first + p * ls;
        if (i >= pc.rows) break;
        float v = acc[p];
        if (pc.has_t0 != 0) v = t0[pc.boff[1] + i] + v;  // read before the write: in place is safe
        th[pc.boff[0] + i] = v;
    }
}
#endif

// ------------------------------------------------------------------ project
#ifdef SS_PROJECT
layout(std430, binding = 0) writeonly buffer Out { float outv[]; };  // P [invocations, r]
layout(std430, binding = 1) readonly buffer Dm { float dm[]; };
layout(std430, binding = 1) readonly buffer Dm4 { vec4 dm4[]; };
layout(std430, binding = 2) readonly buffer G { float gv[]; };

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint rows;    // rows in this dispatch
    uint r;
    uint rpt;     // rows per invocation
} pc;

void main() {
    uint lid = gl_LocalInvocationID.x, ls = gl_WorkGroupSize.x, grp = prism_group_linear();
    uint t = grp * ls + lid;                 // invocation within the dispatch: partial row t
    uint first = grp * ls * pc.rpt + lid;    // its rows: first + k ls, k < rpt
    for (uint kb = 0; kb < pc.r; kb += RB) {
        float acc[RB];
        [[unroll]] for (uint k = 0; k < RB; k++) acc[k] = 0.0;
        for (uint k = 0; k < pc.rpt; k++) {
            uint i = first + k * ls;
            if (i >= pc.rows) break;
            float g = gv[pc.boff[2] + i];
#if VEC == 1
            // r % 4 == 0, so RB (min(r, 16)) and kb are multiples of 4
            uint b4 = (pc.boff[1] >> 2) + ((i * pc.r + kb) >> 2);
            [[unroll]] for (uint q = 0; q < RB / 4; q++) {
                if (kb + 4 * q < pc.r) {
                    vec4 d = dm4[b4 + q];
                    acc[4 * q] += d.x * g;
                    acc[4 * q + 1] += d.y * g;
                    acc[4 * q + 2] += d.z * g;
                    acc[4 * q + 3] += d.w * g;
                }
            }
#else
            uint b = pc.boff[1] + i * pc.r + kb;
            [[unroll]] for (uint k2 = 0; k2 < RB; k2++)
                if (kb + k2 < pc.r) acc[k2] += dm[b + k2] * g;
#endif
        }
        [[unroll]] for (uint k = 0; k < RB; k++)
            if (kb + k < pc.r) outv[pc.boff[0] + t * pc.r + kb + k] = acc[k];
    }
}
#endif

// ------------------------------------------------------------------ sum of partials
#ifdef SS_SUM
layout(std430, binding = 0) buffer Out { float dz[]; };
layout(std430, binding = 1) readonly buffer Pbuf { float p[]; };

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint r;
    uint parts;   // partial rows P[t, .] in this dispatch
    float beta;
} pc;

#ifdef SERIAL
void main() {
    uint j = prism_gid();
    if (j >= pc.r) return;
    float v = 0.0;
    for (uint t = 0; t < pc.parts; t++) v += p[pc.boff[1] + t * pc.r + j];
    uint o = pc.boff[0] + j;
    if (pc.beta != 0.0) v += pc.beta * dz[o];  // beta 0 never reads (NaN-safe)
    dz[o] = v;
}
#else
shared float red[gl_WorkGroupSize.x];

void main() {
    uint lid = gl_LocalInvocationID.x, ls = gl_WorkGroupSize.x, j = prism_group_linear();
    // j < r for every workgroup (the grid has exactly r groups): uniform, no early return
    float acc = 0.0;
    for (uint t = lid; t < pc.parts; t += ls) acc += p[pc.boff[1] + t * pc.r + j];
    red[lid] = acc;
    for (uint h = ls / 2; h > 0; h >>= 1) {
        barrier();
        if (lid < h) red[lid] += red[lid + h];
    }
    if (lid == 0) {
        float v = red[0];
        uint o = pc.boff[0] + j;
        if (pc.beta != 0.0) v += pc.beta * dz[o];  // beta 0 never reads (NaN-safe)
        dz[o] = v;
    }
}
#endif
#endif
