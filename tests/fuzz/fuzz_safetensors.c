/* libFuzzer target: safetensors parser, readers, and writer round trip. */
#include <stdlib.h>
#include <string.h>
#include "prism/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    prism_st_file *f = NULL;
    if (prism_st_parse(data, size, "fuzz", &f, err, sizeof err) != PRISM_OK) {
        if (f || !memchr(err, 0, sizeof err)) abort();
        return 0;
    }
    prism_st_writer *w = NULL;
    if (prism_st_writer_create(&w) != PRISM_OK) abort();
    for (size_t i = 0; i < prism_st_count(f); i++) {
        const prism_st_tensor *t = prism_st_tensor_at(f, i);
        if (prism_st_find(f, t->name) != t) abort();
        if (t->offset + t->nbytes > size) abort();
        size_t n = (size_t)t->numel;
        void *buf = malloc(n ? n * 8 : 1);
        if (!buf) abort();
        prism_status sf = prism_st_read_f32(f, t->name, buf, t->numel, err, sizeof err);
        if (sf == PRISM_OK && t->dtype == PRISM_DTYPE_F32 &&
            prism_st_writer_add_f32(w, t->name, t->ndim, t->shape, buf, err, sizeof err) != PRISM_OK)
            abort();
        prism_status si = prism_st_read_i64(f, t->name, buf, t->numel, err, sizeof err);
        if (si == PRISM_OK && t->dtype == PRISM_DTYPE_I64 &&
            prism_st_writer_add_i64(w, t->name, t->ndim, t->shape, buf, err, sizeof err) != PRISM_OK)
            abort();
        if (sf != PRISM_OK && si != PRISM_OK && t->dtype != PRISM_DTYPE_U64 && t->dtype != PRISM_DTYPE_F8_E4M3 &&
            t->dtype != PRISM_DTYPE_F8_E5M2)
            abort(); /* every other dtype converts to one of the two */
        if (prism_st_read_f32(f, t->name, buf, t->numel + 1, err, sizeof err) != PRISM_ERR_SHAPE) abort();
        free(buf);
    }
    for (size_t i = 0; i < prism_st_meta_count(f); i++) {
        const char *k, *v;
        prism_st_meta_at(f, i, &k, &v);
        if (!k || !v || !prism_st_meta_get(f, k)) abort();
        if (prism_st_writer_set_meta(w, k, v, err, sizeof err) != PRISM_OK) abort();
    }
    /* What the writer produces from a valid file must parse again. */
    void *out;
    size_t n;
    if (prism_st_writer_serialize(w, &out, &n, err, sizeof err) != PRISM_OK) abort();
    prism_st_file *g = NULL;
    if (prism_st_parse(out, n, "rewritten", &g, err, sizeof err) != PRISM_OK) abort();
    if (prism_st_meta_count(g) != prism_st_meta_count(f)) abort();
    prism_st_close(g);
    free(out);
    prism_st_writer_destroy(w);
    prism_st_close(f);
    return 0;
}
