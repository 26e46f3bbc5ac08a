/* Adapter files in HF PEFT layout (METHODS.md §6): the saved tensors of an
 * adapter under "<prefix>.<param name>" in a safetensors file (metadata
 * {"format": "pt"}), and adapter_config.json with peft_type and the method's
 * fields. Files are hostile input: every tensor is looked up by name, its
 * shape checked against the adapter's, its float values checked finite (int64
 * tensors are kept exact on the host) and passed to the method's
 * validate_loaded before anything is uploaded, so a rejected file leaves the
 * adapter unchanged. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "adapter_priv.h"
#include "io/io_util.h"

static const char *mname(const prism_adapter *ad) { return prism_method_name(ad->cfg.method); }

/* "<prefix>.<name>" (or name alone for an empty prefix) into a malloc'ed string. */
static char *key_of(const char *prefix, const char *name) {
    return prefix && *prefix ? prism_cat3(prefix, ".", name) : strdup(name);
}

/* ------------------------------------------------------------------ tensors */

prism_status prism_adapter_save_tensors(prism_adapter *ad, const char *prefix, prism_st_writer *w) {
    if (!ad) return PRISM_ERR_INVALID_ARGUMENT;
    if (!w) return prism_set_error(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "adapter_save_tensors (%s): writer is NULL",
                                   mname(ad));
    prism_status st = PRISM_OK;
    float *h = NULL;
    char *key = NULL, err[512] = "";
    for (int i = 0; i < ad->nparams; i++) {
        const prism_param *p = &ad->params[i];
        int64_t n = p->value->numel;
        free(h);
        free(key);
        h = malloc((size_t)n * sizeof *h);
        key = key_of(prefix, p->name);
        if (!h || !key) {
            st = prism_set_error(ad->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "adapter_save_tensors (%s): out of host memory",
                                 mname(ad));
            goto cleanup;
        }
        if (ad->param_is_i64[i]) { /* the exact host copy (the device tensor is rounded to fp32) */
            st = prism_st_writer_add_i64(w, key, p->value->ndim, p->value->shape, prism_adapter_impl_of(ad)->i64[i],
                                         err, sizeof err);
        } else {
            PRISM_TRY(prism_tensor_download(p->value, h, n));
            st = prism_st_writer_add_f32(w, key, p->value->ndim, p->value->shape, h, err, sizeof err);
        }
        if (st) {
            st = prism_set_error(ad->ctx, st, "adapter_save_tensors (%s): %s", mname(ad), err);
            goto cleanup;
        }
    }
cleanup:
    free(h);
    free(key);
    return st;
}

prism_status prism_adapter_load_tensors(prism_adapter *ad, const char *prefix, const prism_st_file *f) {
    if (!ad) return PRISM_ERR_INVALID_ARGUMENT;
    static const char *OP = "adapter_load_tensors";
    if (!f) return prism_set_error(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "%s (%s): file is NULL", OP, mname(ad));
    prism_status st = PRISM_OK;
    float *vals[PRISM_ADAPTER_MAX_PARAMS] = {0}; /* an int64 param's holds int64_t values */
    char *key = NULL, err[512] = "";
    for (int i = 0; i < ad->nparams; i++) {
        const prism_tensor *v = ad->params[i].value;
        free(key);
        key = key_of(prefix, ad->params[i].name);
        vals[i] = malloc((size_t)v->numel * (ad->param_is_i64[i] ? sizeof(int64_t) : sizeof(float)));
        if (!key || !vals[i]) {
            st = prism_set_error(ad->ctx, PRISM_ERR_OUT_OF_HOST_MEMORY, "%s (%s): out of host memory", OP, mname(ad));
            goto cleanup;
        }
        const prism_st_tensor *t = prism_st_find(f, key);
        if (!t) {
            st = prism_set_error(ad->ctx, PRISM_ERR_FORMAT, "%s (%s): the file has no tensor '%s'", OP, mname(ad), key);
            goto cleanup;
        }
        bool ok = t->ndim == v->ndim;
        for (int d = 0; ok && d < v->ndim; d++) ok = t->shape[d] == v->shape[d];
        if (!ok) {
            char want[64], got[128];
            int o = snprintf(got, sizeof got, "[");
            for (int d = 0; d < t->ndim && o < (int)sizeof got - 24; d++)
                o += snprintf(got + o, sizeof got - (size_t)o, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
            snprintf(got + o, sizeof got - (size_t)o, "]");
            st = prism_set_error(ad->ctx, PRISM_ERR_FORMAT, "%s (%s): tensor '%s' is %s, the adapter needs %s", OP,
                                 mname(ad), key, got, prism_tensor_shape_str(v, want, sizeof want));
            goto cleanup;
        }
        if (ad->param_is_i64[i]) {
            st = prism_st_read_i64(f, key, (int64_t *)vals[i], v->numel, err, sizeof err); /* range: validate_loaded */
        } else {
            st = prism_st_read_f32(f, key, vals[i], v->numel, err, sizeof err);
            for (int64_t j = 0; !st && j < v->numel; j++)
                if (!isfinite(vals[i][j])) {
                    st = prism_set_error(ad->ctx, PRISM_ERR_FORMAT, "%s (%s): '%s'[%lld] is not finite", OP,
                                         mname(ad), key, (long long)j);
                    goto cleanup;
                }
        }
        if (st) {
            /* a dtype that does not convert (e.g. a string-ish U8 for a float) */
            st = prism_set_error(ad->ctx, PRISM_ERR_FORMAT, "%s (%s): %s", OP, mname(ad), err);
            goto cleanup;
        }
    }
    if (ad->vt->validate_loaded) {
        st = ad->vt->validate_loaded(ad, (const float *const *)vals);
        if (st) goto cleanup;
    }
    for (int i = 0; i < ad->nparams; i++)
        PRISM_TRY(ad->param_is_i64[i] ? prism_adapter_set_index(ad, i, (const int64_t *)vals[i])
                                       : prism_tensor_upload(ad->params[i].value, vals[i], ad->params[i].value->numel));
cleanup:
    for (int i = 0; i < ad->nparams; i++) free(vals[i]);
    free(key);
    return st;
}

/* ------------------------------------------------------------------ JSON */

static bool has_rank(prism_method m) {
    return m == PRISM_METHOD_LORA || m == PRISM_METHOD_HUT || m == PRISM_METHOD_XPEFT;
}

prism_status prism_adapter_config_to_json(const prism_adapter_config *cfg, cJSON *obj, char *err, size_t err_len) {
    if (!cfg || !cJSON_IsObject(obj))
        return prism_errf(err, err_len, PRISM_ERR_INVALID_ARGUMENT, "adapter_config_to_json: %s",
                       !cfg ? "config is NULL" : "obj is not a JSON object");
    if (cfg->method < 0 || cfg->method >= PRISM_METHOD_COUNT)
        return prism_errf(err, err_len, PRISM_ERR_INVALID_ARGUMENT, "adapter_config_to_json: method %d",
                          (int)cfg->method);
    const prism_adapter_vt *vt = prism_adapter_vt_of(cfg->method);
    const char *mn = prism_method_name(cfg->method);
    if (!vt || !vt->peft_type)
        return prism_errf(err, err_len, PRISM_ERR_UNSUPPORTED, "adapter_config_to_json: this build has no %s adapter",
                          mn);
    /* what the readers take back: a JSON integer is exact up to 2^53, and
       FourierFT's seed is torch's (below 2^32); a file that cannot be read
       back is refused before anything is written */
    if ((cfg->method == PRISM_METHOD_SDCTFT && cfg->seed > (1ULL << 53)) ||
        (cfg->method == PRISM_METHOD_FOURIERFT && cfg->random_loc_seed >= (1ULL << 32)))
        return prism_errf(err, err_len, PRISM_ERR_INVALID_ARGUMENT,
                          "adapter_config_to_json (%s): seed %llu is out of range (at most %s)",
                          prism_method_name(cfg->method),
                          (unsigned long long)(cfg->method == PRISM_METHOD_SDCTFT ? cfg->seed : cfg->random_loc_seed),
                          cfg->method == PRISM_METHOD_SDCTFT ? "2^53" : "2^32 - 1");
    /* the HF PeftConfig common fields (inference_mode true as HF saves it) */
    bool ok = prism_json_put(obj, "peft_type", cJSON_CreateString(vt->peft_type)) &&
              prism_json_put(obj, "task_type", cJSON_CreateNull()) &&
              prism_json_put(obj, "base_model_name_or_path", cJSON_CreateNull()) &&
              prism_json_put(obj, "revision", cJSON_CreateNull()) &&
              prism_json_put(obj, "inference_mode", cJSON_CreateTrue());
    if (ok && !cJSON_GetObjectItemCaseSensitive(obj, "target_modules"))
        ok = prism_json_put(obj, "target_modules", cJSON_CreateNull());
    if (ok && has_rank(cfg->method)) ok = prism_json_put(obj, "r", cJSON_CreateNumber(cfg->r));
    if (!ok)
        return prism_errf(err, err_len, PRISM_ERR_OUT_OF_HOST_MEMORY, "adapter_config_to_json (%s): out of memory", mn);
    if (vt->config_to_json) {
        prism_status st = vt->config_to_json(cfg, obj);
        if (st) return prism_errf(err, err_len, st, "adapter_config_to_json (%s): %s", mn, prism_status_string(st));
    }
    return PRISM_OK;
}

prism_status prism_adapter_config_from_json(const cJSON *obj, prism_adapter_config *cfg, char *err, size_t err_len) {
    if (!cfg || !cJSON_IsObject(obj))
        return prism_errf(err, err_len, PRISM_ERR_INVALID_ARGUMENT, "adapter_config_from_json: %s",
                       !cfg ? "config is NULL" : "not a JSON object");
    const char *pt = NULL;
    prism_status st = prism_json_get_string(obj, "peft_type", NULL, &pt, err, err_len);
    if (st) return st;
    if (!pt) return prism_errf(err, err_len, PRISM_ERR_FORMAT, "adapter_config: no \"peft_type\"");
    prism_method m;
    if (prism_method_parse(pt, &m) != PRISM_OK)
        return prism_errf(err, err_len, PRISM_ERR_FORMAT, "adapter_config: peft_type \"%s\" is not a prism method", pt);
    const prism_adapter_vt *vt = prism_adapter_vt_of(m);
    if (!vt)
        return prism_errf(err, err_len, PRISM_ERR_UNSUPPORTED, "adapter_config: this build has no %s adapter",
                       prism_method_name(m));
    prism_adapter_config c = prism_adapter_config_default(m);
    if (has_rank(m)) {
        int64_t r;
        if ((st = prism_json_get_int(obj, "r", c.r, &r, err, err_len))) return st;
        if (r < 1 || r > INT_MAX)
            return prism_errf(err, err_len, PRISM_ERR_FORMAT, "adapter_config: \"r\" = %lld is out of range",
                              (long long)r);
        c.r = (int)r;
    }
    if (vt->config_from_json && (st = vt->config_from_json(obj, &c, err, err_len))) return st;
    *cfg = c;
    return PRISM_OK;
}

/* ------------------------------------------------------------------ directories */

/* The names in an adapter directory: the tensor key prefix of the module,
 * the tensor file and the config file. */
typedef struct dir_paths { char *prefix, *st, *cfg; } dir_paths;

static void dir_paths_free(dir_paths *p) {
    free(p->prefix);
    free(p->st);
    free(p->cfg);
}

static prism_status dir_paths_make(dir_paths *p, const char *dir, const char *module, char *err, size_t len) {
    p->prefix = prism_cat3("base_model.model.", module, "");
    p->st = prism_cat3(dir, "/", "adapter_model.safetensors");
    p->cfg = prism_cat3(dir, "/", "adapter_config.json");
    if (p->prefix && p->st && p->cfg) return PRISM_OK;
    return prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
}

static bool bad_module(const char *module) { return !module || !*module; }

prism_status prism_adapter_save(prism_adapter *ad, const char *dir, const char *module) {
    static const char *OP = "adapter_save";
    if (!ad) return PRISM_ERR_INVALID_ARGUMENT;
    if (!dir || !*dir || bad_module(module))
        return prism_set_error(ad->ctx, PRISM_ERR_INVALID_ARGUMENT, "%s (%s): %s is NULL or empty", OP, mname(ad),
                               !dir || !*dir ? "dir" : "module");
    prism_status st;
    char err[512] = "";
    prism_st_writer *w = NULL;
    cJSON *root = NULL;
    dir_paths p;
    if ((st = dir_paths_make(&p, dir, module, err, sizeof err))) goto fail;
    if ((st = prism_mkdirs(dir, err, sizeof err))) goto fail;
    if ((st = prism_st_writer_create(&w))) {
        snprintf(err, sizeof err, "cannot create a safetensors writer");
        goto fail;
    }
    if ((st = prism_adapter_save_tensors(ad, p.prefix, w))) goto cleanup; /* message already set */
    if ((st = prism_st_writer_set_meta(w, "format", "pt", err, sizeof err))) goto fail;
    if ((st = prism_st_writer_write(w, p.st, err, sizeof err))) goto fail;
    root = cJSON_CreateObject();
    cJSON *tm = cJSON_CreateArray();
    if (!root || !tm || !cJSON_AddItemToArray(tm, cJSON_CreateString(module)) ||
        !cJSON_AddItemToObject(root, "target_modules", tm)) {
        cJSON_Delete(tm);
        st = PRISM_ERR_OUT_OF_HOST_MEMORY;
        snprintf(err, sizeof err, "out of host memory");
        goto fail;
    }
    if ((st = prism_adapter_config_to_json(&ad->cfg, root, err, sizeof err))) goto fail;
    if ((st = prism_json_write(p.cfg, root, err, sizeof err))) goto fail;
    goto cleanup;
fail:
    st = prism_set_error(ad->ctx, st, "%s (%s) to '%s': %s", OP, mname(ad), dir, err);
cleanup:
    cJSON_Delete(root);
    prism_st_writer_destroy(w);
    dir_paths_free(&p);
    return st;
}

prism_status prism_adapter_load(prism_context *ctx, const char *dir, const char *module, const prism_tensor *W0,
                                const prism_tensor *bias, prism_adapter **out) {
    static const char *OP = "adapter_load";
    if (!ctx) return PRISM_ERR_INVALID_ARGUMENT;
    if (out) *out = NULL;
    if (!dir || !*dir || bad_module(module) || !out)
        return prism_set_error(ctx, PRISM_ERR_INVALID_ARGUMENT, "%s: %s is NULL or empty", OP,
                               !dir || !*dir ? "dir" : !out ? "out" : "module");
    prism_status st;
    char err[512] = "";
    cJSON *root = NULL;
    prism_st_file *f = NULL;
    prism_adapter *ad = NULL;
    prism_adapter_config cfg;
    dir_paths p;
    if ((st = dir_paths_make(&p, dir, module, err, sizeof err))) goto fail;
    if ((st = prism_json_read(p.cfg, 0, &root, err, sizeof err))) goto fail;
    if (!cJSON_IsObject(root)) {
        st = PRISM_ERR_FORMAT;
        snprintf(err, sizeof err, "adapter_config.json is not a JSON object");
        goto fail;
    }
    if ((st = prism_adapter_config_from_json(root, &cfg, err, sizeof err))) goto fail;
    if ((st = prism_adapter_create(ctx, &cfg, W0, bias, &ad))) goto cleanup;
    if ((st = prism_st_open(p.st, 0, &f, err, sizeof err))) goto fail;
    if ((st = prism_adapter_load_tensors(ad, p.prefix, f))) goto cleanup;
    *out = ad;
    ad = NULL;
    goto cleanup;
fail:
    st = prism_set_error(ctx, st, "%s from '%s': %s", OP, dir, err);
cleanup:
    prism_adapter_destroy(ad);
    prism_st_close(f);
    cJSON_Delete(root);
    dir_paths_free(&p);
    return st;
}
