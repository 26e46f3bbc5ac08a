/* The runtime itself, part 3: dispatches the runtime must reshape. Grids
 * over maxComputeWorkGroupCount[0] folded into y and z (element-wise, a
 * batched transpose, a row reduction), element-wise ops over more than one
 * binding may cover (maxStorageBufferRange), and the vec4 / tail /
 * misaligned-view paths of AdamW and SGD against the float64 reference. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime_fixture.h"

TestSuite(runtime, .timeout = 300);

/* ------------------------------------------------------------------ grid folding */

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

/* ------------------------------------------------------------------ chunked bindings */

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

/* ------------------------------------------------------------------ vec4 / tail paths */

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
