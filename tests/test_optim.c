/* Optimizer ops: every check case (device vs reference over replays) plus
 * a 5-step replay, AdamW's first step, the clip scale and bad input. */
#include <math.h>
#include <string.h>
#include "common.h"
#include "../runtime/reference/optim.h"

static pc_env env;
static void setup(void) { t_env(&env); }
static void teardown(void) { t_env_destroy(&env); }
TestSuite(optim, .init = setup, .fini = teardown, .timeout = 300);

Test(optim, adamw_cases) { t_run_cases(&env, "adamw"); }
Test(optim, sgd_cases) { t_run_cases(&env, "sgd"); }
Test(optim, clip_cases) { t_run_cases(&env, "clip_global_norm"); }

enum { N = 777 };

/* Record tick + adamw once, submit 5 times with a new gradient uploaded
 * before each (as a training loop does), against 5 float64 reference steps. */
Test(optim, replay_matches_five_reference_steps) {
    const prism_adamw_params hp = prism_adamw_params_default();
    int64_t n = N;
    float p0[N], g[N], zero[N] = {0}, out[N], st_dev[8];
    double p[N], m[N] = {0}, v[N] = {0}, gd[N], st[8] = {0, 0.003, 0, 0, 1, 0, 0, 0};
    pc_random(1, p0, n, -1, 1);
    prism_tensor *tp, *tg, *tm, *tv, *state;
    prism_stream *s;
    cr_assert_eq(prism_optim_state_create(env.dev, 0.003f, &state), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &tp), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &tg), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &tm), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &tv), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(tp, p0, n), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(tm, zero, n), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(tv, zero, n), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_optim_tick(s, &hp, state), PRISM_OK);
    cr_assert_eq(prism_adamw(s, &hp, state, tp, tg, tm, tv), PRISM_OK);
    for (int i = 0; i < N; i++) p[i] = p0[i];
    for (int step = 0; step < 5; step++) {
        pc_random(100 + (uint64_t)step, g, n, -1, 1);
        for (int i = 0; i < N; i++) gd[i] = g[i];
        cr_assert_eq(prism_tensor_upload(tg, g, n), PRISM_OK);
        cr_assert_eq(prism_stream_run(s), PRISM_OK);
        prism_ref_optim_tick(st, hp.beta1, hp.beta2);
        prism_ref_adamw(st, hp.beta1, hp.beta2, hp.eps, hp.weight_decay, p, gd, m, v, n);
    }
    cr_assert_eq(prism_tensor_download(tp, out, n), PRISM_OK);
    cr_assert_eq(prism_tensor_download(state, st_dev, 8), PRISM_OK);
    cr_expect_eq(st_dev[PRISM_OPT_STEP], 5.0f);
    cr_expect(fabs(st_dev[PRISM_OPT_BC1] - st[PRISM_OPT_BC1]) < 1e-6, "bc1 %g vs %g", st_dev[PRISM_OPT_BC1], st[PRISM_OPT_BC1]);
    cr_expect(fabs(st_dev[PRISM_OPT_BC2] - st[PRISM_OPT_BC2]) / st[PRISM_OPT_BC2] < 1e-4, "bc2 %g vs %g",
              st_dev[PRISM_OPT_BC2], st[PRISM_OPT_BC2]);
    double num = 0, den = 0;
    for (int i = 0; i < N; i++) {
        num += (out[i] - p[i]) * (out[i] - p[i]);
        den += p[i] * p[i];
    }
    cr_expect(num / den < 1e-12, "param NMSE %g after 5 replays", num / den);
    prism_stream_destroy(s);
    prism_tensor_destroy(tp); prism_tensor_destroy(tg); prism_tensor_destroy(tm);
    prism_tensor_destroy(tv); prism_tensor_destroy(state);
}

/* t = 1: bc1 = 1 - b1 and bc2 = 1 - b2 exactly, so m^ = g and v^ = g^2:
 * p1 = p0 - lr (wd p0 + g / (|g| + eps)). */
Test(optim, adamw_first_step_bias_correction) {
    prism_adamw_params hp = prism_adamw_params_default();
    int64_t n = N;
    float p0[N], g[N], zero[N] = {0}, p1[N], m1[N], st[8];
    pc_random(2, p0, n, -1, 1);
    pc_random(3, g, n, -3, 3);
    prism_tensor *tp, *tg, *tm, *tv, *state;
    prism_stream *s;
    const float lr = 0.01f;
    cr_assert_eq(prism_optim_state_create(env.dev, lr, &state), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &tp), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &tg), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &tm), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n, &tv), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(tp, p0, n), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(tg, g, n), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(tm, zero, n), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(tv, zero, n), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_optim_tick(s, &hp, state), PRISM_OK);
    cr_assert_eq(prism_adamw(s, &hp, state, tp, tg, tm, tv), PRISM_OK);
    cr_assert_eq(prism_stream_run(s), PRISM_OK);
    cr_assert_eq(prism_tensor_download(tp, p1, n), PRISM_OK);
    cr_assert_eq(prism_tensor_download(tm, m1, n), PRISM_OK);
    cr_assert_eq(prism_tensor_download(state, st, 8), PRISM_OK);
    cr_expect_eq(st[PRISM_OPT_STEP], 1.0f);
    cr_expect_eq(st[PRISM_OPT_BC1], 1.0f - hp.beta1, "bc1 at t=1 is exact");
    cr_expect_eq(st[PRISM_OPT_BC2], 1.0f - hp.beta2, "bc2 at t=1 is exact");
    for (int i = 0; i < N; i++) {
        double mhat = m1[i] / (double)st[PRISM_OPT_BC1];
        cr_expect(fabs(mhat - g[i]) <= 2e-7 * fabs(g[i]), "m^ = g at %d: %g vs %g", i, mhat, g[i]);
        double want = p0[i] - lr * (hp.weight_decay * p0[i] + g[i] / (fabs(g[i]) + hp.eps));
        cr_expect(fabs(p1[i] - want) < 1e-6, "p at %d: %g vs %g", i, p1[i], want);
    }
    prism_stream_destroy(s);
    prism_tensor_destroy(tp); prism_tensor_destroy(tg); prism_tensor_destroy(tm);
    prism_tensor_destroy(tv); prism_tensor_destroy(state);
}

/* grads [3,4] and [12]: norm 13 -> clip = max_norm / (13 + 1e-6); a large
 * max_norm leaves clip at exactly 1 */
Test(optim, clip_scale) {
    int64_t a = 2, b = 1;
    float ga[2] = {3, 4}, gb[1] = {12}, st[8];
    prism_tensor *ta, *tb, *state;
    prism_stream *s;
    cr_assert_eq(prism_optim_state_create(env.dev, 0.1f, &state), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &a, &ta), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &b, &tb), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(ta, ga, a), PRISM_OK);
    cr_assert_eq(prism_tensor_upload(tb, gb, b), PRISM_OK);
    prism_tensor *gs[2] = {ta, tb};
    for (int big = 0; big < 2; big++) {
        cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
        cr_assert_eq(prism_clip_global_norm(s, gs, 2, big ? 100.0f : 6.5f, state), PRISM_OK);
        cr_assert_eq(prism_stream_run(s), PRISM_OK);
        cr_assert_eq(prism_tensor_download(state, st, 8), PRISM_OK);
        cr_expect_eq(st[PRISM_OPT_NORM], 13.0f);
        if (big) cr_expect_eq(st[PRISM_OPT_CLIP], 1.0f);
        else cr_expect(fabsf(st[PRISM_OPT_CLIP] - 0.5f) < 1e-6f, "clip %g", st[PRISM_OPT_CLIP]);
        cr_expect_eq(st[PRISM_OPT_LR], 0.1f, "lr untouched");
        prism_stream_destroy(s);
    }
    prism_tensor_destroy(ta); prism_tensor_destroy(tb); prism_tensor_destroy(state);
}

Test(optim, bad_input_statuses) {
    prism_adamw_params hp = prism_adamw_params_default();
    int64_t n7 = 7, n8 = 8, n9 = 9;
    prism_tensor *p, *g8, *m, *v, *state, *bad_state, *other, *other_state;
    prism_stream *s;
    cr_assert_eq(prism_optim_state_create(env.dev, 0.1f, &state), PRISM_OK);
    cr_assert_eq(prism_optim_state_create(env.ref, 0.1f, &other_state), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n9, &bad_state), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n7, &p), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n8, &g8), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n7, &m), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.dev, 1, &n7, &v), PRISM_OK);
    cr_assert_eq(prism_tensor_create(env.ref, 1, &n7, &other), PRISM_OK);
    cr_assert_eq(prism_stream_create(env.dev, &s), PRISM_OK);
    cr_assert_eq(prism_adamw(s, &hp, state, p, g8, m, v), PRISM_ERR_SHAPE);
    const char *msg = prism_error_message(env.dev);
    cr_assert(strstr(msg, "adamw") && strstr(msg, "[7]") && strstr(msg, "[8]"), "%s", msg);
    cr_assert_eq(prism_adamw(s, &hp, bad_state, p, m, m, v), PRISM_ERR_SHAPE);
    cr_assert(strstr(prism_error_message(env.dev), "[9]"), "%s", prism_error_message(env.dev));
    cr_assert_eq(prism_sgd(s, 0.9f, 0, state, p, g8, NULL), PRISM_ERR_SHAPE);
    cr_assert_eq(prism_adamw(s, NULL, state, p, m, m, v), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_adamw(s, &hp, state, p, NULL, m, v), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_adamw(NULL, &hp, state, p, m, m, v), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_adamw(s, &hp, state, p, other, m, v), PRISM_ERR_WRONG_CONTEXT);
    cr_assert_eq(prism_optim_tick(s, &hp, other_state), PRISM_ERR_WRONG_CONTEXT);
    /* non-finite hyper-parameters -> NOT_FINITE; finite but out of range -> INVALID_ARGUMENT */
    prism_adamw_params bad = hp;
    bad.beta1 = NAN;
    cr_assert_eq(prism_adamw(s, &bad, state, p, m, m, v), PRISM_ERR_NOT_FINITE);
    bad = hp, bad.eps = INFINITY;
    cr_assert_eq(prism_optim_tick(s, &bad, state), PRISM_ERR_NOT_FINITE);
    bad = hp, bad.beta2 = 1.0f;
    cr_assert_eq(prism_optim_tick(s, &bad, state), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(prism_error_message(env.dev), "beta2"), "%s", prism_error_message(env.dev));
    cr_assert_eq(prism_sgd(s, NAN, 0, state, p, m, NULL), PRISM_ERR_NOT_FINITE);
    cr_assert_eq(prism_sgd(s, 1.5f, 0, state, p, m, NULL), PRISM_ERR_INVALID_ARGUMENT);
    prism_tensor *gs[2] = {p, g8};
    cr_assert_eq(prism_clip_global_norm(s, gs, 2, NAN, state), PRISM_ERR_NOT_FINITE);
    cr_assert_eq(prism_clip_global_norm(s, gs, 2, 0.0f, state), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_clip_global_norm(s, gs, 0, 1.0f, state), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_clip_global_norm(s, NULL, 1, 1.0f, state), PRISM_ERR_INVALID_ARGUMENT);
    gs[1] = NULL;
    cr_assert_eq(prism_clip_global_norm(s, gs, 2, 1.0f, state), PRISM_ERR_INVALID_ARGUMENT);
    prism_tensor *t = NULL;
    cr_assert_eq(prism_optim_state_create(env.dev, NAN, &t), PRISM_ERR_NOT_FINITE);
    cr_assert_eq(prism_optim_state_create(env.dev, -1.0f, &t), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_null(t);
    cr_assert_eq(prism_optim_state_create(env.dev, 1.0f, NULL), PRISM_ERR_INVALID_ARGUMENT);
    cr_assert_eq(prism_stream_op_count(s), 0, "failed calls record nothing");
    prism_stream_destroy(s);
    prism_tensor_destroy(p); prism_tensor_destroy(g8); prism_tensor_destroy(m); prism_tensor_destroy(v);
    prism_tensor_destroy(state); prism_tensor_destroy(bad_state); prism_tensor_destroy(other);
    prism_tensor_destroy(other_state);
}
