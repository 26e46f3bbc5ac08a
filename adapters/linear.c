/* The plain linear layer as adapter methods.
 *
 * NONE: the frozen layer Y = X W0^T + b; nothing trains, nothing is saved;
 *   backward only propagates dX = dY W0. A model's frozen layers use it so a
 *   model is one list of adapters.
 * FULL: full fine-tuning. "weight" [m, n] starts as a copy of W0 and trains;
 *   "bias" [m] (a copy of the layer's bias) trains too when train_bias is set
 *   and the layer has one, else the frozen bias is used. Gradients:
 *   dW += dY^T X, db += 1^T dY, dX = dY W. Files hold "weight" (and "bias"),
 *   peft_type "FULL" (HF PEFT has no such type; the keys match what
 *   modules_to_save would hold for the layer). */
#include <stdlib.h>
#include "adapter_internal.h"

/* ------------------------------------------------------------------ NONE */

static prism_status none_init(prism_adapter *ad, prism_stream *s) {
    (void)ad;
    (void)s;
    return PRISM_OK;
}

static prism_status none_forward(prism_stream *s, prism_adapter *ad, const prism_tensor *X, prism_tensor *Y) {
    return prism_linear_forward(s, ad, ad->W0, ad->bias, X, Y);
}

static prism_status none_backward(prism_stream *s, prism_adapter *ad, const prism_tensor *X, const prism_tensor *dY,
                                  prism_tensor *dX) {
    (void)X;
    return prism_linear_backward_input(s, ad->W0, dY, dX);
}

static prism_status none_merge(prism_stream *s, prism_adapter *ad, prism_tensor *W_out) {
    return prism_copy(s, ad->W0, W_out);
}

const prism_adapter_vt prism_vt_none = {
    .method = PRISM_METHOD_NONE,
    .peft_type = "NONE",
    .init = none_init,
    .forward = none_forward,
    .backward = none_backward,
    .merge = none_merge,
};

/* ------------------------------------------------------------------ FULL */

typedef struct full_state {
    prism_tensor *W, *b; /* b: trained bias, or NULL (then ad->bias, frozen) */
} full_state;

static prism_status full_init(prism_adapter *ad, prism_stream *s) {
    if (ad->cfg.train_bias != 0 && ad->cfg.train_bias != 1)
        return prism_set_error(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "adapter_create (full): train_bias = %d (0 or 1)",
                               ad->cfg.train_bias);
    full_state *fs = calloc(1, sizeof *fs);
    if (!fs) return prism_set_error(ad->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "adapter_create (full): out of memory");
    ad->priv = fs;
    int64_t shape[2] = {ad->m, ad->n};
    prism_status st = prism_adapter_add_param(ad, "weight", 2, shape, 1, &fs->W);
    if (!st) st = prism_copy(s, ad->W0, fs->W);
    if (!st && ad->bias && ad->cfg.train_bias) {
        st = prism_adapter_add_param(ad, "bias", 1, &ad->m, 1, &fs->b);
        if (!st) st = prism_copy(s, ad->bias, fs->b);
    }
    return st;
}

static const prism_tensor *full_bias(const prism_adapter *ad) {
    const full_state *fs = ad->priv;
    return fs->b ? fs->b : ad->bias;
}

static prism_status full_forward(prism_stream *s, prism_adapter *ad, const prism_tensor *X, prism_tensor *Y) {
    const full_state *fs = ad->priv;
    return prism_linear_forward(s, ad, fs->W, full_bias(ad), X, Y);
}

static prism_status full_backward(prism_stream *s, prism_adapter *ad, const prism_tensor *X, const prism_tensor *dY,
                                  prism_tensor *dX) {
    const full_state *fs = ad->priv;
    /* dW [m, n] += dY^T X */
    prism_status st = prism_gemm(s, 1, 0, 1.0f, dY, X, 1.0f, prism_adapter_grad(ad, "weight"));
    if (!st && fs->b) st = prism_linear_bias_grad(s, ad, dY, prism_adapter_grad(ad, "bias"));
    if (!st) st = prism_linear_backward_input(s, fs->W, dY, dX);
    return st;
}

static prism_status full_merge(prism_stream *s, prism_adapter *ad, prism_tensor *W_out) {
    const full_state *fs = ad->priv;
    return prism_copy(s, fs->W, W_out);
}

static prism_status full_to_json(const prism_adapter_config *cfg, cJSON *obj) {
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "train_bias");
    return cJSON_AddBoolToObject(obj, "train_bias", cfg->train_bias) ? PRISM_OK : PRISM_ERR_OUT_OF_HOST_MEMORY;
}

static prism_status full_from_json(const cJSON *obj, prism_adapter_config *cfg, char *err, size_t err_len) {
    return prism_json_get_bool(obj, "train_bias", cfg->train_bias, &cfg->train_bias, err, err_len);
}

static void full_destroy(prism_adapter *ad) {
    free(ad->priv);
    ad->priv = NULL;
}

const prism_adapter_vt prism_vt_full = {
    .method = PRISM_METHOD_FULL,
    .peft_type = "FULL",
    .init = full_init,
    .forward = full_forward,
    .backward = full_backward,
    .merge = full_merge,
    .config_to_json = full_to_json,
    .config_from_json = full_from_json,
    .destroy = full_destroy,
};
