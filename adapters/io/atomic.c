/* Atomic writes, whole-file reads, messages, UTF-8 validation and element
 * conversions shared by the safetensors, .npy and JSON code. */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io_internal.h"

prism_status io_fail(prism_status st, char *err, size_t err_len, const char *label, const char *fmt, ...) {
    if (!err || err_len == 0) return st;
    int k = snprintf(err, err_len, "%s: ", label ? label : "<memory>");
    if (k < 0) k = 0;
    if ((size_t)k < err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + k, err_len - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return st;
}

static const struct { prism_dtype d; const char *name; size_t size; } dtypes[] = {
    {PRISM_DTYPE_F64, "F64", 8},  {PRISM_DTYPE_F32, "F32", 4},   {PRISM_DTYPE_F16, "F16", 2},
    {PRISM_DTYPE_BF16, "BF16", 2}, {PRISM_DTYPE_I64, "I64", 8},  {PRISM_DTYPE_I32, "I32", 4},
    {PRISM_DTYPE_I16, "I16", 2},  {PRISM_DTYPE_I8, "I8", 1},     {PRISM_DTYPE_U64, "U64", 8},
    {PRISM_DTYPE_U32, "U32", 4},  {PRISM_DTYPE_U16, "U16", 2},   {PRISM_DTYPE_U8, "U8", 1},
    {PRISM_DTYPE_BOOL, "BOOL", 1}, {PRISM_DTYPE_F8_E4M3, "F8_E4M3", 1}, {PRISM_DTYPE_F8_E5M2, "F8_E5M2", 1},
};

const char *prism_dtype_name(prism_dtype d) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].d == d) return dtypes[i].name;
    return "?";
}

size_t prism_dtype_size(prism_dtype d) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].d == d) return dtypes[i].size;
    return 0;
}

int io_utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

/* ------------------------------------------------------------ reading */

prism_status io_read_file(const char *path, uint64_t max_bytes, unsigned char **data, size_t *n,
                          char *err, size_t err_len) {
    *data = NULL;
    *n = 0;
    int fd;
    uint64_t fsize;
    prism_status st = prism_open_regular(path, max_bytes, &fd, &fsize, err, err_len);
    if (st) return st;
    size_t size = (size_t)fsize;
    unsigned char *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, path, "cannot allocate %zu bytes", size + 1);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return io_fail(PRISM_ERR_IO, err, err_len, path, "read failed: %s", strerror(e));
        }
        if (r == 0) break; /* shrank while reading: use what is there */
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    *data = buf;
    *n = got;
    return PRISM_OK;
}

/* ------------------------------------------------------------ atomic writes */

void io_atomic_abort(io_atomic *a) {
    if (a->fd >= 0) close(a->fd);
    if (a->tmp) unlink(a->tmp);
    free(a->tmp);
    free(a->path);
    a->fd = -1;
    a->tmp = a->path = NULL;
}

prism_status io_atomic_begin(io_atomic *a, const char *path, char *err, size_t err_len) {
    a->fd = -1;
    a->tmp = a->path = NULL;
    if (!path || !*path) return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, "<write>", "empty path");
    size_t len = strlen(path);
    if (path[len - 1] == '/')
        return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, path, "path names a directory");
    a->path = strdup(path);
    a->tmp = malloc(len + 16);
    if (!a->path || !a->tmp) {
        io_atomic_abort(a);
        return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, path, "out of memory");
    }
    /* "<dir>/.<base>.tmp-XXXXXX": same directory, so rename is atomic. */
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    memcpy(a->tmp, path, dirlen);
    snprintf(a->tmp + dirlen, len + 16 - dirlen, ".%s.tmp-XXXXXX", path + dirlen);
    a->fd = mkstemp(a->tmp);
    if (a->fd < 0) {
        int e = errno;
        free(a->tmp);
        a->tmp = NULL; /* nothing created */
        io_atomic_abort(a);
        return io_fail(PRISM_ERR_IO, err, err_len, path, "cannot create a temporary file: %s", strerror(e));
    }
    struct stat st;
    mode_t mode = 0644;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) mode = st.st_mode & 07777;
    if (fchmod(a->fd, mode) != 0) {
        int e = errno;
        io_atomic_abort(a);
        return io_fail(PRISM_ERR_IO, err, err_len, path, "cannot set the mode: %s", strerror(e));
    }
    return PRISM_OK;
}

prism_status io_atomic_write(io_atomic *a, const void *data, size_t n, char *err, size_t err_len) {
    const unsigned char *p = data;
    while (n > 0) {
        ssize_t w = write(a->fd, p, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            prism_status st = io_fail(PRISM_ERR_IO, err, err_len, a->path, "write failed: %s", strerror(e));
            io_atomic_abort(a);
            return st;
        }
        p += w;
        n -= (size_t)w;
    }
    return PRISM_OK;
}

prism_status io_atomic_commit(io_atomic *a, char *err, size_t err_len) {
    if (fsync(a->fd) != 0) {
        prism_status st = io_fail(PRISM_ERR_IO, err, err_len, a->path, "fsync failed: %s", strerror(errno));
        io_atomic_abort(a);
        return st;
    }
    int fd = a->fd;
    a->fd = -1;
    if (close(fd) != 0) {
        prism_status st = io_fail(PRISM_ERR_IO, err, err_len, a->path, "close failed: %s", strerror(errno));
        io_atomic_abort(a);
        return st;
    }
    if (rename(a->tmp, a->path) != 0) {
        prism_status st = io_fail(PRISM_ERR_IO, err, err_len, a->path, "rename failed: %s", strerror(errno));
        io_atomic_abort(a);
        return st;
    }
    free(a->tmp);
    a->tmp = NULL; /* renamed: nothing to remove any more */
    /* Make the rename durable. Failure here is reported, but the new file is
     * already in place. */
    char *dircopy = strdup(a->path);
    prism_status st = PRISM_OK;
    if (dircopy) {
        int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            if (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS)
                st = io_fail(PRISM_ERR_IO, err, err_len, a->path, "fsync of the directory failed: %s",
                             strerror(errno));
            close(dfd);
        }
        free(dircopy);
    }
    io_atomic_abort(a);
    return st;
}

prism_status prism_write_atomic(const char *path, const void *data, size_t n, char *err, size_t err_len) {
    if (!data && n) return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, path, "NULL data");
    io_atomic a;
    prism_status st = io_atomic_begin(&a, path, err, err_len);
    if (st) return st;
    if ((st = io_atomic_write(&a, data, n, err, err_len))) return st;
    return io_atomic_commit(&a, err, err_len);
}

/* ------------------------------------------------------------ conversions */

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float io_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    if (exp == 0) {
        if (mant == 0) return bits_f32(sign);
        uint32_t e = 113; /* 127 - 15 + 1 */
        while (!(mant & 0x400)) {
            mant <<= 1;
            e--;
        }
        return bits_f32(sign | (e << 23) | ((mant & 0x3FF) << 13));
    }
    if (exp == 31) return bits_f32(sign | 0x7F800000u | (mant << 13));
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

float io_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

float io_f64_to_f32(double d) {
    /* Out-of-range conversion is undefined in C; round as IEEE would. */
    if (isfinite(d) && fabs(d) >= 0x1.ffffffp127) return d < 0 ? -INFINITY : INFINITY;
    return (float)d;
}

int io_convert_f32(prism_dtype src, const unsigned char *p, size_t n, float *dst) {
    switch (src) {
    case PRISM_DTYPE_F32:
        if (io_host_le()) memcpy(dst, p, n * 4);
        else for (size_t i = 0; i < n; i++) dst[i] = bits_f32(io_le32(p + 4 * i));
        return 1;
    case PRISM_DTYPE_F16:
        for (size_t i = 0; i < n; i++) dst[i] = io_f16_to_f32(io_le16(p + 2 * i));
        return 1;
    case PRISM_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = io_bf16_to_f32(io_le16(p + 2 * i));
        return 1;
    case PRISM_DTYPE_F64:
        for (size_t i = 0; i < n; i++) {
            uint64_t u = io_le64(p + 8 * i);
            double d;
            memcpy(&d, &u, 8);
            dst[i] = io_f64_to_f32(d);
        }
        return 1;
    default: return 0;
    }
}

int io_convert_f64(prism_dtype src, const unsigned char *p, size_t n, double *dst) {
    switch (src) {
    case PRISM_DTYPE_F64:
        for (size_t i = 0; i < n; i++) {
            uint64_t u = io_le64(p + 8 * i);
            memcpy(&dst[i], &u, 8);
        }
        return 1;
    case PRISM_DTYPE_F32: case PRISM_DTYPE_F16: case PRISM_DTYPE_BF16: {
        size_t es = prism_dtype_size(src);
        for (size_t i = 0; i < n; i++) {
            float f;
            io_convert_f32(src, p + es * i, 1, &f);
            dst[i] = f;
        }
        return 1;
    }
    default: return 0;
    }
}

int io_convert_i64(prism_dtype src, const unsigned char *p, size_t n, int64_t *dst) {
    for (size_t i = 0; i < n; i++) {
        switch (src) {
        case PRISM_DTYPE_I64: dst[i] = (int64_t)io_le64(p + 8 * i); break;
        case PRISM_DTYPE_I32: dst[i] = (int32_t)io_le32(p + 4 * i); break;
        case PRISM_DTYPE_I16: dst[i] = (int16_t)io_le16(p + 2 * i); break;
        case PRISM_DTYPE_I8: dst[i] = (int8_t)p[i]; break;
        case PRISM_DTYPE_U32: dst[i] = io_le32(p + 4 * i); break;
        case PRISM_DTYPE_U16: dst[i] = io_le16(p + 2 * i); break;
        case PRISM_DTYPE_U8: dst[i] = p[i]; break;
        case PRISM_DTYPE_BOOL: dst[i] = p[i] != 0; break;
        default: return 0;
        }
    }
    return 1;
}
