/* Benchmark rows: gemm per variant (PRISM_GEMM forced per row) and transpose
 * pair. Shapes are written M x K x N (C = [M, N], inner dim K). FLOPs are
 * 2 M N K; the byte floor is one pass over A, B and C. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

typedef struct gemm_bench_arg {
    int ta, tb;
    prism_tensor *a, *b, *c;
} gemm_bench_arg;

static prism_status rec_gemm(prism_stream *s, void *p) {
    gemm_bench_arg *g = p;
    return prism_gemm(s, g->ta, g->tb, 1.0f, g->a, g->b, 0.0f, g->c);
}

typedef struct shape { int64_t m, k, n; int ta, tb; } shape;

static int fill(prism_context *ctx, prism_tensor *t) {
    int64_t n = prism_tensor_numel(t);
    float *h = malloc((size_t)n * sizeof *h);
    if (!h) return -1;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int64_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        h[i] = (float)((double)(x >> 11) / 9007199254740992.0) - 0.5f;
    }
    prism_status st = prism_tensor_upload(t, h, n);
    free(h);
    (void)ctx;
    return st == PRISM_OK ? 0 : -1;
}

static int bench_gemm(pb_env *env, pb_row *rows, int cap) {
    static const shape full[] = {{2048, 2048, 2048, 0, 0}, {2048, 2048, 2048, 0, 1}, {2048, 2048, 2048, 1, 0},
                                 {4096, 512, 4096, 0, 0}, {4096, 512, 4096, 0, 1}};
    static const shape quick[] = {{256, 256, 256, 0, 0}, {256, 256, 256, 0, 1}, {256, 256, 256, 1, 0},
                                  {512, 64, 512, 0, 0}};
    const shape *sh = env->quick ? quick : full;
    int nsh = env->quick ? 4 : 5, n = 0;
    const char *variants[2] = {"reg", "smem"};
    char *old = getenv("PRISM_GEMM") ? strdup(getenv("PRISM_GEMM")) : NULL;
    for (int i = 0; i < nsh && n < cap; i++) {
        const shape *s = &sh[i];
        int64_t da[2] = {s->ta ? s->k : s->m, s->ta ? s->m : s->k};
        int64_t db[2] = {s->tb ? s->n : s->k, s->tb ? s->k : s->n};
        int64_t dc[2] = {s->m, s->n};
        gemm_bench_arg g = {s->ta, s->tb, NULL, NULL, NULL};
        if (prism_tensor_create(env->ctx, 2, da, &g.a) || prism_tensor_create(env->ctx, 2, db, &g.b) ||
            prism_tensor_create(env->ctx, 2, dc, &g.c) || fill(env->ctx, g.a) || fill(env->ctx, g.b)) {
            n = -1; /* message in the context */
        }
        for (int v = 0; v < 2 && n >= 0 && n < cap; v++) {
            setenv("PRISM_GEMM", variants[v], 1);
            double ms = pb_time(env, rec_gemm, &g);
            pb_row *r = &rows[n++];
            memset(r, 0, sizeof *r);
            snprintf(r->name, sizeof r->name, "gemm_%s %s%s", variants[v], s->ta ? "T" : "N", s->tb ? "T" : "N");
            snprintf(r->shape, sizeof r->shape, "%lldx%lldx%lld (MxKxN)", (long long)s->m, (long long)s->k,
                     (long long)s->n);
            if (ms < 0) {
                snprintf(r->note, sizeof r->note, "failed: %s", prism_error_message(env->ctx));
                continue;
            }
            r->ms = ms;
            r->gflops = 2.0 * (double)s->m * (double)s->n * (double)s->k / (ms * 1e6);
            /* gemm is compute-bound: GFLOP/s is the headline; the ratio is the
             * (small) share of copy bandwidth its minimum traffic uses */
            pb_set_bw(env, r, 4.0 * (double)(s->m * s->k + s->k * s->n + s->m * s->n));
        }
        prism_tensor_destroy(g.a);
        prism_tensor_destroy(g.b);
        prism_tensor_destroy(g.c);
        if (n < 0) break;
    }
    if (old) setenv("PRISM_GEMM", old, 1);
    else unsetenv("PRISM_GEMM");
    free(old);
    return n;
}

/* prism_gemm_lowrank at LoRA r = 8 shapes (the forward X W0^T + s H B^T and
 * the input gradient dY W0 + s P A at T = 256, 1024^2): the fused epilogue
 * and the same sum as two gemm calls (PRISM_GEMM_LOWRANK=0), each as a
 * ratio to the plain gemm without the rank-8 term, timed in the same run. */
typedef struct lr_arg {
    gemm_bench_arg g;
    int tf, mode; /* 0 plain gemm, 1 lowrank */
    prism_tensor *e, *f;
} lr_arg;

static prism_status rec_lowrank(prism_stream *s, void *p) {
    lr_arg *l = p;
    if (!l->mode) return rec_gemm(s, &l->g);
    return prism_gemm_lowrank(s, l->g.ta, l->g.tb, 1.0f, l->g.a, l->g.b, 0.0f, l->g.c, 0.5f, l->e, l->tf, l->f);
}

static int bench_gemm_lowrank(pb_env *env, pb_row *rows, int cap) {
    const int64_t M = env->quick ? 64 : 256, K = env->quick ? 256 : 1024, N = K, r = 8;
    int n = 0;
    char *old = getenv("PRISM_GEMM_LOWRANK") ? strdup(getenv("PRISM_GEMM_LOWRANK")) : NULL;
    for (int tb = 1; tb >= 0 && n >= 0 && n + 2 <= cap; tb--) {
        /* tb = 1: forward, F = B [N, r]; tb = 0: input gradient, F = A [r, N] */
        int64_t da[2] = {M, K}, db[2] = {tb ? N : K, tb ? K : N}, dc[2] = {M, N}, de[2] = {M, r};
        int64_t df[2] = {tb ? N : r, tb ? r : N};
        lr_arg l = {{0, tb, NULL, NULL, NULL}, tb, 0, NULL, NULL};
        if (prism_tensor_create(env->ctx, 2, da, &l.g.a) || prism_tensor_create(env->ctx, 2, db, &l.g.b) ||
            prism_tensor_create(env->ctx, 2, dc, &l.g.c) || prism_tensor_create(env->ctx, 2, de, &l.e) ||
            prism_tensor_create(env->ctx, 2, df, &l.f) || fill(env->ctx, l.g.a) || fill(env->ctx, l.g.b) ||
            fill(env->ctx, l.e) || fill(env->ctx, l.f))
            n = -1;
        double plain = n < 0 ? -1 : pb_time(env, rec_lowrank, &l), t[2] = {-1, -1};
        l.mode = 1;
        for (int fused = 1; fused >= 0 && plain > 0; fused--) {
            setenv("PRISM_GEMM_LOWRANK", fused ? "1" : "0", 1);
            t[fused] = pb_time(env, rec_lowrank, &l);
        }
        for (int fused = 1; fused >= 0 && n >= 0; fused--) {
            pb_row *row = &rows[n++];
            memset(row, 0, sizeof *row);
            snprintf(row->name, sizeof row->name, "%s N%s r=8", fused ? "gemm_lowrank" : "gemm + gemm (unfused)",
                     tb ? "T" : "N");
            snprintf(row->shape, sizeof row->shape, "%lldx%lldx%lld (MxKxN)", (long long)M, (long long)K,
                     (long long)N);
            if (t[fused] < 0) {
                snprintf(row->note, sizeof row->note, "failed: %s", prism_error_message(env->ctx));
                continue;
            }
            row->ms = t[fused];
            row->gflops = 2.0 * (double)M * (double)N * (double)(K + r) / (t[fused] * 1e6);
            row->ratio = t[fused] / plain;
            snprintf(row->ratio_to, sizeof row->ratio_to, "gemm alone (%.3f ms)", plain);
        }
        prism_tensor_destroy(l.g.a);
        prism_tensor_destroy(l.g.b);
        prism_tensor_destroy(l.g.c);
        prism_tensor_destroy(l.e);
        prism_tensor_destroy(l.f);
    }
    if (old) setenv("PRISM_GEMM_LOWRANK", old, 1);
    else unsetenv("PRISM_GEMM_LOWRANK");
    free(old);
    return n;
}

const pb_bench pb_benches_gemm[] = {{"gemm", "gemm", bench_gemm}, {"gemm", "gemm_lowrank", bench_gemm_lowrank}};
const int pb_nbenches_gemm = 2;
