#version 450
// variant: gemm_reg -DPRISM_GEMM_REG
// variant: gemm_smem -DPRISM_GEMM_SMEM
//
// C = alpha op(A) op(B) + beta C for a chunk of `nb` batches (runtime/ops/gemm.c
// splits larger problems so every binding fits maxStorageBufferRange).
// Stored layouts, row-major, per batch (batch strides sa/sb/sc, 0 = broadcast):
//   A: TA ? [K, M] : [M, K]  element (m, k) at TA ? k*lda + m : m*lda + k
//   B: TB ? [N, K] : [K, N]  element (k, n) at TB ? n*ldb + k : k*ldb + n
//   C: [M, N]                element (m, n) at m*ldc + n
// The grid is 1-D over (batch, row tile, column tile), column tile fastest,
// and may be folded into y/z by the runtime (prism_group_linear).
//
// gemm_reg (CPU devices): no shared memory. A workgroup owns LY*TM rows and
// LX*TN columns; every invocation keeps a TM x TN block of C in registers
// (lane (x, y) owns TN adjacent columns of TM adjacent rows; LY = 1 except
// for outputs of at most 8 columns, which stack the lanes along M). On llvmpipe every buffer or shared load
// inside a loop becomes a per-lane scalar loop, so the cost is the number of
// load *instructions* per multiply-add: big tiles (16 x 16) and vec4 loads
// (VEC = 1, chosen by the dispatcher when M, N, K and every binding start are
// multiples of 4) cut it most; shared memory would add loads, not remove them.
//
// gemm_smem (GPUs): a WX x WY workgroup stages BK-deep slices of a
// (WY*TM) x (WX*TN) tile of A and B in shared memory; each invocation
// accumulates TM x TN outputs strided by WY / WX (conflict-free reads).
//
// beta == 0 never reads C, so NaN garbage in C does not propagate.
//
// Low-rank epilogue (prism_gemm_lowrank, one batch only): when pc.r2 > 0 the
// stored value is alpha acc + gamma E op(F) + beta C, with E [M, r2]
// (binding 3) and op(F) [r2, N] read from binding 4 at n*fsn + k*fsk. It
// folds the K = r2 update of a low-rank adapter (LoRA's Y += s H B^T,
// dX += s P A) into the frozen layer's GEMM, instead of a second pass that
// reads and writes all of C again. Unused bindings 3/4 are the runtime's dummy.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(constant_id = 3) const uint TA = 0;  // A stored transposed
layout(constant_id = 4) const uint TB = 0;  // B stored transposed
layout(constant_id = 5) const uint TM = 4;  // rows per invocation
layout(constant_id = 6) const uint TN = 4;  // columns per invocation
#ifdef PRISM_GEMM_REG
layout(constant_id = 7) const uint VEC = 0; // vec4 loads (alignment checked by the dispatcher)
#else
layout(constant_id = 7) const uint BK = 16; // k depth of a staged slice
#endif

layout(std430, binding = 0) buffer Cbuf { float c[]; };
layout(std430, binding = 1) readonly buffer Abuf { float a[]; };
layout(std430, binding = 2) readonly buffer Bbuf { float b[]; };
#ifdef PRISM_GEMM_REG
layout(std430, binding = 1) readonly buffer Abuf4 { vec4 a4[]; };
layout(std430, binding = 2) readonly buffer Bbuf4 { vec4 b4[]; };
#endif

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint M, N, K, nb;
    uint lda, ldb, ldc;
    uint sa, sb, sc;
    uint tiles_m, tiles_n;
    float alpha, beta;
    uint r2, fsn, fsk;  // low-rank epilogue: rank (0 = none), F strides
    float gamma;
} pc;

layout(std430, binding = 3) readonly buffer Ebuf { float e[]; };
layout(std430, binding = 4) readonly buffer Fbuf { float f[]; };

const uint LX = gl_WorkGroupSize.x;
const uint LY = gl_WorkGroupSize.y;

// Writes one finished output (bounds already checked); acc already holds
// alpha op(A) op(B) (+ the epilogue).
void store_c(uint ci, float acc) {
    float v = acc;
    if (pc.beta != 0.0) v += pc.beta * c[ci];
    c[ci] = v;
}

// gamma sum_k E[m, k] op(F)[k, n] for one output (the shared-memory
// variant; GPUs hide these few loads).
float lowrank_one(uint eb, uint fb, uint m, uint n) {
    float s = 0.0;
    for (uint k = 0; k < pc.r2; k++) s = fma(e[eb + m * pc.r2 + k], f[fb + n * pc.fsn + k * pc.fsk], s);
    return pc.gamma * s;
}

#ifdef PRISM_GEMM_REG

void main() {
    uint g = prism_group_linear();
    uint tiles = pc.tiles_m * pc.tiles_n;
    if (g >= tiles * pc.nb) return;  // fold padding: whole workgroup leaves
    uint bt = g / tiles;
    uint r = g - bt * tiles;
    uint tr = r / pc.tiles_n;
    uint m0 = tr * (LY * TM) + gl_LocalInvocationID.y * TM;
    uint n0 = (r - tr * pc.tiles_n) * (LX * TN) + gl_LocalInvocationID.x * TN;
    uint ab = pc.boff[1] + bt * pc.sa, bb = pc.boff[2] + bt * pc.sb;

    // Edge rows/columns are clamped for loading (stays in range, values
    // unused) and skipped when storing. The loops over the tile are unrolled
    // so the arrays stay in registers (indexing them dynamically would turn
    // every access into a gather/scatter on llvmpipe).
    float acc[TM * TN];
    [[unroll]] for (uint i = 0; i < TM * TN; i++) acc[i] = 0.0;

    if (VEC != 0) {
        // M, N, K, lda, ldb and the bases are multiples of 4: vec4 loads,
        // four k steps per iteration. Vectors along m / n are clamped as a
        // whole (M - 4, N - 4) so none straddles the end of the binding.
        uint ao[TA != 0 ? 1 : TM], bo[TB != 0 ? TN : 1];
        if (TA != 0) ao[0] = ab / 4;
        else [[unroll]] for (uint i = 0; i < TM; i++) ao[i] = (ab + min(m0 + i, pc.M - 1) * pc.lda) / 4;
        if (TB != 0) [[unroll]] for (uint j = 0; j < TN; j++) bo[j] = (bb + min(n0 + j, pc.N - 1) * pc.ldb) / 4;
        else bo[0] = bb / 4;
        uint lda4 = pc.lda / 4, ldb4 = pc.ldb / 4;
        for (uint k = 0; k < pc.K; k += 4) {
            float av[4 * TM], bv[4 * TN];  // [kk * T + i]
            if (TA != 0) {
                [[unroll]] for (uint kk = 0; kk < 4; kk++)
                    [[unroll]] for (uint i = 0; i < TM; i += 4) {
                        vec4 v = a4[ao[0] + (k + kk) * lda4 + min(m0 + i, pc.M - 4) / 4];
                        av[kk * TM + i] = v.x; av[kk * TM + i + 1] = v.y;
                        av[kk * TM + i + 2] = v.z; av[kk * TM + i + 3] = v.w;
                    }
            } else {
                [[unroll]] for (uint i = 0; i < TM; i++) {
                    vec4 v = a4[ao[i] + k / 4];
                    av[i] = v.x; av[TM + i] = v.y; av[2 * TM + i] = v.z; av[3 * TM + i] = v.w;
                }
            }
            if (TB != 0) {
                [[unroll]] for (uint j = 0; j < TN; j++) {
                    vec4 v = b4[bo[j] + k / 4];
                    bv[j] = v.x; bv[TN + j] = v.y; bv[2 * TN + j] = v.z; bv[3 * TN + j] = v.w;
                }
            } else {
                [[unroll]] for (uint kk = 0; kk < 4; kk++)
                    [[unroll]] for (uint j = 0; j < TN; j += 4) {
                        vec4 v = b4[bo[0] + (k + kk) * ldb4 + min(n0 + j, pc.N - 4) / 4];
                        bv[kk * TN + j] = v.x; bv[kk * TN + j + 1] = v.y;
                        bv[kk * TN + j + 2] = v.z; bv[kk * TN + j + 3] = v.w;
                    }
            }
            [[unroll]] for (uint kk = 0; kk < 4; kk++)
                [[unroll]] for (uint i = 0; i < TM; i++)
                    [[unroll]] for (uint j = 0; j < TN; j++)
                        acc[i * TN + j] = fma(av[kk * TM + i], bv[kk * TN + j], acc[i * TN + j]);
        }
    } else {
        uint astep = TA != 0 ? pc.lda : 1, bstep = TB != 0 ? 1 : pc.ldb;
        uint ao[TM], bo[TN];
        [[unroll]] for (uint i = 0; i < TM; i++) {
            uint m = min(m0 + i, pc.M - 1);
            ao[i] = ab + (TA != 0 ? m : m * pc.lda);
        }
        [[unroll]] for (uint j = 0; j < TN; j++) {
            uint n = min(n0 + j, pc.N - 1);
            bo[j] = bb + (TB != 0 ? n * pc.ldb : n);
        }
        for (uint k = 0; k < pc.K; k++) {
            float av[TM], bv[TN];
            [[unroll]] for (uint i = 0; i < TM; i++) av[i] = a[ao[i] + k * astep];
            [[unroll]] for (uint j = 0; j < TN; j++) bv[j] = b[bo[j] + k * bstep];
            [[unroll]] for (uint i = 0; i < TM; i++)
                [[unroll]] for (uint j = 0; j < TN; j++) acc[i * TN + j] = fma(av[i], bv[j], acc[i * TN + j]);
        }
    }

    [[unroll]] for (uint i = 0; i < TM * TN; i++) acc[i] *= pc.alpha;
    if (pc.r2 != 0u) {
        // the tile's rows of E and columns of op(F), one k at a time, clamped
        // like the main loop's loads (edge values unused)
        uint eb = pc.boff[3], fb = pc.boff[4];
        for (uint k = 0; k < pc.r2; k++) {
            float ev[TM], fv[TN];
            [[unroll]] for (uint i = 0; i < TM; i++) ev[i] = pc.gamma * e[eb + min(m0 + i, pc.M - 1) * pc.r2 + k];
            [[unroll]] for (uint j = 0; j < TN; j++) fv[j] = f[fb + min(n0 + j, pc.N - 1) * pc.fsn + k * pc.fsk];
            [[unroll]] for (uint i = 0; i < TM; i++)
                [[unroll]] for (uint j = 0; j < TN; j++) acc[i * TN + j] = fma(ev[i], fv[j], acc[i * TN + j]);
        }
    }
    uint cb = pc.boff[0] + bt * pc.sc;
    [[unroll]] for (uint i = 0; i < TM; i++) {
        uint m = m0 + i;
        [[unroll]] for (uint j = 0; j < TN; j++) {
            uint n = n0 + j;
            if (m < pc.M && n < pc.N) store_c(cb + m * pc.ldc + n, acc[i * TN + j]);
        }
    }
}

#else // PRISM_GEMM_SMEM

const uint BM = LY * TM;
const uint BN = LX * TN;
shared float As[BK * BM];  // [k][m]
shared float Bs[BK * BN];  // [k][n]

void main() {
    uint g = prism_group_linear();
    uint tiles = pc.tiles_m * pc.tiles_n;
    if (g >= tiles * pc.nb) return;  // uniform per workgroup: no barrier is skipped by half
    uint bt = g / tiles;
    uint r = g - bt * tiles;
    uint tr = r / pc.tiles_n;
    uint m0 = tr * BM, n0 = (r - tr * pc.tiles_n) * BN;
    uint lx = gl_LocalInvocationID.x, ly = gl_LocalInvocationID.y;
    uint tid = ly * LX + lx, nthreads = LX * LY;
    uint ab = pc.boff[1] + bt * pc.sa, bb = pc.boff[2] + bt * pc.sb;

    float acc[TM * TN];
    [[unroll]] for (uint i = 0; i < TM * TN; i++) acc[i] = 0.0;

    for (uint k0 = 0; k0 < pc.K; k0 += BK) {
        // Consecutive invocations read consecutive addresses of the stored
        // layout (coalesced); out-of-range elements are staged as zeros.
        for (uint e = tid; e < BK * BM; e += nthreads) {
            uint kk = TA != 0 ? e / BM : e % BK;
            uint mm = TA != 0 ? e % BM : e / BK;
            uint m = m0 + mm, k = k0 + kk;
            float v = 0.0;
            if (m < pc.M && k < pc.K) v = a[ab + (TA != 0 ? k * pc.lda + m : m * pc.lda + k)];
            As[kk * BM + mm] = v;
        }
        for (uint e = tid; e < BK * BN; e += nthreads) {
            uint kk = TB != 0 ? e % BK : e / BN;
            uint nn = TB != 0 ? e / BK : e % BN;
            uint n = n0 + nn, k = k0 + kk;
            float v = 0.0;
            if (n < pc.N && k < pc.K) v = b[bb + (TB != 0 ? n * pc.ldb + k : k * pc.ldb + n)];
            Bs[kk * BN + nn] = v;
        }
        barrier();
        for (uint kk = 0; kk < BK; kk++) {
            float bv[TN];
            [[unroll]] for (uint j = 0; j < TN; j++) bv[j] = Bs[kk * BN + lx + j * LX];
            [[unroll]] for (uint i = 0; i < TM; i++) {
                float av = As[kk * BM + ly + i * LY];
                [[unroll]] for (uint j = 0; j < TN; j++) acc[i * TN + j] = fma(av, bv[j], acc[i * TN + j]);
            }
        }
        barrier();
    }

    uint cb = pc.boff[0] + bt * pc.sc;
    [[unroll]] for (uint i = 0; i < TM; i++) {
        uint m = m0 + ly + i * LY;
        if (m >= pc.M) break;
        [[unroll]] for (uint j = 0; j < TN; j++) {
            uint n = n0 + lx + j * LX;
            if (n >= pc.N) continue;
            float v = pc.alpha * acc[i * TN + j];
            if (pc.r2 != 0u) v += lowrank_one(pc.boff[3], pc.boff[4], m, n);
            store_c(cb + m * pc.ldc + n, v);
        }
    }
}

#endif
