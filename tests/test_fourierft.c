/* FourierFT adapter (adapters/spectral.c), HF PEFT semantics: entries =
 * first n_frequency of torch's randperm(m n) (seed random_loc_seed),
 * ΔW = scaling Re(ifft2(F)) with the 1/(mn); forward == the dense formula,
 * finite differences on the reference (token and dense paths), device vs
 * reference, merge == forward, files in HF's layout (written by hand as HF
 * writes them, loaded; saved by prism, read back), unsupported HF options. */
#include <sys/stat.h>
#include <unistd.h>
#include "spectral_fixture.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) {
    unsetenv("PRISM_SPECTRAL_PATH");
    t_env_destroy(&env);
}
TestSuite(fourierft, .init = setup, .fini = teardown, .timeout = 300);

/* the fixture's maker: scaling 150 (HF's default) */
static prism_adapter *make_ff(lay *L, int n_freq) {
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_FOURIERFT);
    c.n_frequency = n_freq;
    c.fourier_scaling = 150.0f;
    c.seed = 3;
    return fx_create(L->ctx, &c, L->W0, L->b);
}

/* HF: ΔW[p,q] = scaling/(mn) Σ c cos(2π(j p/m + k q/n)), entries from randperm */
static double fourier_basis(int64_t m, int64_t n, int64_t j, int64_t k, int64_t a, int64_t q, const void *scaling) {
    return *(const double *)scaling / (double)(m * n) *
           cos(2.0 * M_PI * ((double)((j * a) % m) / (double)m + (double)((k * q) % n) / (double)n));
}

static double *host_dw(const lay *L, prism_adapter *ad, double scaling) {
    return sp_host_dw(L, ad, fourier_basis, &scaling);
}

Test(fourierft, entries_are_torch_randperm) {
    lay L;
    lay_make(&L, env.dev, 24, 32, 2, 11);
    prism_adapter *ad = make_ff(&L, 100);
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
    prism_adapter *ad = make_ff(&L, nf);
    set_coef(ad, 5, 1.0f);
    run_fb(&L, ad);
    char what[96];
    snprintf(what, sizeof what, "%s [%lld, %lld]", path, (long long)m, (long long)n);
    sp_expect_dense(&L, host_dw(&L, ad, 150.0), what);
    prism_adapter_destroy(ad);
    lay_free(&L);
}

Test(fourierft, forward_and_merge_equal_hf_formula) {
    check_formula("token", 12, 9, 5, 40);
    check_formula("token", 8, 10, 3, 80);   /* every entry */
    check_formula("dense", 12, 9, 5, 40);
    check_formula("dense", 7, 16, 2, 20);
}

static const sp_case fd_token[] = {{"token", 7, 5, 3, 0}, {"token", 8, 12, 2, 0}, {"token", 1, 6, 2, 0}},
                     fd_dense[] = {{"dense", 7, 6, 3, 0}};
Test(fourierft, finite_differences_token_path) { sp_check_fd(&env, make_ff, fd_token, SP_COUNT(fd_token)); }
Test(fourierft, finite_differences_dense_path) { sp_check_fd(&env, make_ff, fd_dense, SP_COUNT(fd_dense)); }

/* 97: the transforms' matrix path */
static const sp_case on_device[] = {
    {"token", 48, 40, 17, 300}, {"dense", 48, 40, 17, 300}, {"token", 97, 64, 5, 1000}, {"dense", 33, 30, 4, 200}};
Test(fourierft, device_matches_reference) { sp_check_device(&env, make_ff, on_device, SP_COUNT(on_device)); }

SP_SHARED_TESTS(fourierft, make_ff)

Test(fourierft, init_and_config_errors) {
    lay L;
    lay_make(&L, env.ref, 40, 30, 2, 61);
    sp_expect_init(&L, make_ff(&L, 1000), PRISM_METHOD_FOURIERFT, 1000);
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_FOURIERFT);
    prism_adapter *ad = NULL;
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
    char *tmpl = fx_tmpdir("fourierft"), path[512], err[256], key[256];
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
    prism_st_file *f = fx_open_tensors(dir2);
    cr_expect_eq(prism_st_count(f), 1);
    const prism_st_tensor *t = prism_st_find(f, key);
    cr_assert_not_null(t, "key %s", key);
    cr_expect(t->dtype == PRISM_DTYPE_F32 && t->ndim == 1 && t->shape[0] == 50);
    float back[50];
    cr_assert_eq(prism_st_read_f32(f, key, back, 50, err, sizeof err), PRISM_OK);
    cr_expect_eq(memcmp(back, spec, sizeof back), 0);
    prism_st_close(f);
    cJSON *cfg = fx_read_config(dir2);
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
    fx_tmpdir_done(tmpl);
}

Test(fourierft, hf_config_options) {
    prism_adapter_config c = sp_config("{\"peft_type\": \"FOURIERFT\", \"n_frequency\": 3000, \"scaling\": 300, "
                                       "\"random_loc_seed\": 1, \"init_weights\": true, \"alpha\": null, "
                                       "\"ifft2_norm\": \"backward\"}");
    cr_expect(c.n_frequency == 3000 && c.fourier_scaling == 300.0f && c.random_loc_seed == 1 && c.init_zero == 1);
    c = sp_config("{\"peft_type\": \"FOURIERFT\"}");
    cr_expect(c.n_frequency == 1000 && c.fourier_scaling == 150.0f && c.random_loc_seed == 777 && c.init_zero == 0,
              "HF defaults");
    const char *unsup[] = {"{\"peft_type\": \"FOURIERFT\", \"fan_in_fan_out\": true}",
                           "{\"peft_type\": \"FOURIERFT\", \"bias\": \"all\"}",
                           "{\"peft_type\": \"FOURIERFT\", \"n_frequency_pattern\": {\"q\": 10}}",
                           "{\"peft_type\": \"FOURIERFT\", \"alpha\": 0.001}",
                           "{\"peft_type\": \"FOURIERFT\", \"ifft2_norm\": \"ortho\"}"};
    sp_expect_configs(unsup, sizeof unsup / sizeof unsup[0], PRISM_ERR_UNSUPPORTED);
    const char *bad[] = {"{\"peft_type\": \"FOURIERFT\", \"n_frequency\": 0}",
                         "{\"peft_type\": \"FOURIERFT\", \"random_loc_seed\": -5}",
                         "{\"peft_type\": \"FOURIERFT\", \"scaling\": \"big\"}"};
    sp_expect_configs(bad, sizeof bad / sizeof bad[0], PRISM_ERR_FORMAT);
}
