/* Bench rows: the hadamard family (HUT / HiRA).
 *
 *   hadamard_merge  W = W0 (.) (1 + s B A). Minimum bytes = read W0 + write W
 *                   (+ B and A, small); flops 2 r m n + 2 m n. Memory bound
 *                   for small r, so the headline is GB/s against the copy
 *                   bandwidth measured in the same run.
 *   hadamard_grad   dA = s B^T (W0 (.) G), dB = s (W0 (.) G) A^T, M never
 *                   stored. Minimum bytes = read W0 + G once (+ small); the
 *                   implementation streams them twice (one kernel per
 *                   output), so its best possible ratio is ~0.5 of copy bw.
 *                   flops 4 r m n + m n. Rows for dA only / dB only show the
 *                   two kernels separately.
 * Shapes: m = n = 4096 and 1024 at r = 8, plus r = 32 (HF HiRA's default);
 * quick mode 512 and 256. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#include "prism/hadamard.h"

typedef struct hd_bench {
    prism_tensor *w0, *g, *b, *a, *w, *da, *db, *work;
    int64_t m, n, r;
    int which; /* grad: 0 both, 1 dA only, 2 dB only */
} hd_bench;

static void hb_destroy(hd_bench *h) {
    prism_tensor *all[] = {h->w0, h->g, h->b, h->a, h->w, h->da, h->db, h->work};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_destroy(all[i]);
    memset(h, 0, sizeof *h);
}

/* Every tensor written once (untouched memory reads the zero page on CPU
 * devices), with values that keep the results finite. */
static prism_status hb_make(pb_env *env, int64_t m, int64_t n, int64_t r, hd_bench *h) {
    memset(h, 0, sizeof *h);
    h->m = m, h->n = n, h->r = r;
    int64_t smn[2] = {m, n}, smr[2] = {m, r}, srn[2] = {r, n};
    int64_t nw = prism_hadamard_grad_workspace(env->ctx, m, n, r);
    prism_stream *s = NULL;
    prism_status st = prism_tensor_create(env->ctx, 2, smn, &h->w0);
    if (!st) st = prism_tensor_create(env->ctx, 2, smn, &h->g);
    if (!st) st = prism_tensor_create(env->ctx, 2, smn, &h->w);
    if (!st) st = prism_tensor_create(env->ctx, 2, smr, &h->b);
    if (!st) st = prism_tensor_create(env->ctx, 2, smr, &h->db);
    if (!st) st = prism_tensor_create(env->ctx, 2, srn, &h->a);
    if (!st) st = prism_tensor_create(env->ctx, 2, srn, &h->da);
    if (!st && nw > 0) st = prism_tensor_create(env->ctx, 1, &nw, &h->work);
    if (!st) st = prism_stream_create(env->ctx, &s);
    if (!st) st = prism_rng_uniform(s, 1, 0, -1.0f, 1.0f, h->w0);
    if (!st) st = prism_rng_uniform(s, 2, 0, -1.0f, 1.0f, h->g);
    if (!st) st = prism_rng_uniform(s, 3, 0, -0.1f, 0.1f, h->b);
    if (!st) st = prism_rng_uniform(s, 4, 0, -0.1f, 0.1f, h->a);
    if (!st) st = prism_fill(s, h->w, 0.0f);
    if (!st) st = prism_fill(s, h->da, 0.0f);
    if (!st) st = prism_fill(s, h->db, 0.0f);
    if (!st && h->work) st = prism_fill(s, h->work, 0.0f);
    if (!st) st = prism_stream_run(s);
    prism_stream_destroy(s);
    return st;
}

static prism_status rec_merge(prism_stream *s, void *arg) {
    hd_bench *h = arg;
    return prism_hadamard_merge(s, h->w0, h->b, h->a, 1.0f, h->w);
}

static prism_status rec_grad(prism_stream *s, void *arg) {
    hd_bench *h = arg;
    return prism_hadamard_grad(s, h->w0, h->g, h->b, h->a, 1.0f, 0.0f, h->which == 2 ? NULL : h->da,
                               h->which == 1 ? NULL : h->db, h->which == 2 ? NULL : h->work);
}

typedef struct cfg { int64_t m, n, r; } cfg;

static int run_rows(pb_env *env, pb_row *rows, int cap, bool grad) {
    static const cfg full[] = {{4096, 4096, 8}, {1024, 1024, 8}, {4096, 4096, 32}};
    static const cfg quick[] = {{512, 512, 8}, {256, 256, 8}, {512, 512, 32}};
    const cfg *cf = env->quick ? quick : full;
    int added = 0;
    for (int i = 0; i < 3 && added < cap; i++) {
        hd_bench h;
        if (hb_make(env, cf[i].m, cf[i].n, cf[i].r, &h) != PRISM_OK) {
            hb_destroy(&h);
            return added ? added : -1;
        }
        double mn = (double)(h.m * h.n), small = 4.0 * (double)(h.m * h.r + h.r * h.n);
        int variants = grad && i == 0 ? 3 : 1; /* dA-only / dB-only rows at the largest r = 8 shape */
        for (int v = 0; v < variants && added < cap; v++) {
            h.which = v;
            pb_row *r = &rows[added++];
            memset(r, 0, sizeof *r);
            snprintf(r->name, sizeof r->name, "%s r=%lld", grad ? (v == 0 ? "hadamard_grad" : v == 1 ? "hadamard_grad dA" : "hadamard_grad dB") : "hadamard_merge",
                     (long long)h.r);
            snprintf(r->shape, sizeof r->shape, "[%lld, %lld]", (long long)h.m, (long long)h.n);
            double ms = pb_time(env, grad ? rec_grad : rec_merge, &h);
            if (ms < 0) {
                snprintf(r->note, sizeof r->note, "failed: %s", prism_error_message(env->ctx));
                continue;
            }
            r->ms = ms;
            double flops = grad ? (v == 0 ? 4.0 : 2.0) * (double)h.r * mn + mn : 2.0 * (double)h.r * mn + 2.0 * mn;
            r->gflops = flops / (ms * 1e6);
            pb_set_bw(env, r, 8.0 * mn + small);
            snprintf(r->note, sizeof r->note, "%s",
                     grad ? (v == 0 ? "floor = read W0+G once; streams them twice (dB, dA kernels)"
                                    : "one kernel; floor = read W0+G")
                          : "one pass; floor = read W0 + write W");
        }
        hb_destroy(&h);
    }
    return added;
}

static int bench_merge(pb_env *env, pb_row *rows, int cap) { return run_rows(env, rows, cap, false); }
static int bench_grad(pb_env *env, pb_row *rows, int cap) { return run_rows(env, rows, cap, true); }

const pb_bench pb_benches_hadamard[] = {
    {"hadamard", "hadamard_merge", bench_merge},
    {"hadamard", "hadamard_grad", bench_grad},
};
const int pb_nbenches_hadamard = (int)(sizeof pb_benches_hadamard / sizeof pb_benches_hadamard[0]);
