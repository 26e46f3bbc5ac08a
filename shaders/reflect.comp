// variant: reflect
// variant: reflect_vec4 -DPRISM_VEC4
// variant: reflect_final -DPRISM_FINAL
// variant: reflect_sg -DPRISM_SG
// variant: reflect_vec4_sg -DPRISM_VEC4 -DPRISM_SG
#version 450
// Block-diagonal ETHER / ETHER+ on rows (include/prism/reflect.h).
//
// reflect / reflect_vec4: the row kernel. A workgroup of LS invocations
// holds LS/S segments of S invocations; a segment owns one (row chunk, block)
// item: rows [c*rc, (c+1)*rc) of block `blk`, processed R rows at a time.
//   scale   max|u| (and |v|) over the block -> s = 2^-e with s*max in
//           [0.5, 1): the block is normalised with s*u, so u'u never
//           overflows or underflows (exact: s is a power of two). Segments
//           of one invocation (CPU devices) skip this pass and scale only
//           when pass 1 finds u'u outside [2^-60, 2^60]: no barrier and no
//           extra read in the common case.
//   pass 1  per R rows: dots u.x_r (v.x_r), u.u (v.v) -> segment tree
//   pass 2  y_r = x_r - 2 u (u.x_r)/(u.u)       (ETHER)
//           y_r = x_r - u (u.x_r)/(u.u) + v (v.x_r)/(v.v)   (ETHER+)
// reflect_sg / reflect_vec4_sg: the same with a segment = one subgroup
// (sums by subgroupAdd, no shared memory; see SG below).
// Backward (F_BWD) reflects the rows of dy (binding 1) the same way into dx
// and also accumulates P_u = sum_t (u.x_t) dy_t + (u.dy_t) x_t (and P_v)
// over the chunk's rows, written as one partial row per chunk (binding 6,
// true units); reflect_final then adds the partials in a fixed order and
// projects through the normalisation. Deterministic: no atomics.
//
// Columns: each invocation handles E items (float or vec4) per column chunk
// of S*E items; CONTIG = each invocation a contiguous run (CPU devices),
// else interleaved (GPUs: neighbouring invocations read neighbouring
// addresses). When a block fits in one column chunk (spec flag ONE) there is
// no column loop at all, and the block's u, v, bias and the R rows stay in
// registers between the passes, so every x element is loaded once and u
// once per segment; loops over E and R are unrolled so the arrays are
// registers, not gathers (on llvmpipe every buffer load is a loop over the
// SIMD lanes, and every loop carries mask bookkeeping). Larger blocks loop
// over column chunks and re-read x in pass 2. Tuning notes: docs/ether.md.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#ifdef PRISM_SG
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "common.glsl"

const uint LS = gl_WorkGroupSize.x;

// 2^-e for m = f 2^e, f in [0.5, 1); e clamped so 2^-e stays a normal float.
float scale_of(float m) {
    int e = int(bitfieldExtract(floatBitsToUint(m), 23, 8)) - 126;
    e = clamp(e, -126, 126);
    return uintBitsToFloat(uint(127 - e) << 23);
}

#ifndef PRISM_FINAL

layout(constant_id = 3) const uint FLAGS = 0;
layout(constant_id = 4) const uint S = 1;  // invocations per segment (power of two)
layout(constant_id = 5) const uint E = 1;  // items per invocation per column chunk
layout(constant_id = 6) const uint R = 1;  // rows per pass

const uint F_BWD = 1u, F_PLUS = 2u, F_BIAS = 4u, F_OUT = 8u, F_PART = 16u, F_CONTIG = 32u, F_ONE = 64u;
const bool BWD = (FLAGS & F_BWD) != 0u;
const bool PLUS = (FLAGS & F_PLUS) != 0u;
const bool BIAS = (FLAGS & F_BIAS) != 0u;
const bool WOUT = (FLAGS & F_OUT) != 0u;
const bool PART = (FLAGS & F_PART) != 0u;
const bool CONTIG = (FLAGS & F_CONTIG) != 0u;
const bool ONE = (FLAGS & F_ONE) != 0u;  // the block fits one column chunk
const uint K = 1u + ((FLAGS >> 1) & 1u);  // vectors per block: u (, v)
const uint Q = K * (1u + (FLAGS & 1u));   // dots per row: a.u (a.v) (x.u x.v)
const uint NV = K + R * Q;                // values per segment reduction

#ifdef PRISM_VEC4
#define VT vec4
#define VS 4
float hsum(vec4 v) { return (v.x + v.y) + (v.z + v.w); }
float hmax(vec4 v) { return max(max(v.x, v.y), max(v.z, v.w)); }
#else
#define VT float
#define VS 1
float hsum(float v) { return v; }
float hmax(float v) { return v; }
#endif

layout(std430, binding = 0) writeonly buffer Out { VT o[]; };  // y / dx
layout(std430, binding = 1) readonly buffer In { VT a[]; };    // rows reflected: x / dy
layout(std430, binding = 2) readonly buffer Ub { VT ub[]; };
layout(std430, binding = 3) readonly buffer Vb { VT vb[]; };
layout(std430, binding = 4) readonly buffer Bb { VT bb[]; };   // bias (forward)
layout(std430, binding = 5) readonly buffer Xb { VT xb[]; };   // x (backward)
layout(std430, binding = 6) buffer Pb { VT pb[]; };            // partials [chunks, K, d]

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint rows;   // rows in this dispatch
    uint d;      // row length (items)
    uint bw;     // block width (items)
    uint nb;     // blocks per row
    uint rc;     // rows per chunk, a multiple of R
    uint items;  // chunks x blocks in this dispatch
    uint ncol;   // column chunks per block: ceil(bw / (S*E))
} pc;

shared float red[NV * LS];

// reflect_sg / reflect_vec4_sg (CPU devices): a segment is one subgroup,
// reduced with subgroupAdd/Max instead of the shared-memory tree: no
// barriers. Its lanes count and number themselves (any subgroup size); the
// runtime uses it only with workgroups of whole subgroups, so that a block
// sized for ONE by the smallest subgroup size fits. SS: invocations per
// segment.
#ifdef PRISM_SG
const bool SG = true;
#define SG_ADD(v) subgroupAdd(v)
#define SG_MAX(v) subgroupMax(v)
#else
const bool SG = false;
#define SG_ADD(v) (v)
#define SG_MAX(v) (v)
#endif
uint SS;

uint col_of(uint k, uint lane, uint e) {
    return CONTIG ? (k * SS + lane) * E + e : k * (SS * E) + e * SS + lane;
}

// Loads are issued unconditionally from clamped (in-range) indices and the
// value selected afterwards: no divergent branch around each load.
VT sel(bool ok, VT v) { return ok ? v : VT(0.0); }

// u'u inside this range needs no scaling (segments of one invocation try
// unscaled first): squares of the components that matter stay normal, and
// products u_j x_j overflow only for |x| > 2^98.
bool in_range(float q) { return q >= 8.673617e-19 && q <= 1.1529215e18; }  // 2^-60, 2^60

// Pass 1 of one row group: u.u (v.v) and the dots of every row with u (v),
// and in the backward also of the x rows. A macro, not a loop, so the rare
// rescaled repeat costs no loop (loops carry mask bookkeeping on llvmpipe).
#define PASS1()                                                                  \
    {                                                                            \
        [[unroll]] for (uint i = 0; i < NV; i++) acc[i] = VT(0.0);               \
        for (uint k = 0; k < ncol; k++) {                                        \
            [[unroll]] for (uint e = 0; e < E; e++) {                            \
                uint col = col_of(k, lane, e);                                   \
                bool ok = col < pc.bw;                                           \
                uint cc = min(col, pc.bw - 1u);                                  \
                VT uv = ONE ? ur[e] : sel(ok, ub[ou + cc]) * su;                 \
                VT vv = VT(0.0);                                                 \
                if (PLUS) vv = ONE ? vr[e] : sel(ok, vb[ov + cc]) * sv;          \
                acc[0] += uv * uv;                                               \
                if (PLUS) acc[K - 1u] += vv * vv;                                \
                [[unroll]] for (uint r = 0; r < R; r++) {                        \
                    bool okr = ok && tok[r];                                     \
                    VT xv = sel(okr, a[oa + ti[r] + cc]);                        \
                    xr[r * E + e] = xv;                                          \
                    acc[K + r * Q] += xv * uv;                                   \
                    if (PLUS) acc[K + r * Q + 1u] += xv * vv;                    \
                    if (BWD) {                                                   \
                        VT qv = sel(okr, xb[ox + ti[r] + cc]);                   \
                        qr[r * E + e] = qv;                                      \
                        acc[K + r * Q + K] += qv * uv;                           \
                        if (PLUS) acc[K + r * Q + K + 1u] += qv * vv;            \
                    }                                                            \
                }                                                                \
            }                                                                    \
        }                                                                        \
    }
// (acc[K - 1u] is acc[1], the v.v slot: a literal 1 trips glslang's bound
// check against the arrays' default size.)

void main() {
    uint li = gl_LocalInvocationID.x;
    uint lane = li % S, seg0 = li - lane;
    uint item = prism_group_linear() * (LS / S) + li / S;
    SS = S;
#ifdef PRISM_SG
    // lanes number themselves, so partial or non-contiguous subgroups work
    SS = subgroupAdd(1u);
    lane = subgroupExclusiveAdd(1u);
    item = prism_group_linear() * gl_NumSubgroups + gl_SubgroupID;
#endif
    bool live = item < pc.items;  // dead segments still take part in barriers
    uint it = min(item, pc.items - 1u);
    uint chunk = it / pc.nb, blk = it - chunk * pc.nb;
    uint cb = blk * pc.bw;
    uint oo = pc.boff[0] / VS + cb, oa = pc.boff[1] / VS + cb, ou = pc.boff[2] / VS + cb;
    uint ov = pc.boff[3] / VS + cb, obi = pc.boff[4] / VS + cb, ox = pc.boff[5] / VS + cb;
    uint op = pc.boff[6] / VS + chunk * K * pc.d + cb;
    uint ncol = ONE ? 1u : SG ? (pc.bw + SS * E - 1u) / (SS * E) : pc.ncol;  // ONE: no column loop at all

    // ---- block scale (segments of S > 1: a max tree now, so every lane
    // agrees; S == 1: unscaled unless pass 1 finds u'u out of range).
    // ur/vr/br keep the block in registers when it fits one chunk.
    VT ur[E], vr[E], br[E];
    float mu = 0.0, mv = 0.0;
    if (ONE || S > 1u || SG) {
        for (uint k = 0; k < ncol; k++) {
            [[unroll]] for (uint e = 0; e < E; e++) {
                uint col = col_of(k, lane, e);
                bool ok = col < pc.bw;
                uint cc = min(col, pc.bw - 1u);
                VT uv = sel(ok, ub[ou + cc]);
                mu = max(mu, hmax(abs(uv)));
                ur[e] = uv;
                if (PLUS) {
                    VT vv = sel(ok, vb[ov + cc]);
                    mv = max(mv, hmax(abs(vv)));
                    vr[e] = vv;
                }
                if (BIAS) br[e] = sel(ok, bb[obi + cc]);
            }
        }
    }
    if (SG) {
        mu = SG_MAX(mu);
        if (PLUS) mv = SG_MAX(mv);
    } else if (S > 1u) {
        red[li] = mu;
        if (PLUS) red[LS + li] = mv;
        for (uint s = S / 2u; s > 0u; s >>= 1) {
            barrier();
            if (lane < s) {
                red[li] = max(red[li], red[li + s]);
                if (PLUS) red[LS + li] = max(red[LS + li], red[LS + li + s]);
            }
        }
        barrier();
        mu = red[seg0];
        if (PLUS) mv = red[LS + seg0];
        barrier();
    }
    bool scaled = S > 1u || SG;
    float su = scaled ? scale_of(mu) : 1.0, sv = scaled ? scale_of(mv) : 1.0;
    if (scaled) {
        [[unroll]] for (uint e = 0; e < E; e++) {
            ur[e] *= su;
            if (PLUS) vr[e] *= sv;
        }
    }

    VT pu[E], pv[E];  // P partials of this invocation's columns (one chunk)
    [[unroll]] for (uint e = 0; e < E; e++) {
        pu[e] = VT(0.0);
        pv[e] = VT(0.0);
    }

    uint groups = pc.rc / R;
    for (uint g = 0; g < groups; g++) {
        uint t0 = chunk * pc.rc + g * R;
        uint ti[R];
        bool tok[R];
        [[unroll]] for (uint r = 0; r < R; r++) {
            tok[r] = live && t0 + r < pc.rows;
            ti[r] = min(t0 + r, pc.rows - 1u) * pc.d;
        }

        // ---- pass 1: dots (repeated once, scaled, if u'u is out of range)
        VT acc[NV];
        VT xr[R * E], qr[R * E];  // qr: x rows (backward only; dead code otherwise)
        PASS1();
        if (!scaled && !(in_range(hsum(acc[0])) && (!PLUS || in_range(hsum(acc[K - 1u]))))) {
            // rare (S == 1 only, no barriers here): scale by max|u|, max|v| and redo
            for (uint k = 0; k < ncol; k++) {
                [[unroll]] for (uint e = 0; e < E; e++) {
                    uint cc = min(col_of(k, lane, e), pc.bw - 1u);
                    mu = max(mu, hmax(abs(ub[ou + cc])));
                    if (PLUS) mv = max(mv, hmax(abs(vb[ov + cc])));
                }
            }
            su = scale_of(mu);
            sv = scale_of(mv);
            if (ONE) {
                [[unroll]] for (uint e = 0; e < E; e++) {
                    ur[e] *= su;
                    if (PLUS) vr[e] *= sv;
                }
            }
            scaled = true;
            PASS1();
        }
        float val[NV];
        [[unroll]] for (uint i = 0; i < NV; i++) val[i] = hsum(acc[i]);
        if (SG) {
            [[unroll]] for (uint i = 0; i < NV; i++) val[i] = SG_ADD(val[i]);
        } else if (S > 1u) {
            [[unroll]] for (uint i = 0; i < NV; i++) red[i * LS + li] = val[i];
            for (uint s = S / 2u; s > 0u; s >>= 1) {
                barrier();
                if (lane < s)
                    [[unroll]] for (uint i = 0; i < NV; i++) red[i * LS + li] += red[i * LS + li + s];
            }
            barrier();
            [[unroll]] for (uint i = 0; i < NV; i++) val[i] = red[i * LS + seg0];
            barrier();  // every lane has read the totals before the next rows overwrite them
        }
        // coefficients of u (and v) per row: y = x - cu u + cv v
        float cu[R], cv[R];
        float iu = 1.0 / val[0], iv = PLUS ? 1.0 / val[K - 1u] : 0.0;
        [[unroll]] for (uint r = 0; r < R; r++) {
            cu[r] = (PLUS ? 1.0 : 2.0) * val[K + r * Q] * iu;
            cv[r] = PLUS ? val[K + r * Q + 1u] * iv : 0.0;
        }
        // P in true units: the dots above are in units of su u (sv v)
        float isu = 1.0 / su, isv = 1.0 / sv;

        // ---- pass 2: outputs (and P contributions)
        for (uint k = 0; k < ncol; k++) {
            [[unroll]] for (uint e = 0; e < E; e++) {
                uint col = col_of(k, lane, e);
                bool ok = col < pc.bw;
                uint cc = min(col, pc.bw - 1u);
                VT uv = ONE ? ur[e] : sel(ok, ub[ou + cc]) * su;
                VT vv = VT(0.0);
                if (PLUS) vv = ONE ? vr[e] : sel(ok, vb[ov + cc]) * sv;
                VT bias = VT(0.0);
                if (BIAS) bias = ONE ? br[e] : sel(ok, bb[obi + cc]);
                VT qu = VT(0.0), qv = VT(0.0);
                [[unroll]] for (uint r = 0; r < R; r++) {
                    bool okr = ok && tok[r];
                    VT xv = ONE ? xr[r * E + e] : sel(okr, a[oa + ti[r] + cc]);
                    if (WOUT) {
                        VT yv = xv - cu[r] * uv;
                        if (PLUS) yv += cv[r] * vv;
                        if (BIAS) yv += bias;
                        if (okr) o[oo + ti[r] + cc] = yv;
                    }
                    if (PART) {
                        // here xv is dy_t and pxv is x_t: (u.x) dy + (u.dy) x
                        VT pxv = ONE ? qr[r * E + e] : sel(okr, xb[ox + ti[r] + cc]);
                        qu += val[K + r * Q + K] * xv + val[K + r * Q] * pxv;
                        if (PLUS) qv += val[K + r * Q + K + 1u] * xv + val[K + r * Q + 1u] * pxv;
                    }
                }
                if (PART) {
                    qu *= isu;
                    qv *= isv;
                    if (ONE) {
                        pu[e] += qu;
                        pv[e] += qv;
                    } else if (live && ok) {
                        // the element belongs to this invocation alone: read-modify-write
                        pb[op + cc] = g == 0u ? qu : pb[op + cc] + qu;
                        if (PLUS) pb[op + pc.d + cc] = g == 0u ? qv : pb[op + pc.d + cc] + qv;
                    }
                }
            }
        }
    }
    if (PART && ONE && live) {
        [[unroll]] for (uint e = 0; e < E; e++) {
            uint col = col_of(0u, lane, e);
            if (col < pc.bw) {
                pb[op + col] = pu[e];
                if (PLUS) pb[op + pc.d + col] = pv[e];
            }
        }
    }
}

#else  // PRISM_FINAL

// Per block, with P = the sum of the chunk partials (true units) and
// u_s = s u, s = 2^-e from max|u| (so u_s.u_s never under/overflows):
//   du += k (P - û(û.P)) / |u|^2 = k s^2 (P - u_s (u_s.P)/(u_s.u_s)) / (u_s.u_s)
// evaluated as ((P - u_s proj) s) (k s) / (u_s.u_s) so no intermediate leaves
// the range of the result. One segment of S invocations per block, columns
// strided by S.
layout(constant_id = 4) const uint S = 1;

layout(std430, binding = 0) buffer Gb { float gd[]; };          // du (accumulated)
layout(std430, binding = 1) readonly buffer Ub { float uf[]; };
layout(std430, binding = 2) buffer Pb { float pf[]; };          // partials, chunk stride pc.stride

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint bw;      // block width
    uint nb;      // blocks
    uint chunks;  // partial rows to add
    uint stride;  // floats between partial rows
    float kappa;  // -2 ETHER, -1 ETHER+ u, +1 ETHER+ v
} pc;

shared float red[2 * LS];

void main() {
    uint li = gl_LocalInvocationID.x;
    uint lane = li % S, seg0 = li - lane;
    uint item = prism_group_linear() * (LS / S) + li / S;
    bool live = item < pc.nb;
    uint cb = min(item, pc.nb - 1u) * pc.bw;
    uint og = pc.boff[0] + cb, ou = pc.boff[1] + cb, op = pc.boff[2] + cb;

    float m = 0.0;
    for (uint j = lane; j < pc.bw; j += S) m = max(m, abs(uf[ou + j]));
    if (S > 1u) {
        red[li] = m;
        for (uint s = S / 2u; s > 0u; s >>= 1) {
            barrier();
            if (lane < s) red[li] = max(red[li], red[li + s]);
        }
        barrier();
        m = red[seg0];
        barrier();
    }
    float sc = scale_of(m);

    // P (summed in chunk order) replaces partial row 0: the same invocation
    // reads it back below, so no barrier is needed for it.
    float uu = 0.0, up = 0.0;
    for (uint j = lane; j < pc.bw; j += S) {
        float p = 0.0;
        for (uint c = 0; c < pc.chunks; c++) p += pf[op + c * pc.stride + j];
        if (live) pf[op + j] = p;
        float us = uf[ou + j] * sc;
        uu += us * us;
        up += us * p;
    }
    if (S > 1u) {
        red[li] = uu;
        red[LS + li] = up;
        for (uint s = S / 2u; s > 0u; s >>= 1) {
            barrier();
            if (lane < s) {
                red[li] += red[li + s];
                red[LS + li] += red[LS + li + s];
            }
        }
        barrier();
        uu = red[seg0];
        up = red[LS + seg0];
    }
    if (!live) return;
    float proj = up / uu, f = pc.kappa * sc;
    for (uint j = lane; j < pc.bw; j += S) {
        float us = uf[ou + j] * sc;
        gd[og + j] += (pf[op + j] - us * proj) * sc * f / uu;
    }
}

#endif
