// Shared by fft.comp (FFT-path kernels) and dct.comp (matrix path): the
// transform modes, the addressing of sequences inside the user's tensors,
// the pre-stage (input -> the complex sequence Z the FFT runs on) and the
// post-stage (FFT result -> outputs). docs/spectral-transforms.md has the
// derivations; runtime/ops/fft.c the host side.
//
// Every sequence has its own FFT ("slot"), so sequences never mix (a NaN or
// a huge value stays in its own row). Real modes with an even length N run a
// complex FFT of L = N/2 on z_m = v_{2m} + i v_{2m+1} and untangle the
// result; odd N runs L = N with a zero imaginary part. Complex modes: L = N.
// Inverse transforms run the forward FFT on conj(Z) and conjugate back.
#ifndef PRISM_FFT_COMMON_GLSL
#define PRISM_FFT_COMMON_GLSL
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 3) const uint MODE = 0;
const uint M_DCT2 = 0u, M_DCT3 = 1u, M_RFFT = 2u, M_IRFFT = 3u, M_C2C = 4u, M_IC2C = 5u;
const bool REAL = MODE <= M_IRFFT;

// y: output (real or interleaved complex), x: input, tw: tables
// [roots W_N^t = e^{-2 pi i t/N}, t < N][DCT twiddles e^{-i pi k/(2N)}, k < N]
// [cos(pi j/(2N)), j < 4N: matrix path only, read as floats]
// [(W_N^k, e^{-i pi k/(2N)}) for k < N, read as vec4 through binding 6].
layout(std430, binding = 0) buffer Y { float y[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) readonly buffer TW { vec2 tw[]; };
layout(std430, binding = 3) readonly buffer TWF { float twf[]; };
layout(std430, binding = 4) readonly buffer SSRC { vec2 ssrc[]; };  // scratch, pass source
layout(std430, binding = 5) writeonly buffer SDST { vec2 sdst[]; }; // scratch, pass destination
// post-stage twiddles (W_N^k, e^{-i pi k/(2N)}) side by side: one 16-byte
// read per item instead of two (the tables from float offset 8N)
layout(std430, binding = 6) readonly buffer TW4 { vec4 tw4[]; };
#ifdef FFT_BIG
// x and y as complex pairs, for rows whose sequences start at even float
// offsets (pc.flags bit 2 and boff even): one 8-byte access instead of two
// 4-byte ones
layout(std430, binding = 1) readonly buffer X2 { vec2 x2[]; };
layout(std430, binding = 0) buffer Y2 { vec2 y2[]; };
#endif

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint n;       // sequence length N
    uint nseq;    // sequences in this dispatch
    uint xs, xe;  // input: float offset of sequence s, element i = s*xs + i*xe
    uint ys, ye;  // output, same meaning (complex: the real part; imag at +1)
    uint rad0, rad1, rad2; // fft_smem: radices, 8 bits each, first pass lowest (read for generic primes)
    uint npass;   // fft_smem: passes; fft_pass: 1 for the first pass (reads x)
    uint sp, se;  // scratch: vec2 offset of slot p, element i = p*sp + i*se
    float s0, s1; // DCT scale for k = 0 / k > 0 (ortho g_k; DCT-III 1/g_k; none 1)
    uint dtw;     // vec2 offset of the DCT twiddles in tw
    uint cos4;    // float offset of the cosine table in twf
    uint flags;   // complex modes: 1 = real input (imaginary 0), 2 = write only the real part;
                  // fft_big: 4 = rows of unit stride, even pitch (x2 / y2 where boff is even)
    uint l;       // FFT length L (N/2 or N)
} pc;

bool half_mode() { return REAL && 2u * pc.l == pc.n; }

// Table reads; boff[] counts floats, the vec2 views index by boff/2 (the
// host binds the tables and scratch at even float offsets).
vec2 root_n(uint t) { return tw[pc.boff[2] / 2u + t]; }                // W_N^t
vec2 root(uint t) { return tw[pc.boff[2] / 2u + t * (pc.n / pc.l)]; }  // W_L^t
vec2 dct_tw(uint k) { return tw[pc.boff[2] / 2u + pc.dtw + k]; }
vec4 post_tw(uint k) { return tw4[pc.boff[6] / 4u + k]; }

vec2 cmul(vec2 a, vec2 b) { return vec2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x); }
vec2 conj2(vec2 a) { return vec2(a.x, -a.y); }

float xin(uint s, uint i) { return x[pc.boff[1] + s * pc.xs + i * pc.xe]; }
vec2 xin2(uint s, uint i) {
    uint o = pc.boff[1] + s * pc.xs + i * pc.xe;
    return vec2(x[o], (pc.flags & 1u) != 0u ? 0.0 : x[o + 1u]);
}
void yout(uint s, uint i, float v) { y[pc.boff[0] + s * pc.ys + i * pc.ye] = v; }
void yout2(uint s, uint i, vec2 v) {
    uint o = pc.boff[0] + s * pc.ys + i * pc.ye;
#ifdef FFT_BIG
    if ((pc.flags & 6u) == 4u && (pc.boff[0] & 1u) == 0u) {
        y2[o / 2u] = v;
        return;
    }
#endif
    y[o] = v.x;
    if ((pc.flags & 2u) == 0u) y[o + 1u] = v.y;
}

// Makhoul's reordering: v_j = x_{perm(j)}, even samples ascending then odd
// samples descending.
uint dct_perm(uint j, uint n) { return 2u * j < n ? 2u * j : 2u * (n - j) - 1u; }
uint dct_perm_inv(uint i, uint n) { return (i & 1u) == 0u ? i / 2u : n - 1u - i / 2u; }

// Outputs per sequence.
uint n_out() { return MODE == M_RFFT ? pc.n / 2u + 1u : pc.n; }

// DCT-III: the spectrum V_k of the reordered real sequence v, from the
// input X scaled to the `none` convention: V_k = e^{i pi k/(2N)} (X_k - i X_{N-k}) / 2
// (X_N = 0).
vec2 dct3_v(uint s, uint k) {
    uint n = pc.n;
    float a = xin(s, k) * (k == 0u ? pc.s0 : pc.s1);
    float b = k == 0u ? 0.0 : xin(s, n - k) * pc.s1;
    return 0.5 * cmul(conj2(dct_tw(k)), vec2(a, -b));
}

// irfft: the Hermitian extension H_k of the input, with the imaginary parts
// of H_0 and (N even) H_{N/2} dropped as torch does.
vec2 irfft_h(uint s, uint k) {
    uint n = pc.n;
    bool mirror = k > n / 2u;
    vec2 v = xin2(s, mirror ? n - k : k);
    if (mirror) v.y = -v.y;
    if (k == 0u || 2u * k == n) v.y = 0.0;
    return v;
}

// Spectrum entry k (0 <= k <= N/2 in half mode) of the real signal an inverse
// real mode reconstructs.
vec2 spec_in(uint s, uint k) { return MODE == M_DCT3 ? dct3_v(s, k) : irfft_h(s, k); }

// Input of the forward FFT for sequence s at m < L, read directly from x
// (the global path; fft_smem loads coalesced instead, except for the inverse
// real modes, which use this too).
vec2 load_z(uint s, uint m) {
    if (MODE == M_DCT2 || MODE == M_RFFT) {
        if (half_mode()) {
#ifdef FFT_BIG
            if (MODE == M_RFFT && (pc.flags & 4u) != 0u && (pc.boff[1] & 1u) == 0u)
                return x2[(pc.boff[1] + s * pc.xs) / 2u + m];
#endif
            uint i0 = 2u * m, i1 = i0 + 1u;
            if (MODE == M_DCT2) i0 = dct_perm(i0, pc.n), i1 = dct_perm(i1, pc.n);
            return vec2(xin(s, i0), xin(s, i1));
        }
        return vec2(xin(s, MODE == M_DCT2 ? dct_perm(m, pc.n) : m), 0.0);
    }
    if (MODE == M_DCT3 || MODE == M_IRFFT) {
        if (half_mode()) {
            // E_m = (V_m + conj V_{L-m}) / 2 and O_m = (V_m - conj V_{L-m}) W_N^{-m} / 2
            // are the spectra of the even and odd samples; Z = E + i O.
            vec2 a = spec_in(s, m), b = conj2(spec_in(s, pc.l - m));
            vec2 e = 0.5 * (a + b), o = 0.5 * cmul(a - b, conj2(root_n(m)));
            return conj2(vec2(e.x - o.y, e.y + o.x));
        }
        return conj2(spec_in(s, m));
    }
    vec2 v = xin2(s, m);
    return MODE == M_IC2C ? conj2(v) : v;
}

// Forward real FFT from the half-length one: V_k = E_k + W_N^k O_k with
// E_k = (Z_k + conj Z_{L-k}) / 2, O_k = (Z_k - conj Z_{L-k}) / (2i); k <= N/2.
vec2 untangle_w(vec2 zk, vec2 zm, vec2 wk) {
    vec2 cm = conj2(zm), d = zk - cm;
    return 0.5 * (zk + cm) + cmul(wk, 0.5 * vec2(d.y, -d.x));
}

#ifdef FFT_STAGES
#ifdef FFT_BIG
// Post-stage item kk <= N/2 of a forward real mode in half mode, from
// zk = Z_{kk mod L}, zm = Z_{(L - kk) mod L} and t = (W_N^kk, D_kk), as in
// store_item below (fft_big's radix-16 pass fused with the post-stage).
void post_half(uint s, uint kk, uint n, vec2 zk, vec2 zm, vec4 t) {
    vec2 v = untangle_w(zk, zm, t.xy);
    if (MODE == M_DCT2) {
        vec2 w = cmul(t.zw, v);
        yout(s, kk, 2.0 * w.x * (kk == 0u ? pc.s0 : pc.s1));
        if (kk != 0u && 2u * kk != n) yout(s, n - kk, -2.0 * w.y * pc.s1);
    } else {
        yout2(s, kk, v);
    }
}
#endif

// FFT result of local slot g at m < L; defined by the kernel.
vec2 zget(uint g, uint m);

// Post-stage: output element kk of sequence s (local slot g). n, l and hm
// (half mode) are arguments so fft_smem passes constants: every division
// below then compiles to a multiply (CPU devices have no vector divide).
void store_item(uint s, uint g, uint kk, uint n, uint l, bool hm) {
    if (MODE == M_DCT2 && hm) {
        // item k <= N/2 writes X_k = 2 Re(D_k V_k) and X_{N-k} = -2 Im(D_k V_k)
        // (V_{N-k} = conj V_k): one untangle for two outputs
        uint km = kk % l;
        vec4 t = post_tw(kk);
        vec2 v = untangle_w(zget(g, km), zget(g, km == 0u ? 0u : l - km), t.xy);
        vec2 w = cmul(t.zw, v);
        yout(s, kk, 2.0 * w.x * (kk == 0u ? pc.s0 : pc.s1));
        if (kk != 0u && 2u * kk != n) yout(s, n - kk, -2.0 * w.y * pc.s1);
    } else if (MODE == M_DCT2) {
        vec2 w = cmul(dct_tw(kk), zget(g, kk));
        yout(s, kk, 2.0 * w.x * (kk == 0u ? pc.s0 : pc.s1));
    } else if (MODE == M_RFFT) {
        uint km = kk % l;
        yout2(s, kk, hm ? untangle_w(zget(g, km), zget(g, km == 0u ? 0u : l - km), post_tw(kk).xy) : zget(g, kk));
    } else if (MODE == M_DCT3 || MODE == M_IRFFT) {
        // z = conj(FFT(conj Z)) / L: z_m = v_{2m} + i v_{2m+1} (half) or v_m
        uint j = MODE == M_DCT3 ? dct_perm_inv(kk, n) : kk;
        vec2 w = zget(g, hm ? j / 2u : j);
        yout(s, kk, (hm && (j & 1u) != 0u ? -w.y : w.x) * (1.0 / float(l)));
    } else if (MODE == M_IC2C) {
        yout2(s, kk, conj2(zget(g, kk)) * (1.0 / float(l)));
    } else {
        yout2(s, kk, zget(g, kk));
    }
}
#endif

// ---------------------------------------------------------------- butterflies
// Forward DFTs of radix 2, 4, 8 (hand-written), 3, 5, 7 (direct sums with
// constant roots); larger primes go through the generic output-driven pass.
vec2 mul_mi(vec2 a) { return vec2(a.y, -a.x); }  // a * (-i)

const float C3 = -0.5, S3 = 0.86602540378443864676;
const float C51 = 0.30901699437494742410, S51 = 0.95105651629515357212;
const float C52 = -0.80901699437494742410, S52 = 0.58778525229247312917;
const float C71 = 0.62348980185873353053, S71 = 0.78183148246802980871;
const float C72 = -0.22252093395631440429, S72 = 0.97492791218182360702;
const float C73 = -0.90096886790241912624, S73 = 0.43388373911755812048;
const float R2H = 0.70710678118654752440;

void bfly2(inout vec2 a0, inout vec2 a1) {
    vec2 t = a0 - a1;
    a0 += a1;
    a1 = t;
}

void bfly4(inout vec2 a0, inout vec2 a1, inout vec2 a2, inout vec2 a3) {
    vec2 t0 = a0 + a2, t1 = a0 - a2, t2 = a1 + a3, t3 = mul_mi(a1 - a3);
    a0 = t0 + t2;
    a2 = t0 - t2;
    a1 = t1 + t3;
    a3 = t1 - t3;
}

// Scalar-argument forms: no private arrays (CPU devices turn those into
// per-invocation memory with per-lane gathers).
void bfly8s(inout vec2 v0, inout vec2 v1, inout vec2 v2, inout vec2 v3, inout vec2 v4, inout vec2 v5, inout vec2 v6,
            inout vec2 v7) {
    // radix-2 over (j, j+4), twiddle by W8^j, then radix-4 on each half;
    // even outputs come from the first half, odd ones from the second
    bfly2(v0, v4);
    bfly2(v1, v5);
    bfly2(v2, v6);
    bfly2(v3, v7);
    v5 = R2H * vec2(v5.x + v5.y, v5.y - v5.x);   // * W8^1
    v6 = mul_mi(v6);                              // * W8^2
    v7 = R2H * vec2(v7.y - v7.x, -v7.x - v7.y);  // * W8^3
    bfly4(v0, v1, v2, v3);
    bfly4(v4, v5, v6, v7);
    vec2 e1 = v1, e2 = v2, e3 = v3, o0 = v4, o1 = v5, o2 = v6;
    v1 = o0;
    v2 = e1;
    v3 = o1;
    v4 = e2;
    v5 = o2;
    v6 = e3;
}

void bfly8(inout vec2 v[8]) { bfly8s(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]); }

#ifdef FFT_BIG
// cos / sin of pi j/16, j = 1..3 (W16 = (C16_2, -S16_2), W32 = (C16_1, -S16_1))
const float C16_1 = 0.98078528040323044913, S16_1 = 0.19509032201612826785;
const float C16_2 = 0.92387953251128675613, S16_2 = 0.38268343236508977173;
const float C16_3 = 0.83146961230254523708, S16_3 = 0.55557023301960222474;

// 16-point DFT as 4 x 4 (fft_smem2's radix-16 and radix-32 passes): DFT-4
// over each stride-4 group, twiddle W16^(j m), DFT-4 over each run of four.
// Output k = m + 4p is left in v_{p + 4m} (transposed); the caller's stores
// put it in place, so no register moves are needed here.
void bfly16s(inout vec2 v0, inout vec2 v1, inout vec2 v2, inout vec2 v3, inout vec2 v4, inout vec2 v5,
             inout vec2 v6, inout vec2 v7, inout vec2 v8, inout vec2 v9, inout vec2 v10, inout vec2 v11,
             inout vec2 v12, inout vec2 v13, inout vec2 v14, inout vec2 v15) {
    bfly4(v0, v4, v8, v12);
    bfly4(v1, v5, v9, v13);
    bfly4(v2, v6, v10, v14);
    bfly4(v3, v7, v11, v15);
    v5 = cmul(v5, vec2(C16_2, -S16_2));   // W16^1
    v9 = R2H * vec2(v9.x + v9.y, v9.y - v9.x);  // W16^2
    v13 = cmul(v13, vec2(S16_2, -C16_2)); // W16^3
    v6 = R2H * vec2(v6.x + v6.y, v6.y - v6.x);  // W16^2
    v10 = mul_mi(v10);                    // W16^4
    v14 = R2H * vec2(v14.y - v14.x, -v14.x - v14.y); // W16^6
    v7 = cmul(v7, vec2(S16_2, -C16_2));   // W16^3
    v11 = R2H * vec2(v11.y - v11.x, -v11.x - v11.y); // W16^6
    v15 = cmul(v15, vec2(-C16_2, S16_2)); // W16^9
    bfly4(v0, v1, v2, v3);
    bfly4(v4, v5, v6, v7);
    bfly4(v8, v9, v10, v11);
    bfly4(v12, v13, v14, v15);
}
#endif

void bfly3(inout vec2 a0, inout vec2 a1, inout vec2 a2) {
    vec2 s = a1 + a2, d = a1 - a2;
    vec2 m = a0 + C3 * s;
    vec2 r = S3 * vec2(d.y, -d.x);  // -i sin(2pi/3) (a1 - a2)
    a0 = a0 + s;
    a1 = m + r;
    a2 = m - r;
}

void bfly5s(inout vec2 v0, inout vec2 v1, inout vec2 v2, inout vec2 v3, inout vec2 v4) {
    vec2 s1 = v1 + v4, d1 = v1 - v4, s2 = v2 + v3, d2 = v2 - v3;
    vec2 m1 = v0 + C51 * s1 + C52 * s2, m2 = v0 + C52 * s1 + C51 * s2;
    vec2 q1 = mul_mi(S51 * d1 + S52 * d2), q2 = mul_mi(S52 * d1 - S51 * d2);
    v0 = v0 + s1 + s2;
    v1 = m1 + q1;
    v4 = m1 - q1;
    v2 = m2 + q2;
    v3 = m2 - q2;
}
void bfly5(inout vec2 v[8]) { bfly5s(v[0], v[1], v[2], v[3], v[4]); }

void bfly7s(inout vec2 v0, inout vec2 v1, inout vec2 v2, inout vec2 v3, inout vec2 v4, inout vec2 v5, inout vec2 v6) {
    vec2 s1 = v1 + v6, d1 = v1 - v6, s2 = v2 + v5, d2 = v2 - v5, s3 = v3 + v4, d3 = v3 - v4;
    vec2 m1 = v0 + C71 * s1 + C72 * s2 + C73 * s3;
    vec2 m2 = v0 + C72 * s1 + C73 * s2 + C71 * s3;
    vec2 m3 = v0 + C73 * s1 + C71 * s2 + C72 * s3;
    vec2 r1 = mul_mi(S71 * d1 + S72 * d2 + S73 * d3);
    vec2 r2 = mul_mi(S72 * d1 - S73 * d2 - S71 * d3);
    vec2 r3 = mul_mi(S73 * d1 - S71 * d2 + S72 * d3);
    v0 = v0 + s1 + s2 + s3;
    v1 = m1 + r1;
    v6 = m1 - r1;
    v2 = m2 + r2;
    v5 = m2 - r2;
    v3 = m3 + r3;
    v4 = m3 - r3;
}
void bfly7(inout vec2 v[8]) { bfly7s(v[0], v[1], v[2], v[3], v[4], v[5], v[6]); }

// In-register DFT of radix r <= 8 on v[0..r).
void bfly(uint r, inout vec2 v[8]) {
    if (r == 2u) bfly2(v[0], v[1]);
    else if (r == 4u) bfly4(v[0], v[1], v[2], v[3]);
    else if (r == 8u) bfly8(v);
    else if (r == 3u) bfly3(v[0], v[1], v[2]);
    else if (r == 5u) bfly5(v);
    else if (r == 7u) bfly7(v);
}

bool small_radix(uint r) { return r <= 8u && r != 6u; }

#endif
