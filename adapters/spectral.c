/* Frequency-domain adapters: sDCTFT (MaCP) and FourierFT (HF PEFT), METHODS.md
 * §2.1, §2.2 and "Decisions for prism"; design in docs/spectral.md.
 *
 * Both train a few coefficients f_l at fixed spectrum entries (r_l, c_l) of
 * W0's shape, and never form ΔW on the token path:
 *   sDCTFT     ΔW = α C_mᵀ F C_n (orthonormal DCT-II matrices C, F holding
 *              w_l f_l; w_l = g_r g_c for dct_norm none, 1 for ortho)
 *     forward  X̂ = DCT(X) rows; Z = gather(f, X̂); Y = X W0ᵀ + b + IDCT(Z) rows
 *     backward Ĝ = DCT(dY) rows; ∂f += α w Σ_t Ĝ[t,r] X̂[t,c];
 *              dX = dY W0 + IDCT(gatherᵀ(f, Ĝ)) rows
 *   FourierFT  ΔW = s Re(ifft2(F)), s = scaling (ifft2 has the 1/(mn))
 *     forward  X̂ = rfft(X) rows; Y += irfft_m(gather(f, X̂)) with alpha scaling/n
 *     backward Ĝ = rfft(dY) rows; ∂f += scaling/(mn) Σ_t Re(ĝ[r] x̂[c]);
 *              dX += irfft_n(gatherᵀ(f, Ĝ)) with alpha scaling/m
 * (irfft carries 1/L; the gathers produce half spectra whose unnormalised
 * inverse is Re(Σ z e^{+iθ}), include/prism/spectral.h).
 *
 * Dense path: ΔW built once per step (scatter, then a 2-D inverse transform),
 * W_eff = W0 + ΔW, one GEMM each way; the coefficient gradient still comes
 * from the row transforms. Chosen per call by a cost model (docs/spectral.md):
 * the token path costs T (c(m) + c(n)) extra transform work, the dense path
 * m c(n) + n c(m) plus ~6 m n memory traffic; PRISM_SPECTRAL_PATH=token|dense
 * forces one (tests, bench). Merge always builds W0 + ΔW. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "adapter_internal.h"
#include "prism/spectral.h"
#include "prism/dct.h"
#include "io/io_util.h" /* prism_json_put, prism_json_int */
#define ORTHO PRISM_DCT_NORM_ORTHO

/* scratch slots */
enum { S_XH = 0, S_Z = 1, S_D = 2, S_GH = 3, S_WG = 4, S_DX = 5, S_WEFF = 6, S_WORK = 7 };
/* sDCTFT coefficient init draws Philox blocks from here: far above the
 * selection keys (blocks = flat index < 2^32) that use the same seed. */
#define SDCTFT_INIT_OFFSET ((uint64_t)1 << 40)

typedef struct spec_priv {
    int fourier;
    prism_fft_plan *pm, *pn; /* lengths m and n (the same plan when m == n) */
    prism_spectral_index *ix;
    int64_t *flat, count;        /* host copy of the entries (coefficient order) */
    prism_select_info info;      /* sDCTFT: the selection plan */
    int dense; /* path of the last recorded forward */
} spec_priv;

static spec_priv *priv(prism_adapter *ad) { return ad->priv; }
static prism_tensor *coef(prism_adapter *ad) { return ad->params[0].value; }
static const char *mname(const prism_adapter *ad) { return prism_method_name(ad->cfg.method); }

static void spec_destroy(prism_adapter *ad) {
    spec_priv *p = ad->priv;
    if (!p) return;
    if (p->pn != p->pm) prism_fft_plan_destroy(p->pn);
    prism_fft_plan_destroy(p->pm);
    prism_spectral_index_destroy(p->ix);
    free(p->flat);
    free(p);
    ad->priv = NULL;
}

static prism_status make_priv(prism_adapter *ad, int fourier) {
    spec_priv *p = calloc(1, sizeof *p);
    if (!p) return prism_set_error(ad->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "adapter_create (%s): out of host memory", mname(ad));
    ad->priv = p;
    p->fourier = fourier;
    prism_status st = prism_fft_plan_create(ad->ctx, ad->m, PRISM_TRANSFORM_AUTO, &p->pm);
    if (st) return st;
    if (ad->n == ad->m) p->pn = p->pm;
    else st = prism_fft_plan_create(ad->ctx, ad->n, PRISM_TRANSFORM_AUTO, &p->pn);
    return st;
}

/* Index from flat entries (row-major in [m, n]) with the method's weights. */
static prism_status build_index(prism_adapter *ad, int64_t count, const int64_t *flat) {
    spec_priv *p = priv(ad);
    int64_t *rc = malloc(sizeof(int64_t) * (size_t)(2 * count)), *keep = malloc(sizeof(int64_t) * (size_t)count);
    double *w = malloc(sizeof(double) * (size_t)count);
    prism_status st;
    if (!rc || !w || !keep) {
        st = prism_set_error(ad->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "adapter (%s): out of host memory", mname(ad));
        goto done;
    }
    bool none = !p->fourier && ad->cfg.dct_norm == PRISM_DCT_NORM_NONE;
    for (int64_t l = 0; l < count; l++) {
        rc[2 * l] = flat[l] / ad->n;
        rc[2 * l + 1] = flat[l] % ad->n;
        w[l] = none ? prism_dct_none_weight(ad->m, rc[2 * l]) * prism_dct_none_weight(ad->n, rc[2 * l + 1]) : 1.0;
    }
    prism_spectral_index *ix = NULL;
    st = prism_spectral_index_create(ad->ctx, ad->m, ad->n, count, rc, w, &ix);
    if (!st) {
        prism_spectral_index_destroy(p->ix);
        p->ix = ix;
        memcpy(keep, flat, sizeof(int64_t) * (size_t)count);
        free(p->flat);
        p->flat = keep;
        p->count = count;
        keep = NULL;
    }
done:
    free(rc);
    free(w);
    free(keep);
    return st;
}

/* ------------------------------------------------------------------ cost model */

static double row_cost(const prism_fft_plan *plan, int64_t len) {
    double L = (double)len;
    return prism_fft_plan_algo(plan) == PRISM_TRANSFORM_FFT ? 5.0 * L * (log2(L) + 1.0) : 2.0 * L * L;
}

/* 1: build ΔW this step (dense path), 0: stay in activation space. */
static int use_dense(prism_adapter *ad, int64_t T) {
    const char *env = getenv("PRISM_SPECTRAL_PATH");
    if (env && !strcmp(env, "dense")) return 1;
    if (env && !strcmp(env, "token")) return 0;
    spec_priv *p = priv(ad);
    double m = (double)ad->m, n = (double)ad->n, cm = row_cost(p->pm, ad->m), cn = row_cost(p->pn, ad->n);
    double token = (double)T * (cm + cn) + 4.0 * (double)T * (m + n);
    double dense = (p->fourier ? 2.0 : 1.0) * (m * cn + n * cm) + 6.0 * m * n;
    return dense < token;
}

/* ------------------------------------------------------------------ shared math */

static int64_t half2(int64_t len) { return 2 * (len / 2 + 1); }

/* W = W0 + ΔW into W (an [m, n] tensor). */
static prism_status build_weff(prism_stream *s, prism_adapter *ad, prism_tensor *W) {
    spec_priv *p = priv(ad);
    prism_status st;
    if (p->fourier) {
        prism_tensor *work = NULL;
        st = prism_adapter_scratch2(ad, S_WORK, "fourierft ifft2 work", ad->m, 2 * ad->n, &work);
        if (!st) st = prism_spectral_scatter(s, p->ix, coef(ad), ad->cfg.fourier_scaling, W);
        if (!st) st = prism_ifft2_real(s, p->pn, p->pm, W, work, W);
    } else {
        st = prism_spectral_scatter(s, p->ix, coef(ad), ad->cfg.sdctft_alpha, W);
        if (!st) st = prism_dct2d(s, p->pn, p->pm, PRISM_DCT_III, ORTHO, W, W);
    }
    if (!st) st = prism_axpy(s, 1.0f, ad->W0, W);
    return st;
}

/* X̂ = row transform of X (kept in S_XH for backward). */
static prism_status forward_transform(prism_stream *s, prism_adapter *ad, const prism_tensor *X, prism_tensor **Xh) {
    spec_priv *p = priv(ad);
    int64_t T = X->shape[0];
    prism_status st = prism_adapter_scratch2(ad, S_XH, "row transform of X", T, p->fourier ? half2(ad->n) : ad->n, Xh);
    if (st) return st;
    return p->fourier ? prism_rfft(s, p->pn, PRISM_ALONG_ROWS, X, *Xh)
                      : prism_dct(s, p->pn, PRISM_DCT_II, ORTHO, PRISM_ALONG_ROWS, X, *Xh);
}

/* The token path's ΔW term on T rows: D = inverse row transform of
 * gather(f, Src) (forward: Src = X̂, D [T, m]) or of gatherᵀ(f, Src)
 * (transposed, backward: Src = Ĝ, D [T, n]). irfft carries 1/len, so the
 * FourierFT gather takes scaling / (the other side's length). */
static prism_status token_term(prism_stream *s, prism_adapter *ad, int transposed, const prism_tensor *src, int64_t T,
                               prism_tensor **D) {
    spec_priv *p = priv(ad);
    int64_t len = transposed ? ad->n : ad->m, other = transposed ? ad->m : ad->n;
    prism_fft_plan *plan = transposed ? p->pn : p->pm;
    int slot = transposed ? S_WG : S_Z;
    const char *what = transposed ? "transposed gather" : "gathered spectra";
    prism_tensor *Z = NULL;
    prism_status st;
    if (p->fourier) {
        double alpha = (double)ad->cfg.fourier_scaling / (double)other;
        st = prism_adapter_scratch2(ad, slot, what, T, half2(len), &Z);
        if (!st) st = prism_adapter_scratch2(ad, transposed ? S_DX : S_D, "irfft of the gather", T, len, D);
        if (!st) st = prism_spectral_gather(s, p->ix, PRISM_SPECTRAL_FOURIER, transposed, coef(ad), alpha, src, 0.0f, Z);
        if (!st) st = prism_irfft(s, plan, PRISM_ALONG_ROWS, Z, *D);
    } else {
        st = prism_adapter_scratch2(ad, slot, what, T, len, &Z);
        if (!st) st = prism_spectral_gather(s, p->ix, PRISM_SPECTRAL_DCT, transposed, coef(ad), ad->cfg.sdctft_alpha, src,
                                            0.0f, Z);
        if (!st) st = prism_dct(s, plan, PRISM_DCT_III, ORTHO, PRISM_ALONG_ROWS, Z, Z);
        *D = Z;
    }
    return st;
}

static prism_status spec_forward(prism_stream *s, prism_adapter *ad, const prism_tensor *X, prism_tensor *Y) {
    spec_priv *p = priv(ad);
    int64_t T = X->shape[0];
    prism_tensor *Xh = NULL, *D = NULL, *W = NULL;
    prism_status st = forward_transform(s, ad, X, &Xh);
    if (st) return st;
    p->dense = use_dense(ad, T);
    if (p->dense) {
        st = prism_adapter_scratch2(ad, S_WEFF, "W0 + dW", ad->m, ad->n, &W);
        if (!st) st = build_weff(s, ad, W);
        if (!st) st = prism_linear_forward(s, ad, W, ad->bias, X, Y);
        return st;
    }
    if ((st = prism_linear_forward(s, ad, ad->W0, ad->bias, X, Y))) return st;
    if (!(st = token_term(s, ad, 0, Xh, T, &D))) st = prism_axpy(s, 1.0f, D, Y);
    return st;
}

static prism_status spec_backward(prism_stream *s, prism_adapter *ad, const prism_tensor *X, const prism_tensor *dY,
                                  prism_tensor *dX) {
    spec_priv *p = priv(ad);
    int64_t T = X->shape[0];
    prism_tensor *Xh = NULL, *Gh = NULL, *D = NULL, *W = NULL;
    int fo = p->fourier;
    prism_spectral_domain dom = fo ? PRISM_SPECTRAL_FOURIER : PRISM_SPECTRAL_DCT;
    prism_status st = prism_adapter_scratch2(ad, S_XH, "row transform of X", T, fo ? half2(ad->n) : ad->n, &Xh);
    if (!st) st = prism_adapter_scratch2(ad, S_GH, "row transform of dY", T, fo ? half2(ad->m) : ad->m, &Gh);
    if (st) return st;
    st = fo ? prism_rfft(s, p->pm, PRISM_ALONG_ROWS, dY, Gh)
            : prism_dct(s, p->pm, PRISM_DCT_II, ORTHO, PRISM_ALONG_ROWS, dY, Gh);
    double ca = fo ? (double)ad->cfg.fourier_scaling / ((double)ad->m * (double)ad->n) : ad->cfg.sdctft_alpha;
    if (!st) st = prism_spectral_coef_grad(s, p->ix, dom, ca, Gh, Xh, 1.0f, ad->params[0].grad);
    if (st || !dX) return st;
    if (p->dense) {
        if ((st = prism_adapter_scratch2(ad, S_WEFF, "W0 + dW", ad->m, ad->n, &W))) return st;
        return prism_linear_backward_input(s, W, dY, dX);
    }
    if ((st = prism_linear_backward_input(s, ad->W0, dY, dX))) return st;
    if (!(st = token_term(s, ad, 1, Gh, T, &D))) st = prism_axpy(s, 1.0f, D, dX);
    return st;
}

static prism_status spec_merge(prism_stream *s, prism_adapter *ad, prism_tensor *W_out) {
    return build_weff(s, ad, W_out);
}

/* Coefficients: N(0, 1) from Philox (seed, offset) unless init_zero. */
static prism_status init_coef(prism_stream *s, prism_adapter *ad, uint64_t offset) {
    return ad->cfg.init_zero ? prism_fill(s, coef(ad), 0.0f) : prism_rng_normal(s, ad->cfg.seed, offset, 0.0f, 1.0f, coef(ad));
}

static prism_status bad(prism_adapter *ad, const char *fmt, const char *field, double v) {
    char msg[160];
    snprintf(msg, sizeof msg, fmt, field, v);
    return prism_set_error(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "adapter_create (%s): %s", mname(ad), msg);
}

/* ------------------------------------------------------------------ sDCTFT */

/* delta is a float in prism_adapter_config, but the budget rule
 * floor(delta B + 1e-9) is defined on the decimal value (0.7f * 20 =
 * 13.9999998 would lose one energy pick): read the float as its shortest
 * decimal of up to 6 significant digits. */
static double delta_of(float d) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.6g", (double)d);
    return strtod(buf, NULL);
}

/* Selection from |DCT2_ortho(W0)| on the adapter's own stream (it must finish
 * before the index can be built). *flat: malloc'd ascending flat indices. */
static prism_status sdctft_select(prism_adapter *ad, int64_t **flat, int64_t *count) {
    spec_priv *p = priv(ad);
    prism_select_config sc = {ad->cfg.n_coef, delta_of(ad->cfg.delta), ad->cfg.seed};
    prism_selector *sel = NULL;
    prism_tensor *score = NULL, *idx = NULL;
    prism_stream *s = NULL;
    double *h = NULL;
    *flat = NULL;
    prism_status st = prism_selector_create(ad->ctx, ad->m, ad->n, &sc, &sel);
    if (st) return st;
    int64_t nsel = prism_selector_info(sel)->n_selected, ws[2] = {ad->m, ad->n}, is[2] = {nsel, 2};
    PRISM_TRY(prism_tensor_create(ad->ctx, 2, ws, &score));
    PRISM_TRY(prism_tensor_create(ad->ctx, 2, is, &idx));
    PRISM_TRY(prism_stream_create(ad->ctx, &s));
    PRISM_TRY(prism_dct2d(s, p->pn, p->pm, PRISM_DCT_II, ORTHO, ad->W0, score));
    PRISM_TRY(prism_select(s, sel, score, idx));
    PRISM_TRY(prism_stream_run(s));
    h = malloc(sizeof(double) * (size_t)(2 * nsel));
    *flat = malloc(sizeof(int64_t) * (size_t)nsel);
    if (!h || !*flat) {
        st = prism_set_error(ad->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "adapter_create (sdctft): out of host memory");
        goto cleanup;
    }
    PRISM_TRY(prism_tensor_download_f64(idx, h, 2 * nsel));
    for (int64_t l = 0; l < nsel; l++) (*flat)[l] = (int64_t)h[2 * l] * ad->n + (int64_t)h[2 * l + 1];
    *count = nsel;
cleanup:
    if (st) {
        free(*flat);
        *flat = NULL;
    }
    free(h);
    prism_stream_destroy(s);
    prism_tensor_destroy(score);
    prism_tensor_destroy(idx);
    prism_selector_destroy(sel);
    return st;
}

static prism_status sdctft_init(prism_adapter *ad, prism_stream *s) {
    const prism_adapter_config *c = &ad->cfg;
    int64_t total = ad->m * ad->n, count = 0, *flat = NULL;
    if (c->n_coef < 1 || (int64_t)c->n_coef > total)
        return bad(ad, "%s = %.0f must be in [1, m n]", "n_coef", (double)c->n_coef);
    if (!(c->delta >= 0.0f && c->delta <= 1.0f)) return bad(ad, "%s = %g must be in [0, 1]", "delta", c->delta);
    if (!isfinite(c->sdctft_alpha)) return bad(ad, "%s = %g must be finite", "sdctft_alpha", c->sdctft_alpha);
    if (c->dct_norm != PRISM_DCT_NORM_NONE && c->dct_norm != PRISM_DCT_NORM_ORTHO)
        return bad(ad, "%s = %.0f is neither none nor ortho", "dct_norm", (double)c->dct_norm);
    prism_status st = make_priv(ad, 0);
    prism_select_config sc = {c->n_coef, delta_of(c->delta), c->seed};
    if (!st && prism_select_plan(ad->m, ad->n, &sc, &priv(ad)->info) != PRISM_OK)
        st = prism_set_error(ad->ctx, PRISM_ERR_INVALID_ARGUMENT,
                             "adapter_create (sdctft): n_coef %d cannot be placed in [%lld, %lld]", c->n_coef,
                             (long long)ad->m, (long long)ad->n);
    if (!st) st = sdctft_select(ad, &flat, &count);
    if (!st) st = build_index(ad, count, flat);
    int64_t shape[1] = {count};
    if (!st) st = prism_adapter_add_param(ad, "sdctft_coef", 1, shape, 1, NULL);
    if (!st) st = prism_adapter_add_index(ad, "sdctft_index", count, NULL);
    if (!st) st = prism_adapter_set_index(ad, 1, flat); /* exact int64 on the host, any m n */
    if (!st) st = init_coef(s, ad, SDCTFT_INIT_OFFSET);
    free(flat);
    return st;
}

/* A loaded sdctft_index replaces the selection made at create time (the file
 * is authoritative: it was selected on the W0 it was trained with). values[1]
 * holds the file's int64 entries (adapter_internal.h). */
static prism_status sdctft_validate_loaded(prism_adapter *ad, const float *const *values) {
    int64_t count = ad->params[1].value->numel, total = ad->m * ad->n;
    const int64_t *flat = (const int64_t *)values[1];
    for (int64_t l = 0; l < count; l++)
        if (flat[l] < 0 || flat[l] >= total || (l && flat[l] <= flat[l - 1]))
            return prism_set_error(ad->ctx, PRISM_ERR_FORMAT,
                                   "adapter_load (sdctft): sdctft_index[%lld] = %lld: indices must be in [0, %lld) "
                                   "in strictly ascending order",
                                   (long long)l, (long long)flat[l], (long long)total);
    return build_index(ad, count, flat);
}

static prism_status sdctft_to_json(const prism_adapter_config *cfg, cJSON *obj) {
    static const char *const KEYS[] = {"n_coef", "alpha", "delta", "dct_norm", "seed", "init_zero"};
    for (size_t i = 0; i < PRISM_ARRAY_LEN(KEYS); i++) cJSON_DeleteItemFromObjectCaseSensitive(obj, KEYS[i]);
    bool ok = cJSON_AddNumberToObject(obj, "n_coef", cfg->n_coef) &&
              cJSON_AddNumberToObject(obj, "alpha", (double)cfg->sdctft_alpha) &&
              cJSON_AddNumberToObject(obj, "delta", (double)cfg->delta) &&
              cJSON_AddStringToObject(obj, "dct_norm", cfg->dct_norm == PRISM_DCT_NORM_ORTHO ? "ortho" : "none") &&
              prism_json_put(obj, "seed", prism_json_int((int64_t)cfg->seed)) &&
              cJSON_AddBoolToObject(obj, "init_zero", cfg->init_zero != 0);
    return ok ? PRISM_OK : PRISM_ERR_OUT_OF_HOST_MEMORY;
}

static prism_status json_err(char *err, size_t len, prism_status st, const char *msg, const char *key) {
    snprintf(err, len, "adapter_config: %s %s", key, msg);
    return st;
}

static prism_status sdctft_from_json(const cJSON *obj, prism_adapter_config *cfg, char *err, size_t err_len) {
    int64_t n_coef, seed;
    double alpha, delta;
    int zero;
    const char *norm;
    prism_status st = prism_json_get_int(obj, "n_coef", cfg->n_coef, &n_coef, err, err_len);
    if (!st) st = prism_json_get_double(obj, "alpha", cfg->sdctft_alpha, &alpha, err, err_len);
    if (!st) st = prism_json_get_double(obj, "delta", cfg->delta, &delta, err, err_len);
    if (!st) st = prism_json_get_string(obj, "dct_norm", "none", &norm, err, err_len);
    if (!st) st = prism_json_get_int(obj, "seed", (int64_t)cfg->seed, &seed, err, err_len);
    if (!st) st = prism_json_get_bool(obj, "init_zero", cfg->init_zero, &zero, err, err_len);
    if (st) return st;
    if (n_coef < 1 || n_coef > 0x7fffffff) return json_err(err, err_len, PRISM_ERR_FORMAT, "is out of range", "\"n_coef\"");
    /* a float32 range, so that a float written back reads back (3e38f > 3e38) */
    if (!(fabs(alpha) <= FLT_MAX)) return json_err(err, err_len, PRISM_ERR_FORMAT, "is out of range", "\"alpha\"");
    if (!(delta >= 0 && delta <= 1)) return json_err(err, err_len, PRISM_ERR_FORMAT, "must be in [0, 1]", "\"delta\"");
    if (seed < 0) return json_err(err, err_len, PRISM_ERR_FORMAT, "must be >= 0", "\"seed\"");
    if (strcmp(norm, "none") && strcmp(norm, "ortho"))
        return json_err(err, err_len, PRISM_ERR_FORMAT, "must be \"none\" or \"ortho\"", "\"dct_norm\"");
    cfg->n_coef = (int)n_coef;
    cfg->sdctft_alpha = (float)alpha;
    cfg->delta = (float)delta;
    cfg->dct_norm = strcmp(norm, "ortho") ? PRISM_DCT_NORM_NONE : PRISM_DCT_NORM_ORTHO;
    cfg->seed = (uint64_t)seed;
    cfg->init_zero = zero;
    return PRISM_OK;
}

const prism_adapter_vt prism_vt_sdctft = {
    .method = PRISM_METHOD_SDCTFT,
    .peft_type = "SDCTFT",
    .init = sdctft_init,
    .forward = spec_forward,
    .backward = spec_backward,
    .merge = spec_merge,
    .validate_loaded = sdctft_validate_loaded,
    .config_to_json = sdctft_to_json,
    .config_from_json = sdctft_from_json,
    .destroy = spec_destroy,
};

/* ------------------------------------------------------------------ FourierFT */

static prism_status fourierft_init(prism_adapter *ad, prism_stream *s) {
    const prism_adapter_config *c = &ad->cfg;
    int64_t total = ad->m * ad->n, nf = c->n_frequency;
    if (nf < 1 || nf > total) return bad(ad, "%s = %.0f must be in [1, m n]", "n_frequency", (double)nf);
    if (!isfinite(c->fourier_scaling)) return bad(ad, "%s = %g must be finite", "fourier_scaling", c->fourier_scaling);
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)nf);
    if (!idx) return prism_set_error(ad->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "adapter_create (fourierft): out of host memory");
    prism_status st = make_priv(ad, 1);
    if (!st) {
        st = prism_randperm_torch(total, c->random_loc_seed, nf, idx);
        if (st)
            st = prism_set_error(ad->ctx, st, "adapter_create (fourierft): randperm(%lld) for the entries: %s",
                                 (long long)total, prism_status_string(st));
    }
    if (!st) st = build_index(ad, nf, idx);
    if (!st) st = prism_adapter_add_param(ad, "fourierft_spectrum", 1, &nf, 1, NULL);
    if (!st) st = init_coef(s, ad, 0);
    free(idx);
    return st;
}

/* HF FourierFTConfig fields (METHODS.md §6). */
static prism_status fourierft_to_json(const prism_adapter_config *cfg, cJSON *obj) {
    static const char *const KEYS[] = {"n_frequency", "scaling", "random_loc_seed", "init_weights",
                                       "n_frequency_pattern", "fan_in_fan_out", "bias"};
    for (size_t i = 0; i < PRISM_ARRAY_LEN(KEYS); i++) cJSON_DeleteItemFromObjectCaseSensitive(obj, KEYS[i]);
    bool ok = cJSON_AddNumberToObject(obj, "n_frequency", cfg->n_frequency) &&
              cJSON_AddNumberToObject(obj, "scaling", (double)cfg->fourier_scaling) &&
              prism_json_put(obj, "random_loc_seed", prism_json_int((int64_t)cfg->random_loc_seed)) &&
              cJSON_AddBoolToObject(obj, "init_weights", cfg->init_zero != 0) &&
              cJSON_AddObjectToObject(obj, "n_frequency_pattern") && cJSON_AddFalseToObject(obj, "fan_in_fan_out") &&
              cJSON_AddStringToObject(obj, "bias", "none");
    return ok ? PRISM_OK : PRISM_ERR_OUT_OF_HOST_MEMORY;
}

static prism_status fourierft_from_json(const cJSON *obj, prism_adapter_config *cfg, char *err, size_t err_len) {
    int64_t nf, seed;
    double scaling, frac;
    int init_weights, fifo;
    const char *bias, *norm;
    prism_status st = prism_json_get_int(obj, "n_frequency", cfg->n_frequency, &nf, err, err_len);
    if (!st) st = prism_json_get_double(obj, "scaling", cfg->fourier_scaling, &scaling, err, err_len);
    if (!st) st = prism_json_get_int(obj, "random_loc_seed", (int64_t)cfg->random_loc_seed, &seed, err, err_len);
    if (!st) st = prism_json_get_bool(obj, "init_weights", 0, &init_weights, err, err_len);
    if (!st) st = prism_json_get_bool(obj, "fan_in_fan_out", 0, &fifo, err, err_len);
    if (!st) st = prism_json_get_string(obj, "bias", "none", &bias, err, err_len);
    /* newer PEFT: n_frequency as a fraction of m n, and the ifft2 norm */
    if (!st) st = prism_json_get_double(obj, "alpha", -1.0, &frac, err, err_len);
    if (!st) st = prism_json_get_string(obj, "ifft2_norm", "backward", &norm, err, err_len);
    if (st) return st;
    if (nf < 1 || nf > 0x7fffffff) return json_err(err, err_len, PRISM_ERR_FORMAT, "is out of range", "\"n_frequency\"");
    /* a float32 range, so that a float written back reads back (3e38f > 3e38) */
    if (!(fabs(scaling) <= FLT_MAX)) return json_err(err, err_len, PRISM_ERR_FORMAT, "is out of range", "\"scaling\"");
    if (seed < 0 || seed > 0xffffffffll)
        return json_err(err, err_len, PRISM_ERR_FORMAT, "must be in [0, 2^32)", "\"random_loc_seed\"");
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(obj, "n_frequency_pattern");
    const char *what = fifo                                ? "fan_in_fan_out"
                       : strcmp(bias, "none")              ? "bias other than \"none\""
                       : (cJSON_IsObject(pat) && pat->child) ? "n_frequency_pattern"
                       : frac != -1.0                      ? "alpha (n_frequency as a fraction)"
                       : strcmp(norm, "backward")          ? "ifft2_norm other than \"backward\""
                                                           : NULL;
    if (what) {
        snprintf(err, err_len, "adapter_config: FourierFT with %s is not supported", what);
        return PRISM_ERR_UNSUPPORTED;
    }
    cfg->n_frequency = (int)nf;
    cfg->fourier_scaling = (float)scaling;
    cfg->random_loc_seed = (uint64_t)seed;
    cfg->init_zero = init_weights;
    return PRISM_OK;
}

const prism_adapter_vt prism_vt_fourierft = {
    .method = PRISM_METHOD_FOURIERFT,
    .peft_type = "FOURIERFT",
    .init = fourierft_init,
    .forward = spec_forward,
    .backward = spec_backward,
    .merge = spec_merge,
    .config_to_json = fourierft_to_json,
    .config_from_json = fourierft_from_json,
    .destroy = spec_destroy,
};

/* ------------------------------------------------------------------ public queries */

static bool is_spectral(const prism_adapter *ad) {
    return ad && ad->priv && (ad->vt == &prism_vt_sdctft || ad->vt == &prism_vt_fourierft);
}

prism_status prism_spectral_adapter_entries(const prism_adapter *ad, int64_t *count, int64_t *flat) {
    if (!is_spectral(ad) || !count) return PRISM_ERR_INVALID_ARGUMENT;
    const spec_priv *p = ad->priv;
    *count = p->count;
    if (flat) memcpy(flat, p->flat, sizeof(int64_t) * (size_t)p->count);
    return PRISM_OK;
}

prism_status prism_sdctft_selection_info(const prism_adapter *ad, prism_select_info *info) {
    if (!is_spectral(ad) || ad->vt != &prism_vt_sdctft || !info) return PRISM_ERR_INVALID_ARGUMENT;
    *info = ((const spec_priv *)ad->priv)->info;
    return PRISM_OK;
}
