/* prism file I/O: safetensors, .npy, JSON (adapter_config.json), atomic writes.
 *
 * Host-side only: nothing here needs a prism_context. Every function returns a
 * prism_status and, on failure, writes a message naming the file (or the
 * caller's label for in-memory data) and the reason into the caller's
 * err/err_len buffer (may be NULL/0). Every parser treats its input as
 * hostile: sizes and offsets are bounds- and overflow-checked, malformed
 * content is PRISM_ERR_FORMAT, file-system failures are PRISM_ERR_IO.
 * Writers are atomic: a temporary file in the destination directory is
 * written, fsync'ed and renamed over the target, then the directory is
 * fsync'ed; on failure the old file is left untouched and the temporary
 * file removed. Not thread-safe per object; distinct objects are
 * independent. */
#ifndef PRISM_IO_H
#define PRISM_IO_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "prism/prism.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PRISM_IO_MAX_DIMS 8

/* Element types of safetensors and .npy files. */
typedef enum prism_dtype {
    PRISM_DTYPE_INVALID = 0,
    PRISM_DTYPE_F64, PRISM_DTYPE_F32, PRISM_DTYPE_F16, PRISM_DTYPE_BF16,
    PRISM_DTYPE_I64, PRISM_DTYPE_I32, PRISM_DTYPE_I16, PRISM_DTYPE_I8,
    PRISM_DTYPE_U64, PRISM_DTYPE_U32, PRISM_DTYPE_U16, PRISM_DTYPE_U8,
    PRISM_DTYPE_BOOL, PRISM_DTYPE_F8_E4M3, PRISM_DTYPE_F8_E5M2
} prism_dtype;

/* "F32", "BF16", ... (safetensors spelling); "?" for an invalid value. */
const char *prism_dtype_name(prism_dtype d);
/* Bytes per element, 0 for an invalid value. */
size_t prism_dtype_size(prism_dtype d);

/* ------------------------------------------------------------ atomic write */

/* Writes n bytes to path atomically (temp file in the same directory, fsync,
 * rename, fsync of the directory). PRISM_ERR_IO on any failure, with the old
 * file (if any) unchanged and no temp file left behind. A new file gets mode
 * 0644 (an existing file keeps its mode). */
prism_status prism_write_atomic(const char *path, const void *data, size_t n, char *err, size_t err_len);

/* ------------------------------------------------------------ safetensors */

typedef struct prism_st_tensor {
    const char *name;                  /* NUL-terminated, valid UTF-8, no NUL inside */
    prism_dtype dtype;
    int ndim;                          /* 0..PRISM_IO_MAX_DIMS; 0 = scalar */
    int64_t shape[PRISM_IO_MAX_DIMS];
    int64_t numel;                     /* product of shape (1 for a scalar) */
    uint64_t offset;                   /* byte offset of the data from the file start */
    uint64_t nbytes;                   /* numel * dtype size */
} prism_st_tensor;

typedef struct prism_st_file prism_st_file;

#define PRISM_ST_MAX_HEADER (100u * 1000u * 1000u) /* bytes of JSON header */
#define PRISM_ST_MAX_TENSORS 1000000
#define PRISM_ST_DEFAULT_MAX_FILE ((uint64_t)64 << 30) /* 64 GiB */

/* Opens and validates a .safetensors file (memory-mapped, read-only).
 * max_file_bytes: larger files are refused (0 = PRISM_ST_DEFAULT_MAX_FILE).
 * Validation: header length within the file and <= PRISM_ST_MAX_HEADER, JSON
 * well-formed with nothing but spaces after it, known dtypes, <= 8 dims,
 * shape products and byte sizes without overflow and equal to the
 * data_offsets span, offsets covering the data buffer exactly (in bounds, no
 * overlap, no gap, no trailing bytes), unique non-empty names without NUL,
 * string-only __metadata__ values. */
prism_status prism_st_open(const char *path, uint64_t max_file_bytes, prism_st_file **out,
                           char *err, size_t err_len);
/* Same validation on an in-memory image. The data is NOT copied: it must stay
 * valid and unchanged until prism_st_close. label names it in messages
 * (NULL: "<memory>"). */
prism_status prism_st_parse(const void *data, size_t n, const char *label, prism_st_file **out,
                            char *err, size_t err_len);
void prism_st_close(prism_st_file *f);

/* Tensors in header order. */
size_t prism_st_count(const prism_st_file *f);
const prism_st_tensor *prism_st_tensor_at(const prism_st_file *f, size_t i);
/* NULL when absent (O(log n)). */
const prism_st_tensor *prism_st_find(const prism_st_file *f, const char *name);
/* Raw little-endian bytes of a tensor (t->nbytes of them). */
const void *prism_st_data(const prism_st_file *f, const prism_st_tensor *t);

/* __metadata__ entries, in header order. */
size_t prism_st_meta_count(const prism_st_file *f);
void prism_st_meta_at(const prism_st_file *f, size_t i, const char **key, const char **value);
/* NULL when absent. */
const char *prism_st_meta_get(const prism_st_file *f, const char *key);

/* Reads tensor `name` converted to float32 (from F32, F16, BF16, F64; F64
 * values beyond float range become +-inf) into dst, which holds exactly
 * `count` elements: PRISM_ERR_SHAPE unless count == numel,
 * PRISM_ERR_INVALID_ARGUMENT when the tensor is absent, PRISM_ERR_FORMAT for a
 * dtype that does not convert. */
prism_status prism_st_read_f32(const prism_st_file *f, const char *name, float *dst, int64_t count,
                               char *err, size_t err_len);
/* Same, to int64 (from I64, I32, I16, I8, U32, U16, U8, BOOL). */
prism_status prism_st_read_i64(const prism_st_file *f, const char *name, int64_t *dst, int64_t count,
                               char *err, size_t err_len);

/* Writer: collects tensors (data copied) and metadata, writes atomically.
 * Layout as HF safetensors: header keys "__metadata__" first (omitted when
 * empty), then tensors ordered by decreasing element size then name (byte
 * order), data in the same order, header padded with spaces to 8 bytes. */
typedef struct prism_st_writer prism_st_writer;
prism_status prism_st_writer_create(prism_st_writer **out);
void prism_st_writer_destroy(prism_st_writer *w);
/* PRISM_ERR_INVALID_ARGUMENT for a NULL/empty/duplicate/invalid-UTF-8 name,
 * the name "__metadata__", ndim outside 0..8, negative dims, or a size
 * overflow. */
prism_status prism_st_writer_add_f32(prism_st_writer *w, const char *name, int ndim, const int64_t *shape,
                                     const float *data, char *err, size_t err_len);
prism_status prism_st_writer_add_i64(prism_st_writer *w, const char *name, int ndim, const int64_t *shape,
                                     const int64_t *data, char *err, size_t err_len);
/* Sets (or replaces) a metadata entry; keys and values valid UTF-8. */
prism_status prism_st_writer_set_meta(prism_st_writer *w, const char *key, const char *value,
                                      char *err, size_t err_len);
/* Serialises to a malloc'ed buffer (caller frees). */
prism_status prism_st_writer_serialize(const prism_st_writer *w, void **data, size_t *n,
                                       char *err, size_t err_len);
prism_status prism_st_writer_write(const prism_st_writer *w, const char *path, char *err, size_t err_len);

/* ------------------------------------------------------------ .npy */

/* An array read from .npy, converted to `dtype` (F32, F64 or I64). */
typedef struct prism_npy_array {
    prism_dtype dtype;               /* element type of data */
    prism_dtype file_dtype;          /* element type in the file */
    int ndim;                        /* 0..PRISM_IO_MAX_DIMS */
    int64_t shape[PRISM_IO_MAX_DIMS];
    int64_t numel;
    void *data;                      /* numel elements of dtype; free with prism_npy_free */
} prism_npy_array;

#define PRISM_NPY_DEFAULT_MAX_FILE ((uint64_t)16 << 30) /* 16 GiB */

/* Reads a .npy file (format 1.0, 2.0 or 3.0; C order; little-endian or
 * single-byte '<f2' '<f4' '<f8' '<i8' '<i4' '<i2' '|i1' '|u1' '|b1')
 * converted to want: F32 or F64 from floats, I64 from integers/bool.
 * max_file_bytes 0 = PRISM_NPY_DEFAULT_MAX_FILE. Fortran order, big-endian,
 * other dtypes, bad header syntax, shape overflow, truncated or trailing data
 * are PRISM_ERR_FORMAT. */
prism_status prism_npy_read(const char *path, prism_dtype want, uint64_t max_file_bytes,
                            prism_npy_array *out, char *err, size_t err_len);
prism_status prism_npy_parse(const void *data, size_t n, const char *label, prism_dtype want,
                             prism_npy_array *out, char *err, size_t err_len);
void prism_npy_free(prism_npy_array *a);
/* Writes '<f4' (F32), '<f8' (F64) or '<i8' (I64) in format 1.0 (2.0 when the
 * header does not fit 1.0), C order, data 64-byte aligned, atomically. */
prism_status prism_npy_write(const char *path, prism_dtype dtype, int ndim, const int64_t *shape,
                             const void *data, char *err, size_t err_len);

/* ------------------------------------------------------------ JSON */

#define PRISM_JSON_DEFAULT_MAX_FILE ((size_t)16 << 20) /* 16 MiB */
#define PRISM_JSON_MAX_DEPTH 64

/* Reads and parses a JSON file (max_bytes 0 = PRISM_JSON_DEFAULT_MAX_FILE).
 * Rejects (PRISM_ERR_FORMAT) NUL bytes and "\u0000" escapes, invalid UTF-8,
 * nesting deeper than PRISM_JSON_MAX_DEPTH, duplicate keys in an object,
 * anything but whitespace after the value; the message has line:column.
 * *out is freed with cJSON_Delete. */
prism_status prism_json_read(const char *path, size_t max_bytes, cJSON **out, char *err, size_t err_len);
prism_status prism_json_parse(const void *data, size_t n, const char *label, cJSON **out,
                              char *err, size_t err_len);
/* Writes root pretty-printed (plus a final newline) atomically. */
prism_status prism_json_write(const char *path, const cJSON *root, char *err, size_t err_len);

/* Typed getters on object `obj`: a missing key or a JSON null gives def and
 * PRISM_OK; a value of another type is PRISM_ERR_FORMAT ("'r' is a string,
 * expected an integer"). Integers must be integral and fit int64 exactly
 * (|v| <= 2^53); prism_json_get_int also takes the raw decimal items that
 * prism writes for integers from 1e15 up (an unprinted tree). Doubles must be
 * finite. Strings point into the tree. A NULL
 * or non-object obj is PRISM_ERR_INVALID_ARGUMENT. */
prism_status prism_json_get_int(const cJSON *obj, const char *key, int64_t def, int64_t *out,
                                char *err, size_t err_len);
prism_status prism_json_get_double(const cJSON *obj, const char *key, double def, double *out,
                                   char *err, size_t err_len);
prism_status prism_json_get_bool(const cJSON *obj, const char *key, int def, int *out,
                                 char *err, size_t err_len);
prism_status prism_json_get_string(const cJSON *obj, const char *key, const char *def, const char **out,
                                   char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
