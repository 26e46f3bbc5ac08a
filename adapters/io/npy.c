/* NumPy .npy reader and writer.
 *
 * Layout: "\x93NUMPY", major, minor, header length (u16 for 1.0, u32 for 2.0
 * and 3.0), an ASCII Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with
 * spaces and a final '\n', then the C-order data. */
#include <stdlib.h>
#include "io_internal.h"

static const struct { const char *descr; prism_dtype d; } npy_types[] = {
    {"<f2", PRISM_DTYPE_F16}, {"<f4", PRISM_DTYPE_F32}, {"<f8", PRISM_DTYPE_F64}, {"<i2", PRISM_DTYPE_I16},
    {"<i4", PRISM_DTYPE_I32}, {"<i8", PRISM_DTYPE_I64}, {"|i1", PRISM_DTYPE_I8},  {"|u1", PRISM_DTYPE_U8},
    {"|b1", PRISM_DTYPE_BOOL},
};

typedef struct np {
    const unsigned char *p, *end, *start;
    const char *label;
    char *err;
    size_t err_len;
} np;

#define NP_FAIL(h, ...) io_fail(PRISM_ERR_FORMAT, (h)->err, (h)->err_len, (h)->label, __VA_ARGS__)

static void np_ws(np *h) {
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r')) h->p++;
}

static int np_accept(np *h, char c) {
    np_ws(h);
    if (h->p < h->end && *h->p == (unsigned char)c) {
        h->p++;
        return 1;
    }
    return 0;
}

static prism_status np_expect(np *h, char c) {
    if (np_accept(h, c)) return PRISM_OK;
    return NP_FAIL(h, "header byte %zu: expected '%c'", (size_t)(h->p - h->start), c);
}

/* A quoted Python string without escapes, copied into buf (truncated to 31). */
static prism_status np_string(np *h, char *buf, size_t cap) {
    np_ws(h);
    size_t at = (size_t)(h->p - h->start);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"')) return NP_FAIL(h, "header byte %zu: expected a string", at);
    unsigned char q = *h->p++;
    size_t n = 0;
    while (h->p < h->end && *h->p != q) {
        if (*h->p == '\\' || *h->p < 0x20 || *h->p >= 0x7F)
            return NP_FAIL(h, "header byte %zu: unsupported character in a string", at);
        if (n + 1 < cap) buf[n++] = (char)*h->p;
        h->p++;
    }
    if (h->p >= h->end) return NP_FAIL(h, "header byte %zu: unterminated string", at);
    h->p++;
    buf[n] = 0;
    return PRISM_OK;
}

static prism_status np_shape(np *h, prism_npy_array *a) {
    prism_status st;
    if ((st = np_expect(h, '('))) return st;
    a->ndim = 0;
    while (!np_accept(h, ')')) {
        np_ws(h);
        size_t at = (size_t)(h->p - h->start);
        if (h->p < h->end && *h->p == '-') return NP_FAIL(h, "header byte %zu: negative dimension", at);
        if (h->p >= h->end || *h->p < '0' || *h->p > '9') return NP_FAIL(h, "header byte %zu: expected a dimension", at);
        if (a->ndim == PRISM_IO_MAX_DIMS) return NP_FAIL(h, "shape has more than %d dimensions", PRISM_IO_MAX_DIMS);
        uint64_t v = 0;
        while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
            unsigned d = *h->p++ - '0';
            if (v > ((uint64_t)INT64_MAX - d) / 10) return NP_FAIL(h, "header byte %zu: dimension overflows", at);
            v = v * 10 + d;
        }
        if (h->p < h->end && (*h->p == 'L' || *h->p == 'l')) h->p++; /* Python 2 long */
        a->shape[a->ndim++] = (int64_t)v;
        if (!np_accept(h, ',')) {
            if ((st = np_expect(h, ')'))) return st;
            break;
        }
    }
    return PRISM_OK;
}

static prism_status np_header(np *h, prism_npy_array *a) {
    prism_status st;
    int have_descr = 0, have_fo = 0, have_shape = 0;
    if ((st = np_expect(h, '{'))) return st;
    while (!np_accept(h, '}')) {
        char key[32], val[32];
        size_t at = (size_t)(h->p - h->start);
        if ((st = np_string(h, key, sizeof key)) || (st = np_expect(h, ':'))) return st;
        if (strcmp(key, "descr") == 0 && !have_descr) {
            have_descr = 1;
            np_ws(h);
            if (h->p < h->end && *h->p == '[') return NP_FAIL(h, "structured dtypes are not supported");
            if ((st = np_string(h, val, sizeof val))) return st;
            for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
                if (strcmp(val, npy_types[i].descr) == 0) a->file_dtype = npy_types[i].d;
            if (!a->file_dtype) {
                if (val[0] == '>') return NP_FAIL(h, "big-endian dtype '%s' is not supported", val);
                return NP_FAIL(h, "unsupported dtype '%s'", val);
            }
        } else if (strcmp(key, "fortran_order") == 0 && !have_fo) {
            have_fo = 1;
            np_ws(h);
            if ((size_t)(h->end - h->p) >= 4 && memcmp(h->p, "True", 4) == 0)
                return NP_FAIL(h, "fortran_order True is not supported");
            if ((size_t)(h->end - h->p) < 5 || memcmp(h->p, "False", 5) != 0)
                return NP_FAIL(h, "header byte %zu: fortran_order is not True or False", (size_t)(h->p - h->start));
            h->p += 5;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            have_shape = 1;
            if ((st = np_shape(h, a))) return st;
        } else {
            return NP_FAIL(h, "header byte %zu: unexpected or duplicate key '%s'", at, key);
        }
        if (!np_accept(h, ',')) {
            if ((st = np_expect(h, '}'))) return st;
            break;
        }
    }
    if (!have_descr || !have_fo || !have_shape)
        return NP_FAIL(h, "header lacks '%s'", !have_descr ? "descr" : !have_fo ? "fortran_order" : "shape");
    np_ws(h);
    if (h->p != h->end) return NP_FAIL(h, "header byte %zu: trailing characters", (size_t)(h->p - h->start));
    return PRISM_OK;
}

prism_status prism_npy_parse(const void *data, size_t n, const char *label, prism_dtype want, prism_npy_array *out,
                             char *err, size_t err_len) {
    if (!out || (!data && n)) return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, label, "NULL argument");
    memset(out, 0, sizeof *out);
    if (want != PRISM_DTYPE_F32 && want != PRISM_DTYPE_F64 && want != PRISM_DTYPE_I64)
        return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, label, "target dtype must be F32, F64 or I64");
    const unsigned char *b = data;
    if (n < 10) return io_fail(PRISM_ERR_FORMAT, err, err_len, label, "truncated: %zu bytes", n);
    if (memcmp(b, "\x93NUMPY", 6) != 0) return io_fail(PRISM_ERR_FORMAT, err, err_len, label, "bad magic (not a .npy file)");
    unsigned major = b[6], minor = b[7];
    if (major < 1 || major > 3 || minor != 0)
        return io_fail(PRISM_ERR_FORMAT, err, err_len, label, "unsupported format version %u.%u", major, minor);
    size_t pre = major == 1 ? 10 : 12;
    if (n < pre) return io_fail(PRISM_ERR_FORMAT, err, err_len, label, "truncated: %zu bytes", n);
    uint64_t hlen = major == 1 ? io_le16(b + 8) : io_le32(b + 8);
    if (hlen > n - pre)
        return io_fail(PRISM_ERR_FORMAT, err, err_len, label, "header length %llu exceeds the %zu bytes after it",
                       (unsigned long long)hlen, n - pre);
    prism_npy_array a;
    memset(&a, 0, sizeof a);
    np h = {b + pre, b + pre + hlen, b + pre, label ? label : "<memory>", err, err_len};
    prism_status st = np_header(&h, &a);
    if (st) return st;
    uint64_t numel = 1, nbytes;
    for (int d = 0; d < a.ndim; d++)
        if (!io_mul_u64(numel, (uint64_t)a.shape[d], &numel) || numel > (uint64_t)INT64_MAX)
            return io_fail(PRISM_ERR_FORMAT, err, err_len, label, "shape overflows");
    size_t isz = prism_dtype_size(a.file_dtype), osz = prism_dtype_size(want);
    if (!io_mul_u64(numel, isz, &nbytes))
        return io_fail(PRISM_ERR_FORMAT, err, err_len, label, "data size overflows");
    size_t avail = n - pre - (size_t)hlen;
    if (nbytes > avail)
        return io_fail(PRISM_ERR_FORMAT, err, err_len, label, "truncated data: %llu bytes needed, %zu present",
                       (unsigned long long)nbytes, avail);
    if (nbytes < avail)
        return io_fail(PRISM_ERR_FORMAT, err, err_len, label, "%zu trailing bytes after the data",
                       avail - (size_t)nbytes);
    a.dtype = want;
    a.numel = (int64_t)numel;
    const unsigned char *src = b + pre + hlen;
    int ok_type = want == PRISM_DTYPE_I64
                      ? a.file_dtype != PRISM_DTYPE_F16 && a.file_dtype != PRISM_DTYPE_F32 && a.file_dtype != PRISM_DTYPE_F64
                      : a.file_dtype == PRISM_DTYPE_F16 || a.file_dtype == PRISM_DTYPE_F32 || a.file_dtype == PRISM_DTYPE_F64;
    if (!ok_type)
        return io_fail(PRISM_ERR_FORMAT, err, err_len, label, "dtype %s does not convert to %s",
                       prism_dtype_name(a.file_dtype), prism_dtype_name(want));
    a.data = malloc(numel ? (size_t)numel * osz : 1); /* numel <= nbytes <= n: no overflow */
    if (!a.data) return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, label, "out of memory");
    if (want == PRISM_DTYPE_F32) io_convert_f32(a.file_dtype, src, (size_t)numel, a.data);
    else if (want == PRISM_DTYPE_F64) io_convert_f64(a.file_dtype, src, (size_t)numel, a.data);
    else io_convert_i64(a.file_dtype, src, (size_t)numel, a.data);
    *out = a;
    return PRISM_OK;
}

prism_status prism_npy_read(const char *path, prism_dtype want, uint64_t max_file_bytes, prism_npy_array *out,
                            char *err, size_t err_len) {
    if (!path || !out) return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, path, "NULL argument");
    memset(out, 0, sizeof *out);
    unsigned char *buf;
    size_t n;
    prism_status st = io_read_file(path, max_file_bytes ? max_file_bytes : PRISM_NPY_DEFAULT_MAX_FILE, &buf, &n,
                                   err, err_len);
    if (st) return st;
    st = prism_npy_parse(buf, n, path, want, out, err, err_len);
    free(buf);
    return st;
}

void prism_npy_free(prism_npy_array *a) {
    if (!a) return;
    free(a->data);
    a->data = NULL;
}

prism_status prism_npy_write(const char *path, prism_dtype dtype, int ndim, const int64_t *shape, const void *data,
                             char *err, size_t err_len) {
    const char *descr = dtype == PRISM_DTYPE_F32 ? "<f4" : dtype == PRISM_DTYPE_F64 ? "<f8"
                        : dtype == PRISM_DTYPE_I64 ? "<i8" : NULL;
    if (!path || !descr || ndim < 0 || ndim > PRISM_IO_MAX_DIMS || (ndim && !shape))
        return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, path, "bad dtype, ndim or shape");
    uint64_t numel = 1, nbytes;
    char hdr[512];
    int k = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || !io_mul_u64(numel, (uint64_t)shape[d], &numel) || numel > (uint64_t)INT64_MAX)
            return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, path, "bad shape");
        k += snprintf(hdr + k, sizeof hdr - (size_t)k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    }
    k += snprintf(hdr + k, sizeof hdr - (size_t)k, "%s), }", ndim == 1 ? "," : "");
    size_t esz = prism_dtype_size(dtype);
    if (!io_mul_u64(numel, esz, &nbytes) || nbytes > SIZE_MAX / 2)
        return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, path, "array too large");
    if (nbytes && !data) return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, path, "NULL data");
    /* Pad with spaces so that prefix + header + '\n' is a multiple of 64. */
    size_t pre = 10, hlen = (size_t)k + 1;
    hlen += (64 - (pre + hlen) % 64) % 64;
    if (hlen > 65535) {
        pre = 12;
        hlen = (size_t)k + 1;
        hlen += (64 - (pre + hlen) % 64) % 64;
    }
    unsigned char buf[12 + 576];
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = pre == 10 ? 1 : 2;
    buf[7] = 0;
    if (pre == 10) { buf[8] = (unsigned char)hlen; buf[9] = (unsigned char)(hlen >> 8); }
    else io_put_le32(buf + 8, (uint32_t)hlen);
    memcpy(buf + pre, hdr, (size_t)k);
    memset(buf + pre + k, ' ', hlen - (size_t)k - 1);
    buf[pre + hlen - 1] = '\n';
    io_atomic a;
    prism_status st = io_atomic_begin(&a, path, err, err_len);
    if (st) return st;
    if ((st = io_atomic_write(&a, buf, pre + hlen, err, err_len))) return st;
    if (io_host_le() || nbytes == 0) {
        if ((st = io_atomic_write(&a, data, (size_t)nbytes, err, err_len))) return st;
    } else {
        unsigned char tmp[4096];
        const unsigned char *s = data;
        for (size_t off = 0; off < nbytes; off += sizeof tmp) {
            size_t chunk = nbytes - off < sizeof tmp ? (size_t)(nbytes - off) : sizeof tmp;
            for (size_t i = 0; i < chunk; i += esz)
                for (size_t j = 0; j < esz; j++) tmp[i + j] = s[off + i + esz - 1 - j];
            if ((st = io_atomic_write(&a, tmp, chunk, err, err_len))) return st;
        }
    }
    return io_atomic_commit(&a, err, err_len);
}
