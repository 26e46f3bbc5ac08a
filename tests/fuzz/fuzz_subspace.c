/* libFuzzer target: the subspace file parser (adapters/subspace_file.c: the
 * safetensors image, its metadata header, each method's layout in canonical
 * order, config, scale, theta0 and decoder), then every query and the host
 * decode on what it accepted. Host only: prism_subspace_parse is the
 * in-memory twin of prism_subspace_open.
 * fuzz-link: adapters */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "prism/subspace.h"


static void check_method(const prism_subspace *sp, prism_method m) {
    char err[512];
    int r = prism_subspace_rank(sp);
    int64_t n = prism_subspace_size(sp, m);
    const prism_subspace_entry *e;
    const char *const *mods;
    int ne = prism_subspace_entries(sp, m, &e), nmod = prism_subspace_modules(sp, m, &mods);
    const float *th0 = prism_subspace_theta0(sp, m), *dec = prism_subspace_decoder(sp, m);
    if (n < 1 || ne < 1 || nmod < 1 || nmod > ne || !e || !mods || !th0 || !dec) abort();
    /* the entries tile [0, n) in strictly increasing (module, name) order */
    int64_t off = 0;
    for (int i = 0; i < ne; i++) {
        int64_t cnt = 1;
        for (int k = 0; k < e[i].ndim; k++) cnt *= e[i].shape[k];
        if (e[i].offset != off || e[i].numel != cnt || cnt < 1) abort();
        if (i) {
            int c = strcmp(e[i - 1].module, e[i].module);
            if (c > 0 || (c == 0 && strcmp(e[i - 1].name, e[i].name) >= 0)) abort();
        }
        off += cnt;
    }
    if (off != n) abort();
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(th0[i])) abort();
    for (int64_t i = 0; i < n * r; i++)
        if (!isfinite(dec[i])) abort();
    prism_adapter_config cfg;
    prism_status st = prism_subspace_member_config(sp, m, &cfg, err, sizeof err);
    if (st != PRISM_OK ? !memchr(err, 0, sizeof err) : cfg.method != m) abort();
    /* decode at z = 1: theta0 + D 1, and a wrong-sized z is refused */
    float *z = malloc(sizeof(float) * (size_t)r), *theta = malloc(sizeof(float) * (size_t)n);
    if (!z || !theta) abort();
    for (int j = 0; j < r; j++) z[j] = 1.0f;
    if (prism_subspace_decode_host(sp, m, z, r, theta, err, sizeof err) != PRISM_OK) abort();
    if (prism_subspace_decode_host(sp, m, z, r + 1, theta, err, sizeof err) != PRISM_ERR_SHAPE) abort();
    free(z);
    free(theta);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[1024];
    prism_subspace *sp = NULL;
    prism_status st = prism_subspace_parse(data, size, "fuzz", &sp, err, sizeof err);
    if (st != PRISM_OK) {
        if (sp || !memchr(err, 0, sizeof err)) abort();
        if (st != PRISM_ERR_FORMAT && st != PRISM_ERR_UNSUPPORTED && st != PRISM_ERR_OUT_OF_HOST_MEMORY) abort();
        return 0;
    }
    int r = prism_subspace_rank(sp), nm = prism_subspace_method_count(sp);
    if (r < 1 || r > PRISM_SUBSPACE_MAX_RANK || nm < 1 || nm > PRISM_METHOD_COUNT) abort();
    if (!prism_subspace_file(sp) || !prism_subspace_meta(sp, "format")) abort();
    for (int i = 0; i < nm; i++) check_method(sp, prism_subspace_method_at(sp, i));
    if (prism_subspace_method_at(sp, nm) != PRISM_METHOD_NONE) abort();
    prism_subspace_close(sp);
    return 0;
}
