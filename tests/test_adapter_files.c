/* Adapter files (adapters/adapter_files.c): save/load round trips of NONE,
 * FULL and LoRA on both backends, the HF PEFT layout of a LoRA directory
 * (key names, config fields, a hand-written HF-style directory loading),
 * hostile and mismatched files with exact statuses, config JSON round trips. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "file_fixture.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(adapter_files, .init = setup, .fini = teardown, .timeout = 300);

/* ------------------------------------------------------------------ files */

Test(adapter_files, save_load_round_trip) {
    prism_method ms[3] = {PRISM_METHOD_NONE, PRISM_METHOD_FULL, PRISM_METHOD_LORA};
    prism_context *ctxs[2] = {env.dev, env.ref};
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 3; j++) {
            layer L;
            layer_make(&L, ctxs[k], 10, 7, 3, true, 51);
            prism_adapter *ad = make(&L, ms[j]);
            cr_assert_eq(pc_adapter_randomize(ad, 99, 0.5f), PRISM_OK);
            char *dir = fx_tmpdir("adapter"), *sub = fx_path(dir, "a/b"); /* created on save */
            fx_save(ad, sub, "layers.0.fc");
            prism_adapter *back = fx_load(&L, sub, "layers.0.fc", true);
            cr_expect_eq(prism_adapter_method(back), ms[j]);
            cr_expect_eq(prism_adapter_get_config(back)->r, ms[j] == PRISM_METHOD_LORA ? 4 : 8);
            fx_expect_same_params(ad, back);
            fx_expect_same_forward(&L, ad, back, "same outputs after the round trip");
            prism_adapter_destroy(back);
            prism_adapter_destroy(ad);
            free(sub);
            fx_tmpdir_done(dir);
            layer_free(&L);
        }
}

/* The LoRA file as HF PEFT writes and reads it. */
Test(adapter_files, lora_file_hf_layout) {
    layer L;
    layer_make(&L, env.dev, 10, 7, 3, true, 61);
    prism_adapter *ad = make(&L, PRISM_METHOD_LORA);
    char *dir = fx_tmpdir("adapter"), *stp = fx_path(dir, "adapter_model.safetensors"),
         *cfp = fx_path(dir, "adapter_config.json");
    char err[256];
    fx_save(ad, dir, "model.layers.0.self_attn.q_proj");
    prism_st_file *f = fx_open_tensors(dir);
    cr_expect_eq(prism_st_count(f), 2);
    const prism_st_tensor *a = prism_st_find(f, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
    const prism_st_tensor *b = prism_st_find(f, "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight");
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_expect_eq(a->dtype, PRISM_DTYPE_F32);
    cr_expect(a->ndim == 2 && a->shape[0] == 4 && a->shape[1] == 7);
    cr_expect(b->ndim == 2 && b->shape[0] == 10 && b->shape[1] == 4);
    const char *fmt = prism_st_meta_get(f, "format");
    cr_assert_not_null(fmt);
    cr_expect_str_eq(fmt, "pt");
    prism_st_close(f);
    cJSON *root = fx_read_config(dir);
    cr_expect_str_eq(cJSON_GetObjectItem(root, "peft_type")->valuestring, "LORA");
    cr_expect_eq(cJSON_GetObjectItem(root, "r")->valuedouble, 4);
    cr_expect_eq(cJSON_GetObjectItem(root, "lora_alpha")->valuedouble, 8);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(root, "inference_mode")));
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(root, "task_type")));
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(root, "base_model_name_or_path")));
    cJSON *tm = cJSON_GetObjectItem(root, "target_modules");
    cr_assert(cJSON_IsArray(tm) && cJSON_GetArraySize(tm) == 1);
    cr_expect_str_eq(cJSON_GetArrayItem(tm, 0)->valuestring, "model.layers.0.self_attn.q_proj");
    cr_expect_str_eq(cJSON_GetObjectItem(root, "bias")->valuestring, "none");
    cJSON_Delete(root);

    /* a minimal HF-style config (alpha 16, r 4) with tensors written by
     * another writer loads, and its scale is alpha / r = 4 */
    const char *cfg = "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 16, \"target_modules\": [\"q\"],"
                      " \"task_type\": null, \"lora_dropout\": 0.05, \"use_rslora\": false}";
    cr_assert_eq(prism_write_atomic(cfp, cfg, strlen(cfg), err, sizeof err), PRISM_OK);
    prism_st_writer *w;
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    float A[4 * 7], B[10 * 4];
    pc_random(5, A, 28, -0.3f, 0.3f);
    pc_random(6, B, 40, -0.3f, 0.3f);
    int64_t as[2] = {4, 7}, bs[2] = {10, 4};
    cr_assert_eq(prism_st_writer_add_f32(w, "base_model.model.q.lora_A.weight", 2, as, A, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, "base_model.model.q.lora_B.weight", 2, bs, B, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_write(w, stp, err, sizeof err), PRISM_OK);
    prism_st_writer_destroy(w);
    prism_adapter *hf;
    cr_assert_eq(prism_adapter_load(env.dev, dir, "q", L.W0, L.b, &hf), PRISM_OK, "%s", prism_error_message(env.dev));
    cr_expect_eq(prism_adapter_get_config(hf)->lora_alpha, 16.0f);
    prism_tensor *Wm = fx_merged_weight(L.ctx, hf, L.m, L.n);
    float *wm = dl(Wm), *w0 = dl((prism_tensor *)L.W0);
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 7; j++) {
            double d = 0;
            for (int q = 0; q < 4; q++) d += (double)B[i * 4 + q] * A[q * 7 + j];
            cr_expect(fabs(wm[i * 7 + j] - (w0[i * 7 + j] + 4.0 * d)) < 1e-5, "merged [%d, %d]", i, j);
        }
    free(wm);
    free(w0);
    prism_tensor_destroy(Wm);
    prism_adapter_destroy(hf);

    /* unsupported LoRA variants */
    const char *unsup[] = {"{\"peft_type\": \"LORA\", \"r\": 4, \"use_dora\": true}",
                           "{\"peft_type\": \"LORA\", \"r\": 4, \"use_rslora\": true}",
                           "{\"peft_type\": \"LORA\", \"r\": 4, \"fan_in_fan_out\": true}",
                           "{\"peft_type\": \"LORA\", \"r\": 4, \"bias\": \"all\"}",
                           "{\"peft_type\": \"LORA\", \"r\": 4, \"rank_pattern\": {\"q\": 2}}"};
    for (size_t i = 0; i < sizeof unsup / sizeof unsup[0]; i++) {
        cr_assert_eq(prism_write_atomic(cfp, unsup[i], strlen(unsup[i]), err, sizeof err), PRISM_OK);
        prism_adapter *x = (prism_adapter *)0x1;
        cr_expect_eq(prism_adapter_load(env.dev, dir, "q", L.W0, L.b, &x), PRISM_ERR_UNSUPPORTED, "%s", unsup[i]);
        cr_expect_null(x);
    }
    prism_adapter_destroy(ad);
    free(stp);
    free(cfp);
    fx_tmpdir_done(dir);
    layer_free(&L);
}

/* Hostile or mismatched files: exact statuses, *out NULL, nothing leaked
 * (the ASan build runs this too). */
Test(adapter_files, hostile_files) {
    layer L;
    layer_make(&L, env.dev, 10, 7, 3, true, 71);
    prism_adapter *ad = make(&L, PRISM_METHOD_LORA), *x;
    char *dir = fx_tmpdir("adapter"), *stp = fx_path(dir, "adapter_model.safetensors"),
         *cfp = fx_path(dir, "adapter_config.json");
    char err[256];
    fx_save(ad, dir, "fc");
    FILE *fp = fopen(stp, "rb");
    cr_assert_not_null(fp);
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    cr_assert(n > 100 && n < sizeof buf);
    /* truncated at several points */
    size_t cuts[] = {0, 4, 8, 20, n / 2, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        cr_assert_eq(prism_write_atomic(stp, buf, cuts[i], err, sizeof err), PRISM_OK);
        x = (prism_adapter *)0x1;
        cr_expect_eq(prism_adapter_load(env.dev, dir, "fc", L.W0, L.b, &x), PRISM_ERR_FORMAT, "cut at %zu", cuts[i]);
        cr_expect_null(x);
    }
    /* header length pointing past the end */
    unsigned char evil[sizeof buf];
    memcpy(evil, buf, n);
    evil[5] = 0x7f;
    cr_assert_eq(prism_write_atomic(stp, evil, n, err, sizeof err), PRISM_OK);
    cr_expect_eq(prism_adapter_load(env.dev, dir, "fc", L.W0, L.b, &x), PRISM_ERR_FORMAT);
    /* wrong module name: the tensors are absent */
    cr_assert_eq(prism_write_atomic(stp, buf, n, err, sizeof err), PRISM_OK);
    cr_expect_eq(prism_adapter_load(env.dev, dir, "fc2", L.W0, L.b, &x), PRISM_ERR_FORMAT);
    expect_msg(env.dev, "base_model.model.fc2.lora_A.weight", NULL);
    /* a layer of another size: shape mismatch */
    layer M;
    layer_make(&M, env.dev, 10, 8, 3, true, 72);
    cr_expect_eq(prism_adapter_load(env.dev, dir, "fc", M.W0, M.b, &x), PRISM_ERR_FORMAT);
    expect_msg(env.dev, "[4, 7]", "[4, 8]");
    layer_free(&M);
    /* a non-finite value */
    prism_st_writer *w;
    float A[28], B[40];
    pc_random(1, A, 28, -1, 1);
    pc_random(2, B, 40, -1, 1);
    B[17] = NAN;
    int64_t as[2] = {4, 7}, bs[2] = {10, 4};
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, "base_model.model.fc.lora_A.weight", 2, as, A, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, "base_model.model.fc.lora_B.weight", 2, bs, B, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_write(w, stp, err, sizeof err), PRISM_OK);
    prism_st_writer_destroy(w);
    cr_expect_eq(prism_adapter_load(env.dev, dir, "fc", L.W0, L.b, &x), PRISM_ERR_FORMAT);
    expect_msg(env.dev, "lora_B.weight", "not finite");
    /* load_tensors into a live adapter: rejected whole, the adapter unchanged */
    prism_st_file *f;
    cr_assert_eq(prism_st_open(stp, 0, &f, err, sizeof err), PRISM_OK);
    const prism_param *p;
    prism_adapter_params(ad, &p);
    float *a0 = dl(p[0].value);
    cr_expect_eq(prism_adapter_load_tensors(ad, "base_model.model.fc", f), PRISM_ERR_FORMAT);
    float *a1 = dl(p[0].value);
    cr_expect_arr_eq(a0, a1, sizeof(float) * 28, "a rejected file changed the adapter");
    free(a0);
    free(a1);
    prism_st_close(f);
    /* config: not JSON, unknown peft_type, r of the wrong type / range */
    const char *cfgs[] = {"{", "{\"peft_type\": \"BOFT\"}", "{\"r\": 4}", "{\"peft_type\": \"LORA\", \"r\": \"4\"}",
                          "{\"peft_type\": \"LORA\", \"r\": 0}", "{\"peft_type\": \"LORA\", \"r\": 1e12}",
                          "{\"peft_type\": 7}", "[]"};
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        cr_assert_eq(prism_write_atomic(cfp, cfgs[i], strlen(cfgs[i]), err, sizeof err), PRISM_OK);
        x = (prism_adapter *)0x1;
        prism_status st = prism_adapter_load(env.dev, dir, "fc", L.W0, L.b, &x);
        cr_expect_eq(st, PRISM_ERR_FORMAT, "config %s: %s", cfgs[i], prism_status_string(st));
        cr_expect_null(x);
    }
    /* missing directory */
    cr_expect_eq(prism_adapter_load(env.dev, "/nonexistent/prism", "fc", L.W0, L.b, &x), PRISM_ERR_IO);
    cr_expect_eq(prism_adapter_load(env.dev, dir, NULL, L.W0, L.b, &x), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_adapter_save(ad, dir, ""), PRISM_ERR_INVALID_ARGUMENT);
    prism_adapter_destroy(ad);
    free(stp);
    free(cfp);
    fx_tmpdir_done(dir);
    layer_free(&L);
}

Test(adapter_files, config_json_round_trip) {
    prism_method ms[3] = {PRISM_METHOD_NONE, PRISM_METHOD_FULL, PRISM_METHOD_LORA};
    for (int j = 0; j < 3; j++) {
        prism_adapter_config c = prism_adapter_config_default(ms[j]), back;
        c.r = 5;
        c.lora_alpha = 2.5f;
        c.train_bias = 0;
        cJSON *o = cJSON_CreateObject();
        char err[256];
        cr_assert_eq(prism_adapter_config_to_json(&c, o, err, sizeof err), PRISM_OK, "%s", err);
        cr_assert_eq(prism_adapter_config_from_json(o, &back, err, sizeof err), PRISM_OK, "%s", err);
        cr_expect_eq(back.method, ms[j]);
        if (ms[j] == PRISM_METHOD_LORA) {
            cr_expect_eq(back.r, 5);
            cr_expect_eq(back.lora_alpha, 2.5f);
        }
        if (ms[j] == PRISM_METHOD_FULL) cr_expect_eq(back.train_bias, 0);
        cJSON_Delete(o);
    }
    char err[64];
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_LORA);
    cr_expect_eq(prism_adapter_config_to_json(&c, NULL, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_adapter_config_from_json(NULL, &c, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
}


/* Through printed text, as a saved adapter_config.json: cJSON prints 15
 * significant digits when that reads back within its epsilon, which changed
 * a 16-digit seed (a CI fuzz finding), and a float near the limit such as
 * 3e38f (3.0000000054977558e38) failed a "<= 3e38" range check on reading. */
Test(adapter_files, config_json_exact_through_text) {
    struct {
        prism_method m;
        uint64_t seed, loc_seed;
        float a;
    } cases[] = {
        {PRISM_METHOD_SDCTFT, 8810505810008951ULL, 777, 3e38f},
        {PRISM_METHOD_SDCTFT, 1ULL << 53, 777, -1.0f / 3.0f},
        {PRISM_METHOD_SDCTFT, 999999999999999ULL, 777, 150.0f},
        {PRISM_METHOD_FOURIERFT, 0, 0xffffffffULL, 3e38f},
        {PRISM_METHOD_LORA, 0, 777, 3e38f},
        {PRISM_METHOD_HUT, 0, 777, -3e38f},
    };
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        prism_adapter_config c = prism_adapter_config_default(cases[i].m), back, mem;
        c.seed = cases[i].seed;
        c.random_loc_seed = cases[i].loc_seed;
        c.sdctft_alpha = c.fourier_scaling = c.lora_alpha = c.hut_s = cases[i].a;
        cJSON *o = cJSON_CreateObject(), *again = NULL;
        cr_assert_eq(prism_adapter_config_to_json(&c, o, err, sizeof err), PRISM_OK, "case %zu: %s", i, err);
        /* the tree itself (not printed) reads back too */
        cr_assert_eq(prism_adapter_config_from_json(o, &mem, err, sizeof err), PRISM_OK, "case %zu: %s", i, err);
        char *text = cJSON_PrintUnformatted(o);
        cr_assert_not_null(text);
        cr_assert_eq(prism_json_parse(text, strlen(text), "text", &again, err, sizeof err), PRISM_OK, "%s", err);
        cr_assert_eq(prism_adapter_config_from_json(again, &back, err, sizeof err), PRISM_OK, "case %zu: %s: %s", i,
                     err, text);
        cr_expect_eq(back.seed, mem.seed, "case %zu", i);
        if (cases[i].m == PRISM_METHOD_SDCTFT) {
            cr_expect_eq(back.seed, cases[i].seed, "case %zu: seed %llu came back as %llu (%s)", i,
                         (unsigned long long)cases[i].seed, (unsigned long long)back.seed, text);
            cr_expect_eq(back.sdctft_alpha, cases[i].a, "case %zu", i);
        }
        if (cases[i].m == PRISM_METHOD_FOURIERFT) {
            cr_expect_eq(back.random_loc_seed, cases[i].loc_seed, "case %zu (%s)", i, text);
            cr_expect_eq(back.fourier_scaling, cases[i].a, "case %zu", i);
        }
        if (cases[i].m == PRISM_METHOD_LORA) cr_expect_eq(back.lora_alpha, cases[i].a, "case %zu", i);
        if (cases[i].m == PRISM_METHOD_HUT) cr_expect_eq(back.hut_s, cases[i].a, "case %zu", i);
        cJSON_free(text);
        cJSON_Delete(again);
        cJSON_Delete(o);
    }
    /* a seed no reader takes back is refused before anything is written */
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_SDCTFT);
    c.seed = (1ULL << 53) + 1;
    cJSON *o = cJSON_CreateObject();
    cr_expect_eq(prism_adapter_config_to_json(&c, o, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err, "out of range") && strstr(err, "9007199254740993"), "%s", err);
    c = prism_adapter_config_default(PRISM_METHOD_FOURIERFT);
    c.random_loc_seed = 1ULL << 32;
    cr_expect_eq(prism_adapter_config_to_json(&c, o, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
    cJSON_Delete(o);
}
