// variant: fft_smem -DFFT_SMEM
// variant: fft_smem2 -DFFT_SMEM -DPINGPONG
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
// 2L samples).
layout(constant_id = 6) const uint FLAGS = 0;
// fft_smem: the passes, 3 bits each, first pass lowest: 1..6 = radix 2, 3,
// 4, 5, 7, 8; 7 = a generic prime (its value from the push block); 0 = end.
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
uint code_radix(uint c) { return c == 1u ? 2u : c == 2u ? 3u : c == 3u ? 4u : c == 4u ? 5u : c == 5u ? 7u : 8u; }

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

#define LD(q) vec2 v##q = sd[base + uint(q) * NB];
#define ST(q) sd[ob + uint(q) * ns] = v##q;
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
        vec2 hold[T * R];                                                          \
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
    uint slot0 = prism_group_linear() * G;

    // ---- load (pre-stage)
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
    barrier();

    // ---- Stockham passes, written out so each pass's code is a constant
    // (no reliance on the compiler unrolling a loop)
    uint ns = 1u;
#define STEP(p)                                                       \
    {                                                                 \
        uint c = (PASSES >> (3u * p)) & 7u;                           \
        if (c != 0u) {                                                \
            uint r = c == 7u ? radix_of(p) : code_radix(c);           \
            run_pass(c, r, ns, lid);                                  \
            ns *= r;                                                  \
        }                                                             \
    }
    STEP(0u) STEP(1u) STEP(2u) STEP(3u) STEP(4u) STEP(5u) STEP(6u) STEP(7u) STEP(8u) STEP(9u)

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
