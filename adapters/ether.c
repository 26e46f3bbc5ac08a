/* ETHER and ETHER+ (Bini et al., ICML 2024; METHODS.md §1 and "Decisions for
 * prism"): block-diagonal hyperplane reflections around the frozen W0.
 *
 *   ETHER   H = blockdiag(I - 2 û_i û_iᵀ)                 peft_type "ETHER"
 *   ETHER+  H = blockdiag(I - û_i û_iᵀ + v̂_i v̂_iᵀ)        peft_type "ETHER_PLUS"
 *   W_eff = H_out W0 H_in  (side in: H_out = I; side out: H_in = I)
 *
 * Parameters (unnormalised, [blocks, d/blocks], d = n for "in", m for "out"):
 * ether_u_in, ether_v_in, ether_u_out, ether_v_out (v only for ETHER+), in
 * that order. Init: u kaiming-uniform(a = sqrt 5) per block (fan_in d/blocks)
 * from Philox(seed), so ETHER starts at a random reflection; ETHER+ sets
 * v = -u, so H = I at step 0.
 *
 * Training stays in activation space (never H W0):
 *   forward   Xt = X H_in            (scratch, in/both)
 *             Z  = Xt W0ᵀ            (scratch, out/both; + b for side in)
 *             Y  = Z H_out + b       (out/both; the bias is fused into reflect)
 *   backward  G_Z  = dY H_out, du_out/dv_out from (Z, dY)      (out/both)
 *             G_Xt = G_Z W0 (G_Z = dY for side in)
 *             dX   = G_Xt H_in, du_in/dv_in from (X, G_Xt)     (in/both)
 * The reflect op reduces the vector gradients over all T rows through a work
 * tensor (per-chunk partials, deterministic), one per side.
 * Merge: W0 H_in = reflect of W0's rows; H_out W = (Wᵀ H_out)ᵀ with two
 * transposes.
 *
 * Loaded files: a zero block (H undefined: 0/0) is PRISM_ERR_NOT_FINITE with
 * the key and block named; non-finite values are refused earlier by the
 * generic loader (PRISM_ERR_FORMAT). */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "adapter_internal.h"
#include "prism/reflect.h"

enum {
    SLOT_XT = 0,   /* X H_in [T, n] */
    SLOT_Z = 1,    /* X~ W0^T [T, m] */
    SLOT_GXT = 2,  /* dL/dX~ [T, n] */
    SLOT_GZ = 3,   /* dL/dZ [T, m] */
    SLOT_WIN = 4,  /* reflect work, input side */
    SLOT_WOUT = 5, /* reflect work, output side */
    SLOT_M1 = 6,   /* merge temporaries (output side only) */
    SLOT_M2 = 7,
};

/* Indices into ad->params of one side's u and v (-1: absent). */
typedef struct side_params {
    int u, v;
} side_params;

static bool plus(const prism_adapter *ad) { return ad->cfg.method == PRISM_METHOD_ETHER_PLUS; }
static bool has_in(const prism_adapter *ad) { return ad->cfg.side == PRISM_SIDE_IN || ad->cfg.side == PRISM_SIDE_BOTH; }
static bool has_out(const prism_adapter *ad) { return ad->cfg.side == PRISM_SIDE_OUT || ad->cfg.side == PRISM_SIDE_BOTH; }

static side_params side_of(const prism_adapter *ad, bool out) {
    /* registration order: u_in, v_in (ETHER+), u_out, v_out (ETHER+) */
    int k = plus(ad) ? 2 : 1, base = (out && has_in(ad)) ? k : 0;
    side_params p = {base, plus(ad) ? base + 1 : -1};
    return p;
}

static prism_tensor *val(prism_adapter *ad, int i) { return i >= 0 ? ad->params[i].value : NULL; }
static prism_tensor *grad(prism_adapter *ad, int i) { return i >= 0 ? ad->params[i].grad : NULL; }

static const char *mname(const prism_adapter *ad) { return prism_method_name(ad->cfg.method); }

static prism_status ether_init(prism_adapter *ad, prism_stream *s) {
    const prism_adapter_config *c = &ad->cfg;
    if (c->side != PRISM_SIDE_IN && c->side != PRISM_SIDE_OUT && c->side != PRISM_SIDE_BOTH)
        return prism_set_error(ad->ctx, PRISM_ERR_INVALID_ARGUMENT,
                               "adapter_create (%s): side = %d is not in (0), out (1) or both (2)", mname(ad),
                               (int)c->side);
    if (c->blocks < 1)
        return prism_set_error(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "adapter_create (%s): blocks = %d must be >= 1",
                               mname(ad), c->blocks);
    if ((has_in(ad) && ad->n % c->blocks) || (has_out(ad) && ad->m % c->blocks))
        return prism_set_error(ad->ctx, PRISM_ERR_INVALID_ARGUMENT,
                               "adapter_create (%s): blocks = %d does not divide the %s dimension %lld of W0 [%lld, %lld]",
                               mname(ad), c->blocks, (has_in(ad) && ad->n % c->blocks) ? "input" : "output",
                               (long long)((has_in(ad) && ad->n % c->blocks) ? ad->n : ad->m), (long long)ad->m,
                               (long long)ad->n);
    prism_status st = PRISM_OK;
    /* Philox counters: the input side from block 0, the output side after it,
     * so the two sides draw different numbers from one seed. */
    uint64_t offset = 0;
    for (int out = 0; out < 2 && !st; out++) {
        if (out ? !has_out(ad) : !has_in(ad)) continue;
        int64_t d = out ? ad->m : ad->n, shape[2] = {c->blocks, d / c->blocks};
        prism_tensor *u = NULL, *v = NULL;
        st = prism_adapter_add_param(ad, out ? "ether_u_out" : "ether_u_in", 2, shape, 1, &u);
        if (!st && plus(ad)) st = prism_adapter_add_param(ad, out ? "ether_v_out" : "ether_v_in", 2, shape, 1, &v);
        if (!st) st = prism_adapter_kaiming(s, c->seed, offset, shape[1], u);
        if (!st && v) st = prism_scale(s, u, -1.0f, v); /* H+ = I - ûûᵀ + ûûᵀ */
        offset += (uint64_t)PRISM_CEIL_DIV(d, 4);
    }
    return st;
}

/* Work tensor of one side for T rows of length d, as [chunks, K d] so a
 * smaller T reuses the base (scratch2 hands out views of its first rows). */
static prism_status work_of(prism_adapter *ad, int slot, int64_t T, int64_t d, prism_tensor **w) {
    int64_t kd = (plus(ad) ? 2 : 1) * d;
    int64_t rows = prism_reflect_work_elems(ad->ctx, T, d, plus(ad)) / kd;
    return prism_adapter_scratch2(ad, slot, "ether reflect work", rows > 0 ? rows : 1, kd, w);
}

static prism_status ether_forward(prism_stream *s, prism_adapter *ad, const prism_tensor *X, prism_tensor *Y) {
    int64_t T = X->shape[0];
    side_params in = side_of(ad, false), out = side_of(ad, true);
    prism_tensor *Xt = NULL, *Z = NULL;
    prism_status st = PRISM_OK;
    const prism_tensor *x = X;
    if (has_in(ad)) {
        PRISM_TRY(prism_adapter_scratch2(ad, SLOT_XT, "ether X H_in", T, ad->n, &Xt));
        PRISM_TRY(prism_reflect(s, X, val(ad, in.u), val(ad, in.v), NULL, Xt));
        x = Xt;
    }
    if (!has_out(ad)) return prism_linear_forward(s, ad, ad->W0, ad->bias, x, Y);
    PRISM_TRY(prism_adapter_scratch2(ad, SLOT_Z, "ether X~ W0^T", T, ad->m, &Z));
    PRISM_TRY(prism_linear_forward(s, ad, ad->W0, NULL, x, Z));
    PRISM_TRY(prism_reflect(s, Z, val(ad, out.u), val(ad, out.v), ad->bias, Y));
cleanup:
    return st;
}

static prism_status ether_backward(prism_stream *s, prism_adapter *ad, const prism_tensor *X, const prism_tensor *dY,
                                   prism_tensor *dX) {
    int64_t T = X->shape[0];
    side_params in = side_of(ad, false), out = side_of(ad, true);
    prism_tensor *Z = NULL, *GZ = NULL, *GXt = NULL, *w = NULL;
    prism_status st = PRISM_OK;
    const prism_tensor *g = dY; /* gradient of Z */
    if (has_out(ad)) {
        PRISM_TRY(prism_adapter_scratch2(ad, SLOT_Z, "ether X~ W0^T", T, ad->m, &Z));
        PRISM_TRY(work_of(ad, SLOT_WOUT, T, ad->m, &w));
        bool need_gz = has_in(ad) || dX; /* G_Z feeds dX or the input side */
        if (need_gz) PRISM_TRY(prism_adapter_scratch2(ad, SLOT_GZ, "ether dL/dZ", T, ad->m, &GZ));
        PRISM_TRY(prism_reflect_backward(s, Z, val(ad, out.u), val(ad, out.v), dY, GZ, grad(ad, out.u),
                                         grad(ad, out.v), w));
        if (!need_gz) return PRISM_OK;
        g = GZ;
    }
    if (!has_in(ad)) return prism_linear_backward_input(s, ad->W0, g, dX);
    PRISM_TRY(prism_adapter_scratch2(ad, SLOT_GXT, "ether dL/dX~", T, ad->n, &GXt));
    PRISM_TRY(prism_linear_backward_input(s, ad->W0, g, GXt));
    PRISM_TRY(work_of(ad, SLOT_WIN, T, ad->n, &w));
    PRISM_TRY(prism_reflect_backward(s, X, val(ad, in.u), val(ad, in.v), GXt, dX, grad(ad, in.u), grad(ad, in.v), w));
cleanup:
    return st;
}

static prism_status ether_merge(prism_stream *s, prism_adapter *ad, prism_tensor *W_out) {
    side_params in = side_of(ad, false), out = side_of(ad, true);
    prism_tensor *B = NULL, *C = NULL;
    prism_status st = PRISM_OK;
    if (!has_out(ad)) return prism_reflect(s, ad->W0, val(ad, in.u), val(ad, in.v), NULL, W_out);
    const prism_tensor *w = ad->W0;
    if (has_in(ad)) { /* W_out holds W0 H_in until the last transpose overwrites it */
        PRISM_TRY(prism_reflect(s, ad->W0, val(ad, in.u), val(ad, in.v), NULL, W_out));
        w = W_out;
    }
    /* H_out W = (Wᵀ H_out)ᵀ: reflect the rows of the transpose */
    PRISM_TRY(prism_adapter_scratch2(ad, SLOT_M1, "ether merge Wᵀ", ad->n, ad->m, &B));
    PRISM_TRY(prism_adapter_scratch2(ad, SLOT_M2, "ether merge Wᵀ H_out", ad->n, ad->m, &C));
    PRISM_TRY(prism_transpose(s, w, B));
    PRISM_TRY(prism_reflect(s, B, val(ad, out.u), val(ad, out.v), NULL, C));
    PRISM_TRY(prism_transpose(s, C, W_out));
cleanup:
    return st;
}

/* Every block of every vector must be non-zero (and finite). */
static prism_status ether_validate(prism_adapter *ad, const float *const *values) {
    for (int i = 0; i < ad->nparams; i++) {
        const prism_tensor *t = ad->params[i].value;
        int64_t nb = t->shape[0], b = t->shape[1];
        for (int64_t k = 0; k < nb; k++) {
            bool zero = true;
            for (int64_t j = 0; j < b; j++) {
                float x = values[i][k * b + j];
                if (!isfinite(x))
                    return prism_set_error(ad->ctx, PRISM_ERR_NOT_FINITE,
                                           "adapter_load (%s): '%s' block %lld holds a non-finite value", mname(ad),
                                           ad->params[i].name, (long long)k);
                zero = zero && x == 0.0f;
            }
            if (zero)
                return prism_set_error(ad->ctx, PRISM_ERR_NOT_FINITE,
                                       "adapter_load (%s): '%s' block %lld of %lld is all zeros: its reflection "
                                       "I - 2uuᵀ/|u|² is undefined (0/0)",
                                       mname(ad), ad->params[i].name, (long long)k, (long long)nb);
        }
    }
    return PRISM_OK;
}

static const char *const SIDES[3] = {"in", "out", "both"};

static prism_status ether_to_json(const prism_adapter_config *cfg, cJSON *obj) {
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "blocks");
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "side");
    int side = cfg->side >= 0 && cfg->side <= 2 ? (int)cfg->side : 0;
    bool ok = cJSON_AddNumberToObject(obj, "blocks", cfg->blocks) && cJSON_AddStringToObject(obj, "side", SIDES[side]);
    return ok ? PRISM_OK : PRISM_ERR_OUT_OF_HOST_MEMORY;
}

static prism_status ether_from_json(const cJSON *obj, prism_adapter_config *cfg, char *err, size_t err_len) {
    int64_t blocks;
    const char *side;
    prism_status st = prism_json_get_int(obj, "blocks", cfg->blocks, &blocks, err, err_len);
    if (!st) st = prism_json_get_string(obj, "side", SIDES[cfg->side], &side, err, err_len);
    if (st) return st;
    if (blocks < 1 || blocks > (int64_t)1 << 30) {
        snprintf(err, err_len, "adapter_config: \"blocks\" = %lld is out of range", (long long)blocks);
        return PRISM_ERR_FORMAT;
    }
    int found = -1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(side, SIDES[i])) found = i;
    if (found < 0) {
        snprintf(err, err_len, "adapter_config: \"side\" = \"%s\" is not in, out or both", side);
        return PRISM_ERR_FORMAT;
    }
    cfg->blocks = (int)blocks;
    cfg->side = (prism_side)found;
    return PRISM_OK;
}

const prism_adapter_vt prism_vt_ether = {
    .method = PRISM_METHOD_ETHER,
    .peft_type = "ETHER",
    .init = ether_init,
    .forward = ether_forward,
    .backward = ether_backward,
    .merge = ether_merge,
    .validate_loaded = ether_validate,
    .config_to_json = ether_to_json,
    .config_from_json = ether_from_json,
};

const prism_adapter_vt prism_vt_ether_plus = {
    .method = PRISM_METHOD_ETHER_PLUS,
    .peft_type = "ETHER_PLUS",
    .init = ether_init,
    .forward = ether_forward,
    .backward = ether_backward,
    .merge = ether_merge,
    .validate_loaded = ether_validate,
    .config_to_json = ether_to_json,
    .config_from_json = ether_from_json,
};
