/* Bench rows: DCT-II (prism_dct / prism_dct2d), against VkFFT's DCT-II on the
 * same device in the same run when the VkFFT peer is built (bench/vkfft/),
 * plus the matrix path and the two ways of transforming columns.
 *
 * Shapes (quick mode in brackets): rows of [4096, 1024] ([512, 1024]), 2-D
 * 1024^2 and 4096^2 (256^2, 512^2). GFLOP/s use the usual FFT convention
 * 2.5 n log2 n flops per real transform of length n (2-D: 2.5 RC log2(RC));
 * bytes are the minimum traffic, read + write every element once per pass
 * (one pass for rows, two for 2-D). A prism row's ratio is VkFFT's time over
 * prism's (> 1: prism faster) when the peer ran, else its bandwidth over the
 * copy bandwidth. VkFFT rows: norm `none` equals VkFFT's unnormalised DCT-II
 * (FFTW REDFT10 scaling), so both compute the same numbers. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "transform_util.h"

typedef struct job {
    prism_fft_plan *pr, *pc;   /* rows (length C), columns (length R) */
    prism_tensor *x, *y, *t1, *t2;
    int64_t r, c;
    int what;                  /* 0 rows, 1 2-D, 2 cols strided, 3 cols via transpose */
} job;

static prism_status setup(pb_env *env, job *j, int64_t r, int64_t c, int what, prism_transform_algo algo) {
    memset(j, 0, sizeof *j);
    j->r = r, j->c = c, j->what = what;
    int64_t s[2] = {r, c}, st2[2] = {c, r};
    prism_stream *s0 = NULL;
    prism_status st = prism_fft_plan_create(env->ctx, c, algo, &j->pr);
    if (!st) st = prism_fft_plan_create(env->ctx, r, algo, &j->pc);
    if (!st) st = prism_tensor_create(env->ctx, 2, s, &j->x);
    if (!st) st = prism_tensor_create(env->ctx, 2, s, &j->y);
    if (!st && what == 3) st = prism_tensor_create(env->ctx, 2, st2, &j->t1);
    if (!st && what == 3) st = prism_tensor_create(env->ctx, 2, st2, &j->t2);
    if (!st) st = prism_stream_create(env->ctx, &s0);
    if (!st) st = prism_rng_uniform(s0, 7, 0, -1.0f, 1.0f, j->x); /* every page written */
    if (!st) st = prism_fill(s0, j->y, 0.0f);
    if (!st) st = prism_stream_run(s0);
    prism_stream_destroy(s0);
    return st;
}

static void teardown(job *j) {
    prism_tensor_destroy(j->x);
    prism_tensor_destroy(j->y);
    prism_tensor_destroy(j->t1);
    prism_tensor_destroy(j->t2);
    prism_fft_plan_destroy(j->pr);
    prism_fft_plan_destroy(j->pc);
}

static prism_status rec(prism_stream *s, void *arg) {
    job *j = arg;
    const prism_dct_type II = PRISM_DCT_II;
    const prism_dct_norm N = PRISM_DCT_NORM_NONE;
    switch (j->what) {
    case 0: return prism_dct(s, j->pr, II, N, PRISM_ALONG_ROWS, j->x, j->y);
    case 1: return prism_dct2d(s, j->pr, j->pc, II, N, j->x, j->y);
    case 2: return prism_dct(s, j->pc, II, N, PRISM_ALONG_COLS, j->x, j->y);
    default: {
        prism_status st = prism_transpose(s, j->x, j->t1);
        if (!st) st = prism_dct(s, j->pc, II, N, PRISM_ALONG_ROWS, j->t1, j->t2);
        if (!st) st = prism_transpose(s, j->t2, j->y);
        return st;
    }
    }
}

static double flops(int64_t r, int64_t c, int what) {
    double n = what == 1 ? (double)(r * c) : (double)(what == 0 ? c : r);
    double count = what == 1 ? 1 : (double)(what == 0 ? r : c);
    return 2.5 * n * log2(n > 1 ? n : 2) * count;
}

static void fill_row(pb_env *env, pb_row *row, const char *name, const void *arg, double ms) {
    const job *j = arg;
    memset(row, 0, sizeof *row);
    snprintf(row->name, sizeof row->name, "%s", name);
    snprintf(row->shape, sizeof row->shape, "[%lld, %lld]", (long long)j->r, (long long)j->c);
    row->ms = ms;
    row->gflops = flops(j->r, j->c, j->what) / (ms * 1e-3) / 1e9;
    pb_set_bw(env, row, (j->what == 1 ? 16.0 : 8.0) * (double)(j->r * j->c));
}

/* One prism row (+ its VkFFT peer row when the peer is built and `peer`). */
static int pair_rows(pb_env *env, pb_row *rows, int cap, const char *name, int64_t r, int64_t c, int what,
                     prism_transform_algo algo, int peer) {
    if (cap < 2) return 0;
    job j;
    int added = -1;
    if (setup(env, &j, r, c, what, algo) == PRISM_OK) {
        pbt_pair p = {.name = name, .note = ", norm none", .rec = rec, .job = &j, .plan = j.pr, .fill = fill_row,
                      .peer_name = peer ? (what == 1 ? "dct2d VkFFT" : "dct2 rows VkFFT") : NULL,
                      .peer_note = "performDCT=2", .peer = what == 1 ? PRISM_VKFFT_DCT2_2D : PRISM_VKFFT_DCT2_ROWS,
                      .r = r, .c = c};
        added = pbt_rows(env, rows, &p);
    }
    teardown(&j);
    return added;
}

static int b_rows(pb_env *env, pb_row *rows, int cap) {
    return pair_rows(env, rows, cap, "dct2 rows", env->quick ? 512 : 4096, 1024, 0, PRISM_TRANSFORM_AUTO, 1);
}
static int b_2d_1k(pb_env *env, pb_row *rows, int cap) {
    int64_t n = env->quick ? 256 : 1024;
    return pair_rows(env, rows, cap, "dct2d", n, n, 1, PRISM_TRANSFORM_AUTO, 1);
}
static int b_2d_4k(pb_env *env, pb_row *rows, int cap) {
    int64_t n = env->quick ? 512 : 4096;
    return pair_rows(env, rows, cap, "dct2d", n, n, 1, PRISM_TRANSFORM_AUTO, 1);
}
static int b_cols(pb_env *env, pb_row *rows, int cap) {
    int64_t n = env->quick ? 512 : 4096;
    int a = pair_rows(env, rows, cap, "dct2 cols (strided kernel)", n, n, 2, PRISM_TRANSFORM_AUTO, 0);
    if (a < 1) return a;
    int b = pair_rows(env, rows + a, cap - a, "dct2 cols (transpose+rows+transpose)", n, n, 3, PRISM_TRANSFORM_AUTO, 0);
    return b < 0 ? a : a + b;
}
static int b_matrix(pb_env *env, pb_row *rows, int cap) {
    return pair_rows(env, rows, cap, "dct2 rows (matrix path)", env->quick ? 64 : 256, 1024, 0,
                     PRISM_TRANSFORM_MATRIX, 0);
}

const pb_bench pb_benches_dct[] = {
    {"dct", "dct2_rows", b_rows},
    {"dct", "dct2d_1k", b_2d_1k},
    {"dct", "dct2d_4k", b_2d_4k},
    {"dct", "dct2_cols", b_cols},
    {"dct", "dct2_matrix", b_matrix},
};
const int pb_nbenches_dct = (int)(sizeof pb_benches_dct / sizeof pb_benches_dct[0]);
