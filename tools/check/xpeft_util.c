/* Check rows of the xpeft family beyond its ops (xpeft_util.h):
 *   adapter_xpeft variants (beyond the generic adapter rows, which use the
 *       parallel soft seed bank): hard masks, serial placement with identity /
 *       relu / gelu, a host bank (LoRA-style, ext): device vs reference
 *       forward, dX and logit gradients (NMSE <= 1e-8, as the generic rows),
 *       and finite differences of the soft variants on the reference.
 *   forward_multi_<method>: a batch of T rows over P profiles through
 *       prism_adapter_forward_multi equals each profile's own adapter forward
 *       on its rows (NMSE <= 1e-10 on the device, <= 1e-24 on the reference)
 *       and the device equals the reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "xpeft_util.h"

void pcx_random_ids(uint64_t seed, float *ids, int64_t T, int64_t P, bool bad) {
    pc_random(seed, ids, T, 0.0f, (float)P);
    for (int64_t t = 0; t < T; t++) ids[t] = floorf(ids[t]) < (float)P ? floorf(ids[t]) : (float)(P - 1);
    if (bad && T > 2) ids[1] = (float)P, ids[T - 1] = 0.5f; /* out of range, fractional */
}

/* ------------------------------------------------------------------ adapter variants */

struct pcx_avc {
    int64_t m, n, T;
    bool bias;
    prism_mask_kind mask;
    prism_placement place;
    prism_activation act;
    int host_r; /* 0: seed bank; else a host bank of this rank */
};
typedef struct pcx_avc avc;

typedef struct aside {
    prism_context *ctx;
    prism_tensor *W0, *b, *X, *R, *Y, *dX, *gY, *gdX;
    prism_adapter *ad;
    prism_xpeft_bank *bank;
} aside;

/* Frees what aside_open made (a zeroed aside is fine); d is not reused. */
static void aside_close(aside *d) {
    prism_adapter_destroy(d->ad);
    prism_xpeft_bank_destroy(d->bank);
    PC_DESTROY(d->W0, d->b, d->X, d->R, d->Y, d->dX, d->gY, d->gdX);
}

static bool aside_open(pc_result *r, prism_context *ctx, const avc *c, uint64_t seed, bool guard, aside *d) {
    memset(d, 0, sizeof *d);
    d->ctx = ctx;
    int64_t ws[2] = {c->m, c->n}, xs[2] = {c->T, c->n}, ys[2] = {c->T, c->m};
    float *h = malloc(sizeof(float) * (size_t)(c->m * c->n + c->m + c->T * (c->n + c->m)));
    if (!h) return pc_fail(r, "out of host memory"), false;
    float *hb = h + c->m * c->n, *hx = hb + c->m, *hr = hx + c->T * c->n;
    pc_random(seed + 1, h, c->m * c->n, -0.5f, 0.5f);
    pc_random(seed + 2, hb, c->m, -0.5f, 0.5f);
    pc_random(seed + 3, hx, c->T * c->n, -1, 1);
    pc_random(seed + 4, hr, c->T * c->m, -1, 1);
    d->W0 = pc_tensor(r, ctx, 2, ws, h);
    d->b = c->bias ? pc_tensor(r, ctx, 1, &c->m, hb) : NULL;
    d->X = pc_tensor(r, ctx, 2, xs, hx);
    d->R = pc_tensor(r, ctx, 2, ys, hr);
    free(h);
    d->Y = guard ? pc_guarded(r, ctx, 2, ys, NULL, &d->gY) : pc_tensor(r, ctx, 2, ys, NULL);
    d->dX = guard ? pc_guarded(r, ctx, 2, xs, NULL, &d->gdX) : pc_tensor(r, ctx, 2, xs, NULL);
    if (!d->W0 || (c->bias && !d->b) || !d->X || !d->R || !d->Y || !d->dX) return false;
    prism_adapter_config cfg = pc_adapter_config(PRISM_METHOD_XPEFT, c->m, c->n, 1, seed);
    cfg.mask = c->mask;
    cfg.placement = c->place;
    cfg.act = c->act;
    if (c->host_r) {
        int64_t nin = c->place == PRISM_PLACE_SERIAL ? c->m : c->n;
        if (prism_xpeft_bank_create(cfg.n_bank, c->host_r, c->m, nin, &d->bank))
            return pc_fail(r, "bank create failed"), false;
        pc_random(seed + 8, d->bank->A, (int64_t)cfg.n_bank * c->host_r * nin, -0.5f, 0.5f);
        pc_random(seed + 9, d->bank->B, (int64_t)cfg.n_bank * c->host_r * c->m, -0.5f, 0.5f);
        prism_xpeft_config_use_bank(&cfg, d->bank);
    }
    if (prism_adapter_create(ctx, &cfg, d->W0, d->b, &d->ad))
        return pc_fail(r, "create: %s", prism_error_message(ctx)), false;
    return true;
}

static bool aside_step(pc_result *r, aside *d, bool backward) {
    prism_stream *s = NULL;
    prism_status st = prism_stream_create(d->ctx, &s);
    if (!st) st = prism_adapter_zero_grad(s, d->ad);
    if (!st) st = prism_adapter_forward(s, d->ad, d->X, d->Y);
    if (!st && backward) st = prism_adapter_backward(s, d->ad, d->X, d->R, d->dX);
    bool ok = !st ? pc_run(r, s) : (pc_fail(r, "record: %s", prism_error_message(d->ctx)), false);
    prism_stream_destroy(s);
    return ok;
}

void pcx_ad_device(const pc_env *env, const void *arg, pc_result *r) {
    const avc *c = arg;
    aside dv = {0}, rf = {0}; /* dv stays zeroed when rf fails to open */
    bool ok = aside_open(r, env->ref, c, env->seed, false, &rf) && aside_open(r, env->dev, c, env->seed, true, &dv);
    if (ok && (pc_adapter_randomize(rf.ad, env->seed + 5, 0.5f) || pc_adapter_copy_params(dv.ad, rf.ad)))
        ok = false, pc_fail(r, "parameter setup failed");
    if (ok && aside_step(r, &rf, true) && aside_step(r, &dv, true) && pc_guard_ok(r, dv.gY, "Y") &&
        pc_guard_ok(r, dv.gdX, "dX")) {
        pc_compare_tensors(r, "Y", dv.Y, rf.Y, 1e-8);
        pc_compare_tensors(r, "dX", dv.dX, rf.dX, 1e-8);
        const prism_param *pd, *pr;
        int np = prism_adapter_params(dv.ad, &pd);
        prism_adapter_params(rf.ad, &pr);
        for (int i = 0; i < np; i++)
            if (pd[i].trainable) pc_compare_tensors(r, pd[i].name, pd[i].grad, pr[i].grad, 1e-8);
    }
    aside_close(&dv);
    aside_close(&rf);
}

/* <Y, R> after a forward on the reference. */
static bool loss(pc_result *r, aside *d, double *L) {
    double *y = NULL, *rr = NULL;
    bool ok = aside_step(r, d, false) && (y = pc_download(r, d->Y)) && (rr = pc_download(r, d->R));
    for (int64_t i = 0; ok && i < prism_tensor_numel(d->Y); i++) *L += y[i] * rr[i];
    free(y);
    free(rr);
    return ok;
}

/* Central differences of every element of t (up to 24) against g. */
static void fd_t(pc_result *r, aside *d, prism_tensor *t, const double *g, const char *what) {
    int64_t n = prism_tensor_numel(t), cnt = n < 24 ? n : 24;
    double *v = pc_download(r, t), num[24], ana[24];
    for (int64_t k = 0; v && k < cnt; k++) {
        int64_t j = k * n / cnt;
        double o = v[j], lp = 0, lm = 0;
        v[j] = o + 1e-6;
        bool ok = !prism_tensor_upload_f64(t, v, n) && loss(r, d, &lp);
        v[j] = o - 1e-6;
        ok = ok && !prism_tensor_upload_f64(t, v, n) && loss(r, d, &lm);
        v[j] = o;
        if (!ok || prism_tensor_upload_f64(t, v, n)) {
            pc_fail(r, "%s: finite differences failed", what);
            break;
        }
        num[k] = (lp - lm) / 2e-6;
        ana[k] = g[j];
    }
    if (v && r->outcome != PC_FAIL) pc_compare_fd(r, what, ana, num, cnt, 1e-6);
    free(v);
}

enum { PRISM_ADAPTER_MAX_PARAMS_CHECK = 16 };

void pcx_ad_fd(const pc_env *env, const void *arg, pc_result *r) {
    const avc *c = arg;
    aside rf;
    if (aside_open(r, env->ref, c, env->seed, false, &rf) && !pc_adapter_randomize(rf.ad, env->seed + 5, 0.5f) &&
        aside_step(r, &rf, true)) {
        const prism_param *p;
        int np = prism_adapter_params(rf.ad, &p);
        double *gx = pc_download(r, rf.dX), *g[PRISM_ADAPTER_MAX_PARAMS_CHECK] = {0};
        for (int i = 0; i < np && i < PRISM_ADAPTER_MAX_PARAMS_CHECK; i++) /* before fd_t re-runs (zeroes) them */
            if (p[i].trainable) g[i] = pc_download(r, p[i].grad);
        for (int i = 0; i < np && i < PRISM_ADAPTER_MAX_PARAMS_CHECK; i++)
            if (g[i]) fd_t(r, &rf, p[i].value, g[i], p[i].name);
        if (gx) fd_t(r, &rf, rf.X, gx, "dX");
        for (int i = 0; i < PRISM_ADAPTER_MAX_PARAMS_CHECK; i++) free(g[i]);
        free(gx);
    }
    aside_close(&rf);
}

const avc pcx_ad_hard = {7, 5, 4, true, PRISM_MASK_HARD, PRISM_PLACE_PARALLEL, PRISM_ACT_IDENTITY, 0},
          pcx_ad_ser = {6, 5, 3, false, PRISM_MASK_SOFT, PRISM_PLACE_SERIAL, PRISM_ACT_IDENTITY, 0},
          pcx_ad_relu = {8, 4, 5, true, PRISM_MASK_SOFT, PRISM_PLACE_SERIAL, PRISM_ACT_RELU, 0},
          pcx_ad_gelu = {5, 9, 2, true, PRISM_MASK_SOFT, PRISM_PLACE_SERIAL, PRISM_ACT_GELU, 0},
          pcx_ad_host = {7, 6, 3, true, PRISM_MASK_SOFT, PRISM_PLACE_PARALLEL, PRISM_ACT_IDENTITY, 2},
          pcx_ad_serhard = {9, 4, 6, true, PRISM_MASK_HARD, PRISM_PLACE_SERIAL, PRISM_ACT_RELU, 3};

/* ------------------------------------------------------------------ forward_multi */

struct pcx_mfc {
    prism_method meth;
    int P;
    int64_t T, m, n;
    int blocks;
    bool bias;
    prism_mask_kind mask;
    prism_placement place;
    prism_activation act;
};
typedef struct pcx_mfc mfc;

/* forward_multi on ctx; checks it against per-profile forwards (tol) and
 * returns its Y (malloc'd), or NULL (failed or skipped). */
static double *mf_run(pc_result *r, prism_context *ctx, const mfc *c, uint64_t seed, double tol) {
    aside L;
    avc lc = {c->m, c->n, c->T, c->bias, c->mask, c->place, c->act, 0};
    prism_adapter *ads[16] = {0};
    prism_profile_set *set = NULL;
    prism_tensor *ids = NULL, *Yp = NULL;
    prism_stream *s = NULL;
    double *y = NULL, *yp = NULL, *ysep = malloc(sizeof(double) * (size_t)(c->T * c->m));
    float hid[64];
    if (!aside_open(r, ctx, &lc, seed, false, &L) || !ysep) goto done; /* layer tensors; L.ad is unused */
    pcx_random_ids(seed + 6, hid, c->T, c->P, false);
    int64_t ys[2] = {c->T, c->m};
    if (!(ids = pc_tensor(r, ctx, 1, &c->T, hid)) || !(Yp = pc_tensor(r, ctx, 2, ys, NULL))) goto done;
    for (int p = 0; p < c->P; p++) {
        prism_adapter_config cfg = pc_adapter_config(c->meth, c->m, c->n, c->blocks, seed);
        cfg.n_bank = 6, cfg.mask = c->mask, cfg.placement = c->place, cfg.act = c->act;
        if (c->meth == PRISM_METHOD_LORA) cfg.r = 2 + p % 2; /* mixed ranks are zero-padded in the stack */
        prism_status st = prism_adapter_create(ctx, &cfg, L.W0, L.b, &ads[p]);
        if (st == PRISM_ERR_UNSUPPORTED) {
            r->outcome = PC_SKIP;
            snprintf(r->detail, sizeof r->detail, "%s", prism_error_message(ctx));
            goto done;
        }
        if (st || pc_adapter_randomize(ads[p], seed + 100 + (uint64_t)p, 0.7f)) {
            pc_fail(r, "adapter %d: %s", p, prism_error_message(ctx));
            goto done;
        }
    }
    if (prism_profile_set_create(ctx, ads, c->P, &set) || prism_stream_create(ctx, &s) ||
        prism_adapter_forward_multi(s, set, L.X, ids, L.Y)) {
        pc_fail(r, "profile set / forward_multi: %s", prism_error_message(ctx));
        goto done;
    }
    if (!pc_run(r, s) || !(y = pc_download(r, L.Y))) goto done;
    for (int p = 0; p < c->P; p++) { /* each profile on its own, keep its rows */
        prism_stream_destroy(s);
        s = NULL;
        if (prism_stream_create(ctx, &s) || prism_adapter_forward(s, ads[p], L.X, Yp)) {
            pc_fail(r, "forward of profile %d: %s", p, prism_error_message(ctx));
            goto done;
        }
        if (!pc_run(r, s) || !(yp = pc_download(r, Yp))) goto done;
        for (int64_t t = 0; t < c->T; t++)
            if ((int)hid[t] == p) memcpy(ysep + t * c->m, yp + t * c->m, sizeof(double) * (size_t)c->m);
        free(yp);
        yp = NULL;
    }
    pc_compare(r, prism_context_backend(ctx) == PRISM_BACKEND_REFERENCE ? "reference multi vs separate"
                                                                          : "device multi vs separate",
               y, ysep, c->T * c->m, tol);
done:
    prism_stream_destroy(s);
    prism_profile_set_destroy(set);
    for (int p = 0; p < 16; p++) prism_adapter_destroy(ads[p]);
    prism_tensor_destroy(ids);
    prism_tensor_destroy(Yp);
    aside_close(&L);
    free(ysep);
    free(yp);
    if (r->outcome != PC_PASS) {
        free(y);
        return NULL;
    }
    return y;
}

void pcx_mf_case(const pc_env *env, const void *arg, pc_result *r) {
    const mfc *c = arg;
    double *rf = mf_run(r, env->ref, c, env->seed, 1e-24), *dv = rf ? mf_run(r, env->dev, c, env->seed, 1e-10) : NULL;
    if (rf && dv) pc_compare(r, "device vs reference", dv, rf, c->T * c->m, 1e-10);
    free(rf);
    free(dv);
}

const mfc pcx_mf_lora = {PRISM_METHOD_LORA, 5, 13, 9, 7, 1, true, 0, 0, 0},
          pcx_mf_lora1 = {PRISM_METHOD_LORA, 1, 1, 1, 3, 1, false, 0, 0, 0},
          pcx_mf_xp = {PRISM_METHOD_XPEFT, 6, 17, 8, 5, 1, true, PRISM_MASK_HARD, PRISM_PLACE_PARALLEL, 0},
          pcx_mf_xps = {PRISM_METHOD_XPEFT, 4, 9, 6, 5, 1, true, PRISM_MASK_SOFT, PRISM_PLACE_SERIAL, PRISM_ACT_GELU},
          pcx_mf_eth = {PRISM_METHOD_ETHER, 5, 11, 8, 6, 2, true, 0, 0, 0},
          pcx_mf_ethp = {PRISM_METHOD_ETHER_PLUS, 4, 10, 6, 8, 2, true, 0, 0, 0};
