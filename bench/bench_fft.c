/* Bench rows: real / complex FFTs (prism_rfft, prism_irfft, prism_fft_c2c,
 * prism_ifft2_real), rfft against VkFFT's R2C on the same device in the same
 * run when the VkFFT peer is built (bench/vkfft/).
 *
 * Shapes (quick mode in brackets): rows of [4096, 1024] ([512, 1024]) for
 * the 1-D rows, [1024, 1024] ([256, 256]) for ifft2_real. GFLOP/s use the FFT
 * convention 2.5 n log2 n per real transform of length n (5 n log2 n
 * complex); bytes are the minimum traffic (read input + write output once). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "transform_util.h"

typedef enum { RFFT, IRFFT, C2C, IFFT2 } kind;
typedef struct job {
    kind k;
    prism_fft_plan *p, *p2;
    prism_tensor *x, *y, *w;
    int64_t r, c;
} job;

static prism_status setup(pb_env *env, job *j, kind k, int64_t r, int64_t c) {
    memset(j, 0, sizeof *j);
    j->k = k, j->r = r, j->c = c;
    int64_t K = c / 2 + 1;
    int64_t xs[2] = {r, k == IRFFT ? 2 * K : k == C2C ? 2 * c : c};
    int64_t ys[2] = {r, k == RFFT ? 2 * K : k == C2C ? 2 * c : c};
    int64_t nw = 2 * r * c;
    prism_stream *s = NULL;
    prism_status st = prism_fft_plan_create(env->ctx, c, PRISM_TRANSFORM_AUTO, &j->p);
    if (!st && k == IFFT2) st = prism_fft_plan_create(env->ctx, r, PRISM_TRANSFORM_AUTO, &j->p2);
    if (!st) st = prism_tensor_create(env->ctx, 2, xs, &j->x);
    if (!st) st = prism_tensor_create(env->ctx, 2, ys, &j->y);
    if (!st && k == IFFT2) st = prism_tensor_create(env->ctx, 1, &nw, &j->w);
    if (!st) st = prism_stream_create(env->ctx, &s);
    if (!st) st = prism_rng_uniform(s, 9, 0, -1.0f, 1.0f, j->x);
    if (!st) st = prism_fill(s, j->y, 0.0f);
    if (!st) st = prism_stream_run(s);
    prism_stream_destroy(s);
    return st;
}

static void teardown(job *j) {
    prism_tensor_destroy(j->x);
    prism_tensor_destroy(j->y);
    prism_tensor_destroy(j->w);
    prism_fft_plan_destroy(j->p);
    prism_fft_plan_destroy(j->p2);
}

static prism_status rec(prism_stream *s, void *arg) {
    job *j = arg;
    switch (j->k) {
    case RFFT: return prism_rfft(s, j->p, PRISM_ALONG_ROWS, j->x, j->y);
    case IRFFT: return prism_irfft(s, j->p, PRISM_ALONG_ROWS, j->x, j->y);
    case C2C: return prism_fft_c2c(s, j->p, PRISM_ALONG_ROWS, 0, j->x, j->y);
    default: return prism_ifft2_real(s, j->p, j->p2, j->x, j->w, j->y);
    }
}

static void fill(pb_env *env, pb_row *row, const char *name, const void *arg, double ms) {
    const job *j = arg;
    memset(row, 0, sizeof *row);
    snprintf(row->name, sizeof row->name, "%s", name);
    snprintf(row->shape, sizeof row->shape, "[%lld, %lld]", (long long)j->r, (long long)j->c);
    row->ms = ms;
    double n = (double)j->c, rows = (double)j->r;
    double fl = j->k == C2C ? 5.0 * n * log2(n) * rows
              : j->k == IFFT2 ? 5.0 * n * rows * log2(n * rows) : 2.5 * n * log2(n) * rows;
    double bytes = j->k == C2C ? 16.0 * n * rows : j->k == IFFT2 ? 24.0 * n * rows : 4.0 * rows * (n + 2 * (n / 2 + 1));
    row->gflops = fl / (ms * 1e-3) / 1e9;
    pb_set_bw(env, row, bytes);
}

/* One prism row (+ its VkFFT R2C peer row when the peer is built and `peer`). */
static int one(pb_env *env, pb_row *rows, int cap, const char *name, kind k, int64_t r, int64_t c, int peer) {
    if (cap < 2) return 0;
    job j;
    int added = -1;
    if (setup(env, &j, k, r, c) == PRISM_OK) {
        pbt_pair p = {.name = name, .rec = rec, .job = &j, .plan = j.p, .fill = fill,
                      .peer_name = peer ? "rfft rows VkFFT" : NULL, .peer_note = "performR2C, in place",
                      .peer = PRISM_VKFFT_R2C_ROWS, .r = r, .c = c};
        added = pbt_rows(env, rows, &p);
    }
    teardown(&j);
    return added;
}

static int b_rfft(pb_env *env, pb_row *rows, int cap) {
    return one(env, rows, cap, "rfft rows", RFFT, env->quick ? 512 : 4096, 1024, 1);
}
static int b_irfft(pb_env *env, pb_row *rows, int cap) {
    return one(env, rows, cap, "irfft rows", IRFFT, env->quick ? 512 : 4096, 1024, 0);
}
static int b_c2c(pb_env *env, pb_row *rows, int cap) {
    return one(env, rows, cap, "fft_c2c rows", C2C, env->quick ? 512 : 4096, 1024, 0);
}
static int b_ifft2(pb_env *env, pb_row *rows, int cap) {
    int64_t n = env->quick ? 256 : 1024;
    return one(env, rows, cap, "ifft2_real", IFFT2, n, n, 0);
}

const pb_bench pb_benches_fft[] = {
    {"fft", "rfft_rows", b_rfft},
    {"fft", "irfft_rows", b_irfft},
    {"fft", "c2c_rows", b_c2c},
    {"fft", "ifft2_real", b_ifft2},
};
const int pb_nbenches_fft = (int)(sizeof pb_benches_fft / sizeof pb_benches_fft[0]);
