/* Loss ops: every check case (device vs reference incl. ties and hostile
 * labels, guards, finite differences) plus exact values and bad input. */
#include <math.h>
#include <string.h>
#include "common.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(loss, .init = setup, .fini = teardown, .timeout = 300);

Test(loss, softmax_xent_cases) { t_run_cases(&env, "softmax_xent"); } /* fwd, bwd and fd */
Test(loss, accuracy_cases) { t_run_cases(&env, "accuracy_count"); }

/* uniform logits: loss = ln C exactly in the math; argmax ties -> index 0 */
Test(loss, known_values) {
    int64_t xs[2] = {4, 8}, b = 4, one = 1;
    float x[32], lab[4] = {0, 3, 7, 0}, loss, count, d[32];
    for (int i = 0; i < 32; i++) x[i] = 0.5f;
    prism_tensor *tx, *tl, *tloss, *tcount, *td;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 2, xs, &tx), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &b, &tl), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &one, &tloss), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &one, &tcount), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, xs, &td), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(tx, x, 32), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(tl, lab, 4), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_softmax_xent(s, tx, tl, tloss), PRISM_OK);
    cr_assert_eq(prism_accuracy_count(s, tx, tl, tcount), PRISM_OK);
    cr_assert_eq(prism_softmax_xent_backward(s, tx, tl, 4.0f, td), PRISM_OK);
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    cr_assert_eq(prism_tensor_download(tloss, &loss, 1), PRISM_OK);
    cr_assert_eq(prism_tensor_download(tcount, &count, 1), PRISM_OK);
    cr_assert_eq(prism_tensor_download(td, d, 32), PRISM_OK);
    cr_expect(fabsf(loss - logf(8.0f)) < 1e-6f, "loss %g", loss);
    cr_expect_eq(count, 2.0f, "rows with label 0 win the all-equal tie: %g", count);
    /* scale 4 / B 4 = 1: d = 1/8 - onehot */
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 8; j++)
            cr_expect(fabsf(d[r * 8 + j] - (0.125f - (j == (int)lab[r]))) < 1e-7f, "d[%d,%d] = %g", r, j, d[r * 8 + j]);
    prism_stream_destroy(s);
    prism_tensor_destroy(tx);
    prism_tensor_destroy(tl);
    prism_tensor_destroy(tloss);
    prism_tensor_destroy(tcount);
    prism_tensor_destroy(td);
}

Test(loss, bad_input_statuses) {
    int64_t xs[2] = {5, 3}, x3[3] = {5, 3, 1}, b5 = 5, b4 = 4, one = 1, two = 2;
    prism_tensor *x, *xx, *l5, *l4, *y1, *y2, *d, *other;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 2, xs, &x), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 3, x3, &xx), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &b5, &l5), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &b4, &l4), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &one, &y1), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &two, &y2), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &b4, &d), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.ref, 1, &one, &other), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_softmax_xent(s, x, l4, y1), PRISM_ERR_SHAPE);
    const char *msg = prism_error_message(env.dev);
    cr_assert(strstr(msg, "softmax_xent") && strstr(msg, "[5, 3]") && strstr(msg, "[4]"), "%s", msg);
    cr_assert_eq(prism_softmax_xent(s, xx, l5, y1), PRISM_ERR_SHAPE);
    cr_assert_eq(prism_softmax_xent(s, x, l5, y2), PRISM_ERR_SHAPE);
    cr_assert_eq(prism_accuracy_count(s, x, l5, y2), PRISM_ERR_SHAPE);
    cr_assert_eq(prism_softmax_xent_backward(s, x, l5, 1.0f, d), PRISM_ERR_SHAPE);
    cr_assert(strstr(prism_error_message(env.dev), "softmax_xent_backward"), "%s", prism_error_message(env.dev));
    cr_assert_eq(prism_softmax_xent_backward(s, x, l5, NAN, x), PRISM_ERR_NOT_FINITE);
    cr_assert_eq(prism_softmax_xent(s, NULL, l5, y1), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_softmax_xent(s, x, NULL, y1), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_accuracy_count(NULL, x, l5, y1), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_softmax_xent(s, x, l5, other), PRISM_ERR_WRONG_CONTEXT);
    cr_assert_eq(prism_stream_op_count(s), 0, "failed calls record nothing");
    prism_stream_destroy(s);
    prism_tensor_destroy(x);
    prism_tensor_destroy(xx);
    prism_tensor_destroy(l5);
    prism_tensor_destroy(l4);
    prism_tensor_destroy(y1);
    prism_tensor_destroy(y2);
    prism_tensor_destroy(d);
    prism_tensor_destroy(other);
}
