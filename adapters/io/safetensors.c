/* safetensors reader and writer.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
 *  "__metadata__": {"k": "v"}}, then the data buffer; offsets are relative to
 * the buffer and must tile it exactly. The header is parsed by a small
 * purpose-built JSON reader (exact 64-bit integers, bounded depth, strict
 * strings) rather than a general DOM, so hostile headers cost O(N). */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "io_internal.h"

typedef struct st_meta { char *key, *value; } st_meta;

struct prism_st_file {
    const unsigned char *base;
    size_t size;
    int mapped;
    char *label;
    char *arena; /* decoded strings (names, metadata) */
    prism_st_tensor *t;
    size_t count, cap;
    size_t *by_name; /* indices sorted by name */
    st_meta *meta;
    size_t nmeta, capmeta;
};

/* ------------------------------------------------------------ header JSON */

typedef struct hp {
    const unsigned char *start, *p, *end;
    char *arena;
    size_t used;
    const char *label;
    char *err;
    size_t err_len;
} hp;

#define HP_FAIL(h, ...) io_fail(PRISM_ERR_FORMAT, (h)->err, (h)->err_len, (h)->label, __VA_ARGS__)

static void hp_ws(hp *h) {
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r')) h->p++;
}

static prism_status hp_expect(hp *h, char c) {
    hp_ws(h);
    if (h->p >= h->end || *h->p != (unsigned char)c)
        return HP_FAIL(h, "header byte %zu: expected '%c'", (size_t)(h->p - h->start), c);
    h->p++;
    return PRISM_OK;
}

/* 1 when the next non-space byte is c (consumed). */
static int hp_accept(hp *h, char c) {
    hp_ws(h);
    if (h->p < h->end && *h->p == (unsigned char)c) {
        h->p++;
        return 1;
    }
    return 0;
}

static int hex4(const unsigned char *p, uint32_t *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return 0;
        *v = *v * 16 + d;
    }
    return 1;
}

/* Decodes a JSON string into the arena (NUL-terminated). No NUL inside, valid
 * UTF-8. The decoded form is never longer than the encoded one, so the arena
 * (header length + 1) cannot overflow. */
static prism_status hp_string(hp *h, char **out, size_t *len) {
    hp_ws(h);
    size_t at = (size_t)(h->p - h->start);
    if (h->p >= h->end || *h->p != '"') return HP_FAIL(h, "header byte %zu: expected a string", at);
    h->p++;
    char *o = h->arena + h->used, *q = o;
    for (;;) {
        if (h->p >= h->end) return HP_FAIL(h, "header byte %zu: unterminated string", at);
        unsigned c = *h->p++;
        if (c == '"') break;
        if (c < 0x20) return HP_FAIL(h, "header byte %zu: control character in a string", at);
        if (c != '\\') {
            *q++ = (char)c;
            continue;
        }
        if (h->p >= h->end) return HP_FAIL(h, "header byte %zu: unterminated string", at);
        c = *h->p++;
        switch (c) {
        case '"': *q++ = '"'; break;
        case '\\': *q++ = '\\'; break;
        case '/': *q++ = '/'; break;
        case 'b': *q++ = '\b'; break;
        case 'f': *q++ = '\f'; break;
        case 'n': *q++ = '\n'; break;
        case 'r': *q++ = '\r'; break;
        case 't': *q++ = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (h->end - h->p < 4 || !hex4(h->p, &cp)) return HP_FAIL(h, "header byte %zu: bad \\u escape", at);
            h->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (h->end - h->p < 6 || h->p[0] != '\\' || h->p[1] != 'u' || !hex4(h->p + 2, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return HP_FAIL(h, "header byte %zu: unpaired surrogate", at);
                h->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return HP_FAIL(h, "header byte %zu: unpaired surrogate", at);
            }
            if (cp == 0) return HP_FAIL(h, "header byte %zu: NUL character in a string", at);
            if (cp < 0x80) *q++ = (char)cp;
            else if (cp < 0x800) { *q++ = (char)(0xC0 | (cp >> 6)); *q++ = (char)(0x80 | (cp & 0x3F)); }
            else if (cp < 0x10000) {
                *q++ = (char)(0xE0 | (cp >> 12));
                *q++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *q++ = (char)(0x80 | (cp & 0x3F));
            } else {
                *q++ = (char)(0xF0 | (cp >> 18));
                *q++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                *q++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *q++ = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: return HP_FAIL(h, "header byte %zu: bad escape '\\%c'", at, c >= 0x20 && c < 0x7F ? c : '?');
        }
    }
    *q = 0;
    size_t n = (size_t)(q - o);
    if (!io_utf8_valid((const unsigned char *)o, n)) return HP_FAIL(h, "header byte %zu: invalid UTF-8", at);
    h->used += n + 1;
    *out = o;
    *len = n;
    return PRISM_OK;
}

/* Non-negative integer without sign, fraction or exponent. */
static prism_status hp_u64(hp *h, const char *what, uint64_t *v) {
    hp_ws(h);
    size_t at = (size_t)(h->p - h->start);
    if (h->p < h->end && *h->p == '-') return HP_FAIL(h, "header byte %zu: negative %s", at, what);
    if (h->p >= h->end || *h->p < '0' || *h->p > '9')
        return HP_FAIL(h, "header byte %zu: %s is not a non-negative integer", at, what);
    if (*h->p == '0' && h->end - h->p > 1 && h->p[1] >= '0' && h->p[1] <= '9')
        return HP_FAIL(h, "header byte %zu: leading zero in %s", at, what);
    uint64_t x = 0;
    while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
        unsigned d = *h->p++ - '0';
        if (x > (UINT64_MAX - d) / 10) return HP_FAIL(h, "header byte %zu: %s overflows 64 bits", at, what);
        x = x * 10 + d;
    }
    if (h->p < h->end && (*h->p == '.' || *h->p == 'e' || *h->p == 'E'))
        return HP_FAIL(h, "header byte %zu: %s is not an integer", at, what);
    *v = x;
    return PRISM_OK;
}

/* Skips any JSON value (unknown tensor fields), depth-limited. */
static prism_status hp_skip(hp *h, int depth) {
    if (depth > 32) return HP_FAIL(h, "header byte %zu: nesting too deep", (size_t)(h->p - h->start));
    hp_ws(h);
    size_t at = (size_t)(h->p - h->start);
    if (h->p >= h->end) return HP_FAIL(h, "header byte %zu: expected a value", at);
    size_t mark = h->used;
    char *s;
    size_t n;
    prism_status st;
    unsigned c = *h->p;
    if (c == '"') {
        st = hp_string(h, &s, &n);
        h->used = mark;
        return st;
    }
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        h->p++;
        if (hp_accept(h, close)) return PRISM_OK;
        do {
            if (c == '{') {
                if ((st = hp_string(h, &s, &n))) return st;
                h->used = mark;
                if ((st = hp_expect(h, ':'))) return st;
            }
            if ((st = hp_skip(h, depth + 1))) return st;
        } while (hp_accept(h, ','));
        return hp_expect(h, close);
    }
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t wl = strlen(words[i]);
        if ((size_t)(h->end - h->p) >= wl && memcmp(h->p, words[i], wl) == 0) {
            h->p += wl;
            return PRISM_OK;
        }
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        const unsigned char *q = h->p + (c == '-');
        while (q < h->end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' || *q == '+' ||
                              *q == '-'))
            q++;
        if (q == h->p + 1 && c == '-') return HP_FAIL(h, "header byte %zu: bad number", at);
        h->p = q;
        return PRISM_OK;
    }
    return HP_FAIL(h, "header byte %zu: unexpected character", at);
}

static prism_dtype dtype_from(const char *s) {
    for (int d = PRISM_DTYPE_F64; d <= PRISM_DTYPE_F8_E5M2; d++)
        if (strcmp(prism_dtype_name((prism_dtype)d), s) == 0) return (prism_dtype)d;
    return PRISM_DTYPE_INVALID;
}

static prism_status hp_tensor(hp *h, prism_st_tensor *t, uint64_t off[2]) {
    prism_status st;
    int have_dtype = 0, have_shape = 0, have_off = 0;
    size_t at = (size_t)(h->p - h->start);
    if ((st = hp_expect(h, '{'))) return st;
    if (!hp_accept(h, '}')) {
        do {
            size_t mark = h->used, kat = (size_t)(h->p - h->start);
            char *key, *val;
            size_t kl, vl;
            if ((st = hp_string(h, &key, &kl)) || (st = hp_expect(h, ':'))) return st;
            h->used = mark;
            int *seen = strcmp(key, "dtype") == 0 ? &have_dtype
                        : strcmp(key, "shape") == 0 ? &have_shape
                        : strcmp(key, "data_offsets") == 0 ? &have_off : NULL;
            if (seen && *seen) return HP_FAIL(h, "header byte %zu: duplicate field '%s'", kat, key);
            if (seen) *seen = 1;
            if (seen == &have_dtype) {
                size_t vat = (size_t)(h->p - h->start);
                if ((st = hp_string(h, &val, &vl))) return st;
                t->dtype = dtype_from(val);
                if (!t->dtype) return HP_FAIL(h, "header byte %zu: unknown dtype '%.32s'", vat, val);
                h->used = mark;
            } else if (seen == &have_shape) {
                if ((st = hp_expect(h, '['))) return st;
                t->ndim = 0;
                if (!hp_accept(h, ']')) {
                    do {
                        uint64_t d;
                        if (t->ndim == PRISM_IO_MAX_DIMS)
                            return HP_FAIL(h, "header byte %zu: more than %d dims", at, PRISM_IO_MAX_DIMS);
                        if ((st = hp_u64(h, "shape dim", &d))) return st;
                        if (d > (uint64_t)INT64_MAX)
                            return HP_FAIL(h, "header byte %zu: shape dim %llu too large", at, (unsigned long long)d);
                        t->shape[t->ndim++] = (int64_t)d;
                    } while (hp_accept(h, ','));
                    if ((st = hp_expect(h, ']'))) return st;
                }
            } else if (seen == &have_off) {
                if ((st = hp_expect(h, '[')) || (st = hp_u64(h, "data offset", &off[0])) ||
                    (st = hp_expect(h, ',')) || (st = hp_u64(h, "data offset", &off[1])) || (st = hp_expect(h, ']')))
                    return st;
            } else if ((st = hp_skip(h, 2))) {
                return st;
            }
        } while (hp_accept(h, ','));
        if ((st = hp_expect(h, '}'))) return st;
    }
    if (!have_dtype || !have_shape || !have_off)
        return HP_FAIL(h, "tensor '%.128s' (header byte %zu) lacks '%s'", t->name, at,
                       !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    return PRISM_OK;
}

static prism_status hp_metadata(hp *h, prism_st_file *f) {
    prism_status st;
    if (hp_accept(h, 'n')) { /* null */
        if (h->end - h->p < 3 || memcmp(h->p, "ull", 3) != 0)
            return HP_FAIL(h, "header byte %zu: bad __metadata__", (size_t)(h->p - h->start));
        h->p += 3;
        return PRISM_OK;
    }
    if ((st = hp_expect(h, '{'))) return st;
    if (hp_accept(h, '}')) return PRISM_OK;
    do {
        char *k, *v;
        size_t kl, vl;
        if ((st = hp_string(h, &k, &kl)) || (st = hp_expect(h, ':'))) return st;
        hp_ws(h);
        if (h->p >= h->end || *h->p != '"')
            return HP_FAIL(h, "__metadata__ value of '%.128s' is not a string", k);
        if ((st = hp_string(h, &v, &vl))) return st;
        st_meta *m = prism_grow(f->meta, &f->capmeta, f->nmeta, sizeof *m);
        if (!m) return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, h->err, h->err_len, h->label, "out of memory");
        f->meta = m;
        f->meta[f->nmeta].key = k;
        f->meta[f->nmeta++].value = v;
    } while (hp_accept(h, ','));
    return hp_expect(h, '}');
}

/* ------------------------------------------------------------ validation */

static _Thread_local const prism_st_file *sort_file; /* qsort has no context argument */
static int cmp_name(const void *a, const void *b) {
    return strcmp(sort_file->t[*(const size_t *)a].name, sort_file->t[*(const size_t *)b].name);
}
static int cmp_off(const void *a, const void *b) {
    const prism_st_tensor *x = &sort_file->t[*(const size_t *)a], *y = &sort_file->t[*(const size_t *)b];
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return 0;
}
static int cmp_meta(const void *a, const void *b) {
    return strcmp(((const st_meta *)a)->key, ((const st_meta *)b)->key);
}

static prism_status validate(prism_st_file *f, uint64_t data_start, uint64_t buf_size, char *err, size_t err_len) {
    const char *L = f->label;
    for (size_t i = 0; i < f->count; i++) {
        prism_st_tensor *t = &f->t[i];
        uint64_t numel = 1, nbytes;
        for (int d = 0; d < t->ndim; d++)
            if (!io_mul_u64(numel, (uint64_t)t->shape[d], &numel) || numel > (uint64_t)INT64_MAX)
                return io_fail(PRISM_ERR_FORMAT, err, err_len, L, "tensor '%.128s': shape overflows", t->name);
        if (!io_mul_u64(numel, prism_dtype_size(t->dtype), &nbytes))
            return io_fail(PRISM_ERR_FORMAT, err, err_len, L, "tensor '%.128s': byte size overflows", t->name);
        uint64_t b = t->offset, e = t->nbytes; /* raw data_offsets until now */
        if (e < b)
            return io_fail(PRISM_ERR_FORMAT, err, err_len, L, "tensor '%.128s': data_offsets [%llu, %llu) decrease",
                           t->name, (unsigned long long)b, (unsigned long long)e);
        if (e > buf_size)
            return io_fail(PRISM_ERR_FORMAT, err, err_len, L,
                           "tensor '%.128s' data_offsets [%llu, %llu) exceed the %llu-byte buffer", t->name,
                           (unsigned long long)b, (unsigned long long)e, (unsigned long long)buf_size);
        if (e - b != nbytes)
            return io_fail(PRISM_ERR_FORMAT, err, err_len, L,
                           "tensor '%.128s': %s shape of %llu elements needs %llu bytes, data_offsets span %llu",
                           t->name, prism_dtype_name(t->dtype), (unsigned long long)numel,
                           (unsigned long long)nbytes, (unsigned long long)(e - b));
        t->numel = (int64_t)numel;
        t->offset = data_start + b;
        t->nbytes = nbytes;
    }
    size_t *idx = malloc((f->count ? f->count : 1) * sizeof *idx);
    if (!idx) return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, L, "out of memory");
    for (size_t i = 0; i < f->count; i++) idx[i] = i;
    sort_file = f;
    qsort(idx, f->count, sizeof *idx, cmp_off);
    uint64_t expect = data_start;
    for (size_t i = 0; i < f->count; i++) {
        const prism_st_tensor *t = &f->t[idx[i]];
        if (t->offset != expect) {
            int overlap = t->offset < expect;
            prism_status st = io_fail(
                PRISM_ERR_FORMAT, err, err_len, L, "tensor '%.128s' at buffer offset %llu %s '%.128s'", t->name,
                (unsigned long long)(t->offset - data_start), overlap ? "overlaps" : "leaves a gap after",
                i ? f->t[idx[i - 1]].name : "<buffer start>");
            free(idx);
            return st;
        }
        expect += t->nbytes;
    }
    if (expect != data_start + buf_size) {
        free(idx);
        return io_fail(PRISM_ERR_FORMAT, err, err_len, L, "tensors cover %llu of the %llu buffer bytes",
                       (unsigned long long)(expect - data_start), (unsigned long long)buf_size);
    }
    qsort(idx, f->count, sizeof *idx, cmp_name);
    sort_file = NULL;
    for (size_t i = 1; i < f->count; i++)
        if (strcmp(f->t[idx[i]].name, f->t[idx[i - 1]].name) == 0) {
            prism_status st = io_fail(PRISM_ERR_FORMAT, err, err_len, L, "duplicate tensor name '%.128s'",
                                      f->t[idx[i]].name);
            free(idx);
            return st;
        }
    f->by_name = idx;
    if (f->nmeta > 1) { /* duplicate check on a sorted copy: header order is kept */
        st_meta *m = malloc(f->nmeta * sizeof *m);
        if (!m) return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, L, "out of memory");
        memcpy(m, f->meta, f->nmeta * sizeof *m);
        qsort(m, f->nmeta, sizeof *m, cmp_meta);
        for (size_t i = 1; i < f->nmeta; i++)
            if (strcmp(m[i].key, m[i - 1].key) == 0) {
                prism_status st =
                    io_fail(PRISM_ERR_FORMAT, err, err_len, L, "duplicate __metadata__ key '%.128s'", m[i].key);
                free(m);
                return st;
            }
        free(m);
    }
    return PRISM_OK;
}

/* ------------------------------------------------------------ open / parse */

static prism_status parse_image(prism_st_file *f, char *err, size_t err_len) {
    const char *L = f->label;
    if (f->size < 8)
        return io_fail(PRISM_ERR_FORMAT, err, err_len, L, "truncated: %zu bytes, the header length needs 8",
                       f->size);
    uint64_t n = io_le64(f->base);
    if (n > f->size - 8)
        return io_fail(PRISM_ERR_FORMAT, err, err_len, L, "header length %llu exceeds the %zu bytes after it",
                       (unsigned long long)n, f->size - 8);
    if (n > PRISM_ST_MAX_HEADER)
        return io_fail(PRISM_ERR_FORMAT, err, err_len, L, "header length %llu exceeds the limit of %u bytes",
                       (unsigned long long)n, PRISM_ST_MAX_HEADER);
    if (n < 2 || f->base[8] != '{')
        return io_fail(PRISM_ERR_FORMAT, err, err_len, L, "header does not start with '{'");
    f->arena = malloc((size_t)n + 1);
    if (!f->arena) return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, L, "out of memory");
    hp h = {f->base + 8, f->base + 8, f->base + 8 + n, f->arena, 0, L, err, err_len};
    prism_status st;
    int have_meta = 0;
    h.p++;
    if (!hp_accept(&h, '}')) {
        do {
            size_t kat = (size_t)(h.p - h.start);
            char *key;
            size_t kl;
            if ((st = hp_string(&h, &key, &kl)) || (st = hp_expect(&h, ':'))) return st;
            if (strcmp(key, "__metadata__") == 0) {
                if (have_meta) return HP_FAIL(&h, "header byte %zu: duplicate __metadata__", kat);
                have_meta = 1;
                if ((st = hp_metadata(&h, f))) return st;
                continue;
            }
            if (kl == 0) return HP_FAIL(&h, "header byte %zu: empty tensor name", kat);
            if (f->count == PRISM_ST_MAX_TENSORS)
                return HP_FAIL(&h, "more than %d tensors", PRISM_ST_MAX_TENSORS);
            prism_st_tensor *t = prism_grow(f->t, &f->cap, f->count, sizeof *t);
            if (!t) return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, L, "out of memory");
            f->t = t;
            t = &f->t[f->count++];
            memset(t, 0, sizeof *t);
            t->name = key;
            uint64_t off[2] = {0, 0};
            if ((st = hp_tensor(&h, t, off))) return st;
            t->offset = off[0];
            t->nbytes = off[1];
        } while (hp_accept(&h, ','));
        if ((st = hp_expect(&h, '}'))) return st;
    }
    hp_ws(&h);
    if (h.p != h.end)
        return HP_FAIL(&h, "header byte %zu: trailing bytes after the JSON object", (size_t)(h.p - h.start));
    return validate(f, 8 + n, f->size - 8 - n, err, err_len);
}

static prism_status new_file(const char *label, prism_st_file **out) {
    prism_st_file *f = calloc(1, sizeof *f);
    if (!f) return PRISM_ERR_OUT_OF_HOST_MEMORY;
    f->label = strdup(label ? label : "<memory>");
    if (!f->label) {
        free(f);
        return PRISM_ERR_OUT_OF_HOST_MEMORY;
    }
    *out = f;
    return PRISM_OK;
}

/* Parses f's image; hands f to *out, or closes it on failure. */
static prism_status finish(prism_st_file *f, prism_st_file **out, char *err, size_t err_len) {
    prism_status st = parse_image(f, err, err_len);
    if (st) prism_st_close(f);
    else *out = f;
    return st;
}

prism_status prism_st_parse(const void *data, size_t n, const char *label, prism_st_file **out, char *err,
                            size_t err_len) {
    if (!out || (!data && n)) return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, label, "NULL argument");
    *out = NULL;
    prism_st_file *f;
    if (new_file(label, &f)) return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, label, "out of memory");
    f->base = data;
    f->size = n;
    return finish(f, out, err, err_len);
}

prism_status prism_st_open(const char *path, uint64_t max_file_bytes, prism_st_file **out, char *err,
                           size_t err_len) {
    if (!out || !path) return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, path, "NULL argument");
    *out = NULL;
    if (!max_file_bytes) max_file_bytes = PRISM_ST_DEFAULT_MAX_FILE;
    int fd;
    uint64_t size;
    prism_status st = prism_open_regular(path, max_file_bytes, &fd, &size, err, err_len);
    if (st) return st;
    prism_st_file *f;
    if (new_file(path, &f)) {
        close(fd);
        return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, path, "out of memory");
    }
    f->size = (size_t)size;
    if (f->size) {
        void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            prism_st_close(f);
            return io_fail(PRISM_ERR_IO, err, err_len, path, "mmap failed: %s", strerror(e));
        }
        f->base = m;
        f->mapped = 1;
    }
    close(fd);
    return finish(f, out, err, err_len);
}

void prism_st_close(prism_st_file *f) {
    if (!f) return;
    if (f->mapped) munmap((void *)f->base, f->size);
    free(f->label);
    free(f->arena);
    free(f->t);
    free(f->by_name);
    free(f->meta);
    free(f);
}

size_t prism_st_count(const prism_st_file *f) { return f ? f->count : 0; }

const prism_st_tensor *prism_st_tensor_at(const prism_st_file *f, size_t i) {
    return f && i < f->count ? &f->t[i] : NULL;
}

const prism_st_tensor *prism_st_find(const prism_st_file *f, const char *name) {
    if (!f || !name) return NULL;
    size_t lo = 0, hi = f->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->t[f->by_name[mid]].name, name);
        if (c == 0) return &f->t[f->by_name[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const void *prism_st_data(const prism_st_file *f, const prism_st_tensor *t) {
    return f && t ? f->base + t->offset : NULL;
}

size_t prism_st_meta_count(const prism_st_file *f) { return f ? f->nmeta : 0; }

void prism_st_meta_at(const prism_st_file *f, size_t i, const char **key, const char **value) {
    int ok = f && i < f->nmeta;
    if (key) *key = ok ? f->meta[i].key : NULL;
    if (value) *value = ok ? f->meta[i].value : NULL;
}

const char *prism_st_meta_get(const prism_st_file *f, const char *key) {
    for (size_t i = 0; f && key && i < f->nmeta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}

static prism_status read_conv(const prism_st_file *f, const char *name, void *dst, int64_t count, int to_int,
                              char *err, size_t err_len) {
    if (!f || !name || (!dst && count))
        return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, f ? f->label : NULL, "NULL argument");
    const prism_st_tensor *t = prism_st_find(f, name);
    if (!t) return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, f->label, "no tensor '%.128s'", name);
    if (count != t->numel)
        return io_fail(PRISM_ERR_SHAPE, err, err_len, f->label, "tensor '%.128s' has %lld elements, caller expects %lld",
                       name, (long long)t->numel, (long long)count);
    const unsigned char *p = f->base + t->offset;
    int ok = to_int ? io_convert_i64(t->dtype, p, (size_t)count, dst) : io_convert_f32(t->dtype, p, (size_t)count, dst);
    if (!ok)
        return io_fail(PRISM_ERR_FORMAT, err, err_len, f->label, "tensor '%.128s' has dtype %s, not convertible to %s",
                       name, prism_dtype_name(t->dtype), to_int ? "int64" : "float32");
    return PRISM_OK;
}

prism_status prism_st_read_f32(const prism_st_file *f, const char *name, float *dst, int64_t count, char *err,
                               size_t err_len) {
    return read_conv(f, name, dst, count, 0, err, err_len);
}

prism_status prism_st_read_i64(const prism_st_file *f, const char *name, int64_t *dst, int64_t count, char *err,
                               size_t err_len) {
    return read_conv(f, name, dst, count, 1, err, err_len);
}
