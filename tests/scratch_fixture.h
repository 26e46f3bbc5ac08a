/* Scratch files for tests that write files: directories under /tmp that
 * are removed in-process (no shell), a per-test working directory `wd` made
 * by the suite's .init (wd_setup) and removed by its .fini (wd_teardown),
 * names in it (P), whole-file writes, the two files of an adapter directory.
 * Header-only (static); needs no device (tests/test_io.c uses it too). */
#ifndef PRISM_TEST_SCRATCH_FIXTURE_H
#define PRISM_TEST_SCRATCH_FIXTURE_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "prism/io.h"

/* Removes path and everything below it; 0 on success. */
static inline int fx_remove_tree(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return -1;
    if (!S_ISDIR(sb.st_mode)) return unlink(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *sub = malloc(strlen(path) + strlen(e->d_name) + 2);
        if (!sub) {
            rc = -1;
            break;
        }
        sprintf(sub, "%s/%s", path, e->d_name);
        rc |= fx_remove_tree(sub);
        free(sub);
    }
    closedir(d);
    return rc | rmdir(path);
}

/* A fresh directory /tmp/prism_<tag>_XXXXXX (malloc'd). */
static inline char *fx_tmpdir(const char *tag) {
    char *d = malloc(strlen(tag) + 32);
    cr_assert_not_null(d);
    sprintf(d, "/tmp/prism_%s_XXXXXX", tag);
    cr_assert_not_null(mkdtemp(d), "mkdtemp %s", d);
    return d;
}

/* Removes the directory d made by fx_tmpdir and frees it. */
static inline void fx_tmpdir_done(char *d) {
    cr_expect_eq(fx_remove_tree(d), 0, "cannot remove %s", d);
    free(d);
}

/* dir/rel (malloc'd). */
static inline char *fx_path(const char *dir, const char *rel) {
    char *p = malloc(strlen(dir) + strlen(rel) + 2);
    cr_assert_not_null(p);
    sprintf(p, "%s/%s", dir, rel);
    return p;
}

/* The files of the adapter directory dir: adapter_config.json parsed into
 * *cfg and adapter_model.safetensors opened into *st (each when not NULL). */
static inline void fx_adapter_dir(const char *dir, cJSON **cfg, prism_st_file **st) {
    char path[1024], err[256];
    if (cfg) {
        snprintf(path, sizeof path, "%s/adapter_config.json", dir);
        cr_assert_eq(prism_json_read(path, 0, cfg, err, sizeof err), PRISM_OK, "%s", err);
    }
    if (st) {
        snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
        cr_assert_eq(prism_st_open(path, 0, st, err, sizeof err), PRISM_OK, "%s", err);
    }
}

static inline cJSON *fx_read_config(const char *dir) {
    cJSON *cfg = NULL;
    fx_adapter_dir(dir, &cfg, NULL);
    return cfg;
}

static inline prism_st_file *fx_open_tensors(const char *dir) {
    prism_st_file *st = NULL;
    fx_adapter_dir(dir, NULL, &st);
    return st;
}

static inline void fx_write_config(const char *dir, const cJSON *root) {
    char *p = fx_path(dir, "adapter_config.json"), err[256];
    cr_assert_eq(prism_json_write(p, root, err, sizeof err), PRISM_OK, "%s", err);
    free(p);
}

/* ------------------------------------------------------------ working directory */

static char wd[256];

static inline void wd_setup(const char *tag) {
    snprintf(wd, sizeof wd, "/tmp/prism-%s-XXXXXX", tag);
    cr_assert_not_null(mkdtemp(wd));
}

/* Also after a test left a read-only directory in wd. Criterion does not
 * run .fini after cr_skip_test: a test that skips calls this first. */
static inline void wd_teardown(void) {
    if (!wd[0]) return;
    chmod(wd, 0755);
    fx_remove_tree(wd);
    wd[0] = 0;
}

/* wd/name; the last eight stay valid. */
static inline const char *P(const char *name) {
    static char buf[8][512];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, 512, "%s/%s", wd, name);
    return b;
}

static inline void put_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

#endif
