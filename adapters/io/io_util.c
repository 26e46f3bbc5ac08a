/* The shared file helpers of io_util.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io_util.h"

prism_status prism_errf(char *err, size_t len, prism_status st, const char *fmt, ...) {
    if (err && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return st;
}

char *prism_cat3(const char *a, const char *b, const char *c) {
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + 1);
    if (!s) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc + 1);
    return s;
}

prism_status prism_mkdirs(const char *dir, char *err, size_t len) {
    if (!dir || !*dir) return prism_errf(err, len, PRISM_ERR_INVALID_ARGUMENT, "mkdirs: directory is NULL or empty");
    size_t n = strlen(dir);
    char *p = malloc(n + 1);
    if (!p) return prism_errf(err, len, PRISM_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    memcpy(p, dir, n + 1);
    prism_status st = PRISM_OK;
    /* each prefix ending before a '/' (and the whole path); EEXIST is fine
     * here, whether it is a directory is checked once at the end */
    for (size_t i = 1; i <= n && !st; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            st = prism_errf(err, len, PRISM_ERR_IO, "cannot create directory '%s': %s", p, strerror(errno));
        p[i] = c;
    }
    struct stat sb;
    if (!st && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        st = prism_errf(err, len, PRISM_ERR_IO, "'%s' is not a directory", dir);
    free(p);
    return st;
}

prism_status prism_open_regular(const char *path, uint64_t max_bytes, int *fd, uint64_t *size, char *err,
                                size_t len) {
    *fd = -1;
    *size = 0;
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return prism_errf(err, len, PRISM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(f, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(f);
        return prism_errf(err, len, PRISM_ERR_IO, "%s: not a readable regular file", path);
    }
    /* SIZE_MAX: the callers map or buffer the whole file (plus a NUL) */
    if (sb.st_size < 0 || (uint64_t)sb.st_size > max_bytes || (uint64_t)sb.st_size >= SIZE_MAX) {
        close(f);
        return prism_errf(err, len, PRISM_ERR_FORMAT, "%s: file of %lld bytes exceeds the limit of %llu bytes", path,
                          (long long)sb.st_size, (unsigned long long)max_bytes);
    }
    *fd = f;
    *size = (uint64_t)sb.st_size;
    return PRISM_OK;
}

void *prism_grow(void *p, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return p;
    size_t c = *cap ? 2 * *cap : 16;
    if (c > SIZE_MAX / 2 / elem) return NULL;
    void *q = realloc(p, c * elem);
    if (q) *cap = c;
    return q;
}

cJSON *prism_json_int(int64_t v) {
    if (v > -1000000000000000LL && v < 1000000000000000LL) return cJSON_CreateNumber((double)v);
    char text[24];
    snprintf(text, sizeof text, "%lld", (long long)v);
    return cJSON_CreateRaw(text);
}

bool prism_json_put(cJSON *obj, const char *key, cJSON *item) {
    if (!item) return false;
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    if (!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}
