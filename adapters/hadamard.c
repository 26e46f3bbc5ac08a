/* HUT (METHODS.md §3, "Decisions for prism"): W_eff = W0 (.) (J + s B A),
 * A [r, n] kaiming-uniform(a = sqrt 5) with fan_in n, B [m, r] = 0 (so the
 * adapter starts as the frozen layer), s = hut_s (default 1), r default 8.
 * With s = 1 this is HF PEFT's HiRA: keys "hira_A" [r, n] and "hira_B" [m, r].
 *
 * Training materialises W_eff once per step (O(r m n), one fused pass over
 * W0; METHODS.md §3: cheaper than the activation form for T >= r):
 *   forward   W_eff = W0 (.) (1 + s B A)        (hadamard_merge, scratch [m, n])
 *             Y = X W_eff^T + b                  (one GEMM + bias)
 *   backward  dX  = dY W_eff                     (GEMM, when dX is asked for)
 *             G   = dY^T X                       (GEMM, scratch [m, n])
 *             dA += s B^T (W0 (.) G),  dB += s (W0 (.) G) A^T
 *                                                (hadamard_grad: M never stored)
 * backward reads the W_eff its forward wrote, so the parameters must not
 * change between them (the optimizer runs after backward).
 * Merge: W_out = W0 (.) (1 + s B A), the same fused op.
 *
 * Files (docs/hut.md): s = 1 writes peft_type "HIRA" and HF HiraConfig's
 * fields, loadable by HF PEFT. s != 1 writes peft_type "HUT" plus "hut_s":
 * HF PEFT has no scale for HiRA and would silently drop it, so such a file is
 * made one HF refuses rather than one it misreads. A "HIRA" file with a
 * "hut_s" other than 1 is PRISM_ERR_FORMAT; the file's r wins over prism's
 * default, and a HIRA config without "r" means HF's default 32. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "adapter_internal.h"
#include "io/io_util.h" /* prism_json_put */
#include "prism/hadamard.h"

enum { SLOT_WEFF = 0, SLOT_G = 1, SLOT_WORK = 2 };
enum { P_A = 0, P_B = 1 };
enum { HF_HIRA_DEFAULT_R = 32 }; /* HiraConfig.r default (prism's own default is 8) */

static const char *MN = "hut";

static prism_status hut_init(prism_adapter *ad, prism_stream *s) {
    const prism_adapter_config *c = &ad->cfg;
    if (c->r < 1)
        return prism_set_error(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "adapter_create (%s): r = %d must be >= 1", MN, c->r);
    if (!isfinite(c->hut_s))
        return prism_set_error(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "adapter_create (%s): hut_s = %g is not finite", MN,
                               c->hut_s);
    prism_tensor *A = NULL, *B = NULL;
    int64_t sa[2] = {c->r, ad->n}, sb[2] = {ad->m, c->r};
    prism_status st = prism_adapter_add_param(ad, "hira_A", 2, sa, 1, &A);
    if (!st) st = prism_adapter_add_param(ad, "hira_B", 2, sb, 1, &B);
    if (!st) st = prism_adapter_kaiming(s, c->seed, 0, ad->n, A);
    if (!st) st = prism_fill(s, B, 0.0f);
    return st;
}

static prism_tensor *param(prism_adapter *ad, int i) { return ad->params[i].value; }

/* The W_eff scratch (its contents are what the last forward wrote). */
static prism_status weff(prism_adapter *ad, prism_tensor **W) {
    return prism_adapter_scratch2(ad, SLOT_WEFF, "hut W_eff", ad->m, ad->n, W);
}

static prism_status hut_forward(prism_stream *s, prism_adapter *ad, const prism_tensor *X, prism_tensor *Y) {
    prism_tensor *W = NULL;
    prism_status st = weff(ad, &W);
    if (!st) st = prism_hadamard_merge(s, ad->W0, param(ad, P_B), param(ad, P_A), ad->cfg.hut_s, W);
    if (!st) st = prism_linear_forward(s, ad, W, ad->bias, X, Y);
    return st;
}

static prism_status hut_backward(prism_stream *s, prism_adapter *ad, const prism_tensor *X, const prism_tensor *dY,
                                 prism_tensor *dX) {
    prism_tensor *W = NULL, *G = NULL, *work = NULL;
    int64_t nwork = prism_hadamard_grad_workspace(ad->ctx, ad->m, ad->n, ad->cfg.r);
    prism_status st = weff(ad, &W);
    if (!st) st = prism_adapter_scratch2(ad, SLOT_G, "hut G = dY^T X", ad->m, ad->n, &G);
    if (!st && nwork > 0) st = prism_adapter_scratch2(ad, SLOT_WORK, "hut dA partials", 1, nwork, &work);
    if (!st && dX) st = prism_linear_backward_input(s, W, dY, dX);    /* dX = dY W_eff */
    if (!st) st = prism_gemm(s, 1, 0, 1.0f, dY, X, 0.0f, G);           /* G = dY^T X */
    if (!st)
        st = prism_hadamard_grad(s, ad->W0, G, param(ad, P_B), param(ad, P_A), ad->cfg.hut_s, 1.0f,
                                 ad->params[P_A].grad, ad->params[P_B].grad, work);
    return st;
}

static prism_status hut_merge(prism_stream *s, prism_adapter *ad, prism_tensor *W_out) {
    return prism_hadamard_merge(s, ad->W0, param(ad, P_B), param(ad, P_A), ad->cfg.hut_s, W_out);
}

/* ------------------------------------------------------------------ config JSON */

/* HF HiraConfig fields with the values prism's math corresponds to. */
static prism_status hut_to_json(const prism_adapter_config *cfg, cJSON *obj) {
    bool ok = prism_json_put(obj, "hira_dropout", cJSON_CreateNumber(0.0)) &&
              prism_json_put(obj, "fan_in_fan_out", cJSON_CreateFalse()) &&
              prism_json_put(obj, "init_weights", cJSON_CreateTrue()) &&
              prism_json_put(obj, "rank_pattern", cJSON_CreateObject());
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "hut_s");
    if (ok && cfg->hut_s != 1.0f)
        ok = prism_json_put(obj, "peft_type", cJSON_CreateString("HUT")) &&
             prism_json_put(obj, "hut_s", cJSON_CreateNumber(cfg->hut_s));
    return ok ? PRISM_OK : PRISM_ERR_OUT_OF_HOST_MEMORY;
}

static prism_status hut_from_json(const cJSON *obj, prism_adapter_config *cfg, char *err, size_t err_len) {
    const char *pt = NULL;
    double hs, drop;
    int fifo;
    prism_status st = prism_json_get_string(obj, "peft_type", "", &pt, err, err_len);
    if (!st) st = prism_json_get_double(obj, "hut_s", 1.0, &hs, err, err_len);
    if (!st) st = prism_json_get_bool(obj, "fan_in_fan_out", 0, &fifo, err, err_len);
    if (!st) st = prism_json_get_double(obj, "hira_dropout", 0.0, &drop, err, err_len);
    if (st) return st;
    bool hira = pt && (!strcmp(pt, "HIRA") || !strcmp(pt, "hira"));
    /* a float32 range, so that a float written back reads back (3e38f > 3e38) */
    if (!(fabs(hs) <= FLT_MAX)) {
        snprintf(err, err_len, "adapter_config: hut_s %g is out of range", hs);
        return PRISM_ERR_FORMAT;
    }
    if (hira && hs != 1.0) {
        snprintf(err, err_len, "adapter_config: peft_type \"HIRA\" with hut_s = %g (HiRA has s = 1; prism writes "
                 "s != 1 as peft_type \"HUT\")", hs);
        return PRISM_ERR_FORMAT;
    }
    if (!(drop >= 0.0 && drop <= 1.0)) {
        snprintf(err, err_len, "adapter_config: hira_dropout %g is outside [0, 1]", drop);
        return PRISM_ERR_FORMAT;
    }
    if (fifo) {
        snprintf(err, err_len, "adapter_config: HiRA with fan_in_fan_out is not supported");
        return PRISM_ERR_UNSUPPORTED;
    }
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(obj, "rank_pattern");
    if (rp && !cJSON_IsNull(rp) && !(cJSON_IsObject(rp) && !rp->child)) {
        snprintf(err, err_len, "adapter_config: HiRA with a non-empty rank_pattern is not supported");
        return PRISM_ERR_UNSUPPORTED;
    }
    /* HF writes r always; a hand-made HiRA config without it means HF's default */
    if (hira && !cJSON_GetObjectItemCaseSensitive(obj, "r")) cfg->r = HF_HIRA_DEFAULT_R;
    cfg->hut_s = (float)hs;
    return PRISM_OK;
}

const prism_adapter_vt prism_vt_hut = {
    .method = PRISM_METHOD_HUT,
    .peft_type = "HIRA",
    .init = hut_init,
    .forward = hut_forward,
    .backward = hut_backward,
    .merge = hut_merge,
    .config_to_json = hut_to_json,
    .config_from_json = hut_from_json,
};
