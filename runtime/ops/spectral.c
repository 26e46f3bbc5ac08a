/* Sparse-coefficient ops of sDCTFT / FourierFT: the entry index object and
 * the dispatchers of shaders/spectral.comp (scatter, gather-multiply,
 * coefficient gradients). Formulas in include/prism/spectral.h; float64
 * reference in runtime/reference/spectral.c.
 *
 * The index keeps every integer as an exact float (< 2^24): pairs [n, 2],
 * weights [n], and two CSR groupings of the coefficient ids — by row (the
 * forward gather writes rows) and by column (the transposed gather of the
 * input gradient writes columns) — each a pointer array [L + 1] and a
 * permutation [n] (ids ascending inside a segment, so the summation order
 * is fixed). Inputs larger than one binding are split over whole tokens. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "op_util.h"
#include "../reference/spectral.h"
#include "prism/spectral.h"

#define EXACT_LIMIT ((int64_t)1 << 24)

struct prism_spectral_index {
    prism_context *ctx;
    int64_t rows, cols, n;
    prism_tensor *pairs, *w, *rptr, *rperm, *cptr, *cperm;
};

double prism_dct_none_weight(int64_t len, int64_t k) {
    return k == 0 ? 1.0 / (2.0 * sqrt((double)len)) : 1.0 / sqrt(2.0 * (double)len);
}

void prism_spectral_index_destroy(prism_spectral_index *ix) {
    if (!ix) return;
    prism_tensor_destroy(ix->pairs);
    prism_tensor_destroy(ix->w);
    prism_tensor_destroy(ix->rptr);
    prism_tensor_destroy(ix->rperm);
    prism_tensor_destroy(ix->cptr);
    prism_tensor_destroy(ix->cperm);
    free(ix);
}

int64_t prism_spectral_index_count(const prism_spectral_index *ix) { return ix ? ix->n : 0; }
int64_t prism_spectral_index_rows(const prism_spectral_index *ix) { return ix ? ix->rows : 0; }
int64_t prism_spectral_index_cols(const prism_spectral_index *ix) { return ix ? ix->cols : 0; }
const prism_tensor *prism_spectral_index_pairs(const prism_spectral_index *ix) { return ix ? ix->pairs : NULL; }

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Counting sort of ids by key rc[2 l + which]: ptr [len + 1], perm [n];
 * fill is scratch of len entries. */
static void csr(int64_t n, const int64_t *rc, int which, int64_t len, double *ptr, double *perm, int64_t *fill) {
    for (int64_t i = 0; i <= len; i++) ptr[i] = 0;
    for (int64_t l = 0; l < n; l++) ptr[rc[2 * l + which] + 1] += 1;
    for (int64_t i = 0; i < len; i++) ptr[i + 1] += ptr[i];
    memset(fill, 0, sizeof *fill * (size_t)len);
    for (int64_t l = 0; l < n; l++) { /* stable: ids ascending inside a segment */
        int64_t k = rc[2 * l + which];
        perm[(int64_t)ptr[k] + fill[k]++] = (double)l;
    }
}

static prism_status upload(prism_context *ctx, int ndim, const int64_t *shape, const double *data, prism_tensor **t) {
    prism_status st = prism_tensor_create(ctx, ndim, shape, t);
    if (!st) st = prism_tensor_upload_f64(*t, data, prism_tensor_numel(*t));
    return st;
}

prism_status prism_spectral_index_create(prism_context *ctx, int64_t rows, int64_t cols, int64_t n, const int64_t *rc,
                                         const double *weights, prism_spectral_index **out) {
    const char *op = "spectral_index_create";
    if (out) *out = NULL;
    if (!ctx || !out || !rc) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: NULL argument", op);
    if (rows < 1 || cols < 1 || rows >= EXACT_LIMIT || cols >= EXACT_LIMIT || n < 1 || n >= EXACT_LIMIT)
        return prism_set_error(ctx, PRISM_ERR_DIMS, "%s: [%lld, %lld] with %lld entries: dims and count must be in [1, 2^24)",
                               op, (long long)rows, (long long)cols, (long long)n);
    prism_status st = PRISM_OK;
    prism_spectral_index *ix = calloc(1, sizeof *ix);
    int64_t *flat = malloc((size_t)PRISM_MAX(n, PRISM_MAX(rows, cols)) * sizeof *flat);
    double *buf = malloc((size_t)(2 * n + PRISM_MAX(rows, cols) + 1) * sizeof *buf);
    if (!ix || !flat || !buf) {
        st = prism_set_error(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", op);
        goto cleanup;
    }
    ix->ctx = ctx;
    ix->rows = rows;
    ix->cols = cols;
    ix->n = n;
    for (int64_t l = 0; l < n; l++) {
        if (rc[2 * l] < 0 || rc[2 * l] >= rows || rc[2 * l + 1] < 0 || rc[2 * l + 1] >= cols) {
            st = prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: entry %lld (%lld, %lld) outside [%lld, %lld]", op,
                                 (long long)l, (long long)rc[2 * l], (long long)rc[2 * l + 1], (long long)rows,
                                 (long long)cols);
            goto cleanup;
        }
        if (weights && !isfinite(weights[l])) {
            st = prism_set_error(ctx, PRISM_ERR_NOT_FINITE, "%s: weight %lld is %g", op, (long long)l, weights[l]);
            goto cleanup;
        }
        flat[l] = rc[2 * l] * cols + rc[2 * l + 1];
    }
    qsort(flat, (size_t)n, sizeof *flat, cmp_i64);
    for (int64_t l = 1; l < n; l++)
        if (flat[l] == flat[l - 1]) {
            st = prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: entry (%lld, %lld) appears twice", op,
                                 (long long)(flat[l] / cols), (long long)(flat[l] % cols));
            goto cleanup;
        }
    int64_t pshape[2] = {n, 2}, rp = rows + 1, cp = cols + 1;
    for (int64_t i = 0; i < 2 * n; i++) buf[i] = (double)rc[i];
    PRISM_TRY(upload(ctx, 2, pshape, buf, &ix->pairs));
    for (int64_t l = 0; l < n; l++) buf[l] = weights ? weights[l] : 1.0;
    PRISM_TRY(upload(ctx, 1, &n, buf, &ix->w));
    csr(n, rc, 0, rows, buf + n, buf, flat);
    PRISM_TRY(upload(ctx, 1, &rp, buf + n, &ix->rptr));
    PRISM_TRY(upload(ctx, 1, &n, buf, &ix->rperm));
    csr(n, rc, 1, cols, buf + n, buf, flat);
    PRISM_TRY(upload(ctx, 1, &cp, buf + n, &ix->cptr));
    PRISM_TRY(upload(ctx, 1, &n, buf, &ix->cperm));
cleanup:
    free(flat);
    free(buf);
    if (st) prism_spectral_index_destroy(ix);
    else *out = ix;
    return st;
}

/* ---------------------------------------------------------------- common checks */

static prism_status begin(prism_stream *s, const char *op, const prism_spectral_index *ix) {
    prism_status st = prism_op_begin(s, op);
    if (st) return st;
    prism_context *ctx = prism_stream_context(s);
    if (!ix) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: index is NULL", op);
    if (ix->ctx != ctx) return prism_set_error(ctx, PRISM_ERR_WRONG_CONTEXT, "%s: index belongs to another context", op);
    return PRISM_OK;
}

/* t must be [T, len] (real), or a half spectrum [T, len/2 + 1, 2] or
 * [T, 2 (len/2 + 1)] (prism_rfft's row layout). T < 0: any T. */
static prism_status check_rows(prism_stream *s, const char *op, const char *what, const prism_tensor *t, int fourier,
                               int64_t len, int64_t T) {
    int64_t want = fourier ? len / 2 + 1 : len;
    bool ok = fourier ? ((t->ndim == 3 && t->shape[1] == want && t->shape[2] == 2) ||
                         (t->ndim == 2 && t->shape[1] == 2 * want))
                      : (t->ndim == 2 && t->shape[1] == want);
    if (ok && T >= 0 && t->shape[0] != T) ok = false;
    if (ok) return PRISM_OK;
    char b[64], tt[32];
    snprintf(tt, sizeof tt, T >= 0 ? "%lld" : "T", (long long)T);
    if (fourier)
        return prism_set_error(prism_stream_context(s), PRISM_ERR_SHAPE,
                               "%s: %s %s, expected [%s, %lld, 2] or [%s, %lld] (half spectra of length %lld)", op,
                               what, prism_tensor_shape_str(t, b, sizeof b), tt, (long long)want, tt,
                               (long long)(2 * want), (long long)len);
    return prism_set_error(prism_stream_context(s), PRISM_ERR_SHAPE, "%s: %s %s, expected [%s, %lld]", op, what,
                           prism_tensor_shape_str(t, b, sizeof b), tt, (long long)want);
}

static prism_status check_scalars(prism_stream *s, const char *op, double alpha, float beta) {
    prism_context *ctx = prism_stream_context(s);
    if (!(fabs(alpha) <= 3.4e38)) return prism_set_error(ctx, PRISM_ERR_NOT_FINITE, "%s: alpha %g must be finite and within fp32 range", op, alpha);
    if (beta != 0.0f && beta != 1.0f)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: beta %g must be 0 or 1", op, beta);
    return PRISM_OK;
}

static prism_status check_coef(prism_stream *s, const char *op, const char *what, const prism_tensor *c,
                               const prism_spectral_index *ix) {
    prism_status st = prism_check_tensor(s, op, what, c);
    if (st) return st;
    if (c->numel == ix->n) return PRISM_OK;
    char b[64];
    return prism_set_error(prism_stream_context(s), PRISM_ERR_SHAPE, "%s: %s %s has %lld elements, the index %lld", op,
                           what, prism_tensor_shape_str(c, b, sizeof b), (long long)c->numel, (long long)ix->n);
}

typedef struct sp_push {
    uint32_t rows, cols, n, T, transpose, fourier;
    float alpha, beta;
    uint32_t base, count, lz, lx, tb;
} sp_push;

static void set_push(prism_kernel *k, const sp_push *p) {
    memcpy(k->push, p, sizeof *p);
    k->push_size = sizeof *p;
}

/* ---------------------------------------------------------------- reference closures */

typedef struct sp_args {
    int kind; /* 0 scatter, 1 gather, 2 coef grad */
    int fourier, transpose;
    int64_t rows, cols, n, T;
    double alpha, beta;
    const prism_tensor *pairs, *w, *coef, *x, *g, *out;
} sp_args;

static void spectral_ref(const void *p) {
    const sp_args *a = p;
    const double *rc = prism_ref_data(a->pairs), *w = prism_ref_data(a->w);
    double *out = prism_ref_data(a->out);
    if (a->kind == 0)
        prism_ref_spectral_scatter(a->rows, a->cols, a->n, rc, w, prism_ref_data(a->coef), a->alpha, out);
    else if (a->kind == 1 && !a->fourier)
        prism_ref_spectral_gather_dct(a->rows, a->cols, a->n, rc, w, prism_ref_data(a->coef), a->alpha, a->transpose,
                                      a->T, prism_ref_data(a->x), a->beta, out);
    else if (a->kind == 1)
        prism_ref_spectral_gather_fourier(a->rows, a->cols, a->n, rc, w, prism_ref_data(a->coef), a->alpha,
                                          a->transpose, a->T, prism_ref_data(a->x), a->beta, out);
    else
        prism_ref_spectral_coef_grad(a->fourier, a->rows, a->cols, a->n, rc, w, a->alpha, a->T, prism_ref_data(a->g),
                                     prism_ref_data(a->x), a->beta, out);
}

static prism_status enqueue(prism_stream *s, const char *op, const sp_args *a) {
    const prism_tensor *ts[6] = {a->pairs, a->w, a->out, a->coef ? a->coef : a->w, a->x ? a->x : a->w,
                                 a->g ? a->g : a->w};
    return prism_ref_enqueue(s, op, spectral_ref, a, sizeof *a, ts, 6);
}

/* ---------------------------------------------------------------- ops */

prism_status prism_spectral_scatter(prism_stream *s, const prism_spectral_index *ix, const prism_tensor *coef,
                                    double alpha, prism_tensor *F) {
    const char *op = "spectral_scatter";
    prism_status st = begin(s, op, ix);
    if (st) return st;
    prism_context *ctx = prism_stream_context(s);
    if ((st = check_coef(s, op, "coef", coef, ix))) return st;
    if ((st = prism_check_tensor(s, op, "F", F))) return st;
    if ((st = check_scalars(s, op, alpha, 0.0f))) return st;
    char b[64];
    if (F->ndim != 2 || F->shape[0] != ix->rows || F->shape[1] != ix->cols)
        return prism_set_error(ctx, PRISM_ERR_SHAPE, "%s: F %s, the index is for [%lld, %lld]", op,
                               prism_tensor_shape_str(F, b, sizeof b), (long long)ix->rows, (long long)ix->cols);
    if (prism_op_overlap(F, coef)) return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: F overlaps coef", op);
    if (prism_stream_is_reference(s)) {
        sp_args a = {.kind = 0, .rows = ix->rows, .cols = ix->cols, .n = ix->n, .alpha = alpha, .pairs = ix->pairs,
                     .w = ix->w, .coef = coef, .out = F};
        return enqueue(s, op, &a);
    }
    if ((st = prism_fill(s, F, 0.0f))) return st;
    uint32_t ls = prism_local_size_1d(ctx);
    int64_t chunk = prism_max_binding_elems(ctx), total = F->numel;
    for (int64_t off = 0; off < total; off += chunk) {
        int64_t cnt = PRISM_MIN(chunk, total - off);
        prism_kernel k = {.op = op, .shader = "spectral", .nspec = 4, .spec = {ls, 1, 1, 0},
                          .groups = {(uint64_t)PRISM_CEIL_DIV(ix->n, ls), 1, 1}, .fault_binding = 0, .nbind = 8};
        k.bind[0] = (prism_binding){F, off, cnt, true};
        k.bind[1] = k.bind[2] = k.bind[6] = k.bind[7] = (prism_binding){ix->pairs, 0, 0, false};
        k.bind[3] = (prism_binding){coef, 0, 0, false};
        k.bind[4] = (prism_binding){ix->pairs, 0, 0, false};
        k.bind[5] = (prism_binding){ix->w, 0, 0, false};
        sp_push p = {.rows = (uint32_t)ix->rows, .cols = (uint32_t)ix->cols, .n = (uint32_t)ix->n,
                     .alpha = (float)alpha, .base = (uint32_t)off, .count = (uint32_t)cnt};
        set_push(&k, &p);
        if ((st = prism_record_kernel(s, &k))) return st;
    }
    return PRISM_OK;
}

/* Tokens per dispatch so that every row-major operand stays within one binding. */
static int64_t tokens_per_chunk(prism_context *ctx, int64_t row_a, int64_t row_b, prism_status *st, const char *op) {
    int64_t maxe = prism_max_binding_elems(ctx), widest = PRISM_MAX(row_a, row_b);
    if (widest > maxe) {
        *st = prism_set_error(ctx, PRISM_ERR_UNSUPPORTED, "%s: rows of %lld elements exceed one binding (%lld)", op,
                              (long long)widest, (long long)maxe);
        return 0;
    }
    *st = PRISM_OK;
    return maxe / widest;
}

prism_status prism_spectral_gather(prism_stream *s, const prism_spectral_index *ix, prism_spectral_domain dom,
                                   int transpose, const prism_tensor *coef, double alpha, const prism_tensor *Xh,
                                   float beta, prism_tensor *Z) {
    const char *op = "spectral_gather";
    prism_status st = begin(s, op, ix);
    if (st) return st;
    prism_context *ctx = prism_stream_context(s);
    if (dom != PRISM_SPECTRAL_DCT && dom != PRISM_SPECTRAL_FOURIER)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: unknown domain %d", op, (int)dom);
    if ((st = check_coef(s, op, "coef", coef, ix))) return st;
    if ((st = prism_check_tensor(s, op, "Xh", Xh))) return st;
    if ((st = prism_check_tensor(s, op, "Z", Z))) return st;
    if ((st = check_scalars(s, op, alpha, beta))) return st;
    int fourier = dom == PRISM_SPECTRAL_FOURIER, tr = transpose ? 1 : 0;
    int64_t lz = tr ? ix->cols : ix->rows, lx = tr ? ix->rows : ix->cols;
    if ((st = check_rows(s, op, "Xh", Xh, fourier, lx, -1))) return st;
    int64_t T = Xh->shape[0];
    if ((st = check_rows(s, op, "Z", Z, fourier, lz, T))) return st;
    if (prism_op_overlap(Z, Xh) || prism_op_overlap(Z, coef))
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: Z overlaps an input", op);
    if (prism_stream_is_reference(s)) {
        sp_args a = {.kind = 1, .fourier = fourier, .transpose = tr, .rows = ix->rows, .cols = ix->cols, .n = ix->n,
                     .T = T, .alpha = alpha, .beta = beta, .pairs = ix->pairs, .w = ix->w, .coef = coef, .x = Xh,
                     .out = Z};
        return enqueue(s, op, &a);
    }
    int64_t rz = fourier ? (lz / 2 + 1) * 2 : lz, rx = fourier ? (lx / 2 + 1) * 2 : lx;
    int64_t tc = tokens_per_chunk(ctx, rz, rx, &st, op);
    if (st) return st;
    /* a 2-D grid: x over outputs, y over blocks of TB tokens (each
     * invocation re-reads its segment from cache for its TB tokens) */
    const int64_t TB = 16;
    uint32_t ls = prism_local_size_1d(ctx);
    int64_t width = fourier ? lz / 2 + 1 : lz;
    int64_t gx = PRISM_CEIL_DIV(width, ls), maxg = ctx->caps.max_workgroup_count[1];
    if (gx > (int64_t)ctx->caps.max_workgroup_count[0])
        return prism_set_error(ctx, PRISM_ERR_UNSUPPORTED, "%s: %lld outputs per token need more than %u workgroups",
                               op, (long long)width, ctx->caps.max_workgroup_count[0]);
    tc = PRISM_MIN(tc, maxg * TB);
    for (int64_t t0 = 0; t0 < T; t0 += tc) {
        int64_t nt = PRISM_MIN(tc, T - t0);
        prism_kernel k = {.op = op, .shader = "spectral", .nspec = 4, .spec = {ls, 1, 1, fourier ? 2u : 1u},
                          .groups = {(uint64_t)gx, (uint64_t)PRISM_CEIL_DIV(nt, TB), 1}, .fault_binding = 0, .nbind = 8};
        k.bind[0] = (prism_binding){Z, t0 * rz, nt * rz, true};
        k.bind[1] = (prism_binding){Xh, t0 * rx, nt * rx, false};
        k.bind[2] = (prism_binding){ix->pairs, 0, 0, false};
        k.bind[3] = (prism_binding){coef, 0, 0, false};
        k.bind[4] = (prism_binding){ix->pairs, 0, 0, false};
        k.bind[5] = (prism_binding){ix->w, 0, 0, false};
        k.bind[6] = (prism_binding){tr ? ix->cptr : ix->rptr, 0, 0, false};
        k.bind[7] = (prism_binding){tr ? ix->cperm : ix->rperm, 0, 0, false};
        sp_push p = {.rows = (uint32_t)ix->rows, .cols = (uint32_t)ix->cols, .n = (uint32_t)ix->n, .T = (uint32_t)nt,
                     .transpose = (uint32_t)tr, .fourier = (uint32_t)fourier, .alpha = (float)alpha, .beta = beta,
                     .lz = (uint32_t)lz, .lx = (uint32_t)lx, .tb = (uint32_t)TB};
        set_push(&k, &p);
        if ((st = prism_record_kernel(s, &k))) return st;
    }
    return PRISM_OK;
}

prism_status prism_spectral_coef_grad(prism_stream *s, const prism_spectral_index *ix, prism_spectral_domain dom,
                                      double alpha, const prism_tensor *Gh, const prism_tensor *Xh, float beta,
                                      prism_tensor *grad) {
    const char *op = "spectral_coef_grad";
    prism_status st = begin(s, op, ix);
    if (st) return st;
    prism_context *ctx = prism_stream_context(s);
    if (dom != PRISM_SPECTRAL_DCT && dom != PRISM_SPECTRAL_FOURIER)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: unknown domain %d", op, (int)dom);
    if ((st = prism_check_tensor(s, op, "Gh", Gh))) return st;
    if ((st = prism_check_tensor(s, op, "Xh", Xh))) return st;
    if ((st = check_coef(s, op, "grad", grad, ix))) return st;
    if ((st = check_scalars(s, op, alpha, beta))) return st;
    int fourier = dom == PRISM_SPECTRAL_FOURIER;
    if ((st = check_rows(s, op, "Gh", Gh, fourier, ix->rows, -1))) return st;
    int64_t T = Gh->shape[0];
    if ((st = check_rows(s, op, "Xh", Xh, fourier, ix->cols, T))) return st;
    if (prism_op_overlap(grad, Gh) || prism_op_overlap(grad, Xh))
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: grad overlaps an input", op);
    if (prism_stream_is_reference(s)) {
        sp_args a = {.kind = 2, .fourier = fourier, .rows = ix->rows, .cols = ix->cols, .n = ix->n, .T = T,
                     .alpha = alpha, .beta = beta, .pairs = ix->pairs, .w = ix->w, .x = Xh, .g = Gh, .out = grad};
        return enqueue(s, op, &a);
    }
    int64_t rg = fourier ? (ix->rows / 2 + 1) * 2 : ix->rows, rx = fourier ? (ix->cols / 2 + 1) * 2 : ix->cols;
    int64_t tc = tokens_per_chunk(ctx, rg, rx, &st, op);
    if (st) return st;
    /* a workgroup per coefficient: no wider than the tokens it strides over */
    uint32_t ls = prism_op_pow2_floor(prism_local_size_1d(ctx)), want = 1;
    while (want < ls && (int64_t)want < T) want *= 2;
    for (int64_t t0 = 0; t0 < T; t0 += tc) {
        int64_t nt = PRISM_MIN(tc, T - t0);
        prism_kernel k = {.op = op, .shader = "spectral", .nspec = 4, .spec = {want, 1, 1, 3},
                          .groups = {(uint64_t)ix->n, 1, 1}, .fault_binding = 0, .nbind = 6};
        k.bind[0] = (prism_binding){grad, 0, 0, true};
        k.bind[1] = (prism_binding){Xh, t0 * rx, nt * rx, false};
        k.bind[2] = (prism_binding){Gh, t0 * rg, nt * rg, false};
        k.bind[3] = (prism_binding){ix->w, 0, 0, false};
        k.bind[4] = (prism_binding){ix->pairs, 0, 0, false};
        k.bind[5] = (prism_binding){ix->w, 0, 0, false};
        sp_push p = {.rows = (uint32_t)ix->rows, .cols = (uint32_t)ix->cols, .n = (uint32_t)ix->n, .T = (uint32_t)nt,
                     .fourier = (uint32_t)fourier, .alpha = (float)alpha, .beta = t0 == 0 ? beta : 1.0f};
        set_push(&k, &p);
        if ((st = prism_record_kernel(s, &k))) return st;
    }
    return PRISM_OK;
}
