/* The adapter interface (adapters/adapter.c, adapter_files.c) and the NONE,
 * FULL and LoRA methods: the generic check rows of every built method, config
 * defaults, LoRA's initial state, exact statuses for bad input, the scratch
 * lifecycle (stale streams), gradient accumulation, and a short training run
 * that must lower the loss. Files: test_adapter_files.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "adapter_check.h"
#include "common.h"
#include "prism/adapter.h"
#include "adapter_fixture.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(adapter, .init = setup, .fini = teardown, .timeout = 300);

/* ------------------------------------------------------------------ check rows, per method */

Test(adapter, cases_none) { t_run_cases(&env, "adapter_none"); }
Test(adapter, cases_full) { t_run_cases(&env, "adapter_full"); }
Test(adapter, cases_lora) { t_run_cases(&env, "adapter_lora"); }
Test(adapter, cases_ether) { t_run_cases(&env, "adapter_ether"); } /* + etherplus */
Test(adapter, cases_hut) { t_run_cases(&env, "adapter_hut"); }
Test(adapter, cases_sdctft) { t_run_cases(&env, "adapter_sdctft"); }
Test(adapter, cases_fourierft) { t_run_cases(&env, "adapter_fourierft"); }
Test(adapter, cases_xpeft) { t_run_cases(&env, "adapter_xpeft"); }
Test(adapter, cases_subspace) { t_run_cases(&env, "adapter_subspace"); }

/* ------------------------------------------------------------------ names and defaults */

Test(adapter, method_names_parse) {
    for (int i = 0; i < PRISM_METHOD_COUNT; i++) {
        prism_method m;
        cr_expect_eq(prism_method_parse(prism_method_name((prism_method)i), &m), PRISM_OK);
        cr_expect_eq(m, (prism_method)i);
    }
    static const struct { const char *s; prism_method m; } al[] = {
        {"LORA", PRISM_METHOD_LORA},         {"ETHER_PLUS", PRISM_METHOD_ETHER_PLUS}, {"HIRA", PRISM_METHOD_HUT},
        {"FourierFT", PRISM_METHOD_FOURIERFT}, {"SDCTFT", PRISM_METHOD_SDCTFT},       {"XPEFT", PRISM_METHOD_XPEFT},
        {"SUBSPACE", PRISM_METHOD_SUBSPACE}, {"Full", PRISM_METHOD_FULL},           {"etherplus", PRISM_METHOD_ETHER_PLUS},
    };
    for (size_t i = 0; i < sizeof al / sizeof al[0]; i++) {
        prism_method m;
        cr_expect_eq(prism_method_parse(al[i].s, &m), PRISM_OK, "%s", al[i].s);
        cr_expect_eq(m, al[i].m, "%s", al[i].s);
    }
    prism_method m;
    cr_expect_eq(prism_method_parse("boft", &m), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_method_parse("lor", &m), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_method_parse(NULL, &m), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_str_eq(prism_method_name(PRISM_METHOD_ETHER_PLUS), "etherplus");
}

/* METHODS.md "Decisions for prism" */
Test(adapter, config_defaults) {
    for (int i = 0; i < PRISM_METHOD_COUNT; i++) {
        prism_adapter_config c = prism_adapter_config_default((prism_method)i);
        cr_expect_eq(c.method, (prism_method)i);
        cr_expect_eq(c.seed, 0);
        cr_expect_eq(c.train_bias, 1);
        cr_expect_eq(c.r, 8);
        cr_expect_eq(c.lora_alpha, 8.0f);
        cr_expect_eq(c.hut_s, 1.0f);
        cr_expect_eq(c.blocks, 1);
        cr_expect_eq(c.side, i == PRISM_METHOD_ETHER_PLUS ? PRISM_SIDE_BOTH : PRISM_SIDE_IN);
        cr_expect_eq(c.n_coef, 700);
        cr_expect_eq(c.sdctft_alpha, 300.0f);
        cr_expect_eq(c.delta, 0.7f);
        cr_expect_eq(c.dct_norm, PRISM_DCT_NORM_NONE);
        cr_expect_eq(c.n_frequency, 1000);
        cr_expect_eq(c.fourier_scaling, 150.0f);
        cr_expect_eq(c.random_loc_seed, 777);
        cr_expect_eq(c.init_zero, 0);
        cr_expect_eq(c.n_bank, 64);
        cr_expect_eq(c.k, 0);
        cr_expect_eq(c.mask, PRISM_MASK_HARD);
        cr_expect_eq(c.placement, PRISM_PLACE_PARALLEL);
        cr_expect_eq(c.act, PRISM_ACT_IDENTITY);
        cr_expect_eq(c.bank_seed, 1);
        cr_expect_null(c.ext);
    }
}

/* ------------------------------------------------------------------ LoRA init */

Test(adapter, lora_init_is_frozen_layer) {
    prism_context *ctxs[2] = {env.dev, env.ref};
    float *a_dev = NULL;
    for (int k = 0; k < 2; k++) {
        layer L;
        layer_make(&L, ctxs[k], 7, 13, 5, true, 11);
        prism_adapter *lo = make(&L, PRISM_METHOD_LORA), *no = make(&L, PRISM_METHOD_NONE);
        const prism_param *p;
        cr_assert_eq(prism_adapter_params(lo, &p), 2);
        cr_expect_str_eq(p[0].name, "lora_A.weight");
        cr_expect_str_eq(p[1].name, "lora_B.weight");
        cr_expect_eq(prism_tensor_dim(p[0].value, 0), 4);
        cr_expect_eq(prism_tensor_dim(p[0].value, 1), 13);
        cr_expect_eq(prism_tensor_dim(p[1].value, 0), 7);
        cr_expect_eq(prism_tensor_dim(p[1].value, 1), 4);
        cr_expect_eq(prism_adapter_trainable_count(lo), 4 * (13 + 7));
        float *A = dl(p[0].value), *B = dl(p[1].value);
        double bound = 1.0 / sqrt(13.0), mx = 0;
        for (int i = 0; i < 4 * 13; i++) {
            cr_expect(fabs(A[i]) <= bound && A[i] != 0.0f, "A[%d] = %g outside +-%g", i, A[i], bound);
            mx = fmax(mx, fabs(A[i]));
        }
        cr_expect(mx > 0.5 * bound, "A does not spread over its range (max %g)", mx);
        for (int i = 0; i < 7 * 4; i++) cr_expect_eq(B[i], 0.0f);
        if (k == 0) a_dev = A;
        else {
            /* Philox draws are bit-identical on every backend */
            cr_expect_arr_eq(a_dev, A, sizeof(float) * 4 * 13);
            free(A);
        }
        free(B);
        /* step 0: exactly the frozen layer */
        int64_t ys[2] = {L.T, L.m};
        prism_tensor *Y2;
        prism_stream *s;
        cr_assert_eq(prism_tensor_create(L.ctx, 2, ys, &Y2), PRISM_OK);
        cr_assert_eq(prism_stream_create(L.ctx, &s), PRISM_OK);
        cr_assert_eq(prism_adapter_forward(s, lo, L.X, L.Y), PRISM_OK);
        cr_assert_eq(prism_adapter_forward(s, no, L.X, Y2), PRISM_OK);
        run(s);
        float *y1 = dl(L.Y), *y2 = dl(Y2);
        cr_expect_arr_eq(y1, y2, sizeof(float) * (size_t)(L.T * L.m), "LoRA at init differs from the frozen layer");
        free(y1);
        free(y2);
        prism_stream_destroy(s);
        prism_tensor_destroy(Y2);
        prism_adapter_destroy(lo);
        prism_adapter_destroy(no);
        layer_free(&L);
    }
    free(a_dev);
}

Test(adapter, counts_and_bytes) {
    layer L;
    layer_make(&L, env.dev, 9, 6, 4, true, 3);
    prism_adapter *no = make(&L, PRISM_METHOD_NONE), *fu = make(&L, PRISM_METHOD_FULL), *lo = make(&L, PRISM_METHOD_LORA);
    cr_expect_eq(prism_adapter_trainable_count(no), 0);
    cr_expect_eq(prism_adapter_params(no, NULL), 0);
    cr_expect_eq(prism_adapter_trainable_count(fu), 9 * 6 + 9);
    cr_expect_eq(prism_adapter_trainable_count(lo), 4 * (9 + 6));
    cr_expect_eq(prism_adapter_extra_bytes(lo), 2 * 4 * 4 * (9 + 6)); /* values + grads, no scratch yet */
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s, lo, L.X, L.Y), PRISM_OK);
    run(s);
    /* + H [T, r] and the ones [T, 1] */
    cr_expect_eq(prism_adapter_extra_bytes(lo), 2 * 4 * 4 * (9 + 6) + 4 * (4 * 4 + 4));
    cr_expect_eq(prism_adapter_method(lo), PRISM_METHOD_LORA);
    cr_expect_eq(prism_adapter_out_features(lo), 9);
    cr_expect_eq(prism_adapter_in_features(lo), 6);
    cr_expect_eq(prism_adapter_context(lo), env.dev);
    cr_expect_eq(prism_adapter_get_config(lo)->r, 4);
    /* FULL without a trained bias has only the weight */
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_FULL);
    c.train_bias = 0;
    prism_adapter *fw;
    cr_assert_eq(prism_adapter_create(env.dev, &c, L.W0, L.b, &fw), PRISM_OK);
    cr_expect_eq(prism_adapter_trainable_count(fw), 9 * 6);
    prism_stream_destroy(s);
    prism_adapter_destroy(fw);
    prism_adapter_destroy(no);
    prism_adapter_destroy(fu);
    prism_adapter_destroy(lo);
    layer_free(&L);
}

/* ------------------------------------------------------------------ bad input */

Test(adapter, bad_input_statuses) {
    layer L, R;
    layer_make(&L, env.dev, 7, 5, 3, true, 21);
    layer_make(&R, env.ref, 7, 5, 3, true, 21);
    prism_adapter *ad = make(&L, PRISM_METHOD_LORA), *bad = (prism_adapter *)0x1;
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_LORA);
    prism_stream *s, *sr;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.ref, &sr), PRISM_OK);
    int64_t xs6[2] = {3, 6}, ys4[2] = {4, 7}, v5 = 5, w1[1] = {35}, b8 = 8;
    prism_tensor *X6, *Y4, *vec, *W1, *b8t;
    cr_assert_eq(prism_tensor_create(env.dev, 2, xs6, &X6), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, ys4, &Y4), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &v5, &vec), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, w1, &W1), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &b8, &b8t), PRISM_OK);

    /* create */
    c.r = 0;
    cr_expect_eq(prism_adapter_create(env.dev, &c, L.W0, L.b, &bad), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_null(bad);
    expect_msg(env.dev, "lora", "r = 0");
    c.r = 4;
    c.lora_alpha = NAN;
    cr_expect_eq(prism_adapter_create(env.dev, &c, L.W0, L.b, &bad), PRISM_ERR_INVALID_ARGUMENT);
    c.lora_alpha = 8;
    cr_expect_eq(prism_adapter_create(env.dev, NULL, L.W0, L.b, &bad), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_adapter_create(env.dev, &c, NULL, L.b, &bad), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_adapter_create(env.dev, &c, L.W0, L.b, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_adapter_create(NULL, &c, L.W0, L.b, &bad), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_adapter_create(env.dev, &c, W1, NULL, &bad), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_adapter_create(env.dev, &c, L.W0, b8t, &bad), PRISM_ERR_SHAPE);
    expect_msg(env.dev, "[8]", "[7, 5]");
    cr_expect_eq(prism_adapter_create(env.dev, &c, R.W0, NULL, &bad), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_adapter_create(env.dev, &c, L.W0, R.b, &bad), PRISM_ERR_WRONG_CONTEXT);
    c.method = PRISM_METHOD_COUNT;
    cr_expect_eq(prism_adapter_create(env.dev, &c, L.W0, L.b, &bad), PRISM_ERR_INVALID_ARGUMENT);
    c.method = (prism_method)-1;
    cr_expect_eq(prism_adapter_create(env.dev, &c, L.W0, L.b, &bad), PRISM_ERR_INVALID_ARGUMENT);
    c = prism_adapter_config_default(PRISM_METHOD_FULL);
    c.train_bias = 2;
    cr_expect_eq(prism_adapter_create(env.dev, &c, L.W0, L.b, &bad), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_null(bad);

    /* forward */
    cr_expect_eq(prism_adapter_forward(s, ad, X6, L.Y), PRISM_ERR_SHAPE);
    expect_msg(env.dev, "lora", "[3, 6]");
    cr_expect_eq(prism_adapter_forward(s, ad, L.X, Y4), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_adapter_forward(s, ad, vec, L.Y), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_adapter_forward(s, ad, NULL, L.Y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_adapter_forward(s, ad, L.X, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_adapter_forward(s, NULL, L.X, L.Y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_adapter_forward(NULL, ad, L.X, L.Y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_adapter_forward(s, ad, R.X, L.Y), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_adapter_forward(s, ad, L.X, R.Y), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_adapter_forward(sr, ad, L.X, L.Y), PRISM_ERR_WRONG_CONTEXT);
    /* Y aliasing X, or written over W0 */
    prism_tensor *alias;
    int64_t as[2] = {3, 7};
    cr_assert_eq(prism_tensor_view(L.W0, 0, 2, as, &alias), PRISM_OK);
    cr_expect_eq(prism_adapter_forward(s, ad, L.X, alias), PRISM_ERR_INVALID_ARGUMENT);
    prism_tensor_destroy(alias);

    /* backward: nothing recorded yet, then for another X */
    cr_expect_eq(prism_adapter_backward(s, ad, L.X, L.dY, L.dX), PRISM_ERR_STATE);
    expect_msg(env.dev, "lora", "forward");
    cr_assert_eq(prism_adapter_forward(s, ad, L.X, L.Y), PRISM_OK);
    prism_tensor *X2;
    int64_t xs[2] = {3, 5};
    cr_assert_eq(prism_tensor_create(env.dev, 2, xs, &X2), PRISM_OK);
    cr_expect_eq(prism_adapter_backward(s, ad, X2, L.dY, L.dX), PRISM_ERR_STATE);
    cr_expect_eq(prism_adapter_backward(s, ad, L.X, Y4, L.dX), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_adapter_backward(s, ad, L.X, L.dY, X6), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_adapter_backward(s, ad, L.X, NULL, L.dX), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_adapter_backward(s, ad, L.X, R.dY, L.dX), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_adapter_backward(s, ad, L.X, L.dY, L.X), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_adapter_backward(s, ad, L.X, L.dY, L.dX), PRISM_OK);
    cr_expect_eq(prism_adapter_backward(s, ad, L.X, L.dY, NULL), PRISM_OK);

    /* merge */
    cr_expect_eq(prism_adapter_merge(s, ad, L.Y), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_adapter_merge(s, ad, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_adapter_merge(s, ad, R.W0), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_adapter_merge(s, ad, (prism_tensor *)L.W0), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_adapter_zero_grad(NULL, ad), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_adapter_zero_grad(sr, ad), PRISM_ERR_WRONG_CONTEXT);
    run(s);
    /* a submitted stream records nothing more */
    cr_expect_eq(prism_adapter_forward(s, ad, L.X, L.Y), PRISM_ERR_STATE);

    /* accessors tolerate NULL */
    cr_expect_eq(prism_adapter_params(NULL, NULL), 0);
    cr_expect_eq(prism_adapter_trainable_count(NULL), 0);
    cr_expect_eq(prism_adapter_extra_bytes(NULL), 0);
    prism_adapter_destroy(NULL);

    prism_tensor *t[] = {X6, Y4, vec, W1, b8t, X2};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) prism_tensor_destroy(t[i]);
    prism_stream_destroy(s);
    prism_stream_destroy(sr);
    prism_adapter_destroy(ad);
    layer_free(&L);
    layer_free(&R);
}

/* ------------------------------------------------------------------ scratch lifecycle */

/* A forward with a larger T re-allocates scratch: streams recorded before
 * are stale; a smaller T later re-uses the storage (no new staleness). */
Test(adapter, larger_T_makes_old_streams_stale) {
    layer L, B;
    layer_make(&L, env.dev, 7, 5, 3, true, 31);
    layer_make(&B, env.dev, 7, 5, 6, true, 32);
    prism_adapter *ad = make(&L, PRISM_METHOD_LORA);
    prism_stream *s1, *s2, *s3;
    cr_assert_eq(prism_stream_create(env.dev, &s1), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s2), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s3), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s1, ad, L.X, L.Y), PRISM_OK);
    cr_assert_eq(prism_adapter_backward(s1, ad, L.X, L.dY, L.dX), PRISM_OK);
    run(s1);
    run(s1);
    cr_assert_eq(prism_adapter_forward(s2, ad, B.X, B.Y), PRISM_OK);
    cr_assert_eq(prism_adapter_backward(s2, ad, B.X, B.dY, B.dX), PRISM_OK);
    run(s2);
    cr_expect_eq(prism_stream_run(s1), PRISM_ERR_STALE);
    cr_assert_eq(prism_adapter_forward(s3, ad, L.X, L.Y), PRISM_OK);
    cr_assert_eq(prism_adapter_backward(s3, ad, L.X, L.dY, L.dX), PRISM_OK);
    run(s3);
    run(s2);
    run(s3);
    prism_stream_destroy(s1);
    prism_stream_destroy(s2);
    prism_stream_destroy(s3);
    prism_adapter_destroy(ad);
    layer_free(&L);
    layer_free(&B);
}

/* ------------------------------------------------------------------ gradients accumulate */

Test(adapter, zero_grad_and_accumulation) {
    prism_method ms[2] = {PRISM_METHOD_FULL, PRISM_METHOD_LORA};
    for (int k = 0; k < 2; k++) {
        layer L;
        layer_make(&L, env.dev, 8, 6, 5, true, 41);
        prism_adapter *ad = make(&L, ms[k]);
        cr_assert_eq(pc_adapter_randomize(ad, 7, 0.5f), PRISM_OK);
        const prism_param *p;
        int np = prism_adapter_params(ad, &p);
        prism_stream *s;
        cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
        cr_assert_eq(prism_adapter_zero_grad(s, ad), PRISM_OK);
        cr_assert_eq(prism_adapter_forward(s, ad, L.X, L.Y), PRISM_OK);
        cr_assert_eq(prism_adapter_backward(s, ad, L.X, L.dY, L.dX), PRISM_OK);
        run(s);
        float *g1[4];
        for (int i = 0; i < np; i++) g1[i] = dl(p[i].grad);
        cr_assert_eq(prism_stream_reset(s), PRISM_OK);
        cr_assert_eq(prism_adapter_backward(s, ad, L.X, L.dY, NULL), PRISM_OK);
        run(s);
        for (int i = 0; i < np; i++) {
            float *g2 = dl(p[i].grad);
            int64_t n = prism_tensor_numel(p[i].grad);
            bool nz = false;
            for (int64_t j = 0; j < n; j++) {
                cr_expect(fabsf(g2[j] - 2 * g1[i][j]) <= 1e-6f * fabsf(g1[i][j]), "%s %s[%lld]: %g vs 2 x %g",
                          prism_method_name(ms[k]), p[i].name, (long long)j, g2[j], g1[i][j]);
                nz |= g1[i][j] != 0.0f;
            }
            cr_expect(nz, "%s: gradient of %s is all zero", prism_method_name(ms[k]), p[i].name);
            free(g2);
        }
        cr_assert_eq(prism_stream_reset(s), PRISM_OK);
        cr_assert_eq(prism_adapter_zero_grad(s, ad), PRISM_OK);
        run(s);
        for (int i = 0; i < np; i++) {
            float *g = dl(p[i].grad);
            for (int64_t j = 0; j < prism_tensor_numel(p[i].grad); j++) cr_expect_eq(g[j], 0.0f);
            free(g);
            free(g1[i]);
        }
        prism_stream_destroy(s);
        prism_adapter_destroy(ad);
        layer_free(&L);
    }
}

/* ------------------------------------------------------------------ training */

/* Regression onto Y* = X (W0 + D)^T + b with D of rank 2: AdamW over
 * prism_adapter_params, one recorded step replayed; the MSE must fall to a
 * small fraction of its start (LoRA r = 4 can represent D exactly). */
static void train(prism_context *ctx, prism_method meth) {
    enum { M = 12, N = 10, T = 32, STEPS = 60 };
    layer L;
    layer_make(&L, ctx, M, N, T, true, 81);
    float u[M * 2], v[2 * N], w0[M * N], x[T * N], b[M], yt[T * M];
    pc_random(82, u, M * 2, -0.5f, 0.5f);
    pc_random(83, v, 2 * N, -0.5f, 0.5f);
    cr_assert_eq(prism_tensor_download((prism_tensor *)L.W0, w0, M * N), PRISM_OK);
    cr_assert_eq(prism_tensor_download(L.X, x, T * N), PRISM_OK);
    cr_assert_eq(prism_tensor_download(L.b, b, M), PRISM_OK);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < M; i++) {
            double s = b[i];
            for (int j = 0; j < N; j++) s += x[t * N + j] * (w0[i * N + j] + u[i * 2] * v[j] + u[i * 2 + 1] * v[N + j]);
            yt[t * M + i] = (float)s;
        }
    int64_t ys[2] = {T, M};
    prism_tensor *Yt, *state, *mom[4] = {0}, *var[4] = {0};
    cr_assert_eq(prism_tensor_create(ctx, 2, ys, &Yt), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(Yt, yt, T * M), PRISM_OK);
    prism_adapter *ad = make(&L, meth);
    const prism_param *p;
    int np = prism_adapter_params(ad, &p);
    prism_adamw_params hp = prism_adamw_params_default();
    hp.weight_decay = 0;
    cr_assert_eq(prism_optim_state_create(ctx, 0.02f, &state), PRISM_OK);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(ctx, &s), PRISM_OK);
    for (int i = 0; i < np; i++) {
        int64_t shape[4];
        int nd = prism_tensor_ndim(p[i].value);
        for (int d = 0; d < nd; d++) shape[d] = prism_tensor_dim(p[i].value, d);
        cr_assert_eq(prism_tensor_create(ctx, nd, shape, &mom[i]), PRISM_OK);
        cr_assert_eq(prism_tensor_create(ctx, nd, shape, &var[i]), PRISM_OK);
        cr_assert_eq(prism_fill(s, mom[i], 0), PRISM_OK);
        cr_assert_eq(prism_fill(s, var[i], 0), PRISM_OK);
    }
    run(s);
    cr_assert_eq(prism_stream_reset(s), PRISM_OK);
    /* one step: loss = mean (Y - Y*)^2, dY = 2 (Y - Y*) / (T M) */
    cr_assert_eq(prism_adapter_zero_grad(s, ad), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s, ad, L.X, L.Y), PRISM_OK);
    cr_assert_eq(prism_copy(s, L.Y, L.dY), PRISM_OK);
    cr_assert_eq(prism_axpy(s, -1.0f, Yt, L.dY), PRISM_OK);
    cr_assert_eq(prism_scale(s, L.dY, 2.0f / (T * M), L.dY), PRISM_OK);
    cr_assert_eq(prism_adapter_backward(s, ad, L.X, L.dY, NULL), PRISM_OK);
    cr_assert_eq(prism_optim_tick(s, &hp, state), PRISM_OK);
    for (int i = 0; i < np; i++)
        if (p[i].trainable) cr_assert_eq(prism_adamw(s, &hp, state, p[i].value, p[i].grad, mom[i], var[i]), PRISM_OK);
    double first = 0, last = 0;
    for (int step = 0; step < STEPS; step++) {
        run(s);
        float *d = dl(L.dY);
        double l = 0;
        for (int i = 0; i < T * M; i++) l += (d[i] * (T * M) / 2.0) * (d[i] * (T * M) / 2.0);
        l /= T * M;
        free(d);
        cr_assert(isfinite(l));
        if (step == 0) first = l;
        last = l;
    }
    cr_expect(first > 1e-3, "%s: the target is too easy (loss %g)", prism_method_name(meth), first);
    cr_expect(last < 0.1 * first, "%s on %s: loss %g -> %g after %d steps", prism_method_name(meth),
              prism_context_backend(ctx) == PRISM_BACKEND_REFERENCE ? "reference" : "device", first, last, STEPS);
    for (int i = 0; i < np; i++) {
        prism_tensor_destroy(mom[i]);
        prism_tensor_destroy(var[i]);
    }
    prism_stream_destroy(s);
    prism_tensor_destroy(state);
    prism_tensor_destroy(Yt);
    prism_adapter_destroy(ad);
    layer_free(&L);
}

Test(adapter, train_full_device) { train(env.dev, PRISM_METHOD_FULL); }
Test(adapter, train_full_reference) { train(env.ref, PRISM_METHOD_FULL); }
Test(adapter, train_lora_device) { train(env.dev, PRISM_METHOD_LORA); }
Test(adapter, train_lora_reference) { train(env.ref, PRISM_METHOD_LORA); }
