/* RNG: Philox4x32-10 known answers, device vs reference cases, stream
 * properties and bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
#include "../runtime/reference/rng.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(rng, .init = setup, .fini = teardown, .timeout = 300);

Test(rng, uniform_cases) { t_run_cases(&env, "rng_uniform"); }
Test(rng, normal_cases) { t_run_cases(&env, "rng_normal"); }

/* Random123 kat_vectors for philox4x32_10 */
Test(rng, philox_known_answers) {
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
         0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int t = 0; t < 3; t++) {
        uint32_t out[4];
        prism_philox4x32_10(kat[t], kat[t] + 4, out);
        for (int i = 0; i < 4; i++)
            cr_expect_eq(out[i], kat[t][6 + i], "vector %d word %d: %08x != %08x", t, i, out[i], kat[t][6 + i]);
    }
}

/* The device's Philox on counter 0 key 0: the first four uniforms are the
 * known-answer words mapped by ((w >> 9) + 0.5) 2^-23. */
Test(rng, device_known_answer) {
    static const uint32_t w[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
    int64_t n = 4;
    float y[4];
    prism_tensor *t;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &t), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_rng_uniform(s, 0, 0, 0.0f, 1.0f, t), PRISM_OK);
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    cr_assert_eq(prism_tensor_download(t, y, n), PRISM_OK);
    for (int i = 0; i < 4; i++) cr_expect_eq(y[i], (float)(((w[i] >> 9) + 0.5) / 8388608.0), "word %d", i);
    prism_stream_destroy(s);
    prism_tensor_destroy(t);
}

/* offset counts blocks of 4: a fill at offset k/4 continues a longer fill */
Test(rng, offset_continues_the_stream) {
    int64_t n = 1000, m = 600;
    float a[1000], b[600];
    prism_tensor *ta, *tb;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &ta), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &m, &tb), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_rng_normal(s, 99, 5, 0.0f, 1.0f, ta), PRISM_OK);
    cr_assert_eq(prism_rng_normal(s, 99, 5 + 100, 0.0f, 1.0f, tb), PRISM_OK);
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    cr_assert_eq(prism_tensor_download(ta, a, n), PRISM_OK);
    cr_assert_eq(prism_tensor_download(tb, b, m), PRISM_OK);
    cr_assert(memcmp(a + 400, b, sizeof b) == 0);
    prism_stream_destroy(s);
    prism_tensor_destroy(ta);
    prism_tensor_destroy(tb);
}

/* loose sanity of the distributions (the exactness is in the cases) */
Test(rng, moments) {
    int64_t n = 100000;
    float *y = malloc(sizeof(float) * (size_t)n);
    prism_tensor *t;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &t), PRISM_OK);
    for (int normal = 0; normal < 2; normal++) {
        cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
        cr_assert_eq(normal ? prism_rng_normal(s, 5, 0, 1.0f, 2.0f, t) : prism_rng_uniform(s, 5, 0, -1.0f, 3.0f, t),
                     PRISM_OK);
        cr_assert_eq(prism_stream_run(s), PRISM_OK);
        cr_assert_eq(prism_tensor_download(t, y, n), PRISM_OK);
        double s1 = 0, s2 = 0;
        for (int64_t i = 0; i < n; i++) s1 += y[i];
        double mean = s1 / (double)n;
        for (int64_t i = 0; i < n; i++) s2 += (y[i] - mean) * (y[i] - mean);
        double var = s2 / (double)(n - 1);
        /* uniform(-1, 3): mean 1, var 16/12; normal(1, 2): mean 1, var 4 */
        cr_expect(fabs(mean - 1.0) < 0.02, "mean %g", mean);
        cr_expect(fabs(var - (normal ? 4.0 : 16.0 / 12.0)) < (normal ? 0.08 : 0.03), "var %g", var);
        prism_stream_destroy(s);
    }
    prism_tensor_destroy(t);
    free(y);
}

Test(rng, bad_input_statuses) {
    int64_t n = 8;
    prism_tensor *t, *other_t;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &t), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.ref, 1, &n, &other_t), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_rng_uniform(s, 1, 0, 0.0f, 1.0f, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_rng_uniform(NULL, 1, 0, 0.0f, 1.0f, t), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_rng_uniform(s, 1, 0, NAN, 1.0f, t), PRISM_ERR_NOT_FINITE);
    cr_assert_eq(prism_rng_uniform(s, 1, 0, 2.0f, 1.0f, t), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(prism_error_message(env.dev), "rng_uniform"), "%s", prism_error_message(env.dev));
    cr_assert_eq(prism_rng_uniform(s, 1, 0, -3e38f, 3e38f, t), PRISM_ERR_INVALID_ARGUMENT); /* hi - lo overflows */
    cr_assert_eq(prism_rng_normal(s, 1, 0, 0.0f, INFINITY, t), PRISM_ERR_NOT_FINITE);
    cr_assert_eq(prism_rng_normal(s, 1, 0, 0.0f, -1.0f, t), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_rng_normal(s, 1, 0, 0.0f, 1.0f, other_t), PRISM_ERR_WRONG_CONTEXT);
    cr_assert_eq(prism_stream_op_count(s), 0, "failed calls record nothing");
    prism_stream_destroy(s);
    prism_tensor_destroy(t);
    prism_tensor_destroy(other_t);
}
