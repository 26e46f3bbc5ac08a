/* The runtime itself: context and device choice, caps, tensors and views,
 * host transfers (mapped and staged), streams (replay, states, stale tensors,
 * hazard barriers, descriptor pools), profiling, the pipeline cache file,
 * grid folding, the log callback and silence. Every failure asserts the exact
 * status and that the message names the op and the shapes.
 *
 * Stream tests are parameterised over the device under test (PRISM_DEVICE,
 * default choice) and the float64 reference backend. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common.h"

TestSuite(runtime, .timeout = 300);

/* ------------------------------------------------------------------ helpers */

/* A context with explicit options; NULL device/disable = from the environment
 * (so the ctest registrations choose the device and the baseline path). */
static prism_context *mk(const char *device, const char *disable, int profile, const char *cache_dir) {
    prism_context_options o = prism_context_options_default();
    o.device = device;
    o.disable = disable;
    o.profile = profile;
    o.cache_dir = cache_dir;
    prism_context *ctx = NULL;
    char err[1024];
    prism_status st = prism_context_create(&o, &ctx, err, sizeof err);
    cr_assert_eq(st, PRISM_OK, "context (device %s, disable %s): %s (%s)", device ? device : "(env)",
                 disable ? disable : "(env)", prism_status_string(st), err);
    cr_assert_not_null(ctx);
    return ctx;
}

/* Backend of a parameterised test: 0 = device under test, 1 = reference. */
static prism_context *mk_backend(int which) { return mk(which ? "reference" : NULL, NULL, 0, NULL); }

static prism_tensor *tensor1(prism_context *ctx, int64_t n) {
    prism_tensor *t = NULL;
    prism_status st = prism_tensor_create(ctx, 1, &n, &t);
    cr_assert_eq(st, PRISM_OK, "tensor_create [%lld]: %s", (long long)n, prism_error_message(ctx));
    return t;
}

static prism_tensor *tensor_from(prism_context *ctx, int64_t n, const float *data) {
    prism_tensor *t = tensor1(ctx, n);
    cr_assert_eq(prism_tensor_upload(t, data, n), PRISM_OK, "upload: %s", prism_error_message(ctx));
    return t;
}

static void download(prism_tensor *t, float *out) {
    prism_status st = prism_tensor_download(t, out, prism_tensor_numel(t));
    cr_assert_eq(st, PRISM_OK, "download: %s", prism_error_message(prism_tensor_context(t)));
}

static prism_stream *stream(prism_context *ctx) {
    prism_stream *s = NULL;
    cr_assert_eq(prism_stream_create(ctx, &s), PRISM_OK, "stream_create: %s", prism_error_message(ctx));
    return s;
}

static void ok(prism_context *ctx, prism_status st, const char *what) {
    cr_assert_eq(st, PRISM_OK, "%s: %s (%s)", what, prism_status_string(st), prism_error_message(ctx));
}

/* The message of the last error contains every given word. */
static void msg_has(prism_context *ctx, const char *a, const char *b) {
    const char *m = prism_error_message(ctx);
    cr_assert(strstr(m, a) != NULL, "message lacks '%s': %s", a, m);
    if (b) cr_assert(strstr(m, b) != NULL, "message lacks '%s': %s", b, m);
}

static bool is_reference(prism_context *ctx) { return prism_context_backend(ctx) == PRISM_BACKEND_REFERENCE; }

static char *make_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char *p = malloc(512);
    cr_assert_not_null(p);
    snprintf(p, 512, "%s/prism-rt-XXXXXX", base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(p), "mkdtemp: %s", strerror(errno));
    return p;
}

/* Visits every entry below dir, children before their directory, calling
 * fn(path, is_dir, user) when fn is set; returns how many entries it saw. */
typedef void (*visit_fn)(const char *path, const char *name, bool is_dir, void *user);
static int walk(const char *dir, visit_fn fn, void *user) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        struct stat sb;
        bool is_dir = stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode);
        n += 1 + (is_dir ? walk(sub, fn, user) : 0);
        if (fn) fn(sub, e->d_name, is_dir, user);
    }
    closedir(d);
    return n;
}

static void remove_entry(const char *path, const char *name, bool is_dir, void *user) {
    if (is_dir) rmdir(path);
    else unlink(path);
}

static void rm_rf(const char *dir) {
    walk(dir, remove_entry, NULL);
    rmdir(dir);
}

/* ------------------------------------------------------------------ context */

Test(runtime, context_unknown_device_lists_devices) {
    prism_context_options o = prism_context_options_default();
    o.device = "nosuch";
    prism_context *ctx = (prism_context *)1;
    char err[1024];
    prism_status st = prism_context_create(&o, &ctx, err, sizeof err);
    cr_assert_eq(st, PRISM_ERR_NO_DEVICE, "status %s: %s", prism_status_string(st), err);
    cr_assert_null(ctx, "*out is NULL on failure");
    cr_assert(strstr(err, "nosuch") != NULL, "err names the request: %s", err);
    cr_assert(strstr(err, "reference") != NULL, "err mentions the reference backend: %s", err);

    /* the error lists the devices that do exist */
    prism_caps caps[8];
    int n = 0;
    char eerr[512];
    cr_assert_eq(prism_enumerate_devices(caps, 8, &n, eerr, sizeof eerr), PRISM_OK, "%s", eerr);
    cr_assert_gt(n, 0, "lavapipe must be present; it is never skipped silently");
    for (int i = 0; i < n && i < 8; i++) cr_assert(strstr(err, caps[i].name) != NULL, "err lists '%s': %s", caps[i].name, err);

    /* index out of range, and the same through the environment */
    o.device = "99";
    cr_assert_eq(prism_context_create(&o, &ctx, err, sizeof err), PRISM_ERR_NO_DEVICE, "%s", err);
    setenv("PRISM_DEVICE", "nosuch", 1);
    cr_assert_eq(prism_context_create(NULL, &ctx, err, sizeof err), PRISM_ERR_NO_DEVICE, "%s", err);
    cr_assert(strstr(err, "have:") != NULL, "%s", err);
    unsetenv("PRISM_DEVICE");
    cr_assert_eq(prism_context_create(NULL, NULL, err, sizeof err), PRISM_ERR_INVALID_ARGUMENT);
}

Test(runtime, context_device_by_index_name_and_cpu) {
    prism_caps caps[8];
    int n = 0;
    cr_assert_eq(prism_enumerate_devices(caps, 8, &n, NULL, 0), PRISM_OK);
    cr_assert_eq(prism_enumerate_devices(NULL, 0, &n, NULL, 0), PRISM_OK, "counting needs no array");
    cr_assert_eq(prism_enumerate_devices(NULL, 1, &n, NULL, 0), PRISM_ERR_INVALID_ARGUMENT);
    prism_context *a = mk("0", NULL, 0, NULL);
    cr_assert_str_eq(prism_context_caps(a)->name, caps[0].name);
    t_destroy(a);
    bool have_cpu = false;
    for (int i = 0; i < n && i < 8; i++) have_cpu |= caps[i].type == PRISM_DEVICE_CPU;
    if (have_cpu) {
        prism_context *c = mk("lavapipe", NULL, 0, NULL);
        cr_assert_eq(prism_context_caps(c)->type, PRISM_DEVICE_CPU);
        t_destroy(c);
    }
}

Test(runtime, context_reference_backend) {
    prism_context *ctx = mk("reference", NULL, 0, NULL);
    cr_assert_eq(prism_context_backend(ctx), PRISM_BACKEND_REFERENCE);
    const prism_caps *c = prism_context_caps(ctx);
    cr_assert(strstr(c->name, "reference") != NULL, "%s", c->name);
    /* float64 storage: exact round trip of values fp32 cannot hold */
    double in[3] = {1.0 / 3.0, 1e-300, -2.5e300}, out[3];
    int64_t n = 3;
    prism_tensor *t;
    ok(ctx, prism_tensor_create(ctx, 1, &n, &t), "create");
    ok(ctx, prism_tensor_upload_f64(t, in, 3), "upload_f64");
    prism_stream *s = stream(ctx);
    ok(ctx, prism_scale(s, t, 2.0f, t), "scale");
    ok(ctx, prism_stream_run(s), "run");
    ok(ctx, prism_tensor_download_f64(t, out, 3), "download_f64");
    for (int i = 0; i < 3; i++) cr_assert_eq(out[i], 2.0 * in[i], "at %d: %.17g", i, out[i]);
    prism_stream_destroy(s);
    prism_tensor_destroy(t);
    prism_context_destroy(ctx);
}

Test(runtime, context_bad_disable) {
    prism_context_options o = prism_context_options_default();
    o.disable = "f16,bogus";
    prism_context *ctx = NULL;
    char err[1024];
    prism_status st = prism_context_create(&o, &ctx, err, sizeof err);
    cr_assert_eq(st, PRISM_ERR_INVALID_ARGUMENT, "status %s: %s", prism_status_string(st), err);
    cr_assert_null(ctx);
    cr_assert(strstr(err, "PRISM_DISABLE") && strstr(err, "bogus"), "err names the switch and the word: %s", err);
}

Test(runtime, context_disable_clears_features) {
    prism_context *ctx = mk(NULL, "f16,subgroup", 0, NULL);
    const prism_caps *c = prism_context_caps(ctx);
    cr_assert_eq(c->f16_storage, 0);
    cr_assert_eq(c->f16_arithmetic, 0);
    cr_assert_eq(c->subgroup_ops, 0);
    cr_assert_eq(c->subgroup_size_control, 0);
    cr_assert_str_eq(c->disabled, "f16,subgroup");
    t_destroy(ctx);
    ctx = mk(NULL, "all", 0, NULL);
    c = prism_context_caps(ctx);
    cr_assert(!c->f16_storage && !c->f16_arithmetic && !c->subgroup_ops && !c->push_descriptor &&
              !c->buffer_device_address && !c->cooperative_matrix && !c->f64 && !c->int64 && !c->unified_memory,
              "'all' clears every optional feature");
    t_destroy(ctx);
}

Test(runtime, caps_are_sane) {
    prism_context *ctx = mk(NULL, NULL, 0, NULL);
    const prism_caps *c = prism_context_caps(ctx);
    cr_assert_gt(c->max_storage_buffer_range, 0);
    cr_assert_geq(c->max_push_constants_size, 128);
    cr_assert_geq(c->max_workgroup_invocations, 128);
    cr_assert_geq(c->max_workgroup_count[0], 65535);
    cr_assert_gt(c->min_storage_buffer_offset_alignment, 0);
    cr_assert_geq(c->max_storage_buffers_per_stage, 8);
    cr_assert_gt(c->max_buffer_size, 0);
    cr_assert_geq(c->api_version, (1u << 22) | (1u << 12), "Vulkan >= 1.1");
    cr_assert_gt(c->subgroup_size, 0, "subgroup size is reported");
    cr_assert_leq(c->subgroup_min_size, c->subgroup_max_size);
    if (c->timestamps) {
        cr_assert_gt(c->timestamp_period_ns, 0.0);
        cr_assert_gt(c->timestamp_valid_bits, 0);
    }
    bool lavapipe = strstr(c->name, "llvmpipe") != NULL;
    if (lavapipe) {
        cr_assert_eq(c->type, PRISM_DEVICE_CPU);
        cr_assert_eq(c->timestamps, 1, "lavapipe has compute timestamps");
        cr_assert_geq(c->subgroup_size, 4);
        const char *dis = getenv("PRISM_DISABLE");
        if (!dis || !*dis) cr_assert_eq(c->unified_memory, 1, "lavapipe memory is unified");
    }
    t_destroy(ctx);
}

/* ------------------------------------------------------------------ tensors */

Test(runtime, tensor_bad_dims) {
    prism_context *ctx = mk(NULL, NULL, 0, NULL);
    prism_tensor *t = NULL;
    int64_t good[4] = {2, 3, 4, 5};
    cr_assert_eq(prism_tensor_create(ctx, 1, good, NULL), PRISM_ERR_INVALID_ARGUMENT);
    msg_has(ctx, "tensor_create", "NULL");
    cr_assert_eq(prism_tensor_create(NULL, 1, good, &t), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_tensor_create(ctx, 1, NULL, &t), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_null(t);
    cr_assert_eq(prism_tensor_create(ctx, 0, good, &t), PRISM_ERR_DIMS);
    msg_has(ctx, "tensor_create", "ndim 0");
    cr_assert_null(t);
    int64_t five[5] = {1, 1, 1, 1, 1};
    cr_assert_eq(prism_tensor_create(ctx, 5, five, &t), PRISM_ERR_DIMS);
    msg_has(ctx, "tensor_create", "ndim 5");
    int64_t neg[2] = {3, -2};
    cr_assert_eq(prism_tensor_create(ctx, 2, neg, &t), PRISM_ERR_DIMS);
    msg_has(ctx, "tensor_create", "-2");
    int64_t zero[3] = {4, 0, 2};
    cr_assert_eq(prism_tensor_create(ctx, 3, zero, &t), PRISM_ERR_DIMS);
    msg_has(ctx, "tensor_create", "dim 1");
    int64_t big[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    cr_assert_eq(prism_tensor_create(ctx, 2, big, &t), PRISM_ERR_DIMS);
    msg_has(ctx, "tensor_create", "overflow");
    int64_t huge[4] = {INT64_MAX, 2, 2, 2};
    cr_assert_eq(prism_tensor_create(ctx, 4, huge, &t), PRISM_ERR_DIMS);
    int64_t wrap[4] = {(int64_t)1 << 16, (int64_t)1 << 16, (int64_t)1 << 16, (int64_t)1 << 16};
    cr_assert_eq(prism_tensor_create(ctx, 4, wrap, &t), PRISM_ERR_DIMS, "2^64 elements wrap to 0 in int64");
    cr_assert_null(t);
    cr_assert_eq(prism_last_status(ctx), PRISM_ERR_DIMS);
    prism_clear_error(ctx);
    cr_assert_eq(prism_last_status(ctx), PRISM_OK);
    cr_assert_str_eq(prism_error_message(ctx), "no error");

    /* a good 4-D tensor and its accessors */
    ok(ctx, prism_tensor_create(ctx, 4, good, &t), "create 4-D");
    cr_assert_eq(prism_tensor_ndim(t), 4);
    cr_assert_eq(prism_tensor_numel(t), 120);
    cr_assert_eq(prism_tensor_dim(t, -1), 5);
    cr_assert_eq(prism_tensor_dim(t, 0), 2);
    cr_assert_eq(prism_tensor_dim(t, 4), 0);
    cr_assert_eq(prism_tensor_context(t), ctx);
    char buf[64];
    cr_assert_str_eq(prism_tensor_shape_str(t, buf, sizeof buf), "[2, 3, 4, 5]");
    prism_tensor_destroy(t);
    prism_tensor_destroy(NULL);
    t_destroy(ctx);
}

Test(runtime, tensor_upload_wrong_count) {
    prism_context *ctx = mk(NULL, NULL, 0, NULL);
    int64_t shape[2] = {2, 3};
    prism_tensor *t;
    ok(ctx, prism_tensor_create(ctx, 2, shape, &t), "create");
    float x[7] = {0};
    double d[7] = {0};
    cr_assert_eq(prism_tensor_upload(t, x, 7), PRISM_ERR_SHAPE);
    msg_has(ctx, "tensor_upload", "[2, 3]");
    cr_assert_eq(prism_tensor_upload(t, x, 5), PRISM_ERR_SHAPE);
    cr_assert_eq(prism_tensor_download(t, x, 7), PRISM_ERR_SHAPE);
    msg_has(ctx, "tensor_download", "[2, 3]");
    cr_assert_eq(prism_tensor_upload_f64(t, d, 0), PRISM_ERR_SHAPE);
    cr_assert_eq(prism_tensor_download_f64(t, d, -1), PRISM_ERR_SHAPE);
    cr_assert_eq(prism_tensor_upload(t, NULL, 6), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_tensor_upload(NULL, x, 6), PRISM_ERR_INVALID_ARGUMENT);
    prism_tensor_destroy(t);
    t_destroy(ctx);
}

static void round_trip(prism_context *ctx, int64_t n) {
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    cr_assert(x && y);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(i % 65521) * 0.25f - 3.5f;
    memset(y, 0xff, sizeof(float) * (size_t)n);
    prism_tensor *t = tensor_from(ctx, n, x);
    download(t, y);
    cr_assert(memcmp(x, y, sizeof(float) * (size_t)n) == 0, "round trip of %lld floats", (long long)n);
    /* f64 transfers round to fp32 on a device, exact on the reference */
    double *xd = malloc(sizeof(double) * (size_t)n), *yd = malloc(sizeof(double) * (size_t)n);
    cr_assert(xd && yd);
    for (int64_t i = 0; i < n; i++) xd[i] = x[i];
    ok(ctx, prism_tensor_upload_f64(t, xd, n), "upload_f64");
    ok(ctx, prism_tensor_download_f64(t, yd, n), "download_f64");
    cr_assert(memcmp(xd, yd, sizeof(double) * (size_t)n) == 0, "f64 round trip of %lld values", (long long)n);
    prism_tensor_destroy(t);
    free(x);
    free(y);
    free(xd);
    free(yd);
}

Test(runtime, tensor_round_trip_small) {
    prism_context *ctx = mk(NULL, NULL, 0, NULL);
    round_trip(ctx, 1);
    round_trip(ctx, 7);
    round_trip(ctx, 1000);
    t_destroy(ctx);
    ctx = mk("reference", NULL, 0, NULL);
    round_trip(ctx, 7);
    prism_context_destroy(ctx);
}

Test(runtime, tensor_round_trip_mapped_and_staged, .timeout = 300) {
    /* > 32 MiB staging chunk and not a multiple of it: three chunks, the last short */
    const int64_t n = ((int64_t)9 << 20) + 3;
    prism_context *ctx = mk(NULL, "unified_memory", 0, NULL);
    cr_assert_eq(prism_context_caps(ctx)->unified_memory, 0);
    round_trip(ctx, n);
    round_trip(ctx, 7);
    t_destroy(ctx);
    ctx = mk(NULL, NULL, 0, NULL);
    round_trip(ctx, n);
    t_destroy(ctx);
}

static void views_on(prism_context *ctx) {
    float x[16], y[16];
    for (int i = 0; i < 16; i++) x[i] = (float)i + 0.5f;
    prism_tensor *p = tensor_from(ctx, 16, x), *v = NULL, *bad = NULL;
    int64_t s22[2] = {2, 2}, s4 = 4, s17 = 17;

    /* bounds */
    cr_assert_eq(prism_tensor_view(p, 13, 1, &s4, &bad), PRISM_ERR_SHAPE);
    msg_has(ctx, "tensor_view", "[16]");
    cr_assert_null(bad);
    cr_assert_eq(prism_tensor_view(p, -1, 1, &s4, &bad), PRISM_ERR_SHAPE);
    cr_assert_eq(prism_tensor_view(p, 17, 1, &s4, &bad), PRISM_ERR_SHAPE);
    cr_assert_eq(prism_tensor_view(p, 0, 1, &s17, &bad), PRISM_ERR_SHAPE);
    cr_assert_eq(prism_tensor_view(p, INT64_MAX, 1, &s4, &bad), PRISM_ERR_SHAPE);
    cr_assert_eq(prism_tensor_view(p, 0, 0, &s4, &bad), PRISM_ERR_DIMS);
    cr_assert_eq(prism_tensor_view(p, 0, 1, &s4, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_tensor_view(NULL, 0, 1, &s4, &bad), PRISM_ERR_INVALID_ARGUMENT);

    /* an unaligned view: reads, writes through an op, the parent sees it */
    ok(ctx, prism_tensor_view(p, 3, 2, s22, &v), "view");
    cr_assert_eq(prism_tensor_numel(v), 4);
    float w[4];
    download(v, w);
    for (int i = 0; i < 4; i++) cr_assert_eq(w[i], x[3 + i]);
    prism_stream *s = stream(ctx);
    ok(ctx, prism_scale(s, v, -2.0f, v), "scale on view");
    ok(ctx, prism_stream_run(s), "run");
    download(p, y);
    for (int i = 0; i < 16; i++) cr_assert_eq(y[i], (i >= 3 && i < 7) ? -2.0f * x[i] : x[i], "parent at %d", i);
    float u[4] = {100, 101, 102, 103};
    ok(ctx, prism_tensor_upload(v, u, 4), "upload to view");
    download(p, y);
    for (int i = 0; i < 16; i++) cr_assert_eq(y[i], (i >= 3 && i < 7) ? u[i - 3] : x[i], "parent at %d", i);

    /* the view outlives its parent and keeps the data; ops still run on it */
    prism_tensor_destroy(p);
    download(v, w);
    for (int i = 0; i < 4; i++) cr_assert_eq(w[i], u[i]);
    ok(ctx, prism_stream_reset(s), "reset");
    ok(ctx, prism_axpy(s, 1.0f, v, v), "axpy on orphan view");
    ok(ctx, prism_stream_run(s), "run");
    download(v, w);
    for (int i = 0; i < 4; i++) cr_assert_eq(w[i], 2 * u[i]);
    /* a view of a view */
    prism_tensor *vv = NULL;
    int64_t s2 = 2;
    ok(ctx, prism_tensor_view(v, 1, 1, &s2, &vv), "view of view");
    prism_tensor_destroy(v);
    float z[2];
    download(vv, z);
    cr_assert_eq(z[0], 2 * u[1]);
    cr_assert_eq(z[1], 2 * u[2]);
    prism_tensor_destroy(vv);
    prism_stream_destroy(s);
}

Test(runtime, tensor_views) {
    prism_context *ctx = mk(NULL, NULL, 0, NULL);
    views_on(ctx);
    t_destroy(ctx);
    ctx = mk(NULL, "unified_memory", 0, NULL);
    views_on(ctx);
    t_destroy(ctx);
    ctx = mk("reference", NULL, 0, NULL);
    views_on(ctx);
    prism_context_destroy(ctx);
}

Test(runtime, wrong_context) {
    prism_context *a = mk(NULL, NULL, 0, NULL), *b = mk(NULL, NULL, 0, NULL), *r = mk("reference", NULL, 0, NULL);
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    prism_tensor *ta = tensor_from(a, 8, x), *tb = tensor_from(b, 8, x), *tr = tensor_from(r, 8, x);
    prism_stream *s = stream(a);
    cr_assert_eq(prism_add(s, ta, tb, ta), PRISM_ERR_WRONG_CONTEXT);
    msg_has(a, "add", "another context");
    cr_assert_eq(prism_copy(s, ta, tb), PRISM_ERR_WRONG_CONTEXT);
    msg_has(a, "copy", "another context");
    cr_assert_eq(prism_copy(s, tr, ta), PRISM_ERR_WRONG_CONTEXT, "a reference tensor on a device stream");
    cr_assert_eq(prism_stream_op_count(s), 0, "failed calls record nothing");
    prism_stream *sr = stream(r);
    cr_assert_eq(prism_scale(sr, ta, 2.0f, tr), PRISM_ERR_WRONG_CONTEXT, "a device tensor on a reference stream");
    msg_has(r, "scale", "another context");
    /* the good op still runs after the refusals */
    ok(a, prism_scale(s, ta, 2.0f, ta), "scale");
    ok(a, prism_stream_run(s), "run");
    float y[8];
    download(ta, y);
    for (int i = 0; i < 8; i++) cr_assert_eq(y[i], 2 * x[i]);
    prism_stream_destroy(s);
    prism_stream_destroy(sr);
    prism_tensor_destroy(ta);
    prism_tensor_destroy(tb);
    prism_tensor_destroy(tr);
    prism_context_destroy(r);
    t_destroy(b);
    t_destroy(a);
}

static void finish(prism_context *ctx) {
    if (is_reference(ctx)) prism_context_destroy(ctx);
    else t_destroy(ctx);
}

/* ------------------------------------------------------------------ pipeline cache */

static void run_one_op(prism_context *ctx) {
    float x[5] = {1, 2, 3, 4, 5}, y[5];
    prism_tensor *t = tensor_from(ctx, 5, x);
    prism_stream *s = stream(ctx);
    ok(ctx, prism_gelu(s, t, t), "gelu");
    ok(ctx, prism_scale(s, t, 2.0f, t), "scale");
    ok(ctx, prism_stream_run(s), "run");
    download(t, y);
    for (int i = 0; i < 5; i++) cr_assert(y[i] > 1.5f * x[i] && y[i] <= 2.0f * x[i], "at %d: %g", i, y[i]);
    prism_stream_destroy(s);
    prism_tensor_destroy(t);
}

static long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static void cache_file_path(prism_context *ctx, const char *dir, char *out, size_t len) {
    const uint8_t *u = prism_context_caps(ctx)->device_uuid;
    char hex[33];
    for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", u[i]);
    snprintf(out, len, "%s/pipeline-%s.bin", dir, hex);
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static size_t read_file(const char *path, unsigned char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

Test(runtime, pipeline_cache_file, .timeout = 300) {
    char *tmp = make_tmpdir();
    char dir[600], path[800];
    snprintf(dir, sizeof dir, "%s/nested/cache", tmp); /* created on demand */

    prism_context *ctx = mk(NULL, NULL, 0, dir);
    cache_file_path(ctx, dir, path, sizeof path);
    run_one_op(ctx);
    t_destroy(ctx);
    long full = file_size(path);
    cr_assert_gt(full, 8, "the cache is written on destroy: %s", path);
    static unsigned char good[4 << 20], buf[4 << 20], damaged[4 << 20];
    size_t ngood = read_file(path, good, sizeof good);
    cr_assert_lt(ngood, sizeof good);
    cr_assert_eq((long)ngood, full);
    cr_assert(memcmp(good, "PRISMPC1", 8) == 0, "header magic");
    cr_assert_eq(walk(dir, NULL, NULL), 1, "no temp file is left behind");

    /* a valid file is read back and the next context works */
    ctx = mk(NULL, NULL, 0, dir);
    run_one_op(ctx);
    t_destroy(ctx);
    cr_assert_gt(file_size(path), 8);

    /* damaged files are rejected whole and silently, then rewritten */
    struct { const char *what; size_t n; int flip; } bad[] = {
        {"truncated to half", 0, -1}, {"header only", 40, -1}, {"empty", 0, -2},
        {"flipped payload byte", 0, 1}, {"wrong magic", 0, 0},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        size_t n = bad[k].n ? bad[k].n : ngood / 2;
        memcpy(buf, good, ngood);
        if (bad[k].flip == -2) n = 0;
        if (bad[k].flip >= 0) {
            n = ngood;
            size_t at = bad[k].flip ? ngood - 1 : 0;
            buf[at] ^= 0x5a;
        }
        write_file(path, buf, n);
        memcpy(damaged, buf, n);
        ctx = mk(NULL, NULL, 0, dir);
        run_one_op(ctx);
        cr_assert_eq(prism_last_status(ctx), PRISM_OK, "%s: no error recorded (%s)", bad[k].what, prism_error_message(ctx));
        t_destroy(ctx);
        size_t nn = read_file(path, buf, sizeof buf);
        cr_assert_gt(nn, 8, "%s: rewritten", bad[k].what);
        cr_assert(memcmp(buf, "PRISMPC1", 8) == 0, "%s: rewritten with a good header", bad[k].what);
        cr_assert(nn != n || memcmp(buf, damaged, n) != 0, "%s: rewritten whole", bad[k].what);
    }

    /* garbage instead of a file of the right name: a directory */
    unlink(path);
    cr_assert_eq(mkdir(path, 0755), 0);
    ctx = mk(NULL, NULL, 0, dir);
    run_one_op(ctx);
    t_destroy(ctx);
    rmdir(path);
    rm_rf(tmp);
    free(tmp);
}

/* Files prism may have written below dir (Mesa and the validation layer keep
 * caches of their own under $XDG_CACHE_HOME; those are not ours): their
 * paths are appended to a found list. */
typedef struct found_list { char *buf; size_t len; int n; } found_list;
static void note_prism_file(const char *path, const char *name, bool is_dir, void *user) {
    found_list *f = user;
    if (strncmp(name, "pipeline-", 9) && strcmp(name, "prism")) return;
    size_t k = strlen(f->buf);
    snprintf(f->buf + k, f->len - k, "%s ", path);
    f->n++;
}

static int count_prism_files(const char *dir, char *found, size_t len) {
    found_list f = {found, len, 0};
    walk(dir, note_prism_file, &f);
    return f.n;
}

Test(runtime, pipeline_cache_disabled) {
    char *tmp = make_tmpdir();
    /* every fallback location points into tmp: "" must write nowhere */
    setenv("PRISM_CACHE_DIR", tmp, 1);
    setenv("XDG_CACHE_HOME", tmp, 1);
    setenv("HOME", tmp, 1);
    prism_context *ctx = mk(NULL, NULL, 0, "");
    run_one_op(ctx);
    t_destroy(ctx);
    char found[2048] = "";
    cr_assert_eq(count_prism_files(tmp, found, sizeof found), 0, "cache_dir \"\" writes nothing; found: %s", found);
    /* the environment is the default when cache_dir is NULL */
    ctx = mk(NULL, NULL, 0, NULL);
    char path[800];
    cache_file_path(ctx, tmp, path, sizeof path);
    run_one_op(ctx);
    t_destroy(ctx);
    cr_assert_gt(file_size(path), 8, "PRISM_CACHE_DIR is used when cache_dir is NULL");
    /* and $XDG_CACHE_HOME/prism without it */
    unsetenv("PRISM_CACHE_DIR");
    ctx = mk(NULL, NULL, 0, NULL);
    char xdg[700];
    snprintf(xdg, sizeof xdg, "%s/prism", tmp);
    cache_file_path(ctx, xdg, path, sizeof path);
    run_one_op(ctx);
    t_destroy(ctx);
    cr_assert_gt(file_size(path), 8, "$XDG_CACHE_HOME/prism is the fallback: %s", path);
    rm_rf(tmp);
    free(tmp);
}

/* ------------------------------------------------------------------ grid folding */

/* Frees what a one-op test made: its stream, two tensors, two host arrays. */
static void drop(prism_stream *s, prism_tensor *a, prism_tensor *b, void *x, void *y) {
    prism_stream_destroy(s);
    prism_tensor_destroy(a);
    prism_tensor_destroy(b);
    free(x);
    free(y);
}

Test(runtime, grid_folding_large_elementwise, .timeout = 300) {
    prism_context *ctx = mk(NULL, NULL, 0, NULL);
    const prism_caps *c = prism_context_caps(ctx);
    /* more workgroups than maxComputeWorkGroupCount[0] at the widest local size */
    int64_t n = (int64_t)c->max_workgroup_count[0] * 256 + 1234567;
    if ((uint64_t)n * 4 > c->max_storage_buffer_range) n = (int64_t)(c->max_storage_buffer_range / 4) - 1000;
    cr_assert_gt(n, (int64_t)65535 * 256);
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    cr_assert(x && y);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(i % 1024) - 511.5f;
    prism_tensor *tx = tensor_from(ctx, n, x), *ty = tensor1(ctx, n);
    prism_stream *s = stream(ctx);
    ok(ctx, prism_fill(s, ty, 1.0f), "fill");
    ok(ctx, prism_axpy(s, 2.0f, tx, ty), "axpy");
    ok(ctx, prism_stream_run(s), "run");
    download(ty, y);
    double sum = 0, want = 0;
    int64_t bad = -1;
    for (int64_t i = 0; i < n; i++) {
        float w = 1.0f + 2.0f * x[i];
        if (y[i] != w && bad < 0) bad = i;
        sum += y[i];
        want += w;
    }
    cr_assert_eq(bad, -1, "first wrong element %lld of %lld: %g", (long long)bad, (long long)n, bad >= 0 ? y[bad] : 0.0);
    int64_t fold = (int64_t)c->max_workgroup_count[0] * 256;
    int64_t pos[] = {0, 1, 255, 256, fold - 1, fold, fold + 1, n / 2, n - 2, n - 1};
    for (size_t k = 0; k < sizeof pos / sizeof pos[0]; k++)
        if (pos[k] < n) cr_assert_eq(y[pos[k]], 1.0f + 2.0f * x[pos[k]], "at %lld", (long long)pos[k]);
    cr_assert_eq(sum, want);
    drop(s, tx, ty, x, y);
    t_destroy(ctx);
}

/* Ops whose grids exceed maxComputeWorkGroupCount[0] without huge tensors:
 * a row reduction with one element per row (one row per invocation) and a
 * batched transpose of tiny matrices (one tile per batch entry). */
Test(runtime, grid_folding_other_ops, .timeout = 300) {
    prism_context *ctx = mk(NULL, NULL, 0, NULL);
    const prism_caps *c = prism_context_caps(ctx);
    int64_t nb = (int64_t)c->max_workgroup_count[0] + 4465; /* 70000 on most devices */
    int64_t xs[3] = {nb, 2, 3}, ys[3] = {nb, 3, 2};
    int64_t n = nb * 6;
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    cr_assert(x && y);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(i % 4099) - 2000.0f;
    prism_tensor *tx, *ty;
    ok(ctx, prism_tensor_create(ctx, 3, xs, &tx), "create x");
    ok(ctx, prism_tensor_create(ctx, 3, ys, &ty), "create y");
    ok(ctx, prism_tensor_upload(tx, x, n), "upload");
    prism_stream *s = stream(ctx);
    ok(ctx, prism_transpose(s, tx, ty), "transpose");
    ok(ctx, prism_stream_run(s), "run");
    download(ty, y);
    for (int64_t b = 0; b < nb; b++)
        for (int r = 0; r < 2; r++)
            for (int k = 0; k < 3; k++)
                if (y[b * 6 + k * 2 + r] != x[b * 6 + r * 3 + k])
                    cr_assert_fail("transpose batch %lld (%d,%d)", (long long)b, r, k);
    drop(s, tx, ty, x, y);

    /* row_sum of [rows, 1] */
    int64_t rows = (int64_t)c->max_workgroup_count[0] * 256 + 77777;
    if ((uint64_t)rows * 4 > c->max_storage_buffer_range) rows = (int64_t)(c->max_storage_buffer_range / 4) - 1000;
    int64_t rs[2] = {rows, 1};
    x = malloc(sizeof(float) * (size_t)rows);
    y = malloc(sizeof(float) * (size_t)rows);
    cr_assert(x && y);
    for (int64_t i = 0; i < rows; i++) x[i] = (float)(i % 1021) - 510.0f;
    ok(ctx, prism_tensor_create(ctx, 2, rs, &tx), "create rows");
    ty = tensor1(ctx, rows);
    ok(ctx, prism_tensor_upload(tx, x, rows), "upload rows");
    s = stream(ctx);
    ok(ctx, prism_row_sum(s, tx, ty), "row_sum");
    ok(ctx, prism_stream_run(s), "run");
    download(ty, y);
    int64_t bad = -1;
    for (int64_t i = 0; i < rows && bad < 0; i++)
        if (y[i] != x[i]) bad = i;
    cr_assert_eq(bad, -1, "row_sum row %lld of %lld", (long long)bad, (long long)rows);
    drop(s, tx, ty, x, y);
    t_destroy(ctx);
}

/* ------------------------------------------------------------------ log and silence */

typedef struct log_sink {
    int count, level;
    char last[1024];
} log_sink;

static void on_log(void *user, int level, const char *msg) {
    log_sink *l = user;
    l->count++;
    l->level = level;
    snprintf(l->last, sizeof l->last, "%s", msg);
}

/* Redirects fds 1 and 2 into a temp file. */
typedef struct capture { int saved[2]; int fd; } capture;

static void capture_begin(capture *c) {
    fflush(stdout);
    fflush(stderr);
    char path[] = "/tmp/prism-rt-capture-XXXXXX";
    c->fd = mkstemp(path);
    cr_assert_geq(c->fd, 0);
    unlink(path);
    for (int i = 0; i < 2; i++) {
        c->saved[i] = dup(i + 1);
        dup2(c->fd, i + 1);
    }
}

static long capture_end(capture *c, char *buf, size_t len) {
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < 2; i++) {
        dup2(c->saved[i], i + 1);
        close(c->saved[i]);
    }
    long n = (long)lseek(c->fd, 0, SEEK_END);
    buf[0] = 0;
    if (n > 0) {
        lseek(c->fd, 0, SEEK_SET);
        ssize_t r = read(c->fd, buf, len - 1);
        buf[r > 0 ? r : 0] = 0;
    }
    close(c->fd);
    return n;
}

static void errors_quietly(prism_context *ctx) {
    log_sink l = {0};
    prism_set_log(ctx, on_log, &l);
    prism_tensor *t = NULL;
    int64_t bad[2] = {3, 0};
    capture cap;
    capture_begin(&cap);
    prism_status st1 = prism_tensor_create(ctx, 2, bad, &t);
    int64_t n = 4;
    prism_status st2 = prism_tensor_create(ctx, 1, &n, &t);
    float x[5] = {0};
    prism_status st3 = prism_tensor_upload(t, x, 5);
    prism_stream *s = NULL;
    prism_stream_create(ctx, &s);
    prism_status st4 = prism_scale(s, t, NAN, t);
    prism_status st5 = prism_stream_run(s);
    prism_stream_destroy(s);
    prism_tensor_destroy(t);
    char out[4096];
    long printed = capture_end(&cap, out, sizeof out);
    cr_assert_eq(st1, PRISM_ERR_DIMS);
    cr_assert_eq(st2, PRISM_OK);
    cr_assert_eq(st3, PRISM_ERR_SHAPE);
    cr_assert_eq(st4, PRISM_ERR_NOT_FINITE);
    cr_assert_eq(st5, PRISM_OK);
    cr_assert_eq(printed, 0, "the library printed: %s", out);
    cr_assert_eq(l.count, 3, "one log call per error (got %d, last: %s)", l.count, l.last);
    cr_assert_eq(l.level, 2);
    cr_assert(strstr(l.last, "scale") != NULL, "log carries the message: %s", l.last);
    prism_set_log(ctx, NULL, NULL);
    t = NULL;
    cr_assert_eq(prism_tensor_create(ctx, 0, bad, &t), PRISM_ERR_DIMS);
    cr_assert_eq(l.count, 3, "no calls after the sink is removed");
}

Test(runtime, log_callback_and_silence) {
    prism_context *ctx = mk(NULL, NULL, 0, NULL);
    errors_quietly(ctx);
    t_destroy(ctx);
    ctx = mk("reference", NULL, 0, NULL);
    errors_quietly(ctx);
    prism_context_destroy(ctx);
    cr_assert_str_eq(prism_status_string(PRISM_ERR_STALE), "stream uses a destroyed tensor");
    cr_assert_str_eq(prism_status_string((prism_status)999), "unknown status");
    cr_assert_str_eq(prism_error_message(NULL), "no context");
}

/* ------------------------------------------------------------------ more runtime paths */

/* Element-wise op over more elements than one binding may cover
 * (maxStorageBufferRange): the op binds the tensor in chunks. */
Test(runtime, elementwise_beyond_binding_range, .timeout = 300) {
    prism_context *ctx = mk(NULL, NULL, 0, NULL);
    const prism_caps *c = prism_context_caps(ctx);
    if (c->max_storage_buffer_range > ((uint64_t)256 << 20)) {
        t_destroy(ctx);
        cr_skip_test("maxStorageBufferRange %llu is too large to exceed cheaply",
                     (unsigned long long)c->max_storage_buffer_range);
    }
    int64_t n = (int64_t)(c->max_storage_buffer_range / 4) + 4099;
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    cr_assert(x && y);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(i % 777) - 300.0f;
    prism_tensor *tx = tensor_from(ctx, n, x), *ty = tensor1(ctx, n);
    prism_stream *s = stream(ctx);
    ok(ctx, prism_scale(s, tx, -3.0f, ty), "scale");
    ok(ctx, prism_add(s, ty, tx, ty), "add");
    ok(ctx, prism_stream_run(s), "run");
    download(ty, y);
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (y[i] != -2.0f * x[i]) bad = i;
    cr_assert_eq(bad, -1, "first wrong element %lld of %lld", (long long)bad, (long long)n);
    drop(s, tx, ty, x, y);
    t_destroy(ctx);
}

/* Liveness registry through growth, tombstones and rehashing: streams over
 * the survivors replay, streams over destroyed tensors are stale. */
ParameterizedTestParameters(runtime, registry_churn) {
    static int which[] = {0, 1};
    return cr_make_param_array(int, which, 2);
}

ParameterizedTest(int *which, runtime, registry_churn) {
    prism_context *ctx = mk_backend(*which);
    enum { T = 1500 };
    static prism_tensor *ts[T];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < T; i++) ts[i] = tensor1(ctx, 3);
        for (int i = 0; i < T; i += 2) prism_tensor_destroy(ts[i]);
        prism_stream *live = stream(ctx), *dead = stream(ctx);
        for (int i = 1; i < T; i += 150) ok(ctx, prism_fill(live, ts[i], (float)i), "fill live");
        ok(ctx, prism_stream_run(live), "run live");
        for (int i = 1; i < T; i += 150) {
            float y[3];
            download(ts[i], y);
            cr_assert_eq(y[2], (float)i);
        }
        prism_tensor *victim = tensor1(ctx, 3);
        ok(ctx, prism_fill(dead, victim, 1.0f), "fill victim");
        ok(ctx, prism_fill(dead, ts[T - 1], 1.0f), "fill survivor");
        prism_tensor_destroy(victim);
        cr_assert_eq(prism_stream_run(dead), PRISM_ERR_STALE, "round %d", round);
        ok(ctx, prism_stream_run(live), "live replays after the churn");
        prism_stream_destroy(live);
        prism_stream_destroy(dead);
        for (int i = 1; i < T; i += 2) prism_tensor_destroy(ts[i]);
    }
    finish(ctx);
}

/* Context creation that must fail with `want`; returns the (NULL) context. */
static prism_context *create_fails(int validate, prism_status want, char *err, size_t len) {
    prism_context_options o = prism_context_options_default();
    o.validate = validate;
    prism_context *ctx = NULL;
    prism_status st = prism_context_create(&o, &ctx, err, len);
    cr_assert_eq(st, want, "status %s: %s", prism_status_string(st), err);
    cr_assert_null(ctx);
    return ctx;
}

Test(runtime, context_validation_layer_missing) {
    /* VK_LAYER_PATH replaces the loader's explicit-layer search path */
    setenv("VK_LAYER_PATH", "/nonexistent-prism-layers", 1);
    char err[1024];
    prism_context *ctx = create_fails(1, PRISM_ERR_UNSUPPORTED, err, sizeof err);
    cr_assert(strstr(err, "vulkan-validationlayers") != NULL, "err names the package: %s", err);
    prism_context_options o = prism_context_options_default();
    o.validate = 0; /* without the layer the device still opens */
    ok(NULL, prism_context_create(&o, &ctx, err, sizeof err), err);
    prism_context_destroy(ctx);
}

Test(runtime, context_no_driver) {
    /* no ICD at all: the status says "no device" and points at the fixes */
    setenv("VK_ICD_FILENAMES", "/nonexistent-prism-icd.json", 1);
    setenv("VK_DRIVER_FILES", "/nonexistent-prism-icd.json", 1);
    char err[1024];
    prism_context *ctx = create_fails(0, PRISM_ERR_NO_DEVICE, err, sizeof err);
    cr_assert(strstr(err, "reference") != NULL, "err suggests the reference backend: %s", err);
    int n = -1;
    prism_status st = prism_enumerate_devices(NULL, 0, &n, err, sizeof err);
    cr_assert(st == PRISM_OK ? n == 0 : st == PRISM_ERR_NO_DEVICE, "enumerate: %s, %d devices: %s",
              prism_status_string(st), n, err);
    /* the reference backend needs no driver */
    ctx = mk("reference", NULL, 0, NULL);
    prism_context_destroy(ctx);
}

Test(runtime, tensor_too_large_for_device) {
    prism_context *ctx = mk(NULL, NULL, 0, NULL);
    const prism_caps *c = prism_context_caps(ctx);
    int64_t n = (int64_t)1 << 39; /* 2 TiB of fp32, within the 2^40-element dims limit */
    if ((uint64_t)n * 4 <= c->max_buffer_size) {
        t_destroy(ctx);
        cr_skip_test("device buffers may be larger than 2 TiB");
    }
    prism_tensor *t = (prism_tensor *)1;
    cr_assert_eq(prism_tensor_create(ctx, 1, &n, &t), PRISM_ERR_OUT_OF_DEVICE_MEMORY);
    cr_assert_null(t);
    msg_has(ctx, "tensor_create", "maximum buffer size");
    /* the context is still usable */
    run_one_op(ctx);
    t_destroy(ctx);
}

/* AdamW and SGD use a vec4 variant over the 16-byte-aligned bulk and a float
 * one over the tail, or over everything for a view that starts mid-vec4:
 * each path matches the float64 reference. Views at element offsets 0, 1
 * and 4 of larger tensors, 1003 elements (bulk + tail of 3), two replays. */
enum { OPT_N = 1003 };
static void optim_paths(prism_context *ctx, int64_t off, double *out) {
    prism_tensor *base[4], *view[4], *state = NULL;
    int64_t total = off + OPT_N, n = OPT_N;
    float *d = malloc(sizeof(float) * (size_t)total);
    cr_assert_not_null(d);
    for (int k = 0; k < 4; k++) {
        for (int64_t i = 0; i < total; i++) d[i] = (float)((i * (k + 3) * 29) % 97 + 1) / (k == 3 ? 9700.0f : 97.0f);
        base[k] = tensor_from(ctx, total, d);
        ok(ctx, prism_tensor_view(base[k], off, 1, &n, &view[k]), "view");
    }
    ok(ctx, prism_optim_state_create(ctx, 1e-2f, &state), "state");
    prism_adamw_params hp = prism_adamw_params_default();
    prism_stream *s = stream(ctx);
    ok(ctx, prism_optim_tick(s, &hp, state), "tick");
    ok(ctx, prism_adamw(s, &hp, state, view[0], view[1], view[2], view[3]), "adamw");
    ok(ctx, prism_sgd(s, 0.9f, 0.01f, state, view[0], view[1], view[3]), "sgd");
    for (int r = 0; r < 2; r++) ok(ctx, prism_stream_run(s), "run");
    for (int k = 0; k < 4; k++) ok(ctx, prism_tensor_download_f64(view[k], out + k * OPT_N, OPT_N), "download");
    prism_stream_destroy(s);
    for (int k = 0; k < 4; k++) {
        prism_tensor_destroy(view[k]);
        prism_tensor_destroy(base[k]);
    }
    prism_tensor_destroy(state);
    free(d);
}

Test(runtime, optim_vec4_tail_and_misaligned_views) {
    prism_context *dev = mk(NULL, NULL, 0, NULL), *ref = mk("reference", NULL, 0, NULL);
    static double a[4 * OPT_N], b[4 * OPT_N];
    const int64_t offs[3] = {0, 1, 4};
    for (int i = 0; i < 3; i++) {
        optim_paths(dev, offs[i], a);
        optim_paths(ref, offs[i], b);
        double num = 0, den = 0;
        for (int j = 0; j < 4 * OPT_N; j++) {
            cr_assert(isfinite(a[j]), "offset %lld: non-finite at %d", (long long)offs[i], j);
            num += (a[j] - b[j]) * (a[j] - b[j]);
            den += b[j] * b[j];
        }
        cr_assert_leq(num / den, 1e-10, "offset %lld: NMSE %g", (long long)offs[i], num / den);
    }
    prism_context_destroy(ref);
    t_destroy(dev);
}
