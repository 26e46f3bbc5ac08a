#version 450
// variant: hadamard_merge -DHD_MERGE -DT=float -DVS=0
// variant: hadamard_merge_vec4 -DHD_MERGE -DT=vec4 -DVS=2
// variant: hadamard_grad_a -DHD_GRAD_A -DT=float -DVS=0
// variant: hadamard_grad_a_vec4 -DHD_GRAD_A -DT=vec4 -DVS=2
// variant: hadamard_grad_b -DHD_GRAD_B -DT=float -DVS=0
// variant: hadamard_grad_b_vec4 -DHD_GRAD_B -DT=vec4 -DVS=2
// variant: hadamard_sum -DHD_SUM -DT=float -DVS=0
//
// The HUT / HiRA family, W_eff = W0 (.) (J + s B A) with W0, W_eff [m, n],
// B [m, r], A [r, n] (row-major), and its parameter gradients
//     dA = s B^T (W0 (.) G)      dB = s (W0 (.) G) A^T
// for a weight gradient G [m, n]. M = W0 (.) G is never stored: every kernel
// forms it on the fly from the two matrices it streams.
//
// One dispatch covers `rows` rows of the matrices (runtime/ops/hadamard.c
// splits larger ones so no binding exceeds maxStorageBufferRange); indices
// below are relative to the bound ranges (boff[] counts floats; the vec4
// variants are used only when n % 4 == 0 and every bound start is 16-byte
// aligned, so boff / 4 is exact). T is float or vec4: a column group is one
// column or four adjacent columns. No float atomics: every sum has a fixed
// order, so results are bit-identical from run to run.
//
// hadamard_merge: invocation (x, y) owns CW column groups and TR consecutive
//   rows. The RB x CW block of A it needs is loaded once into registers; each
//   B row is read once (vec4 loads when r % 4 == 0) and serves all CW groups,
//   and each output is stored as soon as its row is done. For r > RB the rank
//   loop runs in blocks of RB and the TR x CW row sums stay in registers.
//   One pass over W0, one write of W_eff.
// hadamard_grad_a: invocation (x, y) owns CW column groups of one chunk of
//   `rc` rows and accumulates RB ranks of B^T M over the chunk in registers.
//   With several chunks it writes raw partials P[chunk, k, j]; hadamard_sum
//   then adds the chunks in order and applies s and beta. With one chunk
//   (`direct`) it writes dA itself.
// hadamard_grad_b: like the row reductions of reduce.comp: a segment of TR
//   invocations per RPL consecutive rows; each invocation sums a strided
//   slice of the rows for RB ranks at once (one load of an A column serves
//   all RPL rows), then one shared-memory tree over the segment combines all
//   RB * RPL values.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(constant_id = 3) const uint RB = 8;   // ranks held in registers (<= 16)
layout(constant_id = 4) const uint TR = 8;   // merge: rows per invocation; grad_b: invocations per row
layout(constant_id = 5) const uint CW = 1;   // merge, grad_a: column groups per invocation
layout(constant_id = 6) const uint BV = 0;   // merge, grad_a: B rows read as vec4
layout(constant_id = 7) const uint RPL = 1;  // grad_b: rows per segment (share each A load)

#define OFF(k) (pc.boff[k] >> VS)

#if VS == 2
float hsum(vec4 v) { return (v.x + v.y) + (v.z + v.w); }
#else
float hsum(float v) { return v; }
#endif

// Loads B[row, kb .. kb + RB) into b[] (zeros past r): vec4 loads when BV
// (r % 4 == 0 and B 16-byte aligned, so kb and every row start are
// multiples of 4), scalar loads otherwise. Loads are guarded, never
// speculated past the end of the binding.
#define LOAD_B(b, bo, kb)                                                            \
    if (BV != 0) {                                                                   \
        [[unroll]] for (uint q = 0; q < RB / 4; q++) {                               \
            vec4 v = vec4(0.0);                                                      \
            if (kb + 4 * q < pc.r) v = bm4[((bo) >> 2) + q];                         \
            b[4 * q] = v.x; b[4 * q + 1] = v.y; b[4 * q + 2] = v.z; b[4 * q + 3] = v.w; \
        }                                                                            \
    } else {                                                                         \
        [[unroll]] for (uint k = 0; k < RB; k++) {                                   \
            b[k] = 0.0;                                                              \
            if (kb + k < pc.r) b[k] = bm[(bo) + k];                                  \
        }                                                                            \
    }

// Column groups of one invocation: CW groups strided by the workgroup width,
// so neighbouring invocations touch neighbouring addresses for each of them.
// Groups past the end are clamped for loading and flagged for skipping.
#define COLUMNS(ncg)                                                                 \
    uint cgs[CW];                                                                    \
    bool cok[CW];                                                                    \
    [[unroll]] for (uint cw = 0; cw < CW; cw++) {                                    \
        uint c = c0 + cw * gl_WorkGroupSize.x;                                       \
        cok[cw] = c < (ncg);                                                         \
        cgs[cw] = min(c, (ncg) - 1);                                                 \
    }

// ------------------------------------------------------------------ merge
#ifdef HD_MERGE
layout(std430, binding = 0) writeonly buffer Wout { T w[]; };
layout(std430, binding = 1) readonly buffer W0buf { T w0[]; };
layout(std430, binding = 2) readonly buffer Bbuf { float bm[]; };
layout(std430, binding = 2) readonly buffer Bbuf4 { vec4 bm4[]; };
layout(std430, binding = 3) readonly buffer Abuf { T am[]; };

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint rows;   // rows of W0 / W_eff / B in this dispatch
    uint n;      // columns (floats)
    uint r;      // rank
    uint tiles_x;// column tiles of gl_WorkGroupSize.x * CW groups
    float s;
} pc;

void main() {
    uint ncg = pc.n >> VS;
    uint g = prism_group_linear();
    uint gx = g % pc.tiles_x, gy = g / pc.tiles_x;
    uint c0 = gx * gl_WorkGroupSize.x * CW + gl_LocalInvocationID.x;
    uint i0 = (gy * gl_WorkGroupSize.y + gl_LocalInvocationID.y) * TR;
    if (c0 >= ncg || i0 >= pc.rows) return;  // no barriers in this kernel
    COLUMNS(ncg)

    if (pc.r <= RB) {
        // One rank block (the dispatcher sets RB = r for r <= 16): each row
        // is finished and stored as soon as its B row is read.
        T a[RB * CW];
        [[unroll]] for (uint k = 0; k < RB; k++)
            [[unroll]] for (uint cw = 0; cw < CW; cw++) {
                a[k * CW + cw] = T(0.0);
                if (k < pc.r) a[k * CW + cw] = am[OFF(3) + k * ncg + cgs[cw]];
            }
        for (uint t = 0; t < TR; t++) {
            uint i = i0 + t;
            if (i >= pc.rows) break;
            float b[RB];
            LOAD_B(b, pc.boff[2] + i * pc.r, 0)
            [[unroll]] for (uint cw = 0; cw < CW; cw++) {
                T acc = T(0.0);
                [[unroll]] for (uint k = 0; k < RB; k++) acc += b[k] * a[k * CW + cw];
                uint e = i * ncg + cgs[cw];
                if (cok[cw]) w[OFF(0) + e] = w0[OFF(1) + e] * (1.0 + pc.s * acc);
            }
        }
        return;
    }

    // r > RB: rank blocks outermost, the row sums of all TR rows stay in
    // registers until the last block.
    T acc[TR * CW];
    [[unroll]] for (uint t = 0; t < TR * CW; t++) acc[t] = T(0.0);
    for (uint kb = 0; kb < pc.r; kb += RB) {
        T a[RB * CW];
        [[unroll]] for (uint k = 0; k < RB; k++)
            [[unroll]] for (uint cw = 0; cw < CW; cw++) {
                a[k * CW + cw] = T(0.0);
                if (kb + k < pc.r) a[k * CW + cw] = am[OFF(3) + (kb + k) * ncg + cgs[cw]];
            }
        [[unroll]] for (uint t = 0; t < TR; t++) {
            // rows past the end are clamped for loading and skipped below
            float b[RB];
            LOAD_B(b, pc.boff[2] + min(i0 + t, pc.rows - 1) * pc.r + kb, kb)
            [[unroll]] for (uint cw = 0; cw < CW; cw++) {
                T sum = acc[t * CW + cw];
                [[unroll]] for (uint k = 0; k < RB; k++) sum += b[k] * a[k * CW + cw];
                acc[t * CW + cw] = sum;
            }
        }
    }
    [[unroll]] for (uint t = 0; t < TR; t++) {
        uint i = i0 + t;
        if (i < pc.rows)
            [[unroll]] for (uint cw = 0; cw < CW; cw++) {
                uint e = i * ncg + cgs[cw];
                if (cok[cw]) w[OFF(0) + e] = w0[OFF(1) + e] * (1.0 + pc.s * acc[t * CW + cw]);
            }
    }
}
#endif

// ------------------------------------------------------------------ grad_a
#ifdef HD_GRAD_A
layout(std430, binding = 0) buffer Out { T outv[]; };  // dA [r, n] or P [chunks, r, n]
layout(std430, binding = 1) readonly buffer W0buf { T w0[]; };
layout(std430, binding = 2) readonly buffer Gbuf { T gm[]; };
layout(std430, binding = 3) readonly buffer Bbuf { float bm[]; };
layout(std430, binding = 3) readonly buffer Bbuf4 { vec4 bm4[]; };

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint rows;    // rows in this dispatch
    uint n;
    uint r;
    uint rc;      // rows per chunk
    uint chunks;  // chunks in this dispatch
    uint tiles_x;
    uint direct;  // 1: one chunk, write s * sum + beta * dA; 0: write raw partials
    float s;
    float beta;
} pc;

void main() {
    uint ncg = pc.n >> VS;
    uint g = prism_group_linear();
    uint gx = g % pc.tiles_x, gy = g / pc.tiles_x;
    uint c0 = gx * gl_WorkGroupSize.x * CW + gl_LocalInvocationID.x;
    uint c = gy * gl_WorkGroupSize.y + gl_LocalInvocationID.y;
    if (c0 >= ncg || c >= pc.chunks) return;  // no barriers in this kernel
    COLUMNS(ncg)
    uint i0 = c * pc.rc, i1 = min(i0 + pc.rc, pc.rows);
    uint obase = OFF(0) + (pc.direct != 0 ? 0 : c * pc.r * ncg);

    // r > RB re-reads the chunk per rank block (from cache: a chunk is a few
    // dozen rows)
    for (uint kb = 0; kb < pc.r; kb += RB) {
        T acc[RB * CW];
        [[unroll]] for (uint k = 0; k < RB * CW; k++) acc[k] = T(0.0);
        for (uint i = i0; i < i1; i++) {
            T m[CW];
            [[unroll]] for (uint cw = 0; cw < CW; cw++) {
                uint e = i * ncg + cgs[cw];
                m[cw] = w0[OFF(1) + e] * gm[OFF(2) + e];
            }
            float b[RB];
            LOAD_B(b, pc.boff[3] + i * pc.r + kb, kb)
            [[unroll]] for (uint k = 0; k < RB; k++)
                [[unroll]] for (uint cw = 0; cw < CW; cw++) acc[k * CW + cw] += b[k] * m[cw];
        }
        [[unroll]] for (uint k = 0; k < RB; k++) {
            if (kb + k >= pc.r) break;
            [[unroll]] for (uint cw = 0; cw < CW; cw++) {
                if (!cok[cw]) continue;
                uint o = obase + (kb + k) * ncg + cgs[cw];
                if (pc.direct != 0) {
                    T v = pc.s * acc[k * CW + cw];
                    if (pc.beta != 0.0) v += pc.beta * outv[o];  // beta 0 never reads (NaN-safe)
                    outv[o] = v;
                } else {
                    outv[o] = acc[k * CW + cw];
                }
            }
        }
    }
}
#endif

// ------------------------------------------------------------------ sum of partials
#ifdef HD_SUM
layout(std430, binding = 0) buffer Out { float da[]; };
layout(std430, binding = 1) readonly buffer Pbuf { float p[]; };

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint count;   // r * n
    uint chunks;
    float s;
    float beta;
} pc;

void main() {
    uint e = prism_gid();
    if (e >= pc.count) return;
    float acc = 0.0;
    for (uint c = 0; c < pc.chunks; c++) acc += p[pc.boff[1] + c * pc.count + e];
    float v = pc.s * acc;
    if (pc.beta != 0.0) v += pc.beta * da[pc.boff[0] + e];
    da[pc.boff[0] + e] = v;
}
#endif

// ------------------------------------------------------------------ grad_b
#ifdef HD_GRAD_B
layout(std430, binding = 0) buffer Out { float db[]; };  // dB [rows, r]
layout(std430, binding = 1) readonly buffer W0buf { T w0[]; };
layout(std430, binding = 2) readonly buffer Gbuf { T gm[]; };
layout(std430, binding = 3) readonly buffer Abuf { T am[]; };

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint rows;
    uint n;
    uint r;
    float s;
    float beta;
} pc;

const uint LS = gl_WorkGroupSize.x;
// [k][p][invocation]: consecutive invocations use consecutive words
shared float red[RB * RPL * LS];

void main() {
    uint li = gl_LocalInvocationID.x;
    uint lane = li % TR;
    uint row0 = (prism_group_linear() * (LS / TR) + li / TR) * RPL;
    uint ncg = pc.n >> VS;

    for (uint kb = 0; kb < pc.r; kb += RB) {
        T acc[RB * RPL];
        [[unroll]] for (uint k = 0; k < RB * RPL; k++) acc[k] = T(0.0);
        if (row0 < pc.rows) {
            uint np = min(RPL, pc.rows - row0);
            for (uint j = lane; j < ncg; j += TR) {
                // the A column is loaded once for the segment's RPL rows
                T a[RB];
                [[unroll]] for (uint k = 0; k < RB; k++) {
                    a[k] = T(0.0);
                    if (kb + k < pc.r) a[k] = am[OFF(3) + (kb + k) * ncg + j];
                }
                [[unroll]] for (uint p = 0; p < RPL; p++) {
                    if (p >= np) break;
                    uint e = (row0 + p) * ncg + j;
                    T m = w0[OFF(1) + e] * gm[OFF(2) + e];
                    [[unroll]] for (uint k = 0; k < RB; k++) acc[p * RB + k] += m * a[k];
                }
            }
        }
        [[unroll]] for (uint q = 0; q < RB * RPL; q++) red[q * LS + li] = hsum(acc[q]);
        for (uint h = TR / 2; h > 0; h >>= 1) {
            barrier();
            if (lane < h)
                [[unroll]] for (uint q = 0; q < RB * RPL; q++) red[q * LS + li] += red[q * LS + li + h];
        }
        barrier();
        if (lane == 0 && row0 < pc.rows) {
            uint np = min(RPL, pc.rows - row0);
            [[unroll]] for (uint p = 0; p < RPL; p++) {
                if (p >= np) break;
                [[unroll]] for (uint k = 0; k < RB; k++) {
                    if (kb + k >= pc.r) break;
                    uint o = pc.boff[0] + (row0 + p) * pc.r + kb + k;
                    float v = pc.s * red[(p * RB + k) * LS + li];
                    if (pc.beta != 0.0) v += pc.beta * db[o];  // beta 0 never reads (NaN-safe)
                    db[o] = v;
                }
            }
        }
        barrier();  // red is reused by the next rank block
    }
}
#endif
