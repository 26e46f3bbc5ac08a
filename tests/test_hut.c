/* HUT / HiRA adapter (adapters/hadamard.c): the generic adapter check rows
 * of "adapter_hut", plus: B = 0 at init gives exactly the frozen layer,
 * merge equals forward, finite differences of A, B and X through the adapter
 * at s != 1, HiRA files in HF PEFT's layout (exact keys, peft_type, r),
 * s != 1 files, and mismatched / inconsistent files with exact statuses. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "file_fixture.h"
#include "prism/adapter.h"
#include "prism/io.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(hut, .init = setup, .fini = teardown, .timeout = 300);

Test(hut, generic_adapter_cases) { t_run_cases(&env, "adapter_hut"); }

static prism_adapter *make_hut(layer *L, int r, float s) {
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_HUT);
    c.r = r;
    c.hut_s = s;
    c.seed = 5;
    return fx_create(L->ctx, &c, L->W0, L->b);
}

Test(hut, defaults_and_params) {
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_HUT);
    cr_expect_eq(c.r, 8);
    cr_expect_eq(c.hut_s, 1.0f);
    layer L;
    layer_make(&L, env.dev, 9, 6, 2, true, 1);
    prism_adapter *ad = NULL;
    cr_assert_eq(prism_adapter_create(env.dev, &c, L.W0, L.b, &ad), PRISM_OK);
    const prism_param *p;
    cr_assert_eq(prism_adapter_params(ad, &p), 2);
    cr_expect_str_eq(p[0].name, "hira_A");
    cr_expect_str_eq(p[1].name, "hira_B");
    cr_expect(prism_tensor_dim(p[0].value, 0) == 8 && prism_tensor_dim(p[0].value, 1) == 6, "hira_A is [r, n]");
    cr_expect(prism_tensor_dim(p[1].value, 0) == 9 && prism_tensor_dim(p[1].value, 1) == 8, "hira_B is [m, r]");
    cr_expect_eq(prism_adapter_trainable_count(ad), 8 * 6 + 9 * 8);
    /* A ~ kaiming_uniform(a = sqrt 5): |A| <= 1/sqrt(n), not all zero; B = 0 */
    float *a = dl(p[0].value), *b = dl(p[1].value);
    double bound = 1.0 / sqrt(6.0), amax = 0;
    for (int i = 0; i < 48; i++) amax = fmax(amax, fabs(a[i]));
    cr_expect(amax > 0 && amax <= bound, "max |A| = %g, bound %g", amax, bound);
    for (int i = 0; i < 72; i++) cr_expect_eq(b[i], 0.0f);
    free(a);
    free(b);
    prism_adapter_destroy(ad);

    c.r = 0;
    cr_expect_eq(prism_adapter_create(env.dev, &c, L.W0, L.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg(env.dev, "hut", "r = 0");
    c.r = 4;
    c.hut_s = NAN;
    cr_expect_eq(prism_adapter_create(env.dev, &c, L.W0, L.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg(env.dev, "hut", "hut_s");
    layer_free(&L);
}

/* B = 0: W_eff = W0 (.) (1 + s * 0) = W0 bit for bit, so the forward is the
 * frozen layer's (NONE) output exactly, whatever s and A are. */
Test(hut, init_forward_is_frozen_layer) {
    layer L;
    layer_make(&L, env.dev, 33, 20, 7, true, 2);
    prism_adapter *ad = make_hut(&L, 4, 0.7f), *none = make(&L, PRISM_METHOD_NONE);
    fx_expect_same_forward(&L, ad, none, "HUT at init differs from the frozen layer");
    prism_adapter_destroy(none);
    prism_adapter_destroy(ad);
    layer_free(&L);
}

/* merge (W0 (.) (1 + s B A)) used as a frozen layer reproduces the adapter
 * forward; both run the same fused op and GEMM, so bit for bit. */
Test(hut, merge_equals_forward) {
    prism_context *ctxs[2] = {env.dev, env.ref};
    for (int k = 0; k < 2; k++) {
        layer L;
        layer_make(&L, ctxs[k], 24, 16, 9, true, 3);
        prism_adapter *ad = make_hut(&L, 5, 1.5f), *merged = NULL;
        cr_assert_eq(pc_adapter_randomize(ad, 17, 0.5f), PRISM_OK);
        prism_tensor *W = fx_merged_weight(L.ctx, ad, L.m, L.n);
        prism_adapter_config nc = prism_adapter_config_default(PRISM_METHOD_NONE);
        cr_assert_eq(prism_adapter_create(L.ctx, &nc, W, L.b, &merged), PRISM_OK);
        fx_expect_same_forward(&L, ad, merged, k ? "merged layer differs (reference)" : "merged layer differs");
        prism_adapter_destroy(merged);
        prism_adapter_destroy(ad);
        prism_tensor_destroy(W);
        layer_free(&L);
    }
}

/* L = <Y, R> on the reference at s = 0.7 with random A, B: backward with
 * dY = R against central differences of every entry of A, B and X. */
static double loss(prism_adapter *ad, layer *L, const double *R) {
    prism_stream *s;
    cr_assert_eq(prism_stream_create(L->ctx, &s), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s, ad, L->X, L->Y), PRISM_OK);
    run(s);
    prism_stream_destroy(s);
    int64_t n = L->T * L->m;
    double *y = malloc(sizeof(double) * (size_t)n), l = 0;
    cr_assert_eq(prism_tensor_download_f64(L->Y, y, n), PRISM_OK);
    for (int64_t i = 0; i < n; i++) l += y[i] * R[i];
    free(y);
    return l;
}

static void fd_tensor(prism_adapter *ad, layer *L, const double *R, prism_tensor *t, const double *analytic,
                      const char *what) {
    int64_t n = prism_tensor_numel(t);
    double *x = malloc(sizeof(double) * (size_t)n), *num = malloc(sizeof(double) * (size_t)n), h = 1e-6;
    cr_assert_eq(prism_tensor_download_f64(t, x, n), PRISM_OK);
    for (int64_t i = 0; i < n; i++) {
        double x0 = x[i], f[2];
        for (int k = 0; k < 2; k++) {
            x[i] = x0 + (k ? -h : h);
            cr_assert_eq(prism_tensor_upload_f64(t, x, n), PRISM_OK);
            f[k] = loss(ad, L, R);
        }
        x[i] = x0;
        num[i] = (f[0] - f[1]) / (2 * h);
    }
    cr_assert_eq(prism_tensor_upload_f64(t, x, n), PRISM_OK);
    pc_result r = {0};
    pc_compare_fd(&r, what, analytic, num, n, 1e-7);
    cr_expect_eq(r.outcome, PC_PASS, "%s", r.detail);
    free(x);
    free(num);
}

Test(hut, finite_differences_a_b_x) {
    layer L;
    layer_make(&L, env.ref, 6, 5, 4, true, 4);
    prism_adapter *ad = make_hut(&L, 3, 0.7f);
    cr_assert_eq(pc_adapter_randomize(ad, 23, 0.8f), PRISM_OK);
    int64_t ny = L.T * L.m, nx = L.T * L.n;
    double *R = malloc(sizeof(double) * (size_t)ny);
    cr_assert_eq(prism_tensor_download_f64(L.dY, R, ny), PRISM_OK); /* R = dY (random) */
    fx_forward_backward(&L, ad);
    const prism_param *p;
    prism_adapter_params(ad, &p);
    double *ga = malloc(sizeof(double) * 15), *gb = malloc(sizeof(double) * 18), *gx = malloc(sizeof(double) * (size_t)nx);
    cr_assert_eq(prism_tensor_download_f64(p[0].grad, ga, 15), PRISM_OK);
    cr_assert_eq(prism_tensor_download_f64(p[1].grad, gb, 18), PRISM_OK);
    cr_assert_eq(prism_tensor_download_f64(L.dX, gx, nx), PRISM_OK);
    fd_tensor(ad, &L, R, p[0].value, ga, "dA");
    fd_tensor(ad, &L, R, p[1].value, gb, "dB");
    fd_tensor(ad, &L, R, L.X, gx, "dX");
    free(ga), free(gb), free(gx), free(R);
    prism_adapter_destroy(ad);
    layer_free(&L);
}

/* backward accumulates: two backwards give twice the gradients of one. */
Test(hut, backward_accumulates) {
    layer L;
    layer_make(&L, env.dev, 40, 36, 5, false, 6);
    prism_adapter *ad = make_hut(&L, 8, 1.0f);
    cr_assert_eq(pc_adapter_randomize(ad, 29, 0.5f), PRISM_OK);
    const prism_param *p;
    prism_adapter_params(ad, &p);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_adapter_zero_grad(s, ad), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s, ad, L.X, L.Y), PRISM_OK);
    cr_assert_eq(prism_adapter_backward(s, ad, L.X, L.dY, NULL), PRISM_OK);
    run(s);
    float *a1 = dl(p[0].grad), *b1 = dl(p[1].grad);
    cr_assert_eq(prism_stream_reset(s), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s, ad, L.X, L.Y), PRISM_OK);
    cr_assert_eq(prism_adapter_backward(s, ad, L.X, L.dY, NULL), PRISM_OK);
    run(s);
    float *a2 = dl(p[0].grad), *b2 = dl(p[1].grad);
    for (int i = 0; i < 8 * 36; i++) cr_expect_eq(a2[i], 2 * a1[i], "dA[%d]", i);
    for (int i = 0; i < 40 * 8; i++) cr_expect_eq(b2[i], 2 * b1[i], "dB[%d]", i);
    free(a1), free(b1), free(a2), free(b2);
    prism_stream_destroy(s);
    prism_adapter_destroy(ad);
    layer_free(&L);
}

/* ------------------------------------------------------------------ files */

/* A HUT adapter (r, s) with random A and B, saved for module in a new
 * scratch directory (*dir). */
static prism_adapter *saved_hut(layer *L, int r, float s, uint64_t seed, const char *module, char **dir) {
    prism_adapter *ad = make_hut(L, r, s);
    cr_assert_eq(pc_adapter_randomize(ad, seed, 0.5f), PRISM_OK);
    *dir = fx_tmpdir("hut");
    fx_save(ad, *dir, module);
    return ad;
}

/* dir's config: peft_type `type`, the number `key` = value; hut_s absent
 * when asked (a HiRA file holds no prism-only field). */
static void expect_config(const char *dir, const char *type, const char *key, double value, bool no_hut_s) {
    cJSON *cfg = fx_read_config(dir);
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(cfg, "peft_type");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    cr_expect(cJSON_IsString(pt) && !strcmp(pt->valuestring, type), "peft_type %s", type);
    cr_expect(cJSON_IsNumber(v) && v->valuedouble == value, "%s = %g", key, value);
    if (no_hut_s) cr_expect_null(cJSON_GetObjectItemCaseSensitive(cfg, "hut_s"), "no prism-only field in a HiRA file");
    cJSON_Delete(cfg);
}

/* dir loads back on L (with its bias, if any) as ad again: HUT, r, s, the
 * same parameters. Removes dir, destroys ad. */
static void expect_loads_back(layer *L, prism_adapter *ad, char *dir, const char *module, int r, float s) {
    prism_adapter *back = fx_load(L, dir, module, L->b != NULL);
    cr_expect_eq(prism_adapter_method(back), PRISM_METHOD_HUT);
    cr_expect_eq(prism_adapter_get_config(back)->r, r);
    cr_expect_eq(prism_adapter_get_config(back)->hut_s, s);
    fx_expect_same_params(ad, back);
    prism_adapter_destroy(back);
    prism_adapter_destroy(ad);
    fx_tmpdir_done(dir);
}

/* s = 1: HF HiRA layout: keys base_model.model.<module>.hira_A [r, n] and
 * .hira_B [m, r], config peft_type "HIRA" with r; loads back exactly. */
Test(hut, hira_file_round_trip) {
    layer L;
    layer_make(&L, env.dev, 12, 10, 3, true, 7);
    char *dir;
    prism_adapter *ad = saved_hut(&L, 4, 1.0f, 31, "model.layers.0.self_attn.q_proj", &dir);
    expect_config(dir, "HIRA", "r", 4, true);

    prism_st_file *f = fx_open_tensors(dir);
    cr_expect_eq(prism_st_count(f), 2);
    const prism_st_tensor *ta = prism_st_find(f, "base_model.model.model.layers.0.self_attn.q_proj.hira_A"),
                          *tb = prism_st_find(f, "base_model.model.model.layers.0.self_attn.q_proj.hira_B");
    cr_assert(ta && tb, "HF key names");
    cr_expect(ta->dtype == PRISM_DTYPE_F32 && ta->ndim == 2 && ta->shape[0] == 4 && ta->shape[1] == 10, "hira_A [4, 10]");
    cr_expect(tb->dtype == PRISM_DTYPE_F32 && tb->ndim == 2 && tb->shape[0] == 12 && tb->shape[1] == 4, "hira_B [12, 4]");
    const char *fmt = prism_st_meta_get(f, "format");
    cr_expect(fmt && !strcmp(fmt, "pt"), "metadata format pt");
    prism_st_close(f);

    expect_loads_back(&L, ad, dir, "model.layers.0.self_attn.q_proj", 4, 1.0f);
    layer_free(&L);
}

/* s != 1 is written as peft_type "HUT" + "hut_s" and restored. */
Test(hut, scaled_file_round_trip) {
    layer L;
    layer_make(&L, env.ref, 8, 6, 2, false, 8);
    char *dir;
    prism_adapter *ad = saved_hut(&L, 3, 0.25f, 37, "fc", &dir);
    expect_config(dir, "HUT", "hut_s", 0.25, false); /* HUT for s != 1 */
    expect_loads_back(&L, ad, dir, "fc", 3, 0.25f);
    layer_free(&L);
}

/* The file's r wins; r disagreeing with the tensors is FORMAT; HIRA with a
 * scale is FORMAT; a HiRA config without r means HF's default 32;
 * fan_in_fan_out and rank_pattern are UNSUPPORTED. */
Test(hut, mismatched_files) {
    layer L;
    layer_make(&L, env.ref, 8, 6, 2, false, 9);
    prism_adapter *ad = make_hut(&L, 4, 1.0f), *back = NULL;
    char *dir = fx_tmpdir("hut");
    fx_save(ad, dir, "fc");

    cJSON *cfg = fx_read_config(dir);
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "r", cJSON_CreateNumber(3));
    fx_write_config(dir, cfg);
    cr_expect_eq(prism_adapter_load(env.ref, dir, "fc", L.W0, NULL, &back), PRISM_ERR_FORMAT);
    expect_msg(env.ref, "hira_A", "[3, 6]");
    cr_expect_null(back);

    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "r"); /* HF default 32 vs tensors of rank 4 */
    fx_write_config(dir, cfg);
    cr_expect_eq(prism_adapter_load(env.ref, dir, "fc", L.W0, NULL, &back), PRISM_ERR_FORMAT);
    expect_msg(env.ref, "hira_A", "[32, 6]");

    cJSON_AddNumberToObject(cfg, "r", 4);
    cJSON_AddNumberToObject(cfg, "hut_s", 2.0);
    fx_write_config(dir, cfg);
    cr_expect_eq(prism_adapter_load(env.ref, dir, "fc", L.W0, NULL, &back), PRISM_ERR_FORMAT);
    expect_msg(env.ref, "HIRA", "hut_s");

    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "hut_s");
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "fan_in_fan_out", cJSON_CreateTrue());
    fx_write_config(dir, cfg);
    cr_expect_eq(prism_adapter_load(env.ref, dir, "fc", L.W0, NULL, &back), PRISM_ERR_UNSUPPORTED);

    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "fan_in_fan_out", cJSON_CreateFalse());
    cJSON *rp = cJSON_CreateObject();
    cJSON_AddNumberToObject(rp, "fc", 2);
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "rank_pattern", rp);
    fx_write_config(dir, cfg);
    cr_expect_eq(prism_adapter_load(env.ref, dir, "fc", L.W0, NULL, &back), PRISM_ERR_UNSUPPORTED);

    /* and the untouched fields load again */
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "rank_pattern", cJSON_CreateObject());
    fx_write_config(dir, cfg);
    cr_expect_eq(prism_adapter_load(env.ref, dir, "fc", L.W0, NULL, &back), PRISM_OK, "%s",
                 prism_error_message(env.ref));
    prism_adapter_destroy(back);
    cJSON_Delete(cfg);
    fx_tmpdir_done(dir);
    prism_adapter_destroy(ad);
    layer_free(&L);
}

/* A few plain gradient steps on a target that HUT can express (W0 (.) (1 +
 * B* A*)) lower the squared error: the gradients point downhill on the
 * device. */
Test(hut, training_lowers_the_loss) {
    enum { M = 16, N = 12, T = 32, R = 2, STEPS = 30 };
    layer L;
    layer_make(&L, env.dev, M, N, T, false, 10);
    prism_adapter *ad = make_hut(&L, R, 1.0f), *target = make_hut(&L, R, 1.0f);
    cr_assert_eq(pc_adapter_randomize(target, 41, 0.8f), PRISM_OK);
    int64_t ys[2] = {T, M};
    prism_tensor *Yt;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 2, ys, &Yt), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s, target, L.X, Yt), PRISM_OK);
    run(s);
    float *yt = dl(Yt), first = 0, last = 0;
    const prism_param *p;
    prism_adapter_params(ad, &p);
    for (int step = 0; step < STEPS; step++) {
        /* loss = 0.5 |Y - Yt|^2 / T, dY = (Y - Yt) / T */
        cr_assert_eq(prism_stream_reset(s), PRISM_OK);
        cr_assert_eq(prism_adapter_zero_grad(s, ad), PRISM_OK);
        cr_assert_eq(prism_adapter_forward(s, ad, L.X, L.Y), PRISM_OK);
        run(s);
        float *y = dl(L.Y), dy[T * M], l = 0;
        for (int i = 0; i < T * M; i++) {
            float d = y[i] - yt[i];
            l += 0.5f * d * d / T;
            dy[i] = d / T;
        }
        free(y);
        if (step == 0) first = l;
        else cr_expect(l < last, "step %d: loss %g after %g", step, l, last);
        last = l;
        cr_assert_eq(prism_tensor_upload(L.dY, dy, T * M), PRISM_OK);
        cr_assert_eq(prism_stream_reset(s), PRISM_OK);
        cr_assert_eq(prism_adapter_backward(s, ad, L.X, L.dY, NULL), PRISM_OK);
        run(s);
        for (int k = 0; k < 2; k++) {
            int64_t n = prism_tensor_numel(p[k].value);
            float *v = dl(p[k].value), *g = dl(p[k].grad);
            for (int64_t i = 0; i < n; i++) v[i] -= 2.0f * g[i];
            cr_assert_eq(prism_tensor_upload(p[k].value, v, n), PRISM_OK);
            free(v);
            free(g);
        }
    }
    cr_expect(last < 0.5f * first, "loss %g -> %g", first, last);
    free(yt);
    prism_stream_destroy(s);
    prism_tensor_destroy(Yt);
    prism_adapter_destroy(target);
    prism_adapter_destroy(ad);
    layer_free(&L);
}
