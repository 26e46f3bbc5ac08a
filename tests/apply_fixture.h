/* Fixtures of the adapter-tool tests (tests/test_apply.c, test_apply_merge.c,
 * test_apply_errors.c): the prism binary run in a scratch directory per test,
 * random data rounded to float so that every backend and file sees the same
 * values, .npy and safetensors files, saved adapters with random parameters
 * and what the library computes from them in-process. Header-only (static). */
#ifndef PRISM_TEST_APPLY_FIXTURE_H
#define PRISM_TEST_APPLY_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "adapter_fixture.h"
#include "cli_fixture.h"
#include "prism/adapter.h"
#include "scratch_fixture.h"

static char err[1024];

/* The suite's .init / .fini: the binary (or a skip) and the scratch dir. */
static inline void apply_setup(void) {
    cli_find();
    wd_setup("apply");
}
static inline void apply_teardown(void) { wd_teardown(); }

/* `prism args` with no environment added. */
static inline run_out cli(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    run_out r = cli_vrun(NULL, fmt, ap);
    va_end(ap);
    return r;
}

/* ------------------------------------------------------------ data */

static uint64_t rng = 0x2545F4914F6CDD1Dull;

/* Uniform in [-1, 1), rounded to float so every backend and file sees the
 * same value. */
static inline double urand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(float)((double)(rng >> 11) / 4503599627370496.0 - 1.0);
}

static inline double *rand_array(int64_t n) {
    double *a = malloc((size_t)n * sizeof *a);
    cr_assert_not_null(a);
    for (int64_t i = 0; i < n; i++) a[i] = urand();
    return a;
}

static inline void write_f8(const char *path, int ndim, const int64_t *shape, const double *data) {
    cr_assert_eq(prism_npy_write(path, PRISM_DTYPE_F64, ndim, shape, data, err, sizeof err), PRISM_OK, "%s", err);
}

static inline prism_npy_array read_npy(const char *path, prism_dtype want_file) {
    prism_npy_array a;
    cr_assert_eq(prism_npy_read(path, PRISM_DTYPE_F64, 0, &a, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(a.file_dtype, want_file, "%s: file dtype %s, want %s", path, prism_dtype_name(a.file_dtype),
                 prism_dtype_name(want_file));
    return a;
}

static inline prism_tensor *upload(prism_context *ctx, int ndim, const int64_t *shape, const double *h) {
    prism_tensor *t = NULL;
    cr_assert_eq(prism_tensor_create(ctx, ndim, shape, &t), PRISM_OK, "%s", prism_error_message(ctx));
    cr_assert_eq(prism_tensor_upload_f64(t, h, prism_tensor_numel(t)), PRISM_OK, "%s", prism_error_message(ctx));
    return t;
}

static inline double *download(prism_tensor *t) {
    int64_t n = prism_tensor_numel(t);
    double *h = malloc((size_t)n * sizeof *h);
    cr_assert_not_null(h);
    cr_assert_eq(prism_tensor_download_f64(t, h, n), PRISM_OK);
    return h;
}

/* ||a - b||^2 / ||b||^2, with NaN anywhere -> +inf */
static inline double nmse(const double *a, const double *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return den > 0 ? num / den : num;
}

static inline void expect_close(const char *what, const double *got, const double *want, int64_t n, double tol) {
    double e = nmse(got, want, n);
    cr_expect(e <= tol, "%s: NMSE %.3g > %.3g (got[0] %.9g, want[0] %.9g)", what, e, tol, got[0], want[0]);
}

#define MODULE "model.layers.0.fc"
#define KEY(name) "base_model.model." MODULE "." name

enum { M = 24, N = 16, T = 5, MAXP = 16 };

/* A small config per method (random, non-trivial parameters follow). */
static inline prism_adapter_config test_config(prism_method m) {
    prism_adapter_config c = prism_adapter_config_default(m);
    c.seed = 7;
    switch (m) {
    case PRISM_METHOD_LORA: c.r = 4; c.lora_alpha = 6; break;
    case PRISM_METHOD_HUT: c.r = 3; c.hut_s = 0.5f; break;
    case PRISM_METHOD_ETHER: c.blocks = 2; break;
    case PRISM_METHOD_ETHER_PLUS: c.blocks = 2; break;
    case PRISM_METHOD_SDCTFT: c.n_coef = 20; break;
    case PRISM_METHOD_FOURIERFT: c.n_frequency = 30; break;
    default: break;
    }
    return c;
}

/* Creates the adapter on W0/bias (skips the test when the method is not
 * built), gives every trainable parameter random values and saves it. */
static inline prism_adapter *make_adapter(prism_context *ctx, prism_method m, prism_tensor *W0, prism_tensor *b,
                                   const char *save_dir, prism_context *other) {
    prism_adapter_config c = test_config(m);
    prism_adapter *ad = NULL;
    prism_status st = prism_adapter_create(ctx, &c, W0, b, &ad);
    if (st == PRISM_ERR_UNSUPPORTED) {
        char why[512];
        snprintf(why, sizeof why, "%s", prism_error_message(ctx));
        prism_tensor_destroy(W0);
        prism_tensor_destroy(b);
        t_destroy(ctx);
        t_destroy(other);
        wd_teardown(); /* Criterion does not run .fini after a skip */
        cr_skip_test("%s is not built: %s", prism_method_name(m), why);
    }
    cr_assert_eq(st, PRISM_OK, "create %s: %s", prism_method_name(m), prism_error_message(ctx));
    const prism_param *pl;
    int np = prism_adapter_params(ad, &pl);
    for (int i = 0; i < np; i++) {
        if (!pl[i].trainable) continue;
        int64_t n = prism_tensor_numel(pl[i].value);
        double *h = rand_array(n);
        for (int64_t j = 0; j < n; j++) h[j] *= 0.5;
        cr_assert_eq(prism_tensor_upload_f64(pl[i].value, h, n), PRISM_OK);
        free(h);
    }
    cr_assert_eq(prism_adapter_save(ad, save_dir, MODULE), PRISM_OK, "save: %s", prism_error_message(ctx));
    return ad;
}

/* Base weights file for merge: the module's weight and bias plus an
 * unrelated tensor. */
static inline void write_base(const char *path, const double *W0h, const double *bh, const double *other) {
    prism_st_writer *w;
    float fw[M * N], fb[M], fo[6];
    for (int i = 0; i < M * N; i++) fw[i] = (float)W0h[i];
    for (int i = 0; i < M; i++) fb[i] = (float)bh[i];
    for (int i = 0; i < 6; i++) fo[i] = (float)other[i];
    int64_t sw[2] = {M, N}, sb[1] = {M}, so[2] = {3, 2};
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, MODULE ".weight", 2, sw, fw, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(prism_st_writer_add_f32(w, MODULE ".bias", 1, sb, fb, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(prism_st_writer_add_f32(w, "lm_head.weight", 2, so, fo, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(prism_st_writer_write(w, path, err, sizeof err), PRISM_OK, "%s", err);
    prism_st_writer_destroy(w);
}

static inline double *st_tensor(const prism_st_file *f, const char *key, int64_t n) {
    const prism_st_tensor *t = prism_st_find(f, key);
    cr_assert_not_null(t, "no tensor %s", key);
    cr_assert_eq(t->numel, n, "%s: %lld elements, want %lld", key, (long long)t->numel, (long long)n);
    float *h = malloc((size_t)n * sizeof *h);
    double *d = malloc((size_t)n * sizeof *d);
    cr_assert_eq(prism_st_read_f32(f, key, h, n, err, sizeof err), PRISM_OK, "%s", err);
    for (int64_t i = 0; i < n; i++) d[i] = h[i];
    free(h);
    return d;
}

/* A saved LoRA adapter on random W0/bias in dir/<name>; returns the
 * in-process adapter (on ctx) for comparisons. */
static inline prism_adapter *lora_dir(prism_context *ctx, prism_context *other, const char *name, double **W0h,
                               double **bh, prism_tensor **W0, prism_tensor **b) {
    int64_t sw[2] = {M, N}, sb[1] = {M};
    *W0h = rand_array(M * N);
    *bh = rand_array(M);
    *W0 = upload(ctx, 2, sw, *W0h);
    *b = upload(ctx, 1, sb, *bh);
    char adir[300];
    snprintf(adir, sizeof adir, "%s/%s", wd, name);
    return make_adapter(ctx, PRISM_METHOD_LORA, *W0, *b, adir, other);
}

/* The LoRA adapter of lora_dir with what made it, for the tests that need
 * one saved adapter on the device. */
typedef struct lora_fx {
    double *W0h, *bh;
    prism_tensor *W0, *b;
    prism_adapter *ad;
} lora_fx;

static inline void lora_open(lora_fx *F, prism_context *dev, const char *name) {
    F->ad = lora_dir(dev, NULL, name, &F->W0h, &F->bh, &F->W0, &F->b);
}

static inline void lora_close(lora_fx *F) {
    prism_adapter_destroy(F->ad);
    prism_tensor_destroy(F->W0);
    prism_tensor_destroy(F->b);
    free(F->W0h), free(F->bh);
}

/* prism_adapter_merge of ad on its context, downloaded. */
static inline double *merged_weight(prism_context *ctx, prism_adapter *ad) {
    prism_tensor *W = fx_merged_weight(ctx, ad, M, N);
    double *h = download(W);
    prism_tensor_destroy(W);
    return h;
}

#endif
