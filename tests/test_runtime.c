/* The runtime itself, part 1: context and device choice (and their errors
 * without a driver or the validation layer), PRISM_DISABLE, caps, the
 * pipeline cache file, the log callback and silence on stdout/stderr. Every
 * failure asserts the exact status and that the message names the cause.
 * Tensors: test_runtime_tensor.c; large dispatches: test_runtime_dispatch.c;
 * streams: test_stream.c. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runtime_fixture.h"

TestSuite(runtime, .timeout = 300);

/* ------------------------------------------------------------------ helpers */

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

/* ------------------------------------------------------------------ pipeline cache */

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
