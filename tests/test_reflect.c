/* reflect / reflect_backward: every check case (device vs reference, guard
 * regions, tiny/huge vectors, finite differences), the same cases on forced
 * kernel shapes (multi-chunk columns, odd rows per pass, interleaved columns,
 * rows split over dispatches), accumulation over replays, determinism,
 * unaligned views, zero vectors, and bad-input statuses. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
#include "prism/reflect.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(reflect, .init = setup, .fini = teardown, .timeout = 600);

/* Cases whose op is exactly `op` and whose kind is `kind`. */
static void run_cases(const pc_env *e, const char *op, const char *kind) {
    const pc_case *cases;
    int n = pc_all_cases(&cases), ran = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(cases[i].op, op) || strcmp(cases[i].kind, kind)) continue;
        pc_result r;
        pc_run_case(e, &cases[i], &r);
        ran++;
        cr_expect_eq(r.outcome, PC_PASS, "%s %s (%s): %s", cases[i].op, cases[i].shape, cases[i].kind, r.detail);
    }
    cr_assert_gt(ran, 0, "no %s cases for %s", kind, op);
}

Test(reflect, forward_cases) { run_cases(&env, "reflect", "device"); }
Test(reflect, backward_cases) { run_cases(&env, "reflect_backward", "device"); }
Test(reflect, backward_finite_differences) { run_cases(&env, "reflect_backward", "fd"); }

/* The plan is read at record time, so the same cases run on other kernel
 * shapes: S capped at 4 with 1 item per invocation makes most blocks span
 * several column chunks (pass 2 re-reads rows, partials read-modify-write);
 * 3 rows per pass (not a power of two) with contiguous runs of 3; the CPU
 * plan with interleaved columns; and a lowered binding limit splits the rows
 * over many dispatches. */
static void run_forced(const char *var, const char *value) {
    setenv(var, value, 1);
    run_cases(&env, "reflect", "device");
    run_cases(&env, "reflect_backward", "device");
    unsetenv(var);
}
Test(reflect, forced_multichunk_interleaved) { run_forced("PRISM_REFLECT_TILE", "4,1,1,0"); }
Test(reflect, forced_three_rows_contiguous) { run_forced("PRISM_REFLECT_TILE", "2,3,3,1"); }
Test(reflect, forced_wide_interleaved) { run_forced("PRISM_REFLECT_TILE", "0,4,2,0"); }
Test(reflect, forced_row_split) { run_forced("PRISM_REFLECT_MAX_BINDING", "8192"); }
/* the GPU plan (whole-workgroup segments, max and sum trees, blocks in
 * registers) on whatever device runs the tests */
Test(reflect, forced_gpu_plan) { run_forced("PRISM_REFLECT_TILE", "256,4,2,0,256"); }
/* subgroup segments (the CPU plan for wide blocks where subgroup ops exist;
 * the default cases already take it in registers) over several column
 * chunks, 3 rows per pass, contiguous runs; without subgroup ops (the
 * baseline run) the same tile falls back to one invocation per block */
Test(reflect, forced_subgroup_multichunk) { run_forced("PRISM_REFLECT_TILE", "0,1,3,1,0,1"); }

/* ---- direct tests on small tensors */

typedef struct small {
    prism_tensor *x, *u, *v, *dy, *y, *dx, *du, *dv, *work;
    float hx[6 * 8], hu[8], hv[8], hdy[6 * 8];
} small;

static void small_make(small *t, prism_context *ctx) {
    int64_t xs[2] = {6, 8}, us[2] = {2, 4};
    memset(t, 0, sizeof *t);
    pc_random(5, t->hx, 48, -1, 1);
    pc_random(6, t->hu, 8, -1, 1);
    pc_random(7, t->hv, 8, -1, 1);
    pc_random(8, t->hdy, 48, -1, 1);
    cr_assert_eq(prism_tensor_create(ctx, 2, xs, &t->x), PRISM_OK);
    cr_assert_eq(prism_tensor_create(ctx, 2, xs, &t->dy), PRISM_OK);
    cr_assert_eq(prism_tensor_create(ctx, 2, xs, &t->y), PRISM_OK);
    cr_assert_eq(prism_tensor_create(ctx, 2, xs, &t->dx), PRISM_OK);
    cr_assert_eq(prism_tensor_create(ctx, 2, us, &t->u), PRISM_OK);
    cr_assert_eq(prism_tensor_create(ctx, 2, us, &t->v), PRISM_OK);
    cr_assert_eq(prism_tensor_create(ctx, 2, us, &t->du), PRISM_OK);
    cr_assert_eq(prism_tensor_create(ctx, 2, us, &t->dv), PRISM_OK);
    int64_t w = prism_reflect_work_elems(ctx, 6, 8, 1);
    cr_assert_geq(w, 16);
    cr_assert_eq(prism_tensor_create(ctx, 1, &w, &t->work), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(t->x, t->hx, 48), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(t->dy, t->hdy, 48), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(t->u, t->hu, 8), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(t->v, t->hv, 8), PRISM_OK);
}

static void small_free(small *t) {
    prism_tensor *all[9] = {t->x, t->u, t->v, t->dy, t->y, t->dx, t->du, t->dv, t->work};
    for (int i = 0; i < 9; i++) prism_tensor_destroy(all[i]);
}

static void grads(prism_context *ctx, small *t, int runs, float du[8], float dv[8]) {
    prism_stream *s;
    float zero[8] = {0};
    cr_assert_eq(prism_tensor_upload(t->du, zero, 8), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(t->dv, zero, 8), PRISM_OK);
    cr_assert_eq(prism_stream_create(ctx, &s), PRISM_OK);
    cr_assert_eq(prism_reflect_backward(s, t->x, t->u, t->v, t->dy, t->dx, t->du, t->dv, t->work), PRISM_OK, "%s",
                 prism_error_message(ctx));
    for (int i = 0; i < runs; i++) cr_assert_eq(prism_stream_run(s), PRISM_OK);
    cr_assert_eq(prism_tensor_download(t->du, du, 8), PRISM_OK);
    cr_assert_eq(prism_tensor_download(t->dv, dv, 8), PRISM_OK);
    prism_stream_destroy(s);
}

/* du/dv accumulate: three replays of one recorded backward give three times
 * one run, and the same run twice is bit-identical (no atomics). */
Test(reflect, accumulates_over_replays_and_is_deterministic) {
    small t;
    small_make(&t, env.dev);
    float du1[8], dv1[8], du1b[8], dv1b[8], du3[8], dv3[8];
    grads(env.dev, &t, 1, du1, dv1);
    grads(env.dev, &t, 1, du1b, dv1b);
    grads(env.dev, &t, 3, du3, dv3);
    cr_expect(!memcmp(du1, du1b, sizeof du1) && !memcmp(dv1, dv1b, sizeof dv1), "backward is deterministic");
    for (int i = 0; i < 8; i++) {
        cr_expect(fabsf(du3[i] - 3 * du1[i]) <= 1e-5f * (1 + fabsf(du1[i])), "du[%d] %g vs 3 x %g", i, du3[i], du1[i]);
        cr_expect(fabsf(dv3[i] - 3 * dv1[i]) <= 1e-5f * (1 + fabsf(dv1[i])), "dv[%d] %g vs 3 x %g", i, dv3[i], dv1[i]);
        cr_expect(du1[i] != 0 && dv1[i] != 0, "gradients are non-zero");
    }
    small_free(&t);
}

/* ETHER is a reflection: applying it twice gives x back, and it keeps norms. */
Test(reflect, ether_is_an_involution) {
    small t;
    small_make(&t, env.dev);
    prism_stream *s;
    float y[48], z[48];
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_reflect(s, t.x, t.u, NULL, NULL, t.y), PRISM_OK);
    cr_assert_eq(prism_reflect(s, t.y, t.u, NULL, NULL, t.dx), PRISM_OK);
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    cr_assert_eq(prism_tensor_download(t.y, y, 48), PRISM_OK);
    cr_assert_eq(prism_tensor_download(t.dx, z, 48), PRISM_OK);
    for (int r = 0; r < 6; r++) {
        double nx = 0, ny = 0;
        for (int j = 0; j < 8; j++) {
            cr_expect(fabsf(z[r * 8 + j] - t.hx[r * 8 + j]) < 1e-5f, "H H x == x at %d,%d", r, j);
            nx += (double)t.hx[r * 8 + j] * t.hx[r * 8 + j];
            ny += (double)y[r * 8 + j] * y[r * 8 + j];
        }
        cr_expect(fabs(nx - ny) < 1e-5 * nx, "row %d norm kept: %g vs %g", r, nx, ny);
    }
    prism_stream_destroy(s);
    small_free(&t);
}

/* Views at every offset mod 4 take the scalar kernel when unaligned; all must
 * agree with the reference. */
Test(reflect, views_at_any_offset) {
    enum { T = 5, D = 16, N = T * D + 4 };
    float h[N], hu[D], out[T * D];
    double ref[T * D], hd[T * D], ud[D];
    pc_random(31, h, N, -1, 1);
    pc_random(32, hu, D, -1, 1);
    int64_t n = N, xs[2] = {T, D}, us[2] = {4, 4};
    prism_tensor *base, *u, *y;
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &base), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(base, h, n), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, us, &u), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(u, hu, D), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, xs, &y), PRISM_OK);
    for (int off = 0; off < 4; off++) {
        prism_tensor *x;
        prism_stream *s;
        cr_assert_eq(prism_tensor_view(base, off, 2, xs, &x), PRISM_OK);
        cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
        cr_assert_eq(prism_reflect(s, x, u, NULL, NULL, y), PRISM_OK);
        cr_assert_eq(prism_stream_run(s), PRISM_OK);
        cr_assert_eq(prism_tensor_download(y, out, T * D), PRISM_OK);
        for (int i = 0; i < T * D; i++) hd[i] = h[off + i];
        for (int i = 0; i < D; i++) ud[i] = hu[i];
        /* plain ETHER on 4 blocks of 4 */
        for (int r = 0; r < T; r++)
            for (int b = 0; b < 4; b++) {
                double uu = 0, ux = 0;
                for (int j = 0; j < 4; j++) {
                    uu += ud[b * 4 + j] * ud[b * 4 + j];
                    ux += ud[b * 4 + j] * hd[r * D + b * 4 + j];
                }
                for (int j = 0; j < 4; j++) ref[r * D + b * 4 + j] = hd[r * D + b * 4 + j] - 2 * ud[b * 4 + j] * ux / uu;
            }
        for (int i = 0; i < T * D; i++) cr_expect(fabs(out[i] - ref[i]) < 1e-5, "offset %d elem %d: %g vs %g", off, i, out[i], ref[i]);
        prism_stream_destroy(s);
        prism_tensor_destroy(x);
    }
    prism_tensor_destroy(y);
    prism_tensor_destroy(u);
    prism_tensor_destroy(base);
}

/* A zero vector makes H undefined: the block's output is NaN on both
 * backends (loud), never a silent identity; other blocks are unaffected. */
static void zero_vector_on(prism_context *ctx) {
    small t;
    small_make(&t, ctx);
    float u[8];
    memcpy(u, t.hu, sizeof u);
    for (int j = 0; j < 4; j++) u[j] = 0; /* block 0 */
    cr_assert_eq(prism_tensor_upload(t.u, u, 8), PRISM_OK);
    prism_stream *s;
    float y[48];
    cr_assert_eq(prism_stream_create(ctx, &s), PRISM_OK);
    cr_assert_eq(prism_reflect(s, t.x, t.u, NULL, NULL, t.y), PRISM_OK);
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    cr_assert_eq(prism_tensor_download(t.y, y, 48), PRISM_OK);
    for (int r = 0; r < 6; r++)
        for (int j = 0; j < 8; j++)
            cr_expect(j < 4 ? isnan(y[r * 8 + j]) : isfinite(y[r * 8 + j]), "row %d col %d: %g", r, j, y[r * 8 + j]);
    prism_stream_destroy(s);
    small_free(&t);
}
Test(reflect, zero_vector_gives_nan_device) { zero_vector_on(env.dev); }
Test(reflect, zero_vector_gives_nan_reference) { zero_vector_on(env.ref); }

static void expect_msg(const char *a, const char *b) {
    const char *m = prism_error_message(env.dev);
    cr_expect(strstr(m, a) && (!b || strstr(m, b)), "message names op and shapes: %s", m);
}

Test(reflect, bad_input_statuses) {
    small t;
    small_make(&t, env.dev);
    int64_t s37[2] = {3, 7}, s23[2] = {2, 3}, s41[2] = {4, 2}, n8 = 8, n7 = 7, s68[2] = {6, 8}, n4 = 4;
    prism_tensor *x37, *u23, *u42, *b7, *other, *y_ref, *w_small, *xv;
    cr_assert_eq(prism_tensor_create(env.dev, 2, s37, &x37), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, s23, &u23), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, s41, &u42), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n7, &b7), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n8, &other), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.ref, 2, s68, &y_ref), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n4, &w_small), PRISM_OK);
    cr_assert_eq(prism_tensor_view(t.dy, 0, 2, s68, &xv), PRISM_OK); /* aliases dy */
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);

    /* blocks that do not divide d, 1-D u, v unlike u */
    cr_expect_eq(prism_reflect(s, x37, u23, NULL, NULL, x37), PRISM_ERR_SHAPE);
    expect_msg("reflect", "[2, 3]");
    cr_expect_eq(prism_reflect(s, t.x, other, NULL, NULL, t.y), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_reflect(s, t.x, t.u, u42, NULL, t.y), PRISM_ERR_SHAPE);
    expect_msg("v [4, 2]", "u [2, 4]");
    /* y, bias shapes */
    cr_expect_eq(prism_reflect(s, t.x, t.u, NULL, NULL, x37), PRISM_ERR_SHAPE);
    expect_msg("[3, 7]", "[6, 8]");
    cr_expect_eq(prism_reflect(s, t.x, t.u, NULL, b7, t.y), PRISM_ERR_SHAPE);
    expect_msg("bias [7]", NULL);
    /* NULLs and contexts */
    cr_expect_eq(prism_reflect(NULL, t.x, t.u, NULL, NULL, t.y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_reflect(s, NULL, t.u, NULL, NULL, t.y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_reflect(s, t.x, NULL, NULL, NULL, t.y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_reflect(s, t.x, t.u, NULL, NULL, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_reflect(s, t.x, t.u, NULL, NULL, y_ref), PRISM_ERR_WRONG_CONTEXT);
    /* overlaps */
    cr_expect_eq(prism_reflect(s, t.x, t.u, NULL, NULL, t.x), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg("overlaps", NULL);
    cr_expect_eq(prism_reflect_backward(s, t.x, t.u, NULL, t.dy, xv, t.du, NULL, t.work), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_reflect_backward(s, t.x, t.u, t.v, t.dy, t.dx, t.du, t.du, t.work), PRISM_ERR_INVALID_ARGUMENT);
    /* backward */
    cr_expect_eq(prism_reflect_backward(s, t.x, t.u, NULL, t.dy, t.dx, t.du, t.dv, t.work), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg("dv", "without v");
    cr_expect_eq(prism_reflect_backward(s, t.x, t.u, NULL, t.dy, t.dx, t.du, NULL, NULL), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg("work", NULL);
    cr_expect_eq(prism_reflect_backward(s, t.x, t.u, NULL, t.dy, t.dx, t.du, NULL, w_small), PRISM_ERR_SHAPE);
    expect_msg("work [4]", NULL);
    cr_expect_eq(prism_reflect_backward(s, t.x, t.u, NULL, x37, t.dx, t.du, NULL, t.work), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_reflect_backward(s, t.x, t.u, NULL, t.dy, t.dx, u42, NULL, t.work), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_reflect_backward(s, t.x, t.u, NULL, NULL, t.dx, t.du, NULL, t.work), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_reflect_backward(s, t.x, t.u, NULL, t.dy, t.dx, t.du, NULL, t.dy), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_reflect_work_elems(env.dev, 0, 8, 0), 0);
    cr_expect_eq(prism_stream_op_count(s), 0, "failed calls record nothing");

    prism_stream_destroy(s);
    prism_tensor *all[8] = {x37, u23, u42, b7, other, y_ref, w_small, xv};
    for (int i = 0; i < 8; i++) prism_tensor_destroy(all[i]);
    small_free(&t);
}

/* A row longer than one binding is refused clearly (the limit is lowered by
 * the test hook so this stays small). */
Test(reflect, row_longer_than_a_binding_is_unsupported) {
    int64_t xs[2] = {2, 4096}, us[2] = {1, 4096};
    prism_tensor *x, *y, *u;
    cr_assert_eq(prism_tensor_create(env.dev, 2, xs, &x), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, xs, &y), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, us, &u), PRISM_OK);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    setenv("PRISM_REFLECT_MAX_BINDING", "1024", 1);
    cr_expect_eq(prism_reflect(s, x, u, NULL, NULL, y), PRISM_ERR_UNSUPPORTED);
    unsetenv("PRISM_REFLECT_MAX_BINDING");
    expect_msg("reflect", "binding");
    prism_stream_destroy(s);
    prism_tensor_destroy(x);
    prism_tensor_destroy(y);
    prism_tensor_destroy(u);
}
