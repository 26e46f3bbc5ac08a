/* Check cases: spectral ops (scatter, gather-multiply, coefficient
 * gradients), device vs float64 reference, and finite-difference checks of
 * the backward pair on the reference.
 *
 * Entries are the first n of torch's randperm(rows*cols) (as FourierFT), in
 * that unsorted order, so the CSR groupings and the per-coefficient order
 * are exercised. Tolerance: NMSE <= 1e-10 for scatter and the gathers (each
 * output sums a handful of products); coefficient gradients reduce over T
 * tokens in fp32 (tree), NMSE <= 1e-10 up to T = 1000 here.
 *
 * FD: the gather is linear in f and in its input, so
 *   L = <R, gather(f, Xh)>  has  dL/df = coef_grad(R, Xh)  and  dL/dXh = gather_T(f, R)
 * (DCT). For the Fourier domain the check goes through real signals:
 *   L = <R, c2r(gather(f, rfft(x)))>, dL/df = coef_grad(rfft(R), rfft(x)),
 *   dL/dx = c2r(gather_T(f, rfft(R))), with c2r the unnormalised inverse real
 *   DFT and rfft the forward DFT, both evaluated here by direct sums. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "prism/spectral.h"

typedef enum { K_SCATTER, K_GATHER, K_GRAD } sp_kind;
typedef struct sp_case {
    sp_kind kind;
    prism_spectral_domain dom;
    int transpose;
    float beta;
    int64_t rows, cols, n, T;
    int weights; /* 0 none, 1 random, 2 torch_dct norm=None */
} sp_case;

static int64_t *make_entries(const sp_case *c, uint64_t seed, double **w) {
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)c->n), *rc = malloc(sizeof(int64_t) * (size_t)(2 * c->n));
    *w = malloc(sizeof(double) * (size_t)c->n);
    if (!idx || !rc || !*w || prism_randperm_torch(c->rows * c->cols, seed, c->n, idx) != PRISM_OK) {
        free(idx);
        free(rc);
        free(*w);
        *w = NULL;
        return NULL;
    }
    float *rw = malloc(sizeof(float) * (size_t)c->n);
    if (rw) pc_random(seed + 3, rw, c->n, 0.5f, 1.5f);
    for (int64_t l = 0; l < c->n; l++) {
        rc[2 * l] = idx[l] / c->cols;
        rc[2 * l + 1] = idx[l] % c->cols;
        (*w)[l] = c->weights == 1 && rw ? rw[l]
                  : c->weights == 2     ? prism_dct_none_weight(c->rows, rc[2 * l]) *
                                            prism_dct_none_weight(c->cols, rc[2 * l + 1])
                                        : 1.0;
    }
    free(rw);
    free(idx);
    return rc;
}

static int64_t row_len(const sp_case *c, int64_t len) { return c->dom == PRISM_SPECTRAL_FOURIER ? (len / 2 + 1) * 2 : len; }

static void shape_of(const sp_case *c, int64_t len, int64_t *shape, int *nd) {
    shape[0] = c->T;
    if (c->dom == PRISM_SPECTRAL_FOURIER) {
        shape[1] = len / 2 + 1;
        shape[2] = 2;
        *nd = 3;
    } else {
        shape[1] = len;
        *nd = 2;
    }
}

/* Runs the case's op on ctx: returns the output (malloc'd doubles). */
static double *run_on(pc_result *r, prism_context *ctx, const sp_case *c, const int64_t *rc, const double *w,
                      const float *coef, const float *x, const float *g, const float *init, bool guard) {
    prism_spectral_index *ix = NULL;
    prism_tensor *tc = NULL, *tx = NULL, *tg = NULL, *to = NULL, *base = NULL;
    prism_stream *s = NULL;
    double *out = NULL;
    if (prism_spectral_index_create(ctx, c->rows, c->cols, c->n, rc, c->weights ? w : NULL, &ix) != PRISM_OK) {
        pc_fail(r, "index: %s", prism_error_message(ctx));
        return NULL;
    }
    int64_t ns = c->n, xs[3], gs[3], os[3];
    int nx, ng, no;
    int64_t lx = c->kind == K_GATHER && c->transpose ? c->rows : c->cols;
    shape_of(c, lx, xs, &nx);
    shape_of(c, c->rows, gs, &ng);
    if (c->kind == K_SCATTER) {
        os[0] = c->rows, os[1] = c->cols, no = 2;
    } else if (c->kind == K_GRAD) {
        os[0] = c->n, no = 1;
    } else {
        shape_of(c, c->transpose ? c->cols : c->rows, os, &no);
    }
    tc = pc_tensor(r, ctx, 1, &ns, coef);
    tx = pc_tensor(r, ctx, nx, xs, x);
    tg = pc_tensor(r, ctx, ng, gs, g);
    to = guard ? pc_guarded(r, ctx, no, os, init, &base) : pc_tensor(r, ctx, no, os, init);
    if (tc && tx && tg && to && prism_stream_create(ctx, &s) == PRISM_OK) {
        float alpha = 1.75f;
        prism_status st = c->kind == K_SCATTER ? prism_spectral_scatter(s, ix, tc, alpha, to)
                          : c->kind == K_GATHER ? prism_spectral_gather(s, ix, c->dom, c->transpose, tc, alpha, tx, c->beta, to)
                                                : prism_spectral_coef_grad(s, ix, c->dom, alpha, tg, tx, c->beta, to);
        if (st != PRISM_OK) pc_fail(r, "record: %s", prism_error_message(ctx));
        else if (pc_run(r, s)) out = pc_download(r, to);
        if (guard) pc_guard_ok(r, base, "output");
    }
    prism_stream_destroy(s);
    prism_tensor_destroy(tc);
    prism_tensor_destroy(tx);
    prism_tensor_destroy(tg);
    prism_tensor_destroy(to);
    prism_tensor_destroy(base);
    prism_spectral_index_destroy(ix);
    return out;
}

static void sp_device(const pc_env *env, const void *arg, pc_result *r) {
    const sp_case *c = arg;
    double *w = NULL, *dev = NULL, *ref = NULL;
    int64_t *rc = make_entries(c, env->seed + 50, &w);
    int64_t nout = 0;
    int64_t lxmax = row_len(c, c->rows > c->cols ? c->rows : c->cols);
    int64_t nbuf = c->T * lxmax + c->rows * c->cols + c->n;
    float *coef = malloc(sizeof(float) * (size_t)c->n), *x = malloc(sizeof(float) * (size_t)nbuf),
          *g = malloc(sizeof(float) * (size_t)nbuf), *init = malloc(sizeof(float) * (size_t)nbuf);
    if (!rc || !coef || !x || !g || !init) {
        pc_fail(r, "out of host memory");
        goto done;
    }
    pc_random(env->seed + 51, coef, c->n, -1, 1);
    pc_random(env->seed + 52, x, nbuf, -1, 1);
    pc_random(env->seed + 53, g, nbuf, -1, 1);
    pc_random(env->seed + 54, init, nbuf, -1, 1);
    if (c->kind == K_SCATTER) nout = c->rows * c->cols;
    else if (c->kind == K_GRAD) nout = c->n;
    else nout = c->T * row_len(c, c->transpose ? c->cols : c->rows);
    dev = run_on(r, env->dev, c, rc, w, coef, x, g, init, true);
    ref = run_on(r, env->ref, c, rc, w, coef, x, g, init, false);
    if (dev && ref) pc_compare(r, "output", dev, ref, nout, 1e-10);
done:
    free(rc);
    free(w);
    free(coef);
    free(x);
    free(g);
    free(init);
    free(dev);
    free(ref);
}

/* ---------------------------------------------------------------- finite differences */

/* rfft of a real row x [L] -> half [L/2+1] (re, im), direct sums */
static void rfft_row(const double *x, int64_t L, double *half) {
    for (int64_t k = 0; k <= L / 2; k++) {
        double re = 0, im = 0;
        for (int64_t q = 0; q < L; q++) {
            double a = -2.0 * M_PI * (double)((k * q) % L) / (double)L;
            re += x[q] * cos(a);
            im += x[q] * sin(a);
        }
        half[2 * k] = re;
        half[2 * k + 1] = im;
    }
}
/* y[p] = Re sum_{j<L} H_full[j] e^{+2 pi i j p / L}, H_full Hermitian from the half */
static void c2r_row(const double *half, int64_t L, double *y) {
    for (int64_t p = 0; p < L; p++) {
        double acc = 0;
        for (int64_t j = 0; j < L; j++) {
            double re = j <= L / 2 ? half[2 * j] : half[2 * (L - j)];
            double im = j <= L / 2 ? half[2 * j + 1] : -half[2 * (L - j) + 1];
            double a = 2.0 * M_PI * (double)((j * p) % L) / (double)L;
            acc += re * cos(a) - im * sin(a);
        }
        y[p] = acc;
    }
}

typedef struct fd_ctx {
    pc_result *r;
    prism_context *ctx;
    const sp_case *c;
    prism_spectral_index *ix;
    prism_tensor *tf, *tx, *tz, *tr, *tg, *tzt, *txr;
    prism_stream *fwd, *bwd;
    double *R;      /* upstream weights on the output (real rows) */
    int64_t T, lin, lout; /* real lengths: input cols, output rows */
} fd_ctx;

static void to_half(const fd_ctx *f, const double *x, int64_t L, double *half) {
    for (int64_t t = 0; t < f->T; t++) rfft_row(x + t * L, L, half + t * (L / 2 + 1) * 2);
}

/* L(f, x) where x is the real input [T, lin] (Fourier) or Xh itself (DCT). */
static double loss(fd_ctx *f, const double *coef, const double *x) {
    bool fo = f->c->dom == PRISM_SPECTRAL_FOURIER;
    int64_t nx = f->T * (fo ? (f->lin / 2 + 1) * 2 : f->lin), nz = f->T * (fo ? (f->lout / 2 + 1) * 2 : f->lout);
    double *xh = malloc(sizeof(double) * (size_t)nx), *z = malloc(sizeof(double) * (size_t)nz),
           *y = malloc(sizeof(double) * (size_t)(f->T * f->lout));
    double L = NAN;
    if (!xh || !z || !y) goto done;
    if (fo) to_half(f, x, f->lin, xh);
    else memcpy(xh, x, sizeof(double) * (size_t)nx);
    if (prism_tensor_upload_f64(f->tf, coef, f->c->n) || prism_tensor_upload_f64(f->tx, xh, nx) ||
        prism_stream_run(f->fwd) || prism_tensor_download_f64(f->tz, z, nz))
        goto done;
    if (fo)
        for (int64_t t = 0; t < f->T; t++) c2r_row(z + t * (f->lout / 2 + 1) * 2, f->lout, y + t * f->lout);
    else
        memcpy(y, z, sizeof(double) * (size_t)nz);
    L = 0;
    for (int64_t i = 0; i < f->T * f->lout; i++) L += f->R[i] * y[i];
done:
    free(xh);
    free(z);
    free(y);
    return L;
}

static void sp_fd(const pc_env *env, const void *arg, pc_result *r) {
    const sp_case *c = arg;
    fd_ctx f = {.r = r, .ctx = env->ref, .c = c, .T = c->T, .lin = c->cols, .lout = c->rows};
    bool fo = c->dom == PRISM_SPECTRAL_FOURIER;
    double *w = NULL;
    int64_t *rc = make_entries(c, env->seed + 60, &w);
    int64_t n = c->n, nin = c->T * c->cols, hin = fo ? (c->cols / 2 + 1) * 2 : c->cols,
            hout = fo ? (c->rows / 2 + 1) * 2 : c->rows;
    float *tmp = malloc(sizeof(float) * (size_t)(nin + c->T * c->rows + n));
    double *coef = malloc(sizeof(double) * (size_t)n), *x = malloc(sizeof(double) * (size_t)nin),
           *gf = malloc(sizeof(double) * (size_t)n), *gx = malloc(sizeof(double) * (size_t)nin),
           *nf = malloc(sizeof(double) * (size_t)n), *nx = malloc(sizeof(double) * (size_t)nin),
           *rh = malloc(sizeof(double) * (size_t)(c->T * hout)), *xh = malloc(sizeof(double) * (size_t)(c->T * hin)),
           *zt = malloc(sizeof(double) * (size_t)(c->T * hin));
    f.R = malloc(sizeof(double) * (size_t)(c->T * c->rows));
    if (!rc || !tmp || !coef || !x || !gf || !gx || !nf || !nx || !rh || !xh || !zt || !f.R) {
        pc_fail(r, "out of host memory");
        goto done;
    }
    pc_random(env->seed + 61, tmp, nin + c->T * c->rows + n, -1, 1);
    for (int64_t i = 0; i < n; i++) coef[i] = tmp[i];
    for (int64_t i = 0; i < nin; i++) x[i] = tmp[n + i];
    for (int64_t i = 0; i < c->T * c->rows; i++) f.R[i] = tmp[n + nin + i];
    if (prism_spectral_index_create(f.ctx, c->rows, c->cols, n, rc, c->weights ? w : NULL, &f.ix) != PRISM_OK) {
        pc_fail(r, "index: %s", prism_error_message(f.ctx));
        goto done;
    }
    int64_t xs[3], zs[3], zts[3];
    int nd;
    shape_of(c, c->cols, xs, &nd);
    shape_of(c, c->rows, zs, &nd);
    shape_of(c, c->cols, zts, &nd);
    f.tf = pc_tensor(r, f.ctx, 1, &n, NULL);
    f.tx = pc_tensor(r, f.ctx, nd, xs, NULL);
    f.tz = pc_tensor(r, f.ctx, nd, zs, NULL);
    f.tr = pc_tensor(r, f.ctx, nd, zs, NULL);   /* R in the gather's output domain */
    f.tg = pc_tensor(r, f.ctx, 1, &n, NULL);
    f.tzt = pc_tensor(r, f.ctx, nd, zts, NULL);
    if (!f.tf || !f.tx || !f.tz || !f.tr || !f.tg || !f.tzt) goto done;
    const float alpha = 0.625f;
    if (prism_stream_create(f.ctx, &f.fwd) || prism_stream_create(f.ctx, &f.bwd) ||
        prism_spectral_gather(f.fwd, f.ix, c->dom, 0, f.tf, alpha, f.tx, 0.0f, f.tz) ||
        prism_spectral_coef_grad(f.bwd, f.ix, c->dom, alpha, f.tr, f.tx, 0.0f, f.tg) ||
        prism_spectral_gather(f.bwd, f.ix, c->dom, 1, f.tf, alpha, f.tr, 0.0f, f.tzt)) {
        pc_fail(r, "record: %s", prism_error_message(f.ctx));
        goto done;
    }
    /* analytic: R (or rfft(R)) as the upstream spectrum */
    if (fo) {
        to_half(&f, f.R, c->rows, rh);
        to_half(&f, x, c->cols, xh);
    } else {
        memcpy(rh, f.R, sizeof(double) * (size_t)(c->T * c->rows));
        memcpy(xh, x, sizeof(double) * (size_t)nin);
    }
    if (prism_tensor_upload_f64(f.tf, coef, n) || prism_tensor_upload_f64(f.tx, xh, c->T * hin) ||
        prism_tensor_upload_f64(f.tr, rh, c->T * hout) || !pc_run(r, f.bwd) ||
        prism_tensor_download_f64(f.tg, gf, n) || prism_tensor_download_f64(f.tzt, zt, c->T * hin)) {
        pc_fail(r, "backward: %s", prism_error_message(f.ctx));
        goto done;
    }
    if (fo)
        for (int64_t t = 0; t < c->T; t++) c2r_row(zt + t * hin, c->cols, gx + t * c->cols);
    else
        memcpy(gx, zt, sizeof(double) * (size_t)nin);
    /* central differences (L is bilinear, so h only meets rounding) */
    const double h = 1e-4;
    for (int64_t i = 0; i < n; i++) {
        double keep = coef[i];
        coef[i] = keep + h;
        double lp = loss(&f, coef, x);
        coef[i] = keep - h;
        double lm = loss(&f, coef, x);
        coef[i] = keep;
        nf[i] = (lp - lm) / (2 * h);
    }
    for (int64_t i = 0; i < nin; i++) {
        double keep = x[i];
        x[i] = keep + h;
        double lp = loss(&f, coef, x);
        x[i] = keep - h;
        double lm = loss(&f, coef, x);
        x[i] = keep;
        nx[i] = (lp - lm) / (2 * h);
    }
    pc_compare_fd(r, "dL/dcoef", gf, nf, n, 1e-8);
    pc_compare_fd(r, fo ? "dL/dx" : "dL/dXh", gx, nx, nin, 1e-8);
done:
    prism_stream_destroy(f.fwd);
    prism_stream_destroy(f.bwd);
    prism_tensor_destroy(f.tf);
    prism_tensor_destroy(f.tx);
    prism_tensor_destroy(f.tz);
    prism_tensor_destroy(f.tr);
    prism_tensor_destroy(f.tg);
    prism_tensor_destroy(f.tzt);
    prism_spectral_index_destroy(f.ix);
    free(rc);
    free(w);
    free(tmp);
    free(coef);
    free(x);
    free(gf);
    free(gx);
    free(nf);
    free(nx);
    free(rh);
    free(xh);
    free(zt);
    free(f.R);
}

#define DCT PRISM_SPECTRAL_DCT
#define FOU PRISM_SPECTRAL_FOURIER
static const sp_case
    sc_1x1 = {K_SCATTER, DCT, 0, 0, 1, 1, 1, 1, 0}, sc_7x9 = {K_SCATTER, DCT, 0, 0, 7, 9, 20, 1, 1},
    sc_big = {K_SCATTER, DCT, 0, 0, 1000, 784, 3000, 1, 2},
    g_1 = {K_GATHER, DCT, 0, 0, 1, 1, 1, 1, 0}, g_7 = {K_GATHER, DCT, 0, 0, 7, 9, 30, 7, 1},
    g_7t = {K_GATHER, DCT, 1, 0, 7, 9, 30, 7, 1}, g_acc = {K_GATHER, DCT, 0, 1, 33, 17, 100, 5, 2},
    g_acct = {K_GATHER, DCT, 1, 1, 33, 17, 100, 5, 2}, g_big = {K_GATHER, DCT, 0, 0, 784, 1000, 700, 64, 2},
    g_bigt = {K_GATHER, DCT, 1, 1, 784, 1000, 700, 64, 2},
    gf_even = {K_GATHER, FOU, 0, 0, 8, 10, 30, 3, 0}, gf_odd = {K_GATHER, FOU, 0, 1, 7, 9, 30, 4, 1},
    gf_t = {K_GATHER, FOU, 1, 0, 7, 10, 40, 3, 0}, gf_1 = {K_GATHER, FOU, 0, 0, 1, 1, 1, 2, 0},
    gf_big = {K_GATHER, FOU, 0, 0, 768, 1000, 1000, 33, 0}, gf_bigt = {K_GATHER, FOU, 1, 1, 768, 1000, 1000, 33, 0},
    cg_1 = {K_GRAD, DCT, 0, 0, 1, 1, 1, 1, 0}, cg_7 = {K_GRAD, DCT, 0, 1, 7, 9, 25, 7, 1},
    cg_big = {K_GRAD, DCT, 0, 0, 512, 384, 700, 1000, 2}, cgf_7 = {K_GRAD, FOU, 0, 0, 7, 9, 25, 7, 0},
    cgf_even = {K_GRAD, FOU, 0, 1, 8, 12, 40, 13, 1}, cgf_big = {K_GRAD, FOU, 0, 0, 256, 300, 1000, 300, 0},
    fd_dct = {K_GATHER, DCT, 0, 0, 7, 10, 12, 3, 2}, fd_dct_sq = {K_GATHER, DCT, 0, 0, 5, 5, 25, 2, 1},
    fd_fou_even = {K_GATHER, FOU, 0, 0, 8, 10, 14, 3, 0}, fd_fou_odd = {K_GATHER, FOU, 0, 0, 7, 9, 14, 2, 1},
    fd_fou_1 = {K_GATHER, FOU, 0, 0, 1, 6, 4, 2, 0};

const pc_case pc_cases_spectral[] = {
    {"spectral_scatter", "[1, 1] n 1", "device", sp_device, &sc_1x1},
    {"spectral_scatter", "[7, 9] n 20, weights", "device", sp_device, &sc_7x9},
    {"spectral_scatter", "[1000, 784] n 3000, dct-none weights", "device", sp_device, &sc_big},
    {"spectral_gather", "dct [1, 1] n 1 T 1", "device", sp_device, &g_1},
    {"spectral_gather", "dct [7, 9] n 30 T 7", "device", sp_device, &g_7},
    {"spectral_gather", "dct transposed [7, 9] n 30 T 7", "device", sp_device, &g_7t},
    {"spectral_gather", "dct [33, 17] n 100 T 5 beta 1", "device", sp_device, &g_acc},
    {"spectral_gather", "dct transposed [33, 17] beta 1", "device", sp_device, &g_acct},
    {"spectral_gather", "dct [784, 1000] n 700 T 64", "device", sp_device, &g_big},
    {"spectral_gather", "dct transposed [784, 1000] T 64 beta 1", "device", sp_device, &g_bigt},
    {"spectral_gather", "fourier [8, 10] n 30 T 3", "device", sp_device, &gf_even},
    {"spectral_gather", "fourier [7, 9] n 30 T 4 beta 1", "device", sp_device, &gf_odd},
    {"spectral_gather", "fourier transposed [7, 10] n 40", "device", sp_device, &gf_t},
    {"spectral_gather", "fourier [1, 1] n 1 T 2", "device", sp_device, &gf_1},
    {"spectral_gather", "fourier [768, 1000] n 1000 T 33", "device", sp_device, &gf_big},
    {"spectral_gather", "fourier transposed [768, 1000] beta 1", "device", sp_device, &gf_bigt},
    {"spectral_coef_grad", "dct [1, 1] n 1 T 1", "device", sp_device, &cg_1},
    {"spectral_coef_grad", "dct [7, 9] n 25 T 7 beta 1", "device", sp_device, &cg_7},
    {"spectral_coef_grad", "dct [512, 384] n 700 T 1000", "device", sp_device, &cg_big},
    {"spectral_coef_grad", "fourier [7, 9] n 25 T 7", "device", sp_device, &cgf_7},
    {"spectral_coef_grad", "fourier [8, 12] n 40 T 13 beta 1", "device", sp_device, &cgf_even},
    {"spectral_coef_grad", "fourier [256, 300] n 1000 T 300", "device", sp_device, &cgf_big},
    {"spectral_coef_grad", "dct [7, 10] n 12 T 3", "fd", sp_fd, &fd_dct},
    {"spectral_coef_grad", "dct [5, 5] every entry", "fd", sp_fd, &fd_dct_sq},
    {"spectral_coef_grad", "fourier [8, 10] n 14 T 3", "fd", sp_fd, &fd_fou_even},
    {"spectral_coef_grad", "fourier [7, 9] n 14 T 2 weights", "fd", sp_fd, &fd_fou_odd},
    {"spectral_coef_grad", "fourier [1, 6] n 4 T 2", "fd", sp_fd, &fd_fou_1},
};
const int pc_ncases_spectral = (int)(sizeof pc_cases_spectral / sizeof pc_cases_spectral[0]);
