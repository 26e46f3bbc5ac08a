#version 450
// Element-wise ops: fill, copy, add, mul, scale, axpy, relu, gelu and their
// backwards. The op is a specialization constant, so each pipeline holds one
// branch only. y[i] = f(a[i], b[i]) for i < n.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 3) const uint MODE = 0;
const uint FILL = 0, COPY = 1, ADD = 2, MUL = 3, SCALE = 4, AXPY = 5, RELU = 6, RELU_BWD = 7, GELU = 8, GELU_BWD = 9;

layout(std430, binding = 0) buffer Y { float y[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint n;
    float alpha;
} pc;

const float GELU_K = 0.7978845608028654; // sqrt(2/pi)
const float GELU_C = 0.044715;

// tanh without overflow for large |u| (GLSL tanh may return NaN there on some drivers)
float safe_tanh(float u) {
    float e = exp(-2.0 * abs(u));
    return sign(u) * (1.0 - e) / (1.0 + e);
}

void main() {
    uint i = prism_gid();
    if (i >= pc.n) return;
    uint yi = pc.boff[0] + i;
    if (MODE == FILL) { y[yi] = pc.alpha; return; }
    float x = a[pc.boff[1] + i];
    float r;
    if (MODE == COPY) r = x;
    else if (MODE == ADD) r = x + b[pc.boff[2] + i];
    else if (MODE == MUL) r = x * b[pc.boff[2] + i];
    else if (MODE == SCALE) r = pc.alpha * x;
    else if (MODE == AXPY) r = y[yi] + pc.alpha * x;
    else if (MODE == RELU) r = max(x, 0.0);
    else if (MODE == RELU_BWD) r = x > 0.0 ? b[pc.boff[2] + i] : 0.0;
    else if (MODE == GELU) r = 0.5 * x * (1.0 + safe_tanh(GELU_K * (x + GELU_C * x * x * x)));
    else {  // GELU_BWD: d/dx of the tanh approximation, times dy
        float u = GELU_K * (x + GELU_C * x * x * x);
        float t = safe_tanh(u);
        float du = GELU_K * (1.0 + 3.0 * GELU_C * x * x);
        r = b[pc.boff[2] + i] * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du);
    }
    y[yi] = r;
}
