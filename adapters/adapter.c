/* The generic part of every adapter (include/prism/adapter.h): method table,
 * config defaults, creation, argument checks around the method's forward /
 * backward / merge, parameter bookkeeping, scratch, and the frozen linear
 * layer built on prism_gemm. Files (save/load/JSON) are in adapter_files.c.
 *
 * Views: prism_gemm takes 2-D operands only, so the bias [m] is used as a
 * [1, m] view, the ones vector as [T, 1], scratch as [T, cols] of a base
 * sized by the largest T seen. A recorded stream names its tensors by id, so
 * these views are cached in the adapter (not made per call): a replayed
 * stream finds them alive. Re-allocating a base drops its views, which makes
 * older recorded streams stale (PRISM_ERR_STALE on replay), as documented. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "adapter_priv.h"

/* ------------------------------------------------------------------ methods */

static const char *const NAMES[PRISM_METHOD_COUNT] = {
    "none", "full", "lora", "ether", "etherplus", "hut", "sdctft", "fourierft", "xpeft", "subspace",
};

const char *prism_method_name(prism_method m) {
    return (m >= 0 && m < PRISM_METHOD_COUNT) ? NAMES[m] : "?";
}

static int ieq(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
        if (x != y) return 0;
    }
    return *a == *b;
}

prism_status prism_method_parse(const char *name, prism_method *out) {
    static const struct { const char *s; prism_method m; } ALIASES[] = {
        {"ether_plus", PRISM_METHOD_ETHER_PLUS}, {"ether+", PRISM_METHOD_ETHER_PLUS},
        {"ether-plus", PRISM_METHOD_ETHER_PLUS}, {"hira", PRISM_METHOD_HUT},
        {"macp", PRISM_METHOD_SDCTFT},           {"x-peft", PRISM_METHOD_XPEFT},
        {"x_peft", PRISM_METHOD_XPEFT},
    };
    if (!name || !out) return PRISM_ERR_INVALID_ARGUMENT;
    for (int i = 0; i < PRISM_METHOD_COUNT; i++)
        if (ieq(name, NAMES[i])) {
            *out = (prism_method)i;
            return PRISM_OK;
        }
    for (size_t i = 0; i < PRISM_ARRAY_LEN(ALIASES); i++)
        if (ieq(name, ALIASES[i].s)) {
            *out = ALIASES[i].m;
            return PRISM_OK;
        }
    return PRISM_ERR_INVALID_ARGUMENT;
}

/* Weak references: NULL when the method's file is not linked. */
const prism_adapter_vt *prism_adapter_vt_of(prism_method m) {
    switch (m) {
    case PRISM_METHOD_NONE: return &prism_vt_none;
    case PRISM_METHOD_FULL: return &prism_vt_full;
    case PRISM_METHOD_LORA: return &prism_vt_lora;
    case PRISM_METHOD_ETHER: return &prism_vt_ether;
    case PRISM_METHOD_ETHER_PLUS: return &prism_vt_ether_plus;
    case PRISM_METHOD_HUT: return &prism_vt_hut;
    case PRISM_METHOD_SDCTFT: return &prism_vt_sdctft;
    case PRISM_METHOD_FOURIERFT: return &prism_vt_fourierft;
    case PRISM_METHOD_XPEFT: return &prism_vt_xpeft;
    case PRISM_METHOD_SUBSPACE: return &prism_vt_subspace;
    default: return NULL;
    }
}

/* Defaults of METHODS.md "Decisions for prism" (and HF PEFT where prism
 * follows it). Every field is set whatever the method, so a config switched
 * to another method later still holds sane values. */
prism_adapter_config prism_adapter_config_default(prism_method m) {
    prism_adapter_config c;
    memset(&c, 0, sizeof c);
    c.method = m;
    c.seed = 0;
    c.train_bias = 1;
    c.r = 8;
    c.lora_alpha = 8.0f;
    c.hut_s = 1.0f;
    c.blocks = 1;
    c.side = m == PRISM_METHOD_ETHER_PLUS ? PRISM_SIDE_BOTH : PRISM_SIDE_IN;
    c.n_coef = 700;
    c.sdctft_alpha = 300.0f;
    c.delta = 0.7f;
    c.dct_norm = PRISM_DCT_NORM_NONE;
    c.n_frequency = 1000;
    c.fourier_scaling = 150.0f;
    c.random_loc_seed = 777;
    c.init_zero = 0;
    c.n_bank = 64;
    c.k = 0;
    c.mask = PRISM_MASK_HARD;
    c.placement = PRISM_PLACE_PARALLEL;
    c.act = PRISM_ACT_IDENTITY;
    c.bank_seed = 1;
    c.ext = NULL;
    return c;
}

/* ------------------------------------------------------------------ views */

static bool same_shape(const prism_tensor *t, int ndim, const int64_t *shape) {
    if (t->ndim != ndim) return false;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i]) return false;
    return true;
}

/* A cached view of t (from its first element) shaped [d0, d1]; t itself
 * when it already has that shape. */
static prism_status view2(prism_adapter *ad, const prism_tensor *t, int64_t d0, int64_t d1, prism_tensor **out) {
    prism_adapter_impl *im = prism_adapter_impl_of(ad);
    int64_t shape[2] = {d0, d1};
    if (same_shape(t, 2, shape)) {
        *out = (prism_tensor *)t;
        return PRISM_OK;
    }
    for (int i = 0; i < im->nviews; i++) {
        prism_tensor *v = im->views[i];
        if (v->storage == t->storage && v->offset == t->offset && same_shape(v, 2, shape)) {
            *out = v;
            return PRISM_OK;
        }
    }
    if (im->nviews == PRISM_ADAPTER_MAX_VIEWS) { /* drop the oldest */
        prism_tensor_destroy(im->views[0]);
        memmove(im->views, im->views + 1, sizeof(im->views[0]) * (PRISM_ADAPTER_MAX_VIEWS - 1));
        im->nviews--;
    }
    prism_status st = prism_tensor_view((prism_tensor *)t, 0, 2, shape, out);
    if (st) return st;
    im->views[im->nviews++] = *out;
    return PRISM_OK;
}

/* Destroys the cached views over t's storage (before t is re-allocated). */
static void drop_views(prism_adapter *ad, const prism_tensor *t) {
    prism_adapter_impl *im = prism_adapter_impl_of(ad);
    int k = 0;
    for (int i = 0; i < im->nviews; i++) {
        if (t && im->views[i]->storage == t->storage) prism_tensor_destroy(im->views[i]);
        else im->views[k++] = im->views[i];
    }
    im->nviews = k;
}

/* ------------------------------------------------------------------ create */

static prism_status fail(prism_context *ctx, prism_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static prism_status fail(prism_context *ctx, prism_status st, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return prism_set_error(ctx, st, "%s", msg);
}

void prism_adapter_destroy(prism_adapter *ad) {
    if (!ad) return;
    prism_adapter_impl *im = prism_adapter_impl_of(ad);
    if (ad->vt && ad->vt->destroy) ad->vt->destroy(ad);
    for (int i = 0; i < im->nviews; i++) prism_tensor_destroy(im->views[i]);
    for (int i = 0; i < ad->nparams; i++) {
        free(im->i64[i]);
        free((char *)ad->params[i].name);
        prism_tensor_destroy(ad->params[i].value);
        prism_tensor_destroy(ad->params[i].grad);
    }
    for (int i = 0; i < PRISM_ADAPTER_MAX_SCRATCH; i++) prism_tensor_destroy(ad->scratch[i].t);
    prism_tensor_destroy(ad->ones);
    free(im);
}

prism_status prism_adapter_create(prism_context *ctx, const prism_adapter_config *cfg, const prism_tensor *W0,
                                  const prism_tensor *bias, prism_adapter **out) {
    if (!ctx) return PRISM_ERR_INVALID_ARGUMENT;
    if (out) *out = NULL;
    if (!cfg || !W0 || !out)
        return fail(ctx, PRISM_ERR_INVALID_ARGUMENT, "adapter_create: %s is NULL",
                    !cfg ? "config" : !W0 ? "W0" : "out");
    if (cfg->method < 0 || cfg->method >= PRISM_METHOD_COUNT)
        return fail(ctx, PRISM_ERR_INVALID_ARGUMENT, "adapter_create: method %d is not a prism_method",
                    (int)cfg->method);
    const char *mn = prism_method_name(cfg->method);
    char b0[64], b1[64];
    if (W0->ctx != ctx || (bias && bias->ctx != ctx))
        return fail(ctx, PRISM_ERR_WRONG_CONTEXT, "adapter_create (%s): %s belongs to another context", mn,
                    W0->ctx != ctx ? "W0" : "bias");
    if (W0->ndim != 2)
        return fail(ctx, PRISM_ERR_SHAPE, "adapter_create (%s): W0 %s must be 2-D [m, n]", mn,
                    prism_tensor_shape_str(W0, b0, sizeof b0));
    int64_t m = W0->shape[0], n = W0->shape[1];
    if (bias && !(bias->numel == m && (bias->ndim == 1 || (bias->ndim == 2 && bias->shape[0] == 1))))
        return fail(ctx, PRISM_ERR_SHAPE, "adapter_create (%s): bias %s does not match W0 %s (expected [%lld])", mn,
                    prism_tensor_shape_str(bias, b1, sizeof b1), prism_tensor_shape_str(W0, b0, sizeof b0),
                    (long long)m);
    const prism_adapter_vt *vt = prism_adapter_vt_of(cfg->method);
    if (!vt || !vt->init || !vt->forward || !vt->backward || !vt->merge)
        return fail(ctx, PRISM_ERR_UNSUPPORTED, "adapter_create (%s): this build has no %s adapter", mn, mn);

    prism_status st = PRISM_OK;
    prism_stream *s = NULL;
    prism_adapter_impl *im = calloc(1, sizeof *im);
    if (!im) return fail(ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "adapter_create (%s): out of host memory", mn);
    prism_adapter *ad = &im->ad;
    ad->ctx = ctx;
    ad->vt = vt;
    ad->cfg = *cfg;
    ad->W0 = W0;
    ad->bias = bias;
    ad->m = m;
    ad->n = n;
    PRISM_TRY(prism_stream_create(ctx, &s));
    PRISM_TRY(vt->init(ad, s));
    PRISM_TRY(prism_stream_run(s));
    prism_stream_destroy(s);
    *out = ad;
    return PRISM_OK;
cleanup:
    prism_stream_destroy(s);
    prism_adapter_destroy(ad);
    return st;
}

/* ------------------------------------------------------------------ accessors */

int prism_adapter_params(const prism_adapter *ad, const prism_param **list) {
    if (list) *list = ad ? ad->params : NULL;
    return ad ? ad->nparams : 0;
}

int64_t prism_adapter_trainable_count(const prism_adapter *ad) {
    int64_t c = 0;
    for (int i = 0; ad && i < ad->nparams; i++)
        if (ad->params[i].trainable) c += ad->params[i].value->numel;
    return c;
}

int64_t prism_adapter_extra_bytes(const prism_adapter *ad) {
    if (!ad) return 0;
    int64_t e = 0;
    for (int i = 0; i < ad->nparams; i++)
        e += ad->params[i].value->numel + (ad->params[i].grad ? ad->params[i].grad->numel : 0);
    for (int i = 0; i < PRISM_ADAPTER_MAX_SCRATCH; i++)
        if (ad->scratch[i].t) e += ad->scratch[i].t->numel;
    if (ad->ones) e += ad->ones->numel;
    return e * (int64_t)sizeof(float);
}

const prism_adapter_config *prism_adapter_get_config(const prism_adapter *ad) { return ad ? &ad->cfg : NULL; }
prism_method prism_adapter_method(const prism_adapter *ad) { return ad ? ad->cfg.method : PRISM_METHOD_NONE; }
int64_t prism_adapter_out_features(const prism_adapter *ad) { return ad ? ad->m : 0; }
int64_t prism_adapter_in_features(const prism_adapter *ad) { return ad ? ad->n : 0; }
prism_context *prism_adapter_context(const prism_adapter *ad) { return ad ? ad->ctx : NULL; }

/* ------------------------------------------------------------------ helpers for methods */

static prism_status add_tensor(prism_adapter *ad, const char *name, int ndim, const int64_t *shape, int trainable,
                               int is_i64, prism_tensor **value) {
    const char *mn = prism_method_name(ad->cfg.method);
    if (value) *value = NULL;
    if (!name || !*name || ndim < 1 || ndim > PRISM_MAX_DIMS || !shape)
        return fail(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "adapter (%s): add_param: bad name or rank", mn);
    if (ad->nparams == PRISM_ADAPTER_MAX_PARAMS)
        return fail(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "adapter (%s): more than %d parameters (adding '%s')", mn,
                    PRISM_ADAPTER_MAX_PARAMS, name);
    for (int i = 0; i < ad->nparams; i++)
        if (!strcmp(ad->params[i].name, name))
            return fail(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "adapter (%s): parameter '%s' added twice", mn, name);
    prism_param p = {0};
    prism_status st = PRISM_OK;
    p.name = strdup(name);
    if (!p.name) return fail(ad->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "adapter (%s): out of host memory", mn);
    p.trainable = trainable ? 1 : 0;
    PRISM_TRY(prism_tensor_create(ad->ctx, ndim, shape, &p.value));
    if (trainable) PRISM_TRY(prism_tensor_create(ad->ctx, ndim, shape, &p.grad));
    int64_t *host = is_i64 ? calloc((size_t)p.value->numel, sizeof *host) : NULL;
    if (is_i64 && !host) {
        st = fail(ad->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "adapter (%s): out of host memory", mn);
        goto cleanup;
    }
    prism_adapter_impl_of(ad)->i64[ad->nparams] = host;
    ad->param_is_i64[ad->nparams] = is_i64;
    ad->params[ad->nparams++] = p;
    if (value) *value = p.value;
    return PRISM_OK;
cleanup:
    free((char *)p.name);
    prism_tensor_destroy(p.value);
    prism_tensor_destroy(p.grad);
    return st;
}

prism_status prism_adapter_add_param(prism_adapter *ad, const char *name, int ndim, const int64_t *shape,
                                     int trainable, prism_tensor **value) {
    if (!ad) return PRISM_ERR_INVALID_ARGUMENT;
    return add_tensor(ad, name, ndim, shape, trainable, 0, value);
}

prism_status prism_adapter_add_index(prism_adapter *ad, const char *name, int64_t count, prism_tensor **value) {
    if (!ad) return PRISM_ERR_INVALID_ARGUMENT;
    return add_tensor(ad, name, 1, &count, 0, 1, value);
}

prism_status prism_adapter_set_index(prism_adapter *ad, int index, const int64_t *values) {
    if (!ad) return PRISM_ERR_INVALID_ARGUMENT;
    int64_t *host = index >= 0 && index < ad->nparams ? prism_adapter_impl_of(ad)->i64[index] : NULL;
    if (!host || !values)
        return fail(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "adapter (%s): set_index: param %d is not an int64 param",
                    prism_method_name(ad->cfg.method), index);
    prism_tensor *t = ad->params[index].value;
    float *h = malloc((size_t)t->numel * sizeof *h);
    if (!h) return fail(ad->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "adapter (%s): out of host memory",
                        prism_method_name(ad->cfg.method));
    for (int64_t i = 0; i < t->numel; i++) h[i] = (float)values[i]; /* rounded above 2^24: the host copy is exact */
    prism_status st = prism_tensor_upload(t, h, t->numel);
    if (!st) memcpy(host, values, sizeof *host * (size_t)t->numel);
    free(h);
    return st;
}

prism_tensor *prism_adapter_grad(prism_adapter *ad, const char *name) {
    for (int i = 0; ad && name && i < ad->nparams; i++)
        if (!strcmp(ad->params[i].name, name)) return ad->params[i].grad;
    return NULL;
}

/* The base of a slot is [cap, cols] with cap the largest rows asked for;
 * smaller row counts get a cached view of its first rows. */
prism_status prism_adapter_scratch2(prism_adapter *ad, int slot, const char *what, int64_t rows, int64_t cols,
                                    prism_tensor **out) {
    if (!ad || !out) return PRISM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    prism_adapter_impl *im = prism_adapter_impl_of(ad);
    const char *mn = prism_method_name(ad->cfg.method);
    if (slot < 0 || slot >= PRISM_ADAPTER_MAX_SCRATCH)
        return fail(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "adapter (%s): scratch slot %d out of range 0..%d", mn, slot,
                    PRISM_ADAPTER_MAX_SCRATCH - 1);
    if (rows < 1 || cols < 1)
        return fail(ad->ctx, PRISM_ERR_DIMS, "adapter (%s): scratch '%s' [%lld, %lld]", mn, what ? what : "?",
                    (long long)rows, (long long)cols);
    prism_adapter_scratch *sc = &ad->scratch[slot];
    if (!sc->t || sc->t->shape[1] != cols || rows > im->scratch_cap[slot]) {
        drop_views(ad, sc->t);
        prism_tensor_destroy(sc->t);
        sc->t = NULL;
        im->scratch_cap[slot] = 0;
        int64_t shape[2] = {rows, cols};
        prism_status st = prism_tensor_create(ad->ctx, 2, shape, &sc->t);
        if (st) return st;
        im->scratch_cap[slot] = rows;
    }
    sc->what = what;
    return view2(ad, sc->t, rows, cols, out);
}

/* [T, 1] of ones: the base grows with T and is filled by a synchronous upload
 * at creation, so no stream has to run first. */
static prism_status ones_col(prism_adapter *ad, int64_t T, prism_tensor **out) {
    prism_adapter_impl *im = prism_adapter_impl_of(ad);
    if (!ad->ones || T > im->ones_cap) {
        prism_status st;
        int64_t shape[2] = {T, 1};
        prism_tensor *t = NULL;
        float *h = malloc((size_t)T * sizeof(float));
        if (!h) return fail(ad->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "adapter: out of host memory (ones [%lld])",
                            (long long)T);
        for (int64_t i = 0; i < T; i++) h[i] = 1.0f;
        st = prism_tensor_create(ad->ctx, 2, shape, &t);
        if (!st) st = prism_tensor_upload(t, h, T);
        free(h);
        if (st) {
            prism_tensor_destroy(t);
            return st;
        }
        drop_views(ad, ad->ones);
        prism_tensor_destroy(ad->ones);
        ad->ones = t;
        im->ones_cap = T;
    }
    return view2(ad, ad->ones, T, 1, out);
}

prism_status prism_linear_forward(prism_stream *s, prism_adapter *ad, const prism_tensor *W, const prism_tensor *bias,
                                  const prism_tensor *X, prism_tensor *Y) {
    return prism_linear_forward_lowrank(s, ad, W, bias, X, Y, 0.0f, NULL, 0, NULL);
}

prism_status prism_linear_forward_lowrank(prism_stream *s, prism_adapter *ad, const prism_tensor *W,
                                          const prism_tensor *bias, const prism_tensor *X, prism_tensor *Y, float gamma,
                                          const prism_tensor *E, int trans_f, const prism_tensor *F) {
    if (!s || !ad || !W || !X || !Y) return PRISM_ERR_INVALID_ARGUMENT;
    prism_tensor *ones = NULL, *b2 = NULL;
    prism_status st = PRISM_OK;
    if (bias && (st = ones_col(ad, X->shape[0], &ones)) == PRISM_OK) st = view2(ad, bias, 1, bias->numel, &b2);
    if (st) return st;
    /* The bias is 1 b^T, a K = 1 product: it rides in the GEMM's epilogue
     * when that is free, and is a second (K = 1) GEMM next to another
     * low-rank term. */
    if (!E && bias) return prism_gemm_lowrank(s, 0, 1, 1.0f, X, W, 0.0f, Y, 1.0f, ones, 0, b2);
    st = E ? prism_gemm_lowrank(s, 0, 1, 1.0f, X, W, 0.0f, Y, gamma, E, trans_f, F)
           : prism_gemm(s, 0, 1, 1.0f, X, W, 0.0f, Y);
    if (st || !bias) return st;
    return prism_gemm(s, 0, 0, 1.0f, ones, b2, 1.0f, Y);
}

prism_status prism_linear_backward_input(prism_stream *s, const prism_tensor *W, const prism_tensor *dY,
                                         prism_tensor *dX) {
    if (!dX) return PRISM_OK;
    return prism_gemm(s, 0, 0, 1.0f, dY, W, 0.0f, dX);
}

prism_status prism_linear_bias_grad(prism_stream *s, prism_adapter *ad, const prism_tensor *dY, prism_tensor *db) {
    if (!s || !ad || !dY || !db) return PRISM_ERR_INVALID_ARGUMENT;
    prism_tensor *ones = NULL, *db2 = NULL;
    prism_status st = ones_col(ad, dY->shape[0], &ones);
    if (!st) st = view2(ad, db, 1, db->numel, &db2);
    /* db [1, m] += 1^T dY */
    if (!st) st = prism_gemm(s, 1, 0, 1.0f, ones, dY, 1.0f, db2);
    return st;
}

prism_status prism_adapter_kaiming(prism_stream *s, uint64_t seed, uint64_t offset, int64_t fan_in,
                                   prism_tensor *t) {
    if (!s || !t || fan_in < 1) return PRISM_ERR_INVALID_ARGUMENT;
    /* kaiming_uniform(a = sqrt 5): gain sqrt(2 / (1 + 5)), bound = gain sqrt(3 / fan_in) = 1 / sqrt(fan_in) */
    float bound = (float)(1.0 / sqrt((double)fan_in));
    return prism_rng_uniform(s, seed, offset, -bound, bound, t);
}

/* ------------------------------------------------------------------ dispatch */

static bool overlap(const prism_tensor *a, const prism_tensor *b) {
    return a && b && a->storage == b->storage && a->offset < b->offset + b->numel &&
           b->offset < a->offset + a->numel;
}

/* Common front end: stream state, adapter, context. */
static prism_status begin(prism_stream *s, prism_adapter *ad, const char *op) {
    if (!ad) return s ? prism_set_error(prism_stream_context(s), PRISM_ERR_INVALID_ARGUMENT, "%s: adapter is NULL", op)
                      : PRISM_ERR_INVALID_ARGUMENT;
    if (!s) return fail(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "%s (%s): stream is NULL", op,
                        prism_method_name(ad->cfg.method));
    if (prism_stream_context(s) != ad->ctx)
        return fail(ad->ctx, PRISM_ERR_WRONG_CONTEXT, "%s (%s): the stream belongs to another context", op,
                    prism_method_name(ad->cfg.method));
    return prism_op_begin(s, op);
}

/* t must be [rows, cols] (rows < 0: any) from ad's context. */
static prism_status check2(prism_stream *s, prism_adapter *ad, const char *op, const char *what,
                           const prism_tensor *t, int64_t rows, int64_t cols, const char *expect) {
    prism_status st = prism_check_tensor(s, op, what, t);
    if (st) return st;
    if (t->ndim != 2 || t->shape[1] != cols || (rows >= 0 && t->shape[0] != rows)) {
        char b[64], w[64];
        return fail(ad->ctx, PRISM_ERR_SHAPE, "%s (%s): %s %s, expected %s (W0 %s)", op,
                    prism_method_name(ad->cfg.method), what, prism_tensor_shape_str(t, b, sizeof b), expect,
                    prism_tensor_shape_str(ad->W0, w, sizeof w));
    }
    return PRISM_OK;
}

/* A method's failure gets the adapter's method in front of the op's message. */
static prism_status wrap(prism_adapter *ad, const char *op, prism_status st) {
    if (st == PRISM_OK) return st;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", prism_error_message(ad->ctx));
    return fail(ad->ctx, st, "%s (%s): %s", op, prism_method_name(ad->cfg.method), msg);
}

static prism_status alias_error(prism_adapter *ad, const char *op, const char *a, const char *b) {
    return fail(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "%s (%s): %s overlaps %s", op, prism_method_name(ad->cfg.method),
                a, b);
}

prism_status prism_adapter_forward(prism_stream *s, prism_adapter *ad, const prism_tensor *X, prism_tensor *Y) {
    static const char *OP = "adapter_forward";
    char e[64];
    prism_status st = begin(s, ad, OP);
    if (st) return st;
    snprintf(e, sizeof e, "[T, %lld]", (long long)ad->n);
    if ((st = check2(s, ad, OP, "X", X, -1, ad->n, e))) return st;
    snprintf(e, sizeof e, "[%lld, %lld] (T of X)", (long long)X->shape[0], (long long)ad->m);
    if ((st = check2(s, ad, OP, "Y", Y, X->shape[0], ad->m, e))) return st;
    if (overlap(X, Y)) return alias_error(ad, OP, "Y", "X");
    for (int i = 0; i < ad->nparams; i++)
        if (overlap(Y, ad->params[i].value)) return alias_error(ad, OP, "Y", ad->params[i].name);
    if (overlap(Y, ad->W0) || overlap(Y, ad->bias)) return alias_error(ad, OP, "Y", "W0 or bias");
    st = wrap(ad, OP, ad->vt->forward(s, ad, X, Y));
    if (st == PRISM_OK) {
        prism_adapter_impl *im = prism_adapter_impl_of(ad);
        im->fwd_x_id = X->id;
        im->fwd_t = X->shape[0];
        im->have_fwd = 1;
    }
    return st;
}

prism_status prism_adapter_backward(prism_stream *s, prism_adapter *ad, const prism_tensor *X, const prism_tensor *dY,
                                    prism_tensor *dX) {
    static const char *OP = "adapter_backward";
    char e[64];
    prism_status st = begin(s, ad, OP);
    if (st) return st;
    snprintf(e, sizeof e, "[T, %lld]", (long long)ad->n);
    if ((st = check2(s, ad, OP, "X", X, -1, ad->n, e))) return st;
    int64_t T = X->shape[0];
    snprintf(e, sizeof e, "[%lld, %lld]", (long long)T, (long long)ad->m);
    if ((st = check2(s, ad, OP, "dY", dY, T, ad->m, e))) return st;
    if (dX) {
        snprintf(e, sizeof e, "[%lld, %lld]", (long long)T, (long long)ad->n);
        if ((st = check2(s, ad, OP, "dX", dX, T, ad->n, e))) return st;
        if (overlap(dX, X)) return alias_error(ad, OP, "dX", "X");
        if (overlap(dX, dY)) return alias_error(ad, OP, "dX", "dY");
        for (int i = 0; i < ad->nparams; i++)
            if (overlap(dX, ad->params[i].value) || overlap(dX, ad->params[i].grad))
                return alias_error(ad, OP, "dX", ad->params[i].name);
    }
    prism_adapter_impl *im = prism_adapter_impl_of(ad);
    if (!im->have_fwd || im->fwd_x_id != X->id || im->fwd_t != T)
        return fail(ad->ctx, PRISM_ERR_STATE,
                    "%s (%s): no forward of this X [%lld, %lld] was recorded last (backward uses what forward kept)",
                    OP, prism_method_name(ad->cfg.method), (long long)T, (long long)ad->n);
    return wrap(ad, OP, ad->vt->backward(s, ad, X, dY, dX));
}

prism_status prism_adapter_merge(prism_stream *s, prism_adapter *ad, prism_tensor *W_out) {
    static const char *OP = "adapter_merge";
    char e[64];
    prism_status st = begin(s, ad, OP);
    if (st) return st;
    snprintf(e, sizeof e, "[%lld, %lld]", (long long)ad->m, (long long)ad->n);
    if ((st = check2(s, ad, OP, "W_out", W_out, ad->m, ad->n, e))) return st;
    if (overlap(W_out, ad->W0)) return alias_error(ad, OP, "W_out", "W0");
    for (int i = 0; i < ad->nparams; i++)
        if (overlap(W_out, ad->params[i].value)) return alias_error(ad, OP, "W_out", ad->params[i].name);
    return wrap(ad, OP, ad->vt->merge(s, ad, W_out));
}

prism_status prism_adapter_zero_grad(prism_stream *s, prism_adapter *ad) {
    prism_status st = begin(s, ad, "adapter_zero_grad");
    for (int i = 0; !st && i < ad->nparams; i++)
        if (ad->params[i].grad) st = prism_fill(s, ad->params[i].grad, 0.0f);
    return st;
}
