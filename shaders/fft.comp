// variant: fft_smem -DFFT_SMEM
// variant: fft_smem2 -DFFT_SMEM -DPINGPONG
// variant: fft_big -DFFT_SMEM -DPINGPONG -DFFT_BIG
// variant: fft_pass -DFFT_PASS
// variant: fft_post -DFFT_POST
#version 450
// FFT-path kernels of the dct and fft ops (runtime/ops/fft.c).
//
// fft_smem: a whole transform in one dispatch. A workgroup owns G slots (one
//   sequence, one complex FFT of length L each; L and G are spec constants;
//   the shader calls L "N"), loads them into shared memory through the mode's
//   pre-stage, runs mixed-radix Stockham passes there (the pass list is spec
//   constant PASSES), and writes the outputs through the post-stage. Used
//   when G*L complex values fit maxComputeSharedMemorySize. Each pass reads
//   its values into registers, barrier, writes them to their new places,
//   barrier: one shared array suffices. The host keeps (butterflies per
//   invocation) * radix <= HOLD. The GPU variant.
// fft_smem2: the same with two shared buffers: a pass reads one and writes
//   the other, nothing is held across a barrier and no private array is used
//   (CPU devices keep private arrays in memory, see docs). The variant for
//   CPU devices when 2*G*L complex values fit.
// fft_pass: one Stockham pass in global memory (scratch ping-pong); the first
//   pass reads the user's input through the pre-stage. For lengths whose
//   slots do not fit shared memory.
// fft_post: the post-stage of the global path (reads the last scratch).
//
// Radices 2, 3, 4, 5, 7, 8 use in-register butterflies; any other radix (a
// prime up to 64) uses an output-driven pass: every output sums its r inputs
// with roots from the table, O(r) per element.
//
// Item mapping: with COLS = 1 the sequences are columns of a row-major
// tensor, so consecutive invocations take consecutive sequences (coalesced
// loads); otherwise consecutive elements of one sequence.
#extension GL_GOOGLE_include_directive : require
#define FFT_STAGES
#include "fft_common.glsl"

layout(constant_id = 4) const uint N = 1;     // FFT length L
layout(constant_id = 5) const uint G = 1;     // fft_smem: slots per workgroup; fft_pass: Ns
// FLAGS bit 0: sequences are columns; bit 1: half mode (a real sequence of
// 2L samples); fft_big: bit 2: the last pass has code 10.
layout(constant_id = 6) const uint FLAGS = 0;
// fft_smem: the passes, 3 bits each, first pass lowest: 1..6 = radix 2, 3,
// 4, 5, 7, 8; 7 = a generic prime (its value from the push block); 0 = end.
// fft_big: 4 bits each (8 passes at most), and also 8, 9 = radix 16, 32,
// 10 = radix 16 fused with the post-stage.
// fft_pass: the pass's radix. Constant radices and Ns let the compiler
// unroll every pass and turn each index division into a multiply (CPU
// devices have no vector integer divide), and drop the code of absent radices.
layout(constant_id = 7) const uint PASSES = 0;
const uint COLS = FLAGS & 1u;
const bool HALF = (FLAGS & 2u) != 0u;
const uint LS = gl_WorkGroupSize.x;
// sequence length and outputs per sequence, as constants
const uint NLEN = REAL ? (HALF ? 2u * N : N) : N;
// post-stage items per sequence: DCT-II in half mode writes X_k and X_{N-k}
// from one item, so it has N/2 + 1 of them
const uint NOUT = MODE == M_RFFT ? NLEN / 2u + 1u : (MODE == M_DCT2 ? (HALF ? NLEN / 2u + 1u : NLEN) : NLEN);

uint radix_of(uint p) {
    uint w = p < 4u ? pc.rad0 : (p < 8u ? pc.rad1 : pc.rad2);
    return (w >> (8u * (p & 3u))) & 255u;
}
#ifdef FFT_BIG
uint code_radix(uint c) {
    return c == 1u ? 2u : c == 2u ? 3u : c == 3u ? 4u : c == 4u ? 5u : c == 5u ? 7u : c == 8u || c == 10u ? 16u : c == 9u ? 32u : 8u;
}
#else
uint code_radix(uint c) { return c == 1u ? 2u : c == 2u ? 3u : c == 3u ? 4u : c == 4u ? 5u : c == 5u ? 7u : 8u; }
#endif

// Twiddles of one butterfly: input q is multiplied by w^q, w = W_L^(k L/(ns R)),
// powers by repeated products (one table read per butterfly; the error
// grows by about one ulp per product, <= 7 of them).
void twiddle(inout vec2 v[8], uint r, uint k, uint tws) {
    vec2 w1 = root(k * tws), w = w1;
    for (uint q = 1u; q < 8u; q++) {
        if (q >= r) break;
        v[q] = cmul(v[q], w);
        w = cmul(w, w1);
    }
}

// Butterflies in scalar registers v0..v7 (no arrays); TW multiplies input q
// by w^q (w1 = the butterfly's base twiddle).
#define TW(q) v##q = cmul(v##q, w); w = cmul(w, w1);

#ifdef FFT_SMEM
const uint SH = N * G;
const uint HOLD = 32;
#ifdef FFT_BIG
uint slot0 = 0u; // first sequence of this workgroup
#endif
#ifdef PINGPONG
// fft_smem2: two buffers; a pass reads one and writes the other, so nothing
// is held in registers across the barrier (no private arrays: on CPU devices
// such as lavapipe those become per-invocation memory, which made the
// single-buffer variant several times slower).
shared vec2 sd[2u * SH];
uint src_off = 0u, dst_off = SH;
void flip() {
    uint t = src_off;
    src_off = dst_off;
    dst_off = t;
}

#ifdef FFT_BIG
// The first pass (ns = 1) of a row transform reads its inputs straight
// from x through the pre-stage instead of from a loaded copy in shared
// memory (FUSED_LOAD: one shared store, one shared load and one barrier less
// per element; lavapipe emulates each shared access with a per-lane loop).
const uint PASS0 = PASSES & 15u;
// the last pass (code 10) writes the outputs itself (FLAGS bit 2)
const bool FUSED_POST = (FLAGS & 4u) != 0u;
const bool FUSED_LOAD = COLS == 0u && PASS0 != 0u && PASS0 != 7u;
vec2 zfirst(uint g, uint m) { return slot0 + g < pc.nseq ? load_z(slot0 + g, m) : vec2(0.0); }
#define LD(q) vec2 v##q = FUSED_LOAD && ns == 1u ? zfirst(g, j + uint(q) * NB) : sd[base + uint(q) * NB];
#define ST(q) sd[ob + uint(q) * ns] = v##q;
// output q of a radix-16/32 butterfly is held in register v<r> (see bfly16s)
#define ST2(q, r) sd[ob + uint(q) * ns] = v##r;
// radix 16/32 twiddles: w_q = w_a w_b with a + b = q, a tree (error grows
// with log2 q, not q as with a chain of products)
#define TWT(q, a, b) vec2 w##q = cmul(w##a, w##b); v##q = cmul(v##q, w##q);
#else
#define LD(q) vec2 v##q = sd[base + uint(q) * NB];
#define ST(q) sd[ob + uint(q) * ns] = v##q;
#endif
#define PASS_BEGIN(R)                                                              \
    void pass_r##R(uint ns, uint lid) {                                            \
        const uint NB = N / R, ITEMS = G * NB;                                     \
        uint tws = N / (ns * R);                                                   \
        for (uint b = lid; b < ITEMS; b += LS) {                                   \
            uint g = b / NB, j = b - g * NB, k = j % ns;                           \
            uint base = src_off + g * N + j;                                       \
            uint ob = dst_off + g * N + (j / ns) * ns * R + k;                     \
            vec2 w1 = ns > 1u ? root(k * tws) : vec2(1.0, 0.0), w = w1;
#define PASS_END                                                                   \
        }                                                                          \
        barrier();                                                                 \
        flip();                                                                    \
    }
PASS_BEGIN(2) LD(0) LD(1) TW(1) bfly2(v0, v1); ST(0) ST(1) PASS_END
PASS_BEGIN(3) LD(0) LD(1) LD(2) TW(1) TW(2) bfly3(v0, v1, v2); ST(0) ST(1) ST(2) PASS_END
PASS_BEGIN(4) LD(0) LD(1) LD(2) LD(3) TW(1) TW(2) TW(3) bfly4(v0, v1, v2, v3); ST(0) ST(1) ST(2) ST(3) PASS_END
PASS_BEGIN(5)
    LD(0) LD(1) LD(2) LD(3) LD(4) TW(1) TW(2) TW(3) TW(4)
    bfly5s(v0, v1, v2, v3, v4);
    ST(0) ST(1) ST(2) ST(3) ST(4)
PASS_END
PASS_BEGIN(7)
    LD(0) LD(1) LD(2) LD(3) LD(4) LD(5) LD(6) TW(1) TW(2) TW(3) TW(4) TW(5) TW(6)
    bfly7s(v0, v1, v2, v3, v4, v5, v6);
    ST(0) ST(1) ST(2) ST(3) ST(4) ST(5) ST(6)
PASS_END
PASS_BEGIN(8)
    LD(0) LD(1) LD(2) LD(3) LD(4) LD(5) LD(6) LD(7) TW(1) TW(2) TW(3) TW(4) TW(5) TW(6) TW(7)
    bfly8s(v0, v1, v2, v3, v4, v5, v6, v7);
    ST(0) ST(1) ST(2) ST(3) ST(4) ST(5) ST(6) ST(7)
PASS_END

#ifdef FFT_BIG
#define LD16 LD(0) LD(1) LD(2) LD(3) LD(4) LD(5) LD(6) LD(7) LD(8) LD(9) LD(10) LD(11) LD(12) LD(13) LD(14) LD(15)
#define TW16 v1 = cmul(v1, w1); TWT(2, 1, 1) TWT(3, 1, 2) TWT(4, 2, 2) TWT(5, 2, 3) TWT(6, 3, 3) TWT(7, 3, 4) \
    TWT(8, 4, 4) TWT(9, 4, 5) TWT(10, 5, 5) TWT(11, 5, 6) TWT(12, 6, 6) TWT(13, 6, 7) TWT(14, 7, 7) TWT(15, 7, 8)
PASS_BEGIN(16)
    LD16
    if (ns > 1u) { TW16 }
    bfly16s(v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15);
    ST2(0, 0) ST2(1, 4) ST2(2, 8) ST2(3, 12) ST2(4, 1) ST2(5, 5) ST2(6, 9) ST2(7, 13)
    ST2(8, 2) ST2(9, 6) ST2(10, 10) ST2(11, 14) ST2(12, 3) ST2(13, 7) ST2(14, 11) ST2(15, 15)
PASS_END
// radix 32 = 2 x 16: radix-2 over (q, q+16), W32^q on the difference, then a
// 16-point DFT of each half (even outputs from the first, odd from the second)
PASS_BEGIN(32)
    LD16 LD(16) LD(17) LD(18) LD(19) LD(20) LD(21) LD(22) LD(23)
    LD(24) LD(25) LD(26) LD(27) LD(28) LD(29) LD(30) LD(31)
    if (ns > 1u) {
        TW16 TWT(16, 8, 8) TWT(17, 8, 9) TWT(18, 9, 9) TWT(19, 9, 10) TWT(20, 10, 10) TWT(21, 10, 11)
        TWT(22, 11, 11) TWT(23, 11, 12) TWT(24, 12, 12) TWT(25, 12, 13) TWT(26, 13, 13) TWT(27, 13, 14)
        TWT(28, 14, 14) TWT(29, 14, 15) TWT(30, 15, 15) TWT(31, 15, 16)
    }
    bfly2(v0, v16); bfly2(v1, v17); bfly2(v2, v18); bfly2(v3, v19);
    bfly2(v4, v20); bfly2(v5, v21); bfly2(v6, v22); bfly2(v7, v23);
    bfly2(v8, v24); bfly2(v9, v25); bfly2(v10, v26); bfly2(v11, v27);
    bfly2(v12, v28); bfly2(v13, v29); bfly2(v14, v30); bfly2(v15, v31);
    v17 = cmul(v17, vec2(C16_1, -S16_1));
    v18 = cmul(v18, vec2(C16_2, -S16_2));
    v19 = cmul(v19, vec2(C16_3, -S16_3));
    v20 = R2H * vec2(v20.x + v20.y, v20.y - v20.x);
    v21 = cmul(v21, vec2(S16_3, -C16_3));
    v22 = cmul(v22, vec2(S16_2, -C16_2));
    v23 = cmul(v23, vec2(S16_1, -C16_1));
    v24 = mul_mi(v24);
    v25 = cmul(v25, vec2(-S16_1, -C16_1));
    v26 = cmul(v26, vec2(-S16_2, -C16_2));
    v27 = cmul(v27, vec2(-S16_3, -C16_3));
    v28 = R2H * vec2(v28.y - v28.x, -v28.x - v28.y);
    v29 = cmul(v29, vec2(-C16_3, -S16_3));
    v30 = cmul(v30, vec2(-C16_2, -S16_2));
    v31 = cmul(v31, vec2(-C16_1, -S16_1));
    bfly16s(v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15);
    bfly16s(v16, v17, v18, v19, v20, v21, v22, v23, v24, v25, v26, v27, v28, v29, v30, v31);
    ST2(0, 0) ST2(1, 16) ST2(2, 4) ST2(3, 20) ST2(4, 8) ST2(5, 24) ST2(6, 12) ST2(7, 28)
    ST2(8, 1) ST2(9, 17) ST2(10, 5) ST2(11, 21) ST2(12, 9) ST2(13, 25) ST2(14, 13) ST2(15, 29)
    ST2(16, 2) ST2(17, 18) ST2(18, 6) ST2(19, 22) ST2(20, 10) ST2(21, 26) ST2(22, 14) ST2(23, 30)
    ST2(24, 3) ST2(25, 19) ST2(26, 7) ST2(27, 23) ST2(28, 11) ST2(29, 27) ST2(30, 15) ST2(31, 31)
PASS_END

// Code 10: the last radix-16 pass fused with the post-stage (forward real
// modes in half mode, rows). The post-stage item k needs Z_k and Z_{L-k};
// with ns = L/16 the outputs of butterfly j are Z_{j + q ns}, whose partners
// are outputs of butterfly ns - j. So one unit computes butterflies j and
// jb = ns - j (for j = 0: butterfly ns/2, and both are self-partnered) and
// writes all their items from registers: no shared store, no shared reload
// and no barrier between the FFT and the outputs. Item twiddles are products
// of the unit's own (one read) and W_N^{q ns}, D_{q ns} (the same address in
// every lane, a single read on CPU devices).
vec4 ptw(uint k) { return MODE == M_DCT2 ? post_tw(k) : vec4(root_n(k), 0.0, 0.0); }
vec4 tmul(vec4 a, vec4 b) { return vec4(cmul(a.xy, b.xy), cmul(a.zw, b.zw)); }
#define TWX(v, w, q, a, b) vec2 w##q = cmul(w##a, w##b); v##q = cmul(v##q, w##q);
#define TW16X(v, w) v##1 = cmul(v##1, w##1); TWX(v, w, 2, 1, 1) TWX(v, w, 3, 1, 2) TWX(v, w, 4, 2, 2) \
    TWX(v, w, 5, 2, 3) TWX(v, w, 6, 3, 3) TWX(v, w, 7, 3, 4) TWX(v, w, 8, 4, 4) TWX(v, w, 9, 4, 5) \
    TWX(v, w, 10, 5, 5) TWX(v, w, 11, 5, 6) TWX(v, w, 12, 6, 6) TWX(v, w, 13, 6, 7) TWX(v, w, 14, 7, 7) \
    TWX(v, w, 15, 7, 8)
#define LDX(v, q, at) vec2 v##q = sd[src_off + g * N + at + uint(q) * NB];
#define LD16X(v, at) LDX(v, 0, at) LDX(v, 1, at) LDX(v, 2, at) LDX(v, 3, at) LDX(v, 4, at) LDX(v, 5, at) \
    LDX(v, 6, at) LDX(v, 7, at) LDX(v, 8, at) LDX(v, 9, at) LDX(v, 10, at) LDX(v, 11, at) LDX(v, 12, at) \
    LDX(v, 13, at) LDX(v, 14, at) LDX(v, 15, at)
// item j + q ns: Z in v<r>, partner u<pb> (j = 0: v<pa>); item jb + q ns:
// Z in u<r>, partner v<pb> (j = 0: u<pb>)
#define PAIR_A(q, r, pa, pb) post_half(s, j + uint(q) * NB, NLEN, v##r, j0 ? v##pa : u##pb, tmul(ta, ptw(uint(q) * NB)));
#define PAIR_B(q, r, pb) post_half(s, jb + uint(q) * NB, NLEN, u##r, j0 ? u##pb : v##pb, tmul(tb, ptw(uint(q) * NB)));
void pass_r16_post(uint ns, uint lid) {
    const uint NB = N / 16u, U = NB / 2u, ITEMS = G * U;
    for (uint b = lid; b < ITEMS; b += LS) {
        uint g = b / U, j = b - g * U, s = slot0 + g;
        bool j0 = j == 0u;
        uint jb = j0 ? NB / 2u : NB - j;
        if (s >= pc.nseq) continue;
        LD16X(v, j) LD16X(u, jb)
        vec2 w1 = root(j), x1 = root(jb);
        TW16X(v, w) TW16X(u, x)
        bfly16s(v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15);
        bfly16s(u0, u1, u2, u3, u4, u5, u6, u7, u8, u9, u10, u11, u12, u13, u14, u15);
        vec4 ta = ptw(j), tb = ptw(jb);
        PAIR_A(0, 0, 0, 15) PAIR_A(1, 4, 15, 11) PAIR_A(2, 8, 11, 7) PAIR_A(3, 12, 7, 3) PAIR_A(4, 1, 3, 14) PAIR_A(5, 5, 14, 10) PAIR_A(6, 9, 10, 6) PAIR_A(7, 13, 6, 2) PAIR_A(8, 2, 2, 13) PAIR_A(9, 6, 13, 9) PAIR_A(10, 10, 9, 5) PAIR_A(11, 14, 5, 1) PAIR_A(12, 3, 1, 12) PAIR_A(13, 7, 12, 8) PAIR_A(14, 11, 8, 4) PAIR_A(15, 15, 4, 0)
        PAIR_B(0, 0, 15) PAIR_B(1, 4, 11) PAIR_B(2, 8, 7) PAIR_B(3, 12, 3) PAIR_B(4, 1, 14) PAIR_B(5, 5, 10) PAIR_B(6, 9, 6) PAIR_B(7, 13, 2) PAIR_B(8, 2, 13) PAIR_B(9, 6, 9) PAIR_B(10, 10, 5) PAIR_B(11, 14, 1) PAIR_B(12, 3, 12) PAIR_B(13, 7, 8) PAIR_B(14, 11, 4) PAIR_B(15, 15, 0)
        if (j0) post_half(s, N, NLEN, v0, v0, ptw(N)); // k = N/2: Z_0 with itself
    }
}
#endif

void pass_generic(uint r, uint ns, uint lid) {
    uint nb = N / r, tws = N / (ns * r);
    for (uint e = lid; e < SH; e += LS) {
        uint g = e / N, o = e - g * N;
        uint k = o % ns, q = (o / ns) % r, j = (o / (ns * r)) * ns + k;
        uint step = (k + q * ns) * tws, idx = 0u;
        vec2 acc = vec2(0.0);
        for (uint u = 0u; u < r; u++) {
            acc += cmul(sd[src_off + g * N + j + u * nb], root(idx));
            idx += step;
            if (idx >= N) idx -= N;
        }
        sd[dst_off + e] = acc;
    }
    barrier();
    flip();
}
#else
shared vec2 sd[SH];
const uint src_off = 0u;
// One radix-R pass (R constant, ns constant after inlining, so loops unroll
// and v/hold stay in registers).
#define PASS_SMALL(R)                                                              \
    void pass_r##R(uint ns, uint lid) {                                            \
        const uint NB = N / R, ITEMS = G * NB;                                     \
        const uint T = (ITEMS + LS - 1u) / LS;                                     \
        /* + 1: a radix that does not divide N has T = 0, and a zero-size */      \
        /* array is invalid SPIR-V after specialization (its loops never run) */  \
        vec2 hold[T * R + 1u];                                                     \
        uint tws = N / (ns * R);                                                   \
        for (uint t = 0u; t < T; t++) {                                            \
            uint b = lid + t * LS;                                                 \
            if (b < ITEMS) {                                                       \
                uint g = b / NB, j = b - g * NB, k = j % ns;                       \
                uint base = g * N + j;                                             \
                vec2 v[8];                                                         \
                for (uint q = 0u; q < R; q++) v[q] = sd[base + q * NB];            \
                if (ns > 1u) twiddle(v, R, k, tws);                                \
                bfly(R, v);                                                        \
                for (uint q = 0u; q < R; q++) hold[t * R + q] = v[q];              \
            }                                                                      \
        }                                                                          \
        barrier();                                                                 \
        for (uint t = 0u; t < T; t++) {                                            \
            uint b = lid + t * LS;                                                 \
            if (b < ITEMS) {                                                       \
                uint g = b / NB, j = b - g * NB, k = j % ns;                       \
                uint ob = g * N + (j / ns) * ns * R + k;                           \
                for (uint q = 0u; q < R; q++) sd[ob + q * ns] = hold[t * R + q];   \
            }                                                                      \
        }                                                                          \
        barrier();                                                                 \
    }
PASS_SMALL(2)
PASS_SMALL(3)
PASS_SMALL(4)
PASS_SMALL(5)
PASS_SMALL(7)
PASS_SMALL(8)

// Output-driven pass for a prime radix r > 8: output q of butterfly j is
// sum_u in[j + u N/r] W_N^{u (k + q ns) N/(ns r)}.
void pass_generic(uint r, uint ns, uint lid) {
    const uint T = (SH + LS - 1u) / LS;
    vec2 hold[T];
    uint nb = N / r, tws = N / (ns * r);
    for (uint t = 0u; t < T; t++) {
        uint e = lid + t * LS;
        if (e < SH) {
            uint g = e / N, o = e - g * N;
            uint k = o % ns, q = (o / ns) % r, j = (o / (ns * r)) * ns + k;
            uint step = (k + q * ns) * tws, idx = 0u;
            vec2 acc = vec2(0.0);
            for (uint u = 0u; u < r; u++) {
                acc += cmul(sd[g * N + j + u * nb], root(idx));
                idx += step;
                if (idx >= N) idx -= N;
            }
            hold[t] = acc;
        }
    }
    barrier();
    for (uint t = 0u; t < T; t++) {
        uint e = lid + t * LS;
        if (e < SH) sd[e] = hold[t];
    }
    barrier();
}

#endif

void run_pass(uint c, uint r, uint ns, uint lid) {
#ifdef FFT_BIG
    if (c == 8u) pass_r16(ns, lid);
    else if (c == 9u) pass_r32(ns, lid);
    else if (c == 10u) pass_r16_post(ns, lid);
    else
#endif
    if (c == 6u) pass_r8(ns, lid);
    else if (c == 3u) pass_r4(ns, lid);
    else if (c == 1u) pass_r2(ns, lid);
    else if (c == 2u) pass_r3(ns, lid);
    else if (c == 4u) pass_r5(ns, lid);
    else if (c == 5u) pass_r7(ns, lid);
    else pass_generic(r, ns, lid);
}

vec2 zget(uint g, uint m) { return sd[src_off + g * N + m]; }

void main() {
    uint lid = gl_LocalInvocationID.x;
#ifdef FFT_BIG
    slot0 = prism_group_linear() * G;
    // ---- load (pre-stage), unless the first pass reads x itself
    if (FUSED_LOAD) {
    } else
#else
    uint slot0 = prism_group_linear() * G;

    // ---- load (pre-stage)
#endif
    if (MODE == M_DCT3 || MODE == M_IRFFT || (REAL && HALF)) {
        // per slot element: the inverse modes need spectrum entries m and
        // L - m (and N - m); the forward half modes read the two samples of
        // z_m and write it whole (one vec2 store instead of two partial ones,
        // which lavapipe measured markedly slower)
        for (uint e = lid; e < SH; e += LS) {
            uint g = COLS != 0u ? e % G : e / N, m = COLS != 0u ? e / G : e % N;
            sd[g * N + m] = slot0 + g < pc.nseq ? load_z(slot0 + g, m) : vec2(0.0);
        }
    } else {
        // one input element per item: coalesced reads
        const uint tot = G * NLEN;
        for (uint e = lid; e < tot; e += LS) {
            uint g = COLS != 0u ? e % G : e / NLEN, i = COLS != 0u ? e / G : e % NLEN;
            uint s = slot0 + g;
            bool live = s < pc.nseq;
            if (!REAL) {
                vec2 v = live ? xin2(s, i) : vec2(0.0);
                sd[g * N + i] = MODE == M_IC2C ? conj2(v) : v;
            } else {
                // a missing sequence of the last workgroup loads zeros
                float v = live ? xin(s, i) : 0.0;
                uint j = MODE == M_DCT2 ? dct_perm_inv(i, NLEN) : i;
                if (!HALF) sd[g * N + j] = vec2(v, 0.0);
                else if ((j & 1u) == 0u) sd[g * N + j / 2u].x = v;
                else sd[g * N + j / 2u].y = v;
            }
        }
    }
#ifdef FFT_BIG
    if (!FUSED_LOAD) barrier();
#else
    barrier();
#endif

    // ---- Stockham passes, written out so each pass's code is a constant
    // (no reliance on the compiler unrolling a loop)
    uint ns = 1u;
#ifdef FFT_BIG
#define CODE_BITS 4u
#define CODE_MASK 15u
#else
#define CODE_BITS 3u
#define CODE_MASK 7u
#endif
#define STEP(p)                                                       \
    {                                                                 \
        uint c = (PASSES >> (CODE_BITS * p)) & CODE_MASK;             \
        if (c != 0u) {                                                \
            uint r = c == 7u ? radix_of(p) : code_radix(c);           \
            run_pass(c, r, ns, lid);                                  \
            ns *= r;                                                  \
        }                                                             \
    }
#ifdef FFT_BIG
    STEP(0u) STEP(1u) STEP(2u) STEP(3u) STEP(4u) STEP(5u) STEP(6u) STEP(7u)
    if (FUSED_POST) return;
#else
    STEP(0u) STEP(1u) STEP(2u) STEP(3u) STEP(4u) STEP(5u) STEP(6u) STEP(7u) STEP(8u) STEP(9u)
#endif

    // ---- store (post-stage)
    const uint tot = G * NOUT;
    for (uint e = lid; e < tot; e += LS) {
        uint g = COLS != 0u ? e % G : e / NOUT, k = COLS != 0u ? e / G : e % NOUT;
        if (slot0 + g < pc.nseq) store_item(slot0 + g, g, k, NLEN, N, HALF);
    }
}
#endif

#ifdef FFT_PASS
// One Stockham pass over every slot: scratch (or x) -> scratch, radix
// R = PASSES and Ns = G constant. Scratch layout: slot p, element i at
// p*sp + i*se (vec2 units).
vec2 src_at(uint p, uint i) {
    return pc.npass != 0u ? load_z(p, i) : ssrc[pc.boff[4] / 2u + p * pc.sp + i * pc.se];
}
void dst_put(uint p, uint i, vec2 v) { sdst[pc.boff[5] / 2u + p * pc.sp + i * pc.se] = v; }

void main() {
    const uint R = PASSES, NS = G, NB = N / R, TWS = N / (NS * R);
    uint slots = pc.nseq;
    uint id = prism_gid();
    if (small_radix(R)) {
        if (id >= slots * NB) return;
        uint p = COLS != 0u ? id % slots : id / NB, j = COLS != 0u ? id / slots : id % NB, k = j % NS;
        uint ob = (j / NS) * NS * R + k;
        vec2 w1 = NS > 1u ? root(k * TWS) : vec2(1.0, 0.0), w = w1;
        // scalar registers only (see fft_smem2); R is constant, so one branch remains
#define GLD(q) vec2 v##q = src_at(p, j + uint(q) * NB);
#define GST(q) dst_put(p, ob + uint(q) * NS, v##q);
        if (R == 8u) {
            GLD(0) GLD(1) GLD(2) GLD(3) GLD(4) GLD(5) GLD(6) GLD(7)
            TW(1) TW(2) TW(3) TW(4) TW(5) TW(6) TW(7)
            bfly8s(v0, v1, v2, v3, v4, v5, v6, v7);
            GST(0) GST(1) GST(2) GST(3) GST(4) GST(5) GST(6) GST(7)
        } else if (R == 7u) {
            GLD(0) GLD(1) GLD(2) GLD(3) GLD(4) GLD(5) GLD(6)
            TW(1) TW(2) TW(3) TW(4) TW(5) TW(6)
            bfly7s(v0, v1, v2, v3, v4, v5, v6);
            GST(0) GST(1) GST(2) GST(3) GST(4) GST(5) GST(6)
        } else if (R == 5u) {
            GLD(0) GLD(1) GLD(2) GLD(3) GLD(4) TW(1) TW(2) TW(3) TW(4)
            bfly5s(v0, v1, v2, v3, v4);
            GST(0) GST(1) GST(2) GST(3) GST(4)
        } else if (R == 4u) {
            GLD(0) GLD(1) GLD(2) GLD(3) TW(1) TW(2) TW(3)
            bfly4(v0, v1, v2, v3);
            GST(0) GST(1) GST(2) GST(3)
        } else if (R == 3u) {
            GLD(0) GLD(1) GLD(2) TW(1) TW(2)
            bfly3(v0, v1, v2);
            GST(0) GST(1) GST(2)
        } else {
            GLD(0) GLD(1) TW(1)
            bfly2(v0, v1);
            GST(0) GST(1)
        }
    } else {
        if (id >= slots * N) return;
        uint p = COLS != 0u ? id % slots : id / N, o = COLS != 0u ? id / slots : id % N;
        uint k = o % NS, q = (o / NS) % R, j = (o / (NS * R)) * NS + k;
        uint step = (k + q * NS) * TWS, idx = 0u;
        vec2 acc = vec2(0.0);
        for (uint u = 0u; u < R; u++) {
            acc += cmul(src_at(p, j + u * NB), root(idx));
            idx += step;
            if (idx >= N) idx -= N;
        }
        dst_put(p, o, acc);
    }
}
#endif

#ifdef FFT_POST
vec2 zget(uint g, uint m) { return ssrc[pc.boff[4] / 2u + g * pc.sp + m * pc.se]; }

void main() {
    uint id = prism_gid();
    if (id >= pc.nseq * NOUT) return;
    uint s = COLS != 0u ? id % pc.nseq : id / NOUT, k = COLS != 0u ? id / pc.nseq : id % NOUT;
    store_item(s, s, k, NLEN, N, HALF);
}
#endif
