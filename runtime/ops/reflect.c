/* Dispatchers of the reflect ops (shaders/reflect.comp): block-diagonal
 * ETHER / ETHER+ on rows, forward and backward (include/prism/reflect.h).
 *
 * Status per failure:
 *   NULL stream/tensor, dv without v, work missing     PRISM_ERR_INVALID_ARGUMENT
 *   an output overlapping an input or another output   PRISM_ERR_INVALID_ARGUMENT
 *   tensor from another context                        PRISM_ERR_WRONG_CONTEXT
 *   u not [nb, b] with nb*b = d, v/bias/y/dy/dx/du/dv
 *   shapes disagreeing, work smaller than K*d          PRISM_ERR_SHAPE
 *   a row longer than one storage binding              PRISM_ERR_UNSUPPORTED
 *
 * Plan (see the shader's header for the kernel): invocations per segment S
 * (power of two), items per invocation E, rows per pass R, rows per chunk
 * rc. Rows are split over dispatches so no binding exceeds
 * maxStorageBufferRange; the backward's partial rows are numbered across
 * dispatches, and reflect_final adds them in chunk order afterwards.
 *
 * Test/tuning hooks (environment): PRISM_REFLECT_TILE="S,E,R,C,L,G" caps S,
 * sets E, R and CONTIG (0/1), sets the workgroup size L (at most the
 * device's) and G = 1 asks for subgroup segments (where the device has
 * subgroup ops; a tile without G = 1 never uses them); any field 0 =
 * default. So e.g. the GPU plan runs on lavapipe, and small blocks can
 * take the multi-chunk path; PRISM_REFLECT_MAX_BINDING (elements) lowers the
 * binding limit of the row tensors so the split over dispatches is exercised
 * with small tensors (the work tensor keeps the device's limit). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "op_util.h"
#include "../reference/reflect.h"
#include "prism/reflect.h"

enum { F_BWD = 1, F_PLUS = 2, F_BIAS = 4, F_OUT = 8, F_PART = 16, F_CONTIG = 32, F_ONE = 64 };
/* Backward chunks hold at least this many rows (unless one binding holds
 * fewer), which bounds the partial rows prism_reflect_work_elems asks for. */
enum { MIN_CHUNK_ROWS = 8 };

typedef struct plan {
    bool v4, sg;     /* sg: a segment is one subgroup (reflect*_sg) */
    uint32_t ls, S, E, R, flags;
    int64_t vs;      /* floats per item */
    int64_t rows, d, nb, bw;
    int64_t ncol;    /* column chunks per block */
    int64_t rc;      /* rows per chunk */
    int64_t rd;      /* rows per dispatch (multiple of rc) */
} plan;

typedef struct fwd_args {
    const prism_tensor *x, *u, *v, *bias, *y;
    int64_t rows, d, nb;
} fwd_args;

typedef struct bwd_args {
    const prism_tensor *x, *u, *v, *dy, *dx, *du, *dv;
    int64_t rows, d, nb;
} bwd_args;

static double *data_or_null(const prism_tensor *t) { return t ? prism_ref_data(t) : NULL; }

static void fwd_ref(const void *p) {
    const fwd_args *a = p;
    prism_ref_reflect(prism_ref_data(a->y), prism_ref_data(a->x), prism_ref_data(a->u), data_or_null(a->v),
                      data_or_null(a->bias), a->rows, a->d, a->nb);
}

static void bwd_ref(const void *p) {
    const bwd_args *a = p;
    prism_ref_reflect_backward(data_or_null(a->dx), data_or_null(a->du), data_or_null(a->dv), prism_ref_data(a->x),
                               prism_ref_data(a->dy), prism_ref_data(a->u), data_or_null(a->v), a->rows, a->d, a->nb);
}

static uint32_t pow2_ceil(int64_t v) {
    uint32_t p = 1;
    while ((int64_t)p < v && p < (1u << 30)) p *= 2;
    return p;
}

/* Values the segment tree reduces at once (shader: NV = K + R*Q). */
static uint32_t nvalues(uint32_t R, bool bwd, bool plus) {
    uint32_t k = plus ? 2 : 1;
    return k + R * k * (bwd ? 2 : 1);
}

/* Kernel shape for rows x d in nb blocks. cmax: the most backward partial
 * rows the work tensor (and one binding) can hold; 0 for the forward. */
static prism_status make_plan(prism_context *ctx, const char *op, int64_t rows, int64_t d, int64_t nb, bool bwd,
                              bool plus, bool v4, int64_t cmax, plan *p) {
    const prism_caps *c = &ctx->caps;
    bool cpu = c->type == PRISM_DEVICE_CPU;
    memset(p, 0, sizeof *p);
    p->rows = rows;
    p->d = d;
    p->nb = nb;
    p->bw = d / nb;
    p->v4 = v4;
    p->vs = v4 ? 4 : 1;
    int64_t bwv = p->bw / p->vs;
    p->ls = prism_op_pow2_floor(prism_local_size_1d(ctx));
    /* CPU devices (tuned on lavapipe, docs/ether.md): small workgroups so
     * work spreads over the threads, no barriers or shared memory (they cost
     * more there than reading x twice). Blocks of up to 16 items: one
     * invocation per block, in registers (no column loop: about 2x faster
     * there), few rows per pass (R E <= 16 forward, <= 8 backward measured
     * best; more unrolled code was slower). Wider blocks: one subgroup per
     * block (sg, sums by subgroupAdd) with interleaved columns, so each
     * load of the SIMD lanes covers one contiguous span as in the copy
     * shader, the block in registers while it fits E <= 8 items per lane
     * (R E <= 8 forward, R = 1 backward), else chunks of E = 1 with 8 rows
     * per pass (E = 2, R = 4 backward). Without subgroup ops: one
     * invocation per block, contiguous chunks of E = 8 (4 backward), R = 4.
     * GPUs: a segment of up to a whole workgroup per block, interleaved
     * columns, the block in registers. */
    uint32_t n = c->subgroup_min_size, nmax = c->subgroup_max_size;
    bool contig = cpu, ccol = false; /* ccol: PRISM_REFLECT_TILE set the column layout */
    uint32_t e = cpu ? (bwd ? 4 : 8) : 4, r = cpu ? 4 : (bwd ? 1 : 2), smax = cpu ? 1 : p->ls;
    if (cpu && bwv <= 16) {
        e = (uint32_t)bwv;
        r = bwv >= (bwd ? 8 : 16) ? 1 : 2;
    } else if (cpu && c->subgroup_ops && n > 0) {
        p->sg = true;
        bool one = bwv <= 8 * (int64_t)n;
        e = one ? (uint32_t)PRISM_CEIL_DIV(bwv, (int64_t)n) : (bwd ? 2 : 1);
        r = one ? (bwd ? 1 : PRISM_MAX(1u, 8u / e)) : (bwd ? 4 : 8);
    }
    uint32_t lmax = p->ls;
    if (cpu) p->ls = PRISM_MIN(p->ls, PRISM_MAX(16u, nmax));
    const char *tile = getenv("PRISM_REFLECT_TILE");
    if (tile && *tile) {
        unsigned ts = 0, te = 0, tr = 0, tc = 2, tl = 0, tg = 0;
        if (sscanf(tile, "%u,%u,%u,%u,%u,%u", &ts, &te, &tr, &tc, &tl, &tg) >= 1) {
            p->sg = tg == 1; /* a forced plan uses subgroups only when asked */
            if (tl) p->ls = PRISM_MIN(lmax, prism_op_pow2_floor(tl));
            if (ts) smax = PRISM_MIN(p->ls, prism_op_pow2_floor(ts));
            if (te) e = PRISM_MIN(te, 16u);
            if (tr) r = PRISM_MIN(tr, 8u);
            if (tc <= 1) contig = tc == 1;
            ccol = tc <= 1;
        }
    }
    smax = PRISM_MIN(smax, p->ls);
    /* subgroup segments need whole subgroups: a workgroup of whole ones */
    if (p->sg && !(c->subgroup_ops && n > 0 && p->ls % nmax == 0)) p->sg = false;
    if (p->sg && !ccol) contig = false; /* neighbouring lanes, neighbouring addresses */
    p->E = (uint32_t)PRISM_MAX(1, PRISM_MIN((int64_t)e, bwv));
    p->S = p->sg ? nmax : PRISM_MIN(smax, pow2_ceil(PRISM_CEIL_DIV(bwv, p->E)));
    /* the kernel counts a subgroup's lanes itself; ONE must hold for the smallest */
    p->ncol = PRISM_CEIL_DIV(bwv, (int64_t)(p->sg ? n : p->S) * p->E);
    p->R = r;
    uint32_t shared = c->max_shared_memory_size ? c->max_shared_memory_size : 16384;
    while (p->R > 1 && (uint64_t)nvalues(p->R, bwd, plus) * p->ls * 4 > shared) p->R /= 2;
    if ((uint64_t)nvalues(p->R, bwd, plus) * p->ls * 4 > shared)
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED, "%s: the device's %u bytes of shared memory are too few",
                               op, shared);
    int64_t maxe = prism_op_max_binding(ctx, "PRISM_REFLECT_MAX_BINDING");
    if (d > maxe)
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED,
                               "%s: rows of %lld elements exceed one storage binding (%lld elements, "
                               "maxStorageBufferRange %llu bytes)",
                               op, (long long)d, (long long)maxe, (unsigned long long)c->max_storage_buffer_range);
    while (p->R > 1 && (int64_t)p->R * d > maxe) p->R /= 2;

    /* Rows per chunk: enough segments to fill the device (target invocations),
     * each amortising its scale pass over several row groups. */
    int64_t groups = PRISM_CEIL_DIV(rows, (int64_t)p->R);
    int64_t target = cpu ? 1024 : 65536;
    /* subgroup segments over multi-chunk blocks: fewer, longer backward
     * chunks, so reflect_final (one segment per block) reads fewer partial
     * rows: [512, 4096] in 1 block went from 64 to 16 chunks, 5% less CPU,
     * and the final pass no longer ran alone on one thread */
    if (p->sg && bwd && p->ncol > 1) target /= 8;
    int64_t g = groups * nb * p->S / target;
    if (bwd) {
        g = PRISM_MAX(g, PRISM_CEIL_DIV(MIN_CHUNK_ROWS, (int64_t)p->R));
        if (cmax > 0) g = PRISM_MAX(g, PRISM_CEIL_DIV(groups, cmax));
    } else {
        g = PRISM_MIN(g, 16);
    }
    g = PRISM_MAX(1, PRISM_MIN(g, groups));
    p->rc = g * p->R;
    int64_t fit = maxe / d; /* rows one binding holds */
    if (p->rc > fit) p->rc = PRISM_MAX((int64_t)p->R, fit - fit % p->R);
    p->rd = PRISM_MAX(p->rc, fit - fit % p->rc);
    p->flags = (bwd ? F_BWD : 0) | (plus ? F_PLUS : 0) | (contig ? F_CONTIG : 0) | (p->ncol == 1 ? F_ONE : 0);
    if (bwd && PRISM_CEIL_DIV(rows, p->rc) > cmax)
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED,
                               "%s: %lld rows of %lld need %lld partial rows of work but it holds %lld "
                               "(see prism_reflect_work_elems)",
                               op, (long long)rows, (long long)d, (long long)PRISM_CEIL_DIV(rows, p->rc),
                               (long long)cmax);
    return PRISM_OK;
}

static prism_status record_rows(prism_stream *s, const char *op, const plan *p, uint32_t flags,
                                const prism_tensor *out, const prism_tensor *in, const prism_tensor *u,
                                const prism_tensor *v, const prism_tensor *bias, const prism_tensor *x,
                                const prism_tensor *work) {
    prism_status st;
    int64_t K = ((p->flags | flags) & F_PLUS) ? 2 : 1;
    for (int64_t r0 = 0; r0 < p->rows; r0 += p->rd) {
        int64_t n = PRISM_MIN(p->rd, p->rows - r0), nchunk = PRISM_CEIL_DIV(n, p->rc), items = nchunk * p->nb;
        uint32_t segs = p->ls / p->S;
        const char *sh = p->sg ? (p->v4 ? "reflect_vec4_sg" : "reflect_sg") : (p->v4 ? "reflect_vec4" : "reflect");
        prism_kernel k = {.op = op, .shader = sh, .nspec = 7,
                          .spec = {p->ls, 1, 1, p->flags | flags, p->S, p->E, p->R},
                          .groups = {(uint64_t)PRISM_CEIL_DIV(items, (int64_t)segs), 1, 1},
                          .fault_binding = (flags & F_OUT) ? 0 : 6, .nbind = 7};
        /* unused slots repeat an input the kernel never touches in that mode */
        k.bind[0] = (prism_binding){out ? out : in, r0 * p->d, n * p->d, out != NULL};
        k.bind[1] = (prism_binding){in, r0 * p->d, n * p->d, false};
        k.bind[2] = (prism_binding){u, 0, 0, false};
        k.bind[3] = (prism_binding){v ? v : u, 0, 0, false};
        k.bind[4] = (prism_binding){bias ? bias : u, 0, 0, false};
        k.bind[5] = x ? (prism_binding){x, r0 * p->d, n * p->d, false} : (prism_binding){u, 0, 0, false};
        int64_t c0 = r0 / p->rc;
        k.bind[6] = work ? (prism_binding){work, c0 * K * p->d, nchunk * K * p->d, true} : (prism_binding){u, 0, 0, false};
        struct { uint32_t rows, d, bw, nb, rc, items, ncol; } push = {
            (uint32_t)n, (uint32_t)(p->d / p->vs), (uint32_t)(p->bw / p->vs), (uint32_t)p->nb,
            (uint32_t)p->rc, (uint32_t)items, (uint32_t)p->ncol};
        memcpy(k.push, &push, sizeof push);
        k.push_size = sizeof push;
        if ((st = prism_record_kernel(s, &k))) return st;
    }
    return PRISM_OK;
}

/* grad += kappa-scaled projection of the summed partials (reflect_final). */
static prism_status record_final(prism_stream *s, const char *op, const plan *p, const prism_tensor *grad,
                                 const prism_tensor *vec, const prism_tensor *work, int64_t which, float kappa) {
    int64_t K = (p->flags & F_PLUS) ? 2 : 1, chunks = PRISM_CEIL_DIV(p->rows, p->rc);
    uint32_t S = PRISM_MIN(p->ls, pow2_ceil(p->bw));
    prism_kernel k = {.op = op, .shader = "reflect_final", .nspec = 5, .spec = {p->ls, 1, 1, 0, S},
                      .groups = {(uint64_t)PRISM_CEIL_DIV(p->nb, (int64_t)(p->ls / S)), 1, 1},
                      .fault_binding = 0, .nbind = 3};
    k.bind[0] = (prism_binding){grad, 0, 0, true};
    k.bind[1] = (prism_binding){vec, 0, 0, false};
    k.bind[2] = (prism_binding){work, which * p->d, chunks * K * p->d - which * p->d, true};
    struct { uint32_t bw, nb, chunks, stride; float kappa; } push = {(uint32_t)p->bw, (uint32_t)p->nb,
                                                                     (uint32_t)chunks, (uint32_t)(K * p->d), kappa};
    memcpy(k.push, &push, sizeof push);
    k.push_size = sizeof push;
    return prism_record_kernel(s, &k);
}

/* Checks common to both ops; fills rows, d, nb. */
static prism_status check_common(prism_stream *s, const char *op, const prism_tensor *x, const prism_tensor *u,
                                 const prism_tensor *v, int64_t *rows, int64_t *d, int64_t *nb) {
    prism_context *ctx = prism_stream_context(s);
    prism_status st;
    if ((st = prism_check_tensor(s, op, "x", x)) || (st = prism_check_tensor(s, op, "u", u))) return st;
    if (v && (st = prism_check_tensor(s, op, "v", v))) return st;
    char sx[64], su[64], sv[64];
    prism_tensor_shape_str(x, sx, sizeof sx);
    prism_tensor_shape_str(u, su, sizeof su);
    *d = x->shape[x->ndim - 1];
    *rows = x->numel / *d;
    if (u->ndim != 2 || u->shape[0] * u->shape[1] != *d)
        return prism_set_error(ctx, PRISM_ERR_SHAPE,
                               "%s: u %s does not fit x %s: expected [nb, %lld/nb] with nb dividing %lld", op, su, sx,
                               (long long)*d, (long long)*d);
    *nb = u->shape[0];
    if (v && (v->ndim != 2 || v->shape[0] != u->shape[0] || v->shape[1] != u->shape[1]))
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: v %s differs from u %s", op,
                               prism_tensor_shape_str(v, sv, sizeof sv), su);
    return PRISM_OK;
}

/* t must hold rows of length d like x, with the same element count. */
static prism_status check_rows_like(prism_stream *s, const char *op, const char *what, const prism_tensor *t,
                                    const prism_tensor *x) {
    if (t->numel == x->numel && t->shape[t->ndim - 1] == x->shape[x->ndim - 1]) return PRISM_OK;
    char a[64], b[64];
    return prism_set_error(prism_stream_context(s), PRISM_ERR_SHAPE, "%s: %s %s differs from x %s", op, what,
                           prism_tensor_shape_str(t, a, sizeof a), prism_tensor_shape_str(x, b, sizeof b));
}

static prism_status check_like(prism_stream *s, const char *op, const char *what, const prism_tensor *t,
                               const prism_tensor *ref, const char *refname) {
    if (t->ndim == ref->ndim && t->numel == ref->numel &&
        !memcmp(t->shape, ref->shape, sizeof(int64_t) * (size_t)t->ndim))
        return PRISM_OK;
    char a[64], b[64];
    return prism_set_error(prism_stream_context(s), PRISM_ERR_SHAPE, "%s: %s %s differs from %s %s", op, what,
                           prism_tensor_shape_str(t, a, sizeof a), refname, prism_tensor_shape_str(ref, b, sizeof b));
}

/* No output may overlap an input or another output. */
static prism_status check_overlaps(prism_stream *s, const char *op, const prism_tensor *const *outs, int nout,
                                   const prism_tensor *const *ins, int nin) {
    for (int i = 0; i < nout; i++) {
        if (!outs[i]) continue;
        bool bad = false;
        for (int j = 0; j < nin && !bad; j++) bad = prism_op_overlap(outs[i], ins[j]);
        for (int j = 0; j < i && !bad; j++) bad = prism_op_overlap(outs[i], outs[j]);
        if (bad) {
            char b[64];
            return prism_set_error(prism_stream_context(s), PRISM_ERR_INVALID_ARGUMENT,
                                   "%s: output %s overlaps another operand", op,
                                   prism_tensor_shape_str(outs[i], b, sizeof b));
        }
    }
    return PRISM_OK;
}

prism_status prism_reflect(prism_stream *s, const prism_tensor *x, const prism_tensor *u, const prism_tensor *v,
                           const prism_tensor *bias, prism_tensor *y) {
    const char *op = "reflect";
    prism_status st = prism_op_begin(s, op);
    if (st) return st;
    prism_context *ctx = prism_stream_context(s);
    int64_t rows, d, nb;
    if ((st = check_common(s, op, x, u, v, &rows, &d, &nb))) return st;
    if ((st = prism_check_tensor(s, op, "y", y))) return st;
    if (bias && (st = prism_check_tensor(s, op, "bias", bias))) return st;
    if ((st = check_rows_like(s, op, "y", y, x))) return st;
    if (bias && bias->numel != d) {
        char b[64];
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: bias %s must have %lld elements (the row length)", op,
                               prism_tensor_shape_str(bias, b, sizeof b), (long long)d);
    }
    const prism_tensor *outs[1] = {y}, *ins[4] = {x, u, v, bias};
    if ((st = check_overlaps(s, op, outs, 1, ins, 4))) return st;

    if (prism_stream_is_reference(s)) {
        fwd_args a = {x, u, v, bias, y, rows, d, nb};
        const prism_tensor *ts[5] = {x, u, y, v ? v : u, bias ? bias : u};
        return prism_ref_enqueue(s, op, fwd_ref, &a, sizeof a, ts, 5);
    }
    bool v4 = (d / nb) % 4 == 0 && prism_op_aligned16(x) && prism_op_aligned16(y) && prism_op_aligned16(u) &&
              prism_op_aligned16(v) && prism_op_aligned16(bias);
    plan p;
    if ((st = make_plan(ctx, op, rows, d, nb, false, v != NULL, v4, 0, &p))) return st;
    return record_rows(s, op, &p, F_OUT | (bias ? F_BIAS : 0), y, x, u, v, bias, NULL, NULL);
}

int64_t prism_reflect_work_elems(const prism_context *ctx, int64_t rows, int64_t d, int plus) {
    if (!ctx || rows < 1 || d < 1) return 0;
    int64_t K = plus ? 2 : 1, per = K * d;
    /* Chunks hold MIN_CHUNK_ROWS rows unless one binding holds fewer rows
     * (fit); then make_plan's chunk is still at least half of fit. */
    int64_t fit = PRISM_MAX(1, prism_op_max_binding(ctx, "PRISM_REFLECT_MAX_BINDING") / d);
    int64_t chunks = PRISM_CEIL_DIV(rows, PRISM_MIN((int64_t)MIN_CHUNK_ROWS, (fit + 1) / 2));
    int64_t cap = PRISM_MAX(1, prism_max_binding_elems(ctx) / per); /* reflect_final binds them all at once */
    return PRISM_MIN(chunks, cap) * per;
}

prism_status prism_reflect_backward(prism_stream *s, const prism_tensor *x, const prism_tensor *u,
                                    const prism_tensor *v, const prism_tensor *dy, prism_tensor *dx, prism_tensor *du,
                                    prism_tensor *dv, prism_tensor *work) {
    const char *op = "reflect_backward";
    prism_status st = prism_op_begin(s, op);
    if (st) return st;
    prism_context *ctx = prism_stream_context(s);
    int64_t rows, d, nb;
    if ((st = check_common(s, op, x, u, v, &rows, &d, &nb))) return st;
    if ((st = prism_check_tensor(s, op, "dy", dy))) return st;
    if (dx && (st = prism_check_tensor(s, op, "dx", dx))) return st;
    if (du && (st = prism_check_tensor(s, op, "du", du))) return st;
    if (dv && (st = prism_check_tensor(s, op, "dv", dv))) return st;
    if (dv && !v) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: dv given without v (ETHER has no v)", op);
    bool grads = du || dv;
    if (grads && !work)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: work is NULL but du/dv are requested", op);
    if (grads && (st = prism_check_tensor(s, op, "work", work))) return st;
    if ((st = check_rows_like(s, op, "dy", dy, x))) return st;
    if (dx && (st = check_rows_like(s, op, "dx", dx, x))) return st;
    if (du && (st = check_like(s, op, "du", du, u, "u"))) return st;
    if (dv && (st = check_like(s, op, "dv", dv, v, "v"))) return st;
    int64_t K = v ? 2 : 1;
    if (grads && work->numel < K * d) {
        char b[64];
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: work %s has %lld elements, needs at least %lld (%s x %lld)",
                               op, prism_tensor_shape_str(work, b, sizeof b), (long long)work->numel,
                               (long long)(K * d), v ? "2" : "1", (long long)d);
    }
    const prism_tensor *outs[4] = {dx, du, dv, grads ? work : NULL}, *ins[4] = {x, u, v, dy};
    if ((st = check_overlaps(s, op, outs, 4, ins, 4))) return st;

    if (prism_stream_is_reference(s)) {
        bwd_args a = {x, u, v, dy, dx, du, dv, rows, d, nb};
        const prism_tensor *ts[7] = {x, u, dy, v ? v : u, dx ? dx : u, du ? du : u, dv ? dv : u};
        return prism_ref_enqueue(s, op, bwd_ref, &a, sizeof a, ts, 7);
    }
    if (!grads && !dx) return PRISM_OK; /* nothing requested */
    bool v4 = (d / nb) % 4 == 0 && prism_op_aligned16(x) && prism_op_aligned16(u) && prism_op_aligned16(v) &&
              prism_op_aligned16(dy) && prism_op_aligned16(dx) && prism_op_aligned16(grads ? work : NULL);
    plan p;
    if (!grads) { /* dx = dy H is the forward applied to dy */
        if ((st = make_plan(ctx, op, rows, d, nb, false, v != NULL, v4, 0, &p))) return st;
        return record_rows(s, op, &p, F_OUT, dx, dy, u, v, NULL, NULL, NULL);
    }
    int64_t cmax = PRISM_MIN(work->numel, prism_max_binding_elems(ctx)) / (K * d);
    if ((st = make_plan(ctx, op, rows, d, nb, true, v != NULL, v4, cmax, &p))) return st;
    if ((st = record_rows(s, op, &p, F_PART | (dx ? F_OUT : 0), dx, dy, u, v, NULL, x, work))) return st;
    if (du && (st = record_final(s, op, &p, du, u, work, 0, v ? -1.0f : -2.0f))) return st;
    if (dv && (st = record_final(s, op, &p, dv, v, work, 1, 1.0f))) return st;
    return PRISM_OK;
}
