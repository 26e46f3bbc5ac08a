/* Fixtures shared by tests/test_fourierft.c and tests/test_sdctft.c (the two
 * spectral adapters of adapters/spectral.c): a random layer with host copies
 * for float64 checks, forward + backward + merge in one stream, and the
 * checks both methods run alike: the dense formula (forward and merge),
 * finite differences of the coefficients and X, device vs reference, merged
 * layer == forward, the N(0,1) / zero init and the generic check rows with
 * no skip allowed. A test passes a maker that creates its method's adapter
 * with a given number of spectral entries (not named make: adapter_fixture.h
 * has one). Header-only (static). */
#ifndef PRISM_TEST_SPECTRAL_FIXTURE_H
#define PRISM_TEST_SPECTRAL_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "adapter_fixture.h"
#include "prism/adapter.h"
#include "prism/spectral.h"
#include "scratch_fixture.h"

typedef struct lay {
    prism_context *ctx;
    int64_t m, n, T;
    prism_tensor *W0, *b, *X, *Y, *dY, *dX, *Wm;
    float *hw, *hb, *hx, *hdy;
} lay;

/* Creates the adapter of the test's method on L with n spectral entries. */
typedef prism_adapter *(*sp_maker)(lay *L, int n);

/* One case of a check: PRISM_SPECTRAL_PATH, the layer [m, n] with T
 * tokens, the number of entries (where the check takes one). */
typedef struct sp_case {
    const char *path;
    int64_t m, n, T;
    int entries;
} sp_case;
#define SP_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static inline void lay_make(lay *L, prism_context *ctx, int64_t m, int64_t n, int64_t T, uint64_t seed) {
    memset(L, 0, sizeof *L);
    L->ctx = ctx, L->m = m, L->n = n, L->T = T;
    L->hw = malloc(sizeof(float) * (size_t)(m * n));
    L->hb = malloc(sizeof(float) * (size_t)m);
    L->hx = malloc(sizeof(float) * (size_t)(T * n));
    L->hdy = malloc(sizeof(float) * (size_t)(T * m));
    pc_random(seed, L->hw, m * n, -0.5f, 0.5f);
    pc_random(seed + 1, L->hb, m, -0.5f, 0.5f);
    pc_random(seed + 2, L->hx, T * n, -1.0f, 1.0f);
    pc_random(seed + 3, L->hdy, T * m, -1.0f, 1.0f);
    pc_result r = {0};
    int64_t ws[2] = {m, n}, xs[2] = {T, n}, ys[2] = {T, m};
    L->W0 = pc_tensor(&r, ctx, 2, ws, L->hw);
    L->b = pc_tensor(&r, ctx, 1, &m, L->hb);
    L->X = pc_tensor(&r, ctx, 2, xs, L->hx);
    L->Y = pc_tensor(&r, ctx, 2, ys, NULL);
    L->dY = pc_tensor(&r, ctx, 2, ys, L->hdy);
    L->dX = pc_tensor(&r, ctx, 2, xs, NULL);
    L->Wm = pc_tensor(&r, ctx, 2, ws, NULL);
    cr_assert_eq(r.outcome, PC_PASS, "%s", r.detail);
}

static inline void lay_free(lay *L) {
    prism_tensor *t[] = {L->W0, L->b, L->X, L->Y, L->dY, L->dX, L->Wm};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) prism_tensor_destroy(t[i]);
    free(L->hw), free(L->hb), free(L->hx), free(L->hdy);
}

static inline double *get(prism_tensor *t) {
    int64_t n = prism_tensor_numel(t);
    double *h = malloc(sizeof(double) * (size_t)n);
    cr_assert_eq(prism_tensor_download_f64(t, h, n), PRISM_OK);
    return h;
}

static inline void set_coef(prism_adapter *ad, uint64_t seed, float scale) {
    const prism_param *p;
    prism_adapter_params(ad, &p);
    int64_t n = prism_tensor_numel(p[0].value);
    float *h = malloc(sizeof(float) * (size_t)n);
    pc_random(seed, h, n, -scale, scale);
    cr_assert_eq(prism_tensor_upload(p[0].value, h, n), PRISM_OK);
    free(h);
}

/* forward Y, then (zeroed) backward with dY: grad of the coefficients, dX */
static inline void run_fb(lay *L, prism_adapter *ad) { fx_step(L->ctx, ad, L->X, L->Y, L->dY, L->dX, L->Wm); }

static inline double nmse(const double *a, const double *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
    return den > 0 ? num / den : num;
}

/* The adapter's coefficients (float64, returned) and its entries (flat
 * row-major indices into [m, n]: *cnt of them in *flat); both malloc'd. */
static inline double *sp_coefs(prism_adapter *ad, int64_t *cnt, int64_t **flat) {
    cr_assert_eq(prism_spectral_adapter_entries(ad, cnt, NULL), PRISM_OK);
    *flat = malloc(sizeof(int64_t) * (size_t)*cnt);
    cr_assert_eq(prism_spectral_adapter_entries(ad, cnt, *flat), PRISM_OK);
    const prism_param *p;
    prism_adapter_params(ad, &p);
    return get(p[0].value);
}

/* The weight of spectral entry (u, v) at [a, q] of an [m, n] ΔW for one
 * unit of its coefficient (arg: the method's settings). */
typedef double (*sp_basis)(int64_t m, int64_t n, int64_t u, int64_t v, int64_t a, int64_t q, const void *arg);

/* ΔW = Σ_l c_l basis(u_l, v_l) in float64, (u_l, v_l) = the row and column
 * of entry l; malloc'd [m, n]. */
static inline double *sp_host_dw(const lay *L, prism_adapter *ad, sp_basis basis, const void *arg) {
    int64_t cnt, m = L->m, n = L->n, *flat;
    double *c = sp_coefs(ad, &cnt, &flat), *dw = calloc((size_t)(m * n), sizeof(double));
    for (int64_t l = 0; l < cnt; l++)
        for (int64_t a = 0; a < m; a++)
            for (int64_t q = 0; q < n; q++) dw[a * n + q] += c[l] * basis(m, n, flat[l] / n, flat[l] % n, a, q, arg);
    free(flat);
    free(c);
    return dw;
}

/* Y = b + X (W0 + dw) in float64 from the host copies. */
static inline double *host_forward(const lay *L, const double *dw) {
    double *y = malloc(sizeof(double) * (size_t)(L->T * L->m));
    for (int64_t t = 0; t < L->T; t++)
        for (int64_t a = 0; a < L->m; a++) {
            double acc = L->hb[a];
            for (int64_t q = 0; q < L->n; q++) acc += L->hx[t * L->n + q] * (L->hw[a * L->n + q] + dw[a * L->n + q]);
            y[t * L->m + a] = acc;
        }
    return y;
}

/* After run_fb on the reference: Y == b + X (W0 + dw) and the merged weight
 * == W0 + dw to float64 rounding. Frees dw. */
static inline void sp_expect_dense(const lay *L, double *dw, const char *what) {
    int64_t m = L->m, n = L->n, T = L->T;
    double *Y = get(L->Y), *Wm = get(L->Wm), *want = host_forward(L, dw);
    for (int64_t i = 0; i < m * n; i++) dw[i] += L->hw[i];
    cr_expect_leq(nmse(Y, want, T * m), 1e-24, "%s forward: %g", what, nmse(Y, want, T * m));
    cr_expect_leq(nmse(Wm, dw, m * n), 1e-24, "%s merge: %g", what, nmse(Wm, dw, m * n));
    free(dw), free(Y), free(Wm), free(want);
}

/* <Y, dY> summed in float64 after running s (a recorded forward). */
static inline double sp_loss(prism_stream *s, const lay *L) {
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    double *y = get(L->Y), out = 0;
    for (int64_t i = 0; i < L->T * L->m; i++) out += y[i] * (double)L->hdy[i];
    free(y);
    return out;
}

/* Central differences (h = 1e-6) of <Y, dY> in every entry of t (host copy
 * v, n values) into num; t is restored. */
static inline void sp_fd(prism_stream *s, const lay *L, prism_tensor *t, double *v, int64_t n, double *num) {
    const double h = 1e-6;
    for (int64_t l = 0; l < n; l++) {
        double keep = v[l], lp, lm;
        v[l] = keep + h;
        cr_assert_eq(prism_tensor_upload_f64(t, v, n), PRISM_OK);
        lp = sp_loss(s, L);
        v[l] = keep - h;
        cr_assert_eq(prism_tensor_upload_f64(t, v, n), PRISM_OK);
        lm = sp_loss(s, L);
        v[l] = keep;
        num[l] = (lp - lm) / (2 * h);
    }
    cr_assert_eq(prism_tensor_upload_f64(t, v, n), PRISM_OK);
}

/* L = <Y, R> on the reference with dY = R: the coefficient gradient and dX
 * against central differences (m n / 3 entries). */
static inline void sp_fd_case(const pc_env *env, sp_maker maker, const char *path, int64_t m, int64_t n, int64_t T) {
    setenv("PRISM_SPECTRAL_PATH", path, 1);
    lay L;
    lay_make(&L, env->ref, m, n, T, 31);
    prism_adapter *ad = maker(&L, (int)(m * n / 3));
    set_coef(ad, 6, 1.0f);
    run_fb(&L, ad);
    const prism_param *p;
    prism_adapter_params(ad, &p);
    double *g = get(p[0].grad), *dx = get(L.dX), *f = get(p[0].value);
    int64_t nc = prism_tensor_numel(p[0].value);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env->ref, &s), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s, ad, L.X, L.Y), PRISM_OK);
    double *x = malloc(sizeof(double) * (size_t)(T * n)), *nf = malloc(sizeof(double) * (size_t)nc),
           *nx = malloc(sizeof(double) * (size_t)(T * n));
    for (int64_t i = 0; i < T * n; i++) x[i] = L.hx[i];
    sp_fd(s, &L, p[0].value, f, nc, nf);
    sp_fd(s, &L, L.X, x, T * n, nx);
    double ef = sqrt(nmse(g, nf, nc)), ex = sqrt(nmse(dx, nx, T * n));
    cr_expect_leq(ef, 1e-7, "%s [%lld, %lld]: coefficient gradient vs FD: %g", path, (long long)m, (long long)n, ef);
    cr_expect_leq(ex, 1e-7, "%s [%lld, %lld]: dX vs FD: %g", path, (long long)m, (long long)n, ex);
    free(g), free(dx), free(f), free(x), free(nf), free(nx);
    prism_stream_destroy(s);
    prism_adapter_destroy(ad);
    lay_free(&L);
}

/* Device vs reference with the same entries and coefficients: Y, dX, the
 * coefficient gradient and the merged weight (NMSE 1e-9, all finite). */
static inline void sp_device_case(const pc_env *env, sp_maker maker, const char *path, int64_t m, int64_t n, int64_t T,
                                  int nent) {
    setenv("PRISM_SPECTRAL_PATH", path, 1);
    lay R, D;
    lay_make(&R, env->ref, m, n, T, 41);
    lay_make(&D, env->dev, m, n, T, 41);
    prism_adapter *ar = maker(&R, nent), *ad = maker(&D, nent);
    int64_t cr_, cd;
    cr_assert_eq(prism_spectral_adapter_entries(ar, &cr_, NULL), PRISM_OK);
    cr_assert_eq(prism_spectral_adapter_entries(ad, &cd, NULL), PRISM_OK);
    cr_assert_eq(cr_, cd);
    set_coef(ar, 7, 1.0f);
    set_coef(ad, 7, 1.0f);
    run_fb(&R, ar);
    run_fb(&D, ad);
    const prism_param *pr, *pd;
    prism_adapter_params(ar, &pr);
    prism_adapter_params(ad, &pd);
    struct { prism_tensor *a, *b; const char *what; } cmp[] = {
        {R.Y, D.Y, "Y"}, {R.dX, D.dX, "dX"}, {pr[0].grad, pd[0].grad, "grad"}, {R.Wm, D.Wm, "merged W"}};
    for (size_t i = 0; i < sizeof cmp / sizeof cmp[0]; i++) {
        double *a = get(cmp[i].a), *b = get(cmp[i].b);
        double e = nmse(b, a, prism_tensor_numel(cmp[i].a));
        cr_expect_leq(e, 1e-9, "%s [%lld, %lld] T %lld %s: NMSE %g", path, (long long)m, (long long)n, (long long)T,
                      cmp[i].what, e);
        for (int64_t k = 0; k < prism_tensor_numel(cmp[i].a); k++)
            cr_expect(isfinite(b[k]), "%s: non-finite at %lld", cmp[i].what, (long long)k);
        free(a), free(b);
    }
    prism_adapter_destroy(ar);
    prism_adapter_destroy(ad);
    lay_free(&R);
    lay_free(&D);
}

static inline void sp_check_fd(const pc_env *env, sp_maker maker, const sp_case *c, size_t n) {
    for (size_t i = 0; i < n; i++) sp_fd_case(env, maker, c[i].path, c[i].m, c[i].n, c[i].T);
}

static inline void sp_check_device(const pc_env *env, sp_maker maker, const sp_case *c, size_t n) {
    for (size_t i = 0; i < n; i++) sp_device_case(env, maker, c[i].path, c[i].m, c[i].n, c[i].T, c[i].entries);
}

/* The merged weight used as a plain layer reproduces the adapter forward on
 * the device ([32, 24], T 6, 100 entries). */
static inline void sp_merge_equals_forward(const pc_env *env, sp_maker maker) {
    lay D;
    lay_make(&D, env->dev, 32, 24, 6, 51);
    prism_adapter *ad = maker(&D, 100);
    set_coef(ad, 9, 1.0f);
    run_fb(&D, ad);
    double *Y = get(D.Y), *W = get(D.Wm), *want = malloc(sizeof(double) * 6 * 32);
    for (int t = 0; t < 6; t++)
        for (int a = 0; a < 32; a++) {
            double acc = D.hb[a];
            for (int q = 0; q < 24; q++) acc += D.hx[t * 24 + q] * W[a * 24 + q];
            want[t * 32 + a] = acc;
        }
    cr_expect_leq(nmse(Y, want, 6 * 32), 1e-10, "%g", nmse(Y, want, 6 * 32));
    free(Y), free(W), free(want);
    prism_adapter_destroy(ad);
    lay_free(&D);
}

/* ad (the method's defaults but for its entry count n) starts at N(0, 1);
 * with init_zero at exactly 0. Destroys ad. */
static inline void sp_expect_init(lay *L, prism_adapter *ad, prism_method meth, int64_t n) {
    const prism_param *p;
    prism_adapter_params(ad, &p);
    cr_assert_eq(prism_tensor_numel(p[0].value), n);
    double *f = get(p[0].value), mean = 0, var = 0;
    for (int64_t i = 0; i < n; i++) mean += f[i] / (double)n;
    for (int64_t i = 0; i < n; i++) var += (f[i] - mean) * (f[i] - mean) / (double)n;
    cr_expect(fabs(mean) < 0.15 && fabs(var - 1) < 0.2, "N(0,1) init: mean %g var %g", mean, var);
    free(f);
    prism_adapter_destroy(ad);
    prism_adapter_config c = prism_adapter_config_default(meth);
    c.init_zero = 1;
    cr_assert_eq(prism_adapter_create(L->ctx, &c, L->W0, L->b, &ad), PRISM_OK);
    prism_adapter_params(ad, &p);
    f = get(p[0].value);
    for (int64_t i = 0; i < n; i++) cr_expect_eq(f[i], 0.0);
    free(f);
    prism_adapter_destroy(ad);
}

/* prism_adapter_config_from_json of each text gives want. */
static inline void sp_expect_configs(const char *const *texts, size_t n, prism_status want) {
    char err[256];
    prism_adapter_config c;
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_Parse(texts[i]);
        cr_expect_eq(prism_adapter_config_from_json(o, &c, err, sizeof err), want, "%s", texts[i]);
        cJSON_Delete(o);
    }
}

/* The configuration in text (which must parse). */
static inline prism_adapter_config sp_config(const char *text) {
    char err[256];
    prism_adapter_config c;
    cJSON *o = cJSON_Parse(text);
    cr_assert_eq(prism_adapter_config_from_json(o, &c, err, sizeof err), PRISM_OK, "%s: %s", text, err);
    cJSON_Delete(o);
    return c;
}

/* The generic adapter rows (tools/check/adapter.c: device vs reference, FD,
 * merged layer) of exactly op; the binary links the method, so none may be
 * skipped. */
static inline void sp_generic_rows(const pc_env *env, const char *op) {
    const pc_case *cases;
    int n = pc_all_cases(&cases), ran = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(cases[i].op, op) != 0) continue;
        pc_result r;
        pc_run_case(env, &cases[i], &r);
        ran++;
        cr_expect_eq(r.outcome, PC_PASS, "%s %s (%s): %s", cases[i].op, cases[i].shape, cases[i].kind,
                     r.outcome == PC_SKIP ? "skipped" : r.detail);
    }
    cr_expect_gt(ran, 0, "no generic rows for %s", op);
}

/* The tests both methods run alike, for a suite with a pc_env env:
 * device vs reference at m = 1 (length-1 transforms along the output dim),
 * the merged layer == forward on the device, the generic rows. */
#define SP_SHARED_TESTS(suite, maker)                                                                          \
    Test(suite, device_matches_reference_m1) { sp_device_case(&env, maker, "token", 1, 6, 1, 2); }             \
    Test(suite, merge_equals_forward_on_device) { sp_merge_equals_forward(&env, maker); }                      \
    Test(suite, generic_adapter_rows) { sp_generic_rows(&env, "adapter_" #suite); }

#endif
