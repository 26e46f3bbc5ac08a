/* Dispatchers of the hadamard family (shaders/hadamard.comp): the fused HUT
 * materialisation W = W0 (.) (1 + s B A) and the fused parameter gradients
 * dA = s B^T (W0 (.) G), dB = s (W0 (.) G) A^T (include/prism/hadamard.h).
 *
 * Binding limits: W0, G and W are cut into row ranges of at most
 * max_binding() elements (and B's rows with them); A [r, n] is bound whole,
 * so r n must fit one binding, as must one row (n). dA is parallelised over
 * row chunks of `rc` rows whose partial sums go to the caller's workspace
 * ([chunks, r, n], at most one binding) and are added in chunk order by a
 * second small kernel; when one chunk suffices (m <= 32) or the partials
 * would not fit one binding, dA is written directly and row ranges after the
 * first accumulate onto it (beta = 1), in stream order. Either way every sum
 * has a fixed order: no atomics, bit-identical replays.
 *
 * The vec4 variants need n % 4 == 0 and 16-byte aligned starts of every
 * bound tensor whose rows they read as vec4 (row-range starts are then
 * aligned too, being multiples of n). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "op_util.h"
#include "../reference/hadamard.h"
#include "prism/hadamard.h"

static const char *OP_MERGE = "hadamard_merge";
static const char *OP_GRAD = "hadamard_grad";

enum {
    RB_MAX = 16,      /* ranks held in registers per block (r > 16 loops over blocks) */
    MERGE_TR = 8,     /* rows per invocation of hadamard_merge: amortises the A loads */
    GA_MIN_ROWS = 32, /* fewest rows per dA chunk: partials stay small next to W0 and G */
    GA_MAX_CHUNKS = 64,/* enough chunks x column groups to fill a GPU at m = n = 4096 */
    GB_RPL_CPU = 4    /* dB on CPU devices: rows per segment sharing each load of A
                         (lavapipe 4096^2 r 8: 1 -> 282, 2 -> 195, 4 -> 152, 8 -> 141 CPU ms);
                         GPUs keep 1: the accumulators would cost occupancy and
                         A loads hit the cache anyway */
};

/* ---------------------------------------------------------------- helpers */

/* PRISM_HADAMARD_MAX_BINDING (elements) lowers the binding limit in tests. */
static int64_t max_binding(const prism_context *ctx) {
    return prism_op_max_binding(ctx, "PRISM_HADAMARD_MAX_BINDING");
}

/* Tuning knobs (tests / bench experiments): PRISM_HD_<name>=value. */
static uint32_t knob(const char *name, uint32_t def, uint32_t lo, uint32_t hi) {
    char var[64];
    snprintf(var, sizeof var, "PRISM_HD_%s", name);
    const char *e = getenv(var);
    if (!e || !*e) return def;
    long v = strtol(e, NULL, 10);
    return v < (long)lo || v > (long)hi ? def : (uint32_t)v;
}

static uint32_t pow2_ceil(uint64_t v) {
    uint32_t p = 1;
    while (p < v && p < (1u << 30)) p *= 2;
    return p;
}

static bool is_matrix(const prism_tensor *t, int64_t rows, int64_t cols) {
    return t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols;
}

/* 2-D workgroup for the column-parallel kernels: x over column groups (as
 * wide as the row allows), y over row blocks / chunks. */
static void local_2d(const prism_context *ctx, int64_t ncg, uint32_t *lx, uint32_t *ly) {
    uint32_t ls = prism_op_pow2_floor(prism_local_size_1d(ctx));
    uint32_t x = PRISM_MIN(ls, pow2_ceil((uint64_t)ncg));
    x = PRISM_MIN(x, prism_op_pow2_floor(ctx->caps.max_workgroup_size[0]));
    uint32_t y = PRISM_MAX(1u, ls / x);
    y = PRISM_MIN(y, prism_op_pow2_floor(PRISM_MAX(1u, ctx->caps.max_workgroup_size[1])));
    *lx = x;
    *ly = y;
}

/* Column groups (floats or vec4s) per invocation of merge / grad_a: more
 * groups amortise the B loads of a row over more columns. */
static uint32_t col_groups(const prism_context *ctx, int64_t ncg) {
    uint32_t cw = knob("CW", ctx->caps.type == PRISM_DEVICE_CPU ? 2 : 1, 1, 8);
    while (cw > 1 && (int64_t)cw > ncg) cw /= 2;
    return cw;
}

/* Rows one dispatch may cover so W0/G/W rows and B rows each fit a binding. */
static int64_t rows_per_binding(int64_t n, int64_t r, int64_t lim) {
    return PRISM_MIN(lim / n, lim / r);
}

/* Refuses shapes whose row or A does not fit one binding. */
static prism_status check_binding(prism_context *ctx, const char *op, int64_t m, int64_t n, int64_t r, int64_t lim) {
    if (n > lim || r > lim || r > lim / n)
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED,
                               "%s: W0 [%lld, %lld] at rank %lld: a row (%lld) or A (%lld x %lld) exceeds one binding "
                               "of %lld elements (maxStorageBufferRange %llu bytes)",
                               op, (long long)m, (long long)n, (long long)r, (long long)n, (long long)r, (long long)n,
                               (long long)lim, (unsigned long long)ctx->caps.max_storage_buffer_range);
    return PRISM_OK;
}

/* The dA plan: chunk rows, chunk count, and whether partials are used. */
typedef struct ga_plan {
    int64_t rc;        /* rows per chunk */
    int64_t chunks;    /* total chunks (partials) */
    int64_t rows_disp; /* rows per dispatch (a multiple of rc with partials) */
    bool direct;       /* no partials: dispatches write dA in turn */
} ga_plan;

static ga_plan plan_grad_a(int64_t m, int64_t n, int64_t r, int64_t lim) {
    ga_plan p;
    int64_t rows_bind = rows_per_binding(n, r, lim);
    p.rc = PRISM_MIN(PRISM_MAX((int64_t)GA_MIN_ROWS, PRISM_CEIL_DIV(m, (int64_t)GA_MAX_CHUNKS)), rows_bind);
    p.chunks = PRISM_CEIL_DIV(m, p.rc);
    p.direct = p.chunks <= 1 || p.chunks > lim / (r * n);
    if (p.direct) {
        p.rows_disp = rows_bind;
        p.rc = PRISM_MIN(m, rows_bind);
        p.chunks = 1;
    } else {
        p.rows_disp = (rows_bind / p.rc) * p.rc;
    }
    return p;
}

int64_t prism_hadamard_grad_workspace(const prism_context *ctx, int64_t m, int64_t n, int64_t r) {
    if (!ctx || ctx->backend == PRISM_BACKEND_REFERENCE || m < 1 || n < 1 || r < 1) return 0;
    int64_t lim = max_binding(ctx);
    if (n > lim || r > lim || r > lim / n) return 0; /* the op refuses these shapes */
    ga_plan p = plan_grad_a(m, n, r, lim);
    return p.direct ? 0 : p.chunks * r * n;
}

/* ---------------------------------------------------------------- reference closures */

typedef struct hd_args {
    const prism_tensor *w0, *g, *b, *a, *w, *da, *db;
    int64_t m, n, r;
    double s, beta;
} hd_args;

static void merge_ref(const void *p) {
    const hd_args *h = p;
    prism_ref_hadamard_merge(h->m, h->n, h->r, h->s, prism_ref_data(h->w0), prism_ref_data(h->b), prism_ref_data(h->a),
                             prism_ref_data(h->w));
}

static void grad_ref(const void *p) {
    const hd_args *h = p;
    prism_ref_hadamard_grad(h->m, h->n, h->r, h->s, h->beta, prism_ref_data(h->w0), prism_ref_data(h->g),
                            prism_ref_data(h->b), prism_ref_data(h->a), h->da ? prism_ref_data(h->da) : NULL,
                            h->db ? prism_ref_data(h->db) : NULL);
}

/* ---------------------------------------------------------------- merge */

static prism_status merge_device(prism_stream *s, const hd_args *h) {
    prism_context *ctx = prism_stream_context(s);
    const int64_t m = h->m, n = h->n, r = h->r, lim = max_binding(ctx);
    prism_status st = check_binding(ctx, OP_MERGE, m, n, r, lim);
    if (st) return st;
    bool vec = n % 4 == 0 && prism_op_aligned16(h->w0) && prism_op_aligned16(h->w) && prism_op_aligned16(h->a);
    int64_t ncg = vec ? n / 4 : n, rows_bind = rows_per_binding(n, r, lim);
    uint32_t cw = col_groups(ctx, ncg), lx, ly;
    local_2d(ctx, PRISM_CEIL_DIV(ncg, (int64_t)cw), &lx, &ly);
    uint32_t rb = (uint32_t)PRISM_MIN(r, (int64_t)RB_MAX), tr = knob("TR", MERGE_TR, 1, 64);
    if ((int64_t)tr > m) tr = (uint32_t)m;
    uint32_t bv = r % 4 == 0 && prism_op_aligned16(h->b);
    uint64_t tiles_x = (uint64_t)PRISM_CEIL_DIV(ncg, (int64_t)lx * cw);
    for (int64_t r0 = 0; r0 < m; r0 += rows_bind) {
        int64_t nr = PRISM_MIN(rows_bind, m - r0);
        prism_kernel k = {.op = OP_MERGE, .shader = vec ? "hadamard_merge_vec4" : "hadamard_merge", .nspec = 7,
                          .spec = {lx, ly, 1, rb, tr, cw, bv},
                          .groups = {tiles_x * (uint64_t)PRISM_CEIL_DIV(nr, (int64_t)ly * tr), 1, 1},
                          .fault_binding = 0};
        k.bind[0] = (prism_binding){h->w, r0 * n, nr * n, true};
        k.bind[1] = (prism_binding){h->w0, r0 * n, nr * n, false};
        k.bind[2] = (prism_binding){h->b, r0 * r, nr * r, false};
        k.bind[3] = (prism_binding){h->a, 0, r * n, false};
        k.nbind = 4;
        struct { uint32_t rows, n, r, tiles_x; float s; } push = {(uint32_t)nr, (uint32_t)n, (uint32_t)r,
                                                                  (uint32_t)tiles_x, (float)h->s};
        memcpy(k.push, &push, sizeof push);
        k.push_size = sizeof push;
        if ((st = prism_record_kernel(s, &k))) return st;
    }
    return PRISM_OK;
}

prism_status prism_hadamard_merge(prism_stream *s, const prism_tensor *W0, const prism_tensor *B,
                                  const prism_tensor *A, float scale, prism_tensor *W) {
    prism_status st = prism_op_begin(s, OP_MERGE);
    if (st) return st;
    if ((st = prism_check_tensor(s, OP_MERGE, "W0", W0)) || (st = prism_check_tensor(s, OP_MERGE, "B", B)) ||
        (st = prism_check_tensor(s, OP_MERGE, "A", A)) || (st = prism_check_tensor(s, OP_MERGE, "W", W)))
        return st;
    prism_context *ctx = prism_stream_context(s);
    char s0[64], sb[64], sa[64], sw[64];
    prism_tensor_shape_str(W0, s0, sizeof s0);
    prism_tensor_shape_str(B, sb, sizeof sb);
    prism_tensor_shape_str(A, sa, sizeof sa);
    prism_tensor_shape_str(W, sw, sizeof sw);
    if (W0->ndim != 2 || B->ndim != 2 || A->ndim != 2 || B->shape[0] != W0->shape[0] ||
        A->shape[1] != W0->shape[1] || A->shape[0] != B->shape[1] || !is_matrix(W, W0->shape[0], W0->shape[1]))
        return prism_set_error(ctx, PRISM_ERR_SHAPE,
                               "%s: W0 %s, B %s, A %s, W %s: expected W0 [m, n], B [m, r], A [r, n], W [m, n]",
                               OP_MERGE, s0, sb, sa, sw);
    if (!isfinite(scale))
        return prism_set_error(ctx, PRISM_ERR_NOT_FINITE, "%s: scale %g must be finite (W0 %s)", OP_MERGE, scale, s0);
    if ((prism_op_overlap(W, W0) && !prism_op_same_range(W, W0)) || prism_op_overlap(W, B) || prism_op_overlap(W, A))
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT,
                               "%s: output W %s overlaps %s (only W = W0 exactly is allowed)", OP_MERGE, sw,
                               prism_op_overlap(W, B) ? "B" : prism_op_overlap(W, A) ? "A" : "W0");
    hd_args h = {.w0 = W0, .b = B, .a = A, .w = W, .m = W0->shape[0], .n = W0->shape[1], .r = A->shape[0], .s = scale};
    if (prism_stream_is_reference(s)) {
        const prism_tensor *ts[4] = {W0, B, A, W};
        return prism_ref_enqueue(s, OP_MERGE, merge_ref, &h, sizeof h, ts, 4);
    }
    return merge_device(s, &h);
}

/* ---------------------------------------------------------------- grad */

static prism_status grad_a_device(prism_stream *s, const hd_args *h, prism_tensor *work) {
    prism_context *ctx = prism_stream_context(s);
    const int64_t m = h->m, n = h->n, r = h->r, lim = max_binding(ctx);
    ga_plan p = plan_grad_a(m, n, r, lim);
    const prism_tensor *out = p.direct ? h->da : work;
    bool vec = n % 4 == 0 && prism_op_aligned16(h->w0) && prism_op_aligned16(h->g) && prism_op_aligned16(out);
    int64_t ncg = vec ? n / 4 : n;
    uint32_t cw = col_groups(ctx, ncg), lx, ly;
    local_2d(ctx, PRISM_CEIL_DIV(ncg, (int64_t)cw), &lx, &ly);
    uint32_t rb = (uint32_t)PRISM_MIN(r, (int64_t)RB_MAX), bv = r % 4 == 0 && prism_op_aligned16(h->b);
    uint64_t tiles_x = (uint64_t)PRISM_CEIL_DIV(ncg, (int64_t)lx * cw);
    prism_status st;
    for (int64_t r0 = 0; r0 < m; r0 += p.rows_disp) {
        int64_t nr = PRISM_MIN(p.rows_disp, m - r0);
        int64_t rc = p.direct ? nr : p.rc, chunks = PRISM_CEIL_DIV(nr, rc), c0 = p.direct ? 0 : r0 / p.rc;
        prism_kernel k = {.op = OP_GRAD, .shader = vec ? "hadamard_grad_a_vec4" : "hadamard_grad_a", .nspec = 7,
                          .spec = {lx, ly, 1, rb, 1, cw, bv},
                          .groups = {tiles_x * (uint64_t)PRISM_CEIL_DIV(chunks, (int64_t)ly), 1, 1},
                          .fault_binding = p.direct ? 0 : -1};
        k.bind[0] = (prism_binding){out, c0 * r * n, chunks * r * n, true};
        k.bind[1] = (prism_binding){h->w0, r0 * n, nr * n, false};
        k.bind[2] = (prism_binding){h->g, r0 * n, nr * n, false};
        k.bind[3] = (prism_binding){h->b, r0 * r, nr * r, false};
        k.nbind = 4;
        struct { uint32_t rows, n, r, rc, chunks, tiles_x, direct; float s, beta; } push = {
            (uint32_t)nr, (uint32_t)n, (uint32_t)r, (uint32_t)rc, (uint32_t)chunks, (uint32_t)tiles_x, p.direct,
            (float)h->s, r0 == 0 ? (float)h->beta : 1.0f};
        memcpy(k.push, &push, sizeof push);
        k.push_size = sizeof push;
        if ((st = prism_record_kernel(s, &k))) return st;
    }
    if (p.direct) return PRISM_OK;
    uint32_t ls = prism_local_size_1d(ctx);
    int64_t count = r * n;
    prism_kernel k = {.op = OP_GRAD, .shader = "hadamard_sum", .nspec = 5, .spec = {ls, 1, 1, 1, 1},
                      .groups = {(uint64_t)PRISM_CEIL_DIV(count, (int64_t)ls), 1, 1}, .fault_binding = 0};
    k.bind[0] = (prism_binding){h->da, 0, count, true};
    k.bind[1] = (prism_binding){work, 0, p.chunks * count, false};
    k.nbind = 2;
    struct { uint32_t count, chunks; float s, beta; } push = {(uint32_t)count, (uint32_t)p.chunks, (float)h->s,
                                                              (float)h->beta};
    memcpy(k.push, &push, sizeof push);
    k.push_size = sizeof push;
    return prism_record_kernel(s, &k);
}

/* Invocations per row: about 32 elements (or vec4s) each, as row_sum. */
static uint32_t threads_per_row(int64_t cols, uint32_t ls) {
    uint32_t t = 1;
    while (t < ls && (int64_t)t * 32 < cols) t *= 2;
    return t;
}

static prism_status grad_b_device(prism_stream *s, const hd_args *h) {
    prism_context *ctx = prism_stream_context(s);
    const int64_t m = h->m, n = h->n, r = h->r, lim = max_binding(ctx);
    bool vec = n % 4 == 0 && prism_op_aligned16(h->w0) && prism_op_aligned16(h->g) && prism_op_aligned16(h->a);
    int64_t ncg = vec ? n / 4 : n, rows_bind = rows_per_binding(n, r, lim);
    uint32_t rb = (uint32_t)PRISM_MIN(r, (int64_t)RB_MAX);
    uint32_t rpl = knob("RPL", ctx->caps.type == PRISM_DEVICE_CPU ? GB_RPL_CPU : 1, 1, 16);
    if ((int64_t)rpl > m) rpl = (uint32_t)m;
    /* the tree keeps RB * RPL floats per invocation in shared memory; at most
     * 16 KiB (the guaranteed minimum) so small devices run it too */
    uint32_t shm = PRISM_MIN(ctx->caps.max_shared_memory_size ? ctx->caps.max_shared_memory_size : 16384, 16384u);
    uint32_t ls = prism_op_pow2_floor(PRISM_MAX(1u, PRISM_MIN(prism_local_size_1d(ctx), shm / (4 * rb * rpl))));
    uint32_t tpr = threads_per_row(ncg, ls), rows_per_group = ls / tpr * rpl;
    prism_status st;
    for (int64_t r0 = 0; r0 < m; r0 += rows_bind) {
        int64_t nr = PRISM_MIN(rows_bind, m - r0);
        prism_kernel k = {.op = OP_GRAD, .shader = vec ? "hadamard_grad_b_vec4" : "hadamard_grad_b", .nspec = 8,
                          .spec = {ls, 1, 1, rb, tpr, 1, 0, rpl},
                          .groups = {(uint64_t)PRISM_CEIL_DIV(nr, (int64_t)rows_per_group), 1, 1},
                          .fault_binding = 0};
        k.bind[0] = (prism_binding){h->db, r0 * r, nr * r, true};
        k.bind[1] = (prism_binding){h->w0, r0 * n, nr * n, false};
        k.bind[2] = (prism_binding){h->g, r0 * n, nr * n, false};
        k.bind[3] = (prism_binding){h->a, 0, r * n, false};
        k.nbind = 4;
        struct { uint32_t rows, n, r; float s, beta; } push = {(uint32_t)nr, (uint32_t)n, (uint32_t)r, (float)h->s,
                                                               (float)h->beta};
        memcpy(k.push, &push, sizeof push);
        k.push_size = sizeof push;
        if ((st = prism_record_kernel(s, &k))) return st;
    }
    return PRISM_OK;
}

prism_status prism_hadamard_grad(prism_stream *s, const prism_tensor *W0, const prism_tensor *G,
                                 const prism_tensor *B, const prism_tensor *A, float scale, float beta,
                                 prism_tensor *dA, prism_tensor *dB, prism_tensor *work) {
    prism_status st = prism_op_begin(s, OP_GRAD);
    if (st) return st;
    if ((st = prism_check_tensor(s, OP_GRAD, "W0", W0)) || (st = prism_check_tensor(s, OP_GRAD, "G", G)) ||
        (st = prism_check_tensor(s, OP_GRAD, "B", B)) || (st = prism_check_tensor(s, OP_GRAD, "A", A)))
        return st;
    prism_context *ctx = prism_stream_context(s);
    if (!dA && !dB)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: dA and dB are both NULL (nothing to compute)",
                               OP_GRAD);
    if ((dA && (st = prism_check_tensor(s, OP_GRAD, "dA", dA))) || (dB && (st = prism_check_tensor(s, OP_GRAD, "dB", dB))) ||
        (work && (st = prism_check_tensor(s, OP_GRAD, "work", work))))
        return st;
    char s0[64], sg[64], sb[64], sa[64], sda[64] = "-", sdb[64] = "-";
    prism_tensor_shape_str(W0, s0, sizeof s0);
    prism_tensor_shape_str(G, sg, sizeof sg);
    prism_tensor_shape_str(B, sb, sizeof sb);
    prism_tensor_shape_str(A, sa, sizeof sa);
    if (dA) prism_tensor_shape_str(dA, sda, sizeof sda);
    if (dB) prism_tensor_shape_str(dB, sdb, sizeof sdb);
    bool ok = W0->ndim == 2 && B->ndim == 2 && A->ndim == 2 && is_matrix(G, W0->shape[0], W0->shape[1]) &&
              B->shape[0] == W0->shape[0] && A->shape[1] == W0->shape[1] && A->shape[0] == B->shape[1];
    if (ok && dA) ok = is_matrix(dA, A->shape[0], A->shape[1]);
    if (ok && dB) ok = is_matrix(dB, B->shape[0], B->shape[1]);
    if (!ok)
        return prism_set_error(ctx, PRISM_ERR_SHAPE,
                               "%s: W0 %s, G %s, B %s, A %s, dA %s, dB %s: expected W0 and G [m, n], B and dB [m, r], "
                               "A and dA [r, n]",
                               OP_GRAD, s0, sg, sb, sa, sda, sdb);
    if (!isfinite(scale) || !isfinite(beta))
        return prism_set_error(ctx, PRISM_ERR_NOT_FINITE, "%s: scale %g and beta %g must be finite (W0 %s)", OP_GRAD,
                               scale, beta, s0);
    const int64_t m = W0->shape[0], n = W0->shape[1], r = A->shape[0];
    const prism_tensor *ins[4] = {W0, G, B, A};
    prism_tensor *outs[3] = {dA, dB, work};
    const char *onames[3] = {"dA", "dB", "work"}, *inames[4] = {"W0", "G", "B", "A"};
    for (int o = 0; o < 3; o++) {
        for (int i = 0; i < 4; i++)
            if (prism_op_overlap(outs[o], ins[i]))
                return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: %s overlaps input %s %s", OP_GRAD,
                                       onames[o], inames[i], i == 0 ? s0 : i == 1 ? sg : i == 2 ? sb : sa);
        for (int q = o + 1; q < 3; q++)
            if (prism_op_overlap(outs[o], outs[q]))
                return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: %s overlaps %s", OP_GRAD, onames[o],
                                       onames[q]);
    }
    int64_t need = dA ? prism_hadamard_grad_workspace(ctx, m, n, r) : 0;
    if (need > 0 && !work)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT,
                               "%s: W0 %s at rank %lld needs a workspace of %lld elements "
                               "(prism_hadamard_grad_workspace); work is NULL",
                               OP_GRAD, s0, (long long)r, (long long)need);
    if (need > 0 && work->numel < need)
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: W0 %s at rank %lld needs a workspace of %lld elements, work has %lld",
                               OP_GRAD, s0, (long long)r, (long long)need, (long long)work->numel);

    hd_args h = {.w0 = W0, .g = G, .b = B, .a = A, .da = dA, .db = dB, .m = m, .n = n, .r = r, .s = scale, .beta = beta};
    if (prism_stream_is_reference(s)) {
        const prism_tensor *ts[6] = {W0, G, B, A, dA ? dA : W0, dB ? dB : W0};
        return prism_ref_enqueue(s, OP_GRAD, grad_ref, &h, sizeof h, ts, 6);
    }
    if ((st = check_binding(ctx, OP_GRAD, m, n, r, max_binding(ctx)))) return st;
    /* dB first: it and dA's first kernel read the same W0 / G rows and write
     * different outputs, so the stream puts no barrier between them */
    if (dB && (st = grad_b_device(s, &h))) return st;
    if (dA && (st = grad_a_device(s, &h, work))) return st;
    return PRISM_OK;
}
