/* Row reductions: every check case (device vs reference, guards, huge and
 * tiny norms, a tensor over one binding) plus bad input. */
#include <math.h>
#include <string.h>
#include "common.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(reduce, .init = setup, .fini = teardown, .timeout = 300);

Test(reduce, row_sum_cases) { t_run_cases(&env, "row_sum"); }
Test(reduce, row_dot_cases) { t_run_cases(&env, "row_dot"); }
Test(reduce, row_norm_cases) { t_run_cases(&env, "row_norm"); }

static void expect_msg(const char *a, const char *b, const char *c) {
    const char *m = prism_error_message(env.dev);
    cr_expect(strstr(m, a) && strstr(m, b) && (!c || strstr(m, c)), "message names op and shapes: %s", m);
}

Test(reduce, bad_input_statuses) {
    int64_t s34[2] = {3, 4}, s35[2] = {3, 5}, n3 = 3, n4 = 4;
    prism_tensor *x, *x35, *y3, *y4, *other;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 2, s34, &x), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, s35, &x35), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n3, &y3), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n4, &y4), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.ref, 1, &n3, &other), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);

    cr_expect_eq(prism_row_sum(s, x, y4), PRISM_ERR_SHAPE);
    expect_msg("row_sum", "[3, 4]", "[4]");
    cr_expect_eq(prism_row_norm(s, x, y4), PRISM_ERR_SHAPE);
    expect_msg("row_norm", "[3, 4]", "[4]");
    cr_expect_eq(prism_row_dot(s, x, x35, y3), PRISM_ERR_SHAPE);
    expect_msg("row_dot", "[3, 4]", "[3, 5]");
    cr_expect_eq(prism_row_sum(s, NULL, y3), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_row_sum(s, x, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_row_dot(s, x, NULL, y3), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_row_norm(NULL, x, y3), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_row_sum(s, x, other), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_row_dot(s, x, x, other), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_stream_op_count(s), 0, "failed calls record nothing");

    prism_stream_destroy(s);
    prism_tensor_destroy(x);
    prism_tensor_destroy(x35);
    prism_tensor_destroy(y3);
    prism_tensor_destroy(y4);
    prism_tensor_destroy(other);
}

Test(reduce, output_overlapping_input_is_refused) {
    int64_t n = 16, s44[2] = {4, 4}, n4 = 4;
    prism_tensor *base, *x, *y;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &base), PRISM_OK);
    cr_assert_eq(prism_tensor_view(base, 0, 2, s44, &x), PRISM_OK);
    cr_assert_eq(prism_tensor_view(base, 8, 1, &n4, &y), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_expect_eq(prism_row_sum(s, x, y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(prism_error_message(env.dev), "overlaps"), "%s", prism_error_message(env.dev));
    prism_stream_destroy(s);
    prism_tensor_destroy(y);
    prism_tensor_destroy(x);
    prism_tensor_destroy(base);
}

/* One row longer than a binding cannot be reduced in one workgroup pass: the
 * device refuses it clearly instead of binding out of range. */
Test(reduce, row_longer_than_a_binding_is_unsupported) {
    const prism_caps *caps = prism_context_caps(env.dev);
    int64_t cols = (int64_t)(caps->max_storage_buffer_range / 4) + 8, shape[2] = {1, cols}, one = 1;
    if (cols > ((int64_t)1 << 28)) cr_skip_test("maxStorageBufferRange too large to test cheaply");
    prism_tensor *x, *y;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 2, shape, &x), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &one, &y), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_expect_eq(prism_row_sum(s, x, y), PRISM_ERR_UNSUPPORTED);
    expect_msg("row_sum", "maxStorageBufferRange", NULL);
    prism_stream_destroy(s);
    prism_tensor_destroy(x);
    prism_tensor_destroy(y);
}

/* Rows of a multiple of 4 floats take the vec4 shader only when they start
 * 16-byte aligned; views at every offset mod 4 must give the same sums. */
Test(reduce, views_at_any_offset) {
    enum { R = 8, C = 16, N = R * C + 4 };
    float h[N], out[R];
    pc_random(99, h, N, -1, 1);
    int64_t n = N, shape[2] = {R, C}, nr = R;
    prism_tensor *base, *y;
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &base), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(base, h, n), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &nr, &y), PRISM_OK);
    for (int off = 0; off < 4; off++) {
        prism_tensor *x;
        prism_stream *s;
        cr_assert_eq(prism_tensor_view(base, off, 2, shape, &x), PRISM_OK);
        cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
        cr_assert_eq(prism_row_dot(s, x, x, y), PRISM_OK);
        cr_assert_eq(prism_stream_run(s), PRISM_OK);
        cr_assert_eq(prism_tensor_download(y, out, R), PRISM_OK);
        for (int i = 0; i < R; i++) {
            double ref = 0;
            for (int j = 0; j < C; j++) ref += (double)h[off + i * C + j] * h[off + i * C + j];
            cr_expect(fabs(out[i] - ref) <= 1e-5 * ref, "offset %d row %d: %g vs %g", off, i, out[i], ref);
        }
        prism_stream_destroy(s);
        prism_tensor_destroy(x);
    }
    prism_tensor_destroy(y);
    prism_tensor_destroy(base);
}
