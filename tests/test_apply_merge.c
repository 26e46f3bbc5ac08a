/* `prism merge` of a base with fp16/bf16/int tensors (converted or copied)
 * and of a two-module adapter file; `prism inspect` (text, --json, --base)
 * and `prism apply --module`. The per-method apply/merge round trips are in
 * test_apply.c. */
#include "apply_fixture.h"

TestSuite(apply, .init = apply_setup, .fini = apply_teardown, .timeout = 300);

/* One safetensors tensor for write_raw_st. */
typedef struct raw_tensor {
    const char *name, *dtype;
    int ndim;
    int64_t shape[2];
    const void *data;
    size_t nbytes;
} raw_tensor;

/* Writes a safetensors file by hand (the library writer only makes F32/I64). */
static void write_raw_st(const char *path, const raw_tensor *t, int n) {
    char hdr[4096];
    size_t k = 0, off = 0;
    k += (size_t)snprintf(hdr + k, sizeof hdr - k, "{");
    for (int i = 0; i < n; i++) {
        k += (size_t)snprintf(hdr + k, sizeof hdr - k, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "",
                              t[i].name, t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++)
            k += (size_t)snprintf(hdr + k, sizeof hdr - k, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        k += (size_t)snprintf(hdr + k, sizeof hdr - k, "],\"data_offsets\":[%zu,%zu]}", off, off + t[i].nbytes);
        off += t[i].nbytes;
    }
    k += (size_t)snprintf(hdr + k, sizeof hdr - k, "}");
    while (k % 8) hdr[k++] = ' ';
    cr_assert_lt(k, sizeof hdr);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    uint64_t hl = k;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(hl >> (8 * i));
    cr_assert_eq(fwrite(le, 1, 8, f), 8);
    cr_assert_eq(fwrite(hdr, 1, k, f), k);
    for (int i = 0; i < n; i++) cr_assert_eq(fwrite(t[i].data, 1, t[i].nbytes, f), t[i].nbytes);
    fclose(f);
}

/* ------------------------------------------------------------ merge */

/* A bf16 weight for the adapted module, fp16/bf16/int tensors beside it. */
Test(apply, merge_converts_and_copies_every_tensor) {
    prism_context *dev = t_device();
    lora_fx F;
    lora_open(&F, dev, "mdt");
    /* W0 rounded to bf16 (top 16 bits of the float) is what merge reads */
    uint16_t wbf[M * N];
    double wq[M * N];
    for (int i = 0; i < M * N; i++) {
        float f = (float)F.W0h[i];
        uint32_t u;
        memcpy(&u, &f, 4);
        wbf[i] = (uint16_t)(u >> 16);
        u = (uint32_t)wbf[i] << 16;
        memcpy(&f, &u, 4);
        wq[i] = f;
    }
    const uint16_t f16[6] = {0x3C00, 0xC000, 0x3800, 0x3E00, 0x3400, 0xBA00}; /* 1 -2 .5 1.5 .25 -.75 */
    const double f16v[6] = {1, -2, 0.5, 1.5, 0.25, -0.75};
    const int32_t i32[3] = {7, -3, 1 << 30};
    const int64_t i64[2] = {-5, (int64_t)1 << 40};
    raw_tensor ts[] = {
        {"embed.weight", "F16", 2, {2, 3}, f16, sizeof f16},
        {MODULE ".weight", "BF16", 2, {M, N}, wbf, sizeof wbf},
        {"position_ids", "I32", 1, {3}, i32, sizeof i32},
        {"step", "I64", 1, {2}, i64, sizeof i64},
    };
    write_raw_st(P("mdt_base.safetensors"), ts, 4);
    run_out r = cli("merge --base '%s' --adapter '%s' --output '%s'", P("mdt_base.safetensors"), P("mdt"),
                    P("mdt_out.safetensors"));
    cr_assert_eq(r.rc, 0, "prism merge exited %d:\n%s", r.rc, r.text);
    free(r.text);

    prism_st_file *f = NULL;
    cr_assert_eq(prism_st_open(P("mdt_out.safetensors"), 0, &f, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(prism_st_count(f), 4);
    const char *f32_names[] = {"embed.weight", MODULE ".weight"};
    for (int i = 0; i < 2; i++) {
        const prism_st_tensor *t = prism_st_find(f, f32_names[i]);
        cr_assert_not_null(t, "%s missing", f32_names[i]);
        cr_expect_eq(t->dtype, PRISM_DTYPE_F32, "%s is %s", f32_names[i], prism_dtype_name(t->dtype));
    }
    double *e = st_tensor(f, "embed.weight", 6);
    expect_close("fp16 tensor copied as F32", e, f16v, 6, 0);
    free(e);
    int64_t ii[3], il[2];
    cr_assert_eq(prism_st_read_i64(f, "position_ids", ii, 3, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(prism_st_read_i64(f, "step", il, 2, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect(ii[0] == 7 && ii[1] == -3 && ii[2] == 1 << 30 && il[0] == -5 && il[1] == (int64_t)1 << 40,
              "integer tensors changed");
    cr_expect_eq(prism_st_find(f, "position_ids")->dtype, PRISM_DTYPE_I64);

    /* expected: the adapter on the bf16-rounded W0 (the base has no bias) */
    int64_t sw[2] = {M, N};
    prism_tensor *Wq = upload(dev, 2, sw, wq);
    prism_adapter *aq = NULL;
    cr_assert_eq(prism_adapter_load(dev, P("mdt"), MODULE, Wq, NULL, &aq), PRISM_OK, "%s", prism_error_message(dev));
    double *want = merged_weight(dev, aq), *got = st_tensor(f, MODULE ".weight", M * N);
    expect_close("merged bf16 weight vs prism_adapter_merge", got, want, M * N, 1e-12);
    free(want), free(got);
    prism_st_close(f);
    prism_adapter_destroy(aq);
    prism_tensor_destroy(Wq);
    lora_close(&F);
    t_destroy(dev);
}

/* Two modules in one file, HF-style short target names: merge does both,
 * apply needs --module, inspect lists both. */
Test(apply, multi_module_adapter) {
    prism_context *dev = t_device();
    lora_fx F1, F2;
    lora_open(&F1, dev, "mm1");
    lora_open(&F2, dev, "mm2");
    prism_adapter *a1 = F1.ad, *a2 = F2.ad;
    /* one file: module MODULE from mm1 renamed to ...fc1, from mm2 to ...fc2 */
    prism_st_writer *w;
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    cr_assert_eq(prism_adapter_save_tensors(a1, "base_model.model.model.layers.0.fc1", w), PRISM_OK);
    cr_assert_eq(prism_adapter_save_tensors(a2, "base_model.model.model.layers.0.fc2", w), PRISM_OK);
    cr_assert_eq(mkdir(P("mm"), 0755), 0);
    cr_assert_eq(prism_st_writer_write(w, P("mm/adapter_model.safetensors"), err, sizeof err), PRISM_OK, "%s", err);
    prism_st_writer_destroy(w);
    cJSON *cfg = cJSON_CreateObject();
    cJSON *tm = cJSON_CreateArray();
    cJSON_AddItemToArray(tm, cJSON_CreateString("fc1"));
    cJSON_AddItemToArray(tm, cJSON_CreateString("fc2"));
    cJSON_AddItemToObject(cfg, "target_modules", tm);
    cr_assert_eq(prism_adapter_config_to_json(prism_adapter_get_config(a1), cfg, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(prism_json_write(P("mm/adapter_config.json"), cfg, err, sizeof err), PRISM_OK, "%s", err);
    cJSON_Delete(cfg);

    float f1[M * N], f2[M * N], fb1[M], fb2[M];
    for (int i = 0; i < M * N; i++) f1[i] = (float)F1.W0h[i], f2[i] = (float)F2.W0h[i];
    for (int i = 0; i < M; i++) fb1[i] = (float)F1.bh[i], fb2[i] = (float)F2.bh[i];
    int64_t sw[2] = {M, N}, sb[1] = {M};
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, "model.layers.0.fc1.weight", 2, sw, f1, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, "model.layers.0.fc1.bias", 1, sb, fb1, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, "model.layers.0.fc2.weight", 2, sw, f2, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, "model.layers.0.fc2.bias", 1, sb, fb2, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_write(w, P("mm_base.safetensors"), err, sizeof err), PRISM_OK, "%s", err);
    prism_st_writer_destroy(w);

    run_out r = cli("inspect '%s'", P("mm"));
    cr_assert_eq(r.rc, 0, "inspect exited %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "modules:    2") && has(r.text, "model.layers.0.fc1:") && has(r.text, "model.layers.0.fc2:"),
              "modules not listed:\n%s", r.text);
    free(r.text);
    r = cli("merge -b '%s' -a '%s' -o '%s' --quiet", P("mm_base.safetensors"), P("mm"), P("mm_out.safetensors"));
    cr_assert_eq(r.rc, 0, "merge exited %d:\n%s", r.rc, r.text);
    cr_expect_eq(strlen(r.text), 0, "--quiet printed:\n%s", r.text);
    free(r.text);
    prism_st_file *f = NULL;
    cr_assert_eq(prism_st_open(P("mm_out.safetensors"), 0, &f, err, sizeof err), PRISM_OK, "%s", err);
    prism_adapter *as[2] = {a1, a2};
    const char *keys[2] = {"model.layers.0.fc1.weight", "model.layers.0.fc2.weight"};
    for (int k = 0; k < 2; k++) {
        double *want = merged_weight(dev, as[k]), *got = st_tensor(f, keys[k], M * N);
        expect_close(keys[k], got, want, M * N, 1e-12);
        free(want), free(got);
    }
    prism_st_close(f);

    r = cli("apply -a '%s' -w '%s' --merged '%s'", P("mm"), P("mm_base.safetensors"), P("mmW.npy"));
    cr_expect_eq(r.rc, 2, "apply on two modules without --module: exit %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "--module") && has(r.text, "model.layers.0.fc2"), "message:\n%s", r.text);
    free(r.text);
    r = cli("apply -a '%s' -w '%s' --module model.layers.0.fc2 --merged '%s'", P("mm"), P("mm_base.safetensors"),
            P("mmW.npy"));
    cr_expect_eq(r.rc, 0, "apply --module exited %d:\n%s", r.rc, r.text);
    free(r.text);
    r = cli("apply -a '%s' -w '%s' --module model.layers.0.fc9 --merged '%s'", P("mm"), P("mm_base.safetensors"),
            P("mmW.npy"));
    cr_expect_eq(r.rc, 1, "apply --module (absent) exit %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "fc9"), "message:\n%s", r.text);
    free(r.text);

    lora_close(&F1);
    lora_close(&F2);
    t_destroy(dev);
}

/* ------------------------------------------------------------ inspect */

Test(apply, inspect_reports_method_modules_and_counts) {
    prism_context *dev = t_device();
    lora_fx F;
    lora_open(&F, dev, "ins");
    int64_t count = prism_adapter_trainable_count(F.ad);
    cr_assert_eq(count, 4 * (M + N));
    char want[64];
    snprintf(want, sizeof want, "parameters: %lld", (long long)count);

    run_out r = cli("inspect '%s'", P("ins"));
    cr_assert_eq(r.rc, 0, "prism inspect exited %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "method:     lora"), "no method line:\n%s", r.text);
    cr_expect(has(r.text, want), "no '%s':\n%s", want, r.text);
    cr_expect(has(r.text, MODULE) && has(r.text, "lora_A.weight") && has(r.text, "[4, 16]") &&
                  has(r.text, "lora_B.weight") && has(r.text, "[24, 4]"),
              "modules/tensors missing:\n%s", r.text);
    cr_expect(has(r.text, "\"peft_type\":") && has(r.text, "LORA") && has(r.text, "lora_alpha"),
              "config not printed:\n%s", r.text);
    cr_expect(has(r.text, "bytes:      640 of tensor data"), "bytes:\n%s", r.text);
    free(r.text);

    r = cli("inspect --json '%s'", P("ins"));
    cr_assert_eq(r.rc, 0, "prism inspect --json exited %d:\n%s", r.rc, r.text);
    cJSON *root = NULL;
    cr_assert_eq(prism_json_parse(r.text, strlen(r.text), "inspect --json", &root, err, sizeof err), PRISM_OK,
                 "%s\n%s", err, r.text);
    const char *method = NULL;
    int64_t params = 0;
    cr_expect_eq(prism_json_get_string(root, "method", NULL, &method, err, sizeof err), PRISM_OK);
    cr_expect_str_eq(method ? method : "", "lora");
    cr_expect_eq(prism_json_get_int(root, "parameters", 0, &params, err, sizeof err), PRISM_OK);
    cr_expect_eq(params, count);
    const cJSON *mods = cJSON_GetObjectItemCaseSensitive(root, "modules");
    cr_expect(cJSON_IsArray(mods) && cJSON_GetArraySize(mods) == 1, "modules:\n%s", r.text);
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
    cr_expect(cJSON_IsObject(cfg), "config is not an object");
    cJSON_Delete(root);
    free(r.text);

    /* --base: the adapter is created on the base weight */
    double other[6] = {1, 2, 3, 4, 5, 6};
    write_base(P("ins_base.safetensors"), F.W0h, F.bh, other);
    r = cli("inspect '%s' --base '%s'", P("ins"), P("ins_base.safetensors"));
    cr_assert_eq(r.rc, 0, "prism inspect --base exited %d:\n%s", r.rc, r.text);
    snprintf(want, sizeof want, "trainable:  %lld", (long long)count);
    cr_expect(has(r.text, want) && has(r.text, "layer [24, 16]"), "no trainable/layer line:\n%s", r.text);
    free(r.text);

    lora_close(&F);
    t_destroy(dev);
}

