// variant: reduce
// variant: reduce_vec4 -DPRISM_VEC4
#version 450
// Row reductions over the last dim: row_sum, row_dot, row_norm.
//
// A workgroup of LS invocations (spec 0) holds LS/T row segments of T
// invocations each (T = spec 4, a power of two dividing LS). Short rows thus
// share a workgroup instead of leaving most invocations idle; rows of T
// elements or more get one segment each. Each invocation sums a strided
// slice of its row (consecutive invocations read consecutive floats, so the
// loads coalesce), then the segment combines the partials by a shared-memory
// tree. No subgroup ops: subgroup sizes vary 8..128 between devices and the
// baseline path must not depend on them.
//
// row_norm is computed in two passes over the row so it cannot overflow or
// underflow in fp32: pass 1 finds max|x|, pass 2 sums (x * 2^-e)^2 where 2^e
// is the power of two just above the max. Scaling by a power of two is exact,
// so this costs no accuracy; the result overflows only if the norm itself
// exceeds FLT_MAX.
//
// The reduce_vec4 variant reads vec4s (one 16-byte load instead of four
// scalar ones per invocation; several times faster on CPU devices such as
// lavapipe). The runtime picks it when cols % 4 == 0 and the rows start
// 16-byte aligned; boff[] then still counts floats (a multiple of 4).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 3) const uint MODE = 0;
layout(constant_id = 4) const uint T = 128;  // invocations per row (power of two)
const uint SUM = 0, DOT = 1, NORM = 2;

layout(std430, binding = 0) writeonly buffer Y { float y[]; };
#ifdef PRISM_VEC4
#define VT vec4
#define VSTEP 4
float hsum(vec4 v) { return (v.x + v.y) + (v.z + v.w); }
float hmax(vec4 v) { return max(max(v.x, v.y), max(v.z, v.w)); }
#else
#define VT float
#define VSTEP 1
float hsum(float v) { return v; }
float hmax(float v) { return v; }
#endif
layout(std430, binding = 1) readonly buffer A { VT a[]; };
layout(std430, binding = 2) readonly buffer B { VT b[]; };

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint rows;  // rows in this dispatch (the runtime splits over bindings)
    uint cols;
} pc;

shared float red[gl_WorkGroupSize.x];

// Tree over the segment of T invocations starting at `base`; the result ends
// in red[base]. Every invocation of the workgroup must call it (barriers).
void segment_reduce(uint li, uint lane, bool take_max) {
    for (uint s = T / 2; s > 0; s >>= 1) {
        barrier();
        if (lane < s) {
            float o = red[li + s];
            red[li] = take_max ? max(red[li], o) : red[li] + o;
        }
    }
    barrier();
}

void main() {
    uint li = gl_LocalInvocationID.x;
    uint lane = li % T, base = li - lane;
    uint row = prism_group_linear() * (gl_WorkGroupSize.x / T) + li / T;
    bool live = row < pc.rows;
    uint cols = pc.cols / VSTEP;
    uint start = row * cols;  // < one binding, so fits in uint
    uint oa = pc.boff[1] / VSTEP, ob = pc.boff[2] / VSTEP;

    float scale_in = 1.0, scale_out = 1.0;
    if (MODE == NORM) {
        VT mv = VT(0.0);
        if (live)
            for (uint j = lane; j < cols; j += T) mv = max(mv, abs(a[oa + start + j]));
        red[li] = hmax(mv);
        segment_reduce(li, lane, true);
        float m = red[base];
        barrier();  // everyone has read the max before red is reused
        // m = f * 2^e with f in [0.5, 1) for normal m. Clamped so both
        // 2^-e and 2^e stay normal floats (denormals may flush to zero).
        int e = int(bitfieldExtract(floatBitsToUint(m), 23, 8)) - 126;
        e = clamp(e, -126, 126);
        scale_in = uintBitsToFloat(uint(127 - e) << 23);
        scale_out = uintBitsToFloat(uint(127 + e) << 23);
    }

    VT acc = VT(0.0);
    if (live) {
        for (uint j = lane; j < cols; j += T) {
            VT v = a[oa + start + j];
            if (MODE == SUM) acc += v;
            else if (MODE == DOT) acc += v * b[ob + start + j];
            else { v *= scale_in; acc += v * v; }
        }
    }
    red[li] = hsum(acc);
    segment_reduce(li, lane, false);
    if (live && lane == 0) {
        float r = red[li];
        y[pc.boff[0] + row] = MODE == NORM ? sqrt(r) * scale_out : r;
    }
}
