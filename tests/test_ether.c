/* ETHER / ETHER+ adapters (adapters/ether.c): the side variants the generic
 * adapter rows do not cover (device vs reference, FD, merge), the
 * initialisation (ETHER a reflection at distance 2 from I per block, ETHER+
 * exactly the frozen layer), parameter names and counts, zero and NaN
 * vectors refused when a file is loaded, save/load round trips with the
 * config, and bad configurations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "file_fixture.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(ether, .init = setup, .fini = teardown, .timeout = 300);

Test(ether, side_cases) {
    const pc_case *cases;
    int n = pc_all_cases(&cases), ran = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(cases[i].op, "ether_adapter")) continue;
        pc_result r;
        pc_run_case(&env, &cases[i], &r);
        ran++;
        cr_expect_eq(r.outcome, PC_PASS, "%s (%s): %s", cases[i].shape, cases[i].kind, r.detail);
    }
    cr_assert_gt(ran, 0);
}

static prism_adapter *make_cfg(layer *L, prism_method meth, prism_side side, int blocks, uint64_t seed) {
    prism_adapter_config c = prism_adapter_config_default(meth);
    c.side = side;
    c.blocks = blocks;
    c.seed = seed;
    return fx_create(L->ctx, &c, L->W0, L->b);
}

/* W0 = I makes the merged weight H itself. */
static float *merged_identity(prism_context *ctx, prism_method meth, prism_side side, int64_t d, int blocks,
                              uint64_t seed) {
    layer L;
    layer_make(&L, ctx, d, d, 2, false, 3);
    float *eye = calloc((size_t)(d * d), sizeof(float));
    for (int64_t i = 0; i < d; i++) eye[i * d + i] = 1;
    cr_assert_eq(prism_tensor_upload(L.W0, eye, d * d), PRISM_OK);
    prism_adapter *ad = make_cfg(&L, meth, side, blocks, seed);
    prism_tensor *W = fx_merged_weight(L.ctx, ad, L.m, L.n);
    float *h = dl(W);
    prism_tensor_destroy(W);
    prism_adapter_destroy(ad);
    layer_free(&L);
    free(eye);
    return h;
}

/* ETHER starts at a random reflection (METHODS.md §1.6): per block
 * ||H_i - I||_F = 2, H orthogonal and symmetric, nothing outside the blocks;
 * on both backends, for the input and the output side, and the seed decides. */
Test(ether, ether_init_is_a_reflection_per_block) {
    enum { D = 12, NB = 3, B = D / NB };
    prism_context *ctxs[2] = {env.dev, env.ref};
    prism_side sides[2] = {PRISM_SIDE_IN, PRISM_SIDE_OUT};
    for (int k = 0; k < 2; k++)
        for (int si = 0; si < 2; si++) {
            float *H = merged_identity(ctxs[k], PRISM_METHOD_ETHER, sides[si], D, NB, 7);
            for (int blk = 0; blk < NB; blk++) {
                double f2 = 0;
                for (int i = 0; i < B; i++)
                    for (int j = 0; j < B; j++) {
                        double h = H[(blk * B + i) * D + blk * B + j] - (i == j);
                        f2 += h * h;
                    }
                cr_expect(fabs(sqrt(f2) - 2.0) < 1e-5, "block %d: ||H - I||_F = %g, expected 2", blk, sqrt(f2));
            }
            for (int i = 0; i < D; i++)
                for (int j = 0; j < D; j++) {
                    if (i / B != j / B) cr_expect_eq(H[i * D + j], 0.0f, "H[%d,%d] outside the blocks", i, j);
                    cr_expect(fabsf(H[i * D + j] - H[j * D + i]) < 1e-6f, "H symmetric at %d,%d", i, j);
                    double hh = 0;
                    for (int q = 0; q < D; q++) hh += (double)H[q * D + i] * H[q * D + j];
                    cr_expect(fabs(hh - (i == j)) < 1e-5, "H^T H = I at %d,%d: %g", i, j, hh);
                }
            float *H2 = merged_identity(ctxs[k], PRISM_METHOD_ETHER, sides[si], D, NB, 7);
            float *H3 = merged_identity(ctxs[k], PRISM_METHOD_ETHER, sides[si], D, NB, 8);
            cr_expect_arr_eq(H, H2, sizeof(float) * D * D, "same seed, same init");
            cr_expect(memcmp(H, H3, sizeof(float) * D * D) != 0, "another seed, another reflection");
            free(H);
            free(H2);
            free(H3);
        }
}

/* Kaiming-uniform(a = sqrt 5) per block: |u| <= 1/sqrt(d/blocks); the two
 * sides draw different numbers; ETHER+ has v = -u exactly. */
Test(ether, parameters_names_counts_and_init_values) {
    layer L;
    layer_make(&L, env.dev, 8, 12, 3, true, 11);
    prism_adapter *e = make_cfg(&L, PRISM_METHOD_ETHER, PRISM_SIDE_BOTH, 4, 1);
    prism_adapter *p = make_cfg(&L, PRISM_METHOD_ETHER_PLUS, PRISM_SIDE_BOTH, 2, 1);
    const prism_param *pe, *pp;
    cr_assert_eq(prism_adapter_params(e, &pe), 2);
    cr_assert_eq(prism_adapter_params(p, &pp), 4);
    cr_expect_str_eq(pe[0].name, "ether_u_in");
    cr_expect_str_eq(pe[1].name, "ether_u_out");
    const char *names[4] = {"ether_u_in", "ether_v_in", "ether_u_out", "ether_v_out"};
    for (int i = 0; i < 4; i++) cr_expect_str_eq(pp[i].name, names[i]);
    cr_expect_eq(prism_adapter_trainable_count(e), 12 + 8);
    cr_expect_eq(prism_adapter_trainable_count(p), 2 * (12 + 8));
    cr_expect_eq(prism_tensor_dim(pe[0].value, 0), 4);
    cr_expect_eq(prism_tensor_dim(pe[0].value, 1), 3);
    cr_expect_eq(prism_tensor_dim(pe[1].value, 1), 2);
    float *ui = dl(pe[0].value), *uo = dl(pe[1].value);
    for (int i = 0; i < 12; i++) cr_expect(ui[i] != 0 && fabsf(ui[i]) <= 1 / sqrtf(3.0f), "u_in[%d] = %g", i, ui[i]);
    for (int i = 0; i < 8; i++) cr_expect(uo[i] != 0 && fabsf(uo[i]) <= 1 / sqrtf(2.0f), "u_out[%d] = %g", i, uo[i]);
    cr_expect(ui[0] != uo[0] || ui[1] != uo[1], "the sides draw different numbers");
    for (int side = 0; side < 2; side++) {
        float *u = dl(pp[2 * side].value), *v = dl(pp[2 * side + 1].value);
        int64_t n = prism_tensor_numel(pp[2 * side].value);
        for (int64_t i = 0; i < n; i++) cr_expect_eq(v[i], -u[i], "v = -u at %lld", (long long)i);
        free(u);
        free(v);
    }
    free(ui);
    free(uo);
    prism_adapter_destroy(e);
    prism_adapter_destroy(p);
    layer_free(&L);
}

/* ETHER+ at init is the frozen layer (forward and merge), on every side. */
Test(ether, ether_plus_init_is_the_frozen_layer) {
    prism_context *ctxs[2] = {env.dev, env.ref};
    prism_side sides[3] = {PRISM_SIDE_IN, PRISM_SIDE_OUT, PRISM_SIDE_BOTH};
    for (int k = 0; k < 2; k++)
        for (int si = 0; si < 3; si++) {
            layer L;
            layer_make(&L, ctxs[k], 10, 6, 5, true, 21);
            prism_adapter *p = make_cfg(&L, PRISM_METHOD_ETHER_PLUS, sides[si], 2, 4), *f = make(&L, PRISM_METHOD_NONE);
            prism_tensor *Wm = fx_merged_weight(L.ctx, p, L.m, L.n);
            float *y, *yf, *w = dl(Wm), *w0 = dl(L.W0);
            fx_forward_pair(&L, p, f, &y, &yf);
            /* fp32 rounding only: x - a + a with a = u(u.x)/(u.u) */
            for (int64_t i = 0; i < L.T * L.m; i++)
                cr_expect(fabsf(y[i] - yf[i]) <= 1e-6f * (1 + fabsf(yf[i])), "side %d Y[%lld]: %g vs frozen %g", si,
                          (long long)i, y[i], yf[i]);
            for (int64_t i = 0; i < L.m * L.n; i++)
                cr_expect(fabsf(w[i] - w0[i]) <= 1e-6f, "side %d merged W[%lld]: %g vs W0 %g", si, (long long)i, w[i],
                          w0[i]);
            free(y);
            free(yf);
            free(w);
            free(w0);
            prism_tensor_destroy(Wm);
            prism_adapter_destroy(p);
            prism_adapter_destroy(f);
            layer_free(&L);
        }
}

Test(ether, bad_configs) {
    layer L;
    layer_make(&L, env.dev, 6, 8, 2, true, 31);
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_ETHER);
    prism_adapter *ad = (prism_adapter *)1;
    c.blocks = 0;
    cr_expect_eq(prism_adapter_create(L.ctx, &c, L.W0, L.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_null(ad);
    expect_msg(L.ctx, "ether", "blocks");
    c.blocks = 3; /* divides m = 6, not n = 8 */
    cr_expect_eq(prism_adapter_create(L.ctx, &c, L.W0, L.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg(L.ctx, "blocks = 3", "input dimension 8");
    c.side = PRISM_SIDE_OUT; /* now fine: 3 divides 6 */
    cr_expect_eq(prism_adapter_create(L.ctx, &c, L.W0, L.b, &ad), PRISM_OK, "%s", prism_error_message(L.ctx));
    prism_adapter_destroy(ad);
    c.side = PRISM_SIDE_BOTH;
    cr_expect_eq(prism_adapter_create(L.ctx, &c, L.W0, L.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    c.blocks = 2;
    c.side = (prism_side)7;
    cr_expect_eq(prism_adapter_create(L.ctx, &c, L.W0, L.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg(L.ctx, "side", NULL);
    c.method = PRISM_METHOD_ETHER_PLUS;
    c.side = PRISM_SIDE_BOTH;
    c.blocks = 4; /* divides 8, not 6 */
    cr_expect_eq(prism_adapter_create(L.ctx, &c, L.W0, L.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg(L.ctx, "etherplus", "output dimension 6");
    layer_free(&L);
}

/* ------------------------------------------------------------------ files */

Test(ether, save_load_round_trip_with_config) {
    struct { prism_method m; prism_side side; int blocks; const char *type; } v[3] = {
        {PRISM_METHOD_ETHER, PRISM_SIDE_BOTH, 2, "ETHER"},
        {PRISM_METHOD_ETHER_PLUS, PRISM_SIDE_OUT, 5, "ETHER_PLUS"},
        {PRISM_METHOD_ETHER_PLUS, PRISM_SIDE_IN, 4, "ETHER_PLUS"},
    };
    for (int k = 0; k < 3; k++) {
        layer L;
        layer_make(&L, env.dev, 10, 8, 3, true, 41);
        prism_adapter *ad = make_cfg(&L, v[k].m, v[k].side, v[k].blocks, 5);
        cr_assert_eq(pc_adapter_randomize(ad, 77, 0.5f), PRISM_OK);
        char *dir = fx_tmpdir("ether");
        fx_save(ad, dir, "blocks.0.attn.q_proj");
        /* the config names the method, the blocks and the side */
        cJSON *root = fx_read_config(dir);
        cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(root, "peft_type")->valuestring, v[k].type);
        cr_expect_eq(cJSON_GetObjectItemCaseSensitive(root, "blocks")->valueint, v[k].blocks);
        const char *sides[3] = {"in", "out", "both"};
        cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(root, "side")->valuestring, sides[v[k].side]);
        cJSON_Delete(root);
        /* the tensors under HF-style keys */
        prism_st_file *f = fx_open_tensors(dir);
        const prism_param *p;
        int np = prism_adapter_params(ad, &p);
        for (int i = 0; i < np; i++) {
            char key[256];
            snprintf(key, sizeof key, "base_model.model.blocks.0.attn.q_proj.%s", p[i].name);
            cr_expect_not_null(prism_st_find(f, key), "key %s", key);
        }
        prism_st_close(f);

        prism_adapter *back = fx_load(&L, dir, "blocks.0.attn.q_proj", true);
        const prism_adapter_config *bc = prism_adapter_get_config(back);
        cr_expect_eq(prism_adapter_method(back), v[k].m);
        cr_expect_eq(bc->blocks, v[k].blocks);
        cr_expect_eq(bc->side, v[k].side);
        fx_expect_same_params(ad, back);
        fx_expect_same_forward(&L, ad, back, "same outputs after the round trip");
        prism_adapter_destroy(back);
        prism_adapter_destroy(ad);
        fx_tmpdir_done(dir);
        layer_free(&L);
    }
}

/* A file holding a zero block (0/0 reflection) is refused with
 * PRISM_ERR_NOT_FINITE naming the key and the block; a NaN is refused by the
 * generic loader (PRISM_ERR_FORMAT). The adapter is not created. */
static void load_with(prism_method m, int param, int64_t at, int64_t count, float value, prism_status want,
                      const char *msg_a, const char *msg_b) {
    layer L;
    layer_make(&L, env.dev, 8, 6, 2, false, 51);
    prism_adapter *ad = make_cfg(&L, m, PRISM_SIDE_BOTH, 2, 9), *back = (prism_adapter *)1;
    const prism_param *p;
    prism_adapter_params(ad, &p);
    float *h = dl(p[param].value);
    for (int64_t i = at; i < at + count; i++) h[i] = value;
    cr_assert_eq(prism_tensor_upload(p[param].value, h, prism_tensor_numel(p[param].value)), PRISM_OK);
    char *dir = fx_tmpdir("ether");
    fx_save(ad, dir, "fc");
    cr_expect_eq(prism_adapter_load(L.ctx, dir, "fc", L.W0, NULL, &back), want);
    cr_expect_null(back);
    expect_msg(L.ctx, msg_a, msg_b);
    fx_tmpdir_done(dir);
    free(h);
    prism_adapter_destroy(ad);
    layer_free(&L);
}

Test(ether, zero_or_nan_vector_is_refused_at_load) {
    /* ETHER both, blocks 2: u_in [2, 3], u_out [2, 4] */
    load_with(PRISM_METHOD_ETHER, 0, 3, 3, 0.0f, PRISM_ERR_NOT_FINITE, "ether_u_in", "block 1");
    load_with(PRISM_METHOD_ETHER, 1, 0, 4, 0.0f, PRISM_ERR_NOT_FINITE, "ether_u_out", "block 0");
    /* ETHER+: v_out [2, 4] */
    load_with(PRISM_METHOD_ETHER_PLUS, 3, 4, 4, 0.0f, PRISM_ERR_NOT_FINITE, "ether_v_out", "block 1");
    load_with(PRISM_METHOD_ETHER, 0, 1, 1, NAN, PRISM_ERR_FORMAT, "ether_u_in", "not finite");
    /* a single zero element is fine: only a whole zero block is undefined */
    layer L;
    layer_make(&L, env.dev, 8, 6, 2, false, 51);
    prism_adapter *ad = make_cfg(&L, PRISM_METHOD_ETHER, PRISM_SIDE_IN, 1, 9);
    const prism_param *p;
    prism_adapter_params(ad, &p);
    float *h = dl(p[0].value);
    h[2] = 0;
    cr_assert_eq(prism_tensor_upload(p[0].value, h, 6), PRISM_OK);
    char *dir = fx_tmpdir("ether");
    fx_save(ad, dir, "fc");
    prism_adapter_destroy(fx_load(&L, dir, "fc", false));
    fx_tmpdir_done(dir);
    free(h);
    prism_adapter_destroy(ad);
    layer_free(&L);
}

Test(ether, config_json) {
    char err[256];
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_ETHER_PLUS), back;
    c.blocks = 32;
    c.side = PRISM_SIDE_OUT;
    cJSON *o = cJSON_CreateObject();
    cr_assert_eq(prism_adapter_config_to_json(&c, o, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(prism_adapter_config_from_json(o, &back, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(back.method, PRISM_METHOD_ETHER_PLUS);
    cr_expect_eq(back.blocks, 32);
    cr_expect_eq(back.side, PRISM_SIDE_OUT);
    cJSON_DeleteItemFromObjectCaseSensitive(o, "side");
    cJSON_AddStringToObject(o, "side", "sideways");
    cr_expect_eq(prism_adapter_config_from_json(o, &back, err, sizeof err), PRISM_ERR_FORMAT);
    cr_expect(strstr(err, "side"), "%s", err);
    cJSON_DeleteItemFromObjectCaseSensitive(o, "side");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "blocks");
    cJSON_AddNumberToObject(o, "blocks", 0);
    cr_expect_eq(prism_adapter_config_from_json(o, &back, err, sizeof err), PRISM_ERR_FORMAT);
    /* absent fields keep the method's defaults */
    cJSON_DeleteItemFromObjectCaseSensitive(o, "blocks");
    cr_assert_eq(prism_adapter_config_from_json(o, &back, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(back.blocks, 1);
    cr_expect_eq(back.side, PRISM_SIDE_BOTH);
    cJSON_Delete(o);
}
