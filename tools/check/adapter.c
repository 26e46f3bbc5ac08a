/* Check cases of the adapter interface, generic over methods: every method
 * whose file is linked gets the same rows (a method not built yet reports
 * PRISM_ERR_UNSUPPORTED from prism_adapter_create and its rows are skipped).
 * Op names are "adapter_<method>"; per method and shape:
 *
 *   device  forward Y, backward dX and every parameter gradient, and merge,
 *           on the device vs the float64 reference with the SAME parameter
 *           values (random non-zero values set on the reference, copied to
 *           the device). NMSE <= 1e-8: the device runs fp32 GEMMs with
 *           K <= 24 and short transforms, ~1e-13 expected; the margin covers
 *           methods with large scales (FourierFT 150, sDCTFT 300).
 *   fd      on the reference, central differences (h = 1e-6, float64) of the
 *           scalar L = <Y, R> w.r.t. every trainable parameter and X against
 *           backward with dY = R; relative error <= 1e-6. Up to 24 entries
 *           per tensor (spread over it) keep the row fast.
 *   merge   the merged layer X W_eff^T + b (computed on the host in float64
 *           from the merged W; b is FULL's trained "bias" where it has one,
 *           since merge returns only the weight) equals the adapter forward: NMSE <= 1e-20 on
 *           the reference, <= 1e-9 on the device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "adapter_check.h"

/* ------------------------------------------------------------------ helpers */

prism_adapter_config pc_adapter_config(prism_method method, int64_t m, int64_t n, int blocks, uint64_t seed) {
    prism_adapter_config c = prism_adapter_config_default(method);
    int64_t third = m * n / 3 > 0 ? m * n / 3 : 1;
    c.seed = seed;
    c.r = 3;
    c.blocks = blocks;
    c.n_coef = (int)(third < 700 ? third : 700);
    c.n_frequency = (int)(third < 1000 ? third : 1000);
    c.n_bank = 4;
    c.k = 2;
    c.mask = PRISM_MASK_SOFT;
    c.bank_seed = seed + 1;
    return c;
}

prism_status pc_adapter_randomize(prism_adapter *ad, uint64_t seed, float scale) {
    const prism_param *p;
    int np = prism_adapter_params(ad, &p);
    for (int i = 0; i < np; i++) {
        if (!p[i].trainable) continue;
        int64_t n = prism_tensor_numel(p[i].value);
        float *h = malloc((size_t)n * sizeof *h);
        if (!h) return PRISM_ERR_OUT_OF_HOST_MEMORY;
        pc_random(seed + 7919u * (uint64_t)(i + 1), h, n, -scale, scale);
        prism_status st = prism_tensor_upload(p[i].value, h, n);
        free(h);
        if (st) return st;
    }
    return PRISM_OK;
}

prism_status pc_adapter_copy_params(prism_adapter *dst, prism_adapter *src) {
    const prism_param *pd, *ps;
    int nd = prism_adapter_params(dst, &pd), ns = prism_adapter_params(src, &ps);
    if (nd != ns) return PRISM_ERR_INVALID_ARGUMENT;
    for (int i = 0; i < ns; i++) {
        int64_t n = prism_tensor_numel(ps[i].value);
        if (strcmp(pd[i].name, ps[i].name) != 0 || prism_tensor_numel(pd[i].value) != n)
            return PRISM_ERR_INVALID_ARGUMENT;
        double *h = malloc((size_t)n * sizeof *h);
        if (!h) return PRISM_ERR_OUT_OF_HOST_MEMORY;
        prism_status st = prism_tensor_download_f64(ps[i].value, h, n);
        if (!st) st = prism_tensor_upload_f64(pd[i].value, h, n);
        free(h);
        if (st) return st;
    }
    return PRISM_OK;
}

/* ------------------------------------------------------------------ cases */

typedef enum { K_DEVICE, K_FD, K_MERGE } kind;
typedef struct ac_case {
    prism_method method;
    int64_t m, n, T;
    int blocks;
    bool bias;
    kind k;
} ac_case;

typedef struct host_in {
    float *W0, *b, *X, *R;
} host_in;

/* Everything of one backend. */
typedef struct side {
    prism_context *ctx;
    prism_tensor *W0, *b, *X, *R, *Y, *dX, *Wm;
    prism_tensor *gY, *gdX, *gWm; /* guard bases (device side) */
    prism_adapter *ad;
    prism_stream *s;
} side;

static void side_close(side *d) {
    prism_stream_destroy(d->s);
    prism_adapter_destroy(d->ad);
    PC_DESTROY(d->W0, d->b, d->X, d->R, d->Y, d->dX, d->Wm, d->gY, d->gdX, d->gWm);
    memset(d, 0, sizeof *d);
}

static bool host_alloc(pc_result *r, const ac_case *c, uint64_t seed, host_in *h) {
    h->W0 = malloc(sizeof(float) * (size_t)(c->m * c->n));
    h->b = malloc(sizeof(float) * (size_t)c->m);
    h->X = malloc(sizeof(float) * (size_t)(c->T * c->n));
    h->R = malloc(sizeof(float) * (size_t)(c->T * c->m));
    if (!h->W0 || !h->b || !h->X || !h->R) {
        pc_fail(r, "out of host memory");
        return false;
    }
    pc_random(seed + 1, h->W0, c->m * c->n, -0.5f, 0.5f);
    pc_random(seed + 2, h->b, c->m, -0.5f, 0.5f);
    pc_random(seed + 3, h->X, c->T * c->n, -1.0f, 1.0f);
    pc_random(seed + 4, h->R, c->T * c->m, -1.0f, 1.0f);
    return true;
}

static void host_free(host_in *h) {
    free(h->W0);
    free(h->b);
    free(h->X);
    free(h->R);
}

/* Tensors + adapter on ctx. false: failed, or skipped (r->outcome says). */
static bool side_open(pc_result *r, prism_context *ctx, const ac_case *c, const host_in *h, uint64_t seed, bool guard,
                      side *d) {
    memset(d, 0, sizeof *d);
    d->ctx = ctx;
    int64_t ws[2] = {c->m, c->n}, xs[2] = {c->T, c->n}, ys[2] = {c->T, c->m};
    d->W0 = pc_tensor(r, ctx, 2, ws, h->W0);
    d->b = c->bias ? pc_tensor(r, ctx, 1, &c->m, h->b) : NULL;
    d->X = pc_tensor(r, ctx, 2, xs, h->X);
    d->R = pc_tensor(r, ctx, 2, ys, h->R);
    if (guard) {
        d->Y = pc_guarded(r, ctx, 2, ys, NULL, &d->gY);
        d->dX = pc_guarded(r, ctx, 2, xs, NULL, &d->gdX);
        d->Wm = pc_guarded(r, ctx, 2, ws, NULL, &d->gWm);
    } else {
        d->Y = pc_tensor(r, ctx, 2, ys, NULL);
        d->dX = pc_tensor(r, ctx, 2, xs, NULL);
        d->Wm = pc_tensor(r, ctx, 2, ws, NULL);
    }
    if (!d->W0 || (c->bias && !d->b) || !d->X || !d->R || !d->Y || !d->dX || !d->Wm) return false;
    prism_adapter_config cfg = pc_adapter_config(c->method, c->m, c->n, c->blocks, seed);
    prism_status st = prism_adapter_create(ctx, &cfg, d->W0, d->b, &d->ad);
    if (st == PRISM_ERR_UNSUPPORTED) {
        r->outcome = PC_SKIP;
        snprintf(r->detail, sizeof r->detail, "%s", prism_error_message(ctx));
        return false;
    }
    if (st) {
        pc_fail(r, "create: %s", prism_error_message(ctx));
        return false;
    }
    if (prism_stream_create(ctx, &d->s) != PRISM_OK) {
        pc_fail(r, "stream: %s", prism_error_message(ctx));
        return false;
    }
    return true;
}

/* zero_grad, forward, backward (dY = R), merge in one stream; run it. */
static bool side_step(pc_result *r, side *d) {
    prism_status st = prism_adapter_zero_grad(d->s, d->ad);
    if (!st) st = prism_adapter_forward(d->s, d->ad, d->X, d->Y);
    if (!st) st = prism_adapter_backward(d->s, d->ad, d->X, d->R, d->dX);
    if (!st) st = prism_adapter_merge(d->s, d->ad, d->Wm);
    if (st) {
        pc_fail(r, "record: %s", prism_error_message(d->ctx));
        return false;
    }
    return pc_run(r, d->s);
}

typedef struct out_pair {
    const char *what;
    prism_tensor *a, *b;
} out_pair;

/* Both backends with the same random parameters (drawn with seed + pseed on
 * the reference, copied to the device), one step run on each. */
static bool pair_step(const pc_env *env, pc_result *r, const ac_case *c, uint64_t pseed, host_in *h, side *dv,
                      side *rf) {
    memset(dv, 0, sizeof *dv);
    memset(rf, 0, sizeof *rf);
    if (!host_alloc(r, c, env->seed, h) || !side_open(r, env->ref, c, h, env->seed, false, rf) ||
        !side_open(r, env->dev, c, h, env->seed, true, dv))
        return false;
    if (pc_adapter_randomize(rf->ad, env->seed + pseed, 0.5f) || pc_adapter_copy_params(dv->ad, rf->ad)) {
        pc_fail(r, "parameter setup failed");
        return false;
    }
    return side_step(r, rf) && side_step(r, dv);
}

static void ac_device(const pc_env *env, const void *arg, pc_result *r) {
    const ac_case *c = arg;
    host_in h = {0};
    side dv, rf;
    if (!pair_step(env, r, c, 5, &h, &dv, &rf)) goto done;
    pc_guard_ok(r, dv.gY, "Y");
    pc_guard_ok(r, dv.gdX, "dX");
    pc_guard_ok(r, dv.gWm, "W_merged");
    out_pair outs[3 + 16];
    int no = 0;
    outs[no++] = (out_pair){"Y", dv.Y, rf.Y};
    outs[no++] = (out_pair){"dX", dv.dX, rf.dX};
    outs[no++] = (out_pair){"W_merged", dv.Wm, rf.Wm};
    const prism_param *pd, *pr;
    int np = prism_adapter_params(dv.ad, &pd);
    prism_adapter_params(rf.ad, &pr);
    for (int i = 0; i < np && no < (int)(sizeof outs / sizeof outs[0]); i++)
        if (pd[i].trainable) outs[no++] = (out_pair){pd[i].name, pd[i].grad, pr[i].grad};
    for (int i = 0; i < no; i++) {
        char what[96];
        snprintf(what, sizeof what, i < 3 ? "%s" : "grad %s", outs[i].what);
        pc_compare_tensors(r, what, outs[i].a, outs[i].b, 1e-8);
    }
done:
    side_close(&dv);
    side_close(&rf);
    host_free(&h);
}

/* L = <Y, R> after replaying the recorded forward. */
static bool loss_of(pc_result *r, side *d, prism_stream *fwd, int64_t ny, double *L) {
    if (!pc_run(r, fwd)) return false;
    double *y = pc_download(r, d->Y), *rr = pc_download(r, d->R);
    bool ok = y && rr;
    if (ok) {
        double s = 0;
        for (int64_t i = 0; i < ny; i++) s += y[i] * rr[i];
        *L = s;
    }
    free(y);
    free(rr);
    return ok;
}

enum { FD_MAX = 24 };

/* Central differences of L w.r.t. (up to FD_MAX entries of) t, against the
 * analytic gradient g (host, numel of t). */
static void fd_tensor(pc_result *r, side *d, prism_stream *fwd, int64_t ny, prism_tensor *t, const double *g,
                      const char *what) {
    const double h = 1e-6;
    int64_t n = prism_tensor_numel(t), cnt = n < FD_MAX ? n : FD_MAX;
    double *v = pc_download(r, t), *num = malloc(sizeof(double) * (size_t)cnt), *ana = malloc(sizeof(double) * (size_t)cnt);
    if (!v || !num || !ana) {
        pc_fail(r, "out of host memory");
        goto done;
    }
    for (int64_t k = 0; k < cnt; k++) {
        int64_t j = cnt == n ? k : (k * n) / cnt + (k * 7) % (n / cnt); /* spread, not only row starts */
        double o = v[j], lp, lm;
        v[j] = o + h;
        if (prism_tensor_upload_f64(t, v, n) || !loss_of(r, d, fwd, ny, &lp)) goto fail;
        v[j] = o - h;
        if (prism_tensor_upload_f64(t, v, n) || !loss_of(r, d, fwd, ny, &lm)) goto fail;
        v[j] = o;
        num[k] = (lp - lm) / (2 * h);
        ana[k] = g[j];
    }
    if (prism_tensor_upload_f64(t, v, n)) goto fail;
    pc_compare_fd(r, what, ana, num, cnt, 1e-6);
    goto done;
fail:
    pc_fail(r, "%s: finite differences: %s", what, prism_error_message(d->ctx));
done:
    free(v);
    free(num);
    free(ana);
}

static void ac_fd(const pc_env *env, const void *arg, pc_result *r) {
    const ac_case *c = arg;
    host_in h = {0};
    side rf;
    prism_stream *fwd = NULL;
    double *grads[16] = {0}, *gx = NULL;
    memset(&rf, 0, sizeof rf);
    if (!host_alloc(r, c, env->seed, &h)) goto done;
    if (!side_open(r, env->ref, c, &h, env->seed, false, &rf)) goto done;
    if (pc_adapter_randomize(rf.ad, env->seed + 5, 0.5f)) {
        pc_fail(r, "parameter setup failed");
        goto done;
    }
    if (!side_step(r, &rf)) goto done;
    const prism_param *p;
    int np = prism_adapter_params(rf.ad, &p);
    for (int i = 0; i < np && i < 16; i++)
        if (p[i].trainable && !(grads[i] = pc_download(r, p[i].grad))) goto done;
    if (!(gx = pc_download(r, rf.dX))) goto done;
    if (prism_stream_create(rf.ctx, &fwd) || prism_adapter_forward(fwd, rf.ad, rf.X, rf.Y)) {
        pc_fail(r, "record forward: %s", prism_error_message(rf.ctx));
        goto done;
    }
    int64_t ny = c->T * c->m;
    for (int i = 0; i < np && i < 16; i++) {
        if (!p[i].trainable) continue;
        char what[96];
        snprintf(what, sizeof what, "grad %s", p[i].name);
        fd_tensor(r, &rf, fwd, ny, p[i].value, grads[i], what);
    }
    fd_tensor(r, &rf, fwd, ny, rf.X, gx, "dX");
done:
    prism_stream_destroy(fwd);
    for (int i = 0; i < 16; i++) free(grads[i]);
    free(gx);
    side_close(&rf);
    host_free(&h);
}

/* The bias of the merged layer: the layer's, or a trained "bias" parameter
 * (FULL with train_bias; merge returns only the weight). */
static prism_tensor *merged_bias(side *d) {
    const prism_param *p;
    int np = prism_adapter_params(d->ad, &p);
    for (int i = 0; i < np; i++)
        if (p[i].trainable && !strcmp(p[i].name, "bias")) return p[i].value;
    return d->b;
}

/* Host float64: Y = X W^T + b compared to the adapter's Y. */
static void merged_vs_forward(pc_result *r, const ac_case *c, side *d, double tol, const char *what) {
    prism_tensor *tb = merged_bias(d);
    double *x = pc_download(r, d->X), *w = pc_download(r, d->Wm), *y = pc_download(r, d->Y),
           *b = tb ? pc_download(r, tb) : NULL, *ym = malloc(sizeof(double) * (size_t)(c->T * c->m));
    if (x && w && y && ym && (!tb || b)) {
        for (int64_t t = 0; t < c->T; t++)
            for (int64_t i = 0; i < c->m; i++) {
                double s = b ? b[i] : 0.0;
                for (int64_t j = 0; j < c->n; j++) s += x[t * c->n + j] * w[i * c->n + j];
                ym[t * c->m + i] = s;
            }
        pc_compare(r, what, y, ym, c->T * c->m, tol);
    }
    free(x);
    free(w);
    free(y);
    free(b);
    free(ym);
}

static void ac_merge(const pc_env *env, const void *arg, pc_result *r) {
    const ac_case *c = arg;
    host_in h = {0};
    side dv, rf;
    if (!pair_step(env, r, c, 9, &h, &dv, &rf)) goto done;
    merged_vs_forward(r, c, &rf, 1e-20, "reference: merged layer vs adapter forward");
    merged_vs_forward(r, c, &dv, 1e-9, "device: merged layer vs adapter forward");
done:
    side_close(&dv);
    side_close(&rf);
    host_free(&h);
}

/* ------------------------------------------------------------------ table */

#define SHAPES(M, meth)                                                                   \
    static const ac_case M##_a_dev = {meth, 7, 5, 3, 1, true, K_DEVICE},                  \
                         M##_a_fd = {meth, 7, 5, 3, 1, true, K_FD},                       \
                         M##_a_mg = {meth, 7, 5, 3, 1, true, K_MERGE},                    \
                         M##_b_dev = {meth, 24, 16, 9, 4, true, K_DEVICE},                \
                         M##_b_fd = {meth, 24, 16, 9, 4, true, K_FD},                     \
                         M##_b_mg = {meth, 24, 16, 9, 4, true, K_MERGE},                  \
                         M##_c_dev = {meth, 1, 6, 1, 1, false, K_DEVICE},                 \
                         M##_c_fd = {meth, 1, 6, 1, 1, false, K_FD},                      \
                         M##_c_mg = {meth, 1, 6, 1, 1, false, K_MERGE};
SHAPES(none, PRISM_METHOD_NONE)
SHAPES(full, PRISM_METHOD_FULL)
SHAPES(lora, PRISM_METHOD_LORA)
SHAPES(ether, PRISM_METHOD_ETHER)
SHAPES(etherplus, PRISM_METHOD_ETHER_PLUS)
SHAPES(hut, PRISM_METHOD_HUT)
SHAPES(sdctft, PRISM_METHOD_SDCTFT)
SHAPES(fourierft, PRISM_METHOD_FOURIERFT)
SHAPES(xpeft, PRISM_METHOD_XPEFT)
SHAPES(subspace, PRISM_METHOD_SUBSPACE)

#define ROWS(M)                                                                                   \
    {"adapter_" #M, "m=7 n=5 T=3 bias", "device", ac_device, &M##_a_dev},                         \
    {"adapter_" #M, "m=7 n=5 T=3 bias", "fd", ac_fd, &M##_a_fd},                                  \
    {"adapter_" #M, "m=7 n=5 T=3 bias (merged)", "merge", ac_merge, &M##_a_mg},                   \
    {"adapter_" #M, "m=24 n=16 T=9 blocks=4 bias", "device", ac_device, &M##_b_dev},              \
    {"adapter_" #M, "m=24 n=16 T=9 blocks=4 bias", "fd", ac_fd, &M##_b_fd},                       \
    {"adapter_" #M, "m=24 n=16 T=9 blocks=4 bias (merged)", "merge", ac_merge, &M##_b_mg},        \
    {"adapter_" #M, "m=1 n=6 T=1 no bias", "device", ac_device, &M##_c_dev},                      \
    {"adapter_" #M, "m=1 n=6 T=1 no bias", "fd", ac_fd, &M##_c_fd},                               \
    {"adapter_" #M, "m=1 n=6 T=1 no bias (merged)", "merge", ac_merge, &M##_c_mg},

const pc_case pc_cases_adapter[] = {
    ROWS(none) ROWS(full) ROWS(lora) ROWS(ether) ROWS(etherplus) ROWS(hut) ROWS(sdctft) ROWS(fourierft)
    ROWS(xpeft) ROWS(subspace)
};
const int pc_ncases_adapter = (int)(sizeof pc_cases_adapter / sizeof pc_cases_adapter[0]);
