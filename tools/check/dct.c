/* Check cases: dct / dct2d, device vs the float64 reference (plain O(n^2)
 * sums in runtime/reference/dct.c).
 *
 * Tolerance: NMSE <= 1e-10. The FFT path's error grows like eps * log n and
 * the matrix path's like eps * sqrt(n) (fp32 sums of n terms): for n = 4096
 * that is ~1e-12 NMSE at worst, so 1e-10 leaves a margin of 100 and still
 * catches any wrong twiddle, index or scale (those give NMSE ~ 1).
 *
 * Every length of the brief (1, 2, 3, 7, 8, 16, 49, 97, 128, 768, 784, 1000,
 * 1024, 4096, and 11008 = 2^8 * 43 for the generic-radix pass) runs on both
 * axes, both norms and both types, and the device's three paths are forced in
 * turn (PRISM_FFT_PATH=smem|global, PRISM_FFT_SMEM=1|2, PRISM_TRANSFORM_MATRIX), so lavapipe
 * (32 KiB of shared memory, every length <= 8192 fits) also runs the
 * global-memory path that large lengths take elsewhere. Also: DCT-III(DCT-II)
 * round trips, 2-D, in place, batches that chunk, NaN isolation. */
#include <stdlib.h>
#include "transform_util.h"

typedef enum { PLAIN, ROUNDTRIP, TWO_D, IN_PLACE, NAN_ROW } dc_kind;
/* the case tables name the paths without the prefix */
#define PATH_AUTO PC_PATH_AUTO
#define PATH_SMEM PC_PATH_SMEM
#define PATH_GLOBAL PC_PATH_GLOBAL
#define PATH_MATRIX PC_PATH_MATRIX
#define PATH_HOLD PC_PATH_HOLD

typedef struct dc_case {
    dc_kind kind;
    prism_dct_type type;
    prism_dct_norm norm;
    prism_transform_axis axis;
    int64_t r, c;
    pc_fft_path path;
} dc_case;

/* Runs the case's op(s) on ctx; returns the output (malloc'd doubles). */
static double *run_on(pc_result *res, prism_context *ctx, const void *arg, const float *x, bool device) {
    const dc_case *c = arg;
    int64_t shape[2] = {c->r, c->c};
    pc_xf t;
    prism_status st = PRISM_ERR_INVALID_ARGUMENT;
    bool ok = pc_xf_open(&t, res, ctx, c->path, c->axis == PRISM_ALONG_ROWS ? c->c : c->r, c->kind == TWO_D ? c->r : 0,
                         shape, x, shape, c->kind == IN_PLACE, device);
    if (ok && c->kind == ROUNDTRIP) ok = (t.k = pc_tensor(res, ctx, 2, shape, NULL)) != NULL;
    if (ok && c->kind == TWO_D) st = prism_dct2d(t.s, t.p, t.p2, c->type, c->norm, t.x, t.y);
    else if (ok) st = prism_dct(t.s, t.p, c->type, c->norm, c->axis, t.x, t.y);
    if (st == PRISM_OK && c->kind == ROUNDTRIP) st = prism_dct(t.s, t.p, PRISM_DCT_III, c->norm, c->axis, t.y, t.k);
    return pc_xf_finish(&t, res, ctx, st, c->kind == ROUNDTRIP ? t.k : t.y);
}

static void dc_device(const pc_env *env, const void *arg, pc_result *r) {
    const dc_case *c = arg;
    int64_t total = c->r * c->c;
    bool rows = c->axis == PRISM_ALONG_ROWS;
    int64_t n = rows ? c->c : c->r;
    pc_xf_nan nan = {c->kind == NAN_ROW ? n : 0, 1, rows ? 1 : c->c}; /* sequence 0: its n outputs */
    pc_xf_compare(env, r, c, run_on, total, total, env->seed + (uint64_t)total, c->kind == ROUNDTRIP,
                  rows ? n / 2 : (n / 2) * c->c, &nan);
}

#define II PRISM_DCT_II
#define III PRISM_DCT_III
#define ORTHO PRISM_DCT_NORM_ORTHO
#define NONE PRISM_DCT_NORM_NONE
#define ROWS PRISM_ALONG_ROWS
#define COLS PRISM_ALONG_COLS

/* Per length: rows II ortho, rows III none, cols II none, cols III ortho
 * (auto path), plus a round trip per norm. */
#define LEN(id, n, b)                                                                                  \
    static const dc_case id##_r2o = {PLAIN, II, ORTHO, ROWS, b, n, PATH_AUTO},                          \
                         id##_r3n = {PLAIN, III, NONE, ROWS, b, n, PATH_AUTO},                          \
                         id##_c2n = {PLAIN, II, NONE, COLS, n, b, PATH_AUTO},                           \
                         id##_c3o = {PLAIN, III, ORTHO, COLS, n, b, PATH_AUTO},                         \
                         id##_rtn = {ROUNDTRIP, II, NONE, ROWS, b, n, PATH_AUTO},                       \
                         id##_rto = {ROUNDTRIP, II, ORTHO, COLS, n, b, PATH_AUTO};
#define LEN_ROWS(id, n, b)                                                                   \
    {"dct", "[" #b ", " #n "] rows, II ortho", "device", dc_device, &id##_r2o},               \
    {"dct", "[" #b ", " #n "] rows, III none", "device", dc_device, &id##_r3n},               \
    {"dct", "[" #n ", " #b "] cols, II none", "device", dc_device, &id##_c2n},                \
    {"dct", "[" #n ", " #b "] cols, III ortho", "device", dc_device, &id##_c3o},              \
    {"dct", "[" #b ", " #n "] rows, III(II(x)) = x none", "device", dc_device, &id##_rtn},    \
    {"dct", "[" #n ", " #b "] cols, III(II(x)) = x ortho", "device", dc_device, &id##_rto},

LEN(n1, 1, 3) LEN(n2, 2, 3) LEN(n3, 3, 5) LEN(n7, 7, 4) LEN(n8, 8, 3) LEN(n16, 16, 3) LEN(n49, 49, 3)
LEN(n97, 97, 3) LEN(n128, 128, 2) LEN(n768, 768, 2) LEN(n784, 784, 3) LEN(n1000, 1000, 2) LEN(n1024, 1024, 2)
LEN(n4096, 4096, 2)

/* forced paths: the global-memory Stockham passes, shared memory, the matrix */
static const dc_case g784 = {PLAIN, II, ORTHO, ROWS, 3, 784, PATH_GLOBAL},
                     g1000c = {PLAIN, III, NONE, COLS, 1000, 3, PATH_GLOBAL},
                     g4096 = {PLAIN, II, NONE, ROWS, 2, 4096, PATH_GLOBAL},
                     g4096c = {PLAIN, III, ORTHO, COLS, 4096, 3, PATH_GLOBAL},
                     g49 = {PLAIN, III, ORTHO, ROWS, 5, 49, PATH_GLOBAL},
                     g7 = {PLAIN, II, NONE, COLS, 7, 5, PATH_GLOBAL},
                     g768rt = {ROUNDTRIP, II, ORTHO, ROWS, 3, 768, PATH_GLOBAL},
                     s1024 = {PLAIN, II, ORTHO, COLS, 1024, 5, PATH_SMEM},
                     h1000 = {PLAIN, II, ORTHO, ROWS, 3, 1000, PATH_HOLD},
                     h784c = {PLAIN, III, NONE, COLS, 784, 3, PATH_HOLD},
                     h4096rt = {ROUNDTRIP, II, ORTHO, ROWS, 2, 4096, PATH_HOLD},
                     h12 = {PLAIN, III, ORTHO, ROWS, 333, 12, PATH_HOLD},
                     h86 = {PLAIN, II, NONE, ROWS, 3, 86, PATH_HOLD},
                     m16 = {PLAIN, II, ORTHO, ROWS, 4, 16, PATH_MATRIX},
                     m1000 = {PLAIN, III, NONE, COLS, 1000, 2, PATH_MATRIX},
                     m8rt = {ROUNDTRIP, II, NONE, COLS, 8, 6, PATH_MATRIX};
/* 11008 = 2^8 * 43: the prime 43 takes the output-driven generic pass */
static const dc_case big43 = {PLAIN, II, ORTHO, ROWS, 1, 11008, PATH_AUTO},
                     big43g = {ROUNDTRIP, II, NONE, ROWS, 1, 11008, PATH_GLOBAL},
                     p86 = {PLAIN, III, NONE, ROWS, 3, 86, PATH_AUTO};
/* batches: many short rows share a workgroup; odd counts; a batch that
 * leaves a partial last workgroup */
static const dc_case many8 = {PLAIN, II, ORTHO, ROWS, 1001, 8, PATH_AUTO},
                     many8c = {PLAIN, III, ORTHO, COLS, 8, 1001, PATH_AUTO},
                     many12 = {PLAIN, II, NONE, ROWS, 333, 12, PATH_GLOBAL};
/* 2-D, in place, NaN */
static const dc_case d2a = {TWO_D, II, ORTHO, ROWS, 16, 24, PATH_AUTO},
                     d2b = {TWO_D, III, NONE, ROWS, 49, 64, PATH_AUTO},
                     d2c = {TWO_D, II, NONE, ROWS, 97, 7, PATH_AUTO},
                     d2g = {TWO_D, III, ORTHO, ROWS, 30, 20, PATH_GLOBAL},
                     ip1 = {IN_PLACE, II, ORTHO, ROWS, 5, 1000, PATH_AUTO},
                     ip2 = {IN_PLACE, III, NONE, COLS, 97, 4, PATH_AUTO},
                     ip3 = {IN_PLACE, II, NONE, COLS, 784, 3, PATH_GLOBAL},
                     nan1 = {NAN_ROW, II, ORTHO, ROWS, 5, 784, PATH_AUTO},
                     nan2 = {NAN_ROW, III, NONE, COLS, 97, 4, PATH_AUTO},
                     nan3 = {NAN_ROW, II, NONE, ROWS, 4, 1024, PATH_GLOBAL};

/* fft_big forced (PRISM_FFT_BIG=1, read at record time) on small batches:
 * 1024 runs passes [32, 16] (DCT-II: the post-stage fused into the radix
 * 16), 96 a radix 16 with the load fused, then a radix 3; 5 rows leave a
 * partial last workgroup. */
static void dc_device_big(const pc_env *env, const void *arg, pc_result *r) {
    setenv("PRISM_FFT_BIG", "1", 1);
    dc_device(env, arg, r);
    unsetenv("PRISM_FFT_BIG");
}
static const dc_case b1024a = {PLAIN, II, ORTHO, ROWS, 5, 1024, PATH_AUTO},
                     b1024b = {PLAIN, III, NONE, ROWS, 5, 1024, PATH_AUTO},
                     b96a = {PLAIN, II, NONE, ROWS, 5, 96, PATH_AUTO};

const pc_case pc_cases_dct[] = {
    {"dct", "[5, 1024] rows, II ortho, fft_big", "device", dc_device_big, &b1024a},
    {"dct", "[5, 1024] rows, III none, fft_big", "device", dc_device_big, &b1024b},
    {"dct", "[5, 96] rows, II none, fft_big", "device", dc_device_big, &b96a},
    LEN_ROWS(n1, 1, 3) LEN_ROWS(n2, 2, 3) LEN_ROWS(n3, 3, 5) LEN_ROWS(n7, 7, 4) LEN_ROWS(n8, 8, 3)
    LEN_ROWS(n16, 16, 3) LEN_ROWS(n49, 49, 3) LEN_ROWS(n97, 97, 3) LEN_ROWS(n128, 128, 2)
    LEN_ROWS(n768, 768, 2) LEN_ROWS(n784, 784, 3) LEN_ROWS(n1000, 1000, 2) LEN_ROWS(n1024, 1024, 2)
    LEN_ROWS(n4096, 4096, 2)
    {"dct", "[3, 784] rows, II ortho, global path", "device", dc_device, &g784},
    {"dct", "[1000, 3] cols, III none, global path", "device", dc_device, &g1000c},
    {"dct", "[2, 4096] rows, II none, global path", "device", dc_device, &g4096},
    {"dct", "[4096, 3] cols, III ortho, global path", "device", dc_device, &g4096c},
    {"dct", "[5, 49] rows, III ortho, global path", "device", dc_device, &g49},
    {"dct", "[7, 5] cols, II none, global path", "device", dc_device, &g7},
    {"dct", "[3, 768] rows, III(II(x)) = x ortho, global path", "device", dc_device, &g768rt},
    {"dct", "[1024, 5] cols, II ortho, shared-memory path", "device", dc_device, &s1024},
    {"dct", "[3, 1000] rows, II ortho, one-buffer shared memory", "device", dc_device, &h1000},
    {"dct", "[784, 3] cols, III none, one-buffer shared memory", "device", dc_device, &h784c},
    {"dct", "[2, 4096] rows, III(II(x)) = x ortho, one-buffer shared memory", "device", dc_device, &h4096rt},
    {"dct", "[333, 12] rows, III ortho, one-buffer shared memory", "device", dc_device, &h12},
    {"dct", "[3, 86] rows, II none (radix 43), one-buffer shared memory", "device", dc_device, &h86},
    {"dct", "[4, 16] rows, II ortho, matrix path", "device", dc_device, &m16},
    {"dct", "[1000, 2] cols, III none, matrix path", "device", dc_device, &m1000},
    {"dct", "[8, 6] cols, III(II(x)) = x none, matrix path", "device", dc_device, &m8rt},
    {"dct", "[1, 11008] rows, II ortho (radix 43)", "device", dc_device, &big43},
    {"dct", "[1, 11008] rows, III(II(x)) = x none, global path (radix 43)", "device", dc_device, &big43g},
    {"dct", "[3, 86] rows, III none (radix 43, shared memory)", "device", dc_device, &p86},
    {"dct", "[1001, 8] rows, II ortho", "device", dc_device, &many8},
    {"dct", "[8, 1001] cols, III ortho", "device", dc_device, &many8c},
    {"dct", "[333, 12] rows, II none, global path", "device", dc_device, &many12},
    {"dct2d", "[16, 24] II ortho", "device", dc_device, &d2a},
    {"dct2d", "[49, 64] III none", "device", dc_device, &d2b},
    {"dct2d", "[97, 7] II none (matrix columns)", "device", dc_device, &d2c},
    {"dct2d", "[30, 20] III ortho, global path", "device", dc_device, &d2g},
    {"dct", "[5, 1000] rows, II ortho, in place", "device", dc_device, &ip1},
    {"dct", "[97, 4] cols, III none, in place (matrix)", "device", dc_device, &ip2},
    {"dct", "[784, 3] cols, II none, in place, global path", "device", dc_device, &ip3},
    {"dct", "[5, 784] rows, II ortho, NaN in row 0 stays there", "device", dc_device, &nan1},
    {"dct", "[97, 4] cols, III none, NaN in column 0 stays there", "device", dc_device, &nan2},
    {"dct", "[4, 1024] rows, II none, NaN in row 0, global path", "device", dc_device, &nan3},
};
const int pc_ncases_dct = (int)(sizeof pc_cases_dct / sizeof pc_cases_dct[0]);
