/* Element-wise ops: every check case (device vs reference, guards, finite
 * differences) plus aliasing and bad input. */
#include <math.h>
#include "common.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(basic, .init = setup, .fini = teardown, .timeout = 300);

Test(basic, fill_copy_cases) { t_run_cases(&env, "fill$"); t_run_cases(&env, "copy$"); }
Test(basic, add_mul_cases) { t_run_cases(&env, "add$"); t_run_cases(&env, "mul$"); }
Test(basic, scale_axpy_cases) { t_run_cases(&env, "scale$"); t_run_cases(&env, "axpy$"); }
Test(basic, relu_cases) { t_run_cases(&env, "relu"); }
Test(basic, gelu_cases) { t_run_cases(&env, "gelu"); }

Test(basic, output_may_alias_input) {
    int64_t n = 1000;
    float x[1000], out[1000];
    pc_random(7, x, n, -1, 1);
    prism_tensor *t;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &t), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(t, x, n), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_add(s, t, t, t), PRISM_OK);  /* t = 2t */
    cr_assert_eq(prism_relu(s, t, t), PRISM_OK);    /* then relu in place */
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    cr_assert_eq(prism_tensor_download(t, out, n), PRISM_OK);
    for (int i = 0; i < n; i++) cr_assert_eq(out[i], x[i] > 0 ? 2 * x[i] : 0.0f, "at %d", i);
    prism_stream_destroy(s);
    prism_tensor_destroy(t);
}

Test(basic, bad_input_statuses) {
    int64_t n7 = 7, n8 = 8;
    prism_tensor *a, *b;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n7, &a), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n8, &b), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_add(s, a, b, a), PRISM_ERR_SHAPE);
    cr_assert(strstr(prism_error_message(env.dev), "add") && strstr(prism_error_message(env.dev), "[8]"),
              "message names op and shape: %s", prism_error_message(env.dev));
    cr_assert_eq(prism_copy(s, NULL, a), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_scale(s, a, NAN, a), PRISM_ERR_NOT_FINITE);
    cr_assert_eq(prism_fill(s, a, INFINITY), PRISM_ERR_NOT_FINITE);
    cr_assert_eq(prism_fill(NULL, a, 1), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_stream_op_count(s), 0, "failed calls record nothing");
    prism_stream_destroy(s);
    prism_tensor_destroy(a);
    prism_tensor_destroy(b);
}
