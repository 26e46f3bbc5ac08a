/* rfft / irfft / fft_c2c / ifft2_real: every check case (lengths of the brief
 * on both axes, global and matrix paths forced, round trips, in place, NaN
 * isolation, guards), known values and bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
#include "prism/dct.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(fft, .init = setup, .fini = teardown, .timeout = 600);

Test(fft, rfft_cases) { t_run_cases(&env, "rfft"); }
Test(fft, irfft_cases) { t_run_cases(&env, "irfft"); }
Test(fft, c2c_cases) { t_run_cases(&env, "fft_c2c"); }
Test(fft, ifft2_real_cases) { t_run_cases(&env, "ifft2_real"); }

/* torch.fft.rfft([1, 2, 3, 4]) = [10, -2+2j, -2]; irfft of [10, -2+2j, -2+5j]
 * (the 5j at Nyquist is ignored) = [1, 2, 3, 4]; on both backends. */
Test(fft, known_values) {
    prism_context *ctxs[2] = {env.dev, env.ref};
    const float x[4] = {1, 2, 3, 4}, xf[6] = {10, 0, -2, 2, -2, 5};
    const double want[6] = {10, 0, -2, 2, -2, 0};
    for (int b = 0; b < 2; b++) {
        int64_t s4[2] = {1, 4}, s6[2] = {1, 6};
        prism_fft_plan *p;
        prism_tensor *tx, *ty, *tf, *tz;
        prism_stream *s;
        cr_assert_eq(prism_fft_plan_create(ctxs[b], 4, PRISM_TRANSFORM_AUTO, &p), PRISM_OK);
        cr_assert_eq(prism_tensor_create(ctxs[b], 2, s4, &tx), PRISM_OK);
        cr_assert_eq(prism_tensor_create(ctxs[b], 2, s6, &ty), PRISM_OK);
        cr_assert_eq(prism_tensor_create(ctxs[b], 2, s6, &tf), PRISM_OK);
        cr_assert_eq(prism_tensor_create(ctxs[b], 2, s4, &tz), PRISM_OK);
        cr_assert_eq(prism_tensor_upload(tx, x, 4), PRISM_OK);
        cr_assert_eq(prism_tensor_upload(tf, xf, 6), PRISM_OK);
        cr_assert_eq(prism_stream_create(ctxs[b], &s), PRISM_OK);
        cr_assert_eq(prism_rfft(s, p, PRISM_ALONG_ROWS, tx, ty), PRISM_OK);
        cr_assert_eq(prism_irfft(s, p, PRISM_ALONG_ROWS, tf, tz), PRISM_OK);
        cr_assert_eq(prism_stream_run(s), PRISM_OK);
        double y[6], z[4];
        cr_assert_eq(prism_tensor_download_f64(ty, y, 6), PRISM_OK);
        cr_assert_eq(prism_tensor_download_f64(tz, z, 4), PRISM_OK);
        for (int i = 0; i < 6; i++) cr_expect(fabs(y[i] - want[i]) < 1e-5, "backend %d: y[%d] = %g", b, i, y[i]);
        for (int i = 0; i < 4; i++) cr_expect(fabs(z[i] - x[i]) < 1e-5, "backend %d: z[%d] = %g", b, i, z[i]);
        prism_stream_destroy(s);
        prism_tensor_destroy(tx);
        prism_tensor_destroy(ty);
        prism_tensor_destroy(tf);
        prism_tensor_destroy(tz);
        prism_fft_plan_destroy(p);
    }
}

static void expect_msg(const char *a, const char *b) {
    const char *m = prism_error_message(env.dev);
    cr_expect(strstr(m, a) && (!b || strstr(m, b)), "message names op and shapes: %s", m);
}

Test(fft, bad_input_statuses) {
    int64_t s38[2] = {3, 8}, s310[2] = {3, 10}, s58[2] = {5, 8}, s316[2] = {3, 16}, s36[2] = {3, 6}, n100 = 100;
    prism_tensor *x, *y10, *y8, *x58, *c16, *c6, *other, *work;
    prism_fft_plan *p8, *p3, *p5, *pref;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 2, s38, &x), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, s310, &y10), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, s38, &y8), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, s58, &x58), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, s316, &c16), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, s36, &c6), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n100, &work), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.ref, 2, s38, &other), PRISM_OK);
    cr_assert_eq(prism_fft_plan_create(env.dev, 8, PRISM_TRANSFORM_AUTO, &p8), PRISM_OK);
    cr_assert_eq(prism_fft_plan_create(env.dev, 3, PRISM_TRANSFORM_AUTO, &p3), PRISM_OK);
    cr_assert_eq(prism_fft_plan_create(env.dev, 5, PRISM_TRANSFORM_AUTO, &p5), PRISM_OK);
    cr_assert_eq(prism_fft_plan_create(env.ref, 8, PRISM_TRANSFORM_AUTO, &pref), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);

    cr_expect_eq(prism_rfft(s, p8, PRISM_ALONG_ROWS, x, y10), PRISM_OK, "[3,8] -> [3,10]");
    cr_expect_eq(prism_rfft(s, p8, PRISM_ALONG_ROWS, x, y8), PRISM_ERR_SHAPE);
    expect_msg("rfft", "[3, 8]");
    cr_expect_eq(prism_rfft(s, p3, PRISM_ALONG_ROWS, x, y10), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_irfft(s, p8, PRISM_ALONG_ROWS, y10, y8), PRISM_OK);
    cr_expect_eq(prism_irfft(s, p8, PRISM_ALONG_ROWS, y8, y8), PRISM_ERR_SHAPE);
    expect_msg("irfft", NULL);
    cr_expect_eq(prism_irfft(s, p8, PRISM_ALONG_ROWS, y10, y10), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_fft_c2c(s, p8, PRISM_ALONG_ROWS, 0, c16, c16), PRISM_OK);
    cr_expect_eq(prism_fft_c2c(s, p3, PRISM_ALONG_COLS, 1, c6, c6), PRISM_OK);
    cr_expect_eq(prism_fft_c2c(s, p8, PRISM_ALONG_ROWS, 2, c16, c16), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_fft_c2c(s, p8, PRISM_ALONG_COLS, 0, c16, c16), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_fft_c2c(s, p8, PRISM_ALONG_ROWS, 0, x, x), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_rfft(s, NULL, PRISM_ALONG_ROWS, x, y10), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_rfft(s, p8, (prism_transform_axis)5, x, y10), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_rfft(s, p8, PRISM_ALONG_ROWS, NULL, y10), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_rfft(s, pref, PRISM_ALONG_ROWS, x, y10), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_irfft(s, p8, PRISM_ALONG_ROWS, y10, other), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_rfft(NULL, p8, PRISM_ALONG_ROWS, x, y10), PRISM_ERR_INVALID_ARGUMENT);
    /* ifft2_real: x [5, 8] needs a row plan of 8, a column plan of 5, work >= 80 */
    cr_expect_eq(prism_ifft2_real(s, p8, p5, x58, work, x58), PRISM_OK, "in place");
    cr_expect_eq(prism_ifft2_real(s, p5, p8, x58, work, x58), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_ifft2_real(s, p8, p5, x58, x58, x58), PRISM_ERR_SHAPE, "work too small");
    cr_expect_eq(prism_ifft2_real(s, p8, p5, x58, NULL, x58), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_ifft2_real(s, p8, pref, x58, work, x58), PRISM_ERR_WRONG_CONTEXT);

    /* overlap: rfft output over its input is refused, so is work over x */
    prism_tensor *base, *va, *vb;
    int64_t n64 = 64, s28[2] = {2, 8}, s210[2] = {2, 10};
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n64, &base), PRISM_OK);
    cr_assert_eq(prism_tensor_view(base, 0, 2, s28, &va), PRISM_OK);
    cr_assert_eq(prism_tensor_view(base, 10, 2, s210, &vb), PRISM_OK);
    cr_expect_eq(prism_rfft(s, p8, PRISM_ALONG_ROWS, va, vb), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg("overlaps", NULL);
    int ops = prism_stream_op_count(s);
    cr_expect_eq(prism_rfft(s, p8, PRISM_ALONG_ROWS, x, y8), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_stream_op_count(s), ops, "failed calls record nothing");
    cr_expect_eq(prism_stream_run(s), PRISM_OK);

    prism_tensor_destroy(va);
    prism_tensor_destroy(vb);
    prism_tensor_destroy(base);
    prism_stream_destroy(s);
    prism_fft_plan_destroy(p8);
    prism_fft_plan_destroy(p3);
    prism_fft_plan_destroy(p5);
    prism_fft_plan_destroy(pref);
    prism_tensor_destroy(x);
    prism_tensor_destroy(y10);
    prism_tensor_destroy(y8);
    prism_tensor_destroy(x58);
    prism_tensor_destroy(c16);
    prism_tensor_destroy(c6);
    prism_tensor_destroy(work);
    prism_tensor_destroy(other);
}

/* fft_big's 8-byte accesses need an even binding offset (the shader checks
 * boff): rfft of rows viewed at odd offsets of x and y, forced through
 * fft_big, must equal fft_smem2's result on the same data. */
Test(fft, big_variant_misaligned_views) {
    enum { B = 5, N = 1024, K2 = N + 2 };
    int64_t nb = 1 + B * K2, sx[2] = {B, N}, sy[2] = {B, K2};
    static float xb[1 + B * K2];
    static double want[B * K2], got[B * K2];
    for (int64_t i = 0; i < nb; i++) xb[i] = (float)sin(0.37 * (double)i + 1.0) + 0.25f;
    prism_fft_plan *p;
    prism_tensor *bx, *by, *vx, *vy, *ax, *ay;
    prism_stream *s;
    cr_assert_eq(prism_fft_plan_create(env.dev, N, PRISM_TRANSFORM_AUTO, &p), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &nb, &bx), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &nb, &by), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(bx, xb, nb), PRISM_OK);
    cr_assert_eq(prism_tensor_view(bx, 1, 2, sx, &vx), PRISM_OK);
    cr_assert_eq(prism_tensor_view(by, 1, 2, sy, &vy), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, sx, &ax), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, sy, &ay), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(ax, xb + 1, B * N), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    setenv("PRISM_FFT_BIG", "0", 1);
    cr_assert_eq(prism_rfft(s, p, PRISM_ALONG_ROWS, ax, ay), PRISM_OK);
    setenv("PRISM_FFT_BIG", "1", 1);
    cr_assert_eq(prism_rfft(s, p, PRISM_ALONG_ROWS, vx, vy), PRISM_OK);
    unsetenv("PRISM_FFT_BIG");
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    cr_assert_eq(prism_tensor_download_f64(ay, want, B * K2), PRISM_OK);
    cr_assert_eq(prism_tensor_download_f64(vy, got, B * K2), PRISM_OK);
    double err = 0, ref = 0;
    for (int i = 0; i < B * K2; i++) err += (got[i] - want[i]) * (got[i] - want[i]), ref += want[i] * want[i];
    cr_expect(err <= 1e-10 * ref, "NMSE %g", err / ref);
    prism_stream_destroy(s);
    prism_tensor_destroy(vx);
    prism_tensor_destroy(vy);
    prism_tensor_destroy(bx);
    prism_tensor_destroy(by);
    prism_tensor_destroy(ax);
    prism_tensor_destroy(ay);
    prism_fft_plan_destroy(p);
}
