/* Fashion-MNIST IDX reader (zlib).
 *
 * IDX: 2 zero bytes, an element-type byte (0x08 = unsigned byte), a dims
 * byte, then each dim as a big-endian uint32, then the data. The files are
 * hostile input like any other: the header is checked before anything is
 * allocated, the allocation is bounded, the data must be exactly as long as
 * the dims say, and the gzip trailer (CRC-32 and length) must verify. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "train.h"

/* Far above the real files (47 MB) but small enough to refuse absurd headers. */
#define PT_IDX_MAX_BYTES ((int64_t)1 << 30)
#define PT_IDX_MAX_COUNT 10000000

static prism_status fail(prism_status st, char *err, size_t len, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static prism_status fail(prism_status st, char *err, size_t len, const char *path, const char *fmt, ...) {
    if (err && len) {
        char reason[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, sizeof reason, fmt, ap);
        va_end(ap);
        snprintf(err, len,
                 "%s: %s (Fashion-MNIST comes from the Debian package %s: "
                 "apt-get install %s; or pass --data DIR)",
                 path, reason, PT_DATA_PACKAGE, PT_DATA_PACKAGE);
    }
    return st;
}

/* Reads exactly n bytes; a short read is a truncated or corrupt stream. */
static prism_status read_exact(gzFile g, const char *path, void *dst, size_t n, const char *what,
                               char *err, size_t err_len) {
    size_t got = 0;
    while (got < n) {
        size_t chunk = n - got > (1u << 30) ? (1u << 30) : n - got;
        int r = gzread(g, (char *)dst + got, (unsigned)chunk);
        if (r <= 0) {
            int zerr = Z_OK;
            const char *msg = gzerror(g, &zerr);
            if (r < 0 || (zerr != Z_OK && zerr != Z_STREAM_END))
                return fail(PRISM_ERR_FORMAT, err, err_len, path, "corrupt data while reading %s: %s",
                            what, msg && *msg ? msg : "zlib error");
            return fail(PRISM_ERR_FORMAT, err, err_len, path,
                        "truncated: %s ends after %zu of %zu bytes", what, got, n);
        }
        got += (size_t)r;
    }
    return PRISM_OK;
}

prism_status pt_idx_read(const char *path, int ndim, int64_t *dims, uint8_t **data, char *err,
                         size_t err_len) {
    if (!path || !dims || !data || ndim < 1 || ndim > 4) {
        if (err && err_len) snprintf(err, err_len, "pt_idx_read: invalid argument");
        return PRISM_ERR_INVALID_ARGUMENT;
    }
    *data = NULL;
    prism_status st = PRISM_OK;
    uint8_t *buf = NULL;
    gzFile g = gzopen(path, "rb");
    if (!g)
        return fail(PRISM_ERR_IO, err, err_len, path, "cannot open: %s",
                    errno ? strerror(errno) : "out of memory");
    unsigned char head[4];
    if ((st = read_exact(g, path, head, 4, "the IDX header", err, err_len))) goto done;
    if (head[0] != 0 || head[1] != 0) {
        st = fail(PRISM_ERR_FORMAT, err, err_len, path,
                  "not an IDX file (magic bytes %02x %02x %02x %02x, expected 00 00 08 %02x)", head[0],
                  head[1], head[2], head[3], ndim);
        goto done;
    }
    if (head[2] != 0x08) {
        st = fail(PRISM_ERR_FORMAT, err, err_len, path,
                  "IDX element type 0x%02x, expected 0x08 (unsigned byte)", head[2]);
        goto done;
    }
    if (head[3] != ndim) {
        st = fail(PRISM_ERR_FORMAT, err, err_len, path, "IDX file has %d dims, expected %d", head[3], ndim);
        goto done;
    }
    int64_t total = 1;
    for (int i = 0; i < ndim; i++) {
        unsigned char d[4];
        if ((st = read_exact(g, path, d, 4, "the IDX dims", err, err_len))) goto done;
        dims[i] = ((int64_t)d[0] << 24) | ((int64_t)d[1] << 16) | ((int64_t)d[2] << 8) | d[3];
        if (dims[i] < 1 || dims[i] > PT_IDX_MAX_COUNT) {
            st = fail(PRISM_ERR_FORMAT, err, err_len, path, "IDX dim %d is %lld (must be 1..%d)", i,
                      (long long)dims[i], PT_IDX_MAX_COUNT);
            goto done;
        }
        total *= dims[i];
        if (total > PT_IDX_MAX_BYTES) {
            st = fail(PRISM_ERR_FORMAT, err, err_len, path, "IDX data would exceed %lld bytes",
                      (long long)PT_IDX_MAX_BYTES);
            goto done;
        }
    }
    buf = malloc((size_t)total);
    if (!buf) {
        st = fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, path, "cannot allocate %lld bytes",
                  (long long)total);
        goto done;
    }
    if ((st = read_exact(g, path, buf, (size_t)total, "the IDX data", err, err_len))) goto done;
    /* One more read: must hit the end and verify the gzip trailer. */
    unsigned char extra;
    int r = gzread(g, &extra, 1);
    int zerr = Z_OK;
    const char *msg = gzerror(g, &zerr);
    if (r > 0) {
        st = fail(PRISM_ERR_FORMAT, err, err_len, path, "trailing bytes after %lld bytes of IDX data",
                  (long long)total);
        goto done;
    }
    if (r < 0 || (zerr != Z_OK && zerr != Z_STREAM_END)) {
        st = fail(PRISM_ERR_FORMAT, err, err_len, path, "corrupt gzip stream: %s",
                  msg && *msg ? msg : "zlib error");
        goto done;
    }
    *data = buf;
    buf = NULL;
done:
    free(buf);
    gzclose(g);
    return st;
}

void pt_images_free(pt_images *im) {
    if (!im) return;
    free(im->pix);
    free(im->labels);
    memset(im, 0, sizeof *im);
}

prism_status pt_fmnist_load(const char *dir, const char *split, pt_images *out, char *err,
                            size_t err_len) {
    if (!out || !split) return PRISM_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    if (!dir) dir = PT_DEFAULT_DATA_DIR;
    char ipath[4096], lpath[4096];
    snprintf(ipath, sizeof ipath, "%s/%s-images-idx3-ubyte.gz", dir, split);
    snprintf(lpath, sizeof lpath, "%s/%s-labels-idx1-ubyte.gz", dir, split);
    int64_t idims[3], ldims[1];
    uint8_t *pix = NULL, *lab = NULL;
    prism_status st = pt_idx_read(ipath, 3, idims, &pix, err, err_len);
    if (st) return st;
    if ((st = pt_idx_read(lpath, 1, ldims, &lab, err, err_len))) goto bad;
    if (idims[1] != 28 || idims[2] != 28) {
        st = fail(PRISM_ERR_FORMAT, err, err_len, ipath, "images are %lldx%lld, expected 28x28",
                  (long long)idims[1], (long long)idims[2]);
        goto bad;
    }
    if (idims[0] != ldims[0]) {
        st = fail(PRISM_ERR_FORMAT, err, err_len, lpath, "%lld labels for %lld images in %s",
                  (long long)ldims[0], (long long)idims[0], ipath);
        goto bad;
    }
    for (int64_t i = 0; i < ldims[0]; i++)
        if (lab[i] >= PT_CLASSES) {
            st = fail(PRISM_ERR_FORMAT, err, err_len, lpath, "label %d at index %lld (must be 0..9)",
                      lab[i], (long long)i);
            goto bad;
        }
    out->n = idims[0];
    out->rows = (int)idims[1];
    out->cols = (int)idims[2];
    out->pix = pix;
    out->labels = lab;
    return PRISM_OK;
bad:
    free(pix);
    free(lab);
    return st;
}

prism_status pt_images_subset(const pt_images *im, int64_t n, pt_images *out, char *err,
                              size_t err_len) {
    memset(out, 0, sizeof *out);
    if (n < 1 || n > im->n) {
        if (err && err_len)
            snprintf(err, err_len, "subset of %lld images requested from a set of %lld", (long long)n,
                     (long long)im->n);
        return PRISM_ERR_INVALID_ARGUMENT;
    }
    size_t px = (size_t)im->rows * (size_t)im->cols;
    out->pix = malloc((size_t)n * px);
    out->labels = malloc((size_t)n);
    if (!out->pix || !out->labels) {
        pt_images_free(out);
        if (err && err_len) snprintf(err, err_len, "out of host memory for %lld images", (long long)n);
        return PRISM_ERR_OUT_OF_HOST_MEMORY;
    }
    memcpy(out->pix, im->pix, (size_t)n * px);
    memcpy(out->labels, im->labels, (size_t)n);
    out->n = n;
    out->rows = im->rows;
    out->cols = im->cols;
    return PRISM_OK;
}
