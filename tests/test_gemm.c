/* gemm: every check case on the default variant and on each forced variant
 * (PRISM_GEMM=reg|smem), the split paths' limits, and bad-input statuses.
 * Wrong rank (not 2-D/3-D, or A/B/C ranks differing) is PRISM_ERR_SHAPE. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
#include "internal.h" /* white box: which gemm pipelines a context built */

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(gemm, .init = setup, .fini = teardown, .timeout = 600);

Test(gemm, cases_default_variant) { t_run_cases(&env, "gemm"); }

/* The variant is chosen per call from PRISM_GEMM, so a fresh context per
 * variant also proves each pipeline compiles on its own. */
static void run_forced(const char *variant) {
    setenv("PRISM_GEMM", variant, 1);
    pc_env e;
    t_env(&e);
    t_run_cases(&e, "gemm");
    t_env_destroy(&e);
    unsetenv("PRISM_GEMM");
}
Test(gemm, cases_forced_reg) { run_forced("reg"); }
Test(gemm, cases_forced_smem) { run_forced("smem"); }

static bool built(const prism_context *ctx, const char *shader) {
    for (int i = 0; i < ctx->npipes; i++)
        if (!strcmp(ctx->pipes[i].shader->name, shader)) return true;
    return false;
}

/* PRISM_GEMM is read on every call: a bad value is rejected, and each forced
 * value builds its own pipeline (checked in the context's pipeline cache)
 * and gives the exact result on small integers. */
Test(gemm, variant_switch_is_read) {
    int64_t s2[2] = {4, 4};
    prism_tensor *a, *c;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 2, s2, &a), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, s2, &c), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    setenv("PRISM_GEMM", "bogus", 1);
    cr_expect_eq(prism_gemm(s, 0, 0, 1, a, a, 0, c), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(prism_error_message(env.dev), "PRISM_GEMM"), "%s", prism_error_message(env.dev));
    unsetenv("PRISM_GEMM");
    float x[16], out[2][16];
    for (int i = 0; i < 16; i++) x[i] = (float)(i % 5) - 2.0f;
    cr_assert_eq(prism_tensor_upload(a, x, 16), PRISM_OK);
    const char *v[2] = {"reg", "smem"};
    for (int i = 0; i < 2; i++) {
        setenv("PRISM_GEMM", v[i], 1);
        cr_assert_eq(prism_stream_reset(s), PRISM_OK);
        cr_assert_eq(prism_gemm(s, 0, 1, 1, a, a, 0, c), PRISM_OK, "%s", prism_error_message(env.dev));
        cr_assert_eq(prism_stream_run(s), PRISM_OK);
        cr_assert_eq(prism_tensor_download(c, out[i], 16), PRISM_OK);
        unsetenv("PRISM_GEMM");
        cr_expect(built(env.dev, i == 0 ? "gemm_reg" : "gemm_smem"), "PRISM_GEMM=%s built no such pipeline", v[i]);
        if (i == 0) cr_expect(!built(env.dev, "gemm_smem"), "PRISM_GEMM=reg built gemm_smem");
    }
    for (int i = 0; i < 16; i++) { /* small integers: both variants exact */
        float ref = 0;
        for (int k = 0; k < 4; k++) ref += x[(i / 4) * 4 + k] * x[(i % 4) * 4 + k];
        cr_expect_eq(out[0][i], ref, "reg at %d", i);
        cr_expect_eq(out[1][i], ref, "smem at %d", i);
    }
    prism_stream_destroy(s);
    prism_tensor_destroy(a);
    prism_tensor_destroy(c);
}

static prism_tensor *mk(prism_context *ctx, int nd, int64_t d0, int64_t d1, int64_t d2) {
    int64_t s[3] = {d0, d1, d2};
    prism_tensor *t = NULL;
    cr_assert_eq(prism_tensor_create(ctx, nd, s, &t), PRISM_OK);
    return t;
}

static void expect_msg(const char *a, const char *b, const char *c) {
    const char *m = prism_error_message(env.dev);
    cr_expect(strstr(m, a) && (!b || strstr(m, b)) && (!c || strstr(m, c)), "message: %s", m);
}

Test(gemm, bad_input_statuses) {
    prism_tensor *a = mk(env.dev, 2, 3, 4, 0), *b = mk(env.dev, 2, 5, 6, 0), *b46 = mk(env.dev, 2, 4, 6, 0);
    prism_tensor *c = mk(env.dev, 2, 3, 6, 0), *c2 = mk(env.dev, 2, 3, 7, 0), *v1 = mk(env.dev, 1, 12, 0, 0);
    prism_tensor *a3 = mk(env.dev, 3, 2, 3, 4), *b3 = mk(env.dev, 3, 3, 4, 6), *c3 = mk(env.dev, 3, 2, 3, 6);
    prism_tensor *other = mk(env.ref, 2, 3, 4, 0);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);

    cr_expect_eq(prism_gemm(s, 0, 0, 1, a, b, 0, c), PRISM_ERR_SHAPE);
    expect_msg("gemm", "[3, 4]", "inner dims 4 vs 5");
    cr_expect_eq(prism_gemm(s, 0, 0, 1, a, b46, 0, c2), PRISM_ERR_SHAPE); /* C [3,7] for [3,6] */
    expect_msg("gemm", "[3, 7]", NULL);
    cr_expect_eq(prism_gemm(s, 1, 0, 1, a, b46, 0, c), PRISM_ERR_SHAPE);  /* A^T is [4,3] */
    expect_msg("A^T", "inner dims 3 vs 4", NULL);
    cr_expect_eq(prism_gemm(s, 0, 0, 1, v1, b46, 0, c), PRISM_ERR_SHAPE); /* 1-D */
    expect_msg("gemm", "2-D or 3-D", NULL);
    cr_expect_eq(prism_gemm(s, 0, 0, 1, a3, b46, 0, c3), PRISM_ERR_SHAPE); /* ranks differ */
    cr_expect_eq(prism_gemm(s, 0, 0, 1, a3, b3, 0, c3), PRISM_ERR_SHAPE);  /* batch 2 vs 3 */
    expect_msg("batch", "[3, 4, 6]", NULL);
    cr_expect_eq(prism_gemm(s, 0, 0, 1, NULL, b46, 0, c), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_gemm(s, 0, 0, 1, a, b46, 0, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_gemm(NULL, 0, 0, 1, a, b46, 0, c), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_gemm(s, 2, 0, 1, a, b46, 0, c), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_gemm(s, 0, 0, 1, other, b46, 0, c), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_gemm(s, 0, 0, NAN, a, b46, 0, c), PRISM_ERR_NOT_FINITE);
    cr_expect_eq(prism_gemm(s, 0, 0, 1, a, b46, INFINITY, c), PRISM_ERR_NOT_FINITE);
    expect_msg("gemm", "beta", NULL);
    cr_expect_eq(prism_gemm(s, 0, 0, 1, a, b46, 0, (prism_tensor *)a), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_stream_op_count(s), 0, "failed calls record nothing");
    prism_stream_destroy(s);
    prism_tensor *ts[] = {a, b, b46, c, c2, v1, a3, b3, c3, other};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) prism_tensor_destroy(ts[i]);
}

Test(gemm, output_must_not_alias_input) {
    prism_tensor *a = mk(env.dev, 2, 4, 4, 0);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_expect_eq(prism_gemm(s, 0, 0, 1, a, a, 0, a), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg("gemm", "overlaps", NULL);
    prism_stream_destroy(s);
    prism_tensor_destroy(a);
}

/* B of one batch must fit one binding; the limit is lowered to make this cheap. */
Test(gemm, b_over_binding_limit_is_unsupported) {
    prism_tensor *a = mk(env.dev, 2, 2, 40, 0), *b = mk(env.dev, 2, 40, 50, 0), *c = mk(env.dev, 2, 2, 50, 0);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    setenv("PRISM_GEMM_MAX_BINDING", "1000", 1);
    cr_expect_eq(prism_gemm(s, 0, 0, 1, a, b, 0, c), PRISM_ERR_UNSUPPORTED);
    unsetenv("PRISM_GEMM_MAX_BINDING");
    expect_msg("gemm", "B", "binding");
    cr_expect_eq(prism_gemm(s, 0, 0, 1, a, b, 0, c), PRISM_OK);
    prism_stream_destroy(s);
    prism_tensor_destroy(a);
    prism_tensor_destroy(b);
    prism_tensor_destroy(c);
}

/* prism_gemm_lowrank: the main product's checks, plus E/F shapes, trans_f,
 * aliasing and gamma; values are checked by the "lowrank" check rows. */
Test(gemm, lowrank_bad_input_statuses) {
    prism_tensor *a = mk(env.dev, 2, 3, 4, 0), *b = mk(env.dev, 2, 4, 6, 0), *c = mk(env.dev, 2, 3, 6, 0);
    prism_tensor *e = mk(env.dev, 2, 3, 2, 0), *f = mk(env.dev, 2, 2, 6, 0), *ft = mk(env.dev, 2, 6, 2, 0);
    prism_tensor *e4 = mk(env.dev, 2, 4, 2, 0), *a3 = mk(env.dev, 3, 1, 3, 4), *b3 = mk(env.dev, 3, 1, 4, 6);
    prism_tensor *c3 = mk(env.dev, 3, 1, 3, 6);
    prism_stream *s;
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_expect_eq(prism_gemm_lowrank(s, 0, 0, 1, a, b, 0, c, 1, e4, 0, f), PRISM_ERR_SHAPE); /* E rows != M */
    expect_msg("gemm_lowrank", "[4, 2]", "E [M, r]");
    cr_expect_eq(prism_gemm_lowrank(s, 0, 0, 1, a, b, 0, c, 1, e, 0, ft), PRISM_ERR_SHAPE); /* F is [N, r] */
    expect_msg("gemm_lowrank", "[6, 2]", "F [r, N]");
    cr_expect_eq(prism_gemm_lowrank(s, 0, 0, 1, a, b, 0, c, 1, e, 1, f), PRISM_ERR_SHAPE);
    expect_msg("gemm_lowrank", "F^T", "F [N, r]");
    cr_expect_eq(prism_gemm_lowrank(s, 0, 0, 1, a3, b3, 0, c3, 1, e, 0, f), PRISM_ERR_SHAPE); /* batched */
    cr_expect_eq(prism_gemm_lowrank(s, 0, 0, 1, a, b, 0, c, 1, e, 2, f), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_gemm_lowrank(s, 0, 0, 1, a, b, 0, c, 1, NULL, 0, f), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_gemm_lowrank(s, 0, 0, 1, a, b, 0, c, NAN, e, 0, f), PRISM_ERR_NOT_FINITE);
    expect_msg("gemm_lowrank", "gamma", NULL);
    prism_tensor *cv = NULL; /* E as a view into C */
    int64_t sv[2] = {3, 2};
    cr_assert_eq(prism_tensor_view(c, 0, 2, sv, &cv), PRISM_OK);
    cr_expect_eq(prism_gemm_lowrank(s, 0, 0, 1, a, b, 0, c, 1, cv, 0, f), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg("gemm_lowrank", "overlaps E", NULL);
    prism_tensor_destroy(cv);
    cr_expect_eq(prism_stream_op_count(s), 0, "failed calls record nothing");
    /* the rank-r product rides in the epilogue: one dispatch, two without it */
    cr_expect_eq(prism_gemm_lowrank(s, 0, 0, 1, a, b, 0, c, 1, e, 0, f), PRISM_OK);
    cr_expect_eq(prism_stream_op_count(s), 1);
    setenv("PRISM_GEMM_LOWRANK", "0", 1);
    cr_expect_eq(prism_gemm_lowrank(s, 0, 0, 1, a, b, 0, c, 1, e, 1, ft), PRISM_OK);
    unsetenv("PRISM_GEMM_LOWRANK");
    cr_expect_eq(prism_stream_op_count(s), 3);
    prism_stream_destroy(s);
    prism_tensor *ts[] = {a, b, c, e, f, ft, e4, a3, b3, c3};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) prism_tensor_destroy(ts[i]);
}
