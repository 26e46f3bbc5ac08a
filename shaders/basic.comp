#version 450
// Element-wise ops: fill, copy, add, mul, scale, axpy, relu, gelu and their
// backwards. The op is a specialization constant, so each pipeline holds one
// branch only. y[i] = f(a[i], b[i]) for i < n.
//
// Two variants: `basic` works on floats (any offset), `basic_vec4` on vec4
// (bindings 16-byte aligned, n counts vec4s). Each invocation handles PER
// items spaced one workgroup apart (item = base + lid + k * LS), so
// neighbouring invocations touch neighbouring addresses: coalesced on GPUs,
// and on lavapipe, which runs 8 invocations as SIMD lanes and every buffer
// access as a loop over those lanes, each access of the 8 lanes covers one
// contiguous 128-byte span. A contiguous run per invocation (the layout this
// file used for CPU devices before) measured 1.6-2x slower on lavapipe at
// every local size tried; so did local sizes below 256 over large tensors
// and fully unrolled loops (docs/ARCHITECTURE.md, "Element-wise kernels").
// Dispatches smaller than one 256-wide workgroup get a smaller one.
// variant: basic -DT=float -DGT=gt_scalar -DVSHIFT=0
// variant: basic_vec4 -DT=vec4 -DGT=greaterThan -DVSHIFT=2
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 3) const uint MODE = 0;
layout(constant_id = 4) const uint PER = 1;
const uint FILL = 0, COPY = 1, ADD = 2, MUL = 3, SCALE = 4, AXPY = 5, RELU = 6, RELU_BWD = 7, GELU = 8, GELU_BWD = 9;

layout(std430, binding = 0) buffer Y { T y[]; };
layout(std430, binding = 1) readonly buffer A { T a[]; };
layout(std430, binding = 2) readonly buffer B { T b[]; };

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint n;      // items (floats or vec4s)
    float alpha;
} pc;

const float GELU_K = 0.7978845608028654; // sqrt(2/pi)
const float GELU_C = 0.044715;

// tanh without overflow for large |u| (GLSL tanh may return NaN there on some drivers)
T safe_tanh(T u) {
    T e = exp(-2.0 * abs(u));
    return sign(u) * (1.0 - e) / (1.0 + e);
}

bool gt_scalar(float x, float y) { return x > y; }

// boff[] counts floats; the vec4 variant is only used when they are multiples of 4
#define OFF(k) (pc.boff[k] >> VSHIFT)

T op(T x, uint i, uint yi) {
    if (MODE == COPY) return x;
    if (MODE == ADD) return x + b[OFF(2) + i];
    if (MODE == MUL) return x * b[OFF(2) + i];
    if (MODE == SCALE) return pc.alpha * x;
    if (MODE == AXPY) return y[yi] + pc.alpha * x;
    if (MODE == RELU) return max(x, T(0.0));
    if (MODE == RELU_BWD) return mix(T(0.0), b[OFF(2) + i], GT(x, T(0.0)));
    if (MODE == GELU) return 0.5 * x * (1.0 + safe_tanh(GELU_K * (x + GELU_C * x * x * x)));
    // GELU_BWD: d/dx of the tanh approximation, times dy
    T t = safe_tanh(GELU_K * (x + GELU_C * x * x * x));
    T du = GELU_K * (1.0 + 3.0 * GELU_C * x * x);
    return b[OFF(2) + i] * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du);
}

void main() {
    uint first = prism_group_linear() * gl_WorkGroupSize.x * PER + gl_LocalInvocationID.x;
    for (uint k = 0; k < PER; k++) {
        uint i = first + k * gl_WorkGroupSize.x;
        if (i >= pc.n) return;
        uint yi = OFF(0) + i;
        y[yi] = MODE == FILL ? T(pc.alpha) : op(a[OFF(1) + i], i, yi);
    }
}
