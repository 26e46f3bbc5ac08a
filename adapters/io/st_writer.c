/* safetensors writer: F32 and I64 tensors plus string metadata, written
 * atomically in HF's layout (see prism/io.h). */
#include <stdlib.h>
#include "io_internal.h"

typedef struct wt {
    char *name;
    prism_dtype dtype;
    int ndim;
    int64_t shape[PRISM_IO_MAX_DIMS];
    unsigned char *data; /* little-endian bytes */
    size_t nbytes;
} wt;

typedef struct wmeta { char *key, *value; } wmeta;

struct prism_st_writer {
    wt *t;
    size_t n, cap;
    wmeta *meta;
    size_t nmeta, capmeta;
};

#define WL "<safetensors writer>"

prism_status prism_st_writer_create(prism_st_writer **out) {
    if (!out) return PRISM_ERR_INVALID_ARGUMENT;
    *out = calloc(1, sizeof **out);
    return *out ? PRISM_OK : PRISM_ERR_OUT_OF_HOST_MEMORY;
}

void prism_st_writer_destroy(prism_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    for (size_t i = 0; i < w->nmeta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->t);
    free(w->meta);
    free(w);
}

static int valid_str(const char *s) { return s && io_utf8_valid((const unsigned char *)s, strlen(s)); }

static prism_status add(prism_st_writer *w, const char *name, prism_dtype dt, int ndim, const int64_t *shape,
                        const void *data, char *err, size_t err_len) {
    if (!w || !name || !*name || (ndim > 0 && !shape))
        return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, WL, "NULL writer, name or shape, or empty name");
    if (!valid_str(name) || strcmp(name, "__metadata__") == 0)
        return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, WL, "invalid tensor name '%.128s'", name);
    if (ndim < 0 || ndim > PRISM_IO_MAX_DIMS)
        return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, WL, "tensor '%.128s': ndim %d outside 0..%d", name,
                       ndim, PRISM_IO_MAX_DIMS);
    uint64_t numel = 1, nbytes;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || !io_mul_u64(numel, (uint64_t)shape[d], &numel) || numel > (uint64_t)INT64_MAX)
            return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, WL, "tensor '%.128s': bad shape", name);
    }
    if (!io_mul_u64(numel, prism_dtype_size(dt), &nbytes) || nbytes > SIZE_MAX / 2)
        return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, WL, "tensor '%.128s': too large", name);
    if (nbytes && !data) return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, WL, "tensor '%.128s': NULL data", name);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, WL, "duplicate tensor name '%.128s'", name);
    wt *t = prism_grow(w->t, &w->cap, w->n, sizeof *t);
    if (!t) return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, WL, "out of memory");
    w->t = t;
    t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->data = malloc(nbytes ? (size_t)nbytes : 1);
    if (!t->name || !t->data) {
        free(t->name);
        free(t->data);
        return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, WL, "out of memory");
    }
    t->dtype = dt;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->nbytes = (size_t)nbytes;
    if (io_host_le()) {
        if (nbytes) memcpy(t->data, data, (size_t)nbytes);
    } else {
        for (uint64_t i = 0; i < numel; i++) {
            if (dt == PRISM_DTYPE_F32) {
                uint32_t u;
                memcpy(&u, (const unsigned char *)data + 4 * i, 4);
                io_put_le32(t->data + 4 * i, u);
            } else {
                uint64_t u;
                memcpy(&u, (const unsigned char *)data + 8 * i, 8);
                io_put_le64(t->data + 8 * i, u);
            }
        }
    }
    w->n++;
    return PRISM_OK;
}

prism_status prism_st_writer_add_f32(prism_st_writer *w, const char *name, int ndim, const int64_t *shape,
                                     const float *data, char *err, size_t err_len) {
    return add(w, name, PRISM_DTYPE_F32, ndim, shape, data, err, err_len);
}

prism_status prism_st_writer_add_i64(prism_st_writer *w, const char *name, int ndim, const int64_t *shape,
                                     const int64_t *data, char *err, size_t err_len) {
    return add(w, name, PRISM_DTYPE_I64, ndim, shape, data, err, err_len);
}

prism_status prism_st_writer_set_meta(prism_st_writer *w, const char *key, const char *value, char *err,
                                      size_t err_len) {
    if (!w || !valid_str(key) || !valid_str(value))
        return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, WL, "NULL writer or invalid metadata key/value");
    char *v = strdup(value);
    if (!v) return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, WL, "out of memory");
    for (size_t i = 0; i < w->nmeta; i++)
        if (strcmp(w->meta[i].key, key) == 0) {
            free(w->meta[i].value);
            w->meta[i].value = v;
            return PRISM_OK;
        }
    wmeta *m = prism_grow(w->meta, &w->capmeta, w->nmeta, sizeof *m);
    if (!m) {
        free(v);
        return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, WL, "out of memory");
    }
    w->meta = m;
    char *k = strdup(key);
    if (!k) {
        free(v);
        return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, WL, "out of memory");
    }
    w->meta[w->nmeta].key = k;
    w->meta[w->nmeta++].value = v;
    return PRISM_OK;
}

/* ------------------------------------------------------------ header */

typedef struct sbuf { char *p; size_t n, cap; int oom; } sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_json(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            sb_put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)&c, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static int cmp_wt(const void *a, const void *b) {
    const wt *x = *(const wt *const *)a, *y = *(const wt *const *)b;
    size_t sx = prism_dtype_size(x->dtype), sy = prism_dtype_size(y->dtype);
    if (sx != sy) return sx > sy ? -1 : 1; /* larger elements first keeps every tensor aligned */
    return strcmp(x->name, y->name);
}
static int cmp_wm(const void *a, const void *b) {
    return strcmp((*(const wmeta *const *)a)->key, (*(const wmeta *const *)b)->key);
}

/* Header (with its 8-byte length prefix) and the tensor order. */
static prism_status build(const prism_st_writer *w, sbuf *b, const wt ***order, char *err, size_t err_len) {
    const wt **o = malloc((w->n ? w->n : 1) * sizeof *o);
    const wmeta **m = malloc((w->nmeta ? w->nmeta : 1) * sizeof *m);
    if (!o || !m) {
        free(o);
        free(m);
        return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, WL, "out of memory");
    }
    for (size_t i = 0; i < w->n; i++) o[i] = &w->t[i];
    for (size_t i = 0; i < w->nmeta; i++) m[i] = &w->meta[i];
    qsort(o, w->n, sizeof *o, cmp_wt);
    qsort(m, w->nmeta, sizeof *m, cmp_wm);
    memset(b, 0, sizeof *b);
    sb_put(b, "\0\0\0\0\0\0\0\0{", 9);
    int first = 1;
    if (w->nmeta) {
        sb_str(b, "\"__metadata__\":{");
        for (size_t i = 0; i < w->nmeta; i++) {
            if (i) sb_str(b, ",");
            sb_json(b, m[i]->key);
            sb_str(b, ":");
            sb_json(b, m[i]->value);
        }
        sb_str(b, "}");
        first = 0;
    }
    uint64_t off = 0;
    char num[64];
    for (size_t i = 0; i < w->n; i++) {
        const wt *t = o[i];
        if (!first) sb_str(b, ",");
        first = 0;
        sb_json(b, t->name);
        sb_str(b, ":{\"dtype\":\"");
        sb_str(b, prism_dtype_name(t->dtype));
        sb_str(b, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            sb_str(b, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                 (unsigned long long)(off + t->nbytes));
        sb_str(b, num);
        off += t->nbytes;
    }
    sb_str(b, "}");
    while (!b->oom && (b->n - 8) % 8) sb_str(b, " ");
    free(m);
    if (b->oom) {
        free(o);
        free(b->p);
        b->p = NULL;
        return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, WL, "out of memory");
    }
    io_put_le64((unsigned char *)b->p, (uint64_t)(b->n - 8));
    *order = o;
    return PRISM_OK;
}

prism_status prism_st_writer_serialize(const prism_st_writer *w, void **data, size_t *n, char *err, size_t err_len) {
    if (!w || !data || !n) return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, WL, "NULL argument");
    *data = NULL;
    *n = 0;
    sbuf b;
    const wt **o;
    prism_status st = build(w, &b, &o, err, err_len);
    if (st) return st;
    for (size_t i = 0; i < w->n; i++) sb_put(&b, (const char *)o[i]->data, o[i]->nbytes);
    free(o);
    if (b.oom) {
        free(b.p);
        return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, WL, "out of memory");
    }
    *data = b.p;
    *n = b.n;
    return PRISM_OK;
}

prism_status prism_st_writer_write(const prism_st_writer *w, const char *path, char *err, size_t err_len) {
    if (!w || !path) return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, WL, "NULL argument");
    sbuf b;
    const wt **o;
    prism_status st = build(w, &b, &o, err, err_len);
    if (st) return st;
    io_atomic a;
    st = io_atomic_begin(&a, path, err, err_len);
    if (!st) st = io_atomic_write(&a, b.p, b.n, err, err_len);
    for (size_t i = 0; !st && i < w->n; i++) st = io_atomic_write(&a, o[i]->data, o[i]->nbytes, err, err_len);
    if (!st) st = io_atomic_commit(&a, err, err_len);
    free(o);
    free(b.p);
    return st;
}
