/* Batched transpose: every check case (device vs reference, guards, tensors
 * over one binding in batch chunks and in blocks) plus bad input. */
#include <string.h>
#include "common.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(transpose, .init = setup, .fini = teardown, .timeout = 300);

Test(transpose, cases) { t_run_cases(&env, "transpose"); }

Test(transpose, bad_input_statuses) {
    int64_t s234[3] = {2, 3, 4}, s243[3] = {2, 4, 3}, s234b[3] = {2, 3, 4}, s343[3] = {3, 4, 3}, s43[2] = {4, 3},
            n5 = 5;
    prism_tensor *x, *y, *ybad, *ybatch, *y2d, *v, *other;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 3, s234, &x), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 3, s243, &y), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 3, s234b, &ybad), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 3, s343, &ybatch), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, s43, &y2d), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n5, &v), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.ref, 3, s243, &other), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);

    const prism_tensor *bad[] = {ybad, ybatch, y2d};
    const char *names[] = {"[2, 3, 4]", "[3, 4, 3]", "[4, 3]"};
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(prism_transpose(s, x, (prism_tensor *)bad[i]), PRISM_ERR_SHAPE, "output %s", names[i]);
        const char *m = prism_error_message(env.dev);
        cr_expect(strstr(m, "transpose") && strstr(m, names[i]) && strstr(m, "[2, 3, 4]"), "message: %s", m);
    }
    cr_expect_eq(prism_transpose(s, v, v), PRISM_ERR_SHAPE, "1-D input");
    cr_expect_eq(prism_transpose(s, NULL, y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_transpose(s, x, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_transpose(NULL, x, y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_transpose(s, x, other), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_transpose(s, x, x), PRISM_ERR_SHAPE, "in place with different shapes");
    cr_expect_eq(prism_stream_op_count(s), 0, "failed calls record nothing");

    prism_stream_destroy(s);
    prism_tensor_destroy(x);
    prism_tensor_destroy(y);
    prism_tensor_destroy(ybad);
    prism_tensor_destroy(ybatch);
    prism_tensor_destroy(y2d);
    prism_tensor_destroy(v);
    prism_tensor_destroy(other);
}

Test(transpose, in_place_is_refused) {
    int64_t s33[2] = {3, 3};
    prism_tensor *x;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 2, s33, &x), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_expect_eq(prism_transpose(s, x, x), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(prism_error_message(env.dev), "overlaps"), "%s", prism_error_message(env.dev));
    prism_stream_destroy(s);
    prism_tensor_destroy(x);
}

/* A row of x (or of y) longer than one binding cannot be tiled by row ranges. */
Test(transpose, row_longer_than_a_binding_is_unsupported) {
    const prism_caps *caps = prism_context_caps(env.dev);
    int64_t c = (int64_t)(caps->max_storage_buffer_range / 4) + 8, xs[2] = {1, c}, ys[2] = {c, 1};
    if (c > ((int64_t)1 << 28)) cr_skip_test("maxStorageBufferRange too large to test cheaply");
    prism_tensor *x, *y;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 2, xs, &x), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, ys, &y), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_expect_eq(prism_transpose(s, x, y), PRISM_ERR_UNSUPPORTED);
    cr_expect(strstr(prism_error_message(env.dev), "transpose"), "%s", prism_error_message(env.dev));
    prism_stream_destroy(s);
    prism_tensor_destroy(x);
    prism_tensor_destroy(y);
}
