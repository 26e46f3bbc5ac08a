/* sDCTFT on a layer with more than 2^24 entries (m n > 2^24: flat indices
 * no fp32 holds exactly). The adapter keeps sdctft_index as exact int64 on
 * the host (adapters/adapter.c, prism_adapter_set_index) and its spectral
 * index as (row, col) pairs, each < 2^24, so such layers work: create selects
 * on the device, a file's index beyond 2^24 loads and saves back exactly, and
 * forward / backward on a few tokens (token path: no m x n buffer besides W0)
 * equal a float64 host evaluation of the formula at those entries.
 *
 * Shape 4096 x 4116 (2^2 3 7^3: only short radices, so the selection's 2-D
 * DCT stays fast on lavapipe) has 16 859 136 > 2^24 = 16 777 216 entries. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
#include "prism/adapter.h"
#include "prism/spectral.h"

enum { M = 4096, N = 4116, T = 2, K = 6 };
#define BIG ((int64_t)1 << 24)
static const char *PREFIX = "base_model.model.layers.0.mlp.up_proj";

static pc_env env;
static void setup(void) {
    setenv("PRISM_SPECTRAL_PATH", "token", 1); /* the dense path would build an m x n dW */
    t_env(&env);
}
static void teardown(void) {
    unsetenv("PRISM_SPECTRAL_PATH");
    t_env_destroy(&env);
}
TestSuite(spectral_big, .init = setup, .fini = teardown, .timeout = 300);

/* Orthonormal DCT-II basis: C_L[k, i]. */
static double basis(int64_t L, int64_t k, int64_t i) {
    double s = k ? sqrt(2.0 / (double)L) : sqrt(1.0 / (double)L);
    return s * cos(M_PI * (double)((2 * i + 1) * k) / (2.0 * (double)L));
}

static double nmse(const double *a, const double *b, int64_t n) {
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; i++) e += (a[i] - b[i]) * (a[i] - b[i]), s += b[i] * b[i];
    return e / (s > 0 ? s : 1);
}

static double *get(prism_tensor *t) {
    int64_t n = prism_tensor_numel(t);
    double *h = malloc(sizeof(double) * (size_t)n);
    cr_assert_not_null(h);
    cr_assert_eq(prism_tensor_download_f64(t, h, n), PRISM_OK);
    return h;
}

/* prism_st_parse borrows the bytes: the image open at a time (the test opens
 * them one after another) is kept here until close_image. */
static void *g_image;

static void close_image(prism_st_file *f) {
    prism_st_close(f);
    free(g_image);
    g_image = NULL;
}

/* The adapter's saved tensors through an in-memory safetensors image. */
static prism_st_file *saved(prism_adapter *ad) {
    prism_st_writer *w = NULL;
    prism_st_file *f = NULL;
    void *data = NULL;
    size_t n = 0;
    char err[256] = "";
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    cr_assert_eq(prism_adapter_save_tensors(ad, PREFIX, w), PRISM_OK, "%s", prism_error_message(env.dev));
    cr_assert_eq(prism_st_writer_serialize(w, &data, &n, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(prism_st_parse(data, n, "memory", &f, err, sizeof err), PRISM_OK, "%s", err);
    prism_st_writer_destroy(w);
    g_image = data;
    return f;
}

/* A file image holding coef and index (K entries). */
static prism_st_file *image(const float *coef, const int64_t *index) {
    prism_st_writer *w = NULL;
    prism_st_file *f = NULL;
    void *data = NULL;
    size_t n = 0;
    int64_t k = K;
    char key[256], err[256] = "";
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    snprintf(key, sizeof key, "%s.sdctft_coef", PREFIX);
    cr_assert_eq(prism_st_writer_add_f32(w, key, 1, &k, coef, err, sizeof err), PRISM_OK, "%s", err);
    snprintf(key, sizeof key, "%s.sdctft_index", PREFIX);
    cr_assert_eq(prism_st_writer_add_i64(w, key, 1, &k, index, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(prism_st_writer_serialize(w, &data, &n, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(prism_st_parse(data, n, "memory", &f, err, sizeof err), PRISM_OK, "%s", err);
    prism_st_writer_destroy(w);
    g_image = data;
    return f;
}

Test(spectral_big, sdctft_beyond_2p24_entries) {
    const int64_t mn = (int64_t)M * N, m = M, xs[2] = {T, N}, ys[2] = {T, M}, ws[2] = {M, N};
    cr_assert_gt(mn, BIG);
    prism_context *ctx = env.dev;
    float *hw = malloc(sizeof(float) * (size_t)mn), hb[M], hx[T * N], hdy[T * M];
    cr_assert_not_null(hw);
    pc_random(41, hw, mn, -0.5f, 0.5f);
    pc_random(42, hb, M, -0.5f, 0.5f);
    pc_random(43, hx, T * N, -1.0f, 1.0f);
    pc_random(44, hdy, T * M, -1.0f, 1.0f);
    pc_result r = {0};
    prism_tensor *W0 = pc_tensor(&r, ctx, 2, ws, hw), *b = pc_tensor(&r, ctx, 1, &m, hb),
                 *X = pc_tensor(&r, ctx, 2, xs, hx), *dY = pc_tensor(&r, ctx, 2, ys, hdy),
                 *Y = pc_tensor(&r, ctx, 2, ys, NULL), *dX = pc_tensor(&r, ctx, 2, xs, NULL);
    cr_assert_eq(r.outcome, PC_PASS, "%s", r.detail);

    /* create: the selection runs on the whole spectrum (it used to be refused) */
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_SDCTFT);
    c.n_coef = K;
    c.dct_norm = PRISM_DCT_NORM_ORTHO;
    c.sdctft_alpha = 30.0f;
    prism_adapter *ad = NULL;
    cr_assert_eq(prism_adapter_create(ctx, &c, W0, b, &ad), PRISM_OK, "%s", prism_error_message(ctx));
    int64_t cnt = 0, got[K];
    cr_assert_eq(prism_spectral_adapter_entries(ad, &cnt, got), PRISM_OK);
    cr_assert_eq(cnt, K);
    for (int64_t l = 0; l < cnt; l++) cr_expect(got[l] >= 0 && got[l] < mn && (!l || got[l] > got[l - 1]));

    /* a file's index beyond 2^24 (none of these is an fp32 integer) */
    int64_t want[K] = {5, 4099, BIG + 1, BIG + 4117, mn - 4115, mn - 1};
    float coef[K];
    pc_random(45, coef, K, -1.0f, 1.0f);
    prism_st_file *f = image(coef, want);
    cr_assert_eq(prism_adapter_load_tensors(ad, PREFIX, f), PRISM_OK, "%s", prism_error_message(ctx));
    close_image(f);
    cr_assert_eq(prism_spectral_adapter_entries(ad, &cnt, got), PRISM_OK);
    cr_assert_eq(cnt, K);
    for (int l = 0; l < K; l++) cr_expect_eq(got[l], want[l], "entry %d", l);

    /* saved back exactly, as HF PEFT's int64 */
    f = saved(ad);
    char key[256], err[256] = "";
    snprintf(key, sizeof key, "%s.sdctft_index", PREFIX);
    const prism_st_tensor *ti = prism_st_find(f, key);
    cr_assert(ti && ti->dtype == PRISM_DTYPE_I64 && ti->ndim == 1 && ti->shape[0] == K);
    cr_assert_eq(prism_st_read_i64(f, key, got, K, err, sizeof err), PRISM_OK, "%s", err);
    for (int l = 0; l < K; l++) cr_expect_eq(got[l], want[l], "saved entry %d", l);
    close_image(f);

    /* forward and backward vs float64 on the host at those entries */
    prism_stream *s = NULL;
    cr_assert_eq(prism_stream_create(ctx, &s), PRISM_OK);
    cr_assert_eq(prism_adapter_zero_grad(s, ad), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s, ad, X, Y), PRISM_OK, "%s", prism_error_message(ctx));
    cr_assert_eq(prism_adapter_backward(s, ad, X, dY, dX), PRISM_OK, "%s", prism_error_message(ctx));
    cr_assert_eq(prism_stream_run(s), PRISM_OK, "%s", prism_error_message(ctx));
    const prism_param *p;
    cr_assert_eq(prism_adapter_params(ad, &p), 2);
    double *y = get(Y), *dx = get(dX), *df = get(p[0].grad);
    double ry[T * M], rdx[T * N], rdf[K], xh[T][K], gh[T][K];
    const double alpha = c.sdctft_alpha;
    for (int t = 0; t < T; t++)
        for (int l = 0; l < K; l++) { /* row transforms at the entries: X^[t, c_l], G^[t, r_l] */
            int64_t rl = want[l] / N, cl = want[l] % N;
            double a = 0, g = 0;
            for (int64_t j = 0; j < N; j++) a += basis(N, cl, j) * hx[t * N + j];
            for (int64_t i = 0; i < M; i++) g += basis(M, rl, i) * hdy[t * M + i];
            xh[t][l] = a, gh[t][l] = g;
        }
    for (int t = 0; t < T; t++) {
        for (int64_t i = 0; i < M; i++) {
            double acc = hb[i];
            for (int64_t j = 0; j < N; j++) acc += (double)hw[i * N + j] * hx[t * N + j];
            for (int l = 0; l < K; l++) acc += alpha * coef[l] * basis(M, want[l] / N, i) * xh[t][l];
            ry[t * M + i] = acc;
        }
        for (int64_t j = 0; j < N; j++) {
            double acc = 0;
            for (int64_t i = 0; i < M; i++) acc += (double)hdy[t * M + i] * hw[i * N + j];
            for (int l = 0; l < K; l++) acc += alpha * coef[l] * basis(N, want[l] % N, j) * gh[t][l];
            rdx[t * N + j] = acc;
        }
    }
    for (int l = 0; l < K; l++) rdf[l] = alpha * (gh[0][l] * xh[0][l] + gh[1][l] * xh[1][l]);
    cr_expect_leq(nmse(y, ry, T * M), 1e-10, "Y");
    cr_expect_leq(nmse(dx, rdx, T * N), 1e-10, "dX");
    cr_expect_leq(nmse(df, rdf, K), 1e-9, "d sdctft_coef");
    /* the adapter's own term matters: without it Y is far off */
    for (int t = 0; t < T; t++)
        for (int64_t i = 0; i < M; i++)
            for (int l = 0; l < K; l++) ry[t * M + i] -= alpha * coef[l] * basis(M, want[l] / N, i) * xh[t][l];
    cr_expect_gt(nmse(y, ry, T * M), 1e-6, "dW term missing from Y");

    /* out of range / not ascending indices are refused, the adapter unchanged */
    int64_t bad[K] = {5, 4099, BIG + 1, BIG + 4117, mn - 4115, mn};
    f = image(coef, bad);
    cr_expect_eq(prism_adapter_load_tensors(ad, PREFIX, f), PRISM_ERR_FORMAT);
    cr_expect(strstr(prism_error_message(ctx), "sdctft_index[5]"), "%s", prism_error_message(ctx));
    close_image(f);
    bad[5] = BIG + 4117;
    f = image(coef, bad);
    cr_expect_eq(prism_adapter_load_tensors(ad, PREFIX, f), PRISM_ERR_FORMAT);
    close_image(f);
    cr_assert_eq(prism_spectral_adapter_entries(ad, &cnt, got), PRISM_OK);
    for (int l = 0; l < K; l++) cr_expect_eq(got[l], want[l], "entry %d after a refused load", l);

    free(y), free(dx), free(df), free(hw);
    prism_stream_destroy(s);
    prism_adapter_destroy(ad);
    prism_tensor *all[] = {W0, b, X, dY, Y, dX};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_destroy(all[i]);
}
