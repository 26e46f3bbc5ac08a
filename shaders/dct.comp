// variant: dct_matrix
#version 450
// Matrix path of the dct and fft ops (runtime/ops/fft.c): every output is a
// direct O(N) sum over its sequence, for lengths the FFT path does not take
// (a prime factor > 64, e.g. 97) or when forced. The cosines / roots come
// from tables computed in float64 on the host, indexed by an exact integer
// angle reduction, so no shader sin/cos (whose precision Vulkan leaves loose)
// is involved:
//   DCT   cos(pi j / (2N)) for j < 4N at twf[cos4 + j], with j = (2i+1)k mod 4N
//   DFT   W_N^t = e^{-2 pi i t/N} for t < N at tw[t], with t = i k mod N
// One invocation per output element; the angle index advances by a fixed
// step mod 4N (or N), so no product overflows 32 bits for any N < 2^29.
// With COLS = 1 consecutive invocations take consecutive sequences.
#extension GL_GOOGLE_include_directive : require
#include "fft_common.glsl"

layout(constant_id = 6) const uint FLAGS = 0;  // bit 0: sequences are columns
const uint COLS = FLAGS & 1u;

float cos4(uint j) { return twf[pc.boff[3] + pc.cos4 + j]; }

void main() {
    uint n = pc.n, nout = n_out();
    uint id = prism_gid();
    if (id >= pc.nseq * nout) return;
    uint s = COLS != 0u ? id % pc.nseq : id / nout, k = COLS != 0u ? id / pc.nseq : id % nout;
    if (MODE == M_DCT2) {
        uint m4 = 4u * n, a = k % m4, step = (2u * k) % m4;
        float acc = 0.0;
        for (uint i = 0u; i < n; i++) {
            acc += xin(s, i) * cos4(a);
            a += step;
            if (a >= m4) a -= m4;
        }
        yout(s, k, 2.0 * acc * (k == 0u ? pc.s0 : pc.s1));
    } else if (MODE == M_DCT3) {
        // output i = k: (1/N) sum_j w_j Xnone_j cos(pi j (2i+1)/(2N)), w_0 = 1/2
        uint m4 = 4u * n, a = 0u, step = (2u * k + 1u) % m4;
        float acc = 0.5 * xin(s, 0u) * pc.s0;
        for (uint j = 1u; j < n; j++) {
            a += step;
            if (a >= m4) a -= m4;
            acc += xin(s, j) * pc.s1 * cos4(a);
        }
        yout(s, k, acc / float(n));
    } else {
        // DFT: forward sums x_i W^{ik}; inverse sums x_i conj(W^{ik}) / N
        bool inv = MODE == M_IRFFT || MODE == M_IC2C;
        uint t = 0u;
        vec2 acc = vec2(0.0);
        for (uint i = 0u; i < n; i++) {
            vec2 w = root_n(t);
            if (inv) w.y = -w.y;
            vec2 v = MODE == M_RFFT ? vec2(xin(s, i), 0.0) : (MODE == M_IRFFT ? irfft_h(s, i) : xin2(s, i));
            acc += cmul(v, w);
            t += k;
            if (t >= n) t -= n;
        }
        if (MODE == M_IRFFT) yout(s, k, acc.x / float(n));
        else if (MODE == M_IC2C) yout2(s, k, acc / float(n));
        else yout2(s, k, acc);
    }
}
