/* JSON files (adapter_config.json) through cJSON, with the checks cJSON does
 * not make itself: size limit, NUL bytes and \u0000, UTF-8, nesting depth,
 * duplicate keys, trailing content. Typed getters with defaults. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include "io_internal.h"

static void line_col(const unsigned char *s, size_t off, size_t *line, size_t *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (s[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

#define AT_FAIL(off, ...)                                                                                      \
    do {                                                                                                       \
        size_t ln_, co_;                                                                                       \
        line_col(s, (off), &ln_, &co_);                                                                        \
        char msg_[160];                                                                                        \
        snprintf(msg_, sizeof msg_, __VA_ARGS__);                                                              \
        return io_fail(PRISM_ERR_FORMAT, err, err_len, label, "%zu:%zu: %s", ln_, co_, msg_);                  \
    } while (0)

/* NUL bytes, \u0000 escapes and nesting depth, before cJSON sees the text. */
static prism_status prescan(const unsigned char *s, size_t n, const char *label, char *err, size_t err_len) {
    int in_str = 0, depth = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == 0) AT_FAIL(i, "NUL byte");
        if (in_str) {
            if (c == '\\') {
                if (i + 1 < n && s[i + 1] == 'u' && n - i >= 6 && memcmp(s + i + 2, "0000", 4) == 0)
                    AT_FAIL(i, "\\u0000 in a string");
                i++; /* skip the escaped character */
            } else if (c == '"') {
                in_str = 0;
            }
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > PRISM_JSON_MAX_DEPTH) AT_FAIL(i, "nesting deeper than %d", PRISM_JSON_MAX_DEPTH);
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return PRISM_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Duplicate keys anywhere in the tree (depth is bounded by the prescan). */
static prism_status no_dups(const cJSON *item, const char *label, char *err, size_t err_len) {
    size_t n = 0;
    for (const cJSON *c = item->child; c; c = c->next) {
        prism_status st = no_dups(c, label, err, err_len);
        if (st) return st;
        n++;
    }
    if (!cJSON_IsObject(item) || n < 2) return PRISM_OK;
    char **keys = malloc(n * sizeof *keys);
    if (!keys) return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, label, "out of memory");
    size_t k = 0;
    for (const cJSON *c = item->child; c; c = c->next) keys[k++] = c->string ? c->string : "";
    qsort(keys, n, sizeof *keys, cmp_str);
    for (size_t i = 1; i < n; i++)
        if (strcmp(keys[i], keys[i - 1]) == 0) {
            prism_status st = io_fail(PRISM_ERR_FORMAT, err, err_len, label, "duplicate key '%.128s'", keys[i]);
            free(keys);
            return st;
        }
    free(keys);
    return PRISM_OK;
}

prism_status prism_json_parse(const void *data, size_t n, const char *label, cJSON **out, char *err, size_t err_len) {
    if (!label) label = "<memory>";
    if (!out || (!data && n)) return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, label, "NULL argument");
    *out = NULL;
    const unsigned char *s = data;
    prism_status st = prescan(s, n, label, err, err_len);
    if (st) return st;
    if (!io_utf8_valid(s, n)) return io_fail(PRISM_ERR_FORMAT, err, err_len, label, "invalid UTF-8");
    const char *end = NULL;
    cJSON *root = n ? cJSON_ParseWithLengthOpts((const char *)s, n, &end, 0) : NULL;
    if (!root) {
        size_t off = end && end >= (const char *)s && end <= (const char *)s + n ? (size_t)(end - (const char *)s) : 0;
        AT_FAIL(off, "invalid JSON");
    }
    size_t off = (size_t)(end - (const char *)s);
    while (off < n && (s[off] == ' ' || s[off] == '\t' || s[off] == '\n' || s[off] == '\r')) off++;
    if (off < n) {
        cJSON_Delete(root);
        AT_FAIL(off, "trailing content after the JSON value");
    }
    if ((st = no_dups(root, label, err, err_len))) {
        cJSON_Delete(root);
        return st;
    }
    *out = root;
    return PRISM_OK;
}

prism_status prism_json_read(const char *path, size_t max_bytes, cJSON **out, char *err, size_t err_len) {
    if (!path || !out) return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, path, "NULL argument");
    *out = NULL;
    unsigned char *buf;
    size_t n;
    prism_status st = io_read_file(path, max_bytes ? max_bytes : PRISM_JSON_DEFAULT_MAX_FILE, &buf, &n, err, err_len);
    if (st) return st;
    st = prism_json_parse(buf, n, path, out, err, err_len);
    free(buf);
    return st;
}

prism_status prism_json_write(const char *path, const cJSON *root, char *err, size_t err_len) {
    if (!path || !root) return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, path, "NULL argument");
    char *text = cJSON_Print(root);
    if (!text) return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, path, "cannot print the JSON tree");
    size_t n = strlen(text);
    char *full = malloc(n + 2);
    if (!full) {
        cJSON_free(text);
        return io_fail(PRISM_ERR_OUT_OF_HOST_MEMORY, err, err_len, path, "out of memory");
    }
    memcpy(full, text, n);
    full[n] = '\n';
    cJSON_free(text);
    prism_status st = prism_write_atomic(path, full, n + 1, err, err_len);
    free(full);
    return st;
}

/* ------------------------------------------------------------ getters */

static const char *type_name(const cJSON *v) {
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "of unknown type";
}

/* The item under key, or NULL when it is missing or null (the caller's default). */
static prism_status lookup(const cJSON *obj, const char *key, const void *out, const cJSON **item, char *err,
                           size_t err_len) {
    *item = NULL;
    if (!obj || !key || !out || !cJSON_IsObject(obj))
        return io_fail(PRISM_ERR_INVALID_ARGUMENT, err, err_len, "<json>", "NULL key or out, or not an object");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (v && !cJSON_IsNull(v)) *item = v;
    return PRISM_OK;
}

/* In a getter (its obj, key, out, err, err_len): declares v = obj[key], or
 * stores def in *out and returns when the key is absent or null. */
#define GET_OR_DEFAULT(v, def)                                                                                   \
    const cJSON *v;                                                                                              \
    do {                                                                                                         \
        prism_status st_ = lookup(obj, key, out, &v, err, err_len);                                              \
        if (st_ || !v) {                                                                                         \
            if (!st_) *out = (def);                                                                              \
            return st_;                                                                                          \
        }                                                                                                        \
    } while (0)

#define MISMATCH(v, key, want)                                                                                   \
    io_fail(PRISM_ERR_FORMAT, err, err_len, "<json>", "'%.128s' is %s, expected %s", key, type_name(v), want)

prism_status prism_json_get_int(const cJSON *obj, const char *key, int64_t def, int64_t *out, char *err,
                                size_t err_len) {
    GET_OR_DEFAULT(v, def);
    const int64_t exact = (int64_t)1 << 53; /* 2^53: every integer up to it is exact in a double */
    if (cJSON_IsRaw(v) && v->valuestring) {
        /* an item from prism_json_int in a tree that was not printed */
        char *end = NULL;
        errno = 0;
        long long x = strtoll(v->valuestring, &end, 10);
        if (end == v->valuestring || *end || errno == ERANGE || x > exact || x < -exact)
            return io_fail(PRISM_ERR_FORMAT, err, err_len, "<json>", "'%.128s' is '%.32s', expected an integer", key,
                           v->valuestring);
        *out = x;
        return PRISM_OK;
    }
    if (!cJSON_IsNumber(v)) return MISMATCH(v, key, "an integer");
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || fabs(d) > (double)exact)
        return io_fail(PRISM_ERR_FORMAT, err, err_len, "<json>", "'%.128s' is %g, expected an integer", key, d);
    *out = (int64_t)d;
    return PRISM_OK;
}

prism_status prism_json_get_double(const cJSON *obj, const char *key, double def, double *out, char *err,
                                   size_t err_len) {
    GET_OR_DEFAULT(v, def);
    if (!cJSON_IsNumber(v)) return MISMATCH(v, key, "a number");
    if (!isfinite(v->valuedouble))
        return io_fail(PRISM_ERR_FORMAT, err, err_len, "<json>", "'%.128s' is not finite", key);
    *out = v->valuedouble;
    return PRISM_OK;
}

prism_status prism_json_get_bool(const cJSON *obj, const char *key, int def, int *out, char *err, size_t err_len) {
    GET_OR_DEFAULT(v, def);
    if (!cJSON_IsBool(v)) return MISMATCH(v, key, "a boolean");
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return PRISM_OK;
}

prism_status prism_json_get_string(const cJSON *obj, const char *key, const char *def, const char **out, char *err,
                                   size_t err_len) {
    GET_OR_DEFAULT(v, def);
    if (!cJSON_IsString(v) || !v->valuestring) return MISMATCH(v, key, "a string");
    *out = v->valuestring;
    return PRISM_OK;
}
