/* The SUBSPACE adapter (METHODS.md §5, "Decisions for prism"; docs/subspace.md):
 * a member method (LoRA, ETHER, ETHER+, HUT, sDCTFT, FourierFT) whose
 * trainable tensors are decoded from shared coordinates z every step, in the
 * same recorded stream:
 *   forward   theta_p = theta0_p + D_p z for each trainable tensor p of the
 *             member (subspace_decode into the member's own parameter
 *             tensors), then the member's forward
 *   backward  the member's gradients are zeroed, the member's backward runs
 *             (dX, dtheta_p), then dz += D_p^T dtheta_p (subspace_project,
 *             beta = 1) into the shared gradient
 *   merge     decode, then the member's merge
 * D_p and theta0_p are row ranges (views) of the method's decoder and theta0:
 * the canonical order makes every tensor one contiguous range.
 *
 * Two modes (include/prism/subspace.h, prism_subspace_ext): a layer of a
 * subspace model (decoder from a fitted file, z shared by every layer and
 * listed once), or standalone (a random decoder of its own). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "subspace_priv.h"
#include "io/io_util.h" /* prism_json_put */

enum { SLOT_WORK = 0 };
#define MAXP PRISM_ADAPTER_MAX_PARAMS
/* Philox offsets of the standalone draws (the member's own init uses
 * offsets from 0 with the same seed). */
#define OFF_DECODER ((uint64_t)1 << 44)
#define OFF_Z ((uint64_t)1 << 45)

typedef struct ss_layer {
    prism_subspace_ext ext;         /* a copy: ad->cfg.ext points here */
    char *module;
    prism_adapter *member;
    prism_adapter_config member_cfg;
    int r, nt;
    prism_tensor *val[MAXP], *grad[MAXP]; /* the member's trainable tensors (borrowed) */
    prism_tensor *Dv[MAXP], *T0v[MAXP];   /* their decoder rows and theta0 (views, owned) */
    prism_tensor *z, *zg;                 /* decode / project operands */
    ss_zholder *zh;                       /* model mode */
    int64_t work;
} ss_layer;

/* Standalone exts a loaded config can point at (rank: the default only). */
static const prism_subspace_ext ST_EXT[PRISM_METHOD_COUNT] = {
    [PRISM_METHOD_LORA] = {NULL, NULL, PRISM_METHOD_LORA, PRISM_SUBSPACE_DEFAULT_RANK},
    [PRISM_METHOD_ETHER] = {NULL, NULL, PRISM_METHOD_ETHER, PRISM_SUBSPACE_DEFAULT_RANK},
    [PRISM_METHOD_ETHER_PLUS] = {NULL, NULL, PRISM_METHOD_ETHER_PLUS, PRISM_SUBSPACE_DEFAULT_RANK},
    [PRISM_METHOD_HUT] = {NULL, NULL, PRISM_METHOD_HUT, PRISM_SUBSPACE_DEFAULT_RANK},
    [PRISM_METHOD_SDCTFT] = {NULL, NULL, PRISM_METHOD_SDCTFT, PRISM_SUBSPACE_DEFAULT_RANK},
    [PRISM_METHOD_FOURIERFT] = {NULL, NULL, PRISM_METHOD_FOURIERFT, PRISM_SUBSPACE_DEFAULT_RANK},
};

static ss_layer *L(prism_adapter *ad) { return ad->priv; }

static prism_status bad(prism_adapter *ad, prism_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static prism_status bad(prism_adapter *ad, prism_status st, const char *fmt, ...) {
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return prism_set_error(ad->ctx, st, "adapter_create (subspace): %s", msg);
}

static void ss_destroy(prism_adapter *ad) {
    ss_layer *l = ad->priv;
    if (!l) return;
    for (int i = 0; i < MAXP; i++) {
        prism_tensor_destroy(l->Dv[i]);
        prism_tensor_destroy(l->T0v[i]);
    }
    prism_adapter_destroy(l->member);
    if (l->zh) {
        if (l->zh->owner == ad) l->zh->owner = NULL;
        prism_ss_zholder_release(l->zh);
    }
    free(l->module);
    free(l);
    ad->priv = NULL;
}

/* Appends a parameter entry over existing tensors (views of the shared z):
 * the generic layer destroys the views, never the shared tensors. */
static prism_status add_shared_param(prism_adapter *ad, const char *name, prism_tensor *value, prism_tensor *grad) {
    int64_t r = value->numel;
    prism_param p = {0};
    p.name = strdup(name);
    p.trainable = 1;
    prism_status st = p.name ? PRISM_OK : bad(ad, PRISM_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (!st) st = prism_tensor_view(value, 0, 1, &r, &p.value);
    if (!st) st = prism_tensor_view(grad, 0, 1, &r, &p.grad);
    if (!st && ad->nparams == MAXP) st = bad(ad, PRISM_ERR_INVALID_ARGUMENT, "too many parameters");
    if (st) {
        free((char *)p.name);
        prism_tensor_destroy(p.value);
        prism_tensor_destroy(p.grad);
        return st;
    }
    ad->param_is_i64[ad->nparams] = 0;
    ad->params[ad->nparams++] = p;
    return PRISM_OK;
}

/* The member's trainable tensors and their row ranges of D / theta0. */
static prism_status bind_tensor(prism_adapter *ad, const prism_param *p, int64_t off, prism_tensor *D, prism_tensor *T0) {
    ss_layer *l = L(ad);
    if (l->nt == MAXP) return bad(ad, PRISM_ERR_INVALID_ARGUMENT, "too many member tensors");
    int64_t n = p->value->numel, sd[2] = {n, l->r};
    int i = l->nt++;
    l->val[i] = p->value;
    l->grad[i] = p->grad;
    prism_status st = prism_tensor_view(D, off * l->r, 2, sd, &l->Dv[i]);
    if (!st) st = prism_tensor_view(T0, off, 1, &n, &l->T0v[i]);
    if (!st) {
        int64_t w = prism_subspace_project_workspace(ad->ctx, n, l->r);
        if (w > l->work) l->work = w;
    }
    return st;
}

static prism_status make_member(prism_adapter *ad) {
    ss_layer *l = L(ad);
    prism_status st = prism_adapter_create(ad->ctx, &l->member_cfg, ad->W0, ad->bias, &l->member);
    if (st) {
        char msg[900];
        snprintf(msg, sizeof msg, "%s", prism_error_message(ad->ctx));
        return bad(ad, st, "member %s: %s", prism_method_name(l->member_cfg.method), msg);
    }
    return PRISM_OK;
}

/* ------------------------------------------------------------------ model mode */

/* The member starts at theta0 (its file values) with the frozen tensors the
 * fit saw (e.g. sdctft_index): both go through prism_adapter_load_tensors
 * from an in-memory safetensors image, so the member validates them as it
 * validates an adapter file. */
static prism_status load_member(prism_adapter *ad, const prism_subspace_model *mdl, int e0, int e1) {
    ss_layer *l = L(ad);
    const ss_method *x = mdl->meth;
    const prism_param *mp;
    int np = prism_adapter_params(l->member, &mp), used = 0;
    prism_st_writer *w = NULL;
    prism_st_file *f = NULL;
    void *img = NULL;
    size_t nimg = 0;
    char key[300], err[512] = "";
    prism_status st = prism_st_writer_create(&w) ? PRISM_ERR_OUT_OF_HOST_MEMORY : PRISM_OK;
    for (int i = 0; !st && i < np; i++) {
        snprintf(key, sizeof key, "m.%s", mp[i].name);
        if (mp[i].trainable) {
            int e = e0;
            while (e < e1 && strcmp(x->entries[e].name, mp[i].name)) e++;
            if (e == e1) {
                st = bad(ad, PRISM_ERR_FORMAT, "the subspace file has no '%s' for module '%s' (%s)", mp[i].name,
                         l->module, prism_method_name(x->m));
                break;
            }
            const prism_subspace_entry *en = &x->entries[e];
            bool same = en->ndim == prism_tensor_ndim(mp[i].value);
            for (int k = 0; same && k < en->ndim; k++) same = en->shape[k] == prism_tensor_dim(mp[i].value, k);
            if (!same) {
                char want[64];
                st = bad(ad, PRISM_ERR_SHAPE, "module '%s' tensor '%s': the subspace file has %lld elements, the layer "
                         "on W0 [%lld, %lld] needs %s (another base model or config?)", l->module, mp[i].name,
                         (long long)en->numel, (long long)ad->m, (long long)ad->n,
                         prism_tensor_shape_str(mp[i].value, want, sizeof want));
                break;
            }
            used++;
            st = prism_st_writer_add_f32(w, key, en->ndim, en->shape, x->theta0 + en->offset, err, sizeof err);
            if (!st) st = bind_tensor(ad, &mp[i], en->offset, mdl->D, mdl->theta0);
        } else {
            char *fk = prism_ss_frozen_key(x->m, l->module, mp[i].name);
            const prism_st_tensor *t = fk ? prism_st_find(mdl->sp->f, fk) : NULL;
            if (!t) {
                st = bad(ad, PRISM_ERR_FORMAT, "the subspace file has no frozen tensor '%s'", fk ? fk : mp[i].name);
            } else if (t->dtype == PRISM_DTYPE_I64 || t->dtype == PRISM_DTYPE_I32) {
                int64_t *v = malloc(sizeof *v * (size_t)(t->numel ? t->numel : 1));
                st = v ? prism_st_read_i64(mdl->sp->f, fk, v, t->numel, err, sizeof err) : PRISM_ERR_OUT_OF_HOST_MEMORY;
                if (!st) st = prism_st_writer_add_i64(w, key, t->ndim, t->shape, v, err, sizeof err);
                free(v);
            } else {
                float *v = malloc(sizeof *v * (size_t)(t->numel ? t->numel : 1));
                st = v ? prism_st_read_f32(mdl->sp->f, fk, v, t->numel, err, sizeof err) : PRISM_ERR_OUT_OF_HOST_MEMORY;
                if (!st) st = prism_st_writer_add_f32(w, key, t->ndim, t->shape, v, err, sizeof err);
                free(v);
            }
            free(fk);
        }
    }
    if (!st && used != e1 - e0)
        st = bad(ad, PRISM_ERR_FORMAT, "module '%s' has %d tensors in the subspace file, the %s layer trains %d", l->module,
                 e1 - e0, prism_method_name(x->m), used);
    if (!st) st = prism_st_writer_serialize(w, &img, &nimg, err, sizeof err);
    if (!st) st = prism_st_parse(img, nimg, "subspace theta0", &f, err, sizeof err);
    if (!st) st = prism_adapter_load_tensors(l->member, "m", f);
    if (st && err[0]) st = bad(ad, st, "member tensors of module '%s': %s", l->module, err);
    prism_st_close(f);
    free(img);
    prism_st_writer_destroy(w);
    return st;
}

static prism_status init_model(prism_adapter *ad) {
    ss_layer *l = L(ad);
    prism_subspace_model *mdl = l->ext.model;
    if (mdl->ctx != ad->ctx) return bad(ad, PRISM_ERR_WRONG_CONTEXT, "the subspace model belongs to another context");
    const ss_method *x = mdl->meth;
    if (!l->ext.module) return bad(ad, PRISM_ERR_INVALID_ARGUMENT, "ext.module is NULL (prism_subspace_model_ext fills it)");
    int e0 = 0, e1;
    while (e0 < x->nentries && strcmp(x->entries[e0].module, l->ext.module)) e0++;
    for (e1 = e0; e1 < x->nentries && !strcmp(x->entries[e1].module, l->ext.module); e1++) {
    }
    if (e0 == x->nentries)
        return bad(ad, PRISM_ERR_INVALID_ARGUMENT, "the subspace has no module '%s' for %s", l->ext.module,
                   prism_method_name(x->m));
    if (!(l->module = strdup(l->ext.module))) return bad(ad, PRISM_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    l->ext.module = l->module;
    l->r = mdl->sp->r;
    char err[512];
    prism_status st = prism_adapter_config_from_json(x->config, &l->member_cfg, err, sizeof err);
    if (st) return bad(ad, st, "member config: %s", err);
    l->member_cfg.seed = ad->cfg.seed;
    l->member_cfg.ext = NULL;
    if ((st = make_member(ad)) || (st = load_member(ad, mdl, e0, e1))) return st;
    l->zh = mdl->zh;
    l->zh->refs++;
    l->z = l->zh->z;
    l->zg = l->zh->grad;
    if (!l->zh->owner) {
        l->zh->owner = ad;
        st = add_shared_param(ad, "subspace_z", l->z, l->zg);
    }
    return st;
}

/* ------------------------------------------------------------------ standalone */

static prism_status init_standalone(prism_adapter *ad, prism_stream *s) {
    ss_layer *l = L(ad);
    prism_method via = l->ext.via == PRISM_METHOD_NONE ? PRISM_SUBSPACE_DEFAULT_VIA : l->ext.via;
    int r = l->ext.rank ? l->ext.rank : PRISM_SUBSPACE_DEFAULT_RANK;
    if (!prism_ss_member_ok(via))
        return bad(ad, PRISM_ERR_INVALID_ARGUMENT,
                   "ext.via = %s is not a member method (lora, ether, etherplus, hut, sdctft, fourierft)",
                   prism_method_name(via));
    if (r < 1 || r > PRISM_SUBSPACE_MAX_RANK)
        return bad(ad, PRISM_ERR_INVALID_ARGUMENT, "ext.rank = %d outside [1, %d]", r, PRISM_SUBSPACE_MAX_RANK);
    l->ext.via = via;
    l->ext.rank = r;
    l->r = r;
    l->member_cfg = ad->cfg;
    l->member_cfg.method = via;
    l->member_cfg.ext = NULL;
    prism_status st = make_member(ad);
    if (st) return st;
    /* canonical order within the layer: trainable tensors by name */
    const prism_param *mp;
    int np = prism_adapter_params(l->member, &mp), idx[MAXP], nt = 0;
    for (int i = 0; i < np; i++) {
        if (!mp[i].trainable) continue;
        int k = nt++;
        while (k > 0 && strcmp(mp[idx[k - 1]].name, mp[i].name) > 0) idx[k] = idx[k - 1], k--;
        idx[k] = i;
    }
    int64_t n = 0;
    for (int k = 0; k < nt; k++) n += mp[idx[k]].value->numel;
    if (n < 1) return bad(ad, PRISM_ERR_INVALID_ARGUMENT, "member %s has no trainable tensor", prism_method_name(via));
    prism_tensor *z = NULL, *D = NULL, *T0 = NULL;
    int64_t rr = r, sd[2] = {n, r};
    if ((st = prism_adapter_add_param(ad, "subspace_z", 1, &rr, 1, &z)) ||
        (st = prism_adapter_add_param(ad, "subspace_decoder", 2, sd, 0, &D)) ||
        (st = prism_adapter_add_param(ad, "subspace_theta0", 1, &n, 0, &T0)))
        return st;
    l->z = z;
    l->zg = ad->params[0].grad;
    for (int64_t k = 0, off = 0; k < nt && !st; k++) {
        st = bind_tensor(ad, &mp[idx[k]], off, D, T0);
        off += mp[idx[k]].value->numel;
    }
    /* theta0 = the member's init; D ~ N(0, 1/N): columns of unit norm in
     * expectation, so |z| moves theta by about |z| */
    for (int k = 0; k < l->nt && !st; k++) st = prism_copy(s, l->val[k], l->T0v[k]);
    if (!st) st = prism_rng_normal(s, ad->cfg.seed, OFF_DECODER, 0.0f, (float)(1.0 / sqrt((double)n)), D);
    if (!st) st = prism_rng_normal(s, ad->cfg.seed, OFF_Z, 0.0f, PRISM_SUBSPACE_Z_STD, z);
    return st;
}

static prism_status ss_init(prism_adapter *ad, prism_stream *s) {
    ss_layer *l = calloc(1, sizeof *l);
    if (!l) return bad(ad, PRISM_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    ad->priv = l;
    if (ad->cfg.ext) l->ext = *(const prism_subspace_ext *)ad->cfg.ext;
    ad->cfg.ext = &l->ext;
    prism_status st = l->ext.model ? init_model(ad) : init_standalone(ad, s);
    if (!st && l->work > 0) {
        prism_tensor *w;
        st = prism_adapter_scratch2(ad, SLOT_WORK, "subspace project partials", 1, l->work, &w);
    }
    return st;
}

/* ------------------------------------------------------------------ math */

static prism_status decode_all(prism_stream *s, ss_layer *l) {
    prism_status st = PRISM_OK;
    for (int i = 0; i < l->nt && !st; i++) st = prism_subspace_decode(s, l->Dv[i], l->T0v[i], l->z, l->val[i]);
    return st;
}

static prism_status ss_forward(prism_stream *s, prism_adapter *ad, const prism_tensor *X, prism_tensor *Y) {
    ss_layer *l = L(ad);
    prism_status st = decode_all(s, l);
    return st ? st : prism_adapter_forward(s, l->member, X, Y);
}

static prism_status ss_backward(prism_stream *s, prism_adapter *ad, const prism_tensor *X, const prism_tensor *dY,
                                prism_tensor *dX) {
    ss_layer *l = L(ad);
    prism_tensor *work = NULL;
    prism_status st = prism_adapter_zero_grad(s, l->member);
    if (!st) st = prism_adapter_backward(s, l->member, X, dY, dX);
    if (!st && l->work > 0) st = prism_adapter_scratch2(ad, SLOT_WORK, "subspace project partials", 1, l->work, &work);
    for (int i = 0; i < l->nt && !st; i++) st = prism_subspace_project(s, l->Dv[i], l->grad[i], 1.0f, l->zg, work);
    return st;
}

static prism_status ss_merge(prism_stream *s, prism_adapter *ad, prism_tensor *W_out) {
    ss_layer *l = L(ad);
    prism_status st = decode_all(s, l);
    return st ? st : prism_adapter_merge(s, l->member, W_out);
}

/* ------------------------------------------------------------------ config JSON
 * "subspace_via", "subspace_rank", "subspace_member" (the member's own
 * adapter_config fields) and, for a model layer, "subspace_module". Only a
 * standalone adapter of the default rank loads back through
 * prism_adapter_load; a model layer needs its subspace file. */

static prism_status ss_to_json(const prism_adapter_config *cfg, cJSON *obj) {
    const prism_subspace_ext *e = cfg->ext;
    prism_method via = e && e->model ? e->model->meth->m : e && e->via ? e->via : PRISM_SUBSPACE_DEFAULT_VIA;
    int rank = e && e->model ? e->model->sp->r : e && e->rank ? e->rank : PRISM_SUBSPACE_DEFAULT_RANK;
    cJSON *member = NULL;
    if (e && e->model) {
        member = cJSON_Duplicate(e->model->meth->config, 1);
    } else {
        prism_adapter_config mc = *cfg;
        mc.method = via;
        mc.ext = NULL;
        char err[256];
        member = cJSON_CreateObject();
        if (member && prism_adapter_config_to_json(&mc, member, err, sizeof err)) {
            cJSON_Delete(member);
            return PRISM_ERR_INVALID_ARGUMENT;
        }
    }
    bool ok = prism_json_put(obj, "subspace_via", cJSON_CreateString(prism_method_name(via))) &&
              prism_json_put(obj, "subspace_rank", cJSON_CreateNumber(rank)) &&
              prism_json_put(obj, "subspace_member", member);
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "subspace_module");
    if (ok && e && e->model && e->module) ok = prism_json_put(obj, "subspace_module", cJSON_CreateString(e->module));
    return ok ? PRISM_OK : PRISM_ERR_OUT_OF_HOST_MEMORY;
}

static prism_status ss_from_json(const cJSON *obj, prism_adapter_config *cfg, char *err, size_t len) {
    const char *via_s, *module;
    int64_t rank;
    prism_status st = prism_json_get_string(obj, "subspace_via", prism_method_name(PRISM_SUBSPACE_DEFAULT_VIA), &via_s,
                                            err, len);
    if (!st) st = prism_json_get_int(obj, "subspace_rank", PRISM_SUBSPACE_DEFAULT_RANK, &rank, err, len);
    if (!st) st = prism_json_get_string(obj, "subspace_module", NULL, &module, err, len);
    if (st) return st;
    prism_method via;
    if (prism_method_parse(via_s, &via) != PRISM_OK || !prism_ss_member_ok(via)) {
        snprintf(err, len, "adapter_config: subspace_via \"%s\" is not a member method", via_s);
        return PRISM_ERR_FORMAT;
    }
    if (module) {
        snprintf(err, len, "adapter_config: a subspace-model layer ('%s') loads through prism_subspace_model_* with its "
                 "subspace file, not prism_adapter_load", module);
        return PRISM_ERR_UNSUPPORTED;
    }
    if (rank != PRISM_SUBSPACE_DEFAULT_RANK) {
        snprintf(err, len, "adapter_config: a standalone subspace adapter loads with subspace_rank %d only (got %lld); "
                 "create it with an ext instead", PRISM_SUBSPACE_DEFAULT_RANK, (long long)rank);
        return PRISM_ERR_UNSUPPORTED;
    }
    prism_adapter_config mc = prism_adapter_config_default(via);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "subspace_member");
    if (m && !cJSON_IsNull(m)) {
        if (!cJSON_IsObject(m)) {
            snprintf(err, len, "adapter_config: subspace_member is not an object");
            return PRISM_ERR_FORMAT;
        }
        if ((st = prism_adapter_config_from_json(m, &mc, err, len))) return st;
        if (mc.method != via) {
            snprintf(err, len, "adapter_config: subspace_member is %s, subspace_via %s", prism_method_name(mc.method),
                     via_s);
            return PRISM_ERR_FORMAT;
        }
    }
    mc.method = PRISM_METHOD_SUBSPACE;
    mc.ext = &ST_EXT[via];
    *cfg = mc;
    return PRISM_OK;
}

const prism_adapter_vt prism_vt_subspace = {
    .method = PRISM_METHOD_SUBSPACE,
    .peft_type = "SUBSPACE",
    .init = ss_init,
    .forward = ss_forward,
    .backward = ss_backward,
    .merge = ss_merge,
    .config_to_json = ss_to_json,
    .config_from_json = ss_from_json,
    .destroy = ss_destroy,
};
