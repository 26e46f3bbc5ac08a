/* sDCTFT adapter (adapters/spectral.c): selection from |DCT2_ortho(W0)|,
 * forward == the dense formula (both dct_norm), finite differences of the
 * coefficient gradients and dX on the reference (token and dense paths),
 * device vs reference, merge == forward, file round trips with the exact
 * keys, a loaded index replacing the selection, configuration errors. */
#include <sys/stat.h>
#include <unistd.h>
#include "spectral_fixture.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) {
    unsetenv("PRISM_SPECTRAL_PATH");
    t_env_destroy(&env);
}
TestSuite(sdctft, .init = setup, .fini = teardown, .timeout = 300);

static prism_adapter *make_norm(lay *L, int n_coef, prism_dct_norm norm, float alpha) {
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_SDCTFT);
    c.n_coef = n_coef;
    c.dct_norm = norm;
    c.sdctft_alpha = alpha;
    c.seed = 3;
    return fx_create(L->ctx, &c, L->W0, L->b);
}

/* the fixture's maker: the authors' defaults (norm none, alpha 300) */
static prism_adapter *make_sd(lay *L, int n_coef) { return make_norm(L, n_coef, PRISM_DCT_NORM_NONE, 300.0f); }

static double ortho_c(int64_t L, int64_t k, int64_t i) {
    return (k == 0 ? sqrt(1.0 / (double)L) : sqrt(2.0 / (double)L)) *
           cos(M_PI * (double)k * (2.0 * (double)i + 1.0) / (2.0 * (double)L));
}

typedef struct dct_setting { prism_dct_norm norm; double alpha; } dct_setting;

/* ΔW in the authors' torch_dct norm=None form (none) or orthonormal form. */
static double dct_basis(int64_t m, int64_t n, int64_t u, int64_t v, int64_t a, int64_t q, const void *arg) {
    const dct_setting *d = arg;
    if (d->norm == PRISM_DCT_NORM_NONE)
        return d->alpha / (double)(m * n) * (u ? 1.0 : 0.5) * (v ? 1.0 : 0.5) *
               cos(M_PI * u * (2 * a + 1) / (2.0 * m)) * cos(M_PI * v * (2 * q + 1) / (2.0 * n));
    return d->alpha * ortho_c(m, u, a) * ortho_c(n, v, q);
}

static double *host_dw(const lay *L, prism_adapter *ad, prism_dct_norm norm, double alpha) {
    dct_setting d = {norm, alpha};
    return sp_host_dw(L, ad, dct_basis, &d);
}

/* ------------------------------------------------------------------ selection */

Test(sdctft, selection_is_the_select_op_on_dct2_ortho_of_w0) {
    lay L;
    lay_make(&L, env.ref, 24, 40, 3, 11);
    prism_adapter *ad = make_sd(&L, 60);
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
    prism_adapter *dd = make_sd(&D, 60);
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
    prism_adapter *ad = make_norm(&L, 30, norm, 150.0f);
    set_coef(ad, 5, 1.0f);
    run_fb(&L, ad);
    char what[64];
    snprintf(what, sizeof what, "%s %s", norm ? "ortho" : "none", path);
    sp_expect_dense(&L, host_dw(&L, ad, norm, 150.0), what);
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
static const sp_case fd_token[] = {{"token", 7, 5, 3, 0}, {"token", 6, 11, 2, 0}, {"token", 1, 6, 2, 0}},
                     fd_dense[] = {{"dense", 7, 5, 3, 0}};
Test(sdctft, finite_differences_token_path) { sp_check_fd(&env, make_sd, fd_token, SP_COUNT(fd_token)); }
Test(sdctft, finite_differences_dense_path) { sp_check_fd(&env, make_sd, fd_dense, SP_COUNT(fd_dense)); }

/* Device vs reference with the same coefficients, both paths; 97: the dct
 * op's matrix path. */
static const sp_case on_device[] = {{"token", 48, 40, 17, 300}, {"dense", 48, 40, 17, 300}, {"token", 97, 64, 5, 700}};
Test(sdctft, device_matches_reference) { sp_check_device(&env, make_sd, on_device, SP_COUNT(on_device)); }

SP_SHARED_TESTS(sdctft, make_sd)

/* ------------------------------------------------------------------ init and config */

Test(sdctft, init_normal_or_zero) {
    lay L;
    lay_make(&L, env.ref, 64, 64, 2, 61);
    sp_expect_init(&L, make_sd(&L, 700), PRISM_METHOD_SDCTFT, 700);
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
    fx_write_config(dir, config);
}

Test(sdctft, file_round_trip_keys_and_loaded_index) {
    char *tmpl = fx_tmpdir("sdctft"), err[256];
    const char *mod = "model.layers.0.self_attn.q_proj";
    lay D;
    lay_make(&D, env.dev, 24, 40, 4, 81);
    prism_adapter *ad = make_sd(&D, 60);
    set_coef(ad, 12, 1.0f);
    run_fb(&D, ad);
    double *y0 = get(D.Y);
    cr_assert_eq(prism_adapter_save(ad, tmpl, mod), PRISM_OK, "%s", prism_error_message(env.dev));
    int64_t cnt, flat[60];
    cr_assert_eq(prism_spectral_adapter_entries(ad, &cnt, flat), PRISM_OK);

    /* exact keys, dtypes, shapes, values */
    prism_st_file *f = fx_open_tensors(tmpl);
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
    cJSON *cfg = fx_read_config(tmpl);
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
    sp_expect_dense(&R, host_dw(&R, ar, PRISM_DCT_NORM_NONE, 300.0), "loaded index");

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

    free(y0), free(y1);
    cJSON_Delete(cfg);
    prism_adapter_destroy(ar);
    prism_adapter_destroy(back);
    prism_adapter_destroy(ad);
    lay_free(&R);
    lay_free(&D);
    fx_tmpdir_done(tmpl);
}

Test(sdctft, config_json_fields) {
    prism_adapter_config c = sp_config("{\"peft_type\": \"SDCTFT\", \"n_coef\": 500, \"alpha\": 29.5, \"delta\": 0.5, "
                                       "\"dct_norm\": \"ortho\", \"seed\": 42, \"init_zero\": true}");
    cr_expect(c.method == PRISM_METHOD_SDCTFT && c.n_coef == 500 && c.sdctft_alpha == 29.5f && c.delta == 0.5f &&
              c.dct_norm == PRISM_DCT_NORM_ORTHO && c.seed == 42 && c.init_zero == 1);
    c = sp_config("{\"peft_type\": \"SDCTFT\"}");
    cr_expect(c.n_coef == 700 && c.sdctft_alpha == 300.0f && c.dct_norm == PRISM_DCT_NORM_NONE, "defaults");
    const char *bad[] = {"{\"peft_type\": \"SDCTFT\", \"dct_norm\": \"fancy\"}",
                         "{\"peft_type\": \"SDCTFT\", \"delta\": 2}",
                         "{\"peft_type\": \"SDCTFT\", \"n_coef\": 0}",
                         "{\"peft_type\": \"SDCTFT\", \"n_coef\": \"many\"}",
                         "{\"peft_type\": \"SDCTFT\", \"seed\": -1}"};
    sp_expect_configs(bad, sizeof bad / sizeof bad[0], PRISM_ERR_FORMAT);
}
