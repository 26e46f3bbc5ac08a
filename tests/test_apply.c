/* The adapter tools run as processes: `prism apply` (Y, dX, parameter
 * gradients, W_eff from .npy inputs) against the library computed in-process
 * on the same device and on the float64 reference; `prism merge` against
 * prism_adapter_merge (and the copy of every other base tensor, fp16/bf16/int
 * included); `prism inspect`; exit statuses and messages for bad arguments and
 * damaged files. A method whose file is not built yet is skipped. The binary
 * is dirname(/proc/self/exe)/../prism, as in test_tools.c. */
#define _GNU_SOURCE
#include <ftw.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common.h"
#include "prism/adapter.h"

static char prism_bin[4096];
static char dir[256];
static char err[1024];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void setup(void) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) cr_skip_test("cannot read /proc/self/exe");
    self[n] = 0;
    snprintf(prism_bin, sizeof prism_bin, "%s/../prism", dirname(self));
    if (access(prism_bin, X_OK) != 0) cr_skip_test("the prism binary is not built (%s)", prism_bin);
    if (strchr(prism_bin, '\'')) cr_skip_test("build path contains a quote: %s", prism_bin);
    snprintf(dir, sizeof dir, "/tmp/prism-apply-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void) {
    if (dir[0]) nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    dir[0] = 0;
}

TestSuite(apply, .init = setup, .fini = teardown, .timeout = 300);

/* dir/name (a few live at once) */
static const char *P(const char *name) {
    static char buf[8][512];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, 512, "%s/%s", dir, name);
    return b;
}

typedef struct run_out { int rc; char *text; } run_out;

/* Runs `'prism' args 2>&1` through the shell; collects all output. */
static run_out run(const char *fmt, ...) {
    char args[3072], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", prism_bin, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen(%s) failed", cmd);
    size_t cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    while ((got = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 1024) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
    }
    buf[len] = 0;
    int status = pclose(p);
    run_out r = {WIFEXITED(status) ? WEXITSTATUS(status) : 128, buf};
    return r;
}

/* ------------------------------------------------------------ data */

static uint64_t rng = 0x2545F4914F6CDD1Dull;

/* Uniform in [-1, 1), rounded to float so every backend and file sees the
 * same value. */
static double urand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(float)((double)(rng >> 11) / 4503599627370496.0 - 1.0);
}

static double *rand_array(int64_t n) {
    double *a = malloc((size_t)n * sizeof *a);
    cr_assert_not_null(a);
    for (int64_t i = 0; i < n; i++) a[i] = urand();
    return a;
}

static void write_f8(const char *path, int ndim, const int64_t *shape, const double *data) {
    cr_assert_eq(prism_npy_write(path, PRISM_DTYPE_F64, ndim, shape, data, err, sizeof err), PRISM_OK, "%s", err);
}

static prism_npy_array read_npy(const char *path, prism_dtype want_file) {
    prism_npy_array a;
    cr_assert_eq(prism_npy_read(path, PRISM_DTYPE_F64, 0, &a, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(a.file_dtype, want_file, "%s: file dtype %s, want %s", path, prism_dtype_name(a.file_dtype),
                 prism_dtype_name(want_file));
    return a;
}

static prism_tensor *upload(prism_context *ctx, int ndim, const int64_t *shape, const double *h) {
    prism_tensor *t = NULL;
    cr_assert_eq(prism_tensor_create(ctx, ndim, shape, &t), PRISM_OK, "%s", prism_error_message(ctx));
    cr_assert_eq(prism_tensor_upload_f64(t, h, prism_tensor_numel(t)), PRISM_OK, "%s", prism_error_message(ctx));
    return t;
}

static double *download(prism_tensor *t) {
    int64_t n = prism_tensor_numel(t);
    double *h = malloc((size_t)n * sizeof *h);
    cr_assert_not_null(h);
    cr_assert_eq(prism_tensor_download_f64(t, h, n), PRISM_OK);
    return h;
}

/* ||a - b||^2 / ||b||^2, with NaN anywhere -> +inf */
static double nmse(const double *a, const double *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return den > 0 ? num / den : num;
}

static void expect_close(const char *what, const double *got, const double *want, int64_t n, double tol) {
    double e = nmse(got, want, n);
    cr_expect(e <= tol, "%s: NMSE %.3g > %.3g (got[0] %.9g, want[0] %.9g)", what, e, tol, got[0], want[0]);
}

/* ------------------------------------------------------------ adapters */

#define MODULE "model.layers.0.fc"
#define KEY(name) "base_model.model." MODULE "." name

enum { M = 24, N = 16, T = 5, MAXP = 16 };

/* A small config per method (random, non-trivial parameters follow). */
static prism_adapter_config test_config(prism_method m) {
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
static prism_adapter *make_adapter(prism_context *ctx, prism_method m, prism_tensor *W0, prism_tensor *b,
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
        teardown(); /* Criterion does not run .fini after a skip */
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

typedef struct results { double *Y, *dX, *W; } results;

/* What the library computes in-process: the adapter loaded from adir on ctx. */
static results library(prism_context *ctx, const char *adir, const double *W0h, const double *bh,
                       const double *Xh, const double *dYh, double **grads, int64_t *gsize, int *ngrads) {
    int64_t sw[2] = {M, N}, sb[1] = {M}, sx[2] = {T, N}, sy[2] = {T, M};
    prism_tensor *W0 = upload(ctx, 2, sw, W0h), *b = upload(ctx, 1, sb, bh), *X = upload(ctx, 2, sx, Xh),
                 *dY = upload(ctx, 2, sy, dYh), *Y, *dX, *W;
    cr_assert_eq(prism_tensor_create(ctx, 2, sy, &Y), PRISM_OK);
    cr_assert_eq(prism_tensor_create(ctx, 2, sx, &dX), PRISM_OK);
    cr_assert_eq(prism_tensor_create(ctx, 2, sw, &W), PRISM_OK);
    prism_adapter *ad = NULL;
    cr_assert_eq(prism_adapter_load(ctx, adir, MODULE, W0, b, &ad), PRISM_OK, "load: %s", prism_error_message(ctx));
    prism_stream *s;
    cr_assert_eq(prism_stream_create(ctx, &s), PRISM_OK);
    cr_assert_eq(prism_adapter_forward(s, ad, X, Y), PRISM_OK, "%s", prism_error_message(ctx));
    cr_assert_eq(prism_adapter_zero_grad(s, ad), PRISM_OK, "%s", prism_error_message(ctx));
    cr_assert_eq(prism_adapter_backward(s, ad, X, dY, dX), PRISM_OK, "%s", prism_error_message(ctx));
    cr_assert_eq(prism_adapter_merge(s, ad, W), PRISM_OK, "%s", prism_error_message(ctx));
    cr_assert_eq(prism_stream_run(s), PRISM_OK, "%s", prism_error_message(ctx));
    results r = {download(Y), download(dX), download(W)};
    const prism_param *pl;
    int np = prism_adapter_params(ad, &pl);
    *ngrads = 0;
    for (int i = 0; i < np; i++) {
        if (!pl[i].trainable || !pl[i].grad) continue;
        cr_assert_lt(*ngrads, MAXP);
        gsize[*ngrads] = prism_tensor_numel(pl[i].grad);
        grads[*ngrads] = download(pl[i].grad);
        (*ngrads)++;
    }
    prism_stream_destroy(s);
    prism_adapter_destroy(ad);
    prism_tensor *all[] = {W0, b, X, dY, Y, dX, W};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_destroy(all[i]);
    return r;
}

static void free_results(results *r) {
    free(r->Y);
    free(r->dX);
    free(r->W);
}

/* Compares the gradient file written by apply with the library's gradients
 * (trainable parameters in list order). */
static void check_grads(const char *path, prism_adapter *ad, double *const *want, int nwant, double tol) {
    prism_st_file *f = NULL;
    cr_assert_eq(prism_st_open(path, 0, &f, err, sizeof err), PRISM_OK, "%s", err);
    const prism_param *pl;
    int np = prism_adapter_params(ad, &pl), k = 0;
    for (int i = 0; i < np; i++) {
        if (!pl[i].trainable || !pl[i].grad) continue;
        char key[256];
        snprintf(key, sizeof key, "base_model.model." MODULE ".%s", pl[i].name);
        const prism_st_tensor *t = prism_st_find(f, key);
        cr_assert_not_null(t, "%s: no key %s", path, key);
        int64_t n = prism_tensor_numel(pl[i].value);
        cr_expect_eq(t->numel, n);
        cr_expect_eq(t->ndim, prism_tensor_ndim(pl[i].value));
        float *h = malloc((size_t)n * sizeof *h);
        double *d = malloc((size_t)n * sizeof *d);
        cr_assert_eq(prism_st_read_f32(f, key, h, n, err, sizeof err), PRISM_OK, "%s", err);
        for (int64_t j = 0; j < n; j++) d[j] = h[j];
        cr_assert_lt(k, nwant);
        expect_close(key, d, want[k], n, tol);
        k++;
        free(h);
        free(d);
    }
    cr_expect_eq(k, nwant);
    cr_expect_eq(prism_st_count(f), (size_t)nwant, "%s: %zu tensors, %d gradients", path, prism_st_count(f), nwant);
    prism_st_close(f);
}

/* Base weights file for merge: the module's weight and bias plus an
 * unrelated tensor. */
static void write_base(const char *path, const double *W0h, const double *bh, const double *other) {
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

static double *st_tensor(const prism_st_file *f, const char *key, int64_t n) {
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

/* apply (device and reference) and merge for one method. */
static void roundtrip(prism_method m) {
    prism_context *dev = t_device(), *ref = t_reference();
    const char *mn = prism_method_name(m);
    char adir[300];
    snprintf(adir, sizeof adir, "%s/%s", dir, mn);
    double *W0h = rand_array(M * N), *bh = rand_array(M), *Xh = rand_array(T * N), *dYh = rand_array(T * M),
           *other = rand_array(6);
    int64_t sw[2] = {M, N}, sb[1] = {M}, sx[2] = {T, N}, sy[2] = {T, M};
    prism_tensor *W0t = upload(dev, 2, sw, W0h), *bt = upload(dev, 1, sb, bh);
    prism_adapter *ad = make_adapter(dev, m, W0t, bt, adir, ref);
    write_f8(P("W0.npy"), 2, sw, W0h);
    write_f8(P("b.npy"), 1, sb, bh);
    write_f8(P("X.npy"), 2, sx, Xh);
    write_f8(P("dY.npy"), 2, sy, dYh);

    /* device: f4 files, against the library on the same device */
    run_out r = run("apply -a '%s' -w '%s' --bias '%s' -x '%s' -y '%s' --dy '%s' --dx '%s' --grads '%s' --merged '%s'",
                    adir, P("W0.npy"), P("b.npy"), P("X.npy"), P("Y.npy"), P("dY.npy"), P("dX.npy"),
                    P("G.safetensors"), P("W.npy"));
    cr_assert_eq(r.rc, 0, "prism apply (%s) exited %d:\n%s", mn, r.rc, r.text);
    free(r.text);
    double *gd[MAXP], *gr[MAXP];
    int64_t gn[MAXP];
    int ngd = 0, ngr = 0;
    results lib = library(dev, adir, W0h, bh, Xh, dYh, gd, gn, &ngd);
    prism_npy_array y = read_npy(P("Y.npy"), PRISM_DTYPE_F32), dx = read_npy(P("dX.npy"), PRISM_DTYPE_F32),
                    w = read_npy(P("W.npy"), PRISM_DTYPE_F32);
    cr_expect(y.ndim == 2 && y.shape[0] == T && y.shape[1] == M, "Y shape");
    cr_expect(dx.ndim == 2 && dx.shape[0] == T && dx.shape[1] == N, "dX shape");
    cr_expect(w.ndim == 2 && w.shape[0] == M && w.shape[1] == N, "W shape");
    expect_close("Y (device) vs library", y.data, lib.Y, T * M, 1e-12);
    expect_close("dX (device) vs library", dx.data, lib.dX, T * N, 1e-12);
    expect_close("W_eff (device) vs library", w.data, lib.W, M * N, 1e-12);
    check_grads(P("G.safetensors"), ad, gd, ngd, 1e-12);

    /* reference: f8 files, against the library on the reference backend, and
     * the device's results against them */
    r = run("apply -a '%s' -w '%s' --bias '%s' -x '%s' -y '%s' --dy '%s' --dx '%s' --grads '%s' --merged '%s' "
            "--device reference --dtype f8",
            adir, P("W0.npy"), P("b.npy"), P("X.npy"), P("Yr.npy"), P("dY.npy"), P("dXr.npy"), P("Gr.safetensors"),
            P("Wr.npy"));
    cr_assert_eq(r.rc, 0, "prism apply --device reference (%s) exited %d:\n%s", mn, r.rc, r.text);
    free(r.text);
    results lr = library(ref, adir, W0h, bh, Xh, dYh, gr, gn, &ngr);
    prism_npy_array yr = read_npy(P("Yr.npy"), PRISM_DTYPE_F64), dxr = read_npy(P("dXr.npy"), PRISM_DTYPE_F64),
                    wr = read_npy(P("Wr.npy"), PRISM_DTYPE_F64);
    expect_close("Y (reference) vs library", yr.data, lr.Y, T * M, 1e-28);
    expect_close("dX (reference) vs library", dxr.data, lr.dX, T * N, 1e-28);
    expect_close("W_eff (reference) vs library", wr.data, lr.W, M * N, 1e-28);
    check_grads(P("Gr.safetensors"), ad, gr, ngr, 1e-13); /* the file is F32 */
    expect_close("Y: device vs float64", y.data, yr.data, T * M, 1e-9);
    expect_close("dX: device vs float64", dx.data, dxr.data, T * N, 1e-9);
    expect_close("W_eff: device vs float64", w.data, wr.data, M * N, 1e-9);
    cr_assert_eq(ngd, ngr);
    for (int i = 0; i < ngd; i++) expect_close("gradient: device vs float64", gd[i], gr[i], gn[i], 1e-9);

    /* merge: W_eff replaces the module's weight; the rest is copied. On the
     * reference backend: a device process costs seconds of shader compiles
     * on lavapipe for some methods, and the device merge path is the same
     * code (the LoRA tests below run it on the device). */
    write_base(P("base.safetensors"), W0h, bh, other);
    r = run("merge -b '%s' -a '%s' -o '%s' --device reference", P("base.safetensors"), adir, P("merged.safetensors"));
    cr_assert_eq(r.rc, 0, "prism merge (%s) exited %d:\n%s", mn, r.rc, r.text);
    free(r.text);
    prism_st_file *f = NULL;
    cr_assert_eq(prism_st_open(P("merged.safetensors"), 0, &f, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(prism_st_count(f), 3);
    double *mw = st_tensor(f, MODULE ".weight", M * N), *mb = st_tensor(f, MODULE ".bias", M),
           *mo = st_tensor(f, "lm_head.weight", 6);
    expect_close("merged weight vs prism_adapter_merge (float64, file F32)", mw, lr.W, M * N, 1e-13);
    if (m != PRISM_METHOD_FULL) {
        expect_close("merged bias (kept)", mb, bh, M, 0);
    } else { /* FULL trains the bias: the merged file holds the trained one */
        const prism_param *pl;
        int np = prism_adapter_params(ad, &pl), found = 0;
        for (int i = 0; i < np; i++)
            if (!strcmp(pl[i].name, "bias")) {
                double *tb = download(pl[i].value);
                expect_close("merged bias (FULL: trained)", mb, tb, M, 1e-13);
                free(tb);
                found = 1;
            }
        cr_expect(found, "FULL adapter without a bias parameter");
    }
    expect_close("lm_head (copied)", mo, other, 6, 0);
    cr_expect_str_eq(prism_st_meta_get(f, "format") ? prism_st_meta_get(f, "format") : "", "pt");
    prism_st_close(f);
    free(mw), free(mb), free(mo);

    for (int i = 0; i < ngd; i++) free(gd[i]);
    for (int i = 0; i < ngr; i++) free(gr[i]);
    prism_npy_array *arrs[] = {&y, &dx, &w, &yr, &dxr, &wr};
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) prism_npy_free(arrs[i]);
    free_results(&lib);
    free_results(&lr);
    prism_adapter_destroy(ad);
    prism_tensor_destroy(W0t);
    prism_tensor_destroy(bt);
    free(W0h), free(bh), free(Xh), free(dYh), free(other);
    t_destroy(ref);
    t_destroy(dev);
}

Test(apply, lora) { roundtrip(PRISM_METHOD_LORA); }
Test(apply, none) { roundtrip(PRISM_METHOD_NONE); }
Test(apply, full) { roundtrip(PRISM_METHOD_FULL); }
Test(apply, ether) { roundtrip(PRISM_METHOD_ETHER); }
Test(apply, etherplus) { roundtrip(PRISM_METHOD_ETHER_PLUS); }
Test(apply, hut) { roundtrip(PRISM_METHOD_HUT); }
Test(apply, sdctft) { roundtrip(PRISM_METHOD_SDCTFT); }
Test(apply, fourierft) { roundtrip(PRISM_METHOD_FOURIERFT); }

/* ------------------------------------------------------------ helpers for the rest */

/* A saved LoRA adapter on random W0/bias in dir/<name>; returns the
 * in-process adapter (on ctx) for comparisons. */
static prism_adapter *lora_dir(prism_context *ctx, prism_context *other, const char *name, double **W0h,
                               double **bh, prism_tensor **W0, prism_tensor **b) {
    int64_t sw[2] = {M, N}, sb[1] = {M};
    *W0h = rand_array(M * N);
    *bh = rand_array(M);
    *W0 = upload(ctx, 2, sw, *W0h);
    *b = upload(ctx, 1, sb, *bh);
    char adir[300];
    snprintf(adir, sizeof adir, "%s/%s", dir, name);
    return make_adapter(ctx, PRISM_METHOD_LORA, *W0, *b, adir, other);
}

static bool has(const char *text, const char *what) { return strstr(text, what) != NULL; }

/* One safetensors tensor for write_raw_st. */
typedef struct raw_tensor {
    const char *name, *dtype;
    int ndim;
    int64_t shape[2];
    const void *data;
    size_t nbytes;
} raw_tensor;

/* Writes a safetensors file by hand (the library writer only makes F32/I64). */
static void write_raw_st(const char *path, const raw_tensor *t, int n) {
    char hdr[4096];
    size_t k = 0, off = 0;
    k += (size_t)snprintf(hdr + k, sizeof hdr - k, "{");
    for (int i = 0; i < n; i++) {
        k += (size_t)snprintf(hdr + k, sizeof hdr - k, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "",
                              t[i].name, t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++)
            k += (size_t)snprintf(hdr + k, sizeof hdr - k, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        k += (size_t)snprintf(hdr + k, sizeof hdr - k, "],\"data_offsets\":[%zu,%zu]}", off, off + t[i].nbytes);
        off += t[i].nbytes;
    }
    k += (size_t)snprintf(hdr + k, sizeof hdr - k, "}");
    while (k % 8) hdr[k++] = ' ';
    cr_assert_lt(k, sizeof hdr);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    uint64_t hl = k;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(hl >> (8 * i));
    cr_assert_eq(fwrite(le, 1, 8, f), 8);
    cr_assert_eq(fwrite(hdr, 1, k, f), k);
    for (int i = 0; i < n; i++) cr_assert_eq(fwrite(t[i].data, 1, t[i].nbytes, f), t[i].nbytes);
    fclose(f);
}

static void put_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* ------------------------------------------------------------ inspect */

Test(apply, inspect_reports_method_modules_and_counts) {
    prism_context *dev = t_device();
    double *W0h, *bh;
    prism_tensor *W0, *b;
    prism_adapter *ad = lora_dir(dev, NULL, "ins", &W0h, &bh, &W0, &b);
    int64_t count = prism_adapter_trainable_count(ad);
    cr_assert_eq(count, 4 * (M + N));
    char want[64];
    snprintf(want, sizeof want, "parameters: %lld", (long long)count);

    run_out r = run("inspect '%s'", P("ins"));
    cr_assert_eq(r.rc, 0, "prism inspect exited %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "method:     lora"), "no method line:\n%s", r.text);
    cr_expect(has(r.text, want), "no '%s':\n%s", want, r.text);
    cr_expect(has(r.text, MODULE) && has(r.text, "lora_A.weight") && has(r.text, "[4, 16]") &&
                  has(r.text, "lora_B.weight") && has(r.text, "[24, 4]"),
              "modules/tensors missing:\n%s", r.text);
    cr_expect(has(r.text, "\"peft_type\":") && has(r.text, "LORA") && has(r.text, "lora_alpha"),
              "config not printed:\n%s", r.text);
    cr_expect(has(r.text, "bytes:      640 of tensor data"), "bytes:\n%s", r.text);
    free(r.text);

    r = run("inspect --json '%s'", P("ins"));
    cr_assert_eq(r.rc, 0, "prism inspect --json exited %d:\n%s", r.rc, r.text);
    cJSON *root = NULL;
    cr_assert_eq(prism_json_parse(r.text, strlen(r.text), "inspect --json", &root, err, sizeof err), PRISM_OK,
                 "%s\n%s", err, r.text);
    const char *method = NULL;
    int64_t params = 0;
    cr_expect_eq(prism_json_get_string(root, "method", NULL, &method, err, sizeof err), PRISM_OK);
    cr_expect_str_eq(method ? method : "", "lora");
    cr_expect_eq(prism_json_get_int(root, "parameters", 0, &params, err, sizeof err), PRISM_OK);
    cr_expect_eq(params, count);
    const cJSON *mods = cJSON_GetObjectItemCaseSensitive(root, "modules");
    cr_expect(cJSON_IsArray(mods) && cJSON_GetArraySize(mods) == 1, "modules:\n%s", r.text);
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
    cr_expect(cJSON_IsObject(cfg), "config is not an object");
    cJSON_Delete(root);
    free(r.text);

    /* --base: the adapter is created on the base weight */
    double other[6] = {1, 2, 3, 4, 5, 6};
    write_base(P("ins_base.safetensors"), W0h, bh, other);
    r = run("inspect '%s' --base '%s'", P("ins"), P("ins_base.safetensors"));
    cr_assert_eq(r.rc, 0, "prism inspect --base exited %d:\n%s", r.rc, r.text);
    snprintf(want, sizeof want, "trainable:  %lld", (long long)count);
    cr_expect(has(r.text, want) && has(r.text, "layer [24, 16]"), "no trainable/layer line:\n%s", r.text);
    free(r.text);

    prism_adapter_destroy(ad);
    prism_tensor_destroy(W0);
    prism_tensor_destroy(b);
    free(W0h), free(bh);
    t_destroy(dev);
}

/* ------------------------------------------------------------ apply variants */

Test(apply, leading_dims_safetensors_weight_and_bias_choices) {
    prism_context *dev = t_device();
    double *W0h, *bh;
    prism_tensor *W0, *b;
    prism_adapter *ad = lora_dir(dev, NULL, "lead", &W0h, &bh, &W0, &b);
    double other[6] = {1, 2, 3, 4, 5, 6};
    write_base(P("lead_base.safetensors"), W0h, bh, other);
    /* X as [2, 3, N] float32 vs the same rows as [6, N] float64 with .npy W0 */
    double *Xh = rand_array(6 * N);
    float Xf[6 * N];
    for (int i = 0; i < 6 * N; i++) Xf[i] = (float)Xh[i];
    int64_t s3[3] = {2, 3, N}, s2[2] = {6, N}, sw[2] = {M, N}, sb[1] = {M};
    cr_assert_eq(prism_npy_write(P("X3.npy"), PRISM_DTYPE_F32, 3, s3, Xf, err, sizeof err), PRISM_OK, "%s", err);
    write_f8(P("X2.npy"), 2, s2, Xh);
    write_f8(P("lW0.npy"), 2, sw, W0h);
    write_f8(P("lb.npy"), 1, sb, bh);

    run_out r = run("apply -a '%s' -w '%s' -x '%s' -y '%s'", P("lead"), P("lead_base.safetensors"), P("X3.npy"),
                    P("Y3.npy"));
    cr_assert_eq(r.rc, 0, "apply (safetensors weight, 3-D X) exited %d:\n%s", r.rc, r.text);
    free(r.text);
    r = run("apply -a '%s' -w '%s' --bias '%s' -x '%s' -y '%s'", P("lead"), P("lW0.npy"), P("lb.npy"), P("X2.npy"),
            P("Y2.npy"));
    cr_assert_eq(r.rc, 0, "apply (.npy weight) exited %d:\n%s", r.rc, r.text);
    free(r.text);
    r = run("apply -a '%s' -w '%s' --key '" MODULE ".weight' --no-bias -x '%s' -y '%s'", P("lead"),
            P("lead_base.safetensors"), P("X2.npy"), P("Ynb.npy"));
    cr_assert_eq(r.rc, 0, "apply --no-bias exited %d:\n%s", r.rc, r.text);
    free(r.text);
    prism_npy_array y3 = read_npy(P("Y3.npy"), PRISM_DTYPE_F32), y2 = read_npy(P("Y2.npy"), PRISM_DTYPE_F32),
                    ynb = read_npy(P("Ynb.npy"), PRISM_DTYPE_F32);
    cr_expect(y3.ndim == 3 && y3.shape[0] == 2 && y3.shape[1] == 3 && y3.shape[2] == M, "Y keeps X's leading dims");
    expect_close("Y [2,3,m] vs Y [6,m]", y3.data, y2.data, 6 * M, 1e-12);
    double *ypb = ynb.data;
    for (int t = 0; t < 6; t++)
        for (int i = 0; i < M; i++) ypb[t * M + i] += bh[i];
    expect_close("Y without bias + b", ypb, y2.data, 6 * M, 1e-12);
    prism_npy_free(&y3), prism_npy_free(&y2), prism_npy_free(&ynb);

    /* --merged alone needs no input */
    r = run("apply -a '%s' -w '%s' --merged '%s' --dtype f8", P("lead"), P("lW0.npy"), P("lW.npy"));
    cr_assert_eq(r.rc, 0, "apply --merged exited %d:\n%s", r.rc, r.text);
    free(r.text);
    prism_npy_array w = read_npy(P("lW.npy"), PRISM_DTYPE_F64);
    prism_tensor *W;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(dev, 2, sw, &W), PRISM_OK);
    cr_assert_eq(prism_stream_create(dev, &s), PRISM_OK);
    cr_assert_eq(prism_adapter_merge(s, ad, W), PRISM_OK);
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    double *wl = download(W);
    expect_close("--merged vs prism_adapter_merge", w.data, wl, M * N, 1e-12);
    free(wl);
    prism_npy_free(&w);
    prism_stream_destroy(s);
    prism_tensor_destroy(W);
    prism_adapter_destroy(ad);
    prism_tensor_destroy(W0);
    prism_tensor_destroy(b);
    free(W0h), free(bh), free(Xh);
    t_destroy(dev);
}

/* ------------------------------------------------------------ merge */

/* A bf16 weight for the adapted module, fp16/bf16/int tensors beside it. */
Test(apply, merge_converts_and_copies_every_tensor) {
    prism_context *dev = t_device();
    double *W0h, *bh;
    prism_tensor *W0, *b;
    prism_adapter *ad = lora_dir(dev, NULL, "mdt", &W0h, &bh, &W0, &b);
    /* W0 rounded to bf16 (top 16 bits of the float) is what merge reads */
    uint16_t wbf[M * N];
    double wq[M * N];
    for (int i = 0; i < M * N; i++) {
        float f = (float)W0h[i];
        uint32_t u;
        memcpy(&u, &f, 4);
        wbf[i] = (uint16_t)(u >> 16);
        u = (uint32_t)wbf[i] << 16;
        memcpy(&f, &u, 4);
        wq[i] = f;
    }
    const uint16_t f16[6] = {0x3C00, 0xC000, 0x3800, 0x3E00, 0x3400, 0xBA00}; /* 1 -2 .5 1.5 .25 -.75 */
    const double f16v[6] = {1, -2, 0.5, 1.5, 0.25, -0.75};
    const int32_t i32[3] = {7, -3, 1 << 30};
    const int64_t i64[2] = {-5, (int64_t)1 << 40};
    raw_tensor ts[] = {
        {"embed.weight", "F16", 2, {2, 3}, f16, sizeof f16},
        {MODULE ".weight", "BF16", 2, {M, N}, wbf, sizeof wbf},
        {"position_ids", "I32", 1, {3}, i32, sizeof i32},
        {"step", "I64", 1, {2}, i64, sizeof i64},
    };
    write_raw_st(P("mdt_base.safetensors"), ts, 4);
    run_out r = run("merge --base '%s' --adapter '%s' --output '%s'", P("mdt_base.safetensors"), P("mdt"),
                    P("mdt_out.safetensors"));
    cr_assert_eq(r.rc, 0, "prism merge exited %d:\n%s", r.rc, r.text);
    free(r.text);

    prism_st_file *f = NULL;
    cr_assert_eq(prism_st_open(P("mdt_out.safetensors"), 0, &f, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(prism_st_count(f), 4);
    const char *f32_names[] = {"embed.weight", MODULE ".weight"};
    for (int i = 0; i < 2; i++) {
        const prism_st_tensor *t = prism_st_find(f, f32_names[i]);
        cr_assert_not_null(t, "%s missing", f32_names[i]);
        cr_expect_eq(t->dtype, PRISM_DTYPE_F32, "%s is %s", f32_names[i], prism_dtype_name(t->dtype));
    }
    double *e = st_tensor(f, "embed.weight", 6);
    expect_close("fp16 tensor copied as F32", e, f16v, 6, 0);
    free(e);
    int64_t ii[3], il[2];
    cr_assert_eq(prism_st_read_i64(f, "position_ids", ii, 3, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(prism_st_read_i64(f, "step", il, 2, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect(ii[0] == 7 && ii[1] == -3 && ii[2] == 1 << 30 && il[0] == -5 && il[1] == (int64_t)1 << 40,
              "integer tensors changed");
    cr_expect_eq(prism_st_find(f, "position_ids")->dtype, PRISM_DTYPE_I64);

    /* expected: the adapter on the bf16-rounded W0 (the base has no bias) */
    int64_t sw[2] = {M, N};
    prism_tensor *Wq = upload(dev, 2, sw, wq), *W;
    prism_adapter *aq = NULL;
    cr_assert_eq(prism_adapter_load(dev, P("mdt"), MODULE, Wq, NULL, &aq), PRISM_OK, "%s", prism_error_message(dev));
    cr_assert_eq(prism_tensor_create(dev, 2, sw, &W), PRISM_OK);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(dev, &s), PRISM_OK);
    cr_assert_eq(prism_adapter_merge(s, aq, W), PRISM_OK);
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    double *want = download(W), *got = st_tensor(f, MODULE ".weight", M * N);
    expect_close("merged bf16 weight vs prism_adapter_merge", got, want, M * N, 1e-12);
    free(want), free(got);
    prism_st_close(f);
    prism_stream_destroy(s);
    prism_adapter_destroy(aq);
    prism_tensor_destroy(Wq);
    prism_tensor_destroy(W);
    prism_adapter_destroy(ad);
    prism_tensor_destroy(W0);
    prism_tensor_destroy(b);
    free(W0h), free(bh);
    t_destroy(dev);
}

/* Two modules in one file, HF-style short target names: merge does both,
 * apply needs --module, inspect lists both. */
Test(apply, multi_module_adapter) {
    prism_context *dev = t_device();
    double *W1h, *b1h, *W2h, *b2h;
    prism_tensor *W1, *b1, *W2, *b2;
    prism_adapter *a1 = lora_dir(dev, NULL, "mm1", &W1h, &b1h, &W1, &b1);
    prism_adapter *a2 = lora_dir(dev, NULL, "mm2", &W2h, &b2h, &W2, &b2);
    /* one file: module MODULE from mm1 renamed to ...fc1, from mm2 to ...fc2 */
    prism_st_writer *w;
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    cr_assert_eq(prism_adapter_save_tensors(a1, "base_model.model.model.layers.0.fc1", w), PRISM_OK);
    cr_assert_eq(prism_adapter_save_tensors(a2, "base_model.model.model.layers.0.fc2", w), PRISM_OK);
    cr_assert_eq(mkdir(P("mm"), 0755), 0);
    cr_assert_eq(prism_st_writer_write(w, P("mm/adapter_model.safetensors"), err, sizeof err), PRISM_OK, "%s", err);
    prism_st_writer_destroy(w);
    cJSON *cfg = cJSON_CreateObject();
    cJSON *tm = cJSON_CreateArray();
    cJSON_AddItemToArray(tm, cJSON_CreateString("fc1"));
    cJSON_AddItemToArray(tm, cJSON_CreateString("fc2"));
    cJSON_AddItemToObject(cfg, "target_modules", tm);
    cr_assert_eq(prism_adapter_config_to_json(prism_adapter_get_config(a1), cfg, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(prism_json_write(P("mm/adapter_config.json"), cfg, err, sizeof err), PRISM_OK, "%s", err);
    cJSON_Delete(cfg);

    float f1[M * N], f2[M * N], fb1[M], fb2[M];
    for (int i = 0; i < M * N; i++) f1[i] = (float)W1h[i], f2[i] = (float)W2h[i];
    for (int i = 0; i < M; i++) fb1[i] = (float)b1h[i], fb2[i] = (float)b2h[i];
    int64_t sw[2] = {M, N}, sb[1] = {M};
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, "model.layers.0.fc1.weight", 2, sw, f1, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, "model.layers.0.fc1.bias", 1, sb, fb1, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, "model.layers.0.fc2.weight", 2, sw, f2, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, "model.layers.0.fc2.bias", 1, sb, fb2, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_write(w, P("mm_base.safetensors"), err, sizeof err), PRISM_OK, "%s", err);
    prism_st_writer_destroy(w);

    run_out r = run("inspect '%s'", P("mm"));
    cr_assert_eq(r.rc, 0, "inspect exited %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "modules:    2") && has(r.text, "model.layers.0.fc1:") && has(r.text, "model.layers.0.fc2:"),
              "modules not listed:\n%s", r.text);
    free(r.text);
    r = run("merge -b '%s' -a '%s' -o '%s' --quiet", P("mm_base.safetensors"), P("mm"), P("mm_out.safetensors"));
    cr_assert_eq(r.rc, 0, "merge exited %d:\n%s", r.rc, r.text);
    cr_expect_eq(strlen(r.text), 0, "--quiet printed:\n%s", r.text);
    free(r.text);
    prism_st_file *f = NULL;
    cr_assert_eq(prism_st_open(P("mm_out.safetensors"), 0, &f, err, sizeof err), PRISM_OK, "%s", err);
    prism_adapter *as[2] = {a1, a2};
    const char *keys[2] = {"model.layers.0.fc1.weight", "model.layers.0.fc2.weight"};
    for (int k = 0; k < 2; k++) {
        prism_tensor *W;
        prism_stream *s;
        cr_assert_eq(prism_tensor_create(dev, 2, sw, &W), PRISM_OK);
        cr_assert_eq(prism_stream_create(dev, &s), PRISM_OK);
        cr_assert_eq(prism_adapter_merge(s, as[k], W), PRISM_OK);
        cr_assert_eq(prism_stream_run(s), PRISM_OK);
        double *want = download(W), *got = st_tensor(f, keys[k], M * N);
        expect_close(keys[k], got, want, M * N, 1e-12);
        free(want), free(got);
        prism_stream_destroy(s);
        prism_tensor_destroy(W);
    }
    prism_st_close(f);

    r = run("apply -a '%s' -w '%s' --merged '%s'", P("mm"), P("mm_base.safetensors"), P("mmW.npy"));
    cr_expect_eq(r.rc, 2, "apply on two modules without --module: exit %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "--module") && has(r.text, "model.layers.0.fc2"), "message:\n%s", r.text);
    free(r.text);
    r = run("apply -a '%s' -w '%s' --module model.layers.0.fc2 --merged '%s'", P("mm"), P("mm_base.safetensors"),
            P("mmW.npy"));
    cr_expect_eq(r.rc, 0, "apply --module exited %d:\n%s", r.rc, r.text);
    free(r.text);
    r = run("apply -a '%s' -w '%s' --module model.layers.0.fc9 --merged '%s'", P("mm"), P("mm_base.safetensors"),
            P("mmW.npy"));
    cr_expect_eq(r.rc, 1, "apply --module (absent) exit %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "fc9"), "message:\n%s", r.text);
    free(r.text);

    prism_adapter_destroy(a1), prism_adapter_destroy(a2);
    prism_tensor_destroy(W1), prism_tensor_destroy(b1), prism_tensor_destroy(W2), prism_tensor_destroy(b2);
    free(W1h), free(b1h), free(W2h), free(b2h);
    t_destroy(dev);
}

/* ------------------------------------------------------------ errors */

Test(apply, bad_arguments_exit_2) {
    /* real files so that only the argument is wrong */
    prism_context *dev = t_device();
    double *W0h, *bh;
    prism_tensor *W0, *b;
    prism_adapter *ad = lora_dir(dev, NULL, "args", &W0h, &bh, &W0, &b);
    int64_t sw[2] = {M, N}, sx[2] = {T, N};
    write_f8(P("aW0.npy"), 2, sw, W0h);
    write_f8(P("aX.npy"), 2, sx, W0h);
    char a[300], wn[300], x[300];
    snprintf(a, sizeof a, "-a '%s'", P("args"));
    snprintf(wn, sizeof wn, "-w '%s'", P("aW0.npy"));
    snprintf(x, sizeof x, "-x '%s'", P("aX.npy"));
    struct { const char *fmt, *a1, *a2, *a3; } bad[] = {
        {"apply", "", "", ""},
        {"apply --frob", "", "", ""},
        {"apply %s", a, "", ""},                                   /* no --weight */
        {"apply %s %s", a, wn, ""},                                /* nothing to do */
        {"apply %s %s %s", a, wn, x},                              /* X but no output */
        {"apply %s %s -y Y.npy", a, wn, ""},                       /* Y without X */
        {"apply %s %s %s -y Y.npy --dx dX.npy", a, wn, x},         /* --dx without --dy */
        {"apply %s %s %s --dy dY.npy", a, wn, x},                  /* --dy, nothing to write */
        {"apply %s %s --merged W.npy --dtype f2", a, wn, ""},
        {"apply %s %s --merged W.npy --key k", a, wn, ""},         /* --key with .npy */
        {"apply %s %s --merged W.npy --no-bias", a, wn, ""},
        {"apply %s -w W0.bin --merged W.npy", a, "", ""},
        {"apply %s %s --merged W.npy --bias b.txt", a, wn, ""},
        {"apply %s %s --merged W.npy stray", a, wn, ""},
        {"apply %s %s --merged ''", a, wn, ""},
        {"apply %s %s --merged W.npy --device nosuchdevice", a, wn, ""},
        {"apply %s %s --merged", a, wn, ""},
        {"merge", "", "", ""},
        {"merge -b base.safetensors -a %s", a + 3, "", ""},
        {"merge -b base.safetensors -o out.safetensors", "", "", ""},
        {"merge -b x -a y -o z stray", "", "", ""},
        {"merge -b '' -a y -o z", "", "", ""},
        {"merge --frob", "", "", ""},
        {"inspect", "", "", ""},
        {"inspect a b", "", "", ""},
        {"inspect --json", "", "", ""},
        {"inspect --device reference %s", a + 3, "", ""},
        {"inspect --frob %s", a + 3, "", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char args[1200];
        snprintf(args, sizeof args, bad[i].fmt, bad[i].a1, bad[i].a2, bad[i].a3);
        run_out r = run("%s", args);
        cr_expect_eq(r.rc, 2, "prism %s: exit %d (want 2):\n%s", args, r.rc, r.text);
        cr_expect(strlen(r.text) > 0, "prism %s: no message", args);
        free(r.text);
    }
    const char *ok[] = {"apply --help", "merge --help", "inspect --help", "help apply"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        run_out r = run("%s", ok[i]);
        cr_expect_eq(r.rc, 0, "prism %s: exit %d:\n%s", ok[i], r.rc, r.text);
        cr_expect(has(r.text, "usage: prism"), "prism %s printed:\n%s", ok[i], r.text);
        free(r.text);
    }
    prism_adapter_destroy(ad);
    prism_tensor_destroy(W0);
    prism_tensor_destroy(b);
    free(W0h), free(bh);
    t_destroy(dev);
}

/* Copies src's adapter files into dir/<dst>. */
static void copy_adapter(const char *src, const char *dst) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", P(src), P(dst));
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* Runs the three commands on adapter dir/<name>; each must exit 1 with a
 * message holding `needle`. */
static void expect_all_fail(const char *name, const char *needle) {
    char adir[300], base[300], wnpy[300], out[300];
    snprintf(adir, sizeof adir, "%s", P(name));
    snprintf(base, sizeof base, "%s", P("e_base.safetensors"));
    snprintf(wnpy, sizeof wnpy, "%s", P("eW0.npy"));
    snprintf(out, sizeof out, "%s", P("e_out.safetensors"));
    run_out r[3] = {run("inspect '%s'", adir), run("apply -a '%s' -w '%s' --merged '%s'", adir, wnpy, P("eW.npy")),
                    run("merge -b '%s' -a '%s' -o '%s'", base, adir, out)};
    const char *what[3] = {"inspect", "apply", "merge"};
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(r[i].rc, 1, "%s on %s: exit %d (want 1):\n%s", what[i], name, r[i].rc, r[i].text);
        cr_expect(has(r[i].text, needle), "%s on %s: message does not name '%s':\n%s", what[i], name, needle,
                  r[i].text);
        free(r[i].text);
    }
    struct stat sb;
    cr_expect(stat(out, &sb) != 0, "merge left an output behind after failing on %s", name);
}

Test(apply, damaged_files_exit_1_naming_the_file) {
    prism_context *dev = t_device();
    double *W0h, *bh;
    prism_tensor *W0, *b;
    prism_adapter *ad = lora_dir(dev, NULL, "good", &W0h, &bh, &W0, &b);
    double other[6] = {1, 2, 3, 4, 5, 6};
    write_base(P("e_base.safetensors"), W0h, bh, other);
    int64_t sw[2] = {M, N};
    write_f8(P("eW0.npy"), 2, sw, W0h);

    /* garbage tensor file */
    copy_adapter("good", "garbage");
    put_text(P("garbage/adapter_model.safetensors"), "this is not a safetensors file at all");
    expect_all_fail("garbage", "garbage/adapter_model.safetensors");
    /* truncated tensor file */
    copy_adapter("good", "trunc");
    cr_assert_eq(truncate(P("trunc/adapter_model.safetensors"), 100), 0);
    expect_all_fail("trunc", "trunc/adapter_model.safetensors");
    /* broken and missing config */
    copy_adapter("good", "badcfg");
    put_text(P("badcfg/adapter_config.json"), "{\"peft_type\": \"LORA\", ");
    expect_all_fail("badcfg", "badcfg/adapter_config.json");
    copy_adapter("good", "nocfg");
    cr_assert_eq(unlink(P("nocfg/adapter_config.json")), 0);
    expect_all_fail("nocfg", "nocfg/adapter_config.json");
    copy_adapter("good", "badtype");
    put_text(P("badtype/adapter_config.json"), "{\"peft_type\": \"NOSUCH\", \"target_modules\": [\"fc\"]}");
    expect_all_fail("badtype", "NOSUCH");
    /* a tensor the method does not have */
    copy_adapter("good", "stray");
    prism_st_writer *w;
    float one[2] = {1, 2};
    int64_t s1[1] = {2};
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    cr_assert_eq(prism_adapter_save_tensors(ad, "base_model.model." MODULE, w), PRISM_OK);
    cr_assert_eq(prism_st_writer_add_f32(w, KEY("bogus"), 1, s1, one, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_st_writer_write(w, P("stray/adapter_model.safetensors"), err, sizeof err), PRISM_OK);
    prism_st_writer_destroy(w);
    run_out r = run("apply -a '%s' -w '%s' --merged '%s'", P("stray"), P("eW0.npy"), P("eW.npy"));
    cr_expect_eq(r.rc, 1, "stray tensor: exit %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "bogus") && has(r.text, "stray/adapter_model.safetensors"), "message:\n%s", r.text);
    free(r.text);
    /* an adapter tensor that does not fit W0 */
    int64_t swide[2] = {M, N + 1};
    double *wide = rand_array(M * (N + 1));
    write_f8(P("eWide.npy"), 2, swide, wide);
    free(wide);
    r = run("apply -a '%s' -w '%s' --merged '%s'", P("good"), P("eWide.npy"), P("eW.npy"));
    cr_expect_eq(r.rc, 1, "W0 of another shape: exit %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "lora_A.weight") && has(r.text, "good/adapter_model.safetensors"), "message:\n%s", r.text);
    free(r.text);
    /* X of the wrong width, dY of the wrong shape */
    int64_t sx[2] = {T, N + 2}, sx2[2] = {T, N}, sy[2] = {T + 1, M};
    double *xh = rand_array(T * (N + 2)), *yh = rand_array((T + 1) * M);
    write_f8(P("eXbad.npy"), 2, sx, xh);
    write_f8(P("eX.npy"), 2, sx2, xh);
    write_f8(P("edY.npy"), 2, sy, yh);
    free(xh);
    free(yh);
    r = run("apply -a '%s' -w '%s' -x '%s' -y '%s'", P("good"), P("eW0.npy"), P("eXbad.npy"), P("eY.npy"));
    cr_expect_eq(r.rc, 1, "X of the wrong width: exit %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "eXbad.npy") && has(r.text, "[5, 18]"), "message:\n%s", r.text);
    free(r.text);
    r = run("apply -a '%s' -w '%s' -x '%s' --dy '%s' --dx '%s'", P("good"), P("eW0.npy"), P("eX.npy"), P("edY.npy"),
            P("edX.npy"));
    cr_expect_eq(r.rc, 1, "dY of the wrong shape: exit %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "edY.npy") && has(r.text, "[6, 24]"), "message:\n%s", r.text);
    free(r.text);
    struct stat sb;
    cr_expect(stat(P("eY.npy"), &sb) != 0 && stat(P("edX.npy"), &sb) != 0, "a failed apply wrote output");
    /* a base without the module, a missing input file, not a directory */
    put_text(P("e_nomod.safetensors"), "");
    write_base(P("e_nomod.safetensors"), W0h, bh, other);
    copy_adapter("good", "renamed");
    put_text(P("renamed/adapter_config.json"), "");
    cJSON *cfg = cJSON_CreateObject();
    cJSON *tm = cJSON_CreateArray();
    cJSON_AddItemToArray(tm, cJSON_CreateString("fc"));
    cJSON_AddItemToObject(cfg, "target_modules", tm);
    cr_assert_eq(prism_adapter_config_to_json(prism_adapter_get_config(ad), cfg, err, sizeof err), PRISM_OK);
    cr_assert_eq(prism_json_write(P("renamed/adapter_config.json"), cfg, err, sizeof err), PRISM_OK);
    cJSON_Delete(cfg);
    cr_assert_eq(prism_st_writer_create(&w), PRISM_OK);
    cr_assert_eq(prism_adapter_save_tensors(ad, "base_model.model.encoder.fc", w), PRISM_OK);
    cr_assert_eq(prism_st_writer_write(w, P("renamed/adapter_model.safetensors"), err, sizeof err), PRISM_OK);
    prism_st_writer_destroy(w);
    r = run("merge -b '%s' -a '%s' -o '%s'", P("e_nomod.safetensors"), P("renamed"), P("e_out.safetensors"));
    cr_expect_eq(r.rc, 1, "module missing in base: exit %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "encoder.fc.weight") && has(r.text, "e_nomod.safetensors"), "message:\n%s", r.text);
    free(r.text);
    r = run("apply -a '%s' -w '%s' -x '%s' -y '%s'", P("good"), P("eW0.npy"), P("nosuch.npy"), P("eY.npy"));
    cr_expect_eq(r.rc, 1, "missing X: exit %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "nosuch.npy"), "message:\n%s", r.text);
    free(r.text);
    r = run("inspect '%s'", P("eW0.npy"));
    cr_expect_eq(r.rc, 1, "inspect on a file: exit %d:\n%s", r.rc, r.text);
    cr_expect(has(r.text, "not a directory"), "message:\n%s", r.text);
    free(r.text);

    prism_adapter_destroy(ad);
    prism_tensor_destroy(W0);
    prism_tensor_destroy(b);
    free(W0h), free(bh);
    t_destroy(dev);
}
