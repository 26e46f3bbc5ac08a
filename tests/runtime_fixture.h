/* Helpers shared by the tests of the runtime itself (tests/test_runtime*.c)
 * and of streams (tests/test_stream.c): contexts with explicit options,
 * small tensors, streams, status and message assertions. Header-only
 * (static inline, so a test that uses only some of them still builds with
 * -Werror), like adapter_fixture.h: tests/ builds only common.c as a
 * library. */
#ifndef PRISM_TEST_RUNTIME_FIXTURE_H
#define PRISM_TEST_RUNTIME_FIXTURE_H

#include <stdlib.h>
#include <string.h>
#include "common.h"

/* A context with explicit options; NULL device/disable = from the environment
 * (so the ctest registrations choose the device and the baseline path). */
static inline prism_context *mk(const char *device, const char *disable, int profile, const char *cache_dir) {
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
static inline prism_context *mk_backend(int which) { return mk(which ? "reference" : NULL, NULL, 0, NULL); }

static inline bool is_reference(prism_context *ctx) { return prism_context_backend(ctx) == PRISM_BACKEND_REFERENCE; }

/* Destroys a context, asserting a device context's validation layer stayed
 * silent (the reference backend has none). */
static inline void finish(prism_context *ctx) {
    if (is_reference(ctx)) prism_context_destroy(ctx);
    else t_destroy(ctx);
}

static inline void ok(prism_context *ctx, prism_status st, const char *what) {
    cr_assert_eq(st, PRISM_OK, "%s: %s (%s)", what, prism_status_string(st), prism_error_message(ctx));
}

/* The message of the last error contains both words (b may be NULL). */
static inline void msg_has(prism_context *ctx, const char *a, const char *b) {
    const char *m = prism_error_message(ctx);
    cr_assert(strstr(m, a) != NULL, "message lacks '%s': %s", a, m);
    if (b) cr_assert(strstr(m, b) != NULL, "message lacks '%s': %s", b, m);
}

static inline prism_tensor *tensor1(prism_context *ctx, int64_t n) {
    prism_tensor *t = NULL;
    prism_status st = prism_tensor_create(ctx, 1, &n, &t);
    cr_assert_eq(st, PRISM_OK, "tensor_create [%lld]: %s", (long long)n, prism_error_message(ctx));
    return t;
}

static inline prism_tensor *tensor_from(prism_context *ctx, int64_t n, const float *data) {
    prism_tensor *t = tensor1(ctx, n);
    cr_assert_eq(prism_tensor_upload(t, data, n), PRISM_OK, "upload: %s", prism_error_message(ctx));
    return t;
}

static inline void download(prism_tensor *t, float *out) {
    prism_status st = prism_tensor_download(t, out, prism_tensor_numel(t));
    cr_assert_eq(st, PRISM_OK, "download: %s", prism_error_message(prism_tensor_context(t)));
}

static inline prism_stream *stream(prism_context *ctx) {
    prism_stream *s = NULL;
    cr_assert_eq(prism_stream_create(ctx, &s), PRISM_OK, "stream_create: %s", prism_error_message(ctx));
    return s;
}

/* Two ops on a small tensor, results checked: the context works. */
static inline void run_one_op(prism_context *ctx) {
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

/* Frees what a one-op test made: its stream, two tensors, two host arrays. */
static inline void drop(prism_stream *s, prism_tensor *a, prism_tensor *b, void *x, void *y) {
    prism_stream_destroy(s);
    prism_tensor_destroy(a);
    prism_tensor_destroy(b);
    free(x);
    free(y);
}

#endif /* PRISM_TEST_RUNTIME_FIXTURE_H */
