/* The subspace file (include/prism/subspace.h, docs/subspace.md): writing
 * it (what the fit produces), opening it as hostile input, host decode, and
 * exporting a decoded solution as an ordinary adapter directory (transfer).
 * The device-side model is in subspace_model.c, the adapter in subspace.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/io_util.h"
#include "subspace_priv.h"

#define KEY_PREFIX "base_model.model."
#define MAX_ELEMS ((int64_t)1 << 40)

bool prism_ss_member_ok(prism_method m) {
    return m == PRISM_METHOD_LORA || m == PRISM_METHOD_ETHER || m == PRISM_METHOD_ETHER_PLUS ||
           m == PRISM_METHOD_HUT || m == PRISM_METHOD_SDCTFT || m == PRISM_METHOD_FOURIERFT;
}

char *prism_ss_frozen_key(prism_method m, const char *module, const char *name) {
    char head[64];
    snprintf(head, sizeof head, "%s.frozen.", prism_method_name(m));
    char *a = prism_cat3(head, module, "."), *k = a ? prism_cat3(a, name, "") : NULL;
    free(a);
    return k;
}

static int entry_cmp(const prism_subspace_entry *a, const prism_subspace_entry *b) {
    int c = strcmp(a->module, b->module);
    return c ? c : strcmp(a->name, b->name);
}

/* ------------------------------------------------------------------ write */

static prism_status check_desc(const prism_subspace_desc *d, char *err, size_t len) {
    if (!d) return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "subspace_write: description is NULL");
    if (d->rank < 1 || d->rank > PRISM_SUBSPACE_MAX_RANK)
        return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "subspace_write: rank %d outside [1, %d]", d->rank,
                          PRISM_SUBSPACE_MAX_RANK);
    if (d->nmethods < 1 || !d->methods)
        return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "subspace_write: no methods");
    if (d->nsigma < 0 || (d->nsigma && !d->sigma) || d->nruns < 0 || (d->nruns && (!d->coords || !d->runs)))
        return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "subspace_write: sigma / coords / runs inconsistent");
    for (int i = 0; i < d->nmethods; i++) {
        const prism_subspace_method_data *md = &d->methods[i];
        const char *mn = prism_method_name(md->method);
        if (!prism_ss_member_ok(md->method))
            return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT,
                              "subspace_write: method %s cannot be a subspace member", mn);
        for (int j = 0; j < i; j++)
            if (d->methods[j].method == md->method)
                return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "subspace_write: method %s given twice", mn);
        if (md->nentries < 1 || !md->entries || !md->theta0 || !md->decoder || !cJSON_IsObject(md->config) ||
            (md->nfrozen && !md->frozen) || !(md->scale > 0) || !isfinite(md->scale))
            return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "subspace_write (%s): missing data or bad scale",
                              mn);
        int64_t off = 0;
        for (int e = 0; e < md->nentries; e++) {
            const prism_subspace_entry *en = &md->entries[e];
            int64_t cnt = 1;
            for (int k = 0; en->ndim >= 1 && en->ndim <= PRISM_MAX_DIMS && k < en->ndim; k++)
                cnt = en->shape[k] >= 1 && cnt <= MAX_ELEMS / en->shape[k] ? cnt * en->shape[k] : -1;
            if (!en->module || !*en->module || !en->name || !*en->name || en->ndim < 1 || en->ndim > PRISM_MAX_DIMS ||
                cnt < 1 || cnt != en->numel || en->offset != off || (e && entry_cmp(&md->entries[e - 1], en) >= 0))
                return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT,
                                  "subspace_write (%s): entry %d: bad name, shape or offset, or not in canonical order",
                                  mn, e);
            off += cnt;
            if (off > MAX_ELEMS) return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT,
                                                   "subspace_write (%s): too large", mn);
        }
        for (int64_t k = 0; k < off; k++)
            if (!isfinite(md->theta0[k]))
                return prism_errf(err, len, PRISM_ERR_NOT_FINITE, "subspace_write (%s): theta0[%lld] is not finite", mn,
                                  (long long)k);
        for (int64_t k = 0; k < off * d->rank; k++)
            if (!isfinite(md->decoder[k]))
                return prism_errf(err, len, PRISM_ERR_NOT_FINITE, "subspace_write (%s): decoder[%lld] is not finite",
                                  mn, (long long)k);
    }
    return PRISM_OK;
}

/* "[[module, name, [shape], offset], ...]" */
static char *layout_json(const prism_subspace_method_data *md) {
    cJSON *arr = cJSON_CreateArray();
    for (int e = 0; arr && e < md->nentries; e++) {
        const prism_subspace_entry *en = &md->entries[e];
        cJSON *it = cJSON_CreateArray(), *sh = cJSON_CreateArray();
        for (int k = 0; sh && k < en->ndim; k++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)en->shape[k]));
        if (!it || !sh) {
            cJSON_Delete(it);
            cJSON_Delete(sh);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddItemToArray(it, cJSON_CreateString(en->module));
        cJSON_AddItemToArray(it, cJSON_CreateString(en->name));
        cJSON_AddItemToArray(it, sh);
        cJSON_AddItemToArray(it, cJSON_CreateNumber((double)en->offset));
        cJSON_AddItemToArray(arr, it);
    }
    char *s = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return s;
}

static prism_status meta_json(prism_st_writer *w, const char *key, cJSON *item, char *err, size_t len) {
    char *s = item ? cJSON_PrintUnformatted(item) : NULL;
    cJSON_Delete(item);
    if (!s) return prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "subspace_write: out of host memory");
    prism_status st = prism_st_writer_set_meta(w, key, s, err, len);
    cJSON_free(s);
    return st;
}

prism_status prism_subspace_write(const char *path, const prism_subspace_desc *d, char *err, size_t len) {
    prism_status st = check_desc(d, err, len);
    if (st) return st;
    if (!path || !*path) return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT,
                                           "subspace_write: path is NULL or empty");
    prism_st_writer *w = NULL;
    char key[512], num[64];
    if (prism_st_writer_create(&w)) return prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY,
                                                      "subspace_write: out of memory");
    cJSON *names = cJSON_CreateArray(), *runs = cJSON_CreateArray();
    for (int i = 0; names && i < d->nmethods; i++)
        cJSON_AddItemToArray(names, cJSON_CreateString(prism_method_name(d->methods[i].method)));
    for (int i = 0; runs && i < d->nruns; i++)
        cJSON_AddItemToArray(runs, cJSON_CreateString(d->runs[i] ? d->runs[i] : ""));
    snprintf(num, sizeof num, "%d", d->rank);
    PRISM_TRY(prism_st_writer_set_meta(w, "format", PRISM_SUBSPACE_FORMAT, err, len));
    PRISM_TRY(prism_st_writer_set_meta(w, "version", "1", err, len));
    PRISM_TRY(prism_st_writer_set_meta(w, "rank", num, err, len));
    PRISM_TRY(meta_json(w, "methods", names, err, len));
    names = NULL;
    PRISM_TRY(meta_json(w, "runs", runs, err, len));
    runs = NULL;
    PRISM_TRY(prism_st_writer_set_meta(w, "init", d->init ? d->init : "", err, len));
    PRISM_TRY(prism_st_writer_set_meta(w, "normalize", d->normalize ? d->normalize : "none", err, len));
    for (int i = 0; i < d->nmethods; i++) {
        const prism_subspace_method_data *md = &d->methods[i];
        const char *mn = prism_method_name(md->method);
        int64_t n = md->entries[md->nentries - 1].offset + md->entries[md->nentries - 1].numel, sd[2] = {n, d->rank};
        cJSON *cfg = cJSON_Duplicate(md->config, 1);
        if (cfg) cJSON_DeleteItemFromObjectCaseSensitive(cfg, "target_modules");
        snprintf(key, sizeof key, "config.%s", mn);
        PRISM_TRY(meta_json(w, key, cfg, err, len));
        char *lay = layout_json(md);
        snprintf(key, sizeof key, "layout.%s", mn);
        st = lay ? prism_st_writer_set_meta(w, key, lay, err, len)
                 : prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "subspace_write: out of host memory");
        cJSON_free(lay);
        if (st) goto cleanup;
        snprintf(key, sizeof key, "scale.%s", mn);
        snprintf(num, sizeof num, "%.17g", md->scale);
        PRISM_TRY(prism_st_writer_set_meta(w, key, num, err, len));
        snprintf(key, sizeof key, "%s.theta0", mn);
        PRISM_TRY(prism_st_writer_add_f32(w, key, 1, &n, md->theta0, err, len));
        snprintf(key, sizeof key, "%s.decoder", mn);
        PRISM_TRY(prism_st_writer_add_f32(w, key, 2, sd, md->decoder, err, len));
        for (int k = 0; k < md->nfrozen; k++) {
            const prism_subspace_frozen *fz = &md->frozen[k];
            char *fk = fz->module && fz->name ? prism_ss_frozen_key(md->method, fz->module, fz->name) : NULL;
            if (!fk || (!fz->i64 == !fz->f32)) {
                free(fk);
                st = prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT,
                                "subspace_write (%s): frozen tensor %d is malformed", mn, k);
                goto cleanup;
            }
            st = fz->i64 ? prism_st_writer_add_i64(w, fk, fz->ndim, fz->shape, fz->i64, err, len)
                         : prism_st_writer_add_f32(w, fk, fz->ndim, fz->shape, fz->f32, err, len);
            free(fk);
            if (st) goto cleanup;
        }
    }
    if (d->nsigma) {
        int64_t ns = d->nsigma;
        PRISM_TRY(prism_st_writer_add_f32(w, "sigma", 1, &ns, d->sigma, err, len));
    }
    if (d->nruns) {
        int64_t sc[2] = {d->nruns, d->rank};
        PRISM_TRY(prism_st_writer_add_f32(w, "coords", 2, sc, d->coords, err, len));
    }
    st = prism_st_writer_write(w, path, err, len);
cleanup:
    cJSON_Delete(names);
    cJSON_Delete(runs);
    prism_st_writer_destroy(w);
    return st;
}

/* ------------------------------------------------------------------ open */

static void method_free(ss_method *m) {
    for (int e = 0; m->entries && e < m->nentries; e++) {
        free((char *)m->entries[e].module);
        free((char *)m->entries[e].name);
    }
    free(m->entries);
    free(m->modules);
    free(m->theta0);
    free(m->decoder);
    cJSON_Delete(m->config);
}

void prism_subspace_close(prism_subspace *sp) {
    if (!sp) return;
    for (int i = 0; sp->methods && i < sp->nmethods; i++) method_free(&sp->methods[i]);
    free(sp->methods);
    prism_st_close(sp->f);
    free(sp);
}

static prism_status parse_layout(const char *text, ss_method *m, char *err, size_t len) {
    const char *mn = prism_method_name(m->m);
    cJSON *arr = NULL;
    char jerr[256];
    prism_status st = prism_json_parse(text, strlen(text), "layout", &arr, jerr, sizeof jerr);
    if (st) return prism_errf(err, len, PRISM_ERR_FORMAT, "layout.%s: %s", mn, jerr);
    int n = cJSON_GetArraySize(arr);
    if (!cJSON_IsArray(arr) || n < 1) {
        cJSON_Delete(arr);
        return prism_errf(err, len, PRISM_ERR_FORMAT, "layout.%s is not a non-empty JSON list", mn);
    }
    m->entries = calloc((size_t)n, sizeof *m->entries);
    m->modules = calloc((size_t)n, sizeof *m->modules);
    if (!m->entries || !m->modules) {
        cJSON_Delete(arr);
        return prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    int64_t off = 0;
    for (int e = 0; e < n; e++) {
        const cJSON *it = cJSON_GetArrayItem(arr, e), *mo = cJSON_GetArrayItem(it, 0), *na = cJSON_GetArrayItem(it, 1),
                    *sh = cJSON_GetArrayItem(it, 2), *of = cJSON_GetArrayItem(it, 3);
        prism_subspace_entry *en = &m->entries[e];
        int nd = cJSON_GetArraySize(sh);
        bool ok = cJSON_IsArray(it) && cJSON_GetArraySize(it) == 4 && cJSON_IsString(mo) && *mo->valuestring &&
                  cJSON_IsString(na) && *na->valuestring && cJSON_IsArray(sh) && nd >= 1 && nd <= PRISM_MAX_DIMS &&
                  cJSON_IsNumber(of) && of->valuedouble == (double)off;
        int64_t cnt = 1;
        for (int k = 0; ok && k < nd; k++) {
            const cJSON *v = cJSON_GetArrayItem(sh, k);
            double dv = cJSON_IsNumber(v) ? v->valuedouble : -1;
            ok = dv >= 1 && dv <= (double)MAX_ELEMS && dv == floor(dv) && cnt <= MAX_ELEMS / (int64_t)dv;
            if (ok) cnt *= (int64_t)dv, en->shape[k] = (int64_t)dv;
        }
        if (ok) {
            en->module = strdup(mo->valuestring);
            en->name = strdup(na->valuestring);
            m->nentries = e + 1;
            if (!en->module || !en->name) {
                cJSON_Delete(arr);
                return prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
            }
            en->ndim = nd, en->numel = cnt, en->offset = off;
            ok = !(e && entry_cmp(&m->entries[e - 1], en) >= 0) && off + cnt <= MAX_ELEMS;
        }
        if (!ok) {
            cJSON_Delete(arr);
            return prism_errf(err, len, PRISM_ERR_FORMAT,
                              "layout.%s entry %d is not [module, name, [shape], offset] with offset %lld in canonical "
                              "(module, name) order", mn, e, (long long)off);
        }
        off += cnt;
        if (!m->nmodules || strcmp(m->modules[m->nmodules - 1], en->module)) m->modules[m->nmodules++] = en->module;
    }
    cJSON_Delete(arr);
    m->n = off;
    return PRISM_OK;
}

/* Reads F32-convertible tensor key of the given shape into a new array. */
static prism_status read_vec(const prism_st_file *f, const char *key, int ndim, const int64_t *shape, float **out,
                             char *err, size_t len) {
    const prism_st_tensor *t = prism_st_find(f, key);
    if (!t) return prism_errf(err, len, PRISM_ERR_FORMAT, "no tensor '%s'", key);
    bool ok = t->ndim == ndim;
    for (int k = 0; ok && k < ndim; k++) ok = t->shape[k] == shape[k];
    if (!ok)
        return prism_errf(err, len, PRISM_ERR_FORMAT, "tensor '%s' has %d dims / the wrong shape (expected %lld%s%lld)",
                          key, t->ndim, (long long)shape[0], ndim > 1 ? " x " : "",
                          ndim > 1 ? (long long)shape[1] : 0LL);
    float *v = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
    if (!v) return prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "out of host memory for '%s'", key);
    char e2[256];
    prism_status st = prism_st_read_f32(f, key, v, t->numel, e2, sizeof e2);
    for (int64_t i = 0; !st && i < t->numel; i++)
        if (!isfinite(v[i])) st = prism_errf(e2, sizeof e2, PRISM_ERR_FORMAT, "element %lld is not finite",
                                             (long long)i);
    if (st) {
        free(v);
        return prism_errf(err, len, PRISM_ERR_FORMAT, "tensor '%s': %s", key, e2);
    }
    *out = v;
    return PRISM_OK;
}

static prism_status open_method(prism_subspace *sp, const char *name, ss_method *m, char *err, size_t len) {
    char key[128], e2[384];
    if (prism_method_parse(name, &m->m) != PRISM_OK || !prism_ss_member_ok(m->m))
        return prism_errf(err, len, PRISM_ERR_FORMAT, "method \"%s\" is not a subspace member", name);
    const char *mn = prism_method_name(m->m);
    snprintf(key, sizeof key, "layout.%s", mn);
    const char *lay = prism_st_meta_get(sp->f, key), *cfg;
    if (!lay) return prism_errf(err, len, PRISM_ERR_FORMAT, "no metadata '%s'", key);
    prism_status st = parse_layout(lay, m, err, len);
    if (st) return st;
    snprintf(key, sizeof key, "config.%s", mn);
    if (!(cfg = prism_st_meta_get(sp->f, key))) return prism_errf(err, len, PRISM_ERR_FORMAT, "no metadata '%s'", key);
    if ((st = prism_json_parse(cfg, strlen(cfg), key, &m->config, e2, sizeof e2)) || !cJSON_IsObject(m->config))
        return prism_errf(err, len, PRISM_ERR_FORMAT, "%s: %s", key, st ? e2 : "not a JSON object");
    prism_adapter_config c;
    if ((st = prism_adapter_config_from_json(m->config, &c, e2, sizeof e2)))
        return prism_errf(err, len, st == PRISM_ERR_UNSUPPORTED ? st : PRISM_ERR_FORMAT, "%s: %s", key, e2);
    if (c.method != m->m) return prism_errf(err, len, PRISM_ERR_FORMAT, "%s describes method %s", key,
                                            prism_method_name(c.method));
    snprintf(key, sizeof key, "scale.%s", mn);
    const char *sc = prism_st_meta_get(sp->f, key);
    char *end = NULL;
    m->scale = sc ? strtod(sc, &end) : 1.0;
    if (sc && (!*sc || *end || !(m->scale > 0) || !isfinite(m->scale)))
        return prism_errf(err, len, PRISM_ERR_FORMAT, "%s = \"%s\" is not a positive number", key, sc);
    int64_t sd[2] = {m->n, sp->r};
    snprintf(key, sizeof key, "%s.theta0", mn);
    if ((st = read_vec(sp->f, key, 1, &m->n, &m->theta0, err, len))) return st;
    snprintf(key, sizeof key, "%s.decoder", mn);
    return read_vec(sp->f, key, 2, sd, &m->decoder, err, len);
}

/* Checks sp->f (already parsed as safetensors) as a subspace file and reads
 * every method; the message goes to e2. */
static prism_status load(prism_subspace *sp, char *e2, size_t e2_len) {
    prism_status st = PRISM_OK;
    cJSON *names = NULL;
    const char *fmt = prism_st_meta_get(sp->f, "format"), *ver = prism_st_meta_get(sp->f, "version"),
               *rk = prism_st_meta_get(sp->f, "rank"), *ms = prism_st_meta_get(sp->f, "methods");
    if (!fmt || strcmp(fmt, PRISM_SUBSPACE_FORMAT) || !ver || strcmp(ver, "1")) {
        st = prism_errf(e2, e2_len, PRISM_ERR_FORMAT,
                        "not a prism subspace file (metadata format \"%s\" version \"%s\", expected \"%s\" \"1\")",
                        fmt ? fmt : "", ver ? ver : "", PRISM_SUBSPACE_FORMAT);
        goto fail;
    }
    char *end = NULL;
    long r = rk ? strtol(rk, &end, 10) : 0;
    if (!rk || !*rk || *end || r < 1 || r > PRISM_SUBSPACE_MAX_RANK) {
        st = prism_errf(e2, e2_len, PRISM_ERR_FORMAT, "rank \"%s\" is not an integer in [1, %d]", rk ? rk : "",
                        PRISM_SUBSPACE_MAX_RANK);
        goto fail;
    }
    sp->r = (int)r;
    if (!ms || prism_json_parse(ms, strlen(ms), "methods", &names, e2, e2_len) || !cJSON_IsArray(names) ||
        cJSON_GetArraySize(names) < 1 || cJSON_GetArraySize(names) > PRISM_METHOD_COUNT) {
        st = prism_errf(e2, e2_len, PRISM_ERR_FORMAT, "metadata 'methods' is not a JSON list of 1..%d method names",
                        PRISM_METHOD_COUNT);
        goto fail;
    }
    int nm = cJSON_GetArraySize(names);
    if (!(sp->methods = calloc((size_t)nm, sizeof *sp->methods))) {
        st = prism_errf(e2, e2_len, PRISM_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto fail;
    }
    for (int i = 0; i < nm; i++) {
        const cJSON *it = cJSON_GetArrayItem(names, i);
        sp->nmethods = i + 1;
        if (!cJSON_IsString(it)) {
            st = prism_errf(e2, e2_len, PRISM_ERR_FORMAT, "metadata 'methods'[%d] is not a string", i);
            goto fail;
        }
        if ((st = open_method(sp, it->valuestring, &sp->methods[i], e2, e2_len))) goto fail;
        for (int j = 0; j < i; j++)
            if (sp->methods[j].m == sp->methods[i].m) {
                st = prism_errf(e2, e2_len, PRISM_ERR_FORMAT, "method %s is listed twice", it->valuestring);
                goto fail;
            }
    }
    const prism_st_tensor *sg = prism_st_find(sp->f, "sigma"), *co = prism_st_find(sp->f, "coords");
    if ((sg && sg->ndim != 1) || (co && (co->ndim != 2 || co->shape[1] != sp->r))) {
        st = prism_errf(e2, e2_len, PRISM_ERR_FORMAT, "'sigma' must be 1-D and 'coords' [K, %d]", sp->r);
        goto fail;
    }
fail:
    cJSON_Delete(names);
    return st;
}

/* The file at label (mem NULL) or the image mem[0..n) named label. */
static prism_status open_any(const char *label, const void *mem, size_t n, prism_subspace **out, char *err,
                             size_t len) {
    char e2[768];
    prism_status st;
    prism_subspace *sp = calloc(1, sizeof *sp);
    if (!sp) return prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "subspace_open: out of host memory");
    st = mem ? prism_st_parse(mem, n, label, &sp->f, e2, sizeof e2) : prism_st_open(label, 0, &sp->f, e2, sizeof e2);
    if (!st) st = load(sp, e2, sizeof e2);
    if (st) {
        prism_subspace_close(sp);
        return prism_errf(err, len, st, "subspace file '%s': %s", label, e2);
    }
    *out = sp;
    return PRISM_OK;
}

prism_status prism_subspace_open(const char *path, prism_subspace **out, char *err, size_t len) {
    if (out) *out = NULL;
    if (!path || !out) return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "subspace_open: path or out is NULL");
    return open_any(path, NULL, 0, out, err, len);
}

/* The same from a file image in memory (also the parser fuzzer's entry point). */
prism_status prism_subspace_parse(const void *data, size_t n, const char *label, prism_subspace **out, char *err,
                                  size_t len) {
    static const char empty[1] = {0};
    if (out) *out = NULL;
    if (!out || (!data && n)) return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "subspace_parse: NULL argument");
    return open_any(label ? label : "<memory>", data ? data : empty, n, out, err, len);
}

/* ------------------------------------------------------------------ queries */

const ss_method *prism_ss_method(const prism_subspace *sp, prism_method m) {
    for (int i = 0; sp && i < sp->nmethods; i++)
        if (sp->methods[i].m == m) return &sp->methods[i];
    return NULL;
}

int prism_subspace_rank(const prism_subspace *sp) { return sp ? sp->r : 0; }
int prism_subspace_method_count(const prism_subspace *sp) { return sp ? sp->nmethods : 0; }
prism_method prism_subspace_method_at(const prism_subspace *sp, int i) {
    return sp && i >= 0 && i < sp->nmethods ? sp->methods[i].m : PRISM_METHOD_NONE;
}
int64_t prism_subspace_size(const prism_subspace *sp, prism_method m) {
    const ss_method *x = prism_ss_method(sp, m);
    return x ? x->n : 0;
}
int prism_subspace_entries(const prism_subspace *sp, prism_method m, const prism_subspace_entry **list) {
    const ss_method *x = prism_ss_method(sp, m);
    if (list) *list = x ? x->entries : NULL;
    return x ? x->nentries : 0;
}
int prism_subspace_modules(const prism_subspace *sp, prism_method m, const char *const **list) {
    const ss_method *x = prism_ss_method(sp, m);
    if (list) *list = x ? x->modules : NULL;
    return x ? x->nmodules : 0;
}
const char *prism_subspace_meta(const prism_subspace *sp, const char *key) {
    return sp && key ? prism_st_meta_get(sp->f, key) : NULL;
}
const prism_st_file *prism_subspace_file(const prism_subspace *sp) { return sp ? sp->f : NULL; }
const float *prism_subspace_theta0(const prism_subspace *sp, prism_method m) {
    const ss_method *x = prism_ss_method(sp, m);
    return x ? x->theta0 : NULL;
}
const float *prism_subspace_decoder(const prism_subspace *sp, prism_method m) {
    const ss_method *x = prism_ss_method(sp, m);
    return x ? x->decoder : NULL;
}

prism_status prism_subspace_member_config(const prism_subspace *sp, prism_method m, prism_adapter_config *cfg,
                                          char *err, size_t len) {
    const ss_method *x = prism_ss_method(sp, m);
    if (!cfg) return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "subspace_member_config: cfg is NULL");
    if (!x) return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "the subspace has no method %s",
                              prism_method_name(m));
    return prism_adapter_config_from_json(x->config, cfg, err, len);
}

/* ------------------------------------------------------------------ host decode and export */

prism_status prism_subspace_decode_host(const prism_subspace *sp, prism_method m, const float *z, int64_t nz,
                                        float *theta, char *err, size_t len) {
    const ss_method *x = prism_ss_method(sp, m);
    if (!x) return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "subspace_decode_host: no method %s",
                              prism_method_name(m));
    if (!z || !theta) return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT,
                                        "subspace_decode_host: z or theta is NULL");
    if (nz != sp->r)
        return prism_errf(err, len, PRISM_ERR_SHAPE, "subspace_decode_host: z has %lld elements, the rank is %d",
                          (long long)nz, sp->r);
    for (int64_t j = 0; j < nz; j++)
        if (!isfinite(z[j])) return prism_errf(err, len, PRISM_ERR_NOT_FINITE,
                                               "subspace_decode_host: z[%lld] is not finite", (long long)j);
    for (int64_t i = 0; i < x->n; i++) {
        double acc = x->theta0[i];
        for (int j = 0; j < sp->r; j++) acc += (double)x->decoder[i * sp->r + j] * z[j];
        theta[i] = (float)acc;
    }
    return PRISM_OK;
}

/* Copies the method's frozen tensors ("<m>.frozen.<rest>") as
 * "base_model.model.<rest>". */
static prism_status export_frozen(const prism_subspace *sp, prism_method m, prism_st_writer *w, char *err, size_t len) {
    char head[64];
    snprintf(head, sizeof head, "%s.frozen.", prism_method_name(m));
    size_t hl = strlen(head);
    prism_status st = PRISM_OK;
    for (size_t i = 0; !st && i < prism_st_count(sp->f); i++) {
        const prism_st_tensor *t = prism_st_tensor_at(sp->f, i);
        if (strncmp(t->name, head, hl) != 0) continue;
        char *key = prism_cat3(KEY_PREFIX, t->name + hl, "");
        int64_t *iv = NULL;
        float *fv = NULL;
        bool isint = t->dtype == PRISM_DTYPE_I64 || t->dtype == PRISM_DTYPE_I32;
        if (isint) iv = malloc(sizeof *iv * (size_t)(t->numel ? t->numel : 1));
        else fv = malloc(sizeof *fv * (size_t)(t->numel ? t->numel : 1));
        if (!key || (!iv && !fv)) st = prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
        else if (isint && !(st = prism_st_read_i64(sp->f, t->name, iv, t->numel, err, len)))
            st = prism_st_writer_add_i64(w, key, t->ndim, t->shape, iv, err, len);
        else if (!isint && !(st = prism_st_read_f32(sp->f, t->name, fv, t->numel, err, len)))
            st = prism_st_writer_add_f32(w, key, t->ndim, t->shape, fv, err, len);
        free(key);
        free(iv);
        free(fv);
    }
    return st;
}

prism_status prism_subspace_export(const prism_subspace *sp, prism_method m, const float *z, int64_t nz,
                                   const char *dir, char *err, size_t len) {
    const ss_method *x = prism_ss_method(sp, m);
    if (!x) return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "subspace_export: no method %s",
                              prism_method_name(m));
    if (!dir || !*dir) return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "subspace_export: dir is NULL or empty");
    float *theta = malloc(sizeof(float) * (size_t)x->n);
    prism_st_writer *w = NULL;
    cJSON *cfg = NULL, *mods = NULL;
    char *p1 = NULL, *p2 = NULL;
    prism_status st;
    if (!theta) return prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "subspace_export: out of host memory");
    PRISM_TRY(prism_subspace_decode_host(sp, m, z, nz, theta, err, len));
    if (prism_st_writer_create(&w)) {
        st = prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "subspace_export: out of host memory");
        goto cleanup;
    }
    for (int e = 0; e < x->nentries; e++) {
        const prism_subspace_entry *en = &x->entries[e];
        char *a = prism_cat3(KEY_PREFIX, en->module, "."), *key = a ? prism_cat3(a, en->name, "") : NULL;
        free(a);
        st = key ? prism_st_writer_add_f32(w, key, en->ndim, en->shape, theta + en->offset, err, len)
                 : prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
        free(key);
        if (st) goto cleanup;
    }
    PRISM_TRY(export_frozen(sp, m, w, err, len));
    PRISM_TRY(prism_st_writer_set_meta(w, "format", "pt", err, len));
    cfg = cJSON_Duplicate(x->config, 1);
    mods = cJSON_CreateArray();
    for (int i = 0; mods && i < x->nmodules; i++) cJSON_AddItemToArray(mods, cJSON_CreateString(x->modules[i]));
    if (!cfg || !mods) {
        st = prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "subspace_export: out of host memory");
        goto cleanup;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "target_modules");
    cJSON_AddItemToObject(cfg, "target_modules", mods);
    mods = NULL;
    PRISM_TRY(prism_mkdirs(dir, err, len));
    p1 = prism_cat3(dir, "/", "adapter_model.safetensors");
    p2 = prism_cat3(dir, "/", "adapter_config.json");
    if (!p1 || !p2) {
        st = prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "subspace_export: out of host memory");
        goto cleanup;
    }
    PRISM_TRY(prism_st_writer_write(w, p1, err, len));
    st = prism_json_write(p2, cfg, err, len);
cleanup:
    free(theta);
    free(p1);
    free(p2);
    cJSON_Delete(cfg);
    cJSON_Delete(mods);
    prism_st_writer_destroy(w);
    return st;
}
