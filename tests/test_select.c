/* select: every check case (device set == reference set, ties, NaN, large
 * shapes), the exact band rule, budgets with surplus passing, a hand-made
 * selection, and bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
#include "prism/spectral.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(select, .init = setup, .fini = teardown, .timeout = 300);

Test(select, cases) { t_run_cases(&env, "select"); }

/* rho = 1/3 and 2/3 exactly (u/(M-1) = v/(N-1) = 1/3, 2/3) belong to the
 * lower band; a float64 sqrt would round 1/3 up. */
Test(select, band_rule_is_exact_at_boundaries) {
    cr_expect_eq(prism_select_band(4, 4, 1, 1), PRISM_BAND_LOW);
    cr_expect_eq(prism_select_band(4, 4, 2, 2), PRISM_BAND_MID);
    cr_expect_eq(prism_select_band(4, 4, 1, 2), PRISM_BAND_MID);
    cr_expect_eq(prism_select_band(4, 4, 3, 3), PRISM_BAND_HIGH);
    cr_expect_eq(prism_select_band(4, 4, 0, 0), PRISM_BAND_LOW);
    cr_expect_eq(prism_select_band(4, 4, 2, 3), PRISM_BAND_HIGH);
    cr_expect_eq(prism_select_band(301, 601, 100, 200), PRISM_BAND_LOW);
    cr_expect_eq(prism_select_band(301, 601, 100, 201), PRISM_BAND_MID);
    /* a dim of 1 contributes 0: [1, N] has rho = v/(N-1)/sqrt(2) */
    cr_expect_eq(prism_select_band(1, 11, 0, 4), PRISM_BAND_LOW);  /* 0.283 */
    cr_expect_eq(prism_select_band(1, 11, 0, 5), PRISM_BAND_MID);  /* 0.354 */
    cr_expect_eq(prism_select_band(1, 11, 0, 9), PRISM_BAND_MID);  /* 0.636 */
    cr_expect_eq(prism_select_band(1, 11, 0, 10), PRISM_BAND_HIGH); /* 0.707 */
    cr_expect_eq(prism_select_band(1, 1, 0, 0), PRISM_BAND_LOW);
}

Test(select, plan_budgets_and_surplus) {
    prism_select_info in;
    /* [2, 2]: low {(0,0)}, mid {}, high the rest; mid's budget passes to high */
    prism_select_config c = {4, 0.7, 0};
    cr_assert_eq(prism_select_plan(2, 2, &c, &in), PRISM_OK);
    cr_expect(in.band_size[0] == 1 && in.band_size[1] == 0 && in.band_size[2] == 3);
    cr_expect(in.budget[0] == 1 && in.budget[1] == 0 && in.budget[2] == 3 && in.n_selected == 4);
    /* 700 on 4096^2: 233 / 233 / 234, energy floor(0.7 B + 1e-9) */
    c = (prism_select_config){700, 0.7, 0};
    cr_assert_eq(prism_select_plan(4096, 4096, &c, &in), PRISM_OK);
    cr_expect(in.budget[0] == 233 && in.budget[1] == 233 && in.budget[2] == 234);
    cr_expect(in.n_energy[0] == 163 && in.n_energy[2] == 163 && in.n_random[2] == 71, "%lld %lld",
              (long long)in.n_energy[0], (long long)in.n_energy[2]);
    cr_expect_eq(in.band_size[0] + in.band_size[1] + in.band_size[2], 4096 * 4096);
    /* 0.7 * 90 is 62.99999999999999 in float64; the 1e-9 makes it 63 */
    c = (prism_select_config){270, 0.7, 0};
    cr_assert_eq(prism_select_plan(64, 64, &c, &in), PRISM_OK);
    cr_expect_eq(in.n_energy[0], 63);
    /* everything on [20, 20]: the high band is smaller than its share, the rest is not placed */
    c = (prism_select_config){400, 0.7, 0};
    cr_assert_eq(prism_select_plan(20, 20, &c, &in), PRISM_OK);
    cr_expect(in.budget[0] == in.band_size[0] || in.budget[0] == 133);
    cr_expect_eq(in.n_selected + in.n_unplaced, 400);
    cr_expect_gt(in.n_unplaced, 0);
    cr_expect_eq(in.budget[2], in.band_size[2]);
    /* errors */
    c = (prism_select_config){5, 0.7, 0};
    cr_expect_eq(prism_select_plan(2, 2, &c, &in), PRISM_ERR_INVALID_ARGUMENT); /* n_coef > M N */
    c = (prism_select_config){0, 0.7, 0};
    cr_expect_eq(prism_select_plan(2, 2, &c, &in), PRISM_ERR_INVALID_ARGUMENT);
    c = (prism_select_config){1, 1.5, 0};
    cr_expect_eq(prism_select_plan(2, 2, &c, &in), PRISM_ERR_INVALID_ARGUMENT);
    c = (prism_select_config){1, NAN, 0};
    cr_expect_eq(prism_select_plan(2, 2, &c, &in), PRISM_ERR_INVALID_ARGUMENT);
    c = (prism_select_config){1, 0.7, 0};
    cr_expect_eq(prism_select_plan(1, 1, &c, &in), PRISM_ERR_INVALID_ARGUMENT); /* high band empty: nothing placed */
    cr_expect_eq(prism_select_plan(0, 4, &c, &in), PRISM_ERR_DIMS);
    cr_expect_eq(prism_select_plan(1 << 24, 4, &c, &in), PRISM_ERR_DIMS);
    cr_expect_eq(prism_select_plan(4, 4, NULL, &in), PRISM_ERR_INVALID_ARGUMENT);
}

static void select_on(prism_context *ctx, int64_t rows, int64_t cols, const float *score, prism_select_config c,
                      double *out, int64_t *n) {
    prism_selector *sel;
    cr_assert_eq(prism_selector_create(ctx, rows, cols, &c, &sel), PRISM_OK, "%s", prism_error_message(ctx));
    *n = prism_selector_info(sel)->n_selected;
    int64_t ss[2] = {rows, cols}, is[2] = {*n, 2};
    prism_tensor *ts, *ti;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(ctx, 2, ss, &ts), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(ts, score, rows * cols), PRISM_OK);
    cr_assert_eq(prism_tensor_create(ctx, 2, is, &ti), PRISM_OK);
    cr_assert_eq(prism_stream_create(ctx, &s), PRISM_OK);
    cr_assert_eq(prism_select(s, sel, ts, ti), PRISM_OK, "%s", prism_error_message(ctx));
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    cr_assert_eq(prism_tensor_download_f64(ti, out, 2 * *n), PRISM_OK);
    prism_stream_destroy(s);
    prism_tensor_destroy(ts);
    prism_tensor_destroy(ti);
    prism_selector_destroy(sel);
}

/* A selection worked out by hand on [4, 4] (A = B = 3):
 *   low  (9(u^2+v^2) <= 18): (0,0) (0,1) (1,0) (1,1)         4 entries
 *   mid  (<= 72):            (0,2) (2,0) (1,2) (2,1) (2,2)   5 entries
 *   high:                    (0,3) (1,3) (2,3) (3,*)         7 entries
 * n_coef 9 -> budgets 3 / 3 / 3; delta 1: all energy. Scores make the
 * ranking explicit, with one tie in mid broken by the lower flat index. */
Test(select, hand_made_energy_selection) {
    float sc[16] = {
        /* row 0 */ 5, -9, 1, 2,
        /* row 1 */ 8, 0.5f, 7, 3,
        /* row 2 */ 7, -7, 7, 4,
        /* row 3 */ 10, 0.1f, 0.2f, 11};
    /* low: |9|@1, |8|@4, |5|@0 -> {0, 1, 4}; mid: 7@6, 7@8, -7@9, 7@10, 1@2:
     * four 7s tie, the three lowest flat indices win -> 6, 8, 9; high: 11@15, 10@12, 4@11 -> {11, 12, 15} */
    const double want[9] = {0, 1, 4, 6, 8, 9, 11, 12, 15};
    prism_select_config c = {9, 1.0, 0};
    for (int k = 0; k < 2; k++) {
        double out[18];
        int64_t n;
        select_on(k ? env.ref : env.dev, 4, 4, sc, c, out, &n);
        cr_assert_eq(n, 9);
        for (int i = 0; i < 9; i++)
            cr_expect_eq(out[2 * i] * 4 + out[2 * i + 1], want[i], "%s entry %d: (%g, %g)", k ? "ref" : "dev", i,
                         out[2 * i], out[2 * i + 1]);
    }
}

/* delta 0 on one band: the picks are the band's smallest random keys. */
Test(select, random_fill_takes_smallest_keys) {
    enum { R = 9, C = 13, K = 6 };
    float sc[R * C];
    pc_random(5, sc, R * C, -1, 1);
    prism_select_config c = {3 * K, 0.0, 77};
    prism_select_info in;
    cr_assert_eq(prism_select_plan(R, C, &c, &in), PRISM_OK);
    double out[2 * 3 * K];
    int64_t n;
    select_on(env.dev, R, C, sc, c, out, &n);
    for (int b = 0; b < 3; b++) {
        /* the K-th smallest key of the band bounds every pick from above */
        uint64_t keys[R * C];
        int m = 0;
        for (int f = 0; f < R * C; f++)
            if (prism_select_band(R, C, f / C, f % C) == b) keys[m++] = prism_select_key(77, (uint64_t)f);
        for (int i = 0; i < m; i++)
            for (int j = i + 1; j < m; j++)
                if (keys[j] < keys[i]) {
                    uint64_t t = keys[i];
                    keys[i] = keys[j];
                    keys[j] = t;
                }
        int got = 0;
        for (int i = 0; i < n; i++) {
            int64_t f = (int64_t)(out[2 * i] * C + out[2 * i + 1]);
            if (prism_select_band(R, C, f / C, f % C) != b) continue;
            got++;
            cr_expect_leq(prism_select_key(77, (uint64_t)f), keys[in.budget[b] - 1]);
        }
        cr_expect_eq(got, in.budget[b], "band %d", b);
    }
}

/* The key is Philox4x32-10 of counter (flat, 0, 0, 0): the same words the rng
 * op produces for block `flat` (uniform fill maps word w to ((w>>9)+0.5)/2^23). */
Test(select, key_matches_rng_block) {
    int64_t n = 4 * 40;
    prism_tensor *t;
    prism_stream *s;
    double u[160];
    cr_assert_eq(prism_tensor_create(env.ref, 1, &n, &t), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.ref, &s), PRISM_OK);
    cr_assert_eq(prism_rng_uniform(s, 99, 0, 0.0f, 1.0f, t), PRISM_OK);
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    cr_assert_eq(prism_tensor_download_f64(t, u, n), PRISM_OK);
    for (int f = 0; f < 40; f++) {
        uint64_t k = prism_select_key(99, (uint64_t)f);
        uint32_t w0 = (uint32_t)(k >> 32), w1 = (uint32_t)k;
        cr_expect_eq(u[4 * f], ((double)(w0 >> 9) + 0.5) / 8388608.0);
        cr_expect_eq(u[4 * f + 1], ((double)(w1 >> 9) + 0.5) / 8388608.0);
    }
    prism_stream_destroy(s);
    prism_tensor_destroy(t);
}

Test(select, bad_input_statuses) {
    prism_select_config c = {10, 0.7, 0};
    prism_selector *sel = NULL, *other = NULL;
    cr_expect_eq(prism_selector_create(env.dev, 8, 8, NULL, &sel), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_selector_create(env.dev, 0, 8, &c, &sel), PRISM_ERR_DIMS);
    cr_expect(strstr(prism_error_message(env.dev), "[0, 8]"), "%s", prism_error_message(env.dev));
    c.n_coef = 65;
    cr_expect_eq(prism_selector_create(env.dev, 8, 8, &c, &sel), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect(sel == NULL);
    c.n_coef = 10;
    cr_assert_eq(prism_selector_create(env.dev, 8, 8, &c, &sel), PRISM_OK);
    cr_assert_eq(prism_selector_create(env.ref, 8, 8, &c, &other), PRISM_OK);
    int64_t s88[2] = {8, 8}, s87[2] = {8, 7}, i10[2] = {10, 2}, i9[2] = {9, 2}, s64 = 64;
    prism_tensor *x, *x87, *ix, *ix9, *flat, *rx;
    prism_stream *s;
    cr_assert_eq(prism_tensor_create(env.dev, 2, s88, &x), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, s87, &x87), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, i10, &ix), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 2, i9, &ix9), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &s64, &flat), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.ref, 2, s88, &rx), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_expect_eq(prism_select(s, sel, x87, ix), PRISM_ERR_SHAPE);
    cr_expect(strstr(prism_error_message(env.dev), "[8, 7]"), "%s", prism_error_message(env.dev));
    cr_expect_eq(prism_select(s, sel, flat, ix), PRISM_ERR_SHAPE);
    cr_expect_eq(prism_select(s, sel, x, ix9), PRISM_ERR_SHAPE);
    cr_expect(strstr(prism_error_message(env.dev), "[10, 2]"), "%s", prism_error_message(env.dev));
    cr_expect_eq(prism_select(s, NULL, x, ix), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_select(s, sel, NULL, ix), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_select(s, sel, x, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_select(NULL, sel, x, ix), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_select(s, other, x, ix), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_select(s, sel, rx, ix), PRISM_ERR_WRONG_CONTEXT);
    cr_expect_eq(prism_stream_op_count(s), 0, "failed calls record nothing");
    prism_stream_destroy(s);
    prism_tensor_destroy(x);
    prism_tensor_destroy(x87);
    prism_tensor_destroy(ix);
    prism_tensor_destroy(ix9);
    prism_tensor_destroy(flat);
    prism_tensor_destroy(rx);
    prism_selector_destroy(sel);
    prism_selector_destroy(other);
    prism_selector_destroy(NULL);
}
