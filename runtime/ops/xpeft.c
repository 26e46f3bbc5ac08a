/* Dispatchers of the xpeft ops (shaders/xpeft.comp, include/prism/xpeft.h)
 * and of the multi-profile gathers (shaders/multi.comp,
 * include/prism/profiles.h).
 *
 * Status per failure:
 *   NULL stream/tensor, bad mask kind, k outside 1..N    PRISM_ERR_INVALID_ARGUMENT
 *   an output overlapping an input                       PRISM_ERR_INVALID_ARGUMENT
 *   tensor from another context                          PRISM_ERR_WRONG_CONTEXT
 *   element counts / last dims that disagree             PRISM_ERR_SHAPE
 *   a tensor larger than one storage binding             PRISM_ERR_UNSUPPORTED
 *   P, N, D beyond 2^31 (uint indexing in the shaders)   PRISM_ERR_UNSUPPORTED
 *
 * Every tensor is bound whole: the banks and stacks are indexed by profile or
 * member, so a split over dispatches would have to split those anyway, and
 * at realistic sizes (N = 64, r = 8, n = 4096: 8 MB) they are far below
 * the 128 MiB binding limit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "op_util.h"
#include "../reference/xpeft.h"
#include "prism/profiles.h"
#include "prism/xpeft.h"

enum { F_HARD = 1, F_ACC = 2 };                     /* xpeft.comp flags */
enum { M_ACC = 1, M_BIAS = 2, M_PLUS = 4 };         /* multi.comp flags */

/* The first element starts 16-byte aligned in its buffer (vec4 bindings). */
/* Power-of-two workgroup size near `want` invocations, within the device's. */
static uint32_t wg_size(const prism_context *ctx, int64_t want) {
    uint32_t ls = prism_op_pow2_floor(prism_local_size_1d(ctx)), p = 1;
    while ((int64_t)p < want && p < ls) p *= 2;
    return p;
}

static const char *shp(const prism_tensor *t, char *b, size_t n) { return prism_tensor_shape_str(t, b, n); }

static int64_t last_dim(const prism_tensor *t) { return t->shape[t->ndim - 1]; }

/* Every tensor non-NULL and of the stream's context (NULL entries after
 * `nreq` are optional). */
static prism_status check_all(prism_stream *s, const char *op, const char *const *what, const prism_tensor *const *t,
                              int n, int nreq) {
    prism_status st = prism_op_begin(s, op);
    for (int i = 0; !st && i < n; i++)
        if (i < nreq || t[i]) st = prism_check_tensor(s, op, what[i], t[i]);
    return st;
}

/* Device limits: every tensor bound whole within one binding; counts in uint. */
static prism_status check_fit(prism_stream *s, const char *op, const char *const *what, const prism_tensor *const *t,
                              int n) {
    prism_context *ctx = prism_stream_context(s);
    if (prism_stream_is_reference(s)) return PRISM_OK;
    int64_t maxe = prism_max_binding_elems(ctx);
    for (int i = 0; i < n; i++) {
        if (!t[i] || t[i]->numel <= maxe) continue;
        char b[64];
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED,
                               "%s: %s %s has %lld elements, more than one storage binding holds (%lld, "
                               "maxStorageBufferRange %llu bytes)",
                               op, what[i], shp(t[i], b, sizeof b), (long long)t[i]->numel, (long long)maxe,
                               (unsigned long long)ctx->caps.max_storage_buffer_range);
    }
    return PRISM_OK;
}

static prism_status record(prism_stream *s, const char *op, const char *shader, uint32_t ls, uint32_t spec4,
                           uint64_t groups, const prism_tensor *const *bind, int nbind, int nwrite, const void *push,
                           uint32_t push_size) {
    prism_kernel k = {.op = op, .shader = shader, .nspec = spec4 ? 4 : 3, .spec = {ls, 1, 1, spec4},
                      .groups = {groups, 1, 1}, .fault_binding = 0, .nbind = nbind};
    for (int i = 0; i < nbind; i++) k.bind[i] = (prism_binding){bind[i], 0, 0, i < nwrite};
    memcpy(k.push, push, push_size);
    k.push_size = push_size;
    return prism_record_kernel(s, &k);
}

typedef struct xp_push {
    uint32_t rows, n, d, k, flags;
} xp_push;

/* ------------------------------------------------------------------ mask */

typedef struct mask_args {
    const prism_tensor *w, *s;
    int64_t rows, n, k;
    int hard;
} mask_args;

static void mask_ref(const void *p) {
    const mask_args *a = p;
    prism_ref_xpeft_mask(prism_ref_data(a->w), prism_ref_data(a->s), a->rows, a->n, a->hard, a->k);
}

prism_status prism_xpeft_mask(prism_stream *s, prism_mask_kind kind, int k, const prism_tensor *logits,
                              prism_tensor *w) {
    static const char *OP = "xpeft_mask";
    const char *what[2] = {"logits", "w"};
    const prism_tensor *t[2] = {logits, w};
    prism_status st = check_all(s, OP, what, t, 2, 2);
    if (st) return st;
    prism_context *ctx = prism_stream_context(s);
    char a[64], b[64];
    if (kind != PRISM_MASK_SOFT && kind != PRISM_MASK_HARD)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: mask kind %d is neither soft nor hard", OP,
                               (int)kind);
    int64_t n = last_dim(logits), rows = logits->numel / n;
    if (w->numel != logits->numel || last_dim(w) != n)
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: w %s must have the shape of logits %s", OP,
                               shp(w, a, sizeof a), shp(logits, b, sizeof b));
    if (kind == PRISM_MASK_HARD && (k < 1 || k > n))
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: hard mask k = %d outside 1..%lld (logits %s)", OP,
                               k, (long long)n, shp(logits, a, sizeof a));
    if (prism_op_overlap(w, logits)) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: w overlaps logits", OP);
    if ((st = check_fit(s, OP, what, t, 2))) return st;
    if (prism_stream_is_reference(s)) {
        mask_args m = {w, logits, rows, n, kind == PRISM_MASK_HARD ? k : 0, kind == PRISM_MASK_HARD};
        return prism_ref_enqueue(s, OP, mask_ref, &m, sizeof m, t, 2);
    }
    xp_push pc = {(uint32_t)rows, (uint32_t)n, 0, (uint32_t)(kind == PRISM_MASK_HARD ? k : 0),
                  kind == PRISM_MASK_HARD ? F_HARD : 0};
    const prism_tensor *bind[2] = {w, logits};
    return record(s, OP, "xpeft_mask", wg_size(ctx, n), 0, (uint64_t)rows, bind, 2, 1, &pc, sizeof pc);
}

/* ------------------------------------------------------------------ mask backward */

typedef struct mbwd_args {
    const prism_tensor *ds, *w, *dw;
    int64_t rows, n;
    int hard, acc;
} mbwd_args;

static void mbwd_ref(const void *p) {
    const mbwd_args *a = p;
    prism_ref_xpeft_mask_backward(prism_ref_data(a->ds), prism_ref_data(a->w), prism_ref_data(a->dw), a->rows, a->n,
                                  a->hard, a->acc);
}

prism_status prism_xpeft_mask_backward(prism_stream *s, prism_mask_kind kind, const prism_tensor *w,
                                       const prism_tensor *dw, int accumulate, prism_tensor *ds) {
    static const char *OP = "xpeft_mask_backward";
    const char *what[3] = {"ds", "w", "dw"};
    const prism_tensor *t[3] = {ds, w, dw};
    prism_status st = check_all(s, OP, what, t, 3, 3);
    if (st) return st;
    prism_context *ctx = prism_stream_context(s);
    char a[64], b[64], c[64];
    if (kind != PRISM_MASK_SOFT && kind != PRISM_MASK_HARD)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: mask kind %d is neither soft nor hard", OP,
                               (int)kind);
    int64_t n = last_dim(w), rows = w->numel / n;
    if (dw->numel != w->numel || ds->numel != w->numel || last_dim(dw) != n || last_dim(ds) != n)
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: w %s, dw %s and ds %s must have one shape", OP,
                               shp(w, a, sizeof a), shp(dw, b, sizeof b), shp(ds, c, sizeof c));
    if (prism_op_overlap(ds, w) || prism_op_overlap(ds, dw))
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: ds overlaps w or dw", OP);
    if ((st = check_fit(s, OP, what, t, 3))) return st;
    int hard = kind == PRISM_MASK_HARD, acc = accumulate ? 1 : 0;
    if (prism_stream_is_reference(s)) {
        mbwd_args m = {ds, w, dw, rows, n, hard, acc};
        return prism_ref_enqueue(s, OP, mbwd_ref, &m, sizeof m, t, 3);
    }
    xp_push pc = {(uint32_t)rows, (uint32_t)n, 0, 0, (uint32_t)((hard ? F_HARD : 0) | (acc ? F_ACC : 0))};
    return record(s, OP, "xpeft_mask_bwd", wg_size(ctx, n), 0, (uint64_t)rows, t, 3, 1, &pc, sizeof pc);
}

/* ------------------------------------------------------------------ bank sum / grad */

typedef struct bank_args {
    const prism_tensor *out, *a, *bank; /* sum: out, w; grad: dw, d_eff */
    int64_t P, N, D;
    int acc;
} bank_args;

static void sum_ref(const void *p) {
    const bank_args *a = p;
    prism_ref_xpeft_bank_sum(prism_ref_data(a->out), prism_ref_data(a->a), prism_ref_data(a->bank), a->P, a->N, a->D);
}

static void grad_ref(const void *p) {
    const bank_args *a = p;
    prism_ref_xpeft_bank_grad(prism_ref_data(a->out), prism_ref_data(a->a), prism_ref_data(a->bank), a->P, a->N, a->D,
                              a->acc);
}

/* P from the weights (P*N elements, last dim N) and D from the bank [N, ...];
 * `eff` must hold P*D elements. */
static prism_status bank_shapes(prism_stream *s, const char *op, const prism_tensor *wt, const char *wname,
                                const prism_tensor *bank, const prism_tensor *eff, const char *ename, int64_t *P,
                                int64_t *N, int64_t *D) {
    prism_context *ctx = prism_stream_context(s);
    char a[64], b[64], c[64];
    *N = bank->shape[0];
    *D = bank->numel / *N;
    *P = wt->numel / *N;
    if (last_dim(wt) != *N || wt->numel % *N)
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: %s %s must be rows of N = %lld (bank %s)", op, wname,
                               shp(wt, a, sizeof a), (long long)*N, shp(bank, b, sizeof b));
    if (eff->numel != *P * *D)
        return prism_set_error(ctx, PRISM_ERR_SHAPE,
                               "%s: %s %s has %lld elements, expected P*D = %lld*%lld (%s %s, bank %s)", op, ename,
                               shp(eff, a, sizeof a), (long long)eff->numel, (long long)*P, (long long)*D, wname,
                               shp(wt, c, sizeof c), shp(bank, b, sizeof b));
    if (*P > INT32_MAX || *N > INT32_MAX || *D > INT32_MAX)
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED, "%s: P, N or D beyond 2^31", op);
    return PRISM_OK;
}

prism_status prism_xpeft_bank_sum(prism_stream *s, const prism_tensor *w, const prism_tensor *bank,
                                  prism_tensor *out) {
    static const char *OP = "xpeft_bank_sum";
    const char *what[3] = {"out", "w", "bank"};
    const prism_tensor *t[3] = {out, w, bank};
    prism_status st = check_all(s, OP, what, t, 3, 3);
    if (st) return st;
    int64_t P, N, D;
    if ((st = bank_shapes(s, OP, w, "w", bank, out, "out", &P, &N, &D))) return st;
    if (prism_op_overlap(out, w) || prism_op_overlap(out, bank))
        return prism_set_error(prism_stream_context(s), PRISM_ERR_INVALID_ARGUMENT, "%s: out overlaps w or bank", OP);
    if ((st = check_fit(s, OP, what, t, 3))) return st;
    if (prism_stream_is_reference(s)) {
        bank_args m = {out, w, bank, P, N, D, 0};
        return prism_ref_enqueue(s, OP, sum_ref, &m, sizeof m, t, 3);
    }
    prism_context *ctx = prism_stream_context(s);
    uint32_t ls = prism_op_pow2_floor(prism_local_size_1d(ctx)), pb = P >= 8 ? 8 : P >= 4 ? 4 : P >= 2 ? 2 : 1;
    bool v4 = D % 4 == 0 && prism_op_aligned16(out) && prism_op_aligned16(bank);
    int64_t items = (v4 ? D / 4 : D) * PRISM_CEIL_DIV(P, (int64_t)pb); /* pb rows of w per invocation */
    xp_push pc = {(uint32_t)P, (uint32_t)N, (uint32_t)D, 0, 0};
    return record(s, OP, v4 ? "xpeft_bank_sum_vec4" : "xpeft_bank_sum", ls, pb,
                  (uint64_t)PRISM_CEIL_DIV(items, (int64_t)ls), t, 3, 1, &pc, sizeof pc);
}

prism_status prism_xpeft_bank_grad(prism_stream *s, const prism_tensor *bank, const prism_tensor *d_eff,
                                   int accumulate, prism_tensor *dw) {
    static const char *OP = "xpeft_bank_grad";
    const char *what[3] = {"dw", "d_eff", "bank"};
    const prism_tensor *t[3] = {dw, d_eff, bank};
    prism_status st = check_all(s, OP, what, t, 3, 3);
    if (st) return st;
    int64_t P, N, D;
    if ((st = bank_shapes(s, OP, dw, "dw", bank, d_eff, "d_eff", &P, &N, &D))) return st;
    if (prism_op_overlap(dw, d_eff) || prism_op_overlap(dw, bank))
        return prism_set_error(prism_stream_context(s), PRISM_ERR_INVALID_ARGUMENT, "%s: dw overlaps d_eff or bank",
                               OP);
    if ((st = check_fit(s, OP, what, t, 3))) return st;
    if (prism_stream_is_reference(s)) {
        bank_args m = {dw, d_eff, bank, P, N, D, accumulate ? 1 : 0};
        return prism_ref_enqueue(s, OP, grad_ref, &m, sizeof m, t, 3);
    }
    prism_context *ctx = prism_stream_context(s);
    xp_push pc = {(uint32_t)P, (uint32_t)N, (uint32_t)D, 0, accumulate ? F_ACC : 0};
    /* ~32 products per invocation: fewer tree levels (barriers are costly on CPU devices) */
    bool v4 = D % 4 == 0 && prism_op_aligned16(d_eff) && prism_op_aligned16(bank);
    return record(s, OP, v4 ? "xpeft_bank_grad_vec4" : "xpeft_bank_grad", wg_size(ctx, PRISM_CEIL_DIV(D, 32)), 0,
                  (uint64_t)(P * N), t, 3, 1, &pc, sizeof pc);
}

/* ------------------------------------------------------------------ multi-profile gathers */

typedef struct multi_push {
    uint32_t T, R, C, nb, P, flags;
} multi_push;

typedef struct mv_args {
    const prism_tensor *y, *M, *x, *ids, *bias;
    int64_t T, R, C, P;
    int acc;
} mv_args;

static void mv_ref(const void *p) {
    const mv_args *a = p;
    prism_ref_multi_matvec(prism_ref_data(a->y), prism_ref_data(a->M), prism_ref_data(a->x), prism_ref_data(a->ids),
                           a->bias ? prism_ref_data(a->bias) : NULL, a->T, a->R, a->C, a->P, a->acc);
}

/* Invocations per item: 1 on CPU devices (a barrier costs more there than a
 * serial loop); elsewhere ~32 products each, capped by the workgroup.
 * PRISM_MULTI_SEGMENT=S (tests) forces S (a power of two), so lavapipe also
 * runs the segmented path GPUs take. */
static uint32_t segment(const prism_context *ctx, int64_t C) {
    const char *e = getenv("PRISM_MULTI_SEGMENT");
    if (e && *e) return wg_size(ctx, strtol(e, NULL, 10));
    return ctx->caps.type == PRISM_DEVICE_CPU ? 1 : wg_size(ctx, PRISM_CEIL_DIV(C, 32));
}

prism_status prism_multi_matvec(prism_stream *s, const prism_tensor *M, const prism_tensor *x,
                                const prism_tensor *ids, const prism_tensor *bias, int accumulate, prism_tensor *y) {
    static const char *OP = "multi_matvec";
    const char *what[5] = {"y", "M", "x", "ids", "bias"};
    const prism_tensor *t[5] = {y, M, x, ids, bias};
    prism_status st = check_all(s, OP, what, t, 5, 4);
    if (st) return st;
    prism_context *ctx = prism_stream_context(s);
    char a[64], b[64], c[64], d[64];
    if (M->ndim != 3 || x->ndim != 2 || y->ndim != 2)
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: M %s must be [P, C, R], x %s [T, C], y %s [T, R]", OP,
                               shp(M, a, sizeof a), shp(x, b, sizeof b), shp(y, c, sizeof c));
    int64_t P = M->shape[0], C = M->shape[1], R = M->shape[2], T = x->shape[0];
    if (x->shape[1] != C || y->shape[0] != T || y->shape[1] != R || ids->numel != T || (bias && bias->numel != R))
        return prism_set_error(ctx, PRISM_ERR_SHAPE,
                               "%s: M %s, x %s, y %s, ids %s%s%s disagree (want x [T, %lld], y [T, %lld], ids [T], "
                               "bias [%lld])",
                               OP, shp(M, a, sizeof a), shp(x, b, sizeof b), shp(y, c, sizeof c),
                               shp(ids, d, sizeof d), bias ? ", bias " : "", bias ? shp(bias, a, sizeof a) : "",
                               (long long)C, (long long)R, (long long)R);
    for (int i = 1; i < 5; i++)
        if (prism_op_overlap(y, t[i])) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: y overlaps %s", OP, what[i]);
    if ((st = check_fit(s, OP, what, t, 5))) return st;
    if (P > INT32_MAX || T * R > INT32_MAX)
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED, "%s: P or T*R beyond 2^31", OP);
    if (prism_stream_is_reference(s)) {
        mv_args m = {y, M, x, ids, bias, T, R, C, P, accumulate ? 1 : 0};
        const prism_tensor *ts[5] = {y, M, x, ids, bias ? bias : ids};
        return prism_ref_enqueue(s, OP, mv_ref, &m, sizeof m, ts, 5);
    }
    uint32_t ls = prism_op_pow2_floor(prism_local_size_1d(ctx)), S = segment(ctx, C);
    multi_push pc = {(uint32_t)T, (uint32_t)R, (uint32_t)C, 0, (uint32_t)P,
                     (uint32_t)((accumulate ? M_ACC : 0) | (bias ? M_BIAS : 0))};
    const prism_tensor *bind[5] = {y, M, x, ids, bias ? bias : ids};
    /* 4 outputs per invocation: vec4 loads of M and y (several times fewer
     * loop iterations on CPU devices) */
    if (S == 1 && R % 4 == 0 && prism_op_aligned16(y) && prism_op_aligned16(M) && prism_op_aligned16(bias))
        return record(s, OP, "multi_matvec_vec4", ls, 0, (uint64_t)PRISM_CEIL_DIV(T * R / 4, (int64_t)ls), bind, 5, 1,
                      &pc, sizeof pc);
    return record(s, OP, "multi_matvec", ls, S, (uint64_t)PRISM_CEIL_DIV(T * R, (int64_t)(ls / S)), bind, 5, 1, &pc,
                  sizeof pc);
}

typedef struct rf_args {
    const prism_tensor *y, *x, *ids, *u, *v, *bias;
    int64_t T, d, nb, P;
} rf_args;

static void rf_ref(const void *p) {
    const rf_args *a = p;
    prism_ref_multi_reflect(prism_ref_data(a->y), prism_ref_data(a->x), prism_ref_data(a->ids), prism_ref_data(a->u),
                            a->v ? prism_ref_data(a->v) : NULL, a->bias ? prism_ref_data(a->bias) : NULL, a->T, a->d,
                            a->nb, a->P);
}

prism_status prism_multi_reflect(prism_stream *s, const prism_tensor *x, const prism_tensor *ids,
                                 const prism_tensor *u, const prism_tensor *v, const prism_tensor *bias,
                                 prism_tensor *y) {
    static const char *OP = "multi_reflect";
    const char *what[6] = {"y", "x", "ids", "u", "v", "bias"};
    const prism_tensor *t[6] = {y, x, ids, u, v, bias};
    prism_status st = check_all(s, OP, what, t, 6, 4);
    if (st) return st;
    prism_context *ctx = prism_stream_context(s);
    char a[64], b[64], c[64];
    if (u->ndim != 3 || x->ndim != 2)
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: u %s must be [P, nb, d/nb] and x %s [T, d]", OP,
                               shp(u, a, sizeof a), shp(x, b, sizeof b));
    int64_t P = u->shape[0], nb = u->shape[1], bw = u->shape[2], d = nb * bw, T = x->shape[0];
    bool bad = x->shape[1] != d || y->numel != x->numel || last_dim(y) != d || ids->numel != T ||
               (bias && bias->numel != d);
    if (v && (v->ndim != 3 || v->shape[0] != P || v->shape[1] != nb || v->shape[2] != bw)) bad = true;
    if (bad)
        return prism_set_error(ctx, PRISM_ERR_SHAPE,
                               "%s: u %s, x %s, y %s disagree (x and y [T, %lld], ids [T], v like u, bias [%lld])", OP,
                               shp(u, a, sizeof a), shp(x, b, sizeof b), shp(y, c, sizeof c), (long long)d,
                               (long long)d);
    for (int i = 1; i < 6; i++)
        if (prism_op_overlap(y, t[i])) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: y overlaps %s", OP, what[i]);
    if ((st = check_fit(s, OP, what, t, 6))) return st;
    if (P > INT32_MAX || T * nb > INT32_MAX || T * d > INT32_MAX)
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED, "%s: P or T*d beyond 2^31", OP);
    const prism_tensor *bind[6] = {y, x, ids, u, v ? v : u, bias ? bias : u};
    if (prism_stream_is_reference(s)) {
        rf_args m = {y, x, ids, u, v, bias, T, d, nb, P};
        return prism_ref_enqueue(s, OP, rf_ref, &m, sizeof m, bind, 6);
    }
    uint32_t ls = prism_op_pow2_floor(prism_local_size_1d(ctx)), S = segment(ctx, bw);
    multi_push pc = {(uint32_t)T, (uint32_t)d, (uint32_t)bw, (uint32_t)nb, (uint32_t)P,
                     (uint32_t)((bias ? M_BIAS : 0) | (v ? M_PLUS : 0))};
    return record(s, OP, "multi_reflect", ls, S, (uint64_t)PRISM_CEIL_DIV(T * nb, (int64_t)(ls / S)), bind, 6, 1, &pc,
                  sizeof pc);
}
