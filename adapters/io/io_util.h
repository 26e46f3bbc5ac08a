/* Helpers shared by all of prism's file code: the readers and writers in
 * adapters/io, the adapter directories (adapters/adapter_files.c), the
 * subspace file, the profile store and the subspace fit (tools/fit). Internal
 * (not installed); include as "io/io_util.h" from adapters/ and tools/fit.
 * Host only: these files are also built into the parser fuzzers, which link
 * no Vulkan. */
#ifndef PRISM_IO_UTIL_H
#define PRISM_IO_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "prism/io.h"
#include "prism/prism.h"

#if defined(__GNUC__) || defined(__clang__)
#define PRISM_IO_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PRISM_IO_PRINTF(a, b)
#endif

/* Formats a message into err (when err and len are non-zero) and returns st,
 * so error paths read `return prism_errf(err, len, PRISM_ERR_FORMAT, ...);`. */
prism_status prism_errf(char *err, size_t len, prism_status st, const char *fmt, ...) PRISM_IO_PRINTF(4, 5);

/* a, b and c concatenated into a new malloc'ed string; NULL when out of memory. */
char *prism_cat3(const char *a, const char *b, const char *c);

/* mkdir -p (mode 0755): creates every missing component of dir; fails with
 * PRISM_ERR_IO unless dir is a directory afterwards. */
prism_status prism_mkdirs(const char *dir, char *err, size_t len);

/* Opens path read-only; it must be a regular file of at most max_bytes bytes
 * (PRISM_ERR_FORMAT beyond, message with "exceeds the limit"). On success
 * *fd is open (the caller closes it) and *size is the file's length. Messages
 * start with "<path>: ". */
prism_status prism_open_regular(const char *path, uint64_t max_bytes, int *fd, uint64_t *size, char *err, size_t len);

/* Room for element n of a growable array p of *cap elements of elem bytes:
 * p itself when n < *cap, else p moved to twice the capacity (16 at first)
 * with *cap updated; NULL when out of memory (p and *cap unchanged). */
void *prism_grow(void *p, size_t *cap, size_t n, size_t elem);

/* Replaces obj[key] by item, which it takes (deleted on failure); false when
 * item is NULL or out of memory. For writing JSON configs. */
bool prism_json_put(cJSON *obj, const char *key, cJSON *item);

/* A JSON integer that prints exactly. cJSON prints a number with 15
 * significant digits whenever that reads back within its relative epsilon,
 * so 8810505810008951 would be written as 8.81050581000895e+15 and read back
 * as another integer. From 1e15 up the item is raw decimal text instead
 * (prism_json_get_int reads both). NULL when out of memory. */
cJSON *prism_json_int(int64_t v);

/* Little-endian loads and stores (portable, alignment-free). */
static inline uint16_t io_le16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t io_le32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t io_le64(const unsigned char *p) { return io_le32(p) | ((uint64_t)io_le32(p + 4) << 32); }
static inline void io_put_le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline void io_put_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

#endif
