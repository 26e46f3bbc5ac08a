/* X-PEFT: the xpeft ops (every check case: device vs reference, finite
 * differences), exact statuses for bad input, the top-k tie rule and NaN
 * rows, the adapter (generic and variant check rows, config validation, only
 * the logits train, determinism, save/load with a seed bank and with a tensor
 * bank) and banks built from saved LoRA adapters: an X-PEFT adapter whose
 * hard masks pick member j with k = 1 is exactly LoRA adapter j. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "file_fixture.h"
#include "prism/xpeft.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(xpeft, .init = setup, .fini = teardown, .timeout = 300);

Test(xpeft, mask_cases) { t_run_cases(&env, "xpeft_mask"); } /* also xpeft_mask_backward */
Test(xpeft, bank_sum_cases) { t_run_cases(&env, "xpeft_bank_sum"); }
Test(xpeft, bank_grad_cases) { t_run_cases(&env, "xpeft_bank_grad"); }
Test(xpeft, adapter_cases) { t_run_cases(&env, "adapter_xpeft"); }

static prism_tensor *tens(prism_context *ctx, int nd, int64_t a, int64_t b, const float *h) {
    int64_t s[2] = {a, b};
    prism_tensor *t = NULL;
    cr_assert_eq(prism_tensor_create(ctx, nd, s, &t), PRISM_OK);
    if (h) cr_assert_eq(prism_tensor_upload(t, h, prism_tensor_numel(t)), PRISM_OK);
    return t;
}

Test(xpeft, bad_input_statuses) {
    prism_context *c = env.dev;
    prism_tensor *l = tens(c, 2, 3, 8, NULL), *w = tens(c, 2, 3, 8, NULL), *w7 = tens(c, 2, 3, 7, NULL),
                 *bank = tens(c, 2, 8, 10, NULL), *eff = tens(c, 2, 3, 10, NULL), *eff9 = tens(c, 2, 3, 9, NULL),
                 *other = tens(env.ref, 2, 3, 8, NULL);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(c, &s), PRISM_OK);
    cr_expect_eq(prism_xpeft_mask(s, PRISM_MASK_SOFT, 0, l, w7), PRISM_ERR_SHAPE);
    expect_msg(c, "xpeft_mask", "[3, 7]");
    cr_expect_eq(prism_xpeft_mask(s, PRISM_MASK_HARD, 0, l, w), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_xpeft_mask(s, PRISM_MASK_HARD, 9, l, w), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg(c, "k = 9", "1..8");
    cr_expect_eq(prism_xpeft_mask(s, (prism_mask_kind)7, 1, l, w), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_xpeft_mask(s, PRISM_MASK_SOFT, 0, NULL, w), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_xpeft_mask(NULL, PRISM_MASK_SOFT, 0, l, w), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_xpeft_mask(s, PRISM_MASK_SOFT, 0, l, l), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_xpeft_mask(s, PRISM_MASK_SOFT, 0, other, w), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_xpeft_mask_backward(s, PRISM_MASK_SOFT, w, w7, 0, l), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_xpeft_mask_backward(s, PRISM_MASK_SOFT, w, l, 0, l), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_xpeft_bank_sum(s, w, bank, eff9), PRISM_ERR_SHAPE);
    expect_msg(c, "xpeft_bank_sum", "[3, 9]");
    cr_expect_eq(prism_xpeft_bank_sum(s, w7, bank, eff), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_xpeft_bank_sum(s, w, bank, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_xpeft_bank_sum(s, w, other, eff), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_xpeft_bank_grad(s, bank, eff9, 0, w), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_xpeft_bank_grad(s, bank, eff, 0, w7), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_xpeft_bank_grad(s, bank, eff, 0, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_stream_op_count(s), 0, "failed calls record nothing");
    prism_stream_destroy(s);
    prism_tensor *all[] = {l, w, w7, bank, eff, eff9, other};
    for (int i = 0; i < 7; i++) prism_tensor_destroy(all[i]);
}

/* Equal logits: the lower index wins; a NaN or inf logit poisons its row
 * only; the host packer follows the same rule. */
Test(xpeft, hard_ties_and_nan_rows) {
    const float h[3][5] = {{3, 1, 3, 2, 3}, {0, 0, 0, 0, 0}, {1, NAN, 2, 3, 4}};
    const float want[2][5] = {{0.5f, 0, 0.5f, 0, 0}, {0.5f, 0.5f, 0, 0, 0}};
    prism_context *ctxs[2] = {env.dev, env.ref};
    for (int b = 0; b < 2; b++) {
        prism_tensor *l = tens(ctxs[b], 2, 3, 5, &h[0][0]), *w = tens(ctxs[b], 2, 3, 5, NULL);
        prism_stream *s;
        cr_assert_eq(prism_stream_create(ctxs[b], &s), PRISM_OK);
        cr_assert_eq(prism_xpeft_mask(s, PRISM_MASK_HARD, 2, l, w), PRISM_OK);
        run(s);
        float *o = dl(w);
        for (int i = 0; i < 10; i++) cr_expect_eq(o[i], want[i / 5][i % 5], "backend %d element %d: %g", b, i, o[i]);
        for (int i = 10; i < 15; i++) cr_expect(isnan(o[i]), "row with a NaN logit must be NaN (backend %d)", b);
        free(o);
        cr_assert_eq(prism_stream_reset(s), PRISM_OK);
        cr_assert_eq(prism_xpeft_mask(s, PRISM_MASK_SOFT, 0, l, w), PRISM_OK);
        run(s);
        o = dl(w);
        cr_expect(fabsf(o[5] - 0.2f) < 1e-7f && !isnan(o[0]) && isnan(o[12]), "softmax rows");
        free(o);
        prism_stream_destroy(s);
        prism_tensor_destroy(l);
        prism_tensor_destroy(w);
    }
    uint8_t bits[1];
    cr_assert_eq(prism_xpeft_topk_bits(h[0], 5, 2, bits), PRISM_OK);
    cr_expect_eq(bits[0], 0x05);
    cr_expect_eq(prism_xpeft_topk_bits(h[2], 5, 2, bits), PRISM_ERR_NOT_FINITE);
    cr_expect_eq(prism_xpeft_topk_bits(h[0], 5, 6, bits), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_xpeft_profile_bytes(PRISM_MASK_HARD, 1, 64), 16);
    cr_expect_eq(prism_xpeft_profile_bytes(PRISM_MASK_HARD, 12, 100), 12 * 2 * 13);
    cr_expect_eq(prism_xpeft_profile_bytes(PRISM_MASK_SOFT, 2, 10), 160);
}

/* ------------------------------------------------------------------ adapter */

Test(xpeft, defaults_validation_and_trainables) {
    layer L;
    layer_make(&L, env.dev, 12, 10, 4, true, 3);
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_XPEFT);
    prism_adapter *ad = NULL;
    cr_assert_eq(prism_adapter_create(L.ctx, &c, L.W0, L.b, &ad), PRISM_OK, "%s", prism_error_message(L.ctx));
    cr_expect_eq(prism_xpeft_adapter_k(ad), 16, "k = ceil(64 / 4)");
    cr_expect_eq(prism_adapter_trainable_count(ad), 128, "only the 2 N logits train");
    const prism_param *p;
    int np = prism_adapter_params(ad, &p);
    cr_expect_eq(np, 2, "a seed bank is not a saved tensor");
    prism_adapter_destroy(ad);
    struct { int nb, k, mask, place, act; const char *word; } bad[] = {
        {0, 0, 1, 0, 0, "n_bank"}, {8, 9, 1, 0, 0, "k"}, {8, -1, 1, 0, 0, "k"}, {8, 2, 5, 0, 0, "mask"},
        {8, 2, 1, 3, 0, "placement"}, {8, 2, 1, 1, 9, "act"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        prism_adapter_config b = c;
        b.n_bank = bad[i].nb, b.k = bad[i].k, b.mask = (prism_mask_kind)bad[i].mask;
        b.placement = (prism_placement)bad[i].place, b.act = (prism_activation)bad[i].act;
        cr_expect_eq(prism_adapter_create(L.ctx, &b, L.W0, L.b, &ad), PRISM_ERR_INVALID_ARGUMENT, "case %zu", i);
        cr_expect_null(ad);
        expect_msg(L.ctx, "xpeft", bad[i].word);
    }
    /* a host bank of the wrong shape (n_in must be n for parallel) */
    prism_xpeft_bank *bank;
    cr_assert_eq(prism_xpeft_bank_create(4, 2, 12, 12, &bank), PRISM_OK);
    prism_xpeft_config_use_bank(&c, bank);
    cr_expect_eq(prism_adapter_create(L.ctx, &c, L.W0, L.b, &ad), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg(L.ctx, "bank", "n_in=12");
    c.placement = PRISM_PLACE_SERIAL; /* serial: n_in = m = 12 fits */
    cr_expect_eq(prism_adapter_create(L.ctx, &c, L.W0, L.b, &ad), PRISM_OK, "%s", prism_error_message(L.ctx));
    prism_xpeft_bank_destroy(bank); /* the adapter keeps its own copy */
    cr_expect_eq(prism_adapter_params(ad, &p), 4, "a host bank is saved: logits + bank A, B");
    cr_expect_eq(prism_adapter_trainable_count(ad), 8);
    prism_tensor *W = NULL;
    int64_t ws[2] = {12, 10};
    cr_assert_eq(prism_tensor_create(L.ctx, 2, ws, &W), PRISM_OK);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(L.ctx, &s), PRISM_OK);
    cr_expect_eq(prism_adapter_merge(s, ad, W), PRISM_ERR_UNSUPPORTED, "serial with a bias cannot merge");
    expect_msg(L.ctx, "serial", "bias");
    prism_stream_destroy(s);
    prism_tensor_destroy(W);
    prism_adapter_destroy(ad);
    layer_free(&L);
}

/* Two identical backward passes give bit-identical gradients (fixed-order
 * reductions, no atomics). */
Test(xpeft, deterministic_gradients) {
    layer L;
    layer_make(&L, env.dev, 40, 33, 17, true, 5);
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_XPEFT);
    c.n_bank = 12, c.mask = PRISM_MASK_SOFT;
    prism_adapter *ad;
    cr_assert_eq(prism_adapter_create(L.ctx, &c, L.W0, L.b, &ad), PRISM_OK);
    cr_assert_eq(pc_adapter_randomize(ad, 4, 1.0f), PRISM_OK);
    float *g[2][2];
    for (int rep = 0; rep < 2; rep++) {
        fx_forward_backward(&L, ad);
        const prism_param *p;
        prism_adapter_params(ad, &p);
        g[rep][0] = dl(p[0].grad);
        g[rep][1] = dl(p[1].grad);
    }
    cr_expect_arr_eq(g[0][0], g[1][0], 12 * sizeof(float));
    cr_expect_arr_eq(g[0][1], g[1][1], 12 * sizeof(float));
    bool nonzero = false;
    for (int i = 0; i < 12; i++) nonzero |= g[0][0][i] != 0 && g[0][1][i] != 0;
    cr_expect(nonzero, "gradients reach both masks");
    for (int i = 0; i < 4; i++) free(g[i / 2][i % 2]);
    prism_adapter_destroy(ad);
    layer_free(&L);
}

/* ------------------------------------------------------------------ files and banks */

/* Saved: seed bank -> logits + bank_seed only; tensor bank -> the bank too.
 * Loaded adapters give the same forward. */
Test(xpeft, save_load_seed_and_tensor_banks) {
    prism_context *ctxs[2] = {env.dev, env.ref};
    for (int b = 0; b < 2; b++)
        for (int tensor_bank = 0; tensor_bank < 2; tensor_bank++) {
            layer L;
            layer_make(&L, ctxs[b], 9, 6, 4, true, 21);
            prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_XPEFT);
            c.n_bank = 5, c.r = 3, c.bank_seed = 0xFFFFFFFFFFFFull * 977; /* > 2^53: kept exactly (string) */
            prism_xpeft_bank *bank = NULL;
            if (tensor_bank) {
                cr_assert_eq(prism_xpeft_bank_create(5, 3, 9, 6, &bank), PRISM_OK);
                pc_random(1, bank->A, 5 * 3 * 6, -1, 1);
                pc_random(2, bank->B, 5 * 9 * 3, -1, 1);
                prism_xpeft_config_use_bank(&c, bank);
            }
            prism_adapter *ad;
            cr_assert_eq(prism_adapter_create(L.ctx, &c, L.W0, L.b, &ad), PRISM_OK, "%s", prism_error_message(L.ctx));
            prism_xpeft_bank_destroy(bank);
            cr_assert_eq(pc_adapter_randomize(ad, 8, 1.0f), PRISM_OK);
            char *dir = fx_tmpdir("xpeft");
            fx_save(ad, dir, "fc1");
            prism_st_file *f = fx_open_tensors(dir);
            cr_expect_eq(prism_st_count(f), tensor_bank ? 4u : 2u);
            cr_expect_not_null(prism_st_find(f, "base_model.model.fc1.xpeft_logits_A"));
            cr_expect_eq(prism_st_find(f, "base_model.model.fc1.xpeft_bank_B") != NULL, tensor_bank != 0);
            prism_st_close(f);
            prism_adapter *back = fx_load(&L, dir, "fc1", true);
            cr_expect_eq(prism_adapter_get_config(back)->bank_seed, c.bank_seed);
            cr_expect_eq(prism_adapter_get_config(back)->mask, PRISM_MASK_HARD);
            cr_expect_eq(prism_xpeft_adapter_k(back), 2);
            char what[64];
            snprintf(what, sizeof what, "backend %d tensor bank %d", b, tensor_bank);
            fx_expect_same_forward(&L, ad, back, what);
            fx_tmpdir_done(dir);
            prism_adapter_destroy(ad);
            prism_adapter_destroy(back);
            layer_free(&L);
        }
}

/* A bank from three saved LoRA adapters of ranks 2, 3, 4: members equal the
 * files (B scaled by alpha / r, lower ranks zero-padded), the bank from the
 * same adapters in memory is identical, and an X-PEFT adapter with k = 1
 * selecting member j on both sides is LoRA adapter j. */
Test(xpeft, bank_from_lora_dirs_reproduces_lora) {
    layer L;
    layer_make(&L, env.dev, 11, 8, 5, true, 31);
    prism_adapter *lora[3];
    char *dirs[3];
    for (int i = 0; i < 3; i++) {
        prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_LORA);
        c.r = 2 + i, c.lora_alpha = 4.0f + 3.0f * (float)i;
        cr_assert_eq(prism_adapter_create(L.ctx, &c, L.W0, L.b, &lora[i]), PRISM_OK);
        cr_assert_eq(pc_adapter_randomize(lora[i], 40 + (uint64_t)i, 0.5f), PRISM_OK);
        dirs[i] = fx_tmpdir("xpeft");
        fx_save(lora[i], dirs[i], "net.fc");
    }
    prism_xpeft_bank *bank = NULL, *bank2 = NULL;
    char err[512] = "";
    cr_assert_eq(prism_xpeft_bank_from_lora_dirs((const char *const *)dirs, 3, "net.fc", 11, 8, &bank, err, sizeof err),
                 PRISM_OK, "%s", err);
    cr_assert_eq(prism_xpeft_bank_from_adapters(lora, 3, &bank2), PRISM_OK);
    cr_expect_eq(bank->r, 4);
    cr_expect_arr_eq(bank->A, bank2->A, sizeof(float) * 3 * 4 * 8);
    cr_expect_arr_eq(bank->B, bank2->B, sizeof(float) * 3 * 11 * 4);
    prism_xpeft_bank_destroy(bank2);
    bank2 = NULL;
    const prism_param *lp;
    prism_adapter_params(lora[1], &lp);
    float *b1 = dl(lp[1].value); /* lora_B of member 1, r = 3, alpha = 7 */
    for (int row = 0; row < 11; row++) {
        for (int col = 0; col < 3; col++)
            cr_expect_eq(bank->B[(1 * 11 + row) * 4 + col], b1[row * 3 + col] * (7.0f / 3.0f));
        cr_expect_eq(bank->B[(1 * 11 + row) * 4 + 3], 0.0f, "padding");
    }
    free(b1);
    for (int j = 0; j < 3; j++) {
        prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_XPEFT);
        c.k = 1;
        prism_xpeft_config_use_bank(&c, bank);
        prism_adapter *xp;
        cr_assert_eq(prism_adapter_create(L.ctx, &c, L.W0, L.b, &xp), PRISM_OK, "%s", prism_error_message(L.ctx));
        float s[3] = {0, 0, 0};
        s[j] = 1;
        cr_assert_eq(prism_xpeft_set_logits(xp, s, s), PRISM_OK);
        float *y0, *y1;
        fx_forward_pair(&L, lora[j], xp, &y0, &y1);
        for (int i = 0; i < 11 * 5; i++)
            cr_expect(fabsf(y0[i] - y1[i]) <= 1e-5f * (1 + fabsf(y0[i])), "member %d, %d: %g vs %g", j, i, y0[i], y1[i]);
        free(y0);
        free(y1);
        prism_adapter_destroy(xp);
    }
    /* bad inputs: a missing dir, wrong layer shape, a non-LoRA adapter dir */
    const char *missing[1] = {"/nonexistent/prism"};
    cr_expect_eq(prism_xpeft_bank_from_lora_dirs(missing, 1, "net.fc", 11, 8, &bank2, err, sizeof err), PRISM_ERR_IO);
    cr_expect_null(bank2);
    cr_expect_eq(prism_xpeft_bank_from_lora_dirs((const char *const *)dirs, 3, "net.fc", 11, 9, &bank2, err, sizeof err),
                 PRISM_ERR_FORMAT);
    cr_expect(strstr(err, "lora_A.weight") != NULL, "%s", err);
    cr_expect_eq(prism_xpeft_bank_from_lora_dirs((const char *const *)dirs, 3, "other", 11, 8, &bank2, err, sizeof err),
                 PRISM_ERR_FORMAT);
    prism_adapter_config c = prism_adapter_config_default(PRISM_METHOD_XPEFT);
    prism_adapter *xp;
    cr_assert_eq(prism_adapter_create(L.ctx, &c, L.W0, L.b, &xp), PRISM_OK);
    char *xdir = fx_tmpdir("xpeft");
    fx_save(xp, xdir, "net.fc");
    const char *notlora[1] = {xdir};
    cr_expect_eq(prism_xpeft_bank_from_lora_dirs(notlora, 1, "net.fc", 11, 8, &bank2, err, sizeof err), PRISM_ERR_FORMAT);
    cr_expect(strstr(err, "not LoRA") != NULL, "%s", err);
    prism_adapter *mixed[2] = {lora[0], xp};
    cr_expect_eq(prism_xpeft_bank_from_adapters(mixed, 2, &bank2), PRISM_ERR_INVALID_ARGUMENT);
    fx_tmpdir_done(xdir);
    prism_adapter_destroy(xp);
    for (int i = 0; i < 3; i++) {
        fx_tmpdir_done(dirs[i]);
        prism_adapter_destroy(lora[i]);
    }
    prism_xpeft_bank_destroy(bank);
    layer_free(&L);
}
