/* sDCTFT adapter (adapters/spectral.c): selection from |DCT2_ortho(W0)|,
 * forward == the dense formula (both dct_norm), finite differences of the
 * coefficient gradients and dX on the reference (token and dense paths),
 * device vs reference, merge == forward, file round trips with the exact
 * keys, a loaded index replacing the selection, configuration errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common.h"
#include "prism/adapter.h"
#include "prism/spectral.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) {
    unsetenv("PRISM_SPECTRAL_PATH");
    t_env_destroy(&env);
}
TestSuite(sdctft, .init = setup, .fini = teardown, .timeout = 300);

typedef struct lay {
    prism_context *ctx;
    int64_t m, n, T;
    prism_tensor *W0, *b, *X, *Y, *dY, *dX, *Wm;
    float *hw, *hb, *hx, *hdy;
} lay;

static void lay_make(lay *L, prism_context *ctx, int64_t m, int64_t n, int64_t T, uint64_t seed) {
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

static void lay_free(lay *L) {
    prism_tensor *t[] = {L->W0, L->b, L->X, L->Y, L->dY, L->dX, L->Wm};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) prism_tensor_destroy(t[i]);
    free(L->hw), free(L->hb), free(L->hx), free(L->hdy);
}

static prism_adapter *make(lay *L, int n_coef, prism_dct_norm norm, float alpha) {
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_SDCTFT);
    c.n_coef = n_coef;
    c.dct_norm = norm;
    c.sdctft_alpha = alpha;
    c.seed = 3;
    prism_adapter *ad = NULL;
    cr_assert_eq(prism_adapter_create(L->ctx, &c, L->W0, L->b, &ad), PRISM_OK, "%s", prism_error_message(L->ctx));
    return ad;
}

static double *get(prism_tensor *t) {
    int64_t n = prism_tensor_numel(t);
    double *h = malloc(sizeof(double) * (size_t)n);
    cr_assert_eq(prism_tensor_download_f64(t, h, n), PRISM_OK);
    return h;
}

static void set_coef(prism_adapter *ad, uint64_t seed, float scale) {
    const prism_param *p;
    prism_adapter_params(ad, &p);
    int64_t n = prism_tensor_numel(p[0].value);
    float *h = malloc(sizeof(float) * (size_t)n);
    pc_random(seed, h, n, -scale, scale);
    cr_assert_eq(prism_tensor_upload(p[0].value, h, n), PRISM_OK);
    free(h);
}

/* forward Y, then (zeroed) backward with dY: grad of the coefficients, dX */
static void run_fb(lay *L, prism_adapter *ad) {
    prism_stream *s;
    cr_assert_eq(prism_stream_create(L->ctx, &s), PRISM_OK);
    cr_assert_eq(prism_adapter_zero_grad(s, ad), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s, ad, L->X, L->Y), PRISM_OK, "%s", prism_error_message(L->ctx));
    cr_assert_eq(prism_adapter_backward(s, ad, L->X, L->dY, L->dX), PRISM_OK, "%s", prism_error_message(L->ctx));
    cr_assert_eq(prism_adapter_merge(s, ad, L->Wm), PRISM_OK, "%s", prism_error_message(L->ctx));
    cr_assert_eq(prism_stream_run(s), PRISM_OK, "%s", prism_error_message(L->ctx));
    prism_stream_destroy(s);
}

static double ortho_c(int64_t L, int64_t k, int64_t i) {
    return (k == 0 ? sqrt(1.0 / (double)L) : sqrt(2.0 / (double)L)) *
           cos(M_PI * (double)k * (2.0 * (double)i + 1.0) / (2.0 * (double)L));
}

static double nmse(const double *a, const double *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
    return den > 0 ? num / den : num;
}

/* ΔW in the authors' torch_dct norm=None form (none) or orthonormal form. */
static double *host_dw(const lay *L, prism_adapter *ad, prism_dct_norm norm, double alpha) {
    int64_t cnt, m = L->m, n = L->n;
    cr_assert_eq(prism_spectral_adapter_entries(ad, &cnt, NULL), PRISM_OK);
    int64_t *flat = malloc(sizeof(int64_t) * (size_t)cnt);
    cr_assert_eq(prism_spectral_adapter_entries(ad, &cnt, flat), PRISM_OK);
    const prism_param *p;
    prism_adapter_params(ad, &p);
    double *f = get(p[0].value), *dw = calloc((size_t)(m * n), sizeof(double));
    for (int64_t l = 0; l < cnt; l++) {
        int64_t u = flat[l] / n, v = flat[l] % n;
        for (int64_t a = 0; a < m; a++)
            for (int64_t q = 0; q < n; q++) {
                if (norm == PRISM_DCT_NORM_NONE)
                    dw[a * n + q] += alpha / (double)(m * n) * (u ? 1.0 : 0.5) * (v ? 1.0 : 0.5) * f[l] *
                                     cos(M_PI * u * (2 * a + 1) / (2.0 * m)) * cos(M_PI * v * (2 * q + 1) / (2.0 * n));
                else
                    dw[a * n + q] += alpha * f[l] * ortho_c(m, u, a) * ortho_c(n, v, q);
            }
    }
    free(flat);
    free(f);
    return dw;
}

/* ------------------------------------------------------------------ selection */

Test(sdctft, selection_is_the_select_op_on_dct2_ortho_of_w0) {
    lay L;
    lay_make(&L, env.ref, 24, 40, 3, 11);
    prism_adapter *ad = make(&L, 60, PRISM_DCT_NORM_NONE, 300.0f);
    /* host: S = C_m W0 C_nᵀ, then the select op on the reference */
    double *S = calloc(24 * 40, sizeof(double));
    float *Sf = malloc(sizeof(float) * 24 * 40);
    for (int u = 0; u < 24; u++)
        for (int v = 0; v < 40; v++) {
            double acc = 0;
            for (int a = 0; a < 24; a++)
                for (int q = 0; q < 40; q++) acc += ortho_c(24, u, a) * L.hw[a * 40 + q] * ortho_c(40, v, q);
            S[u * 40 + v] = acc;
        }
    prism_select_config sc = {60, 0.7, 3}; /* the adapter reads its float 0.7f as 0.7 */
    prism_selector *sel;
    cr_assert_eq(prism_selector_create(env.ref, 24, 40, &sc, &sel), PRISM_OK);
    int64_t ns = prism_selector_info(sel)->n_selected, ss[2] = {24, 40}, is[2] = {ns, 2};
    prism_tensor *ts, *ti;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.ref, 2, ss, &ts), PRISM_OK);
    cr_assert_eq(prism_tensor_upload_f64(ts, S, 24 * 40), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.ref, 2, is, &ti), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.ref, &s), PRISM_OK);
    cr_assert_eq(prism_select(s, sel, ts, ti), PRISM_OK);
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    double *want = get(ti);
    int64_t cnt, flat[60];
    cr_assert_eq(prism_spectral_adapter_entries(ad, &cnt, flat), PRISM_OK);
    cr_assert_eq(cnt, ns);
    for (int64_t l = 0; l < cnt; l++) cr_expect_eq(flat[l], (int64_t)(want[2 * l] * 40 + want[2 * l + 1]), "entry %lld", (long long)l);
    /* the saved index holds the same entries */
    const prism_param *p;
    cr_assert_eq(prism_adapter_params(ad, &p), 2);
    cr_expect_str_eq(p[0].name, "sdctft_coef");
    cr_expect_str_eq(p[1].name, "sdctft_index");
    cr_expect(p[0].trainable && !p[1].trainable);
    double *ix = get(p[1].value);
    for (int64_t l = 0; l < cnt; l++) cr_expect_eq(ix[l], (double)flat[l]);
    /* the device selects the same entries from its fp32 DCT */
    lay D;
    lay_make(&D, env.dev, 24, 40, 3, 11);
    prism_adapter *dd = make(&D, 60, PRISM_DCT_NORM_NONE, 300.0f);
    int64_t dc, dflat[60];
    cr_assert_eq(prism_spectral_adapter_entries(dd, &dc, dflat), PRISM_OK);
    cr_assert_eq(dc, cnt);
    cr_expect_eq(memcmp(dflat, flat, sizeof(int64_t) * (size_t)cnt), 0, "device selection differs");
    prism_select_info info;
    cr_assert_eq(prism_sdctft_selection_info(dd, &info), PRISM_OK);
    cr_expect_eq(info.n_selected, cnt);
    cr_expect_eq(prism_sdctft_selection_info(NULL, &info), PRISM_ERR_INVALID_ARGUMENT);
    prism_adapter_destroy(dd);
    lay_free(&D);
    free(ix), free(want), free(S), free(Sf);
    prism_stream_destroy(s);
    prism_tensor_destroy(ts);
    prism_tensor_destroy(ti);
    prism_selector_destroy(sel);
    prism_adapter_destroy(ad);
    lay_free(&L);
}

/* ------------------------------------------------------------------ math */

static void check_formula(prism_dct_norm norm, const char *path) {
    setenv("PRISM_SPECTRAL_PATH", path, 1);
    lay L;
    lay_make(&L, env.ref, 12, 9, 5, 21);
    prism_adapter *ad = make(&L, 30, norm, 150.0f);
    set_coef(ad, 5, 1.0f);
    run_fb(&L, ad);
    double *dw = host_dw(&L, ad, norm, 150.0), *Y = get(L.Y), *Wm = get(L.Wm);
    double *wy = malloc(sizeof(double) * 5 * 12), *wm = malloc(sizeof(double) * 12 * 9);
    for (int i = 0; i < 12 * 9; i++) wm[i] = L.hw[i] + dw[i];
    for (int t = 0; t < 5; t++)
        for (int a = 0; a < 12; a++) {
            double acc = L.hb[a];
            for (int q = 0; q < 9; q++) acc += L.hx[t * 9 + q] * wm[a * 9 + q];
            wy[t * 12 + a] = acc;
        }
    cr_expect_leq(nmse(Y, wy, 5 * 12), 1e-24, "%s %s forward: %g", norm ? "ortho" : "none", path, nmse(Y, wy, 60));
    cr_expect_leq(nmse(Wm, wm, 12 * 9), 1e-24, "%s merge: %g", path, nmse(Wm, wm, 108));
    free(dw), free(Y), free(Wm), free(wy), free(wm);
    prism_adapter_destroy(ad);
    lay_free(&L);
}

Test(sdctft, forward_and_merge_equal_dense_formula) {
    check_formula(PRISM_DCT_NORM_NONE, "token");
    check_formula(PRISM_DCT_NORM_ORTHO, "token");
    check_formula(PRISM_DCT_NORM_NONE, "dense");
    check_formula(PRISM_DCT_NORM_ORTHO, "dense");
}

/* L = <Y, R>: backward with dY = R against central differences. */
static void check_fd(const char *path, int64_t m, int64_t n, int64_t T) {
    setenv("PRISM_SPECTRAL_PATH", path, 1);
    lay L;
    lay_make(&L, env.ref, m, n, T, 31);
    prism_adapter *ad = make(&L, (int)(m * n / 3), PRISM_DCT_NORM_NONE, 300.0f);
    set_coef(ad, 6, 1.0f);
    run_fb(&L, ad);
    const prism_param *p;
    prism_adapter_params(ad, &p);
    double *g = get(p[0].grad), *dx = get(L.dX), *f = get(p[0].value);
    int64_t nc = prism_tensor_numel(p[0].value);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.ref, &s), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s, ad, L.X, L.Y), PRISM_OK);
    double *x = malloc(sizeof(double) * (size_t)(T * n)), *nf = malloc(sizeof(double) * (size_t)nc),
           *nx = malloc(sizeof(double) * (size_t)(T * n));
    for (int64_t i = 0; i < T * n; i++) x[i] = L.hx[i];
    const double h = 1e-6;
#define LOSS(out)                                                                           \
    do {                                                                                    \
        cr_assert_eq(prism_stream_run(s), PRISM_OK);                                        \
        double *y_ = get(L.Y);                                                              \
        out = 0;                                                                            \
        for (int64_t i_ = 0; i_ < T * m; i_++) out += y_[i_] * (double)L.hdy[i_];          \
        free(y_);                                                                           \
    } while (0)
    for (int64_t l = 0; l < nc; l++) {
        double keep = f[l], lp, lm;
        f[l] = keep + h;
        cr_assert_eq(prism_tensor_upload_f64(p[0].value, f, nc), PRISM_OK);
        LOSS(lp);
        f[l] = keep - h;
        cr_assert_eq(prism_tensor_upload_f64(p[0].value, f, nc), PRISM_OK);
        LOSS(lm);
        f[l] = keep;
        nf[l] = (lp - lm) / (2 * h);
    }
    cr_assert_eq(prism_tensor_upload_f64(p[0].value, f, nc), PRISM_OK);
    for (int64_t i = 0; i < T * n; i++) {
        double keep = x[i], lp, lm;
        x[i] = keep + h;
        cr_assert_eq(prism_tensor_upload_f64(L.X, x, T * n), PRISM_OK);
        LOSS(lp);
        x[i] = keep - h;
        cr_assert_eq(prism_tensor_upload_f64(L.X, x, T * n), PRISM_OK);
        LOSS(lm);
        x[i] = keep;
        nx[i] = (lp - lm) / (2 * h);
    }
#undef LOSS
    double ef = sqrt(nmse(g, nf, nc)), ex = sqrt(nmse(dx, nx, T * n));
    cr_expect_leq(ef, 1e-7, "%s [%lld, %lld]: coefficient gradient vs FD: %g", path, (long long)m, (long long)n, ef);
    cr_expect_leq(ex, 1e-7, "%s [%lld, %lld]: dX vs FD: %g", path, (long long)m, (long long)n, ex);
    free(g), free(dx), free(f), free(x), free(nf), free(nx);
    prism_stream_destroy(s);
    prism_adapter_destroy(ad);
    lay_free(&L);
}

Test(sdctft, finite_differences_token_path) {
    check_fd("token", 7, 5, 3);
    check_fd("token", 6, 11, 2);
    check_fd("token", 1, 6, 2);
}
Test(sdctft, finite_differences_dense_path) { check_fd("dense", 7, 5, 3); }

/* Device vs reference with the same coefficients, both paths. */
static void check_device(const char *path, int64_t m, int64_t n, int64_t T, int n_coef) {
    setenv("PRISM_SPECTRAL_PATH", path, 1);
    lay R, D;
    lay_make(&R, env.ref, m, n, T, 41);
    lay_make(&D, env.dev, m, n, T, 41);
    prism_adapter *ar = make(&R, n_coef, PRISM_DCT_NORM_NONE, 300.0f), *ad = make(&D, n_coef, PRISM_DCT_NORM_NONE, 300.0f);
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

Test(sdctft, device_matches_reference) {
    check_device("token", 48, 40, 17, 300);
    check_device("dense", 48, 40, 17, 300);
    check_device("token", 97, 64, 5, 700); /* 97: the dct op's matrix path */
}

/* m = 1: length-1 transforms along the output dim */
Test(sdctft, device_matches_reference_m1) { check_device("token", 1, 6, 1, 2); }

/* merged layer == adapter forward on the device */
Test(sdctft, merge_equals_forward_on_device) {
    lay D;
    lay_make(&D, env.dev, 32, 24, 6, 51);
    prism_adapter *ad = make(&D, 100, PRISM_DCT_NORM_NONE, 300.0f);
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

/* ------------------------------------------------------------------ init and config */

Test(sdctft, init_normal_or_zero) {
    lay L;
    lay_make(&L, env.ref, 64, 64, 2, 61);
    prism_adapter *ad = make(&L, 700, PRISM_DCT_NORM_NONE, 300.0f);
    const prism_param *p;
    prism_adapter_params(ad, &p);
    double *f = get(p[0].value), mean = 0, var = 0;
    int64_t n = prism_tensor_numel(p[0].value);
    cr_assert_eq(n, 700);
    for (int64_t i = 0; i < n; i++) mean += f[i] / n;
    for (int64_t i = 0; i < n; i++) var += (f[i] - mean) * (f[i] - mean) / n;
    cr_expect(fabs(mean) < 0.15 && fabs(var - 1) < 0.2, "N(0,1) init: mean %g var %g", mean, var);
    free(f);
    prism_adapter_destroy(ad);
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_SDCTFT);
    c.init_zero = 1;
    cr_assert_eq(prism_adapter_create(env.ref, &c, L.W0, L.b, &ad), PRISM_OK);
    prism_adapter_params(ad, &p);
    f = get(p[0].value);
    for (int64_t i = 0; i < 700; i++) cr_expect_eq(f[i], 0.0);
    free(f);
    prism_adapter_destroy(ad);
    lay_free(&L);
}

Test(sdctft, config_errors_and_unplaced) {
    lay L;
    lay_make(&L, env.dev, 4, 4, 2, 71);
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_SDCTFT);
    prism_adapter *ad = NULL;
    c.n_coef = 17;
    cr_expect_eq(prism_adapter_create(env.dev, &c, L.W0, L.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(prism_error_message(env.dev), "n_coef"), "%s", prism_error_message(env.dev));
    c.n_coef = 0;
    cr_expect_eq(prism_adapter_create(env.dev, &c, L.W0, L.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    c.n_coef = 5;
    c.delta = 1.5f;
    cr_expect_eq(prism_adapter_create(env.dev, &c, L.W0, L.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(prism_error_message(env.dev), "delta"), "%s", prism_error_message(env.dev));
    c.delta = 0.7f;
    c.sdctft_alpha = INFINITY;
    cr_expect_eq(prism_adapter_create(env.dev, &c, L.W0, L.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    c.sdctft_alpha = 300.0f;
    c.dct_norm = (prism_dct_norm)5;
    cr_expect_eq(prism_adapter_create(env.dev, &c, L.W0, L.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect(ad == NULL);
    /* [20, 20], all 400: the high band is smaller than its share and the
     * rest cannot be placed; the adapter holds the placed ones and says so */
    lay L2;
    lay_make(&L2, env.dev, 20, 20, 2, 72);
    c.dct_norm = PRISM_DCT_NORM_NONE;
    c.n_coef = 400;
    cr_assert_eq(prism_adapter_create(env.dev, &c, L2.W0, L2.b, &ad), PRISM_OK, "%s", prism_error_message(env.dev));
    prism_select_info info;
    cr_assert_eq(prism_sdctft_selection_info(ad, &info), PRISM_OK);
    int64_t cnt;
    cr_assert_eq(prism_spectral_adapter_entries(ad, &cnt, NULL), PRISM_OK);
    cr_expect_eq(cnt, info.n_selected);
    cr_expect_eq(info.n_selected + info.n_unplaced, 400);
    cr_expect_gt(info.n_unplaced, 0);
    const prism_param *p;
    prism_adapter_params(ad, &p);
    cr_expect_eq(prism_tensor_numel(p[0].value), cnt, "the adapter holds only the placed coefficients");
    lay_free(&L2);
    prism_adapter_destroy(ad);
    lay_free(&L);
}

/* ------------------------------------------------------------------ files */

static void write_file(const char *dir, const char *module, int64_t n, const float *coef, const int64_t *index,
                       const cJSON *config) {
    char path[512], key[256], err[256];
    cr_assert_eq(mkdir(dir, 0755) == 0 || access(dir, F_OK) == 0, 1);
    prism_st_writer *w;
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    snprintf(key, sizeof key, "base_model.model.%s.sdctft_coef", module);
    cr_assert_eq(prism_st_writer_add_f32(w, key, 1, &n, coef, err, sizeof err), PRISM_OK, "%s", err);
    snprintf(key, sizeof key, "base_model.model.%s.sdctft_index", module);
    cr_assert_eq(prism_st_writer_add_i64(w, key, 1, &n, index, err, sizeof err), PRISM_OK, "%s", err);
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    cr_assert_eq(prism_st_writer_write(w, path, err, sizeof err), PRISM_OK, "%s", err);
    prism_st_writer_destroy(w);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    cr_assert_eq(prism_json_write(path, config, err, sizeof err), PRISM_OK, "%s", err);
}

Test(sdctft, file_round_trip_keys_and_loaded_index) {
    char tmpl[] = "/tmp/prism-sdctft-XXXXXX", path[512], err[256];
    cr_assert_not_null(mkdtemp(tmpl));
    const char *mod = "model.layers.0.self_attn.q_proj";
    lay D;
    lay_make(&D, env.dev, 24, 40, 4, 81);
    prism_adapter *ad = make(&D, 60, PRISM_DCT_NORM_NONE, 300.0f);
    set_coef(ad, 12, 1.0f);
    run_fb(&D, ad);
    double *y0 = get(D.Y);
    cr_assert_eq(prism_adapter_save(ad, tmpl, mod), PRISM_OK, "%s", prism_error_message(env.dev));
    int64_t cnt, flat[60];
    cr_assert_eq(prism_spectral_adapter_entries(ad, &cnt, flat), PRISM_OK);

    /* exact keys, dtypes, shapes, values */
    prism_st_file *f;
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", tmpl);
    cr_assert_eq(prism_st_open(path, 0, &f, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(prism_st_count(f), 2);
    cr_expect_str_eq(prism_st_meta_get(f, "format"), "pt");
    char key[256];
    snprintf(key, sizeof key, "base_model.model.%s.sdctft_coef", mod);
    const prism_st_tensor *tc = prism_st_find(f, key);
    snprintf(key, sizeof key, "base_model.model.%s.sdctft_index", mod);
    const prism_st_tensor *ti = prism_st_find(f, key);
    cr_assert(tc && ti, "keys sdctft_coef / sdctft_index");
    cr_expect(tc->dtype == PRISM_DTYPE_F32 && tc->ndim == 1 && tc->shape[0] == cnt);
    cr_expect(ti->dtype == PRISM_DTYPE_I64 && ti->ndim == 1 && ti->shape[0] == cnt);
    int64_t idx[60];
    cr_assert_eq(prism_st_read_i64(f, key, idx, cnt, err, sizeof err), PRISM_OK);
    for (int64_t l = 0; l < cnt; l++) cr_expect_eq(idx[l], flat[l]);
    prism_st_close(f);
    cJSON *cfg;
    snprintf(path, sizeof path, "%s/adapter_config.json", tmpl);
    cr_assert_eq(prism_json_read(path, 0, &cfg, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_str_eq(cJSON_GetObjectItem(cfg, "peft_type")->valuestring, "SDCTFT");
    cr_expect_eq(cJSON_GetObjectItem(cfg, "n_coef")->valuedouble, 60);
    cr_expect_eq(cJSON_GetObjectItem(cfg, "alpha")->valuedouble, 300);
    cr_expect(fabs(cJSON_GetObjectItem(cfg, "delta")->valuedouble - 0.7) < 1e-6);
    cr_expect_str_eq(cJSON_GetObjectItem(cfg, "dct_norm")->valuestring, "none");
    cr_expect_eq(cJSON_GetObjectItem(cfg, "seed")->valuedouble, 3);

    /* load: same outputs */
    prism_adapter *back = NULL;
    cr_assert_eq(prism_adapter_load(env.dev, tmpl, mod, D.W0, D.b, &back), PRISM_OK, "%s", prism_error_message(env.dev));
    run_fb(&D, back);
    double *y1 = get(D.Y);
    for (int64_t i = 0; i < 4 * 24; i++) cr_expect_eq(y1[i], y0[i], "Y[%lld] after reload", (long long)i);

    /* a file's index replaces the selection (on the reference: exact formula) */
    lay R;
    lay_make(&R, env.ref, 24, 40, 4, 81);
    float coef[60];
    int64_t other[60];
    pc_random(13, coef, cnt, -1, 1);
    for (int64_t l = 0; l < cnt; l++) other[l] = 7 * l + 3; /* ascending, in range, not the selection */
    char dir2[600];
    snprintf(dir2, sizeof dir2, "%s/other", tmpl);
    write_file(dir2, mod, cnt, coef, other, cfg);
    prism_adapter *ar = NULL;
    cr_assert_eq(prism_adapter_load(env.ref, dir2, mod, R.W0, R.b, &ar), PRISM_OK, "%s", prism_error_message(env.ref));
    int64_t got[60], gc;
    cr_assert_eq(prism_spectral_adapter_entries(ar, &gc, got), PRISM_OK);
    cr_assert_eq(gc, cnt);
    for (int64_t l = 0; l < cnt; l++) cr_expect_eq(got[l], other[l]);
    run_fb(&R, ar);
    double *dw = host_dw(&R, ar, PRISM_DCT_NORM_NONE, 300.0), *Y = get(R.Y), *want = malloc(sizeof(double) * 4 * 24);
    for (int t = 0; t < 4; t++)
        for (int a = 0; a < 24; a++) {
            double acc = R.hb[a];
            for (int q = 0; q < 40; q++) acc += R.hx[t * 40 + q] * (R.hw[a * 40 + q] + dw[a * 40 + q]);
            want[t * 24 + a] = acc;
        }
    cr_expect_leq(nmse(Y, want, 4 * 24), 1e-24);

    /* bad indices: descending, out of range */
    other[5] = other[4];
    write_file(dir2, mod, cnt, coef, other, cfg);
    prism_adapter *bad = NULL;
    cr_expect_eq(prism_adapter_load(env.ref, dir2, mod, R.W0, R.b, &bad), PRISM_ERR_FORMAT);
    cr_expect(strstr(prism_error_message(env.ref), "sdctft_index[5]"), "%s", prism_error_message(env.ref));
    other[5] = other[4] + 1;
    other[cnt - 1] = 24 * 40;
    write_file(dir2, mod, cnt, coef, other, cfg);
    cr_expect_eq(prism_adapter_load(env.ref, dir2, mod, R.W0, R.b, &bad), PRISM_ERR_FORMAT);
    cr_expect(bad == NULL);

    free(dw), free(Y), free(want), free(y0), free(y1);
    cJSON_Delete(cfg);
    prism_adapter_destroy(ar);
    prism_adapter_destroy(back);
    prism_adapter_destroy(ad);
    lay_free(&R);
    lay_free(&D);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
    cr_expect_eq(system(cmd), 0);
}

Test(sdctft, config_json_fields) {
    char err[256];
    cJSON *o = cJSON_Parse("{\"peft_type\": \"SDCTFT\", \"n_coef\": 500, \"alpha\": 29.5, \"delta\": 0.5, "
                           "\"dct_norm\": \"ortho\", \"seed\": 42, \"init_zero\": true}");
    prism_adapter_config c;
    cr_assert_eq(prism_adapter_config_from_json(o, &c, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect(c.method == PRISM_METHOD_SDCTFT && c.n_coef == 500 && c.sdctft_alpha == 29.5f && c.delta == 0.5f &&
              c.dct_norm == PRISM_DCT_NORM_ORTHO && c.seed == 42 && c.init_zero == 1);
    cJSON_Delete(o);
    o = cJSON_Parse("{\"peft_type\": \"SDCTFT\"}");
    cr_assert_eq(prism_adapter_config_from_json(o, &c, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect(c.n_coef == 700 && c.sdctft_alpha == 300.0f && c.dct_norm == PRISM_DCT_NORM_NONE, "defaults");
    cJSON_Delete(o);
    const char *bad[] = {"{\"peft_type\": \"SDCTFT\", \"dct_norm\": \"fancy\"}",
                         "{\"peft_type\": \"SDCTFT\", \"delta\": 2}",
                         "{\"peft_type\": \"SDCTFT\", \"n_coef\": 0}",
                         "{\"peft_type\": \"SDCTFT\", \"n_coef\": \"many\"}",
                         "{\"peft_type\": \"SDCTFT\", \"seed\": -1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = cJSON_Parse(bad[i]);
        cr_expect_eq(prism_adapter_config_from_json(o, &c, err, sizeof err), PRISM_ERR_FORMAT, "%s", bad[i]);
        cJSON_Delete(o);
    }
}

/* The generic adapter rows (tools/check/adapter.c: device vs reference, FD,
 * merged layer) for this method; this binary links the method, so none may
 * be skipped. */
Test(sdctft, generic_adapter_rows) {
    const pc_case *cases;
    int n = pc_all_cases(&cases), ran = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(cases[i].op, "adapter_sdctft") != 0) continue;
        pc_result r;
        pc_run_case(&env, &cases[i], &r);
        ran++;
        cr_expect_eq(r.outcome, PC_PASS, "%s %s (%s): %s", cases[i].op, cases[i].shape, cases[i].kind,
                     r.outcome == PC_SKIP ? "skipped" : r.detail);
    }
    cr_expect_gt(ran, 0, "no generic rows for adapter_sdctft");
}
