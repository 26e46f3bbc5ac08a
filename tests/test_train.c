/* `prism train` (tools/train): the Fashion-MNIST reader against real and
 * corrupt files, the profiles, checkpoints (resume is bit-exact, kill -9
 * during a save loses nothing), reproducibility, a short end-to-end run
 * whose loss falls, and device vs reference. The command line is tested
 * in tests/test_train_cli.c. */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "common.h"
#include "finetune.h"

static char tmpdir[256];

static void setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/prism-test-train-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_rf(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static void teardown(void) { rm_rf(tmpdir); }

TestSuite(train, .init = setup, .fini = teardown, .timeout = 300);

/* ------------------------------------------------------------------ data */

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8),
    p[3] = (unsigned char)v;
}

/* IDX bytes: magic (type 0x08, ndim) + dims + data. */
static size_t idx_bytes(unsigned char *buf, int type, int ndim, const uint32_t *dims, const unsigned char *data,
                        size_t n) {
    buf[0] = buf[1] = 0;
    buf[2] = (unsigned char)type;
    buf[3] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) put_be32(buf + 4 + 4 * i, dims[i]);
    memcpy(buf + 4 + 4 * ndim, data, n);
    return 4 + 4 * (size_t)ndim + n;
}

static void write_gz(const char *path, const void *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    cr_assert_not_null(g, "gzopen %s", path);
    if (n) cr_assert_eq(gzwrite(g, data, (unsigned)n), (int)n);
    cr_assert_eq(gzclose(g), Z_OK);
}

static void write_raw(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static size_t read_all(const char *path, unsigned char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

enum { NSYN = 5, PX = 28 * 28 };
static unsigned char syn_pix[NSYN * PX], syn_lab[NSYN];

/* A valid 5-image set in dir (split "train"), gzip-compressed. */
static void write_synthetic(const char *dir, int nlabels, int bad_label) {
    static unsigned char buf[16 + NSYN * PX + 64];
    char path[512];
    for (int i = 0; i < NSYN * PX; i++) syn_pix[i] = (unsigned char)((i * 37 + 11) % 256);
    for (int i = 0; i < NSYN; i++) syn_lab[i] = (unsigned char)(i * 3 % 10);
    if (bad_label) syn_lab[2] = 10;
    uint32_t idims[3] = {NSYN, 28, 28}, ldims[1] = {(uint32_t)nlabels};
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    write_gz(path, buf, idx_bytes(buf, 8, 3, idims, syn_pix, sizeof syn_pix));
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
    write_gz(path, buf, idx_bytes(buf, 8, 1, ldims, syn_lab, (size_t)nlabels));
}

/* Loading must fail with `want` and a message naming the file and the package. */
static void expect_load_error(const char *dir, prism_status want, const char *file, const char *what) {
    pt_images im;
    char err[1024] = "";
    prism_status st = pt_fmnist_load(dir, "train", &im, err, sizeof err);
    cr_expect_eq(st, want, "%s: status %d (want %d): %s", what, st, want, err);
    cr_expect(strstr(err, file) != NULL, "%s: message does not name %s: %s", what, file, err);
    cr_expect(strstr(err, "dataset-fashion-mnist") != NULL, "%s: message does not name the package: %s", what, err);
    if (st == PRISM_OK) pt_images_free(&im);
}

Test(train, reads_the_real_dataset) {
    pt_images tr, te;
    char err[1024];
    prism_status st = pt_fmnist_load(NULL, "train", &tr, err, sizeof err);
    cr_assert_eq(st, PRISM_OK, "%s", err);
    cr_assert_eq(pt_fmnist_load(NULL, "t10k", &te, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(tr.n, 60000);
    cr_expect_eq(te.n, 10000);
    cr_expect_eq(tr.rows, 28);
    cr_expect_eq(tr.cols, 28);
    int64_t count[10] = {0}, sum = 0;
    for (int64_t i = 0; i < tr.n; i++) count[tr.labels[i]]++;
    for (int c = 0; c < 10; c++) cr_expect_eq(count[c], 6000, "class %d has %lld images", c, (long long)count[c]);
    for (int64_t i = 0; i < PX; i++) sum += tr.pix[i];
    cr_expect_gt(sum, 0, "first image is blank");
    cr_expect_eq(tr.labels[0], 9, "first training label %d (an ankle boot, 9, in the published set)", tr.labels[0]);
    pt_images_free(&tr);
    pt_images_free(&te);
}

Test(train, synthetic_files_round_trip) {
    write_synthetic(tmpdir, NSYN, 0);
    pt_images im;
    char err[1024];
    cr_assert_eq(pt_fmnist_load(tmpdir, "train", &im, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(im.n, NSYN);
    cr_expect_eq(memcmp(im.pix, syn_pix, sizeof syn_pix), 0);
    cr_expect_eq(memcmp(im.labels, syn_lab, NSYN), 0);
    pt_images sub;
    cr_assert_eq(pt_images_subset(&im, 2, &sub, err, sizeof err), PRISM_OK);
    cr_expect_eq(sub.n, 2);
    cr_expect_eq(memcmp(sub.pix, syn_pix, 2 * PX), 0);
    pt_images_free(&sub);
    cr_expect_eq(pt_images_subset(&im, 6, &sub, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_null(sub.pix);
    pt_images_free(&im);
}

Test(train, missing_files_name_the_path_and_package) {
    char dir[400];
    snprintf(dir, sizeof dir, "%s/nothing-here", tmpdir);
    expect_load_error(dir, PRISM_ERR_IO, "nothing-here/train-images-idx3-ubyte.gz", "missing directory");
    write_synthetic(tmpdir, NSYN, 0);
    char path[512];
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", tmpdir);
    unlink(path);
    expect_load_error(tmpdir, PRISM_ERR_IO, "train-labels-idx1-ubyte.gz", "missing labels");
}

Test(train, corrupt_and_truncated_files_are_rejected) {
    static unsigned char buf[16 + NSYN * PX + 64], gz[16 + NSYN * PX + 4096];
    char ipath[512], lpath[512];
    snprintf(ipath, sizeof ipath, "%s/train-images-idx3-ubyte.gz", tmpdir);
    snprintf(lpath, sizeof lpath, "%s/train-labels-idx1-ubyte.gz", tmpdir);
    const char *ifile = "train-images-idx3-ubyte.gz", *lfile = "train-labels-idx1-ubyte.gz";

    /* truncated compressed stream: every cut point fails */
    write_synthetic(tmpdir, NSYN, 0);
    size_t n = read_all(ipath, gz, sizeof gz);
    cr_assert_gt(n, 100);
    size_t cuts[] = {0, 5, 10, 30, n / 2, n - 9, n - 4, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_raw(ipath, gz, cuts[i]);
        char what[64];
        snprintf(what, sizeof what, "gzip cut at %zu of %zu bytes", cuts[i], n);
        expect_load_error(tmpdir, PRISM_ERR_FORMAT, ifile, what);
    }
    /* a flipped byte inside the deflate data or the CRC */
    size_t flips[] = {n / 2, n - 6};
    for (size_t i = 0; i < 2; i++) {
        unsigned char c[sizeof gz];
        memcpy(c, gz, n);
        c[flips[i]] ^= 0x5a;
        write_raw(ipath, c, n);
        expect_load_error(tmpdir, PRISM_ERR_FORMAT, ifile, "flipped byte");
    }
    /* wrong magic, type, dims count, image size */
    uint32_t d3[3] = {NSYN, 28, 28}, d27[3] = {NSYN, 27, 28}, big[3] = {9999999, 28, 28};
    write_synthetic(tmpdir, NSYN, 0);
    write_gz(ipath, buf, idx_bytes(buf, 8, 3, d3, syn_pix, sizeof syn_pix) - 4); /* short data */
    expect_load_error(tmpdir, PRISM_ERR_FORMAT, ifile, "short data");
    write_gz(ipath, buf, idx_bytes(buf, 9, 3, d3, syn_pix, sizeof syn_pix));
    expect_load_error(tmpdir, PRISM_ERR_FORMAT, ifile, "element type 0x09");
    write_gz(ipath, buf, idx_bytes(buf, 8, 1, d3, syn_pix, sizeof syn_pix));
    expect_load_error(tmpdir, PRISM_ERR_FORMAT, ifile, "labels magic in the images file");
    write_gz(ipath, buf, idx_bytes(buf, 8, 3, d27, syn_pix, (size_t)NSYN * 27 * 28));
    expect_load_error(tmpdir, PRISM_ERR_FORMAT, ifile, "27x28 images");
    write_gz(ipath, buf, idx_bytes(buf, 8, 3, big, syn_pix, 16));
    expect_load_error(tmpdir, PRISM_ERR_FORMAT, ifile, "absurd count");
    write_gz(ipath, buf, idx_bytes(buf, 8, 3, d3, syn_pix, sizeof syn_pix) + 1); /* trailing byte */
    expect_load_error(tmpdir, PRISM_ERR_FORMAT, ifile, "trailing byte");
    write_gz(ipath, "", 0);
    expect_load_error(tmpdir, PRISM_ERR_FORMAT, ifile, "empty file");
    write_raw(ipath, "not a gzip file at all, and not IDX", 35);
    expect_load_error(tmpdir, PRISM_ERR_FORMAT, ifile, "text file");
    /* labels: count mismatch, a label out of range */
    write_synthetic(tmpdir, NSYN - 1, 0);
    expect_load_error(tmpdir, PRISM_ERR_FORMAT, lfile, "4 labels for 5 images");
    write_synthetic(tmpdir, NSYN, 1);
    expect_load_error(tmpdir, PRISM_ERR_FORMAT, lfile, "label 10");
    /* an uncompressed IDX file is read as is (zlib passes it through) */
    write_synthetic(tmpdir, NSYN, 0);
    write_raw(ipath, buf, idx_bytes(buf, 8, 3, d3, syn_pix, sizeof syn_pix));
    pt_images im;
    char err[1024];
    cr_expect_eq(pt_fmnist_load(tmpdir, "train", &im, err, sizeof err), PRISM_OK, "%s", err);
    pt_images_free(&im);
}

/* ------------------------------------------------------------------ profiles */

static pt_images random_images(int n, uint64_t seed) {
    pt_images im = {.n = n, .rows = 28, .cols = 28};
    im.pix = malloc((size_t)n * PX);
    im.labels = malloc((size_t)n);
    cr_assert(im.pix && im.labels);
    uint64_t s = seed;
    for (int i = 0; i < n * PX; i++) im.pix[i] = (uint8_t)(pt_rng_next(&s) >> 56);
    for (int i = 0; i < n; i++) im.labels[i] = (uint8_t)(i % 10);
    return im;
}

static pt_images apply(pt_profile p, const pt_images *src) {
    pt_images out;
    char err[256];
    cr_assert_eq(pt_profile_apply(p, src, &out, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(out.n, src->n);
    cr_expect_eq(memcmp(out.labels, src->labels, (size_t)src->n), 0, "%s changed labels", pt_profile_name(p));
    return out;
}

Test(train, profiles_are_the_documented_maps) {
    pt_images im = random_images(3, 7);
    pt_images inv = apply(PT_PROFILE_INVERT, &im), rot = apply(PT_PROFILE_ROT90, &im),
              hf = apply(PT_PROFILE_HFLIP, &im), vf = apply(PT_PROFILE_VFLIP, &im),
              sh = apply(PT_PROFILE_SHIFT, &im), pe = apply(PT_PROFILE_PERMUTE, &im),
              pe2 = apply(PT_PROFILE_PERMUTE, &im), orig = apply(PT_PROFILE_ORIGINAL, &im);
    cr_expect_eq(memcmp(orig.pix, im.pix, 3 * PX), 0);
    for (int i = 0; i < 3; i++)
        for (int r = 0; r < 28; r++)
            for (int c = 0; c < 28; c++) {
                const uint8_t *s = im.pix + i * PX;
                int o = i * PX + r * 28 + c;
                cr_assert_eq(inv.pix[o], 255 - s[r * 28 + c]);
                cr_assert_eq(rot.pix[o], s[(27 - c) * 28 + r], "rot90 (%d,%d)", r, c);
                cr_assert_eq(hf.pix[o], s[r * 28 + 27 - c]);
                cr_assert_eq(vf.pix[o], s[(27 - r) * 28 + c]);
                cr_assert_eq(sh.pix[o], r < 7 || c < 7 ? 0 : s[(r - 7) * 28 + c - 7], "shift (%d,%d)", r, c);
            }
    /* rot90 four times is the identity; the permutation is fixed and a bijection */
    pt_images r2 = apply(PT_PROFILE_ROT90, &rot), r3 = apply(PT_PROFILE_ROT90, &r2), r4 = apply(PT_PROFILE_ROT90, &r3);
    cr_expect_eq(memcmp(r4.pix, im.pix, 3 * PX), 0);
    cr_expect_eq(memcmp(pe.pix, pe2.pix, 3 * PX), 0, "the permutation is not deterministic");
    cr_expect_neq(memcmp(pe.pix, im.pix, PX), 0);
    int64_t perm[PX], seen[PX] = {0};
    pt_permutation(PT_PERMUTE_SEED, PX, perm);
    for (int j = 0; j < PX; j++) {
        cr_assert(perm[j] >= 0 && perm[j] < PX);
        seen[perm[j]]++;
        cr_assert_eq(pe.pix[j], im.pix[perm[j]]);
    }
    for (int j = 0; j < PX; j++) cr_assert_eq(seen[j], 1, "pixel %d used %lld times", j, (long long)seen[j]);
    pt_profile p;
    cr_expect_eq(pt_profile_parse("ROT90", &p), PRISM_OK);
    cr_expect_eq(p, PT_PROFILE_ROT90);
    cr_expect_eq(pt_profile_parse("rot45", &p), PRISM_ERR_INVALID_ARGUMENT);
    pt_images wide = {.n = 1, .rows = 2, .cols = 3, .pix = im.pix, .labels = im.labels}, out;
    char err[256];
    cr_expect_eq(pt_profile_apply(PT_PROFILE_ROT90, &wide, &out, err, sizeof err), PRISM_ERR_SHAPE);
    pt_images *all[] = {&im, &inv, &rot, &hf, &vf, &sh, &pe, &pe2, &orig, &r2, &r3, &r4};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pt_images_free(all[i]);
}

/* ------------------------------------------------------------------ models */

static pt_images g_train, g_test;

static void load_small(int64_t ntrain, int64_t ntest) {
    pt_job j;
    pt_job_defaults(&j);
    j.train_subset = ntrain;
    j.test_subset = ntest;
    char err[1024];
    cr_assert_eq(pt_job_load_data(&j, &g_train, &g_test, err, sizeof err), PRISM_OK, "%s", err);
}

static void free_small(void) {
    pt_images_free(&g_train);
    pt_images_free(&g_test);
}

static pt_base small_base(const char *widths, uint64_t seed) {
    pt_base b;
    char err[256];
    cr_assert_eq(pt_widths_parse(widths, &b, err, sizeof err), PRISM_OK, "%s", err);
    cr_assert_eq(pt_base_init(&b, seed, err, sizeof err), PRISM_OK, "%s", err);
    return b;
}

/* A model of method m, or the test is skipped when m is not built yet. */
static pt_mlp *make(prism_context *ctx, const pt_base *b, prism_method m, uint64_t seed, int64_t batch, float lr) {
    prism_adapter_config cfg = prism_adapter_config_default(m);
    cfg.seed = seed;
    pt_train_opts o = {.batch = batch, .lr = lr, .weight_decay = 0, .clip = 1};
    pt_mlp *model = NULL;
    char err[1024];
    prism_status st = pt_mlp_create(ctx, b, &cfg, &o, &model, err, sizeof err);
    if (st == PRISM_ERR_UNSUPPORTED) cr_skip_test("%s is not built: %s", prism_method_name(m), err);
    cr_assert_eq(st, PRISM_OK, "%s", err);
    return model;
}

/* All trainable values, concatenated. */
static float *params_of(pt_mlp *m, int64_t *count) {
    prism_tensor **p;
    int n = pt_mlp_trainables(m, &p, NULL, NULL, NULL);
    int64_t total = 0;
    for (int k = 0; k < n; k++) total += prism_tensor_numel(p[k]);
    float *v = malloc((size_t)total * sizeof *v), *o = v;
    cr_assert_not_null(v);
    for (int k = 0; k < n; k++) {
        cr_assert_eq(prism_tensor_download(p[k], o, prism_tensor_numel(p[k])), PRISM_OK);
        o += prism_tensor_numel(p[k]);
    }
    *count = total;
    return v;
}

static pt_run_opts run_opts(int64_t steps, uint64_t seed, const char *ckpt, int resume) {
    pt_run_opts o = {.label = "test", .method = "lora", .profile = "invert", .widths = "784-16-10", .steps = steps,
                     .seed = seed, .ckpt_path = ckpt, .resume = resume, .skip_eval = 1};
    return o;
}

static double mean(const double *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return s / n;
}

Test(train, end_to_end_loss_falls_and_files_are_written) {
    load_small(2048, 500);
    prism_context *ctx = t_device();
    pt_base b = small_base("784,32,10", 3);
    prism_adapter_config cfg = prism_adapter_config_default(PRISM_METHOD_FULL);
    pt_train_opts o = {.batch = 32, .lr = 3e-3f, .clip = 1};
    char dir[400], path[600], err[1024];
    snprintf(dir, sizeof dir, "%s/full", tmpdir);
    pt_finetune_opts fo = {.dir = dir, .profile = "original", .widths = "784-32-10", .steps = 120, .eval_every = 40,
                           .seed = 1};
    pt_finetune_result r;
    prism_status st = pt_finetune(ctx, &b, &cfg, &o, &g_train, &g_test, &fo, &r, err, sizeof err);
    cr_assert_eq(st, PRISM_OK, "%s", err);
    if (r.skipped) cr_skip_test("FULL is not built: %s", r.note);
    cr_assert_eq(r.run.loss.n, 120);
    double first = mean(r.run.loss.y, 10), last = mean(r.run.loss.y + 110, 10);
    cr_expect_lt(last, 0.6 * first, "loss %g -> %g did not fall", first, last);
    cr_expect_gt(r.run.acc_after, 0.6, "accuracy %g after 120 steps", r.run.acc_after);
    cr_expect_gt(r.run.acc_after, r.run.acc_before + 0.3, "accuracy %g -> %g", r.run.acc_before, r.run.acc_after);
    cr_expect_eq(r.run.acc.n, 4, "evaluations at 0, 40, 80, 120: %d", r.run.acc.n);
    cr_expect_eq(r.trainable, 32 * 785 + 10 * 33);
    cr_expect_gt(r.run.step_ms, 0);
    const char *files[] = {"adapter/adapter_model.safetensors", "adapter/adapter_config.json", "checkpoint.safetensors",
                           "curves.csv", "curves.svg"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        cr_expect_eq(stat(path, &sb), 0, "%s was not written", path);
    }
    snprintf(path, sizeof path, "%s/adapter/adapter_model.safetensors", dir);
    prism_st_file *f = NULL;
    cr_assert_eq(prism_st_open(path, 0, &f, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_not_null(prism_st_find(f, "base_model.model.layers.0.weight"));
    cr_expect_not_null(prism_st_find(f, "base_model.model.layers.1.bias"));
    struct stat sb;
    stat(path, &sb);
    cr_expect_eq(r.adapter_bytes, (int64_t)sb.st_size);
    prism_st_close(f);
    pt_finetune_result_free(&r);
    pt_base_free(&b);
    free_small();
    t_destroy(ctx);
}

Test(train, lora_loss_falls) {
    load_small(1024, 256);
    prism_context *ctx = t_device();
    pt_base b = small_base("784,32,10", 4);
    pt_mlp *m = make(ctx, &b, PRISM_METHOD_LORA, 0, 32, 1e-2f);
    pt_run_opts o = run_opts(80, 2, NULL, 0);
    o.skip_eval = 0;
    pt_run_result r;
    char err[1024];
    cr_assert_eq(pt_train_run(m, &g_train, &g_test, &o, &r, err, sizeof err), PRISM_OK, "%s", err);
    double first = mean(r.loss.y, 10), last = mean(r.loss.y + 70, 10);
    cr_expect_lt(last, 0.8 * first, "LoRA loss %g -> %g did not fall", first, last);
    cr_expect_gt(r.acc_after, r.acc_before, "LoRA accuracy %g -> %g", r.acc_before, r.acc_after);
    cr_expect_eq(pt_mlp_trainable(m), 8 * (784 + 32) + 8 * (32 + 10));
    pt_run_result_free(&r);
    pt_mlp_destroy(m);
    pt_base_free(&b);
    free_small();
    t_destroy(ctx);
}

Test(train, same_seed_same_bits_and_resume_is_exact) {
    load_small(300, 64);
    prism_context *ctx = t_device();
    pt_base b = small_base("784,16,10", 5);
    char err[1024], ckpt[400];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.safetensors", tmpdir);
    pt_run_result ra, rb, rc, rd;
    int64_t na, nb, nc, nd;
    /* A: 8 steps straight; B: the same again; C: 3 steps, checkpoint, then a
     * new model resumed to 8; D: another data seed */
    pt_mlp *ma = make(ctx, &b, PRISM_METHOD_LORA, 9, 16, 1e-2f);
    pt_run_opts o = run_opts(8, 7, NULL, 0);
    cr_assert_eq(pt_train_run(ma, &g_train, &g_test, &o, &ra, err, sizeof err), PRISM_OK, "%s", err);
    float *pa = params_of(ma, &na);
    pt_mlp *mb = make(ctx, &b, PRISM_METHOD_LORA, 9, 16, 1e-2f);
    cr_assert_eq(pt_train_run(mb, &g_train, &g_test, &o, &rb, err, sizeof err), PRISM_OK, "%s", err);
    float *pb = params_of(mb, &nb);
    cr_assert_eq(na, nb);
    cr_expect_eq(memcmp(pa, pb, (size_t)na * sizeof *pa), 0, "same seed, different bits");
    cr_expect_eq(memcmp(ra.loss.y, rb.loss.y, 8 * sizeof(double)), 0, "same seed, different losses");

    pt_mlp *mc = make(ctx, &b, PRISM_METHOD_LORA, 9, 16, 1e-2f);
    pt_run_opts oc = run_opts(3, 7, ckpt, 1);
    cr_assert_eq(pt_train_run(mc, &g_train, &g_test, &oc, &rc, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(rc.resumed, 0);
    pt_run_result_free(&rc);
    pt_mlp_destroy(mc);
    pt_ckpt_info info;
    cr_assert_eq(pt_ckpt_read_info(ckpt, &info, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(info.step, 3);
    cr_expect_str_eq(info.method, "lora");
    pt_ckpt_info_free(&info);
    mc = make(ctx, &b, PRISM_METHOD_LORA, 123 /* other init: the checkpoint overrides it */, 16, 1e-2f);
    oc.steps = 8;
    cr_assert_eq(pt_train_run(mc, &g_train, &g_test, &oc, &rc, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(rc.resumed, 1);
    cr_expect_eq(rc.start_step, 3);
    cr_expect_eq(rc.steps_done, 8);
    cr_expect_eq(rc.loss.n, 8);
    float *pc = params_of(mc, &nc);
    cr_assert_eq(nc, na);
    cr_expect_eq(memcmp(pa, pc, (size_t)na * sizeof *pa), 0, "resumed run differs from the straight run");
    for (int i = 0; i < 8; i++)
        cr_expect(fabs(rc.loss.y[i] - ra.loss.y[i]) <= 1e-6 * fabs(ra.loss.y[i]), "loss %d: %g vs %g", i,
                  rc.loss.y[i], ra.loss.y[i]);
    /* a checkpoint of another configuration is refused */
    pt_run_opts bad = run_opts(10, 8 /* seed */, ckpt, 1);
    pt_run_result rx;
    cr_expect_eq(pt_train_run(mc, &g_train, &g_test, &bad, &rx, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err, "cannot resume") && strstr(err, "seed"), "%s", err);

    pt_mlp *md = make(ctx, &b, PRISM_METHOD_LORA, 9, 16, 1e-2f);
    pt_run_opts od = run_opts(8, 8, NULL, 0);
    cr_assert_eq(pt_train_run(md, &g_train, &g_test, &od, &rd, err, sizeof err), PRISM_OK, "%s", err);
    float *pd = params_of(md, &nd);
    cr_expect_neq(memcmp(pa, pd, (size_t)na * sizeof *pa), 0, "another data seed gave the same bits");

    free(pa), free(pb), free(pc), free(pd);
    pt_run_result_free(&ra), pt_run_result_free(&rb), pt_run_result_free(&rc), pt_run_result_free(&rd);
    pt_mlp_destroy(ma), pt_mlp_destroy(mb), pt_mlp_destroy(mc), pt_mlp_destroy(md);
    pt_base_free(&b);
    free_small();
    t_destroy(ctx);
}

/* A child process saves checkpoints in a loop (reference backend: no
 * Vulkan state crosses the fork); it is killed with SIGKILL at several
 * moments, and each time the checkpoint on disk must load whole. */
Test(train, kill_9_during_a_checkpoint_save_loses_nothing) {
    load_small(64, 16);
    char ckpt[400], err[1024];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.safetensors", tmpdir);
    pt_base b = small_base("784,256,10", 6); /* ~0.6 MB of parameters: saves take a while */
    int64_t last_step = -1;
    for (int round = 0; round < 4; round++) {
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            prism_context_options co = prism_context_options_default();
            co.device = "reference";
            prism_context *ctx = NULL;
            if (prism_context_create(&co, &ctx, err, sizeof err)) _exit(3);
            prism_adapter_config cfg = prism_adapter_config_default(PRISM_METHOD_FULL);
            pt_train_opts o = {.batch = 4, .lr = 1e-3f, .clip = 1};
            pt_mlp *m = NULL;
            if (pt_mlp_create(ctx, &b, &cfg, &o, &m, err, sizeof err)) _exit(4);
            pt_ckpt_info info = {.batch = 4, .train_n = 64, .seed = 1};
            snprintf(info.method, sizeof info.method, "full");
            for (int64_t s = round * 1000000 + 1;; s++) {
                info.step = s;
                if (pt_ckpt_save(m, ckpt, &info, err, sizeof err)) _exit(5);
            }
        }
        /* wait for the first complete save of this round, then kill mid-save */
        struct timespec ts = {0, 2000000};
        for (int i = 0; i < 10000; i++) {
            pt_ckpt_info in = {0};
            int64_t step = -1;
            if (access(ckpt, F_OK) == 0 && pt_ckpt_read_info(ckpt, &in, err, sizeof err) == PRISM_OK) step = in.step;
            pt_ckpt_info_free(&in);
            if (step > round * 1000000) break;
            nanosleep(&ts, NULL);
        }
        struct timespec kill_at = {0, 3000000 + 7000000 * round};
        nanosleep(&kill_at, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child exited on its own (status %d)", status);
        pt_ckpt_info info;
        cr_assert_eq(pt_ckpt_read_info(ckpt, &info, err, sizeof err), PRISM_OK, "round %d: %s", round, err);
        cr_expect_gt(info.step, round * 1000000, "round %d: no save of this round survived", round);
        last_step = info.step;
        pt_ckpt_info_free(&info);
        prism_context *ref = t_reference();
        prism_adapter_config cfg = prism_adapter_config_default(PRISM_METHOD_FULL);
        pt_train_opts o = {.batch = 4, .lr = 1e-3f, .clip = 1};
        pt_mlp *m = NULL;
        cr_assert_eq(pt_mlp_create(ref, &b, &cfg, &o, &m, err, sizeof err), PRISM_OK, "%s", err);
        cr_expect_eq(pt_ckpt_load(m, ckpt, err, sizeof err), PRISM_OK, "round %d: checkpoint damaged: %s", round, err);
        pt_mlp_destroy(m);
        t_destroy(ref);
    }
    cr_expect_geq(last_step, 1);
    pt_base_free(&b);
    free_small();
}

static void *send_sigint(void *arg) {
    struct timespec ts = {0, *(long *)arg};
    nanosleep(&ts, NULL);
    kill(getpid(), SIGINT);
    return NULL;
}

Test(train, ctrl_c_stops_after_the_step_and_saves) {
    load_small(256, 32);
    prism_context *ctx = t_device();
    pt_base b = small_base("784,16,10", 8);
    char ckpt[400], err[1024];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.safetensors", tmpdir);
    pt_mlp *m = make(ctx, &b, PRISM_METHOD_LORA, 0, 16, 1e-2f);
    pt_run_opts o = run_opts(1000000, 3, ckpt, 0);
    pt_run_result r;
    pt_sigint_install();
    pthread_t th;
    long delay = 300000000;
    cr_assert_eq(pthread_create(&th, NULL, send_sigint, &delay), 0);
    prism_status st = pt_train_run(m, &g_train, &g_test, &o, &r, err, sizeof err);
    pthread_join(th, NULL);
    pt_sigint_restore();
    cr_assert_eq(st, PRISM_OK, "%s", err);
    cr_expect_eq(r.interrupted, 1);
    cr_expect(r.steps_done > 0 && r.steps_done < 1000000, "stopped after %lld steps", (long long)r.steps_done);
    pt_ckpt_info info;
    cr_assert_eq(pt_ckpt_read_info(ckpt, &info, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(info.step, r.steps_done, "checkpoint at step %lld, stopped at %lld", (long long)info.step,
                 (long long)r.steps_done);
    /* resume finishes the run from there */
    pt_run_opts o2 = run_opts(r.steps_done + 3, 3, ckpt, 1);
    pt_run_result r2;
    pt_mlp *m2 = make(ctx, &b, PRISM_METHOD_LORA, 0, 16, 1e-2f);
    cr_assert_eq(pt_train_run(m2, &g_train, &g_test, &o2, &r2, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(r2.start_step, r.steps_done);
    cr_expect_eq(r2.steps_done, r.steps_done + 3);
    pt_ckpt_info_free(&info);
    pt_run_result_free(&r);
    pt_run_result_free(&r2);
    pt_mlp_destroy(m);
    pt_mlp_destroy(m2);
    pt_base_free(&b);
    free_small();
    t_destroy(ctx);
}

Test(train, device_matches_the_reference) {
    load_small(256, 16);
    prism_context *ctx = t_device();
    pt_base b = small_base("784,16,10", 10);
    prism_method ms[] = {PRISM_METHOD_FULL, PRISM_METHOD_LORA};
    for (int i = 0; i < 2; i++) {
        prism_adapter_config cfg = prism_adapter_config_default(ms[i]);
        pt_train_opts o = {.batch = 16, .lr = 1e-3f, .clip = 1};
        pt_compare_result r;
        char err[1024];
        prism_status st = pt_compare_reference(ctx, &b, &cfg, &o, &g_train, 1, 3, &r, err, sizeof err);
        if (st == PRISM_ERR_UNSUPPORTED) continue;
        cr_assert_eq(st, PRISM_OK, "%s", err);
        cr_expect_gt(r.compared, 0);
        cr_expect_lt(r.max_rel_diff, 1e-3, "%s: largest relative difference %g (%s), absolute %g",
                     prism_method_name(ms[i]), r.max_rel_diff, r.worst, r.max_abs_diff);
        cr_expect_lt(r.max_loss_diff, 1e-4, "%s: loss differs by %g", prism_method_name(ms[i]), r.max_loss_diff);
    }
    pt_base_free(&b);
    free_small();
    t_destroy(ctx);
}

Test(train, base_is_pretrained_once_then_reused) {
    load_small(512, 128);
    prism_context *ctx = t_device();
    pt_job j;
    pt_job_defaults(&j);
    pt_widths_parse("784,16,10", &j.shape, NULL, 0);
    j.cache_dir = tmpdir;
    j.pretrain_steps = 30;
    j.batch = 32;
    j.pretrain_lr = 3e-3f;
    j.progress = 0;
    j.log = NULL;
    pt_base b1, b2;
    int reused;
    double acc;
    char err[1024], path[600];
    prism_status st = pt_job_base(ctx, &j, &g_train, &g_test, &b1, &reused, &acc, err, sizeof err);
    if (st == PRISM_ERR_UNSUPPORTED) cr_skip_test("FULL is not built: %s", err);
    cr_assert_eq(st, PRISM_OK, "%s", err);
    cr_expect_eq(reused, 0);
    cr_expect_gt(acc, 0.4, "pretrained accuracy %g", acc);
    pt_job_base_path(&j, path, sizeof path);
    cr_expect_eq(access(path, F_OK), 0, "%s not written", path);
    cr_assert_eq(pt_job_base(ctx, &j, &g_train, &g_test, &b2, &reused, &acc, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(reused, 1);
    cr_expect_eq(memcmp(b1.layer[0].W, b2.layer[0].W, 16 * 784 * sizeof(float)), 0);
    cr_expect_eq(memcmp(b1.layer[1].b, b2.layer[1].b, 10 * sizeof(float)), 0);
    /* a base of other widths does not load */
    pt_base other;
    pt_widths_parse("784,17,10", &other, NULL, 0);
    cr_expect_eq(pt_base_load(path, &other, err, sizeof err), PRISM_ERR_FORMAT);
    /* a damaged cache file is retrained, not trusted */
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    fputs("garbage", f);
    fclose(f);
    pt_base b3;
    cr_assert_eq(pt_job_base(ctx, &j, &g_train, &g_test, &b3, &reused, &acc, err, sizeof err), PRISM_OK, "%s", err);
    cr_expect_eq(reused, 0);
    cr_expect_eq(memcmp(b1.layer[0].W, b3.layer[0].W, 16 * 784 * sizeof(float)), 0, "retraining is not reproducible");
    pt_base_free(&b1);
    pt_base_free(&b2);
    pt_base_free(&b3);
    free_small();
    t_destroy(ctx);
}
