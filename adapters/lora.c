/* LoRA (Hu et al. 2021; HF PEFT semantics): W_eff = W0 + s B A, s = lora_alpha / r,
 * A [r, n] kaiming-uniform(a = sqrt 5) with fan_in n, B [m, r] = 0, so the
 * adapter starts as the frozen layer. Keys "lora_A.weight", "lora_B.weight",
 * peft_type "LORA".
 *
 * Training never forms B A (that is T-independent m n r work and m n memory):
 *   forward   H = X A^T [T, r] (kept in scratch for backward)
 *             Y = X W0^T + b + s H B^T (s H B^T in the frozen GEMM's epilogue)
 *   backward  dB += s dY^T H,   P = dY B [T, r],   dA += s P^T X,
 *             dX  = dY W0 + s P A (s P A likewise)
 * Merge: W_out = W0 + s B A (one copy and one GEMM). */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "adapter_internal.h"

enum { SLOT_H = 0, SLOT_P = 1 };

static float lora_scale(const prism_adapter *ad) { return ad->cfg.lora_alpha / (float)ad->cfg.r; }

static prism_status lora_init(prism_adapter *ad, prism_stream *s) {
    const prism_adapter_config *c = &ad->cfg;
    if (c->r < 1)
        return prism_set_error(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "adapter_create (lora): r = %d must be >= 1", c->r);
    if (!isfinite(c->lora_alpha))
        return prism_set_error(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "adapter_create (lora): lora_alpha is not finite");
    prism_tensor *A = NULL, *B = NULL;
    int64_t sa[2] = {c->r, ad->n}, sb[2] = {ad->m, c->r};
    prism_status st = prism_adapter_add_param(ad, "lora_A.weight", 2, sa, 1, &A);
    if (!st) st = prism_adapter_add_param(ad, "lora_B.weight", 2, sb, 1, &B);
    if (!st) st = prism_adapter_kaiming(s, c->seed, 0, ad->n, A);
    if (!st) st = prism_fill(s, B, 0.0f);
    return st;
}

static prism_tensor *param(prism_adapter *ad, int i) { return ad->params[i].value; }

static prism_status lora_forward(prism_stream *s, prism_adapter *ad, const prism_tensor *X, prism_tensor *Y) {
    prism_tensor *A = param(ad, 0), *B = param(ad, 1), *H = NULL;
    prism_status st = prism_adapter_scratch2(ad, SLOT_H, "lora X A^T", X->shape[0], ad->cfg.r, &H);
    if (!st) st = prism_gemm(s, 0, 1, 1.0f, X, A, 0.0f, H);
    /* Y = X W0^T + s H B^T in one pass over Y (the rank-r term in the GEMM's epilogue) */
    if (!st) st = prism_linear_forward_lowrank(s, ad, ad->W0, ad->bias, X, Y, lora_scale(ad), H, 1, B);
    return st;
}

static prism_status lora_backward(prism_stream *s, prism_adapter *ad, const prism_tensor *X, const prism_tensor *dY,
                                  prism_tensor *dX) {
    prism_tensor *A = param(ad, 0), *B = param(ad, 1), *H = NULL, *P = NULL;
    float sc = lora_scale(ad);
    int64_t T = X->shape[0];
    prism_status st = prism_adapter_scratch2(ad, SLOT_H, "lora X A^T", T, ad->cfg.r, &H);
    if (!st) st = prism_adapter_scratch2(ad, SLOT_P, "lora dY B", T, ad->cfg.r, &P);
    if (!st) st = prism_gemm(s, 1, 0, sc, dY, H, 1.0f, ad->params[1].grad);   /* dB += s dY^T H */
    if (!st) st = prism_gemm(s, 0, 0, 1.0f, dY, B, 0.0f, P);                  /* P = dY B */
    if (!st) st = prism_gemm(s, 1, 0, sc, P, X, 1.0f, ad->params[0].grad);    /* dA += s P^T X */
    if (!st && dX) st = prism_gemm_lowrank(s, 0, 0, 1.0f, dY, ad->W0, 0.0f, dX, sc, P, 0, A); /* dX = dY W0 + s P A */
    return st;
}

static prism_status lora_merge(prism_stream *s, prism_adapter *ad, prism_tensor *W_out) {
    prism_status st = prism_copy(s, ad->W0, W_out);
    if (!st) st = prism_gemm(s, 0, 0, lora_scale(ad), param(ad, 1), param(ad, 0), 1.0f, W_out);
    return st;
}

/* HF LoraConfig fields; the ones prism does not implement are written with
 * the value prism's math corresponds to and refused on load otherwise. */
static prism_status lora_to_json(const prism_adapter_config *cfg, cJSON *obj) {
    static const char *const KEYS[] = {"lora_alpha", "lora_dropout", "fan_in_fan_out", "bias", "use_rslora",
                                       "use_dora", "init_lora_weights"};
    for (size_t i = 0; i < PRISM_ARRAY_LEN(KEYS); i++) cJSON_DeleteItemFromObjectCaseSensitive(obj, KEYS[i]);
    bool ok = cJSON_AddNumberToObject(obj, "lora_alpha", (double)cfg->lora_alpha) &&
              cJSON_AddNumberToObject(obj, "lora_dropout", 0.0) && cJSON_AddFalseToObject(obj, "fan_in_fan_out") &&
              cJSON_AddStringToObject(obj, "bias", "none") && cJSON_AddFalseToObject(obj, "use_rslora") &&
              cJSON_AddFalseToObject(obj, "use_dora") && cJSON_AddTrueToObject(obj, "init_lora_weights");
    return ok ? PRISM_OK : PRISM_ERR_OUT_OF_HOST_MEMORY;
}

static prism_status lora_from_json(const cJSON *obj, prism_adapter_config *cfg, char *err, size_t err_len) {
    double alpha;
    int rslora, dora, fifo;
    const char *bias;
    prism_status st = prism_json_get_double(obj, "lora_alpha", cfg->lora_alpha, &alpha, err, err_len);
    if (!st) st = prism_json_get_bool(obj, "use_rslora", 0, &rslora, err, err_len);
    if (!st) st = prism_json_get_bool(obj, "use_dora", 0, &dora, err, err_len);
    if (!st) st = prism_json_get_bool(obj, "fan_in_fan_out", 0, &fifo, err, err_len);
    if (!st) st = prism_json_get_string(obj, "bias", "none", &bias, err, err_len);
    if (st) return st;
    int lbias = 0;
    if ((st = prism_json_get_bool(obj, "lora_bias", 0, &lbias, err, err_len))) return st;
    /* per-module ranks / alphas would need the module name here; prism
     * writes one module per file, so a pattern means a foreign multi-module file */
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(obj, "rank_pattern"),
                *ap = cJSON_GetObjectItemCaseSensitive(obj, "alpha_pattern");
    bool patterns = (cJSON_IsObject(rp) && rp->child) || (cJSON_IsObject(ap) && ap->child);
    /* a float32 range, so that a float written back reads back (3e38f > 3e38) */
    if (!(fabs(alpha) <= FLT_MAX)) {
        snprintf(err, err_len, "adapter_config: lora_alpha %g is out of range", alpha);
        return PRISM_ERR_FORMAT;
    }
    const char *what = rslora   ? "use_rslora"
                       : dora   ? "use_dora"
                       : fifo   ? "fan_in_fan_out"
                       : lbias  ? "lora_bias"
                       : patterns ? "rank_pattern / alpha_pattern"
                                  : NULL;
    if (!what && strcmp(bias, "none") != 0) what = "bias other than \"none\"";
    if (what) {
        snprintf(err, err_len, "adapter_config: LoRA with %s is not supported", what);
        return PRISM_ERR_UNSUPPORTED;
    }
    cfg->lora_alpha = (float)alpha;
    return PRISM_OK;
}

const prism_adapter_vt prism_vt_lora = {
    .method = PRISM_METHOD_LORA,
    .peft_type = "LORA",
    .init = lora_init,
    .forward = lora_forward,
    .backward = lora_backward,
    .merge = lora_merge,
    .config_to_json = lora_to_json,
    .config_from_json = lora_from_json,
};
