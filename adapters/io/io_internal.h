/* Shared helpers of the file readers and writers (adapters/io). */
#ifndef PRISM_IO_INTERNAL_H
#define PRISM_IO_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "prism/io.h"
#include "io_util.h"

#if defined(__GNUC__) || defined(__clang__)
#define IO_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define IO_PRINTF(a, b)
#endif

/* Writes "<label>: <message>" into err (if any); returns st. */
prism_status io_fail(prism_status st, char *err, size_t err_len, const char *label, const char *fmt, ...)
    IO_PRINTF(5, 6);

/* 1 when s[0..n) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int io_utf8_valid(const unsigned char *s, size_t n);

/* a * b into *out; 0 on overflow. */
static inline int io_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    if (a != 0 && b > UINT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* Reads a whole regular file (at most max_bytes) into a malloc'ed buffer
 * (one extra NUL byte after the data). */
prism_status io_read_file(const char *path, uint64_t max_bytes, unsigned char **data, size_t *n,
                          char *err, size_t err_len);

/* Streaming atomic write: begin, write*, then commit or abort. */
typedef struct io_atomic {
    int fd;
    char *path; /* target */
    char *tmp;  /* temporary in the same directory */
} io_atomic;
prism_status io_atomic_begin(io_atomic *a, const char *path, char *err, size_t err_len);
prism_status io_atomic_write(io_atomic *a, const void *data, size_t n, char *err, size_t err_len);
prism_status io_atomic_commit(io_atomic *a, char *err, size_t err_len); /* aborts on failure */
void io_atomic_abort(io_atomic *a);

static inline int io_host_le(void) {
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

/* IEEE half / bfloat16 / double to float (subnormals, inf, NaN, -0 exact). */
float io_f16_to_f32(uint16_t h);
float io_bf16_to_f32(uint16_t h);
float io_f64_to_f32(double d);

/* Converts n little-endian elements of src type to float / double / int64.
 * Return 0 when the type does not convert. */
int io_convert_f32(prism_dtype src, const unsigned char *p, size_t n, float *dst);
int io_convert_f64(prism_dtype src, const unsigned char *p, size_t n, double *dst);
int io_convert_i64(prism_dtype src, const unsigned char *p, size_t n, int64_t *dst);

#endif
