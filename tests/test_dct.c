/* dct / dct2d: every check case (all lengths of the brief, both axes, both
 * norms, both types, the three device paths, round trips, 2-D, in place,
 * NaN isolation, guards), known values, plans, replay, views and bad input. */
#include <math.h>
#include <string.h>
#include "common.h"
#include "prism/dct.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(dct, .init = setup, .fini = teardown, .timeout = 600);

Test(dct, cases) { t_run_cases(&env, "dct"); }

/* scipy.fft.dct([1, 2, 3]) and dct(.., norm="ortho"), on both backends */
Test(dct, known_values) {
    const float x[3] = {1, 2, 3};
    const double want[2][3] = {{12.0, -3.4641016151377544, 0.0}, {3.4641016151377544, -1.4142135623730951, 0.0}};
    prism_context *ctxs[2] = {env.dev, env.ref};
    for (int b = 0; b < 2; b++)
        for (int norm = 0; norm < 2; norm++) {
            int64_t n = 3;
            prism_fft_plan *p;
            prism_tensor *tx, *ty, *tz;
            prism_stream *s;
            cr_assert_eq(prism_fft_plan_create(ctxs[b], 3, PRISM_TRANSFORM_AUTO, &p), PRISM_OK);
            cr_assert_eq(prism_tensor_create(ctxs[b], 1, &n, &tx), PRISM_OK);
            cr_assert_eq(prism_tensor_create(ctxs[b], 1, &n, &ty), PRISM_OK);
            cr_assert_eq(prism_tensor_create(ctxs[b], 1, &n, &tz), PRISM_OK);
            cr_assert_eq(prism_tensor_upload(tx, x, 3), PRISM_OK);
            cr_assert_eq(prism_stream_create(ctxs[b], &s), PRISM_OK);
            cr_assert_eq(prism_dct(s, p, PRISM_DCT_II, (prism_dct_norm)norm, PRISM_ALONG_ROWS, tx, ty), PRISM_OK);
            cr_assert_eq(prism_dct(s, p, PRISM_DCT_III, (prism_dct_norm)norm, PRISM_ALONG_ROWS, ty, tz), PRISM_OK);
            cr_assert_eq(prism_stream_run(s), PRISM_OK);
            double y[3], z[3];
            cr_assert_eq(prism_tensor_download_f64(ty, y, 3), PRISM_OK);
            cr_assert_eq(prism_tensor_download_f64(tz, z, 3), PRISM_OK);
            for (int i = 0; i < 3; i++) {
                cr_expect(fabs(y[i] - want[norm][i]) < 1e-5, "backend %d norm %d: X_%d = %.9g, want %.9g", b, norm, i,
                          y[i], want[norm][i]);
                cr_expect(fabs(z[i] - x[i]) < 1e-5, "backend %d norm %d: round trip x_%d = %.9g", b, norm, i, z[i]);
            }
            prism_stream_destroy(s);
            prism_tensor_destroy(tx);
            prism_tensor_destroy(ty);
            prism_tensor_destroy(tz);
            prism_fft_plan_destroy(p);
        }
}

Test(dct, plan_choice_and_errors) {
    prism_fft_plan *p = NULL;
    const int64_t fft_lengths[] = {1, 2, 3, 7, 8, 49, 768, 784, 1000, 4096, 11008, 61 * 2};
    for (size_t i = 0; i < sizeof fft_lengths / sizeof *fft_lengths; i++) {
        cr_assert_eq(prism_fft_plan_create(env.dev, fft_lengths[i], PRISM_TRANSFORM_AUTO, &p), PRISM_OK);
        cr_expect_eq(prism_fft_plan_algo(p), PRISM_TRANSFORM_FFT, "n = %lld", (long long)fft_lengths[i]);
        cr_expect_eq(prism_fft_plan_length(p), fft_lengths[i]);
        prism_fft_plan_destroy(p);
    }
    const int64_t matrix_lengths[] = {67, 97, 4099, 2 * 131};
    for (size_t i = 0; i < sizeof matrix_lengths / sizeof *matrix_lengths; i++) {
        cr_assert_eq(prism_fft_plan_create(env.dev, matrix_lengths[i], PRISM_TRANSFORM_AUTO, &p), PRISM_OK);
        cr_expect_eq(prism_fft_plan_algo(p), PRISM_TRANSFORM_MATRIX, "n = %lld", (long long)matrix_lengths[i]);
        prism_fft_plan_destroy(p);
    }
    cr_expect_eq(prism_fft_plan_create(env.dev, 97, PRISM_TRANSFORM_FFT, &p), PRISM_ERR_UNSUPPORTED);
    cr_expect_null(p);
    cr_expect(strstr(prism_error_message(env.dev), "97"), "%s", prism_error_message(env.dev));
    cr_expect_eq(prism_fft_plan_create(env.dev, 0, PRISM_TRANSFORM_AUTO, &p), PRISM_ERR_DIMS);
    cr_expect_eq(prism_fft_plan_create(env.dev, -5, PRISM_TRANSFORM_AUTO, &p), PRISM_ERR_DIMS);
    cr_expect_eq(prism_fft_plan_create(env.dev, 8, (prism_transform_algo)7, &p), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_fft_plan_create(NULL, 8, PRISM_TRANSFORM_AUTO, &p), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_fft_plan_create(env.dev, 8, PRISM_TRANSFORM_AUTO, NULL), PRISM_ERR_INVALID_ARGUMENT);
    prism_fft_plan_destroy(NULL);
}

static void expect_msg(const char *a, const char *b) {
    const char *m = prism_error_message(env.dev);
    cr_expect(strstr(m, a) && (!b || strstr(m, b)), "message names op and shapes: %s", m);
}

Test(dct, bad_input_statuses) {
    int64_t s34[2] = {3, 4}, s43[2] = {4, 3}, s35[2] = {3, 5}, s3d[3] = {2, 3, 4}, n12 = 12;
    prism_tensor *x, *y, *y43, *x35, *x3d, *other, *flat;
    prism_fft_plan *p4, *p3, *pref;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 2, s34, &x), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, s34, &y), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, s43, &y43), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, s35, &x35), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 3, s3d, &x3d), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n12, &flat), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.ref, 2, s34, &other), PRISM_OK);
    cr_assert_eq(prism_fft_plan_create(env.dev, 4, PRISM_TRANSFORM_AUTO, &p4), PRISM_OK);
    cr_assert_eq(prism_fft_plan_create(env.dev, 3, PRISM_TRANSFORM_AUTO, &p3), PRISM_OK);
    cr_assert_eq(prism_fft_plan_create(env.ref, 4, PRISM_TRANSFORM_AUTO, &pref), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    const prism_dct_type II = PRISM_DCT_II;
    const prism_dct_norm O = PRISM_DCT_NORM_ORTHO;

    cr_expect_eq(prism_dct(s, p4, II, O, PRISM_ALONG_ROWS, x, y43), PRISM_ERR_SHAPE);
    expect_msg("dct", "[4, 3]");
    cr_expect_eq(prism_dct(s, p3, II, O, PRISM_ALONG_ROWS, x, y), PRISM_ERR_SHAPE);
    expect_msg("dct", "plan has length 3");
    cr_expect_eq(prism_dct(s, p4, II, O, PRISM_ALONG_COLS, x, y), PRISM_ERR_SHAPE);
    expect_msg("columns of length 3", NULL);
    cr_expect_eq(prism_dct(s, p4, II, O, PRISM_ALONG_ROWS, x3d, x3d), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_dct(s, p4, II, O, PRISM_ALONG_ROWS, x, flat), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_dct(s, NULL, II, O, PRISM_ALONG_ROWS, x, y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_dct(s, p4, II, O, PRISM_ALONG_ROWS, NULL, y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_dct(s, p4, II, O, PRISM_ALONG_ROWS, x, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_dct(NULL, p4, II, O, PRISM_ALONG_ROWS, x, y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_dct(s, p4, (prism_dct_type)1, O, PRISM_ALONG_ROWS, x, y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_dct(s, p4, II, (prism_dct_norm)2, PRISM_ALONG_ROWS, x, y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_dct(s, p4, II, O, (prism_transform_axis)2, x, y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_dct(s, pref, II, O, PRISM_ALONG_ROWS, x, y), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_dct(s, p4, II, O, PRISM_ALONG_ROWS, x, other), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_dct(s, p4, II, O, PRISM_ALONG_ROWS, other, y), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_dct2d(s, p4, p4, II, O, x, y), PRISM_ERR_SHAPE);
    expect_msg("dct2d", "[3, 4]");
    cr_expect_eq(prism_dct2d(s, p4, NULL, II, O, x, y), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_dct2d(s, p4, pref, II, O, x, y), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_dct2d(s, p4, p3, II, O, x, y43), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_stream_op_count(s), 0, "failed calls record nothing");

    /* partial overlap is refused; exactly the same range is in place */
    prism_tensor *base, *va, *vb;
    int64_t n16 = 16, s23[2] = {2, 4};
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n16, &base), PRISM_OK);
    cr_assert_eq(prism_tensor_view(base, 0, 2, s23, &va), PRISM_OK);
    cr_assert_eq(prism_tensor_view(base, 4, 2, s23, &vb), PRISM_OK);
    cr_expect_eq(prism_dct(s, p4, II, O, PRISM_ALONG_ROWS, va, vb), PRISM_ERR_INVALID_ARGUMENT);
    expect_msg("overlaps", NULL);
    cr_expect_eq(prism_dct(s, p4, II, O, PRISM_ALONG_ROWS, va, va), PRISM_OK);

    prism_tensor_destroy(va);
    prism_tensor_destroy(vb);
    prism_tensor_destroy(base);
    prism_stream_destroy(s);
    prism_fft_plan_destroy(p4);
    prism_fft_plan_destroy(p3);
    prism_fft_plan_destroy(pref);
    prism_tensor_destroy(x);
    prism_tensor_destroy(y);
    prism_tensor_destroy(y43);
    prism_tensor_destroy(x35);
    prism_tensor_destroy(x3d);
    prism_tensor_destroy(flat);
    prism_tensor_destroy(other);
}

/* A recorded stream replays with new input; destroying its plan makes it stale. */
Test(dct, replay_and_stale_plan) {
    enum { R = 3, C = 40 };
    int64_t shape[2] = {R, C};
    float h[R * C], out[R * C], out2[R * C];
    pc_random(5, h, R * C, -1, 1);
    prism_fft_plan *p;
    prism_tensor *x, *y;
    prism_stream *s;
    cr_assert_eq(prism_fft_plan_create(env.dev, C, PRISM_TRANSFORM_AUTO, &p), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, shape, &x), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, shape, &y), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(x, h, R * C), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_dct(s, p, PRISM_DCT_II, PRISM_DCT_NORM_ORTHO, PRISM_ALONG_ROWS, x, y), PRISM_OK);
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    cr_assert_eq(prism_tensor_download(y, out, R * C), PRISM_OK);
    for (int i = 0; i < R * C; i++) h[i] *= 2;
    cr_assert_eq(prism_tensor_upload(x, h, R * C), PRISM_OK);
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    cr_assert_eq(prism_tensor_download(y, out2, R * C), PRISM_OK);
    for (int i = 0; i < R * C; i++) cr_expect(fabsf(out2[i] - 2 * out[i]) <= 1e-5f * (1 + fabsf(out2[i])), "%d", i);
    prism_fft_plan_destroy(p);
    cr_expect_eq(prism_stream_submit(s), PRISM_ERR_STALE);
    prism_stream_destroy(s);
    prism_tensor_destroy(x);
    prism_tensor_destroy(y);
}

/* Views starting at every float offset mod 4 give the same transform. */
Test(dct, views_at_any_offset) {
    enum { R = 4, C = 48, N = R * C + 4 };
    float h[N];
    double ref[R * C], out[R * C];
    pc_random(17, h, N, -1, 1);
    int64_t n = N, shape[2] = {R, C};
    prism_fft_plan *p, *pr;
    prism_tensor *base, *y, *rx, *ry;
    cr_assert_eq(prism_fft_plan_create(env.dev, R, PRISM_TRANSFORM_AUTO, &p), PRISM_OK);
    cr_assert_eq(prism_fft_plan_create(env.ref, R, PRISM_TRANSFORM_AUTO, &pr), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &base), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(base, h, n), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, shape, &y), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.ref, 2, shape, &rx), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.ref, 2, shape, &ry), PRISM_OK);
    for (int off = 0; off < 4; off++) {
        prism_tensor *x;
        prism_stream *s, *rs;
        cr_assert_eq(prism_tensor_view(base, off, 2, shape, &x), PRISM_OK);
        cr_assert_eq(prism_tensor_upload(rx, h + off, R * C), PRISM_OK);
        cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
        cr_assert_eq(prism_stream_create(env.ref, &rs), PRISM_OK);
        cr_assert_eq(prism_dct(s, p, PRISM_DCT_III, PRISM_DCT_NORM_NONE, PRISM_ALONG_COLS, x, y), PRISM_OK);
        cr_assert_eq(prism_dct(rs, pr, PRISM_DCT_III, PRISM_DCT_NORM_NONE, PRISM_ALONG_COLS, rx, ry), PRISM_OK);
        cr_assert_eq(prism_stream_run(s), PRISM_OK);
        cr_assert_eq(prism_stream_run(rs), PRISM_OK);
        cr_assert_eq(prism_tensor_download_f64(y, out, R * C), PRISM_OK);
        cr_assert_eq(prism_tensor_download_f64(ry, ref, R * C), PRISM_OK);
        for (int i = 0; i < R * C; i++) cr_expect(fabs(out[i] - ref[i]) <= 1e-5, "offset %d element %d", off, i);
        prism_stream_destroy(s);
        prism_stream_destroy(rs);
        prism_tensor_destroy(x);
    }
    prism_tensor_destroy(y);
    prism_tensor_destroy(rx);
    prism_tensor_destroy(ry);
    prism_tensor_destroy(base);
    prism_fft_plan_destroy(p);
    prism_fft_plan_destroy(pr);
}
