/* Check cases: rfft / irfft / fft_c2c / ifft2_real, device vs the float64
 * reference (plain O(n^2) DFT sums in runtime/reference/fft.c).
 *
 * Tolerance: NMSE <= 1e-10, as for the dct (fp32 FFT error ~ eps log n,
 * matrix path ~ eps sqrt(n); any wrong index or scale gives NMSE ~ 1).
 * irfft inputs are random complex values including non-zero imaginary parts
 * at DC and Nyquist, which torch (and prism) ignore. Lengths: those of the
 * brief on both axes, the global-memory and matrix paths forced on some,
 * rfft -> irfft round trips, in place, NaN isolation. */
#include <stdlib.h>
#include "transform_util.h"

typedef enum { RFFT, IRFFT, C2C, IC2C, ROUNDTRIP, IFFT2, C2C_IN_PLACE, RFFT_NAN } fc_op;
/* the case tables name the paths without the prefix */
#define PATH_AUTO PC_PATH_AUTO
#define PATH_GLOBAL PC_PATH_GLOBAL
#define PATH_MATRIX PC_PATH_MATRIX
#define PATH_HOLD PC_PATH_HOLD

typedef struct fc_case {
    fc_op op;
    prism_transform_axis axis;
    int64_t n, b; /* length, batch (IFFT2: rows n, cols b) */
    pc_fft_path path;
} fc_case;

/* Shapes [rows, cols] of input and output. */
static void shapes(const fc_case *c, int64_t xs[2], int64_t ys[2]) {
    int64_t n = c->n, b = c->b, K = n / 2 + 1;
    bool rows = c->axis == PRISM_ALONG_ROWS;
    switch (c->op) {
    case RFFT:
    case RFFT_NAN:
        xs[0] = rows ? b : n, xs[1] = rows ? n : b;
        ys[0] = rows ? b : K, ys[1] = rows ? 2 * K : 2 * b;
        break;
    case IRFFT:
        xs[0] = rows ? b : K, xs[1] = rows ? 2 * K : 2 * b;
        ys[0] = rows ? b : n, ys[1] = rows ? n : b;
        break;
    case ROUNDTRIP:
    case IFFT2:
        xs[0] = ys[0] = rows ? b : n, xs[1] = ys[1] = rows ? n : b;
        if (c->op == IFFT2) xs[0] = ys[0] = n, xs[1] = ys[1] = b;
        break;
    default:
        xs[0] = ys[0] = rows ? b : n, xs[1] = ys[1] = rows ? 2 * n : 2 * b;
    }
}

static double *run_on(pc_result *res, prism_context *ctx, const void *arg, const float *x, bool device) {
    const fc_case *c = arg;
    int64_t xs[2], ys[2], K = c->n / 2 + 1;
    bool rows = c->axis == PRISM_ALONG_ROWS;
    shapes(c, xs, ys);
    pc_xf t;
    bool ok = pc_xf_open(&t, res, ctx, c->path, c->n, c->op == IFFT2 ? c->b : 0, xs, x, ys, c->op == C2C_IN_PLACE,
                         device);
    if (ok && c->op == ROUNDTRIP) {
        int64_t ks[2] = {rows ? c->b : K, rows ? 2 * K : 2 * c->b};
        ok = (t.k = pc_tensor(res, ctx, 2, ks, NULL)) != NULL;
    } else if (ok && c->op == IFFT2) {
        int64_t w = 2 * c->n * c->b + 6; /* a little more than needed is fine */
        ok = (t.k = pc_tensor(res, ctx, 1, &w, NULL)) != NULL;
    }
    if (!ok) return pc_xf_finish(&t, res, ctx, PRISM_ERR_INVALID_ARGUMENT, t.y);
    prism_status st;
    switch (c->op) {
    case RFFT:
    case RFFT_NAN: st = prism_rfft(t.s, t.p, c->axis, t.x, t.y); break;
    case IRFFT: st = prism_irfft(t.s, t.p, c->axis, t.x, t.y); break;
    case ROUNDTRIP:
        st = prism_rfft(t.s, t.p, c->axis, t.x, t.k);
        if (!st) st = prism_irfft(t.s, t.p, c->axis, t.k, t.y);
        break;
    case IFFT2: st = prism_ifft2_real(t.s, t.p2, t.p, t.x, t.k, t.y); break;
    default: st = prism_fft_c2c(t.s, t.p, c->axis, c->op == IC2C, t.x, t.y);
    }
    return pc_xf_finish(&t, res, ctx, st, t.y);
}

static void fc_device(const pc_env *env, const void *arg, pc_result *r) {
    const fc_case *c = arg;
    int64_t xs[2], ys[2];
    shapes(c, xs, ys);
    int64_t nx = xs[0] * xs[1], ny = ys[0] * ys[1];
    bool rows = c->axis == PRISM_ALONG_ROWS;
    /* sequence 0 is NaN everywhere, imaginary parts of X_0 (and X_{n/2}) too
     * (0 * NaN); the others must stay exact */
    pc_xf_nan nan = {c->op == RFFT_NAN ? 2 * (c->n / 2 + 1) : 0, 2, rows ? 2 : 2 * c->b};
    pc_xf_compare(env, r, c, run_on, nx, ny, env->seed + (uint64_t)nx + (uint64_t)c->op, c->op == ROUNDTRIP,
                  rows ? c->n / 3 : (c->n / 3) * c->b, &nan);
}

#define ROWS PRISM_ALONG_ROWS
#define COLS PRISM_ALONG_COLS
#define LEN(id, n, b)                                                                                   \
    static const fc_case id##_rr = {RFFT, ROWS, n, b, PATH_AUTO}, id##_rc = {RFFT, COLS, n, b, PATH_AUTO}, \
                         id##_ir = {IRFFT, ROWS, n, b, PATH_AUTO}, id##_ic = {IRFFT, COLS, n, b, PATH_AUTO}, \
                         id##_cr = {C2C, ROWS, n, b, PATH_AUTO}, id##_cc = {IC2C, COLS, n, b, PATH_AUTO},    \
                         id##_rt = {ROUNDTRIP, ROWS, n, b, PATH_AUTO};
#define LEN_ROWS(id, n, b)                                                                        \
    {"rfft", "[" #b ", " #n "] rows", "device", fc_device, &id##_rr},                             \
    {"rfft", "[" #n ", " #b "] cols", "device", fc_device, &id##_rc},                             \
    {"irfft", "n = " #n ", " #b " rows", "device", fc_device, &id##_ir},                          \
    {"irfft", "n = " #n ", " #b " cols", "device", fc_device, &id##_ic},                          \
    {"fft_c2c", "[" #b ", 2*" #n "] rows, forward", "device", fc_device, &id##_cr},               \
    {"fft_c2c", "[" #n ", 2*" #b "] cols, inverse", "device", fc_device, &id##_cc},               \
    {"irfft", "[" #b ", " #n "] rows, irfft(rfft(x)) = x", "device", fc_device, &id##_rt},

LEN(n1, 1, 3) LEN(n2, 2, 3) LEN(n3, 3, 4) LEN(n7, 7, 3) LEN(n8, 8, 3) LEN(n16, 16, 3) LEN(n49, 49, 3)
LEN(n97, 97, 2) LEN(n128, 128, 2) LEN(n768, 768, 2) LEN(n784, 784, 3) LEN(n1000, 1000, 2) LEN(n1024, 1024, 2)
LEN(n4096, 4096, 2)

static const fc_case g784r = {RFFT, ROWS, 784, 3, PATH_GLOBAL}, g1000i = {IRFFT, COLS, 1000, 3, PATH_GLOBAL},
                     g4096c = {C2C, COLS, 4096, 2, PATH_GLOBAL}, g49i = {IC2C, ROWS, 49, 5, PATH_GLOBAL},
                     g7r = {RFFT, COLS, 7, 4, PATH_GLOBAL}, g768rt = {ROUNDTRIP, ROWS, 768, 3, PATH_GLOBAL},
                     g86 = {IRFFT, ROWS, 86, 3, PATH_GLOBAL},
                     m16 = {IRFFT, ROWS, 16, 3, PATH_MATRIX}, m1000 = {RFFT, COLS, 1000, 2, PATH_MATRIX},
                     m8 = {IC2C, ROWS, 8, 3, PATH_MATRIX},
                     h1000 = {RFFT, ROWS, 1000, 3, PATH_HOLD}, h768i = {IRFFT, COLS, 768, 3, PATH_HOLD},
                     h49c = {C2C, ROWS, 49, 4, PATH_HOLD},
                     ip1 = {C2C_IN_PLACE, ROWS, 1000, 3, PATH_AUTO}, ip2 = {C2C_IN_PLACE, COLS, 97, 3, PATH_AUTO},
                     ip3 = {C2C_IN_PLACE, COLS, 768, 2, PATH_GLOBAL},
                     f2a = {IFFT2, ROWS, 24, 16, PATH_AUTO}, f2b = {IFFT2, ROWS, 768, 97, PATH_AUTO},
                     f2c = {IFFT2, ROWS, 49, 30, PATH_GLOBAL},
                     many = {RFFT, ROWS, 8, 1001, PATH_AUTO}, manyc = {IRFFT, COLS, 12, 333, PATH_AUTO},
                     nan1 = {RFFT_NAN, ROWS, 784, 4, PATH_AUTO}, nan2 = {RFFT_NAN, COLS, 97, 3, PATH_AUTO},
                     nan3 = {RFFT_NAN, ROWS, 1024, 3, PATH_GLOBAL};

/* fft_big forced (PRISM_FFT_BIG=1, read at record time) on small batches:
 * 1024 runs radix-32 passes (rfft / irfft: [32, 16], the rfft post-stage
 * fused into the radix 16; c2c: [32, 32]), 96 a radix 16 or 32 with the
 * load fused, then a radix 3 (c2c); 5 rows leave a partial last workgroup. */
static void fc_device_big(const pc_env *env, const void *arg, pc_result *r) {
    setenv("PRISM_FFT_BIG", "1", 1);
    fc_device(env, arg, r);
    unsetenv("PRISM_FFT_BIG");
}
static const fc_case b1024r = {RFFT, ROWS, 1024, 5, PATH_AUTO}, b1024i = {IRFFT, ROWS, 1024, 5, PATH_AUTO},
                     b1024c = {IC2C, ROWS, 1024, 3, PATH_AUTO},
                     b96c = {C2C, ROWS, 96, 5, PATH_AUTO};

const pc_case pc_cases_fft[] = {
    {"rfft", "[5, 1024] rows, fft_big", "device", fc_device_big, &b1024r},
    {"irfft", "n = 1024, 5 rows, fft_big", "device", fc_device_big, &b1024i},
    {"fft_c2c", "[3, 2*1024] rows, inverse, fft_big", "device", fc_device_big, &b1024c},
    {"fft_c2c", "[5, 2*96] rows, forward, fft_big", "device", fc_device_big, &b96c},
    LEN_ROWS(n1, 1, 3) LEN_ROWS(n2, 2, 3) LEN_ROWS(n3, 3, 4) LEN_ROWS(n7, 7, 3) LEN_ROWS(n8, 8, 3)
    LEN_ROWS(n16, 16, 3) LEN_ROWS(n49, 49, 3) LEN_ROWS(n97, 97, 2) LEN_ROWS(n128, 128, 2)
    LEN_ROWS(n768, 768, 2) LEN_ROWS(n784, 784, 3) LEN_ROWS(n1000, 1000, 2) LEN_ROWS(n1024, 1024, 2)
    LEN_ROWS(n4096, 4096, 2)
    {"rfft", "[3, 784] rows, global path", "device", fc_device, &g784r},
    {"irfft", "n = 1000, 3 cols, global path", "device", fc_device, &g1000i},
    {"fft_c2c", "[4096, 2*2] cols, forward, global path", "device", fc_device, &g4096c},
    {"fft_c2c", "[5, 2*49] rows, inverse, global path", "device", fc_device, &g49i},
    {"rfft", "[7, 4] cols, global path", "device", fc_device, &g7r},
    {"irfft", "[3, 768] rows, irfft(rfft(x)) = x, global path", "device", fc_device, &g768rt},
    {"irfft", "n = 86 (radix 43), 3 rows, global path", "device", fc_device, &g86},
    {"irfft", "n = 16, 3 rows, matrix path", "device", fc_device, &m16},
    {"rfft", "[1000, 2] cols, matrix path", "device", fc_device, &m1000},
    {"fft_c2c", "[3, 2*8] rows, inverse, matrix path", "device", fc_device, &m8},
    {"rfft", "[3, 1000] rows, one-buffer shared memory", "device", fc_device, &h1000},
    {"irfft", "n = 768, 3 cols, one-buffer shared memory", "device", fc_device, &h768i},
    {"fft_c2c", "[4, 2*49] rows, forward, one-buffer shared memory", "device", fc_device, &h49c},
    {"fft_c2c", "[3, 2*1000] rows, forward, in place", "device", fc_device, &ip1},
    {"fft_c2c", "[97, 2*3] cols, forward, in place (matrix)", "device", fc_device, &ip2},
    {"fft_c2c", "[768, 2*2] cols, forward, in place, global path", "device", fc_device, &ip3},
    {"ifft2_real", "[24, 16]", "device", fc_device, &f2a},
    {"ifft2_real", "[768, 97] (matrix rows)", "device", fc_device, &f2b},
    {"ifft2_real", "[49, 30], global path", "device", fc_device, &f2c},
    {"rfft", "[1001, 8] rows", "device", fc_device, &many},
    {"irfft", "n = 12, 333 cols", "device", fc_device, &manyc},
    {"rfft", "[4, 784] rows, NaN in row 0 stays there", "device", fc_device, &nan1},
    {"rfft", "[97, 3] cols, NaN in column 0 stays there", "device", fc_device, &nan2},
    {"rfft", "[3, 1024] rows, NaN in row 0, global path", "device", fc_device, &nan3},
};
const int pc_ncases_fft = (int)(sizeof pc_cases_fft / sizeof pc_cases_fft[0]);
