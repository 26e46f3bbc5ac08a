/* Shared helpers of `prism merge`, `prism inspect` and `prism apply`: see
 * adapter_cli.h. */
#include "adapter_cli.h"
#include <regex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "prism %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_FAIL;
}

static int oom(const char *cmd) { return fail(cmd, "out of host memory"); }

bool acli_ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

char *acli_cat(const char *a, const char *b, const char *c) {
    size_t la = strlen(a), lb = strlen(b), lc = c ? strlen(c) : 0;
    char *s = malloc(la + lb + lc + 1);
    if (!s) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    if (c) memcpy(s + la + lb, c, lc);
    s[la + lb + lc] = 0;
    return s;
}

const char *acli_shape_str(int ndim, const int64_t *shape, char *buf, size_t len) {
    size_t k = 0;
    k += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < len) snprintf(buf + k, len - k, "]");
    return buf;
}

/* ------------------------------------------------------------ module paths */

/* How keys are assigned to modules (see acli_open). */
typedef struct matcher {
    enum { M_LIST, M_REGEX, M_GUESS } kind;
    const cJSON *list;
    regex_t re;
    bool re_ok;
} matcher;

/* P (the first n bytes of path) matches list entry t as HF PEFT matches a
 * target name: equal, or equal to P's last dotted components. */
static bool list_match(const cJSON *list, const char *path, size_t n) {
    const cJSON *e;
    cJSON_ArrayForEach(e, list) {
        if (!cJSON_IsString(e) || !e->valuestring[0]) continue;
        size_t lt = strlen(e->valuestring);
        if (lt > n || memcmp(path + n - lt, e->valuestring, lt) != 0) continue;
        if (lt == n || path[n - lt - 1] == '.') return true;
    }
    return false;
}

/* Length of the module path at the start of rest (a key without the HF
 * prefix), 0 when no prefix matches. The longest match wins, so a target
 * name that is also a parameter name cannot shorten the path. */
static size_t module_len(matcher *m, const char *rest) {
    size_t n = strlen(rest);
    if (m->kind == M_GUESS) {
        /* no target_modules: "<module>.<param>" or "<module>.<param>.weight|bias" */
        const char *last = strrchr(rest, '.');
        if (!last || last == rest) return 0;
        size_t cut = (size_t)(last - rest);
        if (!strcmp(last, ".weight") || !strcmp(last, ".bias")) {
            const char *prev = NULL;
            for (const char *p = rest; p < last; p++)
                if (*p == '.') prev = p;
            if (prev && prev > rest) cut = (size_t)(prev - rest);
        }
        return cut;
    }
    char *tmp = m->kind == M_REGEX ? malloc(n + 1) : NULL;
    if (m->kind == M_REGEX && !tmp) return 0;
    size_t best = 0;
    for (size_t i = n; i-- > 1 && !best;) {
        if (rest[i] != '.') continue;
        if (m->kind == M_LIST) {
            if (list_match(m->list, rest, i)) best = i;
        } else {
            memcpy(tmp, rest, i);
            tmp[i] = 0;
            if (regexec(&m->re, tmp, 0, NULL, 0) == 0) best = i;
        }
    }
    free(tmp);
    return best;
}

static int add_to_module(acli_adapter *a, const char *name, size_t len, size_t tensor) {
    int mi = -1;
    for (int i = 0; i < a->nmodules && mi < 0; i++)
        if (strlen(a->modules[i].name) == len && !memcmp(a->modules[i].name, name, len)) mi = i;
    if (mi < 0) {
        acli_module *p = realloc(a->modules, sizeof *p * (size_t)(a->nmodules + 1));
        if (!p) return oom(a->cmd);
        a->modules = p;
        acli_module *md = &p[a->nmodules];
        memset(md, 0, sizeof *md);
        md->name = strndup(name, len);
        md->prefix = md->name ? acli_cat(ACLI_KEY_PREFIX, md->name, NULL) : NULL;
        a->nmodules++; /* counted before the check so acli_close frees it */
        if (!md->prefix) return oom(a->cmd);
        mi = a->nmodules - 1;
    }
    acli_module *md = &a->modules[mi];
    if (tensor == SIZE_MAX) return CLI_OK; /* a module without tensors (NONE) */
    size_t *t = realloc(md->tensors, sizeof *t * (size_t)(md->ntensors + 1));
    if (!t) return oom(a->cmd);
    md->tensors = t;
    t[md->ntensors++] = tensor;
    return CLI_OK;
}

static int find_modules(acli_adapter *a, const char *only) {
    matcher m = {.kind = M_GUESS};
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(a->config, "target_modules");
    if (cJSON_IsArray(tm)) {
        m.kind = M_LIST;
        m.list = tm;
    } else if (cJSON_IsString(tm)) {
        char *pat = acli_cat("^(", tm->valuestring, ")$");
        if (!pat) return oom(a->cmd);
        int rc = regcomp(&m.re, pat, REG_EXTENDED | REG_NOSUB);
        free(pat);
        if (rc != 0)
            return fail(a->cmd, "%s: target_modules '%s' is not a regular expression this tool understands (POSIX ERE)",
                        a->config_path, tm->valuestring);
        m.kind = M_REGEX;
        m.re_ok = true;
    }
    size_t plen = strlen(ACLI_KEY_PREFIX), olen = only ? strlen(only) : 0;
    int rc = CLI_OK;
    size_t nt = prism_st_count(a->st);
    if (!nt) {
        /* a method without tensors (NONE): the modules are the names given */
        if (only) rc = add_to_module(a, only, olen, SIZE_MAX);
        const cJSON *e;
        if (!only && m.kind == M_LIST)
            cJSON_ArrayForEach(e, tm) {
                if (rc == CLI_OK && cJSON_IsString(e) && e->valuestring[0])
                    rc = add_to_module(a, e->valuestring, strlen(e->valuestring), SIZE_MAX);
            }
        if (m.re_ok) regfree(&m.re);
        if (rc == CLI_OK && !a->nmodules)
            rc = fail(a->cmd, "%s holds no tensors and %s lists no module%s", a->model_path, a->config_path,
                      strcmp(a->cmd, "apply") ? "" : "; name one with --module");
        return rc;
    }
    for (size_t i = 0; i < nt && rc == CLI_OK; i++) {
        const char *key = prism_st_tensor_at(a->st, i)->name;
        if (strncmp(key, ACLI_KEY_PREFIX, plen) != 0) {
            rc = fail(a->cmd, "%s: key '%s' does not start with '%s' (not an HF PEFT adapter file)", a->model_path,
                      key, ACLI_KEY_PREFIX);
            break;
        }
        const char *rest = key + plen;
        if (only) {
            if (!strncmp(rest, only, olen) && rest[olen] == '.' && rest[olen + 1])
                rc = add_to_module(a, rest, olen, i);
            continue;
        }
        size_t len = module_len(&m, rest);
        if (!len) {
            rc = fail(a->cmd, "%s: cannot tell which module key '%s' belongs to (it matches no entry of target_modules "
                              "in %s)%s",
                      a->model_path, key, a->config_path,
                      strcmp(a->cmd, "apply") ? "" : "; name the module with --module");
            break;
        }
        rc = add_to_module(a, rest, len, i);
    }
    if (m.re_ok) regfree(&m.re);
    if (rc == CLI_OK && only && !a->nmodules)
        rc = fail(a->cmd, "%s: no tensor of module '%s' (no key starts with '%s%s.')", a->model_path, only,
                  ACLI_KEY_PREFIX, only);
    if (rc == CLI_OK && !a->nmodules) rc = fail(a->cmd, "%s: the file holds no adapter tensors", a->model_path);
    return rc;
}

/* ------------------------------------------------------------ open/close */

int acli_open(const char *cmd, const char *dir, const char *only, acli_adapter *a) {
    char err[1024];
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return fail(cmd, "%s: not a directory (an adapter is a directory holding adapter_config.json and "
                         "adapter_model.safetensors)", dir);
    a->dir = strdup(dir);
    a->config_path = acli_cat(dir, "/adapter_config.json", NULL);
    a->model_path = acli_cat(dir, "/adapter_model.safetensors", NULL);
    if (!a->dir || !a->config_path || !a->model_path) return oom(cmd);

    if (prism_json_read(a->config_path, 0, &a->config, err, sizeof err) != PRISM_OK)
        return fail(cmd, "%s", err);
    if (!cJSON_IsObject(a->config)) return fail(cmd, "%s: the top level is not a JSON object", a->config_path);
    if (prism_adapter_config_from_json(a->config, &a->cfg, err, sizeof err) != PRISM_OK)
        return fail(cmd, "%s: %s", a->config_path, err);
    if (prism_st_open(a->model_path, 0, &a->st, err, sizeof err) != PRISM_OK) return fail(cmd, "%s", err);
    if (stat(a->model_path, &sb) == 0) a->model_file_bytes = (uint64_t)sb.st_size;
    return find_modules(a, only);
}

void acli_close(acli_adapter *a) {
    if (!a) return;
    for (int i = 0; i < a->nmodules; i++) {
        free(a->modules[i].name);
        free(a->modules[i].prefix);
        free(a->modules[i].tensors);
    }
    free(a->modules);
    prism_st_close(a->st);
    cJSON_Delete(a->config);
    free(a->dir);
    free(a->config_path);
    free(a->model_path);
    memset(a, 0, sizeof *a);
}

int acli_find_module(const acli_adapter *a, const char *name) {
    for (int i = 0; i < a->nmodules; i++)
        if (!strcmp(a->modules[i].name, name)) return i;
    return -1;
}

/* ------------------------------------------------------------ adapters */

int acli_instantiate(acli_adapter *a, int mi, prism_context *ctx, const prism_tensor *W0,
                     const prism_tensor *bias, prism_adapter **out) {
    *out = NULL;
    const acli_module *md = &a->modules[mi];
    const char *method = prism_method_name(a->cfg.method);
    char wshape[64];
    prism_tensor_shape_str(W0, wshape, sizeof wshape);
    prism_adapter *ad = NULL;
    prism_status st = prism_adapter_create(ctx, &a->cfg, W0, bias, &ad);
    if (st != PRISM_OK)
        return fail(a->cmd, "module '%s': cannot create the %s adapter on W0 %s: %s", md->name, method, wshape,
                    st == PRISM_ERR_UNSUPPORTED && !prism_error_message(ctx)[0]
                        ? "the method is not available in this build"
                        : prism_error_message(ctx));
    /* every tensor of the module must be one of the method's parameters:
     * load_tensors only reads the ones it knows, so a stray key would
     * otherwise be dropped without a word */
    const prism_param *pl = NULL;
    int np = prism_adapter_params(ad, &pl);
    size_t plen = strlen(md->prefix) + 1;
    for (int i = 0; i < md->ntensors; i++) {
        const char *key = prism_st_tensor_at(a->st, md->tensors[i])->name, *pname = key + plen;
        bool known = false;
        for (int j = 0; j < np && !known; j++) known = !strcmp(pl[j].name, pname);
        if (!known) {
            fprintf(stderr, "prism %s: %s: tensor '%s' is not a parameter of a %s adapter (its parameters:", a->cmd,
                    a->model_path, key, method);
            for (int j = 0; j < np; j++) fprintf(stderr, " %s", pl[j].name);
            fprintf(stderr, "%s)\n", np ? "" : " none");
            prism_adapter_destroy(ad);
            return CLI_FAIL;
        }
    }
    if (prism_adapter_load_tensors(ad, md->prefix, a->st) != PRISM_OK) {
        fail(a->cmd, "%s: module '%s' (%s on W0 %s): %s", a->model_path, md->name, method, wshape,
             prism_error_message(ctx));
        prism_adapter_destroy(ad);
        return CLI_FAIL;
    }
    *out = ad;
    return CLI_OK;
}

/* ------------------------------------------------------------ contexts */

int acli_context(const char *cmd, const char *device, prism_context **out) {
    char err[1024];
    prism_context_options o = prism_context_options_default();
    o.device = device;
    o.profile = 0;
    prism_status st = prism_context_create(&o, out, err, sizeof err);
    if (st == PRISM_OK) return CLI_OK;
    fprintf(stderr, "prism %s: cannot open the device: %s\n", cmd, err);
    return device && (st == PRISM_ERR_NO_DEVICE || st == PRISM_ERR_INVALID_ARGUMENT) ? CLI_USAGE : CLI_FAIL;
}

int acli_validation_verdict(const char *cmd, const prism_context *ctx) {
    uint64_t n = prism_validation_message_count(ctx);
    if (!n) return CLI_OK;
    return fail(cmd, "the validation layer reported %llu message%s; last: %s", (unsigned long long)n,
                n == 1 ? "" : "s", prism_validation_last_message(ctx));
}

int acli_fail_ctx(const char *cmd, const prism_context *ctx, const char *what) {
    return fail(cmd, "%s: %s", what, prism_error_message(ctx));
}

static int64_t numel_of(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

int acli_upload(const char *cmd, prism_context *ctx, int ndim, const int64_t *shape, const double *data,
                prism_tensor **out) {
    *out = NULL;
    if (prism_tensor_create(ctx, ndim, shape, out) != PRISM_OK) return acli_fail_ctx(cmd, ctx, "tensor");
    if (prism_tensor_upload_f64(*out, data, numel_of(ndim, shape)) != PRISM_OK) {
        prism_tensor_destroy(*out);
        *out = NULL;
        return acli_fail_ctx(cmd, ctx, "upload");
    }
    return CLI_OK;
}

int acli_upload_f32(const char *cmd, prism_context *ctx, int ndim, const int64_t *shape, const float *data,
                    prism_tensor **out) {
    *out = NULL;
    if (prism_tensor_create(ctx, ndim, shape, out) != PRISM_OK) return acli_fail_ctx(cmd, ctx, "tensor");
    if (prism_tensor_upload(*out, data, numel_of(ndim, shape)) != PRISM_OK) {
        prism_tensor_destroy(*out);
        *out = NULL;
        return acli_fail_ctx(cmd, ctx, "upload");
    }
    return CLI_OK;
}

int acli_download(const char *cmd, prism_tensor *t, double **out) {
    int64_t n = prism_tensor_numel(t);
    *out = malloc((size_t)n * sizeof **out);
    if (!*out) return oom(cmd);
    if (prism_tensor_download_f64(t, *out, n) != PRISM_OK) {
        free(*out);
        *out = NULL;
        return acli_fail_ctx(cmd, prism_tensor_context(t), "download");
    }
    return CLI_OK;
}

/* ------------------------------------------------------------ base weights */

static bool is_float(prism_dtype d) {
    return d == PRISM_DTYPE_F32 || d == PRISM_DTYPE_F16 || d == PRISM_DTYPE_BF16 || d == PRISM_DTYPE_F64;
}

static int read_st_f32(const char *cmd, const prism_st_file *f, const prism_st_tensor *t, prism_context *ctx,
                       prism_tensor **out) {
    char err[1024];
    float *h = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *h);
    if (!h) return oom(cmd);
    int rc = CLI_OK;
    if (prism_st_read_f32(f, t->name, h, t->numel, err, sizeof err) != PRISM_OK) rc = fail(cmd, "%s", err);
    else rc = acli_upload_f32(cmd, ctx, t->ndim, t->shape, h, out);
    free(h);
    return rc;
}

int acli_read_base(const char *cmd, const prism_st_file *base, const char *path, const char *wkey,
                   const char *bkey, bool bias_required, prism_context *ctx, prism_tensor **W0,
                   prism_tensor **bias) {
    char sh[96];
    *W0 = *bias = NULL;
    const prism_st_tensor *w = prism_st_find(base, wkey);
    if (!w) return fail(cmd, "%s: no tensor '%s'", path, wkey);
    if (w->ndim != 2)
        return fail(cmd, "%s: '%s' is %s; a linear layer's weight is 2-D [out, in]", path, wkey,
                    acli_shape_str(w->ndim, w->shape, sh, sizeof sh));
    if (!is_float(w->dtype))
        return fail(cmd, "%s: '%s' is %s; the weight must be F32, F16, BF16 or F64", path, wkey,
                    prism_dtype_name(w->dtype));
    const prism_st_tensor *b = bkey ? prism_st_find(base, bkey) : NULL;
    if (bkey && !b && bias_required) return fail(cmd, "%s: no tensor '%s'", path, bkey);
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return fail(cmd, "%s: bias '%s' is %s, the weight '%s' needs [%lld]", path, bkey,
                    acli_shape_str(b->ndim, b->shape, sh, sizeof sh), wkey, (long long)w->shape[0]);
    if (b && !is_float(b->dtype))
        return fail(cmd, "%s: '%s' is %s; the bias must be F32, F16, BF16 or F64", path, bkey,
                    prism_dtype_name(b->dtype));
    int rc = read_st_f32(cmd, base, w, ctx, W0);
    if (rc == CLI_OK && b) rc = read_st_f32(cmd, base, b, ctx, bias);
    if (rc != CLI_OK) {
        prism_tensor_destroy(*W0);
        prism_tensor_destroy(*bias);
        *W0 = *bias = NULL;
    }
    return rc;
}
