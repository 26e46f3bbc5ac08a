/* spectral ops: every check case (device vs reference, FD on the reference). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
#include "prism/spectral.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(spectral, .init = setup, .fini = teardown, .timeout = 300);

Test(spectral, scatter_cases) { t_run_cases(&env, "spectral_scatter"); }
Test(spectral, gather_cases) { t_run_cases(&env, "spectral_gather"); }
Test(spectral, coef_grad_cases) { t_run_cases(&env, "spectral_coef_grad"); }

/* ---- the composition equals METHODS.md's dense ΔW (reference backend) */

typedef struct ref_run {
    prism_spectral_index *ix;
    prism_tensor *f, *x, *z;
} ref_run;

/* z = gather(f, xh) on the reference; returns host doubles of z (malloc'd). */
static double *ref_gather(int64_t M, int64_t N, int64_t n, const int64_t *rc, const double *w, const double *f,
                          double alpha, prism_spectral_domain dom, int64_t T, const double *xh) {
    bool fo = dom == PRISM_SPECTRAL_FOURIER;
    int64_t hx = fo ? (N / 2 + 1) * 2 : N, hz = fo ? (M / 2 + 1) * 2 : M;
    prism_spectral_index *ix;
    cr_assert_eq(prism_spectral_index_create(env.ref, M, N, n, rc, w, &ix), PRISM_OK, "%s",
                 prism_error_message(env.ref));
    int64_t xs[2] = {T, hx}, zs[2] = {T, hz};
    prism_tensor *tf, *tx, *tz;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.ref, 1, &n, &tf), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.ref, 2, xs, &tx), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.ref, 2, zs, &tz), PRISM_OK);
    cr_assert_eq(prism_tensor_upload_f64(tf, f, n), PRISM_OK);
    cr_assert_eq(prism_tensor_upload_f64(tx, xh, T * hx), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.ref, &s), PRISM_OK);
    cr_assert_eq(prism_spectral_gather(s, ix, dom, 0, tf, (float)alpha, tx, 0.0f, tz), PRISM_OK, "%s",
                 prism_error_message(env.ref));
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    double *z = malloc(sizeof(double) * (size_t)(T * hz));
    cr_assert_eq(prism_tensor_download_f64(tz, z, T * hz), PRISM_OK);
    prism_stream_destroy(s);
    prism_tensor_destroy(tf);
    prism_tensor_destroy(tx);
    prism_tensor_destroy(tz);
    prism_spectral_index_destroy(ix);
    return z;
}

static double ortho_c(int64_t L, int64_t k, int64_t i) {
    return (k == 0 ? sqrt(1.0 / (double)L) : sqrt(2.0 / (double)L)) * cos(M_PI * (double)k * (2.0 * (double)i + 1.0) / (2.0 * (double)L));
}

/* sDCTFT, dct_norm none: rowIDCT(gather(rowDCT(X))) == X ΔWᵀ with the authors'
 * ΔW = (α/(MN)) Σ w_u w_v f cos cos (w_0 = 1/2), i.e. the g_u g_v weights. */
Test(spectral, dct_composition_equals_torch_dct_none_delta_w) {
    enum { M = 6, N = 9, T = 4, NC = 11 };
    const double alpha = 300.0;
    int64_t idx[NC], rc[2 * NC];
    double w[NC], f[NC], x[T * N], xh[T * N];
    float tmp[NC + T * N];
    cr_assert_eq(prism_randperm_torch(M * N, 5, NC, idx), PRISM_OK);
    pc_random(8, tmp, NC + T * N, -1, 1);
    for (int l = 0; l < NC; l++) {
        rc[2 * l] = idx[l] / N, rc[2 * l + 1] = idx[l] % N;
        w[l] = prism_dct_none_weight(M, rc[2 * l]) * prism_dct_none_weight(N, rc[2 * l + 1]);
        f[l] = tmp[l];
    }
    for (int i = 0; i < T * N; i++) x[i] = tmp[NC + i];
    for (int t = 0; t < T; t++)
        for (int k = 0; k < N; k++) {
            xh[t * N + k] = 0;
            for (int i = 0; i < N; i++) xh[t * N + k] += ortho_c(N, k, i) * x[t * N + i];
        }
    double *z = ref_gather(M, N, NC, rc, w, f, alpha, PRISM_SPECTRAL_DCT, T, xh);
    double dW[M * N];
    for (int p = 0; p < M; p++)
        for (int q = 0; q < N; q++) {
            double acc = 0;
            for (int l = 0; l < NC; l++) {
                int64_t u = rc[2 * l], v = rc[2 * l + 1];
                acc += (u ? 1.0 : 0.5) * (v ? 1.0 : 0.5) * f[l] * cos(M_PI * u * (2 * p + 1) / (2.0 * M)) *
                       cos(M_PI * v * (2 * q + 1) / (2.0 * N));
            }
            dW[p * N + q] = alpha / (M * N) * acc;
        }
    for (int t = 0; t < T; t++)
        for (int p = 0; p < M; p++) {
            double y = 0, want = 0;
            for (int u = 0; u < M; u++) y += ortho_c(M, u, p) * z[t * M + u];
            for (int q = 0; q < N; q++) want += x[t * N + q] * dW[p * N + q];
            cr_expect(fabs(y - want) <= 1e-11 * (1 + fabs(want)), "t %d p %d: %.15g vs %.15g", t, p, y, want);
        }
    free(z);
}

/* FourierFT: c2r(gather(rfft(x))) == x ΔWᵀ with HF's
 * ΔW[p,q] = scaling/(mn) Σ c cos(2π(j p/m + k q/n)) (METHODS.md §2.1). */
Test(spectral, fourier_composition_equals_hf_delta_w) {
    for (int shape = 0; shape < 2; shape++) {
        const int M = shape ? 7 : 8, N = shape ? 10 : 9, T = 3, NC = 13;
        const double alpha = (float)(150.0 / (M * N)); /* the op takes a float alpha */
        int64_t idx[13], rc[26];
        double f[13], x[3 * 10], xh[3 * 12];
        float tmp[13 + 30];
        cr_assert_eq(prism_randperm_torch(M * N, 777, NC, idx), PRISM_OK);
        pc_random(9 + shape, tmp, NC + T * N, -1, 1);
        for (int l = 0; l < NC; l++) rc[2 * l] = idx[l] / N, rc[2 * l + 1] = idx[l] % N, f[l] = tmp[l];
        for (int i = 0; i < T * N; i++) x[i] = tmp[NC + i];
        int hx = N / 2 + 1, hz = M / 2 + 1;
        for (int t = 0; t < T; t++)
            for (int k = 0; k < hx; k++) {
                double re = 0, im = 0;
                for (int q = 0; q < N; q++) {
                    re += x[t * N + q] * cos(2 * M_PI * k * q / N);
                    im -= x[t * N + q] * sin(2 * M_PI * k * q / N);
                }
                xh[(t * hx + k) * 2] = re, xh[(t * hx + k) * 2 + 1] = im;
            }
        double *z = ref_gather(M, N, NC, rc, NULL, f, alpha, PRISM_SPECTRAL_FOURIER, T, xh);
        for (int t = 0; t < T; t++)
            for (int p = 0; p < M; p++) {
                double y = 0, want = 0;
                for (int j = 0; j < M; j++) { /* unnormalised inverse real DFT of the half spectrum */
                    int jj = j <= M / 2 ? j : M - j;
                    double re = z[(t * hz + jj) * 2], im = (j <= M / 2 ? 1 : -1) * z[(t * hz + jj) * 2 + 1];
                    y += re * cos(2 * M_PI * j * p / M) - im * sin(2 * M_PI * j * p / M);
                }
                for (int q = 0; q < N; q++) {
                    double dw = 0;
                    for (int l = 0; l < NC; l++)
                        dw += f[l] * cos(2 * M_PI * ((double)rc[2 * l] * p / M + (double)rc[2 * l + 1] * q / N));
                    want += x[t * N + q] * alpha * dw;
                }
                cr_expect(fabs(y - want) <= 1e-11 * (1 + fabs(want)), "[%d, %d] t %d p %d: %.15g vs %.15g", M, N,
                          t, p, y, want);
            }
        free(z);
    }
}

/* ---- bad input */

Test(spectral, index_create_statuses) {
    prism_spectral_index *ix = NULL;
    int64_t ok[4] = {0, 1, 2, 3}, dup[6] = {0, 1, 2, 3, 0, 1}, oob[2] = {3, 0}, neg[2] = {0, -1};
    double nanw[2] = {1.0, NAN};
    cr_expect_eq(prism_spectral_index_create(env.dev, 3, 4, 2, NULL, NULL, &ix), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_spectral_index_create(env.dev, 3, 4, 2, ok, NULL, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_spectral_index_create(env.dev, 0, 4, 2, ok, NULL, &ix), PRISM_ERR_DIMS);
    cr_expect_eq(prism_spectral_index_create(env.dev, 3, 4, 0, ok, NULL, &ix), PRISM_ERR_DIMS);
    cr_expect_eq(prism_spectral_index_create(env.dev, 3, 1 << 24, 2, ok, NULL, &ix), PRISM_ERR_DIMS);
    cr_expect_eq(prism_spectral_index_create(env.dev, 3, 4, 3, dup, NULL, &ix), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(prism_error_message(env.dev), "(0, 1) appears twice"), "%s", prism_error_message(env.dev));
    cr_expect_eq(prism_spectral_index_create(env.dev, 3, 4, 1, oob, NULL, &ix), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(prism_error_message(env.dev), "(3, 0)"), "%s", prism_error_message(env.dev));
    cr_expect_eq(prism_spectral_index_create(env.dev, 3, 4, 1, neg, NULL, &ix), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_spectral_index_create(env.dev, 3, 4, 2, ok, nanw, &ix), PRISM_ERR_NOT_FINITE);
    cr_expect(ix == NULL);
    cr_assert_eq(prism_spectral_index_create(env.dev, 3, 4, 2, ok, NULL, &ix), PRISM_OK);
    cr_expect_eq(prism_spectral_index_count(ix), 2);
    cr_expect_eq(prism_spectral_index_rows(ix), 3);
    cr_expect_eq(prism_spectral_index_cols(ix), 4);
    cr_expect_eq(prism_tensor_dim(prism_spectral_index_pairs(ix), 0), 2);
    prism_spectral_index_destroy(ix);
    prism_spectral_index_destroy(NULL);
}

Test(spectral, op_statuses) {
    int64_t rc[4] = {0, 1, 2, 3};
    prism_spectral_index *ix, *rix;
    cr_assert_eq(prism_spectral_index_create(env.dev, 3, 4, 2, rc, NULL, &ix), PRISM_OK);
    cr_assert_eq(prism_spectral_index_create(env.ref, 3, 4, 2, rc, NULL, &rix), PRISM_OK);
    int64_t n2 = 2, n3 = 3, s34[2] = {3, 4}, s43[2] = {4, 3}, x5[2] = {5, 4}, z5[2] = {5, 3}, z6[2] = {6, 3},
            h5[3] = {5, 3, 2}, h5flat[2] = {5, 6}, zh5[3] = {5, 2, 2}, zh5bad[3] = {5, 3, 2};
    prism_tensor *c2, *c3, *F, *F43, *X, *Z, *Z6, *XH, *XHF, *ZH, *ZHB, *rc2;
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n2, &c2), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n3, &c3), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, s34, &F), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, s43, &F43), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, x5, &X), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, z5, &Z), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, z6, &Z6), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 3, h5, &XH), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, h5flat, &XHF), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 3, zh5, &ZH), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 3, zh5bad, &ZHB), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.ref, 1, &n2, &rc2), PRISM_OK);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    const prism_spectral_domain D = PRISM_SPECTRAL_DCT, FO = PRISM_SPECTRAL_FOURIER;

    cr_expect_eq(prism_spectral_scatter(s, ix, c2, 1.0f, F43), PRISM_ERR_SHAPE);
    cr_expect(strstr(prism_error_message(env.dev), "[4, 3]"), "%s", prism_error_message(env.dev));
    cr_expect_eq(prism_spectral_scatter(s, ix, c3, 1.0f, F), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_spectral_scatter(s, ix, c2, INFINITY, F), PRISM_ERR_NOT_FINITE);
    cr_expect_eq(prism_spectral_scatter(s, NULL, c2, 1.0f, F), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_spectral_scatter(s, rix, c2, 1.0f, F), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_spectral_scatter(s, ix, rc2, 1.0f, F), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_spectral_scatter(NULL, ix, c2, 1.0f, F), PRISM_ERR_INVALID_ARGUMENT);

    cr_expect_eq(prism_spectral_gather(s, ix, D, 0, c2, 1.0f, X, 0.5f, Z), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_spectral_gather(s, ix, D, 0, c2, NAN, X, 0.0f, Z), PRISM_ERR_NOT_FINITE);
    cr_expect_eq(prism_spectral_gather(s, ix, D, 0, c2, 1.0f, X, 0.0f, Z6), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_spectral_gather(s, ix, D, 1, c2, 1.0f, X, 0.0f, Z), PRISM_ERR_SHAPE); /* transposed: X [T, 3] */
    cr_expect_eq(prism_spectral_gather(s, ix, (prism_spectral_domain)7, 0, c2, 1.0f, X, 0.0f, Z),
                 PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_spectral_gather(s, ix, FO, 0, c2, 1.0f, XH, 0.0f, ZHB), PRISM_ERR_SHAPE);
    cr_expect(strstr(prism_error_message(env.dev), "[5, 3, 2]"), "%s", prism_error_message(env.dev));
    cr_expect_eq(prism_spectral_gather(s, ix, D, 0, c2, 1.0f, X, 0.0f, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_spectral_coef_grad(s, ix, D, 1.0f, Z6, X, 0.0f, c2), PRISM_ERR_SHAPE); /* T 6 vs 5 */
    cr_expect_eq(prism_spectral_coef_grad(s, ix, D, 1.0f, Z, X, 0.0f, c3), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_spectral_coef_grad(s, ix, D, 1.0f, Z, X, 2.0f, c2), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_stream_op_count(s), 0, "failed calls record nothing");
    /* both half-spectrum layouts are accepted */
    cr_expect_eq(prism_spectral_gather(s, ix, FO, 0, c2, 1.0f, XH, 0.0f, ZH), PRISM_OK);
    cr_expect_eq(prism_spectral_gather(s, ix, FO, 0, c2, 1.0f, XHF, 1.0f, ZH), PRISM_OK);
    cr_expect_eq(prism_spectral_coef_grad(s, ix, FO, 1.0f, ZH, XHF, 0.0f, c2), PRISM_OK);

    prism_stream_destroy(s);
    prism_tensor_destroy(c2);
    prism_tensor_destroy(c3);
    prism_tensor_destroy(F);
    prism_tensor_destroy(F43);
    prism_tensor_destroy(X);
    prism_tensor_destroy(Z);
    prism_tensor_destroy(Z6);
    prism_tensor_destroy(XH);
    prism_tensor_destroy(XHF);
    prism_tensor_destroy(ZH);
    prism_tensor_destroy(ZHB);
    prism_tensor_destroy(rc2);
    prism_spectral_index_destroy(ix);
    prism_spectral_index_destroy(rix);
}
