/* Files of `prism train`: the base weights, checkpoints and the adapter
 * directory. Everything goes through the safetensors writer, which writes a
 * temporary file, fsyncs it and renames it over the target: a crash or a
 * kill -9 during a save leaves the previous file whole. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "train.h"

static prism_status oom(char *err, size_t err_len) {
    if (err && err_len) snprintf(err, err_len, "out of host memory");
    return PRISM_ERR_OUT_OF_HOST_MEMORY;
}

static prism_status ctx_fail(prism_context *ctx, prism_status st, char *err, size_t err_len,
                             const char *what) {
    if (err && err_len)
        snprintf(err, err_len, "%s: %s (%s)", what, prism_error_message(ctx)[0] ? prism_error_message(ctx) : "failed",
                 prism_status_string(st));
    return st;
}

/* ------------------------------------------------------------------ base */

prism_status pt_widths_parse(const char *s, pt_base *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    int n = 0;
    const char *p = s;
    while (p && *p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > 65536 || n > PT_MAX_LAYERS || (*end && *end != ',' && *end != '-')) {
            if (err && err_len)
                snprintf(err, err_len, "widths '%s': expected 2 to %d integers in [1, 65536] separated by ','",
                         s, PT_MAX_LAYERS + 1);
            return PRISM_ERR_INVALID_ARGUMENT;
        }
        out->widths[n++] = v;
        p = *end ? end + 1 : end;
    }
    if (n < 2) {
        if (err && err_len) snprintf(err, err_len, "widths '%s': need at least an input and an output width", s ? s : "");
        return PRISM_ERR_INVALID_ARGUMENT;
    }
    out->nlayers = n - 1;
    return PRISM_OK;
}

const char *pt_widths_str(const pt_base *b, char *buf, size_t len) {
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i <= b->nlayers && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "-" : "", (long long)b->widths[i]);
    return buf;
}

int64_t pt_base_param_count(const pt_base *b) {
    int64_t n = 0;
    for (int i = 0; i < b->nlayers; i++) n += b->widths[i + 1] * (b->widths[i] + 1);
    return n;
}

void pt_base_free(pt_base *b) {
    if (!b) return;
    for (int i = 0; i < PT_MAX_LAYERS; i++) {
        free(b->layer[i].W);
        free(b->layer[i].b);
        b->layer[i].W = b->layer[i].b = NULL;
    }
}

prism_status pt_base_init(pt_base *b, uint64_t seed, char *err, size_t err_len) {
    uint64_t st = seed ^ 0xba5eba5eULL;
    for (int i = 0; i < b->nlayers; i++) {
        int64_t o = b->widths[i + 1], in = b->widths[i];
        b->layer[i].W = malloc((size_t)(o * in) * sizeof(float));
        b->layer[i].b = malloc((size_t)o * sizeof(float));
        if (!b->layer[i].W || !b->layer[i].b) {
            pt_base_free(b);
            return oom(err, err_len);
        }
        double bound = 1.0 / sqrt((double)in);
        for (int64_t j = 0; j < o * in; j++) b->layer[i].W[j] = (float)(bound * (2 * pt_rng_uniform(&st) - 1));
        for (int64_t j = 0; j < o; j++) b->layer[i].b[j] = (float)(bound * (2 * pt_rng_uniform(&st) - 1));
    }
    return PRISM_OK;
}

prism_status pt_base_save(const pt_base *b, const char *path, const char *meta_json, char *err,
                          size_t err_len) {
    prism_st_writer *w = NULL;
    prism_status st = prism_st_writer_create(&w);
    if (st) return oom(err, err_len);
    char key[64], wbuf[128];
    for (int i = 0; i < b->nlayers && !st; i++) {
        int64_t shape[2] = {b->widths[i + 1], b->widths[i]};
        snprintf(key, sizeof key, "layers.%d.weight", i);
        st = prism_st_writer_add_f32(w, key, 2, shape, b->layer[i].W, err, err_len);
        snprintf(key, sizeof key, "layers.%d.bias", i);
        if (!st) st = prism_st_writer_add_f32(w, key, 1, shape, b->layer[i].b, err, err_len);
    }
    if (!st) st = prism_st_writer_set_meta(w, "format", "pt", err, err_len);
    if (!st) st = prism_st_writer_set_meta(w, "prism_widths", pt_widths_str(b, wbuf, sizeof wbuf), err, err_len);
    if (!st && meta_json) st = prism_st_writer_set_meta(w, "prism_base", meta_json, err, err_len);
    if (!st) st = prism_st_writer_write(w, path, err, err_len);
    prism_st_writer_destroy(w);
    return st;
}

/* Tensor `name` must exist with exactly the given shape. */
/* The shape of trainable t and a host buffer grown to its size (the AdamW
 * moments pass through it on save and on load). */
static prism_status staging(const prism_tensor *t, float **buf, int64_t shape[PRISM_MAX_DIMS], int *nd, int64_t *cnt,
                            char *err, size_t err_len) {
    *cnt = prism_tensor_numel(t);
    *nd = prism_tensor_ndim(t);
    for (int d = 0; d < *nd; d++) shape[d] = prism_tensor_dim(t, d);
    float *nb = realloc(*buf, (size_t)*cnt * sizeof *nb);
    if (!nb) return oom(err, err_len);
    *buf = nb;
    return PRISM_OK;
}

static prism_status read_exact_f32(const prism_st_file *f, const char *path, const char *name, int ndim,
                                   const int64_t *shape, float *dst, char *err, size_t err_len) {
    const prism_st_tensor *t = prism_st_find(f, name);
    int ok = t && t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = t->shape[d] == shape[d];
    if (!ok) {
        if (err && err_len)
            snprintf(err, err_len, "%s: tensor '%s' %s (expected %d dims, [%lld%s%s])", path, name,
                     t ? "has another shape" : "is missing", ndim, (long long)shape[0], ndim > 1 ? ", ..." : "",
                     "");
        return PRISM_ERR_FORMAT;
    }
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    prism_status st = prism_st_read_f32(f, name, dst, n, err, err_len);
    if (st) return st;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(dst[i])) {
            if (err && err_len) snprintf(err, err_len, "%s: tensor '%s' has a non-finite value at %lld", path, name, (long long)i);
            return PRISM_ERR_FORMAT;
        }
    return PRISM_OK;
}

prism_status pt_base_load(const char *path, pt_base *want, char *err, size_t err_len) {
    prism_st_file *f = NULL;
    prism_status st = prism_st_open(path, 0, &f, err, err_len);
    if (st) return st;
    if ((st = pt_base_init(want, 0, err, err_len))) goto done;
    char key[64];
    for (int i = 0; i < want->nlayers && !st; i++) {
        int64_t shape[2] = {want->widths[i + 1], want->widths[i]};
        snprintf(key, sizeof key, "layers.%d.weight", i);
        st = read_exact_f32(f, path, key, 2, shape, want->layer[i].W, err, err_len);
        snprintf(key, sizeof key, "layers.%d.bias", i);
        if (!st) st = read_exact_f32(f, path, key, 1, shape, want->layer[i].b, err, err_len);
    }
    snprintf(key, sizeof key, "layers.%d.weight", want->nlayers);
    if (!st && prism_st_find(f, key)) {
        if (err && err_len) snprintf(err, err_len, "%s: has more layers than the %d asked for", path, want->nlayers);
        st = PRISM_ERR_FORMAT;
    }
done:
    if (st) pt_base_free(want);
    prism_st_close(f);
    return st;
}

/* ------------------------------------------------------------------ adapter files */

prism_status pt_mkdirs(const char *dir, char *err, size_t err_len) {
    char buf[4096];
    if (!dir || !*dir || strlen(dir) >= sizeof buf) {
        if (err && err_len) snprintf(err, err_len, "bad directory name");
        return PRISM_ERR_INVALID_ARGUMENT;
    }
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                if (err && err_len) snprintf(err, err_len, "cannot create directory %s: %s", buf, strerror(errno));
                return PRISM_ERR_IO;
            }
            *p = c;
            if (!c) break;
        }
    }
    return PRISM_OK;
}

const char *pt_default_cache_dir(char *buf, size_t len) {
    const char *env = getenv("PRISM_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (env && *env) snprintf(buf, len, "%s", env);
    else if (xdg && *xdg) snprintf(buf, len, "%s/prism", xdg);
    else if (home && *home) snprintf(buf, len, "%s/.cache/prism", home);
    else snprintf(buf, len, ".prism-cache");
    return buf;
}

prism_status pt_adapter_save(pt_mlp *m, const char *dir, int64_t *bytes, char *err,
                             size_t err_len) {
    prism_st_writer *w = NULL;
    cJSON *cfg = NULL, *mods = NULL;
    prism_status st = pt_mkdirs(dir, err, err_len);
    if (st) return st;
    if (prism_st_writer_create(&w)) return oom(err, err_len);
    char key[128], path[4200];
    const int L = pt_mlp_nlayers(m);
    for (int i = 0; i < L && !st; i++) {
        snprintf(key, sizeof key, "base_model.model.layers.%d", i);
        st = prism_adapter_save_tensors(pt_mlp_adapter(m, i), key, w);
        if (st) ctx_fail(pt_mlp_context(m), st, err, err_len, "adapter save");
    }
    if (!st) st = prism_st_writer_set_meta(w, "format", "pt", err, err_len);
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    if (!st) st = prism_st_writer_write(w, path, err, err_len);
    if (st) goto done;
    cfg = cJSON_CreateObject();
    mods = cJSON_CreateArray();
    if (!cfg || !mods) {
        st = oom(err, err_len);
        goto done;
    }
    if ((st = prism_adapter_config_to_json(prism_adapter_get_config(pt_mlp_adapter(m, 0)), cfg, err, err_len)))
        goto done;
    for (int i = 0; i < L; i++) {
        snprintf(key, sizeof key, "layers.%d", i);
        cJSON_AddItemToArray(mods, cJSON_CreateString(key));
    }
    cJSON_DeleteItemFromObject(cfg, "target_modules");
    cJSON_AddItemToObject(cfg, "target_modules", mods);
    mods = NULL;
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    if ((st = prism_json_write(path, cfg, err, err_len))) goto done;
    if (bytes) {
        struct stat sb;
        snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
        *bytes = stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
    }
done:
    cJSON_Delete(mods);
    cJSON_Delete(cfg);
    prism_st_writer_destroy(w);
    return st;
}

/* ------------------------------------------------------------------ checkpoints */

prism_status pt_ckpt_save(pt_mlp *m, const char *path, const pt_ckpt_info *info, char *err,
                          size_t err_len) {
    prism_st_writer *w = NULL;
    float *buf = NULL;
    prism_context *ctx = pt_mlp_context(m);
    prism_status st = PRISM_OK;
    if (prism_st_writer_create(&w)) return oom(err, err_len);
    char key[300], val[64];
    for (int i = 0; i < pt_mlp_nlayers(m) && !st; i++) {
        snprintf(key, sizeof key, "layers.%d", i);
        if ((st = prism_adapter_save_tensors(pt_mlp_adapter(m, i), key, w)))
            ctx_fail(ctx, st, err, err_len, "checkpoint: adapter tensors");
    }
    prism_tensor **p, **m1, **m2;
    const char **names;
    int n = pt_mlp_trainables(m, &p, &m1, &m2, &names);
    for (int k = 0; k < n && !st; k++) {
        int64_t shape[PRISM_MAX_DIMS], cnt;
        int nd;
        if ((st = staging(p[k], &buf, shape, &nd, &cnt, err, err_len))) break;
        for (int which = 0; which < 2 && !st; which++) {
            if ((st = prism_tensor_download(which ? m2[k] : m1[k], buf, cnt))) {
                ctx_fail(ctx, st, err, err_len, "checkpoint: AdamW moments");
                break;
            }
            snprintf(key, sizeof key, "optim.%s.%s", which ? "v" : "m", names[k]);
            st = prism_st_writer_add_f32(w, key, nd, shape, buf, err, err_len);
        }
    }
    float state[PRISM_OPT_STATE_SIZE];
    int64_t ss = PRISM_OPT_STATE_SIZE;
    if (!st && (st = prism_tensor_download(pt_mlp_optim_state(m), state, ss)))
        ctx_fail(ctx, st, err, err_len, "checkpoint: optimizer state");
    if (!st) st = prism_st_writer_add_f32(w, "optim.state", 1, &ss, state, err, err_len);
    struct { const char *k; const char *v; } meta[] = {
        {"prism_checkpoint", "1"}, {"method", info->method}, {"profile", info->profile}, {"widths", info->widths},
    };
    for (size_t i = 0; i < sizeof meta / sizeof meta[0] && !st; i++)
        st = prism_st_writer_set_meta(w, meta[i].k, meta[i].v, err, err_len);
    struct { const char *k; int64_t v; } nums[] = {
        {"step", info->step}, {"batch", info->batch}, {"train_n", info->train_n},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0] && !st; i++) {
        snprintf(val, sizeof val, "%lld", (long long)nums[i].v);
        st = prism_st_writer_set_meta(w, nums[i].k, val, err, err_len);
    }
    snprintf(val, sizeof val, "%" PRIu64, info->seed);
    if (!st) st = prism_st_writer_set_meta(w, "seed", val, err, err_len);
    if (!st && info->history) st = prism_st_writer_set_meta(w, "history", info->history, err, err_len);
    if (!st) st = prism_st_writer_write(w, path, err, err_len);
    free(buf);
    prism_st_writer_destroy(w);
    return st;
}

void pt_ckpt_info_free(pt_ckpt_info *info) {
    if (!info) return;
    free(info->history);
    info->history = NULL;
}

static prism_status meta_int(const prism_st_file *f, const char *path, const char *key, int64_t *out,
                             char *err, size_t err_len) {
    const char *v = prism_st_meta_get(f, key);
    char *end = NULL;
    errno = 0;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || x < 0) {
        if (err && err_len) snprintf(err, err_len, "%s: checkpoint metadata '%s' missing or not an integer", path, key);
        return PRISM_ERR_FORMAT;
    }
    *out = x;
    return PRISM_OK;
}

static prism_status read_info(const prism_st_file *f, const char *path, pt_ckpt_info *info, char *err,
                              size_t err_len) {
    memset(info, 0, sizeof *info);
    const char *tag = prism_st_meta_get(f, "prism_checkpoint");
    if (!tag || strcmp(tag, "1")) {
        if (err && err_len) snprintf(err, err_len, "%s: not a prism train checkpoint", path);
        return PRISM_ERR_FORMAT;
    }
    const char *s;
    snprintf(info->method, sizeof info->method, "%s", (s = prism_st_meta_get(f, "method")) ? s : "");
    snprintf(info->profile, sizeof info->profile, "%s", (s = prism_st_meta_get(f, "profile")) ? s : "");
    snprintf(info->widths, sizeof info->widths, "%s", (s = prism_st_meta_get(f, "widths")) ? s : "");
    int64_t seed = 0;
    prism_status st;
    if ((st = meta_int(f, path, "step", &info->step, err, err_len))) return st;
    if ((st = meta_int(f, path, "batch", &info->batch, err, err_len))) return st;
    if ((st = meta_int(f, path, "train_n", &info->train_n, err, err_len))) return st;
    const char *sv = prism_st_meta_get(f, "seed");
    if (!sv) return meta_int(f, path, "seed", &seed, err, err_len);
    info->seed = strtoull(sv, NULL, 10);
    if ((s = prism_st_meta_get(f, "history")) && !(info->history = strdup(s))) return oom(err, err_len);
    return PRISM_OK;
}

prism_status pt_ckpt_read_info(const char *path, pt_ckpt_info *info, char *err, size_t err_len) {
    prism_st_file *f = NULL;
    memset(info, 0, sizeof *info);
    prism_status st = prism_st_open(path, 0, &f, err, err_len);
    if (st) return st;
    st = read_info(f, path, info, err, err_len);
    prism_st_close(f);
    return st;
}

prism_status pt_ckpt_load(pt_mlp *m, const char *path, char *err, size_t err_len) {
    prism_st_file *f = NULL;
    float *buf = NULL;
    prism_context *ctx = pt_mlp_context(m);
    prism_status st = prism_st_open(path, 0, &f, err, err_len);
    if (st) return st;
    char key[300];
    for (int i = 0; i < pt_mlp_nlayers(m) && !st; i++) {
        snprintf(key, sizeof key, "layers.%d", i);
        if ((st = prism_adapter_load_tensors(pt_mlp_adapter(m, i), key, f)))
            ctx_fail(ctx, st, err, err_len, path);
    }
    prism_tensor **p, **m1, **m2;
    const char **names;
    int n = pt_mlp_trainables(m, &p, &m1, &m2, &names);
    for (int k = 0; k < n && !st; k++) {
        int64_t shape[PRISM_MAX_DIMS], cnt;
        int nd;
        if ((st = staging(p[k], &buf, shape, &nd, &cnt, err, err_len))) break;
        for (int which = 0; which < 2 && !st; which++) {
            snprintf(key, sizeof key, "optim.%s.%s", which ? "v" : "m", names[k]);
            if ((st = read_exact_f32(f, path, key, nd, shape, buf, err, err_len))) break;
            if ((st = prism_tensor_upload(which ? m2[k] : m1[k], buf, cnt)))
                ctx_fail(ctx, st, err, err_len, "checkpoint: AdamW moments");
        }
    }
    float state[PRISM_OPT_STATE_SIZE];
    int64_t ss = PRISM_OPT_STATE_SIZE;
    if (!st) st = read_exact_f32(f, path, "optim.state", 1, &ss, state, err, err_len);
    if (!st && (st = prism_tensor_upload(pt_mlp_optim_state(m), state, ss)))
        ctx_fail(ctx, st, err, err_len, "checkpoint: optimizer state");
    free(buf);
    prism_st_close(f);
    return st;
}
