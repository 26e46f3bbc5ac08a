/* X-PEFT (METHODS.md "Decisions for prism" and §4; include/prism/xpeft.h):
 * a frozen bank of N adapters (A_i [r, n_in], B_i [m, r]) mixed by trained
 * mask logits s^A, s^B [N]. peft_type "XPEFT"; keys xpeft_logits_A/B [N] and,
 * when the bank is not a seed bank, xpeft_bank_A [N, r, n_in] and
 * xpeft_bank_B [N, m, r] (frozen).
 *
 * Every forward rebuilds the effective adapter from the current logits (the
 * logits change every step; the work is O(N r (n_in + m)), a fraction of one
 * GEMM of the layer):
 *   w = mask(s)  (xpeft_mask)         A_eff = Σ w^A_i A_i, B_eff = Σ w^B_i B_i
 * then it runs like LoRA (parallel) or as a serial bottleneck on z = W0 x + b:
 *   parallel  H = X A_effᵀ,  Y = X W0ᵀ + b + H B_effᵀ
 *   serial    Z = X W0ᵀ + b, H = Z A_effᵀ, Φ = φ(H), Y = Z + Φ B_effᵀ
 * Backward (§4, G = dY):
 *   dB_eff = Gᵀ Φ (Φ = H in parallel), Pg = G B_eff, dP = Pg ⊙ φ'(H)
 *   parallel  dA_eff = Pgᵀ X,  dX = G W0 + Pg A_eff
 *   serial    dA_eff = dPᵀ Z,  dZ = G + dP A_eff, dX = dZ W0
 *   dw_i = ⟨dA_eff, A_i⟩ (xpeft_bank_grad), ds += mask_backward(w, dw)
 * Nothing of size m·n is formed in training. Merge: parallel W0 + B_eff A_eff;
 * serial only with φ = identity and no bias ((I + B_eff A_eff) W0; a bias
 * would change too, which merge cannot express).
 *
 * Logits start U(-0.01, 0.01) from Philox(cfg.seed): near-uniform soft masks,
 * and a random (not index-ordered) initial top-k for hard masks. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "adapter_internal.h"
#include "prism/xpeft.h"

enum {
    S_H = 0, S_PHI, S_PG, S_Z, S_DZ, S_WA, S_WB, S_AE, S_BE, S_DAE, S_DBE, S_DWA, S_DWB, S_BANKA, S_BANKB, S_DP
};

const prism_xpeft_bank prism_xpeft_bank_in_file = {0, 0, 0, 0, NULL, NULL};

typedef struct xp_priv {
    int k;                   /* resolved hard-mask k */
    int64_t n_in;            /* n (parallel) or m (serial) */
    prism_tensor *bankA, *bankB; /* the bank (params or scratch), not owned */
    prism_tensor *merge_tmp; /* serial merge: A_eff W0 [r, n], owned */
} xp_priv;

static const char *MASKS[] = {"soft", "hard"}, *PLACES[] = {"parallel", "serial"},
                  *ACTS[] = {"identity", "relu", "gelu"};

static xp_priv *priv(const prism_adapter *ad) { return (xp_priv *)ad->priv; }
static bool serial(const prism_adapter *ad) { return ad->cfg.placement == PRISM_PLACE_SERIAL; }

static prism_status bad(prism_adapter *ad, const char *fmt, const char *field, long long v) {
    char msg[256];
    snprintf(msg, sizeof msg, fmt, field, v);
    return prism_set_error(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "adapter_create (xpeft): %s", msg);
}

static prism_status upload_bank(prism_adapter *ad, const prism_xpeft_bank *b) {
    xp_priv *p = priv(ad);
    int64_t na = (int64_t)b->n_bank * b->r * b->n_in, nb = (int64_t)b->n_bank * b->m_out * b->r;
    for (int64_t i = 0; i < na; i++)
        if (!isfinite(b->A[i])) return bad(ad, "%s[%lld] is not finite", "bank A", (long long)i);
    for (int64_t i = 0; i < nb; i++)
        if (!isfinite(b->B[i])) return bad(ad, "%s[%lld] is not finite", "bank B", (long long)i);
    prism_status st = prism_tensor_upload(p->bankA, b->A, na);
    return st ? st : prism_tensor_upload(p->bankB, b->B, nb);
}

static prism_status xp_init(prism_adapter *ad, prism_stream *s) {
    prism_adapter_config *c = &ad->cfg;
    if (c->n_bank < 1 || c->n_bank > 65536) return bad(ad, "%s = %lld must be in 1..65536", "n_bank", c->n_bank);
    if (c->r < 1) return bad(ad, "%s = %lld must be >= 1", "r", c->r);
    if (c->mask != PRISM_MASK_SOFT && c->mask != PRISM_MASK_HARD) return bad(ad, "%s = %lld", "mask", c->mask);
    if (c->placement != PRISM_PLACE_PARALLEL && c->placement != PRISM_PLACE_SERIAL)
        return bad(ad, "%s = %lld", "placement", c->placement);
    if (c->act < PRISM_ACT_IDENTITY || c->act > PRISM_ACT_GELU) return bad(ad, "%s = %lld", "act", c->act);
    if (c->k < 0 || c->k > c->n_bank) return bad(ad, "%s = %lld must be in 0..n_bank (0: ceil(N/4))", "k", c->k);
    xp_priv *p = calloc(1, sizeof *p);
    if (!p) return prism_set_error(ad->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "adapter_create (xpeft): out of memory");
    ad->priv = p;
    p->k = c->k ? c->k : (c->n_bank + 3) / 4;
    p->n_in = serial(ad) ? ad->m : ad->n;
    const prism_xpeft_bank *bank = c->ext;
    int64_t N = c->n_bank, r = c->r;
    if (bank && bank->A && bank->B) {
        if (bank->n_bank != c->n_bank || bank->r != c->r || bank->m_out != ad->m || bank->n_in != p->n_in) {
            return prism_set_error(ad->ctx, PRISM_ERR_INVALID_ARGUMENT,
                                   "adapter_create (xpeft): bank N=%d r=%d m_out=%lld n_in=%lld does not fit n_bank "
                                   "%d, r %d, layer m=%lld n_in=%lld (%s placement); see prism_xpeft_config_use_bank",
                                   bank->n_bank, bank->r, (long long)bank->m_out, (long long)bank->n_in, c->n_bank,
                                   c->r, (long long)ad->m, (long long)p->n_in, PLACES[c->placement]);
        }
    } else if (bank && (bank->A || bank->B)) {
        return prism_set_error(ad->ctx, PRISM_ERR_INVALID_ARGUMENT,
                               "adapter_create (xpeft): bank A and B must both be set (or both NULL: from a file)");
    }
    int64_t sl[1] = {N}, sa[3] = {N, r, p->n_in}, sb[3] = {N, ad->m, r};
    prism_tensor *lA = NULL, *lB = NULL;
    prism_status st = prism_adapter_add_param(ad, "xpeft_logits_A", 1, sl, 1, &lA);
    if (!st) st = prism_adapter_add_param(ad, "xpeft_logits_B", 1, sl, 1, &lB);
    if (!st) st = prism_rng_uniform(s, c->seed, 0, -0.01f, 0.01f, lA);
    if (!st) st = prism_rng_uniform(s, c->seed, (uint64_t)(N + 3) / 4, -0.01f, 0.01f, lB);
    if (st) return st;
    if (bank) {
        /* saved with the adapter; ext now names the file form, so the caller's
         * bank may be freed and a save writes bank_source "tensors" */
        if ((st = prism_adapter_add_param(ad, "xpeft_bank_A", 3, sa, 0, &p->bankA))) return st;
        if ((st = prism_adapter_add_param(ad, "xpeft_bank_B", 3, sb, 0, &p->bankB))) return st;
        st = bank->A ? upload_bank(ad, bank) : PRISM_OK;
        if (!st && !bank->A) st = prism_fill(s, p->bankA, 0.0f);
        if (!st && !bank->A) st = prism_fill(s, p->bankB, 0.0f);
        c->ext = &prism_xpeft_bank_in_file;
    } else {
        /* seed bank: only cfg.bank_seed is saved; A and B from disjoint Philox blocks */
        if ((st = prism_adapter_scratch2(ad, S_BANKA, "xpeft seed bank A", N, r * p->n_in, &p->bankA))) return st;
        if ((st = prism_adapter_scratch2(ad, S_BANKB, "xpeft seed bank B", N, ad->m * r, &p->bankB))) return st;
        st = prism_adapter_kaiming(s, c->bank_seed, 0, p->n_in, p->bankA);
        if (!st) st = prism_rng_normal(s, c->bank_seed, (uint64_t)PRISM_CEIL_DIV(N * r * p->n_in, 4), 0.0f,
                                       (float)(1.0 / sqrt((double)r)), p->bankB);
    }
    if (!st && serial(ad)) {
        int64_t ts[2] = {r, ad->n};
        st = prism_tensor_create(ad->ctx, 2, ts, &p->merge_tmp);
    }
    return st;
}

static void xp_destroy(prism_adapter *ad) {
    xp_priv *p = priv(ad);
    if (!p) return;
    prism_tensor_destroy(p->merge_tmp);
    free(p);
    ad->priv = NULL;
}

typedef struct eff {
    prism_tensor *wA, *wB, *Ae, *Be;
} eff;

/* Masks and effective adapter from the current logits. */
static prism_status make_eff(prism_stream *s, prism_adapter *ad, eff *e) {
    xp_priv *p = priv(ad);
    int64_t N = ad->cfg.n_bank, r = ad->cfg.r;
    prism_status st = prism_adapter_scratch2(ad, S_WA, "xpeft w_A", 1, N, &e->wA);
    if (!st) st = prism_adapter_scratch2(ad, S_WB, "xpeft w_B", 1, N, &e->wB);
    if (!st) st = prism_adapter_scratch2(ad, S_AE, "xpeft A_eff", r, p->n_in, &e->Ae);
    if (!st) st = prism_adapter_scratch2(ad, S_BE, "xpeft B_eff", ad->m, r, &e->Be);
    if (!st) st = prism_xpeft_mask(s, ad->cfg.mask, p->k, ad->params[0].value, e->wA);
    if (!st) st = prism_xpeft_mask(s, ad->cfg.mask, p->k, ad->params[1].value, e->wB);
    if (!st) st = prism_xpeft_bank_sum(s, e->wA, p->bankA, e->Ae);
    if (!st) st = prism_xpeft_bank_sum(s, e->wB, p->bankB, e->Be);
    return st;
}

static prism_status act_fwd(prism_stream *s, prism_activation a, const prism_tensor *x, prism_tensor *y) {
    return a == PRISM_ACT_RELU ? prism_relu(s, x, y) : prism_gelu(s, x, y);
}

static prism_status xp_forward(prism_stream *s, prism_adapter *ad, const prism_tensor *X, prism_tensor *Y) {
    eff e;
    int64_t T = X->shape[0], r = ad->cfg.r;
    prism_tensor *H = NULL, *Phi = NULL, *Z = NULL;
    prism_status st = make_eff(s, ad, &e);
    if (!st) st = prism_adapter_scratch2(ad, S_H, "xpeft H", T, r, &H);
    if (st) return st;
    if (!serial(ad)) {
        st = prism_linear_forward(s, ad, ad->W0, ad->bias, X, Y);
        if (!st) st = prism_gemm(s, 0, 1, 1.0f, X, e.Ae, 0.0f, H);
        if (!st) st = prism_gemm(s, 0, 1, 1.0f, H, e.Be, 1.0f, Y);
        return st;
    }
    Phi = H;
    st = prism_adapter_scratch2(ad, S_Z, "xpeft Z", T, ad->m, &Z);
    if (!st) st = prism_linear_forward(s, ad, ad->W0, ad->bias, X, Z);
    if (!st) st = prism_gemm(s, 0, 1, 1.0f, Z, e.Ae, 0.0f, H);
    if (!st && ad->cfg.act != PRISM_ACT_IDENTITY) {
        st = prism_adapter_scratch2(ad, S_PHI, "xpeft phi(H)", T, r, &Phi);
        if (!st) st = act_fwd(s, ad->cfg.act, H, Phi);
    }
    if (!st) st = prism_copy(s, Z, Y);
    if (!st) st = prism_gemm(s, 0, 1, 1.0f, Phi, e.Be, 1.0f, Y);
    return st;
}

static prism_status xp_backward(prism_stream *s, prism_adapter *ad, const prism_tensor *X, const prism_tensor *dY,
                                prism_tensor *dX) {
    xp_priv *p = priv(ad);
    int64_t T = X->shape[0], r = ad->cfg.r, N = ad->cfg.n_bank;
    bool ser = serial(ad), nonlin = ser && ad->cfg.act != PRISM_ACT_IDENTITY;
    prism_tensor *H, *Phi, *Pg, *dP, *Z = NULL, *dZ, *dAe, *dBe, *dwA, *dwB, *wA, *wB, *Ae, *Be;
    /* the forward's scratch (same shapes, so the same tensors) */
    prism_status st = prism_adapter_scratch2(ad, S_H, "xpeft H", T, r, &H);
    if (!st) st = prism_adapter_scratch2(ad, S_WA, "xpeft w_A", 1, N, &wA);
    if (!st) st = prism_adapter_scratch2(ad, S_WB, "xpeft w_B", 1, N, &wB);
    if (!st) st = prism_adapter_scratch2(ad, S_AE, "xpeft A_eff", r, p->n_in, &Ae);
    if (!st) st = prism_adapter_scratch2(ad, S_BE, "xpeft B_eff", ad->m, r, &Be);
    if (!st) st = prism_adapter_scratch2(ad, S_PG, "xpeft dY B_eff", T, r, &Pg);
    if (!st) st = prism_adapter_scratch2(ad, S_DAE, "xpeft dA_eff", r, p->n_in, &dAe);
    if (!st) st = prism_adapter_scratch2(ad, S_DBE, "xpeft dB_eff", ad->m, r, &dBe);
    if (!st) st = prism_adapter_scratch2(ad, S_DWA, "xpeft dw_A", 1, N, &dwA);
    if (!st) st = prism_adapter_scratch2(ad, S_DWB, "xpeft dw_B", 1, N, &dwB);
    if (!st && ser) st = prism_adapter_scratch2(ad, S_Z, "xpeft Z", T, ad->m, &Z);
    if (st) return st;
    Phi = H;
    dP = Pg;
    if (nonlin) {
        st = prism_adapter_scratch2(ad, S_PHI, "xpeft phi(H)", T, r, &Phi);
        if (!st) st = prism_adapter_scratch2(ad, S_DP, "xpeft dP", T, r, &dP);
        if (st) return st;
    }
    st = prism_gemm(s, 1, 0, 1.0f, dY, Phi, 0.0f, dBe);              /* dB_eff = Gᵀ Φ */
    if (!st) st = prism_gemm(s, 0, 0, 1.0f, dY, Be, 0.0f, Pg);       /* Pg = G B_eff */
    if (!st && nonlin)
        st = ad->cfg.act == PRISM_ACT_RELU ? prism_relu_backward(s, H, Pg, dP) : prism_gelu_backward(s, H, Pg, dP);
    if (!st) st = prism_gemm(s, 1, 0, 1.0f, dP, ser ? Z : X, 0.0f, dAe); /* dA_eff = dPᵀ (Z or X) */
    if (!st) st = prism_xpeft_bank_grad(s, p->bankA, dAe, 0, dwA);
    if (!st) st = prism_xpeft_bank_grad(s, p->bankB, dBe, 0, dwB);
    if (!st) st = prism_xpeft_mask_backward(s, ad->cfg.mask, wA, dwA, 1, ad->params[0].grad);
    if (!st) st = prism_xpeft_mask_backward(s, ad->cfg.mask, wB, dwB, 1, ad->params[1].grad);
    if (st || !dX) return st;
    if (!ser) {
        st = prism_linear_backward_input(s, ad->W0, dY, dX);         /* dX = G W0 + Pg A_eff */
        return st ? st : prism_gemm(s, 0, 0, 1.0f, Pg, Ae, 1.0f, dX);
    }
    st = prism_adapter_scratch2(ad, S_DZ, "xpeft dZ", T, ad->m, &dZ);
    if (!st) st = prism_copy(s, dY, dZ);                             /* dZ = G + dP A_eff */
    if (!st) st = prism_gemm(s, 0, 0, 1.0f, dP, Ae, 1.0f, dZ);
    if (!st) st = prism_linear_backward_input(s, ad->W0, dZ, dX);    /* dX = dZ W0 */
    return st;
}

static prism_status xp_merge(prism_stream *s, prism_adapter *ad, prism_tensor *W_out) {
    eff e;
    if (serial(ad) && (ad->cfg.act != PRISM_ACT_IDENTITY || ad->bias))
        return prism_set_error(ad->ctx, PRISM_ERR_UNSUPPORTED,
                               "serial placement with %s cannot be merged into one weight (y = W_eff x + b with the "
                               "layer's bias): use parallel placement, or identity and no bias",
                               ad->bias ? "a bias" : ACTS[ad->cfg.act]);
    prism_status st = make_eff(s, ad, &e);
    if (!st) st = prism_copy(s, ad->W0, W_out);
    if (st) return st;
    if (!serial(ad)) return prism_gemm(s, 0, 0, 1.0f, e.Be, e.Ae, 1.0f, W_out); /* W0 + B_eff A_eff */
    st = prism_gemm(s, 0, 0, 1.0f, e.Ae, ad->W0, 0.0f, priv(ad)->merge_tmp);       /* A_eff W0 */
    return st ? st : prism_gemm(s, 0, 0, 1.0f, e.Be, priv(ad)->merge_tmp, 1.0f, W_out);
}

/* ------------------------------------------------------------------ JSON */

static int find(const char *const *names, int n, const char *v) {
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], v)) return i;
    return -1;
}

static prism_status xp_to_json(const prism_adapter_config *cfg, cJSON *obj) {
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)cfg->bank_seed);
    static const char *const KEYS[] = {"n_bank", "k", "mask", "placement", "activation", "bank_source", "bank_seed"};
    for (size_t i = 0; i < PRISM_ARRAY_LEN(KEYS); i++) cJSON_DeleteItemFromObjectCaseSensitive(obj, KEYS[i]);
    int k = cfg->k ? cfg->k : (cfg->n_bank + 3) / 4;
    int mask = cfg->mask == PRISM_MASK_HARD, place = cfg->placement == PRISM_PLACE_SERIAL;
    int act = cfg->act >= PRISM_ACT_IDENTITY && cfg->act <= PRISM_ACT_GELU ? (int)cfg->act : 0;
    bool ok = cJSON_AddNumberToObject(obj, "n_bank", cfg->n_bank) && cJSON_AddNumberToObject(obj, "k", k) &&
              cJSON_AddStringToObject(obj, "mask", MASKS[mask]) &&
              cJSON_AddStringToObject(obj, "placement", PLACES[place]) &&
              cJSON_AddStringToObject(obj, "activation", ACTS[act]) &&
              cJSON_AddStringToObject(obj, "bank_source", cfg->ext ? "tensors" : "seed") &&
              cJSON_AddStringToObject(obj, "bank_seed", seed); /* a string: exact for any 64-bit seed */
    return ok ? PRISM_OK : PRISM_ERR_OUT_OF_HOST_MEMORY;
}

static prism_status enum_field(const cJSON *obj, const char *key, const char *const *names, int n, int def, int *out,
                               char *err, size_t err_len) {
    const char *v;
    prism_status st = prism_json_get_string(obj, key, names[def], &v, err, err_len);
    if (st) return st;
    if ((*out = find(names, n, v)) < 0) {
        snprintf(err, err_len, "adapter_config: \"%s\" = \"%s\" is not one of %s/%s%s%s", key, v, names[0], names[1],
                 n > 2 ? "/" : "", n > 2 ? names[2] : "");
        return PRISM_ERR_FORMAT;
    }
    return PRISM_OK;
}

static prism_status xp_from_json(const cJSON *obj, prism_adapter_config *cfg, char *err, size_t err_len) {
    int64_t nb, k;
    int mask, place, act, src;
    const char *seed;
    static const char *const SRC[] = {"seed", "tensors"};
    prism_status st = prism_json_get_int(obj, "n_bank", cfg->n_bank, &nb, err, err_len);
    if (!st) st = prism_json_get_int(obj, "k", cfg->k, &k, err, err_len);
    if (!st) st = enum_field(obj, "mask", MASKS, 2, cfg->mask == PRISM_MASK_HARD, &mask, err, err_len);
    if (!st) st = enum_field(obj, "placement", PLACES, 2, 0, &place, err, err_len);
    if (!st) st = enum_field(obj, "activation", ACTS, 3, 0, &act, err, err_len);
    if (!st) st = enum_field(obj, "bank_source", SRC, 2, 0, &src, err, err_len);
    if (!st) st = prism_json_get_string(obj, "bank_seed", NULL, &seed, err, err_len);
    if (st) return st;
    if (nb < 1 || nb > 65536 || k < 0 || k > nb) {
        snprintf(err, err_len, "adapter_config: n_bank %lld / k %lld out of range", (long long)nb, (long long)k);
        return PRISM_ERR_FORMAT;
    }
    uint64_t sv = cfg->bank_seed;
    if (seed) {
        char *end = NULL;
        errno = 0;
        sv = strtoull(seed, &end, 10);
        /* strtoull skips spaces, takes a sign and saturates: none of that is a
         * decimal uint64 as the writer prints it */
        if (seed[0] < '0' || seed[0] > '9' || *end || errno == ERANGE) {
            snprintf(err, err_len, "adapter_config: bank_seed \"%s\" is not a decimal uint64", seed);
            return PRISM_ERR_FORMAT;
        }
    }
    cfg->n_bank = (int)nb;
    cfg->k = (int)k;
    cfg->mask = mask ? PRISM_MASK_HARD : PRISM_MASK_SOFT;
    cfg->placement = place ? PRISM_PLACE_SERIAL : PRISM_PLACE_PARALLEL;
    cfg->act = (prism_activation)act;
    cfg->bank_seed = sv;
    cfg->ext = src ? &prism_xpeft_bank_in_file : NULL;
    return PRISM_OK;
}

const prism_adapter_vt prism_vt_xpeft = {
    .method = PRISM_METHOD_XPEFT,
    .peft_type = "XPEFT",
    .init = xp_init,
    .forward = xp_forward,
    .backward = xp_backward,
    .merge = xp_merge,
    .config_to_json = xp_to_json,
    .config_from_json = xp_from_json,
    .destroy = xp_destroy,
};

/* ------------------------------------------------------------------ adapter helpers */

static prism_status need_xpeft(prism_adapter *ad, const char *op) {
    if (!ad) return PRISM_ERR_INVALID_ARGUMENT;
    if (ad->vt != &prism_vt_xpeft)
        return prism_set_error(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: the adapter is %s, not xpeft", op,
                               prism_method_name(ad->cfg.method));
    return PRISM_OK;
}

int prism_xpeft_adapter_k(const prism_adapter *ad) {
    return ad && ad->vt == &prism_vt_xpeft && ad->priv ? priv(ad)->k : 0;
}

prism_status prism_xpeft_bank_tensors(const prism_adapter *ad, const prism_tensor **A, const prism_tensor **B) {
    if (!ad || !A || !B) return PRISM_ERR_INVALID_ARGUMENT;
    prism_status st = need_xpeft((prism_adapter *)ad, "xpeft_bank_tensors");
    if (st) return st;
    *A = priv(ad)->bankA;
    *B = priv(ad)->bankB;
    return PRISM_OK;
}

prism_status prism_xpeft_get_logits(prism_adapter *ad, float *lA, float *lB) {
    prism_status st = need_xpeft(ad, "xpeft_get_logits");
    if (!st && lA) st = prism_tensor_download(ad->params[0].value, lA, ad->cfg.n_bank);
    if (!st && lB) st = prism_tensor_download(ad->params[1].value, lB, ad->cfg.n_bank);
    return st;
}

prism_status prism_xpeft_set_logits(prism_adapter *ad, const float *lA, const float *lB) {
    prism_status st = need_xpeft(ad, "xpeft_set_logits");
    for (int i = 0; !st && i < ad->cfg.n_bank; i++)
        if ((lA && !isfinite(lA[i])) || (lB && !isfinite(lB[i])))
            st = prism_set_error(ad->ctx, PRISM_ERR_NOT_FINITE, "xpeft_set_logits: logit %d is not finite", i);
    if (!st && lA) st = prism_tensor_upload(ad->params[0].value, lA, ad->cfg.n_bank);
    if (!st && lB) st = prism_tensor_upload(ad->params[1].value, lB, ad->cfg.n_bank);
    return st;
}

prism_status prism_xpeft_profile_get(prism_adapter *const *layers, int L, float *logits) {
    if (!layers || L < 1 || !logits || !layers[0]) return PRISM_ERR_INVALID_ARGUMENT;
    int N = layers[0]->cfg.n_bank;
    for (int l = 0; l < L; l++) {
        prism_status st = need_xpeft(layers[l], "xpeft_profile_get");
        if (!st && layers[l]->cfg.n_bank != N)
            st = prism_set_error(layers[l]->ctx, PRISM_ERR_SHAPE, "xpeft_profile_get: layer %d has N = %d, layer 0 %d",
                                 l, layers[l]->cfg.n_bank, N);
        if (!st) st = prism_xpeft_get_logits(layers[l], logits + (size_t)l * 2 * N, logits + ((size_t)l * 2 + 1) * N);
        if (st) return st;
    }
    return PRISM_OK;
}

prism_status prism_xpeft_profile_set(prism_adapter *const *layers, int L, const float *logits) {
    if (!layers || L < 1 || !logits || !layers[0]) return PRISM_ERR_INVALID_ARGUMENT;
    int N = layers[0]->cfg.n_bank;
    for (int l = 0; l < L; l++) {
        prism_status st = need_xpeft(layers[l], "xpeft_profile_set");
        if (!st && layers[l]->cfg.n_bank != N)
            st = prism_set_error(layers[l]->ctx, PRISM_ERR_SHAPE, "xpeft_profile_set: layer %d has N = %d, layer 0 %d",
                                 l, layers[l]->cfg.n_bank, N);
        if (!st) st = prism_xpeft_set_logits(layers[l], logits + (size_t)l * 2 * N, logits + ((size_t)l * 2 + 1) * N);
        if (st) return st;
    }
    return PRISM_OK;
}

/* ------------------------------------------------------------------ banks */

prism_status prism_xpeft_bank_create(int n_bank, int r, int64_t m_out, int64_t n_in, prism_xpeft_bank **out) {
    if (!out) return PRISM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (n_bank < 1 || n_bank > 65536 || r < 1 || m_out < 1 || n_in < 1 || r > (1 << 20) || m_out > ((int64_t)1 << 31) ||
        n_in > ((int64_t)1 << 31) || (int64_t)n_bank * r * (m_out + n_in) > PRISM_MAX_ELEMS)
        return PRISM_ERR_INVALID_ARGUMENT;
    prism_xpeft_bank *b = calloc(1, sizeof *b);
    if (!b) return PRISM_ERR_OUT_OF_HOST_MEMORY;
    b->n_bank = n_bank;
    b->r = r;
    b->m_out = m_out;
    b->n_in = n_in;
    b->A = calloc((size_t)n_bank * (size_t)r * (size_t)n_in, sizeof(float));
    b->B = calloc((size_t)n_bank * (size_t)m_out * (size_t)r, sizeof(float));
    if (!b->A || !b->B) {
        prism_xpeft_bank_destroy(b);
        return PRISM_ERR_OUT_OF_HOST_MEMORY;
    }
    *out = b;
    return PRISM_OK;
}

void prism_xpeft_bank_destroy(prism_xpeft_bank *b) {
    if (!b) return;
    free(b->A);
    free(b->B);
    free(b);
}

prism_status prism_xpeft_bank_set_member(prism_xpeft_bank *b, int i, int r_i, const float *A, const float *B,
                                         float scale) {
    if (!b || !A || !B || i < 0 || i >= b->n_bank || r_i < 1 || r_i > b->r || !isfinite(scale))
        return PRISM_ERR_INVALID_ARGUMENT;
    int64_t na = (int64_t)r_i * b->n_in, nbm = b->m_out * r_i;
    for (int64_t j = 0; j < na; j++)
        if (!isfinite(A[j])) return PRISM_ERR_NOT_FINITE;
    for (int64_t j = 0; j < nbm; j++)
        if (!isfinite(B[j]) || !isfinite(B[j] * scale)) return PRISM_ERR_NOT_FINITE;
    float *a = b->A + (size_t)i * (size_t)b->r * (size_t)b->n_in, *bb = b->B + (size_t)i * (size_t)b->m_out * (size_t)b->r;
    memset(a, 0, sizeof(float) * (size_t)b->r * (size_t)b->n_in);
    memcpy(a, A, sizeof(float) * (size_t)na);          /* rows r_i.. of A stay 0 */
    for (int64_t row = 0; row < b->m_out; row++)       /* columns r_i.. of B stay 0 */
        for (int c = 0; c < b->r; c++) bb[row * b->r + c] = c < r_i ? B[row * r_i + c] * scale : 0.0f;
    return PRISM_OK;
}

void prism_xpeft_config_use_bank(prism_adapter_config *cfg, const prism_xpeft_bank *bank) {
    if (!cfg || !bank) return;
    cfg->n_bank = bank->n_bank;
    cfg->r = bank->r;
    cfg->ext = bank;
}

/* One LoRA member read straight from its files. */
static prism_status lora_member(const char *dir, const char *module, int64_t m, int64_t n, int *r_out, float *scale,
                                float **A, float **B, char *err, size_t err_len) {
    char path[4096], key[1024];
    cJSON *root = NULL;
    prism_st_file *f = NULL;
    prism_adapter_config cfg;
    prism_status st;
    *A = *B = NULL;
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    if ((st = prism_json_read(path, 0, &root, err, err_len))) goto done;
    if ((st = prism_adapter_config_from_json(root, &cfg, err, err_len))) goto done;
    if (cfg.method != PRISM_METHOD_LORA) {
        snprintf(err, err_len, "'%s' is a %s adapter, not LoRA", dir, prism_method_name(cfg.method));
        st = PRISM_ERR_FORMAT;
        goto done;
    }
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    if ((st = prism_st_open(path, 0, &f, err, err_len))) goto done;
    const char *names[2] = {"lora_A.weight", "lora_B.weight"};
    int64_t want[2][2] = {{cfg.r, n}, {m, cfg.r}};
    for (int t = 0; t < 2; t++) {
        snprintf(key, sizeof key, "base_model.model.%s.%s", module, names[t]);
        const prism_st_tensor *ti = prism_st_find(f, key);
        if (!ti || ti->ndim != 2 || ti->shape[0] != want[t][0] || ti->shape[1] != want[t][1]) {
            snprintf(err, err_len, "'%s': %s %s (want [%lld, %lld])", path, key, ti ? "has the wrong shape" : "is missing",
                     (long long)want[t][0], (long long)want[t][1]);
            st = PRISM_ERR_FORMAT;
            goto done;
        }
        float **dst = t ? B : A;
        if (!(*dst = malloc(sizeof(float) * (size_t)ti->numel))) {
            st = PRISM_ERR_OUT_OF_HOST_MEMORY;
            goto done;
        }
        if ((st = prism_st_read_f32(f, key, *dst, ti->numel, err, err_len))) {
            st = PRISM_ERR_FORMAT;
            goto done;
        }
    }
    *r_out = cfg.r;
    *scale = cfg.lora_alpha / (float)cfg.r;
done:
    if (st) {
        free(*A);
        free(*B);
        *A = *B = NULL;
    }
    prism_st_close(f);
    cJSON_Delete(root);
    return st;
}

prism_status prism_xpeft_bank_from_lora_dirs(const char *const *dirs, int count, const char *module, int64_t m,
                                             int64_t n, prism_xpeft_bank **out, char *err, size_t err_len) {
    if (out) *out = NULL;
    if (!dirs || count < 1 || !module || !*module || !out || m < 1 || n < 1) {
        snprintf(err, err_len, "xpeft_bank_from_lora_dirs: bad arguments (count %d, m %lld, n %lld)", count,
                 (long long)m, (long long)n);
        return PRISM_ERR_INVALID_ARGUMENT;
    }
    int *rs = calloc((size_t)count, sizeof *rs);
    float *sc = calloc((size_t)count, sizeof *sc), **As = calloc((size_t)count, sizeof *As),
          **Bs = calloc((size_t)count, sizeof *Bs);
    prism_status st = rs && sc && As && Bs ? PRISM_OK : PRISM_ERR_OUT_OF_HOST_MEMORY;
    int rmax = 1;
    for (int i = 0; !st && i < count; i++) {
        st = lora_member(dirs[i] ? dirs[i] : "", module, m, n, &rs[i], &sc[i], &As[i], &Bs[i], err, err_len);
        if (!st && rs[i] > rmax) rmax = rs[i];
    }
    if (!st) st = prism_xpeft_bank_create(count, rmax, m, n, out);
    for (int i = 0; !st && i < count; i++)
        if ((st = prism_xpeft_bank_set_member(*out, i, rs[i], As[i], Bs[i], sc[i])))
            snprintf(err, err_len, "'%s': lora_B * alpha / r is not finite", dirs[i]);
    if (st && *out) {
        prism_xpeft_bank_destroy(*out);
        *out = NULL;
    }
    if (st == PRISM_ERR_OUT_OF_HOST_MEMORY) snprintf(err, err_len, "xpeft_bank_from_lora_dirs: out of host memory");
    for (int i = 0; i < count && As && Bs; i++) {
        free(As[i]);
        free(Bs[i]);
    }
    free(rs);
    free(sc);
    free(As);
    free(Bs);
    return st;
}

prism_status prism_xpeft_bank_from_adapters(prism_adapter *const *loras, int count, prism_xpeft_bank **out) {
    if (!loras || count < 1 || !out || !loras[0]) return PRISM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    prism_adapter *a0 = loras[0];
    int rmax = 1;
    for (int i = 0; i < count; i++) {
        prism_adapter *a = loras[i];
        if (!a || a->cfg.method != PRISM_METHOD_LORA || a->m != a0->m || a->n != a0->n)
            return prism_set_error(a0->ctx, PRISM_ERR_INVALID_ARGUMENT,
                                   "xpeft_bank_from_adapters: adapter %d is %s, not a LoRA adapter on a [%lld, %lld] layer",
                                   i, a ? prism_method_name(a->cfg.method) : "NULL", (long long)a0->m, (long long)a0->n);
        if (a->cfg.r > rmax) rmax = a->cfg.r;
    }
    prism_status st = prism_xpeft_bank_create(count, rmax, a0->m, a0->n, out);
    float *A = NULL, *B = NULL;
    if (!st) {
        A = malloc(sizeof(float) * (size_t)rmax * (size_t)a0->n);
        B = malloc(sizeof(float) * (size_t)rmax * (size_t)a0->m);
        if (!A || !B) st = PRISM_ERR_OUT_OF_HOST_MEMORY;
    }
    for (int i = 0; !st && i < count; i++) {
        prism_adapter *a = loras[i];
        st = prism_tensor_download(a->params[0].value, A, (int64_t)a->cfg.r * a->n);
        if (!st) st = prism_tensor_download(a->params[1].value, B, a->m * a->cfg.r);
        if (!st) st = prism_xpeft_bank_set_member(*out, i, a->cfg.r, A, B, a->cfg.lora_alpha / (float)a->cfg.r);
        if (st == PRISM_ERR_NOT_FINITE)
            prism_set_error(a0->ctx, st, "xpeft_bank_from_adapters: adapter %d has non-finite values", i);
    }
    if (st) {
        prism_xpeft_bank_destroy(*out);
        *out = NULL;
        if (st == PRISM_ERR_OUT_OF_HOST_MEMORY || st == PRISM_ERR_INVALID_ARGUMENT)
            prism_set_error(a0->ctx, st, "xpeft_bank_from_adapters: %s", prism_status_string(st));
    }
    free(A);
    free(B);
    return st;
}
