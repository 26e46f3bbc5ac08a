/* Check cases: gemm, device vs float64 reference, with a guard region after C.
 *
 * Tolerance: NMSE <= max(1e-10, 2e-12 K). The device accumulates K products
 * in fp32 one after another, so the squared rounding error grows about
 * linearly in K (K = 512 gives 1e-9); the measured NMSE sits ~100x below. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

typedef struct gemm_case {
    int ta, tb;
    int64_t batch;          /* 0: 2-D operands; else C's batch */
    int64_t ba, bb;         /* batch of A and B (1 = broadcast) when batched */
    int64_t m, n, k;
    float alpha, beta;
    bool nan_c;             /* C starts as NaN garbage (beta must be 0) */
    const char *max_binding;/* PRISM_GEMM_MAX_BINDING for the device run: forces the split paths */
    int64_t a_view;         /* A is a view this many elements into a larger tensor (misaligned starts) */
    int64_t r;              /* > 0: prism_gemm_lowrank with E [M, r] and F [r, N] (or [N, r] when tf) */
    int tf;
    float gamma;
} gemm_case;

static void shapes(const gemm_case *c, int *nd, int64_t sa[3], int64_t sb[3], int64_t sc[3]) {
    int d = c->batch ? 1 : 0;
    *nd = 2 + d;
    sa[0] = c->ba, sb[0] = c->bb, sc[0] = c->batch;
    sa[d] = c->ta ? c->k : c->m, sa[d + 1] = c->ta ? c->m : c->k;
    sb[d] = c->tb ? c->n : c->k, sb[d + 1] = c->tb ? c->k : c->n;
    sc[d] = c->m, sc[d + 1] = c->n;
}

static int64_t numel(int nd, const int64_t *s) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    return n;
}

/* Runs the op on ctx; returns C (and checks its guard when guarded). */
static double *run_on(pc_result *r, prism_context *ctx, const gemm_case *c, const float *a, const float *b,
                      const float *c0, const float *e, const float *f, bool guard) {
    int nd;
    int64_t sa[3], sb[3], sc[3];
    shapes(c, &nd, sa, sb, sc);
    prism_tensor *ta = NULL, *tb = pc_tensor(r, ctx, nd, sb, b), *base = NULL, *tc = NULL, *abase = NULL;
    if (c->a_view) {
        int64_t na = numel(nd, sa), total = na + c->a_view;
        float *h = calloc((size_t)total, sizeof *h);
        if (h) memcpy(h + c->a_view, a, (size_t)na * sizeof *h);
        abase = h ? pc_tensor(r, ctx, 1, &total, h) : NULL;
        if (abase && prism_tensor_view(abase, c->a_view, nd, sa, &ta) != PRISM_OK) pc_fail(r, "view: %s", prism_error_message(ctx));
        free(h);
    } else {
        ta = pc_tensor(r, ctx, nd, sa, a);
    }
    if (guard) tc = pc_guarded(r, ctx, nd, sc, c0, &base);
    else tc = pc_tensor(r, ctx, nd, sc, c0);
    prism_tensor *te = NULL, *tf = NULL;
    if (c->r) {
        int64_t se[2] = {c->m, c->r}, sf[2] = {c->tf ? c->n : c->r, c->tf ? c->r : c->n};
        te = pc_tensor(r, ctx, 2, se, e);
        tf = pc_tensor(r, ctx, 2, sf, f);
    }
    prism_stream *s = NULL;
    double *out = NULL;
    if (ta && tb && tc && (!c->r || (te && tf)) && prism_stream_create(ctx, &s) == PRISM_OK) {
        if ((c->r ? prism_gemm_lowrank(s, c->ta, c->tb, c->alpha, ta, tb, c->beta, tc, c->gamma, te, c->tf, tf)
                  : prism_gemm(s, c->ta, c->tb, c->alpha, ta, tb, c->beta, tc)) != PRISM_OK)
            pc_fail(r, "record: %s", prism_error_message(ctx));
        else if (pc_run(r, s)) out = pc_download(r, tc);
        if (guard) pc_guard_ok(r, base, "C");
    }
    prism_stream_destroy(s);
    prism_tensor_destroy(te);
    prism_tensor_destroy(tf);
    prism_tensor_destroy(ta);
    prism_tensor_destroy(abase);
    prism_tensor_destroy(tb);
    prism_tensor_destroy(tc);
    prism_tensor_destroy(base);
    return out;
}

static void gemm_device(const pc_env *env, const void *arg, pc_result *r) {
    const gemm_case *c = arg;
    int nd;
    int64_t sa[3], sb[3], sc[3];
    shapes(c, &nd, sa, sb, sc);
    int64_t na = numel(nd, sa), nb = numel(nd, sb), nc = numel(nd, sc);
    int64_t ne = c->m * c->r, nf = c->n * c->r;
    float *a = malloc((size_t)na * 4), *b = malloc((size_t)nb * 4), *c0 = malloc((size_t)nc * 4);
    float *e = malloc((size_t)(ne + 1) * 4), *f = malloc((size_t)(nf + 1) * 4);
    double *dev = NULL, *ref = NULL;
    if (!a || !b || !c0 || !e || !f) {
        pc_fail(r, "out of host memory");
        goto done;
    }
    pc_random(env->seed + 11, a, na, -1.0f, 1.0f);
    pc_random(env->seed + 12, b, nb, -1.0f, 1.0f);
    pc_random(env->seed + 13, c0, nc, -1.0f, 1.0f);
    pc_random(env->seed + 14, e, ne, -1.0f, 1.0f);
    pc_random(env->seed + 15, f, nf, -1.0f, 1.0f);
    if (c->nan_c)
        for (int64_t i = 0; i < nc; i++) c0[i] = i % 3 ? NAN : -INFINITY;
    char *old = NULL;
    if (c->max_binding) {
        const char *o = getenv("PRISM_GEMM_MAX_BINDING");
        old = o ? strdup(o) : NULL;
        setenv("PRISM_GEMM_MAX_BINDING", c->max_binding, 1);
    }
    /* the > 128 MiB case only checks values (its guard would double the upload) */
    dev = run_on(r, env->dev, c, a, b, c0, e, f, nc < ((int64_t)1 << 22));
    if (c->max_binding) {
        if (old) setenv("PRISM_GEMM_MAX_BINDING", old, 1);
        else unsetenv("PRISM_GEMM_MAX_BINDING");
        free(old);
    }
    ref = run_on(r, env->ref, c, a, b, c0, e, f, false);
    if (dev && ref) pc_compare(r, "C", dev, ref, nc, fmax(1e-10, 2e-12 * (double)(c->k + c->r)));
done:
    free(dev);
    free(ref);
    free(a);
    free(b);
    free(c0);
    free(e);
    free(f);
}

/* 2-D: {ta, tb, 0, 0, 0, M, N, K, alpha, beta} */
#define G2(name, ta, tb, m, n, k, al, be) static const gemm_case name = {ta, tb, 0, 0, 0, m, n, k, al, be, false, NULL, 0, 0, 0, 0.0f};
G2(one_nn, 0, 0, 1, 1, 1, 1.0f, 0.0f)
G2(one_tt, 1, 1, 1, 1, 1, 0.5f, 2.0f)
G2(s7_nn, 0, 0, 7, 3, 5, 1.0f, 0.0f) G2(s7_nt, 0, 1, 7, 3, 5, 1.0f, 0.0f)
G2(s7_tn, 1, 0, 7, 3, 5, 1.0f, 0.0f) G2(s7_tt, 1, 1, 7, 3, 5, 1.0f, 0.0f)
G2(s33_nn, 0, 0, 33, 17, 65, -1.25f, 0.5f) G2(s33_nt, 0, 1, 33, 17, 65, -1.25f, 0.5f)
G2(s33_tn, 1, 0, 33, 17, 65, -1.25f, 0.5f) G2(s33_tt, 1, 1, 33, 17, 65, -1.25f, 0.5f)
/* an MNIST-sized layer: forward X W^T, input gradient dY W, weight gradient dY^T X */
G2(mnist_fwd, 0, 1, 100, 10, 784, 1.0f, 0.0f)
G2(mnist_dx, 0, 0, 100, 784, 10, 1.0f, 0.0f)
G2(mnist_dw, 1, 0, 10, 784, 100, 1.0f, 1.0f)
G2(k1000_nn, 0, 0, 129, 131, 1000, 0.75f, 0.0f) G2(k1000_tt, 1, 1, 129, 131, 1000, 0.75f, 0.0f)
G2(big_nn, 0, 0, 1000, 999, 257, 1.0f, -0.5f) G2(big_nt, 0, 1, 1000, 999, 257, 1.0f, 0.0f)
G2(big_tn, 1, 0, 999, 1000, 257, 1.0f, 0.0f)
G2(long_k, 1, 0, 3, 5, 4099, 1.0f, 0.0f)

/* batched: {ta, tb, batch, ba, bb, M, N, K, alpha, beta} */
#define G3(name, ta, tb, bt, ba, bb, m, n, k, al, be)                                              \
    static const gemm_case name = {ta, tb, bt, ba, bb, m, n, k, al, be, false, NULL, 0, 0, 0, 0.0f};
G3(b_nn, 0, 0, 3, 3, 3, 7, 9, 5, 1.0f, 0.0f)
G3(b_tt, 1, 1, 4, 4, 4, 33, 17, 65, 2.0f, -1.0f)
G3(b_bcast_a, 0, 1, 5, 1, 5, 31, 19, 23, 1.0f, 0.0f)
G3(b_bcast_b, 1, 0, 5, 5, 1, 31, 19, 23, 1.0f, 0.25f)
G3(b_bcast_ab, 0, 0, 2, 1, 1, 9, 70, 11, 1.0f, 0.0f)

/* beta = 0 must not read C, which starts as NaN/-Inf */
static const gemm_case nan_nn = {0, 0, 0, 0, 0, 37, 41, 29, 1.5f, 0.0f, true, NULL, 0, 0, 0, 0.0f};
static const gemm_case nan_b_tn = {1, 0, 3, 3, 1, 37, 41, 29, 1.0f, 0.0f, true, NULL, 0, 0, 0, 0.0f};

/* Split paths with a small binding limit (elements): over batches, over rows
 * of C (A rows), over K (A stored transposed, chunks accumulate with beta 1). */
static const gemm_case split_batch = {0, 1, 7, 7, 7, 20, 24, 30, 1.0f, 0.5f, false, "1500", 0, 0, 0, 0.0f};
static const gemm_case split_rows = {0, 0, 2, 2, 1, 300, 24, 30, 1.0f, 0.5f, false, "1500", 0, 0, 0, 0.0f};
static const gemm_case split_k = {1, 1, 0, 0, 0, 300, 24, 30, -1.0f, 0.5f, false, "1500", 0, 0, 0, 0.0f};
static const gemm_case split_k_nan = {1, 0, 0, 0, 0, 301, 23, 31, 1.0f, 0.0f, true, "1000", 0, 0, 0, 0.0f};
/* Multiples of 4 everywhere: gemm_reg's vec4 path (edges inside a 16 x 16
 * tile, batches, splits), and the same sizes with A misaligned by one float
 * (scalar path). */
G2(v_nn, 0, 0, 36, 20, 28, 1.0f, 0.0f) G2(v_nt, 0, 1, 36, 20, 28, 1.0f, 0.5f)
G2(v_tn, 1, 0, 36, 20, 28, -2.0f, 0.0f) G2(v_tt, 1, 1, 36, 20, 28, 1.0f, 1.0f)
G2(v_big, 0, 1, 260, 264, 512, 1.0f, 0.0f)
G3(v_b_bcast, 1, 0, 3, 3, 1, 20, 44, 12, 1.0f, 0.0f)
static const gemm_case v_split = {1, 0, 2, 2, 2, 100, 24, 40, 1.0f, 0.5f, false, "1000", 0, 0, 0, 0.0f};
static const gemm_case v_misaligned = {0, 0, 0, 0, 0, 36, 20, 28, 1.0f, 0.0f, false, NULL, 1, 0, 0, 0.0f};
static const gemm_case v_misaligned_t = {1, 1, 2, 2, 2, 36, 20, 28, 1.0f, 0.0f, false, NULL, 3, 0, 0, 0.0f};
/* Skinny outputs (N <= 8: lanes stacked along M, 4 x 8 or 4 x 4 outputs
 * each): vec4 and scalar paths, every layout, K blocked in 3 dispatches,
 * edges in M and N. */
G2(sk8_nn, 0, 0, 260, 8, 1028, 1.0f, 0.5f) G2(sk8_nt, 0, 1, 260, 8, 1028, 1.0f, 0.0f)
G2(sk8_tn, 1, 0, 1028, 8, 260, 0.5f, 1.0f) G2(sk4_tt, 1, 1, 132, 4, 516, -1.0f, 0.0f)
G2(sk6_nn, 0, 0, 131, 6, 33, 1.0f, 0.0f) G2(sk2_tn, 1, 0, 67, 2, 9, 1.0f, 0.0f)
G3(sk_b_nt, 0, 1, 3, 3, 3, 70, 8, 20, 1.0f, 0.0f)
/* short outputs (M <= 8 rows, N > 8: 8 or 4 rows per invocation), LoRA's dA */
G2(sh8_tn, 1, 0, 8, 1028, 260, 0.5f, 1.0f) G2(sh3_nn, 0, 0, 3, 70, 9, 1.0f, 0.0f)
G2(sh6_nt, 0, 1, 6, 33, 17, -1.0f, 0.5f)
/* prism_gemm_lowrank (+ gamma E op(F) in the epilogue): LoRA's forward
 * (NT, F = B [N, r]) and input gradient (NN, F = A [r, N]) on the vec4 and
 * scalar paths, skinny outputs, K blocked in 3 dispatches (the epilogue goes
 * with the first only), C NaN with beta 0, split rows + K under a small
 * binding limit, and E over the limit (two gemm calls instead). */
#define GL(name, ta, tb, m, n, k, al, be, nan, bind, r, tf, ga)                                     \
    static const gemm_case name = {ta, tb, 0, 0, 0, m, n, k, al, be, nan, bind, 0, r, tf, ga};
GL(lr_fwd, 0, 1, 36, 20, 28, 1.0f, 0.0f, false, NULL, 8, 1, 0.5f)
GL(lr_dx, 0, 0, 260, 264, 1028, 1.0f, 0.5f, false, NULL, 8, 0, -2.0f)
GL(lr_odd, 0, 0, 33, 17, 65, -1.25f, 0.5f, false, NULL, 3, 0, 1.5f)
GL(lr_odd_t, 1, 1, 33, 17, 65, 1.0f, 0.0f, false, NULL, 5, 1, 0.25f)
GL(lr_skinny, 0, 0, 131, 6, 33, 1.0f, 0.0f, false, NULL, 2, 1, 1.0f)
GL(lr_bias, 0, 1, 37, 41, 29, 1.5f, 0.0f, true, NULL, 1, 0, 1.0f)
GL(lr_split, 1, 1, 300, 24, 30, -1.0f, 0.5f, false, "1500", 4, 0, 2.0f)
GL(lr_fallback, 0, 0, 300, 16, 4, 1.0f, 0.5f, false, "100", 5, 1, 1.0f)
/* A of 262400 x 128 floats = 134 MB: over lavapipe's real 128 MiB limit */
static const gemm_case huge_rows = {0, 0, 0, 0, 0, 262400, 3, 128, 1.0f, 0.0f, false, NULL, 0, 0, 0, 0.0f};

#define D(shape, name) {"gemm", shape, "device", gemm_device, &name}
const pc_case pc_cases_gemm[] = {
    D("NN 1x1 K=1", one_nn), D("TT 1x1 K=1 beta 2", one_tt),
    D("NN 7x3 K=5", s7_nn), D("NT 7x3 K=5", s7_nt), D("TN 7x3 K=5", s7_tn), D("TT 7x3 K=5", s7_tt),
    D("NN 33x17 K=65 a-1.25 b.5", s33_nn), D("NT 33x17 K=65 a-1.25 b.5", s33_nt),
    D("TN 33x17 K=65 a-1.25 b.5", s33_tn), D("TT 33x17 K=65 a-1.25 b.5", s33_tt),
    D("NT 100x10 K=784", mnist_fwd), D("NN 100x784 K=10", mnist_dx), D("TN 10x784 K=100 b1", mnist_dw),
    D("NN 129x131 K=1000", k1000_nn), D("TT 129x131 K=1000", k1000_tt),
    D("NN 1000x999 K=257 b-.5", big_nn), D("NT 1000x999 K=257", big_nt), D("TN 999x1000 K=257", big_tn),
    D("TN 3x5 K=4099", long_k),
    D("NN 260x8 K=1028 b.5 skinny", sk8_nn), D("NT 260x8 K=1028 skinny", sk8_nt),
    D("TN 1028x8 K=260 a.5 b1 skinny", sk8_tn), D("TT 132x4 K=516 a-1 skinny", sk4_tt),
    D("NN 131x6 K=33 skinny", sk6_nn), D("TN 67x2 K=9 skinny", sk2_tn), D("NT [3] 70x8 K=20 skinny", sk_b_nt),
    D("TN 8x1028 K=260 a.5 b1 short", sh8_tn), D("NN 3x70 K=9 short", sh3_nn), D("NT 6x33 K=17 b.5 short", sh6_nt),
    D("NN [3] 7x9 K=5", b_nn), D("TT [4] 33x17 K=65", b_tt), D("NT [5] A bcast 31x19 K=23", b_bcast_a),
    D("TN [5] B bcast 31x19 K=23", b_bcast_b), D("NN [2] A,B bcast 9x70 K=11", b_bcast_ab),
    D("NN 37x41 K=29 beta 0, C NaN", nan_nn), D("TN [3] B bcast beta 0, C NaN", nan_b_tn),
    D("NT [7] 20x24 K=30 split batches", split_batch), D("NN [2] B bcast 300x24 K=30 split rows", split_rows),
    D("TT 300x24 K=30 split rows+K", split_k), D("TN 301x23 K=31 split K, C NaN", split_k_nan),
    D("NN 36x20 K=28 (vec4)", v_nn), D("NT 36x20 K=28 b.5 (vec4)", v_nt), D("TN 36x20 K=28 a-2 (vec4)", v_tn),
    D("TT 36x20 K=28 b1 (vec4)", v_tt), D("NT 260x264 K=512 (vec4)", v_big),
    D("TN [3] B bcast 20x44 K=12 (vec4)", v_b_bcast), D("TN [2] 100x24 K=40 split rows+K (vec4)", v_split),
    D("NN 36x20 K=28, A view +1 (misaligned)", v_misaligned), D("TT [2] 36x20 K=28, A view +3", v_misaligned_t),
    D("NN 262400x3 K=128 (A > 128 MiB)", huge_rows),
    D("lowrank NT 36x20 K=28 r=8 F^T (vec4)", lr_fwd), D("lowrank NN 260x264 K=1028 r=8 b.5 (K blocks)", lr_dx),
    D("lowrank NN 33x17 K=65 r=3 a-1.25 b.5", lr_odd), D("lowrank TT 33x17 K=65 r=5 F^T", lr_odd_t),
    D("lowrank NN 131x6 K=33 r=2 skinny", lr_skinny), D("lowrank NT 37x41 K=29 r=1 beta 0, C NaN", lr_bias),
    D("lowrank TT 300x24 K=30 r=4 split rows+K", lr_split), D("lowrank NN 300x16 K=4 r=5, E over binding", lr_fallback),
};
const int pc_ncases_gemm = (int)(sizeof pc_cases_gemm / sizeof pc_cases_gemm[0]);
