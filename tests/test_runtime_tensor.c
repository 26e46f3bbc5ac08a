/* The runtime itself, part 2: tensors. Dims and shape errors, accessors,
 * host transfers (mapped and staged, including > 32 MiB, f32 and f64),
 * views (bounds, unaligned, outliving their parent, views of views), wrong
 * context, a tensor too large for the device, and the liveness registry
 * under churn. Every failure asserts the exact status and that the message
 * names the op and the shapes. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime_fixture.h"

TestSuite(runtime, .timeout = 300);

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

/* ------------------------------------------------------------------ liveness registry */

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
