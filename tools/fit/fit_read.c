/* Reading the inputs of the subspace fit: adapter directories (or live
 * adapters) into psf_solution, finding a method's directory inside a run,
 * and the directory-level driver psf_fit_dirs (tools/fit/subspace_fit.h). */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "io/io_util.h"
#include "subspace_fit.h"

#define KEY_PREFIX "base_model.model."

/* Tensor names of each member method (HF keys after the module path). */
typedef struct names { const char *train[4]; const char *frozen[2]; } names;
static const names *names_of(prism_method m) {
    static const names LORA = {{"lora_A.weight", "lora_B.weight"}, {NULL}},
                       ETHER = {{"ether_u_in", "ether_v_in", "ether_u_out", "ether_v_out"}, {NULL}},
                       HUT = {{"hira_A", "hira_B"}, {NULL}}, SDCTFT = {{"sdctft_coef"}, {"sdctft_index"}},
                       FOURIER = {{"fourierft_spectrum"}, {NULL}};
    switch (m) {
    case PRISM_METHOD_LORA: return &LORA;
    case PRISM_METHOD_ETHER:
    case PRISM_METHOD_ETHER_PLUS: return &ETHER;
    case PRISM_METHOD_HUT: return &HUT;
    case PRISM_METHOD_SDCTFT: return &SDCTFT;
    case PRISM_METHOD_FOURIERFT: return &FOURIER;
    default: return NULL;
    }
}

void psf_solution_free(psf_solution *s) {
    if (!s) return;
    for (int i = 0; s->t && i < s->n; i++) {
        free(s->t[i].module);
        free(s->t[i].name);
        free(s->t[i].f32);
        free(s->t[i].i64);
    }
    free(s->t);
    cJSON_Delete(s->config);
    free(s->source);
    memset(s, 0, sizeof *s);
}

static int tensor_cmp(const void *a, const void *b) {
    const psf_tensor *x = a, *y = b;
    int c = strcmp(x->module, y->module);
    return c ? c : strcmp(x->name, y->name);
}

/* key = "base_model.model.<module>.<name>" with name one of the method's. */
static bool split_key(const char *key, const names *nm, char **module, char **name, int *trainable) {
    size_t pl = strlen(KEY_PREFIX), kl = strlen(key);
    if (strncmp(key, KEY_PREFIX, pl) != 0) return false;
    for (int f = 0; f < 2; f++)
        for (int i = 0; i < (f ? 2 : 4); i++) {
            const char *n = f ? nm->frozen[i] : nm->train[i];
            size_t nl = n ? strlen(n) : 0;
            if (!n || kl < pl + nl + 2 || strcmp(key + kl - nl, n) != 0 || key[kl - nl - 1] != '.') continue;
            *module = strndup(key + pl, kl - nl - 1 - pl);
            *name = strdup(n);
            *trainable = !f;
            return true;
        }
    return false;
}

/* Every tensor of f as the method's solution (sorted). */
static prism_status collect(const prism_st_file *f, psf_solution *s, char *err, size_t len) {
    const names *nm = names_of(s->method);
    size_t n = prism_st_count(f);
    if (!nm)
        return prism_errf(err, len, PRISM_ERR_UNSUPPORTED,
                          "%s: method %s cannot be a subspace member (members: lora, ether, etherplus, hut, sdctft, "
                          "fourierft)", s->source, prism_method_name(s->method));
    if (n == 0) return prism_errf(err, len, PRISM_ERR_FORMAT, "%s: the adapter file has no tensors", s->source);
    if (!(s->t = calloc(n, sizeof *s->t)))
        return prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < n; i++) {
        const prism_st_tensor *t = prism_st_tensor_at(f, i);
        psf_tensor *x = &s->t[s->n];
        if (!split_key(t->name, nm, &x->module, &x->name, &x->trainable))
            return prism_errf(err, len, PRISM_ERR_FORMAT, "%s: tensor '%s' is not '%s<module>.<%s tensor>'", s->source,
                              t->name, KEY_PREFIX, prism_method_name(s->method));
        s->n++;
        if (!x->module || !x->name) return prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
        if (t->ndim < 1 || t->ndim > PRISM_MAX_DIMS || t->numel < 1)
            return prism_errf(err, len, PRISM_ERR_FORMAT, "%s: tensor '%s' has %d dims / %lld elements", s->source,
                              t->name, t->ndim, (long long)t->numel);
        x->ndim = t->ndim;
        memcpy(x->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
        x->numel = t->numel;
        bool isint = t->dtype == PRISM_DTYPE_I64 || t->dtype == PRISM_DTYPE_I32 || t->dtype == PRISM_DTYPE_I16 ||
                     t->dtype == PRISM_DTYPE_I8 || t->dtype == PRISM_DTYPE_U8;
        char e2[256];
        prism_status st;
        if (x->trainable && isint)
            return prism_errf(err, len, PRISM_ERR_FORMAT, "%s: trainable tensor '%s' is %s, not a float type",
                              s->source, t->name, prism_dtype_name(t->dtype));
        if (isint) {
            if (!(x->i64 = malloc(sizeof(int64_t) * (size_t)t->numel))) return PRISM_ERR_OUT_OF_HOST_MEMORY;
            st = prism_st_read_i64(f, t->name, x->i64, t->numel, e2, sizeof e2);
        } else {
            if (!(x->f32 = malloc(sizeof(float) * (size_t)t->numel))) return PRISM_ERR_OUT_OF_HOST_MEMORY;
            st = prism_st_read_f32(f, t->name, x->f32, t->numel, e2, sizeof e2);
            for (int64_t k = 0; !st && k < t->numel; k++)
                if (!isfinite(x->f32[k]))
                    st = prism_errf(e2, sizeof e2, PRISM_ERR_FORMAT, "element %lld is not finite", (long long)k);
        }
        if (st) return prism_errf(err, len, PRISM_ERR_FORMAT, "%s: tensor '%s': %s", s->source, t->name, e2);
    }
    qsort(s->t, (size_t)s->n, sizeof *s->t, tensor_cmp);
    int ntrain = 0;
    for (int i = 0; i < s->n; i++) ntrain += s->t[i].trainable;
    if (!ntrain) return prism_errf(err, len, PRISM_ERR_FORMAT, "%s: no trainable tensor", s->source);
    return PRISM_OK;
}

prism_status psf_solution_read(const char *dir, psf_solution *out, char *err, size_t len) {
    if (!dir || !out) return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "psf_solution_read: NULL argument");
    memset(out, 0, sizeof *out);
    char *cp = prism_cat3(dir, "/", "adapter_config.json"), *mp = prism_cat3(dir, "/", "adapter_model.safetensors");
    char e2[512];
    prism_st_file *f = NULL;
    prism_adapter_config cfg;
    prism_status st = PRISM_OK;
    if (!cp || !mp || !(out->source = strdup(dir))) {
        st = prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    if ((st = prism_json_read(cp, 0, &out->config, e2, sizeof e2)) || !cJSON_IsObject(out->config) ||
        (st = prism_adapter_config_from_json(out->config, &cfg, e2, sizeof e2))) {
        st = prism_errf(err, len, st ? st : PRISM_ERR_FORMAT, "%s: %s", cp, st ? e2 : "not a JSON object");
        goto done;
    }
    out->method = cfg.method;
    if ((st = prism_st_open(mp, 0, &f, e2, sizeof e2))) {
        st = prism_errf(err, len, st, "%s", e2);
        goto done;
    }
    st = collect(f, out, err, len);
done:
    prism_st_close(f);
    free(cp);
    free(mp);
    if (st) psf_solution_free(out);
    return st;
}

prism_status psf_solution_from_adapters(prism_adapter *const *layers, const char *const *modules, int n,
                                        const char *label, psf_solution *out, char *err, size_t len) {
    if (!layers || !modules || n < 1 || !out)
        return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "psf_solution_from_adapters: bad arguments");
    memset(out, 0, sizeof *out);
    prism_st_writer *w = NULL;
    prism_st_file *f = NULL;
    void *img = NULL;
    size_t nimg = 0;
    prism_status st = prism_st_writer_create(&w);
    out->method = prism_adapter_method(layers[0]);
    out->source = strdup(label ? label : "<adapters>");
    out->config = cJSON_CreateObject();
    if (st || !out->source || !out->config) {
        st = prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    for (int i = 0; i < n && !st; i++) {
        char *prefix = prism_cat3(KEY_PREFIX, modules[i], "");
        if (prism_adapter_method(layers[i]) != out->method) st = PRISM_ERR_INVALID_ARGUMENT;
        else st = prefix ? prism_adapter_save_tensors(layers[i], prefix, w) : PRISM_ERR_OUT_OF_HOST_MEMORY;
        free(prefix);
        if (st) st = prism_errf(err, len, st, "%s: layer %d ('%s'): %s", out->source, i, modules[i],
                                prism_error_message(prism_adapter_context(layers[i])));
    }
    if (!st) st = prism_adapter_config_to_json(prism_adapter_get_config(layers[0]), out->config, err, len);
    if (!st) st = prism_st_writer_serialize(w, &img, &nimg, err, len);
    if (!st) st = prism_st_parse(img, nimg, out->source, &f, err, len);
    if (!st) st = collect(f, out, err, len);
done:
    prism_st_close(f);
    free(img);
    prism_st_writer_destroy(w);
    if (st) psf_solution_free(out);
    return st;
}

/* ------------------------------------------------------------------ directories */

/* The method of dir/adapter_config.json, or -1 (absent, unreadable, not a member). */
static int method_of_dir(const char *dir) {
    char *p = prism_cat3(dir, "/", "adapter_config.json");
    cJSON *root = NULL;
    const char *pt = NULL;
    int m = -1;
    prism_method pm;
    struct stat sb;
    if (p && stat(p, &sb) == 0 && S_ISREG(sb.st_mode) && prism_json_read(p, 0, &root, NULL, 0) == PRISM_OK &&
        cJSON_IsObject(root) && prism_json_get_string(root, "peft_type", NULL, &pt, NULL, 0) == PRISM_OK && pt &&
        prism_method_parse(pt, &pm) == PRISM_OK && names_of(pm))
        m = (int)pm;
    cJSON_Delete(root);
    free(p);
    return m;
}

/* Calls fn(path, method, user) for every candidate adapter directory of a
 * run in a fixed order: the run itself, then each subdirectory (sorted) and
 * its adapter/. */
typedef void (*cand_fn)(const char *path, int method, void *user);
static bool scan(const char *run, cand_fn fn, void *user) {
    struct stat sb;
    if (stat(run, &sb) != 0 || !S_ISDIR(sb.st_mode)) return false;
    fn(run, method_of_dir(run), user);
    struct dirent **list = NULL;
    int n = scandir(run, &list, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        const char *nm = list[i]->d_name;
        if (nm[0] != '.') {
            char *sub = prism_cat3(run, "/", nm), *ad = sub ? prism_cat3(sub, "/", "adapter") : NULL;
            if (sub && stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode)) {
                fn(sub, method_of_dir(sub), user);
                if (ad) fn(ad, method_of_dir(ad), user);
            }
            free(sub);
            free(ad);
        }
        free(list[i]);
    }
    free(list);
    return true;
}

typedef struct find_ctx { int want, hits; char first[2048], second[2048]; } find_ctx;
static void find_cb(const char *path, int method, void *user) {
    find_ctx *c = user;
    if (method != c->want) return;
    snprintf(c->hits ? c->second : c->first, sizeof c->first, "%s", path);
    c->hits++;
}

prism_status psf_find_adapter_dir(const char *run_dir, prism_method m, char *out, size_t out_len, char *err,
                                  size_t len) {
    find_ctx c = {.want = (int)m};
    if (!run_dir || !out)
        return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "psf_find_adapter_dir: NULL argument");
    if (!scan(run_dir, find_cb, &c)) return prism_errf(err, len, PRISM_ERR_IO, "run '%s' is not a directory", run_dir);
    if (c.hits == 0)
        return prism_errf(err, len, PRISM_ERR_FORMAT,
                          "run '%s' has no %s adapter (looked for adapter_config.json in it, its "
                          "subdirectories and their adapter/)", run_dir, prism_method_name(m));
    if (c.hits > 1)
        return prism_errf(err, len, PRISM_ERR_FORMAT,
                          "run '%s' has %d %s adapters ('%s', '%s'): a run holds one solution per method", run_dir,
                          c.hits, prism_method_name(m), c.first, c.second);
    if (strlen(c.first) >= out_len)
        return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "path too long: %s", c.first);
    snprintf(out, out_len, "%s", c.first);
    return PRISM_OK;
}

typedef struct list_ctx { bool seen[PRISM_METHOD_COUNT]; } list_ctx;
static void list_cb(const char *path, int method, void *user) {
    (void)path;
    if (method >= 0 && method < PRISM_METHOD_COUNT) ((list_ctx *)user)->seen[method] = true;
}

int psf_methods_in(const char *dir, prism_method *out, int cap) {
    list_ctx c = {{false}};
    int n = 0;
    if (!dir || !scan(dir, list_cb, &c)) return 0;
    for (int m = 0; m < PRISM_METHOD_COUNT; m++)
        if (c.seen[m] && n < cap) out[n++] = (prism_method)m;
    return n;
}

/* dir/adapter-init when dir ends in "/adapter" and it holds an adapter. */
static bool init_sibling(const char *dir, char *out, size_t out_len) {
    size_t n = strlen(dir);
    struct stat sb;
    if (n < 8 || strcmp(dir + n - 8, "/adapter") != 0 || n + 32 > out_len) return false;
    snprintf(out, out_len, "%s-init/adapter_config.json", dir);
    bool ok = stat(out, &sb) == 0 && S_ISREG(sb.st_mode);
    snprintf(out, out_len, "%s-init", dir);
    return ok;
}

prism_status psf_fit_dirs(const char *const *run_dirs, int nruns, const char *init_dir, const prism_method *methods,
                          int nmethods, const psf_options *o, const char *out_path, psf_report *rep, char *err,
                          size_t len) {
    prism_method ms[PRISM_METHOD_COUNT];
    if (!run_dirs || nruns < 1 || nmethods < 0 || nmethods > PRISM_METHOD_COUNT || (nmethods && !methods))
        return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "psf_fit_dirs: bad arguments (need at least one run)");
    if (nmethods == 0) {
        const char *where = init_dir ? init_dir : run_dirs[0];
        nmethods = psf_methods_in(where, ms, PRISM_METHOD_COUNT);
        if (!nmethods) return prism_errf(err, len, PRISM_ERR_FORMAT, "'%s' holds no adapter of a member method", where);
    } else {
        memcpy(ms, methods, sizeof *ms * (size_t)nmethods);
    }
    /* [0, nm): the init; then runs and their own inits, run-major */
    int total = nmethods * (2 * nruns + 1), own = 0;
    psf_solution *sol = calloc((size_t)total, sizeof *sol), *runs = sol + nmethods, *rinit = runs + nmethods * nruns;
    if (!sol) return prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    prism_status st = PRISM_OK;
    char path[2048], ipath[2100];
    for (int k = 0; k < nruns && !st; k++)
        for (int m = 0; m < nmethods && !st; m++) {
            psf_solution *s = &runs[k * nmethods + m];
            st = psf_find_adapter_dir(run_dirs[k], ms[m], path, sizeof path, err, len);
            if (!st) st = psf_solution_read(path, s, err, len);
            if (!st && s->method != ms[m])
                st = prism_errf(err, len, PRISM_ERR_FORMAT, "%s: expected a %s adapter", path,
                                prism_method_name(ms[m]));
            if (!st && init_sibling(path, ipath, sizeof ipath)) {
                st = psf_solution_read(ipath, &rinit[k * nmethods + m], err, len);
                own++;
            }
            if (!st && !init_dir && !rinit[k * nmethods + m].t)
                st = prism_errf(err, len, PRISM_ERR_FORMAT,
                                "run '%s' has no %s adapter-init/ next to '%s' and no --init "
                                "was given: the fit needs the init every solution started from", run_dirs[k],
                                prism_method_name(ms[m]), path);
        }
    for (int m = 0; m < nmethods && !st; m++) {
        if (init_dir) {
            st = psf_find_adapter_dir(init_dir, ms[m], path, sizeof path, err, len);
            if (!st) st = psf_solution_read(path, &sol[m], err, len);
        } else {
            snprintf(ipath, sizeof ipath, "%s", rinit[m].source);
            st = psf_solution_read(ipath, &sol[m], err, len);
        }
    }
    /* runs without their own init use the common one */
    for (int k = 0; k < nruns && !st && own; k++)
        for (int m = 0; m < nmethods && !st; m++)
            if (!rinit[k * nmethods + m].t) st = psf_solution_read(sol[m].source, &rinit[k * nmethods + m], err, len);
    if (!st)
        st = psf_fit_ex(sol, runs, own ? rinit : NULL, nmethods, nruns, run_dirs, init_dir ? init_dir : sol[0].source,
                        o, out_path, rep, err, len);
    for (int i = 0; i < total; i++) psf_solution_free(&sol[i]);
    free(sol);
    return st;
}
