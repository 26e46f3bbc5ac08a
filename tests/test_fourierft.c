/* FourierFT adapter (adapters/spectral.c), HF PEFT semantics: entries =
 * first n_frequency of torch's randperm(m n) (seed random_loc_seed),
 * ΔW = scaling Re(ifft2(F)) with the 1/(mn); forward == the dense formula,
 * finite differences on the reference (token and dense paths), device vs
 * reference, merge == forward, files in HF's layout (written by hand as HF
 * writes them, loaded; saved by prism, read back), unsupported HF options. */
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
TestSuite(fourierft, .init = setup, .fini = teardown, .timeout = 300);

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

static prism_adapter *make(lay *L, int n_freq, float scaling) {
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_FOURIERFT);
    c.n_frequency = n_freq;
    c.fourier_scaling = scaling;
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

static double nmse(const double *a, const double *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
    return den > 0 ? num / den : num;
}

/* HF: ΔW[p,q] = scaling/(mn) Σ c cos(2π(j p/m + k q/n)), entries from randperm */
static double *host_dw(const lay *L, prism_adapter *ad, double scaling) {
    int64_t cnt, m = L->m, n = L->n;
    cr_assert_eq(prism_spectral_adapter_entries(ad, &cnt, NULL), PRISM_OK);
    int64_t *flat = malloc(sizeof(int64_t) * (size_t)cnt);
    cr_assert_eq(prism_spectral_adapter_entries(ad, &cnt, flat), PRISM_OK);
    const prism_param *p;
    prism_adapter_params(ad, &p);
    double *c = get(p[0].value), *dw = calloc((size_t)(m * n), sizeof(double));
    for (int64_t l = 0; l < cnt; l++) {
        int64_t j = flat[l] / n, k = flat[l] % n;
        for (int64_t a = 0; a < m; a++)
            for (int64_t q = 0; q < n; q++)
                dw[a * n + q] += scaling / (double)(m * n) * c[l] *
                                 cos(2.0 * M_PI * ((double)((j * a) % m) / (double)m + (double)((k * q) % n) / (double)n));
    }
    free(flat);
    free(c);
    return dw;
}

static double *host_forward(const lay *L, const double *dw) {
    double *y = malloc(sizeof(double) * (size_t)(L->T * L->m));
    for (int64_t t = 0; t < L->T; t++)
        for (int64_t a = 0; a < L->m; a++) {
            double acc = L->b ? L->hb[a] : 0;
            for (int64_t q = 0; q < L->n; q++) acc += L->hx[t * L->n + q] * (L->hw[a * L->n + q] + dw[a * L->n + q]);
            y[t * L->m + a] = acc;
        }
    return y;
}

Test(fourierft, entries_are_torch_randperm) {
    lay L;
    lay_make(&L, env.dev, 24, 32, 2, 11);
    prism_adapter *ad = make(&L, 100, 150.0f);
    int64_t cnt, flat[100], want[100];
    cr_assert_eq(prism_spectral_adapter_entries(ad, &cnt, flat), PRISM_OK);
    cr_assert_eq(cnt, 100);
    cr_assert_eq(prism_randperm_torch(24 * 32, 777, 100, want), PRISM_OK);
    for (int i = 0; i < 100; i++) cr_expect_eq(flat[i], want[i], "entry %d (HF order)", i);
    const prism_param *p;
    cr_assert_eq(prism_adapter_params(ad, &p), 1);
    cr_expect_str_eq(p[0].name, "fourierft_spectrum");
    cr_expect(p[0].trainable);
    cr_expect_eq(prism_adapter_trainable_count(ad), 100);
    cr_expect_eq(prism_sdctft_selection_info(ad, &(prism_select_info){0}), PRISM_ERR_INVALID_ARGUMENT);
    prism_adapter_destroy(ad);
    lay_free(&L);
}

static void check_formula(const char *path, int64_t m, int64_t n, int64_t T, int nf) {
    setenv("PRISM_SPECTRAL_PATH", path, 1);
    lay L;
    lay_make(&L, env.ref, m, n, T, 21);
    prism_adapter *ad = make(&L, nf, 150.0f);
    set_coef(ad, 5, 1.0f);
    run_fb(&L, ad);
    double *dw = host_dw(&L, ad, 150.0), *Y = get(L.Y), *Wm = get(L.Wm), *want = host_forward(&L, dw);
    for (int64_t i = 0; i < m * n; i++) dw[i] += L.hw[i];
    cr_expect_leq(nmse(Y, want, T * m), 1e-24, "%s [%lld, %lld] forward: %g", path, (long long)m, (long long)n,
                  nmse(Y, want, T * m));
    cr_expect_leq(nmse(Wm, dw, m * n), 1e-24, "%s merge: %g", path, nmse(Wm, dw, m * n));
    free(dw), free(Y), free(Wm), free(want);
    prism_adapter_destroy(ad);
    lay_free(&L);
}

Test(fourierft, forward_and_merge_equal_hf_formula) {
    check_formula("token", 12, 9, 5, 40);
    check_formula("token", 8, 10, 3, 80);   /* every entry */
    check_formula("dense", 12, 9, 5, 40);
    check_formula("dense", 7, 16, 2, 20);
}

static void check_fd(const char *path, int64_t m, int64_t n, int64_t T) {
    setenv("PRISM_SPECTRAL_PATH", path, 1);
    lay L;
    lay_make(&L, env.ref, m, n, T, 31);
    prism_adapter *ad = make(&L, (int)(m * n / 3), 150.0f);
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
#define LOSS(out)                                                                  \
    do {                                                                           \
        cr_assert_eq(prism_stream_run(s), PRISM_OK);                               \
        double *y_ = get(L.Y);                                                     \
        out = 0;                                                                   \
        for (int64_t i_ = 0; i_ < T * m; i_++) out += y_[i_] * (double)L.hdy[i_]; \
        free(y_);                                                                  \
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

Test(fourierft, finite_differences_token_path) {
    check_fd("token", 7, 5, 3);
    check_fd("token", 8, 12, 2);
    check_fd("token", 1, 6, 2);
}
Test(fourierft, finite_differences_dense_path) { check_fd("dense", 7, 6, 3); }

static void check_device(const char *path, int64_t m, int64_t n, int64_t T, int nf) {
    setenv("PRISM_SPECTRAL_PATH", path, 1);
    lay R, D;
    lay_make(&R, env.ref, m, n, T, 41);
    lay_make(&D, env.dev, m, n, T, 41);
    prism_adapter *ar = make(&R, nf, 150.0f), *ad = make(&D, nf, 150.0f);
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

Test(fourierft, device_matches_reference) {
    check_device("token", 48, 40, 17, 300);
    check_device("dense", 48, 40, 17, 300);
    check_device("token", 97, 64, 5, 1000); /* 97: the transforms' matrix path */
    check_device("dense", 33, 30, 4, 200);
}

Test(fourierft, device_matches_reference_m1) { check_device("token", 1, 6, 1, 2); }

Test(fourierft, merge_equals_forward_on_device) {
    lay D;
    lay_make(&D, env.dev, 32, 24, 6, 51);
    prism_adapter *ad = make(&D, 100, 150.0f);
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

Test(fourierft, init_and_config_errors) {
    lay L;
    lay_make(&L, env.ref, 40, 30, 2, 61);
    prism_adapter *ad = make(&L, 1000, 150.0f);
    const prism_param *p;
    prism_adapter_params(ad, &p);
    double *f = get(p[0].value), mean = 0, var = 0;
    for (int i = 0; i < 1000; i++) mean += f[i] / 1000;
    for (int i = 0; i < 1000; i++) var += (f[i] - mean) * (f[i] - mean) / 1000;
    cr_expect(fabs(mean) < 0.15 && fabs(var - 1) < 0.2, "N(0,1) init: mean %g var %g", mean, var);
    free(f);
    prism_adapter_destroy(ad);
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_FOURIERFT);
    c.init_zero = 1;
    cr_assert_eq(prism_adapter_create(env.ref, &c, L.W0, L.b, &ad), PRISM_OK);
    prism_adapter_params(ad, &p);
    f = get(p[0].value);
    for (int i = 0; i < 1000; i++) cr_expect_eq(f[i], 0.0);
    free(f);
    prism_adapter_destroy(ad);
    ad = NULL;
    c.n_frequency = 40 * 30 + 1;
    cr_expect_eq(prism_adapter_create(env.ref, &c, L.W0, L.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(prism_error_message(env.ref), "n_frequency"), "%s", prism_error_message(env.ref));
    c.n_frequency = 0;
    cr_expect_eq(prism_adapter_create(env.ref, &c, L.W0, L.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    c.n_frequency = 10;
    c.fourier_scaling = NAN;
    cr_expect_eq(prism_adapter_create(env.ref, &c, L.W0, L.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect(ad == NULL);
    lay_free(&L);
}

/* ------------------------------------------------------------------ files */

/* A file as HF PEFT writes it (get_peft_model_state_dict + save_pretrained):
 * one F32 tensor per module, the FourierFTConfig dump. */
Test(fourierft, loads_an_hf_file) {
    char tmpl[] = "/tmp/prism-fourierft-XXXXXX", path[512], err[256], key[256];
    cr_assert_not_null(mkdtemp(tmpl));
    const char *mod = "model.layers.3.self_attn.v_proj";
    const int64_t nf = 50;
    float spec[50];
    pc_random(77, spec, nf, -2, 2);
    prism_st_writer *w;
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    snprintf(key, sizeof key, "base_model.model.%s.fourierft_spectrum", mod);
    cr_assert_eq(prism_st_writer_add_f32(w, key, 1, &nf, spec, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_set_meta(w, "format", "pt", err, sizeof err), PRISM_OK);
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", tmpl);
    cr_assert_eq(prism_st_writer_write(w, path, err, sizeof err), PRISM_OK, "%s", err);
    prism_st_writer_destroy(w);
    const char *json =
        "{\"auto_mapping\": null, \"base_model_name_or_path\": \"meta-llama/Llama-2-7b-hf\", \"bias\": \"none\", "
        "\"exclude_modules\": null, \"fan_in_fan_out\": false, \"inference_mode\": true, \"init_weights\": false, "
        "\"layers_pattern\": null, \"layers_to_transform\": null, \"modules_to_save\": null, "
        "\"n_frequency\": 50, \"n_frequency_pattern\": {}, \"peft_type\": \"FOURIERFT\", \"random_loc_seed\": 2024, "
        "\"revision\": null, \"scaling\": 300.0, \"target_modules\": [\"v_proj\", \"q_proj\"], \"task_type\": \"CAUSAL_LM\"}";
    snprintf(path, sizeof path, "%s/adapter_config.json", tmpl);
    cr_assert_eq(prism_write_atomic(path, json, strlen(json), err, sizeof err), PRISM_OK);

    lay R;
    lay_make(&R, env.ref, 20, 16, 3, 91);
    prism_adapter *ad = NULL;
    cr_assert_eq(prism_adapter_load(env.ref, tmpl, mod, R.W0, R.b, &ad), PRISM_OK, "%s", prism_error_message(env.ref));
    const prism_adapter_config *c = prism_adapter_get_config(ad);
    cr_expect(c->n_frequency == 50 && c->fourier_scaling == 300.0f && c->random_loc_seed == 2024);
    int64_t cnt, flat[50], want[50];
    cr_assert_eq(prism_spectral_adapter_entries(ad, &cnt, flat), PRISM_OK);
    cr_assert_eq(prism_randperm_torch(20 * 16, 2024, 50, want), PRISM_OK);
    for (int i = 0; i < 50; i++) cr_expect_eq(flat[i], want[i]);
    const prism_param *p;
    prism_adapter_params(ad, &p);
    double *got = get(p[0].value);
    for (int i = 0; i < 50; i++) cr_expect_eq(got[i], (double)spec[i]);
    run_fb(&R, ad);
    double *dw = host_dw(&R, ad, 300.0), *Y = get(R.Y), *wy = host_forward(&R, dw);
    cr_expect_leq(nmse(Y, wy, 3 * 20), 1e-24);

    /* prism writes it back in the same layout */
    char dir2[600];
    snprintf(dir2, sizeof dir2, "%s/out", tmpl);
    cr_assert_eq(prism_adapter_save(ad, dir2, mod), PRISM_OK, "%s", prism_error_message(env.ref));
    prism_st_file *f;
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir2);
    cr_assert_eq(prism_st_open(path, 0, &f, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(prism_st_count(f), 1);
    const prism_st_tensor *t = prism_st_find(f, key);
    cr_assert_not_null(t, "key %s", key);
    cr_expect(t->dtype == PRISM_DTYPE_F32 && t->ndim == 1 && t->shape[0] == 50);
    float back[50];
    cr_assert_eq(prism_st_read_f32(f, key, back, 50, err, sizeof err), PRISM_OK);
    cr_expect_eq(memcmp(back, spec, sizeof back), 0);
    prism_st_close(f);
    cJSON *cfg;
    snprintf(path, sizeof path, "%s/adapter_config.json", dir2);
    cr_assert_eq(prism_json_read(path, 0, &cfg, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_str_eq(cJSON_GetObjectItem(cfg, "peft_type")->valuestring, "FOURIERFT");
    cr_expect_eq(cJSON_GetObjectItem(cfg, "n_frequency")->valuedouble, 50);
    cr_expect_eq(cJSON_GetObjectItem(cfg, "scaling")->valuedouble, 300);
    cr_expect_eq(cJSON_GetObjectItem(cfg, "random_loc_seed")->valuedouble, 2024);
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(cfg, "init_weights")));
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(cfg, "fan_in_fan_out")));
    cr_expect_str_eq(cJSON_GetObjectItem(cfg, "bias")->valuestring, "none");
    cr_expect(cJSON_IsObject(cJSON_GetObjectItem(cfg, "n_frequency_pattern")));
    cJSON_Delete(cfg);
    /* and loads again on the device with the same outputs (to fp32) */
    lay D;
    lay_make(&D, env.dev, 20, 16, 3, 91);
    prism_adapter *dd = NULL;
    cr_assert_eq(prism_adapter_load(env.dev, dir2, mod, D.W0, D.b, &dd), PRISM_OK, "%s", prism_error_message(env.dev));
    run_fb(&D, dd);
    double *yd = get(D.Y);
    cr_expect_leq(nmse(yd, wy, 3 * 20), 1e-10);
    free(yd), free(got), free(dw), free(Y), free(wy);
    prism_adapter_destroy(dd);
    prism_adapter_destroy(ad);
    lay_free(&D);
    lay_free(&R);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
    cr_expect_eq(system(cmd), 0);
}

Test(fourierft, hf_config_options) {
    char err[256];
    prism_adapter_config c;
    cJSON *o = cJSON_Parse("{\"peft_type\": \"FOURIERFT\", \"n_frequency\": 3000, \"scaling\": 300, "
                           "\"random_loc_seed\": 1, \"init_weights\": true, \"alpha\": null, \"ifft2_norm\": \"backward\"}");
    cr_assert_eq(prism_adapter_config_from_json(o, &c, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect(c.n_frequency == 3000 && c.fourier_scaling == 300.0f && c.random_loc_seed == 1 && c.init_zero == 1);
    cJSON_Delete(o);
    o = cJSON_Parse("{\"peft_type\": \"FOURIERFT\"}");
    cr_assert_eq(prism_adapter_config_from_json(o, &c, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect(c.n_frequency == 1000 && c.fourier_scaling == 150.0f && c.random_loc_seed == 777 && c.init_zero == 0,
              "HF defaults");
    cJSON_Delete(o);
    const char *unsup[] = {"{\"peft_type\": \"FOURIERFT\", \"fan_in_fan_out\": true}",
                           "{\"peft_type\": \"FOURIERFT\", \"bias\": \"all\"}",
                           "{\"peft_type\": \"FOURIERFT\", \"n_frequency_pattern\": {\"q\": 10}}",
                           "{\"peft_type\": \"FOURIERFT\", \"alpha\": 0.001}",
                           "{\"peft_type\": \"FOURIERFT\", \"ifft2_norm\": \"ortho\"}"};
    for (size_t i = 0; i < sizeof unsup / sizeof unsup[0]; i++) {
        o = cJSON_Parse(unsup[i]);
        cr_expect_eq(prism_adapter_config_from_json(o, &c, err, sizeof err), PRISM_ERR_UNSUPPORTED, "%s", unsup[i]);
        cJSON_Delete(o);
    }
    const char *bad[] = {"{\"peft_type\": \"FOURIERFT\", \"n_frequency\": 0}",
                         "{\"peft_type\": \"FOURIERFT\", \"random_loc_seed\": -5}",
                         "{\"peft_type\": \"FOURIERFT\", \"scaling\": \"big\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = cJSON_Parse(bad[i]);
        cr_expect_eq(prism_adapter_config_from_json(o, &c, err, sizeof err), PRISM_ERR_FORMAT, "%s", bad[i]);
        cJSON_Delete(o);
    }
}

/* The generic adapter rows (tools/check/adapter.c: device vs reference, FD,
 * merged layer) for this method; this binary links the method, so none may
 * be skipped. */
Test(fourierft, generic_adapter_rows) {
    const pc_case *cases;
    int n = pc_all_cases(&cases), ran = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(cases[i].op, "adapter_fourierft") != 0) continue;
        pc_result r;
        pc_run_case(&env, &cases[i], &r);
        ran++;
        cr_expect_eq(r.outcome, PC_PASS, "%s %s (%s): %s", cases[i].op, cases[i].shape, cases[i].kind,
                     r.outcome == PC_SKIP ? "skipped" : r.detail);
    }
    cr_expect_gt(ran, 0, "no generic rows for adapter_fourierft");
}
