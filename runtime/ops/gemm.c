/* Dispatcher of gemm (shaders/gemm.comp): C = alpha op(A) op(B) + beta C.
 *
 * Shapes: 2-D A [M,K] (or [K,M] with trans_a), B [K,N] (or [N,K] with
 * trans_b), C [M,N]; or all three 3-D with a leading batch, where A or B may
 * have batch 1 (broadcast). Status per failure:
 *   NULL tensor/stream, trans flag other than 0/1    PRISM_ERR_INVALID_ARGUMENT
 *   tensor from another context                      PRISM_ERR_WRONG_CONTEXT
 *   rank not 2 or 3, ranks differ, inner dims, batch
 *   or C shape disagree                              PRISM_ERR_SHAPE
 *   C overlapping A or B                             PRISM_ERR_INVALID_ARGUMENT
 *   non-finite alpha or beta                         PRISM_ERR_NOT_FINITE
 *   B (one batch) larger than one storage binding    PRISM_ERR_UNSUPPORTED
 *
 * Variant: register tiles (gemm_reg) on CPU devices, shared-memory tiles
 * (gemm_smem) elsewhere; PRISM_GEMM=reg|smem forces one (tests, bench).
 *
 * Bindings larger than maxStorageBufferRange are avoided by splitting: first
 * over batches, then (one batch at a time) over rows of C, and when A is
 * stored transposed also over K (later K chunks accumulate with beta = 1).
 * gemm_reg also cuts K into blocks of REG_KBLOCK for cache reuse. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "op_util.h"
#include "../reference/gemm.h"

static const char *OP = "gemm";

/* Register tiles of gemm_reg, tuned on lavapipe (Mesa 22.3, LP_NUM_THREADS=2,
 * 8-wide AVX2). Every buffer load there is a per-lane scalar loop, so the
 * load count per multiply-add decides: 16 x 16 outputs per invocation (the
 * accumulators spill, which costs far less than loads) measured 1024^3 NN
 * ~24 GFLOP/s with vec4 loads and ~17 without (1023^3); 8 x 8 gave 14 and
 * 10, 4 x 4 with scalar loads under 2. 8 to 64 invocations per workgroup
 * measured alike; 16 keeps small problems spread over both threads. */
enum { REG_LX = 16, REG_TM = 16, REG_TN = 16 };
/* gemm_reg splits K into dispatches of this depth (later ones add onto C):
 * the B panel a workgroup streams then stays in cache. 2048^3 on lavapipe
 * measured +20-30% for NN and TN, NT unchanged; 256 and 1024 were no better. */
enum { REG_KBLOCK = 512 };

typedef struct gemm_args {
    int ta, tb;
    double alpha, beta;
    const prism_tensor *a, *b, *c;
    int64_t batch, m, n, k;
    int64_t sa, sb; /* batch strides in elements, 0 = broadcast */
    /* low-rank epilogue (prism_gemm_lowrank): + gamma E op(F), one batch */
    const prism_tensor *e, *f;
    int64_t r2;
    int tf;
    float gamma;
} gemm_args;

static void gemm_ref(const void *p) {
    const gemm_args *g = p;
    for (int64_t i = 0; i < g->batch; i++)
        prism_ref_gemm(g->ta, g->tb, g->m, g->n, g->k, g->alpha, prism_ref_data(g->a) + i * g->sa,
                       prism_ref_data(g->b) + i * g->sb, g->beta, prism_ref_data(g->c) + i * g->m * g->n);
}

/* Shape error naming both operands as the caller passed them. */
static prism_status shape_error(prism_stream *s, const char *why, const prism_tensor *x, const char *xn,
                                const prism_tensor *y, const char *yn) {
    char bx[64], by[64];
    return prism_set_error(prism_stream_context(s), PRISM_ERR_SHAPE, "gemm: %s %s and %s %s: %s", xn,
                           prism_tensor_shape_str(x, bx, sizeof bx), yn, prism_tensor_shape_str(y, by, sizeof by), why);
}

typedef struct plan {
    bool reg;
    uint32_t spec[8];
    int64_t rows, cols; /* C tile of one workgroup */
} plan;

/* Skinny outputs (N <= 8: the rank-r GEMMs of low-rank adapters, X A^T,
 * dY B, dY^T H) leave one lane of one invocation per workgroup busy under
 * the layout above (lanes along N, 16 x 16 outputs each): on lavapipe such a
 * GEMM ran at ~0.8 GFLOP/s. They stack the invocations along M instead
 * (local size 1 x LX) with 8 x 8 (or 8 x 4) outputs each, so every lane
 * works (8 rows per lane measured ~20% faster than 4 at LoRA's T = 256,
 * K = 1024 on lavapipe: fewer loads per multiply-add). Outputs of at most 8
 * rows (dA = P^T X) keep the lanes along N with 8 (or 4) rows each instead
 * of 16 half-empty ones. PRISM_GEMM_SKINNY=0 keeps the default layout (for
 * comparisons). */
enum { REG_SKINNY_N = 8, REG_SKINNY_TM = 8 };

/* gemm_reg pipeline for one dispatch of a C with N columns: vec4 loads need
 * 4-aligned sizes and starts. spec[0] holds the lane count on entry. */
static void reg_tile(plan *p, bool vec, int64_t M, int64_t N, uint32_t max_y) {
    const char *e = getenv("PRISM_GEMM_SKINNY");
    uint32_t lanes = p->spec[0];
    if (N <= REG_SKINNY_N && !(e && !strcmp(e, "0"))) {
        uint32_t ly = PRISM_MIN(lanes, max_y);
        p->spec[0] = 1;
        p->spec[1] = ly;
        p->spec[5] = REG_SKINNY_TM; /* multiples of 4, as the vec4 path needs */
        p->spec[6] = N <= 4 ? 4 : 8;
        p->rows = (int64_t)ly * p->spec[5];
        p->cols = p->spec[6];
    } else {
        p->spec[1] = 1;
        p->spec[5] = M <= 4 ? 4 : M <= 8 ? 8 : REG_TM; /* short outputs (LoRA's dA) fill their rows */
        p->spec[6] = REG_TN;
        p->rows = p->spec[5];
        p->cols = (int64_t)lanes * REG_TN;
    }
    p->spec[7] = vec;
}

static prism_status choose_variant(prism_context *ctx, bool ta, bool tb, plan *p) {
    const prism_caps *c = &ctx->caps;
    const char *force = getenv("PRISM_GEMM");
    if (force && *force) {
        if (!strcmp(force, "reg")) p->reg = true;
        else if (!strcmp(force, "smem")) p->reg = false;
        else return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "gemm: PRISM_GEMM='%s' (expected reg or smem)", force);
    } else {
        p->reg = c->type == PRISM_DEVICE_CPU;
    }
    uint32_t inv = c->max_workgroup_invocations ? c->max_workgroup_invocations : 128;
    if (p->reg) {
        uint32_t lx = PRISM_MIN((uint32_t)REG_LX, PRISM_MIN(inv, c->max_workgroup_size[0]));
        uint32_t s[8] = {lx, 1, 1, ta, tb, 0, 0, 0};
        memcpy(p->spec, s, sizeof s);
        reg_tile(p, false, INT64_MAX, INT64_MAX, 1); /* the default tile; dispatch() picks per shape */
        return PRISM_OK;
    }
    /* 16 x 8 invocations (the guaranteed 128), 8 x 4 outputs each: a 64 x 64
     * tile; BK = 16 stages 2 * 16 * 64 floats = 8 KiB of shared memory.
     * Halve the depth, then the tile, on devices below the guaranteed limits. */
    uint32_t wx = 16, wy = 8, tm = 8, tn = 4, bk = 16;
    while (wx * wy > inv || wx > c->max_workgroup_size[0] || wy > c->max_workgroup_size[1]) {
        if (wy > 1) wy /= 2;
        else wx /= 2;
    }
    uint32_t shm = c->max_shared_memory_size ? c->max_shared_memory_size : 16384;
    while (bk * (wy * tm + wx * tn) * 4 > shm && bk > 1) bk /= 2;
    while (bk * (wy * tm + wx * tn) * 4 > shm && tm > 1) tm /= 2;
    uint32_t s[8] = {wx, wy, 1, ta, tb, tm, tn, bk};
    memcpy(p->spec, s, sizeof s);
    p->rows = (int64_t)wy * tm;
    p->cols = (int64_t)wx * tn;
    return PRISM_OK;
}

typedef struct gemm_push {
    uint32_t m, n, k, nb;
    uint32_t lda, ldb, ldc;
    uint32_t sa, sb, sc;
    uint32_t tiles_m, tiles_n;
    float alpha, beta;
    uint32_t r2, fsn, fsk;
    float gamma;
} gemm_push;

/* Records one dispatch over batches [b0, b0+nb), rows [m0, m0+mc) of C and
 * the k range [k0, k0+kc). Each binding covers exactly the span it reads. */
static int64_t elem_start(const prism_tensor *t, int64_t off) {
    return (int64_t)(t->storage->offset / 4) + t->offset + off;
}

static prism_status dispatch(prism_stream *s, const gemm_args *g, const plan *base, int64_t b0, int64_t nb, int64_t m0,
                             int64_t mc, int64_t k0, int64_t kc, float beta) {
    const int64_t M = g->m, N = g->n, K = g->k, sc = M * N;
    int64_t sa = nb > 1 ? g->sa : 0, sb = nb > 1 ? g->sb : 0; /* one batch: strides unused */
    int64_t a_off = b0 * g->sa + (g->ta ? k0 * M + m0 : m0 * K + k0);
    int64_t a_span = g->ta ? (kc - 1) * M + mc : (mc - 1) * K + kc;
    int64_t b_off = b0 * g->sb + (g->tb ? k0 : k0 * N);
    int64_t b_span = g->tb ? (N - 1) * K + kc : kc * N;
    plan pl = *base, *p = &pl;
    if (p->reg) /* every row start of A and B 4-aligned, no vec4 across an edge */
        reg_tile(p, mc % 4 == 0 && N % 4 == 0 && kc % 4 == 0 && M % 4 == 0 && K % 4 == 0 &&
                        elem_start(g->a, a_off) % 4 == 0 && elem_start(g->b, b_off) % 4 == 0 &&
                        (nb == 1 || (sa % 4 == 0 && sb % 4 == 0)),
                 mc, N, prism_stream_context(s)->caps.max_workgroup_size[1]);
    int64_t tiles_m = PRISM_CEIL_DIV(mc, p->rows), tiles_n = PRISM_CEIL_DIV(N, p->cols);
    prism_kernel k = {.op = OP, .shader = p->reg ? "gemm_reg" : "gemm_smem", .nspec = 8,
                      .groups = {(uint64_t)(nb * tiles_m * tiles_n), 1, 1}, .fault_binding = 0};
    memcpy(k.spec, p->spec, sizeof p->spec);
    k.bind[0] = (prism_binding){g->c, b0 * sc + m0 * N, (nb - 1) * sc + mc * N, true};
    k.bind[1] = (prism_binding){g->a, a_off, (nb - 1) * sa + a_span, false};
    k.bind[2] = (prism_binding){g->b, b_off, (nb - 1) * sb + b_span, false};
    k.nbind = 3;
    gemm_push push = {(uint32_t)mc, (uint32_t)N, (uint32_t)kc, (uint32_t)nb, (uint32_t)(g->ta ? M : K),
                      (uint32_t)(g->tb ? K : N), (uint32_t)N, (uint32_t)sa, (uint32_t)sb, (uint32_t)(nb > 1 ? sc : 0),
                      (uint32_t)tiles_m, (uint32_t)tiles_n, (float)g->alpha, beta, 0, 0, 0, 0.0f};
    if (g->e && k0 == 0) { /* the epilogue goes with the first K block only */
        k.bind[3] = (prism_binding){g->e, m0 * g->r2, mc * g->r2, false};
        k.bind[4] = (prism_binding){g->f, 0, g->r2 * N, false};
        k.nbind = 5;
        push.r2 = (uint32_t)g->r2;
        push.fsn = g->tf ? (uint32_t)g->r2 : 1u;
        push.fsk = g->tf ? 1u : (uint32_t)N;
        push.gamma = g->gamma;
    }
    memcpy(k.push, &push, sizeof push);
    k.push_size = sizeof push;
    return prism_record_kernel(s, &k);
}

static prism_status record_device(prism_stream *s, const gemm_args *g) {
    prism_context *ctx = prism_stream_context(s);
    plan p;
    prism_status st = choose_variant(ctx, g->ta, g->tb, &p);
    if (st) return st;
    const int64_t M = g->m, N = g->n, K = g->k, lim = prism_op_max_binding(ctx, "PRISM_GEMM_MAX_BINDING");
    const int64_t span_a = M * K, span_b = K * N, span_c = M * N;
    if (span_b > lim)
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED,
                               "gemm: B [%lld x %lld] per batch needs %lld elements in one binding, over the device "
                               "limit of %lld (maxStorageBufferRange)",
                               (long long)K, (long long)N, (long long)span_b, (long long)lim);
    /* Leading dims and sizes travel as uint32 push constants. */
    if (M > UINT32_MAX || K > UINT32_MAX)
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED, "gemm: M = %lld, K = %lld exceed 32-bit indexing",
                               (long long)M, (long long)K);

    if (span_a <= lim && span_c <= lim) {
        /* Whole matrices fit: as many batches per dispatch as the bindings
         * allow, and few enough workgroups for a 32-bit linear group index. */
        int64_t tiles = PRISM_CEIL_DIV(M, p.rows) * PRISM_CEIL_DIV(N, p.cols);
        int64_t per = PRISM_MAX((int64_t)1, ((int64_t)1 << 31) / tiles);
        if (g->sa) per = PRISM_MIN(per, (lim - span_a) / g->sa + 1);
        if (g->sb) per = PRISM_MIN(per, (lim - span_b) / g->sb + 1);
        per = PRISM_MIN(per, (lim - span_c) / span_c + 1);
        /* CPU devices: K in blocks so the B panel a workgroup streams stays
         * in cache; each block after the first adds onto C (beta = 1). */
        int64_t kb = p.reg && N > REG_SKINNY_N ? PRISM_MIN(K, (int64_t)REG_KBLOCK) : K;
        for (int64_t b0 = 0; b0 < g->batch; b0 += per)
            for (int64_t k0 = 0; k0 < K; k0 += kb)
                if ((st = dispatch(s, g, &p, b0, PRISM_MIN(per, g->batch - b0), 0, M, k0, PRISM_MIN(kb, K - k0),
                                   k0 == 0 ? (float)g->beta : 1.0f)))
                    return st;
        return PRISM_OK;
    }
    /* One batch at a time, C rows in chunks of mc; A rows follow C rows when
     * A is not transposed. A stored [K, M] has no contiguous row chunk, so it
     * is cut along K as well and later K chunks accumulate onto C. */
    int64_t mc = PRISM_MIN(M, lim / N);
    if (!g->ta) mc = PRISM_MIN(mc, lim / K);
    if (mc < 1)
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED, "gemm: a row of A (K = %lld) exceeds one binding (%lld elements)",
                               (long long)K, (long long)lim);
    if (mc > 4 && mc < M) mc -= mc % 4; /* keeps chunks eligible for vec4 loads */
    int64_t kc = g->ta ? PRISM_MIN(K, (lim - mc) / M + 1) : K;
    if (p.reg) kc = PRISM_MIN(kc, (int64_t)REG_KBLOCK);
    if (kc > 4 && kc < K) kc -= kc % 4;
    for (int64_t b0 = 0; b0 < g->batch; b0++)
        for (int64_t m0 = 0; m0 < M; m0 += mc)
            for (int64_t k0 = 0; k0 < K; k0 += kc)
                if ((st = dispatch(s, g, &p, b0, 1, m0, PRISM_MIN(mc, M - m0), k0, PRISM_MIN(kc, K - k0),
                                   k0 == 0 ? (float)g->beta : 1.0f)))
                    return st;
    return PRISM_OK;
}

/* Checks a gemm call and fills g (the epilogue fields zero). */
static prism_status validate(prism_stream *s, int trans_a, int trans_b, float alpha, const prism_tensor *a,
                             const prism_tensor *b, float beta, prism_tensor *c, gemm_args *out) {
    prism_status st;
    prism_context *ctx = prism_stream_context(s);
    if ((st = prism_check_tensor(s, OP, "A", a)) || (st = prism_check_tensor(s, OP, "B", b)) ||
        (st = prism_check_tensor(s, OP, "C", c)))
        return st;
    if ((trans_a != 0 && trans_a != 1) || (trans_b != 0 && trans_b != 1))
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "gemm: trans_a = %d, trans_b = %d (expected 0 or 1)",
                               trans_a, trans_b);
    const char *an = trans_a ? "A^T" : "A", *bn = trans_b ? "B^T" : "B";
    if (a->ndim < 2 || a->ndim > 3) return shape_error(s, "A must be 2-D or 3-D (batched)", a, an, b, bn);
    if (b->ndim < 2 || b->ndim > 3) return shape_error(s, "B must be 2-D or 3-D (batched)", a, an, b, bn);
    if (a->ndim != b->ndim || c->ndim != a->ndim)
        return shape_error(s, c->ndim != a->ndim ? "C rank differs from A" : "A and B ranks differ", a, an,
                           c->ndim != a->ndim ? c : b, c->ndim != a->ndim ? "C" : bn);
    int d = a->ndim - 2; /* index of the first matrix dim */
    int64_t m = a->shape[d + trans_a], ka = a->shape[d + 1 - trans_a];
    int64_t kb = b->shape[d + trans_b], n = b->shape[d + 1 - trans_b];
    if (ka != kb) {
        char why[96];
        snprintf(why, sizeof why, "inner dims %lld vs %lld", (long long)ka, (long long)kb);
        return shape_error(s, why, a, an, b, bn);
    }
    int64_t batch = d ? c->shape[0] : 1, ba = d ? a->shape[0] : 1, bb = d ? b->shape[0] : 1;
    if (ba != batch && ba != 1) return shape_error(s, "batch of A must equal C's or be 1", a, an, c, "C");
    if (bb != batch && bb != 1) return shape_error(s, "batch of B must equal C's or be 1", b, bn, c, "C");
    if (c->shape[d] != m || c->shape[d + 1] != n) {
        char why[96];
        snprintf(why, sizeof why, "C must be [%s%lld, %lld]", d ? "batch, " : "", (long long)m, (long long)n);
        return shape_error(s, why, a, an, c, "C");
    }
    if (prism_op_overlap(c, a) || prism_op_overlap(c, b))
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "gemm: C overlaps %s; the output must not alias an input",
                               prism_op_overlap(c, a) ? "A" : "B");
    if (!isfinite(alpha) || !isfinite(beta))
        return prism_set_error(ctx, PRISM_ERR_NOT_FINITE, "gemm: alpha = %g, beta = %g must be finite", alpha, beta);

    *out = (gemm_args){trans_a, trans_b, alpha, beta, a, b, c, batch, m, n, ka, ba > 1 ? m * ka : 0,
                       bb > 1 ? ka * n : 0, NULL, NULL, 0, 0, 0.0f};
    return PRISM_OK;
}

prism_status prism_gemm(prism_stream *s, int trans_a, int trans_b, float alpha, const prism_tensor *a,
                        const prism_tensor *b, float beta, prism_tensor *c) {
    prism_status st = prism_op_begin(s, OP);
    if (st) return st;
    gemm_args g;
    if ((st = validate(s, trans_a, trans_b, alpha, a, b, beta, c, &g))) return st;
    if (prism_stream_is_reference(s)) {
        const prism_tensor *ts[3] = {a, b, c};
        return prism_ref_enqueue(s, OP, gemm_ref, &g, sizeof g, ts, 3);
    }
    return record_device(s, &g);
}

/* C = alpha op(A) op(B) + gamma E op(F) + beta C with the second product in
 * the epilogue of the first (shaders/gemm.comp): E [M, r], F [r, N] (or
 * [N, r] with trans_f). 2-D only. The reference backend, batched operands,
 * an F or E over one binding and PRISM_GEMM_LOWRANK=0 take two gemm calls
 * instead (the same result up to rounding). */
prism_status prism_gemm_lowrank(prism_stream *s, int trans_a, int trans_b, float alpha, const prism_tensor *a,
                                const prism_tensor *b, float beta, prism_tensor *c, float gamma, const prism_tensor *e,
                                int trans_f, const prism_tensor *f) {
    static const char *LOP = "gemm_lowrank";
    prism_status st = prism_op_begin(s, LOP);
    if (st) return st;
    prism_context *ctx = prism_stream_context(s);
    if ((st = prism_check_tensor(s, LOP, "E", e)) || (st = prism_check_tensor(s, LOP, "F", f))) return st;
    gemm_args g;
    if ((st = validate(s, trans_a, trans_b, alpha, a, b, beta, c, &g))) return st;
    if (trans_f != 0 && trans_f != 1)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: trans_f = %d (expected 0 or 1)", LOP, trans_f);
    char be[64], bf[64], bc[64];
    int64_t r = e->ndim == 2 ? e->shape[1] : -1;
    if (c->ndim != 2 || e->ndim != 2 || f->ndim != 2 || e->shape[0] != g.m ||
        f->shape[trans_f ? 0 : 1] != g.n || f->shape[trans_f ? 1 : 0] != r)
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: E %s and %s %s for C %s: expected 2-D E [M, r] and %s", LOP,
                               prism_tensor_shape_str(e, be, sizeof be), trans_f ? "F^T" : "F",
                               prism_tensor_shape_str(f, bf, sizeof bf), prism_tensor_shape_str(c, bc, sizeof bc),
                               trans_f ? "F [N, r]" : "F [r, N]");
    if (prism_op_overlap(c, e) || prism_op_overlap(c, f))
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: C overlaps %s; the output must not alias an input",
                               LOP, prism_op_overlap(c, e) ? "E" : "F");
    if (!isfinite(gamma)) return prism_set_error(ctx, PRISM_ERR_NOT_FINITE, "%s: gamma = %g must be finite", LOP, gamma);
    const char *env = getenv("PRISM_GEMM_LOWRANK");
    bool fuse = !prism_stream_is_reference(s) && !(env && !strcmp(env, "0"));
    if (fuse) { /* E and F each in one binding (which also keeps r N in 32 bits) */
        int64_t lim = prism_op_max_binding(ctx, "PRISM_GEMM_MAX_BINDING");
        fuse = r * g.n <= lim && r * g.m <= lim;
    }
    if (fuse) {
        g.e = e;
        g.f = f;
        g.r2 = r;
        g.tf = trans_f;
        g.gamma = gamma;
        return record_device(s, &g);
    }
    if ((st = prism_gemm(s, trans_a, trans_b, alpha, a, b, beta, c))) return st;
    return prism_gemm(s, 0, trans_f, gamma, e, f, 1.0f, c);
}
