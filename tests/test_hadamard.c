/* hadamard family (HUT / HiRA ops): every check case (device vs reference,
 * guards, splits over bindings, finite differences), bad input with exact
 * statuses, bit-identical replays, B = 0 giving W0 exactly. */
#include <math.h>
#include <string.h>
#include "common.h"
#include "prism/hadamard.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(hadamard, .init = setup, .fini = teardown, .timeout = 300);

Test(hadamard, merge_cases) { t_run_cases(&env, "hadamard_merge"); }
Test(hadamard, grad_cases) { t_run_cases(&env, "hadamard_grad"); }

static prism_tensor *mk(prism_context *ctx, int64_t r, int64_t c, uint64_t seed) {
    int64_t sh[2] = {r, c};
    prism_tensor *t = NULL;
    cr_assert_eq(prism_tensor_create(ctx, 2, sh, &t), PRISM_OK);
    float h[4096];
    cr_assert(r * c <= 4096);
    pc_random(seed, h, r * c, -1, 1);
    cr_assert_eq(prism_tensor_upload(t, h, r * c), PRISM_OK);
    return t;
}

static void expect_msg(const char *a, const char *b) {
    const char *m = prism_error_message(env.dev);
    cr_expect(strstr(m, a) && (!b || strstr(m, b)), "message names op and shapes: %s", m);
}

Test(hadamard, bad_input_statuses) {
    enum { M = 6, N = 5, R = 3 };
    prism_tensor *w0 = mk(env.dev, M, N, 1), *g = mk(env.dev, M, N, 2), *b = mk(env.dev, M, R, 3),
                 *a = mk(env.dev, R, N, 4), *w = mk(env.dev, M, N, 5), *da = mk(env.dev, R, N, 6),
                 *db = mk(env.dev, M, R, 7), *a_bad = mk(env.dev, R + 1, N, 8), *w_bad = mk(env.dev, M, N + 1, 9),
                 *other = mk(env.ref, M, N, 10);
    int64_t n1 = M * N;
    prism_tensor *flat;
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n1, &flat), PRISM_OK);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);

    /* merge */
    cr_expect_eq(prism_hadamard_merge(s, w0, b, a_bad, 1, w), PRISM_ERR_SHAPE);
    expect_msg("hadamard_merge", "[4, 5]");
    cr_expect_eq(prism_hadamard_merge(s, w0, b, a, 1, w_bad), PRISM_ERR_SHAPE);
    expect_msg("hadamard_merge", "[6, 6]");
    cr_expect_eq(prism_hadamard_merge(s, flat, b, a, 1, w), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_hadamard_merge(s, w0, a, b, 1, w), PRISM_ERR_SHAPE, "B and A swapped");
    cr_expect_eq(prism_hadamard_merge(s, NULL, b, a, 1, w), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_hadamard_merge(s, w0, b, a, 1, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_hadamard_merge(NULL, w0, b, a, 1, w), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_hadamard_merge(s, w0, b, a, 1, other), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_hadamard_merge(s, w0, b, a, NAN, w), PRISM_ERR_NOT_FINITE);
    cr_expect_eq(prism_hadamard_merge(s, w0, b, a, INFINITY, w), PRISM_ERR_NOT_FINITE);

    /* grad */
    cr_expect_eq(prism_hadamard_grad(s, w0, g, b, a, 1, 0, NULL, NULL, NULL), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg("hadamard_grad", "NULL");
    cr_expect_eq(prism_hadamard_grad(s, w0, w_bad, b, a, 1, 0, da, db, NULL), PRISM_ERR_SHAPE);
    expect_msg("hadamard_grad", "[6, 6]");
    cr_expect_eq(prism_hadamard_grad(s, w0, g, b, a, 1, 0, a_bad, db, NULL), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_hadamard_grad(s, w0, g, b, a, 1, 0, da, da, NULL), PRISM_ERR_SHAPE, "dB shaped like A");
    cr_expect_eq(prism_hadamard_grad(s, w0, g, b, a, 1, 0, db, NULL, NULL), PRISM_ERR_SHAPE, "dA shaped like B");
    cr_expect_eq(prism_hadamard_grad(s, w0, g, b, a, NAN, 0, da, db, NULL), PRISM_ERR_NOT_FINITE);
    cr_expect_eq(prism_hadamard_grad(s, w0, g, b, a, 1, INFINITY, da, db, NULL), PRISM_ERR_NOT_FINITE);
    cr_expect_eq(prism_hadamard_grad(s, w0, g, b, a, 1, 0, da, other, NULL), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_hadamard_grad(s, w0, NULL, b, a, 1, 0, da, db, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_hadamard_grad(s, w0, g, b, a, 1, 0, a, db, NULL), PRISM_ERR_INVALID_ARGUMENT,
                 "dA aliasing input A");
    cr_expect_eq(prism_hadamard_grad(s, w0, g, b, a, 1, 0, da, b, NULL), PRISM_ERR_INVALID_ARGUMENT,
                 "dB aliasing input B");
    expect_msg("hadamard_grad", "overlaps");
    cr_expect_eq(prism_stream_op_count(s), 0, "failed calls record nothing");

    prism_stream_destroy(s);
    prism_tensor *all[] = {w0, g, b, a, w, da, db, a_bad, w_bad, other, flat};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_destroy(all[i]);
}

/* Partial overlaps of the output with W0 are refused; W = W0 exactly is the
 * documented in-place form (checked by a case). */
Test(hadamard, partial_overlap_refused) {
    int64_t n = 64, s44[2] = {4, 4}, s41[2] = {4, 1}, s14[2] = {1, 4};
    prism_tensor *base, *w0, *w, *b, *a;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &base), PRISM_OK);
    cr_assert_eq(prism_tensor_view(base, 0, 2, s44, &w0), PRISM_OK);
    cr_assert_eq(prism_tensor_view(base, 8, 2, s44, &w), PRISM_OK);
    cr_assert_eq(prism_tensor_view(base, 40, 2, s41, &b), PRISM_OK);
    cr_assert_eq(prism_tensor_view(base, 48, 2, s14, &a), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_expect_eq(prism_hadamard_merge(s, w0, b, a, 1, w), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg("hadamard_merge", "overlaps");
    cr_expect_eq(prism_hadamard_merge(s, w0, b, a, 1, w0), PRISM_OK, "exact aliasing is allowed");
    prism_stream_destroy(s);
    prism_tensor *all[] = {w, w0, b, a, base};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_destroy(all[i]);
}

/* dA needs a workspace when it is split into row chunks: NULL or a short one
 * is refused; the reference backend needs none. */
Test(hadamard, workspace_required) {
    enum { M = 300, N = 16, R = 4 };
    int64_t need = prism_hadamard_grad_workspace(env.dev, M, N, R);
    cr_expect_eq(prism_hadamard_grad_workspace(env.ref, M, N, R), 0);
    cr_expect_eq(prism_hadamard_grad_workspace(env.dev, 0, N, R), 0);
    if (need == 0) cr_skip_test("this device computes dA without partials at [300, 16]");
    int64_t sw[2] = {M, N}, sb[2] = {M, R}, sa[2] = {R, N}, short_n = need - 1;
    prism_tensor *w0, *g, *b, *a, *da, *work;
    cr_assert_eq(prism_tensor_create(env.dev, 2, sw, &w0), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, sw, &g), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, sb, &b), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, sa, &a), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, sa, &da), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &short_n, &work), PRISM_OK);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_expect_eq(prism_hadamard_grad(s, w0, g, b, a, 1, 0, da, NULL, NULL), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg("hadamard_grad", "workspace");
    cr_expect_eq(prism_hadamard_grad(s, w0, g, b, a, 1, 0, da, NULL, work), PRISM_ERR_SHAPE);
    expect_msg("hadamard_grad", "workspace");
    cr_expect_eq(prism_hadamard_grad(s, w0, g, b, a, 1, 0, da, NULL, da), PRISM_ERR_INVALID_ARGUMENT, "work = dA");
    prism_stream_destroy(s);
    prism_tensor *all[] = {w0, g, b, a, da, work};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_destroy(all[i]);
}

/* Fixed-order sums: two runs (and a replay) give bit-identical gradients. */
Test(hadamard, deterministic_replay) {
    enum { M = 200, N = 64, R = 8 };
    static float w0h[M * N], gh[M * N], bh[M * R], ah[R * N], out1[R * N + M * R], out2[R * N + M * R];
    pc_random(1, w0h, M * N, -1, 1);
    pc_random(2, gh, M * N, -1, 1);
    pc_random(3, bh, M * R, -1, 1);
    pc_random(4, ah, R * N, -1, 1);
    int64_t sw[2] = {M, N}, sb[2] = {M, R}, sa[2] = {R, N};
    int64_t nw = prism_hadamard_grad_workspace(env.dev, M, N, R) + 1;
    prism_tensor *w0, *g, *b, *a, *da, *db, *work;
    cr_assert_eq(prism_tensor_create(env.dev, 2, sw, &w0), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, sw, &g), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, sb, &b), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, sa, &a), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, sa, &da), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, sb, &db), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &nw, &work), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(w0, w0h, M * N), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(g, gh, M * N), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(b, bh, M * R), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(a, ah, R * N), PRISM_OK);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_hadamard_grad(s, w0, g, b, a, 1, 0, da, db, work), PRISM_OK);
    for (int run = 0; run < 2; run++) {
        cr_assert_eq(prism_stream_run(s), PRISM_OK);
        float *o = run ? out2 : out1;
        cr_assert_eq(prism_tensor_download(da, o, R * N), PRISM_OK);
        cr_assert_eq(prism_tensor_download(db, o + R * N, M * R), PRISM_OK);
    }
    cr_expect(memcmp(out1, out2, sizeof out1) == 0, "replay differs");
    prism_stream_destroy(s);
    prism_tensor *all[] = {w0, g, b, a, da, db, work};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_destroy(all[i]);
}

/* B = 0 (HUT's init) must reproduce W0 bit for bit: 1 + s * 0 = 1 exactly. */
Test(hadamard, zero_b_is_identity) {
    enum { M = 13, N = 20, R = 4 };
    float w0h[M * N], out[M * N];
    prism_tensor *w0 = mk(env.dev, M, N, 5), *b, *a = mk(env.dev, R, N, 6), *w = mk(env.dev, M, N, 7);
    int64_t sb[2] = {M, R};
    cr_assert_eq(prism_tensor_create(env.dev, 2, sb, &b), PRISM_OK);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_fill(s, b, 0.0f), PRISM_OK);
    cr_assert_eq(prism_hadamard_merge(s, w0, b, a, 1.0f, w), PRISM_OK);
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    cr_assert_eq(prism_tensor_download(w, out, M * N), PRISM_OK);
    pc_random(5, w0h, M * N, -1, 1); /* what mk() uploaded */
    cr_expect(memcmp(out, w0h, sizeof out) == 0, "W differs from W0");
    prism_stream_destroy(s);
    prism_tensor *all[] = {w0, b, a, w};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_destroy(all[i]);
}

/* A row longer than one binding cannot be split by rows: both ops refuse it
 * clearly instead of binding out of range. */
Test(hadamard, row_longer_than_a_binding_is_unsupported) {
    const prism_caps *caps = prism_context_caps(env.dev);
    int64_t cols = (int64_t)(caps->max_storage_buffer_range / 4) + 8, sw[2] = {1, cols}, sb[2] = {1, 1};
    if (cols > ((int64_t)1 << 28)) cr_skip_test("maxStorageBufferRange too large to test cheaply");
    prism_tensor *w0, *w, *b, *a;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 2, sw, &w0), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, sw, &w), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, sb, &b), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, sw, &a), PRISM_OK); /* A [1, cols] */
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_expect_eq(prism_hadamard_merge(s, w0, b, a, 1, w), PRISM_ERR_UNSUPPORTED);
    expect_msg("hadamard_merge", "maxStorageBufferRange");
    prism_tensor *db;
    cr_assert_eq(prism_tensor_create(env.dev, 2, sb, &db), PRISM_OK);
    cr_expect_eq(prism_hadamard_grad(s, w0, w, b, a, 1, 0, NULL, db, NULL), PRISM_ERR_UNSUPPORTED);
    expect_msg("hadamard_grad", "maxStorageBufferRange");
    cr_expect_eq(prism_stream_op_count(s), 0, "failed calls record nothing");
    prism_stream_destroy(s);
    prism_tensor *all[] = {w0, w, b, a, db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) prism_tensor_destroy(all[i]);
}
